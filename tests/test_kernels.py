"""The kernels, on every back end, against the slow references of ``_reference.py``.

One grid over back end x dtype x layout x serial/parallel x boundary shapes
(rows around the 8-row tile, the 64-row portable chunk and the 256-row block;
corners around the 16/32-corner panels and the direct kernel's limits;
features around the 8/16 vector lanes) for the nearest corner and the
projection, then the special cases: exact ties, near-ties decided as in
float64, rows that are not finite or overflow float32, extreme units, and
the back ends agreeing bit for bit.
"""

import numpy as np
import pytest

import _reference as ref
from sksfvq import _nearest, _project
from sksfvq._layout import direct

BACKENDS = ["portable", "simd"]
DTYPES = [np.float32, np.float64]
KERNELS = ["serial", "parallel"]

# (n, k, d): tile/chunk/block remainders, panel padding, lane tails, both nearest paths
SHAPES = [(1, 2, 1), (9, 3, 2), (65, 17, 5), (257, 33, 9), (70, 130, 17), (300, 16, 60),
          (257, 200, 20), (63, 64, 16), (129, 31, 33), (40, 530, 40), (90, 40, 70),
          (8, 257, 3), (300, 48, 32), (20, 100, 130)]


def _problem(n, k, d, dtype, seed):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 2 + 1).astype(dtype)
    C = rng.normal(size=(k, d)).astype(dtype)
    return X, C


def _layout(X, layout):
    return np.asfortranarray(X) if layout == "F" else X


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k,d", SHAPES)
def test_nearest_corner_grid(n, k, d, dtype, backend, layout, kernel):
    X, C = _problem(n, k, d, dtype, seed=n + k + d)
    labels, dist2, clean = _nearest.nearest_corner(_layout(X, layout), C, backend, kernel)
    assert clean
    ref.check_nearest(X, C, labels, dist2, dtype)
    if dtype == np.float64 and not direct(k, d):  # decided as in float64: the first nearest
        D = ref.corner_distances(X, C)
        order = np.sort(D, axis=1)
        clear = order[:, 1] - order[:, 0] > 1e-12 * (1 + order[:, 0]) if k > 1 else slice(None)
        np.testing.assert_array_equal(labels[clear], D.argmin(1)[clear])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k,d", [s for s in SHAPES if s[1] >= 2])
def test_projection_grid(n, k, d, dtype, backend, layout, kernel):
    X, C = _problem(n, k, d, dtype, seed=n * k + d)
    pos, seg, dist2 = _project.project(_layout(X, layout), C, backend, kernel)
    ref.check_projection(X, C, pos, seg, dist2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k,d", SHAPES)
def test_back_ends_and_thread_counts_agree_bit_for_bit(n, k, d, dtype):
    """Same labels, positions and distances on both back ends, serial or parallel:
    the products' order only decides which candidates are re-checked."""
    X, C = _problem(n, k, d, dtype, seed=7 * n + k)
    base = _nearest.nearest_corner(X, C, "portable", "serial")[:2]
    for backend in BACKENDS:
        for kernel in KERNELS:
            for a, b in zip(base, _nearest.nearest_corner(X, C, backend, kernel)[:2]):
                np.testing.assert_array_equal(a, b)
    if k >= 2:
        base = _project.project(X, C, "portable", "serial")
        for backend in BACKENDS:
            for kernel in KERNELS:
                for a, b in zip(base, _project.project(X, C, backend, kernel)):
                    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- special cases
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_ties_go_to_the_lowest_index(dtype, backend):
    """Small-integer corners and rows (the mean corner, the centring and every
    distance exact), five copies of one corner far apart in the codebook."""
    rng = np.random.default_rng(3)
    k, d = 256, 20
    C = rng.integers(-3, 4, size=(k, d)).astype(dtype)
    C[[40, 41, 200, 255]] = C[5]
    C[150] = C[100]
    X = rng.integers(-6, 7, size=(300, d)).astype(dtype) / 2
    X[:8] = C[5]
    X[8:16] = C[5] + (rng.normal(size=(8, d)) * 1e-3).astype(dtype)
    X[16] = C[100]
    for kernel in KERNELS:
        labels, dist2, _ = _nearest.nearest_corner(X, C, backend, kernel)
        assert np.all(labels[:16] == 5) and labels[16] == 100
        D = ref.corner_distances(X, C)
        assert ((D == D.min(1, keepdims=True)).sum(1) > 1).sum() > 20
        np.testing.assert_array_equal(labels, D.argmin(1))
        exact = np.r_[0:8, 16:len(X)]  # rows on the grid: distances exact too
        np.testing.assert_array_equal(dist2[exact], D.min(1)[exact])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_near_ties_are_decided_as_in_float64(dtype, backend):
    """Rows near the midpoint of two corners: the expanded form cannot tell them
    apart, the re-check (float64 for float32 data too) picks the float64 argmin."""
    rng = np.random.default_rng(4)
    k, d = 200, 24
    C = rng.normal(size=(k, d)).astype(dtype)
    a, b = rng.integers(0, k, size=(2, 400))
    keep = a != b
    t = 0.5 + rng.normal(size=keep.sum()) * 1e-4
    X = (C[a[keep]] * (1 - t)[:, None] + C[b[keep]] * t[:, None]).astype(dtype)
    labels, dist2, _ = _nearest.nearest_corner(X, C, backend, "serial")
    D = ref.corner_distances(X, C)
    order = np.sort(D, axis=1)
    clear = order[:, 1] - order[:, 0] > 1e-12 * order[:, 0]
    np.testing.assert_array_equal(labels[clear], D.argmin(1)[clear])
    ref.check_nearest(X, C, labels, dist2, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,d", [(8, 2), (16, 3), (100, 8), (40, 20)])  # direct x3, products
def test_ties_of_the_input_go_to_the_lowest_index(k, d, dtype, backend):
    """Rows at the exact midpoint of two corners whose mean corner is no
    round number (the centring rounds): the re-check reads the rows and
    corners as given, so the tie is the input's and the lower index wins."""
    rng = np.random.default_rng(k + d)
    C = (rng.integers(-8, 9, size=(k, d)) * 2 + 0.375).astype(dtype)  # exact values
    a, b = rng.integers(0, k, size=(2, 300))
    X = ((C[a] + C[b]) / 2).astype(dtype)  # exact too
    D = ref.corner_distances(X, C)
    tied = (D == D.min(1, keepdims=True)).sum(1) > 1
    assert tied.sum() > 50
    for kernel in KERNELS:
        labels, dist2, _ = _nearest.nearest_corner(X, C, backend, kernel)
        np.testing.assert_array_equal(labels, D.argmin(1))
        np.testing.assert_allclose(dist2, D.min(1), rtol=np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,d", [(16, 1), (8, 2), (16, 3), (100, 8), (40, 20)])
def test_a_corner_far_from_the_others(k, d, dtype, backend):
    """One corner on an outlier 1e6 (float32) or 1e14 (float64) away pulls the
    mean corner off the rest: centred on it, the other corners and the rows
    round to about 1e-2, far more than their gaps. The re-checks read the
    rows and corners as given, so labels, positions and distances are
    float64's (they were wrong by up to 10 positions before)."""
    rng = np.random.default_rng(k * d)
    far = 1e6 if dtype == np.float32 else 1e14
    C = np.sort(rng.normal(size=(k, d)), axis=0)
    C[-1] = far
    C = C.astype(dtype)
    X = rng.normal(size=(2000, d)).astype(dtype)
    for kernel in KERNELS:
        labels, dist2, _ = _nearest.nearest_corner(X, C, backend, kernel)
        D = ref.corner_distances(X, C)
        np.testing.assert_array_equal(labels, D.argmin(1))
        np.testing.assert_allclose(dist2, D.min(1), rtol=2 * np.finfo(dtype).eps)
        pos, seg, pd2 = _project.project(X, C, backend, kernel)[:3]
        _, exact_d2 = ref.project(X, C)
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(pd2, exact_d2, rtol=4 * eps, atol=1e-12)
        # the point at the position is that far (positions at the dtype's resolution:
        # near a corner, the two segments' distances tie in the dtype; along the
        # segment to the far corner one step of the position is far longer, see
        # the user guide)
        short = seg < k - 2
        assert short.sum() > 1000
        lam = pos.astype(np.float64) - seg
        C64 = C.astype(np.float64)
        pts = (1 - lam)[:, None] * C64[seg] + lam[:, None] * C64[seg + 1]
        at_pos = ((X.astype(np.float64) - pts) ** 2).sum(1)
        np.testing.assert_allclose(at_pos[short], exact_d2[short], rtol=16 * eps, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k,d", [(8, 2), (300, 20)])  # direct, products
def test_float64_gaps_and_rows_far_from_unit_scale(k, d, backend):
    """The re-checks scale each difference by the working scale before squaring
    it: gaps of 2^-540 between corners whose range is 2^-499 (the squares of
    the raw differences underflow), and rows 2^520 from corners of range
    2^491 (they overflow), are decided as after an exact rescale."""
    rng = np.random.default_rng(k)
    C = np.ldexp(rng.normal(size=(k, d)), -540)
    C[0], C[1] = np.ldexp(1.0, -500), -np.ldexp(1.0, -500)
    X = np.ldexp(rng.normal(size=(300, d)), -540)
    labels, dist2, _ = _nearest.nearest_corner(X, C, backend, "serial")
    D = ref.corner_distances(np.ldexp(X, 540), np.ldexp(C, 540))
    np.testing.assert_array_equal(labels, D.argmin(1))
    pos = _project.project(X, C, backend, "serial")[0]
    np.testing.assert_allclose(pos, ref.project(np.ldexp(X, 540), np.ldexp(C, 540))[0],
                               rtol=0, atol=1e-9)
    C = np.ldexp(rng.normal(size=(k, d)), 490)
    X = C[rng.integers(0, k, 50)] * np.ldexp(1.0, 30) + np.ldexp(rng.normal(size=(50, d)), 505)
    labels, _, _ = _nearest.nearest_corner(X, C, backend, "serial")
    D = ref.corner_distances(np.ldexp(X, -520), np.ldexp(C, -520))
    np.testing.assert_array_equal(labels, D.argmin(1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k,d", [(8, 2), (16, 30), (100, 8), (200, 20)])  # direct x3, products
def test_float32_rows_far_from_the_corners(k, d, backend):
    """Rows 1e4 to 1e12 times the corners' spread away: their float32 differences
    to the corners lose the corners apart (every corner tied, label 0 came out
    of the direct kernel); the nearest corner is still the float64 argmin."""
    rng = np.random.default_rng(7)
    C = rng.normal(size=(k, d)).astype(np.float32)
    for scale in (1e4, 1e6, 1e8, 1e12):
        X = (rng.normal(size=(300, d)) * scale).astype(np.float32)
        assert direct(k, d) == ((k, d) in [(8, 2), (16, 30), (100, 8)])
        labels, _, _ = _nearest.nearest_corner(X, C, backend, "serial")
        # a nearest corner to float64's working precision (the corners' differences
        # are 1e-8 of these distances at 1e8, 1e-12 at 1e12)
        D = ref.corner_distances(X, C)
        chosen = D[np.arange(len(X)), labels]
        assert np.all(chosen <= D.min(1) * (1 + 1e-13)), scale


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,d", [(200, 20), (40, 70), (100, 8)])  # products, products, direct
def test_rows_that_are_not_finite(k, d, dtype, backend, kernel):
    """NaN and inf rows: label 0 / position 0 and distance inf; the others exact."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, d)).astype(dtype)
    C = rng.normal(size=(k, d)).astype(dtype)
    bad = [3, 7, 11, 12, 13]
    X[3, 1], X[7, 0], X[11], X[12, 2], X[13] = np.nan, -np.nan, np.nan, np.inf, -np.inf
    good = np.setdiff1d(np.arange(40), bad)
    labels, dist2, clean = _nearest.nearest_corner(X, C, backend, kernel)
    assert not clean and np.all(labels[bad] == 0) and np.all(np.isinf(dist2[bad]))
    ref.check_nearest(X[good], C, labels[good], dist2[good], dtype)
    pos, seg, dist2 = _project.project(X, C, backend, kernel)
    assert np.all(pos[bad] == 0) and np.all(seg[bad] == 0) and np.all(np.isinf(dist2[bad]))
    ref.check_projection(X[good], C, pos[good], seg[good], dist2[good], dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k,d", [(200, 20), (40, 70), (9, 3)])
def test_overflowing_float32_rows_are_redone_in_float64(k, d, backend):
    rng = np.random.default_rng(6)
    C = rng.normal(size=(k, d)).astype(np.float32)
    X = rng.normal(size=(30, d)).astype(np.float32)
    X[[4, 17]] *= np.float32(1e30)
    labels, dist2, clean = _nearest.nearest_corner(X, C, backend)
    assert not clean
    D = ref.corner_distances(X, C)
    np.testing.assert_array_equal(labels, D.argmin(1))
    # beyond float32's range, the distance is kept in float64
    np.testing.assert_allclose(dist2[[4, 17]], D.min(1)[[4, 17]], rtol=1e-6)
    pos, seg, dist2 = _project.project(X, C, backend)
    p64, s64, d64 = _project.project(X.astype(np.float64), C.astype(np.float64), backend)
    np.testing.assert_array_equal(seg, s64)
    np.testing.assert_allclose(pos, p64, rtol=1e-6)
    np.testing.assert_allclose(dist2[[4, 17]], d64[[4, 17]], rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_large_offset_and_extreme_units(dtype, backend):
    """Centring and the power-of-two working scale keep the answer exact."""
    rng = np.random.default_rng(7)
    C0, X0 = rng.normal(size=(140, 20)), rng.normal(size=(100, 20))
    big = 1e15 if dtype == np.float32 else 1e150  # squared distances stay in range
    labels0 = None
    for offset, unit in [(0.0, 1.0), (1e4, 1.0), (0.0, big), (0.0, 1 / big)]:
        C = ((C0 + offset) * unit).astype(dtype)
        X = ((X0 + offset) * unit).astype(dtype)
        labels, dist2, _ = _nearest.nearest_corner(X, C, backend, "parallel")
        ref.check_nearest(X, C, labels, dist2, dtype)
        labels0 = labels if labels0 is None else labels0
        assert np.mean(labels == labels0) > 0.97  # input rounding may flip near-ties
        pos, seg, dist2 = _project.project(X, C[:30], backend)
        assert np.all((pos >= 0) & (pos <= 29))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("unit", [3e36, 1e37, 1e-37])
@pytest.mark.parametrize("k,d", [(5, 3), (9, 8), (65, 33)])
def test_float32_data_near_the_ends_of_its_range(k, d, unit, backend):
    """float32 data of unit 1e37 (or 1e-37) is brought near 1 by the working
    scale (capped at 2^60 it was not: the corners' squared norms overflowed,
    those corners dropped out of the comparisons, 22 of 100 rows got a wrong
    segment at k=5)."""
    rng = np.random.default_rng(11)
    C = (rng.normal(size=(k, d)) * unit).astype(np.float32)
    X = (rng.normal(size=(100, d)) * unit).astype(np.float32)
    labels, dist2, _ = _nearest.nearest_corner(X, C, backend)
    ref.check_nearest(X, C, labels, dist2, np.float32)
    pos, seg, dist2 = _project.project(X, C, backend)
    ref.check_projection(X, C, pos, seg, dist2, np.float32)


def test_one_corner_projection_of_rows_that_are_not_finite():
    """k = 1: NaN rows get distance inf, as for k >= 2 (their sum gave NaN)."""
    for dtype in DTYPES:
        X = np.array([[np.nan, 0, 0], [np.inf, 0, 0], [1, 2, 2]], dtype)
        pos, seg, dist2 = _project.project(X, np.zeros((1, 3), dtype), "portable")
        np.testing.assert_array_equal(dist2, [np.inf, np.inf, 9.0])
        np.testing.assert_array_equal(pos, [0, 0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_projection_hand_checked(backend):
    C = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    X = np.array([[1.0, 1.0], [1.0, -1.0], [3.0, 1.0], [2.0, 0.0], [-5.0, 0.0], [3.0, 3.0]])
    pos, seg, dist2 = _project.project(X, C, backend)
    # (1,1) is 1 from segment 0 and 1 from segment 1: the tie goes to the lower segment
    np.testing.assert_allclose(pos, [0.5, 0.5, 1.5, 1.0, 0.0, 2.0])
    np.testing.assert_allclose(dist2, [1.0, 1.0, 1.0, 0.0, 25.0, 2.0])
    np.testing.assert_array_equal(seg, [0, 0, 1, 1, 0, 1])
    # the nearest segment need not touch the nearest corner
    C = np.array([[-10.0, 0.0], [10.0, 0.0], [10.0, 3.0], [0.5, 3.0]])
    x = np.array([[0.0, 0.5]])
    assert _nearest.nearest_corner(x, C, backend)[0][0] == 3
    pos, _, dist2 = _project.project(x, C, backend)
    assert dist2[0] == pytest.approx(0.25) and pos[0] == pytest.approx(0.5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_segments_of_special_shapes(dtype, backend):
    """Zero-length segments, the far end reported as the next corner, a regular
    polygon (every segment a candidate) and equal segments far apart."""
    C = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]], dtype=dtype)
    X = np.array([[-1.0, 0.0], [0.0, 1.0], [0.5, 0.0]], dtype=dtype)
    np.testing.assert_allclose(_project.project(X, C, backend)[0], [0.0, 0.0, 2.5])
    np.testing.assert_array_equal(_nearest.nearest_corner(X, C, backend)[0], [0, 0, 0])
    C = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]], dtype=dtype)
    X = np.array([[2.0, -1.0], [1.5, -0.5], [3.0, 1.0], [-1.0, 0.0]], dtype=dtype)
    for kernel in KERNELS:
        pos, seg, dist2 = _project.project(X, C, backend, kernel)
        np.testing.assert_array_equal(seg, [1, 1, 2, 0])
        np.testing.assert_array_equal(pos, np.array([1.0, 1.0, 3.0, 0.0], dtype=dtype))
    t = np.linspace(0, 2 * np.pi, 41)
    C = np.stack([np.cos(t), np.sin(t), np.zeros(41)], axis=1).astype(dtype)
    rng = np.random.default_rng(0)
    X = np.vstack([np.zeros((3, 3)), rng.normal(size=(60, 3)) * 1e-4,
                   rng.normal(size=(60, 3))]).astype(dtype)
    ref.check_projection(X, C, *_project.project(X, C, backend), dtype)
    C = np.array([[-1.0, 1.0], [1.0, 1.0], [8.0, 8.0], [9.0, 0.0], [8.0, -8.0],
                  [1.0, -1.0], [-1.0, -1.0]], dtype=dtype)
    X = np.array([[0.0, 0.0], [0.0, 0.5], [0.0, -0.5], [0.5, 0.0]], dtype=dtype)
    pos, seg, dist2 = _project.project(X, C, backend)
    np.testing.assert_array_equal(seg, [0, 0, 5, 0])
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(pos, [0.5, 0.5, 5.5, 0.75], rtol=rtol)
    np.testing.assert_allclose(dist2, [1.0, 0.25, 0.25, 1.0], rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_projection_positions_agree_with_the_textbook_reference(dtype):
    rng = np.random.default_rng(1)
    X, C = rng.normal(size=(300, 5)).astype(dtype), rng.normal(size=(9, 5)).astype(dtype)
    ref_pos, ref_d2 = ref.project(X, C)
    clear = ref.second_best(X, C) - ref_d2 > 1e-3 * (1 + ref_d2)
    for backend in BACKENDS:
        pos, _, dist2 = _project.project(X, C, backend)
        np.testing.assert_allclose(pos[clear], ref_pos[clear],
                                   atol=1e-3 if dtype == np.float32 else 1e-8)
        np.testing.assert_allclose(dist2, ref_d2, rtol=2e-4 if dtype == np.float32 else 1e-11,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_curve_points(dtype):
    C = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 4.0]], dtype=dtype)
    out = _project.curve_points(np.array([0.0, 0.25, 1.0, 1.5, 2.0]), C)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, [[0, 0], [0.5, 0], [2, 0], [2, 2], [2, 4]])
    rng = np.random.default_rng(2)
    C = rng.normal(size=(9, 4)).astype(dtype)
    pos = rng.uniform(0, 8, size=(1 << 16) + 3)
    serial = np.empty((len(pos), 4), dtype)
    _project._points(pos.astype(dtype), C, 0, len(pos), serial)
    np.testing.assert_array_equal(_project.curve_points(pos, C), serial)  # the parallel one
