"""Lab interpretation audited against shared/clinical/REFERENCE.md: the cases test_labs.py leaves out.

Each table row names the REFERENCE section or §11 rule it checks. Values near a cut-off that is met only
through a unit conversion are chosen so that the answer is the same with the molar mass of cobalamin
(1355.38 g/mol [S63]) and with the rounded factors of §7.1 (× 0.738, × 1.355 [S61]).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from b12.domain.alerts import Severity
from b12.domain.analytes import LOINC
from b12.domain.case import (
    Case,
    Cause,
    Ethnicity,
    LabResult,
    Patient,
    Sex,
    Symptom,
    TreatmentHistory,
)
from b12.domain.errors import CaseError
from b12.domain.guidelines.thresholds import Status
from b12.domain.labs import Analyte, Interpretation, interpret, load_threshold_set

START = date(2025, 3, 3)
F, M = Sex.FEMALE, Sex.MALE
CONFIRMED, INDETERMINATE, UNLIKELY = Status.CONFIRMED, Status.INDETERMINATE, Status.UNLIKELY


def lab(analyte: Analyte, value: float, unit: str, **kwargs: object) -> LabResult:
    return LabResult(analyte, value, unit, **kwargs)  # type: ignore[arg-type]


def total(value: float, unit: str = "ng/L", **kwargs: object) -> LabResult:
    return lab(Analyte.B12_TOTAL, value, unit, **kwargs)


def active(value: float, unit: str = "pmol/L", **kwargs: object) -> LabResult:
    return lab(Analyte.B12_ACTIVE, value, unit, **kwargs)


def make_case(
    *labs: LabResult,
    patient: Patient | None = None,
    symptoms: frozenset[Symptom] = frozenset(),
    causes: frozenset[Cause] = frozenset(),
    treatment: TreatmentHistory | None = None,
    mcv_cutoff_fl: float | None = None,
) -> Case:
    return Case(
        guideline="uk",
        start=START,
        patient=patient or Patient(sex=F, age=50),
        labs=labs,
        symptoms=symptoms,
        causes=causes,
        treatment=treatment or TreatmentHistory(),
        mcv_cutoff_fl=mcv_cutoff_fl,
    )


def run(case: Case, thresholds: str = "nice-ng239") -> Interpretation:
    return interpret(case, load_threshold_set(thresholds))


def codes(result: Interpretation) -> set[str]:
    return {f.code for f in result.findings}


FATIGUE = frozenset({Symptom.FATIGUE})
PARAESTHESIA = frozenset({Symptom.PARAESTHESIA})


# --- the packaged sets hold exactly the numbers of REFERENCE -----------------------------------------------

# (set, analyte, unit) -> the bands as written: REFERENCE §1.4 / §11 DX-TOT, DX-ACT (NICE, boundaries
# inclusive in the indeterminate band as §1.4 suggests), §4 (BSH 200 ng/L = 148 pmol/L), §1.4 DX-LAB (RUH).
PACKAGED_BANDS = [
    (
        "nice-ng239",
        Analyte.B12_TOTAL,
        "ng/L",
        [("(-inf, 180)", CONFIRMED), ("[180, 350]", INDETERMINATE), ("(350, inf)", UNLIKELY)],
    ),
    (
        "nice-ng239",
        Analyte.B12_TOTAL,
        "pmol/L",
        [("(-inf, 133)", CONFIRMED), ("[133, 258]", INDETERMINATE), ("(258, inf)", UNLIKELY)],
    ),
    (
        "nice-ng239",
        Analyte.B12_ACTIVE,
        "pmol/L",
        [("(-inf, 25)", CONFIRMED), ("[25, 70]", INDETERMINATE), ("(70, inf)", UNLIKELY)],
    ),
    ("bsh-2014", Analyte.B12_TOTAL, "ng/L", [("(-inf, 200)", CONFIRMED), ("[200, inf)", UNLIKELY)]),
    ("bsh-2014", Analyte.B12_TOTAL, "pmol/L", [("(-inf, 148)", CONFIRMED), ("[148, inf)", UNLIKELY)]),
    (
        "ruh-bath",
        Analyte.B12_TOTAL,
        "ng/L",
        [
            ("(-inf, 145)", CONFIRMED),
            ("[145, 180]", INDETERMINATE),
            ("(180, 914]", UNLIKELY),
            ("(914, inf)", UNLIKELY),
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "analyte", "unit", "bands"),
    PACKAGED_BANDS,
    ids=[f"{n} {a} {u}" for n, a, u, _ in PACKAGED_BANDS],
)
def test_a_packaged_scale_has_exactly_the_bands_reference_gives(
    name: str, analyte: Analyte, unit: str, bands: list[tuple[str, Status]]
) -> None:
    scales = [s for s in load_threshold_set(name).scales_for(analyte) if s.unit == unit]
    assert len(scales) == 1
    assert [(str(b.range), b.status) for b in scales[0].bands] == bands


# §11: DX-TOT [S7][S9]; DX-ACT [S7]; DX-LAB [S12]; BSH's cut-off [S49] (b12's DX-BSH).
SCALE_CITATIONS = [
    ("nice-ng239", Analyte.B12_TOTAL, "DX-TOT", {"S7", "S9"}),
    ("nice-ng239", Analyte.B12_ACTIVE, "DX-ACT", {"S7"}),
    ("bsh-2014", Analyte.B12_TOTAL, "DX-BSH", {"S49"}),
    ("ruh-bath", Analyte.B12_TOTAL, "DX-LAB", {"S12"}),
]


@pytest.mark.parametrize(("name", "analyte", "rule", "sources"), SCALE_CITATIONS)
def test_every_scale_cites_the_rule_id_and_the_sources_of_reference_section_11(
    name: str, analyte: Analyte, rule: str, sources: set[str]
) -> None:
    for scale in load_threshold_set(name).scales_for(analyte):
        assert scale.rule == rule
        assert sources <= set(scale.sources)


def test_only_the_local_lab_sets_say_their_boundary_reading_is_b12s_and_nice_says_it_is_a_choice() -> None:
    assert "implementation choice" in load_threshold_set("nice-ng239").boundary_rule
    for name in ("bsh-2014", "ruh-bath", "north-bristol"):
        assert "b12" in load_threshold_set(name).boundary_rule


# --- boundaries in the units labs report (REFERENCE §7.1: pg/mL = ng/L; pmol/L; nmol/L) --------------------

BOUNDARIES = [
    # NICE total B12 in pg/mL meets the ng/L cut-offs unchanged (§7.1 "pg/mL = ng/L").
    ("nice-ng239", total(179.9, "pg/mL"), CONFIRMED, "Deficiency confirmed"),
    ("nice-ng239", total(180, "pg/mL"), INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(350, "pg/mL"), INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(350.1, "pg/mL"), UNLIKELY, "Deficiency unlikely"),
    ("nice-ng239", total(0.1799, "ng/mL"), CONFIRMED, "Deficiency confirmed"),
    ("nice-ng239", total(0.3501, "ng/mL"), UNLIKELY, "Deficiency unlikely"),
    ("nice-ng239", total(0.18, "µg/L"), INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(0.35, "mcg/L"), INDETERMINATE, "Indeterminate – possible deficiency"),
    # A molar result meets the pmol/L cut-offs printed in the NICE table (§1.4 "< 133 pmol/L", "> 258").
    ("nice-ng239", total(0.1329, "nmol/L"), CONFIRMED, "Deficiency confirmed"),
    ("nice-ng239", total(0.133, "nmol/L"), INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(0.258, "nmol/L"), INDETERMINATE, "Indeterminate – possible deficiency"),
    ("nice-ng239", total(0.2581, "nmol/L"), UNLIKELY, "Deficiency unlikely"),
    ("nice-ng239", total(258.2, "pmol/L"), UNLIKELY, "Deficiency unlikely"),
    # NICE has no upper band: a very high total B12 is "unlikely", never "raised".
    ("nice-ng239", total(5000), UNLIKELY, "Deficiency unlikely"),
    # Active B12 (§7.2, pmol/L only): nmol/L is the same kind of unit.
    ("nice-ng239", active(0.0249, "nmol/L"), CONFIRMED, "Deficiency confirmed"),
    ("nice-ng239", active(0.025, "nmol/L"), INDETERMINATE, "Possible deficiency (indeterminate result)"),
    ("nice-ng239", active(0.07, "nmol/L"), INDETERMINATE, "Possible deficiency (indeterminate result)"),
    ("nice-ng239", active(0.0701, "nmol/L"), UNLIKELY, "Deficiency unlikely"),
    # BSH 2014 (§4): 148 pmol/L (200 ng/L).
    ("bsh-2014", total(147.9, "pmol/L"), CONFIRMED, "Below BSH cut-off (sensitivity 97%)"),
    ("bsh-2014", total(199.9, "pg/mL"), CONFIRMED, "Below BSH cut-off (sensitivity 97%)"),
    ("bsh-2014", total(200, "pg/mL"), UNLIKELY, "At or above BSH cut-off"),
    # RUH Bath (§1.4, DX-LAB): "<145 deficiency; 145–180 possible; >180 unlikely; >914 raised", in pg/mL.
    ("ruh-bath", total(144.9, "pg/mL"), CONFIRMED, "Deficiency"),
    ("ruh-bath", total(145, "pg/mL"), INDETERMINATE, "Possible deficiency"),
    ("ruh-bath", total(180, "pg/mL"), INDETERMINATE, "Possible deficiency"),
    ("ruh-bath", total(180.1, "pg/mL"), UNLIKELY, "Deficiency unlikely"),
    ("ruh-bath", total(914, "pg/mL"), UNLIKELY, "Deficiency unlikely"),
    ("ruh-bath", total(914.1, "pg/mL"), UNLIKELY, "Raised"),
    # RUH Bath has no pmol/L scale: pmol/L is converted (× 1.355, §7.1) and meets the ng/L cut-offs.
    ("ruh-bath", total(106.9, "pmol/L"), CONFIRMED, "Deficiency"),
    ("ruh-bath", total(107.1, "pmol/L"), INDETERMINATE, "Possible deficiency"),
    ("ruh-bath", total(132.8, "pmol/L"), INDETERMINATE, "Possible deficiency"),
    ("ruh-bath", total(133, "pmol/L"), UNLIKELY, "Deficiency unlikely"),
    ("ruh-bath", total(674, "pmol/L"), UNLIKELY, "Deficiency unlikely"),
    ("ruh-bath", total(675, "pmol/L"), UNLIKELY, "Raised"),
    # North Bristol (not in REFERENCE; the set's own reading of its integer bands).
    ("north-bristol", total(145.1), INDETERMINATE, "May still indicate deficiency"),
    ("north-bristol", total(200.1), UNLIKELY, "Deficiency not likely"),
    ("north-bristol", total(100, "pg/mL"), INDETERMINATE, "Possible deficiency"),
]


@pytest.mark.parametrize(
    ("thresholds", "result", "status", "band"),
    BOUNDARIES,
    ids=[f"{t} {r.analyte} {r.value:g} {r.unit}" for t, r, _, _ in BOUNDARIES],
)
def test_a_result_in_any_accepted_unit_falls_in_the_band_reference_gives_for_it(
    thresholds: str, result: LabResult, status: Status, band: str
) -> None:
    interpretation = run(make_case(result), thresholds)
    assert interpretation.status is status
    assert interpretation.normalised[0].band == band
    assert interpretation.normalised[0].status is status


def test_a_pmol_per_l_total_b12_on_a_set_with_a_pmol_per_l_scale_is_not_converted() -> None:
    result = run(make_case(total(258.3, "pmol/L")))
    normalised = result.normalised[0]
    assert (normalised.value, normalised.unit) == (258.3, "pmol/L")
    assert normalised.other_unit == "ng/L"
    assert normalised.other_value == pytest.approx(350.0, abs=0.1)
    assert "converted_for_scale" not in codes(result)


def test_a_converted_result_names_the_factor_and_its_sources() -> None:
    finding = run(make_case(total(675, "pmol/L")), "ruh-bath").finding("converted_for_scale")
    assert finding is not None
    assert "pg/mL × 0.738 = pmol/L" in finding.message
    assert {"S61", "S62"} <= set(finding.sources)


def test_an_active_b12_in_a_mass_unit_is_refused_because_holotranscobalamin_has_no_molar_mass() -> None:
    with pytest.raises(CaseError, match="molar mass") as caught:
        run(make_case(active(30, "pg/mL")))
    assert caught.value.field == "labs[0].unit"


# --- the status from two B12 tests (DX-TWO-TESTS, b12's choice) -------------------------------------------

TWO_TESTS = [
    (total(100), active(40), CONFIRMED),
    (total(230), active(80), INDETERMINATE),
    (total(400), active(20), CONFIRMED),
    (total(120, "pmol/L"), active(90), CONFIRMED),
]


@pytest.mark.parametrize(
    ("total_result", "active_result", "status"),
    TWO_TESTS,
    ids=[f"total {t.value:g} {t.unit} active {a.value:g}" for t, a, _ in TWO_TESTS],
)
def test_disagreeing_total_and_active_b12_report_the_more_severe_with_no_source_claimed(
    total_result: LabResult, active_result: LabResult, status: Status
) -> None:
    result = run(make_case(total_result, active_result))
    assert result.status is status
    disagree = result.finding("b12_tests_disagree")
    assert disagree is not None
    assert disagree.rule == "DX-TWO-TESTS"
    # B12_RULES and common.toml: "a b12 choice, no source" — no REFERENCE source may be cited for it.
    assert disagree.sources == ()


# --- recent injection (DX-RECENT-INJ) applies to active B12 too ---------------------------------------------


@pytest.mark.parametrize(("days", "classified"), [(14, False), (15, True)])
def test_an_active_b12_sample_up_to_14_days_after_an_injection_is_not_classified(days: int, classified: bool) -> None:
    injected = date(2025, 2, 1)
    result = run(
        make_case(
            active(20, date=injected + timedelta(days=days)),
            treatment=TreatmentHistory(last_injection=injected),
        )
    )
    assert (result.status is CONFIRMED) is classified
    assert (result.normalised[0].band is not None) is classified
    assert any(a.rule == "DX-RECENT-INJ" for a in result.alerts) is not classified


def test_strong_features_with_a_result_left_unclassified_by_a_recent_injection_still_warn_not_to_delay() -> None:
    injected = date(2025, 2, 1)
    result = run(
        make_case(
            total(400, date=injected + timedelta(days=3)),
            symptoms=PARAESTHESIA,
            treatment=TreatmentHistory(last_injection=injected),
        )
    )
    assert result.status is Status.NOT_ASSESSABLE
    discord = [a for a in result.alerts if a.rule == "DX-DISCORD"]
    assert len(discord) == 1
    assert "not assessable" in discord[0].message


# --- what to test next (REFERENCE §1.3; DX-MMA, DX-PREG, DX-N2O, DX-TEST) ----------------------------------

NEXT_TESTS = [
    pytest.param(make_case(active(40), symptoms=FATIGUE), [Analyte.MMA], id="indeterminate-active-b12-with-symptoms"),
    pytest.param(make_case(active(40)), [], id="indeterminate-active-b12-without-symptoms"),
    pytest.param(
        make_case(total(230), lab(Analyte.MMA, 300, "nmol/L"), symptoms=FATIGUE),
        [],
        id="indeterminate-with-symptoms-and-an-mma-already",
    ),
    pytest.param(make_case(total(179), symptoms=FATIGUE), [], id="confirmed-with-symptoms"),
    pytest.param(make_case(total(351), symptoms=FATIGUE), [], id="unlikely-with-symptoms"),
    pytest.param(make_case(total(350), symptoms=FATIGUE), [Analyte.MMA], id="350-is-indeterminate-so-mma"),
    pytest.param(
        make_case(active(22), patient=Patient(sex=F, age=31, pregnant=True), symptoms=FATIGUE),
        [],
        id="pregnant-with-an-active-b12-needs-no-active-b12",
    ),
    pytest.param(
        make_case(patient=Patient(sex=F, age=31, pregnant=True), causes=frozenset({Cause.NITROUS_OXIDE})),
        [Analyte.B12_ACTIVE, Analyte.HOMOCYSTEINE],
        id="pregnant-and-nitrous-oxide-active-b12-and-homocysteine",
    ),
    pytest.param(
        make_case(total(150), causes=frozenset({Cause.NITROUS_OXIDE})),
        [Analyte.HOMOCYSTEINE],
        id="nitrous-oxide-with-a-confirmed-total-b12-still-homocysteine",
    ),
]


@pytest.mark.parametrize(("case", "expected"), NEXT_TESTS)
def test_the_next_tests_are_those_reference_section_1_3_gives_for_the_situation(
    case: Case, expected: list[Analyte]
) -> None:
    assert [t.test for t in run(case).next_tests] == expected


# Each suggested test cites its §11 rule and at least the sources §11 gives for it.
NEXT_TEST_CITATIONS = [
    pytest.param(make_case(total(230), symptoms=FATIGUE), "DX-MMA", {"S4"}, id="DX-MMA"),
    pytest.param(make_case(patient=Patient(sex=F, age=31, pregnant=True)), "DX-PREG", {"S5", "S6"}, id="DX-PREG"),
    pytest.param(
        make_case(causes=frozenset({Cause.NITROUS_OXIDE})),
        "DX-N2O",
        {"S5", "S7", "S8"},
        id="DX-N2O",
    ),
    pytest.param(make_case(symptoms=FATIGUE, causes=frozenset({Cause.PPI})), "DX-TEST", {"S4"}, id="DX-TEST"),
]


@pytest.mark.parametrize(("case", "rule", "sources"), NEXT_TEST_CITATIONS)
def test_a_suggested_test_cites_its_section_11_rule_and_sources(case: Case, rule: str, sources: set[str]) -> None:
    suggested = [t for t in run(case).next_tests if t.rule == rule]
    assert len(suggested) == 1
    assert sources <= set(suggested[0].sources)


def test_the_mma_suggestion_says_draft_nice_allows_treatment_with_or_without_mma() -> None:
    reason = run(make_case(total(230), symptoms=FATIGUE)).next_tests[0].reason
    assert "Draft NICE wording" in reason
    assert "with or without an MMA test" in reason


# --- MMA: the lab's upper limit first (DX-MMA: "cut-off = lab ULN (NICE value not found)") -----------------

MMA_LIMITS = [
    (378, 378, False),  # Allina 0–378 nmol/L [S65]: the upper limit itself is normal
    (378.1, 378, True),
    (450, 500, False),  # above Stabler's 400 but within this lab's range: the lab's limit wins
    (350, 300, True),  # below Stabler's 400 but above this lab's limit: the lab's limit wins
    (399.9, None, False),  # no limit given: Stabler's normal <400 nmol/L [S51]
]


@pytest.mark.parametrize(("value", "upper_limit", "raised"), MMA_LIMITS)
def test_mma_is_judged_against_the_labs_upper_limit_before_any_published_normal(
    value: float, upper_limit: float | None, raised: bool
) -> None:
    result = run(make_case(lab(Analyte.MMA, value, "nmol/L", upper_limit=upper_limit)))
    assert ("raised_mma" in codes(result)) is raised


def test_a_raised_mma_says_that_nices_own_cut_off_was_not_found() -> None:
    finding = run(make_case(lab(Analyte.MMA, 620, "nmol/L", upper_limit=400))).finding("raised_mma")
    assert finding is not None
    assert "NICE's own MMA cut-off was not found" in finding.message
    assert "the lab's upper limit 400 nmol/L" in finding.message
    assert finding.rule == "DX-MMA"


@pytest.mark.parametrize(
    ("b12", "alert"),
    [(total(230), True), (total(150), False), (total(400), False), (active(40), True)],
    ids=["indeterminate-total", "confirmed", "unlikely", "indeterminate-active"],
)
def test_a_raised_mma_supports_deficiency_only_when_the_b12_result_is_indeterminate(
    b12: LabResult, alert: bool
) -> None:
    result = run(make_case(b12, lab(Analyte.MMA, 620, "nmol/L", upper_limit=400)))
    alerts = [a for a in result.alerts if a.rule == "DX-MMA"]
    assert bool(alerts) is alert
    assert all(a.severity is Severity.INFO for a in alerts)


@pytest.mark.parametrize(("value", "upper_limit", "raised"), [(20, 25, False), (12, 10, True), (10.1, 10, True)])
def test_homocysteine_is_judged_against_the_labs_upper_limit_before_stablers_14(
    value: float, upper_limit: float, raised: bool
) -> None:
    result = run(make_case(lab(Analyte.HOMOCYSTEINE, value, "µmol/L", upper_limit=upper_limit)))
    assert ("raised_homocysteine" in codes(result)) is raised


# --- haemoglobin, MCV and folate in the units labs report (REFERENCE §7.5, §7.6) ----------------------------

HAEMOGLOBIN = [
    (Patient(sex=M, age=50), 13.0, False),
    (Patient(sex=M, age=50), 12.9, True),
    (Patient(sex=F, age=50), 12.0, False),
    (Patient(sex=F, age=50), 11.9, True),
    (Patient(sex=F, age=30, pregnant=True), 11.0, False),
    (Patient(sex=F, age=30, pregnant=True), 10.9, True),
    (Patient(sex=F, age=30, breastfeeding=True), 11.5, True),  # not pregnant: the women's 120 g/L
]


@pytest.mark.parametrize(
    ("patient", "g_per_dl", "anaemia"),
    HAEMOGLOBIN,
    ids=[
        f"{p.sex}{' pregnant' if p.pregnant else ''}{' breastfeeding' if p.breastfeeding else ''} {v} g/dL"
        for p, v, _ in HAEMOGLOBIN
    ],
)
def test_haemoglobin_in_g_per_dl_meets_the_anaemia_threshold_for_sex_and_pregnancy(
    patient: Patient, g_per_dl: float, anaemia: bool
) -> None:
    result = run(make_case(lab(Analyte.HEMOGLOBIN, g_per_dl, "g/dL"), patient=patient))
    assert ("anaemia" in codes(result)) is anaemia


@pytest.mark.parametrize(
    ("mcv", "unit", "cutoff", "macrocytosis"),
    [(96, "fL", 96, False), (96.1, "fL", 96, True), (98, "fL", 98, False), (100.1, "µm3", None, True)],
)
def test_macrocytosis_is_strictly_above_the_cut_off_whichever_is_chosen(
    mcv: float, unit: str, cutoff: float | None, macrocytosis: bool
) -> None:
    result = run(make_case(lab(Analyte.MCV, mcv, unit), mcv_cutoff_fl=cutoff))
    assert ("macrocytosis" in codes(result)) is macrocytosis


@pytest.mark.parametrize(
    ("ug_per_l", "code"),
    [(2.9, "folate_deficiency"), (3.1, "folate_indeterminate"), (4.4, "folate_indeterminate"), (4.5, None)],
)
def test_serum_folate_in_ug_per_l_is_read_on_the_nmol_per_l_cut_offs(ug_per_l: float, code: str | None) -> None:
    result = run(make_case(lab(Analyte.FOLATE, ug_per_l, "µg/L")))
    assert codes(result) & {"folate_deficiency", "folate_indeterminate"} == ({code} if code else set())


# --- alerts about lab interpretation --------------------------------------------------------------------------


def test_black_ethnicity_without_a_b12_result_gives_no_ethnicity_note() -> None:
    result = run(make_case(lab(Analyte.HEMOGLOBIN, 140, "g/L"), patient=Patient(sex=F, ethnicity=Ethnicity.BLACK)))
    assert "DX-ETH" not in {a.rule for a in result.alerts}


ALERT_CITATIONS = [
    pytest.param(
        make_case(total(400), patient=Patient(sex=F, ethnicity=Ethnicity.BLACK)),
        "nice-ng239",
        "DX-ETH",
        {"S7"},
        id="DX-ETH",
    ),
    pytest.param(make_case(total(400), symptoms=PARAESTHESIA), "nice-ng239", "DX-DISCORD", {"S17"}, id="DX-DISCORD"),
    pytest.param(make_case(total(170)), "ruh-bath", "DX-LAB", {"S12"}, id="DX-LAB"),
]


@pytest.mark.parametrize(("case", "thresholds", "rule", "sources"), ALERT_CITATIONS)
def test_an_alert_cites_the_sources_reference_section_11_gives_for_its_rule(
    case: Case, thresholds: str, rule: str, sources: set[str]
) -> None:
    alerts = [a for a in run(case, thresholds).alerts if a.rule == rule]
    assert alerts
    assert all(sources <= set(a.sources) for a in alerts)


def test_a_local_lab_without_a_retest_interval_gives_no_retest_alert() -> None:
    messages = [a.message for a in run(make_case(total(170)), "north-bristol").alerts if a.rule == "DX-LAB"]
    assert messages
    assert not any("Do not repeat" in m for m in messages)


def test_a_raised_band_of_north_bristol_is_reported_without_further_interpretation() -> None:
    result = run(make_case(total(1000)), "north-bristol")
    raised = result.finding("raised_b12")
    assert raised is not None
    assert "gives no advice on a raised B12" in raised.message
    assert result.status is UNLIKELY


# --- LOINC codes: REFERENCE §7.7, and "not found" stays not found ---------------------------------------------

LOINC_CODES = [
    (Analyte.B12_TOTAL, ("2132-9", "14685-2")),
    (Analyte.B12_ACTIVE, (None, None)),  # holotranscobalamin: "not found" (§7.7, §10.7)
    (Analyte.MMA, (None, "13964-2")),
    (Analyte.HOMOCYSTEINE, ("2428-1", "13965-9")),
    (Analyte.HEMOGLOBIN, ("718-7", None)),
    (Analyte.MCV, ("787-2", None)),
    (Analyte.FOLATE, ("2284-8", "14732-2")),
]


@pytest.mark.parametrize(("analyte", "codes_"), LOINC_CODES, ids=[a.value for a, _ in LOINC_CODES])
def test_each_analyte_carries_the_loinc_codes_of_reference_section_7_7_and_no_guessed_one(
    analyte: Analyte, codes_: tuple[str | None, str | None]
) -> None:
    assert LOINC[analyte] == codes_
