"""Doses, lab results and symptom scores as CSV text, for a spreadsheet or another system.

Values in, text out (RFC 4180: a header row, comma separated, CRLF line ends). Dates and times are ISO
8601; a lab result keeps the value and unit as reported beside the normalised ones. Every cell that a
spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) is prefixed with a single quote, the OWASP defence against CSV injection: free text such as a
note or a batch number comes from users. Encode the text as ``utf-8-sig`` for Excel to read µ and
accents.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from b12.domain.tracking import DoseGiven, LabEntry, Reaction, SymptomEntry, TrackedSymptom

__all__ = ["DOSE_COLUMNS", "LAB_COLUMNS", "SYMPTOM_COLUMNS", "doses_csv", "labs_csv", "symptoms_csv"]

DOSE_COLUMNS = (
    "id",
    "course_id",
    "given_at",
    "date",
    "dose_mg",
    "product",
    "route",
    "site",
    "batch",
    "expiry",
    "given_by",
    "reaction",
    "note",
)
LAB_COLUMNS = (
    "id",
    "taken",
    "analyte",
    "value",
    "unit",
    "normalised_value",
    "normalised_unit",
    "lower_limit",
    "upper_limit",
)
SYMPTOM_COLUMNS = ("id", "recorded_at", "date", *(symptom.value for symptom in TrackedSymptom), "note")

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Cell = str | float | int | date | None


def doses_csv(doses: Sequence[DoseGiven], *, reactions: Sequence[Reaction] = (), tz: str | None = None) -> str:
    """One row per dose given, oldest first; ``reactions`` recorded later are joined to their dose.

    ``tz`` converts times to a local zone (e.g. ``Europe/London``); without it they are written as stored.
    """
    later: dict[str, list[str]] = {}
    for reaction in sorted(reactions, key=lambda r: r.at):
        later.setdefault(reaction.dose_id, []).append(
            f"{reaction.description} (severe)" if reaction.severe else reaction.description
        )
    zone = ZoneInfo(tz) if tz else None
    rows = []
    for dose in sorted(doses, key=lambda d: d.at):
        at = _local(dose.at, zone)
        rows.append(
            (
                dose.id,
                dose.course_id,
                at,
                at.date(),
                dose.dose_mg,
                dose.product.value,
                dose.route.value,
                dose.site,
                dose.batch,
                dose.expiry,
                dose.given_by,
                "; ".join(filter(None, [dose.reaction, *later.get(dose.id, [])])),
                dose.note,
            )
        )
    return _write(DOSE_COLUMNS, rows)


def labs_csv(labs: Sequence[LabEntry]) -> str:
    """One row per result, by date: the value and unit as reported, then the normalised ones."""
    rows = [
        (
            lab.id,
            lab.taken,
            lab.analyte.value,
            lab.value,
            lab.unit,
            lab.normalised_value,
            lab.normalised_unit,
            lab.lower_limit,
            lab.upper_limit,
        )
        for lab in sorted(labs, key=lambda lab: (lab.taken, lab.analyte.value, lab.id))
    ]
    return _write(LAB_COLUMNS, rows)


def symptoms_csv(entries: Sequence[SymptomEntry], *, tz: str | None = None) -> str:
    """One row per diary entry, one column per symptom (empty when that symptom was not scored)."""
    zone = ZoneInfo(tz) if tz else None
    rows = []
    for entry in sorted(entries, key=lambda e: e.at):
        at = _local(entry.at, zone)
        scores = (entry.scores.get(symptom) for symptom in TrackedSymptom)
        rows.append((entry.id, at, at.date(), *scores, entry.note))
    return _write(SYMPTOM_COLUMNS, rows)


def _write(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # QUOTE_MINIMAL, "\r\n" line ends: RFC 4180
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _local(moment: datetime, zone: ZoneInfo | None) -> datetime:
    return moment.astimezone(zone) if zone is not None and moment.tzinfo is not None else moment
