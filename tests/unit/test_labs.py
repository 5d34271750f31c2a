"""Lab interpretation: the vignettes' interpretation parts, band boundaries, findings, next tests, alerts."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import date

import pytest

from b12.domain import analytes
from b12.domain.alerts import Alert, Severity
from b12.domain.case import (
    Case,
    Cause,
    Condition,
    Ethnicity,
    LabResult,
    Patient,
    Sex,
    Symptom,
    TreatmentHistory,
)
from b12.domain.errors import CaseError, UnknownGuidelineError
from b12.domain.guidelines.thresholds import THRESHOLDS_DIR
from b12.domain.labs import (
    B12_RULES,
    Analyte,
    Finding,
    Interpretation,
    NextTest,
    Status,
    interpret,
    load_threshold_set,
    threshold_sets,
)

SOURCES = frozenset(tomllib.loads((THRESHOLDS_DIR.parent / "sources.toml").read_text(encoding="utf-8")))
START = date(2025, 3, 3)
F, M = Sex.FEMALE, Sex.MALE


def lab(analyte: Analyte, value: float, unit: str, **kwargs: object) -> LabResult:
    return LabResult(analyte, value, unit, **kwargs)  # type: ignore[arg-type]


def make_case(
    *labs: LabResult,
    sex: Sex = F,
    age: int = 50,
    pregnant: bool = False,
    ethnicity: Ethnicity | None = None,
    symptoms: set[Symptom] | None = None,
    causes: set[Cause] | None = None,
    conditions: set[Condition] | None = None,
    treatment: TreatmentHistory | None = None,
    mcv_cutoff_fl: float | None = None,
) -> Case:
    return Case(
        guideline="uk",
        start=START,
        patient=Patient(sex=sex, age=age, pregnant=pregnant, ethnicity=ethnicity),
        labs=labs,
        symptoms=frozenset(symptoms or ()),
        causes=frozenset(causes or ()),
        conditions=frozenset(conditions or ()),
        treatment=treatment or TreatmentHistory(),
        mcv_cutoff_fl=mcv_cutoff_fl,
    )


def run(case: Case, thresholds: str = "nice-ng239") -> Interpretation:
    return interpret(case, load_threshold_set(thresholds))


def codes(result: Interpretation) -> set[str]:
    return {f.code for f in result.findings}


def alert_rules(result: Interpretation) -> set[str]:
    return {a.rule for a in result.alerts}


def next_tests(result: Interpretation) -> list[Analyte]:
    return [t.test for t in result.next_tests]


def total(value: float, unit: str = "ng/L", **kwargs: object) -> LabResult:
    return lab(Analyte.B12_TOTAL, value, unit, **kwargs)


def active(value: float, **kwargs: object) -> LabResult:
    return lab(Analyte.B12_ACTIVE, value, "pmol/L", **kwargs)


# --- vignettes (shared/clinical/VIGNETTES.md), interpretation parts ----------------------------------------


@dataclass(frozen=True)
class Vignette:
    case: Case
    status: Status
    band: str | None
    findings: frozenset[str] = frozenset()
    absent_findings: frozenset[str] = frozenset()
    next_tests: tuple[Analyte, ...] = ()
    alerts: frozenset[str] = frozenset()
    absent_alerts: frozenset[str] = frozenset({"DX-DISCORD"})
    rules: frozenset[str] = frozenset()
    other: tuple[float, str] | None = None  # the B12 value in the other unit, to 1 decimal
    thresholds: str = "nice-ng239"
    extra: dict[str, object] = field(default_factory=dict)


VIGNETTES = [
    pytest.param(
        Vignette(
            make_case(
                total(150),
                lab(Analyte.HEMOGLOBIN, 104, "g/L"),
                lab(Analyte.MCV, 108, "fL"),
                lab(Analyte.FOLATE, 20, "nmol/L"),
                age=62,
                symptoms={Symptom.FATIGUE, Symptom.GLOSSITIS},
                causes={Cause.AUTOIMMUNE_GASTRITIS},
            ),
            Status.CONFIRMED,
            "Deficiency confirmed",
            findings=frozenset({"anaemia", "macrocytosis"}),
            absent_findings=frozenset({"folate_deficiency", "folate_indeterminate", "normal_mcv"}),
            rules=frozenset({"DX-TOT", "LAB-HB", "LAB-MCV"}),
            other=(110.7, "pmol/L"),
        ),
        id="V01-autoimmune-gastritis-confirmed-with-macrocytic-anaemia",
    ),
    pytest.param(
        Vignette(
            make_case(
                total(95),
                lab(Analyte.HEMOGLOBIN, 118, "g/L"),
                lab(Analyte.MCV, 99, "fL"),
                sex=M,
                age=58,
                symptoms={Symptom.PARAESTHESIA, Symptom.GAIT, Symptom.BALANCE},
                causes={Cause.AUTOIMMUNE_GASTRITIS},
            ),
            Status.CONFIRMED,
            "Deficiency confirmed",
            findings=frozenset({"anaemia", "normal_mcv"}),
            absent_findings=frozenset({"macrocytosis"}),
            rules=frozenset({"DX-TOT", "LAB-MCV"}),
        ),
        id="V02-neurological-confirmed-normal-mcv-does-not-exclude",
    ),
    pytest.param(
        Vignette(
            make_case(
                total(230),
                lab(Analyte.MMA, 620, "nmol/L", upper_limit=400),
                age=70,
                symptoms={Symptom.FATIGUE, Symptom.MEMORY},
                causes={Cause.METFORMIN},
            ),
            Status.INDETERMINATE,
            "Indeterminate – possible deficiency",
            findings=frozenset({"raised_mma"}),
            alerts=frozenset({"DX-MMA"}),
            rules=frozenset({"DX-TOT", "DX-MMA"}),
            other=(169.7, "pmol/L"),
        ),
        id="V03-borderline-total-b12-with-raised-mma",
    ),
    pytest.param(
        Vignette(
            make_case(
                total(120, "pmol/L"),
                age=45,
                symptoms={Symptom.FATIGUE, Symptom.PARAESTHESIA},
                causes={Cause.DIET},
            ),
            Status.CONFIRMED,
            "Deficiency confirmed",
            absent_findings=frozenset({"converted_for_scale"}),
            rules=frozenset({"DX-TOT"}),
            other=(162.6, "ng/L"),
        ),
        id="V05-pmol-per-l-result-meets-the-pmol-per-l-cut-offs",
    ),
    pytest.param(
        Vignette(
            make_case(
                total(210, "pg/mL"),
                lab(Analyte.HEMOGLOBIN, 150, "g/L"),
                lab(Analyte.MCV, 90, "fL"),
                sex=M,
                age=52,
                symptoms={Symptom.FATIGUE},
                causes={Cause.PPI},
            ),
            Status.INDETERMINATE,
            "Indeterminate – possible deficiency",
            absent_findings=frozenset({"anaemia", "macrocytosis", "normal_mcv"}),
            next_tests=(Analyte.MMA,),
            rules=frozenset({"DX-TOT", "DX-MMA"}),
            other=(155.0, "pmol/L"),
        ),
        id="V06-pg-per-ml-result-indeterminate-suggests-mma",
    ),
    pytest.param(
        Vignette(
            make_case(active(18), age=38, symptoms={Symptom.FATIGUE, Symptom.GLOSSITIS}, causes={Cause.COELIAC}),
            Status.CONFIRMED,
            "Deficiency confirmed",
            rules=frozenset({"DX-ACT"}),
        ),
        id="V07-active-b12-confirms-deficiency",
    ),
    pytest.param(
        Vignette(
            make_case(total(420), age=29, symptoms={Symptom.FATIGUE}),
            Status.UNLIKELY,
            "Deficiency unlikely",
            rules=frozenset({"DX-TOT"}),
        ),
        id="V09-deficiency-unlikely",
    ),
    pytest.param(
        Vignette(
            make_case(
                active(22),
                lab(Analyte.HEMOGLOBIN, 108, "g/L"),
                age=31,
                pregnant=True,
                symptoms={Symptom.FATIGUE, Symptom.PARAESTHESIA},
                causes={Cause.DIET},
            ),
            Status.CONFIRMED,
            "Deficiency confirmed",
            findings=frozenset({"anaemia"}),
            absent_findings=frozenset({"pregnancy_total_b12"}),
            rules=frozenset({"DX-ACT", "LAB-HB"}),
        ),
        id="V10-pregnant-active-b12-confirmed-with-anaemia-of-pregnancy",
    ),
    pytest.param(
        Vignette(
            make_case(
                total(160),
                lab(Analyte.HEMOGLOBIN, 135, "g/L"),
                lab(Analyte.MCV, 96, "fL"),
                sex=M,
                age=27,
                symptoms={Symptom.FATIGUE},
                causes={Cause.DIET},
            ),
            Status.CONFIRMED,
            "Deficiency confirmed",
            findings=frozenset({"normal_mcv"}),
            absent_findings=frozenset({"anaemia", "macrocytosis"}),
            other=(118.1, "pmol/L"),
        ),
        id="V11-vegan-confirmed-without-anaemia",
    ),
    pytest.param(
        Vignette(
            make_case(
                total(60),
                lab(Analyte.HEMOGLOBIN, 58, "g/L"),
                lab(Analyte.MCV, 121, "fL"),
                lab(Analyte.POTASSIUM, 3.6, "mmol/L", lower_limit=3.5),
                lab(Analyte.FOLATE, 15, "nmol/L"),
                age=76,
                symptoms={Symptom.BREATHLESS},
            ),
            Status.CONFIRMED,
            "Deficiency confirmed",
            findings=frozenset({"anaemia", "macrocytosis"}),
            absent_findings=frozenset({"low_potassium", "folate_deficiency"}),
        ),
        id="V16-severe-megaloblastic-anaemia-potassium-in-range",
    ),
    pytest.param(
        Vignette(
            make_case(
                total(140),
                lab(Analyte.FOLATE, 2.0, "µg/L"),
                lab(Analyte.MCV, 112, "fL"),
                sex=M,
                age=59,
                causes={Cause.DIET},
            ),
            Status.CONFIRMED,
            "Deficiency confirmed",
            findings=frozenset({"folate_deficiency", "macrocytosis"}),
            rules=frozenset({"DX-TOT", "LAB-FOLATE", "LAB-MCV"}),
            extra={"folate_nmol_per_l": 4.5},
        ),
        id="V17-combined-b12-and-folate-deficiency",
    ),
    pytest.param(
        Vignette(
            make_case(total(170), sex=M, age=24, symptoms={Symptom.VISION}, conditions={Condition.LEBER}),
            Status.CONFIRMED,
            "Deficiency confirmed",
        ),
        id="V18-leber-confirmed",
    ),
    pytest.param(
        Vignette(
            make_case(total(130), sex=M, age=35, causes={Cause.CROHNS, Cause.ILEAL_RESECTION}),
            Status.CONFIRMED,
            "Deficiency confirmed",
        ),
        id="V21-ileal-resection-confirmed",
    ),
    pytest.param(
        Vignette(
            make_case(total(170), age=55, symptoms={Symptom.FATIGUE}, causes={Cause.PPI}),
            Status.INDETERMINATE,
            "Possible deficiency",
            findings=frozenset({"threshold_set_note"}),
            next_tests=(Analyte.MMA,),
            alerts=frozenset({"DX-LAB"}),
            rules=frozenset({"DX-LAB", "DX-MMA"}),
            other=(125.5, "pmol/L"),  # 170 × 0.738 (not shown in V23)
            thresholds="ruh-bath",
        ),
        id="V23-local-lab-thresholds-make-170-ng-per-l-possible-deficiency",
    ),
]


@pytest.mark.parametrize("vignette", VIGNETTES)
def test_the_vignette_interpretation_matches_its_expected_output(vignette: Vignette) -> None:
    result = run(vignette.case, vignette.thresholds)
    assert result.status is vignette.status
    b12 = next(n for n in result.normalised if n.test in (Analyte.B12_TOTAL, Analyte.B12_ACTIVE))
    assert b12.band == vignette.band
    assert b12.status is vignette.status
    assert vignette.findings <= codes(result)
    assert not vignette.absent_findings & codes(result)
    assert tuple(next_tests(result)) == vignette.next_tests
    assert vignette.alerts <= alert_rules(result)
    assert not vignette.absent_alerts & alert_rules(result)
    assert vignette.rules <= set(result.rules_applied)
    if vignette.other is not None:
        assert round(b12.other_value, 1) == vignette.other[0]  # as the vignette shows it, to 1 decimal
        assert b12.other_unit == vignette.other[1]
    if "folate_nmol_per_l" in vignette.extra:
        folate = next(n for n in result.normalised if n.test is Analyte.FOLATE)
        assert (folate.unit, folate.original_unit) == ("nmol/L", "µg/L")
        assert folate.value == pytest.approx(vignette.extra["folate_nmol_per_l"], abs=0.1)


def test_v23_under_nice_thresholds_is_confirmed_where_ruh_bath_says_possible() -> None:
    case = make_case(total(170), symptoms={Symptom.FATIGUE}, causes={Cause.PPI})
    assert run(case, "nice-ng239").status is Status.CONFIRMED
    assert run(case, "ruh-bath").status is Status.INDETERMINATE


def test_v23_tells_not_to_repeat_the_test_within_42_days() -> None:
    result = run(make_case(total(170)), "ruh-bath")
    messages = [a.message for a in result.alerts if a.rule == "DX-LAB"]
    assert any("within 42 days" in m for m in messages)
    assert any("override NICE NG239" in m for m in messages)
    assert all(a.sources == ("S12",) for a in result.alerts if a.rule == "DX-LAB")


# --- boundaries --------------------------------------------------------------------------------------------

BOUNDARIES = [
    ("nice-ng239", total(179.9), Status.CONFIRMED, "Deficiency confirmed"),
    ("nice-ng239", total(180), Status.INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(350), Status.INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(350.1), Status.UNLIKELY, "Deficiency unlikely"),
    ("nice-ng239", total(0.18, "ng/mL"), Status.INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(0.35, "ng/mL"), Status.INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(132.9, "pmol/L"), Status.CONFIRMED, "Deficiency confirmed"),
    ("nice-ng239", total(133, "pmol/L"), Status.INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(258, "pmol/L"), Status.INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(258.1, "pmol/L"), Status.UNLIKELY, "Deficiency unlikely"),
    ("nice-ng239", active(24.9), Status.CONFIRMED, "Deficiency confirmed"),
    ("nice-ng239", active(25), Status.INDETERMINATE, "Possible deficiency (indeterminate result)"),
    ("nice-ng239", active(70), Status.INDETERMINATE, "Possible deficiency (indeterminate result)"),
    ("nice-ng239", active(70.1), Status.UNLIKELY, "Deficiency unlikely"),
    ("bsh-2014", total(199.9), Status.CONFIRMED, "Below BSH cut-off (sensitivity 97%)"),
    ("bsh-2014", total(200), Status.UNLIKELY, "At or above BSH cut-off"),
    ("bsh-2014", total(148, "pmol/L"), Status.UNLIKELY, "At or above BSH cut-off"),
    ("ruh-bath", total(144.9), Status.CONFIRMED, "Deficiency"),
    ("ruh-bath", total(145), Status.INDETERMINATE, "Possible deficiency"),
    ("ruh-bath", total(180), Status.INDETERMINATE, "Possible deficiency"),
    ("ruh-bath", total(180.1), Status.UNLIKELY, "Deficiency unlikely"),
    ("ruh-bath", total(914), Status.UNLIKELY, "Deficiency unlikely"),
    ("ruh-bath", total(914.1), Status.UNLIKELY, "Raised"),
    ("north-bristol", total(99.9), Status.CONFIRMED, "Likely deficiency"),
    ("north-bristol", total(100), Status.INDETERMINATE, "Possible deficiency"),
    ("north-bristol", total(145), Status.INDETERMINATE, "Possible deficiency"),
    ("north-bristol", total(145.5), Status.INDETERMINATE, "May still indicate deficiency"),
    ("north-bristol", total(146), Status.INDETERMINATE, "May still indicate deficiency"),
    ("north-bristol", total(200), Status.INDETERMINATE, "May still indicate deficiency"),
    ("north-bristol", total(200.5), Status.UNLIKELY, "Deficiency not likely"),
    ("north-bristol", total(914), Status.UNLIKELY, "Deficiency not likely"),
    ("north-bristol", total(914.1), Status.UNLIKELY, "High"),
]


@pytest.mark.parametrize(
    ("thresholds", "result", "status", "band"),
    BOUNDARIES,
    ids=[f"{t} {r.analyte} {r.value:g} {r.unit}" for t, r, _, _ in BOUNDARIES],
)
def test_a_result_on_or_beside_a_cut_off_falls_in_the_band_the_boundary_rule_says(
    thresholds: str, result: LabResult, status: Status, band: str
) -> None:
    interpretation = run(make_case(result), thresholds)
    assert interpretation.status is status
    assert interpretation.normalised[0].band == band


def test_133_pmol_per_l_is_indeterminate_on_the_pmol_scale_not_converted_to_ng_per_l() -> None:
    normalised = run(make_case(total(133, "pmol/L"))).normalised[0]
    assert (normalised.value, normalised.unit) == (133, "pmol/L")
    assert normalised.other_unit == "ng/L"
    assert normalised.other_value == pytest.approx(180.3, abs=0.1)


def test_pg_per_ml_is_read_on_the_ng_per_l_scale_and_keeps_its_original_unit() -> None:
    normalised = run(make_case(total(210, "pg/mL"))).normalised[0]
    assert (normalised.value, normalised.unit) == (210, "ng/L")
    assert (normalised.original_value, normalised.original_unit) == (210, "pg/mL")


def test_a_pmol_per_l_result_is_converted_for_a_set_with_only_an_ng_per_l_scale_and_says_so() -> None:
    result = run(make_case(total(120, "pmol/L")), "ruh-bath")
    normalised = result.normalised[0]
    assert normalised.unit == "ng/L"
    assert normalised.value == pytest.approx(162.6, abs=0.1)
    assert (normalised.other_value, normalised.other_unit) == (120, "pmol/L")
    assert normalised.band == "Possible deficiency"
    converted = result.finding("converted_for_scale")
    assert converted is not None
    assert "pg/mL × 0.738 = pmol/L" in converted.message
    assert "no pmol/L scale" in converted.message


def test_a_raised_band_is_reported_as_a_raised_b12_finding() -> None:
    result = run(make_case(total(1000)), "ruh-bath")
    assert result.status is Status.UNLIKELY
    raised = result.finding("raised_b12")
    assert raised is not None
    assert "'Raised'" in raised.message


# --- status rules ------------------------------------------------------------------------------------------


def test_no_b12_result_is_not_assessable_and_suggests_an_initial_b12_test() -> None:
    result = run(make_case(lab(Analyte.HEMOGLOBIN, 140, "g/L"), symptoms={Symptom.FATIGUE}))
    assert result.status is Status.NOT_ASSESSABLE
    assert [(t.test, t.rule) for t in result.next_tests] == [(Analyte.B12_TOTAL, "DX-TEST")]
    assert "active B12" in result.next_tests[0].reason


def test_disagreeing_total_and_active_b12_take_the_more_severe_and_say_so() -> None:
    result = run(make_case(total(400), active(40)))
    assert result.status is Status.INDETERMINATE
    assert "b12_tests_disagree" in codes(result)
    assert "DX-TWO-TESTS" in result.rules_applied


def test_agreeing_total_and_active_b12_add_no_disagreement_note() -> None:
    result = run(make_case(total(100), active(10)))
    assert result.status is Status.CONFIRMED
    assert "b12_tests_disagree" not in codes(result)


def test_the_latest_b12_result_sets_the_status_and_every_result_is_normalised() -> None:
    result = run(make_case(total(100, date=date(2024, 1, 1)), total(400, date=date(2025, 1, 1))))
    assert result.status is Status.UNLIKELY
    assert [n.status for n in result.normalised] == [Status.CONFIRMED, Status.UNLIKELY]


def test_an_active_b12_result_is_not_classified_by_a_set_without_an_active_scale() -> None:
    result = run(make_case(active(20)), "bsh-2014")
    assert result.status is Status.NOT_ASSESSABLE
    assert result.normalised[0].band is None
    assert "b12_not_classified" in codes(result)


def test_the_bsh_set_shows_its_note_that_definitive_cut_offs_are_not_possible() -> None:
    result = run(make_case(total(190)), "bsh-2014")
    note = result.finding("threshold_set_note")
    assert note is not None
    assert "definitive cut-off points are not possible" in note.message
    assert note.rule == "DX-BSH"


def test_the_boundary_rule_of_the_set_is_part_of_the_output() -> None:
    result = run(make_case(total(180)))
    assert result.boundary_rule == load_threshold_set("nice-ng239").boundary_rule
    assert "implementation choice" in result.threshold_set.boundary_rule


# --- pregnancy, nitrous oxide, MMA -------------------------------------------------------------------------


def test_pregnancy_with_only_total_b12_suggests_active_b12_and_notes_the_physiological_fall() -> None:
    result = run(make_case(total(200), pregnant=True, age=30))
    assert [(t.test, t.rule) for t in result.next_tests] == [(Analyte.B12_ACTIVE, "DX-PREG")]
    note = result.finding("pregnancy_total_b12")
    assert note is not None
    assert "S59" in note.sources


def test_pregnancy_without_any_b12_result_suggests_active_b12_first() -> None:
    result = run(make_case(pregnant=True, age=30))
    assert result.status is Status.NOT_ASSESSABLE
    assert next_tests(result) == [Analyte.B12_ACTIVE]


def test_suspected_nitrous_oxide_suggests_plasma_homocysteine_because_total_b12_can_mislead() -> None:
    result = run(make_case(total(400), causes={Cause.NITROUS_OXIDE}, symptoms={Symptom.NUMBNESS}))
    homocysteine = [t for t in result.next_tests if t.test is Analyte.HOMOCYSTEINE]
    assert [t.rule for t in homocysteine] == ["DX-N2O"]
    assert "total B12 can be misleading" in homocysteine[0].reason


def test_nitrous_oxide_without_a_b12_result_suggests_homocysteine_instead_of_b12() -> None:
    result = run(make_case(causes={Cause.NITROUS_OXIDE}))
    assert next_tests(result) == [Analyte.HOMOCYSTEINE]


def test_a_raised_homocysteine_with_nitrous_oxide_needs_no_further_homocysteine_test() -> None:
    result = run(make_case(lab(Analyte.HOMOCYSTEINE, 49.1, "µmol/L"), causes={Cause.NITROUS_OXIDE}))
    assert next_tests(result) == []
    raised = result.finding("raised_homocysteine")
    assert raised is not None
    assert "no lab upper limit given" in raised.message
    assert "nitrous oxide" in raised.message


@pytest.mark.parametrize(
    ("value", "upper_limit", "raised"),
    [(14, None, True), (13.9, None, False), (15, 15, False), (15.1, 15, True)],
)
def test_homocysteine_is_raised_above_the_lab_limit_or_else_at_stablers_14_umol_per_l(
    value: float, upper_limit: float | None, raised: bool
) -> None:
    result = run(make_case(lab(Analyte.HOMOCYSTEINE, value, "µmol/L", upper_limit=upper_limit)))
    assert ("raised_homocysteine" in codes(result)) is raised


@pytest.mark.parametrize(
    ("value", "unit", "upper_limit", "raised"),
    [
        (400, "nmol/L", None, True),
        (399, "nmol/L", None, False),
        (0.41, "µmol/L", None, True),
        (0.40, "nmol/mL", 0.40, False),
        (0.41, "nmol/mL", 0.40, True),
        (380, "nmol/L", 378, True),
    ],
)
def test_mma_is_raised_above_the_lab_upper_limit_or_else_at_stablers_400_nmol_per_l(
    value: float, unit: str, upper_limit: float | None, raised: bool
) -> None:
    result = run(make_case(lab(Analyte.MMA, value, unit, upper_limit=upper_limit)))
    assert ("raised_mma" in codes(result)) is raised


def test_a_raised_mma_without_a_lab_limit_says_which_normal_it_was_compared_with() -> None:
    result = run(make_case(total(230), lab(Analyte.MMA, 620, "nmol/L"), symptoms={Symptom.FATIGUE}))
    raised = result.finding("raised_mma")
    assert raised is not None
    assert "no lab upper limit given" in raised.message
    assert "S51" in raised.sources
    assert [a.severity for a in result.alerts if a.rule == "DX-MMA"] == [Severity.INFO]


def test_indeterminate_without_symptoms_does_not_suggest_mma() -> None:
    assert next_tests(run(make_case(total(230)))) == []


def test_mma_with_renal_impairment_warns_that_mma_is_falsely_raised() -> None:
    with_result = run(make_case(total(230), lab(Analyte.MMA, 620, "nmol/L"), conditions={Condition.RENAL_IMPAIRMENT}))
    suggested = run(make_case(total(230), symptoms={Symptom.FATIGUE}, conditions={Condition.RENAL_IMPAIRMENT}))
    unused = run(make_case(total(100), conditions={Condition.RENAL_IMPAIRMENT}))
    assert "DX-MMA-RENAL" in alert_rules(with_result)
    assert "DX-MMA-RENAL" in alert_rules(suggested)
    assert "DX-MMA-RENAL" not in alert_rules(unused)


# --- injections and long-term replacement ------------------------------------------------------------------


@pytest.mark.parametrize(("days", "interpretable"), [(0, False), (7, False), (14, False), (15, True), (-3, True)])
def test_a_b12_sample_within_14_days_after_an_injection_is_not_interpretable(days: int, interpretable: bool) -> None:
    injected = date(2025, 2, 1)
    sample = date.fromordinal(injected.toordinal() + days)
    result = run(make_case(total(400, date=sample), treatment=TreatmentHistory(last_injection=injected)))
    assert (result.status is Status.UNLIKELY) is interpretable
    assert ("DX-RECENT-INJ" in alert_rules(result)) is not interpretable
    if not interpretable:
        assert result.status is Status.NOT_ASSESSABLE
        assert result.normalised[0].band is None
        alert = next(a for a in result.alerts if a.rule == "DX-RECENT-INJ")
        assert "uninterpretable within 2 weeks" in alert.message
        assert "verify" in alert.message


def test_a_recent_injection_leaves_an_active_b12_taken_before_it_interpretable() -> None:
    injected = date(2025, 2, 1)
    result = run(
        make_case(
            total(900, date=date(2025, 2, 5)),
            active(20, date=date(2025, 1, 20)),
            treatment=TreatmentHistory(last_injection=injected),
        )
    )
    assert result.status is Status.CONFIRMED
    assert "b12_tests_disagree" not in codes(result)


def test_an_undated_b12_result_after_an_injection_is_flagged_as_unchecked() -> None:
    result = run(make_case(total(400), treatment=TreatmentHistory(last_injection=date(2025, 2, 1))))
    assert result.status is Status.UNLIKELY
    assert [a.severity for a in result.alerts if a.rule == "DX-RECENT-INJ"] == [Severity.INFO]


def test_long_term_replacement_with_a_b12_result_warns_not_to_re_test() -> None:
    result = run(make_case(total(400), treatment=TreatmentHistory(long_term_replacement=True)))
    alert = next(a for a in result.alerts if a.rule == "FU-NO-RETEST")
    assert alert.sources == ("S59",)
    assert "FU-NO-RETEST" not in alert_rules(run(make_case(treatment=TreatmentHistory(long_term_replacement=True))))


# --- haematology, folate, potassium ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "pregnant", "hb", "anaemia"),
    [
        (M, False, 129.9, True),
        (M, False, 130, False),
        (F, False, 119.9, True),
        (F, False, 120, False),
        (F, True, 109.9, True),
        (F, True, 110, False),
        (F, True, 115, False),
    ],
)
def test_anaemia_uses_the_threshold_for_sex_and_pregnancy(sex: Sex, pregnant: bool, hb: float, anaemia: bool) -> None:
    result = run(make_case(lab(Analyte.HEMOGLOBIN, hb, "g/L"), sex=sex, pregnant=pregnant))
    assert ("anaemia" in codes(result)) is anaemia


def test_haemoglobin_in_g_per_dl_is_normalised_to_g_per_l_with_the_original_beside_it() -> None:
    result = run(make_case(lab(Analyte.HEMOGLOBIN, 10.4, "g/dL")))
    hb = result.normalised[0]
    assert (hb.value, hb.unit, hb.original_value, hb.original_unit) == (104, "g/L", 10.4, "g/dL")
    assert (hb.other_value, hb.other_unit) == (10.4, "g/dL")
    assert "anaemia" in codes(result)


@pytest.mark.parametrize(("mcv", "cutoff", "macrocytosis"), [(100, None, False), (100.1, None, True), (98, 96, True)])
def test_macrocytosis_is_an_mcv_above_the_cut_off_of_100_fl_or_the_one_set_for_the_case(
    mcv: float, cutoff: float | None, macrocytosis: bool
) -> None:
    result = run(make_case(lab(Analyte.MCV, mcv, "fL"), mcv_cutoff_fl=cutoff))
    assert ("macrocytosis" in codes(result)) is macrocytosis


def test_the_macrocytosis_finding_mentions_the_other_cut_offs_in_use() -> None:
    finding = run(make_case(lab(Analyte.MCV, 108, "fL"))).finding("macrocytosis")
    assert finding is not None
    assert "96 fL" in finding.message
    assert "98 fL" in finding.message


def test_a_normal_mcv_note_is_given_only_when_deficiency_is_confirmed() -> None:
    assert "normal_mcv" in codes(run(make_case(total(150), lab(Analyte.MCV, 92, "fL"))))
    assert "normal_mcv" not in codes(run(make_case(total(400), lab(Analyte.MCV, 92, "fL"))))


@pytest.mark.parametrize(
    ("value", "unit", "code"),
    [
        (6.9, "nmol/L", "folate_deficiency"),
        (7, "nmol/L", "folate_indeterminate"),
        (10, "nmol/L", "folate_indeterminate"),
        (10.1, "nmol/L", None),
        (2.0, "ng/mL", "folate_deficiency"),
    ],
)
def test_serum_folate_below_7_nmol_per_l_is_deficient_and_7_to_10_indeterminate(
    value: float, unit: str, code: str | None
) -> None:
    result = run(make_case(lab(Analyte.FOLATE, value, unit)))
    found = codes(result) & {"folate_deficiency", "folate_indeterminate"}
    assert found == ({code} if code else set())
    if code:
        finding = result.finding(code)
        assert finding is not None
        assert "confirm the local range" in finding.message


@pytest.mark.parametrize(
    ("value", "unit", "lower", "low"),
    [
        (3.2, "mmol/L", 3.5, True),
        (3.5, "mmol/L", 3.5, False),
        (3.2, "mEq/L", 3.5, True),
        (2.9, "mmol/L", None, False),
    ],
)
def test_potassium_below_the_lab_lower_limit_is_noted(value: float, unit: str, lower: float | None, low: bool) -> None:
    result = run(make_case(lab(Analyte.POTASSIUM, value, unit, lower_limit=lower)))
    assert ("low_potassium" in codes(result)) is low


# --- alerts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labs", "symptoms", "discord"),
    [
        ((total(400),), {Symptom.PARAESTHESIA}, True),
        ((total(230),), {Symptom.ATAXIA}, True),
        ((), {Symptom.NUMBNESS}, True),
        ((total(100),), {Symptom.PARAESTHESIA}, False),
        ((total(400),), {Symptom.FATIGUE, Symptom.MEMORY}, False),
        ((total(230), lab(Analyte.HEMOGLOBIN, 100, "g/L"), lab(Analyte.MCV, 110, "fL")), set(), True),
        ((total(230), lab(Analyte.HEMOGLOBIN, 100, "g/L"), lab(Analyte.MCV, 90, "fL")), set(), False),
    ],
)
def test_strong_clinical_features_with_a_result_that_does_not_confirm_warn_not_to_delay_treatment(
    labs: tuple[LabResult, ...], symptoms: set[Symptom], discord: bool
) -> None:
    result = run(make_case(*labs, symptoms=symptoms))
    alerts = [a for a in result.alerts if a.rule == "DX-DISCORD"]
    assert bool(alerts) is discord
    if alerts:
        assert alerts[0].severity is Severity.WARNING
        assert "do not delay treatment" in alerts[0].message
        assert result.strong_clinical_features


def test_black_ethnicity_notes_that_treatment_may_be_needed_below_the_cut_offs() -> None:
    result = run(make_case(total(400), ethnicity=Ethnicity.BLACK))
    alert = next(a for a in result.alerts if a.rule == "DX-ETH")
    assert alert.severity is Severity.INFO
    assert "lower concentrations than the cut-offs" in alert.message
    assert "DX-ETH" not in alert_rules(run(make_case(total(400), ethnicity=Ethnicity.WHITE)))


def test_a_national_guideline_set_raises_no_local_lab_alert() -> None:
    assert "DX-LAB" not in alert_rules(run(make_case(total(170))))


def test_north_bristol_names_its_unverified_basis_in_the_local_lab_alert() -> None:
    result = run(make_case(total(150)), "north-bristol")
    alert = next(a for a in result.alerts if a.rule == "DX-LAB")
    assert "verify with the lab" in alert.message
    assert result.status is Status.INDETERMINATE


def test_alerts_are_ordered_with_warnings_before_information() -> None:
    result = run(make_case(total(400), symptoms={Symptom.PARAESTHESIA}, ethnicity=Ethnicity.BLACK), "ruh-bath")
    severities = [a.severity for a in result.alerts]
    assert severities == sorted(severities, key=[Severity.CRITICAL, Severity.WARNING, Severity.INFO].index)


# --- contract ----------------------------------------------------------------------------------------------

EVERYTHING = make_case(
    total(230, date=date(2025, 2, 20)),
    active(40),
    lab(Analyte.MMA, 620, "nmol/L"),
    lab(Analyte.HOMOCYSTEINE, 30, "µmol/L"),
    lab(Analyte.HEMOGLOBIN, 100, "g/L"),
    lab(Analyte.MCV, 110, "fL"),
    lab(Analyte.FOLATE, 5, "nmol/L"),
    lab(Analyte.POTASSIUM, 3.1, "mmol/L", lower_limit=3.5),
    lab(Analyte.RETICULOCYTES, 1.2, "%"),
    ethnicity=Ethnicity.BLACK,
    symptoms={Symptom.PARAESTHESIA},
    causes={Cause.NITROUS_OXIDE},
    conditions={Condition.RENAL_IMPAIRMENT},
    treatment=TreatmentHistory(last_injection=date(2025, 2, 10), long_term_replacement=True),
)


@pytest.mark.parametrize("name", threshold_sets())
def test_every_piece_of_advice_carries_a_rule_id_and_known_source_ids(name: str) -> None:
    result = run(EVERYTHING, name)
    cited: list[Finding | NextTest | Alert] = [*result.findings, *result.next_tests, *result.alerts]
    assert cited
    for item in cited:
        assert item.rule
        assert set(item.sources) <= SOURCES, item
    assert result.rules_applied == tuple(sorted({item.rule for item in cited if item.rule} | set(result.rules_applied)))
    section_11 = {
        "DX-TOT",
        "DX-ACT",
        "DX-MMA",
        "DX-PREG",
        "DX-N2O",
        "DX-ETH",
        "DX-DISCORD",
        "DX-LAB",
        "SAFE-K",
    }
    section_11 |= {"DX-TEST"}
    assert set(result.rules_applied) <= section_11 | set(B12_RULES)


def test_interpretation_is_a_pure_function_of_its_inputs() -> None:
    nice = load_threshold_set("nice-ng239")
    assert interpret(EVERYTHING, nice) == interpret(replace(EVERYTHING), nice)


def test_a_result_in_an_unknown_unit_is_refused_naming_the_lab_entry() -> None:
    with pytest.raises(CaseError) as caught:
        run(make_case(lab(Analyte.HEMOGLOBIN, 120, "g/L"), total(200, "picograms")))
    assert caught.value.field == "labs[1].unit"
    assert "Unknown unit" in str(caught.value)


def test_a_b12_result_in_a_unit_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(CaseError, match=r"labs\[0\]\.unit"):
        run(make_case(total(90, "fL")))


def test_labs_re_exports_the_analyte_vocabulary_and_the_threshold_set_names() -> None:
    assert Analyte is analytes.Analyte
    assert threshold_sets() == ("bsh-2014", "nice-ng239", "north-bristol", "ruh-bath")
    with pytest.raises(UnknownGuidelineError):
        load_threshold_set("nice")


def test_an_interpretation_refuses_unsorted_rules_and_a_finding_needs_a_message() -> None:
    with pytest.raises(ValueError, match="sorted"):
        Interpretation(Status.UNLIKELY, load_threshold_set("nice-ng239"), rules_applied=("DX-TOT", "DX-ACT"))
    with pytest.raises(ValueError, match="message"):
        Finding("anaemia", "", "LAB-HB")
