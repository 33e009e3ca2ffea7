"""The traffic simulator: a valid LOG_SCHEMA log in time order, labels consistent with it, every campaign
kind present, deterministic under the seed."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from distillwatch.lab.traffic_sim import CAMPAIGN_KINDS, Campaign, default_campaigns, labels_path, simulate_traffic
from distillwatch.traffic import LOG_SCHEMA, LogReader, validate

SMALL = dict(accounts=150, days=1, volume=0.5, campaigns=default_campaigns(0.05))


def test_same_seed_same_log_other_seed_other_log(tmp_path):
    a, la = simulate_traffic(tmp_path / "a.parquet", seed=7, **SMALL)
    b, lb = simulate_traffic(tmp_path / "b.parquet", seed=7, **SMALL)
    c, _ = simulate_traffic(tmp_path / "c.parquet", seed=8, **SMALL)
    assert pq.read_table(a).equals(pq.read_table(b))
    assert pq.read_table(la).equals(pq.read_table(lb))
    assert not pq.read_table(a).equals(pq.read_table(c))


def test_log_fits_the_schema_and_labels_match_the_log(tmp_path):
    log, labels = simulate_traffic(tmp_path / "log.parquet", seed=1, **SMALL)
    assert labels == labels_path(log) and labels.name == "log.labels.parquet"
    table = pq.read_table(log)
    validate(table)
    assert table.schema.equals(LOG_SCHEMA, check_metadata=False)
    ts = table.column("timestamp").to_numpy()
    assert (ts[1:] >= ts[:-1]).all(), "the log is in time order"
    assert pc.count_distinct(table.column("request_id")).as_py() == table.num_rows
    lab = pq.read_table(labels)
    assert lab.column_names == ["account_id", "campaign", "kind"]
    assert set(table.column("account_id").to_pylist()) == set(lab.column("account_id").to_pylist())
    rows = lab.to_pylist()
    names = {c.name: c.kind for c in SMALL["campaigns"]}
    for r in rows:
        if r["campaign"] is None:
            assert r["kind"] in {"casual", "power", "batch", "researcher"}
        else:
            assert names[r["campaign"]] == r["kind"]
    assert {r["kind"] for r in rows if r["campaign"]} == set(CAMPAIGN_KINDS)
    # the ingest path reads it without quarantining anything, and derives the same prompt text
    reader = LogReader(log)
    read = sum(b.num_rows for b in reader)
    assert read == table.num_rows and reader.report.rows_quarantined == 0


def test_hard_negative_batch_customer_shape(tmp_path):
    log, labels = simulate_traffic(tmp_path / "log.parquet", seed=2, accounts=400, days=1, campaigns=[])
    lab = pq.read_table(labels)
    assert lab.column("campaign").null_count == lab.num_rows
    batch = set(lab.filter(pc.equal(lab.column("kind"), "batch")).column("account_id").to_pylist())
    table = pq.read_table(log)
    rows = table.filter(pc.is_in(table.column("account_id"), value_set=__import__("pyarrow").array(sorted(batch))))
    assert rows.num_rows > 100
    assert set(rows.column("response_text").to_pylist()) <= {"positive", "negative", "neutral"}
    orgs = {}
    for a, o in zip(rows.column("account_id").to_pylist(), rows.column("org_id").to_pylist()):
        orgs.setdefault(a, set()).add(o)
    assert all(len(v) == 1 and None not in v for v in orgs.values()), "one verified org per batch account"


def test_unknown_campaign_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown campaign kind"):
        simulate_traffic(tmp_path / "x.parquet", accounts=10, days=1, campaigns=[Campaign("x", "nope", 1, 10)])
