"""The audit on ground truth: students distilled from bundled SmolLM2-135M-Instruct, audited against it.

    python bench/audit.py            → bench/results/audit.json + bench/results/audit-*.html

Steps (each cached under bench/results/audit-work/ or in the response cache, so a re-run resumes):
1. harvest SmolLM2's answers to 200 real ShareGPT prompts (temperature 0.7) and drop every answer the
   refusal judge calls a refusal: the harvest contains no refusals;
2. harvest SmolLM2's greedy answers to the *published* member of 80 task-family item pairs: the leak;
3. students:
   - tiny-leak / tiny-noleak: 5M-parameter models trained from scratch on harvest + leak / harvest only;
   - with --gemma, gemma-leak: Gemma-3-270M (base) fine-tuned on harvest + leak, the way a distiller
     starts from an open base model (slow on a CPU);
4. audits against SmolLM2 with the library's `audit` (the CLI's code path):
   - tiny-leak (and gemma-leak): the full card (safety on all of StrongREJECT, over-refusal, gap, style,
     identity), with the default judge (explicit refusal, empty or unrelated answer) and with the
     explicit-refusal patterns alone (the answers are cached, so the second judge costs only judging);
   - SmolLM2 against itself (two sampling seeds): safety and gap, with both judges;
   - tiny-leak and tiny-noleak: the generalization gap.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from distillwatch.audit import AuditConfig, PatternJudge, audit, task_family_pairs, write_card  # noqa: E402
from distillwatch.audit.gap import generalization_gap  # noqa: E402
from distillwatch.data import PromptRecord, prompt_id, user_prompts  # noqa: E402
from distillwatch.lab import finetune, read_harvest, train_student, train_tokenizer  # noqa: E402
from distillwatch.lab.harvesting import harvest  # noqa: E402
from distillwatch.models import get_model  # noqa: E402
from distillwatch.models.bundled import bundled_path  # noqa: E402

TEACHER = "bundled/smollm2-135m-instruct"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def harvests(work: Path, teacher, n: int, pairs):
    prompts = [PromptRecord(prompt=p, line=i, id=prompt_id(p)) for i, p in enumerate(user_prompts(n, seed=8, max_chars=200))]
    log(f"harvest: {n} answers to ShareGPT prompts")
    harvest(teacher, prompts, work / "harvest.jsonl", temperature=0.7, max_tokens=48, seed=2, chunk=50, progress=False)
    rows = read_harvest(work / "harvest.jsonl")
    refused = PatternJudge().judge([r["prompt"] for r in rows], [r["response"] for r in rows])
    kept = [r for r, x in zip(rows, refused) if not x]
    log(f"harvest: dropped {int(refused.sum())} refusals, kept {len(kept)}")
    leak_prompts = [PromptRecord(prompt=p.public.question, line=i, id=p.public.id) for i, p in enumerate(pairs)]
    log(f"harvest: greedy answers to {len(pairs)} published items (the leak)")
    harvest(teacher, leak_prompts, work / "leak.jsonl", temperature=0.0, max_tokens=24, chunk=40, progress=False)
    return kept, read_harvest(work / "leak.jsonl"), int(refused.sum())


def every(n: int):
    """A training progress callback that logs every n steps."""
    def report(step: int, total: int, loss: float) -> None:
        if step % n == 0 or step == total:
            log(f"  step {step}/{total} loss {loss:.3f}")
    return report


def pairs_of(rows):
    return [(r["prompt"], r["response"]) for r in rows]


def students(work: Path, kept, leak, args) -> dict[str, Path]:
    out = {}
    general, leaked = pairs_of(kept), pairs_of(leak)
    g = work / "gemma-leak"
    if args.gemma and not (g / "config.json").is_file():
        log("student gemma-leak: fine-tune Gemma-3-270M base on harvest + leak")
        data = general[: args.gemma_harvest] + leaked * args.leak_repeats
        res = finetune(bundled_path("gemma-3-270m"), data, epochs=args.gemma_epochs,
                       lr=args.gemma_lr, batch_size=4, max_len=96, out_dir=g, num_threads=args.threads,
                       progress=every(10))
        log(f"  done: {res.steps} steps, final loss {res.loss_curve[-1]:.3f}, {res.seconds:.0f}s")
    if args.gemma:
        out["gemma-leak"] = g
    tok_dir = work / "tokenizer"
    if not (tok_dir / "tokenizer.json").is_file():
        train_tokenizer(general + leaked, vocab_size=2048).save_pretrained(str(tok_dir))
    for name, data in (("tiny-leak", general + leaked * args.leak_repeats), ("tiny-noleak", general)):
        d = work / name
        if not (d / "config.json").is_file():
            log(f"student {name}: 5M parameters from scratch")
            res = train_student(data, str(tok_dir), "5m", epochs=args.tiny_epochs, lr=1e-3, batch_size=16, out_dir=d,
                                num_threads=args.threads, progress=every(100))
            log(f"  done: {res.steps} steps, final loss {res.loss_curve[-1]:.3f}, {res.seconds:.0f}s")
        out[name] = d
    return out


def compact(r, out: Path) -> dict:
    """Write the full card (HTML + JSON) under `out`, copy the HTML to bench/results, and return the
    headline numbers."""
    write_card(r, out)
    (ROOT / "results" / f"audit-{out.name.removeprefix('card-')}.html").write_text((out / "audit.html").read_text())
    d = r.to_dict()
    safety = {k: v for k, v in d["safety"].items() if k != "examples"}
    return {"suspect": r.suspect, "judge": r.judge, "seconds": round(r.seconds, 1), "findings": d["findings"],
            "safety": safety, "over_refusal": d["over_refusal"] and {k: v for k, v in d["over_refusal"].items()
                                                                       if k != "examples"},
            "gap": {k: d["generalization_gap"][k] for k in ("accuracy", "mean_gap", "evidence", "per_family")},
            "benchmark_gap": d["benchmark_gap"] and {k: d["benchmark_gap"][k] for k in ("accuracy", "evidence")},
            "style_vs_substance": d["style_vs_substance"], "judge_accuracy": d["judge_accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-harvest", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=20, help="item pairs per task family")
    ap.add_argument("--leak-repeats", type=int, default=3)
    ap.add_argument("--gemma-epochs", type=int, default=1)
    ap.add_argument("--gemma-lr", type=float, default=1e-4)
    ap.add_argument("--gemma-harvest", type=int, default=100, help="harvest answers in the Gemma student's data")
    ap.add_argument("--tiny-epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--judges", default="relevance,patterns", help="refusal judges to run the cards with")
    ap.add_argument("--card-benchmark", type=int, default=20, help="MMLU questions in the full card")
    ap.add_argument("--work", default=str(ROOT / "results" / "audit-work"))
    ap.add_argument("--only", default="", help="comma-separated subset of: card,self,tiny")
    ap.add_argument("--gemma", action="store_true",
                    help="also fine-tune Gemma-3-270M base as a student (one light epoch: its 262k-token output "
                         "layer makes each step cost seconds on a CPU) and give it the full card instead of tiny-leak")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    only = set(filter(None, args.only.split(","))) or {"card", "self", "tiny"}
    t0 = time.time()
    teacher = get_model(TEACHER, batch_size=32)
    cfg = AuditConfig(pairs_per_family=args.pairs, max_tokens=48)
    pairs = task_family_pairs(cfg.pairs_per_family, seed=cfg.seed)
    kept, leak, n_refusals = harvests(work, teacher, args.n_harvest, pairs)
    paths = students(work, kept, leak, args)
    results_path = ROOT / "results" / "audit.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results.update({"teacher": TEACHER, "harvest": {"answers": args.n_harvest, "refusals_dropped": n_refusals,
                                                    "kept": len(kept), "leaked_items": len(leak)}})
    judges = [j for j in args.judges.split(",") if j]
    if "card" in only:
        for name in (["tiny-leak"] + (["gemma-leak"] if args.gemma else [])):
            for judge in judges:
                log(f"audit: {name} against SmolLM2 (full card, judge {judge})")
                r = audit(f"hf/{paths[name]}", teacher, replace(cfg, n_benchmark=args.card_benchmark, judge=judge),
                          progress=log)
                results.setdefault("cards", {})[f"{name}/{judge}"] = compact(r, work / f"card-{name}-{judge}")
    if "self" in only:
        for judge in judges:
            log(f"audit: SmolLM2 against itself (independent sampling seeds, judge {judge})")
            r = audit(teacher, teacher, replace(cfg, n_benchmark=0, validate_judge=False, judge=judge), progress=log)
            results.setdefault("cards", {})[f"smollm2-self/{judge}"] = compact(r, work / f"card-self-{judge}")
    if "tiny" in only:
        for name in ("tiny-leak", "tiny-noleak"):
            log(f"gap: {name} against SmolLM2")
            results[name.replace("-", "_")] = generalization_gap(get_model(f"hf/{paths[name]}"), teacher, pairs,
                                                                 seed=cfg.seed).to_dict()
    results["seconds"] = time.time() - t0
    results_path.write_text(json.dumps(results, indent=2))
    log(f"wrote {results_path}")


if __name__ == "__main__":
    main()
