"""The REST API (``/api/v1``): b12's use cases over JSON, for EHRs and other apps; ``api_router(deps)``.

Contract:

- Stateless (no token): ``POST /convert``, ``/interpret``, ``/plan`` and ``/compare``. ``/plan`` takes the case
  format of ``docs/case-format.md`` and answers the plan JSON of ``b12 plan --json`` (``docs/plan.schema.json``);
  ``/interpret`` answers what ``b12 interpret --json`` prints, ``/compare`` what ``b12 compare --json`` prints.
- Stateful, with a bearer token (``Authorization: Bearer b12_…``): the token acts as the account that created
  it, with the web app's rules (:func:`b12.domain.accounts.can_see_patient` through
  :mod:`b12.services_tracking`): a patient sees only their own record, a clinician the patients they look after.
  Tokens are created and revoked by their owner on the web app's token page (``/account/tokens``); only a
  digest is stored (:mod:`b12.adapters.sql.api_tokens`).
- Errors are ``application/problem+json`` (RFC 9457) with ``type``, ``title``, ``status``, ``detail``,
  ``instance`` and ``errors`` (each ``{field, message}``, ``field`` a path such as ``labs[0].unit``): malformed
  JSON -> 400; a missing, unknown or revoked token -> 401 with ``WWW-Authenticate: Bearer``; something that
  does not exist, or that the account may not see or do -> 404 (the two look the same, as in the web app);
  a request b12 cannot use (shape, or b12's own rules) -> 422. Every operation documents the errors it can
  answer, with the problem schema.
- Request bodies are strict (:mod:`b12.adapters.api_models`): ``false`` is not a number, unknown keys are
  errors, a key given twice in one object is an error.
- Lists are pages: ``limit`` (1–100, default 20) and ``offset``, with ``total`` and a ``next`` link.

The API is its own small FastAPI app mounted at ``/api/v1``, so that the web app's session, CSRF check and HTML
error pages never apply to it (a bearer token is not sent by a browser on its own, so CSRF does not arise).
:func:`api_router` returns what the composition root includes: that mount, ``/openapi.json`` (OpenAPI 3.1 of the
API) and ``/docs`` (Swagger UI served from the app's own static files, no CDN), and the token pages of the web
app. b12 is decision support, not a prescriber: every plan cites its rules and sources.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import pydantic_core
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import Scope

import b12
from b12 import services, services_tracking
from b12.adapters import api_models as m
from b12.adapters.case_json import CaseFormatError, CaseInput, case_from_json
from b12.adapters.plan_json import (
    alert_to_dict,
    comparison_to_dict,
    dose_to_dict,
    interpretation_to_dict,
    phase_to_dict,
    plan_to_dict,
)
from b12.adapters.sql.api_tokens import ApiToken, ApiTokens, tokens_in
from b12.domain.access import NotAllowedError
from b12.domain.accounts import Account, AuditEntry, PatientRecord, Role, can_see_patient
from b12.domain.case import Case
from b12.domain.errors import B12Error, CaseError
from b12.domain.labs import load_threshold_set, threshold_sets
from b12.domain.plan import FollowUp, FollowUpKind
from b12.domain.tracking import (
    DEFAULT_SITES,
    Checkpoint,
    Course,
    CourseStatus,
    DoseGiven,
    DoseSkipped,
    History,
    LabEntry,
    SymptomEntry,
    course_status,
)
from b12.domain.units import convert as convert_units
from b12.domain.units import molar_basis, molar_mass
from b12.ports import Clock, UnitOfWork

__all__ = [
    "API_PREFIX",
    "ApiDeps",
    "IssuedToken",
    "api_app",
    "api_router",
    "authenticate",
    "issue_token",
    "revoke_token",
    "token_digest",
    "tokens_of",
]

log = logging.getLogger("b12.api")

API_PREFIX = "/api/v1"
TOKEN_PREFIX = "b12_"
TOKEN_BYTES = 32  # 256 random bits, 43 URL-safe characters after the prefix
SHOWN_PREFIX = len(TOKEN_PREFIX) + 8  # what the token page shows of a secret, to tell tokens apart
MAX_ACTIVE_TOKENS = 20
MAX_TOKEN_NAME = 100
PAGE_DEFAULT, PAGE_MAX = 20, 100
CALENDAR_MONTHS = 12
CALENDAR_MAX_DOSES = 400
MAX_BODY_BYTES = 1_000_000  # a case is a few kB; anything near this is not one (413)

# RFC 9457 problem types. "about:blank" for a plain HTTP error (its title is then the HTTP status phrase);
# b12's own are tag URIs (RFC 9457 §4: for a type URI that is not meant to be dereferenced).
_TYPE_BASE = "tag:b12.example.org,2026:problem:"
MALFORMED = _TYPE_BASE + "malformed-json"
INVALID = _TYPE_BASE + "invalid-request"
REFUSED = _TYPE_BASE + "refused"
BLANK = "about:blank"

UowFactory = Callable[[], UnitOfWork]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ApiDeps:
    """What the API needs, passed in by the composition root (tests pass their own).

    ``tokens`` gives the token store of an open unit of work (:func:`b12.adapters.sql.api_tokens.tokens_in`);
    ``tz`` is the time zone of calendar events and printed summaries.
    """

    uow_factory: UowFactory
    clock: Clock
    tokens: Callable[[UnitOfWork], ApiTokens] = tokens_in
    tz: str = "Europe/London"


# --- tokens: issue, list, revoke, authenticate -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created, with its secret: the only time the secret exists outside the client."""

    token: ApiToken
    secret: str


def token_digest(secret: str) -> str:
    """What is stored of a secret: SHA-256, hex (the secret is random, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _audit(
    uow: UnitOfWork, clock: Clock, actor: Account, action: str, entity: str, entity_id: str, **detail: Any
) -> None:
    uow.audit.append(AuditEntry(uuid.uuid4().hex, clock.now(), actor.id, action, entity, entity_id, detail))


def issue_token(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    name: str,
    *,
    tokens: Callable[[UnitOfWork], ApiTokens] = tokens_in,
) -> IssuedToken:
    """A new token for ``actor``, named by them; audited. Raises :class:`CaseError` (field ``name``)."""
    label = name.strip()
    if not label:
        raise CaseError("name", "name the token after where it will be used, e.g. 'practice EHR'")
    if len(label) > MAX_TOKEN_NAME:
        raise CaseError("name", f"keep the name under {MAX_TOKEN_NAME} characters")
    with uow:
        store = tokens(uow)
        if sum(1 for t in store.of_account(actor.id) if t.active) >= MAX_ACTIVE_TOKENS:
            raise CaseError("name", f"an account has at most {MAX_ACTIVE_TOKENS} active tokens: revoke one first")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        token = ApiToken(uuid.uuid4().hex, actor.id, label, secret[:SHOWN_PREFIX], clock.now())
        store.add(token, token_digest(secret))
        _audit(uow, clock, actor, "api_token.create", "api_token", token.id, name=label)
        uow.commit()
    return IssuedToken(token, secret)


def revoke_token(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    token_id: str,
    *,
    tokens: Callable[[UnitOfWork], ApiTokens] = tokens_in,
) -> None:
    """Revoke one of ``actor``'s active tokens; audited. Someone else's or an unknown one: NotAllowedError."""
    with uow:
        if not tokens(uow).revoke(token_id, actor.id, clock.now()):
            raise NotAllowedError(actor.id, "api_token", token_id, "revoke")
        _audit(uow, clock, actor, "api_token.revoke", "api_token", token_id)
        uow.commit()


def tokens_of(
    uow: UnitOfWork, actor: Account, *, tokens: Callable[[UnitOfWork], ApiTokens] = tokens_in
) -> list[ApiToken]:
    """The account's tokens, revoked ones included, newest first."""
    with uow:
        return list(tokens(uow).of_account(actor.id))


def authenticate(
    uow: UnitOfWork, secret: str, *, tokens: Callable[[UnitOfWork], ApiTokens] = tokens_in
) -> Account | None:
    """The account of an active token whose secret is ``secret``, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    with uow:
        token = tokens(uow).active_by_digest(token_digest(secret))
        return uow.accounts.account(token.account_id) if token is not None else None


# --- errors -> problem+json -------------------------------------------------------------------------------


class _UnauthorizedError(Exception):
    """No usable bearer token (401)."""

    def __init__(self, detail: str, *, invalid: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid = invalid


class _MalformedError(Exception):
    """A body that is not JSON (400)."""


class _InvalidError(Exception):
    """A request that breaks its documented shape or the case format (422), with every problem found."""

    def __init__(self, problems: Sequence[m.FieldProblem]) -> None:
        super().__init__(_summary(problems))
        self.problems = list(problems)


def _path(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _show(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a key b12 knows here"
    message = str(error["msg"])
    if "input" in error and kind not in ("json_invalid", "value_error"):
        message += f", got {_show(error['input'])}"
    return message.removeprefix("Value error, ")


def _field_problems(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[m.FieldProblem]:
    problems = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if isinstance(p, str | int)]
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        path = _path(loc)
        field = f"{prefix}.{path}" if prefix and path else prefix or path
        problems.append(m.FieldProblem(field=field, message=_message(error)))
    return problems


def _case_problems(error: CaseError, prefix: str = "") -> list[m.FieldProblem]:
    found = error.problems if isinstance(error, CaseFormatError) else (error,)

    def where(field: str) -> str:
        if not prefix:
            return field
        return f"{prefix}.{field}" if field and not field.startswith("[") else prefix + field

    return [m.FieldProblem(field=where(p.field), message=p.problem) for p in found]


class _JSON(JSONResponse):
    """JSON written by pydantic-core: the same bytes as Starlette's ``json.dumps`` (compact, UTF-8) in a
    quarter of the time on a plan (bench/api.py), which is most of a plan's cost after the domain's."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = BLANK,
    errors: Sequence[m.FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = m.Problem(
        type=type_, title=title, status=status, detail=detail, instance=request.url.path, errors=list(errors)
    )
    return _JSON(
        body.model_dump(mode="json"), status_code=status, headers=headers, media_type="application/problem+json"
    )


def _challenge(invalid: bool) -> dict[str, str]:
    # RFC 6750 §3: error="invalid_token" when a token was sent but cannot be used.
    return {"WWW-Authenticate": 'Bearer realm="b12", error="invalid_token"' if invalid else 'Bearer realm="b12"'}


def _problem_for(request: Request, error: Exception) -> Response:
    """The one place where errors become answers."""
    if isinstance(error, _UnauthorizedError):
        return problem(request, 401, "Unauthorized", error.detail, headers=_challenge(error.invalid))
    if isinstance(error, _MalformedError):
        return problem(request, 400, "The body is not valid JSON", str(error), type_=MALFORMED)
    if isinstance(error, RequestValidationError):
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(request, 400, "The body is not valid JSON", "the body could not be parsed", type_=MALFORMED)
        found = _field_problems(errors)
        return problem(
            request, 422, "The request has values b12 cannot use", _summary(found), type_=INVALID, errors=found
        )
    if isinstance(error, _InvalidError):
        title = "The request has values b12 cannot use"
        return problem(request, 422, title, str(error), type_=INVALID, errors=error.problems)
    if isinstance(error, NotAllowedError):
        return problem(request, 404, "Not Found", "nothing here that this account may see or change")
    if isinstance(error, CaseError):
        found = _case_problems(error)
        return problem(request, 422, "b12 cannot use this", str(error), type_=REFUSED, errors=found)
    if isinstance(error, B12Error):
        return problem(request, 422, "b12 cannot use this", str(error), type_=REFUSED)
    if isinstance(error, HTTPException):
        phrase = _PHRASES.get(error.status_code, "Error")
        return problem(request, error.status_code, phrase, str(error.detail), headers=error.headers)
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(request, 500, "Internal Server Error", "b12 could not answer this request; nothing was saved")


def _summary(problems: Sequence[m.FieldProblem]) -> str:
    if not problems:
        return ""
    first = problems[0]
    text = f"{first.field}: {first.message}" if first.field else first.message
    more = len(problems) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
}


class _ProblemRoute(APIRoute):
    """Answers every error of the API's routes as problem+json, before anything else sees it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:  # every error becomes a problem document here
                return _problem_for(request, error)

        return route


# --- request bodies ----------------------------------------------------------------------------------------


async def _raw_body(request: Request) -> bytes:
    """The body, refused (413) past :data:`MAX_BODY_BYTES`, whether announced by Content-Length or not."""
    too_large = HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


RawBody = Annotated[bytes, Depends(_raw_body)]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CaseError(key, "the key appears twice in the same object; give each key once")
        result[key] = value
    return result


def _no_constant(name: str) -> float:
    raise CaseError("", f"{name} is not valid JSON; write a number")


def _json(raw: bytes) -> Any:
    """The body as JSON: malformed -> 400; a repeated key, NaN or Infinity -> 422 (as the case format)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _MalformedError("the body is not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise _MalformedError(f"{error.msg} at line {error.lineno}, column {error.colno}") from None
    except CaseError as error:
        raise _InvalidError([m.FieldProblem(field=error.field, message=error.problem)]) from None


def _body(model: type[M], raw: bytes) -> M:
    """A strict request model from the JSON text (so that dates and enumerations are read as JSON)."""
    _json(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise _InvalidError(_field_problems(error.errors(include_url=False))) from None


def _case(data: object, prefix: str = "") -> Case:
    """A case from the case format; the API reads only the packaged threshold sets, never a local file."""
    try:
        case = case_from_json(data)
    except CaseError as error:
        raise _InvalidError(_case_problems(error, prefix)) from None
    if case.thresholds is not None and case.thresholds not in threshold_sets():
        field = f"{prefix}.thresholds" if prefix else "thresholds"
        known = ", ".join(threshold_sets())
        raise _InvalidError([m.FieldProblem(field=field, message=f"use one of the threshold sets b12 knows: {known}")])
    return case


# --- values -> JSON ----------------------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _account_dict(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "role": account.role.value,
        "patient_id": account.patient_id,
    }


def _patient_dict(patient: PatientRecord) -> dict[str, Any]:
    return {
        "id": patient.id,
        "name": patient.name,
        "sex": patient.sex.value,
        "birth_date": _iso(patient.birth_date),
        "clinician_id": patient.clinician_id,
        "pregnant": patient.pregnant,
        "breastfeeding": patient.breastfeeding,
        "created_at": _iso(patient.created_at),
    }


def _course_dict(course: Course) -> dict[str, Any]:
    return {
        "id": course.id,
        "patient_id": course.patient_id,
        "guideline": course.guideline,
        "guideline_version": course.guideline_version,
        "regimen_id": course.regimen_id,
        "product": course.product.value,
        "strength": course.strength,
        "syringe": course.syringe,
        "start": course.start.isoformat(),
        "lifelong": course.lifelong,
        "sites": list(course.sites),
        "review_months": course.review_months,
        "created_by": course.created_by,
        "created_at": _iso(course.created_at),
        "phases": [phase_to_dict(p, lifelong=course.lifelong) for p in course.phases],
    }


def _dose_dict(dose: DoseGiven) -> dict[str, Any]:
    return {
        "id": dose.id,
        "course_id": dose.course_id,
        "at": _iso(dose.at),
        "dose_mg": dose.dose_mg,
        "product": dose.product.value,
        "route": dose.route.value,
        "given_by": dose.given_by,
        "site": dose.site,
        "batch": dose.batch,
        "expiry": _iso(dose.expiry),
        "reaction": dose.reaction,
        "note": dose.note,
    }


def _skip_dict(skip: DoseSkipped) -> dict[str, Any]:
    return {
        "id": skip.id,
        "course_id": skip.course_id,
        "due": _iso(skip.due),
        "at": _iso(skip.at),
        "reason": skip.reason,
    }


def _symptom_dict(entry: SymptomEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "patient_id": entry.patient_id,
        "at": _iso(entry.at),
        "scores": {symptom.value: score for symptom, score in entry.scores.items()},
        "note": entry.note,
    }


def _lab_dict(entry: LabEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "patient_id": entry.patient_id,
        "taken": _iso(entry.taken),
        "analyte": entry.analyte.value,
        "value": entry.value,
        "unit": entry.unit,
        "normalised_value": entry.normalised_value,
        "normalised_unit": entry.normalised_unit,
        "upper_limit": entry.upper_limit,
        "lower_limit": entry.lower_limit,
    }


def _checkpoint_dict(item: Checkpoint) -> dict[str, Any]:
    return {
        "due": _iso(item.due),
        "kind": item.kind.value,
        "tests": list(item.tests),
        "text": item.text,
        "rule": item.rule,
        "sources": list(item.sources),
        "done_on": _iso(item.done_on),
        "overdue": item.overdue,
    }


def _status_dict(status: CourseStatus) -> dict[str, Any]:
    phase, nxt, adherence = status.phase, status.next_dose, status.adherence
    return {
        "course_id": status.course_id,
        "today": _iso(status.today),
        "state": status.state.value,
        "regimen_id": status.regimen_id,
        "phase": None
        if phase is None
        else {
            "index": phase.index,
            "name": phase.name,
            "kind": phase.kind.value,
            "ending": phase.ending.value,
            "text": phase.text,
            "slots_filled": phase.slots_filled,
            "doses_planned": phase.doses_planned,
            "ends_before": _iso(phase.ends_before),
            "until": phase.until,
            "provisional": phase.provisional,
        },
        "next_dose": None
        if nxt is None
        else {
            "due": _iso(nxt.due),
            "phase": nxt.phase,
            "kind": nxt.kind.value,
            "dose_mg": nxt.dose_mg,
            "product": nxt.product.value,
            "route": nxt.route.value,
            "provisional": nxt.provisional,
            "overdue_days": nxt.overdue_days,
            "volume_ml": nxt.volume_ml,
            "syringe_units": nxt.syringe_units,
            "site": nxt.site,
        },
        "overdue_days": status.overdue_days,
        "adherence": {
            "on_time": adherence.on_time,
            "late": adherence.late,
            "early": adherence.early,
            "skipped": adherence.skipped,
            "missed": adherence.missed,
            "unscheduled": adherence.unscheduled,
            "given": adherence.given,
            "due": adherence.due,
            "on_time_share": adherence.on_time_share,
        },
        "totals": {
            "doses": status.totals.doses,
            "injections": status.totals.injections,
            "mg": status.totals.mg,
            "ml": status.totals.ml,
        },
        "suggested_site": status.suggested_site,
        "reviews": [_checkpoint_dict(c) for c in status.reviews],
        "checkpoints": [_checkpoint_dict(c) for c in status.checkpoints],
        "upcoming": [dose_to_dict(d) for d in status.upcoming],
        "alerts": [alert_to_dict(a) for a in status.alerts],
        "last_dose": _iso(status.last_dose),
        "stopped_on": _iso(status.stopped_on),
    }


def _page(
    request: Request, items: Sequence[Any], limit: int, offset: int, to_dict: Callable[[Any], Any]
) -> dict[str, Any]:
    """One page of ``items``, with the address of the next page (a path and query, no host) or None."""
    following = offset + limit
    nxt = None
    if following < len(items):
        query = {**request.query_params, "limit": str(limit), "offset": str(following)}
        nxt = f"{request.url.path}?{urlencode(query)}"
    return {
        "items": [to_dict(item) for item in items[offset:following]],
        "total": len(items),
        "limit": limit,
        "offset": offset,
        "next": nxt,
    }


# --- reading a course with its patient ---------------------------------------------------------------------


def _history(uow: UnitOfWork, actor: Account, course_id: str) -> tuple[History, PatientRecord]:
    """The course's facts and its patient, if the account may see them (else NotAllowedError, as services)."""
    return services_tracking.visible_course(uow, actor, course_id)


def _people(uow: UnitOfWork, history: History) -> dict[str, str]:
    """Names of the accounts a summary mentions (who created, gave, amended)."""
    ids = {history.course.created_by, *(d.given_by for d in history.doses), *(a.by for a in history.amendments)}
    names = {}
    for account_id in ids:
        account = uow.accounts.account(account_id)
        if account is not None:
            names[account_id] = account.name
    return names


def _followups(status: CourseStatus, today: date, until: date) -> list[FollowUp]:
    """Reviews and blood tests still to do, as calendar entries."""
    return [
        FollowUp(c.due, FollowUpKind(c.kind.value), c.tests, c.text, c.rule, c.sources)
        for c in (*status.reviews, *status.checkpoints)
        if c.done_on is None and today <= c.due <= until
    ]


# --- authentication ----------------------------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token created on the web app's token page (/account/tokens): `Authorization: Bearer b12_…`",
)


def _actor(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Account:
    """The account of the request's bearer token (401 without a usable one)."""
    if credentials is None:
        raise _UnauthorizedError(
            "send a bearer token (Authorization: Bearer b12_…); create one on the web app's token page",
            invalid=False,
        )
    deps: ApiDeps = request.app.state.deps
    account = authenticate(deps.uow_factory(), credentials.credentials, tokens=deps.tokens)
    if account is None:
        raise _UnauthorizedError("this token is not known or has been revoked", invalid=True)
    return account


Actor = Annotated[Account, Depends(_actor)]


# --- the app ---------------------------------------------------------------------------------------------

PatientId = Annotated[str, Path(min_length=1, max_length=64, description="a patient record's id")]
CourseId = Annotated[str, Path(min_length=1, max_length=64, description="a course's id")]
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description="how many items per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="how many items to skip")]

TAGS = [
    {"name": "calculations", "description": "Stateless: conversions, interpretations, plans, comparisons. No token."},
    {"name": "account", "description": "The account a token acts for."},
    {"name": "patients", "description": "Patient records: a clinician's patients, or a patient's own record."},
    {"name": "courses", "description": "Courses of treatment started from a plan, and their status."},
    {"name": "records", "description": "Facts recorded on a course or a patient: doses, skips, symptoms, labs."},
    {"name": "downloads", "description": "A course's calendar (.ics) and printable clinician summary (PDF)."},
]

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    CaseInput,
    m.ConvertRequest,
    m.CompareRequest,
    m.PatientRequest,
    m.CourseRequest,
    m.DoseRequest,
    m.SkipRequest,
    m.SymptomRequest,
    m.LabRequest,
)


def _body_doc(model: type[BaseModel], description: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def api_app(deps: ApiDeps) -> FastAPI:
    """The API as an app of its own, to mount at :data:`API_PREFIX` (see the module docstring)."""
    app = FastAPI(
        title="b12 API",
        version=b12.__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # Routing errors (an unknown address, a method the address does not take) as problem documents too.
        exception_handlers={HTTPException: _routing_problem},
        generate_unique_id_function=lambda route: route.name,  # operationId: the function's name
    )
    app.state.deps = deps
    router = app.router  # routes of its own (not an included router), so that app.routes lists them
    router.route_class = _ProblemRoute

    def uow() -> UnitOfWork:
        return deps.uow_factory()

    # --- stateless -------------------------------------------------------------------------------------

    @router.post(
        "/convert",
        tags=["calculations"],
        response_model=m.ConvertResult,
        openapi_extra=_body_doc(m.ConvertRequest),
    )
    async def convert(request: Request) -> Response:
        """Convert a dose or a lab value between units (mcg/mg, pg/mL = ng/L <-> pmol/L with the analyte, …)."""
        body = _body(m.ConvertRequest, await _raw_body(request))
        analyte = body.analyte.value if body.analyte is not None else None
        result = convert_units(body.value, body.from_unit, body.to_unit, analyte=analyte)
        used = molar_mass(analyte) if analyte is not None else None
        return _JSON(
            {
                "value": result.value,
                "unit": result.unit.symbol,
                "ucum": result.unit.ucum,
                "text": f"{body.value:g} {body.from_unit.strip()} = {result}",
                "from_value": body.value,
                "from_unit": body.from_unit.strip(),
                "analyte": analyte,
                "molar_mass_g_per_mol": used,
                "molar_basis": molar_basis(analyte) if used is not None and analyte is not None else None,
            }
        )

    @router.post(
        "/interpret",
        tags=["calculations"],
        response_model=m.InterpretationResult,
        openapi_extra=_body_doc(CaseInput, "a case in b12's case format (docs/case-format.md)"),
    )
    async def interpret(request: Request) -> Response:
        """Interpret a case's results against its threshold set: status, findings, tests to do next, alerts."""
        interpretation = services.interpret_case(_case(_json(await _raw_body(request))))
        data = interpretation_to_dict(interpretation)
        data["alerts"] = [alert_to_dict(a) for a in interpretation.alerts]
        return _JSON(data)

    @router.post(
        "/plan",
        tags=["calculations"],
        response_model=m.PlanOut,
        openapi_extra=_body_doc(CaseInput, "a case in b12's case format (docs/case-format.md)"),
    )
    async def plan(request: Request) -> Response:
        """The plan for a case: interpretation, regimen, dated schedule with totals, follow-ups, safety alerts."""
        return _JSON(plan_to_dict(services.plan_case(_case(_json(await _raw_body(request))))))

    @router.post(
        "/compare",
        tags=["calculations"],
        response_model=m.ComparisonOut,
        openapi_extra=_body_doc(m.CompareRequest),
    )
    async def compare(request: Request) -> Response:
        """Regimens side by side over the same first year: injections, mg, switch date, estimated retained."""
        body = _body(m.CompareRequest, await _raw_body(request))
        guideline = body.guideline.value if body.guideline is not None else None
        return _JSON(comparison_to_dict(services.compare_regimens(body.start, body.regimens, guideline)))

    # --- account and patients --------------------------------------------------------------------------

    @router.get("/me", tags=["account"], response_model=m.AccountOut)
    def me(account: Actor) -> dict[str, Any]:
        """The account this token acts for."""
        return _account_dict(account)

    @router.get("/patients", tags=["patients"], response_model=m.PatientList)
    def list_patients(
        request: Request, account: Actor, limit: Limit = PAGE_DEFAULT, offset: Offset = 0
    ) -> dict[str, Any]:
        """A clinician's patients by name; for a patient, their own record."""
        with uow() as work:
            if account.role is Role.CLINICIAN:
                patients = list(work.accounts.patients_of(account.id))
            else:
                own = work.accounts.patient(account.patient_id) if account.patient_id else None
                patients = [own] if own is not None and can_see_patient(account, own) else []
        return _page(request, patients, limit, offset, _patient_dict)

    @router.post(
        "/patients",
        tags=["patients"],
        status_code=201,
        response_model=m.PatientOut,
        openapi_extra=_body_doc(m.PatientRequest),
    )
    def create_patient(response: Response, account: Actor, raw: RawBody) -> dict[str, Any]:
        """A clinician creates the record of a patient they look after."""
        # The role before the body, so that a patient's badly formed body is a 404 too, not a 422.
        if account.role is not Role.CLINICIAN:
            raise NotAllowedError(account.id, "patient", "new", "create")
        body = _body(m.PatientRequest, raw)
        patient = services_tracking.create_patient(
            uow(),
            deps.clock,
            account,
            body.name,
            body.sex,
            birth_date=body.birth_date,
            pregnant=body.pregnant,
            breastfeeding=body.breastfeeding,
            audit_detail={"source": "api"},
        )
        response.headers["Location"] = f"{API_PREFIX}/patients/{patient.id}"
        return _patient_dict(patient)

    @router.get("/patients/{patient_id}", tags=["patients"], response_model=m.PatientOut)
    def get_patient(account: Actor, patient_id: PatientId) -> dict[str, Any]:
        """One patient record."""
        with uow() as work:
            patient = work.accounts.patient(patient_id)
        if patient is None or not can_see_patient(account, patient):
            raise NotAllowedError(account.id, "patient", patient_id)
        return _patient_dict(patient)

    # --- courses ---------------------------------------------------------------------------------------

    @router.get("/patients/{patient_id}/courses", tags=["courses"], response_model=m.CourseList)
    def list_courses(
        request: Request, account: Actor, patient_id: PatientId, limit: Limit = PAGE_DEFAULT, offset: Offset = 0
    ) -> dict[str, Any]:
        """The patient's courses, by start date."""
        courses = services_tracking.courses_of_patient(uow(), account, patient_id)
        return _page(request, courses, limit, offset, _course_dict)

    @router.post(
        "/patients/{patient_id}/courses",
        tags=["courses"],
        status_code=201,
        response_model=m.CourseOut,
        openapi_extra=_body_doc(m.CourseRequest),
    )
    def create_course(response: Response, account: Actor, patient_id: PatientId, raw: RawBody) -> dict[str, Any]:
        """A clinician starts the schedule of the plan for a case as a course for one of their patients."""
        if account.role is not Role.CLINICIAN:
            raise NotAllowedError(account.id, "patient", patient_id, "start a course for")
        body = _body(m.CourseRequest, raw)
        plan = services.plan_case(_case(body.case, "case"))
        sites = body.sites or DEFAULT_SITES
        course = services_tracking.start_course_from_plan(uow(), deps.clock, account, patient_id, plan, sites=sites)
        response.headers["Location"] = f"{API_PREFIX}/courses/{course.id}"
        return _course_dict(course)

    @router.get("/courses/{course_id}", tags=["courses"], response_model=m.CourseOut)
    def get_course(account: Actor, course_id: CourseId) -> dict[str, Any]:
        """One course: its guideline, regimen and phases as prescribed."""
        with uow() as work:
            history, _ = _history(work, account, course_id)
        return _course_dict(history.course)

    @router.get("/courses/{course_id}/status", tags=["courses"], response_model=m.StatusOut)
    def get_status(account: Actor, course_id: CourseId) -> dict[str, Any]:
        """The course's status today, recomputed from its facts: phase, next dose, adherence, reviews, alerts."""
        return _status_dict(services_tracking.status(uow(), deps.clock, account, course_id))

    # --- records ---------------------------------------------------------------------------------------

    def _facts(account: Account, course_id: str) -> History:
        with uow() as work:
            history, _ = _history(work, account, course_id)
        return history

    @router.get("/courses/{course_id}/doses", tags=["records"], response_model=m.DoseList)
    def list_doses(
        request: Request, account: Actor, course_id: CourseId, limit: Limit = PAGE_DEFAULT, offset: Offset = 0
    ) -> dict[str, Any]:
        """Doses given on the course, oldest first."""
        return _page(request, _facts(account, course_id).doses, limit, offset, _dose_dict)

    @router.post(
        "/courses/{course_id}/doses",
        tags=["records"],
        status_code=201,
        response_model=m.DoseOut,
        openapi_extra=_body_doc(m.DoseRequest),
    )
    def record_dose(account: Actor, course_id: CourseId, raw: RawBody) -> dict[str, Any]:
        """Record a dose given (by default now, the dose due, its product and route)."""
        body = _body(m.DoseRequest, raw)
        dose = services_tracking.record_dose(
            uow(),
            deps.clock,
            account,
            course_id,
            at=body.at,
            dose=body.dose,
            site=body.site,
            batch=body.batch,
            expiry=body.expiry,
            reaction=body.reaction,
            note=body.note,
            given_by=body.given_by,
        )
        return _dose_dict(dose)

    @router.get("/courses/{course_id}/skips", tags=["records"], response_model=m.SkipList)
    def list_skips(
        request: Request, account: Actor, course_id: CourseId, limit: Limit = PAGE_DEFAULT, offset: Offset = 0
    ) -> dict[str, Any]:
        """Doses skipped on purpose, by due date."""
        return _page(request, _facts(account, course_id).skips, limit, offset, _skip_dict)

    @router.post(
        "/courses/{course_id}/skips",
        tags=["records"],
        status_code=201,
        response_model=m.SkipOut,
        openapi_extra=_body_doc(m.SkipRequest),
    )
    def skip_dose(account: Actor, course_id: CourseId, raw: RawBody) -> dict[str, Any]:
        """Skip the dose now due on purpose; the next one is counted from its due date."""
        body = _body(m.SkipRequest, raw)
        skip = services_tracking.skip_dose(uow(), deps.clock, account, course_id, due=body.due, reason=body.reason)
        return _skip_dict(skip)

    @router.get("/courses/{course_id}/symptoms", tags=["records"], response_model=m.SymptomList)
    def list_symptoms(
        request: Request, account: Actor, course_id: CourseId, limit: Limit = PAGE_DEFAULT, offset: Offset = 0
    ) -> dict[str, Any]:
        """The patient's symptom diary that the course's status reads, oldest first."""
        return _page(request, _facts(account, course_id).symptoms, limit, offset, _symptom_dict)

    @router.post(
        "/patients/{patient_id}/symptoms",
        tags=["records"],
        status_code=201,
        response_model=m.SymptomOut,
        openapi_extra=_body_doc(m.SymptomRequest),
    )
    def record_symptoms(account: Actor, patient_id: PatientId, raw: RawBody) -> dict[str, Any]:
        """Add a symptom diary entry (scores 0–10)."""
        body = _body(m.SymptomRequest, raw)
        entry = services_tracking.record_symptoms(
            uow(), deps.clock, account, patient_id, body.scores.scored(), at=body.at, note=body.note
        )
        return _symptom_dict(entry)

    @router.get("/courses/{course_id}/labs", tags=["records"], response_model=m.LabList)
    def list_labs(
        request: Request, account: Actor, course_id: CourseId, limit: Limit = PAGE_DEFAULT, offset: Offset = 0
    ) -> dict[str, Any]:
        """The patient's lab results that the course's status reads, by date taken."""
        return _page(request, _facts(account, course_id).labs, limit, offset, _lab_dict)

    @router.post(
        "/patients/{patient_id}/labs",
        tags=["records"],
        status_code=201,
        response_model=m.LabOut,
        openapi_extra=_body_doc(m.LabRequest),
    )
    def record_lab(account: Actor, patient_id: PatientId, raw: RawBody) -> dict[str, Any]:
        """Add a lab result as reported; it is normalised beside the value as reported."""
        body = _body(m.LabRequest, raw)
        entry = services_tracking.record_lab(
            uow(),
            deps.clock,
            account,
            patient_id,
            body.analyte,
            body.value,
            body.unit,
            taken=body.taken,
            upper_limit=body.upper_limit,
            lower_limit=body.lower_limit,
        )
        return _lab_dict(entry)

    # --- downloads -------------------------------------------------------------------------------------

    @router.get(
        "/courses/{course_id}/calendar.ics",
        tags=["downloads"],
        response_class=Response,
        responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}, "description": "iCalendar"}},
    )
    def calendar(
        account: Actor,
        course_id: CourseId,
        months: Annotated[int, Query(ge=1, le=24, description="how far ahead")] = CALENDAR_MONTHS,
    ) -> Response:
        """The course's doses due (and reviews and blood tests still to do) as an iCalendar file."""
        from b12.adapters.ical import course_calendar

        today = deps.clock.today()
        history = _facts(account, course_id)
        status = course_status(history, today, upcoming=CALENDAR_MAX_DOSES)
        until = today + timedelta(days=round(months * 30.44))
        doses = [d for d in status.upcoming if d.date <= until]
        text = course_calendar(
            history.course, doses, now=deps.clock.now(), followups=_followups(status, today, until), tz=deps.tz
        )
        filename = f"b12-course-{history.course.id[:12]}.ics"
        return Response(
            text,
            media_type="text/calendar",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.get(
        "/courses/{course_id}/summary.pdf",
        tags=["downloads"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {"schema": {"type": "string"}}}, "description": "PDF"}},
    )
    def summary_pdf(account: Actor, course_id: CourseId) -> Response:
        """A printable clinician summary of the course (A4 PDF)."""
        from b12.adapters.report import clinician_summary_pdf
        from b12.domain.guidelines import load_guideline

        with uow() as work:
            history, patient = _history(work, account, course_id)
            people = _people(work, history)
        thresholds = load_threshold_set(load_guideline(history.course.guideline).default_thresholds)
        pdf = clinician_summary_pdf(
            patient,
            history.course,
            course_status(history, deps.clock.today()),
            history,
            thresholds=thresholds,
            now=deps.clock.now(),
            people=people,
            tz=deps.tz,
        )
        filename = f"b12-summary-{history.course.id[:12]}.pdf"
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    return app


async def _routing_problem(request: Request, exc: Exception) -> Response:
    """An unknown address (404) or a method the address does not take (405, with every method it takes)."""
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        methods: set[str] = set()
        for route in request.app.routes:
            if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
                methods |= route.methods or set()
        exc = HTTPException(405, exc.detail, headers={"Allow": ", ".join(sorted(methods))})
    return _problem_for(request, exc)


class _PrefixMount(Mount):
    """A mount for every address under its prefix, whatever characters follow.

    Starlette's mount matches the rest of the address with ``.*``, which stops at a newline, so
    ``/api/v1/courses/%0A`` would fall through to the web app's HTML 404 page instead of the API's problem.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        root_path = scope.get("root_path", "")
        path: str = scope["path"]
        route_path = path[len(root_path) :] if root_path and path.startswith(root_path + "/") else path
        prefix = self.path.rstrip("/")
        if route_path != prefix and not route_path.startswith(prefix + "/"):
            return Match.NONE, {}
        return Match.FULL, {
            "path_params": dict(scope.get("path_params", {})),
            "app_root_path": scope.get("app_root_path", root_path),
            "root_path": root_path + prefix,
            "endpoint": self.app,
        }


# --- the OpenAPI document ----------------------------------------------------------------------------------

_ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("MalformedJson", "The body is not valid JSON"),
    401: ("Unauthorized", "No token, or a token that is not known or has been revoked"),
    404: ("NotFound", "Nothing there that this account may see or change (the two are not told apart)"),
    413: ("ContentTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes"),
    422: ("Unprocessable", "The request has values b12 cannot use; `errors` names each field"),
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """OpenAPI 3.1 of the API at its public paths (``/api/v1/…``), with every error response documented."""
    spec = get_openapi(
        title="b12 API",
        version=b12.__version__,
        openapi_version="3.1.0",
        summary="Vitamin B12 deficiency decision support: units, interpretation, guideline plans, tracking.",
        description=_DESCRIPTION,
        routes=app.routes,
        tags=TAGS,
    )
    spec["paths"] = {API_PREFIX + path: item for path, item in spec.get("paths", {}).items()}
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    _, requests = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS], ref_template="#/components/schemas/{model}"
    )
    _, problems = models_json_schema([(m.Problem, "serialization")], ref_template="#/components/schemas/{model}")
    for name, schema in {**requests["$defs"], **problems["$defs"]}.items():
        schema.pop("$schema", None)
        schemas[name] = schema
    problem_content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: dict[str, Any] = {}
    for name, description in _ERROR_RESPONSES.values():
        responses[name] = {"description": description, "content": problem_content}
    responses["Unauthorized"]["headers"] = {
        "WWW-Authenticate": {
            "description": 'the challenge, e.g. `Bearer realm="b12", error="invalid_token"` (RFC 6750)',
            "required": True,
            "schema": {"type": "string"},
        }
    }
    components["responses"] = responses
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)
            secured = bool(operation.get("security"))
            errors = set()
            if operation.get("parameters") or "requestBody" in operation:
                errors.add(422)
            if "requestBody" in operation:
                errors |= {400, 413}
            if secured:
                errors.add(401)
                if "{" in path or method != "get":
                    errors.add(404)
            for status in sorted(errors):
                answers[str(status)] = {"$ref": f"#/components/responses/{_ERROR_RESPONSES[status][0]}"}
            if operation.get("requestBody") and "201" in answers and "Location" in _LOCATED.get(path, ()):
                answers["201"]["headers"] = {
                    "Location": {"description": "the address of what was created", "schema": {"type": "string"}}
                }
    return spec


_LOCATED = {f"{API_PREFIX}/patients": ("Location",), f"{API_PREFIX}/patients/{{patient_id}}/courses": ("Location",)}

_DESCRIPTION = """\
b12 is decision support, not a prescriber: every plan comes from the guideline data named in it, every line
cites its rule and sources, and a clinician decides on treatment.

**Calculations** need no token. `POST /api/v1/plan` takes a case in b12's case format and answers the plan JSON
that `b12 plan --json` prints.

**Records** need a bearer token (`Authorization: Bearer b12_…`), created and revoked by its owner on the web
app's token page (`/account/tokens`). A token acts as its account: a patient sees only their own record, a
clinician the patients they look after. Anything else answers 404, as does something that does not exist.

**Errors** are `application/problem+json` (RFC 9457). `type` is `about:blank` for a plain HTTP error, or one of
`tag:b12.example.org,2026:problem:malformed-json` (400), `…:invalid-request` (422: the request breaks its
documented shape or the case format) and `…:refused` (422: b12's rules refuse it). `errors` lists each problem
with the `field` it concerns (`labs[0].unit`, `case.patient.sex`, `limit`). A body over 1 MB is refused (413).

**Lists** are pages: `limit` (1–100, default 20) and `offset`, with `total` and a `next` link (null on the last
page). Numbers are JSON numbers (`false` and `"1"` are not numbers), dates `YYYY-MM-DD`, times RFC 3339.
"""


# --- docs and the router the composition root includes --------------------------------------------------

_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>b12 API</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" href="{icon}" type="image/svg+xml">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<noscript>The interactive documentation needs JavaScript; the API itself is described at {openapi}.</noscript>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""


def api_router(deps: ApiDeps) -> APIRouter:
    """What the composition root includes (``app.include_router(api_router(deps))``): the API mounted at
    ``/api/v1``, ``/openapi.json``, ``/docs``, and the web app's token pages."""
    from b12.adapters.web.routes import tokens

    api = api_app(deps)
    router = APIRouter()
    router.routes.append(_PrefixMount(API_PREFIX, app=api, name="api"))
    cached: dict[str, Any] = {}

    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        """The API's OpenAPI 3.1 document."""
        if "spec" not in cached:
            cached["spec"] = openapi_document(api)
        return _JSON(cached["spec"])

    @router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        """Swagger UI on the app's own static files (no CDN), within the app's content security policy."""

        def static(path: str) -> str:
            return f"{request.app.url_path_for('static', path=path)}?v={b12.__version__}"

        page = _DOCS_PAGE.format(
            css=static("swagger-ui/swagger-ui.css"),
            icon=static("favicon.svg"),
            openapi=request.app.url_path_for("openapi"),
            bundle=static("swagger-ui/swagger-ui-bundle.js"),
            init=static("swagger-ui/b12-docs.js"),
        )
        return HTMLResponse(page)

    router.include_router(tokens.router)
    return router
