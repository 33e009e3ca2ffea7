"""`trace` end to end on tiny real models: a student of the teacher is attributed to it, a sibling (student
of another teacher on the same prompts) is not; the budget holds; results serialise and render."""

from __future__ import annotations

import json

import pytest

from distillwatch.provenance import TraceResult, trace, trace_report

from .zoo import PROMPTS

KW = {"budget": 150, "probes": PROMPTS[::2], "max_tokens": 24, "seed": 0, "n_permutations": 500}


@pytest.fixture(scope="module")
def traced(zoo, embedder):
    c = [zoo["C1"], zoo["C2"]]
    return {who: trace(zoo[who], zoo["T"], c, embedder=embedder, **KW) for who in ("student", "sibling")}


def test_student_of_the_teacher_is_attributed(traced):
    r = traced["student"]
    assert isinstance(r, TraceResult)
    assert r.verdict == "derived" and r.p_value <= 0.01
    agreement = next(e for e in r.evidence if e.test == "agreement")
    assert agreement.p_value <= 1e-3 and agreement.effect_size > 0.5
    assert len(r.rounds) < 3 and r.queries < KW["budget"]  # stopped early, inside the budget


def test_sibling_is_not_attributed(traced):
    r = traced["sibling"]
    assert r.verdict == "no evidence" and r.p_value > 0.05
    assert len(r.rounds) == 3 and r.queries <= KW["budget"]
    assert all(e.p_value > 0.05 for e in r.evidence)


def test_queries_are_counted_and_results_serialise(traced, tmp_path):
    r = traced["sibling"]
    d = json.loads(json.dumps(r.to_dict()))
    assert {"verdict", "p_value", "queries", "evidence"} <= set(d)
    assert [e["test"] for e in d["evidence"]] == ["agreement", "likelihood", "distribution", "style", "identity"]
    assert d["queries_by_model"]["suspect"] == r.queries
    assert [x["queries"] for x in d["rounds"]] == sorted(x["queries"] for x in d["rounds"])
    assert d["agreement_matrix"]["suspect"]
    page = trace_report(r).write(tmp_path / "trace.html").read_text()
    assert "Agreement matrix" in page and "<svg" in page and "no evidence" in page and "supporting" in page


def test_the_same_seed_gives_the_same_result(zoo, traced, embedder):
    """Answers come from the response cache the second time; everything else is recomputed."""
    again = trace(zoo["sibling"], zoo["T"], [zoo["C1"], zoo["C2"]], embedder=embedder, **KW)
    assert again.to_dict() == traced["sibling"].to_dict()


PROBES = [f"Question {i}: name a colour and a number." for i in range(80)]


@pytest.mark.parametrize("budget", [40, 120])
def test_budget_bounds_the_suspect_queries(budget):
    seen = []
    r = trace("mock/other", "mock/teacher", ["mock/c1", "mock/c2"], budget=budget, probes=PROBES,
              embedder="ngrams", progress=seen.append, n_permutations=200)
    assert r.queries <= budget and r.queries_by_model["suspect"] == r.queries
    assert seen == r.rounds and r.verdict in ("no evidence", "inconclusive")


def test_a_copy_of_the_teacher_is_derived_and_needs_controls():
    r = trace("mock/teacher", "mock/teacher", ["mock/c1", "mock/c2"], budget=200, probes=PROBES,
              embedder="ngrams", n_permutations=200)
    assert r.verdict == "derived" and r.p_value <= 0.01
    with pytest.raises(ValueError):
        trace("mock/a", "mock/b", [], probes=PROBES)


def test_a_suspect_that_cannot_score_skips_the_likelihood_test():
    from distillwatch.models.mock import MockModel

    class Unscored(MockModel):  # like an API without echo/logprobs
        supports_score = False

    r = trace(Unscored("teacher"), "mock/teacher", ["mock/c1", "mock/c2"], budget=100, probes=PROBES,
              embedder="ngrams", n_permutations=200)
    assert "likelihood" not in {e.test for e in r.evidence} and r.verdict == "derived"
    assert r.queries <= 100
