"""Persistence on SQLAlchemy 2: SQLite (WAL) by default, PostgreSQL when the URL names it.

- :mod:`.db` — ``database_url()``, ``make_engine(url)``, ``make_session_factory(engine)``; nothing connects
  at import time.
- :mod:`.models` — the tables; :mod:`.codec` — phases and courses <-> JSON.
- :mod:`.repository` — ``SqlUnitOfWork`` and the repositories behind :mod:`b12.ports`.
- :mod:`.migrations` — Alembic, packaged: ``upgrade(url_or_engine)``; ``python -m b12.adapters.sql.migrations``
  is the ``alembic`` command line on the same folder.
"""
