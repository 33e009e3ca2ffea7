"""Resumable steps: each step's result is a JSON file, reused when the budget that shaped it is unchanged.

An interrupted demo re-runs only the steps without a result; model calls inside a step go through the
response cache, and trained students are kept on disk, so even a re-run step redoes little.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from ..runlog import RunLog

__all__ = ["Steps"]


class Steps:
    """Runs named steps in order, printing a numbered heading and the time each took."""

    def __init__(self, out_dir: Path, total: int, console: Console, log: RunLog):
        self.dir = out_dir / "steps"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.total, self.console, self.log = total, console, log
        self.done = 0
        self.timings: dict[str, dict[str, Any]] = {}

    def run(self, name: str, title: str, fingerprint: str, fn: Callable[[], dict]) -> dict:
        self.done += 1
        path = self.dir / f"{name}.json"
        self.console.rule(f"[bold]{self.done}/{self.total} {title}")
        if path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("fingerprint") == fingerprint:
                self.console.print(f"[dim]reused from {path} (delete it to redo this step)[/]")
                self.timings[name] = {"seconds": stored["seconds"], "cached": True}
                self.log.write("step", name=name, cached=True, seconds=stored["seconds"])
                return stored["result"]
        t0 = time.perf_counter()
        result = fn()
        seconds = round(time.perf_counter() - t0, 2)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "seconds": seconds, "result": result}, indent=1,
                                  default=_jsonable), encoding="utf-8")
        os.replace(tmp, path)
        self.timings[name] = {"seconds": seconds, "cached": False}
        self.log.write("step", name=name, cached=False, seconds=seconds)
        self.console.print(f"[dim]{title}: {seconds:.0f} s[/]")
        return json.loads(path.read_text(encoding="utf-8"))["result"]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
