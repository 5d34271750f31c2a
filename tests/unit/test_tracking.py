"""Tracking: the status of a course recomputed from its facts (phases, next dose, adherence, sites, red flags)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from b12.domain.alerts import Severity, severity_order
from b12.domain.analytes import Analyte
from b12.domain.case import Route
from b12.domain.errors import CaseError
from b12.domain.guidelines import load_guideline, sources
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Span
from b12.domain.tracking import (
    DEFAULT_SITES,
    TRACKING_RULES,
    Amendment,
    AmendmentKind,
    Course,
    CourseState,
    CourseStatus,
    DoseGiven,
    DoseSkipped,
    History,
    LabEntry,
    Reaction,
    SymptomEntry,
    TrackedSymptom,
    course_status,
    normalise_lab,
    suggested_site,
    tolerance_days,
)

_ids = itertools.count(1)
START = date(2026, 1, 5)  # a Monday


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def make_course(
    regimen: str = "UK-IM-NN",
    guideline: str = "uk",
    *,
    start: date = START,
    strength: str = "1 mg/mL",
    syringe: str | None = "U-100",
    phases: tuple[Phase, ...] | None = None,
    **fields: object,
) -> Course:
    data = load_guideline(guideline)
    chosen = phases or data.regimens[regimen].phases
    return Course(
        id="course-1",
        patient_id="patient-1",
        guideline=guideline,
        guideline_version=data.version,
        regimen_id=regimen if phases is None else None,
        phases=chosen,
        product=chosen[0].product,
        strength=strength,
        syringe=syringe,
        start=start,
        created_by="clinician-1",
        created_at=at(start - timedelta(days=3)),
        **fields,  # type: ignore[arg-type]
    )


def dose(
    day: date, *, mg: float = 1.0, route: Route = Route.IM, site: str | None = None, **fields: object
) -> DoseGiven:
    return DoseGiven(
        id=f"dose-{next(_ids)}",
        course_id="course-1",
        at=at(day),
        dose_mg=mg,
        product=Product.HYDROXOCOBALAMIN,
        route=route,
        given_by="nurse",
        site=site,
        **fields,  # type: ignore[arg-type]
    )


def doses(days: Iterable[date], **fields: object) -> tuple[DoseGiven, ...]:
    return tuple(dose(day, **fields) for day in days)


def skip(due: date, recorded: date | None = None) -> DoseSkipped:
    return DoseSkipped(id=f"skip-{next(_ids)}", course_id="course-1", due=due, at=at(recorded or due))


def amend(kind: AmendmentKind, effective: date, recorded: date | None = None, **params: object) -> Amendment:
    return Amendment(
        id=f"amend-{next(_ids)}",
        course_id="course-1",
        at=at(recorded or effective),
        by="clinician-1",
        kind=kind,
        effective=effective,
        reason="clinical review",
        params=params,
    )


def lab(analyte: Analyte, value: float, unit: str, taken: date, **limits: float) -> LabEntry:
    normalised, normalised_unit = normalise_lab(analyte, value, unit)
    return LabEntry(
        id=f"lab-{next(_ids)}",
        patient_id="patient-1",
        taken=taken,
        analyte=analyte,
        value=value,
        unit=unit,
        normalised_value=normalised,
        normalised_unit=normalised_unit,
        **limits,
    )


def diary(day: date, **scores: int) -> SymptomEntry:
    return SymptomEntry(
        id=f"diary-{next(_ids)}",
        patient_id="patient-1",
        at=at(day, 20),
        scores={TrackedSymptom(name): score for name, score in scores.items()},
    )


def status(course: Course, today: date, **facts: Iterable[object]) -> CourseStatus:
    return course_status(History(course=course, **{k: tuple(v) for k, v in facts.items()}), today)  # type: ignore[arg-type]


def days_from(first: date, *offsets: int) -> list[date]:
    return [first + timedelta(days=o) for o in offsets]


def rules(result: CourseStatus) -> list[str]:
    return [a.rule for a in result.alerts]


# UK-IM-NN loading: 1 mg three times a week for 2 weeks, Mon/Wed/Fri from a Monday start.
LOADING_DAYS = days_from(START, 0, 2, 4, 7, 9, 11)


# --- next dose and phases ---------------------------------------------------------------------------------


def test_before_any_dose_the_next_dose_is_due_on_the_course_start() -> None:
    result = status(make_course(), START - timedelta(days=2))
    assert result.state is CourseState.NOT_STARTED
    assert result.next_dose is not None
    assert result.next_dose.due == START
    assert result.phase is not None
    assert result.phase.name == "loading"


def test_three_times_a_week_steps_through_the_weekly_pattern_gaps() -> None:
    # week_offsets(3) = 0, 2, 4: Mon -> Wed -> Fri -> next Mon.
    for given, expected in zip(range(1, 4), days_from(START, 2, 4, 7), strict=True):
        result = status(make_course(), LOADING_DAYS[given - 1], doses=doses(LOADING_DAYS[:given]))
        assert result.next_dose is not None
        assert result.next_dose.due == expected


def test_the_next_dose_is_counted_from_the_dose_actually_given() -> None:
    late = START + timedelta(days=3)  # Thursday instead of Wednesday
    result = status(make_course(), late, doses=doses([START, late]))
    assert result.next_dose is not None
    assert result.next_dose.due == late + timedelta(days=2)  # the pattern's second gap, from Thursday


def test_a_count_phase_ends_after_its_doses_and_maintenance_is_due_one_interval_after_the_last() -> None:
    result = status(make_course(), LOADING_DAYS[-1], doses=doses(LOADING_DAYS))
    assert result.phase is not None
    assert result.phase.kind is PhaseKind.MAINTENANCE
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 4, 16)  # 16 Jan + 3 months (BNF 2–3 months, b12 schedules 3)


def test_monthly_maintenance_counts_calendar_months_from_the_dose_given() -> None:
    phases = (load_guideline("uk").regimens["UK-CN-NN"].phases[-1],)
    course = make_course(phases=phases, start=date(2026, 1, 31))
    result = status(course, date(2026, 2, 1), doses=[dose(date(2026, 1, 31))])
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 2, 28)


def test_a_duration_phase_runs_from_its_first_given_dose() -> None:
    # US-STABLER: 1000 mcg daily for 1 week, then weekly for 4–8 weeks (8 scheduled).
    course = make_course("US-STABLER", "us-practice", strength="1000 mcg/mL")
    first = START + timedelta(days=3)  # started three days late
    daily = days_from(first, 0, 1, 2, 3, 4, 5, 6)
    result = status(course, first + timedelta(days=6), doses=doses(daily))
    assert result.phase is not None
    assert result.phase.name == "weekly"
    assert result.next_dose is not None
    assert result.next_dose.due == first + timedelta(days=13)  # one week after the last daily dose
    mid = status(course, first + timedelta(days=3), doses=doses(daily[:4]))
    assert mid.phase is not None
    assert mid.phase.ends_before == first + timedelta(days=7)


def test_an_open_ended_phase_continues_until_a_clinician_ends_loading() -> None:
    # VIGNETTES V02: alternate days "until no further improvement" has no fixed end.
    course = make_course("UK-IM-NEURO")
    given = days_from(START, *range(0, 60, 2))
    result = status(course, given[-1], doses=doses(given))
    assert result.phase is not None
    assert result.phase.ending is Ending.CLINICAL
    assert result.phase.provisional
    assert result.next_dose is not None
    assert result.next_dose.due == given[-1] + timedelta(days=2)
    assert result.next_dose.provisional
    prompt = next(a for a in result.alerts if a.rule == "UK-IM-NEURO")
    assert prompt.severity is Severity.INFO
    assert "clinician" in prompt.message
    assert "S18" in prompt.sources


def test_ending_loading_schedules_maintenance_one_interval_after_the_last_dose() -> None:
    course = make_course("UK-IM-NEURO")
    given = days_from(START, *range(0, 40, 2))
    decided = given[-1] + timedelta(days=1)
    result = status(course, decided, doses=doses(given), amendments=[amend(AmendmentKind.END_LOADING, decided)])
    assert result.phase is not None
    assert result.phase.kind is PhaseKind.MAINTENANCE
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 4, 12)  # 12 Feb + 2 months (BNF: every 2 months with neuro)
    assert not result.next_dose.provisional


def test_a_skipped_dose_moves_the_next_due_to_its_due_date_plus_the_interval() -> None:
    course = make_course("UK-IM-NEURO")
    result = status(course, START + timedelta(days=3), doses=[dose(START)], skips=[skip(START + timedelta(days=2))])
    assert result.next_dose is not None
    assert result.next_dose.due == START + timedelta(days=4)
    assert result.adherence.skipped == 1


def test_a_shorter_maintenance_interval_applies_to_a_due_date_not_yet_reached() -> None:
    given = doses([*LOADING_DAYS, date(2026, 4, 16)])
    change = amend(AmendmentKind.SET_MAINTENANCE_INTERVAL, date(2026, 5, 1), months=2)
    result = status(make_course(), date(2026, 5, 2), doses=given, amendments=[change])
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 6, 16)  # from the dose given, at the new interval
    maintenance = result.phases[-1]
    assert maintenance.frequency.every == 2
    assert maintenance.frequency.every_range == Span(2, 3)
    assert not [a for a in result.alerts if a.rule == "UK-IM-NN" and a.severity is Severity.WARNING]


def test_an_interval_amendment_whose_new_date_has_passed_makes_the_dose_due_on_its_effective_date() -> None:
    given = doses([*LOADING_DAYS, date(2026, 4, 16)])
    change = amend(AmendmentKind.SET_MAINTENANCE_INTERVAL, date(2026, 6, 20), months=2)
    result = status(make_course(), date(2026, 6, 20), doses=given, amendments=[change])
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 6, 20)
    assert result.next_dose.overdue_days == 0


def test_an_interval_amendment_effective_after_the_due_date_leaves_that_due_date_alone() -> None:
    given = doses([*LOADING_DAYS, date(2026, 4, 16)])
    change = amend(AmendmentKind.SET_MAINTENANCE_INTERVAL, date(2026, 8, 1), date(2026, 6, 1), months=2)
    result = status(make_course(), date(2026, 6, 1), doses=given, amendments=[change])
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 7, 16)


def test_a_maintenance_interval_outside_the_label_range_is_flagged_for_review() -> None:
    # VIGNETTES V30: shortening within the BNF's 2–3 months is allowed; shorter is flagged for a clinician.
    change = amend(AmendmentKind.SET_MAINTENANCE_INTERVAL, date(2026, 2, 1), months=1)
    result = status(make_course(), date(2026, 2, 1), doses=doses(LOADING_DAYS), amendments=[change])
    flag = next(a for a in result.alerts if a.rule == "UK-IM-NN" and a.severity is Severity.WARNING)
    assert "once a month" in flag.message
    assert "every 2–3 months" in flag.message
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 2, 16)


def test_switching_route_starts_the_new_regimen_on_its_effective_date() -> None:
    switch = amend(AmendmentKind.SWITCH_ROUTE, date(2026, 3, 2), regimen="UK-ORAL-MAL")
    result = status(make_course(), date(2026, 3, 2), doses=doses(LOADING_DAYS), amendments=[switch])
    assert result.regimen_id == "UK-ORAL-MAL"
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 3, 2)
    assert result.next_dose.route is Route.ORAL
    assert result.next_dose.volume_ml is None
    assert result.suggested_site is None


def test_switching_route_can_start_at_a_named_phase() -> None:
    switch = amend(AmendmentKind.SWITCH_ROUTE, date(2026, 3, 2), regimen="UK-IM-NN", phase="maintenance")
    course = make_course("UK-ORAL-MAL")
    oral = doses(days_from(START, *range(50)), route=Route.ORAL)
    result = status(course, date(2026, 3, 3), doses=oral, amendments=[switch])
    assert result.phase is not None
    assert result.phase.name == "maintenance"
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 3, 2)
    assert result.adherence.unscheduled == 0


def test_a_switch_to_a_regimen_the_guideline_does_not_have_is_refused() -> None:
    switch = amend(AmendmentKind.SWITCH_ROUTE, date(2026, 3, 2), regimen="US-STABLER")
    with pytest.raises(CaseError) as caught:
        status(make_course(), date(2026, 3, 3), amendments=[switch])
    assert caught.value.field == "params.regimen"


def test_a_stopped_course_has_no_next_dose_and_later_doses_are_unscheduled() -> None:
    stop = amend(AmendmentKind.STOP, date(2026, 1, 12))
    result = status(make_course(), date(2026, 1, 20), doses=doses(LOADING_DAYS), amendments=[stop])
    assert result.state is CourseState.STOPPED
    assert result.next_dose is None
    assert result.upcoming == ()
    assert result.adherence.unscheduled == 2  # 14 and 16 January, after the stop
    assert result.totals.doses == 6


def test_a_stop_dated_in_the_future_keeps_the_doses_due_before_it() -> None:
    stop = amend(AmendmentKind.STOP, date(2026, 1, 14), recorded=date(2026, 1, 8))
    result = status(make_course(), date(2026, 1, 9), doses=doses(LOADING_DAYS[:3]), amendments=[stop])
    assert result.state is CourseState.ACTIVE
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 1, 12)
    assert [d.date for d in result.upcoming] == [date(2026, 1, 12)]


def test_a_course_whose_phases_all_end_is_complete() -> None:
    phase = Phase(
        name="loading",
        kind=PhaseKind.LOADING,
        product=Product.HYDROXOCOBALAMIN,
        route=Route.IM,
        dose_mg=1.0,
        dose_range_mg=Span(1, 1),
        frequency=Frequency(1, IntervalUnit.WEEK),
        ending=Ending.COUNT,
        rule="RX-PATIENT",
        sources=(),
        text="1 mg once a week for 4 weeks",
        doses=4,
    )
    course = make_course(phases=(phase,))
    result = status(course, START + timedelta(days=30), doses=doses(days_from(START, 0, 7, 14, 21)))
    assert result.state is CourseState.COMPLETE
    assert result.next_dose is None
    assert result.adherence.on_time == 4


def test_facts_dated_after_today_do_not_count() -> None:
    later = status(make_course(), LOADING_DAYS[2], doses=doses(LOADING_DAYS))
    assert later.totals.doses == 3
    assert later.next_dose is not None
    assert later.next_dose.due == LOADING_DAYS[3]


def test_the_next_dose_shows_its_volume_and_syringe_units_from_the_course_strength() -> None:
    course = make_course("US-FDA-CN", "us-label", strength="1000 mcg/mL", syringe="U-100")
    result = status(course, START)
    assert result.next_dose is not None
    assert result.next_dose.dose_mg == pytest.approx(0.1)
    assert result.next_dose.volume_ml == pytest.approx(0.1)
    assert result.next_dose.syringe_units == pytest.approx(10)


def test_a_course_whose_strength_cannot_be_read_has_no_volumes() -> None:
    result = status(make_course(strength="one ampoule"), START, doses=[dose(START)])
    assert result.next_dose is not None
    assert result.next_dose.volume_ml is None
    assert result.totals.ml is None
    assert all(d.volume_ml is None for d in result.upcoming)


# --- upcoming doses ---------------------------------------------------------------------------------------


def test_upcoming_doses_continue_the_weekly_pattern_and_the_remaining_count() -> None:
    result = status(make_course(), LOADING_DAYS[1], doses=doses(LOADING_DAYS[:2]))
    assert [d.date for d in result.upcoming] == [*LOADING_DAYS[2:], date(2026, 4, 16)]
    assert [d.phase for d in result.upcoming] == ["loading"] * 4 + ["maintenance"]
    assert result.upcoming[0].volume_ml == pytest.approx(1.0)
    assert result.upcoming[0].syringe_units == pytest.approx(100)


def test_upcoming_doses_of_an_open_ended_phase_are_provisional_and_stop_at_it() -> None:
    result = status(make_course("UK-IM-NEURO"), START, doses=[dose(START)])
    assert [d.date for d in result.upcoming] == days_from(START, 2, 4, 6, 8, 10)
    assert all(d.provisional for d in result.upcoming)


def test_upcoming_doses_use_an_amended_maintenance_interval() -> None:
    change = amend(AmendmentKind.SET_MAINTENANCE_INTERVAL, date(2026, 2, 1), months=2)
    result = status(make_course(), date(2026, 2, 1), doses=doses(LOADING_DAYS), amendments=[change])
    assert [d.date for d in result.upcoming[:3]] == [date(2026, 3, 16), date(2026, 5, 16), date(2026, 7, 16)]


# --- adherence ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "days"),
    [
        pytest.param(Frequency(1, IntervalUnit.DAY), 1, id="daily"),
        pytest.param(Frequency(2, IntervalUnit.DAY), 1, id="alternate-days"),
        pytest.param(Frequency(1, IntervalUnit.WEEK, times_per_week=3), 1, id="three-a-week"),
        pytest.param(Frequency(1, IntervalUnit.WEEK), 1, id="weekly"),
        pytest.param(Frequency(2, IntervalUnit.WEEK), 3, id="fortnightly"),
        pytest.param(Frequency(4, IntervalUnit.WEEK), 7, id="four-weekly"),
        pytest.param(Frequency(1, IntervalUnit.MONTH), 7, id="monthly"),
        pytest.param(Frequency(3, IntervalUnit.MONTH), 7, id="three-monthly"),
    ],
)
def test_the_on_time_tolerance_grows_with_the_interval(frequency: Frequency, days: int) -> None:
    assert tolerance_days(frequency) == days


def test_adherence_counts_doses_on_time_late_and_skipped_with_a_one_day_tolerance() -> None:
    course = make_course("UK-IM-NEURO")  # every 2 days, tolerance 1 day
    given = [
        dose(START),  # due 5 Jan: on time
        dose(START + timedelta(days=3)),  # due 7 Jan, given 8 Jan: on time (1 day late)
        dose(START + timedelta(days=7)),  # due 10 Jan, given 12 Jan: late
        dose(START + timedelta(days=8)),  # due 14 Jan, given 13 Jan: on time (1 day early)
        dose(START + timedelta(days=10)),  # due 15 Jan, given 15 Jan: on time
    ]
    result = status(course, START + timedelta(days=13), doses=given, skips=[skip(START + timedelta(days=12))])
    assert result.adherence.on_time == 4
    assert result.adherence.late == 1
    assert result.adherence.skipped == 1
    assert result.adherence.given == 5


def test_a_dose_given_well_before_it_is_due_counts_as_early() -> None:
    result = status(make_course(), date(2026, 3, 20), doses=doses([*LOADING_DAYS, date(2026, 3, 20)]))
    assert result.adherence.early == 1
    assert result.next_dose is not None
    assert result.next_dose.due == date(2026, 6, 20)


def test_missed_doses_are_due_dates_passed_beyond_the_tolerance_with_nothing_recorded() -> None:
    course = make_course("UK-IM-NEURO")
    gap = START + timedelta(days=12)  # 17 Jan fills the dose due on 7 Jan, late
    result = status(course, gap, doses=doses([START, gap]))
    assert result.adherence.late == 1
    assert result.adherence.missed == 4  # 9, 11, 13 and 15 Jan passed their tolerance with nothing recorded
    assert result.adherence.due == 6


def test_the_pending_dose_counts_as_missed_once_past_its_tolerance() -> None:
    result = status(make_course(), date(2026, 5, 1), doses=doses(LOADING_DAYS))
    assert result.next_dose is not None
    assert result.next_dose.overdue_days == 15
    assert result.adherence.missed == 1
    assert "TRK-OVERDUE" in rules(result)


def test_a_dose_a_day_overdue_within_the_tolerance_is_not_flagged() -> None:
    result = status(make_course(), LOADING_DAYS[1] + timedelta(days=1), doses=doses(LOADING_DAYS[:1]))
    assert result.next_dose is not None
    assert result.next_dose.overdue_days == 1
    assert "TRK-OVERDUE" not in rules(result)
    assert result.adherence.missed == 0


def test_missed_doses_in_a_count_phase_stop_at_the_doses_it_has_left() -> None:
    result = status(make_course(), START + timedelta(days=60), doses=[dose(START)])
    assert result.adherence.missed == 5  # the loading phase had 5 doses left, not 25 passed dates


# --- sites and totals -----------------------------------------------------------------------------------


def test_the_suggested_site_is_a_never_used_site_first_in_list_order() -> None:
    used = [dose(START, site="left deltoid"), dose(START + timedelta(days=2), site="left thigh")]
    assert suggested_site(DEFAULT_SITES, used) == "right deltoid"


def test_the_suggested_site_is_the_least_recently_used_once_all_are_used() -> None:
    sites = ("left arm", "right arm")
    used = [
        dose(START, site="left arm"),
        dose(START + timedelta(days=2), site="right arm"),
        dose(START + timedelta(days=4), site="left arm"),
    ]
    assert suggested_site(sites, used) == "right arm"


def test_sites_match_without_regard_to_case_or_spaces() -> None:
    assert suggested_site(("left arm", "right arm"), [dose(START, site="  Left ARM ")]) == "right arm"


def test_no_site_is_suggested_for_a_dose_by_mouth() -> None:
    result = status(make_course("UK-ORAL-MAL"), START)
    assert result.next_dose is not None
    assert result.next_dose.site is None
    assert result.suggested_site is None


def test_the_status_suggests_a_site_from_the_course_list() -> None:
    course = make_course(sites=("left thigh", "right thigh"))
    result = status(course, START + timedelta(days=1), doses=[dose(START, site="left thigh")])
    assert result.suggested_site == "right thigh"
    assert result.next_dose is not None
    assert result.next_dose.site == "right thigh"


def test_totals_sum_doses_injections_mg_and_ml() -> None:
    course = make_course(strength="1000 mcg/mL")
    given = [dose(START), dose(START + timedelta(days=2), mg=0.5), dose(START + timedelta(days=4), route=Route.ORAL)]
    result = status(course, START + timedelta(days=4), doses=given)
    assert result.totals.doses == 3
    assert result.totals.injections == 2
    assert result.totals.mg == pytest.approx(2.5)
    assert result.totals.ml == pytest.approx(1.5)


def test_the_volume_of_a_dose_below_a_tenth_of_a_microgram_is_in_the_totals() -> None:
    # 0.00008 mg written with :g is "8e-05 mg", which the domain refuses to read: the total was None.
    course = make_course(strength="10 mcg/mL")
    result = status(course, START, doses=[dose(START, mg=0.00008)])
    assert result.totals.ml == pytest.approx(0.008)


# --- reviews ----------------------------------------------------------------------------------------------


def test_the_review_is_three_months_after_the_first_dose() -> None:
    result = status(make_course(), START, doses=[dose(START)])
    assert [(r.due, r.rule, r.done_on, r.overdue) for r in result.reviews] == [(date(2026, 4, 5), "FU-UK", None, False)]
    assert "S6" in result.reviews[0].sources


def test_a_review_is_due_one_month_after_starting_when_pregnant_or_breastfeeding() -> None:
    result = status(make_course(review_months=1), START, doses=[dose(START)])
    assert [r.due for r in result.reviews] == [date(2026, 2, 5)]


def test_a_course_without_review_months_has_no_reviews() -> None:
    assert status(make_course(review_months=None), START).reviews == ()


def test_a_review_soon_is_announced_and_a_review_past_due_is_a_red_flag() -> None:
    soon = status(make_course(), date(2026, 3, 25), doses=doses(LOADING_DAYS))
    assert [(a.rule, a.severity) for a in soon.alerts if a.rule == "FU-UK"] == [("FU-UK", Severity.INFO)]
    late = status(make_course(), date(2026, 4, 6), doses=doses(LOADING_DAYS))
    assert [(a.rule, a.severity) for a in late.alerts if a.rule == "FU-UK"] == [("FU-UK", Severity.WARNING)]
    assert late.reviews[0].overdue


def test_an_amendment_up_to_two_weeks_before_a_review_counts_as_that_review() -> None:
    reviewed = amend(AmendmentKind.REVIEW, date(2026, 3, 23))
    result = status(make_course(), date(2026, 4, 20), doses=doses(LOADING_DAYS), amendments=[reviewed])
    assert result.reviews[0].done_on == date(2026, 3, 23)
    assert "FU-UK" not in rules(result)
    too_early = amend(AmendmentKind.REVIEW, date(2026, 3, 1))
    result = status(make_course(), date(2026, 4, 20), doses=doses(LOADING_DAYS), amendments=[too_early])
    assert result.reviews[0].overdue


def test_reviews_repeat_while_a_phase_ending_on_clinical_judgement_runs() -> None:
    course = make_course("UK-IM-NEURO")
    given = days_from(START, *range(0, 200, 2))
    result = status(course, given[-1], doses=doses(given))
    assert [r.due for r in result.reviews] == [date(2026, 4, 5), date(2026, 7, 5), date(2026, 10, 5)]


# --- red flags ----------------------------------------------------------------------------------------------


def test_a_new_neurological_symptom_in_the_diary_is_a_critical_red_flag() -> None:
    entries = [diary(START, fatigue=6, paraesthesia=0), diary(START + timedelta(days=20), fatigue=4, balance=3)]
    result = status(make_course(), START + timedelta(days=20), symptoms=entries)
    flag = next(a for a in result.alerts if a.rule == "NEURO-URGENT")
    assert flag.severity is Severity.CRITICAL
    assert "balance new (3/10)" in flag.message
    assert "promptly" in flag.message
    assert flag.sources == ("S24", "S17")


def test_a_neurological_symptom_two_points_above_its_best_is_worsening() -> None:
    entries = [diary(START, paraesthesia=6), diary(START + timedelta(days=14), paraesthesia=2)]
    entries.append(diary(START + timedelta(days=28), paraesthesia=4))
    result = status(make_course(), START + timedelta(days=28), symptoms=entries)
    assert "paraesthesia 2 → 4" in next(a.message for a in result.alerts if a.rule == "NEURO-URGENT")


def test_a_one_point_rise_or_a_first_entry_is_not_a_red_flag() -> None:
    first = status(make_course(), START, symptoms=[diary(START, paraesthesia=8, vision=5)])
    assert "NEURO-URGENT" not in rules(first)
    entries = [diary(START, paraesthesia=3), diary(START + timedelta(days=7), paraesthesia=4, fatigue=9)]
    assert "NEURO-URGENT" not in rules(status(make_course(), START + timedelta(days=7), symptoms=entries))


def test_symptoms_returning_before_the_next_maintenance_dose_suggest_reviewing_the_interval() -> None:
    # VIGNETTES V30: 3-monthly maintenance; fatigue and paraesthesia back at week 9, next dose due at week 12.
    last = date(2026, 4, 16)
    entries = [
        diary(date(2026, 4, 30), fatigue=2, paraesthesia=1),
        diary(date(2026, 5, 20), fatigue=1, paraesthesia=0),
        diary(last + timedelta(weeks=9), fatigue=6, paraesthesia=3),
    ]
    result = status(make_course(), last + timedelta(weeks=9), doses=doses([*LOADING_DAYS, last]), symptoms=entries)
    flag = next(a for a in result.alerts if a.rule == "FU-UK" and "came back" in a.message)
    assert flag.severity is Severity.WARNING
    assert "9 weeks after the last dose" in flag.message
    assert "fatigue 1 → 6" in flag.message
    assert "every 2–3 months" in flag.message
    assert "every 2 months" in flag.message
    assert {"S16", "S19"} <= set(flag.sources)
    assert "NEURO-URGENT" in rules(result)  # paraesthesia back too


def test_symptoms_returning_at_the_shortest_label_interval_say_shorter_is_outside_the_label() -> None:
    last = date(2026, 4, 16)
    change = amend(AmendmentKind.SET_MAINTENANCE_INTERVAL, date(2026, 4, 20), months=2)
    entries = [diary(date(2026, 4, 30), fatigue=1), diary(date(2026, 6, 1), fatigue=5)]
    result = status(
        make_course(), date(2026, 6, 1), doses=doses([*LOADING_DAYS, last]), symptoms=entries, amendments=[change]
    )
    flag = next(a for a in result.alerts if a.rule == "FU-UK" and "came back" in a.message)
    assert "already at the shortest interval" in flag.message


def test_symptoms_during_loading_are_not_a_maintenance_interval_question() -> None:
    entries = [diary(START, fatigue=1), diary(START + timedelta(days=3), fatigue=7)]
    result = status(make_course(), START + timedelta(days=3), doses=doses(LOADING_DAYS[:2]), symptoms=entries)
    assert "FU-UK" not in rules(result)


def test_no_reticulocyte_response_by_day_10_asks_to_re_evaluate_and_check_iron_and_folate() -> None:
    # VIGNETTES V28: day 10 of cyanocobalamin 100 mcg daily (US label), reticulocytes not increased.
    course = make_course("US-FDA-CN", "us-label", strength="1000 mcg/mL", anaemia=True)
    given = days_from(START, *range(7))
    labs = [
        lab(Analyte.RETICULOCYTES, 1.0, "%", START),
        lab(Analyte.RETICULOCYTES, 0.9, "%", START + timedelta(days=9)),
    ]
    result = status(course, START + timedelta(days=9), doses=doses(given, mg=0.1), labs=labs)
    flag = next(a for a in result.alerts if a.rule == "FU-PROGRESS")
    assert flag.severity is Severity.WARNING
    assert "have not increased" in flag.message
    assert "re-evaluate" in flag.message
    assert "iron and folate" in flag.message
    assert {"S40", "S55"} <= set(flag.sources)


def test_reticulocytes_not_above_the_lab_upper_limit_without_a_baseline_are_no_response() -> None:
    course = make_course(anaemia=True)
    late = lab(Analyte.RETICULOCYTES, 1.5, "%", START + timedelta(days=10), upper_limit=2.5)
    result = status(course, START + timedelta(days=10), doses=doses(LOADING_DAYS), labs=[late])
    assert "not above the lab's upper limit" in next(a.message for a in result.alerts if a.rule == "FU-PROGRESS")


def test_a_reticulocyte_rise_is_a_response_and_an_early_result_is_not_judged() -> None:
    rising = [
        lab(Analyte.RETICULOCYTES, 1.0, "%", START),
        lab(Analyte.RETICULOCYTES, 4.0, "%", START + timedelta(days=9)),
    ]
    result = status(make_course(anaemia=True), START + timedelta(days=9), doses=doses(LOADING_DAYS), labs=rising)
    assert not [a for a in result.alerts if a.rule == "FU-PROGRESS" and "reticulocytes" in a.message]
    early = [
        lab(Analyte.RETICULOCYTES, 1.0, "%", START),
        lab(Analyte.RETICULOCYTES, 0.8, "%", START + timedelta(days=4)),
    ]
    result = status(make_course(anaemia=True), START + timedelta(days=4), doses=doses(LOADING_DAYS), labs=early)
    assert not [a for a in result.alerts if a.rule == "FU-PROGRESS" and "reticulocytes" in a.message]


def test_haemoglobin_not_rising_after_a_week_of_treating_anaemia_is_flagged() -> None:
    labs = [lab(Analyte.HEMOGLOBIN, 9.8, "g/dL", START), lab(Analyte.HEMOGLOBIN, 96, "g/L", START + timedelta(days=8))]
    result = status(make_course(anaemia=True), START + timedelta(days=8), doses=doses(LOADING_DAYS), labs=labs)
    assert "haemoglobin 96 g/L" in next(a.message for a in result.alerts if a.rule == "FU-PROGRESS")
    normal = [
        lab(Analyte.HEMOGLOBIN, 140, "g/L", START),
        lab(Analyte.HEMOGLOBIN, 139, "g/L", START + timedelta(days=8)),
    ]
    result = status(make_course(), START + timedelta(days=8), doses=doses(LOADING_DAYS), labs=normal)
    assert "FU-PROGRESS" not in rules(result)


def test_a_potassium_check_is_due_in_the_first_48_hours_of_intensive_treatment() -> None:
    course = make_course(potassium_first_48h=True)
    before = status(course, START - timedelta(days=1))
    assert [(a.rule, a.severity) for a in before.alerts if a.rule == "SAFE-K"] == [("SAFE-K", Severity.INFO)]
    due = status(course, START + timedelta(days=1), doses=[dose(START)])
    flag = next(a for a in due.alerts if a.rule == "SAFE-K")
    assert flag.severity is Severity.WARNING
    assert "due by 2026-01-07" in flag.message
    checked = status(
        course, START + timedelta(days=1), doses=[dose(START)], labs=[lab(Analyte.POTASSIUM, 4.1, "mmol/L", START)]
    )
    assert "SAFE-K" not in rules(checked)
    assert checked.checkpoints[0].done_on == START


def test_a_missing_potassium_result_is_flagged_until_day_7() -> None:
    course = make_course(potassium_first_48h=True)
    missed = status(course, START + timedelta(days=4), doses=doses(LOADING_DAYS))
    assert "No potassium result" in next(a.message for a in missed.alerts if a.rule == "SAFE-K")
    assert missed.checkpoints[0].overdue
    assert "SAFE-K" not in rules(status(course, START + timedelta(days=8), doses=doses(LOADING_DAYS)))


def test_low_potassium_early_in_treatment_is_critical_for_any_course() -> None:
    low = lab(Analyte.POTASSIUM, 3.0, "mmol/L", START + timedelta(days=3), lower_limit=3.5)
    result = status(make_course(), START + timedelta(days=3), doses=doses(LOADING_DAYS), labs=[low])
    flag = next(a for a in result.alerts if a.rule == "SAFE-K")
    assert flag.severity is Severity.CRITICAL
    assert result.alerts[0] == flag


def test_us_label_regimens_watch_potassium_as_their_label_says() -> None:
    course = make_course("US-FDA-CN", "us-label", strength="1000 mcg/mL")
    result = status(course, START, doses=[dose(START, mg=0.1)])
    assert "SAFE-K" in rules(result)


def test_a_b12_result_within_two_weeks_of_an_injection_is_not_interpretable() -> None:
    b12 = lab(Analyte.B12_TOTAL, 900, "ng/L", START + timedelta(days=14))
    result = status(make_course(), START + timedelta(days=14), doses=doses(LOADING_DAYS), labs=[b12])
    flag = next(a for a in result.alerts if a.rule == "DX-RECENT-INJ")
    assert flag.severity is Severity.WARNING
    assert "3 days after the injection of 2026-01-16" in flag.message
    later = lab(Analyte.B12_TOTAL, 900, "ng/L", date(2026, 2, 1))
    assert "DX-RECENT-INJ" not in rules(
        status(make_course(), date(2026, 2, 1), doses=doses(LOADING_DAYS), labs=[later])
    )


def test_a_b12_result_during_maintenance_says_injections_are_not_adjusted_by_b12() -> None:
    given = doses([*LOADING_DAYS, date(2026, 4, 16)])
    b12 = lab(Analyte.B12_ACTIVE, 80, "pmol/L", date(2026, 6, 1))
    result = status(make_course(), date(2026, 6, 1), doses=given, labs=[b12])
    note = next(a for a in result.alerts if a.rule == "FU-NO-RETEST")
    assert note.severity is Severity.INFO
    assert note.sources == ("S59",)


def test_a_reaction_after_the_latest_dose_is_a_red_flag_citing_the_mhra() -> None:
    given = doses(LOADING_DAYS[:2])
    itch = Reaction(id="r1", dose_id=given[-1].id, at=at(LOADING_DAYS[1], 18), description="itchy rash")
    result = status(make_course(), LOADING_DAYS[1], doses=given, reactions=[itch])
    flag = next(a for a in result.alerts if a.rule == "SAFE-COBALT")
    assert flag.severity is Severity.WARNING
    assert "itchy rash" in flag.message
    assert "72 hours" in flag.message
    assert "S34" in flag.sources
    after = status(make_course(), LOADING_DAYS[2], doses=[*given, dose(LOADING_DAYS[2])], reactions=[itch])
    assert "SAFE-COBALT" not in rules(after)  # a mild reaction is flagged until the next dose is given


def test_a_severe_reaction_stays_flagged_after_later_doses_and_a_mild_one_does_not() -> None:
    given = doses(LOADING_DAYS[:3])
    severe = Reaction(id="r1", dose_id=given[0].id, at=at(START, 12), description="wheeze", severe=True)
    mild = Reaction(id="r2", dose_id=given[1].id, at=at(LOADING_DAYS[1], 12), description="sore arm")
    result = status(make_course(), LOADING_DAYS[2], doses=given, reactions=[severe, mild])
    flags = [a for a in result.alerts if a.rule == "SAFE-COBALT"]
    assert [(a.severity, "wheeze" in a.message) for a in flags] == [(Severity.CRITICAL, True)]


def test_a_reaction_written_on_the_dose_itself_counts() -> None:
    result = status(make_course(), START, doses=[dose(START, reaction="dizzy")])
    assert "dizzy" in next(a.message for a in result.alerts if a.rule == "SAFE-COBALT")


def test_planned_blood_tests_past_due_are_flagged_for_a_course_treating_anaemia() -> None:
    course = make_course(anaemia=True)
    result = status(course, START + timedelta(days=18), doses=doses(LOADING_DAYS))
    assert [(c.due, c.tests, c.overdue) for c in result.checkpoints] == [
        (START + timedelta(days=7), ("hemoglobin",), True),
        (START + timedelta(days=10), ("reticulocytes",), True),
        (START + timedelta(days=56), ("hemoglobin", "mcv"), False),
    ]
    assert sum(1 for a in result.alerts if a.rule == "FU-PROGRESS") == 2
    done = [lab(Analyte.HEMOGLOBIN, 110, "g/L", START + timedelta(days=6))]
    result = status(course, START + timedelta(days=18), doses=doses(LOADING_DAYS), labs=done)
    assert result.checkpoints[0].done_on == START + timedelta(days=6)


def test_a_dose_from_an_expired_batch_is_flagged() -> None:
    result = status(make_course(), START, doses=[dose(START, batch="A1", expiry=START - timedelta(days=1))])
    assert "expired on 2026-01-04" in next(a.message for a in result.alerts if a.rule == "TRK-EXPIRED")


def test_red_flags_come_first_by_severity() -> None:
    course = make_course("UK-IM-NEURO", potassium_first_48h=True)
    entries = [diary(START, balance=0), diary(START + timedelta(days=30), balance=5)]
    result = status(course, START + timedelta(days=30), doses=[dose(START)], symptoms=entries)
    order = [severity_order(a) for a in result.alerts]
    assert order == sorted(order)
    assert result.alerts[0].rule == "NEURO-URGENT"
    assert all(a.severity is not Severity.INFO for a in result.red_flags)


def test_every_alert_cites_a_known_rule_and_sources_listed_in_the_reference() -> None:
    course = make_course("UK-IM-NEURO", potassium_first_48h=True, anaemia=True)
    entries = [diary(START, balance=0), diary(START + timedelta(days=30), balance=5)]
    labs = [lab(Analyte.B12_TOTAL, 900, "ng/L", START + timedelta(days=3))]
    result = status(
        course,
        START + timedelta(days=130),
        doses=[dose(START, expiry=START - timedelta(days=1))],
        symptoms=entries,
        labs=labs,
    )
    known = sources()
    uk = load_guideline("uk")
    for alert in result.alerts:
        assert alert.rule in uk.rules or alert.rule in TRACKING_RULES
        assert set(alert.sources) <= set(known)
    assert {"TRK-OVERDUE", "TRK-EXPIRED"} <= set(rules(result))


def test_the_status_is_the_same_whichever_order_the_facts_come_in() -> None:
    given = doses([*LOADING_DAYS, date(2026, 4, 16)])
    entries = [diary(date(2026, 4, 30), fatigue=1), diary(date(2026, 6, 1), fatigue=5)]
    forward = status(make_course(), date(2026, 6, 1), doses=given, symptoms=entries)
    backward = status(make_course(), date(2026, 6, 1), doses=reversed(given), symptoms=reversed(entries))
    assert forward == backward


# --- edges ------------------------------------------------------------------------------------------------


def test_a_course_of_a_guideline_b12_does_not_know_still_has_a_status() -> None:
    foreign = replace(make_course(), guideline="local-protocol")
    result = status(foreign, START, doses=[dose(START)])
    assert result.next_dose is not None
    assert result.next_dose.due == START + timedelta(days=2)
    assert all(a.rule != "UK-IM-NN" for a in result.alerts)


def test_symptoms_returning_on_a_monthly_label_say_a_shorter_interval_is_outside_it() -> None:
    maintenance = (load_guideline("us-practice").regimens["US-STABLER"].phases[-1],)
    monthly = make_course(phases=maintenance, guideline="us-practice", strength="1000 mcg/mL")
    entries = [diary(START + timedelta(days=3), fatigue=1), diary(START + timedelta(days=24), fatigue=6)]
    result = status(monthly, START + timedelta(days=24), doses=[dose(START)], symptoms=entries)
    flag = next(a for a in result.alerts if a.rule == "FU-UK" and "came back" in a.message)
    assert "the label gives monthly" in flag.message


def test_an_amendment_with_a_bad_interval_or_phase_is_refused_when_replayed() -> None:
    bad_months = amend(AmendmentKind.SET_MAINTENANCE_INTERVAL, START, months="two")
    with pytest.raises(CaseError) as caught:
        status(make_course(), START + timedelta(days=100), doses=doses(LOADING_DAYS), amendments=[bad_months])
    assert caught.value.field == "params.months"
    bad_phase = amend(AmendmentKind.SWITCH_ROUTE, START, regimen="UK-IM-NN", phase="weekly")
    with pytest.raises(CaseError) as caught:
        status(make_course(), START, amendments=[bad_phase])
    assert caught.value.field == "params.phase"


def test_an_unknown_syringe_gives_millilitres_without_units() -> None:
    result = status(make_course(syringe="U-500"), START)
    assert result.next_dose is not None
    assert result.next_dose.volume_ml == pytest.approx(1.0)
    assert result.next_dose.syringe_units is None


def test_no_sites_means_no_suggestion_and_upcoming_can_be_switched_off() -> None:
    assert suggested_site((), [dose(START)]) is None
    assert course_status(History(course=make_course()), START, upcoming=0).upcoming == ()


def test_a_second_stop_changes_nothing() -> None:
    stops = [amend(AmendmentKind.STOP, date(2026, 1, 9)), amend(AmendmentKind.STOP, date(2026, 1, 12))]
    result = status(make_course(), date(2026, 1, 20), doses=doses(LOADING_DAYS), amendments=stops)
    assert result.stopped_on == date(2026, 1, 9)
