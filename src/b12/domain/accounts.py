"""People and the audit trail: accounts with a role, patient records, and who-did-what entries.

A patient may have an account of their own (signed up alone) and may have a clinician. Authorisation is
a pure function of these values (:func:`can_see_patient`): a patient sees only their own record; a
clinician sees the patients they look after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from b12.domain.case import Sex


class Role(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str  # stored lower-case
    name: str
    role: Role
    password_hash: str
    created_at: datetime
    patient_id: str | None = None  # set for a patient's own account

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Account) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: str
    name: str
    sex: Sex
    created_at: datetime
    birth_date: date | None = None
    clinician_id: str | None = None  # the clinician account looking after this patient
    pregnant: bool = False
    breastfeeding: bool = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PatientRecord) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One append-only line of the audit log: who did what, to what, when."""

    id: str
    at: datetime
    actor_id: str | None  # None for the system (e.g. the demo seed)
    action: str  # e.g. "course.create", "dose.record", "course.amend", "login.failed"
    entity: str  # e.g. "course"
    entity_id: str | None
    detail: Mapping[str, object] = field(default_factory=dict)


def can_see_patient(account: Account, patient: PatientRecord) -> bool:
    if account.role is Role.PATIENT:
        return account.patient_id == patient.id
    return patient.clinician_id == account.id
