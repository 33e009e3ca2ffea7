"""Per-request signatures: the map step of `scan`, one Arrow record batch in, one out.

`compute_signatures` is the single implementation that every engine calls: the DuckDB engine over the
batches of `traffic.ingest` (on a worker thread per CPU, `traffic.engine.map_batches`), a Spark job
through ``mapInArrow`` (hence int64, never uint64, columns: Spark has no unsigned types), the gateway's
live scoring. It has no Python loop over requests: Arrow's RE2 kernels for the lexicons, each tried only
on the texts that hold the literals its patterns require (`traffic._prefilter`, one compiled pass), and, where a
regex would cost one RE2 call per match (stopwords, script characters, template slots and words),
NumPy or compiled (numba, no GIL) passes over the UTF-8 bytes with identical results (`traffic._utf8`,
`traffic._slot_masks`, `traffic.template`); hashes are compiled (`traffic.simhash`). To bound the regex work on
very long prompts, flags and topics look at the first 4096 and last 1024 characters of the prompt,
the language guess at the first 1000. Every column derived from the prompt is computed once per distinct
lowercased prompt of a batch and copied to its repeats (`prompt_signatures`). `prompt_sample` picks, in
the same pass, the prompts kept for alert samples, by a hash of the request id (not by position in a
batch: batches differ by engine).
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from ._utf8 import ASCII_SPACE, ASCII_WORD, bytes_at, class_counts, compact_layout, one_array, string_array
from .lexicons import FLAGS, SCRIPTS, STOPWORDS, TOPIC_FALLBACK, TOPICS, candidates
from .schema import LOG_SCHEMA
from .simhash import hash_strings
from .template import template_signatures

__all__ = ["SIGNATURE_SCHEMA", "PASSTHROUGH", "PROMPT_SAMPLE_SCHEMA", "ROLE_PATTERNS",
           "compute_signatures", "ip_prefix24", "map_signatures", "prompt_sample", "prompt_signatures", "bounded_text",
           "language_guess", "role_counts", "topic_guess", "load_kernels"]

HEAD_CHARS, TAIL_CHARS, LANG_CHARS = 4096, 1024, 1000
PROMPT_SAMPLE_MOD, PROMPT_SAMPLE_CHARS = 16, 400  # keep 1 prompt in 16 (plus every flagged one), 400 chars

# Columns copied from the log unchanged: identity, infrastructure, timing, usage and sampling params.
PASSTHROUGH = ("request_id", "timestamp", "account_id", "org_id", "api_key_id", "ip", "user_agent",
               "payment_fingerprint", "model", "endpoint", "status", "latency_ms", "prompt_tokens",
               "completion_tokens", "temperature", "top_p", "max_tokens", "n", "logprobs", "top_logprobs")

_COMPUTED = (
    ("prompt_chars", pa.int32(), "Characters of prompt_text."),
    ("response_chars", pa.int32(), "Characters of response_text (null when no response was logged)."),
    ("n_messages", pa.int32(), "Messages in the request (1 for a plain prompt)."),
    ("n_user_turns", pa.int32(), "User messages (1 for a plain prompt)."),
    ("n_assistant_turns", pa.int32(), "Assistant messages (earlier turns sent back)."),
    ("has_system_prompt", pa.bool_(), "A system or developer message is present."),
    ("template_sig", pa.int64(), "SimHash of the masked prompt's word 3-shingles (see traffic.template)."),
    ("template_head", pa.int64(), "Hash of the first 8 masked words."),
    ("template_tail", pa.int64(), "Hash of the last 8 masked words."),
    *((name, pa.bool_(), f"Lexicon flag {lex.name!r} (see traffic.lexicons).") for name, lex in FLAGS.items()),
    ("lang", pa.string(), "Language guess: ISO 639-1 code, or 'und' when undetermined."),
    ("topic", pa.string(), f"Capability category with the most lexicon hits, or {TOPIC_FALLBACK!r}."),
    ("topic_mask", pa.int32(), "Bit i set when TOPICS category i matched (order of traffic.lexicons.TOPICS)."),
    ("ip24", pa.string(), "The IPv4 /24 prefix of ip (see ip_prefix24): the network linking and n_ip24 count."),
)

SIGNATURE_SCHEMA: pa.Schema = pa.schema(
    [LOG_SCHEMA.field(name) for name in PASSTHROUGH]
    + [pa.field(name, typ, metadata={"doc": doc}) for name, typ, doc in _COMPUTED],
    metadata={"distillwatch.schema": "request_signatures/1"},
)


def bounded_text(texts: pa.Array, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> pa.Array:
    """Each text if it has at most head + tail characters, else its first `head` and last `tail`
    characters joined by a newline. Nulls become ''."""
    texts = pc.fill_null(texts, "")
    long = pc.greater(pc.utf8_length(texts), head + tail)
    if not pc.any(long).as_py():
        return texts
    cut = texts.filter(long)  # cut only the long ones (few)
    joined = pc.binary_join_element_wise(pc.utf8_slice_codeunits(cut, 0, head),
                                         pc.utf8_slice_codeunits(cut, -tail), pa.scalar("\n", texts.type))
    return pc.replace_with_mask(texts, long, joined)


def language_guess(lowered: pa.Array) -> pa.Array:
    """Cheap language guess per (lowercased) text: a non-Latin script holding 30% or more of the letters
    names the language (kana make it Japanese even among Han characters); otherwise the Latin-script
    language with the most stopword hits; 'und' when nothing decides.

    Counted on the bytes (`traffic._utf8`), with the same result as counting the matches of the
    `SCRIPTS` and `STOPWORDS` regexes: a script class matches one character at a time, and a stopword
    pattern ``\\b(w1|w2|...)\\b`` matches exactly the maximal runs of ASCII word characters (RE2's
    ``\\b`` is ASCII) that equal one of its words."""
    lowered = pc.fill_null(lowered, "")
    n = len(lowered)
    out = np.zeros(n, dtype=np.int32)  # index into _LANGUAGES: 0 is 'und'
    data, off = compact_layout(lowered)
    hits, nonlatin = _language_pass(data, off, LANG_CHARS, ASCII_WORD, _STOP_CODES, _STOP_LANGS, _STOP_LONGEST)
    latin = ~nonlatin
    if nonlatin.any():  # script counts only where some non-Latin character occurs
        text = pc.utf8_slice_codeunits(lowered.filter(pa.array(nonlatin)), 0, LANG_CHARS)
        counts = class_counts(*compact_layout(text), [r"\pL", *SCRIPTS.values()])
        letters, counts = counts[0].astype(np.float64), counts[1:]
        share = counts / np.maximum(letters, 1.0)
        best = np.where(share[0] > 0.05, 0, np.argmax(share, axis=0))  # kana present -> ja
        decided = share[best, np.arange(len(best))] >= 0.3
        out[nonlatin] = np.where(decided, 1 + best, 0)
        latin[np.flatnonzero(nonlatin)[~decided]] = True  # mostly Latin letters with a few others
    if latin.any():
        hits = hits[:, latin]
        best = np.argmax(hits, axis=0)
        top = hits[best, np.arange(hits.shape[1])]
        out[latin] = np.where(top >= 1, 1 + len(SCRIPTS) + best, 0)
    return pc.take(_LANGUAGES, pa.array(out))


_LANGUAGES = pa.array(["und", *SCRIPTS, *STOPWORDS], pa.string())  # language_guess's answers, by index


def _stopword_table() -> tuple[np.ndarray, np.ndarray, int]:
    """(hash table of the codes of every stopword, which languages have each code's slot, the longest
    word's length) from the `STOPWORDS` patterns. A word's code is its ASCII bytes read as a little-endian
    integer (never 0); it sits in the first free slot from `_slot(code)` on (slots hold 0 when free)."""
    words: dict[int, np.ndarray] = {}
    for i, (lang, rx) in enumerate(STOPWORDS.items()):
        m = re.fullmatch(r"\\b\(([a-z]{1,8}(?:\|[a-z]{1,8})*)\)\\b", rx)
        if m is None:
            raise ValueError(f"STOPWORDS[{lang!r}] must read \\b(word|word|...)\\b with words of 1-8 ASCII letters")
        for w in m.group(1).split("|"):
            words.setdefault(int.from_bytes(w.encode(), "little"), np.zeros(len(STOPWORDS), dtype=bool))[i] = True
    bits = max(4, (4 * len(words) - 1).bit_length())  # a quarter full at most: few probes
    codes = np.zeros(1 << bits, dtype=np.uint64)
    langs = np.zeros((1 << bits, len(STOPWORDS)), dtype=np.int64)
    homes = _slot.py_func(np.array(list(words), dtype=np.uint64), np.uint64(64 - bits))  # wraps as compiled
    for (code, has), home in zip(words.items(), homes.tolist()):
        slot = home
        while codes[slot]:
            slot = (slot + 1) & ((1 << bits) - 1)
        codes[slot], langs[slot] = code, has
    return codes, langs, max((c.bit_length() + 7) // 8 for c in words)


_FIBONACCI = 0x9E3779B97F4A7C15


@njit(inline="always", cache=True)
def _slot(code, shift):
    """The home slot of a stopword code in a table of 2**(64 - shift) slots (Fibonacci hashing)."""
    return (code * np.uint64(_FIBONACCI)) >> shift


_STOP_CODES, _STOP_LANGS, _STOP_LONGEST = _stopword_table()
for _lang, _rx in SCRIPTS.items():  # counted per character (`_utf8.class_counts`): single-character classes only
    if not re.fullmatch(r"\\p\{\w+\}|\[(?:\\p\{\w+\})+\]", _rx):
        raise ValueError(f"SCRIPTS[{_lang!r}] must be one character class of \\p{{...}} names")


@njit(nogil=True, cache=True)
def _language_pass(data, off, limit, word_byte, codes, langs, longest):
    """Over the first `limit` characters of each row: (matches of each `STOPWORDS` pattern, languages x
    rows; whether some character lies above U+024F, i.e. a lead byte 0xCA+ or 0xC9 then 0x90+).

    A stopword match is a maximal run of ASCII word bytes (`word_byte`) of at most `longest` bytes whose
    little-endian code is in the hash table `codes` (`_stopword_table`); a hit adds its slot's row of
    `langs` to the row's counts."""
    n = len(off) - 1
    out = np.zeros((langs.shape[1], n), dtype=np.int64)
    nonlatin = np.zeros(n, dtype=np.bool_)
    mask = np.uint64(len(codes) - 1)
    bits = 0
    while (1 << bits) < len(codes):
        bits += 1
    shift = np.uint64(64 - bits)
    for r in range(n):
        i, end = off[r], off[r + 1]
        if end - i > limit:  # more bytes than the limit: the row ends after `limit` characters
            chars = 0
            e = i
            while e < end:
                if (data[e] & 0xC0) != 0x80:
                    if chars == limit:
                        break
                    chars += 1
                e += 1
            end = e
        while i < end:
            b = data[i]
            if not word_byte[b]:
                if b >= 0xCA or (b == 0xC9 and i + 1 < end and data[i + 1] >= 0x90):
                    nonlatin[r] = True
                i += 1
                continue
            start = i
            code = np.uint64(0)
            while i < end and word_byte[data[i]]:
                if i - start < 8:
                    code |= np.uint64(data[i]) << np.uint64(8 * (i - start))
                i += 1
            if i - start <= longest:
                slot = _slot(code, shift)
                while codes[slot] != 0 and codes[slot] != code:
                    slot = (slot + np.uint64(1)) & mask
                if codes[slot] == code:
                    for lang in range(langs.shape[1]):
                        out[lang, r] += langs[slot, lang]
    return out, nonlatin


def topic_guess(lowered: pa.Array, rows: dict[str, np.ndarray] | None = None) -> tuple[pa.Array, np.ndarray]:
    """(topic per text, bit mask of every matching category) from the `TOPICS` lexicons (tried only on
    the texts `rows` names per category, when given: `lexicons.candidates`)."""
    rows = rows or {}
    counts = (np.stack([lex.count(lowered, rows.get(name)) for name, lex in TOPICS.items()]) if len(lowered)
              else np.zeros((len(TOPICS), 0)))
    best = np.argmax(counts, axis=0)
    none = counts.max(axis=0, initial=0) == 0
    topic = pc.take(_TOPIC_NAMES, pa.array(np.where(none, len(TOPICS), best)))
    mask = ((counts > 0).astype(np.int64) << np.arange(len(TOPICS))[:, None]).sum(axis=0).astype(np.int32)
    return topic, mask


_TOPIC_NAMES = pa.array([*TOPICS, TOPIC_FALLBACK], pa.string())  # topic_guess's answers, by index


ROLE_PATTERNS = (r'"role"\s*:', r'"role"\s*:\s*"user"', r'"role"\s*:\s*"assistant"',
                 r'"role"\s*:\s*"(system|developer)"')  # counted by `role_counts`


def role_counts(messages: pa.Array) -> np.ndarray:
    """The number of (non-overlapping) matches of each of `ROLE_PATTERNS` in each messages JSON text,
    patterns x rows, as RE2 counts them (``count_substring_regex``; nulls count 0), in one compiled pass."""
    return _role_counts(*compact_layout(pc.fill_null(messages, "")))


_ROLE_VALUES = tuple(np.frombuffer(w, dtype=np.uint8).copy() for w in (b'user"', b'assistant"', b'system"',
                                                                        b'developer"'))


@njit(inline="always", cache=True)
def _skip_space(data, i, end):
    """The first index from `i` on (at most `end`) whose byte is not RE2's whitespace (``\\s``)."""
    while i < end and ASCII_SPACE[data[i]]:
        i += 1
    return i


@njit(nogil=True, cache=True)
def _role_counts(data, off):
    """Each pattern starts with the literal ``"role"``, so its matches start at occurrences of it; the
    greedy ``\\s*`` leaves one way to match from each. An occurrence counts for a pattern that matches
    there unless an earlier match of that pattern covers it (RE2 resumes after each match)."""
    n = len(off) - 1
    out = np.zeros((4, n), dtype=np.int64)
    user, assistant, system, developer = _ROLE_VALUES
    free = np.empty(4, dtype=np.int64)  # where each pattern may next match
    for r in range(n):
        end = off[r + 1]
        free[:] = off[r]
        for i in range(off[r], end - 5):
            if not (data[i] == 0x22 and data[i + 1] == 0x72 and data[i + 2] == 0x6F and data[i + 3] == 0x6C
                    and data[i + 4] == 0x65 and data[i + 5] == 0x22):  # "role"
                continue
            j = _skip_space(data, i + 6, end)
            if j >= end or data[j] != 0x3A:
                continue
            if i >= free[0]:
                out[0, r] += 1
                free[0] = j + 1
            j = _skip_space(data, j + 1, end)
            if j >= end or data[j] != 0x22:
                continue
            j += 1
            if bytes_at(data, j, end, user):
                k, stop = 1, j + len(user)
            elif bytes_at(data, j, end, assistant):
                k, stop = 2, j + len(assistant)
            elif bytes_at(data, j, end, system):
                k, stop = 3, j + len(system)
            elif bytes_at(data, j, end, developer):
                k, stop = 3, j + len(developer)
            else:
                continue
            if i >= free[k]:
                out[k, r] += 1
                free[k] = stop
    return out


def compute_signatures(batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    """The `SIGNATURE_SCHEMA` row of every request in a `LOG_SCHEMA` batch (same order, same length)."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([], LOG_SCHEMA)
    messages = pc.fill_null(batch.column("messages"), "")
    plain = pc.starts_with(messages, '"').to_numpy(zero_copy_only=False).astype(bool)
    roles = role_counts(messages)
    computed: dict[str, object] = {
        "response_chars": pc.utf8_length(batch.column("response_text")),
        "n_messages": np.where(plain, 1, roles[0]),
        "n_user_turns": np.where(plain, 1, roles[1]),
        "n_assistant_turns": roles[2],
        "has_system_prompt": roles[3] > 0,
        "ip24": ip_prefix24(batch.column("ip")),
        **prompt_signatures(batch.column("prompt_text")),
    }
    arrays = []
    for field in SIGNATURE_SCHEMA:
        value = batch.column(field.name) if field.name in PASSTHROUGH else computed[field.name]
        arrays.append(pa.array(value).cast(field.type) if not isinstance(value, pa.Array) else value.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=SIGNATURE_SCHEMA)


def ip_prefix24(ips: pa.Array) -> pa.Array:
    """Each address's /24 network, as the SQL ``CASE WHEN ip LIKE '%.%.%.%' THEN regexp_extract(ip,
    '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1) ELSE ip END`` gives it on DuckDB and Spark: with three dots or
    more, the first three numbers ('' when the text does not start with three numbers and dots); else the
    text itself (an IPv6 address, a host name). Nulls stay null. One compiled pass instead of a regex per
    row in every query that groups by it."""
    ips = one_array(ips)
    data, off = compact_layout(ips)
    valid = ips.is_valid().to_numpy(zero_copy_only=False) if ips.null_count else None
    return string_array(*_ip_prefix24(data, off), valid)


@njit(inline="always", cache=True)
def _number_then_dot(data, i, end):
    """Where a run of ASCII digits from `i` followed by a dot ends (after the dot), or -1."""
    j = i
    while j < end and 0x30 <= data[j] <= 0x39:
        j += 1
    return j + 1 if j > i and j < end and data[j] == 0x2E else -1


@njit(nogil=True, cache=True)
def _ip_prefix24(data, off):
    """(bytes, offsets) of `ip_prefix24` of each row of IP text bytes."""
    n = len(off) - 1
    out = np.empty(len(data), dtype=np.uint8)
    out_off = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for r in range(n):
        lo, hi = off[r], off[r + 1]
        dots = 0
        for i in range(lo, hi):
            dots += data[i] == 0x2E
        stop = hi
        if dots >= 3:
            stop = lo  # '' unless three numbers and dots start the text
            j = _number_then_dot(data, lo, hi)
            if j >= 0:
                j = _number_then_dot(data, j, hi)
            if j >= 0:
                j = _number_then_dot(data, j, hi)
            if j >= 0:
                stop = j - 1
        out[w:w + stop - lo] = data[lo:stop]
        w += stop - lo
        out_off[r + 1] = w
    return out[:w], out_off


def prompt_signatures(prompts: pa.Array) -> dict[str, pa.Array | np.ndarray]:
    """The signature columns that depend on the prompt text alone (prompt_chars, the template hashes, the
    lexicon flags, lang, topic, topic_mask) of each prompt (nulls read as ''), computed once per distinct
    lowercased prompt and copied to its repeats: API traffic repeats prompts (retries, eval suites, batch
    jobs, harvesting sweeps), and every one of these columns is a function of the lowercased text alone."""
    lowered = pc.utf8_lower(pc.fill_null(prompts, ""))
    encoded = pc.dictionary_encode(lowered)
    if len(encoded.dictionary) == len(lowered):
        return _distinct_prompt_signatures(lowered)
    at = encoded.indices
    return {name: pc.take(value, at) if isinstance(value, pa.Array) else value[at.to_numpy()]
            for name, value in _distinct_prompt_signatures(encoded.dictionary).items()}


def _distinct_prompt_signatures(lowered_whole: pa.Array) -> dict[str, pa.Array | np.ndarray]:
    """`prompt_signatures` of lowercased prompts, each computed."""
    lowered = bounded_text(lowered_whole)  # cutting commutes with utf8_lower (one code point for one)
    out: dict[str, pa.Array | np.ndarray] = {"prompt_chars": pc.utf8_length(lowered_whole)}
    out["template_sig"], out["template_head"], out["template_tail"] = template_signatures(lowered_whole, lowered=True)
    rows = candidates(lowered)  # one compiled pass: the texts each lexicon could match
    for name, lex in FLAGS.items():
        out[name] = lex.match(lowered, rows[name])
    out["lang"] = language_guess(lowered)
    out["topic"], out["topic_mask"] = topic_guess(lowered, rows)
    return out


PROMPT_SAMPLE_SCHEMA: pa.Schema = pa.schema([
    pa.field("sample_prompt", pa.string(), metadata={
        "doc": f"The prompt cut to {PROMPT_SAMPLE_CHARS} characters when kept for alert samples, else null."}),
    pa.field("sample_key", pa.int64(), metadata={
        "doc": "Non-negative hash of request_id: the deterministic order of the samples."}),
])


def prompt_sample(batch: pa.RecordBatch, signatures: pa.RecordBatch) -> pa.RecordBatch:
    """The `PROMPT_SAMPLE_SCHEMA` columns of every request of a `LOG_SCHEMA` batch and its signatures:
    prompts raising a lexicon flag are all kept, the others 1 in `PROMPT_SAMPLE_MOD` by a hash of the
    request id, so the same requests are kept whatever the engine and the batch boundaries."""
    h = hash_strings(batch.column("request_id"))
    keep = (h % np.uint64(PROMPT_SAMPLE_MOD)) == 0
    for name in (f.name for f in SIGNATURE_SCHEMA if f.name.startswith("is_")):
        keep |= pc.fill_null(signatures.column(name), False).to_numpy(zero_copy_only=False).astype(bool)
    kept = pc.utf8_slice_codeunits(batch.column("prompt_text").cast(pa.string()).filter(pa.array(keep)), 0,
                                   PROMPT_SAMPLE_CHARS)  # cut only the prompts kept
    sample = pc.replace_with_mask(pa.nulls(len(keep), pa.string()), pa.array(keep), kept)
    return pa.RecordBatch.from_arrays([sample, pa.array((h >> np.uint64(1)).astype(np.int64))],
                                      schema=PROMPT_SAMPLE_SCHEMA)


def load_kernels() -> None:
    """Compile (or load from numba's disk cache) the map's compiled passes now, on one tiny request: the
    gateway's live scoring calls it at start-up, so its first refresh does not wait seconds for the
    compiler (about 8 s cold, 0.4 s from the cache)."""
    from .schema import from_records

    batch = from_records([{"request_id": "r", "timestamp": 0, "account_id": "a", "model": "m",
                           "messages": 'Say "hi" 3 times, then _num_num_ 4 5.'}]).to_batches()[0]
    prompt_sample(batch, compute_signatures(batch))


def map_signatures(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`compute_signatures` over a stream of log batches (the shape of Spark's ``mapInArrow``)."""
    for batch in batches:
        yield compute_signatures(batch)
