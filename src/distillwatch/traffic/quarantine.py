"""Where rejected log rows go: a JSONL quarantine file, and the `IngestReport` that counts them.

No reader drops a row silently: every row read is either in an accepted batch or in the quarantine
with its source, location, reason, a detail naming the fields, and the raw text truncated to
`max_raw_chars` (``raw_chars`` keeps the untruncated length). Locations: JSON lines have ``line`` (the
physical line, 1-based); CSV and Parquet rows have ``row`` (the data record's ordinal among the
records the parser returned, 1-based); a CSV record that `pyarrow.csv` cannot split into the header's
columns has ``line`` = pyarrow's record number, header = 1, which is the physical line unless a quoted
value above it spans lines. Formatting a quarantine record is per-row Python, which is fine because
only rejected rows pay for it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["IngestReport", "QuarantineWriter", "read_quarantine"]


@dataclass
class IngestReport:
    """Counts of one ingest. Invariant: ``rows_read == rows_accepted + rows_quarantined``.

    Blank lines of JSON-lines files are not rows; they are counted in `blank_lines` only.
    """

    sources: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    by_reason: Counter = field(default_factory=Counter)
    blank_lines: int = 0
    batches: int = 0
    quarantine_path: str | None = None

    def add_accepted(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.rows_read += batch.num_rows
        self.rows_accepted += batch.num_rows
        self.batches += 1

    def add_rejected(self, rejected: pa.Table) -> None:
        if not rejected.num_rows:
            return
        self.rows_read += rejected.num_rows
        self.rows_quarantined += rejected.num_rows
        for item in pc.value_counts(rejected.column("reason")).to_pylist():
            self.by_reason[item["values"]] += item["counts"]

    def merge(self, other: "IngestReport") -> "IngestReport":
        """A report covering this one and `other` (e.g. several files into one quarantine)."""
        return IngestReport(
            sources=self.sources + other.sources,
            rows_read=self.rows_read + other.rows_read,
            rows_accepted=self.rows_accepted + other.rows_accepted,
            rows_quarantined=self.rows_quarantined + other.rows_quarantined,
            by_reason=self.by_reason + other.by_reason,
            blank_lines=self.blank_lines + other.blank_lines,
            batches=self.batches + other.batches,
            quarantine_path=self.quarantine_path or other.quarantine_path,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the run log)."""
        return {"sources": list(self.sources), "rows_read": self.rows_read, "rows_accepted": self.rows_accepted,
                "rows_quarantined": self.rows_quarantined, "by_reason": dict(sorted(self.by_reason.items())),
                "blank_lines": self.blank_lines, "batches": self.batches, "quarantine_path": self.quarantine_path}


class QuarantineWriter:
    """Appends rejected rows to a JSONL file, created (truncated) on first write; usable as a context
    manager and shareable by several readers."""

    def __init__(self, path: str | os.PathLike, *, max_raw_chars: int = 2000):
        self.path = os.fspath(path)
        self.max_raw_chars = max_raw_chars
        self.records_written = 0
        self._file: IO[str] | None = None

    def write(self, rejected: pa.Table, *, source: str, format: str) -> None:
        """Write rows of `REJECTED_SCHEMA` (line, row, raw, reason, detail) from `source`."""
        if not rejected.num_rows:
            return
        if self._file is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")
        limit = self.max_raw_chars
        for r in rejected.to_pylist():
            raw = (r["raw"] or "").rstrip("\r\n")
            record = {"source": source, "format": format, "line": r["line"], "row": r["row"],
                      "reason": r["reason"], "detail": r["detail"], "raw_chars": len(raw),
                      "raw_truncated": len(raw) > limit, "raw": raw[:limit]}
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.records_written += rejected.num_rows
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "QuarantineWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_quarantine(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The records of a quarantine file (nothing if it was never created: no row was rejected)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
