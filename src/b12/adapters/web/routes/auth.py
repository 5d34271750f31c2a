"""Accounts: sign in, sign out, and a patient's own sign-up (clinician accounts are created for them).

Passwords are never sent back in a form; everything else typed is kept when a form is refused.
"""

from __future__ import annotations

import re
from datetime import date

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from b12.adapters.web import deps
from b12.adapters.web.forms import FormState
from b12.adapters.web.security import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    FieldError,
    audit,
    end_session,
    session_account_id,
    sign_in,
    sign_up_patient,
    start_session,
)
from b12.domain.accounts import Account
from b12.domain.case import Sex

router = APIRouter()

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _safe_next(target: str) -> str | None:
    """Only a path on this site (``/assess``), never another site (``//evil.example``, ``https://…``)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def _signin_page(request: Request, form: FormState, *, status_code: int = 200) -> HTMLResponse:
    form.values.pop("password", None)
    return deps.render(request, "signin.html", {"form": form}, status_code=status_code)


@router.get("/signin", name="signin", response_class=HTMLResponse)
def signin_form(request: Request) -> Response:
    """The sign-in form; ``next`` is where to go afterwards."""
    account = deps.current_account(request)
    if account is not None:
        return RedirectResponse(deps.landing_page(account), status_code=303)
    return _signin_page(request, FormState.of(request.query_params))


def _sign_in(request: Request, email: str, password: str) -> Account:
    w = deps.wiring(request)
    with deps.get_uow(request) as uow:
        try:
            return sign_in(uow, w.clock, w.passwords, w.throttle, email, password)
        finally:
            uow.commit()  # a refused attempt is recorded too: that is what the throttle counts


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    """Check the email and password (argon2, throttled per email); start a new session."""
    form = FormState.of(await request.form())
    if not form.text("email"):
        form.add_error("email", "Enter your email address")
    if not form.value("password"):
        form.add_error("password", "Enter your password")
    if form.errors:
        return _signin_page(request, form, status_code=422)
    try:
        account = await run_in_threadpool(_sign_in, request, form.text("email"), form.value("password"))
    except FieldError as error:
        form.add_error(error.field, error.message)
        return _signin_page(request, form, status_code=error.status_code)
    start_session(request, account)
    target = _safe_next(form.text("next")) or deps.landing_page(account)
    return RedirectResponse(target, status_code=303)


@router.post("/signout", name="signout")
def signout(request: Request) -> Response:
    """End the session (audited when an account was signed in)."""
    account_id = session_account_id(request)
    w = deps.wiring(request)
    if account_id is not None:
        with w.uow_factory() as uow:
            audit(uow, w.clock, account_id, "logout", "account", account_id)
            uow.commit()
    end_session(request)
    deps.flash(request, "You have signed out.")
    return RedirectResponse(request.app.url_path_for("home"), status_code=303)


def _signup_page(request: Request, form: FormState, *, status_code: int = 200) -> HTMLResponse:
    form.values.pop("password", None)
    form.values.pop("password_confirm", None)
    context = {"form": form, "sexes": list(Sex), "min_password": MIN_PASSWORD_LENGTH}
    return deps.render(request, "signup.html", context, status_code=status_code)


@router.get("/signup", name="signup", response_class=HTMLResponse)
def signup_form(request: Request) -> Response:
    """A patient creates their own account."""
    account = deps.current_account(request)
    if account is not None:
        return RedirectResponse(deps.landing_page(account), status_code=303)
    return _signup_page(request, FormState())


def _check_signup(form: FormState, today: date) -> tuple[Sex | None, date | None]:
    name, email, password = form.text("name"), form.text("email"), form.value("password")
    if not name:
        form.add_error("name", "Enter your name")
    elif len(name) > 200:
        form.add_error("name", "Enter a name of at most 200 characters")
    if not email:
        form.add_error("email", "Enter your email address")
    elif len(email) > 254 or not _EMAIL.fullmatch(email):
        form.add_error("email", "Enter an email address like name@example.org")
    if len(password) < MIN_PASSWORD_LENGTH:
        form.add_error("password", f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters")
    elif len(password) > MAX_PASSWORD_LENGTH:
        form.add_error("password", f"Choose a password of at most {MAX_PASSWORD_LENGTH} characters")
    elif password.strip().lower() == email.lower():
        form.add_error("password", "Choose a password that is not your email address")
    elif form.value("password_confirm") != password:
        form.add_error("password_confirm", "The two passwords are not the same")
    sex: Sex | None = None
    try:
        sex = Sex(form.text("sex"))
    except ValueError:
        form.add_error("sex", "Choose female or male (b12's guideline data is written for these two)")
    birth: date | None = None
    if form.text("birth_date"):
        try:
            birth = date.fromisoformat(form.text("birth_date"))
        except ValueError:
            form.add_error("birth_date", "Enter the date as YYYY-MM-DD, for example 1964-03-12")
        else:
            if not date(1900, 1, 1) <= birth <= today:
                form.add_error("birth_date", "Enter a date of birth between 1900 and today")
    return sex, birth


def _sign_up(request: Request, form: FormState, sex: Sex, birth: date | None) -> Account:
    w = deps.wiring(request)
    with deps.get_uow(request) as uow:
        account = sign_up_patient(
            uow,
            w.clock,
            w.passwords,
            name=form.text("name"),
            email=form.text("email"),
            password=form.value("password"),
            sex=sex,
            birth_date=birth,
        )
        uow.commit()
    return account


@router.post("/signup", response_class=HTMLResponse)
async def signup(request: Request) -> Response:
    """Create the patient record and account (argon2 hash, audited), then sign in."""
    form = FormState.of(await request.form())
    sex, birth = _check_signup(form, deps.get_clock(request).today())
    if form.errors or sex is None:
        return _signup_page(request, form, status_code=422)
    try:
        account = await run_in_threadpool(_sign_up, request, form, sex, birth)
    except FieldError as error:
        form.add_error(error.field, error.message)
        return _signup_page(request, form, status_code=error.status_code)
    start_session(request, account)
    deps.flash(request, f"Welcome, {account.name}: your account is ready.")
    return RedirectResponse(deps.landing_page(account), status_code=303)
