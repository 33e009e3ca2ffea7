"""Agreement test: does the suspect's greedy answer start like the teacher's more often than like every
control's? Plus adaptive choice of probe prompts where the candidates disagree."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..evidence import Evidence
from .stats import holm, intersection_union, mcnemar_greater

__all__ = ["agreement_test", "prefix_keys", "select_probes"]

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)

NULL = (
    "on the probe prompts, the suspect's answer prefix matches the teacher's no more often than it "
    "matches some control's (discordant pairs equally likely), at every prefix length"
)


def prefix_keys(texts: Sequence[str], lengths: Sequence[int] = (1, 8)) -> np.ndarray:
    """(n, len(lengths)) array of answer prefixes: the first k words/punctuation marks, lower-cased.

    Text-level units (not tokenizer ids) so that models with different tokenizers can be compared.
    """
    rows = []
    for t in texts:
        words = _WORD.findall(t.lower())
        rows.append([" ".join(words[:k]) for k in lengths])
    return np.array(rows, dtype=object).reshape(len(rows), len(lengths))


def select_probes(candidate_keys: np.ndarray, n: int, rng: np.random.Generator,
                  exclude: Sequence[int] = ()) -> np.ndarray:
    """Indices of `n` pool prompts where the candidates' answers disagree most.

    `candidate_keys` is (n_candidates, pool) of answer keys (e.g. `prefix_keys(...)[:, -1]` per
    candidate). Prompts are ranked by the number of distinct candidate answers (all-equal prompts carry
    no information about which candidate the suspect follows), ties broken at random. The choice looks at
    the candidates only, never at the suspect.
    """
    keys = np.asarray(candidate_keys, dtype=object)
    pool = keys.shape[1]
    distinct = np.array([len(set(keys[:, i])) for i in range(pool)], dtype=float)
    distinct[list(exclude)] = -np.inf
    order = np.lexsort((rng.random(pool), -distinct))
    available = pool - len(set(exclude))
    return np.sort(order[: min(n, available)])


def agreement_test(suspect: np.ndarray, teacher: np.ndarray, controls: Sequence[np.ndarray], *,
                   names: Sequence[str] | None = None) -> Evidence:
    """Exact paired (McNemar) agreement test of "suspect follows the teacher more than every control".

    Arrays hold answer keys, shape (n_prompts,) or (n_prompts, n_levels) with one column per prefix
    length (`prefix_keys`). For each level and control, discordant prompts (suspect matches exactly one
    of teacher/control) give an exact one-sided binomial p-value; the controls are combined by the
    intersection-union test (max p: "more than *every* control") and the levels by Bonferroni.
    Holm-adjusted per-control p-values are in `details`.
    """
    s = _as2d(suspect)
    t = _as2d(teacher)
    cs = [_as2d(c) for c in controls]
    if not cs:
        raise ValueError("the agreement test needs at least one control")
    n, levels = s.shape
    names = list(names) if names is not None else ["teacher"] + [f"control{j}" for j in range(len(cs))]
    agree_t = s == t
    agree_c = [s == c for c in cs]
    rates = {names[0]: agree_t.mean(0).tolist() if n else [0.0] * levels}
    p_level, per_control, stat_level = [], [], []
    for lev in range(levels):
        ps, diffs = [], []
        for ac in agree_c:
            b = int(np.count_nonzero(agree_t[:, lev] & ~ac[:, lev]))
            c = int(np.count_nonzero(ac[:, lev] & ~agree_t[:, lev]))
            ps.append(mcnemar_greater(b, c))
            diffs.append((b - c) / n if n else 0.0)
        per_control.append(ps)
        p_level.append(intersection_union(ps))
        stat_level.append(min(diffs))
    for j, ac in enumerate(agree_c):
        rates[names[j + 1]] = ac.mean(0).tolist() if n else [0.0] * levels
    best = int(np.argmin(p_level))
    p = float(min(1.0, levels * p_level[best]))
    effect = stat_level[-1]
    return Evidence(
        test="agreement",
        statistic=float(stat_level[best]),
        p_value=p,
        effect_size=float(effect),
        n=int(n),
        method="exact McNemar per control, intersection-union over controls, Bonferroni over prefix lengths",
        null_hypothesis=NULL,
        details={
            "agreement_rates": rates,
            "p_by_level_and_control": per_control,
            "holm_by_level": [holm(ps).tolist() for ps in per_control],
            "best_level": best,
            "effect_scale": "agreement(teacher) - max agreement(control), longest prefix",
        },
    )


def _as2d(a) -> np.ndarray:
    a = np.asarray(a, dtype=object)
    return a.reshape(-1, 1) if a.ndim == 1 else a
