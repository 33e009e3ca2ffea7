"""Logits processors: the reference's behaviour exactly, and watermarks a real model's generations carry."""

from __future__ import annotations

import numpy as np
import pytest

from distillwatch.models import GenerateRequest, LogitsProcessor
from distillwatch.watermark import (
    GumbelLogitsProcessor,
    KGWLogitsProcessor,
    WatermarkConfig,
    WatermarkDetector,
    gumbel_argmax,
    gumbel_vocab_uniforms,
    make_logits_processor,
)

torch = pytest.importorskip("torch")
KEY = 15485863


@pytest.mark.parametrize("seeding,batch", [("lefthash", 4), ("selfhash", 2)])
def test_kgw_processor_equals_the_reference_processor(torch_ref, seeding, batch):
    vocab = 49152
    proc = make_logits_processor(WatermarkConfig("kgw", key=KEY, seeding=seeding), vocab)
    gen = torch.Generator().manual_seed(len(seeding))
    input_ids = torch.randint(0, vocab, (batch, 9), generator=gen)
    input_ids[0, -1] = 0
    scores = torch.randn(batch, vocab + 7, generator=gen)  # a model may have more logits than tokens
    out = proc(input_ids, scores.clone())
    expected = torch_ref.process(input_ids, scores[:, :vocab], seeding, KEY, vocab)
    assert torch.equal(out[:, :vocab], expected)
    assert torch.equal(out[:, vocab:], scores[:, vocab:])
    n_biased = int((out != scores).sum())
    assert (n_biased == batch * 12288) if seeding == "lefthash" else (0 < n_biased <= batch * 41)


def test_lefthash_green_lists_are_cached_per_previous_token():
    proc = KGWLogitsProcessor(WatermarkConfig("kgw", key=3, seeding="lefthash"), 1000, cache_size=2)
    first = proc.green_mask(np.array([5, 6, 5]))
    assert np.array_equal(first[0], first[2]) and not np.array_equal(first[0], first[1])
    assert first.sum(axis=1).tolist() == [250, 250, 250]
    proc.green_mask(np.array([7]))
    assert list(proc._greens) == [5, 7]  # least recently used (6) went first
    assert np.array_equal(proc.green_mask(np.array([6]))[0], first[1])


def test_gumbel_processor_makes_the_gumbel_max_token_certain():
    config = WatermarkConfig("gumbel", key=11, context_width=3)
    proc = GumbelLogitsProcessor(config, 300)
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, 300, (3, 6), generator=gen)
    scores = torch.randn(3, 300, generator=gen)
    out = proc(input_ids, scores)
    chosen = out.argmax(dim=-1)
    assert torch.isfinite(out).sum().item() == 3 and out[torch.arange(3), chosen].eq(0).all()
    u = gumbel_vocab_uniforms(input_ids[:, -3:].numpy(), 11, 300)
    expected = gumbel_argmax(torch.softmax(scores.double(), -1).numpy(), u)
    assert chosen.tolist() == expected.tolist()
    assert torch.equal(proc(input_ids[:, :2], scores), scores)  # too little context: unchanged


@pytest.mark.parametrize("spec", ["kgw:lefthash:key=7", "kgw:selfhash:key=7", "gumbel:key=7"])
def test_numpy_inputs_get_what_torch_inputs_get_batched_or_one_row(spec):
    """The llama.cpp backend hands a processor NumPy arrays, one sequence as 1-d rows."""
    vocab = 2000
    proc = make_logits_processor(spec, vocab)
    gen = torch.Generator().manual_seed(3)
    input_ids = torch.randint(0, vocab, (3, 8), generator=gen)
    scores = torch.randn(3, vocab + 5, generator=gen)
    expected = proc(input_ids, scores.clone()).numpy()
    batched = proc(input_ids.numpy().astype(np.intc), scores.numpy().copy())
    assert isinstance(batched, np.ndarray) and batched.dtype == np.float32
    assert np.array_equal(batched, expected)
    for row in range(3):
        one = proc(input_ids[row].numpy().astype(np.intc), scores[row].numpy().copy())
        assert one.shape == (vocab + 5,) and np.array_equal(one, expected[row])
    assert (batched != scores.numpy()).any()  # the watermark did something


def test_processors_follow_the_protocol_and_hide_the_key():
    for cfg in ("kgw:lefthash:key=123456789", "kgw:selfhash:key=123456789", "gumbel:key=123456789"):
        proc = make_logits_processor(cfg, 1000)
        assert isinstance(proc, LogitsProcessor)
        assert "123456789" not in proc.cache_key + repr(proc)
        assert "vocab_size=1000" in proc.cache_key
    with pytest.raises(ValueError):
        KGWLogitsProcessor("gumbel:key=1", 10)
    with pytest.raises(ValueError):
        make_logits_processor("kgw:lefthash:key=1", 100)(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 50))


PROMPTS = ["The quick brown fox", "Red, blue and", "Water boils at", "A model answers"]


# The tiny model's logits are almost flat, so selfhash (which only biases the top 41 candidates, as
# the reference does) needs a larger delta to leave a mark in 48 tokens.
@pytest.mark.parametrize("spec", ["kgw:lefthash:key=2024", "kgw:selfhash:key=2024:delta=6",
                                  "gumbel:key=2024:context_width=2"])
def test_a_real_models_watermarked_generations_are_detected(tiny_model, spec):
    config = WatermarkConfig.parse(spec)
    vocab = tiny_model.vocab_size
    requests = [GenerateRequest(p, max_tokens=48, temperature=1.0, seed=i) for i, p in enumerate(PROMPTS)]
    marked = tiny_model.generate(requests, logits_processor=make_logits_processor(config, vocab))
    plain = tiny_model.generate(requests)
    det = WatermarkDetector(config, vocab)
    hits = det.detect_batch([c.token_ids for c in marked])
    misses = det.detect_batch([c.token_ids for c in plain])
    assert all(d.num_scored_tokens >= 10 for d in hits)
    assert all(d.p_value < 1e-4 for d in hits), [d.p_value for d in hits]
    assert all(d.p_value > 1e-4 for d in misses), [d.p_value for d in misses]
