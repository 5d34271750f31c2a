"""Tracking invariants over random courses and histories (Hypothesis)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from b12.domain.case import Route
from b12.domain.guidelines import GUIDELINE_IDS, load_guideline
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Span
from b12.domain.tracking import (
    Amendment,
    AmendmentKind,
    Course,
    DoseGiven,
    DoseSkipped,
    History,
    course_status,
)

REGIMENS = [(g, r) for g in GUIDELINE_IDS for r in load_guideline(g).regimens]


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _course(guideline: str, phases: tuple[Phase, ...], start: date, regimen: str | None) -> Course:
    return Course(
        id="c",
        patient_id="p",
        guideline=guideline,
        guideline_version="test",
        regimen_id=regimen,
        phases=phases,
        product=phases[0].product,
        strength="1000 mcg/mL",
        syringe="U-100",
        start=start,
        created_by="u",
        created_at=_at(start),
    )


def _dose(n: int, day: date, mg: float = 1.0, route: Route = Route.IM) -> DoseGiven:
    return DoseGiven(
        id=f"d{n}", course_id="c", at=_at(day), dose_mg=mg, product=Product.HYDROXOCOBALAMIN, route=route, given_by="u"
    )


@st.composite
def histories(draw: st.DrawFn) -> tuple[History, date]:
    guideline, regimen_id = draw(st.sampled_from(REGIMENS))
    regimen = load_guideline(guideline).regimens[regimen_id]
    start = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    offsets = sorted(draw(st.lists(st.integers(0, 400), max_size=25)))
    doses = tuple(
        _dose(n, start + timedelta(days=o), draw(st.sampled_from([0.1, 0.5, 1.0])), draw(st.sampled_from(Route)))
        for n, o in enumerate(offsets)
    )
    skips = tuple(
        DoseSkipped(id=f"s{n}", course_id="c", due=start + timedelta(days=o), at=_at(start + timedelta(days=o)))
        for n, o in enumerate(draw(st.lists(st.integers(0, 400), max_size=5)))
    )
    amendments: list[Amendment] = []
    for n in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(
                [
                    AmendmentKind.END_LOADING,
                    AmendmentKind.SET_MAINTENANCE_INTERVAL,
                    AmendmentKind.STOP,
                    AmendmentKind.REVIEW,
                    AmendmentKind.SWITCH_ROUTE,
                ]
            )
        )
        effective = start + timedelta(days=draw(st.integers(0, 400)))
        params: dict[str, object] = {}
        if kind is AmendmentKind.SET_MAINTENANCE_INTERVAL:
            params["months"] = draw(st.integers(1, 6))
        if kind is AmendmentKind.SWITCH_ROUTE:
            params["regimen"] = draw(st.sampled_from(sorted(load_guideline(guideline).regimens)))
        amendments.append(
            Amendment(f"a{n}", "c", _at(effective), "u", kind, effective, "because", params)  # recorded on the day
        )
    today = start + timedelta(days=draw(st.integers(0, 500)))
    course = _course(guideline, regimen.phases, start, regimen_id)
    return History(course=course, doses=doses, skips=skips, amendments=tuple(amendments)), today


@given(histories())
def test_the_next_dose_is_never_before_the_last_dose_given(case: tuple[History, date]) -> None:
    history, today = case
    result = course_status(history, today)
    if result.next_dose is not None and result.last_dose is not None:
        assert result.next_dose.due >= result.last_dose
    assert result.next_dose is None or result.next_dose.overdue_days == max(0, (today - result.next_dose.due).days)


@given(histories())
def test_totals_equal_the_sum_of_the_doses_recorded(case: tuple[History, date]) -> None:
    history, today = case
    counted = [d for d in history.doses if d.at.date() <= today]
    totals = course_status(history, today).totals
    assert totals.doses == len(counted)
    assert totals.injections == sum(1 for d in counted if d.route is Route.IM)
    assert math.isclose(totals.mg, math.fsum(d.dose_mg for d in counted), abs_tol=1e-6)
    injected_mg = math.fsum(d.dose_mg for d in counted if d.route is Route.IM)
    assert (totals.ml is None) == (totals.injections == 0)
    assert totals.ml is None or math.isclose(totals.ml, injected_mg, abs_tol=1e-6)  # 1000 mcg/mL: 1 mL per mg


@given(histories())
def test_adherence_counts_add_up(case: tuple[History, date]) -> None:
    history, today = case
    adherence = course_status(history, today).adherence
    assert adherence.given == sum(1 for d in history.doses if d.at.date() <= today)
    assert adherence.skipped == sum(1 for s in history.skips if s.at.date() <= today)
    assert min(adherence.on_time, adherence.late, adherence.early, adherence.missed, adherence.unscheduled) >= 0
    assert adherence.due == adherence.on_time + adherence.late + adherence.early + adherence.skipped + adherence.missed
    share = adherence.on_time_share
    assert share is None or 0 <= share <= 1


@given(histories())
def test_upcoming_doses_start_at_the_next_dose_and_are_in_order(case: tuple[History, date]) -> None:
    history, today = case
    result = course_status(history, today)
    dates = [d.date for d in result.upcoming]
    assert dates == sorted(dates)
    assert len(dates) <= 5
    if result.next_dose is None:
        assert dates == []
    elif dates:
        assert dates[0] == result.next_dose.due
    if result.stopped_on is not None:
        assert all(day < result.stopped_on for day in dates)


interval_frequencies = st.one_of(
    st.builds(Frequency, every=st.integers(1, 14), unit=st.just(IntervalUnit.DAY)),
    st.builds(Frequency, every=st.integers(1, 4), unit=st.just(IntervalUnit.WEEK)),
    st.builds(Frequency, every=st.just(1), unit=st.just(IntervalUnit.WEEK), times_per_week=st.integers(1, 7)),
)


def _phase(frequency: Frequency, ending: Ending) -> Phase:
    return Phase(
        name="only",
        kind=PhaseKind.MAINTENANCE if ending is Ending.CONTINUING else PhaseKind.LOADING,
        product=Product.HYDROXOCOBALAMIN,
        route=Route.IM,
        dose_mg=1.0,
        dose_range_mg=Span(1, 1),
        frequency=frequency,
        ending=ending,
        rule="RX-PATIENT",
        sources=(),
        text="",
    )


@given(
    frequency=interval_frequencies,
    ending=st.sampled_from([Ending.CLINICAL, Ending.CONTINUING]),
    start=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    on_time=st.integers(0, 10),
    late_by=st.integers(0, 60),
)
def test_a_late_dose_moves_the_next_due_later_by_the_same_amount(
    frequency: Frequency, ending: Ending, start: date, on_time: int, late_by: int
) -> None:
    course = _course("uk", (_phase(frequency, ending),), start, None)
    history = History(course=course)
    due = start
    for n in range(on_time):  # doses given exactly when due
        history = History(course=course, doses=(*history.doses, _dose(n, due)))
        step = course_status(history, due).next_dose
        assert step is not None
        due = step.due
    prompt = History(course=course, doses=(*history.doses, _dose(99, due)))
    late = History(course=course, doses=(*history.doses, _dose(99, due + timedelta(days=late_by))))
    expected = course_status(prompt, due).next_dose
    moved = course_status(late, due + timedelta(days=late_by)).next_dose
    assert expected is not None
    assert moved is not None
    assert (moved.due - expected.due).days == late_by


@given(
    every=st.integers(1, 6),
    start=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    late_by=st.integers(0, 60),
)
def test_a_late_monthly_dose_moves_the_next_due_by_the_same_amount_give_or_take_a_month_end(
    every: int, start: date, late_by: int
) -> None:
    # Calendar months clamp to the month's last day (31 Jan + 1 month = 28/29 Feb), so the shift may differ
    # by up to 3 days from the lateness; it never goes the other way.
    course = _course("uk", (_phase(Frequency(every, IntervalUnit.MONTH), Ending.CONTINUING),), start, None)
    prompt = course_status(History(course=course, doses=(_dose(0, start),)), start).next_dose
    late_day = start + timedelta(days=late_by)
    moved = course_status(History(course=course, doses=(_dose(0, late_day),)), late_day).next_dose
    assert prompt is not None
    assert moved is not None
    assert abs((moved.due - prompt.due).days - late_by) <= 3
    assert moved.due >= prompt.due


@given(histories())
def test_later_facts_never_change_an_earlier_day_s_status(case: tuple[History, date]) -> None:
    history, today = case
    earlier = today - timedelta(days=30)
    if earlier < history.course.start:
        return
    pruned = History(
        course=history.course,
        doses=tuple(d for d in history.doses if d.at.date() <= earlier),
        skips=tuple(s for s in history.skips if s.at.date() <= earlier),
        amendments=tuple(a for a in history.amendments if a.at.date() <= earlier),
    )
    assert course_status(history, earlier) == course_status(pruned, earlier)
