"""Bearer tokens of the REST API on SQL: the ``api_tokens`` table, its repository, and the port it implements.

A token belongs to one account and acts with that account's rights (a patient's token reads only that patient's
record). Only a SHA-256 digest of the secret is stored: the secret is shown once, when the token is created, and
cannot be read back. A plain digest (not argon2) is enough because the secret is 256 random bits, not a password
that could be guessed from a dictionary; it also lets a request find its token by an indexed lookup. A revoked
token stays in the table (who had what, and until when) but no longer authenticates.

:class:`ApiTokens` is a proposed addition to :mod:`b12.ports`, kept here until the lead moves it (as for the
calendar tokens of :mod:`b12.adapters.sql.ports_extra`). :func:`tokens_in` gives the token store of an open unit of
work: its own ``api_tokens`` when it has them, else this SQL store on the unit of work's session, so that the
SQL unit of work needs no subclass until ``api_tokens`` is added to it (as ``calendar`` was).

Importing this module registers the table on :data:`b12.adapters.sql.models.Base.metadata`; the migrations'
``env.py`` imports it, so Alembic's target (and the schema check in the tests) always holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from b12.adapters.sql.models import ID, NAME, Base
from b12.adapters.sql.repository import SqlUnitOfWork

__all__ = ["ApiToken", "ApiTokenRow", "ApiTokens", "SqlApiTokens", "tokens_in"]

DIGEST = String(64)  # SHA-256, hex


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token as stored: everything but the secret, of which only the digest is kept."""

    id: str
    account_id: str
    name: str  # the owner's label, e.g. "practice EHR"
    prefix: str  # the secret's first characters, so that the owner can tell tokens apart
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiTokens(Protocol):
    def add(self, token: ApiToken, digest: str) -> None: ...

    def active_by_digest(self, digest: str) -> ApiToken | None:
        """The token whose secret has this digest, if it is not revoked."""
        ...

    def of_account(self, account_id: str) -> Sequence[ApiToken]:
        """Every token of the account, revoked ones included, newest first."""
        ...

    def revoke(self, token_id: str, account_id: str, at: datetime) -> bool:
        """Revoke the account's active token; False if it is unknown, someone else's or already revoked."""
        ...


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ID, ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(NAME)
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(DIGEST, unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class SqlApiTokens:
    """:class:`ApiTokens` on one SQLAlchemy session (that of a unit of work)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, token: ApiToken, digest: str) -> None:
        self._session.add(
            ApiTokenRow(
                id=token.id,
                account_id=token.account_id,
                name=token.name,
                prefix=token.prefix,
                digest=digest,
                created_at=token.created_at,
                revoked_at=token.revoked_at,
            )
        )
        self._session.flush()

    def active_by_digest(self, digest: str) -> ApiToken | None:
        row = self._session.scalars(
            select(ApiTokenRow).where(ApiTokenRow.digest == digest, ApiTokenRow.revoked_at.is_(None))
        ).first()
        return None if row is None else _token(row)

    def of_account(self, account_id: str) -> Sequence[ApiToken]:
        rows = self._session.scalars(
            select(ApiTokenRow)
            .where(ApiTokenRow.account_id == account_id)
            .order_by(ApiTokenRow.created_at.desc(), ApiTokenRow.id)
        )
        return [_token(row) for row in rows]

    def revoke(self, token_id: str, account_id: str, at: datetime) -> bool:
        result = self._session.execute(
            update(ApiTokenRow)
            .where(
                ApiTokenRow.id == token_id,
                ApiTokenRow.account_id == account_id,
                ApiTokenRow.revoked_at.is_(None),
            )
            .values(revoked_at=at)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))


def tokens_in(uow: object) -> ApiTokens:
    """The token store of an open unit of work (see the module docstring)."""
    own: ApiTokens | None = getattr(uow, "api_tokens", None)
    if own is not None:
        return own
    if isinstance(uow, SqlUnitOfWork):
        # Same package: the unit of work's own session, so that tokens and facts share one transaction.
        return SqlApiTokens(uow._open())
    raise TypeError(f"{type(uow).__name__} has no api_tokens: give the unit of work an ApiTokens store")
