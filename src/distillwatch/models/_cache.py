"""A response cache shared by every backend: SQLite, keyed by model id + request + parameters.

Safe under concurrency: each thread has its own connection, SQLite's WAL journal lets readers and one
writer proceed at once, and several processes may share one file (writes wait on a busy timeout).
Values are JSON. Only deterministic requests (greedy, or sampled with a seed) are cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

__all__ = ["ResponseCache", "cache_key"]


_BUSY_SECONDS = 60.0  # how long a connection waits for another one's lock


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so). Changing the journal mode needs the file to itself, and
    SQLite answers "database is locked" at once, not after its busy timeout, while another connection is
    opening it: so the mode is changed only when needed, and retried for up to `_BUSY_SECONDS`."""
    deadline = time.monotonic() + _BUSY_SECONDS
    delay = 0.002
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.1)


def cache_key(*parts: Any) -> str:
    """A stable key for a tuple of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Key-value store of model responses. `hits` and `misses` count lookups since creation."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, model_id TEXT NOT NULL, kind TEXT NOT NULL,"
                " value TEXT NOT NULL, created REAL NOT NULL)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=_BUSY_SECONDS, isolation_level=None)
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """The cached values of those keys that are present."""
        found: dict[str, Any] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in conn.execute(
                f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
            ):
                found[key] = json.loads(value)
        with self._lock:
            self.hits += len(found)
            self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, items: Iterable[tuple[str, str, str, Any]]) -> None:
        """Store (key, model_id, kind, value) rows; an existing key is overwritten."""
        now = time.time()
        rows = [(k, m, kind, json.dumps(v), now) for k, m, kind, v in items]
        if not rows:
            return
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def stats(self) -> dict[str, Any]:
        """Lookups since creation and the rows stored, per model."""
        per_model = dict(
            self._conn().execute("SELECT model_id, COUNT(*) FROM responses GROUP BY model_id")
        )
        lookups = self.hits + self.misses
        return {
            "path": str(self.path),
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / lookups if lookups else 0.0,
            "entries": sum(per_model.values()),
            "entries_per_model": per_model,
        }

    def clear(self, model_id: str | None = None) -> int:
        conn = self._conn()
        if model_id is None:
            return conn.execute("DELETE FROM responses").rowcount
        return conn.execute("DELETE FROM responses WHERE model_id = ?", (model_id,)).rowcount
