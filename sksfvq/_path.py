"""Ordering kernels: a short open path through the corners (2-opt and or-opt).

The order of the corners does not change the nearest-corner error at all, but
it is what makes neighbouring indices similar: the mean distance between
consecutive corners (the numerator of ``adj_ratio``) is the length of the open
path through them divided by K - 1. These kernels shorten that path by local
moves, starting from a given order, and are deterministic (first improvement,
scanned in index order).
"""

import numpy as np

from ._engine import jit as _jit


@_jit()
def _path_length(Dm, order):
    s = 0.0
    for i in range(order.shape[0] - 1):
        s += Dm[order[i], order[i + 1]]
    return s


@_jit()
def improve_path(Dm, order, max_sweeps):
    """Shorten the open path ``order`` through points with distance matrix ``Dm``.

    in: Dm (k, k) float64 symmetric distances; max_sweeps: bound on full scans.
    in/out: order (k,) intp permutation, improved in place.
    Moves: 2-opt (reverse a stretch, including either end of the open path)
    and or-opt (move a stretch of 1-3 points elsewhere, possibly reversed).
    Returns the final path length.
    """
    k = order.shape[0]
    tiny = 1e-12
    for _ in range(max_sweeps):
        improved = False
        # 2-opt: reverse order[i..j]
        for i in range(k - 1):
            for j in range(i + 1, k):
                a = order[i - 1] if i > 0 else -1
                b = order[i]
                c = order[j]
                dn = order[j + 1] if j + 1 < k else -1
                before = 0.0
                after = 0.0
                if a >= 0:
                    before += Dm[a, b]
                    after += Dm[a, c]
                if dn >= 0:
                    before += Dm[c, dn]
                    after += Dm[b, dn]
                if after < before - tiny * (1.0 + before):
                    lo, hi = i, j
                    while lo < hi:
                        t = order[lo]
                        order[lo] = order[hi]
                        order[hi] = t
                        lo += 1
                        hi -= 1
                    improved = True
        # or-opt: move the stretch order[i..i+L-1] between two other neighbours
        for L in range(1, 4):
            i = 0
            while i + L <= k:
                s0 = order[i]
                s1 = order[i + L - 1]
                a = order[i - 1] if i > 0 else -1
                dn = order[i + L] if i + L < k else -1
                removed = 0.0
                if a >= 0:
                    removed += Dm[a, s0]
                if dn >= 0:
                    removed += Dm[s1, dn]
                if a >= 0 and dn >= 0:
                    removed -= Dm[a, dn]
                best_gain = tiny * (1.0 + removed)
                best_pos = -2
                best_rev = False
                # insert between order[p] and order[p+1] (p = -1: before the start,
                # p = k-1: after the end), outside the stretch and its neighbours
                for p in range(-1, k):
                    if p >= i - 1 and p <= i + L - 1:
                        continue
                    u = order[p] if p >= 0 else -1
                    v = order[p + 1] if p + 1 < k else -1
                    for rev in (False, True):
                        first = s1 if rev else s0
                        last = s0 if rev else s1
                        added = 0.0
                        if u >= 0:
                            added += Dm[u, first]
                        if v >= 0:
                            added += Dm[last, v]
                        if u >= 0 and v >= 0:
                            added -= Dm[u, v]
                        gain = removed - added
                        if gain > best_gain:
                            best_gain = gain
                            best_pos = p
                            best_rev = rev
                if best_pos != -2:
                    stretch = order[i:i + L].copy()
                    if best_rev:
                        stretch = stretch[::-1].copy()
                    rest = np.concatenate((order[:i], order[i + L:]))
                    # position in ``rest`` after which the stretch goes
                    q = best_pos if best_pos < i else best_pos - L
                    new = np.concatenate((rest[:q + 1], stretch, rest[q + 1:]))
                    order[:] = new
                    improved = True
                i += 1
        if not improved:
            break
    return _path_length(Dm, order)


def distance_matrix(C):
    """Euclidean distances between the rows of C (float64)."""
    C = np.asarray(C, dtype=np.float64)
    sq = np.einsum("ij,ij->i", C, C)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (C @ C.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def shorten_order(C, order=None, max_sweeps=50):
    """A short open path through the corners C, improved from ``order``.

    Returns the improved permutation (intp array).
    """
    k = C.shape[0]
    order = np.arange(k, dtype=np.intp) if order is None else np.array(order, dtype=np.intp)
    if k < 3:
        return order
    improve_path(distance_matrix(C), order, max_sweeps)
    return order


#: restarts of the path search cost about k^2 each: up to this many k^2 in all
PATH_RESTART_WORK = 1 << 14
PATH_MAX_RESTARTS = 16


def shortest_of_restarts(C, rng):
    """The shortest of several short open paths through the corners C.

    2-opt and or-opt stop in a local optimum that depends on the start; the
    given order and ``PATH_RESTART_WORK / k^2`` random starts (at most
    ``PATH_MAX_RESTARTS``, at least 1) are improved and the shortest path
    wins (first on ties). Returns the permutation (intp array).
    """
    k = C.shape[0]
    if k < 4:
        return shorten_order(C)
    Dm = distance_matrix(C)
    n_starts = int(min(PATH_MAX_RESTARTS, max(1, PATH_RESTART_WORK // (k * k))))
    best, best_len = None, np.inf
    for j in range(n_starts):
        order = np.arange(k, dtype=np.intp) if j == 0 else rng.permutation(k).astype(np.intp)
        length = improve_path(Dm, order, 50)
        if length < best_len:
            best, best_len = order, length
    return best


def nearest_neighbour_order(C):
    """Greedy open tour: start at the corner farthest from the mean, go to the nearest unvisited."""
    Dm = distance_matrix(C)
    k = C.shape[0]
    start = int(np.argmax(np.sum((C - C.mean(axis=0)) ** 2, axis=1)))
    order = [start]
    seen = np.zeros(k, dtype=bool)
    seen[start] = True
    for _ in range(k - 1):
        d = np.where(seen, np.inf, Dm[order[-1]])
        nxt = int(np.argmin(d))
        order.append(nxt)
        seen[nxt] = True
    return np.asarray(order, dtype=np.intp)
