"""The served-answer test: exact under its null for any suspect (checked on many null served sets and on
a student of the same teacher trained on other answers), powerful on a student of the served answers;
reading served answers from a gateway-style log and a harvest file; its place in `trace` and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from distillwatch.cli import app
from distillwatch.errors import InputError
from distillwatch.models import GenerateRequest, get_model
from distillwatch.models._types import TokenScores
from distillwatch.provenance import (
    ServedAnswer,
    draw_fresh,
    load_served,
    prefix_overlap,
    served_test,
    teacher_referenced,
    trace,
)
from distillwatch.provenance.likelihood import per_character
from distillwatch.provenance.served import TEACHER_REFERENCED

from .zoo import TRAIN_PROMPTS


def _user(text: str) -> tuple[dict, ...]:
    return ({"role": "user", "content": text},)


def test_the_sign_test_counts_wins_and_losses_exactly():
    e = served_test(np.array([2.0] * 10 + [0.5, np.nan]), np.array([1.0] * 10 + [0.5, 0.0]))
    assert e.test == "served" and e.n == 11
    assert e.details["closer_to_served"] == 10 and e.details["ties"] == 1 and e.details["dropped_non_finite"] == 1
    assert e.p_value == pytest.approx(2.0 ** -10)
    assert served_test(np.zeros(5), np.ones(5)).p_value == 1.0
    with pytest.raises(ValueError):
        served_test(np.zeros(3), np.zeros(4))


def test_prefix_overlap_counts_shared_leading_words():
    assert prefix_overlap("The answer is 42.", ["the answer is 41", "An answer", "The answer is 42."]).tolist() == [3, 0, 5]


def _closeness(suspect, served, answers) -> np.ndarray:
    """The suspect's log-likelihood per character of each answer, as `trace` computes it."""
    return per_character(suspect.score([(s.prompt, a) for s, a in zip(served, answers)]), answers)


def _referenced(suspect, teacher, served, fresh) -> tuple[np.ndarray, np.ndarray]:
    """The suspect's two closenesses to each served answer and its redraw, referenced to the teacher's
    scoring, as `trace` computes them when both models score."""
    def both(answers):
        items = [(s.prompt, a) for s, a in zip(served, answers)]
        return teacher_referenced(suspect.score(items), teacher.score(items), answers)

    return both([s.answer for s in served]), both(fresh)


def _scores(*logprobs) -> TokenScores:
    return TokenScores(token_ids=list(range(len(logprobs))), logprobs=list(logprobs))


def test_teacher_referenced_closeness_in_excess_and_in_fidelity():
    answers = ["abcd", "abcdefgh", "ab"]
    suspect = [_scores(-1.0, -3.0), _scores(-2.0, -2.0, -2.0), None]
    teacher = [_scores(-2.0, -1.0), _scores(-1.0, -1.0), _scores(-1.0)]
    c = teacher_referenced(suspect, teacher, answers)
    assert c.shape == (3, 2)
    assert c[0, 0] == pytest.approx(-1 / 4) and c[1, 0] == pytest.approx(-4 / 8)  # per character
    assert c[0, 1] == pytest.approx(-1.5)  # |-1 - -2| and |-3 - -1|, averaged over tokens
    assert np.isnan(c[1, 1]) and np.isnan(c[2]).all()  # token counts differ; nothing scored


def test_several_measures_are_tested_apart_and_bonferroni_combined():
    served = np.array([[1.0, 0.0]] * 12 + [[0.0, np.nan]] * 4)
    fresh = np.array([[0.0, 1.0]] * 12 + [[1.0, 0.0]] * 4)
    e = served_test(served, fresh, closeness=("excess", "fidelity"))
    by = {m["closeness"]: m for m in e.details["measures"]}
    assert by["excess"]["closer_to_served"] == 12 and by["excess"]["closer_to_fresh"] == 4
    assert by["fidelity"]["closer_to_fresh"] == 12 and by["fidelity"]["dropped_non_finite"] == 4
    assert e.p_value == pytest.approx(2 * by["excess"]["p_value"]) and e.n == 16
    assert "Bonferroni" in e.method
    # a measure with no finite pair is not counted
    alone = served_test(served[:, :1].repeat(2, 1) * [1, np.nan], fresh, closeness=("excess", "fidelity"))
    assert alone.p_value == pytest.approx(by["excess"]["p_value"])
    with pytest.raises(ValueError):
        served_test(served, fresh, closeness="one name")


def _served_by(teacher, prompts, seed: int, temperature: float = 1.0, max_tokens: int = 8) -> list[ServedAnswer]:
    reqs = [GenerateRequest(_user(p), max_tokens=max_tokens, temperature=temperature, seed=seed * 7919 + i)
            for i, p in enumerate(prompts)]
    return [ServedAnswer(_user(p), c.text, temperature, max_tokens) for p, c in zip(prompts, teacher.generate(reqs))]


@pytest.mark.parametrize("closeness", ["suspect alone", "referenced to the teacher"])
def test_p_values_are_valid_under_the_null_over_many_served_sets(closeness):
    """A suspect that never saw the served answers (here: a different mock model) rejects at α no more
    often than α, over 300 independent served sets: with its own log-likelihood as the closeness, and with
    the two closenesses referenced to the teacher's scoring that `trace` uses when the teacher scores (both
    measured: the mock models share a vocabulary)."""
    teacher, suspect = get_model("mock/teacher", cache=False), get_model("mock/other", cache=False)
    prompts = [f"Question {i}: name a colour." for i in range(30)]
    ps = []
    for rep in range(300):
        served = _served_by(teacher, prompts, seed=rep)
        fresh = draw_fresh(teacher, served, seed=10_000 + rep)
        if closeness == "suspect alone":
            e = served_test(_closeness(suspect, served, [s.answer for s in served]), _closeness(suspect, served, fresh))
        else:
            e = served_test(*_referenced(suspect, teacher, served, fresh), closeness=("excess", "fidelity"))
            assert len(e.details["measures"]) == 2 and all(m["dropped_non_finite"] == 0 for m in e.details["measures"])
        ps.append(e.p_value)
    ps = np.array(ps)
    for alpha in (0.01, 0.05, 0.2):
        assert np.mean(ps <= alpha) <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / len(ps))
    assert np.mean(ps <= 0.5) > 0.3  # not degenerate: the p-values spread over the unit interval


def _harvest(teacher, first_seed: int) -> list[ServedAnswer]:
    answers = teacher.generate([GenerateRequest(_user(p), max_tokens=36, temperature=1.0, seed=first_seed + k)
                                for k, p in enumerate(TRAIN_PROMPTS)])
    return [ServedAnswer(_user(p), c.text, 1.0, 36) for p, c in zip(TRAIN_PROMPTS, answers)]


@pytest.fixture(scope="module")
def harvest(zoo):
    """Answers the teacher served (sampled at temperature 1)."""
    return _harvest(zoo["T"], 0)


@pytest.fixture(scope="module")
def students(zoo, harvest, tmp_path_factory):
    """Two students of the same teacher trained alike (twenty passes, as a harvester with few answers
    would): one on the 96 served answers, one on other answers of the teacher to the same prompts."""
    from distillwatch.lab import StudentConfig, train_student
    from distillwatch.models.hf import HFModel

    out = {}
    for name, data in (("served", harvest), ("other", _harvest(zoo["T"], 5000))):
        path = train_student([(s.prompt[0]["content"], s.answer) for s in data], zoo["T"].tokenizer,
                             StudentConfig.preset("tiny", max_len=96), seed=12, steps=240, batch_size=8, lr=8e-3,
                             num_threads=1, out_dir=tmp_path_factory.mktemp(f"student-{name}")).path
        out[name] = HFModel(path)
    return out


def _served_p(suspect, teacher, served) -> float:
    fresh = draw_fresh(teacher, served, seed=1)
    return served_test(_closeness(suspect, served, [s.answer for s in served]),
                       _closeness(suspect, served, fresh)).p_value


def test_the_student_of_the_served_answers_is_caught_and_other_models_are_not(zoo, harvest, students):
    served = harvest[::2]  # 48 of the answers the student was trained on
    assert _served_p(students["served"], zoo["T"], served) <= 1e-6
    assert _served_p(zoo["sibling"], zoo["T"], served) > 0.01
    # the hard case: derived from the same teacher, but not from these answers, so the null holds
    assert _served_p(students["other"], zoo["T"], served) > 0.01


def test_trace_with_served_answers_attributes_the_student_within_budget(zoo, harvest, students, embedder):
    kw = {"budget": 150, "probes": TRAIN_PROMPTS, "max_tokens": 24, "seed": 0, "n_permutations": 200,
          "embedder": embedder, "served": harvest}
    r = trace(students["served"], zoo["T"], [zoo["C1"], zoo["C2"]], **kw)
    served = next(e for e in r.evidence if e.test == "served")
    assert r.verdict == "derived" and served.p_value <= 0.01 and r.queries <= 150
    assert r.decisive == ["served"]  # with served answers, the exact test decides alone
    # the teacher scores, so the closeness is referenced to it, in both measures
    assert tuple(m["closeness"] for m in served.details["measures"]) == TEACHER_REFERENCED
    r = trace(zoo["sibling"], zoo["T"], [zoo["C1"], zoo["C2"]], **kw)
    assert r.verdict != "derived" and next(e for e in r.evidence if e.test == "served").p_value > 0.01


def test_a_suspect_that_cannot_score_is_compared_by_its_answers():
    from distillwatch.models.mock import MockModel

    class Unscored(MockModel):
        supports_score = False

    teacher = get_model("mock/teacher", cache=False)
    served = _served_by(teacher, [f"Question {i}: name a number." for i in range(40)], seed=3, temperature=0.0)
    # a copy of the served answers: an API that answers exactly what was served
    served = [ServedAnswer(s.prompt, s.answer, 1.0, s.max_tokens) for s in served]
    r = trace(Unscored("teacher"), teacher, ["mock/c1", "mock/c2"], budget=60, probes=[s.prompt[0]["content"] for s in served],
              served=served, embedder="ngrams", n_permutations=100)
    e = next(e for e in r.evidence if e.test == "served")
    assert "leading words" in e.method and e.details["closer_to_served"] > e.details["closer_to_fresh"]


def test_served_answers_load_from_a_log_with_reasons_for_what_is_left_out(tmp_path):
    import pyarrow.parquet as pq

    from distillwatch.traffic.schema import from_records

    base = {"timestamp": "2026-03-02T10:00:00Z", "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "response_text": "hello there", "temperature": 0.7, "max_tokens": 16, "status": 200}
    rows = [
        {**base, "request_id": "a", "account_id": "acct-1"},
        {**base, "request_id": "b", "account_id": "acct-1", "status": 429, "response_text": None},
        {**base, "request_id": "c", "account_id": "acct-1", "temperature": 0.0},
        {**base, "request_id": "d", "account_id": "acct-1", "n": 2},
        {**base, "request_id": "e", "account_id": "acct-1", "response_text": "  "},
        {**base, "request_id": "f", "account_id": "acct-2"},
    ]
    (tmp_path / "log").mkdir()
    pq.write_table(from_records(rows), tmp_path / "log" / "part-0.parquet")
    served, skipped = load_served(tmp_path / "log", accounts=["acct-1"])
    assert [s.answer for s in served] == ["hello there"] and served[0].prompt == _user("hi")
    assert served[0].temperature == 0.7 and served[0].max_tokens == 16 and served[0].account_id == "acct-1"
    assert skipped == {"not answered": 1, "greedy (no sampling randomness)": 1, "several choices": 1,
                       "empty answer": 1}
    assert len(load_served(tmp_path / "log")[0]) == 2
    with pytest.raises(InputError, match="no such file"):
        load_served(tmp_path / "missing.parquet")


def test_a_harvest_without_settings_needs_defaults(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"id": "1", "prompt": "Name a colour.", "response": "Blue."}) + "\n")
    with pytest.raises(InputError, match="temperature or max_tokens"):
        load_served(path)
    served, _ = load_served(path, temperature=0.8, max_tokens=12)
    assert served == [ServedAnswer(_user("Name a colour."), "Blue.", 0.8, 12)]


def test_trace_cli_with_served_answers(tmp_path):
    from distillwatch.data import PromptRecord
    from distillwatch.lab.harvesting import harvest as run_harvest

    prompts = [PromptRecord(prompt=f"Question {i}: name a colour.", line=i + 1, id=str(i)) for i in range(40)]
    path = tmp_path / "served.jsonl"
    run_harvest("mock/teacher", prompts, path, temperature=1.0, max_tokens=8, progress=False)
    args = ["trace", "--suspect", "mock/other", "--teacher", "mock/teacher", "--control", "mock/c1", "--control",
            "mock/c2", "--budget", "60", "--out", str(tmp_path / "out"), "--json", "--no-cache", "--served", str(path)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)  # with --json, stdout is the record alone (progress and notes go to stderr)
    served = next(e for e in rec["evidence"] if e["test"] == "served")
    assert served["n"] > 0 and rec["queries"] <= 60
    r = CliRunner().invoke(app, args[:-1] + [str(tmp_path / "missing.jsonl")])
    assert r.exit_code != 0 and isinstance(r.exception, InputError) and "no such file" in str(r.exception)
