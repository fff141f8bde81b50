"""Growing the curve by splitting, and corner moves out of local optima (NumPy;
the one pass over the rows they need per Lanczos step is a kernel)."""

import numpy as np

from . import _init
from ._engine import nearest_corner

#: Lanczos steps (passes over the rows) for the principal axes of the cells
AXIS_STEPS = 10
#: corner moves tried after the last split (at most), Lloyd iterations after each
MAX_MOVES = 16
MOVE_ITER = 20


def _start_directions(rng, m, d, varying):
    """Random unit directions in the columns that vary (``rng`` draws once per
    call whatever the data's width, so constant columns change nothing)."""
    V = np.zeros((m, d))
    V[:, varying] = np.random.default_rng(rng.integers(2**63)).standard_normal(
        (m, int(np.count_nonzero(varying))))
    return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-300)


def split_stage(X, w, C, n_new, rng, varying):
    """Corners after splitting ``n_new`` of them (the ones with most error).

    Every chosen corner c becomes ``c -/+ a u``, u its cell's principal
    direction and ``a = sqrt(2 / pi)`` times the cell's spread along it (the
    centroids of the two halves of a Gaussian cut through its mean), in the
    order that follows the chain (along ``c_next - c_prev``). Cells without
    spread are not split, so fewer corners may come back. ``varying``: the
    columns with spread (the random start directions live in them).
    """
    m, d = C.shape
    labels, dist2 = nearest_corner(X, C.astype(X.dtype))
    V = _start_directions(rng, m, d, varying)
    V, var = _init.cell_axes(X, w, labels, C, V, AXIS_STEPS)
    err = np.bincount(labels, weights=w * dist2, minlength=m)
    eligible = np.flatnonzero(var > 0)
    chosen = eligible[np.argsort(-err[eligible], kind="stable")[:n_new]]
    return _init.split_corners(C, V, np.sqrt(2.0 / np.pi * var), np.sort(chosen))


#: rows per block of :func:`_two_nearest`: its (rows x corners) products stay in cache
_TWO_NEAREST_BLOCK = 1024


def _two_nearest(X, C):
    """(nearest corner, squared distance to it, squared distance to the second
    nearest) of every row, by matrix products per block (float64)."""
    n = X.shape[0]
    first = np.empty(n, dtype=np.intp)
    d1 = np.empty(n)
    d2 = np.empty(n)
    mean = C.mean(axis=0)
    Cc = C - mean
    cc = np.einsum("ij,ij->i", Cc, Cc)
    minus_2C = -2.0 * Cc
    step = _TWO_NEAREST_BLOCK
    rows = np.arange(min(n, step))
    for start in range(0, n, step):
        Z = X[start:start + step].astype(np.float64) - mean
        D = Z @ minus_2C.T  # |z - c|^2 - |z|^2, in place (no temporaries of this size)
        D += cc
        r = rows[:Z.shape[0]]
        a = np.argmin(D, axis=1)
        da = D[r, a]
        D[r, a] = np.inf
        zz = np.einsum("ij,ij->i", Z, Z)
        first[start:start + step] = a
        d1[start:start + step] = np.maximum(zz + da, 0.0)
        d2[start:start + step] = np.maximum(zz + D.min(axis=1), 0.0)
    return first, d1, d2


def relocate(lloyd, C, rng, varying):
    """Moves of corners out of local optima (after Fritzke's ELBG).

    The corner whose removal costs least (its rows go to their second
    nearest corner) moves to split the cell whose principal split gains
    most (``2 / pi`` times its variance along its axis, times its weight),
    when the gain exceeds the cost; a few Lloyd iterations follow and the
    move is kept when the error fell. k-means from splitting or seeding
    gets stuck with two corners in one cluster and one corner between two;
    these moves take it out. Returns (corners, error).
    """
    X, w = lloyd.X, lloyd.w
    err = lloyd.error(C)
    m, d = C.shape
    if m < 3:
        return C, err
    for _ in range(MAX_MOVES):
        first, d1, d2 = _two_nearest(X, C)
        cost = np.bincount(first, weights=w * (d2 - d1), minlength=m)
        V = _start_directions(rng, m, d, varying)
        V, var = _init.cell_axes(X, w, first, C, V, AXIS_STEPS)
        gain = 2.0 / np.pi * var * np.bincount(first, weights=w, minlength=m)
        b = int(np.argmax(gain))
        cost[b] = np.inf
        a = int(np.argmin(cost))
        if not cost[a] < gain[b]:
            break
        step = np.sqrt(2.0 / np.pi * var[b]) * V[b]
        C_new = np.insert(C, b + 1, C[b] + step, axis=0)
        C_new[b] -= step
        C_new = np.delete(C_new, a + (a > b), axis=0)
        C_new, e_new, _ = lloyd.run(C_new, 0.0, MOVE_ITER)
        if not e_new < err * (1.0 - 1e-9):
            break
        C, err = C_new, e_new
    return C, err
