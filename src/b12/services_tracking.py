"""Tracking use cases: create a patient, start a course, record what happened, amend it, and read its status.

Each function takes a :class:`~b12.ports.UnitOfWork` and a :class:`~b12.ports.Clock` (nothing here reads
the system clock or opens a database) and the acting :class:`~b12.domain.accounts.Account`. The contract:

- Every write is one transaction: the facts and an :class:`~b12.domain.accounts.AuditEntry` (who, what,
  when) are committed together, or nothing is (a refused request leaves no trace but its error).
- Authorisation uses :func:`~b12.domain.accounts.can_see_patient`: a patient acts on their own record, a
  clinician on the patients they look after; creating a patient record (which the clinician then looks
  after), starting a course from a plan and amending a course are clinicians' acts. A refusal, and a
  patient or course that does not exist, both raise :class:`~b12.domain.access.NotAllowedError`, so that
  the two look the same from outside (web: 404).
- Inputs are checked here and refused with :class:`~b12.domain.errors.CaseError` naming the form field
  (``at``, ``dose``, ``scores.fatigue``, ``months``, ``birth_date``), so a form can show the message beside
  the field.
- Only facts are stored; :func:`status` recomputes everything with
  :func:`~b12.domain.tracking.course_status` on the clock's date.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from b12.domain.access import NotAllowedError
from b12.domain.accounts import Account, AuditEntry, PatientRecord, Role, can_see_patient
from b12.domain.alerts import Alert, severity_order
from b12.domain.analytes import Analyte
from b12.domain.case import Condition, Sex
from b12.domain.errors import CaseError, UnitError, UnknownGuidelineError
from b12.domain.guidelines import Guideline, load_guideline
from b12.domain.plan import Plan
from b12.domain.prescription import (
    Prescription,
    UnclearPrescriptionError,
    check_against_guideline,
    matching_regimen,
    read_dose,
)
from b12.domain.regimen import PhaseKind
from b12.domain.tracking import (
    DEFAULT_SITES,
    Amendment,
    AmendmentKind,
    Course,
    CourseState,
    CourseStatus,
    DoseGiven,
    DoseSkipped,
    History,
    LabEntry,
    Reaction,
    SymptomEntry,
    TrackedSymptom,
    course_status,
    normalise_lab,
)
from b12.domain.units import Strength, Syringe, parse_strength, parse_syringe, quantity
from b12.ports import Clock, UnitOfWork

__all__ = [
    "MAX_INTERVAL_MONTHS",
    "MAX_PATIENT_NAME",
    "CourseStarted",
    "amend_course",
    "courses_of_patient",
    "create_patient",
    "record_dose",
    "record_lab",
    "record_reaction",
    "record_symptoms",
    "skip_dose",
    "start_course_from_plan",
    "start_course_from_prescription",
    "status",
]

# Input sanity bounds for forms, not clinical limits: a maintenance interval of 1–12 months, a patient's name
# and texts that fit their columns, a date of birth from 1900.
MAX_INTERVAL_MONTHS = 12
MAX_PATIENT_NAME = 200
_EARLIEST_BIRTH = date(1900, 1, 1)
_MAX_SHORT_TEXT = 100
_MAX_LONG_TEXT = 2000


@dataclass(frozen=True, slots=True)
class CourseStarted:
    """A course started from a prescription, with how it differs from the guideline data."""

    course: Course
    alerts: tuple[Alert, ...]
    description: str


# --- helpers ----------------------------------------------------------------------------------------------


def _new_id() -> str:
    return uuid.uuid4().hex


def _patient(uow: UnitOfWork, actor: Account, patient_id: str, action: str = "see") -> PatientRecord:
    patient = uow.accounts.patient(patient_id)
    if patient is None or not can_see_patient(actor, patient):
        raise NotAllowedError(actor.id, "patient", patient_id, action)
    return patient


def visible_course(
    uow: UnitOfWork, actor: Account, course_id: str, action: str = "see"
) -> tuple[History, PatientRecord]:
    """The course's facts and its patient, if ``actor`` may see the patient; NotAllowedError (404) if not, or
    if the course does not exist — the one ownership check every adapter uses to read a course."""
    history = uow.tracking.history(course_id)
    patient = uow.accounts.patient(history.course.patient_id) if history is not None else None
    if history is None or patient is None or not can_see_patient(actor, patient):
        raise NotAllowedError(actor.id, "course", course_id, action)
    return history, patient


def _history(uow: UnitOfWork, actor: Account, course_id: str, action: str = "see") -> History:
    return visible_course(uow, actor, course_id, action)[0]


def _clinician(actor: Account, entity: str, entity_id: str, action: str) -> None:
    if actor.role is not Role.CLINICIAN:
        raise NotAllowedError(actor.id, entity, entity_id, action)


def _audit(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    action: str,
    entity: str,
    entity_id: str,
    detail: Mapping[str, object],
) -> None:
    uow.audit.append(
        AuditEntry(
            id=_new_id(),
            at=clock.now(),
            actor_id=actor.id,
            action=action,
            entity=entity,
            entity_id=entity_id,
            detail=dict(detail),
        )
    )


def _moment(value: datetime | None, clock: Clock, field: str) -> datetime:
    """A time typed in a form: now when empty; never in the future; in the clock's time zone when naive."""
    now = clock.now()
    if value is None:
        return now
    if value.tzinfo is None and now.tzinfo is not None:
        value = value.replace(tzinfo=now.tzinfo)
    elif value.tzinfo is not None and now.tzinfo is None:
        value = value.replace(tzinfo=None)
    if value > now:
        raise CaseError(field, "this cannot be in the future")
    return value


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > limit:
        raise CaseError(field, f"keep this under {limit} characters")
    return value


def _guideline(guideline_id: str) -> Guideline:
    try:
        return load_guideline(guideline_id)
    except UnknownGuidelineError as error:
        raise CaseError("guideline", str(error)) from error


def _review_months(guideline: Guideline, patient: PatientRecord, pregnant: bool = False) -> int | None:
    """FU-UK: review at 3 months, at 1 month when pregnant or breastfeeding [S6].

    A guideline without a follow-up table of its own (the US ones) gets FU-UK's: it is the only review
    interval in b12's sources, and a course without any review would never be looked at again.
    """
    followup = guideline.settings.get("followup") or load_guideline("uk").settings.get("followup")
    if not followup:
        return None
    if pregnant or patient.pregnant or patient.breastfeeding:
        return int(followup["review_months_pregnant_or_breastfeeding"])
    return int(followup["review_months"])


def _sites(sites: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(s.strip() for s in sites if s.strip()))
    if not cleaned:
        raise CaseError("sites", "list at least one injection site")
    for site in cleaned:
        _text(site, "sites", _MAX_SHORT_TEXT)
    return cleaned


# --- patients ---------------------------------------------------------------------------------------------


def create_patient(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    name: str,
    sex: Sex,
    *,
    birth_date: date | None = None,
    pregnant: bool = False,
    breastfeeding: bool = False,
    audit_detail: Mapping[str, object] | None = None,
) -> PatientRecord:
    """A clinician creates the record of a patient they will look after.

    The audit entry's detail is the record's name, sex and date of birth unless ``audit_detail`` replaces it
    (the API records only ``{"source": "api"}`` there).
    """
    _clinician(actor, "patient", "new", "create")
    text = _text(name, "name", MAX_PATIENT_NAME)
    if text is None:
        raise CaseError("name", "enter the patient's name")
    if birth_date is not None and not _EARLIEST_BIRTH <= birth_date <= clock.today():
        raise CaseError("birth_date", "a date of birth between 1900 and today")
    if sex is Sex.MALE and (pregnant or breastfeeding):
        raise CaseError("pregnant" if pregnant else "breastfeeding", "a patient recorded as male cannot be")
    with uow:
        patient = PatientRecord(
            id=_new_id(),
            name=text,
            sex=sex,
            created_at=clock.now(),
            birth_date=birth_date,
            clinician_id=actor.id,
            pregnant=pregnant,
            breastfeeding=breastfeeding,
        )
        uow.accounts.add_patient(patient)
        if audit_detail is None:
            birth = birth_date.isoformat() if birth_date else None
            audit_detail = {"name": patient.name, "sex": sex.value, "birth_date": birth}
        _audit(uow, clock, actor, "patient.create", "patient", patient.id, audit_detail)
        uow.commit()
    return patient


# --- starting a course ------------------------------------------------------------------------------------


def start_course_from_plan(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    patient_id: str,
    plan: Plan,
    *,
    sites: Sequence[str] = DEFAULT_SITES,
) -> Course:
    """A clinician starts the plan's schedule as a course for one of their patients."""
    _clinician(actor, "patient", patient_id, "start a course for")
    recommendation = plan.recommendation
    if not recommendation.treat or not recommendation.phases or not recommendation.scheduled:
        raise CaseError(
            "plan",
            "this plan has no schedule to start (no treatment recommended, or a safety rule withholds it): "
            "see its alerts",
        )
    phases = recommendation.phases
    product = phases[0].product
    # The strength matters only for injections (volumes); a course by mouth records none.
    injected = any(p.injected for p in phases)
    strength = (plan.case.strength or plan.guideline.strengths.get(product, "")) if injected else ""
    with uow:
        patient = _patient(uow, actor, patient_id, "start a course for")
        case_patient = plan.case.patient
        course = Course(
            id=_new_id(),
            patient_id=patient.id,
            guideline=plan.guideline.id,
            guideline_version=plan.guideline.version,
            regimen_id=recommendation.regimen.id if recommendation.regimen else None,
            phases=phases,
            product=product,
            strength=strength,
            syringe=plan.syringe.name if plan.syringe else None,
            start=plan.case.start,
            created_by=actor.id,
            created_at=clock.now(),
            lifelong=recommendation.lifelong,
            sites=_sites(sites),
            review_months=_review_months(plan.guideline, patient, case_patient.pregnant or case_patient.breastfeeding),
            # FU-PROGRESS checkpoints follow the plan's: anaemia or macrocytosis at the start.
            anaemia=any(f.code in ("anaemia", "macrocytosis") for f in plan.interpretation.findings),
            # SAFE-K fired in the plan: potassium in the first 48 hours.
            potassium_first_48h=any(a.rule == "SAFE-K" for a in plan.alerts),
        )
        uow.tracking.add_course(course)
        _audit(
            uow,
            clock,
            actor,
            "course.create",
            "course",
            course.id,
            {
                "patient_id": patient.id,
                "source": "plan",
                "guideline": course.guideline,
                "guideline_version": course.guideline_version,
                "regimen": course.regimen_id,
                "start": course.start.isoformat(),
            },
        )
        uow.commit()
    return course


def start_course_from_prescription(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    patient_id: str,
    prescription: Prescription,
    *,
    start: date,
    guideline: str = "uk",
    conditions: Collection[Condition] = (),
    sites: Sequence[str] = DEFAULT_SITES,
) -> CourseStarted:
    """A patient (or their clinician) starts a course from a confirmed prescription; it is checked against
    the guideline data and the differences are returned as alerts (they are recomputed in the status)."""
    if not prescription.complete:
        raise UnclearPrescriptionError(prescription.questions)
    data = _guideline(guideline)
    phases = prescription.phases
    if any(p.injected for p in phases) and prescription.strength is None:
        raise CaseError(
            "strength",
            "write the strength on the label (for example 1000 mcg/mL), so that b12 can show the volume to draw",
        )
    with uow:
        patient = _patient(uow, actor, patient_id, "start a course for")
        regimen_id = matching_regimen(phases, data)
        course = Course(
            id=_new_id(),
            patient_id=patient.id,
            guideline=data.id,
            guideline_version=data.version,
            regimen_id=regimen_id,
            phases=phases,
            product=phases[0].product,
            strength=prescription.strength_text or "",
            syringe=prescription.syringe.name if prescription.syringe else None,
            start=start,
            created_by=actor.id,
            created_at=clock.now(),
            lifelong=prescription.lifelong,
            sites=_sites(sites),
            source_text=prescription.text,
            review_months=_review_months(data, patient),
        )
        alerts = check_against_guideline(
            phases,
            data,
            regimen_id=regimen_id,
            conditions=conditions,
            strength=prescription.strength,
            syringe=prescription.syringe,
            subcutaneous=prescription.subcutaneous,
        )
        uow.tracking.add_course(course)
        _audit(
            uow,
            clock,
            actor,
            "course.create",
            "course",
            course.id,
            {
                "patient_id": patient.id,
                "source": "prescription",
                "guideline": data.id,
                "guideline_version": data.version,
                "regimen": regimen_id,
                "start": start.isoformat(),
                "alerts": [a.rule for a in alerts],
            },
        )
        uow.commit()
    return CourseStarted(course, tuple(sorted(alerts, key=severity_order)), prescription.describe())


# --- recording facts --------------------------------------------------------------------------------------


def record_dose(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    course_id: str,
    *,
    at: datetime | None = None,
    dose: str | float | None = None,
    site: str | None = None,
    batch: str | None = None,
    expiry: date | None = None,
    reaction: str | None = None,
    note: str | None = None,
    given_by: str | None = None,
) -> DoseGiven:
    """A dose given. Everything but the course has a default: now, the dose due, its product and route.

    ``dose`` is in mg as a number, or typed: ``"1 mg"``, ``"1000 mcg"``, ``"1 mL"`` (with the course
    strength), ``"100 units"`` (with its syringe). The suggested site is not assumed: pass it.
    """
    with uow:
        history = _history(uow, actor, course_id, "record a dose for")
        course = history.course
        when = _moment(at, clock, "at")
        if when.date() < course.start:
            raise CaseError("at", f"the course starts on {course.start.isoformat()}; this is before it")
        current = course_status(history, clock.today())
        due = current.next_dose
        if dose is None:
            if due is None:
                raise CaseError("dose", "no dose is due on this course: enter the dose that was given")
            dose_mg = due.dose_mg
        elif isinstance(dose, str):
            dose_mg = read_dose(dose, _strength(course), _syringe(course))
        elif isinstance(dose, bool) or not math.isfinite(dose) or dose <= 0:
            raise CaseError("dose", "enter the dose given, above 0 mg")
        else:
            # The units vocabulary's sanity bounds apply to a number in mg as to typed text (no 1e300 mg dose).
            try:
                dose_mg = quantity(float(dose), "mg").value
            except UnitError as error:
                raise CaseError("dose", str(error)) from None
        phase = next((p for p in current.phases if due is not None and p.name == due.phase), current.phases[-1])
        given = DoseGiven(
            id=_new_id(),
            course_id=course.id,
            at=when,
            dose_mg=dose_mg,
            product=due.product if due else phase.product,
            route=due.route if due else phase.route,
            given_by=_text(given_by, "given_by", _MAX_SHORT_TEXT) or actor.id,
            site=_text(site, "site", _MAX_SHORT_TEXT),
            batch=_text(batch, "batch", _MAX_SHORT_TEXT),
            expiry=expiry,
            reaction=_text(reaction, "reaction", _MAX_LONG_TEXT),
            note=_text(note, "note", _MAX_LONG_TEXT),
        )
        uow.tracking.add_dose(given)
        _audit(
            uow,
            clock,
            actor,
            "dose.record",
            "dose",
            given.id,
            {"course_id": course.id, "at": when.isoformat(), "dose_mg": dose_mg, "site": given.site},
        )
        uow.commit()
    return given


def skip_dose(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    course_id: str,
    *,
    due: date | None = None,
    reason: str | None = None,
) -> DoseSkipped:
    """The dose now due is skipped on purpose; the next one is counted from its due date."""
    with uow:
        history = _history(uow, actor, course_id, "skip a dose of")
        pending = course_status(history, clock.today()).next_dose
        if pending is None:
            raise CaseError("due", "no dose is due on this course")
        if due is not None and due != pending.due:
            raise CaseError(
                "due", f"the dose due is the one of {pending.due.isoformat()}: only that one can be skipped"
            )
        skip = DoseSkipped(
            id=_new_id(),
            course_id=history.course.id,
            due=pending.due,
            at=clock.now(),
            reason=_text(reason, "reason", _MAX_LONG_TEXT),
        )
        uow.tracking.add_skip(skip)
        _audit(
            uow,
            clock,
            actor,
            "dose.skip",
            "skip",
            skip.id,
            {"course_id": history.course.id, "due": skip.due.isoformat(), "reason": skip.reason},
        )
        uow.commit()
    return skip


def record_symptoms(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    patient_id: str,
    scores: Mapping[str, int],
    *,
    at: datetime | None = None,
    note: str | None = None,
) -> SymptomEntry:
    """A symptom diary entry: scores 0–10 for any of :class:`~b12.domain.tracking.TrackedSymptom`."""
    checked: dict[TrackedSymptom, int] = {}
    for name, score in scores.items():
        try:
            symptom = TrackedSymptom(str(name).strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in TrackedSymptom)
            raise CaseError(f"scores.{name}", f"not a diary symptom; use one of {known}") from None
        if isinstance(score, bool) or not isinstance(score, int):
            raise CaseError(f"scores.{name}", f"{score!r} is not a whole number from 0 to 10")
        checked[symptom] = score
    with uow:
        patient = _patient(uow, actor, patient_id, "record symptoms for")
        entry = SymptomEntry(
            id=_new_id(),
            patient_id=patient.id,
            at=_moment(at, clock, "at"),
            scores=checked,
            note=_text(note, "note", _MAX_LONG_TEXT),
        )
        uow.tracking.add_symptoms(entry)
        _audit(
            uow,
            clock,
            actor,
            "symptoms.record",
            "symptoms",
            entry.id,
            {"patient_id": patient.id, "scores": {s.value: v for s, v in checked.items()}},
        )
        uow.commit()
    return entry


def record_lab(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    patient_id: str,
    analyte: Analyte | str,
    value: float,
    unit: str,
    *,
    taken: date,
    upper_limit: float | None = None,
    lower_limit: float | None = None,
) -> LabEntry:
    """A lab result as reported, normalised beside it (:func:`~b12.domain.tracking.normalise_lab`)."""
    try:
        test = Analyte(str(analyte).strip().lower())
    except ValueError:
        raise CaseError("analyte", f"use one of {', '.join(a.value for a in Analyte)}") from None
    if taken > clock.today():
        raise CaseError("taken", "a result cannot be taken in the future")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise CaseError("value", "enter the value from the report, above 0")
    for name, limit in (("upper_limit", upper_limit), ("lower_limit", lower_limit)):
        if limit is not None and (isinstance(limit, bool) or not math.isfinite(limit) or limit < 0):
            raise CaseError(name, "enter the limit from the report, 0 or more")
    if not unit or not unit.strip():
        raise CaseError("unit", "enter the unit from the report, for example ng/L or pmol/L")
    try:
        normalised_value, normalised_unit = normalise_lab(test, float(value), unit.strip())
    except UnitError as error:
        raise CaseError("unit", str(error)) from error
    with uow:
        patient = _patient(uow, actor, patient_id, "record a result for")
        entry = LabEntry(
            id=_new_id(),
            patient_id=patient.id,
            taken=taken,
            analyte=test,
            value=float(value),
            unit=unit.strip(),
            normalised_value=normalised_value,
            normalised_unit=normalised_unit,
            upper_limit=upper_limit,
            lower_limit=lower_limit,
        )
        uow.tracking.add_lab(entry)
        _audit(
            uow,
            clock,
            actor,
            "lab.record",
            "lab",
            entry.id,
            {"patient_id": patient.id, "analyte": test.value, "taken": taken.isoformat()},
        )
        uow.commit()
    return entry


def record_reaction(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    course_id: str,
    dose_id: str,
    description: str,
    *,
    at: datetime | None = None,
    severe: bool = False,
) -> Reaction:
    """A reaction after a dose (MHRA: at once or up to 72 hours later)."""
    text = _text(description, "description", _MAX_LONG_TEXT)
    if text is None:
        raise CaseError("description", "describe the reaction")
    with uow:
        history = _history(uow, actor, course_id, "record a reaction for")
        dose = next((d for d in history.doses if d.id == dose_id), None)
        if dose is None:
            raise CaseError("dose_id", "choose a dose of this course")
        when = _moment(at, clock, "at")
        if when.date() < dose.at.date():
            raise CaseError("at", f"the dose was given on {dose.at.date().isoformat()}; this is before it")
        reaction = Reaction(id=_new_id(), dose_id=dose.id, at=when, description=text, severe=severe)
        uow.tracking.add_reaction(reaction)
        _audit(
            uow,
            clock,
            actor,
            "reaction.record",
            "reaction",
            reaction.id,
            {"course_id": course_id, "dose_id": dose.id, "severe": severe},
        )
        uow.commit()
    return reaction


# --- amending ---------------------------------------------------------------------------------------------


def amend_course(
    uow: UnitOfWork,
    clock: Clock,
    actor: Account,
    course_id: str,
    kind: AmendmentKind | str,
    *,
    reason: str,
    effective: date | None = None,
    months: int | None = None,
    regimen: str | None = None,
    phase: str | None = None,
) -> Amendment:
    """A clinician's change to a course, kept as a fact with its reason; the status recomputes from it.

    ``months`` for SET_MAINTENANCE_INTERVAL (an interval outside the label's range is allowed, and flagged
    in the status for review, VIGNETTES V30); ``regimen`` (and optionally the ``phase`` to start at) for
    SWITCH_ROUTE; END_LOADING, STOP and REVIEW take only a reason and a date.
    """
    try:
        change = AmendmentKind(str(kind).strip().lower())
    except ValueError:
        raise CaseError("kind", f"use one of {', '.join(k.value for k in AmendmentKind)}") from None
    why = _text(reason, "reason", _MAX_LONG_TEXT)
    if why is None:
        raise CaseError("reason", "an amendment needs a reason")
    _clinician(actor, "course", course_id, "amend")
    with uow:
        history = _history(uow, actor, course_id, "amend")
        course = history.course
        today = clock.today()
        when = effective or today
        if when < course.start:
            raise CaseError("effective", f"the course starts on {course.start.isoformat()}; this is before it")
        current = course_status(history, today)
        if current.state is CourseState.STOPPED:
            raise CaseError("kind", f"the course was stopped on {current.stopped_on}")
        params: dict[str, object] = {}
        if change is AmendmentKind.SET_MAINTENANCE_INTERVAL:
            if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_INTERVAL_MONTHS:
                raise CaseError("months", f"a whole number of months from 1 to {MAX_INTERVAL_MONTHS}")
            if not any(p.kind is PhaseKind.MAINTENANCE for p in current.phases):
                raise CaseError("kind", "this course has no maintenance phase")
            params["months"] = months
        elif change is AmendmentKind.END_LOADING:
            if current.phase is None or current.phase.kind is not PhaseKind.LOADING:
                raise CaseError("kind", "loading has already ended on this course")
        elif change is AmendmentKind.SWITCH_ROUTE:
            data = _guideline(course.guideline)
            if regimen is None or regimen not in data.regimens:
                raise CaseError("regimen", f"choose a regimen of {data.title}: {', '.join(data.regimens)}")
            params["regimen"] = regimen
            if phase is not None:
                names = [p.name for p in data.regimens[regimen].phases]
                if phase not in names:
                    raise CaseError("phase", f"{regimen} has the phases {', '.join(names)}")
                params["phase"] = phase
        amendment = Amendment(
            id=_new_id(),
            course_id=course.id,
            at=clock.now(),
            by=actor.id,
            kind=change,
            effective=when,
            reason=why,
            params=params,
        )
        # The status must still be computable with the amendment (a bad one is refused, not stored).
        course_status(replace(history, amendments=(*history.amendments, amendment)), today)
        uow.tracking.add_amendment(amendment)
        _audit(
            uow,
            clock,
            actor,
            "course.amend",
            "course",
            course.id,
            {"kind": change.value, "effective": when.isoformat(), "reason": why, **params},
        )
        uow.commit()
    return amendment


# --- reading ----------------------------------------------------------------------------------------------


def status(uow: UnitOfWork, clock: Clock, actor: Account, course_id: str) -> CourseStatus:
    """The course's status on the clock's date, recomputed from its facts."""
    with uow:
        history = _history(uow, actor, course_id)
    return course_status(history, clock.today())


def courses_of_patient(uow: UnitOfWork, actor: Account, patient_id: str) -> list[Course]:
    with uow:
        patient = _patient(uow, actor, patient_id)
        return list(uow.tracking.courses_for(patient.id))


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
