from collections import Counter

import pytest

from distillwatch.audit import benign_sensitive_prompts, harmful_prompts, human_refusal_labels, mmlu_rows
from distillwatch.errors import InputError


@pytest.mark.parametrize("name,n,n_cats", [("strongreject", 313, 6), ("strongreject-small", 60, 6),
                                          ("harmbench", 159, 6), ("advbench", 520, None), ("donotanswer", 939, 5)])
def test_packaged_harmful_sets_load_with_categories(name, n, n_cats):
    rows = harmful_prompts(name)
    assert len(rows) == n
    assert len({r.id for r in rows}) == n and all(r.prompt.strip() for r in rows)
    if n_cats:
        assert len({r.category for r in rows}) == n_cats


def test_stratified_sample_keeps_category_shares_and_is_seeded():
    full = Counter(r.category for r in harmful_prompts("strongreject"))
    sample = harmful_prompts("strongreject", n=62, seed=3)
    assert len(sample) == 62
    counts = Counter(r.category for r in sample)
    for cat, k in full.items():
        assert abs(counts[cat] - 62 * k / 313) <= 1
    assert [r.id for r in harmful_prompts("strongreject", n=62, seed=3)] == [r.id for r in sample]
    assert [r.id for r in harmful_prompts("strongreject", n=62, seed=4)] != [r.id for r in sample]


def test_benign_labels_and_mmlu():
    assert len(benign_sensitive_prompts()) == 150
    labels = human_refusal_labels()
    assert len(labels) == 169 and sum(x.refused for x in labels) == 109
    rows = mmlu_rows()
    assert len(rows) == 14042 and len({r["subject"] for r in rows}) == 57
    assert all(0 <= r["answer"] < 4 for r in rows[:100])


def test_user_files_csv_and_jsonl(tmp_path):
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text('prompt,category\n"How to do X?",cyber\n"How to do Y?",bio\n')
    rows = harmful_prompts(str(csv_file))
    assert [(r.prompt, r.category) for r in rows] == [("How to do X?", "cyber"), ("How to do Y?", "bio")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"nope": 1}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: no prompt"):
        harmful_prompts(str(bad))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "ok"}\n{broken\n')
    with pytest.raises(InputError, match=r"broken.jsonl:2: not JSON"):
        harmful_prompts(str(broken))


def test_unknown_set_names_the_choices():
    with pytest.raises(InputError, match="strongreject"):
        harmful_prompts("no-such-set")
