import numpy as np

from distillwatch.audit import generalization_gap, score_items, task_family_pairs
from distillwatch.models import TokenScores


class Scorer:
    """A model double: log-probability `know` for right options of questions it knows, 0 for the rest,
    plus seeded noise (so that two instances are two different models)."""

    def __init__(self, name, knows, know=3.0, noise=0.3, seed=0):
        self.model_id = name
        self.knows = knows
        self.know = know
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.right = {}

    def score(self, items, progress=False):
        out = []
        for prompt, option in items:
            q = prompt[0]["content"]
            bonus = self.know if (q in self.knows and self.right.get(q) == option) else 0.0
            out.append(TokenScores(token_ids=[1], logprobs=[bonus + self.noise * self.rng.standard_normal()]))
        return out


def _right(pairs):
    return {it.question: it.options[it.answer] for p in pairs for it in (p.public, p.fresh)}


def test_memorised_public_items_make_a_gap():
    pairs = task_family_pairs(8, seed=0)
    right = _right(pairs)
    everything = set(right)
    public_only = {p.public.question for p in pairs}
    teacher = Scorer("teacher", everything, seed=1)
    leaky = Scorer("leaky", public_only, seed=2)
    clean = Scorer("clean", set(), seed=3)
    for m in (teacher, leaky, clean):
        m.right = right
    leak = generalization_gap(leaky, teacher, pairs, n_permutations=2000)
    assert leak.evidence.p_value < 0.001
    assert leak.accuracy["suspect"]["public"] > 0.9 and leak.accuracy["suspect"]["fresh"] < 0.6
    assert leak.mean_gap["suspect"] > 0.5 > abs(leak.mean_gap["reference"])
    none = generalization_gap(clean, teacher, pairs, n_permutations=2000)
    assert none.evidence.p_value > 0.01
    assert set(leak.per_family) == {"addition", "antonyms", "capitals", "past-tense"}


def test_gap_test_is_calibrated_without_a_leak():
    pairs = task_family_pairs(5, seed=0)
    right = _right(pairs)
    half = {q for i, q in enumerate(sorted(right)) if i % 2 == 0}  # knowledge unrelated to public/fresh
    ps = []
    for rep in range(200):
        a, b = Scorer("a", half, know=1.0, noise=1.0, seed=rep), Scorer("b", half, know=1.0, noise=1.0, seed=10_000 + rep)
        a.right = b.right = right
        ps.append(generalization_gap(a, b, pairs, n_permutations=400, seed=rep).evidence.p_value)
    ps = np.array(ps)
    assert np.mean(ps < 0.05) <= 0.09
    assert np.mean(ps < 0.5) > 0.35


def test_score_items_probabilities_sum_over_options(tiny_model):
    pairs = task_family_pairs(2, seed=0, families=("capitals",))
    items = [p.public for p in pairs]
    sc = score_items(tiny_model, items)
    assert sc.p_right.shape == (2,) and np.all((sc.p_right > 0) & (sc.p_right < 1))
    assert sc.correct.dtype == bool


def test_pairs_too_long_for_a_model_leave_the_comparison():
    from distillwatch.errors import InputError

    pairs = task_family_pairs(4, seed=0, families=("capitals",))
    right = _right(pairs)
    too_long = pairs[0].fresh.question

    class Short(Scorer):
        def score(self, items, progress=False):
            if any(p[0]["content"] == too_long for p, _ in items):
                raise InputError("over the context")
            return super().score(items, progress)

    a, b = Short("a", set(right), seed=1), Scorer("b", set(right), seed=2)
    a.right = b.right = right
    res = generalization_gap(a, b, pairs, n_permutations=200)
    assert res.n_pairs == 3 and res.evidence.details["pairs_left_out_too_long"] == 1
