"""Plan invariants over generated valid cases (Hypothesis): whatever the case, the plan holds together.

A valid case is any case the domain values accept: a guideline and optional threshold set, a patient
(pregnancy and breastfeeding only for women), any symptoms, causes and conditions, B12 and other
results in the units labs report them in, any preferences, and a horizon of 1–36 months.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from functools import cache
from itertools import pairwise
from typing import Any

from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

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
from b12.domain.guidelines import GUIDELINE_IDS, find_regimen, sources
from b12.domain.labs import threshold_sets
from b12.domain.plan import FollowUpKind, Plan
from b12.domain.regimen import Product
from b12.services import plan_case, rule_catalogue

# (unit, lowest, highest) a lab might report; the values are spread over every band of every set.
Units = list[tuple[str, float, float]]
B12_TOTAL_UNITS: Units = [("ng/L", 30, 1500), ("pg/mL", 30, 1500), ("pmol/L", 20, 1100), ("ng/mL", 0.03, 1.5)]
B12_ACTIVE_UNITS: Units = [("pmol/L", 5, 200)]
OTHER_UNITS: dict[Analyte, Units] = {
    Analyte.HEMOGLOBIN: [("g/L", 60, 180), ("g/dL", 6, 18)],
    Analyte.MCV: [("fL", 70, 130)],
    Analyte.FOLATE: [("nmol/L", 2, 50), ("µg/L", 1, 20)],
    Analyte.MMA: [("nmol/L", 100, 3000), ("µmol/L", 0.1, 3)],
    Analyte.HOMOCYSTEINE: [("µmol/L", 5, 100)],
}

SETTINGS = settings(max_examples=150)
ANY_GUIDELINE = st.sampled_from(GUIDELINE_IDS)


@cache
def catalogue() -> frozenset[str]:
    return frozenset(entry.id for entry in rule_catalogue())


def sometimes(values: type[Symptom] | type[Condition] | type[Cause], one_in: int) -> st.SearchStrategy[frozenset[Any]]:
    """A subset in which each member is present with probability 1/one_in (uniform subsets are mostly large)."""
    roll = st.sampled_from([False] * (one_in - 1) + [True])  # shrinks towards absent
    return st.tuples(*(roll for _ in values)).map(
        lambda present: frozenset(value for value, chosen in zip(values, present, strict=True) if chosen)
    )


@st.composite
def results(draw: st.DrawFn, analyte: Analyte, units: Units, start: date) -> LabResult:
    unit, low, high = draw(st.sampled_from(units))
    # Half the time from the bottom of the range, so deficient B12 results (and plans) are common.
    top = draw(st.sampled_from([min(low * 6, high), high]))
    value = draw(st.floats(low, top, allow_nan=False, allow_infinity=False))
    taken = draw(st.none() | st.integers(0, 90).map(lambda days: start - timedelta(days=days)))
    upper = None
    if analyte is Analyte.MMA and unit == "nmol/L":
        upper = draw(st.none() | st.sampled_from([280.0, 370.0, 400.0]))
    return LabResult(analyte, value, unit, date=taken, upper_limit=upper)


@st.composite
def patients(draw: st.DrawFn) -> Patient:
    sex = draw(st.sampled_from(Sex))
    female = sex is Sex.FEMALE
    return Patient(
        sex=sex,
        age=draw(st.none() | st.integers(0, 100)),  # under 16 too: SCOPE-AGE must be catalogued
        pregnant=female and draw(st.booleans()),
        breastfeeding=female and draw(st.booleans()),
        ethnicity=draw(st.none() | st.sampled_from(Ethnicity)),
    )


@st.composite
def cases(draw: st.DrawFn, guidelines: st.SearchStrategy[str] = ANY_GUIDELINE) -> Case:
    start = draw(st.dates(date(2000, 1, 1), date(2040, 12, 31)))
    labs: list[LabResult] = []
    if draw(st.booleans()):
        labs.append(draw(results(Analyte.B12_TOTAL, B12_TOTAL_UNITS, start)))
    if draw(st.booleans()):
        labs.append(draw(results(Analyte.B12_ACTIVE, B12_ACTIVE_UNITS, start)))
    for analyte, units in OTHER_UNITS.items():
        if draw(st.booleans()):
            labs.append(draw(results(analyte, units, start)))
    if draw(st.booleans()):
        labs.append(LabResult(Analyte.POTASSIUM, draw(st.floats(2.5, 6.0)), "mmol/L", lower_limit=3.5))
    last_injection = draw(st.none() | st.integers(0, 120).map(lambda days: start - timedelta(days=days)))
    return Case(
        guideline=draw(guidelines),
        start=start,
        patient=draw(patients()),
        thresholds=draw(st.none() | st.sampled_from(threshold_sets())),
        labs=tuple(draw(st.permutations(labs))),
        symptoms=draw(sometimes(Symptom, 8)),
        causes=draw(sometimes(Cause, 6)),
        conditions=draw(sometimes(Condition, 8)),
        preferences=Preferences(
            route=draw(st.none() | st.sampled_from(Route)),
            maintenance_interval_months=draw(st.none() | st.integers(1, 6)),
            treat=draw(st.none() | st.booleans()),
            overrides=draw(st.frozensets(st.sampled_from(["SAFE-COBALT", "SAFE-LEBER"]))),
        ),
        treatment=TreatmentHistory(last_injection=last_injection, long_term_replacement=draw(st.booleans())),
        strength=draw(st.none() | st.sampled_from(["1 mg/mL", "1000 mcg/mL", "500 mcg/mL"])),
        syringe=draw(st.sampled_from(["U-100", "U-40", ""])),
        horizon_months=draw(st.integers(1, 36)),
        mcv_cutoff_fl=draw(st.none() | st.sampled_from([96.0, 98.0, 100.0])),
    )


def _cited(plan: Plan) -> set[str]:
    interpretation = plan.interpretation
    cited: set[str] = set()
    for alert in plan.alerts:
        cited.update(alert.sources)
    for finding in interpretation.findings:
        cited.update(finding.sources)
    for test in interpretation.next_tests:
        cited.update(test.sources)
    for followup in plan.followups:
        cited.update(followup.sources)
    for phase in plan.recommendation.phases:
        cited.update(phase.sources)
    if plan.recommendation.regimen is not None:
        cited.update(plan.recommendation.regimen.sources)
    return cited


@SETTINGS
@given(cases())
def test_every_scheduled_dose_lies_between_the_start_and_the_horizon_in_date_order(case: Case) -> None:
    plan = plan_case(case)
    assert plan.horizon_end == case.start + relativedelta(months=case.horizon_months)
    if plan.schedule is None:
        return
    days = [dose.date for dose in plan.schedule.doses]
    assert all(case.start <= day <= plan.horizon_end for day in days)
    assert days == sorted(days)
    if days:
        assert days[0] == case.start
    for phase in {dose.phase for dose in plan.schedule.doses}:
        mine = [dose.date for dose in plan.schedule.doses if dose.phase == phase]
        assert all(a < b for a, b in pairwise(mine)), phase


@SETTINGS
@given(cases())
def test_totals_per_phase_and_overall_are_the_sums_of_the_doses(case: Case) -> None:
    schedule = plan_case(case).schedule
    if schedule is None:
        return
    by_phase: defaultdict[str, list[float]] = defaultdict(list)
    injections: defaultdict[str, int] = defaultdict(int)
    for dose in schedule.doses:
        by_phase[dose.phase].append(dose.dose_mg)
        injections[dose.phase] += dose.injected
    for totals in schedule.phases:
        assert totals.doses == len(by_phase[totals.phase])
        assert totals.injections == injections[totals.phase]
        assert math.isclose(totals.mg, math.fsum(by_phase[totals.phase]), abs_tol=1e-6)
    overall = schedule.overall
    assert overall.doses == len(schedule.doses) == sum(t.doses for t in schedule.phases)
    assert overall.injections == sum(dose.injected for dose in schedule.doses)
    assert math.isclose(overall.mg, math.fsum(dose.dose_mg for dose in schedule.doses), abs_tol=1e-6)
    assert math.isclose(overall.mg, math.fsum(t.mg for t in schedule.phases), abs_tol=1e-5)


@SETTINGS
@given(cases())
def test_every_scheduled_dose_is_within_its_phase_label_range(case: Case) -> None:
    plan = plan_case(case)
    if plan.schedule is None:
        return
    phases = {phase.name: phase for phase in plan.recommendation.phases}
    for dose in plan.schedule.doses:
        phase = phases[dose.phase]
        assert dose.dose_mg in phase.dose_range_mg
        assert (dose.product, dose.route) == (phase.product, phase.route)
        if dose.injected:
            assert dose.volume_ml is not None
            assert dose.volume_ml > 0
        else:
            assert dose.volume_ml is None


@SETTINGS
@given(cases())
def test_every_rule_is_in_the_catalogue_and_every_source_in_reference_section_12(case: Case) -> None:
    plan = plan_case(case)
    known = catalogue()
    assert {alert.rule for alert in plan.alerts} <= known
    assert set(plan.rules_applied) <= known
    assert {alert.rule for alert in plan.alerts} <= set(plan.rules_applied)
    assert _cited(plan) <= set(sources())
    for alert in plan.alerts:
        assert alert.message


@SETTINGS
@given(cases())
def test_the_recommendation_respects_blocked_products_treatment_and_cobalt(case: Case) -> None:
    plan = plan_case(case)
    recommendation = plan.recommendation
    if Condition.LEBER in case.conditions or Condition.TOBACCO_AMBLYOPIA in case.conditions:
        assert Product.CYANOCOBALAMIN in recommendation.blocked_products
    if Product.CYANOCOBALAMIN in recommendation.blocked_products:
        assert all(phase.product is not Product.CYANOCOBALAMIN for phase in recommendation.phases)
        for alternative in recommendation.alternatives:
            assert find_regimen(alternative, case.guideline)[1].product is not Product.CYANOCOBALAMIN
    if not recommendation.treat:
        assert plan.schedule is None or not plan.schedule.doses
        assert plan.followups == ()
        assert recommendation.phases == ()
    if Condition.COBALT_ALLERGY in case.conditions and "SAFE-COBALT" not in case.preferences.overrides:
        assert plan.schedule is None
        assert any(alert.rule == "SAFE-COBALT" for alert in plan.alerts)
    if case.preferences.treat is not None:
        assert recommendation.treat is case.preferences.treat
    assert any(alert.rule == "NOTE-DECISION" for alert in plan.alerts)


@SETTINGS
@given(cases())
def test_follow_ups_fall_within_the_horizon_in_date_order(case: Case) -> None:
    plan = plan_case(case)
    days = [followup.date for followup in plan.followups]
    assert all(case.start <= day <= plan.horizon_end for day in days)
    assert days == sorted(days)


@SETTINGS
@given(cases(st.just("uk")))
def test_uk_reviews_fall_1_month_after_the_start_in_pregnancy_or_breastfeeding_else_3_months(case: Case) -> None:
    plan = plan_case(case)
    reviews = [f.date for f in plan.followups if f.kind is FollowUpKind.REVIEW and f.rule == "FU-UK"]
    if not plan.recommendation.treat:
        assert reviews == []
        return
    months = 1 if case.patient.pregnant or case.patient.breastfeeding else 3
    first = case.start + relativedelta(months=months)
    if first > plan.horizon_end:
        assert reviews == []
        return
    assert reviews[0] == first
    # Later reviews only while a phase ending on clinical judgement is open, at the same interval.
    assert reviews == [case.start + relativedelta(months=months * k) for k in range(1, len(reviews) + 1)]
