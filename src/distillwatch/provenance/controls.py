"""Controls that resemble the teacher, chosen from a pool without looking at the suspect.

The agreement, distribution and style tests ask whether the suspect is closer to the teacher than to
every control. "Not derived from T" implies that null only when the controls are as close to an
unrelated suspect as T is, that is, when they are models of T's kind. A control unlike T breaks this:
with large chat models as controls for a tiny teacher, every tiny model looks derived from it.

`match_controls` picks, from a pool of models known not to be derived from T, the k that resemble T
most on selection prompts that the tests never use. Resemblance is the sum of three ranks:
first-word agreement, k-word prefix agreement, and the cosine between mean answer embeddings.
Only T's answers and the pool's answers enter, never the suspect's, so each test's null holds
conditionally on the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .agreement import prefix_keys

__all__ = ["ControlMatch", "match_controls"]


@dataclass
class ControlMatch:
    """chosen: indices into the pool, most resembling first; the per-pool-model measures behind it."""

    chosen: list[int]
    first_word_agreement: list[float]
    prefix_agreement: list[float]
    embedding_cosine: list[float]
    n_prompts: int
    names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        pool = self.names or [str(i) for i in range(len(self.first_word_agreement))]
        return {"chosen": [pool[i] for i in self.chosen], "n_prompts": self.n_prompts,
                "pool": {n: {"first_word_agreement": round(a, 4), "prefix_agreement": round(b, 4),
                             "embedding_cosine": round(c, 4)}
                         for n, a, b, c in zip(pool, self.first_word_agreement, self.prefix_agreement,
                                               self.embedding_cosine)}}


def match_controls(
    teacher_answers: Sequence[str],
    pool_answers: Sequence[Sequence[str]],
    k: int,
    *,
    embed: Any = None,
    prefix_length: int = 8,
    names: Sequence[str] = (),
) -> ControlMatch:
    """The `k` pool models whose answers resemble the teacher's most, on the same prompts.

    `pool_answers[j][i]` is pool model j's answer to prompt i, `teacher_answers[i]` the teacher's. `embed`
    maps a list of texts to an (n, d) array of sentence embeddings; without it, resemblance is the two
    agreement ranks alone. Ties keep the pool's order.
    """
    m = len(pool_answers)
    if not 1 <= k <= m:
        raise ValueError(f"k must be in [1, {m}] (the pool's size), got {k}")
    n = len(teacher_answers)
    if n == 0 or any(len(a) != n for a in pool_answers):
        raise ValueError("the teacher and every pool model must answer the same, non-empty, prompts")
    lengths = (1, prefix_length)
    t_keys = prefix_keys(list(teacher_answers), lengths)
    agree = np.array([(prefix_keys(list(a), lengths) == t_keys).mean(axis=0) for a in pool_answers])  # (m, 2)
    cosine = np.zeros(m)
    if embed is not None:
        t_mean = _unit(np.asarray(embed(list(teacher_answers)), dtype=np.float64).mean(axis=0))
        cosine = np.array([float(_unit(np.asarray(embed(list(a)), dtype=np.float64).mean(axis=0)) @ t_mean)
                           for a in pool_answers])
    measures = [agree[:, 0], agree[:, 1]] + ([cosine] if embed is not None else [])
    ranks = sum(_rank_desc(v) for v in measures)
    chosen = np.lexsort((np.arange(m), ranks))[:k]
    return ControlMatch([int(i) for i in chosen], agree[:, 0].tolist(), agree[:, 1].tolist(), cosine.tolist(), n,
                        list(names))


def _rank_desc(values: np.ndarray) -> np.ndarray:
    """Rank 0 for the largest value; tied values share their mean rank."""
    from scipy.stats import rankdata

    return rankdata(-np.asarray(values, dtype=np.float64), method="average") - 1.0


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x)
    return x / norm if norm > 0 else x
