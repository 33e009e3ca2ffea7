"""Harvest: query a teacher the way a distiller would, and keep its answers as training data.

The teacher is any model string — a local `hf/`/`bundled/` model, or an `openai/...@url` endpoint such
as `distillwatch serve` or a gateway (the realistic path). The output is JSON lines, one answer per
prompt; re-running with the same output file continues where it stopped (answers already there are
kept, the rest are asked), and the response cache makes repeated questions free. Each prompt is sampled
with its own seed derived from (run seed, prompt id), so a harvest is reproducible whatever the order
or batching.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..data import PromptRecord
from ..errors import InputError
from ..models import GenerateRequest, LogitsProcessor, Model, get_model
from ..progress import progress_bar

__all__ = ["HarvestResult", "harvest", "read_harvest"]


@dataclass
class HarvestResult:
    path: Path
    total: int  # answers in the file now
    new: int  # answers added by this run
    resumed: int  # answers that were already there


def _prompt_seed(seed: int, prompt_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()[:4], "little")


def read_harvest(path: str | Path) -> list[dict]:
    """The records of a harvest file; a truncated last line (an interrupted run) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "id" in rec and "response" in rec:
                records.append(rec)
    return records


def harvest(
    teacher: str | Model,
    prompts: Sequence[PromptRecord],
    out: str | Path,
    *,
    temperature: float = 0.7,
    max_tokens: int = 256,
    seed: int = 0,
    chat: bool = True,
    logits_processor: LogitsProcessor | None = None,
    watermark: str | None = None,
    chunk: int = 32,
    progress: bool = True,
) -> HarvestResult:
    """Ask `teacher` every prompt not yet answered in `out`, appending answers in chunks.

    `logits_processor` watermarks a local teacher's answers (its `cache_key` is recorded as
    `watermark` unless a label is given); a remote teacher watermarks on its server.
    """
    model = get_model(teacher) if isinstance(teacher, str) else teacher
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _drop_truncated_tail(out)
    done = {r["id"] for r in read_harvest(out)}
    ids = [p.id for p in prompts]
    if len(set(ids)) != len(ids):
        raise InputError("prompt ids must be unique within a harvest")
    todo = [p for p in prompts if p.id not in done]
    label = watermark or (getattr(logits_processor, "cache_key", None) if logits_processor else None)
    meta: dict[str, Any] = {"teacher": model.model_id, "temperature": temperature, "max_tokens": max_tokens,
                            "seed": seed, "watermark": label}
    new = 0
    with progress_bar(len(todo), f"harvest {model.model_id}", progress) as advance, \
            open(out, "a", encoding="utf-8") as sink:
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            requests = [
                GenerateRequest(
                    prompt=[{"role": "user", "content": p.prompt}] if chat and isinstance(p.prompt, str) else p.prompt,
                    max_tokens=max_tokens, temperature=temperature,
                    seed=_prompt_seed(seed, p.id) if temperature > 0 else None,
                )
                for p in part
            ]
            answers = model.generate(requests, logits_processor=logits_processor)
            for p, a in zip(part, answers):
                sink.write(json.dumps({"id": p.id, "prompt": p.prompt, "response": a.text,
                                       "token_ids": a.token_ids, "finish_reason": a.finish_reason,
                                       **meta}, ensure_ascii=False) + "\n")
            sink.flush()
            new += len(part)
            advance(len(part))
    return HarvestResult(path=out, total=len(done) + new, new=new, resumed=len(done))


def _drop_truncated_tail(path: Path) -> None:
    """An interrupted run may leave half a line at the end; cut it so appends stay well-formed."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, 2)
        if f.read(1) == b"\n":
            return
        data = path.read_bytes()
        f.truncate(data.rfind(b"\n") + 1)
