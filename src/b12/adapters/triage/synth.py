"""``b12 synth``: a seeded, realistic synthetic lab extract, generated inside DuckDB.

Each patient has a latent B12 level that drives total and active B12, MMA, homocysteine, haemoglobin
and MCV; 1–3 visits in the two years before ``end``; each visit orders a realistic subset of tests.
Results come in the units labs really mix (ng/L, pg/mL and pmol/L for B12; nmol/L and µmol/L for MMA;
g/L and g/dL for haemoglobin; nmol/L, ng/mL and µg/L for folate), converted with the factors of
``units.toml`` (through :mod:`b12.domain.units`, never a copy), and named by LOINC code or by a lab's
test name. About 1% of rows are bad on purpose: an unknown unit, a non-numeric value, a missing
patient id, or an unknown test. Optionally writes administrations (loading doses, then maintenance
every 3 months, some stopped early so that they fall overdue) and patient attributes.

Randomness is a hash of (seed, stream, row keys) rather than ``random()``, so a seed gives the same
file whatever the number of threads; everything is one SQL statement per file, fast enough for
10,000,000 rows. The output format follows the suffix: ``.csv``, ``.parquet`` or ``.ndjson`` (FHIR
Observations).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from b12.domain.analytes import LOINC, Analyte
from b12.domain.units import Dimension, Quantity, parse_unit

SYNTH_END = date(2025, 12, 31)  # the default last date of the extract (fixed, so that a seed is reproducible)


@dataclass(frozen=True, slots=True)
class SynthResult:
    observations: Path
    rows: int
    patients: int
    administrations: Path | None = None
    administration_rows: int = 0
    attributes: Path | None = None


def _factor(analyte: Analyte, source: str, target: str) -> float:
    return Quantity(1.0, parse_unit(source)).to(target, analyte=analyte.value).value


def _code(analyte: Analyte, unit: str) -> str:
    mass, molar = LOINC[analyte]
    dimension = parse_unit(unit).dimension
    code = molar if dimension is Dimension.AMOUNT_CONCENTRATION else mass
    return "" if code is None else code


# (analyte, canonical unit of the generator, [(unit, share, decimals)], names a lab prints)
_REPORTING: tuple[tuple[Analyte, str, tuple[tuple[str, float, int], ...], tuple[str, ...]], ...] = (
    (Analyte.B12_TOTAL, "ng/L", (("ng/L", 0.4, 0), ("pg/mL", 0.3, 0), ("pmol/L", 0.3, 0)), ("Vitamin B12", "B12")),
    (Analyte.B12_ACTIVE, "pmol/L", (("pmol/L", 1.0, 1),), ("Active B12", "holoTC")),
    (Analyte.MMA, "nmol/L", (("nmol/L", 0.6, 0), ("µmol/L", 0.4, 2)), ("MMA", "Methylmalonic acid")),
    (Analyte.HOMOCYSTEINE, "µmol/L", (("µmol/L", 1.0, 1),), ("Homocysteine",)),
    (Analyte.HEMOGLOBIN, "g/L", (("g/L", 0.6, 0), ("g/dL", 0.4, 1)), ("Haemoglobin", "Hb")),
    (Analyte.MCV, "fL", (("fL", 1.0, 0),), ("MCV",)),
    (Analyte.FOLATE, "nmol/L", (("nmol/L", 0.3, 1), ("ng/mL", 0.4, 1), ("µg/L", 0.3, 1)), ("Folate",)),
)


def _uniform(seed: int, stream: int, *keys: str) -> str:
    """A uniform number in [0, 1) from a hash: the same for a seed whatever the thread count."""
    return f"(hash({seed}, {stream}, {', '.join(keys)}) / 18446744073709551616.0)"


def _normal(seed: int, stream: int, *keys: str) -> str:
    u1 = f"greatest({_uniform(seed, stream, *keys)}, 1e-12)"
    u2 = _uniform(seed, stream + 1, *keys)
    return f"(sqrt(-2 * ln({u1})) * cos(2 * pi() * {u2}))"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _patients_sql(n: int, seed: int) -> str:
    def u(stream: int) -> str:
        return _uniform(seed, stream, "i")

    return f"""
        SELECT
            i,
            printf('P%08d', i) AS patient_id,
            {u(1)} < 0.48 AS male,
            {_normal(seed, 2, "i")} AS z,
            {u(4)} AS u_preg,
            {u(5)} AS u_cause,
            {u(6)} AS u_symptom,
            1 + CAST(floor({u(7)} * 3) AS INTEGER) AS visits,
            {u(8)} AS u_treat,
            {u(9)} AS u_sexcode
        FROM range({n}) t(i)
    """


def _causes_sql() -> str:
    return """
        CASE
            WHEN u_cause < 0.03 THEN 'nitrous_oxide'
            WHEN u_cause < 0.10 THEN 'autoimmune_gastritis'
            WHEN u_cause < 0.18 THEN 'metformin'
            WHEN u_cause < 0.24 THEN 'diet'
            WHEN u_cause < 0.28 THEN 'ppi;metformin'
            WHEN u_cause < 0.30 THEN 'gastrectomy'
            ELSE ''
        END
    """


def _symptoms_sql() -> str:
    return """
        CASE
            WHEN u_symptom < 0.08 THEN 'paraesthesia;fatigue'
            WHEN u_symptom < 0.12 THEN 'numbness'
            WHEN u_symptom < 0.35 THEN 'fatigue'
            WHEN u_symptom < 0.42 THEN 'memory;mood'
            WHEN u_symptom < 0.45 THEN 'glossitis'
            ELSE ''
        END
    """


def _observations_sql(n: int, seed: int, end: date) -> str:
    tests = []
    for k, (analyte, canonical, units, names) in enumerate(_REPORTING):
        tests.append((k, analyte, canonical, units, names))
    # The canonical value of each test from the patient's latent level z and visit noise e.
    values = {
        Analyte.B12_TOTAL: "exp(ln(380) + 0.45 * z + 0.12 * e)",
        Analyte.B12_ACTIVE: "exp(ln(62) + 0.55 * z + 0.12 * e)",
        Analyte.MMA: "exp(ln(240) - 0.45 * z + 0.2 * e)",
        Analyte.HOMOCYSTEINE: "exp(ln(10) - 0.3 * z + 0.2 * e + CASE WHEN n2o THEN 0.8 ELSE 0 END)",
        Analyte.HEMOGLOBIN: "(CASE WHEN male THEN 150 ELSE 134 END) + 11 * e + CASE WHEN z < -1.4 THEN -18 ELSE 0 END",
        Analyte.MCV: "91 + 4 * e - 3.5 * least(z, 0) * 1.6",
        Analyte.FOLATE: "exp(ln(18) + 0.55 * e)",
    }
    # Share of visits that order each test (active B12 mostly in pregnancy; homocysteine with nitrous oxide).
    orders = {
        Analyte.B12_TOTAL: "CASE WHEN pregnant THEN 0.4 ELSE 0.9 END",
        Analyte.B12_ACTIVE: "CASE WHEN pregnant THEN 0.8 ELSE 0.08 END",
        Analyte.MMA: "0.1",
        Analyte.HOMOCYSTEINE: "CASE WHEN n2o THEN 0.6 ELSE 0.03 END",
        Analyte.HEMOGLOBIN: "0.6",
        Analyte.MCV: "0.55",
        Analyte.FOLATE: "0.35",
    }
    value_cases, unit_cases, name_cases, code_cases = [], [], [], []
    for k, analyte, canonical, units, names in tests:
        threshold = 0.0
        value_branches, unit_branches, code_branches = [], [], []
        for unit, share, decimals in units:
            threshold += share
            factor = _factor(analyte, canonical, unit)
            condition = f"u_unit < {threshold!r}" if threshold < 0.999 else "TRUE"
            value_branches.append(f"WHEN {condition} THEN printf('%.{decimals}f', ({values[analyte]}) * {factor!r})")
            unit_branches.append(f"WHEN {condition} THEN {_text(unit)}")
            code_branches.append(f"WHEN {condition} THEN {_text(_code(analyte, unit))}")
        value_cases.append(f"WHEN {k} THEN CASE {' '.join(value_branches)} END")
        unit_cases.append(f"WHEN {k} THEN CASE {' '.join(unit_branches)} END")
        code_cases.append(f"WHEN {k} THEN CASE {' '.join(code_branches)} END")
        name_list = "[" + ", ".join(_text(name) for name in names) + "]"
        name_cases.append(f"WHEN {k} THEN {name_list}[1 + CAST(floor(u_name * {len(names)}) AS INTEGER)]")
    test_rows = ", ".join(f"({k}, {_text(analyte.value)})" for k, analyte, *_ in tests)
    order_case = " ".join(f"WHEN {k} THEN {orders[analyte]}" for k, analyte, *_ in tests)

    def u(stream: int) -> str:
        return _uniform(seed, stream, "i", "visit", "k")

    return f"""
        WITH patients AS (
            SELECT *, NOT male AND u_preg < 0.06 AS pregnant, u_cause < 0.03 AS n2o FROM ({_patients_sql(n, seed)})
        ),
        visits AS (
            SELECT *, unnest(range(visits)) AS visit FROM patients
        ),
        dated AS (
            SELECT *, DATE {_text(end.isoformat())} - CAST(floor({_uniform(seed, 20, "i", "visit")} * 730) AS INTEGER)
                AS day FROM visits
        ),
        rows AS (
            SELECT d.*, t.k,
                {u(21)} AS u_order, {_normal(seed, 22, "i", "visit", "k")} AS e, {u(24)} AS u_unit,
                {u(25)} AS u_name, {u(26)} AS u_code, {u(27)} AS u_bad, {u(28)} AS u_badkind, {u(29)} AS u_uln
            FROM dated d CROSS JOIN (VALUES {test_rows}) t(k, analyte)
        ),
        ordered AS (
            SELECT * FROM rows WHERE u_order < CASE k {order_case} END
        ),
        shaped AS (
            SELECT
                patient_id, day, k, u_bad, u_badkind,
                CASE k {" ".join(value_cases)} END AS value,
                CASE k {" ".join(unit_cases)} END AS unit,
                CASE WHEN u_code < 0.6 THEN nullif(CASE k {" ".join(code_cases)} END, '') END AS code,
                CASE k {" ".join(name_cases)} END AS name,
                CASE WHEN k = 2 AND u_uln < 0.3 THEN CASE WHEN u_unit < 0.6 THEN '400' ELSE '0.4' END END AS uln
            FROM ordered
        )
        SELECT
            CASE WHEN u_bad < 0.01 AND u_badkind < 0.25 THEN NULL ELSE patient_id END AS patient_id,
            strftime(day, '%Y-%m-%d') AS date,
            CASE WHEN u_bad < 0.01 AND u_badkind >= 0.75 THEN NULL ELSE code END AS code,
            CASE WHEN u_bad < 0.01 AND u_badkind >= 0.75 THEN 'Glucose'
                 WHEN code IS NULL THEN name END AS test,
            CASE WHEN u_bad < 0.01 AND u_badkind >= 0.25 AND u_badkind < 0.5
                 THEN CASE WHEN u_badkind < 0.375 THEN '<50' ELSE 'haemolysed' END
                 ELSE value END AS value,
            CASE WHEN u_bad < 0.01 AND u_badkind >= 0.5 AND u_badkind < 0.75
                 THEN CASE WHEN u_badkind < 0.625 THEN 'IU/L' ELSE 'mmol/dL' END
                 ELSE unit END AS unit,
            uln AS upper_limit
        FROM shaped
    """


def _administrations_sql(n: int, seed: int, end: date) -> str:
    def u(stream: int, *keys: str) -> str:
        return _uniform(seed, stream, "i", *keys)

    return f"""
        WITH patients AS (
            SELECT * FROM ({_patients_sql(n, seed)})
            WHERE z < -1.3 OR (u_cause >= 0.03 AND u_cause < 0.10) OR (u_cause >= 0.28 AND u_cause < 0.30)
        ),
        courses AS (
            SELECT patient_id, i,
                DATE {_text(end.isoformat())} - CAST(floor({u(40)} * 700) AS INTEGER) AS start,
                6 + CAST(floor({u(41)} * 10) AS INTEGER) AS doses
            FROM patients
        ),
        doses AS (
            SELECT patient_id, i, start, unnest(range(doses)) AS dose FROM courses
        )
        SELECT patient_id, strftime(day, '%Y-%m-%d') AS date, '1 mg' AS dose
        FROM (
            SELECT patient_id,
                CASE WHEN dose < 6 THEN start + CAST(dose * 2 + floor(dose / 3) AS INTEGER)
                     ELSE start + 14 + CAST((dose - 5) * 90 + floor({u(42, "dose")} * 21) - 10 AS INTEGER)
                END AS day
            FROM doses
        )
        WHERE day <= DATE {_text(end.isoformat())}
    """


def _attributes_sql(n: int, seed: int) -> str:
    return f"""
        SELECT
            patient_id,
            CASE WHEN u_sexcode < 0.5 THEN (CASE WHEN male THEN 'M' ELSE 'F' END)
                 ELSE (CASE WHEN male THEN 'male' ELSE 'female' END) END AS sex,
            CASE WHEN NOT male AND u_preg < 0.06 THEN 'yes' ELSE 'no' END AS pregnant,
            {_causes_sql()} AS causes,
            {_symptoms_sql()} AS symptoms
        FROM ({_patients_sql(n, seed)})
    """


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    target = _text(str(path))
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        options = "FORMAT parquet, COMPRESSION zstd"
    elif name.endswith(".csv"):
        options = "FORMAT csv, HEADER true"
    else:
        raise ValueError(f"{path}: use .csv or .parquet")
    rows = con.execute(f"COPY ({sql}) TO {target} ({options})").fetchall()
    return int(rows[0][0]) if rows else 0


def _fhir_sql(sql: str) -> str:
    """FHIR R4 Observations, one JSON text per row, from the extract's rows."""
    return f"""
        SELECT to_json(struct_pack(
            resourceType := 'Observation',
            id := 'obs-' || CAST(row_number() OVER () AS VARCHAR),
            status := 'final',
            subject := CASE WHEN patient_id IS NOT NULL THEN struct_pack(reference := 'Patient/' || patient_id) END,
            effectiveDateTime := date,
            code := struct_pack(
                coding := CASE WHEN code IS NOT NULL
                    THEN [struct_pack(system := 'http://loinc.org', code := code)] END,
                text := test),
            valueQuantity := CASE WHEN TRY_CAST(value AS DOUBLE) IS NOT NULL THEN struct_pack(
                value := CAST(value AS DOUBLE), unit := unit, system := 'http://unitsofmeasure.org') END,
            valueString := CASE WHEN TRY_CAST(value AS DOUBLE) IS NULL THEN value END,
            referenceRange := CASE WHEN upper_limit IS NOT NULL
                THEN [struct_pack(high := struct_pack(value := CAST(upper_limit AS DOUBLE)))] END
        )) AS line
        FROM ({sql})
    """


def synthesise(
    patients: int,
    out: Path,
    *,
    seed: int = 12,
    end: date = SYNTH_END,
    administrations: Path | None = None,
    attributes: Path | None = None,
    threads: int | None = None,
) -> SynthResult:
    """Write a synthetic extract of ``patients`` patients to ``out`` (and optionally the other files)."""
    if patients < 1:
        raise ValueError("--patients must be at least 1")
    with duckdb.connect(config={"preserve_insertion_order": True, **({"threads": threads} if threads else {})}) as con:
        con.execute("SET enable_progress_bar = false").fetchall()
        sql = _observations_sql(patients, seed, end)
        if out.name.lower().endswith((".ndjson", ".jsonl")):
            out.parent.mkdir(parents=True, exist_ok=True)
            lines = con.execute(
                f"COPY ({_fhir_sql(sql)}) TO {_text(str(out))} (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', "
                "DELIMITER '\\x1f')"
            ).fetchall()
            rows = int(lines[0][0]) if lines else 0
        else:
            rows = _copy(con, sql, out)
        given = _copy(con, _administrations_sql(patients, seed, end), administrations) if administrations else 0
        if attributes is not None:
            _copy(con, _attributes_sql(patients, seed), attributes)
    return SynthResult(out, rows, patients, administrations, given, attributes)
