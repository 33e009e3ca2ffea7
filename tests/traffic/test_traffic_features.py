"""Per-account features in DuckDB SQL over signatures of a small hand-built log."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
from traffic_helpers import T0, make_record, write_jsonl

from distillwatch.traffic.features import account_features, register_signatures, scan_accounts
from distillwatch.traffic._duck import connect
from distillwatch.traffic.ingest import LogReader
from distillwatch.traffic.schema import from_records
from distillwatch.traffic.signatures import compute_signatures

COT = "Answer the question below. Write out your complete reasoning before the final answer.\n\n{q}"
QUESTIONS = [
    "Solve for x: 3x + 5 = 20.", "Write a Python function that reverses a linked list.",
    "Translate 'the weather is nice' into German.", "A riddle: what has keys but cannot open locks?",
    "What is the integral of x^2 from 0 to 3?", "Write a SQL query that finds duplicate emails.",
    "Translate 'good night' into Korean.", "Which of the following is true if all cats are animals?",
    "Prove that the square root of 2 is irrational.", "Debug this JavaScript function: function f() {}",
    "Translate 'thank you' into Spanish.", "Solve the logic puzzle: knights and knaves on an island.",
]
REVIEWS = ["Great product", "Broke after a day", "Okay I guess", "Love it", "Never again", "Fine", "Superb", "Meh"]


def _log() -> pa.Table:
    records = []
    for i, q in enumerate(QUESTIONS):  # a harvester: CoT template, metronome timing, logprobs, long outputs
        records.append(make_record(i, account_id="harvest", org_id=None, messages=COT.format(q=q), logprobs=True,
                                   top_logprobs=5, prompt_tokens=50, completion_tokens=500, ip=f"198.51.100.{i % 3}",
                                   timestamp=(T0 + dt.timedelta(seconds=10 * i)).isoformat()))
    for i, review in enumerate(REVIEWS):  # a legitimate batch user: one template, one-word labels
        records.append(make_record(100 + i, account_id="batch", messages=[{"role": "user", "content":
                                   f"Classify the sentiment of this review as positive or negative: {review}"}],
                                   response_text="positive", prompt_tokens=20, completion_tokens=1,
                                   timestamp=(T0 + dt.timedelta(seconds=2 * i)).isoformat()))
    gaps = [5, 60, 3600]
    times = [T0 + dt.timedelta(seconds=s) for s in np.cumsum([0] + gaps).tolist()]
    human = [
        [{"role": "user", "content": "hey, can you help me plan a birthday party?"}],
        [{"role": "user", "content": "hey, can you help me plan a birthday party?"},
         {"role": "assistant", "content": "Sure!"}, {"role": "user", "content": "for 10 kids, outdoors"}],
        [{"role": "user", "content": "Write a short poem for the invitation card."}],
        [{"role": "user", "content": "What model are you, by the way?"}],
    ]
    for i, (messages, t) in enumerate(zip(human, times)):
        records.append(make_record(200 + i, account_id="human", messages=messages, timestamp=t.isoformat(),
                                   prompt_tokens=30, completion_tokens=90))
    records += [make_record(300 + i, account_id="tiny") for i in range(2)]
    return from_records(records)


@pytest.fixture(scope="module")
def features() -> dict[str, dict]:
    table = scan_accounts(_log())
    assert table.column("account_id").to_pylist() == ["batch", "harvest", "human", "tiny"]
    return {row["account_id"]: row for row in table.to_pylist()}


def test_volume_turns_flags_and_tokens(features):
    h, b, u = features["harvest"], features["batch"], features["human"]
    assert (h["n_requests"], b["n_requests"], u["n_requests"]) == (12, 8, 4)
    assert (h["n_ips"], h["n_api_keys"], h["n_models"], h["n_payment_fingerprints"]) == (3, 1, 1, 1)
    assert h["single_turn_share"] == 1.0 and u["single_turn_share"] == 0.75
    assert h["cot_share"] == 1.0 and b["cot_share"] == 0.0 and u["identity_probe_share"] == 0.25
    assert (h["logprobs_share"], b["logprobs_share"]) == (1.0, 0.0)
    assert h["output_input_token_ratio"] == 10.0 and b["output_input_token_ratio"] == 0.05
    assert h["first_seen"] == T0 and h["last_seen"] == T0 + dt.timedelta(seconds=110)


def test_template_concentration_separates_templated_from_free_traffic(features):
    assert features["harvest"]["template_concentration"] == 1.0  # same instruction opens every prompt
    assert features["batch"]["template_concentration"] == 1.0  # the hard negative looks just as templated
    assert features["human"]["template_concentration"] == 0.5  # the first message repeated in a later turn
    assert features["harvest"]["n_templates"] == 12


def test_topic_breadth_matches_python(features):
    sig = compute_signatures(_log()).to_pydict()
    for account in ("harvest", "batch", "human"):
        topics = [t for a, t in zip(sig["account_id"], sig["topic"]) if a == account]
        p = np.unique(topics, return_counts=True)[1] / len(topics)
        assert features[account]["topic_entropy_bits"] == pytest.approx(float(-(p * np.log2(p)).sum()), abs=1e-12)
        assert features[account]["n_topics"] == len(set(topics))
    assert features["harvest"]["n_topics"] >= 4 and features["batch"]["topic_entropy_bits"] == 0.0


def test_timing_regularity(features):
    assert features["harvest"]["gap_cv"] == pytest.approx(0.0, abs=1e-12)
    assert features["harvest"]["median_gap_s"] == 10.0
    gaps = np.array([5, 60, 3600], dtype=float)
    assert features["human"]["gap_cv"] == pytest.approx(gaps.std(ddof=1) / gaps.mean())
    assert features["tiny"]["gap_cv"] is None  # too few requests to say


def test_streaming_from_a_reader_into_duckdb(tmp_path):
    write_jsonl(tmp_path / "log.jsonl", [make_record(i, account_id=f"a{i % 2}") for i in range(7)] + ["{broken"])
    reader = LogReader(tmp_path / "log.jsonl", batch_rows=2)
    con = connect()
    assert register_signatures(con, reader) == 7
    assert reader.report.rows_quarantined == 1
    table = account_features(con)
    assert table.column("n_requests").to_pylist() == [4, 3]
    assert not any(math.isnan(v) for v in table.column("topic_entropy_bits").to_pylist())
