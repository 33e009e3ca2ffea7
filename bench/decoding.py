"""Benchmark: continuous batching against static batches, offline and behind the serving engine.

    python bench/decoding.py [--n 64]   → bench/results/decoding.json

Bundled SmolLM2-135M-Instruct on the CPU, watermarked (KGW lefthash), real user prompts (ShareGPT, cut
to 300 characters), sampled at temperature 1 with fixed seeds. Two workloads: "mixed" (one request in
three asks for 64 tokens, the others for 8: a provider's traffic, long harvesting answers among short
ones) and "uniform" (48 tokens each; answers still end at different lengths).

* generate: `HFModel.generate` with continuous batching (16 rows, refilled as rows finish) against
  static batches (8 or 16 requests prefilled together and decoded until the last one ends; finished
  rows do leave the batch, so the baseline is already better than a batch that decodes them to the end).
* engine: the gateway's `BatchingEngine` fed by 16 concurrent clients, continuous against static
  batches of up to 16 (whose finished rows also leave).

Tokens per second of this run; the same seeds give the same answers in every configuration, so the
token counts match and the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from distillwatch.data import load_prompts  # noqa: E402
from distillwatch.gateway.engine import BatchingEngine  # noqa: E402
from distillwatch.models import GenerateRequest, get_model  # noqa: E402
from distillwatch.watermark import WatermarkConfig, make_logits_processor  # noqa: E402

TEACHER = "bundled/smollm2-135m-instruct"
CONFIG = WatermarkConfig("kgw", key=20261129, gamma=0.25, delta=2.0, seeding="lefthash")


def workload(prompts: list[str], kind: str) -> list[GenerateRequest]:
    budgets = [64 if i % 3 == 0 else 8 for i in range(len(prompts))] if kind == "mixed" else [48] * len(prompts)
    return [GenerateRequest([{"role": "user", "content": p[:300]}], max_tokens=b, temperature=1.0, seed=i)
            for i, (p, b) in enumerate(zip(prompts, budgets))]


def static_batches(model, requests, processor, size: int):
    """The baseline: `size` requests at a time, decoded until the last of them ends."""
    out = []
    for start in range(0, len(requests), size):
        batch = model.decode_batch(processor)
        chunk = list(range(start, min(start + size, len(requests))))
        done = batch.add([requests[i] for i in chunk], chunk) + batch.run()
        out += [c for _, c in sorted(done, key=lambda x: x[0])]
    return out


def timed(fn) -> tuple[float, list]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


async def through_engine(model, requests, processor, continuous: bool, clients: int = 16):
    engine = BatchingEngine(model, max_batch=16, logits_processor=processor, continuous=continuous)
    queue = list(enumerate(requests))
    results = [None] * len(requests)

    async def client():
        while queue:
            i, r = queue.pop(0)
            results[i] = await engine.generate(r)

    await asyncio.gather(*(client() for _ in range(clients)))
    await engine.stop()
    return results, engine.stats.to_dict()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "decoding.json")
    args = ap.parse_args()
    model = get_model(TEACHER, cache=False)
    processor = make_logits_processor(CONFIG, model.vocab_size)
    prompts = [r.prompt for r in load_prompts("sharegpt", args.n, seed=11).records]
    model.generate(workload(prompts[:4], "uniform")[:4], logits_processor=processor)  # warm up
    result = {"benchmark": "decoding", "model": TEACHER, "requests": args.n, "cpu_threads": __import__("torch").get_num_threads(),
              "generate": {}, "engine": {}}
    for kind in ("mixed", "uniform"):
        requests = workload(prompts, kind)
        runs = {}
        for name, fn in (
            ("static-8", lambda: static_batches(model, requests, processor, 8)),
            ("static-16", lambda: static_batches(model, requests, processor, 16)),
            ("continuous-16", lambda: model.generate(requests, logits_processor=processor)),
        ):
            model.batch_size = 16
            seconds, completions = timed(fn)
            tokens = sum(c.completion_tokens for c in completions)
            runs[name] = {"seconds": round(seconds, 2), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
                          "token_ids": [c.token_ids for c in completions]}
            print(f"generate {kind} {name}: {seconds:.1f} s, {tokens} tokens, {tokens / seconds:.1f} tok/s", flush=True)
        same = all(r["token_ids"] == runs["static-8"]["token_ids"] for r in runs.values())
        for r in runs.values():
            del r["token_ids"]
        result["generate"][kind] = {**runs, "same_tokens_in_every_configuration": same,
                                    "speedup_continuous_vs_static_8": round(runs["static-8"]["seconds"]
                                                                            / runs["continuous-16"]["seconds"], 2)}
        engine_runs = {}
        for name, continuous in (("static", False), ("continuous", True)):
            t0 = time.perf_counter()
            completions, stats = asyncio.run(through_engine(model, requests, processor, continuous))
            seconds = time.perf_counter() - t0
            tokens = sum(c.completion_tokens for c in completions)
            engine_runs[name] = {"seconds": round(seconds, 2), "tokens": tokens,
                                 "tokens_per_s": round(tokens / seconds, 1), "stats": stats}
            print(f"engine {kind} {name}: {seconds:.1f} s, {tokens} tokens, {tokens / seconds:.1f} tok/s", flush=True)
        result["engine"][kind] = {**engine_runs, "speedup_continuous_vs_static": round(
            engine_runs["static"]["seconds"] / engine_runs["continuous"]["seconds"], 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({part: {kind: {name: r["tokens_per_s"] for name, r in runs.items() if isinstance(r, dict)}
                             for kind, runs in result[part].items()} for part in ("generate", "engine")}, indent=1))


if __name__ == "__main__":
    main()
