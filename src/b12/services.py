"""Use cases: what the CLI, the web app and the API ask of b12.

Each function maps plain inputs to domain calls; nothing here reads a clock, a file outside the
package's own data, or a database. Adapters call these and translate :class:`~b12.domain.errors.B12Error`
at their seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from b12.domain.case import Case
from b12.domain.errors import CaseError
from b12.domain.guidelines import GUIDELINE_IDS, Guideline, Rule, find_regimen, load_common, load_guideline
from b12.domain.labs import (
    Interpretation,
    ThresholdSet,
    interpret,
    load_threshold_file,
    load_threshold_set,
    threshold_sets,
)
from b12.domain.plan import Comparison, Plan, compare, make_plan
from b12.domain.regimen import Regimen


def thresholds_for(case: Case) -> ThresholdSet:
    """The case's chosen threshold set, or its guideline's default.

    A name ending in ``.toml`` is a local lab's own file (docs/threshold-sets.md), checked like the packaged ones.
    """
    guideline = load_guideline(case.guideline)
    name = case.thresholds or guideline.default_thresholds
    if name.endswith(".toml"):
        return load_threshold_file(name)
    if name not in threshold_sets():
        raise CaseError(
            "thresholds",
            f"{name!r} is not a threshold set b12 knows; use one of: {', '.join(threshold_sets())}",
        )
    return load_threshold_set(name)


def interpret_case(case: Case) -> Interpretation:
    return interpret(case, thresholds_for(case))


def plan_case(case: Case) -> Plan:
    guideline = load_guideline(case.guideline)
    return make_plan(case, guideline, interpret_case(case))


def compare_regimens(start: date, regimen_ids: Sequence[str], guideline: str | None = None) -> Comparison:
    if len(regimen_ids) < 2:
        raise CaseError("regimens", "compare needs at least two regimen IDs, e.g. UK-IM-NN US-FDA-CN")
    return compare(start, [find_regimen(r, guideline) for r in regimen_ids])


def plan_regimens(plan: Plan) -> list[str]:
    """The recommended regimen and its alternatives, for a comparison that starts from a plan."""
    regimen = plan.recommendation.regimen
    return ([regimen.id] if regimen else []) + list(plan.recommendation.alternatives)


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One line of the rule catalogue: where a rule is defined and what it cites."""

    id: str
    kind: str  # "regimen" | "rule" | "thresholds"
    title: str
    guidelines: tuple[str, ...]
    sources: tuple[str, ...]
    detail: str
    b12_own: bool = False


def rule_catalogue() -> list[RuleEntry]:
    """Every rule, regimen and threshold set b12 knows, with its sources (``b12 guidelines``)."""
    entries: dict[str, RuleEntry] = {}

    def add(entry: RuleEntry) -> None:
        known = entries.get(entry.id)
        if known is None:
            entries[entry.id] = entry
        else:
            entries[entry.id] = RuleEntry(
                known.id,
                known.kind,
                known.title,
                tuple(dict.fromkeys(known.guidelines + entry.guidelines)),
                known.sources,
                known.detail,
                known.b12_own,
            )

    for guideline_id in GUIDELINE_IDS:
        guideline = load_guideline(guideline_id)
        for regimen in guideline.regimens.values():
            add(RuleEntry(regimen.id, "regimen", regimen.title, (guideline_id,), regimen.sources, _describe(regimen)))
        for rule in guideline.rules.values():
            origin = ("all",) if rule.id in load_common().rules else (guideline_id,)
            add(_rule_entry(rule, origin))
    for name in threshold_sets():
        ts = load_threshold_set(name)
        add(RuleEntry(ts.id, "thresholds", ts.title, ("all",), ts.sources, ts.boundary_rule))
    return sorted(entries.values(), key=lambda e: (e.kind, e.id))


def _rule_entry(rule: Rule, guidelines: tuple[str, ...]) -> RuleEntry:
    return RuleEntry(rule.id, "rule", rule.title, guidelines, rule.sources, rule.message, rule.b12_own)


def _describe(regimen: Regimen) -> str:
    return "; ".join(phase.text for phase in regimen.phases)


def guideline(guideline_id: str) -> Guideline:
    return load_guideline(guideline_id)
