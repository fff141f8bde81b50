"""Exact projection onto the curve and points at given positions (Numba).

Same conventions as :mod:`._kernels` (dtype kept, rows independent, inputs
centred and scaled by :func:`._kernels._centred`).
"""

import numba
import numpy as np
from numba import prange

from ._kernels import (_BLOCK, _SPAN, _TILE, _as_float, _block_dots, _candidates, _centred,
                       _failed, _jit, _row_min_bits, _segment_exact, _serial)


@_jit()
def _project_block(X, b, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale,
                   one, key, pos, seg, dist2):
    """:func:`project_to_curve` for the rows of block ``b`` (``_BLOCK`` rows)."""
    n, d = X.shape
    k = Cc.shape[0]
    kp = CT.shape[1]
    nseg = k - 1
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
    A = np.empty(nseg, dtype=Cc.dtype)
    Ai = A.view(key.dtype)
    kb = np.empty(1, dtype=key.dtype)
    kf = kb.view(Cc.dtype)
    cand = np.empty(nseg, dtype=np.intp)
    for t0 in range(start, stop, _TILE):
        nr = min(_TILE, stop - t0)
        _block_dots(X, t0, nr, center, scale, CT, xc, Gf, G, xx)
        for r in range(nr):
            g = G[r]
            for j in range(nseg):
                gj = g[j]
                a = g[j + 1] - gj - cd[j]
                lam = a * inv_dd[j]
                lam = lam if lam > zero else zero
                lam = lam if lam < one else one
                A[j] = cc[j] - two * gj - lam * (two * a - lam * dd[j])
            threshold = _row_min_bits(Ai, nseg, key, kb, kf) + mscale * (xx[r] + cmax)
            bj = -1
            bd = zero
            bl = zero
            for q in range(_candidates(A, nseg, threshold, cand)):
                j = cand[q]
                v, lam = _segment_exact(xc, r, Cc, Dseg, inv_dd, j, zero, one)
                if bj < 0 or v < bd:
                    bj = j
                    bd = v
                    bl = lam
            if bj < 0:  # not finite: no candidate compared
                seg[t0 + r] = -1
                pos[t0 + r] = zero
                dist2[t0 + r] = zero
                continue
            # a projection onto the far end of a segment is the next corner:
            # report it as (j + 1, 0) so that positions are unique.
            if bl >= one and bj + 1 < nseg:
                bj += 1
                bl = zero
            seg[t0 + r] = bj
            pos[t0 + r] = bj + bl
            dist2[t0 + r] = bd * inv2


@_jit(parallel=True)
def project_to_curve(X, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale,
                     one, key, pos, seg, dist2):
    """Exact nearest point of the polyline through the corners, for every row.

    in: X (n, d); center (d,); Cc (k, d) centred corners; CT (d, kp) as for
    :func:`nearest_corner`; cc (k,);
    Dseg (k-1, d) segment vectors c_{j+1} - c_j; cd (k-1,) c_j . d_j (centred);
    dd (k-1,) |d_j|^2; inv_dd (k-1,) 1/|d_j|^2 or 0 for zero-length segments;
    cmax = max(cc); mscale = 8 (d + 2) eps; ``one`` = 1 (dtype of X).
    out: pos (n,) position j + lambda; seg (n,) segment index j;
    dist2 (n,) squared distance to the curve.
    Corners and segment constants scaled as for :func:`nearest_corner`.
    Requires k >= 2. A row whose distances are not finite gets segment -1.
    """
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    for b in prange(nblocks):
        _project_block(X, b, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax,
                       mscale, one, key, pos, seg, dist2)


@_jit()
def project_to_curve_serial(X, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax,
                            mscale, one, key, pos, seg, dist2):
    """:func:`project_to_curve` in the calling thread (no parallel launch)."""
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    for b in range(nblocks):
        _project_block(X, b, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax,
                       mscale, one, key, pos, seg, dist2)


@_jit()
def _points_block(pos, C, b, out):
    """:func:`points_on_curve` for the positions of block ``b``."""
    n = pos.shape[0]
    k, d = C.shape
    for i in range(b * _BLOCK, min(b * _BLOCK + _BLOCK, n)):
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


@_jit(parallel=True)
def points_on_curve(pos, C, out):
    """Points of the polyline at positions ``pos`` (already within [0, k-1]).

    in: pos (n,); C (k, d). out: out (n, d).
    """
    for b in prange((pos.shape[0] + _BLOCK - 1) // _BLOCK):
        _points_block(pos, C, b, out)


@_jit()
def points_on_curve_serial(pos, C, out):
    """:func:`points_on_curve` in the calling thread."""
    for b in range((pos.shape[0] + _BLOCK - 1) // _BLOCK):
        _points_block(pos, C, b, out)


def project(X, C):
    """(positions, segments, squared distances) of the exact projection of X onto the curve.

    Exact over all ``k - 1`` segments (ties to the lowest segment), in the
    dtype of X; non-finite rows are handled as in :func:`assign_corners`
    (position 0, distance inf).
    """
    C = _as_float(X, C)
    n = X.shape[0]
    pos = np.empty(n, dtype=X.dtype)
    seg = np.zeros(n, dtype=np.intp)
    if C.shape[0] == 1:
        pos[:] = 0
        dist2 = np.sum((X - C[0]) ** 2, axis=1).astype(X.dtype, copy=False)
        return pos, seg, dist2
    center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key = _centred(C)
    Dseg = np.ascontiguousarray(np.diff(Cc, axis=0))
    dd = np.einsum("ij,ij->i", Dseg, Dseg)
    cd = np.einsum("ij,ij->i", Cc[:-1], Dseg)
    inv_dd = np.zeros_like(dd)
    np.divide(one, dd, out=inv_dd, where=dd > 0)
    dist2 = np.empty(n, dtype=X.dtype)
    kernel = project_to_curve_serial if _serial(n, *C.shape) else project_to_curve
    kernel(X, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale, one, key,
           pos, seg, dist2)
    bad = _failed(X, seg, pos, dist2)
    if bad is not None:
        if X.dtype == np.float32:
            p64, s64, d64 = project(X[bad].astype(np.float64), C.astype(np.float64))
        else:
            p64, s64, d64 = np.zeros(len(bad)), np.full(len(bad), -1), np.zeros(len(bad))
        lost = s64 < 0
        p64[lost] = 0
        s64[lost] = 0
        d64[lost] = np.inf
        pos[bad] = p64.astype(X.dtype)
        seg[bad] = s64
        with np.errstate(over="ignore"):
            dist2[bad] = d64.astype(X.dtype)
    return pos, seg, dist2


def curve_points(pos, C):
    """Points of the polyline through C at positions ``pos`` (in [0, k-1])."""
    out = np.empty((pos.shape[0], C.shape[1]), dtype=C.dtype)
    serial = numba.get_num_threads() == 1 or out.size < (1 << 18)
    kernel = points_on_curve_serial if serial else points_on_curve
    kernel(np.ascontiguousarray(pos, dtype=C.dtype), C, out)
    return out
