"""Input files -> raw text tables (one column per field the triage reads), on either engine.

- CSV (comma-separated, with a header) and Parquet: columns are found by name, case-insensitively,
  among the aliases of :data:`ALIASES` (``patient_id``, ``patient``, ``subject`` …); the engine reads the
  file itself, so a Spark cluster reads its own paths. Every value is read as text: the triage decides
  what a value, a unit or a date is, and rejects what it cannot read.
- FHIR NDJSON of Observations: one JSON resource per line, read by DuckDB as lines of text and picked
  apart with its JSON functions (patient from ``subject.reference``, date from ``effectiveDateTime`` or
  ``effectivePeriod.start``, the LOINC coding and ``code.text``, ``valueQuantity`` value and unit (or
  ``valueString``), ``referenceRange[0].high``). A line that is not valid JSON, or not an Observation,
  becomes a rejected row; nothing is skipped. On Spark the rows travel as Arrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from b12.adapters.triage.rules import ADMINISTRATION_COLUMNS, ATTRIBUTE_COLUMNS, OBSERVATION_COLUMNS, Reason
from b12.domain.errors import B12Error

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from b12.adapters.triage.engines import Engine

LOINC_SYSTEM = "http://loinc.org"

ALIASES: Mapping[str, tuple[str, ...]] = {
    "patient_id": ("patient_id", "patient", "patientid", "subject", "pid", "mrn", "nhs_number"),
    "date": (
        "date",
        "effective_date",
        "effectivedatetime",
        "collected",
        "collection_date",
        "sample_date",
        "administered",
        "given",
        "administration_date",
    ),
    "code": ("code", "loinc", "loinc_code"),
    "test": ("test", "test_name", "name", "analyte", "display"),
    "value": ("value", "result", "result_value"),
    "unit": ("unit", "units", "result_unit"),
    "upper_limit": ("upper_limit", "uln", "reference_high", "ref_high", "high"),
    "dose": ("dose", "dose_mg", "amount"),
    "sex": ("sex", "gender"),
    "pregnant": ("pregnant", "pregnancy"),
    "causes": ("causes", "cause", "risk_factors"),
    "symptoms": ("symptoms", "symptom"),
    "long_term_replacement": ("long_term_replacement", "long_term"),
}
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "observations": ("patient_id", "date", "value", "unit"),
    "administrations": ("patient_id", "date"),
    "patients": ("patient_id",),
}
FIELDS: Mapping[str, tuple[str, ...]] = {
    "observations": OBSERVATION_COLUMNS,
    "administrations": ADMINISTRATION_COLUMNS,
    "patients": ATTRIBUTE_COLUMNS,
}


class InputError(B12Error, ValueError):
    """An input file that cannot be used at all (missing, unknown format, a required column missing)."""


def file_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, kind in ((".csv", "csv"), (".csv.gz", "csv"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix):
            return kind
    if name.endswith((".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")):
        return "ndjson"
    raise InputError(f"{path}: unknown file type; use .csv, .parquet or .ndjson (FHIR Observations)")


def read(engine: Engine, path: Path, kind: str) -> ir.Table:
    """The raw text table of ``kind`` ("observations", "administrations", "patients") from ``path``."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = file_format(path)
    if fmt == "ndjson":
        if kind != "observations":
            raise InputError(f"{path}: FHIR NDJSON is read for observations only; give {kind} as CSV or Parquet")
        return engine.from_duckdb_sql(fhir_observations_sql(path), "b12_raw_observations")
    table = engine.read_csv(path) if fmt == "csv" else engine.read_parquet(path)
    return select_fields(table, kind, path)


def select_fields(table: ir.Table, kind: str, path: Path) -> ir.Table:
    import ibis

    by_name = {column.lower().strip(): column for column in table.columns}
    found: dict[str, str] = {}
    for field in FIELDS[kind]:
        match = next((by_name[alias] for alias in ALIASES[field] if alias in by_name), None)
        if match is not None:
            found[field] = match
    missing = [field for field in REQUIRED[kind] if field not in found]
    if kind == "observations" and "code" not in found and "test" not in found:
        missing.append("code or test")
    if missing:
        raise InputError(
            f"{path}: no column for {', '.join(missing)} (columns found: {', '.join(table.columns)}); "
            "see docs/triage.md for the accepted names"
        )
    columns: dict[str, ir.Value] = {}
    for field in FIELDS[kind]:
        if field not in found:
            columns[field] = ibis.null("string")
            continue
        column = table[found[field]]
        if column.type().is_array():
            columns[field] = column.cast("array<string>").join(";")
        else:
            columns[field] = column.cast("string")
    return table.select(**columns)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def fhir_observations_sql(path: Path) -> str:
    """DuckDB SQL reading FHIR Observations, one per line, as raw text columns plus a ``problem``."""
    source = (
        f"read_csv({_sql_text(str(path))}, columns={{'line': 'VARCHAR'}}, header=false, delim='\\x1f', "
        "quote='', escape='', new_line='\\n', auto_detect=false)"
    )
    coding = 'from_json(json_extract(doc, \'$.code.coding\'), \'[{"system":"VARCHAR","code":"VARCHAR"}]\')'
    loinc = f"list_filter({coding}, lambda c: c.system = {_sql_text(LOINC_SYSTEM)})"
    return f"""
        SELECT
            regexp_replace(json_extract_string(doc, '$.subject.reference'), '^Patient/', '') AS patient_id,
            coalesce(json_extract_string(doc, '$.effectiveDateTime'),
                     json_extract_string(doc, '$.effectivePeriod.start')) AS date,
            coalesce({loinc}[1].code, {coding}[1].code) AS code,
            coalesce(json_extract_string(doc, '$.code.text'),
                     json_extract_string(doc, '$.code.coding[0].display')) AS test,
            CASE WHEN doc IS NULL THEN left(line, 200)
                 ELSE coalesce(json_extract_string(doc, '$.valueQuantity.value'),
                               json_extract_string(doc, '$.valueString')) END AS value,
            coalesce(json_extract_string(doc, '$.valueQuantity.unit'),
                     json_extract_string(doc, '$.valueQuantity.code')) AS unit,
            json_extract_string(doc, '$.referenceRange[0].high.value') AS upper_limit,
            CASE WHEN doc IS NULL THEN {_sql_text(Reason.BAD_JSON)}
                 WHEN coalesce(json_extract_string(doc, '$.resourceType'), '') <> 'Observation'
                 THEN {_sql_text(Reason.NOT_OBSERVATION)}
            END AS problem
        FROM (
            SELECT line, CASE WHEN json_valid(line) THEN line::JSON END AS doc
            FROM {source} WHERE trim(line) <> ''
        )
    """


def describe(paths: Sequence[Path | None]) -> str:
    return ", ".join(str(p) for p in paths if p is not None)
