"""Ordering of the corners: kernels and helpers against slow references."""

import numpy as np
import pytest

from sksfvq import _order
from sksfvq._order import distance_matrix, shortest_of_restarts, shorten_order
from sksfvq._order_kernels import (arrange_insert, arrange_reverse, improve_path,
                                   left_weights, nearest_by_products)


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


def test_the_shortest_path_does_not_depend_on_the_unit():
    # the moves' tolerance is relative: below distances of about 1e-12 no
    # move was taken (the given order came back)
    C = np.random.default_rng(5).normal(size=(40, 3))
    ref = shorten_order(C)
    assert not np.array_equal(ref, np.arange(40))
    for e in (-100, -60, 100):
        np.testing.assert_array_equal(shorten_order(np.ldexp(C, e)), ref)
        np.testing.assert_array_equal(
            shortest_of_restarts(np.ldexp(C, e), np.random.default_rng(1)),
            shortest_of_restarts(C, np.random.default_rng(1)))


# ---------------------------------------------------------------- arrangement
def _cost(W, D, order, a_gap, a_len):
    """The arrangement cost, directly: every pair, every edge of the path."""
    k = len(order)
    pos = {int(c): t for t, c in enumerate(order)}
    gap = sum(W[i, j] * abs(pos[i] - pos[j]) for i in range(k) for j in range(i + 1, k))
    length = sum(D[order[t], order[t + 1]] for t in range(k - 1))
    return a_gap * gap + a_len * length


def _problem(k, seed):
    rng = np.random.default_rng(seed)
    W = rng.random((k, k)) * (rng.random((k, k)) < 0.5)
    W = W + W.T
    np.fill_diagonal(W, 0.0)
    D = distance_matrix(rng.normal(size=(k, 2)))
    return W, D, rng.permutation(k).astype(np.intp), rng.random(), rng.random()


def _scratch(k):
    """The arrangement kernels' scratch arrays (rows, LW, pos), filled with junk."""
    return np.full(k, np.nan), np.full(k, np.nan), np.full(k, -7, dtype=np.intp)


def _insertions(order):
    k = len(order)
    for i in range(k):
        rest = np.delete(order, i)
        for j in range(k):
            if j != i:
                yield np.insert(rest, j, order[i])


@pytest.mark.parametrize("seed", range(8))
def test_arrange_insert_reaches_an_insertion_optimum(seed):
    W, D, order, a_gap, a_len = _problem(11, seed)
    start = _cost(W, D, order, a_gap, a_len)
    for _ in range(100):
        if arrange_insert(W, D, a_gap, a_len, order, 11, *_scratch(11)) == 0:
            break
    assert sorted(order) == list(range(11))
    best = _cost(W, D, order, a_gap, a_len)
    assert best <= start + 1e-12
    # no single insertion move lowers the cost any more (slow, direct)
    assert min(_cost(W, D, o, a_gap, a_len) for o in _insertions(order)) >= best - 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_arrange_reverse_takes_the_best_reversal(seed):
    W, D, order, a_gap, a_len = _problem(10, seed)
    window = 4
    got = order.copy()
    arrange_reverse(W, D, a_gap, a_len, got, window, *_scratch(10)[:2])
    # the same sweep, written out: for i in order, the best reversal of
    # order[i..j] (j - i <= window) if it lowers the cost
    ref = order.copy()
    for i in range(9):
        base = _cost(W, D, ref, a_gap, a_len)
        best, best_j = base - 1e-12 * (1 + base), None
        for j in range(i + 1, min(9, i + window) + 1):
            cand = ref.copy()
            cand[i:j + 1] = cand[i:j + 1][::-1]
            c = _cost(W, D, cand, a_gap, a_len)
            if c < best:
                best, best_j = c, j
        if best_j is not None:
            ref[i:best_j + 1] = ref[i:best_j + 1][::-1].copy()
    np.testing.assert_array_equal(got, ref)


def test_left_weights():
    W, _, order, _, _ = _problem(9, 3)
    LW = np.empty(9)
    left_weights(W, order, LW)
    pos = np.argsort(order)
    for s in range(9):
        assert LW[s] == pytest.approx(sum(W[s, v] for v in range(9) if pos[v] < pos[s]))


def test_arrangement_cost_matches_direct_sum():
    W, D, order, a_gap, a_len = _problem(12, 5)
    assert _order.arrangement_cost(W, D, order, a_gap, a_len) == pytest.approx(
        _cost(W, D, order, a_gap, a_len))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_cols, dtype", [(25, np.float64), (103, np.float64),
                                           (103, np.float32)])
def test_nearest_by_products_matches_a_stable_sort(seed, n_cols, dtype):
    # float32 products (widened in the kernel), and more columns than the list
    rng = np.random.default_rng(seed)
    sq_rows = rng.integers(0, 3, 7).astype(float)
    sq_cols = rng.integers(0, 3, n_cols).astype(float)
    G = rng.integers(-2, 2, size=(7, n_cols)).astype(dtype)  # integers: many exact ties
    skip = np.array([3, -1, 0, n_cols - 1, 5, -1, 7])
    D2 = sq_rows[:, None] + sq_cols[None, :] - 2 * G.astype(float)
    D2[np.arange(7)[skip >= 0], skip[skip >= 0]] = np.inf
    for n in (1, 3, 24):
        out = np.empty((7, n), dtype=np.intp)
        nearest_by_products(G, sq_rows, sq_cols, skip, n, out, np.full(n, np.nan))
        np.testing.assert_array_equal(out, np.argsort(D2, axis=1, kind="stable")[:, :n])


@pytest.mark.parametrize("n, d", [(60, 3), (300, 5)])
def test_knn_rows_matches_brute_force(n, d, monkeypatch):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, d))
    X[1] = X[0]  # an exact duplicate counts as a neighbour
    dense = _order.knn_rows(X, 4)
    monkeypatch.setattr(_order, "KNN_DENSE_ROWS", 0)  # scikit-learn's path
    tree = _order.knn_rows(X, 4)
    for r in range(n):
        dist = np.sum((X - X[r]) ** 2, axis=1)
        dist[r] = np.inf
        ref = np.sort(dist)[:4]  # rows 0 and 1 tie: compare the distances
        assert r not in dense[r] and r not in tree[r]
        np.testing.assert_allclose(np.sort(dist[dense[r]]), ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.sort(dist[tree[r]]), ref, rtol=1e-9, atol=1e-12)
    assert 1 in dense[0] and 0 in dense[1]


def test_neighbour_graph_counts_pairs_across_corners():
    X = np.array([[0.0], [0.1], [5.0], [5.1], [5.2]])
    labels = np.array([0, 0, 1, 1, 2])
    W = _order.neighbour_graph(X, labels, 3, n_neighbors=1)
    # nearest rows: 0<->1 (same corner), 2->3, 3->2 or 4, 4->3: pairs across corners only
    nb = _order.knn_rows(X, 1)
    ref = np.zeros((3, 3))
    for i, j in enumerate(nb[:, 0]):
        if labels[i] != labels[j]:
            ref[labels[i], labels[j]] += 1
    np.testing.assert_array_equal(W, ref + ref.T)
    assert W[0].sum() == 0 and np.all(np.diag(W) == 0)


@pytest.mark.parametrize("dense_max", [512, 4])  # the dense and the sparse solver
def test_spectral_order_of_a_path_graph(dense_max, monkeypatch):
    monkeypatch.setattr(_order, "DENSE_SPECTRAL_MAX", dense_max)
    k = 12
    perm = np.random.default_rng(0).permutation(k)
    W = np.zeros((k, k))
    for t in range(k - 1):  # a chain perm[0] - perm[1] - ... in shuffled labels
        W[perm[t], perm[t + 1]] = W[perm[t + 1], perm[t]] = 1.0
    order = _order.spectral_order(W)
    assert list(order) in (list(perm), list(perm[::-1]))


def test_order_corners_puts_a_noisy_line_in_order():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 10, 20)
    C = np.c_[t, 0.05 * rng.normal(size=20)]
    shuffle = rng.permutation(20)
    X = np.repeat(C, 30, axis=0) + 0.2 * rng.normal(size=(600, 2))
    labels = np.argmin(((X[:, None] - C[shuffle][None]) ** 2).sum(-1), axis=1)
    W = _order.neighbour_graph(X, labels, 20)
    order, cost = _order.order_corners(C[shuffle], W, np.random.default_rng(0))
    along = t[shuffle][order]
    assert np.all(np.diff(along) > 0) or np.all(np.diff(along) < 0)
    assert cost > 0


def test_order_corners_trades_a_shortest_path_for_global_order():
    """Two parallel rows of corners: the shortest path zig-zags between them
    (locally short, globally arbitrary); the data's neighbour graph links each
    corner to the next along the rows, so the order chosen runs along a row."""
    rng = np.random.default_rng(2)
    x = np.arange(10.0)
    C = np.vstack([np.c_[x, np.zeros(10)], np.c_[x[::-1], np.full(10, 0.9)]])
    # the data: a thin band along each row (neighbours along the rows only)
    X = np.vstack([np.c_[rng.uniform(-0.5, 9.5, 2000), 0.02 * rng.normal(size=2000)],
                   np.c_[rng.uniform(-0.5, 9.5, 2000), 0.9 + 0.02 * rng.normal(size=2000)]])
    labels = np.argmin(((X[:, None] - C[None]) ** 2).sum(-1), axis=1)
    W = _order.neighbour_graph(X, labels, 20)
    order, _ = _order.order_corners(C, W, np.random.default_rng(0))
    rows_of = (C[order, 1] > 0.5).astype(int)
    assert np.count_nonzero(np.diff(rows_of)) == 1  # one row, then the other


def _insert_sweep_reference(W, D, a_gap, a_len, order, window):
    """One sweep of windowed insertion moves, written out: corners in index
    order; places to the right first (nearest first), then to the left; the
    first best move that lowers the cost by more than the kernel's margin."""
    k = len(order)
    order = order.copy()
    rows = W.sum(axis=1)
    tiny = 1e-12 * (a_gap * rows.sum() * k + a_len * D.sum() / k + 1e-300)
    for u in range(k):
        i = int(np.flatnonzero(order == u)[0])
        base = _cost(W, D, order, a_gap, a_len)
        best, best_order = -tiny, None
        rest = np.delete(order, i)
        places = list(range(i + 1, min(k, i + window + 1))) + \
            list(range(i - 1, max(-1, i - window - 1), -1))
        for j in places:
            cand = np.insert(rest, j, u)
            delta = _cost(W, D, cand, a_gap, a_len) - base
            if delta < best - 1e-12:
                best, best_order = delta, cand
        if best_order is not None:
            order = best_order
    return order


@pytest.mark.parametrize("window", [1, 3, 11])
def test_arrange_insert_window_matches_the_reference(window):
    for seed in range(4):
        W, D, order, a_gap, a_len = _problem(11, seed)
        got = order.copy()
        arrange_insert(W, D, a_gap, a_len, got, window, *_scratch(11))
        np.testing.assert_array_equal(got, _insert_sweep_reference(W, D, a_gap, a_len,
                                                                   order, window))


def test_move_stretch_matches_concatenation():
    from sksfvq._order_kernels import _move_stretch

    k = 9
    for i in range(k):
        for L in range(1, 4):
            if i + L > k:
                continue
            for p in range(-1, k):
                if i - 1 <= p <= i + L - 1:
                    continue
                for rev in (False, True):
                    order = np.arange(k, dtype=np.intp)
                    stretch = order[i:i + L][::-1] if rev else order[i:i + L]
                    rest = np.concatenate((order[:i], order[i + L:]))
                    q = p if p < i else p - L
                    ref = np.concatenate((rest[:q + 1], stretch, rest[q + 1:]))
                    _move_stretch(order, i, L, p, rev)
                    np.testing.assert_array_equal(order, ref)
