"""The prompt text of plain chat `messages`, compiled: one pass over the JSON bytes instead of SQL.

Ingest derives ``prompt_text`` from ``messages`` in SQL (`traffic._normalize._prompt_text`): the
non-assistant contents joined by a blank line, or the text of a JSON string. In DuckDB that parses each
value's JSON several times (validity, type, shape, then the typed read), the largest cost of reading a
log. Nearly every logged value has one plain shape:

    [{"role": "<text>", "content": "<text>"}, ...]   or   "<text>"

`plain_prompt_texts` reads exactly that shape in one left-to-right pass over the UTF-8 bytes, decoding
JSON string escapes, and gives the same text as the SQL. A value it does not read whole and strictly
(any other key, a key missing or repeated, a non-string content or role, an escaped role, an empty
array, a control character or ``\\u0000`` or a lone surrogate in a string, anything after the value,
text that is not JSON) is left to the SQL: the kernel says so per row, and the SQL decides those rows
as before. Runs without the GIL.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from ._utf8 import bytes_at, compact_layout, one_array, string_array

__all__ = ["plain_prompt_texts"]

_ASSISTANT = np.frombuffer(b"assistant", dtype=np.uint8).copy()
_ROLE = np.frombuffer(b"role", dtype=np.uint8).copy()
_CONTENT = np.frombuffer(b"content", dtype=np.uint8).copy()


def plain_prompt_texts(messages: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(prompt text per value, whether the value has the plain shape): the text is that of
    `traffic._normalize._prompt_text` where the flag is set, and empty elsewhere (nulls included)."""
    messages = one_array(messages)
    data, off = compact_layout(messages)
    out, out_off, ok = _prompt_texts(data, off)
    if len(messages) and messages.null_count:
        ok &= messages.is_valid().to_numpy(zero_copy_only=False)
    return string_array(out, out_off), ok


@njit(inline="always", cache=True)
def _space(data, i, end):
    while i < end and (data[i] == 0x20 or data[i] == 0x0A or data[i] == 0x0D or data[i] == 0x09):
        i += 1
    return i


@njit(inline="always", cache=True)
def _hex4(data, i, end):
    """The value of 4 hex digits at `i`, or -1."""
    if i + 4 > end:
        return -1
    v = 0
    for k in range(4):
        c = data[i + k]
        if 0x30 <= c <= 0x39:
            d = c - 0x30
        elif 0x61 <= c <= 0x66:
            d = c - 0x57
        elif 0x41 <= c <= 0x46:
            d = c - 0x37
        else:
            return -1
        v = v * 16 + d
    return v


@njit(nogil=True, cache=True)
def _string(data, i, end, out, w):
    """Decode the JSON string whose opening quote is at `i` into `out` at `w`: (index after the closing
    quote, new w), or (-1, w) where the string is not one the kernel reads (see the module docstring)."""
    i += 1
    while i < end:
        c = data[i]
        if c == 0x22:
            return i + 1, w
        if c < 0x20:
            return -1, w
        if c != 0x5C:
            out[w] = c
            w += 1
            i += 1
            continue
        if i + 1 >= end:
            return -1, w
        e = data[i + 1]
        i += 2
        if e == 0x22 or e == 0x5C or e == 0x2F:
            out[w] = e
        elif e == 0x6E:
            out[w] = 0x0A
        elif e == 0x74:
            out[w] = 0x09
        elif e == 0x72:
            out[w] = 0x0D
        elif e == 0x62:
            out[w] = 0x08
        elif e == 0x66:
            out[w] = 0x0C
        elif e == 0x75:
            cp = _hex4(data, i, end)
            if cp <= 0:
                return -1, w
            i += 4
            if 0xDC00 <= cp <= 0xDFFF:
                return -1, w
            if 0xD800 <= cp <= 0xDBFF:
                if i + 6 > end or data[i] != 0x5C or data[i + 1] != 0x75:
                    return -1, w
                low = _hex4(data, i + 2, end)
                if low < 0xDC00 or low > 0xDFFF:
                    return -1, w
                i += 6
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
            if cp < 0x80:
                out[w] = cp
            elif cp < 0x800:
                out[w] = 0xC0 | (cp >> 6)
                out[w + 1] = 0x80 | (cp & 0x3F)
                w += 1
            elif cp < 0x10000:
                out[w] = 0xE0 | (cp >> 12)
                out[w + 1] = 0x80 | ((cp >> 6) & 0x3F)
                out[w + 2] = 0x80 | (cp & 0x3F)
                w += 2
            else:
                out[w] = 0xF0 | (cp >> 18)
                out[w + 1] = 0x80 | ((cp >> 12) & 0x3F)
                out[w + 2] = 0x80 | ((cp >> 6) & 0x3F)
                out[w + 3] = 0x80 | (cp & 0x3F)
                w += 3
        else:
            return -1, w
        w += 1
    return -1, w


@njit(inline="always", cache=True)
def _raw_equals(data, i, j, word):
    """Whether the bytes data[i:j] are `word`."""
    return j - i == len(word) and bytes_at(data, i, j, word)


@njit(nogil=True, cache=True)
def _message(data, i, end, out, w, first):
    """One ``{"role": ..., "content": ...}`` object at `i` (its opening brace): (index after it, new w,
    whether its content was kept), or (-1, w, False). A kept content is written at `w`, after the blank
    line that separates it from an earlier one unless `first`."""
    i = _space(data, i + 1, end)
    start_w = w
    if not first:
        out[w] = 0x0A
        out[w + 1] = 0x0A
        w += 2
    seen_role = False
    seen_content = False
    assistant = False
    while True:
        if i >= end or data[i] != 0x22:
            return -1, start_w, False
        k0 = i + 1
        k1 = k0
        while k1 < end and data[k1] != 0x22 and data[k1] != 0x5C:
            k1 += 1
        if k1 >= end or data[k1] != 0x22:
            return -1, start_w, False
        i = _space(data, k1 + 1, end)
        if i >= end or data[i] != 0x3A:
            return -1, start_w, False
        i = _space(data, i + 1, end)
        if i >= end or data[i] != 0x22:
            return -1, start_w, False
        if _raw_equals(data, k0, k1, _ROLE) and not seen_role:
            seen_role = True
            v0 = i + 1
            v1 = v0
            while v1 < end and data[v1] != 0x22 and data[v1] != 0x5C and data[v1] >= 0x20:
                v1 += 1
            if v1 >= end or data[v1] != 0x22:
                return -1, start_w, False
            assistant = _raw_equals(data, v0, v1, _ASSISTANT)
            i = v1 + 1
        elif _raw_equals(data, k0, k1, _CONTENT) and not seen_content:
            seen_content = True
            i, w = _string(data, i, end, out, w)
            if i < 0:
                return -1, start_w, False
        else:
            return -1, start_w, False
        i = _space(data, i, end)
        if i < end and data[i] == 0x2C:
            i = _space(data, i + 1, end)
            continue
        if i < end and data[i] == 0x7D and seen_role and seen_content:
            if assistant:
                return i + 1, start_w, False
            return i + 1, w, True
        return -1, start_w, False


@njit(nogil=True, cache=True)
def _row(data, i, end, out, w):
    """The prompt text of one value data[i:end] written at `w`: (new w, whether the value is plain)."""
    start_w = w
    i = _space(data, i, end)
    if i >= end:
        return start_w, False
    if data[i] == 0x22:
        i, w = _string(data, i, end, out, w)
        if i < 0 or _space(data, i, end) != end:
            return start_w, False
        return w, True
    if data[i] != 0x5B:
        return start_w, False
    i = _space(data, i + 1, end)
    first = True
    while True:
        if i >= end or data[i] != 0x7B:
            return start_w, False
        i, w, kept = _message(data, i, end, out, w, first)
        if i < 0:
            return start_w, False
        if kept:
            first = False
        i = _space(data, i, end)
        if i < end and data[i] == 0x2C:
            i = _space(data, i + 1, end)
            continue
        if i < end and data[i] == 0x5D and _space(data, i + 1, end) == end:
            return w, True
        return start_w, False


@njit(nogil=True, cache=True)
def _prompt_texts(data, off):
    """(text bytes, text offsets, plain flags) of rows of JSON bytes; a row that is not plain gets ''.
    The text is never longer than its JSON (escapes shrink, a blank line replaces at least ``},{``), so
    one buffer of the input's size holds every text."""
    n = len(off) - 1
    out = np.empty(len(data) + 2, dtype=np.uint8)
    out_off = np.zeros(n + 1, dtype=np.int64)
    ok = np.zeros(n, dtype=np.bool_)
    w = 0
    for r in range(n):
        w, plain = _row(data, off[r], off[r + 1], out, w)
        ok[r] = plain
        out_off[r + 1] = w
    return out[:w], out_off, ok
