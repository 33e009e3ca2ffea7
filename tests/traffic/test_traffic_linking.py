"""Account linking: rare shared attributes link accounts, a popular one does not; clusters are components."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute  # noqa: F401
import pytest
from traffic_helpers import make_record

from distillwatch.traffic import LinkOptions, from_records, link_accounts, register_signatures, scan
from distillwatch.traffic._duck import connect


def _log():
    records = []
    for a in range(80):  # 80 accounts share one popular user agent, each its own ip, card and hour
        for i in range(3):
            records.append(make_record(a * 10 + i, account_id=f"acct-{a:03d}", org_id=None,
                                       ip=f"10.{a}.{i}.1", payment_fingerprint=f"card-{a}",
                                       user_agent="OpenAI/Python 1.40.0",
                                       timestamp=f"2026-01-{5 + a // 24:02d}T{a % 24:02d}:{i * 7:02d}:00+00:00"))
    for i in range(3):  # acct-001 and acct-002 share a card; acct-002 and acct-003 share a rare /24
        records.append(make_record(5000 + i, account_id="acct-001", payment_fingerprint="card-shared", org_id=None,
                                   timestamp=f"2026-01-20T01:0{i}:00+00:00"))
        records.append(make_record(6000 + i, account_id="acct-002", payment_fingerprint="card-shared", org_id=None,
                                   ip="198.51.100.9", timestamp=f"2026-01-20T05:0{i}:00+00:00"))
        records.append(make_record(7000 + i, account_id="acct-003", ip="198.51.100.77", org_id=None,
                                   timestamp=f"2026-01-20T09:0{i}:00+00:00"))
    return from_records(records)


def test_rare_attributes_link_popular_ones_do_not():
    con = connect()
    register_signatures(con, _log().to_batches())
    # 83 accounts: a value shared by two weighs ln(83/2) = 3.7; the popular agent (df 83 > max_df) nothing
    clusters, edges = link_accounts(con, options=LinkOptions(min_template_requests=10**6, min_weight=3.0))
    cluster_of = dict(zip(clusters.column("account_id").to_pylist(), clusters.column("cluster_id").to_pylist()))
    assert cluster_of["acct-001"] == cluster_of["acct-002"] == cluster_of["acct-003"] == "cluster:acct-001"
    others = {c for a, c in cluster_of.items() if a not in ("acct-001", "acct-002", "acct-003")}
    assert all(not c.startswith("cluster:") for c in others), "the popular user agent linked accounts"
    kinds = {tuple(sorted((r["a"], r["b"]))): r["kinds"] for r in edges.to_pylist()}
    assert "payment" in kinds[("acct-001", "acct-002")] and "ip24" in kinds[("acct-002", "acct-003")]
    assert set(clusters.column("cluster_size").to_pylist()) == {1, 3}


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown engine 'cassandra'; one of duckdb, spark"):
        scan([tmp_path / "x.jsonl"], tmp_path / "out", engine="cassandra", progress=False)


def test_clusters_of_one_account_reuse_the_account_rows():
    """Cluster features computed only for multi-account clusters (singletons taking their account's row)
    equal the features computed over every cluster, pivot included: a model's release is dated on the
    whole log, not on the rows of the clusters computed."""
    from distillwatch.traffic import entity_features

    records = _log().to_pylist()
    for r in records:
        if r["account_id"] == "acct-002" and r["request_id"].startswith("req-60"):
            r["model"] = "teacher-new"  # released on the 19th by a singleton, used by the cluster on the 20th
    records.append(make_record(9000, account_id="acct-solo", model="teacher-new", org_id=None, ip="192.0.2.99",
                               payment_fingerprint="card-solo", timestamp="2026-01-19T00:00:00+00:00"))
    con = connect()
    register_signatures(con, from_records(records).to_batches())
    link_accounts(con, options=LinkOptions(min_template_requests=10**6, min_weight=3.0))
    accounts = entity_features(con)
    every = entity_features(con, clusters="clusters")
    reused = entity_features(con, clusters="clusters", accounts=accounts)
    assert reused.equals(every)
    row = reused.filter(pa.compute.equal(reused.column("account_id"), "cluster:acct-001")).to_pylist()[0]
    assert row["n_accounts"] == 3 and row["pivot_share"] == 0.0
    assert reused.num_rows == accounts.num_rows - 2


def test_synchronised_accounts_link_at_the_jaccard_threshold():
    """Accounts with nothing shared but their 5-minute buckets link when the coinciding buckets are at
    least half the union: equal timing (1.0) and exactly half (8 of 16) link, 10 of 22 does not."""
    import datetime as dt

    def at(day: int, k: int) -> str:
        return (dt.datetime(2026, 1, day, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=10 * k)).isoformat()

    times = {"acct-s1": [at(10, k) for k in range(10)], "acct-s2": [at(10, k) for k in range(10)],
             "acct-s3": [at(10, k) for k in range(10)] + [at(11, k) for k in range(12)],
             "acct-s4": [at(10, k) for k in range(8)] + [at(12, k) for k in range(6)]}
    records = [make_record(100 * n + i, account_id=a, org_id=None, ip=f"10.{n}.0.1", payment_fingerprint=f"card-{a}",
                           user_agent=f"agent-{a}", timestamp=t)
               for n, (a, ts) in enumerate(times.items()) for i, t in enumerate(ts)]
    con = connect()
    register_signatures(con, from_records(records).to_batches())
    clusters, edges = link_accounts(con, options=LinkOptions(min_template_requests=10**6))
    cluster_of = dict(zip(clusters.column("account_id").to_pylist(), clusters.column("cluster_id").to_pylist()))
    assert cluster_of == {"acct-s1": "cluster:acct-s1", "acct-s2": "cluster:acct-s1", "acct-s4": "cluster:acct-s1",
                          "acct-s3": "acct-s3"}
    assert sorted((r["a"], r["b"], r["kinds"]) for r in edges.to_pylist()) == [
        ("acct-s1", "acct-s2", "sync"), ("acct-s1", "acct-s4", "sync"), ("acct-s2", "acct-s4", "sync")]
