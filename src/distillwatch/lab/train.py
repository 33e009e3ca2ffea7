"""Train a student: sequence-level distillation, logit-level distillation, plain language modelling.

`train_student` builds a from-scratch model (`StudentConfig`) and trains it on examples:

- (prompt, response) pairs through the chat template, loss on the response tokens only — sequence-level
  distillation when the responses are a teacher's answers;
- plain texts, loss on every token;
- with a local `teacher` sharing the tokenizer, the loss is
  ``(1 - kl_weight) * CE + kl_weight * T² * KL(teacher_T ‖ student_T)`` on the same target positions —
  logit-level distillation (Hinton et al., 2015).

`finetune` runs the same loop on an existing transformers model directory. Runs are deterministic
under `seed` (initialisation and data order; same thread count). With `out_dir` the result is saved
as a checkpoint (`checkpoint.py`).
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import save_checkpoint
from .corpus import ExampleLike, as_examples, data_sha256
from .encoding import IGNORE_INDEX, Encoded, context_length, encode_examples, pad_batch
from .student import StudentConfig
from .tokenizer import load_tokenizer

__all__ = ["ProgressCallback", "TrainResult", "finetune", "train_student"]

ProgressCallback = Callable[[int, int, float], None]
"""Called after each optimizer step with (step, total_steps, loss)."""


@dataclass
class TrainResult:
    """What a training run produced. `model` and `tokenizer` are the trained objects, in memory."""

    path: Path | None
    params: int
    loss_curve: list[float] = field(repr=False)
    data_sha256: str
    seconds: float
    steps: int = 0
    tokens: int = 0  # input tokens processed (padding excluded), over all steps
    target_tokens: int = 0  # tokens the loss was taken on, over all steps
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    model: Any = field(default=None, repr=False, compare=False)
    tokenizer: Any = field(default=None, repr=False, compare=False)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


def train_student(
    examples: Sequence[ExampleLike],
    tokenizer: Any,
    config: StudentConfig | str = "1m",
    *,
    seed: int = 0,
    epochs: int = 1,
    steps: int | None = None,
    lr: float = 1e-3,
    batch_size: int = 16,
    weight_decay: float = 0.01,
    warmup: float = 0.05,
    grad_clip: float = 1.0,
    out_dir: str | Path | None = None,
    teacher: Any = None,
    kl_weight: float = 0.5,
    temperature: float = 1.0,
    num_threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train a from-scratch student on `examples` and, with `out_dir`, save it as a checkpoint.

    `tokenizer` is a tokenizer object or a local directory to load one from; `config` a
    `StudentConfig` or a preset name. Training runs `steps` optimizer steps, or `epochs` passes over
    the data without it; the learning rate warms up linearly over the first `warmup` fraction of steps
    and then decays on a cosine to a tenth. `teacher` (a model or a local directory) turns on logit-level
    distillation weighted by `kl_weight` at `temperature`. `num_threads` sets torch's CPU threads for the
    run (restored after).
    """
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, (str, Path)) else tokenizer
    cfg = StudentConfig.preset(config) if isinstance(config, str) else config
    with _num_threads(num_threads):
        model = cfg.build(tok, seed=seed)
        return _fit(
            model,
            tok,
            examples,
            max_len=cfg.max_len,
            seed=seed,
            epochs=epochs,
            steps=steps,
            lr=lr,
            batch_size=batch_size,
            weight_decay=weight_decay,
            warmup=warmup,
            grad_clip=grad_clip,
            out_dir=out_dir,
            teacher=teacher,
            kl_weight=kl_weight,
            temperature=temperature,
            progress=progress,
            extra={"student_config": cfg.to_dict(), "init": "scratch"},
        )


def finetune(
    model_dir: str | Path,
    examples: Sequence[ExampleLike],
    *,
    seed: int = 0,
    epochs: int = 1,
    steps: int | None = None,
    lr: float = 5e-5,
    batch_size: int = 8,
    weight_decay: float = 0.0,
    warmup: float = 0.05,
    grad_clip: float = 1.0,
    max_len: int | None = None,
    out_dir: str | Path | None = None,
    teacher: Any = None,
    kl_weight: float = 0.5,
    temperature: float = 1.0,
    num_threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Fine-tune an existing causal LM (a local transformers directory) on `examples`, like
    `train_student`. `max_len` defaults to the model's context length, capped at 1024."""
    from transformers import AutoModelForCausalLM

    with _num_threads(num_threads):
        tok = load_tokenizer(model_dir)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="float32")
        if len(tok) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tok))
        if max_len is None:
            max_len = min(context_length(model), 1024)
        return _fit(
            model,
            tok,
            examples,
            max_len=max_len,
            seed=seed,
            epochs=epochs,
            steps=steps,
            lr=lr,
            batch_size=batch_size,
            weight_decay=weight_decay,
            warmup=warmup,
            grad_clip=grad_clip,
            out_dir=out_dir,
            teacher=teacher,
            kl_weight=kl_weight,
            temperature=temperature,
            progress=progress,
            extra={"init": str(model_dir)},
        )


# --- the loop -------------------------------------------------------------------------------


def _fit(
    model: Any,
    tok: Any,
    examples: Sequence[ExampleLike],
    *,
    max_len: int,
    seed: int,
    epochs: int,
    steps: int | None,
    lr: float,
    batch_size: int,
    weight_decay: float,
    warmup: float,
    grad_clip: float,
    out_dir: str | Path | None,
    teacher: Any,
    kl_weight: float,
    temperature: float,
    progress: ProgressCallback | None,
    extra: dict[str, Any],
) -> TrainResult:
    import torch

    if not 0.0 <= kl_weight <= 1.0:
        raise ValueError(f"kl_weight must be in [0, 1], got {kl_weight}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    exs = as_examples(examples)
    encoded = [e for e in encode_examples(tok, exs, max_len=max_len) if e.n_targets > 0]
    if not encoded:
        raise ValueError("no example has a token to train on")
    per_epoch = math.ceil(len(encoded) / batch_size)
    total = steps if steps is not None else epochs * per_epoch
    if total < 1:
        raise ValueError("training needs at least one step")
    teacher_model, teacher_name = _resolve_teacher(teacher, tok)
    vocab = model.get_output_embeddings().weight.shape[0]

    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.95),
    )
    n_warm = max(1, round(warmup * total)) if warmup > 0 else 0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, n_warm, total))

    model.train()
    curve: list[float] = []
    n_tokens = n_targets = 0
    start = time.perf_counter()
    for step, batch in enumerate(_batches(encoded, batch_size, total, seed), start=1):
        ids, mask, labels = pad_batch(batch, tok.pad_token_id)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = labels[:, 1:]
        keep = targets != IGNORE_INDEX
        ce = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
        loss = ce
        if teacher_model is not None:
            with torch.no_grad():
                t_logits = teacher_model(input_ids=ids, attention_mask=mask).logits[:, :-1, :vocab].float()
            kl = _kl(t_logits[keep], logits[keep], temperature)
            loss = (1 - kl_weight) * ce + kl_weight * temperature**2 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
        n_tokens += int(mask.sum())
        n_targets += int(keep.sum())
        if progress is not None:
            progress(step, total, curve[-1])
    seconds = time.perf_counter() - start
    model.eval()

    params = sum(p.numel() for p in model.parameters())
    metadata = {
        "format": "distillwatch.lab.train/1",
        **extra,
        "arch": model.config.model_type,
        "params": params,
        "seed": seed,
        "epochs": round(total / per_epoch, 3),  # passes over the data actually made
        "steps": total,
        "lr": lr,
        "batch_size": batch_size,
        "weight_decay": weight_decay,
        "warmup": warmup,
        "grad_clip": grad_clip,
        "max_len": max_len,
        "teacher": teacher_name,
        "kl_weight": kl_weight if teacher_model is not None else 0.0,
        "temperature": temperature if teacher_model is not None else None,
        "n_examples": len(exs),
        "n_pairs": sum(e.is_pair for e in exs),
        "n_trained": len(encoded),
        "sources": _source_counts(exs),
        "data_sha256": data_sha256(exs),
        "tokens": n_tokens,
        "target_tokens": n_targets,
        "seconds": round(seconds, 3),
        "num_threads": torch.get_num_threads(),
        "loss_curve": curve,
        "versions": _versions(),
    }
    path = None
    if out_dir is not None:
        path = save_checkpoint(model, tok, out_dir, metadata)
    return TrainResult(
        path=path,
        params=params,
        loss_curve=curve,
        data_sha256=metadata["data_sha256"],
        seconds=seconds,
        steps=total,
        tokens=n_tokens,
        target_tokens=n_targets,
        metadata=metadata,
        model=model,
        tokenizer=tok,
    )


def _batches(encoded: list[Encoded], batch_size: int, total: int, seed: int) -> Iterator[list[Encoded]]:
    """`total` batches: passes over the data, each in a fresh seeded order (the last batch of a pass
    may be short)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    made = 0
    while True:
        order = torch.randperm(len(encoded), generator=gen).tolist()
        for i in range(0, len(order), batch_size):
            yield [encoded[j] for j in order[i : i + batch_size]]
            made += 1
            if made == total:
                return


def _kl(teacher_logits: Any, student_logits: Any, temperature: float) -> Any:
    """Mean over positions of KL(softmax(t/T) ‖ softmax(s/T))."""
    import torch.nn.functional as F

    t = F.log_softmax(teacher_logits / temperature, dim=-1)
    s = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean")


def _lr_factor(step: int, n_warm: int, total: int) -> float:
    if step < n_warm:
        return (step + 1) / n_warm
    progress = (step - n_warm) / max(1, total - n_warm)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _resolve_teacher(teacher: Any, tok: Any) -> tuple[Any, str | None]:
    if teacher is None:
        return None, None
    if isinstance(teacher, (str, Path)):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t_tok = AutoTokenizer.from_pretrained(str(teacher))
        if t_tok.get_vocab() != tok.get_vocab():
            raise ValueError(f"teacher {teacher} does not share the student's tokenizer")
        model = AutoModelForCausalLM.from_pretrained(str(teacher), dtype="float32")
        name = str(teacher)
    else:
        model = teacher
        name = getattr(model, "name_or_path", None) or type(model).__name__
    if model.get_output_embeddings().weight.shape[0] < len(tok):
        raise ValueError("the teacher's vocabulary is smaller than the tokenizer's")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, name


def _source_counts(exs: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in exs:
        counts[e.source] = counts.get(e.source, 0) + 1
    return dict(sorted(counts.items()))


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


@contextlib.contextmanager
def _num_threads(n: int | None) -> Iterator[None]:
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
