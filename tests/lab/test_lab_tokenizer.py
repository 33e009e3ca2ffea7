from __future__ import annotations

from transformers import AutoTokenizer

from distillwatch.lab import load_tokenizer, train_tokenizer
from distillwatch.lab.tokenizer import CHATML_TEMPLATE


def test_vocab_and_special_tokens(tok):
    assert len(tok) <= 512
    for name in ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"):
        assert len(tok.encode(name, add_special_tokens=False)) == 1
    assert tok.bos_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}) == 3


def test_round_trip_any_text(tok):
    for text in ["def f(x):\n    return x ** 2\n", "héllo wörld ✓ 日本語 🙂", "  leading spaces\ttabs", ""]:
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text


def test_bpe_learns_merges(tok, human):
    text = human[0]
    assert len(tok.encode(text, add_special_tokens=False)) < 0.6 * len(text.encode())


def test_chat_template(tok):
    msgs = [{"role": "user", "content": "Hi there"}]
    rendered = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert rendered == "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    full = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "Hello"}], tokenize=False)
    assert full.endswith("<|im_start|>assistant\nHello<|im_end|>\n")


def test_training_is_deterministic(human):
    a = train_tokenizer(human[:40], vocab_size=400)
    b = train_tokenizer(human[:40], vocab_size=400)
    assert a.get_vocab() == b.get_vocab()


def test_save_and_reload(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    back = AutoTokenizer.from_pretrained(tmp_path)
    text = "Lists are mutable sequences."
    assert back.encode(text, add_special_tokens=False) == tok.encode(text, add_special_tokens=False)
    assert back.chat_template == CHATML_TEMPLATE
    assert (back.eos_token, back.pad_token, back.bos_token) == (tok.eos_token, tok.pad_token, tok.bos_token)
    again = load_tokenizer(tmp_path)
    assert again.get_vocab() == tok.get_vocab()


def test_load_tokenizer_adds_pad_and_template(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    bare = AutoTokenizer.from_pretrained(tmp_path)
    bare.chat_template = None
    bare.pad_token = None
    bare.save_pretrained(tmp_path / "bare")
    fixed = load_tokenizer(tmp_path / "bare")
    assert fixed.pad_token == fixed.eos_token
    assert fixed.chat_template == CHATML_TEMPLATE
    assert len(fixed) == len(tok)  # the ChatML tokens were already there
