"""Continuous batching: requests join a decoding batch between steps and leave it when they finish,
and every request still gets exactly the tokens it gets alone."""

import pytest

from distillwatch.models import GenerateRequest

CHAT = [{"role": "user", "content": "Name three primary colours."}]


def _alone(model, requests):
    model.batch_size = 1
    out = model.generate(requests)
    model.batch_size = 8
    return out


def test_requests_joining_mid_decode_get_the_tokens_they_get_alone(tiny_model):
    first = [GenerateRequest(CHAT, max_tokens=20, temperature=1.0, seed=1),
             GenerateRequest("The quick brown", max_tokens=4)]
    later = [GenerateRequest("Paris is the capital of a country whose", max_tokens=9, temperature=0.8, seed=2,
                             logprobs=True, top_logprobs=3),
             GenerateRequest([{"role": "user", "content": "One two"}], max_tokens=15, temperature=1.2, seed=3)]
    batch = tiny_model.decode_batch()
    finished = dict(batch.add(first, ["a", "b"]))
    widths = []
    for _ in range(6):  # "b" finishes after 4 steps and leaves; "a" keeps decoding
        finished.update(batch.step())
        widths.append(len(batch))
    assert widths[:4] == [2, 2, 2, 1] and "b" in finished
    finished.update(batch.add(later, ["c", "d"]))
    assert len(batch) == 3 and batch.can_join
    finished.update(batch.run())
    assert len(batch) == 0

    expected = dict(zip("abcd", _alone(tiny_model, first + later)))
    for tag, want in expected.items():
        got = finished[tag]
        assert (got.token_ids, got.finish_reason, got.text) == (want.token_ids, want.finish_reason, want.text)
    assert finished["c"].logprobs == pytest.approx(expected["c"].logprobs, abs=1e-4)
    assert [list(t) for t in finished["c"].top_logprobs] == [list(t) for t in expected["c"].top_logprobs]


def test_removed_rows_stop_decoding_and_zero_budgets_finish_at_once(tiny_model):
    batch = tiny_model.decode_batch()
    done = batch.add([GenerateRequest(CHAT, max_tokens=0), GenerateRequest(CHAT, max_tokens=30, seed=4,
                                                                             temperature=1.0),
                      GenerateRequest("The quick brown", max_tokens=30)], ["zero", "kept", "gone"])
    assert [(t, c.token_ids) for t, c in done] == [("zero", [])]
    batch.step()
    batch.remove(["gone"])
    rest = dict(batch.run())
    assert set(rest) == {"kept"}
    assert rest["kept"].token_ids == _alone(tiny_model, [GenerateRequest(CHAT, max_tokens=30, seed=4,
                                                                         temperature=1.0)])[0].token_ids


def test_tokens_are_streamed_by_tag(tiny_model):
    seen = []
    batch = tiny_model.decode_batch(on_tokens=seen.extend)
    batch.add([GenerateRequest(CHAT, max_tokens=5), GenerateRequest("The quick", max_tokens=3)], ["x", "y"])
    out = dict(batch.run())
    assert [t for tag, t in seen if tag == "x"] == out["x"].token_ids
    assert [t for tag, t in seen if tag == "y"] == out["y"].token_ids


def test_prompts_of_similar_length_are_prefilled_together():
    from distillwatch.models.hf_decode import _length_groups

    groups = _length_groups([100, 10, 12, 98, 11, 300])
    assert sorted(map(sorted, groups)) == [[0, 3], [1, 2, 4], [5]]
    assert _length_groups([]) == [] and _length_groups([7]) == [[0]]
