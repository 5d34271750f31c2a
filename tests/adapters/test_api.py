"""The REST API (/api/v1): each endpoint, problem documents, strict bodies, bearer tokens, authorisation, pages.

Every test runs the whole web app (``create_app``, as served) on a SQLite database migrated to the latest
revision, with a fixed clock. The seeded clinic: clinicians ``dr-a`` and ``dr-b``; patient records ``pat-a``
(looked after by dr-a, with her own account ``ana``) and ``pat-b`` (dr-b's, with his account ``ben``); one course
for each patient; a token for each of the four accounts.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from icalendar import Calendar
from jsonschema import Draft202012Validator
from sqlalchemy import Engine, select, text
from test_web_support import FAST_HASHER, TestClient

from b12.adapters import api_models
from b12.adapters.api import API_PREFIX, ApiDeps, api_app, issue_token, revoke_token, tokens_of
from b12.adapters.case_json import case_from_json
from b12.adapters.cli import main as cli_main
from b12.adapters.sql.api_tokens import ApiTokenRow
from b12.adapters.sql.db import make_engine
from b12.adapters.sql.migrations import upgrade
from b12.adapters.sql.repository import unit_of_work_factory
from b12.adapters.web.app import SECURITY_HEADERS, create_app
from b12.adapters.web.security import Passwords
from b12.adapters.web.settings import Settings
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.case import Sex
from b12.services import plan_case
from b12.services_tracking import start_course_from_plan
from fakes import FakeUnitOfWork, FixedClock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
CASE_FILE = ROOT / "examples" / "pernicious-anaemia.json"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"


def case_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CASE_FILE.read_text(encoding="utf-8"))
    data.update(changes)
    return data


# --- the seeded clinic --------------------------------------------------------------------------------------


@dataclass
class Clinic:
    """The seeded database, its accounts and records, and a token secret for each account."""

    engine: Engine
    new_uow: Any
    clock: FixedClock
    accounts: dict[str, Account]
    patients: dict[str, PatientRecord]
    courses: dict[str, str]  # patient record id -> its course id
    secrets: dict[str, str] = field(default_factory=dict)  # account id -> its token's secret

    def auth(self, account_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[account_id]}"}


@dataclass
class World(Clinic):
    """The clinic and a client of the whole web app on it."""

    client: TestClient = field(default=None)  # type: ignore[assignment]  # always given

    def get(self, path: str, account_id: str | None = None, **kwargs: Any) -> Any:
        headers = self.auth(account_id) if account_id else {}
        return self.client.get(API_PREFIX + path, headers=headers, **kwargs)

    def post(self, path: str, body: Any, account_id: str | None = None) -> Any:
        headers = self.auth(account_id) if account_id else {}
        return self.client.post(API_PREFIX + path, json=body, headers=headers)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated to the latest revision; each test works on a copy of it."""
    path = tmp_path_factory.mktemp("api-db") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


PASSWORDS = Passwords(FAST_HASHER)


def open_clinic(folder: Path, template: Path, clock: FixedClock) -> Clinic:
    """A copy of the migrated database with the seeded clinic in it (see the module docstring)."""
    database = folder / "b12.sqlite3"
    shutil.copyfile(template, database)
    engine = make_engine(f"sqlite:///{database}")
    new_uow = unit_of_work_factory(engine)

    def account(account_id: str, role: Role, patient_id: str | None = None) -> Account:
        email = f"{account_id}@example.org"
        return Account(account_id, email, account_id.upper(), role, PASSWORDS.hash(PASSWORD), NOW, patient_id)

    accounts = {
        "dr-a": account("dr-a", Role.CLINICIAN),
        "dr-b": account("dr-b", Role.CLINICIAN),
        "ana": account("ana", Role.PATIENT, "pat-a"),
        "ben": account("ben", Role.PATIENT, "pat-b"),
    }
    patients = {
        "pat-a": PatientRecord("pat-a", "Ana", Sex.FEMALE, NOW, date(1964, 3, 12), clinician_id="dr-a"),
        "pat-b": PatientRecord("pat-b", "Ben", Sex.MALE, NOW, date(1958, 1, 2), clinician_id="dr-b"),
    }
    with new_uow() as uow:
        uow.accounts.add_account(accounts["dr-a"])
        uow.accounts.add_account(accounts["dr-b"])
        for patient in patients.values():
            uow.accounts.add_patient(patient)
        uow.accounts.add_account(accounts["ana"])
        uow.accounts.add_account(accounts["ben"])
        uow.commit()
    plan = plan_case(case_from_json(case_data()))
    courses = {
        patient_id: start_course_from_plan(new_uow(), clock, accounts[clinician], patient_id, plan).id
        for patient_id, clinician in (("pat-a", "dr-a"), ("pat-b", "dr-b"))
    }
    clinic = Clinic(engine, new_uow, clock, accounts, patients, courses)
    for account_id, who in accounts.items():
        clinic.secrets[account_id] = issue_token(new_uow(), clock, who, f"{account_id}'s test token").secret
    return clinic


def make_world(folder: Path, template: Path) -> Iterator[World]:
    clinic = open_clinic(folder, template, FixedClock(NOW))
    settings = Settings(secret_key="s" * 40, data_dir=folder)
    app = create_app(settings, uow_factory=clinic.new_uow, clock=clinic.clock, passwords=PASSWORDS)
    world = World(**vars(clinic), client=TestClient(app))
    with world.client:
        yield world
    clinic.engine.dispose()


@pytest.fixture
def world(tmp_path: Path, migrated_template: Path) -> Iterator[World]:
    yield from make_world(tmp_path, migrated_template)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document with every member b12 promises."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "status", "detail", "instance", "errors"}
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert body["title"]
    assert body["detail"]
    assert body["type"]
    api_models.Problem.model_validate(body)
    return body


def fields(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem["errors"]]


# --- the OpenAPI document and the docs -----------------------------------------------------------------------


def api_routes() -> list[APIRoute]:
    """The API's routes, from its app (listing them reaches no database)."""
    app = api_app(ApiDeps(uow_factory=FakeUnitOfWork, clock=FixedClock(NOW)))
    return [route for route in app.routes if isinstance(route, APIRoute)]


def operations() -> list[tuple[str, str]]:
    return sorted((method, API_PREFIX + route.path) for route in api_routes() for method in route.methods)


def test_the_openapi_document_is_openapi_3_1_and_lists_every_route_of_the_api(world: World) -> None:
    spec = world.client.get("/openapi.json").json()

    assert spec["openapi"].startswith("3.1")
    documented = sorted((method.upper(), path) for path, item in spec["paths"].items() for method in item)
    assert documented == operations()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }


def test_every_operation_documents_its_errors_as_problem_json(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    responses = spec["components"]["responses"]

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            answers = operation["responses"]
            errors = {status for status in answers if status.startswith(("4", "5"))}
            expected = set()
            if "requestBody" in operation:
                expected |= {"400", "413", "422"}
            if operation.get("parameters"):
                expected.add("422")
            if operation.get("security"):
                expected.add("401")
            if "{" in path:
                expected.add("404")
            assert expected <= errors, f"{method.upper()} {path} documents {sorted(errors)}"
            for status in errors:
                name = answers[status]["$ref"].rsplit("/", 1)[1]
                content = responses[name]["content"]
                assert list(content) == [PROBLEM]
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert responses["Unauthorized"]["headers"]["WWW-Authenticate"]["required"] is True


def test_the_docs_page_serves_swagger_ui_from_the_apps_own_files_under_the_apps_policy(world: World) -> None:
    page = world.client.get("/docs")

    assert page.status_code == 200
    assert page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/") for s in sources), sources  # nothing from another site
    assert "<script>" not in page.text
    assert "style=" not in page.text
    for source in sources:
        assert world.client.get(source).status_code == 200, source
    assert 'data-openapi="/openapi.json"' in page.text


# --- stateless ------------------------------------------------------------------------------------------------


def test_convert_gives_pmol_per_l_for_pg_per_ml_with_the_reference_factor_for_b12(world: World) -> None:
    answer = world.post("/convert", {"value": 250, "from_unit": "pg/mL", "to_unit": "pmol/L", "analyte": "b12_total"})

    assert answer.status_code == 200
    body = answer.json()
    assert body["unit"] == "pmol/L"
    assert body["value"] == pytest.approx(250 * 0.738)
    assert body["text"] == "250 pg/mL = 184.5 pmol/L"
    assert body["molar_mass_g_per_mol"] == pytest.approx(1000 / 0.738)
    assert body["molar_basis"] == "pg/mL × 0.738 = pmol/L"


def test_convert_refuses_a_conversion_b12_cannot_make_with_a_refused_problem(world: World) -> None:
    problem = assert_problem(world.post("/convert", {"value": 1, "from_unit": "mg", "to_unit": "mL"}), 422)

    assert problem["type"].endswith(":refused")
    assert "strength" in problem["detail"]


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli_main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_plan_answers_what_b12_plan_json_prints(world: World, capsys: pytest.CaptureFixture[str], path: Path) -> None:
    answer = world.client.post(f"{API_PREFIX}/plan", content=path.read_bytes())

    assert answer.status_code == 200
    assert answer.json() == cli_json(capsys, "plan", "--input", str(path), "--json")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_plan_is_written_byte_for_byte_as_starlettes_json_response_would(world: World, path: Path) -> None:
    answer = world.client.post(f"{API_PREFIX}/plan", content=path.read_bytes())

    assert answer.status_code == 200
    assert answer.content == JSONResponse(answer.json()).body


def test_the_plan_follows_docs_plan_schema_json_and_the_openapi_model(world: World) -> None:
    plan = world.post("/plan", case_data()).json()

    schema = json.loads((ROOT / "docs" / "plan.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(plan)
    api_models.PlanOut.model_validate(plan)


def _shape(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """Property names and required keys of a JSON schema, recursively, with references followed."""
    if "$ref" in schema:
        return _shape(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            shapes = [s for s in (_shape(option, defs) for option in schema[key]) if s is not None]
            return shapes[0] if shapes else None
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return ["items", _shape(schema["items"], defs)]
    if "properties" in schema:
        return {
            "required": sorted(schema.get("required", [])),
            "properties": {name: _shape(sub, defs) for name, sub in sorted(schema["properties"].items())},
        }
    return None


def test_the_openapi_plan_model_has_exactly_the_keys_of_docs_plan_schema_json(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    published = json.loads((ROOT / "docs" / "plan.schema.json").read_text(encoding="utf-8"))
    components = spec["components"]["schemas"]

    assert _shape(components["PlanOut"], components) == _shape(published, published["$defs"])


def test_interpret_answers_what_b12_interpret_json_prints(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    answer = world.client.post(f"{API_PREFIX}/interpret", content=CASE_FILE.read_bytes())

    assert answer.status_code == 200
    assert answer.json() == cli_json(capsys, "interpret", "--input", str(CASE_FILE), "--json")


def test_compare_answers_what_b12_compare_json_prints(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    answer = world.post("/compare", {"start": "2026-01-05", "regimens": ["UK-IM-NN", "US-FDA-CN"]})

    assert answer.status_code == 200
    expected = cli_json(capsys, "compare", "UK-IM-NN", "US-FDA-CN", "--start", "2026-01-05", "--json")
    assert answer.json() == expected


def test_compare_needs_two_regimens_and_names_the_field(world: World) -> None:
    problem = assert_problem(world.post("/compare", {"start": "2026-01-05", "regimens": ["UK-IM-NN"]}), 422)

    assert fields(problem) == ["regimens"]


# --- problem documents and strict bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{", b'{"guideline": "uk",}', b"", b"\xff\xfe", b"[1, 2"], ids=["open", "comma", "empty", "utf8", "list"]
)
def test_malformed_json_is_a_400_problem(world: World, body: bytes) -> None:
    problem = assert_problem(world.client.post(f"{API_PREFIX}/plan", content=body), 400)

    assert problem["type"].endswith(":malformed-json")


def test_a_bad_field_is_a_422_problem_naming_its_path(world: World) -> None:
    labs = [{"test": "b12_total", "value": 150, "unit": "furlongs"}]

    problem = assert_problem(world.post("/plan", case_data(labs=labs)), 422)

    assert problem["type"].endswith(":refused")  # b12's closed unit vocabulary refuses it
    assert fields(problem) == ["labs[0].unit"]
    assert problem["detail"].startswith("labs[0].unit: ")


def test_every_problem_of_a_case_is_listed_with_its_path(world: World) -> None:
    labs = [{"test": "b12_total", "value": -1, "unit": "ng/L"}, {"test": "nope", "value": 1, "unit": "g/L"}]

    problem = assert_problem(world.post("/plan", case_data(labs=labs, horizon=0)), 422)

    assert problem["type"].endswith(":invalid-request")
    assert fields(problem) == ["horizon", "labs[0].value", "labs[1].test"]


FALSE_AS_NUMBER = [
    ("/convert", None, {"value": False, "from_unit": "mg", "to_unit": "mcg"}, "value"),
    ("/plan", None, case_data(labs=[{"test": "b12_total", "value": False, "unit": "ng/L"}]), "labs[0].value"),
    ("/plan", None, case_data(horizon=False), "horizon"),
    ("/patients/pat-a/labs", "dr-a", {"analyte": "mcv", "value": False, "unit": "fL", "taken": "2026-01-02"}, "value"),
    ("/patients/pat-a/symptoms", "dr-a", {"scores": {"fatigue": False}}, "scores.fatigue"),
    ("/courses/{course}/doses", "dr-a", {"dose": False}, "dose"),
]


@pytest.mark.parametrize(("path", "who", "body", "field"), FALSE_AS_NUMBER, ids=[f[3] for f in FALSE_AS_NUMBER])
def test_false_is_not_accepted_as_a_number(world: World, path: str, who: str | None, body: Any, field: str) -> None:
    answer = world.post(path.replace("{course}", world.courses["pat-a"]), body, who)

    assert field in fields(assert_problem(answer, 422))


def test_a_number_written_as_a_string_is_not_a_number(world: World) -> None:
    problem = assert_problem(world.post("/convert", {"value": "250", "from_unit": "pg/mL", "to_unit": "ng/L"}), 422)

    assert fields(problem) == ["value"]


def test_a_whole_number_is_accepted_where_a_decimal_is_expected(world: World) -> None:
    body = {"analyte": "mcv", "value": 101, "unit": "fL", "taken": "2026-01-02", "upper_limit": 100}

    assert world.post("/patients/pat-a/labs", body, "dr-a").status_code == 201


def test_an_unknown_key_is_refused_by_name(world: World) -> None:
    body = {"value": 1, "from_unit": "mg", "to_unit": "mcg", "precision": 3}

    problem = assert_problem(world.post("/convert", body), 422)

    assert problem["errors"] == [{"field": "precision", "message": "is not a key b12 knows here"}]


def test_a_body_over_a_megabyte_is_a_413_problem_whether_announced_or_not(world: World) -> None:
    big = b'{"guideline": "' + b"x" * 1_100_000 + b'"}'

    def chunks() -> Iterator[bytes]:
        yield from (big[i : i + 65536] for i in range(0, len(big), 65536))

    assert_problem(world.client.post(f"{API_PREFIX}/plan", content=big), 413)
    assert_problem(world.client.post(f"{API_PREFIX}/plan", content=chunks()), 413)


def test_a_key_given_twice_is_refused(world: World) -> None:
    body = b'{"value": 1, "from_unit": "mg", "to_unit": "mcg", "value": 2}'

    problem = assert_problem(world.client.post(f"{API_PREFIX}/convert", content=body), 422)

    assert fields(problem) == ["value"]


def test_a_local_threshold_file_cannot_be_read_through_the_api(world: World) -> None:
    problem = assert_problem(world.post("/plan", case_data(thresholds="/etc/passwd.toml")), 422)

    assert fields(problem) == ["thresholds"]
    assert "passwd" not in problem["detail"]


def test_a_refusal_by_b12s_rules_is_a_422_problem_naming_the_field(world: World) -> None:
    body = {"analyte": "mcv", "value": 101, "unit": "fL", "taken": "2026-02-01"}  # after the clock's today

    problem = assert_problem(world.post("/patients/pat-a/labs", body, "dr-a"), 422)

    assert problem["type"].endswith(":refused")
    assert fields(problem) == ["taken"]


def test_an_unknown_address_under_the_api_is_a_404_problem(world: World) -> None:
    assert_problem(world.get("/nothing-here"), 404)


def test_a_method_the_address_does_not_take_is_a_405_problem_naming_the_allowed_one(world: World) -> None:
    answer = world.client.delete(f"{API_PREFIX}/plan")

    assert_problem(answer, 405)
    assert answer.headers["allow"] == "POST"


def test_query_parameters_are_checked_and_named(world: World) -> None:
    problem = assert_problem(world.get("/patients", "dr-a", params={"limit": "false"}), 422)

    assert fields(problem) == ["limit"]


# --- tokens -----------------------------------------------------------------------------------------------------


def authenticated_operations() -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path in operations()
        if not path.endswith(("/convert", "/plan", "/interpret", "/compare"))
    ]


@pytest.mark.parametrize(("method", "path"), authenticated_operations())
def test_every_record_route_answers_401_with_a_bearer_challenge_without_a_token(
    world: World, method: str, path: str
) -> None:
    address = path.replace("{patient_id}", "pat-a").replace("{course_id}", world.courses["pat-a"])

    answer = world.client.request(method, address, json={} if method == "POST" else None)

    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"] == 'Bearer realm="b12"'


@pytest.mark.parametrize("token", ["b12_not-a-real-token", "something else", "b12_" + "x" * 300])
def test_an_unknown_token_is_refused_as_an_invalid_token(world: World, token: str) -> None:
    answer = world.client.get(f"{API_PREFIX}/me", headers={"Authorization": f"Bearer {token}"})

    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"] == 'Bearer realm="b12", error="invalid_token"'


def test_a_revoked_token_is_refused(world: World) -> None:
    assert world.get("/me", "ana").status_code == 200
    (token,) = tokens_of(world.new_uow(), world.accounts["ana"])
    revoke_token(world.new_uow(), world.clock, world.accounts["ana"], token.id)

    answer = world.get("/me", "ana")

    assert_problem(answer, 401)
    assert "invalid_token" in answer.headers["www-authenticate"]


def test_only_a_digest_of_a_token_is_stored(world: World) -> None:
    with world.engine.connect() as connection:
        rows = connection.execute(select(ApiTokenRow.__table__)).all()
    stored = {value for row in rows for value in row if isinstance(value, str)}

    for secret in world.secrets.values():
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() in stored


def test_a_web_session_does_not_authenticate_the_api(world: World) -> None:
    sign_in(world.client, "ana@example.org")

    assert world.client.get("/").status_code == 200
    assert_problem(world.client.get(f"{API_PREFIX}/me"), 401)


def test_the_api_needs_no_csrf_token_since_it_takes_no_cookies(world: World) -> None:
    sign_in(world.client, "dr-a@example.org")  # a session exists, yet the API ignores it

    answer = world.post("/patients", {"name": "Cy", "sex": "male"}, "dr-a")

    assert answer.status_code == 201


# --- authorisation ----------------------------------------------------------------------------------------------


def valid_body(method: str, path: str) -> Any:
    """A body that would be accepted, so that a refusal can only come from authorisation."""
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/patients"): {"name": "Dee", "sex": "female"},
        ("POST", "/patients/{patient_id}/courses"): {"case": case_data()},
        ("POST", "/patients/{patient_id}/symptoms"): {"scores": {"fatigue": 4}},
        ("POST", "/patients/{patient_id}/labs"): {
            "analyte": "b12_total",
            "value": 150,
            "unit": "ng/L",
            "taken": "2026-01-02",
        },
        ("POST", "/courses/{course_id}/doses"): {},
        ("POST", "/courses/{course_id}/skips"): {},
    }
    if method == "GET":
        return None
    return bodies[(method, path.removeprefix(API_PREFIX))]


def stored_rows(world: World) -> int:
    tables = ("patients", "courses", "doses_given", "doses_skipped", "symptom_entries", "lab_entries", "api_tokens")
    with world.engine.connect() as connection:
        return sum(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in tables)


def audit_entries(world: World) -> int:
    with world.new_uow() as uow:
        return len(uow.audit.entries(limit=10_000))


@pytest.mark.parametrize("who", ["ana", "dr-a"])
def test_patient_a_cannot_be_reached_from_patient_b_or_b_from_a_through_any_api_route(world: World, who: str) -> None:
    before = stored_rows(world)
    foreign = {"{patient_id}": "pat-b", "{course_id}": world.courses["pat-b"]}
    reached = []
    for method, path in operations():
        if path.endswith(("/convert", "/plan", "/interpret", "/compare")):
            continue
        address = path
        for placeholder, value in foreign.items():
            address = address.replace(placeholder, value)
        answer = world.client.request(method, address, json=valid_body(method, path), headers=world.auth(who))
        if "{" in path or (method == "POST" and who == "ana"):
            if answer.status_code != 404:
                reached.append(f"{method} {path}: {answer.status_code}")
            continue
        # Lists and the account itself: nothing of patient B in them.
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.status_code}"
        text = answer.text
        assert "pat-b" not in text
        assert world.courses["pat-b"] not in text
        assert "Ben" not in text

    assert reached == []
    created = 1 if who == "dr-a" else 0  # dr-a's POST /patients creates a patient of dr-a's own
    assert stored_rows(world) == before + created


def test_a_patient_sees_only_their_own_record(world: World) -> None:
    listed = world.get("/patients", "ana").json()

    assert [p["id"] for p in listed["items"]] == ["pat-a"]
    assert world.get("/patients/pat-a", "ana").json()["name"] == "Ana"
    assert world.get(f"/courses/{world.courses['pat-a']}/status", "ana").status_code == 200


def test_a_patient_cannot_create_patients_or_courses(world: World) -> None:
    assert_problem(world.post("/patients", {"name": "Eve", "sex": "female"}, "ana"), 404)
    assert_problem(world.post("/patients/pat-a/courses", {"case": case_data()}, "ana"), 404)


# --- records ------------------------------------------------------------------------------------------------------


def test_me_is_the_account_of_the_token(world: World) -> None:
    assert world.get("/me", "ana").json() == {
        "id": "ana",
        "name": "ANA",
        "email": "ana@example.org",
        "role": "patient",
        "patient_id": "pat-a",
    }


def test_a_clinician_creates_a_patient_and_starts_a_course_from_a_case(world: World) -> None:
    created = world.post("/patients", {"name": "Flo", "sex": "female", "birth_date": "1970-05-06"}, "dr-a")
    assert created.status_code == 201
    patient = created.json()
    assert created.headers["location"] == f"{API_PREFIX}/patients/{patient['id']}"
    assert patient["clinician_id"] == "dr-a"

    started = world.post(f"/patients/{patient['id']}/courses", {"case": case_data(), "sites": ["left thigh"]}, "dr-a")

    assert started.status_code == 201
    course = started.json()
    assert started.headers["location"] == f"{API_PREFIX}/courses/{course['id']}"
    assert course["regimen_id"] == "UK-IM-NN"
    assert course["sites"] == ["left thigh"]
    assert world.get(f"/courses/{course['id']}", "dr-a").json() == course
    assert [c["id"] for c in world.get(f"/patients/{patient['id']}/courses", "dr-a").json()["items"]] == [course["id"]]


def test_a_new_patient_is_audited_once_with_the_api_as_its_source(world: World) -> None:
    created = world.post("/patients", {"name": "  Flo  ", "sex": "female"}, "dr-a").json()

    with world.new_uow() as uow:
        (entry,) = uow.audit.entries(entity="patient", entity_id=created["id"])
    assert created["name"] == "Flo"
    assert (entry.actor_id, entry.action, entry.detail) == ("dr-a", "patient.create", {"source": "api"})


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"birth_date": "2026-01-06"}, "birth_date", "a date of birth between 1900 and today"),
        ({"birth_date": "1899-12-31"}, "birth_date", "a date of birth between 1900 and today"),
        ({"sex": "male", "pregnant": True}, "pregnant", "a patient recorded as male cannot be"),
        ({"sex": "male", "breastfeeding": True}, "breastfeeding", "a patient recorded as male cannot be"),
        ({"sex": "male", "pregnant": True, "breastfeeding": True}, "pregnant", "a patient recorded as male cannot be"),
    ],
    ids=["born-tomorrow", "born-before-1900", "pregnant-male", "breastfeeding-male", "both-named-at-pregnant"],
)
def test_a_new_patient_b12_cannot_record_is_refused_on_its_field_and_nothing_is_stored(
    world: World, body: dict[str, Any], field: str, message: str
) -> None:
    before = stored_rows(world), audit_entries(world)

    problem = assert_problem(world.post("/patients", {"name": "Gil", "sex": "female", **body}, "dr-a"), 422)

    assert problem["type"].endswith(":refused")
    assert problem["detail"] == f"{field}: {message}"
    assert problem["errors"] == [{"field": field, "message": message}]
    assert (stored_rows(world), audit_entries(world)) == before


def test_a_patient_s_badly_formed_new_patient_is_not_found_rather_than_invalid(world: World) -> None:
    assert_problem(world.post("/patients", {"name": "", "sex": "other"}, "ana"), 404)


def test_a_course_from_a_bad_case_names_the_field_inside_the_case(world: World) -> None:
    body = {"case": case_data(patient={"sex": "male", "pregnant": True})}

    problem = assert_problem(world.post("/patients/pat-a/courses", body, "dr-a"), 422)

    assert fields(problem) == ["case.patient.pregnant"]


def test_doses_are_recorded_with_the_dose_due_and_listed(world: World) -> None:
    course = world.courses["pat-a"]

    given = world.post(f"/courses/{course}/doses", {"site": "left deltoid"}, "ana")

    assert given.status_code == 201
    assert given.json()["dose_mg"] == 1.0
    assert given.json()["given_by"] == "ana"
    listed = world.get(f"/courses/{course}/doses", "dr-a").json()
    assert [d["id"] for d in listed["items"]] == [given.json()["id"]]


def test_a_dose_typed_as_text_is_read_with_the_course_strength(world: World) -> None:
    answer = world.post(f"/courses/{world.courses['pat-a']}/doses", {"dose": "1000 mcg"}, "dr-a")

    assert answer.status_code == 201
    assert answer.json()["dose_mg"] == 1.0


def test_a_skip_is_recorded_for_the_dose_due_and_listed(world: World) -> None:
    course = world.courses["pat-a"]

    skipped = world.post(f"/courses/{course}/skips", {"reason": "away"}, "ana")

    assert skipped.status_code == 201
    assert skipped.json()["due"] == "2026-01-05"
    assert world.get(f"/courses/{course}/skips", "ana").json()["items"] == [skipped.json()]


def test_symptoms_are_recorded_for_the_patient_and_listed_on_the_course(world: World) -> None:
    entry = world.post("/patients/pat-a/symptoms", {"scores": {"fatigue": 6, "memory": 2}, "note": "tired"}, "ana")

    assert entry.status_code == 201
    assert entry.json()["scores"] == {"fatigue": 6, "memory": 2}
    listed = world.get(f"/courses/{world.courses['pat-a']}/symptoms", "dr-a").json()
    assert listed["items"] == [entry.json()]


def test_an_empty_symptom_entry_is_refused(world: World) -> None:
    problem = assert_problem(world.post("/patients/pat-a/symptoms", {"scores": {}}, "ana"), 422)

    assert fields(problem) == ["scores"]


def test_labs_are_recorded_as_reported_normalised_and_listed(world: World) -> None:
    body = {"analyte": "b12_total", "value": 200, "unit": "pg/mL", "taken": "2026-01-02", "lower_limit": 180}

    entry = world.post("/patients/pat-a/labs", body, "dr-a")

    assert entry.status_code == 201
    assert (entry.json()["value"], entry.json()["unit"]) == (200, "pg/mL")
    assert (entry.json()["normalised_value"], entry.json()["normalised_unit"]) == (200, "ng/L")
    assert world.get(f"/courses/{world.courses['pat-a']}/labs", "ana").json()["items"] == [entry.json()]


def test_the_status_of_a_course_is_recomputed_from_its_facts(world: World) -> None:
    course = world.courses["pat-a"]
    before = world.get(f"/courses/{course}/status", "ana").json()
    world.post(f"/courses/{course}/doses", {}, "ana")

    after = world.get(f"/courses/{course}/status", "ana").json()

    assert before["state"] == "not_started"
    assert after["state"] == "active"
    assert after["adherence"]["given"] == 1
    assert after["next_dose"]["due"] == "2026-01-07"
    api_models.StatusOut.model_validate(after)


def test_the_calendar_is_icalendar_with_the_doses_due(world: World) -> None:
    answer = world.get(f"/courses/{world.courses['pat-a']}/calendar.ics", "ana", params={"months": 2})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(answer.content)
    starts = [event.decoded("dtstart") for event in calendar.walk("VEVENT")]
    doses = sorted(start.date() for start in starts if isinstance(start, datetime))  # reviews are all-day
    assert doses[0] == date(2026, 1, 5)
    assert all(day <= date(2026, 3, 8) for day in doses)


def test_the_summary_is_a_pdf(world: World) -> None:
    answer = world.get(f"/courses/{world.courses['pat-a']}/summary.pdf", "dr-a")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")


# --- pagination ---------------------------------------------------------------------------------------------------


def test_lists_are_paged_with_next_links_until_the_last_page(world: World) -> None:
    for n in range(24):
        world.post("/patients", {"name": f"Patient {n:02}", "sex": "female"}, "dr-a")
    seen: list[str] = []
    page = world.get("/patients", "dr-a", params={"limit": 10}).json()
    pages = 1
    while page["next"] is not None:
        assert page["total"] == 25
        assert len(page["items"]) == 10
        seen += [p["id"] for p in page["items"]]
        page = world.client.get(page["next"], headers=world.auth("dr-a")).json()
        pages += 1

    seen += [p["id"] for p in page["items"]]
    assert pages == 3
    assert (page["offset"], page["limit"], len(page["items"])) == (20, 10, 5)
    assert len(seen) == len(set(seen)) == 25


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1.5"])
def test_a_page_size_outside_1_to_100_is_refused(world: World, limit: str) -> None:
    assert fields(assert_problem(world.get("/patients", "dr-a", params={"limit": limit}), 422)) == ["limit"]


def test_an_offset_past_the_end_is_an_empty_last_page(world: World) -> None:
    page = world.get("/patients", "dr-a", params={"offset": 50}).json()

    assert (page["items"], page["total"], page["next"]) == ([], 1, None)


# --- the token page of the web app --------------------------------------------------------------------------------


def csrf_of(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: TestClient, email: str) -> None:
    answer = client.post(
        "/signin",
        data={"csrf_token": csrf_of(client, "/signin"), "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def create_on_page(client: TestClient, name: str) -> Any:
    return client.post("/account/tokens", data={"csrf_token": csrf_of(client, "/account/tokens"), "name": name})


def test_a_token_created_on_the_web_page_is_shown_once_and_works(world: World) -> None:
    sign_in(world.client, "ben@example.org")

    page = create_on_page(world.client, "my app")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    secret = re.search(r'id="token-secret"[^>]*value="(b12_[^"]+)"', page.text)
    assert secret is not None
    token = secret.group(1)
    assert world.client.get(f"{API_PREFIX}/me", headers={"Authorization": f"Bearer {token}"}).json()["id"] == "ben"
    again = world.client.get("/account/tokens").text
    assert token not in again
    assert "my app" in again
    assert token[:12] in again


def test_a_token_needs_a_name(world: World) -> None:
    sign_in(world.client, "ben@example.org")

    page = create_on_page(world.client, "  ")

    assert page.status_code == 422
    assert "b12_" not in page.text.split("Your tokens")[0]


def test_a_token_revoked_on_the_web_page_is_refused_by_the_api(world: World) -> None:
    sign_in(world.client, "ben@example.org")
    token_id = re.findall(r"/account/tokens/([0-9a-f]+)/revoke", world.client.get("/account/tokens").text)[0]

    answer = world.client.post(
        f"/account/tokens/{token_id}/revoke",
        data={"csrf_token": csrf_of(world.client, "/account/tokens")},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert_problem(world.get("/me", "ben"), 401)
    assert "Revoked" in world.client.get("/account/tokens").text


def test_an_account_cannot_revoke_another_accounts_token(world: World) -> None:
    sign_in(world.client, "ben@example.org")
    (anas,) = tokens_of(world.new_uow(), world.accounts["ana"])

    answer = world.client.post(
        f"/account/tokens/{anas.id}/revoke", data={"csrf_token": csrf_of(world.client, "/account/tokens")}
    )

    assert answer.status_code == 404
    assert world.get("/me", "ana").status_code == 200


def test_the_token_page_asks_a_visitor_to_sign_in(world: World) -> None:
    answer = world.client.get("/account/tokens", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin")


def test_revoking_on_the_page_needs_the_csrf_token(world: World) -> None:
    sign_in(world.client, "ben@example.org")
    token_id = re.findall(r"/account/tokens/([0-9a-f]+)/revoke", world.client.get("/account/tokens").text)[0]

    assert world.client.post(f"/account/tokens/{token_id}/revoke").status_code == 403
    assert world.get("/me", "ben").status_code == 200


def test_token_ids_are_unguessable_uuids(world: World) -> None:
    (token,) = tokens_of(world.new_uow(), world.accounts["ben"])

    assert uuid.UUID(hex=token.id).version == 4
