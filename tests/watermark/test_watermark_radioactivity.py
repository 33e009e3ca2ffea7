"""Radioactivity tests on synthetic suspects: power when the suspect learned the watermark, calibration
when it did not (random predictions, wrong keys), and the filters that keep the null true."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distillwatch.watermark import (
    Evidence,
    WatermarkConfig,
    generation_mode_test,
    gumbel_uniforms,
    kgw_green_lists,
    kgw_is_green,
    reading_mode_test,
)

V = 4096
LEFT = WatermarkConfig("kgw", key=8_675_309, seeding="lefthash")


def _texts(rng, n, length, vocab=V):
    return [rng.integers(0, vocab, size=length) for _ in range(n)]


def _green_biased(config, windows, rng, rate):
    """A suspect that learned the watermark: at a fraction `rate` of positions it predicts a green token."""
    n = windows.shape[0]
    pred = rng.integers(0, V, size=n)
    if config.scheme == "gumbel":
        cands = rng.integers(0, V, size=(n, 16))
        u = gumbel_uniforms(np.repeat(windows, 16, axis=0), cands.ravel(), config.key).reshape(n, 16)
        best = cands[np.arange(n), u.argmax(axis=1)]
    elif config.seeding == "lefthash":
        lists = kgw_green_lists(windows[:, -1], config, V)
        best = lists[np.arange(n), rng.integers(0, lists.shape[1], size=n)]
    else:
        cands = rng.integers(0, V, size=(n, 12))
        green = kgw_is_green(np.repeat(windows, 12, axis=0), cands.ravel(), config, V).reshape(n, 12)
        best = cands[np.arange(n), green.argmax(axis=1)]
    use = rng.random(n) < rate
    pred[use] = best[use]
    return pred


def _reading_predictions(config, texts, rng, rate):
    w = config.window_width
    preds = []
    for t in texts:
        p = np.full(t.size, -1)
        windows = np.lib.stride_tricks.sliding_window_view(t, w)[:-1]  # windows ending before each j >= w
        p[w:] = _green_biased(config, windows, rng, rate)
        preds.append(p)
    return preds


@pytest.mark.parametrize("spec", ["kgw:lefthash", "kgw:selfhash", "gumbel:context_width=2"])
def test_reading_mode_detects_a_suspect_biased_to_the_green_list(spec):
    config = WatermarkConfig.parse(f"{spec}:key=8675309")
    rng = np.random.default_rng(0)
    texts = _texts(rng, 10, 120)
    ev = reading_mode_test(texts, _reading_predictions(config, texts, rng, rate=0.25), config, V)
    assert isinstance(ev, Evidence) and ev.p_value < 1e-8 and ev.effect_size > 0.1
    assert ev.n > 0.9 * sum(t.size - config.window_width for t in texts)
    assert "not trained on text watermarked" in ev.null_hypothesis
    assert ev.method.startswith("radioactivity-reading/")


def test_reading_mode_p_values_are_uniform_for_random_predictions():
    rng = np.random.default_rng(1)
    p = []
    for _ in range(200):
        texts = _texts(rng, 4, 100)
        preds = [rng.integers(0, V, size=t.size) for t in texts]
        p.append(reading_mode_test(texts, preds, LEFT, V).p_value)
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_wrong_keys_give_uniform_p_values_on_a_radioactive_suspect():
    rng = np.random.default_rng(2)
    texts = _texts(rng, 5, 140)
    preds = _reading_predictions(LEFT, texts, rng, rate=0.4)
    assert reading_mode_test(texts, preds, LEFT, V).p_value < 1e-10
    p = [reading_mode_test(texts, preds, LEFT.with_key(1000 + i), V).p_value for i in range(100)]
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_tuples_are_scored_once_and_repeated_windows_skipped():
    rng = np.random.default_rng(3)
    text = rng.integers(0, V, size=50)
    pred = rng.integers(0, V, size=50)
    once = reading_mode_test([text], [pred], LEFT, V, drop_text_matches=False)
    twice = reading_mode_test([text, text], [pred, pred], LEFT, V, drop_text_matches=False)
    first_window = {}
    for j in range(1, text.size):
        first_window.setdefault(int(text[j - 1]), int(pred[j]))
    assert once.n == twice.n == len(set(first_window.items()))
    looped = np.tile(text[:10], 5)  # the same windows again later in one text are not rescored
    ev = reading_mode_test([looped], [rng.integers(0, V, size=looped.size)], LEFT, V, drop_text_matches=False)
    assert ev.n == len(set(looped[:-1].tolist()))


def _lefthash_watermarked_texts(rng, n, length, green_prob=0.9):
    """n texts generated side by side; each token is green for its predecessor with prob green_prob."""
    seqs = np.zeros((n, length), dtype=np.int64)
    seqs[:, 0] = rng.integers(0, V, size=n)
    for j in range(1, length):
        green = kgw_green_lists(seqs[:, j - 1], LEFT, V)
        pick = green[np.arange(n), rng.integers(0, green.shape[1], size=n)]
        seqs[:, j] = np.where(rng.random(n) < green_prob, pick, rng.integers(0, V, size=n))
    return list(seqs)


def test_predictions_that_copy_the_watermarked_text_are_dropped():
    """An unrelated but competent model often predicts the text's own (green) next token."""
    rng = np.random.default_rng(4)
    texts = _lefthash_watermarked_texts(rng, 6, 150)
    preds = []
    for t in texts:
        p = rng.integers(0, V, size=t.size)
        copy = rng.random(t.size) < 0.6
        p[copy] = t[copy]
        preds.append(p)
    naive = reading_mode_test(texts, preds, LEFT, V, drop_text_matches=False)
    honest = reading_mode_test(texts, preds, LEFT, V)
    assert naive.p_value < 1e-10  # the confound: a false positive
    assert honest.p_value > 0.01 and honest.n < naive.n


def test_generation_mode_excludes_prompt_windows():
    rng = np.random.default_rng(5)
    prompts = _lefthash_watermarked_texts(rng, 4, 80)
    # an innocent suspect that quotes its (watermarked) prompts, then writes random tokens
    gens = [np.concatenate([p[:60], rng.integers(0, V, size=60)]) for p in prompts]
    naive = generation_mode_test(gens, LEFT, V)
    honest = generation_mode_test(gens, LEFT, V, prompts=prompts)
    assert naive.p_value < 1e-10
    assert honest.p_value > 0.01 and honest.details["after_prompt_filter"] < honest.details["tuples"]


def test_generation_mode_filters_each_generation_by_its_own_prompt_only():
    rng = np.random.default_rng(7)
    gens = [rng.integers(0, V, size=50) for _ in range(3)]
    # prompt 0 holds every token of generation 1 (which never saw it); prompts 1 and 2 are disjoint noise
    prompts = [gens[1].copy(), rng.integers(0, V, size=5), rng.integers(0, V, size=5)]
    ev = generation_mode_test(gens, LEFT, V, prompts=prompts)
    assert ev.details["after_prompt_filter"] >= ev.details["tuples"] - 10
    own = generation_mode_test(gens, LEFT, V, prompts=[gens[0].copy(), gens[1].copy(), gens[2].copy()])
    assert own.details["after_prompt_filter"] == 0
    with pytest.raises(ValueError, match="one prompt per generation"):
        generation_mode_test(gens, LEFT, V, prompts=prompts[:2])


def test_generation_mode_filter_phi_keeps_windows_frequent_in_our_data():
    rng = np.random.default_rng(6)
    common = rng.integers(0, V, size=40)  # windows the provider's watermarked data is full of
    reference = [rng.choice(common, size=200) for _ in range(20)]
    gens = np.zeros((20, 121), dtype=np.int64)
    gens[:, 0] = rng.choice(common, size=20)
    for j in range(1, 121):
        prev = gens[:, j - 1]
        green = kgw_green_lists(prev, LEFT, V)
        learned = green[np.arange(20), rng.integers(0, green.shape[1], size=20)]
        other = np.where(rng.random(20) < 0.3, rng.choice(common, size=20), rng.integers(0, V, size=20))
        # the suspect learned the watermark on familiar contexts only
        gens[:, j] = np.where(np.isin(prev, common) & (rng.random(20) < 0.5), learned, other)
    gens = list(gens)
    plain = generation_mode_test(gens, LEFT, V)
    filtered = generation_mode_test(gens, LEFT, V, reference_texts=reference, min_window_count=5)
    assert filtered.n < plain.n and filtered.details["after_frequency_filter"] >= filtered.n
    assert filtered.effect_size > plain.effect_size and filtered.p_value < 1e-10


def test_generation_mode_is_calibrated_for_an_innocent_suspect():
    rng = np.random.default_rng(7)
    p = [generation_mode_test(_texts(rng, 2, 120), LEFT, V).p_value for _ in range(200)]
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_reading_mode_checks_its_inputs():
    with pytest.raises(ValueError):
        reading_mode_test([np.arange(5)], [np.arange(4)], LEFT, V)
    empty = reading_mode_test([np.arange(1)], [np.arange(1)], LEFT, V)
    assert (empty.n, empty.p_value) == (0, 1.0)


def test_weighted_binomial_tail_is_exact():
    from itertools import product

    from distillwatch.watermark.stats import binomial_p_value, weighted_binomial_p_value

    weights = np.array([1, 1, 2, 3, 3, 5, 8])
    for s in (0, 4, 9, 15, 23, 24):
        brute = sum(np.prod(np.where(bits, 0.25, 0.75)) for bits in map(np.array, product([0, 1], repeat=7))
                    if bits @ weights >= s)
        assert weighted_binomial_p_value(weights, s, 0.25) == pytest.approx(brute, rel=1e-12)
    assert weighted_binomial_p_value(np.ones(300, int), 100, 0.25) == pytest.approx(binomial_p_value(100, 300, 0.25), rel=1e-10)
    with pytest.raises(ValueError, match="positive integers"):
        weighted_binomial_p_value([1, 0], 1, 0.25)


def _habitual_suspect(rng, texts, lean, leaning=None):
    """Predicts one habitual token per previous token (as a small trained model does): a green one
    with probability `lean` after the previous tokens in `leaning` (all when None), else any token
    (lean 0: it knows nothing of the key)."""
    habit = {}
    lists = {}
    preds = []
    for t in texts:
        p = np.full(t.size, -1)
        for j in range(1, t.size):
            prev = int(t[j - 1])
            if prev not in habit:
                if (leaning is None or prev in leaning) and rng.random() < lean:
                    lists.setdefault(prev, kgw_green_lists(np.array([prev]), LEFT, V)[0])
                    habit[prev] = int(rng.choice(lists[prev]))
                else:
                    habit[prev] = int(rng.integers(0, V))
            p[j] = habit[prev]
        preds.append(p)
    return preds


def _zipf_texts(rng, n, length, support=300):
    """Texts over a small, skewed vocabulary (frequent windows recur across texts, as in real text),
    and its 60 most frequent tokens."""
    weights = 1.0 / np.arange(1, support + 1)
    tokens = rng.choice(V, size=support, replace=False)
    texts = [tokens[rng.choice(support, size=length, p=weights / weights.sum())] for _ in range(n)]
    return texts, set(tokens[:60].tolist())


def test_count_weighting_is_calibrated_and_finds_radioactivity_in_frequent_tuples():
    rng = np.random.default_rng(5)
    p_null = []
    for i in range(150):
        texts, _ = _zipf_texts(rng, 6, 80)
        preds = _habitual_suspect(rng, texts, 0.0)
        ev = reading_mode_test(texts, preds, LEFT, V, drop_text_matches=False, weight_cap=16)
        p_null.append(ev.p_value)
    assert ev.method.startswith("radioactivity-reading-weighted/") and ev.details["weight_cap"] == 16
    assert stats.kstest(p_null, "uniform").pvalue > 0.01
    # a student that learned the watermark where it saw the window most: after the frequent tokens
    texts, frequent = _zipf_texts(rng, 40, 100)
    preds = _habitual_suspect(rng, texts, 0.9, leaning=frequent)
    plain = reading_mode_test(texts, preds, LEFT, V, drop_text_matches=False)
    weighted = reading_mode_test(texts, preds, LEFT, V, drop_text_matches=False, weight_cap=16)
    assert plain.n == weighted.n and weighted.details["weight_sum"] > 5 * weighted.n
    assert weighted.p_value < 1e-6 and weighted.p_value < plain.p_value * 1e-3
    with pytest.raises(ValueError, match="KGW"):
        reading_mode_test(texts, preds, WatermarkConfig("gumbel", key=1), V, weight_cap=4)
