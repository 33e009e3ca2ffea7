"""SQL (DuckDB) that turns raw log rows into `LOG_SCHEMA` rows, or into quarantine reasons.

One implementation for every reader. JSON lines (schema records, OpenAI-style records, the records of
`from_records`) pass a JSON extraction stage that parses each line once (`json_extract` with a list of
paths); CSV, Parquet and Arrow columns pass a column-mapping stage. Both end in the same stage that
casts every field (`TRY_CAST`), derives `prompt_text` from `messages`, synthesizes missing request ids
and names the first problem of each row. All of it is vectorized SQL; Python touches only the rows
that are rejected (to format them for the quarantine). Two shortcuts give the SQL's results with less
work: plain chat `messages` get their prompt text from one compiled pass (`traffic._messages`), and a
column batch the SQL would pass through unchanged (`_clean_rows`: the schema's own columns and types,
plain messages, required fields present) skips the SQL altogether.

Reasons, in the order they are checked: ``invalid_json`` (the line does not parse), ``not_an_object``
(it parses to something other than an object), ``oversized_prompt`` (`messages` longer than the
limit), ``missing_field`` (a required field absent, null or blank), ``wrong_type`` (a value present
but not castable to the field's type, e.g. an object where a number belongs). The detail names the
fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._duck import connect, quote_ident
from ._messages import plain_prompt_texts
from .schema import LOG_SCHEMA, REQUIRED_FIELDS

__all__ = [
    "DEFAULT_MAX_PROMPT_CHARS",
    "JsonMapping",
    "SCHEMA_JSON_MAPPING",
    "COLUMN_ALIASES",
    "REJECTED_SCHEMA",
    "normalize_json_lines",
    "normalize_columns",
    "rejected_rows",
]

DEFAULT_MAX_PROMPT_CHARS = 1_000_000
_CHECKED = ("timestamp", "account_id", "model")  # required fields a row must bring (request_id is made up)
_SEP = "chr(10) || chr(10)"

REJECTED_SCHEMA = pa.schema([
    ("line", pa.int64()), ("row", pa.int64()), ("raw", pa.string()), ("reason", pa.string()),
    ("detail", pa.string()),
])


@dataclass(frozen=True)
class JsonMapping:
    """Where each schema field lives in a JSON record.

    `paths`: field -> JSON paths tried in order (the first present, non-null one wins).
    `extras`: name -> JSON path, available to the SQL snippets below as column ``x_<name>``.
    `value_sql`: field -> SQL turning ``{v}`` (the JSON value found) into text, instead of the default.
    `default_sql`: field -> SQL (over ``x_*``) giving the text when none of the paths is present.
    """

    paths: Mapping[str, tuple[str, ...]]
    extras: Mapping[str, str] = field(default_factory=dict)
    value_sql: Mapping[str, str] = field(default_factory=dict)
    default_sql: Mapping[str, str] = field(default_factory=dict)


SCHEMA_JSON_MAPPING = JsonMapping(
    paths={name: (f"$.{name}",) for name in LOG_SCHEMA.names} | {"messages": ("$.messages", "$.prompt")},
)

# Column names accepted for a field in CSV/Parquet/Arrow input besides the field's own name.
COLUMN_ALIASES: Mapping[str, tuple[str, ...]] = {"messages": ("prompt",), "response_text": ("response",)}


def _messages_from_text(s: str) -> str:
    """SQL: text that is already a JSON array or JSON string stays; any other text is a plain prompt."""
    return (f"CASE WHEN json_valid({s}) THEN CASE WHEN json_type({s}) IN ('ARRAY', 'VARCHAR') "
            f"THEN {s} ELSE to_json({s}) END ELSE to_json({s}) END")


def _prompt_text(m: str) -> str:
    """SQL: the non-assistant text of a `messages` JSON value (an array of messages or a JSON string).

    Messages whose contents are all JSON strings (nearly every log) are read with one typed parse
    (``from_json``); the others (content parts, non-string contents, elements that are not objects) take
    the general expression (`_messages_text_general`), which asks each element its JSON type. Both give
    the same text where the first applies; over a whole log the typed parse is about 2.5x faster."""
    as_json = """'[{"role": "VARCHAR", "content": "JSON"}]'"""
    as_text = """'[{"role": "VARCHAR", "content": "VARCHAR"}]'"""
    all_strings = (f"list_bool_and(list_transform(from_json({m}, {as_json}), "
                   f"lambda x: coalesce(starts_with(x.content, '\"'), false)))")
    typed = (f"array_to_string(list_transform(list_filter(from_json({m}, {as_text}), "
             f"lambda x: coalesce(x.role, '') <> 'assistant'), lambda x: x.content), {_SEP})")
    return (f"CASE json_type({m}) WHEN 'VARCHAR' THEN {m}->>'$' WHEN 'ARRAY' THEN "
            f"CASE WHEN {all_strings} THEN {typed} ELSE {_messages_text_general(m)} END END")


def _messages_text_general(m: str) -> str:
    """SQL: the non-assistant text of a JSON array of messages of any shape (see `_prompt_text`)."""
    part = ("CASE json_type(x) WHEN 'VARCHAR' THEN x->>'$' WHEN 'OBJECT' THEN CASE json_type(x, '$.content') "
            "WHEN 'VARCHAR' THEN x->>'content' WHEN 'ARRAY' THEN "
            "array_to_string(json_extract_string(x, '$.content[*].text'), ' ') END END")
    return (f"array_to_string(list_transform(list_filter(CAST(json_extract({m}, '$[*]') AS JSON[]), "
            f"lambda x: coalesce(x->>'role', '') <> 'assistant'), lambda x: {part}), {_SEP})")


def _epoch(d: str) -> str:
    """SQL: epoch seconds, milliseconds or microseconds (told apart by magnitude) to TIMESTAMPTZ."""
    return (f"CASE WHEN abs({d}) < 1e11 THEN to_timestamp({d}) WHEN abs({d}) < 1e14 THEN to_timestamp({d} / 1e3) "
            f"WHEN abs({d}) < 1e17 THEN to_timestamp({d} / 1e6) END")


def _convert(name: str, kind: str) -> str:
    """SQL: column `name` (of source kind varchar/numeric/timestamp/bool/other) cast to its schema type."""
    c, typ = quote_ident(name), LOG_SCHEMA.field(name).type
    if pa.types.is_string(typ):
        return f"CAST({c} AS VARCHAR)"
    if pa.types.is_timestamp(typ):
        if kind == "varchar":
            return f"coalesce(TRY_CAST({c} AS TIMESTAMPTZ), {_epoch(f'TRY_CAST({c} AS DOUBLE)')})"
        if kind == "numeric":
            return _epoch(f"CAST({c} AS DOUBLE)")
        return f"TRY_CAST({c} AS TIMESTAMPTZ)" if kind == "timestamp" else "NULL::TIMESTAMPTZ"
    if pa.types.is_integer(typ):
        d = f"TRY_CAST({c} AS DOUBLE)"
        return f"CASE WHEN {d} = floor({d}) AND abs({d}) < 2147483648 THEN CAST({d} AS INTEGER) END"
    if pa.types.is_floating(typ):
        return f"TRY_CAST({c} AS DOUBLE)"
    if pa.types.is_boolean(typ):
        return f"TRY_CAST({c} AS BOOLEAN)"
    raise AssertionError(typ)


def _checks_sql(inner: str, kinds: Mapping[str, str], source: str, max_prompt_chars: int, *,
                plain: bool = False) -> str:
    """The shared last stage over `inner`, which has _line, _row, _raw, every field and <field>__bad;
    with `plain`, also _plain and _plain_prompt (`traffic._messages`): rows with _plain take
    _plain_prompt as their prompt text instead of the SQL's."""
    q = quote_ident
    conv = {n: ("messages" if n == "messages" else _convert(n, kinds[n])) for n in LOG_SCHEMA.names}
    stage_b = ", ".join(
        [f"{conv[n]} AS {q(n)}" for n in LOG_SCHEMA.names]
        + [f"({q(n + '__bad')} OR ({q(n)} IS NOT NULL AND {conv[n]} IS NULL)) AS {q(n + '__bad')}"
           for n in LOG_SCHEMA.names]
        + [f"(NOT {q(n + '__bad')} AND nullif(trim(CAST({q(n)} AS VARCHAR)), '') IS NULL) AS {q(n + '__miss')}"
           for n in _CHECKED]
    )
    miss = " OR ".join(q(n + "__miss") for n in _CHECKED)
    bad = " OR ".join(q(n + "__bad") for n in LOG_SCHEMA.names)
    miss_names = ", ".join(f"CASE WHEN {q(n + '__miss')} THEN '{n}' END" for n in _CHECKED)
    bad_names = ", ".join(f"CASE WHEN {q(n + '__bad')} THEN '{n}' END" for n in LOG_SCHEMA.names)
    oversized = f"length(messages) > {int(max_prompt_chars)}"
    src = source.replace("'", "''")
    out = {n: q(n) for n in LOG_SCHEMA.names}
    out["request_id"] = (f"coalesce(nullif(trim(request_id), ''), '{src}:' || "
                         f"CAST(coalesce(_line, _row) AS VARCHAR))")
    derived = f"CASE WHEN _plain THEN _plain_prompt ELSE {_prompt_text('messages')} END" if plain else \
        _prompt_text("messages")
    out["prompt_text"] = (f"CASE WHEN messages IS NOT NULL AND NOT ({oversized}) THEN {derived} "
                          f"ELSE prompt_text END")
    return f"""
SELECT _line, _row, _raw,
  CASE WHEN {oversized} THEN 'oversized_prompt' WHEN {miss} THEN 'missing_field'
       WHEN {bad} THEN 'wrong_type' END AS _reason,
  CASE WHEN {oversized} THEN 'messages has ' || length(messages) || ' chars, limit {int(max_prompt_chars)}'
       WHEN {miss} THEN concat_ws(',', {miss_names}) WHEN {bad} THEN concat_ws(',', {bad_names}) END AS _detail,
  {", ".join(f"{out[n]} AS {q(n)}" for n in LOG_SCHEMA.names)}
FROM (SELECT _line, _row, _raw, {"_plain, _plain_prompt, " if plain else ""}{stage_b} FROM ({inner}))"""


def _split(result: pa.Table) -> tuple[pa.Table, pa.Table]:
    ok = pc.is_null(result.column("_reason"))
    n_ok = pc.sum(ok).as_py() or 0
    accepted = (result if n_ok == result.num_rows else result.filter(ok)).select(LOG_SCHEMA.names).cast(LOG_SCHEMA)
    rejected = result.filter(pc.invert(ok)).select(["_line", "_row", "_raw", "_reason", "_detail"])
    return accepted, rejected.rename_columns(REJECTED_SCHEMA.names).cast(REJECTED_SCHEMA)


def rejected_rows(line, row, raw: pa.Array, reason: str,
                  detail: str | None = None) -> pa.Table:
    """A table of rejected rows (REJECTED_SCHEMA) that all share one reason."""
    n = len(raw)
    col = lambda a: pa.array(a, pa.int64()) if a is not None else pa.nulls(n, pa.int64())  # noqa: E731
    return pa.table([col(line), col(row), raw.cast(pa.string()), pa.array([reason] * n, pa.string()),
                     pa.array([detail] * n, pa.string())], schema=REJECTED_SCHEMA)


def _json_text(v: str, name: str) -> tuple[str, str]:
    """SQL (text, bad) for a field from its JSON value `v`, by the default rules."""
    if name == "messages":
        return (f"CASE json_type({v}) WHEN 'ARRAY' THEN CAST({v} AS VARCHAR) "
                f"WHEN 'VARCHAR' THEN {_messages_from_text(f'({v}->>' + chr(39) + '$' + chr(39) + ')')} END",
                f"coalesce(json_type({v}) NOT IN ('ARRAY', 'VARCHAR', 'NULL'), false)")
    return (f"CASE json_type({v}) WHEN 'VARCHAR' THEN {v}->>'$' WHEN 'OBJECT' THEN NULL WHEN 'ARRAY' THEN NULL "
            f"ELSE CAST({v} AS VARCHAR) END",
            f"coalesce(json_type({v}) IN ('OBJECT', 'ARRAY'), false)")


def normalize_json_lines(lines: pa.Array, line_numbers: np.ndarray, *, mapping: JsonMapping, source: str,
                         max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS, con=None) -> tuple[pa.Table, pa.Table]:
    """Map JSON lines (with their 1-based line numbers) to (accepted LOG_SCHEMA rows, rejected rows)."""
    con = con or connect()
    line_no = np.asarray(line_numbers, dtype=np.int64)
    con.register("dw_lines", pa.table({"_raw": lines.cast(pa.string())}))
    try:
        kind = con.sql("SELECT CASE WHEN json_valid(_raw) THEN json_type(_raw) END AS k FROM dw_lines") \
            .to_arrow_table().column("k")
    finally:
        con.unregister("dw_lines")
    is_obj = pc.fill_null(pc.equal(kind, "OBJECT"), False).to_numpy(zero_copy_only=False)
    invalid = pc.is_null(kind).to_numpy(zero_copy_only=False)
    parts = []
    for mask, reason in ((invalid, "invalid_json"), (~invalid & ~is_obj, "not_an_object")):
        if mask.any():
            parts.append(rejected_rows(line_no[mask], None, lines.filter(pa.array(mask)), reason))
    good = pa.table({"_line": line_no[is_obj], "_raw": lines.filter(pa.array(is_obj)).cast(pa.string())})

    all_paths: list[str] = []
    slots: dict[str, list[int]] = {}
    for name in LOG_SCHEMA.names:
        slots[name] = []
        for p in mapping.paths.get(name, ()):
            all_paths.append(p)
            slots[name].append(len(all_paths))
    for p in mapping.extras.values():
        all_paths.append(p)
    extra_cols = [f"_v[{len(all_paths) - len(mapping.extras) + i + 1}] AS x_{name}"
                  for i, name in enumerate(mapping.extras)]
    path_list = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in all_paths) + "]"
    values = []
    for name in LOG_SCHEMA.names:
        found = [f"CASE WHEN json_type(_v[{i}]) <> 'NULL' THEN _v[{i}] END" for i in slots[name]]
        values.append(f"coalesce({', '.join(found + ['NULL::JSON'])}) AS {quote_ident('v_' + name)}")
    stage1 = (f"SELECT _line, _raw, {', '.join(values + extra_cols)} "
              f"FROM (SELECT _line, _raw, json_extract(_raw, {path_list}) AS _v FROM dw_good)")
    cols = []
    for name in LOG_SCHEMA.names:
        v = quote_ident("v_" + name)
        if name in mapping.value_sql:
            text = mapping.value_sql[name].format(v=v)
            bad = f"({v} IS NOT NULL AND ({text}) IS NULL)"
        else:
            text, bad = _json_text(v, name)
        if name in mapping.default_sql:
            text = f"CASE WHEN {v} IS NULL THEN {mapping.default_sql[name]} ELSE {text} END"
        cols.append(f"{text} AS {quote_ident(name)}, {bad} AS {quote_ident(name + '__bad')}")
    stage2 = f"SELECT _line, NULL::BIGINT AS _row, _raw, {', '.join(cols)} FROM ({stage1})"
    kinds = {name: "varchar" for name in LOG_SCHEMA.names}
    con.register("dw_good", good)
    try:
        result = con.sql(_checks_sql(stage2, kinds, source, max_prompt_chars)).to_arrow_table()
    finally:
        con.unregister("dw_good")
    accepted, rejected = _split(result)
    return accepted, pa.concat_tables(parts + [rejected]).sort_by([("line", "ascending")])


def _kind(typ: pa.DataType) -> str:
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return "varchar"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "numeric"
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        return "timestamp"
    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_nested(typ):
        return "nested"
    return "other"


def _clean_rows(table: pa.Table, plain_prompt: pa.Array, plain: np.ndarray,
                max_prompt_chars: int) -> pa.Table | None:
    """`table` as accepted `LOG_SCHEMA` rows, without SQL, when the SQL of `normalize_columns` would leave
    every value as it is and reject no row; else None (the caller runs the SQL). That holds when every
    field is a column of its own name and type (so each cast is the identity), every ``messages`` value
    is plain chat JSON (`traffic._messages`: kept, its prompt text derived), none is over the size limit
    (bytes bound characters), and the required fields are present and non-blank with no whitespace to trim."""
    schema = table.schema
    if not all(f.name in schema.names and schema.field(f.name).type == f.type for f in LOG_SCHEMA
               if f.name != "prompt_text"):  # derived from the messages here, whatever the column holds
        return None
    if not plain.all() or table.num_rows == 0:
        return None
    if (pc.max(pc.binary_length(table.column("messages"))).as_py() or 0) > max_prompt_chars:
        return None
    for name in REQUIRED_FIELDS:
        col = table.column(name)
        if col.null_count:
            return None
        if pa.types.is_string(col.type) and (pc.min(pc.binary_length(col)).as_py() == 0
                                             or pc.any(pc.match_substring_regex(col, r"^\s|\s$")).as_py()):
            return None
    columns = [plain_prompt if f.name == "prompt_text" else table.column(f.name) for f in LOG_SCHEMA]
    return pa.Table.from_arrays(columns, schema=LOG_SCHEMA)


def normalize_columns(table: pa.Table, *, first_row: int, source: str,
                      max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS, con=None,
                      deferred: Mapping[str, Callable[[], pa.Array]] | None = None) -> tuple[pa.Table, pa.Table]:
    """Map a table of (some of) the schema's columns, any types, to (accepted rows, rejected rows).

    Rows are numbered from `first_row`; the raw text of a rejected row is its values as JSON.
    `deferred`: more columns of the table, by name, each read by its function only if the SQL runs
    (a Parquet reader defers ``prompt_text``, which the shortcut derives from the messages).
    """
    names = table.schema.names
    cols, kinds, extra = [], {}, {}
    if "messages" in names and _kind(table.schema.field("messages").type) == "varchar":
        plain_prompt, plain = plain_prompt_texts(table.column("messages"))
        clean = _clean_rows(table, plain_prompt, plain, max_prompt_chars)
        if clean is not None:
            return clean, REJECTED_SCHEMA.empty_table()
    for name, read in (deferred or {}).items():
        table = table.append_column(name, read())
        names = table.schema.names
    con = con or connect()
    for name in LOG_SCHEMA.names:
        found = next((c for c in (name, *COLUMN_ALIASES.get(name, ())) if c in names), None)
        q = quote_ident(name)
        if found is None:
            cols.append(f"NULL::VARCHAR AS {q}, false AS {quote_ident(name + '__bad')}")
            kinds[name] = "varchar"
            continue
        c, kind = quote_ident(found), _kind(table.schema.field(found).type)
        if name == "messages" and kind == "varchar":  # plain chat JSON read by the compiled pass
            if found != "messages":
                plain_prompt, plain = plain_prompt_texts(table.column(found))
            extra = {"__dw_plain": pa.array(plain), "__dw_plain_prompt": plain_prompt}
            as_text = f"CAST({c} AS VARCHAR)"
            text = f"CASE WHEN __dw_plain THEN {as_text} ELSE {_messages_from_text(as_text)} END"
            cols.append(f"{text} AS {q}, false AS {quote_ident(name + '__bad')}")
            kinds[name] = "varchar"
        elif name == "messages":
            text = (f"CAST(to_json({c}) AS VARCHAR)" if kind == "nested"
                    else _messages_from_text(f"CAST({c} AS VARCHAR)"))
            cols.append(f"{text} AS {q}, false AS {quote_ident(name + '__bad')}")
            kinds[name] = "varchar"
        elif kind == "nested":
            cols.append(f"NULL::VARCHAR AS {q}, ({c} IS NOT NULL) AS {quote_ident(name + '__bad')}")
            kinds[name] = "varchar"
        else:
            cols.append(f"{c} AS {q}, false AS {quote_ident(name + '__bad')}")
            kinds[name] = kind
    inner = (f"SELECT NULL::BIGINT AS _line, {int(first_row)} + __dw_idx AS _row, NULL::VARCHAR AS _raw, "
             f"{', '.join(cols)}{', __dw_plain AS _plain, __dw_plain_prompt AS _plain_prompt' if extra else ''} "
             "FROM dw_cols")
    cols_table = table.append_column("__dw_idx", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    for extra_name, extra_col in extra.items():
        cols_table = cols_table.append_column(extra_name, extra_col)
    con.register("dw_cols", cols_table)
    try:
        result = con.sql(_checks_sql(inner, kinds, source, max_prompt_chars, plain=bool(extra))).to_arrow_table()
    finally:
        con.unregister("dw_cols")
    accepted, rejected = _split(result)
    if rejected.num_rows:  # the raw text of rejected rows only, formatted in Python
        idx = pc.subtract(rejected.column("row"), first_row)
        raw = [json.dumps(r, default=str, ensure_ascii=False) for r in table.take(idx).to_pylist()]
        rejected = rejected.set_column(2, "raw", pa.array(raw, pa.string()))
    return accepted, rejected
