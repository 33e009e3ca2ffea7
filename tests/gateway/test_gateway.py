"""The gateway end to end over loopback: the official client with a key, the policy, watermarking,
limits and live actions, the request log, the admin view and metrics, and errors in OpenAI's format."""

import json

import httpx
import openai
import pyarrow.parquet as pq
import pytest

from distillwatch.gateway import BackgroundServer, build_app
from distillwatch.models import get_model
from distillwatch.traffic.schema import validate

CHAT = [{"role": "user", "content": "Name three primary colours."}]


class Capture:
    """ASGI middleware that keeps every JSON body the wrapped upstream receives."""

    def __init__(self, app):
        self.app, self.bodies = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(parts)
        if body:
            self.bodies.append(json.loads(body))
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@pytest.fixture
def upstream():
    """A `serve` app (mock model with a reasoning trace) behind a body-capturing middleware."""
    model = get_model("mock/up", cache=False, reply="<think>secret chain of thought</think>The answer is blue")
    capture = Capture(build_app(model, served_name="up"))
    with BackgroundServer(capture) as srv:
        srv.capture = capture
        yield srv


def client(srv, key):
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0)


def test_official_client_through_the_gateway_and_the_log(gateway, keys):
    srv = gateway()
    key = keys.create("acct-a", org="org-1")
    c = client(srv, key)
    assert [m.id for m in c.models.list().data] == ["mock/teacher"]
    chat = c.chat.completions.create(model="teacher", messages=CHAT, max_tokens=8)
    assert chat.choices[0].message.content and chat.usage.completion_tokens == 8
    text = c.completions.create(model="teacher", prompt="Paris is", max_tokens=5)
    assert text.choices[0].text
    chunks = list(c.chat.completions.create(model="teacher", messages=CHAT, max_tokens=8, stream=True,
                                            stream_options={"include_usage": True}))
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert streamed == chat.choices[0].message.content and chunks[-1].usage.completion_tokens == 8
    plain = list(c.chat.completions.create(model="teacher", messages=CHAT, max_tokens=8, stream=True))
    assert all(ch.usage is None for ch in plain)  # usage only when asked, though the log always gets it
    with httpx.stream("POST", srv.base_url + "/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"prompt": "x", "max_tokens": 3, "stream": True}) as resp:
        assert [line for line in resp.iter_lines() if line][-1] == "data: [DONE]"
    srv.stop()  # shutdown rotates the last segment into Parquet
    table = pq.read_table(list(srv.log_dir.glob("requests-*.parquet")))
    validate(table)
    rows = table.to_pylist()
    assert {r["request_id"] for r in rows} >= {chat.id, text.id, chunks[0].id}
    by_id = {r["request_id"]: r for r in rows}
    assert by_id[chat.id]["response_text"] == chat.choices[0].message.content
    assert by_id[chunks[0].id]["completion_tokens"] == 8 and by_id[plain[0].id]["completion_tokens"] == 8
    assert {(r["account_id"], r["org_id"], r["api_key_id"], r["status"]) for r in rows} == \
        {("acct-a", "org-1", key.split("-")[1], 200)}
    assert by_id[text.id]["endpoint"] == "/v1/completions" and by_id[text.id]["prompt_text"] == "Paris is"
    everything = b"".join(p.read_bytes() for p in srv.log_dir.rglob("*") if p.is_file())
    assert key.split("-", 2)[2].encode() not in everything


def test_unknown_and_revoked_keys_get_401(gateway, keys):
    srv = gateway()
    key = keys.create("acct-a")
    assert client(srv, key).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    for bad in ("sk-something", "dw-000000000000-" + "x" * 43, key[:-2]):
        with pytest.raises(openai.AuthenticationError) as err:
            client(srv, bad).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
        assert err.value.body["code"] == "invalid_api_key" and bad not in json.dumps(err.value.body)
    keys.revoke(key.split("-")[1])
    with pytest.raises(openai.AuthenticationError):
        client(srv, key).models.list()
    assert httpx.post(srv.base_url + "/completions", json={"prompt": "x"}).status_code == 401


def test_policy_over_a_url_upstream_logprobs_opt_out_and_fields(gateway, keys, upstream):
    srv = gateway(upstream.base_url, {"logprobs": {"mode": "cap", "max_top_logprobs": 1},
                                      "watermark": {"config": "kgw:lefthash:key=77:delta=4"}})
    untrusted, trusted = keys.create("acct-u"), keys.create("acct-t", trusted=True)
    assert [m.id for m in client(srv, untrusted).models.list().data] == ["up"]  # passed through
    extra = {"watermarking": False, "vllm_xargs": {"a": "b"}}
    client(srv, untrusted).chat.completions.create(model="up", messages=CHAT, max_tokens=3, logprobs=True,
                                                   top_logprobs=5, extra_body=extra)
    sent = upstream.capture.bodies[-1]
    assert sent["top_logprobs"] == 1 and sent["watermarking"] is True and "vllm_xargs" not in sent
    client(srv, trusted).chat.completions.create(model="up", messages=CHAT, max_tokens=3, logprobs=True,
                                                 top_logprobs=5, extra_body=extra)
    sent = upstream.capture.bodies[-1]
    assert sent["top_logprobs"] == 5 and sent["watermarking"] is False and sent["vllm_xargs"] == {"a": "b"}
    with pytest.raises(openai.BadRequestError, match="echo"):
        client(srv, untrusted).completions.create(model="up", prompt="x", echo=True, logprobs=1, max_tokens=1)
    strip = gateway("mock/local", {"logprobs": {"mode": "strip"}})
    r = client(strip, untrusted).chat.completions.create(model="m", messages=CHAT, max_tokens=3,
                                                         logprobs=True, top_logprobs=3)
    assert r.choices[0].logprobs is None
    r = client(strip, trusted).chat.completions.create(model="m", messages=CHAT, max_tokens=3, logprobs=True)
    assert len(r.choices[0].logprobs.content) == 3


def test_reasoning_traces_are_hidden_also_when_streamed(gateway, keys, upstream):
    srv = gateway(upstream.base_url, {"reasoning": {"mode": "strip"}})
    c = client(srv, keys.create("acct-r"))
    r = c.chat.completions.create(model="up", messages=CHAT, max_tokens=50)
    assert r.choices[0].message.content == "The answer is blue"
    chunks = list(c.chat.completions.create(model="up", messages=CHAT, max_tokens=50, stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "The answer is blue"
    summary = gateway(upstream.base_url, {"reasoning": {"mode": "summarize"}})
    r = client(summary, keys.create("acct-s")).completions.create(model="up", prompt="q", max_tokens=50)
    assert r.choices[0].text == "[reasoning hidden: 4 words]The answer is blue"


def test_watermark_on_a_local_model_and_the_trusted_opt_out(gateway, keys, _tiny_loaded):
    import torch

    from distillwatch.watermark import WatermarkConfig, WatermarkDetector

    torch.set_num_threads(1)
    spec = "kgw:lefthash:key=4242:gamma=0.25:delta=4"
    srv = gateway(_tiny_loaded, {"watermark": {"config": spec}}, served_name="tiny")
    detector = WatermarkDetector(WatermarkConfig.parse(spec), _tiny_loaded.vocab_size)
    untrusted, trusted = client(srv, keys.create("acct-u")), client(srv, keys.create("acct-t", trusted=True))

    def ids(c, opt_out):
        out = []
        for seed in range(3):
            r = c.completions.create(model="tiny", prompt=f"The quick brown fox {seed}", max_tokens=40,
                                     temperature=1.0, seed=seed,
                                     extra_body={"return_token_ids": True, "watermarking": not opt_out})
            out += r.choices[0].token_ids
        return out

    marked = detector.detect(ids(untrusted, opt_out=True))  # the opt-out is stripped: still marked
    assert marked.num_scored_tokens > 30 and marked.p_value < 1e-6
    honoured = detector.detect(ids(trusted, opt_out=True))
    assert honoured.p_value > 1e-3


def test_rate_limit_429_with_retry_after_and_other_accounts_unaffected(gateway, keys):
    srv = gateway(policy={"limits": {"requests_per_minute": 3}, "accounts": {"acct-vip": {"requests_per_minute": 50}}})
    a, b, vip = keys.create("acct-a"), keys.create("acct-b"), keys.create("acct-vip")
    for _ in range(3):
        client(srv, a).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    resp = httpx.post(srv.base_url + "/chat/completions", headers={"Authorization": f"Bearer {a}"},
                      json={"messages": CHAT, "max_tokens": 2})
    assert resp.status_code == 429 and 1 <= int(resp.headers["retry-after"]) <= 60
    assert resp.json()["error"]["type"] == "rate_limit_error"
    with pytest.raises(openai.RateLimitError):
        client(srv, a).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    assert client(srv, b).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    for _ in range(5):
        client(srv, vip).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    rows = srv.gw.log.read_all().to_pylist()
    assert sorted(r["status"] for r in rows if r["account_id"] == "acct-a") == [200, 200, 200, 429, 429]


def test_live_actions_flag_throttle_block_admin_and_metrics(gateway, keys):
    srv = gateway(policy={"scoring": {"requests": 4}, "admin_token": "adm-secret",
                          "actions": {"flag": 0.5, "throttle": 0.75, "block": 1.0,
                                      "throttle_requests_per_minute": 100}})
    harvester, normal = keys.create("acct-h"), keys.create("acct-n")
    seen = []
    for _ in range(4):
        client(srv, harvester).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
        seen.append(srv.gw.accounts["acct-h"].action)
    assert seen == ["allow", "flag", "throttle", "block"]
    with pytest.raises(openai.PermissionDeniedError):
        client(srv, harvester).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    assert client(srv, normal).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    assert httpx.get(srv.url + "/admin/accounts").status_code == 401
    admin = httpx.get(srv.url + "/admin/accounts", headers={"Authorization": "Bearer adm-secret"}).json()["data"]
    assert admin[0]["account_id"] == "acct-h" and admin[0]["action"] == "block" and admin[0]["score"] == 1.0
    assert admin[0]["requests"] == 4 and admin[0]["rejected"] == 1
    metrics = httpx.get(srv.url + "/metrics").text
    assert 'distillwatch_gateway_requests_total{endpoint="/v1/chat/completions",status="403"} 1' in metrics
    assert "# TYPE distillwatch_gateway_request_seconds summary" in metrics
    assert "distillwatch_gateway_accounts_flagged 1" in metrics and "adm-secret" not in metrics


def test_upstream_down_is_a_502_in_openai_format(gateway, keys):
    from distillwatch.gateway import free_port

    srv = gateway(f"http://127.0.0.1:{free_port()}/v1")
    key = keys.create("acct-a")
    with pytest.raises(openai.InternalServerError) as err:
        client(srv, key).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    assert err.value.status_code == 502 and err.value.body["type"] == "upstream_error"
    for stream in (False, True):
        resp = httpx.post(srv.base_url + "/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"messages": CHAT, "stream": stream})
        assert resp.status_code == 502 and "unreachable" in resp.json()["error"]["message"]
    assert httpx.get(srv.base_url + "/models", headers={"Authorization": f"Bearer {key}"}).status_code == 502
    assert {r["status"] for r in srv.gw.log.read_all().to_pylist()} == {502}


def _raw_upstream(body: bytes, delay_s: float = 0.0):
    """An ASGI upstream that answers every request with `body` (status 200) after `delay_s`."""
    import asyncio

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await asyncio.sleep(delay_s)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


def test_slow_and_garbage_upstreams_are_504_and_502_and_other_requests_unaffected(gateway, keys):
    from distillwatch.gateway import HttpUpstream

    key = keys.create("acct-a")
    headers = {"Authorization": f"Bearer {key}"}
    with BackgroundServer(_raw_upstream(b"{}", delay_s=3.0)) as slow, \
            BackgroundServer(_raw_upstream(b"<html>oops</html>")) as garbage:
        slow_gw = gateway(HttpUpstream(slow.base_url, timeout=0.3))
        garbage_gw = gateway(HttpUpstream(garbage.base_url))
        fine_gw = gateway()
        r = httpx.post(slow_gw.base_url + "/chat/completions", headers=headers, json={"messages": CHAT}, timeout=10)
        assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
        r = httpx.post(garbage_gw.base_url + "/chat/completions", headers=headers, json={"messages": CHAT})
        assert r.status_code == 502 and "not JSON" in r.json()["error"]["message"]
        assert client(fine_gw, key).chat.completions.create(model="m", messages=CHAT, max_tokens=2).choices
    assert [r["status"] for r in slow_gw.gw.log.read_all().to_pylist()] == [504]
    assert [r["status"] for r in garbage_gw.gw.log.read_all().to_pylist()] == [502]


SERVE_PROCESS = """
import sys
from distillwatch.gateway import build_app, run_server
from distillwatch.models import get_model
run_server(build_app(get_model("mock/other-process", cache=False), served_name="up"), port=int(sys.argv[1]))
"""


def test_the_official_client_through_the_gateway_to_another_server_process(gateway, keys):
    """The URL upstream mode against an OpenAI-compatible server in its own process: chat,
    completions and streaming, with the official client, unchanged."""
    import subprocess
    import sys
    import time

    from distillwatch.gateway import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE_PROCESS, str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        srv = gateway(f"http://127.0.0.1:{port}/v1")
        c = client(srv, keys.create("acct-a"))
        chat = c.chat.completions.create(model="up", messages=CHAT, max_tokens=5)
        text = c.completions.create(model="up", prompt="Colours:", max_tokens=5).choices[0].text
        pieces = [e.choices[0].delta.content or "" for e in c.chat.completions.create(
            model="up", messages=CHAT, max_tokens=5, stream=True) if e.choices]
        assert chat.choices[0].message.content and text and "".join(pieces) == chat.choices[0].message.content
        logged = srv.gw.log.read_all().to_pylist()
        assert [r["status"] for r in logged] == [200, 200, 200]
        assert logged[0]["response_text"] == chat.choices[0].message.content
    finally:
        proc.terminate()
        proc.wait(timeout=30)


BAD_REQUESTS = [
    ("POST", "/chat/completions", b"{not json", 400, "not valid JSON"),
    ("POST", "/chat/completions", b"[1, 2]", 400, "JSON object"),
    ("POST", "/chat/completions", b'{"messages": []}', 400, "messages"),
    ("POST", "/chat/completions", b'{"messages": "hi"}', 400, "messages"),
    ("POST", "/chat/completions", b'{"messages": [{"role": "user", "content": 5}]}', 400, "content"),
    ("POST", "/chat/completions", json.dumps({"messages": CHAT * 5}).encode(), 400, "at most 4 messages"),
    ("POST", "/chat/completions", json.dumps({"messages": CHAT, "max_tokens": 10**9}).encode(), 400, "max_tokens"),
    ("POST", "/chat/completions", json.dumps({"messages": CHAT, "n": 50}).encode(), 400, "'n'"),
    ("POST", "/chat/completions", json.dumps({"messages": CHAT, "model": 5}).encode(), 400, "model"),
    ("POST", "/chat/completions", json.dumps({"messages": CHAT, "stream": True, "n": 2}).encode(), 400, "stream"),
    ("POST", "/completions", json.dumps({"prompt": {"a": 1}}).encode(), 400, "prompt"),
    ("POST", "/completions", json.dumps({"prompt": "x" * 5000}).encode(), 413, "over 2000 bytes"),
    ("POST", "/completions", b"\xff\xfe", 400, "not valid JSON"),
    ("GET", "/chat/completions", None, 405, "not allowed"),
    ("POST", "/nowhere", b"{}", 404, "no route"),
]


def test_oversized_and_malformed_requests_are_4xx_and_logged(gateway, keys):
    srv = gateway(policy={"limits": {"max_body_bytes": 2000, "max_messages": 4, "max_tokens": 64}})
    key = keys.create("acct-a")
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(headers=headers) as http:
        for method, path, body, status, words in BAD_REQUESTS:
            resp = http.request(method, srv.base_url + path, content=body)
            assert (resp.status_code, words in resp.json()["error"]["message"]) == (status, True), (path, body)
    assert client(srv, key).chat.completions.create(model="m", messages=CHAT, max_tokens=2)  # still serving
    statuses = sorted(r["status"] for r in srv.gw.log.read_all().to_pylist())
    assert statuses == sorted([s for m, p, _, s, _ in BAD_REQUESTS if p != "/nowhere" and m == "POST"] + [200])


def test_client_ip_from_x_forwarded_for_only_behind_a_trusted_proxy(gateway, keys):
    key = keys.create("acct-ip")
    body = {"model": "m", "messages": CHAT, "max_tokens": 2}
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    ips = []
    for proxies in (["127.0.0.1"], []):
        srv = gateway(policy={"trusted_proxies": proxies})
        assert httpx.post(srv.base_url + "/chat/completions", json=body, headers=headers).status_code == 200
        srv.stop()
        ips.append(pq.read_table(list(srv.log_dir.glob("requests-*.parquet"))).column("ip").to_pylist())
    assert ips == [["203.0.113.7"], ["127.0.0.1"]]


def test_scan_scorer_plugs_into_the_gateway(gateway, keys, tmp_path):
    from distillwatch.gateway import ScanScorer

    scorer = ScanScorer(None, min_accounts=1, refresh_every=1, background=False)
    srv = gateway(scorer=scorer)
    key = keys.create("acct-s")
    for _ in range(3):
        client(srv, key).chat.completions.create(model="m", messages=CHAT, max_tokens=2)
    assert scorer.refreshes >= 2 and "acct-s" in scorer.verdicts()
    assert srv.gw.accounts["acct-s"].action in {"allow", "flag", "throttle", "block"}
