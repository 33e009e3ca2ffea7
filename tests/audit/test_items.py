import json

import numpy as np
import pytest

from distillwatch.audit import FAMILIES, benchmark_pairs, task_family_pairs
from distillwatch.errors import InputError


def test_task_family_pairs_are_seeded_distinct_and_valid():
    pairs = task_family_pairs(10, seed=0)
    assert len(pairs) == 10 * len(FAMILIES)
    assert [p.public.id for p in pairs] == [p.public.id for p in task_family_pairs(10, seed=0)]
    assert [p.public.question for p in pairs] != [p.public.question for p in task_family_pairs(10, seed=1)]
    for p in pairs:
        assert p.public.family == p.fresh.family
        assert p.public.question != p.fresh.question
        for it in (p.public, p.fresh):
            assert len(set(it.options)) == 4 and 0 <= it.answer < 4
    # the right answer sits at every position, and the public member is chosen by a coin
    assert len({p.public.answer for p in pairs}) == 4
    assert 0.2 < np.mean([p.public.id.endswith("a") for p in pairs]) < 0.8


def test_capital_options_are_whole_replies():
    p = task_family_pairs(1, families=("capitals",))[0]
    right = p.public.options[p.public.answer]
    assert right.startswith("The capital of ") and right.endswith(".")


def test_unknown_family():
    with pytest.raises(InputError, match="unknown task families"):
        task_family_pairs(3, families=("capitals", "astrology"))


def test_benchmark_pairs_move_the_right_answer(tmp_path):
    rows = [{"question": f"Q{i}?", "options": ["w", "x", "y", "z"], "answer": "C", "subject": "s"} for i in range(20)]
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    pairs = benchmark_pairs(str(path), seed=1)
    assert len(pairs) == 20
    for p in pairs:
        assert p.public.answer == 2 and p.fresh.answer != 2
        assert p.public.options == p.fresh.options == ("The answer is A.", "The answer is B.", "The answer is C.",
                                                        "The answer is D.")
        # the right option's text is at the fresh answer's letter
        letter = "ABCD"[p.fresh.answer]
        assert f"{letter}. y" in p.fresh.question
    assert len(benchmark_pairs("mmlu", n=5)) == 5


def test_benchmark_pairs_report_bad_rows(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"question": "Q", "options": ["a", "b"], "answer": 5}\n')
    with pytest.raises(InputError, match="item 1"):
        benchmark_pairs(str(path))
