"""Examples to token ids and labels: what a lab model is trained and scored on.

A (prompt, response) pair is the chat template's rendering of the prompt with the generation prompt,
then the response's tokens and the eos token; the prompt's labels are -100, so only the response (and
the eos that ends it) is trained on. A plain text is ``bos + text + eos`` and every token after bos is
a target. The response is tokenized on its own, exactly as a model generating after the prompt would
produce it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .corpus import Example

__all__ = ["IGNORE_INDEX", "Encoded", "context_length", "encode_examples", "pad_batch"]

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """One tokenized example: `input_ids`, and `labels` with -100 where no loss is taken."""

    input_ids: list[int]
    labels: list[int]

    @property
    def n_targets(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels[1:])


def encode_examples(
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    max_len: int,
    add_eos: bool = True,
) -> list[Encoded]:
    """Token ids and labels for each example, at most `max_len` tokens each.

    Sequences that are too long keep their start, except that a prompt longer than half of `max_len`
    keeps only its end (so some of the response is always left to learn from).
    """
    if max_len < 4:
        raise ValueError(f"max_len must be at least 4, got {max_len}")
    eos = tokenizer.eos_token_id
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
    prompts = [
        tokenizer.apply_chat_template(ex.messages, add_generation_prompt=True, tokenize=False)
        for ex in examples
        if ex.is_pair
    ]
    prompt_ids = iter(_encode(tokenizer, prompts))
    text_ids = _encode(tokenizer, [ex.text for ex in examples])
    out = []
    for ex, body in zip(examples, text_ids):
        tail = body + [eos] if add_eos else list(body)
        if ex.is_pair:
            head = next(prompt_ids)
            if len(head) + len(tail) > max_len and len(head) > max_len // 2:
                head = head[len(head) - max_len // 2 :]
        else:
            head = [bos]
        ids = (head + tail)[:max_len]
        labels = ([IGNORE_INDEX] * len(head) + tail)[:max_len]
        out.append(Encoded(ids, labels))
    return out


def pad_batch(batch: Sequence[Encoded], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-padded ``(input_ids, attention_mask, labels)`` long tensors for a batch."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        labels[i, :n] = torch.tensor(e.labels, dtype=torch.long)
        mask[i, :n] = 1
    return ids, mask, labels


def context_length(model: Any, default: int = 1024) -> int:
    """The longest sequence a transformers model takes, from its config."""
    cfg = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(cfg, name, None)
        if value:
            return int(value)
    return default


def _encode(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
