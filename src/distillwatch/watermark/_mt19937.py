"""MT19937, compiled: the generator behind torch's CPU `Generator`.

`torch.Generator().manual_seed(s)` keeps only the low 32 bits of `s` and seeds a standard MT19937
(`init_genrand`); `Generator.random()` is then the plain tempered 32-bit output stream, the same as
`std::mt19937` and NumPy's legacy `RandomState` seeding.

The building blocks (`seed_states`, `twist`, `temper`) are numba functions on one generator's
624-word state (seeding: several at once), inlined into the kernels that need draws (`._randperm`,
`._membership`); those kernels run one generator per seed, in parallel over seeds. The twist and
the tempering loops compile to SIMD code, so a draw costs well under a nanosecond.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit, prange, uint32

__all__ = ["PARALLEL_KERNEL_LOCK", "STATE_WORDS", "mt19937_outputs", "seed_low32", "seed_states", "seeded_state",
           "temper", "twist"]

STATE_WORDS = 624  # outputs per twist
_M = 397
# numba's default thread pool must not be entered by two Python threads at once: every parallel
# kernel is called under this lock
PARALLEL_KERNEL_LOCK = threading.Lock()


def seed_low32(seeds) -> np.ndarray:
    """The 32 bits of each seed that torch's CPU generator keeps (`manual_seed` of a uint64)."""
    a = np.asarray(seeds)
    if a.dtype == np.uint32:
        return a
    if a.dtype.kind not in "iu":
        raise TypeError(f"seeds must be integers, got {a.dtype}")
    return (a.astype(np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


@njit(inline="always", cache=True)
def seed_states(states, seeds):
    """`init_genrand(seed)` for len(seeds) generators at once; states is (624, len(seeds)), one column
    per generator: states[j] = 1812433253 * (states[j-1] ^ (states[j-1] >> 30)) + j (mod 2**32).

    The recurrence is sequential in j; seeding several generators side by side fills SIMD lanes.
    """
    for c in range(seeds.size):
        states[0, c] = seeds[c]
    for j in range(1, STATE_WORDS):
        for c in range(seeds.size):
            prev = states[j - 1, c]
            states[j, c] = uint32(uint32(1812433253) * uint32(prev ^ (prev >> uint32(30))) + uint32(j))


@njit(inline="always", cache=True)
def seeded_state(seeds, s):
    """The 624-word state of one generator, seeded with seeds[s]."""
    state = np.empty((STATE_WORDS, 1), dtype=np.uint32)
    seed_states(state, seeds[s : s + 1])
    return state[:, 0]


@njit(inline="always", cache=True)
def twist(mt):
    """Regenerate the 624 state words; afterwards `temper(mt[j])` is the next block's output j.

    The three loops follow the recurrence's data dependencies (rows 0..226 read old rows
    397..623, rows 227..453 and 454..622 read rows rewritten by the loop before), so no loop reads
    what it writes and each vectorizes without run-time overlap checks.
    """
    upper, lower, matrix_a, one = uint32(0x80000000), uint32(0x7FFFFFFF), uint32(0x9908B0DF), uint32(1)
    n, m = STATE_WORDS, _M
    for i in range(n - m):
        y = (mt[i] & upper) | (mt[i + 1] & lower)
        mt[i] = mt[i + m] ^ (y >> one) ^ ((y & one) * matrix_a)
    for i in range(n - m, 2 * (n - m)):
        y = (mt[i] & upper) | (mt[i + 1] & lower)
        mt[i] = mt[i + m - n] ^ (y >> one) ^ ((y & one) * matrix_a)
    for i in range(2 * (n - m), n - 1):
        y = (mt[i] & upper) | (mt[i + 1] & lower)
        mt[i] = mt[i + m - n] ^ (y >> one) ^ ((y & one) * matrix_a)
    y = (mt[n - 1] & upper) | (mt[0] & lower)
    mt[n - 1] = mt[m - 1] ^ (y >> one) ^ ((y & one) * matrix_a)


@njit(inline="always", cache=True)
def temper(x):
    # every step is cast back to uint32: numba widens integer arithmetic to 64 bits, which halves
    # the SIMD lanes
    x = uint32(x ^ (x >> uint32(11)))
    x = uint32(x ^ ((x << uint32(7)) & uint32(0x9D2C5680)))
    x = uint32(x ^ ((x << uint32(15)) & uint32(0xEFC60000)))
    return uint32(x ^ (x >> uint32(18)))


@njit(parallel=True, cache=True)
def _outputs(seeds32, count):
    out = np.empty((seeds32.size, count), dtype=np.uint32)
    for s in prange(seeds32.size):
        mt = seeded_state(seeds32, s)
        for b0 in range(0, count, STATE_WORDS):
            twist(mt)
            for j in range(min(STATE_WORDS, count - b0)):
                out[s, b0 + j] = temper(mt[j])
    return out


def mt19937_outputs(seeds, count: int) -> np.ndarray:
    """The first `count` 32-bit outputs of each seed's generator, shape (len(seeds), count)."""
    with PARALLEL_KERNEL_LOCK:
        return _outputs(seed_low32(np.ravel(seeds)), int(count))
