"""Detection: the reference's counts on every fixture answer, exact p-values, calibration and power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distillwatch.watermark import (
    Evidence,
    WatermarkConfig,
    WatermarkDetector,
    binomial_p_value,
    bonferroni,
    detect_candidate_keys,
    gamma_p_value,
    kgw_green_lists,
    kgw_is_green,
)

KEY = 15485863


@pytest.mark.parametrize("seeding", ["lefthash", "selfhash"])
def test_reference_counts_on_every_fixture_answer(reference_vectors, seeding):
    rows = [r for r in reference_vectors if r["scheme"] == seeding]
    assert len(rows) == 60 and sum(r["watermarked"] for r in rows) == 30
    det = WatermarkDetector(WatermarkConfig("kgw", key=rows[0]["key"], seeding=seeding, gamma=rows[0]["gamma"]),
                            vocab_size=rows[0]["vocab_size"])
    dets = det.detect_batch([r["token_ids"] for r in rows])
    for r, d in zip(rows, dets):
        assert (d.num_scored_tokens, d.num_green) == (r["ref_num_scored"], r["ref_num_green"])
        assert d.z_score == pytest.approx(r["ref_z"], abs=1e-12)
        assert d.p_value == pytest.approx(stats.binom.sf(r["ref_num_green"] - 1, r["ref_num_scored"], 0.25), rel=1e-12)
        assert d.is_watermarked == r["watermarked"]
    # one at a time gives the same as the batch
    single = det.detect(rows[5]["token_ids"])
    assert single == dets[5]


def test_selfhash_never_scores_the_first_three_tokens(reference_vectors):
    r = next(r for r in reference_vectors if r["scheme"] == "selfhash")
    det = WatermarkDetector(WatermarkConfig("kgw", key=KEY, seeding="selfhash"), 49152)
    assert det.detect(r["token_ids"][:3]).num_scored_tokens == 0
    assert det.detect(r["token_ids"][:4]).num_scored_tokens == 1


def _random_sequences(rng, n, vocab_size, lo=100, hi=600):
    return [rng.integers(0, vocab_size, size=rng.integers(lo, hi)) for _ in range(n)]


@pytest.mark.parametrize("spec", ["kgw:lefthash", "kgw:selfhash", "gumbel:context_width=2"])
def test_p_values_of_unwatermarked_text_are_uniform(spec):
    rng = np.random.default_rng(len(spec))
    det = WatermarkDetector(WatermarkConfig.parse(f"{spec}:key=987654321"), vocab_size=8192)
    p = np.array([d.p_value for d in det.detect_batch(_random_sequences(rng, 250, 8192))])
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert np.mean(p < 0.05) < 0.1


def test_kgw_p_value_is_the_exact_binomial_tail():
    det = WatermarkDetector(WatermarkConfig("kgw", key=5, seeding="lefthash", gamma=0.3), vocab_size=1000)
    d = det.detect(np.random.default_rng(0).integers(0, 1000, 400))
    assert det.gamma == 0.3
    assert d.p_value == stats.binom.sf(d.num_green - 1, d.num_scored_tokens, 0.3)
    assert d.score == d.num_green / d.num_scored_tokens


def _lefthash_watermarked(config, vocab_size, length, rng, green_prob=0.8):
    seq = [int(rng.integers(vocab_size))]
    for _ in range(length - 1):
        if rng.random() < green_prob:
            green = kgw_green_lists([seq[-1]], config, vocab_size)[0]
            seq.append(int(green[rng.integers(green.size)]))
        else:
            seq.append(int(rng.integers(vocab_size)))
    return seq


def test_watermarked_text_is_detected_and_counts_repeats_once():
    config = WatermarkConfig("kgw", key=424242, seeding="lefthash")
    rng = np.random.default_rng(1)
    seq = _lefthash_watermarked(config, 4096, 120, rng)
    d = WatermarkDetector(config, 4096).detect(seq)
    assert d.is_watermarked and d.p_value < 1e-10 and d.score > 0.6
    other = WatermarkDetector(config.with_key(424243), 4096).detect(seq)
    assert not other.is_watermarked
    doubled = seq + seq  # the same n-grams again: not new evidence
    assert WatermarkDetector(config, 4096).detect(doubled).num_scored_tokens == d.num_scored_tokens + 1
    every = WatermarkDetector(config, 4096, ignore_repeated_ngrams=False).detect(doubled)
    assert every.num_scored_tokens == len(doubled) - 1


def test_selfhash_watermark_simulated_by_rejection_is_detected():
    config = WatermarkConfig("kgw", key=99, seeding="selfhash")
    rng = np.random.default_rng(2)
    seq = list(rng.integers(0, 2048, 3))
    for _ in range(80):
        cands = rng.integers(0, 2048, 8)
        green = kgw_is_green(np.tile(seq[-3:], (8, 1)), cands, config, 2048)
        seq.append(int(cands[np.argmax(green)]))  # first green candidate if any
    d = WatermarkDetector(config, 2048).detect(seq)
    assert d.p_value < 1e-12 and d.num_green > 0.8 * d.num_scored_tokens


def test_gumbel_watermark_simulated_is_detected():
    from distillwatch.watermark import gumbel_argmax, gumbel_vocab_uniforms

    config = WatermarkConfig("gumbel", key=7, context_width=2)
    rng = np.random.default_rng(3)
    seq = list(rng.integers(0, 512, 2))
    for _ in range(100):
        probs = rng.dirichlet(np.full(512, 0.3))[None, :]
        u = gumbel_vocab_uniforms(np.array([seq[-2:]]), config.key, 512)
        seq.append(int(gumbel_argmax(probs, u)[0]))
    d = WatermarkDetector(config, 512).detect(seq)
    assert d.num_green is None and d.p_value < 1e-8 and d.score > 1.5
    assert d.p_value == pytest.approx(stats.gamma.sf(d.score * d.num_scored_tokens, d.num_scored_tokens), rel=1e-9)


class _Tokenizer:
    """The two things detect_text needs from a Hugging Face tokenizer."""

    bos_token_id = 1

    def encode(self, text, add_special_tokens=False):
        return [1] + [int(w) for w in text.split()]


def test_detect_text_strips_a_leading_bos():
    det = WatermarkDetector(WatermarkConfig("kgw", key=KEY, seeding="lefthash"), 100)
    text = "5 6 7 8 9"
    assert det.detect_text(text, _Tokenizer()) == det.detect([5, 6, 7, 8, 9])
    assert WatermarkDetector(det.config, 100, bos_token_id=1).detect([1, 5, 6, 7]).num_scored_tokens == 2


def test_empty_and_short_inputs_are_not_evidence():
    det = WatermarkDetector(WatermarkConfig("kgw", key=KEY, seeding="lefthash"), 100)
    for seq in ([], [5]):
        d = det.detect(seq)
        assert (d.num_scored_tokens, d.p_value, d.is_watermarked) == (0, 1.0, False)
        assert np.isnan(d.z_score)


def test_candidate_keys_are_bonferroni_corrected():
    config = WatermarkConfig("kgw", key=31337, seeding="lefthash")
    seq = _lefthash_watermarked(config, 4096, 80, np.random.default_rng(4))
    candidates = [config.with_key(k) for k in (1, 2, 31337, 4)]
    res = detect_candidate_keys(seq, candidates, 4096)
    assert res.best == 2 and res.is_watermarked
    assert res.p_value == pytest.approx(min(1.0, 4 * res.detections[2].p_value))


def test_detection_as_evidence():
    config = WatermarkConfig("kgw", key=KEY, seeding="lefthash")
    d = WatermarkDetector(config, 1000).detect(list(range(50)))
    ev = d.to_evidence(config, 1000)
    assert isinstance(ev, Evidence) and ev.n == d.num_scored_tokens and ev.p_value == d.p_value
    assert "without knowledge of the key" in ev.null_hypothesis and str(KEY) not in str(ev)


def test_stats_helpers():
    assert binomial_p_value(0, 10, 0.25) == 1.0
    assert binomial_p_value(3, 0, 0.25) == 1.0
    assert binomial_p_value(10, 10, 0.25) == pytest.approx(0.25**10)
    assert binomial_p_value(np.array([1, 2]), np.array([2, 2]), 0.5).tolist() == [0.75, 0.25]
    assert gamma_p_value(0.0, 3) == pytest.approx(1.0)
    assert gamma_p_value(5.0, 1) == pytest.approx(np.exp(-5.0))
    assert bonferroni([0.01, 0.5, 0.2]) == pytest.approx([0.03, 1.0, 0.6])
