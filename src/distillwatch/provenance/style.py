"""Style classifier test: a classifier trained to tell the teacher's answers from controls' — are the
suspect's answers classified as the teacher's more often than an outsider control's answers are?"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..evidence import Evidence
from .stats import holm, intersection_union, mcnemar_greater

__all__ = ["LEXICAL_FEATURES", "fit_logistic", "lexical_features", "style_test"]

NULL = (
    "on each prompt the suspect's answer is exchangeable with a control's answer to it (the suspect "
    "looks no more like the teacher than that control does), for some control"
)

LEXICAL_FEATURES = (
    "log_chars", "log_words", "mean_word_len", "type_token_ratio", "exclamations", "questions",
    "commas", "colons", "uppercase_share", "digit_share", "newlines", "first_word_cap",
)
_WORDS = re.compile(r"\w+", re.UNICODE)


def lexical_features(texts: Sequence[str]) -> np.ndarray:
    """(n, 12) surface features of each answer (see `LEXICAL_FEATURES`), rates per character."""
    rows = []
    for t in texts:
        words = _WORDS.findall(t)
        nc = max(len(t), 1)
        rows.append([
            np.log1p(len(t)), np.log1p(len(words)),
            np.mean([len(w) for w in words]) if words else 0.0,
            len({w.lower() for w in words}) / len(words) if words else 0.0,
            t.count("!") / nc * 100, t.count("?") / nc * 100, t.count(",") / nc * 100,
            t.count(":") / nc * 100, sum(ch.isupper() for ch in t) / nc, sum(ch.isdigit() for ch in t) / nc,
            t.count("\n") / nc * 100, float(bool(words) and words[0][:1].isupper()),
        ])
    return np.asarray(rows, dtype=float).reshape(len(rows), len(LEXICAL_FEATURES))


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, l2: float = 1.0,
                 iterations: int = 25) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """L2-regularised (weighted) logistic regression by Newton's method on standardised features.

    The intercept is penalised too (lightly: features are standardised and classes balanced by the
    caller), which lets each Newton step be solved in the dual when features outnumber rows (Woodbury).
    Returns (coef, intercept, mean, scale); the decision function is ((x - mean) / scale) @ coef + intercept.
    """
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.ones(len(x)) if weights is None else np.asarray(weights, float)
    n, d = z.shape
    beta = np.zeros(d)
    for _ in range(iterations):
        prob = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (prob - y)) + l2 * beta
        h = w * prob * (1 - prob) + 1e-12
        if d > n:  # (λI + ZᵀHZ)⁻¹g = (g − Aᵀ(λI + AAᵀ)⁻¹Ag)/λ with A = H^½Z
            a = np.sqrt(h)[:, None] * z
            step = (grad - a.T @ np.linalg.solve(l2 * np.eye(n) + a @ a.T, a @ grad)) / l2
        else:
            step = np.linalg.solve((z * h[:, None]).T @ z + l2 * np.eye(d), grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return beta[:-1], float(beta[-1]), mean, scale


def style_test(suspect: np.ndarray, teacher: np.ndarray, controls: np.ndarray, *, l2: float = 1.0,
               seed: int = 0) -> Evidence:
    """Is the suspect classified as the teacher more often than an outsider control is?

    `suspect` and `teacher` are (n, d) answer features, `controls` (m, n, d), row i answering prompt i
    (features: sentence embeddings plus `lexical_features`). For each control j, a logistic classifier
    learns the teacher's answers (1) against the *other* controls' answers (0), so that the suspect and
    control j are both outsiders to it; it classifies both answers to every prompt. Discordant prompts
    (exactly one of the two classified as the teacher's) give an exact McNemar p-value. Decisions, not
    probabilities: a garbled answer drifts towards P = 1/2 and would look "more like the teacher" than a
    fluent control answer at P ≈ 0. Controls are combined by intersection-union (max p).
    With a single control the classifier learns teacher vs that control on half the prompts and scores
    the other half (cross-fitted), which tests the weaker null "the suspect writes like the control".
    """
    xs, xt = np.asarray(suspect, float), np.asarray(teacher, float)
    xc = np.asarray(controls, float)
    if xc.ndim == 2:
        xc = xc[None]
    m, n = xc.shape[0], xs.shape[0]
    rng = np.random.default_rng(seed)
    ps, stats, shares_s, shares_c, acc = [], [], [], [], []
    for j in range(m):
        others = [k for k in range(m) if k != j] or [j]
        folds = [np.arange(n)] if m > 1 else np.array_split(rng.permutation(n), 2)
        p_s, p_c, p_t = np.zeros(n), np.zeros(n), np.zeros(n)
        for held in folds:
            train = np.arange(n) if m > 1 else np.setdiff1d(np.arange(n), held)
            neg = xc[others][:, train].reshape(-1, xt.shape[1])
            x = np.vstack([xt[train], neg])
            y = np.r_[np.ones(len(train)), np.zeros(len(neg))]
            w = np.r_[np.full(len(train), len(neg) / max(len(train), 1)), np.ones(len(neg))]
            coef, b, mu, sd = fit_logistic(x, y, w, l2=l2)
            p_s[held], p_c[held], p_t[held] = (
                _predict(a, coef, b, mu, sd) for a in (xs[held], xc[j, held], xt[held])
            )
        b = int(np.sum((p_s > 0.5) & (p_c <= 0.5)))
        c = int(np.sum((p_c > 0.5) & (p_s <= 0.5)))
        stats.append(float(b - c))
        ps.append(mcnemar_greater(b, c))
        shares_s.append(float((p_s > 0.5).mean()))
        shares_c.append(float((p_c > 0.5).mean()))
        acc.append(float((p_t > 0.5).mean()))
    p = intersection_union(ps)
    worst = int(np.argmax(ps))
    return Evidence(
        test="style",
        statistic=stats[worst],
        p_value=p,
        effect_size=shares_s[worst] - shares_c[worst],
        n=int(n),
        method="L2 logistic classifier, teacher vs the other controls, classifying the suspect's and the "
               "held-out control's answers; exact McNemar on discordant prompts; intersection-union over controls",
        null_hypothesis=NULL,
        details={
            "share_suspect_classified_teacher": shares_s,
            "share_control_classified_teacher": shares_c,
            "share_teacher_classified_teacher": acc,
            "statistic_by_control": stats,
            "statistic_scale": "discordant prompts for the teacher minus against",
            "p_by_control": ps,
            "holm_by_control": holm(ps).tolist(),
            "effect_scale": "share of suspect answers classified as the teacher's minus the held-out "
                            "control's share, weakest control",
        },
    )


def _predict(x: np.ndarray, coef: np.ndarray, intercept: float, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(((x - mean) / scale) @ coef + intercept, -30, 30)))
