"""The records that cross the `Model` protocol: requests in, completions and token scores out."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, Union, runtime_checkable

__all__ = [
    "ChatMessage",
    "Prompt",
    "GenerateRequest",
    "Completion",
    "TokenScores",
    "ScoreItem",
    "LogitsProcessor",
    "Model",
    "is_chat",
    "chat_messages",
    "plain_chat_text",
    "cut_at_stop",
    "split_score_item",
]

ChatMessage = dict  # {"role": ..., "content": ...}, as in the OpenAI API
Prompt = Union[str, Sequence[ChatMessage]]
ScoreItem = Union[str, tuple[Prompt, str]]


def is_chat(prompt: Prompt) -> bool:
    """True for a list of chat messages, False for a plain-text prompt."""
    return not isinstance(prompt, str)


@dataclass(frozen=True)
class GenerateRequest:
    """One generation request.

    A plain-text `prompt` is continued as is; a list of chat messages goes through the model's chat
    template (or the server's chat endpoint). `temperature == 0` is greedy decoding. Sampling with a
    `seed` is reproducible and independent of how requests are batched; without a seed it is not, and
    such requests are never cached.
    """

    prompt: Prompt
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.prompt, str):
            object.__setattr__(self, "prompt", tuple(dict(m) for m in self.prompt))
        if self.max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_logprobs < 0 or self.top_logprobs > 20:
            raise ValueError(f"top_logprobs must be in [0, 20], got {self.top_logprobs}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def deterministic(self) -> bool:
        """Whether the same model gives the same answer every time (so the answer may be cached)."""
        return self.greedy or self.seed is not None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["prompt"] = self.prompt if isinstance(self.prompt, str) else [dict(m) for m in self.prompt]
        d["stop"] = list(self.stop)
        return d

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


@dataclass
class Completion:
    """A generated answer: its text, the generated token ids and, when asked, per-token log-probabilities.

    `logprobs[i]` is the model's log-probability of `token_ids[i]` (before any logits processor such as a
    watermark); `top_logprobs[i]` maps the most likely tokens at that position to theirs.
    `token_ids` is None only when a remote server did not report ids.
    """

    text: str
    token_ids: list[int] | None
    finish_reason: str = "stop"  # "stop" (end of sequence or stop string) or "length"
    prompt_tokens: int | None = None
    logprobs: list[float] | None = None
    top_logprobs: list[dict[str, float]] | None = None
    tokens: list[str] | None = None
    cached: bool = False
    latency_s: float | None = None

    @property
    def completion_tokens(self) -> int:
        if self.token_ids is not None:
            return len(self.token_ids)
        return len(self.tokens or ())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Completion":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TokenScores:
    """Teacher-forced log-probabilities of the scored tokens of one text.

    For a plain text, every token but the first is scored; for a (prompt, continuation) pair only the
    continuation's tokens are. `logprobs[i]` is log P(token_ids[i] | everything before it);
    `top_ids[i]` is the model's own most likely token at that position (None when the backend cannot
    tell, e.g. a remote server without top logprobs).
    """

    token_ids: list[int]
    logprobs: list[float]
    top_ids: list[int] | None = None
    tokens: list[str] | None = None
    context_ids: list[int] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))

    @property
    def mean(self) -> float:
        return self.total / len(self.logprobs) if self.logprobs else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TokenScores":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@runtime_checkable
class LogitsProcessor(Protocol):
    """Changes next-token scores during generation, like transformers' `LogitsProcessor`.

    Called once per decoding step with `input_ids` (batch, seq) — each row's prompt and the tokens
    generated so far, left-padded — and `scores` (batch, vocab) float logits; returns new scores.
    A processor that wants its outputs cached says so with a `cache_key` string attribute that names
    everything that changes its effect (scheme, key, parameters); without one, requests bypass the cache.
    """

    def __call__(self, input_ids: Any, scores: Any) -> Any: ...


@runtime_checkable
class Model(Protocol):
    """What every backend offers: `generate`, `score` where the backend allows it, and its identity."""

    model_id: str

    def generate(
        self,
        requests: Sequence[GenerateRequest],
        *,
        logits_processor: LogitsProcessor | None = None,
        progress: bool = False,
    ) -> list[Completion]: ...

    def score(self, items: Sequence[ScoreItem], *, progress: bool = False) -> list[TokenScores]: ...


_FALLBACK_ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}


def chat_messages(prompt: Prompt) -> list[dict]:
    """The prompt's chat messages as plain dicts, each checked to have a role and a content."""
    from ..errors import InputError

    messages = [dict(m) for m in prompt]
    for m in messages:
        if "role" not in m or "content" not in m:
            raise InputError(f"a chat message needs 'role' and 'content', got {sorted(m)}")
    return messages


def plain_chat_text(messages: Sequence[ChatMessage]) -> str:
    """Chat messages as `Role: text` paragraphs ending in `Assistant:`, for a model with no chat template."""
    lines = [f"{_FALLBACK_ROLES.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` cut before the first occurrence of each stop string in turn, and whether any was found."""
    found = False
    for stop in stops:
        cut = text.find(stop)
        if cut >= 0:
            text, found = text[:cut], True
    return text, found


def split_score_item(item: ScoreItem, encode_prompt: Callable[[Prompt], list[int]],
                     encode_text: Callable[[str], list[int]],
                     encode_document: Callable[[str], list[int]]) -> tuple[list[int], list[int]]:
    """(context ids, scored ids) of a `score` item, with the backend's encoders: a (prompt, continuation)
    pair scores the continuation (text without special tokens, or ids) after the encoded prompt; a
    plain text (encoded with the tokenizer's specials) or a list of ids scores every token but the first."""
    from ..errors import InputError

    if isinstance(item, tuple):
        prompt, continuation = item
        target = encode_text(continuation) if isinstance(continuation, str) else [int(t) for t in continuation]
        return list(encode_prompt(prompt)), list(target)
    ids = list(encode_document(item)) if isinstance(item, str) else [int(t) for t in item]
    if len(ids) < 2:
        raise InputError("a text to score needs at least two tokens")
    return ids[:1], ids[1:]


def context_room(model: Any, prompt: Prompt) -> int | None:
    """How many tokens `model` can still take after `prompt` (its context minus the prompt's tokens), or
    None when the backend does not say (remote servers enforce their own limits)."""
    encode, limit = getattr(model, "encode_prompt", None), getattr(model, "max_length", None)
    if encode is None or limit is None:
        return None
    return int(limit) - len(encode(prompt))
