"""Every entry of units.toml checked against independent oracles: pint for factors, spellings and molar
conversions (its ``chemistry`` context), ucumvert for the UCUM codes.

The table is read here with ``tomllib`` directly, not through b12's loader, so that an entry the loader
skipped would still be checked. pint and ucumvert are test-only: b12 never imports them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from b12.domain.units import convert, parse_unit

pint = pytest.importorskip("pint")
ucumvert = pytest.importorskip("ucumvert")

DATA: dict[str, Any] = tomllib.loads(resources.files("b12.domain").joinpath("units.toml").read_text(encoding="utf-8"))
UNITS: list[dict[str, Any]] = DATA["units"]
REL = 1e-12

# The base unit of each dimension as pint writes it (units.toml writes it in UCUM; checked below).
PINT_BASE = {
    "mass": "g",
    "volume": "L",
    "mass_concentration": "g/L",
    "amount_concentration": "mol/L",
    "entitic_volume": "fL",
    "fraction": "dimensionless",
    "number_concentration": "1/L",
}


def _pint_text(spelling: str) -> str:
    """Rewrite lab notations pint does not read into pint's grammar, by general rules only.

    "x10^9/L" -> "10^9/L" (leading multiplication sign); "10*9" -> "10**9" (UCUM powers of ten);
    "µm3" -> "µm**3" (UCUM exponents); "K/µL" -> "1e3/µL" (K = thousand, not kelvin);
    "gramme" -> "gram" (British/French spelling pint does not know).
    """
    text = re.sub(r"^[x×]\s*", "", spelling)
    text = re.sub(r"\b10\*(\d+)", r"10**\1", text)
    text = re.sub(r"(m)(\d)$", r"\1**\2", text)
    text = re.sub(r"^K/", "1e3/", text)
    return text.replace("gramme", "gram")


def _ids(entry: dict[str, Any]) -> str:
    return str(entry["symbol"])


def _spellings() -> Iterator[Any]:
    for entry in UNITS:
        for spelling in (entry["symbol"], *entry["spellings"]):
            yield pytest.param(entry, spelling, id=f"{entry['symbol']} <- {spelling}")


def _molar_pairs() -> Iterator[Any]:
    mass_units = [u["symbol"] for u in UNITS if u["dimension"] == "mass_concentration"]
    amount_units = [u["symbol"] for u in UNITS if u["dimension"] == "amount_concentration" and not u.get("equivalents")]
    for analyte, chemistry in DATA["analytes"].items():
        if "molar_mass" not in chemistry:
            continue
        for mass_unit in mass_units:
            for amount_unit in amount_units:
                yield pytest.param(
                    analyte,
                    chemistry,
                    mass_unit,
                    amount_unit,
                    id=f"{analyte} {mass_unit}~{amount_unit}",
                )


@pytest.fixture(scope="module")
def ureg() -> Any:
    registry = pint.UnitRegistry()
    # mEq is not in pint; for a monovalent ion (the only use in units.toml, potassium) 1 Eq = 1 mol.
    registry.define("equivalent = mole = Eq")
    return registry


@pytest.fixture(scope="module")
def ucum() -> Any:
    return ucumvert.PintUcumRegistry()


@pytest.mark.parametrize("entry", UNITS, ids=_ids)
def test_every_factor_agrees_with_pint(ureg: Any, entry: dict[str, Any]) -> None:
    expected = ureg.parse_expression(_pint_text(entry["symbol"])).to(PINT_BASE[entry["dimension"]]).magnitude
    assert entry["factor"] == pytest.approx(expected, rel=REL)
    assert parse_unit(entry["symbol"]).factor == entry["factor"]


@pytest.mark.parametrize(("entry", "spelling"), list(_spellings()))
def test_every_spelling_means_its_canonical_unit_in_pint(ureg: Any, entry: dict[str, Any], spelling: str) -> None:
    canonical = ureg.parse_expression(_pint_text(entry["symbol"]))
    spelled = ureg.parse_expression(_pint_text(spelling))
    assert spelled.to(canonical.units).magnitude == pytest.approx(canonical.magnitude, rel=REL)
    assert parse_unit(spelling).symbol == entry["symbol"]


@pytest.mark.parametrize("entry", UNITS, ids=_ids)
def test_every_ucum_code_agrees_with_ucumvert(ucum: Any, entry: dict[str, Any]) -> None:
    base = DATA["dimensions"][entry["dimension"]]["base"]
    value = ucum.from_ucum(entry["ucum"]).to(ucum.from_ucum(base)).magnitude
    assert value == pytest.approx(entry["factor"], rel=REL)


@pytest.mark.parametrize("dimension", sorted(PINT_BASE))
def test_the_ucum_base_of_every_dimension_is_the_pint_base(ucum: Any, ureg: Any, dimension: str) -> None:
    base = ucum.from_ucum(DATA["dimensions"][dimension]["base"])
    assert base.to(PINT_BASE[dimension]).magnitude == pytest.approx(1, rel=REL)
    assert ureg.parse_expression(PINT_BASE[dimension]).dimensionality == base.dimensionality


def _pint_molar_mass(ureg: Any, chemistry: dict[str, Any]) -> Any:
    """The molar mass b12 must convert with, worked out by pint: the reference's factor when the file gives one
    ("pg/mL × 0.738 = pmol/L": 1 pg/mL is 0.738 pmol/L, so g/mol = (1 pg/mL) / (0.738 pmol/L)), else the molar mass."""
    if "conversion" not in chemistry:
        return ureg.Quantity(chemistry["molar_mass"], "g/mol")
    mass, rest = chemistry["conversion"].split(" × ")
    factor, amount = rest.split(" = ")
    per_volume = ureg.Quantity(1, _pint_text(mass)) / ureg.Quantity(float(factor), _pint_text(amount))
    return per_volume.to("g/mol")


@pytest.mark.parametrize(("analyte", "chemistry", "mass_unit", "amount_unit"), list(_molar_pairs()))
def test_molar_conversions_agree_with_pints_chemistry_context(
    ureg: Any, analyte: str, chemistry: dict[str, Any], mass_unit: str, amount_unit: str
) -> None:
    mw = _pint_molar_mass(ureg, chemistry)
    forward = ureg.Quantity(1, _pint_text(mass_unit)).to(_pint_text(amount_unit), "chemistry", mw=mw).magnitude
    backward = ureg.Quantity(1, _pint_text(amount_unit)).to(_pint_text(mass_unit), "chemistry", mw=mw).magnitude
    assert convert(1, mass_unit, amount_unit, analyte=analyte).value == pytest.approx(forward, rel=REL)
    assert convert(1, amount_unit, mass_unit, analyte=analyte).value == pytest.approx(backward, rel=REL)


def test_pint_refuses_a_molar_conversion_without_a_molar_mass_as_b12_does(ureg: Any) -> None:
    with pytest.raises(pint.DimensionalityError):
        ureg.Quantity(250, "pg/mL").to("pmol/L")


def test_the_reference_b12_example_agrees_with_pint(ureg: Any) -> None:
    # STYLE.md: 200 pg/mL of cobalamin -> 147.6 pmol/L.
    mw = _pint_molar_mass(ureg, DATA["analytes"]["b12_total"])
    expected = ureg.Quantity(200, "pg/mL").to("pmol/L", "chemistry", mw=mw).magnitude
    assert round(expected, 1) == 147.6
    assert convert(200, "pg/mL", "pmol/L", analyte="b12_total").value == pytest.approx(expected, rel=REL)


def test_ucum_international_units_are_not_a_weight(ucum: Any) -> None:
    # REFERENCE §9: [IU] is the UCUM code for international units, and no weight corresponds to it.
    assert "[IU]" in DATA["international_units"]["spellings"]
    with pytest.raises(pint.DimensionalityError):
        ucum.from_ucum("[IU]").to(ucum.from_ucum("ug"))


def test_potassium_milliequivalents_agree_with_ucumvert(ucum: Any) -> None:
    assert DATA["analytes"]["potassium"]["valence"] == 1
    expected = ucum.from_ucum("meq/L").to(ucum.from_ucum("mmol/L")).magnitude
    assert convert(4, "mEq/L", "mmol/L", analyte="potassium").value == pytest.approx(4 * expected, rel=REL)


def test_every_bound_is_within_the_oracles_reading_of_its_unit(ureg: Any) -> None:
    for dimension, table in DATA["dimensions"].items():
        low = ureg.parse_expression(_pint_text(table["min"])).to(PINT_BASE[dimension]).magnitude
        high = ureg.parse_expression(_pint_text(table["max"])).to(PINT_BASE[dimension]).magnitude
        assert 0 < low < high, dimension
