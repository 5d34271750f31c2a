"""cds feedback: the append-only table of CDS Hooks feedback items

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00.000000

Written to match b12.adapters.sql.feedback.CdsFeedbackRow (checked by the schema test with Alembic's
compare_metadata), in the style of 0001:
- plain ``sa.DateTime(timezone=True)`` in place of the models' UTCDateTime;
- indexes created directly, not in batch blocks;
- the table is append-only in the database too: a trigger refuses UPDATE and DELETE (and TRUNCATE on
  PostgreSQL) of its rows, as for the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "cds_feedback is append-only"

SQLITE_GUARD = [
    f"""CREATE TRIGGER cds_feedback_no_update BEFORE UPDATE ON cds_feedback
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    f"""CREATE TRIGGER cds_feedback_no_delete BEFORE DELETE ON cds_feedback
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
]
POSTGRESQL_GUARD = [
    f"""CREATE FUNCTION cds_feedback_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege'; END $$""",
    """CREATE TRIGGER cds_feedback_no_change BEFORE UPDATE OR DELETE ON cds_feedback
    FOR EACH ROW EXECUTE FUNCTION cds_feedback_append_only()""",
    """CREATE TRIGGER cds_feedback_no_truncate BEFORE TRUNCATE ON cds_feedback
    FOR EACH STATEMENT EXECUTE FUNCTION cds_feedback_append_only()""",
]
SQLITE_UNGUARD = ["DROP TRIGGER cds_feedback_no_delete", "DROP TRIGGER cds_feedback_no_update"]
POSTGRESQL_UNGUARD = [
    "DROP TRIGGER cds_feedback_no_truncate ON cds_feedback",
    "DROP TRIGGER cds_feedback_no_change ON cds_feedback",
    "DROP FUNCTION cds_feedback_append_only()",
]


def _execute(statements: dict[str, list[str]]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in statements:
        raise NotImplementedError(f"no cds_feedback guard for {dialect}")
    for statement in statements[dialect]:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "cds_feedback",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("hook_instance", sa.String(length=64), nullable=True),
        sa.Column("card", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.JSON(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cds_feedback")),
        sa.UniqueConstraint("id", name=op.f("uq_cds_feedback_id")),
    )
    op.create_index("ix_cds_feedback_card", "cds_feedback", ["card"], unique=False)
    op.create_index(
        "ix_cds_feedback_service_id_received_at", "cds_feedback", ["service_id", "received_at"], unique=False
    )
    _execute({"sqlite": SQLITE_GUARD, "postgresql": POSTGRESQL_GUARD})


def downgrade() -> None:
    _execute({"sqlite": SQLITE_UNGUARD, "postgresql": POSTGRESQL_UNGUARD})
    op.drop_table("cds_feedback")  # its indexes go with it
