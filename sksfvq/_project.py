"""Exact projection onto the curve and points at given positions (Numba).

Same conventions as :mod:`._kernels` (dtype kept, rows independent, inputs
centred and scaled by :func:`._kernels._centred`).

The projection of a row x onto segment j (from corner c_j to c_{j+1}, d_j =
c_{j+1} - c_j) needs only the dot products g_j = -2 x.c_j:

    u_j = g_j - g_{j+1} - 2 c_j.d_j          (= 2 (x - c_j).d_j)
    lam_j = clamp(u_j / (2 |d_j|^2), 0, 1)
    A_j = |x|^2 + |c_j|^2 + g_j - lam_j (u_j - lam_j |d_j|^2)   (= |x - p_j|^2)

so, as in :func:`._kernels.nearest_corner`, the dot products of a tile of
rows with all corners come first (:func:`_tile_products_simd`, corners
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

The three inner kernels are written in LLVM IR (numba intrinsics, inlined
where they are called) because numba's loop vectorizer alone could not keep
the dot products in registers, share the segment constants between rows or
vectorize a fixed-order sum; each has a plain Python twin (``*_py``) that
the kernels use when numba's JIT is disabled and that the tests compare
with. All summation orders are fixed, so results do not depend on the
number of threads.
"""

import numba
import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._kernels import _as_float, _centred, _failed, _jit, _serial

#: Rows handled together by one thread (one parallel task).
_BLOCK = 256
#: Rows whose dot products are computed together (hard-wired in _tile_products_simd).
_TILE = 8
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


def _lane_sum(builder, v, width):
    """Sum of the lanes of vector v in a fixed tree (halves added lane-wise)."""
    while width > 1:
        half = width // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), half),
                                                      list(range(half))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), half),
                                                      list(range(half, width))))
        v = builder.fadd(lo, hi)
        width = half
    return builder.extract_element(v, ir.Constant(ir.IntType(32), 0))


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
        intp = context.get_value_type(types.intp)
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
        wconst = ir.Constant(intp, width)
        nfull = builder.udiv(d, wconst)
        tail = builder.urem(d, wconst)

        def vload(row, off):
            ptr = builder.bitcast(builder.gep(row, [off]), vty.as_pointer())
            return widen(builder.load(ptr, align=align))

        def sload(row, off):
            return widen(builder.load(builder.gep(row, [off])))

        def lanes(term):
            """Lane-wise sums of term(x_f, c_f, d_f) over the features, then their sum."""
            acc = cgutils.alloca_once_value(builder, ir.Constant(wvty, [0.0] * width))
            with cgutils.for_range(builder, nfull) as loop:
                off = builder.mul(loop.index, wconst)
                t = term(vload(xrow, off), vload(crow, off), vload(drow, off))
                builder.store(builder.fadd(builder.load(acc), t), acc)
            base = builder.mul(nfull, wconst)
            with cgutils.for_range(builder, tail) as loop:  # feature base + i -> lane i
                off = builder.add(base, loop.index)
                t = term(sload(xrow, off), sload(crow, off), sload(drow, off))
                v = builder.load(acc)
                lane = builder.trunc(loop.index, ir.IntType(32))
                v = builder.insert_element(v, builder.fadd(builder.extract_element(v, lane), t),
                                           lane)
                builder.store(v, acc)
            return _lane_sum(builder, builder.load(acc), width)

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
# dot products of a tile of rows with all corners, in vector registers
# --------------------------------------------------------------------------


def _panel(dtype):
    """Columns per panel of packed corners: two 512-bit vectors."""
    return 32 if dtype == np.float32 else 16


@overload(_panel, jit_options={"cache": True})
def _panel_jit(dtype):
    width = 32 if dtype.dtype == types.float32 else 16
    return lambda dtype: width


def _tile_products_py(xc, CTp, G):
    """The products of the tile's rows with the (packed) corners, into G.

    in: xc (_TILE, d); CTp packed corners (see :func:`_segment_constants`).
    out: G (_TILE, >= nb * P): ``G[i, c] = xc[i] . CT2[:, c]``. Plain Python
    version (used when numba's JIT is disabled); compiled code uses
    :func:`_tile_products_simd`.
    """
    d = xc.shape[1]
    P = CTp.shape[1]
    for b in range(CTp.shape[0] // d):
        G[:, b * P:(b + 1) * P] = xc @ CTp[b * d:(b + 1) * d]


@intrinsic
def _tile_products_simd(typingctx, xc, CTp, G):
    """:func:`_tile_products_py` as a register-blocked kernel (compiled code only).

    The products of the tile's 8 rows with one panel of corners (2 vectors:
    32 float32 or 16 float64 corners) are held in 16 vector registers over
    all features: each feature loads the panel's 2 vectors (contiguous: the
    corners are packed panel by panel) and 8 row values and does 16 vector
    multiply-adds, and the sums are stored once. numba's loop vectorizer
    cannot keep sums in registers across an outer loop (it vectorizes
    innermost loops only, so partial sums went through memory at every
    sweep of features); this is written in LLVM IR instead, and is about
    twice as fast. Every product is summed over the features in order
    (``llvm.fmuladd``: fused where the machine has FMA), whatever the tile.
    Inlined into the caller.
    """
    mats = (xc, CTp, G)
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in mats):
        return None
    dt = xc.dtype
    if not isinstance(dt, types.Float) or CTp.dtype != dt or G.dtype != dt:
        return None
    sig = types.none(xc, CTp, G)

    def codegen(context, builder, signature, args):
        xa, ca, ga = (context.make_array(t)(context, builder, v)
                      for t, v in zip(signature.args, args))
        intp = context.get_value_type(types.intp)
        fty = context.get_value_type(dt)
        width = 16 if dt.bitwidth == 32 else 8  # one 512-bit vector; a panel is two
        vty = ir.VectorType(fty, width)
        align = dt.bitwidth // 8
        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty, vty, vty]),
            f"llvm.fmuladd.v{width}f{dt.bitwidth}")
        i32 = ir.IntType(32)
        splat_mask = ir.Constant(ir.VectorType(i32, width), [0] * width)
        d = builder.extract_value(xa.shape, 1)
        gc = builder.extract_value(ga.shape, 1)
        panel = ir.Constant(intp, 2 * width)
        nblk = builder.udiv(builder.extract_value(ca.shape, 0), d)

        def at(base, off):
            return builder.bitcast(builder.gep(base, [off]), vty.as_pointer())

        with cgutils.for_range(builder, nblk) as blk:
            pbase = builder.mul(builder.mul(blk.index, d), panel)  # the panel's first value
            accs = [cgutils.alloca_once_value(builder, ir.Constant(vty, [0.0] * width))
                    for _ in range(2 * _TILE)]
            with cgutils.for_range(builder, d) as loop:
                f = loop.index
                prow = builder.add(pbase, builder.mul(f, panel))
                ws = [builder.load(at(ca.data, builder.add(prow, ir.Constant(intp, v * width))),
                                   align=align) for v in range(2)]
                for i in range(_TILE):
                    x = builder.load(builder.gep(xa.data, [
                        builder.add(builder.mul(ir.Constant(intp, i), d), f)]))
                    xs = builder.insert_element(ir.Constant(vty, ir.Undefined), x,
                                                ir.Constant(i32, 0))
                    xs = builder.shuffle_vector(xs, xs, splat_mask)
                    for v in range(2):
                        acc = accs[2 * i + v]
                        builder.store(builder.call(fmuladd, [xs, ws[v], builder.load(acc)]), acc)
            cstart = builder.mul(blk.index, panel)
            for i in range(_TILE):
                grow = builder.add(builder.mul(ir.Constant(intp, i), gc), cstart)
                for v in range(2):
                    off = builder.add(grow, ir.Constant(intp, v * width))
                    builder.store(builder.load(accs[2 * i + v]), at(ga.data, off), align=align)
        return context.get_dummy_value()

    return sig, codegen


#: what the kernels call: the register-blocked kernel, or plain Python without the JIT
_tile_products = _tile_products_py if numba.config.DISABLE_JIT else _tile_products_simd


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
        finite = v[~np.isnan(v)]
        m = finite.min() if finite.size else np.inf
        thr[r] = m + mscale * (xx[r] + cmax)
        hits = np.flatnonzero(v <= thr[r])
        first[r] = hits[0] if hits.size else nsp
        last[r] = hits[-1] if hits.size else -1


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
            n = width
            while n > 1:
                half = n // 2
                lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, half),
                                                              list(range(half))))
                hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, half),
                                                              list(range(half, n))))
                keep = (builder.fcmp_ordered(pick, lo, hi) if fcmp
                        else builder.icmp_signed(pick, lo, hi))
                v = builder.select(keep, lo, hi)
                n = half
            return builder.extract_element(v, ir.Constant(i32, 0))

        nsp = builder.extract_value(cca.shape, 0)
        gc = builder.extract_value(Ga.shape, 1)
        ac = builder.extract_value(Aa.shape, 1)
        wconst = ir.Constant(intp, width)
        nvec = builder.udiv(nsp, wconst)
        zero = ir.Constant(fty, 0.0)
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
    d, kp = CT.shape
    nseg = cd.shape[0]
    nsp = (nseg + _LANES - 1) // _LANES * _LANES
    two = one + one
    half = one / two
    P = _panel(CT.dtype)
    nb = (kp + P - 1) // P
    CTp = np.zeros((nb * d, P), dtype=CT.dtype)
    for f in range(d):
        for c in range(kp):
            CTp[(c // P) * d + f, c % P] = CT[f, c] * -two
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


def _tile_rows(X, start, nr, center, scale, xc, xx):
    """Rows ``start .. start + nr`` of X (nr <= _TILE), centred and scaled.

    out: xc (_TILE, d) the rows (zero rows past nr); xx (_TILE,) their
    squared norms. Plain Python version (numba's JIT disabled); compiled
    code uses :func:`_tile_rows_simd` for C-contiguous X, else the loop in
    :func:`_tile_rows_jit`.
    """
    zero = center[0] - center[0]
    xc[:] = zero
    xx[:] = zero
    for i in range(nr):
        xc[i] = (X[start + i] - center) * scale
        xx[i] = xc[i] @ xc[i]


#: llvm.prefetch mangled for a byte pointer (typed before LLVM 15, opaque since)
_PREFETCH = "llvm.prefetch.p0" if llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


@intrinsic
def _tile_rows_simd(typingctx, X, start, nr, center, scale, xc, xx):
    """:func:`_tile_rows` in vector lanes for C-contiguous X (compiled code only).

    Each row is centred and scaled a vector at a time and its squared norm
    summed in lanes (feature f in lane f mod 16 for float32, 8 for float64,
    in order) added in a fixed tree; numba's loop would be scalar (a sum
    with a fixed order does not vectorize, and 32 features are fewer than
    its vector loop takes at once). It then prefetches the rows of the tile
    after next, which otherwise arrive from memory only when asked for.
    Inlined into the caller.
    """
    if not (isinstance(X, types.Array) and X.ndim == 2 and X.layout == "C"):
        return None
    if not (isinstance(xc, types.Array) and xc.ndim == 2 and xc.layout == "C"):
        return None
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
               for a in (center, xx)):
        return None
    dt = X.dtype
    if not isinstance(dt, types.Float) or any(a.dtype != dt for a in (center, xc, xx)):
        return None
    if scale != dt:
        return None
    sig = types.none(X, start, nr, center, scale, xc, xx)

    def codegen(context, builder, signature, args):
        ta = signature.args
        Xa = context.make_array(ta[0])(context, builder, args[0])
        ca = context.make_array(ta[3])(context, builder, args[3])
        xca = context.make_array(ta[5])(context, builder, args[5])
        xxa = context.make_array(ta[6])(context, builder, args[6])
        start = context.cast(builder, args[1], ta[1], types.intp)
        nr = context.cast(builder, args[2], ta[2], types.intp)
        scale_v = args[4]
        intp = context.get_value_type(types.intp)
        fty = context.get_value_type(dt)
        width = 16 if dt.bitwidth == 32 else 8
        vty = ir.VectorType(fty, width)
        align = dt.bitwidth // 8
        i32 = ir.IntType(32)
        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty, vty, vty]),
            f"llvm.fmuladd.v{width}f{dt.bitwidth}")
        d = builder.extract_value(Xa.shape, 1)
        wconst = ir.Constant(intp, width)
        nfull = builder.udiv(d, wconst)
        base = builder.mul(nfull, wconst)
        vzero = ir.Constant(vty, [0.0] * width)
        sv = builder.insert_element(ir.Constant(vty, ir.Undefined), scale_v, ir.Constant(i32, 0))
        sv = builder.shuffle_vector(sv, sv, ir.Constant(ir.VectorType(i32, width), [0] * width))

        def at(ptr, off):
            return builder.bitcast(builder.gep(ptr, [off]), vty.as_pointer())

        for i in range(_TILE):
            ic = ir.Constant(intp, i)
            xrow = builder.gep(Xa.data, [builder.mul(builder.add(start, ic), d)])
            crow = builder.gep(xca.data, [builder.mul(ic, d)])
            xxp = builder.gep(xxa.data, [ic])
            with builder.if_else(builder.icmp_signed("<", ic, nr)) as (present, absent):
                with present:
                    acc = cgutils.alloca_once_value(builder, vzero)
                    with cgutils.for_range(builder, nfull) as loop:
                        off = builder.mul(loop.index, wconst)
                        v = builder.fmul(builder.fsub(
                            builder.load(at(xrow, off), align=align),
                            builder.load(at(ca.data, off), align=align)), sv)
                        builder.store(v, at(crow, off), align=align)
                        builder.store(builder.call(fmuladd, [v, v, builder.load(acc)]), acc)
                    with cgutils.for_range(builder, builder.sub(d, base)) as loop:
                        off = builder.add(base, loop.index)
                        v = builder.fmul(builder.fsub(
                            builder.load(builder.gep(xrow, [off])),
                            builder.load(builder.gep(ca.data, [off]))), scale_v)
                        builder.store(v, builder.gep(crow, [off]))
                        lane = builder.trunc(loop.index, i32)
                        a = builder.load(acc)
                        a = builder.insert_element(
                            a, builder.fadd(builder.extract_element(a, lane),
                                            builder.fmul(v, v)), lane)
                        builder.store(a, acc)
                    builder.store(_lane_sum(builder, builder.load(acc), width), xxp)
                with absent:
                    with cgutils.for_range(builder, d) as loop:
                        builder.store(ir.Constant(fty, 0.0), builder.gep(crow, [loop.index]))
                    builder.store(ir.Constant(fty, 0.0), xxp)
        # ask for the rows two tiles ahead now: they arrive while this tile's
        # products are computed (a prefetch past the end of X is harmless)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32,
                                                            i32]), _PREFETCH)
        nbytes = builder.mul(d, ir.Constant(intp, align))
        ahead = builder.gep(Xa.data, [builder.mul(builder.add(start, ir.Constant(
            intp, 2 * _TILE)), d)])
        ahead = builder.bitcast(ahead, ir.IntType(8).as_pointer())
        with cgutils.for_range(builder, builder.udiv(builder.mul(
                nbytes, ir.Constant(intp, _TILE)), ir.Constant(intp, 64))) as loop:
            builder.call(prefetch, [builder.gep(ahead, [builder.mul(loop.index, ir.Constant(
                intp, 64))]), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@overload(_tile_rows, jit_options={"cache": True})
def _tile_rows_jit(X, start, nr, center, scale, xc, xx):
    if isinstance(X, types.Array) and X.layout == "C":
        def impl(X, start, nr, center, scale, xc, xx):
            _tile_rows_simd(X, start, nr, center, scale, xc, xx)
        return impl

    def impl(X, start, nr, center, scale, xc, xx):  # any layout: one value at a time
        d = X.shape[1]
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
    return impl


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
    center, scale, inv2, Cc, CT, cc, cmax, mscale, one, key = _centred(C)
    Dseg = np.ascontiguousarray(np.diff(Cc, axis=0))
    dd = np.einsum("ij,ij->i", Dseg, Dseg)
    cd = np.einsum("ij,ij->i", Cc[:-1], Dseg)
    inv_dd = np.zeros_like(dd)
    np.divide(one, dd, out=inv_dd, where=dd > 0)
    dist2 = np.empty(n, dtype=X.dtype)
    kernel = project_to_curve_serial if _serial(n, *C.shape) else project_to_curve
    nbad = kernel(X, center, scale, inv2, Cc, CT, cc, Dseg, cd, dd, inv_dd, cmax, mscale, one,
                  key, pos, seg, dist2)
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
