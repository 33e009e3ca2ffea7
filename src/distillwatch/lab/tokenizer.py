"""Tokenizers for lab models: train a small byte-level BPE, or reuse a teacher's.

A trained tokenizer is a transformers fast tokenizer with ``<|endoftext|>`` (bos), ``<|im_end|>``
(eos), ``<|pad|>`` and a ChatML chat template, so `save_pretrained` / `AutoTokenizer.from_pretrained`
round-trip it and `apply_chat_template` formats conversations the way the lab trains on them::

    <|im_start|>user
    What is a list?<|im_end|>
    <|im_start|>assistant
    A list is ...<|im_end|>
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .corpus import Example, ExampleLike, as_examples

__all__ = [
    "BOS_TOKEN",
    "CHATML_TEMPLATE",
    "EOS_TOKEN",
    "IM_START_TOKEN",
    "PAD_TOKEN",
    "load_tokenizer",
    "train_tokenizer",
]

BOS_TOKEN = "<|endoftext|>"
IM_START_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = (BOS_TOKEN, IM_START_TOKEN, EOS_TOKEN, PAD_TOKEN)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_tokenizer(
    texts: Iterable[ExampleLike],
    vocab_size: int = 4096,
    *,
    min_frequency: int = 2,
    model_max_length: int = 2048,
) -> Any:
    """A byte-level BPE tokenizer trained on `texts` (strings, pairs or `Example`s), as a transformers
    `PreTrainedTokenizerFast`. `vocab_size` counts the 256 byte symbols and the 4 special tokens; a
    small corpus may give fewer (``len(tokenizer)`` is the real size). Any byte string round-trips.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)}, got {vocab_size}")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_strings(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[IM_START_TOKEN],
        chat_template=CHATML_TEMPLATE,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(path: str | Path) -> Any:
    """A tokenizer from a local directory (a teacher's or a lab checkpoint's), made ready for training.

    A tokenizer without a pad token pads with its eos token; one without a chat template gets the
    ChatML template, and the ChatML tokens are added to it if it lacks them (which grows its vocabulary:
    a model trained with it no longer shares the original's).
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.eos_token is None:
        tok.add_special_tokens({"eos_token": EOS_TOKEN})
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        vocab = tok.get_vocab()
        missing = [t for t in (IM_START_TOKEN, EOS_TOKEN) if t not in vocab]
        if missing:
            tok.add_special_tokens({"additional_special_tokens": missing})
        tok.chat_template = CHATML_TEMPLATE
    return tok


def _strings(items: Iterable[ExampleLike]) -> Iterator[str]:
    for item in items:
        if isinstance(item, str):
            yield item
            continue
        (ex,) = as_examples([item])
        yield from _example_strings(ex)


def _example_strings(ex: Example) -> Iterator[str]:
    for m in ex.messages:
        yield m["content"]
    yield ex.text
