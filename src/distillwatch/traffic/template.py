"""Prompt template signatures: what stays when the variable parts of a prompt are masked out.

Harvesting campaigns send thousands of prompts from a few templates ("Solve the following problem.
Write out your complete reasoning.\\n\\n{question}"). After lowercasing and masking the parts that vary
from one request to the next (code blocks, URLs, e-mail addresses, quoted strings, numbers, tokens of
25+ characters), each prompt gets three 64-bit signatures:

- ``template_sig``: SimHash of the masked prompt's word 3-shingles. Same template with different
  slot values -> equal (slots masked) or close (unmasked free text) sketches; compare with `hamming`.
- ``template_head`` / ``template_tail``: exact hashes of the first / last 8 masked words, the usual
  place of a template's fixed instruction when the variable part is long free text. Prompts of 8
  words or fewer get head == tail == a hash of the whole masked prompt.

All three are computed for a whole array of prompts with Arrow regex kernels (the slot masks) and NumPy
(the words, see `_words`, and `simhash`).
Known weakness: scripts without spaces (Chinese, Japanese) split into few long "words", so their
shingles are coarse.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._slot_masks import mask_quoted_tokens_numbers
from ._utf8 import LOW_BYTES, byte_class, compact_layout, padded, read_u64, row_of, runs, string_layout
from .simhash import hash_strings, sequence_hash, shingle_hashes, simhash

__all__ = ["MASKS", "HEAD_WORDS", "mask_variables", "template_words", "template_signatures"]

# (RE2 pattern, replacement), applied in this order to lowercased text.
MASKS: tuple[tuple[str, str], ...] = (
    (r"```[\s\S]*?```", " _code_ "),
    (r"(?:https?://|www\.)\S+", " _url_ "),
    (r"[\w.+-]+@[\w-]+\.[\w.-]+", " _email_ "),
    (r"\"[^\"\n]{0,300}\"|“[^”\n]{0,300}”|«[^»\n]{0,300}»|`[^`\n]{1,300}`", " _str_ "),
    (r"\S{25,}", " _tok_ "),
    (r"\d+(?:[.,:/-]\d+)*", " _num_ "),
    (r"[^\pL\pN_]+", " "),
    (r"_num_(?: _num_)+", "_num_"),  # a list of numbers of any length is one slot
)
HEAD_WORDS = 8


def mask_variables(texts: pa.Array) -> pa.Array:
    """Lowercase `texts` and replace their variable parts by mask tokens (`MASKS`); nulls become ''."""
    return _apply(_mask_slots(texts), MASKS[-2:])


def template_words(texts: pa.Array) -> pa.ListArray:
    """The masked words of each text (the space-separated words of `mask_variables`), as a list array."""
    flat, offsets = _words(texts)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat)


# The last two masks, done on the bytes: `_words` gives exactly the non-empty space-separated words that
# `mask_variables` leaves, without an RE2 call per separator run and per number list (see `_words`).
if MASKS[-2:] != ((r"[^\pL\pN_]+", " "), (r"_num_(?: _num_)+", "_num_")):
    raise AssertionError("template._words implements the last two MASKS on the bytes; change both together")
_WORD_CHAR = r"[\pL\pN_]"  # the complement of MASKS[-2]'s class
_NUM = np.uint64(int.from_bytes(b"_num_", "little"))
_CHUNK_BYTES = 1 << 23
_RARE = r"```|https?://|www\.|@"  # a literal each of MASKS[0:3] needs (see `_mask_slots`)
if MASKS[:3] != ((r"```[\s\S]*?```", " _code_ "), (r"(?:https?://|www\.)\S+", " _url_ "),
                 (r"[\w.+-]+@[\w-]+\.[\w.-]+", " _email_ ")):
    raise AssertionError("template._RARE lists literals the first three MASKS need; change them together")
if MASKS[3:6] != ((r"\"[^\"\n]{0,300}\"|“[^”\n]{0,300}”|«[^»\n]{0,300}»|`[^`\n]{1,300}`", " _str_ "),
                  (r"\S{25,}", " _tok_ "), (r"\d+(?:[.,:/-]\d+)*", " _num_ ")):
    raise AssertionError("traffic._slot_masks compiles MASKS[3:6]; change both together")


def _apply(texts: pa.Array, masks) -> pa.Array:
    """The (pattern, replacement) `masks` in order, each replacing only in the texts it matches: finding
    that a text has no match is a plain scan, cheaper than a replace that copies every text."""
    for pattern, replacement in masks:
        hit = pc.match_substring_regex(texts, pattern)
        n_hit = pc.sum(hit).as_py() or 0
        if n_hit == len(texts):
            texts = pc.replace_substring_regex(texts, pattern, replacement)
        elif n_hit:
            replaced = pc.replace_substring_regex(texts.filter(hit), pattern, replacement)
            texts = pc.replace_with_mask(texts, hit, replaced)
    return texts


def _mask_slots(texts: pa.Array) -> pa.Array:
    """Lowercase and the slot masks (all of `MASKS` but the last two); nulls become ''.

    Code blocks, URLs and e-mail addresses (MASKS[0:3]) need a literal that most prompts lack (three
    backticks, ``http://``, ``https://``, ``www.``, ``@``; the replacements add none), so one scan for
    those literals picks the few texts they are tried on. Quoted strings, long tokens and numbers
    (MASKS[3:6]) are compiled passes over the bytes (`traffic._slot_masks`), equal to the regexes."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    texts = pc.utf8_lower(pc.fill_null(texts, ""))
    rare = pc.match_substring_regex(texts, _RARE)
    n_rare = pc.sum(rare).as_py() or 0
    if n_rare:
        texts = pc.replace_with_mask(texts, rare, _apply(texts.filter(rare), MASKS[:3]))
    data, off = mask_quoted_tokens_numbers(*compact_layout(texts))
    wide = off[-1] >= 2**31
    offsets = pa.py_buffer(off if wide else off.astype(np.int32))
    return pa.Array.from_buffers(pa.large_string() if wide else pa.string(), len(texts),
                                 [None, offsets, pa.py_buffer(data)])


def _words(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(every masked word of every text, flat; row offsets into it): the non-empty words of
    `mask_variables` split on spaces, in order.

    MASKS[-2] turns each maximal run of non-word characters into one space, so the words are the maximal
    runs of word characters (RE2's ``[\\pL\\pN_]``, asked once per distinct code point). MASKS[-1]
    turns ``_num_ _num_ ... _num_`` into ``_num_``: a match starts at a word ending in ``_num_`` and
    takes each following word while that word starts with ``_num_`` (and goes on only if it is exactly
    ``_num_``); the matched words become one, the first word followed by what the others have after
    their leading ``_num_``. A later match can start in the merged word's tail only if the word it took
    last ends in ``_num_`` after its first five characters; that holds exactly when it ends in ``_num_``
    except for the word ``_num_num_``, whose rows (never seen in practice) take the regexes instead.
    """
    slots = _mask_slots(texts)
    flat, offsets, odd = _tokens(slots, None)
    if odd.any():
        fixed = _apply(slots.filter(pa.array(odd)), MASKS[-2:])
        slots = pc.replace_with_mask(slots, pa.array(odd), fixed)
        flat, offsets, _ = _tokens(slots, odd)
    return flat, offsets


def _tokens(slots: pa.Array, plain: np.ndarray | None) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(words, row offsets, rows holding a ``_num_num_`` word) of masked-slot texts; rows in `plain`
    (already through MASKS[-2:]) are only split, not merged. Chunks of whole rows bound the memory."""
    data, off = string_layout(slots)
    n = len(off) - 1
    parts, lengths, rows = [], [], []
    odd = np.zeros(n, dtype=bool)
    start = 0
    while start < n:
        stop = int(np.searchsorted(off, off[start] + _CHUNK_BYTES, side="right"))
        stop = min(max(stop - 1, start + 1), n)
        lo, hi = off[start], off[stop]
        b = data[lo:hi]
        bounds = off[start:stop + 1] - lo
        word = byte_class(b, _WORD_CHAR)
        s, e = runs(word, bounds)
        row = row_of(s, bounds) + start
        size = e - s
        pb = padded(b)
        begins = (size >= 5) & ((read_u64(pb, s) & LOW_BYTES[5]) == _NUM)
        ends = (size >= 5) & ((read_u64(pb, np.maximum(e - 5, 0)) & LOW_BYTES[5]) == _NUM)
        odd[row[(size == 9) & begins & ends]] = True
        link = np.zeros(len(s), dtype=bool)  # the word joins the word before it (MASKS[-1])
        link[1:] = begins[1:] & ends[:-1] & (row[1:] == row[:-1])
        if plain is not None:
            link &= ~plain[row]
        if link.any():
            for k in range(5):
                word[s[link] + k] = False
        parts.append(b[word])
        first = np.flatnonzero(~link)
        lengths.append(np.add.reduceat(size - 5 * link, first) if len(first) else first)
        rows.append(row[first])
        start = stop
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    word_off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=word_off[1:])
    buf = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    flat = pa.Array.from_buffers(pa.large_string(), len(lengths), [None, pa.py_buffer(word_off), pa.py_buffer(buf)])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return flat, offsets, odd


def template_signatures(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template_sig, template_head, template_tail) per text, as int64 views of 64-bit hashes."""
    flat, offsets = _words(texts)
    encoded = pc.dictionary_encode(flat)  # hash each distinct word once
    encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
    word_hash = hash_strings(encoded.dictionary)[encoded.indices.to_numpy(zero_copy_only=False)]
    shingles, rows = shingle_hashes(word_hash, offsets, k=3)
    sig = simhash(shingles, rows, len(offsets) - 1)
    head = sequence_hash(word_hash, offsets, first=HEAD_WORDS)
    tail = sequence_hash(word_hash, offsets, last=HEAD_WORDS)
    return sig.view(np.int64), head.view(np.int64), tail.view(np.int64)
