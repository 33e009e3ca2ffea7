"""Running the OpenAI-compatible server: in the foreground (`distillwatch serve`) or on a background
thread (tests, the demo, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ..errors import require
from ..models import LogitsProcessor, Model
from .engine import BatchingEngine
from .openai_api import ServerLimits, create_app

__all__ = ["build_app", "run_server", "BackgroundServer", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build_app(
    model: Model,
    *,
    served_name: str | None = None,
    logits_processor: LogitsProcessor | None = None,
    max_batch: int = 16,
    max_wait_ms: float = 5.0,
    limits: ServerLimits | None = None,
):
    engine = BatchingEngine(model, max_batch=max_batch, max_wait_ms=max_wait_ms,
                            logits_processor=logits_processor)
    return create_app(model, served_name=served_name, engine=engine, limits=limits)


def run_server(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
    uvicorn = require("uvicorn", "gateway")
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5,
                proxy_headers=False)  # the client address is the policy's to decide (trusted_proxies)


class BackgroundServer:
    """Serve an app on a background thread: `with BackgroundServer(app) as srv: srv.base_url`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None):
        uvicorn = require("uvicorn", "gateway")
        self.host, self.port = host, port or free_port(host)
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level="warning",
                                timeout_graceful_shutdown=2, proxy_headers=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self, timeout: float = 30.0) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
