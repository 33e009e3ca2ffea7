"""The durable request log: group-committed JSONL, Parquet rotation in LOG_SCHEMA, recovery after a crash."""

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pyarrow.parquet as pq

from distillwatch.gateway import KeyStore, RequestLog, free_port
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


GATEWAY = """
import sys
from distillwatch.gateway import build_gateway, run_server
run_server(build_gateway("mock/crash", sys.argv[1], keys=sys.argv[2]), port=int(sys.argv[3]))
"""


def _start(log_dir, keys, port):
    proc = subprocess.Popen([sys.executable, "-c", GATEWAY, str(log_dir), str(keys), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(proc.stderr.read().decode()[-2000:])


def test_kill_9_mid_traffic_loses_no_answered_request(tmp_path):
    keys = tmp_path / "keys.sqlite"
    with KeyStore(keys) as store:
        key = store.create("acct-crash")
    log_dir, answered = tmp_path / "log", []
    for cycle in range(3):
        port = free_port()
        proc = _start(log_dir, keys, port)
        stop = threading.Event()

        def client(worker, port=port, stop=stop, cycle=cycle):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1",
                              headers={"Authorization": f"Bearer {key}"}, timeout=5) as c:
                i = 0
                while not stop.is_set():
                    i += 1
                    body = {"model": "m", "max_tokens": 4, "messages": [
                        {"role": "user", "content": f"cycle {cycle} worker {worker} n {i}"}]}
                    try:
                        r = c.post("/chat/completions", json=body)
                    except httpx.TransportError:
                        return
                    if r.status_code == 200:
                        answered.append(r.json()["id"])

        workers = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for w in workers:
            w.start()
        time.sleep(0.6)
        proc.send_signal(signal.SIGKILL)  # mid-traffic: requests in flight at every stage
        proc.wait()
        stop.set()
        for w in workers:
            w.join()
    assert len(answered) > 5
    with RequestLog(log_dir) as log:  # a restart's recovery
        logged = log.read_all()
    validate(logged)
    missing = set(answered) - set(logged.column("request_id").to_pylist())
    assert not missing
    text = "".join(p.read_text(errors="replace") for p in log_dir.rglob("*") if p.suffix in (".jsonl", ".part"))
    assert key not in text and key.split("-", 2)[2] not in text
