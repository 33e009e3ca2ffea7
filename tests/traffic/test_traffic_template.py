"""Template signatures: stable under changed variables, far apart for different templates; pinned hashes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillwatch.traffic.simhash import hamming, hash_strings, sequence_hash, shingle_hashes, simhash, splitmix64
from distillwatch.traffic.template import mask_variables, template_signatures

COT = "Solve the following problem. Write out your complete reasoning step by step.\n\n{q}"
CLASSIFY = 'Classify the sentiment of this review as positive or negative. Review: "{q}" Answer with one word.'
UNRELATED = [
    "Write me a poem about the sea and the wind at night, with five stanzas and a sad ending.",
    "What are the main differences between the French and the American revolutions?",
    "My sourdough starter smells like acetone, is it still alive and what should I feed it?",
    "Draft a polite email to my landlord asking to fix the heating before the weekend.",
]


def test_masking_replaces_variable_parts():
    masked = mask_variables(pa.array([
        'Order #12345 shipped on 2026-01-05 to "Jane Doe" (jane@example.com), see https://t.co/x?y=1 '
        "token 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 ```print(1)``` 1, 2, 3 and 4",
    ])).to_pylist()[0]
    assert masked.split() == ["order", "_num_", "shipped", "on", "_num_", "to", "_str_", "_email_", "see", "_url_",
                              "token", "_tok_", "_code_", "_num_", "and", "_num_"]


def test_same_template_with_masked_slots_gets_identical_signatures():
    texts = pa.array([
        'Translate "good morning" to French. Reply in 12 words or fewer.',
        'Translate "where is the station, please?" to French. Reply in 7 words or fewer.',
        'Translate "I would like two coffees" to French. Reply in 30 words or fewer.',
    ])
    sig, head, tail = template_signatures(texts)
    assert len(set(sig)) == len(set(head)) == len(set(tail)) == 1


def test_free_text_slot_keeps_head_and_near_simhash():
    questions = [
        "If a train leaves at 3:45 pm going 60 mph, how far has it gone by 5 pm?",
        "A farmer has 17 sheep and all but 9 run away. How many are left?",
        "What is the sum of the interior angles of a hexagon?",
        "Prove that there are infinitely many primes.",
    ]
    sig, head, tail = template_signatures(pa.array([COT.format(q=q) for q in questions]))
    assert len(set(head)) == 1  # the fixed instruction opens every prompt
    other_sig, other_head, _ = template_signatures(pa.array(UNRELATED))
    # SimHash weighs every shingle alike, so a long free-text slot pulls sketches apart; still closer on
    # average than unrelated prompts (~32 bits). The exact head key is what groups these.
    same = [hamming(sig[i], sig[j]) for i in range(4) for j in range(i + 1, 4)]
    cross = [hamming(s, o) for s in sig for o in other_sig]
    assert np.mean(same) + 6 < np.mean(cross), (same, cross)
    assert not set(head) & set(other_head)

    reviews = ["Great product, works fine!", "Terrible. Broke after two days.", "Meh", "Best purchase this year"]
    _, _, tail = template_signatures(pa.array([CLASSIFY.format(q=r) for r in reviews]))
    assert len(set(tail)) == 1


def test_unrelated_prompts_are_far_apart():
    sig, head, tail = template_signatures(pa.array(UNRELATED))
    assert len(set(head)) == len(set(tail)) == len(UNRELATED)
    distances = [hamming(sig[i], sig[j]) for i in range(4) for j in range(i + 1, 4)]
    assert min(distances) >= 16, distances


def test_empty_and_null_prompts_get_zero():
    sig, head, tail = template_signatures(pa.array(["", None, "   ", "hi"], pa.string()))
    assert sig[:3].tolist() == head[:3].tolist() == tail[:3].tolist() == [0, 0, 0]
    assert sig[3] != 0 and head[3] == tail[3] != 0


def test_hashes_are_pinned_and_chunking_invariant():
    # Fixed values: a change here changes every stored signature (DuckDB and Spark runs must agree).
    assert splitmix64(np.array([0], dtype=np.uint64)).tolist() == [0xE220A8397B1DCDAF]  # reference splitmix64
    assert hash_strings(pa.array(["hello", None], pa.string())).tolist() == [17483927225416268492, 0]
    words = pa.array([f"w{i % 97}" for i in range(5000)])
    assert np.array_equal(hash_strings(words)[4000:], hash_strings(words.slice(4000)))
    assert np.array_equal(hash_strings(words), hash_strings(words.cast(pa.large_string())))


def test_simhash_counts_long_rows_exactly():
    # Votes are counted in bytes and flushed every 255 shingles: rows of 255, 256 and 70,000 shingles
    # (and one whose every shingle sets a bit) against a plain per-bit count.
    rng = np.random.default_rng(5)
    sizes = [1, 254, 255, 256, 511, 70_000]
    shingles = rng.integers(0, 2**63, size=sum(sizes), dtype=np.uint64) | np.uint64(1)
    rows = np.repeat(np.arange(len(sizes)), sizes)
    got = simhash(shingles, rows, len(sizes) + 1)
    bits = np.unpackbits(shingles.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little").astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for r, n in enumerate(sizes):
        major = 2 * bits[bounds[r]:bounds[r + 1]].sum(axis=0) > n
        assert int(got[r]) == int(np.packbits(major.astype(np.uint8), bitorder="little").view("<u8")[0])
        assert int(got[r]) & 1
    assert got[-1] == 0  # a row with no shingles


def test_template_signatures_are_pinned():
    # Fixed values from before the words and hashes were compiled: stored signatures stay comparable.
    texts = ["Solve the following problem. Write out your complete reasoning step by step.\n\nWhat is 17 * 23?",
             'Classify the sentiment: "great product" Answer 1, 2 or 3.', "hi", "", "_num_num_ 1 2 _num_x y",
             "你好，世界！ Привет, мир.", "a b"]
    sig, head, tail = template_signatures(pa.array(texts))
    assert sig.tolist() == [1115009975824758553, 212023581713006810, -6184011894736474808, 0, 1666361456803092672,
                            2325264920048675104, -4628615465213935785]
    assert head.tolist() == [4824268220483835623, -7057777051042826262, 2334148697384775360, 0,
                             -3664166708698725822, -1964723849765838708, -7661070763851468590]
    assert tail.tolist()[0] == 8408367620956788422 and tail.tolist()[1:] == head.tolist()[1:]


def test_simhash_majority_vote_and_sequence_hash():
    values = np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.uint64)
    offsets = np.array([0, 3, 3, 7])
    shingles, rows = shingle_hashes(values, offsets, k=3)
    assert rows.tolist() == [0, 2, 2]  # one 3-gram in row 0, none in the empty row, two in row 2
    sketch = simhash(np.array([0b0111, 0b0011, 0b0001], dtype=np.uint64), np.array([0, 0, 0]), 1)
    assert sketch.tolist() == [0b0011]
    first = sequence_hash(values, offsets, first=2)
    assert first[1] == 0 and first[0] == sequence_hash(np.array([1, 2], dtype=np.uint64), np.array([0, 2]))[0]
    last = sequence_hash(values, offsets, last=2)
    assert last[2] == sequence_hash(np.array([6, 7], dtype=np.uint64), np.array([0, 2]))[0]



def test_words_never_keep_separators():
    # Regression: pyarrow's utf8_split_whitespace sometimes kept the trailing space of an array's last
    # string, so the last prompt of a batch got another template_tail than its identical siblings.
    from distillwatch.traffic.template import template_words

    for n in range(1, 40):
        texts = pa.array([f'Classify this review: "{i}" Answer with one word. ' for i in range(n)])
        words = template_words(texts).flatten().to_pylist()
        assert not any(" " in w for w in words)
        assert len(set(template_signatures(texts)[2])) == 1


def test_rare_slot_rows_are_the_regex_matches():
    """The compiled scan for the literals the rare masks need answers as RE2 does on `_RARE`."""
    import random

    from distillwatch.traffic._utf8 import compact_layout
    from distillwatch.traffic.template import _RARE, _RARE_LEADS, _rare_rows

    rng = random.Random(0)
    pieces = ["`", "``", "```", "http", "https", "://", ":/", "http:/", "www", "www.", "ww.", "@", "a", " ", "s",
              "é", "h", "w", ".", ":"]
    texts = pa.array(["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(5000)]).slice(2)
    want = pc.match_substring_regex(texts, _RARE).to_numpy(zero_copy_only=False)
    got = _rare_rows(*compact_layout(texts), _RARE_LEADS)
    assert np.array_equal(got, want) and 0.2 < want.mean() < 0.8
