"""The template's three common slot masks, compiled: quoted strings, long tokens and numbers on UTF-8 bytes.

`template.MASKS[3:6]` are, in order (each applied to the previous one's output):

    quoted   ``"[^"\\n]{0,300}"|“[^”\\n]{0,300}”|«[^»\\n]{0,300}»|`[^`\\n]{1,300}```  -> `` _str_ ``
    token    ``\\S{25,}``                                                          -> `` _tok_ ``
    number   ``\\d+(?:[.,:/-]\\d+)*``                                               -> `` _num_ ``

As RE2 replacements (leftmost-first, non-overlapping) they cost one regex call per match, and most
prompts hold numbers. Each is one left-to-right pass here, exactly as RE2 reads it:

- quoted: at an opening mark, the class excludes the closing mark, so the greedy middle ends at the
  first closing mark or newline; it matches if that is the closing mark and the middle has the allowed
  number of characters (code points, not bytes). No match: the mark is copied and the scan goes on.
- token: RE2's ``\\s`` is ``[\\t\\n\\f\\r ]``; a maximal run of other characters is replaced whole when it
  has 25 or more of them (from any later start the run is shorter), and copied otherwise.
- number: ``\\d`` is ASCII; the digits, then each separator that a digit follows, with its digits.

Openers and separators are ASCII or UTF-8 lead bytes, never continuation bytes, so copying byte by byte
keeps characters whole. Each pass writes into one buffer sized for its worst case (untouched pages cost
no memory), so the byte loop has no capacity test. Each pass is a function of one row (`mask_row` runs
the three on a row, in scratch buffers of `scratch_sizes`, for `template._masked_signatures`), looped
over a batch by `mask_quoted_tokens_numbers`. Kernels run without the GIL (the map's worker threads run
them in parallel).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mask_quoted_tokens_numbers", "mask_row", "scratch_sizes"]

_STR = np.frombuffer(b" _str_ ", dtype=np.uint8).copy()
_TOK = np.frombuffer(b" _tok_ ", dtype=np.uint8).copy()
_NUM = np.frombuffer(b" _num_ ", dtype=np.uint8).copy()
QUOTE_MAX_CHARS, TOKEN_MIN_CHARS = 300, 25


@njit(inline="always", cache=True)
def _is_lead(b):
    return (b & 0xC0) != 0x80


@njit(inline="always", cache=True)
def _closer_at(data, j, end, c0, c1, c2, width):
    if j + width > end or data[j] != c0:
        return False
    if width >= 2 and data[j + 1] != c1:
        return False
    return width < 3 or data[j + 2] == c2


@njit(nogil=True, cache=True)
def _quoted_end(data, start, end, c0, c1, c2, width, min_chars):
    """End (exclusive) of the closing mark that closes a quote whose middle starts at `start`, or -1."""
    chars = 0
    j = start
    while j < end:
        if _closer_at(data, j, end, c0, c1, c2, width):
            return j + width if chars >= min_chars else -1
        if data[j] == 10 or chars == QUOTE_MAX_CHARS:
            return -1
        chars += 1
        j += 1
        while j < end and not _is_lead(data[j]):
            j += 1
    return -1


@njit(inline="always", cache=True)
def _quoted_size(n):
    return n * 7 // 2 + 8  # at most 3.5x: '""' (2 bytes) -> ' _str_ '


@njit(inline="always", cache=True)
def _tokens_size(n):
    return n + 8  # a replaced run has 25+ bytes and becomes 7 (copied first)


@njit(inline="always", cache=True)
def _numbers_size(n):
    return n * 7 + 8  # at most 7x: one digit -> ' _num_ '


@njit(inline="always", cache=True)
def _quoted_row(data, i, end, out, w):
    """The quoted mask over one row data[i:end], written to `out` from `w` on; returns the new end."""
    while i < end:
        b = data[i]
        stop = -1
        if b == 0x22 or b == 0x60:  # "..." or `...` (at least one character)
            stop = _quoted_end(data, i + 1, end, b, 0, 0, 1, 1 if b == 0x60 else 0)
        elif b == 0xE2 and i + 2 < end and data[i + 1] == 0x80 and data[i + 2] == 0x9C:  # “...”
            stop = _quoted_end(data, i + 3, end, 0xE2, 0x80, 0x9D, 3, 0)
        elif b == 0xC2 and i + 1 < end and data[i + 1] == 0xAB:  # «...»
            stop = _quoted_end(data, i + 2, end, 0xC2, 0xBB, 0, 2, 0)
        if stop >= 0:
            out[w:w + len(_STR)] = _STR
            w += len(_STR)
            i = stop
        else:
            out[w] = b
            w += 1
            i += 1
    return w


@njit(nogil=True, cache=True)
def _mask_quoted(data, off):
    n = len(off) - 1
    out = np.empty(_quoted_size(len(data)), dtype=np.uint8)
    out_off = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for r in range(n):
        w = _quoted_row(data, off[r], off[r + 1], out, w)
        out_off[r + 1] = w
    return out[:w], out_off


@njit(inline="always", cache=True)
def _is_space(b):
    return b == 32 or b == 9 or b == 10 or b == 12 or b == 13


@njit(inline="always", cache=True)
def _tokens_row(data, i, end, out, w):
    """The long-token mask over one row data[i:end], written to `out` from `w` on; returns the new end."""
    run_start, chars = w, 0  # the run of non-space characters being copied, and its length
    while i < end:
        b = data[i]
        out[w] = b
        w += 1
        i += 1
        if _is_space(b):
            if chars >= TOKEN_MIN_CHARS:  # the run just ended: replace what was copied of it
                out[run_start:run_start + len(_TOK)] = _TOK
                out[run_start + len(_TOK)] = b
                w = run_start + len(_TOK) + 1
            run_start, chars = w, 0
        else:
            chars += _is_lead(b)
    if chars >= TOKEN_MIN_CHARS:
        out[run_start:run_start + len(_TOK)] = _TOK
        w = run_start + len(_TOK)
    return w


@njit(nogil=True, cache=True)
def _mask_tokens(data, off):
    n = len(off) - 1
    out = np.empty(_tokens_size(len(data)), dtype=np.uint8)
    out_off = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for r in range(n):
        w = _tokens_row(data, off[r], off[r + 1], out, w)
        out_off[r + 1] = w
    return out[:w], out_off


@njit(inline="always", cache=True)
def _is_digit(b):
    return 48 <= b <= 57


@njit(inline="always", cache=True)
def _is_separator(b):
    return b == 46 or b == 44 or b == 58 or b == 47 or b == 45  # . , : / -


@njit(inline="always", cache=True)
def _numbers_row(data, i, end, out, w):
    """The number mask over one row data[i:end], written to `out` from `w` on; returns the new end."""
    while i < end:
        if not _is_digit(data[i]):
            out[w] = data[i]
            w += 1
            i += 1
            continue
        while i < end and _is_digit(data[i]):
            i += 1
        while i + 1 < end and _is_separator(data[i]) and _is_digit(data[i + 1]):
            i += 1
            while i < end and _is_digit(data[i]):
                i += 1
        out[w:w + len(_NUM)] = _NUM
        w += len(_NUM)
    return w


@njit(nogil=True, cache=True)
def _mask_numbers(data, off):
    n = len(off) - 1
    out = np.empty(_numbers_size(len(data)), dtype=np.uint8)
    out_off = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for r in range(n):
        w = _numbers_row(data, off[r], off[r + 1], out, w)
        out_off[r + 1] = w
    return out[:w], out_off


@njit(inline="always", cache=True)
def mask_row(data, i, end, s1, s2, s3):
    """The three masks over one row data[i:end], through the scratch buffers `s1` and `s2` into `s3`
    (sized by `scratch_sizes` for the row's length); returns the masked row's length in `s3`."""
    w = _quoted_row(data, i, end, s1, 0)
    w = _tokens_row(s1, 0, w, s2, 0)
    return _numbers_row(s2, 0, w, s3, 0)


@njit(inline="always", cache=True)
def scratch_sizes(length):
    """Bytes the buffers `s1`, `s2`, `s3` of `mask_row` need for a row of `length` bytes."""
    s1 = _quoted_size(length)
    s2 = _tokens_size(s1)
    return s1, s2, _numbers_size(s2)


def mask_quoted_tokens_numbers(data: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The three masks, in order, over the rows of valid UTF-8 `data` at int64 offsets `off` (starting at
    0): (bytes, offsets) of the masked rows."""
    data, off = _mask_quoted(data, off)
    data, off = _mask_tokens(data, off)
    return _mask_numbers(data, off)
