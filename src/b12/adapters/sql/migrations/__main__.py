"""``python -m b12.adapters.sql.migrations <alembic command>``: the Alembic CLI on the packaged folder."""

from __future__ import annotations

import logging
import sys

from alembic.config import CommandLine

from b12.adapters.sql.db import database_url
from b12.adapters.sql.migrations import alembic_config


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cli = CommandLine(prog="python -m b12.adapters.sql.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(database_url()), options)


if __name__ == "__main__":
    main(sys.argv[1:])
