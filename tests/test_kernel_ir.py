"""The vector back end's IR pieces one by one: against float64, and bit for bit
against their plain-Numba twins where the two must agree (the re-checks).

The wrappers are compiled once, at module level, and cached on disk like the
package's kernels.
"""

import numpy as np
import pytest

import _reference as ref
from sksfvq import _ir, _nearest, _project, _simd
from sksfvq._layout import (SEGMENT_PAD, TILE, lane_ints, lanes, nearest_args, pack_panels,
                            panel, projection_args)
from sksfvq._numba import DISABLE_JIT, jit

pytestmark = pytest.mark.skipif(DISABLE_JIT, reason="the IR runs only compiled")

DTYPES = [np.float32, np.float64]


@jit()
def _tile_nearest(xc, xx, W, cc, mscale, cmax, A, thr, first, last):
    _simd.tile_nearest(xc, xx, W, cc, mscale, cmax, A, thr, first, last)


@jit()
def _tile_products(xc, W, G):
    _ir.tile_products(xc, W, G)


@jit()
def _tile_rows(X, start, nr, center, scale, xc, xx):
    _ir.tile_rows(X, start, nr, center, scale, xc, xx)


@jit()
def _tile_pass(G, xx, cc, cd2, dd, ih, mscale, cmax, one, A, thr, first, last):
    _simd.tile_pass(G, xx, cc, cd2, dd, ih, mscale, cmax, one, A, thr, first, last)


@jit()
def _sq_dists(xc, Cc, s, acc, out_simd, out_twin):
    for r in range(xc.shape[0]):
        for j in range(Cc.shape[0]):
            out_simd[r, j] = _simd.sq_dist(xc, r, Cc, j, s)
            out_twin[r, j] = _nearest.sq_dist(xc, r, Cc, j, s, acc)


@jit()
def _segments(xc, Cc, len2, s, zero, one, acc, out_simd, out_twin):
    for r in range(xc.shape[0]):
        for j in range(Cc.shape[0] - 1):
            out_simd[r, j, 0], out_simd[r, j, 1] = _simd.segment_exact(
                xc, r, Cc, j, len2, s, zero, one)
            out_twin[r, j, 0], out_twin[r, j, 1] = _project.segment_exact(
                xc, r, Cc, j, len2, s, zero, one, acc)


def _unpack(W, d):
    """The packed corners (panels one after the other) back as a (d, columns) array."""
    P = W.shape[1]
    nb = W.shape[0] // d
    return W.reshape(nb, d, P).transpose(1, 0, 2).reshape(d, nb * P)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2, 33, 300])
def test_corner_panels(k, dtype):
    rng = np.random.default_rng(k)
    Cc = rng.normal(size=(k, 6)).astype(dtype)
    W = pack_panels(Cc)
    assert W.shape[1] == panel(dtype) == (32 if dtype == np.float32 else 16)
    full = _unpack(W, 6)
    assert full.shape[1] % panel(dtype) == 0 and k <= full.shape[1] < k + panel(dtype)
    np.testing.assert_array_equal(full[:, :k], -2 * Cc.T)
    np.testing.assert_array_equal(full[:, k:], 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 130])
def test_recheck_twins_are_bit_identical(d, dtype):
    """The re-checks of both back ends: the same bits, and float64 accuracy."""
    rng = np.random.default_rng(d)
    xc = rng.normal(size=(8, d)).astype(dtype)
    Cc = rng.normal(size=(12, d)).astype(dtype)
    Cc[4] = xc[3]
    Cc[6] = Cc[5]  # a zero-length segment
    acc = np.zeros(lanes(dtype))  # the re-checks leave it zero
    a, b = np.empty((8, 12)), np.empty((8, 12))
    _sq_dists(xc, Cc, 1.0, acc, a, b)
    np.testing.assert_array_equal(a, b)
    exact = ref.corner_distances(xc, Cc)
    assert np.all(np.abs(a - exact) <= 2 * d * np.finfo(np.float64).eps * exact)
    assert a[3, 4] == 0
    s, t = np.empty((8, 11, 2), dtype), np.empty((8, 11, 2), dtype)
    D64 = np.diff(Cc.astype(np.float64), axis=0)
    len2 = np.einsum("ij,ij->i", D64, D64)
    _segments(xc, Cc, len2, 1.0, dtype(0), dtype(1), acc, s, t)
    np.testing.assert_array_equal(s, t)
    seg_d, lam = ref.segment_distances(xc, Cc)
    assert np.all((s[..., 1] >= 0) & (s[..., 1] <= 1)) and np.all(s[:, 5, 1] == 0)
    # from the coordinates as given: the float64 result rounded once to the dtype
    # (the reference in float64: a few ulp of the distance, not of |x|^2 + |c|^2)
    tol = 4 * np.finfo(dtype).eps * seg_d + 64 * d * np.finfo(np.float64).eps * (
        1 + (xc.astype(np.float64) ** 2).sum(1)[:, None])
    assert np.all(np.abs(s[..., 0] - seg_d) <= tol)
    # scaled by a power of two s, the differences give the distance times s^2
    # (exact) and the same lambda; the twins agree there too, and where |d|^2
    # underflowed to 0 for a segment that is not (e.d / 0: lambda 1 or 0)
    s4, t4 = np.empty_like(s), np.empty_like(t)
    _segments(xc, Cc, 4 * len2, 2.0, dtype(0), dtype(1), acc, s4, t4)
    np.testing.assert_array_equal(s4, t4)
    np.testing.assert_array_equal(s4[..., 0], 4 * s[..., 0])
    np.testing.assert_array_equal(s4[..., 1], s[..., 1])
    _segments(xc, Cc, np.zeros_like(len2), 1.0, dtype(0), dtype(1), acc, s4, t4)
    np.testing.assert_array_equal(s4, t4)
    a4, b4 = np.empty((8, 12)), np.empty((8, 12))
    _sq_dists(xc, Cc, 0.5, acc, a4, b4)
    np.testing.assert_array_equal(a4, b4)
    np.testing.assert_array_equal(a4, a / 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,d", [(1, 1), (2, 3), (31, 5), (32, 16), (33, 17), (64, 32),
                                 (100, 37), (256, 32), (530, 9)])
def test_tile_nearest_against_float64(k, d, dtype):
    """Products + |c|^2 + row minima + candidate ranges of one tile, against float64
    (rows: random, one on a corner, one on a duplicated corner, one not finite)."""
    rng = np.random.default_rng(k + d)
    C = rng.normal(size=(k, d))
    if k > 3:
        C[k - 1] = C[1]
    a = nearest_args(C.astype(dtype), "simd")
    ncol = len(a.cc)
    xc = rng.normal(size=(TILE, d)).astype(dtype)
    xc[2] = a.Cc[k // 2]
    xc[3] = a.Cc[min(1, k - 1)]
    xc[5, 0] = np.nan
    xx = np.einsum("ij,ij->i", xc, xc).astype(dtype)
    A = np.full((TILE, ncol), 7, dtype=dtype)
    thr = np.empty(TILE, dtype=dtype)
    first, last = np.empty(TILE, dtype=lane_ints(dtype)), np.empty(TILE, dtype=lane_ints(dtype))
    _tile_nearest(xc, xx, a.W, a.cc, a.mscale, a.cmax, A, thr, first, last)
    D = ref.corner_distances(xc, a.Cc)
    eps = np.finfo(dtype).eps
    good = [r for r in range(TILE) if r != 5]
    assert np.all(np.isnan(A[:, k:])) and np.all(np.isnan(A[5]))
    assert first[5] == ncol and last[5] == -1 and np.isnan(thr[5])
    size = 1 + xx[good, None].astype(np.float64) + a.cmax
    assert np.all(np.abs(A[good, :k] - (D[good] - xx[good, None])) <= 4 * d * eps * size)
    for r in good:
        np.testing.assert_allclose(thr[r], np.nanmin(A[r]) + a.mscale * (xx[r] + a.cmax),
                                   rtol=4 * eps)
        hits = np.flatnonzero(A[r] <= thr[r])
        assert (first[r], last[r]) == (hits[0], hits[-1])
        assert D[r].argmin() in hits  # the true nearest is always a candidate
    if k > 3:
        assert first[3] == 1 and last[3] >= k - 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d,k", [(1, 2), (3, 17), (4, 33), (32, 256), (37, 100), (2, 1040)])
def test_tile_products_against_float64(d, k, dtype):
    rng = np.random.default_rng(d * k)
    W = pack_panels(rng.normal(size=(k, d)).astype(dtype))
    xc = rng.normal(size=(TILE, d)).astype(dtype)
    ncol = (W.shape[0] // d) * W.shape[1]
    G = np.full((TILE, ncol + 5), 7, dtype=dtype)
    _tile_products(xc, W, G)
    full = _unpack(W, d).astype(np.float64)
    size = np.abs(xc).astype(np.float64) @ np.abs(full)
    assert np.all(np.abs(G[:, :ncol] - xc.astype(np.float64) @ full)
                  <= 2 * d * np.finfo(dtype).eps * size + 1e-300)
    np.testing.assert_array_equal(G[:, ncol:], 7)  # nothing written past the panels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 5, 16, 17, 32, 37])
@pytest.mark.parametrize("nr", [1, 5, 8])
def test_tile_rows_against_numpy(nr, d, dtype):
    rng = np.random.default_rng(d)
    X = rng.normal(size=(20, d)).astype(dtype)
    center = rng.normal(size=d).astype(dtype)
    xc = np.full((TILE, d), 7, dtype=dtype)
    xx = np.full(TILE, 7, dtype=dtype)
    _tile_rows(X, 3, nr, center, dtype(0.25), xc, xx)
    np.testing.assert_array_equal(xc[:nr], (X[3:3 + nr] - center) * dtype(0.25))
    ref64 = (X[3:3 + nr].astype(np.float64) - center) * 0.25
    np.testing.assert_allclose(xx[:nr], (ref64 ** 2).sum(1), rtol=4 * d * np.finfo(dtype).eps)
    assert np.all(xc[nr:] == 0) and np.all(xx[nr:] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 17, 18, 40, 300])
def test_tile_pass_against_float64(k, dtype):
    """The segment pass of one tile: distances, thresholds, candidate ranges."""
    rng = np.random.default_rng(k)
    d = 5
    a = projection_args(rng.normal(size=(k, d)).astype(dtype), "simd")
    nsp = len(a.cc)
    assert nsp % SEGMENT_PAD == 0 and k - 1 <= nsp < k - 1 + SEGMENT_PAD
    xc = rng.normal(size=(TILE, d)).astype(dtype)
    xc[2] = a.Cc[k // 2]  # on a corner: two segments tie
    xc[5, 1] = np.nan
    xx = np.einsum("ij,ij->i", xc, xc).astype(dtype)
    G = np.zeros((TILE, (a.W.shape[0] // d) * a.W.shape[1] + SEGMENT_PAD), dtype=dtype)
    _tile_products(xc, a.W, G)
    A = np.full((TILE, nsp), 7, dtype=dtype)
    thr = np.empty(TILE, dtype=dtype)
    first, last = np.empty(TILE, dtype=lane_ints(dtype)), np.empty(TILE, dtype=lane_ints(dtype))
    _tile_pass(G, xx, a.cc, a.cd2, a.dd, a.ih, a.mscale, a.cmax, a.one, A, thr, first, last)
    seg_d, _ = ref.segment_distances(xc, a.Cc)
    eps = np.finfo(dtype).eps
    good = [r for r in range(TILE) if r != 5]
    assert np.all(np.isnan(A[:, k - 1:])) and np.all(np.isnan(A[5]))
    assert first[5] == nsp and last[5] == -1 and np.isnan(thr[5])
    size = 1 + xx[good, None].astype(np.float64) + a.cmax
    assert np.all(np.abs(A[good, :k - 1] - (seg_d[good] - xx[good, None])) <= 64 * d * eps * size)
    for r in good:
        hits = np.flatnonzero(A[r] <= thr[r])
        assert (first[r], last[r]) == (hits[0], hits[-1])
        assert seg_d[r].argmin() in hits
    if k > 2:
        assert last[2] >= first[2] + 1  # the corner row has both its segments
