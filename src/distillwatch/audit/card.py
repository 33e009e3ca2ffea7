"""The risk card: one HTML page a non-specialist can read (a summary table with a plain-language finding
per row, then the evidence with plots) and a JSON file with every number."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from ..report import Report
from ..report.svg import bar_chart, scatter_chart
from .run import AuditResult

__all__ = ["risk_card", "write_card"]

_STATUS = {"risk": ('<span class="bad">RISK</span>'), "ok": '<span class="good">OK</span>',
           "note": '<span class="warn">NOTE</span>'}


def _p(p) -> str:
    return "—" if p is None else f"{p:.2g}"


def risk_card(r: AuditResult) -> Report:
    """Build the card's `Report` (see `write_card` to save it)."""
    risks = sum(f["status"] == "risk" for f in r.findings)
    rep = Report(f"Risk card: {r.suspect}",
                 f"audited against {r.reference} · alpha {r.config.alpha} · {r.seconds / 60:.1f} min · judge {r.judge}")
    rep.card("risks found", risks)
    rep.card("refusal rate (suspect / reference)", f"{r.safety.suspect_rate:.0%} / {r.safety.reference_rate:.0%}")
    rep.card("fresh-item accuracy (suspect / reference)",
             f"{r.gap.accuracy['suspect']['fresh']:.0%} / {r.gap.accuracy['reference']['fresh']:.0%}")
    rep.card("public-minus-fresh gap (suspect / reference)",
             f"{r.gap.mean_gap['suspect']:+.2f} / {r.gap.mean_gap['reference']:+.2f}")

    summary = rep.section("Summary", "summary")
    summary.text("Each row asks one question about deploying this model instead of the reference. RISK means the "
                 f"data reject 'no difference' at alpha {r.config.alpha}; OK means they do not; NOTE is context.")
    summary.table(["", "Question", "Finding", "p-value"],
                  [[_STATUS[f["status"]], escape(f["question"]), escape(f["finding"]), _p(f["p_value"])]
                   for f in r.findings], raw=True)

    s = rep.section("Safety: refusals of harmful requests", "safety")
    s.text(f"{r.safety.n} harmful requests from {r.safety.prompt_set}, answered by both models at temperature "
           f"{r.config.temperature} (up to {r.config.max_tokens} tokens). Each answer is a refusal (refusal phrases "
           "in its opening, or empty), unrelated to the request, or compliance (on topic, not refusing). Bars: "
           "refusal rate per harm category with Wilson 95% intervals.")
    cats = r.safety.per_category
    s.figure(bar_chart([c["category"] for c in cats],
                       {"suspect": [c["suspect_rate"] for c in cats], "reference": [c["reference_rate"] for c in cats]},
                       title="Refusal rate per harm category", ylabel="share refused",
                       errors={"suspect": [tuple(c["suspect_ci"]) for c in cats],
                               "reference": [tuple(c["reference_ci"]) for c in cats]}),
             "Refusal rates per category (suspect vs reference) with 95% intervals.")
    s.text(f"Refusals: {r.safety.evidence.method}; p = {_p(r.safety.evidence.p_value)}. "
           f"Null hypothesis: {r.safety.evidence.null_hypothesis}. Compliance: suspect {r.safety.suspect_compliance:.0%}, "
           f"reference {r.safety.reference_compliance:.0%}; p = {_p(r.safety.compliance.p_value)} (one-sided, suspect "
           "more).")
    s.table(["category", "n", "refused: suspect", "refused: reference", "complied: suspect", "complied: reference",
             "z", "p", "p (Holm)"],
            [[c["category"], c["n"], f"{c['suspect_rate']:.0%}", f"{c['reference_rate']:.0%}",
              f"{c['suspect_compliance']:.0%}", f"{c['reference_compliance']:.0%}", f"{c['z']:.2f}",
              _p(c["p_value"]), _p(c["p_holm"])] for c in cats])
    if r.safety.examples:
        s.table(["request", "suspect answer", "reference answer"],
                [[e["prompt"][:160], _mark(e["suspect"], e["suspect_label"]), _mark(e["reference"], e["reference_label"])]
                 for e in r.safety.examples[:4]])
    if r.over_refusal:
        o = r.over_refusal
        s.text(f"Over-refusal: of {o.n} benign requests on sensitive topics ({o.prompt_set}), the suspect refused "
               f"{o.suspect_rate:.0%} and the reference {o.reference_rate:.0%} ({o.evidence.method}, p = {_p(o.evidence.p_value)}); "
               f"it answered {o.suspect_compliance:.0%} on topic, the reference {o.reference_compliance:.0%}.")

    g = r.gap
    sec = rep.section("Generalization: published items vs fresh twins", "gap")
    sec.text("Each published-style item has a fresh twin of the same kind (another country, other numbers, another "
             "word) that cannot have been in any training set. A model that learned the task scores alike on both; one "
             "trained on answers to the published items scores higher on them. Bars: accuracy per task family.")
    fams = sorted(g.per_family)
    sec.figure(bar_chart(fams, {
        "suspect, published": [g.per_family[f]["suspect_public"] for f in fams],
        "suspect, fresh": [g.per_family[f]["suspect_fresh"] for f in fams],
        "reference, published": [g.per_family[f]["reference_public"] for f in fams],
        "reference, fresh": [g.per_family[f]["reference_fresh"] for f in fams],
    }, title="Accuracy on published vs fresh items", ylabel="accuracy"), "Accuracy per family and item kind.")
    sec.text(f"Test: {g.evidence.method}; mean difference of gaps {g.evidence.statistic:+.3f}, p = {_p(g.evidence.p_value)}. "
             f"Null hypothesis: {g.evidence.null_hypothesis}.")
    if r.benchmark_gap:
        b = r.benchmark_gap
        sec.text(f"Real benchmark items ({r.config.benchmark}, {b.n_pairs} questions, fresh twin = options reordered): suspect "
                 f"{b.accuracy['suspect']['public']:.0%} published vs {b.accuracy['suspect']['fresh']:.0%} reordered, reference "
                 f"{b.accuracy['reference']['public']:.0%} vs {b.accuracy['reference']['fresh']:.0%}; p = {_p(b.evidence.p_value)}.")

    st = r.style
    sec = rep.section("Style vs substance", "style")
    sec.text("Each point is a task family: how much the suspect's free-text answers resemble the reference's (x) against "
             "how often it is right on fresh items compared with the reference (y). Imitation copies style (right) without "
             "substance (low).")
    sec.figure(scatter_chart({"task family": ([f["style_similarity"] for f in st.per_family],
                                              [f["suspect_accuracy"] - f["reference_accuracy"] for f in st.per_family],
                                              [f["family"] for f in st.per_family])},
                             title="Style similarity vs accuracy difference", xlabel="similarity of answers (cosine)",
                             ylabel="suspect minus reference accuracy", x_range=(0.0, 1.0), y_range=(-1.0, 1.0)),
               "Style similarity against the accuracy difference on fresh items, per task family.")
    sec.text(f"Style: {st.style.method}, p = {_p(st.style.p_value)} (same-prompt similarity "
             f"{st.style.details['mean_same_prompt_similarity']:.2f} vs {st.style.details['mean_other_prompt_similarity']:.2f} "
             f"across prompts). Substance: {st.substance.method}, p = {_p(st.substance.p_value)}.")

    if r.provenance:
        sec = rep.section("Identity and provenance", "provenance")
        pv = r.provenance
        if pv.get("kind") == "trace":
            sec.text(f"trace verdict: {pv.get('verdict')} (p = {_p(pv.get('p_value'))}, {pv.get('queries')} queries).")
        else:
            sec.text(f"Identity probes ({pv['n']}): the suspect names {', '.join(pv['names'][:3])} in "
                     f"{pv['suspect_names_reference']:.0%} of answers, the reference in {pv['reference_names_itself']:.0%}.")
            sec.table(["probe", "suspect", "reference"], [[e["prompt"], e["suspect"][:200], e["reference"][:200]]
                                                          for e in pv["examples"]])
    if r.judge_accuracy:
        j = r.judge_accuracy
        sec = rep.section("How far to trust the refusal judge", "judge")
        sec.text(f"{j.judge} against {j.n} human-labelled responses (PyRIT's refusal evaluation set): accuracy {j.accuracy:.0%}, "
                 f"precision {j.precision:.0%}, recall {j.recall:.0%}, Cohen's kappa {j.cohen_kappa:.2f}.")
        sec.table(["", "count"], [[k.replace("_", " "), v] for k, v in j.confusion.items()])
    return rep


def _mark(text: str, label: str) -> str:
    return f"[{label}] {text[:200]}"


def write_card(r: AuditResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `audit.html` and `audit.json` under `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = risk_card(r).write(out / "audit.html")
    js = out / "audit.json"
    js.write_text(json.dumps(r.to_dict(), indent=2), encoding="utf-8")
    return html, js
