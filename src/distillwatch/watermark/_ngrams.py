"""Contiguous n-grams of many token sequences at once, and exact de-duplication of rows."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["as_sequences", "ngrams", "first_occurrences", "row_ids"]


def as_sequences(token_ids) -> list[np.ndarray]:
    """One int64 array per sequence, from one sequence (a flat list/array) or a list of them."""
    if isinstance(token_ids, np.ndarray) and token_ids.ndim == 1:
        return [token_ids.astype(np.int64, copy=False)]
    if hasattr(token_ids, "detach"):  # a torch tensor
        token_ids = token_ids.detach().cpu().numpy()
        return as_sequences(token_ids) if token_ids.ndim == 1 else [np.asarray(r, dtype=np.int64) for r in token_ids]
    seqs = list(token_ids)
    if not seqs or np.isscalar(seqs[0]) or (isinstance(seqs[0], np.ndarray) and seqs[0].ndim == 0):
        return [np.asarray(seqs, dtype=np.int64)]
    return [np.asarray(s, dtype=np.int64).ravel() for s in seqs]


def ngrams(sequences: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All contiguous n-grams that lie inside one sequence.

    Returns (grams (M, n) int64, sequence index (M,), position of the n-gram's last token (M,)).
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    if n < 1:
        raise ValueError("n must be >= 1")
    flat = np.concatenate(sequences) if len(sequences) else np.zeros(0, dtype=np.int64)
    if flat.size < n:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros((0, n), dtype=np.int64), empty, empty
    windows = np.lib.stride_tricks.sliding_window_view(flat.astype(np.int64, copy=False), n)
    seq_of = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    offset = np.arange(flat.size, dtype=np.int64) - starts[seq_of]
    start_ok = np.flatnonzero(offset[: windows.shape[0]] <= lengths[seq_of[: windows.shape[0]]] - n)
    return np.ascontiguousarray(windows[start_ok]), seq_of[start_ok], offset[start_ok] + n - 1


def _lexsort_rows(rows: np.ndarray) -> np.ndarray:
    """A stable order of the rows, lexicographic over the columns. Small non-negative values (token ids,
    sequence indices) are first packed several to a uint64 key, most significant column first, so
    the sort has fewer keys."""
    if rows.shape[1] == 0:
        return np.arange(rows.shape[0])
    if rows.size and rows.dtype.kind in "iu" and rows.min() >= 0:
        bits = max(1, int(rows.max()).bit_length())
        per_key = 64 // bits
        if per_key > 1:
            keys = []
            for c0 in range(0, rows.shape[1], per_key):
                key = np.zeros(rows.shape[0], dtype=np.uint64)
                for c in range(c0, min(c0 + per_key, rows.shape[1])):
                    key = (key << np.uint64(bits)) | rows[:, c].astype(np.uint64)
                keys.append(key)
            return np.argsort(keys[0], kind="stable") if len(keys) == 1 else np.lexsort(keys[::-1])
    return np.lexsort(rows.T[::-1])


def first_occurrences(rows: np.ndarray) -> np.ndarray:
    """Boolean mask: True at the first occurrence (in row order) of each distinct row."""
    rows = np.asarray(rows)
    mask = np.zeros(rows.shape[0], dtype=bool)
    if rows.shape[0] == 0:
        return mask
    order = _lexsort_rows(rows)  # stable: equal rows stay in row order
    s = rows[order]
    new = np.ones(rows.shape[0], dtype=bool)
    new[1:] = np.any(s[1:] != s[:-1], axis=1)
    mask[order[new]] = True
    return mask


def row_ids(*blocks: np.ndarray) -> list[np.ndarray]:
    """Dense ids for rows, consistent across the given (M_i, w) blocks: equal rows get equal ids."""
    sizes = [b.shape[0] for b in blocks]
    allrows = np.concatenate(blocks, axis=0) if blocks else np.zeros((0, 0), dtype=np.int64)
    ids = np.zeros(allrows.shape[0], dtype=np.int64)
    if allrows.shape[0]:
        order = _lexsort_rows(allrows)
        s = allrows[order]
        new = np.ones(allrows.shape[0], dtype=bool)
        new[1:] = np.any(s[1:] != s[:-1], axis=1)
        ids[order] = np.cumsum(new) - 1
    return np.split(ids, np.cumsum(sizes)[:-1])
