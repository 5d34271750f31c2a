"""Test fakes for the ports (cosmicpython style, no mocks): in-memory repositories, a unit of work, a fixed clock.

:class:`FakeUnitOfWork` keeps a committed store; each ``with`` block works on a copy of it, ``commit()``
publishes the copy and leaving the block (normally or by an exception) discards whatever was not committed,
as :class:`b12.ports.UnitOfWork` promises. ``commits`` counts the commits, so a test can check that a use case
wrote in one transaction, and that a refused one wrote nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

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
from b12.ports import CalendarToken


class FixedClock:
    """A clock that says what it is told; ``advance`` moves it on."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.date()

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)

    def set(self, now: datetime) -> None:
        self._now = now


@dataclass
class Store:
    courses: dict[str, Course] = field(default_factory=dict)
    doses: dict[str, DoseGiven] = field(default_factory=dict)
    skips: dict[str, DoseSkipped] = field(default_factory=dict)
    amendments: dict[str, Amendment] = field(default_factory=dict)
    symptoms: dict[str, SymptomEntry] = field(default_factory=dict)
    reactions: dict[str, Reaction] = field(default_factory=dict)
    labs: dict[str, LabEntry] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    patients: dict[str, PatientRecord] = field(default_factory=dict)
    logins: list[tuple[str, datetime, bool]] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    calendar_tokens: dict[str, CalendarToken] = field(default_factory=dict)

    def copy(self) -> Store:
        return Store(
            courses=dict(self.courses),
            doses=dict(self.doses),
            skips=dict(self.skips),
            amendments=dict(self.amendments),
            symptoms=dict(self.symptoms),
            reactions=dict(self.reactions),
            labs=dict(self.labs),
            accounts=dict(self.accounts),
            patients=dict(self.patients),
            logins=list(self.logins),
            audit=list(self.audit),
            calendar_tokens=dict(self.calendar_tokens),
        )


T = TypeVar("T")


def _add(table: dict[str, T], key: str, value: T) -> None:
    if key in table:
        raise ValueError(f"duplicate id {key!r}")
    table[key] = value


class InMemoryTrackingRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add_course(self, course: Course) -> None:
        _add(self._store.courses, course.id, course)

    def course(self, course_id: str) -> Course | None:
        return self._store.courses.get(course_id)

    def courses_for(self, patient_id: str) -> Sequence[Course]:
        return sorted(
            (c for c in self._store.courses.values() if c.patient_id == patient_id), key=lambda c: (c.start, c.id)
        )

    def add_dose(self, dose: DoseGiven) -> None:
        _add(self._store.doses, dose.id, dose)

    def add_skip(self, skip: DoseSkipped) -> None:
        _add(self._store.skips, skip.id, skip)

    def add_amendment(self, amendment: Amendment) -> None:
        _add(self._store.amendments, amendment.id, amendment)

    def add_symptoms(self, entry: SymptomEntry) -> None:
        _add(self._store.symptoms, entry.id, entry)

    def add_reaction(self, reaction: Reaction) -> None:
        _add(self._store.reactions, reaction.id, reaction)

    def add_lab(self, entry: LabEntry) -> None:
        _add(self._store.labs, entry.id, entry)

    def history(self, course_id: str) -> History | None:
        """The course's own facts, plus every symptom entry and lab of its patient, as the SQL adapter does."""
        course = self._store.courses.get(course_id)
        if course is None:
            return None
        doses = tuple(sorted((d for d in self._store.doses.values() if d.course_id == course_id), key=lambda d: d.at))
        dose_ids = {d.id for d in doses}
        return History(
            course=course,
            doses=doses,
            skips=tuple(
                sorted((s for s in self._store.skips.values() if s.course_id == course_id), key=lambda s: s.due)
            ),
            amendments=tuple(
                sorted((a for a in self._store.amendments.values() if a.course_id == course_id), key=lambda a: a.at)
            ),
            symptoms=tuple(
                sorted(
                    (e for e in self._store.symptoms.values() if e.patient_id == course.patient_id), key=lambda e: e.at
                )
            ),
            reactions=tuple(
                sorted((r for r in self._store.reactions.values() if r.dose_id in dose_ids), key=lambda r: r.at)
            ),
            labs=tuple(
                sorted(
                    (e for e in self._store.labs.values() if e.patient_id == course.patient_id), key=lambda e: e.taken
                )
            ),
        )


class InMemoryAccountRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add_account(self, account: Account) -> None:
        email = account.email.strip().lower()
        if any(a.email.strip().lower() == email for a in self._store.accounts.values()):
            raise ValueError(f"an account with e-mail {email!r} exists")
        _add(self._store.accounts, account.id, account)

    def account(self, account_id: str) -> Account | None:
        return self._store.accounts.get(account_id)

    def account_by_email(self, email: str) -> Account | None:
        wanted = email.strip().lower()
        return next((a for a in self._store.accounts.values() if a.email.strip().lower() == wanted), None)

    def add_patient(self, patient: PatientRecord) -> None:
        _add(self._store.patients, patient.id, patient)

    def update_patient(self, patient: PatientRecord) -> None:
        if patient.id not in self._store.patients:
            raise LookupError(f"no patient record {patient.id!r}")
        self._store.patients[patient.id] = patient

    def patient(self, patient_id: str) -> PatientRecord | None:
        return self._store.patients.get(patient_id)

    def patients_of(self, clinician_id: str) -> Sequence[PatientRecord]:
        return sorted(
            (p for p in self._store.patients.values() if p.clinician_id == clinician_id), key=lambda p: (p.name, p.id)
        )

    def failed_logins_since(self, email: str, since: datetime) -> int:
        wanted = email.strip().lower()
        return sum(1 for e, at, ok in self._store.logins if e == wanted and at >= since and not ok)

    def record_login(self, email: str, at: datetime, *, succeeded: bool) -> None:
        self._store.logins.append((email.strip().lower(), at, succeeded))


class InMemoryAuditLog:
    """Append-only, newest first when read (as the SQL adapter)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def append(self, entry: AuditEntry) -> None:
        self._store.audit.append(entry)

    def entries(
        self, *, entity: str | None = None, entity_id: str | None = None, limit: int = 200
    ) -> Sequence[AuditEntry]:
        found = [
            e
            for e in reversed(self._store.audit)
            if (entity is None or e.entity == entity) and (entity_id is None or e.entity_id == entity_id)
        ]
        return found[:limit]


class InMemoryCalendarTokens:
    """:class:`b12.ports.CalendarTokens` in memory: only an active token is found by its secret."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create_calendar_token(self, patient_id: str, course_id: str | None, at: datetime) -> CalendarToken:
        token = CalendarToken(secrets.token_urlsafe(32), patient_id, course_id, at)
        _add(self._store.calendar_tokens, token.token, token)
        return token

    def calendar_token(self, token: str) -> CalendarToken | None:
        found = self._store.calendar_tokens.get(token)
        return found if found is not None and found.active else None

    def calendar_tokens_for(self, patient_id: str) -> Sequence[CalendarToken]:
        return sorted(
            (t for t in self._store.calendar_tokens.values() if t.patient_id == patient_id),
            key=lambda t: (t.created_at, t.token),
        )

    def revoke_calendar_token(self, token: str, at: datetime) -> bool:
        found = self._store.calendar_tokens.get(token)
        if found is None or not found.active:
            return False
        self._store.calendar_tokens[token] = replace(found, revoked_at=at)
        return True


class FakeUnitOfWork:
    """:class:`b12.ports.UnitOfWork` in memory: commit publishes, leaving the block discards the rest."""

    tracking: InMemoryTrackingRepository
    accounts: InMemoryAccountRepository
    audit: InMemoryAuditLog
    calendar: InMemoryCalendarTokens

    def __init__(self) -> None:
        self.committed = Store()
        self.commits = 0
        self._bind(self.committed.copy())

    def _bind(self, work: Store) -> None:
        self._work = work
        self.tracking = InMemoryTrackingRepository(work)
        self.accounts = InMemoryAccountRepository(work)
        self.audit = InMemoryAuditLog(work)
        self.calendar = InMemoryCalendarTokens(work)

    def __enter__(self) -> Self:
        self._bind(self.committed.copy())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        self.committed = self._work.copy()
        self.commits += 1

    def rollback(self) -> None:
        self._bind(self.committed.copy())
