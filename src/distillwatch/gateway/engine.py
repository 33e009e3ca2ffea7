"""Request batching for a served model: concurrent clients share forward passes.

Requests wait in one queue; a single worker runs the model on the process's one model thread, so the
event loop keeps serving. Model calls are serialised: on a CPU one forward pass at a time uses every
core.

* A model that can decode a joinable batch (`decode_batch`, the transformers backend) and has no
  response cache (served models never do) gets continuous batching: between two decoding steps the worker admits queued requests (up to
  `max_batch` rows in all) and hands back the ones that finished, so a short answer never waits for a
  long one and no row is computed for an answer that is already complete.
* Any other model gets static batches (through `generate`, and so its response cache): up to `max_batch` requests (waiting up to `max_wait_ms` after
  the first for others to join) run through `generate` together.

Streaming requests receive their tokens as they are decoded.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..models import Completion, GenerateRequest, LogitsProcessor, Model, ScoreItem, TokenScores

__all__ = ["BatchingEngine", "EngineStats"]

TokenSink = Callable[[int], None]  # receives each generated token id of one request

# Every model call of the process runs on this one thread. torch's OpenMP pool belongs to the thread
# that calls it: calls from a pool of threads (asyncio.to_thread) start one OpenMP team per thread,
# and the idle teams' spinning workers take the cores from the busy one.
_MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="distillwatch-model")


async def _on_model_thread(fn: Callable, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_MODEL_THREAD, fn, *args)


@dataclass
class _Job:
    request: GenerateRequest
    future: asyncio.Future
    on_token: TokenSink | None = None


@dataclass
class EngineStats:
    """`batches`: groups of requests admitted together; `steps` and `rows`: decoding steps of a
    continuous batch and the rows they decoded (their ratio is the mean batch width)."""

    requests: int = 0
    batches: int = 0
    generated_tokens: int = 0
    busy_s: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)
    steps: int = 0
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        n = len(self.batch_sizes)
        out = {
            "requests": self.requests,
            "batches": self.batches,
            "generated_tokens": self.generated_tokens,
            "busy_s": round(self.busy_s, 3),
            "mean_batch_size": (sum(self.batch_sizes) / n) if n else 0.0,
        }
        if self.steps:
            out.update(steps=self.steps, mean_rows_per_step=self.rows / self.steps)
        return out


class BatchingEngine:
    """Serves one model to many concurrent callers. Start it inside a running event loop.

    `continuous`: None chooses continuous batching whenever the model allows it; False forces static
    batches (the baseline of bench/decoding.py)."""

    def __init__(
        self,
        model: Model,
        *,
        max_batch: int = 16,
        max_wait_ms: float = 5.0,
        logits_processor: LogitsProcessor | None = None,
        model_lock: asyncio.Lock | None = None,
        continuous: bool | None = None,
    ):
        self.model = model
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait_ms) / 1000.0
        self.logits_processor = logits_processor
        if continuous is None:  # whenever the model can
            continuous = hasattr(model, "decode_batch") and getattr(model, "cache", None) is None
        elif continuous and not hasattr(model, "decode_batch"):
            raise ValueError(f"{model.model_id} cannot decode a joinable batch; serve it with static batches")
        self.continuous = bool(continuous)
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
            return await _on_model_thread(self.model.score, list(items))

    async def _collect(self) -> list[_Job]:
        """The next static batch: waits for a request, then up to `max_wait` for others to join."""
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
        if self.continuous:
            await self._run_continuous()
        else:
            await self._run_static()

    def _admit(self, room: int) -> list[_Job]:
        """Queued requests that can join the running batch now, without waiting."""
        jobs = []
        while len(jobs) < room and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.cancelled():
                jobs.append(job)
        return jobs

    async def _run_continuous(self) -> None:
        loop = asyncio.get_running_loop()

        def on_tokens(pairs: list[tuple[_Job, int]]) -> None:
            for job, token in pairs:
                if job.on_token is not None:
                    loop.call_soon_threadsafe(job.on_token, token)

        batch = self.model.decode_batch(self.logits_processor, on_tokens)
        while True:
            if not len(batch):
                jobs = await self._collect()
            else:
                jobs = self._admit(self.max_batch - len(batch)) if batch.can_join else []
            gone = [row.tag for row in batch.rows if row.tag.future.cancelled()]
            t0 = time.perf_counter()
            try:
                async with self._model_lock:
                    finished = await _on_model_thread(self._advance, batch, jobs, gone)
            except Exception as exc:  # the batch failed: every caller in it gets the error
                for job in [row.tag for row in batch.rows] + jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                batch = self.model.decode_batch(self.logits_processor, on_tokens)
                continue
            self.stats.busy_s += time.perf_counter() - t0
            if jobs:
                self.stats.batches += 1
                self.stats.batch_sizes.append(len(jobs))
            for job, completion in finished:
                self.stats.requests += 1
                self.stats.generated_tokens += completion.completion_tokens
                if not job.future.done():
                    job.future.set_result(completion)

    def _advance(self, batch, jobs: list[_Job], gone: list[_Job]) -> list:
        """One step of the continuous batch (in the worker thread): drop, admit, decode."""
        if gone:
            batch.remove(gone)
        finished = batch.add([j.request for j in jobs], jobs) if jobs else []
        rows = len(batch)
        finished += batch.step()
        if rows:
            self.stats.steps += 1
            self.stats.rows += rows
        return finished

    async def _run_static(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            if not jobs:
                continue
            t0 = time.perf_counter()
            try:
                async with self._model_lock:
                    completions = await _on_model_thread(self._run_batch, jobs, loop)
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
