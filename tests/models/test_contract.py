"""One contract, every backend (like scikit-learn's check_estimator): whatever `get_model` returns must
honour the Model protocol the same way."""

import pytest

from distillwatch.gateway import BackgroundServer, build_app
from distillwatch.models import Completion, GenerateRequest, Model, TokenScores, get_model


@pytest.fixture(scope="module")
def tiny_server(_tiny_loaded):
    with BackgroundServer(build_app(_tiny_loaded, served_name="tiny")) as srv:
        yield srv


@pytest.fixture(params=["mock", "hf", "openai"])
def backend(request, tiny_model_dir, tiny_server) -> Model:
    if request.param == "mock":
        return get_model("mock/contract", cache=False)
    if request.param == "hf":
        return get_model(f"hf/{tiny_model_dir}", cache=False)
    return get_model(f"openai/tiny@{tiny_server.base_url}", cache=False)


def test_generate_contract(backend):
    reqs = [
        GenerateRequest([{"role": "user", "content": "Name three colours."}], max_tokens=6),
        GenerateRequest("The quick brown", max_tokens=4, logprobs=True),
        GenerateRequest("One two", max_tokens=5, temperature=1.0, seed=7),
    ]
    out = backend.generate(reqs)
    assert len(out) == 3 and all(isinstance(c, Completion) for c in out)
    for r, c in zip(reqs, out):
        assert isinstance(c.text, str) and c.finish_reason in ("stop", "length")
        assert c.token_ids is not None and len(c.token_ids) <= r.max_tokens
    assert len(out[1].logprobs) == len(out[1].token_ids) and all(lp <= 0 for lp in out[1].logprobs)
    again = backend.generate(reqs)
    assert [c.token_ids for c in again] == [c.token_ids for c in out]  # greedy and seeded: reproducible
    assert backend.generate([GenerateRequest("x", max_tokens=0)])[0].token_ids == []


def test_score_contract(backend):
    texts = ["Red, blue and yellow are colours.", ("Paris is the", " capital of France")]
    scores = backend.score(texts)
    assert len(scores) == 2 and all(isinstance(s, TokenScores) for s in scores)
    for s in scores:
        assert s.logprobs and all(lp <= 0 for lp in s.logprobs)
    assert backend.score(texts) == scores
