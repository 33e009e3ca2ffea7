"""Hostile input never crashes the gateway: fuzzed bodies, fields, headers and paths get an answer or a
4xx in OpenAI's error format (never a 500), the log stays valid, and the gateway keeps serving."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillwatch.traffic.schema import validate

VALID = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "Name a colour."}]}

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | \
    st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
FIELDS = ["model", "messages", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
          "stream", "stream_options", "logprobs", "top_logprobs", "stop", "seed", "watermark", "user"]
mutated_bodies = st.builds(lambda base, changes: {**base, **changes}, st.just(VALID),
                           st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4))
hostile_messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool",
                                                                            "", "root"]),
                                                   "content": json_values}), max_size=5)
bodies = (
    mutated_bodies.map(lambda b: json.dumps(b, allow_nan=True).encode())
    | hostile_messages.map(lambda m: json.dumps({**VALID, "messages": m}).encode())
    | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | st.binary(max_size=300)
    | st.just(b'{"model": "m", "messages": [' * 200)
    | st.just(json.dumps({**VALID, "messages": [{"role": "user", "content": "x" * 50_000}]}).encode())
)
paths = st.sampled_from(["/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/chat/completions/",
                         "/v1/../admin/accounts", "/v1/chat/completions?stream=true", "/v2/x"])
auth = st.sampled_from(["good", "none", "Bearer ", "Bearer dw-nope", "Basic Zm9vOmJhcg==", "Bearer good\x00"])


def test_fuzzed_requests_get_clean_answers_and_the_gateway_keeps_serving(gateway, keys):
    srv = gateway(policy={"limits": {"max_body_bytes": 20_000, "max_messages": 8, "max_tokens": 64}})
    key = keys.create("acct-fuzz")
    seen: dict[int, int] = {}

    with httpx.Client(base_url=srv.base_url.removesuffix("/v1"), timeout=30) as http:

        @settings(max_examples=250, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(body=bodies, path=paths, how=auth, method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
               content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1"]))
        def probe(body, path, how, method, content_type):
            headers = {"content-type": content_type}
            if how != "none":
                headers["Authorization"] = f"Bearer {key}" if how == "good" else how.replace("good", key)
            try:
                r = http.request(method, path, content=body, headers=headers)
            except httpx.LocalProtocolError:  # the client itself refuses the header (e.g. a NUL byte)
                return
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            assert r.status_code < 500, (r.status_code, r.text[:300], path, body[:200])
            if r.status_code >= 400:
                error = r.json()["error"]
                assert isinstance(error["message"], str) and error["message"] and "type" in error
                assert key not in r.text
            elif 300 <= r.status_code < 400:  # e.g. a trailing slash, redirected to the endpoint
                assert r.headers["location"]
            elif "stream" not in r.headers.get("content-type", "") and path.startswith("/v1/chat"):
                assert r.json()["choices"]

        probe()
        ok = http.post("/v1/chat/completions", json=VALID, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]
    assert seen.get(200, 0) > 0 and sum(v for k, v in seen.items() if 400 <= k < 500) > 100
    logged = srv.gw.log.read_all()
    validate(logged)
    assert logged.num_rows > 0
