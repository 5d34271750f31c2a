"""A local Spark Connect server, for trying ``b12 triage --engine spark --spark-remote`` without a cluster.

    .venv/bin/python scripts/spark_connect_server.py [--port 15002]

then, in another terminal:

    b12 triage obs.csv --out triage.parquet --engine spark --spark-remote sc://127.0.0.1:15002

It is a local-mode Spark session with the Spark Connect plugin (the server jar ships with pyspark 4), bound to
loopback; it prints ``ready sc://127.0.0.1:PORT`` once clients can connect and runs until interrupted. Files
are read by the server, so paths must be readable where it runs (on a real cluster: shared storage). The
tests start one (tests/e2e/test_triage_spark.py) to check the ``--spark-remote`` path end to end.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=15002, help="gRPC port (default 15002, Spark's own)")
    args = parser.parse_args(argv)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        print("the Spark extra is not installed: uv sync --all-extras (or pip install 'b12[spark]')", file=sys.stderr)
        return 2
    builder: object = SparkSession.builder
    session = (
        builder.master("local[2]")  # type: ignore[attr-defined]
        .appName("b12-spark-connect")
        .config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
        .config("spark.connect.grpc.binding.address", "127.0.0.1")
        .config("spark.connect.grpc.binding.port", str(args.port))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"ready sc://127.0.0.1:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in a terminal: stop as on SIGTERM
        stop.wait()
    session.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
