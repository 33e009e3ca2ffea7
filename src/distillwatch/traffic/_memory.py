"""The process memory settings the map of `scan` runs under: fewer fresh pages per batch.

The map allocates and frees hundreds of MB per slice of the log (decoded Parquet columns, lowercased and
masked texts, signature columns), slice after slice. Two process defaults turn that churn into kernel time:

- Arrow's default allocator (mimalloc in the pyarrow wheels) returns freed pages to the OS within
  milliseconds and faults them in again for the next slice, and the kernel zeroes every fresh page.
  jemalloc, which the wheels also ship, keeps freed pages for reuse for about a second.
- With transparent huge pages (``madvise`` mode: mimalloc's arenas and NumPy's large arrays ask for them),
  each such fault zeroes a whole 2 MB page; page clearing was 15% of the map's CPU samples on a 1M-request log.

`map_memory` switches Arrow's default pool to jemalloc (unless the user chose a pool with
``ARROW_DEFAULT_MEMORY_POOL``, or this pyarrow lacks jemalloc) and, on Linux, disables transparent huge
pages for the process (``prctl(PR_SET_THP_DISABLE)``), restoring both on exit. Buffers keep the pool that
allocated them, so arrays made inside the block stay valid after it. Results do not depend on either setting.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

__all__ = ["map_memory"]

_PR_SET_THP_DISABLE, _PR_GET_THP_DISABLE = 41, 42


def _prctl():
    """libc's ``prctl`` on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _jemalloc() -> pa.MemoryPool | None:
    """Arrow's jemalloc pool, or None where the user chose a pool or this pyarrow was built without it."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or "jemalloc" not in pa.supported_memory_backends():
        return None
    return pa.jemalloc_memory_pool()


@contextmanager
def map_memory() -> Iterator[None]:
    """Run the block with Arrow's default pool on jemalloc and transparent huge pages off (see the module
    docstring); each setting is left as it was where it is unavailable, and both are restored on exit."""
    pool, previous_pool = _jemalloc(), pa.default_memory_pool()
    prctl = _prctl()
    thp_was_off = prctl(_PR_GET_THP_DISABLE, 0, 0, 0, 0) if prctl is not None else -1
    thp_set = thp_was_off == 0 and prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    if pool is not None:
        pa.set_memory_pool(pool)
    try:
        yield
    finally:
        if pool is not None:
            pa.set_memory_pool(previous_pool)
        if thp_set:
            prctl(_PR_SET_THP_DISABLE, 0, 0, 0, 0)
