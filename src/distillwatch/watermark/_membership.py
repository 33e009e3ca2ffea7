"""Is token t among the first k entries of `randperm(n)` under seed s? Exact, for many pairs at once.

This is the detection hot path: a KGW token is green iff it is among the first int(gamma * V)
entries of the permutation its context seeds (see `._randperm` for the shuffle). No permutation is
built. One token is followed: t sits at position p (initially t) until a step i < p picks it
(w_i == p: t is fixed in slot i) or until step p moves it to w_p. It is in the prefix iff it is
fixed at a step before k.

A compiled kernel runs one generator per distinct seed, in parallel over seeds (generators are
seeded 16 at a time, side by side). The k draws come in blocks of 624. While at most two of a
seed's tokens are open, a block costs one vectorized divisibility count per token
(`count_steps_into`: does any step of the block move it?) and usually that is all; otherwise, and
in the rare block that moves a token, the block's targets are formed once and scanned per token.
A seed stops drawing once all its tokens are settled, so the work is at most k draws per distinct
seed.

Compiled code is cached on disk (numba `cache=True`); numba does not notice edits to a helper that
a kernel inlines from another module, so `make test` clears the cache.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint32

from ._mt19937 import PARALLEL_KERNEL_LOCK, STATE_WORDS, seed_low32, seed_states, twist
from ._randperm import check_n, count_steps_into, divisibility_magic, reciprocals, step_targets

__all__ = ["in_prefix"]

_SEEDED_TOGETHER = 16  # generators seeded side by side (SIMD lanes) before each runs alone
_FEW_OPEN = 2  # up to this many open queries, a divisibility count per query beats forming targets


@njit(inline="always", cache=True)
def _count_equal(values, x):
    hits = uint32(0)
    for j in range(values.size):
        hits += uint32(values[j] == x)
    return hits


@njit(inline="always", cache=True)
def _follow(w, b0, b1, p, lo):
    """Follow one token through the steps [b0, b1) of a block: (settled, picked, p, lo) after them."""
    start = max(lo, b0) - b0
    while True:
        stop = min(p, b1) - b0  # steps before p may pick it
        if _count_equal(w[start:stop], uint32(p)):
            return True, True, p, lo
        if p >= b1:
            return False, False, p, lo
        j = p - b0  # step p moves it, unless it swaps with itself (then it is fixed in slot p)
        if w[j] == p:
            return True, True, p, lo
        lo = p + 1
        p = np.int64(w[j])
        start = j + 1


@njit(cache=True)
def _settle(mt, w, pos, out, n, k, inv, magic):
    """Decide one seed's queries (tokens at `pos`) from its seeded state `mt`, into `out`."""
    lo = np.zeros(pos.size, dtype=np.int64)  # steps before lo cannot pick it (it arrived later)
    open_ = np.ones(pos.size, dtype=np.bool_)
    left = pos.size
    b0 = 0
    while b0 < k and left > 0:
        r = min(STATE_WORDS, k - b0)
        twist(mt)
        if left <= _FEW_OPEN:  # a block that moves none of them needs no targets
            quiet = True
            for q in range(pos.size):
                if not open_[q]:
                    continue
                if pos[q] < b0 + r or count_steps_into(mt, b0, max(lo[q], b0) - b0, r, n, pos[q], magic):
                    quiet = False
                    break
            if quiet:
                b0 += r
                continue
        step_targets(mt, w, b0, r, n, inv)
        for q in range(pos.size):
            if open_[q]:
                settled, picked, p, low = _follow(w, b0, b0 + r, pos[q], lo[q])
                pos[q], lo[q] = p, low
                if settled:
                    out[q] = picked
                    open_[q] = False
                    left -= 1
        b0 += r


@njit(parallel=True, cache=True)
def _in_prefix_kernel(seeds32, query_start, tokens, n, k, inv, magic):
    out = np.zeros(tokens.size, dtype=np.bool_)
    n_groups = -(-seeds32.size // _SEEDED_TOGETHER)
    for g in prange(n_groups):
        s0 = g * _SEEDED_TOGETHER
        s1 = min(s0 + _SEEDED_TOGETHER, seeds32.size)
        states = np.empty((STATE_WORDS, s1 - s0), dtype=np.uint32)
        seed_states(states, seeds32[s0:s1])
        mt = np.empty(STATE_WORDS, dtype=np.uint32)
        w = np.empty(STATE_WORDS, dtype=np.uint32)
        for s in range(s0, s1):
            mt[:] = states[:, s - s0]
            a, b = query_start[s], query_start[s + 1]
            _settle(mt, w, tokens[a:b].copy(), out[a:b], n, k, inv, magic)
    return out


def in_prefix(seeds, tokens, n: int, k: int) -> np.ndarray:
    """For each pair, whether `tokens[j]` is among the first k entries of `randperm(n)` under `seeds[j]`.

    Exact (bit-identical to torch's CPU randperm); at most k MT19937 draws per distinct seed, in
    parallel over seeds on all cores.
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

    uniq, seed_idx, per_seed = np.unique(seed_low32(seeds), return_inverse=True, return_counts=True)
    order = np.argsort(seed_idx, kind="stable")
    query_start = np.zeros(uniq.size + 1, dtype=np.int64)
    np.cumsum(per_seed, out=query_start[1:])
    n, k = int(n), int(k)
    with PARALLEL_KERNEL_LOCK:
        grouped = _in_prefix_kernel(uniq, query_start, tokens[order], n, k, reciprocals(n, k), divisibility_magic(n, k))
    out = np.empty(tokens.size, dtype=bool)
    out[order] = grouped
    return out
