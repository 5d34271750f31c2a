"""Tables: one per stored fact, plus accounts, patients, login attempts, the audit log and calendar tokens.

Rows are not domain values: :mod:`b12.adapters.sql.repository` maps between the two, so the domain keeps its
frozen dataclasses. Conventions, the same on SQLite and PostgreSQL:

- ids are the domain's strings; enumerations are stored as their ``.value`` in a plain string column (no
  database ENUM type to migrate when a value is added);
- date-times are :class:`UTCDateTime`: aware values only, stored in UTC (``timestamptz`` on PostgreSQL; a
  UTC text on SQLite, which has no time zone type) and read back aware in UTC; dates are ``DATE``;
- structured values (a course's phases, symptom scores, amendment parameters, audit details) are JSON,
  encoded by :mod:`b12.adapters.sql.codec`;
- a lab keeps the value and unit as reported beside the normalised value and unit.

The audit log is append-only: the migration adds a trigger that refuses UPDATE and DELETE on its rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(64)
NAME = String(200)
CODE = String(40)  # an enumeration value or a rule ID

# Named constraints, so that migrations can refer to them on every database (Alembic's advice).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware date-time stored in UTC; a naive one is refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store the naive date-time {value.isoformat()}: give it a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-case
    name: Mapped[str] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(CODE)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # accounts <-> patients refer to each other; use_alter breaks the cycle when tables are created
    patient_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("patients.id", use_alter=True, name="fk_accounts_patient_id_patients"), index=True
    )


class PatientRow(Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    sex: Mapped[str] = mapped_column(CODE)
    created_at: Mapped[datetime]
    birth_date: Mapped[date | None]
    clinician_id: Mapped[str | None] = mapped_column(ID, ForeignKey("accounts.id"), index=True)
    pregnant: Mapped[bool] = mapped_column(Boolean)
    breastfeeding: Mapped[bool] = mapped_column(Boolean)


class LoginAttemptRow(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email", "at"),)

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))  # lower-case, as typed: it may match no account
    at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)


class AuditRow(Base):
    """Append-only; ``seq`` keeps the order of appends for entries written in the same instant."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    at: Mapped[datetime]
    actor_id: Mapped[str | None] = mapped_column(ID)  # not a foreign key: the log outlives what it names
    action: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(80))
    entity_id: Mapped[str | None] = mapped_column(ID)
    detail: Mapped[dict[str, Any]]


class CourseRow(Base):
    __tablename__ = "courses"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID, ForeignKey("patients.id"), index=True)
    guideline: Mapped[str] = mapped_column(CODE)
    guideline_version: Mapped[str] = mapped_column(CODE)
    regimen_id: Mapped[str | None] = mapped_column(CODE)
    phases: Mapped[list[Any]]  # codec.phases_to_json
    product: Mapped[str] = mapped_column(CODE)
    strength: Mapped[str] = mapped_column(String(100))
    syringe: Mapped[str | None] = mapped_column(CODE)
    start: Mapped[date]
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    lifelong: Mapped[bool] = mapped_column(Boolean)
    sites: Mapped[list[Any]]
    source_text: Mapped[str | None] = mapped_column(Text)
    review_months: Mapped[int | None] = mapped_column(Integer)
    anaemia: Mapped[bool] = mapped_column(Boolean)
    potassium_first_48h: Mapped[bool] = mapped_column(Boolean)


class DoseGivenRow(Base):
    __tablename__ = "doses_given"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    course_id: Mapped[str] = mapped_column(ID, ForeignKey("courses.id"), index=True)
    at: Mapped[datetime]
    dose_mg: Mapped[float] = mapped_column(Double)
    product: Mapped[str] = mapped_column(CODE)
    route: Mapped[str] = mapped_column(CODE)
    given_by: Mapped[str] = mapped_column(NAME)  # a user id or free text ("practice nurse")
    site: Mapped[str | None] = mapped_column(String(100))
    batch: Mapped[str | None] = mapped_column(String(100))
    expiry: Mapped[date | None]
    reaction: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class DoseSkippedRow(Base):
    __tablename__ = "doses_skipped"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    course_id: Mapped[str] = mapped_column(ID, ForeignKey("courses.id"), index=True)
    due: Mapped[date]
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)


class AmendmentRow(Base):
    __tablename__ = "amendments"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    course_id: Mapped[str] = mapped_column(ID, ForeignKey("courses.id"), index=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(CODE)
    effective: Mapped[date]
    reason: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]]


class SymptomEntryRow(Base):
    __tablename__ = "symptom_entries"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID, ForeignKey("patients.id"), index=True)
    at: Mapped[datetime]
    scores: Mapped[dict[str, Any]]  # {"fatigue": 6, ...}
    note: Mapped[str | None] = mapped_column(Text)


class ReactionRow(Base):
    __tablename__ = "reactions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dose_id: Mapped[str] = mapped_column(ID, ForeignKey("doses_given.id"), index=True)
    at: Mapped[datetime]
    description: Mapped[str] = mapped_column(Text)
    severe: Mapped[bool] = mapped_column(Boolean)


class LabEntryRow(Base):
    __tablename__ = "lab_entries"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID, ForeignKey("patients.id"), index=True)
    taken: Mapped[date]
    analyte: Mapped[str] = mapped_column(CODE)
    value: Mapped[float] = mapped_column(Double)  # as reported
    unit: Mapped[str] = mapped_column(String(40))  # as reported
    normalised_value: Mapped[float] = mapped_column(Double)
    normalised_unit: Mapped[str] = mapped_column(String(40))
    upper_limit: Mapped[float | None] = mapped_column(Double)
    lower_limit: Mapped[float | None] = mapped_column(Double)


class CalendarTokenRow(Base):
    """A private .ics subscription URL's secret; ``course_id`` None means every course of the patient."""

    __tablename__ = "calendar_tokens"

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID, ForeignKey("patients.id"), index=True)
    course_id: Mapped[str | None] = mapped_column(ID, ForeignKey("courses.id"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
