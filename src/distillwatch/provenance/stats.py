"""Small statistical building blocks shared by the provenance tests: multiplicity corrections, exact
paired tests, permutation p-values and alpha spending. Pure functions over arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as _st

__all__ = [
    "bonferroni_min",
    "holm",
    "intersection_union",
    "mcnemar_greater",
    "permutation_p",
    "sign_flip_p",
    "spending_weights",
    "two_proportion_test",
    "wilson_interval",
]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (strong family-wise error control, any dependence)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def bonferroni_min(p_values: Sequence[float]) -> float:
    """min(1, m · min p): a valid p-value for "at least one null is false" (equals the smallest Holm one)."""
    p = np.asarray(p_values, dtype=float)
    return float(min(1.0, p.size * p.min())) if p.size else 1.0


def intersection_union(p_values: Sequence[float]) -> float:
    """max p: a valid p-value for "every null is false" (the intersection-union test needs no correction)."""
    p = np.asarray(p_values, dtype=float)
    return float(p.max()) if p.size else 1.0


def mcnemar_greater(b: int, c: int) -> float:
    """Exact one-sided McNemar p-value: P(X >= b) for X ~ Binomial(b + c, 1/2).

    `b` counts paired units where only the first condition holds, `c` those where only the second does;
    the null is that both kinds of discordant pair are equally likely.
    """
    n = int(b) + int(c)
    if n == 0:
        return 1.0
    return float(_st.binom.sf(int(b) - 1, n, 0.5))


def permutation_p(observed: float, null_stats: np.ndarray) -> float:
    """(1 + #{null >= observed}) / (1 + B): valid (slightly conservative) for B random permutations."""
    null_stats = np.asarray(null_stats, dtype=float)
    tol = 1e-12 * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(null_stats >= observed - tol)) / (1 + null_stats.size))


def sign_flip_p(d: np.ndarray, n_permutations: int, rng: np.random.Generator) -> tuple[float, float]:
    """One-sided sign-flip permutation test of mean(d) > 0; returns (mean, p).

    Null: the paired differences `d` are symmetric about 0 (independent across units). Exact
    enumeration for up to 12 units, random sign flips otherwise.
    """
    d = np.asarray(d, dtype=float)
    n = d.size
    if n == 0:
        return 0.0, 1.0
    observed = float(d.mean())
    if n <= 12:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        null = signs @ d / n
        tol = 1e-12 * max(1.0, abs(observed))
        return observed, float(np.count_nonzero(null >= observed - tol) / null.size)
    signs = rng.integers(0, 2, size=(n_permutations, n), dtype=np.int8) * 2 - 1
    null = signs @ d / n
    return observed, permutation_p(observed, null)


def spending_weights(n_rounds: int, rho: float = 2.0) -> np.ndarray:
    """Share of alpha spent at each of `n_rounds` equally spaced looks, from the power family
    α(t) = α·t^ρ; the weights sum to 1 and a round-r test at level w_r·α keeps the overall error ≤ α
    (a union bound over looks, valid for any dependence between them)."""
    t = np.arange(n_rounds + 1) / n_rounds
    return np.diff(t**rho)


def wilson_interval(k: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k/n (elementwise); (0, 1) where n is 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = _st.norm.ppf(0.5 + confidence / 2)
    safe = np.where(n > 0, n, 1.0)
    p = k / safe
    centre = (p + z * z / (2 * safe)) / (1 + z * z / safe)
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe)) / (1 + z * z / safe)
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    return lo, hi


def two_proportion_test(k1: int, n1: int, k2: int, n2: int, alternative: str = "greater") -> tuple[float, float]:
    """Pooled two-proportion z-test of p1 = p2; returns (z, p).

    Null: both samples are Bernoulli draws with one common rate. `alternative` is "greater" (p1 > p2),
    "less" or "two-sided". With no observations, or a pooled rate of 0 or 1 (nothing varies), z is 0
    and p is 1 (one-sided) — no evidence either way.
    """
    if alternative not in {"greater", "less", "two-sided"}:
        raise ValueError(f"alternative must be greater, less or two-sided, got {alternative!r}")
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (k1 + k2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 0.0, 1.0
    z = (k1 / n1 - k2 / n2) / np.sqrt(var)
    if alternative == "greater":
        p = _st.norm.sf(z)
    elif alternative == "less":
        p = _st.norm.cdf(z)
    else:
        p = 2 * _st.norm.sf(abs(z))
    return float(z), float(min(1.0, p))
