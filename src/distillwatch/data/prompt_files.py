"""Prompt files: JSON lines, each `{"prompt": "..."}`, `{"messages": [...]}` or a bare JSON string.

Lines that are not valid prompts are never dropped silently: they go to a quarantine file beside the
output, with their line number and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

__all__ = ["PromptRecord", "PromptFile", "read_prompt_file"]


@dataclass
class PromptRecord:
    prompt: str | list[dict]
    line: int
    id: str | None = None


@dataclass
class PromptFile:
    records: list[PromptRecord]
    quarantined: list[dict] = field(default_factory=list)

    def write_quarantine(self, path: str | Path) -> Path | None:
        if not self.quarantined:
            return None
        path = Path(path)
        with open(path, "w", encoding="utf-8") as f:
            for row in self.quarantined:
                f.write(json.dumps(row) + "\n")
        return path


def _parse(obj) -> str | list[dict]:
    if isinstance(obj, str):
        prompt = obj
    elif isinstance(obj, dict) and "messages" in obj:
        prompt = obj["messages"]
        if not isinstance(prompt, list) or not prompt or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in prompt
        ):
            raise ValueError("'messages' must be a non-empty list of {role, content} strings")
        return prompt
    elif isinstance(obj, dict) and "prompt" in obj:
        prompt = obj["prompt"]
        if not isinstance(prompt, str):
            raise ValueError("'prompt' must be a string")
    else:
        raise ValueError("expected a JSON string or an object with 'prompt' or 'messages'")
    if not prompt.strip():
        raise ValueError("empty prompt")
    return prompt


def read_prompt_file(path: str | Path, max_chars: int = 200_000) -> PromptFile:
    """Read a prompt file; bad lines are kept aside in `quarantined` with their reason."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"prompt file {path} does not exist")
    records, bad = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                prompt = _parse(obj)
                if len(json.dumps(prompt)) > max_chars:
                    raise ValueError(f"prompt over {max_chars} characters")
            except (json.JSONDecodeError, ValueError) as exc:
                bad.append({"source": str(path), "line": number, "reason": str(exc), "raw": line[:2000]})
                continue
            rid = obj.get("id") if isinstance(obj, dict) else None
            records.append(PromptRecord(prompt=prompt, line=number, id=None if rid is None else str(rid)))
    return PromptFile(records=records, quarantined=bad)
