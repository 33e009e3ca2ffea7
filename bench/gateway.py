"""Gateway benchmark over loopback: what the front door costs.

    python bench/gateway.py [--quick]   → bench/results/gateway.json

Servers, each in its own process: an upstream (`serve` over a `mock/` model, with its batching
engine), the gateway proxying to that upstream's URL, the gateway serving the same mock in-process, an
instant upstream (a bare asyncio server answering every request at once with a canned completion) and
the gateway proxying to it: the last pair isolates what the gateway itself costs. Latency: one
client, sequential non-streaming chat requests, directly to the upstream vs through the gateway
(added latency p50/p99 = the same percentiles' difference, auth + policy + proxy + the log write; the
log's fsync runs in the background in the default "process" durability).
Throughput: `--concurrency` clients for `--seconds`, requests/s answered, and the request log's group
commit (records per fsync). The log is on the disk under --log-dir (default a temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

import httpx

from distillwatch.gateway import KeyStore, free_port

SERVE = """
import sys
from distillwatch.gateway import build_app, run_server
from distillwatch.models import get_model
run_server(build_app(get_model("mock/bench", cache=False), served_name="bench", max_wait_ms=0.5),
           port=int(sys.argv[1]))
"""
GATEWAY = """
import sys
from distillwatch.gateway import Policy, build_gateway, run_server
unscored = Policy.from_mapping({"scoring": {"requests": 10**9, "tokens": 10**12}})  # never throttle the bench
run_server(build_gateway(sys.argv[2], sys.argv[3], keys=sys.argv[4], policy=unscored, max_wait_ms=0.5),
           port=int(sys.argv[1]))
"""
INSTANT = r"""
import asyncio, json, sys
ANSWER = json.dumps({"id": "cmpl-instant", "object": "chat.completion", "created": 0, "model": "bench",
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "red green blue"}}],
                     "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}).encode()
CHAT = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER) + ANSWER
HEALTH = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"

class Instant(asyncio.Protocol):
    # an OpenAI-compatible upstream that answers every request at once, keep-alive, with one canned
    # completion: what is left of a request's time through the gateway is the gateway's
    def connection_made(self, transport):
        self.t, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v)
            if len(rest) < n:
                return
            self.buf = rest[n:]
            self.t.write(HEALTH if head.startswith(b"GET /health") else CHAT)

async def main():
    server = await asyncio.get_running_loop().create_server(Instant, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""
BODY = {"model": "bench", "max_tokens": 16, "messages": [{"role": "user", "content": "Name three colours."}]}


def start(code: str, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", code, str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {code[:60]}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latencies(url: str, key: str | None, n: int) -> list[float]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    out = []
    with httpx.Client(base_url=url + "/v1", headers=headers, timeout=30) as c:
        for i in range(n + 20):
            t0 = time.perf_counter()
            r = c.post("/chat/completions", json={**BODY, "seed": i})
            r.raise_for_status()
            if i >= 20:  # warm-up
                out.append((time.perf_counter() - t0) * 1000.0)
    return out


async def throughput(url: str, key: str | None, concurrency: int, seconds: float) -> float:
    """Requests/s answered to `concurrency` keep-alive clients (aiohttp: a load generator whose own cost
    per request is small, so that the server, not the client, is measured)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    payload = json.dumps(BODY).encode()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(c) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with c.post(url + "/v1/chat/completions", data=payload,
                              headers={**headers, "Content-Type": "application/json"}) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
            done += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for _ in range(concurrency)))
        return done / (time.perf_counter() - t0)


def log_stats(url: str) -> dict:
    values = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("distillwatch_gateway_log_"):
            name, value = line.rsplit(" ", 1)
            values[name.removeprefix("distillwatch_gateway_log_")] = float(value)
    records, commits = values.get("records_total", 0), values.get("commits_total", 0)
    return {"log_records": int(records), "log_commits": int(commits), "log_fsyncs": int(values.get("fsyncs_total", 0)),
            "records_per_commit": round(records / commits, 2) if commits else None,
            "mean_commit_ms": round(1000 * values.get("commit_seconds_sum", 0) / commits, 3) if commits else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    ap.add_argument("--requests", type=int, default=400, help="sequential requests per latency run")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--log-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "gateway.json")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.seconds = 60, 2.0
    tmp = Path(tempfile.mkdtemp(prefix="dw-bench-gateway-"))
    log_root = args.log_dir or tmp
    keys = tmp / "keys.sqlite"
    with KeyStore(keys) as store:
        key = store.create("bench")
    procs = []
    try:
        up, up_url = start(SERVE)
        procs.append(up)
        proxy, proxy_url = start(GATEWAY, up_url + "/v1", str(log_root / "proxy-log"), str(keys))
        local, local_url = start(GATEWAY, "mock/bench", str(log_root / "local-log"), str(keys))
        instant, instant_url = start(INSTANT)
        procs += [proxy, local, instant]
        fast, fast_url = start(GATEWAY, instant_url + "/v1", str(log_root / "instant-log"), str(keys))
        procs.append(fast)
        direct = latencies(up_url, None, args.requests)
        via = latencies(proxy_url, key, args.requests)
        result = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "settings": {"requests": args.requests, "concurrency": args.concurrency, "seconds": args.seconds,
                         "max_tokens": BODY["max_tokens"], "log_dir": str(log_root)},
            "latency_ms": {
                "direct_p50": round(percentile(direct, 0.5), 3), "direct_p99": round(percentile(direct, 0.99), 3),
                "gateway_p50": round(percentile(via, 0.5), 3), "gateway_p99": round(percentile(via, 0.99), 3),
            },
        }
        lat = result["latency_ms"]
        lat["added_p50"] = round(lat["gateway_p50"] - lat["direct_p50"], 3)
        lat["added_p99"] = round(lat["gateway_p99"] - lat["direct_p99"], 3)
        instant_direct = latencies(instant_url, None, args.requests)
        via_instant = latencies(fast_url, key, args.requests)
        lat.update({
            "instant_direct_p50": round(percentile(instant_direct, 0.5), 3),
            "instant_gateway_p50": round(percentile(via_instant, 0.5), 3),
            "instant_added_p50": round(percentile(via_instant, 0.5) - percentile(instant_direct, 0.5), 3),
            "instant_added_p99": round(percentile(via_instant, 0.99) - percentile(instant_direct, 0.99), 3),
        })
        result["throughput_rps"] = {
            "instant_upstream_direct": round(asyncio.run(throughput(instant_url, None, args.concurrency, args.seconds)), 1),
            "gateway_over_instant_upstream": round(asyncio.run(throughput(fast_url, key, args.concurrency,
                                                                          args.seconds)), 1),
            "upstream_direct": round(asyncio.run(throughput(up_url, None, args.concurrency, args.seconds)), 1),
            "gateway_proxy": round(asyncio.run(throughput(proxy_url, key, args.concurrency, args.seconds)), 1),
            "gateway_local_mock": round(asyncio.run(throughput(local_url, key, args.concurrency, args.seconds)), 1),
        }
        result["request_log"] = {"proxy": log_stats(proxy_url), "local": log_stats(local_url)}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
