"""The demo clinic (``b12 serve --demo``): a made-up clinician and patient, created once, audited as the system.

Every page says "Demo clinic" while demo mode is on; these passwords are public, so demo mode is for a
laptop, never for real patients. Demo courses, doses and symptoms are added here by the tracking pages'
seed (``seed_demo`` is the one place to extend).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from b12.adapters.web.deps import UowFactory
from b12.adapters.web.security import Passwords, audit
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.case import Sex
from b12.ports import Clock


@dataclass(frozen=True, slots=True)
class DemoAccount:
    email: str
    password: str
    name: str
    role: Role


DEMO_CLINICIAN = DemoAccount("clinician@demo.example.org", "demo-clinician-2026", "Dr Demo Clinician", Role.CLINICIAN)
DEMO_PATIENT = DemoAccount("patient@demo.example.org", "demo-patient-2026", "Dana Demo", Role.PATIENT)
DEMO_ACCOUNTS = (DEMO_CLINICIAN, DEMO_PATIENT)


def seed_demo(uow_factory: UowFactory, clock: Clock, passwords: Passwords) -> bool:
    """Create the demo accounts unless they exist; True when something was created."""
    with uow_factory() as uow:
        if uow.accounts.account_by_email(DEMO_CLINICIAN.email) is not None:
            return False
        now = clock.now()
        clinician = Account(
            uuid.uuid4().hex,
            DEMO_CLINICIAN.email,
            DEMO_CLINICIAN.name,
            Role.CLINICIAN,
            passwords.hash(DEMO_CLINICIAN.password),
            now,
        )
        patient = PatientRecord(
            uuid.uuid4().hex,
            DEMO_PATIENT.name,
            Sex.FEMALE,
            now,
            birth_date=date(1964, 3, 12),
            clinician_id=clinician.id,
        )
        account = Account(
            uuid.uuid4().hex,
            DEMO_PATIENT.email,
            DEMO_PATIENT.name,
            Role.PATIENT,
            passwords.hash(DEMO_PATIENT.password),
            now,
            patient_id=patient.id,
        )
        uow.accounts.add_account(clinician)
        uow.accounts.add_patient(patient)
        uow.accounts.add_account(account)
        for entity, entity_id, action in (
            ("account", clinician.id, "account.create"),
            ("patient", patient.id, "patient.create"),
            ("account", account.id, "account.create"),
        ):
            audit(uow, clock, None, action, entity, entity_id, {"demo": True})
        uow.commit()
    return True
