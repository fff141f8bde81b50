"""The fast nearest-corner kernel's own paths against slow float64 references.

:mod:`sksfvq._kernels` finds the nearest corner from the products of a tile
of 8 rows with the corners packed in panels of two vectors
(:func:`sksfvq._simd._tile_nearest`), takes every corner within a rounding
margin of the expanded minimum as a candidate (the first and last from a
vector pass, the middle ones tested one by one) and evaluates each candidate
directly in float64 (:func:`sksfvq._simd._sq_dist`). Problems with few or
short corners take the direct kernel instead (:func:`sksfvq._kernels._direct`).
These tests reach each path on purpose (corner counts around the panel
padding, feature counts around the vector width, row counts around the tile,
exact ties, near-ties, rows that are not finite or overflow) and compare with
brute force in float64, for float32 and float64, serial and parallel; the
two vector kernels are compared one by one with their plain Python twins.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from sksfvq import _kernels as K
from sksfvq import _simd as S

DTYPES = [np.float32, np.float64]
KERNELS = [K.nearest_corner_serial, K.nearest_corner]


def _run(kernel, X, C, nbad=0):
    labels = np.full(len(X), -7, dtype=np.intp)
    dist2 = np.full(len(X), -7, dtype=X.dtype)
    # the kernel counts the rows the driver has to redo
    assert kernel(X, *K._centred(C), labels, dist2) == nbad
    return labels, dist2


def _distances(X, C):
    """(n, k) squared distances in float64 (of the inputs as given)."""
    X64, C64 = X.astype(np.float64), C.astype(np.float64)
    return ((X64[:, None, :] - C64[None]) ** 2).sum(-1)


def _check_exact(X, C, labels, dist2, dtype):
    """A nearest corner to working precision, its distance rounded once."""
    D = _distances(X, C)
    best = D.min(1)
    eps = np.finfo(dtype).eps
    # centring the inputs rounds once per coordinate (float32: relative eps)
    size = (np.abs(X.astype(np.float64)).max() + np.abs(C.astype(np.float64)).max()) ** 2
    tol = 8 * X.shape[1] * eps * (best + eps * size)
    assert labels.dtype == np.intp and dist2.dtype == dtype
    assert np.all((labels >= 0) & (labels < len(C)))
    chosen = D[np.arange(len(X)), labels]
    assert np.all(chosen <= best + tol)
    assert np.all(np.abs(dist2 - chosen) <= tol + eps * chosen)


def _fast(k, d):
    return not K._direct(k, d)


# (k, d) on the products path: corner counts around the 32-column panels,
# feature counts around the 16 (float32) and 8 (float64) vector lanes
FAST_SHAPES = [(129, 17), (130, 20), (160, 24), (161, 31), (191, 32), (192, 33), (200, 40),
               (255, 47), (256, 32), (257, 48), (300, 64), (520, 9 + 8), (1, 65), (2, 66),
               (31, 70), (32, 80), (33, 96), (63, 100), (100, 130)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
@pytest.mark.parametrize("k,d", FAST_SHAPES)
def test_products_path_is_exact(k, d, kernel, dtype):
    assert _fast(k, d)
    rng = np.random.default_rng(k * 1000 + d)
    n = 8 * 37 + (k + d) % 8  # a remainder of every size across the shapes
    X = (rng.normal(size=(n, d)) * 2 + 1).astype(dtype)
    C = rng.normal(size=(k, d)).astype(dtype)
    labels, dist2 = _run(kernel, X, C)
    _check_exact(X, C, labels, dist2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 15, 16, 255, 256, 257, 263])
def test_every_row_count_and_thread_count_agree(n, dtype):
    """Remainders of the 8-row tile and the 256-row block; serial == parallel."""
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 33)).astype(dtype)
    C = rng.normal(size=(150, 33)).astype(dtype)
    a = _run(K.nearest_corner_serial, X, C)
    b = _run(K.nearest_corner, X, C)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    _check_exact(X, C, *a, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
def test_exact_ties_go_to_the_lowest_index(kernel, dtype):
    """Small-integer corners and rows (k = 256: the mean corner, the centring
    and every distance are exact), so that many rows are exactly as far from
    several corners; equal corners far apart in the codebook (first and last
    candidate not neighbours, most between them not candidates)."""
    rng = np.random.default_rng(3)
    k, d = 256, 20
    C = rng.integers(-3, 4, size=(k, d)).astype(dtype)
    C[[40, 41, 200, 255]] = C[5]  # five copies of one corner
    C[150] = C[100]
    X = rng.integers(-6, 7, size=(300, d)).astype(dtype) / 2
    X[:8] = C[5]
    X[8:16] = C[5] + (rng.normal(size=(8, d)) * 1e-3).astype(dtype)
    X[16] = C[100]
    labels, dist2 = _run(kernel, X, C)
    assert np.all(labels[:16] == 5)
    assert labels[16] == 100
    D = _distances(X, C)
    ties = (D == D.min(1, keepdims=True)).sum(1) > 1
    assert ties.sum() > 20
    np.testing.assert_array_equal(labels, D.argmin(1))  # the first of the nearest
    exact = np.r_[0:8, 16:len(X)]  # rows on the grid: distances exact too
    np.testing.assert_array_equal(dist2[exact], D.min(1)[exact])
    _check_exact(X, C, labels, dist2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
def test_near_ties_are_decided_as_in_float64(kernel, dtype):
    """Rows near the midpoint of two corners: the expanded form cannot tell
    them apart, the direct evaluation (float64 for float32 data too) must
    pick the float64 argmin of the inputs as given."""
    rng = np.random.default_rng(4)
    k, d = 200, 24
    C = rng.normal(size=(k, d)).astype(dtype)
    a, b = rng.integers(0, k, size=(2, 400))
    keep = a != b
    a, b = a[keep], b[keep]
    t = 0.5 + rng.normal(size=len(a)) * 1e-4
    X = (C[a] * (1 - t)[:, None] + C[b] * t[:, None]).astype(dtype)
    labels, dist2 = _run(kernel, X, C)
    D = _distances(X, C)
    order = np.sort(D, axis=1)
    clear = order[:, 1] - order[:, 0] > 1e-12 * order[:, 0]  # distinct in float64
    np.testing.assert_array_equal(labels[clear], D.argmin(1)[clear])
    _check_exact(X, C, labels, dist2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
@pytest.mark.parametrize("k,d", [(200, 20), (40, 70), (100, 8)])  # products, products, direct
def test_rows_that_are_not_finite_get_minus_one(k, d, kernel, dtype):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, d)).astype(dtype)
    C = rng.normal(size=(k, d)).astype(dtype)
    X[3, 1] = np.nan
    X[7, 0] = -np.nan
    X[11] = np.nan
    X[12, 2] = np.inf
    X[13] = -np.inf
    bad = [3, 7, 11, 12, 13]
    labels, dist2 = _run(kernel, X, C, nbad=len(bad))
    # NaN rows have no candidate; an infinite row may keep one at distance inf
    assert np.all(labels[[3, 7, 11]] == -1)
    assert np.all((labels[[12, 13]] == -1) | np.isinf(dist2[[12, 13]]))
    good = np.setdiff1d(np.arange(40), bad)
    _check_exact(X[good], C, labels[good], dist2[good], dtype)
    # the driver: label 0, distance inf
    lab, d2 = K.assign_corners(X, C)
    assert np.all(lab[bad] == 0) and np.all(np.isinf(d2[bad]))
    np.testing.assert_array_equal(lab[good], labels[good])


@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
@pytest.mark.parametrize("k,d", [(200, 20), (40, 70), (100, 8)])
def test_overflowing_float32_rows_are_counted_and_redone(k, d, kernel):
    rng = np.random.default_rng(6)
    C = rng.normal(size=(k, d)).astype(np.float32)
    X = rng.normal(size=(30, d)).astype(np.float32)
    X[[4, 17]] *= np.float32(1e30)
    labels, dist2 = _run(kernel, X, C, nbad=2)
    good = np.setdiff1d(np.arange(30), [4, 17])
    _check_exact(X[good], C, labels[good], dist2[good], np.float32)
    # the driver redoes them in float64: the right corner, distance inf in float32
    lab, d2 = K.assign_corners(X, C)
    np.testing.assert_array_equal(lab, _distances(X, C).argmin(1))
    assert np.all(np.isinf(d2[[4, 17]]))
    np.testing.assert_array_equal(lab[good], labels[good])


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_offset_and_scale(dtype):
    """Data far from the origin and at extreme units: centring and the
    power-of-two scale keep the answer exact."""
    rng = np.random.default_rng(7)
    k, d = 140, 20
    C0 = rng.normal(size=(k, d))
    X0 = rng.normal(size=(100, d))
    ref = None
    big = 1e15 if dtype == np.float32 else 1e150  # squared distances stay in range
    for offset, unit in [(0.0, 1.0), (1e4, 1.0), (0.0, big), (0.0, 1 / big)]:
        C = ((C0 + offset) * unit).astype(dtype)
        X = ((X0 + offset) * unit).astype(dtype)
        labels, dist2 = _run(K.nearest_corner, X, C)
        _check_exact(X, C, labels, dist2, dtype)
        if ref is None:
            ref = labels
        else:
            assert np.mean(labels == ref) > 0.97  # input rounding may flip near-ties


def _packed(C, dtype):
    center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key = K._centred(C.astype(dtype))
    CTp = K._corner_panels(CT, one)
    ncol = (CTp.shape[0] // C.shape[1]) * CTp.shape[1]
    ccp = np.full(ncol, np.nan, dtype=dtype)
    ccp[:len(cc)] = cc
    return Cc, CTp, ccp, cc, cmax, mscale, key


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,d", [(1, 1), (2, 3), (31, 5), (32, 16), (33, 17), (64, 32),
                                 (100, 37), (256, 32), (530, 9)])
def test_tile_nearest_against_float64(k, d, dtype):
    """The fused products + minimum + candidate range kernel, compiled and
    plain Python, against float64 (rows: random, one exactly on a corner,
    one on a duplicated corner, one not finite)."""
    import numba

    @numba.njit
    def compiled(xc, xx, CTp, ccp, mscale, cmax, A, thr, first, last):
        S._tile_nearest_simd(xc, xx, CTp, ccp, mscale, cmax, A, thr, first, last)

    rng = np.random.default_rng(k + d)
    C = rng.normal(size=(k, d))
    if k > 3:
        C[k - 1] = C[1]
    Cc, CTp, ccp, cc, cmax, mscale, key = _packed(C, dtype)
    ncol = len(ccp)
    assert ncol % S._panel(np.dtype(dtype)) == 0 and k <= ncol < k + S._panel(np.dtype(dtype))
    xc = rng.normal(size=(S._TILE, d)).astype(dtype)
    xc[2] = Cc[k // 2]
    xc[3] = Cc[min(1, k - 1)]
    xc[5, 0] = np.nan
    xx = np.einsum("ij,ij->i", xc, xc).astype(dtype)
    out = []
    for fn in (compiled, S._tile_nearest_py):
        A = np.full((S._TILE, ncol + 3), 7, dtype=dtype)
        thr = np.empty(S._TILE, dtype=dtype)
        first = np.empty(S._TILE, dtype=key.dtype)
        last = np.empty(S._TILE, dtype=key.dtype)
        fn(xc, xx, CTp, ccp, mscale, cmax, A, thr, first, last)
        out.append((A, thr, first, last))
    D = _distances(xc, Cc)
    eps = np.finfo(dtype).eps
    good = [r for r in range(S._TILE) if r != 5]
    for A, thr, first, last in out:
        assert np.all(A[:, ncol:] == 7)  # nothing written past the packed columns
        assert np.all(np.isnan(A[:, k:ncol])) and np.all(np.isnan(A[5, :ncol]))
        assert first[5] == ncol and last[5] == -1 and np.isnan(thr[5])
        size = 1 + xx[good, None].astype(np.float64) + cc.max()
        assert np.all(np.abs(A[good, :k] - (D[good] - xx[good, None])) <= 4 * d * eps * size)
        for r in good:
            m = np.nanmin(A[r, :ncol])
            np.testing.assert_allclose(thr[r], m + mscale * (xx[r] + cmax), rtol=4 * eps)
            hits = np.flatnonzero(A[r, :ncol] <= thr[r])
            assert (first[r], last[r]) == (hits[0], hits[-1])
            assert D[r].argmin() in hits  # the true nearest is always a candidate
        assert first[2] <= k // 2 <= last[2]
        if k > 3:
            assert first[3] == 1 and last[3] >= k - 1
    for a, b in zip(out[0][2:], out[1][2:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 130])
def test_direct_distance_against_float64(d, dtype):
    """Every lane count and tail of the direct evaluation: float64 arithmetic
    on the inputs as given (nearly exact), compiled and plain Python."""
    import numba

    @numba.njit
    def compiled(xc, r, Cc, j):
        return S._sq_dist_simd(xc, r, Cc, j)

    rng = np.random.default_rng(d)
    xc = rng.normal(size=(8, d)).astype(dtype)
    Cc = rng.normal(size=(12, d)).astype(dtype)
    Cc[4] = xc[3]
    for r in range(8):
        for j in range(12):
            e = xc[r].astype(np.float64) - Cc[j].astype(np.float64)
            ref = float(np.sum(e * e))
            v = compiled(xc, r, Cc, j)
            vp = S._sq_dist_py(xc, r, Cc, j)
            assert isinstance(v, float) and isinstance(vp, float)
            assert abs(v - ref) <= 2 * d * np.finfo(np.float64).eps * ref
            assert abs(vp - ref) <= 2 * d * np.finfo(np.float64).eps * ref
    assert compiled(xc, 3, Cc, 4) == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2, 33, 300])
def test_corner_panels(k, dtype):
    """Corners times -2 in panels of two 512-bit vectors, zero past the last one."""
    rng = np.random.default_rng(k)
    d = 6
    C = rng.normal(size=(k, d)).astype(dtype)
    CT = K._centred(C)[4]
    CTp = K._corner_panels(CT, dtype(1))
    P = CTp.shape[1]
    assert P == S._panel(np.dtype(dtype)) == (32 if dtype == np.float32 else 16)
    nb = CTp.shape[0] // d
    full = CTp.reshape(nb, d, P).transpose(1, 0, 2).reshape(d, nb * P)
    assert nb * P >= CT.shape[1] > nb * P - P
    np.testing.assert_array_equal(full[:, :CT.shape[1]], -2 * CT)
    np.testing.assert_array_equal(full[:, CT.shape[1]:], 0)


def test_disabled_jit_takes_the_python_twins():
    """With numba's JIT off the products path runs the plain Python versions."""
    code = """
import numpy as np
from sksfvq._kernels import assign_corners, _direct
rng = np.random.default_rng(0)
C = rng.normal(size=(150, 20))
X = rng.normal(size=(21, 20))
X[4] = C[3]
X[5, 0] = np.nan
assert not _direct(150, 20)
for dt in (np.float32, np.float64):
    l, d = assign_corners(X.astype(dt), C.astype(dt))
    D = ((X[:, None] - C[None]) ** 2).sum(-1)
    ok = np.arange(21) != 5
    assert (l[ok] == D[ok].argmin(1)).all() and l[4] == 3 and l[5] == 0
    assert np.allclose(d[ok], D[ok].min(1), rtol=1e-5) and d.dtype == dt
print('ok')
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout
