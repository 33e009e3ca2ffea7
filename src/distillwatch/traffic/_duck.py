"""The DuckDB connection every traffic query runs on: in-process, UTC, Arrow in and out."""

from __future__ import annotations

import duckdb

__all__ = ["connect", "quote_ident"]


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection with the session time zone fixed to UTC (naive timestamps are UTC)."""
    con = duckdb.connect(":memory:", config={"threads": threads} if threads else {})
    con.execute("SET TimeZone = 'UTC'")
    return con


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
