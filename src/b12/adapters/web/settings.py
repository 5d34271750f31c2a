"""The web app's settings: one frozen pydantic model, read from the environment by :meth:`Settings.from_env`.

Environment variables (all optional):

- ``B12_DATA_DIR``: the data folder (default ``data`` under the working directory); the SQLite database and
  the generated secret key live there.
- ``B12_DATABASE_URL``: a SQLAlchemy URL (default: SQLite at ``<data dir>/b12.sqlite3``).
- ``B12_SECRET_KEY``: signs session cookies. When unset, one is generated once and kept in
  ``<data dir>/secret_key`` (mode 0600), so sessions survive a restart.
- ``B12_DEMO``: ``1``/``true`` to run the clearly labelled demo clinic.
- ``B12_SECURE_COOKIES``: ``1``/``true`` behind HTTPS (adds ``Secure`` to the session cookie).
- ``B12_CDS_CLIENTS``: a ``.json`` or ``.toml`` file listing the CDS clients trusted to call the CDS Hooks
  services (format in ``docs/cds-hooks.md``). When unset, CDS Hooks calls are not authenticated (development,
  the demo), and the app says so in its log at start-up.
- ``B12_CORS_ORIGINS``: the browser origins allowed to call ``/cds-services`` and ``/api/`` (CORS, for browser-based
  CDS clients such as the CDS Hooks sandbox): exact origins ``scheme://host[:port]`` separated by commas, or ``*``
  for any. When unset, no CORS headers are sent (nor ever on the HTML pages). A bad value stops the start
  (:class:`~b12.adapters.web.cors.CorsOriginsError`, naming every refused origin).

Nothing is read or written at import time; :meth:`Settings.from_env` is called by the composition root's caller
(``b12 serve``, the uvicorn factory) once.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from b12.adapters.web.cors import check_origins, parse_origins
from b12.domain.errors import B12Error

SECRET_FILE = "secret_key"
DATABASE_FILE = "b12.sqlite3"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class SettingsError(B12Error, ValueError):
    """A setting from the environment that cannot be used; the message names the variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Path("data")
    database_url: str | None = None  # None: SQLite under data_dir (see database)
    secret_key: SecretStr = Field(min_length=32)
    demo: bool = False
    secure_cookies: bool = False
    session_cookie: str = "b12_session"
    session_max_age_s: int = Field(default=12 * 3600, gt=0)
    # Login throttling: at most this many failed sign-ins per email within the window, then refuse.
    login_max_failures: int = Field(default=5, gt=0)
    login_window_minutes: int = Field(default=15, gt=0)
    # The trusted CDS clients file (read by the composition root); None: CDS Hooks calls are not authenticated.
    cds_clients: Path | None = None
    # The browser origins CORS allows on /cds-services and /api/ (normalised; "*" alone: any); (): no CORS.
    cors_origins: tuple[str, ...] = ()

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_origins(value)

    @property
    def database(self) -> str:
        """The database URL in use: the one given, else SQLite in the data folder."""
        return self.database_url or f"sqlite:///{(self.data_dir / DATABASE_FILE).absolute().as_posix()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); keyword ``overrides`` win (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"data_dir": Path(env.get("B12_DATA_DIR") or "data")}
        if env.get("B12_DATABASE_URL"):
            values["database_url"] = env["B12_DATABASE_URL"]
        values["demo"] = _flag(env, "B12_DEMO")
        values["secure_cookies"] = _flag(env, "B12_SECURE_COOKIES")
        if env.get("B12_CDS_CLIENTS", "").strip():
            values["cds_clients"] = Path(env["B12_CDS_CLIENTS"].strip())
        # Parsed here, not by the model's validator: a CorsOriginsError (a B12Error) reaches `b12 serve` as itself,
        # one line and exit 2, where pydantic would wrap it in a ValidationError.
        values["cors_origins"] = parse_origins(env.get("B12_CORS_ORIGINS", ""))
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "secret_key" not in values:
            values["secret_key"] = env.get("B12_SECRET_KEY") or persistent_secret(Path(values["data_dir"]))
        return cls(**values)


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{name}={env[name]!r}: write 1 or 0 (true or false)")


def persistent_secret(data_dir: Path) -> str:
    """The secret kept in ``data_dir/secret_key``, generated (random, 64 characters) on first use."""
    path = data_dir / SECRET_FILE
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) >= 32:
            return secret
        raise SettingsError(f"{path} holds a secret shorter than 32 characters: delete it to make a new one")
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return persistent_secret(data_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(secret + "\n")
    return secret
