"""Schedule invariants over random phase lists, starts and horizons (Hypothesis)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from b12.domain.case import Route
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Span
from b12.domain.schedule import PhaseTotals, Schedule, ScheduledDose, expand, week_offsets

frequencies = st.one_of(
    st.builds(Frequency, every=st.just(1), unit=st.just(IntervalUnit.WEEK), times_per_week=st.integers(1, 7)),
    st.builds(Frequency, every=st.integers(1, 14), unit=st.just(IntervalUnit.DAY)),
    st.builds(Frequency, every=st.integers(1, 4), unit=st.just(IntervalUnit.WEEK)),
    st.builds(Frequency, every=st.integers(1, 6), unit=st.just(IntervalUnit.MONTH)),
)


@st.composite
def phases(draw: st.DrawFn, index: int) -> Phase:
    low = draw(st.floats(0.01, 5.0))
    high = draw(st.floats(low, 10.0))
    ending = draw(st.sampled_from(Ending))
    return Phase(
        name=f"phase {index}",  # unique, so doses can be grouped by phase name
        kind=draw(st.sampled_from(PhaseKind)),
        product=draw(st.sampled_from(Product)),
        route=draw(st.sampled_from(Route)),
        dose_mg=draw(st.floats(low, high)),
        dose_range_mg=Span(low, high),
        frequency=draw(frequencies),
        ending=ending,
        rule="PROP",
        sources=(),
        text="",
        doses=draw(st.integers(1, 30)) if ending is Ending.COUNT else None,
        duration_days=draw(st.integers(1, 120)) if ending is Ending.DURATION else None,
    )


@st.composite
def phase_lists(draw: st.DrawFn) -> list[Phase]:
    return [draw(phases(index)) for index in range(draw(st.integers(1, 5)))]


def half_mg_per_ml(dose_mg: float) -> tuple[float, float | None]:
    return dose_mg / 0.5, dose_mg / 0.5 * 100


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[Phase], Schedule]:
    phase_list = draw(phase_lists())
    start = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
    horizon_end = start + timedelta(days=draw(st.integers(0, 5 * 366)))
    volume_for = half_mg_per_ml if draw(st.booleans()) else None
    return phase_list, expand(phase_list, start, horizon_end, volume_for=volume_for)


def of(schedule: Schedule, phase: Phase) -> list[ScheduledDose]:
    return [dose for dose in schedule.doses if dose.phase == phase.name]


def assert_totals_match(totals: PhaseTotals, doses: Sequence[ScheduledDose]) -> None:
    assert totals.doses == len(doses)
    assert totals.injections == sum(dose.route is Route.IM for dose in doses)
    assert math.isclose(totals.mg, sum(dose.dose_mg for dose in doses), abs_tol=1e-6)
    volumes = [dose.volume_ml for dose in doses if dose.volume_ml is not None]
    if volumes:
        assert totals.ml is not None
        assert math.isclose(totals.ml, sum(volumes), abs_tol=1e-6)
    else:
        assert totals.ml is None
    assert totals.first == (doses[0].date if doses else None)
    assert totals.last == (doses[-1].date if doses else None)


@given(schedules())
def test_no_dose_falls_before_the_start_or_after_the_horizon(case: tuple[list[Phase], Schedule]) -> None:
    _, schedule = case
    assert all(schedule.start <= dose.date <= schedule.horizon_end for dose in schedule.doses)
    assert schedule.doses[0].date == schedule.start


@given(schedules())
def test_dates_never_go_back_and_strictly_increase_within_a_phase(case: tuple[list[Phase], Schedule]) -> None:
    phase_list, schedule = case
    days = [dose.date for dose in schedule.doses]
    assert days == sorted(days)
    for phase in phase_list:
        phase_days = [dose.date for dose in of(schedule, phase)]
        assert all(a < b for a, b in pairwise(phase_days))


@given(schedules())
def test_a_count_phase_gives_exactly_its_doses_unless_the_horizon_cuts_it(
    case: tuple[list[Phase], Schedule],
) -> None:
    phase_list, schedule = case
    for phase, totals in zip(phase_list, schedule.phases, strict=True):
        if phase.ending is Ending.COUNT and phase.name not in schedule.undated_phases:
            assert phase.doses is not None
            if totals.complete:
                assert totals.doses == phase.doses
            else:
                assert totals.doses < phase.doses


@given(schedules())
def test_phase_and_overall_totals_are_the_sums_over_their_doses(case: tuple[list[Phase], Schedule]) -> None:
    phase_list, schedule = case
    assert [totals.phase for totals in schedule.phases] == [phase.name for phase in phase_list]
    for phase, totals in zip(phase_list, schedule.phases, strict=True):
        assert_totals_match(totals, of(schedule, phase))
    assert_totals_match(schedule.overall, schedule.doses)
    assert schedule.overall.complete == all(totals.complete for totals in schedule.phases)
    whole = schedule.in_window(schedule.start, schedule.horizon_end)
    assert (whole.doses, whole.injections, whole.mg, whole.ml) == (
        schedule.overall.doses,
        schedule.overall.injections,
        schedule.overall.mg,
        schedule.overall.ml,
    )


@given(schedules())
def test_every_dose_is_within_its_phase_label_range_and_carries_its_phase(
    case: tuple[list[Phase], Schedule],
) -> None:
    phase_list, schedule = case
    for phase in phase_list:
        for dose in of(schedule, phase):
            assert dose.dose_mg in phase.dose_range_mg
            assert (dose.kind, dose.route, dose.product) == (phase.kind, phase.route, phase.product)
            assert dose.provisional == (phase.ending is Ending.CLINICAL)
            if not phase.injected:
                assert (dose.volume_ml, dose.syringe_units) == (None, None)


@given(schedules())
def test_phases_after_the_first_open_ended_one_are_undated(case: tuple[list[Phase], Schedule]) -> None:
    phase_list, schedule = case
    open_at = next((i for i, phase in enumerate(phase_list) if phase.open_ended), len(phase_list))
    assert schedule.undated_phases == tuple(phase.name for phase in phase_list[open_at + 1 :])
    for name in schedule.undated_phases:
        assert not any(dose.phase == name for dose in schedule.doses)
    open_ended = {phase.name for phase in phase_list if phase.open_ended}
    assert not any(t.complete for t in schedule.phases if t.phase in open_ended)


@given(schedules())
def test_each_phase_keeps_its_own_rhythm(case: tuple[list[Phase], Schedule]) -> None:
    phase_list, schedule = case
    for phase in phase_list:
        days = [dose.date for dose in of(schedule, phase)]
        if not days:
            continue
        frequency = phase.frequency
        if frequency.times_per_week:
            offsets = set(week_offsets(frequency.times_per_week))
            assert all((day - days[0]).days % 7 in offsets for day in days)
            assert all(len([d for d in days if day <= d < day + timedelta(days=7)]) <= len(offsets) for day in days)
        elif frequency.unit is IntervalUnit.MONTH:
            months = [day.year * 12 + day.month for day in days]
            assert all(b - a == frequency.every for a, b in pairwise(months))
        else:
            step = frequency.every * (7 if frequency.unit is IntervalUnit.WEEK else 1)
            assert all((b - a).days == step for a, b in pairwise(days))
        if phase.ending is Ending.DURATION:
            assert phase.duration_days is not None
            assert days[-1] < days[0] + timedelta(days=phase.duration_days)


@given(schedules())
def test_loading_end_and_maintenance_start_agree_with_the_doses(case: tuple[list[Phase], Schedule]) -> None:
    phase_list, schedule = case
    maintenance = next((phase for phase in phase_list if phase.kind is PhaseKind.MAINTENANCE), None)
    if maintenance is None or maintenance.name in schedule.undated_phases:
        assert schedule.maintenance_starts is None
    else:
        assert schedule.maintenance_starts is not None
        maintenance_days = of(schedule, maintenance)
        if maintenance_days:
            assert maintenance_days[0].date == schedule.maintenance_starts
        else:
            assert schedule.maintenance_starts > schedule.horizon_end
    loading = [phase for phase in phase_list if phase.kind is PhaseKind.LOADING]
    if not loading or loading[-1].open_ended or loading[-1].name in schedule.undated_phases:
        assert schedule.loading_ends is None
    else:
        last = next(t for t in schedule.phases if t.phase == loading[-1].name)
        if last.complete:
            assert schedule.loading_ends == last.last
        else:
            assert schedule.loading_ends is not None
            assert schedule.loading_ends > schedule.horizon_end
