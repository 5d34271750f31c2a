"""An audit of doses, lab units, syringes and typed prescriptions against shared/clinical/REFERENCE.md.

Each test pins a REFERENCE fact (section and source ID in its comment) or a wrong reading found by the audit
(a typed "1,500 mcg" read as 500 mcg, "3 × 50 mcg" off the UK-ORAL-DIET label by float noise, ...), and
covers what tests/unit/test_units*.py and test_prescription.py did not.
"""

from __future__ import annotations

import math
import random
import tomllib
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b12.domain.alerts import Severity
from b12.domain.errors import CaseError, InternationalUnitError, UnitError, UnknownUnitError
from b12.domain.guidelines import load_guideline
from b12.domain.prescription import check_against_guideline, parse_prescription, read_dose
from b12.domain.units import (
    convert,
    dose_volume,
    parse_quantity,
    parse_strength,
    parse_syringe,
    parse_unit,
)

DATA: dict[str, Any] = tomllib.loads(resources.files("b12.domain").joinpath("units.toml").read_text(encoding="utf-8"))
IU_SPELLINGS: list[str] = DATA["international_units"]["spellings"]
STRENGTH = parse_strength("1000 mcg/mL")
U100 = parse_syringe("U-100")


# --- lab units: the factors of REFERENCE §7 -------------------------------------------------------------

FACTORS = [
    # (from, to, analyte, factor written in REFERENCE, relative tolerance (0: exact), highest value typed)
    pytest.param("pg/mL", "ng/L", None, 1, 0, 5000, id="§7.1 pg/mL = ng/L"),
    pytest.param("pg/mL", "pmol/L", "b12_total", 0.738, 5e-4, 5000, id="§7.1 pg/mL × 0.738 = pmol/L"),
    pytest.param("pmol/L", "pg/mL", "b12_total", 1.355, 5e-4, 5000, id="§7.1 pmol/L × 1.355 = pg/mL"),
    pytest.param("ng/mL", "nmol/L", "folate", 2.266, 5e-4, 5000, id="§7.6 ng/mL × 2.266 = nmol/L"),
    pytest.param("ng/mL", "µg/L", None, 1, 0, 5000, id="§7.6 ng/mL = µg/L"),
    pytest.param("µmol/L", "nmol/L", None, 1000, 0, 5000, id="§7.3 1 µmol/L = 1000 nmol/L"),
    pytest.param("nmol/mL", "µmol/L", None, 1, 0, 5000, id="§7.3 1 nmol/mL = 1 µmol/L"),
    pytest.param("g/dL", "g/L", None, 10, 0, 100, id="§7.5 g/dL × 10 = g/L"),
    pytest.param("fL", "µm3", None, 1, 0, 1000, id="§7.5 MCV fL"),
]


@pytest.mark.parametrize(("source", "target", "analyte", "factor", "rel", "highest"), FACTORS)
@given(data=st.data())
def test_every_lab_factor_of_reference_section_7_holds_for_any_value(
    source: str, target: str, analyte: str | None, factor: float, rel: float, highest: int, data: st.DataObject
) -> None:
    # Values as people type them: up to 3 decimals, inside the unit's input sanity bounds.
    value = float(data.draw(st.decimals(min_value="1", max_value=highest, places=3)))
    result = convert(value, source, target, analyte=analyte)
    assert result.unit is parse_unit(target)
    assert result.value == pytest.approx(value * factor, rel=rel or 1e-15)


@pytest.mark.parametrize(
    ("value", "source", "target", "analyte", "shown"),
    [
        pytest.param(150, "ng/L", "pmol/L", "b12_total", 110.7, id="V01 150 ng/L = 110.7 pmol/L"),
        pytest.param(230, "ng/L", "pmol/L", "b12_total", 169.7, id="V03 230 ng/L = 169.7 pmol/L"),
        pytest.param(190, "ng/L", "pmol/L", "b12_total", 140.2, id="V14 190 ng/L = 140.2 pmol/L"),
        pytest.param(2.0, "µg/L", "nmol/L", "folate", 4.5, id="V17 2.0 µg/L = 4.5 nmol/L"),
        pytest.param(0.40, "nmol/mL", "nmol/L", None, 400, id="§7.3 Mayo 0.40 nmol/mL = 400 nmol/L"),
    ],
)
def test_the_vignette_conversions_shown_to_one_decimal_are_reproduced(
    value: float, source: str, target: str, analyte: str | None, shown: float
) -> None:
    assert round(convert(value, source, target, analyte=analyte).value, 1) == shown


# IUPAC standard atomic weights (conventional values), independent of units.toml and of pint, which takes
# the molar mass as given in its "chemistry" context (so the pint oracle cannot catch a wrong molar mass).
ATOMIC_WEIGHTS = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "P": 30.974, "S": 32.06, "Co": 58.933}


@pytest.mark.parametrize(
    ("analyte", "formula"),
    [
        pytest.param("b12_total", {"C": 63, "H": 88, "Co": 1, "N": 14, "O": 14, "P": 1}, id="cyanocobalamin S63"),
        pytest.param("folate", {"C": 19, "H": 19, "N": 7, "O": 6}, id="folic acid"),
        pytest.param("homocysteine", {"C": 4, "H": 9, "N": 1, "O": 2, "S": 1}, id="homocysteine"),
    ],
)
def test_every_molar_mass_agrees_with_the_chemical_formula(analyte: str, formula: dict[str, int]) -> None:
    expected = sum(ATOMIC_WEIGHTS[element] * count for element, count in formula.items())
    assert DATA["analytes"][analyte]["molar_mass"] == pytest.approx(expected, rel=5e-5)


# --- international units: an explanation, never a number (REFERENCE §9, S102–S105) ---------------------


@pytest.mark.parametrize("spelling", ["IUs", "I.U", "U.I", "I.E", "mIU", "kIU/mL"])
def test_iu_spellings_that_were_unknown_units_now_get_the_iu_explanation(spelling: str) -> None:
    with pytest.raises(InternationalUnitError, match="there is no IU conversion for B12"):
        parse_unit(spelling)


@given(
    spelling=st.sampled_from(IU_SPELLINGS),
    per_ml=st.booleans(),
    value=st.integers(1, 10_000),
    rng=st.randoms(use_true_random=False),
)
def test_an_iu_dose_in_any_spelling_and_case_is_explained_and_never_converted(
    spelling: str, per_ml: bool, value: int, rng: random.Random
) -> None:
    flipped = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in spelling)
    text = f"{value} {flipped}{'/mL' if per_ml else ''}"
    with pytest.raises(InternationalUnitError) as caught:
        parse_quantity(text)
    message = str(caught.value)
    assert "measured by weight" in message
    assert "0.001" not in message  # the unsupported "1 IU = 0.001 mcg" of S105


def test_iu_on_a_label_line_in_the_plural_is_asked_about_as_iu() -> None:
    rx = parse_prescription("cyanocobalamin 1000 IUs IM monthly")
    assert not rx.complete
    assert any("not international units" in q.text for q in rx.questions if q.field == "phases[0].dose")


# --- numbers b12 must not misread ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1e3 mcg", "1E-3 mg", "1_000 mcg", "2.5e2 pg/mL"])
def test_a_number_with_an_exponent_or_separator_is_refused_with_a_clear_reason(text: str) -> None:
    with pytest.raises(UnitError, match="without an exponent or separator") as caught:
        parse_quantity(text)
    assert not isinstance(caught.value, UnknownUnitError)


def test_a_strength_with_an_exponent_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(UnitError, match="without an exponent or separator"):
        parse_strength("1e3 mcg/mL")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1,500 mcg", id="thousands comma (was read as 500 mcg)"),
        pytest.param("2,5 mg", id="decimal comma (was read as 5 mg)"),
        pytest.param("1e3 mcg", id="exponent (was read as 3 mcg)"),
        pytest.param("1e300 mg", id="huge exponent (was read as 300 mg)"),
        pytest.param("-1 mg", id="negative (was read as 1 mg)"),
        pytest.param("−1 mg", id="unicode minus"),
        pytest.param("0 mg", id="zero (raised a UnitError, not a CaseError)"),
        pytest.param("20000 mg", id="beyond the sanity bound"),
        pytest.param("1 mcg/mL", id="a strength typed as a dose"),
        pytest.param("1000 mcg (1 mL)", id="two amounts"),
    ],
)
def test_a_typed_dose_that_b12_would_misread_is_refused_on_the_dose_field(text: str) -> None:
    with pytest.raises(CaseError) as caught:
        read_dose(text, STRENGTH, U100)
    assert caught.value.field == "dose"


@given(thousands=st.integers(1, 99), rest=st.integers(0, 999), unit=st.sampled_from(["mcg", "mg", "mL", "units"]))
def test_a_typed_dose_with_a_thousands_separator_is_never_read_as_a_number(
    thousands: int, rest: int, unit: str
) -> None:
    with pytest.raises(CaseError, match="without commas"):
        read_dose(f"{thousands},{rest:03d} {unit}", STRENGTH, U100)


@given(
    micrograms=st.decimals(min_value="0.001", max_value="9999", places=3),
    spelling=st.sampled_from(["mcg", "µg", "μg", "ug", "micrograms", "microgram"]),
)
def test_a_typed_dose_in_micrograms_is_read_exactly_in_any_spelling(micrograms: Any, spelling: str) -> None:
    text = f"{micrograms.normalize():f} {spelling}"
    assert read_dose(text, STRENGTH, U100) == pytest.approx(float(micrograms) / 1000, rel=1e-12)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param({"dose": "1,500 mcg"}, "without commas", id="comma"),
        pytest.param({"dose": "1e3 mcg"}, "'1e'", id="exponent"),
        pytest.param({"dose": "-1 mL"}, "cannot be negative", id="negative"),
        pytest.param({"dose": "0 mg"}, "above zero", id="zero"),
    ],
)
def test_a_dose_field_b12_would_misread_is_a_question_on_the_dose_field(fields: dict[str, str], problem: str) -> None:
    rx = parse_prescription(product="hydroxocobalamin", strength="1 mg/mL", route="im", frequency="monthly", **fields)
    assert not rx.complete
    assert any(problem in q.text for q in rx.questions if q.field == "dose"), rx.questions


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("hydroxocobalamin 0 mg IM monthly", id="zero"),
        pytest.param("hydroxocobalamin 20000 mg IM monthly", id="beyond the sanity bound"),
        pytest.param("cyanocobalamin 0 mcg tablets 2 tablets daily", id="zero per tablet"),
    ],
)
def test_an_impossible_weight_on_the_label_line_is_a_question_not_an_exception(text: str) -> None:
    rx = parse_prescription(text)
    assert not rx.complete
    assert any(q.field == "phases[0].dose" and "is not accepted" in q.text for q in rx.questions), rx.questions


# --- tablets and the oral labels --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "cyanocobalamin 50 microgram tablets, 3 tablets daily",
        "cyanocobalamin 3 x 50 mcg tablets daily",
        "cyanocobalamin 0.05 mg tablets 3 tablets a day by mouth",
    ],
)
def test_three_50_microgram_tablets_a_day_are_150_micrograms_inside_uk_oral_diet(text: str) -> None:
    # REFERENCE §11 UK-ORAL-DIET: oral cyanocobalamin 50–150 micrograms/day [S14][S15].
    rx = parse_prescription(text)
    assert rx.complete, rx.questions
    assert rx.dose_mg == 0.15
    alerts = check_against_guideline(rx.phases, load_guideline("uk"))
    assert not [a for a in alerts if "dose" in a.message and a.severity is Severity.WARNING], alerts


# --- dose volumes and U-100 syringes (REFERENCE §9, VIGNETTES "Quick dose-volume table") ----------------


@pytest.mark.parametrize(
    ("dose", "strength", "ml", "units", "warns"),
    [
        pytest.param("1 mg", "1 mg/mL", 1.0, 100.0, False, id="hydroxocobalamin 1 mg/mL ampoule"),
        pytest.param("1000 mcg", "1000 mcg/mL", 1.0, 100.0, False, id="cyanocobalamin 1000 mcg"),
        pytest.param("100 mcg", "1000 mcg/mL", 0.1, 10.0, False, id="FDA PA schedule 100 mcg"),
        pytest.param("30 mcg", "1000 mcg/mL", 0.03, 3.0, True, id="US hydroxocobalamin 30 mcg"),
        pytest.param("500 µg", "500 µg/mL", 1.0, 100.0, False, id="methylcobalamin 500 µg/mL"),
        pytest.param("500 mcg", "500 mcg/0.1 mL", 0.1, 10.0, False, id="nasal 500 mcg/0.1 mL"),
    ],
)
def test_the_vignettes_dose_volume_table_on_a_u100_syringe(
    dose: str, strength: str, ml: float, units: float, warns: bool
) -> None:
    result = dose_volume(dose, strength, "U-100")
    assert (result.volume_ml, result.syringe_units) == (ml, units)
    assert any("hard to measure" in w for w in result.warnings) is warns


@given(
    micrograms=st.decimals(min_value="10", max_value="5000", places=1).map(float),
    strength=st.sampled_from(["1000 mcg/mL", "1 mg/mL", "5 mg/2 mL", "500 µg/mL", "500 mcg/0.1 mL"]),
)
def test_syringe_units_agree_with_pint_reading_u100_as_a_hundredth_of_a_millilitre(
    micrograms: float, strength: str
) -> None:
    pint = pytest.importorskip("pint")
    registry = pint.UnitRegistry()
    # REFERENCE §9: U-100 "calibrated such that 100 units equals 1 mL" [S106][S107].
    registry.define("u100_mark = milliliter / 100")
    value = parse_strength(strength)
    concentration = registry.Quantity(value.mass.value, value.mass.unit.ucum) / registry.Quantity(
        value.volume.value, value.volume.unit.ucum
    )
    expected = (registry.Quantity(micrograms, "microgram") / concentration).to("u100_mark").magnitude
    result = dose_volume(f"{micrograms} mcg", value, "U-100")
    assert result.syringe_units == pytest.approx(expected, rel=1e-12)
    assert result.volume_ml == pytest.approx(expected / 100, rel=1e-12)


def test_a_dose_typed_in_u100_units_is_read_back_as_the_weight_it_holds() -> None:
    # REFERENCE §9 (derived): 100 mcg from a 1000 mcg/mL vial = 0.1 mL = 10 units.
    assert read_dose("10 units", STRENGTH, U100) == pytest.approx(0.1)
    assert math.isclose(read_dose("100 units", parse_strength("1 mg/mL"), parse_syringe("U-40")), 2.5)


def test_the_read_back_says_1_microgram_in_the_singular() -> None:
    # REFERENCE §3.2 (US-FDA-OH): a diagnostic trial of "1 mcg daily".
    rx = parse_prescription("hydroxocobalamin 1 mcg IM daily for 10 days then 100 mcg monthly")
    assert rx.describe().startswith("1 microgram by injection into a muscle once a day for 10 days")
    assert "then 100 micrograms once a month" in rx.describe()


@pytest.mark.parametrize("text", ["１０００ mcg", "١٠٠٠ mcg", "1０00 mg"])
def test_digits_of_other_scripts_are_refused_rather_than_read_as_a_number(text: str) -> None:
    with pytest.raises(UnitError):  # "Cannot read …" or, after a first ASCII digit, an unknown unit
        parse_quantity(text)
