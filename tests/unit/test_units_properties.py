"""Conversion round trips and parsing invariants over random values (Hypothesis)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from b12.domain.units import (
    Dimension,
    Quantity,
    Strength,
    Syringe,
    Unit,
    accepted_spellings,
    dose_from_syringe_units,
    dose_volume,
    known_units,
    molar_mass,
    parse_strength,
    parse_syringe,
    parse_unit,
)

REL = 1e-9

values = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
mass_units = st.sampled_from(known_units(Dimension.MASS))
volume_units = st.sampled_from(known_units(Dimension.VOLUME))
lab_units = st.sampled_from(
    [u for u in known_units() if u.dimension in {Dimension.MASS_CONCENTRATION, Dimension.AMOUNT_CONCENTRATION}]
)
analytes_with_molar_mass = st.sampled_from(
    [a for a in ("b12_total", "folate", "homocysteine", "hemoglobin") if molar_mass(a) is not None]
)
strengths = st.sampled_from(
    ["1000 mcg/mL", "1 mg/mL", "5 mg/2 mL", "500 mcg/0.1 mL", "10 mg/mL", "1 mcg/mL", "2.5 mg/3 mL"]
).map(parse_strength)
syringes = st.sampled_from(["U-100", "U-40"]).map(parse_syringe)


def _round_trip(value: float, there: Unit, back: Unit, analyte: str | None = None) -> float:
    return Quantity(value, there).to(back, analyte=analyte).to(there, analyte=analyte).value


@given(values, mass_units, mass_units)
def test_mass_round_trips(value: float, a: Unit, b: Unit) -> None:
    assert _round_trip(value, a, b) == pytest.approx(value, rel=REL)


@given(values, volume_units, volume_units)
def test_volume_round_trips(value: float, a: Unit, b: Unit) -> None:
    assert _round_trip(value, a, b) == pytest.approx(value, rel=REL)


@given(values, lab_units, lab_units, analytes_with_molar_mass)
def test_lab_round_trips_including_molar_conversions(value: float, a: Unit, b: Unit, analyte: str) -> None:
    if a.equivalents or b.equivalents:
        # mEq need a charge, and the one analyte with a charge (potassium) has no molar mass on file
        assume(a.dimension is b.dimension)
        analyte = "potassium"
    assert _round_trip(value, a, b, analyte) == pytest.approx(value, rel=REL)


@given(values, mass_units, mass_units)
def test_a_conversion_chain_equals_the_direct_conversion(value: float, a: Unit, b: Unit) -> None:
    via_g = Quantity(value, a).to("g").to(b).value
    assert via_g == pytest.approx(Quantity(value, a).to(b).value, rel=REL)


@st.composite
def doses_of(draw: st.DrawFn, strength: Strength) -> Quantity:
    """A dose in µg whose volume of ``strength`` stays inside the sanity bounds (0.001 mL to 1 L)."""
    micrograms_per_ml = strength.mg_per_ml * 1000
    low = 0.0011 * micrograms_per_ml
    high = min(999 * micrograms_per_ml, 1e7)
    return Quantity(draw(st.floats(low, high)), parse_unit("µg"))


@given(st.data(), strengths, syringes)
def test_dose_to_syringe_units_to_dose_round_trips(data: st.DataObject, strength: Strength, syringe: Syringe) -> None:
    dose = data.draw(doses_of(strength))
    forward = dose_volume(dose, strength, syringe)
    assert forward.syringe_units is not None
    assert forward.syringe_units == pytest.approx(forward.volume_ml * syringe.units_per_ml, rel=REL)
    back = dose_from_syringe_units(forward.syringe_units, strength, syringe)
    assert back.dose.to(dose.unit).value == pytest.approx(dose.value, rel=REL)
    assert back.volume_ml == pytest.approx(forward.volume_ml, rel=REL)


@given(st.data(), strengths, syringes)
def test_a_precision_warning_appears_exactly_below_10_units(
    data: st.DataObject, strength: Strength, syringe: Syringe
) -> None:
    result = dose_volume(data.draw(doses_of(strength)), strength, syringe)
    assert result.syringe_units is not None
    warned = any("hard to measure" in w for w in result.warnings)
    if not math.isclose(result.syringe_units, 10, rel_tol=1e-12):
        assert warned == (result.syringe_units < 10)
    too_big = any("more than one" in w for w in result.warnings)
    if not math.isclose(result.volume_ml, syringe.capacity_ml, rel_tol=1e-12):
        assert too_big == (result.volume_ml > syringe.capacity_ml)


case_insensitive = [
    (symbol, spelling)
    for symbol, spellings in accepted_spellings().items()
    for spelling in spellings
    if symbol != "g/L"  # matched in its exact case only ("G/L" is giga per litre)
]


@given(st.sampled_from(case_insensitive), st.randoms(use_true_random=False))
def test_spellings_match_in_any_case(pair: tuple[str, str], rng: random.Random) -> None:
    symbol, spelling = pair
    flips = [c.upper() if rng.random() < 0.5 else c.lower() for c in spelling]
    assert parse_unit(" ".join(flips)).symbol == symbol
