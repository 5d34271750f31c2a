"""One rule source, two engines: the same extract triaged on DuckDB and on Spark gives the same rows,
and both agree with the core's single-patient interpretation."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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

ROOT = Path(__file__).resolve().parents[2]


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


# The b12 command of this interpreter, in a fresh process (the Spark Connect client is then its own).
B12 = (sys.executable, "-c", "from b12.adapters.cli import main; raise SystemExit(main())")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def spark_connect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Spark Connect server (scripts/spark_connect_server.py) on a free loopback port: its sc:// URL."""
    pytest.importorskip("pyspark", reason="the Spark extra is not installed (uv sync --all-extras)")
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "spark_connect_server.py"), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "ready sc://" not in log.read_text(errors="replace"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


def test_the_cli_triages_through_a_spark_connect_server_as_duckdb_does(tmp_path: Path, spark_connect: str) -> None:
    observations = tmp_path / "observations.csv"
    synthesise(300, observations, seed=3)
    command = [*B12, "triage"]
    outputs = {}
    for engine, extra in (("duckdb", []), ("spark", ["--engine", "spark", "--spark-remote", spark_connect])):
        out = tmp_path / f"{engine}.parquet"
        done = subprocess.run(
            [*command, str(observations), "--out", str(out), "--as-of", SYNTH_AS_OF.isoformat(), *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[engine] = pq.read_table(out).sort_by("patient_id")

    assert outputs["duckdb"].num_rows == 300
    assert outputs["duckdb"].equals(outputs["spark"])


def test_an_unreachable_spark_connect_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="the Spark extra is not installed (uv sync --all-extras)")
    observations = tmp_path / "observations.csv"
    synthesise(5, observations, seed=3)
    command = [*B12, "triage"]
    remote = f"sc://127.0.0.1:{_free_port()}"  # nothing listens there
    options = ["--out", str(tmp_path / "x.parquet"), "--engine", "spark", "--spark-remote", remote]
    done = subprocess.run(
        [*command, str(observations), *options],
        capture_output=True,
        text=True,
        timeout=120,  # the Spark Connect client alone would retry for minutes
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert remote in done.stderr
