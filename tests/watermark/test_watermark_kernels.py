"""MT19937 and randperm in NumPy are bit-identical to torch's CPU generator."""

from __future__ import annotations

import numpy as np
import pytest

from distillwatch.watermark._mt19937 import MT19937Batch, mt19937_outputs, seed_low32
from distillwatch.watermark._membership import in_prefix
from distillwatch.watermark._randperm import fisher_yates_targets, prefix_mask, randperm_prefix
from distillwatch.watermark.kgw import HASH_TABLE_SEED, HASH_TABLE_SIZE, hash_table


def test_mt19937_matches_the_standard_stream():
    # NumPy's legacy seeding is init_genrand(seed & 0xffffffff), as in torch's CPU generator
    for seed in (0, 1, 5489, 2**32 - 1, 2**32 + 7, 2**64 - 2):
        bg = np.random.MT19937()
        bg._legacy_seeding(seed & 0xFFFFFFFF)
        expected = bg.random_raw(1500).astype(np.uint32)
        assert np.array_equal(mt19937_outputs(np.array([seed], dtype=np.uint64), 1500)[0], expected), seed


def test_mt19937_batch_generators_are_independent_of_their_neighbours():
    seeds = np.array([3, 99, 12345], dtype=np.uint64)
    together = mt19937_outputs(seeds, 1248)
    for row, seed in zip(together, seeds):
        assert np.array_equal(row, mt19937_outputs(seed[None], 1248)[0])
    gen = MT19937Batch(seeds)
    gen.next_block()
    gen.keep(np.array([2]))  # dropping generators leaves the others' streams untouched
    assert np.array_equal(gen.next_block()[:, 0], together[2, 624:1248])


def test_seed_low32_keeps_the_low_bits():
    assert seed_low32(np.array([2**40 + 5], dtype=np.uint64))[0] == 5
    with pytest.raises(TypeError):
        seed_low32(np.array([1.5]))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 624, 625, 5000])
def test_randperm_prefix_equals_torch(torch_ref, n):
    seeds = np.random.default_rng(n).integers(0, 2**63, size=12, dtype=np.int64).astype(np.uint64)
    full = randperm_prefix(seeds, n)
    for seed, row in zip(seeds, full):
        assert np.array_equal(row, torch_ref.randperm(seed, n))
    for k in sorted({0, 1, n // 4, n - 1, n}):
        assert np.array_equal(randperm_prefix(seeds, n, k), full[:, :k])


@pytest.mark.parametrize("n", [2, 3, 10, 1000, 49152])
def test_prefix_mask_is_the_set_of_the_first_k_entries(torch_ref, n):
    seeds = np.random.default_rng(n + 1).integers(0, 2**63, size=6, dtype=np.int64).astype(np.uint64)
    for k in sorted({0, 1, n // 4, n // 2, n - 2, n - 1, n} - {-1}):
        mask = prefix_mask(seeds, n, k)
        for seed, row in zip(seeds, mask):
            assert np.array_equal(np.flatnonzero(row), np.sort(torch_ref.randperm(seed, n)[:k])), (n, k)


def test_hash_table_is_the_reference_table(torch_ref):
    table = hash_table()
    assert table.shape == (HASH_TABLE_SIZE,) and not table.flags.writeable
    assert np.array_equal(table, torch_ref.table.numpy())
    assert HASH_TABLE_SEED == 2971215073


def test_fisher_yates_targets_stay_in_range():
    w = fisher_yates_targets(np.arange(5, dtype=np.uint64), 1000, 999)
    steps = np.arange(999)
    assert np.all(w >= steps) and np.all(w < 1000)


@pytest.mark.parametrize("n,n_contexts", [(49152, 1000), (262144, 250)])
def test_in_prefix_equals_torch_membership(torch_ref, n, n_contexts):
    rng = np.random.default_rng(n)
    k = n // 4
    seeds = rng.integers(0, 2**64 - 1, size=n_contexts, dtype=np.uint64)
    seeds = np.repeat(seeds, 3)  # several tokens asked per seed, as in lefthash detection
    tokens = rng.integers(0, n, size=seeds.size)
    tokens[0::9], tokens[1::9] = 0, n - 1
    tokens[2::9] = rng.integers(0, k, size=tokens[2::9].size)  # tokens below k take the moving path
    perms = {int(s): torch_ref.randperm(s, n)[:k] for s in np.unique(seeds)}
    # a third of the queries are tokens that are certainly green, to cover picks at every step
    tokens[3::9] = [perms[int(s)][rng.integers(k)] for s in seeds[3::9]]
    by_seed = tokens.reshape(n_contexts, 3)
    expected = np.concatenate([np.isin(by_seed[i], perms[int(s)]) for i, s in enumerate(seeds[::3])])
    got = in_prefix(seeds, tokens, n, k)
    assert np.array_equal(got, expected)
    assert 0.2 < expected.mean() < 0.5  # both outcomes are well represented
    assert np.array_equal(in_prefix(seeds, tokens, n, k, workers=2, chunk_size=64), got)


def test_in_prefix_edge_cases():
    seeds = np.array([1, 2], dtype=np.uint64)
    assert in_prefix(seeds, [0, 1], 10, 10).all()
    assert not in_prefix(seeds, [0, 1], 10, 0).any()
    assert in_prefix([], [], 10, 3).shape == (0,)
    with pytest.raises(ValueError):
        in_prefix(seeds, [0, 10], 10, 3)
    with pytest.raises(ValueError):
        in_prefix(seeds, [0], 10, 3)
