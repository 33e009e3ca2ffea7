"""Benchmark: `trace` on the lab's zoo, whose lineage is known — calibration and power by rho.

    distillwatch lab zoo --spec default --out ZOO          # once (see the lab's README section)
    python bench/trace_zoo.py --zoo ZOO                    → bench/results/trace_zoo.json, trace_zoo.html
    python bench/trace_zoo.py                              # builds (or resumes) the zoo in bench/results/zoo-default

For each teacher T of the manifest (bundled SmolLM2 and Gemma-3-270M, two tiny teachers trained on
different human-written corpora), every other model of the zoo is a suspect:
  power, power_rho20, power_rho5   T's own students (several sizes and seeds; rho = 100%, 20%, 5%)
  sibling                          students of another teacher, on the same prompts
  independent                      models trained only on human-written text, and the other teachers
Controls: two of the other teachers, drawn per case; with `--matched K`, the K models most like T
(`trace(..., matched_controls=K)`) from a pool of the models known not to be derived from T: the other
teachers and the independents (the suspect left out). Probes: a fixed pool of real user prompts
(ShareGPT), so each teacher answers each probe once through the response cache. The per-test and
combined p-values become the same power table and ROC curves as bench/trace.py (TPR at a
false-positive rate of at most 1%, the threshold read off the null cases), plus the queries per verdict.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "bench" / "results"

_spec = importlib.util.spec_from_file_location("bench_trace", ROOT / "bench" / "trace.py")
bench_trace = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_trace)  # power_table, power_report: one implementation for both benches


def cases_of(manifest: dict, seed: int = 0, pool: bool = False) -> list[tuple[str, str, str, list[str]]]:
    """(kind, suspect, teacher, controls) for every teacher and every other model of the zoo; with `pool`, the
    controls are every model known not to be derived from the teacher (other teachers, independents)."""
    models = manifest["models"]
    teachers = [m["name"] for m in models if m["role"] == "teacher"]
    independents = [m["name"] for m in models if m["role"] == "independent"]
    rng = random.Random(seed)
    cases = []
    for t in teachers:
        others = [u for u in teachers if u != t]
        for m in models:
            if m["name"] == t:
                continue
            if m["role"] == "student" and m["teacher"] == t:
                rho = m.get("rho")
                kind = "power" if rho is None or rho >= 1 else f"power_rho{round(rho * 100)}"
            elif m["role"] == "student":
                kind = "sibling"
            else:  # independents, and the other teachers (trained independently of T)
                kind = "independent"
            controls = [u for u in others + independents if u != m["name"]] if pool else rng.sample(others, 2)
            cases.append((kind, m["name"], t, controls))
    return cases


def _harvests(zoo: Path) -> dict[str, tuple[list, str | None, str]]:
    """Each harvest of the zoo: its answers as served answers, its watermark, its teacher (unwatermarked
    harvests first, so a teacher's null-case served set is its plain one)."""
    from distillwatch.provenance import load_served

    out = {}
    for done in sorted((zoo / "harvests").glob("*.jsonl.done.json"), key=lambda p: "-wm" in p.name):
        step = json.loads(done.read_text())["step"]
        served, _ = load_served(done.with_name(done.name.removesuffix(".done.json")), temperature=step["temperature"],
                                max_tokens=step["max_tokens"])
        out[step["name"]] = (served, step.get("watermark"), step["teacher"])
    return out


def calibration(runs: list[dict]) -> dict:
    """The combined p-values of the null cases (independent and sibling suspects): how many fall at or below
    0.01, and a one-sided KS test of "uniform or conservative" (small p: more small p-values than uniform)."""
    from scipy import stats

    ps = np.array([r["p_value"] for r in runs if r["kind"] in ("independent", "sibling")])
    return {"null_cases": int(ps.size), "at_or_below_0.01": int(np.sum(ps <= 0.01)),
            "derived": sum(r["verdict"] == "derived" for r in runs if r["kind"] in ("independent", "sibling")),
            "ks_greater_p": float(stats.kstest(ps, "uniform", alternative="greater").pvalue) if ps.size else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", type=Path, default=OUT / "zoo-default",
                    help="a directory built by `distillwatch lab zoo` (default: the default zoo, built there or resumed)")
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--probes", type=int, default=80, help="size of the fixed probe pool")
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--name", default="trace_zoo")
    ap.add_argument("--served", action="store_true",
                    help="also run the served-answer test on the zoo's harvests (the teacher redraws each time)")
    ap.add_argument("--teachers", nargs="*", default=None, help="only these teachers' cases")
    ap.add_argument("--matched", type=int, default=None,
                    help="choose this many controls per case from the pool of models not derived from the teacher")
    ap.add_argument("--match-prompts", type=int, default=40, help="prompts the controls are chosen on")
    ap.add_argument("--one-seed", action="store_true",
                    help="trace every case with seed 0 instead of its own: a teacher's served subset and redraws are "
                         "then the same in all its cases and come from the response cache (much faster with a "
                         "bundled teacher; each case's test stays exact, but its null cases share one redraw set)")
    args = ap.parse_args()

    from distillwatch.data import load_prompts
    from distillwatch.models import ResponseCache, get_model
    from distillwatch.provenance import Embedder, trace

    if not (args.zoo / "manifest.json").exists():
        from distillwatch.lab import build_zoo

        build_zoo("default", args.zoo)  # resumable: an interrupted build continues
    manifest = json.loads((args.zoo / "manifest.json").read_text())
    cache = ResponseCache(args.zoo / "trace-bench-responses.sqlite")
    paths = {m["name"]: m["path"] for m in manifest["models"]}
    loaded: dict[str, object] = {}

    def model(name: str):
        if name not in loaded:
            path = paths[name]
            loaded[name] = get_model(path if "/" in path and not (args.zoo / path).exists() else f"hf/{args.zoo / path}",
                                     cache=cache)
        return loaded[name]

    probes = [r.prompt[:300] for r in load_prompts("sharegpt", args.probes, seed=5).records]
    emb = Embedder()
    cases = [c for c in cases_of(manifest, pool=args.matched is not None) if not args.teachers or c[2] in args.teachers]
    harvests = _harvests(args.zoo) if args.served else {}
    by_name = {m["name"]: m for m in manifest["models"]}
    result = {"benchmark": "trace_zoo", "platform": platform.platform(), "zoo": str(args.zoo), "args":
              {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "cases": len(cases)}
    runs = []
    t0 = time.perf_counter()
    for i, (kind, suspect, teacher, controls) in enumerate(cases):
        start = time.perf_counter()
        served = watermark = None
        if args.served:  # a student's own harvest; for the null cases, what the teacher served its students
            own = by_name[suspect].get("details", {}).get("harvest") if kind.startswith("power") else None
            served, watermark = (harvests[own] if own else next(h for h in harvests.values() if h[2] == teacher))[:2]
        r = trace(model(suspect), model(teacher), [model(c) for c in controls], budget=args.budget, probes=probes,
                  max_tokens=args.max_tokens, seed=0 if args.one_seed else i, embedder=emb, n_permutations=500,
                  served=served, served_watermark=watermark, matched_controls=args.matched,
                  match_prompts=args.match_prompts)
        name_of = {model(c).model_id: c for c in controls}
        chosen = [name_of[c] for c in r.control_match["chosen"]] if r.control_match else controls
        runs.append({"kind": kind, "suspect": suspect, "teacher": teacher, "controls": chosen,
                     "verdict": r.verdict,
                     "p_value": r.p_value, "queries": r.queries, "rounds": len(r.rounds),
                     "p_by_test": {e.test: e.p_value for e in r.evidence},
                     "seconds": round(time.perf_counter() - start, 1)})
        print(f"  {i + 1}/{len(cases)} {kind:12s} {suspect} vs {teacher}: {r.verdict} p={r.p_value:.2g} "
              f"({runs[-1]['seconds']} s)", flush=True)
    result["trace_seconds"] = round(time.perf_counter() - t0, 1)
    result["runs"] = runs
    result["power_at_fpr_0.01"] = bench_trace.power_table(runs)
    result["median_queries_per_verdict"] = float(np.median([r["queries"] for r in runs]))
    result["calibration"] = calibration(runs)
    result["verdicts"] = {
        kind: {"n": len(rs), **{v: sum(r["verdict"] == v for r in rs) for v in ("derived", "no evidence", "inconclusive")},
               "median_queries": float(np.median([r["queries"] for r in rs]))}
        for kind in sorted({r["kind"] for r in runs}) for rs in [[r for r in runs if r["kind"] == kind]]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    result["args"]["budget"] = args.budget
    bench_trace.power_report(result, title="distillwatch trace on the lab's default zoo").write(OUT / f"{args.name}.html")
    print(json.dumps(result["verdicts"], indent=1))
    print(json.dumps(result["power_at_fpr_0.01"], indent=1))


if __name__ == "__main__":
    main()
