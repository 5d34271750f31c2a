"""Guideline data files and their loader: what the packaged files hold, and the bad files it refuses."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from b12.domain.errors import GuidelineDataError, UnknownGuidelineError
from b12.domain.guidelines import (
    B12_REGIMEN_RULES,
    GUIDELINE_IDS,
    REFERENCE_RULES,
    find_regimen,
    find_rule,
    load_common,
    load_guideline,
    load_guideline_file,
    parse_common,
    parse_guideline,
    sources,
)
from b12.domain.regimen import Ending
from b12.services import rule_catalogue

# REFERENCE.md §11, copied here on purpose: a rule dropped from the data must fail this test rather than
# silently follow the data.
SECTION_11 = (
    "DX-TEST",
    "DX-TOT",
    "DX-ACT",
    "DX-MMA",
    "DX-PREG",
    "DX-N2O",
    "DX-ETH",
    "DX-DISCORD",
    "DX-LAB",
    "UK-IM-NN",
    "UK-IM-NEURO",
    "UK-PROPH",
    "UK-ORAL-MAL",
    "UK-ORAL-DIET",
    "UK-N2O",
    "UK-TA-LEBER",
    "FU-UK",
    "US-FDA-CN",
    "US-FDA-OH",
    "US-STABLER",
    "US-AAFP",
    "US-NASAL",
    "SAFE-K",
    "SAFE-FOLATE",
    "SAFE-LEBER",
    "SAFE-COBALT",
    "SAFE-IV",
    "SAFE-3MO",
    "SAFE-PREG-OH",
    "MED-MET",
)

# How a b12 rule without sources says so in its own words.
SAYS_UNSOURCED = re.compile(r"no source|not in REFERENCE|give no|gives no|verify", re.IGNORECASE)
# Sourceless b12 rules that make no clinical claim: they report what b12 or the clinician did.
PROCEDURAL = frozenset({"NOTE-DECISION", "NOTE-TREAT-DECISION", "DX-NO-SCALE"})


def _text(name: str) -> str:
    return resources.files("b12.domain.guidelines").joinpath(name).read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str, name: str = "uk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _all_rules() -> dict[str, Any]:
    return {rule.id: rule for g in GUIDELINE_IDS for rule in load_guideline(g).rules.values()}


# --- the packaged files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("guideline_id", GUIDELINE_IDS)
def test_every_packaged_guideline_loads_with_its_id_version_and_sources(guideline_id: str) -> None:
    guideline = load_guideline(guideline_id)
    assert guideline.id == guideline_id
    assert guideline.version
    assert guideline.title
    assert guideline.regimens
    assert set(guideline.sources) <= set(sources())
    assert load_guideline(guideline_id) is guideline  # cached


@pytest.mark.parametrize("guideline_id", GUIDELINE_IDS)
def test_a_packaged_guideline_read_as_a_file_equals_the_cached_one(guideline_id: str) -> None:
    path = Path(str(resources.files("b12.domain.guidelines").joinpath(f"{guideline_id}.toml")))
    loaded = load_guideline_file(path)
    cached = load_guideline(guideline_id)
    assert loaded is not cached
    assert loaded.regimens == cached.regimens
    assert loaded.rules == cached.rules
    assert loaded.settings == cached.settings


def test_an_unknown_guideline_is_refused_with_the_known_ids() -> None:
    with pytest.raises(UnknownGuidelineError, match="us-practice") as caught:
        load_guideline("fr")
    assert caught.value.known == GUIDELINE_IDS


def test_every_rule_id_of_reference_section_11_is_in_the_rule_catalogue() -> None:
    catalogue = {entry.id for entry in rule_catalogue()}
    assert set(SECTION_11) <= catalogue
    assert frozenset(SECTION_11) == REFERENCE_RULES


def test_every_rule_a_guideline_knows_has_a_catalogue_entry_with_the_same_sources() -> None:
    catalogue = {entry.id: entry for entry in rule_catalogue()}
    for rule_id, rule in _all_rules().items():
        assert rule_id in catalogue
        if catalogue[rule_id].kind == "rule":
            assert catalogue[rule_id].sources == rule.sources


@pytest.mark.parametrize("guideline_id", GUIDELINE_IDS)
def test_every_regimen_and_phase_cites_sources_listed_in_section_12(guideline_id: str) -> None:
    known = set(sources())
    for regimen in load_guideline(guideline_id).regimens.values():
        assert regimen.sources
        assert set(regimen.sources) <= known, regimen.id
        for phase in regimen.phases:
            assert phase.sources, (regimen.id, phase.name)
            assert set(phase.sources) <= known, (regimen.id, phase.name)
            assert phase.rule in REFERENCE_RULES | B12_REGIMEN_RULES or phase.rule in load_guideline(guideline_id).rules


@pytest.mark.parametrize("guideline_id", GUIDELINE_IDS)
def test_only_the_last_phase_of_a_regimen_continues_and_every_dose_lies_in_its_label_range(guideline_id: str) -> None:
    for regimen in load_guideline(guideline_id).regimens.values():
        assert all(p.ending is not Ending.CONTINUING for p in regimen.phases[:-1]), regimen.id
        for phase in regimen.phases:
            assert phase.dose_mg in phase.dose_range_mg


def test_every_rule_with_sources_cites_only_listed_sources() -> None:
    known = set(sources())
    for rule in _all_rules().values():
        assert set(rule.sources) <= known, rule.id


def test_every_rule_without_sources_is_a_b12_rule() -> None:
    unsourced = [rule for rule in _all_rules().values() if not rule.sources]
    assert unsourced
    assert all(rule.b12_own for rule in unsourced)


def test_a_b12_rule_without_sources_says_so_in_its_message_unless_it_only_reports_a_decision() -> None:
    unsourced = {rule.id: rule for rule in _all_rules().values() if rule.b12_own and not rule.sources}
    silent = {rule_id for rule_id, rule in unsourced.items() if not SAYS_UNSOURCED.search(rule.message)}
    assert silent == PROCEDURAL
    for rule_id in unsourced.keys() - PROCEDURAL:
        assert SAYS_UNSOURCED.search(unsourced[rule_id].message), rule_id


def test_the_regimen_rules_b12_adds_are_marked_as_its_own() -> None:
    uk = load_guideline("uk")
    for rule_id in B12_REGIMEN_RULES:
        assert uk.rule(rule_id).b12_own
    assert not uk.rule("UK-IM-NN").b12_own


def test_a_regimen_rule_is_a_rule_with_the_regimen_words_and_sources() -> None:
    rule = load_guideline("uk").rule("UK-IM-NN")
    assert rule.message == "1 mg IM three times a week for 2 weeks (6 doses); then 1 mg IM every 2–3 months."
    assert rule.sources == ("S18", "S19", "S23")


def test_the_shared_data_has_retention_figures_and_the_progress_checkpoints() -> None:
    common = load_common()
    assert common.version
    assert {(f.product.value, f.dose_mg) for f in common.retention} >= {
        ("hydroxocobalamin", 1.0),
        ("cyanocobalamin", 0.1),
    }
    assert set(common.retention_sources) <= set(sources())
    assert {"reticulocytes", "hemoglobin", "counts", "no_response", "neuro"} <= set(common.progress)


def test_sources_are_read_from_section_12_with_titles() -> None:
    listed = sources()
    assert listed["S1"].title == "NICE NG239 overview"
    assert listed["S1"].confidence == "P"
    assert "S67b" in listed


# --- rule and regimen lookup --------------------------------------------------------------------------------


def test_an_unknown_rule_or_regimen_of_a_guideline_is_refused_with_the_known_ids() -> None:
    uk = load_guideline("uk")
    with pytest.raises(UnknownGuidelineError, match="UK-IM-NN"):
        uk.rule("UK-NOPE")
    with pytest.raises(UnknownGuidelineError, match="rule of guideline 'uk'"):
        uk.rule("UK-NOPE")
    with pytest.raises(UnknownGuidelineError, match="regimen of guideline 'uk'"):
        uk.regimen("US-FDA-CN")
    assert uk.regimen("UK-IM-NN").id == "UK-IM-NN"


def test_find_rule_looks_in_the_preferred_guideline_first_then_in_the_others() -> None:
    assert find_rule("FU-UK", "uk").sources == ("S6", "S16")
    assert find_rule("US-NASAL-NEURO", "uk").id == "US-NASAL-NEURO"  # only us-practice defines it
    with pytest.raises(UnknownGuidelineError):
        find_rule("NO-SUCH-RULE", "uk")


def test_find_regimen_takes_a_qualified_id() -> None:
    guideline, regimen = find_regimen("uk:UK-IM-NN")
    assert (guideline.id, regimen.id) == ("uk", "UK-IM-NN")
    guideline, regimen = find_regimen("us-label:US-FDA-OH", "uk")
    assert (guideline.id, regimen.id) == ("us-label", "US-FDA-OH")


def test_find_regimen_takes_a_bare_id_from_the_preferred_guideline_or_any_other() -> None:
    assert find_regimen("US-FDA-CN")[0].id == "us-label"
    assert find_regimen("UK-IM-NN", "us-practice")[0].id == "uk"
    assert find_regimen("US-STABLER", "us-practice")[0].id == "us-practice"
    assert find_regimen("US-FDA-OH", "us-practice")[0].id == "us-label"


def test_find_regimen_refuses_an_unknown_id_with_every_known_regimen() -> None:
    with pytest.raises(UnknownGuidelineError, match="Unknown regimen 'UK-NOPE'") as caught:
        find_regimen("UK-NOPE")
    assert {"UK-IM-NN", "US-FDA-CN", "US-NASAL"} <= set(caught.value.known)
    assert list(caught.value.known) == sorted(caught.value.known)


def test_find_regimen_refuses_a_qualified_id_of_the_wrong_guideline_or_an_unknown_guideline() -> None:
    with pytest.raises(UnknownGuidelineError, match="regimen of guideline 'uk'"):
        find_regimen("uk:US-FDA-CN")
    with pytest.raises(UnknownGuidelineError, match="Unknown guideline 'fr'"):
        find_regimen("fr:UK-IM-NN")


# --- bad guideline files ------------------------------------------------------------------------------------

UK = _text("uk.toml")
LOADING = (
    'dose_mg = 1.0\ndose_range_mg = [1.0, 1.0]\ntimes_per_week = 3\nending = "count"\ndoses = 6\nrule = "UK-IM-NN"'
)
assert LOADING in UK, "the bad-file tests edit the UK-IM-NN loading phase"

BAD_FILES = [
    pytest.param(
        UK.replace(LOADING, LOADING.replace("dose_mg = 1.0", 'dose_mg = "1 mg"')),
        "regimen UK-IM-NN phase 1: dose_mg must be a number, not '1 mg'",
        id="dose written as a text",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("doses = 6\n", "")),
        "regimen UK-IM-NN phase 1: loading: a count ending needs a number of doses, and only it",
        id="count ending without doses",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("doses = 6", "doses = 6\ndoses_range = [7, 8]")),
        "regimen UK-IM-NN phase 1: loading: 6 doses is outside the label range 7–8",
        id="doses outside their label range",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("times_per_week = 3", "times_per_week = 8")),
        "regimen UK-IM-NN phase 1: a weekly pattern is 1–7 times every 1 week",
        id="eight times a week",
    ),
    pytest.param(
        UK.replace("duration_days = 14", "", 1),
        "regimen UK-CN-NN phase 1: loading: a duration ending needs a number of days, and only it",
        id="duration ending without days",
    ),
    pytest.param(
        UK.replace("duration_days = 14", "duration_days = 0", 1),
        "regimen UK-CN-NN phase 1: loading: a duration must be at least 1 day",
        id="duration of no days",
    ),
    pytest.param(
        UK.replace('every = 2\nunit = "day"\nending = "clinical"', 'every = 0\nunit = "day"\nending = "clinical"', 1),
        "regimen UK-IM-NEURO phase 1: an interval must be at least 1",
        id="interval of zero",
    ),
    pytest.param(
        UK.replace(LOADING + '\nsources = ["S18"]', LOADING + '\nsources = ["S999"]'),
        "regimen UK-IM-NN phase 1: source S999 is not in REFERENCE.md §12",
        id="unknown source on a phase",
    ),
    pytest.param(
        UK.replace('sources = ["S18", "S19"]\nnotes', 'sources = ["S18", "S0"]\nnotes'),
        "regimen UK-IM-NN: source S0 is not in REFERENCE.md §12",
        id="unknown source on a regimen",
    ),
    pytest.param(
        UK.replace('sources = ["S6", "S16"]\n\n[rules.UK-N2O]', 'sources = ["S6", "S16x"]\n\n[rules.UK-N2O]'),
        "rule FU-UK: source S16x is not in REFERENCE.md §12",
        id="unknown source on a rule",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("dose_mg = 1.0", "dose_mg = 2.0")),
        "regimen UK-IM-NN phase 1: loading: dose 2.0 mg is outside the label range 1 mg",
        id="dose outside its label range",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace('rule = "UK-IM-NN"', 'rule = "UK-IM-XX"')),
        "regimen UK-IM-NN phase 1: rule UK-IM-XX is not a known rule ID",
        id="unknown rule ID on a phase",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("doses = 6", "doses = 6.5")),
        "regimen UK-IM-NN phase 1: doses must be a whole number, not 6.5",
        id="a fractional number of doses",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("doses = 6", "doses = 0")),
        "regimen UK-IM-NN phase 1: loading: at least one dose",
        id="no doses",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace('ending = "count"', 'ending = "someday"')),
        "regimen UK-IM-NN phase 1: 'someday' is not a valid Ending",
        id="unknown ending",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("dose_mg = 1.0\n", "")),
        "regimen UK-IM-NN phase 1: 'dose_mg' is missing",
        id="phase without a dose",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("dose_range_mg = [1.0, 1.0]", 'dose_range_mg = [1.0, "1"]')),
        "regimen UK-IM-NN phase 1: a range is written [low, high], not [1.0, '1']",
        id="range with a text bound",
    ),
    pytest.param(
        UK.replace(LOADING, LOADING.replace("dose_range_mg = [1.0, 1.0]", "dose_range_mg = [2.0, 1.0]")),
        "regimen UK-IM-NN phase 1: invalid range 2.0–1.0",
        id="range upside down",
    ),
    pytest.param(
        UK.replace("every = 3\nevery_range = [2, 3]", "every = 4\nevery_range = [2, 3]", 1),
        "regimen UK-IM-NN phase 2: scheduled interval 4 is outside the label range 2–3",
        id="interval outside its label range",
    ),
    pytest.param(
        UK.replace(
            'title = "Review at 3 months (1 month if pregnant or breastfeeding)"\nseverity = "info"',
            'title = "Review"\nseverity = "urgent"',
        ),
        "rule FU-UK: 'urgent' is not a valid Severity",
        id="unknown severity",
    ),
    pytest.param(
        UK.replace('severity = "info"\nmessage = "Review 3 months', 'message = "Review 3 months'),
        "rule FU-UK: 'severity' is missing",
        id="rule without a severity",
    ),
    pytest.param(
        UK.replace(
            'message = "Review 3 months after starting treatment, or 1 month if pregnant or breastfeeding."\n'
            'sources = ["S6", "S16"]',
            'message = "Review."\nsources = []',
        ),
        "rule FU-UK: cites no source",
        id="rule without sources that is not b12's own",
    ),
    pytest.param(
        UK.replace('id = "uk"', 'id = "us-label"'), "id 'us-label' does not match the file name", id="wrong id"
    ),
    pytest.param(UK.replace('version = "2026.11.1"\n', ""), "version is missing", id="no version"),
    pytest.param(UK.replace("review_months = 3", "review_months = 0"), "followup.review_months", id="zero review"),
    pytest.param(
        UK.replace('rule = "FU-UK"\nreview_months', 'rule = "FU-XX"\nreview_months'),
        "followup.rule: rule FU-XX is not a known rule ID",
        id="follow-up with an unknown rule",
    ),
    pytest.param(
        UK.replace('expect_sources = ["S6", "S16"]', 'expect_sources = ["S6", "S1600"]'),
        "followup.expect_sources: source S1600 is not in REFERENCE.md §12",
        id="follow-up with an unknown source",
    ),
    pytest.param(
        UK + "\n[regimens.UK-EMPTY]\ntitle = 'x'\nsources = ['S18']\nphases = []\n",
        "regimen UK-EMPTY: a regimen needs a list of at least one phase",
        id="regimen without phases",
    ),
    pytest.param(
        UK + "\n[regimens.UK-BARE]\ntitle = 'x'\nsources = ['S18']\nphases = ['daily']\n",
        "regimen UK-BARE phase 1: a phase is a table, not 'daily'",
        id="phase that is not a table",
    ),
    pytest.param(
        UK + "\n[regimens.UK-TITLE]\nsources = ['S18']\n",
        "regimen UK-TITLE: 'phases' is missing",
        id="regimen without phases key",
    ),
    pytest.param(
        UK.replace("[products.cyanocobalamin]", "[products.methylcobalamin]"),
        "product methylcobalamin: 'methylcobalamin' is not a valid Product",
        id="unknown product",
    ),
    pytest.param(
        'id = "uk"\nrules = 3\nregimens = "none"\nproducts = []\n',
        "rules: must be a table of rules",
        id="tables that are not tables",
    ),
    pytest.param(UK + "\n[rules.UK-LOOSE]\n", "rule UK-LOOSE: 'title' is missing", id="empty rule"),
    pytest.param(
        UK.replace("[rules.FU-UK]\n", "[rules]\nFU-UK = 'x'\n[rules.FU-UK2]\n"),
        "rule FU-UK: must be a table",
        id="rule that is not a table",
    ),
    pytest.param(UK.replace('id = "uk"', 'id = "uk"\n[broken'), "not valid TOML", id="bad TOML"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_FILES)
def test_a_bad_guideline_file_is_refused_naming_the_file_and_the_rule(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(GuidelineDataError) as caught:
        load_guideline_file(path)
    assert caught.value.file == str(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert isinstance(caught.value, ValueError)


def test_the_unedited_uk_file_loads_from_a_temporary_copy(tmp_path: Path) -> None:
    guideline = load_guideline_file(_write(tmp_path, UK))
    assert guideline.id == "uk"
    assert guideline.regimens == load_guideline("uk").regimens


def test_a_file_whose_name_is_not_its_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GuidelineDataError, match=r"id 'uk' does not match the file name \(expected 'uk-copy'\)"):
        load_guideline_file(_write(tmp_path, UK, "uk-copy.toml"))


def test_every_problem_of_a_bad_file_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = UK.replace(LOADING, LOADING.replace('rule = "UK-IM-NN"', 'rule = "UK-IM-XX"')).replace(
        'id = "uk"', 'id = "gb"'
    )
    with pytest.raises(GuidelineDataError) as caught:
        load_guideline_file(_write(tmp_path, text))
    problems = caught.value.problems
    assert any("rule UK-IM-XX" in p for p in problems)
    assert any("does not match the file name" in p for p in problems)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(GuidelineDataError, match="cannot be read") as caught:
        load_guideline_file(tmp_path / "absent.toml")
    assert caught.value.file == str(tmp_path / "absent.toml")


def test_parse_guideline_takes_data_and_a_file_name_and_checks_the_id_against_it() -> None:
    data = tomllib.loads(UK)
    assert parse_guideline(data, "somewhere/uk.toml").id == "uk"
    assert parse_guideline(data, "any-name.toml", "uk").id == "uk"
    with pytest.raises(GuidelineDataError, match=r"^us-label\.toml: "):
        parse_guideline(data, "us-label.toml")


def _uk_data() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads(UK))


def _set_phase_sources(data: dict[str, Any]) -> None:
    data["regimens"]["UK-IM-NN"]["phases"][1]["sources"] = "S18"


def _drop_strength(data: dict[str, Any]) -> None:
    data["products"]["hydroxocobalamin"] = {"volume": 1}


def _followup_not_a_table(data: dict[str, Any]) -> None:
    data["followup"] = 3


def _nasal_monitoring_without_text(data: dict[str, Any]) -> None:
    data["nasal_monitoring"] = {"rule": "FU-UK", "first_months": 1, "every_months": 6, "sources": ["S47"]}


def _products_not_a_table(data: dict[str, Any]) -> None:
    data["products"] = ["hydroxocobalamin"]


def _regimen_not_a_table(data: dict[str, Any]) -> None:
    data["regimens"]["UK-IM-NN"] = "hydroxocobalamin"


def _continuing_phase_first(data: dict[str, Any]) -> None:
    phases = data["regimens"]["UK-IM-NN"]["phases"]
    phases.reverse()


def _notes_as_text(data: dict[str, Any]) -> None:
    data["regimens"]["UK-IM-NN"]["notes"] = "see the BNF"


BAD_DATA = [
    pytest.param(
        _continuing_phase_first,
        "regimen UK-IM-NN: UK-IM-NN: only the last phase may continue indefinitely",
        id="continuing phase before another",
    ),
    pytest.param(_notes_as_text, "regimen UK-IM-NN: notes must be a list of texts", id="notes as a text"),
    pytest.param(
        _set_phase_sources,
        "regimen UK-IM-NN phase 2: sources must be a list of source IDs, not 'S18'",
        id="phase sources written as a text",
    ),
    pytest.param(_drop_strength, "product hydroxocobalamin: 'strength' is missing", id="product without a strength"),
    pytest.param(_followup_not_a_table, "followup: must be a table", id="follow-up that is not a table"),
    pytest.param(_nasal_monitoring_without_text, "nasal_monitoring.text: must be a text", id="nasal text missing"),
    pytest.param(_products_not_a_table, "products: must be a table of products", id="products not a table"),
    pytest.param(_regimen_not_a_table, "regimen UK-IM-NN: must be a table", id="regimen not a table"),
]


@pytest.mark.parametrize(("edit", "problem"), BAD_DATA)
def test_bad_guideline_data_is_refused_naming_the_file_and_the_part(
    edit: Callable[[dict[str, Any]], None], problem: str
) -> None:
    data = _uk_data()
    edit(data)
    with pytest.raises(GuidelineDataError) as caught:
        parse_guideline(data, "uk.toml")
    assert caught.value.file == "uk.toml"
    assert any(problem in p for p in caught.value.problems), caught.value.problems


# --- bad shared data -----------------------------------------------------------------------------------------

COMMON = _text("common.toml")

BAD_COMMON = [
    pytest.param(
        COMMON.replace("dose_mg = 1.0, loss = 0.27", "dose_mg = 1.0, loss = 1.27"),
        "retention figure 2: loss must be a fraction",
        id="loss above one",
    ),
    pytest.param(
        COMMON.replace('dose_mg = 1.0, loss = 0.27, source = "S32"', 'dose_mg = 1.0, loss = 0.27, source = "S320"'),
        "retention figure 2: source S320 is not in REFERENCE.md §12",
        id="figure with an unknown source",
    ),
    pytest.param(
        COMMON.replace('{ product = "hydroxocobalamin", dose_mg = 0.5,', '{ product = "hydroxo", dose_mg = 0.5,'),
        "retention figure 1: 'hydroxo' is not a valid Product",
        id="figure with an unknown product",
    ),
    pytest.param(
        COMMON.replace('sources = ["S32", "S33"]\nfigures', 'sources = ["S3200"]\nfigures'),
        "retention: source S3200 is not in REFERENCE.md §12",
        id="retention caveat with an unknown source",
    ),
    pytest.param(
        COMMON.replace("reticulocytes = { day = 10,", "reticulocytes = { day = 0,"),
        "progress reticulocytes: day must be a whole number of days after the start",
        id="progress checkpoint on day 0",
    ),
    pytest.param(
        re.sub(r"\nneuro = \{.*\}\n", "\n", COMMON),
        "progress neuro: a table with a text is missing",
        id="progress text missing",
    ),
    pytest.param(COMMON.replace('version = "2026.11.1"\n', ""), "version is missing", id="no version"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_COMMON)
def test_bad_shared_data_is_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(GuidelineDataError) as caught:
        parse_common(tomllib.loads(text), "common.toml")
    assert caught.value.file == "common.toml"
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_the_unedited_shared_data_parses_to_the_cached_value() -> None:
    assert parse_common(tomllib.loads(COMMON), "common.toml") == load_common()


@pytest.mark.parametrize("key", ["retention", "progress"])
def test_shared_data_whose_tables_are_not_tables_is_refused(key: str) -> None:
    data = copy.deepcopy(tomllib.loads(COMMON))
    data[key] = 1
    with pytest.raises(GuidelineDataError, match=f"{key}: must be a table"):
        parse_common(data, "common.toml")
