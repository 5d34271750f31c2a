"""The clinical core as the oracle of the triage: one patient's raw rows -> Case -> labs.interpret.

Rows are read here in plain Python with the domain's own parsers (parse_unit, the threshold set), so
the comparison checks the engine's SQL against the single-patient path, not against itself. The few
definitions the core leaves to the triage (which injection counts as "the last", when treatment is
"established") are re-implemented here from docs/triage.md.
"""

from __future__ import annotations

import csv
import math
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dateutil.relativedelta import relativedelta

from b12.adapters.triage.rules import EPOCH, LATEST_DATE, MAX_MICRO, RuleData, rule_data
from b12.adapters.triage.vocabulary import conversions, name_key
from b12.domain.analytes import LOINC, Analyte
from b12.domain.case import Case, Cause, LabResult, Patient, Sex, Symptom, TreatmentHistory
from b12.domain.errors import UnitError
from b12.domain.guidelines import load_guideline
from b12.domain.guidelines.thresholds import load_threshold_set
from b12.domain.labs import (
    STABLER_HCY_NORMAL_BELOW_UMOL_L,
    STABLER_MMA_NORMAL_BELOW_NMOL_L,
    Interpretation,
    interpret,
)
from b12.domain.units import parse_unit, quantity

# The finding codes the triage computes (labs has a few more: threshold_set_note, low_potassium).
TRIAGE_FINDINGS = frozenset(
    {
        "anaemia",
        "macrocytosis",
        "normal_mcv",
        "folate_deficiency",
        "folate_indeterminate",
        "raised_mma",
        "raised_homocysteine",
        "raised_b12",
        "converted_for_scale",
        "b12_not_classified",
        "b12_tests_disagree",
        "pregnancy_total_b12",
    }
)
# Flags that are the same rule as an alert of labs.interpret.
FLAG_ALERTS = {
    "recent_injection": "DX-RECENT-INJ",
    "retested_on_replacement": "FU-NO-RETEST",
    "strong_features_not_confirmed": "DX-DISCORD",
}
_B12 = (Analyte.B12_TOTAL, Analyte.B12_ACTIVE)

# Hand-written edge cases (tests/adapters/test_triage.py reads what each patient shows; tests/e2e runs them
# on both engines): units, boundaries, a recent injection, rejects of every kind, a duplicate patient row.
OBSERVATIONS = """\
patient_id,date,code,test,value,unit,upper_limit
P1,2024-01-02,2132-9,,150,ng/L,
P1,2023-06-01,,Vitamin B12,400,pg/mL,
P1,2024-01-02,,Haemoglobin,11.5,g/dL,
P1,2024-01-02,787-2,,104,fL,
P2,2024-02-03,14685-2,,200,pmol/L,
P2,2024-02-03,,MMA,0.5,µmol/L,0.4
P3,2024-02-03,,holoTC,30,PMOL/L,
,2024-02-03,,B12,30,ng/L,
P4,2024-02-03,,B12,<50,ng/L,
P4,2024-02-03,,B12,50,IU/L,
P4,2024-02-03,,Glucose,5,mmol/L,
P4,2024-02-30,,B12,500,ng/L,
P5,2024-03-01,,Folate,2.5,ng/mL,
P7,2024-03-01,,B12,132.9,pmol / L,
P8,2024-03-01,,B12,180,pg/mL,
P9,2024-03-01,,B12,350.5,ng/L,
P10,2024-03-01,,Active B12,25,pmol/L,
P11,2024-03-01,,MCV,90,g/L,
P12,1850-01-01,,B12,300,ng/L,
P12,2024-03-01,,B12,3000000,ng/L,
P13,2024-03-01,,MMA,500,nmol/L,600
P13,2024-03-01,,MMA,0.5,µmol/L,0.4
P14,2024-03-01,,Active B12,30.12345678,pmol/L,
P15,2024-03-01,,B12,1_000,ng/L,
P15,2024-03-01,,B12,NaN,ng/L,
P15,2024-03-01,,B12,250d,ng/L,
P15,2024-03-01,,B12,Infinity,ng/L,
P15,2024-03-01,,B12, 1e2 ,ng/L,
P16,2024-03-01,,MCV,5000,fL,
P16,2024-03-01,,B12,0.0005,pg/mL,
P16,2024-03-01,,MCV,99,fL,95f
"""
ADMINISTRATIONS = """\
patient_id,date,dose
P2,2024-01-25,1 mg
P5,2023-01-01,1 mg
P6,2023-06-01,1 mg
,2023-06-01,1 mg
P6,2024-07-01,1 mg
"""
PATIENTS = """\
patient_id,sex,pregnant,causes,symptoms
P1,M,no,autoimmune_gastritis,paraesthesia;fatigue
P2,F,no,,fatigue
P3,F,yes,nitrous oxide,
P3,F,yes,nitrous oxide,
"""
NORMAL_BELOW = {Analyte.MMA: STABLER_MMA_NORMAL_BELOW_NMOL_L, Analyte.HOMOCYSTEINE: STABLER_HCY_NORMAL_BELOW_UMOL_L}
SYNTH_AS_OF = date(2026, 1, 1)
EDGE_AS_OF = date(2024, 6, 1)  # the as-of date of the hand-written edge cases


def _names() -> dict[str, Analyte]:
    from b12.adapters.triage.vocabulary import TEST_NAMES

    names = {name_key(a.value): a for a in Analyte}
    for analyte, extra in TEST_NAMES.items():
        names.update({name_key(n): analyte for n in extra})
    return names


_CODES = {code: analyte for analyte, codes in LOINC.items() for code in codes if code}


@dataclass(frozen=True, slots=True)
class Row:
    analyte: Analyte
    value: float
    unit: str
    date: date
    upper: float | None
    normalised: float
    rank: int  # the unit's order among the analyte's units (vocabulary.conversions)
    raised: bool  # above the row's upper limit, else the published normal (MMA and homocysteine only)

    @property
    def order(self) -> tuple[int, float, int, bool]:
        """The triage's order (docs/triage.md): latest date, lowest value, the unit's rank, not raised."""
        return (-self.date.toordinal(), self.normalised, self.rank, self.raised)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def accepted_rows(path: Path, data: RuleData) -> dict[str, list[Row]]:
    """Observation rows per patient that the core can read, parsed with the domain's functions."""
    names = _names()
    plan = {(c.analyte, c.unit.symbol): c for c in conversions(data.thresholds)}
    rows: dict[str, list[Row]] = defaultdict(list)
    for raw in _read(path):
        patient = (raw.get("patient_id") or "").strip()
        code, test = (raw.get("code") or "").strip(), (raw.get("test") or "").strip()
        analyte = _CODES.get(code) or names.get(name_key(test)) if (code or test) else None
        if not patient or analyte is None:
            continue
        try:
            value = _number(raw["value"])
            unit = parse_unit(raw["unit"])
            when = date.fromisoformat(raw["date"][:10])
            quantity(value, unit)  # the core refuses a value outside the sanity bounds of units.toml
        except (ValueError, UnitError):
            continue
        conversion = plan.get((analyte, unit.symbol))
        if conversion is None or not (value > 0 and math.isfinite(value)):
            continue
        # Normalised values are kept to 6 decimals, and the triage reads values and dates within its key.
        micro = math.floor(min(value * conversion.factor * 1_000_000, MAX_MICRO + 1) + 0.5)
        if not (1 <= micro <= MAX_MICRO and EPOCH <= when <= LATEST_DATE):
            continue
        normalised = micro / 1_000_000
        upper = _number(raw["upper_limit"]) if raw.get("upper_limit") else None
        normal = NORMAL_BELOW.get(analyte)
        raised = normal is not None and (value > upper if upper is not None else normalised >= normal)
        rows[patient].append(Row(analyte, value, unit.symbol, when, upper, normalised, conversion.rank, raised))
    return rows


# docs/triage.md: a value is a plain decimal number (Python's float() would also take "1_000", "nan", "inf").
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _number(text: str) -> float:
    if not _DECIMAL.fullmatch(text.strip()):
        raise ValueError(f"not a decimal number: {text!r}")
    return float(text)


def administrations(path: Path) -> dict[str, list[date]]:
    given: dict[str, list[date]] = defaultdict(list)
    for raw in _read(path):
        given[raw["patient_id"]].append(date.fromisoformat(raw["date"]))
    return given


def attributes(path: Path) -> dict[str, dict[str, str]]:
    return {raw["patient_id"]: raw for raw in _read(path)}


def _terms(text: str, kind: type[Cause] | type[Symptom]) -> frozenset[str]:
    values = {member.value for member in kind}
    terms = {"_".join(t.strip().lower().replace("-", " ").split()) for t in text.split(";")}
    return frozenset(t for t in terms if t in values)


def latest(rows: list[Row], analyte: Analyte) -> Row | None:
    mine = [r for r in rows if r.analyte is analyte]
    if not mine:
        return None
    return min(mine, key=lambda r: r.order)


@dataclass(frozen=True, slots=True)
class Oracle:
    case: Case
    interpretation: Interpretation


def interpret_patient(
    rows: list[Row], given: list[date], attrs: dict[str, str] | None, data: RuleData
) -> Oracle | None:
    """The core's interpretation of one patient, or None when the Case cannot hold the triage's view
    (total and active B12 with different 'last injection before the sample')."""
    as_of = data.as_of
    given = sorted(d for d in given if d <= as_of)
    last_before: dict[Analyte, date | None] = {}
    established = False
    for analyte in _B12:
        sample = latest(rows, analyte)
        if sample is None:
            continue
        before = [d for d in given if d <= sample.date]
        last_before[analyte] = before[-1] if before else None
        if before:
            established |= before[0] <= sample.date - relativedelta(months=data.established_months) and before[
                -1
            ] >= sample.date - relativedelta(months=data.maintenance_months)
    if len(set(last_before.values())) > 1:
        return None
    last_injection = next(iter(last_before.values()), None)
    attrs = attrs or {}
    sex_text = attrs.get("sex", "").strip().lower()
    sex = Sex.MALE if sex_text in ("m", "male") else Sex.FEMALE
    pregnant = attrs.get("pregnant", "").strip().lower() in ("true", "yes", "y", "1", "t")
    long_term = attrs.get("long_term_replacement", "").strip().lower() in ("true", "yes", "y", "1", "t")
    # The Case picks the first latest result in list order: list them in the triage's order.
    ordered = sorted(rows, key=lambda r: r.order)
    case = Case(
        guideline="uk",
        start=as_of,
        patient=Patient(sex=sex, pregnant=pregnant),
        thresholds=data.thresholds.id,
        labs=tuple(LabResult(r.analyte, r.value, r.unit, r.date, r.upper) for r in ordered),
        symptoms=frozenset(Symptom(s) for s in _terms(attrs.get("symptoms", ""), Symptom)),
        causes=frozenset(Cause(c) for c in _terms(attrs.get("causes", ""), Cause)),
        treatment=TreatmentHistory(last_injection=last_injection, long_term_replacement=long_term or established),
    )
    return Oracle(case, interpret(case, data.thresholds))


def codes(text: str | None) -> set[str]:
    return {item.split(":", 1)[0] for item in (text or "").split(";") if item}


def pairs(text: str | None) -> set[tuple[str, str]]:
    return {tuple(item.split(":", 1)) for item in (text or "").split(";") if item}  # type: ignore[misc]


def expected(oracle: Oracle) -> dict[str, object]:
    """What the triage row must say for this patient, from the core's interpretation."""
    interp = oracle.interpretation
    alerts = {alert.rule for alert in interp.alerts}
    return {
        "status": interp.status.value,
        "findings": {f.code for f in interp.findings} & TRIAGE_FINDINGS,
        "next_tests": {(t.test.value, t.rule) for t in interp.next_tests},
        "flags": {flag for flag, rule in FLAG_ALERTS.items() if rule in alerts},
    }


def observed(row: dict[str, object]) -> dict[str, object]:
    return {
        "status": row["status"],
        "findings": codes(str(row["findings"] or "")),
        "next_tests": pairs(str(row["next_tests"] or "")),
        "flags": codes(str(row["flags"] or "")) & set(FLAG_ALERTS),
    }


def check_against_core(rows: list[dict[str, object]], paths: dict[str, Path], sample: int, seed: int) -> int:
    """Compare a sample of triage rows with labs.interpret on a Case built from the same rows."""
    data = rule_data(load_threshold_set("nice-ng239"), load_guideline("uk"), SYNTH_AS_OF)
    accepted = accepted_rows(paths["obs"], data)
    given = administrations(paths["adm"])
    attrs = attributes(paths["pat"])
    chosen = random.Random(seed).sample(rows, sample)
    compared = 0
    for row in chosen:
        pid = str(row["patient_id"])
        truth = interpret_patient(accepted.get(pid, []), given.get(pid, []), attrs.get(pid), data)
        if truth is None:
            continue
        assert observed(row) == expected(truth), pid
        compared += 1
    return compared
