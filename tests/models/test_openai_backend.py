"""Retries, backoff and errors of the openai backend, against small real HTTP servers."""

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from distillwatch.errors import EndpointError, UnsupportedOperation
from distillwatch.gateway import BackgroundServer, free_port
from distillwatch.models import GenerateRequest, get_model

OK = {"choices": [{"message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def flaky_app(failures: list[int]):
    calls = {"n": 0, "auth": []}

    async def chat(request):
        calls["n"] += 1
        calls["auth"].append(request.headers.get("authorization"))
        if failures:
            status = failures.pop(0)
            if status == 200:
                return PlainTextResponse("<html>garbage</html>")
            return JSONResponse({"error": {"message": f"status {status}"}}, status_code=status,
                                headers={"retry-after": "0"} if status == 429 else None)
        return JSONResponse(OK)

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])]), calls


def test_retries_on_429_and_5xx_then_succeeds(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    app, calls = flaky_app([429, 503, 200])
    with BackgroundServer(app) as srv:
        m = get_model(f"openai/x@{srv.base_url}", cache=False, backoff=0.01, api_key_env="MY_KEY")
        c = m.generate([GenerateRequest([{"role": "user", "content": "hi"}])])[0]
    assert c.text == "fine" and calls["n"] == 4
    assert calls["auth"][0] == "Bearer sk-test"


def test_client_errors_are_not_retried():
    app, calls = flaky_app([400])
    with BackgroundServer(app) as srv:
        m = get_model(f"openai/x@{srv.base_url}", cache=False, backoff=0.01)
        with pytest.raises(EndpointError, match="HTTP 400: status 400") as info:
            m.generate([GenerateRequest([{"role": "user", "content": "hi"}])])
    assert info.value.status_code == 400 and calls["n"] == 1


def test_gives_up_after_max_retries():
    app, calls = flaky_app([500] * 10)
    with BackgroundServer(app) as srv:
        m = get_model(f"openai/x@{srv.base_url}", cache=False, backoff=0.01, max_retries=2)
        with pytest.raises(EndpointError, match="after 3 tries"):
            m.generate([GenerateRequest([{"role": "user", "content": "hi"}])])
    assert calls["n"] == 3


def test_unreachable_endpoint_is_one_clear_error():
    m = get_model(f"openai/x@http://127.0.0.1:{free_port()}/v1", cache=False, backoff=0.01, max_retries=1)
    with pytest.raises(EndpointError, match="is the server running"):
        m.generate(["hi"])


def test_scoring_unsupported_by_server_is_reported():
    app, _ = flaky_app([])
    with BackgroundServer(app) as srv:
        m = get_model(f"openai/x@{srv.base_url}", cache=False, backoff=0.01)
        with pytest.raises(UnsupportedOperation, match="teacher-forced scoring"):
            m.score(["some text"])
        with pytest.raises(UnsupportedOperation, match="local logits processor"):
            m.generate(["hi"], logits_processor=lambda ids, s: s)
