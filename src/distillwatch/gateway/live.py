"""Live scoring of accounts while they are served, and per-account rate limits.

A `LiveScorer` sees every logged request (`observe(record) -> Verdict`); the gateway keeps each
account's latest verdict and applies its action to the account's next requests: allow, flag (served,
marked in the admin view and metrics), throttle (a lower request rate; 429 with Retry-After beyond it),
block (403). A verdict without an action gets one from the policy's score thresholds.
`WindowScorer` scores request volume alone; `live_scan.ScanScorer` runs `scan`'s features, linking and
calibrated benign model on a sliding window (what `distillwatch gateway --reference LOG` uses).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["LiveScorer", "RateLimiter", "Verdict", "WindowScorer"]


@dataclass(frozen=True)
class Verdict:
    """An account's live score in [0, 1] (1 = surely harvesting), and optionally the action to take."""

    score: float
    action: str | None = None
    reason: str = ""


@runtime_checkable
class LiveScorer(Protocol):
    def observe(self, record: Mapping[str, Any]) -> Verdict:
        """Update the account of `record` (a `LOG_SCHEMA` row as a dict) and return its verdict."""
        ...


class _Window:
    """Timestamped amounts in a sliding window, with running sums."""

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()
        self.count = 0
        self.total = 0

    def add(self, t: float, amount: int = 0) -> None:
        self.events.append((t, amount))
        self.count += 1
        self.total += amount

    def expire(self, before: float) -> None:
        while self.events and self.events[0][0] < before:
            _, amount = self.events.popleft()
            self.count -= 1
            self.total -= amount


class WindowScorer:
    """max(requests / `requests`, tokens / `tokens`) over the last `window_s` seconds, capped at 1.

    The budgets are how much one account may reasonably use in a window; an account at its budget
    scores 1. The default when no benign history is given to calibrate `ScanScorer` on.
    """

    def __init__(self, window_s: float = 600.0, requests: int = 1000, tokens: int = 1_000_000):
        self.window_s, self.requests, self.tokens = float(window_s), int(requests), int(tokens)
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def observe(self, record: Mapping[str, Any]) -> Verdict:
        now = time.monotonic()
        tokens = int(record.get("prompt_tokens") or 0) + int(record.get("completion_tokens") or 0)
        with self._lock:
            w = self._windows.setdefault(str(record["account_id"]), _Window())
            w.expire(now - self.window_s)
            w.add(now, tokens)
            by_requests, by_tokens = w.count / self.requests, w.total / self.tokens
        score = min(1.0, max(by_requests, by_tokens))
        reason = (f"{w.count} requests" if by_requests >= by_tokens else f"{w.total} tokens") + \
            f" in {self.window_s:g}s"
        return Verdict(score, None, reason)


class RateLimiter:
    """Per-account requests and tokens per minute over a sliding minute.

    `admit` counts a request if the account is under both limits, else returns the seconds until it
    will be; `spend` adds the tokens of an answered request.
    """

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] | None = None):
        self.window_s = float(window_s)
        self.clock = clock or time.monotonic
        self._requests: dict[str, _Window] = {}
        self._tokens: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def admit(self, account: str, requests_per_minute: int | None, tokens_per_minute: int | None) -> float | None:
        now = self.clock()
        with self._lock:
            req = self._requests.setdefault(account, _Window())
            tok = self._tokens.setdefault(account, _Window())
            req.expire(now - self.window_s)
            tok.expire(now - self.window_s)
            waits = []
            if requests_per_minute is not None and req.count >= requests_per_minute:
                waits.append(req.events[req.count - requests_per_minute][0] + self.window_s - now
                             if requests_per_minute > 0 else self.window_s)
            if tokens_per_minute is not None and tok.total >= tokens_per_minute and tok.events:
                # wait until enough of the oldest spending has left the window
                excess, at = tok.total - tokens_per_minute, tok.events[0][0]
                for t, amount in tok.events:
                    excess -= amount
                    at = t
                    if excess < 0:
                        break
                waits.append(at + self.window_s - now)
            if waits:
                return max(0.001, max(waits))
            req.add(now)
            return None

    def spend(self, account: str, tokens: int) -> None:
        if tokens > 0:
            with self._lock:
                self._tokens.setdefault(account, _Window()).add(self.clock(), int(tokens))
