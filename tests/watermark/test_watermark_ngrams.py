"""Exact row de-duplication of n-grams: the packed-key sort orders rows exactly as a plain lexsort."""

import numpy as np
import pytest

from distillwatch.watermark._ngrams import _lexsort_rows, first_occurrences, row_ids


@pytest.mark.parametrize("shape,high", [((4000, 5), 49152), ((4000, 6), 262144), ((3000, 3), 4), ((2000, 2), 2**40),
                                        ((50, 1), 7), ((10, 4), 1)])
def test_packed_lexsort_is_the_stable_lexicographic_order(shape, high):
    rng = np.random.default_rng(shape[0])
    rows = rng.integers(0, high, shape)
    rows[1::4] = rows[0::4][: rows[1::4].shape[0]]  # many equal rows: stability matters
    assert np.array_equal(_lexsort_rows(rows), np.lexsort(rows.T[::-1]))


def test_negative_values_take_the_plain_sort():
    rows = np.array([[3, -1], [1, 5], [3, -2], [1, 5]])
    assert np.array_equal(_lexsort_rows(rows), np.lexsort(rows.T[::-1]))
    assert first_occurrences(rows).tolist() == [True, True, True, False]
    a, b = row_ids(rows[:2], rows[2:])
    assert a[1] == b[1] and len({a[0], a[1], b[0]}) == 3
