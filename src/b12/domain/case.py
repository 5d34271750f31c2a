"""A clinical case as b12 sees it: who the patient is, what was measured, why, and what was chosen.

These are plain, validated values; the JSON case format (``docs/case-format.md``) is mapped onto them by
the adapters. Dates are always passed in: nothing here reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from b12.domain.analytes import Analyte
from b12.domain.errors import CaseError


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class Ethnicity(StrEnum):
    BLACK = "black"
    ASIAN = "asian"
    WHITE = "white"
    MIXED = "mixed"
    OTHER = "other"


class Symptom(StrEnum):
    FATIGUE = "fatigue"
    GLOSSITIS = "glossitis"
    PARAESTHESIA = "paraesthesia"
    NUMBNESS = "numbness"
    ATAXIA = "ataxia"
    GAIT = "gait"
    BALANCE = "balance"
    MEMORY = "memory"
    VISION = "vision"
    MOOD = "mood"
    BREATHLESS = "breathless"


# Symptoms that count as neurological involvement for regimen choice (BNF "with neurological
# involvement", REFERENCE §2.1; red flags "paraesthesia, ataxia, … visual change", interop NOTES).
# Memory and mood are kept out on purpose: VIGNETTES V03 (fatigue + memory) is planned on the
# non-neurological branch; they still count as symptoms for "indeterminate + symptoms -> MMA" (DX-MMA).
NEUROLOGICAL_SYMPTOMS: frozenset[Symptom] = frozenset(
    {Symptom.PARAESTHESIA, Symptom.NUMBNESS, Symptom.ATAXIA, Symptom.GAIT, Symptom.BALANCE, Symptom.VISION}
)


class Cause(StrEnum):
    DIET = "diet"
    AUTOIMMUNE_GASTRITIS = "autoimmune_gastritis"
    GASTRECTOMY = "gastrectomy"
    BARIATRIC_SURGERY = "bariatric_surgery"
    ILEAL_RESECTION = "ileal_resection"
    CROHNS = "crohns"
    COELIAC = "coeliac"
    METFORMIN = "metformin"
    PPI = "ppi"
    H2_ANTAGONIST = "h2_antagonist"
    NITROUS_OXIDE = "nitrous_oxide"
    UNKNOWN = "unknown"


# "Some causes of vitamin B12 deficiency are irreversible and therefore treatment is needed for life"
# [S3]; REFERENCE §8 lists autoimmune gastritis, gastrectomy/bariatric surgery and ileal resection as
# lifelong.
IRREVERSIBLE_CAUSES: frozenset[Cause] = frozenset(
    {Cause.AUTOIMMUNE_GASTRITIS, Cause.GASTRECTOMY, Cause.BARIATRIC_SURGERY, Cause.ILEAL_RESECTION}
)

# Causes acting through absorption ("deficiency caused or suspected to be caused by malabsorption", [S4]).
MALABSORPTION_CAUSES: frozenset[Cause] = frozenset(
    {
        Cause.AUTOIMMUNE_GASTRITIS,
        Cause.GASTRECTOMY,
        Cause.BARIATRIC_SURGERY,
        Cause.ILEAL_RESECTION,
        Cause.CROHNS,
        Cause.COELIAC,
        Cause.METFORMIN,
        Cause.PPI,
        Cause.H2_ANTAGONIST,
    }
)


class Condition(StrEnum):
    LEBER = "leber"
    TOBACCO_AMBLYOPIA = "tobacco_amblyopia"
    COBALT_ALLERGY = "cobalt_allergy"
    RENAL_IMPAIRMENT = "renal_impairment"
    ANTICOAGULANT = "anticoagulant"


class Route(StrEnum):
    IM = "im"
    ORAL = "oral"
    NASAL = "nasal"


@dataclass(frozen=True, slots=True)
class Patient:
    sex: Sex
    age: int | None = None
    pregnant: bool = False
    breastfeeding: bool = False
    ethnicity: Ethnicity | None = None

    def __post_init__(self) -> None:
        if self.age is not None and not 0 <= self.age <= 120:
            raise CaseError("patient.age", f"{self.age} is not an age in years between 0 and 120")
        if self.pregnant and self.sex is Sex.MALE:
            raise CaseError("patient.pregnant", "a patient recorded as male cannot be pregnant")
        if self.breastfeeding and self.sex is Sex.MALE:
            raise CaseError("patient.breastfeeding", "a patient recorded as male cannot be breastfeeding")


@dataclass(frozen=True, slots=True)
class LabResult:
    """One result as the lab reported it: the original value and unit are kept as given."""

    analyte: Analyte
    value: float
    unit: str
    date: date | None = None
    upper_limit: float | None = None
    lower_limit: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.value) or self.value <= 0:
            raise CaseError("value", f"{self.value!r} is not a measured value")
        for name in ("upper_limit", "lower_limit"):
            limit = getattr(self, name)
            if limit is not None and (not math.isfinite(limit) or limit < 0):
                raise CaseError(name, f"{limit!r} is not a reference limit")


@dataclass(frozen=True, slots=True)
class Preferences:
    """Choices made by the patient or the clinician; ``None`` means "use the guideline's default".

    ``maintenance_interval_months`` picks a value inside the label's range; ``overrides`` lists the
    rule IDs a clinician has explicitly overridden (e.g. ``SAFE-COBALT`` after a test dose).
    """

    route: Route | None = None
    maintenance_interval_months: int | None = None
    treat: bool | None = None
    overrides: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TreatmentHistory:
    last_injection: date | None = None
    long_term_replacement: bool = False


@dataclass(frozen=True, slots=True)
class Case:
    guideline: str
    start: date
    patient: Patient
    thresholds: str | None = None
    labs: tuple[LabResult, ...] = ()
    symptoms: frozenset[Symptom] = frozenset()
    causes: frozenset[Cause] = frozenset()
    conditions: frozenset[Condition] = frozenset()
    preferences: Preferences = field(default_factory=Preferences)
    treatment: TreatmentHistory = field(default_factory=TreatmentHistory)
    strength: str | None = None
    syringe: str = "U-100"
    horizon_months: int = 12
    mcv_cutoff_fl: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.horizon_months <= 60:
            raise CaseError("horizon", "the schedule horizon must be between 1 and 60 months")

    @property
    def neurological(self) -> bool:
        return bool(self.symptoms & NEUROLOGICAL_SYMPTOMS)

    def latest(self, analyte: Analyte) -> LabResult | None:
        """The most recent result for an analyte (undated results count as the latest given)."""
        results = [r for r in self.labs if r.analyte is analyte]
        if not results:
            return None
        dated = [r for r in results if r.date is not None]
        undated = [r for r in results if r.date is None]
        if undated:
            return undated[-1]
        return max(dated, key=lambda r: r.date or date.min)
