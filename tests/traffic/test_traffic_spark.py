"""The Spark engine runs the same `scan` as DuckDB: on one log (simulated campaigns plus bad rows), Spark in
``local[2]`` (``mapInArrow`` for the map, Spark SQL for the aggregates) quarantines the same rows, links the
same clusters, scores every account alike and raises the same alerts, campaigns included."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from distillwatch.errors import DistillwatchError
from distillwatch.lab.traffic_sim import default_campaigns, simulate_traffic
from distillwatch.traffic import read_quarantine, scan
from distillwatch.traffic.alerts import alert_differences
from distillwatch.traffic.spark import spark_session

SIM = {"accounts": 150, "days": 1, "volume": 0.5}
FPR = 0.01


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]")  # one session for the module; the scans reuse it
    yield session
    session.stop()


@pytest.fixture(scope="module")
def scans(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    log, labels = simulate_traffic(root / "log.parquet", seed=7, campaigns=default_campaigns(0.1), **SIM)
    records = pq.read_table(log).to_pylist()
    lines = [json.dumps(r, default=str) for r in records]
    lines[5] = lines[5][: len(lines[5]) // 2]  # invalid JSON
    lines[50] = json.dumps({**records[50], "status": {"x": 1}}, default=str)  # wrong type
    lines.append('{"timestamp": "2026-03-02T00:00:00Z", "model": "m"}')  # missing fields
    path = root / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    results = {engine: scan([path], root / engine, engine=engine, fpr=FPR, progress=False)
               for engine in ("duckdb", "spark")}
    return results, {r["account_id"]: r for r in pq.read_table(labels).to_pylist()}, len(lines)


def test_both_engines_raise_identical_alerts_with_campaigns_among_them(scans):
    results, labels, _ = scans
    duck, spark = results["duckdb"], results["spark"]
    assert spark.summary["engine"] == "spark" and duck.summary["engine"] == "duckdb"
    assert alert_differences(duck.alerts, spark.alerts) == []
    caught = {labels[a]["kind"] for a in spark.flagged_accounts if labels[a]["campaign"]}
    assert caught, "no campaign flagged: the comparison would prove little"
    assert any(a["kind"] == "cluster" for a in spark.alerts), "no cluster alert: linking left untested"
    for key in ("requests", "accounts", "clusters_multi", "edges", "alerts", "flagged_accounts",
                "account_threshold", "cluster_threshold"):
        assert duck.summary[key] == pytest.approx(spark.summary[key], rel=1e-6), key


def test_every_account_scores_and_clusters_alike(scans):
    results, _, _ = scans
    duck, spark = results["duckdb"].accounts, results["spark"].accounts
    for column in ("account_id", "cluster_id", "n_requests", "flagged"):
        assert duck.column(column).to_pylist() == spark.column(column).to_pylist(), column
    np.testing.assert_allclose(spark.column("score").to_numpy(), duck.column("score").to_numpy(),
                               rtol=1e-9, atol=1e-9)


def test_both_engines_quarantine_the_same_rows(scans):
    results, _, n_lines = scans
    duck, spark = results["duckdb"], results["spark"]
    assert spark.ingest.rows_quarantined == duck.ingest.rows_quarantined == 3
    assert spark.ingest.rows_accepted == duck.ingest.rows_accepted == n_lines - 3
    assert list(read_quarantine(spark.paths["quarantine"])) == list(read_quarantine(duck.paths["quarantine"]))


def test_missing_java_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DistillwatchError, match=r"Java 17.*distillwatch\[spark\]"):
        spark_session()
