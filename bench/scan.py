"""Benchmark: the first half of `scan` (ingest -> per-request signatures -> per-account features, DuckDB).

    python bench/scan.py [N_ROWS]          # default 100,000; writes bench/results/scan.json

The log is synthetic JSONL in the schema: benign chat accounts (free prompts, irregular timing), batch
accounts (one classification template, one-word answers), and harvesting accounts (chain-of-thought
and rubric templates over a broad topic sweep, metronome timing, logprobs), with 1% malformed lines
(truncated JSON, wrong types) that must end in the quarantine. Reported: rows/s and MB/s of each stage,
peak RSS (which includes keeping every batch in memory, to time the stages apart) and the quarantine
counts (checked against what was injected).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import pyarrow.compute as pc  # noqa: E402

from distillwatch.traffic import LogReader, compute_signatures  # noqa: E402
from distillwatch.traffic._duck import connect  # noqa: E402
from distillwatch.traffic.features import account_features, register_signatures  # noqa: E402

OUT = ROOT / "bench" / "results" / "scan.json"
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
WORDS = ("the a of to and in is it for on with as this that what how why when model data train answer "
         "question value number city river history code function list python table energy market law "
         "music health water light planet cell protein language poem story email summary").split()
HARVEST = ["Answer the question below. Write out your complete reasoning before the final answer.\n\n{q}",
           "Rate the following response on a scale of 1 to 10 and output only the score.\n\n{q}"]
TOPICS = ["Solve for x: {n}x + 3 = {m}.", "Write a Python function that {w}.", "Translate into German: {w}.",
          "Summarize this paragraph: {w}.", "Classify the sentiment: {w}.", "Write a poem about {w}."]


def _text(rng: random.Random, k: int) -> str:
    return " ".join(rng.choices(WORDS, k=k))


def make_log(path: Path, n: int, seed: int = 0) -> int:
    """Write `n` lines; returns the number of malformed lines injected."""
    rng = random.Random(seed)
    bad = 0
    clock: dict[str, float] = {}
    with open(path, "w") as f:
        for i in range(n):
            kind = rng.choices(["chat", "batch", "harvest"], weights=[6, 2, 2])[0]
            account = f"{kind}-{rng.randrange(200 if kind == 'chat' else 20)}"
            gap = {"chat": rng.expovariate(1 / 300), "batch": 2.0, "harvest": 10.0}[kind]
            clock[account] = clock.get(account, 0.0) + gap
            if kind == "chat":
                prompt, answer = _text(rng, rng.randint(5, 80)) + "?", _text(rng, rng.randint(20, 200))
            elif kind == "batch":
                prompt = f"Classify the sentiment of this review as positive or negative: {_text(rng, 30)}"
                answer = rng.choice(["positive", "negative"])
            else:
                q = rng.choice(TOPICS).format(n=rng.randint(2, 9), m=rng.randint(10, 99), w=_text(rng, 12))
                prompt, answer = rng.choice(HARVEST).format(q=q), _text(rng, rng.randint(100, 400))
            record = {"timestamp": (T0 + dt.timedelta(seconds=clock[account])).isoformat(), "request_id": f"r{i}",
                      "account_id": account, "model": "teacher-large", "endpoint": "/v1/chat/completions",
                      "messages": [{"role": "user", "content": prompt}], "response_text": answer,
                      "prompt_tokens": len(prompt) // 4, "completion_tokens": len(answer) // 4,
                      "temperature": 0.7, "logprobs": kind == "harvest", "status": 200}
            line = json.dumps(record)
            if rng.random() < 0.01:
                bad += 1
                broken = line.replace('"status": 200', '"status": "ok"')
                line = line[: len(line) // 2] if rng.random() < 0.5 else broken
            f.write(line + "\n")
    return bad


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        injected = make_log(path, n)
        mb = path.stat().st_size / 1e6
        t = time.perf_counter()
        reader = LogReader(path, quarantine=Path(tmp) / "quarantine.jsonl")
        batches = list(reader)
        t_ingest = time.perf_counter() - t
        t = time.perf_counter()
        for b in batches:
            compute_signatures(b)
        t_sig = time.perf_counter() - t
        t = time.perf_counter()
        con = connect()
        rows = register_signatures(con, batches)
        features = account_features(con)
        t_scan = time.perf_counter() - t
    report = reader.report
    assert report.rows_quarantined == injected and report.rows_read == n, (report.as_dict(), injected)
    harvest = features.filter(pc.starts_with(features.column("account_id"), "harvest-"))
    result = {
        "rows": n, "megabytes": round(mb, 1), "machine": platform.platform(), "cpus": os.cpu_count(),
        "ingest": {"seconds": round(t_ingest, 2), "rows_per_s": round(n / t_ingest),
                   "mb_per_s": round(mb / t_ingest, 1)},
        "signatures": {"seconds": round(t_sig, 2), "rows_per_s": round(rows / t_sig)},
        "map_and_aggregate": {"seconds": round(t_scan, 2), "accounts": features.num_rows},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "quarantine": report.as_dict()["by_reason"],
        "harvest_accounts_min_cot_or_rubric_share": round(min(
            c + r for c, r in zip(harvest.column("cot_share").to_pylist(),
                                  harvest.column("rubric_share").to_pylist())), 3),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
