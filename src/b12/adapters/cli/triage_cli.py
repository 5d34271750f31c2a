"""``b12 triage`` and ``b12 synth``: added to the Typer app by :func:`register`.

This module imports only Typer and Rich at start-up; DuckDB, ibis and pyarrow are imported when one of
its commands runs, and pyspark only with ``--engine spark``. The as-of date defaults to today, read here
and nowhere else. b12's errors and bad paths print one line on stderr and exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from b12.domain.errors import B12Error

if TYPE_CHECKING:
    from b12.adapters.triage import TriageResult

EXIT_USAGE = 2


def _fail(message: str) -> typer.Exit:
    sys.stderr.write("b12: " + " ".join(message.split()) + "\n")
    return typer.Exit(EXIT_USAGE)


@contextmanager
def _errors_as_exit() -> Iterator[None]:
    """b12's own errors become one line on stderr and exit code 2 (also when run outside run_app)."""
    try:
        yield
    except B12Error as error:
        raise _fail(str(error)) from None


def _as_of(text: str | None) -> date:
    if text is None or text.strip().lower() == "today":
        return date.today()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _fail(f"--as-of: {text!r} is not an ISO date (YYYY-MM-DD) or 'today'") from None


def triage(
    input: Annotated[Path, typer.Argument(help="Lab results: CSV, Parquet, or FHIR NDJSON of Observations.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Per-patient results: .parquet or .csv.")],
    thresholds: Annotated[
        str, typer.Option(help="Threshold set: nice-ng239, bsh-2014, ruh-bath, north-bristol.")
    ] = "nice-ng239",
    guideline: Annotated[
        str, typer.Option(help="Guideline for intervals and reviews: uk | us-label | us-practice.")
    ] = "uk",
    engine: Annotated[str, typer.Option(help="duckdb (embedded, default) or spark (needs b12[spark]).")] = "duckdb",
    spark_remote: Annotated[
        str | None, typer.Option(help="Spark Connect URL, e.g. sc://host:15002 (implies --engine spark).")
    ] = None,
    administrations: Annotated[
        Path | None, typer.Option(help="B12 administrations: patient id, date[, dose] (CSV or Parquet).")
    ] = None,
    patients: Annotated[
        Path | None,
        typer.Option(help="Patient attributes: patient id, sex, pregnant, causes, symptoms (CSV or Parquet)."),
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="Date the flags are judged at, ISO or 'today' (default).")] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="parquet | csv (default: from --out's suffix).")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Rows that could not be read (default: OUT.rejects beside OUT).")
    ] = None,
    memory_limit: Annotated[
        str | None, typer.Option(help="DuckDB memory limit, e.g. 4GB (default: half the machine).")
    ] = None,
) -> None:
    """Triage a lab extract: each patient's latest B12 status, findings, next tests, flags and priority."""
    when = _as_of(as_of)
    if spark_remote is not None:
        engine = "spark"
    with _errors_as_exit():
        from b12.adapters.triage import TriageOptions, run_triage

        options = TriageOptions(
            input=input,
            out=out,
            as_of=when,
            thresholds=thresholds,
            guideline=guideline,
            administrations=administrations,
            patients=patients,
            rejects=rejects,
            format=output_format,
            engine=engine,
            spark_remote=spark_remote,
            memory_limit=memory_limit,
        )
        console = Console(stderr=True, highlight=False)
        with _progress(console) as on_stage:
            result = run_triage(options, on_stage=on_stage)
    print_summary(result, Console(highlight=False))


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[str], None]]:
    from b12.adapters.triage.pipeline import STAGES

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    )
    task = progress.add_task("triage", total=len(STAGES))
    seen: list[str] = []

    def on_stage(stage: str) -> None:
        progress.update(task, completed=len(seen), description=f"triage: {stage}")
        seen.append(stage)

    with progress:
        yield on_stage
        progress.update(task, completed=len(STAGES), description="triage: done")


def print_summary(result: TriageResult, console: Console) -> None:
    s = result.summary
    console.print(
        f"[bold]b12 triage[/bold] — {s.patients} patients, {s.observations_read} observation rows read, "
        f"{s.results} used, {s.rejected} rows rejected; thresholds {result.thresholds}, engine {result.engine}"
    )
    table = Table(title="Patients", title_justify="left")
    table.add_column("status")
    table.add_column("patients", justify="right")
    for status, count in s.by_status:
        table.add_row(status, str(count))
    console.print(table)
    priority = Table(title="Priority (a b12 scheme: docs/triage.md)", title_justify="left")
    priority.add_column("priority")
    priority.add_column("patients", justify="right")
    for label, count in s.by_priority:
        priority.add_row(label, str(count))
    console.print(priority)
    flags = Table(title="Flags and next tests (code:rule)", title_justify="left")
    flags.add_column("flag")
    flags.add_column("patients", justify="right")
    for code, count in (*s.by_flag, *s.by_next_test):
        flags.add_row(code, str(count))
    console.print(flags)
    rejected = Table(title=f"Rejected rows ({s.rejected}) → {result.rejects}", title_justify="left")
    rejected.add_column("source")
    rejected.add_column("reason")
    rejected.add_column("rows", justify="right")
    for source, reason, count in s.rejects_by_reason:
        rejected.add_row(source, reason, str(count))
    console.print(rejected)
    console.print(f"Written: {result.out}")


def synth(
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="Number of patients.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Lab extract: .csv, .parquet or .ndjson (FHIR).")],
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same files.")] = 12,
    administrations: Annotated[Path | None, typer.Option(help="Also write administrations here.")] = None,
    attributes: Annotated[Path | None, typer.Option("--attributes", help="Also write patient attributes here.")] = None,
    end: Annotated[str | None, typer.Option(help="Last date of the extract, ISO (default 2025-12-31).")] = None,
) -> None:
    """Write a seeded synthetic lab extract (mixed units, ~1% bad rows) for tests, demos and benchmarks."""
    from b12.adapters.triage.synth import SYNTH_END, synthesise

    try:
        last = SYNTH_END if end is None else date.fromisoformat(end)
    except ValueError:
        raise _fail(f"--end: {end!r} is not an ISO date (YYYY-MM-DD)") from None
    try:
        result = synthesise(patients, out, seed=seed, end=last, administrations=administrations, attributes=attributes)
    except ValueError as error:
        raise _fail(str(error)) from None
    console = Console(highlight=False)
    console.print(f"Wrote {result.rows} rows for {result.patients} patients to {result.observations}")
    if result.administrations is not None:
        console.print(f"Wrote {result.administration_rows} administrations to {result.administrations}")
    if result.attributes is not None:
        console.print(f"Wrote patient attributes to {result.attributes}")


def register(app: typer.Typer) -> None:
    """Add ``triage`` and ``synth`` to ``app``."""
    app.command("triage")(triage)
    app.command("synth")(synth)
