"""Training examples and the ρ-mix of teacher and human data.

An `Example` is either a (prompt, response) pair — trained on the response tokens only — or a plain
text — trained on every token. `mix` builds a training set in which a fraction ρ of the examples are a
teacher's answers and the rest human-written text (see `human.py`); `data_sha256` fingerprints a
training set for the run manifest.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

__all__ = ["Example", "ExampleLike", "as_examples", "data_sha256", "mix"]


@dataclass(frozen=True)
class Example:
    """One training example: `text` is the response of a (prompt, response) pair, or a plain text.

    `prompt` is None for a plain text; a string prompt is the user's turn of a chat, a sequence of
    ``{"role", "content"}`` messages is a whole conversation before the answer. `source` labels where
    the example came from (``"teacher:A"``, ``"human:pydoc-topics"``, ...) and is not trained on.
    """

    text: str
    prompt: str | tuple[Mapping[str, str], ...] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"text must be a str, got {type(self.text).__name__}")
        if self.prompt is not None and not isinstance(self.prompt, str):
            object.__setattr__(self, "prompt", tuple(dict(m) for m in self.prompt))

    @property
    def is_pair(self) -> bool:
        return self.prompt is not None

    @property
    def messages(self) -> list[dict[str, str]]:
        """The chat messages before the answer (empty for a plain text)."""
        if self.prompt is None:
            return []
        if isinstance(self.prompt, str):
            return [{"role": "user", "content": self.prompt}]
        return [dict(m) for m in self.prompt]

    def to_dict(self) -> dict[str, Any]:
        prompt = self.prompt if self.prompt is None or isinstance(self.prompt, str) else self.messages
        return {"prompt": prompt, "text": self.text, "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Example:
        text = d["text"] if "text" in d else d["response"]
        return cls(text=text, prompt=d.get("prompt"), source=d.get("source", ""))


ExampleLike = Union[Example, str, tuple, Mapping[str, Any]]


def as_examples(items: Iterable[ExampleLike], *, source: str = "") -> list[Example]:
    """Examples from plain strings, (prompt, response) tuples, dicts or `Example`s."""
    out = []
    for item in items:
        if isinstance(item, Example):
            out.append(item)
        elif isinstance(item, str):
            out.append(Example(item, source=source))
        elif isinstance(item, tuple) and len(item) == 2:
            out.append(Example(item[1], prompt=item[0], source=source))
        elif isinstance(item, Mapping):
            ex = Example.from_dict(item)
            out.append(ex if ex.source or not source else Example(ex.text, ex.prompt, source))
        else:
            raise TypeError(f"cannot make an Example from {type(item).__name__}")
    return out


def data_sha256(examples: Iterable[ExampleLike]) -> str:
    """sha256 of a training set, in order: one canonical JSON line (prompt, text) per example."""
    h = hashlib.sha256()
    for ex in as_examples(examples):
        d = ex.to_dict()
        line = json.dumps([d["prompt"], d["text"]], ensure_ascii=False, sort_keys=True)
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def mix(
    teacher: Sequence[ExampleLike],
    human: Sequence[ExampleLike],
    rho: float,
    n: int | None = None,
    *,
    seed: int = 0,
) -> list[Example]:
    """A shuffled training set of `n` examples, ``round(rho * n)`` of them drawn from `teacher`.

    The rest are drawn from `human`; both are drawn without replacement. Without `n`, the largest set
    both pools allow. Examples keep their `source`; unlabelled ones become ``"teacher"``/``"human"``.
    Deterministic under `seed`.
    """
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    t_pool = [_label(e, "teacher") for e in as_examples(teacher)]
    h_pool = [_label(e, "human") for e in as_examples(human)]
    if n is None:
        limits = []
        if rho > 0:
            limits.append(int(len(t_pool) / rho + 1e-9))
        if rho < 1:
            limits.append(int(len(h_pool) / (1 - rho) + 1e-9))
        n = min(limits)
        while n > 0 and (round(rho * n) > len(t_pool) or n - round(rho * n) > len(h_pool)):
            n -= 1
    n_teacher = round(rho * n)
    n_human = n - n_teacher
    if n_teacher > len(t_pool) or n_human > len(h_pool):
        raise ValueError(
            f"need {n_teacher} teacher and {n_human} human examples, have {len(t_pool)} and {len(h_pool)}"
        )
    rng = random.Random(seed)
    chosen = [t_pool[i] for i in rng.sample(range(len(t_pool)), n_teacher)]
    chosen += [h_pool[i] for i in rng.sample(range(len(h_pool)), n_human)]
    rng.shuffle(chosen)
    return chosen


def _label(ex: Example, default: str) -> Example:
    return ex if ex.source else Example(ex.text, ex.prompt, default)
