"""Controls matched to the teacher: a model of the teacher's kind, not derived from it, is called derived
against controls of another kind, and is not once the controls are chosen from a pool by resemblance to
the teacher; a copy of the teacher is still attributed."""

from __future__ import annotations

import numpy as np
import pytest

from distillwatch.models.mock import MOCK_VOCAB, MockModel
from distillwatch.provenance import match_controls, trace, trace_report

PROBES = [f"Question {i}: name a colour and a number." for i in range(120)]
KW = {"budget": 120, "probes": PROBES, "embedder": "ngrams", "n_permutations": 200, "max_tokens": 16}


class OfAKind(MockModel):
    """A mock model whose answers open with its kind's words (say, the stock phrase of every tiny model of
    one lab), then go on in its own words."""

    def __init__(self, name: str, opening: str):
        super().__init__(name)
        self.opening = [MOCK_VOCAB.index(w) for w in opening.split()]

    def _answer(self, r):
        return (self.opening + super()._answer(r))[: r.max_tokens]


TINY, CHAT = "the model answer", "yes clear simple"


def test_match_controls_ranks_the_pool_by_resemblance_to_the_teacher():
    teacher = ["the cat sat on the mat", "red is a colour", "one two three"]
    pool = [
        ["no idea at all", "blue sky", "five"],  # unlike
        ["the cat sat on a rug", "red is nice", "one more"],  # same first words
        ["the cat sat on the mat", "red is a colour", "one two three"],  # identical
    ]
    m = match_controls(teacher, pool, 2, names=["far", "near", "copy"])
    assert m.chosen == [2, 1]
    assert m.first_word_agreement == [0.0, 1.0, 1.0] and m.prefix_agreement[2] == 1.0
    d = m.to_dict()
    assert d["chosen"] == ["copy", "near"] and set(d["pool"]) == {"far", "near", "copy"}
    with pytest.raises(ValueError):
        match_controls(teacher, pool, 4)
    with pytest.raises(ValueError):
        match_controls(teacher, [["a"]], 1)


def test_embeddings_break_ties_between_equal_agreement():
    teacher = ["alpha beta", "gamma delta"]
    pool = [["x y", "z w"], ["p q", "r s"]]  # no agreement at all with the teacher
    embed = {"alpha beta": [1.0, 0.0], "gamma delta": [1.0, 0.1], "x y": [0.0, 1.0], "z w": [0.1, 1.0],
             "p q": [1.0, 0.05], "r s": [0.9, 0.0]}
    m = match_controls(teacher, pool, 1, embed=lambda texts: np.array([embed[t] for t in texts]))
    assert m.chosen == [1] and m.embedding_cosine[1] > 0.99 > m.embedding_cosine[0]


def test_a_look_alike_is_derived_against_unlike_controls_but_not_against_matched_ones(tmp_path):
    teacher, suspect = OfAKind("t", TINY), OfAKind("s", TINY)
    far = [OfAKind("c1", CHAT), OfAKind("c2", CHAT)]
    near = [OfAKind("n1", TINY), OfAKind("n2", TINY)]
    unlike = trace(suspect, teacher, far, **KW)
    assert unlike.verdict == "derived"  # what an ill-chosen control set does

    matched = trace(suspect, teacher, far + near, matched_controls=2, **KW)
    assert sorted(matched.control_match["chosen"]) == ["mock/n1", "mock/n2"]
    assert matched.models["controls"] == matched.control_match["chosen"]
    assert matched.verdict != "derived" and matched.p_value > 0.05
    assert matched.queries <= KW["budget"]
    assert "Control choice" in trace_report(matched).write(tmp_path / "trace.html").read_text()


def test_matched_controls_keep_their_selection_prompts_out_of_the_tests():
    teacher = OfAKind("t", TINY)
    pool = [OfAKind("c1", CHAT), OfAKind("n1", TINY), OfAKind("n2", TINY)]
    r = trace(OfAKind("t", TINY), teacher, pool, matched_controls=2, match_prompts=30, **KW)
    assert r.verdict == "derived" and r.p_value <= 0.01  # a copy of the teacher, against its own kind
    assert r.control_match["n_prompts"] == 30
    assert r.queries_by_model["mock/t"] >= 30  # the teacher answered the selection prompts too
