"""``b12 triage`` as a function: read → normalise → classify → write, on the engine chosen.

:func:`run_triage` takes :class:`TriageOptions` (paths, threshold set, guideline, as-of date, engine) and
returns a :class:`TriageResult` with the summary of what was written. It reports each stage to an
optional callback, which the CLI turns into a Rich progress bar. The as-of date is always passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from b12.adapters.triage import readers, rules, vocabulary
from b12.adapters.triage.engines import Engine, make_engine
from b12.adapters.triage.report import Summary, summarise
from b12.domain.errors import B12Error
from b12.domain.guidelines import load_guideline
from b12.domain.guidelines.thresholds import ThresholdSet, load_threshold_set

if TYPE_CHECKING:
    import ibis.expr.types as ir

STAGES = ("read", "normalise", "classify", "write")
OUTPUT_FORMATS = ("parquet", "csv")


@dataclass(frozen=True, slots=True)
class TriageOptions:
    input: Path
    out: Path
    as_of: date
    thresholds: str | ThresholdSet = "nice-ng239"
    guideline: str = "uk"
    administrations: Path | None = None
    patients: Path | None = None
    rejects: Path | None = None  # default: OUT's name + ".rejects" beside it
    format: str | None = None  # default: from OUT's suffix
    engine: str = "duckdb"
    spark_remote: str | None = None
    memory_limit: str | None = None
    temp_directory: Path | None = None

    @property
    def output_format(self) -> str:
        if self.format is not None:
            if self.format not in OUTPUT_FORMATS:
                raise B12Error(f"unknown output format {self.format!r}; choose one of: {', '.join(OUTPUT_FORMATS)}")
            return self.format
        suffix = self.out.suffix.lower()
        if suffix in (".parquet", ".pq"):
            return "parquet"
        if suffix == ".csv":
            return "csv"
        raise B12Error(f"{self.out}: cannot tell the output format from the suffix; use .parquet or .csv, or --format")

    @property
    def rejects_path(self) -> Path:
        if self.rejects is not None:
            return self.rejects
        return self.out.with_name(f"{self.out.stem}.rejects{self.out.suffix or '.' + self.output_format}")

    def threshold_set(self) -> ThresholdSet:
        if isinstance(self.thresholds, ThresholdSet):
            return self.thresholds
        return load_threshold_set(self.thresholds)


@dataclass(frozen=True, slots=True)
class TriageResult:
    out: Path
    rejects: Path
    summary: Summary
    engine: str
    thresholds: str
    seconds: dict[str, float] = field(default_factory=dict)


StageCallback = Callable[[str], None]


def run_triage(
    options: TriageOptions, *, on_stage: StageCallback | None = None, engine: Engine | None = None
) -> TriageResult:
    """Triage ``options.input``; ``engine`` (e.g. a Spark session shared by tests) is used and left open."""
    thresholds = options.threshold_set()
    guideline = load_guideline(options.guideline)
    data = rules.rule_data(thresholds, guideline, options.as_of)
    fmt = options.output_format
    for path in (options.input, options.administrations, options.patients):
        if path is not None:
            if not path.is_file():
                raise readers.InputError(f"{path}: no such file")
            readers.file_format(path)
    timings: dict[str, float] = {}
    owned = engine is None
    active = engine if engine is not None else _engine(options)
    try:
        clock = _Clock(timings, on_stage)
        with clock("read"):
            raw = readers.read(active, options.input, "observations")
            raw_admin = (
                readers.read(active, options.administrations, "administrations") if options.administrations else None
            )
            raw_attr = readers.read(active, options.patients, "patients") if options.patients else None
            units = active.register("b12_units", vocabulary.unit_table())
            analytes = active.register("b12_analytes", vocabulary.analyte_table())
            conversions = active.register("b12_conversions", vocabulary.conversion_table(thresholds))
        with clock("normalise"):
            # Text inputs are parsed once; a Parquet file is read again on each pass (its spellings, the
            # per-patient pass) rather than copied.
            if readers.file_format(options.input) == "csv":
                raw = active.stage(raw, "b12_raw_observations")
            seen = active.stage(rules.spellings(raw), "b12_spellings")
            resolved = active.stage(rules.resolve_spellings(seen, units, analytes, conversions), "b12_resolved")
            obs = rules.observations(raw, resolved)
            admin = rules.normalise_administrations(raw_admin, options.as_of) if raw_admin is not None else None
            attr = None
            if raw_attr is not None:
                seen_attr = active.stage(rules.attribute_spellings(raw_attr), "b12_attribute_spellings")
                resolved_attr = active.stage(rules.resolve_attribute_spellings(seen_attr), "b12_attributes_resolved")
                attr = active.stage(rules.normalise_attributes(raw_attr, resolved_attr), "b12_attributes")
        with clock("classify"):

            def queries(patients: ir.Table) -> tuple[str, str]:
                # The two queries that read the per-patient table, compiled while the engine makes it.
                triaged = active.compile(rules.triage(patients, admin, attr, data))
                return triaged, active.compile(rules.rejects(patients, admin, attr, options.as_of))

            _, (triaged, rejects) = active.stage_while(rules.patients(obs), "b12_per_patient", queries)
        with clock("write"):
            active.write(triaged, rules.OUTPUT_SCHEMA, options.out, fmt, rules.output_categories(data))
            rejects_path = options.rejects_path
            active.write(rejects, rules.REJECT_SCHEMA, rejects_path, fmt)
    finally:
        if owned:
            active.close()
    summary = summarise(options.out, rejects_path, fmt)
    return TriageResult(options.out, rejects_path, summary, active.name, thresholds.id, timings)


def _engine(options: TriageOptions) -> Engine:
    return make_engine(
        options.engine,
        spark_remote=options.spark_remote,
        memory_limit=options.memory_limit,
        temp_directory=options.temp_directory,
    )


class _Clock:
    def __init__(self, timings: dict[str, float], on_stage: StageCallback | None) -> None:
        self.timings = timings
        self.on_stage = on_stage

    def __call__(self, stage: str) -> _Stage:
        return _Stage(self, stage)


class _Stage:
    def __init__(self, clock: _Clock, stage: str) -> None:
        self.clock = clock
        self.stage = stage
        self.start = 0.0

    def __enter__(self) -> None:
        if self.clock.on_stage is not None:
            self.clock.on_stage(self.stage)
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.clock.timings[self.stage] = time.perf_counter() - self.start
