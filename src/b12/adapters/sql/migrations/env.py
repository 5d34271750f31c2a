"""Alembic environment for b12: the target is :data:`b12.adapters.sql.models.Base.metadata`.

Runs on the connection given in ``config.attributes["connection"]`` (what :func:`upgrade` passes), or else
on an engine made from the ``sqlalchemy.url`` option with :func:`b12.adapters.sql.db.make_engine`, so that
SQLite gets the same pragmas as the application. Batch mode is on, because SQLite alters tables only by
copying them.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

import b12.adapters.sql.api_tokens  # noqa: F401  (registers api_tokens on Base.metadata)
from b12.adapters.sql import feedback  # noqa: F401  (registers cds_feedback on Base.metadata)
from b12.adapters.sql.db import make_engine
from b12.adapters.sql.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Migrations name plain SQLAlchemy types, never b12's, so that they keep working as the models change."""
    if type_ == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, render_item=render_item
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection in config.attributes or set sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
