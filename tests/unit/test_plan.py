"""Plan selection branches the vignette vectors do not reach, the maintenance-interval choice, and compare().

Every case starts on Monday 2026-01-05, so a three-times-a-week phase falls on Mon/Wed/Fri.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pytest

from b12.domain.alerts import Alert, Severity
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
)
from b12.domain.guidelines import find_regimen, load_guideline
from b12.domain.plan import FollowUpKind, Plan, RetainedEstimate, compare
from b12.domain.regimen import PhaseKind, Product
from b12.services import compare_regimens, interpret_case, plan_case, plan_regimens

START = date(2026, 1, 5)  # a Monday
LOW_B12 = LabResult(Analyte.B12_TOTAL, 150, "ng/L")  # confirmed on NICE NG239 (<180 ng/L)


def make_case(
    guideline: str = "uk",
    *,
    causes: Iterable[Cause] = (Cause.AUTOIMMUNE_GASTRITIS,),
    symptoms: Iterable[Symptom] = (Symptom.FATIGUE,),
    conditions: Iterable[Condition] = (),
    route: Route | None = None,
    interval: int | None = None,
    treat: bool | None = None,
    overrides: Iterable[str] = (),
    labs: tuple[LabResult, ...] = (LOW_B12,),
    patient: Patient | None = None,
    horizon: int = 12,
    syringe: str = "U-100",
) -> Case:
    return Case(
        guideline=guideline,
        start=START,
        patient=patient or Patient(Sex.FEMALE, 60),
        labs=labs,
        symptoms=frozenset(symptoms),
        causes=frozenset(causes),
        conditions=frozenset(conditions),
        preferences=Preferences(
            route=route, maintenance_interval_months=interval, treat=treat, overrides=frozenset(overrides)
        ),
        horizon_months=horizon,
        syringe=syringe,
    )


def alerts_for(plan: Plan, rule: str) -> list[Alert]:
    return [a for a in plan.alerts if a.rule == rule]


def regimen_id(plan: Plan) -> str | None:
    regimen = plan.recommendation.regimen
    return regimen.id if regimen else None


def dates(plan: Plan, phase: str | None = None) -> list[date]:
    assert plan.schedule is not None
    return [d.date for d in plan.schedule.doses if phase is None or d.phase == phase]


# --- UK selection --------------------------------------------------------------------------------------------


def test_a_uk_nasal_preference_is_warned_about_and_planned_im() -> None:
    plan = plan_case(make_case(route=Route.NASAL))
    assert regimen_id(plan) == "UK-IM-NN"
    assert plan.recommendation.first_route is Route.IM
    warned = [a for a in alerts_for(plan, "NOTE-ROUTE") if a.severity is Severity.WARNING]
    assert len(warned) == 1
    assert "No UK nasal regimen" in warned[0].message


def test_a_uk_nasal_preference_with_nitrous_oxide_is_also_warned_about() -> None:
    plan = plan_case(make_case(causes=[Cause.NITROUS_OXIDE], route=Route.NASAL))
    assert regimen_id(plan) == "UK-IM-NN"
    assert any("No UK nasal regimen" in a.message for a in alerts_for(plan, "NOTE-ROUTE"))
    assert alerts_for(plan, "UK-N2O")


def test_a_uk_oral_preference_with_autoimmune_gastritis_is_oral_1_mg_with_a_warning_and_3_monthly_labs() -> None:
    plan = plan_case(make_case(route=Route.ORAL, horizon=24))
    assert regimen_id(plan) == "UK-ORAL-MAL"
    assert plan.recommendation.first_route is Route.ORAL
    assert plan.recommendation.lifelong
    assert [a.severity for a in alerts_for(plan, "UK-ORAL-PA")] == [Severity.WARNING]
    labs = [f for f in plan.followups if f.rule == "UK-ORAL-PA"]
    assert [f.date for f in labs] == [date(2026, m, 5) for m in (4, 7, 10)] + [date(2027, m, 5) for m in (1, 4, 7)]
    assert all(f.kind is FollowUpKind.LABS and f.sources == ("S31",) for f in labs)
    assert "UK-ORAL-PA" in plan.rules_applied


def test_oral_treatment_in_pernicious_anaemia_is_checked_yearly_after_18_months() -> None:
    plan = plan_case(make_case(route=Route.ORAL, horizon=48))
    labs = [f.date for f in plan.followups if f.rule == "UK-ORAL-PA"]
    assert labs[6:] == [date(2028, 7, 5), date(2029, 7, 5)]


def test_oral_pernicious_anaemia_labs_stop_at_the_horizon() -> None:
    plan = plan_case(make_case(route=Route.ORAL, horizon=7))
    assert [f.date for f in plan.followups if f.rule == "UK-ORAL-PA"] == [date(2026, 4, 5), date(2026, 7, 5)]


def test_a_uk_oral_preference_for_a_dietary_cause_gets_the_diet_dose_and_dietary_advice() -> None:
    plan = plan_case(make_case(causes=[Cause.DIET], route=Route.ORAL))
    assert regimen_id(plan) == "UK-ORAL-DIET"
    assert alerts_for(plan, "UK-ORAL-DIET")
    assert not alerts_for(plan, "UK-ORAL-PA")
    assert plan.switch_note == "No loading phase: the regimen starts at its maintenance dose."


def test_a_uk_oral_preference_without_a_known_cause_gets_the_malabsorption_dose() -> None:
    plan = plan_case(make_case(causes=[], route=Route.ORAL))
    assert regimen_id(plan) == "UK-ORAL-MAL"
    assert not [f for f in plan.followups if f.rule == "UK-ORAL-PA"]


def test_a_uk_dietary_cause_with_an_im_preference_is_planned_as_uk_im_nn() -> None:
    plan = plan_case(make_case(causes=[Cause.DIET], route=Route.IM))
    assert regimen_id(plan) == "UK-IM-NN"
    assert not plan.recommendation.lifelong
    assert plan.recommendation.reconsider is not None
    assert "diet" in plan.recommendation.reconsider


def test_a_uk_case_with_no_recorded_cause_is_planned_as_uk_im_nn() -> None:
    plan = plan_case(make_case(causes=[]))
    assert regimen_id(plan) == "UK-IM-NN"
    assert plan.recommendation.reconsider is not None
    assert "cause unknown" in plan.recommendation.reconsider


def test_a_uk_dietary_cause_without_a_preference_is_oral_with_dietary_advice() -> None:
    plan = plan_case(make_case(causes=[Cause.DIET]))
    assert regimen_id(plan) == "UK-ORAL-DIET"
    assert alerts_for(plan, "UK-ORAL-DIET")


@pytest.mark.parametrize(
    ("causes", "expected"),
    [
        pytest.param([Cause.PPI], "UK-ORAL-MAL", id="medicine-related malabsorption is oral"),
        pytest.param([Cause.COELIAC], "UK-ORAL-MAL", id="coeliac disease is oral"),
        pytest.param([Cause.CROHNS], "UK-IM-NN", id="Crohn's disease is IM"),
        pytest.param([Cause.GASTRECTOMY], "UK-IM-NN", id="gastrectomy is IM"),
        pytest.param([Cause.PPI, Cause.UNKNOWN], "UK-IM-NN", id="an unknown cause besides a medicine is IM"),
        pytest.param([Cause.NITROUS_OXIDE], "UK-IM-NN", id="nitrous oxide without an oral preference is IM"),
    ],
)
def test_uk_regimen_by_cause_without_a_route_preference(causes: list[Cause], expected: str) -> None:
    assert regimen_id(plan_case(make_case(causes=causes))) == expected


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (Cause.H2_ANTAGONIST, "medicine-related"),
        (Cause.COELIAC, "coeliac disease"),
        (Cause.CROHNS, "Crohn's disease"),
        (Cause.NITROUS_OXIDE, "nitrous oxide"),
    ],
)
def test_a_reversible_cause_is_named_in_the_reason_to_reconsider(cause: Cause, reason: str) -> None:
    recommendation = plan_case(make_case(causes=[cause], route=Route.IM)).recommendation
    assert not recommendation.lifelong
    assert recommendation.reconsider is not None
    assert reason in recommendation.reconsider


def test_lifelong_treatment_after_surgery_cites_uk_prophylaxis() -> None:
    plan = plan_case(make_case(causes=[Cause.ILEAL_RESECTION]))
    assert plan.recommendation.lifelong
    assert "UK-PROPH" in plan.rules_applied


def test_an_oral_preference_with_neurological_symptoms_is_warned_and_planned_im_for_neurology() -> None:
    plan = plan_case(make_case(symptoms=[Symptom.PARAESTHESIA], route=Route.ORAL))
    assert regimen_id(plan) == "UK-IM-NEURO"
    assert any("oral preference" in a.message for a in alerts_for(plan, "NOTE-ROUTE"))


# --- US label ------------------------------------------------------------------------------------------------


def test_us_label_neurological_symptoms_add_the_higher_dose_note_of_the_hydroxocobalamin_label() -> None:
    plan = plan_case(make_case("us-label", symptoms=[Symptom.NUMBNESS]))
    assert regimen_id(plan) == "US-FDA-CN"
    notes = alerts_for(plan, "US-FDA-OH-NEURO")
    assert [a.severity for a in notes] == [Severity.INFO]
    assert notes[0].sources == ("S42",)
    assert plan.recommendation.urgent_specialist_advice


def test_us_label_oral_preference_in_pernicious_anaemia_is_warned_and_kept_injected() -> None:
    plan = plan_case(make_case("us-label", route=Route.ORAL))
    assert regimen_id(plan) == "US-FDA-CN"
    assert plan.recommendation.first_route is Route.IM
    assert [a.severity for a in alerts_for(plan, "US-FDA-ORAL-PA")] == [Severity.WARNING]


def test_us_label_dietary_deficiency_plans_loading_only_and_says_chronic_treatment_is_oral() -> None:
    plan = plan_case(make_case("us-label", causes=[Cause.DIET]))
    assert alerts_for(plan, "US-FDA-ORAL-CHRONIC")
    assert {p.kind for p in plan.recommendation.phases} == {PhaseKind.LOADING}
    assert plan.schedule is not None
    assert plan.schedule.maintenance_starts is None
    assert "maintenance is not planned" in plan.switch_note


def test_us_label_monitoring_asks_for_baseline_potassium_and_day_5_to_7_counts() -> None:
    plan = plan_case(make_case("us-label"))
    monitoring = [f for f in plan.followups if f.kind is FollowUpKind.MONITORING]
    assert [f.date for f in monitoring] == [START, START + timedelta(days=1)] + [
        START + timedelta(days=d) for d in (4, 5, 6)
    ]
    gate = [f for f in plan.followups if f.kind is FollowUpKind.REVIEW and f.rule == "US-FDA-CN"]
    assert [f.date for f in gate] == [date(2026, 1, 12)]  # the day before the alternate-day phase
    assert "reticulocyte response" in (gate[0].expect or "")


def test_us_label_leber_with_neurological_symptoms_gets_hydroxocobalamin_and_its_higher_dose_note() -> None:
    plan = plan_case(make_case("us-label", symptoms=[Symptom.VISION], conditions=[Condition.LEBER]))
    assert regimen_id(plan) == "US-FDA-OH"
    assert plan.recommendation.blocked_products == (Product.CYANOCOBALAMIN,)
    assert alerts_for(plan, "US-SUPPLY-OH")
    assert alerts_for(plan, "US-FDA-OH-NEURO")
    assert alerts_for(plan, "SAFE-LEBER")[0].severity is Severity.CRITICAL
    assert plan.recommendation.alternatives == ()


# --- US practice ---------------------------------------------------------------------------------------------


def test_us_practice_im_preference_is_stabler() -> None:
    plan = plan_case(make_case("us-practice", causes=[Cause.METFORMIN], route=Route.IM))
    assert regimen_id(plan) == "US-STABLER"
    assert alerts_for(plan, "MED-MET")


def test_us_practice_nasal_preference_without_neurology_loads_im_then_monitors_the_nasal_spray() -> None:
    plan = plan_case(make_case("us-practice", route=Route.NASAL))
    assert regimen_id(plan) == "US-NASAL"
    assert plan.recommendation.first_route is Route.IM
    first_nasal = next(d.date for d in plan.schedule.doses if d.route is Route.NASAL) if plan.schedule else None
    assert first_nasal == date(2026, 3, 15)
    checks = [f for f in plan.followups if f.rule == "US-NASAL"]
    # 1 month after the first spray, then every 6 months, up to the horizon (2027-01-05).
    assert [f.date for f in checks] == [date(2026, 4, 15), date(2026, 10, 15)]
    assert all(f.kind is FollowUpKind.LABS and f.sources == ("S47",) for f in checks)


def test_us_practice_nasal_monitoring_runs_every_6_months_to_the_horizon() -> None:
    plan = plan_case(make_case("us-practice", route=Route.NASAL, horizon=36))
    checks = [f.date for f in plan.followups if f.rule == "US-NASAL"]
    assert checks == [date(year, month, 15) for year in (2026, 2027, 2028) for month in (4, 10)]


def test_nasal_monitoring_is_not_dated_when_the_first_spray_falls_after_the_horizon() -> None:
    plan = plan_case(make_case("us-practice", route=Route.NASAL, horizon=1))
    assert plan.schedule is not None
    assert all(d.route is Route.IM for d in plan.schedule.doses)
    assert not [f for f in plan.followups if f.rule == "US-NASAL"]


@pytest.mark.parametrize(
    ("causes", "route", "expected"),
    [
        pytest.param([Cause.BARIATRIC_SURGERY], None, "US-AAFP-BARIATRIC", id="bariatric surgery is oral for life"),
        pytest.param([Cause.AUTOIMMUNE_GASTRITIS], None, "US-STABLER", id="pernicious anaemia is IM"),
        pytest.param([Cause.AUTOIMMUNE_GASTRITIS], Route.ORAL, "US-AAFP", id="pernicious anaemia by mouth if asked"),
        pytest.param([Cause.DIET], None, "US-AAFP", id="diet is oral"),
    ],
)
def test_us_practice_regimen_by_cause_and_preference(causes: list[Cause], route: Route | None, expected: str) -> None:
    assert regimen_id(plan_case(make_case("us-practice", causes=causes, route=route))) == expected


def test_us_practice_pernicious_anaemia_without_a_preference_explains_the_choice_of_im() -> None:
    plan = plan_case(make_case("us-practice"))
    assert alerts_for(plan, "US-AAFP-IM")


def test_us_practice_leber_borrows_the_label_hydroxocobalamin_regimen() -> None:
    plan = plan_case(make_case("us-practice", conditions=[Condition.TOBACCO_AMBLYOPIA]))
    assert regimen_id(plan) == "US-FDA-OH"
    assert plan.recommendation.product is Product.HYDROXOCOBALAMIN
    assert alerts_for(plan, "US-SUPPLY-OH")
    assert not alerts_for(plan, "US-FDA-OH-NEURO")


# --- safety and notes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guideline", "route", "fires"),
    [
        pytest.param("us-label", None, True, id="US label injection"),
        pytest.param("us-practice", Route.IM, True, id="US practice injection"),
        pytest.param("us-practice", Route.ORAL, False, id="US practice by mouth"),
        pytest.param("uk", None, False, id="UK hydroxocobalamin"),
    ],
)
def test_renal_impairment_with_a_us_injection_warns_about_aluminium(
    guideline: str, route: Route | None, fires: bool
) -> None:
    plan = plan_case(make_case(guideline, conditions=[Condition.RENAL_IMPAIRMENT], route=route))
    assert bool(alerts_for(plan, "SAFE-ALUMINIUM")) is fires


@pytest.mark.parametrize(("route", "fires"), [(Route.IM, True), (Route.ORAL, False)])
def test_an_anticoagulant_is_noted_when_the_plan_injects(route: Route, fires: bool) -> None:
    plan = plan_case(make_case(conditions=[Condition.ANTICOAGULANT], route=route))
    notes = alerts_for(plan, "NOTE-ANTICOAG")
    assert bool(notes) is fires
    if fires:
        assert notes[0].sources == ()
        assert "give no advice" in notes[0].message


def test_a_clinicians_decision_not_to_treat_gives_no_schedule_and_notes_the_decision() -> None:
    plan = plan_case(make_case(treat=False))
    assert plan.interpretation.status.value == "confirmed"
    assert not plan.recommendation.treat
    assert plan.recommendation.reason == "The clinician's decision recorded in the case."
    assert plan.schedule is None
    assert plan.followups == ()
    assert alerts_for(plan, "NOTE-TREAT-DECISION")
    assert plan.switch_note == "No treatment planned."


def test_a_clinicians_decision_to_treat_an_unlikely_result_is_planned() -> None:
    plan = plan_case(make_case(treat=True, labs=(LabResult(Analyte.B12_TOTAL, 500, "ng/L"),)))
    assert plan.recommendation.treat
    assert plan.schedule is not None
    assert alerts_for(plan, "NOTE-TREAT-DECISION")


@pytest.mark.parametrize(
    ("labs", "treat", "phrase"),
    [
        pytest.param((LabResult(Analyte.B12_TOTAL, 250, "ng/L"),), False, "Indeterminate", id="indeterminate"),
        pytest.param((LabResult(Analyte.B12_TOTAL, 500, "ng/L"),), False, "unlikely", id="unlikely"),
        pytest.param((LabResult(Analyte.HEMOGLOBIN, 100, "g/L"),), False, "test first", id="no B12 result"),
    ],
)
def test_without_a_confirmed_result_or_neurology_there_is_no_treatment(
    labs: tuple[LabResult, ...], treat: bool, phrase: str
) -> None:
    plan = plan_case(make_case(labs=labs))
    assert plan.recommendation.treat is treat
    assert phrase in plan.recommendation.reason
    assert plan.schedule is None


def test_neurological_symptoms_with_an_unconfirmed_result_are_treated_without_delay() -> None:
    plan = plan_case(make_case(symptoms=[Symptom.ATAXIA], labs=(LabResult(Analyte.B12_TOTAL, 250, "ng/L"),)))
    assert plan.recommendation.treat
    assert "DX-DISCORD" in plan.recommendation.reason
    assert alerts_for(plan, "DX-DISCORD")


def test_cobalt_allergy_withholds_the_schedule_until_a_clinician_overrides_it() -> None:
    withheld = plan_case(make_case(conditions=[Condition.COBALT_ALLERGY]))
    assert withheld.schedule is None
    assert not withheld.recommendation.scheduled
    assert alerts_for(withheld, "SAFE-COBALT")[0].severity is Severity.CRITICAL
    assert withheld.switch_note.startswith("No schedule")
    overridden = plan_case(make_case(conditions=[Condition.COBALT_ALLERGY], overrides=["SAFE-COBALT"]))
    assert overridden.schedule is not None
    assert alerts_for(overridden, "SAFE-COBALT")[0].severity is Severity.WARNING


def test_pregnancy_warns_about_hydroxocobalamin_only_when_it_is_injected() -> None:
    pregnant = Patient(Sex.FEMALE, 30, pregnant=True)
    uk = plan_case(make_case(patient=pregnant, labs=(LabResult(Analyte.B12_ACTIVE, 20, "pmol/L"),)))
    assert [a.severity for a in alerts_for(uk, "SAFE-PREG-OH")] == [Severity.INFO]
    undemonstrated = plan_case(
        make_case(patient=pregnant, treat=True, labs=(LabResult(Analyte.B12_ACTIVE, 50, "pmol/L"),))
    )
    assert [a.severity for a in alerts_for(undemonstrated, "SAFE-PREG-OH")] == [Severity.WARNING]
    us = plan_case(make_case("us-label", patient=pregnant, labs=(LabResult(Analyte.B12_ACTIVE, 20, "pmol/L"),)))
    assert regimen_id(us) == "US-FDA-CN"
    assert not alerts_for(us, "SAFE-PREG-OH")


def test_anaemia_with_injected_loading_adds_potassium_monitoring_outside_the_us_label() -> None:
    plan = plan_case(make_case(labs=(LOW_B12, LabResult(Analyte.HEMOGLOBIN, 95, "g/L"))))
    assert alerts_for(plan, "SAFE-K")
    potassium = [f for f in plan.followups if f.rule == "SAFE-K"]
    assert [f.date for f in potassium] == [START + timedelta(days=1)]
    labs = [f for f in plan.followups if f.rule == "FU-PROGRESS"]
    assert [f.date for f in labs] == [START + timedelta(days=d) for d in (7, 10, 56)]


def test_a_dose_too_small_for_the_syringe_marks_is_flagged() -> None:
    plan = plan_case(make_case("us-label", syringe="U-40"))
    assert alerts_for(plan, "DOSE-VOLUME")
    assert plan.syringe is not None


def test_a_plan_without_a_syringe_gives_volumes_only() -> None:
    plan = plan_case(make_case(syringe=""))
    assert plan.syringe is None
    assert plan.schedule is not None
    assert plan.schedule.doses[0].volume_ml == 1.0
    assert plan.schedule.doses[0].syringe_units is None


def test_nitrous_oxide_with_an_oral_preference_leaves_the_dose_to_the_clinician() -> None:
    plan = plan_case(make_case(causes=[Cause.NITROUS_OXIDE], route=Route.ORAL))
    assert plan.recommendation.regimen is None
    assert plan.recommendation.first_route is Route.ORAL
    assert plan.recommendation.alternatives == ("UK-IM-NN",)
    assert plan.schedule is None
    assert plan.switch_note.startswith("No schedule")
    assert plan_regimens(plan) == ["UK-IM-NN"]


def test_a_black_patient_gets_the_ethnicity_note_and_it_is_in_the_rules_applied() -> None:
    plan = plan_case(make_case(patient=Patient(Sex.MALE, 40, ethnicity=Ethnicity.BLACK)))
    assert "DX-ETH" in plan.rules_applied


# --- the maintenance interval ----------------------------------------------------------------------------------


def test_a_maintenance_interval_within_the_label_range_moves_the_dates_without_a_warning() -> None:
    default = plan_case(make_case())
    chosen = plan_case(make_case(interval=2))
    assert dates(default, "maintenance")[:2] == [date(2026, 4, 16), date(2026, 7, 16)]
    assert dates(chosen, "maintenance")[:2] == [date(2026, 3, 16), date(2026, 5, 16)]
    assert not [a for a in chosen.alerts if a.severity is Severity.WARNING]
    assert chosen.recommendation.phases[1].frequency.every_range is not None


def test_a_maintenance_interval_outside_the_label_range_is_planned_but_warned_citing_the_regimen_rule() -> None:
    plan = plan_case(make_case(interval=1))
    assert dates(plan, "maintenance")[:2] == [date(2026, 2, 16), date(2026, 3, 16)]
    warned = [a for a in alerts_for(plan, "UK-IM-NN") if a.severity is Severity.WARNING]
    assert len(warned) == 1
    assert "outside the label's 2–3 months" in warned[0].message
    assert warned[0].sources == load_guideline("uk").rule("UK-IM-NN").sources
    assert plan.recommendation.phases[1].frequency.every_range is None


def test_a_maintenance_interval_for_a_fixed_interval_regimen_is_warned_when_it_differs() -> None:
    same = plan_case(make_case("us-label", interval=1))
    assert not [a for a in alerts_for(same, "US-FDA-CN") if a.severity is Severity.WARNING]
    other = plan_case(make_case("us-label", interval=2))
    assert [a for a in alerts_for(other, "US-FDA-CN") if a.severity is Severity.WARNING]
    assert "outside the label's 1 months" in alerts_for(other, "US-FDA-CN")[0].message


def test_a_maintenance_interval_for_a_regimen_without_monthly_maintenance_is_warned_and_not_applied() -> None:
    plan = plan_case(make_case(causes=[Cause.PPI], interval=2))
    assert regimen_id(plan) == "UK-ORAL-MAL"
    warned = alerts_for(plan, "UK-ORAL-MAL")
    assert [a.severity for a in warned] == [Severity.WARNING]
    assert "not applied" in warned[0].message
    assert dates(plan)[:2] == [START, START + timedelta(days=1)]


# --- rules applied --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        make_case(),
        make_case("us-label", conditions=[Condition.RENAL_IMPAIRMENT, Condition.ANTICOAGULANT]),
        make_case("us-practice", route=Route.NASAL, interval=4),
        make_case(symptoms=[Symptom.GAIT], conditions=[Condition.LEBER, Condition.COBALT_ALLERGY]),
        make_case(treat=False),
    ],
    ids=["uk", "us-label-safety", "us-practice-nasal", "uk-leber-cobalt", "not-treated"],
)
def test_a_plans_rules_applied_include_every_alert_follow_up_and_phase_rule(case: Case) -> None:
    plan = plan_case(case)
    rules = set(plan.rules_applied)
    assert {a.rule for a in plan.alerts} <= rules
    assert {f.rule for f in plan.followups} <= rules
    assert {p.rule for p in plan.recommendation.phases} <= rules
    assert set(interpret_case(case).rules_applied) <= rules
    assert list(plan.rules_applied) == sorted(rules)
    assert alerts_for(plan, "NOTE-DECISION")


# --- compare ---------------------------------------------------------------------------------------------------


def test_compare_totals_uk_im_nn_and_us_fda_cn_over_the_first_8_weeks_and_the_first_year() -> None:
    comparison = compare_regimens(START, ["UK-IM-NN", "US-FDA-CN"])
    uk, us = comparison.rows
    # UK-IM-NN: 6 loading doses Mon/Wed/Fri (5 Jan–16 Jan), then 1 mg every 3 months from 16 Apr:
    # 16 Apr, 16 Jul, 16 Oct fall in the first year (5 Jan 2026–4 Jan 2027), 16 Jan 2027 does not.
    assert (uk.first_8_weeks.doses, uk.first_8_weeks.injections, uk.first_8_weeks.mg) == (6, 6, 6.0)
    assert (uk.first_year.doses, uk.first_year.injections, uk.first_year.mg) == (9, 9, 9.0)
    assert (uk.loading_ends, uk.maintenance_starts) == (date(2026, 1, 16), date(2026, 4, 16))
    # US-FDA-CN: 7 daily (5–11 Jan), 7 on alternate days (13–25 Jan), every 4 days for 21 days
    # (29 Jan, 2, 6, 10, 14, 18 Feb) = 20 doses by 1 Mar; then 100 mcg monthly 18 Mar–18 Dec (10 doses).
    assert (us.first_8_weeks.doses, us.first_8_weeks.injections, us.first_8_weeks.mg) == (20, 20, 2.0)
    assert (us.first_year.doses, us.first_year.mg) == (30, 3.0)
    assert (us.loading_ends, us.maintenance_starts) == (date(2026, 2, 18), date(2026, 3, 18))
    assert not uk.open_ended
    assert not us.open_ended
    assert uk.first_year.complete
    assert us.first_year.complete


def retained(estimate: RetainedEstimate) -> tuple[float, float, int, int]:
    return (
        round(estimate.low_mg, 6),
        round(estimate.high_mg, 6),
        estimate.doses_counted,
        estimate.doses_without_figure,
    )


def test_compare_estimates_the_amount_retained_from_the_published_urinary_losses() -> None:
    uk, us = compare_regimens(START, ["uk:UK-IM-NN", "us-label:US-FDA-CN"]).rows
    # 1 mg hydroxocobalamin loses 27% in 72 h [S32] -> 0.73 mg retained per dose.
    assert retained(uk.retained_8_weeks) == (4.38, 4.38, 6, 0)
    assert retained(uk.retained_first_year) == (6.57, 6.57, 9, 0)
    # 100 mcg cyanocobalamin loses 47% [S33] -> 0.053 mg retained per dose.
    assert retained(us.retained_8_weeks) == (1.06, 1.06, 20, 0)
    assert retained(us.retained_first_year) == (1.59, 1.59, 30, 0)


def test_compare_leaves_out_doses_without_a_published_retention_figure() -> None:
    comparison = compare_regimens(START, ["US-FDA-OH", "UK-ORAL-MAL"])
    hydroxo, oral = comparison.rows
    # 30 mcg daily x10, then 200 mcg monthly: no figure for either dose.
    assert hydroxo.retained_first_year.doses_counted == 0
    assert hydroxo.retained_first_year.doses_without_figure == hydroxo.first_year.doses == 10 + 11
    assert hydroxo.retained_first_year.low_mg == 0.0
    # Oral doses have no injection figure either.
    assert oral.retained_8_weeks.doses_without_figure == 56
    assert "not absorption" in comparison.retention_caveat
    assert comparison.retention_sources == ("S32", "S33")


def test_a_cyanocobalamin_dose_with_two_published_figures_gives_a_range() -> None:
    stabler = compare_regimens(START, ["US-STABLER", "UK-IM-NN"]).rows[0]
    # 1 mg cyanocobalamin: 69% lost [S32] or 85% lost [S33] -> 0.15–0.31 mg retained per dose.
    first = stabler.retained_8_weeks
    assert first.low_mg == pytest.approx(first.doses_counted * 0.15)
    assert first.high_mg == pytest.approx(first.doses_counted * 0.31)


def test_compare_marks_a_regimen_with_a_phase_ending_on_judgement_as_open_ended() -> None:
    rows = compare(START, [find_regimen("UK-IM-NEURO"), find_regimen("UK-IM-NN")]).rows
    assert rows[0].open_ended
    assert rows[0].maintenance_starts is None
    assert not rows[0].first_8_weeks.complete


def test_compare_needs_two_regimens() -> None:
    with pytest.raises(ValueError, match="at least two"):
        compare_regimens(START, ["UK-IM-NN"])


# --- strong clinical features, route notes and label ranges ------------------------------------------


def test_neurological_symptoms_without_a_b12_result_ask_for_a_test_and_urgent_advice_not_a_schedule() -> None:
    plan = plan_case(make_case(symptoms=(Symptom.PARAESTHESIA,), labs=()))
    assert plan.recommendation.treat is False
    assert plan.recommendation.urgent_specialist_advice is True
    assert alerts_for(plan, "NEURO-URGENT")
    assert plan.schedule is None


def test_suspected_nitrous_oxide_with_neurological_symptoms_is_treated_before_results() -> None:
    plan = plan_case(make_case(causes=(Cause.NITROUS_OXIDE,), symptoms=(Symptom.NUMBNESS,), labs=()))
    assert plan.recommendation.treat is True
    assert regimen_id(plan) == "UK-IM-NEURO"


def test_macrocytic_anaemia_with_an_indeterminate_b12_is_not_left_untreated() -> None:
    labs = (
        LabResult(Analyte.B12_TOTAL, 250, "ng/L"),
        LabResult(Analyte.HEMOGLOBIN, 95, "g/L"),
        LabResult(Analyte.MCV, 112, "fL"),
    )
    plan = plan_case(make_case(labs=labs))
    assert plan.interpretation.status.value == "indeterminate"
    assert plan.recommendation.treat is True
    assert "DX-DISCORD" in plan.recommendation.reason


def test_an_oral_preference_on_the_us_label_without_pernicious_anaemia_says_the_label_is_injected() -> None:
    plan = plan_case(make_case("us-label", causes=(Cause.PPI,), route=Route.ORAL))
    assert alerts_for(plan, "US-LABEL-INJECTED")
    assert not alerts_for(plan, "US-FDA-ORAL-PA")
    assert regimen_id(plan) == "US-FDA-CN"


def test_oral_treatment_after_gastrectomy_carries_the_poor_absorption_warning() -> None:
    plan = plan_case(make_case(causes=(Cause.GASTRECTOMY,), route=Route.ORAL))
    assert regimen_id(plan) == "UK-ORAL-MAL"
    assert alerts_for(plan, "UK-ORAL-PA")


def test_leber_maintenance_every_month_is_within_the_smpc_range() -> None:
    plan = plan_case(make_case(conditions=(Condition.LEBER,), interval=1))
    assert regimen_id(plan) == "UK-TA-LEBER"
    assert not [a for a in alerts_for(plan, "UK-TA-LEBER") if a.severity is Severity.WARNING]
