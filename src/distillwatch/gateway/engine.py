"""Request batching for a served model: concurrent clients share forward passes.

Requests wait in one queue; a single worker takes up to `max_batch` of them at a time (waiting up to
`max_wait_ms` after the first for others to join) and runs them through the model together, in a
thread so the event loop keeps serving. Model calls are serialised: on a CPU one batch at a time uses
every core. Streaming requests receive their tokens as the batch decodes them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..models import Completion, GenerateRequest, LogitsProcessor, Model, ScoreItem, TokenScores

__all__ = ["BatchingEngine", "EngineStats"]

TokenSink = Callable[[int], None]  # receives each generated token id of one request


@dataclass
class _Job:
    request: GenerateRequest
    future: asyncio.Future
    on_token: TokenSink | None = None


@dataclass
class EngineStats:
    requests: int = 0
    batches: int = 0
    generated_tokens: int = 0
    busy_s: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        n = len(self.batch_sizes)
        return {
            "requests": self.requests,
            "batches": self.batches,
            "generated_tokens": self.generated_tokens,
            "busy_s": round(self.busy_s, 3),
            "mean_batch_size": (sum(self.batch_sizes) / n) if n else 0.0,
        }


class BatchingEngine:
    """Serves one model to many concurrent callers. Start it inside a running event loop."""

    def __init__(
        self,
        model: Model,
        *,
        max_batch: int = 8,
        max_wait_ms: float = 5.0,
        logits_processor: LogitsProcessor | None = None,
        model_lock: asyncio.Lock | None = None,
    ):
        self.model = model
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait_ms) / 1000.0
        self.logits_processor = logits_processor
        self.stats = EngineStats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        # Engines over the same model (e.g. with and without a watermark) share one lock: on a CPU,
        # two forward passes at once only slow each other down.
        self._model_lock: asyncio.Lock | None = model_lock

    def start(self) -> None:
        if self._worker is None:
            self._queue = asyncio.Queue()
            self._model_lock = self._model_lock or asyncio.Lock()
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    async def generate(self, request: GenerateRequest, on_token: TokenSink | None = None) -> Completion:
        """Queue one request and wait for its completion; `on_token` sees each token as it is made."""
        self.start()
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(request, future, on_token))
        return await future

    async def score(self, items: Sequence[ScoreItem]) -> list[TokenScores]:
        """Teacher-forced scoring, serialised with generation batches."""
        self.start()
        async with self._model_lock:
            return await asyncio.to_thread(self.model.score, list(items))

    async def _collect(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(jobs) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    jobs.append(self._queue.get_nowait())
                else:
                    jobs.append(await asyncio.wait_for(self._queue.get(), remaining))
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
        return [j for j in jobs if not j.future.cancelled()]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            if not jobs:
                continue
            t0 = time.perf_counter()
            try:
                async with self._model_lock:
                    completions = await asyncio.to_thread(self._run_batch, jobs, loop)
            except Exception as exc:  # the batch failed: every caller in it gets the error
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.stats.busy_s += time.perf_counter() - t0
            self.stats.batches += 1
            self.stats.requests += len(jobs)
            self.stats.batch_sizes.append(len(jobs))
            for job, completion in zip(jobs, completions):
                self.stats.generated_tokens += completion.completion_tokens
                if not job.future.done():
                    job.future.set_result(completion)

    def _run_batch(self, jobs: list[_Job], loop: asyncio.AbstractEventLoop) -> list[Completion]:
        requests = [j.request for j in jobs]
        streaming = any(j.on_token for j in jobs)
        stream = getattr(self.model, "generate_stream", None)
        if streaming and stream is not None:

            def on_tokens(pairs: list[tuple[int, int]]) -> None:
                for index, token in pairs:
                    sink = jobs[index].on_token
                    if sink is not None:
                        loop.call_soon_threadsafe(sink, token)

            return stream(requests, logits_processor=self.logits_processor, on_tokens=on_tokens)
        return self.model.generate(requests, logits_processor=self.logits_processor)
