"""Exact projection onto the curve, and points at given positions, on either back end.

Same conventions as :mod:`._nearest` (dtype kept, rows independent, outputs
preallocated, scratch passed in). Inputs come as a
:class:`._layout.ProjectionArgs`.

The projection of a row x onto segment j (from corner c_j to c_{j+1}, d_j =
c_{j+1} - c_j) needs only the dot products g_j = -2 x.c_j:

    u_j = g_j - g_{j+1} - 2 c_j.d_j          (= 2 (x - c_j).d_j)
    lam_j = clamp(u_j / (2 |d_j|^2), 0, 1)
    A_j = |c_j|^2 + g_j - lam_j (u_j - lam_j |d_j|^2)   (= |x - p_j|^2 - |x|^2)

so, as for the nearest corner, the products of the rows with all corners
come first (one matrix product per chunk of rows on the portable back end,
the register-blocked IR kernel per tile of 8 rows on the vector one), then
one pass over the segments gives every A_j with each row's minimum, and a
second pass each row's first and last candidate (A_j within the rounding
margin of the minimum). Every candidate is evaluated again directly from the
rows and corners as given (not their centred copies), in float64
(:func:`segment_exact`, the same order on both back ends), so the projection
and its distance are exact to working precision, with ties to the lowest
segment, and the same on both back ends.
"""

import numba
import numpy as np
from numba import prange

from . import _simd
from ._ir import tile_products, tile_rows
from ._layout import (BLOCK, PORTABLE_ROWS, SEGMENT_PAD, TILE, lane_ints, lanes, like, panel,
                      projection_args)
from ._nearest import Scratch, candidate_ranges, chunk_products, failed_rows, lane_tree_sum
from ._numba import jit, parallel_over_blocks, parallel_slot, readonly, serial


@jit(inline=True)
def segment_exact(X, i, C, j, len2, s, zero, one, acc):
    """Exact projection of row ``X[i]`` onto the segment from ``C[j]`` to
    ``C[j+1]``: (squared distance times s^2, lambda), from the coordinates
    as given.

    In float64, summed in the order of the vector back end's
    ``_simd.segment_exact`` (feature f into lane f mod len(acc), then the
    lanes in a fixed tree; plain multiplies and adds), rounded once to the
    dtype of the data; with e = (x - c_j) s and d = (c_{j+1} - c_j) s (s:
    the working scale, a power of two: exact), lambda = e.d / len2[j]
    clamped to [0, 1] (``len2``: the float64 |d_j|^2 both back ends read;
    as the vector back end's division: 0 / 0 gives 0, e.d / 0 gives 1 or 0
    by the sign of e.d), distance = |e - lambda d|^2.
    """
    W = lanes(X.dtype)  # a constant: the lane loops are vectorized
    d = X.shape[1]
    base = d - d % W
    for f0 in range(0, base, W):
        for lane in range(W):
            f = f0 + lane
            c = np.float64(C[j, f])
            acc[lane] += ((np.float64(X[i, f]) - c) * s) * ((np.float64(C[j + 1, f]) - c) * s)
    for lane in range(d - base):  # the last features, into the first lanes
        f = base + lane
        c = np.float64(C[j, f])
        acc[lane] += ((np.float64(X[i, f]) - c) * s) * ((np.float64(C[j + 1, f]) - c) * s)
    num = lane_tree_sum(acc)
    den = len2[j]
    if den > 0.0:
        lam = num / den
    elif den == 0.0:  # the IR's e.d / 0: +inf, -inf or NaN (0 / 0)
        lam = 1.0 if num > 0.0 else 0.0
    else:
        lam = 0.0
    lam = lam if lam > 0.0 else 0.0
    lam = lam if lam < 1.0 else 1.0
    for f0 in range(0, base, W):
        for lane in range(W):
            f = f0 + lane
            c = np.float64(C[j, f])
            w = (np.float64(X[i, f]) - c) * s - lam * ((np.float64(C[j + 1, f]) - c) * s)
            acc[lane] += w * w
    for lane in range(d - base):
        f = base + lane
        c = np.float64(C[j, f])
        w = (np.float64(X[i, f]) - c) * s - lam * ((np.float64(C[j + 1, f]) - c) * s)
        acc[lane] += w * w
    return like(zero, lane_tree_sum(acc)), like(zero, lam)


@jit(inline=True)
def _store(pos, seg, dist2, i, j, v, lam, nseg, one):
    """Write row i's projection (segment j, lambda lam, distance v); 1 if not finite.

    A projection onto the far end of a segment is reported as the start of
    the next one (j + 1, 0), so that positions are unique (nseg: the number
    of segments). The distance stays at the working scale, rounded once to
    the data's dtype: the driver scales it back in float64 (as the nearest
    corner's, :func:`._nearest._store`).
    """
    zero = one - one
    far = (lam >= one) & (j + 1 < nseg)
    j = j + 1 if far else j
    lam = zero if far else lam
    seg[i] = j
    pos[i] = j + lam
    dist2[i] = v
    w = dist2[i]
    return 0 if w - w == zero else 1


@jit(inline=True)
def _no_candidate(pos, seg, dist2, i, zero):
    """Row i had no candidate (not finite): segment -1, for the driver to redo."""
    seg[i] = -1
    pos[i] = zero
    dist2[i] = zero
    return 1


@jit()
def _rows_portable(X, start, stop, a, s, t, pos, seg, dist2):
    """Rows ``start .. stop`` on the portable back end.

    Per chunk of rows: G = W xc.T (k, R) in one matrix
    product, then the segment pass row of segments by row of segments into V
    (segment j reads g_j and g_{j+1}; written in place, the loop would not be
    vectorized: 8x slower), each row's minimum, candidate range, and the
    candidates re-checked.
    """
    one = a.one
    nseg = a.C.shape[0] - 1
    zero = one - one
    xc, xx, G, V, thr, lo, hi, acc = (s.rows[t], s.norms[t], s.A[t], s.V[t], s.best[t],
                                      s.lo[t], s.hi[t], s.acc[t])
    nbad = 0
    for r0 in range(start, stop, PORTABLE_ROWS):
        m = chunk_products(X, r0, stop, a.center, a.scale, a.W, xc, xx, G, thr, lo, hi, nseg)
        for j in range(nseg):
            cc = a.cc[j]
            cd2 = a.cd2[j]
            dd = a.dd[j]
            ih = a.ih[j]
            g = G[j]
            g1 = G[j + 1]
            out = V[j]  # out of place: the loop is vectorized
            for i in range(PORTABLE_ROWS):
                h = g[i]
                u = h - g1[i] - cd2
                lam = u * ih
                lam = lam if lam > zero else zero
                lam = lam if lam < one else one
                v = cc + h - lam * (u - lam * dd)
                out[i] = v
                thr[i] = v if v < thr[i] else thr[i]
        candidate_ranges(V, nseg, xx, a.mscale, a.cmax, thr, lo, hi)
        for r in range(m):
            if hi[r] < 0:  # not finite: no candidate
                nbad += _no_candidate(pos, seg, dist2, r0 + r, zero)
                continue
            # every candidate again, directly, in increasing order; ties: the lower
            bj, bd, bl = lo[r], zero, zero
            for j in range(lo[r], hi[r] + 1):
                if j == lo[r] or V[j, r] <= thr[r]:
                    v, lam = segment_exact(X, r0 + r, a.C, j, a.len2, a.s64, zero, one, acc)
                    if j == lo[r] or v < bd:
                        bj, bd, bl = j, v, lam
            nbad += _store(pos, seg, dist2, r0 + r, bj, bd, bl, nseg, one)
    return nbad


@jit()
def _rows_simd(X, start, stop, a, s, t, pos, seg, dist2):
    """Rows ``start .. stop`` on the vector back end (C-contiguous X): per tile the
    rows (:func:`._ir.tile_rows`), their products (:func:`._ir.tile_products`),
    the segment pass (:func:`._simd.tile_pass`), then each row's candidates."""
    center = a.center
    scale = a.scale
    W = a.W
    cc = a.cc
    cd2 = a.cd2
    dd = a.dd
    ih = a.ih
    mscale = a.mscale
    cmax = a.cmax
    C = a.C
    s64 = a.s64
    len2 = a.len2
    one = a.one
    nseg = C.shape[0] - 1
    zero = one - one
    xc, xx, G, thr, A, first, last = (s.rows[t], s.norms[t], s.A[t], s.best[t], s.V[t],
                                      s.lo[t], s.hi[t])
    nbad = 0
    for t0 in range(start, stop, TILE):
        nr = stop - t0 if stop - t0 < TILE else TILE
        tile_rows(X, t0, nr, center, scale, xc, xx)
        tile_products(xc, W, G)
        _simd.tile_pass(G, xx, cc, cd2, dd, ih, mscale, cmax, one, A, thr, first, last)
        for r in range(nr):
            lo = first[r]
            hi = last[r]
            if hi < 0:  # not finite: no candidate
                nbad += _no_candidate(pos, seg, dist2, t0 + r, zero)
                continue
            bj, bd, bl = lo, zero, zero
            for j in range(lo, hi + 1):
                if j == lo or A[r, j] <= thr[r]:
                    v, lam = _simd.segment_exact(X, t0 + r, C, j, len2, s64, zero, one)
                    if j == lo or v < bd:
                        bj, bd, bl = j, v, lam
            nbad += _store(pos, seg, dist2, t0 + r, bj, bd, bl, nseg, one)
    return nbad


_portable_parallel = parallel_over_blocks(_rows_portable, "_portable_parallel")
_simd_parallel = parallel_over_blocks(_rows_simd, "_simd_parallel")

#: (rows kernel, parallel kernel) per back end; the rows kernel serves serial calls
KERNELS = {"portable": (_rows_portable, _portable_parallel),
           "simd": (_rows_simd, _simd_parallel)}


def scratch(backend, slots, a):
    """Preallocated work arrays, one slot per thread (see :class:`._nearest.Scratch`).

    simd: rows (TILE, d), norms, products G (TILE, packed columns + SEGMENT_PAD:
    room for the padded segments' far corner), thresholds, first, last, and
    the segment values V (TILE, padded segments).
    portable: rows (R, d), norms, G (k, R), thresholds, lo, hi, acc and the
    segment values V (k, R).
    """
    k, d = a.Cc.shape
    dt = a.Cc.dtype
    ints = lane_ints(dt)
    if backend == "simd":
        R = TILE
        ncol = (a.W.shape[0] // d) * panel(dt) + SEGMENT_PAD
        rows, G, V = (TILE, d), (TILE, ncol), (TILE, a.cc.shape[0])
    else:
        R = PORTABLE_ROWS
        rows, G, V = (R, d), (k, R), (k, R)
    Gs = np.zeros((slots,) + G, dt)  # simd: the columns past the corners stay 0
    return Scratch(np.empty((slots,) + rows, dt), np.empty((slots, R), dt), Gs,
                   np.empty((slots, R), dt), np.empty((slots, R), ints),
                   np.empty((slots, R), ints), np.zeros((slots, lanes(dt)), np.float64),
                   np.empty((slots,) + V, dt))


def project(X, C, backend, kernel=None, out=None):
    """(positions, segments, squared distances) of the exact projection of X onto the curve.

    Exact over all ``k - 1`` segments (ties to the lowest segment), in the
    dtype of X; distances in float64 (rounded once to X's dtype at the
    working scale, then scaled back: float32 data of any unit keeps them); a
    float32 row whose distances overflow even at the working scale is redone
    in float64, and a row that is not finite gets position 0, segment 0 and
    distance inf. ``kernel``: force "serial" or "parallel" (tests); ``out``:
    a float64 array of X's rows for the distances.
    """
    C = np.asarray(C, dtype=X.dtype)
    n, d = X.shape
    pos = np.empty(n, dtype=X.dtype)
    seg = np.empty(n, dtype=np.intp)
    if C.shape[0] == 1:
        seg[:] = 0
        pos[:] = 0
        dist2 = np.sum((X.astype(np.float64) - C[0]) ** 2, axis=1, out=out)
        dist2[~np.isfinite(X).all(axis=1)] = np.inf  # NaN rows too, as for k >= 2
        return pos, seg, dist2
    if backend == "simd" and not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    X = readonly(X)
    dist2 = np.empty(n, dtype=X.dtype)
    args = projection_args(C, backend)
    if kernel is None:
        kernel = "serial" if serial(n * C.shape[0] * (d + 8)) else "parallel"
    rows_kernel, parallel_kernel = KERNELS[backend]
    with parallel_slot(kernel == "parallel") as parallel:
        if parallel:
            nbad = parallel_kernel(X, args, scratch(backend, numba.get_num_threads(), args),
                                   pos, seg, dist2)
        else:
            nbad = (rows_kernel(X, 0, n, args, scratch(backend, 1, args), 0, pos, seg, dist2)
                    if n else 0)
    bad = failed_rows(X, seg, pos, dist2) if nbad else None
    # back from the working scale: times a power of two (exact), in float64
    with np.errstate(over="ignore"):  # beyond float64 (rows ~2^512 away): inf, as meant
        dist2 = np.multiply(dist2, args.inv2, out=out, dtype=np.float64)
    if bad is not None:
        if X.dtype == np.float32:
            p64, s64, d64 = project(X[bad].astype(np.float64), C.astype(np.float64), backend)
        else:
            p64, s64, d64 = np.zeros(len(bad)), np.full(len(bad), -1), np.zeros(len(bad))
        lost = s64 < 0
        p64[lost] = 0
        s64[lost] = 0
        d64[lost] = np.inf
        pos[bad] = p64.astype(X.dtype)
        seg[bad] = s64
        dist2[bad] = d64
    return pos, seg, dist2


# --------------------------------------------------------------------------
# points of the curve at given positions
# --------------------------------------------------------------------------


@jit()
def _points(pos, C, start, stop, out):
    """Points of the polyline at positions ``pos[start:stop]`` (already within [0, k-1])."""
    k, d = C.shape
    one = C.dtype.type(1)
    for i in range(start, stop):
        t = pos[i]
        if k == 1:
            for f in range(d):
                out[i, f] = C[0, f]
            continue
        j = min(max(int(np.floor(t)), 0), k - 2)
        lam = t - j
        # (1 - lam) c_j + lam c_{j+1}: exactly c_j at lam = 0 and c_{j+1} at lam = 1
        for f in range(d):
            out[i, f] = (one - lam) * C[j, f] + lam * C[j + 1, f]


@jit(parallel=True)
def _points_parallel(pos, C, out):
    n = pos.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        _points(pos, C, b * BLOCK, min(n, b * BLOCK + BLOCK), out)


def curve_points(pos, C):
    """Points of the polyline through C at positions ``pos`` (in [0, k-1])."""
    out = np.empty((pos.shape[0], C.shape[1]), dtype=C.dtype)
    pos, C = readonly(np.ascontiguousarray(pos, dtype=C.dtype)), readonly(C)
    with parallel_slot(numba.get_num_threads() > 1 and out.size >= (1 << 18)) as parallel:
        if parallel:
            _points_parallel(pos, C, out)
        else:
            _points(pos, C, 0, len(pos), out)
    return out
