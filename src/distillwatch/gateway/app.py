"""The gateway: an OpenAI-compatible front door that authenticates, applies the policy, watermarks,
logs every request durably and limits harvesting, in front of a local model or an upstream URL.

    request → key (401) → live action (403 block) → rate limits (429 + Retry-After) → body limits and
    validation (4xx) → policy rewrite (logprobs, watermark opt-out, field allowlist) → upstream
    → reasoning filter → request log (written; fsynced per `request_log`'s durability) → answer → live scorer

An answer leaves the gateway only after its log record is written (durable against `kill -9`); a
stream's final `data: [DONE]` is held back until then. Client keys are never forwarded, logged or echoed.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from .keys import ApiKey, KeyStore
from .live import LiveScorer, RateLimiter, Verdict, WindowScorer
from .metrics import Metrics
from .openai_api import ApiError, ServerLimits, parse_generate_request
from .policy import Policy
from .reasoning import ReasoningFilter
from .request_log import RequestLog
from .upstream import Upstream, UpstreamResponse

__all__ = ["AccountState", "create_gateway_app"]

log = logging.getLogger("distillwatch.gateway")
_REASONING_FIELDS = ("reasoning_content", "reasoning")


@dataclass
class AccountState:
    """What the admin view shows of one account."""

    account_id: str
    org_id: str | None = None
    requests: int = 0
    rejected: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    score: float = 0.0
    action: str = "allow"
    reason: str = ""
    last_seen: str | None = None
    _verdict_at: float = field(default=0.0, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def _num(value: Any, kind=float):
    return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _request_fields(body: dict, chat: bool) -> dict:
    """The sampling parameters the client asked for, as log fields (type-safe for rejected bodies)."""
    prompt = body.get("messages") if chat else body.get("prompt")
    if chat:
        ok = isinstance(prompt, list) and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                              for m in prompt)
        logprobs, top = bool(body.get("logprobs")), _num(body.get("top_logprobs"), int)
    else:
        if isinstance(prompt, list) and len(prompt) == 1:  # ["text"], as `serve` accepts
            prompt = prompt[0]
        ok = isinstance(prompt, str)
        raw = body.get("logprobs")
        logprobs, top = raw is not None and raw is not False, _num(raw, int)
    return {
        "model": body.get("model") if isinstance(body.get("model"), str) else None,
        "messages": prompt if ok else None,
        "temperature": _num(body.get("temperature")), "top_p": _num(body.get("top_p")),
        "max_tokens": _num(body.get("max_completion_tokens", body.get("max_tokens")), int),
        "n": _num(body.get("n"), int), "logprobs": logprobs, "top_logprobs": top,
    }


class _Gateway:
    def __init__(self, upstream: Upstream, policy: Policy, keys: KeyStore, request_log: RequestLog,
                 scorer: LiveScorer | None, served_name: str | None, clock: Callable[[], float] | None = None):
        self.upstream, self.policy, self.keys, self.log = upstream, policy, keys, request_log
        self.clock = clock or time.time
        s = policy.scoring
        self.scorer = scorer or WindowScorer(s.window_s, s.requests, s.tokens)
        self.served_name = served_name or getattr(upstream, "served_name", None) or "distillwatch"
        self.limiter = RateLimiter(clock=clock)
        self.metrics = Metrics()
        self.accounts: dict[str, AccountState] = {}

    # -- the pieces of a request -------------------------------------------------------------------
    def authenticate(self, request) -> ApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        key = self.keys.verify(token.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            raise ApiError(401, "Incorrect or revoked API key. Create one with `distillwatch keys create`.",
                           type_="invalid_request_error", code="invalid_api_key")
        return key

    def admit(self, key: ApiKey) -> None:
        state = self.accounts.setdefault(key.account_id, AccountState(key.account_id, key.org_id))
        if state.action in ("block", "throttle") and \
                self.clock() - state._verdict_at > self.policy.scoring.window_s:
            state.action, state.reason = "allow", "verdict expired"
        self.metrics.inc("distillwatch_gateway_actions_total", action=state.action)
        if state.action == "block":
            raise ApiError(403, "This account is blocked by the provider's usage policy.",
                           type_="permission_error", code="account_blocked")
        limits = self.policy.limits_for(key.account_id)
        rpm = limits.requests_per_minute
        if state.action == "throttle":
            cap = self.policy.actions.throttle_requests_per_minute
            rpm = cap if rpm is None else min(rpm, cap)
        wait = self.limiter.admit(key.account_id, rpm, limits.tokens_per_minute)
        if wait is not None:
            exc = ApiError(429, "Rate limit reached for this account; retry after the Retry-After header.",
                           type_="rate_limit_error", code="rate_limit_exceeded")
            exc.retry_after = max(1, math.ceil(wait))
            raise exc

    async def read_body(self, request, max_bytes: int) -> dict:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise ApiError(413, f"request body over {max_bytes} bytes")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_bytes:
                raise ApiError(413, f"request body over {max_bytes} bytes")
        try:
            body = json.loads(bytes(raw))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def validate(self, body: dict, chat: bool, account: str) -> None:
        limits = self.policy.limits_for(account)
        parse_generate_request(body, chat, ServerLimits(limits.max_body_bytes, limits.max_tokens, limits.max_n))
        if chat and len(body["messages"]) > limits.max_messages:
            raise ApiError(400, f"at most {limits.max_messages} messages per request", "messages")
        if body.get("model") is not None and not isinstance(body.get("model"), str):
            raise ApiError(400, "'model' must be a string", "model")

    def reasoning_filter(self) -> ReasoningFilter:
        return ReasoningFilter(self.policy.reasoning.mode, self.policy.reasoning.tags)

    def scrub_choice(self, choice: dict, chat: bool) -> str:
        """Apply the reasoning policy to one non-streamed choice; returns its visible text."""
        holder = (choice.get("message") or {}) if chat else choice
        key = "content" if chat else "text"
        text = holder.get(key)
        if self.policy.reasoning.mode == "keep" or not isinstance(text, str):
            return text if isinstance(text, str) else ""
        f = self.reasoning_filter()
        holder[key] = f.feed(text) + f.finish()
        for name in _REASONING_FIELDS:
            holder.pop(name, None)
        if f.spans:  # token-level detail would give the hidden span away
            choice["logprobs"] = None
            choice.pop("token_ids", None)
            self.metrics.inc("distillwatch_gateway_policy_total", kind="reasoning_hidden")
        return holder[key]

    async def finish(self, record: dict, t0: float) -> None:
        """Make the record durable, then update the account (counts, live score, action)."""
        record["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
        if record.get("model") is None:
            record["model"] = self.served_name
        try:
            await self.log.append(record)
        except Exception as exc:  # noqa: BLE001 - never answer what could not be logged
            log.error("request log append failed: %s", exc)
            raise ApiError(503, "the gateway cannot record requests right now; retry later",
                           type_="server_error", code="log_unavailable") from None
        status = int(record["status"])
        m = self.metrics
        m.inc("distillwatch_gateway_requests_total", endpoint=record["endpoint"], status=str(status))
        m.inc("distillwatch_gateway_request_seconds_sum", record["latency_ms"] / 1000.0)
        m.inc("distillwatch_gateway_request_seconds_count")
        state = self.accounts.setdefault(record["account_id"], AccountState(record["account_id"], record["org_id"]))
        state.last_seen = record["timestamp"]
        if status >= 400:
            state.rejected += 1
            return
        prompt, completion = int(record.get("prompt_tokens") or 0), int(record.get("completion_tokens") or 0)
        m.inc("distillwatch_gateway_tokens_total", prompt, kind="prompt")
        m.inc("distillwatch_gateway_tokens_total", completion, kind="completion")
        state.requests += 1
        state.prompt_tokens += prompt
        state.completion_tokens += completion
        self.limiter.spend(state.account_id, prompt + completion)
        try:
            verdict = self.scorer.observe(record)
        except Exception as exc:  # noqa: BLE001 - a broken scorer must not take the service down
            log.error("live scorer failed: %s", exc)
            return
        if not isinstance(verdict, Verdict):
            verdict = Verdict(float(verdict))
        action = verdict.action or self.policy.actions.action_for(verdict.score)
        state.score, state.action, state.reason = round(float(verdict.score), 4), action, verdict.reason
        state._verdict_at = self.clock()

    # -- streaming -----------------------------------------------------------------------------------
    async def relay(self, resp: UpstreamResponse, record: dict, chat: bool, include_usage: bool,
                    t0: float) -> AsyncIterator[bytes]:
        filters: dict[int, ReasoningFilter] = {}
        texts: dict[int, list[str]] = {}
        usage_event: bytes | None = None
        logged = False
        buffer = b""
        hide = self.policy.reasoning.mode != "keep"
        try:
            async for chunk in resp.chunks():
                buffer += chunk.replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    data = b"\n".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))
                    if not data or data == b"[DONE]":
                        continue
                    try:
                        payload = json.loads(data)
                    except ValueError:
                        continue
                    if "error" in payload:
                        record["status"] = 502
                        yield b"data: " + data + b"\n\n"
                        continue
                    payload["id"] = record["request_id"]  # the id clients see is the one in the log
                    usage = payload.pop("usage", None)
                    if usage:
                        record["prompt_tokens"] = usage.get("prompt_tokens")
                        record["completion_tokens"] = usage.get("completion_tokens")
                        if include_usage:
                            usage_event = b"data: " + json.dumps({**payload, "choices": [], "usage": usage}).encode() + b"\n\n"
                    if not payload.get("choices"):
                        continue
                    for choice in payload["choices"]:
                        i = int(choice.get("index", 0))
                        holder = choice.get("delta", {}) if chat else choice
                        key = "content" if chat else "text"
                        piece = holder.get(key)
                        if hide:
                            f = filters.setdefault(i, self.reasoning_filter())
                            was_inside = f.inside is not None
                            if isinstance(piece, str):
                                piece = f.feed(piece)
                            if choice.get("finish_reason") is not None:
                                piece = (piece or "") + f.finish()
                            if isinstance(holder.get(key), str) or piece:
                                holder[key] = piece
                            for name in _REASONING_FIELDS:
                                holder.pop(name, None)
                            if was_inside or f.inside is not None or f.spans:
                                choice["logprobs"] = None
                                choice.pop("token_ids", None)
                        if isinstance(piece, str):
                            texts.setdefault(i, []).append(piece)
                    yield b"data: " + json.dumps(payload).encode() + b"\n\n"
            record["response_text"] = "\n\n".join("".join(texts[i]) for i in sorted(texts))
            logged = True
            await self.finish(record, t0)
            if usage_event:
                yield usage_event
            yield b"data: [DONE]\n\n"
        except ApiError as exc:  # the upstream broke off mid-stream
            self.metrics.inc("distillwatch_gateway_upstream_errors_total")
            if not logged:
                record["status"], logged = exc.status, True
                record["response_text"] = "\n\n".join("".join(texts[i]) for i in sorted(texts))
                await self.finish(record, t0)
            yield b"data: " + json.dumps(exc.body()).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            await resp.aclose()
            if not logged:  # the client went away before the end: still on the record
                record["status"] = 499
                record["response_text"] = "\n\n".join("".join(texts[i]) for i in sorted(texts))
                try:
                    await self.finish(record, t0)
                except Exception:  # noqa: BLE001, S110 - nobody is listening any more
                    pass

    # -- endpoints -----------------------------------------------------------------------------------
    async def completions(self, request, chat: bool):
        from starlette.responses import JSONResponse, StreamingResponse

        t0 = time.perf_counter()
        record: dict[str, Any] = {
            "timestamp": _dt.datetime.fromtimestamp(self.clock(), _dt.timezone.utc).isoformat(),
            "request_id": ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24],
            "endpoint": request.url.path, "ip": self.policy.client_ip(request.client.host if request.client else None,
                                        request.headers.get("x-forwarded-for")),
            "user_agent": request.headers.get("user-agent"), "model": None,
        }
        try:
            key = self.authenticate(request)
        except ApiError as exc:
            self.metrics.inc("distillwatch_gateway_requests_total", endpoint=record["endpoint"], status="401")
            return self.error(exc)
        record.update(account_id=key.account_id, org_id=key.org_id, api_key_id=key.key_id)
        try:
            self.admit(key)
            body = await self.read_body(request, self.policy.limits_for(key.account_id).max_body_bytes)
            record.update(_request_fields(body, chat))
            self.validate(body, chat, key.account_id)
            forwarded, watermark = self.policy.forwarded_body(body, chat=chat, trusted=key.trusted)
            if forwarded.get("logprobs") != body.get("logprobs") or \
                    forwarded.get("top_logprobs") != body.get("top_logprobs"):
                self.metrics.inc("distillwatch_gateway_policy_total", kind="logprobs_limited")
            if watermark is False:
                self.metrics.inc("distillwatch_gateway_policy_total", kind="watermark_opt_out_honoured")
            stream = bool(body.get("stream"))
            include_usage = False
            if stream:
                options = body.get("stream_options")
                include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
                forwarded["stream_options"] = {"include_usage": True}  # the log needs token counts
            path = "/chat/completions" if chat else "/completions"
            try:
                resp = await self.upstream.request("POST", path, forwarded, watermark=watermark)
            except ApiError:
                self.metrics.inc("distillwatch_gateway_upstream_errors_total")
                raise
            if resp.status >= 400:
                raise self.upstream_error(resp.status, await resp.read())
            if stream:
                record["status"] = 200
                return StreamingResponse(self.relay(resp, record, chat, include_usage, t0),
                                         media_type="text/event-stream")
            payload = resp.json(await resp.read())
            if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
                raise ApiError(502, "the upstream answered without choices", type_="upstream_error")
            payload["id"] = record["request_id"]  # the id clients see is the one in the log
            texts = [self.scrub_choice(c, chat) for c in payload["choices"] if isinstance(c, dict)]
            usage = payload.get("usage") or {}
            record.update(status=200, response_text="\n\n".join(texts),
                          prompt_tokens=_num(usage.get("prompt_tokens"), int),
                          completion_tokens=_num(usage.get("completion_tokens"), int))
            await self.finish(record, t0)
            return JSONResponse(payload)
        except Exception as exc:
            if not isinstance(exc, ApiError):
                log.exception("gateway error on %s", record["endpoint"])
                exc = ApiError(500, "internal gateway error", type_="server_error")
            record["status"] = exc.status
            try:
                await self.finish(record, t0)
            except ApiError as log_exc:
                exc = log_exc
            return self.error(exc)

    def upstream_error(self, status: int, data: bytes) -> ApiError:
        """An upstream error answer, passed on in OpenAI's format (5xx from the upstream become 502)."""
        self.metrics.inc("distillwatch_gateway_upstream_errors_total")
        try:
            err = json.loads(data)["error"]
            message, type_, param, code = err["message"], err.get("type"), err.get("param"), err.get("code")
        except (ValueError, KeyError, TypeError):
            message, type_, param, code = f"the upstream answered HTTP {status}", None, None, None
        if status >= 500:
            return ApiError(502, f"upstream error: {message}", type_="upstream_error", code="upstream_failed")
        return ApiError(status, str(message), param, type_ or "invalid_request_error", code)

    def error(self, exc: ApiError):
        from starlette.responses import JSONResponse

        headers = {}
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def create_gateway_app(upstream: Upstream, *, policy: Policy | None = None, keys: KeyStore | None = None,
                       request_log: RequestLog, scorer: LiveScorer | None = None,
                       served_name: str | None = None, close_keys: bool = False,
                       clock: Callable[[], float] | None = None):
    """The gateway as a Starlette app. `request_log` must be open; the app closes it (rotating the last
    segment into Parquet) and the upstream at shutdown, and the key store when `close_keys`.

    `clock` (epoch seconds; default `time.time`) stamps the log and drives rate limits and verdict
    expiry; a replay of recorded or simulated traffic passes the traffic's own clock."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    gw = _Gateway(upstream, policy or Policy(), keys or KeyStore(), request_log, scorer, served_name, clock)

    async def chat_completions(request: Request):
        return await gw.completions(request, chat=True)

    async def text_completions(request: Request):
        return await gw.completions(request, chat=False)

    async def models(request: Request):
        try:
            gw.authenticate(request)
            if getattr(upstream, "served_name", None):
                return JSONResponse({"object": "list", "data": [
                    {"id": gw.served_name, "object": "model", "created": 0, "owned_by": "distillwatch"}]})
            resp = await upstream.request("GET", "/models", None, watermark=None)
            data = await resp.read()
            if resp.status >= 400:
                raise gw.upstream_error(resp.status, data)
            return Response(data, media_type="application/json")
        except ApiError as exc:
            return gw.error(exc)

    async def admin_accounts(request: Request):
        token = gw.policy.admin_token
        given = request.headers.get("authorization", "").partition(" ")[2].strip()
        if not token:
            return gw.error(ApiError(404, "the admin API is off: set admin_token in the policy",
                                     type_="not_found_error"))
        if not hmac.compare_digest(given.encode(), token.encode()):
            return gw.error(ApiError(401, "admin token required", type_="invalid_request_error",
                                     code="invalid_admin_token"))
        rows = sorted((s.to_dict() for s in gw.accounts.values()), key=lambda r: (-r["score"], r["account_id"]))
        return JSONResponse({"object": "list", "data": rows})

    async def metrics(request: Request):
        m = gw.metrics
        stats = gw.log.stats
        m.set("distillwatch_gateway_log_records_total", stats["records"])
        m.set("distillwatch_gateway_log_commits_total", stats["commits"])
        m.set("distillwatch_gateway_log_commit_seconds_sum", stats["commit_s"])
        m.set("distillwatch_gateway_log_commit_seconds_count", stats["commits"])
        m.set("distillwatch_gateway_log_fsyncs_total", stats["fsyncs"])
        m.set("distillwatch_gateway_log_torn_lines_total", stats["torn_lines"])
        m.set("distillwatch_gateway_accounts_flagged", sum(s.action != "allow" for s in gw.accounts.values()))
        return PlainTextResponse(m.render(), media_type="text/plain; version=0.0.4")

    async def health(request: Request):
        return JSONResponse({"status": "ok", "model": gw.served_name})

    async def not_found(request: Request, exc):
        return gw.error(ApiError(404, f"no route {request.method} {request.url.path}", type_="not_found_error"))

    async def method_not_allowed(request: Request, exc):
        return gw.error(ApiError(405, f"{request.method} is not allowed on {request.url.path}"))

    async def server_error(request: Request, exc):
        log.exception("gateway error on %s", request.url.path, exc_info=exc)
        return gw.error(ApiError(500, "internal gateway error", type_="server_error"))

    @asynccontextmanager
    async def lifespan(app):
        yield
        await upstream.aclose()
        request_log.close()
        if close_keys:
            gw.keys.close()

    app = Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/completions", text_completions, methods=["POST"]),
            Route("/admin/accounts", admin_accounts, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )
    app.state.gateway = gw
    return app
