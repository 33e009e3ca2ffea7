"""Exact tail probabilities for watermark scores, and a family-wise correction across keys."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["binomial_p_value", "binomial_z", "weighted_binomial_p_value", "gamma_p_value", "gamma_z", "bonferroni"]

_NEGLIGIBLE = 1e-40  # binomial terms below this are dropped: p-values are exact to about 1e-35


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


def weighted_binomial_p_value(weights, statistic: float, gamma: float) -> float:
    """P[sum_j w_j B_j >= S] for independent B_j ~ Bernoulli(gamma) and positive integer weights w_j.

    Null hypothesis: as for `binomial_p_value` (each distinct scored pair is green independently with
    probability gamma); the weights must not depend on the key. The distribution is built exactly:
    the pairs of each weight v form a binomial, scaled by v, and these are convolved (terms below
    1e-40 are dropped, so the p-value is exact to about 1e-35). All weights 1 is the binomial test.
    """
    w = np.asarray(weights, dtype=np.int64).ravel()
    if w.size == 0:
        return 1.0
    if w.min() < 1:
        raise ValueError("weights must be positive integers")
    values, counts = np.unique(w, return_counts=True)
    pmf = np.ones(1)
    for v, n in zip(values.tolist(), counts.tolist()):
        terms = stats.binom.pmf(np.arange(n + 1), n, gamma)
        keep = np.flatnonzero(terms > _NEGLIGIBLE)
        out = np.zeros(pmf.size + v * n)
        for k in keep.tolist():  # one shifted copy per likely binomial count (the tails are negligible)
            out[v * k : v * k + pmf.size] += terms[k] * pmf
        pmf = out
    start = max(0, int(np.ceil(statistic - 1e-9)))
    return float(min(1.0, pmf[start:].sum()))


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
