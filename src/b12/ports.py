"""Interfaces the services depend on (typing.Protocol), implemented by adapters and by test fakes.

A :class:`UnitOfWork` is one transaction: everything written through its repositories is committed
together by ``commit()`` or discarded (on an exception, or without a commit) when the ``with`` block
ends — so a failed request leaves no half-written course.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from b12.domain.accounts import Account, AuditEntry, PatientRecord
from b12.domain.tracking import (
    Amendment,
    Course,
    DoseGiven,
    DoseSkipped,
    History,
    LabEntry,
    Reaction,
    SymptomEntry,
)


class Clock(Protocol):
    def now(self) -> datetime: ...
    def today(self) -> date: ...


class TrackingRepository(Protocol):
    def add_course(self, course: Course) -> None: ...
    def course(self, course_id: str) -> Course | None: ...
    def courses_for(self, patient_id: str) -> Sequence[Course]: ...
    def add_dose(self, dose: DoseGiven) -> None: ...
    def add_skip(self, skip: DoseSkipped) -> None: ...
    def add_amendment(self, amendment: Amendment) -> None: ...
    def add_symptoms(self, entry: SymptomEntry) -> None: ...
    def add_reaction(self, reaction: Reaction) -> None: ...
    def add_lab(self, entry: LabEntry) -> None: ...
    def history(self, course_id: str) -> History | None: ...


class AccountRepository(Protocol):
    def add_account(self, account: Account) -> None: ...
    def account(self, account_id: str) -> Account | None: ...
    def account_by_email(self, email: str) -> Account | None: ...
    def add_patient(self, patient: PatientRecord) -> None: ...
    def update_patient(self, patient: PatientRecord) -> None: ...
    def patient(self, patient_id: str) -> PatientRecord | None: ...
    def patients_of(self, clinician_id: str) -> Sequence[PatientRecord]: ...
    def failed_logins_since(self, email: str, since: datetime) -> int: ...
    def record_login(self, email: str, at: datetime, *, succeeded: bool) -> None: ...


class AuditLog(Protocol):
    """Append-only: there is no update or delete."""

    def append(self, entry: AuditEntry) -> None: ...
    def entries(
        self, *, entity: str | None = None, entity_id: str | None = None, limit: int = 200
    ) -> Sequence[AuditEntry]: ...


@dataclass(frozen=True, slots=True)
class CalendarToken:
    """The secret of a patient's private calendar URL: whoever holds the URL can read that calendar."""

    token: str  # the URL-safe secret
    patient_id: str
    course_id: str | None  # None: every course of the patient
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class CalendarTokens(Protocol):
    """Calendar subscription tokens; :meth:`calendar_token` answers only for a token still active, so a
    revoked URL stops working without the caller checking anything."""

    def create_calendar_token(self, patient_id: str, course_id: str | None, at: datetime) -> CalendarToken:
        """A new token with a fresh secret (``secrets.token_urlsafe``)."""
        ...

    def calendar_token(self, token: str) -> CalendarToken | None:
        """The token if it exists and is not revoked, else None."""
        ...

    def calendar_tokens_for(self, patient_id: str) -> Sequence[CalendarToken]:
        """Every token of the patient, revoked ones included, oldest first."""
        ...

    def revoke_calendar_token(self, token: str, at: datetime) -> bool:
        """Revoke an active token; False if it is unknown or already revoked."""
        ...


class UnitOfWork(Protocol):
    tracking: TrackingRepository
    accounts: AccountRepository
    audit: AuditLog
    calendar: CalendarTokens

    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
