"""LOG_SCHEMA: documentation, building tables from records, round trips, validation and casting."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from traffic_helpers import T0, make_record

from distillwatch.traffic.schema import (LOG_SCHEMA, REQUIRED_FIELDS, SchemaError, conform, field_doc, from_records,
                                         validate)

EXPECTED_FIELDS = [
    "timestamp", "request_id", "account_id", "org_id", "api_key_id", "ip", "user_agent", "model", "endpoint",
    "messages", "prompt_text", "response_text", "prompt_tokens", "completion_tokens", "temperature", "top_p",
    "max_tokens", "n", "logprobs", "top_logprobs", "payment_fingerprint", "status", "latency_ms",
]


def test_schema_fields_types_and_docs():
    assert LOG_SCHEMA.names == EXPECTED_FIELDS
    assert LOG_SCHEMA.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert LOG_SCHEMA.field("logprobs").type == pa.bool_()
    assert set(REQUIRED_FIELDS) == {"timestamp", "request_id", "account_id", "model"}
    for name in LOG_SCHEMA.names:
        assert len(field_doc(name)) > 20, name
        assert LOG_SCHEMA.field(name).nullable == (name not in REQUIRED_FIELDS)


def test_from_records_derives_prompt_text_and_casts():
    records = [
        make_record(0, messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": [{"type": "text", "text": "Look at"},
                                         {"type": "image_url", "image_url": {"url": "u"}}]},
        ]),
        make_record(1, messages="Once upon a time", timestamp=T0.replace(tzinfo=None), prompt_tokens="12"),
        make_record(2, timestamp=1767607200123, request_id=None),
    ]
    table = from_records(records)
    validate(table)
    rows = table.to_pylist()
    assert rows[0]["prompt_text"] == "You are terse.\n\nFirst question\n\nLook at"
    assert rows[1]["prompt_text"] == "Once upon a time" and rows[1]["messages"] == '"Once upon a time"'
    assert rows[1]["timestamp"] == T0 and rows[1]["prompt_tokens"] == 12
    assert rows[2]["timestamp"] == dt.datetime(2026, 1, 5, 10, 0, 0, 123000, tzinfo=dt.timezone.utc)
    assert rows[2]["request_id"] == "records:3"  # synthesized from the source and position


def test_round_trip_through_parquet(tmp_path):
    table = from_records([make_record(i) for i in range(5)])
    pq.write_table(table, tmp_path / "log.parquet")
    back = pq.read_table(tmp_path / "log.parquet")
    validate(back)
    assert back.equals(table)
    assert conform(back).equals(table)


def test_from_records_raises_on_bad_records():
    with pytest.raises(SchemaError, match="record 1: missing_field"):
        from_records([make_record(0), make_record(1, account_id=None)])
    with pytest.raises(SchemaError, match="wrong_type"):
        from_records([make_record(0, temperature={"hot": True})])


def test_validate_rejects_wrong_tables():
    table = from_records([make_record(0)])
    validate(table)
    with pytest.raises(SchemaError, match="missing"):
        validate(table.drop_columns(["ip"]))
    with pytest.raises(SchemaError, match="prompt_tokens"):
        validate(table.set_column(12, "prompt_tokens", pa.array(["9"])))
    nulled = table.set_column(2, pa.field("account_id", pa.string()), pa.nulls(1, pa.string()))
    with pytest.raises(SchemaError, match="nulls"):
        validate(nulled)


def test_conform_fills_missing_columns_and_casts():
    partial = pa.table({
        "timestamp": ["2026-01-05T10:00:00Z"], "account_id": ["a"], "model": ["m"], "prompt": ["hello there"],
        "prompt_tokens": [3.0], "logprobs": ["true"],
    })
    out = conform(partial)
    validate(out)
    row = out.to_pylist()[0]
    assert row["prompt_text"] == "hello there" and row["prompt_tokens"] == 3 and row["logprobs"] is True
    assert row["org_id"] is None and row["request_id"] == "table:1"
    with pytest.raises(SchemaError, match="row 1: wrong_type"):
        conform(partial.set_column(4, "prompt_tokens", pa.array([2.5])))
