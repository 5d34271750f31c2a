"""CDS Hooks 2.0: the IG invariants on the models, prefetch (given, null, missing), the cards, errors, feedback.

The router is mounted on a small FastAPI app of its own; FHIR servers are ``httpx.MockTransport`` handlers; feedback
goes to an in-memory log, and in the end-to-end sequence through a real SQL unit of work (SQLite, and PostgreSQL
when ``B12_TEST_POSTGRES_URL`` is set).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fhir.resources.R4B.medicationrequest import MedicationRequest
from hypothesis import HealthCheck, settings
from pydantic import ValidationError
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import StarletteDeprecationWarning

from b12.adapters.cds_hooks import DISCOVERY, CdsDeps, cds_router
from b12.adapters.cds_models import (
    Action,
    Card,
    CdsRequest,
    CdsResponse,
    Discovery,
    FeedbackRecord,
    FeedbackRequest,
    Link,
    ServiceDefinition,
    Source,
    Suggestion,
)
from b12.adapters.fhir import dosage_instruction
from b12.adapters.sql.feedback import cds_unit_of_work_factory
from b12.domain.guidelines import load_guideline

with warnings.catch_warnings():
    # starlette.testclient warns once, at import, that it runs on httpx rather than httpx2.
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

# Copies of ../shared/interop/examples, kept in the repository so the tests never depend on a folder beside it.
EXAMPLES = Path(__file__).resolve().parents[1] / "vectors" / "cds"
SERVER = "https://ehr.example.org/fhir"
TOKEN = "opaque-token-123"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
TODAY = date(2025, 1, 8)
UCUM = "http://unitsofmeasure.org"
IM = {"coding": [{"system": "http://snomed.info/sct", "code": "78421000", "display": "Intramuscular route"}]}
IV = {"coding": [{"system": "http://snomed.info/sct", "code": "47625008", "display": "Intravenous route"}]}


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


# --- fakes ----------------------------------------------------------------------------------------------


class FixedClock:
    def now(self) -> datetime:
        return datetime(2025, 1, 8, 10, 0, tzinfo=UTC)

    def today(self) -> date:
        return TODAY


@dataclass
class MemoryFeedback:
    committed: list[FeedbackRecord] = field(default_factory=list)
    pending: list[FeedbackRecord] = field(default_factory=list)

    def append(self, record: FeedbackRecord) -> None:
        self.pending.append(record)

    def entries(
        self, *, service_id: str | None = None, card: str | None = None, limit: int = 200
    ) -> list[FeedbackRecord]:
        found = [r for r in reversed(self.committed) if service_id in (None, r.service_id) and card in (None, r.card)]
        return found[:limit]


class MemoryUnitOfWork:
    def __init__(self, log: MemoryFeedback) -> None:
        self.cds_feedback = log

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cds_feedback.pending.clear()

    def commit(self) -> None:
        self.cds_feedback.committed.extend(self.cds_feedback.pending)
        self.cds_feedback.pending.clear()


@dataclass
class FhirServer:
    """A FHIR server on httpx.MockTransport: answers reads and searches from a dict, records every request."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    status: int = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"resourceType": "OperationOutcome", "issue": []})
        path = request.url.path.removeprefix("/fhir/")
        if "/" in path:  # a read
            found = self.resources.get(path)
            return httpx.Response(200, json=found) if found else httpx.Response(404)
        wanted = request.url.params.get("code", "")
        entries = [
            {"resource": r}
            for r in self.resources.values()
            if r["resourceType"] == path and (not wanted or any(c in wanted for c in _codes(r)))
        ]
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entries})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))


def _codes(resource: dict[str, Any]) -> list[str]:
    return [c["code"] for c in resource.get("code", {}).get("coding", [])]


def no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no FHIR call expected, got {request.url}")


@dataclass
class Service:
    client: TestClient
    feedback: MemoryFeedback
    fhir: FhirServer


@pytest.fixture
def service() -> Service:
    fhir = FhirServer()
    log = MemoryFeedback()
    deps = CdsDeps(unit_of_work=lambda: MemoryUnitOfWork(log), clock=FixedClock(), http_client=fhir.client)
    return Service(TestClient(app_with(deps)), log, fhir)


def app_with(deps: CdsDeps) -> FastAPI:
    app = FastAPI()
    app.include_router(cds_router(deps))
    return app


# --- FHIR builders --------------------------------------------------------------------------------------


def patient(gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "example", "gender": gender, "birthDate": "1958-04-02"}


def observation(obs_id: str, loinc: str, value: float, unit: str, day: str = "2025-01-06") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": f"{day}T09:30:00Z",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def condition(text_: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {"text": text_},
        "subject": {"reference": "Patient/example"},
    }


def dosage(sequence: int, text_: str, repeat: dict[str, Any], route: dict[str, Any] = IM) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "text": text_,
        "timing": {"repeat": repeat},
        "route": route,
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg", "system": UCUM, "code": "mg"}}],
    }


def medication_request(
    mr_id: str, medication: str, *dosages: dict[str, Any], status: str = "draft", authored: str = "2025-01-08"
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mr_id,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"text": medication},
        "subject": {"reference": "Patient/example"},
        "authoredOn": authored,
        "dosageInstruction": list(dosages),
    }


def administration(day: str, request: str = "MedicationRequest/course") -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": f"dose-{day}",
        "status": "completed",
        "medicationCodeableConcept": {"text": "Hydroxocobalamin 1 mg/1 mL solution for injection"},
        "subject": {"reference": "Patient/example"},
        "request": {"reference": request},
        "effectiveDateTime": f"{day}T10:00:00+00:00",
        "dosage": {"route": IM, "dose": {"value": 1, "unit": "mg", "system": UCUM, "code": "mg"}},
    }


def _mg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mg", "system": UCUM, "code": "mg"}


def b12_low() -> dict[str, Any]:
    return observation("b12-total-2025-01-06", "2132-9", 148, "pg/mL")


def full_prefetch(**overrides: Any) -> dict[str, Any]:
    prefetch: dict[str, Any] = {
        "patient": patient(),
        "b12": bundle(b12_low()),
        "mma": None,
        "hb": bundle(observation("hb-1", "718-7", 128, "g/L")),
        "mcv": bundle(observation("mcv-1", "787-2", 104, "fL")),
        "activeMeds": None,
        "administrations": None,
        "conditions": None,
    }
    prefetch.update(overrides)
    return prefetch


def status_request(prefetch: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": HOOK_INSTANCE,
        "context": {"userId": "Practitioner/example", "patientId": "example"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(fields)
    return body


def order_request(hook: str, *orders: dict[str, Any], **prefetch: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "userId": "Practitioner/example",
        "patientId": "example",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]},
    }
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{orders[0]['id']}"]
    values = {"patient": patient(), "conditions": None, "activeMeds": None, "b12": None}
    values.update(prefetch)
    return {"hook": hook, "hookInstance": HOOK_INSTANCE, "context": context, "prefetch": values}


def auth() -> dict[str, Any]:
    return {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read", "subject": "b12"}


def cards_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    CdsResponse.model_validate(response.json())
    cards: list[dict[str, Any]] = response.json()["cards"]
    for card in cards:  # what every b12 card promises, beyond the IG invariants the model checks
        assert card["uuid"]
        assert len(card["summary"]) < 140
        assert card["source"]["label"]
        assert card["source"]["url"].startswith("http")
        assert card["detail"]
        assert "suggestions" not in card or card["selectionBehavior"]
    return cards


def lebers_cyanocobalamin() -> dict[str, Any]:
    return medication_request(
        "cn-1",
        "Cyanocobalamin 1 mg/1 mL solution for injection",
        dosage(1, "1 mg IM monthly", {"frequency": 1, "period": 1, "periodUnit": "mo"}),
    )


# --- the IG invariants on the models --------------------------------------------------------------------

SOURCE = Source(label="NICE NG239", url="https://www.nice.org.uk/guidance/ng239")
RESOURCE = {"resourceType": "MedicationRequest", "status": "draft", "intent": "proposal"}


def suggestion(recommended: bool = True) -> Suggestion:
    return Suggestion(
        label="Draft an order",
        is_recommended=recommended,
        actions=[Action(type="create", description="Create", resource=RESOURCE)],
    )


def test_cds_resp_1_at_most_one_selection_allows_only_one_recommended_suggestion() -> None:
    with pytest.raises(ValidationError, match="cds-resp-1"):
        Card(
            summary="x",
            indicator="info",
            source=SOURCE,
            suggestions=[suggestion(), suggestion()],
            selection_behavior="at-most-one",
        )
    Card(
        summary="x", indicator="info", source=SOURCE, suggestions=[suggestion(), suggestion()], selection_behavior="any"
    )
    Card(
        summary="x",
        indicator="info",
        source=SOURCE,
        suggestions=[suggestion(), suggestion(recommended=False)],
        selection_behavior="at-most-one",
    )


def test_cds_resp_2_a_delete_action_needs_a_resource_id_and_no_resource() -> None:
    with pytest.raises(ValidationError, match="cds-resp-2"):
        Action(type="delete", description="Remove")
    with pytest.raises(ValidationError, match="cds-resp-2"):
        Action(type="delete", description="Remove", resource_id="MedicationRequest/1", resource=RESOURCE)
    assert Action(type="delete", description="Remove", resource_id="MedicationRequest/1").resource is None


def test_create_and_update_actions_carry_the_whole_resource() -> None:
    with pytest.raises(ValidationError, match="whole FHIR resource"):
        Action(type="update", description="Update")
    with pytest.raises(ValidationError, match="whole FHIR resource"):
        Action(type="create", description="Create", resource={"status": "draft"})


def test_cds_resp_3_app_context_is_only_allowed_on_smart_links() -> None:
    with pytest.raises(ValidationError, match="cds-resp-3"):
        Link(label="Open", url="https://planner.example.org", type="absolute", app_context="{}")
    Link(label="Open", url="https://planner.example.org/launch", type="smart", app_context="{}")


def test_cds_resp_4_every_override_reason_needs_a_display() -> None:
    with pytest.raises(ValidationError, match="cds-resp-4"):
        Card.model_validate(
            {
                "summary": "x",
                "indicator": "info",
                "source": {"label": "b12"},
                "overrideReasons": [{"system": "urn:x", "code": "a"}],
            }
        )


def test_cds_resp_5_every_action_of_a_suggestion_needs_a_description_but_a_system_action_may_omit_it() -> None:
    with pytest.raises(ValidationError, match="cds-resp-5"):
        Suggestion(label="Do it", actions=[Action(type="create", resource=RESOURCE)])
    assert CdsResponse(cards=[], system_actions=[Action(type="update", resource=RESOURCE)]).system_actions


def test_cds_resp_6_a_card_with_suggestions_needs_a_selection_behavior() -> None:
    with pytest.raises(ValidationError, match="cds-resp-6"):
        Card(summary="x", indicator="warning", source=SOURCE, suggestions=[suggestion()])


def test_cds_r_1_fhir_authorization_without_a_fhir_server_is_refused() -> None:
    body = status_request(None, fhirAuthorization=auth())
    with pytest.raises(ValidationError, match="cds-r-1"):
        CdsRequest.model_validate(body)
    assert CdsRequest.model_validate({**body, "fhirServer": SERVER}).fhir_authorization is not None


def test_a_summary_must_be_shorter_than_140_characters() -> None:
    Card(summary="x" * 139, indicator="info", source=SOURCE)
    with pytest.raises(ValidationError):
        Card(summary="x" * 140, indicator="info", source=SOURCE)


def test_feedback_needs_accepted_suggestions_when_accepted_and_a_reason_or_comment_when_given() -> None:
    item = {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2025-01-08T10:05:31Z"}
    with pytest.raises(ValidationError, match="cds-fb-2"):
        FeedbackRequest.model_validate({"feedback": [item]})
    overridden = {**item, "outcome": "overridden", "overrideReason": {}}
    with pytest.raises(ValidationError, match="cds-fb-3"):
        FeedbackRequest.model_validate({"feedback": [overridden]})
    with pytest.raises(ValidationError):
        FeedbackRequest.model_validate({"feedback": [{**item, "outcomeTimestamp": "2025-01-08T10:05:31"}]})


def test_prefetch_templates_use_context_tokens_not_the_outdated_patient_id_form() -> None:
    with pytest.raises(ValidationError, match=r"not a CDS Hooks 2\.0 prefetch token"):
        ServiceDefinition(hook="patient-view", id="x", description="x", prefetch={"p": "Patient/{{Patient.id}}"})


def test_absent_optional_elements_are_left_out_of_the_json_not_sent_as_null() -> None:
    dumped = CdsResponse(cards=[Card(summary="x", indicator="info", source=Source(label="b12"))]).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    assert dumped == {"cards": [{"summary": "x", "indicator": "info", "source": {"label": "b12"}}]}


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("cds-discovery.json", Discovery),
        ("cds-request-patient-view.json", CdsRequest),
        ("cds-response.json", CdsResponse),
        ("cds-feedback.json", FeedbackRequest),
    ],
)
def test_the_shared_example_files_parse_with_the_models(name: str, model: type[Any]) -> None:
    parsed = model.model_validate(example(name))
    assert parsed.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_the_example_response_carries_a_valid_r4_medication_request() -> None:
    response = CdsResponse.model_validate(example("cds-response.json"))
    suggestions = response.cards[0].suggestions or []
    resource = (suggestions[0].actions or [])[0].resource
    assert MedicationRequest.model_validate(resource).status == "draft"


# --- discovery ------------------------------------------------------------------------------------------


def test_discovery_lists_b12_status_for_patient_view_and_b12_order_check_once_per_order_hook(
    service: Service,
) -> None:
    response = service.client.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("b12-status", "patient-view"),
        ("b12-order-check", "order-select"),
        ("b12-order-check", "order-sign"),
    ]
    status = services[0]["prefetch"]
    assert status["patient"] == "Patient/{{context.patientId}}"
    assert "code=http://loinc.org|2132-9,http://loinc.org|14685-2" in status["b12"]
    assert "13964-2" in status["mma"]
    assert "718-7" in status["hb"]
    assert "787-2" in status["mcv"]
    assert status["activeMeds"] == "MedicationRequest?patient={{context.patientId}}&status=active"
    text_ = json.dumps(services)
    assert "Patient.id" not in text_
    assert "null" not in text_
    assert Discovery.model_validate(response.json()) == DISCOVERY


# --- patient-view: prefetch given, null, missing --------------------------------------------------------


def test_patient_view_with_full_prefetch_interprets_the_b12_and_suggests_a_draft_order_without_any_fetch() -> None:
    deps = CdsDeps(
        unit_of_work=lambda: MemoryUnitOfWork(MemoryFeedback()),
        clock=FixedClock(),
        http_client=lambda: httpx.Client(transport=httpx.MockTransport(no_network)),
    )
    client = TestClient(app_with(deps))
    cards = cards_of(client.post("/cds-services/b12-status", json=status_request(full_prefetch(), fhirServer=SERVER)))
    [card] = cards
    assert card["indicator"] == "warning"
    assert "148 pg/mL" in card["summary"]
    assert "confirmed" in card["summary"]
    assert len(card["summary"]) < 140
    assert card["source"] == {
        "label": "NICE NG239 (March 2024), vitamin B12 deficiency in over 16s",
        "url": "https://www.nice.org.uk/guidance/ng239",
        "topic": {"code": "b12-lab-interpretation", "system": "urn:b12:cds:topic", "display": "b12 lab interpretation"},
    }
    for cited in ("UK-IM-NN", "NOTE-ROUTE", "S18", "**Sources**", "nice-ng239".upper().replace("-", " ")[:4]):
        assert cited in card["detail"]
    assert "Macrocytosis" in card["detail"]  # MCV 104 fL, read from its own prefetch key
    assert "Neurological symptoms are not read from the chart" in card["detail"]
    assert "NEURO-URGENT" in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["type"] == "create"
    resource = action["resource"]
    MedicationRequest.model_validate(resource)
    assert (resource["status"], resource["intent"]) == ("draft", "proposal")
    assert resource["reasonReference"] == [{"reference": "Observation/b12-total-2025-01-06"}]
    loading, maintenance = resource["dosageInstruction"]
    assert (loading["sequence"], maintenance["sequence"]) == (1, 2)
    assert loading["timing"]["repeat"] == {"count": 6, "frequency": 3, "period": 1, "periodUnit": "wk"}
    assert maintenance["timing"]["repeat"] == {"frequency": 1, "period": 3, "periodUnit": "mo"}
    assert loading["route"]["coding"][0]["code"] == "78421000"
    assert loading["text"] == "1 mg by intramuscular injection three times a week for 2 weeks (6 doses)"
    assert maintenance["text"] == (
        "Then 1 mg by intramuscular injection every 3 months (calendar months, not 30-day periods), "
        "for life if the cause is irreversible"
    )
    assert resource["dosageInstruction"] == [
        dosage_instruction(phase, index) | {"doseAndRate": [{"doseQuantity": _mg(phase.dose_mg)}]}
        for index, phase in enumerate(load_guideline("uk").regimen("UK-IM-NN").phases, start=1)
    ]  # the FHIR export's own mapping


def test_a_patient_under_16_gets_the_scope_warning_and_no_draft_adult_order(service: Service) -> None:
    child = patient() | {"birthDate": "2012-06-01"}  # 12 on the service's fixed date
    body = status_request(full_prefetch(patient=child), fhirServer=SERVER)
    [card] = cards_of(service.client.post("/cds-services/b12-status", json=body))
    assert "SCOPE-AGE" in card["detail"]
    assert "suggestions" not in card
    assert card["indicator"] in ("warning", "critical")


def test_null_prefetch_keys_mean_no_data_and_are_never_fetched(service: Service) -> None:
    prefetch = full_prefetch(hb=None, mcv=None)
    body = status_request(prefetch, fhirServer=SERVER, fhirAuthorization=auth())
    [card] = cards_of(service.client.post("/cds-services/b12-status", json=body))
    assert service.fhir.requests == []
    assert "Macrocytosis" not in card["detail"]
    assert card["suggestions"]


def test_missing_prefetch_keys_are_fetched_from_the_fhir_server_with_the_bearer_token(service: Service) -> None:
    service.fhir.resources = {
        "Patient/example": patient(),
        "b12": b12_low(),
        "mcv": observation("mcv-1", "787-2", 104, "fL"),
    }
    body = status_request(None, fhirServer=SERVER, fhirAuthorization=auth())
    [card] = cards_of(service.client.post("/cds-services/b12-status", json=body))
    requests = service.fhir.requests
    assert len(requests) == 8  # every template of the service
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert requests[0].url == httpx.URL(f"{SERVER}/Patient/example")
    b12_search = requests[1].url
    assert b12_search.path == "/fhir/Observation"
    assert b12_search.params["patient"] == "example"
    assert b12_search.params["code"] == "http://loinc.org|2132-9,http://loinc.org|14685-2"
    assert (b12_search.params["_sort"], b12_search.params["_count"]) == ("-date", "1")
    assert "confirmed" in card["summary"]
    assert "Macrocytosis" in card["detail"]


def test_only_the_keys_missing_from_the_shared_example_request_are_fetched(service: Service) -> None:
    [card] = cards_of(service.client.post("/cds-services/b12-status", json=example("cds-request-patient-view.json")))
    fetched = [r.url.path.removeprefix("/fhir/") + "?" + r.url.params.get("code", "") for r in service.fhir.requests]
    assert fetched == [
        "Observation?http://loinc.org|718-7",
        "Observation?http://loinc.org|787-2",
        "MedicationAdministration?",
        "Condition?",
    ]
    assert all("Authorization" not in r.headers for r in service.fhir.requests)  # no token was given
    assert card["suggestions"]


def test_without_prefetch_or_fhir_server_the_service_answers_412_naming_the_missing_keys(service: Service) -> None:
    response = service.client.post("/cds-services/b12-status", json=status_request(None))
    assert response.status_code == 412
    body = response.json()
    assert body["missingPrefetch"] == ["patient", "b12", "mma", "hb", "mcv", "activeMeds"]
    assert "no fhirServer" in body["error"]


def test_a_fhir_server_that_refuses_the_token_answers_412(service: Service) -> None:
    service.fhir.status = 401
    body = status_request(full_prefetch(hb=None) | {"mcv": None, "b12": None}, fhirServer=SERVER)
    del body["prefetch"]["b12"]
    response = service.client.post("/cds-services/b12-status", json=body)
    assert response.status_code == 412
    assert response.json()["missingPrefetch"] == ["b12"]
    assert "401" in response.json()["problems"][0]["message"]


def test_optional_keys_missing_without_a_server_are_reported_as_not_checked(service: Service) -> None:
    prefetch = full_prefetch()
    del prefetch["administrations"], prefetch["conditions"]
    [card] = cards_of(service.client.post("/cds-services/b12-status", json=status_request(prefetch)))
    assert "`administrations` was not prefetched and could not be fetched: not checked." in card["detail"]


def test_no_b12_result_and_no_b12_order_gives_no_card(service: Service) -> None:
    body = status_request(full_prefetch(b12=None))
    assert cards_of(service.client.post("/cds-services/b12-status", json=body)) == []


def test_an_observation_in_a_unit_b12_does_not_know_is_left_out_and_said_so(service: Service) -> None:
    odd = observation("b12-odd", "2132-9", 148, "pg/dL")
    [card] = cards_of(
        service.client.post("/cds-services/b12-status", json=status_request(full_prefetch(b12=bundle(odd))))
    )
    assert card["summary"].startswith("Total B12 result not usable: not classified")
    assert "Observation/b12-odd: the unit 'pg/dL' is not in b12's unit vocabulary" in card["detail"]


def test_the_same_hook_instance_gives_the_same_card_uuids(service: Service) -> None:
    body = status_request(full_prefetch())
    first = cards_of(service.client.post("/cds-services/b12-status", json=body))
    second = cards_of(service.client.post("/cds-services/b12-status", json=body))
    assert [c["uuid"] for c in first] == [c["uuid"] for c in second]


# --- patient-view: the prescribing history --------------------------------------------------------------


def hydroxocobalamin_course(authored: str) -> dict[str, Any]:
    return medication_request(
        "course",
        "Hydroxocobalamin 1 mg/1 mL solution for injection",
        dosage(
            1, "1 mg IM three times a week for 2 weeks", {"frequency": 3, "period": 1, "periodUnit": "wk", "count": 6}
        ),
        dosage(2, "Then 1 mg IM every 3 months", {"frequency": 1, "period": 3, "periodUnit": "mo"}),
        status="active",
        authored=authored,
    )


def test_an_overdue_maintenance_injection_gets_a_warning_card_and_no_new_order_is_suggested(service: Service) -> None:
    loading = [administration(day) for day in ("2024-06-03", "2024-06-05", "2024-06-07", "2024-06-10", "2024-06-12")]
    doses = [*loading, administration("2024-06-14"), administration("2024-09-13")]
    prefetch = full_prefetch(
        activeMeds=bundle(hydroxocobalamin_course("2024-06-01")),
        administrations=bundle(*doses),
        hb=bundle(observation("hb-2", "718-7", 135, "g/L", day="2024-09-13")),
    )
    cards = cards_of(service.client.post("/cds-services/b12-status", json=status_request(prefetch)))
    interpretation, overdue = cards
    assert "on B12 replacement" in interpretation["summary"]
    assert "suggestions" not in interpretation
    assert overdue["indicator"] == "warning"
    assert overdue["summary"] == (
        "B12 injection overdue by 26 days: last dose 13 Sep 2024, due 13 Dec 2024 (every 3 months)"
    )
    assert "TRK-OVERDUE" in overdue["detail"]


def test_a_review_with_no_blood_count_since_treatment_began_is_shown_as_due(service: Service) -> None:
    doses = [administration(day) for day in ("2024-09-02", "2024-09-04", "2024-09-06")]
    prefetch = full_prefetch(
        activeMeds=bundle(hydroxocobalamin_course("2024-09-01")),
        administrations=bundle(*doses),
        hb=bundle(observation("hb-old", "718-7", 128, "g/L", day="2024-08-20")),
        mcv=None,
    )
    cards = cards_of(service.client.post("/cds-services/b12-status", json=status_request(prefetch)))
    review = next(c for c in cards if "review" in c["summary"])
    assert review["summary"] == (
        "B12 treatment review due since 2 Dec 2024 (3 months after starting on 2 Sep 2024); no blood count since then"
    )
    assert "FU-UK" in review["detail"]
    assert "S6" in review["detail"]
    overdue = next(c for c in cards if "overdue" in c["summary"])  # the loading dose due on 9 Sep was never given
    assert overdue["summary"] == (
        "B12 injection overdue by 121 days: last dose 6 Sep 2024, due 9 Sep 2024 (three times a week)"
    )


# --- order-select / order-sign --------------------------------------------------------------------------


def test_an_order_sign_call_for_cyanocobalamin_with_lebers_disease_returns_a_critical_card(service: Service) -> None:
    body = order_request(
        "order-sign", lebers_cyanocobalamin(), conditions=bundle(condition("Leber's hereditary optic neuropathy"))
    )
    [card] = cards_of(service.client.post("/cds-services/b12-order-check", json=body))
    assert card["indicator"] == "critical"
    assert "SAFE-LEBER" in card["summary"]
    assert "SAFE-LEBER" in card["detail"]
    assert "UK-TA-LEBER" in card["detail"]
    assert "S28" in card["detail"]
    assert card["source"]["label"].startswith("b12 SAFE-LEBER")
    assert card["source"]["url"].startswith("https://")
    [action] = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the draft order MedicationRequest/cn-1",
        "resourceId": "MedicationRequest/cn-1",
    }


def test_cyanocobalamin_without_lebers_disease_gets_no_safety_card(service: Service) -> None:
    body = order_request("order-sign", lebers_cyanocobalamin(), conditions=bundle(condition("Hypertension")))
    assert cards_of(service.client.post("/cds-services/b12-order-check", json=body)) == []


def test_cyanocobalamin_with_the_conditions_unknown_says_lebers_disease_was_not_checked(service: Service) -> None:
    body = order_request("order-sign", lebers_cyanocobalamin())
    del body["prefetch"]["conditions"]
    [card] = cards_of(service.client.post("/cds-services/b12-order-check", json=body))
    assert card["indicator"] == "info"
    assert "not checked" in card["summary"]


def test_intravenous_cyanocobalamin_returns_a_critical_card(service: Service) -> None:
    order = medication_request(
        "cn-iv",
        "Cyanocobalamin 1 mg/mL",
        dosage(1, "1 mg IV monthly", {"frequency": 1, "period": 1, "periodUnit": "mo"}, IV),
    )
    cards = cards_of(service.client.post("/cds-services/b12-order-check", json=order_request("order-sign", order)))
    assert [(c["indicator"], "SAFE-IV" in c["summary"]) for c in cards] == [("critical", True)]


def test_folic_acid_without_b12_cover_returns_a_critical_card(service: Service) -> None:
    folic = medication_request(
        "fa-1",
        "Folic acid 5 mg tablets",
        dosage(1, "5 mg by mouth daily", {"frequency": 1, "period": 1, "periodUnit": "d"}, {"text": "oral"}),
    )
    [card] = cards_of(service.client.post("/cds-services/b12-order-check", json=order_request("order-sign", folic)))
    assert card["indicator"] == "critical"
    assert "SAFE-FOLATE" in card["summary"]
    assert "No total B12 result on record" in card["detail"]


def test_folic_acid_with_a_b12_order_alongside_needs_no_card(service: Service) -> None:
    folic = medication_request("fa-1", "Folic acid 5 mg tablets")
    b12 = medication_request(
        "oh-1",
        "Hydroxocobalamin 1 mg/1 mL",
        dosage(1, "1 mg IM every 3 months", {"frequency": 1, "period": 3, "periodUnit": "mo"}),
    )
    assert (
        cards_of(service.client.post("/cds-services/b12-order-check", json=order_request("order-sign", folic, b12)))
        == []
    )


def test_hydroxocobalamin_every_4_months_gets_a_warning_with_the_whole_order_amended_to_every_3_months(
    service: Service,
) -> None:
    order = example("medicationrequest-hydroxocobalamin.json")
    order["dosageInstruction"][1]["timing"]["repeat"]["period"] = 4
    order["dosageInstruction"][1]["text"] = "Then 1 mg by intramuscular injection every 4 months"
    [card] = cards_of(service.client.post("/cds-services/b12-order-check", json=order_request("order-sign", order)))
    assert card["indicator"] == "warning"
    assert "every 4 months" in card["summary"]
    assert "2–3 months" in card["summary"]
    assert "UK-IM-NN" in card["detail"]
    assert "S19" in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    [action] = card["suggestions"][0]["actions"]
    assert action["type"] == "update"
    amended = action["resource"]
    MedicationRequest.model_validate(amended)
    expected = copy.deepcopy(order)
    expected["dosageInstruction"][1]["timing"]["repeat"]["period"] = 3
    expected["dosageInstruction"][1]["text"] = "Then 1 mg by intramuscular injection every 3 months"
    assert amended == expected  # the whole resource, only the interval and its text changed


def test_the_label_interval_in_weeks_of_the_epgd_is_accepted(service: Service) -> None:
    order = medication_request(
        "oh-12wk",
        "Hydroxocobalamin 1 mg/1 mL",
        dosage(1, "1 mg IM every 12 weeks", {"frequency": 1, "period": 12, "periodUnit": "wk"}),
    )
    assert cards_of(service.client.post("/cds-services/b12-order-check", json=order_request("order-sign", order))) == []


def test_order_select_checks_only_the_selected_orders(service: Service) -> None:
    fine = medication_request(
        "oh-ok",
        "Hydroxocobalamin 1 mg/1 mL",
        dosage(1, "1 mg IM every 3 months", {"frequency": 1, "period": 3, "periodUnit": "mo"}),
    )
    body = order_request("order-select", fine, lebers_cyanocobalamin(), conditions=bundle(condition("Leber's disease")))
    assert cards_of(service.client.post("/cds-services/b12-order-check", json=body)) == []
    body["context"]["selections"] = ["MedicationRequest/cn-1"]
    [card] = cards_of(service.client.post("/cds-services/b12-order-check", json=body))
    assert card["indicator"] == "critical"


def test_an_invalid_draft_order_answers_400_naming_its_path(service: Service) -> None:
    broken = lebers_cyanocobalamin()
    del broken["subject"]
    response = service.client.post("/cds-services/b12-order-check", json=order_request("order-sign", broken))
    assert response.status_code == 400
    assert response.json()["problems"][0]["path"] == "context.draftOrders.entry[0].resource.subject"


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param({"hook": "patient-view", "context": {}}, "hookInstance", id="no hookInstance"),
        pytest.param(status_request(None, hookInstance="not-a-uuid"), "hookInstance", id="hookInstance not a uuid"),
        pytest.param(status_request(None, hook="order-sign"), "hook", id="wrong hook for the service"),
        pytest.param(status_request(None, context={"patientId": "example"}), "context.userId", id="no userId"),
        pytest.param(status_request(None, fhirServer="ftp://x"), "fhirServer", id="fhirServer not http"),
    ],
)
def test_a_malformed_request_answers_400_with_a_json_error_naming_the_field(
    service: Service, body: dict[str, Any], path: str
) -> None:
    response = service.client.post("/cds-services/b12-status", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert any(p["path"] == path for p in response.json()["problems"]), response.json()


def test_a_body_that_is_not_json_answers_400(service: Service) -> None:
    response = service.client.post(
        "/cds-services/b12-status", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Malformed CDS Hooks request"


def test_a_cds_r_1_violation_answers_400(service: Service) -> None:
    response = service.client.post("/cds-services/b12-status", json=status_request(None, fhirAuthorization=auth()))
    assert response.status_code == 400
    assert "cds-r-1" in response.json()["problems"][0]["message"]


def test_an_unknown_service_id_answers_404_for_calls_and_feedback(service: Service) -> None:
    for path in ("/cds-services/b12-unknown", "/cds-services/b12-unknown/feedback"):
        response = service.client.post(path, json={})
        assert response.status_code == 404
        assert "b12-unknown" in response.json()["error"]


def test_malformed_feedback_answers_400_and_stores_nothing(service: Service) -> None:
    response = service.client.post("/cds-services/b12-status/feedback", json={"feedback": [{"card": "x"}]})
    assert response.status_code == 400
    assert service.feedback.committed == []


# --- the whole sequence over HTTP, feedback in SQL ------------------------------------------------------


def test_discovery_then_patient_view_then_feedback_is_stored_append_only_in_sql(engine: Engine) -> None:
    deps = CdsDeps(
        unit_of_work=cds_unit_of_work_factory(engine),
        clock=FixedClock(),
        http_client=lambda: httpx.Client(transport=httpx.MockTransport(no_network)),
    )
    client = TestClient(app_with(deps))

    services = client.get("/cds-services").json()["services"]
    status = next(s for s in services if s["hook"] == "patient-view")
    [card] = cards_of(client.post(f"/cds-services/{status['id']}", json=status_request(full_prefetch())))
    accepted = card["suggestions"][0]["uuid"]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": accepted}],
                "outcomeTimestamp": "2025-01-08T10:05:31Z",
            },
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": card["overrideReasons"][0],
                    "userComment": "Injections given by the practice nurse elsewhere",
                },
                "outcomeTimestamp": "2025-01-08T11:00:00+01:00",
            },
        ]
    }
    response = client.post(f"/cds-services/{status['id']}/feedback", json=feedback)
    assert response.status_code == 200
    assert response.json() == {"stored": 2}

    with cds_unit_of_work_factory(engine)() as uow:
        overridden, first = uow.cds_feedback.entries(service_id="b12-status")
    assert (first.card, first.outcome, first.accepted_suggestions) == (card["uuid"], "accepted", (accepted,))
    assert first.hook_instance == HOOK_INSTANCE
    assert first.outcome_at == datetime(2025, 1, 8, 10, 5, 31, tzinfo=UTC)
    assert first.received_at == FixedClock().now()
    assert overridden.outcome_at == datetime(2025, 1, 8, 10, 0, tzinfo=UTC)
    assert overridden.override_reason == {
        "reason": {
            "code": "treated-elsewhere",
            "system": "urn:b12:cds:override-reason",
            "display": "Already on B12 replacement elsewhere",
        },
        "userComment": "Injections given by the practice nurse elsewhere",
    }
    with engine.connect() as connection:
        for statement in ("UPDATE cds_feedback SET outcome = 'accepted'", "DELETE FROM cds_feedback"):
            with pytest.raises(DBAPIError, match="append-only"):
                connection.execute(text(statement))
            connection.rollback()


def test_the_feedback_log_has_no_update_or_delete() -> None:
    from b12.adapters.sql.feedback import SqlCdsFeedbackLog

    assert not [name for name in dir(SqlCdsFeedbackLog) if name.startswith(("update", "delete", "remove"))]


UowFactory = Callable[[], Any]


# --- robustness: what fuzzing the OpenAPI schema found --------------------------------------------------


@pytest.mark.parametrize(
    ("content", "path"),
    [
        pytest.param(b"\r\xff\xfe\x80", "/cds-services/b12-status/feedback", id="body not UTF-8"),
        pytest.param(
            b'{"feedback": [{"card": "\\udb3f", "outcome": "overridden", "outcomeTimestamp": "2025-01-08T10:00:00Z"}]}',
            "/cds-services/b12-status/feedback",
            id="lone surrogate",
        ),
        pytest.param(
            b'{"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": 0}]}',
            "/cds-services/b12-status/feedback",
            id="timestamp as a number",
        ),
        pytest.param(
            b'{"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "0001-01-01T00:00:00+03:00"}]}',
            "/cds-services/b12-status/feedback",
            id="timestamp before 1900",
        ),
    ],
)
def test_bodies_that_cannot_be_read_answer_400_never_500(service: Service, content: bytes, path: str) -> None:
    response = service.client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert service.feedback.committed == []


def test_a_token_or_server_that_cannot_go_into_an_http_request_answers_400(service: Service) -> None:
    token = status_request(None, fhirServer=SERVER, fhirAuthorization=auth() | {"access_token": "tökén"})
    server = status_request(None, fhirServer="https://ehr.example.org/a<b>")
    for body in (token, server):
        assert service.client.post("/cds-services/b12-status", json=body).status_code == 400
    assert service.fhir.requests == []


def _fuzzed_app() -> FastAPI:
    log = MemoryFeedback()
    deps = CdsDeps(unit_of_work=lambda: MemoryUnitOfWork(log), clock=FixedClock(), http_client=FhirServer().client)
    return app_with(deps)


OPENAPI = schemathesis.openapi.from_asgi("/openapi.json", _fuzzed_app())


@OPENAPI.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_the_openapi_schema_holds_for_generated_requests_and_412_is_the_only_refusal_of_valid_ones(case: Any) -> None:
    response = case.call()
    # 412 is the specification's answer when required prefetch is missing and no fhirServer is given.
    excluded = [positive_data_acceptance] if response.status_code == 412 else None
    case.validate_response(response, excluded_checks=excluded)
