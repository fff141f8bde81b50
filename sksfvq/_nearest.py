"""The nearest corner of every row: exact, ties to the lowest index, on either back end.

Kernels work on plain arrays; outputs are preallocated by the caller; every
row is computed independently of how rows are split among threads, so
results are bit-identical for any thread count. Inputs come as a
:class:`._layout.NearestArgs` (corners centred and scaled, in the back end's
layout).

Three kernels, chosen per call by :func:`nearest_corner`:

- **direct** (small problems, :func:`._layout.direct`): every distance
  computed directly in the dtype of the data, rows held feature-major.
- **portable** (plain Numba): per chunk of ``PORTABLE_ROWS`` rows, the
  products with all corners in one matrix product (BLAS), then per corner a
  loop over the rows (vectorized by the compiler) for the expanded distances
  ``|c|^2 - 2 x.c``, each row's minimum and its first and last candidate.
- **simd** (LLVM IR, :mod:`._simd`): the same per tile of 8 rows, with the
  products register-blocked and the minima taken while the sums are in
  vector registers.

Every corner whose expanded distance is within the rounding margin of the
row's minimum is a candidate, and every candidate is evaluated again
directly in float64 (:func:`sq_dist`, the same summation order on both back
ends), so the winner and its distance do not depend on how the products
were summed: both back ends return the same labels and distances.
"""

from collections import namedtuple

import numba
import numpy as np

from . import _simd
from ._ir import tile_rows
from ._layout import (BLOCK, DIRECT_FLOATS, PORTABLE_ROWS, TILE, direct, direct_args, lane_ints,
                      lanes, nearest_args)
from ._numba import jit, parallel_over_blocks, parallel_slot, readonly, serial


@jit(inline=True)
def lane_tree_sum(acc):
    """The sum of the lanes of acc in the vector back end's fixed tree (halves added
    lane-wise, ``_ir.lane_sum``); acc is overwritten, then zeroed for the next sum."""
    h = acc.shape[0] // 2
    while h >= 1:
        for lane in range(h):
            acc[lane] = acc[lane] + acc[lane + h]
        h //= 2
    total = acc[0]
    for lane in range(acc.shape[0]):
        acc[lane] = 0.0
    return total


@jit(inline=True)
def sq_dist(X, i, C, j, s, acc):
    """Squared distance between row ``X[i]`` and corner ``C[j]`` times ``s``
    (the working scale, a power of two), in float64.

    The kernels pass the rows and corners as given (not their centred
    copies: the centring rounds each coordinate once, which can break ties
    and, next to a corner far from the mean corner, the gaps between
    corners). Summed in the order of the vector back end's ``_simd.sq_dist``
    (feature f into lane f mod len(acc), in order, then the lanes in a fixed
    tree), with plain multiplies and adds, so that both give the same bits.
    Each difference is multiplied by ``s`` (exact) before it is squared, so
    that the squares neither underflow nor overflow for data far from unit
    scale. acc: scratch of ``lanes(dtype)`` float64 zeros (left zero).
    """
    W = lanes(X.dtype)  # a constant: the lane loop is vectorized
    d = X.shape[1]
    base = d - d % W
    for f0 in range(0, base, W):
        for lane in range(W):
            e = (np.float64(X[i, f0 + lane]) - np.float64(C[j, f0 + lane])) * s
            acc[lane] += e * e
    for lane in range(d - base):  # the last features, into the first lanes
        e = (np.float64(X[i, base + lane]) - np.float64(C[j, base + lane])) * s
        acc[lane] += e * e
    return lane_tree_sum(acc)


@jit(inline=True)
def _store(labels, dist2, i, bi, bd, zero):
    """Write row i's answer; 1 if not finite. The distance is rounded once to
    the data's dtype at the working scale: the driver multiplies it by
    ``inv2`` in float64 (a power of two: the same value where the data's
    dtype holds the product, and no underflow to 0 or overflow to inf for
    float32 data far from unit scale)."""
    labels[i] = bi
    dist2[i] = bd
    v = dist2[i]
    return 0 if v - v == zero else 1


@jit(inline=True)
def _no_candidate(labels, dist2, i, zero):
    """Row i had no candidate (not finite): label -1, for the driver to redo."""
    labels[i] = -1
    dist2[i] = zero
    return 1


# --------------------------------------------------------------------------
# direct distances (small problems, both back ends)
# --------------------------------------------------------------------------


@jit()
def _rows_direct(X, start, stop, a, s, t, labels, dist2):
    """Rows ``start .. stop`` with every distance computed directly.

    a: :class:`._layout.DirectArgs`; s: :class:`DirectScratch`. Rows are
    taken in chunks held feature-major (``s.rows[t]``: at most DIRECT_FLOATS
    values, so they stay in L1), and every corner updates a running minimum
    and runner-up over the chunk's rows at once (vectorized, branch-free); a
    strict ``<`` in corner order gives ties to the lowest index, and a row
    whose distances are never finite keeps -1. Those distances are the
    centred copies', in the data's dtype: within ``mscale (distance + |x|^2
    + cmax)`` of the exact ones. A row whose runner-up is within that margin
    of its minimum is measured again to every corner in float64 from the row
    and corners as given (:func:`_direct_again`), and every other row's
    distance to its corner is measured so too (:func:`_direct_one`). In
    float32, a row far from the corners (1e8 times their spread away) loses
    the corners' differences in its own rounding, and next to a corner far
    from the mean corner the centring rounds away the gaps between corners:
    both are decided by the second look. Returns the rows with label -1 or a
    distance that is not finite.
    """
    d = X.shape[1]
    center = a.center
    scale = a.scale
    Cc = a.Cc
    k = Cc.shape[0]
    zero = a.one - a.one
    near = a.one + a.mscale
    reach = a.mscale * a.cmax
    xt, sq, best, second, idx, margin = (s.rows[t], s.sq[t], s.best[t], s.second[t], s.idx[t],
                                         s.margin[t])
    rows = xt.shape[1]
    nbad = 0
    for r0 in range(start, stop, rows):
        m = stop - r0 if stop - r0 < rows else rows
        for i in range(m):
            q = zero
            for f in range(d):
                v = (X[r0 + i, f] - center[f]) * scale
                xt[f, i] = v
                q += v * v
            margin[i] = reach + a.mscale * q
            best[i] = np.inf
            second[i] = np.inf
            idx[i] = -1
        for c in range(k):
            x0 = xt[0]
            c0 = Cc[c, 0]
            for i in range(m):
                u = x0[i] - c0
                sq[i] = u * u
            f = 1
            while f + 3 < d:  # four features per sweep, still summed in order
                xa, xb, xc, xd = xt[f], xt[f + 1], xt[f + 2], xt[f + 3]
                ca, cb, cc, cd = Cc[c, f], Cc[c, f + 1], Cc[c, f + 2], Cc[c, f + 3]
                for i in range(m):
                    ua = xa[i] - ca
                    ub = xb[i] - cb
                    uc = xc[i] - cc
                    ud = xd[i] - cd
                    sq[i] = sq[i] + ua * ua + ub * ub + uc * uc + ud * ud
                f += 4
            while f < d:
                xf = xt[f]
                cf = Cc[c, f]
                for i in range(m):
                    u = xf[i] - cf
                    sq[i] += u * u
                f += 1
            ci = idx.dtype.type(c)
            for i in range(m):
                v = sq[i]
                b = best[i]
                better = v < b
                runner = v if v < second[i] else second[i]
                second[i] = b if better else runner
                best[i] = v if better else b
                idx[i] = ci if better else idx[i]
        for i in range(m):
            if idx[i] < 0:  # never a finite distance
                nbad += _no_candidate(labels, dist2, r0 + i, zero)
            elif second[i] <= best[i] * near + margin[i]:
                bi, bd = _direct_again(X, r0 + i, a.C, a.s64)
                nbad += _store(labels, dist2, r0 + i, bi, bd, zero)
            else:
                bd = _direct_one(X, r0 + i, a.C, idx[i], a.s64)
                nbad += _store(labels, dist2, r0 + i, idx[i], bd, zero)
    return nbad


@jit(inline=True)
def _direct_one(X, i, C, c, s):
    """Squared distance of row i of X to corner c times s (the working scale,
    applied to each difference before it is squared), in float64 in feature order."""
    v = 0.0
    for f in range(X.shape[1]):
        u = (np.float64(X[i, f]) - np.float64(C[c, f])) * s
        v += u * u
    return v


@jit(inline=True)
def _direct_again(X, i, C, s):
    """(nearest corner, squared distance times s^2) of row i of X, every corner
    of C measured in float64 in feature order (ties: the lowest)."""
    bi, bd = 0, np.inf
    for c in range(C.shape[0]):
        v = _direct_one(X, i, C, c, s)
        if v < bd:
            bi, bd = c, v
    return bi, bd


_direct_parallel = parallel_over_blocks(_rows_direct, "_direct_parallel")


# --------------------------------------------------------------------------
# portable back end: matrix products per chunk of rows, loops over rows
# --------------------------------------------------------------------------


@jit(inline=True)
def chunk_products(X, r0, stop, center, scale, W, xc, xx, A, best, lo, hi, count):
    """Portable back end: the next chunk of rows, centred and scaled, and their products;
    returns its row count m (at most PORTABLE_ROWS).

    out (one scratch slot): xc (R, d) the rows (zero rows past m), xx (R,)
    their squared norms, A (k, R) = W xc.T, the products with the corners
    times -2 (one matrix product, BLAS; the rows' transpose is read in place);
    best = inf, lo = count, hi = -1 (R = PORTABLE_ROWS).
    """
    R = PORTABLE_ROWS  # a constant: loops of known length
    m = stop - r0 if stop - r0 < R else R
    zero = scale - scale
    for i in range(R):
        q = zero
        if i < m:
            for f in range(X.shape[1]):
                v = (X[r0 + i, f] - center[f]) * scale
                xc[i, f] = v
                q += v * v
        else:
            for f in range(X.shape[1]):
                xc[i, f] = zero
        xx[i] = q
        best[i] = np.inf
        lo[i] = count
        hi[i] = -1
    np.dot(W, xc.T, A)
    return m


@jit(inline=True)
def candidate_ranges(A, count, xx, mscale, cmax, thr, lo, hi):
    """Portable back end: thresholds and each row's first and last candidate.

    in: A (>= count, R) expanded distances, one row per corner or segment;
    thr (R,) each row's minimum, which becomes the threshold (plus the margin
    mscale (|x|^2 + cmax)). out: lo, hi (R,) the first and last j with
    A[j, i] <= thr[i] (unchanged if none).
    """
    for i in range(PORTABLE_ROWS):
        thr[i] = thr[i] + mscale * (xx[i] + cmax)
    for j in range(count):
        jj = lo.dtype.type(j)
        for i in range(PORTABLE_ROWS):
            hit = A[j, i] <= thr[i]
            lo[i] = (jj if jj < lo[i] else lo[i]) if hit else lo[i]
            hi[i] = jj if hit else hi[i]


@jit()
def _rows_portable(X, start, stop, a, s, t, labels, dist2):
    """Rows ``start .. stop`` on the portable back end.

    Per chunk of PORTABLE_ROWS rows: the products with all corners in one
    matrix product (:func:`chunk_products`), then for every corner a loop
    over the rows adds |c|^2 and keeps each row's minimum, the candidate
    ranges (:func:`candidate_ranges`), and the candidates re-checked with
    :func:`sq_dist`. Returns the rows with label -1 or a distance that is not
    finite.
    """
    C = a.C
    s64 = a.s64
    cc = a.cc
    k = C.shape[0]
    zero = a.one - a.one
    xc, xx, A, thr, lo, hi, acc = (s.rows[t], s.norms[t], s.A[t], s.best[t], s.lo[t], s.hi[t],
                                   s.acc[t])
    nbad = 0
    for r0 in range(start, stop, PORTABLE_ROWS):
        m = chunk_products(X, r0, stop, a.center, a.scale, a.W, xc, xx, A, thr, lo, hi, k)
        for c in range(k):
            cc_c = cc[c]
            for i in range(PORTABLE_ROWS):
                v = A[c, i] + cc_c
                A[c, i] = v
                thr[i] = v if v < thr[i] else thr[i]
        candidate_ranges(A, k, xx, a.mscale, a.cmax, thr, lo, hi)
        for r in range(m):
            if hi[r] < 0:  # not finite: no candidate
                nbad += _no_candidate(labels, dist2, r0 + r, zero)
                continue
            # every candidate again, directly from the row and corners as given,
            # in increasing order; ties: the lower
            bi, bd = lo[r], 0.0
            for j in range(lo[r], hi[r] + 1):
                if j == lo[r] or A[j, r] <= thr[r]:
                    v = sq_dist(X, r0 + r, C, j, s64, acc)
                    if j == lo[r] or v < bd:
                        bi, bd = j, v
            nbad += _store(labels, dist2, r0 + r, bi, bd, zero)
    return nbad


# --------------------------------------------------------------------------
# vector back end: tiles of 8 rows through the IR kernels
# --------------------------------------------------------------------------


@jit()
def _rows_simd(X, start, stop, a, s, t, labels, dist2):
    """Rows ``start .. stop`` on the vector back end (C-contiguous X).

    Per tile: the rows centred and scaled (:func:`._ir.tile_rows`), every
    row's expanded distances, threshold and first and last candidate at once
    (:func:`._simd.tile_nearest`), then each row's candidates directly
    (:func:`._simd.sq_dist`), usually one.
    """
    center = a.center
    scale = a.scale
    W = a.W
    cc = a.cc
    mscale = a.mscale
    cmax = a.cmax
    C = a.C
    s64 = a.s64
    zero = a.one - a.one
    xc, xx, A, thr, first, last = s.rows[t], s.norms[t], s.A[t], s.best[t], s.lo[t], s.hi[t]
    nbad = 0
    for t0 in range(start, stop, TILE):
        nr = stop - t0 if stop - t0 < TILE else TILE
        tile_rows(X, t0, nr, center, scale, xc, xx)
        _simd.tile_nearest(xc, xx, W, cc, mscale, cmax, A, thr, first, last)
        for r in range(nr):
            lo = first[r]
            hi = last[r]
            i = t0 + r
            if hi < 0:  # not finite: no candidate
                nbad += _no_candidate(labels, dist2, i, zero)
                continue
            # every candidate again, directly from the row and corners as given,
            # in increasing order; ties: the lower
            bi, bd = lo, 0.0
            for j in range(lo, hi + 1):
                if j == lo or A[r, j] <= thr[r]:
                    v = _simd.sq_dist(X, i, C, j, s64)
                    if j == lo or v < bd:
                        bi, bd = j, v
            nbad += _store(labels, dist2, i, bi, bd, zero)
    return nbad


_simd_parallel = parallel_over_blocks(_rows_simd, "_simd_parallel")
_portable_parallel = parallel_over_blocks(_rows_portable, "_portable_parallel")

#: (rows kernel, parallel kernel) per path; the rows kernel serves serial calls
KERNELS = {"direct": (_rows_direct, _direct_parallel),
           "portable": (_rows_portable, _portable_parallel),
           "simd": (_rows_simd, _simd_parallel)}

#: work arrays, one slot per thread (leading axis): rows of a tile or chunk,
#: their squared norms, products or expanded distances A, minima/thresholds
#: best, candidate ranges lo and hi, the re-check's float64 lanes acc, and V,
#: the projection's segment values
Scratch = namedtuple("Scratch", "rows norms A best lo hi acc V")

#: work arrays of the direct kernel, one slot per thread: the rows
#: feature-major, their squared distances to one corner, minima, runners-up,
#: labels and each row's rounding margin
DirectScratch = namedtuple("DirectScratch", "rows sq best second idx margin")


def scratch(which, slots, a):
    """Preallocated work arrays, one slot per thread, for kernel path ``which``.

    Allocated here (NumPy) rather than in the kernels: every allocation inside
    a kernel is one more numba function to compile on first use. Each array
    is also one more value to unbox per call and more code to compile: a
    kernel gets the ones it reads (V is a placeholder here).
    """
    k, d = a.Cc.shape
    dt = a.Cc.dtype
    ints = lane_ints(dt)
    if which == "direct":
        rows = min(BLOCK, max(16, DIRECT_FLOATS // d))
        return DirectScratch(np.empty((slots, d, rows), dt), np.empty((slots, rows), dt),
                             np.empty((slots, rows), dt), np.empty((slots, rows), dt),
                             np.empty((slots, rows), ints), np.empty((slots, rows), dt))
    if which == "portable":
        rows = PORTABLE_ROWS
        shape, na = (rows, d), (k, rows)
    else:
        rows = TILE
        shape, na = (TILE, d), (TILE, a.cc.shape[0])
    return Scratch(np.empty((slots,) + shape, dt), np.empty((slots, rows), dt),
                   np.empty((slots,) + na, dt), np.empty((slots, rows), dt),
                   np.empty((slots, rows), ints), np.empty((slots, rows), ints),
                   np.zeros((slots, lanes(dt)), np.float64), np.empty((1, 1, 1), dt))


# --------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------


def path(k, d, backend):
    """The kernel that serves k corners of d features on ``backend``."""
    return "direct" if direct(k, d) else backend


def failed_rows(X, index, *values):
    """Rows a kernel could not compare: index -1, or (float32) a non-finite result.

    A row far outside the corners' scale can overflow float32 even when the
    comparison succeeded; it is redone in float64 too.
    """
    bad = index < 0
    if X.dtype == np.float32:  # float64 has no wider dtype to redo rows in
        for v in values:
            bad |= ~np.isfinite(v)
    return np.flatnonzero(bad) if bad.any() else None


def nearest_corner(X, C, backend, kernel=None, k_path=None, out=None):
    """(labels, squared distances, clean) of every row of X to its nearest corner.

    Exact nearest corner (ties to the lowest index). Distances in float64:
    computed in the dtype of X at the corners' working scale, rounded once
    to that dtype there, then scaled back in float64 (exact), so that float32
    data of any unit keeps them (its squares would under- or overflow float32
    beyond about 2^-75 or 2^64). A float32 row whose distances overflow even
    at the working scale is redone in float64; a row that is not finite gets
    label 0 and distance inf. ``clean``: no row was redone (every distance
    finite). ``kernel``: force "serial" or "parallel" (tests). ``k_path``:
    the number of corners that chooses the kernel (:func:`path`; default:
    C's), so that a trainer's stages with fewer corners run the kernel of
    its final count: the one ``predict`` uses, and no other to compile.
    ``out``: a float64 array of X's rows to write the distances into.
    """
    C = np.asarray(C, dtype=X.dtype)
    n = X.shape[0]
    which = path(C.shape[0] if k_path is None else k_path, X.shape[1], backend)
    if which == "simd" and not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    X = readonly(X)
    args = direct_args(C) if which == "direct" else nearest_args(C, which)
    if kernel is None:
        kernel = "serial" if serial(n * C.shape[0] * (X.shape[1] + 8)) else "parallel"
    rows_kernel, parallel_kernel = KERNELS[which]
    labels = np.empty(n, dtype=np.intp)
    dist2 = np.empty(n, dtype=X.dtype)
    with parallel_slot(kernel == "parallel") as parallel:
        if parallel:
            s = scratch(which, numba.get_num_threads(), args)
            nbad = parallel_kernel(X, args, s, labels, dist2)
        else:
            nbad = (rows_kernel(X, 0, n, args, scratch(which, 1, args), 0, labels, dist2)
                    if n else 0)
    bad = failed_rows(X, labels, dist2) if nbad else None
    # back from the working scale: times a power of two (exact), in float64
    with np.errstate(over="ignore"):  # beyond float64 (rows ~2^512 away): inf, as meant
        dist2 = np.multiply(dist2, args.inv2, out=out, dtype=np.float64)
    if bad is not None:
        if X.dtype == np.float32:
            lab64, d64, _ = nearest_corner(X[bad].astype(np.float64), C.astype(np.float64),
                                           backend, k_path=k_path)
        else:
            lab64, d64 = np.full(len(bad), -1), np.zeros(len(bad))
        lost = lab64 < 0
        lab64[lost] = 0
        d64[lost] = np.inf
        labels[bad] = lab64
        dist2[bad] = d64
    return labels, dist2, nbad == 0
