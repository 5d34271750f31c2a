"""``b12 triage`` as a function: read → normalise → classify → write, on the engine chosen.

:func:`run_triage` takes :class:`TriageOptions` (paths, threshold set, guideline, as-of date, engine) and
returns a :class:`TriageResult` with the summary of what was written. It reports each stage to an
optional callback, which the CLI turns into a Rich progress bar. The as-of date is always passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from b12.adapters.triage import readers, rules, vocabulary
from b12.adapters.triage.engines import Engine, make_engine
from b12.adapters.triage.report import Summary, summarise
from b12.domain.errors import B12Error
from b12.domain.guidelines import load_guideline
from b12.domain.guidelines.thresholds import ThresholdSet, load_threshold_set

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
            obs = active.stage(rules.normalise_observations(raw, units, analytes, conversions), "b12_observations")
            admin = (
                active.stage(rules.normalise_administrations(raw_admin, options.as_of), "b12_administrations")
                if raw_admin is not None
                else None
            )
            attr = active.stage(rules.normalise_attributes(raw_attr), "b12_patients") if raw_attr is not None else None
        with clock("classify"):
            patients = active.stage(rules.triage(obs, admin, attr, data), "b12_triage")
        with clock("write"):
            _write(active.batches(patients, rules.OUTPUT_SCHEMA), rules.OUTPUT_SCHEMA, options.out, fmt)
            rejects_path = options.rejects_path
            _write(
                active.batches(rules.rejects(obs, admin, attr), rules.REJECT_SCHEMA),
                rules.REJECT_SCHEMA,
                rejects_path,
                fmt,
            )
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


def _write(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path, fmt: str) -> None:
    """Write batches as one Parquet or CSV file (written beside, then moved into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if fmt == "parquet":
        with pq.ParquetWriter(partial, schema, compression="zstd") as parquet:
            for batch in batches:
                parquet.write_batch(batch)
    else:
        with pacsv.CSVWriter(partial, schema) as csv:
            for batch in batches:
                csv.write_batch(batch)
    partial.replace(path)
