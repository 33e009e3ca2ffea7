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

All three are computed for a whole array of prompts with Arrow regex kernels and NumPy (`simhash`).
Known weakness: scripts without spaces (Chinese, Japanese) split into few long "words", so their
shingles are coarse.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    out = pc.utf8_lower(pc.fill_null(texts, ""))
    for pattern, replacement in MASKS:
        out = pc.replace_substring_regex(out, pattern, replacement)
    return out


def template_words(texts: pa.Array) -> pa.ListArray:
    """The masked words of each text, as a list array (empty strings where a text starts or ends with
    a space; `template_signatures` drops them)."""
    # After MASKS the only separators are single ASCII spaces. Not utf8_split_whitespace: in pyarrow 26 it
    # sometimes keeps the trailing space of an array's last string (reads past the end of the data).
    words = pc.split_pattern(mask_variables(texts), " ")
    return words.combine_chunks() if isinstance(words, pa.ChunkedArray) else words


def template_signatures(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template_sig, template_head, template_tail) per text, as int64 views of 64-bit hashes."""
    words = template_words(texts)
    offsets = words.offsets.to_numpy().astype(np.int64)
    flat = words.flatten()
    nonempty = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    if not nonempty.all():  # a leading or trailing space, or an empty text, yields an empty word
        row = np.repeat(np.arange(len(words)), np.diff(offsets))
        offsets = np.concatenate([[0], np.cumsum(np.bincount(row[nonempty], minlength=len(words)))])
        flat = flat.filter(pa.array(nonempty))
    offsets -= offsets[0]
    encoded = pc.dictionary_encode(flat)  # hash each distinct word once
    encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
    word_hash = hash_strings(encoded.dictionary)[encoded.indices.to_numpy(zero_copy_only=False)]
    shingles, rows = shingle_hashes(word_hash, offsets, k=3)
    sig = simhash(shingles, rows, len(words))
    head = sequence_hash(word_hash, offsets, first=HEAD_WORDS)
    tail = sequence_hash(word_hash, offsets, last=HEAD_WORDS)
    return sig.view(np.int64), head.view(np.int64), tail.view(np.int64)
