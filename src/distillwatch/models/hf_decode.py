"""Decoding many requests together over one key/value cache, rows joining and leaving between steps.

A `DecodeBatch` holds the requests one transformers model is decoding. After every forward pass it has
the next-token logits of each row. `step()` chooses a token per row (seeded per request and per the
row's own step, so a request draws the same tokens alone or in any batch; see `_sampling`), ends the
rows that reached end of sequence, a stop string or their budget, drops them from the cache, and runs
the forward pass for the rest. `add()` prefills new requests and merges them into the running cache,
left-padded to a common length, so that a server admits requests while others decode (continuous
batching): a short answer never waits for a long one, and a long one never holds a row for nothing.
Models whose cache layers cannot be merged (sliding windows) take new rows only into an empty batch.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ._sampling import choose_next_tokens
from ._types import Completion, GenerateRequest, LogitsProcessor, cut_at_stop

if TYPE_CHECKING:  # pragma: no cover
    from .hf import HFModel

__all__ = ["DecodeBatch", "RowTokens"]

# Called after every step with (tag, new token id) for the rows that produced a token.
RowTokens = Callable[[list[tuple[Any, int]]], None]


@dataclass
class _Row:
    request: GenerateRequest
    tag: Any
    prompt_tokens: int
    finish_reason: str = "length"


def _length_groups(lengths: list[int], slack: float = 1.25, overhead: int = 32) -> list[list[int]]:
    """Indices grouped by prompt length so that no group's padding costs more than `slack` times its
    tokens (+ `overhead`, what a separate forward pass costs in tokens): prompts of similar length are
    prefilled together, and a long one does not make the short ones pay for its width."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        group = groups[-1] if groups else None
        if group and lengths[i] * (len(group) + 1) <= slack * (sum(lengths[j] for j in group) + lengths[i]) + overhead:
            group.append(i)
        else:
            groups.append([i])
    return groups


class DecodeBatch:
    """The requests `hf` is decoding now; `on_tokens` sees each step's new tokens by request tag."""

    def __init__(self, hf: "HFModel", logits_processor: LogitsProcessor | None = None,
                 on_tokens: RowTokens | None = None):
        import torch

        self.hf, self.processor, self.on_tokens = hf, logits_processor, on_tokens
        self.eos = torch.tensor(sorted(hf.eos_ids), dtype=torch.long)
        self.rows: list[_Row] = []
        self.cache = None
        self._state: dict[str, Any] = {}
        from transformers.cache_utils import DynamicCache

        self._joinable = self._mergeable(DynamicCache(config=hf.model.config))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def can_join(self) -> bool:
        """Whether new requests can be added now (always into an empty batch)."""
        return not self.rows or self._joinable

    @staticmethod
    def _mergeable(cache) -> bool:
        from transformers.cache_utils import DynamicLayer

        return all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))

    # -- joining ----------------------------------------------------------------------------------
    def add(self, requests: Sequence[GenerateRequest], tags: Sequence[Any],
            prompts: Sequence[list[int]] | None = None) -> list[tuple[Any, Completion]]:
        """Prefill `requests` (`prompts`: their token ids, when already encoded) and make them rows of the
        batch; returns those with nothing to generate."""
        hf = self.hf
        prompts = list(prompts) if prompts is not None else [hf.encode_prompt(r.prompt) for r in requests]
        for r, ids in zip(requests, prompts):
            hf._check_length(len(ids) + r.max_tokens, "prompt + max_tokens")
        empty = [(tag, Completion(text="", token_ids=[], finish_reason="length", prompt_tokens=len(ids)))
                 for r, tag, ids in zip(requests, tags, prompts) if r.max_tokens <= 0]
        picked = [i for i, r in enumerate(requests) if r.max_tokens > 0]
        if not picked:
            return empty
        if not self.can_join:
            raise RuntimeError(f"{hf.model_id}'s cache cannot take new rows while others decode")
        groups = _length_groups([len(prompts[i]) for i in picked]) if self._joinable else [list(range(len(picked)))]
        for group in groups:
            rows = [picked[g] for g in group]
            self._prefill([requests[i] for i in rows], [tags[i] for i in rows], [prompts[i] for i in rows])
        return empty

    def _prefill(self, requests: list[GenerateRequest], tags: list[Any], prompts: list[list[int]]) -> None:
        import torch

        hf = self.hf
        n, width = len(requests), max(len(p) for p in prompts)
        input_ids = torch.full((n, width), hf.tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids):] = 1
        with torch.inference_mode():
            out = hf.model(input_ids=input_ids, attention_mask=attention,
                           position_ids=(attention.cumsum(-1) - 1).clamp(min=0), use_cache=True, logits_to_keep=1)
        steps = max(r.max_tokens for r in requests)
        top = max(r.top_logprobs for r in requests)
        new = {
            "logits": out.logits[:, -1, :],
            "attention": attention,
            "sequences": input_ids,
            "temperature": torch.tensor([r.temperature for r in requests], dtype=torch.float32),
            "top_p": torch.tensor([r.top_p for r in requests], dtype=torch.float32),
            "seeds": np.array([r.seed if r.seed is not None else secrets.randbits(63) for r in requests],
                              dtype=np.uint64),
            "budget": torch.tensor([r.max_tokens for r in requests]),
            "lengths": torch.zeros(n, dtype=torch.long),  # tokens kept (end of sequence excluded)
            "steps": torch.zeros(n, dtype=torch.long),
            "generated": torch.zeros((n, steps), dtype=torch.long),
            "logprobs": torch.zeros((n, steps), dtype=torch.float32),
            "top_ids": torch.zeros((n, steps, top), dtype=torch.long),
            "top_vals": torch.zeros((n, steps, top), dtype=torch.float32),
        }
        new_rows = [_Row(r, tag, len(ids)) for r, tag, ids in zip(requests, tags, prompts)]
        if not self.rows:
            self.rows, self.cache, self._state = new_rows, out.cache, new
        else:
            self._merge(new, out.cache)
            self.rows += new_rows

    def _merge(self, new: dict, cache) -> None:
        import torch

        from torch.nn.functional import pad

        s, pad_id = self._state, self.hf.tokenizer.pad_token_id
        length = max(s["attention"].shape[1], new["attention"].shape[1])

        def left(t, value=0):  # left-pad the sequence axis: 1 of (rows, length), 2 of (rows, heads, length, dim)
            axis = 1 if t.dim() == 2 else 2
            return pad(t, (0, 0) * (t.dim() - 1 - axis) + (length - t.shape[axis], 0), value=value)

        for key, value in (("attention", 0), ("sequences", pad_id)):
            s[key] = torch.cat([left(s[key], value), left(new[key], value)])
        for mine, theirs in zip(self.cache.layers, cache.layers):
            for name in ("keys", "values"):
                setattr(mine, name, torch.cat([left(getattr(mine, name)), left(getattr(theirs, name))]))
        for key in ("generated", "logprobs", "top_ids", "top_vals"):  # (rows, steps[, k]): pad on the right
            shape = [max(a, b) for a, b in zip(s[key].shape[1:], new[key].shape[1:])]
            s[key] = torch.cat([pad(x, [p for size, have in zip(reversed(shape), reversed(x.shape[1:]))
                                        for p in (0, size - have)]) for x in (s[key], new[key])])
        for key in ("logits", "temperature", "top_p", "budget", "lengths", "steps"):
            s[key] = torch.cat([s[key], new[key]])
        s["seeds"] = np.concatenate([s["seeds"], new["seeds"]])

    # -- leaving ----------------------------------------------------------------------------------
    def remove(self, tags: Sequence[Any]) -> None:
        """Drop the rows of these requests (their callers went away)."""
        gone = {id(t) for t in tags}
        self._keep([i for i, row in enumerate(self.rows) if id(row.tag) not in gone])

    def _keep(self, indices: list[int]) -> None:
        import torch

        if len(indices) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in indices]
        if not self.rows:
            self.cache, self._state = None, {}
            return
        idx = torch.tensor(indices, dtype=torch.long)
        self.cache.batch_select_indices(idx)
        s = self._state
        for key, value in s.items():
            s[key] = value[idx.numpy()] if isinstance(value, np.ndarray) else value[idx]
        # columns that are padding in every remaining row go too
        lead = int((s["attention"].sum(0) == 0).cumprod(0).sum())
        if lead and self._joinable:
            s["attention"], s["sequences"] = s["attention"][:, lead:], s["sequences"][:, lead:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]

    # -- decoding ---------------------------------------------------------------------------------
    def step(self) -> list[tuple[Any, Completion]]:
        """Choose one token per row; returns the requests that finished, with their completions."""
        import torch

        if not self.rows:
            return []
        s, hf = self._state, self.hf
        logits = s["logits"].float()
        want_logprobs = any(r.request.logprobs or r.request.top_logprobs for r in self.rows)
        if want_logprobs:
            logprobs_all = torch.log_softmax(logits, dim=-1)
        if self.processor is not None:
            logits = self.processor(s["sequences"], logits.clone())
        next_ids = choose_next_tokens(logits, s["temperature"], s["top_p"], s["seeds"], s["steps"].numpy())
        rows = torch.arange(len(self.rows))
        is_eos = torch.isin(next_ids, self.eos)
        keep = ~is_eos
        s["generated"][rows, s["steps"]] = next_ids
        if want_logprobs:
            s["logprobs"][rows, s["steps"]] = logprobs_all.gather(-1, next_ids[:, None])[:, 0]
            k = s["top_vals"].shape[2]
            if k:
                vals, idx = logprobs_all.topk(k, dim=-1)
                s["top_vals"][rows, s["steps"]], s["top_ids"][rows, s["steps"]] = vals, idx
        s["lengths"] += keep.long()
        s["steps"] += 1
        if self.on_tokens is not None and bool(keep.any()):
            kept = keep.nonzero().flatten().tolist()
            self.on_tokens([(self.rows[i].tag, t) for i, t in zip(kept, next_ids[keep].tolist())])
        done = is_eos | (s["lengths"] >= s["budget"])
        for i in is_eos.nonzero().flatten().tolist():
            self.rows[i].finish_reason = "stop"
        for i in (keep & ~done).nonzero().flatten().tolist():
            request = self.rows[i].request
            if request.stop and hf._hits_stop(s["generated"][i, : s["lengths"][i]], request.stop,
                                              max(len(x) for x in request.stop) + 16):
                done[i] = True
                self.rows[i].finish_reason = "stop"
        finished = [(self.rows[i].tag, self._completion(i)) for i in done.nonzero().flatten().tolist()]
        if finished:
            self._keep((~done).nonzero().flatten().tolist())
            next_ids = next_ids[~done]
        if self.rows:
            s = self._state
            s["attention"] = torch.cat([s["attention"], torch.ones((len(self.rows), 1), dtype=torch.long)], dim=1)
            s["sequences"] = torch.cat([s["sequences"], next_ids[:, None]], dim=1)
            with torch.inference_mode():
                out = hf.model(input_ids=next_ids[:, None], attention_mask=s["attention"],
                               position_ids=s["attention"].sum(-1, keepdim=True) - 1, cache=self.cache, use_cache=True)
            self.cache, s["logits"] = out.cache, out.logits[:, -1, :]
        return finished

    def _completion(self, i: int) -> Completion:
        s, row, hf = self._state, self.rows[i], self.hf
        request, n = row.request, int(s["lengths"][i])
        ids = s["generated"][i, :n].tolist()
        text = hf.tokenizer.decode(ids, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, request.stop)
        finish = "stop" if stopped else row.finish_reason
        completion = Completion(text=text, token_ids=ids, finish_reason=finish, prompt_tokens=row.prompt_tokens)
        if request.logprobs or request.top_logprobs:
            completion.logprobs = s["logprobs"][i, :n].tolist()
            completion.tokens = hf.tokenizer.batch_decode([[t] for t in ids])
            if request.top_logprobs:
                completion.top_logprobs = hf._top_dicts(s["top_ids"][i, :n, : request.top_logprobs],
                                                        s["top_vals"][i, :n, : request.top_logprobs])
        return completion

    def run(self) -> list[tuple[Any, Completion]]:
        """Decode until every row has finished."""
        finished = []
        while self.rows:
            finished += self.step()
        return finished
