"""`scan`: which accounts are harvesting our model? Logs in, alerts and a report out.

Pipeline: ingest with a quarantine (`LogReader`) -> per-request signatures (map) -> account features and
account linking (SQL) -> entity features of accounts and of clusters -> scores against a benign model ->
calibrated thresholds -> alerts. The map and the SQL run on an engine (`traffic.engine`): DuckDB
in-process by default, or Spark (``engine="spark"``: ``mapInArrow`` and Spark SQL, `traffic.spark`) for
provider-scale logs; both run the same code and give the same alerts on the same logs. Writes
``alerts.jsonl``, ``summary.json``, ``report.html``, ``accounts.parquet`` (every account's score and
cluster) and the quarantine ``quarantine.jsonl`` (only when a row was rejected) into `out_dir`.

Calibration (see `traffic.scoring`): with `reference` (benign history logs, or a `Reference` fitted
once), the benign model and thresholds come from it; without, from the scanned population treated as
mostly benign, with a tail-extrapolated threshold. The cluster model is fitted on every component (singletons
included, for breadth) and its threshold on the scores of the multi-account clusters (the entities it
judges; singletons are judged as accounts) when there are at least 20 of them. Accounts and clusters are each
thresholded at ``fpr / 2``, so a benign account is flagged, alone or through its cluster, with probability at most
about `fpr`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..progress import progress_bar
from .alerts import build_alerts, sample_prompts, write_alerts
from .engine import ENGINES, SqlEngine, as_engine, open_engine
from .entities import entity_features
from .ingest import LogReader
from .linking import LinkOptions, link_accounts
from .quarantine import IngestReport, QuarantineWriter
from .scoring import FEATURES, BenignModel, tail_threshold

__all__ = ["DEFAULT_MEMORY_LIMIT", "ENGINES", "Reference", "ScanResult", "fit_reference", "load_signatures",
           "loaded_engine", "population_alerts", "population_entities", "reference_from_signatures", "scan",
           "score_population"]

DEFAULT_MEMORY_LIMIT = "4GB"  # DuckDB's buffer memory in `scan`; beyond it, tables spill to disk



@dataclass
class Reference:
    """Benign models for accounts and clusters with their thresholds, fitted on benign history."""

    accounts: BenignModel
    clusters: BenignModel
    account_threshold: float
    cluster_threshold: float
    fpr: float


@dataclass
class ScanResult:
    """What `scan` found and where it wrote it."""

    out_dir: Path
    alerts: list[dict[str, Any]]
    summary: dict[str, Any]
    accounts: pa.Table
    ingest: IngestReport
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def flagged_accounts(self) -> set[str]:
        return {a for alert in self.alerts for a in alert["account_ids"]}


def load_signatures(con: SqlEngine | duckdb.DuckDBPyConnection, logs: Sequence[str | os.PathLike], *,
                    quarantine: str | os.PathLike | None = None, progress: bool = True,
                    table: str = "signatures") -> IngestReport:
    """Read `logs` (any `LogReader` format) into the engine's tables `table` (signatures) and ``dw_prompts``
    (a sample of prompt texts for alerts); returns the merged ingest report. Reading and the quarantine
    run here, on the driver, whatever the engine."""
    engine = as_engine(con)
    writer = QuarantineWriter(quarantine) if quarantine else None
    report = IngestReport()
    readers = [LogReader(p, quarantine=writer) if writer else LogReader(p) for p in logs]

    def batches(advance):
        for r in readers:
            for batch in r:
                advance(batch.num_rows)
                yield batch

    try:
        with progress_bar(None, "scan: ingest + signatures", enabled=progress) as advance:
            engine.map_requests(batches(advance), table=table, prompts="dw_prompts")
    finally:
        if writer is not None:
            writer.close()
    for r in readers:
        report = report.merge(r.report)
    return report


@contextmanager
def loaded_engine(logs: Sequence[str | os.PathLike], engine: str | SqlEngine = "duckdb", *,
                  progress: bool = False) -> Iterator[SqlEngine]:
    """An engine holding the signatures of `logs` (`load_signatures`): a name from `ENGINES` is opened here
    and closed on exit; an open engine is used and left open."""
    eng = open_engine(engine)
    try:
        load_signatures(eng, [os.fspath(p) for p in logs], progress=progress)
        yield eng
    finally:
        if isinstance(engine, str):
            eng.close()


def population_entities(con: SqlEngine | duckdb.DuckDBPyConnection, link_options: LinkOptions | None = None
                        ) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """(account features, clusters, edges, cluster features) of the ``signatures`` table of `con`: the
    entities that scoring, calibration and training all start from."""
    con = as_engine(con)
    accounts = entity_features(con)
    clusters, edges = link_accounts(con, options=link_options)
    return accounts, clusters, edges, entity_features(con, clusters="clusters", accounts=accounts)


def _multi(cluster_features: pa.Table, min_rows: int = 20) -> pa.Table:
    """The multi-account clusters (what cluster thresholds apply to), or every component if too few."""
    multi = cluster_features.filter(pc.starts_with(cluster_features.column("account_id"), "cluster:"))
    return multi if multi.num_rows >= min_rows else cluster_features


def _thresholds(model: BenignModel, scores: np.ndarray, fpr: float, reference: bool) -> float:
    if reference and len(scores) * fpr >= 5:
        return float(np.quantile(scores, 1.0 - fpr, method="higher"))
    return tail_threshold(scores, fpr)


def score_population(con: SqlEngine | duckdb.DuckDBPyConnection, *, fpr: float = 0.001,
                     reference: Reference | None = None, link_options: LinkOptions | None = None,
                     weights: dict[str, float] | None = None) -> dict[str, Any]:
    """Link, featurize and score the accounts and clusters of the ``signatures`` table of `con` (an engine
    or a DuckDB connection).

    Returns a dict with ``accounts``/``cluster_features`` (entity feature tables), ``clusters``, ``edges``,
    per-entity ``*_scores``, ``*_contrib``, ``*_values`` and the two thresholds."""
    accounts, clusters, edges, cluster_features = population_entities(con, link_options)
    if reference is None:
        acc_model = BenignModel(weights=weights).fit(accounts)
        clu_model = BenignModel(weights=weights).fit(cluster_features)
    else:
        acc_model, clu_model = reference.accounts, reference.clusters
    a_scores, a_contrib, a_values = acc_model.score(accounts)
    c_scores, c_contrib, c_values = clu_model.score(cluster_features)
    if reference is None:
        a_thr = _thresholds(acc_model, a_scores, fpr / 2, False)
        c_thr = _thresholds(clu_model, clu_model.score(_multi(cluster_features))[0], fpr / 2, False)
    else:
        a_thr, c_thr = reference.account_threshold, reference.cluster_threshold
    return {"accounts": accounts, "clusters": clusters, "edges": edges, "cluster_features": cluster_features,
            "account_scores": a_scores, "account_contrib": a_contrib, "account_values": a_values,
            "cluster_scores": c_scores, "cluster_contrib": c_contrib, "cluster_values": c_values,
            "account_threshold": a_thr, "cluster_threshold": c_thr}


def population_alerts(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts (without sample prompts) of a `score_population` result."""
    return build_alerts(accounts=r["accounts"], account_scores=r["account_scores"],
                        account_contrib=r["account_contrib"], account_values=r["account_values"],
                        account_threshold=r["account_threshold"], clusters=r["clusters"],
                        cluster_features=r["cluster_features"], cluster_scores=r["cluster_scores"],
                        cluster_contrib=r["cluster_contrib"], cluster_values=r["cluster_values"],
                        cluster_threshold=r["cluster_threshold"], features=FEATURES)


def fit_reference(logs: Sequence[str | os.PathLike], *, fpr: float = 0.001, link_options: LinkOptions | None = None,
                  weights: dict[str, float] | None = None, progress: bool = False,
                  engine: str | SqlEngine = "duckdb") -> Reference:
    """Fit the benign models and thresholds on benign history `logs` (every account assumed benign):
    thresholds are the empirical (1 - fpr/2) quantiles of the history's account and cluster scores, or a
    tail extrapolation where the history has fewer than 5 entities beyond that quantile. `engine`: a
    name from `ENGINES` (opened and closed here) or an open engine (left open)."""
    with loaded_engine(logs, engine, progress=progress) as eng:
        return reference_from_signatures(eng, fpr=fpr, link_options=link_options, weights=weights)


def reference_from_signatures(con: SqlEngine | duckdb.DuckDBPyConnection, *, fpr: float = 0.001,
                              link_options: LinkOptions | None = None,
                              weights: dict[str, float] | None = None) -> Reference:
    """`fit_reference` over the ``signatures`` table already loaded in `con` (an engine or DuckDB connection)."""
    accounts, _, _, cluster_features = population_entities(con, link_options)
    acc = BenignModel(weights=weights).fit(accounts)
    clu = BenignModel(weights=weights).fit(cluster_features)
    return Reference(acc, clu, _thresholds(acc, acc.reference_scores_, fpr / 2, True),
                     _thresholds(clu, clu.score(_multi(cluster_features))[0], fpr / 2, True), fpr)


def scan(logs: Sequence[str | os.PathLike] | str | os.PathLike, out_dir: str | os.PathLike, *,
         engine: str | SqlEngine = "duckdb", fpr: float = 0.001,
         reference: Reference | Sequence[str | os.PathLike] | None = None, weights: dict[str, float] | None = None,
         link_options: LinkOptions | None = None, n_sample_prompts: int = 3, progress: bool = True,
         report: bool = True, memory_limit: str | None = DEFAULT_MEMORY_LIMIT) -> ScanResult:
    """Scan request logs for harvesting accounts and clusters; write alerts, summary and report to `out_dir`.

    `reference`: benign history (log paths, or a fitted `Reference`) for calibration; None calibrates on
    the scanned population itself. `fpr`: the benign false-positive rate to calibrate to. `engine`: one of
    `ENGINES` (``"spark"`` needs the ``spark`` extra and Java 17+), or an open engine or DuckDB connection
    (left open). ``seconds`` in the summary runs from ingest to alerts; starting the engine (a Spark
    session) is ``engine_start_seconds``. `memory_limit`: what DuckDB may hold in memory before it spills
    to a temporary directory (a DuckDB size such as ``"4GB"``; None or ``"none"``: DuckDB's default, 80% of RAM).
    """
    if isinstance(logs, (str, os.PathLike)):
        logs = [logs]
    out = Path(out_dir)
    t_start = time.perf_counter()
    con = open_engine(engine, **({"memory_limit": memory_limit} if engine == "duckdb" else {}))
    engine_name, t_start = con.name, time.perf_counter() - t_start
    try:
        out.mkdir(parents=True, exist_ok=True)
        if reference is not None and not isinstance(reference, Reference):
            load_signatures(con, [os.fspath(p) for p in reference], progress=False)
            reference = reference_from_signatures(con, fpr=fpr, link_options=link_options, weights=weights)
        t0 = time.perf_counter()
        ingest = load_signatures(con, [os.fspath(p) for p in logs], quarantine=out / "quarantine.jsonl",
                                 progress=progress)
        t_map = time.perf_counter() - t0
        r = score_population(con, fpr=fpr, reference=reference, link_options=link_options, weights=weights)
        alerts = population_alerts(r)
        samples = sample_prompts(con, {a["entity_id"]: a["account_ids"] for a in alerts}, k=n_sample_prompts)
        links = _link_kinds(r["clusters"], r["edges"])
        for a in alerts:
            a["sample_prompts"] = samples.get(a["entity_id"], [])
            if a["kind"] == "cluster":
                a["links"] = links.get(a["entity_id"], {})
        timelines = _timelines(con, alerts[:5]) if report else {}
    finally:
        if isinstance(engine, str):
            con.close()
    seconds = time.perf_counter() - t0
    scored = r["accounts"].select(["account_id", "n_requests"]).append_column(
        "score", pa.array(r["account_scores"])).append_column(
        "cluster_id", r["clusters"].column("cluster_id")).append_column(
        "flagged", pa.array(np.isin(r["accounts"].column("account_id").to_numpy(zero_copy_only=False),
                                    sorted({a for al in alerts for a in al["account_ids"]}))))
    summary = {
        "logs": [os.fspath(p) for p in logs], "engine": engine_name, "fpr": fpr,
        "calibration": "reference" if reference is not None else "self (scanned population, tail-extrapolated)",
        "weights": dict(weights) if weights else "default",
        "account_threshold": round(float(r["account_threshold"]), 4),
        "cluster_threshold": round(float(r["cluster_threshold"]), 4),
        "requests": ingest.rows_accepted, "accounts": r["accounts"].num_rows,
        "clusters_multi": int(sum(1 for c in set(r["clusters"].column("cluster_id").to_pylist())
                                  if c.startswith("cluster:"))),
        "edges": r["edges"].num_rows, "alerts": len(alerts),
        "flagged_accounts": len({a for al in alerts for a in al["account_ids"]}),
        "ingest": ingest.as_dict(), "seconds": round(seconds, 3), "map_seconds": round(t_map, 3),
        "engine_start_seconds": round(t_start, 3),
        "requests_per_s": round(ingest.rows_read / max(seconds, 1e-9)),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    import pyarrow.parquet as pq

    paths = {"alerts": Path(write_alerts(alerts, out / "alerts.jsonl")), "summary": out / "summary.json",
             "accounts": out / "accounts.parquet"}
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    pq.write_table(scored, paths["accounts"])
    if report:
        from .scan_report import render_scan_report

        paths["report"] = render_scan_report(out / "report.html", summary, alerts, scored, timelines)
    if ingest.rows_quarantined:
        paths["quarantine"] = out / "quarantine.jsonl"
    return ScanResult(out, alerts, summary, scored, ingest, paths)


def _link_kinds(clusters: pa.Table, edges: pa.Table) -> dict[str, dict[str, int]]:
    """Per cluster, how many of its links rest on each kind of evidence (ip24, payment, sync, ...), kinds
    in name order (the edges come in no fixed order from the engine)."""
    cluster_of = dict(zip(clusters.column("account_id").to_pylist(), clusters.column("cluster_id").to_pylist()))
    out: dict[str, dict[str, int]] = {}
    for a, kinds in zip(edges.column("a").to_pylist(), edges.column("kinds").to_pylist()):  # per edge, not row
        counts = out.setdefault(cluster_of[a], {})
        for kind in kinds.split(","):
            counts[kind] = counts.get(kind, 0) + 1
    return {cluster: dict(sorted(counts.items())) for cluster, counts in out.items()}


def _timelines(engine: SqlEngine, alerts: list[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """Requests per hour of each alert's accounts (hours since the log's first request)."""
    if not alerts:
        return {}
    keys = [a["alert_id"] for a in alerts for _ in a["account_ids"]]
    accs = [x for a in alerts for x in a["account_ids"]]
    engine.register("dw_tl", pa.table({"key": pa.array(keys, pa.string()), "account_id": pa.array(accs, pa.string())}))
    try:
        rows = engine.sql("""
            WITH start AS (SELECT unix_micros(min(timestamp)) AS t0 FROM signatures)
            SELECT t.key, floor((unix_micros(s.timestamp) - start.t0) / 3600e6) AS h, count(*) AS c
            FROM signatures s JOIN dw_tl t ON t.account_id = s.account_id CROSS JOIN start
            GROUP BY 1, 2 ORDER BY 1, 2""")
    finally:
        engine.unregister("dw_tl")
    out: dict[str, tuple[list[float], list[float]]] = {}
    for key, h, c in zip(*(rows.column(i).to_pylist() for i in range(3))):
        xs, ys = out.setdefault(key, ([], []))
        xs.append(float(h))
        ys.append(float(c))
    return out
