"""Tracking a course of treatment: the facts b12 stores, and everything recomputed from them.

Only facts are stored (the rule of hass-medication_tracker): a course as prescribed, doses given, doses
skipped, symptom scores, reactions, lab results and clinicians' amendments. Phase, next dose (counted from
the dose actually given), overdue, adherence, the suggested injection site, reviews due, totals and red
flags are functions of those facts and a date passed in — never stored, never read from a clock here.

:func:`course_status` is that function. Its contract:

- Only facts dated on or before ``today`` count (doses by ``at``, skips by ``due``, amendments by when they
  were recorded), so the status of any past day can be recomputed. A dose's day is ``at.date()`` in the
  time zone the datetime carries.
- The prescribed phases are walked in order, each dose given or skipped filling the slot that was due:
  a COUNT phase takes ``doses`` slots, a DURATION phase runs ``duration_days`` from its first slot, a
  CLINICAL phase runs until an END_LOADING amendment, a CONTINUING phase runs for ever. A skipped dose
  fills its slot too (the schedule moves on; adherence counts it as skipped).
- The next dose is counted from the last slot filled: its date + the phase's interval (calendar months
  with ``relativedelta``; weekly patterns step through :func:`~b12.domain.schedule.week_offsets`); before
  any dose it is the course start. A new phase starts one of its own intervals after the last dose.
- Amendments apply from their ``effective`` date: END_LOADING ends every loading phase still running and
  the first maintenance phase follows; SWITCH_ROUTE starts another regimen of the course's guideline on
  that date; STOP ends the course; SET_MAINTENANCE_INTERVAL changes the maintenance interval for every
  due date reached on or after it (a due date already passed before it stays); REVIEW records a review.
- Adherence tolerances (:func:`tolerance_days`) and the red-flag definitions below are b12 choices; each
  alert names its rule ID and sources. Rule IDs come from the guideline data where one fits
  (NEURO-URGENT, FU-UK, FU-PROGRESS, SAFE-K, DX-RECENT-INJ, FU-NO-RETEST, SAFE-COBALT, a regimen's own ID);
  :data:`TRACKING_RULES` lists the few b12 adds, with their basis.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import count

from dateutil.relativedelta import relativedelta

from b12.domain.alerts import Alert, Severity, severity_order
from b12.domain.analytes import Analyte
from b12.domain.case import Route
from b12.domain.errors import CaseError, UnitError, UnknownGuidelineError
from b12.domain.guidelines import Guideline, find_rule, load_common, load_guideline
from b12.domain.prescription import check_against_guideline
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product
from b12.domain.schedule import ScheduledDose, expand, week_offsets
from b12.domain.units import (
    Dimension,
    Strength,
    Syringe,
    dose_volume,
    parse_strength,
    parse_syringe,
    quantity,
)

SYMPTOM_SCALE = range(0, 11)  # 0 = none, 10 = worst imaginable


class TrackedSymptom(StrEnum):
    """The symptom diary's vocabulary (issue 3), scored 0–10."""

    FATIGUE = "fatigue"
    PARAESTHESIA = "paraesthesia"  # includes numbness
    BALANCE = "balance"
    MEMORY = "memory"
    MOOD = "mood"
    GLOSSITIS = "glossitis"
    VISION = "vision"


# Diary symptoms whose worsening is a neurological red flag (contact the clinician promptly).
NEUROLOGICAL_DIARY: frozenset[TrackedSymptom] = frozenset(
    {TrackedSymptom.PARAESTHESIA, TrackedSymptom.BALANCE, TrackedSymptom.VISION, TrackedSymptom.MEMORY}
)

DEFAULT_SITES: tuple[str, ...] = (
    "left deltoid",
    "right deltoid",
    "left thigh",
    "right thigh",
    "left buttock",
    "right buttock",
)


class AmendmentKind(StrEnum):
    SET_MAINTENANCE_INTERVAL = "set_maintenance_interval"  # params: {"months": int}
    END_LOADING = "end_loading"  # ends an open-ended phase ("no further improvement") on `effective`
    SWITCH_ROUTE = "switch_route"  # params: {"regimen": str} — a regimen ID of the course's guideline
    STOP = "stop"  # the course ends on `effective`
    REVIEW = "review"  # a clinician reviewed the course (FU-UK); the schedule is unchanged


@dataclass(frozen=True, slots=True)
class Course:
    """A plan instance: what was prescribed, from which guideline and version, starting when."""

    id: str
    patient_id: str
    guideline: str
    guideline_version: str
    regimen_id: str | None  # None when the patient entered a prescription that matches no regimen
    phases: tuple[Phase, ...]
    product: Product
    strength: str  # as written on the label, e.g. "1000 mcg/mL"
    syringe: str | None  # "U-100", "U-40" or None for oral/nasal
    start: date
    created_by: str  # user id
    created_at: datetime
    lifelong: bool = False
    sites: tuple[str, ...] = DEFAULT_SITES
    source_text: str | None = None  # the prescription line as the patient typed it, if any
    # FU-UK: review 3 months after starting, 1 month when pregnant or breastfeeding [S6]; None: no review.
    review_months: int | None = 3
    # Treatment started for anaemia or macrocytosis: the FU-PROGRESS blood checks apply (day 7, 10, 56).
    anaemia: bool = False
    # SAFE-K: intensive treatment of (severe) anaemia, potassium checked in the first 48 hours.
    potassium_first_48h: bool = False

    def __post_init__(self) -> None:
        if not self.phases:
            raise CaseError("phases", "a course needs at least one phase")
        if self.review_months is not None and not 1 <= self.review_months <= 24:
            raise CaseError("review_months", "a review is 1 to 24 months after the start")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Course) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class DoseGiven:
    id: str
    course_id: str
    at: datetime
    dose_mg: float
    product: Product
    route: Route
    given_by: str  # user id, or free text such as "practice nurse"
    site: str | None = None
    batch: str | None = None
    expiry: date | None = None
    reaction: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.dose_mg > 0:
            raise CaseError("dose_mg", "a dose given must be more than 0 mg")


@dataclass(frozen=True, slots=True)
class DoseSkipped:
    id: str
    course_id: str
    due: date  # the due date that was skipped
    at: datetime  # when the skip was recorded
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SymptomEntry:
    id: str
    patient_id: str
    at: datetime
    scores: Mapping[TrackedSymptom, int]
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.scores:
            raise CaseError("scores", "score at least one symptom")
        for symptom, score in self.scores.items():
            if score not in SYMPTOM_SCALE:
                raise CaseError(f"scores.{symptom}", f"{score} is not a score from 0 to 10")


@dataclass(frozen=True, slots=True)
class Reaction:
    id: str
    dose_id: str
    at: datetime
    description: str
    severe: bool = False


@dataclass(frozen=True, slots=True)
class LabEntry:
    """A lab result as reported (original value and unit) beside its normalised value."""

    id: str
    patient_id: str
    taken: date
    analyte: Analyte
    value: float
    unit: str
    normalised_value: float
    normalised_unit: str
    upper_limit: float | None = None
    lower_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Amendment:
    """A clinician's recorded change to a course, with a reason; the schedule is recomputed from it."""

    id: str
    course_id: str
    at: datetime
    by: str
    kind: AmendmentKind
    effective: date
    reason: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise CaseError("reason", "an amendment needs a reason")


@dataclass(frozen=True, slots=True)
class History:
    """Every fact of one course, as read from a repository."""

    course: Course
    doses: tuple[DoseGiven, ...] = ()
    skips: tuple[DoseSkipped, ...] = ()
    amendments: tuple[Amendment, ...] = ()
    symptoms: tuple[SymptomEntry, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    labs: tuple[LabEntry, ...] = ()


# =====================================================================================================
# Everything below is recomputed from the facts above: pure functions of a History and a date.
# =====================================================================================================

# Rule IDs b12 adds for tracking, where neither REFERENCE.md §11 nor the guideline data has one.
TRACKING_RULES: Mapping[str, str] = {
    "TRK-OVERDUE": "A dose is overdue by more than the adherence tolerance (tolerance_days): b12's own prompt. "
    "No source read sets a tolerance or says what to do about a late dose; the next dose is counted from the "
    "dose actually given, as the schedule module does.",
    "TRK-EXPIRED": "A dose recorded as given after the expiry date of its batch: b12's own check of the facts "
    "entered (no source).",
}

# Adherence: how far from its due date a dose still counts as on time. A b12 choice, no source sets one:
# 1 day for intervals up to a week (alternate days, 3 times a week, weekly), 3 days for 8–27 days
# (fortnightly), 7 days for four-weekly, monthly and longer intervals.
TOLERANCE_SHORT_DAYS = 1
TOLERANCE_MEDIUM_DAYS = 3
TOLERANCE_LONG_DAYS = 7

# Symptom diary: a rise of this many points on the 0–10 scale counts as worsening or as symptoms coming
# back (a b12 choice: a 1-point change is within the noise of a self-rated scale; no source sets one).
WORSENING_POINTS = 2

# DX-RECENT-INJ: "serum B12 is uninterpretable within 2 weeks of an injection"; the same 0–14 day window
# as b12.domain.labs.RECENT_INJECTION_DAYS (a same-day sample may have been drawn after the dose).
RECENT_INJECTION_DAYS = 14

# FU-PROGRESS, "no reticulocyte response by day 10": the label expects reticulocytosis on days 3–10 [S42],
# counting the first dose as day 1, so a result taken 9 or more days after the first dose is judged; up to
# day 56, when counts should have normalised [S55][S56][S57] and reticulocytes fall back anyway.
RETIC_JUDGED_FROM_DAY = 9
RETIC_JUDGED_UNTIL_DAY = 56
# "Haemoglobin should start rising by the end of the first week" [S55][S56].
HB_JUDGED_FROM_DAY = 7

# SAFE-K: "Serum potassium must be observed closely for the first 48 hours" [S40]. After the 48 hours
# b12 keeps saying that no result was recorded for 5 more days (to day 7, the reticulocyte peak, when
# the erythroid response — and the hypokalaemia risk — is at its height [S55]); low potassium is flagged
# in the first 14 days.
POTASSIUM_WINDOW_DAYS = 2
POTASSIUM_MISSED_UNTIL_DAY = 7
POTASSIUM_LOW_UNTIL_DAY = 14

# A review up to 14 days before its due date counts as done; a review or blood test due within 14 days is
# announced; a planned blood test is past due 7 days after its date (b12 choices, no source).
REVIEW_EARLY_DAYS = 14
LAB_GRACE_DAYS = 7
UPCOMING_DEFAULT = 5

# The US label's monitoring applies to its own regimens (as in b12.domain.plan): potassium in 48 hours.
_US_LABEL_MONITORED = frozenset({"US-FDA-CN", "US-FDA-OH"})


def tolerance_days(frequency: Frequency) -> int:
    """How many days from its due date a dose still counts as on time (see the module constants)."""
    days = frequency.approx_days
    if days <= 7:
        return TOLERANCE_SHORT_DAYS
    if days < 28:
        return TOLERANCE_MEDIUM_DAYS
    return TOLERANCE_LONG_DAYS


class CourseState(StrEnum):
    NOT_STARTED = "not_started"  # no dose given yet
    ACTIVE = "active"
    COMPLETE = "complete"  # every phase is done (a course without a continuing phase)
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class PhaseProgress:
    """The phase the next dose belongs to, and how far into it the course is."""

    index: int
    name: str
    kind: PhaseKind
    ending: Ending
    text: str
    slots_filled: int  # doses given or skipped in this phase
    doses_planned: int | None  # COUNT phases
    ends_before: date | None  # DURATION phases once started: the phase runs up to the day before
    until: str | None

    @property
    def provisional(self) -> bool:
        """The phase ends on a clinician's judgement, so its dates are provisional."""
        return self.ending is Ending.CLINICAL


@dataclass(frozen=True, slots=True)
class NextDose:
    due: date
    phase: str
    kind: PhaseKind
    dose_mg: float
    product: Product
    route: Route
    provisional: bool
    overdue_days: int  # days past due (0 when not yet due)
    volume_ml: float | None = None
    syringe_units: float | None = None
    site: str | None = None  # the suggested injection site, for an injected dose

    @property
    def injected(self) -> bool:
        return self.route is Route.IM


@dataclass(frozen=True, slots=True)
class Adherence:
    """Doses given, skipped and missed against their due dates (tolerances: :func:`tolerance_days`).

    Every dose given is exactly one of ``on_time``, ``late``, ``early`` or ``unscheduled`` (given when no
    dose was due: after the course stopped or ended). ``missed`` counts due dates that passed by more than
    the tolerance with nothing recorded for them, within what the phase still had to give.
    """

    on_time: int = 0
    late: int = 0
    early: int = 0
    skipped: int = 0
    missed: int = 0
    unscheduled: int = 0

    @property
    def given(self) -> int:
        return self.on_time + self.late + self.early + self.unscheduled

    @property
    def due(self) -> int:
        """Due dates reached so far: given (on time, late or early), skipped or missed."""
        return self.on_time + self.late + self.early + self.skipped + self.missed

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.due if self.due else None


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over the doses given so far; ``ml`` over injected doses, None without injections or strength."""

    doses: int
    injections: int
    mg: float
    ml: float | None


class CheckpointKind(StrEnum):
    REVIEW = "review"
    LABS = "labs"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A review or a blood test expected on a date, and whether the facts show it was done."""

    due: date
    kind: CheckpointKind
    tests: tuple[str, ...]
    text: str
    rule: str
    sources: tuple[str, ...]
    done_on: date | None
    overdue: bool


@dataclass(frozen=True, slots=True)
class CourseStatus:
    """Everything recomputed for one course on one day (see :func:`course_status`)."""

    course_id: str
    today: date
    state: CourseState
    regimen_id: str | None  # the regimen in force (changed by SWITCH_ROUTE)
    phases: tuple[Phase, ...]  # the phases in force, with an amended maintenance interval applied
    phase: PhaseProgress | None
    next_dose: NextDose | None
    adherence: Adherence
    totals: Totals
    suggested_site: str | None
    reviews: tuple[Checkpoint, ...]
    checkpoints: tuple[Checkpoint, ...]  # blood tests: FU-PROGRESS and the SAFE-K potassium check
    upcoming: tuple[ScheduledDose, ...]
    alerts: tuple[Alert, ...]  # most severe first
    last_dose: date | None
    stopped_on: date | None

    @property
    def overdue_days(self) -> int:
        return self.next_dose.overdue_days if self.next_dose else 0

    @property
    def red_flags(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.severity is not Severity.INFO)


# --- stepping through a phase's rhythm ------------------------------------------------------------------


def _step(frequency: Frequency, anchor: date, position: int) -> date:
    """The next due date after a dose at ``position`` (0-based) in its phase, given on ``anchor``."""
    if frequency.times_per_week:
        # The weekly pattern's own gaps (schedule.week_offsets): 3 a week -> 2, 2, 3 days.
        offsets = week_offsets(frequency.times_per_week)
        n = len(offsets)
        here, there = offsets[position % n], offsets[(position + 1) % n]
        return anchor + timedelta(days=there - here + (7 if (position + 1) % n == 0 else 0))
    if frequency.unit is IntervalUnit.MONTH:
        return anchor + relativedelta(months=frequency.every)
    days = frequency.every * (7 if frequency.unit is IntervalUnit.WEEK else 1)
    return anchor + timedelta(days=days)


def _rhythm(frequency: Frequency, first: date, position: int) -> Iterator[date]:
    """``first`` (a due date at ``position``) and every later due date of the phase, without end."""
    if frequency.unit is IntervalUnit.MONTH and not frequency.times_per_week:
        # Anchored on ``first``, never chained (Jan 31 -> Feb 29 -> Mar 31), as schedule.expand does.
        yield from (first + relativedelta(months=k * frequency.every) for k in count())
        return
    day = first
    for k in count(position):
        yield day
        day = _step(frequency, day, k)


def _amended(frequency: Frequency, months: int) -> Frequency:
    label = frequency.every_range if frequency.unit is IntervalUnit.MONTH and not frequency.times_per_week else None
    return Frequency(every=months, unit=IntervalUnit.MONTH, every_range=label if label and months in label else None)


def _months(amendment: Amendment) -> int:
    months = amendment.params.get("months")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise CaseError("params.months", f"amendment {amendment.id}: months must be a whole number of at least 1")
    return months


# --- lab entries ----------------------------------------------------------------------------------------

# The unit each analyte is normalised to. Total B12 in ng/L, the unit of the NICE bands (DX-TOT); active B12
# in pmol/L, the only unit it is reported in; reticulocytes stay a percentage or a count, since one cannot be
# converted into the other without the red cell count.
LAB_UNITS: Mapping[Analyte, str] = {
    Analyte.B12_TOTAL: "ng/L",
    Analyte.B12_ACTIVE: "pmol/L",
    Analyte.MMA: "nmol/L",
    Analyte.HOMOCYSTEINE: "µmol/L",
    Analyte.HEMOGLOBIN: "g/L",
    Analyte.MCV: "fL",
    Analyte.FOLATE: "nmol/L",
    Analyte.POTASSIUM: "mmol/L",
}


def normalise_lab(analyte: Analyte, value: float, unit: str) -> tuple[float, str]:
    """``value`` in ``unit`` as (value, unit) in the analyte's normalised unit (:data:`LAB_UNITS`).

    Raises :class:`~b12.domain.errors.UnitError` for a unit outside the vocabulary, a conversion that needs
    what b12 does not have, or an implausible value.
    """
    typed = quantity(value, unit)
    target = LAB_UNITS.get(analyte)
    if target is None:  # reticulocytes: the canonical unit of the same dimension
        target = {Dimension.FRACTION: "%", Dimension.NUMBER_CONCENTRATION: "10^9/L"}.get(
            typed.unit.dimension, typed.unit.symbol
        )
    converted = typed.to(target, analyte=analyte.value)
    # Rounded to remove float noise (0.35 × 1000), far below any assay's precision.
    return round(converted.value, 6), converted.unit.symbol


# --- the walk through the phases ------------------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    day: date
    due: date | None  # None: nothing was due (course complete or stopped)
    phase: Phase | None
    tolerance: int
    dose: DoseGiven | None  # None for a skip


@dataclass(slots=True)
class _Walk:
    """The course's position as the facts are replayed in date order."""

    guideline: Guideline | None
    intervals: tuple[Amendment, ...]  # SET_MAINTENANCE_INTERVAL, by effective date
    phases: tuple[Phase, ...]
    regimen_id: str | None
    start: date  # due date of the first slot (course start, or the date of a route switch)
    index: int = 0
    in_phase: int = 0  # slots filled in phases[index]
    phase_first: date | None = None
    anchor: date | None = None  # the last slot filled, in the regimen in force
    stopped: date | None = None
    missed: int = 0
    maintenance_since: date | None = None
    clinical_since: date | None = None
    clinical_ended: date | None = None
    slots: list[_Slot] = field(default_factory=list)

    def frequency(self, phase: Phase, on: date) -> Frequency:
        """The phase's frequency in force on ``on``: a maintenance interval amended before it applies."""
        if phase.kind is PhaseKind.MAINTENANCE:
            in_force = [a for a in self.intervals if a.effective <= on]
            if in_force:
                return _amended(phase.frequency, _months(in_force[-1]))
        return phase.frequency

    def _due(self, phase: Phase, anchor: date, position: int) -> date:
        due = _step(self.frequency(phase, anchor), anchor, position)
        if phase.kind is PhaseKind.MAINTENANCE:
            # An amended interval applies to a due date not yet reached on its effective date; if the
            # new interval has already run out by then, the dose is due on the effective date itself.
            for amendment in self.intervals:
                if anchor < amendment.effective <= due:
                    amended = _amended(phase.frequency, _months(amendment))
                    due = max(amendment.effective, _step(amended, anchor, position))
        return due

    def _complete(self, phase: Phase, due: date) -> bool:
        if phase.ending is Ending.COUNT and phase.doses is not None:
            return self.in_phase >= phase.doses
        if phase.ending is Ending.DURATION and phase.duration_days is not None and self.phase_first is not None:
            return due >= self.phase_first + timedelta(days=phase.duration_days)
        return False

    def pending(self) -> tuple[date, int] | None:
        """The next due date and the index of its phase; None when the course is complete or stopped."""
        if self.index >= len(self.phases):
            return None
        if self.anchor is None:
            due, index = self.start, self.index
        else:
            phase = self.phases[self.index]
            index = self.index
            due = self._due(phase, self.anchor, max(self.in_phase - 1, 0))
            if self.in_phase and self._complete(phase, due):
                index += 1
                if index >= len(self.phases):
                    return None
                # "Counted from the dose actually given": a phase starts one of its own intervals after
                # the last dose of the phase before it (schedule._following).
                due = self._due(self.phases[index], self.anchor, 0)
        if self.stopped is not None and due >= self.stopped:
            return None
        return due, index

    def _enter(self, index: int) -> None:
        self.index, self.in_phase, self.phase_first = index, 0, None

    def _remaining(self, index: int) -> int | None:
        phase = self.phases[index]
        if phase.ending is not Ending.COUNT or phase.doses is None:
            return None
        return phase.doses - (self.in_phase if index == self.index else 0)

    def late_slots(self, due: date, index: int, deadline: date) -> int:
        """Due dates of the phase from ``due`` on that passed their tolerance before ``deadline``."""
        phase = self.phases[index]
        frequency = self.frequency(phase, due)
        tolerance = tolerance_days(frequency)
        remaining = self._remaining(index)
        end: date | None = None
        if phase.ending is Ending.DURATION and phase.duration_days is not None:
            first = self.phase_first if index == self.index and self.phase_first else due
            end = first + timedelta(days=phase.duration_days)
        position = self.in_phase if index == self.index else 0
        late = 0
        for day in _rhythm(frequency, due, position):
            if day + timedelta(days=tolerance) >= deadline or (end is not None and day >= end):
                break
            if remaining is not None and late >= remaining:
                break
            if self.stopped is not None and day >= self.stopped:
                break
            late += 1
        return late

    def fill(self, day: date, dose: DoseGiven | None) -> None:
        """A dose given (or, with ``dose`` None, skipped) on ``day`` fills the slot that was due."""
        pending = self.pending()
        if pending is None:
            self.slots.append(_Slot(day, None, None, 0, dose))
            return
        due, index = pending
        # The slot this fact fills is not missed; any later due dates that passed meanwhile are.
        self.missed += max(0, self.late_slots(due, index, day) - 1)
        if index != self.index:
            self._enter(index)
        phase = self.phases[index]
        self.in_phase += 1
        self.phase_first = self.phase_first or day
        self.anchor = day
        if phase.kind is PhaseKind.MAINTENANCE and self.maintenance_since is None:
            self.maintenance_since = day
        if phase.ending is Ending.CLINICAL and self.clinical_since is None:
            self.clinical_since = day
        self.slots.append(_Slot(day, due, phase, tolerance_days(self.frequency(phase, due)), dose))

    def end_loading(self, effective: date) -> None:
        pending = self.pending()
        current = pending[1] if pending else self.index
        if current >= len(self.phases) or self.phases[current].kind is not PhaseKind.LOADING:
            return  # loading has already ended
        if any(p.ending is Ending.CLINICAL for p in self.phases[current:] if p.kind is PhaseKind.LOADING):
            self.clinical_ended = effective
        following = next(
            (i for i in range(current, len(self.phases)) if self.phases[i].kind is not PhaseKind.LOADING),
            len(self.phases),
        )
        self._enter(following)

    def switch(self, amendment: Amendment) -> None:
        regimen_id = amendment.params.get("regimen")
        if self.guideline is None or not isinstance(regimen_id, str) or regimen_id not in self.guideline.regimens:
            raise CaseError(
                "params.regimen", f"amendment {amendment.id}: {regimen_id!r} is not a regimen of the guideline"
            )
        phases = self.guideline.regimens[regimen_id].phases
        names = [p.name for p in phases]
        start_phase = amendment.params.get("phase")
        if start_phase is not None and start_phase not in names:
            raise CaseError("params.phase", f"amendment {amendment.id}: {regimen_id} has no phase {start_phase!r}")
        self.phases, self.regimen_id, self.start, self.anchor = phases, regimen_id, amendment.effective, None
        self.maintenance_since = None
        self._enter(names.index(start_phase) if isinstance(start_phase, str) else 0)


def _guideline(course: Course) -> Guideline | None:
    try:
        return load_guideline(course.guideline)
    except UnknownGuidelineError:
        return None


def _walk(history: History, today: date) -> _Walk:
    course = history.course
    recorded = [a for a in history.amendments if a.at.date() <= today]
    walk = _Walk(
        guideline=_guideline(course),
        intervals=tuple(
            sorted(
                (a for a in recorded if a.kind is AmendmentKind.SET_MAINTENANCE_INTERVAL),
                key=lambda a: (a.effective, a.at.date(), a.at.time()),
            )
        ),
        phases=course.phases,
        regimen_id=course.regimen_id,
        start=course.start,
    )
    # Same-day order: a phase ended or a route switched on a day applies to that day's dose; a stop
    # applies after it ("the course ends on `effective`").
    events: list[tuple[date, int, int, Amendment | DoseGiven | DoseSkipped]] = []
    for n, amendment in enumerate(sorted(recorded, key=lambda a: (a.at.date(), a.at.time(), a.id))):
        if amendment.kind in (AmendmentKind.END_LOADING, AmendmentKind.SWITCH_ROUTE):
            events.append((amendment.effective, 0, n, amendment))
        elif amendment.kind is AmendmentKind.STOP:
            events.append((amendment.effective, 2, n, amendment))
    doses = sorted((d for d in history.doses if d.at.date() <= today), key=lambda d: (d.at.date(), d.at.time(), d.id))
    events.extend((dose.at.date(), 1, n, dose) for n, dose in enumerate(doses))
    skips = sorted((s for s in history.skips if s.at.date() <= today), key=lambda s: (s.due, s.at.date(), s.id))
    events.extend((skip.due, 1, len(doses) + n, skip) for n, skip in enumerate(skips))
    for day, _order, _n, fact in sorted(events, key=lambda e: e[:3]):
        if isinstance(fact, DoseGiven):
            walk.fill(day, fact)
        elif isinstance(fact, DoseSkipped):
            walk.fill(day, None)
        elif fact.kind is AmendmentKind.END_LOADING:
            walk.end_loading(day)
        elif fact.kind is AmendmentKind.SWITCH_ROUTE:
            walk.switch(fact)
        elif walk.stopped is None:
            walk.stopped = day
    return walk


# --- volumes, sites, totals -----------------------------------------------------------------------------


def _strength(course: Course) -> Strength | None:
    try:
        return parse_strength(course.strength)
    except UnitError:
        return None


def _syringe(course: Course) -> Syringe | None:
    if course.syringe is None:
        return None
    try:
        return parse_syringe(course.syringe)
    except UnitError:
        return None


def _volume(dose_mg: float, strength: Strength | None, syringe: Syringe | None) -> tuple[float | None, float | None]:
    if strength is None:
        return None, None
    try:
        result = dose_volume(quantity(dose_mg, "mg"), strength, syringe)
    except UnitError:
        return None, None
    return result.volume_ml, result.syringe_units


def suggested_site(sites: Sequence[str], doses: Sequence[DoseGiven]) -> str | None:
    """The least recently used of ``sites``; a site never used comes first, in the list's order."""
    if not sites:
        return None
    last_used: dict[str, datetime] = {}
    keys = {site.strip().casefold(): site for site in sites}
    for dose in doses:
        if dose.site is not None and (key := dose.site.strip().casefold()) in keys:
            site = keys[key]
            if site not in last_used or _moment(dose.at) >= _moment(last_used[site]):
                last_used[site] = dose.at
    never = [site for site in sites if site not in last_used]
    if never:
        return never[0]
    return min(sites, key=lambda site: _moment(last_used[site]))


def _moment(at: datetime) -> tuple[date, float]:
    """Sortable without comparing naive and aware datetimes."""
    return at.date(), at.time().hour * 3600 + at.time().minute * 60 + at.time().second + at.time().microsecond / 1e6


def totals(doses: Sequence[DoseGiven], strength: Strength | None) -> Totals:
    injected = [d for d in doses if d.route is Route.IM]
    volumes = [_volume(d.dose_mg, strength, None)[0] for d in injected]
    known = [v for v in volumes if v is not None]
    return Totals(
        doses=len(doses),
        injections=len(injected),
        mg=round(math.fsum(d.dose_mg for d in doses), 6),
        ml=round(math.fsum(known), 6) if injected and len(known) == len(injected) else None,
    )


def _upcoming(
    walk: _Walk, due: date, index: int, limit: int, strength: Strength | None, syringe: Syringe | None
) -> tuple[ScheduledDose, ...]:
    """The next ``limit`` doses from ``due``, laid out by schedule.expand on the phases still to run."""
    if limit < 1:
        return ()
    phase = walk.phases[index]
    frequency = walk.frequency(phase, due)
    started = index == walk.index and walk.in_phase > 0
    position = walk.in_phase if started else 0
    # expand() starts a weekly pattern at its first offset; start it where the course is in the pattern
    # (a virtual start that many days earlier) and drop the dates before ``due``.
    skipped = position % frequency.times_per_week if frequency.times_per_week else 0
    virtual = due - timedelta(days=week_offsets(frequency.times_per_week)[skipped] if frequency.times_per_week else 0)
    current = replace(phase, frequency=frequency)
    if phase.ending is Ending.COUNT and phase.doses is not None:
        current = replace(current, doses=phase.doses - (walk.in_phase if started else 0) + skipped, doses_range=None)
    elif phase.ending is Ending.DURATION and phase.duration_days is not None:
        first = walk.phase_first if started and walk.phase_first else due
        end = first + timedelta(days=phase.duration_days)
        current = replace(current, duration_days=(end - virtual).days)
    later = tuple(replace(p, frequency=walk.frequency(p, due)) for p in walk.phases[index + 1 :])
    longest = max(p.frequency.approx_days for p in (current, *later))
    horizon = due + timedelta(days=math.ceil(longest * (limit + 1)) + 31)

    def volume_for(dose_mg: float) -> tuple[float, float | None]:
        volume, units = _volume(dose_mg, strength, syringe)
        return (volume if volume is not None else math.nan), units

    schedule = expand((current, *later), virtual, horizon, volume_for if strength is not None else None)
    doses = [d for d in schedule.doses if d.date >= due and (walk.stopped is None or d.date < walk.stopped)]
    return tuple(
        replace(d, volume_ml=None, syringe_units=None) if d.volume_ml is not None and math.isnan(d.volume_ml) else d
        for d in doses[:limit]
    )


# --- red flags and prompts ------------------------------------------------------------------------------


def _rule_sources(rule_id: str, guideline: Guideline | None) -> tuple[str, ...]:
    try:
        return find_rule(rule_id, guideline.id if guideline else "uk").sources
    except UnknownGuidelineError:
        return ()


def _name(symptom: TrackedSymptom) -> str:
    return symptom.value.replace("_", " ")


def _when(day: date) -> str:
    return day.isoformat()


def _neurological(entries: Sequence[SymptomEntry], guideline: Guideline | None) -> list[Alert]:
    """NEURO-URGENT: a neurological diary symptom new (never above 0 before) or 2+ points above its best.

    The first diary entry is the baseline: there is nothing to be new or worse than.
    """
    if len(entries) < 2:
        return []
    latest, earlier = entries[-1], entries[:-1]
    changes: list[str] = []
    for symptom in sorted(NEUROLOGICAL_DIARY & set(latest.scores), key=lambda s: s.value):
        score = latest.scores[symptom]
        before = [e.scores[symptom] for e in earlier if symptom in e.scores]
        if score >= 1 and (not before or max(before) == 0):
            changes.append(f"{_name(symptom)} new ({score}/10)")
        elif before and score >= min(before) + WORSENING_POINTS:
            changes.append(f"{_name(symptom)} {min(before)} → {score} (its best before was {min(before)})")
    if not changes:
        return []
    return [
        Alert(
            "NEURO-URGENT",
            Severity.CRITICAL,
            f"New or worsening neurological symptoms in the diary on {_when(latest.at.date())}: "
            f"{'; '.join(changes)}. Contact your clinician promptly; with neurological involvement the "
            "guidance is urgent specialist advice.",
            _rule_sources("NEURO-URGENT", guideline),
        )
    ]


def _returning(
    walk: _Walk,
    due: date,
    phase: Phase,
    doses: Sequence[DoseGiven],
    entries: Sequence[SymptomEntry],
    guideline: Guideline | None,
) -> list[Alert]:
    """FU-UK (IM branch, V30): symptoms back 2+ points above their best since maintenance began, recorded
    after the last maintenance dose and before the next one is due."""
    since = walk.maintenance_since
    if phase.kind is not PhaseKind.MAINTENANCE or since is None:
        return []
    last = max((d.at.date() for d in doses if d.at.date() >= since), default=None)
    window = [e for e in entries if e.at.date() >= since]
    if last is None or len(window) < 2 or not last < window[-1].at.date() < due:
        return []
    latest, earlier = window[-1], window[:-1]
    back: list[str] = []
    for symptom in sorted(latest.scores, key=lambda s: s.value):
        before = [e.scores[symptom] for e in earlier if symptom in e.scores]
        if before and latest.scores[symptom] >= min(before) + WORSENING_POINTS:
            back.append(f"{_name(symptom)} {min(before)} → {latest.scores[symptom]}")
    if not back:
        return []
    weeks = (latest.at.date() - last).days // 7
    in_force = walk.frequency(phase, due)
    label = phase.frequency.every_range
    if label is not None and phase.frequency.unit is IntervalUnit.MONTH:
        if in_force.every > label.low:
            range_text = (
                f"the label range is every {label} months and the course is at every {in_force.every}: "
                f"a clinician may shorten it to every {label.low:g} months"
            )
        else:
            range_text = (
                f"the course is already at the shortest interval of the label range (every {label} months): "
                "anything shorter is the clinician's decision outside the label"
            )
    else:
        range_text = (
            f"the label gives {phase.frequency.describe()}: a shorter interval is the clinician's decision "
            "outside the label"
        )
    return [
        Alert(
            "FU-UK",
            Severity.WARNING,
            f"Symptoms came back {weeks} weeks after the last dose ({_when(last)}), before the next one due on "
            f"{_when(due)}: {'; '.join(back)}. Ask your clinician to review the maintenance interval — "
            f"{range_text}. After IM treatment, new, worsening or not sufficiently improved symptoms are met by "
            "more frequent injections in line with the product information.",
            tuple(dict.fromkeys((*_rule_sources("FU-UK", guideline), "S16", "S19", *phase.sources))),
        )
    ]


def _reactions(reactions: Sequence[Reaction], doses: Sequence[DoseGiven], guideline: Guideline | None) -> list[Alert]:
    """SAFE-COBALT / MHRA: any reaction after the latest dose; a severe one after any dose."""
    if not doses:
        return []
    by_id = {d.id: d for d in doses}
    latest = doses[-1]
    found: list[tuple[DoseGiven, str, bool]] = [
        (d, d.reaction, False) for d in doses if d.reaction and d.reaction.strip()
    ]
    found += [(by_id[r.dose_id], r.description, r.severe) for r in reactions if r.dose_id in by_id]
    alerts: list[Alert] = []
    sources = _rule_sources("SAFE-COBALT", guideline)
    for dose, description, severe in found:
        if dose.id != latest.id and not severe:
            continue
        alerts.append(
            Alert(
                "SAFE-COBALT",
                Severity.CRITICAL if severe else Severity.WARNING,
                f"{'A severe' if severe else 'A'} reaction was recorded after the dose of {_when(dose.at.date())}: "
                f"{description.strip()}. Tell your clinician before the next dose. Reactions may come at once or up "
                "to 72 hours after an injection (MHRA); cobalt or B12 sensitivity is a contraindication on the US "
                "label.",
                sources,
            )
        )
    return alerts


def _latest(
    labs: Sequence[LabEntry], analyte: Analyte, first: date | None = None, last: date | None = None
) -> LabEntry | None:
    matching = [
        e
        for e in labs
        if e.analyte is analyte and (first is None or e.taken >= first) and (last is None or e.taken <= last)
    ]
    return max(matching, key=lambda e: e.taken) if matching else None


def _potassium(
    course: Course,
    regimen_id: str | None,
    labs: Sequence[LabEntry],
    first: date | None,
    today: date,
    guideline: Guideline | None,
) -> tuple[list[Alert], list[Checkpoint]]:
    """SAFE-K: potassium within 48 h of starting intensive treatment of severe anaemia; low potassium."""
    alerts: list[Alert] = []
    checkpoints: list[Checkpoint] = []
    sources = _rule_sources("SAFE-K", guideline)
    watched = course.potassium_first_48h or regimen_id in _US_LABEL_MONITORED
    if first is not None:
        low = _latest(labs, Analyte.POTASSIUM, first, first + timedelta(days=POTASSIUM_LOW_UNTIL_DAY))
        if low is not None and low.lower_limit is not None and low.value < low.lower_limit:
            alerts.append(
                Alert(
                    "SAFE-K",
                    Severity.CRITICAL,
                    f"Low potassium on {_when(low.taken)}: {low.value:g} {low.unit}, below the lab's lower limit "
                    f"{low.lower_limit:g} {low.unit}, early in treatment. Hypokalaemia and sudden death may occur "
                    "when severe megaloblastic anaemia is treated intensely: contact the clinician today.",
                    sources,
                )
            )
    if not watched:
        return alerts, checkpoints
    if first is None:
        alerts.append(
            Alert(
                "SAFE-K",
                Severity.INFO,
                "Plan a potassium check within 48 hours of the first dose (intensive treatment of anaemia).",
                sources,
            )
        )
        return alerts, checkpoints
    due = first + timedelta(days=POTASSIUM_WINDOW_DAYS)
    done = _latest(labs, Analyte.POTASSIUM, first, due)
    checkpoints.append(
        Checkpoint(
            due,
            CheckpointKind.LABS,
            (Analyte.POTASSIUM.value,),
            "Potassium within the first 48 hours of intensive treatment.",
            "SAFE-K",
            sources,
            done.taken if done else None,
            done is None and today > due,
        )
    )
    if done is None and today <= due:
        alerts.append(
            Alert(
                "SAFE-K",
                Severity.WARNING,
                f"Potassium check due by {_when(due)}: serum potassium must be watched closely in the first 48 "
                "hours of intensive treatment of anaemia (hypokalaemia risk).",
                sources,
            )
        )
    elif done is None and today <= first + timedelta(days=POTASSIUM_MISSED_UNTIL_DAY):
        alerts.append(
            Alert(
                "SAFE-K",
                Severity.WARNING,
                f"No potassium result was recorded in the first 48 hours after the first dose ({_when(first)}): "
                "tell the clinician; the hypokalaemia risk is highest while the blood count recovers.",
                sources,
            )
        )
    return alerts, checkpoints


def _response(course: Course, labs: Sequence[LabEntry], first: date | None) -> list[Alert]:
    """FU-PROGRESS (V28): no reticulocyte response by day 10, or haemoglobin not rising after a week."""
    if first is None:
        return []
    problems: list[str] = []
    retic = _latest(
        labs,
        Analyte.RETICULOCYTES,
        first + timedelta(days=RETIC_JUDGED_FROM_DAY),
        first + timedelta(days=RETIC_JUDGED_UNTIL_DAY),
    )
    if retic is not None:
        baseline = _latest(labs, Analyte.RETICULOCYTES, last=first)
        if baseline is not None and baseline.normalised_unit == retic.normalised_unit:
            if retic.normalised_value <= baseline.normalised_value:
                problems.append(
                    f"reticulocytes {retic.value:g} {retic.unit} on {_when(retic.taken)} have not increased from "
                    f"{baseline.value:g} {baseline.unit} before treatment"
                )
        elif retic.upper_limit is not None and retic.value <= retic.upper_limit:
            problems.append(
                f"reticulocytes {retic.value:g} {retic.unit} on {_when(retic.taken)} are not above the lab's upper "
                f"limit {retic.upper_limit:g} {retic.unit}"
            )
    hb = _latest(labs, Analyte.HEMOGLOBIN, first + timedelta(days=HB_JUDGED_FROM_DAY))
    hb_baseline = _latest(labs, Analyte.HEMOGLOBIN, last=first)
    anaemic = hb_baseline is not None and (
        course.anaemia or (hb_baseline.lower_limit is not None and hb_baseline.value < hb_baseline.lower_limit)
    )
    if (
        hb is not None
        and hb_baseline is not None
        and anaemic
        and hb.normalised_unit == hb_baseline.normalised_unit
        and hb.normalised_value <= hb_baseline.normalised_value
    ):
        problems.append(
            f"haemoglobin {hb.value:g} {hb.unit} on {_when(hb.taken)} has not risen from {hb_baseline.value:g} "
            f"{hb_baseline.unit} before treatment"
        )
    if not problems:
        return []
    progress = load_common().progress
    return [
        Alert(
            "FU-PROGRESS",
            Severity.WARNING,
            f"No haematological response: {'; '.join(problems)}. {progress['no_response']['text']} "
            "Do not just continue the schedule: the clinician re-evaluates.",
            tuple(dict.fromkeys((*progress["no_response"]["sources"], *progress["reticulocytes"]["sources"]))),
        )
    ]


_PROGRESS_TESTS: Mapping[str, tuple[Analyte, ...]] = {
    "hemoglobin": (Analyte.HEMOGLOBIN,),
    "reticulocytes": (Analyte.RETICULOCYTES,),
    "counts": (Analyte.HEMOGLOBIN, Analyte.MCV),
}


def _lab_checkpoints(
    course: Course, labs: Sequence[LabEntry], first: date | None, today: date
) -> tuple[list[Checkpoint], list[Alert]]:
    """FU-PROGRESS checkpoints (common.toml [progress]) for a course started for anaemia, from the first dose.

    A checkpoint on day d counts as done by a result of one of its tests taken from day ⌈d/2⌉ on (a b12
    choice: a result that early already shows the response being looked for).
    """
    if not course.anaemia or first is None:
        return [], []
    progress = load_common().progress
    checkpoints: list[Checkpoint] = []
    alerts: list[Alert] = []
    for key, analytes in _PROGRESS_TESTS.items():
        entry = progress[key]
        day = int(entry["day"])
        due = first + timedelta(days=day)
        results = [
            e.taken for e in labs if e.analyte in analytes and e.taken >= first + timedelta(days=math.ceil(day / 2))
        ]
        done = min(results) if results else None
        overdue = done is None and today > due + timedelta(days=LAB_GRACE_DAYS)
        checkpoint = Checkpoint(
            due,
            CheckpointKind.LABS,
            tuple(a.value for a in analytes),
            str(entry["text"]),
            "FU-PROGRESS",
            tuple(entry["sources"]),
            done,
            overdue,
        )
        checkpoints.append(checkpoint)
        if overdue:
            tests = " and ".join(_LAB_NAMES.get(a, a.value) for a in analytes)
            alerts.append(
                Alert(
                    "FU-PROGRESS",
                    Severity.WARNING,
                    f"The blood test planned for {_when(due)} ({tests}) has no result recorded: {entry['text']} "
                    "Ask for the test, or enter its result.",
                    checkpoint.sources,
                )
            )
    return checkpoints, alerts


_LAB_NAMES: Mapping[Analyte, str] = {
    Analyte.B12_TOTAL: "total B12",
    Analyte.B12_ACTIVE: "active B12",
    Analyte.HEMOGLOBIN: "haemoglobin",
    Analyte.MCV: "MCV",
    Analyte.RETICULOCYTES: "reticulocytes",
    Analyte.POTASSIUM: "potassium",
}


def _recent_b12(
    labs: Sequence[LabEntry], doses: Sequence[DoseGiven], walk: _Walk, guideline: Guideline | None
) -> list[Alert]:
    """DX-RECENT-INJ on the latest B12 results; FU-NO-RETEST once maintenance is established."""
    alerts: list[Alert] = []
    injections = [d.at.date() for d in doses if d.route is Route.IM]
    for analyte in (Analyte.B12_TOTAL, Analyte.B12_ACTIVE):
        result = _latest(labs, analyte)
        if result is None:
            continue
        before = [day for day in injections if day <= result.taken]
        if before and (result.taken - max(before)).days <= RECENT_INJECTION_DAYS:
            alerts.append(
                Alert(
                    "DX-RECENT-INJ",
                    Severity.WARNING,
                    f"The {_LAB_NAMES[analyte]} result of {_when(result.taken)} ({result.value:g} {result.unit}) was "
                    f"taken {(result.taken - max(before)).days} days after the injection of {_when(max(before))}: "
                    "serum B12 is not interpretable within 2 weeks of an injection (Mayo test catalogue, quoted in "
                    "the team's interop notes; not in REFERENCE §12 — verify).",
                    _rule_sources("DX-RECENT-INJ", guideline),
                )
            )
        elif walk.maintenance_since is not None and result.taken > walk.maintenance_since:
            alerts.append(
                Alert(
                    "FU-NO-RETEST",
                    Severity.INFO,
                    f"A {_LAB_NAMES[analyte]} result was entered on {_when(result.taken)} during maintenance: B12 "
                    "levels are not needed for people established on long-term replacement, and injections are not "
                    "adjusted by serum B12 (BNSSG).",
                    _rule_sources("FU-NO-RETEST", guideline),
                )
            )
    return alerts


def _reviews(
    course: Course,
    walk: _Walk,
    first: date | None,
    amendments: Sequence[Amendment],
    today: date,
    guideline: Guideline | None,
) -> tuple[list[Checkpoint], list[Alert]]:
    """FU-UK: a review ``review_months`` after starting; repeated while a phase ending on clinical judgement
    is running (as the plan does). An amendment recorded from 14 days before a review counts as that review.
    """
    months = course.review_months
    if months is None:
        return [], []
    base = first or course.start
    followup = guideline.settings.get("followup") if guideline else None
    text = str(followup["expect"]) if followup else "Review with the clinician: symptoms, blood count, the interval."
    sources = tuple(followup["expect_sources"]) if followup else _rule_sources("FU-UK", guideline)
    reviewed = sorted(a.at.date() for a in amendments)
    checkpoints: list[Checkpoint] = []
    alerts: list[Alert] = []
    for k in range(1, 241):
        due = base + relativedelta(months=months * k)
        if walk.stopped is not None and due > walk.stopped:
            break
        done = next((day for day in reviewed if day >= due - timedelta(days=REVIEW_EARLY_DAYS)), None)
        overdue = done is None and today > due
        checkpoints.append(
            Checkpoint(
                due, CheckpointKind.REVIEW, ("symptoms", "full blood count"), text, "FU-UK", sources, done, overdue
            )
        )
        if overdue:
            alerts.append(
                Alert(
                    "FU-UK",
                    Severity.WARNING,
                    f"The review due on {_when(due)} ({months * k} months after starting) has not been recorded: "
                    "book it with your clinician.",
                    sources,
                )
            )
        elif done is None and due - timedelta(days=REVIEW_EARLY_DAYS) <= today:
            alerts.append(
                Alert("FU-UK", Severity.INFO, f"A review with your clinician is due on {_when(due)}.", sources)
            )
        clinical = walk.clinical_since is not None and walk.clinical_since <= due < (walk.clinical_ended or date.max)
        if due > today or not clinical:
            break
    return checkpoints, alerts


def course_status(history: History, today: date, *, upcoming: int = UPCOMING_DEFAULT) -> CourseStatus:
    """The status of a course on ``today``, recomputed from its facts (see the module docstring)."""
    course = history.course
    walk = _walk(history, today)
    guideline = walk.guideline
    doses = sorted((d for d in history.doses if d.at.date() <= today), key=lambda d: _moment(d.at))
    symptoms = sorted((e for e in history.symptoms if e.at.date() <= today), key=lambda e: _moment(e.at))
    labs = sorted((e for e in history.labs if e.taken <= today), key=lambda e: e.taken)
    reactions = [r for r in history.reactions if r.at.date() <= today]
    amendments = [a for a in history.amendments if a.at.date() <= today]
    strength, syringe = _strength(course), _syringe(course)
    first = doses[0].at.date() if doses else None

    pending = walk.pending()
    alerts: list[Alert] = []
    next_dose: NextDose | None = None
    progress: PhaseProgress | None = None
    coming: tuple[ScheduledDose, ...] = ()
    site: str | None = None
    if pending is not None:
        due, index = pending
        phase = walk.phases[index]
        frequency = walk.frequency(phase, due)
        tolerance = tolerance_days(frequency)
        walk.missed += walk.late_slots(due, index, today)
        overdue = max(0, (today - due).days)
        volume, units = _volume(phase.dose_mg, strength, syringe) if phase.injected else (None, None)
        site = suggested_site(course.sites, doses) if phase.injected else None
        next_dose = NextDose(
            due,
            phase.name,
            phase.kind,
            phase.dose_mg,
            phase.product,
            phase.route,
            phase.ending is Ending.CLINICAL,
            overdue,
            volume,
            units,
            site,
        )
        started = index == walk.index
        progress = PhaseProgress(
            index=index,
            name=phase.name,
            kind=phase.kind,
            ending=phase.ending,
            text=phase.text,
            slots_filled=walk.in_phase if started else 0,
            doses_planned=phase.doses if phase.ending is Ending.COUNT else None,
            ends_before=(
                walk.phase_first + timedelta(days=phase.duration_days)
                if started and walk.phase_first and phase.duration_days is not None
                else None
            ),
            until=phase.until,
        )
        coming = _upcoming(walk, due, index, upcoming, strength, syringe)
        alerts += _returning(walk, due, phase, doses, symptoms, guideline)
        if overdue > tolerance:
            alerts.append(
                Alert(
                    "TRK-OVERDUE",
                    Severity.WARNING,
                    f"The dose due on {_when(due)} is {overdue} days overdue: give it, or record it as skipped. "
                    "The next dose is counted from the day it is given.",
                )
            )
        if phase.ending is Ending.CLINICAL:
            alerts.append(
                Alert(
                    phase.rule,
                    Severity.INFO,
                    f"{phase.text[:1].upper()}{phase.text[1:]}: this phase ends on a clinician's judgement "
                    f"({phase.until or 'no end date'}), so its dates are provisional. At each dose the clinician "
                    "assesses whether improvement continues; when it does not, they end loading and maintenance "
                    "is scheduled from the last dose.",
                    phase.sources,
                )
            )

    adherence = Adherence(
        on_time=sum(1 for s in walk.slots if s.dose and s.due and abs((s.day - s.due).days) <= s.tolerance),
        late=sum(1 for s in walk.slots if s.dose and s.due and (s.day - s.due).days > s.tolerance),
        early=sum(1 for s in walk.slots if s.dose and s.due and (s.due - s.day).days > s.tolerance),
        skipped=sum(1 for s in walk.slots if s.dose is None),
        missed=walk.missed,
        unscheduled=sum(1 for s in walk.slots if s.dose and s.due is None),
    )
    if walk.stopped is not None and (walk.stopped <= today or pending is None):
        state = CourseState.STOPPED
    elif pending is None:
        state = CourseState.COMPLETE
    elif not doses:
        state = CourseState.NOT_STARTED
    else:
        state = CourseState.ACTIVE

    potassium_alerts, potassium_checks = _potassium(course, walk.regimen_id, labs, first, today, guideline)
    lab_checks, lab_alerts = _lab_checkpoints(course, labs, first, today)
    reviews, review_alerts = _reviews(course, walk, first, amendments, today, guideline)
    for dose in doses:
        if dose.expiry is not None and dose.expiry < dose.at.date():
            alerts.append(
                Alert(
                    "TRK-EXPIRED",
                    Severity.WARNING,
                    f"The dose of {_when(dose.at.date())} was recorded from a batch"
                    f"{f' ({dose.batch})' if dose.batch else ''} that expired on {_when(dose.expiry)}: tell your "
                    "clinician.",
                )
            )
    in_force = tuple(replace(p, frequency=walk.frequency(p, pending[0] if pending else today)) for p in walk.phases)
    if guideline is not None and state is not CourseState.STOPPED:
        alerts += check_against_guideline(
            in_force, guideline, regimen_id=walk.regimen_id, strength=strength, syringe=syringe
        )
    ordered = [
        *_neurological(symptoms, guideline),
        *_reactions(reactions, doses, guideline),
        *potassium_alerts,
        *_response(course, labs, first),
        *lab_alerts,
        *review_alerts,
        *_recent_b12(labs, doses, walk, guideline),
        *alerts,
    ]
    unique = list(dict.fromkeys(ordered))
    return CourseStatus(
        course_id=course.id,
        today=today,
        state=state,
        regimen_id=walk.regimen_id,
        phases=in_force,
        phase=progress,
        next_dose=next_dose,
        adherence=adherence,
        totals=totals(doses, strength),
        suggested_site=site,
        reviews=tuple(reviews),
        checkpoints=tuple(sorted(potassium_checks + lab_checks, key=lambda c: c.due)),
        upcoming=coming,
        alerts=tuple(sorted(unique, key=severity_order)),
        last_dose=doses[-1].at.date() if doses else None,
        stopped_on=walk.stopped,
    )
