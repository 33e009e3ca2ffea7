"""The demo's report: one page that tells the story step by step and links each step's own report."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ..report.html import Report, table_html
from ..report.svg import bar_chart, line_chart

__all__ = ["demo_report"]

SUSPECT_ROLES = {"student": "distilled from SmolLM2 (the campaign's harvest)",
                 "sibling": "distilled from Gemma-3-270M (same prompts)",
                 "independent": "trained on human-written text"}


def _p(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):.2g}"


def _link(path: str | None, out: Path, label: str) -> str:
    if not path:
        return escape(label)
    return f'<a href="{escape(os.path.relpath(path, out))}">{escape(label)}</a>'


def demo_report(r: dict, out: Path) -> Report:
    """Build the report from the demo's summary `r` (every number in it comes from the run)."""
    t, s, lab, radio, tr, au = r["traffic"], r["scan"], r["lab"], r["radioactivity"], r["trace"], r["audit"]
    c, bn, h = t["campaign"], t["benign"], t["harvest"]
    risks = [f for f in au["findings"] if f.get("status") == "risk"]
    rep = Report("distillwatch demo: catching a distillation campaign, end to end",
                 f"budget {r['budget']['name']} · {r.get('work_s', r['total_s']) / 60:.1f} min of work on this machine"
                 f" ({r['total_s'] / 60:.1f} min this run; the rest reused from cached steps) · every number below "
                 "comes from the run")
    rep.card("campaign accounts flagged live", f"{c['accounts_flagged']}/{c['accounts']}")
    rep.card("benign accounts flagged live", f"{bn['accounts_flagged']}/{bn['accounts']}")
    rep.card("scan: campaign recall", f"{s['campaign_recall']:.0%}")
    rep.card("radioactivity p (student)", _p(radio["student"]["p_value"]))
    rep.card("trace verdict (student)", tr["student"]["verdict"])
    rep.card("audit risks (student)", len(risks))

    story = rep.section("What happened", "story")
    steps = [
        ("Provider", "SmolLM2-135M-Instruct is served behind <code>distillwatch gateway</code>: every answer is "
         "watermarked (KGW, key fingerprint " + escape(r["provider"]["watermark"]["key_fingerprint"]) + "), logprobs "
         f"are capped, and {r['provider']['accounts']} accounts have API keys.", "#gateway"),
        ("Traffic", f"{t['requests']} requests from benign users (real ShareGPT prompts) and a hydra campaign of "
         f"{c['accounts']} linked accounts (chain-of-thought elicitation, synthetic-data requests) reach the gateway "
         f"over HTTP, replaying {t['simulated_hours']} simulated hours.", "#gateway"),
        ("Live scoring", f"scan's own scoring runs on the gateway's window: {c['accounts_flagged']} of {c['accounts']} "
         f"campaign accounts were flagged; {c['throttled']} campaign requests were throttled and {c['blocked']} "
         f"blocked, while {bn['answered']} of {bn['requests']} benign requests were served.", "#gateway"),
        ("scan", f"<code>distillwatch scan</code> over the gateway's log raised {len(s['alerts'])} alert(s), finding "
         f"{s['campaign_recall']:.0%} of the campaign's accounts with {s['benign_flagged']} benign account(s) "
         "flagged.", "#scan"),
        ("Distillation", f"The {h['answers']} answers the campaign did collect train a student; a sibling learns from "
         "Gemma-3-270M's answers to the same prompts; an independent model learns from human text.", "#lab"),
        ("Evidence", f"Radioactivity: student p = {_p(radio['student']['p_value'])}, sibling p = "
         f"{_p(radio['sibling']['p_value'])}, independent p = {_p(radio['independent']['p_value'])}. trace: "
         + ", ".join(f"{n} {tr[n]['verdict']}" for n in SUSPECT_ROLES) + ".", "#radioactivity"),
        ("Audit", f"The student's risk card against SmolLM2 lists {len(risks)} risk(s).", "#audit"),
    ]
    story.html("<ol>" + "".join(f'<li><b>{escape(a)}</b>: {b} <a href="{href}">details</a></li>'
                                for a, b, href in steps) + "</ol>")

    gw = rep.section("1–2. The gateway: watermarking, live scoring, throttling", "gateway")
    gw.table(["", "requests", "answered", "throttled (429)", "blocked (403)", "accounts", "flagged live"], [
        ["hydra campaign", c["requests"], c["answered"], c["throttled"], c["blocked"], c["accounts"],
         c["accounts_flagged"]],
        ["benign users", bn["requests"], bn["answered"], bn["throttled"], bn["blocked"], bn["accounts"],
         bn["accounts_flagged"]],
    ])
    gw.figure(bar_chart(["answered", "throttled", "blocked"],
                        {"campaign": [c["answered"] / max(1, c["requests"]), c["throttled"] / max(1, c["requests"]),
                                      c["blocked"] / max(1, c["requests"])],
                         "benign": [bn["answered"] / max(1, bn["requests"]), bn["throttled"] / max(1, bn["requests"]),
                                    bn["blocked"] / max(1, bn["requests"])]},
                        title="What the gateway did with each request", ylabel="share of requests"),
              "Share of each group's requests answered, throttled or blocked by the gateway's policy.")
    if c.get("first_refusal_at_request") is not None:
        gw.text(f"The first campaign request refused came at request {c['first_refusal_at_request']} of "
                f"{t['requests']} ({t['live_refreshes']} live scoring passes in all).")
    gw.text("The accounts with the highest live scores, from the gateway's admin endpoint:")
    gw.table(["account", "campaign (ground truth)", "score", "action", "why"],
             [[a["account_id"], a.get("campaign") or "benign", a.get("score"), a.get("action"), a.get("reason") or ""]
              for a in t["top_accounts"]])
    if h["answers"]:
        gw.text(f"Watermark in the harvest: {h['answers']} answers ({h['tokens']} tokens) that the campaign collected; "
                f"median detection p = {_p(h['watermark_median_p'])}, {h['watermark_share_p_below_1e-4']:.0%} below "
                f"1e-4 (answers were capped at {r['budget']['harvest_tokens']} tokens).")

    sc = rep.section("3. scan over the gateway's log", "scan")
    sc.html("<p>" + _link(s.get("report"), out, "The scan report") + f": {s['requests']} requests from "
            f"{s['accounts']} accounts.</p>")
    sc.table(["alert", "kind", "accounts", "of which in the campaign", "drivers"],
             [[a["entity_id"], a["kind"], a["accounts"], a["campaign_accounts"], ", ".join(filter(None, a["reasons"]))]
              for a in s["alerts"][:12]])

    lb = rep.section("4. The lab: three models", "lab")
    lb.table(["model", "trained on", "examples", "parameters", "training s", "final loss"],
             [[n, lab[n]["trained_on"], lab[n]["examples"], lab[n]["params"], lab[n]["seconds"],
               f"{lab[n]['final_loss']:.2f}" if lab[n]["final_loss"] is not None else ""] for n in SUSPECT_ROLES])

    ra = rep.section("5a. Radioactivity: is the provider's watermark in their writing?", "radioactivity")
    ra.text("Generation mode: each model answers the harvested prompts; its text is tokenized with SmolLM2's "
            "tokenizer and every distinct (previous token, token) pair not copied from the prompt is scored once. "
            "Under the null (the model never learned from text watermarked with this key) each pair is green with "
            "probability 1/4, so the p-value is an exact binomial tail.")
    ra.table(["model", "role", "p-value", "scored pairs", "green share", "tokens read"],
             [[n, SUSPECT_ROLES[n], _p(radio[n]["p_value"]), radio[n]["num_scored_tokens"],
               f"{radio[n]['score'] / max(1, radio[n]['num_scored_tokens']):.3f}", radio[n]["tokens_read"]]
              for n in SUSPECT_ROLES])
    ra.figure(line_chart({n: ([x for x, _ in radio[n]["curve"]], [max(p, 1e-300) for _, p in radio[n]["curve"]])
                          for n in SUSPECT_ROLES}, title="p-value as the test reads more of each model's text",
                         xlabel="tokens read", ylabel="p-value", log_y=True, hlines={"0.01": 0.01}),
              "The student's p-value falls as more of its text is read; models that never saw the watermark stay flat.")
    wk = radio["wrong_keys"]
    ps = np.sort(np.asarray(wk["p_values"], float))
    ra.figure(line_chart({"wrong keys": (list((np.arange(ps.size) + 1) / ps.size), list(ps)),
                          "uniform": ([0.0, 1.0], [0.0, 1.0])},
                         title="Null calibration: the student under wrong keys", xlabel="quantile", ylabel="p-value"),
              f"{wk['n']} random wrong keys on the student give p-values consistent with uniform "
              f"(KS p = {wk['ks_uniform_p']:.2g}): the test does not fire on chance.")

    tc = rep.section("5b. trace: calibrated lineage tests", "trace")
    tests = sorted({k for n in SUSPECT_ROLES for k in tr[n]["tests"]})
    tc.table(["model", "verdict", "p-value", "queries", *[f"{k} p" for k in tests], "report"],
             [[n, tr[n]["verdict"], _p(tr[n]["p_value"]), tr[n]["queries"], *[_p(tr[n]["tests"].get(k)) for k in tests],
               _link(tr[n]["report"], out, "trace report")] for n in SUSPECT_ROLES], raw=True)
    sv = tr["student"].get("served", {})
    tc.text("Teacher: SmolLM2. Controls: Gemma-3-270M and one of the other lab models (never one derived from "
            "SmolLM2). Probes: requests that the accounts scan flagged sent through the gateway, taken from the "
            "provider's log, so the suspects are asked the kind of questions the campaign asked. The verdict is "
            "'derived' only when the family-wise error is below alpha.")
    tc.text(f"The served-answer test uses the {sv.get('available', 0)} sampled answers the gateway served to the "
            "flagged accounts (from its log). SmolLM2 redraws each with the same temperature, length and watermark; "
            "a model that never saw the served answers cannot tell them from the redraws, so which one it finds "
            "more likely is a fair coin, whatever the model. The student preferred the served answer "
            f"{sv.get('closer_to_served', 0)} times and the redraw {sv.get('closer_to_fresh', 0)} times.")

    ad = rep.section("6. audit: the student's risk card", "audit")
    ad.html("<p>" + _link(au.get("report"), out, "The full risk card") + "</p>")
    ad.table(["question", "finding", "p-value", "status"],
             [[f.get("question"), f.get("finding", ""), _p(f.get("p_value")), f.get("status", "").upper()]
              for f in au["findings"]])

    tm = rep.section("Time and budget", "time")
    tm.table(["step", "seconds", "reused from cache"],
             [[k, v["seconds"], "yes" if v["cached"] else ""] for k, v in r["timings"].items()])
    tm.html(table_html(["setting", "value"], [[k, v] for k, v in r["budget"].items()]))
    return rep
