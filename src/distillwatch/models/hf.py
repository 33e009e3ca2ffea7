"""The transformers backend (`hf/<local dir>`): CPU, batched with left padding, chat templates.

Generation runs its own decoding loop over a KV cache so that each request keeps its own sampling
seed, stop strings and token budget inside a shared batch, and so that a logits processor (a
watermark) sees every step. Token ids from this backend are the reference for everything that depends
on exact ids (watermarks, agreement tests): transformers' tokenizers are the ones we trust, even where
llama.cpp's differ in a few merges.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import InputError, ModelLoadError, require
from ..progress import progress_bar
from ._base import BaseModel
from ._cache import ResponseCache
from ._types import (
    Completion,
    GenerateRequest,
    LogitsProcessor,
    Prompt,
    ScoreItem,
    TokenScores,
    chat_messages,
    is_chat,
    plain_chat_text,
    split_score_item,
)
from .hf_decode import DecodeBatch

__all__ = ["HFModel", "TokenCallback", "weights_fingerprint"]

# Called once per decoding step with (request tag, new token id) for the rows that produced a token;
# `generate_stream` tags each request with its index.
TokenCallback = Callable[[list[tuple[Any, int]]], None]


def weights_fingerprint(path: Path) -> str:
    """A cheap identity of a model directory: names, sizes and mtimes of its weight and config files."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.suffix in {".safetensors", ".bin", ".json", ".model"} and f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


class HFModel(BaseModel):
    """A causal LM from a local transformers directory, on the CPU in float32.

    `batch_size` bounds the rows decoding at once (on a CPU a step of 16 rows costs little more than
    one of 8: the weights are read once per step either way); `score_token_budget` bounds
    batch × length × vocab logits held at once while scoring (in millions of floats).
    """

    supports_score = True

    def __init__(
        self,
        path: str | Path,
        *,
        model_id: str | None = None,
        cache: ResponseCache | None = None,
        batch_size: int = 16,
        score_token_budget: int = 256,
        threads: int | None = None,
        extra_eos: Sequence[str] = (),
    ):
        super().__init__(cache=cache)
        torch = require("torch", "hf")
        transformers = require("transformers", "hf")
        self.path = Path(path).expanduser().resolve()
        if not (self.path / "config.json").is_file():
            raise ModelLoadError(
                f"{self.path} is not a transformers model directory (no config.json); "
                "pass a directory written by save_pretrained, e.g. hf/./zoo/student-1"
            )
        if threads:
            torch.set_num_threads(int(threads))
        self.model_id = model_id or f"hf/{self.path}"
        self.cache_identity = f"{self.model_id}#{weights_fingerprint(self.path)}"
        self.batch_size = int(batch_size)
        self.score_token_budget = int(score_token_budget) * 1_000_000
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.path))
            self.model = transformers.AutoModelForCausalLM.from_pretrained(
                str(self.path), dtype=torch.float32
            )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load {self.path}: {exc}") from exc
        self.model.eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        self.max_length = int(
            getattr(self.model.config, "max_position_embeddings", None) or 2048
        )
        self.eos_ids = self._eos_ids(extra_eos)

    def _eos_ids(self, extra_eos: Sequence[str]) -> set[int]:
        ids: set[int] = set()
        for source in (self.tokenizer.eos_token_id, self.model.generation_config.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(s) for s in source)
        for token in extra_eos:
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        return ids

    # -- prompts --------------------------------------------------------------------------------
    def encode_text(self, text: str) -> list[int]:
        """Token ids of plain text, without special tokens (how a watermark detector reads an answer)."""
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """Token ids the model sees for a prompt: chat messages through the chat template (or a plain
        `Role: text` layout when the tokenizer has none), plain text with the tokenizer's specials."""
        if not is_chat(prompt):
            return list(self.tokenizer(prompt, add_special_tokens=True).input_ids)
        messages = chat_messages(prompt)
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            return list(self.tokenizer(text, add_special_tokens=False).input_ids)
        return list(self.tokenizer(plain_chat_text(messages), add_special_tokens=True).input_ids)

    def _check_length(self, n: int, what: str) -> None:
        if n > self.max_length:
            raise InputError(
                f"{what} is {n} tokens, over {self.model_id}'s context of {self.max_length} tokens"
            )

    # -- generation -----------------------------------------------------------------------------
    def _generate(
        self,
        requests: list[GenerateRequest],
        logits_processor: LogitsProcessor | None,
        progress: bool,
    ) -> list[Completion]:
        return self.generate_stream(requests, logits_processor=logits_processor, progress=progress)

    def generate_stream(
        self,
        requests: Sequence[GenerateRequest],
        *,
        logits_processor: LogitsProcessor | None = None,
        on_tokens: TokenCallback | None = None,
        progress: bool = False,
    ) -> list[Completion]:
        """Generate without the cache, calling `on_tokens` after every decoding step.

        Requests decode in one continuous batch of up to `batch_size` rows, shortest prompts first:
        when a quarter of the rows have finished, the next requests join (a model whose cache cannot
        take rows mid-decode refills only when empty). `latency_s` is each request's own time in it.
        """
        encoded = [self.encode_prompt(r.prompt) for r in requests]
        for r, ids in zip(requests, encoded):
            self._check_length(len(ids) + r.max_tokens, "prompt + max_tokens")
        pending = sorted(range(len(requests)), key=lambda i: len(encoded[i]), reverse=True)
        results: list[Completion | None] = [None] * len(requests)
        started: dict[int, float] = {}
        decoding = self.decode_batch(logits_processor, on_tokens)
        with progress_bar(len(requests), f"generate {self.model_id}", progress) as advance:
            while pending or len(decoding):
                room = self.batch_size - len(decoding)
                done = []
                if pending and decoding.can_join and (not len(decoding) or room >= max(1, self.batch_size // 4)):
                    joining = [pending.pop() for _ in range(min(room, len(pending)))]
                    now = time.perf_counter()
                    started.update((i, now) for i in joining)
                    done = decoding.add([requests[i] for i in joining], joining, [encoded[i] for i in joining])
                done += decoding.step()
                now = time.perf_counter()
                for i, completion in done:
                    completion.latency_s = now - started[i]
                    results[i] = completion
                advance(len(done))
        return results  # type: ignore[return-value]

    def decode_batch(self, logits_processor: LogitsProcessor | None = None,
                     on_tokens: TokenCallback | None = None) -> DecodeBatch:
        """An empty batch to decode requests in, which new requests can join between steps."""
        return DecodeBatch(self, logits_processor, on_tokens)

    def _hits_stop(self, ids, stops: tuple[str, ...], tail_tokens: int) -> bool:
        tail = self.tokenizer.decode(ids[-tail_tokens:].tolist(), skip_special_tokens=True)
        return any(s in tail for s in stops)

    def _top_dicts(self, id_mat, val_mat) -> list[dict[str, float]]:
        """One {token: logprob} dict per position, from (positions, k) ids and values."""
        if not len(id_mat):
            return []
        val_mat = val_mat.tolist()
        names = self.tokenizer.batch_decode(id_mat.reshape(-1, 1).tolist())
        k = id_mat.shape[1]
        # Tokens that decode to the same string (e.g. partial UTF-8 bytes) keep the higher value.
        return [
            {name: v for name, v in reversed(list(zip(names[i * k : (i + 1) * k], val_mat[i])))}
            for i in range(len(val_mat))
        ]

    # -- scoring --------------------------------------------------------------------------------
    def _encode_score_item(self, item: ScoreItem) -> tuple[list[int], list[int]]:
        return split_score_item(item, self.encode_prompt, self.encode_text,
                                lambda text: self.tokenizer(text, add_special_tokens=True).input_ids)

    def _score(self, items: list[ScoreItem], progress: bool) -> list[TokenScores]:
        import torch

        encoded = [self._encode_score_item(it) for it in items]
        for ctx, tgt in encoded:
            self._check_length(len(ctx) + len(tgt), "text to score")
        order = sorted(range(len(items)), key=lambda i: -(len(encoded[i][0]) + len(encoded[i][1])))
        results: list[TokenScores | None] = [None] * len(items)
        pad = self.tokenizer.pad_token_id
        with progress_bar(len(items), f"score {self.model_id}", progress) as advance:
            start = 0
            while start < len(order):
                width = len(encoded[order[start]][0]) + len(encoded[order[start]][1])
                rows = max(1, min(32, self.score_token_budget // (width * self.vocab_size)))
                batch = order[start : start + rows]
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    seq = encoded[i][0] + encoded[i][1]
                    ids[row, : len(seq)] = torch.tensor(seq)
                    attention[row, : len(seq)] = 1
                with torch.inference_mode():
                    logits = self.model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
                    lse = torch.logsumexp(logits, dim=-1)
                    picked = logits.gather(-1, ids[:, 1:, None]).squeeze(-1) - lse
                    best = logits.argmax(dim=-1)
                del logits
                for row, i in enumerate(batch):
                    ctx, tgt = encoded[i]
                    lo, hi = len(ctx) - 1, len(ctx) - 1 + len(tgt)
                    results[i] = TokenScores(
                        token_ids=tgt, logprobs=picked[row, lo:hi].tolist(),
                        top_ids=best[row, lo:hi].tolist(), context_ids=ctx,
                    )
                advance(len(batch))
                start += len(batch)
        return results  # type: ignore[return-value]
