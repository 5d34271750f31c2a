"""Clinician pages: the patient list with statuses, a patient's record, starting and amending courses, the audit trail.

Every route is behind ``require_clinician`` (any other role gets 404). A patient or course that is not the
clinician's own is answered 404 as well (:class:`~b12.domain.access.NotAllowedError`, which the services
raise for "not yours" and "does not exist" alike)::

    GET  /clinician/patients                      the list; ?sort=name|next_due|status&order=asc|desc
    GET  /clinician/patients/new                  the new-patient form; POST /clinician/patients creates
    GET  /clinician/patients/{patient_id}         courses with status, red flags, recent facts, exports
    GET  /clinician/patients/{patient_id}/audit   the patient's audit trail, newest first
    POST /clinician/courses                       start a course from the assessment page's plan
    GET  /clinician/courses/{course_id}           status, schedule, amendments, the amend form
    POST /clinician/courses/{course_id}/amend     amend the course with a reason
    GET  /clinician/courses/{course_id}/audit     the course's audit trail, newest first

Writes go through the tracking services (``create_patient``, ``start_course_from_plan``, ``amend_course``);
the new-patient form checks its fields first, in its own words, so that each problem shows beside its field.
Reads are views in the cosmicpython sense: they read the repositories directly, after the same
:func:`~b12.domain.accounts.can_see_patient` check the services make, and recompute each course's status with
:func:`~b12.domain.tracking.course_status` on the clock's date.

Starting a course never trusts a plan sent by the browser: the start form carries the assessment as typed
(hidden fields), and the plan is made again here from it, with the strength, syringe and start date chosen
in the form; the clinician confirms the regimen, and if the recomputed plan names another one the form is
refused.

The list's statuses, per course and then per patient (the union over the patient's courses):

- **red flag**: an alert of warning or critical severity other than an overdue dose (neurological symptoms,
  a reaction, no haematological response, potassium, a review or blood test past due, a difference from
  the guideline's data), each with its rule ID;
- **overdue**: the next dose is late by more than the adherence tolerance (TRK-OVERDUE);
- **review due**: a review checkpoint without a review recorded is due within ``REVIEW_EARLY_DAYS``, or past;
- **due**: the next dose is due today or earlier, within the tolerance.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts

from b12.adapters.plan_json import plan_to_dict
from b12.adapters.web import deps
from b12.adapters.web.assessment import choices, field_label, label, plan_from_form
from b12.adapters.web.forms import FormState, parse_whole
from b12.domain.access import NotAllowedError
from b12.domain.accounts import Account, AuditEntry, PatientRecord, can_see_patient
from b12.domain.alerts import Alert, Severity
from b12.domain.case import Sex
from b12.domain.errors import B12Error, CaseError
from b12.domain.guidelines import load_guideline
from b12.domain.plan import Plan
from b12.domain.regimen import Frequency
from b12.domain.tracking import (
    REVIEW_EARLY_DAYS,
    AmendmentKind,
    Course,
    CourseState,
    CourseStatus,
    DoseGiven,
    History,
    LabEntry,
    SymptomEntry,
    course_status,
)
from b12.ports import UnitOfWork
from b12.services_tracking import (
    MAX_INTERVAL_MONTHS,
    MAX_PATIENT_NAME,
    amend_course,
    create_patient,
    start_course_from_plan,
    visible_course,
)

router = APIRouter()
Clinician = Annotated[Account, Depends(deps.require_clinician)]

UPCOMING = 12  # doses of the schedule shown on a course's page
RECENT = 10  # doses, results and diary entries shown on a patient's page


# --- statuses ---------------------------------------------------------------------------------------------


class Flag(StrEnum):
    """A course's (and a patient's) status on the list, most urgent first (see the module docstring)."""

    RED_FLAG = "red_flag"
    OVERDUE = "overdue"
    REVIEW_DUE = "review_due"
    DUE = "due"


FLAG_LABELS: Mapping[Flag, str] = {
    Flag.RED_FLAG: "Red flag",
    Flag.OVERDUE: "Overdue",
    Flag.REVIEW_DUE: "Review due",
    Flag.DUE: "Due",
}
_RANK = {flag: rank for rank, flag in enumerate(Flag)}
# Patients without any flag, after the flagged ones: on track, course ended, no course at all.
_QUIET = {"on_track": ("On track", 4), "ended": ("Course ended", 5), "no_course": ("No course", 6)}


def red_flags(status: CourseStatus) -> tuple[Alert, ...]:
    return tuple(a for a in status.alerts if a.severity is not Severity.INFO and a.rule != "TRK-OVERDUE")


def course_flags(status: CourseStatus) -> tuple[Flag, ...]:
    today = status.today
    flags: set[Flag] = set()
    if red_flags(status):
        flags.add(Flag.RED_FLAG)
    if any(a.rule == "TRK-OVERDUE" for a in status.alerts):
        flags.add(Flag.OVERDUE)
    elif status.next_dose is not None and status.next_dose.due <= today:
        flags.add(Flag.DUE)
    if any(r.done_on is None and r.due - timedelta(days=REVIEW_EARLY_DAYS) <= today for r in status.reviews):
        flags.add(Flag.REVIEW_DUE)
    return tuple(sorted(flags, key=_RANK.__getitem__))


@dataclass(frozen=True, slots=True)
class CourseView:
    history: History
    status: CourseStatus

    @property
    def course(self) -> Course:
        return self.history.course

    @property
    def flags(self) -> tuple[Flag, ...]:
        return course_flags(self.status)

    @property
    def red_flags(self) -> tuple[Alert, ...]:
        return red_flags(self.status)

    @property
    def running(self) -> bool:
        return self.status.state in (CourseState.NOT_STARTED, CourseState.ACTIVE)


@dataclass(frozen=True, slots=True)
class PatientView:
    patient: PatientRecord
    courses: tuple[CourseView, ...]
    today: date

    @property
    def flags(self) -> tuple[Flag, ...]:
        found = {flag for view in self.courses for flag in view.flags}
        return tuple(sorted(found, key=_RANK.__getitem__))

    @property
    def quiet(self) -> str:
        """The status words for a patient without a flag."""
        if not self.courses:
            return "no_course"
        return "on_track" if any(v.running for v in self.courses) else "ended"

    @property
    def rank(self) -> int:
        flags = self.flags
        return _RANK[flags[0]] if flags else _QUIET[self.quiet][1]

    @property
    def next_due(self) -> date | None:
        dues = [v.status.next_dose.due for v in self.courses if v.status.next_dose is not None]
        return min(dues) if dues else None

    @property
    def red_flags(self) -> tuple[tuple[Course, Alert], ...]:
        return tuple((v.course, a) for v in self.courses for a in v.red_flags)

    @property
    def age(self) -> int | None:
        return age_on(self.patient.birth_date, self.today)

    def recent_doses(self) -> list[tuple[Course, DoseGiven]]:
        doses = [(v.course, d) for v in self.courses for d in v.history.doses if d.at.date() <= self.today]
        return sorted(doses, key=lambda pair: pair[1].at, reverse=True)[:RECENT]

    def recent_labs(self) -> list[LabEntry]:
        # Every course's history holds all of the patient's results: deduplicated by ID.
        labs = {e.id: e for v in self.courses for e in v.history.labs}
        return sorted(labs.values(), key=lambda e: (e.taken, e.id), reverse=True)[:RECENT]

    def recent_symptoms(self) -> list[SymptomEntry]:
        entries = {e.id: e for v in self.courses for e in v.history.symptoms}
        return sorted(entries.values(), key=lambda e: e.at, reverse=True)[:RECENT]


def age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# --- reading (views) --------------------------------------------------------------------------------------


def _own_patient(uow: UnitOfWork, actor: Account, patient_id: str) -> PatientRecord:
    patient = uow.accounts.patient(patient_id)
    if patient is None or not can_see_patient(actor, patient):
        raise NotAllowedError(actor.id, "patient", patient_id)
    return patient


def _course_view(uow: UnitOfWork, actor: Account, course_id: str, today: date, upcoming: int = 5) -> CourseView:
    history, _ = visible_course(uow, actor, course_id)
    return CourseView(history, course_status(history, today, upcoming=upcoming))


def _patient_view(uow: UnitOfWork, actor: Account, patient: PatientRecord, today: date) -> PatientView:
    views = tuple(_course_view(uow, actor, c.id, today) for c in uow.tracking.courses_for(patient.id))
    return PatientView(patient, views, today)


class Sort(StrEnum):
    NAME = "name"
    NEXT_DUE = "next_due"
    STATUS = "status"


def sort_patients(rows: Iterable[PatientView], sort: Sort, descending: bool) -> list[PatientView]:
    """Sorted by name, next dose due (patients without one last, either way) or status (most urgent first)."""
    rows = list(rows)
    by_name = sorted(rows, key=lambda r: (r.patient.name.casefold(), r.patient.id), reverse=descending)
    if sort is Sort.NAME:
        return by_name
    if sort is Sort.NEXT_DUE:
        dated = sorted((r for r in by_name if r.next_due), key=lambda r: r.next_due or date.max, reverse=descending)
        return dated + [r for r in by_name if r.next_due is None]
    by_name = sorted(rows, key=lambda r: (r.patient.name.casefold(), r.patient.id))
    return sorted(by_name, key=lambda r: (r.rank, r.next_due or date.max), reverse=descending)


def _names(uow: UnitOfWork, ids: Iterable[str | None]) -> dict[str, str]:
    names: dict[str, str] = {}
    for account_id in set(ids):
        if account_id:
            found = uow.accounts.account(account_id)
            names[account_id] = f"{found.name} ({found.role.value})" if found else account_id
    return names


def _audit_entries(uow: UnitOfWork, keys: Iterable[tuple[str, str]]) -> list[AuditEntry]:
    """The entries about these (entity, ID) pairs, newest first.

    The audit port filters by one entity at a time, so this asks once per entity; an ``entries`` filter by
    patient in the port would make it one query.
    """
    found: dict[str, AuditEntry] = {}
    for entity, entity_id in dict.fromkeys(keys):
        for entry in uow.audit.entries(entity=entity, entity_id=entity_id, limit=1000):
            found[entry.id] = entry
    return sorted(found.values(), key=lambda e: e.at, reverse=True)


def _course_keys(history: History) -> list[tuple[str, str]]:
    return [
        ("course", history.course.id),
        *(("dose", d.id) for d in history.doses),
        *(("skip", s.id) for s in history.skips),
        *(("reaction", r.id) for r in history.reactions),
    ]


def _patient_keys(view: PatientView) -> list[tuple[str, str]]:
    keys = [("patient", view.patient.id)]
    for course in view.courses:
        keys += _course_keys(course.history)
        keys += [("symptoms", e.id) for e in course.history.symptoms]
        keys += [("lab", e.id) for e in course.history.labs]
    return keys


# --- words for the pages ----------------------------------------------------------------------------------

AMENDMENT_LABELS: Mapping[AmendmentKind, str] = {
    AmendmentKind.SET_MAINTENANCE_INTERVAL: "Set the maintenance interval",
    AmendmentKind.END_LOADING: "End loading (no further improvement)",
    AmendmentKind.SWITCH_ROUTE: "Switch route or regimen",
    AmendmentKind.REVIEW: "Record a review (the schedule stays as it is)",
    AmendmentKind.STOP: "Stop the course",
}
ACTION_LABELS: Mapping[str, str] = {
    "patient.create": "Created the patient record",
    "account.create": "Created an account",
    "course.create": "Started a course",
    "course.amend": "Amended the course",
    "dose.record": "Recorded a dose",
    "dose.skip": "Recorded a skipped dose",
    "symptoms.record": "Recorded symptoms",
    "lab.record": "Recorded a lab result",
    "reaction.record": "Recorded a reaction",
    "calendar.link.create": "Created a private calendar link",
    "calendar.link.revoke": "Revoked a private calendar link",
}
STATE_LABELS: Mapping[CourseState, str] = {
    CourseState.NOT_STARTED: "No dose given yet",
    CourseState.ACTIVE: "Active",
    CourseState.COMPLETE: "Complete",
    CourseState.STOPPED: "Stopped",
}
_HIDDEN_DETAIL = frozenset({"patient_id", "course_id", "demo"})


def describe_entry(entry: AuditEntry) -> tuple[str, list[tuple[str, str]]]:
    """An audit entry's action in words, and its details as (label, value) pairs."""
    action = ACTION_LABELS.get(entry.action, entry.action)
    if entry.action == "course.amend":
        with contextlib.suppress(ValueError):
            action = f"Amended the course: {AMENDMENT_LABELS[AmendmentKind(str(entry.detail.get('kind')))]}"
    details = []
    for key, value in entry.detail.items():
        if key in _HIDDEN_DETAIL or (key == "kind" and entry.action == "course.amend") or value in (None, "", [], {}):
            continue
        details.append((key.replace("_", " ").capitalize(), _detail_value(value)))
    return action, details


def interval_words(frequency: Frequency) -> str:
    """The interval scheduled, with the label's range beside it: "every 2 months (label: every 2–3 months)"."""
    span = frequency.every_range
    if frequency.times_per_week or span is None or span.low == span.high:
        return frequency.describe()
    unit = frequency.unit.value if frequency.every == 1 else f"{frequency.unit.value}s"
    return f"every {frequency.every} {unit} (label: {frequency.describe()})"


def _detail_value(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_detail_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_detail_value(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# The exports of a course (routes/exports.py), linked where the app has them (a GET route matching the path).
COURSE_EXPORTS = (
    ("All exports and calendar links", "/exports/{course_id}"),
    ("Calendar (.ics)", "/exports/{course_id}/calendar.ics"),
    ("Printable summary", "/exports/{course_id}/summary"),
    ("Summary as PDF", "/exports/{course_id}/summary.pdf"),
    ("Doses (CSV)", "/exports/{course_id}/doses.csv"),
    ("Lab results (CSV)", "/exports/{course_id}/labs.csv"),
    ("Symptom diary (CSV)", "/exports/{course_id}/symptoms.csv"),
)


def existing_links(request: Request, links: Sequence[tuple[str, str]], **params: str) -> list[tuple[str, str]]:
    """The links whose path a GET route of this app answers (an export not built yet is not offered)."""
    found = []
    for text, template in links:
        path = template.format(**params)
        for context in iter_route_contexts(request.app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and "GET" in (route.methods or ()) and route.path_regex.fullmatch(path):
                found.append((text, path))
                break
    return found


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    return {
        "FLAG_LABELS": FLAG_LABELS,
        "QUIET": _QUIET,
        "STATE_LABELS": STATE_LABELS,
        "AMENDMENT_LABELS": AMENDMENT_LABELS,
        "label": label,
        "interval_words": interval_words,
        "today": deps.get_clock(request).today(),
        **extra,
    }


# --- the patient list -------------------------------------------------------------------------------------


@router.get("/clinician/patients", name="clinician_patients", response_class=HTMLResponse)
def patients(request: Request, clinician: Clinician) -> HTMLResponse:
    """The clinician's patients with their status; sorted by ``sort`` (name, next_due, status) and ``order``."""
    try:
        sort = Sort(request.query_params.get("sort", Sort.STATUS.value))
    except ValueError:
        sort = Sort.STATUS
    descending = request.query_params.get("order") == "desc"
    today = deps.get_clock(request).today()
    with deps.get_uow(request) as uow:
        rows = [_patient_view(uow, clinician, p, today) for p in uow.accounts.patients_of(clinician.id)]
    context = _context(request, rows=sort_patients(rows, sort, descending), sort=sort.value, descending=descending)
    return deps.render(request, "clinician_patients.html", context)


# --- a new patient ----------------------------------------------------------------------------------------


def _new_patient_page(request: Request, form: FormState, *, status_code: int = 200) -> HTMLResponse:
    sexes = [{"value": s.value, "label": label(s)} for s in Sex]
    return deps.render(request, "clinician_patient_new.html", {"form": form, "sexes": sexes}, status_code=status_code)


@router.get("/clinician/patients/new", name="clinician_patient_new", response_class=HTMLResponse)
def new_patient_form(request: Request, clinician: Clinician) -> HTMLResponse:
    """The form for a new patient of this clinician."""
    return _new_patient_page(request, FormState())


@dataclass(frozen=True, slots=True)
class NewPatient:
    name: str
    sex: Sex
    birth_date: date
    pregnant: bool = False
    breastfeeding: bool = False


def check_new_patient(form: FormState, today: date) -> NewPatient | None:
    name = " ".join(form.text("name").split())
    if not name:
        form.add_error("name", "Enter the patient's name")
    elif len(name) > MAX_PATIENT_NAME:
        form.add_error("name", f"Enter a name of at most {MAX_PATIENT_NAME} characters")
    sex: Sex | None = None
    try:
        sex = Sex(form.text("sex"))
    except ValueError:
        form.add_error("sex", "Choose female or male (the guideline data is written for these two)")
    birth: date | None = None
    if not form.text("birth_date"):
        form.add_error("birth_date", "Enter the date of birth, for example 1964-03-12")
    else:
        try:
            birth = date.fromisoformat(form.text("birth_date"))
        except ValueError:
            form.add_error("birth_date", "Enter the date as YYYY-MM-DD, for example 1964-03-12")
        else:
            if not date(1900, 1, 1) <= birth <= today:
                form.add_error("birth_date", "Enter a date of birth between 1900 and today")
    pregnant, breastfeeding = form.checked("pregnant"), form.checked("breastfeeding")
    if sex is Sex.MALE:
        for name_, word in (("pregnant", "pregnant"), ("breastfeeding", "breastfeeding")):
            if form.checked(name_):
                form.add_error(name_, f"Only a female patient can be recorded as {word}")
    if not form.ok or sex is None or birth is None:
        return None
    return NewPatient(name, sex, birth, pregnant, breastfeeding)


@router.post("/clinician/patients", name="clinician_patient_create", response_class=HTMLResponse)
async def new_patient(request: Request, clinician: Clinician) -> Response:
    """Create the patient (assigned to this clinician), or the form again with each problem beside its field."""
    form = FormState.of(await request.form())
    clock = deps.get_clock(request)
    new = check_new_patient(form, clock.today())
    if new is None:
        return _new_patient_page(request, form, status_code=422)
    # The form's checks cover the service's, so a CaseError cannot reach here (it would be app.py's 422 page).
    patient = await run_in_threadpool(
        create_patient,
        deps.get_uow(request),
        clock,
        clinician,
        new.name,
        new.sex,
        birth_date=new.birth_date,
        pregnant=new.pregnant,
        breastfeeding=new.breastfeeding,
    )
    deps.flash(request, f"{patient.name} is on your list. To start a course, run an assessment and choose them.")
    return RedirectResponse(request.app.url_path_for("clinician_patient", patient_id=patient.id), status_code=303)


# --- a patient's page -------------------------------------------------------------------------------------


@router.get("/clinician/patients/{patient_id}", name="clinician_patient", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: str, clinician: Clinician) -> HTMLResponse:
    """A patient's courses with status and next dose, red flags with rules and sources, recent facts, exports."""
    today = deps.get_clock(request).today()
    with deps.get_uow(request) as uow:
        view = _patient_view(uow, clinician, _own_patient(uow, clinician, patient_id), today)
        givers = _names(uow, (d.given_by for _, d in view.recent_doses()))
    context = _context(
        request,
        view=view,
        givers=givers,
        course_exports={
            v.course.id: existing_links(request, COURSE_EXPORTS, course_id=v.course.id) for v in view.courses
        },
    )
    return deps.render(request, "clinician_patient.html", context)


@router.get("/clinician/patients/{patient_id}/audit", name="clinician_patient_audit", response_class=HTMLResponse)
def patient_audit(request: Request, patient_id: str, clinician: Clinician) -> HTMLResponse:
    """Who did what and when to this patient's record and courses, newest first."""
    today = deps.get_clock(request).today()
    with deps.get_uow(request) as uow:
        view = _patient_view(uow, clinician, _own_patient(uow, clinician, patient_id), today)
        entries = _audit_entries(uow, _patient_keys(view))
        names = _names(uow, (e.actor_id for e in entries))
    context = _context(
        request, patient=view.patient, course=None, entries=entries, names=names, describe=describe_entry
    )
    return deps.render(request, "clinician_audit.html", context)


# --- a course's page and its amendments -------------------------------------------------------------------


def _regimen_choices(course: Course) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    guideline = load_guideline(course.guideline)
    regimens = [{"value": r.id, "label": f"{r.id}: {r.title}"} for r in guideline.regimens.values()]
    names = dict.fromkeys(p.name for r in guideline.regimens.values() for p in r.phases)
    return regimens, [{"value": n, "label": n} for n in names]


def _course_page(
    request: Request, clinician: Account, course_id: str, form: FormState | None = None, *, status_code: int = 200
) -> HTMLResponse:
    today = deps.get_clock(request).today()
    with deps.get_uow(request) as uow:
        view = _course_view(uow, clinician, course_id, today, upcoming=UPCOMING)
        patient = _own_patient(uow, clinician, view.course.patient_id)
        names = _names(uow, (a.by for a in view.history.amendments))
    if form is None:
        form = FormState(values={"effective": today.isoformat()})
    regimens, phases = _regimen_choices(view.course)
    kinds = [{"value": k.value, "label": AMENDMENT_LABELS[k]} for k in AmendmentKind]
    context = _context(
        request,
        view=view,
        patient=patient,
        form=form,
        kinds=kinds,
        regimens=regimens,
        phases=phases,
        names=names,
        max_months=MAX_INTERVAL_MONTHS,
        amendments=sorted(view.history.amendments, key=lambda a: a.at, reverse=True),
        exports=existing_links(request, COURSE_EXPORTS, course_id=view.course.id),
    )
    return deps.render(request, "clinician_course.html", context, status_code=status_code)


@router.get("/clinician/courses/{course_id}", name="clinician_course", response_class=HTMLResponse)
def course_page(request: Request, course_id: str, clinician: Clinician) -> HTMLResponse:
    """A course: status, the schedule as it now stands, checkpoints, alerts, amendments, the amend form."""
    return _course_page(request, clinician, course_id)


# The amend form's fields; the service's "kind" is the form's "change".
_AMEND_FIELDS = frozenset({"change", "reason", "effective", "months", "regimen", "phase"})


def _amend(request: Request, clinician: Account, course_id: str, form: FormState) -> str | None:
    """Amend the course from the form; None with the problems in ``form`` when refused."""
    kind = form.text("change")
    if not kind:
        form.add_error("change", "Choose what to change")
    if not form.text("reason"):
        form.add_error("reason", "Give the reason for the change: it is kept with the course")
    effective: date | None = None
    if form.text("effective"):
        try:
            effective = date.fromisoformat(form.text("effective"))
        except ValueError:
            form.add_error("effective", "Enter the date as YYYY-MM-DD, for example 2026-03-01")
    months: int | None = None
    regimen = phase = None
    if kind == AmendmentKind.SET_MAINTENANCE_INTERVAL:
        months = parse_whole(form, "months", example="2")
        if months is None and not form.error("months"):
            form.add_error("months", f"Enter the interval in months, from 1 to {MAX_INTERVAL_MONTHS}")
    elif kind == AmendmentKind.SWITCH_ROUTE:
        regimen = form.text("regimen") or None
        phase = form.text("phase") or None
        if regimen is None:
            form.add_error("regimen", "Choose the regimen to switch to")
    if not form.ok:
        return None
    try:
        amendment = amend_course(
            deps.get_uow(request),
            deps.get_clock(request),
            clinician,
            course_id,
            kind,
            reason=form.text("reason"),
            effective=effective,
            months=months,
            regimen=regimen,
            phase=phase,
        )
    except CaseError as error:
        name = error.field if error.field in _AMEND_FIELDS else "change"
        form.add_error(name, _sentence(error.problem))
        return None
    return AMENDMENT_LABELS[amendment.kind]


def _sentence(problem: str) -> str:
    return problem[:1].upper() + problem[1:]


@router.post("/clinician/courses/{course_id}/amend", name="clinician_course_amend", response_class=HTMLResponse)
async def amend(request: Request, course_id: str, clinician: Clinician) -> Response:
    """Amend the course with a reason (a recorded fact); the schedule is recomputed from it."""
    form = FormState.of(await request.form())
    # The course must be this clinician's before its form is even read: 404 otherwise.
    await run_in_threadpool(_check_course, request, clinician, course_id)
    done = await run_in_threadpool(_amend, request, clinician, course_id, form)
    if done is None:
        return await run_in_threadpool(_course_page, request, clinician, course_id, form, status_code=422)
    deps.flash(request, f"Amended: {done}. The schedule below is recomputed from it.")
    return RedirectResponse(request.app.url_path_for("clinician_course", course_id=course_id), status_code=303)


def _check_course(request: Request, clinician: Account, course_id: str) -> None:
    with deps.get_uow(request) as uow:
        _course_view(uow, clinician, course_id, deps.get_clock(request).today())


@router.get("/clinician/courses/{course_id}/audit", name="clinician_course_audit", response_class=HTMLResponse)
def course_audit(request: Request, course_id: str, clinician: Clinician) -> HTMLResponse:
    """Who did what and when to this course, newest first."""
    today = deps.get_clock(request).today()
    with deps.get_uow(request) as uow:
        view = _course_view(uow, clinician, course_id, today)
        patient = _own_patient(uow, clinician, view.course.patient_id)
        entries = _audit_entries(uow, _course_keys(view.history))
        names = _names(uow, (e.actor_id for e in entries))
    context = _context(
        request, patient=patient, course=view.course, entries=entries, names=names, describe=describe_entry
    )
    return deps.render(request, "clinician_audit.html", context)


# --- starting a course from the assessment page -----------------------------------------------------------

COURSE_FIELDS = ("strength", "syringe", "start")  # chosen again in the start form as course.<name>
_NOT_CARRIED = re.compile(r"csrf_token|action|course\..*")


def _assessment(form: FormState, *, chosen: bool = True) -> FormState:
    """The assessment of a start form, with the strength, syringe and start date chosen in it (or as assessed)."""
    values = {k: v for k, v in form.values.items() if not _NOT_CARRIED.fullmatch(k)}
    lists = {k: list(v) for k, v in form.lists.items() if not _NOT_CARRIED.fullmatch(k)}
    for name in COURSE_FIELDS if chosen else ():
        typed = form.text(f"course.{name}")
        values.pop(name, None)
        lists.pop(name, None)
        if typed:
            values[name], lists[name] = typed, [typed]
    return FormState(values=values, lists=lists)


@dataclass(slots=True)
class StartAttempt:
    form: FormState
    plan: Plan | None = None
    patients: list[PatientRecord] = field(default_factory=list)
    started: tuple[PatientRecord, Course] | None = None


def _start(request: Request, clinician: Account, form: FormState) -> StartAttempt:
    attempt = StartAttempt(form)
    clock = deps.get_clock(request)
    with deps.get_uow(request) as uow:
        attempt.patients = list(uow.accounts.patients_of(clinician.id))
    if not form.text("course.start"):
        form.add_error("course.start", "Enter the date of the first dose, for example 2026-01-05")
    assessment = _assessment(form)
    plan = plan_from_form(assessment)
    for name, message in assessment.errors.items():
        if name in COURSE_FIELDS:
            form.add_error(f"course.{name}", message)
        else:
            form.general.append(
                f"The assessment has a problem ({field_label(name)}: {message}): change it and make the plan again."
            )
    form.general.extend(assessment.general)
    # Shown with the form again: the plan as made, or else the plan of the assessment as first made (when only
    # the strength, syringe or start date chosen here was refused).
    attempt.plan = plan or plan_from_form(_assessment(form, chosen=False))
    patient = next((p for p in attempt.patients if p.id == form.text("course.patient")), None)
    if patient is None:
        form.add_error("course.patient", "Choose one of your patients")
    if plan is not None:
        regimen = plan.recommendation.regimen
        offered = form.text("course.regimen")
        if regimen is None or not plan.recommendation.treat:
            form.general.append("This plan recommends no treatment to start.")
        elif offered and offered != regimen.id:
            form.add_error(
                "course.confirm_regimen",
                f"The plan now recommends {regimen.id}, not {offered}: read the plan below and confirm again",
            )
        elif not form.checked("course.confirm_regimen"):
            form.add_error("course.confirm_regimen", f"Confirm the regimen {regimen.id} for this patient")
        if patient is not None:
            _check_patient_matches(form, patient, plan)
    if not form.ok or plan is None or patient is None:
        return attempt
    try:
        course = start_course_from_plan(deps.get_uow(request), clock, clinician, patient.id, plan)
    except CaseError as error:
        form.general.append(_sentence(error.problem))
    except B12Error as error:
        form.general.append(str(error))
    else:
        attempt.started = (patient, course)
    return attempt


def _check_patient_matches(form: FormState, patient: PatientRecord, plan: Plan) -> None:
    """The chosen patient is the one assessed: same sex, and the age typed is their age on the start date."""
    case = plan.case.patient
    if case.sex is not patient.sex:
        form.add_error(
            "course.patient",
            f"The assessment is for a {case.sex.value} patient; {patient.name} is recorded as {patient.sex.value}",
        )
    age = age_on(patient.birth_date, plan.case.start)
    if case.age is not None and age is not None and case.age != age:
        form.add_error(
            "course.patient",
            f"The assessment gives an age of {case.age}; {patient.name} is {age} on the start date",
        )


@router.post("/clinician/courses", name="clinician_course_start", response_class=HTMLResponse)
async def start_course(request: Request, clinician: Clinician) -> Response:
    """Start a course from the assessment's plan (made again here) for one of the clinician's patients."""
    form = FormState.of(await request.form())
    attempt = await run_in_threadpool(_start, request, clinician, form)
    if attempt.started is not None:
        patient, course = attempt.started
        deps.flash(
            request,
            f"Course started for {patient.name}: {course.regimen_id or 'the plan'} from {course.start:%-d %b %Y}.",
        )
        return RedirectResponse(request.app.url_path_for("clinician_patient", patient_id=patient.id), status_code=303)
    context = _context(
        request,
        form=form,
        plan=plan_to_dict(attempt.plan) if attempt.plan else None,
        choices=choices(),
    )
    return deps.render(request, "clinician_start.html", context, status_code=422)
