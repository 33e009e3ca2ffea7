"""torch's CPU `randperm`, reproduced exactly for many seeds at once.

For n < 2**32 / 20, `torch.randperm(n, generator=g)` on the CPU is a forward Fisher–Yates shuffle:

    r = [0, 1, ..., n-1]
    for i in 0 .. n-2:  z = g.random() % (n - i);  swap(r[i], r[i + z])

with `g.random()` the generator's 32-bit MT19937 stream. Write w_i = i + z_i for the position that
step i swaps into slot i. Slot i is final after step i, so the first k entries of the permutation
depend only on the first k draws. The draws and targets are compiled (`step_targets`, run by
`fisher_yates_targets` in parallel over seeds); both functions here then avoid the sequential loop:

* `randperm_prefix` materialises the first k entries (or the whole permutation): the value that
  step i brings into slot i is whatever was last written to position w_i, which a stable sort of
  the targets and pointer jumping resolve.
* `prefix_mask` gives the same set as a boolean mask, sorting only repeated targets and targets
  below k.

Membership of single tokens, the detection hot path, is in `._membership`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import float64, njit, prange, uint32, uint64

from ._mt19937 import PARALLEL_KERNEL_LOCK, STATE_WORDS, seed_low32, seeded_state, temper, twist

__all__ = [
    "RANDPERM_SMALL_N_LIMIT",
    "check_n",
    "reciprocals",
    "step_targets",
    "divisibility_magic",
    "count_steps_into",
    "fisher_yates_targets",
    "randperm_prefix",
    "prefix_mask",
]

RANDPERM_SMALL_N_LIMIT = (2**32 - 1) // 20  # torch switches to a 64-bit inside-out shuffle above this
# x * (1 / d) in float64 is within 2**32 * 2**-52 = 2**-20 of x / d for 32-bit x; while d <= 2**19 that
# is less than the gap 1 / d between x / d and the next integer, so truncation is off by at most one
FLOAT_REMAINDER_MAX_N = 2**19


def check_n(n: int) -> None:
    if not 1 <= n < RANDPERM_SMALL_N_LIMIT:
        raise ValueError(f"n must be in [1, {RANDPERM_SMALL_N_LIMIT}), got {n}")


@lru_cache(maxsize=16)
def reciprocals(n: int, steps: int) -> np.ndarray:
    """1 / (n - i) for the shuffle steps i < steps, the table `step_targets` divides with (cached and
    read-only: every decoding step and every detection of one vocabulary asks for the same table)."""
    return _read_only(1.0 / (n - np.arange(steps, dtype=np.float64)))


@njit(inline="always", cache=True)
def _remainder(x, d, inv_d, by_float):
    """x % d; by_float (n <= FLOAT_REMAINDER_MAX_N): through the reciprocal, SIMD-friendly."""
    if by_float:
        q = uint32(float64(x) * inv_d)  # the quotient, or one less when d divides x
        z = uint32(x - uint32(q * d))
        return uint32(z - d) if z >= d else z
    return uint32(x % d)


@njit(cache=True)
def step_targets(mt, w, b0, r, n, inv):
    """w[j] = i + (temper(mt[j]) % (n - i)) for the steps i = b0 + j, j < r, after a `twist`."""
    by_float = n <= FLOAT_REMAINDER_MAX_N
    inv_block = inv[b0 : b0 + r]
    for j in range(r):
        i = uint32(b0) + uint32(j)
        w[j] = uint32(_remainder(temper(mt[j]), uint32(uint32(n) - i), inv_block[j], by_float) + i)


@lru_cache(maxsize=16)
def divisibility_magic(n: int, steps: int) -> np.ndarray:
    """M_i = floor((2**64 - 1) / (n - i)) + 1 for the shuffle steps i < steps (see `count_steps_into`;
    cached and read-only, like `reciprocals`)."""
    d = n - np.arange(steps, dtype=np.uint64)
    return _read_only(np.uint64(0xFFFFFFFFFFFFFFFF) // d + np.uint64(1))


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@njit(inline="always", cache=True)
def count_steps_into(mt, b0, start, r, n, p, magic):
    """How many steps i = b0 + j, start <= j < r, move position p into slot i (w_i == p), after a
    `twist`; only for p >= b0 + r (every counted step comes before p).

    w_i == p iff x_i % d == p - i with d = n - i, iff d divides x_i + (n - p) (that adds d - (p - i),
    a constant). Divisibility is Lemire's test, y * M mod 2**64 < M with M from `divisibility_magic`,
    exact for y < 2**33 and d < 2**31. No remainder is formed, which makes this cheaper than
    `step_targets` plus a comparison.
    """
    shift = uint64(n - p)
    mt_block = mt[start:r]
    magic_block = magic[b0 + start : b0 + r]
    hits = uint64(0)
    for j in range(r - start):
        m = magic_block[j]
        hits += uint64(uint64(uint64(temper(mt_block[j])) + shift) * m < m)
    return hits


@njit(parallel=True, cache=True)
def _targets_kernel(seeds32, n, steps, inv):
    out = np.empty((seeds32.size, steps), dtype=np.uint32)
    for s in prange(seeds32.size):
        mt = seeded_state(seeds32, s)
        for b0 in range(0, steps, STATE_WORDS):
            twist(mt)
            step_targets(mt, out[s, b0:], b0, min(STATE_WORDS, steps - b0), n, inv)
    return out


def fisher_yates_targets(seeds, n: int, steps: int) -> np.ndarray:
    """w[s, i] = i + (random_i % (n - i)) for the first `steps` shuffle steps of each seed; (N, steps)."""
    check_n(n)
    steps = max(0, min(steps, n - 1))
    seeds32 = seed_low32(np.ravel(np.asarray(seeds)))
    with PARALLEL_KERNEL_LOCK:
        return _targets_kernel(seeds32, int(n), steps, reciprocals(int(n), steps))


def randperm_prefix(seeds, n: int, k: int | None = None) -> np.ndarray:
    """The first k entries of `torch.randperm(n, generator=g)` for each seed; (N, k) int64.

    k defaults to n (the whole permutation). Each g is a CPU generator after `g.manual_seed(seed)`.
    """
    check_n(n)
    k = n if k is None else int(k)
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, {n}], got {k}")
    seeds = np.ravel(np.asarray(seeds))
    n_seeds = seeds.size
    if k == 0 or n_seeds == 0:
        return np.zeros((n_seeds, k), dtype=np.int64)
    if n == 1:
        return np.zeros((n_seeds, 1), dtype=np.int64)
    m = min(k, n - 1)  # shuffle steps needed
    n_pos = k if k < n else n  # positions whose value before their own step we may need
    w = fisher_yates_targets(seeds, n, m).astype(np.int64)
    rows = np.arange(n_seeds, dtype=np.int64)[:, None]

    keys = (rows * n + w).ravel()
    order = np.argsort(keys, kind="stable")  # grouped by (seed, target), steps ascending in a group
    sorted_keys = keys[order]

    # pred[s]: the latest earlier step of the same seed with the same target, or -1
    pred = np.full(keys.size, -1, dtype=np.int64)
    same = sorted_keys[1:] == sorted_keys[:-1]
    pred[order[1:][same]] = order[:-1][same]

    # parent[j]: the latest step j' < j that wrote into position j (then the value there before
    # step j is the value step j' moved), else j itself (the position still holds its own value)
    pos = np.arange(n_pos, dtype=np.int64)[None, :]
    qkeys = (rows * n + pos).ravel()
    at = np.searchsorted(sorted_keys, qkeys, side="right") - 1
    found = (at >= 0) & (sorted_keys[np.maximum(at, 0)] == qkeys)
    step = np.where(found, order[np.maximum(at, 0)] % m, -1)
    own = found & (step == np.tile(pos.ravel(), n_seeds))  # step j targeting itself (z_j == 0)
    at = np.where(own, at - 1, at)
    found &= (at >= 0) & (sorted_keys[np.maximum(at, 0)] == qkeys)
    step = np.where(found, order[np.maximum(at, 0)] % m, -1)
    base = np.repeat(np.arange(n_seeds, dtype=np.int64) * n_pos, n_pos)
    parent = np.where(found, base + step, base + np.tile(pos.ravel(), n_seeds))
    while True:  # pointer jumping: chains strictly decrease, so log2(depth) rounds
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    held = (parent % n_pos).reshape(n_seeds, n_pos)  # value at position j just before step j

    out = np.empty((n_seeds, k), dtype=np.int64)
    p = pred.reshape(n_seeds, m)
    out[:, :m] = np.where(p >= 0, np.take_along_axis(held, np.maximum(p, 0) % m, axis=1), w)
    if k == n:
        out[:, n - 1] = held[:, n - 1]
    return out


def _last_in_groups(keys: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For entries idx with group keys[idx] (idx ascending = step order): each group's key and last entry."""
    order = np.argsort(keys[idx], kind="stable")
    sorted_keys = keys[idx][order]
    last = np.ones(sorted_keys.size, dtype=bool)
    last[:-1] = sorted_keys[1:] != sorted_keys[:-1]
    return sorted_keys[last], idx[order][last]


def prefix_mask(seeds, n: int, k: int) -> np.ndarray:
    """(N, n) bool: which tokens are among the first k entries of `randperm(n)` under each seed.

    Cheaper than `randperm_prefix` when only the set matters (a green list): a target w_i >= k is
    always in the prefix (the token there is picked before anything can move it), and exactly the
    tokens below k that the last shuffle step into each such target moved out are not. Only
    repeated targets and targets below k (a minority) need sorting.
    """
    check_n(n)
    seeds = np.ravel(np.asarray(seeds))
    n_seeds = seeds.size
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, {n}], got {k}")
    mask = np.zeros((n_seeds, n), dtype=bool)
    if k == 0 or n_seeds == 0:
        return mask
    if k >= n - 1:  # all but the last entry of the permutation
        perm = randperm_prefix(seeds, n)
        np.put_along_axis(mask, perm[:, :k], True, axis=1)
        return mask
    w = fisher_yates_targets(seeds, n, k).astype(np.int64).ravel()  # flat over (seed, step)
    row = np.repeat(np.arange(n_seeds, dtype=np.int64), k)
    step = np.tile(np.arange(k, dtype=np.int64), n_seeds)
    flat = mask.ravel()
    target_key = row * n + w
    high = w >= k
    flat[target_key[high]] = True

    # value at position j just before step j: j itself, or what the latest earlier step moved there
    into_low = np.flatnonzero(~high & (w != step))
    pos_key = row * k + w  # positions below k, keyed per seed
    written, writer = _last_in_groups(pos_key, into_low)
    parent = np.arange(n_seeds * k, dtype=np.int64)
    parent[written] = writer
    while True:  # pointer jumping: writers precede the positions they write
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    held = parent % k

    # the last step into each target >= k carried a token below k out of the prefix for good
    counts = np.bincount(target_key[high], minlength=n_seeds * n)
    once = np.flatnonzero(high & (counts[target_key] == 1))
    _, last_of_many = _last_in_groups(target_key, np.flatnonzero(high & (counts[target_key] > 1)))
    movers = np.concatenate([once, last_of_many])
    low = mask[:, :k]
    low[:] = True
    low[row[movers], held[movers]] = False
    return mask
