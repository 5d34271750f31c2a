"""Dated schedules: a regimen's phases laid out on the calendar between a start date and a horizon.

:func:`expand` is a pure function of (phases, start, horizon end): no clock, no I/O. Its contract:

- the first dose of the first phase is on ``start``; each later phase starts one of its own intervals
  after the last dose of the phase before it (counted from that dose, as a dose tracker counts);
- no dose falls before ``start`` or after ``horizon_end`` (both inclusive); doses are sorted by date and
  strictly increasing within a phase;
- a phase ending on a clinical judgement (:attr:`Ending.CLINICAL`) runs to the horizon with provisional
  doses, and every phase after it is *undated*: b12 never invents the day a clinician will decide;
- calendar months are real months anchored on the phase's first dose (Jan 31 -> Feb 29 -> Mar 31), never
  an averaged 30.4-day month and never chained additions that drift or skip a month.

Volumes are not computed here: the caller passes ``volume_for`` (product strength and syringe live in
``units``), and only injected doses get one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import count, islice, takewhile

from dateutil.relativedelta import relativedelta
from dateutil.rrule import WEEKLY, rrule

from b12.domain.case import Route
from b12.domain.errors import CaseError
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product

VolumeFor = Callable[[float], tuple[float, float | None]]

_DECIMALS = 6  # totals are rounded to remove float noise (0.1 + 0.2), far below any dose or volume step


@dataclass(frozen=True, slots=True)
class ScheduledDose:
    date: date
    phase: str
    kind: PhaseKind
    dose_mg: float
    route: Route
    product: Product
    provisional: bool  # a dose of a phase that ends on clinical judgement
    volume_ml: float | None = None
    syringe_units: float | None = None

    @property
    def injected(self) -> bool:
        return self.route is Route.IM


@dataclass(frozen=True, slots=True)
class PhaseTotals:
    """Counts and sums over a set of doses; ``complete`` is False when the set is known only in part."""

    phase: str
    doses: int
    injections: int
    mg: float
    ml: float | None
    first: date | None
    last: date | None
    complete: bool

    def __post_init__(self) -> None:
        if not 0 <= self.injections <= self.doses:
            raise ValueError(f"{self.phase}: {self.injections} injections out of {self.doses} doses")
        if (self.first is None) != (self.doses == 0) or (self.last is None) != (self.doses == 0):
            raise ValueError(f"{self.phase}: first and last dates are given exactly when there are doses")


@dataclass(frozen=True, slots=True)
class Schedule:
    """Every dated dose between ``start`` and ``horizon_end``, with totals per phase and overall.

    ``loading_ends`` and ``maintenance_starts`` are the planned dates even when they fall after the
    horizon (a 4-week horizon still says when maintenance would begin); they are None only when absent
    or when they cannot be dated because an earlier phase is open-ended.
    """

    start: date
    horizon_end: date
    doses: tuple[ScheduledDose, ...]
    phases: tuple[PhaseTotals, ...]
    overall: PhaseTotals
    loading_ends: date | None
    maintenance_starts: date | None
    undated_phases: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_horizon(self.start, self.horizon_end)

    def in_window(self, first: date, last: date) -> PhaseTotals:
        """Totals of the doses dated ``first <= date <= last`` (e.g. the first 8 weeks, the first year).

        ``complete`` is False when the window reaches past the horizon or holds a provisional dose,
        since then the real count depends on dates or decisions the schedule does not know.
        """
        if last < first:
            raise ValueError(f"the window ends ({last}) before it starts ({first})")
        inside = [dose for dose in self.doses if first <= dose.date <= last]
        known = last <= self.horizon_end and not any(dose.provisional for dose in self.doses if dose.date <= last)
        return _totals("window", inside, complete=known)


def expand(
    phases: Sequence[Phase],
    start: date,
    horizon_end: date,
    volume_for: VolumeFor | None = None,
) -> Schedule:
    """Lay ``phases`` out from ``start`` to ``horizon_end`` inclusive; ``volume_for(mg) -> (mL, units)``."""
    _check_horizon(start, horizon_end)
    if not phases:
        raise ValueError("a schedule needs at least one phase")

    doses: list[ScheduledDose] = []
    totals: list[PhaseTotals] = []
    undated: list[str] = []
    loading_ends: date | None = None
    maintenance_starts: date | None = None
    seen_maintenance = False
    previous_last: date | None = None
    for index, phase in enumerate(phases):
        if phase.ending is Ending.DURATION and (phase.duration_days or 0) < 1:
            raise ValueError(f"{phase.name}: a duration ending needs at least 1 day")
        first = start if index == 0 else _following(phase.frequency, previous_last)
        if phase.kind is PhaseKind.MAINTENANCE and not seen_maintenance:
            seen_maintenance = True
            maintenance_starts = first
        dated: list[date] = []
        planned_last: date | None = None
        if first is None:
            # An earlier phase is open-ended, so this one has no start date until a clinician decides.
            undated.append(phase.name)
        else:
            dated, planned_last = _phase_dates(phase, first, horizon_end)
        phase_doses = _doses(phase, dated, volume_for)
        doses.extend(phase_doses)
        complete = planned_last is not None and planned_last <= horizon_end
        totals.append(_totals(phase.name, phase_doses, complete=complete))
        if phase.kind is PhaseKind.LOADING:
            loading_ends = planned_last
        previous_last = planned_last

    doses.sort(key=lambda dose: dose.date)  # stable: already in order, since phases follow one another
    overall = _totals("overall", doses, complete=all(t.complete for t in totals))
    return Schedule(
        start=start,
        horizon_end=horizon_end,
        doses=tuple(doses),
        phases=tuple(totals),
        overall=overall,
        loading_ends=loading_ends,
        maintenance_starts=maintenance_starts,
        undated_phases=tuple(undated),
    )


def week_offsets(times_per_week: int) -> tuple[int, ...]:
    """Day offsets of a weekly pattern, counted from the phase's first dose.

    Doses are spread as evenly as whole days allow, ``floor(7 k / n)`` for k = 0..n-1: 3 times a week ->
    0, 2, 4 (Mon/Wed/Fri from a Monday, as in the interop examples), twice a week -> 0, 3 (Mon/Thu),
    4 times -> 0, 1, 3, 5, 5 times -> 0, 1, 2, 4, 5, daily -> 0..6.
    """
    if not 1 <= times_per_week <= 7:
        raise ValueError("a weekly pattern is 1–7 times a week")
    return tuple(7 * k // times_per_week for k in range(times_per_week))


def _check_horizon(start: date, horizon_end: date) -> None:
    if horizon_end < start:
        raise CaseError("horizon", f"the schedule ends ({horizon_end}) before it starts ({start})")


def _dose_dates(frequency: Frequency, first: date) -> Iterator[date]:
    """Every dose date of a phase whose first dose is ``first``, without end."""
    if frequency.times_per_week:
        weekdays = [(first + timedelta(days=offset)).weekday() for offset in week_offsets(frequency.times_per_week)]
        # WEEKLY with interval 1 takes every listed weekday of every week, so the week start (WKST) does
        # not matter; dtstart is one of the listed days, so it is the first occurrence.
        rule = rrule(WEEKLY, byweekday=weekdays, dtstart=datetime.combine(first, time()))
        return (occurrence.date() for occurrence in rule)
    if frequency.unit is IntervalUnit.MONTH:
        # Each date is anchored on the first dose, never added to the previous one: relativedelta clamps
        # to the month's last day (Jan 31 + 1 month = Feb 28/29) and the next month returns to the 31st.
        # RFC 5545 FREQ=MONTHLY would skip months lacking the day: "Recurrence rules may generate
        # recurrence instances with an invalid date (e.g., February 30) [...]. Such recurrence instances
        # MUST be ignored and MUST NOT be counted as part of the recurrence set." (§3.3.10)
        return (first + relativedelta(months=k * frequency.every) for k in count())
    step = timedelta(days=frequency.every) if frequency.unit is IntervalUnit.DAY else timedelta(weeks=frequency.every)
    return (first + k * step for k in count())


def _following(frequency: Frequency, previous_last: date | None) -> date | None:
    """The first dose of a phase: one of its own intervals after the previous phase's last dose.

    "Counted from the dose actually given": the new phase's rhythm is started on the previous last
    dose and its second date taken. For a weekly pattern that is the pattern's first gap,
    ``week_offsets(n)[1] = floor(7 / n)`` days (2 for 3 times a week, 3 for twice a week, 7 for once).
    """
    if previous_last is None:
        return None
    return next(islice(_dose_dates(frequency, previous_last), 1, None))


def _phase_dates(phase: Phase, first: date, horizon_end: date) -> tuple[list[date], date | None]:
    """The phase's dates within the horizon, and its planned last date (None when open-ended)."""
    candidates = _dose_dates(phase.frequency, first)
    planned: list[date]
    if phase.ending is Ending.COUNT and phase.doses is not None:
        # "Ending.COUNT: a fixed number of doses", even when the last ones fall after the horizon.
        planned = list(islice(candidates, phase.doses))
    elif phase.ending is Ending.DURATION and phase.duration_days is not None:
        # "as many doses as fit in a fixed number of days": dates before first + duration_days.
        end = first + timedelta(days=phase.duration_days)
        planned = list(takewhile(lambda day: day < end, candidates))
    else:
        # Open-ended (clinical judgement, or for life): shown up to the horizon, never given an end.
        return list(takewhile(lambda day: day <= horizon_end, candidates)), None
    return [day for day in planned if day <= horizon_end], planned[-1]


def _doses(phase: Phase, dates: Sequence[date], volume_for: VolumeFor | None) -> list[ScheduledDose]:
    volume_ml, units = (
        volume_for(phase.dose_mg) if volume_for is not None and phase.injected and dates else (None, None)
    )
    return [
        ScheduledDose(
            date=day,
            phase=phase.name,
            kind=phase.kind,
            dose_mg=phase.dose_mg,
            route=phase.route,
            product=phase.product,
            provisional=phase.ending is Ending.CLINICAL,
            volume_ml=volume_ml,
            syringe_units=units,
        )
        for day in dates
    ]


def _totals(name: str, doses: Sequence[ScheduledDose], *, complete: bool) -> PhaseTotals:
    volumes = [dose.volume_ml for dose in doses if dose.volume_ml is not None]
    return PhaseTotals(
        phase=name,
        doses=len(doses),
        injections=sum(1 for dose in doses if dose.injected),
        mg=round(math.fsum(dose.dose_mg for dose in doses), _DECIMALS),
        ml=round(math.fsum(volumes), _DECIMALS) if volumes else None,
        first=min((dose.date for dose in doses), default=None),
        last=max((dose.date for dose in doses), default=None),
        complete=complete,
    )
