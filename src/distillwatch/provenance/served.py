"""Served-answer test: does the suspect know the very answers the teacher served (to a harvesting
campaign, say), beyond what anyone could know of the teacher's answers in general?

A sampled answer carries randomness of its own. Redraw a fresh answer to the same prompt from the same
teacher with the same settings (temperature, top-p, length, watermark). A suspect that never saw the
served answer cannot tell it from the fresh one: the two are exchangeable as far as it is concerned,
whatever the suspect is (an unrelated model, a sibling, a student of another harvest from the same
teacher, the teacher itself). So which of the two the suspect is closer to is a fair coin per prompt,
and an exact sign test needs no control model and no calibration run. A student trained on the served
answers is closer to them almost every time.

The test's validity rests on the fresh answers being drawn exactly as the served ones were: same model,
same sampling settings, same watermark key. Greedy answers (temperature 0) carry no randomness and are
left out.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..evidence import Evidence
from ..models import GenerateRequest, Model
from ..models._types import Prompt
from .stats import mcnemar_greater

__all__ = ["ServedAnswer", "draw_fresh", "load_served", "prefix_overlap", "served_test"]

NULL = (
    "the suspect is independent of the served answers' sampling: per prompt, the served answer and a fresh "
    "answer drawn from the same teacher with the same settings are equally likely to be the one the suspect "
    "is closer to"
)

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class ServedAnswer:
    """One answer the teacher served, with the settings it was sampled with."""

    prompt: Prompt
    answer: str
    temperature: float
    max_tokens: int
    top_p: float = 1.0
    account_id: str | None = None

    def request(self, seed: int) -> GenerateRequest:
        """The request that draws a fresh answer exactly as this one was drawn (seeded, so reproducible)."""
        return GenerateRequest(self.prompt, max_tokens=self.max_tokens, temperature=self.temperature,
                               top_p=self.top_p, seed=seed)


def load_served(path: str | Path, *, accounts: Iterable[str] | None = None, temperature: float | None = None,
                max_tokens: int | None = None) -> tuple[list[ServedAnswer], Counter]:
    """The sampled answers in a request log (any format `scan` reads, e.g. the gateway's Parquet log; a
    directory means all its log files) or a harvest JSONL (`lab harvest`), with a count of the rows left
    out and why (malformed log rows go to the log's quarantine file, as in `scan`).

    `accounts` keeps only those accounts' requests (e.g. the accounts `scan` flagged). `temperature` and
    `max_tokens` fill in settings a file does not record; a row with neither its own nor a default is an
    error, since a fresh answer could not be drawn like it. Rows left out: not answered (status other than
    200), empty answers, greedy answers (temperature 0) and answers to several choices (n > 1).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    path = Path(path)
    if not path.exists():
        raise InputError(f"served answers: no such file {path}")
    skipped: Counter = Counter()
    table = _harvest_table(path)
    if table is None:
        table = _log_table(path, skipped)
    if accounts is not None:
        table = table.filter(pc.is_in(table["account_id"], value_set=pa.array(sorted(set(accounts)), pa.string())))
    table = table.set_column(table.schema.get_field_index("temperature"), "temperature",
                             pc.fill_null(table["temperature"], np.nan if temperature is None else float(temperature)))
    table = table.set_column(table.schema.get_field_index("max_tokens"), "max_tokens",
                             pc.fill_null(table["max_tokens"], -1 if max_tokens is None else int(max_tokens)))
    drops = (
        ("not answered", lambda t: pc.not_equal(pc.fill_null(t["status"], 200), 200)),
        ("several choices", lambda t: pc.greater(pc.fill_null(t["n"], 1), 1)),
        ("no prompt", lambda t: pc.is_null(t["messages"])),
        ("empty answer", lambda t: pc.equal(pc.utf8_trim_whitespace(pc.fill_null(t["answer"], "")), "")),
    )
    for reason, rows_to_drop in drops:
        mask = rows_to_drop(table)
        skipped[reason] += int(pc.sum(mask).as_py() or 0)
        table = table.filter(pc.invert(mask))
    missing = pc.or_(pc.is_nan(table["temperature"]), pc.less(table["max_tokens"], 0))
    if table.num_rows and pc.any(missing).as_py():
        raise InputError(f"served answers in {path}: rows record no temperature or max_tokens and no default was "
                         "given, so fresh answers cannot be drawn like them (pass temperature=/max_tokens=)")
    greedy = pc.less_equal(table["temperature"], 0)
    skipped["greedy (no sampling randomness)"] += int(pc.sum(greedy).as_py() or 0)
    cols = table.filter(pc.invert(greedy)).to_pydict()
    out = [ServedAnswer(_as_prompt(json.loads(m)), a, float(t), int(k), float(p if p is not None else 1.0), acct)
           for m, a, t, k, p, acct in zip(cols["messages"], cols["answer"], cols["temperature"], cols["max_tokens"],
                                          cols["top_p"], cols["account_id"])]
    return out, Counter({k: v for k, v in skipped.items() if v})


_COLUMNS = ("account_id", "messages", "answer", "temperature", "top_p", "max_tokens", "n", "status")


def _harvest_table(path: Path):
    """A harvest JSONL as a table of `_COLUMNS`, or None when the file is not one (its first record lacks
    id, prompt or response)."""
    if path.is_dir() or path.suffix.lower() not in (".jsonl", ".json", ".ndjson"):
        return None
    import pyarrow as pa

    from ..lab.harvesting import read_harvest

    with open(path, encoding="utf-8") as f:
        first = f.readline()
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        return None
    if not (isinstance(head, dict) and {"id", "prompt", "response"} <= set(head)):
        return None
    recs = read_harvest(path)
    return pa.table({
        "account_id": pa.array([r.get("account_id") for r in recs], pa.string()),
        "messages": pa.array([json.dumps(r["prompt"]) for r in recs], pa.string()),
        "answer": pa.array([r["response"] for r in recs], pa.string()),
        "temperature": pa.array([r.get("temperature") for r in recs], pa.float64()),
        "top_p": pa.array([r.get("top_p") for r in recs], pa.float64()),
        "max_tokens": pa.array([r.get("max_tokens") for r in recs], pa.int64()),
        "n": pa.array([None] * len(recs), pa.int64()),
        "status": pa.array([None] * len(recs), pa.int64()),
    })


def _log_table(path: Path, skipped: Counter):
    from ..traffic.ingest import read_log

    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.endswith(".quarantine.jsonl")) \
        if path.is_dir() else [path]
    if not files:
        raise InputError(f"served answers: no log files in {path}")
    table, report = read_log(files)
    if report.rows_quarantined:
        skipped[f"malformed (quarantined in {report.quarantine_path})"] += report.rows_quarantined
    table = table.rename_columns(["answer" if c == "response_text" else c for c in table.column_names])
    return table.select(list(_COLUMNS))


def _as_prompt(prompt: Any) -> Prompt:
    """Chat messages as a tuple; a bare string is one user message (how `lab harvest` asks by default)."""
    if isinstance(prompt, str):
        return ({"role": "user", "content": prompt},)
    return tuple(dict(m) for m in prompt)


def draw_fresh(teacher: Model, served: Sequence[ServedAnswer], *, logits_processor: Any = None, seed: int = 0,
               progress: bool = False) -> list[str]:
    """A fresh answer per served one, from `teacher` with the served settings; `logits_processor` is the
    watermark the answers were served with when `teacher` is the bare local model (a teacher behind the
    gateway watermarks on its own)."""
    requests = [s.request(seed * 1_000_003 + i) for i, s in enumerate(served)]
    return [c.text for c in teacher.generate(requests, logits_processor=logits_processor, progress=progress)]


def prefix_overlap(text: str, references: Sequence[str]) -> np.ndarray:
    """How many leading words (and punctuation marks) `text` shares with each reference, lower-cased: the
    closeness of an answer-only suspect to an answer."""
    words = _WORD.findall(text.lower())
    out = np.zeros(len(references))
    for j, ref in enumerate(references):
        other = _WORD.findall(ref.lower())
        k = 0
        while k < min(len(words), len(other)) and words[k] == other[k]:
            k += 1
        out[j] = k
    return out


def served_test(served_closeness: np.ndarray, fresh_closeness: np.ndarray, *,
                closeness: str = "log-likelihood per character") -> Evidence:
    """Exact one-sided sign test: is the suspect closer to the served answers than to fresh ones?

    `served_closeness[i]` and `fresh_closeness[i]`: how close the suspect is to the served answer to prompt
    i and to a fresh answer to it (its log-likelihood per character of each, or for a suspect that only
    answers, `prefix_overlap` of its answer with each). Ties and non-finite pairs carry no sign and are left
    out (counted in `details`).
    """
    a = np.asarray(served_closeness, dtype=float).ravel()
    b = np.asarray(fresh_closeness, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"served and fresh closeness differ in length: {a.shape} vs {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    wins, losses = int(np.sum(d > 0)), int(np.sum(d < 0))
    n = int(ok.sum())
    return Evidence(
        test="served",
        statistic=float(wins - losses),
        p_value=mcnemar_greater(wins, losses),
        effect_size=(wins - losses) / n if n else 0.0,
        n=n,
        method=f"exact sign test on which answer, served or freshly redrawn, the suspect is closer to ({closeness})",
        null_hypothesis=NULL,
        details={
            "closer_to_served": wins,
            "closer_to_fresh": losses,
            "ties": n - wins - losses,
            "dropped_non_finite": int((~ok).sum()),
            "median_difference": float(np.median(d)) if d.size else 0.0,
            "closeness": closeness,
            "effect_scale": "(closer to served − closer to fresh) / prompts",
        },
    )
