"""Features of scored entities (accounts or clusters of accounts) in SQL: `ACCOUNT_FEATURES_SQL` plus the
campaign-level extras, over the ``signatures`` table of an engine (`traffic.engine`: DuckDB or Spark SQL,
one SQL text).

An entity is whatever the ``entity`` SQL expression groups by: ``account_id`` for accounts, or a
cluster id joined from an ``account_id -> cluster_id`` table, so a cluster is scored as a whole on the
pooled requests of its accounts with exactly the same feature code.

Extras (one row per entity):

- ``n_accounts``: accounts in the entity (1 for an account).
- ``n_ip24``: distinct IPv4 /24 prefixes (or whole IPv6 addresses).
- ``pivot_share``: share of the entity's requests sent to a model within `pivot_hours` of that model's
  first appearance in the log, counting only models that first appear at least `pivot_hours` after the
  log starts (a release inside the window, not the model everyone was already using).
- ``active_hours_share``: share of the 24 hours of the day (UTC) with at least one request; harvesters
  run around the clock, people sleep.
- ``accounts_per_payment``: accounts that pay, per distinct payment fingerprint among them (null when
  none records one): about 1 for people and organisations, many for a hydra of accounts paid for with
  a few cards.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ._duck import quote_ident
from .engine import SqlEngine, as_engine
from .features import ACCOUNT_FEATURES_SQL
from .signatures import SIGNATURE_SCHEMA

__all__ = ["ENTITY_EXTRAS", "ENTITY_EXTRAS_SQL", "entity_features"]

ENTITY_EXTRAS = ("n_accounts", "n_ip24", "pivot_share", "active_hours_share",
                 "accounts_per_payment")  # the columns besides account_id

ENTITY_EXTRAS_SQL = """
WITH releases AS (
  SELECT model, min(timestamp) AS released FROM {log} GROUP BY model
  HAVING min(timestamp) >= (SELECT min(timestamp) FROM {log}) + INTERVAL {pivot_hours} HOUR
)
SELECT s.account_id,
  count(DISTINCT s.{account}) AS n_accounts,
  count(DISTINCT s.ip24) AS n_ip24,
  avg(CASE WHEN r.released IS NOT NULL AND s.timestamp < r.released + INTERVAL {pivot_hours} HOUR
      THEN 1 ELSE 0 END) AS pivot_share,
  CAST(count(DISTINCT hour(s.timestamp)) AS DOUBLE) / 24 AS active_hours_share,
  CAST(count(DISTINCT CASE WHEN s.payment_fingerprint IS NOT NULL THEN s.{account} END) AS DOUBLE)
    / nullif(count(DISTINCT s.payment_fingerprint), 0) AS accounts_per_payment
FROM {table} s LEFT JOIN releases r USING (model)
GROUP BY s.account_id
"""


def _view(engine: SqlEngine, table: str, clusters: str | None, multi_only: bool = False) -> str:
    """The signature rows with ``account_id`` replaced by the entity id; ``orig_account`` keeps the account.
    With `multi_only`, only the rows of clusters of more than one account."""
    name = "dw_entity_rows"
    if clusters is None:
        engine.create_view(name, f"SELECT *, account_id AS orig_account FROM {quote_ident(table)}")
    else:
        columns = ", ".join("c.cluster_id AS account_id" if n == "account_id" else f"s.{quote_ident(n)}"
                            for n in SIGNATURE_SCHEMA.names)
        engine.create_view(name, f"SELECT {columns}, s.account_id AS orig_account FROM {quote_ident(table)} s "
                                 f"JOIN {quote_ident(clusters)} c ON c.account_id = s.account_id"
                                 + (" WHERE c.cluster_size > 1" if multi_only else ""))
    return name


def entity_features(con: SqlEngine | duckdb.DuckDBPyConnection, *, table: str = "signatures",
                    clusters: str | None = None, pivot_hours: int = 24, accounts: pa.Table | None = None) -> pa.Table:
    """One row per entity: `ACCOUNT_FEATURES_SQL` columns plus the extras, sorted by ``account_id`` (the
    entity id). With `clusters` (a table of ``account_id``, ``cluster_id``, ``cluster_size``), entities are
    its clusters; given also `accounts` (this function's account rows of the same `table`), a cluster of
    one account takes its account's row (the same requests, hence the same values; its id is the
    account's) and only the clusters of several accounts are computed."""
    engine = as_engine(con)
    multi_only = clusters is not None and accounts is not None
    view = _view(engine, table, clusters, multi_only)
    base = ACCOUNT_FEATURES_SQL.replace("{table}", view)
    extras = (ENTITY_EXTRAS_SQL.replace("{table}", view).replace("{log}", quote_ident(table))
              .replace("{account}", "orig_account").replace("{pivot_hours}", str(int(pivot_hours))))
    pooled = engine.sql(f"SELECT b.*, {', '.join('e.' + c for c in ENTITY_EXTRAS)} FROM ({base}) b "
                        f"JOIN ({extras}) e ON e.account_id = b.account_id ORDER BY b.account_id")
    if not multi_only:
        return pooled
    single = engine.sql(f"SELECT account_id FROM {quote_ident(clusters)} WHERE cluster_size = 1").column(0)
    alone = accounts.filter(pc.is_in(accounts.column("account_id"), value_set=single.combine_chunks()))
    return pa.concat_tables([alone, pooled.cast(accounts.schema)]).sort_by("account_id").combine_chunks()
