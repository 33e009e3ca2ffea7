"""How close a student is to a teacher: its held-out loss on the teacher's answers.

A student distilled from teacher A predicts A's answers better than a sibling trained on teacher B's
answers does, and better than it predicts B's answers. `closeness_table` lays this out as a
student × teacher matrix of mean negative log-likelihoods of each teacher's held-out answers (response
tokens only, the prompt is context). With ``per="byte"`` the loss is per UTF-8 byte of the answers, which
compares students with different tokenizers fairly.

A student is a checkpoint directory, a ``(model, tokenizer)`` pair, a `TrainResult`, or any object with
the `Model` protocol's ``score`` (whose teacher-forced log-probabilities are used as they are).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .corpus import Example, ExampleLike, as_examples
from .encoding import IGNORE_INDEX, context_length, encode_examples, pad_batch

__all__ = ["ClosenessTable", "closeness_table", "example_losses", "heldout_kl", "heldout_loss"]


def example_losses(
    student: Any,
    pairs: Sequence[ExampleLike],
    *,
    per: str = "token",
    batch_size: int = 16,
    max_len: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per example, the summed negative log-likelihood (nats) of its response and the number of units
    (tokens, or bytes with ``per="byte"``) it is averaged over, as two arrays. A response cut off by the
    context length counts only the part that was scored."""
    if per not in ("token", "byte"):
        raise ValueError(f"per must be 'token' or 'byte', got {per!r}")
    exs = as_examples(pairs)
    if _is_protocol_model(student):
        nll, n_tok, n_bytes = _protocol_nll(student, exs)
    else:
        model, tok = _resolve(student)
        nll, n_tok, n_bytes = _nll(model, tok, exs, batch_size=batch_size, max_len=max_len)
    return nll, (n_bytes if per == "byte" else n_tok)


def heldout_loss(
    student: Any,
    pairs: Sequence[ExampleLike],
    *,
    per: str = "token",
    batch_size: int = 16,
    max_len: int | None = None,
) -> float:
    """Mean negative log-likelihood per response token (or byte) over all of `pairs`, pooled."""
    nll, units = example_losses(student, pairs, per=per, batch_size=batch_size, max_len=max_len)
    return float(nll.sum() / units.sum()) if units.sum() > 0 else float("nan")


def heldout_kl(
    student: Any,
    teacher: Any,
    examples: Sequence[ExampleLike],
    *,
    temperature: float = 1.0,
    batch_size: int = 16,
    max_len: int | None = None,
) -> float:
    """Mean over target positions of KL(teacher ‖ student) at `temperature`, in nats; the two models
    must share the student's tokenizer (the teacher's extra vocabulary, if any, is cut off)."""
    import torch
    import torch.nn.functional as F

    s_model, tok = _resolve(student)
    t_model, _ = _resolve(teacher, tokenizer=tok)
    vocab = s_model.get_output_embeddings().weight.shape[0]
    encoded = encode_examples(tok, as_examples(examples), max_len=max_len or context_length(s_model))
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            ids, mask, labels = pad_batch(encoded[i : i + batch_size], tok.pad_token_id)
            keep = labels[:, 1:] != IGNORE_INDEX
            s = s_model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()[keep]
            t = t_model(input_ids=ids, attention_mask=mask).logits[:, :-1, :vocab].float()[keep]
            t_log = F.log_softmax(t / temperature, dim=-1)
            s_log = F.log_softmax(s / temperature, dim=-1)
            total += float((t_log.exp() * (t_log - s_log)).sum())
            count += int(keep.sum())
    return total / count if count else float("nan")


@dataclass(frozen=True)
class ClosenessTable:
    """`losses[i, j]`: student i's mean loss on teacher j's held-out answers (lower is closer)."""

    students: tuple[str, ...]
    teachers: tuple[str, ...]
    losses: np.ndarray
    per: str = "token"

    def loss(self, student: str, teacher: str) -> float:
        return float(self.losses[self.students.index(student), self.teachers.index(teacher)])

    def closest_teacher(self) -> dict[str, str]:
        """For each student, the teacher whose answers it predicts best."""
        return {s: self.teachers[int(np.argmin(row))] for s, row in zip(self.students, self.losses)}

    def closest_student(self) -> dict[str, str]:
        """For each teacher, the student that predicts its answers best."""
        return {t: self.students[int(np.argmin(col))] for t, col in zip(self.teachers, self.losses.T)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "students": list(self.students),
            "teachers": list(self.teachers),
            "losses": self.losses.tolist(),
            "per": self.per,
        }

    def __str__(self) -> str:
        width = max(len(s) for s in ("student",) + self.students)
        cols = [max(9, len(t)) for t in self.teachers]
        head = "student".ljust(width) + "".join(f"  {t:>{w}}" for t, w in zip(self.teachers, cols))
        rows = [
            s.ljust(width) + "".join(f"  {v:>{w}.4f}" for v, w in zip(row, cols))
            for s, row in zip(self.students, self.losses)
        ]
        return "\n".join([f"mean loss per {self.per} (nats) on each teacher's answers", head, *rows])


def closeness_table(
    students: Mapping[str, Any],
    answers: Mapping[str, Sequence[ExampleLike]],
    *,
    per: str = "token",
    batch_size: int = 16,
    max_len: int | None = None,
) -> ClosenessTable:
    """Every student's held-out loss on every teacher's answers (`answers` maps a teacher's name to its
    (prompt, answer) pairs). Each student is loaded once."""
    losses = np.empty((len(students), len(answers)), dtype=np.float64)
    for i, student in enumerate(students.values()):
        resolved = student if _is_protocol_model(student) else _resolve(student)
        for j, pairs in enumerate(answers.values()):
            losses[i, j] = heldout_loss(resolved, pairs, per=per, batch_size=batch_size, max_len=max_len)
    return ClosenessTable(tuple(students), tuple(answers), losses, per)


# --- scoring --------------------------------------------------------------------------------


def _nll(
    model: Any, tok: Any, exs: list[Example], *, batch_size: int, max_len: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summed response NLL, token count and byte count per example (no eos: the answer's own tokens)."""
    import torch
    import torch.nn.functional as F

    if any(not e.is_pair for e in exs):
        raise ValueError("held-out loss is taken on (prompt, response) pairs")
    encoded = encode_examples(tok, exs, max_len=max_len or context_length(model), add_eos=False)
    order = np.argsort([len(e.input_ids) for e in encoded], kind="stable")  # less padding per batch
    nll = np.zeros(len(exs), dtype=np.float64)
    count = np.zeros(len(exs), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask, labels = pad_batch([encoded[k] for k in idx], tok.pad_token_id)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            targets = labels[:, 1:]
            keep = targets != IGNORE_INDEX
            token_nll = F.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none") * keep
            nll[idx] = token_nll.sum(dim=1).double().numpy()
            count[idx] = keep.sum(dim=1).double().numpy()
    n_bytes = np.array(
        [len(tok.decode([t for t in e.labels if t != IGNORE_INDEX]).encode("utf-8")) for e in encoded],
        dtype=np.float64,
    )
    return nll, count, n_bytes


def _protocol_nll(model: Any, exs: list[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if any(not e.is_pair for e in exs):
        raise ValueError("held-out loss is taken on (prompt, response) pairs")
    scores = model.score([(e.messages, e.text) for e in exs])
    nll = np.array([-float(np.sum(s.logprobs)) for s in scores], dtype=np.float64)
    n_tok = np.array([len(s.logprobs) for s in scores], dtype=np.float64)
    return nll, n_tok, np.array([len(e.text.encode("utf-8")) for e in exs], dtype=np.float64)


def _is_protocol_model(obj: Any) -> bool:
    """A `distillwatch.models.Model` (duck-typed: this module does not import the backends)."""
    return hasattr(obj, "score") and hasattr(obj, "model_id") and hasattr(obj, "generate")


def _resolve(student: Any, tokenizer: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode from a directory, a pair, or a TrainResult."""
    if isinstance(student, (str, Path)):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(str(student))
        tok = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(str(student))
    elif isinstance(student, tuple):
        model, tok = student
    elif hasattr(student, "model") and hasattr(student, "tokenizer"):
        model, tok = student.model, student.tokenizer
        if model is None and getattr(student, "path", None) is not None:
            return _resolve(student.path, tokenizer)
    else:
        model, tok = student, tokenizer
    if tok is None:
        raise ValueError("a bare model needs a tokenizer")
    model.eval()
    return model, tok
