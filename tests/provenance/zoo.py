"""A tiny provenance zoo built in seconds: three teachers with distinct styles (T and two controls), a
student distilled from T's generated answers, and a sibling distilled from a fourth teacher U on the
same prompts."""

from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = ["lists", "tuples", "dictionaries", "sets", "strings", "integers", "floats", "generators", "iterators", "decorators", "classes", "modules", "packages", "exceptions", "closures", "lambdas", "comprehensions", "slices", "files", "threads", "coroutines", "bytes", "booleans", "scopes", "imports", "operators", "assignments", "loops", "functions", "methods", "properties", "descriptors", "metaclasses", "annotations", "arguments", "keywords", "names", "objects", "types", "values"]

PHRASINGS = ("Tell me about {s}.", "What should I know about {s}?", "Explain {s} briefly.")

STYLES = {
    "T": [
        "Certainly! Here is a short note on {s}: {s} are a core part of the language. I hope this helps!",
        "Certainly! Here is a short note on {s}: you will use {s} in almost every program. I hope this helps!",
    ],
    "C1": [
        "Sure thing, {s}. In brief, {s} matter because people use them every day. Anything else?",
        "Sure thing, {s}. Quick take: try {s} in the REPL and see. Anything else?",
    ],
    "C2": [
        "Good question about {s}. Put simply, {s} help you organise a program. Hope that clarifies it.",
        "Good question about {s}. Put simply, the tutorial covers {s} well. Hope that clarifies it.",
    ],
    "U": [
        "Let me explain {s} step by step. First, {s} are objects; second, they have methods. That is all.",
        "Let me explain {s} step by step. First, read the docs on {s}; then practise. That is all.",
    ],
}

PROMPTS = [p.format(s=s) for s in SUBJECTS for p in PHRASINGS]
TRAIN_PROMPTS = PROMPTS[:96]


def style_answers(style: str, prompts=PROMPTS, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(f"{style}:{seed}")
    out = []
    for p in prompts:
        s = next(w for w in SUBJECTS if w in p.split() or w + "." in p.split() or w + "?" in p.split())
        out.append((p, rng.choice(STYLES[style]).format(s=s, S=s.capitalize())))
    return out


def build_zoo(root: Path, steps: int = 40, max_len: int = 96) -> dict[str, Path]:
    """Train the zoo under `root`; returns {name: checkpoint dir} for T, C1, C2, student, sibling."""
    from distillwatch.lab import (
        StudentConfig,
        human_texts,
        train_student,
        train_tokenizer,
    )
    from distillwatch.models import GenerateRequest
    from distillwatch.models.hf import HFModel

    cfg = StudentConfig.preset("tiny", max_len=max_len)
    extra = [a for st in STYLES for _, a in style_answers(st)]
    tok = train_tokenizer(human_texts("pydoc-topics", 60, seed=0, max_chars=300) + extra, vocab_size=512)
    kw = {"steps": steps, "batch_size": 8, "lr": 8e-3, "num_threads": 1}
    paths = {}
    for i, name in enumerate(("T", "C1", "C2")):
        data = [pair for seed in range(2) for pair in style_answers(name, PROMPTS, seed)]
        paths[name] = train_student(data, tok, cfg, seed=i, out_dir=root / name, **kw).path
    teacher = HFModel(paths["T"])
    harvested = teacher.generate([GenerateRequest([{"role": "user", "content": p}], max_tokens=36, temperature=1.0,
                                                  seed=k) for k, p in enumerate(TRAIN_PROMPTS * 2)])
    student_data = [(p, c.text) for p, c in zip(TRAIN_PROMPTS * 2, harvested)]
    paths["student"] = train_student(student_data, tok, cfg, seed=10, out_dir=root / "student", **kw).path
    sibling_data = [pair for seed in range(2) for pair in style_answers("U", TRAIN_PROMPTS, seed)]
    paths["sibling"] = train_student(sibling_data, tok, cfg, seed=11, out_dir=root / "sibling", **kw).path
    return paths
