"""The lookup tables the triage expression joins against, built from the domain's own data.

Nothing here holds a factor, a cut-off or a molar mass: the unit spellings and conversion factors come
from :mod:`b12.domain.units` (``units.toml``), the scales from the threshold set, the LOINC codes from
:data:`b12.domain.analytes.LOINC`, the analytes' report units from :data:`b12.domain.labs.CANONICAL_UNITS`.
The only data of this module's own are the common lab names of each test (:data:`TEST_NAMES`).

Keys are written the way the engine computes them from a row (see :func:`unit_key`, :func:`name_key`),
so that a join on them is exact; the tests check every key against :func:`b12.domain.units.parse_unit`.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.json as pajson

from b12.domain.analytes import LOINC, Analyte
from b12.domain.errors import UnitError
from b12.domain.guidelines.thresholds import Scale, ThresholdSet
from b12.domain.labs import CANONICAL_UNITS
from b12.domain.units import (
    Dimension,
    Quantity,
    Unit,
    accepted_spellings,
    known_units,
    parse_unit,
    plausible_range,
)

B12_ANALYTES = (Analyte.B12_TOTAL, Analyte.B12_ACTIVE)

# Each analyte as a small integer, so that the engine filters rows by an integer rather than a string.
ANALYTE_INDEX: Mapping[Analyte, int] = {analyte: index for index, analyte in enumerate(Analyte)}

# Lab results only: doses and volumes are never lab units.
LAB_DIMENSIONS = frozenset(
    {
        Dimension.MASS_CONCENTRATION,
        Dimension.AMOUNT_CONCENTRATION,
        Dimension.ENTITIC_VOLUME,
        Dimension.FRACTION,
        Dimension.NUMBER_CONCENTRATION,
    }
)

# Common names labs print for each test, beside the Analyte value itself ("b12_total" is read as
# "b12 total"). Matched after lower-casing and turning runs of spaces and underscores into one space.
TEST_NAMES: Mapping[Analyte, tuple[str, ...]] = {
    Analyte.B12_TOTAL: (
        "vitamin b12",
        "b12",
        "serum b12",
        "serum vitamin b12",
        "total b12",
        "total vitamin b12",
        "vit b12",
        "cobalamin",
        "serum cobalamin",
    ),
    Analyte.B12_ACTIVE: (
        "active b12",
        "active vitamin b12",
        "holotc",
        "holo tc",
        "holo-tc",
        "holotranscobalamin",
        "holo-transcobalamin",
    ),
    Analyte.MMA: ("mma", "methylmalonic acid", "methylmalonate", "serum mma"),
    Analyte.HOMOCYSTEINE: ("hcy", "plasma homocysteine", "total homocysteine"),
    Analyte.HEMOGLOBIN: ("haemoglobin", "hb", "hgb"),
    Analyte.MCV: ("mean cell volume", "mean corpuscular volume"),
    Analyte.FOLATE: ("serum folate", "folic acid"),
    Analyte.POTASSIUM: ("k", "k+", "serum potassium"),
    Analyte.RETICULOCYTES: ("retics", "reticulocyte count"),
}

_SPACES = re.compile(r"[ \t\n\r\f\v]+")
_NAME_SEPARATORS = re.compile(r"[ \t\n\r\f\v_]+")

# The same patterns as the engine's regular expressions (ASCII white space, as RE2 and Java read \s).
UNIT_SPACE_PATTERN = r"[ \t\n\r\f\v]+"
NAME_SEPARATOR_PATTERN = r"[ \t\n\r\f\v_]+"


def unit_key(text: str) -> str:
    """A unit as the engine keys it for an exact-case match: white space removed."""
    return _SPACES.sub("", text)


def name_key(text: str) -> str:
    """A test name as the engine keys it: trimmed, lower case, runs of spaces and ``_`` as one space."""
    return _NAME_SEPARATORS.sub(" ", text).strip().lower()


@dataclass(frozen=True, slots=True)
class Conversion:
    """How a result of ``analyte`` reported in ``unit`` is normalised (the same choice as labs._read)."""

    analyte: Analyte
    unit: Unit
    target: str
    factor: float
    scale: int | None  # index of the threshold set's scale that classifies it (B12 only)
    rank: int = 0  # order among the analyte's units: largest factor first, then symbol (see conversions)

    @property
    def same_unit(self) -> bool:
        return self.target == self.unit.symbol


def lab_units() -> tuple[Unit, ...]:
    return tuple(unit for unit in known_units() if unit.dimension in LAB_DIMENSIONS)


def unit_table() -> pa.Table:
    """Unit keys -> canonical symbol: ``exact`` keys match the squashed spelling as written, ``folded``
    keys its lower case, only for units whose spellings b12 matches in any case (g/L is exact-case:
    "G/L" is giga per litre)."""
    keys: dict[tuple[str, str], str] = {}
    for unit in lab_units():
        spellings = accepted_spellings(unit.dimension)[unit.symbol]
        any_case = _case_insensitive(unit)
        for spelling in spellings:
            keys[("exact", unit_key(spelling))] = unit.symbol
            if any_case:
                keys[("folded", unit_key(spelling).lower())] = unit.symbol
    return _table(
        pa.schema([("kind", pa.string()), ("key", pa.string()), ("symbol", pa.string())]),
        ({"kind": kind, "key": key, "symbol": symbol} for (kind, key), symbol in sorted(keys.items())),
    )


def _case_insensitive(unit: Unit) -> bool:
    probe = unit.symbol.swapcase()
    if probe == unit.symbol:
        return True
    try:
        return parse_unit(probe) == unit
    except UnitError:
        return False


def analyte_table() -> pa.Table:
    """LOINC codes and test names -> analyte."""
    rows: dict[tuple[str, str], str] = {}
    for analyte, codes in LOINC.items():
        for code in codes:
            if code is not None:
                rows[("loinc", code)] = analyte.value
    for analyte in Analyte:
        for name in (analyte.value, *TEST_NAMES.get(analyte, ())):
            rows[("name", name_key(name))] = analyte.value
    return _table(
        pa.schema([("kind", pa.string()), ("key", pa.string()), ("analyte", pa.string())]),
        ({"kind": kind, "key": key, "analyte": a} for (kind, key), a in sorted(rows.items())),
    )


def choose_scale(scales: tuple[Scale, ...], unit: Unit) -> Scale | None:
    """The scale a B12 result in ``unit`` meets: as b12.domain.labs._read chooses it."""
    return (
        next((s for s in scales if s.unit == unit.symbol), None)
        or next((s for s in scales if s.dimension == unit.dimension), None)
        or (scales[0] if scales else None)
    )


def conversions(thresholds: ThresholdSet) -> tuple[Conversion, ...]:
    """Every (analyte, unit) pair b12 can normalise, with its factor from b12.domain.units."""
    found: list[Conversion] = []
    for analyte in Analyte:
        scales = thresholds.scales_for(analyte)
        for unit in lab_units():
            scale_index: int | None = None
            if analyte in B12_ANALYTES:
                scale = choose_scale(scales, unit)
                target = scale.unit if scale is not None else unit.symbol
                scale_index = None if scale is None else thresholds.scales.index(scale)
            else:
                target = CANONICAL_UNITS.get(analyte, unit.symbol)
            if target == unit.symbol:
                factor = 1.0
            else:
                try:
                    factor = Quantity(1.0, unit).to(target, analyte=analyte.value).value
                except UnitError:
                    continue  # e.g. MCV in g/L, active B12 in ng/L (no molar mass): the row is rejected
            found.append(Conversion(analyte, unit, target, factor, scale_index))
    return tuple(_ranked(found))


def _ranked(found: list[Conversion]) -> list[Conversion]:
    """Number each analyte's units: the order of two results of the same date and normalised value.

    Equal normalised values mean the larger factor was applied to the smaller number as reported, so
    "largest factor first" is "smallest reported number first"; then the unit symbol.
    """
    ranked: list[Conversion] = []
    for analyte in Analyte:
        mine = sorted((c for c in found if c.analyte is analyte), key=lambda c: (-c.factor, c.unit.symbol))
        ranked += [replace(c, rank=rank) for rank, c in enumerate(mine)]
    return ranked


def conversion_table(thresholds: ThresholdSet) -> pa.Table:
    schema = pa.schema(
        [
            ("analyte", pa.string()),
            ("analyte_index", pa.int32()),
            ("rank", pa.int32()),
            ("symbol", pa.string()),
            ("target", pa.string()),
            ("factor", pa.float64()),
            ("same_unit", pa.bool_()),
            ("scale", pa.int32()),
            ("converted", pa.bool_()),
            ("low", pa.float64()),  # the input sanity bounds of units.toml, in the unit as reported
            ("high", pa.float64()),
        ]
    )
    return _table(
        schema,
        (
            {
                "analyte": c.analyte.value,
                "analyte_index": ANALYTE_INDEX[c.analyte],
                "rank": c.rank,
                "symbol": c.unit.symbol,
                "target": c.target,
                "factor": c.factor,
                "same_unit": c.same_unit,
                "scale": c.scale,
                "converted": c.scale is not None and thresholds.scales[c.scale].dimension != c.unit.dimension,
                **dict(zip(("low", "high"), plausible_range(c.unit), strict=True)),
            }
            for c in conversions(thresholds)
        ),
    )


def _table(schema: pa.Schema, rows: Iterable[Mapping[str, object]]) -> pa.Table:
    """An Arrow table of ``rows``, read as JSON lines: pyarrow's constructors from Python values import
    pandas (0.3 s or more at start-up, for tables of a hundred rows); its JSON reader does not."""
    lines = "".join(json.dumps(row) + "\n" for row in rows).encode()
    return pajson.read_json(io.BytesIO(lines), parse_options=pajson.ParseOptions(explicit_schema=schema))
