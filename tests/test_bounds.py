"""The bounded passes of :mod:`sksfvq._bounds` against brute force, and in Lloyd."""

import numba
import numpy as np
import pytest

from _reference import corner_distances
from sksfvq import _bounds, _chain


def _moves(X, C, rng, n_pass, permute_at=None, jump_at=None):
    """Corners of successive Lloyd-like passes: means of the cells, one corner
    jumping to a row at ``jump_at``, all of them permuted at ``permute_at``.
    Yields (corners, permutation or None) before every pass."""
    k = C.shape[0]
    labels = None
    for it in range(n_pass):
        order = None
        if labels is not None:
            S = np.zeros((k, X.shape[1]))
            np.add.at(S, labels, X)
            cnt = np.bincount(labels, minlength=k)
            C = np.where(cnt[:, None] > 0, S / np.maximum(cnt, 1)[:, None], C).astype(X.dtype)
        if it == jump_at:
            C[0] = X[0]
        if it == permute_at:
            order = rng.permutation(k)
            C = C[order]
        labels = yield C, order


def _check(X, C, labels, dist2):
    D = corner_distances(X, C)
    best = D.min(axis=1)
    chosen = D[np.arange(len(X)), labels]
    tol = 1e-5 * (best + 1e-6) if X.dtype == np.float32 else 1e-12 * (best + 1e-12)
    assert np.all(chosen <= best + tol)
    assert np.allclose(dist2, chosen, rtol=1e-5 if X.dtype == np.float32 else 1e-12, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d, k", [(3000, 5, 40), (2500, 16, 130), (700, 3, 9)])
def test_bounded_passes_find_the_nearest_corner(dtype, n, d, k):
    rng = np.random.default_rng(k)
    X = rng.normal(size=(n, d)).astype(dtype)
    C = X[rng.choice(n, k, replace=False)].copy()
    bounds = _bounds.Bounds(X)
    gen = _moves(X, C, rng, 12, permute_at=7, jump_at=5)
    C, order = next(gen)
    measured = []
    try:
        while True:
            if order is not None:
                inverse = np.empty(k, dtype=np.intp)
                inverse[order] = np.arange(k)
                bounds.permute(order, inverse)
            before = bounds.n_measured
            labels, dist2 = bounds.nearest(C)
            measured.append(bounds.n_measured - before)
            _check(X, C, labels, dist2)
            C, order = gen.send(labels)
    except StopIteration:
        pass
    # the first pass measures no row (a full scan), the later ones skip some
    assert measured[0] == 0
    assert min(measured[1:]) < n


def test_serial_and_parallel_passes_agree(monkeypatch):
    monkeypatch.setattr(_bounds, "GIVE_UP", 1.0)  # keep the bounds to compare them
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 8)).astype(np.float32)
    C0 = X[:64].copy()
    out = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            b = _bounds.Bounds(X)
            b.nearest(C0)
            C = C0 + np.float32(0.05) * rng.normal(size=C0.shape).astype(np.float32)
            out.append(b.nearest(C) + (b.low.copy(),))
            rng = np.random.default_rng(0)
            rng.normal(size=(5000, 8))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_far_rows_are_not_measured_again():
    """Rows deep inside well separated cells keep their corner unmeasured."""
    rng = np.random.default_rng(1)
    centres = 20.0 * rng.normal(size=(16, 4))
    X = (centres[rng.integers(0, 16, 4000)] + rng.normal(size=(4000, 4))).astype(np.float64)
    b = _bounds.Bounds(X)
    b.nearest(centres)
    b.nearest(centres + 0.01)
    assert b.n_measured < 0.05 * len(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lloyd_with_bounds_runs_as_without(monkeypatch, dtype):
    rng = np.random.default_rng(2)
    centres = 4.0 * rng.normal(size=(30, 6))
    X = (centres[rng.integers(0, 30, 6000)] + rng.normal(size=(6000, 6))).astype(dtype)
    w = rng.integers(1, 3, len(X)).astype(np.float64)
    C0 = X[rng.choice(len(X), 48, replace=False)].astype(np.float64)
    monkeypatch.setattr(_chain, "LLOYD_BOUNDS_WORK", 0)
    monkeypatch.setattr(_chain, "bounds_pay", lambda: True)  # whatever this machine's CPU
    monkeypatch.setattr(_bounds, "GIVE_UP", 1.0)  # bounded passes up to the smoothing
    results = []
    for bounds in (True, False):
        lloyd = _chain.Lloyd(X, w, 48, 1e-4, bounds=bounds)
        assert (lloyd.bounds is not None) == bounds
        C, err, it = lloyd.run(C0, 0.0, 50)
        assert not bounds or not lloyd.bounds.given_up
        C, err_s, it_s = lloyd.run(C, 0.05, 10)  # smoothed, from the cached corners
        assert not bounds or lloyd.bounds.given_up  # the penalty moves every corner
        order = np.arange(48)[::-1].copy()
        C = lloyd.permute(C, order)
        results.append((C, err, it, err_s, it_s, lloyd.nearest(C)[0]))
    (C1, e1, i1, s1, j1, l1), (C2, e2, i2, s2, j2, l2) = results
    assert i1 == i2 and j1 == j2 and i1 > 5
    np.testing.assert_allclose(C1, C2, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose([e1, s1], [e2, s2], rtol=1e-6)
    np.testing.assert_array_equal(l1, l2)


def test_renumbered_corners_start_afresh():
    """Corners shifted along the chain (a move inserts one): a full scan, not
    a pass that would measure every row group by group."""
    rng = np.random.default_rng(3)
    centres = 10.0 * rng.normal(size=(32, 4))
    X = (centres[rng.integers(0, 32, 3000)] + rng.normal(size=(3000, 4))).astype(np.float32)
    b = _bounds.Bounds(X)
    b.nearest(centres.astype(np.float32))
    groups = b.gstart.copy()
    shifted = np.roll(centres, 1, axis=0).astype(np.float32)
    labels, dist2 = b.nearest(shifted)
    assert b.n_measured == 0  # the second pass was a fresh one too
    _check(X, shifted, labels, dist2)
    b.nearest(shifted + np.float32(0.01))  # a small move: bounded again
    assert 0 <= b.n_measured < 0.05 * len(X)
    assert groups.shape == b.gstart.shape


def test_a_pass_that_measures_many_distances_gives_the_bounds_up():
    """All corners moved (as when the chain is smoothed): the bounded pass
    computed many distances, so the bounds are dropped and the later passes
    are plain full scans, still exact."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 16))
    C = X[rng.choice(3000, 40, replace=False)].copy()
    b = _bounds.Bounds(X)
    b.nearest(C)
    C = C + 0.2 * rng.normal(size=C.shape)  # all move, not far enough for a fresh pass
    labels, dist2 = b.nearest(C)
    assert b.n_computed > _bounds.GIVE_UP * len(X) * len(C)
    assert b.given_up and b.low is None
    _check(X, C, labels, dist2)
    before = b.n_measured
    C = C + 0.01
    labels, dist2 = b.nearest(C)
    assert b.n_measured == before  # a plain pass: no row measured group by group
    _check(X, C, labels, dist2)


def test_a_small_move_keeps_the_bounds():
    rng = np.random.default_rng(5)
    centres = 10.0 * rng.normal(size=(20, 5))
    X = centres[rng.integers(0, 20, 3000)] + rng.normal(size=(3000, 5))
    b = _bounds.Bounds(X)
    b.nearest(centres)
    b.nearest(centres + 0.02)
    assert not b.given_up and b.low is not None


@pytest.mark.parametrize("backend, features, pay", [
    ("simd", {"avx512f", "avx2", "fma"}, False),
    ("simd", {"avx2", "fma"}, True),
    ("portable", {"avx512f", "avx2", "fma"}, True),
])
def test_bounds_are_kept_where_they_pay(monkeypatch, backend, features, pay):
    from sksfvq import _engine

    monkeypatch.setattr(_engine, "backend", lambda: backend)
    monkeypatch.setattr(_engine, "compile_target_features", lambda: features)
    assert _engine.bounds_pay() is pay
    monkeypatch.setattr(_chain, "LLOYD_BOUNDS_WORK", 0)
    monkeypatch.setattr(_chain, "bounds_pay", _engine.bounds_pay)
    X = np.random.default_rng(0).normal(size=(500, 4))
    lloyd = _chain.Lloyd(X, np.ones(500), 16, 1e-4)
    assert (lloyd.bounds is not None) is pay
