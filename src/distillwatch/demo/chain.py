"""`distillwatch demo`: the whole story on one laptop, offline, with real models, real HTTP and real training.

1. provider   SmolLM2-135M-Instruct behind `distillwatch gateway`: watermarking, a policy, live scoring with
              scan's code, keys for every simulated account
2. traffic    benign accounts and a hydra distillation campaign (simulated who/when, real ShareGPT
              prompts) replayed over HTTP through the gateway; the gateway flags and throttles live
3. scan       `scan` over the gateway's own log: the campaign alert and its linked accounts
4. lab        the campaign's harvest distills a student; a sibling is distilled from Gemma-3-270M on the
              same prompts; an independent model learns from human-written text
5. evidence   radioactivity (the provider's watermark in the students' writing) and trace (calibrated
              lineage tests) on all three
6. audit      the student's risk card against SmolLM2
7. report     one HTML page linking every step

This module only orchestrates: every step calls the library functions behind the CLI verbs.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from ..runlog import RunLog
from .budget import DemoBudget
from .steps import Steps

__all__ = ["run_demo", "TEACHER", "SIBLING_TEACHER"]

TEACHER = "bundled/smollm2-135m-instruct"
SIBLING_TEACHER = "bundled/gemma-3-270m"
SERVED_NAME = "smollm2"
CAMPAIGN = "hydra"
SUSPECTS = ("student", "sibling", "independent")


def run_demo(out_dir: str | Path = "distillwatch-demo", *, quick: bool = False, budget: DemoBudget | None = None,
             console: Console | None = None) -> dict:
    """Run the chain (resuming from cached steps in `out_dir`) and write `out_dir/report.html`.

    Returns the summary that the report and `demo.json` hold."""
    console = console or Console()
    budget = budget or (DemoBudget.quick() if quick else DemoBudget())
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with RunLog("demo", out) as log:
        log.write("budget", **budget.to_dict())
        steps = Steps(out, 8, console, log)
        ctx = _Context(out, budget, console)
        fp = budget.fingerprint
        traffic_fields = ("accounts", "volume", "campaign_accounts", "campaign_requests", "fpr")
        gateway_fields = traffic_fields + ("benign_tokens", "harvest_tokens", "max_chars", "scan_refresh_every",
                                           "concurrency", "max_batch")
        lab_fields = gateway_fields + ("sibling_prompts", "epochs", "preset", "tokenizer_vocab")

        r: dict[str, Any] = {"budget": budget.to_dict()}
        r["provider"] = steps.run("provider", "The provider: SmolLM2 behind the gateway, watermarked",
                                  fp(*traffic_fields), ctx.provider)
        r["traffic"] = steps.run("traffic", "Benign users and a hydra campaign, over HTTP through the gateway",
                                 fp(*gateway_fields), ctx.traffic)
        r["scan"] = steps.run("scan", "scan over the gateway's log", fp(*gateway_fields), ctx.scan)
        r["sibling_harvest"] = steps.run("sibling_harvest", "The sibling's teacher: Gemma-3-270M answers the same prompts",
                                         fp(*gateway_fields, "sibling_prompts"), ctx.sibling_harvest)
        r["lab"] = steps.run("lab", "The lab: distilling the student, the sibling and an independent model",
                             fp(*lab_fields), ctx.lab)
        r["radioactivity"] = steps.run("radioactivity", "Radioactivity: is our watermark in their writing?",
                                       fp(*lab_fields, "radioactivity_tokens", "wrong_keys"), ctx.radioactivity)
        r["trace"] = steps.run("trace", "trace: calibrated lineage tests against controls",
                               fp(*lab_fields, "trace_budget", "trace_tokens"), lambda: ctx.trace(r["scan"]["flagged_account_ids"]))
        r["audit"] = steps.run("audit", "audit: the student's risk card against SmolLM2",
                               fp(*lab_fields, "audit_harmful", "audit_benign", "audit_pairs", "audit_tokens",
                                  "audit_validate_judge"), ctx.audit)
        r["timings"] = steps.timings
        r["total_s"] = round(time.perf_counter() - t0, 1)  # this run (cached steps take no time)
        r["work_s"] = round(sum(t["seconds"] for t in steps.timings.values()), 1)  # every step, cached or not
        from .report import demo_report

        (out / "demo.json").write_text(json.dumps(r, indent=1), encoding="utf-8")
        path = demo_report(r, out).write(out / "report.html")
        log.write("summary", report=str(path), total_s=r["total_s"])
        _print_summary(console, r, path)
        r["report"] = str(path)
        return r


class _Context:
    """The demo's files and models; one method per step, each returning a JSON-ready dict."""

    def __init__(self, out: Path, budget: DemoBudget, console: Console):
        self.out, self.b, self.console = out, budget, console
        self.provider_dir = out / "provider"
        self.lab_dir = out / "lab"
        self._models: dict[str, Any] = {}
        self._cache = None

    @property
    def cache(self):
        """The demo's own response cache: a re-run reuses its answers, and nothing outside the run is reused."""
        if self._cache is None:
            from ..models._cache import ResponseCache

            self._cache = ResponseCache(self.out / "cache" / "responses.sqlite")
        return self._cache

    # -- models ---------------------------------------------------------------------------------------
    def model(self, name: str, *, cache: bool = True):
        key = f"{name}|{cache}"
        if key not in self._models:
            from ..models import get_model

            self._models[key] = get_model(name, cache=self.cache if cache else False)
        return self._models[key]

    def suspect(self, name: str):
        return self.model(f"hf/{self.lab_dir / 'students' / name}")

    def watermark(self):
        from ..watermark import WatermarkConfig

        key = int((self.provider_dir / "watermark.key").read_text().strip())
        return WatermarkConfig("kgw", key=key, gamma=0.25, delta=2.0, seeding="lefthash")

    def campaign_of(self) -> dict[str, str | None]:
        """Ground truth of the simulated traffic: each account's campaign (None for benign users)."""
        import pyarrow.parquet as pq

        from ..lab.traffic_sim import labels_path

        labels = labels_path(self.out / "traffic" / "traffic.parquet")
        rows = pq.read_table(labels, columns=["account_id", "campaign"]).to_pylist()
        return {r["account_id"]: r["campaign"] for r in rows}

    # -- 1. provider ---------------------------------------------------------------------------------
    def provider(self) -> dict:
        from ..lab.traffic_sim import Campaign, simulate_traffic
        from ..watermark import generate_key

        d = self.provider_dir
        d.mkdir(parents=True, exist_ok=True)
        key_file = d / "watermark.key"
        if not key_file.is_file():
            key_file.write_text(str(generate_key()))
            key_file.chmod(0o600)
        config = self.watermark()
        policy = {
            "watermark": {"config": {"scheme": "kgw", "seeding": "lefthash", "gamma": 0.25, "delta": 2.0,
                                     "key": "env:DISTILLWATCH_DEMO_WATERMARK_KEY"}, "trusted_opt_out": False},
            "logprobs": {"mode": "cap", "max_top_logprobs": 0},
            "scoring": {"window_s": 86400.0},
            "actions": {"flag": 0.5, "throttle": 0.7, "block": 0.9, "throttle_requests_per_minute": 1},
            "trusted_proxies": ["127.0.0.1"],
            "admin_token": "env:DISTILLWATCH_DEMO_ADMIN_TOKEN",
        }
        (d / "policy.json").write_text(json.dumps(policy, indent=1))
        b = self.b
        t = self.out / "traffic"
        ref_log, _ = simulate_traffic(t / "benign-history.parquet", accounts=b.accounts, days=1.0, volume=b.volume,
                                      campaigns=[], seed=11)
        log, labels = simulate_traffic(t / "traffic.parquet", accounts=b.accounts, days=1.0, volume=b.volume,
                                       campaigns=[Campaign(CAMPAIGN, "hydra", b.campaign_accounts, b.campaign_requests)],
                                       seed=12)
        import pyarrow.parquet as pq

        lab = pq.read_table(labels).to_pylist()
        keys_path = d / "keys.sqlite"
        if keys_path.exists():
            keys_path.unlink()
        from ..gateway import KeyStore

        secrets_by_account = {}
        with KeyStore(keys_path) as store:
            for row in lab:
                secrets_by_account[row["account_id"]] = store.create(row["account_id"])
        (d / "client-keys.json").write_text(json.dumps(secrets_by_account))
        (d / "client-keys.json").chmod(0o600)
        return {"teacher": TEACHER, "watermark": {"scheme": "kgw", "seeding": "lefthash", "gamma": 0.25, "delta": 2.0,
                                                  "key_fingerprint": config.key_fingerprint},
                "policy": {k: v for k, v in policy.items() if k not in ("admin_token",)},
                "accounts": len(lab), "campaign_accounts": sum(r["campaign"] == CAMPAIGN for r in lab),
                "traffic_log": str(log), "labels": str(labels), "benign_history": str(ref_log)}

    def _env(self) -> None:
        os.environ["DISTILLWATCH_DEMO_WATERMARK_KEY"] = str(self.watermark().key)
        os.environ.setdefault("DISTILLWATCH_DEMO_ADMIN_TOKEN", secrets.token_urlsafe(16))

    # -- 2. traffic through the gateway ---------------------------------------------------------------
    def traffic(self) -> dict:
        import shutil

        import pyarrow.parquet as pq

        from ..gateway import BackgroundServer, KeyStore, ScanScorer, build_gateway
        from ..lab.replay import ReplayClock, epoch_seconds, replay_traffic
        from ..traffic import fit_reference
        from ..watermark import WatermarkDetector

        self._env()
        b, d = self.b, self.provider_dir
        log_path = self.out / "traffic" / "traffic.parquet"
        rows = pq.read_table(log_path).to_pylist()
        campaign_of = self.campaign_of()
        keys = json.loads((d / "client-keys.json").read_text())
        reference = fit_reference([self.out / "traffic" / "benign-history.parquet"], fpr=b.fpr)
        gw_log = d / "gateway-log"
        shutil.rmtree(gw_log, ignore_errors=True)
        clock = ReplayClock(epoch_seconds(rows[0]["timestamp"]))
        scorer = ScanScorer(reference, fpr=b.fpr, window_s=86400.0, refresh_every=b.scan_refresh_every,
                            refresh_s=1e12, clock=clock)
        teacher = self.model(TEACHER, cache=False)
        app = build_gateway(teacher, gw_log, d / "policy.json", keys=KeyStore(d / "keys.sqlite"), scorer=scorer,
                            served_name=SERVED_NAME, max_batch=b.max_batch, clock=clock)
        self.console.print(f"{len(rows)} requests from {len(set(campaign_of))} accounts "
                           f"({sum(c == CAMPAIGN for c in campaign_of.values())} in the campaign), replayed in time "
                           f"order; answers capped at {b.benign_tokens} tokens (benign) and {b.harvest_tokens} (campaign)")
        t0 = time.perf_counter()
        with BackgroundServer(app) as server:
            results = replay_traffic(
                rows, server.base_url, keys, clock=clock, concurrency=b.concurrency, max_chars=b.max_chars,
                max_tokens=lambda row: b.harvest_tokens if campaign_of.get(row["account_id"]) else b.benign_tokens)
            wall = time.perf_counter() - t0
            admin = _admin_accounts(server.url)
            upstream = app.state.gateway.upstream
            engine = upstream.engine_stats() if hasattr(upstream, "engine_stats") else None
        parquet = sorted(str(p) for p in gw_log.glob("*.parquet"))

        is_campaign = np.array([campaign_of.get(r.account_id) == CAMPAIGN for r in results])
        status = np.array([r.status for r in results])
        first_refusal = next((i for i, r in enumerate(results) if is_campaign[i] and r.status in (403, 429)), None)
        actions = {a["account_id"]: a for a in admin}
        camp_accounts = [a for a, c in campaign_of.items() if c == CAMPAIGN]
        benign_accounts = [a for a, c in campaign_of.items() if c is None]

        # the campaign's harvest: what the attacker collected
        harvest_path = self.lab_dir / "harvest.jsonl"
        harvest_path.parent.mkdir(parents=True, exist_ok=True)
        detector = WatermarkDetector(self.watermark(), teacher.vocab_size)
        p_values, harvest_tokens = [], 0
        with open(harvest_path, "w", encoding="utf-8") as f:
            for r in results:
                if campaign_of.get(r.account_id) == CAMPAIGN and r.status == 200 and r.text.strip():
                    ids = r.token_ids or teacher.encode_text(r.text)
                    p_values.append(detector.detect(ids).p_value)
                    harvest_tokens += len(ids)
                    f.write(json.dumps({"id": f"req-{r.row}", "prompt": r.messages, "response": r.text,
                                        "token_ids": ids}) + "\n")
        p = np.asarray(p_values)

        def share(mask, code):
            return int(((status == code) & mask).sum())

        return {
            "requests": len(results), "wall_s": round(wall, 1),
            "simulated_hours": round((epoch_seconds(rows[-1]["timestamp"]) - epoch_seconds(rows[0]["timestamp"])) / 3600, 1),
            "engine": engine, "gateway_log": parquet,
            "campaign": {"requests": int(is_campaign.sum()), "answered": share(is_campaign, 200),
                         "throttled": share(is_campaign, 429), "blocked": share(is_campaign, 403),
                         "first_refusal_at_request": first_refusal,
                         "accounts": len(camp_accounts),
                         "accounts_flagged": sum(actions.get(a, {}).get("action", "allow") != "allow" for a in camp_accounts),
                         "actions": dict(Counter(actions.get(a, {}).get("action", "allow") for a in camp_accounts))},
            "benign": {"requests": int((~is_campaign).sum()), "answered": share(~is_campaign, 200),
                       "throttled": share(~is_campaign, 429), "blocked": share(~is_campaign, 403),
                       "accounts": len(benign_accounts),
                       "accounts_flagged": sum(actions.get(a, {}).get("action", "allow") != "allow" for a in benign_accounts)},
            "errors": int((status == 0).sum()) + int((status >= 500).sum()),
            "live_refreshes": scorer.refreshes,
            "top_accounts": [{**a, "campaign": campaign_of.get(a["account_id"])} for a in admin[:12]],
            "harvest": {"path": str(harvest_path), "answers": int(p.size),
                        "tokens": harvest_tokens,
                        "watermark_median_p": float(np.median(p)) if p.size else None,
                        "watermark_share_p_below_1e-4": float((p < 1e-4).mean()) if p.size else None},
        }

    # -- 3. scan -----------------------------------------------------------------------------------------
    def scan(self) -> dict:
        from ..traffic import scan as run_scan

        campaign_of = self.campaign_of()
        gw = sorted(str(p) for p in (self.provider_dir / "gateway-log").glob("*.parquet"))
        res = run_scan(gw, self.out / "scan", fpr=self.b.fpr, reference=[self.out / "traffic" / "benign-history.parquet"])
        truth = {a for a, c in campaign_of.items() if c == CAMPAIGN}
        alerts = []
        for a in res.alerts:
            accs = set(a["account_ids"])
            alerts.append({"kind": a["kind"], "entity_id": a["entity_id"], "accounts": len(accs),
                           "campaign_accounts": len(accs & truth), "score": a.get("score"),
                           "reasons": [x.get("feature") for x in a.get("reasons", [])[:4]]})
        flagged = res.flagged_accounts
        best = max(alerts, key=lambda a: a["campaign_accounts"], default=None)
        return {"alerts": alerts, "report": str(res.paths.get("report", self.out / "scan" / "report.html")),
                "flagged_account_ids": sorted(flagged),
                "requests": res.summary.get("requests"), "accounts": res.summary.get("accounts"),
                "flagged_accounts": len(flagged), "campaign_recall": len(flagged & truth) / max(1, len(truth)),
                "benign_flagged": len(flagged - truth), "campaign_alert": best}

    # -- 4. lab ------------------------------------------------------------------------------------------
    def _harvest(self) -> list[dict]:
        from ..lab import read_harvest

        return read_harvest(self.lab_dir / "harvest.jsonl")

    def sibling_harvest(self) -> dict:
        from ..data.prompt_files import PromptRecord
        from ..lab import harvest

        records = self._harvest()[: self.b.sibling_prompts]
        prompts = [PromptRecord(prompt=r["prompt"], line=i + 1, id=r["id"]) for i, r in enumerate(records)]
        res = harvest(self.model(SIBLING_TEACHER), prompts, self.lab_dir / "sibling-harvest.jsonl",
                      max_tokens=self.b.harvest_tokens, temperature=0.7)
        return {"teacher": SIBLING_TEACHER, "answers": len(prompts), "path": str(self.lab_dir / "sibling-harvest.jsonl"),
                "new": getattr(res, "new", None)}

    def lab(self) -> dict:
        from ..lab import human_texts, read_harvest, train_student, train_tokenizer

        b = self.b
        harvest = self._harvest()
        sibling = read_harvest(self.lab_dir / "sibling-harvest.jsonl")
        human = human_texts("pydoc-topics", n=len(sibling), seed=0, min_chars=120, max_chars=400)
        data = {  # the two models that never saw SmolLM2's answers get the same amount of data
            "student": [{"prompt": r["prompt"], "response": r["response"]} for r in harvest],
            "sibling": [{"prompt": r["prompt"], "response": r["response"]} for r in sibling],
            "independent": [{"prompt": r["prompt"], "response": t} for r, t in zip(sibling, human)],
        }
        out = {}
        for name, examples in data.items():
            d = self.lab_dir / "students" / name
            if not _trained_as(d, examples, b):
                texts = [m["content"] for e in examples for m in e["prompt"]] + [e["response"] for e in examples]
                tok = train_tokenizer(texts, vocab_size=b.tokenizer_vocab)
                self.console.print(f"training [bold]{name}[/] on {len(examples)} examples ({b.epochs} epochs)")
                train_student(examples, tok, b.preset, epochs=b.epochs, lr=3e-3, batch_size=16, out_dir=d, seed=0)
            meta = json.loads((d / "distillwatch_train.json").read_text())
            out[name] = {"examples": len(examples), "params": meta.get("params"), "seconds": meta.get("seconds"),
                         "final_loss": meta["loss_curve"][-1] if meta.get("loss_curve") else None,
                         "trained_on": {"student": "SmolLM2's answers harvested by the campaign (watermarked)",
                                        "sibling": "Gemma-3-270M's answers to the same prompts",
                                        "independent": "human-written text (Python documentation)"}[name],
                         "path": str(d)}
        return out

    # -- 5. evidence -------------------------------------------------------------------------------------
    def radioactivity(self) -> dict:
        from ..watermark import check_radioactivity

        config = self.watermark()
        records = self._harvest()
        reader = self.model(TEACHER)
        out: dict[str, Any] = {}
        for name in SUSPECTS:
            res = check_radioactivity(self.suspect(name), config, records, mode="generation", reader=reader,
                                      max_tokens=self.b.radioactivity_tokens, progress=True)
            out[name] = res.to_dict()
        rng = np.random.default_rng(0)
        wrong = [int(k) for k in rng.integers(1, 2**62, size=self.b.wrong_keys)]
        ps = [check_radioactivity(self.suspect("student"), config.with_key(k), records, mode="generation",
                                  reader=reader, max_tokens=self.b.radioactivity_tokens).evidence.p_value for k in wrong]
        from scipy.stats import kstest

        out["wrong_keys"] = {"suspect": "student", "n": len(ps), "p_values": ps,
                             "ks_uniform_p": float(kstest(ps, "uniform").pvalue), "min_p": float(min(ps))}
        return out

    def _campaign_probes(self, flagged: set[str], n: int) -> list[str]:
        """Probe prompts in the campaign's own style: requests that the accounts scan flagged sent through
        the gateway (answered or refused), from the provider's log. Chosen without looking at any suspect."""
        import pyarrow.parquet as pq

        rows = pq.read_table(sorted((self.provider_dir / "gateway-log").glob("*.parquet")),
                             columns=["account_id", "prompt_text"]).to_pylist()
        texts = sorted({r["prompt_text"] for r in rows if r["account_id"] in flagged and r["prompt_text"]})
        rng = np.random.default_rng(0)
        return [texts[i] for i in rng.permutation(len(texts))[:n]]

    def trace(self, flagged_accounts: list[str]) -> dict:
        from ..provenance import load_served, trace as run_trace
        from ..provenance.report import trace_report
        from ..provenance.trace import budget_split, identity_probes

        teacher, gemma = self.model(TEACHER), self.model(SIBLING_TEACHER)
        # what the provider served to the flagged accounts, from its own log: the served-answer test
        served, left_out = load_served(self.provider_dir / "gateway-log", accounts=flagged_accounts)
        # the candidates answer a pool three times the probes trace puts to the suspect
        b = self.b.trace_budget
        _, _, n_probes = budget_split(b, n_identity=len(identity_probes(b)), n_served=len(served), n_controls=2)
        probes = self._campaign_probes(set(flagged_accounts), 3 * max(1, n_probes))
        controls = {"student": [gemma, self.suspect("independent")],
                    "sibling": [gemma, self.suspect("independent")],
                    "independent": [gemma, self.suspect("sibling")]}
        out = {}
        for name in SUSPECTS:
            res = run_trace(self.suspect(name), teacher, controls[name], budget=b, seed=0, probes=probes,
                            max_tokens=self.b.trace_tokens,
                            progress=True, teacher_names=["SmolLM", "Hugging Face"], served=served,
                            served_watermark=self.watermark())
            path = trace_report(res, title=f"trace: {name} vs SmolLM2").write(self.out / "trace" / f"{name}.html")
            d = res.to_dict()
            by_test = {e["test"]: e for e in d["evidence"]}
            out[name] = {"verdict": d["verdict"], "p_value": d["p_value"], "queries": d["queries"], "probes": len(probes),
                         "controls": [c.model_id if hasattr(c, "model_id") else str(c) for c in controls[name]],
                         "tests": {t: e["p_value"] for t, e in by_test.items()},
                         "served": {"available": len(served), "left_out": dict(left_out),
                                    **({k: by_test["served"]["details"][k] for k in ("closer_to_served", "closer_to_fresh")}
                                       if "served" in by_test else {})},
                         "report": str(path)}
        return out

    # -- 6. audit ----------------------------------------------------------------------------------------
    def audit(self) -> dict:
        from ..audit import AuditConfig, audit, write_card

        b = self.b
        cfg = AuditConfig.quick(n_harmful=b.audit_harmful, n_benign=b.audit_benign, pairs_per_family=b.audit_pairs,
                                max_tokens=b.audit_tokens, validate_judge=b.audit_validate_judge,
                                reference_names=("SmolLM", "Hugging Face"))
        res = audit(self.suspect("student"), self.model(TEACHER), cfg, progress=True)
        html, js = write_card(res, self.out / "audit")
        return {"findings": res.findings, "report": str(html), "json": str(js), "seconds": round(res.seconds, 1)}


def _trained_as(path: Path, examples: list[dict], b: DemoBudget) -> bool:
    """Whether the checkpoint at `path` was trained on exactly these examples with this budget's student
    (so a re-run reuses it, and a run whose traffic changed retrains)."""
    from ..lab import StudentConfig
    from ..lab.corpus import data_sha256

    meta_path = path / "distillwatch_train.json"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    return (meta.get("data_sha256") == data_sha256(examples) and meta.get("epochs") == b.epochs
            and meta.get("student_config") == StudentConfig.preset(b.preset).to_dict())


def _admin_accounts(url: str) -> list[dict]:
    req = urllib.request.Request(f"{url}/admin/accounts",
                                 headers={"Authorization": f"Bearer {os.environ['DISTILLWATCH_DEMO_ADMIN_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())["data"]


def _print_summary(console: Console, r: dict, path: Path) -> None:
    t, s, radio, tr = r["traffic"], r["scan"], r["radioactivity"], r["trace"]
    table = Table(title="distillwatch demo: what happened", show_lines=False)
    for col in ("step", "result"):
        table.add_column(col, overflow="fold")
    c = t["campaign"]
    table.add_row("gateway", f"{t['requests']} requests over HTTP; campaign: {c['answered']} answered, {c['throttled']} "
                  f"throttled, {c['blocked']} blocked; {c['accounts_flagged']}/{c['accounts']} campaign accounts flagged "
                  f"live, {t['benign']['accounts_flagged']}/{t['benign']['accounts']} benign")
    h = t["harvest"]
    if h["answers"]:
        table.add_row("watermark", f"{h['answers']} harvested answers, median p = {h['watermark_median_p']:.2g}")
    table.add_row("scan", f"{len(s['alerts'])} alert(s); campaign recall {s['campaign_recall']:.0%}, "
                  f"{s['benign_flagged']} benign account(s) flagged")
    for name in SUSPECTS:
        table.add_row(name, f"radioactivity p = {radio[name]['p_value']:.2g}; trace {tr[name]['verdict']} "
                      f"(p = {tr[name]['p_value']:.2g})")
    findings = r["audit"]["findings"]
    risks = [f["question"] for f in findings if f.get("status") == "risk"]
    notes = [f["finding"] for f in findings if f.get("status") == "note" and (f.get("p_value") or 1.0) <= 0.01]
    table.add_row("audit", (f"{len(risks)} risk(s): " + "; ".join(risks) if risks else "no risk found")
                  + "".join(f"\nnote: {n}" for n in notes))
    table.add_row("time", f"{r['total_s']:.0f} s in all")
    console.print(table)
    console.print(f"report: [bold]{path}[/]")
