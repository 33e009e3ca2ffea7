"""The one Arrow schema for API request logs, and helpers to build, cast and check tables of it.

Every reader in `traffic.ingest` yields record batches of `LOG_SCHEMA`; the gateway writes its own log
in it directly (through `from_records`). A row is one API request. Required fields are non-nullable;
everything else is null when the source did not record it (null sampling parameters mean "not given,
the API default applied").
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Iterable, Mapping

import pyarrow as pa

__all__ = [
    "LOG_SCHEMA",
    "REQUIRED_FIELDS",
    "SchemaError",
    "field_doc",
    "from_records",
    "conform",
    "validate",
]

# (name, type, nullable, doc). The order here is the column order of every table of the schema.
_FIELDS: tuple[tuple[str, pa.DataType, bool, str], ...] = (
    ("timestamp", pa.timestamp("us", tz="UTC"), False,
     "When the API received the request (UTC, microseconds). Readers accept ISO-8601 text (naive = UTC) "
     "or epoch seconds/milliseconds/microseconds (told apart by magnitude)."),
    ("request_id", pa.string(), False,
     "The provider's id of the request. Readers synthesize '<file name>:<line or row>' when absent."),
    ("account_id", pa.string(), False, "The billing account that sent the request."),
    ("org_id", pa.string(), True, "The organization the account belongs to (verified org), if any."),
    ("api_key_id", pa.string(), True, "Id of the API key used (never the secret itself)."),
    ("ip", pa.string(), True, "Client IP address as seen at the API edge (IPv4 or IPv6 text)."),
    ("user_agent", pa.string(), True, "HTTP User-Agent header (SDK name and version, or a client string)."),
    ("model", pa.string(), False, "The model name the request asked for."),
    ("endpoint", pa.string(), True, "API path, e.g. '/v1/chat/completions' or '/v1/completions'."),
    ("messages", pa.string(), True,
     "The prompt as JSON text: an array of chat messages ({'role', 'content'}, content a string or a "
     "list of parts) for chat endpoints, or a JSON string for a plain completion prompt."),
    ("prompt_text", pa.string(), True,
     "Derived from `messages`: the text of every non-assistant message (system, developer, user, tool; "
     "text parts only) joined by blank lines, or the plain prompt. Read from the source only when the "
     "source has no `messages`."),
    ("response_text", pa.string(), True,
     "The generated text; with n > 1 the texts of all choices joined by blank lines."),
    ("prompt_tokens", pa.int32(), True, "Prompt (input) tokens billed."),
    ("completion_tokens", pa.int32(), True, "Completion (output) tokens billed, all choices together."),
    ("temperature", pa.float64(), True, "Sampling temperature requested."),
    ("top_p", pa.float64(), True, "Nucleus sampling mass requested."),
    ("max_tokens", pa.int32(), True, "Output token limit requested (max_tokens / max_completion_tokens)."),
    ("n", pa.int32(), True, "Number of choices requested."),
    ("logprobs", pa.bool_(), True, "Whether per-token log-probabilities were requested."),
    ("top_logprobs", pa.int32(), True, "Alternatives per token requested with the log-probabilities."),
    ("payment_fingerprint", pa.string(), True,
     "Fingerprint of the payment instrument (e.g. a card hash from the payment processor), if known."),
    ("status", pa.int32(), True, "HTTP status code returned."),
    ("latency_ms", pa.float64(), True, "Time from request to complete response, in milliseconds."),
)

LOG_SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, typ, nullable=nullable, metadata={"doc": doc}) for name, typ, nullable, doc in _FIELDS],
    metadata={"distillwatch.schema": "request_log/1"},
)
REQUIRED_FIELDS: tuple[str, ...] = tuple(name for name, _, nullable, _ in _FIELDS if not nullable)


class SchemaError(ValueError):
    """A table or record does not fit `LOG_SCHEMA`."""


def field_doc(name: str) -> str:
    """The documentation of one field of `LOG_SCHEMA`."""
    return LOG_SCHEMA.field(name).metadata[b"doc"].decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot put {type(value).__name__} into a log record")


def from_records(records: Iterable[Mapping[str, Any]], *, source: str = "records") -> pa.Table:
    """Build a `LOG_SCHEMA` table from Python dicts (tests, the gateway's log writer).

    Records use the schema's field names; `messages` may be a list of message dicts or a prompt string,
    `timestamp` a datetime (naive = UTC), ISO text or epoch number. Records go through the same
    mapping as JSONL logs, so `prompt_text` is derived the same way. Raises `SchemaError` naming every
    bad record instead of quarantining it.
    """
    import numpy as np

    from ._normalize import SCHEMA_JSON_MAPPING, normalize_json_lines  # _normalize imports this module

    lines = [json.dumps(dict(r), default=_json_default, ensure_ascii=False) for r in records]
    accepted, rejected = normalize_json_lines(pa.array(lines, pa.string()), np.arange(1, len(lines) + 1),
                                              mapping=SCHEMA_JSON_MAPPING, source=source)
    if rejected.num_rows:
        problems = [f"record {r['line'] - 1}: {r['reason']} ({r['detail']})" for r in rejected.to_pylist()]
        raise SchemaError("bad log records: " + "; ".join(problems[:20]))
    return accepted


def conform(table: pa.Table | pa.RecordBatch, *, source: str = "table") -> pa.Table:
    """Cast a table with (some of) the schema's columns to `LOG_SCHEMA`.

    Missing nullable columns become null, values are cast as the CSV/Parquet readers cast them and
    `prompt_text` is derived from `messages`. Raises `SchemaError` if any row cannot be cast or lacks a
    required field; the readers quarantine such rows instead.
    """
    from ._normalize import normalize_columns

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    accepted, rejected = normalize_columns(table, first_row=1, source=source)
    if rejected.num_rows:
        problems = [f"row {r['row']}: {r['reason']} ({r['detail']})" for r in rejected.to_pylist()]
        raise SchemaError("rows do not fit the log schema: " + "; ".join(problems[:20]))
    return accepted


def validate(table: pa.Table | pa.RecordBatch) -> None:
    """Raise `SchemaError` unless `table` has exactly `LOG_SCHEMA`'s columns and types, in order, and no
    null in a required field."""
    names, expected = table.schema.names, LOG_SCHEMA.names
    if names != expected:
        missing = [n for n in expected if n not in names]
        extra = [n for n in names if n not in expected]
        raise SchemaError(f"columns differ from LOG_SCHEMA: missing {missing}, extra {extra}, order {names}")
    for got, want in zip(table.schema, LOG_SCHEMA):
        if not got.type.equals(want.type):
            raise SchemaError(f"column {got.name!r} is {got.type}, LOG_SCHEMA has {want.type}")
    for name in REQUIRED_FIELDS:
        if table.column(name).null_count:
            raise SchemaError(f"required column {name!r} has {table.column(name).null_count} nulls")
