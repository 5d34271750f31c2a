"""Web app accounts: CSRF, sign-up, sign-in with argon2 and throttling, session cookies, roles, audit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse
from test_web_support import TestClient, Web, field_error, input_value, make_web

from b12.adapters.web.deps import require_clinician
from b12.adapters.web.settings import Settings, SettingsError, persistent_secret
from b12.domain.accounts import Account, Role

PASSWORD = "correct horse battery"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path, login_max_failures=3, login_window_minutes=15)


def sign_up(web: Web, email: str = "ana@example.org", **extra: str) -> Any:
    data = {
        "name": "Ana Patient",
        "email": email,
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "sex": "female",
        "birth_date": "1970-02-03",
    }
    data.update(extra)
    return web.post("/signup", data)


def account(web: Web, role: Role = Role.CLINICIAN, email: str = "doc@example.org") -> Account:
    created = Account(uuid.uuid4().hex, email, "Dr Who", role, web.passwords.hash(PASSWORD), web.clock.now())
    web.add_account(created)
    return created


def sign_in(web: Web, email: str, password: str = PASSWORD, next_page: str = "") -> Any:
    return web.post("/signin", {"email": email, "password": password, "next": next_page})


# --- CSRF ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dose", "/assess", "/signin", "/signup", "/signout"])
def test_a_post_without_the_csrf_token_is_refused_with_403(web: Web, path: str) -> None:
    web.client.get("/")  # a session exists, with its token
    response = web.client.post(path, data={"email": "a@example.org"})
    assert response.status_code == 403
    assert "This form has expired" in response.text


@pytest.mark.parametrize("path", ["/dose", "/assess", "/signin"])
def test_a_post_with_a_wrong_csrf_token_is_refused_with_403(web: Web, path: str) -> None:
    web.csrf()
    response = web.client.post(path, data={"csrf_token": "forged", "dose": "1 mg"})
    assert response.status_code == 403


def test_a_post_from_a_browser_without_a_session_is_refused(tmp_path: Path) -> None:
    for web in make_web(tmp_path):
        token = web.csrf()
        other = TestClient(web.client.app)  # another browser: no cookie, someone else's token
        assert other.post("/dose", data={"csrf_token": token, "dose": "1 mg"}).status_code == 403


def test_htmx_requests_may_send_the_token_in_a_header(web: Web) -> None:
    token = web.csrf()
    response = web.client.post(
        "/dose",
        data={"dose": "1 mg", "strength": "1 mg/mL"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 200


def test_every_form_carries_the_csrf_token(web: Web) -> None:
    account(web)
    sign_in(web, "doc@example.org")
    token = web.csrf()
    for path in ("/", "/assess"):
        page = web.client.get(path).text
        post_forms = re.findall(r'<form[^>]*method="post".*?</form>', page, re.S)
        assert post_forms
        for form in post_forms:
            assert f'name="csrf_token" value="{token}"' in form, path


# --- sign-up --------------------------------------------------------------------------------------------------


def test_patient_sign_up_stores_an_argon2_hash_and_signs_in(web: Web) -> None:
    response = sign_up(web)
    assert response.status_code == 303
    [created] = web.store.accounts.values()
    assert created.role is Role.PATIENT
    assert created.email == "ana@example.org"
    assert created.password_hash.startswith("$argon2id$")
    assert PASSWORD not in created.password_hash
    patient = web.store.patients[created.patient_id or ""]
    assert patient.name == "Ana Patient"
    assert str(patient.birth_date) == "1970-02-03"
    assert {e.action for e in web.store.audit} >= {"account.create", "patient.create"}
    home = web.client.get("/")
    assert "Signed in as Ana Patient" in home.text
    assert "Welcome, Ana Patient" in home.text


def test_session_cookie_is_httponly_and_samesite_lax(web: Web) -> None:
    response = sign_up(web)
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("b12_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http on localhost; B12_SECURE_COOKIES adds it


def test_session_cookie_is_secure_when_asked(tmp_path: Path) -> None:
    for web in make_web(tmp_path, secure_cookies=True):
        cookie = web.client.get("/").headers["set-cookie"].lower()
        assert "secure" in cookie


def test_sign_up_refuses_bad_input_beside_each_field_and_keeps_what_was_typed(web: Web) -> None:
    response = web.post(
        "/signup",
        {"name": "", "email": "ana@", "password": "short", "password_confirm": "short", "birth_date": "3/2/1970"},
    )
    assert response.status_code == 422
    html = response.text
    assert "Enter your name" in field_error(html, "name")
    assert "Enter an email address" in field_error(html, "email")
    assert "at least 10 characters" in field_error(html, "password")
    assert "Choose female or male" in field_error(html, "sex")
    assert "YYYY-MM-DD" in field_error(html, "birth-date")
    assert input_value(html, "email") == "ana@"
    assert input_value(html, "birth-date") == "3/2/1970"
    assert input_value(html, "password") == ""  # a password is never sent back
    assert not web.store.accounts


def test_sign_up_refuses_different_passwords_and_a_taken_email(web: Web) -> None:
    response = sign_up(web, password_confirm="something else entirely")
    assert response.status_code == 422
    assert "not the same" in field_error(response.text, "password-confirm")
    sign_up(web)
    web.client.post("/signout", data={"csrf_token": web.csrf()})
    response = sign_up(web, email="ANA@example.org")
    assert response.status_code == 422
    assert "already exists" in field_error(response.text, "email")
    assert len(web.store.accounts) == 1


# --- sign-in, throttling, sign-out ------------------------------------------------------------------------------


def test_sign_in_rotates_the_csrf_token_and_goes_to_the_next_page(web: Web) -> None:
    account(web)
    before = web.csrf()
    response = sign_in(web, "Doc@Example.org ", next_page="/assess")
    assert response.status_code == 303
    assert response.headers["location"] == "/assess"
    assert web.csrf() != before
    assert any(e.action == "login.succeeded" for e in web.store.audit)


def test_sign_in_never_redirects_to_another_site(web: Web) -> None:
    account(web)
    response = sign_in(web, "doc@example.org", next_page="//evil.example/")
    assert response.headers["location"] == "/clinician/patients"  # the landing page, never the other site


def test_a_wrong_password_is_refused_with_the_email_kept(web: Web) -> None:
    account(web)
    response = sign_in(web, "doc@example.org", "wrong password here")
    assert response.status_code == 422
    assert "not right" in field_error(response.text, "password")
    assert input_value(response.text, "email") == "doc@example.org"
    assert web.store.logins[-1][2] is False
    assert any(e.action == "login.failed" for e in web.store.audit)


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(web: Web) -> None:
    response = sign_in(web, "nobody@example.org")
    assert response.status_code == 422
    assert "The email or the password is not right." in field_error(response.text, "password")


def test_sign_in_is_throttled_after_repeated_failures_even_with_the_right_password(web: Web) -> None:
    account(web)
    for _ in range(3):
        assert sign_in(web, "doc@example.org", "wrong password here").status_code == 422
    response = sign_in(web, "doc@example.org")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in field_error(response.text, "email")
    assert any(e.action == "login.throttled" for e in web.store.audit)
    # Another email is not affected; once the window has passed, the right password works again.
    account(web, email="other@example.org")
    assert sign_in(web, "other@example.org").status_code == 303
    web.clock.advance(minutes=16)
    assert sign_in(web, "doc@example.org").status_code == 303


def test_sign_out_ends_the_session_and_is_audited(web: Web) -> None:
    created = account(web)
    sign_in(web, "doc@example.org")
    response = web.post("/signout", {})
    assert response.status_code == 303
    page = web.client.get("/").text
    assert "Signed in as" not in page
    assert "You have signed out." in page
    assert any(e.action == "logout" and e.actor_id == created.id for e in web.store.audit)


def test_a_tampered_session_cookie_is_ignored(web: Web) -> None:
    account(web)
    sign_in(web, "doc@example.org")
    value = web.client.cookies["b12_session"]
    web.client.cookies.set("b12_session", value[:-3] + "abc", domain="testserver.local")
    assert "Signed in as" not in web.client.get("/").text


# --- roles: the extension point for the tracking pages -----------------------------------------------------------


def _with_clinician_page(web: Web) -> None:
    router = APIRouter()

    @router.get("/clinic-only")
    def clinic_only(who: Annotated[Account, Depends(require_clinician)]) -> PlainTextResponse:
        return PlainTextResponse(who.name)

    app = web.client.app
    app.include_router(router)  # type: ignore[attr-defined]


def test_a_role_page_sends_visitors_to_sign_in_and_hides_itself_from_other_roles(web: Web) -> None:
    _with_clinician_page(web)
    response = web.client.get("/clinic-only", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fclinic-only"
    account(web, Role.PATIENT, "pat@example.org")
    sign_in(web, "pat@example.org")
    assert web.client.get("/clinic-only").status_code == 404
    web.post("/signout", {})
    account(web, Role.CLINICIAN)
    assert sign_in(web, "doc@example.org", next_page="/clinic-only").headers["location"] == "/clinic-only"
    assert web.client.get("/clinic-only").text == "Dr Who"


# --- settings --------------------------------------------------------------------------------------------------


def test_settings_generate_a_secret_once_and_keep_it_private(tmp_path: Path) -> None:
    first = Settings.from_env({"B12_DATA_DIR": str(tmp_path)})
    again = Settings.from_env({"B12_DATA_DIR": str(tmp_path)})
    assert first.secret_key.get_secret_value() == again.secret_key.get_secret_value()
    assert ((tmp_path / "secret_key").stat().st_mode & 0o777) == 0o600
    assert first.database == f"sqlite:///{(tmp_path / 'b12.sqlite3').absolute().as_posix()}"
    assert persistent_secret(tmp_path) == first.secret_key.get_secret_value()


def test_settings_read_the_environment_and_let_flags_win(tmp_path: Path) -> None:
    env = {
        "B12_DATA_DIR": str(tmp_path),
        "B12_SECRET_KEY": "k" * 32,
        "B12_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "B12_DEMO": "true",
    }
    settings = Settings.from_env(env, database_url="sqlite:///x.db")
    assert settings.database == "sqlite:///x.db"
    assert settings.demo is True
    assert not (tmp_path / "secret_key").exists()
    assert Settings.from_env(env).database == "postgresql+psycopg://u@h/db"


def test_settings_refuse_an_unreadable_flag_and_a_short_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="B12_DEMO"):
        Settings.from_env({"B12_DATA_DIR": str(tmp_path), "B12_DEMO": "maybe"})
    with pytest.raises(ValueError, match="secret_key"):
        Settings.from_env({"B12_DATA_DIR": str(tmp_path), "B12_SECRET_KEY": "short"})
