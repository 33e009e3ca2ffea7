"""Style vs substance: does the suspect sound like the reference without being as right?

Imitation models copy a teacher's manner far better than its knowledge (Gudibande et al., 2023). We
put the two side by side on the same prompts:

- style: cosine similarity of the suspect's and the reference's answers to the same prompt (MiniLM
  sentence embeddings), against the similarity of the suspect's answer to the reference's answers to
  other prompts. Test: H0 — the suspect's answer is no closer to the reference's answer to the same
  prompt than to its answers to other prompts (one-sided sign-flip test over prompts of
  same-prompt minus mean other-prompt similarity).
- substance: accuracy on the fresh items of the generalization-gap test (items that cannot have
  leaked), suspect vs reference, per task family; exact one-sided McNemar test of "the suspect is
  right less often than the reference" over paired items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..evidence import Evidence
from ..provenance.stats import mcnemar_greater, sign_flip_p

__all__ = ["StyleSubstance", "style_similarity", "style_vs_substance"]


def style_similarity(suspect_texts: Sequence[str], reference_texts: Sequence[str], embedder, *,
                     seed: int = 0, n_permutations: int = 10_000) -> tuple[np.ndarray, np.ndarray, Evidence]:
    """Per prompt: similarity of the two models' answers (`same`) and the mean similarity of the
    suspect's answer to the reference's answers to the other prompts (`other`), with the test above."""
    a = embedder.embed(list(suspect_texts))
    b = embedder.embed(list(reference_texts))
    sims = a @ b.T
    n = len(sims)
    same = np.diag(sims).copy()
    other = (sims.sum(1) - same) / max(n - 1, 1)
    mean_d, p = sign_flip_p(same - other, n_permutations, np.random.default_rng(seed))
    ev = Evidence(
        test="style_closeness", statistic=mean_d, p_value=p, effect_size=float(same.mean()), n=n,
        method=f"one-sided sign-flip permutation test over prompts ({embedder.name})",
        null_hypothesis=("the suspect's answer is no closer to the reference's answer to the same prompt "
                         "than to its answers to other prompts"),
        details={"mean_same_prompt_similarity": float(same.mean()), "mean_other_prompt_similarity": float(other.mean()),
                 "effect_scale": "mean cosine similarity of answers to the same prompt"},
    )
    return same, other, ev


@dataclass
class StyleSubstance:
    style: Evidence
    substance: Evidence
    per_family: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"style": self.style.to_dict(), "substance": self.substance.to_dict(), "per_family": self.per_family}


def style_vs_substance(families: Sequence[str], same: np.ndarray, other: np.ndarray, style: Evidence,
                       suspect_correct: np.ndarray, reference_correct: np.ndarray) -> StyleSubstance:
    """Combine per-prompt style similarities with per-item correctness (arrays aligned by item, each
    item's question being the prompt both models answered)."""
    fam = np.asarray(families)
    s, r = np.asarray(suspect_correct, bool), np.asarray(reference_correct, bool)
    b, c = int(np.sum(r & ~s)), int(np.sum(s & ~r))
    substance = Evidence(
        test="substance_loss", statistic=float(b - c), p_value=mcnemar_greater(b, c),
        effect_size=float(r.mean() - s.mean()) if s.size else 0.0, n=int(s.size),
        method="exact one-sided McNemar test over paired fresh items",
        null_hypothesis="on items where exactly one model is right, it is equally likely to be either model",
        details={"suspect_accuracy": float(s.mean()) if s.size else 0.0,
                 "reference_accuracy": float(r.mean()) if r.size else 0.0,
                 "only_reference_right": b, "only_suspect_right": c,
                 "effect_scale": "reference accuracy - suspect accuracy"},
    )
    rows = []
    for f in sorted(set(fam.tolist())):
        m = fam == f
        rows.append({"family": f, "n": int(m.sum()), "style_similarity": float(same[m].mean()),
                     "chance_similarity": float(other[m].mean()),
                     "suspect_accuracy": float(s[m].mean()), "reference_accuracy": float(r[m].mean())})
    return StyleSubstance(style, substance, rows)
