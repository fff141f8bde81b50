"""The vector back end's job-specific kernels (LLVM IR numba intrinsics, inlined).

- :func:`tile_nearest`: a tile's products with the packed corners, the
  corners' squared norms added and each row's running minimum kept while the
  sums are in registers, then each row's first and last candidate.
- :func:`tile_pass`: the projection's segment pass for all rows of a tile
  (segment constants loaded once per tile), minima and candidate ranges.
- :func:`sq_dist` and :func:`segment_exact`: one candidate evaluated directly
  in float64 lanes, in a fixed order.

Each has a twin in plain Numba in the portable back end (:mod:`._nearest`,
:mod:`._project`); the re-checks (:func:`sq_dist`, :func:`segment_exact`)
sum in the same order as their twins and are bit-identical to them, so both
back ends return the same results. Helpers and the shared tile kernels are in
:mod:`._ir`; vector width and tile shape in :mod:`._layout`.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._ir import (arrays_ok, candidate_range, emit_tile_products, feature_sum, fmuladd,
                  hreduce, masked_load, running_min, splat, vector, vptr)
from ._layout import PANEL_VECTORS, TILE


def _lane_ints(dt):
    """Integer type of candidate indices in vector lanes: as wide as the data."""
    return types.int32 if dt.bitwidth == 32 else types.int64


def _thresholds(builder, intp, fty, width, best, xx, ms_v, cmax_v, thr):
    """Per row: min(lanes of best) + mscale (|x|^2 + cmax), stored in thr, returned splatted."""
    fma1 = fmuladd(builder, fty)
    out = []
    for r in range(TILE):
        rc = ir.Constant(intp, r)
        m = hreduce(builder, builder.load(best[r]), width, "<", fcmp=True)
        xr = builder.load(builder.gep(xx.data, [rc]))
        t = builder.call(fma1, [ms_v, builder.fadd(xr, cmax_v), m])
        builder.store(t, builder.gep(thr.data, [rc]))
        out.append(splat(builder, t, width))
    return out


@intrinsic
def tile_nearest(typingctx, xc, xx, W, cc, mscale, cmax, A, thr, first, last):
    """Expanded distances of a tile's rows to every corner, and the candidates.

    in: xc (TILE, d) centred, scaled rows; xx (TILE,) their squared norms;
    W the corners times -2 in panels; cc the corners' squared norms, NaN
    past the last corner; mscale, cmax: the margin is mscale (|x|^2 + cmax).
    out: A (TILE, >= len(cc)) ``|c|^2 - 2 x.c`` (NaN for the padding); thr
    (TILE,) the smallest one plus the margin; first, last (TILE,) the first
    and last corner with A <= thr (len(cc) and -1 if none: so for every row
    whose distances are not finite). Twin: ``_nearest._tile_nearest``.
    """
    if not (arrays_ok((xc, W, A), 2, None) and arrays_ok((xx, cc, thr, first, last), 1, None)):
        return None
    dt = xc.dtype
    if not isinstance(dt, types.Float) or any(a.dtype != dt for a in (W, A, xx, cc, thr)):
        return None
    ity = _lane_ints(dt)
    if first.dtype != ity or last.dtype != ity or mscale != dt or cmax != dt:
        return None
    sig = types.none(xc, xx, W, cc, mscale, cmax, A, thr, first, last)

    def codegen(context, builder, signature, args):
        ta = signature.args
        xa, xxa, wa, cca = (context.make_array(t)(context, builder, v)
                            for t, v in zip(ta[:4], args[:4]))
        ms_v, cmax_v = args[4:6]
        Aa, thra, fa, la = (context.make_array(t)(context, builder, v)
                            for t, v in zip(ta[6:], args[6:]))
        intp = context.get_value_type(types.intp)
        fty = context.get_value_type(dt)
        vty, width, align = vector(context, dt)
        ac = builder.extract_value(Aa.shape, 1)
        best = [cgutils.alloca_once_value(builder, splat(builder, ir.Constant(
            fty, float("inf")), width)) for _ in range(TILE)]

        def epilogue(cstart, sums):
            for v in range(PANEL_VECTORS):
                col = builder.add(cstart, ir.Constant(intp, v * width))
                c2 = builder.load(vptr(builder, cca.data, col, vty), align=align)
                for r in range(TILE):
                    a = builder.fadd(sums[PANEL_VECTORS * r + v], c2)
                    off = builder.add(builder.mul(ir.Constant(intp, r), ac), col)
                    builder.store(a, vptr(builder, Aa.data, off, vty), align=align)
                    running_min(builder, best[r], a)

        emit_tile_products(context, builder, dt, xa, wa, epilogue)
        thrs = _thresholds(builder, intp, fty, width, best, xxa, ms_v, cmax_v, thra)

        def load_row(r, j):  # r: an IR value
            off = builder.add(builder.mul(r, ac), j)
            return builder.load(vptr(builder, Aa.data, off, vty), align=align)

        candidate_range(builder, width, context.get_value_type(ity),
                        builder.extract_value(cca.shape, 0), load_row, thrs, fa, la)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def tile_pass(typingctx, G, xx, cc, cd2, dd, ih, mscale, cmax, one, A, thr, first, last):
    """Expanded distances of a tile's rows to every (padded) segment, and candidates.

    in: G (TILE, >= nsp + 1) products with the corners times -2; xx (TILE,)
    squared row norms; segment constants of :class:`._layout.ProjectionArgs`
    (padded to nsp); mscale, cmax as for :func:`tile_nearest`.
    out: A (TILE, nsp) the squared distances minus |x|^2 (NaN for the
    padding); thr, first, last as for :func:`tile_nearest`. One vector loop
    over the segments computes all rows with each vector of segment constants
    loaded once. Twin: ``_project._segment_pass``.
    """
    if not (arrays_ok((G, A), 2, None) and arrays_ok((xx, cc, cd2, dd, ih, thr, first, last),
                                                     1, None)):
        return None
    dt = G.dtype
    if not isinstance(dt, types.Float) or any(a.dtype != dt for a in (A, xx, cc, cd2, dd, ih,
                                                                      thr)):
        return None
    ity = _lane_ints(dt)
    if first.dtype != ity or last.dtype != ity or mscale != dt or cmax != dt or one != dt:
        return None
    sig = types.none(G, xx, cc, cd2, dd, ih, mscale, cmax, one, A, thr, first, last)

    def codegen(context, builder, signature, args):
        ta = signature.args
        Ga, xxa, cca, cda, dda, iha = (context.make_array(t)(context, builder, v)
                                       for t, v in zip(ta[:6], args[:6]))
        ms_v, cmax_v, one_v = args[6:9]
        Aa, thra, fa, la = (context.make_array(t)(context, builder, v)
                            for t, v in zip(ta[9:], args[9:]))
        intp = context.get_value_type(types.intp)
        fty = context.get_value_type(dt)
        vty, width, align = vector(context, dt)
        fma = fmuladd(builder, vty)

        def vload(base, off):
            return builder.load(vptr(builder, base, off, vty), align=align)

        nsp = builder.extract_value(cca.shape, 0)
        gc = builder.extract_value(Ga.shape, 1)
        ac = builder.extract_value(Aa.shape, 1)
        wconst = ir.Constant(intp, width)
        vzero = ir.Constant(vty, [0.0] * width)
        vone = splat(builder, one_v, width)
        best = [cgutils.alloca_once_value(builder, splat(builder, ir.Constant(
            fty, float("inf")), width)) for _ in range(TILE)]
        with cgutils.for_range(builder, builder.udiv(nsp, wconst)) as loop:
            j = builder.mul(loop.index, wconst)
            c2, cd, d2, ihv = (vload(a.data, j) for a in (cca, cda, dda, iha))
            for r in range(TILE):
                g = builder.add(builder.mul(ir.Constant(intp, r), gc), j)
                h = vload(Ga.data, g)
                h1 = vload(Ga.data, builder.add(g, ir.Constant(intp, 1)))
                u = builder.fsub(builder.fsub(h, h1), cd)
                lam = builder.fmul(u, ihv)
                lam = builder.select(builder.fcmp_ordered(">", lam, vzero), lam, vzero)
                lam = builder.select(builder.fcmp_ordered("<", lam, vone), lam, vone)
                nlam = builder.fneg(lam)
                t = builder.call(fma, [nlam, d2, u])  # u - lam |d|^2
                v = builder.call(fma, [nlam, t, builder.fadd(c2, h)])  # cc + h - lam t
                builder.store(v, vptr(builder, Aa.data, builder.add(
                    builder.mul(ir.Constant(intp, r), ac), j), vty), align=align)
                running_min(builder, best[r], v)
        thrs = _thresholds(builder, intp, fty, width, best, xxa, ms_v, cmax_v, thra)

        def load_row(r, j):  # r: an IR value
            return vload(Aa.data, builder.add(builder.mul(r, ac), j))

        candidate_range(builder, width, context.get_value_type(ity), nsp, load_row, thrs, fa, la)
        return context.get_dummy_value()

    return sig, codegen


def _row_pointers(context, builder, ta, args, *arrays):
    """Pointers to row ``args[i_row]`` of each (array index, row index) pair given."""
    out = []
    for ia, ir_ in arrays:
        a = context.make_array(ta[ia])(context, builder, args[ia])
        row = context.cast(builder, args[ir_], ta[ir_], types.intp)
        out.append(builder.gep(a.data, [builder.mul(row, builder.extract_value(a.shape, 1))]))
    return out


def _lanes_of(builder, width, wty, narrow, vty, align, d, rows, term):
    """Fixed-order feature sum (:func:`._ir.feature_sum`) of ``term(*vectors)``,
    one vector per row (the last partial vector loaded under a mask)."""
    wvty = ir.VectorType(wty, width)

    def load(row, off, mask):
        ptr = vptr(builder, row, off, vty)
        if mask is None:
            v = builder.load(ptr, align=align)
        else:
            v = masked_load(builder, ptr, vty, align, mask)
        return builder.fpext(v, wvty) if narrow else v

    return feature_sum(builder, d, width, wvty, lambda off, mask: term(
        *(load(row, off, mask) for row in rows)))


@intrinsic
def sq_dist(typingctx, X, i, C, j, s):
    """Squared distance between row ``X[i]`` and corner ``C[j]`` times ``s``
    (the working scale, a power of two; float64), in float64.

    A fixed-order sum of plain float64 products (no fused multiply-add, so
    the same on every machine); float32 data is widened after loading (the
    differences and squares are then exact); every difference is multiplied
    by ``s`` (exact) before it is squared, so that the squares of data far
    from unit scale neither underflow nor overflow. Twin: ``_nearest.sq_dist``.
    """
    if not arrays_ok((X, C), 2, None):
        return None
    dt = X.dtype
    if not isinstance(dt, types.Float) or C.dtype != dt or s != types.float64:
        return None
    sig = types.float64(X, i, C, j, s)

    def codegen(context, builder, signature, args):
        vty, width, align = vector(context, dt)
        xrow, crow = _row_pointers(context, builder, signature.args, args, (0, 1), (2, 3))
        d = builder.extract_value(context.make_array(signature.args[0])(
            context, builder, args[0]).shape, 1)
        s_v = splat(builder, args[4], width)

        def term(x, c):
            e = builder.fmul(builder.fsub(x, c), s_v)
            return builder.fmul(e, e)

        return _lanes_of(builder, width, ir.DoubleType(), dt.bitwidth == 32, vty, align, d,
                         (xrow, crow), term)

    return sig, codegen


@intrinsic
def segment_exact(typingctx, X, i, C, j, len2, s, zero, one):
    """Exact projection of row ``X[i]`` onto the segment from ``C[j]`` to ``C[j+1]``.

    Returns (squared distance times ``s^2``, lambda in [0, 1]) in the dtype
    of the data, computed from the coordinates as given in float64 lanes, in
    a fixed order: with e = (x - c_j) s and d = (c_{j+1} - c_j) s (``s``: the
    working scale, a power of two, so exact), lambda = e.d / len2[j]
    (float64 |d|^2) clamped (0 / 0 = NaN gives 0), distance = |e - lambda d|^2.
    Plain multiplies and adds (no fused multiply-add). Two candidates whose
    distances differ by less than float32 can resolve are told apart as in
    float64 before the result is rounded. Twin: ``_project.segment_exact``.
    """
    if not (arrays_ok((X, C), 2, None) and arrays_ok((len2,), 1, types.float64)):
        return None
    dt = X.dtype
    if not isinstance(dt, types.Float) or C.dtype != dt:
        return None
    if zero != dt or one != dt or s != types.float64:
        return None
    sig = types.UniTuple(dt, 2)(X, i, C, j, len2, s, zero, one)

    def codegen(context, builder, signature, args):
        ta = signature.args
        fty = context.get_value_type(dt)
        wty = ir.DoubleType()
        vty, width, align = vector(context, dt)
        narrow = dt.bitwidth == 32
        xrow, crow = _row_pointers(context, builder, ta, args, (0, 1), (2, 3))
        d = builder.extract_value(context.make_array(ta[0])(context, builder, args[0]).shape, 1)
        nrow = builder.gep(crow, [d])  # C[j + 1]: C is C-contiguous
        rows = (xrow, crow, nrow)
        s_v = splat(builder, args[5], width)

        def scaled(a, b):
            return builder.fmul(builder.fsub(a, b), s_v)

        def along(x, c, n):
            return builder.fmul(scaled(x, c), scaled(n, c))

        wzero = ir.Constant(wty, 0.0)
        wone = ir.Constant(wty, 1.0)
        num = _lanes_of(builder, width, wty, narrow, vty, align, d, rows, along)
        la = context.make_array(ta[4])(context, builder, args[4])
        den = builder.load(builder.gep(la.data, [context.cast(builder, args[3], ta[3],
                                                              types.intp)]))
        lam = builder.fdiv(num, den)
        # NaN (0 / 0: a segment of length 0) and negative values: 0; above 1: 1
        lam = builder.select(builder.fcmp_ordered(">", lam, wzero), lam, wzero)
        lam = builder.select(builder.fcmp_ordered("<", lam, wone), lam, wone)
        lam_v = splat(builder, lam, width)

        def residual(x, c, n):
            w = builder.fsub(scaled(x, c), builder.fmul(lam_v, scaled(n, c)))
            return builder.fmul(w, w)

        dist = _lanes_of(builder, width, wty, narrow, vty, align, d, rows, residual)
        if narrow:
            dist = builder.fptrunc(dist, fty)
            lam = builder.fptrunc(lam, fty)
        return context.make_tuple(builder, signature.return_type, [dist, lam])

    return sig, codegen
