from __future__ import annotations

import pytest

from distillwatch.lab import closeness_table, example_losses, heldout_loss, train_student


@pytest.fixture(scope="module")
def students(tok, tiny, answers, tmp_path_factory):
    out = {}
    for name in ("A", "B"):
        path = tmp_path_factory.mktemp(f"student-{name}")
        out[name] = train_student(
            answers[name], tok, tiny, steps=50, batch_size=16, lr=5e-3, seed=0, out_dir=path
        )
    return out


def test_student_is_closest_to_its_own_teacher(students, heldout):
    table = closeness_table({f"s{k}": v for k, v in students.items()}, heldout)
    assert table.losses.shape == (2, 2)
    assert table.closest_teacher() == {"sA": "A", "sB": "B"}
    assert table.closest_student() == {"A": "sA", "B": "sB"}
    assert table.loss("sA", "A") < table.loss("sA", "B") - 1.0
    assert "sA" in str(table) and table.to_dict()["losses"] == table.losses.tolist()


def test_per_byte_table_from_checkpoint_dirs(students, heldout):
    table = closeness_table({k: v.path for k, v in students.items()}, heldout, per="byte")
    assert table.closest_teacher() == {"A": "A", "B": "B"}
    assert table.per == "byte"


def test_heldout_loss_is_the_pooled_token_mean(students, heldout, tok):
    pairs = heldout["A"]
    nll, n = example_losses(students["A"], pairs, batch_size=3)
    assert nll.shape == n.shape == (len(pairs),) and (n > 0).all()
    pooled = heldout_loss(students["A"], pairs)
    assert pooled == pytest.approx(nll.sum() / n.sum(), rel=1e-6)
    # in memory, from a directory, batched differently: the same numbers
    assert heldout_loss(students["A"].path, pairs, batch_size=5) == pytest.approx(pooled, rel=1e-5)
    # response tokens only: the count matches the responses' own tokens
    assert n[0] == len(tok.encode(pairs[0][1], add_special_tokens=False))
    _, n_bytes = example_losses(students["A"], pairs, per="byte")
    assert n_bytes.tolist() == [len(a.encode()) for _, a in pairs]
    # a response cut off by the context counts only what was scored
    _, cut = example_losses(students["A"], [("q", "word " * 200)], per="byte", max_len=40)
    assert 0 < cut[0] < 1000


def test_model_protocol_objects_are_scored_through_score(heldout):
    class Fixed:
        model_id = "fixed"

        def generate(self, requests, **kw):
            raise NotImplementedError

        def score(self, items, **kw):
            from distillwatch.models._types import TokenScores

            return [
                TokenScores(token_ids=[0] * len(r.split()), logprobs=[-2.0] * len(r.split()))
                for _, r in items
            ]

    assert heldout_loss(Fixed(), heldout["A"]) == pytest.approx(2.0)


def test_heldout_loss_needs_pairs(students):
    with pytest.raises(ValueError):
        heldout_loss(students["A"], ["plain text"])
    with pytest.raises(ValueError):
        example_losses(students["A"], [("q", "a")], per="word")


def test_checkpoints_load_in_the_hf_backend_and_score_the_same(students, heldout):
    """A lab checkpoint is an ordinary `hf/<dir>` model: it answers in its teacher's style and scores
    held-out answers exactly as the lab does."""
    from distillwatch.models import GenerateRequest, get_model

    model = get_model(f"hf/{students['A'].path}", cache=False)
    (out,) = model.generate([GenerateRequest([{"role": "user", "content": "Tell me about sets."}], max_tokens=48)])
    assert out.text.startswith("Certainly")
    direct = heldout_loss(students["A"], heldout["A"])
    assert heldout_loss(model, heldout["A"]) == pytest.approx(direct, rel=1e-5)
