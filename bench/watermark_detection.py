"""Benchmark: how often one watermarked answer is detected, by sampling temperature.

    python bench/watermark_detection.py [--work DIR]   → bench/results/watermark_detection.json

Bundled SmolLM2-135M-Instruct, KGW lefthash (γ 0.25, δ 2), 100 real user prompts (ShareGPT, the same
ones as bench/radioactivity.py), 200 new tokens each, sampled at temperature 1.0 (multinomial sampling,
the setting of Kirchenbauer et al.) and 0.7. Per answer: the exact binomial p-value with repeated
n-grams scored once; the share below 1e-4, overall and among answers that reached 200 tokens (a model
that stops early leaves fewer tokens to test). Harvests are resumable in --work (default a temp dir),
and answers already in the response cache are not generated again (harvest_seconds is this run's time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from distillwatch.data import load_prompts  # noqa: E402
from distillwatch.lab.harvesting import harvest, read_harvest  # noqa: E402
from distillwatch.models import get_model  # noqa: E402
from distillwatch.watermark import WatermarkConfig, WatermarkDetector, make_logits_processor  # noqa: E402

TEACHER = "bundled/smollm2-135m-instruct"
CONFIG = WatermarkConfig("kgw", key=20261129, gamma=0.25, delta=2.0, seeding="lefthash")
TEMPERATURES = (1.0, 0.7)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "watermark_detection.json")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="dw-bench-detection-"))
    work.mkdir(parents=True, exist_ok=True)
    teacher = get_model(TEACHER, batch_size=50)
    prompts = load_prompts("sharegpt", args.n + 200, seed=7).records[: args.n]
    detector = WatermarkDetector(CONFIG, teacher.vocab_size)
    processor = make_logits_processor(CONFIG, teacher.vocab_size)
    result = {"benchmark": "watermark_detection", "teacher": TEACHER, "answers": args.n,
              "max_tokens": args.max_tokens, "watermark": {k: v for k, v in CONFIG.to_dict().items() if k != "key"},
              "by_temperature": {}}
    for temperature in TEMPERATURES:
        path = work / f"harvest-t{temperature}.jsonl"
        t0 = time.perf_counter()
        harvest(teacher, prompts, path, temperature=temperature, max_tokens=args.max_tokens, seed=1,
                logits_processor=processor, chunk=50, progress=True)
        seconds = time.perf_counter() - t0
        records = read_harvest(path)
        p = np.array([detector.detect(r["token_ids"]).p_value for r in records])
        full = np.array([len(r["token_ids"]) >= args.max_tokens for r in records])
        result["by_temperature"][str(temperature)] = {
            "answers": len(records),
            "share_p_below_1e-4": float(np.mean(p < 1e-4)),
            "median_p": float(np.median(p)),
            "answers_at_max_tokens": int(full.sum()),
            "share_p_below_1e-4_at_max_tokens": float(np.mean(p[full] < 1e-4)) if full.any() else None,
            "median_tokens": float(np.median([len(r["token_ids"]) for r in records])),
            "harvest_seconds": round(seconds, 1),
        }
        print(json.dumps({temperature: result["by_temperature"][str(temperature)]}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
