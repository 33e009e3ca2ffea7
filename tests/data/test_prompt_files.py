import json

from distillwatch.data import read_prompt_file


def test_bad_lines_are_quarantined_with_reasons(tmp_path):
    path = tmp_path / "p.jsonl"
    lines = [
        json.dumps({"prompt": "good one", "id": 7}),
        '{"prompt": "truncated',
        json.dumps({"prompt": 5}),
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
        json.dumps({"other": 1}),
        json.dumps("a bare string"),
        "",
        json.dumps({"prompt": "   "}),
    ]
    path.write_text("\n".join(lines) + "\n")
    pf = read_prompt_file(path)
    assert [r.prompt for r in pf.records] == ["good one", [{"role": "user", "content": "hi"}], "a bare string"]
    assert pf.records[0].id == "7"
    assert [q["line"] for q in pf.quarantined] == [2, 3, 5, 8]
    assert "must be a string" in pf.quarantined[1]["reason"]
    out = pf.write_quarantine(tmp_path / "q.jsonl")
    assert len(out.read_text().splitlines()) == 4
