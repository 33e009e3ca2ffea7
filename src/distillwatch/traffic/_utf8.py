"""UTF-8 string arrays as NumPy bytes: their layout, the RE2 character class of each character.

Some regex work costs one RE2 call per *match* with Arrow's kernels (``count_substring_regex``,
``replace_substring_regex``): counting the Han characters of a Chinese prompt calls RE2 once per
character, replacing the separators of a prompt once per separator run. Where the pattern is a single
character class the same answer comes from the bytes: decode the code points with NumPy, ask RE2
(through Arrow) about each *distinct* code point once, and reduce per row. Results are identical to the
regex because the class is decided by RE2 itself; only the per-match calls are gone.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

__all__ = ["ASCII_SPACE", "ASCII_WORD", "one_array", "bytes_at", "string_layout", "compact_layout", "ascii_table",
           "string_array", "codepoint_table", "decode", "byte_class", "class_run", "above_bmp_class", "class_counts", "row_of"]

ASCII_WORD = np.zeros(256, dtype=np.bool_)  # per byte, whether it is a word character of RE2's \b: [0-9A-Za-z_]
for _lo, _hi in (b"09", b"AZ", b"az", b"__"):
    ASCII_WORD[_lo:_hi + 1] = True
ASCII_SPACE = np.zeros(256, dtype=np.bool_)  # per byte, whether it is in RE2's \s: [\t\n\f\r ]
ASCII_SPACE[[0x09, 0x0A, 0x0C, 0x0D, 0x20]] = True


def one_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`arr` as one array: a chunked array's only chunk as it is (``combine_chunks`` would copy it)."""
    if isinstance(arr, pa.ChunkedArray):
        return arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return arr


def string_layout(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets as int64, len+1 of them) of a string or large_string array (zero copy)."""
    arr = one_array(arr)
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    bufs = arr.buffers()
    if bufs[1] is None:  # an empty array may come without buffers
        return np.zeros(0, np.uint8), np.zeros(len(arr) + 1, np.int64)
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


def string_array(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """The string array of UTF-8 `data` cut at int64 `offsets` (the inverse of `string_layout`), large only
    when the bytes pass 2 GiB; `valid`: which values are not null (None: all)."""
    wide = offsets[-1] >= 2**31
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.large_string() if wide else pa.string(), len(offsets) - 1,
                                 [bitmap, pa.py_buffer(offsets if wide else offsets.astype(np.int32)),
                                  pa.py_buffer(data)])


def compact_layout(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`string_layout` cut to the array's own strings: the bytes from its first string to its last, and
    offsets from 0 (an array sliced out of a larger one shares the larger one's buffer)."""
    data, off = string_layout(arr)
    return data[off[0]:off[-1]], off - off[0]


@functools.lru_cache(maxsize=None)
def ascii_table(pattern: str) -> np.ndarray:
    """bool[256] by byte value: whether the ASCII character matches the single-character RE2 class
    `pattern` (False for every byte >= 0x80, which is never a whole character in UTF-8)."""
    table = np.zeros(256, dtype=bool)
    table[:128] = pc.match_substring_regex(pa.array([chr(i) for i in range(128)]), pattern).to_numpy(
        zero_copy_only=False)
    table.flags.writeable = False
    return table


def decode(data: np.ndarray, lead: int = 0xC0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(byte position, code point, length in bytes) of every non-ASCII character of valid UTF-8 `data`
    (with `lead` 0xF0: of every 4-byte character only)."""
    pos = np.flatnonzero(data >= lead)
    if not len(pos):
        return pos, np.zeros(0, np.int32), np.zeros(0, np.int64)
    last = len(data) - 1
    b0 = data[pos].astype(np.int32)
    b1, b2, b3 = ((data[np.minimum(pos + k, last)] & 0x3F).astype(np.int32) for k in (1, 2, 3))
    cp = np.where(b0 < 0xE0, ((b0 & 0x1F) << 6) | b1,
                  np.where(b0 < 0xF0, ((b0 & 0x0F) << 12) | (b1 << 6) | b2,
                           ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3))
    return pos, cp, 2 + (b0 >= 0xE0) + (b0 >= 0xF0)


def _classify(uniq: np.ndarray, pattern: str) -> np.ndarray:
    chars = pa.array(uniq.astype("<u4").view("<U1"), pa.string())  # code point 0 reads as '', fixed below
    hit = pc.match_substring_regex(chars, pattern).to_numpy(zero_copy_only=False).astype(bool)
    if uniq[0] == 0:
        hit[0] = ascii_table(pattern)[0]
    return hit


@functools.lru_cache(maxsize=None)
def codepoint_table(pattern: str) -> np.ndarray:
    """bool[0x10000] by code point of the Basic Multilingual Plane: whether the character matches the
    single-character RE2 class `pattern` (RE2 asked once for each, some 20 ms; surrogates are False)."""
    cps = np.concatenate([np.arange(1, 0xD800), np.arange(0xE000, 0x10000)]).astype("<u4")
    table = np.zeros(0x10000, dtype=bool)
    table[cps] = pc.match_substring_regex(pa.array(cps.view("<U1"), pa.string()), pattern).to_numpy(
        zero_copy_only=False)
    table[0] = ascii_table(pattern)[0]
    table.flags.writeable = False
    return table


@njit(inline="always", cache=True)
def bytes_at(data, i, end, word):
    """Whether the bytes from ``data[i]`` on, before `end`, begin with the bytes `word` (compiled code)."""
    if i + len(word) > end:
        return False
    for k in range(len(word)):
        if data[i + k] != word[k]:
            return False
    return True


def byte_class(data: np.ndarray, pattern: str) -> np.ndarray:
    """bool per byte of valid UTF-8 `data`: whether the character the byte belongs to matches `pattern`.

    One compiled pass (`class_run`) looks characters up in `codepoint_table`; the few above the BMP
    (4-byte characters: emoji, rare scripts) are asked of RE2 once per distinct code point
    (`above_bmp_class`)."""
    return _byte_class(data, codepoint_table(pattern), *above_bmp_class(data, pattern))


@njit(inline="always", cache=True)
def class_run(data, lo, hi, table, above, above_hit, out):
    """`out[lo:hi]` from the characters of data[lo:hi], each decoded and looked up in `table` (by code
    point); its bytes get the answer. Characters beyond the table (above the BMP) take `above_hit` where
    their code point is in the sorted array `above`, else False; one cut off at `hi` (never in valid
    UTF-8) leaves its bytes and the rest of `out[lo:hi]` as they were."""
    i = lo
    while i < hi:
        b = np.int64(data[i])
        if b < 0x80:
            out[i] = table[b]
            i += 1
            continue
        size = 2 if b < 0xE0 else (3 if b < 0xF0 else 4)
        if i + size > hi:
            break
        cp = b & (0x1F if size == 2 else (0x0F if size == 3 else 0x07))
        for k in range(1, size):
            cp = (cp << 6) | (np.int64(data[i + k]) & 0x3F)
        if cp < len(table):
            hit = table[cp]
        else:
            at = np.searchsorted(above, cp)
            hit = at < len(above) and above[at] == cp and above_hit[at]
        for k in range(size):
            out[i + k] = hit
        i += size


@njit(nogil=True, cache=True)
def _byte_class(data, table, above, above_hit):
    """`class_run` over the whole of `data`."""
    out = np.zeros(len(data), dtype=np.bool_)
    class_run(data, 0, len(data), table, above, above_hit, out)
    return out


def above_bmp_class(data: np.ndarray, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct code points above the BMP in valid UTF-8 `data`, sorted; whether each matches the
    single-character RE2 class `pattern`): the answers `class_run` takes beyond `codepoint_table`."""
    _, cp, _ = decode(data, lead=0xF0)
    above = np.unique(cp).astype(np.int64)
    return above, (_classify(above, pattern) if len(above) else np.zeros(0, dtype=bool))


def class_counts(data: np.ndarray, offsets: np.ndarray, patterns) -> np.ndarray:
    """Characters matching each single-character RE2 class of `patterns` in each row of UTF-8 `data`
    (rows by `offsets` into `data`), patterns x rows: the number of matches of each class's regex."""
    n = len(offsets) - 1
    pos, cp, _ = decode(data)
    pos_row = row_of(pos, offsets)
    uniq, inv = np.unique(cp, return_inverse=True)
    out = np.zeros((len(patterns), n), dtype=np.int64)
    for i, pattern in enumerate(patterns):
        table = ascii_table(pattern)
        if table.any():
            out[i] += np.bincount(row_of(np.flatnonzero(table[data]), offsets), minlength=n)
        if len(uniq):
            out[i] += np.bincount(pos_row[_classify(uniq, pattern)[inv]], minlength=n)
    return out


def row_of(positions: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The row holding each of the sorted byte `positions`, by `bounds`: the rows' offsets (non-decreasing,
    rows + 1 of them)."""
    cuts = np.searchsorted(positions, bounds, side="left")
    return np.repeat(np.arange(len(bounds) - 1), np.diff(cuts))
