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
taken ``_TILE`` at a time and their dot products with all corners are
accumulated in a small ``(_TILE, k)`` buffer that stays in the L1 cache (the
inner loop over corners is contiguous, so it is vectorized, and every corner
value loaded is used ``_TILE`` times). Both sides are shifted by the mean
corner ``m`` first (``G = (x - m) . (c - m)``): this leaves every distance
unchanged and removes the precision loss of a large common offset. Distances
then come from the expanded form ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``; every
candidate within a rounding margin of the best one is re-evaluated directly
as ``|x - c|^2`` so the winner and its distance are exact to working
precision, and ties go to the lowest index. No buffer grows with the number
of rows.

All arithmetic stays in the dtype of the data: constants are passed in (or
derived from inputs) already typed, because a Python int or float literal
would promote a float32 loop to float64.
"""

import warnings

import numpy as np
import numba
from numba import prange

#: Rows handled together by one thread (one parallel task).
_BLOCK = 256
#: Rows whose dot products are accumulated together (hard-wired in _block_dots).
_TILE = 8
#: Corners per sweep over a tile (``_TILE x _SPAN`` partial sums stay in L1).
_SPAN = 512
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
# shared pieces (inlined by numba into the drivers)
# --------------------------------------------------------------------------


@_jit(contract=True)
def _block_dots(X, start, nr, center, scale, CT, xc, Gf, G, xx):
    """Dot products of one tile of ``_TILE`` (= 8) rows with every corner.

    in: X (n, d); start, nr (<= _TILE) first row and number of rows;
    center (d,); scale, a power of two; CT (d, kp) centred and scaled corners,
    transposed, zero-padded to a multiple of 16 columns.
    out: xc (_TILE, d) centred rows times ``scale`` (zero rows past ``nr``); xx (_TILE,)
    ``|xc[i]|^2``; the dot products ``xc[i] . CT[:, c]`` in ``Gf[i * _SPAN + c]``
    when ``kp <= _SPAN``, else in ``G[i, c]`` (Gf is then scratch).

    Gf holds the tile's rows at fixed distances ``_SPAN`` apart: the compiler
    can then prove that the eight row updates do not overlap and vectorizes
    the loop over corners; each corner value loaded serves eight rows and
    each partial sum loaded takes four features. Every dot product is summed
    over the features in order (multiply-adds fused), whatever the tile.
    """
    d = X.shape[1]
    kp = CT.shape[1]
    zero = center[0] - center[0]
    for i in range(_TILE):
        s = zero
        if i < nr:
            for f in range(d):
                v = (X[start + i, f] - center[f]) * scale
                xc[i, f] = v
                s += v * v
        else:
            for f in range(d):
                xc[i, f] = zero
        xx[i] = s
    for c0 in range(0, kp, _SPAN):
        m = min(_SPAN, kp - c0)
        w0 = CT[0, c0:c0 + m]
        x0, x1, x2, x3, x4, x5, x6, x7 = (
            xc[0, 0], xc[1, 0], xc[2, 0], xc[3, 0], xc[4, 0], xc[5, 0], xc[6, 0], xc[7, 0])
        for c in range(m):
            a0 = w0[c]
            Gf[c] = x0 * a0
            Gf[1 * _SPAN + c] = x1 * a0
            Gf[2 * _SPAN + c] = x2 * a0
            Gf[3 * _SPAN + c] = x3 * a0
            Gf[4 * _SPAN + c] = x4 * a0
            Gf[5 * _SPAN + c] = x5 * a0
            Gf[6 * _SPAN + c] = x6 * a0
            Gf[7 * _SPAN + c] = x7 * a0
        f = 1
        while f + 3 < d:  # four features per sweep, summed in feature order
            w0 = CT[f, c0:c0 + m]
            w1 = CT[f + 1, c0:c0 + m]
            w2 = CT[f + 2, c0:c0 + m]
            w3 = CT[f + 3, c0:c0 + m]
            x00, x01, x02, x03 = xc[0, f], xc[0, f + 1], xc[0, f + 2], xc[0, f + 3]
            x10, x11, x12, x13 = xc[1, f], xc[1, f + 1], xc[1, f + 2], xc[1, f + 3]
            x20, x21, x22, x23 = xc[2, f], xc[2, f + 1], xc[2, f + 2], xc[2, f + 3]
            x30, x31, x32, x33 = xc[3, f], xc[3, f + 1], xc[3, f + 2], xc[3, f + 3]
            x40, x41, x42, x43 = xc[4, f], xc[4, f + 1], xc[4, f + 2], xc[4, f + 3]
            x50, x51, x52, x53 = xc[5, f], xc[5, f + 1], xc[5, f + 2], xc[5, f + 3]
            x60, x61, x62, x63 = xc[6, f], xc[6, f + 1], xc[6, f + 2], xc[6, f + 3]
            x70, x71, x72, x73 = xc[7, f], xc[7, f + 1], xc[7, f + 2], xc[7, f + 3]
            for c in range(m):
                a0, a1, a2, a3 = w0[c], w1[c], w2[c], w3[c]
                Gf[c] = Gf[c] + x00 * a0 + x01 * a1 + x02 * a2 + x03 * a3
                Gf[1 * _SPAN + c] = Gf[1 * _SPAN + c] + x10 * a0 + x11 * a1 + x12 * a2 + x13 * a3
                Gf[2 * _SPAN + c] = Gf[2 * _SPAN + c] + x20 * a0 + x21 * a1 + x22 * a2 + x23 * a3
                Gf[3 * _SPAN + c] = Gf[3 * _SPAN + c] + x30 * a0 + x31 * a1 + x32 * a2 + x33 * a3
                Gf[4 * _SPAN + c] = Gf[4 * _SPAN + c] + x40 * a0 + x41 * a1 + x42 * a2 + x43 * a3
                Gf[5 * _SPAN + c] = Gf[5 * _SPAN + c] + x50 * a0 + x51 * a1 + x52 * a2 + x53 * a3
                Gf[6 * _SPAN + c] = Gf[6 * _SPAN + c] + x60 * a0 + x61 * a1 + x62 * a2 + x63 * a3
                Gf[7 * _SPAN + c] = Gf[7 * _SPAN + c] + x70 * a0 + x71 * a1 + x72 * a2 + x73 * a3
            f += 4
        while f < d:
            w0 = CT[f, c0:c0 + m]
            x0, x1, x2, x3, x4, x5, x6, x7 = (
                xc[0, f], xc[1, f], xc[2, f], xc[3, f], xc[4, f], xc[5, f], xc[6, f], xc[7, f])
            for c in range(m):
                a0 = w0[c]
                Gf[c] += x0 * a0
                Gf[1 * _SPAN + c] += x1 * a0
                Gf[2 * _SPAN + c] += x2 * a0
                Gf[3 * _SPAN + c] += x3 * a0
                Gf[4 * _SPAN + c] += x4 * a0
                Gf[5 * _SPAN + c] += x5 * a0
                Gf[6 * _SPAN + c] += x6 * a0
                Gf[7 * _SPAN + c] += x7 * a0
            f += 1
        if kp > _SPAN:  # keep this chunk: the next one reuses Gf
            for i in range(_TILE):
                for c in range(m):
                    G[i, c0 + c] = Gf[i * _SPAN + c]



@_jit()
def _row_min_bits(Ai, m, key, kb, kf):
    """Smallest of ``A[:m]``, read through ``Ai``, the integer view of ``A``.

    Finite floats compare like their bit patterns once the magnitude bits of
    negative numbers are flipped (``v ^ ((v >> sh) & msk)``, with ``key =
    [sh, msk]`` = [31, 2**31 - 1] for float32, [63, 2**63 - 1] for float64),
    and an integer minimum vectorizes where a float one may not (it would
    need reordering permission for NaN). ``kb``/``kf``: one-element integer
    scratch array and its float view, to turn the winner back into a float.
    """
    sh = key[0]
    msk = key[1]
    b = Ai[0]
    b = b ^ ((b >> sh) & msk)
    for c in range(1, m):
        v = Ai[c]
        v = v ^ ((v >> sh) & msk)
        b = v if v < b else b
    kb[0] = b ^ ((b >> sh) & msk)
    return kf[0]


@_jit()
def _candidates(A, m, threshold, cand):
    """Indices ``j < m`` with ``A[j] <= threshold``, increasing, into ``cand``.

    Returns their number. The usual case, exactly one candidate, is found by
    a vectorized count (no branch per element); only rows with near-ties
    take the second, branching loop.
    """
    count = 0
    total = 0
    for j in range(m):
        hit = A[j] <= threshold
        count += 1 if hit else 0
        total += j if hit else 0
    if count == 1:
        cand[0] = total
        return 1
    count = 0
    for j in range(m):
        if A[j] <= threshold:
            cand[count] = j
            count += 1
    return count


@_jit()
def _sq_dist(xc, r, Cc, k):
    """Direct squared distance between centred row ``xc[r]`` and corner ``k``.

    Four interleaved partial sums (fixed order, so deterministic) instead of
    one: the additions no longer wait for each other.
    """
    d = xc.shape[1]
    s0 = xc[r, 0] - xc[r, 0]
    s1 = s0
    s2 = s0
    s3 = s0
    d4 = d - d % 4
    for f in range(0, d4, 4):
        v0 = xc[r, f] - Cc[k, f]
        v1 = xc[r, f + 1] - Cc[k, f + 1]
        v2 = xc[r, f + 2] - Cc[k, f + 2]
        v3 = xc[r, f + 3] - Cc[k, f + 3]
        s0 += v0 * v0
        s1 += v1 * v1
        s2 += v2 * v2
        s3 += v3 * v3
    for f in range(d4, d):
        v0 = xc[r, f] - Cc[k, f]
        s0 += v0 * v0
    return (s0 + s1) + (s2 + s3)


@_jit()
def _segment_exact(xc, r, Cc, Dseg, inv_dd, j, zero, one):
    """Exact projection of centred row ``xc[r]`` onto segment ``j``.

    Returns (squared distance, lambda in [0, 1]). Sums as in :func:`_sq_dist`.
    """
    d = xc.shape[1]
    d4 = d - d % 4
    a0 = zero
    a1 = zero
    a2 = zero
    a3 = zero
    for f in range(0, d4, 4):
        a0 += (xc[r, f] - Cc[j, f]) * Dseg[j, f]
        a1 += (xc[r, f + 1] - Cc[j, f + 1]) * Dseg[j, f + 1]
        a2 += (xc[r, f + 2] - Cc[j, f + 2]) * Dseg[j, f + 2]
        a3 += (xc[r, f + 3] - Cc[j, f + 3]) * Dseg[j, f + 3]
    for f in range(d4, d):
        a0 += (xc[r, f] - Cc[j, f]) * Dseg[j, f]
    lam = ((a0 + a1) + (a2 + a3)) * inv_dd[j]
    lam = min(max(lam, zero), one)
    s0 = zero
    s1 = zero
    s2 = zero
    s3 = zero
    for f in range(0, d4, 4):
        v0 = xc[r, f] - Cc[j, f] - lam * Dseg[j, f]
        v1 = xc[r, f + 1] - Cc[j, f + 1] - lam * Dseg[j, f + 1]
        v2 = xc[r, f + 2] - Cc[j, f + 2] - lam * Dseg[j, f + 2]
        v3 = xc[r, f + 3] - Cc[j, f + 3] - lam * Dseg[j, f + 3]
        s0 += v0 * v0
        s1 += v1 * v1
        s2 += v2 * v2
        s3 += v3 * v3
    for f in range(d4, d):
        v0 = xc[r, f] - Cc[j, f] - lam * Dseg[j, f]
        s0 += v0 * v0
    return (s0 + s1) + (s2 + s3), lam


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
            labels[r0 + i] = idx[i]
            dist2[r0 + i] = best[i] * inv2 if idx[i] >= 0 else zero


@_jit()
def _direct(k, d):
    """Whether the nearest corner is cheaper from direct distances.

    Measured per row, corner and feature on float32 (1 thread, 2-core
    machine): the direct kernel wins for up to 16 features at any k and up
    to 64 features with at most 128 corners; the dot-product kernel wins
    beyond (its per-row overhead is then paid back).
    """
    return d <= 16 or (d <= 64 and k <= 128)


@_jit()
def _nearest_block(X, b, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key, labels,
                   dist2):
    """:func:`nearest_corner` for the rows of block ``b`` (``_BLOCK`` rows)."""
    n, d = X.shape
    k = Cc.shape[0]
    kp = CT.shape[1]
    if _direct(k, d):
        _nearest_block_direct(X, b, center, scale, inv2, Cc, one, labels, dist2)
        return
    zero = one - one
    two = one + one
    start = b * _BLOCK
    stop = min(start + _BLOCK, n)
    xc = np.empty((_TILE, d), dtype=Cc.dtype)
    xx = np.empty(_TILE, dtype=Cc.dtype)
    Gf = np.empty(_TILE * _SPAN, dtype=Cc.dtype)
    if kp <= _SPAN:
        G = Gf.reshape((_TILE, _SPAN))
    else:
        G = np.empty((_TILE, kp), dtype=Cc.dtype)
    A = np.empty(k, dtype=Cc.dtype)
    Ai = A.view(key.dtype)
    kb = np.empty(1, dtype=key.dtype)
    kf = kb.view(Cc.dtype)
    cand = np.empty(k, dtype=np.intp)
    for t0 in range(start, stop, _TILE):
        nr = min(_TILE, stop - t0)
        _block_dots(X, t0, nr, center, scale, CT, xc, Gf, G, xx)
        for r in range(nr):
            g = G[r]
            for c in range(k):
                A[c] = cc[c] - two * g[c]
            threshold = _row_min_bits(Ai, k, key, kb, kf) + mscale * (xx[r] + cmax)
            bi = -1
            bd = zero
            for q in range(_candidates(A, k, threshold, cand)):
                c = cand[q]
                v = _sq_dist(xc, r, Cc, c)
                if bi < 0 or v < bd:
                    bi = c
                    bd = v
            labels[t0 + r] = bi  # -1: not finite, no candidate compared
            dist2[t0 + r] = bd * inv2


@_jit(parallel=True)
def nearest_corner(X, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key, labels, dist2):
    """Index of and squared distance to the nearest corner for every row.

    in: X (n, d); center (d,); Cc (k, d) corners minus ``center``; CT = Cc.T
    (d, kp) contiguous, zero-padded to kp = a multiple of 16 columns; cc (k,)
    squared norms of Cc; cmax = max(cc);
    mscale = 8 (d + 2) eps, the relative rounding margin of the expanded
    form; ``one`` = 1 (all scalars in the dtype of X); key: see
    :func:`_row_min_bits`.
    scale (power of two) and inv2 = 1 / scale^2: Cc, CT, cc are scaled, the
    distances are scaled back on output.
    out: labels (n,) intp; dist2 (n,) squared distances (dtype of X).
    A row whose distances are not finite gets label -1.
    """
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    for b in prange(nblocks):
        _nearest_block(X, b, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key,
                       labels, dist2)


@_jit()
def nearest_corner_serial(X, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key, labels,
                          dist2):
    """:func:`nearest_corner` in the calling thread (no parallel launch)."""
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    for b in range(nblocks):
        _nearest_block(X, b, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key,
                       labels, dist2)



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
    C = _as_float(X, C)
    center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key = _centred(C)
    labels = np.empty(X.shape[0], dtype=np.intp)
    dist2 = np.empty(X.shape[0], dtype=X.dtype)
    kernel = nearest_corner_serial if _serial(*X.shape[:1], *C.shape) else nearest_corner
    kernel(X, center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key, labels, dist2)
    bad = _failed(X, labels, dist2)
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
    return labels, dist2


def assign_corners64(X, C):
    """:func:`assign_corners` with the squared distances in float64.

    Distances that overflow the dtype of X (float32 data near 1e30) are
    recomputed in float64, so that sums of them (inertia, score, training
    errors) stay finite and exact.
    """
    labels, dist2 = assign_corners(X, C)
    dist2 = dist2.astype(np.float64)
    bad = ~np.isfinite(dist2)
    if bad.any():
        diff = X[bad].astype(np.float64) - np.asarray(C, dtype=np.float64)[labels[bad]]
        dist2[bad] = np.einsum("ij,ij->i", diff, diff)
    return labels, dist2
