"""Benchmark: KGW detection throughput, distillwatch's compiled kernel vs a per-n-gram torch.randperm loop.

    python bench/watermark_detect.py            # writes bench/results/watermark_detect.json

The baseline is the reference detector's algorithm (jwkirchenbauer/lm-watermarking,
`WatermarkDetector._score_sequence` with ignore_repeated_ngrams=True): per text, the distinct
n-grams; per n-gram, the PRF on torch tensors, `manual_seed`, `torch.randperm(V)` and a membership
test, with an lru_cache on (prefix, target) shared across texts as in the reference. Both sides get
the same texts and must return the same (T, G) for every text.

Texts: the 120 SmolLM2 answers of tests/fixtures/kgw_reference_vectors.jsonl for V = 49,152; for
V = 262,144 the same answers with token ids mapped by an injective multiplication mod 2**18, so the
repetition structure of real text is kept. The baseline runs on a subset to stay within ~2 minutes.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from distillwatch.watermark import WatermarkConfig, WatermarkDetector  # noqa: E402
from distillwatch.watermark.kgw import hash_table  # noqa: E402

KEY = 15485863
GAMMA = 0.25
BASELINE_TEXTS = {49152: 40, 262144: 16}
OURS_REPEATS = 15
OUT = ROOT / "bench" / "results" / "watermark_detect.json"


def load_texts() -> dict[int, list[list[int]]]:
    with open(ROOT / "tests" / "fixtures" / "kgw_reference_vectors.jsonl") as f:
        answers = [json.loads(line)["token_ids"] for line in f]
    spread = [[(t * 40503) % 262144 for t in a] for a in answers]  # odd multiplier: a bijection mod 2**18
    return {49152: answers, 262144: spread}


class ReferenceLoopDetector:
    """The reference algorithm, one torch.randperm per distinct n-gram (the baseline)."""

    def __init__(self, seeding: str, vocab_size: int) -> None:
        import torch

        self.torch = torch
        self.seeding = seeding
        self.vocab_size = vocab_size
        self.context_width, self.self_salt = (1, False) if seeding == "lefthash" else (4, True)
        self.rng = torch.Generator(device="cpu")
        gen = torch.Generator(device="cpu")
        gen.manual_seed(2971215073)
        self.table = torch.randperm(1_000_003, device="cpu", generator=gen)
        self.score_ngram = lru_cache(maxsize=2**32)(self._score_ngram)

    def _prf(self, ids) -> int:
        if self.seeding == "lefthash":
            return KEY * ids.sum().item()
        h = self.table[ids % 1_000_003] + 1
        return (KEY * h * h[-1]).min().item()

    def _score_ngram(self, prefix: tuple[int, ...], target: int) -> bool:
        ids = self.torch.as_tensor(prefix)[-self.context_width :]
        self.rng.manual_seed(self._prf(ids) % (2**64 - 1))
        green = self.torch.randperm(self.vocab_size, generator=self.rng)[: int(self.vocab_size * GAMMA)]
        return bool(target in green)

    def detect(self, token_ids: list[int]) -> tuple[int, int]:
        n = self.context_width + 1 - self.self_salt
        grams = Counter(zip(*(token_ids[i:] for i in range(n))))
        green = 0
        for gram in grams:
            prefix = gram if self.self_salt else gram[:-1]
            green += self.score_ngram(prefix, gram[-1])
        return len(grams), green


def n_tokens(texts: list[list[int]]) -> int:
    return sum(len(t) for t in texts)


def bench_case(vocab_size: int, seeding: str, texts: list[list[int]]) -> dict:
    config = WatermarkConfig("kgw", key=KEY, seeding=seeding, gamma=GAMMA)
    subset = texts[: BASELINE_TEXTS[vocab_size]]

    base = ReferenceLoopDetector(seeding, vocab_size)
    t0, c0 = time.perf_counter(), time.process_time()
    base_counts = [base.detect(t) for t in subset]
    base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    randperms = base.score_ngram.cache_info().misses

    def ours_batch(batch):
        det = WatermarkDetector(config, vocab_size)  # fresh detector: nothing cached between runs
        return det.detect_batch(batch)

    ours_batch(subset)  # compiled kernels loaded (from numba's disk cache, or compiled) outside the timing
    timings, cpu = [], []
    for _ in range(OURS_REPEATS):  # one run takes milliseconds: the median of many, not the best of a few
        t0, c0 = time.perf_counter(), time.process_time()
        ours = ours_batch(subset)
        timings.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    ours_s, ours_cpu = float(np.median(timings)), float(np.median(cpu))
    ours_counts = [(d.num_scored_tokens, d.num_green) for d in ours]
    assert ours_counts == base_counts, f"results differ for V={vocab_size} {seeding}"

    single = []
    for _ in range(5):
        t0 = time.perf_counter()
        det = WatermarkDetector(config, vocab_size)
        for t in subset:
            det.detect(t)
        single.append(time.perf_counter() - t0)
    ours_single_s = float(np.median(single))

    t0 = time.perf_counter()
    ours_batch(texts)
    ours_full_s = time.perf_counter() - t0

    tok = n_tokens(subset)
    return {
        "vocab_size": vocab_size,
        "seeding": seeding,
        "texts": len(subset),
        "tokens": tok,
        "scored_ngrams": int(sum(c[0] for c in base_counts)),
        "baseline_randperm_calls": randperms,
        "baseline_seconds": round(base_s, 4),
        "baseline_tokens_per_s": round(tok / base_s, 1),
        "ours_batch_seconds": round(ours_s, 4),
        "ours_batch_tokens_per_s": round(tok / ours_s, 1),
        "ours_per_text_seconds": round(ours_single_s, 4),
        "ours_per_text_tokens_per_s": round(tok / ours_single_s, 1),
        "baseline_cpu_seconds": round(base_cpu, 4),
        "ours_batch_cpu_seconds": round(ours_cpu, 4),
        "speedup_batch": round(base_s / ours_s, 2),
        "speedup_batch_cpu_time": round(base_cpu / ours_cpu, 2),
        "speedup_per_text": round(base_s / ours_single_s, 2),
        "results_identical": True,
        "ours_full_corpus": {"texts": len(texts), "tokens": n_tokens(texts), "seconds": round(ours_full_s, 4),
                             "tokens_per_s": round(n_tokens(texts) / ours_full_s, 1)},
    }


def main() -> None:
    import numba
    import torch

    torch.set_num_threads(1)  # randperm is sequential; its OpenMP fill only adds overhead
    t0 = time.perf_counter()
    hash_table()  # one-time per process (the selfhash hash table, computed by our own kernel)
    table_s = time.perf_counter() - t0
    texts = load_texts()
    cases = []
    for vocab_size in (49152, 262144):
        for seeding in ("lefthash", "selfhash"):
            case = bench_case(vocab_size, seeding, texts[vocab_size])
            print(
                f"V={vocab_size:>6} {seeding:8}  baseline {case['baseline_tokens_per_s']:>9.0f} tok/s   "
                f"ours {case['ours_batch_tokens_per_s']:>9.0f} tok/s (batch, x{case['speedup_batch']}), "
                f"{case['ours_per_text_tokens_per_s']:>9.0f} tok/s (per text, x{case['speedup_per_text']}); "
                f"CPU-time speedup x{case['speedup_batch_cpu_time']}",
                flush=True,
            )
            cases.append(case)
    result = {
        "benchmark": "watermark_detect",
        "what": "KGW detection (ignore_repeated_ngrams=True), compiled (numba) MT19937/randperm membership kernel "
                "vs per-n-gram torch.randperm loop of the reference algorithm; identical (T, G) asserted per text; "
                f"ours: median of {OURS_REPEATS} runs (batch), of 5 (per text)",
        "hash_table_seconds": round(table_s, 3),
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
                    "torch": torch.__version__,
                    "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
