"""CORS (``B12_CORS_ORIGINS``): only on ``/cds-services`` and ``/api/``, only for the origins given, no credentials;
a preflight is answered before the CDS client authentication; a bad value stops ``b12 serve`` (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm
from pydantic import ValidationError
from test_web_support import NOW, TestClient

from b12.adapters.cli import serve_cli
from b12.adapters.cli.app import run_app
from b12.adapters.web.app import create_app
from b12.adapters.web.cors import CorsOriginsError, parse_origins
from b12.adapters.web.settings import Settings
from fakes import FakeUnitOfWork, FixedClock

SANDBOX = "https://sandbox.cds-hooks.org"
STRANGER = "https://attacker.example.com"
DISCOVERY = "/cds-services"
STATUS = "/cds-services/b12-status"
CONVERT = "/api/v1/convert"
CONVERSION = {"value": 1000, "from_unit": "mcg", "to_unit": "mg"}
SECRET = "s" * 40


class MemoryUnitOfWork:
    """The CDS feedback store, in memory (nothing here posts feedback)."""

    def __init__(self) -> None:
        self.cds_feedback: list[Any] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def commit(self) -> None:
        pass


def make_app(tmp_path: Path, **settings: Any) -> FastAPI:
    config = Settings(secret_key=SECRET, data_dir=tmp_path, **settings)
    uow = FakeUnitOfWork()
    return create_app(config, uow_factory=lambda: uow, clock=FixedClock(NOW), cds_unit_of_work=MemoryUnitOfWork)


def status_request() -> dict[str, Any]:
    """A patient-view call with every prefetch key given (null = no data), so no FHIR server is called."""
    result = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2025-12-29T09:30:00Z",
        "valueQuantity": {"value": 148, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"},
    }
    prefetch: dict[str, Any] = dict.fromkeys(("mma", "hb", "mcv", "activeMeds", "administrations", "conditions"))
    prefetch["patient"] = {"resourceType": "Patient", "id": "example", "gender": "female", "birthDate": "1958-04-02"}
    prefetch["b12"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": result}]}
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "example"},
        "prefetch": prefetch,
    }


def machine_calls(client: TestClient, origin: str) -> dict[str, httpx.Response]:
    """A CDS discovery GET, a CDS service POST and an API POST from a page at ``origin``; each must succeed."""
    headers = {"Origin": origin}
    answers = {
        "discovery": client.get(DISCOVERY, headers=headers),
        "service": client.post(STATUS, json=status_request(), headers=headers),
        "api": client.post(CONVERT, json=CONVERSION, headers=headers),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200, f"{name}: {answer.text}"
    return answers


def preflight(client: TestClient, path: str, origin: str = SANDBOX) -> httpx.Response:
    """What a browser sends before a cross-origin POST of JSON with a bearer token."""
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


def listed(values: str) -> set[str]:
    return {value.strip().lower() for value in values.split(",")}


# --- off by default -----------------------------------------------------------------------------------------


def test_without_b12_cors_origins_no_answer_carries_an_access_control_header(tmp_path: Path) -> None:
    assert Settings.from_env({"B12_SECRET_KEY": SECRET}).cors_origins == ()
    with TestClient(make_app(tmp_path)) as client:
        for name, answer in machine_calls(client, SANDBOX).items():
            assert cors_headers(answer) == {}, name
        answer = preflight(client, STATUS)
        assert answer.status_code == 405  # the route takes POST only: nothing answered the preflight
        assert cors_headers(answer) == {}


# --- listed origins -----------------------------------------------------------------------------------------


def test_a_listed_origin_may_read_cds_discovery_a_cds_service_answer_and_an_api_answer(tmp_path: Path) -> None:
    app = make_app(tmp_path, cors_origins=("https://ehr.example.org", SANDBOX))
    with TestClient(app) as client:
        for name, answer in machine_calls(client, SANDBOX).items():
            # Only the origin, never credentials, nothing exposed.
            assert cors_headers(answer) == {"access-control-allow-origin": SANDBOX}, name
            assert "origin" in listed(answer.headers["Vary"]), name


def test_an_unlisted_origin_gets_no_access_control_header_and_its_preflight_is_refused(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path, cors_origins=(SANDBOX,))) as client:
        for name, answer in machine_calls(client, STRANGER).items():
            assert cors_headers(answer) == {}, name
        answer = preflight(client, STATUS, STRANGER)
        assert answer.status_code == 400
        assert "access-control-allow-origin" not in answer.headers


def test_a_preflight_of_an_authenticated_cds_service_post_answers_200_without_a_token(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "ec-1", "alg": "ES384"}
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": [{"issuer": "https://ehr.example.org/", "jwks": {"keys": [jwk]}}]}))
    with TestClient(make_app(tmp_path, cds_clients=clients, cors_origins=(SANDBOX,))) as client:
        answer = preflight(client, STATUS)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Access-Control-Allow-Origin"] == SANDBOX
        assert listed(answer.headers["Access-Control-Allow-Methods"]) == {"get", "post", "options"}
        assert {"authorization", "content-type"} <= listed(answer.headers["Access-Control-Allow-Headers"])
        assert "access-control-allow-credentials" not in answer.headers
        # The POST itself still needs the JWT, and the browser client may read the refusal.
        refused = client.post(STATUS, json=status_request(), headers={"Origin": SANDBOX})
        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == SANDBOX


def test_an_api_post_with_a_bearer_token_may_be_preflighted(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path, cors_origins=(SANDBOX,))) as client:
        answer = preflight(client, "/api/v1/patients")
        assert answer.status_code == 200, answer.text
        assert answer.headers["Access-Control-Allow-Origin"] == SANDBOX


# --- the HTML pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("origins", [(SANDBOX,), ("*",)], ids=["listed origin", "any origin"])
@pytest.mark.parametrize("path", ["/", "/signin", "/docs", "/cds-services-not"])
def test_an_html_page_never_gets_cors_headers(tmp_path: Path, origins: tuple[str, ...], path: str) -> None:
    with TestClient(make_app(tmp_path, cors_origins=origins)) as client:
        answer = client.get(path, headers={"Origin": SANDBOX})
        assert answer.status_code in (200, 404)
        assert cors_headers(answer) == {}
        assert "origin" not in listed(answer.headers.get("Vary", ""))
        assert cors_headers(preflight(client, path)) == {}


# --- any origin ---------------------------------------------------------------------------------------------


def test_a_star_lets_any_origin_call_without_credentials(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path, cors_origins=("*",))) as client:
        for name, answer in machine_calls(client, STRANGER).items():
            assert cors_headers(answer) == {"access-control-allow-origin": "*"}, name
        answer = preflight(client, STATUS, STRANGER)
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "access-control-allow-credentials" not in answer.headers


# --- the setting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        (f" {SANDBOX} , http://localhost:3000,", (SANDBOX, "http://localhost:3000")),
        ("HTTPS://EHR.Example.org:443,http://127.0.0.1:80", ("https://ehr.example.org", "http://127.0.0.1")),
        ("http://[::1]:8080,http://[::1]:8080", ("http://[::1]:8080",)),
        ("*", ("*",)),
        (" , ", ()),
    ],
    ids=["listed", "written as a browser sends it", "ipv6 once", "any", "blank"],
)
def test_b12_cors_origins_is_read_as_a_browser_writes_origins(value: str, origins: tuple[str, ...]) -> None:
    assert Settings.from_env({"B12_SECRET_KEY": SECRET, "B12_CORS_ORIGINS": value}).cors_origins == origins


BAD_ORIGINS = [
    ("https://sandbox.cds-hooks.org/", "not even a final '/'"),
    ("https://ehr.example.org/cds", "no path"),
    ("https://ehr.example.org?x=1", "no path, query or fragment"),
    ("ftp://ehr.example.org", "http or https"),
    ("ehr.example.org", "not an origin"),
    ("null", "not an origin"),
    ("https://*.example.org", "no wildcard"),
    ("https://user:pw@ehr.example.org", "no user name or password"),
    ("https://ehr.example.org:99999", "the port must be"),
    ("https://", "no host"),
    (f"*,{SANDBOX}", "'*' is given with other origins"),
]


@pytest.mark.parametrize(("value", "problem"), BAD_ORIGINS, ids=[value for value, _ in BAD_ORIGINS])
def test_a_bad_origin_is_refused_naming_it_and_why(value: str, problem: str) -> None:
    with pytest.raises(CorsOriginsError) as raised:
        parse_origins(value)
    assert str(raised.value).startswith("B12_CORS_ORIGINS: ")
    assert problem in str(raised.value)
    with pytest.raises(ValidationError, match="B12_CORS_ORIGINS"):
        Settings(secret_key=SECRET, cors_origins=(value,))


def test_every_bad_origin_is_named_at_once() -> None:
    with pytest.raises(CorsOriginsError) as raised:
        parse_origins(f"{SANDBOX}/, ftp://a.example.org, {SANDBOX}")
    assert len(raised.value.problems) == 2


# --- b12 serve ----------------------------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    calls: dict[str, Any] = {}
    monkeypatch.setattr(serve_cli, "migrate", lambda url: calls.setdefault("migrated", url))
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.update(app=app, **kwargs))
    monkeypatch.setenv("B12_DATA_DIR", str(tmp_path))
    for name in ("B12_DATABASE_URL", "B12_DEMO", "B12_CDS_CLIENTS", "B12_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return calls


@pytest.mark.parametrize("value", ["https://sandbox.cds-hooks.org/", f"ftp://a.example.org,*,{SANDBOX}"])
def test_b12_serve_refuses_bad_origins_with_one_line_and_exit_2(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("B12_CORS_ORIGINS", value)
    code = run_app(["serve"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("b12: B12_CORS_ORIGINS: ")
    assert served == {}  # stopped before migrating or serving


def test_b12_serve_serves_cors_for_the_origins_of_b12_cors_origins(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12_CORS_ORIGINS", SANDBOX)
    assert run_app(["serve"]) == 0
    client = TestClient(served["app"])  # no lifespan: the database was not migrated, discovery does not need it
    answer = client.get(DISCOVERY, headers={"Origin": SANDBOX})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == SANDBOX
