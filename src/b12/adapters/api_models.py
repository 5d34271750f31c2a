"""The REST API's bodies: strict request models, response models, and the problem document (RFC 9457).

Request models are strict and validated from the JSON text (``model_validate_json``): ``false`` is not a number,
``"1"`` is not a number, a whole number is accepted where a decimal is expected, dates are ``YYYY-MM-DD`` strings,
enumerations are matched exactly, and unknown keys are errors. The case format itself (``/plan``, ``/interpret``,
courses) is :class:`b12.adapters.case_json.CaseInput`, read by :func:`b12.adapters.case_json.case_from_json`.

Response models describe what the routes answer, for the OpenAPI document and for the tests (schemathesis checks
every response against them); they forbid unknown keys, so a key added to an answer without its model fails the
tests instead of going undocumented. The plan, interpretation and comparison models mirror the plan JSON contract
(``docs/plan.schema.json``, made by :mod:`b12.adapters.plan_json`); a test keeps the two in step.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from b12.adapters.case_json import GuidelineId
from b12.domain.accounts import Role
from b12.domain.analytes import Analyte
from b12.domain.case import Sex
from b12.domain.tracking import TrackedSymptom

__all__ = [
    "AccountOut",
    "CompareRequest",
    "ComparisonOut",
    "ConvertRequest",
    "ConvertResult",
    "CourseList",
    "CourseOut",
    "CourseRequest",
    "DoseList",
    "DoseOut",
    "DoseRequest",
    "FieldProblem",
    "InterpretationResult",
    "LabList",
    "LabOut",
    "LabRequest",
    "PatientList",
    "PatientOut",
    "PatientRequest",
    "PlanOut",
    "Problem",
    "SkipList",
    "SkipOut",
    "SkipRequest",
    "StatusOut",
    "SymptomList",
    "SymptomOut",
    "SymptomRequest",
]

SHORT_TEXT = 100  # as services_tracking: sites, batches, names of who gave a dose
LONG_TEXT = 2000  # notes, reasons, reactions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


Text = Annotated[str, Field(min_length=1, max_length=SHORT_TEXT, pattern=r"\S")]
LongText = Annotated[str, Field(min_length=1, max_length=LONG_TEXT, pattern=r"\S")]
Positive = Annotated[float, Field(gt=0)]
SourceIds = list[Annotated[str, Field(pattern=r"^S[0-9]+[a-z]?$")]]
Pair = Annotated[tuple[float, float], Field(description="[low, high]")]


# --- problems (RFC 9457) ----------------------------------------------------------------------------------


class FieldProblem(_Out):
    """One problem with one field of the request."""

    field: str = Field(
        description="where: a body path such as `labs[0].unit` or `case.patient.sex`, or a query parameter's name",
        examples=["labs[0].unit"],
    )
    message: str = Field(description="what is wrong, in plain English")


class Problem(_Out):
    """An error, as ``application/problem+json`` (RFC 9457)."""

    type: str = Field(description="a URI identifying the kind of problem; `about:blank` for a plain HTTP error")
    title: str = Field(description="a short summary of the kind of problem")
    status: int = Field(ge=400, le=599, description="the HTTP status code")
    detail: str = Field(description="what went wrong with this request")
    instance: str = Field(description="the path of the request")
    errors: list[FieldProblem] = Field(description="every problem found, each naming its field (may be empty)")


# --- stateless ----------------------------------------------------------------------------------------------


class ConvertRequest(_Strict):
    """A value and its unit, and the unit wanted."""

    value: Positive = Field(description="the number to convert, greater than 0", examples=[250])
    from_unit: Text = Field(description="its unit, e.g. mcg, pg/mL, g/dL", examples=["pg/mL"])
    to_unit: Text = Field(description="the unit wanted, e.g. mg, pmol/L, g/L", examples=["pmol/L"])
    analyte: Analyte | None = Field(
        default=None, description="needed for a weight <-> amount conversion (its molar mass), e.g. b12_total"
    )


class ConvertResult(_Out):
    value: float = Field(description="the converted value")
    unit: str = Field(description="its unit, as b12 writes it")
    ucum: str = Field(description="the unit's UCUM code")
    text: str = Field(description="the conversion in one line, e.g. `250 pg/mL = 184.5 pmol/L`")
    from_value: float
    from_unit: str
    analyte: Analyte | None
    molar_mass_g_per_mol: float | None = Field(
        description="the molar mass the weight <-> amount conversion amounts to (total B12: 1000 / 0.738)"
    )
    molar_basis: str | None = Field(
        description="what that conversion uses: REFERENCE's factor where it gives one (`pg/mL × 0.738 = pmol/L`), "
        "else `molar mass … g/mol`"
    )


class CompareRequest(_Strict):
    """Regimens to compare over the same first year."""

    start: date = Field(description="first day, YYYY-MM-DD", examples=["2026-01-05"])
    regimens: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        min_length=2,
        max_length=10,
        description="two or more regimen IDs (`UK-IM-NN`), or qualified by guideline (`uk:UK-IM-NN`)",
        examples=[["UK-IM-NN", "US-FDA-CN"]],
    )
    guideline: GuidelineId | None = Field(default=None, description="where to look a bare regimen ID up first")


# The plan JSON contract (docs/plan.schema.json).


class GuidelineOut(_Out):
    id: str
    version: str
    title: str
    sources: SourceIds


class ThresholdSetOut(_Out):
    id: str
    version: str
    title: str
    boundary_rule: str = Field(description="how a value exactly on a threshold is read")


class FindingOut(_Out):
    code: str = Field(description="a stable machine-readable code")
    message: str
    rule: str | None
    sources: SourceIds


class NextTestOut(_Out):
    test: str
    reason: str
    rule: str
    sources: SourceIds


class NormalisedOut(_Out):
    test: str
    value: float
    unit: str
    original_value: float
    original_unit: str
    other_value: float | None
    other_unit: str | None
    band: str | None
    status: str | None
    date: date | None


class InterpretationOut(_Out):
    status: Literal["confirmed", "indeterminate", "unlikely", "not_assessable"]
    threshold_set: ThresholdSetOut
    findings: list[FindingOut]
    next_tests: list[NextTestOut]
    normalised: list[NormalisedOut]


class AlertOut(_Out):
    rule: str
    severity: Literal["info", "warning", "critical"]
    message: str
    sources: SourceIds


class InterpretationResult(InterpretationOut):
    """The interpretation, as ``b12 interpret --json`` prints it."""

    alerts: list[AlertOut]


class PhaseOut(_Out):
    name: str
    kind: Literal["loading", "maintenance"]
    product: str
    route: str
    dose_mg: float
    dose_range_mg: Pair
    frequency: str
    every: int = Field(ge=1)
    every_unit: Literal["day", "week", "month"]
    every_range: Pair | None
    times_per_week: int | None
    doses: int | None
    doses_range: Pair | None
    duration_days: int | None
    until: str | None
    open_ended: bool
    gate: str | None
    rule: str
    sources: SourceIds
    text: str


class RecommendationOut(_Out):
    treat: bool
    reason: str
    regimen: str | None
    title: str | None
    route: Literal["im", "oral", "nasal"] | None
    product: Literal["hydroxocobalamin", "cyanocobalamin"] | None
    lifelong: bool
    reconsider: str | None
    urgent_specialist_advice: bool
    blocked_products: list[str]
    alternatives: list[str]
    phases: list[PhaseOut]


class ScheduledDoseOut(_Out):
    date: date
    phase: str
    kind: str
    dose_mg: float
    route: str
    product: str
    volume_ml: float | None
    syringe_units: float | None
    provisional: bool


class TotalsOut(_Out):
    phase: str
    doses: int = Field(ge=0)
    injections: int = Field(ge=0)
    mg: float
    ml: float | None
    first: date | None
    last: date | None
    complete: bool


class PlanTotalsOut(_Out):
    phases: list[TotalsOut]
    overall: TotalsOut


class SwitchOut(_Out):
    loading_ends: date | None
    maintenance_starts: date | None
    note: str


class HorizonOut(_Out):
    start: date
    end: date
    months: int = Field(ge=1, le=60)
    undated_phases: list[str]


class ProductOut(_Out):
    strength: str | None
    syringe: str | None


class FollowUpOut(_Out):
    date: date
    kind: Literal["review", "labs", "monitoring"]
    tests: list[str]
    expect: str | None
    rule: str
    sources: SourceIds


class PlanOut(_Out):
    """The plan JSON (``docs/plan.schema.json``), as ``b12 plan --json`` prints it."""

    b12_version: str
    disclaimer: str
    guideline: GuidelineOut
    interpretation: InterpretationOut
    recommendation: RecommendationOut
    schedule: list[ScheduledDoseOut]
    totals: PlanTotalsOut
    switch: SwitchOut
    horizon: HorizonOut
    product: ProductOut
    followups: list[FollowUpOut]
    alerts: list[AlertOut]
    rules_applied: list[str]


class RetainedOut(_Out):
    low_mg: float
    high_mg: float
    doses_counted: int
    doses_without_figure: int


class RetainedPairOut(_Out):
    first_8_weeks: RetainedOut
    first_year: RetainedOut


class ComparedRegimenOut(_Out):
    regimen: str
    guideline: str
    title: str
    product: str
    sources: SourceIds
    first_8_weeks: TotalsOut
    first_year: TotalsOut
    loading_ends: date | None
    maintenance_starts: date | None
    open_ended: bool
    estimated_retained: RetainedPairOut


class RetentionEstimateOut(_Out):
    label: str
    caveat: str
    sources: SourceIds


class ComparisonOut(_Out):
    """Regimens side by side, as ``b12 compare --json`` prints them."""

    b12_version: str
    disclaimer: str
    start: date
    regimens: list[ComparedRegimenOut]
    retention_estimate: RetentionEstimateOut


# --- stateful: requests ----------------------------------------------------------------------------------


class PatientRequest(_Strict):
    """A patient record, created by the clinician who will look after them."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")] = Field(examples=["Ada Lovelace"])
    sex: Sex = Field(description="female or male (b12's guideline data is written for these two)")
    birth_date: date | None = Field(default=None, description="YYYY-MM-DD")
    pregnant: bool = False
    breastfeeding: bool = False


# The case of a course is read by case_from_json (paths `case.labs[0].unit`), and documented as CaseInput.
CaseObject = Annotated[dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/CaseInput"}]})]


class CourseRequest(_Strict):
    """Start the schedule of the plan for a case as a course (a clinician's act)."""

    case: CaseObject = Field(description="the case, in b12's case format (the body of POST /api/v1/plan)")
    sites: list[Text] | None = Field(
        default=None, min_length=1, max_length=20, description="injection sites to rotate; null for the defaults"
    )


def _dose(value: object) -> float | str | None:
    """A number of mg, or the dose as written; one check, so that a problem is reported at ``dose`` itself."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip() or len(value) > SHORT_TEXT:
            raise PydanticCustomError("b12_value", "write the dose as on the label, e.g. '1000 mcg'")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise PydanticCustomError("b12_value", "a dose is a number of mg above 0, or text such as '1000 mcg'")
    return float(value)


DoseValue = Annotated[
    float | str | None,
    PlainValidator(_dose),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "minLength": 1, "maxLength": SHORT_TEXT, "pattern": r"\S"},
                {"type": "null"},
            ]
        }
    ),
]


class DoseRequest(_Strict):
    """A dose given; everything has a default: now, the dose due, its product and route."""

    at: datetime | None = Field(default=None, description="when, RFC 3339; null for now; never in the future")
    dose: DoseValue = Field(
        default=None,
        description="mg as a number, or as written: `1 mg`, `1000 mcg`, `1 mL` (with the course's strength); "
        "null for the dose due",
    )
    site: Text | None = None
    batch: Text | None = None
    expiry: date | None = None
    reaction: LongText | None = None
    note: LongText | None = None
    given_by: Text | None = Field(default=None, description="who gave it; null for the account of the token")


class SkipRequest(_Strict):
    """Skip the dose now due on purpose; the next one is counted from its due date."""

    due: date | None = Field(default=None, description="the due date being skipped (checked); null for the one due")
    reason: LongText | None = None


Score = Annotated[int, Field(ge=0, le=10)]


class ScoresIn(_Strict):
    """Scores from 0 (none) to 10 (worst imaginable); at least one."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    fatigue: Score | None = None
    paraesthesia: Score | None = None
    balance: Score | None = None
    memory: Score | None = None
    mood: Score | None = None
    glossitis: Score | None = None
    vision: Score | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> ScoresIn:
        if not self.scored():
            raise ValueError("score at least one symptom")
        return self

    def scored(self) -> dict[str, int]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class SymptomRequest(_Strict):
    """A symptom diary entry."""

    scores: ScoresIn
    at: datetime | None = Field(default=None, description="when, RFC 3339; null for now; never in the future")
    note: LongText | None = None


class LabRequest(_Strict):
    """A lab result as the report gives it; it is normalised beside the value kept as reported."""

    analyte: Analyte
    value: Positive = Field(examples=[150])
    unit: Annotated[str, Field(min_length=1, max_length=40, pattern=r"\S")] = Field(examples=["ng/L"])
    taken: date = Field(description="when the sample was taken, YYYY-MM-DD; not in the future")
    upper_limit: float | None = Field(default=None, ge=0)
    lower_limit: float | None = Field(default=None, ge=0)


# --- stateful: responses -------------------------------------------------------------------------------------


class AccountOut(_Out):
    """The account a token acts for."""

    id: str
    name: str
    email: str
    role: Role
    patient_id: str | None = Field(description="a patient's own record")


class PatientOut(_Out):
    id: str
    name: str
    sex: Sex
    birth_date: date | None
    clinician_id: str | None
    pregnant: bool
    breastfeeding: bool
    created_at: datetime


class CourseOut(_Out):
    id: str
    patient_id: str
    guideline: str
    guideline_version: str
    regimen_id: str | None
    product: str
    strength: str = Field(description="as written on the label; empty for a course by mouth")
    syringe: str | None
    start: date
    lifelong: bool
    sites: list[str]
    review_months: int | None
    created_by: str
    created_at: datetime
    phases: list[PhaseOut]


class DoseOut(_Out):
    id: str
    course_id: str
    at: datetime
    dose_mg: float
    product: str
    route: str
    given_by: str
    site: str | None
    batch: str | None
    expiry: date | None
    reaction: str | None
    note: str | None


class SkipOut(_Out):
    id: str
    course_id: str
    due: date
    at: datetime
    reason: str | None


class SymptomOut(_Out):
    id: str
    patient_id: str
    at: datetime
    scores: dict[TrackedSymptom, int]
    note: str | None


class LabOut(_Out):
    id: str
    patient_id: str
    taken: date
    analyte: Analyte
    value: float = Field(description="as reported")
    unit: str = Field(description="as reported")
    normalised_value: float
    normalised_unit: str
    upper_limit: float | None
    lower_limit: float | None


class PhaseProgressOut(_Out):
    index: int
    name: str
    kind: Literal["loading", "maintenance"]
    ending: Literal["count", "duration", "clinical", "continuing"]
    text: str
    slots_filled: int
    doses_planned: int | None
    ends_before: date | None
    until: str | None
    provisional: bool


class NextDoseOut(_Out):
    due: date
    phase: str
    kind: Literal["loading", "maintenance"]
    dose_mg: float
    product: str
    route: str
    provisional: bool
    overdue_days: int
    volume_ml: float | None
    syringe_units: float | None
    site: str | None


class AdherenceOut(_Out):
    on_time: int
    late: int
    early: int
    skipped: int
    missed: int
    unscheduled: int
    given: int
    due: int
    on_time_share: float | None


class DoseTotalsOut(_Out):
    doses: int
    injections: int
    mg: float
    ml: float | None


class CheckpointOut(_Out):
    due: date
    kind: Literal["review", "labs"]
    tests: list[str]
    text: str
    rule: str
    sources: SourceIds
    done_on: date | None
    overdue: bool


class StatusOut(_Out):
    """A course's status on the server's date, recomputed from its facts."""

    course_id: str
    today: date
    state: Literal["not_started", "active", "complete", "stopped"]
    regimen_id: str | None
    phase: PhaseProgressOut | None
    next_dose: NextDoseOut | None
    overdue_days: int
    adherence: AdherenceOut
    totals: DoseTotalsOut
    suggested_site: str | None
    reviews: list[CheckpointOut]
    checkpoints: list[CheckpointOut]
    upcoming: list[ScheduledDoseOut]
    alerts: list[AlertOut]
    last_dose: date | None
    stopped_on: date | None


class _Page(_Out):
    total: int = Field(ge=0, description="how many there are in all")
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)
    next: str | None = Field(description="the address of the next page; null on the last one")


class PatientList(_Page):
    items: list[PatientOut]


class CourseList(_Page):
    items: list[CourseOut]


class DoseList(_Page):
    items: list[DoseOut]


class SkipList(_Page):
    items: list[SkipOut]


class SymptomList(_Page):
    items: list[SymptomOut]


class LabList(_Page):
    items: list[LabOut]
