"""schemathesis over the whole OpenAPI document of the REST API: no 5xx, no answer that breaks its own schema.

Every operation is exercised with generated requests, authenticated as the seeded clinician ``dr-a`` (the clinic
of ``test_api.py``, on a fresh copy of the migrated database for each operation); schemathesis leaves the token
out where it tests a request without credentials. Generated ids rarely exist, so a second pass puts the seeded
patient's and course's ids into the paths of the requests meant to be valid: the record routes then run their use
cases on generated bodies too.

The app is made at import, as schemathesis needs its document to build the tests (``from_asgi``, then
``schema.parametrize``); it reaches no database until a test has opened its clinic.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from test_api import NOW, PASSWORDS, Clinic, migrated_template, open_clinic  # noqa: F401  (a shared fixture)

from b12.adapters.api import token_digest
from b12.adapters.sql.api_tokens import ApiToken, tokens_in
from b12.adapters.web.app import create_app
from b12.adapters.web.settings import Settings
from fakes import FakeUnitOfWork, FixedClock

EXAMPLES_PER_OPERATION = 20
CLOCK = FixedClock(NOW)
SECRET = "b12_schemathesis-token-of-dr-a-in-every-clinic"  # schemathesis makes its examples before any clinic
_open: dict[str, Clinic] = {}


def _unit_of_work() -> Any:
    # Before a test opens its clinic (loading the document runs the app's start-up check): an empty fake.
    return _open["clinic"].new_uow() if "clinic" in _open else FakeUnitOfWork()


app = create_app(
    Settings(secret_key="s" * 40, data_dir=Path(tempfile.gettempdir())),
    uow_factory=_unit_of_work,
    clock=CLOCK,
    passwords=PASSWORDS,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.auth(refresh_interval=None)
class SeededClinician:
    """The bearer token of dr-a."""

    def get(self, case: Any, context: Any) -> str:
        return SECRET

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# Every check but one: b12 refuses some schema-valid requests on its own rules (a unit it cannot convert for that
# analyte, a result dated after today, a dose when none is due), and says so in a documented 422 problem; a JSON
# Schema cannot express those rules, so "a schema-valid request must be accepted" does not hold for this API.
REFUSED_BY_B12_RULES = [schemathesis.checks.positive_data_acceptance]

GENERATED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def clinic(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Clinic]:
    CLOCK.set(NOW)
    opened = open_clinic(tmp_path, request.getfixturevalue("migrated_template"), CLOCK)
    with opened.new_uow() as uow:
        token = ApiToken(uuid.uuid4().hex, "dr-a", "schemathesis", SECRET[:12], NOW)
        tokens_in(uow).add(token, token_digest(SECRET))
        uow.commit()
    _open["clinic"] = opened
    yield opened
    _open.pop("clinic").engine.dispose()


@schema.parametrize()
@GENERATED
def test_every_operation_answers_within_its_documented_responses(case: Any, clinic: Clinic) -> None:
    case.call_and_validate(excluded_checks=REFUSED_BY_B12_RULES)


@schema.parametrize()
@GENERATED
def test_every_operation_on_seeded_records_answers_within_its_documented_responses(case: Any, clinic: Clinic) -> None:
    # Only in requests meant to be valid: in the others the generated id may be the invalid part.
    if case.path_parameters and case.meta is not None and case.meta.generation.mode.is_positive:
        seeded = {"patient_id": "pat-a", "course_id": clinic.courses["pat-a"]}
        case.path_parameters = {name: seeded.get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(excluded_checks=REFUSED_BY_B12_RULES)
