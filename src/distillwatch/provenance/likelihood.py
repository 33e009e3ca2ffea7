"""Likelihood test: does the suspect prefer the teacher's answers over the controls' answers to the same
prompts more often than a reference model unrelated to both does?"""

from __future__ import annotations

import numpy as np

from ..evidence import Evidence
from .stats import holm, intersection_union, mcnemar_greater

__all__ = ["likelihood_test", "per_character"]

NULL = (
    "per prompt, the suspect and the reference model are exchangeable in which of the teacher's and a "
    "control's answers they find more likely (per character), for some control"
)


def per_character(scores, answers) -> np.ndarray:
    """Log-likelihood of each answer per character, from a model's `score` results (None or empty: NaN).

    Per character, not per token: two answers, or two models with different tokenizers, cut text into
    tokens of different lengths, and a tokenizer fitted to one model's text cuts it into fewer, less
    predictable tokens."""
    return np.array([float(np.sum(s.logprobs)) / max(1, len(a)) if s is not None and s.logprobs else np.nan
                     for s, a in zip(scores, answers)])


def likelihood_test(suspect_diff: np.ndarray, reference_diff: np.ndarray | None = None) -> Evidence:
    """Exact paired sign test per control, combined by intersection-union (max p).

    `suspect_diff` (n, m): the suspect's log-probability per character of the teacher's answer to prompt
    i minus that of control j's answer. `reference_diff` (n, m): the same differences under a reference
    model that is neither the suspect, the teacher nor control j (e.g. another control). Prompts where
    exactly one of the two prefers the teacher's answer are discordant; under the null each direction is
    equally likely (exact McNemar). Signs, not magnitudes, so a sharper model is not favoured. Without a
    reference, the null is that the suspect prefers either answer with probability 1/2 (sign test).
    """
    s = np.asarray(suspect_diff, dtype=float)
    s = s.reshape(len(s), -1)
    r = np.zeros_like(s) if reference_diff is None else np.asarray(reference_diff, float).reshape(s.shape)
    keep = np.all(np.isfinite(s) & np.isfinite(r), axis=1)
    s, r = s[keep], r[keep]
    s_pref, r_pref = s > 0, r > 0
    if reference_diff is None:
        r_pref = np.zeros_like(s_pref)
        r_against = np.zeros_like(s_pref)
    else:
        r_against = r < 0
    ps, b_all, c_all = [], [], []
    for j in range(s.shape[1]):
        if reference_diff is None:
            b, c = int(np.sum(s[:, j] > 0)), int(np.sum(s[:, j] < 0))
        else:
            b = int(np.sum(s_pref[:, j] & r_against[:, j]))
            c = int(np.sum((s[:, j] < 0) & r_pref[:, j]))
        b_all.append(b)
        c_all.append(c)
        ps.append(mcnemar_greater(b, c))
    n = int(s.shape[0])
    p = intersection_union(ps)
    worst = int(np.argmax(ps)) if ps else 0
    rate = lambda a: float(np.mean(a)) if a.size else 0.0
    effect = (b_all[worst] - c_all[worst]) / n if n else 0.0
    return Evidence(
        test="likelihood",
        statistic=float(b_all[worst] - c_all[worst]) if ps else 0.0,
        p_value=float(p),
        effect_size=float(effect),
        n=n,
        method="exact McNemar on which answer (teacher's or control's) is more likely per character, suspect vs "
               + ("reference model" if reference_diff is not None else "a fair coin")
               + ", intersection-union over controls",
        null_hypothesis=NULL,
        details={
            "suspect_prefers_teacher": [rate(s_pref[:, j]) for j in range(s.shape[1])],
            "reference_prefers_teacher": [rate(r_pref[:, j]) for j in range(s.shape[1])]
            if reference_diff is not None else None,
            "mean_suspect_diff": [float(s[:, j].mean()) if n else 0.0 for j in range(s.shape[1])],
            "discordant_for_teacher": b_all,
            "discordant_against": c_all,
            "p_by_control": ps,
            "holm_by_control": holm(ps).tolist(),
            "dropped_non_finite": int((~keep).sum()),
            "effect_scale": "(discordant for teacher − against) / prompts, weakest control",
        },
    )
