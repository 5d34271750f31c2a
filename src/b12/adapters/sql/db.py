"""Engines and sessions, made on request by the composition root: importing this module connects to nothing.

Which database: an explicit URL (``b12 serve --database URL``), else ``B12_DATABASE_URL``, else a SQLite
file ``b12.sqlite3`` in the data folder (``B12_DATA_DIR``, default ``data/`` in the working directory, i.e. the
project's data folder under ``make run``). PostgreSQL when the URL names it: ``postgresql+psycopg://…``.

SQLite connections are set up on connect: ``journal_mode=WAL`` (readers do not block the writer),
``foreign_keys=ON`` (off by default in SQLite), ``synchronous=NORMAL`` (durable with WAL, fewer fsyncs) and a
busy timeout so that concurrent requests wait for the write lock instead of failing at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

DATABASE_URL_ENV = "B12_DATABASE_URL"
DATA_DIR_ENV = "B12_DATA_DIR"
SQLITE_FILE = "b12.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 5000


def default_sqlite_url(data_dir: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """``sqlite:///…/b12.sqlite3`` in ``data_dir``, else ``$B12_DATA_DIR``, else ``./data``."""
    env = os.environ if environ is None else environ
    folder = Path(data_dir if data_dir is not None else env.get(DATA_DIR_ENV) or "data")
    return URL.create("sqlite", database=str(folder.absolute() / SQLITE_FILE)).render_as_string()


def database_url(explicit: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """The URL to use: ``explicit``, else ``$B12_DATABASE_URL``, else :func:`default_sqlite_url`."""
    env = os.environ if environ is None else environ
    return explicit or env.get(DATABASE_URL_ENV) or default_sqlite_url(environ=env)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or (url.query.get("mode") == "memory")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # answers "memory" for an in-memory database
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets its folder created and the pragmas above on every connection.

    An in-memory SQLite database lives in one connection shared by all threads (``StaticPool``), so that
    every session sees the same data; use a file for anything concurrent.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if _is_memory(parsed):
            kwargs.setdefault("poolclass", StaticPool)
            kwargs.setdefault("connect_args", {"check_same_thread": False})
        else:
            assert parsed.database is not None
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy.create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sqlalchemy.create_engine(parsed, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for :class:`~b12.adapters.sql.repository.SqlUnitOfWork`.

    Objects are not expired on commit: repositories hand out domain values, never live rows.
    """
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
