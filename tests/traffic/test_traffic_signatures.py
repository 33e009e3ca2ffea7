"""compute_signatures: schema, row alignment, turn counts, passthrough, engine-agnostic inputs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from traffic_helpers import make_record

from distillwatch.traffic.schema import LOG_SCHEMA, from_records
from distillwatch.traffic.signatures import PASSTHROUGH, SIGNATURE_SCHEMA, compute_signatures, map_signatures


def _log() -> pa.Table:
    return from_records([
        make_record(0, messages=[{"role": "system", "content": "You are a careful tutor."},
                                 {"role": "user", "content": "Solve 2x + 3 = 7. Show all your work step by step."}],
                    response_text="x = 2", logprobs=True, top_logprobs=5),
        make_record(1, messages="Rate the following response on a scale of 1 to 10: 'Paris is in France.'",
                    endpoint="/v1/completions", response_text=None),
        make_record(2, messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"},
                                 {"role": "user", "content": "What model are you?"}]),
        make_record(3, messages=None),
    ])


def test_signature_rows_align_with_log_rows():
    log = _log()
    sig = compute_signatures(log.to_batches()[0])
    assert sig.schema.equals(SIGNATURE_SCHEMA) and sig.num_rows == log.num_rows
    for name in PASSTHROUGH:
        assert sig.column(name).to_pylist() == log.column(name).to_pylist(), name
    rows = sig.to_pylist()
    assert [r["n_messages"] for r in rows] == [2, 1, 3, 0]
    assert [r["n_user_turns"] for r in rows] == [1, 1, 2, 0]
    assert [r["n_assistant_turns"] for r in rows] == [0, 0, 1, 0]
    assert [r["has_system_prompt"] for r in rows] == [True, False, False, False]
    assert [r["is_cot"] for r in rows] == [True, False, False, False]
    assert [r["is_rubric"] for r in rows] == [False, True, False, False]
    assert [r["is_identity_probe"] for r in rows] == [False, False, True, False]
    assert [r["topic"] for r in rows][0] == "math" and rows[3]["topic"] == "chat"
    assert rows[0]["lang"] == "en" and rows[3]["lang"] == "und"
    prompt = "You are a careful tutor.\n\nSolve 2x + 3 = 7. Show all your work step by step."
    assert rows[0]["prompt_chars"] == len(prompt)
    assert [r["response_chars"] for r in rows] == [5, None, 1, 1]
    assert rows[3]["prompt_chars"] == 0 and rows[3]["template_sig"] == 0


def test_tables_streams_and_empty_batches():
    log = _log()
    whole = compute_signatures(log)
    streamed = pa.Table.from_batches(list(map_signatures(log.to_batches(max_chunksize=1))))
    assert streamed.equals(pa.Table.from_batches([whole]))
    empty = compute_signatures(LOG_SCHEMA.empty_table())
    assert empty.num_rows == 0 and empty.schema.equals(SIGNATURE_SCHEMA)


def test_repeated_prompts_get_the_signatures_each_would_get_alone():
    """A batch whose prompts repeat (exactly, or up to case) computes each distinct prompt once: every
    row's signature is the one its request gets in a batch of its own."""
    prompts = ["Solve 2x + 3 = 7 step by step.", "SOLVE 2x + 3 = 7 STEP BY STEP.", None, "",
               "Rate the answer on a scale of 1 to 10.", "solve 2x + 3 = 7 step by step."]
    log = from_records([make_record(i, messages=prompts[i % len(prompts)]) for i in range(15)])
    lowered = pc.utf8_lower(pc.fill_null(log.column("prompt_text"), ""))
    assert len(pc.unique(lowered)) < log.num_rows
    alone = pa.Table.from_batches(list(map_signatures(log.to_batches(max_chunksize=1))))
    assert pa.Table.from_batches([compute_signatures(log)]).equals(alone)
    assert len(set(alone.column("template_sig").to_pylist())) > 1


def test_spark_style_input_types_give_identical_signatures():
    # Spark hands mapInArrow large strings and its own session time zone; results must not change.
    log = _log()
    fields = [pa.field(f.name, pa.large_string() if f.type == pa.string() else f.type) for f in LOG_SCHEMA]
    spark_like = log.cast(pa.schema(fields))
    assert compute_signatures(spark_like).equals(compute_signatures(log))


def test_long_prompts_use_head_and_tail():
    filler = "lorem ipsum dolor sit amet " * 2000
    log = from_records([make_record(0, messages=f"Let's think. {filler} Return only the score."),
                        make_record(1, messages=f"{filler} ... somewhere in the middle: think step by step {filler}")])
    rows = compute_signatures(log).to_pylist()
    assert rows[0]["is_cot"] and rows[0]["prompt_chars"] > 50_000
    assert not rows[1]["is_cot"]  # beyond the first 4096 and last 1024 characters


def test_load_kernels_compiles_what_the_map_uses():
    from distillwatch.traffic import _prefilter, _slot_masks, _utf8, signatures, simhash, template
    from distillwatch.traffic.signatures import load_kernels, prompt_sample

    kernels = [_slot_masks._mask_quoted, _slot_masks._mask_tokens, _slot_masks._mask_numbers, _utf8._byte_class,
               template._slot_signatures, template._masked_signatures, template._rare_rows, signatures._language_pass, simhash._hash_all,
               _prefilter._candidates, signatures._role_counts, signatures._ip_prefix24]
    load_kernels()
    before = [len(k.signatures) for k in kernels]
    assert min(before) >= 1
    # a real batch reuses what load_kernels compiled: no new specialisation (no compiler on a live refresh)
    batch = from_records([make_record(i) for i in range(40)]).to_batches()[0]
    prompt_sample(batch, compute_signatures(batch))
    assert [len(k.signatures) for k in kernels] == before


def test_role_counts_equal_the_regex_counts():
    """The compiled role counts are RE2's match counts, overlapping candidates and odd spacing included."""
    import random

    from distillwatch.traffic.signatures import ROLE_PATTERNS, role_counts

    rng = random.Random(0)
    pieces = ['"role"', '"role" :', ":", " ", "\n", "\f", "\v", '"user"', '"assistant"', '"system"', '"developer"',
              '"', "role", '"role":"user"', '"role"role"', "x", '"role"\t:\r "assistant"', '"rol', 'e"']
    arr = pa.array(["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
                   + [None, ""]).slice(1)
    want = np.stack([pc.fill_null(pc.count_substring_regex(arr, p), 0).to_numpy(zero_copy_only=False)
                     for p in ROLE_PATTERNS])
    got = role_counts(arr)
    assert np.array_equal(got, want) and (got.sum(axis=1) > 50).all()


def test_ip_prefix24_equals_the_sql_it_replaces():
    """The compiled /24 prefix is what DuckDB's CASE/LIKE/regexp_extract expression gives, for IPv4 and
    IPv6 addresses, malformed and odd values and nulls, on a sliced array."""
    import duckdb

    from distillwatch.traffic.signatures import ip_prefix24

    ips = ["x", "10.1.2.3", "192.168.100.255", "2001:db8::1", "1.2.3", "a.b.c.d", "1.2.3.4.5", "01.2.3.4", "", None,
           "1..2.3", " 1.2.3.4", "1.2.3.", "1.2.3x.4", "1.2.3.4é", "é.1.2.3", "12.34.56.78:8080", "1.2..", "...",
           "١.٢.٣.٤", "999999.0.0.1"]
    arr = pa.array(ips, pa.string()).slice(1)
    con = duckdb.connect()
    con.register("t", pa.table({"ip": arr}))
    want = con.execute("""SELECT CASE WHEN ip LIKE '%.%.%.%' THEN regexp_extract(ip, '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1)
                          ELSE ip END FROM t""").fetchall()
    got = ip_prefix24(arr)
    assert got.to_pylist() == [w for (w,) in want]
    assert got.to_pylist()[:3] == ["10.1.2", "192.168.100", "2001:db8::1"]
