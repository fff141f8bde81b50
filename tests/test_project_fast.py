"""The fast projection kernel's own paths against slow float64 references.

:mod:`sksfvq._project` pads the segment constants to whole vectors, finds the
row minimum through bit patterns, takes the first and last candidate from one
vectorized pass and tests the middle ones one by one. These tests reach each
of those paths on purpose (segment counts around the padding, many
near-equal segments, two equal segments far apart along the curve, rows that
are not finite) and compare with brute force in float64, for float32 and
float64 and for both the serial and the parallel kernel. The three inner
kernels written in LLVM IR (products, segment pass, direct evaluation) are
also compared one by one with their plain Python twins and float64.
"""

import numpy as np
import pytest

from sksfvq import _project as P

DTYPES = [np.float32, np.float64]
KERNELS = [P.project_to_curve_serial, P.project_to_curve]


def _run(kernel, X, C, nbad=0):
    pos = np.full(len(X), -7, dtype=X.dtype)
    seg = np.full(len(X), -7, dtype=np.intp)
    dist2 = np.full(len(X), -7, dtype=X.dtype)
    # the kernel counts the rows the driver has to redo
    assert kernel(X, *P.projection_args(C), pos, seg, dist2) == nbad
    return pos, seg, dist2


def _segment_distances(X, C):
    """(n, k-1) squared distances to every segment and the lambdas, float64."""
    X64, C64 = X.astype(np.float64), C.astype(np.float64)
    D = np.diff(C64, axis=0)
    dd = (D**2).sum(1)
    a = ((X64[:, None, :] - C64[None, :-1]) * D[None]).sum(-1)
    lam = np.clip(np.divide(a, dd, out=np.zeros_like(a), where=dd > 0), 0, 1)
    pts = C64[None, :-1] + lam[..., None] * D[None]
    return ((X64[:, None, :] - pts) ** 2).sum(-1), lam


def _check_exact(X, C, pos, seg, dist2, dtype):
    seg_d, _ = _segment_distances(X, C)
    best = seg_d.min(1)
    eps = np.finfo(dtype).eps
    size = 1 + (X.astype(np.float64) ** 2).sum(1) + (C.astype(np.float64) ** 2).sum(1).max()
    tol = 64 * eps * size
    k = len(C)
    assert np.all((seg >= 0) & (seg <= k - 2))
    assert np.all((pos >= seg) & (pos <= seg + 1))
    # the reported segment is a nearest one, and the distance is right
    assert np.all(seg_d[np.arange(len(X)), seg] <= best + tol)
    np.testing.assert_allclose(dist2, best, rtol=0, atol=tol.max())
    # the reported position decodes to a point at that distance
    C64 = C.astype(np.float64)
    lam = pos.astype(np.float64) - seg
    pts = (1 - lam)[:, None] * C64[seg] + lam[:, None] * C64[seg + 1]
    d_pts = ((X.astype(np.float64) - pts) ** 2).sum(1)
    np.testing.assert_allclose(d_pts, best, rtol=0, atol=tol.max() + 1e3 * eps * size.max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
@pytest.mark.parametrize("k", [2, 3, 16, 17, 18, 33, 48, 49, 257, 520])
def test_segment_counts_around_the_padding(k, kernel, dtype):
    rng = np.random.default_rng(k)
    d = 5 if k < 100 else 3
    X = (rng.normal(size=(300, d)) * 2).astype(dtype)
    C = rng.normal(size=(k, d)).astype(dtype)
    pos, seg, dist2 = _run(kernel, X, C)
    assert pos.dtype == dtype and dist2.dtype == dtype
    _check_exact(X, C, pos, seg, dist2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
def test_many_near_equal_segments(kernel, dtype):
    """Rows near the centre of a regular polygon: every segment is a candidate."""
    k = 41
    t = np.linspace(0, 2 * np.pi, k)
    C = np.stack([np.cos(t), np.sin(t), np.zeros(k)], axis=1).astype(dtype)
    rng = np.random.default_rng(0)
    X = np.vstack([np.zeros((3, 3)), rng.normal(size=(60, 3)) * 1e-4,
                   rng.normal(size=(60, 3))]).astype(dtype)
    pos, seg, dist2 = _run(kernel, X, C)
    _check_exact(X, C, pos, seg, dist2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
def test_equal_segments_far_apart_along_the_curve(kernel, dtype):
    """Segment 0 and segment 5 are both exactly 1 from x: the lower one wins.

    The segments in between are far away, so the first and the last
    candidate are not neighbours and the middle ones are not candidates.
    """
    C = np.array([[-1.0, 1.0], [1.0, 1.0], [8.0, 8.0], [9.0, 0.0], [8.0, -8.0],
                  [1.0, -1.0], [-1.0, -1.0]], dtype=dtype)
    X = np.array([[0.0, 0.0], [0.0, 0.5], [0.0, -0.5], [0.5, 0.0]], dtype=dtype)
    pos, seg, dist2 = _run(kernel, X, C)
    np.testing.assert_array_equal(seg, [0, 0, 5, 0])
    rtol = 1e-6 if dtype == np.float32 else 1e-14  # rounding of the centring
    np.testing.assert_allclose(pos, [0.5, 0.5, 5.5, 0.75], rtol=rtol)
    np.testing.assert_allclose(dist2, [1.0, 0.25, 0.25, 1.0], rtol=rtol)
    # the same with a third equal segment in the middle: still the lowest
    C3 = np.array([[-1.0, 1.0], [1.0, 1.0], [8.0, 8.0], [1.0, 1.0], [-1.0, 1.0],
                   [-9.0, 0.0], [-1.0, -1.0], [1.0, -1.0]], dtype=dtype)
    pos, seg, dist2 = _run(kernel, X[:1], C3)
    assert seg[0] == 0
    np.testing.assert_allclose([pos[0], dist2[0]], [0.5, 1.0], rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
def test_rows_that_are_not_finite_get_segment_minus_one(kernel, dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4)).astype(dtype)
    C = rng.normal(size=(20, 4)).astype(dtype)
    X[3, 1] = np.nan
    X[7, 0] = -np.nan
    X[11] = np.nan
    pos, seg, dist2 = _run(kernel, X, C, nbad=3)
    bad = [3, 7, 11]
    assert np.all(seg[bad] == -1)
    good = np.setdiff1d(np.arange(40), bad)
    _check_exact(X[good], C, pos[good], seg[good], dist2[good], dtype)


@pytest.mark.parametrize("kernel", KERNELS, ids=["serial", "parallel"])
def test_overflowing_float32_rows_are_counted_and_redone(kernel):
    """Distances beyond float32 even after scaling: counted, then redone in float64."""
    rng = np.random.default_rng(5)
    C = rng.normal(size=(9, 3)).astype(np.float32)
    X = rng.normal(size=(30, 3)).astype(np.float32)
    X[[4, 17]] *= np.float32(1e30)
    pos, seg, dist2 = _run(kernel, X, C, nbad=2)
    assert not np.any(np.isfinite(dist2[[4, 17]]))
    good = np.setdiff1d(np.arange(30), [4, 17])
    _check_exact(X[good], C, pos[good], seg[good], dist2[good], np.float32)
    # the driver redoes them in float64: the right segment, distance inf in float32
    pos, seg, dist2 = P.project(X, C)
    p64, s64, d64 = P.project(X.astype(np.float64), C.astype(np.float64))
    np.testing.assert_array_equal(seg, s64)
    np.testing.assert_allclose(pos, p64, rtol=1e-6)
    assert np.all(np.isinf(dist2[[4, 17]]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_far_end_of_a_segment_is_reported_as_the_next_corner(dtype):
    C = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]], dtype=dtype)
    X = np.array([[2.0, -1.0], [1.5, -0.5], [3.0, 1.0], [-1.0, 0.0]], dtype=dtype)
    for kernel in KERNELS:
        pos, seg, dist2 = _run(kernel, X, C)
        np.testing.assert_array_equal(seg, [1, 1, 2, 0])
        np.testing.assert_array_equal(pos, np.array([1.0, 1.0, 3.0, 0.0], dtype=dtype))
        np.testing.assert_allclose(dist2, [2.0, 0.5, 1.0, 1.0], rtol=1e-6)


def _unpack(CTp, d):
    """The packed corners (panels one after the other) back as a (d, columns) array."""
    P = CTp.shape[1]
    nb = CTp.shape[0] // d
    return CTp.reshape(nb, d, P).transpose(1, 0, 2).reshape(d, nb * P)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 17, 37, 70])
def test_segment_constants_are_padded(k, dtype):
    """Whole vectors of segment constants, the padding never a candidate;
    corners times -2 packed in panels of two 512-bit vectors."""
    rng = np.random.default_rng(2)
    d = 6
    C = rng.normal(size=(k, d)).astype(dtype)
    (center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale, one,
     key) = P.projection_args(C)
    CTp, ccp, cd2, ddp, ih, idx = P._segment_constants(CT, cc, cd, dd, inv_dd, one, key)
    nsp = ccp.shape[0]
    assert nsp % P._LANES == 0 and k - 1 <= nsp < k - 1 + P._LANES
    assert all(a.dtype == dtype for a in (CTp, ccp, cd2, ddp, ih))
    assert idx.dtype.kind == "i" and idx.dtype.itemsize == np.dtype(dtype).itemsize
    assert CTp.shape[1] == (32 if dtype == np.float32 else 16) == P._panel(np.dtype(dtype))
    CT2 = _unpack(CTp, d)
    assert CT2.shape[1] >= k and CT2.shape[1] >= nsp
    np.testing.assert_array_equal(CT2[:, :CT.shape[1]], -2 * CT)
    np.testing.assert_array_equal(CT2[:, CT.shape[1]:], 0)
    np.testing.assert_array_equal(ccp[:k - 1], cc[:k - 1])
    assert np.all(np.isnan(ccp[k - 1:]))
    np.testing.assert_array_equal(cd2[:k - 1], 2 * cd)
    np.testing.assert_array_equal(ddp[:k - 1], dd)
    np.testing.assert_array_equal(ih[:k - 1], inv_dd / 2)
    np.testing.assert_array_equal(idx, np.r_[np.arange(nsp + 1), -1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d,k", [(1, 2), (3, 17), (4, 33), (5, 48), (32, 256), (37, 100),
                                 (2, 1040)])
def test_tile_products_against_float64(d, k, dtype):
    """The register-blocked products kernel: every panel, any feature count."""
    import numba

    @numba.njit
    def compiled(xc, CTp, G):
        P._tile_products_simd(xc, CTp, G)

    rng = np.random.default_rng(d * k)
    C = rng.normal(size=(k, d)).astype(dtype)
    (center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale, one,
     key) = P.projection_args(C)
    CTp = P._segment_constants(CT, cc, cd, dd, inv_dd, one, key)[0]
    xc = rng.normal(size=(P._TILE, d)).astype(dtype)
    ncol = (CTp.shape[0] // d) * CTp.shape[1]
    G = np.full((P._TILE, ncol + 5), 7, dtype=dtype)
    Gp = G.copy()
    compiled(xc, CTp, G)
    P._tile_products_py(xc, CTp, Gp)
    ref = xc.astype(np.float64) @ _unpack(CTp, d).astype(np.float64)
    eps = np.finfo(dtype).eps
    size = np.abs(xc).astype(np.float64) @ np.abs(_unpack(CTp, d)).astype(np.float64)
    assert np.all(np.abs(G[:, :ncol] - ref) <= 2 * d * eps * size + 1e-300)
    assert np.all(np.abs(Gp[:, :ncol] - ref) <= 2 * d * eps * size + 1e-300)
    np.testing.assert_array_equal(G[:, ncol:], 7)  # nothing written past the panels
    assert np.all(G[:, CT.shape[1]:ncol] == 0)  # zero corners past the last one


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 2, 7, 8, 9, 15, 16, 17, 32, 37, 130])
def test_vector_segment_evaluation_against_float64(d, dtype):
    """Every lane count and tail length of the vector evaluation (16 float32
    lanes, 8 float64 lanes), against the Python version and float64: float32
    data is evaluated in float64 and rounded once."""
    import numba

    @numba.njit
    def compiled(xc, r, Cc, Dseg, inv_dd, j, zero, one):
        return P._segment_exact_simd(xc, r, Cc, Dseg, inv_dd, j, zero, one)

    rng = np.random.default_rng(d)
    xc = rng.normal(size=(8, d)).astype(dtype)
    Cc = rng.normal(size=(12, d)).astype(dtype)
    Cc[5] = Cc[4]  # a zero-length segment
    Dseg = np.ascontiguousarray(np.diff(Cc, axis=0))
    dd = np.einsum("ij,ij->i", Dseg, Dseg)
    inv_dd = np.zeros_like(dd)
    np.divide(dtype(1), dd, out=inv_dd, where=dd > 0)
    zero, one = dtype(0), dtype(1)
    eps = np.finfo(dtype).eps
    eps64 = np.finfo(np.float64).eps
    for r in range(8):
        x64 = xc[r].astype(np.float64)
        for j in range(11):
            v, lam = compiled(xc, r, Cc, Dseg, inv_dd, j, zero, one)
            vp, lamp = P._segment_exact_py(xc, r, Cc, Dseg, inv_dd, j, zero, one)
            assert 0 <= lam <= 1
            e = x64 - Cc[j]
            D = Dseg[j].astype(np.float64)
            lam64 = 0.0 if j == 4 else min(max(e @ D / (D @ D), 0.0), 1.0)
            w = e - lam64 * D
            size = e @ e + D @ D
            assert abs(lam - lam64) <= 2 * eps * lam64 + 64 * eps64 * size / max(D @ D, 1e-300)
            # computed in float64 and rounded once (lambda uses the rounded
            # 1 / |d_j|^2: a relative error of eps, second order in the distance)
            tol = (eps * (w @ w) + 64 * d * eps64 * size
                   + (D @ D) * (lam - lam64) ** 2 + 4 * eps * lam64 * (D @ D) * abs(lam - lam64))
            assert abs(v - w @ w) <= tol
            assert abs(v - vp) <= 2 * tol
            if j == 4:
                assert lam == 0 and lamp == 0
    # computed in the dtype of the data
    (ret,) = {sig.return_type for sig in compiled.nopython_signatures}
    assert ret == numba.types.UniTuple(numba.from_dtype(np.dtype(dtype)), 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 17, 18, 40, 300])
def test_tile_pass_against_numpy(k, dtype):
    """The whole-tile segment pass: distances, thresholds, candidate ranges,
    compiled and plain Python, against float64 (rows of the tile: random,
    one exactly on a corner, one not finite)."""
    import numba

    @numba.njit
    def compiled(G, xx, ccp, cd2, ddp, ih, mscale, cmax, one, A, thr, first, last):
        P._tile_pass_simd(G, xx, ccp, cd2, ddp, ih, mscale, cmax, one, A, thr, first, last)

    rng = np.random.default_rng(k)
    d = 5
    C = rng.normal(size=(k, d)).astype(dtype)
    (center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale, one,
     key) = P.projection_args(C)
    CTp, ccp, cd2, ddp, ih, idx = P._segment_constants(CT, cc, cd, dd, inv_dd, one, key)
    nsp = ccp.shape[0]
    xc = rng.normal(size=(P._TILE, d)).astype(dtype)
    xc[2] = Cc[k // 2]  # on a corner: two segments tie
    xc[5, 1] = np.nan
    xx = np.einsum("ij,ij->i", xc, xc).astype(dtype)
    G = np.zeros((P._TILE, (CTp.shape[0] // d) * CTp.shape[1] + P._LANES), dtype=dtype)
    P._tile_products_py(xc, CTp, G)
    out = []
    for fn in (compiled, P._tile_pass_py):
        A = np.full((P._TILE, nsp), 7, dtype=dtype)
        thr = np.empty(P._TILE, dtype=dtype)
        first = np.empty(P._TILE, dtype=idx.dtype)
        last = np.empty(P._TILE, dtype=idx.dtype)
        fn(G, xx, ccp, cd2, ddp, ih, mscale, cmax, one, A, thr, first, last)
        out.append((A, thr, first, last))
    seg_d, _ = _segment_distances(xc, Cc)
    eps = np.finfo(dtype).eps
    good = [r for r in range(P._TILE) if r != 5]
    for A, thr, first, last in out:
        assert np.all(np.isnan(A[:, k - 1:])) and np.all(np.isnan(A[5]))
        assert first[5] == nsp and last[5] == -1 and np.isnan(thr[5])
        size = 1 + xx[good, None].astype(np.float64) + cc.max()
        expanded = seg_d[good] - xx[good, None]  # A leaves |x|^2 out
        assert np.all(np.abs(A[good, :k - 1] - expanded) <= 64 * d * eps * size)
        for r in good:
            m = np.nanmin(A[r])
            np.testing.assert_allclose(thr[r], m + mscale * (xx[r] + cmax), rtol=4 * eps)
            hits = np.flatnonzero(A[r] <= thr[r])
            assert (first[r], last[r]) == (hits[0], hits[-1])
        if k > 2:
            assert last[2] >= first[2] + 1  # the corner row has both its segments
    np.testing.assert_array_equal(out[0][2], out[1][2])
    np.testing.assert_array_equal(out[0][3], out[1][3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 5, 16, 17, 32, 37])
@pytest.mark.parametrize("nr", [1, 5, 8])
def test_tile_rows_against_numpy(nr, d, dtype):
    """Centred, scaled rows and their squared norms, rows past nr zero."""
    import numba

    @numba.njit
    def compiled(X, start, nr, center, scale, xc, xx):
        P._tile_rows(X, start, nr, center, scale, xc, xx)

    rng = np.random.default_rng(d)
    X = rng.normal(size=(20, d)).astype(dtype)
    center = rng.normal(size=d).astype(dtype)
    scale = dtype(0.25)
    for Xl in (X, np.asfortranarray(X)):  # the vector version and the loop
        xc = np.full((P._TILE, d), 7, dtype=dtype)
        xx = np.full(P._TILE, 7, dtype=dtype)
        compiled(Xl, 3, nr, center, scale, xc, xx)
        ref = (X[3:3 + nr].astype(np.float64) - center) * 0.25
        np.testing.assert_array_equal(xc[:nr], ((X[3:3 + nr] - center) * scale))
        np.testing.assert_allclose(xx[:nr], (ref**2).sum(1), rtol=4 * d * np.finfo(dtype).eps)
        assert np.all(xc[nr:] == 0) and np.all(xx[nr:] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fortran_ordered_rows_give_the_same_projection(dtype):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(500, 7)).astype(dtype)
    C = rng.normal(size=(30, 7)).astype(dtype)
    for kernel in KERNELS:
        a = _run(kernel, X, C)
        b = _run(kernel, np.asfortranarray(X), C)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
