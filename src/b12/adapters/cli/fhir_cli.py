"""``b12 fhir import`` and ``b12 fhir export``: added to the Typer app by :func:`register`.

fhir.resources, SQLAlchemy and the FHIR adapter are imported when a command runs, so ``b12 --help`` does
not pay for them. The clock is read here (the import's audit time, the export's as-of date) and nowhere
else. An import with problems prints each one with its path on stderr, imports nothing and exits 2.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from b12.domain.errors import B12Error

if TYPE_CHECKING:
    from b12.adapters.fhir import FhirImportError
    from b12.ports import UnitOfWork

EXIT_USAGE = 2

fhir_app = typer.Typer(
    help="FHIR R4: import lab results, doses given and skipped, and reactions; export a course as "
    "MedicationRequest, CarePlan, MedicationAdministrations, AdverseEvents and Observations.",
    no_args_is_help=True,
)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(envvar="B12_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in B12_DATA_DIR or ./data)."),
]


def _fail(message: str) -> typer.Exit:
    sys.stderr.write("b12: " + " ".join(message.split()) + "\n")
    return typer.Exit(EXIT_USAGE)


def _report(error: FhirImportError) -> typer.Exit:
    """Every problem on a line of its own: path, then what is wrong."""
    count = len(error.problems)
    where = f"{error.source}: " if error.source else ""
    sys.stderr.write(f"b12: {where}{count} problem{'s' if count != 1 else ''}, nothing imported\n")
    for problem in error.problems:
        sys.stderr.write(f"  {problem}\n")
    return typer.Exit(EXIT_USAGE)


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'s' if number != 1 else ''}"


def _unit_of_work(database: str | None) -> UnitOfWork:
    from b12.adapters.sql.db import database_url, make_engine
    from b12.adapters.sql.migrations import upgrade
    from b12.adapters.sql.repository import unit_of_work_factory

    engine = make_engine(database_url(database))
    upgrade(engine)
    # The port's attributes are mutable, so mypy matches the SQL repositories only if they are read-only;
    # SqlUnitOfWork is that UnitOfWork (as in the web app's composition root).
    return cast("UnitOfWork", unit_of_work_factory(engine)())


@fhir_app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="A Bundle (.json) or NDJSON (.ndjson) of Observations, MedicationAdministrations (doses given "
            "or not done) and AdverseEvents (reactions to a dose)."
        ),
    ],
    patient: Annotated[
        str | None, typer.Option(help="The b12 patient id (default: the file's Patient/<id> subject).")
    ] = None,
    course: Annotated[
        str | None,
        typer.Option(help="The course the doses belong to (default: the course their request names)."),
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Import lab results (Observations), doses given or skipped (MedicationAdministrations, completed or
    not-done) and reactions (AdverseEvents): all or nothing."""
    from b12.adapters.fhir import FhirImportError, import_fhir

    try:
        text = file.read_bytes()
    except OSError as error:
        raise _fail(f"cannot read {file}: {error.strerror}") from None
    try:
        summary = import_fhir(
            _unit_of_work(database),
            text,
            at=datetime.now(UTC),
            name=str(file),
            patient_id=patient,
            course_id=course,
        )
    except FhirImportError as error:
        raise _report(error) from None
    except B12Error as error:
        raise _fail(str(error)) from None
    counts = [_count(summary.labs, "lab result"), _count(summary.doses, "dose")]
    # Skipped doses and reactions are named only when some were imported: a file of results reads as before.
    counts += [_count(n, what) for n, what in ((summary.skips, "skipped dose"), (summary.reactions, "reaction")) if n]
    out = sys.stdout
    out.write(
        f"Imported {', '.join(counts[:-1])} and {counts[-1]} for patient {summary.patient_id or '-'} from {file}"
        f"{f' ({summary.unchanged} already stored)' if summary.unchanged else ''}.\n"
    )
    for skipped in summary.skipped:
        out.write(f"  skipped {skipped}\n")


@fhir_app.command("export")
def export_command(
    course: Annotated[str, typer.Argument(help="The course id.")],
    database: DatabaseOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the Bundle here (default: stdout).")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Date the course status is judged at, ISO or 'today' (default).")
    ] = None,
) -> None:
    """Export a course as a FHIR R4 collection Bundle (JSON)."""
    from b12.adapters.fhir import dumps, export_course

    try:
        today = date.today() if as_of in (None, "today") else date.fromisoformat(str(as_of).strip())
    except ValueError:
        raise _fail(f"--as-of: {as_of!r} is not an ISO date (YYYY-MM-DD) or 'today'") from None
    try:
        text = dumps(export_course(_unit_of_work(database), course, today=today))
    except B12Error as error:
        raise _fail(str(error)) from None
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise _fail(f"cannot write {out}: {error.strerror}") from None
    sys.stderr.write(f"Wrote course {course} to {out}\n")


def register(app: typer.Typer) -> None:
    """Add ``fhir import`` and ``fhir export`` to ``app``."""
    app.add_typer(fhir_app, name="fhir")
