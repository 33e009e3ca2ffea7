"""Benchmark: the llama.cpp backend against the hf backend on bundled SmolLM2, with and without a watermark.

    python bench/llamacpp.py [--prompts 8] [--max-tokens 64]   → bench/results/llamacpp.json

Needs the `llamacpp` extra. Both backends answer the same real user prompts one request at a time
(single stream; the hf backend's baseline), greedy and then sampled under KGW lefthash (gamma 0.25,
delta 2): generated tokens/s of each, their ratio, how often the two backends' greedy answers agree
token by token (llama.cpp runs the Q4_1 weights, hf their fp32 dequantization), and the watermark's
detection p-values on each backend's answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from distillwatch.data import user_prompts  # noqa: E402
from distillwatch.models import GenerateRequest, get_model  # noqa: E402
from distillwatch.watermark import WatermarkConfig, WatermarkDetector, make_logits_processor  # noqa: E402

CONFIG = WatermarkConfig("kgw", key=15485863, gamma=0.25, delta=2.0, seeding="lefthash")


def run(model, requests, processor=None) -> tuple[list, float]:
    t0 = time.perf_counter()
    answers = [model.generate([r], logits_processor=processor)[0] for r in requests]  # one stream
    return answers, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "llamacpp.json")
    args = ap.parse_args()
    prompts = [[{"role": "user", "content": p}] for p in user_prompts(args.prompts, seed=3, max_chars=200)]
    greedy = [GenerateRequest(p, max_tokens=args.max_tokens) for p in prompts]
    sampled = [GenerateRequest(p, max_tokens=args.max_tokens, temperature=0.7, seed=i) for i, p in enumerate(prompts)]
    result: dict = {"benchmark": "llamacpp", "model": "smollm2-135m-instruct", "prompts": len(prompts),
                    "max_tokens": args.max_tokens, "threads": os.cpu_count(), "machine": platform.platform(),
                    "watermark": CONFIG.to_dict(), "backends": {}}
    outputs = {}
    for backend in ("hf", "llamacpp"):
        name = "bundled/smollm2-135m-instruct" if backend == "hf" else "llamacpp/smollm2-135m-instruct"
        t0 = time.perf_counter()
        model = get_model(name, cache=False)
        load = time.perf_counter() - t0
        run(model, greedy[:1])  # warm-up
        plain, t_plain = run(model, greedy)
        marked, t_marked = run(model, sampled, make_logits_processor(CONFIG, model.vocab_size))
        det = WatermarkDetector(CONFIG, model.vocab_size)
        n_plain = sum(len(a.token_ids) for a in plain)
        n_marked = sum(len(a.token_ids) for a in marked)
        outputs[backend] = plain
        result["backends"][backend] = {
            "load_seconds": round(load, 2),
            "greedy_tokens_per_s": round(n_plain / t_plain, 1),
            "watermarked_tokens_per_s": round(n_marked / t_marked, 1),
            "watermarked_median_p": float(np.median([det.detect(a.token_ids).p_value for a in marked])),
            "watermarked_share_p_below_1e-4": float(np.mean([det.detect(a.token_ids).p_value < 1e-4 for a in marked])),
        }
        print(backend, json.dumps(result["backends"][backend]), flush=True)
        del model
    hf, cpp = result["backends"]["hf"], result["backends"]["llamacpp"]
    result["speedup_greedy"] = round(cpp["greedy_tokens_per_s"] / hf["greedy_tokens_per_s"], 2)
    result["speedup_watermarked"] = round(cpp["watermarked_tokens_per_s"] / hf["watermarked_tokens_per_s"], 2)
    prefix = []
    for a, b in zip(outputs["hf"], outputs["llamacpp"]):
        n = 0
        for x, y in zip(a.token_ids, b.token_ids):
            if x != y:
                break
            n += 1
        prefix.append(n)
    result["greedy_common_prefix_tokens_median"] = float(np.median(prefix))
    result["greedy_identical_answers"] = int(sum(a.token_ids == b.token_ids for a, b in zip(outputs["hf"], outputs["llamacpp"])))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "backends"}, indent=1))


if __name__ == "__main__":
    main()
