"""Exact tail probabilities for watermark scores, and a family-wise correction across keys."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["binomial_p_value", "binomial_z", "gamma_p_value", "gamma_z", "bonferroni"]


def binomial_p_value(num_green, num_scored, gamma) -> np.ndarray | float:
    """P[Bin(T, gamma) >= G], exact (vectorized; 1.0 where T == 0).

    Null hypothesis: the T scored (context, token) pairs are distinct and the text was written
    without knowledge of the key, so each scored token is green independently with probability
    gamma (the green-list fraction int(V * gamma) / V).
    """
    g = np.asarray(num_green, dtype=np.float64)
    t = np.asarray(num_scored, dtype=np.float64)
    p = np.where(t > 0, stats.binom.sf(g - 1, np.maximum(t, 1), gamma), 1.0)
    return float(p) if p.ndim == 0 else p


def binomial_z(num_green, num_scored, gamma) -> np.ndarray | float:
    """(G - gamma T) / sqrt(T gamma (1 - gamma)), the reference detector's z-score; nan where T == 0."""
    g = np.asarray(num_green, dtype=np.float64)
    t = np.asarray(num_scored, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(t > 0, (g - gamma * t) / np.sqrt(t * gamma * (1.0 - gamma)), np.nan)
    return float(z) if z.ndim == 0 else z


def gamma_p_value(total_score, num_scored) -> np.ndarray | float:
    """P[Gamma(n, 1) >= S], exact (vectorized; 1.0 where n == 0).

    Null hypothesis: the n scored (context, token) pairs are distinct and the text was written
    without knowledge of the key, so each per-token score -log(1 - u) is an independent Exp(1)
    variable and their sum S is Gamma(n, 1).
    """
    s = np.asarray(total_score, dtype=np.float64)
    n = np.asarray(num_scored, dtype=np.float64)
    p = np.where(n > 0, stats.gamma.sf(s, np.maximum(n, 1)), 1.0)
    return float(p) if p.ndim == 0 else p


def gamma_z(total_score, num_scored) -> np.ndarray | float:
    """(S - n) / sqrt(n): the Gumbel score standardised under its null; nan where n == 0."""
    s = np.asarray(total_score, dtype=np.float64)
    n = np.asarray(num_scored, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(n > 0, (s - n) / np.sqrt(n), np.nan)
    return float(z) if z.ndim == 0 else z


def bonferroni(p_values) -> np.ndarray:
    """Bonferroni-adjusted p-values, min(1, m p), for m tests (e.g. m candidate keys).

    Rejecting where the adjusted p-value is below alpha controls the family-wise error rate at
    alpha under any dependence between the tests; min(adjusted) tests the global null "none of the
    m keys watermarked this text".
    """
    p = np.asarray(p_values, dtype=np.float64)
    return np.minimum(1.0, p * p.size)
