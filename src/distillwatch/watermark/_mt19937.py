"""MT19937 for many seeds at once, in NumPy: the generator behind torch's CPU `Generator`.

`torch.Generator().manual_seed(s)` keeps only the low 32 bits of `s` and seeds a standard MT19937
(`init_genrand`); `Generator.random()` is then the plain tempered 32-bit output stream, the same as
`std::mt19937` and NumPy's legacy `RandomState` seeding. Here N generators advance in lockstep: the
state is a (624, N) array, so every twist and tempering step is a handful of whole-array operations
and the per-seed cost is a few nanoseconds per draw.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MT19937Batch", "mt19937_outputs", "seed_low32", "initial_state"]

_N = 624
_M = 397
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)
_MATRIX_A = np.uint32(0x9908B0DF)
_INIT_MULT = np.uint32(1812433253)
_ONE = np.uint32(1)
_FEW_SEEDS = 8


def seed_low32(seeds) -> np.ndarray:
    """The 32 bits of each seed that torch's CPU generator keeps (`manual_seed` of a uint64)."""
    a = np.asarray(seeds)
    if a.dtype == np.uint32:
        return a
    if a.dtype.kind not in "iu":
        raise TypeError(f"seeds must be integers, got {a.dtype}")
    return (a.astype(np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def initial_state(seeds) -> np.ndarray:
    """The (624, N) MT19937 state after `init_genrand(seed & 0xffffffff)` for each seed."""
    seeds32 = seed_low32(np.ravel(seeds))
    state = np.empty((_N, seeds32.size), dtype=np.uint32)
    if seeds32.size <= _FEW_SEEDS:  # NumPy's per-call overhead dominates: plain integers are faster
        for c, seed in enumerate(seeds32.tolist()):
            words = [seed]
            for j in range(1, _N):
                prev = words[-1]
                words.append((1812433253 * (prev ^ (prev >> 30)) + j) & 0xFFFFFFFF)
            state[:, c] = words
        return state
    state[0] = seeds32
    tmp = np.empty(seeds32.size, dtype=np.uint32)
    # state[j] = 1812433253 * (state[j-1] ^ (state[j-1] >> 30)) + j  (mod 2**32); sequential in j only
    for j in range(1, _N):
        prev = state[j - 1]
        np.right_shift(prev, np.uint32(30), out=tmp)
        tmp ^= prev
        tmp *= _INIT_MULT
        np.add(tmp, np.uint32(j), out=state[j])
    return state


class MT19937Batch:
    """N MT19937 generators seeded like torch's CPU generator, producing 624 outputs per call.

    Build it from seeds, or from `state=initial_state(seeds)[:, columns]` to seed many generators
    in one pass and run them in cache-sized groups.

    `next_block()` returns a (624, N) array whose row i holds output number 624*b + i of every
    generator (b = blocks drawn before). The returned array is a buffer reused by the next call.
    `keep(columns)` drops generators that are no longer needed.
    """

    def __init__(self, seeds=None, *, state: np.ndarray | None = None) -> None:
        if (seeds is None) == (state is None):
            raise ValueError("give seeds or an initial state")
        self.state = initial_state(seeds) if state is None else np.ascontiguousarray(state, dtype=np.uint32)
        if self.state.ndim != 2 or self.state.shape[0] != _N:
            raise ValueError("state must have shape (624, N)")
        self._out = np.empty_like(self.state)
        self._tmp = np.empty_like(self.state)
        self.blocks_drawn = 0

    @property
    def size(self) -> int:
        return self.state.shape[1]

    def keep(self, columns: np.ndarray) -> None:
        self.state = np.ascontiguousarray(self.state[:, columns])
        self._out = np.empty_like(self.state)
        self._tmp = np.empty_like(self.state)

    def _twist_rows(self, lo: int, hi: int, src_lo: int) -> None:
        st = self.state
        y = self._out[lo:hi]
        t = self._tmp[lo:hi]
        # y = (st[i] & UPPER) | (st[i+1] & LOWER), written as st[i+1] ^ ((st[i] ^ st[i+1]) & UPPER)
        np.bitwise_xor(st[lo:hi], st[lo + 1 : hi + 1], out=y)
        y &= _UPPER
        y ^= st[lo + 1 : hi + 1]
        np.bitwise_and(y, _ONE, out=t)
        t *= _MATRIX_A
        y >>= _ONE
        y ^= t
        np.bitwise_xor(y, st[src_lo : src_lo + (hi - lo)], out=st[lo:hi])

    def _twist(self) -> None:
        # The three slabs follow the recurrence's data dependencies: rows 0..226 read old rows
        # 397..623, rows 227..453 and 454..622 read rows already rewritten in this twist.
        self._twist_rows(0, _N - _M, _M)
        self._twist_rows(_N - _M, 2 * (_N - _M), 0)
        self._twist_rows(2 * (_N - _M), _N - 1, _N - _M)
        st = self.state
        y = (st[_N - 1] & _UPPER) | (st[0] & _LOWER)
        st[_N - 1] = st[_M - 1] ^ (y >> _ONE) ^ ((y & _ONE) * _MATRIX_A)

    def next_block(self) -> np.ndarray:
        self._twist()
        st, out, t = self.state, self._out, self._tmp
        np.right_shift(st, np.uint32(11), out=out)
        out ^= st
        np.left_shift(out, np.uint32(7), out=t)
        t &= np.uint32(0x9D2C5680)
        out ^= t
        np.left_shift(out, np.uint32(15), out=t)
        t &= np.uint32(0xEFC60000)
        out ^= t
        np.right_shift(out, np.uint32(18), out=t)
        out ^= t
        self.blocks_drawn += 1
        return out


def mt19937_outputs(seeds, count: int) -> np.ndarray:
    """The first `count` 32-bit outputs of each seed's generator, shape (len(seeds), count)."""
    gen = MT19937Batch(seeds)
    n_blocks = -(-count // _N)
    out = np.empty((n_blocks * _N, gen.size), dtype=np.uint32)
    for b in range(n_blocks):
        out[b * _N : (b + 1) * _N] = gen.next_block()
    return np.ascontiguousarray(out[:count].T)
