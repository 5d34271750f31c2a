"""The tracking timeline as a picture: an analyte's results over time against a threshold set's bands.

Values in, SVG text (or PNG bytes) out. The bands are the threshold set's own, labelled with the set's
own words, in the unit most of the results were reported in (a result in another unit is converted with
:mod:`b12.domain.units`, never guessed). Doses given are ticks along the bottom; haemoglobin, when
recorded, gets a small panel of its own underneath.

The picture is accessible: the SVG carries a ``<title>`` and a ``<desc>`` that say in words what it
shows (every band, every result and its band, the doses), its text stays text, and its colours are the
Okabe–Ito palette, safe for colour-blind readers, with every band also named in writing.

matplotlib is imported inside the functions (~1 s) so ``import b12`` stays fast, and only its
object-oriented :class:`~matplotlib.figure.Figure` is used: no pyplot, no global figure state. The SVG
settings are process-wide rcParams, so drawing is serialised by a lock.
"""

from __future__ import annotations

import io
import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from b12.domain.analytes import Analyte
from b12.domain.case import Route
from b12.domain.guidelines.thresholds import Band, Interval, Scale, ThresholdSet
from b12.domain.labs import RECENT_INJECTION_DAYS
from b12.domain.tracking import DoseGiven, LabEntry
from b12.domain.units import Quantity, format_number, parse_unit

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ANALYTE_NAMES", "PALETTE", "analyte_name", "band_text", "timeline_png", "timeline_svg"]

ANALYTE_NAMES: dict[Analyte, str] = {
    Analyte.B12_TOTAL: "Total B12",
    Analyte.B12_ACTIVE: "Active B12",
    Analyte.MMA: "MMA",
    Analyte.HOMOCYSTEINE: "Homocysteine",
    Analyte.HEMOGLOBIN: "Haemoglobin",
    Analyte.MCV: "MCV",
    Analyte.FOLATE: "Serum folate",
    Analyte.POTASSIUM: "Potassium",
    Analyte.RETICULOCYTES: "Reticulocytes",
}

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
PALETTE = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "yellow": "#F0E442",
    "green": "#009E73",
    "sky": "#56B4E9",
    "orange": "#E69F00",
    "purple": "#CC79A7",
    "black": "#000000",
}
_BAND_COLOURS = {"confirmed": "vermillion", "indeterminate": "yellow", "unlikely": "green", "raised": "sky"}
_INK = "#222222"
_HB_UNIT = "g/L"
_PX_PER_INCH = 96
_LABELLED_POINTS = 12  # results are written beside their points up to this many
_B12 = (Analyte.B12_TOTAL, Analyte.B12_ACTIVE)
_LOCK = threading.Lock()
_FONT_SIZE = 9.0


def analyte_name(analyte: Analyte) -> str:
    return ANALYTE_NAMES.get(analyte, str(analyte))


def band_text(lab: LabEntry, thresholds: ThresholdSet, doses: Sequence[DoseGiven] = ()) -> str | None:
    """Where a result falls in ``thresholds``, in the set's words (as the plot shows it); None if unbanded.

    A B12 result taken within 2 weeks of an injection is not banded but said to be not interpretable.
    """
    scales = thresholds.scales_for(lab.analyte)
    if not scales:
        return None
    if lab.analyte in _B12:
        injections = sorted(dose.at.date() for dose in doses if dose.route is Route.IM)
        days = _days_after_injection(lab.taken, injections)
        if days is not None:
            return f"{days} days after an injection: not interpretable"
    scale = _choose_scale([lab], scales)
    value = _value_in(lab, scale.unit) if scale else None
    if scale is None or value is None:
        return None
    band = scale.classify(value)
    return f"{band.label} ({_short_range(band.range)} {scale.unit})"


def timeline_svg(
    labs: Sequence[LabEntry],
    doses: Sequence[DoseGiven],
    thresholds: ThresholdSet,
    *,
    analyte: Analyte = Analyte.B12_TOTAL,
    width: int = 720,
    height: int = 360,
    standalone: bool = True,
) -> str:
    """The timeline as SVG text, ``width`` x ``height`` CSS pixels.

    ``standalone=False`` leaves out the XML prolog, for an ``<svg>`` written inside an HTML page.
    """
    timeline = _Timeline.build(labs, doses, thresholds, analyte)
    with _LOCK:
        import matplotlib

        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "b12-timeline", "font.size": _FONT_SIZE}):
            figure = _draw(timeline, width, height)
            buffer = io.StringIO()
            figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _accessible(buffer.getvalue(), timeline, standalone=standalone)


def timeline_png(
    labs: Sequence[LabEntry],
    doses: Sequence[DoseGiven],
    thresholds: ThresholdSet,
    *,
    analyte: Analyte = Analyte.B12_TOTAL,
    width: int = 720,
    height: int = 360,
    dpi: int = 192,
) -> bytes:
    """The same timeline as a PNG, ``dpi / 96`` times as many pixels as CSS pixels (sharp in print)."""
    timeline = _Timeline.build(labs, doses, thresholds, analyte)
    with _LOCK:
        import matplotlib

        with matplotlib.rc_context({"font.size": _FONT_SIZE}):
            figure = _draw(timeline, width, height)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


# --- the data, in words first -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Point:
    taken: date
    value: float  # in the timeline's unit
    original: str  # as reported, e.g. "310 pmol/L"
    reported_unit: str | None  # the reported unit's canonical symbol
    band: Band | None
    after_injection: int | None  # days after an injection, when within RECENT_INJECTION_DAYS (B12 only)


@dataclass(frozen=True, slots=True)
class _Timeline:
    analyte: Analyte
    unit: str | None
    thresholds: ThresholdSet
    scale: Scale | None
    points: tuple[_Point, ...]
    unconverted: tuple[LabEntry, ...]
    dose_dates: tuple[date, ...]
    haemoglobin: tuple[_Point, ...]

    @classmethod
    def build(
        cls, labs: Sequence[LabEntry], doses: Sequence[DoseGiven], thresholds: ThresholdSet, analyte: Analyte
    ) -> _Timeline:
        results = sorted((lab for lab in labs if lab.analyte is analyte), key=lambda lab: lab.taken)
        injections = sorted(dose.at.date() for dose in doses if dose.route is Route.IM)
        scale = _choose_scale(results, thresholds.scales_for(analyte))
        unit = scale.unit if scale else _usual_unit(results)
        points: list[_Point] = []
        unconverted: list[LabEntry] = []
        for lab in results:
            value = _value_in(lab, unit) if unit else None
            if value is None:
                unconverted.append(lab)
                continue
            days = _days_after_injection(lab.taken, injections) if analyte in _B12 else None
            band = scale.classify(value) if scale and days is None else None
            points.append(_Point(lab.taken, value, _reported(lab), _symbol(lab.unit), band, days))
        haemoglobin = []
        if analyte is not Analyte.HEMOGLOBIN:
            for lab in sorted((lab for lab in labs if lab.analyte is Analyte.HEMOGLOBIN), key=lambda lab: lab.taken):
                hb = _value_in(lab, _HB_UNIT)
                if hb is None:
                    unconverted.append(lab)
                else:
                    haemoglobin.append(_Point(lab.taken, hb, _reported(lab), _symbol(lab.unit), None, None))
        return cls(
            analyte=analyte,
            unit=unit,
            thresholds=thresholds,
            scale=scale,
            points=tuple(points),
            unconverted=tuple(unconverted),
            dose_dates=tuple(sorted(dose.at.date() for dose in doses)),
            haemoglobin=tuple(haemoglobin),
        )

    @property
    def name(self) -> str:
        return analyte_name(self.analyte)

    @property
    def name_in_text(self) -> str:
        """``total B12``, ``haemoglobin``, ``MMA``: lower case inside a sentence, acronyms kept."""
        name = self.name
        return name[0].lower() + name[1:] if name[1:2].islower() else name

    def title(self) -> str:
        return f"{self.name} over time" + (f" against the {self.thresholds.title} bands" if self.scale else "")

    def description(self) -> str:
        """Everything the picture shows, in sentences, for a screen reader (the SVG ``<desc>``)."""
        unit = self.unit or ""
        parts: list[str] = []
        if self.scale:
            bands = "; ".join(f"{_range_text(b.range, unit)}: {b.label}" for b in self.scale.bands)
            parts.append(
                f"Bands of {self.thresholds.title} (version {self.thresholds.version}, rule {self.scale.rule}): "
                f"{bands}."
            )
        if not self.points:
            parts.append(f"No {self.name_in_text} results yet.")
        else:
            count = _plural(len(self.points), "result")
            listed = "; ".join(_point_text(p, unit) for p in self.points)
            parts.append(f"{count} of {self.name_in_text} in {unit}: {listed}.")
        if self.unconverted:
            parts.append(
                f"{_plural(len(self.unconverted), 'result')} not shown: the unit could not be converted "
                f"({', '.join(f'{_reported(lab)} on {lab.taken}' for lab in self.unconverted)})."
            )
        if self.dose_dates:
            first, last = self.dose_dates[0], self.dose_dates[-1]
            span = f"on {first}" if first == last else f"from {first} to {last}"
            parts.append(f"{_plural(len(self.dose_dates), 'dose')} given {span}, marked as ticks along the bottom.")
        else:
            parts.append("No doses given yet.")
        if self.haemoglobin:
            listed = "; ".join(f"{format_number(p.value)} {_HB_UNIT} on {p.taken}" for p in self.haemoglobin)
            parts.append(f"Haemoglobin, {_plural(len(self.haemoglobin), 'result')}: {listed}.")
        return " ".join(parts)


def _choose_scale(results: Sequence[LabEntry], scales: Sequence[Scale]) -> Scale | None:
    """The scale in the unit most results were reported in (the latest breaks a tie); else the first."""
    if not scales:
        return None
    by_unit = {scale.unit: scale for scale in scales}
    usual = _usual_unit(results)
    return by_unit.get(usual, scales[0]) if usual else scales[0]


def _usual_unit(results: Sequence[LabEntry]) -> str | None:
    symbols = [symbol for lab in results if (symbol := _symbol(lab.unit))]
    if not symbols:
        return None
    counts = Counter(symbols)
    top = max(counts.values())
    return next(symbol for symbol in reversed(symbols) if counts[symbol] == top)


def _symbol(unit: str) -> str | None:
    try:
        return parse_unit(unit).symbol
    except ValueError:
        return None


def _value_in(lab: LabEntry, unit: str) -> float | None:
    """The result in ``unit``: as reported, as normalised, or converted (with the analyte's molar mass)."""
    if _symbol(lab.unit) == unit:
        return lab.value
    if _symbol(lab.normalised_unit) == unit:
        return lab.normalised_value
    for value, source in ((lab.value, lab.unit), (lab.normalised_value, lab.normalised_unit)):
        try:
            return Quantity(value, parse_unit(source)).to(unit, analyte=lab.analyte).value
        except (ValueError, TypeError):
            continue
    return None


def _days_after_injection(taken: date, injections: Sequence[date]) -> int | None:
    # Serum B12 is uninterpretable within 2 weeks of an injection (DX-RECENT-INJ, b12.domain.labs).
    before = [day for day in injections if day <= taken]
    if not before:
        return None
    days = (taken - before[-1]).days
    return days if days <= RECENT_INJECTION_DAYS else None


def _reported(lab: LabEntry) -> str:
    return f"{format_number(lab.value)} {lab.unit}"


def _point_text(point: _Point, unit: str) -> str:
    notes = [f"reported as {point.original}"] if point.reported_unit != unit else []
    if point.after_injection is not None:
        notes.append(f"{point.after_injection} days after an injection: not interpretable")
    elif point.band is not None:
        notes.append(point.band.label)
    text = f"{format_number(point.value)} {unit} on {point.taken}"
    return f"{text} ({'; '.join(notes)})" if notes else text


def _range_text(interval: Interval, unit: str) -> str:
    low, high = format_number(interval.low), format_number(interval.high)
    if math.isinf(interval.low):
        return f"{'up to' if interval.high_closed else 'below'} {high} {unit}"
    if math.isinf(interval.high):
        return f"{'from' if interval.low_closed else 'above'} {low} {unit}"
    start = f"from {low}" if interval.low_closed else f"above {low}"
    end = f"to {high}" if interval.high_closed else f"below {high}"
    return f"{start} {end} {unit}"


def _short_range(interval: Interval) -> str:
    low, high = format_number(interval.low), format_number(interval.high)
    if math.isinf(interval.low):
        return f"{'≤' if interval.high_closed else '<'}{high}"
    if math.isinf(interval.high):
        return f"{'≥' if interval.low_closed else '>'}{low}"
    return f"{low}–{high}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- drawing ------------------------------------------------------------------------------------------


def _draw(timeline: _Timeline, width: int, height: int) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / _PX_PER_INCH, height / _PX_PER_INCH), layout="constrained")
    if timeline.haemoglobin:
        main, hb_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    else:
        main, hb_axes = figure.subplots(), None
    days = _date_range(timeline)
    _bands(main, timeline)
    _results(main, timeline)
    _doses(main, timeline)
    if hb_axes is not None:
        _haemoglobin(hb_axes, timeline)
        _doses(hb_axes, timeline, legend=False)
    bottom = hb_axes if hb_axes is not None else main
    if days is None:
        main.set_xticks([])
        bottom.set_xticks([])
    else:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        main.set_xlim(_x(days[0]), _x(days[1]))
    main.set_title(f"{timeline.name}" + (f" ({timeline.unit})" if timeline.unit else ""), loc="left")
    main.set_title(f"{timeline.thresholds.id} {timeline.thresholds.version}", loc="right", fontsize=7, color=_INK)
    if not timeline.points:
        main.text(
            0.5,
            0.5,
            f"No {timeline.name_in_text} results yet",
            transform=main.transAxes,
            ha="center",
            va="center",
            fontsize=12,
            color=_INK,
            bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": _INK},
            gid="b12-no-results",
        )
    handles, labels = main.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=7, frameon=False)
    for axes in (main, hb_axes):
        if axes is not None:
            axes.spines[["top", "right"]].set_visible(False)
    return figure


def _x(day: date) -> float:
    """A date as matplotlib's date number (its converter is untyped, hence this one wrapper)."""
    import matplotlib.dates as mdates

    return float(mdates.date2num(day))  # type: ignore[no-untyped-call]


def _date_range(timeline: _Timeline) -> tuple[date, date] | None:
    days = [p.taken for p in timeline.points] + [p.taken for p in timeline.haemoglobin] + list(timeline.dose_dates)
    if not days:
        return None
    first, last = min(days), max(days)
    pad = max(timedelta(days=7), (last - first) * 0.04)
    return first - pad, last + pad


def _top(timeline: _Timeline) -> float:
    bounds = (
        [b for band in timeline.scale.bands for b in (band.range.low, band.range.high) if math.isfinite(b)]
        if (timeline.scale)
        else []
    )
    values = [p.value for p in timeline.points]
    return max([*bounds, *values, 1.0]) * 1.25


def _bands(axes: Axes, timeline: _Timeline) -> None:
    top = _top(timeline)
    axes.set_ylim(0, top)
    if timeline.scale is None:
        return
    for index, band in enumerate(timeline.scale.bands):
        low = max(band.range.low, 0.0)
        high = min(band.range.high, top)
        if high <= low:
            continue
        colour = PALETTE[_BAND_COLOURS["raised" if band.raised else band.status.value]]
        axes.axhspan(low, high, color=colour, alpha=0.22, linewidth=0, zorder=0, gid=f"b12-band-{index}")
        axes.text(
            0.995,
            (low + high) / 2,
            f"{band.label} ({_short_range(band.range)})",
            transform=axes.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=7,
            color=_INK,
            zorder=1,
            bbox={"boxstyle": "square,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.7},
        )


def _results(axes: Axes, timeline: _Timeline) -> None:
    points = timeline.points
    if not points:
        return
    colour = PALETTE["blue"]
    axes.plot([_x(p.taken) for p in points], [p.value for p in points], color=colour, linewidth=1.5, zorder=3)
    kinds: tuple[tuple[str, bool, str, str], ...] = (
        ("b12-results", False, colour, f"{timeline.name}"),
        ("b12-results-recent-injection", True, "white", f"within {RECENT_INJECTION_DAYS} days of an injection"),
    )
    for gid, recent, face, label in kinds:
        chosen = [p for p in points if (p.after_injection is not None) is recent]
        if chosen:
            axes.plot(
                [_x(p.taken) for p in chosen],
                [p.value for p in chosen],
                linestyle="none",
                marker="o",
                markersize=6,
                markerfacecolor=face,
                markeredgecolor=colour,
                markeredgewidth=1.5,
                label=label,
                zorder=4,
                gid=gid,
            )
    if len(points) <= _LABELLED_POINTS:
        for point in points:
            axes.annotate(
                format_number(point.value),
                (_x(point.taken), point.value),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=7,
                color=_INK,
                zorder=5,
            )


def _doses(axes: Axes, timeline: _Timeline, *, legend: bool = True) -> None:
    if not timeline.dose_dates:
        return
    axes.vlines(
        [_x(day) for day in timeline.dose_dates],
        0,
        0.07,
        transform=axes.get_xaxis_transform(),
        colors=_INK,
        linewidth=1.5,
        label="dose given" if legend else "_nolegend_",
        zorder=4,
        gid="b12-doses" if legend else "b12-doses-hb",
    )


def _haemoglobin(axes: Axes, timeline: _Timeline) -> None:
    points = timeline.haemoglobin
    axes.plot(
        [_x(p.taken) for p in points],
        [p.value for p in points],
        color=PALETTE["vermillion"],
        marker="s",
        markersize=5,
        linewidth=1.2,
        gid="b12-haemoglobin",
    )
    values = [p.value for p in points]
    span = max(values) - min(values)
    margin = max(span * 0.3, 10.0)
    axes.set_ylim(max(0.0, min(values) - margin), max(values) + margin)
    axes.set_ylabel(f"Hb ({_HB_UNIT})", fontsize=7)


# --- accessibility ------------------------------------------------------------------------------------


def _accessible(svg: str, timeline: _Timeline, *, standalone: bool) -> str:
    """Give the SVG a ``<title>`` and ``<desc>`` and the img role, so it reads as one described image."""
    start = svg.index("<svg")
    end = svg.index(">", start) + 1
    prefix = f"b12-{timeline.analyte.value}"
    labelled = quoteattr(f"{prefix}-title {prefix}-desc")
    opening = svg[start : end - 1] + f' role="img" aria-labelledby={labelled}>'
    described = (
        f'\n <title id="{prefix}-title">{escape(timeline.title())}</title>'
        f'\n <desc id="{prefix}-desc">{escape(timeline.description())}</desc>'
    )
    head = svg[:start] if standalone else ""
    return head + opening + described + svg[end:]
