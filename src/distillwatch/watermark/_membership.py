"""Is token t among the first k entries of `randperm(n)` under seed s? Exact, for many pairs at once.

This is the detection hot path: a KGW token is green iff it is among the first int(gamma * V)
entries of the permutation its context seeds (see `._randperm` for the shuffle). No permutation is
built. One token is followed: t sits at position p (initially t) until a step i < p picks it
(w_i == p: t is fixed in slot i) or until step p moves it to w_p. It is in the prefix iff it is
fixed at a step before k. The k draws of each distinct seed are streamed in blocks of 624 and each
block costs one comparison per query layer, so the work is about k draws per distinct seed; queries
whose fate is settled drop out, and generators with no query left stop drawing.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._mt19937 import MT19937Batch, initial_state
from ._randperm import BLOCK, check_n, step_columns

__all__ = ["in_prefix"]

_SEED_BATCH = 16384  # generators seeded together (the seeding recurrence is 624 sequential steps)


class _HitFinder:
    """Which active queries see their token's current position among this block's targets.

    Queries are grouped by generator column (col is sorted); layer j holds each column's j-th
    query. A layer that covers many columns costs one whole-block comparison against a per-column
    target; a sparse one gathers its columns first. When many columns carry many queries each (a
    frequent previous token under lefthash), a bitmap over (column, position) is cheaper: it is
    filled with the queries' positions, looked up once per draw and cleared again.
    """

    _NONE = np.uint32(0xFFFFFFFF)  # never a target (targets are < n < 2**32 / 20)
    # relative costs per block row, measured: compare a column, gather+compare one, bitmap lookup
    _DENSE, _SPARSE, _BITMAP = 0.45, 2.1, 8.0

    def __init__(self, n: int) -> None:
        self.n = n
        self.bits: np.ndarray | None = None

    def __call__(self, w: np.ndarray, col: np.ndarray, pos: np.ndarray) -> np.ndarray:
        n_cols = w.shape[1]
        if col.size == 0:
            return np.zeros(0, dtype=np.int64)
        first = np.r_[True, col[1:] != col[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(col.size), 0))
        rank = np.arange(col.size) - group_start
        per_layer = np.bincount(rank)
        layer_cost = np.minimum(n_cols * self._DENSE, per_layer * self._SPARSE)
        if layer_cost.sum() > n_cols * self._BITMAP:
            return self._bitmap_hits(w, col, pos)
        hits = []
        for j, m in enumerate(per_layer.tolist()):
            in_layer = np.flatnonzero(rank == j)
            if m * self._SPARSE < n_cols * self._DENSE:
                seen = (w[:, col[in_layer]] == pos[in_layer]).any(axis=0)
                hits.append(in_layer[seen])
                continue
            target = np.full(n_cols, self._NONE, dtype=np.uint32)
            target[col[in_layer]] = pos[in_layer]
            hit_cols = np.flatnonzero((w == target).any(axis=0))
            hits.append(in_layer[np.searchsorted(col[in_layer], hit_cols)])
        return np.concatenate(hits)

    def _bitmap_hits(self, w: np.ndarray, col: np.ndarray, pos: np.ndarray) -> np.ndarray:
        n_cols = w.shape[1]
        keys = col.astype(np.int64) * self.n + pos
        size = (n_cols * self.n + 7) // 8
        if self.bits is None or self.bits.size < size:
            self.bits = np.zeros(size, dtype=np.uint8)
        np.bitwise_or.at(self.bits, keys >> 3, (1 << (keys & 7)).astype(np.uint8))
        flat = w.astype(np.int64)
        flat += (np.arange(n_cols, dtype=np.int64) * self.n)[None, :]
        found = np.take(self.bits, flat >> 3)
        found >>= (flat & 7).astype(np.uint8)
        found &= np.uint8(1)
        self.bits[keys >> 3] = 0
        return np.flatnonzero(np.isin(keys, flat[found.view(bool)]))


def _in_prefix_chunk(state: np.ndarray, col: np.ndarray, tokens: np.ndarray, n: int, k: int) -> np.ndarray:
    gen = MT19937Batch(state=state)
    d, i_col = step_columns(n, k)
    n_q = tokens.size
    result = np.zeros(n_q, dtype=bool)
    qid = np.arange(n_q)
    pos = tokens.astype(np.uint32)  # where each query's token sits now
    lo = np.zeros(n_q, dtype=np.int64)  # steps before lo cannot pick it (it arrived later)
    col = col.copy()
    find_hits = _HitFinder(n)
    for b0 in range(0, k, BLOCK):
        r = min(BLOCK, k - b0)
        w = gen.next_block()[:r]
        np.remainder(w, d[b0 : b0 + r], out=w)
        w += i_col[b0 : b0 + r]
        candidates = np.union1d(find_hits(w, col, pos), np.flatnonzero(pos < b0 + r))
        done = np.zeros(qid.size, dtype=bool)
        steps = np.arange(b0, b0 + r)[:, None]
        while candidates.size:
            sub = w[:, col[candidates]]
            p = pos[candidates]
            hit = (sub == p) & (steps >= lo[candidates])
            first_hit = np.where(hit.any(axis=0), hit.argmax(axis=0), r)
            move_row = np.where(p < b0 + r, p.astype(np.int64) - b0, r)
            picked = (first_hit < r) & (first_hit <= move_row)  # fixed in a slot < k
            result[qid[candidates[picked]]] = True
            done[candidates[picked]] = True
            moving = ~picked & (move_row < r)
            mover = candidates[moving]
            lo[mover] = pos[mover].astype(np.int64) + 1
            pos[mover] = sub[move_row[moving], np.flatnonzero(moving)]
            candidates = mover
        if done.any():
            keep = ~done
            qid, pos, lo, col = qid[keep], pos[keep], lo[keep], col[keep]
            if qid.size == 0:
                break
            live = col[np.r_[True, col[1:] != col[:-1]]]  # col stays sorted
            if live.size < 0.75 * gen.size:
                gen.keep(live)
                col = np.searchsorted(live, col)
    return result


def in_prefix(
    seeds,
    tokens,
    n: int,
    k: int,
    *,
    chunk_size: int = 256,
    workers: int | None = None,
) -> np.ndarray:
    """For each pair, whether `tokens[j]` is among the first k entries of `randperm(n)` under `seeds[j]`.

    Exact (bit-identical to torch's CPU randperm); vectorized over pairs, about k MT19937 draws per
    distinct seed. Distinct seeds are processed in chunks of `chunk_size` on up to `workers`
    threads (NumPy releases the GIL); `workers=1` keeps everything on the calling thread.
    """
    check_n(n)
    seeds = np.ravel(np.asarray(seeds))
    tokens = np.ravel(np.asarray(tokens, dtype=np.int64))
    if seeds.shape != tokens.shape:
        raise ValueError("seeds and tokens must have the same length")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= n):
        raise ValueError(f"token ids must be in [0, {n})")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, {n}], got {k}")
    if k == n:
        return np.ones(tokens.size, dtype=bool)
    if k == 0 or tokens.size == 0:
        return np.zeros(tokens.size, dtype=bool)

    uniq, seed_idx = np.unique(seeds, return_inverse=True)
    # seeds with similar numbers of queries share a chunk (see _HitFinder)
    by_count = np.argsort(np.bincount(seed_idx, minlength=uniq.size), kind="stable")
    uniq = uniq[by_count]
    seed_idx = np.argsort(by_count)[seed_idx]
    order = np.argsort(seed_idx, kind="stable")
    sorted_seed_idx = seed_idx[order]
    if workers is None:  # threads pay off only for enough work (NumPy releases the GIL per operation)
        workers = min(os.cpu_count() or 1, 8) if uniq.size * k >= 2**23 else 1
    chunk_size = max(1, min(chunk_size, -(-uniq.size // workers)))
    out = np.empty(tokens.size, dtype=bool)
    # seeding is 624 sequential steps: do it for many seeds per step, then run cache-sized chunks
    for s0 in range(0, uniq.size, _SEED_BATCH):
        s1 = min(s0 + _SEED_BATCH, uniq.size)
        state = initial_state(uniq[s0:s1])
        starts = np.arange(s0, s1, chunk_size)
        q_bounds = np.searchsorted(sorted_seed_idx, np.append(starts, s1))
        tasks = [
            (state[:, c0 - s0 : min(c0 + chunk_size, s1) - s0], sorted_seed_idx[a:b] - c0, tokens[order[a:b]], n, k)
            for c0, a, b in zip(starts, q_bounds[:-1], q_bounds[1:])
        ]
        if workers == 1 or len(tasks) == 1:
            parts = [_in_prefix_chunk(*t) for t in tasks]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(lambda t: _in_prefix_chunk(*t), tasks))
        for part, a, b in zip(parts, q_bounds[:-1], q_bounds[1:]):
            out[order[a:b]] = part
    return out
