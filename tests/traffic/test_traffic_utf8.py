"""The byte-level (NumPy) paths give exactly what the regexes they replace give.

`template._words` stands for MASKS[-2:] (separator runs, number lists) and a split, and the masks are
tried only on the texts they can match; `language_guess`
counts script characters and stopwords on the bytes. Each is compared here with the plain regex
implementation (kept below as the reference) on random texts built to hit the edge cases: empty and
null texts, every script of `SCRIPTS`, 4-byte characters, NUL, combining marks, the U+024F boundary,
literal ``_num_`` words, number lists and very long prompts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillwatch.traffic import _slot_masks, _utf8
from distillwatch.traffic.lexicons import SCRIPTS, STOPWORDS
from distillwatch.traffic.signatures import LANG_CHARS, bounded_text, language_guess
from distillwatch.traffic.simhash import hash_strings, sequence_hash, shingle_hashes, simhash
from distillwatch.traffic.template import HEAD_WORDS, MASKS, mask_variables, template_signatures, template_words

PIECES = [
    "the", "and", "The", "de", "que", "une", "und", "het", "voce", "per", "puedes", "bitte", "x", "a_b", "_",
    "1", "2, 3, 4", "3.14", "2024-01-05", "12:30", "1 2", "_num_", "_num_num_", "x_num_", "_num_x", "_num__num_",
    "_num_ _num_", "__num_", "_num_1", "num", " ", "  ", "\n", "\t", "\u00a0", "\u3000", ",", ".", "!?", "...",
    '"quoted text"', "'single'", "`code`", "```py\nprint(1)\n```", "http://example.com/x?y=1", "www.a.org",
    "me@example.com", "A" * 30, "你好", "世界", "ひらがな", "カタカナ", "한국어", "привет", "мир", "مرحبا", "नमस्ते",
    "γειά", "שלום", "สวัสดี", "😀", "𝔘𝔫𝔦", "e\u0301", "\u0000", "\u0240", "\u024f", "\u0250", "ɐ", "é", "ß",
    "İstanbul", "ΣΊΣΥΦΟΣ", "x\u200by", "٣٤٥", "Ⅻ", "½", "ǅ", "ʰ", "\ufeff", "(", ")", "()", "f()", "-", "--",
    # quotes of every kind, open, empty, across a newline, at the 300-character bound; number separators;
    # tokens at the 25-character bound counted in characters, not bytes; \v, which RE2's \s leaves out
    '"', "“", "”", "«", "»", "`", '""', "``", "“”", "«»", "“a”b”", '"a“b"', "«x\ny»", '"' + "q" * 299 + '"',
    '"' + "q" * 300 + '"', '"' + "q" * 301 + '"', "`" + "é" * 300 + "`", "“" + "😀" * 300 + "”", "1.", "1.2.3",
    "1,,2", "1,234,567.89", "1/2-3:4", "-1", "a1b2", "x" * 24, "x" * 25, "é" * 24, "é" * 25, "😀" * 25, "a\vb" * 9, "a\fb" * 9,
]


def _texts(seed: int, n: int = 600) -> list[str | None]:
    rng = np.random.default_rng(seed)
    out: list[str | None] = [None, "", " ", "_num_ _num_", "_num_num_ _num_", "1 _num_num_ 2 3"]
    for _ in range(n):
        k = int(rng.integers(0, 40))
        seps = rng.choice(["", " ", "  ", ", ", "\n"], size=k)
        out.append("".join(str(PIECES[i]) + str(s) for i, s in zip(rng.integers(0, len(PIECES), size=k), seps)))
    long_ids = rng.integers(0, len(PIECES), size=30_000)
    out.append(" ".join(PIECES[i] for i in long_ids))  # a very long prompt (head and tail cuts, chunks)
    out.append("1 " * 20_000)
    out.append("你好" * 3000)
    return out


def _mask_by_regex(texts: pa.Array) -> pa.Array:
    """Every MASKS regex in order over every text: what `mask_variables` must equal."""
    out = pc.utf8_lower(pc.fill_null(texts, ""))
    for pattern, replacement in MASKS:
        out = pc.replace_substring_regex(out, pattern, replacement)
    return out


def _words_by_regex(texts: pa.Array) -> list[list[str]]:
    return [[w for w in s.split(" ") if w] for s in _mask_by_regex(texts).to_pylist()]


def _signatures_by_regex(texts: pa.Array):
    """template_signatures as it was before the byte-level words (split of mask_variables)."""
    words = pc.split_pattern(_mask_by_regex(texts), " ")
    offsets = words.offsets.to_numpy().astype(np.int64)
    flat = words.flatten()
    nonempty = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    row = np.repeat(np.arange(len(words)), np.diff(offsets))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row[nonempty], minlength=len(words)))])
    flat = flat.filter(pa.array(nonempty))
    word_hash = hash_strings(flat)
    shingles, rows = shingle_hashes(word_hash, offsets, k=3)
    sig = simhash(shingles, rows, len(words))
    head = sequence_hash(word_hash, offsets, first=HEAD_WORDS)
    tail = sequence_hash(word_hash, offsets, last=HEAD_WORDS)
    return sig.view(np.int64), head.view(np.int64), tail.view(np.int64)


def _language_by_regex(lowered: pa.Array) -> list[str]:
    """language_guess as it was before the byte-level counts (one regex count per script and language)."""
    text = pc.utf8_slice_codeunits(lowered, 0, LANG_CHARS)
    out = np.full(len(text), "und", dtype=object)
    nonlatin = pc.match_substring_regex(text, r"[^\x00-\x{024F}]").to_numpy(zero_copy_only=False).astype(bool)
    latin = ~nonlatin
    if nonlatin.any():
        sub = text.filter(pa.array(nonlatin))
        letters = pc.count_substring_regex(sub, r"\pL").to_numpy(zero_copy_only=False).astype(np.float64)
        counts = np.stack([pc.count_substring_regex(sub, rx).to_numpy(zero_copy_only=False) for rx in SCRIPTS.values()])
        share = counts / np.maximum(letters, 1.0)
        best = np.where(share[0] > 0.05, 0, np.argmax(share, axis=0))
        decided = share[best, np.arange(len(best))] >= 0.3
        out[nonlatin] = np.where(decided, np.array(list(SCRIPTS), dtype=object)[best], "und")
        latin[np.flatnonzero(nonlatin)[~decided]] = True
    if latin.any():
        sub = text.filter(pa.array(latin))
        hits = np.stack([pc.count_substring_regex(sub, rx).to_numpy(zero_copy_only=False) for rx in STOPWORDS.values()])
        best = np.argmax(hits, axis=0)
        top = hits[best, np.arange(hits.shape[1])]
        out[latin] = np.where(top >= 1, np.array(list(STOPWORDS), dtype=object)[best], "und")
    return out.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_template_words_and_signatures_equal_the_regex_path(seed):
    texts = pa.array(_texts(seed), pa.string())
    assert mask_variables(texts).equals(_mask_by_regex(texts))
    assert template_words(texts).to_pylist() == _words_by_regex(texts)
    for got, want in zip(template_signatures(texts), _signatures_by_regex(texts)):
        assert np.array_equal(got, want)
    sliced = texts.slice(3, 200)  # an array with an offset into its buffers
    assert template_words(sliced).to_pylist() == _words_by_regex(sliced)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_language_guess_equals_the_regex_counts(seed):
    lowered = pc.utf8_lower(bounded_text(pa.array(_texts(seed), pa.string())))
    assert language_guess(lowered).to_pylist() == _language_by_regex(lowered)
    raw = pa.array(_texts(seed + 10), pa.string())  # nulls kept, not lowercased
    assert language_guess(raw).to_pylist() == _language_by_regex(pc.fill_null(raw, ""))


def test_language_guess_cuts_at_the_character_limit():
    """Words and scripts count only within the first LANG_CHARS characters (multi-byte ones included)."""
    pad = "é" * (LANG_CHARS - 3)
    texts = [pad + " the and", pad + " de la", "x" * (LANG_CHARS - 1) + " это это это", "é" * LANG_CHARS + " the",
             pad + " ab" + "это" * 50, "the and of " + "中" * (LANG_CHARS - 11) + "中"]
    lowered = pa.array(texts, pa.string())
    assert language_guess(lowered).to_pylist() == _language_by_regex(lowered)
    assert language_guess(lowered).to_pylist()[:4] == ["und", "und", "und", "und"]


def test_class_counts_equal_regex_match_counts():
    texts = pa.array([t or "" for t in _texts(3, 200)], pa.string()).slice(1)
    data, off = _utf8.string_layout(texts)
    patterns = [r"\pL", r"[\pL\pN_]", *SCRIPTS.values()]
    counts = _utf8.class_counts(data[off[0]:off[-1]], off - off[0], patterns)
    for i, pattern in enumerate(patterns):
        assert counts[i].tolist() == pc.count_substring_regex(texts, pattern).to_pylist(), pattern


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_slot_masks_equal_the_regexes(seed):
    """`_slot_masks` against MASKS[3:6] as RE2 replacements, on texts with the quote, token and number
    cases (a mutation such as a 300 -> 299 bound or a missing separator is caught here)."""
    texts = pc.utf8_lower(pa.array([t or "" for t in _texts(seed)], pa.string()))
    want = texts
    for pattern, replacement in MASKS[3:6]:
        want = pc.replace_substring_regex(want, pattern, replacement)
    data, off = _slot_masks.mask_quoted_tokens_numbers(*_utf8.compact_layout(texts))
    got = [bytes(data[a:b]).decode() for a, b in zip(off[:-1], off[1:])]
    assert got == want.to_pylist()
