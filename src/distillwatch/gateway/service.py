"""Assembling the gateway from strings, as the CLI does:
`distillwatch gateway --upstream (MODEL | URL) --port N --log-dir DIR [--policy FILE]`.

The upstream is a URL (`http(s)://host:port/v1`: any OpenAI-compatible server, clients' model names
passed through), `openai/<model>@<url>` (the same, always asking for <model>), or a model string
(`hf/...`, `bundled/...`, `mock/...`) served in-process and watermarked with the policy's config.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..models import Model
from .app import create_gateway_app
from .keys import KeyStore
from .live import LiveScorer
from .openai_api import ServerLimits
from .policy import Policy, load_policy
from .request_log import RequestLog
from .upstream import HttpUpstream, LocalUpstream, Upstream

__all__ = ["build_gateway", "make_upstream", "run_gateway"]


def make_upstream(upstream: str | Model | Upstream, policy: Policy, *, served_name: str | None = None,
                  max_batch: int = 16, max_wait_ms: float = 5.0) -> Upstream:
    """An `Upstream` from a URL, an `openai/<model>@<url>` string, a model string or a `Model`."""
    if isinstance(upstream, str):
        text = upstream.strip()
        if text.startswith(("http://", "https://")):
            return HttpUpstream(text, model=served_name, api_key=policy.upstream_api_key)
        if text.startswith("openai/") and "@" in text:
            model, _, url = text[len("openai/"):].partition("@")
            return HttpUpstream(url, model=model, api_key=policy.upstream_api_key)
        from ..models import get_model

        upstream = get_model(text, cache=False)
    if isinstance(upstream, Upstream):
        return upstream
    every = [policy.limits, *policy.accounts.values()]
    limits = ServerLimits(max_body_bytes=max(x.max_body_bytes for x in every),
                          max_tokens=max(x.max_tokens for x in every), max_n=max(x.max_n for x in every))
    return LocalUpstream(upstream, served_name=served_name, watermark=policy.watermark.parsed(),
                         limits=limits, max_batch=max_batch, max_wait_ms=max_wait_ms)


def build_gateway(upstream: str | Model | Upstream, log_dir: str | os.PathLike,
                  policy_path: str | os.PathLike | None = None, *, policy: Policy | None = None,
                  keys: KeyStore | str | os.PathLike | None = None, scorer: LiveScorer | None = None,
                  served_name: str | None = None, max_batch: int = 16, max_wait_ms: float = 5.0,
                  rotate_bytes: int = 64 << 20, rotate_interval_s: float = 3600.0,
                  log_durability: str = "process", clock: Callable[[], float] | None = None) -> Any:
    """The gateway app, ready to serve (`run_server(app, port=...)` or `BackgroundServer(app)`).

    Opens (and recovers) the request log in `log_dir` now, so a damaged log is reported before the
    first request; keys come from `keys` (a store or its path; default `$DISTILLWATCH_HOME/keys.sqlite`).
    `log_durability`: "process" (an answered request is in the log after `kill -9`; fsync in the
    background) or "fsync" (also after power loss; each answer waits for the disk).
    """
    policy = policy or load_policy(policy_path)
    store = keys if isinstance(keys, KeyStore) else KeyStore(keys)
    up = make_upstream(upstream, policy, served_name=served_name, max_batch=max_batch, max_wait_ms=max_wait_ms)
    request_log = RequestLog(log_dir, rotate_bytes=rotate_bytes, rotate_interval_s=rotate_interval_s,
                             durability=log_durability).open()
    return create_gateway_app(up, policy=policy, keys=store, request_log=request_log, scorer=scorer,
                              served_name=served_name, close_keys=store is not keys, clock=clock)


def run_gateway(upstream: str, *, port: int = 8000, log_dir: str | os.PathLike = "gateway-logs",
                policy_path: str | os.PathLike | None = None, host: str = "127.0.0.1", **kwargs: Any) -> None:
    """`distillwatch gateway`: serve in the foreground until interrupted."""
    from .serving import run_server

    run_server(build_gateway(upstream, log_dir, policy_path, **kwargs), host=host, port=port)
