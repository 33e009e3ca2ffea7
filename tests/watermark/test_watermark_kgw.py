"""KGW seeds and green lists are bit-identical to the reference implementation run on torch."""

from __future__ import annotations

import numpy as np
import pytest

from distillwatch.watermark import WatermarkConfig
from distillwatch.watermark.kgw import (
    green_list_size,
    hashint,
    kgw_green_lists,
    kgw_green_mask,
    kgw_is_green,
    kgw_seeds,
    lefthash_seeds,
    selfhash_seeds,
)

KEY = 15485863
KEYS = [KEY, 0, 1, -1, 2**63 - 1, -(2**63), 6_700_417 * 2**30 + 11]


@pytest.mark.parametrize("key", KEYS)
def test_lefthash_seed_is_python_integer_arithmetic(key):
    prev = np.random.default_rng(abs(key) % 1000).integers(0, 2**18, size=300)
    prev[:3] = [0, 1, 2**18 - 1]
    expected = [((key * int(p)) % (2**64 - 1)) & 0xFFFFFFFF for p in prev]
    assert lefthash_seeds(prev, key).tolist() == expected


@pytest.mark.parametrize("key", [KEY, -12345, 2**62 + 3, -(2**63) + 1])
def test_selfhash_seed_is_the_reference_prf(torch_ref, key):
    rng = np.random.default_rng(7)
    windows = rng.integers(0, 262144, size=(600, 4))
    windows[:4] = [[0, 0, 0, 0], [262143, 262143, 262143, 262143], [0, 5, 262143, 1], [1_000_003, 2, 3, 1_000_002]]
    prf = [torch_ref.prf(w.tolist(), "selfhash", key) for w in windows]
    expected = [(v % (2**64 - 1)) & 0xFFFFFFFF for v in prf]
    assert selfhash_seeds(windows, key).tolist() == expected
    if key == KEY:  # wrapped negative minima are common: the case the reduction mod 2**64-1 handles
        assert 0.1 < np.mean([v < 0 for v in prf]) < 0.5


def test_hashint_is_table_plus_one(torch_ref):
    x = np.array([0, 1, 1_000_002, 1_000_003, 5_000_000])
    assert hashint(x).tolist() == (torch_ref.table[x % 1_000_003] + 1).tolist()


@pytest.mark.parametrize("seeding", ["lefthash", "selfhash"])
@pytest.mark.parametrize("vocab_size,n_contexts", [(49152, 1500), (262144, 500)])
def test_green_membership_is_bit_identical_to_torch(torch_ref, seeding, vocab_size, n_contexts):
    config = WatermarkConfig("kgw", key=KEY, seeding=seeding)
    rng = np.random.default_rng(vocab_size + len(seeding))
    contexts = rng.integers(0, vocab_size, size=(n_contexts, config.window_width))
    contexts[0], contexts[1] = 0, vocab_size - 1
    lists = None
    if seeding == "lefthash":  # the green list depends on the context only
        lists = [torch_ref.green_list(c.tolist(), seeding, KEY, vocab_size) for c in contexts]
    tokens = rng.integers(0, vocab_size, size=n_contexts)
    tokens[0], tokens[1], tokens[2] = 0, vocab_size - 1, 1
    if lists is not None:  # lefthash: also ask for tokens that are certainly green
        tokens[3::4] = [lst[rng.integers(len(lst))] for lst in lists[3::4]]
    got = kgw_is_green(contexts, tokens, config, vocab_size)
    expected = []
    for i, (c, t) in enumerate(zip(contexts.tolist(), tokens.tolist())):
        prf_context = c + [t] if seeding == "selfhash" else c
        green = lists[i] if lists is not None else torch_ref.green_list(prf_context, seeding, KEY, vocab_size)
        expected.append(bool((green == t).any()))
    assert got.tolist() == expected
    assert 0.1 < np.mean(expected) < 0.6


def test_tokens_outside_the_vocabulary_are_never_green():
    config = WatermarkConfig("kgw", key=KEY, seeding="selfhash")
    got = kgw_is_green(np.zeros((3, 3), dtype=np.int64), [100, 101, -1], config, vocab_size=100)
    assert not got.any()


def test_lefthash_green_lists_are_the_reference_lists(torch_ref):
    config = WatermarkConfig("kgw", key=KEY, seeding="lefthash")
    prev = np.array([0, 1, 260, 49151])
    lists = kgw_green_lists(prev, config, 49152)
    assert lists.shape == (4, green_list_size(49152, 0.25))
    for p, row in zip(prev, lists):
        assert np.array_equal(row, torch_ref.green_list([int(p)], "lefthash", KEY, 49152).numpy())
    mask = kgw_green_mask(prev, config, 49152)
    assert mask.shape == (4, 49152) and np.array_equal(mask.sum(axis=1), [12288] * 4)
    for row, ids in zip(mask, lists):
        assert np.array_equal(np.flatnonzero(row), np.sort(ids))
    with pytest.raises(ValueError):
        kgw_green_lists(prev, WatermarkConfig("kgw", key=KEY, seeding="selfhash"), 49152)
    with pytest.raises(ValueError):
        kgw_green_mask(prev, WatermarkConfig("gumbel", key=KEY), 49152)


def test_green_list_size_truncates_like_the_reference():
    assert green_list_size(49152, 0.25) == 12288
    assert green_list_size(10, 0.25) == 2
    assert green_list_size(3, 0.5) == 1


def test_kgw_seeds_checks_the_window_width():
    config = WatermarkConfig("kgw", key=KEY, seeding="selfhash")
    with pytest.raises(ValueError):
        kgw_seeds(np.zeros((2, 3), dtype=np.int64), config)
