"""The clinical core as the oracle of the triage: one patient's raw rows -> Case -> labs.interpret.

Rows are read here in plain Python with the domain's own parsers (parse_unit, the threshold set), so
the comparison checks the engine's SQL against the single-patient path, not against itself. The few
definitions the core leaves to the triage (which injection counts as "the last", when treatment is
"established") are re-implemented here from docs/triage.md.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dateutil.relativedelta import relativedelta

from b12.adapters.triage.rules import RuleData, rule_data
from b12.adapters.triage.vocabulary import conversions, name_key
from b12.domain.analytes import LOINC, Analyte
from b12.domain.case import Case, Cause, LabResult, Patient, Sex, Symptom, TreatmentHistory
from b12.domain.errors import UnitError
from b12.domain.guidelines import load_guideline
from b12.domain.guidelines.thresholds import load_threshold_set
from b12.domain.labs import Interpretation, interpret
from b12.domain.units import parse_unit

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
SYNTH_AS_OF = date(2026, 1, 1)


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
            value = float(raw["value"])
            unit = parse_unit(raw["unit"])
            when = date.fromisoformat(raw["date"][:10])
        except (ValueError, UnitError):
            continue
        conversion = plan.get((analyte, unit.symbol))
        if conversion is None or not value > 0:
            continue
        upper = float(raw["upper_limit"]) if raw.get("upper_limit") else None
        normalised = value if conversion.same_unit else round(value * conversion.factor, 6)
        rows[patient].append(Row(analyte, value, unit.symbol, when, upper, normalised))
    return rows


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
    return sorted(mine, key=lambda r: (-r.date.toordinal(), r.normalised, r.value, r.unit))[0]


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
    # The Case picks the first latest result in list order: list the lowest value first, as the triage does.
    ordered = sorted(rows, key=lambda r: (r.normalised, r.value, r.unit))
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
