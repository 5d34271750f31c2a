"""Lab interpretation: a case's results read against a threshold set.

:func:`interpret` is pure (no clock, no I/O beyond the cached threshold data) and returns an
:class:`Interpretation`: a status, findings, suggested next tests, alerts, each result normalised beside
its original value and unit, and the sorted rule IDs applied. Every finding, next test and alert carries
a rule ID of REFERENCE.md §11 or one of b12's own (:data:`B12_RULES`, each saying where its basis is
weak or missing) and the source IDs of REFERENCE.md §12.

Contract:

- A B12 result is classified against the set's scale in the unit the lab reported: a pmol/L result
  meets the pmol/L cut-offs, and pg/mL is the same unit as ng/L. Only when the set has no scale of that
  dimension is the result converted with the molar mass of cobalamin, and a finding says so. The value
  in the other unit (ng/L <-> pmol/L) is shown beside it.
- The status comes from the latest total and active B12 results; when both are classified and disagree,
  the more severe is reported and a finding says so. No classifiable B12 result -> ``not_assessable``.
- A B12 sample taken within 14 days after the last injection is not classified.
- Lab reference limits (``upper_limit``/``lower_limit``) are read in the unit of the result they come with.
- A patient younger than :data:`ADULT_FROM_AGE` is read as an adult would be, with a SCOPE-AGE warning:
  b12 holds no paediatric reference range. An unknown age raises nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from b12.domain.alerts import Alert, Severity, severity_order
from b12.domain.analytes import Analyte
from b12.domain.case import NEUROLOGICAL_SYMPTOMS, Case, Cause, Condition, Ethnicity, LabResult, Sex
from b12.domain.errors import CaseError, UnitError
from b12.domain.guidelines.thresholds import (
    Band,
    Scale,
    Status,
    ThresholdSet,
    load_threshold_file,
    load_threshold_set,
    threshold_sets,
)
from b12.domain.units import convert, molar_basis, parse_unit

__all__ = [
    "ADULT_FROM_AGE",
    "B12_RULES",
    "Analyte",
    "Finding",
    "Interpretation",
    "NextTest",
    "NormalisedResult",
    "Status",
    "ThresholdSet",
    "interpret",
    "load_threshold_file",
    "load_threshold_set",
    "threshold_sets",
]

# Rule IDs b12 defines where REFERENCE.md §11 has none, with their basis.
B12_RULES: Mapping[str, str] = {
    "DX-RECENT-INJ": "Serum B12 is uninterpretable within 2 weeks of an injection: Mayo test catalogue as "
    "quoted in the team's interop notes, not in REFERENCE.md §12 (verify).",
    "FU-NO-RETEST": "Do not re-test B12 in patients established on long-term replacement: BNSSG [S59].",
    "DX-MMA-RENAL": "MMA is falsely raised in renal insufficiency [S71].",
    "DX-TWO-TESTS": "Total and active B12 disagree: report the more severe (a b12 choice, no source).",
    "DX-NO-SCALE": "The threshold set has no scale for the analyte: the result is not classified.",
    "DX-BSH": "BSH 2014 cut-off 148 pmol/L (200 ng/L), sensitivity 97% [S49][S24] (threshold data).",
    "LAB-HB": "Anaemia: WHO Hb <130 g/L men, <120 g/L women [S73]; pregnant <110 g/L (StatPearls [S74]).",
    "LAB-MCV": "Macrocytosis: MCV >100 fL by default [S74][S67b]; other cut-offs 96/98 fL [S75][S73]; "
    "a normal MCV does not exclude deficiency [S24].",
    "LAB-FOLATE": "Serum folate <7 nmol/L deficient, 7–10 indeterminate: weak sources [S79][S80].",
    "LAB-HCY": "Homocysteine above the lab's upper limit, else Stabler's normal <14 µmol/L [S51].",
    "SCOPE-AGE": "Patient under 16: NICE NG239 covers people aged 16+ [S1]; b12 holds no paediatric cut-off or "
    "dose (the US hydroxocobalamin label's paediatric summary [S42][S45] is not implemented); 16 applies under "
    "every guideline (a b12 choice: the US sources set no age bound).",
}

# B12 is banded; the other analytes are normalised to one unit for the comparisons below.
CANONICAL_UNITS: Mapping[Analyte, str] = {
    Analyte.MMA: "nmol/L",
    Analyte.HOMOCYSTEINE: "µmol/L",
    Analyte.HEMOGLOBIN: "g/L",
    Analyte.MCV: "fL",
    Analyte.FOLATE: "nmol/L",
    Analyte.POTASSIUM: "mmol/L",
}
# The value is also shown in the other unit of these pairs. Active B12 has none: it is reported in
# pmol/L only and has no molar mass in units.toml (a "weight of holotranscobalamin" is ambiguous).
_UNIT_PAIRS: Mapping[Analyte, tuple[str, str]] = {
    Analyte.B12_TOTAL: ("ng/L", "pmol/L"),
    Analyte.FOLATE: ("nmol/L", "µg/L"),
    Analyte.HEMOGLOBIN: ("g/L", "g/dL"),
}
_NAMES: Mapping[Analyte, str] = {
    Analyte.B12_TOTAL: "total B12",
    Analyte.B12_ACTIVE: "active B12",
    Analyte.MMA: "MMA",
    Analyte.HOMOCYSTEINE: "homocysteine",
    Analyte.HEMOGLOBIN: "haemoglobin",
    Analyte.MCV: "MCV",
    Analyte.FOLATE: "serum folate",
    Analyte.POTASSIUM: "potassium",
    Analyte.RETICULOCYTES: "reticulocytes",
}
_B12 = (Analyte.B12_TOTAL, Analyte.B12_ACTIVE)

# Converted values are rounded to remove float noise (0.35 × 1000), far below any assay's precision,
# so that a value typed exactly on a boundary stays on it.
_DECIMALS = 6
# "Serum B12 is uninterpretable within 2 weeks of an injection" (Mayo test catalogue, interop notes).
# Day 0 to day 14 after the injection inclusive: a same-day sample may have been drawn after the dose.
RECENT_INJECTION_DAYS = 14
_MAYO = "(Mayo test catalogue, quoted in the team's interop notes; not in REFERENCE.md §12 — verify.)"
DEFAULT_MCV_CUTOFF_FL = 100.0  # StatPearls, Medscape [S74][S67b]; REFERENCE §7.5: configurable
STABLER_MMA_NORMAL_BELOW_NMOL_L = 400.0  # "normal <400 nmol/L" [S51]
STABLER_HCY_NORMAL_BELOW_UMOL_L = 14.0  # "normal <14 µmol/L" [S51]
FOLATE_DEFICIENT_BELOW_NMOL_L = 7.0  # [S79][S80], weak
FOLATE_INDETERMINATE_UP_TO_NMOL_L = 10.0  # "7–10 nmol/L indeterminate" [S80], weak
# Anaemia (LAB-HB): WHO Hb <130 g/L men, <120 g/L women [S73]; StatPearls pregnant <11 g/dL [S74].
ANAEMIA_HB_BELOW_G_L_MEN = 130.0
ANAEMIA_HB_BELOW_G_L_WOMEN = 120.0
ANAEMIA_HB_BELOW_G_L_PREGNANT = 110.0
# SCOPE-AGE: NICE NG239 "Covers people aged 16+" [S1] (REFERENCE §1.1). REFERENCE gives no age bound for the
# US labels or practice reviews, so b12 uses the same 16 under every guideline.
ADULT_FROM_AGE = 16


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    rule: str | None
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.code or not self.message:
            raise ValueError("a finding needs a code and a message")


@dataclass(frozen=True, slots=True)
class NextTest:
    test: Analyte
    reason: str
    rule: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NormalisedResult:
    """A result beside the lab's original value and unit (kept as given, like FHIRDate.origval).

    ``unit`` is the unit of the scale the result was classified against, or the analyte's canonical unit;
    ``band`` and ``status`` are set only for a classified B12 result.
    """

    test: Analyte
    value: float
    unit: str
    original_value: float
    original_unit: str
    other_value: float | None = None
    other_unit: str | None = None
    band: str | None = None
    status: Status | None = None
    date: date | None = None


@dataclass(frozen=True, slots=True)
class Interpretation:
    status: Status
    threshold_set: ThresholdSet
    findings: tuple[Finding, ...] = ()
    next_tests: tuple[NextTest, ...] = ()
    normalised: tuple[NormalisedResult, ...] = ()
    alerts: tuple[Alert, ...] = ()
    rules_applied: tuple[str, ...] = ()
    strong_features: tuple[str, ...] = ()  # why the clinical features count as strong (DX-DISCORD)

    def __post_init__(self) -> None:
        if self.rules_applied != tuple(sorted(set(self.rules_applied))):
            raise ValueError("rules_applied must be sorted and unique")

    @property
    def strong_clinical_features(self) -> bool:
        """Any neurological symptom, or anaemia with macrocytosis (DX-DISCORD [S17])."""
        return bool(self.strong_features)

    @property
    def boundary_rule(self) -> str:
        return self.threshold_set.boundary_rule

    def finding(self, code: str) -> Finding | None:
        return next((f for f in self.findings if f.code == code), None)


# --------------------------------------------------------------------------------------------------
# Normalisation


@dataclass(frozen=True, slots=True)
class _Read:
    result: LabResult
    normalised: NormalisedResult
    scale: Scale | None = None
    band: Band | None = None
    converted: bool = False  # converted across dimensions (molar mass) to meet the set's scale
    days_after_injection: int | None = None  # set only within RECENT_INJECTION_DAYS after an injection


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fmt(value: float) -> str:
    return f"{round(value, 1):g}"


def _convert(value: float, from_unit: str, to_unit: str, analyte: Analyte, where: str) -> float:
    try:
        quantity = convert(value, from_unit, to_unit, analyte=analyte.value)
    except UnitError as error:
        raise CaseError(where, str(error)) from error
    return round(quantity.value, _DECIMALS)


def _other(analyte: Analyte, value: float, unit: str) -> tuple[float | None, str | None]:
    pair = _UNIT_PAIRS.get(analyte)
    if pair is None or unit not in pair:
        return None, None
    other_unit = pair[1] if unit == pair[0] else pair[0]
    try:
        other = convert(value, unit, other_unit, analyte=analyte.value)
    except UnitError:  # display only: no molar mass means no second unit, never a guessed one
        return None, None
    return round(other.value, _DECIMALS), other_unit


def _days_after_injection(result: LabResult, case: Case) -> int | None:
    """Days from the last injection to a sample taken within RECENT_INJECTION_DAYS after it, else None."""
    injected = case.treatment.last_injection
    if injected is None or result.date is None:
        return None
    days = (result.date - injected).days
    return days if 0 <= days <= RECENT_INJECTION_DAYS else None


def _read(index: int, result: LabResult, case: Case, thresholds: ThresholdSet) -> _Read:
    where = f"labs[{index}].unit"
    try:
        unit = parse_unit(result.unit)
    except UnitError as error:
        raise CaseError(where, str(error)) from error
    analyte = result.analyte
    scale: Scale | None = None
    band: Band | None = None
    converted = False
    days_after_injection: int | None = None
    if analyte in _B12:
        scales = thresholds.scales_for(analyte)
        # The scale in the lab's own unit, else one of the same dimension (pg/mL meets ng/L), else
        # any scale of the set, reached through the molar mass.
        scale = (
            next((s for s in scales if s.unit == unit.symbol), None)
            or next((s for s in scales if s.dimension == unit.dimension), None)
            or (scales[0] if scales else None)
        )
        target = scale.unit if scale is not None else unit.symbol
        converted = scale is not None and scale.dimension != unit.dimension
        days_after_injection = _days_after_injection(result, case)
    else:
        target = CANONICAL_UNITS.get(analyte, unit.symbol)
    value = result.value if target == unit.symbol else _convert(result.value, unit.symbol, target, analyte, where)
    if scale is not None and days_after_injection is None:
        band = scale.classify(value)
    other_value, other_unit = _other(analyte, value, target)
    normalised = NormalisedResult(
        test=analyte,
        value=value,
        unit=target,
        original_value=result.value,
        original_unit=result.unit,
        other_value=other_value,
        other_unit=other_unit,
        band=band.label if band else None,
        status=band.status if band else None,
        date=result.date,
    )
    return _Read(result, normalised, scale, band, converted, days_after_injection)


def _describe(read: _Read) -> str:
    n = read.normalised
    text = f"{_sentence(_NAMES[n.test])} {_fmt(n.original_value)} {n.original_unit}"
    if n.unit != n.original_unit and n.value != n.original_value:
        text += f" (= {_fmt(n.value)} {n.unit})"
    elif n.other_value is not None and n.other_unit is not None:
        text += f" (= {_fmt(n.other_value)} {n.other_unit})"
    return text


# --------------------------------------------------------------------------------------------------
# Interpretation


@dataclass(slots=True)
class _Out:
    findings: list[Finding] = field(default_factory=list)
    next_tests: list[NextTest] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)

    def finding(self, code: str, message: str, rule: str, sources: tuple[str, ...]) -> None:
        self.findings.append(Finding(code, message, rule, sources))
        self.rules.add(rule)

    def next_test(self, test: Analyte, reason: str, rule: str, sources: tuple[str, ...]) -> None:
        self.next_tests.append(NextTest(test, reason, rule, sources))
        self.rules.add(rule)

    def alert(self, rule: str, severity: Severity, message: str, sources: tuple[str, ...]) -> None:
        self.alerts.append(Alert(rule, severity, message, sources))
        self.rules.add(rule)


def interpret(case: Case, thresholds: ThresholdSet) -> Interpretation:
    """Read a case's lab results against a threshold set (see the module docstring for the contract)."""
    reads = [_read(index, result, case, thresholds) for index, result in enumerate(case.labs)]
    latest: dict[Analyte, _Read] = {}
    for analyte in Analyte:
        result = case.latest(analyte)
        if result is not None:
            latest[analyte] = next(read for read in reads if read.result is result)
    out = _Out()

    status = _b12_status(case, thresholds, latest, out)
    anaemia = _haemoglobin(case, latest.get(Analyte.HEMOGLOBIN), out)
    macrocytosis = _mcv(case, latest.get(Analyte.MCV), status, out)
    _folate(latest.get(Analyte.FOLATE), out)
    mma_raised = _mma(latest.get(Analyte.MMA), out)
    _homocysteine(case, latest.get(Analyte.HOMOCYSTEINE), out)
    _potassium(latest.get(Analyte.POTASSIUM), out)
    _next_tests(case, status, latest, out)
    _mma_context(case, status, mma_raised, latest, out)

    strong: list[str] = []
    neurological = sorted(case.symptoms & NEUROLOGICAL_SYMPTOMS)
    if neurological:
        strong.append("neurological symptoms: " + ", ".join(neurological))
    if anaemia and macrocytosis:
        strong.append("anaemia with macrocytosis")
    _clinical_alerts(case, thresholds, status, tuple(strong), latest, out)
    _age_scope(case, thresholds, out)

    return Interpretation(
        status=status,
        threshold_set=thresholds,
        findings=tuple(out.findings),
        next_tests=tuple(out.next_tests),
        normalised=tuple(read.normalised for read in reads),
        alerts=tuple(sorted(out.alerts, key=severity_order)),
        rules_applied=tuple(sorted(out.rules)),
        strong_features=tuple(strong),
    )


def _b12_status(case: Case, thresholds: ThresholdSet, latest: Mapping[Analyte, _Read], out: _Out) -> Status:
    classified: list[_Read] = []
    for analyte in _B12:
        read = latest.get(analyte)
        if read is None:
            continue
        name = _NAMES[analyte]
        if read.days_after_injection is not None:
            out.alert(
                "DX-RECENT-INJ",
                Severity.WARNING,
                f"{_describe(read)} was taken {read.days_after_injection} days after the injection of "
                f"{case.treatment.last_injection}: serum B12 is uninterpretable within 2 weeks of an "
                f"injection, so this result is not classified. {_MAYO}",
                (),
            )
            continue
        if read.result.date is None and case.treatment.last_injection is not None:
            out.alert(
                "DX-RECENT-INJ",
                Severity.INFO,
                f"The {name} result is undated, so b12 cannot tell whether it was taken within 2 weeks "
                f"of the injection of {case.treatment.last_injection}; if it was, it is uninterpretable. " + _MAYO,
                (),
            )
        if read.scale is None or read.band is None:
            out.finding(
                "b12_not_classified",
                f"{thresholds.title} has no {name} scale, so the {name} result is not classified; "
                "use a set that has one (e.g. nice-ng239).",
                "DX-NO-SCALE",
                thresholds.sources,
            )
            continue
        scale, band = read.scale, read.band
        out.rules.add(scale.rule)
        classified.append(read)
        if read.converted:
            out.finding(
                "converted_for_scale",
                f"{_sentence(name)} {_fmt(read.result.value)} {read.result.unit} was converted to "
                f"{_fmt(read.normalised.value)} {scale.unit} ({molar_basis(read.normalised.test)}, REFERENCE §7.1) "
                f"because {thresholds.title} has no {read.result.unit} scale.",
                scale.rule,
                ("S61", "S62"),
            )
        if band.raised:
            out.finding(
                "raised_b12",
                f"{_describe(read)} is in the band {thresholds.title} reports as {band.label!r} "
                f"{band.range}. REFERENCE.md gives no advice on a raised B12: b12 does not interpret it "
                "further.",
                scale.rule,
                scale.sources,
            )

    if not classified:
        return Status.NOT_ASSESSABLE
    status = min((read.band.status for read in classified if read.band), key=lambda s: s.severity)
    if len({read.normalised.status for read in classified}) > 1:
        parts = " and ".join(f"{_NAMES[r.normalised.test]} is {r.normalised.status}" for r in classified)
        # DX-TWO-TESTS is b12's own rule, "a b12 choice, no source" (B12_RULES, common.toml): no REFERENCE
        # source says which of two disagreeing tests to report, so none is cited.
        out.finding(
            "b12_tests_disagree",
            f"The B12 tests disagree ({parts}): the more severe, {status}, is reported. Taking the more "
            "severe is b12's choice; REFERENCE.md gives no rule for disagreeing tests.",
            "DX-TWO-TESTS",
            (),
        )
    if thresholds.note is not None:
        note = thresholds.note
        out.finding("threshold_set_note", note.text, note.rule, note.sources)
    return status


def _haemoglobin(case: Case, read: _Read | None, out: _Out) -> bool:
    if read is None:
        return False
    hb = read.normalised.value  # g/L
    patient = case.patient
    sources: tuple[str, ...]
    if patient.pregnant:
        limit, who, sources = ANAEMIA_HB_BELOW_G_L_PREGNANT, "pregnancy (StatPearls: <11 g/dL)", ("S74",)
    elif patient.sex is Sex.MALE:
        limit, who, sources = ANAEMIA_HB_BELOW_G_L_MEN, "men (WHO)", ("S73", "S74")
    else:
        limit, who, sources = ANAEMIA_HB_BELOW_G_L_WOMEN, "women (WHO)", ("S73", "S74")
    if hb >= limit:
        return False
    out.finding(
        "anaemia",
        f"Anaemia: {_describe(read)} is below {limit:g} g/L, the threshold for {who}.",
        "LAB-HB",
        sources,
    )
    return True


def _mcv(case: Case, read: _Read | None, status: Status, out: _Out) -> bool:
    if read is None:
        return False
    cutoff = case.mcv_cutoff_fl if case.mcv_cutoff_fl is not None else DEFAULT_MCV_CUTOFF_FL
    chosen = "the default (StatPearls, Medscape)" if case.mcv_cutoff_fl is None else "set for this case"
    if read.normalised.value > cutoff:
        out.finding(
            "macrocytosis",
            f"Macrocytosis: MCV {_fmt(read.normalised.value)} fL is above {cutoff:g} fL, {chosen}; other "
            "sources use 96 fL (GPnotebook) or 98 fL (Radiopaedia).",
            "LAB-MCV",
            ("S74", "S67b", "S75", "S73"),
        )
        return True
    if status is Status.CONFIRMED:
        out.finding(
            "normal_mcv",
            f"MCV {_fmt(read.normalised.value)} fL is not raised: a normal MCV does not exclude B12 "
            "deficiency (neurological impairment occurs with a normal MCV in 25% of cases, CKS).",
            "LAB-MCV",
            ("S24",),
        )
    return False


def _folate(read: _Read | None, out: _Out) -> None:
    if read is None:
        return
    folate = read.normalised.value  # nmol/L
    caveat = (
        "The cut-offs (<7 nmol/L deficient, 7–10 nmol/L indeterminate) come from weak sources: confirm "
        "the local range. Treat B12 before or with folate, never folic acid alone (SAFE-FOLATE)."
    )
    if folate < FOLATE_DEFICIENT_BELOW_NMOL_L:
        out.finding(
            "folate_deficiency",
            f"Folate deficiency: {_describe(read)} is below 7 nmol/L. {caveat}",
            "LAB-FOLATE",
            ("S79", "S80"),
        )
    elif folate <= FOLATE_INDETERMINATE_UP_TO_NMOL_L:
        out.finding(
            "folate_indeterminate",
            f"Folate indeterminate: {_describe(read)} is between 7 and 10 nmol/L. {caveat}",
            "LAB-FOLATE",
            ("S80",),
        )


def _above_limit(
    read: _Read, *, normal_below: float, reference: str, sources: tuple[str, ...]
) -> tuple[bool, str, tuple[str, ...]]:
    """Raised above the lab's upper limit when given (in the result's unit), else above a published normal."""
    limit = read.result.upper_limit
    if limit is not None:
        raised = read.result.value > limit
        return raised, f"the lab's upper limit {limit:g} {read.result.unit}", ()
    raised = read.normalised.value >= normal_below
    return raised, f"{reference} (no lab upper limit given)", sources


def _mma(read: _Read | None, out: _Out) -> bool:
    if read is None:
        return False
    raised, against, sources = _above_limit(
        read,
        normal_below=STABLER_MMA_NORMAL_BELOW_NMOL_L,
        reference="Stabler's normal <400 nmol/L",
        sources=("S51",),
    )
    if raised:
        out.finding(
            "raised_mma",
            f"Raised MMA: {_describe(read)} is above {against}. NICE's own MMA cut-off was not found "
            "(REFERENCE §7.3), so b12 uses the lab's upper limit when one is given.",
            "DX-MMA",
            ("S4", *sources),
        )
    return raised


def _homocysteine(case: Case, read: _Read | None, out: _Out) -> None:
    if read is None:
        return
    raised, against, sources = _above_limit(
        read,
        normal_below=STABLER_HCY_NORMAL_BELOW_UMOL_L,
        reference="Stabler's normal <14 µmol/L",
        sources=("S51",),
    )
    if not raised:
        return
    context = (
        " With suspected nitrous oxide use this supports functional B12 deficiency (DX-N2O)."
        if Cause.NITROUS_OXIDE in case.causes
        else ""
    )
    out.finding(
        "raised_homocysteine",
        f"Raised homocysteine: {_describe(read)} is above {against}; homocysteine is less specific than MMA "
        f"(BSH).{context}",
        "LAB-HCY",
        (*sources, "S17"),
    )


def _potassium(read: _Read | None, out: _Out) -> None:
    if read is None or read.result.lower_limit is None or read.result.value >= read.result.lower_limit:
        return
    out.finding(
        "low_potassium",
        f"Low potassium: {_describe(read)} is below the lab's lower limit {read.result.lower_limit:g} "
        f"{read.result.unit}. Hypokalaemia may occur when severe megaloblastic anaemia is treated intensely: "
        "monitor potassium closely in the first 48 hours of treatment.",
        "SAFE-K",
        ("S38", "S40"),
    )


def _next_tests(case: Case, status: Status, latest: Mapping[Analyte, _Read], out: _Out) -> None:
    total, active = latest.get(Analyte.B12_TOTAL), latest.get(Analyte.B12_ACTIVE)
    nitrous_oxide = Cause.NITROUS_OXIDE in case.causes
    if case.patient.pregnant and active is None:
        # DX-PREG: "Pregnant -> active B12" is the NICE initial test [S5][S6].
        out.next_test(
            Analyte.B12_ACTIVE,
            "Pregnancy: active B12 (holotranscobalamin) is the NICE initial test.",
            "DX-PREG",
            ("S5", "S6"),
        )
        if total is not None:
            out.finding(
                "pregnancy_total_b12",
                "Total B12 falls physiologically in pregnancy (BNSSG), so a low total B12 may overstate "
                "deficiency; active B12 is the NICE initial test in pregnancy.",
                "DX-PREG",
                ("S59", "S5", "S6"),
            )
    elif total is None and active is None and not nitrous_oxide:
        # DX-TEST: "Offer an initial test (total or active B12) to people with ≥1 common symptom/sign AND
        # ≥1 common risk factor" [S4].
        out.next_test(
            Analyte.B12_TOTAL,
            "No B12 result: offer total B12 or active B12 (holotranscobalamin) as the initial test to people "
            "with at least one common symptom or sign and at least one common risk factor (NICE).",
            "DX-TEST",
            ("S4", "S5"),
        )
    if nitrous_oxide and Analyte.HOMOCYSTEINE not in latest:
        # DX-N2O: suspected recreational nitrous oxide -> plasma homocysteine first [S5][S7][S8].
        out.next_test(
            Analyte.HOMOCYSTEINE,
            "Suspected recreational nitrous oxide use: plasma homocysteine is the first test (total B12 can "
            "be misleading); refer to secondary care if it is not available in primary care (NICE draft "
            "wording).",
            "DX-N2O",
            ("S5", "S7", "S8"),
        )
    if status is Status.INDETERMINATE and case.symptoms and Analyte.MMA not in latest:
        # DX-MMA: "Indeterminate total/active B12 and symptoms/signs -> consider serum MMA" [S4].
        out.next_test(
            Analyte.MMA,
            "Indeterminate B12 with symptoms: consider serum methylmalonic acid (MMA). Draft NICE wording: "
            "treatment should be considered if the test is indeterminate and deficiency is suspected, with "
            "or without an MMA test.",
            "DX-MMA",
            ("S4", "S13"),
        )


def _mma_context(case: Case, status: Status, mma_raised: bool, latest: Mapping[Analyte, _Read], out: _Out) -> None:
    mma_used = Analyte.MMA in latest or any(test.test is Analyte.MMA for test in out.next_tests)
    if mma_used and Condition.RENAL_IMPAIRMENT in case.conditions:
        out.alert(
            "DX-MMA-RENAL",
            Severity.WARNING,
            "Renal impairment is recorded: MMA is falsely raised in renal insufficiency (also hypovolaemia "
            "and small-bowel bacterial overgrowth), so a raised MMA may not mean B12 deficiency.",
            ("S71",),
        )
    if mma_raised and status is Status.INDETERMINATE:
        out.alert(
            "DX-MMA",
            Severity.INFO,
            "A raised MMA with an indeterminate B12 supports functional B12 deficiency (AAFP: MMA confirms "
            "deficiency when B12 is low-normal); draft NICE wording: treatment should be considered when the "
            "test is indeterminate and deficiency is suspected.",
            ("S4", "S50", "S51", "S13"),
        )


def _clinical_alerts(
    case: Case,
    thresholds: ThresholdSet,
    status: Status,
    strong: tuple[str, ...],
    latest: Mapping[Analyte, _Read],
    out: _Out,
) -> None:
    has_b12 = any(analyte in latest for analyte in _B12)
    if strong and status is not Status.CONFIRMED:
        # DX-DISCORD, BSH 2014: "Discordance between test and strong clinical features -> do not delay
        # treatment" (avoid neurological impairment) [S17].
        result = {
            Status.INDETERMINATE: "indeterminate",
            Status.UNLIKELY: "says deficiency is unlikely",
            Status.NOT_ASSESSABLE: "not assessable",
        }[status]
        out.alert(
            "DX-DISCORD",
            Severity.WARNING,
            f"Strong clinical features ({'; '.join(strong)}) with a B12 result that is {result}: do not "
            "delay treatment, to avoid neurological impairment (BSH: the clinical picture matters most).",
            ("S17",),
        )
    if case.patient.ethnicity is Ethnicity.BLACK and has_b12:
        # DX-ETH: NG239 rec 1.3.13 as quoted by NWL Pathology [S7].
        out.alert(
            "DX-ETH",
            Severity.INFO,
            "People of Black ethnicity may have a higher reference range; NICE NG239 (as quoted by NWL "
            'Pathology): they "may need treatment at lower concentrations than the cut-offs provided", '
            "taken into account with symptoms, signs and risk factors.",
            ("S7",),
        )
    if thresholds.local:
        # DX-LAB: "local lab thresholds may override (e.g. RUH 145/180)" [S12].
        lab_sources = thresholds.sources
        basis = "" if lab_sources else f" Source: {thresholds.citation}"
        out.alert(
            "DX-LAB",
            Severity.INFO,
            f"Local thresholds are used ({thresholds.title}): they apply to this lab's method and override "
            f"NICE NG239 for its results.{basis}",
            lab_sources,
        )
        if thresholds.min_retest_days is not None:
            out.alert(
                "DX-LAB",
                Severity.INFO,
                f"Do not repeat the B12 test within {thresholds.min_retest_days} days ({thresholds.title}).",
                lab_sources,
            )
    if case.treatment.long_term_replacement and has_b12:
        out.alert(
            "FU-NO-RETEST",
            Severity.WARNING,
            "Established on long-term B12 replacement: do not re-test B12 (BNSSG); the result should not be "
            "used to adjust treatment.",
            ("S59",),
        )


def _age_scope(case: Case, thresholds: ThresholdSet, out: _Out) -> None:
    age = case.patient.age
    if age is None or age >= ADULT_FROM_AGE:
        return
    # SCOPE-AGE: NICE NG239 "Covers people aged 16+" [S1]; its bands are every guideline's default set, and
    # b12's anaemia and MCV limits are adult ones. No paediatric range is in REFERENCE, so none is guessed.
    out.alert(
        "SCOPE-AGE",
        Severity.WARNING,
        f"Patient aged {age} (under 16): b12 holds no paediatric reference ranges, so these results are read as "
        f"for an adult ({thresholds.title}; adult anaemia and MCV limits). NICE NG239, whose bands are b12's "
        "default cut-offs, covers people aged 16 and over. A clinician interprets the results.",
        ("S1",),
    )
