"""The building blocks: corrections, exact tests, alpha spending, the classifier, features, verdicts."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from distillwatch.provenance import (
    Evidence,
    combine,
    hashed_ngrams,
    identity_hits,
    prefix_keys,
    select_probes,
)
from distillwatch.provenance.stats import (
    bonferroni_min,
    holm,
    intersection_union,
    mcnemar_greater,
    permutation_p,
    sign_flip_p,
    spending_weights,
)
from distillwatch.provenance.style import fit_logistic, lexical_features


def _ev(test, p):
    return Evidence(test=test, statistic=0.0, p_value=p, effect_size=0.0, n=10, method="m", null_hypothesis="h")


def test_holm_matches_the_textbook_example():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert bonferroni_min([0.01, 0.04, 0.03, 0.005]) == pytest.approx(0.02) == holm([0.01, 0.04, 0.03, 0.005]).min()
    assert intersection_union([0.2, 0.01]) == 0.2 and bonferroni_min([]) == 1.0


def test_exact_tests():
    assert mcnemar_greater(0, 0) == 1.0
    assert mcnemar_greater(10, 0) == pytest.approx(0.5**10)
    assert mcnemar_greater(7, 3) == pytest.approx(stats.binomtest(7, 10, 0.5, alternative="greater").pvalue)
    assert permutation_p(1.0, np.zeros(99)) == 0.01 and permutation_p(0.0, np.zeros(9)) == 1.0
    mean, p = sign_flip_p(np.ones(5), 100, np.random.default_rng(0))
    assert mean == 1.0 and p == pytest.approx(1 / 32)  # exact enumeration


def test_alpha_spending_weights_sum_to_one_and_grow():
    w = spending_weights(3)
    assert w.sum() == pytest.approx(1.0) and np.all(np.diff(w) > 0)
    assert spending_weights(1).tolist() == [1.0]


def test_logistic_regression_reaches_its_optimum_in_primal_and_dual():
    rng = np.random.default_rng(0)
    for n, d in [(200, 5), (30, 80)]:
        x = rng.normal(size=(n, d))
        y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(float)
        coef, b, mu, sd = fit_logistic(x, y, l2=1.0)
        z = np.hstack([(x - mu) / sd, np.ones((n, 1))])
        beta = np.r_[coef, b]
        grad = z.T @ (1 / (1 + np.exp(-z @ beta)) - y) + beta
        assert np.abs(grad).max() < 1e-5 and coef[0] > 0


def test_evidence_record():
    e = _ev("agreement", 0.5)
    assert [f.name for f in dataclasses.fields(Evidence)] == [
        "test", "statistic", "p_value", "effect_size", "n", "method", "null_hypothesis", "details"]
    assert json.loads(json.dumps(e.to_dict()))["test"] == "agreement"
    # the watermark package's keyword constructor (no `test`) still works
    assert Evidence(statistic=1.0, p_value=0.1, effect_size=0.0, n=1, method="m", null_hypothesis="h").test == ""
    with pytest.raises(ValueError):
        _ev("x", 1.5)
    with pytest.raises(TypeError):
        Evidence("agreement", 1.0, 0.1, 0.0, 1, "m", "h")  # keyword-only
    d = Evidence(statistic=np.float64(1), p_value=0.1, effect_size=float("nan"), n=1, method="m",
                 null_hypothesis="h", details={"a": np.arange(2)}).to_dict()
    assert d["effect_size"] is None and d["details"]["a"] == [0, 1] and json.dumps(d)


def test_verdicts_combine_the_decisive_tests_only():
    every = ("agreement", "likelihood", "distribution", "style")
    strong = [_ev("agreement", 1e-6), _ev("likelihood", 0.5), _ev("identity", 1e-9)]
    assert combine(strong, 0.01).verdict == "derived"
    assert combine(strong, 0.01, decisive=every).p_value == pytest.approx(2e-6)  # Bonferroni over 2
    # supporting evidence (identity claims; by default the exchangeability tests) never makes "derived"
    assert combine([_ev("agreement", 0.9), _ev("identity", 1e-9)], 0.01).verdict == "inconclusive"
    assert combine([_ev("agreement", 0.9), _ev("likelihood", 1e-9)], 0.01).verdict == "inconclusive"
    assert combine([_ev("agreement", 0.9), _ev("likelihood", 1e-9)], 0.01, decisive=every).verdict == "derived"
    assert combine([_ev("agreement", 0.9), _ev("likelihood", 0.8)], 0.01).verdict == "no evidence"
    assert combine([_ev("agreement", 0.05), _ev("likelihood", 0.8)], 0.01).verdict == "inconclusive"
    assert combine([_ev("likelihood", 0.8)], 0.01).verdict == "inconclusive"  # nothing decisive ran
    assert combine([_ev("agreement", 0.9), _ev("likelihood", 0.8)], 0.01, final=False).verdict == "inconclusive"


def test_prefix_keys_and_probe_selection():
    keys = prefix_keys(["Certainly! Here is a note.", "certainly, yes", ""], (1, 3))
    assert keys.tolist() == [["certainly", "certainly ! here"], ["certainly", "certainly , yes"], ["", ""]]
    cand = np.array([["a", "a", "a", "b"], ["a", "b", "c", "c"], ["a", "c", "d", "c"]], dtype=object)
    rng = np.random.default_rng(0)
    assert select_probes(cand, 1, rng).tolist() == [2]
    assert select_probes(cand, 2, rng, exclude=[2]).tolist() == [1, 3]
    assert select_probes(cand, 9, rng).tolist() == [0, 1, 2, 3]


def test_features():
    f = hashed_ngrams(["hello world", "hello world", "zzz", ""])
    assert f.shape == (4, 512) and np.allclose(f[0], f[1]) and f[0] @ f[2] < 0.5 and not f[3].any()
    lex = lexical_features(["Certainly! Yes.", "no"])
    assert lex.shape == (2, 12) and lex[0, 4] > 0 == lex[1, 4]
    hits = identity_hits(["I am Claude, made by Anthropic.", "I am claudette", "我是 Claude"], ["Claude"])
    assert hits.tolist() == [True, False, True]
    assert not identity_hits(["anything"], []).any()


def test_sentence_embeddings(embedder):
    e = embedder.embed(["A cat sat on the mat.", "A kitten sat on the rug.", "Stock prices fell sharply."])
    assert e.shape[0] == 3 and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2]
