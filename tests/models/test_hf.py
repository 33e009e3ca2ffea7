"""The transformers backend on a tiny real model built in the test session."""

import pytest

from distillwatch.errors import InputError, ModelLoadError
from distillwatch.models import GenerateRequest, ResponseCache, get_model
from distillwatch.models.hf import HFModel

CHAT = [{"role": "user", "content": "Name three primary colours."}]


def _requests():
    return [
        GenerateRequest(CHAT, max_tokens=12),
        GenerateRequest("The quick brown", max_tokens=7),
        GenerateRequest([{"role": "user", "content": "One two"}], max_tokens=10, temperature=0.9, seed=11),
        GenerateRequest("Paris is the capital", max_tokens=5, temperature=1.3, top_p=0.8, seed=5),
    ]


def test_batched_generation_equals_one_at_a_time(tiny_model):
    reqs = _requests()
    batched = tiny_model.generate(reqs)
    tiny_model.batch_size = 1
    single = tiny_model.generate(reqs)
    assert [c.token_ids for c in batched] == [c.token_ids for c in single]
    assert [len(c.token_ids) for c in batched] == [12, 7, 10, 5]  # a random model rarely stops early
    assert all(c.finish_reason == "length" for c in batched)


def test_rows_that_finish_early_leave_the_batch_without_changing_the_others(tiny_model):
    free = tiny_model.generate([GenerateRequest("The quick brown", max_tokens=30)])[0]
    stop = free.text[3:5]
    reqs = _requests() + [
        GenerateRequest("The quick brown", max_tokens=30, stop=(stop,)),
        GenerateRequest(CHAT, max_tokens=3, logprobs=True, top_logprobs=2),
        GenerateRequest(CHAT, max_tokens=14, temperature=1.0, seed=8, logprobs=True, top_logprobs=4),
        GenerateRequest(CHAT, max_tokens=0),
    ]
    batched = tiny_model.generate(reqs)
    tiny_model.batch_size = 1
    single = tiny_model.generate(reqs)
    for b, s in zip(batched, single):
        assert (b.token_ids, b.finish_reason, b.text) == (s.token_ids, s.finish_reason, s.text)
        assert (b.logprobs is None) == (s.logprobs is None)
        if b.logprobs is not None:
            assert b.logprobs == pytest.approx(s.logprobs, abs=1e-4)
            assert [list(t) for t in b.top_logprobs] == [list(t) for t in s.top_logprobs]
    assert [len(c.token_ids) for c in batched[5:]] == [3, 14, 0]
    assert batched[4].finish_reason == "stop" and stop not in batched[4].text


def test_seeded_sampling_is_reproducible_and_seed_dependent(tiny_model):
    r = GenerateRequest(CHAT, max_tokens=15, temperature=1.0, seed=3)
    a, b = tiny_model.generate([r, r])
    assert a.token_ids == b.token_ids
    other = tiny_model.generate([GenerateRequest(CHAT, max_tokens=15, temperature=1.0, seed=4)])[0]
    assert other.token_ids != a.token_ids
    unseeded = tiny_model.generate([GenerateRequest(CHAT, max_tokens=15, temperature=1.0)] * 2)
    assert unseeded[0].token_ids != unseeded[1].token_ids


def test_chat_template_is_applied(tiny_model):
    ids = tiny_model.encode_prompt(CHAT)
    text = tiny_model.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")


def test_fallback_chat_layout_without_template(tmp_path, build_tiny):
    m = HFModel(build_tiny(tmp_path / "m", chat_template=False))
    text = m.tokenizer.decode(m.encode_prompt(CHAT))
    assert "User: Name three primary colours." in text and text.endswith("Assistant:")


def test_logprobs_match_teacher_forced_scores(tiny_model):
    r = GenerateRequest(CHAT, max_tokens=10, logprobs=True, top_logprobs=3)
    c = tiny_model.generate([r])[0]
    assert len(c.logprobs) == len(c.token_ids) == len(c.tokens) == len(c.top_logprobs) == 10
    s = tiny_model.score([(CHAT, c.token_ids)])[0]
    assert s.token_ids == c.token_ids
    assert s.logprobs == pytest.approx(c.logprobs, abs=1e-4)
    assert s.top_ids == c.token_ids  # greedy: the chosen token is the model's top-1
    for tok, lp, top in zip(c.tokens, c.logprobs, c.top_logprobs):
        assert max(top.values()) == pytest.approx(lp, abs=1e-5)


def test_score_texts_and_pairs(tiny_model):
    text = "Red, blue and yellow are the primary colours."
    whole = tiny_model.score([text])[0]
    ids = tiny_model.tokenizer(text).input_ids
    assert whole.token_ids == ids[1:] and len(whole.logprobs) == len(ids) - 1
    assert all(lp <= 0 for lp in whole.logprobs)
    pair = tiny_model.score([("Red, blue", " and yellow")])[0]
    assert len(pair.token_ids) == len(tiny_model.tokenizer(" and yellow", add_special_tokens=False).input_ids)
    # batching several items of different lengths does not change the numbers
    items = [text, ("Red, blue", " and yellow"), "One, two, three."]
    together = tiny_model.score(items)
    alone = [tiny_model.score([it])[0] for it in items]
    for a, b in zip(together, alone):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_stop_strings_cut_the_answer(tiny_model):
    free = tiny_model.generate([GenerateRequest("The quick brown", max_tokens=30)])[0]
    assert len(free.text) > 4
    stop = free.text[3:5]
    cut = tiny_model.generate([GenerateRequest("The quick brown", max_tokens=30, stop=(stop,))])[0]
    assert stop not in cut.text and free.text.startswith(cut.text)
    assert cut.finish_reason == "stop" and len(cut.token_ids) < len(free.token_ids)


def test_eos_ends_generation(tiny_model):
    class ForceEos:
        def __call__(self, ids, scores):
            if ids.shape[1] >= 6:  # let a few tokens through, then force the end of sequence
                scores[:, :] = -1e9
                scores[:, tiny_model.tokenizer.eos_token_id] = 0
            return scores

    c = tiny_model.generate([GenerateRequest("One, two, three, four, five", max_tokens=20)],
                            logits_processor=ForceEos())[0]
    assert c.finish_reason == "stop" and len(c.token_ids) < 20
    assert tiny_model.tokenizer.eos_token_id not in c.token_ids


def test_logits_processor_sees_every_step_and_changes_tokens(tiny_model):
    banned = set(range(0, tiny_model.vocab_size, 2))
    calls = []

    class BanEven:
        def __call__(self, ids, scores):
            calls.append(ids.shape)
            scores[:, sorted(banned)] = float("-inf")
            return scores

    r = GenerateRequest("The quick brown", max_tokens=25, temperature=1.0, seed=0)
    plain = tiny_model.generate([r])[0]
    assert banned & set(plain.token_ids)  # without the processor, even tokens do appear
    processed = tiny_model.generate([r], logits_processor=BanEven())[0]
    assert not banned & set(processed.token_ids)
    assert len(calls) == 25 and calls[1][1] == calls[0][1] + 1  # sequences grow by one per step


def test_over_long_prompt_is_an_input_error(tiny_model):
    with pytest.raises(InputError, match="context of 256"):
        tiny_model.generate([GenerateRequest("word " * 300, max_tokens=5)])


def test_cache_through_get_model(tiny_model_dir, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    m = get_model(f"hf/{tiny_model_dir}", cache=cache)
    first = m.generate([GenerateRequest(CHAT, max_tokens=6)])[0]
    again = m.generate([GenerateRequest(CHAT, max_tokens=6)])[0]
    assert again.cached and again.token_ids == first.token_ids
    assert m.score(["One, two, three."])[0] == m.score(["One, two, three."])[0]
    assert cache.stats()["hits"] >= 2


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        HFModel(tmp_path)


def test_different_weights_are_different_cache_identities(tiny_model_dir, tiny_model_dir_b):
    a, b = HFModel(tiny_model_dir), HFModel(tiny_model_dir_b)
    assert a.cache_identity != b.cache_identity
    r = GenerateRequest(CHAT, max_tokens=8)
    assert a.generate([r])[0].token_ids != b.generate([r])[0].token_ids
