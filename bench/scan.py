"""Benchmark and evaluation of `distillwatch scan` on simulated traffic with ground truth.

    python bench/scan.py [--accounts 5000] [--days 7] [--volume 1.0] [--fpr 0.001] [--out bench/results/scan.json]
    python bench/scan.py --volume 2.7 --throughput-only --out bench/results/scan_1m.json   # ~1M requests
    python bench/scan.py --engine both --throughput-only --accounts 300 --days 1 --out bench/results/scan_engines.json
    python bench/scan.py --throughput-only --log /tmp/log.parquet --out /tmp/scan.json   # time a log made before
    python bench/scan.py --phrasing paraphrased --out bench/results/scan_paraphrased.json
    python bench/scan.py --phrasing paraphrased --train-phrasing lexicon --out bench/results/scan_paraphrased_train_lexicon.json

Two logs from `lab.traffic_sim`: benign history (calibration, seed 1) and the scanned log (seed 0: the
same benign personas plus one campaign of every kind). Reported, per campaign kind and overall:

- campaign recall (a campaign counts as caught when any of its accounts is in an alert) and account TPR,
  against the benign-account FPR actually observed, at the calibrated target `fpr`;
- the same for two baselines calibrated on the same history at the same `fpr`: a volume threshold
  (requests per account), and an MMD-style test of each account's template-hash histogram against the
  history's (squared L2 distance between histograms, minus its expectation under the null that the
  account's requests are drawn from the history's template distribution);
- weights learnt from labelled traffic (`scan --train`): a second simulated log (seed `--train-seed`, its
  labels known) trains the feature weights; the same scans (history-calibrated, self-calibrated) with them,
  and per campaign kind how many benign accounts outscore its best account, default against learnt weights;
- detection delay: the log replayed in time order, cut every `--step-hours` hours, each prefix scored
  with the history's thresholds; hours and campaign requests until the first alert on the campaign;
- throughput of `scan` end to end (ingest, signatures, features, linking, scoring, alerts, report):
  requests/s and peak RSS of this process, per engine (`--engine duckdb|spark|both`: the same log scanned
  by each; with both, whether their alerts agree, `traffic.alerts.alert_differences`). The Spark session
  (``local[2]``) is started before the clock and its start-up reported apart. Detection quality,
  baselines and replay are computed once, on DuckDB (the engines give the same alerts).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import numpy as np
import pyarrow.parquet as pq

from distillwatch.lab.traffic_sim import labels_path, simulate_traffic
from distillwatch.traffic import fit_reference, learn_weights_from_logs, load_signatures, scan, score_population
from distillwatch.traffic._duck import connect
from distillwatch.traffic.alerts import alert_differences
from distillwatch.traffic.scan import DEFAULT_MEMORY_LIMIT, reference_from_signatures

OUT = ROOT / "bench" / "results" / "scan.json"
HIST_BINS = 1024


def flagged_accounts(r: dict) -> set[str]:
    """Accounts alerted by a `score_population` result: alone, or as members of a flagged cluster."""
    acc = r["accounts"].column("account_id").to_pylist()
    out = {a for a, s in zip(acc, r["account_scores"]) if s >= r["account_threshold"]}
    cids = r["cluster_features"].column("account_id").to_pylist()
    hot = {c for c, s in zip(cids, r["cluster_scores"]) if s >= r["cluster_threshold"] and c.startswith("cluster:")}
    cl = r["clusters"]
    out |= {a for a, c in zip(cl.column("account_id").to_pylist(), cl.column("cluster_id").to_pylist()) if c in hot}
    return out


def evaluate(flagged: set[str], labels: list[dict]) -> dict:
    benign = [r["account_id"] for r in labels if r["campaign"] is None]
    fp = sum(a in flagged for a in benign)
    kinds: dict[str, dict] = {}
    for r in labels:
        if r["campaign"] is None:
            continue
        k = kinds.setdefault(r["kind"], {"campaign": r["campaign"], "accounts": 0, "flagged": 0})
        k["accounts"] += 1
        k["flagged"] += r["account_id"] in flagged
    for k in kinds.values():
        k["caught"] = k["flagged"] > 0
        k["account_tpr"] = round(k["flagged"] / k["accounts"], 4)
    batch = [r["account_id"] for r in labels if r["kind"] == "batch"]
    return {"campaign_recall": round(sum(k["caught"] for k in kinds.values()) / max(len(kinds), 1), 4),
            "account_tpr": round(sum(k["flagged"] for k in kinds.values()) / max(sum(k["accounts"] for k in kinds.values()), 1), 4),
            "benign_accounts": len(benign), "benign_flagged": fp, "benign_fpr": round(fp / max(len(benign), 1), 5),
            "batch_hard_negative_flagged": f"{sum(a in flagged for a in batch)}/{len(batch)}", "by_kind": kinds}


def _volume_and_hist(con) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(accounts, requests per account, template-head histogram per account) from the signatures table."""
    rows = con.sql(f"""SELECT account_id, CAST(((template_head % {HIST_BINS}) + {HIST_BINS}) % {HIST_BINS} AS INTEGER)
                       AS bin, count(*) AS c FROM signatures GROUP BY 1, 2 ORDER BY 1""").fetchnumpy()
    accounts, inv = np.unique(rows["account_id"].astype(str), return_inverse=True)
    hist = np.zeros((len(accounts), HIST_BINS))
    np.add.at(hist, (inv, rows["bin"].astype(np.int64)), rows["c"].astype(np.float64))
    return list(accounts), hist.sum(axis=1), hist


def mmd_scores(hist: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Per account, ||p_hat - p0||^2 - E[.] under H0 (requests i.i.d. from p0): the MMD^2 statistic with a
    delta kernel on template-hash bins, debiased. Null hypothesis: the account's template distribution is
    the benign history's."""
    n = hist.sum(axis=1)
    p = hist / np.maximum(n, 1)[:, None]
    return ((p - p0) ** 2).sum(axis=1) - (1.0 - (p0 ** 2).sum()) / np.maximum(n, 1)


def baselines(con_hist, con_scan, fpr: float, labels: list[dict]) -> dict:
    h_acc, h_vol, h_hist = _volume_and_hist(con_hist)
    s_acc, s_vol, s_hist = _volume_and_hist(con_scan)
    vol_thr = float(np.quantile(h_vol, 1 - fpr, method="higher"))
    p0 = h_hist.sum(axis=0) / h_hist.sum()
    mmd_thr = float(np.quantile(mmd_scores(h_hist, p0), 1 - fpr, method="higher"))
    return {
        "volume_threshold": {"threshold_requests": vol_thr,
                             **evaluate({a for a, v in zip(s_acc, s_vol) if v > vol_thr}, labels)},
        "mmd_template_histogram": {"threshold": mmd_thr,
                                   **evaluate({a for a, s in zip(s_acc, mmd_scores(s_hist, p0)) if s > mmd_thr},
                                              labels)},
    }


def replay(con, reference, fpr: float, labels: list[dict], step_hours: float) -> dict:
    """First window end at which each campaign has an alerted account; delay from the campaign's first
    request in hours and in campaign requests."""
    con.execute("CREATE OR REPLACE TABLE full_signatures AS SELECT * FROM signatures")
    t0, t1 = con.execute("SELECT epoch(min(timestamp)), epoch(max(timestamp)) FROM full_signatures").fetchone()
    camp = {r["account_id"]: r["kind"] for r in labels if r["campaign"]}
    starts = {}
    for kind in set(camp.values()):
        accs = [a for a, k in camp.items() if k == kind]
        starts[kind] = con.execute("SELECT epoch(min(timestamp)) FROM full_signatures WHERE list_contains(?, account_id)",
                                   [accs]).fetchone()[0]
    found: dict[str, dict] = {}
    cut = t0 + step_hours * 3600
    windows = 0
    while cut < t1 + step_hours * 3600 and len(found) < len(starts):
        con.execute(f"CREATE OR REPLACE TABLE signatures AS SELECT * FROM full_signatures WHERE epoch(timestamp) <= {cut}")
        flagged = flagged_accounts(score_population(con, fpr=fpr, reference=reference))
        windows += 1
        for kind in starts:
            if kind in found:
                continue
            accs = [a for a, k in camp.items() if k == kind and a in flagged]
            if accs:
                n = con.execute("SELECT count(*) FROM signatures WHERE list_contains(?, account_id)",
                                [[a for a, k in camp.items() if k == kind]]).fetchone()[0]
                found[kind] = {"hours_after_start": round((min(cut, t1) - starts[kind]) / 3600, 1),
                               "campaign_requests_until_flagged": int(n)}
        cut += step_hours * 3600
    con.execute("CREATE OR REPLACE TABLE signatures AS SELECT * FROM full_signatures")
    return {"step_hours": step_hours, "windows_scored": windows,
            "by_kind": {k: found.get(k, {"hours_after_start": None}) for k in sorted(starts)}}


def benign_above(result, labels: list[dict]) -> dict[str, int]:
    """Per campaign kind: benign accounts whose account score beats the campaign's best account (0 means
    the campaign tops every benign account; flagging it at FPR 0.001 needs about 2 or fewer)."""
    acc = result.accounts
    score = dict(zip(acc.column("account_id").to_pylist(), acc.column("score").to_pylist()))
    benign = np.array([score[r["account_id"]] for r in labels if r["campaign"] is None and r["account_id"] in score])
    best: dict[str, float] = {}
    for r in labels:
        if r["campaign"] and r["account_id"] in score:
            best[r["kind"]] = max(best.get(r["kind"], -np.inf), score[r["account_id"]])
    return {k: int((benign > v).sum()) for k, v in sorted(best.items())}


def learnt_weights(tmp: Path, log: Path, labels: list[dict], history: Path, args, default: dict) -> dict:
    """Weights learnt from a second labelled log (`--train-seed`, phrasing `--train-phrasing`), then the same
    scan as `default` (the reference-calibrated scan with default weights) and the self-calibrated one."""
    phrasing = args.train_phrasing or args.phrasing
    train, _ = simulate_traffic(tmp / "train.parquet", args.accounts, args.days, None, seed=args.train_seed,
                                volume=args.volume, phrasing=phrasing)
    t = time.perf_counter()
    learned = learn_weights_from_logs([train])
    seconds = time.perf_counter() - t
    w = learned.weights
    reference = fit_reference([history], fpr=args.fpr, weights=w)
    res = scan([log], tmp / "out-learnt", fpr=args.fpr, reference=reference, weights=w, progress=False, report=False)
    self_res = scan([log], tmp / "out-learnt-self", fpr=args.fpr, weights=w, progress=False, report=False)
    return {"training_log": {"seed": args.train_seed, "phrasing": phrasing, "requests": pq.read_metadata(train).num_rows},
            "training": {**learned.as_dict(), "seconds": round(seconds, 2)},
            "scan": {"fpr_target": args.fpr, "calibration": "benign history (seed 1), empirical quantiles",
                     **evaluate(res.flagged_accounts, labels)},
            "scan_self_calibrated": {"fpr_target": args.fpr, "calibration": "scanned population, tail-extrapolated",
                                     **evaluate(self_res.flagged_accounts, labels)},
            "benign_accounts_above_best_campaign_account": {"default_weights": benign_above(default, labels),
                                                            "learnt_weights": benign_above(res, labels)}}


def scan_engines(engines: list[str], log: Path, out: Path, rows: int, **kwargs) -> tuple[dict, dict]:
    """`scan` of `log` on each engine: (results by engine, throughput by engine)."""
    results, throughput = {}, {}
    for engine in engines:
        start = 0.0
        if engine == "spark":
            from distillwatch.traffic.spark import spark_session

            t = time.perf_counter()
            spark_session()
            start = time.perf_counter() - t
        t = time.perf_counter()
        results[engine] = res = scan([log], out / engine, engine=engine, progress=False, **kwargs)
        e2e = time.perf_counter() - t
        throughput[engine] = {"requests": rows, "seconds": round(e2e, 2), "requests_per_s": round(rows / e2e),
                              "memory_limit": kwargs.get("memory_limit", DEFAULT_MEMORY_LIMIT) if engine == "duckdb" else None,
                              "map_seconds": res.summary["map_seconds"],
                              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        if engine == "spark":
            throughput[engine]["session_start_seconds"] = round(start, 2)
            throughput[engine]["peak_rss_mb_note"] = "this process only (the Spark JVM and workers are apart)"
    return results, throughput


def _agreement(results: dict) -> dict:
    if len(results) < 2:
        return {}
    duck, spark = results["duckdb"], results["spark"]
    diff = alert_differences(duck.alerts, spark.alerts)
    return {"engines_agree": not diff, "alerts": len(duck.alerts), "differences": diff[:20]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--volume", type=float, default=1.0)
    ap.add_argument("--fpr", type=float, default=0.001)
    ap.add_argument("--step-hours", type=float, default=12.0)
    ap.add_argument("--no-replay", action="store_true")
    ap.add_argument("--throughput-only", action="store_true",
                    help="simulate and scan once (self-calibrated): requests/s and peak RSS only")
    ap.add_argument("--log", type=Path, default=None,
                    help="with --throughput-only: scan this log (e.g. from `distillwatch lab traffic`) instead of "
                         "simulating one; the same log before and after a change gives comparable requests/s")
    ap.add_argument("--engine", choices=("duckdb", "spark", "both"), default="duckdb",
                    help="engine(s) of the timed scan; both: the same log on DuckDB and on Spark (local[2])")
    ap.add_argument("--memory-limit", default=None,
                    help="DuckDB memory limit of the timed scan (default: scan's, DEFAULT_MEMORY_LIMIT; 'none': DuckDB's own)")
    ap.add_argument("--phrasing", choices=("lexicon", "paraphrased"), default="lexicon",
                    help="how the simulated campaigns word their requests (lab.traffic_sim): paraphrased = not as "
                         "the scan's lexicons expect, so detection must rest on more than the words")
    ap.add_argument("--train-seed", type=int, default=2,
                    help="seed of the labelled log the weights are learnt from (scan --train); the scanned log is seed 0")
    ap.add_argument("--train-phrasing", choices=("lexicon", "paraphrased"), default=None,
                    help="phrasing of that labelled log (default: --phrasing)")
    ap.add_argument("--no-train", action="store_true", help="skip the learnt-weights evaluation")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    engines = ["duckdb", "spark"] if args.engine == "both" else [args.engine]
    limit = {} if args.memory_limit is None else {"memory_limit": args.memory_limit}
    result: dict = {"machine": platform.platform(), "cpus": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.log is not None:
            if not args.throughput_only:
                ap.error("--log needs --throughput-only")
            log, labels_file = args.log, labels_path(args.log)
            labels = pq.read_table(labels_file).to_pylist() if labels_file.exists() else None
            rows = pq.read_metadata(log).num_rows
            result["log"] = {"path": str(log), "requests": rows}
        else:
            t = time.perf_counter()
            log, labels_file = simulate_traffic(tmp / "log.parquet", args.accounts, args.days, None, seed=0,
                                                volume=args.volume, phrasing=args.phrasing)
            sim_s = time.perf_counter() - t
            labels = pq.read_table(labels_file).to_pylist()
            rows = pq.read_metadata(log).num_rows
            result["simulator"] = {"requests": rows, "accounts": len(labels), "seconds": round(sim_s, 2),
                                   "requests_per_s": round(rows / sim_s)}
            print(json.dumps(result["simulator"]), flush=True)
        if args.throughput_only:
            results, throughput = scan_engines(engines, log, tmp / "out", rows, fpr=args.fpr, **limit)
            res = results[engines[0]]
            result["throughput"] = {**throughput[engines[0]], "engine": engines[0], "calibration": "self"}
            result["throughput_by_engine"] = throughput
            result.update(_agreement(results))
            if labels is not None:
                result["scan_self_calibrated"] = {"fpr_target": args.fpr, **evaluate(res.flagged_accounts, labels)}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps(result, indent=2))
            return

        history, _ = simulate_traffic(tmp / "history.parquet", args.accounts, args.days, [], seed=1, volume=args.volume)
        con_h, con_s = connect(), connect()
        t = time.perf_counter()
        load_signatures(con_h, [history], progress=False)
        reference = reference_from_signatures(con_h, fpr=args.fpr)
        result["calibration_seconds"] = round(time.perf_counter() - t, 2)

        results, throughput = scan_engines(engines, log, tmp / "out", rows, fpr=args.fpr, reference=reference)
        res = results[engines[0]]
        result["throughput"] = {**throughput[engines[0]], "engine": engines[0]}
        result["throughput_by_engine"] = throughput
        result.update(_agreement(results))
        result["scan"] = {"fpr_target": args.fpr, "calibration": "benign history (seed 1), empirical quantiles",
                          "alerts": len(res.alerts), **evaluate(res.flagged_accounts, labels)}
        print(json.dumps({"throughput": result["throughput"], "recall": result["scan"]["campaign_recall"],
                          "fpr": result["scan"]["benign_fpr"]}), flush=True)
        load_signatures(con_s, [log], progress=False)
        self_r = score_population(con_s, fpr=args.fpr)
        result["scan_self_calibrated"] = {"fpr_target": args.fpr,
                                          "calibration": "scanned population, tail-extrapolated",
                                          **evaluate(flagged_accounts(self_r), labels)}
        result["baselines"] = baselines(con_h, con_s, args.fpr, labels)
        con_h.close()
        if not args.no_train:
            result["learnt_weights"] = learnt_weights(tmp, log, labels, history, args, res)
            print(json.dumps({"learnt_weights": {k: result["learnt_weights"][k]["campaign_recall"]
                                                 for k in ("scan", "scan_self_calibrated")}}), flush=True)
        if not args.no_replay:
            t = time.perf_counter()
            result["detection_delay"] = replay(con_s, reference, args.fpr, labels, args.step_hours)
            result["detection_delay"]["seconds"] = round(time.perf_counter() - t, 1)
        con_s.close()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
