"""VIGNETTES.md as data: each case in tests/vectors/vignettes.toml runs through the case format, the
services and the plan JSON, and must say what the vignette expects (status, regimen, dates, alerts)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from b12.adapters.case_json import case_from_json
from b12.adapters.plan_json import plan_to_dict
from b12.services import plan_case

VECTORS = tomllib.loads((Path(__file__).parent.parent / "vectors" / "vignettes.toml").read_text(encoding="utf-8"))
CASES = VECTORS["case"]


def _plan(case: dict[str, Any]) -> dict[str, Any]:
    return plan_to_dict(plan_case(case_from_json(case)))


@pytest.fixture(scope="module", params=CASES, ids=[c["id"] for c in CASES])
def vignette(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    return request.param["expect"], _plan(request.param["case"])


def test_the_vignette_gets_the_expected_interpretation(
    vignette: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    expect, plan = vignette
    interpretation = plan["interpretation"]
    if "status" in expect:
        assert interpretation["status"] == expect["status"]
    assert {t["test"] for t in interpretation["next_tests"]} >= set(expect.get("next_tests", []))
    assert {f["code"] for f in interpretation["findings"]} >= set(expect.get("findings", []))
    for test, (value, unit) in expect.get("normalised", {}).items():
        result = next(r for r in interpretation["normalised"] if r["test"] == test)
        assert (result["value"], result["unit"]) == (pytest.approx(value, abs=0.05), unit)


def test_the_vignette_gets_the_expected_recommendation(
    vignette: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    expect, plan = vignette
    rec = plan["recommendation"]
    for key in ("treat", "route", "product", "lifelong"):
        if key in expect:
            assert rec[key] == expect[key], key
    if "regimen" in expect:
        assert rec["regimen"] == (expect["regimen"] or None)
    if "urgent" in expect:
        assert rec["urgent_specialist_advice"] == expect["urgent"]
    assert set(rec["blocked_products"]) == set(expect.get("blocked", []))
    assert set(rec["alternatives"]) >= set(expect.get("alternatives", []))


def test_the_vignette_raises_the_expected_alerts(vignette: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expect, plan = vignette
    rules = {a["rule"] for a in plan["alerts"]}
    assert rules >= set(expect.get("alerts", [])), rules
    assert not rules & set(expect.get("no_alerts", []))
    assert set(plan["rules_applied"]) >= set(expect.get("rules", []))
    assert set(plan["rules_applied"]) >= rules
    for alert in plan["alerts"]:
        assert alert["rule"]
        assert alert["message"]


def test_the_vignette_is_dated_as_expected(vignette: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expect, plan = vignette
    dates = [d["date"] for d in plan["schedule"]]
    if "first_doses" in expect:
        assert dates[: len(expect["first_doses"])] == expect["first_doses"]
    for key in ("loading_ends", "maintenance_starts"):
        if key in expect:
            assert plan["switch"][key] == (expect[key] or None), key
    if "schedule_count" in expect:
        assert len(dates) == expect["schedule_count"]
    if expect.get("provisional"):
        assert any(d["provisional"] for d in plan["schedule"])
        assert plan["horizon"]["undated_phases"]
    reviews = [f["date"] for f in plan["followups"] if f["kind"] == "review" and f["rule"] == "FU-UK"]
    if "review" in expect:
        assert reviews[0] == expect["review"]
    monitored = {t for f in plan["followups"] if f["kind"] == "monitoring" for t in f["tests"]}
    assert monitored >= set(expect.get("monitoring", []))
    texts = " ".join(f["expect"] or "" for f in plan["followups"])
    for phrase in expect.get("followup_mentions", []):
        assert phrase in texts


def test_the_vignette_plan_names_its_guideline_and_the_clinicians_role(
    vignette: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, plan = vignette
    assert plan["guideline"]["id"]
    assert plan["guideline"]["version"]
    assert "clinician decides" in plan["disclaimer"]
