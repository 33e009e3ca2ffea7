"""Run logs: every command writes `<verb>.<run_id>.jsonl`, one JSON entry per line with an `entry_type`.

The HTML report is rendered from these files and runs are resumed from them. Entries are appended and
flushed one at a time, so a crash loses at most the entry being written.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["RunLog", "read_run_log"]


class RunLog:
    """Append-only JSONL log of one run of one verb."""

    def __init__(self, verb: str, out_dir: str | Path, run_id: str | None = None):
        self.verb = verb
        self.run_id = run_id or time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        self.path = Path(out_dir) / f"{verb}.{self.run_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, entry_type: str, **fields: Any) -> None:
        entry = {"entry_type": entry_type, "time": time.time(), "verb": self.verb, "run_id": self.run_id}
        entry.update(fields)
        self._file.write(json.dumps(entry, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_run_log(path: str | Path) -> Iterator[dict]:
    """The entries of a run log; a truncated last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
