"""``b12 convert`` and ``b12 dose`` on the stdlib parser, for a fast start (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from b12.adapters.cli import EXIT_OK, EXIT_USAGE
from b12.domain.errors import B12Error


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Raised, not SystemExit: ``main`` returns the exit code, and ``run`` prints the one line.
        raise B12Error(f"{message} (see 'b12 {self.prog.split()[-1]} --help')")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="b12", add_help=False)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    convert = commands.add_parser("convert", add_help=False)
    convert.add_argument("value")
    convert.add_argument("from_unit")
    convert.add_argument("to_unit")
    convert.add_argument("--analyte", "-a", default=None)
    dose = commands.add_parser("dose", add_help=False)
    dose.add_argument("value")
    dose.add_argument("unit")
    dose.add_argument("--strength", "-s", required=True)
    dose.add_argument("--syringe", default="U-100")
    return parser


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise B12Error(f"{text!r} is not a number") from None


def run(args: Sequence[str]) -> int:
    from b12.adapters.cli import render
    from b12.domain import units

    try:
        options = _parser().parse_args(list(args))
        if options.command == "convert":
            value = _number(options.value)
            result = units.convert(value, options.from_unit, options.to_unit, analyte=_analyte(options.analyte))
            print(render.conversion(value, options.from_unit, result, _analyte(options.analyte)))
        else:
            dose = units.quantity(_number(options.value), options.unit)
            syringe = None if options.syringe.lower() in ("none", "") else options.syringe
            print("\n".join(render.dose(units.dose_volume(dose, options.strength, syringe))))
    except B12Error as error:
        print(f"b12: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


_ANALYTE_ALIASES = {
    "b12": "b12_total",
    "cobalamin": "b12_total",
    "holotc": "b12_active",
    "active_b12": "b12_active",
}


def _analyte(name: str | None) -> str | None:
    if name is None:
        return None
    from b12.domain.analytes import Analyte

    key = _ANALYTE_ALIASES.get(name.lower(), name.lower())
    if key not in {a.value for a in Analyte}:
        raise B12Error(f"unknown analyte {name!r}; use one of: b12, " + ", ".join(a.value for a in Analyte))
    return key
