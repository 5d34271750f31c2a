"""``b12 serve``: options, environment, migration before serving, demo sign-in printed; the app on real SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from test_web_support import FAST_HASHER, NOW, TestClient
from typer.testing import CliRunner

from b12.adapters.cli import serve_cli
from b12.adapters.cli.app import run_app
from b12.adapters.web.app import create_app, sql_uow_factory
from b12.adapters.web.security import Passwords
from b12.adapters.web.settings import Settings
from fakes import FixedClock


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    calls: dict[str, Any] = {}
    monkeypatch.setattr(serve_cli, "migrate", lambda url: calls.setdefault("migrated", url))

    def run(app: Any, **kwargs: Any) -> None:
        calls["app"] = app
        calls.update(kwargs)

    monkeypatch.setattr("uvicorn.run", run)
    monkeypatch.setenv("B12_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("B12_DATABASE_URL", raising=False)
    monkeypatch.delenv("B12_DEMO", raising=False)
    return calls


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """b12"""

    serve_cli.register(app)
    return app


def test_serve_migrates_then_runs_uvicorn_on_loopback_by_default(served: dict[str, Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["serve"])
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1"
    assert served["port"] == 8000
    assert served["migrated"] == f"sqlite:///{(tmp_path / 'b12.sqlite3').absolute().as_posix()}"
    assert "http://127.0.0.1:8000/" in result.output
    assert (tmp_path / "secret_key").exists()


def test_serve_takes_the_database_from_the_environment_and_prints_it_without_the_password(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12_DATABASE_URL", "postgresql+psycopg://b12:hunter2@127.0.0.1:54329/b12")
    result = CliRunner().invoke(_cli(), ["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert result.exit_code == 0, result.output
    assert served["migrated"].endswith("@127.0.0.1:54329/b12")
    assert "hunter2" not in result.output
    assert served["port"] == 9000


def test_serve_demo_prints_how_to_sign_in(served: dict[str, Any]) -> None:
    result = CliRunner().invoke(_cli(), ["serve", "--demo", "--database", "sqlite:///:memory:"])
    assert result.exit_code == 0, result.output
    assert "clinician@demo.example.org" in result.output
    assert "patient@demo.example.org" in result.output
    assert served["migrated"] == "sqlite:///:memory:"


def test_the_app_signs_up_and_in_on_the_sql_adapter(tmp_path: Path) -> None:
    from b12.adapters.sql.migrations import upgrade

    settings = Settings(secret_key="s" * 40, data_dir=tmp_path, demo=True)
    upgrade(settings.database)
    app = create_app(
        settings, uow_factory=sql_uow_factory(settings), clock=FixedClock(NOW), passwords=Passwords(FAST_HASHER)
    )
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        page = client.get("/signin").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        response = client.post(
            "/signin",
            data={"csrf_token": token, "email": "patient@demo.example.org", "password": "demo-patient-2026"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "Signed in as Dana Demo" in client.get("/").text


def test_the_served_app_answers_cds_hooks_without_a_session_and_stores_feedback(tmp_path: Path) -> None:
    from b12.adapters.sql.migrations import upgrade

    settings = Settings(secret_key="s" * 40, data_dir=tmp_path)
    upgrade(settings.database)
    app = create_app(settings, clock=FixedClock(NOW), passwords=Passwords(FAST_HASHER))
    b12_result = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2025-01-06T09:30:00Z",
        "valueQuantity": {"value": 148, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"},
    }
    # Every prefetch key is given (null = no data), so the service never calls a FHIR server.
    request = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "example"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "example", "gender": "female", "birthDate": "1958-04-02"},
            "b12": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": b12_result}]},
            "mma": None,
            "hb": None,
            "mcv": None,
            "activeMeds": None,
            "administrations": None,
            "conditions": None,
        },
    }
    with TestClient(app) as client:
        services = client.get("/cds-services").json()["services"]
        assert {s["hook"] for s in services} >= {"patient-view", "order-sign", "order-select"}
        status = next(s for s in services if s["hook"] == "patient-view")
        answer = client.post(f"/cds-services/{status['id']}", json=request)
        assert answer.status_code == 200, answer.text
        cards = answer.json()["cards"]
        assert cards
        assert "confirmed" in cards[0]["summary"].lower()
        feedback = {
            "feedback": [
                {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2025-01-08T10:05:31Z"}
            ]
        }
        assert client.post(f"/cds-services/{status['id']}/feedback", json=feedback).status_code == 200


def test_serve_refuses_a_bad_setting_with_one_line_and_exit_2_not_an_internal_error(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("B12_DEMO", "maybe")
    code = run_app(["serve"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "b12: B12_DEMO='maybe': write 1 or 0 (true or false)\n"
    assert served == {}  # stopped before migrating or serving
