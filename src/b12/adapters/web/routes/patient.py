"""The patient's pages: the dashboard of a course, its two-tap dose log, skip, symptom diary and lab entry, and
entering a prescription as written on the label.

Every page is the signed-in patient's own (``require_patient``); a course is read through
:func:`~b12.adapters.web.routes.exports.visible_course` (``can_see_patient``) and written through
``services_tracking`` (which checks again and audits), so another patient's course answers 404. A refused
form comes back with each problem beside its field and everything typed kept (422); a page that was out of
date (the dose already logged from another tab, a double tap) changes nothing and says so (409).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from b12.adapters.ical import dose_text
from b12.adapters.plot import analyte_name, band_text
from b12.adapters.web import deps
from b12.adapters.web.assessment import TEST_LABELS, lab_units
from b12.adapters.web.forms import FormState, parse_number
from b12.adapters.web.routes.exports import (
    CourseView,
    inline_svg,
    plot_caption,
    thresholds_of,
    visible_course,
)
from b12.domain.access import NotAllowedError
from b12.domain.accounts import Account
from b12.domain.alerts import Severity
from b12.domain.analytes import Analyte
from b12.domain.case import Route
from b12.domain.errors import CaseError, UnitError
from b12.domain.guidelines import GUIDELINE_IDS, load_guideline
from b12.domain.prescription import Prescription, check_against_guideline, parse_prescription
from b12.domain.regimen import Product
from b12.domain.tracking import DEFAULT_SITES, Checkpoint, CourseState, NextDose, TrackedSymptom
from b12.domain.units import parse_strength, parse_syringe
from b12.services_tracking import (
    courses_of_patient,
    record_dose,
    record_lab,
    record_symptoms,
    skip_dose,
    start_course_from_prescription,
)

router = APIRouter()

Patient = Annotated[Account, Depends(deps.require_patient)]

SYMPTOM_LABELS: Mapping[TrackedSymptom, tuple[str, str]] = {
    TrackedSymptom.FATIGUE: ("Tiredness (fatigue)", ""),
    TrackedSymptom.PARAESTHESIA: ("Pins and needles or numbness", "nerve symptom"),
    TrackedSymptom.BALANCE: ("Balance, unsteadiness", "nerve symptom"),
    TrackedSymptom.MEMORY: ("Memory or concentration", "nerve symptom"),
    TrackedSymptom.MOOD: ("Low mood or irritability", ""),
    TrackedSymptom.GLOSSITIS: ("Sore or red tongue (glossitis)", ""),
    TrackedSymptom.VISION: ("Eyesight problems", "nerve symptom"),
}
# Each field's words, for the list of problems above a refused form.
FIELD_LABELS: Mapping[str, str] = {
    "dose.dose": "Dose given",
    "dose.site": "Injection site",
    "dose.at": "When",
    "dose.batch": "Batch number",
    "dose.expiry": "Expiry date",
    "dose.reaction": "Reaction",
    "dose.note": "Note",
    "skip.reason": "Reason",
    "scores": "Symptoms",
    **{f"scores.{s.value}": label for s, (label, _) in SYMPTOM_LABELS.items()},
    "symptoms.at": "When",
    "symptoms.note": "Note",
    "lab.analyte": "Test",
    "lab.value": "Value",
    "lab.unit": "Unit",
    "lab.taken": "Date taken",
    "lab.lower_limit": "Lower limit",
    "lab.upper_limit": "Upper limit",
    "text": "The instructions on the label",
    "product": "Medicine",
    "strength": "Strength",
    "dose": "Each dose",
    "route": "How it is given",
    "frequency": "How often",
    "syringe": "Syringe",
    "start": "First dose",
    "guideline": "Guideline",
    "sites": "Injection sites",
}
ROUTE_WORDS = {Route.IM: "injection into a muscle", Route.ORAL: "by mouth", Route.NASAL: "nasal spray"}
MAX_TEXT = 200
MAX_NOTE = 2000
MAX_LABEL_LINE = 500


# --- forms ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Forms:
    """The dashboard's four forms; ``open`` names the one to show unfolded (after an error)."""

    dose: FormState = field(default_factory=FormState)
    skip: FormState = field(default_factory=FormState)
    symptoms: FormState = field(default_factory=FormState)
    lab: FormState = field(default_factory=FormState)
    open: str = ""


def _defaults(view: CourseView, today: date) -> Forms:
    forms = Forms()
    due = view.status.next_dose
    if due is not None:
        forms.dose.values.update(
            {"dose.dose": dose_text(due.dose_mg), "dose.site": due.site or "", "dose.due": due.due.isoformat()}
        )
        forms.skip.values["skip.due"] = due.due.isoformat()
    forms.lab.values["lab.taken"] = today.isoformat()
    return forms


def _moment(form: FormState, name: str) -> datetime | None:
    """A ``datetime-local`` value (``2026-01-05T09:30``); empty means now."""
    text = form.text(name)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        form.add_error(name, "Enter the date and time as YYYY-MM-DD HH:MM, for example 2026-01-05 09:30")
        return None


def _day(form: FormState, name: str, *, required: bool = False) -> date | None:
    text = form.text(name)
    if not text:
        if required:
            form.add_error(name, "Enter the date, for example 2026-01-05")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        form.add_error(name, f"{text!r} is not a date: write it as YYYY-MM-DD, for example 2026-01-05")
        return None


def _text(form: FormState, name: str, limit: int = MAX_TEXT) -> str | None:
    text = form.text(name)
    if len(text) > limit:
        form.add_error(name, f"Keep this under {limit} characters")
        return None
    return text or None


def _case_error(form: FormState, error: CaseError, prefix: str, fields: Mapping[str, str] | None = None) -> None:
    """A use case's refusal beside its field (``at`` -> ``dose.at``), or at the top when it names none here."""
    name = (fields or {}).get(error.field, f"{prefix}.{error.field}" if error.field else "")
    if name and name in form.values:
        form.add_error(name, error.problem)
    else:
        form.general.append(str(error.problem if error.field else error))


# --- the dashboard ----------------------------------------------------------------------------------------


def _relative(day: date, today: date) -> str:
    days = (day - today).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday (1 day overdue)"
    return f"in {days} days" if days > 0 else f"{-days} days overdue"


def _checkpoint_state(checkpoint: Checkpoint, today: date) -> str:
    if checkpoint.done_on is not None:
        return f"Done {checkpoint.done_on.day} {checkpoint.done_on:%b %Y}"
    if checkpoint.overdue:
        return "Overdue"
    if checkpoint.due <= today:
        return "Due now"
    return f"Due {_relative(checkpoint.due, today)}"


def _current_course(request: Request, account: Account) -> CourseView | None:
    """The course to show: the latest one still running, else the latest one."""
    w = deps.wiring(request)
    courses = courses_of_patient(w.uow_factory(), account, _patient_id(account))
    if not courses:
        return None
    views = [visible_course(w.uow_factory(), w.clock, account, c.id) for c in courses]
    running = [v for v in views if v.status.state not in (CourseState.STOPPED, CourseState.COMPLETE)]
    return max(running or views, key=lambda v: (v.history.course.start, v.history.course.created_at))


def _patient_id(account: Account) -> str:
    if account.patient_id is None:  # a patient account always has its record; refuse quietly if not
        raise NotAllowedError(account.id, "patient", "", "see")
    return account.patient_id


def _dashboard(
    request: Request,
    account: Account,
    view: CourseView | None,
    forms: Forms | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    w = deps.wiring(request)
    today = w.clock.today()
    courses = courses_of_patient(w.uow_factory(), account, _patient_id(account))
    context: dict[str, Any] = {"view": None, "courses": courses, "today": today, "labels": FIELD_LABELS}
    if view is not None:
        status = view.status
        history = view.history
        thresholds = thresholds_of(view)
        forms = forms or _defaults(view, today)
        context.update(
            {
                "view": view,
                "course": history.course,
                "status": status,
                "next": status.next_dose,
                "next_words": _next_words(status.next_dose, history.course.strength, history.course.syringe),
                "relative": _relative,
                "red_flags": [a for a in status.alerts if a.severity is not Severity.INFO],
                "notes": [a for a in status.alerts if a.severity is Severity.INFO],
                "checkpoints": [
                    (c, _checkpoint_state(c, today))
                    for c in sorted((*status.reviews, *status.checkpoints), key=lambda c: c.due)
                ],
                "plot": inline_svg(view),
                "plot_caption": plot_caption(view),
                "doses": sorted(history.doses, key=lambda d: d.at, reverse=True),
                "skips": sorted(history.skips, key=lambda s: s.due, reverse=True),
                "labs": [
                    (lab, band_text(lab, thresholds, history.doses) or "")
                    for lab in sorted(history.labs, key=lambda lab: lab.taken, reverse=True)
                ],
                "entries": sorted(history.symptoms, key=lambda e: e.at, reverse=True),
                "forms": forms,
                "symptoms": [(s, *SYMPTOM_LABELS[s]) for s in TrackedSymptom],
                "scores": range(0, 11),
                "analytes": [(a.value, TEST_LABELS.get(a, analyte_name(a))) for a in Analyte],
                "units": lab_units(),
                "dose_text": dose_text,
                "route_words": ROUTE_WORDS,
                "analyte_name": analyte_name,
            }
        )
    return deps.render(request, "patient_dashboard.html", context, status_code=status_code)


def _next_words(due: NextDose | None, strength: str, syringe: str | None) -> dict[str, str]:
    if due is None:
        return {}
    words = {"dose": f"{dose_text(due.dose_mg)} of {due.product.value}, {ROUTE_WORDS[due.route]}"}
    if due.volume_ml is not None:
        words["volume"] = f"{due.volume_ml:g} mL of {strength}"
    if due.syringe_units is not None and syringe:
        words["units"] = f"{due.syringe_units:g} units on a {syringe} syringe"
    return words


@router.get("/dashboard", name="dashboard", response_class=HTMLResponse)
def dashboard(request: Request, account: Patient) -> HTMLResponse:
    """The patient's current course: red flags, next dose, diary, labs, timeline, progress."""
    return _dashboard(request, account, _current_course(request, account))


def _view(request: Request, account: Account, course_id: str) -> CourseView:
    w = deps.wiring(request)
    return visible_course(w.uow_factory(), w.clock, account, course_id)


@router.get("/dashboard/{course_id}", name="dashboard_course", response_class=HTMLResponse)
def dashboard_course(request: Request, account: Patient, course_id: str) -> HTMLResponse:
    """One of the patient's courses (when there is more than one)."""
    return _dashboard(request, account, _view(request, account, course_id))


def _back(request: Request, course_id: str, anchor: str) -> RedirectResponse:
    url = request.app.url_path_for("dashboard_course", course_id=course_id)
    return RedirectResponse(f"{url}#{anchor}", status_code=303)


def _out_of_date(form: FormState, name: str, view: CourseView) -> bool:
    """True (and a message) when the form was made for a dose that is no longer the one due."""
    expected = form.text(name)
    due = view.status.next_dose
    if not expected or (due is not None and due.due.isoformat() == expected):
        return False
    now_due = f" The dose due now is the one of {due.due.isoformat()}." if due else " No dose is due now."
    form.general.append(
        f"The dose of {expected} has already been recorded or skipped (perhaps in another window). "
        f"Nothing was saved.{now_due}"
    )
    return True


# --- log a dose, skip ---------------------------------------------------------------------------------------

_DOSE_FIELDS = {"dose_mg": "dose.dose", "given_by": ""}


def _log_dose(request: Request, account: Account, course_id: str, form: FormState) -> Response:
    w = deps.wiring(request)
    view = _view(request, account, course_id)
    course = view.history.course
    forms = _defaults(view, w.clock.today())
    forms.dose, forms.open = form, "dose"
    if _out_of_date(form, "dose.due", view):
        return _dashboard(request, account, view, forms, status_code=409)
    at = _moment(form, "dose.at")
    expiry = _day(form, "dose.expiry")
    site = form.text("dose.site")
    if site and site not in course.sites:
        form.add_error("dose.site", "Choose one of the sites in the list, or leave it as not recorded")
    batch = _text(form, "dose.batch")
    reaction = _text(form, "dose.reaction", MAX_NOTE)
    note = _text(form, "dose.note", MAX_NOTE)
    if not form.ok:
        return _dashboard(request, account, view, forms, status_code=422)
    try:
        given = record_dose(
            w.uow_factory(),
            w.clock,
            account,
            course_id,
            at=at,
            dose=form.text("dose.dose") or None,
            site=site or None,
            expiry=expiry,
            batch=batch,
            reaction=reaction,
            note=note,
        )
    except CaseError as error:
        _case_error(form, error, "dose", _DOSE_FIELDS)
        return _dashboard(request, account, view, forms, status_code=422)
    after = _view(request, account, course_id).status.next_dose
    message = f"Recorded: {dose_text(given.dose_mg)} on {given.at:%a %d %b %Y}"
    message += f" into the {given.site}." if given.site else "."
    message += f" Your next dose is due on {after.due:%a %d %b %Y}." if after else " No further dose is scheduled."
    deps.flash(request, message)
    return _back(request, course_id, "next-dose")


@router.post("/dashboard/{course_id}/doses", name="log_dose")
async def log_dose(request: Request, account: Patient, course_id: str) -> Response:
    """Record a dose given: the due dose and suggested site unless changed (two taps: open, confirm)."""
    form = FormState.of(await request.form())
    return await run_in_threadpool(_log_dose, request, account, course_id, form)


def _skip(request: Request, account: Account, course_id: str, form: FormState) -> Response:
    w = deps.wiring(request)
    view = _view(request, account, course_id)
    forms = _defaults(view, w.clock.today())
    forms.skip, forms.open = form, "skip"
    if _out_of_date(form, "skip.due", view):
        return _dashboard(request, account, view, forms, status_code=409)
    due = _day(form, "skip.due")
    reason = _text(form, "skip.reason", MAX_NOTE)
    if not form.ok:
        return _dashboard(request, account, view, forms, status_code=422)
    try:
        skipped = skip_dose(w.uow_factory(), w.clock, account, course_id, due=due, reason=reason)
    except CaseError as error:
        _case_error(form, error, "skip", {"due": ""})
        return _dashboard(request, account, view, forms, status_code=422)
    after = _view(request, account, course_id).status.next_dose
    message = f"The dose due on {skipped.due:%a %d %b %Y} is recorded as skipped."
    message += f" Your next dose is due on {after.due:%a %d %b %Y}." if after else ""
    deps.flash(request, message)
    return _back(request, course_id, "next-dose")


@router.post("/dashboard/{course_id}/skip", name="skip_dose")
async def skip(request: Request, account: Patient, course_id: str) -> Response:
    """Record the dose now due as skipped on purpose (the next one is counted from its due date)."""
    form = FormState.of(await request.form())
    return await run_in_threadpool(_skip, request, account, course_id, form)


# --- symptom diary, lab results ---------------------------------------------------------------------------


def _symptoms(request: Request, account: Account, course_id: str, form: FormState) -> Response:
    w = deps.wiring(request)
    view = _view(request, account, course_id)
    forms = _defaults(view, w.clock.today())
    forms.symptoms, forms.open = form, "symptoms"
    scores: dict[str, int] = {}
    for symptom in TrackedSymptom:
        name = f"scores.{symptom.value}"
        text = form.text(name)
        if not text:
            continue
        if not text.isdigit() or not 0 <= int(text) <= 10:
            form.add_error(name, "Choose a score from 0 (none) to 10 (worst), or leave it blank")
        else:
            scores[symptom.value] = int(text)
    if not scores and not form.errors:
        form.add_error("scores", "Score at least one symptom: 0 means you do not have it today")
    at = _moment(form, "symptoms.at")
    note = _text(form, "symptoms.note", MAX_NOTE)
    if not form.ok:
        return _dashboard(request, account, view, forms, status_code=422)
    try:
        record_symptoms(w.uow_factory(), w.clock, account, view.patient.id, scores, at=at, note=note)
    except CaseError as error:
        _case_error(form, error, "symptoms", {f"scores.{s.value}": f"scores.{s.value}" for s in TrackedSymptom})
        return _dashboard(request, account, view, forms, status_code=422)
    deps.flash(request, f"Symptom diary saved ({len(scores)} {'symptom' if len(scores) == 1 else 'symptoms'} scored).")
    return _back(request, course_id, "diary")


@router.post("/dashboard/{course_id}/symptoms", name="record_symptoms")
async def symptoms(request: Request, account: Patient, course_id: str) -> Response:
    """A symptom diary entry: scores 0-10 for any of the seven tracked symptoms, and a note."""
    form = FormState.of(await request.form())
    return await run_in_threadpool(_symptoms, request, account, course_id, form)


def _lab(request: Request, account: Account, course_id: str, form: FormState) -> Response:
    w = deps.wiring(request)
    view = _view(request, account, course_id)
    forms = _defaults(view, w.clock.today())
    forms.lab, forms.open = form, "lab"
    analyte = form.text("lab.analyte")
    if analyte not in {a.value for a in Analyte}:
        form.add_error("lab.analyte", "Choose the test from the list")
    value = parse_number(form, "lab.value", required=True, example="250")
    if not form.text("lab.unit"):
        form.add_error("lab.unit", "Enter the unit printed on the report, for example ng/L, pg/mL or pmol/L")
    taken = _day(form, "lab.taken", required=True)
    lower = parse_number(form, "lab.lower_limit", example="180")
    upper = parse_number(form, "lab.upper_limit", example="900")
    if not form.ok or value is None or taken is None:
        return _dashboard(request, account, view, forms, status_code=422)
    try:
        entry = record_lab(
            w.uow_factory(),
            w.clock,
            account,
            view.patient.id,
            analyte,
            value,
            form.text("lab.unit"),
            taken=taken,
            lower_limit=lower,
            upper_limit=upper,
        )
    except CaseError as error:
        _case_error(form, error, "lab")
        return _dashboard(request, account, view, forms, status_code=422)
    deps.flash(
        request,
        f"Result saved: {analyte_name(entry.analyte)} {entry.value:g} {entry.unit} on {entry.taken:%a %d %b %Y}.",
    )
    return _back(request, course_id, "labs")


@router.post("/dashboard/{course_id}/labs", name="record_lab")
async def lab(request: Request, account: Patient, course_id: str) -> Response:
    """A lab result as reported (value and unit kept; the normalised value is stored beside it)."""
    form = FormState.of(await request.form())
    return await run_in_threadpool(_lab, request, account, course_id, form)


# --- entering a prescription ------------------------------------------------------------------------------

PRESCRIPTION_FIELDS = ("text", "product", "strength", "dose", "route", "frequency", "syringe")
_PHASE_FIELD = re.compile(r"phases\[(\d+)\](?:\.(\w+))?")


def _question_field(name: str, has_text: bool) -> str:
    """The form field a :class:`~b12.domain.prescription.Question` belongs to: a part of the label line
    (``phases[1].frequency``) is asked beside the line, unless only the fields were used."""
    if name in PRESCRIPTION_FIELDS:
        return name
    match = _PHASE_FIELD.fullmatch(name)
    if match and not has_text and match[1] == "0" and match[2] in PRESCRIPTION_FIELDS:
        return match[2]
    return "text"


def _prescription_page(
    request: Request, form: FormState, prescription: Prescription | None = None, *, status_code: int = 200
) -> HTMLResponse:
    context = {
        "form": form,
        "labels": FIELD_LABELS,
        "prescription": prescription,
        "products": [(p.value, p.value.capitalize()) for p in Product],
        "routes": [(r.value, ROUTE_WORDS[r].capitalize()) for r in Route],
        "guidelines": [(g, load_guideline(g).title) for g in GUIDELINE_IDS],
    }
    return deps.render(request, "patient_prescription.html", context, status_code=status_code)


@router.get("/prescription", name="prescription", response_class=HTMLResponse)
def prescription_form(request: Request, account: Patient) -> HTMLResponse:
    """Enter a prescription as written on the label: the fields, and the label's line as typed."""
    form = FormState()
    form.values.update(
        {"start": deps.get_clock(request).today().isoformat(), "guideline": "uk", "sites": ", ".join(DEFAULT_SITES)}
    )
    return _prescription_page(request, form)


def _read_prescription(form: FormState, today: date) -> tuple[Prescription | None, date | None, list[str]]:
    """Check the form's own fields, then read the prescription; every question lands beside its field."""
    for name in PRESCRIPTION_FIELDS:
        _text(form, name, MAX_LABEL_LINE if name == "text" else MAX_TEXT)
    start = _day(form, "start", required=True)
    if start is not None and not today - timedelta(days=3 * 365) <= start <= today + timedelta(days=365):
        form.add_error("start", "Enter a start date within three years before and one year after today")
    if form.text("guideline") not in GUIDELINE_IDS:
        form.add_error("guideline", "Choose a guideline from the list")
    sites = [s.strip() for s in form.text("sites").split(",") if s.strip()]
    if not sites:
        form.add_error("sites", "List at least one injection site, separated by commas")
    elif len(sites) > 12 or any(len(s) > 60 for s in sites):
        form.add_error("sites", "List at most 12 sites, each under 60 characters")
    if form.errors:
        return None, start, sites
    prescription = parse_prescription(
        form.text("text") or None,
        product=form.text("product") or None,
        strength=form.text("strength") or None,
        dose=form.text("dose") or None,
        syringe=form.text("syringe") or None,
        route=form.text("route") or None,
        frequency=form.text("frequency") or None,
    )
    asked: dict[str, list[str]] = {}
    for question in prescription.questions:
        asked.setdefault(_question_field(question.field, bool(form.text("text"))), []).append(question.text)
    for name, texts in asked.items():
        form.errors[name] = " ".join(dict.fromkeys(texts))
    return prescription, start, sites


def _submit_prescription(request: Request, account: Account, form: FormState) -> Response:
    w = deps.wiring(request)
    prescription, start, sites = _read_prescription(form, w.clock.today())
    if prescription is None or start is None or form.errors or not prescription.complete:
        form.values.pop("confirmed", None)
        return _prescription_page(request, form, prescription, status_code=422)
    words = prescription.describe()
    if form.text("action") != "confirm" or form.value("confirmed") != words:
        # First reading, or the prescription changed since it was read back: read it back (again).
        if form.text("action") == "confirm":
            form.general.append("The prescription changed since it was read back to you: check it again below.")
        form.values["confirmed"] = words
        return _prescription_page(request, form, prescription)
    try:
        started = start_course_from_prescription(
            w.uow_factory(),
            w.clock,
            account,
            _patient_id(account),
            prescription,
            start=start,
            guideline=form.text("guideline"),
            sites=sites,
        )
    except CaseError as error:
        field_name = error.field if error.field in form.values else "text"
        form.add_error(field_name, error.problem)
        form.values.pop("confirmed", None)
        return _prescription_page(request, form, prescription, status_code=422)
    deps.flash(request, "Your course has started.")
    url = request.app.url_path_for("course_started", course_id=started.course.id)
    return RedirectResponse(url, status_code=303)


@router.post("/prescription", response_class=HTMLResponse)
async def prescription_submit(request: Request, account: Patient) -> Response:
    """Read the prescription back in plain words; once confirmed, start the course (questions never guessed)."""
    form = FormState.of(await request.form())
    return await run_in_threadpool(_submit_prescription, request, account, form)


@router.get("/dashboard/{course_id}/started", name="course_started", response_class=HTMLResponse)
def course_started(request: Request, account: Patient, course_id: str) -> HTMLResponse:
    """A course just started from a prescription: in plain words, and how it differs from the guideline."""
    view = _view(request, account, course_id)
    course = view.history.course
    guideline = load_guideline(course.guideline)
    try:
        strength = parse_strength(course.strength) if course.strength else None
    except UnitError:
        strength = None
    try:
        syringe = parse_syringe(course.syringe) if course.syringe else None
    except UnitError:
        syringe = None
    subcutaneous = parse_prescription(course.source_text).subcutaneous if course.source_text else False
    differences = check_against_guideline(
        course.phases,
        guideline,
        regimen_id=course.regimen_id,
        strength=strength,
        syringe=syringe,
        subcutaneous=subcutaneous,
    )
    context = {
        "view": view,
        "course": course,
        "guideline": guideline,
        "words": ", then ".join(p.text for p in course.phases),
        "differences": differences,
    }
    return deps.render(request, "patient_course_started.html", context)
