"""Gumbel-max watermark (Aaronson 2022): a keyed uniform per (context, token), sampling by argmax.

For each context (the previous `context_width` tokens) the key defines uniforms u_t in (0, 1) over
the vocabulary. Generation picks argmax_t u_t ** (1 / p_t), which is an exact sample from p but
fixed given the context; detection sums -log(1 - u_t) over the scored tokens, which is Gamma(n, 1)
for text written without the key and larger for watermarked text.

The PRF is a counter-based hash (the SplitMix64 finaliser) of (key, context, token id): any
uniform can be computed alone, so detection never builds vocabulary-sized arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gumbel_context_hashes", "gumbel_uniforms", "gumbel_vocab_uniforms", "gumbel_scores", "gumbel_argmax"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_KEY_DOMAIN = np.uint64(0x6477_6775_6D62_656C)  # "dwgumbel"
_TOKEN_DOMAIN = np.uint64(0xD1B54A32D192ED03)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_M53 = 2.0**-53


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 with full avalanche."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _token_hashes(tokens) -> np.ndarray:
    t = np.asarray(tokens, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return _mix64(t * _GOLDEN + _TOKEN_DOMAIN)


def gumbel_context_hashes(windows, key: int) -> np.ndarray:
    """One uint64 per context window (N, w): a keyed, order-sensitive hash of its tokens."""
    w = np.asarray(windows, dtype=np.int64)
    if w.ndim != 2:
        raise ValueError("windows must be 2-d (N, context_width)")
    key_u64 = np.array([key & (2**64 - 1)], dtype=np.uint64)
    h = np.repeat(_mix64(key_u64 ^ _KEY_DOMAIN), w.shape[0])
    for j in range(w.shape[1]):  # a loop over the window width, not over tokens
        with np.errstate(over="ignore"):
            h = _mix64(h ^ (_token_hashes(w[:, j]) + np.uint64(j + 1)))
    return h


def _to_unit(h: np.ndarray) -> np.ndarray:
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _TWO_M53  # in (0, 1), never 0 or 1


def gumbel_uniforms(windows, tokens, key: int) -> np.ndarray:
    """u(context, token) for N pairs; windows (N, w), tokens (N,)."""
    ctx = gumbel_context_hashes(windows, key)
    with np.errstate(over="ignore"):
        return _to_unit(_mix64(ctx + _token_hashes(np.ravel(tokens))))


def gumbel_vocab_uniforms(windows, key: int, vocab_size: int) -> np.ndarray:
    """u(context, t) for every token t < vocab_size; (N, vocab_size)."""
    ctx = gumbel_context_hashes(windows, key)
    tok = _token_hashes(np.arange(vocab_size))
    with np.errstate(over="ignore"):
        return _to_unit(_mix64(ctx[:, None] + tok[None, :]))


def gumbel_scores(uniforms) -> np.ndarray:
    """Per-token detection scores -log(1 - u): Exp(1) under the null."""
    return -np.log1p(-np.asarray(uniforms, dtype=np.float64))


def gumbel_argmax(probs, uniforms) -> np.ndarray:
    """argmax_t log(u_t) / p_t per row (tokens with p_t == 0 are never chosen); (N,) int64."""
    p = np.asarray(probs, dtype=np.float64)
    u = np.asarray(uniforms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        r = np.where(p > 0, np.log(u) / np.where(p > 0, p, 1.0), -np.inf)
    return r.argmax(axis=-1)
