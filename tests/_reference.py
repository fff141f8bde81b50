"""Slow, obviously correct float64 references for the kernels, and the checks built on them.

Everything is computed in float64 from the inputs as given, by brute force
over all corners or all segments. The checks say what "exact" means for a
kernel: the chosen corner or segment is a nearest one to working precision,
the returned distance is right to a few roundings, and a position decodes to
a point at that distance.
"""

import numpy as np


def corner_distances(X, C):
    """(n, k) squared distances from every row to every corner."""
    X64, C64 = np.asarray(X, np.float64), np.asarray(C, np.float64)
    return ((X64[:, None, :] - C64[None]) ** 2).sum(-1)


def nearest_corner(X, C):
    """(labels, squared distances): the first nearest corner of every row."""
    D = corner_distances(X, C)
    return D.argmin(axis=1), D.min(axis=1)


def segment_distances(X, C):
    """(n, k-1) squared distances to every segment and the (n, k-1) lambdas."""
    X64, C64 = np.asarray(X, np.float64), np.asarray(C, np.float64)
    D = np.diff(C64, axis=0)
    dd = (D ** 2).sum(1)
    a = ((X64[:, None, :] - C64[None, :-1]) * D[None]).sum(-1)
    lam = np.clip(np.divide(a, dd, out=np.zeros_like(a), where=dd > 0), 0, 1)
    pts = C64[None, :-1] + lam[..., None] * D[None]
    return ((X64[:, None, :] - pts) ** 2).sum(-1), lam


def project(X, C):
    """(positions, squared distances): the textbook projection, one segment at a time."""
    X, C = np.asarray(X, np.float64), np.asarray(C, np.float64)
    if len(C) == 1:
        return np.zeros(len(X)), np.sum((X - C[0]) ** 2, axis=1)
    pos, dist = [], []
    for x in X:
        best = (np.inf, 0.0)
        for j in range(len(C) - 1):
            d = C[j + 1] - C[j]
            dd = d @ d
            lam = 0.0 if dd == 0 else min(max((x - C[j]) @ d / dd, 0.0), 1.0)
            dist2 = np.sum((x - C[j] - lam * d) ** 2)
            if dist2 < best[0]:
                best = (dist2, j + lam)
        dist.append(best[0])
        pos.append(best[1])
    return np.array(pos), np.array(dist)


def second_best(X, C):
    """Squared distance of the best segment at another position than the winner's."""
    seg_d, lam = segment_distances(X, C)
    out = []
    for i in range(len(seg_d)):
        order = np.argsort(seg_d[i], kind="stable")
        best_t = order[0] + lam[i, order[0]]
        # a corner shared by two segments is one position; a duplicated corner elsewhere
        # is a genuine tie and stays
        rest = [seg_d[i, j] for j in order[1:] if abs(j + lam[i, j] - best_t) > 1e-9]
        out.append(rest[0] if rest else np.inf)
    return np.array(out)


def _size(X, C):
    return (np.abs(np.asarray(X, np.float64)).max() + np.abs(np.asarray(C, np.float64)).max()) ** 2


def check_nearest(X, C, labels, dist2, dtype):
    """labels: a nearest corner to working precision; dist2: its distance, rounded once
    (to the data's dtype at the working scale, then scaled back in float64)."""
    D = corner_distances(X, C)
    best = D.min(1)
    eps = np.finfo(dtype).eps
    # the choice and the distance are float64's from the inputs as given, the
    # distance then rounded once to the dtype
    tol = 8 * X.shape[1] * np.finfo(np.float64).eps * best + eps * best + 1e-300
    assert labels.dtype == np.intp and dist2.dtype == np.float64  # scaled back in float64
    assert np.all((labels >= 0) & (labels < len(C)))
    chosen = D[np.arange(len(X)), labels]
    assert np.all(chosen <= best + tol)
    assert np.all(np.abs(dist2 - chosen) <= tol + eps * chosen)


def check_projection(X, C, pos, seg, dist2, dtype):
    """seg: a nearest segment; dist2: the distance to it; pos decodes to such a point."""
    seg_d, _ = segment_distances(X, C)
    best = seg_d.min(1)
    eps = np.finfo(dtype).eps
    X64, C64 = np.asarray(X, np.float64), np.asarray(C, np.float64)
    size = 1 + (X64 ** 2).sum(1) + (C64 ** 2).sum(1).max()
    tol = 64 * eps * size
    k = len(C)
    assert pos.dtype == dtype and dist2.dtype == np.float64 and seg.dtype == np.intp
    assert np.all((seg >= 0) & (seg <= k - 2))
    assert np.all((pos >= seg) & (pos <= seg + 1))
    assert np.all(seg_d[np.arange(len(X)), seg] <= best + tol)
    np.testing.assert_allclose(dist2, best, rtol=0, atol=tol.max())
    lam = pos.astype(np.float64) - seg
    pts = (1 - lam)[:, None] * C64[seg] + lam[:, None] * C64[seg + 1]
    d_pts = ((X64 - pts) ** 2).sum(1)
    np.testing.assert_allclose(d_pts, best, rtol=0, atol=tol.max() + 1e3 * eps * size.max())
