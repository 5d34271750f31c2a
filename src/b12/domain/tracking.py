"""Tracking a course of treatment: the facts b12 stores, and everything recomputed from them.

Only facts are stored (the rule of hass-medication_tracker): a course as prescribed, doses given, doses
skipped, symptom scores, reactions, lab results and clinicians' amendments. Phase, next dose (counted from
the dose actually given), overdue, adherence, the suggested injection site, reviews due, totals and red
flags are functions of those facts and a date passed in — never stored, never read from a clock here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from b12.domain.analytes import Analyte
from b12.domain.case import Route
from b12.domain.errors import CaseError
from b12.domain.regimen import Phase, Product

SYMPTOM_SCALE = range(0, 11)  # 0 = none, 10 = worst imaginable


class TrackedSymptom(StrEnum):
    """The symptom diary's vocabulary (issue 3), scored 0–10."""

    FATIGUE = "fatigue"
    PARAESTHESIA = "paraesthesia"  # includes numbness
    BALANCE = "balance"
    MEMORY = "memory"
    MOOD = "mood"
    GLOSSITIS = "glossitis"
    VISION = "vision"


# Diary symptoms whose worsening is a neurological red flag (contact the clinician promptly).
NEUROLOGICAL_DIARY: frozenset[TrackedSymptom] = frozenset(
    {TrackedSymptom.PARAESTHESIA, TrackedSymptom.BALANCE, TrackedSymptom.VISION, TrackedSymptom.MEMORY}
)

DEFAULT_SITES: tuple[str, ...] = (
    "left deltoid",
    "right deltoid",
    "left thigh",
    "right thigh",
    "left buttock",
    "right buttock",
)


class AmendmentKind(StrEnum):
    SET_MAINTENANCE_INTERVAL = "set_maintenance_interval"  # params: {"months": int}
    END_LOADING = "end_loading"  # ends an open-ended phase ("no further improvement") on `effective`
    SWITCH_ROUTE = "switch_route"  # params: {"regimen": str} — a regimen ID of the course's guideline
    STOP = "stop"  # the course ends on `effective`


@dataclass(frozen=True, slots=True)
class Course:
    """A plan instance: what was prescribed, from which guideline and version, starting when."""

    id: str
    patient_id: str
    guideline: str
    guideline_version: str
    regimen_id: str | None  # None when the patient entered a prescription that matches no regimen
    phases: tuple[Phase, ...]
    product: Product
    strength: str  # as written on the label, e.g. "1000 mcg/mL"
    syringe: str | None  # "U-100", "U-40" or None for oral/nasal
    start: date
    created_by: str  # user id
    created_at: datetime
    lifelong: bool = False
    sites: tuple[str, ...] = DEFAULT_SITES
    source_text: str | None = None  # the prescription line as the patient typed it, if any

    def __post_init__(self) -> None:
        if not self.phases:
            raise CaseError("phases", "a course needs at least one phase")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Course) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class DoseGiven:
    id: str
    course_id: str
    at: datetime
    dose_mg: float
    product: Product
    route: Route
    given_by: str  # user id, or free text such as "practice nurse"
    site: str | None = None
    batch: str | None = None
    expiry: date | None = None
    reaction: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.dose_mg > 0:
            raise CaseError("dose_mg", "a dose given must be more than 0 mg")


@dataclass(frozen=True, slots=True)
class DoseSkipped:
    id: str
    course_id: str
    due: date  # the due date that was skipped
    at: datetime  # when the skip was recorded
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SymptomEntry:
    id: str
    patient_id: str
    at: datetime
    scores: Mapping[TrackedSymptom, int]
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.scores:
            raise CaseError("scores", "score at least one symptom")
        for symptom, score in self.scores.items():
            if score not in SYMPTOM_SCALE:
                raise CaseError(f"scores.{symptom}", f"{score} is not a score from 0 to 10")


@dataclass(frozen=True, slots=True)
class Reaction:
    id: str
    dose_id: str
    at: datetime
    description: str
    severe: bool = False


@dataclass(frozen=True, slots=True)
class LabEntry:
    """A lab result as reported (original value and unit) beside its normalised value."""

    id: str
    patient_id: str
    taken: date
    analyte: Analyte
    value: float
    unit: str
    normalised_value: float
    normalised_unit: str
    upper_limit: float | None = None
    lower_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Amendment:
    """A clinician's recorded change to a course, with a reason; the schedule is recomputed from it."""

    id: str
    course_id: str
    at: datetime
    by: str
    kind: AmendmentKind
    effective: date
    reason: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise CaseError("reason", "an amendment needs a reason")


@dataclass(frozen=True, slots=True)
class History:
    """Every fact of one course, as read from a repository."""

    course: Course
    doses: tuple[DoseGiven, ...] = ()
    skips: tuple[DoseSkipped, ...] = ()
    amendments: tuple[Amendment, ...] = ()
    symptoms: tuple[SymptomEntry, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    labs: tuple[LabEntry, ...] = ()
