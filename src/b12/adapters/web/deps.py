"""Request-scoped dependencies and the wiring they read, set once by :func:`b12.adapters.web.app.create_app`.

Routes ask for what they need with ``Depends``: the unit of work (one transaction per use), the clock, the
signed-in account and its role. Two dependencies run before every route (``create_app`` installs them):
:func:`~b12.adapters.web.security.csrf_protect`, then :func:`load_account`.

Extension points for pages built later (patient dashboard, clinician lists, exports):

- a route module under ``routes/`` with its ``APIRouter``, included in ``create_app`` (``ROUTERS``);
- ``Depends(require_patient)`` / ``Depends(require_clinician)`` for role-only pages (anyone else gets 404, a
  visitor who is not signed in is sent to the sign-in page and back);
- :class:`NavItem` entries in ``NAV`` (shown to the roles named);
- :func:`landing_page` for where an account goes after signing in or up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from b12.adapters.web.security import (
    NotSignedInError,
    Passwords,
    Throttle,
    csrf_token,
    end_session,
    session_account_id,
)
from b12.adapters.web.settings import Settings
from b12.domain.accounts import Account, PatientRecord, Role
from b12.ports import Clock, UnitOfWork

UowFactory = Callable[[], UnitOfWork]


class SystemClock:
    """The real clock: aware UTC date-times; ``today`` is the server's local date."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return date.today()


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the site navigation; ``roles`` None shows it to everyone, else only to those roles."""

    label: str
    route: str
    roles: frozenset[Role] | None = None

    def visible_to(self, account: Account | None) -> bool:
        return self.roles is None or (account is not None and account.role in self.roles)


@dataclass(frozen=True, slots=True)
class Wiring:
    """Everything the routes share, made once by ``create_app``."""

    settings: Settings
    uow_factory: UowFactory
    clock: Clock
    passwords: Passwords
    throttle: Throttle
    templates: Jinja2Templates
    nav: tuple[NavItem, ...]
    state: dict[str, Any] = field(default_factory=dict)  # readiness and the like


def wiring(request: Request) -> Wiring:
    w: Wiring = request.app.state.wiring
    return w


def get_settings(request: Request) -> Settings:
    return wiring(request).settings


def get_clock(request: Request) -> Clock:
    return wiring(request).clock


def get_uow(request: Request) -> UnitOfWork:
    """A new unit of work; use it as ``with uow: ...; uow.commit()``."""
    return wiring(request).uow_factory()


def load_account(request: Request) -> Account | None:
    """The signed-in account (kept on ``request.state.account``); a session for a vanished account ends."""
    account: Account | None = None
    account_id = session_account_id(request)
    if account_id is not None:
        with get_uow(request) as uow:
            account = uow.accounts.account(account_id)
        if account is None:
            end_session(request)
    request.state.account = account
    return account


def current_account(request: Request) -> Account | None:
    account: Account | None = getattr(request.state, "account", None)
    return account


def require_account(account: Annotated[Account | None, Depends(current_account)]) -> Account:
    if account is None:
        raise NotSignedInError
    return account


def require_role(role: Role) -> Callable[[Account], Account]:
    def check(account: Annotated[Account, Depends(require_account)]) -> Account:
        if account.role is not role:
            # As for NotAllowedError: a page of another role reads as "not found", it is not announced.
            raise HTTPException(404)
        return account

    return check


require_clinician = require_role(Role.CLINICIAN)
require_patient = require_role(Role.PATIENT)


def landing_page(account: Account) -> str:
    """Where an account goes after signing in or up (the patient dashboard and clinician list, once built)."""
    if account.role is Role.CLINICIAN:
        return "/clinician/patients"
    if account.role is Role.PATIENT:
        return "/dashboard"
    return "/"


def own_patients(request: Request) -> list[PatientRecord]:
    """The signed-in clinician's patients by name (none for anyone else): for the plan's "start a course"."""
    account = current_account(request)
    if account is None or account.role is not Role.CLINICIAN:
        return []
    with get_uow(request) as uow:
        return sorted(uow.accounts.patients_of(account.id), key=lambda p: (p.name.casefold(), p.id))


# --- rendering ------------------------------------------------------------------------------------------

FLASH = "flash"


def flash(request: Request, message: str) -> None:
    """A one-time message shown at the top of the next page rendered for this session."""
    messages = list(request.session.get(FLASH, []))
    messages.append(message)
    request.session[FLASH] = messages


def template_context(request: Request) -> dict[str, Any]:
    """What every template sees: the account, the CSRF token, the navigation, one-time messages, and
    ``own_patients()`` (called only by a page that needs the clinician's patients)."""
    w = wiring(request)
    account = current_account(request)
    has_session = "session" in request.scope

    def take_flashes() -> list[str]:
        """Called by the page layout only, so a fragment (htmx) never swallows a message meant for a page."""
        return list(request.session.pop(FLASH, [])) if has_session else []

    return {
        "account": account,
        "csrf_token": csrf_token(request) if has_session else "",
        "nav": [item for item in w.nav if item.visible_to(account)],
        "demo": w.settings.demo,
        "take_flashes": take_flashes,
        "own_patients": lambda: own_patients(request),
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    response: HTMLResponse = wiring(request).templates.TemplateResponse(
        request, template, dict(context or {}), status_code=status_code, headers=headers
    )
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
