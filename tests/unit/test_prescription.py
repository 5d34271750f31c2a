"""Prescriptions as written on the label: phrasings read, refusals asked as questions, guideline differences."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from b12.domain.alerts import Severity
from b12.domain.case import Condition, Route
from b12.domain.errors import CaseError
from b12.domain.guidelines import load_guideline, sources
from b12.domain.prescription import (
    RX_RULES,
    Prescription,
    UnclearPrescriptionError,
    check_against_guideline,
    matching_regimen,
    parse_prescription,
    read_dose,
)
from b12.domain.regimen import Ending, IntervalUnit, PhaseKind, Product, Span
from b12.domain.units import parse_strength, parse_syringe

UK = load_guideline("uk")


@dataclass(frozen=True)
class Expect:
    """One phase as read: dose in mg, route, (every, unit) or times a week, ending, doses or days."""

    mg: float
    route: Route
    every: tuple[int, IntervalUnit] | int
    ending: Ending
    doses: int | None = None
    days: int | None = None


W, M, D = IntervalUnit.WEEK, IntervalUnit.MONTH, IntervalUnit.DAY
IM, ORAL, NASAL = Route.IM, Route.ORAL, Route.NASAL
COUNT, DURATION, CLINICAL, CONTINUING = Ending.COUNT, Ending.DURATION, Ending.CLINICAL, Ending.CONTINUING

READ = [
    pytest.param(
        "Cyanocobalamin 1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then monthly",
        [Expect(1, IM, (1, W), COUNT, doses=4), Expect(1, IM, (1, M), CONTINUING)],
        id="issue-example",
    ),
    pytest.param(
        "Hydroxocobalamin 1mg/1ml: inject 1 ml intramuscularly three times a week for 2 weeks, then every 3 months "
        "for life",
        [Expect(1, IM, 3, COUNT, doses=6), Expect(1, IM, (3, M), CONTINUING)],
        id="bnf-no-neuro",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM on alternate days until no further improvement, then 1 mg every 2 months",
        [Expect(1, IM, (2, D), CLINICAL), Expect(1, IM, (2, M), CONTINUING)],
        id="bnf-neuro",
    ),
    pytest.param(
        "Hydroxocobalamin 1 mg in 1 ml. 1 mg IM every other day for 2 weeks followed by 1 mg every three months",
        [Expect(1, IM, (2, D), COUNT, doses=7), Expect(1, IM, (3, M), CONTINUING)],
        id="in-1-ml-every-other-day-followed-by",
    ),
    pytest.param(
        "Hydroxocobalamin 1 mg IM 3x/week for 2 weeks (6 doses) then 1 mg every 2-3 months",
        [Expect(1, IM, 3, COUNT, doses=6), Expect(1, IM, (3, M), CONTINUING)],
        id="3x-week-with-count-and-range",
    ),
    pytest.param(
        "hydroxocobalamin 1000 micrograms intramuscular daily for 2 weeks, then twice weekly as long as improvement "
        "is maintained, then every 3 months",
        [Expect(1, IM, (1, D), COUNT, doses=14), Expect(1, IM, 2, CLINICAL), Expect(1, IM, (3, M), CONTINUING)],
        id="leber-smpc",
    ),
    pytest.param(
        "Cyanocobalamin 100 mcg IM daily for 7 days, then every other day for 7 doses, then every 3-4 days for 2-3 "
        "weeks, then 100 mcg monthly for life",
        [
            Expect(0.1, IM, (1, D), COUNT, doses=7),
            Expect(0.1, IM, (2, D), COUNT, doses=7),
            Expect(0.1, IM, (4, D), DURATION, days=21),
            Expect(0.1, IM, (1, M), CONTINUING),
        ],
        id="fda-cyanocobalamin",
    ),
    pytest.param(
        "cyanocobalamin 1000 mcg IM weekly for 4-8 weeks then once a month",
        [Expect(1, IM, (1, W), COUNT, doses=8), Expect(1, IM, (1, M), CONTINUING)],
        id="weekly-range-of-weeks",
    ),
    pytest.param(
        "cyanocobalamin 1000 mcg/mL: 100 units IM on a U-100 syringe every 2-3 months",
        [Expect(1, IM, (3, M), CONTINUING)],
        id="syringe-units-u100",
    ),
    pytest.param(
        "cyanocobalamin 1000 mcg/mL 40 units on a U40 insulin syringe IM monthly",
        [Expect(1, IM, (1, M), CONTINUING)],
        id="syringe-units-u40",
    ),
    pytest.param(
        "hydroxocobalamin 5 mg/2 mL: 0.4 mL IM every 12 weeks", [Expect(1, IM, (12, W), CONTINUING)], id="5mg-in-2ml"
    ),
    pytest.param(
        "0.5ml of 1mg/ml hydroxocobalamin intramuscular every 2 weeks",
        [Expect(0.5, IM, (2, W), CONTINUING)],
        id="half-ml",
    ),
    pytest.param(
        "Hydroxocobalamin 1 mg subcutaneously once every 3 months", [Expect(1, IM, (3, M), CONTINUING)], id="sc"
    ),
    pytest.param(
        "cyanocobalamin 1 mg tablet once daily", [Expect(1, ORAL, (1, D), CONTINUING)], id="tablet-implies-oral"
    ),
    pytest.param("take 2 x 1 mg tablets daily cyanocobalamin", [Expect(2, ORAL, (1, D), CONTINUING)], id="two-tablets"),
    pytest.param(
        "cyanocobalamin 50 micrograms by mouth every day for life", [Expect(0.05, ORAL, (1, D), CONTINUING)], id="oral"
    ),
    pytest.param(
        "cyanocobalamin 1 mg orally, daily, long-term", [Expect(1, ORAL, (1, D), CONTINUING)], id="orally-long-term"
    ),
    pytest.param(
        "Nascobal 500 mcg per spray: 1 spray in one nostril once a week",
        [Expect(0.5, NASAL, (1, W), CONTINUING)],
        id="nasal",
    ),
    pytest.param(
        "cyanocobalamin 500 mcg intranasal weekly", [Expect(0.5, NASAL, (1, W), CONTINUING)], id="intranasal-mass"
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM every two weeks for 6 injections then 3-monthly",
        [Expect(1, IM, (2, W), COUNT, doses=6), Expect(1, IM, (3, M), CONTINUING)],
        id="n-injections-and-3-monthly",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM twice a week for 3 weeks; then every 8 weeks",
        [Expect(1, IM, 2, COUNT, doses=6), Expect(1, IM, (8, W), CONTINUING)],
        id="semicolon",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM every 48 hours until the blood count is normal then monthly",
        [Expect(1, IM, (2, D), CLINICAL), Expect(1, IM, (1, M), CONTINUING)],
        id="48-hours-until-blood-count",
    ),
    pytest.param("hydroxocobalamin 1 mg IM fortnightly", [Expect(1, IM, (2, W), CONTINUING)], id="fortnightly"),
    pytest.param("hydroxocobalamin 1 mg IM quarterly", [Expect(1, IM, (3, M), CONTINUING)], id="quarterly"),
    pytest.param(
        "hydroxocobalamin 1 mg intramuscularly twice a year", [Expect(1, IM, (6, M), CONTINUING)], id="twice-a-year"
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM each week for 4 weeks, then monthly for 12 months",
        [Expect(1, IM, (1, W), COUNT, doses=4), Expect(1, IM, (1, M), COUNT, doses=12)],
        id="monthly-for-months",
    ),
    pytest.param(
        "Hydroxocobalamin 1 mg IM every 3 days for 2 weeks then every 3 months",
        [Expect(1, IM, (3, D), DURATION, days=14), Expect(1, IM, (3, M), CONTINUING)],
        id="duration-not-a-whole-number-of-doses",
    ),
    pytest.param(
        "HYDROXOCOBALAMIN 1 MG IM MONTHLY FOR 6 MONTHS", [Expect(1, IM, (1, M), COUNT, doses=6)], id="upper-case"
    ),
    pytest.param("hydroxocobalamin 1 mg IM every other month", [Expect(1, IM, (2, M), CONTINUING)], id="other-month"),
    pytest.param("cyanocobalamin 1 mg IM alternate weeks", [Expect(1, IM, (2, W), CONTINUING)], id="alternate-weeks"),
    pytest.param("hydroxocobalamin 1 mg IM yearly", [Expect(1, IM, (12, M), CONTINUING)], id="yearly"),
    pytest.param(
        "then hydroxocobalamin 1 mg IM every 3 months", [Expect(1, IM, (3, M), CONTINUING)], id="leading-then"
    ),
    pytest.param(
        "hydroxocobalamin 1 mg i.m. 4 times weekly for 1 week then every 2 months",
        [Expect(1, IM, 4, COUNT, doses=4), Expect(1, IM, (2, M), CONTINUING)],
        id="i.m.-4-times-weekly",
    ),
]


@pytest.mark.parametrize(("text", "expected"), READ)
def test_common_phrasings_are_read_into_phases(text: str, expected: list[Expect]) -> None:
    rx = parse_prescription(text)
    assert rx.questions == ()
    assert rx.complete
    assert len(rx.phases) == len(expected)
    for phase, want in zip(rx.phases, expected, strict=True):
        assert phase.dose_mg == pytest.approx(want.mg)
        assert phase.route is want.route
        if isinstance(want.every, int):
            assert phase.frequency.times_per_week == want.every
        else:
            assert (phase.frequency.every, phase.frequency.unit) == want.every
            assert phase.frequency.times_per_week is None
        assert phase.ending is want.ending
        assert phase.doses == want.doses
        assert phase.duration_days == want.days
        assert phase.rule == "RX-PATIENT"
        assert phase.sources == ()
    assert rx.phases[-1].kind is (PhaseKind.MAINTENANCE if expected[-1].ending is CONTINUING else PhaseKind.LOADING)


def test_the_issue_example_is_shown_back_in_plain_words() -> None:
    rx = parse_prescription(
        "1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then monthly", product="cyanocobalamin"
    )
    assert rx.describe() == (
        "1 mg (1 mL of 1000 mcg/mL) by injection into a muscle once a week for 4 weeks (4 injections), "
        "then once a month"
    )
    assert [p.name for p in rx.phases] == ["loading", "maintenance"]
    assert rx.product is Product.CYANOCOBALAMIN
    assert rx.strength == parse_strength("1000 mcg/mL")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(
            "cyanocobalamin 1000 mcg/mL: 10 units IM on a U-100 syringe daily for 7 days then 100 mcg monthly for life",
            "100 micrograms (0.1 mL of 1000 mcg/mL = 10 units on a U-100 syringe) by injection into a muscle once a "
            "day for 7 days (7 injections), then once a month for life",
            id="units-and-micrograms",
        ),
        pytest.param(
            "hydroxocobalamin 1 mg IM alternate days until no further improvement then every 2 months",
            "1 mg by injection into a muscle every other day until no further improvement (your clinician decides "
            "when), then every 2 months",
            id="open-ended",
        ),
        pytest.param(
            "hydroxocobalamin 1 mg sc every 2-3 months",
            "1 mg by injection under the skin every 2–3 months (reminders every 3 months, the longer interval; ask "
            "your clinician which they meant)",
            id="range-and-sc",
        ),
        pytest.param(
            "hydroxocobalamin 1 mg IM daily for 2 weeks then twice weekly while improving then 3-monthly",
            "1 mg by injection into a muscle once a day for 2 weeks (14 injections), then twice a week as long as "
            "improvement continues (your clinician decides when), then every 3 months",
            id="as-long-as",
        ),
        pytest.param(
            "hydroxocobalamin 1 mg IM weekly for 4-8 weeks then 0.5 mg monthly",
            "1 mg by injection into a muscle once a week for 4–8 weeks (4–8 injections; reminders for 8), then 500 "
            "micrograms once a month",
            id="dose-changes",
        ),
    ],
)
def test_the_read_back_names_dose_volume_route_frequency_and_ending(text: str, words: str) -> None:
    assert parse_prescription(text).describe() == words


# --- what b12 refuses to guess --------------------------------------------------------------------------

ASK = [
    pytest.param(
        "1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then",
        {"product": "cyanocobalamin"},
        "phases[1].frequency",
        "How often after the first 4 weeks?",
        id="then-nothing",
    ),
    pytest.param(
        "inject 1 mL IM weekly",
        {"product": "hydroxocobalamin"},
        "strength",
        "what strength is on the label",
        id="ml-no-strength",
    ),
    pytest.param(
        "cyanocobalamin 1000 mcg/mL: 100 units IM every month",
        {},
        "syringe",
        "syringe units are marks of volume",
        id="units-no-syringe",
    ),
    pytest.param(
        "cyanocobalamin 100 units IM on a U-100 syringe monthly",
        {},
        "strength",
        "the strength on the label",
        id="units-no-strength",
    ),
    pytest.param("cyanocobalamin 1000 IU IM monthly", {}, "phases[0].dose", "not international units", id="iu"),
    pytest.param(
        "hydroxocobalamin 1 mg IM twice daily", {}, "phases[0].frequency", "at most one dose a day", id="twice-daily"
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM twice a month", {}, "phases[0].frequency", "does not fit", id="twice-a-month"
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM weekly then monthly",
        {},
        "phases[0].ending",
        "How long does the once a week part last",
        id="no-end-before-then",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM 3 times weekly for 2 weeks (5 doses) then every 3 months",
        {},
        "phases[0].ending",
        "is 6 doses: which is right?",
        id="count-contradicts-duration",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg im every 3 months except in summer", {}, "text", "'except summer'", id="leftover-words"
    ),
    pytest.param(
        "hydroxocobalamin 1 mg im monthly until I feel better",
        {},
        "phases[0].ending",
        "until i feel better",
        id="until-unknown",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg injection every 3 months",
        {},
        "route",
        "into a muscle (IM) or under the skin",
        id="inject-no-route",
    ),
    pytest.param("hydroxocobalamin 1 mg every 3 months", {}, "route", "How is it taken", id="no-route"),
    pytest.param("1 mg IM every 3 months", {}, "product", "hydroxocobalamin or cyanocobalamin", id="no-product"),
    pytest.param("methylcobalamin 1 mg im weekly", {}, "product", "methylcobalamin", id="methylcobalamin"),
    pytest.param("hydroxocobalamin IM every 3 months", {}, "dose", "How much is each dose", id="no-dose"),
    pytest.param("hydroxocobalamin 1 mg IM", {}, "frequency", "How often is each dose", id="no-frequency"),
    pytest.param("cyanocobalamin 1,000 mcg IM monthly", {}, "text", "without commas", id="comma-number"),
    pytest.param("cyanocobalamin 1 mg IV monthly", {}, "phases[0].route", "intravenous", id="iv"),
    pytest.param("cyanocobalamin 1 mg IM or SC monthly", {}, "phases[0].route", "more than one route", id="two-routes"),
    pytest.param(
        "cyanocobalamin take 2 tablets daily",
        {},
        "phases[0].dose",
        "How much B12 is in one tablet",
        id="tablets-no-amount",
    ),
    pytest.param("cyanocobalamin 1 mg tablets daily", {}, "phases[0].dose", "How many tablets", id="tablets-no-count"),
    pytest.param(
        "hydroxocobalamin 1 mg IM weekly for a month then monthly",
        {},
        "phases[0].ending",
        "How many weeks, or how many doses, is 1 month of once a week?",
        id="weekly-for-a-month",
    ),
    pytest.param("hydroxocobalamin and cyanocobalamin 1 mg IM monthly", {}, "product", "both", id="two-products"),
    pytest.param(
        "1000 mcg/mL and 1 mg/2 mL 1 mg IM monthly",
        {"product": "hydroxocobalamin"},
        "strength",
        "two strengths",
        id="two-strengths",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM daily or every other day for 1 week then monthly",
        {},
        "phases[0]",
        "'daily or'",
        id="either-or-frequency",
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM every 36 hours", {}, "phases[0].frequency", "not a whole number of days", id="hours"
    ),
    pytest.param(
        "hydroxocobalamin 1 mg IM 8 times a week", {}, "phases[0].frequency", "more than once a day", id="8-a-week"
    ),
    pytest.param("hydroxocobalamin 1 mg IM every 0 days", {}, "phases[0].frequency", "not a range", id="every-0-days"),
    pytest.param(
        "hydroxocobalamin 1 mg IM alternate days for 2 weeks until no further improvement",
        {},
        "phases[0].ending",
        "both a length and",
        id="length-and-until",
    ),
    pytest.param(
        "cyanocobalamin 1 mg injection by mouth daily", {}, "phases[0].route", "both an injection", id="inject-by-mouth"
    ),
]


@pytest.mark.parametrize(("text", "fields", "field", "words"), ASK)
def test_what_is_not_understood_is_asked_and_never_guessed(
    text: str, fields: dict[str, object], field: str, words: str
) -> None:
    rx = parse_prescription(text, **fields)  # type: ignore[arg-type]
    assert not rx.complete
    assert rx.phases == ()
    matching = [q for q in rx.questions if q.field == field]
    assert matching, rx.questions
    assert any(words in q.text for q in matching), matching


def test_an_empty_prescription_asks_for_everything() -> None:
    rx = parse_prescription("")
    assert {q.field for q in rx.questions} >= {"product", "dose", "route", "frequency"}
    assert rx.describe().startswith("Not understood yet")


# --- structured fields --------------------------------------------------------------------------------------


def test_structured_fields_alone_make_a_prescription() -> None:
    rx = parse_prescription(
        product="hydroxocobalamin", strength="1 mg/mL", dose="1 mL", route="im", frequency="every 3 months"
    )
    assert rx.complete
    assert rx.describe() == "1 mg (1 mL of 1 mg/mL) by injection into a muscle every 3 months"
    assert rx.text is None


def test_structured_fields_fill_what_the_line_leaves_out() -> None:
    rx = parse_prescription(
        "inject 1 mL once a week for 4 weeks then monthly",
        product="cyanocobalamin",
        strength="1000 mcg/mL",
        route=Route.IM,
        syringe="U-100",
    )
    assert rx.complete
    assert rx.syringe == parse_syringe("U-100")
    assert "= 100 units on a U-100 syringe" in rx.describe()


@pytest.mark.parametrize(
    ("text", "fields", "field"),
    [
        pytest.param("cyanocobalamin 1 mg IM monthly", {"product": "hydroxocobalamin"}, "product", id="product"),
        pytest.param(
            "1000 mcg/mL 1 mL IM monthly",
            {"product": "hydroxocobalamin", "strength": "5 mg/2 mL"},
            "strength",
            id="strength",
        ),
        pytest.param("hydroxocobalamin 1 mg by mouth monthly", {"route": "im"}, "route", id="route"),
        pytest.param("hydroxocobalamin 1 mg IM monthly", {"dose": "0.5 mg"}, "dose", id="dose"),
        pytest.param(
            "cyanocobalamin 1000 mcg/mL 100 units IM U-100 monthly", {"syringe": "U-40"}, "syringe", id="syringe"
        ),
    ],
)
def test_a_field_that_contradicts_the_line_is_a_question(text: str, fields: dict[str, str], field: str) -> None:
    rx = parse_prescription(text, **fields)  # type: ignore[arg-type]
    assert not rx.complete
    assert field in {q.field for q in rx.questions}


def test_equal_strengths_written_two_ways_agree() -> None:
    rx = parse_prescription("1000 mcg/mL 1 mL IM monthly", product="hydroxocobalamin", strength="1 mg/1 mL")
    assert rx.complete


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"product": "methylcobalamin"}, "product", id="product"),
        pytest.param({"strength": "1000 IU/mL"}, "strength", id="strength-iu"),
        pytest.param({"route": "intravenous"}, "route", id="route"),
        pytest.param({"syringe": "U-50"}, "syringe", id="syringe"),
        pytest.param({"frequency": "now and again"}, "frequency", id="frequency"),
        pytest.param({"dose": "one ampoule"}, "dose", id="dose"),
    ],
)
def test_a_field_b12_cannot_read_is_a_question_on_that_field(fields: dict[str, str], field: str) -> None:
    base = {"product": "hydroxocobalamin", "strength": "1 mg/mL", "dose": "1 mL", "route": "im", "frequency": "monthly"}
    rx = parse_prescription(**{**base, **fields})  # type: ignore[arg-type]
    assert field in {q.field for q in rx.questions}


# --- reading a dose ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mg"),
    [
        ("1 mg", 1.0),
        ("1000 mcg", 1.0),
        ("500 µg", 0.5),
        ("1 mL", 1.0),
        ("0.5 ml", 0.5),
        ("100 units", 1.0),
        ("10 units", 0.1),
    ],
)
def test_a_typed_dose_is_read_in_mg(text: str, mg: float) -> None:
    assert read_dose(text, parse_strength("1000 mcg/mL"), parse_syringe("U-100")) == pytest.approx(mg)


@pytest.mark.parametrize("text", ["1 mL", "100 units", "1000 IU", "a dose", "1 tablet"])
def test_a_typed_dose_that_needs_what_is_missing_is_refused(text: str) -> None:
    with pytest.raises(CaseError) as caught:
        read_dose(text, None, None)
    assert caught.value.field == "dose"


# --- checking against the guideline -----------------------------------------------------------------------


def checked(text: str, guideline: str = "uk", **kwargs: object) -> tuple[Prescription, list[tuple[str, Severity, str]]]:
    rx = parse_prescription(text)
    assert rx.complete, rx.questions
    alerts = check_against_guideline(
        rx.phases,
        load_guideline(guideline),
        strength=rx.strength,
        syringe=rx.syringe,
        subcutaneous=rx.subcutaneous,
        **kwargs,  # type: ignore[arg-type]
    )
    for alert in alerts:
        assert set(alert.sources) <= set(sources())
    return rx, [(a.rule, a.severity, a.message) for a in alerts]


def test_a_prescription_following_the_bnf_has_no_differences() -> None:
    _, alerts = checked("hydroxocobalamin 1 mg/mL: 1 mL IM three times a week for 2 weeks then every 3 months for life")
    assert alerts == []


def test_maintenance_every_4_months_is_outside_the_bnf_range_of_2_to_3_months() -> None:
    _, alerts = checked("hydroxocobalamin 1 mg IM every 4 months")
    [(rule, severity, message)] = alerts
    assert rule == "UK-IM-NN"
    assert severity is Severity.WARNING
    assert "every 4 months" in message
    assert "every 2–3 months (UK-IM-NN, UK-PROPH)" in message


def test_four_weekly_counts_as_monthly_within_ten_percent() -> None:
    _, alerts = checked("cyanocobalamin 1000 mcg IM every 4 weeks", "us-practice", regimen_id="US-STABLER")
    assert not [a for a in alerts if "interval" in a[2]]


def test_a_dose_outside_the_label_range_is_a_warning() -> None:
    _, alerts = checked("hydroxocobalamin 5 mg/2 mL: 5 mg IM every 3 months")
    dose = next(a for a in alerts if "dose" in a[2])
    assert dose[1] is Severity.WARNING
    assert "5 mg" in dose[2]
    assert "1 mg" in dose[2]
    assert ("RX-STRENGTH", Severity.INFO) in [(a[0], a[1]) for a in alerts]


def test_a_different_loading_pattern_is_a_note_not_a_warning() -> None:
    _, alerts = checked("hydroxocobalamin 1000 mcg/mL 1 mL IM once a week for 4 weeks then every 3 months")
    [(rule, severity, message)] = alerts
    assert (rule, severity) == ("UK-IM-NN", Severity.INFO)
    assert "3 times a week (UK-IM-NN)" in message


def test_cyanocobalamin_with_leber_s_is_blocked() -> None:
    _, alerts = checked("cyanocobalamin 1 mg IM daily for 2 weeks then monthly", conditions={Condition.LEBER})
    assert alerts[0][:2] == ("SAFE-LEBER", Severity.CRITICAL)


def test_with_leber_s_hydroxocobalamin_is_compared_with_the_leber_regimen() -> None:
    _, alerts = checked(
        "hydroxocobalamin 1 mg IM daily for 2 weeks then twice weekly while improving then every 3 months",
        conditions={Condition.TOBACCO_AMBLYOPIA},
    )
    assert alerts == []


def test_cobalt_allergy_is_flagged() -> None:
    _, alerts = checked("hydroxocobalamin 1 mg IM every 3 months", conditions={Condition.COBALT_ALLERGY})
    assert alerts[0][:2] == ("SAFE-COBALT", Severity.CRITICAL)


def test_hydroxocobalamin_under_the_skin_is_flagged() -> None:
    _, alerts = checked("hydroxocobalamin 1 mg SC every 3 months")
    assert ("SAFE-IV", Severity.WARNING) in [a[:2] for a in alerts]


def test_a_product_and_route_the_guideline_has_no_regimen_for_cannot_be_checked() -> None:
    _, alerts = checked("hydroxocobalamin 1 mg by mouth daily")
    assert alerts[0][:2] == ("RX-NO-REGIMEN", Severity.WARNING)


def test_a_maintenance_only_prescription_notes_the_label_s_loading() -> None:
    _, alerts = checked("cyanocobalamin 100 mcg IM monthly", "us-label")
    assert [a[:2] for a in alerts] == [("US-FDA-CN", Severity.INFO)]
    assert "loading is already done" in alerts[0][2]


def test_a_hard_to_measure_volume_warns() -> None:
    _, alerts = checked("hydroxocobalamin 1000 mcg/mL 3 units IM on a U-100 syringe monthly", "us-label")
    assert any(rule == "DOSE-VOLUME" and "hard to measure" in message for rule, _, message in alerts)


def test_a_prescription_matching_a_regimen_is_named_by_it() -> None:
    rx = parse_prescription("hydroxocobalamin 1 mg IM 3 times a week for 2 weeks then every 2-3 months for life")
    assert matching_regimen(rx.phases, UK) == "UK-IM-NN"
    rx = parse_prescription("hydroxocobalamin 1 mg IM alternate days until no further improvement then every 2 months")
    assert matching_regimen(rx.phases, UK) == "UK-IM-NEURO"
    rx = parse_prescription("hydroxocobalamin 1 mg IM every 4 months")
    assert matching_regimen(rx.phases, UK) is None


def test_an_unclear_prescription_error_carries_every_question() -> None:
    rx = parse_prescription("1 mL weekly then")
    error = UnclearPrescriptionError(rx.questions)
    assert error.questions == rx.questions
    assert error.field == rx.questions[0].field


def test_the_prescription_rules_are_documented() -> None:
    assert set(RX_RULES) == {"RX-PATIENT", "RX-NO-REGIMEN", "RX-STRENGTH"}


def test_a_range_of_intervals_keeps_the_label_range_beside_the_longer_interval() -> None:
    rx = parse_prescription("hydroxocobalamin 1 mg IM every 2-3 months")
    assert rx.phases[0].frequency.every == 3
    assert rx.phases[0].frequency.every_range == Span(2, 3)


def test_the_fda_cyanocobalamin_label_as_written_matches_its_regimen() -> None:
    rx = parse_prescription(
        "Cyanocobalamin 1000 mcg/mL: 100 mcg IM daily for 7 days, then every other day for 7 doses, then every 3-4 "
        "days for 2-3 weeks, then 100 mcg monthly for life"
    )
    assert matching_regimen(rx.phases, load_guideline("us-label")) == "US-FDA-CN"
    assert matching_regimen(rx.phases[:1], load_guideline("us-label")) is None


def test_a_different_weekly_pattern_or_duration_does_not_match_a_regimen() -> None:
    twice = parse_prescription("hydroxocobalamin 1 mg IM twice a week for 3 weeks then every 2-3 months")
    assert matching_regimen(twice.phases, UK) is None
    stabler = load_guideline("us-practice")
    short = parse_prescription("cyanocobalamin 1000 mcg IM daily for 5 days then weekly for 8 weeks then monthly")
    assert matching_regimen(short.phases, stabler) is None
    week = parse_prescription("cyanocobalamin 1000 mcg IM daily for 7 days then weekly for 6 weeks then monthly")
    assert matching_regimen(week.phases, stabler) == "US-STABLER"  # 7 daily doses = daily for 1 week
