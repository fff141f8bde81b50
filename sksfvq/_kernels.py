"""Numba kernels shared by every reader of the corners, and the nearest corner.

The exact projection onto the curve is in :mod:`._project`, the training
kernels in :mod:`._train_kernels`; both build on the helpers here.

Everything here works on plain NumPy arrays (no estimator state). Inputs are
marked *in*, outputs *out*; outputs are preallocated by the caller. Every
kernel keeps the dtype of its inputs (float32 stays float32) and every row is
computed independently of how rows are split among threads, so results are
bit-identical for any thread count.

The dot products between rows and corners are the bulk of the work. One
parallel region walks over blocks of ``_BLOCK`` rows; inside a block, rows are
taken ``_TILE`` (= 8) at a time, centred and scaled, and their products with
all corners are computed by a register-blocked kernel (:mod:`._simd`: 8 rows x
32 float32 corners held in vector registers over all features, corners
packed in panels). Both sides are shifted by the mean corner ``m`` first
(``G = (x - m) . (c - m)``): this leaves every distance unchanged and removes
the precision loss of a large common offset. Distances then come from the
expanded form ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``; every candidate within a
rounding margin of the best one is re-evaluated directly as ``|x - c|^2`` (in
float64 lanes for float32 data) so the winner and its distance are exact to
working precision, and ties go to the lowest index. Small problems take a
direct-distance kernel instead (:func:`_direct`). No buffer grows with the
number of rows.

All arithmetic stays in the dtype of the data: constants are passed in (or
derived from inputs) already typed, because a Python int or float literal
would promote a float32 loop to float64.
"""

import warnings

import numpy as np
import numba
from numba import prange

from ._simd import _TILE, _panel, _sq_dist, _tile_nearest, _tile_rows

#: Rows handled together by one thread (one parallel task).
_BLOCK = 256
#: Below this many multiply-adds a call runs in the calling thread: launching
#: the parallel region can cost more than the work (milliseconds on a busy
#: machine). Results are the same either way.
_SERIAL_WORK = 1 << 24
#: Values of a row chunk held by the direct kernel (16 KiB in float32).
_DIRECT_FLOATS = 4096


def _jit(parallel=False, contract=False):
    """``numba.njit`` with on-disk caching that never breaks the import.

    When numba cannot write (or find) a cache directory, ``cache=True`` raises
    at decoration time; we then compile without caching. ``contract=True``
    allows fusing ``a * b + c`` into one multiply-add (the only fast-math
    flag we use: it rounds once instead of twice and never reorders sums).
    """

    def decorate(func):
        options = dict(nogil=True, parallel=parallel)
        if contract:
            options["fastmath"] = {"contract"}
        try:
            return numba.njit(cache=True, **options)(func)
        except Exception as exc:  # pragma: no cover - depends on the filesystem
            warnings.warn(
                f"numba cannot cache {func.__name__} ({exc}); compiling without cache",
                RuntimeWarning,
                stacklevel=2,
            )
            return numba.njit(cache=False, **options)(func)

    return decorate


# --------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------


@_jit()
def _corner_panels(CT, one):
    """The corners times -2, packed for :func:`._simd._tile_products`.

    in: CT (d, kp) centred, scaled corners, transposed (zero-padded columns).
    Returns CTp: panels of ``P = _panel(dtype)`` columns stored one after
    the other (``CTp[b * d + f, i] = -2 CT[f, b * P + i]``, zero past the
    last column), so that the products kernel reads them in order.
    Multiplying by -2 is exact.
    """
    d, kp = CT.shape
    two = one + one
    P = _panel(CT.dtype)
    nb = (kp + P - 1) // P
    CTp = np.zeros((nb * d, P), dtype=CT.dtype)
    for f in range(d):
        for c in range(kp):
            CTp[(c // P) * d + f, c % P] = CT[f, c] * -two
    return CTp


# --------------------------------------------------------------------------
# nearest corner
# --------------------------------------------------------------------------


@_jit()
def _nearest_block_direct(X, b, center, scale, inv2, Cc, one, labels, dist2):
    """:func:`_nearest_block` for small problems: every distance computed directly.

    When the corners are few or short (see :func:`_direct`) the direct form
    ``sum_f (x_f - c_f)^2`` costs about what a dot product costs, and it is
    exact, so no candidate needs a second look. Rows are taken in chunks
    held feature-major (at most ``_DIRECT_FLOATS`` values, so they stay in
    L1), and every corner updates a running minimum over the chunk's rows at
    once (the loop over rows is vectorized, branch-free); a strict ``<`` in
    corner order gives ties to the lowest index, and a row whose distances
    are never finite keeps -1.
    """
    n, d = X.shape
    k = Cc.shape[0]
    start = b * _BLOCK
    stop = min(start + _BLOCK, n)
    zero = one - one
    rows = min(_BLOCK, max(16, _DIRECT_FLOATS // d))
    nbad = 0
    xt = np.empty((d, rows), dtype=Cc.dtype)
    s = np.empty(rows, dtype=Cc.dtype)
    best = np.empty(rows, dtype=Cc.dtype)
    idx = np.empty(rows, dtype=np.int32)
    for r0 in range(start, stop, rows):
        m = min(rows, stop - r0)
        for i in range(m):
            for f in range(d):
                xt[f, i] = (X[r0 + i, f] - center[f]) * scale
        best[:] = np.inf
        idx[:] = -1
        for c in range(k):
            x0 = xt[0]
            c0 = Cc[c, 0]
            for i in range(m):
                t = x0[i] - c0
                s[i] = t * t
            f = 1
            while f + 3 < d:  # four features per sweep, still summed in order
                xa, xb, xc, xd = xt[f], xt[f + 1], xt[f + 2], xt[f + 3]
                ca, cb, cc, cd = Cc[c, f], Cc[c, f + 1], Cc[c, f + 2], Cc[c, f + 3]
                for i in range(m):
                    ta = xa[i] - ca
                    tb = xb[i] - cb
                    tc = xc[i] - cc
                    td = xd[i] - cd
                    s[i] = s[i] + ta * ta + tb * tb + tc * tc + td * td
                f += 4
            while f < d:
                xf = xt[f]
                cf = Cc[c, f]
                for i in range(m):
                    t = xf[i] - cf
                    s[i] += t * t
                f += 1
            ci = np.int32(c)
            for i in range(m):
                v = s[i]
                better = v < best[i]
                best[i] = v if better else best[i]
                idx[i] = ci if better else idx[i]
        for i in range(m):
            ok = idx[i] >= 0
            v = best[i] * inv2 if ok else zero
            labels[r0 + i] = idx[i]
            dist2[r0 + i] = v
            nbad += 0 if ok and v - v == zero else 1
    return nbad


@_jit()
def _direct(k, d):
    """Whether the nearest corner is cheaper from direct distances.

    Measured per call on float32 (1 thread, N = 2e5, 2-core AVX-512
    machine) against the vector products kernel: the direct kernel wins for
    fewer than 16 features with at most 128 corners (d = 8, k = 64: 5 ms vs
    12; d = 12, k = 128: 16 vs 20) and for at most 16 corners when a
    feature count that is not a multiple of 16 leaves the products kernel a
    scalar tail (d = 17, k = 16: 3.7 vs 5.8); the products kernel wins
    beyond (d = 4, k = 256: 10 vs 19; d = 16, k = 64: 4 vs 9; d = 32,
    k = 128: 9 vs 35; d = 64, k = 32: 7 vs 24).
    """
    return (d < 16 and k <= 128) or (k <= 16 and d <= 64)


@_jit()
def _nearest_constants(CT, cc, one):
    """Corners packed for the products kernel, and their padded squared norms.

    Returns CTp (:func:`_corner_panels`) and ccp: cc, then NaN up to the
    packed columns (a padding corner is never a candidate). Empty arrays
    when the direct kernel serves the problem (:func:`_direct`).
    """
    d, kp = CT.shape
    k = cc.shape[0]
    P = _panel(CT.dtype)
    if _direct(k, d):
        return np.zeros((0, P), dtype=CT.dtype), np.zeros(0, dtype=CT.dtype)
    CTp = _corner_panels(CT, one)
    ccp = np.full((CTp.shape[0] // d) * P, np.nan, dtype=CT.dtype)
    ccp[:k] = cc
    return CTp, ccp


@_jit(contract=True)
def _nearest_block(X, b, center, scale, inv2, Cc, CTp, ccp, cmax, mscale, one, key, labels,
                   dist2):
    """:func:`nearest_corner` for the rows of block ``b`` (``_BLOCK`` rows).

    Returns the number of rows that need the driver's attention: label -1
    or a distance that is not finite.

    Per tile of rows: the rows centred and scaled (:func:`._simd._tile_rows`),
    then every row's expanded distances, threshold and first and last
    candidate at once (:func:`._simd._tile_nearest`), then each row's
    candidates directly (:func:`._simd._sq_dist`, compared in float64),
    usually one. The work
    per row is written out here rather than in jitted helpers (numba would
    call them, passing every array field and refcounting row views).
    """
    n, d = X.shape
    k = Cc.shape[0]
    if _direct(k, d):
        return _nearest_block_direct(X, b, center, scale, inv2, Cc, one, labels, dist2)
    zero = one - one
    start = b * _BLOCK
    stop = min(start + _BLOCK, n)
    xc = np.empty((_TILE, d), dtype=Cc.dtype)
    xx = np.empty(_TILE, dtype=Cc.dtype)
    A = np.empty((_TILE, ccp.shape[0]), dtype=Cc.dtype)
    thr = np.empty(_TILE, dtype=Cc.dtype)
    first = np.empty(_TILE, dtype=key.dtype)
    last = np.empty(_TILE, dtype=key.dtype)
    nbad = 0
    for t0 in range(start, stop, _TILE):
        nr = min(_TILE, stop - t0)
        _tile_rows(X, t0, nr, center, scale, xc, xx)
        _tile_nearest(xc, xx, CTp, ccp, mscale, cmax, A, thr, first, last)
        for r in range(nr):
            lo = first[r]
            hi = last[r]
            i = t0 + r
            if hi < 0:  # not finite: no candidate
                labels[i] = -1
                dist2[i] = zero
                nbad += 1
                continue
            # every candidate again, directly, in increasing order; ties: the lower
            bi = lo
            bd = _sq_dist(xc, r, Cc, lo)
            if hi > lo:
                threshold = thr[r]
                for j in range(lo + 1, hi + 1):
                    if A[r, j] <= threshold:
                        v = _sq_dist(xc, r, Cc, j)
                        if v < bd:
                            bi = j
                            bd = v
            labels[i] = bi
            dist2[i] = bd * inv2  # rounded once to the dtype of X (inv2: a power of two)
            v = dist2[i]
            nbad += 0 if v - v == zero else 1  # inf or NaN
    return nbad


@_jit(parallel=True)
def nearest_corner(X, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key, labels, dist2):
    """Index of and squared distance to the nearest corner for every row.

    in: X (n, d); center (d,); Cc (k, d) corners minus ``center``; CT = Cc.T
    (d, kp) contiguous, zero-padded to kp = a multiple of 16 columns; cc (k,)
    squared norms of Cc; cmax = max(cc);
    mscale = 8 (d + 2) eps, the relative rounding margin of the expanded
    form; ``one`` = 1 (all scalars in the dtype of X); key: an integer
    array as wide as the dtype of X (its dtype is that of the candidate
    indices in vector lanes).
    scale (power of two) and inv2 = 1 / scale^2: Cc, CT, cc are scaled, the
    distances are scaled back on output.
    out: labels (n,) intp; dist2 (n,) squared distances (dtype of X).
    A row whose distances are not finite gets label -1.
    Returns the number of rows with label -1 or a distance that is not
    finite (0: nothing for the driver to redo).
    """
    CTp, ccp = _nearest_constants(CT, cc, one)
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    nbad = 0
    for b in prange(nblocks):
        nbad += _nearest_block(X, b, center, scale, inv2, Cc, CTp, ccp, cmax, mscale, one, key,
                               labels, dist2)
    return nbad


@_jit()
def nearest_corner_serial(X, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key, labels,
                          dist2):
    """:func:`nearest_corner` in the calling thread (no parallel launch)."""
    CTp, ccp = _nearest_constants(CT, cc, one)
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    nbad = 0
    for b in range(nblocks):
        nbad += _nearest_block(X, b, center, scale, inv2, Cc, CTp, ccp, cmax, mscale, one, key,
                               labels, dist2)
    return nbad


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


#: Largest binary exponent of the working scale (its square stays a normal number).
_MAX_EXP = {np.dtype(np.float32): 60, np.dtype(np.float64): 500}


def _centred(C):
    """Corners shifted by their mean and scaled, plus the constants every kernel uses.

    The scale is a power of two that brings the corners' spread near 1, so
    squared distances neither overflow nor underflow for data of any unit
    (1e30 or 1e-30 in float32); multiplying by a power of two is exact, so
    results are otherwise unchanged.
    """
    dtype = C.dtype.type
    center = C.mean(axis=0).astype(C.dtype)
    spread = float(np.max(np.abs(C - center))) if C.size else 0.0
    exponent = 0
    if 0.0 < spread < np.inf:
        limit = _MAX_EXP[C.dtype]
        exponent = int(min(max(-np.frexp(spread)[1], -limit), limit))
    scale = dtype(np.ldexp(1.0, exponent))
    inv2 = dtype(np.ldexp(1.0, -2 * exponent))
    Cc = np.ascontiguousarray((C - center) * scale)
    k, d = Cc.shape
    CT = np.zeros((d, -(-k // 16) * 16), dtype=C.dtype)  # padded: whole vectors
    CT[:, :k] = Cc.T
    cc = np.einsum("ij,ij->i", Cc, Cc)
    cmax = dtype(cc.max())
    mscale = dtype(8 * (C.shape[1] + 2) * np.finfo(C.dtype).eps)
    bits = 8 * C.dtype.itemsize
    key = np.array([bits - 1, 2 ** (bits - 1) - 1], dtype=f"i{C.dtype.itemsize}")
    return center, scale, inv2, Cc, CT, cc, cmax, mscale, dtype(1), key


def _as_float(X, C):
    """Corners in the dtype of X (the kernels compute in one dtype)."""
    return np.asarray(C, dtype=X.dtype)


def _serial(n, k, d):
    """Whether a call of this size should skip the parallel launch."""
    return numba.get_num_threads() == 1 or n * (-(-k // 16) * 16) * (d + 8) < _SERIAL_WORK


def _failed(X, index, *values):
    """Rows the kernel could not compare: index -1, or a non-finite result.

    (A row far outside the corners' scale can overflow the working dtype even
    when the comparison succeeded; it is redone too.)
    """
    if X.shape[0] == 0:
        return None
    bad = index < 0
    if X.dtype == np.float32:  # float64 has no wider dtype to redo rows in
        for v in values:
            bad |= ~np.isfinite(v)
    return np.flatnonzero(bad) if bad.any() else None


def assign_corners(X, C):
    """(labels, squared distances) of every row of X to its nearest corner.

    Exact nearest corner (ties to the lowest index) in the dtype of X. A
    float32 row whose distances overflow even after scaling is redone in
    float64 (its float32 distance may then be inf); a row that is not finite
    gets label 0 and distance inf.
    """
    return _assign(X, C)[:2]


def _assign(X, C):
    """:func:`assign_corners`, and whether every row was clean (label found,
    distance finite: nothing redone, no distance to check again)."""
    C = _as_float(X, C)
    center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key = _centred(C)
    labels = np.empty(X.shape[0], dtype=np.intp)
    dist2 = np.empty(X.shape[0], dtype=X.dtype)
    kernel = nearest_corner_serial if _serial(*X.shape[:1], *C.shape) else nearest_corner
    nbad = kernel(X, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key, labels, dist2)
    bad = _failed(X, labels, dist2) if nbad else None
    if bad is not None:
        if X.dtype == np.float32:
            lab64, d64 = assign_corners(X[bad].astype(np.float64), C.astype(np.float64))
        else:
            lab64, d64 = np.full(len(bad), -1), np.zeros(len(bad))
        lost = lab64 < 0
        lab64[lost] = 0
        d64[lost] = np.inf
        labels[bad] = lab64
        with np.errstate(over="ignore"):  # beyond float32: inf, as computed
            dist2[bad] = d64.astype(X.dtype)
    return labels, dist2, nbad == 0


def assign_corners64(X, C):
    """:func:`assign_corners` with the squared distances in float64.

    Distances that overflow the dtype of X (float32 data near 1e30) are
    recomputed in float64, so that sums of them (inertia, score, training
    errors) stay finite and exact.
    """
    labels, dist2, clean = _assign(X, C)
    dist2 = dist2.astype(np.float64)
    if clean:  # the kernel saw every distance finite
        return labels, dist2
    bad = ~np.isfinite(dist2)
    if bad.any():
        diff = X[bad].astype(np.float64) - np.asarray(C, dtype=np.float64)[labels[bad]]
        dist2[bad] = np.einsum("ij,ij->i", diff, diff)
    return labels, dist2
