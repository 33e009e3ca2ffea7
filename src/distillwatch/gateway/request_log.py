"""The gateway's durable request log, in the traffic schema (`distillwatch.traffic.schema.LOG_SCHEMA`).

    <log_dir>/wal/current.jsonl           the segment being appended to, one record per line
    <log_dir>/wal/sealed-<stamp>.jsonl    full segments waiting to become Parquet
    <log_dir>/requests-<stamp>.parquet    rotated segments: what `distillwatch scan <log_dir>/*.parquet` reads
    <log_dir>/quarantine/                 torn tails and records that do not fit the schema, kept

`append` returns once the record is in the operating system's hands (written and flushed), so a
request answered after it survives `kill -9` of the gateway; the file is fsynced in the background at
most `fsync_interval_s` later, which bounds what an OS crash or power loss could cost. With
`durability="fsync"` `append` waits for the fsync too (power-loss safe, at the disk's latency per
request). One writer thread commits whatever has queued up meanwhile in one write (group commit). Segments rotate by size or age; on start, a torn last line (the crash hit
mid-write, so that request was never answered) is moved to the quarantine with a warning, and
leftover segments are converted.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _dt
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RequestLog"]

log = logging.getLogger("distillwatch.gateway")


def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{secrets.token_hex(3)}"


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()
    raise TypeError(f"cannot log a {type(value).__name__}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RequestLog:
    """Append-only, crash-safe request log rotated into Parquet. Use as a context manager or
    `open()` / `close()`; `append` (async) and `write` (blocking) are safe from any thread."""

    DURABILITY = ("process", "fsync")

    def __init__(self, log_dir: str | os.PathLike, *, rotate_bytes: int = 64 << 20,
                 rotate_interval_s: float = 3600.0, durability: str = "process", fsync_interval_s: float = 0.2):
        if durability not in self.DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(self.DURABILITY)}, got {durability!r}")
        self.log_dir = Path(log_dir)
        self.rotate_bytes, self.rotate_interval_s = int(rotate_bytes), float(rotate_interval_s)
        self.durability, self.fsync_interval_s = durability, float(fsync_interval_s)
        self._unsynced = False
        self._last_fsync = time.monotonic()
        self.wal, self.quarantine = self.log_dir / "wal", self.log_dir / "quarantine"
        self.current = self.wal / "current.jsonl"
        self.stats = {"records": 0, "commits": 0, "commit_s": 0.0, "fsyncs": 0, "rotations": 0, "torn_lines": 0,
                      "quarantined_records": 0}
        self._pending: list[tuple[bytes, concurrent.futures.Future]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._rotate_now = False
        self._file = None
        self._thread: threading.Thread | None = None
        self._converter = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dw-log-parquet")

    # -- life cycle --------------------------------------------------------------------------------
    def open(self) -> RequestLog:
        if self._thread is not None:
            return self
        for d in (self.log_dir, self.wal, self.quarantine):
            d.mkdir(parents=True, exist_ok=True)
        self._recover()
        self._open_segment()
        self._thread = threading.Thread(target=self._writer, name="dw-log-writer", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Commit what is queued, rotate the last segment into Parquet and wait for conversions."""
        if self._thread is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self._thread = None
        self._converter.shutdown(wait=True)

    def __enter__(self) -> RequestLog:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- appending ---------------------------------------------------------------------------------
    def submit(self, record: Mapping[str, Any]) -> concurrent.futures.Future:
        line = (json.dumps(dict(record), default=_json_default, ensure_ascii=False) + "\n").encode()
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if self._closing or self._thread is None:
                raise RuntimeError("the request log is not open")
            self._pending.append((line, future))
            self._cond.notify()
        return future

    async def append(self, record: Mapping[str, Any]) -> None:
        """Return once `record` is durable (see the module's docstring for what that means)."""
        import asyncio

        await asyncio.wrap_future(self.submit(record))

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Blocking: append every record and wait until all are durable."""
        for f in [self.submit(r) for r in records]:
            f.result()

    def rotate(self) -> None:
        """Seal the current segment now (it becomes Parquet shortly) and wait for the conversion."""
        done = threading.Event()
        with self._cond:
            self._rotate_now = done
            self._cond.notify()
        done.wait()

    # -- reading back ------------------------------------------------------------------------------
    def parquet_files(self) -> list[Path]:
        return sorted(self.log_dir.glob("requests-*.parquet"))

    def read_all(self) -> "pa.Table":
        """Every durable record, rotated or not, as a `LOG_SCHEMA` table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..traffic.schema import LOG_SCHEMA, from_records

        tables = [pq.read_table(p) for p in self.parquet_files()]
        for path in sorted(self.wal.glob("*.jsonl")):
            records = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
            if records:
                tables.append(from_records(records, source=str(path)))
        if not tables:
            return LOG_SCHEMA.empty_table()
        return pa.concat_tables([t.cast(LOG_SCHEMA) for t in tables])

    # -- internals ---------------------------------------------------------------------------------
    def _open_segment(self) -> None:
        self._file = open(self.current, "ab")
        self._segment_started = time.monotonic()
        self._segment_bytes = self._file.tell()

    def _writer(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing and not self._rotate_now and \
                        not self._due() and not self._sync_due():
                    self._cond.wait(timeout=self.fsync_interval_s if self._unsynced else 1.0)
                batch, self._pending = self._pending, []
                closing, rotate_now, self._rotate_now = self._closing, self._rotate_now, False
            if batch:
                self._commit(batch)
            if self._sync_due():
                self._sync()
            if rotate_now or closing or self._due():
                future = self._seal()
                if future is not None and (rotate_now or closing):
                    future.result()
                if isinstance(rotate_now, threading.Event):
                    rotate_now.set()
                if closing:
                    with self._cond:
                        if not self._pending:
                            self._file.close()
                            return
                self._open_segment()

    def _due(self) -> bool:
        return self._segment_bytes > 0 and (
            self._segment_bytes >= self.rotate_bytes
            or time.monotonic() - self._segment_started >= self.rotate_interval_s)

    def _sync_due(self) -> bool:
        return self._unsynced and time.monotonic() - self._last_fsync >= self.fsync_interval_s

    def _sync(self) -> None:
        """fsync the segment. The records are already acknowledged in "process" durability, so a failure
        here is reported and retried at the next interval, not raised."""
        try:
            os.fsync(self._file.fileno())
        except OSError as exc:
            if self.durability == "fsync":
                raise
            log.error("request log: fsync failed (%s); retrying", exc)
            self._last_fsync = time.monotonic()
            return
        self._unsynced, self._last_fsync = False, time.monotonic()
        self.stats["fsyncs"] += 1

    def _commit(self, batch: list[tuple[bytes, concurrent.futures.Future]]) -> None:
        t0 = time.perf_counter()
        try:
            data = b"".join(line for line, _ in batch)
            self._file.write(data)
            self._file.flush()
            self._unsynced = True
            if self.durability == "fsync":
                self._sync()
        except OSError as exc:
            for _, f in batch:
                f.set_exception(exc)
            return
        self._segment_bytes += len(data)
        self.stats["records"] += len(batch)
        self.stats["commits"] += 1
        self.stats["commit_s"] += time.perf_counter() - t0
        for _, f in batch:
            f.set_result(None)

    def _seal(self) -> concurrent.futures.Future | None:
        """Close the current segment, rename it sealed and queue its conversion."""
        if self._unsynced:
            self._sync()
        self._file.close()
        if self.current.stat().st_size == 0:  # nothing since the last rotation: no segment to keep
            self.current.unlink()
            return None
        sealed = self.wal / f"sealed-{_stamp()}.jsonl"
        os.replace(self.current, sealed)
        _fsync_dir(self.wal)
        self.stats["rotations"] += 1
        return self._converter.submit(self._convert, sealed)

    def _recover(self) -> None:
        if self.current.exists():
            data = self.current.read_bytes()
            cut = data.rfind(b"\n") + 1
            if cut < len(data):
                torn = self.quarantine / f"torn-{_stamp()}.jsonl.part"
                torn.write_bytes(data[cut:])
                with open(self.current, "r+b") as f:
                    f.truncate(cut)
                    f.flush()
                    os.fsync(f.fileno())
                self.stats["torn_lines"] += 1
                log.warning("request log: a torn last line (%d bytes, never acknowledged) moved to %s",
                            len(data) - cut, torn)
            if cut:
                os.replace(self.current, self.wal / f"sealed-{_stamp()}.jsonl")
            else:
                self.current.unlink()
            _fsync_dir(self.wal)
        for tmp in self.log_dir.glob("requests-*.parquet.tmp"):  # a conversion the crash cut short
            tmp.unlink()
        for sealed in sorted(self.wal.glob("sealed-*.jsonl")):
            self._convert(sealed)

    def _convert(self, sealed: Path) -> Path:
        """sealed-<stamp>.jsonl → requests-<stamp>.parquet (atomically); bad lines to the quarantine."""
        import pyarrow.parquet as pq

        from ..traffic.schema import SchemaError, from_records

        good, bad = [], []
        for n, line in enumerate(sealed.read_bytes().splitlines(), 1):
            if line.strip():
                try:
                    good.append((n, json.loads(line)))
                except ValueError as exc:
                    bad.append({"line": n, "error": str(exc)[:500], "text": line.decode("utf-8", "replace")})
        try:
            table = from_records([r for _, r in good], source=str(sealed)) if good else None
        except SchemaError:  # rare: find the culprits one by one so one bad record sinks nothing else
            kept = []
            for n, record in good:
                try:
                    from_records([record])
                    kept.append((n, record))
                except SchemaError as exc:
                    bad.append({"line": n, "error": str(exc)[:500], "text": json.dumps(record)})
            good = kept
            table = from_records([r for _, r in good], source=str(sealed)) if good else None
        stem = sealed.stem.removeprefix("sealed-")
        if bad:
            target = self.quarantine / f"rejected-{stem}.jsonl"
            target.write_text("".join(json.dumps(b) + "\n" for b in bad))
            self.stats["quarantined_records"] += len(bad)
            log.warning("request log: %d record(s) of %s do not fit the schema; kept in %s",
                        len(bad), sealed.name, target)
        out = self.log_dir / f"requests-{stem}.parquet"
        if good:
            tmp = out.with_suffix(".parquet.tmp")
            pq.write_table(table, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, out)
            _fsync_dir(self.log_dir)
        sealed.unlink()
        _fsync_dir(self.wal)
        return out
