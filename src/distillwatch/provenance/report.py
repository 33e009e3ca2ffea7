"""The HTML page of a `trace` run: verdict, per-test statistics, agreement matrix, p-value vs queries."""

from __future__ import annotations

from typing import Any

from ..report import Report, bar_chart, line_chart, table_html

__all__ = ["trace_report"]


def trace_report(result: Any, title: str = "distillwatch trace") -> Report:
    """A `Report` of a `TraceResult` (or of its `to_dict()`); `.write(path)` saves it."""
    d = result if isinstance(result, dict) else result.to_dict()
    models = d.get("models", {})
    rep = Report(title, subtitle=f"suspect {models.get('suspect', '?')} · teacher {models.get('teacher', '?')}")
    rep.card("verdict", d["verdict"]).card("p-value", f"{d['p_value']:.3g}").card("alpha", d.get("alpha"))
    rep.card("suspect queries", f"{d['queries']} / {d.get('budget', '?')}")

    sec = rep.section("Tests", "tests")
    decisive = set(d.get("decisive") or [])
    rows = [[e["test"], "decisive" if e["test"] in decisive else "supporting", f"{e['statistic']:.4g}",
             f"{e['p_value']:.3g}", f"{e['effect_size']:.3g}", e["n"], e["method"], e["null_hypothesis"]]
            for e in d["evidence"]]
    sec.text("Decisive tests can make the verdict (Holm over them, alpha spent over the looks); supporting "
             "tests are reported and can only make it inconclusive.")
    sec.table(["test", "role", "statistic", "p", "effect", "n", "method", "null hypothesis"], rows)
    if d["evidence"]:
        sec.figure(bar_chart([e["test"] for e in d["evidence"]],
                             {"effect size": [max(0.0, e["effect_size"]) for e in d["evidence"]]},
                             title="Effect sizes (scale per test)", ylabel="effect"),
                   "Positive effects point at the teacher; scales are given in each test's details.")

    matrix = d.get("agreement_matrix") or {}
    if matrix:
        cols = sorted({c for row in matrix.values() for c in row}, key=lambda c: list(matrix).index(c)
                      if c in matrix else -1)
        sec = rep.section("Agreement matrix", "agreement")
        sec.text("Share of probe prompts on which two models' greedy answers start with the same words "
                 "(longest prefix).")
        sec.html(table_html([""] + cols, [[r] + [f"{matrix[r].get(c, float('nan')):.2f}" for c in cols]
                                          for r in matrix]))

    match = d.get("control_match")
    if match:
        sec = rep.section("Control choice", "controls")
        sec.text(f"The controls were chosen from a pool of models known not to be derived from the teacher: the "
                 f"{len(match['chosen'])} most like the teacher on {match['n_prompts']} prompts the tests do not "
                 "use (rank sum of the three measures; the suspect's answers play no part).")
        sec.table(["pool model", "chosen", "first-word agreement", "prefix agreement", "embedding cosine"],
                  [[name, "yes" if name in match["chosen"] else "", f"{v['first_word_agreement']:.2f}",
                    f"{v['prefix_agreement']:.2f}", f"{v['embedding_cosine']:.3f}"]
                   for name, v in match["pool"].items()])

    rounds = d.get("rounds", [])
    if rounds:
        sec = rep.section("Sequential looks", "rounds")
        xs = [r["queries"] for r in rounds]
        sec.figure(line_chart({"combined p": (xs, [max(r["p_value"], 1e-300) for r in rounds]),
                               "level": (xs, [r["level"] for r in rounds])},
                              title="Combined p-value vs suspect queries", xlabel="suspect queries",
                              ylabel="p", log_y=True),
                   "A look rejects (and the run stops) when the combined p-value falls below its share of alpha.")
        sec.table(["round", "suspect queries", "all queries", "prompts", "combined p", "level", "verdict"],
                  [[r["round"], r["queries"], r["total_queries"], r["n_prompts"], f"{r['p_value']:.3g}",
                    f"{r['level']:.3g}", r["verdict"]] for r in rounds])
    return rep
