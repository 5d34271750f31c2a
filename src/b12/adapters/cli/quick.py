"""``b12 convert`` and ``b12 dose`` on the stdlib parser, for a fast start (see the package docstring).

The answers are built here for both paths (this one and the Typer app), so that they read their arguments
alike: an amount is one argument or two (``'1000 mcg'``, ``1000mcg`` or ``1000 mcg``), and its number is read
by the domain's :func:`~b12.domain.units.parse_quantity`, so the command line accepts exactly the numbers
the domain does. Nothing here imports Typer, Rich or the domain's unit table at import time.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from b12.adapters.cli import EXIT_OK, EXIT_USAGE
from b12.domain.errors import B12Error, InternationalUnitError, UnitError

if TYPE_CHECKING:
    from b12.domain.units import Quantity

CONVERT_USAGE = (
    "b12 convert AMOUNT TO_UNIT, the amount's unit in the same argument or the next, "
    "e.g. b12 convert 1000 mcg mg, b12 convert '1000 mcg' mg or b12 convert 1000mcg mg"
)
DOSE_USAGE = (
    "b12 dose DOSE --strength STRENGTH [--syringe U-100], the dose's unit in the same argument or the next, "
    "e.g. b12 dose 1 mg --strength 1mg/mL or b12 dose '1000 mcg' --strength '1 mg/mL' --syringe U-100"
)
_USAGE = {"convert": CONVERT_USAGE, "dose": DOSE_USAGE}

# units.toml refuses "U", "unit" and "units" as an amount with the IU explanation; on an insulin syringe they
# are volume marks (REFERENCE §9: "calibrated such that 100 units equals 1 mL"), which is b12 dose's question.
_SYRINGE_UNITS = frozenset({"u", "unit", "units"})
_DOSE_BY_SYRINGE = "b12 dose DOSE --strength S --syringe U-100"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Raised, not SystemExit: ``main`` returns the exit code, and ``run`` prints the one line.
        raise B12Error(f"{message} (see '{self.prog} --help')")


def _parser(command: str) -> argparse.ArgumentParser:
    # One parser per command, so that options may come between the positionals (parse_intermixed_args does
    # not take subparsers): b12 convert 250 pg/mL --analyte b12 pmol/L.
    parser = _Parser(prog=f"b12 {command}", add_help=False)
    parser.add_argument("amount", nargs="*")
    if command == "convert":
        parser.add_argument("--analyte", "-a", default=None)
    else:
        parser.add_argument("--strength", "-s", default=None)
        parser.add_argument("--syringe", default="U-100")
    return parser


def run(args: Sequence[str]) -> int:
    command, rest = (args[0], list(args[1:])) if args else ("", [])
    try:
        if command not in _USAGE:
            raise B12Error(f"the quick path answers only convert and dose, not {command!r} (see 'b12 --help')")
        options = _parser(command).parse_intermixed_args(rest)
        if command == "convert":
            print(convert_answer(options.amount, options.analyte))
        else:
            print("\n".join(dose_answer(options.amount, options.strength, options.syringe)))
    except B12Error as error:
        print(f"b12: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def convert_answer(arguments: Sequence[str], analyte: str | None) -> str:
    """``b12 convert``: ``1000 mcg mg``, ``'1000 mcg' mg`` or ``1000mcg mg`` -> ``1000 mcg = 1 mg``."""
    from b12.adapters.cli import render

    parts = list(arguments)
    source_text, to_unit = (" ".join(parts[:-1]), parts[-1]) if len(parts) in (2, 3) else ("", "")
    try:
        amount, unit_text = _convert_source(parts)
        key = _analyte(analyte)
        return render.conversion(amount.value, unit_text, amount.to(to_unit, analyte=key), key)
    except UnitError as error:
        # A strength ("1 mg/mL" to mL or units) is the first thing to say, before what its unit is not.
        hint = _strength_instead(source_text, to_unit)
        if hint is None and isinstance(error, InternationalUnitError):
            hint = _syringe_units_hint(error)
        raise hint or error from None


def dose_answer(arguments: Sequence[str], strength: str | None, syringe: str) -> list[str]:
    """``b12 dose``: the volume to draw for a dose (``1 mg``, ``'1 mg'``, ``1mg``) and its syringe units."""
    from b12.adapters.cli import render
    from b12.domain.units import dose_volume

    parts = list(arguments)
    if not parts:
        raise _usage("dose", "the dose is missing")
    if len(parts) > 2:
        raise _usage("dose", f"too many arguments ({' '.join(parts)})")
    if strength is None:
        raise _usage("dose", "the product strength (--strength) is missing")
    try:
        amount = _amount(parts, "dose")
        chosen = None if syringe.strip().lower() in ("none", "") else syringe
        return render.dose(dose_volume(amount, strength, chosen))
    except InternationalUnitError as error:
        raise _syringe_units_hint(error) from None


def _convert_source(parts: list[str]) -> tuple[Quantity, str]:
    """The amount to convert and its unit as typed (echoed in the answer)."""
    from b12.domain.units import parse_quantity, parse_unit

    if not parts:
        raise _usage("convert", "the amount and the unit to convert to are missing")
    if len(parts) == 1:
        raise _usage("convert", f"the unit to convert {parts[0]} to is missing")
    if len(parts) > 3:
        raise _usage("convert", f"too many arguments ({' '.join(parts)})")
    if len(parts) == 3:
        return _amount(parts[:2], "convert"), parts[1].strip()
    text, to_unit = parts
    try:
        amount = parse_quantity(text)
    except UnitError:
        # "1000 mcg" is 1000 in mcg with no unit to convert to, not 1000 without a unit; "1000 IU" gets the
        # domain's reason for IU, not "'1000' has no unit".
        if _reads(f"{text} {to_unit}"):
            raise _usage("convert", f"the unit to convert {text} {to_unit} to is missing") from None
        parse_unit(to_unit)
        raise
    # The domain has read the number; what follows it is the unit as typed (display only, no rule of its own).
    return amount, re.sub(r"^\s*[+\-−]?[\d.]*", "", text).strip()


def _amount(parts: list[str], command: str) -> Quantity:
    """One argument (``'1000 mcg'``, ``1000mcg``) or a number and a unit, read by the domain's parser."""
    from b12.domain.units import parse_quantity

    if len(parts) == 2 and _reads(parts[0]):
        raise _usage(command, f"too many arguments: {parts[0]!r} already has its unit, then {parts[1]!r}")
    return parse_quantity(" ".join(parts))


def _reads(text: str) -> bool:
    from b12.domain.units import parse_quantity

    try:
        parse_quantity(text)
    except UnitError:
        return False
    return True


def _usage(command: str, problem: str) -> B12Error:
    return B12Error(f"{problem}; usage: {_USAGE[command]} (see 'b12 {command} --help')")


def _syringe_units_hint(error: InternationalUnitError) -> B12Error:
    """Units as an amount: the domain explains that they are volume marks; the CLI names the command."""
    if not error.syringe_marks:
        return error
    return B12Error(
        f"{error} For the units to draw, give the dose as a weight: {_DOSE_BY_SYRINGE}, "
        "e.g. b12 dose 1 mg --strength 1mg/mL --syringe U-100"
    )


def _strength_instead(source: str, to_unit: str) -> B12Error | None:
    """``1 mg/mL`` to mL or to syringe units: a strength is not an amount; say to use ``b12 dose``."""
    from b12.domain.units import Dimension, parse_strength, parse_syringe, parse_unit

    try:
        parse_strength(source)
    except UnitError:
        return None
    syringe = "U-100"
    if "".join(to_unit.split()).casefold() not in _SYRINGE_UNITS:
        try:
            syringe = parse_syringe(to_unit).name
        except UnitError:
            try:
                parse_unit(to_unit, dimension=Dimension.VOLUME)
            except UnitError:
                return None
    return B12Error(
        f"{source.strip()!r} is a strength (a weight per volume), not an amount to convert; for the volume of "
        f"a dose and its units on a syringe use b12 dose DOSE --strength STRENGTH, "
        f"e.g. b12 dose 1 mg --strength '{source.strip()}' --syringe {syringe}"
    )


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
