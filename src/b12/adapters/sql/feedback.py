"""CDS Hooks feedback on SQL: the ``cds_feedback`` table, its append-only log, and a unit of work that has it.

One row per feedback item received at ``POST /cds-services/{id}/feedback``: the service, the hook instance that
issued the card (when known), the card's uuid, the outcome, the accepted suggestion ids, the override reason as
received, when the user acted (``outcomeTimestamp``) and when b12 received it. Like the audit log it is
append-only, in the database too (migration 0002 adds the same kind of trigger).

:class:`SqlCdsUnitOfWork` is :class:`~b12.adapters.sql.repository.SqlUnitOfWork` plus ``cds_feedback``, so one
transaction can hold feedback and anything else. Once the lead adds ``cds_feedback`` to ``SqlUnitOfWork`` itself,
``unit_of_work_factory`` satisfies :class:`b12.adapters.cds_hooks.FeedbackUnitOfWork` and this subclass can go.

Importing this module registers the table on :data:`b12.adapters.sql.models.Base.metadata`; the migrations'
``env.py`` imports it, so Alembic's target (and the schema check in the tests) always holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Self

from sqlalchemy import BigInteger, Engine, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from b12.adapters.cds_models import FeedbackRecord
from b12.adapters.sql.db import make_session_factory
from b12.adapters.sql.models import CODE, ID, Base
from b12.adapters.sql.repository import SqlUnitOfWork

CARD_ID = String(128)  # card and suggestion uuids as the client sent them (36 characters when they are uuids)


class CdsFeedbackRow(Base):
    """Append-only; ``seq`` keeps the order in which feedback arrived."""

    __tablename__ = "cds_feedback"
    __table_args__ = (
        Index("ix_cds_feedback_card", "card"),
        Index("ix_cds_feedback_service_id_received_at", "service_id", "received_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    service_id: Mapped[str] = mapped_column(ID)
    hook_instance: Mapped[str | None] = mapped_column(ID)
    card: Mapped[str] = mapped_column(CARD_ID)
    outcome: Mapped[str] = mapped_column(CODE)
    accepted_suggestions: Mapped[list[Any]]
    override_reason: Mapped[dict[str, Any] | None]
    outcome_at: Mapped[datetime]
    received_at: Mapped[datetime]


def _record(row: CdsFeedbackRow) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id,
        service_id=row.service_id,
        hook_instance=row.hook_instance,
        card=row.card,
        outcome=row.outcome,
        accepted_suggestions=tuple(str(s) for s in row.accepted_suggestions),
        override_reason=row.override_reason,
        outcome_at=row.outcome_at,
        received_at=row.received_at,
    )


class SqlCdsFeedbackLog:
    """Append-only: there is no update or delete here, and the database refuses them too."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, record: FeedbackRecord) -> None:
        self._session.add(
            CdsFeedbackRow(
                id=record.id,
                service_id=record.service_id,
                hook_instance=record.hook_instance,
                card=record.card,
                outcome=record.outcome,
                accepted_suggestions=list(record.accepted_suggestions),
                override_reason=dict(record.override_reason) if record.override_reason is not None else None,
                outcome_at=record.outcome_at,
                received_at=record.received_at,
            )
        )
        self._session.flush()

    def entries(
        self, *, service_id: str | None = None, card: str | None = None, limit: int = 200
    ) -> Sequence[FeedbackRecord]:
        """The latest ``limit`` items, newest first (in the order they arrived)."""
        query = select(CdsFeedbackRow).order_by(CdsFeedbackRow.seq.desc()).limit(limit)
        if service_id is not None:
            query = query.where(CdsFeedbackRow.service_id == service_id)
        if card is not None:
            query = query.where(CdsFeedbackRow.card == card)
        return [_record(row) for row in self._session.scalars(query)]


class SqlCdsUnitOfWork(SqlUnitOfWork):
    """:class:`SqlUnitOfWork` with ``cds_feedback`` (see the module docstring)."""

    cds_feedback: SqlCdsFeedbackLog

    def __enter__(self) -> Self:
        super().__enter__()
        self.cds_feedback = SqlCdsFeedbackLog(self._open())
        return self


def cds_unit_of_work_factory(engine: Engine) -> Callable[[], SqlCdsUnitOfWork]:
    """A new :class:`SqlCdsUnitOfWork` per call, on ``engine`` (as ``unit_of_work_factory``)."""
    sessions = make_session_factory(engine)
    return lambda: SqlCdsUnitOfWork(sessions)
