"""Vector kernels shared by the nearest corner and the projection (LLVM IR).

numba's loop vectorizer vectorizes innermost loops only, will not keep
partial sums in registers across an outer loop and will not vectorize a sum
whose order is fixed; the pieces below are therefore written in LLVM IR as
numba intrinsics (inlined where they are called). Each has a plain Python
twin (``*_py``, or the plain function for ``_tile_rows``) that the kernels use
when numba's JIT is disabled and that the tests compare with. All summation
orders are fixed, so results do not depend on the number of threads.

Conventions as in :mod:`._kernels`: a tile is ``_TILE`` (= 8) rows, centred
and scaled (:func:`_tile_rows`); corners are packed in panels of two 512-bit
vectors (:func:`_panel`) for :func:`_tile_products`.
"""

import numba
import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

#: Rows whose dot products are computed together (hard-wired in the tile kernels).
_TILE = 8


# --------------------------------------------------------------------------
# fixed-order sums in vector lanes
# --------------------------------------------------------------------------

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


def _vector(context, dt):
    """(512-bit vector type of dt, its lane count, the element alignment)."""
    width = 16 if dt.bitwidth == 32 else 8
    return ir.VectorType(context.get_value_type(dt), width), width, dt.bitwidth // 8


def _vptr(builder, base, off, vty):
    """Pointer to the vector at element ``off`` of ``base``."""
    return builder.bitcast(builder.gep(base, [off]), vty.as_pointer())


def _splat(builder, x, width):
    """Vector of ``width`` copies of scalar x."""
    i32 = ir.IntType(32)
    v = builder.insert_element(ir.Constant(ir.VectorType(x.type, width), ir.Undefined), x,
                               ir.Constant(i32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, width), [0] * width))


def _feature_sum(builder, d, width, acc_type, term):
    """Fixed-order sum over ``d`` features of ``term(offset, vector)``, in lanes.

    Lane i sums features i, i + width, ... in order (``term(off, True)``
    gives the vector of terms for features off .. off + width - 1), the last
    partial vector goes feature by feature into the first lanes
    (``term(off, False)``, a scalar), then the lanes are added in a fixed
    tree (:func:`_lane_sum`). acc_type: the vector type of the sums.
    """
    intp = d.type
    wconst = ir.Constant(intp, width)
    nfull = builder.udiv(d, wconst)
    acc = cgutils.alloca_once_value(builder, ir.Constant(acc_type, [0.0] * width))
    with cgutils.for_range(builder, nfull) as loop:
        t = term(builder.mul(loop.index, wconst), True)
        builder.store(builder.fadd(builder.load(acc), t), acc)
    base = builder.mul(nfull, wconst)
    with cgutils.for_range(builder, builder.sub(d, base)) as loop:  # feature base + i -> lane i
        t = term(builder.add(base, loop.index), False)
        v = builder.load(acc)
        lane = builder.trunc(loop.index, ir.IntType(32))
        v = builder.insert_element(v, builder.fadd(builder.extract_element(v, lane), t), lane)
        builder.store(v, acc)
    return _lane_sum(builder, builder.load(acc), width)


def _hreduce(builder, v, width, pick, fcmp=False):
    """The smallest (pick "<") or largest (">") lane of v, in a fixed tree.

    fcmp: compare as floats (ordered: a NaN lane loses to a number only on
    the side it is compared from; callers keep NaN out), else as signed
    integers.
    """
    i32 = ir.IntType(32)
    n = width
    while n > 1:
        half = n // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, half), list(range(half))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, half),
                                                      list(range(half, n))))
        keep = builder.fcmp_ordered(pick, lo, hi) if fcmp else builder.icmp_signed(pick, lo, hi)
        v = builder.select(keep, lo, hi)
        n = half
    return builder.extract_element(v, ir.Constant(i32, 0))


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


def _emit_tile_products(context, builder, dt, xa, ca, epilogue):
    """Register-blocked products of a tile of rows with packed corners (LLVM IR).

    xa: the tile's rows (_TILE, d); ca: the packed corners (panels of two
    vectors, see :func:`_panel`). For every panel, the 8 x 2 vector sums are
    accumulated over all features in order (``llvm.fmuladd``) in registers,
    then handed to ``epilogue(cstart, sums)``: cstart is the panel's first
    column, sums[2 i + v] the vector of row i and columns cstart + v * width
    onwards.
    """
    intp = context.get_value_type(types.intp)
    vty, width, align = _vector(context, dt)
    fmuladd = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vty, [vty, vty, vty]),
        f"llvm.fmuladd.v{width}f{dt.bitwidth}")
    d = builder.extract_value(xa.shape, 1)
    panel = ir.Constant(intp, 2 * width)
    nblk = builder.udiv(builder.extract_value(ca.shape, 0), d)
    with cgutils.for_range(builder, nblk) as blk:
        pbase = builder.mul(builder.mul(blk.index, d), panel)  # the panel's first value
        accs = [cgutils.alloca_once_value(builder, ir.Constant(vty, [0.0] * width))
                for _ in range(2 * _TILE)]
        with cgutils.for_range(builder, d) as loop:
            f = loop.index
            prow = builder.add(pbase, builder.mul(f, panel))
            ws = [builder.load(_vptr(builder, ca.data, builder.add(
                prow, ir.Constant(intp, v * width)), vty), align=align) for v in range(2)]
            for i in range(_TILE):
                x = builder.load(builder.gep(xa.data, [
                    builder.add(builder.mul(ir.Constant(intp, i), d), f)]))
                xs = _splat(builder, x, width)
                for v in range(2):
                    acc = accs[2 * i + v]
                    builder.store(builder.call(fmuladd, [xs, ws[v], builder.load(acc)]), acc)
        epilogue(builder.mul(blk.index, panel), [builder.load(a) for a in accs])


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
        vty, width, align = _vector(context, dt)
        gc = builder.extract_value(ga.shape, 1)

        def store(cstart, sums):
            for i in range(_TILE):
                grow = builder.add(builder.mul(ir.Constant(intp, i), gc), cstart)
                for v in range(2):
                    off = builder.add(grow, ir.Constant(intp, v * width))
                    builder.store(sums[2 * i + v], _vptr(builder, ga.data, off, vty), align=align)

        _emit_tile_products(context, builder, dt, xa, ca, store)
        return context.get_dummy_value()

    return sig, codegen


#: what the kernels call: the register-blocked kernel, or plain Python without the JIT
_tile_products = _tile_products_py if numba.config.DISABLE_JIT else _tile_products_simd


# --------------------------------------------------------------------------
# a tile of rows, centred and scaled
# --------------------------------------------------------------------------


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



# --------------------------------------------------------------------------
# the nearest corner of every row of a tile
# --------------------------------------------------------------------------


def _tile_nearest_py(xc, xx, CTp, ccp, mscale, cmax, A, thr, first, last):
    """Expanded distances of the tile's rows to every corner, and the candidates.

    in: xc (_TILE, d) centred, scaled rows; xx (_TILE,) their squared norms;
    CTp the corners times -2 packed in panels (:func:`_panel`); ccp (ncol,)
    the corners' squared norms, NaN past the last corner (ncol = the packed
    columns); mscale, cmax: the rounding margin is mscale (|x|^2 + cmax).
    out: A (_TILE, ncol) ``|c|^2 - 2 x.c`` (the squared distances minus
    |x|^2; NaN for the padding); thr (_TILE,) the smallest one plus the
    margin; first, last (_TILE,) the first and last corner with A <= thr
    (ncol and -1 if none: so for every row whose distances are not finite).
    Plain Python version (used when numba's JIT is disabled); compiled code
    uses :func:`_tile_nearest_simd`.
    """
    ncol = ccp.shape[0]
    _tile_products_py(xc, CTp, A)
    for r in range(A.shape[0]):
        v = A[r, :ncol] + ccp
        A[r, :ncol] = v
        thr[r], first[r], last[r] = _candidate_range_py(v, mscale * (xx[r] + cmax))


def _candidate_range_py(v, margin):
    """(threshold, first, last) of one row's expanded distances ``v`` (NaN: padding).

    The threshold is the smallest non-NaN value plus ``margin``; first and
    last are the first and last index with ``v <= threshold`` (len(v) and -1
    if none). Shared by the plain Python twins of the tile kernels.
    """
    finite = v[~np.isnan(v)]
    thr = (finite.min() if finite.size else np.inf) + margin
    hits = np.flatnonzero(v <= thr)
    return thr, (hits[0] if hits.size else len(v)), (hits[-1] if hits.size else -1)


@intrinsic
def _tile_nearest_simd(typingctx, xc, xx, CTp, ccp, mscale, cmax, A, thr, first, last):
    """:func:`_tile_nearest_py` for all rows of the tile at once (compiled code only).

    The products are those of :func:`_tile_products_simd`, but each panel's
    sums, still in registers, get the corners' squared norms added, are
    stored once into A and update each row's running minimum in vector
    lanes (a float minimum: a NaN never replaces a number). A second loop
    over A finds each row's first and last candidate in integer lanes as
    wide as the data. Inlined into the caller.
    """
    arrs2 = (xc, CTp, A)
    arrs1 = (xx, ccp, thr)
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in arrs2):
        return None
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
               for a in arrs1 + (first, last)):
        return None
    dt = xc.dtype
    if not isinstance(dt, types.Float) or any(a.dtype != dt for a in arrs2 + arrs1):
        return None
    ity = types.int32 if dt.bitwidth == 32 else types.int64
    if first.dtype != ity or last.dtype != ity or mscale != dt or cmax != dt:
        return None
    sig = types.none(xc, xx, CTp, ccp, mscale, cmax, A, thr, first, last)

    def codegen(context, builder, signature, args):
        ta = signature.args
        xa, xxa, ca, cca = (context.make_array(t)(context, builder, v)
                            for t, v in zip(ta[:4], args[:4]))
        ms_v, cmax_v = args[4:6]
        Aa, thra, fa, la = (context.make_array(t)(context, builder, v)
                            for t, v in zip(ta[6:], args[6:]))
        intp = context.get_value_type(types.intp)
        fty = context.get_value_type(dt)
        ilty = context.get_value_type(ity)
        vty, width, align = _vector(context, dt)
        ivty = ir.VectorType(ilty, width)
        fmuladd1 = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(fty, [fty, fty, fty]), f"llvm.fmuladd.f{dt.bitwidth}")
        ac = builder.extract_value(Aa.shape, 1)
        ncol = builder.extract_value(cca.shape, 0)
        rows = range(_TILE)
        best = [cgutils.alloca_once_value(builder, _splat(builder, ir.Constant(
            fty, float("inf")), width)) for _ in rows]

        def epilogue(cstart, sums):
            for v in range(2):
                col = builder.add(cstart, ir.Constant(intp, v * width))
                cc = builder.load(_vptr(builder, cca.data, col, vty), align=align)
                for r in rows:
                    a = builder.fadd(sums[2 * r + v], cc)
                    off = builder.add(builder.mul(ir.Constant(intp, r), ac), col)
                    builder.store(a, _vptr(builder, Aa.data, off, vty), align=align)
                    b = builder.load(best[r])
                    builder.store(builder.select(builder.fcmp_ordered("<", a, b), a, b), best[r])

        _emit_tile_products(context, builder, dt, xa, ca, epilogue)
        thrs = []
        for r in rows:
            m = _hreduce(builder, builder.load(best[r]), width, "<", fcmp=True)
            xr = builder.load(builder.gep(xxa.data, [ir.Constant(intp, r)]))
            t = builder.call(fmuladd1, [ms_v, builder.fadd(xr, cmax_v), m])
            builder.store(t, builder.gep(thra.data, [ir.Constant(intp, r)]))
            thrs.append(_splat(builder, t, width))
        ncol_i = builder.trunc(ncol, ilty) if ilty.width < 64 else ncol
        los = [cgutils.alloca_once_value(builder, _splat(builder, ncol_i, width)) for _ in rows]
        his = [cgutils.alloca_once_value(builder, ir.Constant(ivty, [-1] * width)) for _ in rows]
        iota = ir.Constant(ivty, list(range(width)))
        wconst = ir.Constant(intp, width)
        with cgutils.for_range(builder, builder.udiv(ncol, wconst)) as loop:
            j = builder.mul(loop.index, wconst)
            jv = builder.add(_splat(builder, builder.trunc(j, ilty) if ilty.width < 64 else j,
                                    width), iota)
            for r in rows:
                off = builder.add(builder.mul(ir.Constant(intp, r), ac), j)
                a = builder.load(_vptr(builder, Aa.data, off, vty), align=align)
                hit = builder.fcmp_ordered("<=", a, thrs[r])
                lo = builder.load(los[r])
                hi = builder.load(his[r])
                builder.store(builder.select(hit, builder.select(
                    builder.icmp_signed("<", jv, lo), jv, lo), lo), los[r])
                builder.store(builder.select(hit, builder.select(
                    builder.icmp_signed(">", jv, hi), jv, hi), hi), his[r])
        for r in rows:
            builder.store(_hreduce(builder, builder.load(los[r]), width, "<"),
                          builder.gep(fa.data, [ir.Constant(intp, r)]))
            builder.store(_hreduce(builder, builder.load(his[r]), width, ">"),
                          builder.gep(la.data, [ir.Constant(intp, r)]))
        return context.get_dummy_value()

    return sig, codegen


#: what the kernels call: the whole-tile version, or plain Python without the JIT
_tile_nearest = _tile_nearest_py if numba.config.DISABLE_JIT else _tile_nearest_simd


def _sq_dist_py(xc, r, Cc, j):
    """Squared distance between centred row ``xc[r]`` and corner ``Cc[j]``, in float64.

    Computed from the coordinates in float64 (float32 data is widened), so
    that the caller can compare candidates as in float64 before rounding the
    winner's distance once to the dtype of the data. Plain Python version
    (used when numba's JIT is disabled); compiled code uses
    :func:`_sq_dist_simd`.
    """
    e = xc[r].astype(np.float64) - Cc[j]
    return float(e @ e)


@intrinsic
def _sq_dist_simd(typingctx, xc, r, Cc, j):
    """:func:`_sq_dist_py` in vector lanes (compiled code only).

    A fixed-order sum (:func:`_feature_sum`) of plain float64 products (no
    fused multiply-add, so the same on every machine); float32 data is
    widened after loading (the differences and squares are then exact), so
    two corners whose distances differ by less than float32 resolves are
    still told apart. Inlined into the caller.
    """
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in (xc, Cc)):
        return None
    dt = xc.dtype
    if not isinstance(dt, types.Float) or Cc.dtype != dt:
        return None
    sig = types.float64(xc, r, Cc, j)

    def codegen(context, builder, signature, args):
        ta = signature.args
        xa = context.make_array(ta[0])(context, builder, args[0])
        ca = context.make_array(ta[2])(context, builder, args[2])
        vty, width, align = _vector(context, dt)
        wty = ir.DoubleType()
        wvty = ir.VectorType(wty, width)
        narrow = dt.bitwidth == 32
        r64 = context.cast(builder, args[1], ta[1], types.intp)
        j64 = context.cast(builder, args[3], ta[3], types.intp)
        d = builder.extract_value(xa.shape, 1)
        xrow = builder.gep(xa.data, [builder.mul(r64, d)])
        crow = builder.gep(ca.data, [builder.mul(j64, builder.extract_value(ca.shape, 1))])

        def term(off, vec):
            if vec:
                x = builder.load(_vptr(builder, xrow, off, vty), align=align)
                c = builder.load(_vptr(builder, crow, off, vty), align=align)
            else:
                x = builder.load(builder.gep(xrow, [off]))
                c = builder.load(builder.gep(crow, [off]))
            if narrow:
                x = builder.fpext(x, wvty if vec else wty)
                c = builder.fpext(c, wvty if vec else wty)
            e = builder.fsub(x, c)
            return builder.fmul(e, e)

        return _feature_sum(builder, d, width, wvty, term)

    return sig, codegen


#: what the kernels call: the vector version, or plain Python without the JIT
_sq_dist = _sq_dist_py if numba.config.DISABLE_JIT else _sq_dist_simd
