"""The Gumbel-max PRF: uniform, keyed, context-sensitive, and the same per pair as per vocabulary."""

from __future__ import annotations

import numpy as np
from scipy import stats

from distillwatch.watermark import gumbel_argmax, gumbel_scores, gumbel_uniforms, gumbel_vocab_uniforms
from distillwatch.watermark.gumbel import gumbel_context_hashes


def test_uniforms_are_uniform_and_in_the_open_interval():
    rng = np.random.default_rng(0)
    u = gumbel_uniforms(rng.integers(0, 1000, size=(20000, 3)), rng.integers(0, 1000, 20000), key=5)
    assert u.min() > 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 0.01
    assert stats.kstest(gumbel_scores(u), "expon").pvalue > 0.01


def test_pairs_and_vocabulary_rows_agree():
    windows = np.array([[1, 2], [2, 1], [0, 0]])
    rows = gumbel_vocab_uniforms(windows, key=9, vocab_size=64)
    for i, w in enumerate(windows):
        assert np.array_equal(rows[i], gumbel_uniforms(np.tile(w, (64, 1)), np.arange(64), key=9))
    assert not np.array_equal(rows[0], rows[1])  # order matters in the context


def test_the_key_and_the_context_change_every_uniform():
    w = np.array([[10, 11, 12]])
    a = gumbel_vocab_uniforms(w, key=1, vocab_size=256)
    b = gumbel_vocab_uniforms(w, key=2, vocab_size=256)
    c = gumbel_vocab_uniforms(np.array([[10, 11, 13]]), key=1, vocab_size=256)
    assert abs(np.corrcoef(a[0], b[0])[0, 1]) < 0.2 and abs(np.corrcoef(a[0], c[0])[0, 1]) < 0.2
    assert gumbel_context_hashes(w, -1)[0] != gumbel_context_hashes(w, 2**64 - 1 - 2**64)[0] + 1


def test_gumbel_argmax_samples_from_p():
    """argmax u^(1/p) over fresh uniforms is a draw from p (the Gumbel-max trick)."""
    p = np.array([0.5, 0.3, 0.2, 0.0])
    rng = np.random.default_rng(1)
    u = gumbel_vocab_uniforms(rng.integers(0, 10**6, size=(20000, 2)), key=3, vocab_size=4)
    picks = gumbel_argmax(np.tile(p, (20000, 1)), u)
    counts = np.bincount(picks, minlength=4)
    assert counts[3] == 0
    assert stats.chisquare(counts[:3], 20000 * p[:3]).pvalue > 0.01
