"""Initialisation, growth and orientation of the curve (plain NumPy).

All functions are deterministic and use the sample weights exactly as
repetitions: a row of weight 3 acts like three copies of that row.
"""

import numpy as np

from ._engine import in_rounds, readonly


def chunk_map(fn, X, chunk, float64=True):
    """``[fn(start, part) for every chunk]``, in order: ``part`` the rows
    ``start:start + chunk`` of C-contiguous X, in float64 when ``float64``
    (with no float64 copy of X: rows of another dtype are converted into a
    buffer per thread, the scratch of :func:`._engine.in_rounds`; a new temporary
    of this size per chunk costs as much in page faults as the pass that
    reads it: 0.5 of 1.3 s for the mean of 10^6 x 384 float32). ``fn`` must
    not keep ``part``.

    The chunks are spread over the kernels' threads
    (:func:`._engine.in_rounds`); each is computed as in a loop, so the
    results are the same bits for any number of threads, and the caller adds
    them up in chunk order.
    """
    n = X.shape[0]
    convert = float64 and X.dtype != np.float64

    def one(buf, start):
        part = X[start:start + chunk]
        if convert:
            buf = buf[:part.shape[0]]
            np.copyto(buf, part)
            part = buf
        return fn(start, part)

    def buffer():
        return np.empty((min(chunk, n), X.shape[1]))

    return list(in_rounds(one, range(0, n, chunk), buffer if convert else None))


def weighted_mean(X, w, chunk=1 << 16):
    """Weighted mean of the rows of X, in float64 (by chunks: :func:`chunk_map`)."""
    total = np.zeros(X.shape[1])
    for part in chunk_map(lambda start, part: w[start:start + part.shape[0]] @ part, X, chunk):
        total += part
    return total / w.sum()


def unit_scale(top, limit=None):
    """The power of two ``2^-e`` with ``2^(e-1) <= top < 2^e``: times it, a
    largest magnitude ``top`` (finite, > 0) lands in [1/2, 1), exactly.
    ``limit`` bounds ``|e|`` (the data's working scales: its square then
    stays inside float64's range)."""
    e = -int(np.frexp(top)[1])
    if limit is not None:
        e = min(max(e, -limit), limit)
    return float(np.ldexp(1.0, e))


def cell_axes(X, w, labels, C, V, n_steps):
    """Top principal direction and variance of the rows of every corner's cell.

    Lanczos iterations on every cell's weighted scatter matrix
    ``sum_i w_i (x_i - c)(x_i - c)'`` at once: one pass over the rows per step
    (:func:`._train_kernels.scatter_times`, then
    :func:`._train_kernels.lanczos_step`), fully re-orthogonalised, from the
    scatter matrix times the start directions ``V`` (so that columns without
    spread keep a zero component). ``n_steps`` steps find the largest
    eigenvalue where the power method needs hundreds when the top two are
    close. Returns (directions (k, d), weighted variances along them (k,);
    0 and a zero direction for a cell without spread).
    """
    from ._train_kernels import lanczos_step, scatter_times

    X, w = readonly(X), readonly(w)
    C = np.ascontiguousarray(C, dtype=np.float64)
    k, d = C.shape
    m = max(1, min(n_steps, d))
    cnt = np.bincount(labels, weights=w, minlength=k)
    Q = np.zeros((k, m, d))
    Q[:, 0] = V
    T = np.zeros((k, m, m))
    Z, work = np.empty((k, d)), np.empty((2, k))
    live = np.empty(k, dtype=np.bool_)
    scatter_times(X, w, labels, C, Q, 0, Z, work)
    lanczos_step(Q, T, Z, -1, live)
    for j in range(m):
        scatter_times(X, w, labels, C, Q, j, Z, work)
        lanczos_step(Q, T, Z, j, live)
    vals, vecs = np.linalg.eigh(T)
    top = np.maximum(vals[:, -1], 0.0)
    U = np.einsum("kj,kjd->kd", vecs[:, :, -1], Q)
    unorm = np.linalg.norm(U, axis=1)
    ok = live & (unorm > 0)
    U = np.where(ok[:, None], U / np.where(ok, unorm, 1.0)[:, None], 0.0)
    var = np.where(ok & (cnt > 0), top / np.maximum(cnt, 1e-300), 0.0)
    return U, var


def canonical_order(X, w):
    """Rows (float64, centred, row-major) and weights in a canonical order, for seeding.

    Seeding visits rows in this order, so that it does not depend on the
    order of the rows and a row of weight m is drawn exactly as m adjacent
    copies of it would be: seeding respects repetition. The order compares
    the rows' bytes (one sort, whatever the number of features): identical
    rows are adjacent, and constant columns change nothing. The rows are
    centred on their weighted mean (the expanded distances of seeding lose
    less precision); :func:`kmeans_plus_plus` adds it back.

    The bytes compared are those of the rows brought to unit scale by a
    power of two (exact) with -0.0 made 0.0: X times a power of two sorts
    the same (its raw bytes would not: the exponent bits differ, and they
    decide between rows of integers, whose low bytes are all zero).
    """
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    key = X64 + 0.0
    top = float(np.max(np.abs(X64))) if X64.size else 0.0
    if 0.0 < top < np.inf:
        key *= unit_scale(top)
    order = np.argsort(key.view(np.dtype((np.void, 8 * key.shape[1]))).ravel(), kind="stable")
    wo = np.ascontiguousarray(w[order], dtype=np.float64)
    mean = weighted_mean(X64, w)
    return np.ascontiguousarray(X64[order] - mean), wo, mean


def kmeans_plus_plus(X, w, k, rng, ordered=None):
    """Weighted greedy k-means++ seeding (``2 + log k`` candidates per step).

    Every step draws the candidates with probability proportional to ``w *
    d2`` (``d2``: squared distance to the nearest chosen centre), by
    inverting the cumulative sum in :func:`canonical_order`, and keeps the
    one that lowers the weighted potential ``sum w min(d2, |x - cand|^2)``
    most (first on ties); the distances of all rows to the candidates of a
    step are one matrix product. When every row coincides with a chosen
    centre the last one is repeated. ``ordered``: :func:`canonical_order` of
    (X, w), when already computed. Returns the centres (k, d) in float64.
    """
    Xo, wo, mean = canonical_order(X, w) if ordered is None else ordered
    n_trials = 2 + int(np.log(k))
    u0 = rng.random()
    U = rng.random((max(k - 1, 0), n_trials))
    sq = np.einsum("ij,ij->i", Xo, Xo)
    n = Xo.shape[0]

    def draw(cum, u):
        return np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), n - 1)

    centers = [int(draw(np.cumsum(wo), u0))]
    d2 = np.maximum(sq + sq[centers[0]] - 2.0 * (Xo @ Xo[centers[0]]), 0.0)
    for step in range(1, k):
        cum = np.cumsum(wo * d2)
        if not cum[-1] > 0.0:
            centers.append(centers[-1])
            continue
        cand = draw(cum, U[step - 1])
        D = np.maximum(sq[:, None] + sq[cand][None, :] - 2.0 * (Xo @ Xo[cand].T), 0.0)
        np.minimum(D, d2[:, None], out=D)
        best = int(np.argmin(wo @ D))
        centers.append(int(cand[best]))
        d2 = D[:, best]
    return Xo[centers] + mean


def norm_groups_init(X, w, n_groups):
    """The published start: sort rows by norm, cut into equal-weight groups, take means.

    A row whose weight straddles a cut is split between the two groups, so a
    weight of 3 is exactly equivalent to three copies of the row.
    """
    norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    order = np.argsort(norms, kind="stable")
    ws = w[order]
    keep = ws > 0
    order, ws = order[keep], ws[keep]
    cum = np.concatenate(([0.0], np.cumsum(ws)))
    total = cum[-1]
    centers = np.empty((n_groups, X.shape[1]))
    for g in range(n_groups):
        lo, hi = total * g / n_groups, total * (g + 1) / n_groups
        # weight of each row that falls inside [lo, hi)
        part = np.clip(np.minimum(cum[1:], hi) - np.maximum(cum[:-1], lo), 0.0, None)
        sel = part > 0
        centers[g] = (part[sel] @ X[order[sel]]) / part[sel].sum()
    return centers


def principal_axis(X, w):
    """Weighted mean, first principal direction (sign-canonical) and its std."""
    mean = weighted_mean(X, w)
    Xc = X - mean
    cov = (Xc * w[:, None]).T @ Xc / w.sum()
    vals, vecs = np.linalg.eigh(cov)
    u = canonical_sign(vecs[:, -1])
    return mean, u, float(np.sqrt(max(vals[-1], 0.0)))


def canonical_sign(u):
    """Flip a direction so that its largest-magnitude component is positive
    (of components equal in magnitude up to rounding, the first: an exact
    argmax would pick either of a tie by the last bit, which changes with
    the data's scale)."""
    a = np.abs(u)
    i = int(np.flatnonzero(a >= a.max() * (1.0 - 1e-9))[0])
    return u if u[i] >= 0 else -u


def pca_line_init(X, w):
    """Two corners on the first principal axis, one standard deviation each side."""
    mean, u, sd = principal_axis(X, w)
    return np.vstack([mean - sd * u, mean + sd * u])


def resample_curve(C, m):
    """``m`` points equally spaced in position along the polyline through C."""
    k = C.shape[0]
    if k == 1:
        return np.repeat(C, m, axis=0)
    t = np.linspace(0.0, k - 1.0, m)
    j = np.minimum(np.floor(t).astype(np.intp), k - 2)
    lam = (t - j)[:, None]
    return C[j] + lam * (C[j + 1] - C[j])


def double_published(C, eps):
    """The published growth: k corners become 2k, the curve keeps its shape.

    Corner i of the left half becomes positions (i, i + eps), corner i of the
    right half becomes (i - eps, i).
    """
    k = C.shape[0]
    if k == 1:
        return np.repeat(C, 2, axis=0)
    half = k // 2
    t = []
    for i in range(k):
        t.extend((i, i + eps) if i < half else (i - eps, i))
    t = np.asarray(t)
    j = np.minimum(np.floor(t).astype(np.intp), k - 2)
    lam = (t - j)[:, None]
    return C[j] + lam * (C[j + 1] - C[j])


def split_corners(C, directions, offsets, chosen):
    """Split the corners ``chosen`` (sorted indices) into ordered pairs.

    Corner c becomes ``c - a u`` and ``c + a u`` (u its row of
    ``directions``, a its ``offsets``), the two in the order that follows
    the chain: the first is the one lower along ``c_next - c_prev`` (the
    chain's direction at c). The other corners stay as they are.
    """
    k = C.shape[0]
    if k == 1:
        tangent = np.zeros_like(C)
    else:
        ahead = np.vstack([C[1:], C[-1:]])
        behind = np.vstack([C[:1], C[:-1]])
        tangent = ahead - behind
    sign = np.where(np.einsum("ij,ij->i", directions, tangent) < 0, -1.0, 1.0)
    step = (sign * offsets)[:, None] * directions
    out = []
    chosen = set(int(j) for j in chosen)
    for j in range(k):
        if j in chosen:
            out += [C[j] - step[j], C[j] + step[j]]
        else:
            out.append(C[j])
    return np.array(out)


def insert_corners(C, corner_error, n_new):
    """Add ``n_new`` corners at the midpoints of the segments with most error.

    The error of segment j is the summed error of its two corners; ties go to
    the lower index. Requires ``n_new <= k - 1``.
    """
    k = C.shape[0]
    if n_new <= 0:
        return C
    if k == 1:
        return np.repeat(C, 1 + n_new, axis=0)
    seg_err = corner_error[:-1] + corner_error[1:]
    chosen = np.sort(np.argsort(-seg_err, kind="stable")[:n_new])
    mids = 0.5 * (C[chosen] + C[chosen + 1])
    return np.insert(C, chosen + 1, mids, axis=0)


def orient(C):
    """Reverse the corners if needed so that the orientation is canonical.

    Index 0 is the end with the lower coordinate along the corners' first
    principal axis (axis sign fixed by :func:`canonical_sign`). When the two
    ends are level along that axis, the sequence is compared lexicographically
    with its reverse. Returns (corners, reversed?).
    """
    k = C.shape[0]
    if k < 2:
        return C, False
    C64 = np.asarray(C, dtype=np.float64)
    Cc = C64 - C64.mean(axis=0)
    _, _, vt = np.linalg.svd(Cc, full_matrices=False)
    u = canonical_sign(vt[0])
    s = float((C64[-1] - C64[0]) @ u)
    scale = np.sqrt(np.mean(np.sum(Cc**2, axis=1))) + np.finfo(float).tiny
    if abs(s) > 1e-9 * scale:
        flip = s < 0
    else:
        fwd, rev = C64.ravel(), C64[::-1].ravel()
        diff = np.flatnonzero(fwd != rev)
        flip = bool(diff.size) and rev[diff[0]] < fwd[diff[0]]
    return (C[::-1].copy(), True) if flip else (C, False)
