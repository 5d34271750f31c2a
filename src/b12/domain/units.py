"""Quantities and units: doses, volumes, syringe scales and lab results, from a closed vocabulary.

The contract:

- Every spelling b12 accepts is listed in ``units.toml`` with its canonical unit, dimension and factor;
  anything else raises :class:`~b12.domain.errors.UnknownUnitError` with the accepted spellings. White
  space and (unless a unit says otherwise) case are ignored; nothing else is guessed.
- International units are refused with an explanation: vitamin B12 doses are by weight and there is no
  IU conversion for B12 (REFERENCE §9). "units" alone is refused as a dose too: on an insulin syringe it
  is a volume scale, handled by :func:`dose_volume` and :func:`dose_from_syringe_units`.
- A :class:`Quantity` is finite and above zero. Values typed by a user (:func:`quantity`,
  :func:`parse_quantity`, :func:`convert`, strengths and doses) must also lie inside the per-dimension
  *input sanity bounds* of ``units.toml``, which catch typing and unit mistakes and are not clinical
  thresholds.
- Weight per volume <-> amount per volume needs the analyte's molar mass (as pint's ``chemistry``
  context does), mEq <-> mmol the analyte's charge; without them b12 refuses rather than guesses.
- Arithmetic is exact: values are read as the decimals they print as, factors as the decimals written in
  ``units.toml``, and each result is rounded to a float once, so 1000 µg is exactly 1 mg and round trips
  agree to the last digit or so. Rounding for people (4 significant digits, mL to 4 decimals, syringe
  units to 2) happens only in ``__str__`` and :func:`format_number`.

pint and ucumvert check every factor and UCUM code of the table in the tests; they are not imported here
because ``import pint`` alone costs ~0.2 s of CLI start-up (shared/ENVIRONMENT.md).
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from typing import Any

from b12.domain.errors import (
    GuidelineDataError,
    ImplausibleValueError,
    IncompatibleUnitsError,
    InternationalUnitError,
    UnitError,
    UnknownUnitError,
)

__all__ = [
    "Dimension",
    "DoseVolume",
    "Quantity",
    "Strength",
    "Syringe",
    "Unit",
    "accepted_spellings",
    "convert",
    "dose_from_syringe_units",
    "dose_volume",
    "format_number",
    "known_units",
    "molar_basis",
    "molar_mass",
    "parse_quantity",
    "parse_strength",
    "parse_syringe",
    "parse_unit",
    "quantity",
]

DATA_FILE = "units.toml"


class Dimension(StrEnum):
    MASS = "mass"
    VOLUME = "volume"
    MASS_CONCENTRATION = "mass_concentration"
    AMOUNT_CONCENTRATION = "amount_concentration"
    ENTITIC_VOLUME = "entitic_volume"
    FRACTION = "fraction"
    NUMBER_CONCENTRATION = "number_concentration"


@dataclass(frozen=True, slots=True)
class Unit:
    """A canonical unit: ``1 symbol = factor × base unit of the dimension`` (bases in ``units.toml``)."""

    symbol: str
    dimension: Dimension
    factor: float
    ucum: str
    equivalents: bool = False  # mEq: an amount of charge, mmol = mEq / valence

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise UnitError(f"Unit {self.symbol!r} needs a finite factor above zero, not {self.factor!r}")

    def __str__(self) -> str:
        return self.symbol


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    unit: Unit

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise TypeError(f"a quantity's value must be a number, not {self.value!r}")
        object.__setattr__(self, "value", float(self.value))
        _check_finite_positive(self.value, self.unit.symbol)

    def to(self, unit: str | Unit, *, analyte: str | None = None) -> Quantity:
        """This quantity in ``unit``; ``analyte`` (e.g. ``Analyte.B12_TOTAL``) for weight <-> amount."""
        target = unit if isinstance(unit, Unit) else parse_unit(unit)
        try:
            ratio = _conversion(self.unit, target, None if analyte is None else str(analyte))
        except _NoConversionError as refusal:
            raise IncompatibleUnitsError(str(self), target.symbol, refusal.reason) from None
        return Quantity(float(_exact(self.value) * ratio), target)

    def __str__(self) -> str:
        return _display(format_number(self.value), self.unit.symbol)


@dataclass(frozen=True, slots=True)
class Strength:
    """A product strength, kept as written on the label: ``5 mg/2 mL`` stays 5 mg in 2 mL."""

    mass: Quantity
    volume: Quantity

    def __post_init__(self) -> None:
        _require_dimension(self.mass, Dimension.MASS, "the weight of a strength")
        _require_dimension(self.volume, Dimension.VOLUME, "the volume of a strength")
        limit = _vocabulary().max_mg_per_ml
        if self._grams_per_litre() > limit:
            raise ImplausibleValueError(
                self.mg_per_ml,
                "mg/mL",
                f"it is more than {format_number(float(limit))} mg/mL, far stronger than any B12 injection; "
                "check the number and the unit, e.g. mcg/mL rather than mg/mL "
                "(an input sanity bound, not a clinical threshold)",
            )

    def _grams_per_litre(self) -> Fraction:
        return _in_base(self.mass) / _in_base(self.volume)

    @property
    def mg_per_ml(self) -> float:
        return float(self._grams_per_litre())  # 1 g/L = 1 mg/mL

    def __str__(self) -> str:
        volume = self.volume.unit.symbol if self.volume.value == 1 else str(self.volume)
        return f"{self.mass}/{volume}"


@dataclass(frozen=True, slots=True)
class Syringe:
    """A syringe scale: ``units_per_ml`` units make 1 mL (syringe units are volume, never IU)."""

    name: str
    units_per_ml: int
    capacity_ml: float
    precision_units: float

    def __post_init__(self) -> None:
        if self.units_per_ml <= 0 or not self.capacity_ml > 0 or not self.precision_units > 0:
            raise UnitError(f"Syringe {self.name!r} needs a positive scale, capacity and precision")

    @property
    def capacity_units(self) -> float:
        return self.capacity_ml * self.units_per_ml

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class DoseVolume:
    """The volume that holds a dose, and its reading on a syringe scale.

    ``volume_ml`` and ``syringe_units`` are not rounded (so they convert back exactly); ``str()`` shows
    mL to 4 decimals and units to 2. ``warnings`` are plain sentences for the person drawing the dose.
    """

    dose: Quantity
    strength: Strength
    volume_ml: float
    syringe: Syringe | None
    syringe_units: float | None
    warnings: tuple[str, ...] = ()

    @property
    def volume_text(self) -> str:
        """The volume in mL as people read it: to 4 decimals (``"0.3333"``)."""
        return _ml(self.volume_ml)

    @property
    def syringe_units_text(self) -> str | None:
        """The syringe reading as people read it: to 2 decimals (``"33.33"``); None without a syringe."""
        return None if self.syringe_units is None else _syringe_units(self.syringe_units)

    def __str__(self) -> str:
        text = f"{self.dose} of {self.strength} = {self.volume_text} mL"
        if self.syringe is not None and self.syringe_units_text is not None:
            text += f" = {self.syringe_units_text} units on a {self.syringe.name} syringe"
        return text


# --- public functions ---------------------------------------------------------------------------------


# The spellings of units and strengths are few, and each request parses the same ones several times; the
# caches hold results only (an error is raised afresh each time), and a Unit or Strength is immutable.
@functools.lru_cache(maxsize=1024)
def parse_unit(text: str, *, dimension: Dimension | None = None) -> Unit:
    """The unit ``text`` spells; with ``dimension``, refuse a unit of any other dimension."""
    vocabulary = _vocabulary()
    key = _squash(text)
    folded = key.casefold()
    if folded in vocabulary.international or folded.split("/")[0] in vocabulary.international:
        raise InternationalUnitError(text.strip())
    unit = vocabulary.exact.get(key) or vocabulary.folded.get(folded)
    if unit is None:
        raise UnknownUnitError(text.strip(), _accepted_list(dimension))
    if dimension is not None and unit.dimension is not dimension:
        raise IncompatibleUnitsError(
            unit.symbol,
            vocabulary.labels[dimension],
            f"{unit.symbol} is {vocabulary.labels[unit.dimension]}, and {vocabulary.labels[dimension]} "
            f"is needed here ({', '.join(_symbols(dimension))})",
        )
    return unit


def quantity(value: float, unit: str | Unit) -> Quantity:
    """A quantity typed by a user: also checked against the sanity bounds of its dimension."""
    return _check_bounds(Quantity(value, unit if isinstance(unit, Unit) else parse_unit(unit)))


def parse_quantity(text: str, *, dimension: Dimension | None = None) -> Quantity:
    """``"1000mcg"``, ``"1 mg"``, ``"250 pg/mL"``: a number, then a unit of the vocabulary."""
    number, unit_text = _split_number(text)
    if not unit_text:
        raise UnitError(f"{text.strip()!r} has no unit: write it with its unit, for example '1000 mcg'")
    return quantity(number, parse_unit(unit_text, dimension=dimension))


def convert(value: float, from_unit: str, to_unit: str, *, analyte: str | None = None) -> Quantity:
    return quantity(value, from_unit).to(to_unit, analyte=analyte)


def plausible_range(unit: str | Unit) -> tuple[float, float]:
    """The input sanity bounds of ``unit``'s dimension (``units.toml``), expressed in ``unit``: the lowest
    and highest value :func:`quantity` accepts in it (to float precision). Not clinical thresholds."""
    unit = unit if isinstance(unit, Unit) else parse_unit(unit)
    bounds = _vocabulary().bounds[unit.dimension]
    factor = _exact(unit.factor)
    return float(bounds.low / factor), float(bounds.high / factor)


def molar_mass(analyte: str) -> float | None:
    """The molar mass in g/mol that b12's weight <-> amount conversions of an analyte (``Analyte`` value) amount
    to, or None when b12 has none on file: 1 / the reference's clinical factor where it gives one (total B12:
    1000 / 0.738 = 1355.01, not cyanocobalamin's 1355.38; see :func:`molar_basis`)."""
    chemistry = _vocabulary().chemistry.get(str(analyte))
    if chemistry is None or chemistry.mol_per_g is None:
        return None
    return float(1 / chemistry.mol_per_g)


def molar_basis(analyte: str) -> str | None:
    """What a weight <-> amount conversion of ``analyte`` uses, in words: ``"pg/mL × 0.738 = pmol/L"`` (the
    reference's factor) or ``"molar mass 135.18 g/mol"``; None when b12 cannot convert it."""
    chemistry = _vocabulary().chemistry.get(str(analyte))
    if chemistry is None or chemistry.mol_per_g is None:
        return None
    if chemistry.conversion is not None:
        return chemistry.conversion
    return f"molar mass {float(1 / chemistry.mol_per_g):g} g/mol"


@functools.lru_cache(maxsize=256)
def parse_strength(text: str) -> Strength:
    """``"1000 mcg/mL"``, ``"1 mg/1 mL"``, ``"5 mg/2 mL"``, ``"1mg in 1ml"``."""
    parts = _STRENGTH_SPLIT.split(text.strip(), maxsplit=1)
    if len(parts) != 2 or not _STARTS_WITH_NUMBER.match(parts[0]):
        raise UnitError(
            f"Cannot read {text.strip()!r} as a strength: write the weight per volume from the label, "
            "for example '1000 mcg/mL', '1 mg/1 mL' or '5 mg/2 mL'"
        )
    mass = parse_quantity(parts[0], dimension=Dimension.MASS)
    if _STARTS_WITH_NUMBER.match(parts[1]):
        volume = parse_quantity(parts[1], dimension=Dimension.VOLUME)
    else:
        volume = Quantity(1.0, parse_unit(parts[1], dimension=Dimension.VOLUME))
    return Strength(mass, volume)


def parse_syringe(text: str | Syringe) -> Syringe:
    """``"U-100"``, ``"u100"``, ``"U-40"``."""
    if isinstance(text, Syringe):
        return text
    vocabulary = _vocabulary()
    syringe = vocabulary.syringe_index.get(_squash(text).casefold())
    if syringe is None:
        raise UnknownUnitError(text.strip(), [s.name for s in vocabulary.syringes])
    return syringe


def dose_volume(dose: Quantity | str, strength: Strength | str, syringe: Syringe | str | None = "U-100") -> DoseVolume:
    """The volume of ``strength`` that holds ``dose``, and its reading on ``syringe`` (None: mL only)."""
    if isinstance(dose, str):
        dose = parse_quantity(dose, dimension=Dimension.MASS)
    else:
        _require_dimension(dose, Dimension.MASS, "a dose")
        _check_bounds(dose)
    strength = parse_strength(strength) if isinstance(strength, str) else strength
    return _volume_of(dose, strength, None if syringe is None else parse_syringe(syringe))


# Doses and strengths come from a handful of products, and a plan asks for the volume of each phase's dose;
# every argument is immutable, so the exact (Fraction) arithmetic is done once per combination.
@functools.lru_cache(maxsize=1024)
def _volume_of(dose: Quantity, strength: Strength, syringe: Syringe | None) -> DoseVolume:
    volume_ml = _in_base(dose) / strength._grams_per_litre() * 1000
    _check_volume(volume_ml, f"{dose} from {strength}")
    return _dose_volume(dose, strength, volume_ml, syringe)


def dose_from_syringe_units(units: float, strength: Strength | str, syringe: Syringe | str = "U-100") -> DoseVolume:
    """The dose in ``units`` of ``syringe`` filled with ``strength``, in the strength's weight unit."""
    _check_finite_positive(units, "units")
    strength = parse_strength(strength) if isinstance(strength, str) else strength
    syringe = parse_syringe(syringe)
    volume_ml = _exact(units) / syringe.units_per_ml
    _check_volume(volume_ml, f"{format_number(units)} units on a {syringe.name} syringe")
    grams = volume_ml / 1000 * strength._grams_per_litre()
    dose = _check_bounds(Quantity(float(grams / _exact(strength.mass.unit.factor)), strength.mass.unit))
    return _dose_volume(dose, strength, volume_ml, syringe)


def accepted_spellings(dimension: Dimension | None = None) -> dict[str, tuple[str, ...]]:
    """Canonical symbol -> every accepted spelling (the symbol first), in the order of ``units.toml``."""
    vocabulary = _vocabulary()
    return {
        unit.symbol: vocabulary.spellings[unit.symbol]
        for unit in vocabulary.units
        if dimension is None or unit.dimension is dimension
    }


def known_units(dimension: Dimension | None = None) -> tuple[Unit, ...]:
    return tuple(u for u in _vocabulary().units if dimension is None or u.dimension is dimension)


def format_number(value: float, significant: int = 4) -> str:
    """``147.56 -> "147.6"``, ``0.62 -> "0.62"``, ``12345 -> "12345"``: no float noise, no exponent."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- conversion ---------------------------------------------------------------------------------------

_CHEMICAL = frozenset({Dimension.MASS_CONCENTRATION, Dimension.AMOUNT_CONCENTRATION})


class _NoConversionError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@functools.lru_cache(maxsize=1024)
def _conversion(source: Unit, target: Unit, analyte: str | None) -> Fraction:
    """The exact factor from ``source`` to ``target``; :class:`_NoConversionError` says why there is none."""
    if source.dimension is target.dimension and source.equivalents == target.equivalents:
        return _exact(source.factor) / _exact(target.factor)
    if source.dimension in _CHEMICAL and target.dimension in _CHEMICAL:
        return _mol_per_litre(source, analyte) / _mol_per_litre(target, analyte)
    raise _NoConversionError(_incompatibility(source, target))


def _mol_per_litre(unit: Unit, analyte: str | None) -> Fraction:
    """mol/L of the analyte in 1 ``unit``."""
    vocabulary = _vocabulary()
    chemistry = vocabulary.chemistry.get(analyte) if analyte is not None else None
    if unit.dimension is Dimension.MASS_CONCENTRATION:
        if chemistry is None or chemistry.mol_per_g is None:
            known = ", ".join(a for a, c in vocabulary.chemistry.items() if c.mol_per_g is not None)
            problem = (
                "this needs the analyte's molar mass; name the analyte"
                if analyte is None
                else f"b12 has no molar mass on file for {analyte}"
            )
            raise _NoConversionError(f"{problem} (b12 knows the molar mass of {known})")
        return _exact(unit.factor) * chemistry.mol_per_g
    if unit.equivalents:
        if chemistry is None or chemistry.valence is None:
            known = ", ".join(a for a, c in vocabulary.chemistry.items() if c.valence is not None)
            problem = (
                "mEq equal mmol only for an ion of known charge; name the analyte"
                if analyte is None
                else f"b12 does not know the charge of {analyte}"
            )
            raise _NoConversionError(f"{problem} (b12 knows the charge of {known})")
        return _exact(unit.factor) / chemistry.valence
    return _exact(unit.factor)


def _incompatibility(source: Unit, target: Unit) -> str:
    labels = _vocabulary().labels
    dimensions = {source.dimension, target.dimension}
    if dimensions == {Dimension.FRACTION, Dimension.NUMBER_CONCENTRATION}:
        return (
            "a percentage of red cells and a count per volume cannot be converted into each other "
            "without the red cell count, which b12 does not guess"
        )
    reason = f"{source.symbol} is {labels[source.dimension]} and {target.symbol} is {labels[target.dimension]}"
    if dimensions == {Dimension.MASS, Dimension.VOLUME}:
        reason += "; the volume of a dose depends on the product strength (for example 1000 mcg/mL)"
    return reason


@functools.lru_cache(maxsize=4096)  # a plan converts the same few values again and again (bench/api.py)
def _exact(value: float) -> Fraction:
    """The decimal that ``value`` prints as: 0.1 -> 1/10, 1e-06 -> 1/1000000 (exact for typed values)."""
    return Fraction(repr(float(value)))


def _in_base(q: Quantity) -> Fraction:
    return _exact(q.value) * _exact(q.unit.factor)


# --- validation ---------------------------------------------------------------------------------------


def _check_finite_positive(value: float, unit: str) -> None:
    if math.isnan(value):
        raise ImplausibleValueError(value, unit, "it is not a number")
    if math.isinf(value):
        raise ImplausibleValueError(value, unit, "it is infinite")
    if value < 0:
        raise ImplausibleValueError(value, unit, "a negative amount is not possible")
    if value == 0:
        raise ImplausibleValueError(value, unit, "b12 needs an amount above zero")


def _check_bounds(q: Quantity) -> Quantity:
    bounds = _vocabulary().bounds[q.unit.dimension]
    base = _in_base(q)
    if base > bounds.high:
        raise ImplausibleValueError(
            q.value,
            q.unit.symbol,
            f"it is more than {bounds.high_text}, the most b12 accepts here; {_SANITY}",
        )
    if base < bounds.low:
        raise ImplausibleValueError(
            q.value,
            q.unit.symbol,
            f"it is less than {bounds.low_text}, the least b12 accepts here; {_SANITY}",
        )
    return q


_SANITY = "check the number and the unit (an input sanity bound, not a clinical threshold)"


def _check_volume(volume_ml: Fraction, what: str) -> None:
    bounds = _vocabulary().bounds[Dimension.VOLUME]
    litres = volume_ml / 1000
    if litres > bounds.high:
        raise ImplausibleValueError(
            float(volume_ml), "mL", f"{what} would take more than {bounds.high_text}; {_SANITY}"
        )
    if litres < bounds.low:
        raise ImplausibleValueError(float(volume_ml), "mL", f"{what} would take less than {bounds.low_text}; {_SANITY}")


def _require_dimension(q: Quantity, dimension: Dimension, what: str) -> None:
    if q.unit.dimension is not dimension:
        labels = _vocabulary().labels
        raise IncompatibleUnitsError(
            str(q),
            labels[dimension],
            f"{what} must be {labels[dimension]} ({', '.join(_symbols(dimension))}), "
            f"and {q.unit.symbol} is {labels[q.unit.dimension]}",
        )


def _dose_volume(dose: Quantity, strength: Strength, volume_ml: Fraction, syringe: Syringe | None) -> DoseVolume:
    if syringe is None:
        return DoseVolume(dose, strength, float(volume_ml), None, None)
    units = volume_ml * syringe.units_per_ml
    warnings: list[str] = []
    vocabulary = _vocabulary()
    share = _exact(syringe.precision_units) / units
    # units.toml [syringe_warnings]: warn when the ±precision reading is more than 10 % of the volume
    # drawn (a b12 product choice, not a source figure).
    if share > vocabulary.max_precision_fraction:
        warnings.append(
            f"{_syringe_units(float(units))} units ({_ml(float(volume_ml))} mL) is hard to measure on a "
            f"{syringe.name} syringe: it reads to ±{format_number(syringe.precision_units)} unit, which is "
            f"{format_number(float(share * 100), 3)}% of this volume "
            f"(b12 warns above {format_number(float(vocabulary.max_precision_fraction * 100))}%)."
        )
    if units > _exact(syringe.capacity_ml) * syringe.units_per_ml:
        warnings.append(
            f"{_ml(float(volume_ml))} mL ({_syringe_units(float(units))} units) is more than one "
            f"{syringe.name} syringe holds ({format_number(syringe.capacity_ml)} mL = "
            f"{format_number(syringe.capacity_units)} units)."
        )
    return DoseVolume(dose, strength, float(volume_ml), syringe, float(units), tuple(warnings))


# --- parsing helpers ----------------------------------------------------------------------------------

# re.ASCII: a digit is 0-9 (Python's \d also matches "１０００" and other scripts' digits, which float() reads).
_NUMBER = re.compile(
    r"\s*(?P<number>[+\-−]?(?:\d+(?:\.\d*)?|\.\d+|nan|inf(?:inity)?))(?P<rest>.*)", re.IGNORECASE | re.DOTALL | re.ASCII
)
_STARTS_WITH_NUMBER = re.compile(r"\s*[+\-−]?(?:\d|\.\d)", re.ASCII)
_DECIMAL_COMMA = re.compile(r"\s*[+\-−]?\d+,\d", re.ASCII)
_EXPONENT_OR_SEPARATOR = re.compile(r"(?:[eE][+\-−]?|_)\d")  # "1e3 mcg", "1_000 mcg": the rest of a number
_STRENGTH_SPLIT = re.compile(r"\s*(?:/|\bin\b|\bper\b)\s*", re.IGNORECASE)


def _split_number(text: str) -> tuple[float, str]:
    if _DECIMAL_COMMA.match(text):
        raise UnitError(
            f"Cannot read the number in {text.strip()!r}: write it with a decimal point and no thousands "
            "separator (1000 or 0.5), so that b12 does not have to guess what the comma means"
        )
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise UnitError(
            f"Cannot read {text.strip()!r} as an amount: write a number followed by its unit, "
            "for example '1000 mcg', '1 mg' or '250 pg/mL'"
        )
    if _EXPONENT_OR_SEPARATOR.match(match["rest"]):
        # "1e3 mcg" and "1_000 mcg" get this reason, not "Unknown unit 'e3 mcg'", which says nothing useful.
        raise UnitError(
            f"Cannot read the number in {text.strip()!r}: write it out in digits with at most a decimal point "
            "(1000 or 0.5), without an exponent or separator, so that b12 does not misread it"
        )
    return float(match["number"].replace("−", "-")), match["rest"].strip()


def _squash(text: str) -> str:
    return "".join(text.split())


def _symbols(dimension: Dimension) -> list[str]:
    return [u.symbol for u in _vocabulary().units if u.dimension is dimension]


def _accepted_list(dimension: Dimension | None) -> list[str]:
    """One readable entry per canonical unit: ``µg (or μg / ug / mcg / microgram / micrograms)``."""
    entries = []
    for symbol, spellings in accepted_spellings(dimension).items():
        others = spellings[1:]
        entries.append(f"{symbol} (or {' / '.join(others)})" if others else symbol)
    return entries


def _display(number: str, symbol: str) -> str:
    if symbol == "%":
        return f"{number}%"
    if symbol[0].isdigit():
        return f"{number} × {symbol}"
    return f"{number} {symbol}"


def _ml(value: float) -> str:
    return format_number(round(value, 4), 15)


def _syringe_units(value: float) -> str:
    return format_number(round(value, 2), 15)


# --- the vocabulary file ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bounds:
    low: Fraction  # in the dimension's base unit
    high: Fraction
    low_text: str
    high_text: str


@dataclass(frozen=True, slots=True)
class _Chemistry:
    molar_mass: Fraction | None  # g/mol, the chemistry
    valence: int | None
    # mol per g used for weight <-> amount: the clinical factor when the reference gives one (``conversion``),
    # else 1 / molar_mass
    mol_per_g: Fraction | None = None
    conversion: str | None = None  # the factor as written, e.g. "pg/mL × 0.738 = pmol/L"


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    units: tuple[Unit, ...]
    spellings: Mapping[str, tuple[str, ...]]  # symbol -> spellings, symbol first
    exact: Mapping[str, Unit]  # squashed spelling of exact_case units
    folded: Mapping[str, Unit]  # squashed, casefolded spelling of the others
    international: frozenset[str]
    labels: Mapping[Dimension, str]
    bounds: Mapping[Dimension, _Bounds]
    chemistry: Mapping[str, _Chemistry]
    syringes: tuple[Syringe, ...]
    syringe_index: Mapping[str, Syringe]
    max_precision_fraction: Fraction
    max_mg_per_ml: Fraction


@functools.cache
def _vocabulary() -> _Vocabulary:
    text = resources.files("b12.domain").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return _load(text, DATA_FILE)


def _load(text: str, file: str) -> _Vocabulary:
    """Read and check a vocabulary file; every problem is reported at once, with where it is."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise GuidelineDataError(file, [f"not valid TOML: {error}"]) from None
    problems: list[str] = []
    read = _Reader(problems)
    read.only(
        data,
        "",
        {
            "version",
            "dimensions",
            "units",
            "international_units",
            "analytes",
            "syringes",
            "syringe_warnings",
            "strengths",
        },
    )

    units: list[Unit] = []
    spellings: dict[str, tuple[str, ...]] = {}
    exact: dict[str, Unit] = {}
    folded: dict[str, Unit] = {}
    for i, entry in enumerate(read.tables(data, "units", "")):
        where = f"units[{i}]"
        read.only(entry, where, {"symbol", "dimension", "factor", "ucum", "spellings", "equivalents", "exact_case"})
        symbol = read.text(entry, "symbol", where)
        where = f"units[{i}] ({symbol})"
        dimension = read.choice(entry, "dimension", where, Dimension)
        factor = read.positive(entry, "factor", where)
        ucum = read.text(entry, "ucum", where)
        if symbol in spellings:
            problems.append(f"{where}: symbol listed twice")
            continue
        unit = Unit(symbol, dimension, factor, ucum, read.flag(entry, "equivalents", where))
        exact_case = read.flag(entry, "exact_case", where)
        names = (symbol, *read.texts(entry, "spellings", where))
        for name in names:
            key = _squash(name)
            index, key = (exact, key) if exact_case else (folded, key.casefold())
            if key in index and index[key] != unit:  # µ (U+00B5) and μ (U+03BC) casefold alike: allowed
                problems.append(f"{where}: spelling {name!r} is already taken by {index[key].symbol}")
            index[key] = unit
        units.append(unit)
        spellings[symbol] = names
    for key, unit in exact.items():
        if key.casefold() in folded:
            problems.append(f"units ({unit.symbol}): {key!r} clashes with {folded[key.casefold()].symbol}")

    iu = data.get("international_units", {})
    read.only(iu, "international_units", {"sources", "spellings"})
    international = frozenset(_squash(s).casefold() for s in read.texts(iu, "spellings", "international_units"))
    for key in sorted(international & (folded.keys() | {k.casefold() for k in exact})):
        problems.append(f"international_units: {key!r} is also a unit")

    labels: dict[Dimension, str] = {}
    bounds: dict[Dimension, _Bounds] = {}
    dimensions = read.table(data, "dimensions", "")
    for name in dimensions.keys() - set(Dimension):
        problems.append(f"dimensions.{name}: not a dimension (one of {', '.join(Dimension)})")
    for dimension in Dimension:
        where = f"dimensions.{dimension}"
        table = read.table(dimensions, dimension.value, "dimensions")
        read.only(table, where, {"label", "base", "min", "max"})
        labels[dimension] = read.text(table, "label", where)
        read.text(table, "base", where)
        low = _bound(read.text(table, "min", where), dimension, exact, folded, f"{where}.min", problems)
        high = _bound(read.text(table, "max", where), dimension, exact, folded, f"{where}.max", problems)
        if low >= high:
            problems.append(f"{where}: min must be below max")
        bounds[dimension] = _Bounds(low, high, str(table.get("min")), str(table.get("max")))

    chemistry: dict[str, _Chemistry] = {}
    for name, table in read.table(data, "analytes", "").items():
        where = f"analytes.{name}"
        if not isinstance(table, dict):
            problems.append(f"{where}: must be a table")
            continue
        read.only(table, where, {"molar_mass", "conversion", "valence", "source", "note"})
        read.text(table, "source", where, empty=True)
        read.text(table, "note", where)
        mass = read.positive(table, "molar_mass", where) if "molar_mass" in table else None
        conversion = read.text(table, "conversion", where) if "conversion" in table else None
        mol_per_g = None if mass is None else 1 / _exact(mass)
        if conversion is not None:
            mol_per_g = _conversion_factor(conversion, exact, folded, f"{where}.conversion", problems)
        valence = table.get("valence")
        if valence is not None and (isinstance(valence, bool) or not isinstance(valence, int) or valence <= 0):
            problems.append(f"{where}.valence: must be a whole number above zero")
            valence = None
        if mass is None and valence is None:
            problems.append(f"{where}: needs a molar_mass or a valence")
        chemistry[name] = _Chemistry(None if mass is None else _exact(mass), valence, mol_per_g, conversion)

    syringes: list[Syringe] = []
    syringe_index: dict[str, Syringe] = {}
    for i, entry in enumerate(read.tables(data, "syringes", "")):
        where = f"syringes[{i}]"
        read.only(entry, where, {"name", "units_per_ml", "capacity_ml", "precision_units", "source", "spellings"})
        scale = entry.get("units_per_ml")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale <= 0:
            problems.append(f"{where}.units_per_ml: must be a whole number above zero")
            scale = 1
        syringe = Syringe(
            read.text(entry, "name", where),
            scale,
            read.positive(entry, "capacity_ml", where),
            read.positive(entry, "precision_units", where),
        )
        read.text(entry, "source", where)
        for name in (syringe.name, *read.texts(entry, "spellings", where)):
            key = _squash(name).casefold()
            if key in syringe_index:
                problems.append(f"{where}: spelling {name!r} is already taken by {syringe_index[key].name}")
            syringe_index[key] = syringe
        syringes.append(syringe)

    warnings = read.table(data, "syringe_warnings", "")
    read.only(warnings, "syringe_warnings", {"max_precision_fraction", "note"})
    fraction = read.positive(warnings, "max_precision_fraction", "syringe_warnings")
    if fraction >= 1:
        problems.append("syringe_warnings.max_precision_fraction: must be below 1")
    strengths = read.table(data, "strengths", "")
    read.only(strengths, "strengths", {"max_mg_per_ml", "note"})
    max_mg_per_ml = read.positive(strengths, "max_mg_per_ml", "strengths")

    if problems:
        raise GuidelineDataError(file, problems)
    return _Vocabulary(
        units=tuple(units),
        spellings=spellings,
        exact=exact,
        folded=folded,
        international=international,
        labels=labels,
        bounds=bounds,
        chemistry=chemistry,
        syringes=tuple(syringes),
        syringe_index=syringe_index,
        max_precision_fraction=_exact(fraction),
        max_mg_per_ml=_exact(max_mg_per_ml),
    )


_CONVERSION = re.compile(r"\s*(?P<mass>.+?)\s*[×x*]\s*(?P<factor>\d+(?:\.\d+)?)\s*=\s*(?P<amount>.+?)\s*")


def _conversion_factor(
    text: str, exact: Mapping[str, Unit], folded: Mapping[str, Unit], where: str, problems: list[str]
) -> Fraction | None:
    """mol per g from a factor written as a reference writes it: ``"pg/mL × 0.738 = pmol/L"``."""
    match = _CONVERSION.fullmatch(text)
    spelled = (match["mass"], match["amount"]) if match is not None else ("", "")
    mass, amount = (exact.get(_squash(unit)) or folded.get(_squash(unit).casefold()) for unit in spelled)
    if (
        match is None
        or mass is None
        or amount is None
        or mass.dimension is not Dimension.MASS_CONCENTRATION
        or amount.dimension is not Dimension.AMOUNT_CONCENTRATION
    ):
        problems.append(f"{where}: {text!r} is not 'MASS-CONCENTRATION × FACTOR = AMOUNT-CONCENTRATION'")
        return None
    # 1 mass-unit is FACTOR amount-units: (mol/L) / (g/L).
    return Fraction(match["factor"]) * _exact(amount.factor) / _exact(mass.factor)


def _bound(
    text: str,
    dimension: Dimension,
    exact: Mapping[str, Unit],
    folded: Mapping[str, Unit],
    where: str,
    problems: list[str],
) -> Fraction:
    """A bound such as ``"10 g"`` in the dimension's base unit (0 when unreadable, with a problem)."""
    match = _NUMBER.fullmatch(text)
    key = _squash(match["rest"]) if match else ""
    unit = exact.get(key) or folded.get(key.casefold())
    if match is None or unit is None or unit.dimension is not dimension:
        problems.append(f"{where}: {text!r} is not a quantity in a unit of {dimension}")
        return Fraction(0)
    value = float(match["number"].replace("−", "-"))
    if not (math.isfinite(value) and value > 0):
        problems.append(f"{where}: {text!r} must be above zero")
    return _exact(value) * _exact(unit.factor)


class _Reader:
    """Typed access to parsed TOML that records a problem (with its place) instead of raising."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def only(self, table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        for key in sorted(table.keys() - allowed):
            self.problems.append(f"{where or 'top level'}: unknown key {key!r}")

    def table(self, table: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = table.get(key)
        if isinstance(value, dict):
            return value
        self.problems.append(f"{_join(where, key)}: missing table")
        return {}

    def tables(self, table: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
        value = table.get(key)
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value
        self.problems.append(f"{_join(where, key)}: must be a list of tables ([[{key}]])")
        return []

    def text(self, table: Mapping[str, Any], key: str, where: str, *, empty: bool = False) -> str:
        value = table.get(key)
        if isinstance(value, str) and (empty or value.strip()):
            return value
        self.problems.append(f"{_join(where, key)}: must be a {'' if empty else 'non-empty '}string")
        return ""

    def texts(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key)
        if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
            return tuple(value)
        self.problems.append(f"{_join(where, key)}: must be a list of non-empty strings")
        return ()

    def flag(self, table: Mapping[str, Any], key: str, where: str) -> bool:
        value = table.get(key, False)
        if isinstance(value, bool):
            return value
        self.problems.append(f"{_join(where, key)}: must be true or false")
        return False

    def positive(self, table: Mapping[str, Any], key: str, where: str) -> float:
        value = table.get(key)
        if not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
        self.problems.append(f"{_join(where, key)}: must be a number above zero")
        return 1.0

    def choice(self, table: Mapping[str, Any], key: str, where: str, kind: type[Dimension]) -> Dimension:
        value = table.get(key)
        if isinstance(value, str) and value in set(kind):
            return kind(value)
        self.problems.append(f"{_join(where, key)}: must be one of {', '.join(kind)}")
        return next(iter(kind))


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
