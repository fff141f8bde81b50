"""LLVM IR for the vector back end: helpers, and the two tile kernels both jobs share.

numba's loop vectorizer vectorizes innermost loops only, will not keep
partial sums in registers across an outer loop and will not vectorize a sum
whose order is fixed; the vector back end is therefore written in LLVM IR as
numba intrinsics (inlined where they are called). This module holds the IR
helpers (vector types, splats, fixed-order lane sums and reductions) and the
two tile kernels the nearest corner and the projection share:
:func:`tile_rows` (a tile's rows centred and scaled, their squared norms)
and :func:`emit_tile_products` (the register-blocked products of a tile of
rows with corners packed in panels). The job-specific intrinsics are in
:mod:`._simd`. Vector width, tile and panel are those of :mod:`._layout`.

Loops that are not the hot loop of a kernel are emitted with
:func:`rolled_range`, which tells LLVM not to unroll them: unrolled (the
row loops fully, TILE times, the others four times over with a remainder
loop) they made the vector kernels' bodies about 40 % larger, machine code
that LLVM optimizes and emits on first use, for no measured speed.

These use ``numba.core.cgutils`` and llvmlite's IR builder: numba internals
with no stability promise. If lowering fails, the engine falls back to the
portable back end (:mod:`._engine`).
"""

from contextlib import contextmanager

from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype

from ._layout import PANEL_VECTORS, TILE, lanes

I32 = ir.IntType(32)


class _LoopID(ir.values.MDValue):
    """A loop's ``llvm.loop`` metadata node: distinct, its first operand itself, then
    the loop's options."""

    def __init__(self, module, options):
        super().__init__(module, [], name=str(len(module.metadata)))
        self.operands = (self,) + tuple(options)

    def descr(self, buf):
        buf += ("distinct ",)
        super().descr(buf)

    # a node that contains itself: compared and hashed by identity
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__


@contextmanager
def rolled_range(builder, count):
    """``cgutils.for_range(builder, count)`` that LLVM is told not to unroll.

    Yields a ``cgutils.Loop`` (its ``index`` counts 0 .. count - 1). For the
    loops that are not a kernel's hot loop: LLVM would otherwise copy their
    body (a constant trip count of TILE fully, an unknown one four times over
    with a remainder loop), which costs compile time on first use and, where
    measured, no speed.
    """
    intp = count.type
    module = builder.module
    bbcond = builder.append_basic_block("rolled.cond")
    bbbody = builder.append_basic_block("rolled.body")
    bbend = builder.append_basic_block("rolled.end")
    bbstart = builder.basic_block
    builder.branch(bbcond)
    with builder.goto_block(bbcond):
        index = builder.phi(intp, name="rolled.index")
        builder.cbranch(builder.icmp_signed("<", index, count), bbbody, bbend)
    with builder.goto_block(bbbody):
        yield cgutils.Loop(index, None)
        incr = builder.add(index, ir.Constant(intp, 1), flags=["nsw"])
        latch = builder.basic_block
        back = builder.branch(bbcond)
        no_unroll = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
        back.set_metadata("llvm.loop", _LoopID(module, [no_unroll]))
    index.add_incoming(ir.Constant(intp, 0), bbstart)
    index.add_incoming(incr, latch)
    builder.position_at_end(bbend)


def vector(context, dt):
    """(vector register type of numba dtype dt, its lane count, the element alignment)."""
    width = lanes(as_dtype(dt))
    return ir.VectorType(context.get_value_type(dt), width), width, dt.bitwidth // 8


def vptr(builder, base, off, vty):
    """Pointer to the vector at element ``off`` of ``base``."""
    return builder.bitcast(builder.gep(base, [off]), vty.as_pointer())


def splat(builder, x, width):
    """Vector of ``width`` copies of scalar x."""
    v = builder.insert_element(ir.Constant(ir.VectorType(x.type, width), ir.Undefined), x,
                               ir.Constant(I32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, width), [0] * width))


def fmuladd(builder, ty):
    """``llvm.fmuladd`` for scalar or vector type ``ty`` (fused where the target has FMA)."""
    vec = isinstance(ty, ir.VectorType)
    bits = 32 if isinstance(ty.element if vec else ty, ir.FloatType) else 64
    name = f"llvm.fmuladd.v{ty.count}f{bits}" if vec else f"llvm.fmuladd.f{bits}"
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]),
                                          name)


def lane_sum(builder, v, width):
    """Sum of the lanes of vector v in a fixed tree (halves added lane-wise)."""
    while width > 1:
        half = width // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half), list(range(half))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half),
                                                      list(range(half, width))))
        v = builder.fadd(lo, hi)
        width = half
    return builder.extract_element(v, ir.Constant(I32, 0))


def feature_sum(builder, d, width, acc_type, term):
    """Fixed-order sum over ``d`` features of ``term(offset, mask)``, in lanes.

    Lane i sums features i, i + width, ... in order (``term(off, None)``
    gives the vector of terms for features off .. off + width - 1); the last
    partial vector goes into the first lanes in one step, its values loaded
    under ``mask`` (lanes past the last feature read 0, whose term adds +0.0:
    the same sums as feature by feature, and no scalar loop), then the lanes
    are added in a fixed tree (:func:`lane_sum`). acc_type: the vector type
    of the sums. The portable back end sums in the same order
    (``_nearest.sq_dist``, ``_project.segment_exact``).
    """
    intp = d.type
    wconst = ir.Constant(intp, width)
    nfull = builder.udiv(d, wconst)
    acc = cgutils.alloca_once_value(builder, ir.Constant(acc_type, [0.0] * width))
    with rolled_range(builder, nfull) as loop:
        t = term(builder.mul(loop.index, wconst), None)
        builder.store(builder.fadd(builder.load(acc), t), acc)
    base = builder.mul(nfull, wconst)
    rest = builder.sub(d, base)
    with builder.if_then(builder.icmp_unsigned(">", rest, ir.Constant(intp, 0))):
        lane_ids = ir.Constant(ir.VectorType(intp, width), list(range(width)))
        mask = builder.icmp_unsigned("<", lane_ids, splat(builder, rest, width))
        builder.store(builder.fadd(builder.load(acc), term(base, mask)), acc)
    return lane_sum(builder, builder.load(acc), width)


def masked_load(builder, ptr, vty, align, mask):
    """``llvm.masked.load`` of the float vector at ``ptr`` (its lanes where
    ``mask`` is false read 0.0 and touch no memory)."""
    bits = 32 if isinstance(vty.element, ir.FloatType) else 64  # float or double
    suffix = "p0" if llvm_version_info[0] >= 15 else f"p0v{vty.count}f{bits}"
    name = f"llvm.masked.load.v{vty.count}f{bits}.{suffix}"
    fnty = ir.FunctionType(vty, [vty.as_pointer(), I32, mask.type, vty])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    zeros = ir.Constant(vty, [0.0] * vty.count)
    return builder.call(fn, [ptr, ir.Constant(I32, align), mask, zeros])


def hreduce(builder, v, width, pick, fcmp=False):
    """The smallest (pick "<") or largest (">") lane of v, in a fixed tree.

    fcmp: compare as floats (ordered: a NaN lane loses to a number only on
    the side it is compared from; callers keep NaN out), else as signed
    integers.
    """
    n = width
    while n > 1:
        half = n // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half), list(range(half))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half),
                                                      list(range(half, n))))
        keep = builder.fcmp_ordered(pick, lo, hi) if fcmp else builder.icmp_signed(pick, lo, hi)
        v = builder.select(keep, lo, hi)
        n = half
    return builder.extract_element(v, ir.Constant(I32, 0))


def running_min(builder, acc, v):
    """acc = min(acc, v) lane-wise (a float minimum: a NaN lane of v never replaces a number)."""
    b = builder.load(acc)
    builder.store(builder.select(builder.fcmp_ordered("<", v, b), v, b), acc)


def candidate_range(builder, width, ilty, count, load_row, thrs, first, last):
    """First and last index with value <= threshold, per row of the tile, in integer lanes.

    count: number of values (a multiple of width); load_row(r, j): the vector
    of row r at index j; thrs: per row, the threshold splatted. Writes
    first[r] (count if none) and last[r] (-1 if none).
    """
    intp = count.type
    ivty = ir.VectorType(ilty, width)
    narrow = ilty.width < intp.width
    count_i = builder.trunc(count, ilty) if narrow else count
    iota = ir.Constant(ivty, list(range(width)))
    wconst = ir.Constant(intp, width)
    thr_all = cgutils.alloca_once(builder, thrs[0].type, size=ir.Constant(intp, TILE))
    for r in range(TILE):
        builder.store(thrs[r], builder.gep(thr_all, [ir.Constant(intp, r)]))
    lo = cgutils.alloca_once(builder, ivty)
    hi = cgutils.alloca_once(builder, ivty)
    with rolled_range(builder, ir.Constant(intp, TILE)) as rows:  # (the loop inside is not)
        r = rows.index
        thr = builder.load(builder.gep(thr_all, [r]))
        builder.store(splat(builder, count_i, width), lo)
        builder.store(ir.Constant(ivty, [-1] * width), hi)
        with cgutils.for_range(builder, builder.udiv(count, wconst)) as loop:
            j = builder.mul(loop.index, wconst)
            jv = builder.add(splat(builder, builder.trunc(j, ilty) if narrow else j, width), iota)
            hit = builder.fcmp_ordered("<=", load_row(r, j), thr)
            lv = builder.load(lo)
            hv = builder.load(hi)
            builder.store(builder.select(hit, builder.select(
                builder.icmp_signed("<", jv, lv), jv, lv), lv), lo)
            builder.store(builder.select(hit, builder.select(
                builder.icmp_signed(">", jv, hv), jv, hv), hv), hi)
        builder.store(hreduce(builder, builder.load(lo), width, "<"), builder.gep(first.data, [r]))
        builder.store(hreduce(builder, builder.load(hi), width, ">"), builder.gep(last.data, [r]))


def arrays_ok(arrays, ndim, dt):
    """Whether every one is a C-contiguous numba array of ndim dimensions and dtype dt."""
    return all(isinstance(a, types.Array) and a.ndim == ndim and a.layout == "C"
               and (dt is None or a.dtype == dt) for a in arrays)


# --------------------------------------------------------------------------
# dot products of a tile of rows with all corners, in vector registers
# --------------------------------------------------------------------------


def emit_tile_products(context, builder, dt, xa, ca, epilogue):
    """Register-blocked products of a tile of rows with packed corners.

    xa: the tile's rows (TILE, d); ca: the packed corners (panels of
    PANEL_VECTORS vectors, :func:`._layout.pack_panels`). For every panel,
    the TILE x PANEL_VECTORS vector sums are accumulated over all features in
    order (``llvm.fmuladd``) in registers, then handed to ``epilogue(cstart,
    sums)``: cstart is the panel's first column, sums[PANEL_VECTORS * i + v]
    the vector of row i and columns cstart + v * width onwards. numba's loop
    vectorizer cannot keep sums in registers across an outer loop; this is
    about twice as fast as its best loop.
    """
    intp = context.get_value_type(types.intp)
    vty, width, align = vector(context, dt)
    fma = fmuladd(builder, vty)
    nv = PANEL_VECTORS
    d = builder.extract_value(xa.shape, 1)
    panel = ir.Constant(intp, nv * width)
    nblk = builder.udiv(builder.extract_value(ca.shape, 0), d)
    with cgutils.for_range(builder, nblk) as blk:
        pbase = builder.mul(builder.mul(blk.index, d), panel)  # the panel's first value
        accs = [cgutils.alloca_once_value(builder, ir.Constant(vty, [0.0] * width))
                for _ in range(nv * TILE)]
        with cgutils.for_range(builder, d) as loop:
            f = loop.index
            prow = builder.add(pbase, builder.mul(f, panel))
            ws = [builder.load(vptr(builder, ca.data, builder.add(
                prow, ir.Constant(intp, v * width)), vty), align=align) for v in range(nv)]
            for i in range(TILE):
                x = builder.load(builder.gep(xa.data, [
                    builder.add(builder.mul(ir.Constant(intp, i), d), f)]))
                xs = splat(builder, x, width)
                for v in range(nv):
                    acc = accs[nv * i + v]
                    builder.store(builder.call(fma, [xs, ws[v], builder.load(acc)]), acc)
        epilogue(builder.mul(blk.index, panel), [builder.load(a) for a in accs])


@intrinsic
def tile_products(typingctx, xc, W, G):
    """G[i, c] = xc[i] . (packed corner c), for the TILE rows and every packed column.

    in: xc (TILE, d); W packed corners. out: G (TILE, >= packed columns).
    Each feature loads a panel's vectors (contiguous: corners packed panel
    by panel) and TILE row values and does TILE x PANEL_VECTORS vector
    multiply-adds; the sums are stored once. Every product is summed over
    the features in order, whatever the tile.
    """
    if not arrays_ok((xc, W, G), 2, None):
        return None
    dt = xc.dtype
    if not isinstance(dt, types.Float) or W.dtype != dt or G.dtype != dt:
        return None
    sig = types.none(xc, W, G)

    def codegen(context, builder, signature, args):
        xa, ca, ga = (context.make_array(t)(context, builder, v)
                      for t, v in zip(signature.args, args))
        intp = context.get_value_type(types.intp)
        vty, width, align = vector(context, dt)
        gc = builder.extract_value(ga.shape, 1)

        def store(cstart, sums):
            for i in range(TILE):
                grow = builder.add(builder.mul(ir.Constant(intp, i), gc), cstart)
                for v in range(PANEL_VECTORS):
                    off = builder.add(grow, ir.Constant(intp, v * width))
                    builder.store(sums[PANEL_VECTORS * i + v], vptr(builder, ga.data, off, vty),
                                  align=align)

        emit_tile_products(context, builder, dt, xa, ca, store)
        return context.get_dummy_value()

    return sig, codegen


# --------------------------------------------------------------------------
# a tile of rows, centred and scaled
# --------------------------------------------------------------------------

#: llvm.prefetch mangled for a byte pointer (typed before LLVM 15, opaque since)
_PREFETCH = "llvm.prefetch.p0" if llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


@intrinsic
def tile_rows(typingctx, X, start, nr, center, scale, xc, xx):
    """Rows ``start .. start + nr`` of C-contiguous X (nr <= TILE), centred and scaled.

    out: xc (TILE, d) the rows (zero rows past nr); xx (TILE,) their squared
    norms. Each row is centred and scaled a vector at a time and its squared
    norm summed in lanes (feature f in lane f mod width, in order) added in a
    fixed tree; numba's loop would be scalar (a sum with a fixed order does
    not vectorize). It then prefetches the rows of the tile after next.
    """
    if not (arrays_ok((X, xc), 2, None) and arrays_ok((center, xx), 1, None)):
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
        vty, width, align = vector(context, dt)
        fma = fmuladd(builder, vty)
        d = builder.extract_value(Xa.shape, 1)
        wconst = ir.Constant(intp, width)
        nfull = builder.udiv(d, wconst)
        base = builder.mul(nfull, wconst)
        vzero = ir.Constant(vty, [0.0] * width)
        sv = splat(builder, scale_v, width)

        def at(ptr, off):
            return builder.bitcast(builder.gep(ptr, [off]), vty.as_pointer())

        with rolled_range(builder, ir.Constant(intp, TILE)) as rows:
            ic = rows.index
            xrow = builder.gep(Xa.data, [builder.mul(builder.add(start, ic), d)])
            crow = builder.gep(xca.data, [builder.mul(ic, d)])
            xxp = builder.gep(xxa.data, [ic])
            with builder.if_else(builder.icmp_signed("<", ic, nr)) as (present, absent):
                with present:
                    acc = cgutils.alloca_once_value(builder, vzero)
                    with rolled_range(builder, nfull) as loop:
                        off = builder.mul(loop.index, wconst)
                        v = builder.fmul(builder.fsub(
                            builder.load(at(xrow, off), align=align),
                            builder.load(at(ca.data, off), align=align)), sv)
                        builder.store(v, at(crow, off), align=align)
                        builder.store(builder.call(fma, [v, v, builder.load(acc)]), acc)
                    with rolled_range(builder, builder.sub(d, base)) as loop:
                        off = builder.add(base, loop.index)
                        v = builder.fmul(builder.fsub(
                            builder.load(builder.gep(xrow, [off])),
                            builder.load(builder.gep(ca.data, [off]))), scale_v)
                        builder.store(v, builder.gep(crow, [off]))
                        lane = builder.trunc(loop.index, I32)
                        a = builder.load(acc)
                        a = builder.insert_element(
                            a, builder.fadd(builder.extract_element(a, lane),
                                            builder.fmul(v, v)), lane)
                        builder.store(a, acc)
                    builder.store(lane_sum(builder, builder.load(acc), width), xxp)
                with absent:
                    with rolled_range(builder, d) as loop:
                        builder.store(ir.Constant(fty, 0.0), builder.gep(crow, [loop.index]))
                    builder.store(ir.Constant(fty, 0.0), xxp)
        # ask for the rows two tiles ahead now: they arrive while this tile's
        # products are computed (a prefetch past the end of X is harmless)
        i8p = ir.IntType(8).as_pointer()
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, I32, I32, I32]), _PREFETCH)
        nbytes = builder.mul(d, ir.Constant(intp, align))
        ahead = builder.gep(Xa.data, [builder.mul(builder.add(start, ir.Constant(
            intp, 2 * TILE)), d)])
        ahead = builder.bitcast(ahead, i8p)
        with rolled_range(builder, builder.udiv(builder.mul(
                nbytes, ir.Constant(intp, TILE)), ir.Constant(intp, 64))) as loop:
            builder.call(prefetch, [builder.gep(ahead, [builder.mul(loop.index, ir.Constant(
                intp, 64))]), ir.Constant(I32, 0), ir.Constant(I32, 3), ir.Constant(I32, 1)])
        return context.get_dummy_value()

    return sig, codegen

