"""What the gateway forwards to: a local model served in-process, or any OpenAI-compatible URL.

Both answer `request(method, path, body, watermark=...)` with an `UpstreamResponse` whose body streams.
`LocalUpstream` composes the `serve` app (`create_app` over a `BatchingEngine`) and calls it as an ASGI
app in the same event loop, so batching, formatting and streaming are exactly `serve`'s; watermarked
and opted-out requests go to two engines over the same model (the second only built when used).
`HttpUpstream` proxies with aiohttp, streaming passthrough, and sets vLLM's per-request `watermarking`
field (the engine there holds the key, from its `--watermark-config`); a refused or broken connection is
a 502 and a timeout a 504, in OpenAI's error format.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from ..errors import require
from ..models import Model
from .engine import BatchingEngine
from .openai_api import ApiError, ServerLimits, create_app

__all__ = ["HttpUpstream", "LocalUpstream", "Upstream", "UpstreamResponse"]


class UpstreamResponse:
    """Status, headers and a body that arrives in pieces (`chunks()`), or whole (`read()`)."""

    def __init__(self, status: int, headers: dict[str, str], chunks: AsyncIterator[bytes], close=None):
        self.status, self.headers, self._chunks, self._close = status, headers, chunks, close

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def read(self) -> bytes:
        try:
            return b"".join([c async for c in self._chunks])
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            await close()

    def json(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise ApiError(502, "the upstream answered with a body that is not JSON",
                           type_="upstream_error", code="bad_upstream_response") from None


@runtime_checkable
class Upstream(Protocol):
    served_name: str | None  # the model name to show clients, when the upstream has one

    async def request(self, method: str, path: str, body: dict | None, *,
                      watermark: bool | None) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


async def call_asgi(app, method: str, path: str, body: bytes) -> UpstreamResponse:
    """Call an ASGI app in this event loop; the response body streams as the app sends it."""
    queue: asyncio.Queue = asyncio.Queue()
    disconnected = asyncio.Event()
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        await queue.put(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 0), "server": ("distillwatch-gateway", 0),
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    task = asyncio.ensure_future(app(scope, receive, send))
    task.add_done_callback(lambda _t: queue.put_nowait(None))
    start = await queue.get()
    if start is None or start["type"] != "http.response.start":
        exc = task.exception() if task.done() and not task.cancelled() else None
        raise ApiError(500, f"the local model failed: {exc or 'no response'}", type_="server_error")
    headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            message = await queue.get()
            if message is None:
                return
            if message["type"] == "http.response.body":
                if message.get("body"):
                    yield message["body"]
                if not message.get("more_body", False):
                    return

    async def close() -> None:
        disconnected.set()
        if not task.done():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001, S110 - the app's own ending, already answered
                pass

    return UpstreamResponse(start["status"], headers, chunks(), close)


class LocalUpstream:
    """A local model served in-process, watermarked with `watermark` (a `WatermarkConfig`) by default."""

    def __init__(self, model: Model, *, served_name: str | None = None, watermark=None,
                 limits: ServerLimits | None = None, max_batch: int = 16, max_wait_ms: float = 5.0):
        self.model, self.watermark = model, watermark
        self.served_name = served_name or model.model_id
        self._kw = {"served_name": self.served_name, "limits": limits}
        self._engine_kw = {"max_batch": max_batch, "max_wait_ms": max_wait_ms}
        self._apps: dict[bool, Any] = {}
        self._model_lock = asyncio.Lock()  # shared by the watermarked and the opted-out engine
        if watermark is not None and getattr(watermark, "scheme", None) == "kgw":
            from ..watermark import load_kernels

            load_kernels()  # at start-up: the first watermarked request does not wait for the compiler

    def app(self, watermark: bool):
        watermark = bool(watermark and self.watermark is not None)
        if watermark not in self._apps:
            processor = None
            if watermark:
                from ..watermark import make_logits_processor

                vocab = getattr(self.model, "vocab_size", None)
                if not vocab:
                    raise ApiError(500, f"{self.model.model_id} has no vocabulary size to watermark with",
                                   type_="server_error")
                processor = make_logits_processor(self.watermark, int(vocab))
            engine = BatchingEngine(self.model, logits_processor=processor, model_lock=self._model_lock,
                                    **self._engine_kw)
            self._apps[watermark] = create_app(self.model, engine=engine, **self._kw)
        return self._apps[watermark]

    async def request(self, method: str, path: str, body: dict | None, *,
                      watermark: bool | None) -> UpstreamResponse:
        raw = json.dumps(body).encode() if body is not None else b""
        return await call_asgi(self.app(watermark is not False), method, "/v1" + path, raw)

    def engine_stats(self) -> dict[str, dict]:
        """Batching statistics of the engines started so far ("watermarked", "plain")."""
        return {("watermarked" if wm else "plain"): app.state.engine.stats.to_dict() for wm, app in self._apps.items()}

    async def aclose(self) -> None:
        for app in self._apps.values():
            await app.state.engine.stop()


class HttpUpstream:
    """Any OpenAI-compatible server at `base_url` (".../v1"); `model` renames what clients ask for.

    aiohttp, whose connection pool hands out an idle keep-alive connection in constant time (httpx's
    checks every pooled connection on every request, which dominated the gateway's time under load).
    `timeout` bounds the wait for each piece of the answer (a slow upstream is a 504), not the whole
    stream; the session is made on first use, inside the serving event loop.
    """

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 timeout: float = 300.0, connect_timeout: float = 10.0,
                 watermark_field: str | None = "watermarking", max_connections: int = 256):
        require("aiohttp", "gateway")  # imported now, not on the first request
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.model, self.served_name = model, model
        self.watermark_field = watermark_field
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout, self._connect_timeout, self._max_connections = timeout, connect_timeout, max_connections
        self._session = None

    def _client(self):
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout,
                                              sock_read=self._timeout))
        return self._session

    async def request(self, method: str, path: str, body: dict | None, *,
                      watermark: bool | None) -> UpstreamResponse:
        import aiohttp

        if body is not None:
            body = dict(body)
            if self.model:
                body["model"] = self.model
            if watermark is not None and self.watermark_field:
                body[self.watermark_field] = bool(watermark)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            resp = await self._client().request(method, self.base_url + path, data=data, headers=headers)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._error(exc, "is unreachable") from None
        out_headers = {k.lower(): v for k, v in resp.headers.items()}

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise self._error(exc, "broke off") from None

        async def close() -> None:
            resp.release()

        return UpstreamResponse(resp.status, out_headers, chunks(), close)

    def _error(self, exc: BaseException, what: str) -> ApiError:
        if isinstance(exc, asyncio.TimeoutError):
            return ApiError(504, f"the upstream at {self.base_url} timed out", type_="upstream_error",
                            code="upstream_timeout")
        return ApiError(502, f"the upstream at {self.base_url} {what} ({type(exc).__name__})",
                        type_="upstream_error", code="upstream_unavailable")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
