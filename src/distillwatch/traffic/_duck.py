"""The DuckDB connection every traffic query runs on: in-process, UTC, Arrow in and out.

The traffic SQL is written once for DuckDB and Spark SQL (see `traffic.engine`); where the two name a
function differently it uses Spark's name, and every connection made here gets a DuckDB macro of that
name (`install_macros`).
"""

from __future__ import annotations

import duckdb

__all__ = ["MACROS", "SLOWER_OPTIMIZERS", "connect", "install_macros", "quote_ident"]

# Spark SQL names the shared SQL calls, as DuckDB macros (inlined by DuckDB's binder: no cost per row).
MACROS = (
    "CREATE OR REPLACE TEMP MACRO unix_micros(t) AS epoch_us(t)",
    "CREATE OR REPLACE TEMP MACRO array_join(a, sep) AS array_to_string(a, sep)",
)


# Optimizers that cost the traffic SQL more than they save, switched off where this DuckDB has them: DuckDB 2's
# rewrite of count(DISTINCT) into group-bys joined over a materialized scan took 0.3 s more CPU than the plain
# aggregates on the entity features of a 1M-request log (about 10% of the SQL after the map).
SLOWER_OPTIMIZERS = ("distinct_aggregate_rewrite",)


def install_macros(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Define `MACROS` on `con` (idempotent); returns `con`."""
    for statement in MACROS:
        con.execute(statement)
    return con


def connect(threads: int | None = None, *, memory_limit: str | None = None,
            temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection with the session time zone fixed to UTC (naive timestamps are UTC),
    the Spark-named macros of the shared SQL installed and `SLOWER_OPTIMIZERS` off.

    `memory_limit` (e.g. ``"4GB"``) bounds DuckDB's buffer memory: tables and operator state beyond it
    are spilled to files under `temp_directory`, so a log larger than RAM still scans (DuckDB's own
    default is 80% of RAM, which a 10M-request scan nearly fills)."""
    config: dict = {"threads": threads} if threads else {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory:
        config["temp_directory"] = temp_directory
    try:
        con = duckdb.connect(":memory:", config=config)
    except duckdb.Error as exc:
        from ..errors import InputError

        raise InputError(f"DuckDB refused the settings {config}: {exc}") from exc
    con.execute("SET TimeZone = 'UTC'")
    known = {name for (name,) in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    if off := [name for name in SLOWER_OPTIMIZERS if name in known]:
        con.execute(f"SET disabled_optimizers = '{','.join(off)}'")
    return install_macros(con)


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier (DuckDB, and Spark with ANSI double-quoted identifiers)."""
    return '"' + name.replace('"', '""') + '"'
