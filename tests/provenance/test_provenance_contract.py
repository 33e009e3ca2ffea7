"""One contract over every registered test (like scikit-learn's check_estimator), and null calibration
of each on synthetic data: p-values uniform or conservative, false-positive rate at α=0.01 ≤ 1%."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from distillwatch.provenance import TESTS, Evidence


def _agreement(rng, n=60, m=2):
    keys = lambda: rng.integers(0, 4, size=(n, 2)).astype(str).astype(object)
    return (keys(), keys(), [keys() for _ in range(m)]), {}


def _likelihood(rng, n=40, m=2):
    return (rng.normal(size=(n, m)), rng.normal(size=(n, m))), {}


def _distribution(rng, n=20, m=2, d=4):
    return (rng.normal(size=(n, d)), rng.normal(size=(n, d)), [rng.normal(size=(n, d)) for _ in range(m)]), \
        {"n_permutations": 200, "seed": int(rng.integers(1 << 30))}


def _style(rng, n=20, m=2, d=6):
    return (rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(m, n, d))), \
        {"seed": int(rng.integers(1 << 30))}


def _identity(rng, n=12, m=2):
    return (rng.random(n) < 0.3, rng.random((m, n)) < 0.3), {}


def _served(rng, n=30):
    return (rng.normal(size=n), rng.normal(size=n)), {}


# Data drawn under each test's null hypothesis; every registered test must have an entry.
NULL_DATA = {
    "agreement": _agreement,
    "likelihood": _likelihood,
    "distribution": _distribution,
    "style": _style,
    "identity": _identity,
    "served": _served,
}


def test_every_registered_test_has_null_data():
    assert set(NULL_DATA) == set(TESTS)


@pytest.mark.parametrize("name", sorted(TESTS))
def test_contract(name):
    test = TESTS[name]
    assert test.__doc__ and test.__module__.startswith("distillwatch.provenance.")
    args, kwargs = NULL_DATA[name](np.random.default_rng(0))
    first = test(*args, **kwargs)
    again = test(*args, **kwargs)
    assert isinstance(first, Evidence) and first.test == name
    assert 0.0 <= first.p_value <= 1.0 and first.n > 0
    assert first.method and len(first.null_hypothesis) > 20
    assert first.to_dict() == again.to_dict()  # deterministic under a seed
    assert json.loads(json.dumps(first.to_dict())) == first.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.p_value = 0.5


@pytest.mark.parametrize("name", sorted(TESTS))
def test_null_calibration(name):
    """200 simulated null datasets: one-sided KS (p-values not stochastically smaller than uniform) and
    the false-positive rate at α = 0.01 within binomial sampling error (≤ 6/200; P(X≥6) ≈ 0.004)."""
    rng = np.random.default_rng(1234)
    ps = []
    for _ in range(200):
        args, kwargs = NULL_DATA[name](rng)
        ps.append(TESTS[name](*args, **kwargs).p_value)
    ps = np.array(ps)
    ks = stats.kstest(ps, "uniform", alternative="greater")
    assert ks.pvalue > 0.001, (name, ks)
    assert np.sum(ps <= 0.01) <= 6, (name, np.sum(ps <= 0.01))


def _copying(rng, n=60, m=2):
    """Suspect copies the teacher's answer key on 60% of the prompts."""
    (s, t, cs), kw = _agreement(rng, n, m)
    copy = rng.random(n) < 0.6
    s[copy] = t[copy]
    return (s, t, cs), kw


def _likelihood_alt(rng, n=60, m=2):
    return (rng.normal(1.5, 1, size=(n, m)), rng.normal(size=(n, m))), {}


def _distribution_alt(rng, n=20, m=2, d=4):
    (_, t, cs), kw = _distribution(rng, n, m, d)
    return (t + 0.3 * rng.normal(size=t.shape), t, [c + 1.0 for c in cs]), kw


def _style_alt(rng, n=40, m=2, d=6):
    (s, t, cs), kw = _style(rng, n, m, d)
    t[:, 0] += 2.0
    s[:, 0] += 2.0
    return (s, t, cs), kw


def _identity_alt(rng, n=12, m=2):
    return (rng.random(n) < 0.8, rng.random((m, n)) < 0.1), {}


def _served_alt(rng, n=30):
    """The suspect learned the served answers: it finds them more likely than fresh ones, by a margin."""
    fresh = rng.normal(size=n)
    return (fresh + rng.normal(1.0, 1.0, size=n), fresh), {}


ALT_DATA = {"agreement": _copying, "likelihood": _likelihood_alt, "distribution": _distribution_alt,
            "style": _style_alt, "identity": _identity_alt, "served": _served_alt}


@pytest.mark.parametrize("name", sorted(TESTS))
def test_power_on_a_planted_signal(name):
    """Each test finds a clear planted signal in most of 20 datasets (α = 0.01)."""
    rng = np.random.default_rng(7)
    ps = np.array([TESTS[name](*a, **k).p_value for a, k in (ALT_DATA[name](rng) for _ in range(20))])
    assert np.mean(ps <= 0.01) >= 0.8, (name, ps)
