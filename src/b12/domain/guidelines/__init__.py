"""Guidelines as data: one versioned TOML file per guideline, plus shared rules and the source list.

``load_guideline("uk")`` reads ``uk.toml`` and ``common.toml`` once (cached), checks them, and returns a
:class:`Guideline` of frozen values. A file that fails any check is rejected whole with a
:class:`~b12.domain.errors.GuidelineDataError` naming the file and each rule at fault; nothing half-loaded
is ever used. Every rule must cite sources listed in ``sources.toml`` (REFERENCE.md §12), except the
few b12 rules marked ``b12 = true`` whose messages say their basis is missing.

``load_guideline_file(path)`` checks a file outside the package the same way (its ``id`` must match the
file name), and ``parse_guideline(data, file)`` checks TOML data already read; neither is cached.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
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


def _toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise GuidelineDataError(file, [f"not valid TOML: {error}"]) from None


def _read(name: str) -> dict[str, Any]:
    return _toml(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"), name)


def _problem(where: str, error: Exception) -> str:
    """A loader problem in words: a missing key is named, other errors keep their own message."""
    if isinstance(error, KeyError):
        return f"{where}: {error.args[0]!r} is missing"
    return f"{where}: {error}"


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


def _rules(table: object, check: _Checker) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    if not isinstance(table, Mapping):
        check.problems.append("rules: must be a table of rules")
        return rules
    for rule_id, entry in table.items():
        where = f"rule {rule_id}"
        if not isinstance(entry, Mapping):
            check.problems.append(f"{where}: must be a table")
            continue
        try:
            own = bool(entry.get("b12", False))
            rules[rule_id] = Rule(
                id=rule_id,
                title=str(entry["title"]),
                severity=Severity(entry["severity"]),
                message=str(entry["message"]),
                sources=check.sources(where, entry.get("sources"), allow_empty=own),
                b12_own=own,
            )
        except (KeyError, ValueError) as error:
            check.problems.append(_problem(where, error))
    return rules


def _span(value: object) -> Span | None:
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value):
        return Span(float(value[0]), float(value[1]))
    raise ValueError(f"a range is written [low, high], not {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(entry: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    """A whole number from the file: ``6``, never ``6.5``, ``"6"`` or ``true`` (no silent truncation)."""
    value = entry.get(key) if not required else entry[key]
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} must be a whole number, not {value!r}")
    return value


def _phase(entry: object) -> Phase:
    if not isinstance(entry, Mapping):
        raise ValueError(f"a phase is a table, not {entry!r}")
    times = _whole(entry, "times_per_week")
    if times is not None:
        frequency = Frequency(every=1, unit=IntervalUnit.WEEK, times_per_week=times)
    else:
        frequency = Frequency(
            every=_whole(entry, "every", required=True) or 0,
            unit=IntervalUnit(entry["unit"]),
            every_range=_span(entry.get("every_range")),
        )
    dose = entry["dose_mg"]
    if not _is_number(dose):
        raise ValueError(f"dose_mg must be a number, not {dose!r}")
    sources = entry["sources"]
    if not isinstance(sources, list):
        raise ValueError(f"sources must be a list of source IDs, not {sources!r}")
    return Phase(
        name=str(entry["name"]),
        kind=PhaseKind(entry["kind"]),
        product=Product(entry["product"]),
        route=Route(entry["route"]),
        dose_mg=float(dose),
        dose_range_mg=_span(entry["dose_range_mg"]) or Span(float(dose), float(dose)),
        frequency=frequency,
        ending=Ending(entry["ending"]),
        rule=str(entry["rule"]),
        sources=tuple(str(s) for s in sources),
        text=str(entry["text"]),
        doses=_whole(entry, "doses"),
        doses_range=_span(entry.get("doses_range")),
        duration_days=_whole(entry, "duration_days"),
        until=entry.get("until"),
        gate=entry.get("gate"),
    )


def _regimens(table: object, check: _Checker, known_rules: set[str]) -> dict[str, Regimen]:
    regimens: dict[str, Regimen] = {}
    if not isinstance(table, Mapping):
        check.problems.append("regimens: must be a table of regimens")
        return regimens
    for regimen_id, entry in table.items():
        where = f"regimen {regimen_id}"
        if not isinstance(entry, Mapping):
            check.problems.append(f"{where}: must be a table")
            continue
        try:
            raw_phases = entry["phases"]
            if not isinstance(raw_phases, list) or not raw_phases:
                raise ValueError("a regimen needs a list of at least one phase")
            phases: list[Phase] = []
            for index, raw in enumerate(raw_phases):
                try:
                    phase = _phase(raw)
                except (KeyError, ValueError) as error:
                    check.problems.append(_problem(f"{where} phase {index + 1}", error))
                    continue
                check.sources(f"{where} phase {index + 1}", list(phase.sources))
                if phase.rule not in known_rules:
                    check.problems.append(f"{where} phase {index + 1}: rule {phase.rule} is not a known rule ID")
                phases.append(phase)
            notes = entry.get("notes", [])
            if not isinstance(notes, list) or not all(isinstance(note, str) for note in notes):
                raise ValueError(f"notes must be a list of texts, not {notes!r}")
            if len(phases) < len(raw_phases):
                continue
            regimens[regimen_id] = Regimen(
                id=regimen_id,
                title=str(entry["title"]),
                product=phases[0].product,
                route=phases[0].route,
                phases=tuple(phases),
                sources=check.sources(where, entry.get("sources")),
                notes=tuple(notes),
            )
        except (KeyError, ValueError) as error:
            check.problems.append(_problem(where, error))
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
    """The rules, retention figures and progress texts shared by every guideline (``common.toml``)."""
    return parse_common(_read("common.toml"), "common.toml")


# Progress checkpoints the planner reads: those with a day are dated follow-ups, the others are texts.
_PROGRESS: Mapping[str, bool] = {
    "reticulocytes": True,
    "hemoglobin": True,
    "counts": True,
    "no_response": False,
    "neuro": False,
}


def parse_common(data: Mapping[str, Any], file: str) -> Common:
    """Check the shared data read from ``file`` and freeze it; every problem is reported, naming the file."""
    check = _Checker(file)
    if not isinstance(data.get("version"), str):
        check.problems.append("version is missing")
    rules = _rules(data.get("rules", {}), check)
    retention = data.get("retention", {})
    if not isinstance(retention, Mapping):
        check.problems.append("retention: must be a table")
        retention = {}
    figures: list[RetentionFigure] = []
    for index, figure in enumerate(retention.get("figures", [])):
        where = f"retention figure {index + 1}"
        try:
            item = RetentionFigure(
                Product(figure["product"]), float(figure["dose_mg"]), float(figure["loss"]), str(figure["source"])
            )
        except (KeyError, ValueError, TypeError) as error:
            check.problems.append(_problem(where, error))
            continue
        if not 0 <= item.loss < 1:
            check.problems.append(f"{where}: loss must be a fraction")
        check.sources(where, [item.source])
        figures.append(item)
    if figures:
        check.sources("retention", retention.get("sources"))
    progress = data.get("progress", {})
    if not isinstance(progress, Mapping):
        check.problems.append("progress: must be a table")
        progress = {}
    for key, dated in _PROGRESS.items():
        entry = progress.get(key)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("text"), str):
            check.problems.append(f"progress {key}: a table with a text is missing")
            continue
        day = entry.get("day")
        if dated and (not isinstance(day, int) or isinstance(day, bool) or day < 1):
            check.problems.append(f"progress {key}: day must be a whole number of days after the start")
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
    return parse_guideline(_read(file), file, guideline_id)


def load_guideline_file(path: str | Path) -> Guideline:
    """Load and check a guideline file outside the package (not cached); its ``id`` must match its name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GuidelineDataError(str(path), [f"cannot be read: {error}"]) from error
    return parse_guideline(_toml(text, str(path)), str(path), path.stem)


# Follow-up tables the planner reads, and the keys each must have: "int" keys are whole numbers of
# months (at least 1), "text" keys are words shown to the clinician, "sources" keys list source IDs.
_SETTINGS: Mapping[str, Mapping[str, str]] = {
    "followup": {
        "rule": "rule",
        "review_months": "int",
        "review_months_pregnant_or_breastfeeding": "int",
        "expect": "text",
        "expect_sources": "sources",
        "sources": "sources",
    },
    "monitoring": {"baseline": "text", "potassium": "text", "hct_retic": "text", "sources": "sources"},
    "nasal_monitoring": {
        "rule": "rule",
        "first_months": "int",
        "every_months": "int",
        "text": "text",
        "sources": "sources",
    },
}


def _settings(data: Mapping[str, Any], check: _Checker, rules: Mapping[str, Rule]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key, fields in _SETTINGS.items():
        if key not in data:
            continue
        table = data[key]
        if not isinstance(table, Mapping):
            check.problems.append(f"{key}: must be a table")
            continue
        for name, kind in fields.items():
            value = table.get(name)
            where = f"{key}.{name}"
            if kind == "sources":
                check.sources(where, value)
            elif kind == "int" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                check.problems.append(f"{where}: must be a whole number of months, at least 1")
            elif kind == "text" and not isinstance(value, str):
                check.problems.append(f"{where}: must be a text")
            elif kind == "rule" and value not in rules:
                check.problems.append(f"{where}: rule {value} is not a known rule ID")
        settings[key] = table
    return settings


def parse_guideline(data: Mapping[str, Any], file: str, guideline_id: str | None = None) -> Guideline:
    """Check guideline data read from ``file`` and freeze it; every problem is reported, naming the file.

    ``guideline_id`` is the ID the data must declare (by default the file name without its extension).
    Rules shared by every guideline come from the packaged ``common.toml``.
    """
    expected = guideline_id if guideline_id is not None else Path(file).stem
    check = _Checker(file)
    common = load_common()
    own_rules = _rules(data.get("rules", {}), check)
    rules = {**common.rules, **own_rules}
    regimens = _regimens(data.get("regimens", {}), check, set(REFERENCE_RULES | B12_REGIMEN_RULES | rules.keys()))
    for regimen in regimens.values():
        # A regimen's rule ID is a rule too, so an alert about a regimen (an interval outside its label
        # range, say) cites it with the regimen's own words and sources. The sources of the regimen named by
        # the rule ID come too: they are REFERENCE §11's for that rule ("UK-IM-NEURO: … urgent specialist
        # advice [S18][S24]"), which the phases' dose lines alone may not cite.
        for phase in regimen.phases:
            own = regimen.sources if phase.rule == regimen.id else ()
            rules.setdefault(
                phase.rule,
                Rule(
                    id=phase.rule,
                    title=regimen.title,
                    severity=Severity.INFO,
                    message="; ".join(p.text for p in regimen.phases if p.rule == phase.rule) + ".",
                    sources=tuple(
                        dict.fromkeys((*(s for p in regimen.phases if p.rule == phase.rule for s in p.sources), *own))
                    ),
                    b12_own=phase.rule in B12_REGIMEN_RULES,
                ),
            )
    strengths: dict[Product, str] = {}
    products = data.get("products", {})
    if not isinstance(products, Mapping):
        check.problems.append("products: must be a table of products")
        products = {}
    for product, entry in products.items():
        try:
            strengths[Product(product)] = str(entry["strength"])
        except (KeyError, ValueError, TypeError) as error:
            check.problems.append(_problem(f"product {product}", error))
    if data.get("id") != expected:
        check.problems.append(f"id {data.get('id')!r} does not match the file name (expected {expected!r})")
    for key in ("version", "title", "default_thresholds"):
        if not isinstance(data.get(key), str):
            check.problems.append(f"{key} is missing")
    check.sources("guideline", data.get("sources"))
    settings = _settings(data, check, rules)
    check.done()
    return Guideline(
        id=expected,
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
