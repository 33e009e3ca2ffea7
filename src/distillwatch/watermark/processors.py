"""Logits processors that watermark generation (the `LogitsProcessor` protocol of `distillwatch.models`).

Each is called once per decoding step with `input_ids` (batch, seq), the left-padded prompt and the
tokens generated so far, and `scores` (batch, vocab) logits, and returns new scores. Green lists
and uniforms come from the watermark kernels, one call for the whole batch. The arguments may be torch
tensors (the hf backend) or NumPy arrays (the llama.cpp backend, which also passes a single
sequence as 1-d arrays, as llama-cpp-python's own `LogitsProcessor` does); the result has the
type and shape of `scores`.

* KGW lefthash adds delta to the green list of the last token, exactly as the reference does.
* KGW selfhash follows the reference's `_score_rejection_sampling` with its default
  "fixed_compute" tail rule: the 41 highest-scoring candidates c are each tested with the window
  (last 3 tokens, c); delta is added to those that are green under their own window.
* Gumbel keeps only argmax_t u_t ** (1 / p_t) with p = softmax(scores), so sampling (at any
  temperature) returns that token.

torch is imported lazily, and only for torch inputs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from .config import WatermarkConfig
from .gumbel import gumbel_argmax, gumbel_vocab_uniforms
from .kgw import kgw_green_mask, kgw_is_green, load_kernels

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


def _as_batch(input_ids: Any, scores: Any) -> tuple[np.ndarray, Any, bool]:
    """(input_ids as a 2-d int64 array, scores as 2-d, whether both came as single 1-d rows)."""
    ids = _to_numpy(input_ids).astype(np.int64)
    single = ids.ndim == 1
    if single:
        ids, scores = ids[None, :], scores[None, :]
    if ids.shape[0] != scores.shape[0]:
        raise ValueError(f"input_ids has {ids.shape[0]} rows and scores {scores.shape[0]}")
    return ids, scores, single


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
        load_kernels()  # compiled now, not during the first decoding step

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
        batch = input_ids.shape[0]
        width = self.config.context_width - 1
        if input_ids.shape[1] < width:
            raise ValueError(f"selfhash seeding needs at least {width} tokens of context")
        n_cand = min(SELFHASH_CANDIDATES, scores.shape[-1])
        if isinstance(scores, np.ndarray):  # ties (rare in float logits) in id order
            cand = np.argsort(-scores, axis=-1, kind="stable")[:, :n_cand].astype(np.int64)
        else:
            torch = _torch()
            cand = _to_numpy(torch.sort(scores, dim=-1, descending=True).indices[:, :n_cand]).astype(np.int64)
        windows = np.repeat(input_ids[:, -width:], n_cand, axis=0)
        green = kgw_is_green(windows, cand.ravel(), self.config, self.vocab_size).reshape(batch, n_cand)
        mask = np.zeros((batch, self.vocab_size), dtype=bool)
        rows, cols = np.nonzero(green)
        mask[rows, cand[rows, cols]] = True
        return mask

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if scores.shape[-1] < self.vocab_size:
            raise ValueError(f"scores have {scores.shape[-1]} columns, fewer than vocab_size={self.vocab_size}")
        ids, batch_scores, single = _as_batch(input_ids, scores)
        if self.config.seeding == "lefthash":
            mask = self.green_mask(ids[:, -1])
        else:
            mask = self.selfhash_mask(ids, batch_scores)
        if isinstance(scores, np.ndarray):
            out = batch_scores.copy()
            out[:, : self.vocab_size] += (mask * self.config.delta).astype(out.dtype)
            return out[0] if single else out
        torch = _torch()
        bias = torch.zeros_like(batch_scores)
        bias[:, : self.vocab_size] = torch.from_numpy(mask).to(scores.device, scores.dtype) * self.config.delta
        out = batch_scores + bias
        return out[0] if single else out


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
        ids, batch_scores, single = _as_batch(input_ids, scores)
        if ids.shape[1] < self.config.context_width:
            return scores
        if isinstance(scores, np.ndarray):
            z = batch_scores.astype(np.float64)
            z -= z.max(axis=-1, keepdims=True)
            probs = np.exp(z)
            probs /= probs.sum(axis=-1, keepdims=True)
        else:
            torch = _torch()
            probs = _to_numpy(torch.softmax(batch_scores.double(), dim=-1))
        probs[:, self.vocab_size :] = 0.0
        chosen = self.choose(ids, probs)
        if isinstance(scores, np.ndarray):
            out = np.full_like(batch_scores, -np.inf)
            out[np.arange(out.shape[0]), chosen] = 0.0
            return out[0] if single else out
        out = torch.full_like(batch_scores, float("-inf"))
        out[torch.arange(out.shape[0], device=scores.device), torch.from_numpy(chosen).to(scores.device)] = 0.0
        return out[0] if single else out


def make_logits_processor(config: WatermarkConfig | str, vocab_size: int) -> KGWLogitsProcessor | GumbelLogitsProcessor:
    """The processor that applies `config` during generation (vocab_size: the tokenizer's)."""
    config = WatermarkConfig.parse(config)
    if config.scheme == "kgw":
        return KGWLogitsProcessor(config, vocab_size)
    return GumbelLogitsProcessor(config, vocab_size)

