"""The two engines that run the triage expression: DuckDB (default) and PySpark (optional extra).

An engine reads files into ibis tables, registers small Arrow tables, materialises an intermediate
result, and writes a result to a Parquet or CSV file. Everything clinical is in ``rules.py``; this
module only moves data.

- DuckDB runs embedded and out of core: ``memory_limit`` caps its memory and ``temp_directory`` is
  where it spills (both set on every connection). Results are written by DuckDB itself (``COPY``), never
  through Python.
- Spark runs in a local session (``local[*]``), or on an existing cluster through Spark Connect
  (``SparkSession.builder.remote(url)``). Results come back as Arrow (``DataFrame.toArrow``), never
  through pandas. ``pyspark`` is imported only here, and only when the Spark engine is chosen.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import ibis
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from b12.domain.errors import B12Error

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from pyspark.sql import DataFrame, SparkSession

ENGINES = ("duckdb", "spark")
_names = itertools.count()
T = TypeVar("T")


class EngineError(B12Error, RuntimeError):
    """An engine that cannot be started (the Spark extra not installed, a Spark Connect URL unreachable)."""


def _name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


class Engine(ABC):
    name: str
    con: Any

    @abstractmethod
    def read_csv(self, path: Path) -> ir.Table: ...

    @abstractmethod
    def read_parquet(self, path: Path) -> ir.Table: ...

    @abstractmethod
    def register(self, name: str, data: pa.Table) -> ir.Table: ...

    @abstractmethod
    def from_duckdb_sql(self, sql: str, name: str) -> ir.Table:
        """A table made by DuckDB SQL (the FHIR reader), moved into this engine if it is not DuckDB."""

    @abstractmethod
    def stage(self, expr: ir.Table, name: str) -> ir.Table:
        """Materialise ``expr`` once, so that later steps read it rather than recompute it."""

    def stage_while(self, expr: ir.Table, name: str, prepare: Callable[[ir.Table], T]) -> tuple[ir.Table, T]:
        """:meth:`stage`, and ``prepare(table)``: Python work (building and compiling what reads the table)
        that an engine may do while it materialises the table; here one after the other."""
        table = self.stage(expr, name)
        return table, prepare(table)

    def compile(self, expr: ir.Table) -> str:
        """The SQL of ``expr`` for this engine."""
        return str(self.con.compile(expr))

    def _sql(self, query: ir.Table | str) -> str:
        return query if isinstance(query, str) else self.compile(query)

    @abstractmethod
    def batches(self, query: ir.Table | str, schema: pa.Schema) -> Iterator[pa.RecordBatch]: ...

    def to_arrow(self, query: ir.Table | str, schema: pa.Schema) -> pa.Table:
        return pa.Table.from_batches(list(self.batches(query, schema)), schema=schema)

    def write(
        self,
        query: ir.Table | str,
        schema: pa.Schema,
        path: Path,
        fmt: str,
        categories: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Write ``query`` as one Parquet or CSV file (written beside, then moved into place).

        ``categories``: the values some text columns can take, which an engine may use to write them faster;
        a value outside them is an error, never dropped."""
        write_batches(self.batches(query, schema), schema, path, fmt)

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if fmt == "parquet":
        with pq.ParquetWriter(partial, schema, compression="zstd") as parquet:
            for batch in batches:
                parquet.write_batch(batch)
    else:
        with pacsv.CSVWriter(partial, schema) as csv:
            for batch in batches:
                csv.write_batch(batch)
    partial.replace(path)


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([batch.column(field.name).cast(field.type) for field in schema], schema=schema)


class DuckDBEngine(Engine):
    """Embedded DuckDB through ibis; spills to ``temp_directory`` beyond ``memory_limit``."""

    name = "duckdb"

    def __init__(
        self, *, memory_limit: str | None = None, temp_directory: Path | None = None, threads: int | None = None
    ) -> None:
        self._own_temp = temp_directory is None
        self.temp_directory = Path(tempfile.mkdtemp(prefix="b12-duckdb-")) if temp_directory is None else temp_directory
        self.temp_directory.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "memory_limit": memory_limit or default_memory_limit(),
            "temp_directory": str(self.temp_directory),
            "preserve_insertion_order": False,
        }
        if threads is not None:
            config["threads"] = threads
        self.con = ibis.duckdb.connect(**config)
        self._raw = self.con.con
        self._execute("SET enable_progress_bar = false")  # the CLI shows its own

    def _execute(self, sql: str) -> None:
        self._raw.execute(sql).fetchall()  # duckdb 2.0: always consume a result before the next statement

    def _view(self, sql: str, prefix: str) -> ir.Table:
        # Views made in SQL rather than con.sql(): ibis 12's con.sql() calls a cursor method that
        # duckdb 2.0 removed (fetch_arrow_table).
        name = _name(prefix)
        self._execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        return self._table(name)

    def _table(self, name: str) -> ir.Table:
        # The schema is read here rather than by con.table(): ibis 12 reads it through a cursor method
        # that duckdb 2.0 deprecates. The unbound table compiles to the same SQL.
        from ibis.backends.sql.datatypes import DuckDBType

        described = self._raw.execute(f"DESCRIBE {name}").fetchall()
        schema = ibis.schema({row[0]: DuckDBType.from_string(row[1]) for row in described})
        return ibis.table(schema, name=name)

    def read_csv(self, path: Path) -> ir.Table:
        return self._view(
            f"SELECT * FROM read_csv({_quote(path)}, header=true, all_varchar=true, auto_detect=true)", "b12_csv"
        )

    def read_parquet(self, path: Path) -> ir.Table:
        return self._view(f"SELECT * FROM read_parquet({_quote(path)})", "b12_parquet")

    def register(self, name: str, data: pa.Table) -> ir.Table:
        self._raw.register(name, data)
        return self._table(name)

    def from_duckdb_sql(self, sql: str, name: str) -> ir.Table:
        # Materialised: the FHIR JSON is parsed once, not on every pass over the rows.
        table = _name(name)
        self._execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
        return self._table(table)

    def stage(self, expr: ir.Table, name: str) -> ir.Table:
        return self._stage_sql(self.compile(expr), name)

    def _stage_sql(self, sql: str, name: str) -> ir.Table:
        self._execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        return self._table(name)

    def stage_while(self, expr: ir.Table, name: str, prepare: Callable[[ir.Table], T]) -> tuple[ir.Table, T]:
        # DuckDB releases the GIL while it runs a statement, so ibis builds and compiles the next queries
        # meanwhile (in this thread only: ibis is not used from two threads), against a table of the same
        # name and schema.
        sql = self.compile(expr)
        placeholder = ibis.table(expr.schema(), name=name)
        with ThreadPoolExecutor(max_workers=1) as pool:
            staging = pool.submit(self._stage_sql, sql, name)
            prepared = prepare(placeholder)
            return staging.result(), prepared

    def batches(self, query: ir.Table | str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        reader = self._raw.sql(self._sql(query)).to_arrow_reader(1_000_000)
        for batch in reader:
            yield _cast(batch, schema)

    def write(
        self,
        query: ir.Table | str,
        schema: pa.Schema,
        path: Path,
        fmt: str,
        categories: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        # Each column is cast to ``schema``'s type (ibis omits a cast it deems a no-op, such as a literal 0 to
        # int64, which DuckDB types INTEGER), and kept optional: DuckDB writes a Parquet column as REQUIRED
        # when its statistics show no NULL, so that the schema would change with the data. A categorical
        # column goes through DuckDB's ENUM type, whose Parquet writer skips building the dictionary of each
        # page value by value (a sixth less time for the triage's output); it is still text in the file, and
        # a value that is not a category fails the cast rather than being lost.
        enums = categories if fmt == "parquet" and categories else {}
        columns = ", ".join(_written(field, enums.get(field.name)) for field in schema)
        options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
        sql = f"SELECT {columns} FROM ({self._sql(query)})"
        self._execute(f"COPY ({sql}) TO {_quote(partial)} ({options})")
        partial.replace(path)

    def close(self) -> None:
        self.con.disconnect()
        if self._own_temp:
            shutil.rmtree(self.temp_directory, ignore_errors=True)


def default_memory_limit() -> str:
    """Half of the machine's memory (DuckDB's own default is 80%; the other half is for everyone else)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return "4GB"
    return f"{max(1, total // 2 // 2**20)}MB"


def _quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _written(field: pa.Field, categories: Sequence[str] | None = None) -> str:
    from ibis.backends.sql.datatypes import DuckDBType
    from ibis.formats.pyarrow import PyArrowType

    name = _identifier(field.name)
    if categories:
        sql_type = "ENUM(" + ", ".join(_quote(value) for value in sorted(set(categories))) + ")"
    else:
        sql_type = DuckDBType.to_string(PyArrowType.to_ibis(field.type))
    return f"CAST(CASE WHEN {name} IS NOT NULL THEN {name} END AS {sql_type}) AS {name}"


class SparkEngine(Engine):
    """PySpark through ibis: a local session, a Spark Connect server, or a session passed in (tests)."""

    name = "spark"

    def __init__(self, *, session: SparkSession | None = None, remote: str | None = None) -> None:
        self._own_session = session is None
        self.session = session if session is not None else spark_session(remote)
        self.con = ibis.pyspark.connect(self.session)
        self._views: list[str] = []
        self._cached: list[DataFrame] = []

    def _view(self, frame: DataFrame, name: str) -> ir.Table:
        view = _name(name)
        frame.createOrReplaceTempView(view)
        self._views.append(view)
        return self.con.table(view)

    def read_csv(self, path: Path) -> ir.Table:
        frame = self.session.read.csv(str(path), header=True, inferSchema=False, encoding="UTF-8")
        return self._view(frame, "b12_csv")

    def read_parquet(self, path: Path) -> ir.Table:
        return self._view(self.session.read.parquet(str(path)), "b12_parquet")

    def register(self, name: str, data: pa.Table) -> ir.Table:
        return self._view(self.session.createDataFrame(data), name)

    def from_duckdb_sql(self, sql: str, name: str) -> ir.Table:
        import duckdb

        with duckdb.connect() as con:
            data = con.sql(sql).to_arrow_table()  # a relation: duckdb 2.0 warns on Arrow from a cursor
        return self.register(name, data)

    def stage(self, expr: ir.Table, name: str) -> ir.Table:
        from pyspark import StorageLevel

        frame = self.session.sql(self.con.compile(expr)).persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(frame)
        return self._view(frame, name)

    def batches(self, query: ir.Table | str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        table = self.session.sql(self._sql(query)).toArrow()
        for batch in table.to_batches():
            yield _cast(batch, schema)

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        for view in self._views:
            self.session.catalog.dropTempView(view)
        if self._own_session:
            self.session.stop()


def spark_session(remote: str | None = None) -> SparkSession:
    """A local Spark session (``local[*]``, no UI), or a Spark Connect session to ``remote``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise EngineError(
            "the Spark engine needs the optional extra: pip install 'b12[spark]' (or use --engine duckdb)"
        ) from error
    if remote is not None:
        _check_reachable(remote)
        try:
            return SparkSession.builder.remote(remote).getOrCreate()
        except Exception as error:  # grpc and connect errors have no common base class
            raise EngineError(f"cannot reach the Spark Connect server {remote}: {error}") from error
    builder: Any = SparkSession.builder
    session: SparkSession = (
        builder.master("local[*]")
        .appName("b12-triage")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


SPARK_CONNECT_PORT = 15002  # the port of an sc:// URL that names none (Spark Connect's default)


def _check_reachable(remote: str, timeout_s: float = 10.0) -> None:
    """Refuse an ``sc://host[:port]`` URL whose server does not answer a TCP connection within ``timeout_s``.

    The Spark Connect client retries an unreachable server with back-off for minutes before it gives up; a
    plain connection attempt first turns a wrong host or port into one clear error at once."""
    parts = urlsplit(remote)
    if parts.scheme != "sc" or not parts.hostname:
        raise EngineError(f"{remote}: a Spark Connect URL looks like sc://host:15002")
    try:
        port = parts.port or SPARK_CONNECT_PORT
    except ValueError:
        raise EngineError(f"{remote}: the port is not a number") from None
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as error:
        raise EngineError(f"cannot reach the Spark Connect server {remote}: {error.strerror or error}") from None


def make_engine(
    name: str,
    *,
    spark_remote: str | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
) -> Engine:
    if name == "duckdb":
        return DuckDBEngine(memory_limit=memory_limit, temp_directory=temp_directory)
    if name == "spark":
        return SparkEngine(remote=spark_remote)
    raise EngineError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
