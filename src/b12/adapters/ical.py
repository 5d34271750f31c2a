"""A course's dated schedule -> iCalendar text (RFC 5545), for an ``.ics`` download or a subscription URL.

Values in, bytes out: no clock (``now`` stamps DTSTAMP), no I/O. Each dated dose is its own VEVENT rather
than one RRULE per phase: the dates come from :func:`b12.domain.schedule.expand`, which anchors calendar
months on the first dose (Jan 31 -> Feb 28 -> Mar 31), so the calendar shows exactly the schedule b12
computed. An RRULE cannot promise that: "Recurrence rules may generate recurrence instances with an
invalid date (e.g., February 30) [...]. Such recurrence instances MUST be ignored" (RFC 5545 §3.3.10), so
``FREQ=MONTHLY`` from the 31st skips every shorter month. An open-ended phase is covered up to the
horizon the caller chose; a subscription URL re-issues the calendar with a later horizon.

UIDs are stable (course, date, phase), so a re-issued calendar updates events in place rather than
duplicating them. The shape follows ``shared/interop/examples/b12-schedule.ics``: timed events in the
patient's time zone with ``DURATION:PT15M`` and a ``VALARM`` ``ACTION:DISPLAY`` ``TRIGGER:-PT2H``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import TRANSP, Alarm, Calendar, Event

from b12.domain.case import Route
from b12.domain.plan import FollowUp, FollowUpKind
from b12.domain.regimen import Phase
from b12.domain.schedule import ScheduledDose
from b12.domain.tracking import Course
from b12.domain.units import format_number

__all__ = ["DISCLAIMER", "PRODID", "course_calendar", "dose_summary", "dose_uid"]

PRODID = "-//b12//course schedule//EN"
DISCLAIMER = "b12 is decision support; check with your clinician."
DOSE_DURATION = timedelta(minutes=15)
DOSE_TIME = time(10, 0)  # the example calendar's time of day; the patient may choose another
REFRESH = timedelta(hours=12)  # how often a subscribed calendar is fetched again

_ROUTE_TEXT = {Route.IM: "IM", Route.ORAL: "oral", Route.NASAL: "nasal"}
_ROUTE_WORDS = {Route.IM: "by intramuscular injection", Route.ORAL: "by mouth", Route.NASAL: "nasal spray"}
_FOLLOWUP_TITLES = {
    FollowUpKind.REVIEW: "Review with your clinician",
    FollowUpKind.LABS: "Blood test due",
    FollowUpKind.MONITORING: "Monitoring due",
}
_TEST_NAMES = {
    "b12_total": "total B12",
    "b12_active": "active B12",
    "mma": "MMA",
    "hemoglobin": "haemoglobin",
    "hematocrit": "haematocrit",
    "mcv": "MCV",
}
_SLUG = re.compile(r"[^a-z0-9]+")


def dose_text(dose_mg: float) -> str:
    """``1 mg``, ``1.5 mg``; below 1 mg in micrograms written out (``50 micrograms``), as UK labels do."""
    if dose_mg < 1:
        return f"{format_number(dose_mg * 1000)} micrograms"
    return f"{format_number(dose_mg)} mg"


def dose_summary(dose: ScheduledDose) -> str:
    """``Hydroxocobalamin 1 mg IM (maintenance)``; ``(loading, provisional)`` for a provisional dose."""
    label = f"{dose.phase}, provisional" if dose.provisional else dose.phase
    return f"{dose.product.value.capitalize()} {dose_text(dose.dose_mg)} {_ROUTE_TEXT[dose.route]} ({label})"


def dose_uid(course: Course, dose: ScheduledDose) -> str:
    """Stable across re-issues of the calendar: the course, the date and the phase."""
    return f"{course.id}-{dose.date:%Y%m%d}-{_slug(dose.phase)}@b12"


def course_calendar(
    course: Course,
    doses: Sequence[ScheduledDose],
    *,
    now: datetime,
    followups: Sequence[FollowUp] = (),
    tz: str = "Europe/London",
    reminder: timedelta | None = timedelta(hours=2),
    followup_reminder: timedelta | None = timedelta(hours=15),
    dose_time: time = DOSE_TIME,
    calendar_name: str = "B12 injections",
    url: str | None = None,
) -> bytes:
    """The course's dated ``doses`` (and ``followups``) as an iCalendar file.

    ``reminder`` is how long before each dose a display alarm fires (None: no alarm). Follow-ups (reviews,
    blood tests) are all-day events; ``followup_reminder`` is counted back from their midnight, so the
    default of 15 hours reminds at 09:00 the day before. ``url`` is where the calendar is published (a
    subscription URL): it is written with a refresh interval for calendar clients.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (it is written as a UTC DTSTAMP)")
    zone = ZoneInfo(tz)
    stamp = now.astimezone(UTC).replace(microsecond=0)
    calendar = Calendar.new(
        prodid=PRODID,
        uid=f"{course.id}@b12",
        name=calendar_name,
        description=f"{_course_line(course)} {DISCLAIMER}",
        url=url,
        source=url,
        refresh_interval=REFRESH if url else None,
    )
    calendar.add("X-WR-TIMEZONE", tz)
    if url:
        calendar.add("X-PUBLISHED-TTL", "PT12H")  # Outlook's spelling of REFRESH-INTERVAL (REFRESH)
    phases = {phase.name: phase for phase in course.phases}
    for dose in sorted(doses, key=lambda d: d.date):
        calendar.add_component(_dose_event(course, dose, phases.get(dose.phase), zone, stamp, reminder, dose_time))
    seen: set[str] = set()
    for followup in followups:
        calendar.add_component(_followup_event(course, followup, stamp, followup_reminder, seen))
    calendar.add_missing_timezones()
    text: bytes = calendar.to_ical()  # icalendar leaves to_ical untyped
    return text


def _dose_event(
    course: Course,
    dose: ScheduledDose,
    phase: Phase | None,
    zone: ZoneInfo,
    stamp: datetime,
    reminder: timedelta | None,
    dose_time: time,
) -> Event:
    lines = [f"{dose.product.value.capitalize()} {dose_text(dose.dose_mg)} {_ROUTE_WORDS[dose.route]}."]
    lines.append(f"{dose.phase.capitalize()} phase.")
    volume = _volume_line(course, dose)
    if volume:
        lines.append(volume)
    if dose.provisional:
        until = phase.until if phase is not None and phase.until else "a clinician's judgement"
        lines.append(
            f"Provisional: this phase continues until {until}; a clinician decides when it ends, "
            "and later dates may change."
        )
    if phase is not None:
        lines.append(f"Rule {phase.rule}: {phase.text}. Sources: {', '.join(phase.sources) or 'none'}.")
    elif course.regimen_id:
        lines.append(f"Regimen {course.regimen_id}.")
    lines.append(_course_line(course))
    lines.append(DISCLAIMER)
    event = Event.new(
        uid=dose_uid(course, dose),
        stamp=stamp,
        start=datetime.combine(dose.date, dose_time, tzinfo=zone),
        summary=dose_summary(dose),
        description="\n".join(lines),
        categories=["B12", dose.kind.value],
    )
    event.DURATION = DOSE_DURATION
    if reminder is not None:
        what = "injection" if dose.injected else "dose"
        event.add_component(_alarm(f"B12 {what} due: {dose_summary(dose)}", reminder))
    return event


def _followup_event(
    course: Course, followup: FollowUp, stamp: datetime, reminder: timedelta | None, seen: set[str]
) -> Event:
    tests = ", ".join(_TEST_NAMES.get(test, test.replace("_", " ")) for test in followup.tests)
    summary = f"{_FOLLOWUP_TITLES[followup.kind]}: {tests}" if tests else _FOLLOWUP_TITLES[followup.kind]
    base = f"{course.id}-{followup.date:%Y%m%d}-{followup.kind.value}-{_slug(followup.rule)}-{_slug(tests)}"
    uid, suffix = base, 1
    while uid in seen:  # two follow-ups alike on the same day: keep both, keep UIDs unique
        suffix += 1
        uid = f"{base}-{suffix}"
    seen.add(uid)
    lines = [f"{followup.expect}" if followup.expect else summary + "."]
    lines.append(f"Rule {followup.rule}. Sources: {', '.join(followup.sources) or 'none'}.")
    lines.append(_course_line(course))
    lines.append(DISCLAIMER)
    event = Event.new(
        uid=f"{uid}@b12",
        stamp=stamp,
        start=followup.date,
        end=followup.date + timedelta(days=1),
        summary=summary,
        description="\n".join(lines),
        categories=["B12", followup.kind.value],
        transparency=TRANSP.TRANSPARENT,
    )
    if reminder is not None:
        event.add_component(_alarm(summary, reminder))
    return event


def _alarm(description: str, before: timedelta) -> Alarm:
    alarm = Alarm.new(description=description)
    alarm.add("ACTION", "DISPLAY")
    alarm.add("TRIGGER", -before)
    return alarm


def _volume_line(course: Course, dose: ScheduledDose) -> str | None:
    if dose.volume_ml is None:
        return None
    text = f"Draw up {format_number(dose.volume_ml)} mL of {course.strength}"
    if dose.syringe_units is not None and course.syringe:
        text += f" = {format_number(dose.syringe_units)} units on a {course.syringe} syringe"
    return text + "."


def _course_line(course: Course) -> str:
    regimen = f", regimen {course.regimen_id}" if course.regimen_id else ""
    return f"Course {course.id}: guideline {course.guideline} {course.guideline_version}{regimen}."


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "x"
