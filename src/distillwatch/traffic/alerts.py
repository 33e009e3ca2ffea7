"""Alerts: one JSON-ready record per flagged account or cluster, with the features that drove its score and
sample prompts, written as JSON lines.

A cluster alert (``kind == "cluster"``) covers every account of a flagged multi-account cluster; an
account alert covers one flagged account that is not already inside a flagged cluster. Reasons are the
features with a positive contribution, largest first: ``feature``, ``value`` (after shrinkage, as
scored), ``contribution`` (weight × surprise, in log10 units), ``description``. `scan` adds
``sample_prompts`` to every alert and, to cluster alerts, ``links``: how many of the cluster's links rest
on each kind of evidence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ._duck import quote_ident
from .engine import SqlEngine, as_engine
from .scoring import Feature
from .signatures import SIGNATURE_SCHEMA

__all__ = ["alert_differences", "build_alerts", "read_alerts", "sample_prompts", "write_alerts"]

_FLAG_COLUMNS = [f.name for f in SIGNATURE_SCHEMA if f.name.startswith("is_")]


def sample_prompts(con: SqlEngine | duckdb.DuckDBPyConnection, accounts_by_key: dict[str, Sequence[str]], *,
                   k: int = 3, table: str = "signatures", max_chars: int = 300) -> dict[str, list[str]]:
    """Up to `k` prompts per key (an alert's entity id) from the key's accounts, out of the engine's
    ``dw_prompts`` sample (`traffic.signatures.prompt_sample`): requests raising a lexicon flag first,
    then by the sample's hash of the request id (the same order on every engine); each cut to `max_chars`."""
    if not accounts_by_key:
        return {}
    engine = as_engine(con)
    keys = [key for key, accs in accounts_by_key.items() for _ in accs]
    accs = [a for accs in accounts_by_key.values() for a in accs]
    engine.register("dw_alert_accounts", pa.table({"key": pa.array(keys, pa.string()),
                                                   "account_id": pa.array(accs, pa.string())}))
    flagged = " OR ".join(_FLAG_COLUMNS) or "false"
    try:
        rows = engine.sql(f"""
            SELECT key, prompt FROM (
              SELECT m.key, left(p.prompt_text, {int(max_chars)}) AS prompt,
                row_number() OVER (PARTITION BY m.key
                                   ORDER BY ({flagged}) DESC, p.sample_key, s.request_id, p.prompt_text) AS r
              FROM {quote_ident(table)} s JOIN dw_alert_accounts m ON m.account_id = s.account_id
              JOIN dw_prompts p ON p.request_id = s.request_id) WHERE r <= {int(k)} ORDER BY key, r""")
    finally:
        engine.unregister("dw_alert_accounts")
    out: dict[str, list[str]] = {key: [] for key in accounts_by_key}
    for key, prompt in zip(rows.column("key").to_pylist(), rows.column("prompt").to_pylist()):
        out[key].append(prompt)
    return out


def _reasons(contributions: np.ndarray, values: np.ndarray, features: Sequence[Feature], top: int) -> list[dict]:
    order = np.argsort(-contributions)[:top]
    return [{"feature": features[j].name, "value": round(float(values[j]), 4),
             "contribution": round(float(contributions[j]), 3), "description": features[j].doc}
            for j in order if contributions[j] > 0]


def build_alerts(*, accounts: pa.Table, account_scores: np.ndarray, account_contrib: np.ndarray,
                 account_values: np.ndarray, account_threshold: float, clusters: pa.Table,
                 cluster_features: pa.Table, cluster_scores: np.ndarray, cluster_contrib: np.ndarray,
                 cluster_values: np.ndarray, cluster_threshold: float, features: Sequence[Feature],
                 top_reasons: int = 5) -> list[dict[str, Any]]:
    """Alert records, highest score first (without sample prompts; see `sample_prompts`).

    `accounts` and `cluster_features` are entity feature tables (``account_id`` = entity id) aligned with
    their scores; `clusters` maps ``account_id`` to ``cluster_id``.
    """
    members: dict[str, list[str]] = {}
    for a, c in zip(clusters.column("account_id").to_pylist(), clusters.column("cluster_id").to_pylist()):
        members.setdefault(c, []).append(a)
    alerts: list[dict[str, Any]] = []
    covered: set[str] = set()
    cid = cluster_features.column("account_id").to_pylist()
    n_req = cluster_features.column("n_requests").to_pylist()
    for i in np.flatnonzero(cluster_scores >= cluster_threshold):  # a loop over alerts, not rows
        accs = members.get(cid[i], [])
        if len(accs) < 2:
            continue
        covered.update(accs)
        alerts.append({"kind": "cluster", "entity_id": cid[i], "account_ids": sorted(accs),
                       "score": round(float(cluster_scores[i]), 3), "threshold": round(float(cluster_threshold), 3),
                       "n_requests": int(n_req[i]),
                       "reasons": _reasons(cluster_contrib[i], cluster_values[i], features, top_reasons)})
    aid = accounts.column("account_id").to_pylist()
    a_req = accounts.column("n_requests").to_pylist()
    for i in np.flatnonzero(account_scores >= account_threshold):
        if aid[i] in covered:
            continue
        alerts.append({"kind": "account", "entity_id": aid[i], "account_ids": [aid[i]],
                       "score": round(float(account_scores[i]), 3), "threshold": round(float(account_threshold), 3),
                       "n_requests": int(a_req[i]),
                       "reasons": _reasons(account_contrib[i], account_values[i], features, top_reasons)})
    alerts.sort(key=lambda a: (-a["score"], a["entity_id"]))
    for rank, alert in enumerate(alerts, 1):
        alert["alert_id"] = f"A{rank:05d}"
    return alerts


def alert_differences(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], *, tol: float = 2e-3) -> list[str]:
    """How two alert lists differ (empty when they agree), e.g. the alerts of two engines on one log.

    Alerts are matched by position; ids, kinds, accounts, request counts, reason features, links and sample
    prompts must be equal, scores, thresholds and reason values and contributions equal within `tol`,
    relative beyond 1 (they are rounded to 3 or 4 decimals, so sums taken in another order may round one
    unit apart)."""

    def far(u: float, v: float) -> bool:
        return abs(u - v) > tol * max(1.0, abs(u))

    out = [f"{len(a)} alerts against {len(b)}"] if len(a) != len(b) else []
    exact = ("alert_id", "kind", "entity_id", "account_ids", "n_requests", "links", "sample_prompts")
    for x, y in zip(a, b):
        where = f"{x.get('alert_id')} {x.get('entity_id')}"
        out += [f"{where}: {k} {x.get(k)!r} != {y.get(k)!r}" for k in exact if x.get(k) != y.get(k)]
        out += [f"{where}: {k} {x[k]} != {y[k]}" for k in ("score", "threshold") if far(x[k], y[k])]
        rx, ry = x["reasons"], y["reasons"]
        if [r["feature"] for r in rx] != [r["feature"] for r in ry]:
            out.append(f"{where}: reasons {[r['feature'] for r in rx]} != {[r['feature'] for r in ry]}")
            continue
        out += [f"{where}: {r['feature']} {k} {r[k]} != {q[k]}" for r, q in zip(rx, ry)
                for k in ("value", "contribution") if far(r[k], q[k])]
    return out


def write_alerts(alerts: Iterable[dict[str, Any]], path: str | os.PathLike) -> str:
    """Write alerts as JSON lines; returns the path."""
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(alert, ensure_ascii=False, default=str) + "\n" for alert in alerts)
    return path


def read_alerts(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The alerts of an ``alerts.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
