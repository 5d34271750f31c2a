"""b12 triage and b12 synth on DuckDB: units and thresholds from the domain's data, rejects, FHIR input,
agreement with labs.interpret, and the CLI's exits."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

import triage_oracle as oracle
from b12.adapters.cli.triage_cli import register
from b12.adapters.triage import TriageOptions, rules, run_triage
from b12.adapters.triage.synth import synthesise
from b12.adapters.triage.vocabulary import analyte_table, conversions, unit_table
from b12.domain.guidelines import load_guideline
from b12.domain.guidelines.thresholds import load_threshold_set
from b12.domain.units import convert, parse_unit

AS_OF = oracle.EDGE_AS_OF
SYNTH_AS_OF = oracle.SYNTH_AS_OF

OBSERVATIONS, ADMINISTRATIONS, PATIENTS = oracle.OBSERVATIONS, oracle.ADMINISTRATIONS, oracle.PATIENTS


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    folder = tmp_path_factory.mktemp("small")
    result = run_triage(
        TriageOptions(
            input=_write(folder, "obs.csv", OBSERVATIONS),
            out=folder / "out.parquet",
            as_of=AS_OF,
            administrations=_write(folder, "adm.csv", ADMINISTRATIONS),
            patients=_write(folder, "patients.csv", PATIENTS),
        )
    )
    rows = pq.read_table(result.out).to_pylist()
    rejects = pq.read_table(result.rejects).to_pylist()
    return {
        "patients": {str(r["patient_id"]): r for r in rows},
        "rejects": {"rows": rejects},  # type: ignore[dict-item]
        "summary": {"value": result.summary},  # type: ignore[dict-item]
    }


# --- vocabulary: every key and factor comes from b12.domain.units ----------------------------------------


def test_every_unit_key_the_engine_matches_reads_as_the_same_unit_in_the_domain() -> None:
    for kind, key, symbol in zip(*unit_table().to_pydict().values(), strict=True):
        assert parse_unit(key).symbol == symbol, (kind, key)


def test_every_conversion_factor_equals_the_domain_conversion() -> None:
    for name in ("nice-ng239", "bsh-2014", "ruh-bath"):
        for c in conversions(load_threshold_set(name)):
            expected = convert(100, c.unit.symbol, c.target, analyte=c.analyte.value).value / 100
            assert c.factor == pytest.approx(expected, rel=1e-12), (c.analyte, c.unit.symbol)


def test_every_loinc_code_and_analyte_name_is_a_lookup_key() -> None:
    keys = dict(zip(analyte_table()["key"].to_pylist(), analyte_table()["analyte"].to_pylist(), strict=True))
    assert keys["2132-9"] == keys["14685-2"] == keys["vitamin b12"] == keys["b12 total"] == "b12_total"
    assert keys["holotc"] == "b12_active"
    assert keys["13964-2"] == keys["mma"] == "mma"


# --- classification -----------------------------------------------------------------------------------


def test_a_low_total_b12_with_paraesthesia_is_confirmed_and_urgent(small: dict[str, dict[str, object]]) -> None:
    p1 = small["patients"]["P1"]
    assert isinstance(p1, dict)
    assert p1["status"] == "confirmed"
    assert (p1["priority"], p1["action_rule"]) == (1, "NEURO-URGENT")
    assert oracle.codes(p1["findings"]) == {"anaemia", "macrocytosis"}
    assert (p1["b12_total_value"], p1["hemoglobin_value"], p1["hemoglobin_unit"]) == (150, 115, "g/L")


def test_a_pmol_per_l_result_meets_the_pmol_per_l_cut_offs_not_the_converted_ng_per_l_ones(
    small: dict[str, dict[str, object]],
) -> None:
    # 132.9 pmol/L is below NICE's 133 pmol/L (confirmed); converted it would be 180.1 ng/L (indeterminate).
    p7 = small["patients"]["P7"]
    assert isinstance(p7, dict)
    assert (p7["status"], p7["b12_total_unit"], p7["b12_total_value"]) == ("confirmed", "pmol/L", 132.9)


def test_boundary_values_fall_where_the_threshold_file_puts_them(small: dict[str, dict[str, object]]) -> None:
    statuses = {pid: row["status"] for pid, row in small["patients"].items() if isinstance(row, dict)}
    assert statuses["P8"] == "indeterminate"  # 180 pg/mL = 180 ng/L, "[180, 350]"
    assert statuses["P9"] == "unlikely"  # 350.5 ng/L, "(350, inf)"
    assert statuses["P10"] == "indeterminate"  # active 25 pmol/L, "[25, 70]"


def test_a_b12_sample_nine_days_after_an_injection_is_not_classified(small: dict[str, dict[str, object]]) -> None:
    p2 = small["patients"]["P2"]
    assert isinstance(p2, dict)
    assert p2["status"] == "not_assessable"
    assert "recent_injection:DX-RECENT-INJ" in str(p2["flags"])
    # MMA 0.5 µmol/L against the lab's own upper limit 0.4 µmol/L, in the unit reported.
    assert "raised_mma:DX-MMA" in str(p2["findings"])
    assert p2["mma_value"] == 500


def test_an_injection_more_than_the_longest_maintenance_interval_ago_is_overdue(
    small: dict[str, dict[str, object]],
) -> None:
    p6 = small["patients"]["P6"]
    assert isinstance(p6, dict)
    assert oracle.codes(p6["flags"]) == {"injection_overdue", "review_overdue"}
    assert p6["injections"] == 1  # the administration after --as-of is rejected, not counted


def test_pregnancy_and_nitrous_oxide_ask_for_their_own_next_tests(small: dict[str, dict[str, object]]) -> None:
    p3 = small["patients"]["P3"]
    assert isinstance(p3, dict)
    assert p3["pregnant"] is True  # one of two rows for P3; the other is rejected as a duplicate
    assert oracle.pairs(p3["next_tests"]) == {("homocysteine", "DX-N2O")}


def test_a_patient_whose_rows_were_all_rejected_is_still_listed_as_not_assessable(
    small: dict[str, dict[str, object]],
) -> None:
    p4 = small["patients"]["P4"]
    assert isinstance(p4, dict)
    assert (p4["status"], p4["results"], p4["rejected_rows"]) == ("not_assessable", 0, 4)


def test_every_unreadable_row_is_written_to_the_rejects_file_with_its_reason(
    small: dict[str, dict[str, object]],
) -> None:
    rows = small["rejects"]["rows"]
    assert isinstance(rows, list)
    reasons = sorted((r["source"], r["reason"].split(" (")[0]) for r in rows)
    assert reasons == [
        ("administrations", "administration dated after --as-of"),
        ("administrations", "missing patient id"),
        ("observations", "date before 1900-01-01 or after 2199-12-31"),
        ("observations", "missing or unreadable date"),
        ("observations", "missing patient id"),
        ("observations", "non-numeric value"),
        ("observations", "non-numeric value"),
        ("observations", "non-numeric value"),
        ("observations", "non-numeric value"),
        ("observations", "non-numeric value"),
        ("observations", "unit cannot be converted for this test"),
        ("observations", "unknown test"),
        ("observations", "unknown unit"),
        ("observations", "value outside b12's input sanity bounds for its unit"),
        ("observations", "value outside b12's input sanity bounds for its unit"),
        ("observations", "value too large"),
        ("patients", "duplicate patient id"),
    ]
    summary = small["summary"]["value"]
    assert summary.rejected == len(rows)  # type: ignore[attr-defined]
    assert summary.observations_read == OBSERVATIONS.count("\n") - 1  # type: ignore[attr-defined]


def test_dates_and_values_beyond_what_the_triage_reads_are_rejected_not_clipped(
    small: dict[str, dict[str, object]],
) -> None:
    # The sort key holds dates 1900-2199 and values up to 2,199,023 (rules.MAX_MICRO millionths).
    p12 = small["patients"]["P12"]
    assert isinstance(p12, dict)
    assert (p12["status"], p12["results"], p12["rejected_rows"]) == ("not_assessable", 0, 2)
    assert rules.VALUE_OUT_OF_RANGE_TEXT in rules.Reason.VALUE_OUT_OF_RANGE


def test_only_plain_decimal_numbers_are_values_whatever_one_engine_alone_would_accept(
    small: dict[str, dict[str, object]],
) -> None:
    # "1_000" (DuckDB reads 1000), "250d" (Spark reads 250), NaN and Infinity are rejected; " 1e2 " is 100.
    p15 = small["patients"]["P15"]
    assert isinstance(p15, dict)
    assert (p15["b12_total_value"], p15["results"], p15["rejected_rows"]) == (100.0, 1, 4)
    rejected = {r["value"] for r in small["rejects"]["rows"] if r["patient_id"] == "P15"}  # type: ignore[attr-defined]
    assert rejected == {"1_000", "NaN", "250d", "Infinity"}


def test_a_value_the_core_would_refuse_as_implausible_is_rejected_not_classified(
    small: dict[str, dict[str, object]],
) -> None:
    # units.toml: MCV is read up to 1000 fL, a mass concentration down to 0.001 pg/mL (sanity, not clinical).
    p16 = small["patients"]["P16"]
    assert isinstance(p16, dict)
    assert (p16["mcv_value"], p16["b12_total_value"], p16["results"], p16["rejected_rows"]) == (99.0, None, 1, 2)


def test_on_the_same_date_and_value_the_smaller_number_as_reported_is_the_latest_result(
    small: dict[str, dict[str, object]],
) -> None:
    # 0.5 µmol/L (above its lab's 0.4) and 500 nmol/L (below its lab's 600) on one day: both 500 nmol/L; the
    # one reported with the larger factor (µmol/L, the smaller number) is the latest result, as before.
    p13 = small["patients"]["P13"]
    assert isinstance(p13, dict)
    assert (p13["mma_value"], p13["mma_unit"]) == (500, "nmol/L")
    assert "raised_mma:DX-MMA" in str(p13["findings"])


def test_normalised_values_are_kept_to_six_decimals(small: dict[str, dict[str, object]]) -> None:
    p14 = small["patients"]["P14"]
    assert isinstance(p14, dict)
    assert p14["b12_active_value"] == 30.123457


def test_every_output_column_is_optional_in_the_parquet_schema(tmp_path: Path) -> None:
    # DuckDB marks a column REQUIRED when it holds no NULL; the file's schema must not change with the data.
    source = _write(tmp_path, "obs.csv", "patient,date,test,value,unit\nA,2024-01-01,B12,700,pmol/L\n")
    result = run_triage(TriageOptions(source, tmp_path / "out.parquet", AS_OF))
    assert all(field.nullable for field in pq.read_schema(result.out))
    assert pq.read_schema(result.out).remove_metadata() == rules.OUTPUT_SCHEMA


@pytest.mark.parametrize(
    ("thresholds", "guideline"),
    [
        *((name, "uk") for name in ("nice-ng239", "bsh-2014", "ruh-bath", "north-bristol")),
        ("nice-ng239", "us-label"),
        ("nice-ng239", "us-practice"),
    ],
)
def test_every_threshold_set_and_guideline_writes_its_texts_as_declared_categories(
    extract: dict[str, Path], thresholds: str, guideline: str, tmp_path: Path
) -> None:
    # The Parquet writer stores these columns as categories (rules.output_categories): a value missing from
    # them would fail the run.
    options = TriageOptions(
        extract["obs"],
        tmp_path / "out.parquet",
        SYNTH_AS_OF,
        thresholds=thresholds,
        guideline=guideline,
        administrations=extract["adm"],
        patients=extract["pat"],
    )
    table = pq.read_table(run_triage(options).out)
    data = rules.rule_data(load_threshold_set(thresholds), load_guideline(guideline), SYNTH_AS_OF)
    for column, values in rules.output_categories(data).items():
        assert set(table[column].drop_null().to_pylist()) <= set(values), column


def test_a_local_lab_set_without_a_pmol_per_l_scale_converts_and_says_so(tmp_path: Path) -> None:
    source = _write(tmp_path, "obs.csv", "patient,date,test,value,unit\nA,2024-01-01,B12,700,pmol/L\n")
    result = run_triage(TriageOptions(source, tmp_path / "out.csv", AS_OF, thresholds="ruh-bath"))
    (row,) = pacsv.read_csv(result.out).to_pylist()
    # 700 pmol/L = 948.8 ng/L: above RUH's 914 ng/L, the "Raised" band.
    assert (row["b12_total_unit"], row["b12_total_band"]) == ("ng/L", "Raised")
    assert oracle.pairs(row["findings"]) == {("raised_b12", "DX-LAB"), ("converted_for_scale", "DX-LAB")}


def test_parquet_input_with_typed_columns_is_read_like_text(tmp_path: Path) -> None:
    table = pa.table(
        {
            "Patient": ["A", "A"],
            "Collected": pa.array([date(2024, 1, 1), date(2024, 2, 1)]),
            "LOINC": ["2132-9", "2132-9"],
            "Result": [150.0, 400.0],
            "Units": ["ng/L", "ng/L"],
        }
    )
    pq.write_table(table, tmp_path / "obs.parquet")
    result = run_triage(TriageOptions(tmp_path / "obs.parquet", tmp_path / "out.parquet", AS_OF))
    (row,) = pq.read_table(result.out).to_pylist()
    assert (row["status"], row["b12_total_value"], row["b12_total_date"]) == ("unlikely", 400.0, date(2024, 2, 1))


# --- FHIR NDJSON ----------------------------------------------------------------------------------------


def test_fhir_ndjson_observations_give_the_same_triage_as_the_same_rows_in_csv(tmp_path: Path) -> None:
    synthesise(400, tmp_path / "obs.csv", seed=5)
    synthesise(400, tmp_path / "obs.ndjson", seed=5)
    results = [
        run_triage(TriageOptions(tmp_path / f"obs.{kind}", tmp_path / f"{kind}.parquet", SYNTH_AS_OF))
        for kind in ("csv", "ndjson")
    ]
    tables = [pq.read_table(r.out).sort_by("patient_id") for r in results]
    assert tables[0].num_rows > 300
    assert tables[0].equals(tables[1])
    assert results[0].summary.rejects_by_reason == results[1].summary.rejects_by_reason


def test_a_broken_ndjson_line_and_a_non_observation_are_rejected_not_skipped(tmp_path: Path) -> None:
    observation = {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/A"},
        "effectiveDateTime": "2024-01-01T09:30:00+01:00",
        "code": {"coding": [{"system": "http://loinc.org", "code": "14685-2"}]},
        "valueQuantity": {"value": 100, "unit": "pmol/L"},
    }
    lines = [
        json.dumps(observation),
        '{"resourceType": "Observation", "subject": ',
        json.dumps({"resourceType": "Patient"}),
    ]
    source = _write(tmp_path, "obs.ndjson", "\n".join(lines) + "\n")
    result = run_triage(TriageOptions(source, tmp_path / "out.csv", AS_OF))
    (row,) = pacsv.read_csv(result.out).to_pylist()
    assert (row["patient_id"], row["status"]) == ("A", "confirmed")
    reasons = sorted(pacsv.read_csv(result.rejects)["reason"].to_pylist())
    assert reasons == ["not a FHIR Observation", "not valid JSON"]


# --- agreement with the clinical core ------------------------------------------------------------------


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("extract")
    paths = {"obs": folder / "obs.csv", "adm": folder / "adm.csv", "pat": folder / "patients.csv"}
    synthesise(3000, paths["obs"], seed=7, administrations=paths["adm"], attributes=paths["pat"])
    return paths


def test_triage_agrees_with_the_core_interpretation_for_a_sample_of_patients(extract: dict[str, Path]) -> None:
    result = run_triage(
        TriageOptions(
            extract["obs"],
            extract["obs"].with_name("out.parquet"),
            SYNTH_AS_OF,
            administrations=extract["adm"],
            patients=extract["pat"],
        )
    )
    rows = pq.read_table(result.out).to_pylist()
    assert {r["status"] for r in rows} == {"confirmed", "indeterminate", "unlikely", "not_assessable"}
    assert oracle.check_against_core(rows, extract, sample=400, seed=1) >= 380


# --- synth ------------------------------------------------------------------------------------------------


def test_synth_is_reproducible_from_its_seed_and_mixes_units(tmp_path: Path) -> None:
    first = synthesise(300, tmp_path / "a.csv", seed=3)
    synthesise(300, tmp_path / "b.csv", seed=3)
    synthesise(300, tmp_path / "c.csv", seed=4)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    table = pacsv.read_csv(tmp_path / "a.csv", convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert table.num_rows == first.rows
    assert {"ng/L", "pg/mL", "pmol/L", "g/dL", "g/L", "µmol/L", "nmol/L"} <= set(table["unit"].to_pylist())


# --- CLI --------------------------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """b12 (test app)."""

    register(app)
    return app


def test_synth_then_triage_through_the_cli_prints_a_summary_and_writes_csv(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(
        _app(),
        ["synth", "--patients", "200", "--out", str(tmp_path / "x.parquet"), "--attributes", str(tmp_path / "p.csv")],
    )
    assert made.exit_code == 0, made.output
    run = runner.invoke(
        _app(),
        [
            "triage",
            str(tmp_path / "x.parquet"),
            "--out",
            str(tmp_path / "t.csv"),
            "--patients",
            str(tmp_path / "p.csv"),
            "--as-of",
            "2026-01-01",
        ],
    )
    assert run.exit_code == 0, run.output
    assert "Rejected rows" in run.output
    assert "unlikely" in run.output
    assert (tmp_path / "t.csv").exists()
    assert (tmp_path / "t.rejects.csv").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param([], "no such file", id="missing-input"),
        pytest.param(["--thresholds", "nice-2099"], "Unknown threshold set 'nice-2099'", id="unknown-thresholds"),
        pytest.param(["--as-of", "yesterday"], "is not an ISO date", id="bad-as-of"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    source = tmp_path / "missing.csv" if not extra else _write(tmp_path, "obs.csv", OBSERVATIONS)
    result = CliRunner().invoke(_app(), ["triage", str(source), "--out", str(tmp_path / "o.csv"), *extra])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert message in lines[0]


def test_a_required_column_missing_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    source = _write(tmp_path, "obs.csv", "patient,date,test,value\nA,2024-01-01,B12,100\n")
    result = CliRunner().invoke(_app(), ["triage", str(source), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "no column for unit" in result.output


def test_neither_importing_b12_nor_the_triage_command_imports_pyspark_or_pandas(tmp_path: Path) -> None:
    source = _write(tmp_path, "obs.csv", OBSERVATIONS)
    code = (
        "import sys, b12, b12.adapters.cli.triage_cli\n"
        "assert not {'pyspark', 'duckdb', 'ibis'} & set(sys.modules), 'imported at start-up'\n"
        "from datetime import date\nfrom pathlib import Path\n"
        "from b12.adapters.triage import TriageOptions, run_triage\n"
        f"run_triage(TriageOptions(Path({str(source)!r}), Path({str(tmp_path / 'o.csv')!r}), date(2024, 6, 1)))\n"
        "assert 'pyspark' not in sys.modules\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
