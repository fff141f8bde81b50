"""Growing the curve by splitting, and corner moves out of local optima (NumPy;
the one pass over the rows they need per Lanczos step is a kernel)."""

import numpy as np

from . import _init
from ._engine import nearest_corner

#: Lanczos steps (passes over the rows) for the principal axes of the cells
AXIS_STEPS = 10
#: trials of corner moves after the last split (at most), Lloyd iterations after each
MAX_MOVES = 16
MOVE_ITER = 20
#: one more move per trial for every this many corners (fewer than twice: one at a time)
MOVE_BATCH_CORNERS = 64
#: up to this many rows per corner, a cell of at most two rows gains its whole error
FEW_ROWS_PER_CORNER = 4


def _start_directions(rng, m, d, varying):
    """Random unit directions in the columns that vary (``rng`` draws once per
    call whatever the data's width, so constant columns change nothing)."""
    V = np.zeros((m, d))
    V[:, varying] = np.random.default_rng(rng.integers(2**63)).standard_normal(
        (m, int(np.count_nonzero(varying))))
    return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-300)


def split_stage(X, w, C, n_new, rng, varying, k_path=None):
    """Corners after splitting ``n_new`` of them (the ones with most error).

    Every chosen corner c becomes ``c -/+ a u``, u its cell's principal
    direction and ``a = sqrt(2 / pi)`` times the cell's spread along it (the
    centroids of the two halves of a Gaussian cut through its mean), in the
    order that follows the chain (along ``c_next - c_prev``). Cells without
    spread are not split, so fewer corners may come back. ``varying``: the
    columns with spread (the random start directions live in them).
    ``k_path``: the final corner count (it chooses the nearest-corner kernel).
    """
    m, d = C.shape
    labels, dist2 = nearest_corner(X, C.astype(X.dtype), k_path)
    V = _start_directions(rng, m, d, varying)
    V, var = _init.cell_axes(X, w, labels, C, V, AXIS_STEPS)
    err = np.bincount(labels, weights=w * dist2, minlength=m)
    eligible = np.flatnonzero(var > 0)
    chosen = eligible[np.argsort(-err[eligible], kind="stable")[:n_new]]
    return _init.split_corners(C, V, np.sqrt(2.0 / np.pi * var), np.sort(chosen))


#: rows per block of :func:`_two_nearest`: its (rows x corners) products stay in cache
_TWO_NEAREST_BLOCK = 1024


def _two_nearest(X, C):
    """(nearest corner, second nearest, squared distance to the nearest, to the
    second nearest) of every row, by matrix products per block (float64)."""
    n = X.shape[0]
    first = np.empty(n, dtype=np.intp)
    second = np.empty(n, dtype=np.intp)
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
        b = np.argmin(D, axis=1)
        first[start:start + step] = a
        second[start:start + step] = b
        d1[start:start + step] = np.maximum(zz + da, 0.0)
        d2[start:start + step] = np.maximum(zz + D[r, b], 0.0)
    return first, second, d1, d2


def _move_pairs(cost, gain, n_moves):
    """Up to ``n_moves`` disjoint (donor a, receiver b) pairs, receivers by
    decreasing gain, each with the cheapest donor left, while a donor's cost
    stays below its receiver's gain; a corner takes part in one move at most."""
    donors = np.argsort(cost, kind="stable")
    used = np.zeros(cost.shape[0], dtype=bool)
    pairs = []
    d = 0
    for b in np.argsort(-gain, kind="stable"):
        if len(pairs) == n_moves:
            break
        if used[b]:
            continue
        while d < donors.shape[0] and (used[donors[d]] or donors[d] == b):
            d += 1
        if d == donors.shape[0] or not cost[donors[d]] < gain[b]:
            break
        a = int(donors[d])
        used[a] = used[b] = True
        pairs.append((a, int(b)))
    return pairs


def _moved(C, V, var, pairs):
    """C after the moves: every donor leaves, every receiver becomes the two
    halves of its cell's principal split in its place in the chain."""
    donors = {a for a, _ in pairs}
    steps = {b: np.sqrt(2.0 / np.pi * var[b]) * V[b] for _, b in pairs}
    out = []
    for i in range(C.shape[0]):
        if i in steps:
            out += [C[i] - steps[i], C[i] + steps[i]]
        elif i not in donors:
            out.append(C[i])
    return np.array(out)


def relocate(lloyd, C, rng, varying, max_iter=MOVE_ITER):
    """Moves of corners out of local optima (after Fritzke's ELBG).

    The corner whose removal costs least (its rows go to their second
    nearest corner) moves to split the cell whose principal split gains
    most (``2 / pi`` times its variance along its axis, times its weight),
    when the gain exceeds the cost; a few Lloyd iterations follow and the
    move is kept when the error fell. k-means from splitting or seeding
    gets stuck with two corners in one cluster and one corner between two;
    these moves take it out. With many corners, one trial makes up to
    ``k // MOVE_BATCH_CORNERS`` disjoint moves at once (the next cheapest
    donors to the next best receivers) and falls back to the best single
    move when the error did not fall: a trial costs at most ``min(max_iter,
    MOVE_ITER)`` passes, whatever its number of moves. Returns (corners, error).
    """
    X, w = lloyd.X, lloyd.w
    err = lloyd.error(C)
    m, d = C.shape
    if m < 3:
        return C, err
    for _ in range(MAX_MOVES):
        first, second, d1, d2 = _two_nearest(X, C)
        mass = np.bincount(first, weights=w, minlength=m)
        few_rows = X.shape[0] <= FEW_ROWS_PER_CORNER * m
        if few_rows:
            # a row joining a cell of weight n moves its corner: it adds n / (n + w)
            # of its squared distance, not all of it (on one-row cells: half)
            d2 = d2 * (mass[second] / (mass[second] + w))
        cost = np.bincount(first, weights=w * (d2 - d1), minlength=m)
        V = _start_directions(rng, m, d, varying)
        V, var = _init.cell_axes(X, w, first, C, V, AXIS_STEPS)
        gain = 2.0 / np.pi * var * mass
        if few_rows:
            # a cell of one or two rows gains its whole error (a corner on each
            # row), more than the Gaussian cell's 2 / pi: with N near K the one
            # move to the optimum was never tried. (Not with more rows per
            # corner: there such cells hold outliers, and the estimate decides.)
            few = np.bincount(first, minlength=m) <= 2
            gain = np.where(few, np.maximum(gain, np.bincount(first, weights=w * d1,
                                                              minlength=m)), gain)
        pairs = _move_pairs(cost, gain, max(1, m // MOVE_BATCH_CORNERS))
        accepted = False
        while pairs:
            C_new, e_new, _ = lloyd.run(_moved(C, V, var, pairs), 0.0, min(max_iter, MOVE_ITER))
            if e_new < err * (1.0 - 1e-9):
                C, err, accepted = C_new, e_new, True
                break
            pairs = pairs[:1] if len(pairs) > 1 else []
        if not accepted:
            break
    return C, err


#: rounds of :func:`revive` (a round's run may leave a moved corner dead again)
REVIVE_ROUNDS = 3


def revive(lloyd, C, smoothness, max_iter):
    """Dead corners moved onto the rows farthest from their corners, as k-means
    moves empty clusters, then a run (at ``smoothness``, at most ``min(max_iter,
    MOVE_ITER)`` iterations); a few rounds while corners stay dead and rows of positive
    weight lie off every corner. ELBG moves (:func:`relocate`) keep a move
    only when the error falls: when a few rows outweigh all others, moving a
    corner to the others gains too little to count, and the corners stay dead.
    Returns (corners, error)."""
    err = lloyd.error(C)
    for _ in range(REVIVE_ROUNDS):
        labels, dist2 = lloyd.assignment(C)
        dead = np.flatnonzero(np.bincount(labels, weights=lloyd.w, minlength=C.shape[0]) <= 0)
        far = np.flatnonzero((lloyd.w > 0) & (dist2 > 0))
        if dead.size == 0 or far.size == 0:  # nothing dead, or every row on a corner
            break
        pick = far[np.argsort(-dist2[far], kind="stable")[:dead.size]]
        C = C.copy()
        C[dead[:pick.size]] = lloyd.X[pick]
        C, err, _ = lloyd.run(C, smoothness, min(max_iter, MOVE_ITER))
    return C, err
