"""Guidelines as data: one versioned TOML file per guideline, plus shared rules and the source list.

``load_guideline("uk")`` reads ``uk.toml`` and ``common.toml`` once (cached), checks them, and returns a
:class:`Guideline` of frozen values. A file that fails any check is rejected whole with a
:class:`~b12.domain.errors.GuidelineDataError` naming the file and each rule at fault; nothing half-loaded
is ever used. Every rule must cite sources listed in ``sources.toml`` (REFERENCE.md §12), except the
few b12 rules marked ``b12 = true`` whose messages say their basis is missing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from b12.domain.alerts import Severity
from b12.domain.case import Route
from b12.domain.errors import GuidelineDataError, UnknownGuidelineError
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Regimen, Span

GUIDELINE_IDS: tuple[str, ...] = ("uk", "us-label", "us-practice")


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    url: str
    confidence: str | None


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule whose words and sources live in data; code decides when it fires."""

    id: str
    title: str
    severity: Severity
    message: str
    sources: tuple[str, ...]
    b12_own: bool = False  # an ID b12 defines because REFERENCE §11 has none


@dataclass(frozen=True, slots=True)
class RetentionFigure:
    product: Product
    dose_mg: float
    loss: float
    source: str


@dataclass(frozen=True, slots=True)
class Guideline:
    id: str
    version: str
    title: str
    default_thresholds: str
    sources: tuple[str, ...]
    strengths: Mapping[Product, str]
    regimens: Mapping[str, Regimen]
    rules: Mapping[str, Rule]
    settings: Mapping[str, Any] = field(default_factory=dict)  # follow-up and monitoring tables, as written

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise UnknownGuidelineError(f"rule of guideline {self.id!r}", rule_id, sorted(self.rules)) from None

    def regimen(self, regimen_id: str) -> Regimen:
        try:
            return self.regimens[regimen_id]
        except KeyError:
            raise UnknownGuidelineError(
                f"regimen of guideline {self.id!r}", regimen_id, sorted(self.regimens)
            ) from None


@dataclass(frozen=True, slots=True)
class Common:
    version: str
    rules: Mapping[str, Rule]
    retention: tuple[RetentionFigure, ...]
    retention_caveat: str
    retention_sources: tuple[str, ...]
    progress: Mapping[str, Mapping[str, Any]]


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise GuidelineDataError(name, [f"not valid TOML: {error}"]) from None


@cache
def sources() -> Mapping[str, Source]:
    """REFERENCE.md §12 as data: source ID -> title, URL and confidence."""
    return {
        sid: Source(sid, entry["title"], entry.get("url", ""), entry.get("confidence"))
        for sid, entry in _read("sources.toml").items()
    }


class _Checker:
    """Collects every problem of one file, so a bad file is reported in full, then rejected."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def sources(self, where: str, ids: object, *, allow_empty: bool = False) -> tuple[str, ...]:
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            self.problems.append(f"{where}: sources must be a list of source IDs")
            return ()
        if not ids and not allow_empty:
            self.problems.append(f"{where}: cites no source")
        known = sources()
        for sid in ids:
            if sid not in known:
                self.problems.append(f"{where}: source {sid} is not in REFERENCE.md §12")
        return tuple(ids)

    def done(self) -> None:
        if self.problems:
            raise GuidelineDataError(self.file, self.problems)


def _rules(table: Mapping[str, Any], check: _Checker) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for rule_id, entry in table.items():
        where = f"rule {rule_id}"
        try:
            severity = Severity(entry["severity"])
            own = bool(entry.get("b12", False))
            rules[rule_id] = Rule(
                id=rule_id,
                title=str(entry["title"]),
                severity=severity,
                message=str(entry["message"]),
                sources=check.sources(where, entry.get("sources"), allow_empty=own),
                b12_own=own,
            )
        except (KeyError, ValueError) as error:
            check.problems.append(f"{where}: {error!r}")
    return rules


def _span(value: object) -> Span | None:
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2:
        return Span(float(value[0]), float(value[1]))
    raise ValueError(f"a range is written [low, high], not {value!r}")


def _phase(entry: Mapping[str, Any]) -> Phase:
    times = entry.get("times_per_week")
    if times is not None:
        frequency = Frequency(every=1, unit=IntervalUnit.WEEK, times_per_week=int(times))
    else:
        frequency = Frequency(
            every=int(entry["every"]),
            unit=IntervalUnit(entry["unit"]),
            every_range=_span(entry.get("every_range")),
        )
    return Phase(
        name=str(entry["name"]),
        kind=PhaseKind(entry["kind"]),
        product=Product(entry["product"]),
        route=Route(entry["route"]),
        dose_mg=float(entry["dose_mg"]),
        dose_range_mg=_span(entry["dose_range_mg"]) or Span(float(entry["dose_mg"]), float(entry["dose_mg"])),
        frequency=frequency,
        ending=Ending(entry["ending"]),
        rule=str(entry["rule"]),
        sources=tuple(entry["sources"]),
        text=str(entry["text"]),
        doses=entry.get("doses"),
        doses_range=_span(entry.get("doses_range")),
        duration_days=entry.get("duration_days"),
        until=entry.get("until"),
        gate=entry.get("gate"),
    )


def _regimens(table: Mapping[str, Any], check: _Checker, known_rules: set[str]) -> dict[str, Regimen]:
    regimens: dict[str, Regimen] = {}
    for regimen_id, entry in table.items():
        where = f"regimen {regimen_id}"
        try:
            phases = tuple(_phase(p) for p in entry["phases"])
            for index, phase in enumerate(phases):
                check.sources(f"{where} phase {index + 1}", list(phase.sources))
                if phase.rule not in known_rules:
                    check.problems.append(f"{where} phase {index + 1}: rule {phase.rule} is not a known rule ID")
            regimens[regimen_id] = Regimen(
                id=regimen_id,
                title=str(entry["title"]),
                product=phases[0].product,
                route=phases[0].route,
                phases=phases,
                sources=check.sources(where, entry.get("sources")),
                notes=tuple(entry.get("notes", ())),
            )
        except (KeyError, ValueError, TypeError) as error:
            check.problems.append(f"{where}: {error!r}")
    return regimens


# Rule IDs of REFERENCE.md §11; regimen phases must name one of these or a rule their file defines.
REFERENCE_RULES: frozenset[str] = frozenset(
    [
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
    ]
)
# Regimen rules b12 adds for the UK cyanocobalamin SmPC, which §11 does not name.
B12_REGIMEN_RULES: frozenset[str] = frozenset({"UK-CN-NN", "UK-CN-NEURO"})


@cache
def load_common() -> Common:
    data = _read("common.toml")
    check = _Checker("common.toml")
    rules = _rules(data.get("rules", {}), check)
    retention = data.get("retention", {})
    figures: list[RetentionFigure] = []
    for index, figure in enumerate(retention.get("figures", [])):
        try:
            item = RetentionFigure(
                Product(figure["product"]), float(figure["dose_mg"]), float(figure["loss"]), figure["source"]
            )
        except (KeyError, ValueError) as error:
            check.problems.append(f"retention figure {index + 1}: {error!r}")
            continue
        if not 0 <= item.loss < 1:
            check.problems.append(f"retention figure {index + 1}: loss must be a fraction")
        check.sources(f"retention figure {index + 1}", [item.source])
        figures.append(item)
    progress = data.get("progress", {})
    for key, entry in progress.items():
        check.sources(f"progress {key}", entry.get("sources"))
    check.done()
    return Common(
        version=str(data["version"]),
        rules=rules,
        retention=tuple(figures),
        retention_caveat=str(retention.get("caveat", "")),
        retention_sources=tuple(retention.get("sources", ())),
        progress=progress,
    )


@cache
def load_guideline(guideline_id: str) -> Guideline:
    """The guideline ``uk``, ``us-label`` or ``us-practice``, checked and frozen."""
    if guideline_id not in GUIDELINE_IDS:
        raise UnknownGuidelineError("guideline", guideline_id, GUIDELINE_IDS)
    file = f"{guideline_id}.toml"
    data = _read(file)
    check = _Checker(file)
    common = load_common()
    own_rules = _rules(data.get("rules", {}), check)
    rules = {**common.rules, **own_rules}
    regimens = _regimens(data.get("regimens", {}), check, set(REFERENCE_RULES | B12_REGIMEN_RULES | rules.keys()))
    for regimen in regimens.values():
        # A regimen's rule ID is a rule too, so an alert about a regimen (an interval outside its label
        # range, say) cites it with the regimen's own words and sources.
        for phase in regimen.phases:
            rules.setdefault(
                phase.rule,
                Rule(
                    id=phase.rule,
                    title=regimen.title,
                    severity=Severity.INFO,
                    message="; ".join(p.text for p in regimen.phases if p.rule == phase.rule) + ".",
                    sources=tuple(dict.fromkeys(s for p in regimen.phases if p.rule == phase.rule for s in p.sources)),
                    b12_own=phase.rule in B12_REGIMEN_RULES,
                ),
            )
    strengths: dict[Product, str] = {}
    for product, entry in data.get("products", {}).items():
        try:
            strengths[Product(product)] = str(entry["strength"])
        except (KeyError, ValueError) as error:
            check.problems.append(f"product {product}: {error!r}")
    if data.get("id") != guideline_id:
        check.problems.append(f"id {data.get('id')!r} does not match the file name")
    for key in ("version", "title", "default_thresholds"):
        if not isinstance(data.get(key), str):
            check.problems.append(f"{key} is missing")
    check.sources("guideline", data.get("sources"))
    for key in ("followup", "monitoring", "nasal_monitoring"):
        if key in data:
            check.sources(key, data[key].get("sources"))
    check.done()
    settings = {k: v for k, v in data.items() if k in ("followup", "monitoring", "nasal_monitoring")}
    return Guideline(
        id=guideline_id,
        version=str(data["version"]),
        title=str(data["title"]),
        default_thresholds=str(data["default_thresholds"]),
        sources=tuple(data["sources"]),
        strengths=strengths,
        regimens=regimens,
        rules=rules,
        settings=settings,
    )


def find_rule(rule_id: str, preferred: str) -> Rule:
    """A rule by ID, from ``preferred`` first, then any guideline (a regimen borrowed from another one)."""
    for guideline_id in (preferred, *GUIDELINE_IDS):
        rules = load_guideline(guideline_id).rules
        if rule_id in rules:
            return rules[rule_id]
    return load_guideline(preferred).rule(rule_id)


def find_regimen(regimen_id: str, preferred: str | None = None) -> tuple[Guideline, Regimen]:
    """A regimen by ID (``UK-IM-NN``) or qualified (``uk:UK-IM-NN``), looked up in ``preferred`` first."""
    if ":" in regimen_id:
        guideline_id, _, bare = regimen_id.partition(":")
        guideline = load_guideline(guideline_id)
        return guideline, guideline.regimen(bare)
    order = ([preferred] if preferred else []) + [g for g in GUIDELINE_IDS if g != preferred]
    for guideline_id in order:
        guideline = load_guideline(guideline_id)
        if regimen_id in guideline.regimens:
            return guideline, guideline.regimens[regimen_id]
    known = sorted({r for g in GUIDELINE_IDS for r in load_guideline(g).regimens})
    raise UnknownGuidelineError("regimen", regimen_id, known)
