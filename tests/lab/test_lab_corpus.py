from __future__ import annotations

import pytest

from distillwatch.lab import Example, as_examples, data_sha256, mix


def test_as_examples_accepts_strings_pairs_dicts_and_examples():
    chat = Example("x", [{"role": "user", "content": "m"}])
    exs = as_examples(["plain", ("q?", "a."), {"prompt": "q2", "response": "a2"}, chat], source="s")
    assert [e.is_pair for e in exs] == [False, True, True, True]
    assert exs[1].messages == [{"role": "user", "content": "q?"}]
    assert exs[2].text == "a2" and exs[2].source == "s"
    assert exs[3].messages == [{"role": "user", "content": "m"}]
    assert Example.from_dict(exs[3].to_dict()) == exs[3]
    with pytest.raises(TypeError):
        as_examples([42])


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_mix_counts(rho):
    teacher = [(f"p{i}", f"t{i}") for i in range(100)]
    human = [f"h{i}" for i in range(100)]
    data = mix(teacher, human, rho, n=80, seed=3)
    n_teacher = sum(e.source == "teacher" for e in data)
    assert len(data) == 80
    assert n_teacher == round(rho * 80)
    assert sum(e.source == "human" for e in data) == 80 - n_teacher
    assert len({(e.prompt, e.text) for e in data}) == 80  # drawn without replacement


def test_mix_is_deterministic_and_seeded():
    teacher = [(f"p{i}", f"t{i}") for i in range(50)]
    human = [f"h{i}" for i in range(50)]
    assert mix(teacher, human, 0.3, 40, seed=1) == mix(teacher, human, 0.3, 40, seed=1)
    assert mix(teacher, human, 0.3, 40, seed=1) != mix(teacher, human, 0.3, 40, seed=2)


def test_mix_without_n_uses_the_largest_set_the_pools_allow():
    data = mix([("p", f"t{i}") for i in range(30)], [f"h{i}" for i in range(1000)], 0.25, seed=0)
    assert len(data) == 120 and sum(e.source == "teacher" for e in data) == 30
    with pytest.raises(ValueError):
        mix([("p", "t")], ["h"], 0.5, n=10)
    with pytest.raises(ValueError):
        mix([("p", "t")], ["h"], 1.5, n=1)


def test_mix_keeps_existing_sources():
    data = mix(as_examples([("p", "t")], source="teacher:A"), ["h"], 0.5, n=2)
    assert sorted(e.source for e in data) == ["human", "teacher:A"]


def test_data_sha256_is_canonical_and_order_sensitive():
    a = [("p", "t"), "plain"]
    assert data_sha256(a) == data_sha256(as_examples(a, source="other-label"))
    assert data_sha256(a) != data_sha256(a[::-1])
    assert data_sha256(a) != data_sha256([("p", "t!"), "plain"])
    assert len(data_sha256([])) == 64
