"""The ``b12`` command.

``main`` is the console entry point. ``b12 convert`` and ``b12 dose`` are answered by a small stdlib
parser (:mod:`b12.adapters.cli.quick`) because importing Typer and Rich alone costs ~10× a bare Python
start-up on this machine, over the ≤ 8× budget (``make bench``); every other command, and ``--help`` for
any command, goes to the Typer app in :mod:`b12.adapters.cli.app`. Both paths print the same text through
:mod:`b12.adapters.cli.render` and share exit codes: 0 success, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

QUICK_COMMANDS = frozenset({"convert", "dose"})
EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in QUICK_COMMANDS and not {"-h", "--help"} & set(args):
        from b12.adapters.cli.quick import run

        return run(args)
    from b12.adapters.cli.app import run_app

    return run_app(args)
