"""b12.domain.units: the closed vocabulary, conversions, strengths, syringes and the errors people see."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from importlib import resources

import pytest

from b12.domain import units
from b12.domain.analytes import Analyte
from b12.domain.errors import (
    GuidelineDataError,
    ImplausibleValueError,
    IncompatibleUnitsError,
    InternationalUnitError,
    UnitError,
    UnknownUnitError,
)
from b12.domain.units import (
    Dimension,
    DoseVolume,
    Quantity,
    Strength,
    Syringe,
    Unit,
    accepted_spellings,
    convert,
    dose_from_syringe_units,
    dose_volume,
    format_number,
    known_units,
    molar_basis,
    molar_mass,
    parse_quantity,
    parse_strength,
    parse_syringe,
    parse_unit,
    quantity,
)

DATA = tomllib.loads(resources.files("b12.domain").joinpath("units.toml").read_text(encoding="utf-8"))


# --- the vocabulary -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    ["µg", "μg", "ug", "mcg", "MCG", "Mcg", "microgram", "micrograms", "MICROGRAMS", " mcg "],
)
def test_every_microgram_spelling_means_micrograms(spelling: str) -> None:
    assert parse_unit(spelling).symbol == "µg"


def test_micro_sign_and_greek_mu_are_both_accepted() -> None:
    assert parse_unit("\u00b5g") == parse_unit("\u03bcg") == parse_unit("ug")


@pytest.mark.parametrize(
    ("spelling", "symbol"),
    [
        ("mg", "mg"),
        ("milligram", "mg"),
        ("Milligrams", "mg"),
        ("g", "g"),
        ("gram", "g"),
        ("grams", "g"),
        ("mL", "mL"),
        ("ml", "mL"),
        ("ML", "mL"),
        ("L", "L"),
        ("pg/mL", "pg/mL"),
        ("PG/ML", "pg/mL"),
        ("pg / mL", "pg/mL"),
        ("ng/L", "ng/L"),
        ("ng/mL", "ng/mL"),
        ("mcg/L", "µg/L"),
        ("pmol/L", "pmol/L"),
        ("nmol/l", "nmol/L"),
        ("umol/L", "µmol/L"),
        ("μmol/L", "µmol/L"),
        ("nmol/mL", "nmol/mL"),
        ("g/dL", "g/dL"),
        ("g/dl", "g/dL"),
        ("g/L", "g/L"),
        ("g/l", "g/L"),
        ("mmol/L", "mmol/L"),
        ("mEq/L", "mEq/L"),
        ("fL", "fL"),
        ("fl", "fL"),
        ("%", "%"),
        ("10^9/L", "10^9/L"),
        ("10*9/L", "10^9/L"),
        ("x10^9/L", "10^9/L"),
        ("x 10^9/L", "10^9/L"),
    ],
)
def test_listed_spellings_map_to_their_canonical_unit(spelling: str, symbol: str) -> None:
    assert parse_unit(spelling).symbol == symbol


def test_capital_g_per_litre_is_refused_because_it_means_giga_per_litre_in_french_reports() -> None:
    with pytest.raises(UnknownUnitError):
        parse_unit("G/L")


def test_an_unknown_unit_is_refused_with_the_accepted_spellings_grouped_by_unit() -> None:
    with pytest.raises(UnknownUnitError) as caught:
        parse_unit("furlongs")
    message = str(caught.value)
    assert "'furlongs'" in message
    assert "µg (or μg / ug / mcg / microgram / micrograms" in message
    assert "pg/mL" in message
    assert caught.value.unit == "furlongs"
    assert isinstance(caught.value, ValueError)


def test_an_unknown_dose_unit_lists_only_weights() -> None:
    with pytest.raises(UnknownUnitError) as caught:
        parse_quantity("1000 grains", dimension=Dimension.MASS)
    assert caught.value.accepted[0].startswith("µg")
    assert not any(entry.startswith("pg/mL") for entry in caught.value.accepted)


def test_a_unit_of_the_wrong_dimension_is_refused_when_a_dimension_is_expected() -> None:
    with pytest.raises(IncompatibleUnitsError, match="mL is a volume, and a weight is needed"):
        parse_unit("mL", dimension=Dimension.MASS)


def test_accepted_spellings_lists_the_symbol_first_for_every_unit() -> None:
    spellings = accepted_spellings()
    assert spellings["µg"][0] == "µg"
    assert "mcg" in spellings["µg"]
    assert set(accepted_spellings(Dimension.VOLUME)) == {"mL", "L"}
    assert set(spellings) == {unit.symbol for unit in known_units()}


def test_every_unit_of_the_data_file_is_known() -> None:
    assert [u.symbol for u in known_units()] == [entry["symbol"] for entry in DATA["units"]]
    assert {u.symbol for u in known_units(Dimension.MASS)} == {"µg", "mg", "g"}


def test_every_canonical_symbol_of_the_issue_exists_with_its_ucum_code() -> None:
    expected = {
        "µg": "ug",
        "mg": "mg",
        "g": "g",
        "mL": "mL",
        "L": "L",
        "pg/mL": "pg/mL",
        "ng/L": "ng/L",
        "pmol/L": "pmol/L",
        "nmol/L": "nmol/L",
        "µmol/L": "umol/L",
        "g/dL": "g/dL",
        "g/L": "g/L",
        "mmol/L": "mmol/L",
        "fL": "fL",
        "%": "%",
        "10^9/L": "10*9/L",
        "ng/mL": "ng/mL",
        "µg/L": "ug/L",
    }
    assert {symbol: parse_unit(symbol).ucum for symbol in expected} == expected


def test_molar_masses_are_keyed_by_analyte_values() -> None:
    assert set(DATA["analytes"]) <= {a.value for a in Analyte}
    # What the conversions use: REFERENCE's factors where it gives one (§7.1 × 0.738, §7.6 × 2.266).
    assert molar_mass(Analyte.B12_TOTAL) == pytest.approx(1000 / 0.738)
    assert molar_basis(Analyte.B12_TOTAL) == "pg/mL × 0.738 = pmol/L"
    assert molar_mass("folate") == pytest.approx(1000 / 2.266)
    assert molar_basis("folate") == "ng/mL × 2.266 = nmol/L"
    assert molar_basis(Analyte.HEMOGLOBIN) == "molar mass 16114.5 g/mol"
    assert molar_mass(Analyte.HEMOGLOBIN) == 16114.5
    assert molar_mass(Analyte.B12_ACTIVE) is None
    assert molar_mass(Analyte.MCV) is None
    assert molar_mass("no such analyte") is None


def test_molar_masses_and_bounds_say_where_they_come_from() -> None:
    analytes = DATA["analytes"]
    assert analytes["b12_total"]["source"] == "S61 S62 S63"
    assert analytes["folate"]["source"] == "S77"
    assert "ICSH convention, not in REFERENCE.md: verify" in analytes["hemoglobin"]["note"]
    assert "not in REFERENCE" in analytes["homocysteine"]["note"]
    text = resources.files("b12.domain").joinpath("units.toml").read_text(encoding="utf-8")
    assert "INPUT SANITY BOUNDS, NOT CLINICAL THRESHOLDS" in text
    assert DATA["syringe_warnings"]["note"] == "the 10 % is a b12 product choice, not a source figure"
    assert DATA["strengths"]["note"].startswith("input sanity bound, not a clinical threshold")


def test_the_vocabulary_file_is_read_once() -> None:
    units._vocabulary.cache_clear()
    parse_unit.cache_clear()
    parse_unit("mg")
    parse_unit("mL")
    assert units._vocabulary.cache_info().misses == 1


def test_a_cached_parse_still_refuses_each_time_and_hands_back_the_same_unit() -> None:
    assert parse_unit("mcg") is parse_unit("mcg")
    for _ in range(2):
        with pytest.raises(UnitError):
            parse_unit("IU")


def test_importing_units_does_not_import_pint_or_ucumvert_or_read_the_file() -> None:
    code = (
        "import sys, b12.domain.units as u\n"
        "assert 'pint' not in sys.modules, 'pint'\n"
        "assert 'ucumvert' not in sys.modules, 'ucumvert'\n"
        "assert u._vocabulary.cache_info().currsize == 0, 'read eagerly'\n"
        "u.convert(1000, 'mcg', 'mg')\n"
        "assert 'pint' not in sys.modules, 'pint after use'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- quantities and conversions -------------------------------------------------------------------------


def test_1000_mcg_is_1_mg() -> None:
    result = convert(1000, "mcg", "mg")
    assert result.value == 1.0
    assert str(result) == "1 mg"


def test_1_mg_is_1000_micrograms_exactly() -> None:
    assert convert(1, "mg", "µg").value == 1000.0
    assert convert(0.1, "mg", "mcg").value == 100.0


def test_b12_ng_per_l_equals_pg_per_ml() -> None:
    assert convert(250, "ng/L", "pg/mL").value == 250.0


def test_250_pg_per_ml_of_b12_is_184_5_pmol_per_l() -> None:
    result = convert(250, "pg/mL", "pmol/L", analyte=Analyte.B12_TOTAL)
    assert str(result) == "184.5 pmol/L"
    assert result.value == pytest.approx(250 * 0.738)


@pytest.mark.parametrize(
    ("ng_per_l", "pmol_per_l"),
    # NICE 133 and 258, BSH 148 [S9][S49]; Stabler prints 151.2 [S51], from the molar mass 1355.38, where the
    # factor × 0.738 that REFERENCE and the vignettes convert with gives 151.3.
    [(180, "132.8"), (200, "147.6"), (205, "151.3"), (350, "258.3")],
    ids=["NICE 180", "BSH 200", "Stabler 205", "NICE 350"],
)
def test_b12_cross_checks_of_reference_7_1(ng_per_l: float, pmol_per_l: str) -> None:
    assert format_number(convert(ng_per_l, "ng/L", "pmol/L", analyte="b12_total").value) == pmol_per_l


def test_120_pmol_per_l_of_b12_is_162_6_ng_per_l() -> None:
    assert str(convert(120, "pmol/L", "ng/L", analyte=Analyte.B12_TOTAL)) == "162.6 ng/L"


def test_b12_pg_per_ml_times_0_738_is_pmol_per_l() -> None:
    assert convert(1, "pg/mL", "pmol/L", analyte="b12_total").value == pytest.approx(0.738, abs=5e-4)


def test_20_ng_per_ml_of_folate_is_45_3_nmol_per_l() -> None:
    assert format_number(convert(20, "ng/mL", "nmol/L", analyte=Analyte.FOLATE).value, 3) == "45.3"
    assert convert(1, "µg/L", "nmol/L", analyte="folate").value == pytest.approx(2.266, abs=5e-4)


def test_folate_ng_per_ml_equals_micrograms_per_litre() -> None:
    assert convert(7.5, "ng/mL", "mcg/L").value == 7.5


def test_620_nmol_per_l_of_mma_is_0_62_micromol_per_l() -> None:
    assert str(convert(620, "nmol/L", "µmol/L")) == "0.62 µmol/L"


def test_mayo_nmol_per_ml_is_micromol_per_l() -> None:
    assert convert(0.4, "nmol/mL", "umol/L").value == 0.4
    assert convert(0.4, "nmol/mL", "nmol/L").value == 400.0


def test_10_4_g_per_dl_of_haemoglobin_is_104_g_per_l() -> None:
    assert str(convert(10.4, "g/dL", "g/L")) == "104 g/L"


def test_haemoglobin_g_per_dl_to_mmol_per_l_uses_the_monomer_molar_mass() -> None:
    assert convert(10, "g/dL", "mmol/L", analyte=Analyte.HEMOGLOBIN).value == pytest.approx(6.206, abs=5e-4)


def test_homocysteine_micromol_per_l_to_mg_per_l() -> None:
    assert convert(10, "µmol/L", "mg/L", analyte=Analyte.HOMOCYSTEINE).value == pytest.approx(1.3518)


def test_potassium_mEq_per_l_equals_mmol_per_l() -> None:  # noqa: N802 (the unit's spelling)
    assert convert(4.2, "mEq/L", "mmol/L", analyte=Analyte.POTASSIUM).value == 4.2


def test_mEq_need_the_ion_charge() -> None:  # noqa: N802
    with pytest.raises(IncompatibleUnitsError, match="b12 knows the charge of potassium"):
        convert(4.2, "mEq/L", "mmol/L")
    with pytest.raises(IncompatibleUnitsError, match="does not know the charge of folate"):
        convert(4.2, "mEq/L", "mmol/L", analyte="folate")


def test_mcv_is_in_femtolitres_and_cubic_micrometres_are_the_same() -> None:
    assert convert(101, "µm3", "fL").value == 101.0


def test_reticulocyte_count_spellings_agree() -> None:
    assert convert(55, "10*9/L", "10^3/µL").value == 55.0


def test_reticulocyte_percentage_is_not_converted_to_a_count() -> None:
    with pytest.raises(IncompatibleUnitsError, match="without the red cell count"):
        convert(2.5, "%", "10^9/L")


def test_a_weight_per_volume_needs_the_analyte_to_become_an_amount() -> None:
    with pytest.raises(IncompatibleUnitsError) as caught:
        convert(250, "pg/mL", "pmol/L")
    assert str(caught.value).startswith("Cannot convert 250 pg/mL to pmol/L: this needs the analyte's molar mass")
    assert "b12_total" in str(caught.value)


def test_an_analyte_without_a_molar_mass_is_refused_not_guessed() -> None:
    with pytest.raises(IncompatibleUnitsError, match="no molar mass on file for b12_active"):
        convert(60, "pmol/L", "pg/mL", analyte=Analyte.B12_ACTIVE)


def test_a_weight_is_not_converted_to_a_volume() -> None:
    with pytest.raises(IncompatibleUnitsError) as caught:
        convert(1, "mg", "mL")
    assert str(caught.value) == (
        "Cannot convert 1 mg to mL: mg is a weight and mL is a volume; "
        "the volume of a dose depends on the product strength (for example 1000 mcg/mL)"
    )


def test_unrelated_dimensions_are_refused() -> None:
    with pytest.raises(IncompatibleUnitsError, match="fL is a cell volume and g/L is a weight per volume"):
        convert(90, "fL", "g/L")


def test_converting_to_the_same_unit_keeps_the_value() -> None:
    assert convert(3.3, "mg", "mg").value == 3.3


def test_to_accepts_a_unit_object() -> None:
    assert quantity(1, "mg").to(parse_unit("µg")) == quantity(1000, "µg")


@pytest.mark.parametrize(
    ("text", "value", "symbol"),
    [
        ("1000mcg", 1000, "µg"),
        ("1000 mcg", 1000, "µg"),
        ("1 mg", 1, "mg"),
        (" 0.5 mL ", 0.5, "mL"),
        (".5 mL", 0.5, "mL"),
        ("250 pg/mL", 250, "pg/mL"),
        ("45 x10^9/L", 45, "10^9/L"),
        ("2.5 %", 2.5, "%"),
    ],
)
def test_parse_quantity_reads_a_number_and_a_listed_unit(text: str, value: float, symbol: str) -> None:
    q = parse_quantity(text)
    assert (q.value, q.unit.symbol) == (value, symbol)


@pytest.mark.parametrize("text", ["mg", "abc", "", "one mg"])
def test_parse_quantity_refuses_text_without_a_number(text: str) -> None:
    with pytest.raises(UnitError, match="write a number followed by its unit"):
        parse_quantity(text)


def test_parse_quantity_refuses_a_number_without_a_unit() -> None:
    with pytest.raises(UnitError, match="has no unit"):
        parse_quantity("1000")


@pytest.mark.parametrize("text", ["1,5 mg", "1,000 mcg"])
def test_a_comma_in_a_number_is_refused_rather_than_guessed(text: str) -> None:
    with pytest.raises(UnitError, match="decimal point and no thousands separator"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-1 mg", "a negative amount is not possible"),
        ("−1 mg", "a negative amount is not possible"),
        ("0 mg", "b12 needs an amount above zero"),
        ("nan mg", "it is not a number"),
        ("inf mg", "it is infinite"),
        ("20 g", "more than 10 g"),
        ("0.0001 mcg", "less than 0.001 µg"),
        ("2 L", "more than 1 L"),
        ("2000 g/L", "more than 1000 g/L"),
        ("1001 fL", "more than 1000 fL"),
        ("150 %", "more than 100 %"),
    ],
    ids=[
        "negative",
        "unicode minus",
        "zero",
        "nan",
        "inf",
        "dose",
        "tiny dose",
        "volume",
        "hb",
        "mcv",
        "pct",
    ],
)
def test_implausible_values_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ImplausibleValueError, match=reason):
        parse_quantity(text)


def test_sanity_bounds_say_they_are_not_clinical_thresholds() -> None:
    with pytest.raises(ImplausibleValueError) as caught:
        quantity(20, "g")
    assert str(caught.value) == (
        "20 g is not accepted: it is more than 10 g, the most b12 accepts here; "
        "check the number and the unit (an input sanity bound, not a clinical threshold)"
    )
    assert (caught.value.value, caught.value.unit) == (20, "g")


def test_bounds_are_inclusive() -> None:
    assert quantity(10, "g").value == 10
    assert quantity(100, "%").value == 100


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_a_quantity_is_always_finite_and_above_zero(value: float) -> None:
    with pytest.raises(ImplausibleValueError):
        Quantity(value, parse_unit("mg"))


def test_a_quantity_value_must_be_a_number() -> None:
    with pytest.raises(TypeError):
        Quantity(True, parse_unit("mg"))
    with pytest.raises(TypeError):
        Quantity("1", parse_unit("mg"))  # type: ignore[arg-type]


def test_a_quantity_stores_a_float() -> None:
    assert isinstance(quantity(1, "mg").value, float)


def test_convert_checks_the_input_bounds() -> None:
    with pytest.raises(ImplausibleValueError):
        convert(5000, "g", "mg")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (147.56009384821965, "147.6"),
        (0.62, "0.62"),
        (104.00000000000001, "104"),
        (1000.0, "1000"),
        (12345.0, "12345"),
        (0.000123456, "0.0001235"),
        (99.996, "100"),
        (0.0, "0"),
    ],
)
def test_numbers_show_up_to_4_significant_digits_without_float_noise(value: float, text: str) -> None:
    assert format_number(value) == text


def test_quantities_display_with_their_canonical_symbol() -> None:
    assert str(quantity(45, "x10^9/L")) == "45 × 10^9/L"
    assert str(quantity(2.5, "percent")) == "2.5%"
    assert str(quantity(1000, "mcg")) == "1000 µg"
    assert str(parse_unit("mcg")) == "µg"


def test_a_unit_needs_a_positive_finite_factor() -> None:
    with pytest.raises(UnitError):
        Unit("bad", Dimension.MASS, 0.0, "bad")


# --- international units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["IU", "iu", "I.U.", "[IU]", "international units", "International Unit", "units", "unit", "U", "IU/mL"],
)
def test_iu_spellings_are_refused_with_an_explanation(text: str) -> None:
    with pytest.raises(InternationalUnitError) as caught:
        parse_unit(text)
    message = str(caught.value)
    assert "measured by weight" in message
    assert "no IU conversion for B12" in message


def test_iu_dose_is_refused_with_an_explanation() -> None:
    with pytest.raises(InternationalUnitError, match="there is no IU conversion for B12"):
        dose_volume("1000 IU", "1000 mcg/mL")


def test_units_alone_are_refused_as_a_dose() -> None:
    with pytest.raises(InternationalUnitError):
        dose_volume("10 units", "1000 mcg/mL")


def test_an_iu_strength_is_refused() -> None:
    with pytest.raises(InternationalUnitError):
        parse_strength("1000 IU/mL")


# --- strengths ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mg_per_ml", "shown"),
    [
        ("1000 mcg/mL", 1.0, "1000 µg/mL"),
        ("1000mcg/mL", 1.0, "1000 µg/mL"),
        ("1 mg/mL", 1.0, "1 mg/mL"),
        ("1 mg/1 mL", 1.0, "1 mg/mL"),
        ("5 mg/2 mL", 2.5, "5 mg/2 mL"),
        ("1000 micrograms/ml", 1.0, "1000 µg/mL"),
        ("1000 microgram/ml", 1.0, "1000 µg/mL"),
        ("1mg in 1ml", 1.0, "1 mg/mL"),
        ("500 mcg/0.1 mL", 5.0, "500 µg/0.1 mL"),
        ("500 µg per mL", 0.5, "500 µg/mL"),
    ],
)
def test_strengths_are_read_as_written_on_the_label(text: str, mg_per_ml: float, shown: str) -> None:
    strength = parse_strength(text)
    assert strength.mg_per_ml == mg_per_ml
    assert str(strength) == shown


@pytest.mark.parametrize("text", ["1000 mcg", "mcg/mL", "", "per mL"])
def test_a_strength_needs_a_weight_per_volume(text: str) -> None:
    with pytest.raises(UnitError, match="as a strength"):
        parse_strength(text)


def test_a_strength_volume_must_be_a_volume() -> None:
    with pytest.raises(IncompatibleUnitsError):
        parse_strength("1000 mcg/mg")


def test_a_strength_weight_must_be_a_weight() -> None:
    with pytest.raises(IncompatibleUnitsError, match="the weight of a strength must be a weight"):
        Strength(quantity(1, "mL"), quantity(1, "mL"))


def test_an_absurd_strength_is_refused_as_a_likely_unit_mistake() -> None:
    with pytest.raises(ImplausibleValueError, match="mcg/mL rather than mg/mL"):
        parse_strength("1000 mg/mL")


# --- syringes and dose volumes ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "name"), [("U-100", "U-100"), ("u100", "U-100"), ("U100", "U-100"), ("U-40", "U-40")])
def test_syringe_scales_are_recognised(text: str, name: str) -> None:
    assert parse_syringe(text).name == name


def test_syringe_data() -> None:
    u100 = parse_syringe("U-100")
    assert (u100.units_per_ml, u100.capacity_ml, u100.precision_units, u100.capacity_units) == (
        100,
        1.0,
        1.0,
        100,
    )
    u40 = parse_syringe("U-40")
    assert (u40.units_per_ml, u40.capacity_units) == (40, 40)
    assert parse_syringe(u40) is u40
    assert str(u40) == "U-40"


def test_an_unknown_syringe_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownUnitError, match="U-100, U-40"):
        parse_syringe("U-50")


def test_a_syringe_needs_a_positive_scale() -> None:
    with pytest.raises(UnitError):
        Syringe("U-0", 0, 1.0, 1.0)


def test_dose_1_mg_of_1000_mcg_per_ml_on_u100_is_1_ml_or_100_units() -> None:
    result = dose_volume("1 mg", "1000mcg/mL", "U-100")
    assert (result.volume_ml, result.syringe_units, result.warnings) == (1.0, 100.0, ())
    assert str(result) == "1 mg of 1000 µg/mL = 1 mL = 100 units on a U-100 syringe"


def test_100_mcg_is_0_1_ml_or_10_units_without_a_warning() -> None:
    result = dose_volume("100 mcg", "1000 mcg/mL")
    assert (result.volume_ml, result.syringe_units, result.warnings) == (0.1, 10.0, ())


def test_30_mcg_is_0_03_ml_or_3_units_with_a_precision_warning() -> None:
    result = dose_volume("30 mcg", "1000 mcg/mL")
    assert (result.volume_ml, result.syringe_units) == (0.03, 3.0)
    assert result.warnings == (
        "3 units (0.03 mL) is hard to measure on a U-100 syringe: it reads to ±1 unit, "
        "which is 33.3% of this volume (b12 warns above 10%).",
    )


def test_just_under_10_units_warns() -> None:
    assert dose_volume("95 mcg", "1000 mcg/mL").warnings


def test_5_mg_per_2_ml_gives_0_4_ml_for_1_mg() -> None:
    result = dose_volume("1 mg", "5 mg/2 mL")
    assert (result.volume_ml, result.syringe_units) == (0.4, 40.0)


def test_on_u40_1_ml_is_40_units() -> None:
    result = dose_volume("1 mg", "1 mg/mL", "U-40")
    assert (result.volume_ml, result.syringe_units, result.warnings) == (1.0, 40.0, ())


def test_a_volume_above_the_syringe_capacity_warns() -> None:
    result = dose_volume("2 mg", "1 mg/mL", "U-40")
    assert result.warnings == ("2 mL (80 units) is more than one U-40 syringe holds (1 mL = 40 units).",)


def test_without_a_syringe_only_the_volume_is_given() -> None:
    result = dose_volume("1 mg", "1 mg/mL", None)
    assert result == DoseVolume(quantity(1, "mg"), parse_strength("1 mg/mL"), 1.0, None, None, ())
    assert str(result) == "1 mg of 1 mg/mL = 1 mL"


def test_dose_volume_accepts_values_as_well_as_text() -> None:
    result = dose_volume(quantity(500, "mcg"), parse_strength("1 mg/mL"), parse_syringe("U-100"))
    assert result.syringe_units == 50.0


def test_a_dose_must_be_a_weight() -> None:
    with pytest.raises(IncompatibleUnitsError):
        dose_volume("1 mL", "1 mg/mL")
    with pytest.raises(IncompatibleUnitsError, match="a dose must be a weight"):
        dose_volume(quantity(1, "mL"), "1 mg/mL")


def test_a_dose_value_is_checked_against_the_bounds() -> None:
    with pytest.raises(ImplausibleValueError):
        dose_volume(Quantity(50, parse_unit("g")), "1 mg/mL")


def test_a_dose_needing_more_than_a_litre_is_refused() -> None:
    with pytest.raises(ImplausibleValueError, match="would take more than 1 L"):
        dose_volume("5 g", "1 mcg/mL")


def test_a_dose_needing_less_than_a_microlitre_is_refused() -> None:
    with pytest.raises(ImplausibleValueError, match=r"would take less than 0\.001 mL"):
        dose_volume("0.5 mcg", "1 mg/mL")


def test_10_units_on_u100_of_1000_mcg_per_ml_is_100_mcg() -> None:
    result = dose_from_syringe_units(10, "1000 mcg/mL", "U-100")
    assert result.dose == quantity(100, "mcg")
    assert (result.volume_ml, result.syringe_units, result.warnings) == (0.1, 10.0, ())


def test_syringe_units_give_the_dose_in_the_strength_weight_unit() -> None:
    assert dose_from_syringe_units(40, "1 mg/mL", "U-40").dose == quantity(1, "mg")
    assert str(dose_from_syringe_units(40, "5 mg/2 mL").dose) == "1 mg"


def test_few_syringe_units_warn() -> None:
    assert dose_from_syringe_units(3, "1000 mcg/mL").warnings


@pytest.mark.parametrize("units_", [0, -5, math.nan, math.inf])
def test_implausible_syringe_units_are_refused(units_: float) -> None:
    with pytest.raises(ImplausibleValueError):
        dose_from_syringe_units(units_, "1000 mcg/mL")


def test_a_syringe_reading_above_a_litre_is_refused() -> None:
    with pytest.raises(ImplausibleValueError, match="would take more than 1 L"):
        dose_from_syringe_units(200_000, "1 mcg/mL")


# --- the loader ---------------------------------------------------------------------------------------------


def _text() -> str:
    return resources.files("b12.domain").joinpath("units.toml").read_text(encoding="utf-8")


def test_the_shipped_file_loads() -> None:
    vocabulary = units._load(_text(), "units.toml")
    assert len(vocabulary.units) == len(DATA["units"])


def test_a_file_that_is_not_toml_is_refused_with_its_name() -> None:
    with pytest.raises(GuidelineDataError, match=r"units\.toml: not valid TOML"):
        units._load("[[units]", "units.toml")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            'spellings = ["milligram",',
            'spellings = ["mcg", "milligram",',
            "spelling 'mcg' is already taken by µg",
        ),
        (
            'factor = 1e-3\nucum = "mg"',
            'factor = -1\nucum = "mg"',
            "units[1] (mg).factor: must be a number above",
        ),
        ('dimension = "volume"', 'dimension = "space"', "dimension: must be one of"),
        ('max = "10 g"', 'max = "10 mL"', "dimensions.mass.max: '10 mL' is not a quantity in a unit of mass"),
        ('min = "1 fL"', 'min = "2000 fL"', "dimensions.entitic_volume: min must be below max"),
        ("molar_mass = 441.4", "molar_mass = 0", "analytes.folate.molar_mass: must be a number above zero"),
        ("valence = 1", "valence = 1.5", "analytes.potassium.valence: must be a whole number"),
        ("units_per_ml = 40", "units_per_ml = 0", "syringes[1].units_per_ml: must be a whole number"),
        ('spellings = ["U40"]', 'spellings = ["u-100"]', "spelling 'u-100' is already taken by U-100"),
        ("max_precision_fraction = 0.1", "max_precision_fraction = 2", "must be below 1"),
        ('"UI", "U.I.",', '"UI", "U.I.", "mcg",', "'mcg' is also a unit"),
        ('ucum = "fL"', 'ucum = "fL"\ncolour = "red"', "unknown key 'colour'"),
        (
            '["g/l"]\nexact_case = true',
            '["g/l"]\nexact_case = true\nspellings = ["G/l"]',
            "Cannot overwrite a value",
        ),
        ('["g/l"]\nexact_case = true', '["g/l"]\nexact_case = 1', "exact_case: must be true or false"),
        ('symbol = "g"\n', 'symbol = "mg"\n', "units[2] (mg): symbol listed twice"),
        (
            "[dimensions.mass]",
            '[dimensions.weight]\nlabel = "a weight"\n\n[dimensions.mass]',
            "dimensions.weight: not a",
        ),
        ("version = 1", "version = 1\nanalytes.vitamin_c = 1", "analytes.vitamin_c: must be a table"),
        ('min = "0.001 µg"', 'min = "−1 µg"', "dimensions.mass.min: '−1 µg' must be above zero"),
    ],
    ids=[
        "duplicate spelling",
        "negative factor",
        "unknown dimension",
        "bound in the wrong dimension",
        "min above max",
        "zero molar mass",
        "fractional valence",
        "zero syringe scale",
        "duplicate syringe spelling",
        "precision fraction",
        "IU spelling that is a unit",
        "unknown key",
        "invalid toml",
        "bad flag",
        "duplicate symbol",
        "unknown dimension table",
        "analyte not a table",
        "negative bound",
    ],
)
def test_a_bad_vocabulary_file_is_refused_naming_the_entry(old: str, new: str, problem: str) -> None:
    text = _text()
    assert old in text
    with pytest.raises(GuidelineDataError, match=r"^units\.toml: ") as caught:
        units._load(text.replace(old, new, 1), "units.toml")
    assert problem in str(caught.value)


def test_an_exact_case_spelling_may_not_clash_with_a_case_free_one() -> None:
    g_per_dl = 'ucum = "g/dL"\nspellings = []'
    assert g_per_dl in _text()
    text = _text().replace(g_per_dl, 'ucum = "g/dL"\nspellings = ["G/l"]')
    with pytest.raises(GuidelineDataError, match="clashes with g/dL"):
        units._load(text, "units.toml")


def test_missing_tables_are_reported() -> None:
    with pytest.raises(GuidelineDataError) as caught:
        units._load("version = 1\n", "units.toml")
    message = str(caught.value)
    for table in ("units: must be a list of tables", "dimensions: missing table", "strengths: missing table"):
        assert table in message


@pytest.mark.parametrize("symbol", ["fL", "pg/mL", "ng/L", "pmol/L", "nmol/L", "g/dL", "mcg", "mL", "%"])
def test_the_plausible_range_of_a_unit_is_where_quantity_starts_and_stops_refusing(symbol: str) -> None:
    low, high = units.plausible_range(symbol)

    assert units.quantity(low, symbol).value == low
    assert units.quantity(high, symbol).value == high
    for outside in (low * 0.999, high * 1.001):
        with pytest.raises(ImplausibleValueError):
            units.quantity(outside, symbol)


def test_the_plausible_range_of_mcv_is_one_to_a_thousand_femtolitres() -> None:
    assert units.plausible_range("fL") == (1.0, 1000.0)
