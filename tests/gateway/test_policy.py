"""The policy file, the request rewrite (logprobs, watermark opt-out, allowlist) and the reasoning filter."""

import pytest

from distillwatch.errors import InputError
from distillwatch.gateway import (
    ApiError,
    Policy,
    ReasoningFilter,
    filter_reasoning,
    load_policy,
)

YAML = """
logprobs: {mode: cap, max_top_logprobs: 2}
watermark: {config: "kgw:lefthash:key=env:TEST_WM_KEY:delta=4"}
reasoning: {mode: summarize}
limits: {requests_per_minute: 10, max_tokens: 64}
accounts: {big: {requests_per_minute: 1000}}
actions: {flag: 0.3, throttle: 0.6, block: 0.9}
admin_token: env:TEST_ADMIN
"""


def test_load_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_WM_KEY", "12345")
    monkeypatch.setenv("TEST_ADMIN", "adm")
    p = tmp_path / "policy.yaml"
    p.write_text(YAML)
    policy = load_policy(p)
    assert policy.watermark.parsed().delta == 4.0 and policy.admin_token == "adm"
    assert policy.limits_for("big").requests_per_minute == 1000 and policy.limits_for("big").max_tokens == 64
    assert policy.limits_for("small").requests_per_minute == 10
    assert [policy.actions.action_for(s) for s in (0.1, 0.3, 0.7, 0.95)] == ["allow", "flag", "throttle", "block"]
    assert "adm" not in repr(policy) and "12345" not in repr(policy)
    p.write_text("limits: {request_per_minute: 3}\n")
    with pytest.raises(InputError, match="request_per_minute"):
        load_policy(p)
    p.write_text("limits: {requests_per_minute: ten}\n")
    with pytest.raises(InputError, match="limits.requests_per_minute must be a non-negative number"):
        load_policy(p)
    p.write_text("watermark: {config: 'kgw:key=env:NOPE_NOT_SET'}\n")
    with pytest.raises(InputError, match="watermark"):
        load_policy(p)


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("mode, body, chat, expect", [
    ("cap", {**CHAT, "logprobs": True, "top_logprobs": 20}, True, {"logprobs": True, "top_logprobs": 2}),
    ("strip", {**CHAT, "logprobs": True, "top_logprobs": 20}, True, {}),
    ("allow", {**CHAT, "logprobs": True, "top_logprobs": 20}, True, {"logprobs": True, "top_logprobs": 20}),
    ("cap", {"model": "m", "prompt": "x", "logprobs": 5}, False, {"logprobs": 2}),
    ("strip", {"model": "m", "prompt": "x", "logprobs": 5}, False, {}),
])
def test_logprobs_rule(mode, body, chat, expect):
    policy = Policy.from_mapping({"logprobs": {"mode": mode, "max_top_logprobs": 2}})
    out, _ = policy.forwarded_body(body, chat=chat, trusted=False)
    assert {k: out[k] for k in ("logprobs", "top_logprobs") if k in out} == expect


def test_opt_out_and_allowlist():
    policy = Policy.from_mapping({"watermark": {"config": "kgw:key=1"}})
    body = {**CHAT, "watermarking": False, "vllm_xargs": {"x": 1}, "disable_watermark": True}
    out, wm = policy.forwarded_body(body, chat=True, trusted=False)
    assert wm is True and "watermarking" not in out and "vllm_xargs" not in out and "disable_watermark" not in out
    out, wm = policy.forwarded_body(body, chat=True, trusted=True)
    assert wm is False and "vllm_xargs" in out and "watermarking" not in out
    assert policy.forwarded_body(CHAT, chat=True, trusted=True)[1] is True  # no opt-out asked
    assert Policy().forwarded_body(body, chat=True, trusted=False)[1] is None  # no watermark configured
    assert policy.forwarded_body({**CHAT, "watermark": True}, chat=True, trusted=True)[1] is True
    assert policy.forwarded_body({**CHAT, "no_watermark": True}, chat=True, trusted=True)[1] is False
    inline = Policy.from_mapping({"watermark": {"config": "kgw:key=987654321"}})
    assert "987654321" not in repr(inline) and "987654321" not in repr(inline.watermark.parsed())
    with pytest.raises(ApiError, match="echo"):
        policy.forwarded_body({"prompt": "x", "echo": True, "logprobs": 1}, chat=False, trusted=False)


def test_reasoning_filter_streams_across_split_tags():
    text = "Sure. <think>first I consider the\nquestion carefully</think>The answer is 4."
    assert filter_reasoning(text, "strip") == ("Sure. The answer is 4.", 1)
    assert filter_reasoning(text, "summarize")[0] == "Sure. [reasoning hidden: 6 words]The answer is 4."
    assert filter_reasoning(text, "keep") == (text, 0)
    for size in (1, 2, 3, 5, 7):
        f = ReasoningFilter("strip")
        out = "".join(f.feed(text[i:i + size]) for i in range(0, len(text), size)) + f.finish()
        assert out == "Sure. The answer is 4."
    f = ReasoningFilter("strip")  # cut off inside the span: hidden to the end
    assert f.feed("ok <think>never") + f.finish() == "ok "
    assert filter_reasoning("a < b and <th is not a tag", "strip")[0] == "a < b and <th is not a tag"
