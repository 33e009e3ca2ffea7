"""The OpenAI-compatible server over a tiny real model: the official client, our backend, errors."""

import json

import httpx
import openai
import pytest

from distillwatch.gateway import BackgroundServer, ServerLimits, build_app
from distillwatch.models import GenerateRequest, get_model

CHAT = [{"role": "user", "content": "Name three primary colours."}]


@pytest.fixture(scope="module")
def server(_tiny_loaded):
    app = build_app(_tiny_loaded, served_name="tiny", limits=ServerLimits(max_body_bytes=20_000, max_tokens=64))
    with BackgroundServer(app) as srv:
        srv.app = app
        yield srv


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_official_client_chat_completions_and_models(client, _tiny_loaded):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    r = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=9, temperature=0)
    local = _tiny_loaded.generate([GenerateRequest(CHAT, max_tokens=9)])[0]
    assert r.choices[0].message.content == local.text
    assert r.usage.completion_tokens == 9 and r.usage.prompt_tokens == local.prompt_tokens
    assert r.choices[0].finish_reason == "length"


def test_official_client_chat_logprobs(client):
    r = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=5, temperature=0,
                                       logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == 5 and all(len(c.top_logprobs) >= 1 for c in content)
    assert all(c.logprob <= 0 for c in content)


def test_official_client_streaming_matches_non_streaming(client):
    whole = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=12, temperature=0)
    stream = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=12, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 12
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_stream_ends_with_done(server):
    body = {"model": "tiny", "prompt": "The quick", "max_tokens": 4, "temperature": 0, "stream": True}
    with httpx.stream("POST", server.base_url + "/completions", json=body) as resp:
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["object"] == "text_completion"


def test_official_client_completions_with_echo_and_logprobs(client, _tiny_loaded):
    prompt = "Red, blue and yellow"
    r = client.completions.create(model="tiny", prompt=prompt, max_tokens=3, temperature=0, echo=True, logprobs=1)
    choice = r.choices[0]
    assert choice.text.startswith(prompt)
    lp = choice.logprobs
    assert lp.token_logprobs[0] is None and len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset)
    scored = _tiny_loaded.score([prompt])[0]
    n = len(scored.logprobs)
    assert lp.token_logprobs[1 : n + 1] == pytest.approx(scored.logprobs, abs=1e-4)


def test_our_openai_backend_gets_token_ids_and_scores(server, _tiny_loaded):
    remote = get_model(f"openai/tiny@{server.base_url}", cache=False)
    reqs = [GenerateRequest(CHAT, max_tokens=6), GenerateRequest("The quick brown", max_tokens=4, logprobs=True)]
    got, want = remote.generate(reqs), _tiny_loaded.generate(reqs)
    assert [c.token_ids for c in got] == [c.token_ids for c in want]
    assert got[1].logprobs == pytest.approx(want[1].logprobs, abs=1e-4)
    s_remote = remote.score([("Paris is the", " capital of France")])[0]
    s_local = _tiny_loaded.score([("Paris is the", " capital of France")])[0]
    assert s_remote.logprobs == pytest.approx(s_local.logprobs, abs=1e-4)
    assert s_remote.token_ids == s_local.token_ids


def test_concurrent_requests_share_batches(server, _tiny_loaded):
    remote = get_model(f"openai/tiny@{server.base_url}", cache=False, concurrency=8)
    before = server.app.state.engine.stats.to_dict()
    reqs = [GenerateRequest(f"One two {i}", max_tokens=4 + 3 * (i % 5), temperature=1.0, seed=i) for i in range(16)]
    got = remote.generate(reqs)
    after = server.app.state.engine.stats.to_dict()
    batches = after["batches"] - before["batches"]
    assert after["requests"] - before["requests"] == 16 and batches < 16
    # continuous batching: requests of different lengths decode side by side, each as it would alone
    rows, steps = after["mean_rows_per_step"] * after["steps"], after["steps"] - before.get("steps", 0)
    assert (rows - before.get("mean_rows_per_step", 0) * before.get("steps", 0)) / steps > 1.5
    assert [c.token_ids for c in got] == [c.token_ids for c in _tiny_loaded.generate(reqs)]


def test_n_choices_with_seed(client):
    r = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=8, temperature=1.0, seed=1, n=3)
    texts = [c.message.content for c in r.choices]
    assert len(texts) == 3 and len(set(texts)) > 1
    again = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=8, temperature=1.0, seed=1, n=3)
    assert [c.message.content for c in again.choices] == texts


@pytest.mark.parametrize(
    "path, body, status, words",
    [
        ("/chat/completions", b"{not json", 400, "not valid JSON"),
        ("/chat/completions", b"[1, 2]", 400, "JSON object"),
        ("/chat/completions", json.dumps({"messages": []}).encode(), 400, "messages"),
        ("/chat/completions", json.dumps({"messages": CHAT, "max_tokens": 10_000}).encode(), 400, "max_tokens"),
        ("/chat/completions", json.dumps({"messages": CHAT, "temperature": "hot"}).encode(), 400, "temperature"),
        ("/completions", json.dumps({"prompt": 5}).encode(), 400, "prompt"),
        ("/completions", json.dumps({"prompt": "x" * 30_000}).encode(), 413, "over 20000 bytes"),
        ("/completions", json.dumps({"prompt": "word " * 400, "max_tokens": 4}).encode(), 400, "context"),
        ("/nowhere", b"{}", 404, "no route"),
    ],
)
def test_errors_are_in_openai_format(server, path, body, status, words):
    resp = httpx.post(server.base_url + path, content=body, headers={"content-type": "application/json"})
    assert resp.status_code == status
    err = resp.json()["error"]
    assert words in err["message"] and "type" in err


def test_official_client_raises_on_bad_request(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=10_000)
