"""The traffic simulator: a valid LOG_SCHEMA log in time order, labels consistent with it, every campaign
kind present, deterministic under the seed."""

from __future__ import annotations

import pyarrow as pa
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


def test_paraphrased_campaigns_avoid_the_lexicons_and_benign_traffic_is_unchanged(tmp_path):
    """Paraphrased campaign requests raise far fewer lexicon flags than lexicon-worded ones; the benign
    accounts' requests are the same in both logs."""
    from distillwatch.traffic import compute_signatures

    flags = {}
    tables = {}
    for phrasing in ("lexicon", "paraphrased"):
        log, labels = simulate_traffic(tmp_path / f"{phrasing}.parquet", seed=3, phrasing=phrasing, **SMALL)
        table = pq.read_table(log)
        lab = pq.read_table(labels).to_pylist()
        bad = {r["account_id"] for r in lab if r["campaign"] is not None}
        is_camp = pc.is_in(table.column("account_id"), value_set=pa.array(sorted(bad)))
        tables[phrasing] = table.filter(pc.invert(is_camp))
        reader = LogReader(log)
        sig = pa.Table.from_batches([compute_signatures(b) for b in reader])
        camp = sig.filter(pc.is_in(sig.column("account_id"), value_set=pa.array(sorted(bad))))
        flags[phrasing] = sum(pc.sum(camp.column(f)).as_py() or 0 for f in ("is_cot", "is_synthetic", "is_rubric"))
    assert flags["paraphrased"] < 0.5 * flags["lexicon"]
    benign = [t.select(["account_id", "messages", "timestamp"]) for t in tables.values()]
    assert benign[0].equals(benign[1])
    with pytest.raises(ValueError, match="unknown phrasing"):
        simulate_traffic(tmp_path / "x.parquet", accounts=10, days=1, phrasing="poetic")


def test_campaign_specs_from_the_command_line(tmp_path):
    from distillwatch.lab.traffic_sim import campaigns_from_spec

    assert campaigns_from_spec("all") == default_campaigns()
    assert campaigns_from_spec("none") == ()
    assert [c.kind for c in campaigns_from_spec("hydra, cot-harvest,hydra")] == ["hydra", "cot_harvest"]
    spec = tmp_path / "camps.json"
    spec.write_text('[{"name": "mine", "kind": "low_and_slow", "accounts": 3, "requests": 40}]')
    assert campaigns_from_spec(str(spec)) == (Campaign("mine", "low_and_slow", 3, 40),)
    for bad, msg in (("hydra,nope", "unknown campaign kind"), (str(tmp_path / "missing.json"), "does not exist")):
        with pytest.raises(ValueError, match=msg):
            campaigns_from_spec(bad)
    spec.write_text('[{"name": "x", "kind": "nope", "accounts": 1, "requests": 1}]')
    with pytest.raises(ValueError, match="unknown campaign kind"):
        campaigns_from_spec(str(spec))
    spec.write_text('{"not": "a list"')
    with pytest.raises(ValueError, match="expected a JSON list"):
        campaigns_from_spec(str(spec))


def test_lab_traffic_cli_takes_campaigns_and_phrasing(tmp_path):
    from typer.testing import CliRunner

    from distillwatch.cli import app

    out = tmp_path / "t.parquet"
    r = CliRunner().invoke(app, ["lab", "traffic", "--out", str(out), "--accounts", "40", "--days", "0.5",
                                 "--campaigns", "hydra,rubric_harvest", "--phrasing", "paraphrased"])
    assert r.exit_code == 0, r.output
    kinds = {row["kind"] for row in pq.read_table(labels_path(out)).to_pylist() if row["campaign"]}
    assert kinds == {"hydra", "rubric_harvest"}
    r = CliRunner().invoke(app, ["lab", "traffic", "--out", str(out), "--campaigns", "nope"])
    assert r.exit_code != 0 and "unknown campaign kind" in str(r.exception)
