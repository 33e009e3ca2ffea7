"""The zoo: the packaged `ci` spec is built once (about 40 s of CPU on one thread), its manifest read back
and its ground truth and lineage claims checked; a second build resumes and does no new work."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from distillwatch.errors import InputError
from distillwatch.lab import read_metadata
from distillwatch.lab.zoo import (
    ZooSpec,
    build_zoo,
    load_spec,
    packaged_specs,
    read_manifest,
    sign_test,
)

MODEL_KEYS = {"name", "path", "role", "teacher", "rho", "watermarked", "seed", "params", "data_sha256",
              "loss_curve", "details"}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    built = build_zoo("ci", root, progress=False)
    return root, built


@pytest.fixture(scope="module")
def manifest(zoo):
    return read_manifest(zoo[0])


def test_manifest_schema(zoo, manifest):
    root, built = zoo
    raw = json.loads((root / "manifest.json").read_text())
    assert raw["format"] == "distillwatch.lab.zoo/1" and raw["spec"] == "ci"
    assert raw["models"] == built.models == manifest.models
    for m in manifest.models:
        assert set(m) == MODEL_KEYS
        assert m["role"] in ("teacher", "student", "independent")
        assert (root / m["path"] / "config.json").is_file()  # relative to the zoo, loadable as hf/<path>
        assert m["params"] > 0 and len(m["data_sha256"]) == 64 and m["loss_curve"]
        assert read_metadata(root / m["path"])["data_sha256"] == m["data_sha256"]
    table = manifest.closeness
    assert table["per"] == "byte" and table["teachers"] == ["tiny-pydoc", "tiny-sharegpt"]
    assert set(table["students"]) == {m["name"] for m in manifest.models}
    assert "tiny-pydoc" in manifest.closeness_text()


def test_model_paths_load_as_model_strings(manifest):
    from distillwatch.models import GenerateRequest, get_model

    model = get_model(manifest.model_string("pydoc-tiny-s0"), cache=False)
    (out,) = model.generate([GenerateRequest("What is a list?", max_tokens=8, temperature=0.0)])
    assert out.token_ids


def test_ground_truth(manifest):
    teachers = {m["name"]: m for m in manifest.by_role("teacher")}
    assert set(teachers) == {"tiny-pydoc", "tiny-sharegpt"}
    assert all(t["teacher"] is None and t["rho"] is None for t in teachers.values())
    students = manifest.by_role("student")
    assert {s["teacher"] for s in students} == set(teachers)
    assert sorted({s["rho"] for s in students}) == [0.05, 0.2, 1.0]
    assert not any(s["watermarked"] for s in students)
    assert manifest.model("sharegpt-tiny-s0")["details"]["via"] == "api"  # harvested through the server
    (ind,) = manifest.by_role("independent")
    assert ind["teacher"] is None and ind["rho"] == 0.0
    shas = [m["data_sha256"] for m in manifest.models]
    assert len(set(shas)) == len(shas)
    for m in manifest.models:  # training worked
        assert m["loss_curve"][-1] < m["loss_curve"][0] - 1.0


def test_lineage_claims_hold(manifest):
    pairs = [p for p in manifest.lineage if p["rho"] == 1.0]
    assert {(p["student"], p["sibling"]) for p in pairs} == {
        ("pydoc-tiny-s0", "sharegpt-tiny-s0"), ("sharegpt-tiny-s0", "pydoc-tiny-s0")}
    for p in pairs:
        # closer to its teacher than the sibling (a student of the other teacher on the same prompts) is
        assert p["loss_on_teacher"] < p["sibling_loss_on_teacher"]
        assert p["closer_than_sibling"] and p["p_closer"] < 0.01
        # and gains more over the human-text-only baseline on its own teacher's answers than on the other's
        assert p["prefers_own_teacher_vs_baseline"]
    loss = {s: dict(zip(manifest.closeness["teachers"], row))
            for s, row in zip(manifest.closeness["students"], manifest.closeness["losses"])}
    for s in manifest.by_role("student"):
        if s["rho"] == 1.0:  # a full student beats the independent on its teacher's answers
            assert loss[s["name"]][s["teacher"]] < loss["ind-docstrings"][s["teacher"]]
    # more teacher text, closer to the teacher
    assert loss["pydoc-tiny-s0"]["tiny-pydoc"] < loss["pydoc-tiny-s0-rho20"]["tiny-pydoc"] \
        < loss["pydoc-tiny-s0-rho5"]["tiny-pydoc"]


def test_resumed_build_does_no_new_work(zoo):
    root, built = zoo
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"
              and p.name != "spec.yaml"}
    again = build_zoo("ci", root, progress=False)
    assert again.build["ran"] == [] and again.models == built.models and again.lineage == built.lineage
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_changed_step_is_redone_alone(zoo, tmp_path):
    root, _ = zoo
    shutil.copytree(root, tmp_path / "zoo")
    spec = load_spec("ci").to_dict()
    spec["independents"][0]["steps"] = 40
    again = build_zoo(spec, tmp_path / "zoo", progress=False)
    assert again.build["ran"] == ["independent:ind-docstrings", "closeness"]
    assert len(again.model("ind-docstrings")["loss_curve"]) == 40


def test_packaged_specs():
    assert {"ci", "default"} <= set(packaged_specs())
    spec = load_spec("default")
    models = {t.model for t in spec.teachers if not t.trained}
    assert models == {"bundled/smollm2-135m-instruct", "bundled/gemma-3-270m"}
    assert len([t for t in spec.teachers if t.trained]) == 2
    assert {h.via for h in spec.harvests if h.teacher == "smollm2"} == {"api"}
    assert any(h.watermark for h in spec.harvests) and any(not h.watermark for h in spec.harvests)
    assert {s.rho for s in spec.students} >= {1.0, 0.2, 0.05}
    assert len({s.seed for s in spec.students}) > 1 and len({s.size for s in spec.students}) > 1
    assert spec.independents
    kl = [s for s in spec.students if s.kl_weight > 0]
    assert {spec.harvest(s.harvest).teacher for s in kl} >= {"smollm2"}
    assert all(s.tokenizer == "teacher" and s.name.endswith("-teachertok-kl") for s in kl)


def test_a_teacher_known_by_model_string_gets_a_closeness_row(tmp_path):
    spec = {"name": "m", "threads": 1, "tokenizer": {"vocab_size": 300, "sources": ["pydoc-topics"], "n": 40},
            "prompts": {"train": {"source": "sharegpt", "n": 8, "max_chars": 120},
                        "heldout": {"source": "sharegpt", "n": 4, "seed": 1, "max_chars": 120}},
            "heldout": {"prompts": "heldout", "n": 4, "max_tokens": 12},
            "teachers": [{"name": "b", "model": "mock/b"}],
            "harvests": [{"name": "hb", "teacher": "b", "n": 8, "max_tokens": 12}],
            "students": [{"harvest": "hb", "steps": 2, "batch_size": 4, "max_len": 64}]}
    built = build_zoo(spec, tmp_path, progress=False)
    table = built.closeness
    assert table["students"] == ["b", "hb-tiny-s0"]  # the mock teacher is scored through its backend
    own, student = (row[0] for row in table["losses"])
    assert 0 < own < student  # the teacher predicts its own answers best


def test_spec_grid_names_and_errors(tmp_path):
    base = {"name": "x", "prompts": {"train": {"n": 4}, "heldout": {"n": 2}},
            "teachers": [{"name": "a", "human": "pydoc-topics"}, {"name": "b", "model": "mock/b"}],
            "harvests": [{"name": "ha", "teacher": "a"}, {"name": "hb", "teacher": "b"}]}
    spec = ZooSpec.from_dict({**base, "students": [{"harvest": ["ha", "hb"], "seed": [0, 1], "rho": 0.2}]})
    assert [s.name for s in spec.students] == ["ha-tiny-s0-rho20", "ha-tiny-s1-rho20", "hb-tiny-s0-rho20",
                                               "hb-tiny-s1-rho20"]
    path = tmp_path / "x.yaml"
    path.write_text(json.dumps({**base, "students": [{"name": "s-{seed}", "harvest": "ha", "seed": [3, 4]}]}))
    assert [s.name for s in load_spec(path).students] == ["s-3", "s-4"]
    with pytest.raises(InputError, match="unknown teacher"):
        ZooSpec.from_dict({**base, "harvests": [{"name": "h", "teacher": "zz"}], "students": []})
    with pytest.raises(InputError, match="unknown field"):
        ZooSpec.from_dict({**base, "students": [{"harvest": "ha", "sizes": "1m"}]})
    with pytest.raises(InputError, match="exactly one"):
        ZooSpec.from_dict({**base, "teachers": [{"name": "a"}], "students": []})
    with pytest.raises(InputError, match="unique"):
        ZooSpec.from_dict({**base, "students": [{"name": "a", "harvest": "ha"}]})
    with pytest.raises(InputError, match="neither a file nor a packaged spec"):
        load_spec("no-such-spec")


def test_watermarked_harvest_needs_the_watermark_package(monkeypatch):
    from distillwatch.lab.zoo import _watermark_processor

    monkeypatch.setitem(sys.modules, "distillwatch.watermark", None)
    with pytest.raises(InputError, match="needs distillwatch.watermark"):
        _watermark_processor("kgw:lefthash", object())


def test_sign_test():
    assert sign_test([1, 1, 1], [2, 2, 2]) == 1 / 8
    assert sign_test([2, 2], [1, 1]) == 1.0
    assert sign_test([1, 2], [1, 2]) == 1.0  # all ties
