"""The ports of :mod:`b12.ports` on SQLAlchemy: rows <-> domain values, one session per unit of work.

Usage, from a composition root (nothing here connects until a unit of work is entered)::

    engine = make_engine(database_url())              # b12.adapters.sql.db
    upgrade(engine)                                   # b12.adapters.sql.migrations
    new_uow = unit_of_work_factory(engine)            # one per request
    with new_uow() as uow:
        uow.tracking.add_course(course)
        uow.audit.append(entry)
        uow.commit()                                  # leaving without it, or by an exception, rolls back

Each ``add_*`` flushes at once, so a constraint violation (a duplicate id or e-mail, a dose for an unknown
course) raises ``sqlalchemy.exc.IntegrityError`` at the call that caused it, inside the ``with`` block, and
the whole unit of work is rolled back. Reads return values in a stable order: facts by their own date-time
(then id), audit entries newest first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from b12.adapters.sql import codec
from b12.adapters.sql.db import make_session_factory
from b12.adapters.sql.models import (
    AccountRow,
    AmendmentRow,
    AuditRow,
    CalendarTokenRow,
    CourseRow,
    DoseGivenRow,
    DoseSkippedRow,
    LabEntryRow,
    LoginAttemptRow,
    PatientRow,
    ReactionRow,
    SymptomEntryRow,
)
from b12.adapters.sql.ports_extra import CalendarToken
from b12.domain.accounts import Account, AuditEntry, PatientRecord, Role
from b12.domain.analytes import Analyte
from b12.domain.case import Route, Sex
from b12.domain.regimen import Product
from b12.domain.tracking import (
    Amendment,
    AmendmentKind,
    Course,
    DoseGiven,
    DoseSkipped,
    History,
    LabEntry,
    Reaction,
    SymptomEntry,
    TrackedSymptom,
)


def normalise_email(email: str) -> str:
    """E-mail addresses are stored and looked up lower-case, without surrounding spaces."""
    return email.strip().lower()


# --- rows <-> values ------------------------------------------------------------------------------------


def _course(row: CourseRow) -> Course:
    return Course(
        id=row.id,
        patient_id=row.patient_id,
        guideline=row.guideline,
        guideline_version=row.guideline_version,
        regimen_id=row.regimen_id,
        phases=codec.phases_from_json(row.phases),
        product=Product(row.product),
        strength=row.strength,
        syringe=row.syringe,
        start=row.start,
        created_by=row.created_by,
        created_at=row.created_at,
        lifelong=row.lifelong,
        sites=tuple(row.sites),
        source_text=row.source_text,
        review_months=row.review_months,
        anaemia=row.anaemia,
        potassium_first_48h=row.potassium_first_48h,
    )


def _dose(row: DoseGivenRow) -> DoseGiven:
    return DoseGiven(
        id=row.id,
        course_id=row.course_id,
        at=row.at,
        dose_mg=row.dose_mg,
        product=Product(row.product),
        route=Route(row.route),
        given_by=row.given_by,
        site=row.site,
        batch=row.batch,
        expiry=row.expiry,
        reaction=row.reaction,
        note=row.note,
    )


def _skip(row: DoseSkippedRow) -> DoseSkipped:
    return DoseSkipped(id=row.id, course_id=row.course_id, due=row.due, at=row.at, reason=row.reason)


def _amendment(row: AmendmentRow) -> Amendment:
    return Amendment(
        id=row.id,
        course_id=row.course_id,
        at=row.at,
        by=row.by,
        kind=AmendmentKind(row.kind),
        effective=row.effective,
        reason=row.reason,
        params=dict(row.params),
    )


def _symptoms(row: SymptomEntryRow) -> SymptomEntry:
    return SymptomEntry(
        id=row.id,
        patient_id=row.patient_id,
        at=row.at,
        scores={TrackedSymptom(name): score for name, score in row.scores.items()},
        note=row.note,
    )


def _reaction(row: ReactionRow) -> Reaction:
    return Reaction(id=row.id, dose_id=row.dose_id, at=row.at, description=row.description, severe=row.severe)


def _lab(row: LabEntryRow) -> LabEntry:
    return LabEntry(
        id=row.id,
        patient_id=row.patient_id,
        taken=row.taken,
        analyte=Analyte(row.analyte),
        value=row.value,
        unit=row.unit,
        normalised_value=row.normalised_value,
        normalised_unit=row.normalised_unit,
        upper_limit=row.upper_limit,
        lower_limit=row.lower_limit,
    )


def _account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        password_hash=row.password_hash,
        created_at=row.created_at,
        patient_id=row.patient_id,
    )


def _patient(row: PatientRow) -> PatientRecord:
    return PatientRecord(
        id=row.id,
        name=row.name,
        sex=Sex(row.sex),
        created_at=row.created_at,
        birth_date=row.birth_date,
        clinician_id=row.clinician_id,
        pregnant=row.pregnant,
        breastfeeding=row.breastfeeding,
    )


def _audit(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        detail=dict(row.detail),
    )


def _token(row: CalendarTokenRow) -> CalendarToken:
    return CalendarToken(
        token=row.token,
        patient_id=row.patient_id,
        course_id=row.course_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


# --- repositories ---------------------------------------------------------------------------------------


class _Repository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def _add(self, row: object) -> None:
        self._session.add(row)
        self._session.flush()


class SqlTrackingRepository(_Repository):
    def add_course(self, course: Course) -> None:
        self._add(
            CourseRow(
                id=course.id,
                patient_id=course.patient_id,
                guideline=course.guideline,
                guideline_version=course.guideline_version,
                regimen_id=course.regimen_id,
                phases=codec.phases_to_json(course.phases),
                product=course.product.value,
                strength=course.strength,
                syringe=course.syringe,
                start=course.start,
                created_by=course.created_by,
                created_at=course.created_at,
                lifelong=course.lifelong,
                sites=list(course.sites),
                source_text=course.source_text,
                review_months=course.review_months,
                anaemia=course.anaemia,
                potassium_first_48h=course.potassium_first_48h,
            )
        )

    def course(self, course_id: str) -> Course | None:
        row = self._session.get(CourseRow, course_id)
        return None if row is None else _course(row)

    def courses_for(self, patient_id: str) -> Sequence[Course]:
        rows = self._session.scalars(
            select(CourseRow)
            .where(CourseRow.patient_id == patient_id)
            .order_by(CourseRow.start, CourseRow.created_at, CourseRow.id)
        )
        return [_course(row) for row in rows]

    def add_dose(self, dose: DoseGiven) -> None:
        self._add(
            DoseGivenRow(
                id=dose.id,
                course_id=dose.course_id,
                at=dose.at,
                dose_mg=dose.dose_mg,
                product=dose.product.value,
                route=dose.route.value,
                given_by=dose.given_by,
                site=dose.site,
                batch=dose.batch,
                expiry=dose.expiry,
                reaction=dose.reaction,
                note=dose.note,
            )
        )

    def add_skip(self, skip: DoseSkipped) -> None:
        self._add(DoseSkippedRow(id=skip.id, course_id=skip.course_id, due=skip.due, at=skip.at, reason=skip.reason))

    def add_amendment(self, amendment: Amendment) -> None:
        self._add(
            AmendmentRow(
                id=amendment.id,
                course_id=amendment.course_id,
                at=amendment.at,
                by=amendment.by,
                kind=amendment.kind.value,
                effective=amendment.effective,
                reason=amendment.reason,
                params=dict(amendment.params),
            )
        )

    def add_symptoms(self, entry: SymptomEntry) -> None:
        self._add(
            SymptomEntryRow(
                id=entry.id,
                patient_id=entry.patient_id,
                at=entry.at,
                scores={TrackedSymptom(name).value: score for name, score in entry.scores.items()},
                note=entry.note,
            )
        )

    def add_reaction(self, reaction: Reaction) -> None:
        self._add(
            ReactionRow(
                id=reaction.id,
                dose_id=reaction.dose_id,
                at=reaction.at,
                description=reaction.description,
                severe=reaction.severe,
            )
        )

    def add_lab(self, entry: LabEntry) -> None:
        self._add(
            LabEntryRow(
                id=entry.id,
                patient_id=entry.patient_id,
                taken=entry.taken,
                analyte=entry.analyte.value,
                value=entry.value,
                unit=entry.unit,
                normalised_value=entry.normalised_value,
                normalised_unit=entry.normalised_unit,
                upper_limit=entry.upper_limit,
                lower_limit=entry.lower_limit,
            )
        )

    def history(self, course_id: str) -> History | None:
        """The course's own facts, plus every symptom entry and lab of its patient (they are not per course)."""
        course = self.course(course_id)
        if course is None:
            return None
        s = self._session
        doses = s.scalars(
            select(DoseGivenRow).where(DoseGivenRow.course_id == course_id).order_by(DoseGivenRow.at, DoseGivenRow.id)
        )
        skips = s.scalars(
            select(DoseSkippedRow)
            .where(DoseSkippedRow.course_id == course_id)
            .order_by(DoseSkippedRow.due, DoseSkippedRow.at, DoseSkippedRow.id)
        )
        amendments = s.scalars(
            select(AmendmentRow).where(AmendmentRow.course_id == course_id).order_by(AmendmentRow.at, AmendmentRow.id)
        )
        symptoms = s.scalars(
            select(SymptomEntryRow)
            .where(SymptomEntryRow.patient_id == course.patient_id)
            .order_by(SymptomEntryRow.at, SymptomEntryRow.id)
        )
        reactions = s.scalars(
            select(ReactionRow)
            .join(DoseGivenRow, ReactionRow.dose_id == DoseGivenRow.id)
            .where(DoseGivenRow.course_id == course_id)
            .order_by(ReactionRow.at, ReactionRow.id)
        )
        labs = s.scalars(
            select(LabEntryRow)
            .where(LabEntryRow.patient_id == course.patient_id)
            .order_by(LabEntryRow.taken, LabEntryRow.id)
        )
        return History(
            course=course,
            doses=tuple(_dose(row) for row in doses),
            skips=tuple(_skip(row) for row in skips),
            amendments=tuple(_amendment(row) for row in amendments),
            symptoms=tuple(_symptoms(row) for row in symptoms),
            reactions=tuple(_reaction(row) for row in reactions),
            labs=tuple(_lab(row) for row in labs),
        )


class SqlAccountRepository(_Repository):
    def add_account(self, account: Account) -> None:
        self._add(
            AccountRow(
                id=account.id,
                email=normalise_email(account.email),
                name=account.name,
                role=account.role.value,
                password_hash=account.password_hash,
                created_at=account.created_at,
                patient_id=account.patient_id,
            )
        )

    def account(self, account_id: str) -> Account | None:
        row = self._session.get(AccountRow, account_id)
        return None if row is None else _account(row)

    def account_by_email(self, email: str) -> Account | None:
        row = self._session.scalar(select(AccountRow).where(AccountRow.email == normalise_email(email)))
        return None if row is None else _account(row)

    @staticmethod
    def _fill_patient(row: PatientRow, patient: PatientRecord) -> PatientRow:
        row.name = patient.name
        row.sex = patient.sex.value
        row.created_at = patient.created_at
        row.birth_date = patient.birth_date
        row.clinician_id = patient.clinician_id
        row.pregnant = patient.pregnant
        row.breastfeeding = patient.breastfeeding
        return row

    def add_patient(self, patient: PatientRecord) -> None:
        self._add(self._fill_patient(PatientRow(id=patient.id), patient))

    def update_patient(self, patient: PatientRecord) -> None:
        """Replace every field of an existing patient record; LookupError if there is none."""
        row = self._session.get(PatientRow, patient.id)
        if row is None:
            raise LookupError(f"no patient record {patient.id!r}")
        self._fill_patient(row, patient)
        self._session.flush()

    def patient(self, patient_id: str) -> PatientRecord | None:
        row = self._session.get(PatientRow, patient_id)
        return None if row is None else _patient(row)

    def patients_of(self, clinician_id: str) -> Sequence[PatientRecord]:
        rows = self._session.scalars(
            select(PatientRow).where(PatientRow.clinician_id == clinician_id).order_by(PatientRow.name, PatientRow.id)
        )
        return [_patient(row) for row in rows]

    def failed_logins_since(self, email: str, since: datetime) -> int:
        count = self._session.scalar(
            select(func.count())
            .select_from(LoginAttemptRow)
            .where(
                LoginAttemptRow.email == normalise_email(email),
                LoginAttemptRow.at >= since,
                LoginAttemptRow.succeeded.is_(False),
            )
        )
        return count or 0

    def record_login(self, email: str, at: datetime, *, succeeded: bool) -> None:
        self._add(LoginAttemptRow(email=normalise_email(email), at=at, succeeded=succeeded))


class SqlAuditLog(_Repository):
    """Append-only: no update or delete here, and the database refuses them too (a trigger)."""

    def append(self, entry: AuditEntry) -> None:
        self._add(
            AuditRow(
                id=entry.id,
                at=entry.at,
                actor_id=entry.actor_id,
                action=entry.action,
                entity=entry.entity,
                entity_id=entry.entity_id,
                detail=dict(entry.detail),
            )
        )

    def entries(
        self, *, entity: str | None = None, entity_id: str | None = None, limit: int = 200
    ) -> Sequence[AuditEntry]:
        """The latest ``limit`` entries, newest first (in the order they were appended)."""
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if entity is not None:
            query = query.where(AuditRow.entity == entity)
        if entity_id is not None:
            query = query.where(AuditRow.entity_id == entity_id)
        return [_audit(row) for row in self._session.scalars(query)]


class SqlCalendarTokens(_Repository):
    """:class:`~b12.adapters.sql.ports_extra.CalendarTokens` on SQL."""

    TOKEN_BYTES = 32  # 256 bits of randomness, 43 URL-safe characters

    def create_calendar_token(self, patient_id: str, course_id: str | None, at: datetime) -> CalendarToken:
        row = CalendarTokenRow(
            token=secrets.token_urlsafe(self.TOKEN_BYTES),
            patient_id=patient_id,
            course_id=course_id,
            created_at=at,
            revoked_at=None,
        )
        self._add(row)
        return _token(row)

    def calendar_token(self, token: str) -> CalendarToken | None:
        row = self._session.get(CalendarTokenRow, token)
        return None if row is None or row.revoked_at is not None else _token(row)

    def calendar_tokens_for(self, patient_id: str) -> Sequence[CalendarToken]:
        rows = self._session.scalars(
            select(CalendarTokenRow)
            .where(CalendarTokenRow.patient_id == patient_id)
            .order_by(CalendarTokenRow.created_at, CalendarTokenRow.token)
        )
        return [_token(row) for row in rows]

    def revoke_calendar_token(self, token: str, at: datetime) -> bool:
        result = self._session.execute(
            update(CalendarTokenRow)
            .where(CalendarTokenRow.token == token, CalendarTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))


# --- unit of work ---------------------------------------------------------------------------------------


class SqlUnitOfWork:
    """:class:`b12.ports.UnitOfWork` on one SQLAlchemy session: ``with uow: ...; uow.commit()``.

    Leaving the block without ``commit()``, or by an exception, rolls everything back. The repositories
    exist only inside the block. ``calendar`` (calendar tokens) is an addition to the port.
    """

    tracking: SqlTrackingRepository
    accounts: SqlAccountRepository
    audit: SqlAuditLog
    calendar: SqlCalendarTokens

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory
        self._session: Session | None = None

    def __enter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open")
        session = self._session_factory()
        self._session = session
        self.tracking = SqlTrackingRepository(session)
        self.accounts = SqlAccountRepository(session)
        self.audit = SqlAuditLog(session)
        self.calendar = SqlCalendarTokens(session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._open(), None
        try:
            session.rollback()  # nothing left after a commit; everything since it otherwise
        finally:
            session.close()

    def _open(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work in a `with` block")
        return self._session

    def commit(self) -> None:
        self._open().commit()

    def rollback(self) -> None:
        self._open().rollback()


def unit_of_work_factory(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    """What a composition root hands to the services: a new :class:`SqlUnitOfWork` per call."""
    sessions = make_session_factory(engine)
    return lambda: SqlUnitOfWork(sessions)
