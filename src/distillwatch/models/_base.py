"""The part every backend shares: the response cache in front of `generate` and `score`."""

from __future__ import annotations

import abc
from typing import Sequence

from ._cache import ResponseCache, cache_key
from ._types import Completion, GenerateRequest, LogitsProcessor, ScoreItem, TokenScores

__all__ = ["BaseModel"]


class BaseModel(abc.ABC):
    """A backend implements `_generate` and, where it can, `_score`; this class adds the cache.

    Subclasses set `model_id` (a stable identity: the same id must mean the same weights) and may set
    `tokenizer` (a transformers tokenizer) when the token ids they report come from a known tokenizer.
    """

    model_id: str = ""
    cache_identity: str = ""  # model_id plus a weights fingerprint, where the backend has one
    tokenizer = None
    supports_score: bool = False

    def __init__(self, cache: ResponseCache | None = None):
        self.cache = cache

    # -- backends implement these -------------------------------------------------------------
    @abc.abstractmethod
    def _generate(
        self,
        requests: list[GenerateRequest],
        logits_processor: LogitsProcessor | None,
        progress: bool,
    ) -> list[Completion]:
        """Answer every request, in order (no cache involved)."""

    def _score(self, items: list[ScoreItem], progress: bool) -> list[TokenScores]:
        from ..errors import UnsupportedOperation

        raise UnsupportedOperation(f"{self.model_id} cannot score texts (teacher forcing)")

    # -- the protocol ---------------------------------------------------------------------------
    def generate(
        self,
        requests: Sequence[GenerateRequest | str],
        *,
        logits_processor: LogitsProcessor | None = None,
        progress: bool = False,
    ) -> list[Completion]:
        """Answer each request; cached answers come back with `cached=True`."""
        reqs = [r if isinstance(r, GenerateRequest) else GenerateRequest(prompt=r) for r in requests]
        processor_key = None
        if logits_processor is not None:
            processor_key = getattr(logits_processor, "cache_key", None)
        cacheable = [
            self.cache is not None and r.deterministic and (logits_processor is None or processor_key)
            for r in reqs
        ]
        keys = [
            cache_key(self.cache_identity or self.model_id, "generate", r.to_dict(), processor_key) if ok else None
            for r, ok in zip(reqs, cacheable)
        ]
        found = self.cache.get_many([k for k in keys if k]) if self.cache is not None else {}
        results: list[Completion | None] = [None] * len(reqs)
        todo: list[int] = []
        for i, key in enumerate(keys):
            if key in found:
                results[i] = Completion.from_dict({**found[key], "cached": True})
            else:
                todo.append(i)
        if todo:
            fresh = self._generate([reqs[i] for i in todo], logits_processor, progress)
            for i, completion in zip(todo, fresh):
                results[i] = completion
            if self.cache is not None:
                self.cache.put_many(
                    (keys[i], self.model_id, "generate", results[i].to_dict())
                    for i in todo
                    if keys[i]
                )
        return results  # type: ignore[return-value]

    def score(self, items: Sequence[ScoreItem], *, progress: bool = False) -> list[TokenScores]:
        """Teacher-forced log-probabilities of each text, or of each continuation after its prompt."""
        items = list(items)
        keys = [cache_key(self.cache_identity or self.model_id, "score", _jsonable(it)) for it in items]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in found]
        results: list[TokenScores | None] = [
            TokenScores.from_dict(found[k]) if k in found else None for k in keys
        ]
        if todo:
            fresh = self._score([items[i] for i in todo], progress)
            for i, scores in zip(todo, fresh):
                results[i] = scores
            if self.cache is not None:
                self.cache.put_many(
                    (keys[i], self.model_id, "score", results[i].to_dict()) for i in todo
                )
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Release what the backend holds (connections, threads). Models stay usable until then."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id}>"


def _jsonable(item: ScoreItem):
    if isinstance(item, tuple):
        prompt, cont = item
        return ["pair", prompt if isinstance(prompt, (str, list)) else list(prompt), cont]
    return ["text", item]
