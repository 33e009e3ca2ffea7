"""Model backend benchmark: load, generation, scoring and serving speed of the bundled models.

    python bench/models.py [--quick]   → bench/results/models.json

For each bundled model: load time cold (dequantize the GGUF into an empty models dir) and cached (reload
the fp32 copy); greedy generation tokens/s single-stream and batched (batch 8, same prompts: the ratio
is the batching gain); teacher-forced scoring tokens/s. For SmolLM2 also `serve` throughput with 8
concurrent clients vs one client sending the same requests one at a time (baseline, same run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from distillwatch.data import user_prompts  # noqa: E402
from distillwatch.gateway import BackgroundServer, build_app  # noqa: E402
from distillwatch.models import GenerateRequest, get_model  # noqa: E402
from distillwatch.models.bundled import BUNDLED  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def bench_load(name: str) -> tuple[dict, object]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DISTILLWATCH_MODELS_DIR"] = tmp
        _, cold = _timed(lambda: get_model(f"bundled/{name}", cache=False))
        model, cached = _timed(lambda: get_model(f"bundled/{name}", cache=False))
        os.environ.pop("DISTILLWATCH_MODELS_DIR")
    return {"load_cold_s": round(cold, 2), "load_cached_s": round(cached, 2)}, model


def bench_generate(model, prompts: list[str], max_tokens: int) -> dict:
    reqs = [GenerateRequest([{"role": "user", "content": p}], max_tokens=max_tokens) for p in prompts]
    model.batch_size = 1
    single, t_single = _timed(lambda: model.generate(reqs))
    model.batch_size = 8
    batched, t_batched = _timed(lambda: model.generate(reqs))
    n_single = sum(c.completion_tokens for c in single)
    n_batched = sum(c.completion_tokens for c in batched)
    return {
        "generate_requests": len(reqs),
        "generate_single_tok_s": round(n_single / t_single, 1),
        "generate_batch8_tok_s": round(n_batched / t_batched, 1),
        "batch8_speedup": round((n_batched / t_batched) / (n_single / t_single), 2),
        "same_tokens_single_vs_batched": [c.token_ids for c in single] == [c.token_ids for c in batched],
    }


def bench_score(model, texts: list[str]) -> dict:
    scores, dt = _timed(lambda: model.score(texts))
    n = sum(len(s.logprobs) for s in scores)
    return {"score_texts": len(texts), "score_tokens": n, "score_tok_s": round(n / dt, 1)}


def bench_serve(model, prompts: list[str], max_tokens: int) -> dict:
    reqs = [GenerateRequest([{"role": "user", "content": p}], max_tokens=max_tokens) for p in prompts]
    app = build_app(model, served_name="bench")
    with BackgroundServer(app) as srv:
        one = get_model(f"openai/bench@{srv.base_url}", cache=False, concurrency=1)
        eight = get_model(f"openai/bench@{srv.base_url}", cache=False, concurrency=8)
        seq, t_seq = _timed(lambda: one.generate(reqs))
        conc, t_conc = _timed(lambda: eight.generate(reqs))
        stats = app.state.engine.stats.to_dict()
    n_seq = sum(c.completion_tokens for c in seq)
    n_conc = sum(c.completion_tokens for c in conc)
    return {
        "serve_requests": len(reqs),
        "serve_1_client_tok_s": round(n_seq / t_seq, 1),
        "serve_8_clients_tok_s": round(n_conc / t_conc, 1),
        "serve_8_clients_req_s": round(len(reqs) / t_conc, 2),
        "serve_concurrency_speedup": round((n_conc / t_conc) / (n_seq / t_seq), 2),
        "serve_mean_batch_size": stats["mean_batch_size"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer prompts and tokens")
    parser.add_argument("--out", default=str(ROOT / "results" / "models.json"))
    args = parser.parse_args()
    n, max_tokens = (8, 16) if args.quick else (16, 48)
    prompts = user_prompts(n, seed=0, max_chars=400)
    texts = user_prompts(16, seed=1, min_chars=300, max_chars=1500)
    results: dict = {
        "benchmark": "models",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"prompts": n, "max_tokens": max_tokens, "greedy": True},
        "models": {},
    }
    for name in BUNDLED:
        print(f"[models] {name}: load", flush=True)
        row, model = bench_load(name)
        print(f"[models] {name}: generate", flush=True)
        row.update(bench_generate(model, prompts, max_tokens))
        print(f"[models] {name}: score", flush=True)
        row.update(bench_score(model, texts))
        if name == "smollm2-135m-instruct":
            print(f"[models] {name}: serve", flush=True)
            row.update(bench_serve(model, prompts, max_tokens))
        results["models"][f"bundled/{name}"] = row
        print(json.dumps(row, indent=1), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"[models] wrote {out}")


if __name__ == "__main__":
    main()
