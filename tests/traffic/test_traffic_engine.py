"""The DuckDB engine's threaded map (`engine.map_batches`): same signatures and samples, same order; the memory
settings it runs under (`traffic._memory.map_memory`) hold for its block only."""

from __future__ import annotations

import pyarrow as pa
from traffic_helpers import make_record

from distillwatch.traffic import engine
from distillwatch.traffic.schema import from_records
from distillwatch.traffic.signatures import compute_signatures


def test_threaded_slices_give_the_sequential_map_in_order(monkeypatch):
    log = from_records([make_record(i, messages=f"Prompt {i}: explain step by step why {i} > {i - 1}.")
                        for i in range(40)])
    batches = log.to_batches(max_chunksize=13)
    monkeypatch.setattr(engine, "MAP_SLICE_ROWS", 5)  # batches of 13, 13, 13, 1 rows: 10 slices
    mapped = list(engine.map_batches(batches, threads=2))
    serial = list(engine.map_batches(batches, threads=1))
    assert len(mapped) == 10 and len(serial) == len(batches) == 4
    assert pa.Table.from_batches([s for s, _ in mapped]).equals(pa.Table.from_batches([compute_signatures(log)]))
    assert pa.concat_tables([k for _, k in mapped]).equals(pa.concat_tables([k for _, k in serial]))


def test_map_memory_changes_the_process_settings_for_the_block_only(monkeypatch):
    import sys

    from distillwatch.traffic._memory import _PR_GET_THP_DISABLE as GET_THP_DISABLE
    from distillwatch.traffic._memory import _prctl, map_memory

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    prctl = _prctl()
    before_pool = pa.default_memory_pool().backend_name
    before_thp = prctl(GET_THP_DISABLE, 0, 0, 0, 0) if prctl else None
    with map_memory():
        inside_pool = pa.default_memory_pool().backend_name
        inside_thp = prctl(GET_THP_DISABLE, 0, 0, 0, 0) if prctl else None
        made_inside = pa.array([f"text {i}" for i in range(1000)])
    assert pa.default_memory_pool().backend_name == before_pool
    assert (prctl(GET_THP_DISABLE, 0, 0, 0, 0) if prctl else None) == before_thp
    assert inside_pool == ("jemalloc" if "jemalloc" in pa.supported_memory_backends() else before_pool)
    if sys.platform.startswith("linux"):
        assert prctl is not None and inside_thp == 1
    assert made_inside[999].as_py() == "text 999"  # a buffer keeps the pool that allocated it

    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", before_pool)  # the user's choice of pool stands
    with map_memory():
        assert pa.default_memory_pool().backend_name == before_pool
