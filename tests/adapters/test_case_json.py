"""The JSON case format: examples load, and every kind of bad input is a CaseError naming its field."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from b12.adapters import case_json
from b12.adapters.case_json import CaseFormatError, case_from_json, case_from_text
from b12.domain.analytes import Analyte
from b12.domain.case import Cause, LabResult, Route, Sex, Symptom
from b12.domain.errors import CaseError
from b12.services import guideline as load_guideline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))

MINIMAL: dict[str, Any] = {
    "guideline": "uk",
    "start": "2026-01-05",
    "patient": {"sex": "female", "age": 62},
    "labs": [{"test": "b12_total", "value": 150, "unit": "ng/L"}],
}


def with_changes(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def with_lab(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data["labs"][0].update(changes)
    return data


def error_for(data: object) -> CaseError:
    with pytest.raises(CaseError) as caught:
        case_from_json(data)
    return caught.value


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_case_loads(path: Path) -> None:
    case = case_from_text(path.read_text(encoding="utf-8"))

    assert case == case_from_json(json.loads(path.read_text(encoding="utf-8")))
    assert case.start == date(2026, 1, 5)


def test_the_pernicious_anaemia_example_is_vignette_v01() -> None:
    case = case_from_text((ROOT / "examples" / "pernicious-anaemia.json").read_text(encoding="utf-8"))

    assert case.guideline == "uk"
    assert case.patient.sex is Sex.FEMALE
    assert case.patient.age == 62
    assert case.symptoms == {Symptom.FATIGUE, Symptom.GLOSSITIS}
    assert case.causes == {Cause.AUTOIMMUNE_GASTRITIS}
    assert [(lab.analyte, lab.value, lab.unit) for lab in case.labs] == [
        (Analyte.B12_TOTAL, 150, "ng/L"),
        (Analyte.HEMOGLOBIN, 104, "g/L"),
        (Analyte.MCV, 108, "fL"),
    ]
    assert not case.neurological


def test_a_minimal_case_gets_the_documented_defaults() -> None:
    case = case_from_json(MINIMAL)

    assert case.horizon_months == 12
    assert case.syringe == "U-100"
    assert case.thresholds is None
    assert case.patient.pregnant is False
    assert case.preferences.route is None
    assert case.preferences.treat is None
    assert case.preferences.overrides == frozenset()
    assert case.treatment.last_injection is None
    assert case.symptoms == frozenset()


def test_every_key_of_the_contract_reaches_the_case() -> None:
    data = with_changes(
        thresholds="local-lab",
        horizon=24,
        patient={"sex": "female", "age": 33, "breastfeeding": True, "ethnicity": "black"},
        labs=[
            {
                "test": "mma",
                "value": 620,
                "unit": "nmol/L",
                "date": "2025-12-20",
                "upper_limit": 400,
                "lower_limit": 0,
            }
        ],
        conditions=["cobalt_allergy"],
        preferences={
            "route": "im",
            "maintenance_interval_months": 2,
            "treat": True,
            "overrides": ["SAFE-COBALT"],
        },
        treatment={"last_injection": "2025-10-01", "long_term_replacement": True},
        strength="1 mg/mL",
        syringe="U-40",
        mcv_cutoff_fl=98.5,
    )

    case = case_from_json(data)

    assert case.thresholds == "local-lab"
    assert case.horizon_months == 24
    assert case.patient.breastfeeding is True
    assert case.labs[0] == LabResult(Analyte.MMA, 620, "nmol/L", date(2025, 12, 20), 400, 0)
    assert case.preferences.route is Route.IM
    assert case.preferences.maintenance_interval_months == 2
    assert case.preferences.overrides == {"SAFE-COBALT"}
    assert case.treatment.last_injection == date(2025, 10, 1)
    assert case.treatment.long_term_replacement is True
    assert (case.strength, case.syringe, case.mcv_cutoff_fl) == ("1 mg/mL", "U-40", 98.5)


def test_a_whole_number_is_accepted_where_a_decimal_is_expected() -> None:
    case = case_from_json(with_lab(value=150, upper_limit=350))

    assert case.labs[0].value == 150.0


def test_an_unknown_top_level_key_is_an_error_naming_the_key() -> None:
    error = error_for(with_changes(guidlines="uk"))

    assert error.field == "guidlines"
    assert "use one of: guideline, thresholds, start" in error.problem


def test_an_unknown_key_inside_a_lab_names_the_lab() -> None:
    error = error_for(with_lab(units="ng/L"))

    assert error.field == "labs[0].units"
    assert "test, value, unit, date, upper_limit, lower_limit" in error.problem


def test_an_unknown_lab_test_is_an_error_at_its_path_listing_the_known_tests() -> None:
    error = error_for(with_lab(test="hemoglobinn"))

    assert error.field == "labs[0].test"
    assert error.problem.startswith("'hemoglobinn' is not a test b12 knows; use one of: b12_total, b12_active,")
    assert "reticulocytes" in error.problem


def test_an_unknown_guideline_lists_the_guidelines() -> None:
    error = error_for(with_changes(guideline="nice"))

    assert error.field == "guideline"
    assert "uk, us-label, us-practice" in error.problem


def test_enum_values_are_matched_exactly() -> None:
    error = error_for(with_changes(patient={"sex": "Female"}))

    assert error.field == "patient.sex"
    assert "female, male" in error.problem


@pytest.mark.parametrize("given", ["2026-13-05", "05/01/2026", "2026-1-5", "20260105", 20260105, ""])
def test_a_start_that_is_not_an_iso_date_is_an_error_naming_start(given: object) -> None:
    error = error_for(with_changes(start=given))

    assert error.field == "start"
    assert "date" in error.problem


def test_a_bad_lab_date_names_the_lab() -> None:
    error = error_for(with_lab(date="2025-02-30"))

    assert error.field == "labs[0].date"
    assert "not a real date" in error.problem


@pytest.mark.parametrize(
    ("given", "shown"), [(False, "false"), (True, "true"), ("1", "'1'"), (None, "null"), ([150], "[150]")]
)
def test_a_lab_value_that_is_not_a_number_is_an_error(given: object, shown: str) -> None:
    error = error_for(with_lab(value=given))

    assert error.field == "labs[0].value"
    assert error.problem == f"expected a number, got {shown}"


@pytest.mark.parametrize("given", [-3, 0, -0.5])
def test_a_lab_value_of_zero_or_less_is_an_error(given: float) -> None:
    error = error_for(with_lab(value=given))

    assert error.field == "labs[0].value"
    assert "greater than 0" in error.problem


def test_an_empty_unit_is_an_error() -> None:
    assert error_for(with_lab(unit="  ")).field == "labs[0].unit"


def test_a_lower_limit_above_the_upper_limit_is_an_error() -> None:
    assert error_for(with_lab(lower_limit=500, upper_limit=400)).field == "labs[0].lower_limit"


@pytest.mark.parametrize("key", ["pregnant", "breastfeeding"])
def test_a_male_patient_cannot_be_pregnant_or_breastfeeding(key: str) -> None:
    error = error_for(with_changes(patient={"sex": "male", key: True}))

    assert error.field == f"patient.{key}"
    assert "male" in error.problem


def test_false_is_not_an_age_and_an_age_above_120_is_refused() -> None:
    assert error_for(with_changes(patient={"sex": "male", "age": False})).field == "patient.age"
    assert error_for(with_changes(patient={"sex": "male", "age": 130})).field == "patient.age"


@pytest.mark.parametrize(
    ("key", "values"),
    [
        ("symptoms", ["fatigue", "glossitis", "fatigue"]),
        ("causes", ["diet", "diet"]),
        ("conditions", ["leber", "leber"]),
    ],
)
def test_an_item_listed_twice_is_an_error(key: str, values: list[str]) -> None:
    error = error_for(with_changes(**{key: values}))

    assert error.field == key
    assert f"{values[-1]!r} is listed twice" in error.problem


def test_an_unknown_symptom_names_its_index() -> None:
    error = error_for(with_changes(symptoms=["fatigue", "tiredness"]))

    assert error.field == "symptoms[1]"
    assert "fatigue, glossitis, paraesthesia" in error.problem


@pytest.mark.parametrize("given", ["iv", "IV", "intravenous"])
def test_route_iv_is_refused_because_cyanocobalamin_is_lost_in_the_urine(given: str) -> None:
    error = error_for(with_changes(preferences={"route": given}))

    assert error.field == "preferences.route"
    assert "must not be given intravenously" in error.problem
    assert "lost in the urine" in error.problem
    assert "SAFE-IV" in error.problem
    assert "S37" in error.problem


def test_an_override_that_is_not_a_rule_id_is_an_error() -> None:
    error = error_for(with_changes(preferences={"overrides": ["SAFE-COBALT", "cobalt"]}))

    assert error.field == "preferences.overrides[1]"


@pytest.mark.parametrize("horizon", [0, 61, 12.0, "12"])
def test_a_horizon_outside_1_to_60_whole_months_is_an_error(horizon: object) -> None:
    assert error_for(with_changes(horizon=horizon)).field == "horizon"


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        (("guideline",), "guideline"),
        (("start",), "start"),
        (("patient",), "patient"),
        (("patient", "sex"), "patient.sex"),
    ],
)
def test_a_missing_required_key_is_an_error_naming_it(remove: tuple[str, ...], field: str) -> None:
    data = copy.deepcopy(MINIMAL)
    parent = data
    for key in remove[:-1]:
        parent = parent[key]
    del parent[remove[-1]]

    error = error_for(data)

    assert error.field == field
    assert error.problem.startswith("is required")


def test_a_case_that_is_not_an_object_is_an_error() -> None:
    error = error_for([MINIMAL])

    assert error.field == ""
    assert error.problem.startswith("the case must be an object {...}, got [")


def test_every_problem_is_kept_and_the_first_by_path_is_reported() -> None:
    labs = [{"test": "mcv", "value": 100, "unit": "fL"} for _ in range(11)]
    labs[10]["value"] = False
    labs[2]["test"] = "hb"
    data = with_changes(labs=labs, symptoms=["nausea"], extra=1)

    error = error_for(data)

    assert isinstance(error, CaseFormatError)
    assert [problem.field for problem in error.problems] == [
        "extra",
        "labs[2].test",
        "labs[10].value",
        "symptoms[0]",
    ]
    assert error.field == "extra"
    assert str(error).endswith("(and 3 more problems)")


def test_a_domain_error_inside_a_lab_is_given_the_lab_path(monkeypatch: pytest.MonkeyPatch) -> None:
    class StricterLabResult(LabResult):
        __slots__ = ()

        def __post_init__(self) -> None:
            if self.value > 1000:
                raise CaseError("value", "is implausibly high")

    monkeypatch.setattr(case_json, "LabResult", StricterLabResult)
    labs = [{"test": "mcv", "value": 100, "unit": "fL"}] * 2 + [{"test": "mcv", "value": 5000, "unit": "fL"}]

    error = error_for(with_changes(labs=labs))

    assert (error.field, error.problem) == ("labs[2].value", "is implausibly high")


def test_malformed_json_is_an_error_naming_line_and_column() -> None:
    with pytest.raises(CaseError, match=r"not valid JSON: .* at line 3, column 1"):
        case_from_text('{\n  "guideline": "uk",\n}')


def test_a_key_given_twice_in_the_json_text_is_an_error() -> None:
    with pytest.raises(CaseError) as caught:
        case_from_text('{"guideline": "uk", "guideline": "us-label"}')

    assert caught.value.field == "guideline"
    assert "twice" in caught.value.problem


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_numbers(constant: str) -> None:
    text = json.dumps(MINIMAL).replace('"value": 150', f'"value": {constant}')

    with pytest.raises(CaseError, match=constant):
        case_from_text(text)


def test_case_errors_are_value_errors_for_callers_that_do_not_know_b12() -> None:
    with pytest.raises(ValueError, match=r"^labs\[0\]\.value: "):
        case_from_json(with_lab(value=-1))


@pytest.mark.parametrize("guideline", list(case_json.GuidelineId), ids=str)
def test_every_guideline_the_format_accepts_has_guideline_data(guideline: case_json.GuidelineId) -> None:
    assert load_guideline(guideline.value).id == guideline.value
