"""The Spark engine of `scan` (``--engine spark``): the map as ``mapInArrow``, the aggregates on Spark SQL.

Same pipeline, same code as the DuckDB engine (see `traffic.engine`):

- ingest runs on the driver with `LogReader` (the one reader, so the quarantine is the same: no bad row
  is dropped silently) and stages the accepted `LOG_SCHEMA` batches as Parquet;
- the map is a Spark ``mapInArrow`` job calling `compute_signatures` and `prompt_sample` (`map_partition`)
  on each Arrow batch, written back as Parquet (the equivalent of DuckDB's ``CREATE TABLE``) and exposed
  as the temporary views ``signatures`` and ``dw_prompts``;
- the feature, linking and sample SQL of `traffic.features`, `entities`, `linking` and `alerts` runs on
  Spark SQL as written; its per-account and per-cluster results are collected to Arrow.

Sessions: `SparkEngine` reuses the active session, else starts one with `spark_session` (``local[2]``,
4 shuffle partitions, Arrow on, UI off, logs at ERROR) and stops it on `close`. Either way it sets
the SQL semantics the shared SQL relies on (`SQL_CONF`: UTC session time zone, ANSI mode with
double-quoted identifiers), and it replaces temporary views of the names it uses (``signatures``,
``clusters``, ``dw_*``). Staged files go to a temporary folder under `stage_dir`, removed on `close`;
on a cluster, `stage_dir` must be storage every executor can read.

Needs the ``spark`` extra (pyspark 4: ``DataFrame.toArrow``, ``createDataFrame`` of an Arrow table) and
Java 17 or newer; both are checked up front with an install hint.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DistillwatchError, MissingExtraError, require
from .engine import PROMPT_COLUMNS
from .schema import LOG_SCHEMA
from .signatures import (
    PROMPT_SAMPLE_SCHEMA,
    SIGNATURE_SCHEMA,
    compute_signatures,
    prompt_sample,
)

__all__ = ["MAPPED_SCHEMA", "SQL_CONF", "SparkEngine", "java_executable", "map_partition", "spark_session"]

STAGE_ROW_GROUP = 32_768  # rows per staged Parquet row group: Spark splits the map job along them
# What the shared SQL needs from any session (runtime SQL settings, set on every session used).
SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.useLargeVarTypes": "false",
    # a staged row group per mapInArrow batch (STAGE_ROW_GROUP): Arrow compiles each regex once per batch
    "spark.sql.execution.arrow.maxRecordsPerBatch": str(STAGE_ROW_GROUP),
}
# One row of the map job: the signature and the alert prompt sample side by side (all nullable for Spark).
MAPPED_SCHEMA: pa.Schema = pa.schema([f.with_nullable(True) for f in (*SIGNATURE_SCHEMA, *PROMPT_SAMPLE_SCHEMA)])
_LOG4J = Path(__file__).with_name("spark_log4j2.properties")
_HINT = "pip install 'distillwatch[spark]'"


def java_executable() -> str | None:
    """The ``java`` that Spark would launch (``$JAVA_HOME/bin/java``, else the one on PATH), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def _pyspark():
    pyspark = require("pyspark", "spark")
    if int(pyspark.__version__.split(".")[0]) < 4:
        raise MissingExtraError(f"pyspark>=4 (found {pyspark.__version__})", "spark")
    require("pandas", "spark")  # pyspark's mapInArrow goes through its pandas UDF machinery
    return pyspark


def spark_session(master: str = "local[2]", *, shuffle_partitions: int = 4, driver_memory: str = "2g",
                  conf: dict[str, Any] | None = None):
    """The active Spark session, else a new one for `scan`: `master`, `shuffle_partitions` (200, Spark's
    default, is slow on a laptop), Arrow on, UI and console progress off, logs at ERROR, Python workers
    on this interpreter (unless ``$PYSPARK_PYTHON`` names another); `conf` adds or overrides settings.
    `SQL_CONF` is set either way. Raises `MissingExtraError` without pyspark (or pandas, which its
    ``mapInArrow`` imports) and `DistillwatchError` without Java."""
    _pyspark()
    if java_executable() is None:
        raise DistillwatchError("the Spark engine needs Java 17 or newer and no `java` was found (JAVA_HOME, "
                                f"PATH): install a JDK (e.g. openjdk-17-jre-headless) and {_HINT}, "
                                "or use --engine duckdb")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return _configure(active)
    settings: dict[str, Any] = {
        "spark.app.name": "distillwatch-scan",
        "spark.sql.shuffle.partitions": shuffle_partitions,
        "spark.driver.memory": driver_memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_LOG4J}",
        **SQL_CONF,
    }
    # pyspark starts its Python workers with $PYSPARK_PYTHON (default: python3 on PATH), which may lack
    # distillwatch; use this interpreter unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        settings.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
    settings.update(conf or {})
    builder = SparkSession.builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    try:
        session = builder.getOrCreate()
    except Exception as e:  # the JVM did not start: say so in one line, with the fix
        raise DistillwatchError(f"could not start Spark ({type(e).__name__}: {str(e).strip()[:300]}); the Spark "
                                f"engine needs Java 17+ ({java_executable()}) and {_HINT}") from e
    session.sparkContext.setLogLevel("ERROR")
    return session


def _configure(session):
    for key, value in SQL_CONF.items():
        session.conf.set(key, value)
    return session


def map_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: `compute_signatures` and `prompt_sample` of each `LOG_SCHEMA` batch,
    as one `MAPPED_SCHEMA` batch."""
    for batch in batches:
        if batch.num_rows:
            sig = compute_signatures(batch)
            yield pa.RecordBatch.from_arrays(sig.columns + prompt_sample(batch, sig).columns, schema=MAPPED_SCHEMA)


class SparkEngine:
    """The `traffic.engine.SqlEngine` on Spark: `session` (default: the active one, else `spark_session`
    with `session_options`), staged files under `stage_dir` (default: the system temporary folder)."""

    name = "spark"

    def __init__(self, session=None, *, stage_dir: str | os.PathLike | None = None, **session_options):
        _pyspark()
        from pyspark.sql import SparkSession

        if session is None:
            session = SparkSession.getActiveSession()
        self._owns_session = session is None
        self.spark = _configure(session) if session is not None else spark_session(**session_options)
        self._stage = Path(tempfile.mkdtemp(prefix="distillwatch-spark-", dir=stage_dir))
        self._views: set[str] = set()
        self._maps = 0

    def map_requests(self, log_batches: Iterable[pa.RecordBatch], *, table: str = "signatures",
                     prompts: str | None = "dw_prompts") -> None:
        """Stage the batches as Parquet (driver), map them with ``mapInArrow``, expose the results."""
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        self._maps += 1
        stage = self._stage / f"map-{self._maps}"
        stage.mkdir()
        with pq.ParquetWriter(stage / "log.parquet", LOG_SCHEMA) as writer:
            for batch in log_batches:
                writer.write_batch(batch, row_group_size=STAGE_ROW_GROUP)
        logs = self.spark.read.parquet(str(stage / "log.parquet"))
        logs.mapInArrow(map_partition, from_arrow_schema(MAPPED_SCHEMA)).write.parquet(str(stage / "mapped"))
        mapped = self.spark.read.parquet(str(stage / "mapped"))
        self._view(table, mapped.select(*SIGNATURE_SCHEMA.names))
        if prompts:
            sample, key = PROMPT_SAMPLE_SCHEMA.names
            rows = mapped.where(F.col(sample).isNotNull())
            self._view(prompts, rows.select(F.col("request_id"), F.col(sample).alias(PROMPT_COLUMNS[1]), F.col(key)))

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        self._view(name, self.spark.createDataFrame(table))

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)

    def create_view(self, name: str, query: str) -> None:
        self._view(name, self.spark.sql(query))

    def sql(self, query: str) -> pa.Table:
        return self.spark.sql(query).toArrow()

    def close(self) -> None:
        for name in sorted(self._views):
            self.spark.catalog.dropTempView(name)
        self._views.clear()
        shutil.rmtree(self._stage, ignore_errors=True)
        if self._owns_session:
            self.spark.stop()

    def _view(self, name: str, frame) -> None:
        frame.createOrReplaceTempView(name)
        self._views.add(name)
