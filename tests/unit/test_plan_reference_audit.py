"""The treatment core audited against REFERENCE.md: every regimen number, switch date, follow-up and safety rule.

The numbers below are copied from REFERENCE.md (§2, §3, §5, §6, §11) on purpose: a change in the guideline
data must fail here rather than silently follow the data. Dates are worked out by hand in the comments,
across month ends; `test_plan.py` and the vignette vectors cover the Monday 2026-01-05 starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pytest

from b12.domain.alerts import Alert, Severity
from b12.domain.analytes import Analyte
from b12.domain.case import (
    NEUROLOGICAL_SYMPTOMS,
    Case,
    Cause,
    Condition,
    LabResult,
    Patient,
    Preferences,
    Route,
    Sex,
    Symptom,
)
from b12.domain.guidelines import GUIDELINE_IDS, find_regimen, find_rule, load_common, load_guideline
from b12.domain.plan import FollowUpKind, Plan
from b12.domain.regimen import Ending, Phase, PhaseKind, Product, Span
from b12.services import compare_regimens, plan_case

LOW_B12 = LabResult(Analyte.B12_TOTAL, 150, "ng/L")  # confirmed on NICE NG239 (<180 ng/L)
ANAEMIA = LabResult(Analyte.HEMOGLOBIN, 95, "g/L")  # below the WHO 120 g/L for women
OH, CN = Product.HYDROXOCOBALAMIN, Product.CYANOCOBALAMIN
IM, ORAL, NASAL = Route.IM, Route.ORAL, Route.NASAL
LABEL, PRACTICE = "us-label", "us-practice"


def make_case(
    guideline: str = "uk",
    start: date = date(2026, 1, 5),
    *,
    causes: Iterable[Cause] = (Cause.AUTOIMMUNE_GASTRITIS,),
    symptoms: Iterable[Symptom] = (Symptom.FATIGUE,),
    conditions: Iterable[Condition] = (),
    route: Route | None = None,
    interval: int | None = None,
    labs: tuple[LabResult, ...] = (LOW_B12,),
    patient: Patient | None = None,
    horizon: int = 12,
) -> Case:
    return Case(
        guideline=guideline,
        start=start,
        patient=patient or Patient(Sex.FEMALE, 50),
        labs=labs,
        symptoms=frozenset(symptoms),
        causes=frozenset(causes),
        conditions=frozenset(conditions),
        preferences=Preferences(route=route, maintenance_interval_months=interval),
        horizon_months=horizon,
    )


def rules(plan: Plan) -> set[str]:
    return {a.rule for a in plan.alerts}


def alerts_for(plan: Plan, rule: str) -> list[Alert]:
    return [a for a in plan.alerts if a.rule == rule]


def regimen_id(plan: Plan) -> str | None:
    regimen = plan.recommendation.regimen
    return regimen.id if regimen else None


def dates(plan: Plan, phase: str | None = None) -> list[date]:
    assert plan.schedule is not None
    return [d.date for d in plan.schedule.doses if phase is None or d.phase == phase]


def followups(plan: Plan, rule: str) -> list[date]:
    return [f.date for f in plan.followups if f.rule == rule]


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- the regimen data, phase by phase --------------------------------------------------------------------------

# (guideline, regimen, phase, product, route, dose mg, dose range mg, how often [label range], how it ends, rule)
# fmt: off
PHASES = [
    # UK-IM-NN [S18][S19]: "1 mg IM 3 times a week for 2 weeks" -> "1 mg IM every 2–3 months for life".
    ("uk", "UK-IM-NN", "loading", OH, IM, 1.0, (1.0, 1.0), "3x/week", "count 6", "UK-IM-NN"),
    ("uk", "UK-IM-NN", "maintenance", OH, IM, 1.0, (1.0, 1.0), "every 3 month [2-3]", "continuing", "UK-IM-NN"),
    # UK-IM-NEURO [S18]: "1 mg IM on alternate days until no further improvement" -> "1 mg IM every 2 months".
    ("uk", "UK-IM-NEURO", "loading", OH, IM, 1.0, (1.0, 1.0), "every 2 day", "clinical", "UK-IM-NEURO"),
    ("uk", "UK-IM-NEURO", "maintenance", OH, IM, 1.0, (1.0, 1.0), "every 2 month", "continuing", "UK-IM-NEURO"),
    # UK-PROPH [S23]: "1000 micrograms every two or three months".
    ("uk", "UK-PROPH", "prophylaxis", OH, IM, 1.0, (1.0, 1.0), "every 3 month [2-3]", "continuing", "UK-PROPH"),
    # UK-TA-LEBER [S23]: "1000 micrograms daily IM for 2 weeks, then twice weekly as long as improvement is
    # maintained; maintenance 1000 micrograms every 3 months or as required" (monthly / 1–3 months in [S26]).
    ("uk", "UK-TA-LEBER", "daily", OH, IM, 1.0, (1.0, 1.0), "every 1 day", "count 14", "UK-TA-LEBER"),
    ("uk", "UK-TA-LEBER", "twice weekly", OH, IM, 1.0, (1.0, 1.0), "2x/week", "clinical", "UK-TA-LEBER"),
    ("uk", "UK-TA-LEBER", "maintenance", OH, IM, 1.0, (1.0, 1.0), "every 3 month [1-3]", "continuing", "UK-TA-LEBER"),
    # Cytamen [S28]: "250–1000 micrograms on alternate days for 7–14 days, then 250 micrograms weekly until blood
    # count normal; maintenance 1000 micrograms monthly"; with neuro "1000 micrograms on alternate days as long
    # as improvement seen, then 1000 micrograms monthly".
    ("uk", "UK-CN-NN", "loading", CN, IM, 1.0, (0.25, 1.0), "every 2 day", "duration 14", "UK-CN-NN"),
    ("uk", "UK-CN-NN", "weekly", CN, IM, 0.25, (0.25, 0.25), "every 1 week", "clinical", "UK-CN-NN"),
    ("uk", "UK-CN-NN", "maintenance", CN, IM, 1.0, (1.0, 1.0), "every 1 month", "continuing", "UK-CN-NN"),
    ("uk", "UK-CN-NEURO", "loading", CN, IM, 1.0, (1.0, 1.0), "every 2 day", "clinical", "UK-CN-NEURO"),
    ("uk", "UK-CN-NEURO", "maintenance", CN, IM, 1.0, (1.0, 1.0), "every 1 month", "continuing", "UK-CN-NEURO"),
    # UK-ORAL-MAL [S4]: "at least 1 mg a day"; UK-ORAL-DIET [S14][S15]: "50–150 micrograms once daily".
    ("uk", "UK-ORAL-MAL", "oral", CN, ORAL, 1.0, (1.0, 4.0), "every 1 day", "continuing", "UK-ORAL-MAL"),
    ("uk", "UK-ORAL-DIET", "oral", CN, ORAL, 0.15, (0.05, 0.15), "every 1 day", "continuing", "UK-ORAL-DIET"),
    # US-FDA-CN [S37]: "100 mcg daily for six or seven days … on alternate days for seven doses, then every three
    # to four days for another two to three weeks … Then 100 mcg monthly for life".
    (LABEL, "US-FDA-CN", "daily", CN, IM, 0.1, (0.1, 0.1), "every 1 day", "count 7 [6-7]", "US-FDA-CN"),
    (LABEL, "US-FDA-CN", "alternate days", CN, IM, 0.1, (0.1, 0.1), "every 2 day", "count 7", "US-FDA-CN"),
    (LABEL, "US-FDA-CN", "every 3-4 days", CN, IM, 0.1, (0.1, 0.1), "every 4 day [3-4]", "duration 21", "US-FDA-CN"),
    (LABEL, "US-FDA-CN", "maintenance", CN, IM, 0.1, (0.1, 0.1), "every 1 month", "continuing", "US-FDA-CN"),
    # US-FDA-OH [S42]: "30 mcg daily for 5–10 days, then 100–200 mcg monthly IM".
    (LABEL, "US-FDA-OH", "daily", OH, IM, 0.03, (0.03, 0.03), "every 1 day", "count 10 [5-10]", "US-FDA-OH"),
    (LABEL, "US-FDA-OH", "maintenance", OH, IM, 0.2, (0.1, 0.2), "every 1 month", "continuing", "US-FDA-OH"),
    # US-STABLER [S52]: "IM 1000 mcg daily or every other day for 1 week, then 1000 mcg weekly for 4–8 weeks, then
    # 1000 mcg monthly for life".
    (PRACTICE, "US-STABLER", "daily", CN, IM, 1.0, (1.0, 1.0), "every 1 day [1-2]", "duration 7", "US-STABLER"),
    (PRACTICE, "US-STABLER", "weekly", CN, IM, 1.0, (1.0, 1.0), "every 1 week", "count 8 [4-8]", "US-STABLER"),
    (PRACTICE, "US-STABLER", "maintenance", CN, IM, 1.0, (1.0, 1.0), "every 1 month", "continuing", "US-STABLER"),
    # US-AAFP [S50]: "Oral 1–2 mg daily"; "Post-bariatric: 1 mg oral daily indefinitely".
    (PRACTICE, "US-AAFP", "oral", CN, ORAL, 2.0, (1.0, 2.0), "every 1 day", "continuing", "US-AAFP"),
    (PRACTICE, "US-AAFP-BARIATRIC", "oral", CN, ORAL, 1.0, (1.0, 1.0), "every 1 day", "continuing", "US-AAFP"),
    # US-NASAL [S47]: "500 mcg one nostril weekly, maintenance after IM" (the IM loading is US-STABLER's).
    (PRACTICE, "US-NASAL", "daily", CN, IM, 1.0, (1.0, 1.0), "every 1 day [1-2]", "duration 7", "US-STABLER"),
    (PRACTICE, "US-NASAL", "weekly", CN, IM, 1.0, (1.0, 1.0), "every 1 week", "count 8 [4-8]", "US-STABLER"),
    (PRACTICE, "US-NASAL", "nasal maintenance", CN, NASAL, 0.5, (0.5, 0.5), "every 1 week", "continuing", "US-NASAL"),
]
# fmt: on


def _range(span: Span | None) -> str:
    return f" [{span.low:g}-{span.high:g}]" if span else ""


def how_often(phase: Phase) -> str:
    frequency = phase.frequency
    if frequency.times_per_week:
        return f"{frequency.times_per_week}x/week"
    return f"every {frequency.every} {frequency.unit.value}{_range(frequency.every_range)}"


def how_it_ends(phase: Phase) -> str:
    if phase.ending is Ending.COUNT:
        return f"count {phase.doses}{_range(phase.doses_range)}"
    if phase.ending is Ending.DURATION:
        return f"duration {phase.duration_days}"
    return phase.ending.value


@pytest.mark.parametrize(
    ("guideline", "regimen", "name", "product", "route", "dose", "dose_range", "often", "ends", "rule"),
    PHASES,
    ids=[f"{p[1]} {p[2]}" for p in PHASES],
)
def test_each_phase_of_each_regimen_has_exactly_the_numbers_reference_gives(
    guideline: str,
    regimen: str,
    name: str,
    product: Product,
    route: Route,
    dose: float,
    dose_range: tuple[float, float],
    often: str,
    ends: str,
    rule: str,
) -> None:
    phase = next(p for p in load_guideline(guideline).regimen(regimen).phases if p.name == name)
    assert (phase.product, phase.route, phase.dose_mg, phase.dose_range_mg) == (product, route, dose, Span(*dose_range))
    assert (how_often(phase), how_it_ends(phase), phase.rule) == (often, ends, rule)


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_each_regimen_has_exactly_the_phases_reference_lists_in_order(guideline: str) -> None:
    expected: dict[str, list[str]] = {}
    for row in PHASES:
        if row[0] == guideline:
            expected.setdefault(row[1], []).append(row[2])
    actual = {rid: [p.name for p in r.phases] for rid, r in load_guideline(guideline).regimens.items()}
    assert actual == expected


@pytest.mark.parametrize(
    ("regimen", "phase", "words"),
    [
        pytest.param("UK-IM-NEURO", "loading", "no further improvement", id="UK-IM-NEURO until no further improvement"),
        pytest.param("UK-TA-LEBER", "twice weekly", "as long as improvement is maintained", id="Leber while improving"),
        pytest.param("UK-CN-NN", "weekly", "blood count normal", id="Cytamen weekly until the count is normal"),
        pytest.param("UK-CN-NEURO", "loading", "as long as improvement is seen", id="Cytamen neuro while improving"),
        pytest.param("US-FDA-CN", "maintenance", "for life", id="FDA label monthly for life"),
        pytest.param("US-STABLER", "maintenance", "for life", id="Stabler monthly for life"),
        pytest.param("US-AAFP-BARIATRIC", "oral", "indefinitely", id="AAFP bariatric indefinitely"),
    ],
)
def test_each_open_ended_phase_keeps_the_labels_own_stopping_words(regimen: str, phase: str, words: str) -> None:
    found = next(p for p in find_regimen(regimen)[1].phases if p.name == phase)
    assert found.until is not None
    assert words in found.until


def test_the_fda_alternate_day_phase_is_gated_on_a_reticulocyte_response() -> None:
    # US-FDA-CN [S37]: "If clinical improvement and reticulocyte response → same amount on alternate days".
    phases = {p.name: p for p in load_guideline("us-label").regimen("US-FDA-CN").phases}
    assert phases["alternate days"].gate is not None
    assert "reticulocyte response" in phases["alternate days"].gate
    assert [name for name, p in phases.items() if p.gate] == ["alternate days"]


@pytest.mark.parametrize(
    ("guideline", "product", "strength"),
    [
        ("uk", OH, "1 mg/mL"),  # [S23][S26]
        ("uk", CN, "1 mg/mL"),  # Cytamen [S28]
        ("us-label", CN, "1000 mcg/mL"),  # [S35]
        ("us-label", OH, "1000 mcg/mL"),  # [S43][S44]
        ("us-practice", CN, "1000 mcg/mL"),
        ("us-practice", OH, "1000 mcg/mL"),
    ],
)
def test_each_guideline_uses_the_product_strength_of_its_labels(
    guideline: str, product: Product, strength: str
) -> None:
    assert load_guideline(guideline).strengths[product] == strength


# --- rule IDs and their sources (REFERENCE §11) -----------------------------------------------------------------

SECTION_11_SOURCES = {
    "UK-IM-NN": ("uk", {"S18", "S19"}),
    "UK-IM-NEURO": ("uk", {"S18", "S24"}),
    "UK-PROPH": ("uk", {"S23"}),
    "UK-ORAL-MAL": ("uk", {"S4"}),
    "UK-ORAL-DIET": ("uk", {"S13", "S14", "S15"}),
    "UK-N2O": ("uk", {"S8", "S97"}),
    "UK-TA-LEBER": ("uk", {"S23"}),
    "FU-UK": ("uk", {"S6", "S16"}),
    "US-FDA-CN": ("us-label", {"S37"}),
    "US-FDA-OH": ("us-label", {"S42"}),
    "US-STABLER": ("us-practice", {"S52"}),
    "US-AAFP": ("us-practice", {"S50"}),
    "US-NASAL": ("us-practice", {"S47"}),
    "SAFE-K": ("uk", {"S38", "S40", "S29"}),
    "SAFE-FOLATE": ("uk", {"S40", "S81"}),
    "SAFE-LEBER": ("uk", {"S38", "S28", "S23"}),
    "SAFE-COBALT": ("uk", {"S38", "S34"}),
    "SAFE-IV": ("uk", {"S37", "S42"}),
    "SAFE-3MO": ("uk", {"S40"}),
    "SAFE-PREG-OH": ("uk", {"S26"}),
    "MED-MET": ("uk", {"S60"}),
}


@pytest.mark.parametrize(("rule_id", "where"), SECTION_11_SOURCES.items(), ids=list(SECTION_11_SOURCES))
def test_each_treatment_and_safety_rule_cites_at_least_the_sources_section_11_gives_it(
    rule_id: str, where: tuple[str, set[str]]
) -> None:
    guideline, expected = where
    assert set(find_rule(rule_id, guideline).sources) >= expected


@pytest.mark.parametrize("rule_id", [r for r, (g, _) in SECTION_11_SOURCES.items() if r in load_guideline(g).regimens])
def test_each_section_11_regimen_cites_at_least_its_section_11_sources(rule_id: str) -> None:
    guideline, expected = SECTION_11_SOURCES[rule_id]
    assert set(load_guideline(guideline).regimen(rule_id).sources) >= expected


def test_an_alert_about_the_neurological_regimen_cites_the_urgent_advice_source_too() -> None:
    # UK-IM-NEURO: "… → 1 mg every 2 months; urgent specialist advice [S18][S24]"; 3 months is outside that.
    plan = plan_case(make_case(symptoms=[Symptom.PARAESTHESIA], interval=3))
    warned = [a for a in alerts_for(plan, "UK-IM-NEURO") if a.severity is Severity.WARNING]
    assert len(warned) == 1
    assert {"S18", "S24"} <= set(warned[0].sources)
    assert "outside the label's 2 months" in warned[0].message


# --- follow-up and progress data (REFERENCE §1.7, §3.3, §6) ----------------------------------------------------


def test_the_uk_review_is_at_3_months_or_1_month_in_pregnancy_or_breastfeeding() -> None:
    followup = load_guideline("uk").settings["followup"]
    assert (followup["review_months"], followup["review_months_pregnant_or_breastfeeding"]) == (3, 1)
    assert followup["rule"] == "FU-UK"
    assert followup["sources"] == ["S6"]


def test_only_the_uk_guideline_has_a_sourced_review_interval() -> None:
    # REFERENCE gives no US review interval: the US guidelines must not invent one.
    assert "followup" not in load_guideline("us-label").settings
    assert "followup" not in load_guideline("us-practice").settings


@pytest.mark.parametrize(
    ("key", "day"),
    [
        pytest.param("hemoglobin", 7, id="Hb rising by the end of week 1"),
        pytest.param("reticulocytes", 10, id="reticulocytosis by day 10 (label day 3-10)"),
        pytest.param("counts", 56, id="blood indices normal within 8 weeks"),
    ],
)
def test_each_expected_progress_checkpoint_falls_on_its_reference_day(key: str, day: int) -> None:
    assert load_common().progress[key]["day"] == day


def test_the_nascobal_checks_are_1_month_after_starting_then_every_3_to_6_months() -> None:
    nasal = load_guideline("us-practice").settings["nasal_monitoring"]
    assert (nasal["first_months"], nasal["every_months"], nasal["every_months_range"]) == (1, 6, [3, 6])
    assert nasal["sources"] == ["S47"]


# --- which regimen, by cause and guideline ------------------------------------------------------------------

CAUSES = [
    # (guideline, cause, regimen, first route, lifelong)
    ("uk", Cause.DIET, "UK-ORAL-DIET", ORAL, False),
    ("uk", Cause.AUTOIMMUNE_GASTRITIS, "UK-IM-NN", IM, True),
    ("uk", Cause.GASTRECTOMY, "UK-IM-NN", IM, True),
    ("uk", Cause.BARIATRIC_SURGERY, "UK-IM-NN", IM, True),
    ("uk", Cause.ILEAL_RESECTION, "UK-IM-NN", IM, True),
    ("uk", Cause.CROHNS, "UK-IM-NN", IM, False),
    ("uk", Cause.COELIAC, "UK-ORAL-MAL", ORAL, False),
    ("uk", Cause.METFORMIN, "UK-ORAL-MAL", ORAL, False),
    ("uk", Cause.PPI, "UK-ORAL-MAL", ORAL, False),
    ("uk", Cause.H2_ANTAGONIST, "UK-ORAL-MAL", ORAL, False),
    ("uk", Cause.NITROUS_OXIDE, "UK-IM-NN", IM, False),
    ("uk", Cause.UNKNOWN, "UK-IM-NN", IM, False),
    ("us-label", Cause.DIET, "US-FDA-CN", IM, False),
    ("us-label", Cause.AUTOIMMUNE_GASTRITIS, "US-FDA-CN", IM, True),
    ("us-label", Cause.GASTRECTOMY, "US-FDA-CN", IM, True),
    ("us-label", Cause.BARIATRIC_SURGERY, "US-FDA-CN", IM, True),
    ("us-label", Cause.ILEAL_RESECTION, "US-FDA-CN", IM, True),
    ("us-label", Cause.METFORMIN, "US-FDA-CN", IM, False),
    ("us-label", Cause.NITROUS_OXIDE, "US-FDA-CN", IM, False),
    ("us-practice", Cause.DIET, "US-AAFP", ORAL, False),
    ("us-practice", Cause.AUTOIMMUNE_GASTRITIS, "US-STABLER", IM, True),
    ("us-practice", Cause.GASTRECTOMY, "US-AAFP", ORAL, True),
    ("us-practice", Cause.BARIATRIC_SURGERY, "US-AAFP-BARIATRIC", ORAL, True),
    ("us-practice", Cause.ILEAL_RESECTION, "US-AAFP", ORAL, True),
    ("us-practice", Cause.METFORMIN, "US-AAFP", ORAL, False),
    ("us-practice", Cause.PPI, "US-AAFP", ORAL, False),
    ("us-practice", Cause.NITROUS_OXIDE, "US-AAFP", ORAL, False),
]


@pytest.mark.parametrize(
    ("guideline", "cause", "regimen", "route", "lifelong"), CAUSES, ids=[f"{c[0]} {c[1].value}" for c in CAUSES]
)
def test_each_cause_without_neurology_or_a_preference_gets_its_regimen_route_and_duration(
    guideline: str, cause: Cause, regimen: str, route: Route, lifelong: bool
) -> None:
    plan = plan_case(make_case(guideline, causes=[cause]))
    assert regimen_id(plan) == regimen
    assert plan.recommendation.first_route is route
    # "Some causes of vitamin B12 deficiency are irreversible and therefore treatment is needed for life" [S3].
    assert plan.recommendation.lifelong is lifelong
    assert (plan.recommendation.reconsider is None) is lifelong
    assert not plan.recommendation.urgent_specialist_advice


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_metformin_is_continued_under_every_guideline(guideline: str) -> None:
    # MED-MET: "continue metformin; treat deficiency; consider periodic monitoring" [S60].
    plan = plan_case(make_case(guideline, causes=[Cause.METFORMIN]))
    assert "MED-MET" in rules(plan)
    assert "MED-MET" not in rules(plan_case(make_case(guideline, causes=[Cause.PPI])))


def test_nitrous_oxide_without_a_preference_is_im_reversible_and_carries_the_preference_note() -> None:
    # UK-N2O: "IM or oral by preference (draft) [S8]"; reversible if exposure stops [S8].
    plan = plan_case(make_case(causes=[Cause.NITROUS_OXIDE]))
    assert regimen_id(plan) == "UK-IM-NN"
    assert "UK-N2O" in rules(plan)
    assert plan.recommendation.reconsider is not None
    assert "nitrous oxide" in plan.recommendation.reconsider


# --- neurological involvement --------------------------------------------------------------------------------

NEURO = [
    # (guideline, regimen, the note that explains the choice)
    ("uk", "UK-IM-NEURO", "NEURO-URGENT"),
    ("us-label", "US-FDA-CN", "US-FDA-OH-NEURO"),
    ("us-practice", "US-STABLER", "US-AAFP-IM"),
]


@pytest.mark.parametrize(("guideline", "regimen", "note"), NEURO, ids=[n[0] for n in NEURO])
def test_neurological_involvement_gets_urgent_advice_the_cord_warning_and_the_neurological_regimen(
    guideline: str, regimen: str, note: str
) -> None:
    plan = plan_case(make_case(guideline, symptoms=[Symptom.NUMBNESS]))
    assert regimen_id(plan) == regimen
    assert plan.recommendation.first_route is IM
    assert plan.recommendation.urgent_specialist_advice
    assert {"NEURO-URGENT", "SAFE-3MO", note} <= rules(plan)
    assert alerts_for(plan, "NEURO-URGENT")[0].severity is Severity.CRITICAL


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_without_neurological_involvement_there_is_no_urgent_advice_or_cord_warning(guideline: str) -> None:
    plan = plan_case(make_case(guideline, symptoms=[Symptom.FATIGUE, Symptom.GLOSSITIS]))
    assert not plan.recommendation.urgent_specialist_advice
    assert not {"NEURO-URGENT", "SAFE-3MO"} & rules(plan)


@pytest.mark.parametrize("symptom", list(Symptom), ids=[s.value for s in Symptom])
def test_only_the_neurological_symptoms_switch_the_uk_plan_to_alternate_day_loading(symptom: Symptom) -> None:
    plan = plan_case(make_case(symptoms=[symptom]))
    expected = "UK-IM-NEURO" if symptom in NEUROLOGICAL_SYMPTOMS else "UK-IM-NN"
    assert regimen_id(plan) == expected


def test_the_neurological_symptoms_are_the_sensory_motor_and_visual_ones() -> None:
    assert {
        Symptom.PARAESTHESIA,
        Symptom.NUMBNESS,
        Symptom.ATAXIA,
        Symptom.GAIT,
        Symptom.BALANCE,
        Symptom.VISION,
    } == NEUROLOGICAL_SYMPTOMS


def test_a_dietary_cause_with_neurological_symptoms_is_im_on_alternate_days_but_not_for_life() -> None:
    # V05: "neurological symptom present → UK-IM-NEURO"; diet-related treatment may stop [S21][S16].
    plan = plan_case(make_case(causes=[Cause.DIET], symptoms=[Symptom.PARAESTHESIA]))
    assert regimen_id(plan) == "UK-IM-NEURO"
    assert not plan.recommendation.lifelong
    assert "UK-ORAL-DIET" not in rules(plan)


def test_neurological_loading_is_provisional_every_other_day_with_no_invented_end_or_maintenance_date() -> None:
    plan = plan_case(make_case(start=d("2026-01-28"), symptoms=[Symptom.ATAXIA], horizon=1))
    assert plan.schedule is not None
    # Alternate days from 28 Jan to the horizon (28 Feb inclusive): 28, 30 Jan, 1, 3, …, 27 Feb.
    assert dates(plan) == [d("2026-01-28") + timedelta(days=2 * k) for k in range(16)]
    assert all(dose.provisional for dose in plan.schedule.doses)
    assert (plan.schedule.loading_ends, plan.schedule.maintenance_starts) == (None, None)
    assert plan.schedule.undated_phases == ("maintenance",)
    assert "no further improvement" in plan.switch_note
    assert "every 2 months" in plan.switch_note


def test_an_open_neurological_loading_phase_is_reviewed_every_3_months_anchored_on_the_start() -> None:
    plan = plan_case(make_case(start=d("2026-01-31"), symptoms=[Symptom.GAIT], horizon=7))
    assert followups(plan, "FU-UK") == [d("2026-04-30"), d("2026-07-31")]


# --- pregnancy and breastfeeding -----------------------------------------------------------------------------

PREGNANT = Patient(Sex.FEMALE, 31, pregnant=True)
BREASTFEEDING = Patient(Sex.FEMALE, 33, breastfeeding=True)
ACTIVE_LOW = (LabResult(Analyte.B12_ACTIVE, 20, "pmol/L"),)  # DX-ACT: <25 pmol/L confirmed


def test_pregnancy_without_neurology_is_reviewed_at_1_month_with_the_folate_and_hydroxocobalamin_notes() -> None:
    plan = plan_case(make_case(patient=PREGNANT, labs=ACTIVE_LOW))
    assert regimen_id(plan) == "UK-IM-NN"
    assert followups(plan, "FU-UK") == [d("2026-02-05")]
    assert {"SAFE-FOLATE", "SAFE-PREG-OH"} <= rules(plan)
    # Deficiency demonstrated (active B12 20 pmol/L): the SmPC caution is information, not a warning.
    assert [a.severity for a in alerts_for(plan, "SAFE-PREG-OH")] == [Severity.INFO]


def test_breastfeeding_is_reviewed_at_1_month_without_the_pregnancy_only_notes() -> None:
    plan = plan_case(make_case(patient=BREASTFEEDING, labs=ACTIVE_LOW))
    assert followups(plan, "FU-UK") == [d("2026-02-05")]
    assert not {"SAFE-FOLATE", "SAFE-PREG-OH"} & rules(plan)


def test_pregnancy_with_an_open_neurological_phase_is_reviewed_every_month() -> None:
    plan = plan_case(make_case(start=d("2026-01-31"), patient=PREGNANT, symptoms=[Symptom.PARAESTHESIA], horizon=4))
    assert followups(plan, "FU-UK") == [d("2026-02-28"), d("2026-03-31"), d("2026-04-30"), d("2026-05-31")]


@pytest.mark.parametrize("guideline", ["us-label", "us-practice"])
def test_pregnancy_under_a_us_guideline_gets_the_folate_note_and_no_invented_review(guideline: str) -> None:
    plan = plan_case(make_case(guideline, patient=PREGNANT, labs=ACTIVE_LOW))
    assert "SAFE-FOLATE" in rules(plan)
    assert followups(plan, "FU-UK") == []
    assert not [f for f in plan.followups if f.kind is FollowUpKind.REVIEW and f.rule not in ("US-FDA-CN",)]


# --- follow-up dates across month ends -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "patient", "review"),
    [
        pytest.param("2025-11-30", Patient(Sex.FEMALE, 50), "2026-02-28", id="3 months from 30 Nov"),
        pytest.param("2026-05-31", Patient(Sex.FEMALE, 50), "2026-08-31", id="3 months from 31 May"),
        pytest.param("2028-01-31", PREGNANT, "2028-02-29", id="1 month from 31 Jan in a leap year"),
        pytest.param("2027-01-31", BREASTFEEDING, "2027-02-28", id="1 month from 31 Jan"),
        pytest.param("2026-03-31", PREGNANT, "2026-04-30", id="1 month from 31 Mar"),
    ],
)
def test_the_uk_review_is_a_calendar_month_count_clamped_to_the_end_of_a_short_month(
    start: str, patient: Patient, review: str
) -> None:
    plan = plan_case(make_case(start=d(start), patient=patient, labs=ACTIVE_LOW))
    assert followups(plan, "FU-UK") == [d(review)]


def test_expected_progress_checkpoints_and_the_potassium_check_run_in_days_across_a_month_end() -> None:
    plan = plan_case(make_case(start=d("2026-01-28"), labs=(LOW_B12, ANAEMIA)))
    # Day 7 (Hb), day 10 (reticulocytes), day 56 (counts) after 28 Jan; potassium within 48 hours.
    assert followups(plan, "FU-PROGRESS") == [d("2026-02-04"), d("2026-02-07"), d("2026-03-25")]
    assert followups(plan, "SAFE-K") == [d("2026-01-29")]
    texts = " ".join(f.expect or "" for f in plan.followups if f.rule == "FU-PROGRESS")
    assert "iron and folate" in texts


def test_without_anaemia_or_macrocytosis_there_are_no_progress_blood_checks() -> None:
    plan = plan_case(make_case())
    assert followups(plan, "FU-PROGRESS") == []
    assert "SAFE-K" not in rules(plan)


def test_macrocytosis_alone_gets_the_progress_checks_but_no_hypokalaemia_warning() -> None:
    plan = plan_case(make_case(labs=(LOW_B12, LabResult(Analyte.MCV, 110, "fL"))))
    assert len(followups(plan, "FU-PROGRESS")) == 3
    assert "SAFE-K" not in rules(plan)


# --- switch dates and totals across month ends -------------------------------------------------------------------


def test_uk_im_nn_from_a_wednesday_ends_loading_on_30_november_and_starts_maintenance_3_months_later() -> None:
    plan = plan_case(make_case(start=d("2025-11-19")))
    # 3 times a week from Wed 19 Nov: Wed, Fri, Sun; 6 doses. 30 Nov + 3 months = 28 Feb (clamped); the
    # phase is then anchored on its first dose, so it keeps the 28th.
    assert dates(plan, "loading") == [d(f"2025-11-{day}") for day in (19, 21, 23, 26, 28, 30)]
    assert plan.schedule is not None
    assert (plan.schedule.loading_ends, plan.schedule.maintenance_starts) == (d("2025-11-30"), d("2026-02-28"))
    assert dates(plan, "maintenance") == [d("2026-02-28"), d("2026-05-28"), d("2026-08-28")]
    assert plan.switch_note == "Loading ends on 2025-11-30; maintenance starts on 2026-02-28."
    assert followups(plan, "FU-UK") == [d("2026-02-19")]


def test_the_fda_cyanocobalamin_schedule_from_25_january_switches_on_the_right_days() -> None:
    plan = plan_case(make_case("us-label", start=d("2026-01-25")))
    # 7 daily (25–31 Jan); 7 alternate days (2–14 Feb); every 4 days for 21 days from 18 Feb (18, 22, 26 Feb,
    # 2, 6, 10 Mar); then 100 mcg monthly from 10 Apr.
    assert dates(plan, "daily") == [d(f"2026-01-{day}") for day in range(25, 32)]
    assert dates(plan, "alternate days") == [d(f"2026-02-{day:02}") for day in range(2, 15, 2)]
    assert dates(plan, "every 3-4 days") == [d(x) for x in ("2026-02-18", "2026-02-22", "2026-02-26")] + [
        d(f"2026-03-{day:02}") for day in (2, 6, 10)
    ]
    assert plan.schedule is not None
    assert (plan.schedule.loading_ends, plan.schedule.maintenance_starts) == (d("2026-03-10"), d("2026-04-10"))
    assert dates(plan, "maintenance")[:3] == [d("2026-04-10"), d("2026-05-10"), d("2026-06-10")]
    # Label [S40]: baseline, potassium in 48 h, Hct + reticulocytes on days 5–7 (day 1 = 25 Jan); the
    # alternate-day phase waits for a reticulocyte response (the day before it).
    monitoring = [f.date for f in plan.followups if f.kind is FollowUpKind.MONITORING]
    assert monitoring == [d("2026-01-25"), d("2026-01-26"), d("2026-01-29"), d("2026-01-30"), d("2026-01-31")]
    assert [f.date for f in plan.followups if f.kind is FollowUpKind.REVIEW] == [d("2026-02-01")]


def test_stabler_from_26_january_loads_daily_for_a_week_then_weekly_for_8_weeks_then_monthly() -> None:
    plan = plan_case(make_case("us-practice", start=d("2026-01-26"), route=IM))
    assert regimen_id(plan) == "US-STABLER"
    assert dates(plan, "daily") == [d("2026-01-26") + timedelta(days=k) for k in range(7)]
    assert dates(plan, "weekly") == [d("2026-02-08") + timedelta(weeks=k) for k in range(8)]
    assert plan.schedule is not None
    assert (plan.schedule.loading_ends, plan.schedule.maintenance_starts) == (d("2026-03-29"), d("2026-04-29"))


def test_the_nasal_spray_starts_a_week_after_the_last_im_dose_and_is_checked_at_1_then_every_6_months() -> None:
    plan = plan_case(make_case("us-practice", start=d("2026-01-26"), route=NASAL))
    assert dates(plan, "nasal maintenance")[:3] == [d("2026-04-05"), d("2026-04-12"), d("2026-04-19")]
    assert followups(plan, "US-NASAL") == [d("2026-05-05"), d("2026-11-05")]


def test_leber_in_the_uk_is_14_daily_doses_then_provisional_twice_weekly_with_maintenance_undated() -> None:
    plan = plan_case(make_case(start=d("2026-01-20"), conditions=[Condition.LEBER]))
    assert regimen_id(plan) == "UK-TA-LEBER"
    assert dates(plan, "daily") == [d("2026-01-20") + timedelta(days=k) for k in range(14)]
    assert dates(plan, "twice weekly")[:4] == [d("2026-02-05"), d("2026-02-08"), d("2026-02-12"), d("2026-02-15")]
    assert plan.schedule is not None
    assert all(x.provisional for x in plan.schedule.doses if x.phase == "twice weekly")
    assert not any(x.provisional for x in plan.schedule.doses if x.phase == "daily")
    assert plan.schedule.undated_phases == ("maintenance",)


@pytest.mark.parametrize(
    ("regimen", "weeks_8", "year", "complete"),
    [
        # 6 loading + 3-monthly from 16 Apr: 16 Apr, 16 Jul, 16 Oct.
        pytest.param("UK-IM-NN", (6, 6, 6.0), (9, 9, 9.0), True, id="UK-IM-NN"),
        # 7 daily + weekly 18 Jan–1 Mar (7); year: 7 + 8 + monthly 8 Apr–8 Dec (9).
        pytest.param("US-STABLER", (14, 14, 14.0), (24, 24, 24.0), True, id="US-STABLER"),
        # 10 × 30 mcg + 200 mcg on 14 Feb; year: 10 × 0.03 + 11 × 0.2 mg.
        pytest.param("US-FDA-OH", (11, 11, 0.5), (21, 21, 2.5), True, id="US-FDA-OH"),
        # 15 IM doses, then 500 mcg weekly from 15 Mar 2026 to 3 Jan 2027 (43 sprays).
        pytest.param("US-NASAL", (14, 14, 14.0), (58, 15, 36.5), True, id="US-NASAL"),
        # 14 daily + twice weekly (provisional) from 21 Jan.
        pytest.param("UK-TA-LEBER", (26, 26, 26.0), (114, 114, 114.0), False, id="UK-TA-LEBER"),
        # 7 × 1 mg on alternate days, then 250 micrograms weekly (provisional) from 24 Jan.
        pytest.param("UK-CN-NN", (13, 13, 8.5), (57, 57, 19.5), False, id="UK-CN-NN"),
    ],
)
def test_totals_over_the_first_8_weeks_and_the_first_year_count_every_dose_and_milligram(
    regimen: str, weeks_8: tuple[int, int, float], year: tuple[int, int, float], complete: bool
) -> None:
    row = compare_regimens(date(2026, 1, 5), [regimen, "UK-IM-NN"]).rows[0]
    assert (row.first_8_weeks.doses, row.first_8_weeks.injections, row.first_8_weeks.mg) == weeks_8
    assert (row.first_year.doses, row.first_year.injections, row.first_year.mg) == year
    assert row.first_year.complete is complete
    assert row.open_ended is not complete


def test_a_2_monthly_uk_maintenance_gives_11_doses_and_11_ml_in_the_first_year() -> None:
    plan = plan_case(make_case(interval=2))
    assert plan.schedule is not None
    # 6 loading, then 16 Mar, 16 May, 16 Jul, 16 Sep, 16 Nov (16 Jan 2027 is after the first year).
    year = plan.schedule.in_window(date(2026, 1, 5), date(2027, 1, 4))
    assert (year.doses, year.injections, year.mg, year.ml, year.last) == (11, 11, 11.0, 11.0, d("2026-11-16"))
    assert year.complete


@pytest.mark.parametrize(
    ("guideline", "conditions", "first", "last"),
    [
        pytest.param("uk", (), (1.0, 100.0), (1.0, 100.0), id="UK hydroxocobalamin 1 mg = 1 mL = 100 units"),
        pytest.param("us-label", (), (0.1, 10.0), (0.1, 10.0), id="FDA cyanocobalamin 100 mcg = 0.1 mL = 10 units"),
        pytest.param(
            "us-label", (Condition.LEBER,), (0.03, 3.0), (0.2, 20.0), id="FDA hydroxocobalamin 30 then 200 mcg"
        ),
    ],
)
def test_each_injected_dose_carries_the_volume_and_u100_units_of_its_product_strength(
    guideline: str, conditions: tuple[Condition, ...], first: tuple[float, float], last: tuple[float, float]
) -> None:
    plan = plan_case(make_case(guideline, conditions=conditions))
    assert plan.schedule is not None
    doses = plan.schedule.doses
    assert (doses[0].volume_ml, doses[0].syringe_units) == pytest.approx(first)
    assert (doses[-1].volume_ml, doses[-1].syringe_units) == pytest.approx(last)


# --- maintenance interval chosen by the clinician ------------------------------------------------------------


@pytest.mark.parametrize(
    ("guideline", "symptoms", "conditions", "months", "warned"),
    [
        pytest.param("uk", (), (), 3, False, id="UK-IM-NN 3 months is in 2-3"),
        pytest.param("uk", (Symptom.NUMBNESS,), (), 2, False, id="UK-IM-NEURO 2 months is the label"),
        pytest.param("uk", (Symptom.NUMBNESS,), (), 3, True, id="UK-IM-NEURO 3 months is longer than the label"),
        pytest.param("us-practice", (Symptom.NUMBNESS,), (), 2, True, id="US-STABLER 2 months is not monthly"),
        pytest.param("us-label", (), (Condition.LEBER,), 1, False, id="US-FDA-OH monthly is the label"),
    ],
)
def test_a_maintenance_interval_outside_the_label_is_warned_and_one_inside_is_not(
    guideline: str, symptoms: tuple[Symptom, ...], conditions: tuple[Condition, ...], months: int, warned: bool
) -> None:
    plan = plan_case(
        make_case(guideline, symptoms=symptoms or (Symptom.FATIGUE,), conditions=conditions, interval=months)
    )
    rule = plan.recommendation.phases[-1].rule
    warnings = [
        a for a in alerts_for(plan, rule) if a.severity is Severity.WARNING and "outside the label" in a.message
    ]
    assert bool(warnings) is warned


# --- safety ---------------------------------------------------------------------------------------------------------


def test_oral_treatment_of_an_anaemic_patient_is_not_warned_about_intensive_treatment_hypokalaemia() -> None:
    # SAFE-K is about "severe megaloblastic anaemia which is treated intensely" [S38]: oral is not intensive.
    plan = plan_case(make_case(causes=[Cause.METFORMIN], labs=(LOW_B12, ANAEMIA)))
    assert regimen_id(plan) == "UK-ORAL-MAL"
    assert "SAFE-K" not in rules(plan)
    assert followups(plan, "SAFE-K") == []
    assert len(followups(plan, "FU-PROGRESS")) == 3


def test_neurological_loading_of_an_anaemic_patient_warns_about_hypokalaemia_and_checks_potassium() -> None:
    plan = plan_case(make_case(symptoms=[Symptom.PARAESTHESIA], labs=(LOW_B12, ANAEMIA)))
    assert "SAFE-K" in rules(plan)
    assert "do not define" in alerts_for(plan, "SAFE-K")[0].message  # "severe" is left to the clinician
    assert followups(plan, "SAFE-K") == [date(2026, 1, 6)]


@pytest.mark.parametrize(
    ("guideline", "route", "fires"),
    [
        pytest.param("uk", None, False, id="UK hydroxocobalamin IM"),
        pytest.param("us-label", None, True, id="FDA cyanocobalamin"),
        pytest.param("us-practice", IM, True, id="Stabler cyanocobalamin"),
        pytest.param("us-practice", ORAL, False, id="AAFP by mouth"),
    ],
)
def test_the_never_intravenous_note_goes_with_every_us_injection_and_no_oral_plan(
    guideline: str, route: Route | None, fires: bool
) -> None:
    assert ("SAFE-IV" in rules(plan_case(make_case(guideline, route=route)))) is fires


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_leber_blocks_cyanocobalamin_in_every_guideline_and_plans_only_hydroxocobalamin(guideline: str) -> None:
    plan = plan_case(make_case(guideline, conditions=[Condition.LEBER], route=ORAL))
    assert plan.recommendation.blocked_products == (CN,)
    assert {p.product for p in plan.recommendation.phases} == {OH}
    assert plan.schedule is not None
    assert {x.product for x in plan.schedule.doses} == {OH}
    assert alerts_for(plan, "SAFE-LEBER")[0].severity is Severity.CRITICAL
    assert all(find_regimen(a)[1].product is OH for a in plan.recommendation.alternatives)


def test_a_leber_patient_with_a_dietary_cause_keeps_hydroxocobalamin_maintenance_on_the_us_label() -> None:
    # The "chronic treatment should be with an oral B12 preparation" line is the cyanocobalamin label's [S37];
    # oral cyanocobalamin is blocked in Leber's (SAFE-LEBER), so the hydroxocobalamin maintenance stays.
    plan = plan_case(make_case("us-label", causes=[Cause.DIET], conditions=[Condition.LEBER]))
    assert regimen_id(plan) == "US-FDA-OH"
    assert "US-FDA-ORAL-CHRONIC" not in rules(plan)
    assert plan.schedule is not None
    assert plan.schedule.maintenance_starts == date(2026, 2, 14)  # 10 daily doses to 14 Jan, then monthly


def test_a_dietary_cause_on_the_us_label_still_plans_the_cyanocobalamin_loading_only() -> None:
    plan = plan_case(make_case("us-label", causes=[Cause.DIET]))
    assert "US-FDA-ORAL-CHRONIC" in rules(plan)
    assert {p.kind for p in plan.recommendation.phases} == {PhaseKind.LOADING}


def test_the_hydroxocobalamin_label_monitoring_comes_with_it_when_us_practice_borrows_it() -> None:
    # US-FDA-OH [S42]: "Serum potassium closely for first 48 h"; us-practice plans it for Leber's disease.
    plan = plan_case(make_case("us-practice", conditions=[Condition.LEBER]))
    assert regimen_id(plan) == "US-FDA-OH"
    potassium = [f for f in plan.followups if f.kind is FollowUpKind.MONITORING and "potassium" in f.tests]
    assert [f.date for f in potassium] == [date(2026, 1, 6)]
    assert potassium[0].rule == "US-FDA-OH"
    assert "S42" in potassium[0].sources


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_cobalt_allergy_withholds_the_schedule_under_every_guideline(guideline: str) -> None:
    plan = plan_case(make_case(guideline, conditions=[Condition.COBALT_ALLERGY]))
    assert plan.recommendation.treat
    assert plan.schedule is None
    assert alerts_for(plan, "SAFE-COBALT")[0].severity is Severity.CRITICAL


def test_the_cord_damage_warning_is_not_given_when_treatment_is_not_planned() -> None:
    plan = plan_case(make_case(symptoms=[Symptom.PARAESTHESIA], labs=()))
    assert not plan.recommendation.treat
    assert "NEURO-URGENT" in rules(plan)
    assert "SAFE-3MO" not in rules(plan)


# --- where the sources are silent, no number is invented ------------------------------------------------------


def test_nitrous_oxide_by_mouth_gets_no_dose_no_schedule_and_a_review() -> None:
    plan = plan_case(make_case(causes=[Cause.NITROUS_OXIDE], route=ORAL))
    assert plan.recommendation.regimen is None
    assert plan.recommendation.phases == ()
    assert plan.schedule is None
    assert any("no oral dose" in a.message for a in alerts_for(plan, "UK-N2O"))
    assert followups(plan, "FU-UK") == [date(2026, 4, 5)]


def test_the_higher_hydroxocobalamin_dose_for_neurological_disease_is_named_but_never_given_a_number() -> None:
    plan = plan_case(make_case("us-practice", symptoms=[Symptom.VISION], conditions=[Condition.LEBER]))
    note = alerts_for(plan, "US-FDA-OH-NEURO")
    assert note
    assert "states no figure" in note[0].message
    assert {p.dose_mg for p in plan.recommendation.phases} == {0.03, 0.2}  # the label's own doses, unchanged


def test_cytamen_weekly_until_the_blood_count_is_normal_leaves_maintenance_undated() -> None:
    row = compare_regimens(date(2026, 1, 5), ["UK-CN-NN", "UK-IM-NN"]).rows[0]
    assert row.loading_ends is None
    assert row.maintenance_starts is None
    assert not row.first_8_weeks.complete
