"""`mock/<name>`: a deterministic test double that needs no weights, no torch and no network.

Answers are words drawn from a small vocabulary by a hash of (name, prompt, seed): the same request
always gets the same answer, different names answer differently, and sampled requests with different
seeds differ. Scores are a hash of (name, context, token) too, so they are stable and model-specific.
Use it to test code around models (servers, pipelines, reports) in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from ._base import BaseModel
from ._cache import ResponseCache
from ._types import Completion, GenerateRequest, LogitsProcessor, ScoreItem, TokenScores, cut_at_stop

__all__ = ["MockModel", "MOCK_VOCAB"]

MOCK_VOCAB = (
    "the a model answer data token light blue red green yes no because therefore first second then "
    "finally example result value method test simple clear small large fast slow water fire earth air "
    "one two three four five colour primary number list step reason think check true false maybe"
).split()


_WORD_ID = {w: i for i, w in reversed(list(enumerate(MOCK_VOCAB)))}  # first occurrence wins, like list.index


def _hash_ints(*parts, n: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(json.dumps(parts, default=str).encode()).digest()[:8], "little")
    return np.random.default_rng(seed).integers(0, 2**31, size=n)


class MockModel(BaseModel):
    """Deterministic fake model. `reply` fixes the answer text; `length` bounds answers (in words)."""

    supports_score = True

    def __init__(self, name: str = "default", *, cache: ResponseCache | None = None,
                 reply: str | None = None, length: int = 24):
        super().__init__(cache=cache)
        self.name = name
        self.model_id = f"mock/{name}"
        self.reply = reply
        self.length = int(length)
        self.vocab_size = len(MOCK_VOCAB)

    def encode(self, text: str) -> list[int]:
        return [_WORD_ID.get(w, len(w) % self.vocab_size) for w in text.split()]

    encode_text = encode

    def _answer(self, r: GenerateRequest) -> list[int]:
        if self.reply is not None:
            return self.encode(self.reply)[: r.max_tokens]
        salt = r.seed if r.temperature > 0 else None
        draws = _hash_ints(self.name, r.to_dict()["prompt"], salt, n=self.length + 1)
        n = min(r.max_tokens, 4 + int(draws[0]) % self.length)
        return [int(d) % self.vocab_size for d in draws[1 : n + 1]]

    def _generate(self, requests: list[GenerateRequest], logits_processor: LogitsProcessor | None,
                  progress: bool) -> list[Completion]:
        out = []
        for r in requests:
            ids = self._answer(r)
            text = self.reply if self.reply is not None else " ".join(MOCK_VOCAB[i] for i in ids)
            text, stopped = cut_at_stop(text, r.stop)
            finish = "length" if len(ids) >= r.max_tokens and self.reply is None and not stopped else "stop"
            c = Completion(text=text, token_ids=ids, finish_reason=finish,
                           prompt_tokens=len(str(r.prompt).split()))
            if r.logprobs or r.top_logprobs:
                c.logprobs = [-math.log(self.vocab_size)] * len(ids)
                c.tokens = [MOCK_VOCAB[i] for i in ids]
                if r.top_logprobs:
                    c.top_logprobs = [{MOCK_VOCAB[i]: c.logprobs[0]} for i in ids]
            out.append(c)
        return out

    def _score(self, items: list[ScoreItem], progress: bool) -> list[TokenScores]:
        out = []
        for item in items:
            context, target = (item if isinstance(item, tuple) else ("", item))
            ids = self.encode(target) if isinstance(target, str) else [int(t) for t in target]
            noise = _hash_ints(self.name, str(context), ids, n=max(1, len(ids)))
            logprobs = [-1.0 - (int(x) % 1000) / 250.0 for x in noise[: len(ids)]]
            out.append(TokenScores(token_ids=ids, logprobs=logprobs, top_ids=[0] * len(ids)))
        return out
