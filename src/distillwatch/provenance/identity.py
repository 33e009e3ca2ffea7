"""Identity probes: does the suspect, asked who made it, name the teacher (or its maker) more often than
the controls do? Weak evidence: a model trained on web text that mentions the teacher says so too."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import stats as _st

from ..evidence import Evidence

__all__ = ["CAVEAT", "identity_hits", "identity_test"]

NULL = "the suspect names the teacher or its maker in answers to identity probes no more often than the controls do"

CAVEAT = (
    "identity claims are weak evidence: models trained on web text (or on other models' outputs) repeat "
    "names they have seen; never decisive alone"
)


def identity_hits(texts: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Whether each answer names any of `names` (whole words, case-insensitive)."""
    names = [n for n in names if n and n.strip()]
    if not names:
        return np.zeros(len(texts), dtype=bool)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(n.strip()) for n in names) + r")(?!\w)", re.IGNORECASE)
    return np.array([bool(pattern.search(t)) for t in texts], dtype=bool)


def identity_test(suspect_hits: np.ndarray, control_hits: np.ndarray) -> Evidence:
    """One-sided Fisher exact test of the suspect's naming rate against the controls' pooled rate.

    `suspect_hits` (n,) and `control_hits` (m, n) are booleans (`identity_hits`) over the same probes.
    """
    s = np.asarray(suspect_hits, bool).reshape(-1)
    c = np.asarray(control_hits, bool).reshape(-1)
    a, b = int(s.sum()), int(s.size - s.sum())
    cc, dd = int(c.sum()), int(c.size - c.sum())
    if s.size == 0:
        p = 1.0
    else:
        p = float(_st.fisher_exact([[a, b], [cc, dd]], alternative="greater").pvalue)
    rate_s = a / s.size if s.size else 0.0
    rate_c = cc / c.size if c.size else 0.0
    return Evidence(
        test="identity",
        statistic=float(a),
        p_value=min(1.0, p),
        effect_size=float(rate_s - rate_c),
        n=int(s.size),
        method="one-sided Fisher exact test, suspect vs pooled controls",
        null_hypothesis=NULL,
        details={"suspect_rate": rate_s, "control_rate": rate_c, "caveat": CAVEAT,
                 "effect_scale": "naming rate, suspect minus controls"},
    )
