"""Crash safety of the gateway's request log: `kill -9` under load, again and again.

    python bench/gateway_crash.py [--cycles 100] [--quick]   → bench/results/gateway_crash.json

Each cycle starts a gateway process (in-process `mock/` upstream, the default "process" durability, or
--durability fsync), drives it with concurrent clients, sends SIGKILL at a random moment while requests
are in flight, and starts the next cycle on the same log directory (whose recovery repairs the torn
tail). At the end, every request a client saw answered (HTTP 200 with an id) must be in the log: the
count of missing ones is the result, and must be 0. `tests/gateway/test_request_log.py` runs three
cycles of the same harness.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

import httpx

from distillwatch.gateway import KeyStore, RequestLog, free_port
from distillwatch.traffic.schema import validate

GATEWAY = """
import sys
from distillwatch.gateway import build_gateway, run_server
run_server(build_gateway("mock/crash", sys.argv[1], keys=sys.argv[2], log_durability=sys.argv[4]),
           port=int(sys.argv[3]))
"""


def start_gateway(log_dir: Path, keys: Path, port: int, durability: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", GATEWAY, str(log_dir), str(keys), str(port), durability],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the gateway did not start: " + proc.stderr.read().decode()[-2000:])


def kill_cycles(log_dir: Path, cycles: int, *, clients: int = 4, durability: str = "process",
                min_s: float = 0.2, max_s: float = 0.8, seed: int = 0) -> dict:
    """Run `cycles` start → load → SIGKILL cycles on `log_dir`; the answered ids, the logged ids and counts."""
    rng = random.Random(seed)
    keys = log_dir.parent / f"{log_dir.name}-keys.sqlite"
    with KeyStore(keys) as store:
        key = store.create("acct-crash")
    answered: list[str] = []
    lock = threading.Lock()
    t0 = time.perf_counter()
    for cycle in range(cycles):
        port = free_port()
        proc = start_gateway(log_dir, keys, port, durability)
        stop = threading.Event()

        def client(worker: int, port: int = port, stop: threading.Event = stop, cycle: int = cycle) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1",
                              headers={"Authorization": f"Bearer {key}"}, timeout=5) as c:
                i = 0
                while not stop.is_set():
                    i += 1
                    body = {"model": "m", "max_tokens": 4, "messages": [
                        {"role": "user", "content": f"cycle {cycle} worker {worker} n {i}"}]}
                    try:
                        r = c.post("/chat/completions", json=body)
                    except httpx.TransportError:
                        return
                    if r.status_code == 200:
                        with lock:
                            answered.append(r.json()["id"])

        workers = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
        for w in workers:
            w.start()
        time.sleep(rng.uniform(min_s, max_s))
        proc.send_signal(signal.SIGKILL)  # mid-traffic: requests in flight at every stage
        proc.wait()
        stop.set()
        for w in workers:
            w.join()
    with RequestLog(log_dir) as log:  # the last restart's recovery
        logged = log.read_all()
        torn = log.stats["torn_lines"]
    validate(logged)
    logged_ids = set(logged.column("request_id").to_pylist())
    missing = sorted(set(answered) - logged_ids)
    return {"cycles": cycles, "clients": clients, "durability": durability, "answered": len(answered),
            "logged": len(logged_ids), "missing": len(missing), "missing_ids": missing[:20],
            "torn_lines_at_last_recovery": torn, "key": key,
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="10 cycles (a smoke run)")
    ap.add_argument("--durability", choices=("process", "fsync"), default="process")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "gateway_crash.json")
    args = ap.parse_args()
    cycles = 10 if args.quick else args.cycles
    with tempfile.TemporaryDirectory(prefix="dw-bench-crash-") as tmp:
        result = kill_cycles(Path(tmp) / "log", cycles, durability=args.durability)
        text = "".join(p.read_text(errors="replace") for p in Path(tmp).rglob("*")
                       if p.suffix in (".jsonl", ".part") and p.is_file())
        result["key_in_log_files"] = result.pop("key") in text
    result["cpus"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if result["missing"] or result["key_in_log_files"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
