"""Vectorized 64-bit hashing of strings, word sequences and SimHash sketches, in NumPy.

Everything works on flat arrays plus row offsets (the Arrow list layout), so a batch of requests is
hashed with a fixed number of NumPy calls and no loop per request. Hashes are fully specified here
(polynomial over UTF-8 bytes, splitmix64 finalizer), so they are identical on every machine and
engine: the DuckDB path and a Spark `mapInArrow` job produce the same values for the same text.

SimHash (Charikar 2002): each row's set of shingle hashes votes bit by bit; the sketch's bit is 1 where
the majority of its shingles have a 1. Texts sharing most shingles get sketches at a small Hamming
distance; identical shingle multisets get identical sketches.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ._utf8 import string_layout as _string_layout

__all__ = ["splitmix64", "hash_strings", "sequence_hash", "shingle_hashes", "simhash", "hamming"]

_U = np.uint64
_P = _U(0x100000001B3)  # FNV-1 64-bit prime: the polynomial base over bytes
_Q = _U(0x9E3779B97F4A7C15)  # base over word hashes in a sequence
_CHUNK = 1 << 22  # bytes (or shingles) processed per NumPy pass, to bound temporary memory


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=_U) + _U(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U(30))) * _U(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U(27))) * _U(0x94D049BB133111EB)
        return z ^ (z >> _U(31))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        out = np.empty(max(n, 1), dtype=_U)
        out[0] = 1
        if n > 1:
            out[1:] = np.cumprod(np.full(n - 1, base, dtype=_U), dtype=_U)
    return out


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A uint64 hash of each string (UTF-8 bytes); nulls hash to 0."""
    data, off = _string_layout(arr)
    n = len(off) - 1
    out = np.zeros(n, dtype=_U)
    lens = np.diff(off)
    pow_table = _powers(_P, int(lens.max()) if n else 0)
    start = 0
    while start < n:  # chunks of whole strings, each about _CHUNK bytes
        stop = int(np.searchsorted(off, off[start] + _CHUNK, side="right"))
        stop = min(max(stop - 1, start + 1), n)
        lo, hi = off[start], off[stop]
        seg_lens = lens[start:stop]
        nz = seg_lens > 0
        if hi > lo:
            idx = np.repeat(np.arange(start, stop), seg_lens)
            from_end = off[idx + 1] - 1 - np.arange(lo, hi)
            with np.errstate(over="ignore"):
                terms = (data[lo:hi].astype(_U) + _U(1)) * pow_table[from_end]
                sums = np.add.reduceat(terms, off[start:stop][nz] - lo, dtype=_U)
            out[start:stop][nz] = sums
        with np.errstate(over="ignore"):
            out[start:stop] = splitmix64(out[start:stop] ^ (seg_lens.astype(_U) * _Q))
        start = stop
    if arr.null_count:
        out[np.asarray(arr.is_null().to_numpy(zero_copy_only=False))] = 0
    return out


def sequence_hash(values: np.ndarray, offsets: np.ndarray, *, first: int | None = None,
                  last: int | None = None) -> np.ndarray:
    """Order-sensitive hash of each row's run of uint64 `values` (rows given by `offsets`).

    With `first=k` only each row's first k values count, with `last=k` only its last k. Empty rows hash
    to 0.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    counts = np.diff(offsets)
    row = np.repeat(np.arange(n), counts)
    pos = np.arange(len(values), dtype=np.int64)
    start, end = offsets[:-1][row], offsets[1:][row]
    if first is not None:
        keep = pos - start < first
        rank = pos - start
    elif last is not None:
        keep = end - pos <= last
        rank = pos - np.maximum(start, end - last)
    else:
        keep = np.ones(len(values), dtype=bool)
        rank = pos - start
    out = np.zeros(n, dtype=_U)
    if keep.any():
        pw = _powers(_Q, int(rank[keep].max()) + 1)
        with np.errstate(over="ignore"):
            terms = values[keep].astype(_U) * pw[rank[keep]]
        kept_counts = np.bincount(row[keep], minlength=n)
        has = kept_counts > 0
        starts = np.concatenate([[0], np.cumsum(kept_counts)[:-1]])[has]
        with np.errstate(over="ignore"):
            out[has] = splitmix64(np.add.reduceat(terms, starts, dtype=_U) ^ kept_counts[has].astype(_U))
    return out


def shingle_hashes(values: np.ndarray, offsets: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of each row's contiguous k-grams of `values`, and the row of each shingle.

    A row with fewer than k values yields one shingle of all of them; an empty row yields none.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n_vals = len(values)
    counts = np.diff(offsets)
    row = np.repeat(np.arange(len(offsets) - 1), counts)
    left = np.repeat(offsets[1:], counts) - np.arange(n_vals, dtype=np.int64)  # values from here to the row's end
    padded = np.concatenate([values.astype(_U), np.zeros(k, dtype=_U)])
    acc = np.zeros(n_vals, dtype=_U)
    with np.errstate(over="ignore"):
        for j in range(k):  # k passes over the flat array, not a loop over rows
            acc = acc * _Q + np.where(left > j, padded[j:j + n_vals], _U(0))
    keep = (left >= k) | (left == np.repeat(counts, counts))  # whole k-grams, or a short row's first value
    return splitmix64(acc[keep]), row[keep]


def simhash(shingles: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """64-bit SimHash per row from its shingle hashes (`rows` must be non-decreasing); 0 for no shingles.

    Rows of at most 255 shingles (nearly all) count their votes eight bits at a time in the bytes of a
    uint64 (``(h >> k) & 0x0101...01`` summed per row: byte i counts bit 8i + k); longer rows unpack
    their bits (`_simhash_unpacked`)."""
    out = np.zeros(n_rows, dtype=_U)
    if not len(shingles):
        return out
    counts = np.bincount(rows, minlength=n_rows)
    small = (counts > 0) & (counts <= 255)  # byte-wide vote counters cannot overflow
    big = counts > 255
    if big.any():
        in_big = big[rows]
        out[big] = _simhash_unpacked(shingles[in_big], np.cumsum(big)[rows[in_big]] - 1, int(big.sum()))
    if small.any():
        in_small = small[rows] if big.any() else slice(None)
        sh = shingles[in_small].astype(_U)
        n_small = counts[small]
        starts = np.concatenate([[0], np.cumsum(n_small)[:-1]])
        votes = np.empty((len(n_small), 8, 8), dtype=np.uint8)  # [row, byte i, shift k]: bit 8i + k
        for k in range(8):
            votes[:, :, k] = np.add.reduceat((sh >> _U(k)) & _U(0x0101010101010101), starts, dtype=_U) \
                .astype("<u8").view(np.uint8).reshape(-1, 8)
        major = (2 * votes.reshape(-1, 64).astype(np.uint16) > n_small[:, None]).astype(np.uint8)
        out[small] = np.packbits(major, axis=1, bitorder="little").view("<u8").ravel()
    return out


def _simhash_unpacked(shingles: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """`simhash` for any row length: each shingle's 64 bits unpacked to bytes and summed per row."""
    out = np.zeros(n_rows, dtype=_U)
    if not len(shingles):
        return out
    counts = np.bincount(rows, minlength=n_rows)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    r0 = 0
    while r0 < n_rows:  # chunks of whole rows, each about _CHUNK / 16 shingles (a 64-byte row per shingle)
        r1 = int(np.searchsorted(bounds, bounds[r0] + _CHUNK // 16, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n_rows)
        lo, hi = bounds[r0], bounds[r1]
        has = counts[r0:r1] > 0
        wide = counts[r0:r1].max() >= 1 << 16  # uint16 vote counts are faster when they cannot overflow
        if hi > lo:
            bits = np.unpackbits(shingles[lo:hi].astype("<u8").view(np.uint8).reshape(-1, 8), axis=1,
                                 bitorder="little")
            votes = np.add.reduceat(bits, bounds[r0:r1][has] - lo, axis=0, dtype=np.int32 if wide else np.uint16)
            major = (2 * votes > counts[r0:r1][has][:, None]).astype(np.uint8)
            out[r0:r1][has] = np.packbits(major, axis=1, bitorder="little").view("<u8").ravel()
        r0 = r1
    return out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between 64-bit sketches (uint64 or int64 views of the same bits)."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a).view(_U), np.asarray(b).view(_U))).astype(np.int64)
