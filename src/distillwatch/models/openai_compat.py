"""The `openai/<model>@<base_url>` backend: any OpenAI-compatible server (vLLM, llama.cpp, `distillwatch
serve`, a hosted API).

Requests run concurrently (bounded by `concurrency`) on one async HTTP client, with retries and
exponential backoff on 429, 5xx, timeouts and refused connections (a `Retry-After` header is honoured).
The API key is read from an environment variable (`api_key_env`, default OPENAI_API_KEY) and never
logged. Teacher-forced scoring uses `/v1/completions` with `echo` and `logprobs`, where the server
supports it. Token ids are taken from the server when it reports them (`return_token_ids`, as vLLM and
`distillwatch serve` do); otherwise `Completion.token_ids` is None.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

import httpx

from ..errors import EndpointError, InputError, ModelStringError, UnsupportedOperation
from ..progress import progress_bar
from ._base import BaseModel
from ._cache import ResponseCache
from ._types import Completion, GenerateRequest, LogitsProcessor, ScoreItem, TokenScores, is_chat

__all__ = ["OpenAIModel", "run_sync"]

T = TypeVar("T")
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also when the caller is inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class OpenAIModel(BaseModel):
    """A model behind an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        cache: ResponseCache | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 0.5,
    ):
        super().__init__(cache=cache)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ModelStringError(
                f"'{base_url}' is not an http(s) URL; write openai/<model>@http://host:port/v1"
            )
        if parts.path in ("", "/"):
            base_url = base_url.rstrip("/") + "/v1"
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.model_id = f"openai/{model}@{self.base_url}"
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.supports_score = True  # until the server says otherwise

    # -- HTTP -----------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def _post(self, client: httpx.AsyncClient, path: str, body: dict) -> dict:
        url = f"{self.base_url}{path}"
        last = ""
        for attempt in range(self.max_retries + 1):
            resp: httpx.Response | None = None
            try:
                resp = await client.post(url, json=body, headers=self._headers())
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                status = None
            else:
                status = resp.status_code
                if status < 400:
                    try:
                        return resp.json()
                    except ValueError:
                        last, status = f"non-JSON answer ({resp.text[:80]!r})", 502
                else:
                    last = f"HTTP {status}: {_error_message(resp)}"
                if status is not None and status not in _RETRY_STATUS:
                    raise EndpointError(f"{url} answered {last}", status_code=status)
            if attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt, resp))
        raise EndpointError(
            f"cannot get an answer from {url} after {self.max_retries + 1} tries ({last}); "
            "is the server running and the URL right?"
        )

    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        if resp is not None and "retry-after" in resp.headers:
            try:
                return min(60.0, float(resp.headers["retry-after"]))
            except ValueError:
                pass
        return self.backoff * (2**attempt) * (0.5 + random.random())

    async def _gather(self, bodies: list[tuple[str, dict]], progress: bool, label: str) -> list[dict]:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        semaphore = asyncio.Semaphore(self.concurrency)
        with progress_bar(len(bodies), label, progress) as advance:
            async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:

                async def one(path: str, body: dict) -> dict:
                    async with semaphore:
                        t0 = time.perf_counter()
                        result = await self._post(client, path, body)
                        result["_latency_s"] = time.perf_counter() - t0
                    advance(1)
                    return result

                return await asyncio.gather(*(one(p, b) for p, b in bodies))

    # -- generation -----------------------------------------------------------------------------
    def _request_body(self, r: GenerateRequest) -> tuple[str, dict]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": r.max_tokens,
            "temperature": r.temperature,
            "top_p": r.top_p,
            "return_token_ids": True,
        }
        if r.seed is not None:
            body["seed"] = r.seed
        if r.stop:
            body["stop"] = list(r.stop)
        if is_chat(r.prompt):
            body["messages"] = [dict(m) for m in r.prompt]
            if r.logprobs or r.top_logprobs:
                body["logprobs"] = True
                body["top_logprobs"] = r.top_logprobs
            return "/chat/completions", body
        body["prompt"] = r.prompt
        if r.logprobs or r.top_logprobs:
            body["logprobs"] = max(r.top_logprobs, 1)
        return "/completions", body

    def _generate(
        self,
        requests: list[GenerateRequest],
        logits_processor: LogitsProcessor | None,
        progress: bool,
    ) -> list[Completion]:
        if logits_processor is not None:
            raise UnsupportedOperation(
                f"{self.model_id} is remote and cannot run a local logits processor; watermark on the "
                "server instead (distillwatch serve --watermark CONFIG)"
            )
        bodies = [self._request_body(r) for r in requests]
        answers = run_sync(lambda: self._gather(bodies, progress, f"generate {self.model}"))
        return [_parse_completion(a, r) for a, r in zip(answers, requests)]

    # -- scoring --------------------------------------------------------------------------------
    def _score(self, items: list[ScoreItem], progress: bool) -> list[TokenScores]:
        bodies, starts = [], []
        for item in items:
            if isinstance(item, tuple):
                prompt, continuation = item
                if is_chat(prompt) or not isinstance(continuation, str):
                    raise UnsupportedOperation(
                        f"{self.model_id} scores plain text only (no chat prompts or token ids): the "
                        "server's chat template is not visible through the completions API"
                    )
                text, start = prompt + continuation, len(prompt)
            elif isinstance(item, str):
                text, start = item, 0
            else:
                raise UnsupportedOperation(f"{self.model_id} scores text, not token ids")
            bodies.append(
                ("/completions", {"model": self.model, "prompt": text, "max_tokens": 0,
                                  "echo": True, "logprobs": 1, "temperature": 0.0,
                                  "return_token_ids": True})
            )
            starts.append(start)
        try:
            answers = run_sync(lambda: self._gather(bodies, progress, f"score {self.model}"))
        except EndpointError as exc:
            if exc.status_code in (400, 404, 422, 501):
                self.supports_score = False
                raise UnsupportedOperation(
                    f"{self.model_id} does not support teacher-forced scoring (/v1/completions with "
                    f"echo and logprobs): {exc}"
                ) from exc
            raise
        return [_parse_echo(a, start, self.model_id) for a, start in zip(answers, starts)]


def _error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", body["error"]))[:300]
    return str(body)[:300]


def _parse_completion(answer: dict, request: GenerateRequest) -> Completion:
    try:
        choice = answer["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"the server's answer has no choices: {str(answer)[:200]}") from None
    usage = answer.get("usage") or {}
    if "message" in choice:
        text = (choice.get("message") or {}).get("content") or ""
    else:
        text = choice.get("text") or ""
    completion = Completion(
        text=text,
        token_ids=choice.get("token_ids"),
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=usage.get("prompt_tokens"),
        latency_s=answer.get("_latency_s"),
    )
    lp = choice.get("logprobs")
    if lp and (request.logprobs or request.top_logprobs):
        if isinstance(lp.get("content"), list):  # chat format
            content = lp["content"]
            completion.tokens = [c.get("token", "") for c in content]
            completion.logprobs = [float(c.get("logprob", 0.0)) for c in content]
            if request.top_logprobs:
                completion.top_logprobs = [
                    {t["token"]: float(t["logprob"]) for t in c.get("top_logprobs") or []}
                    for c in content
                ]
        else:  # completions format
            completion.tokens = list(lp.get("tokens") or [])
            completion.logprobs = [float(x) for x in lp.get("token_logprobs") or []]
            if request.top_logprobs:
                completion.top_logprobs = [dict(t or {}) for t in lp.get("top_logprobs") or []]
    return completion


def _parse_echo(answer: dict, start: int, model_id: str) -> TokenScores:
    try:
        choice = answer["choices"][0]
        lp = choice["logprobs"]
        tokens, values, offsets = lp["tokens"], lp["token_logprobs"], lp["text_offset"]
    except (KeyError, IndexError, TypeError):
        raise UnsupportedOperation(
            f"{model_id} did not return echoed logprobs; it does not support teacher-forced scoring"
        ) from None
    ids = choice.get("prompt_token_ids") or choice.get("token_ids")
    keep = [i for i, off in enumerate(offsets) if off >= start and values[i] is not None]
    if not keep:
        raise InputError("nothing to score: the continuation is empty")
    return TokenScores(
        token_ids=[int(ids[i]) for i in keep] if ids and len(ids) == len(tokens) else [],
        logprobs=[float(values[i]) for i in keep],
        tokens=[tokens[i] for i in keep],
        top_ids=None,
    )
