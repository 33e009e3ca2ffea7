"""Benchmark: how `scan`'s throughput and memory grow with the log, up to 10M requests.

    python bench/scan_scale.py [--base LOG.parquet] [--sizes 1000000 10000000]   → bench/results/scan_scale.json

LOG (simulated under `--work` when not given) is a simulated week (`distillwatch lab traffic --accounts 5000 --days 7 --seed 0`: 374,613
requests). A log of N requests is that week repeated as consecutive weeks until N rows: copy k shifts
every timestamp by k weeks and gives accounts, orgs, API keys, payment fingerprints and request ids a
`~k` suffix and IPs a first octet of their own, so each copy is a new population whose accounts never
share infrastructure or timing with another copy's (linking and clustering do the work of one week, k
times). Each size is scanned in a fresh process by `bench/scan.py --throughput-only --log`, which
reports requests/s end to end and that process's peak RSS; the logs are written under `--work`.
The sizes of `--distinct-prompts` are also scanned with every prompt made distinct: the map computes a
prompt's signatures once per distinct prompt of a batch, and the simulated week repeats prompts (about
53% of the prompts of a 65,536-request batch are distinct), so that log is the map's worst case.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "scan_scale.json"
SUFFIXED = ("request_id", "account_id", "org_id", "api_key_id", "payment_fingerprint")
WEEK_US = 7 * 24 * 3600 * 1_000_000


def copy_of(week: pa.Table, k: int) -> pa.Table:
    """Copy k of the base week: a later week, a population of its own (see the module docstring)."""
    if k == 0:
        return week
    cols = {}
    for name in week.column_names:
        col = week.column(name)
        if name in SUFFIXED:
            col = pc.binary_join_element_wise(col, pa.scalar(f"~{k}"), "")
        elif name == "ip":
            col = pc.replace_substring_regex(col, r"^\d+\.", f"{11 + k % 200}.")
        elif name == "timestamp":
            col = pc.add(col, pa.scalar(k * WEEK_US, pa.duration("us")))
        cols[name] = col.cast(week.schema.field(name).type)
    return pa.table(cols, schema=week.schema)


def write_log(base: Path, rows: int, out: Path) -> None:
    week = pq.read_table(base)
    with pq.ParquetWriter(out, week.schema) as writer:
        k = 0
        left = rows
        while left > 0:
            part = copy_of(week, k).slice(0, left)
            writer.write_table(part, row_group_size=65_536)
            left -= part.num_rows
            k += 1


def write_distinct_prompts(log: Path, out: Path) -> None:
    """`log` with every prompt made distinct (" [request id]" appended to the last message and to the
    prompt text): the worst case for the map, which computes the prompt's signatures once per distinct
    prompt of a batch. The simulated logs repeat prompts (a pool of real user prompts, templated sweeps)."""
    import duckdb

    path, dest = str(log).replace("'", "''"), str(out).replace("'", "''")
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT * REPLACE (
                        regexp_replace(messages, '"(}}\\])?$', ' [' || request_id || ']"\\1') AS messages,
                        prompt_text || ' [' || request_id || ']' AS prompt_text)
                    FROM read_parquet('{path}')) TO '{dest}' (FORMAT parquet, ROW_GROUP_SIZE 65536)""")
    rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT messages) FROM read_parquet('{dest}')").fetchone()
    if distinct != rows:
        raise SystemExit(f"{out}: {rows - distinct} messages still repeat (a format this script does not edit)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=None, help="a simulated week (distillwatch lab traffic); default: "
                    "simulated here with 5,000 accounts, 7 days, seed 0")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/distillwatch-scan-scale"))
    ap.add_argument("--memory-limit", default=None, help="passed to bench/scan.py (default: scan's own)")
    ap.add_argument("--distinct-prompts", type=int, nargs="*", default=[1_000_000], metavar="N",
                    help="sizes also scanned with every prompt made distinct (the map's worst case); default 1M")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.base is None:
        args.base = args.work / "week.parquet"
        if not args.base.exists():
            sys.path.insert(0, str(ROOT / "src"))
            from distillwatch.lab.traffic_sim import simulate_traffic

            simulate_traffic(args.base, 5000, 7, None, seed=0)
    runs = []
    sizes = [(rows, False) for rows in [pq.ParquetFile(args.base).metadata.num_rows, *args.sizes]]
    for rows, distinct in sizes + [(rows, True) for rows in args.distinct_prompts]:
        log = args.work / f"log-{rows}.parquet"
        if not log.exists():
            t = time.perf_counter()
            write_log(args.base, rows, log)
            print(f"wrote {log} ({rows:,} rows, {time.perf_counter() - t:.0f} s)", flush=True)
        if distinct:
            log, plain = args.work / f"log-{rows}-distinct.parquet", log
            if not log.exists():
                write_distinct_prompts(plain, log)
        res = args.work / f"scan-{rows}{'-distinct' if distinct else ''}.json"
        limit = ["--memory-limit", args.memory_limit] if args.memory_limit else []
        subprocess.run([sys.executable, str(ROOT / "bench" / "scan.py"), "--throughput-only", "--log", str(log),
                        "--out", str(res), *limit], check=True, stdout=subprocess.DEVNULL)
        throughput = json.loads(res.read_text())["throughput"]
        tp = throughput.get("duckdb", throughput)
        runs.append({"requests": rows, "prompts": "all distinct" if distinct else "as simulated",
                     "log_mb": round(log.stat().st_size / 2**20, 1), **tp})
        print(json.dumps(runs[-1]), flush=True)
    result = {"benchmark": "scan_scale", "base": str(args.base), "engine": "duckdb",
              "what": "scan --throughput-only on a simulated week repeated as consecutive weeks (new population "
                      "per copy); requests/s end to end and the scanning process's peak RSS; 'all distinct': "
                      "the same log with every prompt made distinct",
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
