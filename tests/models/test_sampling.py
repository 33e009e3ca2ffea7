import numpy as np
import torch
from scipy import stats

from distillwatch.models._sampling import choose_next_tokens, seeded_uniforms, top_p_mask


def test_uniforms_are_deterministic_in_range_and_batch_independent():
    seeds = np.array([1, 2, 3], dtype=np.uint64)
    u = seeded_uniforms(seeds, step=5, vocab_size=1000)
    assert u.shape == (3, 1000) and (u > 0).all() and (u < 1).all()
    assert np.array_equal(u[1], seeded_uniforms(np.array([2], dtype=np.uint64), 5, 1000)[0])
    assert not np.array_equal(u[0], seeded_uniforms(seeds, 6, 1000)[0])
    # uniform: a KS test over 3000 draws does not reject
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_mask(logits, torch.tensor([0.7])))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(top_p_mask(logits, torch.tensor([0.5])))
    assert kept.tolist() == [[True, False, False, False]]


def test_seeded_sampling_follows_the_distribution():
    """Null: tokens drawn with seeds 0..N-1 follow softmax(logits / T); a chi-square test keeps it."""
    probs = np.array([0.5, 0.25, 0.15, 0.1])
    n = 4000
    logits = torch.log(torch.tensor(probs, dtype=torch.float32)).repeat(n, 1)
    seeds = np.arange(n, dtype=np.uint64)
    tokens = choose_next_tokens(logits, torch.ones(n), torch.ones(n), seeds, step=0).numpy()
    counts = np.bincount(tokens, minlength=4)
    assert stats.chisquare(counts, probs * n).pvalue > 1e-3


def test_greedy_rows_take_the_argmax():
    logits = torch.tensor([[0.1, 3.0, 0.2], [2.0, 0.0, 0.1]])
    out = choose_next_tokens(logits, torch.zeros(2), torch.ones(2), np.zeros(2, dtype=np.uint64), 0)
    assert out.tolist() == [1, 0]
