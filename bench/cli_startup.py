"""CLI start-up cost, measured side by side with a bare Python start-up.

Runs ``b12 convert 1000 mcg mg`` and ``python -c pass`` alternately (after warm-up runs of each), so that
both see the same machine load, and compares the median wall times. Target: the CLI takes at most 8 times as
long as a bare interpreter start (``import pint`` alone would break it: keep pint off the start-up path).

    .venv/bin/python bench/cli_startup.py [--runs 30] [--enforce]

Exit status: 0 whether the target is met or not, unless ``--enforce`` (then 1 on FAIL); 1 if the ``b12``
executable is missing or a command fails.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

TARGET_RATIO = 8.0
WARM_UP = 3


def wall_time(command: Sequence[str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(
            f"{' '.join(command)} exited with status {completed.returncode}: {detail[-1] if detail else ''}"
        )
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each command (default 30)")
    parser.add_argument("--enforce", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    b12 = Path(sys.executable).parent / "b12"
    if not b12.exists():
        print(f"No b12 executable at {b12}: install the project first (make install).", file=sys.stderr)
        return 1

    cli = [str(b12), "convert", "1000", "mcg", "mg"]
    bare = [sys.executable, "-c", "pass"]

    for _ in range(WARM_UP):
        wall_time(cli)
        wall_time(bare)

    cli_times: list[float] = []
    bare_times: list[float] = []
    for _ in range(args.runs):
        cli_times.append(wall_time(cli))
        bare_times.append(wall_time(bare))

    cli_median = statistics.median(cli_times)
    bare_median = statistics.median(bare_times)
    ratio = cli_median / bare_median
    passed = ratio <= TARGET_RATIO

    print(f"runs: {args.runs} of each, interleaved, after {WARM_UP} warm-up runs of each")
    print(f"b12 convert 1000 mcg mg  median {cli_median * 1000:8.1f} ms")
    print(f"python -c pass           median {bare_median * 1000:8.1f} ms")
    print(f"ratio {ratio:.2f}×  (target ≤ {TARGET_RATIO:g}×)  {'PASS' if passed else 'FAIL'}")
    return 1 if args.enforce and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
