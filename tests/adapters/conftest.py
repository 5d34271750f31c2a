"""Database fixtures: every SQL test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL comes from ``B12_TEST_POSTGRES_URL`` (``make test`` starts a private cluster with
``scripts/postgres.sh`` and sets it). Each test run creates a database of its own and drops it at the end;
inside it each test gets a fresh schema, migrated by ``upgrade()``, so runs and tests never share rows.
Without the URL the PostgreSQL cases are skipped with the reason — unless ``CI`` is set, where they fail, so
that CI can never pass by silently skipping PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from b12.adapters.sql.db import make_engine
from b12.adapters.sql.migrations import upgrade
from b12.adapters.sql.repository import SqlUnitOfWork, unit_of_work_factory

POSTGRES_URL_ENV = "B12_TEST_POSTGRES_URL"
DATABASES = ["sqlite", "postgresql"]

_schemas = itertools.count(1)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        reason = (
            f"{POSTGRES_URL_ENV} is not set, so the PostgreSQL cases cannot run: use `make test`, or "
            f"`bash scripts/postgres.sh start` and `export {POSTGRES_URL_ENV}=$(bash scripts/postgres.sh url)`"
        )
        if _in_ci():
            pytest.fail(f"{reason}. CI is set: PostgreSQL may not be skipped there.", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def postgres_run_database(postgres_server_url: str) -> Iterator[URL]:
    """A database for this test run only (named after the process and a random suffix), dropped at the end."""
    name = f"b12_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_server_url).set(database=name)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_run_database: URL) -> Iterator[str]:
    """A fresh, empty schema of the run's database, first on the search path of every connection."""
    schema = f"test_{next(_schemas)}"
    admin = create_engine(postgres_run_database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield postgres_run_database.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, not yet migrated: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return URL.create("sqlite", database=str(tmp_path / "b12.sqlite3")).render_as_string()
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to the latest revision."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def new_uow(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    """Makes units of work on the migrated database: ``with new_uow() as uow: ...; uow.commit()``."""
    return unit_of_work_factory(engine)
