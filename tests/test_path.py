"""Ordering kernels (2-opt / or-opt open paths) against slow references."""

import numpy as np
import pytest

from sksfvq._path import distance_matrix, improve_path, shortest_of_restarts, shorten_order


def _length(C, order):
    return float(np.sum(np.linalg.norm(np.diff(C[order], axis=0), axis=1)))


def _best_two_opt_gain(C, order):
    """Largest gain of any single reversal order[i..j] (slow, direct)."""
    base = _length(C, order)
    gain = 0.0
    for i in range(len(order)):
        for j in range(i + 1, len(order)):
            new = order.copy()
            new[i:j + 1] = new[i:j + 1][::-1]
            gain = max(gain, base - _length(C, new))
    return gain


@pytest.mark.parametrize("k,d", [(5, 2), (17, 2), (40, 3), (33, 8)])
def test_improve_path_is_a_two_opt_optimum_and_never_longer(k, d):
    rng = np.random.default_rng(k * d)
    C = rng.normal(size=(k, d))
    start = rng.permutation(k).astype(np.intp)
    order = start.copy()
    length = improve_path(distance_matrix(C), order, 50)
    assert sorted(order) == list(range(k))
    np.testing.assert_allclose(length, _length(C, order), rtol=1e-12)
    assert length <= _length(C, start) + 1e-12
    assert _best_two_opt_gain(C, order) <= 1e-9 * (1 + length)


def test_points_on_a_line_are_put_in_order():
    rng = np.random.default_rng(0)
    t = rng.permutation(30).astype(float)
    C = np.column_stack([t, 2 * t])
    order = shorten_order(C)
    assert np.all(np.diff(t[order]) == 1) or np.all(np.diff(t[order]) == -1)


def test_shortest_of_restarts_is_no_longer_and_reproducible():
    rng = np.random.default_rng(4)
    C = rng.normal(size=(32, 2))
    a = shortest_of_restarts(C, np.random.default_rng(1))
    b = shortest_of_restarts(C, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(32))
    assert _length(C, a) <= _length(C, shorten_order(C)) + 1e-12
