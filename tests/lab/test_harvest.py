import json

import pytest

from distillwatch.data import PromptRecord, load_prompts
from distillwatch.errors import InputError
from distillwatch.lab.harvesting import harvest, read_harvest


def _prompts(n):
    return [PromptRecord(prompt=f"question {i}", line=i, id=f"q{i}") for i in range(n)]


def test_harvest_writes_one_record_per_prompt(tmp_path):
    out = tmp_path / "h.jsonl"
    res = harvest("mock/teacher", _prompts(5), out, progress=False)
    assert (res.total, res.new, res.resumed) == (5, 5, 0)
    recs = read_harvest(out)
    assert [r["id"] for r in recs] == [f"q{i}" for i in range(5)]
    assert all(r["response"] and r["teacher"] == "mock/teacher" and r["token_ids"] for r in recs)


def test_harvest_resumes_and_repairs_a_truncated_tail(tmp_path):
    out = tmp_path / "h.jsonl"
    harvest("mock/teacher", _prompts(3), out, progress=False)
    first = out.read_text()
    with open(out, "a") as f:
        f.write('{"id": "q3", "resp')  # an interrupted write
    res = harvest("mock/teacher", _prompts(6), out, progress=False)
    assert (res.total, res.new, res.resumed) == (6, 3, 3)
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and out.read_text().startswith(first)
    assert all(json.loads(line) for line in lines)


def test_harvest_is_reproducible_with_sampling(tmp_path, tiny_model):
    a = harvest(tiny_model, _prompts(4), tmp_path / "a.jsonl", temperature=0.9, max_tokens=8, progress=False)
    b = harvest(tiny_model, _prompts(4)[::-1], tmp_path / "b.jsonl", temperature=0.9, max_tokens=8,
                progress=False)
    ra = {r["id"]: r["token_ids"] for r in read_harvest(a.path)}
    rb = {r["id"]: r["token_ids"] for r in read_harvest(b.path)}
    assert ra == rb and len({tuple(v) for v in ra.values()}) > 1


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(InputError, match="unique"):
        harvest("mock/t", _prompts(2) + _prompts(1), tmp_path / "x.jsonl", progress=False)


def test_prompt_sources(tmp_path):
    assert len(load_prompts("sharegpt", 5).records) == 5
    probes = load_prompts("probes:identity")
    assert len(probes.records) >= 10 and probes.records[0].id == "who-1"
    with pytest.raises(InputError, match="available: .*identity"):
        load_prompts("probes:nothing")
    with pytest.raises(InputError, match="not 'sharegpt'"):
        load_prompts(str(tmp_path / "missing.jsonl"))
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "a"}\n{"prompt": "b"}\nnot json\n')
    pf = load_prompts(str(f))
    assert [r.prompt for r in pf.records] == ["a", "b"] and len(pf.quarantined) == 1
    assert pf.records[0].id and pf.records[0].id != pf.records[1].id
