"""The demo clinic (``b12 serve --demo``): a made-up clinician and two patients with courses under way.

Every page says "Demo clinic" while demo mode is on; these passwords are public, so demo mode is for a
laptop, never for real patients. What is missing is created once, dated from the day of the first run:

- Dana Demo (the clinician's patient, anaemic, with pins and needles): a course started by the clinician
  from a plan three weeks ago (UK-IM-NEURO: alternate days until no further improvement), ten doses given,
  a symptom diary that improves, and labs as reported (B12 in pg/mL, haemoglobin, reticulocytes,
  potassium), one of them a B12 taken the day after an injection (a DX-RECENT-INJ red flag).
- Sam Sample (also the clinician's patient): a course he entered himself from his label seven months ago
  (every 3 months), the third dose a month overdue, fatigue and pins and needles coming back.

Accounts are audited as the system; tracking facts go through ``services_tracking`` as the person who
recorded them, so the audit trail reads like a real one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta

from b12.adapters.case_json import case_from_json
from b12.adapters.web.deps import UowFactory
from b12.adapters.web.security import Passwords, audit
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.case import Sex
from b12.domain.prescription import parse_prescription
from b12.domain.tracking import DEFAULT_SITES
from b12.ports import Clock
from b12.services import plan_case
from b12.services_tracking import (
    record_dose,
    record_lab,
    record_symptoms,
    start_course_from_plan,
    start_course_from_prescription,
)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    email: str
    password: str
    name: str
    role: Role


DEMO_CLINICIAN = DemoAccount("clinician@demo.example.org", "demo-clinician-2026", "Dr Demo Clinician", Role.CLINICIAN)
DEMO_PATIENT = DemoAccount("patient@demo.example.org", "demo-patient-2026", "Dana Demo", Role.PATIENT)
DEMO_PATIENT_2 = DemoAccount("patient2@demo.example.org", "demo-patient2-2026", "Sam Sample", Role.PATIENT)
DEMO_ACCOUNTS = (DEMO_CLINICIAN, DEMO_PATIENT, DEMO_PATIENT_2)

_PATIENTS = {DEMO_PATIENT.email: (Sex.FEMALE, date(1964, 3, 12)), DEMO_PATIENT_2.email: (Sex.MALE, date(1958, 9, 30))}
DEMO_LOADING_DAYS = (0, 2, 4, 7, 9, 11, 13, 15, 17, 19)  # Dana's doses, days after the start (3 weeks ago)
DEMO_SAM_LABEL = "Hydroxocobalamin 1000 mcg/mL, inject 1 mL IM every 3 months"


def seed_demo(uow_factory: UowFactory, clock: Clock, passwords: Passwords) -> bool:
    """Create whatever of the demo clinic is missing; True when something was created."""
    created = _accounts(uow_factory, clock, passwords)
    with uow_factory() as uow:
        clinician = uow.accounts.account_by_email(DEMO_CLINICIAN.email)
        dana = uow.accounts.account_by_email(DEMO_PATIENT.email)
        sam = uow.accounts.account_by_email(DEMO_PATIENT_2.email)
        dana_has = bool(dana and dana.patient_id and uow.tracking.courses_for(dana.patient_id))
        sam_has = bool(sam and sam.patient_id and uow.tracking.courses_for(sam.patient_id))
    if clinician is not None and dana is not None and not dana_has:
        _dana(uow_factory, clock, clinician, dana)
        created = True
    if sam is not None and not sam_has:
        _sam(uow_factory, clock, sam)
        created = True
    return created


def _accounts(uow_factory: UowFactory, clock: Clock, passwords: Passwords) -> bool:
    with uow_factory() as uow:
        now = clock.now()
        created = False
        clinician = uow.accounts.account_by_email(DEMO_CLINICIAN.email)
        if clinician is None:
            clinician = Account(
                uuid.uuid4().hex,
                DEMO_CLINICIAN.email,
                DEMO_CLINICIAN.name,
                Role.CLINICIAN,
                passwords.hash(DEMO_CLINICIAN.password),
                now,
            )
            uow.accounts.add_account(clinician)
            audit(uow, clock, None, "account.create", "account", clinician.id, {"demo": True})
            created = True
        for demo in (DEMO_PATIENT, DEMO_PATIENT_2):
            if uow.accounts.account_by_email(demo.email) is not None:
                continue
            sex, born = _PATIENTS[demo.email]
            patient = PatientRecord(uuid.uuid4().hex, demo.name, sex, now, birth_date=born, clinician_id=clinician.id)
            account = Account(
                uuid.uuid4().hex,
                demo.email,
                demo.name,
                Role.PATIENT,
                passwords.hash(demo.password),
                now,
                patient_id=patient.id,
            )
            uow.accounts.add_patient(patient)
            uow.accounts.add_account(account)
            audit(uow, clock, None, "patient.create", "patient", patient.id, {"demo": True})
            audit(uow, clock, None, "account.create", "account", account.id, {"demo": True})
            created = True
        uow.commit()
    return created


def _at(clock: Clock, day: date, hour: int = 9, minute: int = 30) -> datetime:
    """A moment on ``day`` in the clock's time zone, never later than now."""
    now = clock.now()
    return min(datetime.combine(day, time(hour, minute), tzinfo=now.tzinfo), now)


def _dana(uow_factory: UowFactory, clock: Clock, clinician: Account, dana: Account) -> None:
    if dana.patient_id is None:
        return
    today = clock.today()
    start = today - timedelta(days=21)
    before = start - timedelta(days=4)
    case = case_from_json(
        {
            "guideline": "uk",
            "start": start.isoformat(),
            "patient": {"age": today.year - 1964, "sex": "female"},
            "labs": [
                {"test": "b12_total", "value": 150, "unit": "pg/mL", "date": before.isoformat()},
                {"test": "hemoglobin", "value": 104, "unit": "g/L", "date": before.isoformat()},
                {"test": "mcv", "value": 108, "unit": "fL", "date": before.isoformat()},
            ],
            "symptoms": ["fatigue", "paraesthesia", "glossitis"],
            "causes": ["autoimmune_gastritis"],
            "strength": "1000 mcg/mL",
        }
    )
    course = start_course_from_plan(uow_factory(), clock, clinician, dana.patient_id, plan_case(case))
    for n, day in enumerate(DEMO_LOADING_DAYS):
        record_dose(
            uow_factory(),
            clock,
            dana,
            course.id,
            at=_at(clock, start + timedelta(days=day)),
            site=DEFAULT_SITES[n % len(DEFAULT_SITES)],
            batch="DEMO-24A7" if n < 6 else "DEMO-25B1",
            given_by="practice nurse" if n < 3 else None,
        )
    for offset, analyte, value, unit, low, high in (
        (-4, "b12_total", 150, "pg/mL", 180.0, 900.0),
        (-4, "hemoglobin", 104, "g/L", 115.0, 165.0),
        (-4, "mcv", 108, "fL", 80.0, 100.0),
        (1, "potassium", 4.1, "mmol/L", 3.5, 5.3),
        (8, "hemoglobin", 113, "g/L", 115.0, 165.0),
        (8, "reticulocytes", 3.4, "%", 0.5, 2.5),
        (14, "b12_total", 1650, "pg/mL", 180.0, 900.0),
    ):
        record_lab(
            uow_factory(),
            clock,
            dana,
            dana.patient_id,
            analyte,
            value,
            unit,
            taken=start + timedelta(days=offset),
            lower_limit=low,
            upper_limit=high,
        )
    diary = {
        -1: (8, 6, 4, 3, 5, 5, 0),
        6: (7, 5, 4, 3, 4, 3, 0),
        13: (5, 4, 3, 3, 4, 2, 0),
        20: (4, 3, 2, 2, 3, 1, 0),
    }
    names = ("fatigue", "paraesthesia", "balance", "memory", "mood", "glossitis", "vision")
    for offset, scores in diary.items():
        record_symptoms(
            uow_factory(),
            clock,
            dana,
            dana.patient_id,
            dict(zip(names, scores, strict=True)),
            at=_at(clock, start + timedelta(days=offset), 20, 0),
            note="Tingling in my feet is less than last week." if offset == 13 else None,
        )


def _sam(uow_factory: UowFactory, clock: Clock, sam: Account) -> None:
    if sam.patient_id is None:
        return
    today = clock.today()
    start = today - relativedelta(months=7)
    record_lab(uow_factory(), clock, sam, sam.patient_id, "b12_active", 28, "pmol/L", taken=start - timedelta(days=10))
    started = start_course_from_prescription(
        uow_factory(), clock, sam, sam.patient_id, parse_prescription(DEMO_SAM_LABEL), start=start
    )
    for n, day in enumerate((start, start + relativedelta(months=3))):
        record_dose(
            uow_factory(),
            clock,
            sam,
            started.course.id,
            at=_at(clock, day, 11, 0),
            site=DEFAULT_SITES[n],
            given_by="practice nurse",
        )
    for days_ago, fatigue, tingling in ((60, 2, 0), (40, 3, 1), (5, 7, 4)):
        record_symptoms(
            uow_factory(),
            clock,
            sam,
            sam.patient_id,
            {"fatigue": fatigue, "paraesthesia": tingling},
            at=_at(clock, today - timedelta(days=days_ago), 19, 0),
            note="Tired again, like before the injections." if days_ago == 5 else None,
        )
