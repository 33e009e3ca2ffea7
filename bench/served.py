"""Benchmark: the served-answer test's power by how often the student saw the served answers, and its
calibration on the suspects its null covers.

    python bench/served.py [--quick]   → bench/results/served.json

Tiny-model zoo (the style teachers of bench/trace.py). Each teacher t serves H_t: one sampled answer
(temperature 1, 36 tokens) to each of 96 prompts. Cases, each tested on 48 of the served answers against
fresh redraws from t with the same settings:
  power_E      a student trained E passes over H_t (E = 1, 2, 5, 10, 20)
  same_teacher a student trained 20 passes over H'_t, other answers of t to the same prompts (null)
  sibling      a student trained 20 passes over H_u of another teacher u (null)
  teacher      t itself (null)
  independent  another teacher u (null)
Each null case is tested `--redraws` times, each time on a new served set of t and new redraws: the test
is exact over the randomness of both (not conditionally on one served set), so the share of p-values
≤ α stays within sampling error of at most α. Power: the served set the student saw, with `--redraws`
redraw seeds; median p and share ≤ 0.01 per pass count.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "bench" / "results"

_spec = importlib.util.spec_from_file_location("bench_trace", ROOT / "bench" / "trace.py")
bench_trace = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_trace)  # the style teachers (not `import trace`: the stdlib has one)

PASSES = (1, 2, 5, 10, 20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--teachers", type=int, default=4)
    ap.add_argument("--redraws", type=int, default=25)
    args = ap.parse_args()
    if args.quick:
        args.teachers, args.redraws = 2, 5

    import torch
    from scipy import stats

    from distillwatch.lab import StudentConfig, human_texts, train_student, train_tokenizer
    from distillwatch.models import GenerateRequest
    from distillwatch.models.hf import HFModel
    from distillwatch.provenance import ServedAnswer, draw_fresh, served_test

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="dw-served-bench-"))
    t0 = time.perf_counter()
    prompts = bench_trace.PROMPTS[:96]
    cfg = StudentConfig.preset("tiny", max_len=96)
    extra = [a for i in range(len(bench_trace.OPENERS)) for _, a in bench_trace.style_answers(i, bench_trace.PROMPTS, 0)]
    tok = train_tokenizer(human_texts("pydoc-topics", 60, seed=0, max_chars=300) + extra, vocab_size=512)
    kw = {"batch_size": 8, "lr": 8e-3, "num_threads": 1}
    user = lambda p: ({"role": "user", "content": p},)  # noqa: E731

    def harvest(teacher, first_seed: int) -> list[ServedAnswer]:
        reqs = [GenerateRequest(user(p), max_tokens=36, temperature=1.0, seed=first_seed + j)
                for j, p in enumerate(prompts)]
        return [ServedAnswer(user(p), c.text, 1.0, 36) for p, c in zip(prompts, teacher.generate(reqs))]

    def student(name: str, served: list[ServedAnswer], passes: int, seed: int) -> HFModel:
        data = [(s.prompt[0]["content"], s.answer) for s in served]
        steps = max(1, round(passes * len(data) / kw["batch_size"]))
        return HFModel(train_student(data, tok, cfg, seed=seed, steps=steps, out_dir=root / name, **kw).path)

    teachers, served, other = [], [], []
    for i in range(args.teachers):
        data = [pair for seed in range(2) for pair in bench_trace.style_answers(i, bench_trace.PROMPTS, seed)]
        teachers.append(HFModel(train_student(data, tok, cfg, seed=i, steps=50, out_dir=root / f"t{i}", **kw).path))
        served.append(harvest(teachers[i], 0))
        other.append(harvest(teachers[i], 5000))
    suspects: dict[str, list[tuple[int, HFModel]]] = {f"power_{e}": [] for e in PASSES}
    suspects.update(same_teacher=[], sibling=[], teacher=[], independent=[])
    for i in range(args.teachers):
        u = (i + 1) % args.teachers
        for e in PASSES:
            suspects[f"power_{e}"].append((i, student(f"s{i}-{e}", served[i], e, 100 + i)))
        suspects["same_teacher"].append((i, student(f"o{i}", other[i], 20, 100 + i)))
        suspects["sibling"].append((i, student(f"s{u}-{20}-for{i}", served[u], 20, 100 + u)))
        suspects["teacher"].append((i, teachers[i]))
        suspects["independent"].append((i, teachers[u]))
    zoo_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    runs = []
    for kind, pairs in suspects.items():
        for i, model in pairs:
            for r in range(args.redraws):
                # power: the answers the student saw; nulls: a new served set each time, since the test is
                # exact over the randomness of the served answers and the redraws together
                test_set = served[i][::2] if kind.startswith("power") else harvest(teachers[i], 100_000 * (r + 1))[::2]
                fresh = draw_fresh(teachers[i], test_set, seed=1 + r)
                e = served_test(_closeness(model, test_set, [s.answer for s in test_set]),
                                _closeness(model, test_set, fresh))
                runs.append({"kind": kind, "teacher": i, "redraw": r, "p_value": e.p_value,
                             "closer_to_served": e.details["closer_to_served"],
                             "closer_to_fresh": e.details["closer_to_fresh"]})
    summary = {}
    for kind in suspects:
        ps = np.array([r["p_value"] for r in runs if r["kind"] == kind])
        summary[kind] = {"n": len(ps), "median_p": float(np.median(ps)), "share_p_le_0.01": float(np.mean(ps <= 0.01)),
                         "share_p_le_0.05": float(np.mean(ps <= 0.05)),
                         "ks_greater_p": float(stats.kstest(ps, "uniform", alternative="greater").pvalue)}
    result = {"benchmark": "served", "platform": platform.platform(), "python": platform.python_version(),
              "args": vars(args), "served_per_test": 48, "zoo_seconds": round(zoo_s, 1),
              "test_seconds": round(time.perf_counter() - t1, 1), "summary": summary, "runs": runs}
    print(json.dumps(summary, indent=1))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "served.json").write_text(json.dumps(result, indent=1) + "\n")


def _closeness(model, items, answers) -> np.ndarray:
    """The suspect's log-likelihood per character of each answer (what `trace` compares)."""
    from distillwatch.provenance.likelihood import per_character

    return per_character(model.score([(it.prompt, a) for it, a in zip(items, answers)]), answers)


if __name__ == "__main__":
    main()
