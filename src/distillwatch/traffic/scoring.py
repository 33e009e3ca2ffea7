"""Explainable harvesting scores for accounts and clusters, calibrated to a benign false-positive rate.

The score of an entity is a weighted sum of per-feature *surprises* against a benign reference
population: for feature f with suspicious direction d (higher or lower is suspicious), the surprise is
``-log10 p_f`` where ``p_f = (1 + #{reference values at least as extreme}) / (1 + n_reference)`` is the
entity's one-sided empirical tail probability. Beyond the reference's top `tail_mass` quantile the
probability follows an exponential tail whose scale comes from the reference's 75th to 95th
percentiles or, where larger, from the median of the reference's own values beyond that quantile, so a
value far past everything benign counts more than the most extreme benign value; each surprise is
capped at `max_surprise`. Each term is the evidence one feature brings, so an alert lists the features
that drove it with their values and contributions. Rate features (shares of requests raising a flag)
are first shrunk towards the reference's mean rate over entities with a pseudo-count of
`prior_requests` requests, so that one flagged request out of two is not as surprising as 900 of 1000.

Null hypothesis of each surprise: the entity's feature value is a draw from the same distribution as the
reference (benign) population's. Features are correlated, so the sum is a score, not a p-value; it is
turned into a decision by calibration, never read as a probability:

- with a benign reference (history known to be clean, e.g. last month's log or a simulated benign log),
  the model is fitted on it and the threshold is the empirical (1 - fpr) quantile of the reference's
  own scores: a benign entity exceeds it with probability about `fpr`;
- without one, the scanned population itself is treated as mostly benign: the model is fitted on it and
  the threshold extrapolates the upper tail of its scores (an exponential tail fitted to the scores
  above the 90th percentile, scale from the median exceedance, which harvesting entities
  making up well under 1% of the population barely move) to the (1 - fpr) level, instead of flagging
  exactly a share `fpr` of whatever is scanned.

Weights default to 1 for intent features (what is asked) and 0.5 for behaviour features (volume,
timing, breadth), which alone also describe heavy legitimate batch users; `fit_weights` learns them
from labelled entities by L2-regularised logistic regression on the surprises (NumPy + scipy;
`traffic.training` runs it on labelled logs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

__all__ = ["FEATURES", "BenignModel", "Feature", "fit_weights", "tail_threshold"]


@dataclass(frozen=True)
class Feature:
    """A scored feature: its column, suspicious direction (+1 high, -1 low), default weight, whether it is
    a share of requests (shrunk towards the pool rate) or a count scored on a log scale, and the smallest
    tail scale (a difference in the feature that is worth one e-fold of surprise beyond the reference)."""

    name: str
    direction: int = 1
    weight: float = 1.0
    rate: bool = False
    doc: str = ""
    log: bool = False
    min_scale: float = 0.02


FEATURES: tuple[Feature, ...] = (
    Feature("cot_share", 1, 1.0, True, "chain-of-thought elicitation"),
    Feature("rubric_share", 1, 1.0, True, "rubric grading / model as judge"),
    Feature("synthetic_share", 1, 1.0, True, "synthetic training data requests"),
    Feature("identity_probe_share", 1, 1.0, True, "identity and system-prompt probes"),
    Feature("censorship_rewrite_share", 1, 1.0, True, "censorship-safe rewrites"),
    Feature("pivot_share", 1, 0.5, True, "traffic on a model within 24 h of its release"),
    Feature("n_languages", 1, 1.0, False, "languages swept", min_scale=0.5),
    Feature("topic_entropy_bits", 1, 0.5, False, "capabilities swept", min_scale=0.2),
    Feature("logprobs_share", 1, 0.5, True, "log-probabilities requested"),
    Feature("n_requests", 1, 0.5, False, "volume", log=True, min_scale=0.3),
    Feature("gap_cv", -1, 0.5, False, "metronome timing (low variation of gaps)", min_scale=0.1),
    Feature("active_hours_share", 1, 0.5, False, "round-the-clock activity", min_scale=0.05),
    Feature("n_accounts", 1, 1.0, False, "accounts linked together", log=True, min_scale=0.3),
    Feature("accounts_per_payment", 1, 1.0, False, "accounts sharing each payment fingerprint", log=True,
            min_scale=0.3),
)


def _column(table: pa.Table, name: str, n: int) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(n)
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass
class BenignModel:
    """Per-feature reference distributions of a benign population (sklearn style: `fit` returns self,
    learned state ends in ``_``)."""

    features: tuple[Feature, ...] = FEATURES
    prior_requests: float = 20.0
    weights: dict[str, float] | None = None
    pool_rate_: dict[str, float] = field(default_factory=dict)
    reference_: dict[str, np.ndarray] = field(default_factory=dict)
    tail_mass: float = 0.05
    max_surprise: float = 8.0
    tail_: dict[str, tuple[float, float]] = field(default_factory=dict)
    threshold_: float | None = None
    reference_scores_: np.ndarray | None = None

    def _values(self, table: pa.Table) -> np.ndarray:
        n = table.num_rows
        req = _column(table, "n_requests", n)
        out = np.empty((n, len(self.features)))
        for j, f in enumerate(self.features):  # a loop over features, not rows
            x = _column(table, f.name, n)
            if f.rate:
                prior = self.pool_rate_.get(f.name, 0.0)
                x = (np.nan_to_num(x) * req + self.prior_requests * prior) / (req + self.prior_requests)
            elif f.log:
                x = np.log1p(x)
            out[:, j] = x
        return out

    def fit(self, table: pa.Table, fpr: float | None = None) -> BenignModel:
        """Learn the reference from `table` (entity features of benign or mostly benign traffic); with
        `fpr`, also set `threshold_` to the empirical (1 - fpr) quantile of the reference's scores."""
        n = table.num_rows
        for f in self.features:
            if f.rate:  # the mean over entities, not requests: a few heavy harvesters barely move it
                self.pool_rate_[f.name] = float(np.nan_to_num(_column(table, f.name, n)).mean()) if n else 0.0
        values = self._values(table)
        for j, f in enumerate(self.features):
            v = values[:, j]
            ref = np.sort(v[~np.isnan(v)] * f.direction)
            self.reference_[f.name] = ref
            q = float(np.quantile(ref, 1.0 - self.tail_mass)) if len(ref) else 0.0
            # exponential scale from the bulk just below the tail (q75..q95 spans ln 5 scales), which
            # the few harvesting entities of a self-fitted, mostly benign reference barely move
            q75 = float(np.quantile(ref, 0.75)) if len(ref) else 0.0
            spread = float(np.quantile(ref, 0.75) - np.quantile(ref, 0.25)) if len(ref) else 0.0
            beyond = ref[ref > q] - q  # where the bulk is degenerate (most values equal), the tail's own spread
            typical = float(np.median(beyond)) / np.log(2.0) if len(beyond) else 0.0
            scale = max((q - q75) / np.log(0.25 / self.tail_mass), typical, 0.1 * spread, f.min_scale)
            self.tail_[f.name] = (q, scale)
        self.reference_scores_ = self.score(table)[0]
        if fpr is not None:
            self.threshold_ = float(np.quantile(self.reference_scores_, 1.0 - fpr, method="higher"))
        return self

    def surprises(self, table: pa.Table) -> np.ndarray:
        """(entities × features) array of ``-log10`` one-sided empirical tail probabilities (0 for
        missing values)."""
        values = self._values(table)
        out = np.zeros_like(values)
        for j, f in enumerate(self.features):
            ref = self.reference_[f.name]
            v = values[:, j] * f.direction
            at_least = len(ref) - np.searchsorted(ref, v, side="left")
            p = (1.0 + at_least) / (1.0 + len(ref))
            q, scale = self.tail_[f.name]
            beyond = v > q  # past the reference's top quantile: exponential tail, so extremes keep counting
            p_tail = self.tail_mass * np.exp(-np.maximum(v - q, 0.0) / scale)
            p = np.where(beyond, np.minimum(p, p_tail), p)
            out[:, j] = np.where(np.isnan(v), 0.0, np.minimum(-np.log10(np.maximum(p, 1e-300)), self.max_surprise))
        return out

    def weight_vector(self) -> np.ndarray:
        w = self.weights or {}
        return np.array([w.get(f.name, f.weight) for f in self.features])

    def score(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, contributions = weight × surprise per feature, feature values as scored: rates after
        shrinkage, counts as counts)."""
        contributions = self.surprises(table) * self.weight_vector()
        values = self._values(table)
        for j, f in enumerate(self.features):
            if f.log:
                values[:, j] = np.expm1(values[:, j])
        return contributions.sum(axis=1), contributions, values


def tail_threshold(scores: np.ndarray, fpr: float, *, base_quantile: float = 0.9) -> float:
    """The (1 - fpr) score quantile of a mostly benign population, by extrapolating its upper tail.

    Scores above the `base_quantile` quantile are modelled as exponential exceedances over it (scale =
    median exceedance / ln 2: the median is robust to the few harvesting entities in the tail, who are
    well under half of the exceedances); the threshold is ``base + scale * ln((1 - base_quantile) /
    fpr)``, and never below the base.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if not len(scores):
        return float("inf")
    base = float(np.quantile(scores, base_quantile))
    exceed = scores[scores > base] - base
    if not len(exceed) or fpr >= 1.0 - base_quantile:
        return float(np.quantile(scores, 1.0 - fpr))
    scale = float(np.median(exceed)) / np.log(2.0)
    return base + scale * float(np.log((1.0 - base_quantile) / fpr))


def fit_weights(surprises: np.ndarray, labels: np.ndarray, *, l2: float = 0.01, prior: np.ndarray | None = None,
                sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Non-negative feature weights (and an intercept) by logistic regression of `labels` (1 = harvesting)
    on per-feature `surprises`: a weighted mean log-loss in which each class weighs one half (within a
    class, rows weigh as `sample_weight` says, equally by default), plus ``l2 / 2 * |w - prior|^2``
    (`prior`: zeros by default), so that labels a few features separate perfectly still give finite
    weights, and few labels move the weights only a little away from the prior."""
    from scipy.optimize import minimize

    x = np.asarray(surprises, dtype=np.float64)
    y = (np.asarray(labels, dtype=np.float64) > 0).astype(np.float64)
    w0 = np.zeros(x.shape[1]) if prior is None else np.asarray(prior, dtype=np.float64)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    for cls in (0.0, 1.0):
        mass = sw[y == cls].sum()
        sw = np.where(y == cls, sw * 0.5 / mass if mass > 0 else 0.0, sw)

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        ll = np.logaddexp(0.0, z) - y * z
        sig = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow
        g = sw * (sig - y)
        d = w - w0
        return (sw * ll).sum() + 0.5 * l2 * (d @ d), np.r_[x.T @ g + l2 * d, g.sum()]

    bounds = [(0.0, None)] * x.shape[1] + [(None, None)]
    start = np.r_[np.maximum(w0, 0.0) if prior is not None else np.full(x.shape[1], 0.5), -5.0]
    res = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return res.x[:-1], float(res.x[-1])
