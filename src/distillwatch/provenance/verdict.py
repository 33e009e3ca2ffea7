"""Verdicts: combine the tests' evidence with family-wise error control, over tests and over looks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..evidence import Evidence
from .stats import bonferroni_min, holm

__all__ = ["DECISIVE", "DECISIVE_SERVED", "VERDICTS", "Decision", "combine"]

VERDICTS = ("derived", "no evidence", "inconclusive")
# Tests whose null hypothesis holds for unrelated and sibling suspects: only these can make a verdict
# "derived" by default. The agreement test's holds when the controls resemble the teacher in everything
# but lineage (bench/trace.py); it fails when they do not (bench/trace_zoo.py: a tiny teacher with the
# bundled models as controls called most of the zoo's tiny suspects derived); `trace(matched_controls=K)`
# chooses such controls from a pool (bench/trace_zoo.py --matched 2: 1 of 106 nulls). The served-answer
# test's holds by construction (served and redrawn answers are exchangeable for any suspect that never saw
# the served ones) and is only run when served answers are given. The likelihood, distribution and style tests test
# exchangeability of the suspect with a control, which fixed model pairs violate in either direction
# (their false-positive rates on unrelated pairs were 2-8% at α = 0.01), so by default they are
# supporting evidence: reported, able to make a verdict "inconclusive", never "derived". Identity
# claims are supporting evidence always (see identity.CAVEAT). When served answers are given, the exact
# served-answer test decides alone (DECISIVE_SERVED): the agreement test's null still rests on the
# controls, and on the zoo it made one of 79 unrelated suspects "derived" beside the served test
# (bench/trace_zoo.py --served --matched 2: agreement p = 4e-5 for a SmolLM2 student against a tiny teacher).
DECISIVE = ("agreement", "served")
DECISIVE_SERVED = ("served",)
SUGGESTIVE = 0.2  # a combined p-value below this, short of significance, is "inconclusive", not "no evidence"


@dataclass(frozen=True)
class Decision:
    verdict: str
    p_value: float  # Bonferroni-combined min-p over the decisive tests (the smallest Holm-adjusted p)
    level: float  # the alpha this look was tested at
    holm: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "p_value": self.p_value, "level": self.level, "holm": self.holm}


def combine(evidence: Sequence[Evidence], level: float, *, final: bool = True,
            decisive: Sequence[str] = DECISIVE) -> Decision:
    """Holm over the `decisive` tests at `level`: "derived" when at least one rejects, i.e. the
    Bonferroni-combined min-p is at most `level`. Otherwise "inconclusive" when the evidence is suggestive
    (combined p < 0.2, or a supporting test rejects at `level`) or no decisive test ran, and "no evidence"
    when it is not. `final=False` (an interim look) never answers "no evidence".
    """
    names = set(decisive)
    decisive = [e for e in evidence if e.test in names and np.isfinite(e.p_value)]
    ps = [e.p_value for e in decisive]
    combined = bonferroni_min(ps)
    adjusted = dict(zip([e.test for e in decisive], holm(ps).tolist()))
    if decisive and combined <= level:
        verdict = "derived"
    elif not final:
        verdict = "inconclusive"
    else:
        supporting = [e for e in evidence if e.test not in names and e.p_value <= level]
        weak = not decisive or combined < SUGGESTIVE or bool(supporting)
        verdict = "inconclusive" if weak else "no evidence"
    return Decision(verdict, combined, level, adjusted)
