"""SCOPE-AGE: a patient under 16 is outside the adult scope of b12's cut-offs and regimens.

REFERENCE §1.1: NICE NG239 "Covers people aged 16+" [S1]. REFERENCE holds one paediatric dose, a summary of
the US hydroxocobalamin label (§3.2, [S42][S45]), which b12 does not implement, and no age bound for the US
sources, so b12 warns below 16 under every guideline. The warning neither changes nor blocks the plan.
"""

from __future__ import annotations

from datetime import date

import pytest

from b12 import plan_to_dict
from b12.domain.alerts import Alert, Severity
from b12.domain.analytes import Analyte
from b12.domain.case import Case, Cause, LabResult, Patient, Sex, Symptom
from b12.domain.guidelines import GUIDELINE_IDS, load_common, sources
from b12.domain.labs import ADULT_FROM_AGE, B12_RULES, Interpretation
from b12.domain.plan import Plan
from b12.services import interpret_case, plan_case, rule_catalogue

START = date(2026, 1, 5)
US_GUIDELINES = [g for g in GUIDELINE_IDS if g != "uk"]


def make_case(age: int | None, guideline: str = "uk") -> Case:
    return Case(
        guideline=guideline,
        start=START,
        patient=Patient(Sex.FEMALE, age),
        labs=(LabResult(Analyte.B12_TOTAL, 150, "ng/L"), LabResult(Analyte.HEMOGLOBIN, 104, "g/L")),
        symptoms=frozenset({Symptom.FATIGUE}),
        causes=frozenset({Cause.AUTOIMMUNE_GASTRITIS}),
    )


def scope_alerts(result: Interpretation | Plan) -> list[Alert]:
    return [a for a in result.alerts if a.rule == "SCOPE-AGE"]


def only_scope_alert(alerts: list[Alert]) -> Alert:
    assert len(alerts) == 1, alerts
    return alerts[0]


# --- the lab interpretation ----------------------------------------------------------------------------


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_a_15_year_olds_lab_interpretation_warns_that_b12_holds_no_paediatric_ranges(guideline: str) -> None:
    result = interpret_case(make_case(15, guideline))
    alert = only_scope_alert(scope_alerts(result))
    assert alert.severity is Severity.WARNING
    assert alert.sources == ("S1",)
    assert "Patient aged 15 (under 16)" in alert.message
    assert "no paediatric reference ranges" in alert.message
    assert "covers people aged 16 and over" in alert.message
    assert "SCOPE-AGE" in result.rules_applied


def test_the_lab_warning_still_classifies_the_results_as_for_an_adult() -> None:
    child, adult = interpret_case(make_case(15)), interpret_case(make_case(40))
    assert child.status is adult.status
    assert child.normalised == adult.normalised
    assert child.findings == adult.findings


# --- the plan ------------------------------------------------------------------------------------------


def test_a_15_year_olds_uk_plan_cites_nice_ng239_for_its_16_and_over_scope() -> None:
    plan = plan_case(make_case(15, "uk"))
    alerts = scope_alerts(plan)
    interpretation_alert = only_scope_alert(scope_alerts(plan.interpretation))
    assert interpretation_alert in alerts
    plan_alert = only_scope_alert([a for a in alerts if a != interpretation_alert])
    assert plan_alert.severity is Severity.WARNING
    assert plan_alert.sources == ("S1",)
    assert plan_alert.message.startswith("Patient aged 15 (under 16): ")
    assert "NICE NG239, which b12's UK plan follows, covers people aged 16 and over" in plan_alert.message
    assert "no paediatric dose" in plan_alert.message
    assert "a clinician decides on treatment and dose" in plan_alert.message
    assert "hydroxocobalamin label" not in plan_alert.message
    assert "SCOPE-AGE" in plan.rules_applied


@pytest.mark.parametrize("guideline", US_GUIDELINES)
def test_a_15_year_olds_us_plan_says_the_labels_paediatric_dosing_is_not_implemented(guideline: str) -> None:
    plan = plan_case(make_case(15, guideline))
    interpretation_alert = only_scope_alert(scope_alerts(plan.interpretation))
    plan_alert = only_scope_alert([a for a in scope_alerts(plan) if a != interpretation_alert])
    assert plan_alert.severity is Severity.WARNING
    # REFERENCE §3.2 cites the paediatric summary [S42][S45]; NG239's 16+ is S1's.
    assert plan_alert.sources == ("S42", "S45", "S1")
    assert plan_alert.message.startswith("Patient aged 15 (under 16): ")
    assert plan.guideline.title in plan_alert.message
    assert "paediatric dosing summarised for the US hydroxocobalamin label is not implemented" in plan_alert.message
    assert "set no age limit" in plan_alert.message
    assert "(b12's choice)" in plan_alert.message
    assert "a clinician decides on treatment and dose" in plan_alert.message
    assert "SCOPE-AGE" in plan.rules_applied


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_the_warning_neither_changes_nor_blocks_the_adult_plan(guideline: str) -> None:
    child, adult = plan_case(make_case(15, guideline)), plan_case(make_case(40, guideline))
    assert child.recommendation == adult.recommendation
    assert child.recommendation.treat
    assert child.recommendation.scheduled
    assert child.schedule is not None
    assert child.schedule == adult.schedule
    assert child.followups == adult.followups
    assert [a for a in child.alerts if a.rule != "SCOPE-AGE"] == list(adult.alerts)


def test_the_plan_json_of_the_api_and_cli_carries_the_warning() -> None:
    data = plan_to_dict(plan_case(make_case(15, "us-label")))
    rules = [alert["rule"] for alert in data["alerts"]]
    assert rules.count("SCOPE-AGE") == 2
    assert "SCOPE-AGE" in data["rules_applied"]


# --- when it does not fire -----------------------------------------------------------------------------


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
@pytest.mark.parametrize("age", [0, 15])
def test_every_age_under_16_fires_under_every_guideline(guideline: str, age: int) -> None:
    plan = plan_case(make_case(age, guideline))
    assert len(scope_alerts(plan.interpretation)) == 1
    assert len(scope_alerts(plan)) == 2


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
@pytest.mark.parametrize("age", [16, 17, 62, None], ids=["16", "17", "62", "unknown"])
def test_age_16_and_over_or_unknown_gets_no_scope_warning(guideline: str, age: int | None) -> None:
    plan = plan_case(make_case(age, guideline))
    assert scope_alerts(plan.interpretation) == []
    assert scope_alerts(plan) == []
    assert "SCOPE-AGE" not in plan.rules_applied
    assert "SCOPE-AGE" not in plan.interpretation.rules_applied


def test_the_cut_off_age_is_nice_ng239s_16() -> None:
    assert ADULT_FROM_AGE == 16


# --- the catalogue -------------------------------------------------------------------------------------


def test_scope_age_is_catalogued_as_a_b12_warning_citing_s1_and_the_label_summary() -> None:
    rule = load_common().rules["SCOPE-AGE"]
    assert rule.b12_own
    assert rule.severity is Severity.WARNING
    assert rule.sources == ("S1", "S42", "S45")
    listed = sources()
    assert listed["S1"].title == "NICE NG239 overview"
    assert "hydroxocobalamin" in listed["S42"].title
    assert "hydroxocobalamin" in listed["S45"].title
    assert "SCOPE-AGE" in B12_RULES
    entry = next(e for e in rule_catalogue() if e.id == "SCOPE-AGE")
    assert entry.guidelines == ("all",)
    assert entry.b12_own


@pytest.mark.parametrize("guideline", GUIDELINE_IDS)
def test_every_scope_alert_cites_only_sources_the_catalogue_lists(guideline: str) -> None:
    rule = load_common().rules["SCOPE-AGE"]
    for alert in scope_alerts(plan_case(make_case(15, guideline))):
        assert alert.severity is rule.severity
        assert set(alert.sources) <= set(rule.sources)
