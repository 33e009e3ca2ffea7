"""Choosing the next token: greedy, or sampled with per-request seeds that do not depend on batching.

Sampling uses the Gumbel-max trick with uniforms from a counter-based hash of (seed, step, token id),
so a request sampled alone or inside any batch draws the same noise and, up to floating-point
differences in the logits, the same tokens.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["seeded_uniforms", "choose_next_tokens", "top_p_mask"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STEP = np.uint64(0xD1B54A32D192ED03)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def seeded_uniforms(seeds: np.ndarray, step: int | np.ndarray, vocab_size: int) -> np.ndarray:
    """Uniforms in (0, 1), shape (len(seeds), vocab_size): a pure function of (seed, step, token id).
    `step` is one number for every row, or one per row (rows that joined a batch at different times)."""
    with np.errstate(over="ignore"):
        base = _splitmix64(seeds.astype(np.uint64) * _GOLDEN + np.asarray(step, dtype=np.uint64) * _STEP)
        x = _splitmix64(base[:, None] + np.arange(vocab_size, dtype=np.uint64)[None, :] * _GOLDEN)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def top_p_mask(logits: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Logits with the tokens outside each row's nucleus (smallest set with mass >= top_p) at -inf."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    drop_sorted = mass_before >= top_p[:, None]
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def choose_next_tokens(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    seeds: np.ndarray,
    step: int | np.ndarray,
) -> torch.Tensor:
    """Next token per row: argmax where temperature is 0, else a seeded sample at that temperature
    (`step`: the decoding step, for all rows or per row)."""
    chosen = logits.argmax(dim=-1)
    sampled = temperature > 0
    if not bool(sampled.any()):
        return chosen
    rows = sampled.nonzero().squeeze(-1)
    z = logits[rows] / temperature[rows, None]
    if bool((top_p[rows] < 1).any()):
        z = top_p_mask(z, top_p[rows])
    step = np.asarray(step)
    u = torch.from_numpy(seeded_uniforms(seeds[rows.numpy()], step[rows.numpy()] if step.ndim else step,
                                         logits.shape[-1]))
    gumbel = -torch.log(-torch.log(u)).to(z.dtype)
    chosen[rows] = (z + gumbel).argmax(dim=-1)
    return chosen
