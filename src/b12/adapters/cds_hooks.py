"""CDS Hooks 2.0 services of b12, as a FastAPI router: ``cds_router(deps)``; see ``docs/cds-hooks.md``.

Routes (own paths of the specification; not the obsolete ``/.well-known`` form):

- ``GET /cds-services`` — discovery: ``b12-status`` (patient-view) and ``b12-order-check`` (listed once for
  order-select and once for order-sign, one id per hook entry as the specification allows).
- ``POST /cds-services/b12-status`` and ``POST /cds-services/b12-order-check`` — cards.
- ``POST /cds-services/{id}/feedback`` — stored append-only through the unit of work, answered 200.

Contract:

- Authentication (CDS Hooks 2.0 "Trusting CDS Clients", :mod:`b12.adapters.cds_auth`): when
  ``CdsDeps.clients`` lists trusted clients, every POST (services, feedback, unknown ids alike) needs
  ``Authorization: Bearer <JWT>`` signed by one of them with ``aud`` the URL called, checked before the body is
  read; else 401 with a one-line reason and ``WWW-Authenticate: Bearer``. Discovery stays open: it lists the same
  static services to anyone and carries no patient data, and the spec asks authentication of calls that pose "any
  risk of exposing sensitive data to the caller". Without ``clients`` (development, the demo) no call is
  authenticated; the composition root logs that once at start-up.
- Prefetch: a key present with a resource is used; a key present with ``null`` means "no data" and is never
  fetched; a missing key (or one holding an OperationOutcome) is fetched from ``fhirServer`` with the bearer token
  of ``fhirAuthorization`` through the injected httpx client. A required key that cannot be had (no
  ``fhirServer``, a server outside ``allowed_fhir_servers``, an error answer) -> HTTP 412; an optional one is
  reported in the cards as not checked.
- Errors answer JSON (:class:`~b12.adapters.cds_models.CdsError`) whatever the app's own handlers do: a
  malformed body, a cds-r-1 violation or an invalid draft order -> 400 naming each problem's path; an unknown
  service id -> 404; b12's own errors on the data (:class:`~b12.domain.errors.B12Error`) -> an info card.
- Cards are built by the clinical services from the FHIR data (``services.plan_case``); every card has a uuid
  (uuid5 of the hook instance, so a repeated call gives the same uuids), a summary under 140 characters, a source
  with a label and a URL, and a Markdown detail citing rule IDs and source IDs. Resources in actions are built
  as JSON, validated with ``fhir.resources.R4B`` and their required codes checked here (the library does not).
- FHIR reading here is the small subset the cards need (read leniently: an unusable resource is left out and the
  card says so). Suggested orders use the FHIR export's own ``dosage_instruction`` and ``check_codes``
  (``adapters/fhir.py``), so a draft order reads like an exported course.

Mounting: ``app.include_router(cds_router(CdsDeps(unit_of_work=cds_unit_of_work_factory(engine), clock=clock,
clients=load_trusted_clients(path))))``.
The routes must not sit behind the web app's session/CSRF dependencies: a CDS client has no session.

b12 is decision support, not a prescriber: every card says which rule and source it comes from.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self
from urllib.parse import quote, urlsplit

import httpx
from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from b12 import services
from b12.adapters.cds_auth import CdsAuthError, ClientVerifier, TrustedClients
from b12.adapters.cds_models import (
    FHIR_ID,
    SUMMARY_MAX,
    Action,
    Card,
    CdsError,
    CdsResponse,
    Coding,
    Discovery,
    FeedbackReceipt,
    FeedbackRecord,
    FeedbackRequest,
    Indicator,
    OrderCheckRequest,
    OrderSelectContext,
    OrderSelectRequest,
    OrderSignContext,
    OrderSignRequest,
    PatientViewContext,
    PatientViewRequest,
    Problem,
    ServiceDefinition,
    Source,
    Suggestion,
    to_json,
)
from b12.adapters.fhir import check_codes, dosage_instruction
from b12.domain.alerts import Severity
from b12.domain.analytes import LOINC, Analyte
from b12.domain.case import Case, Condition, LabResult, Patient, Route, Sex, TreatmentHistory
from b12.domain.errors import B12Error, UnitError, UnknownUnitError
from b12.domain.guidelines import Guideline, find_rule, load_guideline, sources
from b12.domain.labs import CANONICAL_UNITS, Interpretation, Status
from b12.domain.plan import Plan
from b12.domain.regimen import IntervalUnit, Phase, PhaseKind, Product, Regimen
from b12.domain.units import convert, parse_unit
from b12.ports import Clock

__all__ = [
    "DISCOVERY",
    "CdsDeps",
    "Chart",
    "Drug",
    "FeedbackLog",
    "FeedbackUnitOfWork",
    "Interval",
    "IssuedCards",
    "Way",
    "cds_router",
    "draft_medication_request",
]

log = logging.getLogger("b12.cds")

# --- dependencies -----------------------------------------------------------------------------------------


class FeedbackLog(Protocol):
    """Append-only store of feedback items (``b12.adapters.sql.feedback.SqlCdsFeedbackLog`` on SQL)."""

    def append(self, record: FeedbackRecord) -> None: ...
    def entries(
        self, *, service_id: str | None = None, card: str | None = None, limit: int = 200
    ) -> Sequence[FeedbackRecord]: ...


class FeedbackUnitOfWork(Protocol):
    """A unit of work (``b12.ports.UnitOfWork`` contract) that also has ``cds_feedback``."""

    @property
    def cds_feedback(self) -> FeedbackLog: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def commit(self) -> None: ...


class IssuedCards:
    """Which hook instance issued a card uuid, for the feedback rows (feedback bodies do not say).

    In memory, bounded, per process: after a restart, or on another worker, the hook instance is stored as NULL.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._cards: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, hook_instance: str, cards: Iterable[str]) -> None:
        with self._lock:
            for card in cards:
                self._cards[card] = hook_instance
                self._cards.move_to_end(card)
            while len(self._cards) > self._size:
                self._cards.popitem(last=False)

    def hook_instance(self, card: str) -> str | None:
        with self._lock:
            return self._cards.get(card)


def _http_client() -> httpx.Client:
    # CDS services "SHOULD respond quickly (on the order of 500 ms)": a FHIR server that does not answer within
    # a few seconds is treated as unavailable (412), not waited for.
    return httpx.Client(timeout=httpx.Timeout(5.0), follow_redirects=False)


@dataclass(frozen=True, slots=True)
class CdsDeps:
    """What the router needs, passed in by the composition root (tests pass fakes).

    ``unit_of_work`` makes a unit of work with ``cds_feedback`` (``cds_unit_of_work_factory(engine)`` on SQL);
    ``http_client`` makes the httpx client used for ``fhirServer`` (tests pass one on ``httpx.MockTransport``);
    ``guideline`` and ``thresholds`` are the clinical settings (``uk`` and its default threshold set);
    ``allowed_fhir_servers``, when given, lists the FHIR base URLs b12 may call (the service agreement's list);
    ``None`` allows any; ``clients``, when given, are the CDS clients trusted to call (their JWTs are verified
    with ``clock`` and their JWK Sets fetched with ``http_client``); ``None`` authenticates no one.
    """

    unit_of_work: Callable[[], FeedbackUnitOfWork]
    clock: Clock
    http_client: Callable[[], httpx.Client] = _http_client
    guideline: str = "uk"
    thresholds: str | None = None
    allowed_fhir_servers: frozenset[str] | None = None
    issued: IssuedCards = field(default_factory=IssuedCards)
    clients: TrustedClients | None = None


# --- services and prefetch templates --------------------------------------------------------------------

STATUS_ID = "b12-status"
ORDER_CHECK_ID = "b12-order-check"
PATIENT_VIEW = "patient-view"
ORDER_SELECT = "order-select"
ORDER_SIGN = "order-sign"
SERVICE_HOOKS: Mapping[str, tuple[str, ...]] = {STATUS_ID: (PATIENT_VIEW,), ORDER_CHECK_ID: (ORDER_SELECT, ORDER_SIGN)}
_HOOKS = frozenset({PATIENT_VIEW, ORDER_SELECT, ORDER_SIGN})

LOINC_SYSTEM = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OVERRIDE_SYSTEM = "urn:b12:cds:override-reason"
TOPIC_SYSTEM = "urn:b12:cds:topic"


@dataclass(frozen=True, slots=True)
class _Template:
    key: str
    query: str
    required: bool  # a required key that cannot be had -> 412; an optional one is reported as not checked


def _latest(analyte: Analyte) -> str:
    codes = ",".join(f"{LOINC_SYSTEM}|{code}" for code in LOINC[analyte] if code)
    return f"Observation?patient={{{{context.patientId}}}}&code={codes}&_sort=-date&_count=1"


PATIENT_T = _Template("patient", "Patient/{{context.patientId}}", required=True)
ACTIVE_MEDS_T = _Template("activeMeds", "MedicationRequest?patient={{context.patientId}}&status=active", True)
CONDITIONS_T = _Template("conditions", "Condition?patient={{context.patientId}}&clinical-status=active", False)
ADMINISTRATIONS_T = _Template(
    "administrations", "MedicationAdministration?patient={{context.patientId}}&_sort=-effective-time&_count=50", False
)
# Total B12 (2132-9 mass, 14685-2 moles), MMA (13964-2), haemoglobin (718-7), MCV (787-2): REFERENCE §7.7 via
# b12.domain.analytes. Active B12 (holotranscobalamin) has no verified LOINC code, so it is not requested.
STATUS_TEMPLATES: tuple[_Template, ...] = (
    PATIENT_T,
    _Template("b12", _latest(Analyte.B12_TOTAL), True),
    _Template("mma", _latest(Analyte.MMA), True),
    _Template("hb", _latest(Analyte.HEMOGLOBIN), True),
    _Template("mcv", _latest(Analyte.MCV), True),
    ACTIVE_MEDS_T,
    ADMINISTRATIONS_T,
    CONDITIONS_T,
)
ORDER_TEMPLATES: tuple[_Template, ...] = (
    PATIENT_T,
    CONDITIONS_T,
    _Template("activeMeds", ACTIVE_MEDS_T.query, False),
    _Template("b12", _latest(Analyte.B12_TOTAL), False),
)
TEMPLATES: Mapping[str, tuple[_Template, ...]] = {STATUS_ID: STATUS_TEMPLATES, ORDER_CHECK_ID: ORDER_TEMPLATES}

_USAGE = "Decision support, not a prescriber: every card cites its rule IDs and sources; a clinician decides."
_ORDER_CHECK_DESCRIPTION = (
    "Checks draft vitamin B12 and folic acid orders (product, route, dose, interval) against the guideline and the "
    "patient's conditions: cyanocobalamin with Leber's disease, intravenous cyanocobalamin, folic acid without B12 "
    "cover, a maintenance interval outside the label range."
)
DISCOVERY = Discovery(
    services=[
        ServiceDefinition(
            hook=PATIENT_VIEW,
            id=STATUS_ID,
            title="Vitamin B12 status and follow-up",
            description="Interprets the latest total B12 and MMA (with haemoglobin and MCV) against the selected "
            "guideline's threshold set, flags overdue injections or reviews, and suggests a draft order for the "
            "guideline regimen when treatment is indicated and none is active.",
            prefetch={t.key: t.query for t in STATUS_TEMPLATES},
            usage_requirements=_USAGE,
        ),
        *(
            ServiceDefinition(
                hook=hook,
                id=ORDER_CHECK_ID,
                title="B12 order check",
                description=_ORDER_CHECK_DESCRIPTION,
                prefetch={t.key: t.query for t in ORDER_TEMPLATES},
                usage_requirements=_USAGE,
            )
            for hook in (ORDER_SELECT, ORDER_SIGN)
        ),
    ]
)

# --- errors at the seam ---------------------------------------------------------------------------------


class _AnswerError(Exception):
    """A 4xx answer decided inside a handler; the route class turns it into JSON."""

    def __init__(self, status: int, body: CdsError) -> None:
        super().__init__(body.error)
        self.status = status
        self.body = body


def _bad_request(error: str, problems: Sequence[Problem] = ()) -> _AnswerError:
    return _AnswerError(400, CdsError(error=error, problems=list(problems)))


def _json(status: int, model: BaseModel) -> JSONResponse:
    return JSONResponse(to_json(model), status_code=status)


def _problems(errors: Iterable[Any], prefix: str = "") -> list[Problem]:
    found = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        if loc and loc[0] in _HOOKS:
            loc = loc[1:]  # the tag of the order-select | order-sign union, not a field
        path = ".".join([prefix, *loc] if prefix else loc) or prefix or "(body)"
        found.append(Problem(path=path, message=str(error.get("msg", "invalid"))))
    return found


class _CdsRoute(APIRoute):
    """Answers every error of these routes in JSON, before the app's own (HTML) handlers can see it; with a
    ``verifier`` (set on a subclass per router), authenticates every POST before its body is read."""

    verifier: ClassVar[ClientVerifier | None] = None

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        verifier = self.verifier

        async def route(request: Request) -> Response:
            if verifier is not None and request.method == "POST":
                refusal = await _authenticate(verifier, request)
                if refusal is not None:
                    return refusal
            try:
                response: Response = await handler(request)
            except RequestValidationError as error:
                return _json(400, CdsError(error="Malformed CDS Hooks request", problems=_problems(error.errors())))
            except _AnswerError as answer:
                return _json(answer.status, answer.body)
            except HTTPException as error:  # e.g. a body that is not UTF-8: "There was an error parsing the body"
                return _json(error.status_code, CdsError(error=str(error.detail)))
            except Exception:
                log.exception("CDS Hooks: unexpected error on %s %s", request.method, request.url.path)
                return _json(500, CdsError(error="b12 could not answer this call; nothing was stored"))
            return response

        return route


async def _authenticate(verifier: ClientVerifier, request: Request) -> Response | None:
    """None when the caller's JWT verifies, else the 401 answer; never raises (so never a 500)."""
    try:
        audience = _endpoint_url(request, verifier.clients.base_url)
        # In a thread: a JWK Set may have to be fetched (blocking httpx) on the way.
        await run_in_threadpool(verifier.verify, request.headers.get("Authorization"), audience)
    except CdsAuthError as error:
        refused = error
    except Exception:
        log.exception("CDS Hooks: unexpected error while authenticating %s %s", request.method, request.url.path)
        refused = CdsAuthError("the JWT could not be verified")
    else:
        return None
    log.warning(
        "CDS Hooks: refused %s %s%s: %s",
        request.method,
        request.url.path,
        f" from {refused.issuer}" if refused.issuer else "",
        refused.reason,
    )
    # RFC 6750 §3: a request without credentials gets a challenge without an error code; a bad token,
    # error="invalid_token". The reason goes in the JSON body only.
    challenge = 'Bearer realm="b12 CDS Hooks"' + ("" if refused.missing else ', error="invalid_token"')
    response = _json(401, CdsError(error=refused.reason))
    response.headers["WWW-Authenticate"] = challenge
    return response


def _endpoint_url(request: Request, base_url: str | None) -> str:
    """The URL of the endpoint called, which the JWT's ``aud`` must be: "the URL of the CDS Service endpoint being
    invoked". From the request (scheme, Host, and the path with the app's mount point or root path), or, with a
    configured ``base_url`` (b12 behind a proxy that changes the scheme or host), that base and the path below the
    app's root."""
    if base_url is None:
        return str(request.url.replace(query="", fragment=""))
    root = str(request.scope.get("root_path", ""))
    return base_url + request.url.path.removeprefix(root)


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": CdsError, "description": "Malformed request (with each problem's path), or a cds-r-1 violation"},
    401: {"model": CdsError, "description": "Trusted CDS clients are configured and the JWT is missing or invalid"},
    404: {"model": CdsError, "description": "No CDS service with this id"},
    412: {"model": CdsError, "description": "Required FHIR data is neither prefetched nor obtainable"},
    500: {"model": CdsError, "description": "An unexpected error"},
}


# --- the router -----------------------------------------------------------------------------------------


def cds_router(deps: CdsDeps) -> APIRouter:
    """The CDS Hooks routes, to mount at the root of the app: ``app.include_router(cds_router(deps))``."""
    verifier = None
    if deps.clients is not None:
        verifier = ClientVerifier(deps.clients, clock=deps.clock, http_client=deps.http_client)

    class Route(_CdsRoute):
        pass

    Route.verifier = verifier  # one verifier per router: its JWK Set cache and replay log are shared by its routes
    router = APIRouter(route_class=Route, tags=["CDS Hooks"])

    @router.get("/cds-services", response_model=Discovery, response_model_exclude_none=True)
    def discovery() -> JSONResponse:
        """The CDS services b12 offers, with their prefetch templates."""
        return JSONResponse(to_json(DISCOVERY))

    @router.post("/cds-services/b12-status", response_model=CdsResponse, responses=_ERRORS)
    def b12_status(body: PatientViewRequest) -> JSONResponse:
        """patient-view: B12 interpretation, overdue injections or reviews, a draft order for the regimen."""
        return _call(deps, STATUS_ID, body)

    @router.post("/cds-services/b12-order-check", response_model=CdsResponse, responses=_ERRORS)
    def b12_order_check(body: OrderCheckRequest) -> JSONResponse:
        """order-select and order-sign: draft B12 and folic acid orders against the guideline and conditions."""
        return _call(deps, ORDER_CHECK_ID, body)

    for service_id in SERVICE_HOOKS:
        router.add_api_route(
            f"/cds-services/{service_id}/feedback",
            _feedback_endpoint(deps, service_id),
            methods=["POST"],
            responses={400: _ERRORS[400], 401: _ERRORS[401]},
            summary=f"Feedback on {service_id} cards",
            name=f"feedback_{service_id}",
        )

    @router.post("/cds-services/{service_id}/feedback", include_in_schema=False)
    def unknown_feedback(service_id: str) -> JSONResponse:
        return _json(404, CdsError(error=f"No CDS service {service_id!r}: known are {', '.join(SERVICE_HOOKS)}"))

    @router.post("/cds-services/{service_id}", include_in_schema=False)
    def unknown_service(service_id: str) -> JSONResponse:
        return _json(404, CdsError(error=f"No CDS service {service_id!r}: known are {', '.join(SERVICE_HOOKS)}"))

    return router


def _feedback_endpoint(deps: CdsDeps, service_id: str) -> Callable[[FeedbackRequest], FeedbackReceipt]:
    def feedback(body: FeedbackRequest) -> FeedbackReceipt:
        """Store each feedback item (append-only) and answer 200."""
        received = deps.clock.now()
        records = [
            FeedbackRecord(
                id=str(uuid.uuid4()),
                service_id=service_id,
                hook_instance=deps.issued.hook_instance(item.card),
                card=item.card,
                outcome=item.outcome,
                accepted_suggestions=tuple(s.id for s in item.accepted_suggestions or ()),
                override_reason=to_json(item.override_reason) if item.override_reason else None,
                outcome_at=item.outcome_timestamp,
                received_at=received,
            )
            for item in body.feedback
        ]
        with deps.unit_of_work() as uow:
            for record in records:
                uow.cds_feedback.append(record)
            uow.commit()
        return FeedbackReceipt(stored=len(records))

    return feedback


_HookRequest = PatientViewRequest | OrderSelectRequest | OrderSignRequest


def _call(deps: CdsDeps, service_id: str, request: _HookRequest) -> JSONResponse:
    call = _Call(deps, service_id, request, request.context, deps.clock.today())
    data = _gather(call, TEMPLATES[service_id])
    cards = _status_cards(call, data) if service_id == STATUS_ID else _order_cards(call, data)
    response = CdsResponse(cards=cards)
    deps.issued.remember(str(request.hook_instance), [str(card.uuid) for card in cards if card.uuid])
    return JSONResponse(to_json(response))


@dataclass(frozen=True, slots=True)
class _Call:
    deps: CdsDeps
    service_id: str
    request: _HookRequest
    context: PatientViewContext | OrderSignContext
    today: date  # read once per call

    @property
    def patient_id(self) -> str:
        return self.context.patient_id

    @property
    def guideline(self) -> Guideline:
        return load_guideline(self.deps.guideline)

    def uuid(self, *parts: object) -> uuid.UUID:
        """Stable per hook instance: the same call gives the same card and suggestion uuids."""
        name = "/".join(str(p) for p in (self.request.hook_instance, self.service_id, *parts))
        return uuid.uuid5(_UUID_NAMESPACE, name)


_UUID_NAMESPACE = uuid.UUID("6f1b7c2e-8a59-4b7e-9d0c-2b8f4e1a7c35")


# --- prefetch and fetching ------------------------------------------------------------------------------


@dataclass
class _Data:
    values: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: "no data"
    unavailable: list[str] = field(default_factory=list)  # optional keys that could not be had
    notes: list[str] = field(default_factory=list)  # what was left out of the data, and why

    def resources(self, key: str, resource_type: str) -> list[dict[str, Any]]:
        value = self.values.get(key)
        if value is None:
            return []
        if value.get("resourceType") == "Bundle":
            found = []
            for index, entry in enumerate(value.get("entry") or []):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if (
                    isinstance(resource, dict)
                    and resource.get("resourceType") == resource_type
                    and _valid(resource, f"{key}.entry[{index}].resource", self.notes)
                ):
                    found.append(resource)
            return found
        if value.get("resourceType") == resource_type and _valid(value, key, self.notes):
            return [value]
        return []


def _valid(resource: Mapping[str, Any], where: str, notes: list[str]) -> bool:
    """Validated with fhir.resources R4B; an invalid resource is left out and the note says where and why."""
    try:
        get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)
    except (ValidationError, KeyError, ValueError) as error:
        first = error.errors()[0] if isinstance(error, ValidationError) else {"loc": (), "msg": str(error)}
        path = ".".join(str(p) for p in first["loc"])
        notes.append(f"`{where}` is not a valid FHIR R4 {resource.get('resourceType')} ({path}: {first['msg']}).")
        return False
    return True


def _gather(call: _Call, templates: Sequence[_Template]) -> _Data:
    data = _Data()
    given = call.request.prefetch or {}
    missing: list[_Template] = []
    for template in templates:
        if template.key not in given:
            missing.append(template)
            continue
        value = given[template.key]  # a FHIR resource or None (checked by the request model)
        if value is None:
            data.values[template.key] = None  # "no data": never fetched
        elif value["resourceType"] == "OperationOutcome":
            missing.append(template)  # the client's prefetch failed: try the server
        else:
            data.values[template.key] = value
    if not missing:
        return data
    unobtainable = _fetch_missing(call, missing, data)
    required = [t.key for t in unobtainable if t.required]
    if required:
        reason = (
            "no fhirServer was given"
            if call.request.fhir_server is None
            else "they could not be fetched from the fhirServer"
        )
        raise _AnswerError(
            412,
            CdsError(
                error=f"Required prefetch {', '.join(required)} missing and {reason}",
                missing_prefetch=required,
                problems=[Problem(path=f"prefetch.{key}", message=note) for key, note in _failures(data, required)],
            ),
        )
    data.unavailable.extend(t.key for t in unobtainable)
    return data


def _failures(data: _Data, keys: Sequence[str]) -> Iterator[tuple[str, str]]:
    for key in keys:
        yield key, next((n for n in data.notes if n.startswith(f"`{key}`")), "not prefetched")


def _fetch_missing(call: _Call, missing: Sequence[_Template], data: _Data) -> list[_Template]:
    """Fetch what the client left out; returns the templates that could not be had."""
    server = call.request.fhir_server
    allowed = call.deps.allowed_fhir_servers
    if server is None:
        return list(missing)
    if allowed is not None and server.rstrip("/") not in {s.rstrip("/") for s in allowed}:
        for template in missing:
            data.notes.append(f"`{template.key}` not fetched: {server} is not a FHIR server b12 is allowed to call.")
        return list(missing)
    auth = call.request.fhir_authorization
    headers = {"Accept": "application/fhir+json"}
    if auth is not None:
        headers["Authorization"] = f"Bearer {auth.access_token}"
    failed = []
    with call.deps.http_client() as client:
        for template in missing:
            try:
                data.values[template.key] = _fetch(client, server, _expand(template, call), headers)
            except _FetchError as error:
                data.notes.append(f"`{template.key}` could not be fetched: {error}.")
                failed.append(template)
    return failed


class _FetchError(Exception):
    pass


_MAX_PAGES = 5


def _expand(template: _Template, call: _Call) -> str:
    """Replace the prefetch tokens with the context's values (URL-encoded)."""
    context = call.context.model_dump(by_alias=True)
    user = str(context.get("userId", ""))

    def value(match: re.Match[str]) -> str:
        token = match.group(1).strip()
        if token.startswith("context."):
            found = context.get(token.removeprefix("context."))
        else:
            kind = token.removeprefix("user").removesuffix("Id")  # userPractitionerId -> Practitioner
            found = user.partition("/")[2] if user.startswith(f"{kind}/") else None
        if not isinstance(found, str | int) or isinstance(found, bool) or not FHIR_ID.match(str(found)):
            raise _FetchError(f"the prefetch token {{{{{token}}}}} has no usable value in the context")
        return quote(str(found), safe="")

    try:
        return re.sub(r"{{([^}]*)}}", value, template.query)
    except _FetchError as error:
        raise _FetchError(str(error)) from None


def _fetch(client: httpx.Client, server: str, query: str, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """A read (None when the resource does not exist) or a search (pages followed, up to a few, same server)."""
    base = server.rstrip("/")
    url = f"{base}/{query}"
    read = "?" not in query
    pages: list[dict[str, Any]] = []
    while url and len(pages) < _MAX_PAGES:
        try:
            response = client.get(url, headers=dict(headers))
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise _FetchError(f"{type(error).__name__} calling the FHIR server") from None
        if read and response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise _FetchError(f"the FHIR server answered {response.status_code} to {query.partition('?')[0]}")
        try:
            body = response.json()
        except ValueError:
            raise _FetchError("the FHIR server's answer is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise _FetchError("the FHIR server's answer is not a FHIR resource")
        if body["resourceType"] == "OperationOutcome":
            raise _FetchError("the FHIR server answered with an OperationOutcome")
        pages.append(body)
        if read or body["resourceType"] != "Bundle":
            break
        url = next(
            (link.get("url", "") for link in body.get("link") or [] if link.get("relation") == "next"),
            "",
        )
        if url and urlsplit(url).netloc != urlsplit(base).netloc:
            break  # never follow a link to another server with the token
    first = pages[0]
    if len(pages) > 1:
        first = {**first, "entry": [e for page in pages for e in page.get("entry") or []]}
    return first


# --- reading the chart ----------------------------------------------------------------------------------


class Drug(StrEnum):
    HYDROXOCOBALAMIN = "hydroxocobalamin"
    CYANOCOBALAMIN = "cyanocobalamin"
    OTHER_COBALAMIN = "other cobalamin"
    FOLIC_ACID = "folic acid"


# Words in the medication's text or coding display (no dm+d/RxNorm code list has been verified yet).
# Brands: Cobalin-H is hydroxocobalamin (its SmPC [S23]), Cytamen cyanocobalamin (uk.toml, [S28]); Neo-Cytamen
# (hydroxocobalamin) is common knowledge, not from REFERENCE.md.
_DRUG_WORDS: tuple[tuple[Drug, re.Pattern[str]], ...] = (
    (Drug.HYDROXOCOBALAMIN, re.compile(r"hydrox[oy]cobalamin|neo-?cytamen|cobalin-?h", re.I)),
    (Drug.CYANOCOBALAMIN, re.compile(r"cyanocobalamin|\bcytamen", re.I)),
    (Drug.OTHER_COBALAMIN, re.compile(r"cobalamin|vitamin b[- ]?12", re.I)),
    (Drug.FOLIC_ACID, re.compile(r"folic acid|\bfolate\b", re.I)),
)
COBALAMINS = frozenset({Drug.HYDROXOCOBALAMIN, Drug.CYANOCOBALAMIN, Drug.OTHER_COBALAMIN})
PRODUCTS: Mapping[Drug, Product] = {
    Drug.HYDROXOCOBALAMIN: Product.HYDROXOCOBALAMIN,
    Drug.CYANOCOBALAMIN: Product.CYANOCOBALAMIN,
}


class Way(StrEnum):
    """Route of a FHIR dosage; wider than the domain's Route (IV and SC exist in orders)."""

    IM = "intramuscular"
    SC = "subcutaneous"
    IV = "intravenous"
    ORAL = "oral"
    NASAL = "nasal"


# SNOMED CT route codes: IM 78421000 and SC 34206005 (interop NOTES), IV 47625008, oral 26643006,
# nasal 46713006 (the codes used across public FHIR code maps).
ROUTE_CODES: Mapping[str, Way] = {
    "78421000": Way.IM,
    "34206005": Way.SC,
    "47625008": Way.IV,
    "26643006": Way.ORAL,
    "46713006": Way.NASAL,
}
_WAY_WORDS: tuple[tuple[Way, re.Pattern[str]], ...] = (
    (Way.IV, re.compile(r"intravenous|\bIV\b")),
    (Way.IM, re.compile(r"intramuscular|\bIM\b")),
    (Way.SC, re.compile(r"subcutaneous|\bSC\b|\bSUBCUT\b", re.I)),
    (Way.ORAL, re.compile(r"\boral\b|by mouth|\bPO\b|tablet", re.I)),
    (Way.NASAL, re.compile(r"nasal", re.I)),
)
INJECTED = frozenset({Way.IM, Way.SC})

# Conditions read from Condition text and coding displays (no SNOMED/ICD code list has been verified yet).
_CONDITION_WORDS: Mapping[Condition, re.Pattern[str]] = {
    Condition.LEBER: re.compile(r"leber", re.I),
    Condition.TOBACCO_AMBLYOPIA: re.compile(r"(tobacco|toxic)[- a-z]*amblyopia", re.I),
}
_NOT_CURRENT = frozenset({"inactive", "resolved", "remission"})
_NOT_TRUE = frozenset({"refuted", "entered-in-error"})
_RESULT_STATUSES = frozenset({"final", "amended", "corrected"})
_LOINC_ANALYTES: Mapping[str, Analyte] = {code: a for a, codes in LOINC.items() for code in codes if code}
_UNIT_DAYS: Mapping[str, float] = {"h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.4375, "a": 365.25}


def _texts(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    found = [concept["text"]] if isinstance(concept.get("text"), str) else []
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            found.append(coding["display"])
    return found


def _medication_words(resource: Mapping[str, Any]) -> str:
    words = _texts(resource.get("medicationCodeableConcept"))
    reference = resource.get("medicationReference")
    if isinstance(reference, dict):
        if isinstance(reference.get("display"), str):
            words.append(reference["display"])
        target = str(reference.get("reference", ""))
        for contained in resource.get("contained") or []:
            if target == f"#{contained.get('id')}" and contained.get("resourceType") == "Medication":
                words.extend(_texts(contained.get("code")))
    return " ".join(words)


def drug_of(resource: Mapping[str, Any]) -> Drug | None:
    words = _medication_words(resource)
    return next((drug for drug, pattern in _DRUG_WORDS if pattern.search(words)), None)


def way_of(dosage: Mapping[str, Any]) -> Way | None:
    route = dosage.get("route")
    for coding in (route or {}).get("coding") or [] if isinstance(route, dict) else []:
        if coding.get("system") == SNOMED and coding.get("code") in ROUTE_CODES:
            return ROUTE_CODES[coding["code"]]
    text = " ".join([*_texts(route), str(dosage.get("text", ""))])
    return next((way for way, pattern in _WAY_WORDS if pattern.search(text)), None)


def _dose_mg(dosage: Mapping[str, Any]) -> float | None:
    for rate in dosage.get("doseAndRate") or []:
        quantity = rate.get("doseQuantity") if isinstance(rate, dict) else None
        if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
            unit = quantity.get("code") if quantity.get("system") == UCUM else quantity.get("unit")
            try:
                return convert(float(quantity["value"]), str(unit), "mg").value
            except (UnitError, ValueError):
                return None
    return None


@dataclass(frozen=True, slots=True)
class Interval:
    """A dosage's Timing.repeat read as "``frequency`` doses every ``period`` ``unit``"."""

    frequency: int
    period: float
    unit: str
    count: int | None = None

    @property
    def days(self) -> float:
        return self.period * _UNIT_DAYS[self.unit] / self.frequency

    def words(self) -> str:
        name = {"h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}[self.unit]
        if self.frequency == 1:
            if self.period == 1:
                return {"h": "hourly", "d": "daily", "wk": "weekly", "mo": "monthly", "a": "yearly"}[self.unit]
            return f"every {self.period:g} {name}s"
        times = {2: "twice", 3: "three times"}.get(self.frequency, f"{self.frequency} times")
        return f"{times} a {name}" if self.period == 1 else f"{times} every {self.period:g} {name}s"

    def after(self, day: date) -> date:
        """The next due date after a dose on ``day`` (calendar months and years; whole days otherwise)."""
        if self.frequency == 1 and self.period == int(self.period):
            whole = int(self.period)
            if self.unit == "mo":
                return day + relativedelta(months=whole)
            if self.unit == "a":
                return day + relativedelta(years=whole)
        return day + timedelta(days=math.ceil(self.days))


def interval_of(dosage: Mapping[str, Any]) -> Interval | None:
    timing = dosage.get("timing")
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    if not isinstance(repeat, dict):
        return None
    unit, period = repeat.get("periodUnit"), repeat.get("period")
    frequency = repeat.get("frequency", 1)
    if unit not in _UNIT_DAYS or not isinstance(period, int | float) or period <= 0:
        return None
    if not isinstance(frequency, int) or frequency < 1:
        return None
    count = repeat.get("count")
    return Interval(frequency, float(period), str(unit), count if isinstance(count, int) else None)


def _dosages(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = [d for d in resource.get("dosageInstruction") or [] if isinstance(d, dict)]
    return sorted(items, key=_sequence)


def _sequence(dosage: Mapping[str, Any]) -> int:
    sequence = dosage.get("sequence")
    return sequence if isinstance(sequence, int) else 0


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _observation_day(observation: Mapping[str, Any]) -> date | None:
    period = observation.get("effectivePeriod")
    return (
        _day(observation.get("effectiveDateTime"))
        or _day(period.get("start") if isinstance(period, dict) else None)
        or _day(observation.get("issued"))
    )


@dataclass(frozen=True, slots=True)
class _Given:
    """A B12 dose on record (MedicationAdministration)."""

    day: date
    drug: Drug
    way: Way | None
    request: str | None  # "MedicationRequest/<id>" when the administration names its order


@dataclass
class Chart:
    """What the cards need from the FHIR data, read once, with notes on what was left out."""

    patient_id: str
    sex: Sex | None = None
    age: int | None = None
    labs: list[LabResult] = field(default_factory=list)
    lab_ids: dict[LabResult, str] = field(default_factory=dict)
    conditions: set[Condition] = field(default_factory=set)
    conditions_known: bool = False
    orders: list[dict[str, Any]] = field(default_factory=list)  # active MedicationRequests
    orders_known: bool = False
    given: list[_Given] = field(default_factory=list)
    given_known: bool = False
    notes: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # prefetch keys that held Observations, usable or not

    @property
    def b12_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders if drug_of(o) in COBALAMINS]

    def latest(self, analyte: Analyte) -> LabResult | None:
        results = [r for r in self.labs if r.analyte is analyte]
        return max(results, key=lambda r: r.date or date.min) if results else None

    def case(self, guideline: str, thresholds: str | None, today: date) -> Case:
        labs = self.labs
        if self.sex is None:
            labs = [lab for lab in labs if lab.analyte is not Analyte.HEMOGLOBIN]
        injections = [g.day for g in self.given if g.day <= today and g.way in (INJECTED | {None})]
        return Case(
            guideline=guideline,
            start=today,
            patient=Patient(sex=self.sex or Sex.FEMALE, age=self.age),
            thresholds=thresholds,
            labs=tuple(labs),
            conditions=frozenset(self.conditions),
            treatment=TreatmentHistory(last_injection=max(injections) if injections else None),
        )


def read_chart(data: _Data, patient_id: str, today: date) -> Chart:
    chart = Chart(patient_id=patient_id)
    patients = data.resources("patient", "Patient")
    if patients:
        _read_patient(chart, patients[0], today)
    else:
        chart.notes.append("No Patient resource: sex and age unknown.")
    if chart.sex is None and patients:
        chart.notes.append("The Patient has no gender of female or male: haemoglobin is not interpreted (LAB-HB).")
    for key in ("b12", "mma", "hb", "mcv"):
        for observation in data.resources(key, "Observation"):
            chart.seen.add(key)
            _read_lab(chart, observation, key)
    if "conditions" in data.values:
        chart.conditions_known = True
        for condition in data.resources("conditions", "Condition"):
            chart.conditions |= _conditions(condition)
    if "activeMeds" in data.values:
        chart.orders_known = True
        chart.orders = [r for r in data.resources("activeMeds", "MedicationRequest") if r.get("status") == "active"]
    if "administrations" in data.values:
        chart.given_known = True
        for resource in data.resources("administrations", "MedicationAdministration"):
            given = _given(resource)
            if given is not None:
                chart.given.append(given)
    return chart


def _read_patient(chart: Chart, patient: Mapping[str, Any], today: date) -> None:
    gender = patient.get("gender")
    chart.sex = Sex(gender) if gender in ("female", "male") else None
    birth = patient.get("birthDate")
    if isinstance(birth, str) and re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", birth):
        # A partial date counts from its first day: the age may be a year too high, never too low.
        parts = [int(p) for p in birth.split("-")] + [1, 1]
        age = relativedelta(today, date(parts[0], parts[1], parts[2])).years
        chart.age = age if 0 <= age <= 120 else None


def _read_lab(chart: Chart, observation: Mapping[str, Any], key: str) -> None:
    where = f"`{key}` Observation/{observation.get('id', '?')}"
    if observation.get("status") not in _RESULT_STATUSES:
        chart.notes.append(f"{where} has status {observation.get('status')!r}: not used.")
        return
    codes = [
        c.get("code")
        for c in (observation.get("code") or {}).get("coding") or []
        if isinstance(c, dict) and c.get("system") == LOINC_SYSTEM
    ]
    analyte = next((_LOINC_ANALYTES[c] for c in codes if isinstance(c, str) and c in _LOINC_ANALYTES), None)
    quantity = observation.get("valueQuantity")
    if analyte is None or not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        chart.notes.append(f"{where}: no LOINC code b12 knows or no numeric valueQuantity: not used.")
        return
    unit = str(quantity.get("code") if quantity.get("system") == UCUM else quantity.get("unit"))
    try:
        parse_unit(unit)
        if analyte in CANONICAL_UNITS:
            convert(float(quantity["value"]), unit, CANONICAL_UNITS[analyte], analyte=analyte.value)
        limits = _limits(observation, unit)
        result = LabResult(analyte, float(quantity["value"]), unit, _observation_day(observation), *limits)
    except UnknownUnitError:
        chart.notes.append(
            f"{where}: the unit {unit!r} is not in b12's unit vocabulary — not used (b12 never guesses)."
        )
        return
    except (B12Error, ValueError) as error:
        chart.notes.append(f"{where}: {error} — not used.")
        return
    chart.labs.append(result)
    if isinstance(observation.get("id"), str):
        chart.lab_ids[result] = f"Observation/{observation['id']}"


def _limits(observation: Mapping[str, Any], unit: str) -> tuple[float | None, float | None]:
    """(upper, lower) reference limits, only when given in the result's own unit."""
    for reference in observation.get("referenceRange") or []:
        bounds = []
        for end in ("high", "low"):
            quantity = reference.get(end) if isinstance(reference, dict) else None
            same = isinstance(quantity, dict) and unit in (quantity.get("code"), quantity.get("unit"))
            value = quantity.get("value") if same and isinstance(quantity, dict) else None
            bounds.append(float(value) if isinstance(value, int | float) else None)
        return bounds[0], bounds[1]
    return None, None


def _conditions(condition: Mapping[str, Any]) -> set[Condition]:
    status = [c.get("code") for c in (condition.get("clinicalStatus") or {}).get("coding") or []]
    verification = [c.get("code") for c in (condition.get("verificationStatus") or {}).get("coding") or []]
    if set(status) & _NOT_CURRENT or set(verification) & _NOT_TRUE:
        return set()
    words = " ".join(_texts(condition.get("code")))
    return {found for found, pattern in _CONDITION_WORDS.items() if pattern.search(words)}


def _given(resource: Mapping[str, Any]) -> _Given | None:
    drug = drug_of(resource)
    period = resource.get("effectivePeriod")
    day = _day(resource.get("effectiveDateTime")) or _day(period.get("start") if isinstance(period, dict) else None)
    if drug not in COBALAMINS or day is None or resource.get("status") != "completed" or drug is None:
        return None
    dosage = resource.get("dosage")
    request = resource.get("request")
    reference = request.get("reference") if isinstance(request, dict) else None
    match = re.search(r"MedicationRequest/[A-Za-z0-9\-.]+$", reference) if isinstance(reference, str) else None
    return _Given(day, drug, way_of(dosage) if isinstance(dosage, dict) else None, match.group(0) if match else None)


# --- card building blocks -------------------------------------------------------------------------------


def _summary(text: str) -> str:
    if len(text) <= SUMMARY_MAX:
        return text
    cut = text[: SUMMARY_MAX - 1].rsplit(" ", 1)[0].rstrip(",;:(")
    return f"{cut}…"


def _source(label: str, source_ids: Iterable[str], topic: str, guideline: Guideline) -> Source:
    """The card's source: its label, and the URL of its first primary source (else any not weak), falling back
    to the guideline's own sources so that every card links somewhere."""
    url = _url(source_ids) or _url(guideline.sources)
    return Source(
        label=label,
        url=url,
        topic=Coding(system=TOPIC_SYSTEM, code=topic, display=topic.replace("-", " ")),
    )


def _url(source_ids: Iterable[str]) -> str | None:
    known = sources()
    cited = [known[s] for s in dict.fromkeys(source_ids) if s in known and known[s].url.startswith("http")]
    chosen = next((s for s in cited if s.confidence == "P"), None) or next(
        (s for s in cited if s.confidence != "W"), None
    )
    return chosen.url if chosen else None


def _cite(source_ids: Iterable[str]) -> str:
    ids = list(dict.fromkeys(source_ids))
    return f" [{', '.join(ids)}]" if ids else ""


def _sources_section(source_ids: Iterable[str]) -> str:
    known = sources()
    lines = []
    for sid in dict.fromkeys(source_ids):
        entry = known.get(sid)
        if entry is not None:
            link = f" <{entry.url}>" if entry.url.startswith("http") else ""
            lines.append(f"- {sid}: {entry.title}{link}")
    return "\n\n**Sources**\n\n" + "\n".join(lines) if lines else ""


def _rule_line(rule_id: str, message: str, source_ids: Iterable[str], severity: str | None = None) -> str:
    mark = f"{severity}: " if severity else ""
    return f"- {mark}**{rule_id}** — {message}{_cite(source_ids)}"


def _fmt(value: float) -> str:
    return f"{round(value, 1):g}"


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _fmt_day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


@dataclass
class _Detail:
    """Markdown paragraphs, with every source ID cited gathered for the Sources section."""

    parts: list[str] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)

    def add(self, text: str, source_ids: Iterable[str] = ()) -> None:
        self.parts.append(text)
        self.cited.extend(source_ids)

    def rule(self, rule_id: str, message: str, source_ids: Sequence[str], severity: str | None = None) -> None:
        self.add(_rule_line(rule_id, message, source_ids, severity), source_ids)

    def notes(self, notes: Sequence[str]) -> None:
        if notes:
            self.add("**Data not used or not available**\n\n" + "\n".join(f"- {n}" for n in notes))

    def text(self) -> str:
        return "\n\n".join(self.parts) + _sources_section(self.cited)


def _override(code: str, display: str) -> Coding:
    return Coding(system=OVERRIDE_SYSTEM, code=code, display=display)


# --- patient-view: b12-status ---------------------------------------------------------------------------

_STATUS_WORDS: Mapping[Status, str] = {
    Status.CONFIRMED: "B12 deficiency confirmed",
    Status.INDETERMINATE: "indeterminate",
    Status.UNLIKELY: "deficiency unlikely",
    Status.NOT_ASSESSABLE: "not classified",
}
_ANALYTE_NAMES: Mapping[Analyte, str] = {
    Analyte.B12_TOTAL: "Total B12",
    Analyte.MMA: "MMA",
    Analyte.HEMOGLOBIN: "Haemoglobin",
    Analyte.MCV: "MCV",
}
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_INDICATORS: Mapping[Severity, Indicator] = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.CRITICAL: "critical",
}


def _status_cards(call: _Call, data: _Data) -> list[Card]:
    chart = read_chart(data, call.patient_id, call.today)
    chart.notes.extend(data.notes)
    chart.notes.extend(f"`{key}` was not prefetched and could not be fetched: not checked." for key in data.unavailable)
    if not chart.seen & {"b12", "mma"} and not chart.b12_orders:
        return []  # no B12 or MMA result and no B12 order: nothing to say on every chart opened
    case = chart.case(call.deps.guideline, call.deps.thresholds, call.today)
    try:
        plan = services.plan_case(case)
    except B12Error as error:
        return [_cannot_interpret(call, error, chart)]
    cards = [_interpretation_card(call, chart, plan)]
    for order in chart.b12_orders:
        cards.extend(_overdue_cards(call, chart, order))
    return cards


def _cannot_interpret(call: _Call, error: B12Error, chart: Chart) -> Card:
    detail = _Detail()
    detail.add(f"b12 could not interpret the data: {error}")
    detail.notes(chart.notes)
    return Card(
        uuid=call.uuid("cannot-interpret"),
        summary=_summary(f"B12 status not assessed: {error}"),
        indicator="info",
        detail=detail.text(),
        source=_source(
            f"b12 — {call.guideline.title}", call.guideline.sources, "b12-lab-interpretation", call.guideline
        ),
    )


def _interpretation_card(call: _Call, chart: Chart, plan: Plan) -> Card:
    interpretation = plan.interpretation
    thresholds = interpretation.threshold_set
    on_treatment = bool(chart.b12_orders)
    recommendation = plan.recommendation
    total = chart.latest(Analyte.B12_TOTAL)
    if total is not None:
        headline = f"{_ANALYTE_NAMES[total.analyte]} {_fmt(total.value)} {total.unit}"
    else:
        headline = "Total B12 result not usable" if "b12" in chart.seen else "No total B12 result"
    short_set = thresholds.title.split(",")[0]
    words = _STATUS_WORDS[interpretation.status]
    tail = ""
    if on_treatment:
        tail = "; on B12 replacement"
    elif recommendation.treat:
        tail = "; no B12 replacement on record"
    summary = _summary(f"{headline}: {words} ({short_set}){tail}")

    indicator: Indicator = "warning" if recommendation.treat and not on_treatment else "info"
    for alert in interpretation.alerts:
        if _SEVERITY_RANK[alert.severity.value] > _SEVERITY_RANK[indicator]:
            indicator = _INDICATORS[alert.severity]

    detail = _Detail()
    detail.add(_results_text(interpretation))
    detail.add(
        f"Threshold set: **{thresholds.title}** (version {thresholds.version}){_cite(thresholds.sources)}. "
        f"{thresholds.boundary_rule}",
        thresholds.sources,
    )
    for finding in interpretation.findings:
        detail.rule(finding.rule or "b12", finding.message, finding.sources)
    for test in interpretation.next_tests:
        detail.rule(test.rule, f"Next test: {test.reason}", test.sources)
    detail.add(_plan_text(plan, on_treatment), _plan_sources(plan))
    if recommendation.treat and not plan.case.neurological:
        # Symptoms are not in the FHIR data read here: the plan assumed no neurological involvement.
        neuro = find_rule("NEURO-URGENT", plan.guideline.id)
        detail.add(
            "Neurological symptoms are not read from the chart, so this plan assumes none: ask about them before "
            "choosing the regimen (with neurological involvement the loading regimen differs)."
        )
        detail.rule(neuro.id, neuro.message, neuro.sources)
    for alert in plan.alerts:
        detail.rule(alert.rule, alert.message, alert.sources, alert.severity.value)
    detail.notes(chart.notes)

    suggestions = None
    draft = None
    # SCOPE-AGE: b12's regimens are adult ones; a child gets the warning, never a ready-made adult order.
    adult = not any(alert.rule == "SCOPE-AGE" for alert in plan.alerts)
    if recommendation.treat and recommendation.regimen and recommendation.scheduled and not on_treatment and adult:
        reason = chart.lab_ids.get(total) if total else None
        draft = draft_medication_request(plan, chart.patient_id, call.today, reason)
        regimen = recommendation.regimen
        suggestions = [
            Suggestion(
                label=f"Draft {regimen.product.value} order ({regimen.id}): "
                + ", ".join(d["text"] for d in draft["dosageInstruction"]),
                uuid=call.uuid("interpretation", "draft-order"),
                is_recommended=True,
                actions=[
                    Action(
                        type="create",
                        description=f"Create a draft MedicationRequest for {regimen.id} "
                        f"({len(recommendation.phases)} dosage instruction(s), one per phase)",
                        resource=draft,
                    )
                ],
            )
        ]
    return Card(
        uuid=call.uuid("interpretation"),
        summary=summary,
        indicator=indicator,
        detail=detail.text(),
        source=_source(
            thresholds.title,
            [*thresholds.sources, *plan.guideline.sources],  # NICE NG239 itself (S1, primary) before summaries of it
            "b12-lab-interpretation",
            plan.guideline,
        ),
        suggestions=suggestions,
        selection_behavior="at-most-one" if suggestions else None,
        override_reasons=[
            _override("treated-elsewhere", "Already on B12 replacement elsewhere"),
            _override("recent-injection", "Sample taken within 2 weeks of an injection"),
            _override("clinician-decision", "Clinician's decision on this patient"),
        ]
        if suggestions
        else None,
    )


def _results_text(interpretation: Interpretation) -> str:
    lines = []
    for result in interpretation.normalised:
        name = _ANALYTE_NAMES.get(result.test, result.test.value)
        when = f" ({_fmt_day(result.date)})" if result.date else ""
        text = f"- {name} **{_fmt(result.original_value)} {result.original_unit}**{when}"
        if result.unit != result.original_unit:
            text += f" = {_fmt(result.value)} {result.unit}"
        if result.other_value is not None and result.other_unit:
            text += f" ≈ {_fmt(result.other_value)} {result.other_unit}"
        if result.band and result.status:
            text += f": band {result.band!r} → {_STATUS_WORDS[result.status]}"
        lines.append(text)
    status = _STATUS_WORDS[interpretation.status]
    return f"**B12 status: {status}**\n\n" + ("\n".join(lines) if lines else "No result could be classified.")


def _plan_text(plan: Plan, on_treatment: bool) -> str:
    recommendation = plan.recommendation
    regimen = recommendation.regimen
    head = f"**{plan.guideline.title}** (guideline version {plan.guideline.version}): {recommendation.reason}"
    if on_treatment:
        head += " An active B12 order is on record, so no new order is suggested."
    if regimen is None:
        return head
    phases = "\n".join(f"- {p.text}{_cite(p.sources)}" for p in recommendation.phases)
    ranged = any(p.frequency.every_range for p in recommendation.phases)
    note = (
        "\n\nWhere the label gives a range, the draft order schedules the value b12 plans (the longer interval); "
        "the clinician may choose within the range."
        if ranged and not on_treatment
        else ""
    )
    return f"{head}\n\nRegimen **{regimen.id}** — {regimen.title}:\n\n{phases}{note}"


def _plan_sources(plan: Plan) -> list[str]:
    regimen = plan.recommendation.regimen
    return [s for p in plan.recommendation.phases for s in p.sources] + (list(regimen.sources) if regimen else [])


def _overdue_cards(call: _Call, chart: Chart, order: Mapping[str, Any]) -> list[Card]:
    dosages = _dosages(order)
    ways = {way_of(d) for d in dosages}
    drug = drug_of(order)
    if not dosages or not (ways & INJECTED or (drug is Drug.HYDROXOCOBALAMIN and ways <= {None})):
        return []  # only injections are tracked dose by dose
    order_ref = f"MedicationRequest/{order.get('id')}"
    linked = sorted(g.day for g in chart.given if g.request == order_ref and g.day <= call.today)
    authored = _day(order.get("authoredOn"))
    if not linked and authored is not None:
        linked = sorted(g.day for g in chart.given if g.day >= authored and g.day <= call.today)
    start = linked[0] if linked else _start(dosages[0]) or authored
    cards = []
    if chart.given_known and start is not None:
        card = _overdue_dose(call, order, dosages, linked, start)
        if card is not None:
            cards.append(card)
    review = _review_due(call, chart, order, start)
    if review is not None:
        cards.append(review)
    return cards


def _start(dosage: Mapping[str, Any]) -> date | None:
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    bounds = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
    return _day(bounds.get("start")) if isinstance(bounds, dict) else None


# Adherence tolerance, the same values as b12.domain.tracking (TRK-OVERDUE, a b12 choice: no source sets one):
# 1 day for intervals up to a week, 3 days up to four weeks, 7 days for four-weekly and longer intervals.
def _tolerance_days(interval_days: float) -> int:
    if interval_days <= 7:
        return 1
    if interval_days < 28:
        return 3
    return 7


def _overdue_dose(
    call: _Call, order: Mapping[str, Any], dosages: Sequence[Mapping[str, Any]], given: Sequence[date], start: date
) -> Card | None:
    remaining = len(given)
    current: Mapping[str, Any] | None = None
    for dosage in dosages:
        interval = interval_of(dosage)
        if interval is not None and interval.count is not None and remaining >= interval.count:
            remaining -= interval.count
            continue
        current = dosage
        break
    interval = interval_of(current) if current is not None else None
    if current is None or interval is None:
        return None  # the order's counted phases are complete, or its timing cannot be read
    due = interval.after(given[-1]) if given else start
    late = (call.today - due).days
    if late <= _tolerance_days(interval.days):
        return None
    last = f"last dose {_fmt_day(given[-1])}" if given else "no dose recorded"
    summary = _summary(f"B12 injection overdue by {late} days: {last}, due {_fmt_day(due)} ({interval.words()})")
    guideline = call.guideline
    detail = _Detail()
    detail.add(f"Order: **{' '.join(_medication_words(order).split())}** — {current.get('text', interval.words())}.")
    detail.rule(
        "TRK-OVERDUE",
        f"The dose due on {_fmt_day(due)} is {late} days late, beyond b12's tolerance of "
        f"{_days(_tolerance_days(interval.days))} for this interval. The next dose is counted from the dose actually "
        "given. b12's own prompt: no source read sets a tolerance or says what to do about a late dose.",
        (),
    )
    return Card(
        uuid=call.uuid("overdue", order.get("id", "")),
        summary=summary,
        indicator="warning",
        detail=detail.text(),
        source=_source(f"b12 injection tracking — {guideline.title}", guideline.sources, "b12-overdue-dose", guideline),
    )


def _review_due(call: _Call, chart: Chart, order: Mapping[str, Any], start: date | None) -> Card | None:
    followup = call.guideline.settings.get("followup")
    if not followup or start is None:
        return None
    # FU-UK: "Review 3 months after starting treatment (1 month if pregnant or breastfeeding)" [S6]; pregnancy is
    # not read from the chart here, so the 3-month review is the one checked.
    months = int(followup["review_months"])
    due = start + relativedelta(months=months)
    counts = [r.date for r in chart.labs if r.analyte in (Analyte.HEMOGLOBIN, Analyte.MCV) and r.date]
    if call.today <= due or any(day >= start for day in counts if day):
        return None
    rule = find_rule(str(followup["rule"]), call.guideline.id)
    detail = _Detail()
    detail.rule(rule.id, rule.message, rule.sources)
    detail.add(
        f"Treatment started on {_fmt_day(start)}; no haemoglobin or MCV result is dated since then, so b12 takes the "
        "review as not done yet. " + str(followup["expect"]),
        followup["expect_sources"],
    )
    return Card(
        uuid=call.uuid("review", order.get("id", "")),
        summary=_summary(
            f"B12 treatment review due since {_fmt_day(due)} ({months} months after starting on {_fmt_day(start)}); "
            "no blood count since then"
        ),
        indicator="info",
        detail=detail.text(),
        source=_source(f"b12 — {call.guideline.title}", rule.sources, "b12-review", call.guideline),
    )


# --- FHIR MedicationRequest for a regimen ---------------------------------------------------------------


def _mass_words(mg: float) -> str:
    return f"{mg:g} mg" if mg >= 1 else f"{mg * 1000:g} micrograms"


def _way_words(way: Way) -> str:
    return {
        Way.IM: "by intramuscular injection",
        Way.SC: "by subcutaneous injection",
        Way.IV: "by intravenous injection",
        Way.ORAL: "by mouth",
        Way.NASAL: "as a nasal spray",
    }[way]


def _medication_text(product: Product, route: Route, strength: str | None) -> str:
    name = product.value.capitalize()
    if route is Route.IM:
        return f"{name} {strength.replace('/mL', '/1 mL') if strength else ''} solution for injection".replace(
            "  ", " "
        )
    return f"{name} tablets" if route is Route.ORAL else f"{name} nasal spray"


def draft_medication_request(plan: Plan, patient_id: str, today: date, reason: str | None = None) -> dict[str, Any]:
    """A draft MedicationRequest (status draft, intent proposal) for the plan's regimen, validated with R4B.

    One ``dosageInstruction`` per phase with ``sequence``, a Timing, route SNOMED (IM 78421000), the dose in mg and
    a ``text`` equivalent to the Timing, as the issue's FHIR export conventions ask.
    """
    regimen = plan.recommendation.regimen
    phases = plan.recommendation.phases
    if regimen is None or not phases:
        raise ValueError("the plan names no regimen to order")
    first = phases[0]
    strength = plan.guideline.strengths.get(first.product)
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {"text": _medication_text(first.product, first.route, strength)},
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": today.isoformat(),
        # The FHIR export's own mapping (adapters/fhir.py), so a suggested order reads like an exported course.
        "dosageInstruction": [dosage_instruction(phase, index) for index, phase in enumerate(phases, start=1)],
        "note": [
            {
                "text": f"Drafted by b12 from {plan.guideline.title} (guideline version {plan.guideline.version}), "
                f"regimen {regimen.id}. Decision support: a clinician reviews and decides."
            }
        ],
    }
    if reason:
        resource["reasonReference"] = [{"reference": reason}]
    return checked_medication_request(resource)


def checked_medication_request(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Validated with fhir.resources R4B, plus the required code values it does not check; the JSON form back."""
    model = get_fhir_model_class("MedicationRequest").model_validate(resource)
    checked: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    problems = check_codes(checked)
    if problems:
        raise ValueError(f"MedicationRequest has invalid codes: {'; '.join(map(str, problems))}")
    return checked


# --- order-select / order-sign: b12-order-check ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Order:
    index: int
    resource: dict[str, Any]
    drug: Drug | None

    @property
    def reference(self) -> str | None:
        return f"MedicationRequest/{self.resource['id']}" if isinstance(self.resource.get("id"), str) else None

    @property
    def name(self) -> str:
        return " ".join(_medication_words(self.resource).split()) or "this order"

    def ways(self) -> set[Way | None]:
        return {way_of(d) for d in _dosages(self.resource)} or {None}


def _draft_orders(context: OrderSignContext) -> list[_Order]:
    problems = []
    orders = []
    for index, entry in enumerate(context.draft_orders.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = f"context.draftOrders.entry[{index}].resource"
        if not isinstance(resource, dict):
            problems.append(Problem(path=where, message="an entry needs a resource"))
            continue
        if resource.get("resourceType") != "MedicationRequest":
            continue  # ServiceRequests and others are not b12's business
        try:
            get_fhir_model_class("MedicationRequest").model_validate(resource)
        except ValidationError as error:
            problems.extend(_problems(error.errors(), where))
            continue
        orders.append(_Order(index, resource, drug_of(resource)))
    if problems:
        raise _bad_request("Invalid draft orders", problems)
    return orders


def _order_cards(call: _Call, data: _Data) -> list[Card]:
    context = call.context
    assert isinstance(context, OrderSignContext)
    orders = _draft_orders(context)
    chart = read_chart(data, call.patient_id, call.today)
    chart.notes.extend(data.notes)
    selected = orders
    if isinstance(context, OrderSelectContext):
        chosen = set(context.selections)
        selected = [o for o in orders if o.reference in chosen]
    cards: list[Card] = []
    for order in selected:
        if order.drug is Drug.CYANOCOBALAMIN:
            cards.extend(_leber_cards(call, chart, order, data))
        if order.drug in COBALAMINS and Way.IV in order.ways():
            cards.append(_iv_card(call, order))
        if order.drug is Drug.FOLIC_ACID:
            card = _folate_card(call, chart, order, orders)
            if card is not None:
                cards.append(card)
        if order.drug in PRODUCTS:
            cards.extend(_label_cards(call, chart, order))
    return cards


def _rule_card(
    call: _Call,
    key: str,
    rule_id: str,
    summary: str,
    indicator: Indicator,
    detail: _Detail,
    topic: str,
    **extra: Any,
) -> Card:
    rule = find_rule(rule_id, call.guideline.id)
    return Card(
        uuid=call.uuid(key),
        summary=_summary(summary),
        indicator=indicator,
        detail=detail.text(),
        source=_source(f"b12 {rule.id}: {rule.title}", rule.sources, topic, call.guideline),
        **extra,
    )


def _delete_suggestion(call: _Call, order: _Order, key: str, label: str) -> dict[str, Any]:
    """A suggestion to remove the draft order (only when it has an id to point at)."""
    if order.reference is None:
        return {}
    suggestion = Suggestion(
        label=label,
        uuid=call.uuid(key, "remove"),
        actions=[
            Action(type="delete", description=f"Remove the draft order {order.reference}", resource_id=order.reference)
        ],
    )
    return {"suggestions": [suggestion], "selection_behavior": "at-most-one"}


def _leber_cards(call: _Call, chart: Chart, order: _Order, data: _Data) -> list[Card]:
    found = chart.conditions & {Condition.LEBER, Condition.TOBACCO_AMBLYOPIA}
    key = f"leber/{order.index}"
    if not found:
        if chart.conditions_known:
            return []
        detail = _Detail()
        detail.add(
            "The patient's conditions were neither prefetched nor fetched, so b12 could not check for Leber's "
            "disease or tobacco amblyopia, in which cyanocobalamin is contraindicated (SAFE-LEBER)."
        )
        detail.notes(data.notes)
        return [
            _rule_card(
                call,
                key,
                "SAFE-LEBER",
                "Cyanocobalamin ordered: conditions not available, Leber's disease not checked (SAFE-LEBER)",
                "info",
                detail,
                "b12-order-safety",
            )
        ]
    rule = find_rule("SAFE-LEBER", call.guideline.id)
    names = " and ".join("Leber's disease" if c is Condition.LEBER else "tobacco amblyopia" for c in sorted(found))
    detail = _Detail()
    detail.add(f"Order: **{order.name}**. The patient has {names} on record (active Condition).")
    detail.rule(rule.id, rule.message, rule.sources, "critical")
    alternative = "UK-TA-LEBER" if call.guideline.id == "uk" else "US-FDA-OH"
    try:
        regimen = call.guideline.regimen(alternative)
        detail.rule(regimen.id, "; ".join(p.text for p in regimen.phases), regimen.sources)
    except B12Error:
        pass
    return [
        _rule_card(
            call,
            key,
            "SAFE-LEBER",
            f"Cyanocobalamin with {names}: contraindicated, use hydroxocobalamin (SAFE-LEBER)",
            "critical",
            detail,
            "b12-order-safety",
            **_delete_suggestion(call, order, key, "Remove the cyanocobalamin order"),
        )
    ]


def _iv_card(call: _Call, order: _Order) -> Card:
    rule = find_rule("SAFE-IV", call.guideline.id)
    detail = _Detail()
    detail.add(f"Order: **{order.name}**, route intravenous.")
    detail.rule(rule.id, rule.message, rule.sources)
    key = f"iv/{order.index}"
    if order.drug is Drug.CYANOCOBALAMIN:
        return _rule_card(
            call,
            key,
            "SAFE-IV",
            "Intravenous cyanocobalamin: almost all is lost in the urine; give it IM or deep SC (SAFE-IV)",
            "critical",
            detail,
            "b12-order-safety",
            **_delete_suggestion(call, order, key, "Remove the intravenous cyanocobalamin order"),
        )
    detail.add(
        "Vitamin B12 deficiency regimens of the guideline data are intramuscular. Intravenous hydroxocobalamin in "
        "gram doses is a cyanide-poisoning antidote: check that this is the indication."
    )
    return _rule_card(
        call,
        key,
        "SAFE-IV",
        "Intravenous cobalamin ordered: B12 deficiency regimens are intramuscular; check the indication (SAFE-IV)",
        "warning",
        detail,
        "b12-order-safety",
    )


def _folate_card(call: _Call, chart: Chart, order: _Order, orders: Sequence[_Order]) -> Card | None:
    cover = [o.name for o in orders if o.drug in COBALAMINS] + [
        " ".join(_medication_words(o).split()) for o in chart.b12_orders
    ]
    if cover:
        return None
    b12 = chart.latest(Analyte.B12_TOTAL)
    status: Status | None = None
    if b12 is not None:
        try:
            case = Case(
                guideline=call.deps.guideline,
                start=call.today,
                patient=Patient(sex=chart.sex or Sex.FEMALE),
                thresholds=call.deps.thresholds,
                labs=(b12,),
            )
            status = services.interpret_case(case).status
        except B12Error:
            status = None
    if status is Status.UNLIKELY:
        return None  # B12 deficiency excluded by the latest result: folic acid alone is not masking it
    rule = find_rule("SAFE-FOLATE", call.guideline.id)
    detail = _Detail()
    detail.add(f"Order: **{order.name}**, with no vitamin B12 in the draft orders or the active orders.")
    if b12 is None:
        detail.add("No total B12 result on record: deficiency has not been excluded.")
    else:
        when = f" ({_fmt_day(b12.date)})" if b12.date else ""
        detail.add(
            f"Latest total B12 {_fmt(b12.value)} {b12.unit}{when}: {_STATUS_WORDS[status or Status.NOT_ASSESSABLE]}."
        )
    if not chart.orders_known:
        detail.add("The active medication orders were not available: B12 cover elsewhere could not be checked.")
    detail.rule(rule.id, rule.message, rule.sources, "critical")
    return _rule_card(
        call,
        f"folate/{order.index}",
        "SAFE-FOLATE",
        "Folic acid ordered without B12 cover: exclude or treat B12 deficiency first (SAFE-FOLATE)",
        "critical",
        detail,
        "b12-order-safety",
    )


LEBER_REGIMENS = frozenset({"UK-TA-LEBER", "US-FDA-OH"})  # as chosen by b12.domain.plan for Leber's disease


def _label_regimens(guideline: Guideline, product: Product, leber: bool) -> list[Regimen]:
    return [
        r
        for r in guideline.regimens.values()
        if r.product is product and r.route is Route.IM and (leber or r.id not in LEBER_REGIMENS)
    ]


def _maintenance_range(regimens: Sequence[Regimen]) -> tuple[float, float, list[Phase]] | None:
    phases = [
        p
        for r in regimens
        for p in r.phases
        if p.kind is PhaseKind.MAINTENANCE and p.frequency.unit is IntervalUnit.MONTH and p.injected
    ]
    if not phases:
        return None
    spans = [
        (p.frequency.every_range.low, p.frequency.every_range.high)
        if p.frequency.every_range
        else (p.frequency.every, p.frequency.every)
        for p in phases
    ]
    return min(s[0] for s in spans), max(s[1] for s in spans), phases


# One week either side of the label's months: the ePGD's 8 and 12 weeks count as "every 2–3 months".
_MONTH_SLACK_DAYS = 7


def _label_cards(call: _Call, chart: Chart, order: _Order) -> list[Card]:
    product = PRODUCTS.get(order.drug) if order.drug is not None else None
    if product is None:
        return []
    leber = bool(chart.conditions & {Condition.LEBER, Condition.TOBACCO_AMBLYOPIA})
    regimens = _label_regimens(call.guideline, product, leber)
    label = _maintenance_range(regimens)
    cards: list[Card] = []
    for position, dosage in enumerate(_dosages(order.resource)):
        way = way_of(dosage)
        if way not in INJECTED and not (way is None and product is Product.HYDROXOCOBALAMIN):
            continue
        interval = interval_of(dosage)
        if label is not None and interval is not None and interval.days >= 28:
            card = _interval_card(call, order, position, dosage, interval, label, way or Way.IM)
            if card is not None:
                cards.append(card)
        card = _dose_card(call, order, position, dosage, regimens)
        if card is not None:
            cards.append(card)
    return cards


def _interval_card(
    call: _Call,
    order: _Order,
    position: int,
    dosage: Mapping[str, Any],
    interval: Interval,
    label: tuple[float, float, list[Phase]],
    way: Way,
) -> Card | None:
    low, high, phases = label
    month = _UNIT_DAYS["mo"]
    if low * month - _MONTH_SLACK_DAYS <= interval.days <= high * month + _MONTH_SLACK_DAYS:
        return None
    target = int(high if interval.days > high * month else low)
    amended = copy.deepcopy(order.resource)
    amended_dosage = _dosages(amended)[position]
    repeat = amended_dosage.setdefault("timing", {}).setdefault("repeat", {})
    repeat.pop("periodMax", None)
    repeat.update({"frequency": 1, "period": target, "periodUnit": "mo"})
    dose = _dose_mg(dosage)
    words = f"{_mass_words(dose)} " if dose else ""
    amended_dosage["text"] = f"{'Then ' if position else ''}{words}{_way_words(way)} every {target} months".strip()
    amended_dosage["text"] = amended_dosage["text"][0].upper() + amended_dosage["text"][1:]
    resource = checked_medication_request(amended)
    span = f"{low:g}–{high:g}" if low != high else f"{low:g}"
    product = order.drug.value if order.drug else "B12"
    detail = _Detail()
    detail.add(
        f"Order: **{order.name}** — dosage {position + 1}: {dosage.get('text', interval.words())} "
        f"({interval.words()}, about {interval.days / month:.1f} months)."
    )
    for phase in phases:
        detail.rule(phase.rule, f"maintenance: {phase.text}", phase.sources)
    followup = find_rule("FU-UK", call.guideline.id) if "FU-UK" in call.guideline.rules else None
    if followup is not None and interval.days < low * month:
        detail.rule(
            followup.id,
            "A shorter interval is the documented response to symptoms returning early; if that is the reason, "
            "override with it.",
            followup.sources,
        )
    key = f"interval/{order.index}/{position}"
    suggestion = Suggestion(
        label=f"Change to every {target} months",
        uuid=call.uuid(key, "update"),
        is_recommended=True,
        actions=[
            Action(
                type="update",
                description=f"Update the draft order: dosage {position + 1} every {target} months (whole resource)",
                resource=resource,
            )
        ],
    )
    return Card(
        uuid=call.uuid(key),
        summary=_summary(
            f"{product.capitalize()} maintenance {interval.words()} is outside the label's {span} months: "
            f"every {target} months?"
        ),
        indicator="warning",
        detail=detail.text(),
        source=_source(
            f"b12 {', '.join(dict.fromkeys(p.rule for p in phases))}: label maintenance interval",
            [s for p in phases for s in p.sources],
            "b12-order-interval",
            call.guideline,
        ),
        suggestions=[suggestion],
        selection_behavior="at-most-one",
        override_reasons=[
            _override("symptoms-returning", "Shorter interval chosen: symptoms return before the next dose"),
            _override("clinician-decision", "Clinician's decision on this patient"),
        ],
    )


def _dose_card(
    call: _Call, order: _Order, position: int, dosage: Mapping[str, Any], regimens: Sequence[Regimen]
) -> Card | None:
    dose = _dose_mg(dosage)
    phases = [p for r in regimens for p in r.phases if p.injected]
    if dose is None or not phases:
        return None
    low = min(p.dose_range_mg.low for p in phases)
    high = max(p.dose_range_mg.high for p in phases)
    if low - 1e-9 <= dose <= high + 1e-9:
        return None
    detail = _Detail()
    detail.add(f"Order: **{order.name}** — dosage {position + 1}: {_mass_words(dose)} per dose.")
    for regimen in regimens:
        detail.rule(regimen.id, "; ".join(p.text for p in regimen.phases), regimen.sources)
    span = _mass_words(low) if low == high else f"{_mass_words(low)}–{_mass_words(high)}"
    return Card(
        uuid=call.uuid(f"dose/{order.index}/{position}"),
        summary=_summary(f"{_mass_words(dose)} per injection is outside the label doses ({span}) for this product"),
        indicator="warning",
        detail=detail.text(),
        source=_source(
            f"b12 {', '.join(r.id for r in regimens)}: label doses",
            [s for r in regimens for s in r.sources],
            "b12-order-dose",
            call.guideline,
        ),
    )
