"""A printable clinician summary of one course: HTML with print CSS, and the same page as a PDF.

Values in, text or bytes out: no clock (``now`` is printed as the time of the summary), no I/O beyond
reading the packaged template and style sheet. The page holds the patient and course, the guideline and
threshold set with their versions, red flags with their rule IDs and sources, the timeline plot, doses
given, lab results (as reported and normalised), the symptom timeline and the amendments with their
reasons.

The course's computed status (``b12.domain.tracking``) is optional and read by duck typing: any object
with some of the attributes in :data:`STATUS_FIELDS` (``phase``, ``next_due``, ``overdue``, ...) and a
sequence of alerts in ``red_flags`` or ``alerts`` (each with ``rule`` and ``message``, optionally
``severity`` and ``sources``). Alerts can also be passed directly with ``alerts=``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from b12.adapters.ical import dose_text
from b12.adapters.plot import analyte_name, band_text, timeline_png, timeline_svg
from b12.domain.accounts import PatientRecord
from b12.domain.alerts import Alert
from b12.domain.analytes import Analyte
from b12.domain.guidelines import sources as known_sources
from b12.domain.guidelines.thresholds import ThresholdSet
from b12.domain.tracking import AmendmentKind, Course, History, TrackedSymptom
from b12.domain.units import format_number

__all__ = ["DISCLAIMER", "STATUS_FIELDS", "clinician_summary_html", "clinician_summary_pdf"]

DISCLAIMER = "b12 is decision support; a clinician decides."
PlotFormat = Literal["svg", "png"]

# (attribute, label) read from a status object when present, in this order.
STATUS_FIELDS: tuple[tuple[str, str], ...] = (
    ("phase", "Phase"),
    ("next_due", "Next dose due"),
    ("next_dose", "Next dose due"),
    ("overdue", "Overdue"),
    ("days_overdue", "Days overdue"),
    ("adherence", "Adherence"),
    ("suggested_site", "Suggested site"),
    ("doses_given", "Doses given"),
    ("total_mg", "Total given"),
    ("reviews_due", "Reviews due"),
)
_ALERT_FIELDS = ("red_flags", "alerts", "flags")
_ROUTES = {"im": "IM", "oral": "oral", "nasal": "nasal"}
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_AMENDMENTS = {
    AmendmentKind.SET_MAINTENANCE_INTERVAL: "Maintenance interval changed",
    AmendmentKind.END_LOADING: "Loading ended",
    AmendmentKind.SWITCH_ROUTE: "Regimen switched",
    AmendmentKind.STOP: "Course stopped",
}


def clinician_summary_html(
    patient: PatientRecord,
    course: Course,
    status: object | None,
    history: History,
    *,
    thresholds: ThresholdSet,
    now: datetime,
    alerts: Sequence[Alert] = (),
    people: Mapping[str, str] | None = None,
    tz: str = "Europe/London",
    plot: PlotFormat = "svg",
) -> str:
    """The summary as a complete HTML page with its print style sheet inline.

    ``people`` maps user IDs (who gave a dose, who amended the course) to names; ``plot`` chooses an
    inline SVG (vector, described for screen readers) or an embedded PNG.
    """
    context = _context(patient, course, status, history, thresholds, now, alerts, people or {}, ZoneInfo(tz), plot)
    return _environment().get_template("clinician_summary.html.j2").render(context)


def clinician_summary_pdf(
    patient: PatientRecord,
    course: Course,
    status: object | None,
    history: History,
    *,
    thresholds: ThresholdSet,
    now: datetime,
    alerts: Sequence[Alert] = (),
    people: Mapping[str, str] | None = None,
    tz: str = "Europe/London",
    plot: PlotFormat = "svg",
) -> bytes:
    """The same summary as an A4 PDF, laid out by WeasyPrint (imported here: it is slow to import)."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # WeasyPrint ships no type information

    page = clinician_summary_html(
        patient,
        course,
        status,
        history,
        thresholds=thresholds,
        now=now,
        alerts=alerts,
        people=people,
        tz=tz,
        plot=plot,
    )
    pdf: bytes = HTML(string=page).write_pdf()
    return pdf


# --- the page's data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Flag:
    rule: str
    severity: str
    message: str
    sources: tuple[str, ...]


def _context(
    patient: PatientRecord,
    course: Course,
    status: object | None,
    history: History,
    thresholds: ThresholdSet,
    now: datetime,
    alerts: Sequence[Alert],
    people: Mapping[str, str],
    zone: ZoneInfo,
    plot: PlotFormat,
) -> dict[str, Any]:
    def when(moment: datetime) -> str:
        local = moment.astimezone(zone) if moment.tzinfo else moment
        return f"{_day(local.date())} {local:%H:%M}"

    def who(person: str | None) -> str:
        return "" if person is None else people.get(person, person)

    flags = _flags([*alerts, *_status_alerts(status)])
    reactions: dict[str, list[str]] = {}
    for reaction in sorted(history.reactions, key=lambda r: r.at):
        text = f"{reaction.description} (severe)" if reaction.severe else reaction.description
        reactions.setdefault(reaction.dose_id, []).append(text)
    doses = sorted(history.doses, key=lambda d: d.at)
    labs = sorted(history.labs, key=lambda lab: (lab.taken, lab.analyte.value))
    symptoms_seen = {symptom for entry in history.symptoms for symptom in entry.scores}
    symptom_columns = [symptom for symptom in TrackedSymptom if symptom in symptoms_seen]
    cited = [
        *thresholds.sources,
        *(s for p in course.phases for s in p.sources),
        *(s for f in flags for s in f.sources),
    ]
    catalogue = known_sources()
    return {
        "css": Markup(_css()),  # our own packaged style sheet
        "disclaimer": DISCLAIMER,
        "generated": when(now),
        "patient": {
            "name": patient.name,
            "id": patient.id,
            "born": _day(patient.birth_date) if patient.birth_date else "not recorded",
            "sex": patient.sex.value,
            "pregnant": patient.pregnant,
            "breastfeeding": patient.breastfeeding,
        },
        "course": {
            "id": course.id,
            "guideline": course.guideline,
            "guideline_version": course.guideline_version,
            "regimen": course.regimen_id or "none (prescription as entered)",
            "product": course.product.value.capitalize(),
            "strength": course.strength,
            "syringe": course.syringe or "—",
            "start": _day(course.start),
            "lifelong": "yes" if course.lifelong else "no",
            "created": f"{when(course.created_at)} by {who(course.created_by)}",
            "source_text": course.source_text,
            "phases": [
                {"name": p.name, "text": p.text, "rule": p.rule, "sources": ", ".join(p.sources), "until": p.until}
                for p in course.phases
            ],
        },
        "thresholds": {
            "title": thresholds.title,
            "version": thresholds.version,
            "id": thresholds.id,
            "boundary_rule": thresholds.boundary_rule,
            "note": thresholds.note.text if thresholds.note else None,
        },
        "status": _status_rows(status),
        "flags": flags,
        "plot": _plot(history, thresholds, plot),
        "doses": [
            {
                "when": when(d.at),
                "dose": dose_text(d.dose_mg),
                "product": d.product.value,
                "route": _ROUTES.get(d.route.value, d.route.value),
                "site": d.site or "—",
                "batch": d.batch or "—",
                "expiry": _day(d.expiry) if d.expiry else "—",
                "expired": d.expiry is not None and d.expiry < d.at.date(),
                "who": who(d.given_by),
                "reaction": "; ".join(filter(None, [d.reaction, *reactions.get(d.id, [])])),
                "note": d.note or "",
            }
            for d in doses
        ],
        "skips": [
            {"due": _day(s.due), "recorded": when(s.at), "reason": s.reason or "—"}
            for s in sorted(history.skips, key=lambda s: s.due)
        ],
        "labs": [
            {
                "taken": _day(lab.taken),
                "test": analyte_name(lab.analyte),
                "reported": f"{format_number(lab.value)} {lab.unit}",
                "normalised": f"{format_number(lab.normalised_value)} {lab.normalised_unit}",
                "same": lab.unit == lab.normalised_unit and math.isclose(lab.value, lab.normalised_value),
                "range": _reference_range(lab.lower_limit, lab.upper_limit, lab.unit),
                "band": band_text(lab, thresholds, history.doses) or "",
            }
            for lab in labs
        ],
        "symptom_columns": [symptom.value for symptom in symptom_columns],
        "symptoms": [
            {
                "when": _day(entry.at.astimezone(zone).date() if entry.at.tzinfo else entry.at.date()),
                "scores": [entry.scores.get(symptom) for symptom in symptom_columns],
                "note": entry.note or "",
            }
            for entry in sorted(history.symptoms, key=lambda e: e.at)
        ],
        "amendments": [
            {
                "when": when(a.at),
                "effective": _day(a.effective),
                "by": who(a.by),
                "change": _amendment_text(a.kind, a.params),
                "reason": a.reason,
            }
            for a in sorted(history.amendments, key=lambda a: a.at)
        ],
        "sources": [
            {"id": sid, "title": catalogue[sid].title if sid in catalogue else "not in the source list"}
            for sid in dict.fromkeys(cited)
        ],
    }


def _plot(history: History, thresholds: ThresholdSet, kind: PlotFormat) -> Markup:
    analyte = _plotted_analyte(history, thresholds)
    if kind == "png":
        png = timeline_png(history.labs, history.doses, thresholds, analyte=analyte, width=720, height=340)
        encoded = base64.b64encode(png).decode("ascii")
        alt = f"Timeline of {analyte_name(analyte)} results against the {thresholds.title} bands, with doses"
        return Markup('<img class="plot" src="data:image/png;base64,{}" alt="{}">').format(encoded, alt)
    svg = timeline_svg(
        history.labs, history.doses, thresholds, analyte=analyte, width=720, height=340, standalone=False
    )
    return Markup(svg)  # matplotlib's SVG; every text in it is escaped by matplotlib or by plot.py


def _plotted_analyte(history: History, thresholds: ThresholdSet) -> Analyte:
    """Total B12 unless only active B12 was measured."""
    measured = {lab.analyte for lab in history.labs}
    if (
        Analyte.B12_TOTAL not in measured
        and Analyte.B12_ACTIVE in measured
        and thresholds.scales_for(Analyte.B12_ACTIVE)
    ):
        return Analyte.B12_ACTIVE
    return Analyte.B12_TOTAL


def _status_rows(status: object | None) -> list[tuple[str, str]]:
    if status is None:
        return []
    rows: list[tuple[str, str]] = []
    labels: set[str] = set()
    for attribute, label in STATUS_FIELDS:
        value = getattr(status, attribute, None)
        if value is None or label in labels or callable(value):
            continue
        labels.add(label)
        rows.append((label, _value_text(attribute, value)))
    return rows


def _value_text(attribute: str, value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{_day(value.date())} {value:%H:%M}"
    if isinstance(value, date):
        return _day(value)
    if attribute == "adherence" and isinstance(value, float) and 0 <= value <= 1:
        return f"{value:.0%}"
    if attribute == "total_mg" and isinstance(value, int | float):
        return dose_text(float(value))
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        return "; ".join(_value_text(attribute, item) for item in value) or "none"
    inner = getattr(value, "date", None)  # e.g. a next-dose object with a date
    if isinstance(inner, date):
        return _day(inner)
    return str(value)


def _status_alerts(status: object | None) -> list[object]:
    for attribute in _ALERT_FIELDS:
        items = getattr(status, attribute, None)
        if items:
            return list(items)
    return []


def _flags(items: Iterable[object]) -> list[_Flag]:
    flags: dict[tuple[str, str], _Flag] = {}
    for item in items:
        rule, message = getattr(item, "rule", None), getattr(item, "message", None)
        if not rule or not message:
            continue
        severity = str(getattr(item, "severity", "warning"))
        sources = tuple(str(s) for s in getattr(item, "sources", ()) or ())
        flags.setdefault((str(rule), str(message)), _Flag(str(rule), severity, str(message), sources))
    return sorted(flags.values(), key=lambda f: (_SEVERITY_ORDER.get(f.severity, 3), f.rule))


def _amendment_text(kind: AmendmentKind, params: Mapping[str, object]) -> str:
    text = _AMENDMENTS.get(kind, str(kind))
    if kind is AmendmentKind.SET_MAINTENANCE_INTERVAL and "months" in params:
        return f"{text}: every {params['months']} months"
    if kind is AmendmentKind.SWITCH_ROUTE and "regimen" in params:
        return f"{text} to {params['regimen']}"
    details = ", ".join(f"{key} {value}" for key, value in params.items())
    return f"{text} ({details})" if details else text


def _reference_range(lower: float | None, upper: float | None, unit: str) -> str:
    if lower is not None and upper is not None:
        return f"{format_number(lower)}–{format_number(upper)} {unit}"
    if lower is not None:
        return f"≥ {format_number(lower)} {unit}"
    if upper is not None:
        return f"≤ {format_number(upper)} {unit}"
    return ""


def _day(value: date) -> str:
    """``6 Jan 2025``: unambiguous on both sides of the Atlantic."""
    return f"{value.day} {value:%b %Y}"


# --- template -----------------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("b12.adapters", "report_templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _css() -> str:
    return resources.files("b12.adapters").joinpath("report_templates", "print.css").read_text(encoding="utf-8")
