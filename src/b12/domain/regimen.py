"""Regimens as values: products, phases, frequencies, and the label ranges they came from.

A regimen is a sequence of phases (loading, then maintenance). Each phase keeps the label's own range
(dose, interval, count) beside the single value b12 schedules, so a clinician sees both. Where a label
gives a range, b12 schedules the full count or duration and the longer interval, and shows the range: the
clinician may choose within it (``Preferences.maintenance_interval_months``). Interval shortening is the
documented response to symptoms returning early (FU-UK [S16], VIGNETTES V30).

Phases end in one of four ways (:class:`Ending`): after a fixed number of doses, after a fixed duration,
on a clinical judgement ("until no further improvement", "while improving", "until blood count normal")
that only a clinician can make, or never (for life / while the cause persists). A phase that ends on a
judgement is open-ended: the schedule shows it up to the horizon, marks its doses provisional and adds
review checkpoints; it never invents the end date.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from b12.domain.case import Route


class Product(StrEnum):
    HYDROXOCOBALAMIN = "hydroxocobalamin"
    CYANOCOBALAMIN = "cyanocobalamin"


class PhaseKind(StrEnum):
    LOADING = "loading"
    MAINTENANCE = "maintenance"


class Ending(StrEnum):
    COUNT = "count"  # a fixed number of doses
    DURATION = "duration"  # as many doses as fit in a fixed number of days
    CLINICAL = "clinical"  # a clinician's judgement: open-ended, provisional doses, review checkpoints
    CONTINUING = "continuing"  # for life, or while the cause persists: runs to the horizon


class IntervalUnit(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Span:
    """A closed range from a label, e.g. every 2–3 months; ``low == high`` for a single value."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (0 < self.low <= self.high):
            raise ValueError(f"invalid range {self.low}–{self.high}")

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low:g}" if self.low == self.high else f"{self.low:g}–{self.high:g}"


@dataclass(frozen=True, slots=True)
class Frequency:
    """How often a phase gives a dose.

    Either a plain interval (``every`` ``unit``: every 2 days, every 3 months) or a weekly pattern of
    ``times_per_week`` doses (3 times a week -> days 0, 2, 4 of each week counted from the phase's
    first dose, i.e. Mon/Wed/Fri for a Monday start, as in the interop examples). ``every_range`` keeps
    the label's range for the interval; ``every`` is the value scheduled.
    """

    every: int
    unit: IntervalUnit
    every_range: Span | None = None
    times_per_week: int | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("an interval must be at least 1")
        if self.times_per_week is not None and (
            not 1 <= self.times_per_week <= 7 or self.unit is not IntervalUnit.WEEK or self.every != 1
        ):
            raise ValueError("a weekly pattern is 1–7 times every 1 week")
        if self.every_range is not None and self.every not in self.every_range:
            raise ValueError(f"scheduled interval {self.every} is outside the label range {self.every_range}")

    @property
    def approx_days(self) -> float:
        """Average days between doses, for comparisons only (never for dates)."""
        if self.times_per_week:
            return 7 / self.times_per_week
        return self.every * {IntervalUnit.DAY: 1.0, IntervalUnit.WEEK: 7.0, IntervalUnit.MONTH: 30.4375}[self.unit]

    def describe(self) -> str:
        if self.times_per_week:
            return {1: "once a week", 2: "twice a week"}.get(self.times_per_week, f"{self.times_per_week} times a week")
        span = str(self.every_range) if self.every_range else str(self.every)
        if span == "1":
            return {IntervalUnit.DAY: "daily", IntervalUnit.WEEK: "weekly", IntervalUnit.MONTH: "monthly"}[self.unit]
        if self.unit is IntervalUnit.DAY and span == "2":
            return "on alternate days"
        return f"every {span} {self.unit.value}s"


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of a regimen, as written in a guideline data file."""

    name: str
    kind: PhaseKind
    product: Product
    route: Route
    dose_mg: float
    dose_range_mg: Span
    frequency: Frequency
    ending: Ending
    rule: str
    sources: tuple[str, ...]
    text: str
    doses: int | None = None  # Ending.COUNT
    doses_range: Span | None = None
    duration_days: int | None = None  # Ending.DURATION
    until: str | None = None  # the label's stopping words, e.g. "no further improvement", "for life"
    gate: str | None = None  # a condition checked before this phase starts (e.g. a reticulocyte response)

    def __post_init__(self) -> None:
        if self.dose_mg not in self.dose_range_mg:
            raise ValueError(f"{self.name}: dose {self.dose_mg} mg is outside the label range {self.dose_range_mg} mg")
        if (self.ending is Ending.COUNT) != (self.doses is not None):
            raise ValueError(f"{self.name}: a count ending needs a number of doses, and only it")
        if (self.ending is Ending.DURATION) != (self.duration_days is not None):
            raise ValueError(f"{self.name}: a duration ending needs a number of days, and only it")
        if self.doses is not None and self.doses < 1:
            raise ValueError(f"{self.name}: at least one dose")
        if self.duration_days is not None and self.duration_days < 1:
            raise ValueError(f"{self.name}: a duration must be at least 1 day")
        if self.doses is not None and self.doses_range is not None and self.doses not in self.doses_range:
            raise ValueError(f"{self.name}: {self.doses} doses is outside the label range {self.doses_range}")

    @property
    def open_ended(self) -> bool:
        return self.ending in (Ending.CLINICAL, Ending.CONTINUING)

    @property
    def injected(self) -> bool:
        return self.route is Route.IM


@dataclass(frozen=True, slots=True)
class Regimen:
    """A named regimen of a guideline: its phases in order, the rule that defines it, and its sources."""

    id: str  # the rule ID, e.g. "UK-IM-NN"
    title: str
    product: Product
    route: Route
    phases: tuple[Phase, ...]
    sources: tuple[str, ...]
    lifelong: bool = False
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError(f"{self.id}: a regimen needs at least one phase")
        for earlier in self.phases[:-1]:
            if earlier.ending is Ending.CONTINUING:
                raise ValueError(f"{self.id}: only the last phase may continue indefinitely")
