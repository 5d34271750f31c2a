"""The public API of ``import b12``: a sorted, locked ``__all__``, lazy imports, and the README example."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import b12

README = Path(__file__).parents[2] / "README.md"

# The public names, locked: adding or removing one is a deliberate change to this list (httpx does the same).
PUBLIC = [
    "Analyte",
    "B12Error",
    "Case",
    "Cause",
    "Condition",
    "LabResult",
    "Patient",
    "Preferences",
    "Route",
    "Sex",
    "Status",
    "Symptom",
    "__version__",
    "case_from_json",
    "compare_regimens",
    "convert",
    "dose_volume",
    "interpret_case",
    "parse_strength",
    "plan_case",
    "plan_to_dict",
]


def test_all_is_sorted_and_equals_the_locked_public_names() -> None:
    assert b12.__all__ == sorted(b12.__all__)
    assert b12.__all__ == PUBLIC


def test_dir_lists_exactly_the_public_names() -> None:
    assert dir(b12) == b12.__all__


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves_to_the_object_of_its_home_module(name: str) -> None:
    value = getattr(b12, name)
    assert value is not None
    if name != "__version__":
        assert getattr(importlib.import_module(value.__module__), name) is value


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'plan'"):
        _ = b12.plan


def test_the_version_matches_the_project_version() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{b12.__version__}"' in pyproject


def test_import_b12_alone_imports_no_heavy_dependency_and_no_domain_module() -> None:
    code = "import sys, json, b12; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(result.stdout))
    for heavy in ("pint", "typer", "rich", "pydantic", "click"):
        assert heavy not in loaded, heavy
    assert not {name for name in loaded if name.startswith(("b12.domain", "b12.services", "b12.adapters"))}


def test_using_convert_imports_the_units_module_but_not_the_planner() -> None:
    code = (
        "import sys, json, b12; b12.convert(1000, 'mcg', 'mg'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('b12') or m == 'pint')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(result.stdout))
    assert "b12.domain.units" in loaded
    assert "b12.domain.plan" not in loaded
    assert "pint" not in loaded


def test_convert_1000_mcg_is_1_mg() -> None:
    assert b12.convert(1000, "mcg", "mg").value == 1.0


def test_the_readme_example_runs_and_prints_what_its_comments_say() -> None:
    block = re.search(r"## Ten lines of Python\n\n```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 12
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})  # the README's own code, as a reader would paste it
    lines = out.getvalue().splitlines()
    assert lines[0] == "1 mg"
    assert lines[1] == "184.5 pmol/L"
    assert lines[2] == "confirmed UK-IM-NN"
    assert lines[3].startswith("2026-01-05 loading 1.0 mg 1.0 mL")
    assert lines[-1].startswith("2026-04-16 maintenance")
    assert len(lines) == 3 + 7


def test_a_dose_a_panel_and_a_schedule_in_ten_lines_through_the_public_api() -> None:
    dose = b12.convert(1, "mg", "mcg")
    case = b12.case_from_json(
        {
            "guideline": "us-label",
            "start": "2026-01-05",
            "patient": {"sex": "female", "age": 62},
            "causes": ["autoimmune_gastritis"],
            "labs": [{"test": "b12_total", "value": 150, "unit": "pg/mL"}],
        }
    )
    panel = b12.interpret_case(case)
    plan = b12.plan_case(case)
    assert (dose.value, dose.unit.symbol) == (1000.0, "µg")
    assert panel.status is b12.Status.CONFIRMED
    assert plan.schedule is not None
    assert [str(d.date) for d in plan.schedule.doses[:3]] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert plan.schedule.doses[0].dose_mg == 0.1
    assert b12.plan_to_dict(plan)["recommendation"]["regimen"] == "US-FDA-CN"
    volume = b12.dose_volume("100 mcg", b12.parse_strength("1000 mcg/mL"))
    assert volume.volume_ml == pytest.approx(0.1)


def test_errors_from_the_public_api_share_one_root() -> None:
    with pytest.raises(b12.B12Error):
        b12.convert(1000, "IU", "mg")
    with pytest.raises(b12.B12Error):
        b12.case_from_json({"guideline": "uk"})
