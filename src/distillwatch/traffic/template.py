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

All three are computed for a whole array of prompts: Arrow regex kernels for the rare slot masks (code,
URLs, e-mail addresses), then one compiled pass that masks the others (`traffic._slot_masks`), classes
the bytes and hashes the words of each row in buffers of one row's size (`_masked_signatures`, built on
`traffic.simhash`; `_merged_words` gives the words themselves).
Known weakness: scripts without spaces (Chinese, Japanese) split into few long "words", so their
shingles are coarse.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from numba import njit

from ._slot_masks import mask_quoted_tokens_numbers, mask_row, scratch_sizes
from ._utf8 import (above_bmp_class, byte_class, bytes_at, class_run, codepoint_table, compact_layout, one_array,
                    string_array)
from .simhash import hash_extend, hash_finish, sequence_hash_of, shingles_into, simhash_of

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
    flat, word_off, row_off = _words(texts)
    words = pa.Array.from_buffers(pa.large_string(), len(word_off) - 1,
                                  [None, pa.py_buffer(word_off), pa.py_buffer(flat)])
    return pa.ListArray.from_arrays(pa.array(row_off, pa.int32()), words)


# The last two masks, done on the bytes: `_words` gives exactly the non-empty space-separated words that
# `mask_variables` leaves, without an RE2 call per separator run and per number list (see `_words`).
if MASKS[-2:] != ((r"[^\pL\pN_]+", " "), (r"_num_(?: _num_)+", "_num_")):
    raise AssertionError("template._words implements the last two MASKS on the bytes; change both together")
_WORD_CHAR = r"[\pL\pN_]"  # the complement of MASKS[-2]'s class
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


def _mask_slots(texts: pa.Array, lowered: bool = False) -> pa.Array:
    """Lowercase (unless the texts are `lowered` already) and the slot masks (all of `MASKS` but the last
    two); nulls become ''."""
    return _slots_of(_rare_masked(texts, lowered))


def _rare_masked(texts: pa.Array, lowered: bool = False) -> pa.Array:
    """Lowercased (unless `lowered` already), nulls as '', through the rare slot masks (MASKS[0:3]).

    Code blocks, URLs and e-mail addresses need a literal that most prompts lack (three backticks,
    ``http://``, ``https://``, ``www.``, ``@``; the replacements add none), so one scan for those
    literals picks the few texts they are tried on."""
    texts = one_array(texts)
    texts = pc.fill_null(texts, "") if lowered else pc.utf8_lower(pc.fill_null(texts, ""))
    rare = pa.array(_rare_rows(*compact_layout(texts), _RARE_LEADS))  # pc.match_substring_regex(texts, _RARE), compiled
    n_rare = pc.sum(rare).as_py() or 0
    if n_rare:
        texts = pc.replace_with_mask(texts, rare, _apply(texts.filter(rare), MASKS[:3]))
    return texts


def _slots_of(texts: pa.Array) -> pa.Array:
    """Quoted strings, long tokens and numbers (MASKS[3:6]) masked in texts already through `_rare_masked`:
    compiled passes over the bytes (`traffic._slot_masks`), equal to the regexes."""
    return string_array(*mask_quoted_tokens_numbers(*compact_layout(texts)))


_HTTP = np.frombuffer(b"http", dtype=np.uint8).copy()
_WWW = np.frombuffer(b"www.", dtype=np.uint8).copy()


_RARE_LEADS = np.zeros(256, dtype=np.bool_)  # the first bytes of `_RARE`'s literals
_RARE_LEADS[[ord("@"), ord("`"), ord("h"), ord("w")]] = True


@njit(nogil=True, cache=True)
def _rare_rows(data, off, leads):
    """Whether each row holds a literal of `_RARE`: three backticks, ``http://``, ``https://``, ``www.``
    or ``@`` (`leads`: their first bytes)."""
    n = len(off) - 1
    out = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        end = off[r + 1]
        for i in range(off[r], end):
            b = data[i]
            if not leads[b]:
                continue
            if b == 0x40:  # @
                hit = True
            elif b == 0x60:  # `
                hit = i + 3 <= end and data[i + 1] == 0x60 and data[i + 2] == 0x60
            elif b == 0x68:
                hit = False
                if bytes_at(data, i, end, _HTTP):
                    j = i + 5 if i + 4 < end and data[i + 4] == 0x73 else i + 4  # https or http
                    hit = j + 3 <= end and data[j] == 0x3A and data[j + 1] == 0x2F and data[j + 2] == 0x2F
            else:
                hit = bytes_at(data, i, end, _WWW)
            if hit:
                out[r] = True
                break
    return out


def _words(texts: pa.Array, lowered: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the bytes of every masked word of every text, one after another; word offsets into them; row
    offsets into the words): the non-empty words of `mask_variables` split on spaces, in order.

    MASKS[-2] turns each maximal run of non-word characters into one space, so the words are the maximal
    runs of word characters (RE2's ``[\\pL\\pN_]``, asked once per distinct code point). MASKS[-1]
    turns ``_num_ _num_ ... _num_`` into ``_num_``: a match starts at a word ending in ``_num_`` and
    takes each following word while that word starts with ``_num_`` (and goes on only if it is exactly
    ``_num_``); the matched words become one, the first word followed by what the others have after
    their leading ``_num_``. A later match can start in the merged word's tail only if the word it took
    last ends in ``_num_`` after its first five characters; that holds exactly when it ends in ``_num_``
    except for the word ``_num_num_``, whose rows (never seen in practice) take the regexes instead.
    """
    slots = _mask_slots(texts, lowered)
    plain = np.zeros(len(slots), dtype=np.bool_)
    data, off = compact_layout(slots)
    flat, word_off, row_off, odd = _merged_words(data, off, byte_class(data, _WORD_CHAR), plain)
    if odd.any():
        fixed = _apply(slots.filter(pa.array(odd)), MASKS[-2:])
        slots = pc.replace_with_mask(slots, pa.array(odd), fixed)
        data, off = compact_layout(slots)
        flat, word_off, row_off, _ = _merged_words(data, off, byte_class(data, _WORD_CHAR), odd)
    return flat, word_off, row_off


@njit(inline="always", cache=True)
def _is_num_at(data, i):
    return (data[i] == 0x5F and data[i + 1] == 0x6E and data[i + 2] == 0x75 and data[i + 3] == 0x6D
            and data[i + 4] == 0x5F)  # "_num_"


@njit(inline="always", cache=True)
def _word_at(data, i, end, word, after_num, plain):
    """The next word of a row from byte `i` on (`word`: each byte's class), by the rule of `_words`:
    (start, stop, whether it ends with ``_num_``, whether it merges into the word before, whether it is
    ``_num_num_``); start == end when the row has no more words. `after_num`: the word before ends
    with ``_num_``; `plain`: the row is already through MASKS[-2:] (split only, never merged)."""
    while i < end and not word[i]:
        i += 1
    j = i
    while j < end and word[j]:
        j += 1
    size = j - i
    begins = size >= 5 and _is_num_at(data, i)
    ends = size >= 5 and _is_num_at(data, j - 5)
    return i, j, ends, after_num and begins and not plain, size == 9 and begins and ends


@njit(nogil=True, cache=True)
def _merged_words(data, off, word, plain):
    """The words of rows of masked-slot bytes (see `_words`): (word bytes, word offsets, row offsets,
    rows holding a ``_num_num_`` word). `word` tells each byte's class; rows in `plain` (already
    through MASKS[-2:]) are only split, not merged."""
    n = len(off) - 1
    flat = np.empty(len(data), dtype=np.uint8)
    word_off = np.empty(len(data) + 1, dtype=np.int64)
    row_off = np.zeros(n + 1, dtype=np.int64)
    odd = np.zeros(n, dtype=np.bool_)
    word_off[0] = 0
    nw = 0
    w = 0
    for r in range(n):
        i, end = off[r], off[r + 1]
        after_num = False
        while True:
            i, j, after_num, link, odd_word = _word_at(data, i, end, word, after_num, plain[r])
            if i == end:
                break
            odd[r] |= odd_word
            src = i + 5 if link else i
            flat[w:w + j - src] = data[src:j]
            w += j - src
            if not link:
                nw += 1
            word_off[nw] = w
            i = j
        row_off[r + 1] = nw
    return flat[:w], word_off[:nw + 1], row_off, odd


@njit(inline="always", cache=True)
def _row_signature(data, i, end, word, plain, k, head_words, hashes, shingles, votes, packed):
    """(SimHash of the word k-shingles, hash of the first and of the last `head_words` words, whether a
    ``_num_num_`` word occurs) of one row data[i:end] of masked-slot bytes, over the words `_merged_words`
    finds: each word hashed as it is read (a merged word's hash carried on over its tail), no word bytes
    copied. `hashes`, `shingles` (more entries than the row has bytes), `votes` (64) and `packed` (8)
    are scratch."""
    m = 0  # finished words
    h = np.uint64(0)  # the open word's polynomial and length
    size_open = 0
    started = False
    after_num = False
    odd = False
    while True:
        i, j, after_num, link, odd_word = _word_at(data, i, end, word, after_num, plain)
        if i == end:
            break
        odd |= odd_word
        if link:  # merged into the open word
            h = hash_extend(h, data, i + 5, j)
            size_open += j - i - 5
        else:
            if started:
                hashes[m] = hash_finish(h, size_open)
                m += 1
            h = hash_extend(np.uint64(0), data, i, j)
            size_open = j - i
        started = True
        i = j
    if started:
        hashes[m] = hash_finish(h, size_open)
        m += 1
    c = shingles_into(hashes, 0, m, k, shingles, 0)
    return (simhash_of(shingles, 0, c, votes, packed), sequence_hash_of(hashes, 0, min(m, head_words)),
            sequence_hash_of(hashes, max(0, m - head_words), m), odd)


@njit(nogil=True, cache=True)
def _slot_signatures(data, off, word, plain, k, head_words):
    """`_row_signature` of each row of masked-slot bytes (`word`: each byte's class; rows in `plain` are
    already through MASKS[-2:]): (sig, head, tail, rows holding a ``_num_num_`` word)."""
    n = len(off) - 1
    sig = np.empty(n, dtype=np.uint64)
    head = np.empty(n, dtype=np.uint64)
    tail = np.empty(n, dtype=np.uint64)
    odd = np.zeros(n, dtype=np.bool_)
    most = 0
    for r in range(n):
        most = max(most, off[r + 1] - off[r])
    hashes = np.empty(most + 1, dtype=np.uint64)  # a row has fewer words than bytes
    shingles = np.empty(most + 1, dtype=np.uint64)
    votes = np.empty(64, dtype=np.int64)
    packed = np.empty(8, dtype=np.uint64)
    for r in range(n):
        sig[r], head[r], tail[r], odd[r] = _row_signature(data, off[r], off[r + 1], word, plain[r], k, head_words,
                                                          hashes, shingles, votes, packed)
    return sig, head, tail, odd


@njit(nogil=True, cache=True)
def _masked_signatures(data, off, table, above, above_hit, k, head_words):
    """`_slot_signatures` of rows that have not been through MASKS[3:6] yet: each row is masked
    (`_slot_masks.mask_row`), its bytes classed (`_utf8.class_run`) and its words hashed in buffers of
    one row's size, reused from row to row, instead of a batch-sized array per pass."""
    n = len(off) - 1
    most = 0
    for r in range(n):
        most = max(most, off[r + 1] - off[r])
    size1, size2, size3 = scratch_sizes(most)
    s1 = np.empty(size1, dtype=np.uint8)
    s2 = np.empty(size2, dtype=np.uint8)
    s3 = np.empty(size3, dtype=np.uint8)
    word = np.empty(size3, dtype=np.bool_)
    hashes = np.empty(size3 + 1, dtype=np.uint64)
    shingles = np.empty(size3 + 1, dtype=np.uint64)
    votes = np.empty(64, dtype=np.int64)
    packed = np.empty(8, dtype=np.uint64)
    sig = np.empty(n, dtype=np.uint64)
    head = np.empty(n, dtype=np.uint64)
    tail = np.empty(n, dtype=np.uint64)
    odd = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        w = mask_row(data, off[r], off[r + 1], s1, s2, s3)
        class_run(s3, 0, w, table, above, above_hit, word)
        sig[r], head[r], tail[r], odd[r] = _row_signature(s3, 0, w, word, False, k, head_words, hashes, shingles,
                                                          votes, packed)
    return sig, head, tail, odd


def template_signatures(texts: pa.Array, *, lowered: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template_sig, template_head, template_tail) per text, as int64 views of 64-bit hashes: each word
    (of `template_words`) hashed as `simhash.hash_strings` would, the shingles, SimHash and sequence
    hashes of `traffic.simhash`, in one compiled pass over the texts after their rare masks
    (`_masked_signatures`; rows with a ``_num_num_`` word take the regexes for the last two masks, as in
    `_words`). `lowered`: the texts are already ``utf8_lower``-ed (the map lowercases once for the
    template and the lexicons)."""
    texts = _rare_masked(texts, lowered)
    data, off = compact_layout(texts)
    sig, head, tail, odd = _masked_signatures(data, off, codepoint_table(_WORD_CHAR),
                                              *above_bmp_class(data, _WORD_CHAR), 3, HEAD_WORDS)
    if odd.any():
        rows = np.flatnonzero(odd)
        fixed = _apply(_slots_of(texts.filter(pa.array(odd))), MASKS[-2:])
        data, off = compact_layout(fixed)
        sig[rows], head[rows], tail[rows], _ = _slot_signatures(data, off, byte_class(data, _WORD_CHAR),
                                                                np.ones(len(rows), dtype=np.bool_), 3, HEAD_WORDS)
    return sig.view(np.int64), head.view(np.int64), tail.view(np.int64)
