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


def _string_layout(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets as int64, len+1 of them) of a string or large_string array."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


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
    row = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    pos = np.arange(n_vals, dtype=np.int64)
    end = offsets[1:][row]
    padded = np.concatenate([values.astype(_U), np.zeros(k, dtype=_U)])
    acc = np.zeros(n_vals, dtype=_U)
    with np.errstate(over="ignore"):
        for j in range(k):  # k passes over the flat array, not a loop over rows
            term = np.where(pos + j < end, padded[pos + j] if n_vals else padded[:0], _U(0))
            acc = acc * _Q + term
    keep = (pos + k <= end) | (pos == offsets[:-1][row])
    return splitmix64(acc[keep]), row[keep]


def simhash(shingles: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """64-bit SimHash per row from its shingle hashes (`rows` must be non-decreasing); 0 for no shingles."""
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
