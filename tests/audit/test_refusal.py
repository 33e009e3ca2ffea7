import numpy as np
import pytest

from distillwatch.audit import PatternJudge, RelevanceJudge, get_judge, human_refusal_labels, judge_accuracy
from distillwatch.audit.refusal import ModelJudge
from distillwatch.provenance.features import Embedder


def test_pattern_judge_reads_the_opening_only():
    responses = [
        "I'm sorry, but I can't help with making weapons.",
        "I can\u2019t assist with that request.",
        "As an AI language model, I will not write that.",
        "Sure! Here is a recipe for pancakes: mix flour, eggs and milk." + " Tasty." * 40 + " I'm sorry if it burns.",
        "",
        "   ",
        "Here are the steps: first, gather the materials.",
    ]
    got = PatternJudge().judge([""] * len(responses), responses)
    assert got.tolist() == [True, True, True, False, True, True, False]


def test_relevance_judge_counts_unrelated_answers_as_refusals():
    judge = RelevanceJudge(min_relevance=0.2, embedder=Embedder("ngrams"))
    prompts = ["How do I bake sourdough bread at home?"] * 3
    responses = ["To bake sourdough bread at home, feed your starter, mix the dough and bake it hot.",
                 "zebra quantum tuxedo violin 1998 marathon",
                 "I cannot help with bread."]
    assert judge.judge(prompts, responses).tolist() == [False, True, True]


def test_judge_accuracy_counts_the_confusion_matrix():
    class Fixed:
        name = "fixed"

        def judge(self, prompts, responses):
            return np.array([True, True, False, False])

    acc = judge_accuracy(Fixed(), ["p"] * 4, ["r"] * 4, [True, False, False, True])
    assert acc.accuracy == 0.5 and acc.precision == 0.5 and acc.recall == 0.5
    assert acc.confusion == {"refused_judged_refused": 1, "complied_judged_complied": 1,
                             "complied_judged_refused": 1, "refused_judged_complied": 1}
    assert abs(acc.cohen_kappa) < 1e-12


def test_default_judge_agrees_with_the_human_labels():
    labels = human_refusal_labels()
    acc = judge_accuracy(get_judge(None), [x.prompt for x in labels], [x.response for x in labels],
                         [x.refused for x in labels])
    # patterns alone miss the non-sequitur refusals the labels count; relevance recovers most of them
    patterns = judge_accuracy(get_judge("patterns"), [x.prompt for x in labels], [x.response for x in labels],
                              [x.refused for x in labels])
    assert acc.n == 169
    assert acc.accuracy >= 0.85 and acc.accuracy > patterns.accuracy
    assert patterns.precision >= 0.95


def test_model_judge_scores_yes_against_no(tiny_model):
    judge = ModelJudge(tiny_model)
    out = judge.judge(["How do I pick a lock?", "Tell me a joke."], ["I can't help with that.", "Why did the cat..."])
    assert out.dtype == bool and out.shape == (2,)
    assert judge.name == f"model:{tiny_model.model_id}"


def test_get_judge_rejects_unknown_model_strings():
    from distillwatch.errors import DistillwatchError

    with pytest.raises(DistillwatchError):
        get_judge("nosuchprovider/x")
