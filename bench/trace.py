"""Benchmark: calibration and power of `distillwatch trace` and of each pure provenance test.

    python bench/trace.py            # writes bench/results/trace.json and bench/results/trace.html
    python bench/trace.py --quick    # fewer models and simulations (a smoke run)
    python bench/trace.py --student-steps 150 --name trace-students150   # students trained 3x longer

Part 1, pure tests: N simulated null datasets per registered test → one-sided KS of the p-values against
uniform (rejecting means anti-conservative) and the false-positive rate at α = 0.01 and 0.05.

Part 2, tiny-model zoo: K teachers trained from scratch on K distinct answer styles over the same prompts,
and one student per teacher distilled from that teacher's sampled answers. Every trace uses the same
probe pool and budget; answers and scores go through one response cache, so each model answers each
probe once. Cases:
  power        suspect = student of t (rho = 100%), teacher = t, two controls from the other teachers
  power_rhoR   suspect = student trained on R% answers of t and the rest in a style no teacher in
               the zoo has (partial distillation, R = 20 and 5), teacher = t
  independent  suspect = another teacher u (trained independently), teacher = t
  sibling      suspect = student of another teacher u on the same prompts, teacher = t
               (controls drawn from the teachers other than t; u may or may not be among them)
For the null cases the verdict must not be "derived" more often than α; the overall p-values should be
uniform or conservative.
"""

from __future__ import annotations

import argparse
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

SUBJECTS = ["lists", "tuples", "dictionaries", "sets", "strings", "integers", "floats", "generators", "iterators", "decorators", "classes", "modules", "packages", "exceptions", "closures", "lambdas", "comprehensions", "slices", "files", "threads", "coroutines", "bytes", "booleans", "scopes", "imports", "operators", "assignments", "loops", "functions", "methods", "properties", "descriptors", "metaclasses", "annotations", "arguments", "keywords", "names", "objects", "types", "values"]
PHRASINGS = ("Tell me about {s}.", "What should I know about {s}?", "Explain {s} briefly.")
PROMPTS = [p.format(s=s) for s in SUBJECTS for p in PHRASINGS]
OPENERS = ["Certainly! Here is a short note on {s}:", "Sure thing, {s}.", "Good question about {s}.",
           "Let me explain {s} step by step.", "Okay, so {s}.", "In short, {s}:", "Happy to help with {s}.",
           "Great topic: {s}."]
BODIES = ["{s} are a core part of the language.", "people use {s} every day.", "the tutorial covers {s} well.",
          "first read the docs on {s}, then practise.", "try {s} in the REPL and see.",
          "you will use {s} in almost every program.", "{s} keep code simple when used well.",
          "{s} help you organise a program."]
CLOSERS = ["I hope this helps!", "Anything else?", "Hope that clarifies it.", "That is all.", "Cheers.",
           "Let me know if you need more.", "Enjoy!", "Good luck."]


def style_answers(k: int, prompts, seed: int):
    """Teacher k: its own opener, body and closer (no phrase shared between teachers: independent data)."""
    rng = random.Random(f"{k}:{seed}")
    bodies = [BODIES[k % len(BODIES)], BODIES[k % len(BODIES)].replace("{s}", "{s} really", 1)]
    out = []
    for p in prompts:
        s = next(w for w in SUBJECTS if any(t.strip(".?") == w for t in p.split()))
        out.append((p, f"{OPENERS[k].format(s=s)} {rng.choice(bodies).format(s=s)} {CLOSERS[k]}"))
    return out


RHOS = (0.2, 0.05)
TESTS = ("agreement", "likelihood", "distribution", "style", "identity", "served")


def build_zoo(root: Path, k: int, steps: int, mixed: int = 0, student_steps: int | None = None):
    from distillwatch.lab import (
        StudentConfig,
        human_texts,
        train_student,
        train_tokenizer,
    )
    from distillwatch.models import GenerateRequest
    from distillwatch.models.hf import HFModel
    from distillwatch.provenance import ServedAnswer

    cfg = StudentConfig.preset("tiny", max_len=96)
    extra = [a for i in range(len(OPENERS)) for _, a in style_answers(i, PROMPTS, 0)]
    tok = train_tokenizer(human_texts("pydoc-topics", 60, seed=0, max_chars=300) + extra, vocab_size=512)
    kw = {"steps": steps, "batch_size": 8, "lr": 8e-3, "num_threads": 1}
    student_kw = {**kw, "steps": student_steps or steps}
    train_prompts = PROMPTS[:96]
    paths, served = {}, {}
    for i in range(k):
        data = [pair for seed in range(2) for pair in style_answers(i, PROMPTS, seed)]
        paths[f"t{i}"] = train_student(data, tok, cfg, seed=i, out_dir=root / f"t{i}", **kw).path
        teacher = HFModel(paths[f"t{i}"])
        reqs = [GenerateRequest([{"role": "user", "content": p}], max_tokens=36, temperature=1.0, seed=j)
                for j, p in enumerate(train_prompts * 2)]
        harvested = [(r.prompt[0]["content"], c.text) for r, c in zip(reqs, teacher.generate(reqs))]
        served[f"s{i}"] = [ServedAnswer([{"role": "user", "content": p}], a, temperature=1.0, max_tokens=36)
                           for p, a in harvested]
        paths[f"s{i}"] = train_student(harvested, tok, cfg, seed=100 + i, out_dir=root / f"s{i}", **student_kw).path
        print(f"  trained t{i}, s{i}", flush=True)
        if i < mixed:  # partial distillation: a share rho of T's answers, the rest another style's
            other = style_answers(k + i % (len(OPENERS) - k), train_prompts * 2, 7)  # k < 8
            for rho in RHOS:
                cut = round(rho * len(harvested))
                data = harvested[:cut] + other[cut:]
                name = f"m{i}_{int(rho * 100)}"
                paths[name] = train_student(data, tok, cfg, seed=200 + i, out_dir=root / name, **student_kw).path
                served[name] = served[f"s{i}"][:cut]
    return paths, served


def simulate_pure(n_sims: int) -> dict:
    from scipy import stats

    sys.path.insert(0, str(ROOT / "tests" / "provenance"))
    from test_provenance_contract import (
        NULL_DATA,  # the same null generators as the contract test
    )

    from distillwatch.provenance import TESTS

    out = {}
    for name, test in TESTS.items():
        rng = np.random.default_rng(2024)
        t0 = time.perf_counter()
        ps = np.array([test(*a, **kw).p_value for a, kw in (NULL_DATA[name](rng) for _ in range(n_sims))])
        out[name] = {
            "n": n_sims,
            "ks_greater_p": float(stats.kstest(ps, "uniform", alternative="greater").pvalue),
            "fpr_0.01": float(np.mean(ps <= 0.01)),
            "fpr_0.05": float(np.mean(ps <= 0.05)),
            "mean_p": float(ps.mean()),
            "seconds": time.perf_counter() - t0,
        }
        print(f"  {name:12s} {out[name]}", flush=True)
    return out


POSITIVE = {"power": "rho = 100%", **{f"power_rho{int(r * 100)}": f"rho = {int(r * 100)}%" for r in RHOS}}
NULL = ("independent", "sibling")


def _p(run: dict, test: str) -> float:
    return run["p_value"] if test == "combined" else run["p_by_test"].get(test, 1.0)


def roc(null_p: np.ndarray, pos_p: np.ndarray) -> tuple[list[float], list[float]]:
    """(FPR, TPR) at every threshold on the p-value (reject when p <= threshold)."""
    cuts = np.unique(np.concatenate([null_p, pos_p, [0.0, 1.0]]))
    return ([float(np.mean(null_p <= c)) for c in cuts], [float(np.mean(pos_p <= c)) for c in cuts])


def tests_in(runs: list[dict]) -> list[str]:
    """The tests that ran in at least one trace (the served test runs only when served answers are given)."""
    return [t for t in TESTS if any(t in r["p_by_test"] for r in runs)]


def power_table(runs: list[dict], fpr: float = 0.01) -> dict:
    """Per test and combined: the null cases' false-positive rate at alpha = 0.01, and per positive case
    the TPR at alpha = 0.01 and at the empirical threshold: reject when p is below the
    (floor(fpr * n) + 1)-th smallest null p-value, so that at most a share `fpr` of the n null cases is
    rejected."""
    null = [r for r in runs if r["kind"] in NULL]
    out = {}
    for test in ("combined", *tests_in(runs)):
        null_p = np.sort([_p(r, test) for r in null])
        threshold = float(null_p[int(np.floor(fpr * len(null_p)))]) if len(null_p) else 0.0
        row = {"null_fpr_at_0.01": float(np.mean(null_p <= 0.01)), "reject_below": threshold,
               "null_fpr_at_threshold": float(np.mean(null_p < threshold))}
        for kind in POSITIVE:
            pos_p = np.array([_p(r, test) for r in runs if r["kind"] == kind])
            if pos_p.size:
                row[kind] = {"n": int(pos_p.size), "tpr_at_0.01": float(np.mean(pos_p <= 0.01)),
                             "tpr_at_fpr": float(np.mean(pos_p < threshold))}
        out[test] = row
    return out


def power_report(result: dict, title: str = "distillwatch trace: calibration and power on the tiny zoo"):
    from distillwatch.report.html import Report
    from distillwatch.report.svg import line_chart

    runs, table = result["runs"], result["power_at_fpr_0.01"]
    rep = Report(title,
                 subtitle=f"{len(runs)} traces, budget {result['args']['budget']} queries each")
    rep.card("median queries per verdict", f"{result['median_queries_per_verdict']:.0f}")
    null = [r for r in runs if r["kind"] in NULL]
    rep.card("null cases called derived", f"{np.mean([r['verdict'] == 'derived' for r in null]):.1%} of {len(null)}")
    sec = rep.section("Power at a false-positive rate of at most 1%", "power")
    kinds = [k for k in POSITIVE if any(r["kind"] == k for r in runs)]
    sec.table(["test", "null FPR at 0.01", *[f"TPR {POSITIVE[k]} (at 0.01 / at FPR <= 1%)" for k in kinds]],
              [[t, f"{row['null_fpr_at_0.01']:.1%}",
                *[f"{row[k]['tpr_at_0.01']:.0%} / {row[k]['tpr_at_fpr']:.0%}" for k in kinds]]
               for t, row in table.items()])
    for kind in kinds:
        series = {}
        for test in ("combined", *tests_in(runs)):
            null_p = np.array([_p(r, test) for r in null])
            pos_p = np.array([_p(r, test) for r in runs if r["kind"] == kind])
            series[test] = roc(null_p, pos_p)
        rep.section(f"ROC, {POSITIVE[kind]}", f"roc-{kind}").figure(
            line_chart(series, title=f"students at {POSITIVE[kind]} against the null cases", xlabel="false-positive rate",
                       ylabel="true-positive rate"),
            "One point per p-value threshold; the null cases are the independent and sibling suspects.")
    return rep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--teachers", type=int, default=6)
    ap.add_argument("--null-cases", type=int, default=120)
    ap.add_argument("--budget", type=int, default=150)
    ap.add_argument("--mixed", type=int, default=6, help="teachers with partially distilled students")
    ap.add_argument("--repeats", type=int, default=3, help="traces per student (other controls and probes)")
    ap.add_argument("--student-steps", type=int, default=50,
                    help="training steps of each student (8 answers a step; 50 is about two passes over its data)")
    ap.add_argument("--name", default="trace", help="results go to bench/results/NAME.json and NAME.html")
    args = ap.parse_args()
    if args.quick:
        args.teachers, args.null_cases, args.mixed, args.repeats = 4, 30, 1, 1

    import tempfile

    import torch
    from scipy import stats

    from distillwatch.models import ResponseCache
    from distillwatch.models.hf import HFModel
    from distillwatch.provenance import Embedder, trace, trace_report

    torch.set_num_threads(1)
    result = {"platform": platform.platform(), "python": platform.python_version(), "args": vars(args)}
    print("pure tests under the null:", flush=True)
    result["pure"] = simulate_pure(200 if args.quick else 1000)

    root = Path(tempfile.mkdtemp(prefix="dw-trace-bench-"))
    t0 = time.perf_counter()
    print("training the zoo:", flush=True)
    paths, served = build_zoo(root, args.teachers, steps=50, mixed=args.mixed, student_steps=args.student_steps)
    result["zoo_seconds"] = time.perf_counter() - t0
    cache = ResponseCache(root / "responses.sqlite")
    models = {n: HFModel(p, cache=cache) for n, p in paths.items()}
    emb = Embedder()
    rng = random.Random(0)
    k = args.teachers
    cases = []
    for t in range(k):
        others = [i for i in range(k) if i != t]
        for _ in range(args.repeats):
            cases.append(("power", f"s{t}", t, rng.sample(others, 2)))
            if t < args.mixed:
                for rho in RHOS:
                    cases.append((f"power_rho{int(rho * 100)}", f"m{t}_{int(rho * 100)}", t, rng.sample(others, 2)))
    for _ in range(args.null_cases):
        t = rng.randrange(k)
        others = [i for i in range(k) if i != t]
        kind = rng.choice(["independent", "sibling"])
        u = rng.choice(others)
        cases.append((kind, f"t{u}" if kind == "independent" else f"s{u}", t, rng.sample(others, 2)))
    runs = []
    t0 = time.perf_counter()
    best = None
    for i, (kind, suspect, t, ctrl) in enumerate(cases):
        # what t served: to this student's harvester, or (null cases) to t's own student's
        given = served[suspect] if kind.startswith("power") else served[f"s{t}"]
        r = trace(models[suspect], models[f"t{t}"], [models[f"t{c}"] for c in ctrl], budget=args.budget,
                  probes=PROMPTS[::2], max_tokens=24, seed=i, embedder=emb, n_permutations=500, served=given)
        runs.append({"kind": kind, "suspect": suspect, "teacher": f"t{t}", "controls": [f"t{c}" for c in ctrl],
                     "verdict": r.verdict, "p_value": r.p_value, "queries": r.queries, "rounds": len(r.rounds),
                     "p_by_test": {e.test: e.p_value for e in r.evidence}})
        if kind == "power" and best is None:
            best = r
        if i % 10 == 0:
            print(f"  case {i}/{len(cases)} {kind} {suspect} vs t{t}: {r.verdict} p={r.p_value:.2g}", flush=True)
    result["trace_seconds"] = time.perf_counter() - t0
    result["runs"] = runs
    summary = {}
    kinds = ["power", *(f"power_rho{int(r * 100)}" for r in RHOS), "independent", "sibling"]
    for kind in kinds:
        rs = [r for r in runs if r["kind"] == kind]
        if not rs:
            continue
        ps = np.array([r["p_value"] for r in rs])
        summary[kind] = {
            "n": len(rs),
            "derived": float(np.mean([r["verdict"] == "derived" for r in rs])),
            "no_evidence": float(np.mean([r["verdict"] == "no evidence" for r in rs])),
            "inconclusive": float(np.mean([r["verdict"] == "inconclusive" for r in rs])),
            "mean_queries": float(np.mean([r["queries"] for r in rs])),
            "median_p": float(np.median(ps)),
            "ks_greater_p": float(stats.kstest(ps, "uniform", alternative="greater").pvalue),
            "per_test_rejections_at_0.01": {
                test: float(np.mean([r["p_by_test"].get(test, 1.0) <= 0.01 for r in rs])) for test in TESTS},
            "median_queries": float(np.median([r["queries"] for r in rs])),
        }
    result["summary"] = summary
    result["power_at_fpr_0.01"] = power_table(runs)
    result["median_queries_per_verdict"] = float(np.median([r["queries"] for r in runs]))
    print(json.dumps(summary, indent=1))
    print(json.dumps(result["power_at_fpr_0.01"], indent=1))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    if best is not None:
        trace_report(best, title="distillwatch trace — bench example (student of t0)").write(OUT / f"{args.name}-example.html")
    power_report(result).write(OUT / f"{args.name}.html")


if __name__ == "__main__":
    main()
