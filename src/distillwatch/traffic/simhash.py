"""64-bit hashing of strings, word sequences and SimHash sketches, compiled (numba, no GIL).

Everything works on flat arrays plus row offsets (the Arrow list layout): a batch of requests is hashed
by one compiled call per function, with no Python loop per request. Hashes are fully specified here
(polynomial over UTF-8 bytes, splitmix64 finalizer), so they are identical on every machine and
engine: the DuckDB path and a Spark `mapInArrow` job produce the same values for the same text.

SimHash (Charikar 2002): each row's set of shingle hashes votes bit by bit; the sketch's bit is 1 where
the majority of its shingles have a 1. Texts sharing most shingles get sketches at a small Hamming
distance; identical shingle multisets get identical sketches.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from ._utf8 import string_layout as _string_layout

__all__ = ["splitmix64", "hash_strings", "sequence_hash", "shingle_hashes", "simhash", "hamming",
           "hash_bytes", "hash_extend", "hash_finish", "sequence_hash_of", "shingles_into", "simhash_of"]

_U = np.uint64
_P = np.uint64(0x100000001B3)  # FNV-1 64-bit prime: the polynomial base over bytes
_Q = np.uint64(0x9E3779B97F4A7C15)  # base over word hashes in a sequence (and splitmix64's increment)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_ONES = np.uint64(0x0101010101010101)
_BYTE = np.uint64(0xFF)

# The building blocks are numba functions on one string, row or run, inlined into the array kernels
# below and into `traffic.template`'s, so each hash has one implementation. Every constant is a uint64:
# numba turns uint64 mixed with a Python int into float64.


@njit(inline="always", cache=True)
def _mix(z):
    """The splitmix64 finalizer of one uint64 (wrapping arithmetic)."""
    z = z + _Q
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always", cache=True)
def hash_bytes(data, lo, hi):
    """The hash of the string in bytes ``data[lo:hi]``: the polynomial sum((b + 1) * P**(from end)),
    mixed with the length."""
    return hash_finish(hash_extend(np.uint64(0), data, lo, hi), hi - lo)


@njit(inline="always", cache=True)
def hash_extend(h, data, lo, hi):
    """The polynomial of `hash_bytes` carried on over ``data[lo:hi]`` (a string hashed in pieces)."""
    for i in range(lo, hi):
        h = h * _P + np.uint64(data[i] + 1)
    return h


@njit(inline="always", cache=True)
def hash_finish(h, length):
    """`hash_bytes` of a string of `length` bytes whose polynomial is `h`."""
    return _mix(h ^ (np.uint64(length) * _Q))


@njit(inline="always", cache=True)
def sequence_hash_of(values, lo, hi):
    """Order-sensitive hash of ``values[lo:hi]``: sum(v * Q**rank) mixed with the count; 0 if empty."""
    if hi <= lo:
        return np.uint64(0)
    s = np.uint64(0)
    power = np.uint64(1)
    for i in range(lo, hi):
        s += values[i] * power
        power *= _Q
    return _mix(s ^ np.uint64(hi - lo))


@njit(inline="always", cache=True)
def shingles_into(values, lo, hi, k, out, at):
    """The k-gram hashes of ``values[lo:hi]`` written to ``out[at:]``; returns how many. Fewer than k
    values give one shingle of all of them (Horner over k slots, zeros for the missing ones); none give
    none."""
    n = hi - lo
    if n <= 0:
        return 0
    count = n - k + 1 if n >= k else 1
    for p in range(count):
        acc = np.uint64(0)
        for j in range(k):
            acc = acc * _Q + (values[lo + p + j] if p + j < n else np.uint64(0))
        out[at + p] = _mix(acc)
    return count


@njit(inline="always", cache=True)
def simhash_of(shingles, lo, hi, votes, packed):
    """SimHash of ``shingles[lo:hi]`` (0 when empty): bit b is 1 where more than half the shingles have
    it. Votes are counted 8 bits at a time in the bytes of `packed` (8 uint64: byte i of packed[k]
    counts bit 8i + k), flushed into `votes` (64 int64) every 255 shingles."""
    if hi <= lo:
        return np.uint64(0)
    votes[:] = 0
    packed[:] = 0
    pending = 0
    for i in range(lo, hi):
        h = shingles[i]
        for k in range(8):
            packed[k] += (h >> np.uint64(k)) & _ONES
        pending += 1
        if pending == 255 or i == hi - 1:
            for k in range(8):
                for b in range(8):
                    votes[8 * b + k] += np.int64((packed[k] >> np.uint64(8 * b)) & _BYTE)
                packed[k] = 0
            pending = 0
    n = hi - lo
    out = np.uint64(0)
    for b in range(64):
        if 2 * votes[b] > n:
            out |= np.uint64(1) << np.uint64(b)
    return out


@njit(nogil=True, cache=True)
def _mix_all(x):
    out = np.empty(len(x), dtype=np.uint64)
    for i in range(len(x)):
        out[i] = _mix(x[i])
    return out


@njit(nogil=True, cache=True)
def _hash_all(data, off):
    out = np.empty(len(off) - 1, dtype=np.uint64)
    for r in range(len(off) - 1):
        out[r] = hash_bytes(data, off[r], off[r + 1])
    return out


@njit(nogil=True, cache=True)
def _sequence_all(values, offsets, first, last):
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    for r in range(n):
        lo, hi = offsets[r], offsets[r + 1]
        if first >= 0:
            hi = min(hi, lo + first)
        if last >= 0:
            lo = max(lo, hi - last)
        out[r] = sequence_hash_of(values, lo, hi)
    return out


@njit(nogil=True, cache=True)
def _shingles_all(values, offsets, k):
    n = len(offsets) - 1
    total = 0
    for r in range(n):
        c = offsets[r + 1] - offsets[r]
        total += c - k + 1 if c >= k else (1 if c > 0 else 0)
    out = np.empty(total, dtype=np.uint64)
    rows = np.empty(total, dtype=np.int64)
    at = 0
    for r in range(n):
        c = shingles_into(values, offsets[r], offsets[r + 1], k, out, at)
        rows[at:at + c] = r
        at += c
    return out, rows


@njit(nogil=True, cache=True)
def _simhash_all(shingles, bounds):
    n = len(bounds) - 1
    out = np.empty(n, dtype=np.uint64)
    votes = np.empty(64, dtype=np.int64)
    packed = np.empty(8, dtype=np.uint64)
    for r in range(n):
        out[r] = simhash_of(shingles, bounds[r], bounds[r + 1], votes, packed)
    return out


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64 (wrapping arithmetic)."""
    return _mix_all(np.ascontiguousarray(x, dtype=_U).ravel()).reshape(np.shape(x))


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A uint64 hash of each string (UTF-8 bytes, `hash_bytes`); nulls hash to 0."""
    data, off = _string_layout(arr)
    out = _hash_all(data, off)
    if arr.null_count:
        out[np.asarray(arr.is_null().to_numpy(zero_copy_only=False))] = 0
    return out


def sequence_hash(values: np.ndarray, offsets: np.ndarray, *, first: int | None = None,
                  last: int | None = None) -> np.ndarray:
    """Order-sensitive hash of each row's run of uint64 `values` (rows given by `offsets`).

    With `first=k` only each row's first k values count, with `last=k` only its last k. Empty rows hash
    to 0.
    """
    return _sequence_all(np.ascontiguousarray(values, dtype=_U), np.asarray(offsets, dtype=np.int64),
                         -1 if first is None else int(first), -1 if last is None else int(last))


def shingle_hashes(values: np.ndarray, offsets: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of each row's contiguous k-grams of `values`, and the row of each shingle.

    A row with fewer than k values yields one shingle of all of them; an empty row yields none.
    """
    return _shingles_all(np.ascontiguousarray(values, dtype=_U), np.asarray(offsets, dtype=np.int64), int(k))


def simhash(shingles: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """64-bit SimHash per row from its shingle hashes (`rows` must be non-decreasing); 0 for no shingles."""
    bounds = np.searchsorted(np.asarray(rows, dtype=np.int64), np.arange(n_rows + 1))
    return _simhash_all(np.ascontiguousarray(shingles, dtype=_U), bounds.astype(np.int64))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between 64-bit sketches (uint64 or int64 views of the same bits)."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a).view(_U), np.asarray(b).view(_U))).astype(np.int64)
