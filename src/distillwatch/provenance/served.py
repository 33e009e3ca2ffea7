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
left out. Any fixed measure of closeness keeps the test exact. When the teacher scores too, two measures
referenced to it (`teacher_referenced`) are used, one for a student that memorised the served answers'
tokens and one for a student fitted to the teacher's distributions at their positions (logit
distillation), with Bonferroni over the two.
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
from .likelihood import per_character
from .stats import bonferroni_min, mcnemar_greater

__all__ = ["ServedAnswer", "draw_fresh", "load_served", "prefix_overlap", "served_test", "teacher_referenced"]

NULL = (
    "the suspect is independent of the served answers' sampling: per prompt, the served answer and a fresh "
    "answer drawn from the same teacher with the same settings are equally likely to be the one the suspect "
    "is closer to"
)

TEACHER_REFERENCED = ("log-likelihood per character in excess of the teacher's",
                      "fidelity to the teacher's token log-probabilities")

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


def teacher_referenced(suspect_scores: Sequence[Any], teacher_scores: Sequence[Any], answers: Sequence[str]
                       ) -> np.ndarray:
    """Two closenesses of the suspect to each answer, referenced to the teacher's scoring of it (from the
    models' `score` results; None or empty: NaN), as columns of an (n, 2) array.

    Column 0, excess: the suspect's log-likelihood per character minus the teacher's, so that how likely
    an answer is in itself (short, generic) cancels out; a student that memorised the answer's tokens
    rises above what it gives a fresh one. Column 1, fidelity: minus the mean absolute difference between
    the two models' log-probabilities of each token, NaN where they cut the answer into different numbers
    of tokens (different tokenizers); a student fitted to the teacher's distributions at the answer's
    positions (logit distillation) follows the teacher there more closely, in whichever direction.
    """
    out = np.full((len(answers), 2), np.nan)
    out[:, 0] = per_character(suspect_scores, answers) - per_character(teacher_scores, answers)
    for i, (s, t) in enumerate(zip(suspect_scores, teacher_scores)):
        if s is not None and t is not None and s.logprobs and len(s.logprobs) == len(t.logprobs or ()):
            out[i, 1] = -float(np.mean(np.abs(np.subtract(s.logprobs, t.logprobs))))
    return out


def served_test(served_closeness: np.ndarray, fresh_closeness: np.ndarray, *,
                closeness: str | Sequence[str] = "log-likelihood per character") -> Evidence:
    """Exact one-sided sign test: is the suspect closer to the served answers than to fresh ones?

    `served_closeness[i]` and `fresh_closeness[i]`: how close the suspect is to the served answer to prompt
    i and to a fresh answer to it (its log-likelihood per character of each; for a suspect that only
    answers, `prefix_overlap` of its answer with each). Ties and non-finite pairs carry no sign and are left
    out (counted in `details`). Two-dimensional inputs (n, k) hold k measures of closeness
    (`teacher_referenced`), named by `closeness`: each gets its own sign test and the p-value is
    Bonferroni's over the measures that have a pair.
    """
    a = np.asarray(served_closeness, dtype=float)
    b = np.asarray(fresh_closeness, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"served and fresh closeness differ in shape: {a.shape} vs {b.shape}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    names = [closeness] if isinstance(closeness, str) else list(closeness)
    if len(names) != a.shape[1]:
        raise ValueError(f"{a.shape[1]} measures of closeness but {len(names)} names")
    ok = np.isfinite(a) & np.isfinite(b)
    d = np.where(ok, a - b, 0.0)
    wins, losses, n = (d > 0).sum(axis=0), (d < 0).sum(axis=0), ok.sum(axis=0)
    p = np.array([mcnemar_greater(w, l) for w, l in zip(wins, losses)])
    used = n > 0
    best = int(np.argmin(np.where(used, p, np.inf))) if used.any() else 0
    measures = [{"closeness": names[j], "closer_to_served": int(wins[j]), "closer_to_fresh": int(losses[j]),
                 "ties": int(n[j] - wins[j] - losses[j]), "dropped_non_finite": int(len(d) - n[j]),
                 "p_value": float(p[j]), "median_difference": float(np.median(d[ok[:, j], j])) if n[j] else 0.0}
                for j in range(len(names))]
    return Evidence(
        test="served",
        statistic=float(wins[best] - losses[best]),
        p_value=bonferroni_min(p[used]) if used.any() else 1.0,
        effect_size=float((wins[best] - losses[best]) / n[best]) if n[best] else 0.0,
        n=int(n[best]),
        method=("exact sign test on which answer, served or freshly redrawn, the suspect is closer to ("
                + "; ".join(np.array(names)[used] if used.any() else names)
                + (", Bonferroni over the measures)" if used.sum() > 1 else ")")),
        null_hypothesis=NULL,
        details={**{k: v for k, v in measures[best].items() if k != "p_value"},
                 "measures": measures,
                 "effect_scale": "(closer to served − closer to fresh) / prompts, on the measure with the smallest p"},
    )
