"""Provenance: black-box and grey-box lineage tests, evidence combination and verdicts.

::

    evidence      Evidence — the record every test returns
    stats         holm, bonferroni_min, intersection_union, mcnemar_greater, sign_flip_p, spending_weights
    agreement     agreement_test, prefix_keys, select_probes      (greedy answer prefixes)
    likelihood    likelihood_test                                  (suspect log-probabilities)
    distribution  mmd_test                                         (MMD between answer embeddings)
    style         style_test, lexical_features                     (teacher-vs-controls classifier)
    identity      identity_test, identity_hits                     (who-made-you probes; weak)
    served        served_test, load_served, ServedAnswer, draw_fresh, teacher_referenced
                  (served answers vs fresh redraws)
    verdict       combine, Decision                                (Holm over tests)
    controls      match_controls, ControlMatch                     (controls chosen from a pool, like T)
    trace         trace, TraceResult, TraceRound                   (models, budget, rounds)
    features      Embedder, hashed_ngrams                          (answer features, outside the tests)
    report        trace_report                                     (HTML)

Every registered test (`TESTS`) is a pure function of arrays returning `Evidence`.
"""

from ..evidence import Evidence
from .agreement import agreement_test, prefix_keys, select_probes
from .controls import ControlMatch, match_controls
from .distribution import mmd_test
from .features import Embedder, hashed_ngrams
from .identity import identity_hits, identity_test
from .likelihood import likelihood_test
from .report import trace_report
from .served import (
    ServedAnswer,
    draw_fresh,
    load_served,
    prefix_overlap,
    served_test,
    teacher_referenced,
)
from .style import lexical_features, style_test
from .trace import TraceResult, TraceRound, trace
from .verdict import DECISIVE, DECISIVE_SERVED, VERDICTS, Decision, combine

TESTS = {
    "agreement": agreement_test,
    "likelihood": likelihood_test,
    "distribution": mmd_test,
    "style": style_test,
    "identity": identity_test,
    "served": served_test,
}

__all__ = [
    "DECISIVE",
    "DECISIVE_SERVED",
    "TESTS",
    "VERDICTS",
    "ControlMatch",
    "Decision",
    "Embedder",
    "Evidence",
    "ServedAnswer",
    "TraceResult",
    "TraceRound",
    "agreement_test",
    "combine",
    "draw_fresh",
    "hashed_ngrams",
    "identity_hits",
    "identity_test",
    "lexical_features",
    "likelihood_test",
    "load_served",
    "match_controls",
    "mmd_test",
    "prefix_keys",
    "prefix_overlap",
    "select_probes",
    "served_test",
    "style_test",
    "teacher_referenced",
    "trace",
    "trace_report",
]
