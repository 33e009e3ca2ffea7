"""Bounded-memory splitting of a byte stream into blocks of lines, as Arrow string arrays.

A block is read (`block_bytes`), cut after its last newline, and turned into an Arrow array without a
Python loop: NumPy finds the newlines and the array is built over the block's own buffer (each string
keeps its trailing newline, which JSON parsers ignore). Memory stays within about `block_bytes` plus
`max_line_bytes`: a line longer than `max_line_bytes` is streamed past, keeping only its head, and
reported as an oversized line. Only a block that is not valid UTF-8 is split again line by line in
Python, to isolate the bad lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

import numpy as np
import pyarrow as pa

__all__ = ["LineBlock", "BadLine", "iter_line_blocks"]


@dataclass(frozen=True)
class LineBlock:
    """Lines `first_line`, `first_line + 1`, ... (1-based); `lines` is a string array."""

    first_line: int
    lines: pa.Array


@dataclass(frozen=True)
class BadLine:
    """A line that never reaches the JSON stage: too long, or not UTF-8. `raw` is its (head) text."""

    line: int
    raw: str
    reason: str
    detail: str


def _as_strings(data: bytes, first_line: int) -> Iterator[Union[LineBlock, BadLine]]:
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1
    offsets = np.concatenate([[0], ends]).astype(np.int32)
    arr = pa.Array.from_buffers(pa.string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:  # isolate the lines that are not UTF-8 (per-line Python, this block only)
        good: list[str] = []
        start_line = first_line
        for i, raw in enumerate(pa.Array.from_buffers(pa.binary(), len(ends), arr.buffers()).to_pylist()):
            try:
                good.append(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                if good:
                    yield LineBlock(start_line, pa.array(good, pa.string()))
                yield BadLine(first_line + i, raw.decode("utf-8", "replace"), "invalid_utf8", str(e))
                good, start_line = [], first_line + i + 1
        if good:
            yield LineBlock(start_line, pa.array(good, pa.string()))
        return
    yield LineBlock(first_line, arr)


def iter_line_blocks(stream, *, block_bytes: int, max_line_bytes: int,
                     max_raw_chars: int = 2000) -> Iterator[Union[LineBlock, BadLine]]:
    """Blocks of whole lines from a binary `stream` (anything with ``read(n)``), and the bad lines."""
    carry = b""
    line_no = 1
    eof = False
    while not eof:
        chunk = stream.read(block_bytes)
        eof = not chunk
        buf = carry + chunk if chunk else carry
        if not buf:
            break
        cut = len(buf) if eof else buf.rfind(b"\n") + 1
        if cut == 0:  # no newline yet
            if len(buf) <= max_line_bytes:
                carry = buf
                continue
            head, size = buf[: max_raw_chars * 4], len(buf)  # stream past the rest of this line
            while True:
                more = stream.read(block_bytes)
                if not more:
                    buf, eof = b"", True
                    break
                nl = more.find(b"\n")
                if nl >= 0:
                    size += nl + 1
                    buf = more[nl + 1:]
                    break
                size += len(more)
            yield BadLine(line_no, head.decode("utf-8", "replace"), "oversized_line",
                          f"line has {size} bytes, limit {max_line_bytes}")
            line_no += 1
            carry = buf
            continue
        data, carry = buf[:cut], buf[cut:]
        if not data.endswith(b"\n"):
            data += b"\n"  # the last line of a file without a final newline
        n_lines = data.count(b"\n")
        yield from _as_strings(data, line_no)
        line_no += n_lines
