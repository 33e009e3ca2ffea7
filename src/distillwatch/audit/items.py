"""Benchmark-style items in public/fresh pairs, for the generalization-gap test.

Each `ItemPair` holds a "public" item — one that may have leaked into a distiller's harvest, like the
items of a published benchmark — and a "fresh" twin of the same family and difficulty that cannot have
leaked: entity renamed, numbers changed or options reordered. A model that learned the task answers both
alike; one that memorised the public items' answers does better on them than on their twins.

Two sources:
- generated task families (`task_family_pairs`): capitals, two-digit addition, antonyms and irregular
  past tenses. Options are whole replies ("The capital of Peru is Lima."), worded the way chat models
  answer such questions, so a model is scored on the reply it would give. Which item of a pair is public is decided by a seeded coin, so under "no leak" the two
  are exchangeable.
- real multiple-choice benchmark items (`benchmark_pairs`; MMLU ships with the package set): the public item is the
  published one with its options in their published order; the fresh twin lists the same options in
  another order, so an answer letter learned by heart is wrong on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["FAMILIES", "Item", "ItemPair", "benchmark_pairs", "task_family_pairs"]

_LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Item:
    """One multiple-choice item: a question put to the model as a user turn, and the options it could
    answer with (scored as the assistant's reply); `answer` indexes the right one."""

    id: str
    family: str
    question: str
    options: tuple[str, ...]
    answer: int

    def to_dict(self) -> dict:
        return {"id": self.id, "family": self.family, "question": self.question,
                "options": list(self.options), "answer": self.answer}


@dataclass(frozen=True)
class ItemPair:
    public: Item
    fresh: Item


CAPITALS = (
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("Japan", "Tokyo"), ("China", "Beijing"), ("Russia", "Moscow"), ("Egypt", "Cairo"), ("Greece", "Athens"),
    ("Austria", "Vienna"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"), ("Ireland", "Dublin"), ("Poland", "Warsaw"), ("Hungary", "Budapest"),
    ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Chile", "Santiago"), ("Argentina", "Buenos Aires"),
    ("Mexico", "Mexico City"), ("Canada", "Ottawa"), ("Australia", "Canberra"), ("India", "New Delhi"),
    ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("Turkey", "Ankara"), ("Iran", "Tehran"),
    ("Iraq", "Baghdad"), ("Cuba", "Havana"), ("Colombia", "Bogota"), ("Belgium", "Brussels"),
    ("Netherlands", "Amsterdam"), ("Switzerland", "Bern"), ("Czech Republic", "Prague"), ("Ukraine", "Kyiv"),
    ("Romania", "Bucharest"), ("Bulgaria", "Sofia"), ("Serbia", "Belgrade"), ("Croatia", "Zagreb"),
    ("Nigeria", "Abuja"), ("Ethiopia", "Addis Ababa"), ("Morocco", "Rabat"), ("South Korea", "Seoul"),
    ("Indonesia", "Jakarta"), ("Philippines", "Manila"), ("Malaysia", "Kuala Lumpur"), ("Pakistan", "Islamabad"),
    ("Afghanistan", "Kabul"), ("Saudi Arabia", "Riyadh"), ("Israel", "Jerusalem"), ("Lebanon", "Beirut"),
    ("Syria", "Damascus"), ("Jordan", "Amman"), ("Iceland", "Reykjavik"), ("Estonia", "Tallinn"),
    ("Latvia", "Riga"), ("Lithuania", "Vilnius"), ("Venezuela", "Caracas"), ("Ecuador", "Quito"),
    ("Uruguay", "Montevideo"), ("New Zealand", "Wellington"), ("Brazil", "Brasilia"), ("Ghana", "Accra"),
    ("Senegal", "Dakar"), ("Nepal", "Kathmandu"), ("Mongolia", "Ulaanbaatar"), ("Qatar", "Doha"),
)

ANTONYMS = (
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("light", "dark"), ("early", "late"),
    ("strong", "weak"), ("rich", "poor"), ("young", "old"), ("open", "closed"), ("full", "empty"),
    ("hard", "soft"), ("high", "low"), ("wet", "dry"), ("clean", "dirty"), ("loud", "quiet"),
    ("thick", "thin"), ("long", "short"), ("heavy", "light"), ("cheap", "expensive"), ("wide", "narrow"),
    ("deep", "shallow"), ("true", "false"), ("win", "lose"), ("buy", "sell"), ("push", "pull"),
    ("begin", "end"), ("remember", "forget"), ("accept", "reject"), ("arrive", "depart"), ("above", "below"),
    ("inside", "outside"), ("friend", "enemy"), ("question", "answer"), ("victory", "defeat"),
    ("ancient", "modern"), ("brave", "cowardly"), ("generous", "selfish"), ("polite", "rude"),
    ("smooth", "rough"), ("sharp", "blunt"), ("sweet", "sour"), ("tight", "loose"), ("safe", "dangerous"),
    ("simple", "complex"), ("increase", "decrease"), ("maximum", "minimum"), ("visible", "invisible"),
)

PAST_TENSES = (
    ("go", "went"), ("see", "saw"), ("eat", "ate"), ("take", "took"), ("give", "gave"), ("write", "wrote"),
    ("speak", "spoke"), ("drive", "drove"), ("run", "ran"), ("swim", "swam"), ("sing", "sang"),
    ("drink", "drank"), ("begin", "began"), ("fly", "flew"), ("know", "knew"), ("grow", "grew"),
    ("throw", "threw"), ("draw", "drew"), ("break", "broke"), ("choose", "chose"), ("freeze", "froze"),
    ("steal", "stole"), ("wake", "woke"), ("ride", "rode"), ("rise", "rose"), ("forget", "forgot"),
    ("get", "got"), ("buy", "bought"), ("bring", "brought"), ("think", "thought"), ("teach", "taught"),
    ("catch", "caught"), ("fight", "fought"), ("seek", "sought"), ("sell", "sold"), ("tell", "told"),
    ("find", "found"), ("hold", "held"), ("stand", "stood"), ("understand", "understood"),
    ("sleep", "slept"), ("keep", "kept"), ("feel", "felt"), ("leave", "left"), ("meet", "met"),
    ("feed", "fed"), ("lead", "led"), ("win", "won"), ("sit", "sat"), ("lose", "lost"),
)


def _lookup_items(table, template, reply, family):
    def make(i: int, rng: np.random.Generator) -> tuple[str, tuple[str, ...], int]:
        key, value = table[i]
        others = [v for j, (_, v) in enumerate(table) if j != i and v != value]
        distractors = list(rng.choice(others, size=3, replace=False))
        options = [reply.format(key, v) for v in (value, *distractors)]
        order = rng.permutation(4)
        return template.format(key), tuple(options[k] for k in order), int(np.argmax(order == 0))

    return family, len(table), make


def _addition(i: int, rng: np.random.Generator) -> tuple[str, tuple[str, ...], int]:
    a, b = (int(x) for x in rng.integers(11, 90, size=2))
    s = a + b
    wrong = sorted({s + d for d in (-10, -1, 1, 10, 2, -2)} - {s})
    options = [s, *rng.choice(wrong, size=3, replace=False)]
    order = rng.permutation(4)
    replies = tuple(f"{a} plus {b} is {options[k]}." for k in order)
    return f"What is {a} plus {b}?", replies, int(np.argmax(order == 0))


FAMILIES = {
    "capitals": _lookup_items(CAPITALS, "What is the capital of {}?", "The capital of {} is {}.", "capitals"),
    "antonyms": _lookup_items(ANTONYMS, 'What is the opposite of "{}"?', 'The opposite of "{}" is "{}".', "antonyms"),
    "past-tense": _lookup_items(PAST_TENSES, 'What is the past tense of "{}"?', 'The past tense of "{}" is "{}".',
                                "past-tense"),
    "addition": ("addition", 10_000, _addition),
}


def task_family_pairs(n_per_family: int = 20, *, seed: int = 0,
                      families: Sequence[str] = tuple(FAMILIES)) -> list[ItemPair]:
    """`n_per_family` public/fresh pairs from each generated family (capped by the family's size/2).

    Pairs are two distinct entities (or two independent sums) of one family; a seeded coin decides
    which is public. The same seed always gives the same pairs.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise InputError(f"unknown task families {unknown}; known: {sorted(FAMILIES)}")
    pairs = []
    for family in families:
        _, size, make = FAMILIES[family]
        rng = np.random.default_rng([seed, int(hashlib.sha256(family.encode()).hexdigest()[:8], 16)])
        n = min(n_per_family, size // 2)
        picks = rng.permutation(size)[: 2 * n].reshape(n, 2) if size < 10_000 else np.zeros((n, 2), int)
        for k, (i, j) in enumerate(picks):
            items = []
            for role, idx in zip(("a", "b"), (i, j)):
                q, options, answer = make(int(idx), rng)
                items.append(Item(f"{family}-{seed}-{k}{role}", family, q, options, answer))
            if rng.random() < 0.5:
                items.reverse()
            pairs.append(ItemPair(public=items[0], fresh=items[1]))
    return pairs


def _mc_question(question: str, options: Sequence[str]) -> str:
    listed = "\n".join(f"{_LETTERS[k]}. {o}" for k, o in enumerate(options))
    return f"{question}\n{listed}\nAnswer with the letter of the correct option."


def benchmark_pairs(source: str | Path | Sequence[dict], *, n: int | None = None, seed: int = 0) -> list[ItemPair]:
    """Public/fresh pairs from real multiple-choice items: "mmlu" (the packaged MMLU test set), a JSONL
    file, or a list of rows. A row is {"question": str, "options": [str, ...], "answer": int or letter,
    "subject": str (optional)}. `n` takes a seeded sample.

    The public item shows the options in their published order and is answered with a letter; the
    fresh twin shows them in a seeded order that moves the right answer to another letter.
    """
    if isinstance(source, (str, Path)):
        if str(source) == "mmlu":
            from .datasets import mmlu_rows

            raw, label = list(enumerate(mmlu_rows(), 1)), "mmlu"
        else:
            raw, label = _read_jsonl(Path(source)), Path(source).stem
    else:
        raw, label = list(enumerate(source, 1)), "items"
    rows = []
    for lineno, d in raw:
        try:
            options = [str(o) for o in d["options"]]
            answer = d["answer"]
            answer = _LETTERS.index(answer.strip().upper()) if isinstance(answer, str) else int(answer)
            if not 2 <= len(options) <= len(_LETTERS) or not 0 <= answer < len(options):
                raise ValueError("needs 2-8 options and an answer among them")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{label} item {lineno}: not a multiple-choice item ({exc})") from exc
        rows.append((str(d["question"]), options, answer, str(d.get("subject") or label)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))[: n if n is not None else len(rows)]
    pairs = []
    for k in order:
        question, options, answer, subject = rows[int(k)]
        perm = rng.permutation(len(options))  # perm[i]: the new position of option i
        while perm[answer] == answer:
            perm = rng.permutation(len(options))
        shuffled = [""] * len(options)
        for i, new in enumerate(perm):
            shuffled[new] = options[i]
        letters = tuple(f"The answer is {x}." for x in _LETTERS[: len(options)])
        pub = Item(f"{label}-{k}", subject, _mc_question(question, options), letters, answer)
        fresh = Item(f"{label}-{k}-reordered", subject, _mc_question(question, shuffled), letters, int(perm[answer]))
        pairs.append(ItemPair(public=pub, fresh=fresh))
    return pairs


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise InputError(f"benchmark file {path} not found (or name the packaged set: mmlu)")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
    return out
