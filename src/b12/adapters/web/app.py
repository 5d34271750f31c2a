"""The composition root of the web app: :func:`create_app` wires settings, database, clock and routes, once.

Nothing connects at import or in ``create_app``: the database is first touched by the startup check (the
lifespan), which sets ``/healthz`` to 200 only once a unit of work has answered. Tests pass their own
``uow_factory`` (an in-memory fake) and ``clock``. For uvicorn::

    uvicorn --factory b12.adapters.web.app:app_from_env

CORS (``B12_CORS_ORIGINS``) applies to ``/cds-services`` and ``/api/`` only, never to the HTML pages
(:mod:`b12.adapters.web.cors`).

Errors are translated here and nowhere else: b12's own errors -> 422 with their message; ``NotAllowedError`` and
unknown pages -> 404; a missing or wrong CSRF token -> 403; anything unforeseen -> a friendly 500 page (the
traceback goes to the server log, never to the browser).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import b12
from b12.adapters.api import ApiDeps, api_router
from b12.adapters.cds_auth import TrustedClients, load_trusted_clients
from b12.adapters.cds_hooks import CdsDeps, FeedbackUnitOfWork, cds_router

if TYPE_CHECKING:
    from b12.adapters.sql.feedback import SqlCdsUnitOfWork
from b12.adapters.web import deps
from b12.adapters.web.assessment import field_label
from b12.adapters.web.cors import MachineCors
from b12.adapters.web.deps import NavItem, SystemClock, UowFactory, Wiring
from b12.adapters.web.routes import auth, clinical, clinician, exports, pages, patient
from b12.adapters.web.security import CsrfError, NotSignedInError, Passwords, Throttle, csrf_protect
from b12.adapters.web.settings import Settings
from b12.domain.access import NotAllowedError
from b12.domain.accounts import Role
from b12.domain.errors import B12Error
from b12.domain.guidelines import sources
from b12.domain.units import format_number
from b12.ports import Clock, UnitOfWork

log = logging.getLogger("b12.web")
HERE = Path(__file__).parent

# Route modules, in order. A page module added later (dashboard, clinician lists, exports) goes here.
ROUTERS = (pages.router, clinical.router, auth.router, clinician.router, patient.router, exports.router)

# The site navigation; entries with roles are shown only to those roles.
NAV: tuple[NavItem, ...] = (
    NavItem("Your patients", "clinician_patients", frozenset({Role.CLINICIAN})),
    NavItem("Your treatment", "dashboard", frozenset({Role.PATIENT})),
    NavItem("Enter a prescription", "prescription", frozenset({Role.PATIENT})),
    NavItem("Dose calculator", "home"),
    NavItem("Assessment and plan", "assess"),
    NavItem("Compare regimens", "compare"),
    NavItem("Your questions", "questions"),
    NavItem("Rules and sources", "rules"),
)

# Sent with every response. htmx runs with allowEval off and its inline indicator style off (see base.html),
# so no inline script or style is needed.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Pure ASGI middleware (BaseHTTPMiddleware would buffer streaming responses) adding the headers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [h for h in self.headers if h[0] not in present]
            await send(message)

        await self.app(scope, receive, with_headers)


def sql_uow_factory(settings: Settings) -> UowFactory:
    """The SQL adapter's unit of work on ``settings.database`` (see :func:`sql_factories`)."""
    return sql_factories(settings)[0]


def sql_factories(settings: Settings) -> tuple[UowFactory, Callable[[], SqlCdsUnitOfWork]]:
    """Units of work on ``settings.database``, for the app and for CDS Hooks feedback, on one engine; a file or
    server database is first reached by the startup check, not here (an in-memory SQLite database is created
    and migrated here)."""
    from sqlalchemy.engine import make_url

    from b12.adapters.sql.db import make_engine, make_session_factory
    from b12.adapters.sql.feedback import SqlCdsUnitOfWork
    from b12.adapters.sql.migrations import upgrade

    engine = make_engine(settings.database)
    url = make_url(settings.database)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        # An in-memory database lives only in this engine: migrate it here (b12 serve migrated another one).
        upgrade(engine)
    session_factory = make_session_factory(engine)

    def factory() -> UnitOfWork:
        # cast: ports.UnitOfWork declares its repositories as mutable attributes, so mypy holds
        # SqlUnitOfWork's narrower repository types against it (invariance); read-only properties
        # in the port would make the cast unnecessary.
        return cast(UnitOfWork, SqlCdsUnitOfWork(session_factory))

    return factory, lambda: SqlCdsUnitOfWork(session_factory)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates = Jinja2Templates(env=env, context_processors=[deps.template_context])

    @jinja2.pass_context
    def path_for(context: Mapping[str, Any], name: str, /, **params: Any) -> str:
        return str(context["request"].app.url_path_for(name, **params))

    @jinja2.pass_context
    def static(context: Mapping[str, Any], path: str) -> str:
        return f"{path_for(context, 'static', path=path)}?v={b12.__version__}"

    def fid(name: str) -> str:
        """An element ID for a field name: ``labs[2].unit`` -> ``labs-2-unit``."""
        return "-".join(part for part in "".join(c if c.isalnum() else " " for c in name).split())

    def long_date(value: str | date | None) -> str:
        if value is None or value == "":
            return ""
        day = value if isinstance(value, date) else date.fromisoformat(value)
        return f"{day:%a} {day.day} {day:%b %Y}"

    env.globals.update(
        path_for=path_for, static=static, fid=fid, field_label=field_label, SOURCES=sources(), version=b12.__version__
    )
    env.filters.update(fmt=format_number, long_date=long_date, fid=fid)
    return templates


def create_app(
    settings: Settings,
    *,
    uow_factory: UowFactory | None = None,
    clock: Clock | None = None,
    passwords: Passwords | None = None,
    cds_unit_of_work: Callable[[], FeedbackUnitOfWork] | None = None,
) -> FastAPI:
    """The web app. ``uow_factory``, ``clock`` and ``passwords`` default to the real ones (tests pass fakes);
    CDS Hooks are served when their feedback store is known: always on SQL, or given as ``cds_unit_of_work``."""
    if uow_factory is None:
        uow_factory, sql_cds = sql_factories(settings)
        cds_unit_of_work = cds_unit_of_work or sql_cds
    wiring = Wiring(
        settings=settings,
        uow_factory=uow_factory,
        clock=clock or SystemClock(),
        passwords=passwords or Passwords(),
        throttle=Throttle.from_settings(settings),
        templates=_templates(),
        nav=NAV,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _startup(wiring)
        yield

    app = FastAPI(
        title="b12",
        version=b12.__version__,
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load their scripts from a CDN: not in an offline app
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(csrf_protect), Depends(deps.load_account)],
    )
    app.state.wiring = wiring
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=settings.session_cookie,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    _add_cors(app, settings)  # inside SecurityHeaders (a preflight gets them too), outside the session
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api_router(ApiDeps(wiring.uow_factory, wiring.clock)))  # /api/v1 first, /openapi.json, /docs
    if cds_unit_of_work is not None:
        clients = _cds_clients(settings)
        app.include_router(cds_router(CdsDeps(unit_of_work=cds_unit_of_work, clock=wiring.clock, clients=clients)))
    for router in ROUTERS:
        app.include_router(router)
    _add_error_handlers(app)
    return app


def _cds_clients(settings: Settings) -> TrustedClients | None:
    """The CDS clients trusted to call, from ``B12_CDS_CLIENTS``; a bad file stops the start (CdsClientsError)."""
    if settings.cds_clients is None:
        log.warning(
            "CDS Hooks: CDS clients are not authenticated (no B12_CDS_CLIENTS file of trusted clients): "
            "any caller can post to /cds-services; fine for development and the demo, not for an EHR"
        )
        return None
    clients = load_trusted_clients(settings.cds_clients)
    log.info("CDS Hooks: %d trusted CDS client(s): %s", len(clients.clients), ", ".join(clients.clients))
    return clients


def _add_cors(app: FastAPI, settings: Settings) -> None:
    """CORS on /cds-services and /api/ for the origins of ``B12_CORS_ORIGINS``; none without them."""
    if not settings.cors_origins:
        return
    app.add_middleware(MachineCors, origins=settings.cors_origins)
    log.info("CORS: browsers at %s may call /cds-services and /api/", ", ".join(settings.cors_origins))


def app_from_env() -> FastAPI:
    """``uvicorn --factory b12.adapters.web.app:app_from_env``: settings from the environment, database migrated."""
    from b12.adapters.sql.migrations import upgrade

    settings = Settings.from_env()
    upgrade(settings.database)
    return create_app(settings)


def _startup(wiring: Wiring) -> None:
    """Touch the database once (so /healthz means "ready"), then seed the demo clinic if asked."""
    with wiring.uow_factory() as uow:
        uow.accounts.account("healthz")
    if wiring.settings.demo:
        from b12.adapters.web.demo import seed_demo

        seed_demo(wiring.uow_factory, wiring.clock, wiring.passwords)
    wiring.state["ready"] = True


# --- errors -------------------------------------------------------------------------------------------

_TITLES = {
    400: "Bad request",
    403: "This form has expired",
    404: "Page not found",
    405: "Not available this way",
    422: "Some of this cannot be used",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Not available",
}


def _error_page(request: Request, status: int, message: str) -> Response:
    context = {"status": status, "title": _TITLES.get(status, "Error"), "message": message}
    if deps.is_htmx(request):
        # Shown in the page's error area, whatever the request was aiming at (base.html #htmx-error).
        headers = {"HX-Retarget": "#htmx-error", "HX-Reswap": "innerHTML"}
        return deps.render(request, "_error_fragment.html", context, status_code=status, headers=headers)
    return deps.render(request, "error.html", context, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    def handler(kind: type[Exception] | int, fn: Callable[[Request, Any], Response]) -> None:
        async def handle(request: Request, exc: Any) -> Response:
            return fn(request, exc)

        app.add_exception_handler(kind, handle)

    def http_error(request: Request, exc: HTTPException) -> Response:
        messages = {
            404: "There is no page at this address. The links at the top of the page lead to everything b12 offers.",
            405: "This address does not take that kind of request: use the links and buttons on the pages.",
        }
        return _error_page(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))

    def csrf_error(request: Request, exc: CsrfError) -> Response:
        return _error_page(
            request,
            403,
            "The form was sent without the security code of this browser session (it may have expired). "
            "Go back, reload the page and send it again.",
        )

    def sign_in_required(request: Request, exc: NotSignedInError) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        url = f"{request.app.url_path_for('signin')}?{urlencode({'next': target})}"
        if deps.is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    def b12_error(request: Request, exc: B12Error) -> Response:
        return _error_page(request, 422, str(exc))

    def not_allowed(request: Request, exc: Exception) -> Response:
        return _error_page(request, 404, "There is no page at this address.")

    def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error_page(request, 422, "The address or the form has a value this page cannot read.")

    def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error_page(
            request,
            500,
            "b12 could not finish this request. Nothing was saved. Try again; if it happens again, "
            "please tell the team what you were doing.",
        )

    handler(HTTPException, http_error)
    handler(CsrfError, csrf_error)
    handler(NotSignedInError, sign_in_required)
    handler(NotAllowedError, not_allowed)
    handler(B12Error, b12_error)
    handler(RequestValidationError, validation_error)
    handler(Exception, unexpected)
