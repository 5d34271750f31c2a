"""Threshold sets: how a B12 result is banded, as versioned data files (one per set in ``thresholds/``).

A set (NICE NG239, BSH 2014, a local lab) holds, per analyte, one or more *scales*, each in a single
unit; a scale is an ordered list of bands written in interval notation (``"[180, 350]"``), each with a
status and the lab's own label. The file format is documented in ``docs/threshold-sets.md`` so that a
lab can write its own set and load it with :func:`load_threshold_file`.

Contract of a loaded set, checked by the loader:

- the bands of each scale tile the whole real line: the first starts at -inf, the last ends at +inf,
  and every value, boundaries included, falls in exactly one band (no gap, no overlap);
- statuses are ``confirmed``, ``indeterminate`` or ``unlikely`` and never get more severe as the value
  rises (a lower B12 is never less deficient);
- every unit is one b12 knows (:func:`b12.domain.units.parse_unit`) and is a concentration;
- every source ID exists in ``sources.toml`` (REFERENCE.md §12); a set whose basis has no source ID
  must say where its numbers come from in ``citation``.

A bad file raises :class:`~b12.domain.errors.GuidelineDataError` naming the file and every problem
found, each with its path in the file (``scales[1].bands[2].range``). Packaged sets are read with the
standard library's ``tomllib`` on first use and cached.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from b12.domain.analytes import Analyte
from b12.domain.errors import GuidelineDataError, UnitError, UnknownGuidelineError
from b12.domain.units import Dimension, known_units, parse_unit

THRESHOLDS_DIR = Path(__file__).parent / "thresholds"
_SOURCES_FILE = Path(__file__).parent / "sources.toml"

_RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^,\s\])]+)\s*([\])])\s*$")
_BANDED_ANALYTES = (Analyte.B12_TOTAL, Analyte.B12_ACTIVE)
_CONCENTRATIONS = (Dimension.MASS_CONCENTRATION, Dimension.AMOUNT_CONCENTRATION)

_SET_KEYS = frozenset(
    {
        "id",
        "version",
        "kind",
        "title",
        "sources",
        "citation",
        "boundary_rule",
        "min_retest_days",
        "note",
        "scales",
    }
)
_NOTE_KEYS = frozenset({"text", "rule", "sources"})
_SCALE_KEYS = frozenset({"analyte", "unit", "rule", "sources", "bands"})
_BAND_KEYS = frozenset({"range", "status", "label", "raised"})


class Status(StrEnum):
    """Where a B12 result leaves the diagnosis; ``not_assessable`` is never a band's status."""

    CONFIRMED = "confirmed"
    INDETERMINATE = "indeterminate"
    UNLIKELY = "unlikely"
    NOT_ASSESSABLE = "not_assessable"

    @property
    def severity(self) -> int:
        """0 for confirmed (most severe) to 3 for not assessable; the order used to combine results."""
        return _SEVERITY[self]


_SEVERITY = {Status.CONFIRMED: 0, Status.INDETERMINATE: 1, Status.UNLIKELY: 2, Status.NOT_ASSESSABLE: 3}
BAND_STATUSES = (Status.CONFIRMED, Status.INDETERMINATE, Status.UNLIKELY)


class SetKind(StrEnum):
    GUIDELINE = "guideline"  # a national or society guideline (NICE, BSH)
    LOCAL_LAB = "local-lab"  # one lab's method: overrides the guideline for its results (DX-LAB [S12])


def _format_bound(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class Interval:
    """An interval of the real line; infinite ends are always open."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high):
            raise ValueError("an interval bound cannot be NaN")
        if (self.low_closed and math.isinf(self.low)) or (self.high_closed and math.isinf(self.high)):
            raise ValueError("an infinite end must be open, e.g. (-inf, 180) or (350, inf)")
        if not self.low < self.high:
            raise ValueError(f"the lower bound {self.low:g} must be below the upper bound {self.high:g}")

    @classmethod
    def parse(cls, text: str) -> Interval:
        """Read ``"(-inf, 180)"``, ``"[180, 350]"``, ``"(350, inf)"``; raise ValueError if malformed."""
        match = _INTERVAL.match(text)
        if match is None:
            raise ValueError(f'{text!r} is not an interval such as "[180, 350]" or "(-inf, 180)"')
        opening, low_text, high_text, closing = match.groups()
        try:
            low, high = float(low_text), float(high_text)
        except ValueError:
            raise ValueError(f"{text!r} has a bound that is not a number") from None
        return cls(low, high, low_closed=opening == "[", high_closed=closing == "]")

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float):
            return False
        above_low = value >= self.low if self.low_closed else value > self.low
        below_high = value <= self.high if self.high_closed else value < self.high
        return above_low and below_high

    def __str__(self) -> str:
        opening = "[" if self.low_closed else "("
        closing = "]" if self.high_closed else ")"
        return f"{opening}{_format_bound(self.low)}, {_format_bound(self.high)}{closing}"


@dataclass(frozen=True, slots=True)
class Band:
    range: Interval
    status: Status
    label: str  # the lab's or guideline's own wording, kept as written
    raised: bool = False  # the band reports a raised B12 (e.g. RUH ">914 ng/L: raised")


@dataclass(frozen=True, slots=True)
class Scale:
    """The bands for one analyte in one unit (``unit`` is b12's canonical symbol)."""

    analyte: Analyte
    unit: str
    dimension: Dimension
    rule: str
    sources: tuple[str, ...]
    bands: tuple[Band, ...]

    def classify(self, value: float) -> Band:
        for band in self.bands:
            if value in band.range:
                return band
        # Unreachable for a loaded scale: the loader checks that the bands tile the real line.
        raise ValueError(f"{value:g} {self.unit} falls in no band")


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    rule: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ThresholdSet:
    id: str
    version: str
    kind: SetKind
    title: str
    boundary_rule: str  # how boundary values fall, in words: shown with every interpretation
    sources: tuple[str, ...]
    scales: tuple[Scale, ...]
    citation: str | None = None  # where the numbers come from when no REFERENCE source ID covers them
    note: Note | None = None
    min_retest_days: int | None = None
    file: str = ""

    @property
    def local(self) -> bool:
        return self.kind is SetKind.LOCAL_LAB

    def scales_for(self, analyte: Analyte) -> tuple[Scale, ...]:
        return tuple(scale for scale in self.scales if scale.analyte is analyte)


# --------------------------------------------------------------------------------------------------
# Loading


def threshold_sets() -> tuple[str, ...]:
    """The names of the packaged threshold sets, sorted."""
    return _packaged_names()


def load_threshold_set(name: str) -> ThresholdSet:
    """A packaged threshold set by name (``nice-ng239``, ``bsh-2014``, ``ruh-bath``, ``north-bristol``)."""
    if name not in _packaged_names():
        raise UnknownGuidelineError("threshold set", name, _packaged_names())
    return _load_packaged(name)


def load_threshold_file(path: str | Path) -> ThresholdSet:
    """Load and validate a threshold-set file, e.g. a local lab's own set (not cached)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise GuidelineDataError(str(path), [f"cannot be read: {error.strerror or error}"]) from error
    except tomllib.TOMLDecodeError as error:
        raise GuidelineDataError(str(path), [f"is not valid TOML: {error}"]) from error
    return _build_set(data, path, _known_sources())


@cache
def _packaged_names() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in THRESHOLDS_DIR.glob("*.toml")))


@cache
def _load_packaged(name: str) -> ThresholdSet:
    return load_threshold_file(THRESHOLDS_DIR / f"{name}.toml")


@cache
def _known_sources() -> frozenset[str]:
    with _SOURCES_FILE.open("rb") as handle:
        return frozenset(tomllib.load(handle))


class _Problems:
    """Collects every problem in a file, each with its path, rather than stopping at the first."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, problem: str) -> None:
        self.items.append(f"{where}: {problem}" if where else problem)

    def text(self, data: Mapping[str, Any], key: str, where: str = "", *, required: bool = True) -> str:
        path = f"{where}.{key}" if where else key
        value = data.get(key)
        if value is None:
            if required:
                self.add(path, "is missing")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.add(path, "must be a non-empty string")
            return ""
        return value.strip()

    def unknown_keys(self, data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
        for key in sorted(set(data) - allowed):
            self.add(
                f"{where}.{key}" if where else key,
                f"is not a known key (known: {', '.join(sorted(allowed))})",
            )

    def rule(self, data: Mapping[str, Any], where: str) -> str:
        rule = self.text(data, "rule", where)
        if rule and not _RULE_ID.match(rule):
            self.add(f"{where}.rule", f"{rule!r} is not a rule ID such as DX-TOT or DX-LAB")
        return rule

    def sources(
        self, data: Mapping[str, Any], where: str, known: frozenset[str], *, required: bool = True
    ) -> tuple[str, ...] | None:
        path = f"{where}.sources" if where else "sources"
        value = data.get("sources")
        if value is None:
            if required:
                self.add(path, "is missing (use [] with a citation when no REFERENCE source ID applies)")
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.add(path, 'must be a list of source IDs such as ["S7", "S9"]')
            return ()
        for source in value:
            if source not in known:
                self.add(path, f"{source!r} is not a source ID of sources.toml (REFERENCE.md §12)")
        return tuple(value)


def _build_set(data: Mapping[str, Any], path: Path, known: frozenset[str]) -> ThresholdSet:
    problems = _Problems()
    problems.unknown_keys(data, _SET_KEYS, "")
    set_id = problems.text(data, "id")
    if set_id and set_id != path.stem:
        problems.add("id", f"{set_id!r} must match the file name {path.stem!r}")
    version = problems.text(data, "version")
    title = problems.text(data, "title")
    boundary_rule = problems.text(data, "boundary_rule")
    citation = problems.text(data, "citation", required=False) or None
    kind_text = problems.text(data, "kind")
    kind = SetKind.GUIDELINE
    if kind_text:
        if kind_text in {kind.value for kind in SetKind}:
            kind = SetKind(kind_text)
        else:
            problems.add("kind", f"{kind_text!r} is not one of {', '.join(SetKind)}")
    sources = problems.sources(data, "", known) or ()
    if not sources and citation is None:
        problems.add("sources", "is empty: give source IDs, or a citation saying where the numbers come from")

    min_retest_days = data.get("min_retest_days")
    if min_retest_days is not None and (
        isinstance(min_retest_days, bool) or not isinstance(min_retest_days, int) or min_retest_days < 1
    ):
        problems.add("min_retest_days", f"{min_retest_days!r} must be a whole number of days, at least 1")
        min_retest_days = None

    note = _build_note(data.get("note"), problems, known)

    scales: list[Scale] = []
    raw_scales = data.get("scales")
    if not isinstance(raw_scales, list) or not raw_scales:
        problems.add("scales", "must hold at least one [[scales]] table")
        raw_scales = []
    seen: set[tuple[Analyte, str]] = set()
    for index, raw in enumerate(raw_scales):
        where = f"scales[{index}]"
        if not isinstance(raw, dict):
            problems.add(where, "must be a table")
            continue
        scale = _build_scale(raw, where, problems, known, default_sources=sources)
        if scale is None:
            continue
        if (scale.analyte, scale.unit) in seen:
            problems.add(where, f"a second {scale.analyte} scale in {scale.unit}: one scale per unit")
        seen.add((scale.analyte, scale.unit))
        scales.append(scale)

    if problems.items:
        raise GuidelineDataError(str(path), problems.items)
    return ThresholdSet(
        id=set_id,
        version=version,
        kind=kind,
        title=title,
        boundary_rule=boundary_rule,
        sources=sources,
        scales=tuple(scales),
        citation=citation,
        note=note,
        min_retest_days=min_retest_days,
        file=str(path),
    )


def _build_note(raw: object, problems: _Problems, known: frozenset[str]) -> Note | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add("note", "must be a table with text, rule and sources")
        return None
    problems.unknown_keys(raw, _NOTE_KEYS, "note")
    text = problems.text(raw, "text", "note")
    rule = problems.rule(raw, "note")
    sources = problems.sources(raw, "note", known) or ()
    return Note(text, rule, sources)


def _build_scale(
    raw: Mapping[str, Any],
    where: str,
    problems: _Problems,
    known: frozenset[str],
    *,
    default_sources: tuple[str, ...],
) -> Scale | None:
    before = len(problems.items)
    problems.unknown_keys(raw, _SCALE_KEYS, where)
    analyte_text = problems.text(raw, "analyte", where)
    analyte: Analyte | None = None
    if analyte_text:
        if analyte_text in {a.value for a in _BANDED_ANALYTES}:
            analyte = Analyte(analyte_text)
        else:
            choices = ", ".join(_BANDED_ANALYTES)
            problems.add(f"{where}.analyte", f"{analyte_text!r} cannot be banded here (choose {choices})")
    unit_text = problems.text(raw, "unit", where)
    unit_symbol, dimension = "", Dimension.MASS_CONCENTRATION
    if unit_text:
        try:
            unit = parse_unit(unit_text)
        except UnitError:
            accepted = ", ".join(u.symbol for d in _CONCENTRATIONS for u in known_units(d))
            problems.add(f"{where}.unit", f"Unknown unit {unit_text!r}: use a concentration b12 knows ({accepted})")
        else:
            unit_symbol, dimension = unit.symbol, unit.dimension
            if dimension not in _CONCENTRATIONS:
                problems.add(f"{where}.unit", f"{unit_text!r} is not a concentration (e.g. ng/L or pmol/L)")
    rule = problems.rule(raw, where)
    sources = problems.sources(raw, where, known, required=False)
    bands = _build_bands(raw.get("bands"), f"{where}.bands", problems)
    if analyte is None or len(problems.items) > before:
        return None
    return Scale(analyte, unit_symbol, dimension, rule, default_sources if sources is None else sources, bands)


def _build_bands(raw: object, where: str, problems: _Problems) -> tuple[Band, ...]:
    if not isinstance(raw, list) or not raw:
        problems.add(where, "must hold at least one [[scales.bands]] table")
        return ()
    bands: list[Band] = []
    complete = True
    for index, item in enumerate(raw):
        path = f"{where}[{index}]"
        if not isinstance(item, dict):
            problems.add(path, "must be a table")
            complete = False
            continue
        problems.unknown_keys(item, _BAND_KEYS, path)
        range_text = problems.text(item, "range", path)
        status_text = problems.text(item, "status", path)
        label = problems.text(item, "label", path)
        raised = item.get("raised", False)
        if not isinstance(raised, bool):
            problems.add(f"{path}.raised", "must be true or false")
            raised = False
        interval: Interval | None = None
        if range_text:
            try:
                interval = Interval.parse(range_text)
            except ValueError as error:
                problems.add(f"{path}.range", str(error))
        status: Status | None = None
        if status_text:
            if status_text in {s.value for s in BAND_STATUSES}:
                status = Status(status_text)
            else:
                choices = ", ".join(BAND_STATUSES)
                problems.add(f"{path}.status", f"{status_text!r} is not a band status (choose {choices})")
        if interval is None or status is None or not label:
            complete = False
            continue
        bands.append(Band(interval, status, label, raised))
    if complete:
        _check_tiling(bands, where, problems)
        _check_severity_order(bands, where, problems)
    return tuple(bands)


def _check_tiling(bands: list[Band], where: str, problems: _Problems) -> None:
    """Bands, in the order written, must cover the real line once: no gap, no overlap."""
    first, last = bands[0].range, bands[-1].range
    if not math.isinf(first.low):
        problems.add(f"{where}[0].range", f"values below {_format_bound(first.low)} fall in no band: start at -inf")
    if not math.isinf(last.high):
        problems.add(
            f"{where}[{len(bands) - 1}].range",
            f"values above {_format_bound(last.high)} fall in no band: end at inf",
        )
    for index, (lower, upper) in enumerate(pairwise(bands)):
        a, b = lower.range, upper.range
        pair = f"{where}[{index}] {a} and {where}[{index + 1}] {b}"
        if b.low < a.low:
            problems.add(where, f"bands must be listed from low to high values ({pair})")
        elif a.high < b.low:
            problems.add(where, f"gap: values between {a.high:g} and {b.low:g} fall in no band ({pair})")
        elif a.high > b.low:
            problems.add(where, f"overlap: values between {b.low:g} and {a.high:g} fall in two bands ({pair})")
        elif a.high_closed and b.low_closed:
            problems.add(where, f"overlap: {a.high:g} falls in two bands ({pair})")
        elif not a.high_closed and not b.low_closed:
            problems.add(where, f"gap: {a.high:g} falls in no band ({pair})")


def _check_severity_order(bands: list[Band], where: str, problems: _Problems) -> None:
    for index, (lower, upper) in enumerate(pairwise(bands)):
        if upper.status.severity < lower.status.severity:
            problems.add(
                f"{where}[{index + 1}].status",
                f"{upper.status} follows {lower.status}: a higher B12 cannot be more deficient",
            )
