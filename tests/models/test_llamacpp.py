"""The llama.cpp backend on the bundled SmolLM2 GGUF, watermarking included.

These need the `llamacpp` extra, which compiles llama.cpp from source (about ten minutes on two
cores), so `make test` does not install it; the backend's model-string handling and its missing-extra
error are tested in test_registry.py everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from distillwatch.models import GenerateRequest, get_model
from distillwatch.watermark import WatermarkConfig, WatermarkDetector, make_logits_processor

pytest.importorskip("llama_cpp", reason="the llamacpp extra is not installed")
pytestmark = pytest.mark.slow

CONFIG = WatermarkConfig("kgw", key=15485863, gamma=0.25, delta=2.0, seeding="lefthash")
PROMPTS = ["Name three primary colors.", "Why is the sky blue?", "Write a haiku about rain.",
           "What is a prime number?", "Give me a tip for learning to cook."]


@pytest.fixture(scope="module")
def smollm2():
    return get_model("llamacpp/smollm2-135m-instruct", cache=False)


def _chat(text):
    return [{"role": "user", "content": text}]


def test_generation_is_reproducible_and_teacher_forcing_agrees_with_it(smollm2):
    assert smollm2.vocab_size == 49152 and smollm2.model_id == "llamacpp/smollm2-135m-instruct"
    greedy = GenerateRequest(_chat(PROMPTS[0]), max_tokens=20)
    a, b = smollm2.generate([greedy, greedy])
    assert a.token_ids == b.token_ids and a.text.strip() and a.prompt_tokens > 5
    sampled = [GenerateRequest(_chat(PROMPTS[1]), max_tokens=20, temperature=0.9, seed=s) for s in (1, 1, 2)]
    x, y, z = smollm2.generate(sampled)
    assert x.token_ids == y.token_ids != z.token_ids
    scores = smollm2.score([(greedy.prompt, a.token_ids)])[0]
    agree = np.mean(np.array(scores.top_ids) == np.array(a.token_ids))
    assert agree >= 0.9 and all(lp <= 0 for lp in scores.logprobs)
    with_logprobs = smollm2.generate([GenerateRequest(_chat(PROMPTS[0]), max_tokens=5, logprobs=True, top_logprobs=3)])[0]
    assert len(with_logprobs.logprobs) == 5 and len(with_logprobs.top_logprobs[0]) <= 3
    assert with_logprobs.token_ids == a.token_ids[:5]


def test_served_answers_are_watermarked_and_plain_generation_is_not(smollm2):
    """`serve --model llamacpp/... --watermark ...`: the server's answers carry the watermark."""
    import openai

    from distillwatch.gateway import BackgroundServer, build_app

    processor = make_logits_processor(CONFIG, smollm2.vocab_size)
    with BackgroundServer(build_app(smollm2, served_name="smol", logits_processor=processor)) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="unused", max_retries=0)
        marked = [client.chat.completions.create(model="smol", messages=_chat(p), max_tokens=64, temperature=0.7,
                                                 seed=i, extra_body={"return_token_ids": True})
                  .choices[0].model_extra["token_ids"] for i, p in enumerate(PROMPTS)]
    plain = smollm2.generate([GenerateRequest(_chat(p), max_tokens=64, temperature=0.7, seed=i)
                              for i, p in enumerate(PROMPTS)])
    detector = WatermarkDetector(CONFIG, smollm2.vocab_size)
    p_marked = [detector.detect(ids).p_value for ids in marked]
    p_plain = [detector.detect(a.token_ids).p_value for a in plain]
    assert np.median(p_marked) < 1e-4, p_marked
    assert min(p_plain) > 1e-3, p_plain
