"""The engine seam of `scan`: one map function and one SQL text per aggregate, run on DuckDB or on Spark.

`scan` is a map (`compute_signatures` over Arrow batches) then aggregates (SQL over accounts and
clusters). Both live once, in `traffic.signatures`, `traffic.features`, `traffic.entities`,
`traffic.linking` and `traffic.alerts`; an engine only moves Arrow data in and out and runs the SQL:

    engine.map_requests(log_batches, table=, prompts=)   signatures (+ alert prompt samples) as tables
    engine.register(name, arrow_table) / unregister(name) an Arrow table queryable under `name`
    engine.create_view(name, query)                       a temporary view
    engine.sql(query) -> pyarrow.Table                    run a query, collect the result
    engine.close()

The SQL is written in the common subset of DuckDB and Spark SQL: CTEs, window functions, plain
aggregates, ``"double-quoted"`` identifiers (Spark runs with ANSI double-quoted identifiers), INTERVAL
literals, no backslash in string literals (Spark unescapes them), rates as ``avg`` of integers (both
return DOUBLE; ``1.0`` is a DECIMAL literal in both, whose ``avg`` Spark rounds to 5 decimals). Where
the two name a function differently the SQL uses Spark's name and DuckDB gets a macro of that name
(`traffic._duck.MACROS`: ``unix_micros``, ``array_join``). Floating-point sums whose order differs
between engines are rounded where entities are ranked on them (`traffic.features`). Results are small
(one row per account, cluster, edge or sample) and are collected to Arrow on the driver, where
linking's connected components, scoring and alert building run unchanged for both engines.

`DuckEngine` (the default) runs in-process; `traffic.spark.SparkEngine` runs the map as a Spark
``mapInArrow`` job and the SQL on Spark SQL. Functions that take an engine also take a plain DuckDB
connection (`as_engine` wraps it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ._duck import connect, install_macros, quote_ident
from ._memory import map_memory
from .signatures import SIGNATURE_SCHEMA, compute_signatures, prompt_sample

__all__ = ["ENGINES", "MAP_SLICE_ROWS", "MAP_THREADS", "PROMPT_COLUMNS", "DuckEngine", "SqlEngine", "as_engine",
           "map_batches", "open_engine"]

ENGINES = ("duckdb", "spark")
MAP_THREADS = 8  # most worker threads of the DuckDB engine's map (`map_batches`)
MAP_SLICE_ROWS = 65_536  # rows per map task (a reader's batch): Arrow compiles each regex once per call, so
# smaller tasks pay that again and again (16,384 cost 8% more CPU on a 1M-request log); a thread idles at most one task
PROMPT_SCHEMA = pa.schema([("request_id", pa.string()), ("prompt_text", pa.string()), ("sample_key", pa.int64())])
PROMPT_COLUMNS = tuple(PROMPT_SCHEMA.names)  # the alert prompt sample table


@runtime_checkable
class SqlEngine(Protocol):
    """Where the map and the SQL of `scan` run (see the module docstring)."""

    name: str

    def map_requests(self, log_batches: Iterable[pa.RecordBatch], *, table: str = "signatures",
                     prompts: str | None = "dw_prompts") -> None:
        """`compute_signatures` over `LOG_SCHEMA` batches into the table `table`; with `prompts`, the
        `prompt_sample` rows kept (`PROMPT_COLUMNS`) into the table `prompts`."""

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as `name` (replacing any earlier one) until `unregister`."""

    def unregister(self, name: str) -> None:
        """Forget a table made queryable by `register`."""

    def create_view(self, name: str, query: str) -> None:
        """``CREATE OR REPLACE`` the temporary view `name` of `query`."""

    def sql(self, query: str) -> pa.Table:
        """The result of `query` as an Arrow table."""

    def close(self) -> None:
        """Release what the engine holds (connection, staged files, a session it started)."""


class DuckEngine:
    """The in-process engine: a DuckDB connection (`traffic._duck.connect`, or one given).

    `memory_limit` (e.g. ``"4GB"``; None or ``"none"``: DuckDB's default, 80% of RAM) bounds what DuckDB
    holds in memory; the signatures table and large aggregates spill beyond it to a temporary directory
    (under `spill_dir`, else the system's), removed on `close`."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, *, memory_limit: str | None = None,
                 spill_dir: str | os.PathLike | None = None):
        self._spill: str | None = None
        if con is not None:
            self.con = install_macros(con)
            return
        if memory_limit is not None and memory_limit.strip().lower() == "none":
            memory_limit = None
        if memory_limit:
            self._spill = tempfile.mkdtemp(prefix="distillwatch-spill-", dir=spill_dir)
        self.con = connect(memory_limit=memory_limit, temp_directory=self._spill)

    def map_requests(self, log_batches: Iterable[pa.RecordBatch], *, table: str = "signatures",
                     prompts: str | None = "dw_prompts") -> None:
        """Stream the batches through `compute_signatures` (`map_batches`: a worker thread per CPU) into
        DuckDB, a few batches in memory at a time, under `traffic._memory.map_memory` (fewer fresh pages per
        batch); the alert prompt samples go to a temporary Parquet file as they come, then into the table
        `prompts`."""
        import pyarrow.parquet as pq

        work = tempfile.mkdtemp(prefix="distillwatch-prompts-", dir=self._spill) if prompts else None
        sample_file = os.path.join(work, "prompts.parquet") if work else ""
        writer = pq.ParquetWriter(sample_file, PROMPT_SCHEMA) if work else None

        def mapped():
            for sig, kept in map_batches(log_batches, prompts=bool(prompts)):
                if writer is not None and kept.num_rows:
                    writer.write_table(kept)
                yield sig

        try:
            self.register("dw_signature_stream", pa.RecordBatchReader.from_batches(SIGNATURE_SCHEMA, mapped()))
            try:
                with map_memory():
                    self.con.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS FROM dw_signature_stream")
            finally:
                self.unregister("dw_signature_stream")
            if writer is not None:
                writer.close()
                writer = None
                path = sample_file.replace("'", "''")
                self.con.execute(f"CREATE OR REPLACE TABLE {quote_ident(prompts)} AS SELECT * FROM read_parquet('{path}')")
        finally:
            if writer is not None:
                writer.close()
            if work:
                shutil.rmtree(work, ignore_errors=True)

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def create_view(self, name: str, query: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(name)} AS {query}")

    def sql(self, query: str) -> pa.Table:
        return self.con.sql(query).to_arrow_table()

    def close(self) -> None:
        self.con.close()
        if self._spill:
            shutil.rmtree(self._spill, ignore_errors=True)


def _map_one(batch: pa.RecordBatch, prompts: bool) -> tuple[pa.RecordBatch, pa.Table | None]:
    sig = compute_signatures(batch)
    if not prompts:
        return sig, None
    s = prompt_sample(batch, sig)
    kept = pc.is_valid(s.column("sample_prompt"))
    return sig, pa.table([batch.column("request_id"), s.column("sample_prompt"), s.column("sample_key")],
                         schema=PROMPT_SCHEMA).filter(kept)


def map_batches(log_batches: Iterable[pa.RecordBatch], *, prompts: bool = True,
                threads: int | None = None) -> Iterator[tuple[pa.RecordBatch, pa.Table | None]]:
    """(signatures, kept alert prompt samples or None) of each slice of `MAP_SLICE_ROWS` rows of the log
    batches, in order, computed by `threads` worker threads (default: one per CPU, at most `MAP_THREADS`)
    while the caller's thread reads the next batches. The map's Arrow and NumPy kernels release the GIL,
    so the threads run in parallel; at most 2 * `threads` + 1 slices are in flight."""
    threads = threads or min(os.cpu_count() or 1, MAP_THREADS)
    if threads <= 1:
        yield from (_map_one(batch, prompts) for batch in log_batches)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dw-map") as pool:
        pending: deque = deque()
        for batch in log_batches:
            for start in range(0, batch.num_rows, MAP_SLICE_ROWS):  # slices keep every thread busy
                pending.append(pool.submit(_map_one, batch.slice(start, MAP_SLICE_ROWS), prompts))
                while len(pending) > 2 * threads:
                    yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def as_engine(con: SqlEngine | duckdb.DuckDBPyConnection) -> SqlEngine:
    """`con` itself if it is an engine; a DuckDB connection wrapped in a `DuckEngine` (sharing it)."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return DuckEngine(con)
    if isinstance(con, SqlEngine):
        return con
    raise TypeError(f"expected a DuckDB connection or an SqlEngine, not {type(con).__name__}")


def open_engine(engine: str | SqlEngine = "duckdb", **options) -> SqlEngine:
    """A new engine by name (one of `ENGINES`; `options` go to its constructor), or `engine` itself.

    ``"spark"`` needs the ``spark`` extra and Java 17+ (`traffic.spark`); it reuses an active Spark
    session, else starts a ``local[2]`` one and stops it on `close`."""
    if not isinstance(engine, str):
        return as_engine(engine)
    if engine == "duckdb":
        return DuckEngine(**options)
    if engine == "spark":
        from .spark import SparkEngine

        return SparkEngine(**options)
    from ..errors import InputError

    raise InputError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
