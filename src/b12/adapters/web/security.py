"""Passwords, sessions, CSRF and login throttling for the web app.

- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106); an unknown email still costs one
  verification, so the response time does not tell which emails have accounts.
- The session is Starlette's signed cookie (itsdangerous): ``HttpOnly`` always, ``SameSite=Lax``, ``Secure``
  when ``secure_cookies`` is set, expiring after ``session_max_age_s`` without a request. It holds two keys:
  the account ID (``uid``) and the CSRF token (``csrf``). Signing in and signing out replace the whole
  session, so the CSRF token rotates with the identity.
- CSRF: every HTML form carries the session's token in a hidden ``csrf_token`` field (htmx requests carry it
  the same way, or in an ``X-CSRF-Token`` header); :func:`csrf_protect` runs before every route and refuses
  any POST, PUT, PATCH or DELETE whose token is missing or differs (403). GET requests never change anything.
- Throttling: at most ``login_max_failures`` failed sign-ins per email within ``login_window_minutes``;
  past that the password is not even checked until the window has moved on (429).
- Every write appends an audit entry (who, what, when) in the same transaction as the write.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request

from b12.adapters.web.settings import Settings
from b12.domain.accounts import Account, AuditEntry, PatientRecord, Role
from b12.domain.case import Sex
from b12.ports import Clock, UnitOfWork

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_USER = "uid"
SESSION_CSRF = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only stops absurd request bodies


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token (answered 403)."""


class NotSignedInError(Exception):
    """A page that needs a signed-in account (answered with a redirect to the sign-in page)."""


class FieldError(Exception):
    """A form value refused by a use case; ``field`` is the form field's name."""

    def __init__(self, field: str, message: str, *, status_code: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status_code = status_code


# --- passwords ------------------------------------------------------------------------------------------


class Passwords:
    """argon2id hashing; ``hasher`` can be given cheaper parameters in tests."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash, a dummy check of the same cost, then False."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


# --- sessions and CSRF ----------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (so an anonymous visitor's forms carry one too)."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or not token:
        token = new_token()
        request.session[SESSION_CSRF] = token
    return token


def _is_cds_hooks(path: str) -> bool:
    # CDS Hooks callers are EHR servers posting JSON without cookies or a session: CSRF (a browser sending
    # a session cookie on the user's behalf) does not arise there, and the spec gives them no way to send a token.
    return path == "/cds-services" or path.startswith("/cds-services/")


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe request whose token does not match the session's (constant-time comparison)."""
    if request.method in SAFE_METHODS or _is_cds_hooks(request.url.path):
        return
    expected = request.session.get(SESSION_CSRF)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not expected or not given or not hmac.compare_digest(expected, given):
        raise CsrfError


def start_session(request: Request, account: Account) -> None:
    """A fresh session for ``account``: nothing of the anonymous session survives, the CSRF token rotates."""
    request.session.clear()
    request.session[SESSION_USER] = account.id
    request.session[SESSION_CSRF] = new_token()


def end_session(request: Request) -> None:
    request.session.clear()


def session_account_id(request: Request) -> str | None:
    value = request.session.get(SESSION_USER)
    return value if isinstance(value, str) else None


# --- use cases: sign in, sign up ------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def audit(
    uow: UnitOfWork,
    clock: Clock,
    actor_id: str | None,
    action: str,
    entity: str,
    entity_id: str | None,
    detail: Mapping[str, object] | None = None,
) -> None:
    uow.audit.append(AuditEntry(uuid.uuid4().hex, clock.now(), actor_id, action, entity, entity_id, dict(detail or {})))


@dataclass(frozen=True, slots=True)
class Throttle:
    max_failures: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttle:
        return cls(settings.login_max_failures, timedelta(minutes=settings.login_window_minutes))


def sign_in(
    uow: UnitOfWork, clock: Clock, passwords: Passwords, throttle: Throttle, email: str, password: str
) -> Account:
    """The account for ``email`` and ``password``, or :class:`FieldError` (the caller commits either way).

    Every attempt is recorded (``record_login``) and audited; a throttled attempt is audited but not counted,
    so waiting out the window always works.
    """
    email = normalise_email(email)
    now = clock.now()
    failures = uow.accounts.failed_logins_since(email, now - throttle.window)
    if failures >= throttle.max_failures:
        audit(uow, clock, None, "login.throttled", "account", None, {"email": email})
        minutes = int(throttle.window.total_seconds() // 60)
        raise FieldError(
            "email",
            f"Too many failed sign-ins for this email. Wait {minutes} minutes, then try again.",
            status_code=429,
        )
    account = uow.accounts.account_by_email(email)
    if not passwords.verify(account.password_hash if account else None, password) or account is None:
        uow.accounts.record_login(email, now, succeeded=False)
        audit(uow, clock, None, "login.failed", "account", account.id if account else None, {"email": email})
        raise FieldError("password", "The email or the password is not right.")
    uow.accounts.record_login(email, now, succeeded=True)
    audit(uow, clock, account.id, "login.succeeded", "account", account.id)
    return account


def sign_up_patient(
    uow: UnitOfWork,
    clock: Clock,
    passwords: Passwords,
    *,
    name: str,
    email: str,
    password: str,
    sex: Sex,
    birth_date: date | None,
) -> Account:
    """A patient record and the patient's own account (role patient), audited; the caller commits."""
    email = normalise_email(email)
    if uow.accounts.account_by_email(email) is not None:
        raise FieldError("email", "An account with this email already exists: sign in instead.")
    now = clock.now()
    patient = PatientRecord(uuid.uuid4().hex, name.strip(), sex, now, birth_date=birth_date)
    account = Account(
        uuid.uuid4().hex, email, name.strip(), Role.PATIENT, passwords.hash(password), now, patient_id=patient.id
    )
    uow.accounts.add_patient(patient)
    uow.accounts.add_account(account)
    audit(uow, clock, account.id, "patient.create", "patient", patient.id, {"self_sign_up": True})
    audit(uow, clock, account.id, "account.create", "account", account.id, {"role": account.role.value})
    return account
