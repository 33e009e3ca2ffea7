import numpy as np
import pytest

from distillwatch.audit.datasets import SafetyPrompt
from distillwatch.audit.safety import Answers, answer_prompts, compare_refusals
from distillwatch.audit import PatternJudge
from distillwatch.provenance.stats import two_proportion_test, wilson_interval


def _prompts(n, cats=("a", "b")):
    return [SafetyPrompt(f"p{i}", f"request {i}", cats[i % len(cats)], "test") for i in range(n)]


def test_lost_refusals_are_significant_per_category_too():
    ps = _prompts(80)
    ref = np.zeros(80, bool)
    ref[:30] = True
    res = compare_refusals(ps, Answers("s", ["x"] * 80, np.zeros(80, bool)), Answers("r", ["y"] * 80, ref),
                           prompt_set="t")
    assert res.evidence.p_value == pytest.approx(0.5 ** 30)
    assert res.suspect_rate == 0 and res.reference_rate == pytest.approx(30 / 80)
    assert {c["category"] for c in res.per_category} == {"a", "b"}
    assert all(c["p_holm"] >= c["p_value"] for c in res.per_category)
    assert all(c["p_value"] < 0.01 for c in res.per_category)
    assert res.examples and res.examples[0]["suspect_label"] == "complied" and res.examples[0]["reference_label"] == "refused"
    # refusing less here means complying more: the compliance test agrees
    assert res.suspect_compliance == 1.0 and res.compliance.p_value == pytest.approx(0.5 ** 30)


def test_suspect_refusing_more_is_not_a_regression_but_is_an_over_refusal_change():
    ps = _prompts(60)
    more = np.zeros(60, bool)
    more[:25] = True
    s, r = Answers("s", ["x"] * 60, more), Answers("r", ["y"] * 60, np.zeros(60, bool))
    assert compare_refusals(ps, s, r, prompt_set="t").evidence.p_value == 1.0
    assert compare_refusals(ps, s, r, prompt_set="t", one_sided=False).evidence.p_value < 1e-6


def test_mcnemar_is_calibrated_for_equal_refusal_rates():
    rng = np.random.default_rng(0)
    ps = _prompts(100)
    pvals = []
    for _ in range(400):
        a, b = rng.random(100) < 0.2, rng.random(100) < 0.2
        pvals.append(compare_refusals(ps, Answers("s", [""] * 100, a), Answers("r", [""] * 100, b),
                                      prompt_set="t").evidence.p_value)
    assert np.mean(np.array(pvals) < 0.05) <= 0.06


def test_wilson_and_two_proportion():
    lo, hi = wilson_interval(np.array([0, 5, 10]), np.array([10, 10, 10]))
    assert lo[0] == 0 and 0 < hi[0] < 0.35 and lo[1] < 0.5 < hi[1] and hi[2] == pytest.approx(1.0)
    z, p = two_proportion_test(30, 100, 10, 100)
    assert z > 3 and p < 0.001
    assert two_proportion_test(10, 100, 30, 100)[1] > 0.99
    assert two_proportion_test(0, 10, 0, 10) == (0.0, 1.0)
    with pytest.raises(ValueError):
        two_proportion_test(1, 2, 1, 2, "sideways")


def test_answer_prompts_seeds_roles_independently():
    from distillwatch.models import get_model

    m = get_model("mock/a", cache=False)
    ps = _prompts(6)
    a = answer_prompts(m, ps, PatternJudge(), role="suspect", temperature=0.7)
    b = answer_prompts(m, ps, PatternJudge(), role="reference", temperature=0.7)
    again = answer_prompts(m, ps, PatternJudge(), role="suspect", temperature=0.7)
    assert a.texts == again.texts and a.texts != b.texts


def test_prompts_too_long_for_a_model_are_left_out_of_the_comparison(tiny_model):
    limit = tiny_model.max_length
    ps = [SafetyPrompt("short", "Tell me a joke.", "a", "t"), SafetyPrompt("long", "word " * (limit + 10), "a", "t")]
    got = answer_prompts(tiny_model, ps, PatternJudge(), role="suspect", temperature=0.0, max_tokens=8, min_tokens=4)
    assert got.answered.tolist() == [True, False] and got.texts[1] == "" and not got.refused[1]
    assert not got.complied[1]
    other = Answers("r", ["I can't help.", "I can't help."], np.array([True, True]))
    res = compare_refusals(ps, got, other, prompt_set="t")
    assert res.n == 1 and res.evidence.details["left_out_too_long"] == 1


def test_babbling_is_neither_refusal_nor_compliance():
    """A model that lost its refusals but answers off topic: refusals drop, compliance does not rise."""
    ps = _prompts(40)
    ref = Answers("r", ["x"] * 40, np.arange(40) < 20, np.arange(40) >= 20)
    babbler = Answers("s", ["y"] * 40, np.zeros(40, bool), np.zeros(40, bool))
    res = compare_refusals(ps, babbler, ref, prompt_set="t")
    assert res.evidence.p_value < 1e-5 and res.compliance.p_value == 1.0
    assert res.suspect_compliance == 0.0 and res.reference_compliance == 0.5
