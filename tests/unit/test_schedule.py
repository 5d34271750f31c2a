"""The dated-schedule engine on the regimens of VIGNETTES "Schedule templates" and the calendar's traps."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta

from b12.domain.case import Route
from b12.domain.errors import CaseError
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Span
from b12.domain.schedule import PhaseTotals, Schedule, expand, week_offsets

DAY, WEEK, MONTH = IntervalUnit.DAY, IntervalUnit.WEEK, IntervalUnit.MONTH
LOADING, MAINTENANCE = PhaseKind.LOADING, PhaseKind.MAINTENANCE


def make_phase(
    name: str = "loading",
    *,
    kind: PhaseKind = LOADING,
    every: int = 1,
    unit: IntervalUnit = DAY,
    times_per_week: int | None = None,
    ending: Ending = Ending.COUNT,
    doses: int | None = None,
    duration_days: int | None = None,
    dose_mg: float = 1.0,
    route: Route = Route.IM,
    product: Product = Product.HYDROXOCOBALAMIN,
) -> Phase:
    if ending is Ending.COUNT and doses is None:
        doses = 1
    return Phase(
        name=name,
        kind=kind,
        product=product,
        route=route,
        dose_mg=dose_mg,
        dose_range_mg=Span(dose_mg, dose_mg),
        frequency=Frequency(
            every=1 if times_per_week else every,
            unit=WEEK if times_per_week else unit,
            times_per_week=times_per_week,
        ),
        ending=ending,
        rule="TEST",
        sources=("S0",),
        text=name,
        doses=doses,
        duration_days=duration_days,
    )


def uk_im_nn() -> list[Phase]:
    """UK-IM-NN: 1 mg three times a week for two weeks, then 1 mg every 3 months for life [S18]."""
    return [
        make_phase("loading", times_per_week=3, doses=6),
        make_phase("maintenance", kind=MAINTENANCE, every=3, unit=MONTH, ending=Ending.CONTINUING),
    ]


def dates(schedule: Schedule, phase: str | None = None) -> list[date]:
    return [dose.date for dose in schedule.doses if phase is None or dose.phase == phase]


def totals(schedule: Schedule, phase: str) -> PhaseTotals:
    return next(t for t in schedule.phases if t.phase == phase)


MONDAY = date(2025, 1, 6)


def test_three_times_a_week_for_two_weeks_gives_six_doses_within_fourteen_days() -> None:
    schedule = expand([make_phase(times_per_week=3, doses=6)], MONDAY, MONDAY + timedelta(days=60))

    assert dates(schedule) == [MONDAY + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)]
    assert dates(schedule)[-1] < MONDAY + timedelta(days=14)
    assert totals(schedule, "loading").complete


def test_three_times_a_week_from_a_thursday_counts_its_days_from_the_first_dose() -> None:
    thursday = date(2025, 1, 9)
    schedule = expand([make_phase(times_per_week=3, doses=4)], thursday, thursday + timedelta(days=30))

    assert [d.strftime("%a") for d in dates(schedule)] == ["Thu", "Sat", "Mon", "Thu"]


@pytest.mark.parametrize(
    ("times_per_week", "offsets"),
    [
        (1, (0,)),
        (2, (0, 3)),
        (3, (0, 2, 4)),
        (4, (0, 1, 3, 5)),
        (5, (0, 1, 2, 4, 5)),
        (7, (0, 1, 2, 3, 4, 5, 6)),
    ],
)
def test_a_weekly_pattern_repeats_its_offsets_every_seven_days(times_per_week: int, offsets: tuple[int, ...]) -> None:
    schedule = expand(
        [make_phase(times_per_week=times_per_week, doses=2 * times_per_week)],
        MONDAY,
        MONDAY + timedelta(days=30),
    )

    assert week_offsets(times_per_week) == offsets
    assert [(d - MONDAY).days for d in dates(schedule)] == [*offsets, *(o + 7 for o in offsets)]


def test_a_weekly_pattern_of_eight_times_is_refused() -> None:
    with pytest.raises(ValueError, match="1–7"):
        week_offsets(8)


def test_uk_maintenance_starts_three_months_after_the_last_loading_dose() -> None:
    schedule = expand(uk_im_nn(), MONDAY, MONDAY + relativedelta(years=1) - timedelta(days=1))

    last_loading = date(2025, 1, 17)
    assert schedule.loading_ends == last_loading
    assert schedule.maintenance_starts == date(2025, 4, 17)
    assert dates(schedule, "maintenance") == [date(2025, 4, 17), date(2025, 7, 17), date(2025, 10, 17)]
    assert totals(schedule, "maintenance").complete is False  # for life: cut by the horizon
    assert schedule.overall == PhaseTotals("overall", 9, 9, 9.0, None, MONDAY, date(2025, 10, 17), complete=False)
    assert schedule.undated_phases == ()


def test_alternate_days_until_no_further_improvement_is_provisional_to_the_horizon() -> None:
    phases = [
        make_phase("loading", every=2, ending=Ending.CLINICAL),
        make_phase("maintenance", kind=MAINTENANCE, every=2, unit=MONTH, ending=Ending.CONTINUING),
    ]
    horizon_end = date(2025, 3, 31)
    schedule = expand(phases, date(2025, 3, 1), horizon_end)

    assert dates(schedule) == [date(2025, 3, d) for d in range(1, 32, 2)]
    assert all(dose.provisional for dose in schedule.doses)
    assert schedule.undated_phases == ("maintenance",)
    assert schedule.maintenance_starts is None
    assert schedule.loading_ends is None
    assert totals(schedule, "loading").complete is False
    assert totals(schedule, "maintenance") == PhaseTotals("maintenance", 0, 0, 0.0, None, None, None, complete=False)
    assert schedule.overall.complete is False


def test_phases_after_an_undated_phase_are_undated_too() -> None:
    phases = [
        make_phase("daily", every=1, ending=Ending.CLINICAL),
        make_phase("twice weekly", times_per_week=2, ending=Ending.CLINICAL),
        make_phase("maintenance", kind=MAINTENANCE, every=3, unit=MONTH, ending=Ending.CONTINUING),
    ]
    schedule = expand(phases, MONDAY, MONDAY + timedelta(days=9))

    assert schedule.undated_phases == ("twice weekly", "maintenance")
    assert len(schedule.doses) == 10


def test_a_loading_phase_after_an_open_ended_one_has_no_end_date() -> None:
    phases = [make_phase("first", every=2, ending=Ending.CLINICAL), make_phase("second", doses=3)]

    assert expand(phases, MONDAY, MONDAY + timedelta(days=30)).loading_ends is None


def test_a_continuing_phase_runs_to_the_horizon_without_being_provisional() -> None:
    schedule = expand([make_phase(every=1, unit=WEEK, ending=Ending.CONTINUING)], MONDAY, date(2025, 2, 3))

    assert dates(schedule) == [
        date(2025, 1, 6),
        date(2025, 1, 13),
        date(2025, 1, 20),
        date(2025, 1, 27),
        date(2025, 2, 3),
    ]
    assert not any(dose.provisional for dose in schedule.doses)
    assert schedule.overall.complete is False


def test_us_fda_label_cyanocobalamin_switches_stage_one_interval_after_the_last_dose() -> None:
    """US-FDA-CN: 100 mcg daily ×7, alternate days ×7, every 3 days for 3 weeks, then monthly [S37]."""
    cn = Product.CYANOCOBALAMIN
    phases = [
        make_phase("daily", doses=7, dose_mg=0.1, product=cn),
        make_phase("alternate days", every=2, doses=7, dose_mg=0.1, product=cn),
        make_phase("every 3 days", every=3, ending=Ending.DURATION, duration_days=21, dose_mg=0.1, product=cn),
        make_phase("monthly", kind=MAINTENANCE, unit=MONTH, ending=Ending.CONTINUING, dose_mg=0.1, product=cn),
    ]
    schedule = expand(phases, date(2025, 1, 1), date(2025, 12, 31))

    assert dates(schedule, "daily") == [date(2025, 1, d) for d in range(1, 8)]
    assert dates(schedule, "alternate days") == [date(2025, 1, d) for d in range(9, 22, 2)]
    assert dates(schedule, "every 3 days") == [date(2025, 1, d) for d in (24, 27, 30)] + [
        date(2025, 2, d) for d in (2, 5, 8, 11)
    ]
    assert dates(schedule, "monthly") == [date(2025, m, 11) for m in range(3, 13)]
    assert schedule.loading_ends == date(2025, 2, 11)
    assert schedule.maintenance_starts == date(2025, 3, 11)
    assert [t.doses for t in schedule.phases] == [7, 7, 7, 10]
    assert [t.complete for t in schedule.phases] == [True, True, True, False]
    assert schedule.overall.mg == 3.1
    assert {dose.product for dose in schedule.doses} == {Product.CYANOCOBALAMIN}


def test_a_duration_excludes_the_day_it_ends_on() -> None:
    phase = make_phase(every=7, ending=Ending.DURATION, duration_days=14)

    assert dates(expand([phase], MONDAY, MONDAY + timedelta(days=60))) == [MONDAY, MONDAY + timedelta(days=7)]


def test_a_duration_of_zero_days_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        expand([make_phase(ending=Ending.DURATION, duration_days=0)], MONDAY, MONDAY)


def test_twice_weekly_after_daily_starts_three_days_after_the_last_daily_dose() -> None:
    """UK-TA-LEBER: daily for 14 days, then twice weekly while improving [S23]."""
    phases = [
        make_phase("daily", ending=Ending.DURATION, duration_days=14),
        make_phase("twice weekly", times_per_week=2, ending=Ending.CLINICAL),
    ]
    schedule = expand(phases, MONDAY, MONDAY + timedelta(days=30))

    assert dates(schedule, "daily")[-1] == date(2025, 1, 19)
    assert dates(schedule, "twice weekly")[:4] == [
        date(2025, 1, 22),
        date(2025, 1, 25),
        date(2025, 1, 29),
        date(2025, 2, 1),
    ]


def test_three_times_a_week_after_a_single_dose_starts_two_days_later() -> None:
    phases = [make_phase("test dose", doses=1), make_phase("loading", times_per_week=3, doses=3)]

    assert dates(expand(phases, MONDAY, MONDAY + timedelta(days=30))) == [
        MONDAY + timedelta(days=d) for d in (0, 2, 4, 6)
    ]


@pytest.mark.parametrize(
    ("year", "february"),
    [pytest.param(2027, 28, id="common-year"), pytest.param(2028, 29, id="leap-year")],
)
def test_monthly_from_january_31_never_skips_or_drifts(year: int, february: int) -> None:
    phase = make_phase(every=1, unit=MONTH, ending=Ending.CONTINUING)
    schedule = expand([phase], date(year, 1, 31), date(year, 12, 31))

    ends = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert dates(schedule) == [date(year, month, day) for month, day in zip(range(1, 13), ends, strict=True)]


def test_every_three_months_from_november_30_returns_to_the_30th_after_february() -> None:
    phase = make_phase(every=3, unit=MONTH, ending=Ending.CONTINUING)
    schedule = expand([phase], date(2027, 11, 30), date(2028, 12, 31))

    assert dates(schedule) == [
        date(2027, 11, 30),
        date(2028, 2, 29),
        date(2028, 5, 30),
        date(2028, 8, 30),
        date(2028, 11, 30),
    ]


def test_maintenance_anchored_on_a_clamped_first_dose_keeps_that_day() -> None:
    phases = [make_phase("loading", doses=1), make_phase("monthly", kind=MAINTENANCE, unit=MONTH, doses=3)]
    schedule = expand(phases, date(2025, 1, 31), date(2025, 12, 31))

    # Jan 31 + 1 month = Feb 28 is the phase's first dose, so its own months fall on the 28th.
    assert dates(schedule, "monthly") == [date(2025, 2, 28), date(2025, 3, 28), date(2025, 4, 28)]


def test_the_horizon_cuts_a_count_phase_and_still_dates_maintenance() -> None:
    schedule = expand(uk_im_nn(), MONDAY, date(2025, 1, 13))

    assert dates(schedule) == [date(2025, 1, 6), date(2025, 1, 8), date(2025, 1, 10), date(2025, 1, 13)]
    assert totals(schedule, "loading").complete is False
    assert totals(schedule, "maintenance").doses == 0
    assert schedule.loading_ends == date(2025, 1, 17)  # planned, after the horizon
    assert schedule.maintenance_starts == date(2025, 4, 17)
    assert schedule.undated_phases == ()


def test_a_dose_on_the_horizon_end_is_included() -> None:
    schedule = expand([make_phase(every=7, doses=3)], MONDAY, MONDAY + timedelta(days=14))

    assert dates(schedule)[-1] == MONDAY + timedelta(days=14)
    assert schedule.phases[0].complete


def test_a_one_day_horizon_holds_only_the_first_dose() -> None:
    schedule = expand(uk_im_nn(), MONDAY, MONDAY)

    assert dates(schedule) == [MONDAY]


def test_first_eight_weeks_and_first_year_totals_come_from_the_window() -> None:
    year_end = MONDAY + relativedelta(years=1) - timedelta(days=1)
    schedule = expand(uk_im_nn(), MONDAY, year_end)

    eight_weeks = schedule.in_window(MONDAY, MONDAY + timedelta(weeks=8) - timedelta(days=1))
    first_year = schedule.in_window(MONDAY, year_end)

    assert eight_weeks == PhaseTotals("window", 6, 6, 6.0, None, MONDAY, date(2025, 1, 17), complete=True)
    assert (first_year.doses, first_year.mg, first_year.last) == (9, 9.0, date(2025, 10, 17))
    assert first_year.complete


def test_a_window_past_the_horizon_is_incomplete() -> None:
    schedule = expand(uk_im_nn(), MONDAY, date(2025, 3, 31))

    window = schedule.in_window(MONDAY, date(2025, 12, 31))
    assert (window.doses, window.complete) == (6, False)


def test_a_window_with_provisional_doses_is_incomplete_but_one_before_them_is_not() -> None:
    phases = [make_phase("test dose", doses=1), make_phase("alternate", every=2, ending=Ending.CLINICAL)]
    schedule = expand(phases, MONDAY, MONDAY + timedelta(days=30))

    assert schedule.in_window(MONDAY, MONDAY + timedelta(days=1)).complete
    assert not schedule.in_window(MONDAY + timedelta(days=5), MONDAY + timedelta(days=6)).complete


def test_an_empty_window_has_no_dates() -> None:
    schedule = expand(uk_im_nn(), MONDAY, date(2025, 12, 31))

    assert schedule.in_window(date(2025, 2, 1), date(2025, 2, 28)) == PhaseTotals(
        "window", 0, 0, 0.0, None, None, None, complete=True
    )


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    schedule = expand(uk_im_nn(), MONDAY, date(2025, 12, 31))

    with pytest.raises(ValueError, match="before it starts"):
        schedule.in_window(date(2025, 2, 1), date(2025, 1, 1))


def test_volume_for_fills_millilitres_and_units_for_injected_phases_only() -> None:
    phases = [
        make_phase("loading", times_per_week=3, doses=6),
        make_phase("oral", kind=MAINTENANCE, every=1, dose_mg=1.0, route=Route.ORAL, ending=Ending.CONTINUING),
    ]
    calls: list[float] = []

    def one_mg_per_ml_on_u100(dose_mg: float) -> tuple[float, float | None]:
        calls.append(dose_mg)
        return dose_mg, dose_mg * 100

    schedule = expand(phases, MONDAY, MONDAY + timedelta(days=19), volume_for=one_mg_per_ml_on_u100)

    injected = [dose for dose in schedule.doses if dose.phase == "loading"]
    oral = [dose for dose in schedule.doses if dose.phase == "oral"]
    assert {(dose.volume_ml, dose.syringe_units) for dose in injected} == {(1.0, 100.0)}
    assert {(dose.volume_ml, dose.syringe_units) for dose in oral} == {(None, None)}
    assert totals(schedule, "loading").ml == 6.0
    assert totals(schedule, "oral").ml is None
    assert (schedule.overall.ml, schedule.overall.injections, schedule.overall.doses) == (
        6.0,
        6,
        6 + len(oral),
    )
    assert calls == [1.0]


def test_without_volume_for_volumes_and_millilitre_totals_stay_unknown() -> None:
    schedule = expand(uk_im_nn(), MONDAY, date(2025, 12, 31))

    assert {(dose.volume_ml, dose.syringe_units) for dose in schedule.doses} == {(None, None)}
    assert schedule.overall.ml is None


def test_milligram_totals_carry_no_float_noise() -> None:
    schedule = expand([make_phase(dose_mg=0.1, doses=3)], MONDAY, MONDAY + timedelta(days=5))

    assert schedule.overall.mg == 0.3


def test_a_horizon_before_the_start_is_a_case_error_on_the_horizon() -> None:
    with pytest.raises(CaseError) as caught:
        expand(uk_im_nn(), MONDAY, MONDAY - timedelta(days=1))

    assert caught.value.field == "horizon"
    assert isinstance(caught.value, ValueError)


def test_a_schedule_needs_a_phase() -> None:
    with pytest.raises(ValueError, match="at least one phase"):
        expand([], MONDAY, MONDAY)


def test_totals_refuse_more_injections_than_doses_and_dates_without_doses() -> None:
    with pytest.raises(ValueError, match="injections"):
        PhaseTotals("x", 1, 2, 1.0, None, MONDAY, MONDAY, complete=True)
    with pytest.raises(ValueError, match="first and last"):
        PhaseTotals("x", 0, 0, 0.0, None, MONDAY, None, complete=True)
