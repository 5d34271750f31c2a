"""Clinic-scale triage speed, measured side by side with a bare DuckDB scan of the same Parquet file.

In one run, on a seeded synthetic extract (``b12 synth``: observations, administrations and patient
attributes; cached under ``bench/out/``, made again when missing):

- (a) a bare DuckDB ``SELECT patient_id, count(*) FROM read_parquet(...) GROUP BY patient_id`` of the
  observations file, its result fetched as Arrow;
- (b) the full triage on DuckDB, ``run_triage`` from reading the three files to writing the per-patient
  Parquet file, the rejects file and the summary;
- (c) ``bench/pandas_triage.py``, the same rules written plainly in pandas (run once: it is slow), whose
  output is compared with (b)'s, patient by patient.

(a) and (b) run alternately, each in a fresh process, ``--runs`` times; the medians are compared.
Targets (issue 5): (b)/(a) at most 2, (c)/(b) at least 20. For context (one run each, not targets): (a')
the same GROUP BY reading every column the triage reads, and (w) the triage's output file read back and
written again, a floor for producing it. The peak memory is the triage process's
maximum resident set. ``--large`` also triages 100,000,000 rows on DuckDB under ``--memory-limit``,
spilling to a temporary folder, and reports whether it completed, its time and its peak memory.

    .venv/bin/python bench/triage.py [--rows 10000000] [--runs 3] [--no-pandas] [--large] [--enforce]

Exit status: 0 whether the targets are met or not, unless ``--enforce`` (then 1 on FAIL).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
TARGET_RATIO = 2.0
TARGET_SPEEDUP = 20.0
ROWS_PER_PATIENT = 5.25  # b12 synth makes about this many observation rows per patient
AS_OF = date(2026, 1, 1)
SEED = 12
FILES = ("observations.parquet", "administrations.parquet", "patients.parquet")


def extract(rows: int) -> Path:
    """The cached synthetic extract of about ``rows`` observation rows (made when missing)."""
    folder = OUT / f"triage-{rows}"
    meta = folder / "extract.json"
    if meta.exists() and all((folder / name).exists() for name in FILES):
        return folder
    from b12.adapters.triage.synth import synthesise

    folder.mkdir(parents=True, exist_ok=True)
    patients = max(1, round(rows / ROWS_PER_PATIENT))
    print(f"making the extract: {patients:,} patients (about {rows:,} rows) in {folder} …", flush=True)
    started = time.perf_counter()
    made = synthesise(
        patients,
        folder / FILES[0],
        seed=SEED,
        administrations=folder / FILES[1],
        attributes=folder / FILES[2],
    )
    seconds = time.perf_counter() - started
    meta.write_text(json.dumps({"rows": made.rows, "patients": patients, "administrations": made.administration_rows}))
    print(f"  {made.rows:,} rows, {made.administration_rows:,} administrations in {seconds:.1f} s", flush=True)
    return folder


# --- workers: each measurement runs in its own process --------------------------------------------------


def work(kind: str, folder: Path, memory_limit: str | None, temp: Path | None) -> dict[str, object]:
    obs, adm, pat = (folder / name for name in FILES)
    result: dict[str, object] = {}
    if kind == "bare":
        import duckdb

        with duckdb.connect() as con:
            started = time.perf_counter()
            sql = f"SELECT patient_id, count(*) FROM read_parquet('{obs}') GROUP BY patient_id"
            groups = con.sql(sql).to_arrow_table().num_rows
            result["seconds"] = time.perf_counter() - started
            result["groups"] = groups
    elif kind in ("bare_all", "rewrite"):
        # Context for the ratio, not a target: the same GROUP BY reading every column the triage reads, and
        # the triage's own output read back and written again (what producing that file costs at least).
        import duckdb

        with duckdb.connect() as con:
            started = time.perf_counter()
            if kind == "bare_all":
                columns = ", ".join(f"max({c})" for c in ("date", "code", "test", "value", "unit", "upper_limit"))
                sql = f"SELECT patient_id, count(*), {columns} FROM read_parquet('{obs}') GROUP BY patient_id"
                result["groups"] = con.sql(sql).to_arrow_table().num_rows
            else:
                copy = folder / "rewrite.parquet"
                written = folder / "triage.parquet"
                con.execute(f"COPY (FROM read_parquet('{written}')) TO '{copy}' (FORMAT parquet, COMPRESSION zstd)")
                copy.unlink()
            result["seconds"] = time.perf_counter() - started
    elif kind == "triage":
        import ibis

        from b12.adapters.triage import TriageOptions, run_triage

        # Modules are imported before the clock starts, as (a) imports duckdb before its clock: what is
        # timed is the triage, not Python compiling ibis and sqlglot (PYTHONDONTWRITEBYTECODE=1 here).
        ibis.to_sql(ibis.table({"a": "int64"}, name="t").mutate(b=ibis.literal(1)), dialect="duckdb")
        ibis.duckdb.connect().disconnect()

        options = TriageOptions(
            obs,
            folder / "triage.parquet",
            AS_OF,
            administrations=adm,
            patients=pat,
            memory_limit=memory_limit,
            temp_directory=temp,
        )
        started = time.perf_counter()
        done = run_triage(options)
        result["seconds"] = time.perf_counter() - started
        result["stages"] = done.seconds
        result["patients"] = done.summary.patients
        result["rows"] = done.summary.observations_read
    elif kind == "pandas":
        sys.path.insert(0, str(HERE))
        import pandas_triage

        started = time.perf_counter()
        result["stages"] = pandas_triage.triage(obs, folder / "pandas.parquet", AS_OF, adm, pat)
        result["seconds"] = time.perf_counter() - started
    else:
        raise SystemExit(f"unknown worker {kind!r}")
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def measure(kind: str, folder: Path, memory_limit: str | None = None, temp: Path | None = None) -> dict[str, object]:
    """Run one worker in a fresh process; with ``temp``, also watch how much it spills there."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--data", str(folder)]
    if memory_limit:
        command += ["--memory-limit", memory_limit]
    if temp:
        command += ["--temp", str(temp)]
    spilled = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        while process.poll() is None and temp is not None:
            spilled = max(spilled, folder_size(temp))
            time.sleep(0.25)
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{kind} run failed ({process.returncode}):\n{stderr[-3000:]}")
    result = dict(json.loads(stdout.strip().splitlines()[-1]))
    result["spilled_mb"] = spilled / 2**20
    return result


def folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*") if folder.exists() else ():
        with contextlib.suppress(OSError):  # a spill file removed while walking
            total += path.stat().st_size
    return total


def same_output(folder: Path) -> str:
    """Compare the pandas output with the triage's, patient by patient (every column, and the rejects)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ours = pq.read_table(folder / "triage.parquet").sort_by("patient_id")
    theirs = pq.read_table(folder / "pandas.parquet").cast(ours.schema).sort_by("patient_id")
    if ours.num_rows != theirs.num_rows:
        return f"DIFFERENT ({ours.num_rows:,} vs {theirs.num_rows:,} patients)"
    differing = [c for c in ours.column_names if not ours[c].equals(theirs[c])]
    rejects = [pq.read_table(folder / f"{stem}.rejects.parquet") for stem in ("triage", "pandas")]
    order = [(name, "ascending") for name in rejects[0].column_names]
    same_rejects = rejects[0].sort_by(order).equals(rejects[1].select(rejects[0].column_names).sort_by(order))
    if not differing and same_rejects:
        return f"identical ({ours.num_rows:,} patients, {rejects[0].num_rows:,} rejects)"
    status = pc.sum(pc.equal(ours["status"], theirs["status"])).as_py()
    return f"DIFFERENT: columns {', '.join(differing) or '-'}; rejects same: {same_rejects}; status same {status:,}"


def seconds(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000, help="observation rows (default 10,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of (a) and (b), interleaved (default 3)")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas run (c)")
    parser.add_argument("--large", action="store_true", help="also triage --large-rows rows out of core")
    parser.add_argument("--large-rows", type=int, default=100_000_000)
    parser.add_argument(
        "--memory-limit", default="4GB", help="DuckDB memory limit of the large run (default 4GB: it spills)"
    )
    parser.add_argument("--enforce", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--temp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(work(args.worker, args.data, args.memory_limit if args.temp else None, args.temp)))
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    folder = extract(args.rows)
    meta = json.loads((folder / "extract.json").read_text())
    print(
        f"extract: {meta['rows']:,} observation rows, {meta['administrations']:,} administrations, "
        f"{meta['patients']:,} patients ({folder.relative_to(HERE.parent)}); {os.cpu_count()} cores"
    )
    loaded = f"{os.getloadavg()[0]:.1f}"  # other work on the machine skews every figure
    measure("bare", folder)  # warm-up: the file in the page cache, the interpreter's imports
    bare: list[float] = []
    triage: list[float] = []
    runs: list[dict[str, object]] = []
    for _ in range(args.runs):
        bare.append(float(measure("bare", folder)["seconds"]))
        run = measure("triage", folder)
        runs.append(run)
        triage.append(float(run["seconds"]))
    ratio = statistics.median(triage) / statistics.median(bare)
    middle = sorted(runs, key=lambda r: float(r["seconds"]))[len(runs) // 2]
    peak = max(float(r["max_rss_mb"]) for r in runs)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in middle["stages"].items())

    lines = [
        f"(a) bare DuckDB GROUP BY patient   {seconds(bare)}",
        f"(b) b12 triage on DuckDB           {seconds(triage)}",
        f"    stages of the median run (s): {stages}",
        f"    peak memory (max RSS)          {peak:7.0f} MB",
        f"ratio (b)/(a)   {ratio:6.2f}   (target ≤ {TARGET_RATIO:g})   {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}",
    ]
    passed = ratio <= TARGET_RATIO
    every_column = float(measure("bare_all", folder)["seconds"])
    rewrite = float(measure("rewrite", folder)["seconds"])
    lines += [
        "    context, one run each (not targets):",
        f"    (a') GROUP BY patient reading all 7 columns  {every_column:6.2f} s   (b)/(a') "
        f"{statistics.median(triage) / every_column:5.2f}",
        f"    (w) the triage's output read and written again by DuckDB  {rewrite:6.2f} s   (w)/(a) "
        f"{rewrite / statistics.median(bare):5.2f}",
    ]
    if not args.no_pandas:
        panda = measure("pandas", folder)
        speedup = float(panda["seconds"]) / statistics.median(triage)
        passed &= speedup >= TARGET_SPEEDUP
        pandas_stages = ", ".join(f"{k} {v:.1f}" for k, v in panda["stages"].items())
        lines[3:3] = [
            f"(c) pandas, same rules (1 run)     {float(panda['seconds']):7.2f} s  ({pandas_stages})",
            f"    pandas peak memory             {float(panda['max_rss_mb']):7.0f} MB",
            f"    pandas output vs the triage's: {same_output(folder)}",
        ]
        lines.append(
            f"speed-up (c)/(b) {speedup:6.1f}×  (target ≥ {TARGET_SPEEDUP:g}×)  "
            f"{'PASS' if speedup >= TARGET_SPEEDUP else 'FAIL'}"
        )
    print(
        f"runs: {args.runs} of (a) and (b), interleaved, each in a fresh process (imports before the clock), "
        f"after a warm-up scan; load average {loaded} before, {os.getloadavg()[0]:.1f} after"
    )
    print("\n".join(lines))

    if args.large:
        big = extract(args.large_rows)
        meta = json.loads((big / "extract.json").read_text())
        temp = OUT / "spill"
        shutil.rmtree(temp, ignore_errors=True)
        scan = measure("bare", big)
        try:
            run = measure("triage", big, memory_limit=args.memory_limit, temp=temp)
            verdict = f"completed: {int(run['patients']):,} patients"
        except SystemExit as failure:
            run, verdict = {"seconds": float("nan"), "max_rss_mb": float("nan")}, f"FAILED: {failure}"
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        total_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        print(
            f"large: {meta['rows']:,} rows, DuckDB memory_limit {args.memory_limit} "
            f"(machine {total_memory:.0f} GiB), spilling to {temp.relative_to(HERE.parent)}"
        )
        print(f"    bare GROUP BY patient          {float(scan['seconds']):7.2f} s")
        print(f"    b12 triage                     {float(run['seconds']):7.2f} s   {verdict}")
        print(f"    peak memory (max RSS)          {float(run['max_rss_mb']):7.0f} MB")
        print(f"    spilled to disk, at most       {float(run.get('spilled_mb', 0)):7.0f} MB")
    return 1 if args.enforce and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
