"""Numba kernels: nearest corner, exact projection onto the curve, training steps.

Everything here works on plain NumPy arrays (no estimator state). Inputs are
marked *in*, outputs *out*; outputs are preallocated by the caller. Every
kernel keeps the dtype of its inputs (float32 stays float32) and every row is
computed independently of how rows are split among threads, so results are
bit-identical for any thread count.

The dot products between rows and corners are the bulk of the work. They are
computed block by block (``_BLOCK`` rows at a time) as ``G = (X - m) (C - m)^T``
with ``m`` the mean corner (shifting both sides by the same point leaves every
distance unchanged and removes the precision loss of a large common offset).
Distances then come from the expanded form
``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``; every candidate within a rounding margin
of the best one is re-evaluated directly as ``|x - c|^2`` so the winner and its
distance are exact to working precision, and ties go to the lowest index.
"""

import warnings

import numpy as np
import numba
from numba import prange

#: Rows handled together by one thread (bounds the per-thread scratch memory).
_BLOCK = 256


def _jit(parallel=False):
    """``numba.njit`` with on-disk caching that never breaks the import.

    When numba cannot write (or find) a cache directory, ``cache=True`` raises
    at decoration time; we then compile without caching.
    """

    def decorate(func):
        try:
            return numba.njit(cache=True, nogil=True, parallel=parallel)(func)
        except Exception as exc:  # pragma: no cover - depends on the filesystem
            warnings.warn(
                f"numba cannot cache {func.__name__} ({exc}); compiling without cache",
                RuntimeWarning,
                stacklevel=2,
            )
            return numba.njit(cache=False, nogil=True, parallel=parallel)(func)

    return decorate


# --------------------------------------------------------------------------
# shared pieces (inlined by numba into the drivers)
# --------------------------------------------------------------------------


@_jit()
def _block_dots(X, start, stop, center, CT, xc, G, xx):
    """Centre rows ``start:stop`` of X into ``xc`` and fill ``G = xc @ CT``.

    in: X (n, d), center (d,), CT (d, k) centred corners transposed.
    out: xc (B, d), G (B, k), xx (B,) squared norms of the centred rows.
    """
    d = X.shape[1]
    k = CT.shape[1]
    zero = center[0] - center[0]
    for r in range(stop - start):
        s = zero
        for f in range(d):
            v = X[start + r, f] - center[f]
            xc[r, f] = v
            s += v * v
        xx[r] = s
        for c in range(k):
            G[r, c] = zero
        for f in range(d):
            v = xc[r, f]
            for c in range(k):
                G[r, c] += v * CT[f, c]


@_jit()
def _sq_dist(xc, r, Cc, k):
    """Direct squared distance between centred row ``xc[r]`` and corner ``k``."""
    s = xc[r, 0] - xc[r, 0]
    for f in range(xc.shape[1]):
        v = xc[r, f] - Cc[k, f]
        s += v * v
    return s


@_jit()
def _segment_exact(xc, r, Cc, Dseg, inv_dd, j, zero, one):
    """Exact projection of centred row ``xc[r]`` onto segment ``j``.

    Returns (squared distance, lambda in [0, 1]).
    """
    a = zero
    for f in range(xc.shape[1]):
        a += (xc[r, f] - Cc[j, f]) * Dseg[j, f]
    lam = min(max(a * inv_dd[j], zero), one)
    s = zero
    for f in range(xc.shape[1]):
        v = xc[r, f] - Cc[j, f] - lam * Dseg[j, f]
        s += v * v
    return s, lam


# --------------------------------------------------------------------------
# nearest corner
# --------------------------------------------------------------------------


@_jit(parallel=True)
def nearest_corner(X, center, Cc, CT, cc, eps, one, labels, dist2):
    """Index of and squared distance to the nearest corner for every row.

    in: X (n, d); center (d,); Cc (k, d) corners minus ``center``; CT = Cc.T
    (d, k) contiguous; cc (k,) squared norms of Cc; eps machine epsilon and
    ``one`` = 1 in the dtype of X (typed constants keep float32 in float32).
    out: labels (n,) intp; dist2 (n,) squared distances (dtype of X).
    """
    n, d = X.shape
    k = Cc.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    zero = one - one
    two = one + one
    cmax = zero
    for c in range(k):
        cmax = max(cmax, cc[c])
    for b in prange(nblocks):
        start = b * _BLOCK
        stop = min(start + _BLOCK, n)
        xc = np.empty((_BLOCK, d), dtype=Cc.dtype)
        G = np.empty((_BLOCK, k), dtype=Cc.dtype)
        xx = np.empty(_BLOCK, dtype=Cc.dtype)
        approx = np.empty(k, dtype=Cc.dtype)
        _block_dots(X, start, stop, center, CT, xc, G, xx)
        for r in range(stop - start):
            best = xx[r] - two * G[r, 0] + cc[0]
            for c in range(k):
                v = xx[r] - two * G[r, c] + cc[c]
                approx[c] = v
                best = min(best, v)
            margin = 8 * eps * (xx[r] + cmax) * (d + 2)
            bi = -1
            bd = zero
            for c in range(k):
                if approx[c] <= best + margin:
                    v = _sq_dist(xc, r, Cc, c)
                    if bi < 0 or v < bd:
                        bi = c
                        bd = v
            labels[start + r] = bi
            dist2[start + r] = bd


# --------------------------------------------------------------------------
# exact projection onto the polyline
# --------------------------------------------------------------------------


@_jit(parallel=True)
def project_to_curve(X, center, Cc, CT, cc, Dseg, cd, dd, inv_dd, eps, one, pos, seg, dist2):
    """Exact nearest point of the polyline through the corners, for every row.

    in: X (n, d); center (d,); Cc (k, d) centred corners; CT (d, k); cc (k,);
    Dseg (k-1, d) segment vectors c_{j+1} - c_j; cd (k-1,) c_j . d_j (centred);
    dd (k-1,) |d_j|^2; inv_dd (k-1,) 1/|d_j|^2 or 0 for zero-length segments;
    eps machine epsilon and ``one`` = 1 in the dtype of X.
    out: pos (n,) position j + lambda; seg (n,) segment index j;
    dist2 (n,) squared distance to the curve.
    Requires k >= 2.
    """
    n, d = X.shape
    k = Cc.shape[0]
    nseg = k - 1
    nblocks = (n + _BLOCK - 1) // _BLOCK
    zero = one - one
    two = one + one
    cmax = zero
    for c in range(k):
        cmax = max(cmax, cc[c])
    for b in prange(nblocks):
        start = b * _BLOCK
        stop = min(start + _BLOCK, n)
        xc = np.empty((_BLOCK, d), dtype=Cc.dtype)
        G = np.empty((_BLOCK, k), dtype=Cc.dtype)
        xx = np.empty(_BLOCK, dtype=Cc.dtype)
        approx = np.empty(nseg, dtype=Cc.dtype)
        _block_dots(X, start, stop, center, CT, xc, G, xx)
        for r in range(stop - start):
            best = xx[r] - two * G[r, 0] + cc[0]
            for j in range(nseg):
                a = G[r, j + 1] - G[r, j] - cd[j]
                lam = min(max(a * inv_dd[j], zero), one)
                v = xx[r] - two * G[r, j] + cc[j] - two * lam * a + lam * lam * dd[j]
                approx[j] = v
                best = min(best, v)
            margin = 8 * eps * (xx[r] + cmax) * (d + 2)
            bj = -1
            bd = zero
            bl = zero
            for j in range(nseg):
                if approx[j] <= best + margin:
                    v, lam = _segment_exact(xc, r, Cc, Dseg, inv_dd, j, zero, one)
                    if bj < 0 or v < bd:
                        bj = j
                        bd = v
                        bl = lam
            # a projection onto the far end of a segment is the next corner:
            # report it as (j + 1, 0) so that positions are unique.
            if bl >= one and bj + 1 < nseg:
                bj += 1
                bl = zero
            seg[start + r] = bj
            pos[start + r] = bj + bl
            dist2[start + r] = bd


@_jit(parallel=True)
def points_on_curve(pos, C, out):
    """Points of the polyline at positions ``pos`` (already within [0, k-1]).

    in: pos (n,); C (k, d). out: out (n, d).
    """
    n = pos.shape[0]
    k, d = C.shape
    for i in prange(n):
        t = pos[i]
        j = min(max(int(np.floor(t)), 0), max(k - 2, 0))
        if k == 1:
            for f in range(d):
                out[i, f] = C[0, f]
            continue
        lam = t - j
        # (1 - lam) c_j + lam c_{j+1}: exactly c_j at lam = 0 and c_{j+1} at lam = 1
        for f in range(d):
            out[i, f] = (1 - lam) * C[j, f] + lam * C[j + 1, f]


# --------------------------------------------------------------------------
# training: weighted per-corner sums (serial, in row order -> deterministic)
# --------------------------------------------------------------------------


@_jit()
def corner_sums(X, w, labels, k, counts, sums):
    """Accumulate weighted counts and sums per corner in float64, row order.

    in: X (n, d); w (n,) float64; labels (n,). out: counts (k,), sums (k, d)
    (both float64, overwritten).
    """
    counts[:] = 0.0
    sums[:, :] = 0.0
    n, d = X.shape
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        c = labels[i]
        counts[c] += wi
        for f in range(d):
            sums[c, f] += wi * X[i, f]


# --------------------------------------------------------------------------
# training: the published recipe (dithered points, Adam), one epoch
# --------------------------------------------------------------------------


@_jit()
def sgd_epoch(X, w, order, lams, C, m1, m2, step, lr, batch, beta1, beta2, adam_eps):
    """One epoch of the published SFVQ recipe, updating ``C`` in place.

    For each batch of rows (taken in ``order``): form the dithered points
    ``p_j = (1 - l_j) c_j + l_j c_{j+1}`` with the batch's row of ``lams``,
    quantize every row to its nearest dithered point, take the gradient of
    the mean squared error (weights 1-l to corner j, l to corner j+1) and
    apply one Adam step.

    in: X (n, d); w (n,) float64 sample weights; order (n,) row order;
    lams (n_batches, k-1) dither draws; lr, batch, beta1, beta2, adam_eps.
    in/out: C (k, d) float64 corners; m1, m2 (k, d) Adam moments;
    step: int64 array of one element, the Adam step counter.
    Returns the weighted mean loss of the epoch.
    """
    n, d = X.shape
    k = C.shape[0]
    nseg = k - 1
    P = np.empty((nseg, d))
    grad = np.empty((k, d))
    total_loss = 0.0
    total_w = 0.0
    nb = (n + batch - 1) // batch
    for b in range(nb):
        start = b * batch
        stop = min(start + batch, n)
        for j in range(nseg):
            lam = lams[b, j]
            for f in range(d):
                P[j, f] = (1.0 - lam) * C[j, f] + lam * C[j + 1, f]
        wsum = 0.0
        for ii in range(start, stop):
            wsum += w[order[ii]]
        if wsum <= 0.0:
            continue
        grad[:, :] = 0.0
        scale = -2.0 / (wsum * d)
        for ii in range(start, stop):
            i = order[ii]
            wi = w[i]
            if wi == 0.0:
                continue
            bj = 0
            bd = np.inf
            for j in range(nseg):
                s = 0.0
                for f in range(d):
                    v = X[i, f] - P[j, f]
                    s += v * v
                if s < bd:
                    bd = s
                    bj = j
            total_loss += wi * bd / d
            total_w += wi
            lam = lams[b, bj]
            g = scale * wi
            for f in range(d):
                r = X[i, f] - P[bj, f]
                grad[bj, f] += g * (1.0 - lam) * r
                grad[bj + 1, f] += g * lam * r
        step[0] += 1
        t = step[0]
        bc1 = 1.0 - beta1**t
        bc2 = 1.0 - beta2**t
        for c in range(k):
            for f in range(d):
                gcf = grad[c, f]
                m1[c, f] = beta1 * m1[c, f] + (1.0 - beta1) * gcf
                m2[c, f] = beta2 * m2[c, f] + (1.0 - beta2) * gcf * gcf
                denom = np.sqrt(m2[c, f]) / np.sqrt(bc2) + adam_eps
                C[c, f] -= (lr / bc1) * m1[c, f] / denom
    if total_w > 0.0:
        return total_loss / total_w
    return 0.0


# --------------------------------------------------------------------------
# Python drivers: prepare the per-codebook constants, pick threads, call
# --------------------------------------------------------------------------


class kernel_threads:
    """Context manager: run numba kernels with ``n_jobs`` threads, then restore.

    ``None`` keeps the current setting; negative values count back from the
    number of cores (-1 = all), as in joblib.
    """

    def __init__(self, n_jobs):
        self.n_jobs = n_jobs

    def __enter__(self):
        self._saved = numba.get_num_threads()
        if self.n_jobs is not None:
            limit = numba.config.NUMBA_NUM_THREADS
            n = self.n_jobs if self.n_jobs > 0 else limit + 1 + self.n_jobs
            numba.set_num_threads(int(min(max(n, 1), limit)))
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self._saved)
        return False


def _centred(C):
    """Corners shifted by their mean, plus the constants every kernel uses."""
    center = C.mean(axis=0).astype(C.dtype)
    Cc = np.ascontiguousarray(C - center)
    CT = np.ascontiguousarray(Cc.T)
    cc = np.einsum("ij,ij->i", Cc, Cc)
    eps = np.finfo(C.dtype).eps
    one = C.dtype.type(1)
    return center, Cc, CT, cc, C.dtype.type(eps), one


def assign_corners(X, C):
    """(labels, squared distances) of every row of X to its nearest corner."""
    center, Cc, CT, cc, eps, one = _centred(C)
    labels = np.empty(X.shape[0], dtype=np.intp)
    dist2 = np.empty(X.shape[0], dtype=X.dtype)
    nearest_corner(X, center, Cc, CT, cc, eps, one, labels, dist2)
    return labels, dist2


def project(X, C):
    """(positions, segments, squared distances) of the exact projection of X onto the curve."""
    n = X.shape[0]
    pos = np.empty(n, dtype=X.dtype)
    seg = np.zeros(n, dtype=np.intp)
    if C.shape[0] == 1:
        pos[:] = 0
        dist2 = np.sum((X - C[0]) ** 2, axis=1).astype(X.dtype, copy=False)
        return pos, seg, dist2
    center, Cc, CT, cc, eps, one = _centred(C)
    Dseg = np.ascontiguousarray(np.diff(Cc, axis=0))
    dd = np.einsum("ij,ij->i", Dseg, Dseg)
    cd = np.einsum("ij,ij->i", Cc[:-1], Dseg)
    inv_dd = np.zeros_like(dd)
    np.divide(one, dd, out=inv_dd, where=dd > 0)
    dist2 = np.empty(n, dtype=X.dtype)
    project_to_curve(X, center, Cc, CT, cc, Dseg, cd, dd, inv_dd, eps, one, pos, seg, dist2)
    return pos, seg, dist2


def curve_points(pos, C):
    """Points of the polyline through C at positions ``pos`` (in [0, k-1])."""
    out = np.empty((pos.shape[0], C.shape[1]), dtype=C.dtype)
    points_on_curve(np.ascontiguousarray(pos, dtype=C.dtype), C, out)
    return out
