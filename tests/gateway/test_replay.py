"""Replaying traffic through a running gateway over HTTP, on the traffic's own clock: the gateway's log
keeps the simulated timestamps, client addresses and user agents, and its limits count simulated time."""

import datetime as dt
import json

import pyarrow.parquet as pq

from distillwatch.lab.replay import ReplayClock, replay_traffic

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)


def _rows(n, account="acct-1", every_s=600.0, ip="203.0.113.7"):
    return [{"timestamp": T0 + dt.timedelta(seconds=i * every_s), "account_id": account, "ip": ip,
             "user_agent": "harvester/1.0", "model": "teacher", "temperature": 0.0,
             "messages": json.dumps([{"role": "user", "content": f"question {i} " + "x" * 50}])} for i in range(n)]


def test_replay_stamps_the_log_with_the_traffic_clock(gateway, keys):
    rows = _rows(4)
    clock = ReplayClock(T0.timestamp())
    srv = gateway(policy={"trusted_proxies": ["127.0.0.1"]}, clock=clock)
    secret = keys.create("acct-1")
    results = replay_traffic(rows, srv.base_url, {"acct-1": secret}, clock=clock, max_tokens=5, max_chars=20,
                             concurrency=1, progress=False)
    assert [r.status for r in results] == [200] * 4
    assert all(r.text and r.token_ids for r in results)
    assert results[0].messages[0]["content"] == ("question 0 " + "x" * 50)[:20]
    srv.stop()
    log = pq.read_table(sorted(srv.log_dir.glob("*.parquet"))).to_pylist()
    stamps = sorted(r["timestamp"].timestamp() for r in log)
    assert stamps == [T0.timestamp() + 600.0 * i for i in range(4)]  # simulated, not wall-clock, time
    assert {r["ip"] for r in log} == {"203.0.113.7"} and {r["user_agent"] for r in log} == {"harvester/1.0"}


def test_rate_limits_count_simulated_minutes(gateway, keys):
    clock = ReplayClock(T0.timestamp())
    srv = gateway(policy={"limits": {"requests_per_minute": 2}}, clock=clock)
    secret = keys.create("acct-1")
    fast = _rows(3, every_s=1.0)  # three requests within one simulated minute: the third waits
    slow = [{**r, "timestamp": r["timestamp"] + dt.timedelta(minutes=10)} for r in _rows(3, every_s=61.0)]
    results = replay_traffic(fast + slow, srv.base_url, {"acct-1": secret}, clock=clock, max_tokens=3,
                             concurrency=1, progress=False)
    assert [r.status for r in results] == [200, 200, 429, 200, 200, 200]
    assert "retry" in results[2].error.lower()


def test_an_account_without_a_key_is_an_error_not_a_silent_skip(gateway):
    srv = gateway()
    import pytest

    with pytest.raises(KeyError, match="acct-9"):
        replay_traffic(_rows(1, account="acct-9"), srv.base_url, {}, progress=False)
