"""The HTML page of a scan: summary cards, top alerts, clusters, feature contributions, timelines.

Built with `distillwatch.report` (inline SVG, no scripts); it reads the scan's numbers, not the log.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..report import Report, bar_chart, line_chart, table_html

__all__ = ["render_scan_report"]


def render_scan_report(path: str | Path, summary: dict[str, Any], alerts: list[dict[str, Any]], accounts: pa.Table,
                       timelines: dict[str, tuple[list[float], list[float]]]) -> Path:
    """Write ``report.html`` for one scan; returns its path."""
    rep = Report("distillwatch scan", f"{', '.join(summary['logs'])} · calibration: {summary['calibration']}")
    rep.card("requests", f"{summary['requests']:,}").card("accounts", f"{summary['accounts']:,}")
    rep.card("alerts", summary["alerts"]).card("flagged accounts", summary["flagged_accounts"])
    rep.card("target FPR", summary["fpr"]).card("quarantined rows", summary["ingest"]["rows_quarantined"])
    top = rep.section("Top alerts", "alerts")
    if not alerts:
        top.text("No account or cluster scored above the calibrated threshold.")
    rows = []
    for a in alerts[:50]:
        reasons = "; ".join(f"{r['feature']}={r['value']:g} (+{r['contribution']:.2f})" for r in a["reasons"][:4])
        prompt = (a.get("sample_prompts") or [""])[0][:160]
        rows.append([a["alert_id"], a["kind"], a["entity_id"], len(a["account_ids"]), a["n_requests"],
                     f"{a['score']:.2f}", reasons, prompt])
    if rows:
        top.table(["alert", "kind", "entity", "accounts", "requests", "score", "top reasons", "sample prompt"], rows)
    clusters = [a for a in alerts if a["kind"] == "cluster"]
    sec = rep.section("Clusters", "clusters")
    sec.text(f"{summary['clusters_multi']} multi-account clusters from {summary['edges']} links "
             f"(shared rare infrastructure, templates, synchronised timing); {len(clusters)} flagged as wholes.")
    if clusters:
        sec.html(table_html(["alert", "cluster", "accounts", "score", "links by evidence", "members"],
                            [[a["alert_id"], a["entity_id"], len(a["account_ids"]), f"{a['score']:.2f}",
                              ", ".join(f"{k}: {v}" for k, v in sorted((a.get("links") or {}).items())),
                              ", ".join(a["account_ids"][:12]) + (" …" if len(a["account_ids"]) > 12 else "")]
                             for a in clusters[:30]]))
    weights = summary.get("weights")
    if isinstance(weights, dict) and weights:
        sec = rep.section("Feature weights", "weights")
        sec.text("This scan scored with weights given or learnt from labelled traffic (scan --train / --weights), "
                 "not the defaults; a feature's contribution is its weight times its surprise.")
        sec.table(["feature", "weight"], [[k, f"{v:.3f}"] for k, v in sorted(weights.items(), key=lambda kv: -kv[1])])
    totals: dict[str, float] = defaultdict(float)
    for a in alerts:
        for r in a["reasons"]:
            totals[r["feature"]] += r["contribution"]
    feat = rep.section("Feature contributions", "features")
    if totals:
        names = sorted(totals, key=totals.get, reverse=True)
        feat.figure(bar_chart(names, {"sum over alerts": [totals[n] for n in names]},
                              title="What drove the alerts", ylabel="log10 evidence"),
                    "Sum of each feature's contribution over all alerts.")
    tl = rep.section("Timelines", "timelines")
    if timelines:
        tl.figure(line_chart(timelines, title="Requests per hour of the top alerts", xlabel="hours since log start",
                             ylabel="requests"), "One line per alert (its accounts together).")
    scores = sorted(accounts.column("score").to_pylist())
    if scores:
        n = len(scores)
        tl.figure(line_chart({"accounts": (list(range(n)), scores)}, title="Account scores, sorted",
                             xlabel="rank", ylabel="score", hlines={"threshold": summary["account_threshold"]}),
                  "Every account's score against the calibrated account threshold.")
    return rep.write(path)
