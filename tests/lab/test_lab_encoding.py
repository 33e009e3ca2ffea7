from __future__ import annotations

from distillwatch.lab import as_examples
from distillwatch.lab.encoding import IGNORE_INDEX, encode_examples, pad_batch


def test_prompt_tokens_are_masked(tok):
    (enc,) = encode_examples(tok, as_examples([("What is a set?", "An unordered collection.")]), max_len=96)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is a set?"}], add_generation_prompt=True, tokenize=False
    )
    n_prompt = len(tok.encode(prompt, add_special_tokens=False))
    response = tok.encode("An unordered collection.", add_special_tokens=False)
    assert enc.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert enc.labels[n_prompt:] == response + [tok.eos_token_id]
    assert enc.input_ids[n_prompt:] == response + [tok.eos_token_id]
    assert tok.decode(enc.input_ids) == prompt + "An unordered collection.<|im_end|>"
    assert enc.n_targets == len(response) + 1


def test_plain_text_trains_every_token(tok):
    (enc,) = encode_examples(tok, as_examples(["Plain human text."]), max_len=96)
    body = tok.encode("Plain human text.", add_special_tokens=False)
    assert enc.input_ids == [tok.bos_token_id] + body + [tok.eos_token_id]
    assert enc.labels == [IGNORE_INDEX] + body + [tok.eos_token_id]


def test_truncation_keeps_some_response(tok):
    long_prompt = "word " * 200
    (enc,) = encode_examples(tok, as_examples([(long_prompt, "the answer " * 50)]), max_len=64)
    assert len(enc.input_ids) == len(enc.labels) == 64
    assert enc.labels[:32] == [IGNORE_INDEX] * 32 and enc.n_targets == 32


def test_no_eos_for_scoring(tok):
    (enc,) = encode_examples(tok, as_examples([("q", "a b c")]), max_len=96, add_eos=False)
    assert enc.input_ids[-1] != tok.eos_token_id


def test_pad_batch(tok):
    encs = encode_examples(tok, as_examples(["short", "a much longer plain text here"]), max_len=96)
    ids, mask, labels = pad_batch(encs, tok.pad_token_id)
    assert ids.shape == mask.shape == labels.shape == (2, len(encs[1].input_ids))
    n0 = len(encs[0].input_ids)
    assert (
        mask[0].sum() == n0
        and (ids[0, n0:] == tok.pad_token_id).all()
        and (labels[0, n0:] == IGNORE_INDEX).all()
    )
