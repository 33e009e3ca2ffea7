"""Generalization gap: does the suspect do better on items that may have leaked into its training than
on fresh twins of them, by more than the reference model does?

Each option of an item is scored teacher-forced as the assistant's reply to the question (the sum of
its token log-probabilities); the model's probability on the right option is the softmax over options.
Per pair, gap = P(right | public) - P(right | fresh). The test is paired over pairs:

    H0: the per-pair difference d = gap_suspect - gap_reference is symmetric about 0
        (the suspect gains no more from an item being public than the reference does);
    H1: mean d > 0.

For generated task families the public member of each pair is chosen by a coin, so without a leak
both gaps are themselves symmetric and the sign-flip p-value is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..evidence import Evidence
from ..provenance.stats import sign_flip_p
from .items import Item, ItemPair

__all__ = ["GapResult", "ModelItemScores", "generalization_gap", "score_items"]

NULL = ("the per-pair difference between the suspect's and the reference's public-minus-fresh gap is "
        "symmetric about 0 (no extra gain on the items that may have leaked)")


@dataclass
class ModelItemScores:
    """One model's answers to a list of items: `p_right` (probability on the right option, softmax over
    the options' summed log-probabilities; NaN where an item did not fit the model's context) and
    `correct` (the right option scored highest)."""

    model: str
    p_right: np.ndarray
    correct: np.ndarray
    chosen: np.ndarray


def score_items(model, items: Sequence[Item], *, progress: bool = False) -> ModelItemScores:
    """Score every option of every item under `model` (one batched `score` call)."""
    requests, owner = [], []
    for i, it in enumerate(items):
        prompt = [{"role": "user", "content": it.question}]
        for opt in it.options:
            requests.append((prompt, opt))
            owner.append(i)
    try:
        totals = np.array([s.total for s in model.score(requests, progress=progress)], dtype=float)
    except InputError:  # some item is too long for this model: score one by one, NaN for those
        totals = np.array([_total_or_nan(model, it) for it in requests], dtype=float)
    width = max((len(it.options) for it in items), default=1)
    table = np.full((len(items), width), -np.inf)
    offsets = np.cumsum([0] + [len(it.options) for it in items])
    for i, it in enumerate(items):  # per item, not per token: a handful of options each
        table[i, : len(it.options)] = totals[offsets[i]: offsets[i + 1]]
    answers = np.array([it.answer for it in items], dtype=int)
    ok = ~np.isnan(table).any(1)
    table[~ok] = 0.0
    shifted = table - table.max(1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(1, keepdims=True)
    chosen = table.argmax(1)
    p_right = np.where(ok, probs[np.arange(len(items)), answers], np.nan)
    return ModelItemScores(getattr(model, "model_id", str(model)), p_right, (chosen == answers) & ok, chosen)


def _total_or_nan(model, item) -> float:
    try:
        return model.score([item])[0].total
    except InputError:
        return float("nan")


@dataclass
class GapResult:
    suspect: str
    reference: str
    n_pairs: int
    accuracy: dict[str, dict[str, float]]          # "suspect"/"reference" -> {"public": acc, "fresh": acc, ...}
    mean_gap: dict[str, float]                     # "suspect"/"reference" -> mean P(right) gap
    evidence: Evidence                             # suspect gap > reference gap
    suspect_gap: Evidence                          # suspect gap > 0
    per_family: dict[str, dict[str, float]] = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"suspect": self.suspect, "reference": self.reference, "n_pairs": self.n_pairs,
                "accuracy": self.accuracy, "mean_gap": self.mean_gap, "evidence": self.evidence.to_dict(),
                "suspect_gap": self.suspect_gap.to_dict(), "per_family": self.per_family, "pairs": self.pairs}


def generalization_gap(suspect, reference, pairs: Sequence[ItemPair], *, seed: int = 0,
                       n_permutations: int = 10_000, progress: bool = False,
                       scores: tuple[ModelItemScores, ModelItemScores] | None = None) -> GapResult:
    """Compare the suspect's public-vs-fresh gap with the reference's on the same pairs.

    `scores` passes precomputed (suspect, reference) `score_items` results over
    `[p.public for p in pairs] + [p.fresh for p in pairs]`, so callers can reuse them.
    """
    if not pairs:
        raise ValueError("generalization_gap needs at least one item pair")
    items = [p.public for p in pairs] + [p.fresh for p in pairs]
    s_scores, r_scores = scores or (score_items(suspect, items, progress=progress),
                                    score_items(reference, items, progress=progress))
    n = len(pairs)
    usable = ~np.isnan(np.stack([sc.p_right[:n] + sc.p_right[n:] for sc in (s_scores, r_scores)])).any(0)
    if not usable.all():  # pairs that did not fit a model's context leave the comparison
        keep = np.concatenate([usable, usable])
        pairs = [p for p, ok in zip(pairs, usable) if ok]
        s_scores, r_scores = (ModelItemScores(sc.model, sc.p_right[keep], sc.correct[keep], sc.chosen[keep])
                              for sc in (s_scores, r_scores))
        n = len(pairs)
        if n == 0:
            raise InputError("no item pair fits both models' contexts")
    acc = {}
    for role, sc in (("suspect", s_scores), ("reference", r_scores)):
        acc[role] = {"public": float(sc.correct[:n].mean()), "fresh": float(sc.correct[n:].mean()),
                         "p_right_public": float(sc.p_right[:n].mean()), "p_right_fresh": float(sc.p_right[n:].mean())}
    s_gap, r_gap = s_scores.p_right[:n] - s_scores.p_right[n:], r_scores.p_right[:n] - r_scores.p_right[n:]
    rng = np.random.default_rng(seed)
    d = s_gap - r_gap
    mean_d, p = sign_flip_p(d, n_permutations, rng)
    mean_s, p_s = sign_flip_p(s_gap, n_permutations, rng)
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    evidence = Evidence(
        test="generalization_gap", statistic=mean_d, p_value=p, effect_size=mean_d / d.std(ddof=1) if n > 1 and d.std() > 0 else 0.0,
        n=n, method=f"one-sided paired sign-flip permutation test over item pairs ({n_permutations} flips)",
        null_hypothesis=NULL,
        details={"mean_difference_of_gaps": mean_d, "standard_error": se,
                 "suspect_mean_gap": float(s_gap.mean()), "reference_mean_gap": float(r_gap.mean()),
                 "pairs_left_out_too_long": int((~usable).sum()),
                 "effect_scale": "mean d / sd(d)"},
    )
    suspect_gap = Evidence(
        test="suspect_gap", statistic=mean_s, p_value=p_s, effect_size=float(s_gap.mean()), n=n,
        method="one-sided sign-flip permutation test of the suspect's own public-minus-fresh gap",
        null_hypothesis="the suspect's public-minus-fresh difference is symmetric about 0",
        details={},
    )
    families = sorted({p.public.family for p in pairs})
    fam = np.array([p.public.family for p in pairs])
    per_family = {
        f: {"pairs": int((fam == f).sum()),
            "suspect_public": float(s_scores.correct[:n][fam == f].mean()),
            "suspect_fresh": float(s_scores.correct[n:][fam == f].mean()),
            "reference_public": float(r_scores.correct[:n][fam == f].mean()),
            "reference_fresh": float(r_scores.correct[n:][fam == f].mean()),
            "mean_difference_of_gaps": float(d[fam == f].mean())}
        for f in families
    }
    rows = [{"public": p.public.id, "fresh": p.fresh.id, "family": p.public.family,
             "suspect_gap": float(s_gap[k]), "reference_gap": float(r_gap[k])} for k, p in enumerate(pairs)]
    return GapResult(s_scores.model, r_scores.model, n, acc,
                     {"suspect": float(s_gap.mean()), "reference": float(r_gap.mean())},
                     evidence, suspect_gap, per_family, rows)
