from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from distillwatch.lab import (
    StudentConfig,
    TrainResult,
    as_examples,
    finetune,
    heldout_kl,
    heldout_loss,
    train_student,
)
from distillwatch.lab.checkpoint import METADATA_FILE, load_checkpoint, read_metadata
from distillwatch.lab.encoding import IGNORE_INDEX, encode_examples, pad_batch


def _weights_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_presets_have_the_advertised_sizes(tok):
    sizes = {name: StudentConfig.preset(name).n_params(tok) for name in ("tiny", "1m", "5m")}
    assert sizes["tiny"] < 200_000
    assert 0.5e6 < sizes["1m"] < 1.5e6
    assert 3.5e6 < sizes["5m"] < 6e6
    with pytest.raises(ValueError):
        StudentConfig.preset("huge")
    with pytest.raises(ValueError):
        StudentConfig(d_model=65, n_heads=4)


def test_training_is_deterministic_under_a_seed(tok, tiny, answers):
    calls = []
    kw = dict(steps=8, batch_size=8, lr=3e-3, num_threads=1)
    a = train_student(answers["A"], tok, tiny, seed=7, progress=lambda *c: calls.append(c), **kw)
    b = train_student(answers["A"], tok, tiny, seed=7, **kw)
    c = train_student(answers["A"], tok, tiny, seed=8, **kw)
    assert a.loss_curve == b.loss_curve and _weights_equal(a.model, b.model)
    assert not _weights_equal(a.model, c.model)
    assert [s for s, _, _ in calls] == list(range(1, 9)) and {t for _, t, _ in calls} == {8}
    assert [x for _, _, x in calls] == a.loss_curve
    assert a.data_sha256 == c.data_sha256 and a.steps == 8 and a.tokens > a.target_tokens > 0


def test_thread_count_is_set_and_restored(tok, tiny, answers):
    before = torch.get_num_threads()
    seen = []
    train_student(
        answers["A"][:8],
        tok,
        tiny,
        steps=1,
        num_threads=1,
        progress=lambda *_: seen.append(torch.get_num_threads()),
    )
    assert seen == [1] and torch.get_num_threads() == before


def _prompt_token_loss(model, tok, prompt, response) -> float:
    """Mean loss on the prompt's own tokens (as if they were targets)."""
    (enc,) = encode_examples(tok, as_examples([(prompt, response)]), max_len=96)
    ids, mask, labels = pad_batch([enc], tok.pad_token_id)
    n_prompt = enc.labels.index(next(x for x in enc.labels if x != IGNORE_INDEX))
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[0, : n_prompt - 1]
    return float(torch.nn.functional.cross_entropy(logits, ids[0, 1:n_prompt]))


def test_prompt_tokens_are_not_learned(tok, tiny, answers):
    """With the prompt masked its tokens stay unpredictable; trained on as text, they are learned."""
    prompt = "Zebra quokka xylophone jigsaw vortex kumquat."
    pairs = [(prompt, a) for _, a in answers["A"]]
    kw = dict(steps=60, batch_size=16, lr=5e-3, seed=0)
    masked = train_student(pairs, tok, tiny, **kw)
    as_text = train_student(
        [
            tok.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            + a
            for a in (a for _, a in pairs)
        ],
        tok,
        tiny,
        **kw,
    )
    start = _prompt_token_loss(tiny.build(tok, seed=0), tok, prompt, "x")
    after_masked = _prompt_token_loss(masked.model, tok, prompt, "x")
    after_text = _prompt_token_loss(as_text.model, tok, prompt, "x")
    assert after_text < 0.5 < start - 3
    assert after_masked > start - 0.5
    # while the responses were learned
    assert masked.loss_curve[-1] < 0.5 * masked.loss_curve[0]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_checkpoint_reloads_and_generates(tok, tiny, answers, tmp_path, arch):
    cfg = StudentConfig.preset("tiny", arch=arch, max_len=96)
    res = train_student(answers["A"], tok, cfg, steps=30, batch_size=16, lr=5e-3, out_dir=tmp_path)
    assert isinstance(res, TrainResult) and res.path == tmp_path
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert model.config.model_type == arch
    assert _weights_equal(model, res.model)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    assert read_metadata(tmp_path) == meta == json.loads(json.dumps(res.metadata))
    assert _weights_equal(load_checkpoint(tmp_path)[0], res.model)
    assert meta["data_sha256"] == res.data_sha256 and meta["loss_curve"] == res.loss_curve
    assert meta["steps"] == 30 and meta["student_config"]["arch"] == arch and meta["params"] == res.params
    assert meta["sources"] == {"": len(answers["A"])}
    inputs = loaded.apply_chat_template(
        [{"role": "user", "content": "Tell me about lists."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=40, do_sample=False)
    text = loaded.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.startswith("Certainly")


def test_logit_distillation_reduces_kl(tok, tiny, human):
    teacher = train_student(human, tok, tiny, steps=30, batch_size=16, lr=5e-3, seed=1).model
    fresh = tiny.build(tok, seed=2)
    before = heldout_kl((fresh, tok), (teacher, tok), human[:24])
    student = train_student(  # on texts other than the ones the KL is measured on
        human[24:], tok, tiny, steps=30, batch_size=16, lr=5e-3, seed=2, teacher=teacher, kl_weight=1.0
    )
    after = heldout_kl(student, (teacher, tok), human[:24])
    assert after < 0.3 * before
    assert student.metadata["kl_weight"] == 1.0 and student.metadata["teacher"]
    # the teacher was not trained along
    assert not any(p.requires_grad for p in teacher.parameters())


def test_teacher_must_share_the_tokenizer(tok, tiny, human, tmp_path):
    from distillwatch.lab import train_tokenizer

    other = train_tokenizer(human[:30], vocab_size=300)
    train_student(human[:8], other, StudentConfig.preset("tiny", max_len=64), steps=1, out_dir=tmp_path)
    with pytest.raises(ValueError, match="tokenizer"):
        train_student(human[:8], tok, tiny, steps=1, teacher=tmp_path)
    train_student(human[:8], tok, tiny, steps=1, out_dir=tmp_path / "same")
    res = train_student(human[:8], tok, tiny, steps=1, teacher=tmp_path / "same")
    assert res.metadata["teacher"] == str(tmp_path / "same")


def test_finetune_an_existing_checkpoint(tok, tiny, answers, tmp_path):
    base = train_student(answers["A"], tok, tiny, steps=20, batch_size=16, lr=5e-3, out_dir=tmp_path / "base")
    before = heldout_loss(base, answers["B"][:16])
    tuned = finetune(
        tmp_path / "base", answers["B"], steps=20, batch_size=16, lr=3e-3, out_dir=tmp_path / "tuned"
    )
    assert heldout_loss(tmp_path / "tuned", answers["B"][:16]) < before - 0.5
    assert tuned.metadata["init"] == str(tmp_path / "base")
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "tuned").config.model_type == "llama"
