"""Fixtures for the lab tests: a small BPE tokenizer and two synthetic teachers with distinct styles."""

from __future__ import annotations

import random

import pytest
import torch

from distillwatch.lab import StudentConfig, human_texts, train_tokenizer

SUBJECTS = [
    "lists",
    "tuples",
    "dictionaries",
    "sets",
    "strings",
    "integers",
    "floats",
    "generators",
    "iterators",
    "decorators",
    "classes",
    "modules",
    "packages",
    "exceptions",
    "closures",
    "lambdas",
    "comprehensions",
    "slices",
    "files",
    "threads",
    "coroutines",
    "bytes",
    "booleans",
    "scopes",
    "imports",
    "operators",
    "assignments",
    "loops",
    "functions",
    "methods",
    "properties",
    "descriptors",
    "metaclasses",
    "annotations",
    "arguments",
    "keywords",
    "names",
    "objects",
    "types",
    "values",
]

STYLES = {
    # teacher A: eager and formal, always the same frame
    "A": [
        "Certainly! Here is a short note on {s}: {s} are a core part of the language. I hope this helps!",
        "Certainly! Here is a short note on {s}: you will use {s} in almost every program. I hope this helps!",
        "Certainly! Here is a short note on {s}: the reference manual explains {s} in detail. I hope this helps!",
    ],
    # teacher B: terse and casual, a different frame
    "B": [
        "{S}? Sure thing. In brief, {s} matter because people use them every day. Anything else?",
        "{S}? Sure thing. Short version: {s} keep code simple when used well. Anything else?",
        "{S}? Sure thing. Quick take: try {s} in the REPL and see. Anything else?",
    ],
}


def prompt_for(subject: str, i: int) -> str:
    return ["Tell me about {s}.", "What should I know about {s}?", "Explain {s} briefly."][i % 3].format(
        s=subject
    )


def teacher_answers(style: str, subjects: list[str], seed: int = 0) -> list[tuple[str, str]]:
    """(prompt, answer) pairs in one teacher's style."""
    rng = random.Random(f"{style}:{seed}")
    pairs = []
    for i, s in enumerate(subjects):
        template = rng.choice(STYLES[style])
        pairs.append((prompt_for(s, i), template.format(s=s, S=s.capitalize())))
    return pairs


TRAIN_SUBJECTS = SUBJECTS[:32]
HELDOUT_SUBJECTS = SUBJECTS[32:]


@pytest.fixture(scope="session")
def tiny() -> StudentConfig:
    """A ~0.1M-parameter Llama (with the 512-token vocabulary)."""
    return StudentConfig.preset("tiny", max_len=96)


@pytest.fixture(scope="session")
def make_answers():
    return teacher_answers


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Tiny models train fastest on one thread, and torch's spinning worker threads slow to a crawl when
    other processes share the two cores; the caller's setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def human() -> list[str]:
    return human_texts("pydoc-topics", 120, seed=0, max_chars=400)


@pytest.fixture(scope="session")
def tok(human):
    extra = [a for style in STYLES for _, a in teacher_answers(style, SUBJECTS)]
    return train_tokenizer(human + extra, vocab_size=512)


@pytest.fixture(scope="session")
def answers() -> dict[str, list[tuple[str, str]]]:
    """Each teacher's answers to the training prompts (repeated with different template draws)."""
    return {
        style: [p for seed in range(4) for p in teacher_answers(style, TRAIN_SUBJECTS, seed)]
        for style in STYLES
    }


@pytest.fixture(scope="session")
def heldout() -> dict[str, list[tuple[str, str]]]:
    return {style: teacher_answers(style, HELDOUT_SUBJECTS, seed=99) for style in STYLES}
