"""Per-account features in SQL over request signatures: the aggregate step of `scan`, on any engine.

The shape: log batches -> `compute_signatures` (map, Arrow in/out) -> a table ``signatures`` ->
`ACCOUNT_FEATURES_SQL` (aggregate). The SQL is one text for DuckDB and Spark SQL (window functions,
CTEs, plain aggregates; ``unix_micros`` is a DuckDB macro, see `traffic.engine`).

Features, one row per account:

- ``n_requests``, ``first_seen``, ``last_seen``, ``n_models``, ``n_ips``, ``n_api_keys``,
  ``n_payment_fingerprints``: volume and infrastructure.
- ``single_turn_share``: requests with one user message and no earlier assistant turn.
- ``cot_share``, ``rubric_share``, ``synthetic_share``, ``identity_probe_share``,
  ``censorship_rewrite_share``: share of requests raising each lexicon flag.
- ``logprobs_share``, ``multi_choice_share`` (n > 1): harvesting of distributions, not just texts.
- ``template_concentration``: share of the account's requests in its most frequent template, the
  largest of the three template signatures' top shares (exact values; near-duplicates by Hamming
  distance are left to the clustering step). ``n_templates``: distinct ``template_sig`` values.
- ``topic_entropy_bits`` (Shannon entropy of the topic distribution, bits), ``n_topics``,
  ``n_languages``: breadth of the capability sweep.
- ``output_input_token_ratio``: completion tokens over prompt tokens, summed.
- ``gap_cv``: coefficient of variation (sample sd / mean) of inter-arrival gaps in seconds; near 0
  for a metronome-like client, about 1 for Poisson arrivals; null below 3 requests.
  ``median_gap_s``: the median gap.

``topic_entropy_bits`` and ``gap_cv`` are rounded to 9 decimals: they are floating-point sums whose
order differs between engines and runs, and scoring ranks entities, so two accounts with the same
counts must tie on every engine rather than differ in the last bit.
"""

from __future__ import annotations

from typing import Iterable

import duckdb
import pyarrow as pa

from ._duck import quote_ident
from .engine import DuckEngine, SqlEngine, as_engine

__all__ = ["ACCOUNT_FEATURES_SQL", "register_signatures", "account_features", "scan_accounts"]

_SHARES = ("cot", "rubric", "synthetic", "identity_probe", "censorship_rewrite")

ACCOUNT_FEATURES_SQL = """
WITH base AS (
  SELECT account_id,
    count(*) AS n_requests,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    count(DISTINCT model) AS n_models,
    count(DISTINCT ip) AS n_ips,
    count(DISTINCT api_key_id) AS n_api_keys,
    count(DISTINCT payment_fingerprint) AS n_payment_fingerprints,
    avg(CASE WHEN n_user_turns <= 1 AND n_assistant_turns = 0 THEN 1 ELSE 0 END) AS single_turn_share,
    {shares},
    avg(CASE WHEN logprobs THEN 1 ELSE 0 END) AS logprobs_share,
    avg(CASE WHEN n > 1 THEN 1 ELSE 0 END) AS multi_choice_share,
    CAST(sum(completion_tokens) AS DOUBLE) / nullif(sum(prompt_tokens), 0) AS output_input_token_ratio,
    count(DISTINCT lang) AS n_languages
  FROM {table} GROUP BY account_id
),
top_head AS (SELECT account_id, max(c) AS c FROM
  (SELECT account_id, template_head, count(*) AS c FROM {table} GROUP BY account_id, template_head) GROUP BY account_id),
top_tail AS (SELECT account_id, max(c) AS c FROM
  (SELECT account_id, template_tail, count(*) AS c FROM {table} GROUP BY account_id, template_tail) GROUP BY account_id),
top_sig AS (SELECT account_id, max(c) AS c, count(template_sig) AS n_templates FROM
  (SELECT account_id, template_sig, count(*) AS c FROM {table} GROUP BY account_id, template_sig) GROUP BY account_id),
topics AS (
  SELECT account_id, round(-sum(p * log2(p)), 9) AS topic_entropy_bits, count(topic) AS n_topics FROM (
    SELECT account_id, topic,
      CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY account_id) AS p
    FROM {table} GROUP BY account_id, topic) GROUP BY account_id
),
gaps AS (
  SELECT account_id,
    (unix_micros(timestamp) - unix_micros(lag(timestamp) OVER (PARTITION BY account_id ORDER BY timestamp)))
      / 1e6 AS gap_s
  FROM {table}
),
timing AS (
  SELECT account_id, round(stddev_samp(gap_s) / nullif(avg(gap_s), 0), 9) AS gap_cv, median(gap_s) AS median_gap_s
  FROM gaps WHERE gap_s IS NOT NULL GROUP BY account_id
)
SELECT b.*, g.n_templates, tp.n_topics,
  CAST(greatest(h.c, t.c, g.c) AS DOUBLE) / b.n_requests AS template_concentration,
  tp.topic_entropy_bits,
  CASE WHEN b.n_requests >= 3 THEN tm.gap_cv END AS gap_cv,
  tm.median_gap_s
FROM base b
JOIN top_head h USING (account_id)
JOIN top_tail t USING (account_id)
JOIN top_sig g USING (account_id)
JOIN topics tp USING (account_id)
LEFT JOIN timing tm USING (account_id)
ORDER BY account_id
""".replace("{shares}", ",\n    ".join(
    f"avg(CASE WHEN is_{n} THEN 1 ELSE 0 END) AS {n}_share" for n in _SHARES))


def register_signatures(con: SqlEngine | duckdb.DuckDBPyConnection, log_batches: Iterable[pa.RecordBatch], *,
                        name: str = "signatures") -> int:
    """Map `compute_signatures` over `log_batches` (streamed, one batch in memory at a time) into the
    table `name` of an engine or DuckDB connection; returns its row count."""
    engine = as_engine(con)
    engine.map_requests(log_batches, table=name, prompts=None)
    return engine.sql(f"SELECT count(*) AS n FROM {quote_ident(name)}").column(0)[0].as_py()


def account_features(con: SqlEngine | duckdb.DuckDBPyConnection, *, table: str = "signatures") -> pa.Table:
    """`ACCOUNT_FEATURES_SQL` over the signature table `table`: one row per account, by account_id."""
    return as_engine(con).sql(ACCOUNT_FEATURES_SQL.replace("{table}", quote_ident(table)))


def scan_accounts(log_batches: Iterable[pa.RecordBatch] | pa.Table) -> pa.Table:
    """Map then aggregate on DuckDB: per-account features of a log (a `LOG_SCHEMA` table or batch stream)."""
    if isinstance(log_batches, pa.Table):
        log_batches = log_batches.to_batches()
    engine = DuckEngine()
    try:
        register_signatures(engine, log_batches)
        return account_features(engine)
    finally:
        engine.close()
