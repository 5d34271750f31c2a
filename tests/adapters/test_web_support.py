"""Shared pieces of the web tests: an app on the in-memory fakes of ``tests/fakes.py``, form helpers."""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from starlette.exceptions import StarletteDeprecationWarning

from b12.adapters.web.app import create_app
from b12.adapters.web.security import Passwords
from b12.adapters.web.settings import Settings
from b12.domain.accounts import Account
from fakes import FakeUnitOfWork, FixedClock, Store

with warnings.catch_warnings():
    # starlette.testclient warns once, at import, that it runs on httpx rather than httpx2.
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

__all__ = ["TestClient"]

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Web:
    client: TestClient
    uow: FakeUnitOfWork
    clock: FixedClock
    passwords: Passwords

    @property
    def store(self) -> Store:
        """What has been committed."""
        return self.uow.committed

    def csrf(self, path: str = "/") -> str:
        """The CSRF token of this client's session, read from a form on ``path``."""
        page = self.client.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]], **kwargs: Any) -> Any:
        """A form post with this session's CSRF token added."""
        items = list(data.items()) if isinstance(data, dict) else list(data)
        form: dict[str, list[str]] = {"csrf_token": [self.csrf()]}
        for key, value in items:
            form.setdefault(key, []).extend(value if isinstance(value, list) else [value])
        return self.client.post(path, data=form, follow_redirects=False, **kwargs)

    def add_account(self, account: Account) -> None:
        with self.uow:
            self.uow.accounts.add_account(account)
            self.uow.commit()


# Cheap argon2 parameters keep the tests fast; the hashes are still argon2id.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_web(tmp_path: Any, **settings: Any) -> Iterator[Web]:
    uow = FakeUnitOfWork()
    clock = FixedClock(NOW)
    passwords = Passwords(FAST_HASHER)
    config = Settings(secret_key="s" * 40, data_dir=tmp_path, **settings)
    app = create_app(config, uow_factory=lambda: uow, clock=clock, passwords=passwords)
    with TestClient(app) as client:
        yield Web(client, uow, clock, passwords)


def field_error(page: str, field_id: str) -> str:
    """The text of the error message shown beside the field with this element ID ('' when none)."""
    match = re.search(rf'<p class="error-message" id="{re.escape(field_id)}-error"[^>]*>(.*?)</p>', page, re.S)
    if not match:
        return ""
    text = html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()
    return text.removeprefix("Error:").strip()


def input_value(page: str, field_id: str) -> str | None:
    match = re.search(rf'<input id="{re.escape(field_id)}"[^>]*?value="([^"]*)"', page, re.S)
    return html.unescape(match.group(1)) if match else None
