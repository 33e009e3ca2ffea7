"""Small log-building helpers for the traffic tests (a plain module: conftest names clash across folders)."""

from __future__ import annotations

import datetime as dt
import json


T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.timezone.utc)


def make_record(i: int = 0, **overrides) -> dict:
    """One schema record (JSON-ready: ISO timestamp), varied by `i`."""
    record = {
        "timestamp": (T0 + dt.timedelta(seconds=i)).isoformat(),
        "request_id": f"req-{i}",
        "account_id": "acct-1",
        "org_id": "org-1",
        "api_key_id": "key-1",
        "ip": "203.0.113.7",
        "user_agent": "OpenAI/Python 1.40.0",
        "model": "teacher-large",
        "endpoint": "/v1/chat/completions",
        "messages": [{"role": "user", "content": f"What is {i} plus {i}?"}],
        "response_text": f"{2 * i}",
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "temperature": 0.7,
        "top_p": 1.0,
        "max_tokens": 256,
        "n": 1,
        "logprobs": False,
        "top_logprobs": None,
        "payment_fingerprint": "card-aa",
        "status": 200,
        "latency_ms": 812.5,
    }
    record.update(overrides)
    return record


def write_jsonl(path, records) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
