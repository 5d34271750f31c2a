"""``b12 serve``: migrate the database, then serve the web app with uvicorn.

Registered on the Typer app by :func:`register`. uvicorn and the web app are imported inside the command,
so ``b12 --help`` and the other commands do not pay for them.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer


def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema (Alembic, packaged with the SQL adapter)."""
    from b12.adapters.sql.migrations import upgrade

    upgrade(url)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
        database: Annotated[
            str | None,
            typer.Option(
                envvar="B12_DATABASE_URL",
                help="SQLAlchemy URL (default: SQLite in the data folder, B12_DATA_DIR or ./data).",
            ),
        ] = None,
        demo: Annotated[
            bool, typer.Option("--demo", help="Run the clearly labelled demo clinic (public demo passwords).")
        ] = False,
    ) -> None:
        """Serve the web app (dose calculator, assessment and plan, accounts) after migrating the database."""
        import uvicorn

        from b12.adapters.web.app import create_app
        from b12.adapters.web.settings import Settings

        settings = Settings.from_env(database_url=database, demo=demo or None)
        migrate(settings.database)
        out = sys.stdout
        out.write(f"b12 web app on http://{host}:{port}/  (database: {_redacted(settings.database)})\n")
        if settings.demo:
            from b12.adapters.web.demo import DEMO_ACCOUNTS

            out.write("Demo clinic — sign in with:\n")
            for account in DEMO_ACCOUNTS:
                out.write(f"  {account.role.value:<9}  {account.email}  password: {account.password}\n")
        out.flush()
        uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=False, server_header=False)


def _redacted(url: str) -> str:
    """A URL fit to print: any password replaced by ***."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
