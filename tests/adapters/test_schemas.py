"""The published schemas: case.schema.json cannot drift from the model; the documented examples validate."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import b12
from b12.adapters.case_json import case_from_json, case_json_schema, case_schema_text
from b12.domain.errors import CaseError

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
REGENERATE = (
    '.venv/bin/python -c "from b12.adapters.case_json import case_schema_text; '
    "print(case_schema_text(), end='')\" > docs/case.schema.json"
)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def validator(name: str) -> Draft202012Validator:
    schema = load(DOCS / name)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def documented_example(marker: str) -> Any:
    """The JSON block that follows ``<!-- marker -->`` in docs/case-format.md."""
    text = (DOCS / "case-format.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\s*```json\n(.*?)\n```", text, re.DOTALL)
    assert found, f"docs/case-format.md has no JSON block after <!-- {marker} -->"
    return json.loads(found.group(1))


def test_the_committed_case_schema_is_the_one_generated_from_the_model() -> None:
    committed = (DOCS / "case.schema.json").read_text(encoding="utf-8")

    assert committed == case_schema_text(), f"docs/case.schema.json is stale; regenerate it with: {REGENERATE}"


@pytest.mark.parametrize("name", ["case.schema.json", "plan.schema.json"])
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load(DOCS / name)

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_generated_case_schema_forbids_unknown_keys_everywhere() -> None:
    schema = case_json_schema()
    objects = [schema, *schema["$defs"].values()]

    assert all(obj["additionalProperties"] is False for obj in objects)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates_against_the_case_schema_and_loads(path: Path) -> None:
    data = load(path)

    validator("case.schema.json").validate(data)
    case_from_json(data)


def test_the_required_examples_are_present() -> None:
    names = {path.name for path in EXAMPLES}

    assert {
        "pernicious-anaemia.json",
        "neuro-sacd.json",
        "vegan-oral.json",
        "us-label-pa.json",
        "pregnant-active-b12.json",
    } <= names


def test_the_documented_example_input_validates_and_loads() -> None:
    data = documented_example("example-input")

    validator("case.schema.json").validate(data)
    case_from_json(data)
    assert set(data) == set(case_json_schema()["properties"]), "the full example should show every key"


def test_the_documented_example_output_validates_against_the_plan_schema() -> None:
    validator("plan.schema.json").validate(documented_example("example-output"))


BAD_CASES: dict[str, tuple[list[str | int], object]] = {
    "unknown-key": ([], {"colour": "blue"}),
    "unknown-test": (["labs", 0, "test"], "hemoglobinn"),
    "false-value": (["labs", 0, "value"], False),
    "string-value": (["labs", 0, "value"], "150"),
    "negative-value": (["labs", 0, "value"], -1),
    "bad-date": (["start"], "2026-02-30"),
    "duplicate-symptom": (["symptoms"], ["fatigue", "fatigue"]),
    "route-iv": (["preferences"], {"route": "iv"}),
    "bad-syringe": (["syringe"], "U-50"),
    "long-horizon": (["horizon"], 61),
}


@pytest.mark.parametrize(("where", "value"), BAD_CASES.values(), ids=BAD_CASES.keys())
def test_the_schema_and_the_loader_both_refuse_a_bad_case(where: list[str | int], value: object) -> None:
    data = load(ROOT / "examples" / "pernicious-anaemia.json")
    if where:
        parent = data
        for key in where[:-1]:
            parent = parent[key]
        parent[where[-1]] = value
    else:
        data.update(value)

    assert not validator("case.schema.json").is_valid(data)
    with pytest.raises(CaseError):
        case_from_json(data)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda plan: plan.update(extra=1), id="unknown-top-level-key"),
        pytest.param(lambda plan: plan.pop("alerts"), id="missing-alerts"),
        pytest.param(lambda plan: plan["interpretation"].update(status="likely"), id="unknown-status"),
        pytest.param(lambda plan: plan["recommendation"].update(route="iv"), id="route-iv"),
        pytest.param(lambda plan: plan["schedule"][0].update(date="05/01/2026"), id="bad-date"),
        pytest.param(lambda plan: plan["recommendation"]["phases"][0].update(every_unit="fortnight"), id="bad-unit"),
        pytest.param(lambda plan: plan["alerts"][0].update(severity="fatal"), id="bad-severity"),
        pytest.param(lambda plan: plan["totals"]["overall"].pop("complete"), id="incomplete-totals"),
    ],
)
def test_the_plan_schema_refuses_a_plan_off_the_contract(change: Any) -> None:
    plan = copy.deepcopy(documented_example("example-output"))
    change(plan)

    assert not validator("plan.schema.json").is_valid(plan)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_plan_of_every_example_validates_against_the_plan_schema(path: Path) -> None:
    plan = b12.plan_to_dict(b12.plan_case(case_from_json(load(path))))

    validator("plan.schema.json").validate(plan)
