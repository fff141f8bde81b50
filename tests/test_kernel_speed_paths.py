"""Every code path of the fast kernels gives the same, exact answer.

The drivers pick a serial or a parallel kernel by problem size, and the
kernels have special paths: row tiles of 8 with a remainder, corners padded
to whole panels of vectors, features in vector lanes with a remainder, the
power-of-two working scale. Small
test problems would only ever reach the serial kernel through the drivers,
(the nearest corner also has a direct-distance path for small problems),
so these tests call both kernels directly and compare them with a float64
brute force.
"""

import numpy as np
import pytest

from sksfvq import _kernels as K
from sksfvq import _project as P

SHAPES = [  # (n, k, d): remainders of every tile size
    (1, 2, 1),
    (13, 3, 2),
    (257, 17, 5),
    (300, 40, 4),
    (61, 530, 9),  # many corners (17 panels of 32 float32 corners)
    (40, 1030, 3),
    # the nearest-corner kernel computes distances directly for small problems
    # (row chunks of 4096 // d rows) and from dot products beyond: both paths
    (300, 16, 60),  # direct, 68-row chunks with a remainder
    (257, 200, 20),  # dot products
    (61, 530, 40),  # dot products, many panels
    (90, 40, 70),  # dot products, few corners, many features
]


def _problem(n, k, d, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 3.0
    C = rng.normal(size=(k, d)) * 3.0
    return X.astype(dtype), C.astype(dtype)


def _run_nearest(kernel, X, C):
    args = K._centred(C)
    labels = np.empty(len(X), dtype=np.intp)
    dist2 = np.empty(len(X), dtype=X.dtype)
    kernel(X, *args, labels, dist2)
    return labels, dist2


def _run_project(kernel, X, C):
    pos = np.empty(len(X), dtype=X.dtype)
    seg = np.empty(len(X), dtype=np.intp)
    dist2 = np.empty(len(X), dtype=X.dtype)
    kernel(X, *P.projection_args(C), pos, seg, dist2)
    return pos, seg, dist2


def _reference(X, C):
    X64, C64 = X.astype(np.float64), C.astype(np.float64)
    corner = ((X64[:, None, :] - C64[None]) ** 2).sum(-1)
    D = np.diff(C64, axis=0)
    dd = (D**2).sum(1)
    a = ((X64[:, None, :] - C64[None, :-1]) * D[None]).sum(-1)
    lam = np.clip(np.divide(a, dd, out=np.zeros_like(a), where=dd > 0), 0, 1)
    P = C64[None, :-1] + lam[..., None] * D[None]
    seg_d = ((X64[:, None, :] - P) ** 2).sum(-1)
    return corner, seg_d


@pytest.mark.parametrize("n,k,d", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_serial_and_parallel_kernels_agree_and_are_exact(n, k, d, dtype):
    X, C = _problem(n, k, d, dtype)
    lab_s, d_s = _run_nearest(K.nearest_corner_serial, X, C)
    lab_p, d_p = _run_nearest(K.nearest_corner, X, C)
    np.testing.assert_array_equal(lab_s, lab_p)
    np.testing.assert_array_equal(d_s, d_p)
    pos_s, seg_s, e_s = _run_project(P.project_to_curve_serial, X, C)
    pos_p, seg_p, e_p = _run_project(P.project_to_curve, X, C)
    np.testing.assert_array_equal(pos_s, pos_p)
    np.testing.assert_array_equal(seg_s, seg_p)
    np.testing.assert_array_equal(e_s, e_p)

    corner, seg_d = _reference(X, C)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    scale = 1 + (X.astype(np.float64) ** 2).sum(1)
    # the chosen corner is the nearest one (up to rounding), its distance is right
    chosen = corner[np.arange(n), lab_s]
    assert np.all(chosen <= corner.min(1) + rtol * scale)
    np.testing.assert_allclose(d_s, chosen, rtol=rtol * 10, atol=rtol * scale.max())
    assert lab_s.dtype == np.intp and d_s.dtype == dtype and pos_s.dtype == dtype
    # the projection is onto the nearest segment, at the right distance
    best = seg_d.min(1)
    np.testing.assert_allclose(e_s, best, rtol=rtol * 10, atol=rtol * scale.max())
    assert np.all((pos_s >= 0) & (pos_s <= k - 1))


def test_drivers_pick_either_path_with_the_same_result(monkeypatch):
    X, C = _problem(700, 33, 6, np.float32, seed=1)
    small = K.assign_corners(X, C), P.project(X, C)
    monkeypatch.setattr(K, "_SERIAL_WORK", 0)  # force the parallel kernels
    with K.kernel_threads(2):
        large = K.assign_corners(X, C), P.project(X, C)
    for a, b in zip(small[0] + small[1], large[0] + large[1]):
        np.testing.assert_array_equal(a, b)


def test_curve_points_paths_agree():
    rng = np.random.default_rng(2)
    C = rng.normal(size=(9, 4))
    pos = rng.uniform(0, 8, size=(1 << 16) + 3)
    serial = np.empty((len(pos), 4))
    parallel = np.empty((len(pos), 4))
    P.points_on_curve_serial(pos, C, serial)
    P.points_on_curve(pos, C, parallel)
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(P.curve_points(pos, C), serial)


@pytest.mark.parametrize("scale", [1e30, 1e-30, 1.0])
def test_working_scale_is_exact(scale):
    """Scaling by a power of two changes no decision and no digit in range."""
    X, C = _problem(200, 12, 3, np.float64, seed=3)
    lab1, d1 = K.assign_corners(X, C)
    pos1, seg1, e1 = P.project(X, C)
    lab2, d2 = K.assign_corners(X * scale, C * scale)
    pos2, seg2, e2 = P.project(X * scale, C * scale)
    np.testing.assert_array_equal(lab1, lab2)
    np.testing.assert_array_equal(seg1, seg2)
    np.testing.assert_allclose(pos1, pos2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d2 / scale**2, d1, rtol=1e-12)
    np.testing.assert_allclose(e2 / scale**2, e1, rtol=1e-12, atol=1e-300)


def test_float32_data_at_extreme_units_is_exact():
    X, C = _problem(300, 10, 3, np.float64, seed=4)
    ref_lab, _ = K.assign_corners(X, C)
    ref_pos, _, _ = P.project(X, C)
    for scale in (1e30, 1e-30):
        X32, C32 = (X * scale).astype(np.float32), (C * scale).astype(np.float32)
        lab, _ = K.assign_corners(X32, C32)
        pos, _, _ = P.project(X32, C32)
        assert pos.dtype == np.float32
        # float32 rounding of the inputs may flip near-ties only
        assert np.mean(lab == ref_lab) > 0.98
        np.testing.assert_allclose(np.median(np.abs(pos - ref_pos)), 0, atol=1e-3)
