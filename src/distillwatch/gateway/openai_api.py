"""The OpenAI-compatible HTTP API over a local model: `/v1/models`, `/v1/chat/completions`,
`/v1/completions` (with `echo` + `logprobs` for teacher-forced scoring), streaming as server-sent events
ending in `data: [DONE]`, and errors in OpenAI's format.

Extensions (ignored by clients that do not ask): `return_token_ids: true` adds `token_ids` to each
choice (and `prompt_token_ids` when echoing), so our `openai/...` backend gets exact ids.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, AsyncIterator

from ..errors import DistillwatchError
from ..models import Completion, GenerateRequest, Model
from .engine import BatchingEngine

__all__ = ["create_app", "ApiError", "ServerLimits", "parse_generate_request"]


class ApiError(Exception):
    """An error answered to the client as `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 type_: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.type, self.code = status, message, param, type_, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class ServerLimits:
    """Request limits: body size in bytes, `max_tokens`, choices per request (`n`)."""

    def __init__(self, max_body_bytes: int = 1_000_000, max_tokens: int = 2048, max_n: int = 8):
        self.max_body_bytes, self.max_tokens, self.max_n = max_body_bytes, max_tokens, max_n


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if content is None:
        return ""
    raise ApiError(400, "message content must be a string or a list of text parts", "messages")


def _number(body: dict, name: str, default, kind=float, lo=None, hi=None):
    value = body.get(name, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"'{name}' must be a number", name)
    value = kind(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApiError(400, f"'{name}' must be between {lo} and {hi}, got {value}", name)
    return value


def parse_generate_request(body: dict, chat: bool, limits: ServerLimits) -> tuple[GenerateRequest, int]:
    """Validate an OpenAI request body into our request and its `n`; raises `ApiError` (400)."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "'messages' must be a non-empty list", "messages")
        prompt: Any = []
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise ApiError(400, "each message needs a 'role' and 'content'", "messages")
            prompt.append({"role": m["role"], "content": _content_text(m.get("content"))})
    else:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise ApiError(400, "'prompt' must be a string", "prompt")
    default_max = min(256 if chat else 16, limits.max_tokens)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = _number({"max_tokens": max_tokens}, "max_tokens", default_max, int, 0, limits.max_tokens)
    stop = body.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 4:
        raise ApiError(400, "'stop' must be a string or a list of up to 4 non-empty strings", "stop")
    if chat:
        want_logprobs = bool(body.get("logprobs") or False)
        top = _number(body, "top_logprobs", 0, int, 0, 20) if want_logprobs else 0
    else:
        raw = body.get("logprobs")
        want_logprobs = raw is not None and raw is not False
        top = _number(body, "logprobs", 0, int, 0, 5) if want_logprobs else 0
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(400, "'seed' must be an integer", "seed")
    n = _number(body, "n", 1, int, 1, limits.max_n)
    request = GenerateRequest(
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, float, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, float, 1e-6, 1.0),
        seed=seed,
        stop=tuple(stop),
        logprobs=want_logprobs,
        top_logprobs=top,
    )
    return request, n


def _with_seed(request: GenerateRequest, i: int) -> GenerateRequest:
    if i == 0 or request.seed is None:
        return request
    from dataclasses import replace

    return replace(request, seed=request.seed + i)


def _usage(prompt_tokens: int, completions: list[Completion]) -> dict:
    completion_tokens = sum(c.completion_tokens for c in completions)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _chat_logprobs(c: Completion) -> dict | None:
    if c.logprobs is None:
        return None
    tops = c.top_logprobs or [{} for _ in c.logprobs]
    return {
        "content": [
            {"token": tok, "logprob": lp, "bytes": list(tok.encode()),
             "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in top.items()]}
            for tok, lp, top in zip(c.tokens or [], c.logprobs, tops)
        ]
    }


def _text_logprobs(c: Completion, offset: int) -> dict | None:
    if c.logprobs is None:
        return None
    offsets, pos = [], offset
    for tok in c.tokens or []:
        offsets.append(pos)
        pos += len(tok)
    return {"tokens": c.tokens or [], "token_logprobs": c.logprobs,
            "top_logprobs": c.top_logprobs, "text_offset": offsets}


class _Deltas:
    """Turns a stream of token ids into text deltas, holding back what a stop string might cut.

    Decoding is incremental: each token decodes only a short window (the tokens since the last emitted
    text, with the previous chunk as context for spacing), not the whole answer again.
    """

    def __init__(self, tokenizer, holdback: int):
        self.tokenizer, self.holdback = tokenizer, holdback
        self.ids: list[int] = []
        self.text = ""  # decoded so far
        self.prefix_offset = 0  # ids[prefix_offset:read_offset] are context already in `text`
        self.read_offset = 0
        self.sent = 0

    def push(self, token: int) -> str:
        self.ids.append(token)
        decode = self.tokenizer.decode
        prefix = decode(self.ids[self.prefix_offset : self.read_offset], skip_special_tokens=True)
        window = decode(self.ids[self.prefix_offset :], skip_special_tokens=True)
        if window.endswith("\ufffd") or len(window) <= len(prefix):  # incomplete character: wait
            return ""
        self.text += window[len(prefix) :]
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        ready = len(self.text) - self.holdback
        if ready <= self.sent:
            return ""
        delta, self.sent = self.text[self.sent : ready], ready
        return delta

    def finish(self, final_text: str) -> str:
        delta = final_text[self.sent :] if len(final_text) > self.sent else ""
        self.sent = max(self.sent, len(final_text))
        return delta


def create_app(
    model: Model,
    *,
    served_name: str | None = None,
    engine: BatchingEngine | None = None,
    limits: ServerLimits | None = None,
):
    """A Starlette app serving `model` over the OpenAI API."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    import asyncio
    from contextlib import asynccontextmanager

    name = served_name or model.model_id
    engine = engine or BatchingEngine(model)
    limits = limits or ServerLimits()
    tokenizer = getattr(model, "tokenizer", None)

    def error(exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    async def read_body(request: Request) -> dict:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise ApiError(413, f"request body over {limits.max_body_bytes} bytes")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limits.max_body_bytes:
                raise ApiError(413, f"request body over {limits.max_body_bytes} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        model_name = body.get("model")
        if model_name is not None and not isinstance(model_name, str):
            raise ApiError(400, "'model' must be a string", "model")
        return body

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "distillwatch"}]})

    async def run_n(req: GenerateRequest, n: int) -> list[Completion]:
        return list(await asyncio.gather(*(engine.generate(_with_seed(req, i)) for i in range(n))))

    async def completions_endpoint(request: Request, chat: bool):
        try:
            body = await read_body(request)
            req, n = parse_generate_request(body, chat, limits)
            want_ids = bool(body.get("return_token_ids"))
            echo = bool(body.get("echo")) and not chat
            if body.get("stream"):
                if n != 1 or echo:
                    raise ApiError(400, "streaming supports n=1 without echo", "stream")
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return StreamingResponse(
                    stream_events(req, chat, include_usage, want_ids),
                    media_type="text/event-stream",
                )
            created, rid = int(time.time()), uuid.uuid4().hex[:24]
            echoed = None
            if echo:
                echoed = await echo_prompt(req.prompt, req.logprobs)
            completions = await run_n(req, n) if req.max_tokens > 0 or not echo else [
                Completion(text="", token_ids=[], finish_reason="length", prompt_tokens=None)]
        except ApiError as exc:
            return error(exc)
        except DistillwatchError as exc:
            return error(ApiError(400, str(exc)))
        prompt_tokens = completions[0].prompt_tokens or (len(echoed["ids"]) if echoed else 0)
        choices = []
        for i, c in enumerate(completions):
            if chat:
                choice: dict[str, Any] = {"index": i, "message": {"role": "assistant", "content": c.text},
                                          "finish_reason": c.finish_reason, "logprobs": _chat_logprobs(c)}
            else:
                text, logprobs = c.text, _text_logprobs(c, 0)
                if echoed is not None:
                    text = req.prompt + c.text
                    logprobs = merge_echo(echoed, c, req.logprobs)
                choice = {"index": i, "text": text, "finish_reason": c.finish_reason, "logprobs": logprobs}
            if want_ids:
                choice["token_ids"] = c.token_ids
                if echoed is not None:
                    choice["prompt_token_ids"] = echoed["ids"]
            choices.append(choice)
        return JSONResponse({
            "id": ("chatcmpl-" if chat else "cmpl-") + rid,
            "object": "chat.completion" if chat else "text_completion",
            "created": created, "model": name, "choices": choices,
            "usage": _usage(prompt_tokens, completions),
        })

    async def echo_prompt(prompt: str, want_logprobs: bool) -> dict:
        """The prompt's tokens and teacher-forced log-probabilities (the first token has none)."""
        if not getattr(model, "supports_score", False) or tokenizer is None:
            raise ApiError(400, f"{name} cannot echo prompt logprobs", "echo")
        ids = list(tokenizer(prompt, add_special_tokens=True).input_ids)
        if len(ids) < 2:
            scores = None
        else:
            (scores,) = await engine.score([ids])
        tokens = tokenizer.batch_decode([[t] for t in ids])
        specials = set(tokenizer.all_special_ids)
        offsets, pos = [], 0
        for tid, tok in zip(ids, tokens):
            offsets.append(pos)
            if tid not in specials:
                pos += len(tok)
        logprobs = [None] + (scores.logprobs if scores else [])
        return {"ids": ids, "tokens": tokens, "logprobs": logprobs, "offsets": offsets, "text_len": pos}

    def merge_echo(echoed: dict, c: Completion, want_logprobs: bool) -> dict:
        gen = _text_logprobs(c, echoed["text_len"]) or {"tokens": [], "token_logprobs": [],
                                                        "top_logprobs": None, "text_offset": []}
        tops = None
        if gen.get("top_logprobs") is not None:
            tops = [None] * len(echoed["ids"]) + gen["top_logprobs"]
        return {
            "tokens": echoed["tokens"] + gen["tokens"],
            "token_logprobs": echoed["logprobs"] + gen["token_logprobs"],
            "top_logprobs": tops,
            "text_offset": echoed["offsets"] + gen["text_offset"],
        }

    async def stream_events(req: GenerateRequest, chat: bool, include_usage: bool,
                            want_ids: bool) -> AsyncIterator[str]:
        created, rid = int(time.time()), ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        kind = "chat.completion.chunk" if chat else "text_completion"
        queue: asyncio.Queue = asyncio.Queue()
        deltas = _Deltas(tokenizer, max((len(s) for s in req.stop), default=0)) if tokenizer else None

        def chunk(text: str | None, finish: str | None = None, first: bool = False, ids=None) -> str:
            if chat:
                delta: dict[str, Any] = {}
                if first:
                    delta["role"] = "assistant"
                if text is not None:
                    delta["content"] = text
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            else:
                choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
            if want_ids and ids is not None:
                choice["token_ids"] = ids
            payload = {"id": rid, "object": kind, "created": created, "model": name, "choices": [choice]}
            return f"data: {json.dumps(payload)}\n\n"

        task = asyncio.ensure_future(engine.generate(req, on_token=queue.put_nowait if deltas else None))
        task.add_done_callback(lambda _t: queue.put_nowait(None))
        if chat:
            yield chunk("", first=True)
        while True:
            token = await queue.get()
            if token is None:
                break
            text = deltas.push(token)
            if text:
                yield chunk(text, ids=[token])
        try:
            completion = task.result()
        except Exception as exc:  # headers are sent: report the error inside the stream
            err = exc if isinstance(exc, ApiError) else ApiError(500, str(exc), type_="server_error")
            yield f"data: {json.dumps(err.body())}\n\n"
            yield "data: [DONE]\n\n"
            return
        rest = deltas.finish(completion.text) if deltas else completion.text
        if rest:
            yield chunk(rest)
        yield chunk(None if chat else "", finish=completion.finish_reason)
        if include_usage:
            payload = {"id": rid, "object": kind, "created": created, "model": name, "choices": [],
                       "usage": _usage(completion.prompt_tokens or 0, [completion])}
            yield f"data: {json.dumps(payload)}\n\n"
        yield "data: [DONE]\n\n"

    async def chat_completions(request: Request):
        return await completions_endpoint(request, chat=True)

    async def text_completions(request: Request):
        return await completions_endpoint(request, chat=False)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": name, "engine": engine.stats.to_dict()})

    async def not_found(request: Request, exc) -> JSONResponse:
        return error(ApiError(404, f"no route {request.method} {request.url.path}", type_="not_found_error"))

    async def method_not_allowed(request: Request, exc) -> JSONResponse:
        return error(ApiError(405, f"{request.method} is not allowed on {request.url.path}"))

    @asynccontextmanager
    async def lifespan(app):
        engine.start()
        yield
        await engine.stop()

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", text_completions, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: method_not_allowed})
    app.state.engine = engine
    app.state.served_name = name
    return app
