"""The JSON case format: JSON in, a validated :class:`~b12.domain.case.Case` out.

The contract is ``docs/case-format.md``; ``docs/case.schema.json`` is generated from :class:`CaseInput`
(a test keeps the committed file equal to it). The models are strict: ``false`` is not a number, ``"1"`` is
not a number (a whole number is accepted where a decimal is expected), enum values are matched exactly, dates
are ``YYYY-MM-DD`` strings, and unknown keys or values are errors rather than ignored.

Every problem becomes a :class:`~b12.domain.errors.CaseError` whose ``field`` is the path in the input
(``labs[0].unit``, ``patient.sex``). All problems are collected; the error raised reports the first one by
path and keeps every one in :attr:`CaseFormatError.problems`. Checks made by the domain values themselves
(``Patient``, ``LabResult``, ``Case``) are caught and given the same kind of path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from b12.domain.analytes import Analyte
from b12.domain.case import (
    Case,
    Cause,
    Condition,
    Ethnicity,
    LabResult,
    Patient,
    Preferences,
    Route,
    Sex,
    Symptom,
    TreatmentHistory,
)
from b12.domain.errors import CaseError

__all__ = [
    "CaseFormatError",
    "CaseInput",
    "GuidelineId",
    "SyringeScale",
    "case_from_json",
    "case_from_text",
    "case_json_schema",
    "case_schema_text",
    "json_from_text",
]

E = TypeVar("E", bound=StrEnum)
Loc = tuple[str | int, ...]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class GuidelineId(StrEnum):
    """The guidelines a case can ask for; the service loads the matching data file."""

    UK = "uk"
    US_LABEL = "us-label"
    US_PRACTICE = "us-practice"


class SyringeScale(StrEnum):
    """Insulin-syringe scales used to show a volume as syringe units."""

    U100 = "U-100"
    U40 = "U-40"


class CaseFormatError(CaseError):
    """Every problem found in one case; ``field`` and ``problem`` are those of the first by path."""

    def __init__(self, problems: Sequence[CaseError]) -> None:
        if not problems:
            raise ValueError("CaseFormatError needs at least one problem")
        first = problems[0]
        super().__init__(first.field, first.problem)
        self.problems = tuple(problems)
        if len(self.problems) > 1:
            more = len(self.problems) - 1
            self.args = (f"{self.args[0]} (and {more} more problem{'s' if more > 1 else ''})",)


# --- values shown in messages ---------------------------------------------------------------------------


def _show(value: object) -> str:
    """A value as the user wrote it: strings quoted, JSON literals as JSON (``false``, ``null``)."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(problem: str) -> PydanticCustomError:
    return PydanticCustomError("b12_value", "{problem}", {"problem": problem})


# --- field types ------------------------------------------------------------------------------------------


def _one_of(enum: type[E], noun: str) -> Callable[[object], E]:
    allowed = ", ".join(member.value for member in enum)

    def check(value: object) -> E:
        if isinstance(value, enum):
            return value
        if isinstance(value, str):
            try:
                return enum(value)
            except ValueError:
                pass
        raise _fail(f"{_show(value)} is not {noun}; use one of: {allowed}")

    return check


def _enum_schema(enum: type[StrEnum]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": [member.value for member in enum]})


GuidelineName = Annotated[
    GuidelineId, BeforeValidator(_one_of(GuidelineId, "a guideline b12 knows")), _enum_schema(GuidelineId)
]
SexName = Annotated[Sex, BeforeValidator(_one_of(Sex, "a sex b12 plans for")), _enum_schema(Sex)]
EthnicityName = Annotated[
    Ethnicity, BeforeValidator(_one_of(Ethnicity, "an ethnicity b12 knows")), _enum_schema(Ethnicity)
]
TestName = Annotated[Analyte, BeforeValidator(_one_of(Analyte, "a test b12 knows")), _enum_schema(Analyte)]
SymptomName = Annotated[Symptom, BeforeValidator(_one_of(Symptom, "a symptom b12 knows")), _enum_schema(Symptom)]
CauseName = Annotated[Cause, BeforeValidator(_one_of(Cause, "a cause b12 knows")), _enum_schema(Cause)]
ConditionName = Annotated[
    Condition, BeforeValidator(_one_of(Condition, "a condition b12 knows")), _enum_schema(Condition)
]
SyringeName = Annotated[
    SyringeScale,
    BeforeValidator(_one_of(SyringeScale, "a syringe scale b12 knows")),
    _enum_schema(SyringeScale),
]

_ROUTE = _one_of(Route, "a route b12 plans")


def _route(value: object) -> Route | None:
    if value is None:
        return None
    # SAFE-IV [S37]: "Avoid using the intravenous route. Use of this product intravenously will result in
    # almost all of the vitamin being lost in the urine."
    if isinstance(value, str) and value.strip().lower() in {"iv", "intravenous"}:
        raise _fail(
            "cyanocobalamin must not be given intravenously: 'Use of this product intravenously will result "
            "in almost all of the vitamin being lost in the urine' (SAFE-IV, source S37); b12 plans im, "
            "oral or nasal only"
        )
    return _ROUTE(value)


RouteName = Annotated[
    Route | None,
    BeforeValidator(_route),
    WithJsonSchema({"enum": [*(route.value for route in Route), None]}),
]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise _fail(f"{_show(value)} is not a date; write dates as YYYY-MM-DD, e.g. 2026-01-05")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise _fail(f"{_show(value)} is not a real date ({error})") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _fail("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_not_blank), WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"\S"})]

_RULE_ID = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"


def _rule_id(value: str) -> str:
    if not re.fullmatch(_RULE_ID, value):
        raise _fail(f"{_show(value)} is not a rule ID; rule IDs look like SAFE-COBALT or UK-IM-NN")
    return value


RuleId = Annotated[str, AfterValidator(_rule_id), WithJsonSchema({"type": "string", "pattern": _RULE_ID})]

T = TypeVar("T")


def _unique(noun: str) -> Callable[[list[T]], list[T]]:
    def check(values: list[T]) -> list[T]:
        seen: set[T] = set()
        for value in values:
            if value in seen:
                raise _fail(f"{_show(str(value))} is listed twice; list each {noun} once")
            seen.add(value)
        return values

    return check


Symptoms = Annotated[
    list[SymptomName], AfterValidator(_unique("symptom")), Field(json_schema_extra={"uniqueItems": True})
]
Causes = Annotated[list[CauseName], AfterValidator(_unique("cause")), Field(json_schema_extra={"uniqueItems": True})]
Conditions = Annotated[
    list[ConditionName], AfterValidator(_unique("condition")), Field(json_schema_extra={"uniqueItems": True})
]
RuleIds = Annotated[list[RuleId], AfterValidator(_unique("rule ID")), Field(json_schema_extra={"uniqueItems": True})]


# --- the input models -------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        field_title_generator=lambda name, _info: name,
    )


class PatientInput(_Strict):
    """Who is being treated."""

    sex: SexName = Field(description="female or male")
    age: int | None = Field(default=None, ge=0, le=120, description="age in whole years, 0–120")
    pregnant: bool = Field(default=False, description="pregnant now (only for sex female)")
    breastfeeding: bool = Field(default=False, description="breastfeeding now (only for sex female)")
    ethnicity: EthnicityName | None = Field(default=None, description="used by DX-ETH only")


class LabInput(_Strict):
    """One result as the lab reported it; the unit is checked later against b12's closed unit list."""

    test: TestName = Field(description="which test")
    value: float = Field(gt=0, description="the result, a number greater than 0")
    unit: Text = Field(description="the unit as printed on the report, e.g. ng/L, pmol/L, g/L, fL")
    date: IsoDate | None = Field(default=None, description="when the sample was taken, YYYY-MM-DD")
    upper_limit: float | None = Field(default=None, ge=0, description="the lab's upper reference limit")
    lower_limit: float | None = Field(default=None, ge=0, description="the lab's lower reference limit")


class PreferencesInput(_Strict):
    """Choices of the patient or clinician; null means the guideline's default."""

    route: RouteName = Field(default=None, description="im, oral or nasal; null for the guideline's default")
    maintenance_interval_months: int | None = Field(
        default=None, ge=1, le=60, description="maintenance interval in months, within the label's range"
    )
    treat: bool | None = Field(
        default=None,
        description="a clinician's decision to treat (true) or not (false), overriding the default",
    )
    overrides: RuleIds = Field(default=[], description="rule IDs a clinician has explicitly overridden")


class TreatmentInput(_Strict):
    """Treatment already given."""

    last_injection: IsoDate | None = Field(default=None, description="date of the last B12 injection")
    long_term_replacement: bool = Field(default=False, description="already established on long-term B12")


class CaseInput(_Strict):
    """A case for b12: the patient, the results, and the choices made."""

    model_config = ConfigDict(
        title="b12 case",
        json_schema_extra={"$schema": JSON_SCHEMA_DIALECT},
    )

    guideline: GuidelineName = Field(description="the guideline to plan by")
    thresholds: Text | None = Field(default=None, description="threshold set ID; null for the guideline's default")
    start: IsoDate = Field(description="first day of the plan, YYYY-MM-DD")
    horizon: int = Field(default=12, ge=1, le=60, description="months of schedule to produce, 1–60")
    patient: PatientInput = Field(description="who is being treated; an object with at least sex")
    labs: list[LabInput] = Field(default=[], description="results, in any order")
    symptoms: Symptoms = Field(default=[], description="symptoms present, each once")
    causes: Causes = Field(default=[], description="known or suspected causes, each once")
    conditions: Conditions = Field(default=[], description="conditions that change the plan, each once")
    preferences: PreferencesInput = Field(
        default_factory=PreferencesInput, description="choices that override the guideline's defaults"
    )
    treatment: TreatmentInput = Field(default_factory=TreatmentInput, description="treatment already given")
    strength: Text | None = Field(
        default=None, description="strength of the injection product, e.g. '1 mg/mL'; used for volumes"
    )
    syringe: SyringeName = Field(default=SyringeScale.U100, description="syringe scale for syringe units")
    mcv_cutoff_fl: float | None = Field(
        default=None, gt=0, description="MCV above which cells count as macrocytic, in fL"
    )


_MODELS: dict[Loc, type[BaseModel]] = {
    (): CaseInput,
    ("patient",): PatientInput,
    ("labs",): LabInput,
    ("preferences",): PreferencesInput,
    ("treatment",): TreatmentInput,
}


# --- errors -----------------------------------------------------------------------------------------------


def _path(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _sort_key(loc: Loc) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in loc)


_KINDS = {
    "float_type": "a number",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "string_type": "a string in quotes",
    "list_type": "a list [...]",
    "model_type": "an object {...}",
    "model_attributes_type": "an object {...}",
    "dict_type": "an object {...}",
}


def _message(error: ErrorDetails) -> str:
    kind, loc, given = error["type"], error["loc"], error.get("input")
    ctx = error.get("ctx", {})
    if kind == "b12_value":
        return str(ctx["problem"])
    if kind == "missing":
        model = _MODELS.get(tuple(p for p in loc[:-1] if isinstance(p, str)))
        field = model.model_fields.get(str(loc[-1])) if model else None
        hint = field.description if field and field.description else ""
        return f"is required ({hint})" if hint else "is required"
    if kind == "extra_forbidden":
        model = _MODELS.get(tuple(p for p in loc[:-1] if isinstance(p, str)))
        known = ", ".join(model.model_fields) if model else ""
        return f"is not a key b12 knows here; use one of: {known}" if known else "is not a key b12 knows"
    if kind in _KINDS and not loc:
        return f"the case must be {_KINDS[kind]}, got {_show(given)}"
    if kind in _KINDS:
        return f"expected {_KINDS[kind]}, got {_show(given)}"
    if kind == "finite_number":
        return f"expected a finite number, got {_show(given)}"
    bounds = {
        "greater_than": "greater than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit:g}, got {_show(given)}"
    return f"{error['msg']}, got {_show(given)}"


def _problems(error: ValidationError) -> list[tuple[Loc, str]]:
    return [(tuple(e["loc"]), _message(e)) for e in error.errors(include_url=False)]


def _error(problems: Sequence[tuple[Loc, str]]) -> CaseFormatError:
    ordered = sorted(problems, key=lambda problem: _sort_key(problem[0]))
    return CaseFormatError([CaseError(_path(loc), text) for loc, text in ordered])


def _within(prefix: Loc, error: ValueError) -> tuple[Loc, str]:
    """A domain error's field made relative to the input: ``value`` from ``labs[2]`` is ``labs[2].value``."""
    if isinstance(error, CaseError):
        field, problem = error.field, error.problem
    else:
        field, problem = "", str(error)
    parts: Loc = tuple(part for part in field.split(".") if part)
    if parts[: len(prefix)] == prefix:
        return parts, problem
    return (*prefix, *parts), problem


# --- entry points -----------------------------------------------------------------------------------------


def case_from_json(data: object) -> Case:
    """Turn parsed JSON (dicts, lists, str, int, float, bool, None) into a :class:`Case`.

    Raises :class:`CaseFormatError` (a :class:`CaseError`) naming the path of the first problem.
    """
    try:
        parsed = CaseInput.model_validate(data)
    except ValidationError as error:
        raise _error(_problems(error)) from None

    problems: list[tuple[Loc, str]] = []
    patient: Patient | None = None
    try:
        p = parsed.patient
        patient = Patient(
            sex=p.sex,
            age=p.age,
            pregnant=p.pregnant,
            breastfeeding=p.breastfeeding,
            ethnicity=p.ethnicity,
        )
    except ValueError as error:
        problems.append(_within(("patient",), error))

    labs: list[LabResult] = []
    for index, lab in enumerate(parsed.labs):
        where: Loc = ("labs", index)
        if lab.lower_limit is not None and lab.upper_limit is not None and lab.lower_limit >= lab.upper_limit:
            problems.append(
                (
                    (*where, "lower_limit"),
                    f"must be below upper_limit ({lab.upper_limit:g}), got {lab.lower_limit:g}",
                )
            )
            continue
        try:
            labs.append(
                LabResult(
                    analyte=lab.test,
                    value=lab.value,
                    unit=lab.unit,
                    date=lab.date,
                    upper_limit=lab.upper_limit,
                    lower_limit=lab.lower_limit,
                )
            )
        except ValueError as error:
            problems.append(_within(where, error))

    if problems or patient is None:
        raise _error(problems)

    try:
        return Case(
            guideline=parsed.guideline.value,
            start=parsed.start,
            patient=patient,
            thresholds=parsed.thresholds,
            labs=tuple(labs),
            symptoms=frozenset(parsed.symptoms),
            causes=frozenset(parsed.causes),
            conditions=frozenset(parsed.conditions),
            preferences=Preferences(
                route=parsed.preferences.route,
                maintenance_interval_months=parsed.preferences.maintenance_interval_months,
                treat=parsed.preferences.treat,
                overrides=frozenset(parsed.preferences.overrides),
            ),
            treatment=TreatmentHistory(
                last_injection=parsed.treatment.last_injection,
                long_term_replacement=parsed.treatment.long_term_replacement,
            ),
            strength=parsed.strength,
            syringe=parsed.syringe.value,
            horizon_months=parsed.horizon,
            mcv_cutoff_fl=parsed.mcv_cutoff_fl,
        )
    except ValueError as error:
        raise _error([_within((), error)]) from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CaseError(key, "the key appears twice in the same object; give each key once")
        result[key] = value
    return result


def _no_constant(name: str) -> float:
    raise CaseError("", f"{name} is not valid JSON; write a number")


def json_from_text(text: str) -> Any:
    """Parse JSON text as the case format reads it.

    A key given twice in one object, ``NaN`` and ``Infinity`` are errors; malformed JSON is a
    :class:`CaseError` naming the line and column.
    """
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise CaseError(
            "", f"the case is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None


def case_from_text(text: str) -> Case:
    """Parse JSON text into a :class:`Case` (:func:`json_from_text`, then :func:`case_from_json`)."""
    return case_from_json(json_from_text(text))


def case_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the case format, generated from :class:`CaseInput`."""
    return CaseInput.model_json_schema()


def case_schema_text() -> str:
    """``docs/case.schema.json`` exactly as committed."""
    return json.dumps(case_json_schema(), indent=2, ensure_ascii=False) + "\n"
