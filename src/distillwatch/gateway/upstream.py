"""What the gateway forwards to: a local model served in-process, or any OpenAI-compatible URL.

Both answer `request(method, path, body, watermark=...)` with an `UpstreamResponse` whose body streams.
`LocalUpstream` composes the `serve` app (`create_app` over a `BatchingEngine`) and calls it as an ASGI
app in the same event loop, so batching, formatting and streaming are exactly `serve`'s; watermarked
and opted-out requests go to two engines over the same model (the second only built when used).
`HttpUpstream` proxies with httpx, streaming passthrough, and sets vLLM's per-request `watermarking`
field (the engine there holds the key, from its `--watermark-config`); a refused connection or timeout
is a 502 in OpenAI's error format.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

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
                 limits: ServerLimits | None = None, max_batch: int = 8, max_wait_ms: float = 5.0):
        self.model, self.watermark = model, watermark
        self.served_name = served_name or model.model_id
        self._kw = {"served_name": self.served_name, "limits": limits}
        self._engine_kw = {"max_batch": max_batch, "max_wait_ms": max_wait_ms}
        self._apps: dict[bool, Any] = {}
        self._model_lock = asyncio.Lock()  # shared by the watermarked and the opted-out engine

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
    """Any OpenAI-compatible server at `base_url` (".../v1"); `model` renames what clients ask for."""

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 timeout: float = 300.0, watermark_field: str | None = "watermarking"):
        import httpx

        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.model, self.served_name = model, model
        self.watermark_field = watermark_field
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0), headers=headers,
                                         limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))

    async def request(self, method: str, path: str, body: dict | None, *,
                      watermark: bool | None) -> UpstreamResponse:
        import httpx

        if body is not None:
            body = dict(body)
            if self.model:
                body["model"] = self.model
            if watermark is not None and self.watermark_field:
                body[self.watermark_field] = bool(watermark)
        req = self._client.build_request(method, self.base_url + path, json=body)
        try:
            resp = await self._client.send(req, stream=True)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise ApiError(502, f"the upstream at {self.base_url} is unreachable ({type(exc).__name__})",
                           type_="upstream_error", code="upstream_unavailable") from None
        headers = {k.lower(): v for k, v in resp.headers.items()}

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.aiter_bytes():
                    yield chunk
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise ApiError(502, f"the upstream at {self.base_url} broke off ({type(exc).__name__})",
                               type_="upstream_error", code="upstream_unavailable") from None

        return UpstreamResponse(resp.status_code, headers, chunks(), resp.aclose)

    async def aclose(self) -> None:
        await self._client.aclose()
