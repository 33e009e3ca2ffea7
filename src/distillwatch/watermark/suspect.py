"""Putting a suspect model through the radioactivity tests: the model calls around the pure tests.

Reading mode teacher-forces the provider's watermarked answers (prompt + answer token ids, from a
harvest file) through the suspect and takes its top-1 prediction at every answer position; generation
mode asks the suspect the same prompts and scores what it writes. Both need the suspect to share the
watermark's tokenizer (a student trained with its teacher's tokenizer does). A p-value-vs-tokens
curve comes from re-running the exact test on growing prefixes of the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..models import GenerateRequest, Model
from .config import WatermarkConfig
from ..evidence import Evidence
from .radioactivity import generation_mode_test, reading_mode_test

__all__ = ["RadioactivityResult", "check_radioactivity", "reading_predictions"]


@dataclass
class RadioactivityResult:
    mode: str
    evidence: Evidence
    tokens_read: int
    curve: list[tuple[int, float]] = field(default_factory=list)  # (tokens read, p-value)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "p_value": self.evidence.p_value, "score": self.evidence.statistic,
                "num_scored_tokens": self.evidence.n, "tokens_read": self.tokens_read,
                "effect_size": self.evidence.effect_size, "method": self.evidence.method,
                "null_hypothesis": self.evidence.null_hypothesis, "curve": self.curve}


def _prompt(record: dict):
    p = record["prompt"]
    return [{"role": "user", "content": p}] if isinstance(p, str) else p


def reading_predictions(suspect: Model, records: Sequence[dict], *, progress: bool = False):
    """The answers' token arrays and, aligned with them, the suspect's top-1 predictions (teacher forcing)."""
    texts = [np.asarray(r["token_ids"], dtype=np.int64) for r in records]
    scores = suspect.score([_reading_item(suspect, r) for r in records], progress=progress)
    return texts, [_predictions(s.top_ids, t.size) for s, t in zip(scores, texts)]


def _reading_item(suspect: Model, record: dict):
    """(prompt, answer ids) to teacher-force; when they overflow the suspect's context, the prompt is
    cut from the left (the watermark windows come from the answer, which is kept whole)."""
    encode, limit = getattr(suspect, "encode_prompt", None), getattr(suspect, "max_length", None)
    answer = [int(t) for t in record["token_ids"]]
    if encode is None or limit is None:
        return (_prompt(record), answer)
    context = encode(_prompt(record))
    if len(context) + len(answer) <= limit:
        return (_prompt(record), answer)
    keep = max(1, limit - len(answer))
    return context[-keep:] + answer[: limit - keep]


def _predictions(top_ids, n: int) -> np.ndarray:
    """The suspect's top-1 prediction for each of the answer's n tokens (-1 where it made none)."""
    if top_ids is None:
        return np.full(n, -1, dtype=np.int64)
    pred = np.asarray(top_ids[-n:], dtype=np.int64)
    return np.concatenate([pred, np.full(n - pred.size, -1, dtype=np.int64)])


def _checkpoints(total: int, points: int) -> list[int]:
    return sorted({max(1, int(round(total * (i + 1) / points))) for i in range(points)})


def check_radioactivity(
    suspect: Model,
    config: WatermarkConfig,
    watermarked: Sequence[dict],
    *,
    mode: str = "reading",
    max_tokens: int = 128,
    curve_points: int = 8,
    progress: bool = False,
    contexts: Sequence[dict] | None = None,
    reader: Model | None = None,
    temperature: float = 0.7,
    weight_cap: int | None = None,
) -> RadioactivityResult:
    """Test whether `suspect` was trained on `watermarked` harvest records ({prompt, token_ids}).

    Null hypothesis: the suspect was not trained on text watermarked with `config`'s key (see
    `radioactivity.RADIOACTIVITY_NULL`); the p-value is exact.

    Reading mode reads the watermarked answers themselves by default, dropping the positions where the
    suspect predicts the text's own token. For a suspect close to the generator, the positions left are
    mostly those where the watermark overrode the generator's own first choice, so its prediction
    there leans red: valid, but without power. `contexts` (records {prompt, token_ids} of text *not*
    watermarked with this key, e.g. other answers of the same model) are read instead, with every
    position kept: the windows and the text are then independent of the key, so the null is exact
    without dropping anything. `weight_cap` (reading mode, KGW) weights each distinct tuple by how many
    positions predicted it, capped (see `radioactivity`); None scores each tuple once, as the paper does.

    `reader` (generation mode): a local model with the watermark's tokenizer, usually the provider's own.
    The suspect's answers and prompts are then tokenized by it, so the suspect may use any tokenizer or
    be a black box that returns only text, as a distilled student usually is. Generation samples at
    `temperature` with a fixed seed per prompt (reproducible, and cached): greedy decoding of a small
    student repeats itself, and repeated tuples are scored once.
    """
    if weight_cap is not None and mode != "reading":
        raise InputError("count weighting (--weight-cap) applies to reading mode only")
    if reader is not None and mode != "generation":
        raise InputError("a reader tokenizer applies to generation mode only (reading mode needs the suspect's "
                         "own predictions in the watermark's vocabulary)")
    vocab = getattr(reader if reader is not None else suspect, "vocab_size", None)
    if vocab is None:
        raise InputError(f"{suspect.model_id} has no known vocabulary; radioactivity needs the watermark's tokenizer "
                         "(in generation mode, name it as the reader)")
    records = [r for r in watermarked if r.get("token_ids")]
    if not records:
        raise InputError("no watermarked records with token ids to test against")
    if mode == "reading":
        if contexts is not None:
            records = [r for r in contexts if r.get("token_ids")]
            if not records:
                raise InputError("no context records with token ids to read")
        texts, preds = reading_predictions(suspect, records, progress=progress)
        drop = contexts is None
        run = lambda k: reading_mode_test(texts[:k], preds[:k], config, vocab, drop_text_matches=drop,  # noqa: E731
                                          weight_cap=weight_cap)
        read = np.cumsum([t.size for t in texts])
    elif mode == "generation":
        encode, limit = getattr(suspect, "encode_prompt", None), getattr(suspect, "max_length", None)
        if encode is not None and limit is not None:  # keep within the suspect's context
            room = [limit - len(encode(_prompt(r))) for r in records]
            records = [r for r, n in zip(records, room) if n >= 8]
            budgets = [min(max_tokens, n) for n in room if n >= 8]
            if not records:
                raise InputError(f"no prompt fits {suspect.model_id}'s context of {limit} tokens")
        else:
            budgets = [max_tokens] * len(records)
        answers = suspect.generate([GenerateRequest(_prompt(r), max_tokens=b, temperature=temperature, seed=i)
                                    for i, (r, b) in enumerate(zip(records, budgets))], progress=progress)
        if reader is not None:
            read_prompt = getattr(reader, "encode_prompt", None)
            prompts = [np.asarray(read_prompt(_prompt(r)), dtype=np.int64) for r in records] if read_prompt else None
            gens = [np.asarray(reader.encode_text(a.text), dtype=np.int64) for a in answers]
        else:
            prompts = [np.asarray(encode(_prompt(r)), dtype=np.int64) for r in records] if encode else None
            gens = [np.asarray(a.token_ids or [], dtype=np.int64) for a in answers]
        reference = [np.asarray(r["token_ids"], dtype=np.int64) for r in records]
        run = lambda k: generation_mode_test(  # noqa: E731
            gens[:k], config, vocab, prompts=prompts[:k] if prompts else None, reference_texts=reference)
        read = np.cumsum([g.size for g in gens])
    else:
        raise InputError(f"mode must be 'reading' or 'generation', got {mode!r}")
    curve = [(int(read[k - 1]), float(run(k).p_value)) for k in _checkpoints(len(records), curve_points)]
    return RadioactivityResult(mode=mode, evidence=run(len(records)), tokens_read=int(read[-1]), curve=curve)
