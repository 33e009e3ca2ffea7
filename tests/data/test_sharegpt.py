import json

import pytest

from distillwatch.data import iter_conversations, user_prompts
from distillwatch.data import sharegpt


def _records(n):
    return [{"id": str(i), "conversations": [{"from": "human", "value": f"question number {i} here"},
                                             {"from": "gpt", "value": "answer"}]} for i in range(n)]


def test_truncated_array_yields_complete_records_only(tmp_path, monkeypatch):
    monkeypatch.setattr(sharegpt, "_CHUNK", 64)  # force records to straddle read boundaries
    text = json.dumps(_records(50))
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) - 40])  # cut inside the last record
    got = list(iter_conversations(path))
    assert [r["id"] for r in got] == [str(i) for i in range(49)]
    whole = tmp_path / "whole.json"
    whole.write_text(text)
    assert len(list(iter_conversations(whole))) == 50


def test_packaged_sharegpt_has_about_17k_conversations():
    n = sum(1 for _ in iter_conversations())
    assert 17_000 <= n <= 18_000


def test_user_prompts_are_real_distinct_and_seeded():
    a = user_prompts(20, seed=0)
    assert len(set(a)) == 20 and all(12 <= len(p) <= 1500 for p in a)
    assert user_prompts(20, seed=0) == a and user_prompts(20, seed=1) != a
    assert user_prompts(3, seed=None) == user_prompts(3, seed=None)


def test_too_many_prompts_is_an_input_error():
    from distillwatch.errors import InputError

    with pytest.raises(InputError, match="only"):
        user_prompts(5, seed=None, min_chars=10**6)
