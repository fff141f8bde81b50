"""Exact projection onto the curve and points at given positions (Numba).

Same conventions as :mod:`._kernels` (dtype kept, rows independent, inputs
centred and scaled by :func:`._kernels._centred`).

The projection of a row x onto segment j (from corner c_j to c_{j+1}, d_j =
c_{j+1} - c_j) needs only the dot products g_j = -2 x.c_j:

    u_j = g_j - g_{j+1} - 2 c_j.d_j          (= 2 (x - c_j).d_j)
    lam_j = clamp(u_j / (2 |d_j|^2), 0, 1)
    A_j = |x|^2 + |c_j|^2 + g_j - lam_j (u_j - lam_j |d_j|^2)   (= |x - p_j|^2)

so, as in :func:`._kernels.nearest_corner`, the dot products of a tile of
rows with all corners come first (:func:`._simd._tile_products_simd`, corners
pre-multiplied by -2, an exact power-of-two scaling), then one pass over the
segments computes every A_j - |x|^2 for all rows of the tile
(:func:`_tile_pass_simd`): a vector loop over segments whose constants are
padded to a multiple of ``_LANES`` entries (padding segments give NaN, never
a candidate), with each row's running minimum kept in vector lanes.

Every segment within a rounding margin of a row's minimum is a candidate: a
second vector loop finds the first and the last one (the middle ones, rare,
are tested one by one), and each candidate is evaluated again directly from
the coordinates (:func:`_segment_exact_simd`), so the projection and its
distance are exact to working precision, with ties to the lowest segment.
No buffer grows with the number of rows.

The inner kernels are written in LLVM IR (numba intrinsics, inlined where they
are called; those shared with the nearest corner, the rows of a tile and their
products with the corners, are in :mod:`._simd`) because numba's loop
vectorizer alone could not keep the dot products in registers, share the
segment constants between rows or vectorize a fixed-order sum; each has a
plain Python twin (``*_py``) that the kernels use when numba's JIT is disabled
and that the tests compare with. All summation orders are fixed, so results do
not depend on the number of threads.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._kernels import _as_float, _centred, _corner_panels, _failed, _jit, _serial
from ._simd import (  # noqa: F401 (the tile kernels are tested through this module too)
    _TILE, _candidate_range_py, _feature_sum, _hreduce, _panel, _tile_products,
    _tile_products_py, _tile_products_simd, _tile_rows, _tile_rows_simd)

#: Rows handled together by one thread (one parallel task).
_BLOCK = 256
#: Segment constants are padded to a multiple of this many entries.
_LANES = 16


# --------------------------------------------------------------------------
# direct evaluation of one segment, in vector lanes
# --------------------------------------------------------------------------


def _segment_exact_py(xc, r, Cc, Dseg, inv_dd, j, zero, one):
    """Exact projection of centred row ``xc[r]`` onto segment ``j``.

    Returns (squared distance, lambda in [0, 1]) in the dtype of the data,
    both computed directly from the coordinates, in float64: lambda = (x -
    c_j).d_j / |d_j|^2 clamped, distance = |x - c_j - lambda d_j|^2. This is
    the plain Python version (used when numba's JIT is disabled); compiled
    code uses :func:`_segment_exact_simd`.
    """
    e = xc[r].astype(np.float64) - Cc[j]
    D = Dseg[j].astype(np.float64)
    lam = min(max(float(e @ D) * float(inv_dd[j]), 0.0), 1.0)
    w = e - lam * D
    return zero + float(w @ w), zero + lam


@intrinsic
def _segment_exact_simd(typingctx, xc, r, Cc, Dseg, inv_dd, j, zero, one):
    """:func:`_segment_exact_py` in vector lanes (compiled code only).

    numba vectorizes loops but not a sum of a few dozen products with a fixed
    order (that needs reassociation, or the SLP vectorizer, which numba
    leaves off), so the two sums over features are written here in LLVM IR:
    lane i of a 16 (float32 data) or 8 (float64) lane vector sums features
    i, i + 16 (or 8), ... in order, the last partial vector of features goes
    into the first lanes, then the lanes are added in a fixed tree. Plain
    multiplies and adds (no fused multiply-add), so the result is the same
    on every machine and for any thread count. The arithmetic is in float64
    (float32 data is widened after loading, which costs nothing measurable
    here): two candidates whose distances differ by less than float32 can
    resolve are then told apart as in float64 before the result is rounded
    back, which keeps near-ties (a row near a corner, two segments) on the
    float64 answer. Inlined into the caller.
    """
    mats = (xc, Cc, Dseg)
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in mats):
        return None
    if not (isinstance(inv_dd, types.Array) and inv_dd.ndim == 1 and inv_dd.layout == "C"):
        return None
    dt = xc.dtype
    if not isinstance(dt, types.Float) or any(a.dtype != dt for a in (Cc, Dseg, inv_dd)):
        return None
    if zero != dt or one != dt:
        return None
    sig = types.UniTuple(dt, 2)(xc, r, Cc, Dseg, inv_dd, j, zero, one)

    def codegen(context, builder, signature, args):
        xc_v, r_v, cc_v, ds_v, inv_v, j_v, zero_v, one_v = args
        ta = signature.args
        xa = context.make_array(ta[0])(context, builder, xc_v)
        ca = context.make_array(ta[2])(context, builder, cc_v)
        da = context.make_array(ta[3])(context, builder, ds_v)
        ia = context.make_array(ta[4])(context, builder, inv_v)
        fty = context.get_value_type(dt)  # the data's type
        wty = ir.DoubleType()  # the working type
        width = 16 if dt.bitwidth == 32 else 8
        vty = ir.VectorType(fty, width)
        wvty = ir.VectorType(wty, width)
        align = dt.bitwidth // 8
        narrow = dt.bitwidth == 32

        def widen(v):
            return builder.fpext(v, wvty if isinstance(v.type, ir.VectorType) else wty) \
                if narrow else v

        r64 = context.cast(builder, r_v, ta[1], types.intp)
        j64 = context.cast(builder, j_v, ta[5], types.intp)
        d = builder.extract_value(xa.shape, 1)
        xrow = builder.gep(xa.data, [builder.mul(r64, d)])
        crow = builder.gep(ca.data, [builder.mul(j64, builder.extract_value(ca.shape, 1))])
        drow = builder.gep(da.data, [builder.mul(j64, builder.extract_value(da.shape, 1))])
        inv = widen(builder.load(builder.gep(ia.data, [j64])))

        def vload(row, off):
            ptr = builder.bitcast(builder.gep(row, [off]), vty.as_pointer())
            return widen(builder.load(ptr, align=align))

        def sload(row, off):
            return widen(builder.load(builder.gep(row, [off])))

        def lanes(term):
            """Lane-wise sums of term(x_f, c_f, d_f) over the features, then their sum."""
            return _feature_sum(builder, d, width, wvty, lambda off, vec: term(*(
                (vload if vec else sload)(row, off) for row in (xrow, crow, drow))))

        wzero = ir.Constant(wty, 0.0)
        wone = ir.Constant(wty, 1.0)
        lam = builder.fmul(lanes(lambda x, c, e: builder.fmul(builder.fsub(x, c), e)), inv)
        lam = builder.select(builder.fcmp_ordered(">", lam, wzero), lam, wzero)
        lam = builder.select(builder.fcmp_ordered("<", lam, wone), lam, wone)
        splat = builder.insert_element(ir.Constant(wvty, ir.Undefined), lam,
                                       ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(splat, splat, ir.Constant(
            ir.VectorType(ir.IntType(32), width), [0] * width))

        def residual(x, c, e):
            lm = splat if isinstance(x.type, ir.VectorType) else lam
            w = builder.fsub(builder.fsub(x, c), builder.fmul(lm, e))
            return builder.fmul(w, w)

        dist = lanes(residual)
        if narrow:
            dist = builder.fptrunc(dist, fty)
            lam = builder.fptrunc(lam, fty)
        return context.make_tuple(builder, signature.return_type, [dist, lam])

    return sig, codegen


#: what the kernels call: the vector version, or plain Python without the JIT
_segment_exact = _segment_exact_py if numba.config.DISABLE_JIT else _segment_exact_simd


# --------------------------------------------------------------------------
# the segment pass of a tile: expanded distances, minima, candidate ranges
# --------------------------------------------------------------------------


def _tile_pass_py(G, xx, ccp, cd2, ddp, ih, mscale, cmax, one, A, thr, first, last):
    """Expanded distances of the tile's rows to every (padded) segment, and candidates.

    in: G (_TILE, >= nsp + 1) products with the corners times -2; xx
    (_TILE,) squared row norms; segment constants from
    :func:`_segment_constants`; mscale, cmax: the rounding margin is mscale
    (|x|^2 + cmax).
    out: A (_TILE, nsp) the squared distances minus |x|^2 (NaN for the
    padding); thr (_TILE,) the smallest one (NaN values aside) plus the
    margin; first, last (_TILE,) the first and last segment with A <= thr
    (nsp and -1 if none; so for every segment when |x|^2 is not finite).
    Plain Python version (used when numba's JIT is disabled); compiled code
    uses :func:`_tile_pass_simd`.
    """
    nsp = ccp.shape[0]
    zero = one - one
    for r in range(G.shape[0]):
        h = G[r, :nsp]
        u = h - G[r, 1:nsp + 1] - cd2
        lam = np.minimum(np.maximum(u * ih, zero), one)
        v = ccp + h - lam * (u - lam * ddp)
        A[r] = v
        thr[r], first[r], last[r] = _candidate_range_py(v, mscale * (xx[r] + cmax))


@intrinsic
def _tile_pass_simd(typingctx, G, xx, ccp, cd2, ddp, ih, mscale, cmax, one, A, thr, first, last):
    """:func:`_tile_pass_py` for all rows of the tile at once (compiled code only).

    One vector loop over the segments computes the 8 rows' distances with
    each vector of segment constants loaded once (numba's loop over one
    row at a time loaded them per row and checked for overlapping arrays
    per row) and keeps each row's running minimum in vector lanes (a float
    minimum, which numba's loop vectorizer would not do without permission
    to ignore NaN: here a NaN never replaces a number); a second loop finds
    each row's first and last candidate in integer lanes as wide as the
    data. Leaving |x|^2 out of A saves an addition per value; the margin
    still scales with it. Inlined into the caller.
    """
    arrs2 = (G, A)
    arrs1 = (xx, ccp, cd2, ddp, ih, thr)
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in arrs2):
        return None
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
               for a in arrs1 + (first, last)):
        return None
    dt = G.dtype
    if not isinstance(dt, types.Float) or any(a.dtype != dt for a in arrs2 + arrs1):
        return None
    ity = types.int32 if dt.bitwidth == 32 else types.int64
    if first.dtype != ity or last.dtype != ity or mscale != dt or cmax != dt or one != dt:
        return None
    sig = types.none(G, xx, ccp, cd2, ddp, ih, mscale, cmax, one, A, thr, first, last)

    def codegen(context, builder, signature, args):
        ta = signature.args
        (Ga, xxa, cca, cda, dda, iha), (ms_v, cmax_v, one_v) = (
            [context.make_array(t)(context, builder, v) for t, v in zip(ta[:6], args[:6])],
            args[6:9])
        Aa, thra, fa, la = (context.make_array(t)(context, builder, v)
                            for t, v in zip(ta[9:], args[9:]))
        intp = context.get_value_type(types.intp)
        fty = context.get_value_type(dt)
        ilty = context.get_value_type(ity)
        width = 16 if dt.bitwidth == 32 else 8
        vty = ir.VectorType(fty, width)
        ivty = ir.VectorType(ilty, width)
        align = dt.bitwidth // 8
        i32 = ir.IntType(32)
        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty, vty, vty]),
            f"llvm.fmuladd.v{width}f{dt.bitwidth}")
        fmuladd1 = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(fty, [fty, fty, fty]), f"llvm.fmuladd.f{dt.bitwidth}")

        def splat(x, ty=vty):
            v = builder.insert_element(ir.Constant(ty, ir.Undefined), x, ir.Constant(i32, 0))
            return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, width),
                                                            [0] * width))

        def vload(base, off):
            return builder.load(builder.bitcast(builder.gep(base, [off]), vty.as_pointer()),
                                align=align)

        def vstore(val, base, off):
            builder.store(val, builder.bitcast(builder.gep(base, [off]), vty.as_pointer()),
                          align=align)

        def hreduce(v, pick, fcmp=False):
            """The smallest ("<") or largest (">") lane."""
            return _hreduce(builder, v, width, pick, fcmp)

        nsp = builder.extract_value(cca.shape, 0)
        gc = builder.extract_value(Ga.shape, 1)
        ac = builder.extract_value(Aa.shape, 1)
        wconst = ir.Constant(intp, width)
        nvec = builder.udiv(nsp, wconst)
        vzero = ir.Constant(vty, [0.0] * width)
        vone = splat(one_v)
        rows = range(_TILE)
        xr = [builder.load(builder.gep(xxa.data, [ir.Constant(intp, r)])) for r in rows]
        best = [cgutils.alloca_once_value(builder, splat(ir.Constant(fty, float("inf"))))
                for _ in rows]
        with cgutils.for_range(builder, nvec) as loop:
            j = builder.mul(loop.index, wconst)
            cc = vload(cca.data, j)
            cd = vload(cda.data, j)
            dd = vload(dda.data, j)
            ihv = vload(iha.data, j)
            for r in rows:
                g = builder.add(builder.mul(ir.Constant(intp, r), gc), j)
                h = vload(Ga.data, g)
                h1 = vload(Ga.data, builder.add(g, ir.Constant(intp, 1)))
                u = builder.fsub(builder.fsub(h, h1), cd)
                lam = builder.fmul(u, ihv)
                lam = builder.select(builder.fcmp_ordered(">", lam, vzero), lam, vzero)
                lam = builder.select(builder.fcmp_ordered("<", lam, vone), lam, vone)
                nlam = builder.fneg(lam)
                t = builder.call(fmuladd, [nlam, dd, u])  # u - lam |d|^2
                v = builder.call(fmuladd, [nlam, t, builder.fadd(cc, h)])  # cc + h - lam t
                vstore(v, Aa.data, builder.add(builder.mul(ir.Constant(intp, r), ac), j))
                b = builder.load(best[r])
                builder.store(builder.select(builder.fcmp_ordered("<", v, b), v, b), best[r])
        thrs = []
        for r in rows:
            m = hreduce(builder.load(best[r]), "<", fcmp=True)
            t = builder.call(fmuladd1, [ms_v, builder.fadd(xr[r], cmax_v), m])
            builder.store(t, builder.gep(thra.data, [ir.Constant(intp, r)]))
            thrs.append(splat(t))
        nsp_i = builder.trunc(nsp, ilty) if ilty.width < 64 else nsp
        los = [cgutils.alloca_once_value(builder, splat(nsp_i, ivty)) for _ in rows]
        his = [cgutils.alloca_once_value(builder, splat(ir.Constant(ilty, -1), ivty))
               for _ in rows]
        iota = ir.Constant(ivty, list(range(width)))
        with cgutils.for_range(builder, nvec) as loop:
            j = builder.mul(loop.index, wconst)
            jv = builder.add(splat(builder.trunc(j, ilty) if ilty.width < 64 else j, ivty), iota)
            for r in rows:
                v = vload(Aa.data, builder.add(builder.mul(ir.Constant(intp, r), ac), j))
                hit = builder.fcmp_ordered("<=", v, thrs[r])
                lo = builder.load(los[r])
                hi = builder.load(his[r])
                builder.store(builder.select(hit, builder.select(
                    builder.icmp_signed("<", jv, lo), jv, lo), lo), los[r])
                builder.store(builder.select(hit, builder.select(
                    builder.icmp_signed(">", jv, hi), jv, hi), hi), his[r])
        for r in rows:
            builder.store(hreduce(builder.load(los[r]), "<"),
                          builder.gep(fa.data, [ir.Constant(intp, r)]))
            builder.store(hreduce(builder.load(his[r]), ">"),
                          builder.gep(la.data, [ir.Constant(intp, r)]))
        return context.get_dummy_value()

    return sig, codegen


#: what the kernels call: the whole-tile version, or plain Python without the JIT
_tile_pass = _tile_pass_py if numba.config.DISABLE_JIT else _tile_pass_simd


# --------------------------------------------------------------------------
# pieces of the projection (inlined into the kernels)
# --------------------------------------------------------------------------


@_jit()
def _segment_constants(CT, cc, cd, dd, inv_dd, one, key):
    """Corners packed for :func:`_tile_products`, and padded per-segment constants.

    Returns CTp: the corners times -2 (CT2 = -2 CT, exact), in panels of
    ``P = _panel(dtype)`` columns stored one after the other (``CTp[b * d +
    f, i] = CT2[f, b * P + i]``, zero past the last corner), so that the
    products kernel reads them in order; ccp = |c_j|^2 (NaN for the
    padding); cd2 = 2 c_j.d_j; ddp = |d_j|^2; ih = 1 / (2 |d_j|^2) (0 for
    zero-length segments); idx = 0, 1, ..., nsp, -1 in the integer type of
    ``key`` (same width as the data); all of length nsp (idx: nsp + 2), nsp =
    k - 1 rounded up to ``_LANES``.
    """
    nseg = cd.shape[0]
    nsp = (nseg + _LANES - 1) // _LANES * _LANES
    two = one + one
    half = one / two
    CTp = _corner_panels(CT, one)
    ccp = np.full(nsp, np.nan, dtype=CT.dtype)
    cd2 = np.zeros(nsp, dtype=CT.dtype)
    ddp = np.zeros(nsp, dtype=CT.dtype)
    ih = np.zeros(nsp, dtype=CT.dtype)
    for j in range(nseg):
        ccp[j] = cc[j]
        cd2[j] = two * cd[j]
        ddp[j] = dd[j]
        ih[j] = inv_dd[j] * half
    idx = np.empty(nsp + 2, dtype=key.dtype)
    for j in range(nsp + 1):
        idx[j] = j
    idx[nsp + 1] = -1
    return CTp, ccp, cd2, ddp, ih, idx


@_jit(contract=True)
def _project_block(X, b, center, scale, inv2, Cc, CTp, ccp, cd2, ddp, ih, idx, Dseg, inv_dd,
                   cmax, mscale, one, pos, seg, dist2):
    """:func:`project_to_curve` for the rows of block ``b`` (``_BLOCK`` rows).

    Returns the number of rows that need the driver's attention: segment -1
    or a distance that is not finite.

    The work per row is written out here or in intrinsics rather than in
    jitted helper functions: numba compiles such a helper on its own and
    calls it (passing every array field as an argument and refcounting row
    views), which cost more than the work itself.
    """
    n, d = X.shape
    nseg = Cc.shape[0] - 1
    nsp = ccp.shape[0]
    zero = one - one
    start = b * _BLOCK
    stop = min(start + _BLOCK, n)
    xc = np.empty((_TILE, d), dtype=Cc.dtype)
    xx = np.empty(_TILE, dtype=Cc.dtype)
    # products with the corners (as many columns as packed panels hold) and
    # room for the padded segments' far corner (read, but their constants
    # make the result NaN whatever it is)
    G = np.zeros((_TILE, (CTp.shape[0] // d) * CTp.shape[1] + _LANES), dtype=Cc.dtype)
    A = np.empty((_TILE, nsp), dtype=Cc.dtype)
    thr = np.empty(_TILE, dtype=Cc.dtype)
    first = np.empty(_TILE, dtype=idx.dtype)
    last = np.empty(_TILE, dtype=idx.dtype)
    cand = np.empty(nsp, dtype=idx.dtype)
    nbad = 0
    for t0 in range(start, stop, _TILE):
        nr = min(_TILE, stop - t0)
        _tile_rows(X, t0, nr, center, scale, xc, xx)
        _tile_products(xc, CTp, G)
        # every row's distances to all segments, threshold and candidate range
        _tile_pass(G, xx, ccp, cd2, ddp, ih, mscale, cmax, one, A, thr, first, last)
        # then each row's candidates, directly
        for r in range(nr):
            threshold = thr[r]
            lo = first[r]
            hi = last[r]
            i = t0 + r
            if hi < 0:  # not finite: no candidate
                seg[i] = -1
                pos[i] = zero
                dist2[i] = zero
                nbad += 1
                continue
            # the candidates in increasing order: usually lo alone or lo and
            # lo + 1 (a row nearest to a corner is near both its segments)
            cand[0] = lo
            cand[1] = hi
            nc = 1 if hi == lo else 2
            if hi > lo + 1:
                nc = 1
                for j in range(lo + 1, hi + 1):
                    if A[r, j] <= threshold:
                        cand[nc] = j
                        nc += 1
            # every candidate again, directly from the coordinates
            bj = lo
            bd = zero
            bl = zero
            for q in range(nc):
                j = cand[q]
                v, lam = _segment_exact(xc, r, Cc, Dseg, inv_dd, j, zero, one)
                better = q == 0 or v < bd  # ties: the lower segment
                bj = j if better else bj
                bd = v if better else bd
                bl = lam if better else bl
            # a projection onto the far end of a segment is the next corner:
            # report it as (j + 1, 0) so that positions are unique.
            far = (bl >= one) & (bj + 1 < nseg)
            bj = bj + 1 if far else bj
            bl = zero if far else bl
            seg[i] = bj
            pos[i] = bj + bl
            v = bd * inv2
            dist2[i] = v
            nbad += 0 if v - v == zero else 1  # inf or NaN
    return nbad


@_jit(parallel=True)
def project_to_curve(X, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale,
                     one, key, pos, seg, dist2):
    """Exact nearest point of the polyline through the corners, for every row.

    in: X (n, d); center (d,); Cc (k, d) centred corners; CT (d, kp) as for
    :func:`nearest_corner`; cc (k,);
    Dseg (k-1, d) segment vectors c_{j+1} - c_j; cd (k-1,) c_j . d_j (centred);
    dd (k-1,) |d_j|^2; inv_dd (k-1,) 1/|d_j|^2 or 0 for zero-length segments;
    cmax = max(cc); mscale = 8 (d + 2) eps; ``one`` = 1 (dtype of X); key: an
    integer array as wide as the dtype of X.
    out: pos (n,) position j + lambda; seg (n,) segment index j;
    dist2 (n,) squared distance to the curve.
    Corners and segment constants scaled as for :func:`nearest_corner`.
    Requires k >= 2. A row whose distances are not finite gets segment -1.
    Returns the number of rows with segment -1 or a distance that is not
    finite (0: nothing for the driver to redo).
    """
    CTp, ccp, cd2, ddp, ih, idx = _segment_constants(CT, cc, cd, dd, inv_dd, one, key)
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    nbad = 0
    for b in prange(nblocks):
        nbad += _project_block(X, b, center, scale, inv2, Cc, CTp, ccp, cd2, ddp, ih, idx,
                               Dseg, inv_dd, cmax, mscale, one, pos, seg, dist2)
    return nbad


@_jit()
def project_to_curve_serial(X, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax,
                            mscale, one, key, pos, seg, dist2):
    """:func:`project_to_curve` in the calling thread (no parallel launch)."""
    CTp, ccp, cd2, ddp, ih, idx = _segment_constants(CT, cc, cd, dd, inv_dd, one, key)
    nblocks = (X.shape[0] + _BLOCK - 1) // _BLOCK
    nbad = 0
    for b in range(nblocks):
        nbad += _project_block(X, b, center, scale, inv2, Cc, CTp, ccp, cd2, ddp, ih, idx,
                               Dseg, inv_dd, cmax, mscale, one, pos, seg, dist2)
    return nbad


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


def projection_args(C):
    """The inputs of :func:`project_to_curve` derived from the corners C (k >= 2).

    (center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale,
    one, key): :func:`._kernels._centred` plus the segment vectors and their
    constants, 1/|d_j|^2 being 0 for zero-length segments.
    """
    center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key = _centred(C)
    Dseg = np.ascontiguousarray(np.diff(Cc, axis=0))
    dd = np.einsum("ij,ij->i", Dseg, Dseg)
    cd = np.einsum("ij,ij->i", Cc[:-1], Dseg)
    inv_dd = np.zeros_like(dd)
    np.divide(one, dd, out=inv_dd, where=dd > 0)
    return center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale, one, key


def project(X, C):
    """(positions, segments, squared distances) of the exact projection of X onto the curve.

    Exact over all ``k - 1`` segments (ties to the lowest segment), in the
    dtype of X; non-finite rows are handled as in :func:`assign_corners`
    (position 0, distance inf).
    """
    C = _as_float(X, C)
    n = X.shape[0]
    pos = np.empty(n, dtype=X.dtype)
    seg = np.empty(n, dtype=np.intp)  # every row is written
    if C.shape[0] == 1:
        seg[:] = 0
        pos[:] = 0
        dist2 = np.sum((X - C[0]) ** 2, axis=1).astype(X.dtype, copy=False)
        return pos, seg, dist2
    dist2 = np.empty(n, dtype=X.dtype)
    kernel = project_to_curve_serial if _serial(n, *C.shape) else project_to_curve
    nbad = kernel(X, *projection_args(C), pos, seg, dist2)
    bad = _failed(X, seg, pos, dist2) if nbad else None
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
