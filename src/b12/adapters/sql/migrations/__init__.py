"""Alembic migrations shipped inside the package, run from code: ``upgrade(url_or_engine)``.

The migration folder is this package's own directory, so an installed b12 migrates its database without
an ``alembic.ini``. ``python -m b12.adapters.sql.migrations`` is the ``alembic`` command line on the same
folder and on :func:`b12.adapters.sql.db.database_url` (e.g. ``revision --autogenerate -m "…"``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from b12.adapters.sql.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent
HEAD = "head"


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration on the packaged folder; ``url`` becomes ``sqlalchemy.url`` if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = make_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))  # ConfigParser interpolation
    return config


def _run(target: str | URL | Engine, action: str, revision: str) -> None:
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        if engine is not target:
            engine.dispose()


def upgrade(target: str | URL | Engine, revision: str = HEAD) -> None:
    """Migrate the database at ``target`` (a URL or an engine) up to ``revision``, in one transaction
    where the database allows it (PostgreSQL: all or nothing; SQLite commits DDL as it goes)."""
    _run(target, "upgrade", revision)


def downgrade(target: str | URL | Engine, revision: str) -> None:
    _run(target, "downgrade", revision)
