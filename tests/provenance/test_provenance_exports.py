from __future__ import annotations

from distillwatch import provenance


def test_public_names_are_exactly_the_intended_ones():
    assert sorted(provenance.__all__) == sorted([
        "DECISIVE", "DECISIVE_SERVED", "Decision", "Embedder", "Evidence", "TESTS", "TraceResult", "TraceRound", "VERDICTS",
        "agreement_test", "combine", "hashed_ngrams", "identity_hits", "identity_test", "lexical_features",
        "likelihood_test", "mmd_test", "prefix_keys", "select_probes", "style_test", "trace", "trace_report",
        "ServedAnswer", "draw_fresh", "load_served", "prefix_overlap", "served_test", "teacher_referenced", "ControlMatch",
        "match_controls",
    ])
    assert all(hasattr(provenance, name) for name in provenance.__all__)
    assert set(provenance.TESTS) == {"agreement", "likelihood", "distribution", "style", "identity", "served"}
    assert set(provenance.DECISIVE) < set(provenance.TESTS)
    assert set(provenance.DECISIVE_SERVED) < set(provenance.DECISIVE)
