"""Distribution test: are the suspect's answers closer (in MMD) to the teacher's than each control's own
answers are? A similarity ranking with a permutation p-value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..evidence import Evidence
from .stats import holm, intersection_union, permutation_p

__all__ = ["mmd2", "mmd_test", "rbf_gram"]

NULL = (
    "on each prompt, the suspect's answer and a control's answer are exchangeable (the suspect is no "
    "closer to the teacher than that control is), for some control"
)


def rbf_gram(x: np.ndarray, bandwidth: float | None = None) -> tuple[np.ndarray, float]:
    """Gaussian kernel matrix of the rows of `x`; bandwidth by the median heuristic when not given."""
    x = np.asarray(x, dtype=float)
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    if bandwidth is None:
        off = d2[np.triu_indices_from(d2, 1)]
        bandwidth = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    return np.exp(-d2 / bandwidth), bandwidth


def mmd2(k: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² between index sets `a` and `b` of the Gram matrix `k`."""
    kaa, kbb, kab = k[np.ix_(a, a)], k[np.ix_(b, b)], k[np.ix_(a, b)]
    na, nb = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (na * (na - 1)) + (kbb.sum() - np.trace(kbb)) / (nb * (nb - 1))
                 - 2 * kab.mean())


def mmd_test(suspect: np.ndarray, teacher: np.ndarray, controls: Sequence[np.ndarray], *,
             n_permutations: int = 1000, seed: int = 0, bandwidth: float | None = None) -> Evidence:
    """Per control j: statistic MMD²(C_j, T) − MMD²(S, T) (> 0: the suspect's answers sit closer to the
    teacher's than control j's do); p-value from swapping, prompt by prompt, the suspect's answer with
    control j's; controls combined by intersection-union (max p).

    Rows are answer feature vectors (embeddings, or hashed character n-grams for a string kernel), row i
    of `suspect` and of each control answering the same prompt i. One Gaussian kernel (median-heuristic
    bandwidth over all answers) serves every comparison.
    """
    xs, xt = np.asarray(suspect, float), np.asarray(teacher, float)
    xcs = [np.asarray(c, float) for c in controls]
    n, nt = len(xs), len(xt)
    k, bw = rbf_gram(np.vstack([xs, xt, *xcs]), bandwidth)
    s_idx, t_idx = np.arange(n), np.arange(n, n + nt)
    rng = np.random.default_rng(seed)
    dist = {"suspect": mmd2(k, s_idx, t_idx)}
    stats, ps = [], []
    for j in range(len(xcs)):
        c_idx = np.arange(n + nt + j * n, n + nt + (j + 1) * n)
        dist[f"control{j}"] = mmd2(k, c_idx, t_idx)
        observed, null = _swap_permutation(k, s_idx, c_idx, t_idx, n_permutations, rng)
        stats.append(observed)
        ps.append(permutation_p(observed, null))
    p = intersection_union(ps)
    worst = int(np.argmax(ps))
    ref = dist[f"control{worst}"]
    return Evidence(
        test="distribution",
        statistic=float(stats[worst]),
        p_value=float(p),
        effect_size=float(stats[worst] / ref) if ref > 1e-12 else 0.0,
        n=int(n),
        method="MMD² to the teacher, suspect vs each control, Gaussian kernel (median heuristic), "
               "within-prompt swap permutation, intersection-union over controls",
        null_hypothesis=NULL,
        details={
            "mmd2_to_teacher": dist,
            "statistic_by_control": stats,
            "p_by_control": ps,
            "holm_by_control": holm(ps).tolist(),
            "bandwidth": bw,
            "effect_scale": "(MMD²(C,T) − MMD²(S,T)) / MMD²(C,T), weakest control",
        },
    )


def _swap_permutation(k, s_idx, c_idx, t_idx, n_permutations, rng):
    """Observed and permuted MMD²(C,T) − MMD²(S,T) = k̄_CC − k̄_SS − 2(k̄_CT − k̄_ST), vectorised.

    The pool is [suspect rows, control rows]; a permutation swaps the pair (i, n+i) for a random subset
    of prompts. The k̄_TT term cancels.
    """
    n = len(s_idx)
    pool = np.r_[s_idx, c_idx]
    kpp = k[np.ix_(pool, pool)].copy()
    np.fill_diagonal(kpp, 0.0)
    kpt = k[np.ix_(pool, t_idx)].mean(1)
    swap = rng.integers(0, 2, size=(n_permutations + 1, n)).astype(float)
    swap[0] = 0.0
    u = np.hstack([1 - swap, swap])  # rows playing "suspect"
    v = 1 - u
    norm = n * (n - 1)
    ss = np.einsum("bi,ij,bj->b", u, kpp, u) / norm
    cc = np.einsum("bi,ij,bj->b", v, kpp, v) / norm
    stat = cc - ss - 2 * (v @ kpt - u @ kpt) / n
    return float(stat[0]), stat[1:]
