"""Logits processors that watermark generation (the `LogitsProcessor` protocol of `distillwatch.models`).

Each is called once per decoding step with `input_ids` (batch, seq), the left-padded prompt and the
tokens generated so far, and `scores` (batch, vocab) logits, and returns new scores. Green lists
and uniforms come from the NumPy kernels, one call for the whole batch.

* KGW lefthash adds delta to the green list of the last token, exactly as the reference does.
* KGW selfhash follows the reference's `_score_rejection_sampling` with its default
  "fixed_compute" tail rule: the 41 highest-scoring candidates c are each tested with the window
  (last 3 tokens, c); delta is added to those that are green under their own window.
* Gumbel keeps only argmax_t u_t ** (1 / p_t) with p = softmax(scores), so sampling (at any
  temperature) returns that token.

torch is imported lazily: only these classes need it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from .config import WatermarkConfig
from .gumbel import gumbel_argmax, gumbel_vocab_uniforms
from .kgw import kgw_green_mask, kgw_is_green

__all__ = [
    "KGWLogitsProcessor",
    "GumbelLogitsProcessor",
    "make_logits_processor",
    "SELFHASH_CANDIDATES",
]

SELFHASH_CANDIDATES = 41  # the reference stops after candidate index 40 ("fixed_compute")


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("watermarking generation needs torch: pip install 'distillwatch[hf]'") from e
    return torch


def _to_numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


class KGWLogitsProcessor:
    """Adds delta to green-list logits (KGW, lefthash or selfhash seeding).

    `cache_size` lefthash green lists are kept (bit-packed) per previous token, as they recur.
    """

    def __init__(self, config: WatermarkConfig | str, vocab_size: int, *, cache_size: int = 1024) -> None:
        self.config = WatermarkConfig.parse(config)
        if self.config.scheme != "kgw":
            raise ValueError("KGWLogitsProcessor needs a kgw config")
        self.vocab_size = int(vocab_size)
        self.cache_key = f"{self.config.cache_key}:vocab_size={self.vocab_size}"
        self._greens: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # a gateway may share one processor between threads

    def __repr__(self) -> str:
        return f"KGWLogitsProcessor({self.config!r}, vocab_size={self.vocab_size})"

    def green_mask(self, prev_tokens: np.ndarray) -> np.ndarray:
        """(B, vocab_size) bool: the lefthash green list after each previous token."""
        prev = np.asarray(prev_tokens, dtype=np.int64).ravel()
        with self._lock:
            known = {p: self._greens[p] for p in prev.tolist() if p in self._greens}
        missing = np.array(sorted(set(prev.tolist()) - set(known)), dtype=np.int64)
        if missing.size:
            rows = kgw_green_mask(missing, self.config, self.vocab_size)
            known.update((p, np.packbits(row)) for p, row in zip(missing.tolist(), rows))
        mask = np.empty((prev.size, self.vocab_size), dtype=bool)
        for b, p in enumerate(prev.tolist()):  # one row per sequence in the batch
            mask[b] = np.unpackbits(known[p], count=self.vocab_size).astype(bool)
        with self._lock:
            for p in prev.tolist():  # batch order: the last row is the most recently used
                self._greens[p] = known[p]
                self._greens.move_to_end(p)
            while len(self._greens) > self._cache_size:
                self._greens.popitem(last=False)
        return mask

    def selfhash_mask(self, input_ids: np.ndarray, scores: Any) -> np.ndarray:
        """(B, vocab_size) bool: top candidates that are green under their own window."""
        torch = _torch()
        batch = input_ids.shape[0]
        width = self.config.context_width - 1
        if input_ids.shape[1] < width:
            raise ValueError(f"selfhash seeding needs at least {width} tokens of context")
        n_cand = min(SELFHASH_CANDIDATES, scores.shape[-1])
        cand = _to_numpy(torch.sort(scores, dim=-1, descending=True).indices[:, :n_cand]).astype(np.int64)
        windows = np.repeat(input_ids[:, -width:], n_cand, axis=0)
        green = kgw_is_green(windows, cand.ravel(), self.config, self.vocab_size).reshape(batch, n_cand)
        mask = np.zeros((batch, self.vocab_size), dtype=bool)
        rows, cols = np.nonzero(green)
        mask[rows, cand[rows, cols]] = True
        return mask

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = _torch()

        if scores.shape[-1] < self.vocab_size:
            raise ValueError(f"scores have {scores.shape[-1]} columns, fewer than vocab_size={self.vocab_size}")
        ids = _to_numpy(input_ids).astype(np.int64)
        if self.config.seeding == "lefthash":
            mask = self.green_mask(ids[:, -1])
        else:
            mask = self.selfhash_mask(ids, scores)
        bias = torch.zeros_like(scores)
        bias[:, : self.vocab_size] = torch.from_numpy(mask).to(scores.device, scores.dtype) * self.config.delta
        return scores + bias


class GumbelLogitsProcessor:
    """Makes the Gumbel-max choice argmax_t u_t ** (1 / p_t) certain (p = softmax(scores)).

    Rows with fewer than `context_width` tokens are left unchanged.
    """

    def __init__(self, config: WatermarkConfig | str, vocab_size: int) -> None:
        self.config = WatermarkConfig.parse(config)
        if self.config.scheme != "gumbel":
            raise ValueError("GumbelLogitsProcessor needs a gumbel config")
        self.vocab_size = int(vocab_size)
        self.cache_key = f"{self.config.cache_key}:vocab_size={self.vocab_size}"

    def __repr__(self) -> str:
        return f"GumbelLogitsProcessor({self.config!r}, vocab_size={self.vocab_size})"

    def choose(self, input_ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """The watermarked token per row, given next-token probabilities (B, vocab_size)."""
        width = self.config.context_width
        u = gumbel_vocab_uniforms(input_ids[:, -width:], self.config.key, self.vocab_size)
        return gumbel_argmax(probs[:, : self.vocab_size], u)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = _torch()

        ids = _to_numpy(input_ids).astype(np.int64)
        if ids.shape[1] < self.config.context_width:
            return scores
        probs = torch.softmax(scores.double(), dim=-1)
        if scores.shape[-1] > self.vocab_size:
            probs[:, self.vocab_size :] = 0.0
        chosen = torch.from_numpy(self.choose(ids, _to_numpy(probs))).to(scores.device)
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0], device=scores.device), chosen] = 0.0
        return out


def make_logits_processor(config: WatermarkConfig | str, vocab_size: int) -> KGWLogitsProcessor | GumbelLogitsProcessor:
    """The processor that applies `config` during generation (vocab_size: the tokenizer's)."""
    config = WatermarkConfig.parse(config)
    if config.scheme == "kgw":
        return KGWLogitsProcessor(config, vocab_size)
    return GumbelLogitsProcessor(config, vocab_size)

