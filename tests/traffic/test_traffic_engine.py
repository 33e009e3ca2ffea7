"""The DuckDB engine's threaded map (`engine.map_batches`): same signatures and samples, same order."""

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
