"""Watermark detection and radioactivity on a real teacher (bundled SmolLM2-135M-Instruct).

    python bench/radioactivity.py [--n-wm 100] [--n-clean 200]   → bench/results/radioactivity.json
                                                                  + bench/results/radioactivity.html

Steps (each cached under bench/results/radioactivity-work/, so an interrupted run resumes):
1. harvest SmolLM2 on real ShareGPT prompts with KGW lefthash (gamma 0.25, delta 2), 200 new tokens,
   temperature 0.7; and without the watermark on other prompts (short answers for the detection
   null, and `--n-contexts` answers on prompts no student saw, read in reading-contexts mode);
2. detection: per-answer exact p-values of the watermarked answers (share below 1e-4) and of the
   clean answers and of uniformly random token sequences (KS test against uniform);
3. students from scratch with SmolLM2's tokenizer, trained on the watermarked harvest mixed with
   human-written text at rho = 100%, 20%, 5% (same number of examples each), and on the clean harvest;
4. radioactivity of every student with the true key: reading mode on the watermarked answers
   (positions where the student predicts the text's own token dropped) that the students trained on,
   and on those plus `--n-wm-unseen` watermarked answers they never saw; reading mode on clean
   contexts (other unwatermarked teacher answers, every position kept), each distinct tuple scored
   once (the paper's statistic) or count-weighted (cap 16, exact weighted-binomial tail), and
   generation mode; the p-value vs tokens read; 100 wrong keys (KS against uniform) for every reading
   variant on the watermarked and clean students.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from distillwatch.data import PromptRecord, load_prompts, prompt_id, user_prompts  # noqa: E402
from distillwatch.lab import finetune, human_texts, load_tokenizer, mix, read_harvest, train_student  # noqa: E402
from distillwatch.lab.harvesting import harvest  # noqa: E402
from distillwatch.models import get_model  # noqa: E402
from distillwatch.models.bundled import bundled_path  # noqa: E402
from distillwatch.report import Report, bar_chart, line_chart  # noqa: E402
from distillwatch.watermark import (  # noqa: E402
    WatermarkConfig,
    WatermarkDetector,
    check_radioactivity,
    make_logits_processor,
)

TEACHER = "bundled/smollm2-135m-instruct"
KEY = 20261129
CONFIG = WatermarkConfig("kgw", key=KEY, gamma=0.25, delta=2.0, seeding="lefthash")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def harvests(work: Path, n_wm: int, n_clean: int, max_tokens: int, clean_max_tokens: int, n_contexts: int,
             contexts_max_tokens: int, n_wm_unseen: int):
    teacher = get_model(TEACHER, batch_size=50)
    prompts = load_prompts("sharegpt", n_wm + n_clean, seed=7).records
    wm_path, clean_path = work / "harvest-wm.jsonl", work / "harvest-clean.jsonl"
    log(f"harvest: {n_wm} watermarked answers")
    harvest(teacher, prompts[:n_wm], wm_path, temperature=0.7, max_tokens=max_tokens, seed=1,
            logits_processor=make_logits_processor(CONFIG, teacher.vocab_size), chunk=50, progress=False)
    # The clean answers only need to be many (a KS test of their p-values): short prompts keep the
    # prompt pass cheap on a CPU.
    short = [PromptRecord(prompt=p, line=i, id=prompt_id(p))
             for i, p in enumerate(user_prompts(n_clean, seed=8, max_chars=200))]
    log(f"harvest: {n_clean} clean answers")
    harvest(teacher, short, clean_path, temperature=0.7, max_tokens=clean_max_tokens, seed=2,
            chunk=50, progress=False)
    # Reading contexts: more unwatermarked answers of the teacher, on prompts no student trained on.
    # The provider can make these at will; read through a suspect, every position of them counts.
    ctx_path = work / "harvest-contexts.jsonl"
    trained = {p.id for p in prompts} | {p.id for p in short}
    fresh = [PromptRecord(prompt=p, line=i, id=prompt_id(p))
             for i, p in enumerate(user_prompts(2 * n_contexts, seed=11, max_chars=300))]
    fresh = [p for p in fresh if p.id not in trained][:n_contexts]
    log(f"harvest: {len(fresh)} clean answers as reading contexts")
    harvest(teacher, fresh, ctx_path, temperature=0.7, max_tokens=contexts_max_tokens, seed=3, chunk=50, progress=False)
    # More watermarked answers that no student trained on: the provider reads all the watermarked
    # text it has, not knowing which of it a suspect saw.
    more_path = work / "harvest-wm-unseen.jsonl"
    seen = trained | {p.id for p in fresh}
    unseen = [PromptRecord(prompt=p, line=i, id=prompt_id(p))
              for i, p in enumerate(user_prompts(2 * n_wm_unseen, seed=12, max_chars=300))]
    unseen = [p for p in unseen if p.id not in seen][:n_wm_unseen]
    log(f"harvest: {len(unseen)} more watermarked answers, read but never trained on")
    harvest(teacher, unseen, more_path, temperature=0.7, max_tokens=contexts_max_tokens, seed=4,
            logits_processor=make_logits_processor(CONFIG, teacher.vocab_size), chunk=50, progress=False)
    return (teacher, read_harvest(wm_path), read_harvest(clean_path), read_harvest(ctx_path),
            read_harvest(more_path))


def detection(wm: list[dict], clean: list[dict], vocab: int, seed: int = 0) -> dict:
    det = WatermarkDetector(CONFIG, vocab)
    p_wm = np.array([det.detect(r["token_ids"]).p_value for r in wm])
    p_clean = np.array([det.detect(r["token_ids"]).p_value for r in clean])
    rng = np.random.default_rng(seed)
    p_random = np.array([det.detect(rng.integers(0, vocab, 200)).p_value for _ in range(300)])
    lengths = [len(r["token_ids"]) for r in wm]
    return {
        "watermarked_answers": len(wm),
        "watermarked_median_tokens": float(np.median(lengths)),
        "share_p_below_1e-4": float(np.mean(p_wm < 1e-4)),
        "watermarked_median_p": float(np.median(p_wm)),
        "clean_answers": len(clean),
        "clean_ks_pvalue": float(stats.kstest(p_clean, "uniform").pvalue),
        "clean_fpr_at_0.01": float(np.mean(p_clean < 0.01)),
        "random_sequences": len(p_random),
        "random_ks_pvalue": float(stats.kstest(p_random, "uniform").pvalue),
        "random_fpr_at_0.01": float(np.mean(p_random < 0.01)),
    }


def students(work: Path, wm: list[dict], clean: list[dict], epochs: int, preset: str, init: str = "scratch",
             lr: float | None = None) -> dict[str, Path]:
    """Every student sees the same number of examples; rho is the watermarked share of them.

    `init`: "scratch" trains a `preset`-sized model from random weights with SmolLM2's tokenizer;
    "smollm2" fine-tunes a copy of SmolLM2-135M-Instruct itself (the same tokenizer, and weights that
    already model language, as in Sander et al., who fine-tune pretrained models)."""
    tok = load_tokenizer(bundled_path("smollm2-135m-instruct"))
    pairs = lambda recs: [(r["prompt"], r["response"]) for r in recs]  # noqa: E731
    n = len(wm)
    human = human_texts("stdlib-docstrings", n, seed=0)
    sets = {
        "wm-rho100": mix(pairs(wm), human, 1.0, n=n, seed=0),
        "wm-rho20": mix(pairs(wm), human, 0.2, n=n, seed=0),
        "wm-rho5": mix(pairs(wm), human, 0.05, n=n, seed=0),
        "clean-rho100": mix(pairs(clean), human, 1.0, n=min(n, len(clean)), seed=0),
    }
    paths = {}
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    for name, examples in sets.items():
        recipe = f"{preset}-e{epochs}-lr{lr or 6e-3:g}" if init == "scratch" else f"{init}-e{epochs}-lr{lr or 1e-4:g}"
        out = work / f"student-{name}-{recipe}"  # a changed recipe trains anew instead of reusing a stale student
        if not (out / "config.json").is_file():
            log(f"train {name} ({init}): {len(examples)} examples")
            if init == "scratch":
                res = train_student(examples, tok, preset, seed=0, epochs=epochs, lr=lr or 6e-3, batch_size=16,
                                    out_dir=out, num_threads=threads)
            else:
                res = finetune(bundled_path("smollm2-135m-instruct"), examples, seed=0, epochs=epochs, lr=lr or 1e-4,
                               batch_size=8, max_len=320, out_dir=out, num_threads=threads)
            log(f"  {res.params} params, {res.seconds:.0f} s, final loss {res.loss_curve[-1]:.2f}")
        paths[name] = out
    return paths


WEIGHT_CAP = 16
# name -> (mode, what reading mode reads, count-weighting cap): "trained" = the watermarked answers the
# students trained on, "all" = those and the unseen watermarked answers, "contexts" = clean answers
MODES = {
    "reading": ("reading", "trained", None),
    "reading-weighted": ("reading", "trained", WEIGHT_CAP),
    "reading-all": ("reading", "all", None),
    "reading-all-weighted": ("reading", "all", WEIGHT_CAP),
    "reading-contexts": ("reading", "contexts", None),
    "reading-contexts-weighted": ("reading", "contexts", WEIGHT_CAP),
    "generation": ("generation", "trained", None),
}


def radioactivity(paths: dict[str, Path], wm: list[dict], wm_unseen: list[dict], contexts: list[dict], max_tokens: int,
                  n_wrong: int) -> dict:
    """Each student in every way of `MODES`: reading the watermarked answers (positions where it
    predicts the text's own token dropped) or clean contexts (every position kept), each tuple once or
    count-weighted; and generation mode. Wrong keys on the watermarked and clean students."""
    from distillwatch.watermark import reading_mode_test
    from distillwatch.watermark.suspect import reading_predictions

    results = {}
    for name, path in paths.items():
        model = get_model(f"hf/{path}", cache=False)
        row = {}
        for label, (mode, reads, cap) in MODES.items():
            res = check_radioactivity(model, CONFIG, wm + wm_unseen if reads == "all" else wm, mode=mode,
                                      max_tokens=max_tokens, contexts=contexts if reads == "contexts" else None,
                                      weight_cap=cap)
            row[label] = res.to_dict()
            log(f"{name} {label}: p={res.evidence.p_value:.3g} n={res.evidence.n}")
        if name in ("wm-rho100", "clean-rho100"):
            read = {"trained": reading_predictions(model, wm), "all": reading_predictions(model, wm + wm_unseen),
                    "contexts": reading_predictions(model, contexts)}
            for label, (mode, reads, cap) in MODES.items():
                if mode != "reading":
                    continue
                texts, preds = read[reads]
                wrong = np.array([reading_mode_test(texts, preds, CONFIG.with_key(KEY + 1 + k), model.vocab_size,
                                                    drop_text_matches=reads != "contexts", weight_cap=cap).p_value
                                  for k in range(n_wrong)])
                row[f"wrong_keys_{label}"] = {"n": n_wrong, "ks_pvalue": float(stats.kstest(wrong, "uniform").pvalue),
                                              "fpr_at_0.01": float(np.mean(wrong < 0.01)), "min_p": float(wrong.min())}
                log(f"{name} wrong keys ({label}): KS p={row[f'wrong_keys_{label}']['ks_pvalue']:.3g}")
        results[name] = row
    return results


def write_report(result: dict, path: Path) -> None:
    r = Report("Radioactivity on a real teacher", f"{TEACHER}, KGW lefthash gamma 0.25 delta 2")
    d = result["detection"]
    r.card("watermarked answers p<1e-4", f"{d['share_p_below_1e-4']:.0%}")
    r.card("clean answers KS p", f"{d['clean_ks_pvalue']:.2f}")
    rad = result["radioactivity"]
    r.card("ρ=100% student, reading p (all watermarked text, count-weighted)",
           f"{rad['wm-rho100']['reading-all-weighted']['p_value']:.1e}")
    r.card("clean student, same test", f"{rad['clean-rho100']['reading-all-weighted']['p_value']:.2f}")
    s = r.section("Dose-response", "dose")
    series = {f"{name} ({mode})": tuple(zip(*row[mode]["curve"])) for name, row in rad.items()
              for mode in MODES if mode.startswith("reading")}
    s.figure(line_chart({k: (list(v[0]), list(v[1])) for k, v in series.items()}, title="p-value vs tokens read",
                        xlabel="tokens read", ylabel="p-value", log_y=True, hlines={"1e-6": 1e-6, "0.01": 0.01}),
             "Reading-mode p-value of each student on growing prefixes of the watermarked answers (reading) "
             "and of clean teacher answers (reading-contexts), each tuple once or count-weighted (cap "
             f"{WEIGHT_CAP}).")
    names = list(rad)
    s.figure(bar_chart(names, {m: [-np.log10(max(rad[n][m]["p_value"], 1e-300)) for n in names] for m in MODES},
                       title="-log10 p by student and mode", ylabel="-log10 p"),
             "Reading and generation mode on the same students.")
    s.table(["student"] + [f"{m} {c}" for m in MODES for c in ("p", "n")],
            [[n] + [v for m in MODES for v in (f"{rad[n][m]['p_value']:.2e}", rad[n][m]["num_scored_tokens"])]
             for n in names])
    r.section("Raw numbers", "raw").html(f"<pre>{json.dumps(result, indent=1)}</pre>")
    r.write(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-wm", type=int, default=100)
    ap.add_argument("--n-clean", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--clean-max-tokens", type=int, default=48)
    ap.add_argument("--n-contexts", type=int, default=300, help="clean teacher answers read in reading-contexts mode")
    ap.add_argument("--contexts-max-tokens", type=int, default=128)
    ap.add_argument("--n-wm-unseen", type=int, default=300,
                    help="watermarked answers no student trained on, read with the trained ones in reading mode")
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--init", choices=("scratch", "smollm2"), default="scratch",
                    help="students from random weights, or fine-tuned from SmolLM2 itself")
    ap.add_argument("--lr", type=float, default=None, help="default 6e-3 from scratch, 1e-4 fine-tuning")
    ap.add_argument("--wrong-keys", type=int, default=100)
    ap.add_argument("--work", default=str(ROOT / "results" / "radioactivity-work"))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    teacher, wm, clean, contexts, wm_unseen = harvests(work, args.n_wm, args.n_clean, args.max_tokens,
                                                       args.clean_max_tokens, args.n_contexts,
                                                       args.contexts_max_tokens, args.n_wm_unseen)
    result = {"benchmark": "radioactivity", "teacher": TEACHER, "watermark": CONFIG.to_dict(),
              "detection": detection(wm, clean, teacher.vocab_size)}
    log(f"detection: {result['detection']}")
    del teacher
    paths = students(work, wm, clean, args.epochs, args.preset, args.init, args.lr)
    result["radioactivity"] = radioactivity(paths, wm, wm_unseen, contexts, 64, args.wrong_keys)
    result["seconds"] = round(time.time() - t0, 1)
    result["students"] = {"init": args.init, "epochs": args.epochs, "preset": args.preset if args.init == "scratch" else None,
                          "lr": args.lr or (6e-3 if args.init == "scratch" else 1e-4)}
    suffix = "" if args.init == "scratch" else f"-{args.init}"
    out = ROOT / "results" / f"radioactivity{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_report(result, ROOT / "results" / f"radioactivity{suffix}.html")
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
