"""Replaying a traffic log over HTTP: every row becomes a real request to a gateway, sent by its account.

The simulator (`traffic_sim`) writes what accounts asked and when; `replay_traffic` sends those requests,
in time order, to a running gateway with each account's own API key, user agent and client address
(`X-Forwarded-For`, which the gateway honours only from a trusted proxy, as behind a load balancer).
The answers are the served model's, so a campaign's harvest is real model output.

Time: a simulated week cannot take a week. `ReplayClock` is the traffic's own clock, advanced by the
replayer to each request's simulated timestamp as it is sent; the gateway takes it as its clock
(`create_gateway_app(clock=...)`), so its log, rate limits and live scoring see the traffic's timing,
while the replay runs as fast as the model answers (at most `concurrency` requests in flight).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..progress import progress_bar

__all__ = ["ReplayClock", "ReplayResult", "epoch_seconds", "replay_traffic"]


class ReplayClock:
    """Epoch seconds of the traffic being replayed: the latest timestamp the replayer has reached."""

    def __init__(self, start: float):
        self._now = float(start)
        self._lock = threading.Lock()

    def advance(self, to: float) -> None:
        with self._lock:
            self._now = max(self._now, float(to))

    def __call__(self) -> float:
        return self._now


@dataclass
class ReplayResult:
    """One replayed request: who sent it, what came back (status, text, token ids), and its error if any."""

    row: int
    account_id: str
    status: int
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    error: str | None = None
    messages: list[dict] = field(default_factory=list)


def _messages(raw: Any, max_chars: int) -> list[dict]:
    msgs = json.loads(raw) if isinstance(raw, str) else list(raw or [])
    out = []
    for m in msgs:
        content = m.get("content") if isinstance(m, Mapping) else None
        if isinstance(content, str):
            out.append({"role": str(m.get("role", "user")), "content": content[:max_chars]})
    return out or [{"role": "user", "content": ""}]


def replay_traffic(
    rows: Sequence[Mapping[str, Any]],
    base_url: str,
    keys: Mapping[str, str],
    *,
    clock: ReplayClock | None = None,
    max_tokens: int | Callable[[Mapping[str, Any]], int] = 32,
    max_chars: int = 600,
    concurrency: int = 8,
    return_token_ids: bool = True,
    progress: bool = True,
    timeout_s: float = 600.0,
) -> list[ReplayResult]:
    """Send `rows` (traffic-schema records, in time order) to the gateway at `base_url` (…/v1).

    `keys` maps each account to its API key; `max_tokens` caps each answer (a number or a function of
    the row), and each message is cut to `max_chars` characters, to fit a laptop's budget. The clock,
    when given, is advanced to each row's timestamp as it is sent. Returns one result per row, in order;
    refusals (429, 403) are results too, not errors.
    """
    return asyncio.run(_replay(rows, base_url, keys, clock, max_tokens, max_chars, concurrency,
                               return_token_ids, progress, timeout_s))


async def _replay(rows, base_url, keys, clock, max_tokens, max_chars, concurrency, return_token_ids, progress,
                  timeout_s) -> list[ReplayResult]:
    import httpx

    url = base_url.rstrip("/") + "/chat/completions"
    cap = max_tokens if callable(max_tokens) else (lambda _row, n=int(max_tokens): n)
    results: list[ReplayResult | None] = [None] * len(rows)
    slots = asyncio.Semaphore(max(1, int(concurrency)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0), limits=limits) as client:
        with progress_bar(len(rows), "replay over HTTP", progress) as advance:

            async def send(i: int, row: Mapping[str, Any], body: dict, headers: dict) -> None:
                try:
                    resp = await client.post(url, json=body, headers=headers)
                    data = resp.json() if resp.content else {}
                    if resp.status_code == 200:
                        choice = (data.get("choices") or [{}])[0]
                        msg = choice.get("message") or {}
                        results[i] = ReplayResult(i, row["account_id"], 200, msg.get("content") or "",
                                                  list(choice.get("token_ids") or []), None, body["messages"])
                    else:
                        err = (data.get("error") or {}).get("message") if isinstance(data, dict) else None
                        results[i] = ReplayResult(i, row["account_id"], resp.status_code, error=err or resp.text[:200],
                                                  messages=body["messages"])
                except (httpx.HTTPError, ValueError) as exc:
                    results[i] = ReplayResult(i, row["account_id"], 0, error=f"{type(exc).__name__}: {exc}",
                                              messages=body["messages"])
                finally:
                    slots.release()
                    advance(1)

            tasks = []
            for i, row in enumerate(rows):
                account = row["account_id"]
                if account not in keys:
                    raise KeyError(f"no API key for account {account!r}")
                body = {"model": row.get("model") or "default", "messages": _messages(row.get("messages"), max_chars),
                        "max_tokens": max(1, int(cap(row))), "temperature": float(row.get("temperature") or 0.0)}
                if row.get("logprobs"):
                    body["logprobs"] = True
                    if row.get("top_logprobs"):
                        body["top_logprobs"] = int(row["top_logprobs"])
                if return_token_ids:
                    body["return_token_ids"] = True
                headers = {"Authorization": f"Bearer {keys[account]}"}
                if row.get("user_agent"):
                    headers["User-Agent"] = str(row["user_agent"])
                if row.get("ip"):
                    headers["X-Forwarded-For"] = str(row["ip"])
                await slots.acquire()
                if clock is not None and row.get("timestamp") is not None:
                    clock.advance(epoch_seconds(row["timestamp"]))
                tasks.append(asyncio.create_task(send(i, row, body, headers)))
            await asyncio.gather(*tasks)
    return [r for r in results if r is not None]


def epoch_seconds(ts: Any) -> float:
    """A log timestamp (datetime or ISO string) as epoch seconds."""
    if hasattr(ts, "timestamp"):
        return float(ts.timestamp())
    import datetime as _dt

    return _dt.datetime.fromisoformat(str(ts)).timestamp()
