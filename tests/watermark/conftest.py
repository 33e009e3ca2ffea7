"""Fixtures for the watermark tests: the reference vectors, and the reference algorithm run on torch.

`torch_ref` re-states the reference implementation (jwkirchenbauer/lm-watermarking,
extended_watermark_processor.py + alternative_prf_schemes.py) with torch's own CPU generator and
randperm, one context at a time, so our NumPy kernels are checked against torch itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def reference_vectors() -> list[dict]:
    with open(FIXTURES / "kgw_reference_vectors.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def torch_ref():
    torch = pytest.importorskip("torch")
    gen = torch.Generator(device="cpu")
    gen.manual_seed(2971215073)
    table = torch.randperm(1_000_003, device="cpu", generator=gen)

    def hashint(ids):
        return table[ids % 1_000_003] + 1

    def prf(context: list[int], seeding: str, key: int) -> int:
        ids = torch.as_tensor(context, dtype=torch.long)
        if seeding == "lefthash":
            return key * ids[-1:].sum().item()
        return (key * hashint(ids) * hashint(ids[-1])).min().item()

    def green_list(context: list[int], seeding: str, key: int, vocab_size: int, gamma: float = 0.25):
        g = torch.Generator(device="cpu")
        g.manual_seed(prf(context, seeding, key) % (2**64 - 1))
        return torch.randperm(vocab_size, generator=g)[: int(vocab_size * gamma)]

    def randperm(seed: int, n: int):
        g = torch.Generator(device="cpu")
        g.manual_seed(int(seed))
        return torch.randperm(n, generator=g).numpy()

    def process(input_ids, scores, seeding: str, key: int, vocab_size: int, delta: float = 2.0):
        """The reference WatermarkLogitsProcessor.__call__, row by row."""
        scores = scores.clone()
        for b in range(input_ids.shape[0]):
            if seeding == "lefthash":
                green = green_list(input_ids[b].tolist()[-1:], seeding, key, vocab_size)
            else:
                _, order = scores[b].sort(dim=-1, descending=True)
                kept = []
                for idx, cand in enumerate(order):
                    context = torch.cat([input_ids[b], cand[None]])[-4:].tolist()
                    if cand in green_list(context, seeding, key, vocab_size):
                        kept.append(int(cand))
                    if idx == 40:
                        break
                green = torch.as_tensor(kept, dtype=torch.long)
            mask = torch.zeros(scores.shape[-1], dtype=torch.bool)
            if len(green):
                mask[green] = True
            scores[b][mask] = scores[b][mask] + delta
        return scores

    # randperm's parallel fill spins OpenMP threads; on a busy machine that costs 10x. Results do not
    # depend on the thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield SimpleNamespace(torch=torch, table=table, prf=prf, green_list=green_list, randperm=randperm,
                          process=process)
    torch.set_num_threads(threads)
