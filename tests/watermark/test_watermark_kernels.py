"""The compiled MT19937 and randperm kernels are bit-identical to torch's CPU generator."""

from __future__ import annotations

import numpy as np
import pytest

from distillwatch.watermark._mt19937 import mt19937_outputs, seed_low32
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


def test_mt19937_generators_are_independent_of_their_neighbours():
    seeds = np.array([3, 99, 12345], dtype=np.uint64)
    together = mt19937_outputs(seeds, 1248)
    for row, seed in zip(together, seeds):
        assert np.array_equal(row, mt19937_outputs(seed[None], 1248)[0])
    assert np.array_equal(mt19937_outputs(seeds, 700), together[:, :700])  # a partial last block


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
    alone = rng.choice(seeds.size, 40, replace=False)  # a seed's answers do not depend on its neighbours
    assert np.array_equal(in_prefix(seeds[alone], tokens[alone], n, k), got[alone])


def test_in_prefix_edge_cases():
    seeds = np.array([1, 2], dtype=np.uint64)
    assert in_prefix(seeds, [0, 1], 10, 10).all()
    assert not in_prefix(seeds, [0, 1], 10, 0).any()
    assert in_prefix([], [], 10, 3).shape == (0,)
    with pytest.raises(ValueError):
        in_prefix(seeds, [0, 10], 10, 3)
    with pytest.raises(ValueError):
        in_prefix(seeds, [0], 10, 3)


def _untemper(y: np.ndarray) -> np.ndarray:
    """The MT19937 state word whose tempered output is y (tempering is a bijection)."""
    y = y.astype(np.uint64)
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    x = y
    for _ in range(4):
        x = y ^ ((x << 7) & 0x9D2C5680)
    x &= 0xFFFFFFFF
    y = x
    for _ in range(2):
        x = y ^ (x >> 11)
    return x.astype(np.uint32)


@pytest.mark.parametrize("n", [49152, 262144, 2**19, 2**19 + 1, 3 * 10**6])
def test_step_targets_remainder_is_exact_at_the_hard_values(n):
    from numba import njit

    from distillwatch.watermark._mt19937 import temper
    from distillwatch.watermark._randperm import reciprocals, step_targets

    @njit
    def targets(mt, b0, r, n, inv):
        w = np.empty(r, dtype=np.uint32)
        step_targets(mt, w, b0, r, n, inv)
        return w

    rng = np.random.default_rng(n)
    for b0 in (0, n - 700):  # the smallest divisors come last
        i = b0 + np.arange(624, dtype=np.int64)
        d = n - i
        q_max = (2**32 - 1) // d
        q = rng.integers(0, q_max + 1)
        # multiples of d (the float quotient may fall one short), their neighbours, the largest draws
        x = np.stack([q * d, q * d + d - 1, q * d + 1, q_max * d, np.full(624, 2**32 - 1)])
        x = np.minimum(x, 2**32 - 1).astype(np.uint32)
        for row in x:
            mt = _untemper(row)
            assert np.array_equal(np.array([temper(v) for v in mt[:3]]), row[:3])
            r = int(min(624, n - 1 - b0))
            got = targets(mt, b0, r, n, reciprocals(n, b0 + r))
            assert np.array_equal(got, (i[:r] + row[:r].astype(np.int64) % d[:r]).astype(np.uint32)), (n, b0)


@pytest.mark.parametrize("n", [1000, 49152, 262144, 2**19 + 1])
def test_count_steps_into_agrees_with_the_targets(n):
    """The divisibility count equals the number of targets equal to p, at the values where a
    remainder test could slip: draws congruent to p - i, their neighbours, the largest draws."""
    from numba import njit

    from distillwatch.watermark._randperm import count_steps_into, divisibility_magic, reciprocals, step_targets

    @njit
    def both(mt, b0, start, r, n, p, inv, magic):
        w = np.empty(r, dtype=np.uint32)
        step_targets(mt.copy(), w, b0, r, n, inv)
        return count_steps_into(mt, b0, start, r, n, p, magic), (w[start:] == p).sum()

    rng = np.random.default_rng(n)
    for b0 in (0, n - 800):
        r = 624
        i = b0 + np.arange(r, dtype=np.int64)
        d = n - i
        for p in (b0 + r, n - 1, int(rng.integers(b0 + r, n))):
            c = p - i  # w_i == p iff x % d == c
            q = rng.integers(0, (2**32 - 1 - c) // d + 1)
            hard = np.stack([c + q * d, c + q * d + 1, c + q * d - 1, c + ((2**32 - 1 - c) // d) * d,
                             np.full(r, 2**32 - 1), c])
            hard = np.clip(hard, 0, 2**32 - 1).astype(np.uint32)
            all_hit, _ = both(_untemper(hard[0]), b0, 0, r, n, p, reciprocals(n, b0 + r), divisibility_magic(n, b0 + r))
            assert all_hit == r  # every draw of the first row moves p
            for row in hard:
                mixed = np.where(rng.random(r) < 0.5, row, rng.integers(0, 2**32, r)).astype(np.uint32)
                for start in (0, 5):
                    got, expected = both(_untemper(mixed), b0, start, r, n, p, reciprocals(n, b0 + r),
                                         divisibility_magic(n, b0 + r))
                    assert got == expected, (n, b0, p, start)


def test_load_kernels_compiles_the_signatures_detection_and_generation_use():
    from distillwatch.watermark import load_kernels
    from distillwatch.watermark._membership import _in_prefix_kernel
    from distillwatch.watermark._randperm import _targets_kernel

    load_kernels()
    before = (len(_in_prefix_kernel.signatures), len(_targets_kernel.signatures))
    assert min(before) >= 1
    # real calls reuse what load_kernels compiled: no new specialisation
    in_prefix(np.arange(5, dtype=np.uint64), np.arange(5), 49152, 12288)
    prefix_mask(np.arange(3, dtype=np.uint64), 49152, 12288)
    assert (len(_in_prefix_kernel.signatures), len(_targets_kernel.signatures)) == before
