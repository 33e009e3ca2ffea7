"""KGW green lists, bit-compatible with the reference implementation (jwkirchenbauer/lm-watermarking).

The reference seeds a CPU `torch.Generator` with `prf(window) % (2**64 - 1)` and takes the first
int(V * gamma) entries of `torch.randperm(V)` as the green list:

* lefthash: prf = key * previous token (Python integers, exact).
* selfhash: prf = min_i(key * h(x_i) * h(x_last)) over the 4-token window that ends with the
  candidate token itself, computed in signed 64-bit tensor arithmetic (products wrap), with
  h(x) = table[x % 1_000_003] + 1 and `table = randperm(1_000_003)` under seed 2971215073.

The generator keeps the low 32 bits of the seed. Everything here is vectorized over windows; the
permutations themselves come from `._randperm`, never from torch.
"""

from __future__ import annotations

import threading

import numpy as np

from ._membership import in_prefix
from ._randperm import prefix_mask, randperm_prefix
from .config import WatermarkConfig

__all__ = [
    "HASH_TABLE_SIZE",
    "HASH_TABLE_SEED",
    "hash_table",
    "hashint",
    "green_list_size",
    "lefthash_seeds",
    "selfhash_seeds",
    "kgw_seeds",
    "kgw_is_green",
    "kgw_green_lists",
    "kgw_green_mask",
    "load_kernels",
]

HASH_TABLE_SIZE = 1_000_003
HASH_TABLE_SEED = 2971215073
_M64 = np.uint64(2**64 - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
_table: np.ndarray | None = None
_table_lock = threading.Lock()


def hash_table() -> np.ndarray:
    """The reference's fixed permutation table, `randperm(1_000_003)` under seed 2971215073 (cached)."""
    global _table
    if _table is None:
        with _table_lock:
            if _table is None:
                perm = randperm_prefix([HASH_TABLE_SEED], HASH_TABLE_SIZE)[0]
                perm.flags.writeable = False
                _table = perm
    return _table


def hashint(tokens) -> np.ndarray:
    """h(x) = table[x % 1_000_003] + 1, as int64."""
    t = np.asarray(tokens, dtype=np.int64)
    return hash_table()[t % HASH_TABLE_SIZE] + 1


def green_list_size(vocab_size: int, gamma: float) -> int:
    """int(V * gamma), computed exactly as the reference does."""
    return int(vocab_size * gamma)


def _add_mod_m64(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(u + v) mod (2**64 - 1) for uint64 arrays, by end-around carry."""
    s = u + v
    return s + (s < u).astype(np.uint64)


def lefthash_seeds(prev_tokens, key: int) -> np.ndarray:
    """Low 32 bits of (key * prev) mod (2**64 - 1), exact for any signed 64-bit key; uint32."""
    x = np.asarray(prev_tokens, dtype=np.int64)
    if x.size and (x.min() < 0 or x.max() >= 2**32):
        raise ValueError("token ids must be in [0, 2**32)")
    x = x.astype(np.uint64)
    magnitude = -key if key < 0 else key
    k_lo, k_hi = np.uint64(magnitude & 0xFFFFFFFF), np.uint64(magnitude >> 32)
    with np.errstate(over="ignore"):
        a = k_lo * x  # < 2**64
        b = k_hi * x  # < 2**63; b * 2**32 = b_hi * 2**64 + b_lo * 2**32 == b_hi + b_lo * 2**32 (mod M)
        s = _add_mod_m64(a, b << np.uint64(32))
        s = _add_mod_m64(s, b >> np.uint64(32))
    s = np.where(s == _M64, np.uint64(0), s)
    if key < 0:
        s = np.where(s == 0, np.uint64(0), _M64 - s)
    return (s & _LOW32).astype(np.uint32)


def selfhash_seeds(windows, key: int) -> np.ndarray:
    """Anchored min-hash seeds of (N, w) windows whose last column is the candidate token; uint32.

    min over i of key * h(x_i) * h(x_last) in wrapping int64, then Python's `% (2**64 - 1)`,
    which maps a negative minimum m to m + 2**64 - 1.
    """
    w = np.asarray(windows, dtype=np.int64)
    if w.ndim != 2 or w.shape[1] < 1:
        raise ValueError("windows must be a 2-d array of token ids")
    h = hashint(w)
    with np.errstate(over="ignore"):
        products = (np.int64(key) * h) * h[:, -1:]
    m = products.min(axis=1)
    as_u64 = m.view(np.uint64)
    reduced = np.where(m < 0, as_u64 - np.uint64(1), as_u64)
    return (reduced & _LOW32).astype(np.uint32)


def kgw_seeds(windows, config: WatermarkConfig) -> np.ndarray:
    """Generator seeds (low 32 bits) for (N, context_width) PRF windows; for selfhash the last
    column is the candidate token."""
    w = np.asarray(windows, dtype=np.int64)
    if w.ndim != 2 or w.shape[1] != config.context_width:
        raise ValueError(f"windows must have shape (N, {config.context_width})")
    if config.seeding == "lefthash":
        return lefthash_seeds(w[:, -1], config.key)
    return selfhash_seeds(w, config.key)


def kgw_is_green(windows, tokens, config: WatermarkConfig, vocab_size: int, **kernel_options) -> np.ndarray:
    """Whether each token is on the green list of its window; windows (N, window_width), tokens (N,).

    For selfhash the PRF window is the window followed by the token. Token ids >= vocab_size are
    never green (they are not in randperm(vocab_size)).
    """
    w = np.asarray(windows, dtype=np.int64).reshape(-1, config.window_width)
    t = np.asarray(tokens, dtype=np.int64).ravel()
    if w.shape[0] != t.size:
        raise ValueError("windows and tokens must have the same length")
    prf_windows = np.concatenate([w, t[:, None]], axis=1) if config.self_salt else w
    in_vocab = (t >= 0) & (t < vocab_size)
    out = np.zeros(t.size, dtype=bool)
    if in_vocab.any():
        # the same (seed, token) pair is asked once
        seeds = kgw_seeds(prf_windows[in_vocab], config).astype(np.uint64)
        pairs = (seeds << np.uint64(32)) | t[in_vocab].astype(np.uint64)
        uniq, inverse = np.unique(pairs, return_inverse=True)
        k = green_list_size(vocab_size, config.gamma)
        green = in_prefix(uniq >> np.uint64(32), (uniq & _LOW32).astype(np.int64), vocab_size, k, **kernel_options)
        out[in_vocab] = green[inverse.ravel()]
    return out


def kgw_green_lists(prev_tokens, config: WatermarkConfig, vocab_size: int) -> np.ndarray:
    """Green token ids for lefthash contexts ending in `prev_tokens`; (N, int(V * gamma)) int64.

    Selfhash has no green list per context: it depends on the candidate token itself.
    """
    if config.seeding != "lefthash":
        raise ValueError("whole green lists exist only for lefthash seeding")
    seeds = lefthash_seeds(prev_tokens, config.key)
    return randperm_prefix(seeds, vocab_size, green_list_size(vocab_size, config.gamma))


def kgw_green_mask(prev_tokens, config: WatermarkConfig, vocab_size: int) -> np.ndarray:
    """The lefthash green lists after `prev_tokens` as a (N, vocab_size) boolean mask."""
    if config.seeding != "lefthash":
        raise ValueError("whole green lists exist only for lefthash seeding")
    seeds = lefthash_seeds(prev_tokens, config.key)
    return prefix_mask(seeds, vocab_size, green_list_size(vocab_size, config.gamma))


def load_kernels() -> None:
    """Compile (or load from numba's disk cache) the green-list kernels now, on tiny inputs: a server
    calls it at start-up so that its first watermarked request does not wait seconds for the compiler."""
    in_prefix(np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.int64), 2, 1)
    prefix_mask(np.zeros(1, dtype=np.uint64), 4, 2)
