"""The summary of a triage run, counted from the files written (so it describes exactly what is there).

Counts patients by status, by priority and by flag, and rejected rows by source and reason. Read with
DuckDB whichever engine wrote the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from b12.adapters.triage.rules import PRIORITY_LABELS


@dataclass(frozen=True, slots=True)
class Summary:
    patients: int
    results: int  # observation rows read and used
    rejected: int  # rows rejected, all sources
    by_status: tuple[tuple[str, int], ...]
    by_priority: tuple[tuple[str, int], ...]
    by_flag: tuple[tuple[str, int], ...]
    by_next_test: tuple[tuple[str, int], ...]
    rejects_by_reason: tuple[tuple[str, str, int], ...]  # (source, reason, rows)

    @property
    def observations_read(self) -> int:
        return self.results + sum(n for source, _, n in self.rejects_by_reason if source == "observations")


def _source(path: Path, fmt: str) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    if fmt == "parquet":
        return f"read_parquet({quoted})"
    return f"read_csv({quoted}, header=true, all_varchar=true)"


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[tuple[str, int], ...]:
    return tuple((str(key), int(count)) for key, count in con.execute(sql).fetchall())


def summarise(out: Path, rejects: Path, fmt: str) -> Summary:
    with duckdb.connect() as con:
        patients = _source(out, fmt)
        totals = con.execute(f"SELECT count(*), coalesce(sum(CAST(results AS BIGINT)), 0) FROM {patients}").fetchall()[
            0
        ]
        by_status = _pairs(con, f"SELECT status, count(*) FROM {patients} GROUP BY 1 ORDER BY 1")
        by_priority = _pairs(
            con, f"SELECT CAST(priority AS INTEGER) AS p, count(*) FROM {patients} GROUP BY 1 ORDER BY 1"
        )
        labelled = tuple((f"{p} {PRIORITY_LABELS.get(int(p), '')}".strip(), n) for p, n in by_priority)

        def codes(column: str) -> tuple[tuple[str, int], ...]:
            return _pairs(
                con,
                f"""SELECT item, count(*) FROM (
                        SELECT unnest(string_split({column}, ';')) AS item FROM {patients}
                        WHERE {column} IS NOT NULL AND {column} <> ''
                    ) GROUP BY 1 ORDER BY 2 DESC, 1""",
            )

        by_flag = codes("flags")
        by_next_test = codes("next_tests")
        reasons = tuple(
            (str(source), str(reason), int(n))
            for source, reason, n in con.execute(
                f"SELECT source, reason, count(*) FROM {_source(rejects, fmt)} GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"
            ).fetchall()
        )
    return Summary(
        patients=int(totals[0]),
        results=int(totals[1]),
        rejected=sum(n for _, _, n in reasons),
        by_status=by_status,
        by_priority=labelled,
        by_flag=by_flag,
        by_next_test=by_next_test,
        rejects_by_reason=reasons,
    )
