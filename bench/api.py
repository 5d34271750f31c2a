"""REST API throughput: POST /api/v1/plan as a ratio of the same server's GET /healthz, under the same load.

Starts the web app with uvicorn on loopback in a subprocess (one worker, a fresh SQLite database in a temporary
folder, no access log), then drives it with wrk from a second process: the same connections, threads and time
for both addresses. The rounds alternate A B B A (healthz, plan, plan, healthz) after a warm-up of each, so
that both see the same machine load, and the ratio is of total requests per second. The plan is that of the
documented example case (``examples/pernicious-anaemia.json``, the case of ``docs/case-format.md``); every
answer must be 200, else the run fails. Target: the plan endpoint serves at least half as many requests per
second as the health check.

    .venv/bin/python bench/api.py [--seconds 10] [--connections 8] [--threads 1] [--case FILE] [--enforce]

``--seconds`` is the time per address, split over its two rounds. Without wrk (``apt-get install -y wrk``), a
small keep-alive load generator written in Python runs in the second process instead (it is said so in the
output; it saturates sooner than wrk, so prefer wrk). Exit status: 0 whether the target is met or not, unless
``--enforce`` (then 1 on FAIL); 1 if the server does not start or an answer is not 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TARGET_RATIO = 0.5
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASE = ROOT / "examples" / "pernicious-anaemia.json"
WARM_UP_S = 2

# wrk prints one JSON line at the end: requests, seconds, errors and latency percentiles (microseconds).
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "errors": %d, "non_2xx": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class Round:
    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    path: str
    body: bytes | None  # None: GET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "B12_DATA_DIR": str(data_dir),
        "B12_SECRET_KEY": secrets.token_urlsafe(48),
        "B12_DEMO": "0",
    }
    env.pop("B12_DATABASE_URL", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "b12.adapters.web.app:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=data_dir)


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"/healthz did not answer 200 within {timeout_s:g} s")


def check_plan(base: str, body: bytes) -> int:
    """One plan, checked: 200 and the plan's keys. Returns the size of the answer."""
    request = urllib.request.Request(
        f"{base}/api/v1/plan", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"POST /api/v1/plan answered {answer.status}")
    plan = json.loads(data)
    if "schedule" not in plan or "recommendation" not in plan:
        raise RuntimeError("POST /api/v1/plan did not answer a plan")
    return len(data)


# --- load generators ----------------------------------------------------------------------------------


def run_wrk(wrk: str, base: str, target: Target, seconds: float, connections: int, threads: int, work: Path) -> Round:
    script = work / f"{target.name}.lua"
    lines = []
    if target.body is not None:
        body_file = work / f"{target.name}.json"
        body_file.write_bytes(target.body)
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f'local f = assert(io.open("{body_file.as_posix()}", "rb"))',
            "wrk.body = f:read('*a')",
            "f:close()",
        ]
    script.write_text("\n".join(lines) + WRK_REPORT, encoding="utf-8")
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"{base}{target.path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return Round(
        report["requests"],
        report["seconds"],
        report["errors"],
        report["non_2xx"],
        report["p50_us"] / 1000,
        report["p99_us"] / 1000,
    )


def run_python_load(base: str, target: Target, seconds: float, connections: int, work: Path) -> Round:
    """The fallback generator, in a second process (this script with ``--load``)."""
    spec = work / f"{target.name}.load.json"
    spec.write_text(
        json.dumps(
            {
                "base": base,
                "path": target.path,
                "body": target.body.decode("utf-8") if target.body is not None else None,
                "seconds": seconds,
                "connections": connections,
            }
        ),
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, __file__, "--load", str(spec)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    return Round(**report)


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def _client(
    host: str, port: int, request: bytes, until: float, latencies: list[float], counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            counts[0] += 1
            counts[1] += not 200 <= status < 300
    finally:
        writer.close()


def python_load(spec_file: Path) -> None:
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    host, port = spec["base"].removeprefix("http://").split(":")
    body = spec["body"].encode("utf-8") if spec["body"] is not None else None
    head = f"{'POST' if body is not None else 'GET'} {spec['path']} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    request = (head + "\r\n").encode("latin-1") + (body or b"")
    latencies: list[float] = []
    counts = [0, 0]

    async def main() -> float:
        started = time.perf_counter()
        until = started + float(spec["seconds"])
        await asyncio.gather(
            *(_client(host, int(port), request, until, latencies, counts) for _ in range(int(spec["connections"])))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    report = {
        "requests": counts[0],
        "seconds": elapsed,
        "errors": 0,
        "non_2xx": counts[1],
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
    }
    sys.stdout.write(json.dumps(report))


# --- the benchmark ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10, help="load time per address (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="open connections (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="the case posted to /api/v1/plan")
    parser.add_argument("--enforce", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)  # the fallback generator's process
    args = parser.parse_args(argv)
    if args.load is not None:
        python_load(args.load)
        return 0
    if args.seconds < 2 or args.connections < 1 or args.threads < 1:
        parser.error("--seconds must be at least 2, --connections and --threads at least 1")

    body = args.case.read_bytes()
    wrk = shutil.which("wrk")
    targets = (Target("healthz", "/healthz", None), Target("plan", "/api/v1/plan", body))
    with tempfile.TemporaryDirectory(prefix="b12-bench-api-") as folder:
        work = Path(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = work / "server.log"
        server = start_server(port, work, log)
        try:
            wait_ready(base, server)
            size = check_plan(base, body)

            def load(target: Target, seconds: float) -> Round:
                if wrk is not None:
                    return run_wrk(wrk, base, target, seconds, args.connections, args.threads, work)
                return run_python_load(base, target, seconds, args.connections, work)

            for target in targets:
                load(target, WARM_UP_S)
            half = args.seconds / 2
            healthz, plan = targets
            order = (healthz, plan, plan, healthz)  # A B B A: both see the same drift in machine load
            rounds: dict[str, list[Round]] = {t.name: [] for t in targets}
            for target in order:
                rounds[target.name].append(load(target, half))
        except (RuntimeError, OSError, ValueError) as error:
            print(f"FAIL: {error}", file=sys.stderr)
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:] if log.exists() else []
            if tail:
                print("server log:\n  " + "\n  ".join(tail), file=sys.stderr)
            return 1
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    generator = (
        f"wrk -t{args.threads} -c{args.connections}"
        if wrk
        else f"Python keep-alive generator, {args.connections} connections (install wrk for a stronger one)"
    )
    print(f"server: uvicorn, 1 worker, 127.0.0.1; load: {generator} in a second process")
    print(
        f"rounds: healthz, plan, plan, healthz, {half:g} s each, after {WARM_UP_S} s warm-up of each; "
        f"plan of {args.case.name} ({size} bytes of JSON)"
    )
    rates = {}
    failed = False
    for target in targets:
        done = rounds[target.name]
        requests = sum(r.requests for r in done)
        rates[target.name] = requests / sum(r.seconds for r in done)
        bad = sum(r.errors + r.non_2xx for r in done)
        failed |= bad > 0
        p50 = max(r.p50_ms for r in done)
        p99 = max(r.p99_ms for r in done)
        label = f"{'GET' if target.body is None else 'POST'} {target.path}"
        per_round = ", ".join(f"{r.rate:.0f}" for r in done)
        print(
            f"{label:<20} {rates[target.name]:8.0f} req/s  (rounds {per_round})  "
            f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {requests} requests, {bad} errors or non-2xx"
        )
    ratio = rates["plan"] / rates["healthz"]
    passed = ratio >= TARGET_RATIO and not failed
    note = "" if not failed else "  (errors or non-2xx answers: the run does not count)"
    print(f"ratio plan/healthz {ratio:.2f}  (target ≥ {TARGET_RATIO:g})  {'PASS' if passed else 'FAIL'}{note}")
    print("(p50 and p99: the higher of each address's two rounds)")
    return 1 if (args.enforce and not passed) or failed else 0


if __name__ == "__main__":
    sys.exit(main())
