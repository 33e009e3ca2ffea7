"""Readers: every format, batching and bounded blocks, and a messy log that must quarantine every bad row."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from traffic_helpers import make_record, write_jsonl

from distillwatch.traffic.ingest import IngestError, LogReader, detect_format, read_log
from distillwatch.traffic.quarantine import read_quarantine
from distillwatch.traffic.schema import LOG_SCHEMA, from_records, validate


def _expected(n: int = 10) -> tuple[list[dict], pa.Table]:
    records = [make_record(i) for i in range(n)]
    return records, from_records(records)


def test_jsonl_reader_matches_from_records_in_bounded_batches(tmp_path):
    records, expected = _expected(10)
    write_jsonl(tmp_path / "log.jsonl", records)
    reader = LogReader(tmp_path / "log.jsonl", batch_rows=3, block_bytes=700)
    batches = list(reader)
    assert all(b.num_rows <= 3 for b in batches) and len(batches) >= 4
    table = pa.Table.from_batches(batches)
    validate(table)
    assert table.equals(expected)
    assert reader.report.as_dict() | {"sources": None} == {
        "sources": None, "rows_read": 10, "rows_accepted": 10, "rows_quarantined": 0, "by_reason": {},
        "blank_lines": 0, "batches": len(batches), "quarantine_path": str(tmp_path / "log.jsonl") + ".quarantine.jsonl"}
    assert not (tmp_path / "log.jsonl.quarantine.jsonl").exists()  # created only when a row is rejected
    assert LogReader(tmp_path / "log.jsonl", batch_rows=4).to_arrow_reader().read_all().equals(expected)


def test_gzipped_jsonl_and_format_detection(tmp_path):
    records, expected = _expected(4)
    with gzip.open(tmp_path / "log.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    assert detect_format(tmp_path / "log.jsonl.gz") == "jsonl"
    table, report = read_log(tmp_path / "log.jsonl.gz")
    assert table.equals(expected) and report.rows_accepted == 4
    write_jsonl(tmp_path / "noext", records)  # no extension: sniffed from content
    assert detect_format(tmp_path / "noext") == "jsonl"


def test_openai_style_records(tmp_path):
    chat = {
        "timestamp": "2026-01-05T10:00:00Z", "account": "acct-9", "organization": "org-x", "api_key_id": "k1",
        "ip": "198.51.100.4", "headers": {"user-agent": "python-httpx/0.27"},
        "request": {"model": "teacher-large", "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 512, "n": 2,
                    "logprobs": True, "top_logprobs": 5,
                    "messages": [{"role": "system", "content": "Be precise."},
                                 {"role": "user", "content": "Prove that sqrt(2) is irrational."}]},
        "response": {"id": "chatcmpl-1", "choices": [{"message": {"content": "Suppose..."}},
                                                     {"message": {"content": "Assume..."}}],
                     "usage": {"prompt_tokens": 20, "completion_tokens": 300}},
        "latency_ms": 1500,
    }
    completion = {
        "time": 1767607201, "user": "acct-9",
        "request": {"model": "teacher-base", "prompt": "The capital of France is", "logprobs": 5, "max_tokens": 1},
        "response": {"choices": [{"text": " Paris"}], "usage": {"prompt_tokens": 5, "completion_tokens": 1}},
    }
    anthropic_like = {
        "created_at": "2026-01-05 10:00:02", "account_id": "acct-10",
        "request": {"model": "teacher-large",
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]},
        "response": {"content": [{"type": "text", "text": "Hello!"}], "usage": {"input_tokens": 3, "output_tokens": 2}},
        "status_code": 200,
    }
    bad = {"request": {"model": "m", "messages": []}, "response": {}}  # no timestamp, no account
    write_jsonl(tmp_path / "gw.jsonl", [chat, completion, anthropic_like, bad])
    assert detect_format(tmp_path / "gw.jsonl") == "openai"
    table, report = read_log(tmp_path / "gw.jsonl")
    assert (report.rows_accepted, report.rows_quarantined, dict(report.by_reason)) == (3, 1, {"missing_field": 1})
    a, b, c = table.to_pylist()
    assert a["account_id"] == "acct-9" and a["org_id"] == "org-x" and a["user_agent"] == "python-httpx/0.27"
    assert a["request_id"] == "chatcmpl-1" and a["endpoint"] == "/v1/chat/completions" and a["status"] == 200
    assert a["prompt_text"] == "Be precise.\n\nProve that sqrt(2) is irrational."
    assert a["response_text"] == "Suppose...\n\nAssume..."
    assert (a["n"], a["logprobs"], a["top_logprobs"], a["max_tokens"], a["top_p"]) == (2, True, 5, 512, 0.9)
    assert (a["prompt_tokens"], a["completion_tokens"], a["latency_ms"]) == (20, 300, 1500.0)
    assert b["endpoint"] == "/v1/completions" and b["prompt_text"] == "The capital of France is"
    assert (b["logprobs"], b["top_logprobs"], b["response_text"]) == (True, 5, " Paris")
    assert b["request_id"] == "gw.jsonl:2"
    assert (c["response_text"], c["prompt_tokens"], c["completion_tokens"], c["prompt_text"]) == ("Hello!", 3, 2, "Hi")
    (q,) = read_quarantine(tmp_path / "gw.jsonl.quarantine.jsonl")
    assert (q["line"], q["reason"], q["detail"]) == (4, "missing_field", "timestamp,account_id")


def test_format_override(tmp_path):
    records, expected = _expected(3)
    write_jsonl(tmp_path / "log.txt", records)
    assert LogReader(tmp_path / "log.txt", format="jsonl").format == "jsonl"
    assert pa.Table.from_batches(list(LogReader(tmp_path / "log.txt", format="jsonl"))).equals(expected)
    with pytest.raises(IngestError):
        LogReader(tmp_path / "log.txt", format="xml")


@pytest.mark.parametrize("delimiter, name", [(",", "log.csv"), ("\t", "log.tsv")])
def test_csv_reader_round_trip(tmp_path, delimiter, name):
    _, expected = _expected(6)
    pcsv.write_csv(expected, tmp_path / name, write_options=pcsv.WriteOptions(delimiter=delimiter))
    assert detect_format(tmp_path / name) == "csv"
    table, report = read_log(tmp_path / name, batch_rows=4)
    assert table.equals(expected) and report.rows_accepted == 6 and report.batches == 2


def test_csv_reader_quarantines_bad_rows(tmp_path):
    (tmp_path / "bad.csv").write_text(
        "timestamp,account_id,model,prompt,prompt_tokens\n"
        '2026-01-05,a,m,"hello, world",5\n'
        '2026-01-05,a,m,"multi\nline prompt",many\n'
        "2026-01-05,a\n"
        "2026-01-05,,m,hi,1\n"
        '1767607200000,b,m,"[{""role"": ""user"", ""content"": ""yo""}]",2\n'
    )
    table, report = read_log(tmp_path / "bad.csv")
    assert table.column("prompt_text").to_pylist() == ["hello, world", "yo"]
    assert (report.rows_read, report.rows_accepted) == (5, 2)
    assert dict(report.by_reason) == {"csv_structure": 1, "wrong_type": 1, "missing_field": 1}
    by_reason = {q["reason"]: q for q in read_quarantine(tmp_path / "bad.csv.quarantine.jsonl")}
    # pyarrow numbers records (header = 1), not physical lines: the multi-line value above counts once
    assert by_reason["csv_structure"]["line"] == 4 and by_reason["csv_structure"]["raw"] == "2026-01-05,a"
    assert by_reason["wrong_type"]["row"] == 2 and by_reason["wrong_type"]["detail"] == "prompt_tokens"
    assert json.loads(by_reason["wrong_type"]["raw"])["prompt_tokens"] == "many"
    assert by_reason["missing_field"]["row"] == 3 and by_reason["missing_field"]["detail"] == "account_id"


def test_parquet_reader_with_nested_messages_and_bad_rows(tmp_path):
    _, expected = _expected(5)
    pq.write_table(expected, tmp_path / "log.parquet", row_group_size=2)
    table, report = read_log(tmp_path / "log.parquet", batch_rows=2)
    assert table.equals(expected) and report.batches == 3

    messages = pa.array([[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "Yo"}], None],
                        pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))
    other = pa.table({"timestamp": pa.array([1767607200, 1767607201, 1767607202], pa.int64()),
                      "account_id": ["a", "b", "c"], "model": ["m", "m", None], "messages": messages,
                      "prompt_tokens": ["3", "abc", "1"], "extra_column": [1, 2, 3]})
    pq.write_table(other, tmp_path / "other.parquet")
    table, report = read_log(tmp_path / "other.parquet", quarantine=tmp_path / "q.jsonl")
    assert table.column("prompt_text").to_pylist() == ["Hi"]
    assert table.column("messages").to_pylist() == ['[{"role":"user","content":"Hi"}]']
    assert [(q["row"], q["reason"], q["detail"]) for q in read_quarantine(tmp_path / "q.jsonl")] == [
        (2, "wrong_type", "prompt_tokens"), (3, "missing_field", "model")]


def test_unreadable_parquet_raises(tmp_path):
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(IngestError):
        list(LogReader(tmp_path / "broken.parquet"))


@pytest.mark.parametrize("block_bytes", [256, 1 << 20])
def test_messy_log_ingests_to_completion_with_every_bad_row_quarantined(tmp_path, block_bytes):
    good = [make_record(i) for i in range(3)]
    lines: list[bytes] = [
        json.dumps(good[0]).encode(),                                          # 1 good
        json.dumps(make_record(10))[:60].encode(),                             # 2 truncated JSON
        json.dumps(make_record(11, prompt_tokens="many")).encode(),            # 3 wrong type
        json.dumps(make_record(12, temperature={"value": 1})).encode(),        # 4 wrong type (object)
        json.dumps({k: v for k, v in make_record(13).items() if k != "account_id"}).encode(),  # 5 missing
        json.dumps(make_record(14, timestamp=None, model="")).encode(),        # 6 missing (null, blank)
        json.dumps(make_record(15, messages=[{"role": "user", "content": "x" * 20_000}])).encode(),  # 7 huge
        b"   ",                                                                 # 8 blank
        b"[1, 2, 3]",                                                           # 9 not an object
        json.dumps(good[1]).encode(),                                           # 10 good
        b'{"account_id": "\xff\xfe broken bytes"}',                             # 11 not UTF-8
        b'{"junk": "' + b"y" * 60_000 + b'"}',                                 # 12 line over max_line_bytes
        json.dumps(good[2]).encode(),                                           # 13 good, no final newline
    ]
    path = tmp_path / "messy.jsonl"
    path.write_bytes(b"\n".join(lines))
    reader = LogReader(path, quarantine=tmp_path / "quarantine" / "messy.jsonl", block_bytes=block_bytes,
                       batch_rows=2, max_prompt_chars=10_000, max_line_bytes=50_000, max_raw_chars=200)
    table = pa.Table.from_batches(list(reader), schema=LOG_SCHEMA)
    validate(table)
    assert table.column("request_id").to_pylist() == ["req-0", "req-1", "req-2"]
    assert table.equals(from_records(good))
    report = reader.report
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined, report.blank_lines) == (12, 3, 9, 1)
    assert dict(report.by_reason) == {"invalid_json": 1, "wrong_type": 2, "missing_field": 2, "oversized_prompt": 1,
                                      "not_an_object": 1, "invalid_utf8": 1, "oversized_line": 1}
    quarantined = {q["line"]: q for q in read_quarantine(tmp_path / "quarantine" / "messy.jsonl")}
    assert {n: (q["reason"], q["detail"]) for n, q in quarantined.items() if n not in (11, 12)} == {
        2: ("invalid_json", None), 3: ("wrong_type", "prompt_tokens"), 4: ("wrong_type", "temperature"),
        5: ("missing_field", "account_id"), 6: ("missing_field", "timestamp,model"),
        7: ("oversized_prompt", "messages has 20030 chars, limit 10000"), 9: ("not_an_object", None)}
    assert quarantined[11]["reason"] == "invalid_utf8" and quarantined[12]["reason"] == "oversized_line"
    for q in quarantined.values():
        assert q["source"] == str(path) and q["format"] == "jsonl" and len(q["raw"]) <= 200
    assert quarantined[7]["raw_truncated"] and quarantined[7]["raw"].startswith('{"timestamp"')
    assert quarantined[3]["raw"] == lines[2].decode()[:200] and quarantined[3]["raw_chars"] == len(lines[2])


def test_read_log_many_files_share_one_quarantine(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [make_record(0), "{oops"])
    write_jsonl(tmp_path / "b.jsonl", [make_record(1, account_id=None), make_record(2)])
    table, report = read_log([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], quarantine=tmp_path / "q.jsonl")
    assert table.num_rows == 2 and report.rows_read == 4 and len(report.sources) == 2
    assert [(q["source"].rsplit("/", 1)[-1], q["line"]) for q in read_quarantine(tmp_path / "q.jsonl")] == [
        ("a.jsonl", 2), ("b.jsonl", 1)]


def test_a_parquet_log_is_read_in_bounded_memory(tmp_path):
    """Arrow memory while reading stays near one row group, not the whole file (one `iter_batches`
    over a whole file kept what it decoded until the end: 50x a row group here)."""
    from distillwatch.lab.traffic_sim import default_campaigns, simulate_traffic

    log, _ = simulate_traffic(tmp_path / "sim.parquet", seed=1, campaigns=default_campaigns(0.15), accounts=600,
                              days=2, volume=1.5)
    table = pq.read_table(log)
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=table.num_rows // 20 + 1)
    one_group = pq.ParquetFile(path).read_row_group(0).nbytes
    n_rows = table.num_rows
    del table
    base, peak, rows = pa.total_allocated_bytes(), 0, 0
    for batch in LogReader(path, quarantine=tmp_path / "q.jsonl"):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert rows == n_rows > 10_000
    assert peak < 10 * one_group, (peak, one_group)


# Messages of every shape: a plain JSON string, content parts, non-string contents, elements that are not
# objects, escapes, empty and null arrays. The typed parse must give what the general expression gives.
ODD_MESSAGES = [
    '"plain"',
    '[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}]},'
    '{"role":"assistant","content":"no"},{"content":"x"}]',
    '["str elem", {"role":"user","content":"y"}]',
    '[{"role":"system","content":null},{"role":"user","content":5}]',
    '[]', '{"role":"user"}', '[1,2]', '[null]', '[{"role":"user"}]',
    '[{"role":["a"],"content":"z"}]',
    '[{"role":"user","content":true}]', '[{"role":"user","content":{"a":1}}]',
    '[{"role":"user","content":"[x"}]', '[{"role":"user","content":"  \\"x"}]',
    '[{"role":"user","content":"a\\"b\\u00e9\\n"}, {"role":"assistant","content":"q"}, {"role":null,"content":"w"}]',
    '[{"role":"system","content":"s"},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},'
    '{"role":"user","content":"u2"}]',
]


def test_prompt_text_typed_parse_equals_the_general_expression():
    from distillwatch.traffic._duck import connect
    from distillwatch.traffic._normalize import _messages_text_general, _prompt_text

    con = connect()
    con.register("t", pa.table({"m": ODD_MESSAGES}))
    general = ("CASE json_type(m) WHEN 'VARCHAR' THEN m->>'$' WHEN 'ARRAY' THEN "
               f"{_messages_text_general('m')} END")
    got = con.sql(f"SELECT {_prompt_text('m')} AS typed, {general} AS general FROM t").fetchall()
    assert [typed for typed, _ in got] == [general for _, general in got]
    assert got[1][0] == "a b\n\nx" and got[2][0] == "str elem\n\ny" and got[-1][0] == "s\n\nu1\n\nu2"


def _random_messages(rng, n: int) -> list[str]:
    """Chat JSON values, mostly the plain shape with every escape, some not (extra keys, broken syntax)."""
    alphabet = ["a", " ", "\n", '"', "\\", "/", "é", "中", "\U0001F600", "\t", "\x01", "\u2028", "assistant"]
    text = lambda: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))  # noqa: E731
    out = []
    for _ in range(n):
        msgs = []
        for _ in range(rng.randint(1, 4)):
            keys = ["role", "content"] if rng.random() < 0.9 else rng.sample(["role", "content", "name"],
                                                                               rng.randint(1, 3))
            keys = keys[::-1] if rng.random() < 0.5 else keys
            msgs.append({k: rng.choice(["user", "assistant", "system", text()]) if k == "role" else text()
                         for k in keys})
        v = json.dumps(msgs, ensure_ascii=rng.random() < 0.5, separators=rng.choice([(",", ":"), (", ", ": ")]))
        if rng.random() < 0.05:  # a stray character anywhere: often no longer JSON
            i = rng.randrange(len(v) + 1)
            v = v[:i] + rng.choice(['"', "\\", ",", " ", "}", "x"]) + v[i:]
        out.append(v)
    return out


def test_compiled_plain_messages_give_the_sql_prompt_text():
    """`traffic._messages` reads the plain chat shape itself and leaves every other value to the SQL: where
    it reads a value, its text must equal `_prompt_text`'s, escapes and surrogate pairs included."""
    import random

    from distillwatch.traffic._duck import connect
    from distillwatch.traffic._messages import plain_prompt_texts
    from distillwatch.traffic._normalize import _messages_from_text, _prompt_text

    edge = ['[{"role":"user","content":"\\ud83d\\ude00 \\u00e9\\/\\b\\f\\r"}]',
            ' [ {"content" : "c" , "role":"user"} ] ', '"a\\nb"', '[{"role":"assistant","content":"x"}]',
            '[{"role":"assistant","content":"x"},{"role":"u","content":""}]']
    not_read = ['[{"role":"user","content":"\\ud83d"}]', '[{"role":"user","content":"\\u0000"}]',
                '[{"role":"user","content":"x"}] x', '[{"role":"user","content":"x"},]', "plain text", "",
                '[{"role":"user","content":"x","name":"n"}]', '[{"role":"user","role":"user","content":"x"}]',
                '[{"role":"us\\u0065r","content":"x"}]', '[{"role":"user","content":"a\x01"}]']
    values = ODD_MESSAGES + edge + not_read + _random_messages(random.Random(0), 3000) + [None]
    arr = pa.array(values, pa.string())
    texts, plain = plain_prompt_texts(arr)
    con = connect()
    con.register("t", pa.table({"m": arr}))
    sql = con.sql(f"SELECT CASE WHEN m IS NOT NULL THEN {_prompt_text(_messages_from_text('m'))} END AS p FROM t")
    expected = sql.to_arrow_table().column("p").to_pylist()
    got = texts.to_pylist()
    assert [g for g, ok in zip(got, plain) if ok] == [e for e, ok in zip(expected, plain) if ok]
    assert plain[len(ODD_MESSAGES):len(ODD_MESSAGES) + len(edge)].all()
    assert not plain[len(ODD_MESSAGES) + len(edge):len(ODD_MESSAGES) + len(edge) + len(not_read)].any()
    assert not plain[-1] and 0.3 < plain.mean() < 0.9  # both paths well exercised by the random values
    assert got[len(ODD_MESSAGES)] == "\U0001F600 é/\b\f\r" and got[len(ODD_MESSAGES) + 4] == ""


def test_parquet_messages_read_the_same_through_either_path(tmp_path):
    """A Parquet log mixing plain and other message values gets, row for row, the prompt text of
    `from_records` (the JSON path, which never uses the compiled pass)."""
    import random

    values = ODD_MESSAGES + _random_messages(random.Random(1), 400)
    records = [make_record(i) for i in range(len(values))]
    for r, v in zip(records, values):
        r["messages"] = v
    table = pa.table({k: [r[k] for r in records] for k in records[0]})
    pq.write_table(table, tmp_path / "log.parquet")
    write_jsonl(tmp_path / "log.jsonl", records)
    from_parquet, rep_p = read_log(tmp_path / "log.parquet")
    from_json, rep_j = read_log(tmp_path / "log.jsonl")
    assert rep_p.rows_accepted == rep_j.rows_accepted == len(values)
    assert from_parquet.column("prompt_text").to_pylist() == from_json.column("prompt_text").to_pylist()
    assert from_parquet.column("messages").to_pylist() == from_json.column("messages").to_pylist()


def test_clean_parquet_batches_skip_the_sql_with_the_same_rows(tmp_path):
    """A batch already in `LOG_SCHEMA` with plain messages is accepted as it is (prompt text derived) and
    equals what the SQL makes of it; a batch with anything to normalise still goes through the SQL."""
    from distillwatch.traffic import _normalize

    records = [make_record(i) for i in range(30)]
    clean = from_records(records)
    assert clean.schema.equals(LOG_SCHEMA, check_metadata=False)
    stripped = clean.set_column(clean.schema.get_field_index("prompt_text"), "prompt_text",
                                pa.nulls(clean.num_rows, pa.string()))
    assert _normalize._clean_rows(stripped, *_normalize.plain_prompt_texts(stripped.column("messages")),
                                  max_prompt_chars=10**6) is not None
    fast, rejected = _normalize.normalize_columns(stripped, first_row=1, source="x")
    as_large = stripped.set_column(stripped.schema.get_field_index("messages"), "messages",
                                   stripped.column("messages").cast(pa.large_string()))  # not the schema's type
    sql, _ = _normalize.normalize_columns(as_large, first_row=1, source="x")
    assert rejected.num_rows == 0 and fast.equals(sql) and fast.equals(clean)

    def refused(table) -> bool:
        return _normalize._clean_rows(table, *_normalize.plain_prompt_texts(table.column("messages")),
                                      max_prompt_chars=10**6) is None

    padded = clean.set_column(clean.schema.get_field_index("request_id"), "request_id",
                              pc.binary_join_element_wise(clean.column("request_id"), " ", ""))
    odd = clean.set_column(clean.schema.get_field_index("messages"), "messages",
                           pa.array(['[{"role":"user","content":[{"type":"text","text":"a"}]}]'] * clean.num_rows))
    assert refused(padded) and refused(odd) and refused(clean.slice(0, 0))
    read, report = read_log(_write(tmp_path, padded))
    assert read.column("request_id").to_pylist() == clean.column("request_id").to_pylist()  # trimmed by the SQL
    read, report = read_log(_write(tmp_path, odd))
    assert read.column("prompt_text").to_pylist() == ["a"] * clean.num_rows


def _write(tmp_path, table) -> str:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    return str(path)


def test_parquet_prompt_text_is_read_only_where_the_messages_do_not_give_it(tmp_path):
    """The Parquet reader defers the prompt_text column: batches of plain messages derive it, a batch with
    a null or odd message reads it (the right rows of the right row group) and takes the SQL."""
    records = [make_record(i) for i in range(40)]
    clean = from_records(records)
    messages = clean.column("messages").to_pylist()
    prompts = [f"given prompt {i}" for i in range(40)]
    messages[27] = None  # row group 1 (rows 20-39), its second batch (rows 26-31): prompt_text is the text
    messages[35] = '"just a string"'  # plain: derived
    table = clean.set_column(clean.schema.get_field_index("messages"), "messages", pa.array(messages, pa.string()))
    table = table.set_column(table.schema.get_field_index("prompt_text"), "prompt_text", pa.array(prompts))
    pq.write_table(table, tmp_path / "log.parquet", row_group_size=20)
    read, report = read_log(tmp_path / "log.parquet", batch_rows=6)
    got = read.column("prompt_text").to_pylist()
    assert report.rows_accepted == 40 and got[27] == "given prompt 27" and got[35] == "just a string"
    assert got[:27] == clean.column("prompt_text").to_pylist()[:27]
