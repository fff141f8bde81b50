"""The compiled kernels against slow, obviously correct float64 references."""

import numpy as np
import pytest

from sksfvq._kernels import assign_corners, kernel_threads
from sksfvq._project import curve_points, project


# ----------------------------------------------------------------- references
def ref_nearest_corner(X, C):
    X, C = X.astype(np.float64), C.astype(np.float64)
    d2 = np.array([[np.sum((x - c) ** 2) for c in C] for x in X])
    return d2.argmin(axis=1), d2.min(axis=1)


def ref_project(X, C):
    """Loop over every segment, project by the textbook formula."""
    X, C = X.astype(np.float64), C.astype(np.float64)
    if len(C) == 1:
        return np.zeros(len(X)), np.sum((X - C[0]) ** 2, axis=1)
    pos, dist = [], []
    for x in X:
        best = (np.inf, 0.0)
        for j in range(len(C) - 1):
            d = C[j + 1] - C[j]
            dd = d @ d
            lam = 0.0 if dd == 0 else min(max((x - C[j]) @ d / dd, 0.0), 1.0)
            p = C[j] + lam * d
            dist2 = np.sum((x - p) ** 2)
            if dist2 < best[0]:
                best = (dist2, j + lam)
        dist.append(best[0])
        pos.append(best[1])
    return np.array(pos), np.array(dist)


def _cases(rng, dtype):
    """(X, C) pairs: random, on corners, duplicate corners, one corner, huge offsets."""
    X = rng.normal(size=(300, 5))
    C = rng.normal(size=(9, 5))
    yield "random", X, C
    yield "rows-on-corners", np.vstack([C, C[::-1] + 1e-3, X[:50]]), C
    Cdup = C.copy()
    Cdup[3] = Cdup[4]  # zero-length segment
    Cdup[7] = Cdup[2]  # a corner repeated far along the curve
    yield "duplicate-corners", X, Cdup
    yield "one-corner", X, C[:1]
    yield "two-corners", X, C[:2]
    yield "huge-offset", X + 1e4, C + 1e4
    yield "wide", rng.normal(size=(257, 130)), rng.normal(size=(33, 130))


DTYPES = [np.float32, np.float64]


def _tol(dtype, X):
    scale = 1.0 + np.max(np.sum(X.astype(np.float64) ** 2, axis=1))
    return (1e-3 if dtype == np.float32 else 1e-10) * scale


@pytest.mark.parametrize("dtype", DTYPES)
def test_nearest_corner_matches_reference(dtype):
    rng = np.random.default_rng(0)
    for name, X, C in _cases(rng, dtype):
        X, C = X.astype(dtype), C.astype(dtype)
        labels, dist2 = assign_corners(X, C)
        assert labels.dtype == np.intp and dist2.dtype == dtype, name
        ref_labels, ref_d2 = ref_nearest_corner(X, C)
        # the chosen corner is (within rounding) as near as the true nearest one
        chosen = np.sum((X.astype(np.float64) - C.astype(np.float64)[labels]) ** 2, axis=1)
        tol = 1e-5 * (1 + ref_d2) if dtype == np.float32 else 1e-12 * (1 + ref_d2)
        assert np.all(chosen <= ref_d2 + tol + (1e-3 * np.abs(X).max() if name == "huge-offset" else 0)), name
        np.testing.assert_allclose(dist2, chosen, rtol=1e-4 if dtype == np.float32 else 1e-12,
                                   atol=_tol(dtype, X - C.mean(0)) * 1e-2, err_msg=name)
        if dtype == np.float64 and name != "huge-offset":
            np.testing.assert_array_equal(labels, ref_labels, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_projection_matches_reference(dtype):
    rng = np.random.default_rng(1)
    for name, X, C in _cases(rng, dtype):
        X, C = X.astype(dtype), C.astype(dtype)
        pos, seg, dist2 = project(X, C)
        assert pos.dtype == dtype and dist2.dtype == dtype, name
        ref_pos, ref_d2 = ref_project(X, C)
        rtol = 2e-4 if dtype == np.float32 else 1e-11
        atol = 1e-6 if dtype == np.float32 else 1e-12
        if name == "huge-offset":  # data 1e4 away from the origin: relative to |x|^2
            atol = (1e-3 if dtype == np.float32 else 1e-8)
        np.testing.assert_allclose(dist2, ref_d2, rtol=rtol, atol=atol, err_msg=name)
        assert np.all((pos >= 0) & (pos <= len(C) - 1)), name
        # the reported position decodes to a point at the reported distance
        pts = curve_points(pos, C).astype(np.float64)
        d_pts = np.sum((X.astype(np.float64) - pts) ** 2, axis=1)
        np.testing.assert_allclose(d_pts, ref_d2, rtol=10 * rtol, atol=10 * atol, err_msg=name)
        # where the nearest point is unique by a clear margin, positions agree
        if len(C) > 1 and name not in ("huge-offset",):
            second = _second_best(X, C)
            clear = second - ref_d2 > 1e-3 * (1 + ref_d2)
            np.testing.assert_allclose(pos[clear], ref_pos[clear], atol=1e-3 if dtype == np.float32 else 1e-8,
                                       err_msg=name)


def _second_best(X, C):
    """Squared distance of the best candidate at another position than the winner."""
    X, C = X.astype(np.float64), C.astype(np.float64)
    out = []
    for x in X:
        per_seg = []
        for j in range(len(C) - 1):
            d = C[j + 1] - C[j]
            dd = d @ d
            lam = 0.0 if dd == 0 else min(max((x - C[j]) @ d / dd, 0.0), 1.0)
            per_seg.append((np.sum((x - C[j] - lam * d) ** 2), j, lam))
        per_seg.sort()
        best_t = per_seg[0][1] + per_seg[0][2]
        # ignore candidates at the same position (a corner shared by two segments);
        # a duplicated corner elsewhere is a genuine tie and stays
        rest = [s for s, j, lam in per_seg[1:] if abs(j + lam - best_t) > 1e-9]
        out.append(rest[0] if rest else np.inf)
    return np.array(out)


def test_projection_hand_checked():
    C = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    X = np.array([[1.0, 1.0], [1.0, -1.0], [3.0, 1.0], [2.0, 0.0], [-5.0, 0.0], [3.0, 3.0]])
    pos, seg, dist2 = project(X, C)
    # (1,1) is 1 from segment 0 at x=1 and 1 from segment 1 at y=1: tie -> lower segment
    np.testing.assert_allclose(pos, [0.5, 0.5, 1.5, 1.0, 0.0, 2.0])
    np.testing.assert_allclose(dist2, [1.0, 1.0, 1.0, 0.0, 25.0, 2.0])
    np.testing.assert_array_equal(seg, [0, 0, 1, 1, 0, 1])


def test_exact_projection_beats_published_shortcut():
    """The nearest segment need not touch the nearest corner."""
    # a long segment passes right by x, while its corners are far; a short
    # detour elsewhere has a corner that is nearer to x than any long-segment corner
    C = np.array([[-10.0, 0.0], [10.0, 0.0], [10.0, 3.0], [0.5, 3.0]])
    x = np.array([[0.0, 0.5]])
    labels, _ = assign_corners(x, C)
    assert labels[0] == 3  # nearest corner (0.5, 3): distance 2.55
    pos, _, dist2 = project(x, C)
    assert dist2[0] == pytest.approx(0.25)  # 0.5 above the middle of segment 0
    assert pos[0] == pytest.approx(0.5)


def test_zero_length_segments_are_deterministic():
    C = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    X = np.array([[-1.0, 0.0], [0.0, 1.0], [0.5, 0.0]])
    pos, seg, dist2 = project(X, C)
    np.testing.assert_allclose(pos, [0.0, 0.0, 2.5])
    labels, _ = assign_corners(X, C)
    np.testing.assert_array_equal(labels, [0, 0, 0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_give_bit_identical_results(dtype):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(5000, 7)).astype(dtype)
    C = rng.normal(size=(17, 7)).astype(dtype)
    with kernel_threads(1):
        a = project(X, C), assign_corners(X, C)
    with kernel_threads(2):
        b = project(X, C), assign_corners(X, C)
    for u, v in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(u, v)


def test_kernel_threads_restores_setting():
    import numba

    before = numba.get_num_threads()
    with kernel_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with kernel_threads(1):
            raise RuntimeError("boom")
    assert numba.get_num_threads() == before


def test_read_only_inputs_accepted():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 3))
    C = rng.normal(size=(5, 3))
    X.setflags(write=False)
    C.setflags(write=False)
    pos, _, d = project(X, C)
    labels, _ = assign_corners(X, C)
    ref_pos, ref_d = ref_project(X, C)
    np.testing.assert_allclose(d, ref_d, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_curve_points_interpolate(dtype):
    C = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 4.0]], dtype=dtype)
    out = curve_points(np.array([0.0, 0.25, 1.0, 1.5, 2.0]), C)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, [[0, 0], [0.5, 0], [2, 0], [2, 2], [2, 4]])


def test_import_without_writable_cache(tmp_path):
    """Importing works (and kernels run) when numba cannot write a cache."""
    import subprocess
    import sys

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = ("import numpy as np, sksfvq; from sksfvq._project import project;"
            "p, s, d = project(np.array([[1.0, 1.0]]), np.array([[0.0, 0.0], [2.0, 0.0]]));"
            "assert abs(p[0] - 0.5) < 1e-12 and abs(d[0] - 1) < 1e-12; print('ok')")
    env = {"NUMBA_CACHE_DIR": str(blocker / "sub"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


def test_jit_falls_back_when_caching_fails(monkeypatch):
    import numba

    from sksfvq import _kernels

    real = numba.njit

    def failing_njit(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(_kernels.numba, "njit", failing_njit)
    with pytest.warns(RuntimeWarning, match="cannot cache"):
        f = _kernels._jit()(lambda a: a + 1)
    assert f(1) == 2


def test_disable_jit_still_correct(tmp_path):
    import subprocess
    import sys

    code = ("import numpy as np; from sksfvq._kernels import assign_corners; from sksfvq._project import project;"
            "C = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]);"
            "X = np.array([[1.0, -1.0], [3.0, 1.0]]);"
            "p, s, d = project(X, C); l, d2 = assign_corners(X, C);"
            "assert np.allclose(p, [0.5, 1.5]) and np.allclose(d, [1, 1]);"
            "assert list(l) == [0, 1]; print('ok')")
    import os

    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout
