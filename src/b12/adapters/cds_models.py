"""CDS Hooks 2.0 bodies as pydantic models: discovery, request, response (cards, suggestions, actions, links) and
feedback, with the invariants of the HL7 CDS Hooks IG (``input/fsh/invariants``) enforced by validators.

Field names are snake_case in Python and camelCase on the wire (``hookInstance``, ``selectionBehavior``), except
``fhirAuthorization``, whose fields are OAuth 2.0 names (``access_token``, ``token_type``, ``expires_in``). Dump
with :func:`to_json` (aliases on, ``None`` left out): the specification forbids ``null`` for an absent optional
element ("OPTIONAL JSON attributes are omitted if no value is available").

Invariants, quoted from the IG at the line that enforces them:

- cds-resp-1: "(selectionBehavior = 'at-most-one') implies suggestions.where(isRecommended).count() <= 1"
- cds-resp-2: "(type = 'delete') implies (resourceId.exists() && resource.empty())"
- cds-resp-3: "(type != 'smart') implies (appContext.empty())"
- cds-resp-4: "overrideReasons.all(display.exists())"
- cds-resp-5: "actions.all(description.exists())" (on a card's suggestions; a system action may omit it)
- cds-resp-6: "suggestions.exists() implies selectionBehavior.exists()"
- cds-r-1: "fhirAuthorization.exists() implies fhirServer.exists()"
- cds-fb-2: "(outcome = 'accepted') implies acceptedSuggestions.exists()"; cds-fb-3: an override reason has a
  reason, a userComment, or both.

Requests ignore fields they do not know (forward compatibility, ``extension``); responses forbid them, so a typo
in a card b12 builds fails its tests instead of reaching an EHR. cds-hooks/cds-validator's card schema is not used:
it still lists ``hard-stop`` and rejects ``uuid``, ``selectionBehavior`` and ``overrideReasons``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

__all__ = [
    "AcceptedSuggestion",
    "Action",
    "Card",
    "CdsError",
    "CdsRequest",
    "CdsResponse",
    "Coding",
    "Discovery",
    "Feedback",
    "FeedbackReceipt",
    "FeedbackRecord",
    "FeedbackRequest",
    "FhirAuthorization",
    "Link",
    "OrderCheckRequest",
    "OrderSelectContext",
    "OrderSelectRequest",
    "OrderSignContext",
    "OrderSignRequest",
    "OverrideReason",
    "PatientViewContext",
    "PatientViewRequest",
    "Problem",
    "ServiceDefinition",
    "Source",
    "Suggestion",
    "to_json",
]

Indicator = Literal["info", "warning", "critical"]
SelectionBehavior = Literal["at-most-one", "any"]
ActionType = Literal["create", "update", "delete"]
LinkType = Literal["absolute", "smart"]

# A FHIR id ("[A-Za-z0-9\-\.]{1,64}"), and a relative reference to one resource.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
USER_REFERENCE = re.compile(r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$")
# An http(s) base URL in printable ASCII (an international domain name arrives in its xn-- form).
SERVER_URL = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/([A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*)?$"
)
SUMMARY_MAX = 139  # "One-sentence, <140-character summary message"

# "Unless otherwise specified, JSON attribute values SHALL NOT be null or empty"
Text = Annotated[str, StringConstraints(min_length=1)]


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; either is accepted on input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class _Incoming(_Wire):
    model_config = ConfigDict(extra="ignore")


def _unicode(data: Any) -> Any:
    """JSON text may escape lone surrogates (``"\\ud800"``), which are not Unicode: refuse them at the door, or
    they would fail later, when echoed in a card or stored."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the body holds text that is not valid Unicode (a lone surrogate)") from None
    except (TypeError, ValueError):
        pass  # not JSON data: the field validators say what is wrong
    return data


def _without_null(schema: dict[str, Any]) -> None:
    """Optional elements are left out, never ``null``: say so in the JSON schema of what b12 sends."""
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf")
        if not isinstance(options, list) or {"type": "null"} not in options:
            continue
        rest = [o for o in options if o != {"type": "null"}]
        del prop["anyOf"]
        prop.pop("default", None)
        if len(rest) == 1:
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest


class _Outgoing(_Wire):
    """What b12 sends: absent optional elements are omitted (:func:`to_json`), so the schema has no nulls."""

    model_config = ConfigDict(json_schema_extra=_without_null)


def to_json(model: BaseModel) -> dict[str, Any]:
    """The wire form: camelCase names, absent optional elements left out (never ``null``)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _absolute_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an absolute http(s) URL, not {value!r}")
    return value


# --- shared ---------------------------------------------------------------------------------------------


class Coding(_Wire):
    """CDS Hooks' own trimmed Coding: ``code`` and ``system`` required, ``display`` conditional."""

    code: Text
    system: Text
    display: str | None = Field(default=None, min_length=1)


class Problem(BaseModel):
    """One thing wrong with a request, with where it is (``context.draftOrders.entry[0].resource``)."""

    path: str
    message: str


class CdsError(BaseModel):
    """The JSON body of every 4xx answer: what went wrong, and each problem with its path."""

    model_config = ConfigDict(json_schema_extra=_without_null)

    error: str
    problems: list[Problem] = Field(default_factory=list)
    missing_prefetch: list[str] | None = Field(default=None, serialization_alias="missingPrefetch")


# --- discovery ------------------------------------------------------------------------------------------


class ServiceDefinition(_Outgoing):
    hook: Text
    title: str | None = None
    description: Text
    id: Text
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = None

    @field_validator("prefetch")
    @classmethod
    def _templates(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        # Tokens are "{{context.<root-level field>}}" or one of the user identifiers; the outdated
        # "{{Patient.id}}" form of CDS Hooks 1.0 drafts is refused.
        for key, template in (value or {}).items():
            for token in re.findall(r"{{\s*([^}]*?)\s*}}", template):
                user = token in ("userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId")
                if not user and not re.fullmatch(r"context\.[A-Za-z][A-Za-z0-9]*", token):
                    raise ValueError(f"prefetch {key}: {{{{{token}}}}} is not a CDS Hooks 2.0 prefetch token")
        return value


class Discovery(_Outgoing):
    services: list[ServiceDefinition]


# --- request --------------------------------------------------------------------------------------------


class FhirAuthorization(BaseModel):
    """OAuth 2.0 names on the wire, as the specification spells them."""

    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(pattern=r"^[\x21-\x7e]+$")  # sent back in an Authorization header: visible ASCII
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: Text
    subject: Text
    patient: str | None = Field(default=None, pattern=FHIR_ID.pattern)

    @field_validator("expires_in", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # A JSON integer (1.0 is one too), never a string or a boolean that lax parsing would turn into one.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expires_in must be a whole number of seconds")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("expires_in must be a whole number of seconds")
        return int(value)


# cds-r-1 in the OpenAPI schema too: a fhirAuthorization (not null) requires a fhirServer (a string).
_CDS_R_1_SCHEMA: JsonDict = {
    "if": {"required": ["fhirAuthorization"], "properties": {"fhirAuthorization": {"type": "object"}}},
    "then": {"required": ["fhirServer"], "properties": {"fhirServer": {"type": "string"}}},
}
# A prefetch value is a FHIR resource, or null for "no data".
_PREFETCH_SCHEMA: JsonDict = {
    "additionalProperties": {
        "anyOf": [
            {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"type": "string"}}},
            {"type": "null"},
        ]
    }
}


class _Request(_Incoming):
    """The fields every hook's request has; ``hook`` and ``context`` are typed by the subclasses."""

    model_config = ConfigDict(json_schema_extra=_CDS_R_1_SCHEMA)

    hook_instance: UUID
    fhir_server: str | None = Field(default=None, pattern=SERVER_URL.pattern, json_schema_extra={"format": "uri"})
    fhir_authorization: FhirAuthorization | None = None
    prefetch: dict[str, dict[str, Any] | None] | None = Field(default=None, json_schema_extra=_PREFETCH_SCHEMA)
    extension: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _unicode(data)

    @field_validator("fhir_server")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_url(value, "fhirServer")

    @field_validator("prefetch")
    @classmethod
    def _resources(cls, value: dict[str, dict[str, Any] | None] | None) -> dict[str, dict[str, Any] | None] | None:
        for key, resource in (value or {}).items():
            if resource is not None and not isinstance(resource.get("resourceType"), str):
                raise ValueError(f"prefetch {key}: a FHIR resource (with its resourceType) or null")
        return value

    @model_validator(mode="after")
    def _cds_r_1(self) -> Self:
        # cds-r-1: "fhirAuthorization.exists() implies fhirServer.exists()"
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("cds-r-1: if fhirAuthorization details are provided, a fhirServer SHALL be specified")
        return self


class CdsRequest(_Request):
    """Any hook's request, its context left as an object (the hook-specific models below type it)."""

    hook: Text
    context: dict[str, Any]


class _Context(_Incoming):
    user_id: str = Field(pattern=USER_REFERENCE.pattern)
    patient_id: str = Field(pattern=FHIR_ID.pattern)
    encounter_id: str | None = Field(default=None, pattern=FHIR_ID.pattern)


class PatientViewContext(_Context):
    """``patient-view``: userId may be a Patient or RelatedPerson too, so a patient-facing app can call it."""


_BUNDLE_SCHEMA: JsonDict = {"required": ["resourceType"], "properties": {"resourceType": {"const": "Bundle"}}}


class OrderSignContext(_Context):
    draft_orders: dict[str, Any] = Field(json_schema_extra=_BUNDLE_SCHEMA)

    @field_validator("draft_orders")
    @classmethod
    def _bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        return value


class OrderSelectContext(OrderSignContext):
    # Relative references such as "MedicationRequest/103".
    selections: list[Annotated[str, StringConstraints(pattern=RELATIVE_REFERENCE.pattern)]] = Field(min_length=1)


class PatientViewRequest(_Request):
    hook: Literal["patient-view"]
    context: PatientViewContext


class OrderSignRequest(_Request):
    hook: Literal["order-sign"]
    context: OrderSignContext


class OrderSelectRequest(_Request):
    hook: Literal["order-select"]
    context: OrderSelectContext


OrderCheckRequest = Annotated[OrderSelectRequest | OrderSignRequest, Field(discriminator="hook")]


# --- response -------------------------------------------------------------------------------------------


class Source(_Outgoing):
    label: Text
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    @field_validator("url", "icon")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_url(value, "source url/icon")


class Action(_Outgoing):
    type: ActionType
    description: str | None = Field(default=None, min_length=1)
    resource: dict[str, Any] | None = None
    resource_id: str | None = Field(default=None, pattern=RELATIVE_REFERENCE.pattern)

    @model_validator(mode="after")
    def _cds_resp_2(self) -> Self:
        if self.type == "delete":
            # cds-resp-2: "(type = 'delete') implies (resourceId.exists() && resource.empty())"
            if self.resource_id is None or self.resource is not None:
                raise ValueError("cds-resp-2: a delete action needs a resourceId and no resource")
        elif self.resource is None or not isinstance(self.resource.get("resourceType"), str):
            # Spec: "When the type attribute is create, the resource attribute SHALL contain a new FHIR resource
            # to be created. For update, this holds the updated resource in its entirety".
            raise ValueError(f"a {self.type} action needs the whole FHIR resource (with its resourceType)")
        return self


class Suggestion(_Outgoing):
    label: Text
    uuid: UUID | None = None
    is_recommended: StrictBool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)
    action_selection_behavior: Literal["all", "any", "at-most-one"] | None = None

    @model_validator(mode="after")
    def _cds_resp_5(self) -> Self:
        # cds-resp-5: "actions.all(description.exists())"
        if any(action.description is None for action in self.actions or ()):
            raise ValueError("cds-resp-5: every action of a suggestion needs a description")
        return self


class Link(_Outgoing):
    label: Text
    url: Text
    type: LinkType
    app_context: str | None = Field(default=None, min_length=1)
    autolaunchable: StrictBool | None = None

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return _absolute_url(value, "link url")

    @model_validator(mode="after")
    def _cds_resp_3(self) -> Self:
        # cds-resp-3: "(type != 'smart') implies (appContext.empty())"
        if self.type != "smart" and self.app_context is not None:
            raise ValueError("cds-resp-3: appContext is only for smart links")
        return self


class Card(_Outgoing):
    uuid: UUID | None = None
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX)
    detail: str | None = Field(default=None, min_length=1)
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selection_behavior: SelectionBehavior | None = None
    override_reasons: list[Coding] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _invariants(self) -> Self:
        suggestions = self.suggestions or []
        # cds-resp-6: "suggestions.exists() implies selectionBehavior.exists()"
        if suggestions and self.selection_behavior is None:
            raise ValueError("cds-resp-6: a card with suggestions needs a selectionBehavior")
        # cds-resp-1: "(selectionBehavior = 'at-most-one') implies suggestions.where(isRecommended).count() <= 1"
        if self.selection_behavior == "at-most-one" and sum(bool(s.is_recommended) for s in suggestions) > 1:
            raise ValueError("cds-resp-1: with selectionBehavior at-most-one, at most one suggestion is recommended")
        # cds-resp-4: "overrideReasons.all(display.exists())"
        if any(reason.display is None for reason in self.override_reasons or ()):
            raise ValueError("cds-resp-4: every override reason needs a display")
        return self


class CdsResponse(_Outgoing):
    cards: list[Card]  # always present, even empty
    system_actions: list[Action] | None = Field(default=None, min_length=1)


# --- feedback -------------------------------------------------------------------------------------------


class AcceptedSuggestion(_Incoming):
    id: str = Field(min_length=1, max_length=128)


# cds-fb-2 and cds-fb-3 in the OpenAPI schema too (null counts as absent, as the validators read it).
_CDS_FB_2_SCHEMA: JsonDict = {
    "if": {"properties": {"outcome": {"const": "accepted"}}},
    "then": {"required": ["acceptedSuggestions"], "properties": {"acceptedSuggestions": {"type": "array"}}},
}
_CDS_FB_3_SCHEMA: JsonDict = {
    "anyOf": [
        {"required": ["reason"], "properties": {"reason": {"type": "object"}}},
        {"required": ["userComment"], "properties": {"userComment": {"type": "string"}}},
    ]
}


class OverrideReason(_Incoming):
    model_config = ConfigDict(json_schema_extra=_CDS_FB_3_SCHEMA)

    reason: Coding | None = None
    user_comment: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _cds_fb_3(self) -> Self:
        # cds-fb-3: "reason.exists() or userComment.exists()"
        if self.reason is None and self.user_comment is None:
            raise ValueError("cds-fb-3: an overrideReason needs a reason, a userComment, or both")
        return self


# A user acted on a card: the moment is after 1900 (a plausibility bound that also keeps UTC conversion exact).
_RECENT = re.compile(r"^(19|[2-9][0-9])[0-9]{2}-")


class Feedback(_Incoming):
    model_config = ConfigDict(json_schema_extra=_CDS_FB_2_SCHEMA)

    card: str = Field(min_length=1, max_length=128)
    outcome: Literal["accepted", "overridden"]  # cds-fb-1
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(default=None, min_length=1)
    override_reason: OverrideReason | None = None
    outcome_timestamp: AwareDatetime = Field(json_schema_extra={"pattern": _RECENT.pattern})

    @field_validator("outcome_timestamp", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # "ISO timestamp in UTC": a string, not a number of seconds that lax parsing would accept.
        if not isinstance(value, str | datetime):
            raise ValueError("outcomeTimestamp must be an ISO 8601 date-time string")
        if isinstance(value, str) and not _RECENT.match(value):
            raise ValueError("outcomeTimestamp must be a date-time from 1900 on")
        return value

    @field_validator("outcome_timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("outcomeTimestamp is not a date-time that can be given in UTC") from None

    @model_validator(mode="after")
    def _cds_fb_2(self) -> Self:
        # cds-fb-2: "(outcome = 'accepted') implies acceptedSuggestions.exists()"
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("cds-fb-2: an accepted outcome needs acceptedSuggestions")
        return self


class FeedbackReceipt(BaseModel):
    """The 200 answer to feedback: how many items were stored."""

    stored: int


class FeedbackRequest(_Incoming):
    feedback: list[Feedback] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _unicode(data)


# --- stored feedback ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One feedback item as b12 keeps it (append-only): the item, which service it was for, and when it came.

    ``hook_instance`` is the call that issued the card when b12 still knows it (feedback bodies do not carry it);
    ``override_reason`` keeps the reason Coding and user comment as received, in their wire names.
    """

    id: str
    service_id: str
    hook_instance: str | None
    card: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    override_reason: Mapping[str, Any] | None
    outcome_at: datetime
    received_at: datetime

    def __post_init__(self) -> None:
        for name in ("outcome_at", "received_at"):
            moment = getattr(self, name)
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"{name} must be an aware date-time")
        if self.outcome not in ("accepted", "overridden"):
            raise ValueError(f"outcome {self.outcome!r} is not accepted or overridden")
