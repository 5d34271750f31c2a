"""The .ics export: generate -> parse with icalendar -> compare with the schedule it came from."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from dateutil.rrule import MONTHLY, rrule
from icalendar import Calendar, Component, Event

from b12.adapters.ical import DISCLAIMER, course_calendar
from b12.domain.case import Route
from b12.domain.guidelines import find_regimen
from b12.domain.plan import FollowUp, FollowUpKind
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Span
from b12.domain.schedule import ScheduledDose, expand
from b12.domain.tracking import Course
from b12.domain.units import dose_volume

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2025, 1, 5, 18, 30, tzinfo=UTC)

# The VEVENT of shared/interop/examples/b12-schedule.ics (section d.3 of the interop notes), whose shape
# the export follows; its RRULE is the one thing b12 leaves out (one event per dated dose instead).
EXAMPLE_EVENT = """\
BEGIN:VEVENT
SUMMARY:Hydroxocobalamin 1 mg IM (loading)
DTSTART;TZID=Europe/London:20250108T100000
DURATION:PT15M
DTSTAMP:20250108T090000Z
UID:b12-loading@example
RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=MO,WE,FR
DESCRIPTION:Loading dose\\; record site and batch
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:B12 injection due
TRIGGER:-PT2H
END:VALARM
END:VEVENT
"""


def _volume(dose_mg: float) -> tuple[float, float | None]:
    result = dose_volume(f"{dose_mg:g} mg", "1000 mcg/mL", "U-100")
    return result.volume_ml, result.syringe_units


def _course(phases: tuple[Phase, ...], start: date, regimen_id: str | None = "UK-IM-NN") -> Course:
    return Course(
        id="course-1",
        patient_id="patient-1",
        guideline="uk",
        guideline_version="2026.11.1",
        regimen_id=regimen_id,
        phases=phases,
        product=Product.HYDROXOCOBALAMIN,
        strength="1000 mcg/mL",
        syringe="U-100",
        start=start,
        created_by="clinician-1",
        created_at=NOW,
    )


def _monthly_phase() -> Phase:
    return Phase(
        name="maintenance",
        kind=PhaseKind.MAINTENANCE,
        product=Product.HYDROXOCOBALAMIN,
        route=Route.IM,
        dose_mg=1.0,
        dose_range_mg=Span(1.0, 1.0),
        frequency=Frequency(every=1, unit=IntervalUnit.MONTH),
        ending=Ending.CONTINUING,
        rule="UK-IM-NN",
        sources=("S18",),
        text="1 mg IM monthly",
    )


def _uk_course(start: date = date(2025, 1, 6)) -> tuple[Course, tuple[ScheduledDose, ...]]:
    _, regimen = find_regimen("UK-IM-NN", "uk")
    course = _course(regimen.phases, start)
    return course, expand(regimen.phases, start, date(2026, 1, 5), _volume).doses


def _events(ics: bytes) -> list[Event]:
    def day(event: Event) -> date:
        start = event.start
        return start.date() if isinstance(start, datetime) else start

    return sorted(Calendar.from_ical(ics).events, key=lambda e: (day(e), str(e["UID"])))


def _at(event: Event) -> datetime:
    """A dose event's start: always a date-time in the patient's zone."""
    start = event.start
    assert isinstance(start, datetime)
    return start


def _alarms(event: Component) -> list[Component]:
    return [c for c in event.subcomponents if c.name == "VALARM"]


def test_every_dated_dose_parses_back_with_its_date_time_summary_and_alarm() -> None:
    course, doses = _uk_course()
    events = _events(course_calendar(course, doses, now=NOW, calendar_name="B12 injections"))

    assert len(events) == len(doses) == 6 + 3  # 6 loading doses, then every 3 months up to the horizon
    for event, dose in zip(events, doses, strict=True):
        assert _at(event) == datetime.combine(dose.date, time(10, 0), tzinfo=LONDON)
        assert str(_at(event).tzinfo) == "Europe/London"
        assert event.duration == timedelta(minutes=15)
        assert event["SUMMARY"] == f"Hydroxocobalamin 1 mg IM ({dose.phase})"
        assert event.DTSTAMP == NOW
        [alarm] = _alarms(event)
        assert alarm["ACTION"] == "DISPLAY"
        assert alarm.decoded("TRIGGER") == timedelta(hours=-2)
    assert [e["SUMMARY"] for e in events[5:7]] == [
        "Hydroxocobalamin 1 mg IM (loading)",
        "Hydroxocobalamin 1 mg IM (maintenance)",
    ]


def test_the_time_of_day_stays_local_across_the_clock_change() -> None:
    course, doses = _uk_course()
    events = _events(course_calendar(course, doses, now=NOW))
    winter = next(_at(e) for e in events if e.start.month == 1)
    summer = next(_at(e) for e in events if e.start.month == 7)
    assert (winter.hour, summer.hour) == (10, 10)
    assert winter.utcoffset() == timedelta(0)
    assert summer.utcoffset() == timedelta(hours=1)


def test_a_course_starting_on_the_31st_has_one_event_in_every_month() -> None:
    phases = (_monthly_phase(),)
    start = date(2025, 1, 31)
    course = _course(phases, start)
    doses = expand(phases, start, date(2026, 1, 31), _volume).doses
    events = _events(course_calendar(course, doses, now=NOW))

    dates = [_at(e).date() for e in events]
    assert dates[:4] == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]
    assert [(d.year, d.month) for d in dates] == [
        ((start + relativedelta(months=k)).year, (start + relativedelta(months=k)).month) for k in range(13)
    ]
    assert all(d.day == 31 or d == d + relativedelta(day=31) for d in dates)  # the 31st, or the month's last day
    # The trap the export avoids: an RRULE FREQ=MONTHLY from the 31st ignores the months without one.
    naive = [d.date() for d in rrule(MONTHLY, dtstart=datetime(2025, 1, 31), count=7)]
    assert {d.month for d in naive} == {1, 3, 5, 7, 8, 10, 12}


def test_a_leap_year_february_gets_the_29th() -> None:
    phases = (_monthly_phase(),)
    start = date(2024, 1, 31)
    doses = expand(phases, start, date(2024, 4, 30)).doses
    dates = [_at(e).date() for e in _events(course_calendar(_course(phases, start), doses, now=NOW))]
    assert dates == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]


def test_events_carry_no_rrule_so_no_month_can_be_skipped() -> None:
    course, doses = _uk_course(date(2025, 1, 31))
    assert all("RRULE" not in e for e in _events(course_calendar(course, doses, now=NOW)))


def test_uids_are_unique_and_stable_when_the_calendar_is_issued_again() -> None:
    course, doses = _uk_course()
    first = [str(e["UID"]) for e in _events(course_calendar(course, doses, now=NOW))]
    later = [str(e["UID"]) for e in _events(course_calendar(course, doses[3:], now=NOW + timedelta(days=9)))]
    assert len(set(first)) == len(first)
    assert first[3:] == later
    assert first[0] == "course-1-20250106-loading@b12"


def test_the_description_gives_volume_syringe_units_rule_and_disclaimer() -> None:
    course, doses = _uk_course()
    [event, *_] = _events(course_calendar(course, doses, now=NOW))
    description = str(event["DESCRIPTION"])
    assert "Draw up 1 mL of 1000 mcg/mL = 100 units on a U-100 syringe." in description
    assert "Rule UK-IM-NN" in description
    assert "Sources: S18" in description
    assert "b12 is decision support; check with your clinician" in description
    assert DISCLAIMER in description


def test_provisional_doses_are_marked_in_the_summary_and_explained() -> None:
    _, regimen = find_regimen("UK-IM-NEURO", "uk")
    start = date(2025, 3, 3)
    course = _course(regimen.phases, start, regimen.id)
    doses = expand(regimen.phases, start, date(2025, 3, 31), _volume).doses
    events = _events(course_calendar(course, doses, now=NOW))

    assert len(events) == 15
    assert all(e["SUMMARY"] == "Hydroxocobalamin 1 mg IM (loading, provisional)" for e in events)
    assert "until no further improvement" in str(events[0]["DESCRIPTION"])


def test_oral_doses_read_as_oral_with_a_dose_reminder_and_no_syringe() -> None:
    phase = Phase(
        name="treatment",
        kind=PhaseKind.MAINTENANCE,
        product=Product.CYANOCOBALAMIN,
        route=Route.ORAL,
        dose_mg=0.05,
        dose_range_mg=Span(0.05, 0.15),
        frequency=Frequency(every=1, unit=IntervalUnit.DAY),
        ending=Ending.CONTINUING,
        rule="UK-ORAL-DIET",
        sources=("S14",),
        text="50 micrograms daily",
    )
    start = date(2025, 1, 6)
    doses = expand((phase,), start, date(2025, 1, 8), _volume).doses
    events = _events(course_calendar(_course((phase,), start), doses, now=NOW))
    assert [e["SUMMARY"] for e in events] == ["Cyanocobalamin 50 micrograms oral (treatment)"] * 3
    assert "Draw up" not in str(events[0]["DESCRIPTION"])
    assert str(_alarms(events[0])[0]["DESCRIPTION"]).startswith("B12 dose due")


def test_follow_ups_are_all_day_events_reminded_the_day_before() -> None:
    course, doses = _uk_course()
    followups = (
        FollowUp(date(2025, 4, 6), FollowUpKind.REVIEW, ("symptoms", "full blood count"), "Review.", "FU-UK", ("S6",)),
        FollowUp(date(2025, 1, 16), FollowUpKind.LABS, ("reticulocytes",), None, "FU-PROGRESS", ("S24",)),
    )
    events = _events(course_calendar(course, doses, now=NOW, followups=followups))
    reviews = [e for e in events if "B12" in e.categories and "review" in e.categories]
    labs = [e for e in events if "labs" in e.categories]

    assert [e["SUMMARY"] for e in reviews] == ["Review with your clinician: symptoms, full blood count"]
    assert [e["SUMMARY"] for e in labs] == ["Blood test due: reticulocytes"]
    [review] = reviews
    assert review.start == date(2025, 4, 6)
    assert review.end == date(2025, 4, 7)
    assert "Rule FU-UK. Sources: S6." in str(review["DESCRIPTION"])
    [alarm] = _alarms(review)
    assert alarm.decoded("TRIGGER") == timedelta(hours=-15)  # 09:00 the day before
    assert len(events) == len(doses) + 2


def test_no_alarm_is_written_when_reminders_are_off() -> None:
    course, doses = _uk_course()
    events = _events(course_calendar(course, doses, now=NOW, reminder=None))
    assert all(not _alarms(e) for e in events)


def test_the_calendar_is_named_zoned_and_refreshable_when_subscribed() -> None:
    course, doses = _uk_course()
    url = "https://b12.example/calendar/abc123.ics"
    calendar = Calendar.from_ical(course_calendar(course, doses, now=NOW, calendar_name="Ann's B12", url=url))

    assert calendar["X-WR-CALNAME"] == "Ann's B12"
    assert calendar["X-WR-TIMEZONE"] == "Europe/London"
    assert calendar["URL"] == url
    assert calendar.decoded("REFRESH-INTERVAL") == timedelta(hours=12)
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/London"]
    assert calendar["UID"] == "course-1@b12"


def test_output_is_the_same_for_the_same_inputs() -> None:
    course, doses = _uk_course()
    assert course_calendar(course, doses, now=NOW) == course_calendar(course, doses, now=NOW)


def test_a_naive_now_is_refused() -> None:
    course, doses = _uk_course()
    with pytest.raises(ValueError, match="timezone-aware"):
        course_calendar(course, doses, now=datetime(2025, 1, 5, 18, 30))


def test_events_have_the_shape_of_the_interop_example() -> None:
    example = Event.from_ical(EXAMPLE_EVENT)
    assert isinstance(example, Event)
    course, doses = _uk_course(date(2025, 1, 8))
    [ours, *_] = _events(course_calendar(course, doses, now=NOW))

    assert set(example) - {"RRULE"} <= set(ours)
    assert ours["DTSTART"].params["TZID"] == example["DTSTART"].params["TZID"] == "Europe/London"
    assert ours.start == example.start
    assert ours.duration == example.duration
    assert ours["SUMMARY"] == example["SUMMARY"]
    [example_alarm], [our_alarm] = _alarms(example), _alarms(ours)
    assert set(example_alarm) <= set(our_alarm)
    assert our_alarm["ACTION"] == example_alarm["ACTION"]
    assert our_alarm.decoded("TRIGGER") == example_alarm.decoded("TRIGGER") == timedelta(hours=-2)
    assert b"TRIGGER:-PT2H" in course_calendar(course, doses, now=NOW)
