"""Threshold-set files: the packaged sets, interval notation, and the loader's refusals of bad files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from b12.domain.analytes import Analyte
from b12.domain.errors import GuidelineDataError, UnknownGuidelineError
from b12.domain.guidelines.thresholds import (
    THRESHOLDS_DIR,
    Interval,
    SetKind,
    Status,
    load_threshold_file,
    load_threshold_set,
    threshold_sets,
)
from b12.domain.units import convert

PACKAGED = ("bsh-2014", "nice-ng239", "north-bristol", "ruh-bath")
SOURCES = frozenset(tomllib.loads((THRESHOLDS_DIR.parent / "sources.toml").read_text(encoding="utf-8")))


def test_the_four_packaged_threshold_sets_are_listed_in_name_order() -> None:
    assert threshold_sets() == PACKAGED


@pytest.mark.parametrize("name", PACKAGED)
def test_every_packaged_set_loads_with_its_boundary_rule_and_cited_basis(name: str) -> None:
    thresholds = load_threshold_set(name)
    assert thresholds.id == name
    assert thresholds.version
    assert len(thresholds.boundary_rule) > 40
    assert thresholds.sources or thresholds.citation
    assert set(thresholds.sources) <= SOURCES
    for scale in thresholds.scales:
        assert set(scale.sources) <= SOURCES
        assert scale.bands[0].range.low == float("-inf")
        assert scale.bands[-1].range.high == float("inf")


def test_a_packaged_set_is_read_once_and_cached() -> None:
    assert load_threshold_set("nice-ng239") is load_threshold_set("nice-ng239")


def test_an_unknown_set_name_is_refused_with_the_known_names() -> None:
    with pytest.raises(UnknownGuidelineError, match="nice-ng239") as caught:
        load_threshold_set("nice-ng240")
    assert caught.value.known == PACKAGED
    assert isinstance(caught.value, LookupError)


def test_nice_has_ng_per_l_and_pmol_per_l_total_b12_scales_and_an_active_b12_scale() -> None:
    nice = load_threshold_set("nice-ng239")
    assert [s.unit for s in nice.scales_for(Analyte.B12_TOTAL)] == ["ng/L", "pmol/L"]
    assert [s.unit for s in nice.scales_for(Analyte.B12_ACTIVE)] == ["pmol/L"]
    assert {s.rule for s in nice.scales} == {"DX-TOT", "DX-ACT"}
    assert "implementation choice" in nice.boundary_rule
    assert nice.kind is SetKind.GUIDELINE


@pytest.mark.parametrize(("ng_per_l", "pmol_per_l"), [(180, 133), (350, 258)])
def test_nice_pmol_per_l_cut_offs_are_the_ng_per_l_cut_offs_converted_and_rounded(
    ng_per_l: float, pmol_per_l: float
) -> None:
    converted = convert(ng_per_l, "ng/L", "pmol/L", analyte="b12_total").value
    assert converted == pytest.approx(pmol_per_l, abs=0.5)
    bounds = {b.range.low for s in load_threshold_set("nice-ng239").scales_for(Analyte.B12_TOTAL) for b in s.bands}
    assert {ng_per_l, pmol_per_l} <= bounds


def test_bsh_cut_off_of_200_ng_per_l_is_148_pmol_per_l_and_it_has_no_active_b12_scale() -> None:
    bsh = load_threshold_set("bsh-2014")
    assert convert(200, "ng/L", "pmol/L", analyte="b12_total").value == pytest.approx(148, abs=0.5)
    assert bsh.scales_for(Analyte.B12_ACTIVE) == ()
    assert bsh.note is not None
    assert "local reference ranges should be established" in bsh.note.text
    labels = [b.label for s in bsh.scales for b in s.bands]
    assert "Below BSH cut-off (sensitivity 97%)" in labels


def test_ruh_bath_is_a_local_ng_per_l_set_with_a_42_day_retest_interval() -> None:
    ruh = load_threshold_set("ruh-bath")
    assert ruh.local
    assert ruh.min_retest_days == 42
    assert [s.unit for s in ruh.scales] == ["ng/L"]
    assert ruh.note is not None
    assert "NICE NG239 thresholds DO NOT apply to the local method" in ruh.note.text
    raised = [b for b in ruh.scales[0].bands if b.raised]
    assert [(b.label, b.status) for b in raised] == [("Raised", Status.UNLIKELY)]


def test_north_bristol_cites_no_reference_source_and_asks_to_verify_with_the_lab() -> None:
    nbt = load_threshold_set("north-bristol")
    assert nbt.sources == ()
    assert nbt.citation is not None
    assert "verify with the lab" in nbt.citation
    assert [str(b.range) for b in nbt.scales[0].bands] == [
        "(-inf, 100)",
        "[100, 145]",
        "(145, 200]",
        "(200, 914]",
        "(914, inf)",
    ]


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("(-inf, 180)", [-1e9, 179.999], [180]),
        ("[180, 350]", [180, 350], [179.999, 350.001]),
        ("(350, inf)", [350.001, 1e9], [350]),
        ("(145, 200]", [145.5, 200], [145]),
    ],
)
def test_an_interval_contains_exactly_the_values_its_notation_says(
    text: str, inside: list[float], outside: list[float]
) -> None:
    interval = Interval.parse(text)
    assert all(value in interval for value in inside)
    assert not any(value in interval for value in outside)
    assert str(interval) == text


@pytest.mark.parametrize("text", ["180-350", "[350, 180]", "[-inf, 180)", "(350, inf]", "[a, 3]", "(nan, 3)"])
def test_a_malformed_or_empty_interval_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        Interval.parse(text)


# --- bad files -------------------------------------------------------------------------------------------

GOOD = """\
id = "{stem}"
version = "1"
kind = "local-lab"
title = "Test lab"
sources = ["S12"]
boundary_rule = "Below 145 deficiency; 145 to 180 inclusive possible; above 180 unlikely."

[[scales]]
analyte = "b12_total"
unit = "ng/L"
rule = "DX-LAB"

[[scales.bands]]
range = "(-inf, 145)"
status = "confirmed"
label = "Deficiency"

[[scales.bands]]
range = "[145, 180]"
status = "indeterminate"
label = "Possible deficiency"

[[scales.bands]]
range = "(180, inf)"
status = "unlikely"
label = "Deficiency unlikely"
"""


def _write(tmp_path: Path, text: str, stem: str = "test-lab") -> Path:
    path = tmp_path / f"{stem}.toml"
    path.write_text(text.replace("{stem}", stem), encoding="utf-8")
    return path


def test_a_lab_can_load_its_own_well_formed_threshold_file(tmp_path: Path) -> None:
    thresholds = load_threshold_file(_write(tmp_path, GOOD))
    assert thresholds.id == "test-lab"
    assert thresholds.local
    assert thresholds.scales[0].classify(180).label == "Possible deficiency"
    assert thresholds.scales[0].sources == ("S12",)  # inherited from the set


BAD_FILES = [
    pytest.param(
        GOOD.replace('"[145, 180]"', '"[145, 180)"'),
        "gap: 180 falls in no band",
        id="gap at a boundary",
    ),
    pytest.param(
        GOOD.replace('"(180, inf)"', '"(200, inf)"'),
        "gap: values between 180 and 200 fall in no band",
        id="gap between bands",
    ),
    pytest.param(
        GOOD.replace('"(180, inf)"', '"[180, inf)"'),
        "overlap: 180 falls in two bands",
        id="overlap at a boundary",
    ),
    pytest.param(
        GOOD.replace('"(180, inf)"', '"(170, inf)"'),
        "overlap: values between 170 and 180 fall in two bands",
        id="overlapping bands",
    ),
    pytest.param(
        GOOD.replace('status = "indeterminate"', 'status = "possible"'),
        "'possible' is not a band status",
        id="unknown status",
    ),
    pytest.param(
        GOOD.replace('sources = ["S12"]', 'sources = ["S12", "S999"]'),
        "'S999' is not a source ID",
        id="unknown source",
    ),
    pytest.param(GOOD.replace('unit = "ng/L"', 'unit = "nanogram/L"'), "Unknown unit", id="unknown unit"),
    pytest.param(GOOD.replace('unit = "ng/L"', 'unit = "fL"'), "is not a concentration", id="unit not a concentration"),
    pytest.param(
        GOOD.replace('"(-inf, 145)"', '"[0, 145)"'),
        "values below 0 fall in no band",
        id="not starting at -inf",
    ),
    pytest.param(GOOD.replace('"(180, inf)"', '"(180, 2000)"'), "values above 2000", id="not ending at inf"),
    pytest.param(GOOD.replace('"(-inf, 145)"', '"[-inf, 145)"'), "infinite end must be open", id="closed infinity"),
    pytest.param(
        GOOD.replace('status = "confirmed"', 'status = "unlikely"'),
        "a higher B12 cannot be more deficient",
        id="statuses out of order",
    ),
    pytest.param(GOOD.replace('id = "{stem}"', 'id = "other"'), "must match the file name", id="id not file name"),
    pytest.param(GOOD.replace("boundary_rule", "boundary_rules"), "boundary_rule: is missing", id="missing key"),
    pytest.param(GOOD.replace("boundary_rule", "boundary_rules"), "boundary_rules: is not a known key", id="typo"),
    pytest.param(GOOD.replace('sources = ["S12"]', "sources = []"), "give source IDs, or a citation", id="no basis"),
    pytest.param(GOOD.replace('analyte = "b12_total"', 'analyte = "mma"'), "cannot be banded", id="analyte"),
    pytest.param(GOOD.replace('rule = "DX-LAB"', 'rule = "dx lab"'), "not a rule ID", id="bad rule ID"),
    pytest.param(GOOD.replace('kind = "local-lab"', 'kind = "lab"'), "'lab' is not one of", id="bad kind"),
    pytest.param("min_retest_days = 0\n" + GOOD, "min_retest_days", id="retest days"),
    pytest.param(GOOD.replace('label = "Deficiency"', 'label = ""'), "label: must be a non-empty", id="no label"),
    pytest.param(
        GOOD + GOOD[GOOD.index("[[scales]]") :],
        "a second b12_total scale in ng/L",
        id="two scales in one unit",
    ),
    pytest.param(GOOD.replace("[[scales.bands]]", "[[scales.band]]"), "scales[0].band", id="misspelt table"),
    pytest.param(GOOD.replace('title = "Test lab"', "title = Test lab"), "is not valid TOML", id="not TOML"),
    pytest.param(GOOD.replace('sources = ["S12"]\n', ""), "sources: is missing", id="no sources key"),
    pytest.param(GOOD.replace('sources = ["S12"]', 'sources = "S12"'), "must be a list of source IDs", id="sources"),
    pytest.param(GOOD[: GOOD.index("[[scales]]")], "must hold at least one [[scales]] table", id="no scales"),
    pytest.param(
        GOOD[: GOOD.index("[[scales]]")] + "scales = [1]\n",
        "scales[0]: must be a table",
        id="scale not a table",
    ),
    pytest.param('note = "see the lab"\n' + GOOD, "note: must be a table", id="note not a table"),
    pytest.param(
        '[note]\ntext = "x"\nrule = "DX-LAB"\nsources = ["S12"]\nseverity = "info"\n'
        + GOOD[GOOD.index("[[scales]]") :],
        "note.severity: is not a known key",
        id="unknown note key",
    ),
    pytest.param(
        GOOD.replace('unit = "ng/L"\n', 'unit = "ng/L"\nbands = [1]\n').split("[[scales.bands]]")[0],
        "bands[0]: must be a table",
        id="band not a table",
    ),
    pytest.param(
        GOOD.replace('label = "Deficiency"', 'label = "Deficiency"\nraised = "yes"'),
        "true or false",
        id="raised",
    ),
    pytest.param(
        GOOD.replace('"(-inf, 145)"', '"[150, 160]"'),
        "bands must be listed from low to high values",
        id="bands out of order",
    ),
]


@pytest.mark.parametrize(("text", "problem"), BAD_FILES)
def test_a_bad_threshold_file_is_rejected_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(GuidelineDataError) as caught:
        load_threshold_file(path)
    assert caught.value.file == str(path)
    assert str(caught.value).startswith(str(path))
    assert problem in str(caught.value)


def test_every_problem_in_a_bad_file_is_reported_with_its_path(tmp_path: Path) -> None:
    text = GOOD.replace('status = "indeterminate"', 'status = "possible"').replace('["S12"]', '["S999"]')
    with pytest.raises(GuidelineDataError) as caught:
        load_threshold_file(_write(tmp_path, text))
    problems = caught.value.problems
    assert any(p.startswith("sources: ") and "S999" in p for p in problems)
    assert any(p.startswith("scales[0].bands[1].status: ") for p in problems)
    assert isinstance(caught.value, ValueError)


def test_a_scale_classifies_every_value_and_an_interval_contains_only_numbers() -> None:
    scale = load_threshold_set("nice-ng239").scales[0]
    assert scale.classify(-1e300).status is Status.CONFIRMED
    assert scale.classify(1e300).status is Status.UNLIKELY
    assert "180" not in Interval.parse("[180, 350]")


def test_a_missing_threshold_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(GuidelineDataError, match=re.escape("cannot be read")):
        load_threshold_file(tmp_path / "absent.toml")


def test_the_example_file_in_the_format_documentation_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "threshold-sets.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert example is not None
    thresholds = load_threshold_file(_write(tmp_path, example.group(1), stem="my-lab"))
    assert thresholds.min_retest_days == 42
    assert [b.label for b in thresholds.scales[0].bands][-1] == "Raised"
