import pytest

from distillwatch.models import Completion, GenerateRequest, TokenScores


def test_request_normalises_stop_and_chat_prompt():
    r = GenerateRequest([{"role": "user", "content": "hi"}], stop="\n")
    assert r.stop == ("\n",)
    assert isinstance(r.prompt, tuple) and r.prompt[0]["content"] == "hi"
    assert r.to_dict()["prompt"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "kwargs", [dict(max_tokens=-1), dict(temperature=-0.1), dict(top_p=0.0), dict(top_logprobs=21)]
)
def test_request_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        GenerateRequest("x", **kwargs)


def test_determinism_and_fingerprint():
    assert GenerateRequest("x").deterministic
    assert GenerateRequest("x", temperature=0.7, seed=3).deterministic
    assert not GenerateRequest("x", temperature=0.7).deterministic
    assert GenerateRequest("x").fingerprint() != GenerateRequest("x", max_tokens=5).fingerprint()
    assert GenerateRequest("x").fingerprint() == GenerateRequest("x").fingerprint()


def test_records_round_trip():
    c = Completion(text="a", token_ids=[1, 2], logprobs=[-0.1, -0.2])
    assert Completion.from_dict(c.to_dict()) == c
    assert c.completion_tokens == 2
    s = TokenScores(token_ids=[3, 4], logprobs=[-1.0, -3.0])
    assert TokenScores.from_dict(s.to_dict()) == s
    assert s.total == -4.0 and s.mean == -2.0
