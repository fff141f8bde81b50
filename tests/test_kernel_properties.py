"""Hypothesis properties of the kernels (through the engine).

The distance to the curve is never above the distance to the nearest corner,
the reported point is on the curve at the reported distance, positions are in
[0, K-1], and the thread count and the dtype do not matter.
"""

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from sksfvq._engine import curve_points, kernel_threads, nearest_corner, project  # noqa: E402

_floats = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False,
                    width=32)


@st.composite
def _problem(draw):
    d = draw(st.integers(1, 5))
    n = draw(st.integers(1, 40))
    k = draw(st.integers(2, 12))
    X = draw(arrays(np.float64, (n, d), elements=_floats))
    C = draw(arrays(np.float64, (k, d), elements=_floats))
    if draw(st.booleans()):  # curves with repeated corners and rows on corners
        C[draw(st.integers(0, k - 1))] = C[0]
        X[0] = C[-1]
    return X, C


_settings = settings(max_examples=60, deadline=None)


@_settings
@given(_problem())
def test_curve_never_farther_than_nearest_corner(problem):
    X, C = problem
    _, d_corner = nearest_corner(X, C)
    pos, seg, d_curve = project(X, C)
    scale = 1e-12 * (1 + np.sum(X**2, axis=1) + np.max(np.sum(C**2, axis=1)))
    assert np.all(d_curve <= d_corner + scale)


@_settings
@given(_problem())
def test_projected_point_is_on_the_curve_at_the_distance(problem):
    X, C = problem
    pos, seg, d_curve = project(X, C)
    k = len(C)
    assert np.all((pos >= 0) & (pos <= k - 1))
    assert np.all((seg >= 0) & (seg <= k - 2))
    assert np.all((pos >= seg) & (pos <= seg + 1))
    P = curve_points(pos, C)
    # the point at the reported position is on segment seg (collinear, between corners)
    j = seg
    lam = pos - j
    on_seg = (1 - lam)[:, None] * C[j] + lam[:, None] * C[j + 1]
    np.testing.assert_allclose(P, on_seg, atol=1e-9 * (1 + np.abs(C).max()))
    d_point = np.sum((X - P) ** 2, axis=1)
    scale = 1e-9 * (1 + np.sum(X**2, axis=1) + np.max(np.sum(C**2, axis=1)))
    assert np.all(np.abs(d_point - d_curve) <= scale)


@_settings
@given(_problem())
def test_threads_do_not_change_results(problem):
    X, C = problem
    X = np.repeat(X, 20, axis=0)  # enough rows for several blocks
    with kernel_threads(1):
        a = project(X, C) + nearest_corner(X, C)
    with kernel_threads(2):
        b = project(X, C) + nearest_corner(X, C)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@_settings
@given(_problem())
def test_float32_agrees_with_float64(problem):
    X, C = problem
    X32, C32 = X.astype(np.float32), C.astype(np.float32)
    X, C = X32.astype(np.float64), C32.astype(np.float64)  # the same numbers
    for fn in (nearest_corner, project):
        r32, r64 = fn(X32, C32), fn(X, C)
        d32, d64 = r32[-1], r64[-1]
        assert d64.dtype == d32.dtype == np.float64  # float64 distances for both dtypes
        scale = 1e-4 * (1 + np.sum(X**2, axis=1) + np.max(np.sum(C**2, axis=1)))
        assert np.all(np.abs(d32 - d64) <= scale)
