"""Account linking: a graph of accounts joined by shared infrastructure, shared templates and synchronised
timing, cut into clusters (connected components) that are then scored as wholes.

Edges come from SQL over the ``signatures`` table, one SQL text for either engine (`traffic.engine`).
Each account has attribute values of several kinds: ``ip24`` (IPv4 /24 prefix), ``user_agent``,
``payment`` (payment fingerprint), ``org``, ``template``
(a template head used in at least `min_template_requests` requests and `min_template_share` of the
account's traffic). Two accounts sharing a value of kind k gain ``log(N / df)`` for that kind (the
largest over shared values of k), where N is the number of accounts and df the number holding the value:
a user agent shared by half the population is no evidence, a payment fingerprint shared by three
accounts is strong evidence. Values held by more than `max_df` accounts are dropped before the self-join
(their weight would be small and their pairs many). Timing: accounts are *synchronised* when at least
`min_sync_buckets` of their active `bucket_minutes`-minute buckets coincide and the coincidences are at
least `min_sync_jaccard` of the union of their buckets (Jaccard; buckets busier than `bucket_max_df`
accounts are ignored, to bound the self-join); that adds `sync_weight`. The self-join pairs only accounts
that could pass: each with `min_sync_buckets` buckets or more, neither with fewer than `min_sync_jaccard`
times the other's (the coincidences are at most the smaller count, and the union at least the larger);
it pairs accounts by their rank in account order (an integer) and only counts each pair's coincidences,
naming the accounts and fetching their bucket counts only in the few pairs kept (carrying the counts
through the grouping of every co-active pair, 9M of them in a 10M-request log, made linking 8% slower).
Template evidence counts
`template_weight` times its rarity: benign users share public prompt templates (plugins, frameworks,
benchmarks), so a shared template alone does not link two accounts; with shared infrastructure or
timing it does. An edge exists where the total reaches `min_weight`.

Components: `scipy.sparse.csgraph.connected_components` over the edge list, collected to the driver
(no Python loop per account).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._duck import quote_ident
from .engine import SqlEngine, as_engine

__all__ = ["ATTRIBUTES_SQL", "LinkOptions", "link_accounts"]


@dataclass(frozen=True)
class LinkOptions:
    """Linking parameters (see the module docstring)."""

    min_weight: float = 5.0
    max_df: int = 50
    bucket_max_df: int = 300
    min_template_requests: int = 3
    min_template_share: float = 0.2
    bucket_minutes: int = 5
    min_sync_buckets: int = 3
    min_sync_jaccard: float = 0.5
    sync_weight: float = 5.0
    template_weight: float = 0.5


ATTRIBUTES_SQL = """
SELECT DISTINCT account_id, 'ip24' AS kind, ip24 AS value FROM {t} WHERE ip24 IS NOT NULL
UNION ALL SELECT DISTINCT account_id, 'user_agent', user_agent FROM {t} WHERE user_agent IS NOT NULL
UNION ALL SELECT DISTINCT account_id, 'payment', payment_fingerprint FROM {t} WHERE payment_fingerprint IS NOT NULL
UNION ALL SELECT DISTINCT account_id, 'org', org_id FROM {t} WHERE org_id IS NOT NULL
UNION ALL SELECT account_id, 'template', CAST(template_head AS STRING) FROM (
  SELECT account_id, template_head, count(*) AS c, sum(count(*)) OVER (PARTITION BY account_id) AS total
  FROM {t} GROUP BY account_id, template_head)
  WHERE c >= {min_template_requests} AND c >= {min_template_share} * total
"""

_EDGES_SQL = """
WITH attrs AS ({attributes}),
n AS (SELECT count(DISTINCT account_id) AS n FROM {t}),
df AS (SELECT kind, value, count(*) AS df FROM attrs GROUP BY kind, value),
kept AS (SELECT a.account_id, a.kind, a.value, ln((SELECT n FROM n) / df.df) AS idf
         FROM attrs a JOIN df USING (kind, value) WHERE df.df > 1 AND df.df <= {max_df}),
shared AS (SELECT x.account_id AS a, y.account_id AS b, x.kind,
             max(x.idf) * CASE WHEN x.kind = 'template' THEN {template_weight} ELSE 1.0 END AS w
           FROM kept x JOIN kept y ON x.kind = y.kind AND x.value = y.value AND x.account_id < y.account_id
           GROUP BY 1, 2, 3),
ids AS (SELECT account_id, row_number() OVER (ORDER BY account_id) AS k FROM (SELECT DISTINCT account_id FROM {t})),
buckets AS (SELECT DISTINCT i.k, CAST(floor(unix_micros(s.timestamp) / ({bucket} * 60e6)) AS BIGINT) AS bucket
           FROM {t} s JOIN ids i ON i.account_id = s.account_id),
nb AS (SELECT k, count(*) AS nb FROM buckets GROUP BY k HAVING count(*) >= {min_sync}),
bdf AS (SELECT bucket FROM buckets GROUP BY bucket HAVING count(*) <= {bucket_max_df}),
kb AS (SELECT k, bucket, nb.nb FROM buckets JOIN bdf USING (bucket) JOIN nb USING (k)),
sync_counts AS (SELECT x.k AS ka, y.k AS kb, count(*) AS c
         FROM kb x JOIN kb y ON x.bucket = y.bucket AND x.k < y.k
           AND x.nb >= CAST({jaccard} AS DOUBLE) * y.nb AND y.nb >= CAST({jaccard} AS DOUBLE) * x.nb
         GROUP BY 1, 2 HAVING count(*) >= {min_sync}),
sync AS (SELECT ia.account_id AS a, ib.account_id AS b, 'sync' AS kind, {sync_weight} AS w
         FROM sync_counts JOIN ids ia ON ia.k = sync_counts.ka JOIN ids ib ON ib.k = sync_counts.kb
           JOIN nb na ON na.k = sync_counts.ka JOIN nb nbb ON nbb.k = sync_counts.kb
         WHERE c >= {jaccard} * (na.nb + nbb.nb - c))
SELECT a, b, sum(w) AS weight, array_join(array_sort(array_agg(kind)), ',') AS kinds FROM (
  SELECT * FROM shared UNION ALL SELECT * FROM sync
) GROUP BY a, b HAVING sum(w) >= {min_weight}
"""


def _edges_sql(table: str, o: LinkOptions) -> str:
    t = quote_ident(table)
    attributes = (ATTRIBUTES_SQL.replace("{t}", t).replace("{min_template_requests}", str(o.min_template_requests))
                  .replace("{min_template_share}", repr(o.min_template_share)))
    return (_EDGES_SQL.replace("{attributes}", attributes).replace("{t}", t).replace("{max_df}", str(o.max_df))
            .replace("{bucket_max_df}", str(o.bucket_max_df))
            .replace("{bucket}", str(int(o.bucket_minutes))).replace("{sync_weight}", repr(o.sync_weight))
            .replace("{template_weight}", repr(o.template_weight))
            .replace("{min_sync}", str(o.min_sync_buckets)).replace("{jaccard}", repr(o.min_sync_jaccard))
            .replace("{min_weight}", repr(o.min_weight)))


def link_accounts(con: SqlEngine | duckdb.DuckDBPyConnection, *, table: str = "signatures",
                  options: LinkOptions | None = None, clusters_table: str = "clusters") -> tuple[pa.Table, pa.Table]:
    """Link the accounts of `table`. Returns (clusters: ``account_id``, ``cluster_id``, ``cluster_size``;
    edges: ``a``, ``b``, ``weight``, ``kinds``) and registers the clusters in the engine as the table
    `clusters_table`. A cluster's id is its smallest account id, prefixed ``cluster:`` when it has more
    than one account."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    engine = as_engine(con)
    o = options or LinkOptions()
    accounts = engine.sql(f"SELECT DISTINCT account_id FROM {quote_ident(table)} ORDER BY account_id").column(0)
    accounts = accounts.combine_chunks()
    edges = engine.sql(_edges_sql(table, o))
    n = len(accounts)
    i = pc.index_in(edges.column("a"), value_set=accounts).to_numpy(zero_copy_only=False)
    j = pc.index_in(edges.column("b"), value_set=accounts).to_numpy(zero_copy_only=False)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    size = np.bincount(comp)[comp]
    first = np.full(comp.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(n))  # accounts are sorted: the first index is the smallest id
    ids = np.asarray(accounts.to_numpy(zero_copy_only=False), dtype=object)
    root = ids[first[comp]]
    cluster_id = np.where(size > 1, np.char.add("cluster:", root.astype(str)), root.astype(str))
    clusters = pa.table({"account_id": accounts, "cluster_id": pa.array(cluster_id.tolist(), pa.string()),
                         "cluster_size": pa.array(size.astype(np.int32))})
    engine.register(clusters_table, clusters)
    return clusters, edges
