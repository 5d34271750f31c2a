"""One rule source, two engines: the same extract triaged on DuckDB and on Spark gives the same rows,
and both agree with the core's single-patient interpretation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import triage_oracle as oracle
from b12.adapters.triage import TriageOptions, TriageResult, run_triage
from b12.adapters.triage.engines import SparkEngine
from b12.adapters.triage.synth import synthesise
from triage_oracle import SYNTH_AS_OF, check_against_core


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("spark")
    paths = {"obs": folder / "obs.csv", "adm": folder / "adm.csv", "pat": folder / "patients.csv"}
    synthesise(2000, paths["obs"], seed=11, administrations=paths["adm"], attributes=paths["pat"])
    return paths


def _run(paths: dict[str, Path], engine: str, spark: Any = None) -> TriageResult:
    options = TriageOptions(
        paths["obs"],
        paths["obs"].with_name(f"{engine}.parquet"),
        SYNTH_AS_OF,
        administrations=paths["adm"],
        patients=paths["pat"],
    )
    if spark is None:
        return run_triage(options)
    return run_triage(options, engine=SparkEngine(session=spark))


def _same_files(duck: TriageResult, sparked: TriageResult) -> None:
    tables = [pq.read_table(r.out).sort_by("patient_id") for r in (duck, sparked)]
    assert tables[0].schema == tables[1].schema
    assert tables[0].equals(tables[1])
    rejects = [pq.read_table(r.rejects) for r in (duck, sparked)]
    order = [(name, "ascending") for name in rejects[0].column_names]
    assert rejects[0].sort_by(order).equals(rejects[1].sort_by(order))
    assert duck.summary == sparked.summary


def test_the_hand_written_edge_cases_and_their_rejects_are_the_same_on_both_engines(tmp_path: Path, spark: Any) -> None:
    paths = {"obs": tmp_path / "obs.csv", "adm": tmp_path / "adm.csv", "pat": tmp_path / "patients.csv"}
    for key, text in (("obs", oracle.OBSERVATIONS), ("adm", oracle.ADMINISTRATIONS), ("pat", oracle.PATIENTS)):
        paths[key].write_text(text, encoding="utf-8")
    options = TriageOptions(
        paths["obs"],
        tmp_path / "duckdb.parquet",
        oracle.EDGE_AS_OF,
        administrations=paths["adm"],
        patients=paths["pat"],
    )
    duck = run_triage(options)
    sparked = run_triage(replace(options, out=tmp_path / "spark.parquet"), engine=SparkEngine(session=spark))
    assert duck.summary.rejected > 10
    _same_files(duck, sparked)


def test_duckdb_and_spark_give_identical_per_patient_results(extract: dict[str, Path], spark: Any) -> None:
    duck = _run(extract, "duckdb")
    sparked = _run(extract, "spark", spark)
    assert sparked.engine == "spark"
    tables = [pq.read_table(r.out).sort_by("patient_id") for r in (duck, sparked)]
    assert tables[0].num_rows > 1900
    assert tables[0].schema == tables[1].schema
    assert tables[0].equals(tables[1])
    rejects = [pq.read_table(r.rejects) for r in (duck, sparked)]
    order = [(name, "ascending") for name in rejects[0].column_names]
    assert rejects[0].sort_by(order).equals(rejects[1].sort_by(order))
    assert duck.summary == sparked.summary
    assert check_against_core(tables[1].to_pylist(), extract, sample=200, seed=2) >= 190


def test_fhir_ndjson_observations_give_identical_results_on_both_engines(tmp_path: Path, spark: Any) -> None:
    observations = tmp_path / "observations.ndjson"
    synthesise(300, observations, seed=5)
    broken = observations.read_text(encoding="utf-8") + '{"resourceType": "Observation", "status": \n'
    observations.write_text(broken, encoding="utf-8")
    options = TriageOptions(observations, tmp_path / "duckdb.parquet", SYNTH_AS_OF)

    duck = run_triage(options)
    sparked = run_triage(replace(options, out=tmp_path / "spark.parquet"), engine=SparkEngine(session=spark))

    assert duck.summary.patients > 250
    assert duck.summary.rejected >= 1  # the broken line, rejected on both engines
    _same_files(duck, sparked)
