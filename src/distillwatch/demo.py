"""`distillwatch demo`: the story end to end on one laptop, offline.

Today's chain: a provider serves bundled SmolLM2-135M-Instruct over the OpenAI-compatible API (the same
server as `distillwatch serve`), and a client sends real user prompts (ShareGPT) through the `openai/...`
backend concurrently, the way a harvester would. Later pillars (gateway, scan, lab, trace, audit)
extend this chain; the demo only orchestrates library calls that the CLI verbs also make.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .data import user_prompts
from .gateway import BackgroundServer, build_app
from .models import GenerateRequest, get_model
from .runlog import RunLog

__all__ = ["run_demo", "TEACHER"]

TEACHER = "bundled/smollm2-135m-instruct"


def run_demo(
    out_dir: str | Path = "distillwatch-demo",
    *,
    n_prompts: int = 20,
    max_tokens: int = 64,
    concurrency: int = 8,
    use_cache: bool = True,
    console: Console | None = None,
) -> dict:
    """Run the demo and return its summary (also written to the run log in `out_dir`)."""
    console = console or Console()
    out_dir = Path(out_dir)
    with RunLog("demo", out_dir) as log:
        t0 = time.perf_counter()
        console.rule("[bold]distillwatch demo")
        console.print(f"1. loading the provider's model [bold]{TEACHER}[/] (first run dequantizes it once)")
        teacher = get_model(TEACHER, cache=False)
        load_s = time.perf_counter() - t0
        log.write("step", name="load", model=TEACHER, seconds=load_s)

        prompts = user_prompts(n_prompts, seed=0)
        console.print(f"2. serving it over the OpenAI API; sending {len(prompts)} real user prompts "
                      f"(ShareGPT) with {concurrency} concurrent clients")
        app = build_app(teacher, served_name="smollm2")
        with BackgroundServer(app) as server:
            client = get_model(f"openai/smollm2@{server.base_url}", cache=use_cache,
                               concurrency=concurrency)
            requests = [
                GenerateRequest([{"role": "user", "content": p}], max_tokens=max_tokens, temperature=0.0)
                for p in prompts
            ]
            t1 = time.perf_counter()
            answers = client.generate(requests, progress=True)
            wall = time.perf_counter() - t1
            engine = app.state.engine.stats.to_dict()
            cache_stats = client.cache.stats() if client.cache is not None else None

        table = Table(title=f"SmolLM2 answers through the OpenAI API ({server.base_url})", show_lines=False)
        for col in ("#", "prompt", "answer (excerpt)", "tokens", "latency s"):
            table.add_column(col, overflow="fold")
        for i, (p, a) in enumerate(zip(prompts, answers), start=1):
            latency = "cached" if a.cached else f"{a.latency_s:.1f}"
            table.add_row(str(i), _excerpt(p, 60), _excerpt(a.text, 90), str(a.completion_tokens), latency)
            log.write("completion", prompt=p, text=a.text, token_ids=a.token_ids, cached=a.cached,
                      latency_s=a.latency_s)
        console.print(table)

        tokens = sum(a.completion_tokens for a in answers if not a.cached)
        summary = {
            "model": TEACHER,
            "prompts": len(prompts),
            "load_s": round(load_s, 2),
            "generate_wall_s": round(wall, 2),
            "generated_tokens": tokens,
            "tokens_per_s": round(tokens / wall, 1) if wall > 0 and tokens else 0.0,
            "server": engine,
            "cache": cache_stats,
            "total_s": round(time.perf_counter() - t0, 2),
        }
        log.write("summary", **summary)
        console.print(
            f"server: {engine['requests']} requests in {engine['batches']} batches "
            f"(mean batch {engine['mean_batch_size']:.1f}); {tokens} new tokens in {wall:.1f} s"
        )
        if cache_stats:
            console.print(
                f"response cache: {cache_stats['hits']} hits, {cache_stats['misses']} misses "
                f"({cache_stats['path']})"
            )
        console.print(f"run log: {log.path}")
        return summary


def _excerpt(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
