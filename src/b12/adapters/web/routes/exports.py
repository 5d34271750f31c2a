"""Exports of one course: calendar (.ics download and a private subscription URL), printable summary (HTML and
PDF), and CSV of doses, labs and symptoms.

Who may export: the patient, for their own courses, and the clinician looking after them
(:func:`~b12.domain.accounts.can_see_patient`); anyone else, and a course that does not exist, get 404.
The subscription URL is the exception: it carries a secret token (``uow.calendar``) and needs no session,
since a calendar client has none; only the patient creates or revokes their links, and a revoked or unknown
token answers 404. Creating and revoking a link are writes, audited in the same transaction.

The pages keep the app's Content-Security-Policy: the timeline SVG is written inline with its styles turned
into SVG presentation attributes (:func:`inline_svg`), and the printable summary (a page of its own, with
its print style sheet inline) is sent with a policy allowing exactly its own style blocks, by hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.exceptions import HTTPException

from b12 import services_tracking
from b12.adapters.csv_export import doses_csv, labs_csv, symptoms_csv
from b12.adapters.ical import course_calendar
from b12.adapters.plot import analyte_name, timeline_svg
from b12.adapters.report import clinician_summary_html, clinician_summary_pdf
from b12.adapters.web import deps
from b12.adapters.web.security import audit
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.alerts import Alert
from b12.domain.analytes import Analyte
from b12.domain.guidelines import load_guideline
from b12.domain.guidelines.thresholds import ThresholdSet
from b12.domain.labs import load_threshold_set
from b12.domain.plan import FollowUp, FollowUpKind
from b12.domain.tracking import Checkpoint, CheckpointKind, CourseStatus, History, course_status
from b12.ports import CalendarToken, Clock, UnitOfWork

router = APIRouter()

TZ = "Europe/London"  # the guideline data is British; times in exports are shown in UK time
CALENDAR_DAYS = 365  # how far ahead a calendar lists doses (a subscription is re-fetched and moves on)
CALENDAR_MAX_DOSES = 120

Account_ = Annotated[Account, Depends(deps.require_account)]
Patient_ = Annotated[Account, Depends(deps.require_patient)]


# --- reading a course the account may see ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CourseView:
    """One course as a page shows it: its patient, its facts and its status on the clock's date."""

    patient: PatientRecord
    history: History
    status: CourseStatus

    @property
    def course_id(self) -> str:
        return self.history.course.id


def visible_course(uow: UnitOfWork, clock: Clock, actor: Account, course_id: str, *, upcoming: int = 5) -> CourseView:
    """The course if ``actor`` may see its patient; :class:`NotAllowedError` (404) if not, or if it does not exist."""
    with uow:
        history, patient = services_tracking.visible_course(uow, actor, course_id)
    return CourseView(patient, history, course_status(history, clock.today(), upcoming=upcoming))


def thresholds_of(view: CourseView) -> ThresholdSet:
    """The threshold set of the course's guideline (the bands of the timeline plot)."""
    return load_threshold_set(load_guideline(view.history.course.guideline).default_thresholds)


def plotted_analyte(history: History, thresholds: ThresholdSet) -> Analyte:
    """Total B12, unless only active B12 was measured (as the printed summary chooses)."""
    measured = {lab.analyte for lab in history.labs}
    if (
        Analyte.B12_TOTAL not in measured
        and Analyte.B12_ACTIVE in measured
        and thresholds.scales_for(Analyte.B12_ACTIVE)
    ):
        return Analyte.B12_ACTIVE
    return Analyte.B12_TOTAL


# --- SVG under a strict Content-Security-Policy ---------------------------------------------------------

_STYLE_BLOCK = re.compile(r"<style\b[^>]*>.*?</style>", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_TAG = re.compile(r"<[a-zA-Z][^<>]*>")
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')
_ATTRIBUTE_NAME = re.compile(r'\s([a-zA-Z:-]+)="')
_PROPERTY = re.compile(r"[a-z-]+")


def _presentation(tag: str) -> str:
    match = _STYLE_ATTRIBUTE.search(tag)
    if match is None:
        return tag
    present = set(_ATTRIBUTE_NAME.findall(tag))
    attributes = []
    for declaration in match.group(1).split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if _PROPERTY.fullmatch(name) and value and name not in present:
            quoted = value.replace('"', "&quot;")
            attributes.append(f' {name}="{quoted}"')
    return tag[: match.start()] + "".join(attributes) + tag[match.end() :]


def csp_safe_svg(svg: str) -> str:
    """matplotlib's SVG with its ``style`` attributes written as SVG presentation attributes (``fill="#fff"``).

    A page whose policy says ``style-src 'self'`` ignores inline ``style`` attributes and ``<style>`` blocks;
    presentation attributes are not styles, so the picture keeps its colours. The one ``<style>`` block
    matplotlib writes (round line joins) becomes attributes of the root element.
    """
    svg = _METADATA.sub("", _STYLE_BLOCK.sub("", svg))
    svg = _TAG.sub(lambda m: _presentation(m.group(0)), svg)
    return svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)


def inline_svg(view: CourseView) -> Markup:
    """The course's timeline (labs against the threshold bands, doses marked), to write inside a page."""
    thresholds = thresholds_of(view)
    analyte = plotted_analyte(view.history, thresholds)
    svg = timeline_svg(
        view.history.labs, view.history.doses, thresholds, analyte=analyte, width=720, height=340, standalone=False
    )
    # matplotlib writes every text escaped; plot.py escapes its title and description.
    return Markup(csp_safe_svg(svg))


def plot_caption(view: CourseView) -> str:
    thresholds = thresholds_of(view)
    analyte = plotted_analyte(view.history, thresholds)
    return (
        f"{analyte_name(analyte)} results against the {thresholds.title} bands; "
        "doses given are marked along the bottom."
    )


# --- the exports page -----------------------------------------------------------------------------------


def _feed_url(request: Request, token: CalendarToken) -> str:
    return str(request.url_for("calendar_feed", token=token.token))


def _webcal(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("webcal", parts.netloc, parts.path, parts.query, ""))


def _exports_page(request: Request, account: Account, course_id: str) -> HTMLResponse:
    w = deps.wiring(request)
    view = visible_course(w.uow_factory(), w.clock, account, course_id)
    links: list[dict[str, object]] = []
    own = account.role is Role.PATIENT
    if own:
        with w.uow_factory() as uow:
            tokens = [t for t in uow.calendar.calendar_tokens_for(view.patient.id) if t.course_id == course_id]
        for token in tokens:
            if token.active:
                url = _feed_url(request, token)
                links.append({"token": token.token, "url": url, "webcal": _webcal(url), "created": token.created_at})
    context = {"view": view, "course": view.history.course, "links": links, "own": own}
    return deps.render(request, "export_page.html", context)


@router.get("/exports/{course_id}", name="course_exports", response_class=HTMLResponse)
def exports_page(request: Request, account: Account_, course_id: str) -> HTMLResponse:
    """Every export of a course: calendar, subscription links (the patient's own), summary, CSV."""
    return _exports_page(request, account, course_id)


# --- calendar -------------------------------------------------------------------------------------------

_FOLLOWUP_KINDS = {CheckpointKind.REVIEW: FollowUpKind.REVIEW, CheckpointKind.LABS: FollowUpKind.LABS}


def _followup(checkpoint: Checkpoint) -> FollowUp:
    kind = FollowUpKind.MONITORING if checkpoint.rule == "SAFE-K" else _FOLLOWUP_KINDS[checkpoint.kind]
    return FollowUp(checkpoint.due, kind, checkpoint.tests, checkpoint.text, checkpoint.rule, checkpoint.sources)


def calendar_bytes(view: CourseView, clock: Clock, url: str | None = None) -> bytes:
    """The course's dated doses for the next year and its reviews and blood tests still to come, with alarms."""
    today = clock.today()
    horizon = today + timedelta(days=CALENDAR_DAYS)
    doses = [d for d in view.status.upcoming if d.date <= horizon]
    followups = [
        _followup(c) for c in (*view.status.reviews, *view.status.checkpoints) if c.done_on is None and c.due >= today
    ]
    return course_calendar(
        view.history.course, doses, now=clock.now(), followups=followups, tz=TZ, url=url, calendar_name="B12 treatment"
    )


def _calendar_response(content: bytes, *, filename: str | None) -> Response:
    headers = {"Cache-Control": "no-store"}
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(content, media_type="text/calendar; charset=utf-8", headers=headers)


@router.get("/exports/{course_id}/calendar.ics", name="export_ics")
def export_ics(request: Request, account: Account_, course_id: str) -> Response:
    """The course's calendar as a file, with a reminder before each dose and review."""
    w = deps.wiring(request)
    view = visible_course(w.uow_factory(), w.clock, account, course_id, upcoming=CALENDAR_MAX_DOSES)
    return _calendar_response(calendar_bytes(view, w.clock), filename=f"b12-course-{_short(course_id)}.ics")


@router.get("/calendar/{token}.ics", name="calendar_feed")
def calendar_feed(request: Request, token: str) -> Response:
    """A private subscription URL: the token is the credential (no session); revoked or unknown -> 404.

    A token for every course of the patient (``course_id`` None) follows the latest course started.
    """
    w = deps.wiring(request)
    history, patient = None, None
    with w.uow_factory() as uow:
        found = uow.calendar.calendar_token(token)
        if found is not None:
            patient = uow.accounts.patient(found.patient_id)
            course_id = found.course_id
            if course_id is None:
                courses = uow.tracking.courses_for(found.patient_id)
                course_id = max(courses, key=lambda c: (c.start, c.created_at)).id if courses else None
            history = uow.tracking.history(course_id) if course_id else None
    if found is None or history is None or patient is None or history.course.patient_id != patient.id:
        raise HTTPException(404)
    view = CourseView(patient, history, course_status(history, w.clock.today(), upcoming=CALENDAR_MAX_DOSES))
    return _calendar_response(calendar_bytes(view, w.clock, url=str(request.url)), filename=None)


def _change_link(request: Request, account: Account, course_id: str, token: str | None) -> bool:
    """Create a link (``token`` None) or revoke one of this course's; audited. False: no such active link."""
    w = deps.wiring(request)
    view = visible_course(w.uow_factory(), w.clock, account, course_id)
    with w.uow_factory() as uow:
        if token is None:
            created = uow.calendar.create_calendar_token(view.patient.id, course_id, w.clock.now())
            audit(
                uow,
                w.clock,
                account.id,
                "calendar.link.create",
                "course",
                course_id,
                {"created_at": created.created_at.isoformat()},
            )
        else:
            found = uow.calendar.calendar_token(token)
            if found is None or found.course_id != course_id or found.patient_id != view.patient.id:
                return False
            uow.calendar.revoke_calendar_token(token, w.clock.now())
            audit(uow, w.clock, account.id, "calendar.link.revoke", "course", course_id, {})
        uow.commit()
    return True


@router.post("/exports/{course_id}/calendar-links", name="create_calendar_link")
async def create_calendar_link(request: Request, account: Patient_, course_id: str) -> Response:
    """Create a private subscription URL for this course (the patient's own only)."""
    await run_in_threadpool(_change_link, request, account, course_id, None)
    deps.flash(request, "Your private calendar link is ready: add it to your calendar app as a subscription.")
    return RedirectResponse(
        request.app.url_path_for("course_exports", course_id=course_id) + "#calendar", status_code=303
    )


@router.post("/exports/{course_id}/calendar-links/revoke", name="revoke_calendar_link")
async def revoke_calendar_link(request: Request, account: Patient_, course_id: str) -> Response:
    """Stop a subscription URL of this course: calendars that use it stop updating."""
    form = await request.form()
    token = form.get("token")
    if not isinstance(token, str) or not token:
        raise HTTPException(404)
    if not await run_in_threadpool(_change_link, request, account, course_id, token):
        raise HTTPException(404)
    deps.flash(request, "That calendar link no longer works.")
    return RedirectResponse(
        request.app.url_path_for("course_exports", course_id=course_id) + "#calendar", status_code=303
    )


# --- the printable summary ------------------------------------------------------------------------------


def _people(request: Request, view: CourseView) -> dict[str, str]:
    """Names for the user IDs in the course's facts (who gave a dose, who started or amended the course)."""
    ids = {
        view.history.course.created_by,
        *(d.given_by for d in view.history.doses),
        *(a.by for a in view.history.amendments),
    }
    names: dict[str, str] = {}
    with deps.get_uow(request) as uow:
        for user_id in ids:
            person = uow.accounts.account(user_id)
            if person is not None:
                names[user_id] = person.name
    return names


@dataclass(frozen=True, slots=True)
class SummaryStatus:
    """The status in the words the printed summary reads (``report.STATUS_FIELDS``), rather than raw values."""

    phase: str | None
    next_due: date | None
    days_overdue: int | None
    adherence: str
    suggested_site: str | None
    doses_given: int
    total_mg: float
    reviews_due: tuple[date, ...]
    alerts: tuple[Alert, ...]

    @classmethod
    def of(cls, status: CourseStatus) -> SummaryStatus:
        a = status.adherence
        words = [f"{a.on_time} of {a.due} due on time"]
        words += [f"{n} {what}" for n, what in ((a.late, "late"), (a.early, "early"), (a.skipped, "skipped")) if n]
        words += [f"{a.missed} missed"] if a.missed else []
        return cls(
            phase=f"{status.phase.name}: {status.phase.text}" if status.phase else status.state.value.replace("_", " "),
            next_due=status.next_dose.due if status.next_dose else None,
            days_overdue=status.overdue_days or None,
            adherence="; ".join(words),
            suggested_site=status.suggested_site,
            doses_given=status.totals.doses,
            total_mg=status.totals.mg,
            reviews_due=tuple(sorted(c.due for c in (*status.reviews, *status.checkpoints) if c.done_on is None)),
            alerts=status.alerts,
        )


def _summary(request: Request, account: Account, course_id: str, *, pdf: bool) -> tuple[CourseView, str | bytes]:
    w = deps.wiring(request)
    view = visible_course(w.uow_factory(), w.clock, account, course_id)
    make = clinician_summary_pdf if pdf else clinician_summary_html
    made = make(
        view.patient,
        view.history.course,
        SummaryStatus.of(view.status),
        view.history,
        thresholds=thresholds_of(view),
        now=w.clock.now(),
        people=_people(request, view),
        tz=TZ,
    )
    return view, made


NONE = "'none'"
_STYLE_CONTENT = re.compile(r"<style\b[^>]*>(.*?)</style>", re.S)
_SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def summary_policy(page: str) -> str:
    """A Content-Security-Policy for the summary page: no script at all, and only its own style blocks."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()}'"
        for m in _STYLE_CONTENT.finditer(page)
    )
    return (
        f"default-src 'none'; style-src {hashes or NONE}; img-src 'self' data:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


@router.get("/exports/{course_id}/summary", name="export_summary", response_class=HTMLResponse)
def export_summary(request: Request, account: Account_, course_id: str) -> Response:
    """The printable clinician summary (print it from the browser, or download the PDF)."""
    _, made = _summary(request, account, course_id, pdf=False)
    page = _SVG.sub(lambda m: csp_safe_svg(m.group(0)), str(made))
    # The app's icon, so that a browser does not ask for /favicon.ico (a 404) while showing the summary.
    icon = request.app.url_path_for("static", path="favicon.svg")
    page = page.replace("</head>", f'<link rel="icon" href="{icon}" type="image/svg+xml">\n</head>', 1)
    return HTMLResponse(page, headers={"Content-Security-Policy": summary_policy(page), "Cache-Control": "no-store"})


@router.get("/exports/{course_id}/summary.pdf", name="export_pdf")
def export_pdf(request: Request, account: Account_, course_id: str) -> Response:
    """The clinician summary as an A4 PDF."""
    _, pdf = _summary(request, account, course_id, pdf=True)
    headers = {
        "Content-Disposition": f'attachment; filename="b12-summary-{_short(course_id)}.pdf"',
        "Cache-Control": "no-store",
    }
    return Response(pdf, media_type="application/pdf", headers=headers)


# --- CSV ------------------------------------------------------------------------------------------------


def _csv(request: Request, account: Account, course_id: str, kind: str) -> Response:
    w = deps.wiring(request)
    history = visible_course(w.uow_factory(), w.clock, account, course_id).history
    today = w.clock.today()
    if kind == "doses":
        text = doses_csv(history.doses, reactions=history.reactions, tz=TZ)
    elif kind == "labs":
        text = labs_csv(history.labs)
    else:
        text = symptoms_csv(history.symptoms, tz=TZ)
    headers = {
        "Content-Disposition": f'attachment; filename="b12-{kind}-{_short(course_id)}-{today:%Y%m%d}.csv"',
        "Cache-Control": "no-store",
    }
    # utf-8-sig: Excel reads µ and accents only with the byte order mark.
    return Response(text.encode("utf-8-sig"), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/exports/{course_id}/doses.csv", name="export_doses_csv")
def export_doses_csv(request: Request, account: Account_, course_id: str) -> Response:
    """Doses given, with reactions, as CSV."""
    return _csv(request, account, course_id, "doses")


@router.get("/exports/{course_id}/labs.csv", name="export_labs_csv")
def export_labs_csv(request: Request, account: Account_, course_id: str) -> Response:
    """Lab results as reported and normalised, as CSV."""
    return _csv(request, account, course_id, "labs")


@router.get("/exports/{course_id}/symptoms.csv", name="export_symptoms_csv")
def export_symptoms_csv(request: Request, account: Account_, course_id: str) -> Response:
    """The symptom diary as CSV."""
    return _csv(request, account, course_id, "symptoms")


def _short(course_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", course_id)[:12] or "course"
