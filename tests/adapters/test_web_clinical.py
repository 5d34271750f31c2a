"""Web app: the assessment form -> plan round trip (VIGNETTES), refused input, and regimens compared."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_support import Web, field_error, input_value, make_web

from b12.adapters.web.assessment import form_field
from b12.domain.guidelines import find_rule, sources

VECTORS = Path(__file__).parents[1] / "vectors" / "vignettes.toml"
CASES = {case["id"]: case for case in tomllib.loads(VECTORS.read_text(encoding="utf-8"))["case"]}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path)


def form_from_case(case: dict[str, Any], *, rows: int = 4) -> list[tuple[str, str]]:
    """The assessment form a clinician would fill in for a case of the JSON case format."""
    fields: list[tuple[str, str]] = [
        ("guideline", case["guideline"]),
        ("start", case["start"]),
        ("lab_rows", str(max(rows, len(case.get("labs", []))))),
        ("patient.sex", case["patient"]["sex"]),
    ]
    if "age" in case["patient"]:
        fields.append(("patient.age", str(case["patient"]["age"])))
    for index, lab in enumerate(case.get("labs", [])):
        for key in ("test", "value", "unit", "date", "lower_limit", "upper_limit"):
            if key in lab:
                fields.append((f"labs[{index}].{key}", str(lab[key])))
    for key in ("symptoms", "causes", "conditions"):
        fields.extend((key, value) for value in case.get(key, []))
    if "route" in case.get("preferences", {}):
        fields.append(("preferences.route", case["preferences"]["route"]))
    fields.append(("action", "plan"))
    return fields


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("vignette", ["V01-classic-pa-uk", "V02-neuro-sacd-uk", "V01-classic-pa-us-label"])
def test_assessment_form_round_trip_gives_the_vignettes_plan(web: Web, vignette: str) -> None:
    case, expect = CASES[vignette]["case"], CASES[vignette]["expect"]
    response = web.post("/assess", form_from_case(case))
    assert response.status_code == 200, field_error(response.text, "labs-0-unit")
    html = response.text
    assert f'<a class="rule-id" href="/rules/{expect["regimen"]}">{expect["regimen"]}</a>' in html
    for rule_id in expect.get("alerts", []):
        assert f'href="/rules/{rule_id}">{rule_id}</a>' in html, rule_id
        rule = find_rule(rule_id, case["guideline"])
        for source_id in rule.sources:  # each source linked to its address (or named, when it has none)
            source = sources()[source_id]
            assert (f'href="{source.url}"' if source.url else f'<abbr title="{source.title}">') in html
    for day in expect.get("first_doses", []):
        assert f'<time datetime="{day}">' in html
    if expect.get("review"):
        assert f'<time datetime="{expect["review"]}">' in html
    if expect.get("urgent"):
        assert "Seek urgent specialist (haematology) advice." in html
    if expect.get("maintenance_starts"):
        assert f"maintenance starts on {expect['maintenance_starts']}" in _text(html)
    # The form comes back as typed, under the plan.
    assert input_value(html, "labs-0-value") == str(case["labs"][0]["value"])
    assert 'value="female" checked' in html or 'value="male" checked' in html


def test_v02_plan_marks_the_open_ended_loading_as_provisional(web: Web) -> None:
    response = web.post("/assess", form_from_case(CASES["V02-neuro-sacd-uk"]["case"]))
    assert "provisional" in response.text
    assert "a clinician decides when it ends" in _text(response.text)


def test_plan_links_to_a_comparison_of_its_regimens(web: Web) -> None:
    response = web.post("/assess", form_from_case(CASES["V01-classic-pa-uk"]["case"]))
    link = re.search(r'href="(/compare\?[^"]+)"', response.text)
    assert link
    comparison = web.client.get(link.group(1).replace("&amp;", "&"))
    assert comparison.status_code == 200
    assert "UK-IM-NN" in comparison.text
    assert "UK-ORAL-MAL" in comparison.text


def test_bad_input_is_refused_beside_each_field_with_the_values_kept(web: Web) -> None:
    form = [
        ("guideline", "uk"),
        ("start", "2026-01-05"),
        ("lab_rows", "4"),
        ("patient.age", "sixty"),
        # Row 0 left empty: the case's labs[0] is form row 1, labs[1] is form row 2.
        ("labs[1].test", "b12_total"),
        ("labs[1].value", "15o"),
        ("labs[1].unit", "ng/L"),
        ("labs[2].test", "hemoglobin"),
        ("labs[2].value", "10,4"),
        ("labs[2].unit", "IU/L"),
        ("labs[3].test", "mcv"),
        ("labs[3].value", "108"),
        ("labs[3].unit", "furlongs"),
        ("strength", "1000 IU/mL"),
        ("symptoms", "fatigue"),
        ("action", "plan"),
    ]
    response = web.post("/assess", form)
    assert response.status_code == 422
    html = response.text
    assert "is not a whole number" in field_error(html, "patient-age")
    assert "required" in field_error(html, "patient-sex")
    assert "is not a number" in field_error(html, "labs-1-value")
    assert "decimal point" in field_error(html, "labs-2-value")
    assert "international unit, which b12 does not read for lab results" in field_error(html, "labs-2-unit")
    assert "Unknown unit 'furlongs'" in field_error(html, "labs-3-unit")
    assert "international units" in field_error(html, "strength")
    assert field_error(html, "labs-0-value") == ""
    # What was typed stays.
    assert input_value(html, "labs-1-value") == "15o"
    assert input_value(html, "labs-3-unit") == "furlongs"
    assert input_value(html, "patient-age") == "sixty"
    assert 'value="fatigue" checked' in html
    assert "There is a problem" in html
    assert '<a href="#labs-1-value">Result 2, value: ' in html  # the summary names and links the field


def test_a_case_error_from_the_domain_lands_on_its_field(web: Web) -> None:
    form = [
        ("guideline", "uk"),
        ("start", "2026-01-05"),
        ("patient.sex", "male"),
        ("patient.pregnant", "on"),
        ("labs[0].test", "b12_total"),
        ("labs[0].value", "150"),
        ("labs[0].unit", "ng/L"),
        ("labs[0].lower_limit", "300"),
        ("labs[0].upper_limit", "200"),
    ]
    response = web.post("/assess", form)
    assert response.status_code == 422
    assert "cannot be pregnant" in field_error(response.text, "patient-pregnant")
    assert "must be below upper_limit" in field_error(response.text, "labs-0-lower-limit")


def test_a_unit_of_the_wrong_kind_found_by_the_interpretation_lands_on_its_row(web: Web) -> None:
    form = [
        ("guideline", "uk"),
        ("start", "2026-01-05"),
        ("patient.sex", "female"),
        ("labs[2].test", "hemoglobin"),
        ("labs[2].value", "104"),
        ("labs[2].unit", "fL"),
    ]
    response = web.post("/assess", form)
    assert response.status_code == 422
    assert "Cannot convert" in field_error(response.text, "labs-2-unit")


def test_an_unknown_vocabulary_value_is_refused_not_a_500(web: Web) -> None:
    form = [("guideline", "nz"), ("start", "05/01/2026"), ("patient.sex", "female"), ("symptoms", "hiccups")]
    response = web.post("/assess", form)
    assert response.status_code == 422
    assert "is not a guideline b12 knows" in field_error(response.text, "guideline")
    assert "YYYY-MM-DD" in field_error(response.text, "start")
    assert "is not a symptom b12 knows" in field_error(response.text, "symptoms")


def test_add_another_result_adds_a_row_without_planning(web: Web) -> None:
    response = web.post("/assess", [("lab_rows", "4"), ("labs[0].value", "150"), ("action", "add_lab")])
    assert response.status_code == 200
    assert 'id="labs-4-value"' in response.text
    assert input_value(response.text, "labs-0-value") == "150"
    assert "There is a problem" not in response.text


def test_assessment_form_starts_on_the_clocks_date(web: Web) -> None:
    assert input_value(web.client.get("/assess").text, "start") == "2026-01-05"


@pytest.mark.parametrize(
    ("path", "rows", "field"),
    [
        ("labs[0].unit", [2], "labs[2].unit"),
        ("labs[1].value", [0, 3], "labs[3].value"),
        ("labs[0]", [1], "labs[1].test"),
        ("labs[5].unit", [0], None),
        ("patient", [], "patient.sex"),
        ("symptoms[1]", [], "symptoms"),
        ("preferences.overrides[0]", [], "preferences.overrides"),
        ("guidline", [], None),
    ],
)
def test_case_paths_map_to_form_fields(path: str, rows: list[int], field: str | None) -> None:
    assert form_field(path, rows) == field


# --- compare ------------------------------------------------------------------------------------------------


def test_compare_shows_regimens_side_by_side(web: Web) -> None:
    response = web.client.get(
        "/compare",
        params=[("start", "2026-01-05"), ("regimens", "uk:UK-IM-NN"), ("regimens", "us-label:US-FDA-CN")],
    )
    assert response.status_code == 200
    text = _text(response.text)
    assert "Injections, first 8 weeks" in text
    assert "UK-IM-NN" in text
    assert "US-FDA-CN" in text
    assert 'value="uk:UK-IM-NN" checked' in response.text


def test_compare_with_one_regimen_is_refused_beside_the_field(web: Web) -> None:
    response = web.client.get("/compare", params=[("start", "2026-01-05"), ("regimens", "uk:UK-IM-NN")])
    assert response.status_code == 422
    assert "at least two" in field_error(response.text, "regimens")
    assert 'value="uk:UK-IM-NN" checked' in response.text


def test_compare_refuses_a_bad_date_and_an_unknown_regimen(web: Web) -> None:
    response = web.client.get("/compare", params=[("start", "5/1/26"), ("regimens", "uk:UK-IM-NN")])
    assert response.status_code == 422
    assert "YYYY-MM-DD" in field_error(response.text, "start")
    response = web.client.get(
        "/compare", params=[("start", "2026-01-05"), ("regimens", "UK-NOPE"), ("regimens", "UK-IM-NN")]
    )
    assert response.status_code == 422
    assert "Unknown regimen" in field_error(response.text, "regimens")
