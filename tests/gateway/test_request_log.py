"""The durable request log: group-committed JSONL, Parquet rotation in LOG_SCHEMA, recovery after a crash."""

import json
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from distillwatch.gateway import RequestLog
from distillwatch.traffic.schema import LOG_SCHEMA, validate


def _record(i, **extra):
    return {"timestamp": "2026-11-29T08:00:00+00:00", "request_id": f"r{i}", "account_id": "acct",
            "api_key_id": "k1", "model": "m", "endpoint": "/v1/chat/completions",
            "messages": [{"role": "user", "content": f"question {i}"}], "response_text": f"answer {i}",
            "prompt_tokens": 3, "completion_tokens": 5, "status": 200, "latency_ms": 1.5, **extra}


def test_append_rotate_and_read_back_as_log_schema(tmp_path):
    with RequestLog(tmp_path / "log", rotate_bytes=2_000) as log:
        threads = [threading.Thread(target=log.write, args=([_record(t * 10 + i) for i in range(10)],))
                   for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.stats["records"] == 40 and log.stats["commits"] <= 40
        log.write([_record(99, logprobs=True, top_logprobs=2)])
    files = log.parquet_files()
    assert len(files) >= 2  # rotated by size, then the last segment at close
    table = pq.read_table(files).cast(LOG_SCHEMA)
    validate(table)
    assert sorted(table.column("request_id").to_pylist()) == sorted([f"r{i}" for i in range(40)] + ["r99"])
    assert table.column("prompt_text").to_pylist()[0].startswith("question")
    assert not list((tmp_path / "log" / "wal").glob("*.jsonl"))  # all converted
    from distillwatch.traffic.ingest import read_log  # what `scan` reads

    read, _report = read_log([str(f) for f in files], quarantine=tmp_path / "q.jsonl")
    assert read.num_rows == 41 and not (tmp_path / "q.jsonl").exists() or not (tmp_path / "q.jsonl").stat().st_size


def test_durability_process_acknowledges_before_fsync_and_syncs_in_the_background(tmp_path):
    with RequestLog(tmp_path / "a", fsync_interval_s=0.05) as log:
        for i in range(30):
            log.write([_record(i)])
        assert log.stats["commits"] == 30 and log.stats["fsyncs"] < 30  # answers did not wait for the disk
        deadline = time.monotonic() + 5
        while log._unsynced and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not log._unsynced and log.stats["fsyncs"] >= 1  # the background fsync came
    with RequestLog(tmp_path / "b", durability="fsync") as log:
        for i in range(5):
            log.write([_record(i)])
        assert log.stats["fsyncs"] == log.stats["commits"] == 5
    try:
        RequestLog(tmp_path / "c", durability="sometimes")
    except ValueError as exc:
        assert "durability" in str(exc)
    else:
        raise AssertionError("an unknown durability was accepted")


def test_recovery_repairs_a_torn_last_line(tmp_path):
    root = tmp_path / "log"
    (root / "wal").mkdir(parents=True)
    good = "".join(json.dumps(_record(i)) + "\n" for i in (1, 2))
    # what kill -9 in the middle of a write leaves: two committed lines and a torn one
    (root / "wal" / "current.jsonl").write_text(good + json.dumps(_record(3))[:80])
    log = RequestLog(root).open()
    assert log.stats["torn_lines"] == 1
    (torn,) = (root / "quarantine").glob("torn-*")
    assert b'"request_id": "r3"' in torn.read_bytes()  # kept, not silently dropped
    assert sorted(log.read_all().column("request_id").to_pylist()) == ["r1", "r2"]
    assert len(log.parquet_files()) == 1  # the recovered segment was rotated at once
    log.write([_record(4)])
    log.close()
    assert sorted(RequestLog(root).read_all().column("request_id").to_pylist()) == ["r1", "r2", "r4"]


def test_kill_9_mid_traffic_loses_no_answered_request(tmp_path):
    """Three cycles of the harness `bench/gateway_crash.py` runs a hundred times."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from gateway_crash import kill_cycles

    r = kill_cycles(tmp_path / "log", 3, min_s=0.6, max_s=0.6)
    assert r["answered"] > 5 and r["missing"] == 0 and r["logged"] >= r["answered"]
    text = "".join(p.read_text(errors="replace") for p in (tmp_path / "log").rglob("*") if p.suffix in (".jsonl", ".part"))
    assert r["key"] not in text and r["key"].split("-", 2)[2] not in text
