"""Issue 3's bar, for every route of the app: a patient cannot read or change another patient's data through any
page, export or API call, and a clinician cannot see another clinician's patients.

The routes are read from the app itself (pages, exports, the API mounted at ``/api/v1``), so a route added later
is exercised too — or fails :func:`test_every_route_is_known_to_this_file` until this file knows how:

- a path parameter is filled from :data:`FOREIGN` (another patient's IDs) by its name; a new name must be added;
- a POST sends the form of :data:`FORMS` (web, by route name) or the JSON body of :data:`API_BODIES`, valid
  enough that a refusal can only be the access check (a 422 fails the test: add a valid form);
- only GET and POST are known, only the ``/static`` and ``/api/v1`` mounts;
- :data:`PUBLIC` lists the routes that hold no patient data (they are not swept), and must all still exist.

Each sweep runs in a clinic with two patients of the same clinician (A, the intruder, and B, the target, who
has a course with doses, a diary, results, calendar links and an API token) and a second clinician with a
patient of their own. As A (and as the second clinician), every route with a parameter is asked with B's IDs:
the answer is 404 or 403, nothing in the store changes, and nothing of B's shows; every route without one
shows nothing of B's and, given B's IDs in its form, changes nothing of B's. A control checks that B or B's
clinician does reach each page, so a 404 means "not yours" rather than "broken".
"""

from __future__ import annotations

import copy
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from clinic_fixtures import V01, add_account, add_patient, sign_in, start_v01
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount
from test_web_support import Web, make_web

from b12.adapters.api import issue_token
from b12.adapters.sql.api_tokens import ApiToken
from b12.adapters.web.app import create_app
from b12.adapters.web.settings import Settings
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.tracking import Course, DoseGiven
from b12.services_tracking import amend_course, record_dose, record_lab, record_symptoms, skip_dose
from fakes import FakeUnitOfWork

API = "/api/v1"
MOUNTS_SKIPPED = frozenset({"/static"})  # files, no data

# Routes that hold no patient data: not swept (each must still exist, so that this list does not rot).
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/"),
        ("POST", "/dose"),
        ("GET", "/questions"),
        ("GET", "/rules"),
        ("GET", "/rules/{rule_id}"),
        ("GET", "/assess"),
        ("POST", "/assess"),
        ("GET", "/compare"),
        ("GET", "/signin"),
        ("POST", "/signin"),
        ("POST", "/signout"),
        ("GET", "/signup"),
        ("POST", "/signup"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("POST", f"{API}/convert"),
        ("POST", f"{API}/interpret"),
        ("POST", f"{API}/plan"),
        ("POST", f"{API}/compare"),
    }
)

MARKERS = ("Beatrix Bystander", "BATCH-B-7731", "b-secret-diary-note")  # B's data, never shown to anyone else


# --- the clinic ---------------------------------------------------------------------------------------------


class InMemoryApiTokens:
    """``b12.adapters.sql.api_tokens.ApiTokens`` in memory, for a fake unit of work that has none of its own."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[ApiToken, str]] = {}

    def add(self, token: ApiToken, digest: str) -> None:
        self.rows[token.id] = (token, digest)

    def active_by_digest(self, digest: str) -> ApiToken | None:
        return next((t for t, d in self.rows.values() if d == digest and t.active), None)

    def of_account(self, account_id: str) -> Sequence[ApiToken]:
        found = [t for t, _ in self.rows.values() if t.account_id == account_id]
        return sorted(found, key=lambda t: t.created_at, reverse=True)

    def revoke(self, token_id: str, account_id: str, at: datetime) -> bool:
        row = self.rows.get(token_id)
        if row is None or row[0].account_id != account_id or not row[0].active:
            return False
        self.rows[token_id] = (replace(row[0], revoked_at=at), row[1])
        return True


@dataclass
class Clinic:
    web: Web
    accounts: dict[str, Account]  # a (intruder patient), b (target patient), c1 (their clinician), c2 (another)
    b: PatientRecord
    b_course: Course
    b_dose: DoseGiven
    calendar_live: str  # B's calendar subscription secret
    calendar_revoked: str
    api_secrets: dict[str, str]  # per account key
    b_api_token_id: str

    @property
    def store(self) -> Any:
        return self.web.uow.committed


def _api_tokens(uow: FakeUnitOfWork) -> Any:
    if getattr(uow, "api_tokens", None) is None:
        setattr(uow, "api_tokens", InMemoryApiTokens())  # noqa: B010 (the fake has no such attribute yet)
    return getattr(uow, "api_tokens")  # noqa: B009


def build_clinic(web: Web) -> Clinic:
    c1 = add_account(web, Role.CLINICIAN, "c1@example.org", "Dr Cee One")
    c2 = add_account(web, Role.CLINICIAN, "c2@example.org", "Dr Cee Two")
    b = add_patient(web, c1, "Beatrix Bystander")
    a = add_patient(web, c1, "Alma Intruder")
    d = add_patient(web, c2, "Dora Elsewhere")
    accounts = {
        "a": add_account(web, Role.PATIENT, "a@example.org", "Alma Intruder", patient_id=a.id),
        "b": add_account(web, Role.PATIENT, "b@example.org", "Beatrix Bystander", patient_id=b.id),
        "c1": c1,
        "c2": c2,
    }
    b_course = start_v01(web, c1, b, "2025-12-01")
    start_v01(web, c1, a, "2025-12-01")
    start_v01(web, c2, d, "2025-12-01")
    clock, uow = web.clock, web.uow
    b_dose = record_dose(
        uow, clock, accounts["b"], b_course.id, at=datetime(2025, 12, 1, 10, tzinfo=UTC), batch="BATCH-B-7731"
    )
    record_dose(uow, clock, accounts["b"], b_course.id, at=datetime(2025, 12, 3, 10, tzinfo=UTC))
    skip_dose(uow, clock, accounts["b"], b_course.id, reason="away")
    record_symptoms(uow, clock, accounts["b"], b.id, {"fatigue": 5}, note="b-secret-diary-note")
    record_lab(uow, clock, accounts["b"], b.id, "b12_total", 150, "ng/L", taken=date(2025, 11, 20))
    amend_course(uow, clock, c1, b_course.id, "review", reason="first review")
    with uow:
        live = uow.calendar.create_calendar_token(b.id, b_course.id, clock.now())
        revoked = uow.calendar.create_calendar_token(b.id, b_course.id, clock.now())
        uow.calendar.revoke_calendar_token(revoked.token, clock.now())
        uow.commit()
    _api_tokens(uow)
    issued = {key: issue_token(uow, clock, account, f"{key} token") for key, account in accounts.items()}
    return Clinic(
        web,
        accounts,
        b,
        b_course,
        b_dose,
        live.token,
        revoked.token,
        {key: i.secret for key, i in issued.items()},
        issued["b"].token.id,
    )


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    for web in make_web(tmp_path):
        yield build_clinic(web)


# --- the routes, read from the app --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as routed, with the mount's prefix: /api/v1/courses/{course_id}
    name: str | None
    api: bool

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)(?::\w+)?}", self.path))

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Unknown:
    where: str
    why: str


def read_routes(app: FastAPI) -> tuple[list[Endpoint], list[Unknown]]:
    found: list[Endpoint] = []
    unknown: list[Unknown] = []

    def walk(routes: Sequence[Any], prefix: str, api: bool) -> None:
        for context in iter_route_contexts(routes):
            route = context.original_route
            path = prefix + (context.path or "")
            if isinstance(route, Mount):
                if path in MOUNTS_SKIPPED:
                    continue
                if path == API and not api:
                    walk(route.routes, path, True)
                    continue
                unknown.append(Unknown(path, "a mount this file does not know: sweep its routes here"))
                continue
            for method in sorted(context.methods or ()):
                if method == "HEAD":
                    continue
                if method not in ("GET", "POST"):
                    unknown.append(Unknown(f"{method} {path}", "a method this file does not send"))
                    continue
                found.append(Endpoint(method, path, context.name, api))

    walk(app.routes, "", False)
    return found, unknown


def _app_routes() -> tuple[list[Endpoint], list[Unknown]]:
    settings = Settings(secret_key="s" * 40, data_dir=Path(tempfile.gettempdir()))
    return read_routes(create_app(settings, uow_factory=FakeUnitOfWork))


ENDPOINTS, UNKNOWN = _app_routes()
SWEPT = [e for e in ENDPOINTS if e.key not in PUBLIC]
WITH_PARAMS = [e for e in SWEPT if e.params]
WITHOUT_PARAMS = [e for e in SWEPT if not e.params]


# --- how to exercise a route --------------------------------------------------------------------------------

# Another patient's values for each path parameter name (B's). A calendar URL's token is a capability (whoever
# holds B's live one may read that calendar, as a calendar app does): the foreign values are B's revoked one
# and a made-up one.
FOREIGN: Mapping[str, Callable[[Clinic], list[str]]] = {
    "patient_id": lambda c: [c.b.id],
    "course_id": lambda c: [c.b_course.id],
    "dose_id": lambda c: [c.b_dose.id],
    "account_id": lambda c: [c.accounts["b"].id],
    "token_id": lambda c: [c.b_api_token_id],
    "token": lambda c: [c.calendar_revoked, secrets.token_urlsafe(32)],
}
# What the owner uses to reach the route (the control).
OWN: Mapping[str, Callable[[Clinic], str]] = {
    "patient_id": lambda c: c.b.id,
    "course_id": lambda c: c.b_course.id,
    "dose_id": lambda c: c.b_dose.id,
    "account_id": lambda c: c.accounts["b"].id,
    "token_id": lambda c: c.b_api_token_id,
    "token": lambda c: c.calendar_live,
}


def _smuggled(c: Clinic) -> dict[str, str]:
    """B's IDs under every name a form might read them from."""
    return {
        "patient_id": c.b.id,
        "course_id": c.b_course.id,
        "course.patient": c.b.id,
        "account_id": c.accounts["b"].id,
        "dose_id": c.b_dose.id,
        "token": c.calendar_live,
    }


def _v01_assessment() -> dict[str, Any]:
    fields_: dict[str, Any] = {
        "guideline": "uk",
        "start": "2026-01-05",
        "lab_rows": "4",
        "patient.sex": "female",
        "patient.age": "62",
        "symptoms": V01["symptoms"],
        "causes": V01["causes"],
        "course.start": "2026-01-05",
        "course.syringe": "U-100",
        "course.confirm_regimen": "on",
        "course.regimen": "UK-IM-NN",
    }
    for row, lab in enumerate(V01["labs"]):
        fields_.update({f"labs[{row}].{key}": str(lab[key]) for key in ("test", "value", "unit")})
    return fields_


# A valid form for each web route that takes one (by route name), so that only an access check can refuse it.
FORMS: Mapping[str, Callable[[Clinic], dict[str, Any]]] = {
    "clinician_patient_create": lambda c: {"name": "Smuggled Patient", "sex": "female", "birth_date": "1970-01-01"},
    "clinician_course_start": lambda c: _v01_assessment(),
    "clinician_course_amend": lambda c: {"change": "stop", "reason": "not my patient"},
    "log_dose": lambda c: {"dose.site": "left deltoid", "dose.batch": "SMUGGLED"},
    "skip_dose": lambda c: {"skip.reason": "smuggled"},
    "record_symptoms": lambda c: {"scores.fatigue": "9", "symptoms.note": "smuggled"},
    "record_lab": lambda c: {
        "lab.analyte": "b12_total",
        "lab.value": "900",
        "lab.unit": "ng/L",
        "lab.taken": "2026-01-02",
    },
    "prescription_submit": lambda c: {
        "text": "1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then monthly",
        "start": "2026-01-05",
        "confirm": "on",
    },
    "create_calendar_link": lambda c: {},
    "revoke_calendar_link": lambda c: {"token": c.calendar_live},
    "create_token": lambda c: {"name": "smuggled"},
    "revoke_token": lambda c: {},
}
# A valid JSON body for each API route that takes one (strict bodies: no smuggled keys).
API_BODIES: Mapping[tuple[str, str], Callable[[Clinic], dict[str, Any]]] = {
    ("POST", f"{API}/patients"): lambda c: {"name": "Smuggled Patient", "sex": "female"},
    ("POST", f"{API}/patients/{{patient_id}}/courses"): lambda c: {"case": V01},
    ("POST", f"{API}/courses/{{course_id}}/doses"): lambda c: {"batch": "SMUGGLED"},
    ("POST", f"{API}/courses/{{course_id}}/skips"): lambda c: {"reason": "smuggled"},
    ("POST", f"{API}/patients/{{patient_id}}/symptoms"): lambda c: {"scores": {"fatigue": 9}},
    ("POST", f"{API}/patients/{{patient_id}}/labs"): lambda c: {
        "analyte": "b12_total",
        "value": 900,
        "unit": "ng/L",
        "taken": "2026-01-02",
    },
}


def fill(path: str, values: Mapping[str, str]) -> str:
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], path)


def send(c: Clinic, who: str, endpoint: Endpoint, path: str, *, bearer: bool = True, smuggle: bool = False) -> Any:
    """The request of ``endpoint`` at ``path`` as account ``who`` (signed in, or with its bearer token)."""
    client = c.web.client
    if endpoint.api:
        headers = {"Authorization": f"Bearer {c.api_secrets[who]}"} if bearer else {}
        if endpoint.method == "GET":
            return client.get(path, headers=headers, follow_redirects=False)
        body = API_BODIES.get(endpoint.key, lambda _: {})(c)
        return client.post(path, json=body, headers=headers, follow_redirects=False)
    if endpoint.method == "GET":
        return client.get(path, follow_redirects=False)
    form = {**(_smuggled(c) if smuggle else {}), **FORMS.get(endpoint.name or "", lambda _: {})(c)}
    return c.web.post(path, form)


def snapshot(c: Clinic) -> dict[str, Any]:
    """Everything stored but the sign-in attempts (which sign-ins add)."""
    store = c.store
    state = {f.name: copy.copy(getattr(store, f.name)) for f in fields(store) if f.name != "logins"}
    state["api_tokens"] = dict(_api_tokens(c.web.uow).rows)
    return state


def bs_data(c: Clinic) -> dict[str, Any]:
    """Everything stored about B."""
    s, b = c.store, c.b.id
    courses = {k: v for k, v in s.courses.items() if v.patient_id == b}
    doses = {k: v for k, v in s.doses.items() if v.course_id in courses}
    return {
        "patient": s.patients.get(b),
        "account": s.accounts.get(c.accounts["b"].id),
        "courses": courses,
        "doses": doses,
        "skips": {k: v for k, v in s.skips.items() if v.course_id in courses},
        "amendments": {k: v for k, v in s.amendments.items() if v.course_id in courses},
        "reactions": {k: v for k, v in s.reactions.items() if v.dose_id in doses},
        "symptoms": {k: v for k, v in s.symptoms.items() if v.patient_id == b},
        "labs": {k: v for k, v in s.labs.items() if v.patient_id == b},
        "calendar": {k: v for k, v in getattr(s, "calendar_tokens", {}).items() if v.patient_id == b},
        "api_tokens": _api_tokens(c.web.uow).of_account(c.accounts["b"].id),
    }


def assert_shows_nothing_of_b(response: Any, where: str) -> None:
    for marker in MARKERS:
        assert marker not in response.text, f"{where} shows B's {marker!r}"


# --- the tests ----------------------------------------------------------------------------------------------


def test_every_route_is_known_to_this_file() -> None:
    problems = [f"{u.where}: {u.why}" for u in UNKNOWN]
    for endpoint in WITH_PARAMS:
        problems += [
            f"{endpoint}: no value for the path parameter {name!r}: add it to FOREIGN and OWN"
            for name in endpoint.params
            if name not in FOREIGN or name not in OWN
        ]
    for endpoint in SWEPT:
        if endpoint.method == "POST" and not endpoint.api and endpoint.name not in FORMS:
            problems.append(f"{endpoint} ({endpoint.name}): no form in FORMS")
    problems += [f"{m} {p}: listed in PUBLIC but not routed" for m, p in PUBLIC - {e.key for e in ENDPOINTS}]
    assert not problems, "\n".join(problems)
    assert len(WITH_PARAMS) >= 8  # the clinician pages, the dashboard, the exports and the API at least


@pytest.mark.parametrize("intruder", ["a", "c2"], ids=["another-patient", "another-clinician"])
@pytest.mark.parametrize("endpoint", WITH_PARAMS, ids=str)
def test_a_route_asked_for_bs_data_answers_404_and_changes_nothing(
    clinic: Clinic, endpoint: Endpoint, intruder: str
) -> None:
    sign_in(clinic.web, clinic.accounts[intruder].email)
    foreign = [FOREIGN[name](clinic) for name in endpoint.params]
    # Every combination is asked for with one foreign value per parameter (routes here have one or two).
    combinations: list[dict[str, str]] = [{}]
    for name, choices in zip(endpoint.params, foreign, strict=True):
        combinations = [{**done, name: value} for done in combinations for value in choices]
    for values in combinations:
        path = fill(endpoint.path, values)
        before = snapshot(clinic)
        response = send(clinic, intruder, endpoint, path)
        assert response.status_code in (403, 404), f"{endpoint} as {intruder}: {response.status_code}"
        assert snapshot(clinic) == before, f"{endpoint} as {intruder} changed the store"
        assert_shows_nothing_of_b(response, str(endpoint))
        if endpoint.api:  # the web session is not a credential for the API
            response = send(clinic, intruder, endpoint, path, bearer=False)
            assert response.status_code == 401, f"{endpoint} without a token: {response.status_code}"
            assert snapshot(clinic) == before


@pytest.mark.parametrize("intruder", ["a", "c2"], ids=["another-patient", "another-clinician"])
def test_routes_without_ids_show_nothing_of_b_and_change_nothing_of_hers(clinic: Clinic, intruder: str) -> None:
    sign_in(clinic.web, clinic.accounts[intruder].email)
    for endpoint in WITHOUT_PARAMS:
        before = bs_data(clinic)
        response = send(clinic, intruder, endpoint, endpoint.path, smuggle=True)
        assert response.status_code < 500, f"{endpoint} as {intruder}: {response.status_code}"
        assert_shows_nothing_of_b(response, str(endpoint))
        assert bs_data(clinic) == before, f"{endpoint} as {intruder}, given B's IDs, changed B's data"


@pytest.mark.parametrize("endpoint", [e for e in WITH_PARAMS if e.method == "GET"], ids=str)
def test_b_or_her_clinician_does_reach_each_route(clinic: Clinic, endpoint: Endpoint) -> None:
    """The control: the 404s above mean "not yours", not "broken"."""
    path = fill(endpoint.path, {name: OWN[name](clinic) for name in endpoint.params})
    answers = {}
    for owner in ("b", "c1"):
        sign_in(clinic.web, clinic.accounts[owner].email)
        answers[owner] = send(clinic, owner, endpoint, path).status_code
    assert 200 in answers.values(), f"{endpoint}: {answers}"


@pytest.mark.parametrize("endpoint", [e for e in WITH_PARAMS if e.method == "POST"], ids=str)
def test_b_or_her_clinician_can_send_each_form(clinic: Clinic, endpoint: Endpoint) -> None:
    """The control for writes: the forms above are valid, so their 404 was the access check."""
    path = fill(endpoint.path, {name: OWN[name](clinic) for name in endpoint.params})
    answers = {}
    for owner in ("b", "c1"):
        sign_in(clinic.web, clinic.accounts[owner].email)
        answers[owner] = send(clinic, owner, endpoint, path).status_code
        if answers[owner] in (200, 201, 303):
            break
    assert {200, 201, 303} & set(answers.values()), f"{endpoint}: {answers}"


def test_a_clinicians_list_holds_only_their_own_patients(clinic: Clinic) -> None:
    sign_in(clinic.web, clinic.accounts["c2"].email)
    page = clinic.web.client.get("/clinician/patients").text
    assert "Dora Elsewhere" in page
    assert "Beatrix Bystander" not in page
    assert "Alma Intruder" not in page
    api = clinic.web.client.get(f"{API}/patients", headers={"Authorization": f"Bearer {clinic.api_secrets['c2']}"})
    assert [p["name"] for p in api.json()["items"]] == ["Dora Elsewhere"]
