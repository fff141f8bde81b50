"""Vector width, block shape and the kernels' inputs: defined once, for both back ends.

The kernels see the corners only through the named tuples built here
(:func:`nearest_args`, :func:`direct_args`, :func:`projection_args`): the
corners shifted by their mean, scaled by a power of two, and the constants
each kernel needs, in the layout of the back end that will read them
(``"simd"``: corners packed in panels of two vectors, per-segment constants
padded to whole vectors; ``"portable"``: plain arrays). The arrays are
built with NumPy; :func:`lanes` and :func:`panel` are also compile-time
constants inside jitted code.
"""

import functools
import math
from collections import namedtuple

import numpy as np
from numba.extending import overload

#: bits of one vector register the IR back end is written for (AVX-512)
VECTOR_BITS = 512
#: rows whose products the IR back end computes together (8 rows x 2 vectors
#: of corners: 16 accumulators, half of AVX-512's 32 vector registers)
TILE = 8
#: vectors of corners per panel (the corners the IR kernel holds per row)
PANEL_VECTORS = 2
#: rows handled together by one thread (one parallel task), both back ends
BLOCK = 256
#: rows per matrix product in the portable back end (products stay in L2)
PORTABLE_ROWS = 64
#: per-segment constants of the IR back end are padded to a multiple of this
SEGMENT_PAD = 16
#: values of a row chunk held by the direct nearest-corner kernel (16 KiB float32)
DIRECT_FLOATS = 4096


def lanes(dtype):
    """Elements of ``dtype`` in one vector register (16 float32, 8 float64)."""
    return VECTOR_BITS // (8 * np.dtype(dtype).itemsize)


def panel(dtype):
    """Corners per panel of the IR products kernel (32 float32, 16 float64)."""
    return PANEL_VECTORS * lanes(dtype)


@overload(lanes, jit_options={"cache": True})
def _lanes_jit(dtype):
    n = VECTOR_BITS // dtype.dtype.bitwidth
    return lambda dtype: n


@overload(panel, jit_options={"cache": True})
def _panel_jit(dtype):
    n = PANEL_VECTORS * VECTOR_BITS // dtype.dtype.bitwidth
    return lambda dtype: n


def like(ref, x):
    """x in the dtype of the scalar ``ref`` (one rounding; also inside jitted code)."""
    return np.asarray(ref).dtype.type(x)


@overload(like, jit_options={"cache": True})
def _like_jit(ref, x):
    cast = np.float32 if ref.bitwidth == 32 else np.float64
    return lambda ref, x: cast(x)


def direct(k, d):
    """Whether the nearest corner is cheaper from direct distances.

    Measured per call on float32 (1 thread, N = 2e5, 2-core AVX-512
    machine) against the vector products kernel: the direct kernel wins for
    fewer than 16 features with at most 128 corners (d = 8, k = 64: 5 ms vs
    12; d = 12, k = 128: 16 vs 20) and for at most 16 corners when a
    feature count that is not a multiple of 16 leaves the products kernel a
    scalar tail (d = 17, k = 16: 3.7 vs 5.8); the products kernel wins
    beyond (d = 4, k = 256: 10 vs 19; d = 16, k = 64: 4 vs 9; d = 32,
    k = 128: 9 vs 35; d = 64, k = 32: 7 vs 24). Both back ends use the same
    rule, so that they return the same labels.
    """
    return (d < 16 and k <= 128) or (k <= 16 and d <= 64)


#: inputs of the nearest-corner kernels. center (d,): the mean corner; scale,
#: inv2 = 1 / scale^2 (a float64: it may lie outside float32's range): the
#: power-of-two working scale; Cc (k, d): corners
#: minus center, times scale; W: the corners times -2 for the products
#: (simd: panels, see :func:`pack_panels`; portable: (k, d)); cc: |Cc|^2
#: (simd: NaN-padded to the packed columns; portable: (k,)); cmax = max cc;
#: mscale = 8 (d + 2) eps: the relative rounding margin of the expanded
#: form; one = 1; C (k, d): the corners as given (C-contiguous, dtype of X)
#: and s64 = scale (float64): the candidates are re-checked from the rows
#: and corners as given, not from their centred copies, each difference
#: times s64 (exact) before it is squared (see ``docs/dev/kernels.rst``).
#: Scalars (but inv2, s64) in the dtype of X. Every
#: field is one more value to unbox on each call and more code to compile on
#: first use: a kernel's tuple holds what it reads and nothing else.
NearestArgs = namedtuple("NearestArgs",
                         "center scale inv2 Cc W cc cmax mscale one C s64")

#: inputs of the direct nearest-corner kernel: those of :class:`NearestArgs`
#: it reads (it computes no products; its distances in the data's dtype are
#: within mscale (distance + |x|^2 + cmax) of the exact ones).
DirectArgs = namedtuple("DirectArgs", "center scale inv2 Cc cmax mscale one C s64")

#: inputs of the projection kernels: those of :class:`NearestArgs` (cc: the
#: squared norms of the segments' first corners) plus, per segment j of the
#: centred corners, cd2 = 2 c_j.d_j, dd = |d_j|^2, ih = 1 / (2 |d_j|^2) (0
#: for a zero-length segment; simd: all padded to a multiple of
#: SEGMENT_PAD, cc with NaN). The re-check takes its segments from C, with
#: len2 (k-1,) float64 their squared lengths |(c_{j+1} - c_j) s64|^2 from C.
ProjectionArgs = namedtuple("ProjectionArgs",
                            "center scale inv2 Cc W cc cmax mscale one C s64 len2 cd2 dd ih")

#: Largest binary exponent of the working scale (a normal number of the dtype;
#: float32 data of unit 1e37 or 1e-37 is brought near 1: at 2^60, its corners'
#: squared norms overflowed and those corners dropped out of the comparisons)
_MAX_EXP = {np.dtype(np.float32): 120, np.dtype(np.float64): 500}


def centred(C):
    """(center, scale, inv2, Cc, cc, cmax, mscale, one, s64) of corners C.

    The corners are shifted by their mean (distances unchanged, no precision
    lost to a large common offset) and scaled by a power of two that brings
    their spread near 1, so squared distances neither overflow nor underflow
    for data of any unit (1e30 or 1e-30 in float32); multiplying by a power
    of two is exact. (Every call of a nearest-corner or projection kernel
    makes these: on small data the NumPy calls here cost as much as the
    kernel, so there are few of them.)
    """
    dtype = C.dtype.type
    center = C.mean(axis=0)
    if not np.isfinite(center).all() and np.isfinite(C).all():  # the sum overflowed
        center = C.mean(axis=0, dtype=np.float64).astype(C.dtype)
    Cc = np.subtract(C, center, order="C")  # a new C-contiguous array, scaled in place
    spread = float(np.abs(Cc).max()) if C.size else 0.0
    exponent = 0
    if 0.0 < spread < np.inf:
        limit = _MAX_EXP[C.dtype]
        exponent = min(max(-math.frexp(spread)[1], -limit), limit)
    s64 = math.ldexp(1.0, exponent)
    scale = dtype(s64)
    Cc *= scale
    cc = np.einsum("ij,ij->i", Cc, Cc)
    return (center, scale, math.ldexp(1.0, -2 * exponent), Cc, cc, dtype(cc.max()),
            _mscale(C.dtype, C.shape[1]), dtype(1), s64)


@functools.lru_cache(maxsize=None)
def _mscale(dtype, d):
    """The relative rounding margin of the expanded form, 8 (d + 2) eps."""
    return dtype.type(8 * (d + 2) * np.finfo(dtype).eps)


def pack_panels(Cc):
    """The corners times -2 packed for the IR products kernel.

    Panels of ``P = panel(dtype)`` corners stored one after the other
    (``W[b * d + f, i] = -2 Cc[b * P + i, f]``, zero past the last corner),
    so that the kernel reads them in order. Multiplying by -2 is exact.
    """
    k, d = Cc.shape
    P = panel(Cc.dtype)
    nb = -(-k // P)
    full = np.zeros((nb * P, d), dtype=Cc.dtype)
    full[:k] = Cc * Cc.dtype.type(-2)
    return np.ascontiguousarray(full.reshape(nb, P, d).transpose(0, 2, 1).reshape(nb * d, P))


def lane_ints(dtype):
    """Integer dtype of candidate indices in vector lanes: as wide as ``dtype``."""
    return np.dtype(f"i{np.dtype(dtype).itemsize}")


def _padded(a, n, fill):
    out = np.full(n, fill, dtype=a.dtype)
    out[:len(a)] = a
    return out


def nearest_args(C, backend):
    """:class:`NearestArgs` of corners C (k >= 1) for ``backend``."""
    center, scale, inv2, Cc, cc, cmax, mscale, one, s64 = centred(C)
    if backend == "simd":
        W = pack_panels(Cc)
        cc = _padded(cc, (W.shape[0] // Cc.shape[1]) * W.shape[1], np.nan)
    else:
        W = np.ascontiguousarray(Cc * C.dtype.type(-2))
    return NearestArgs(center, scale, inv2, Cc, W, cc, cmax, mscale, one,
                       np.ascontiguousarray(C), s64)


def direct_args(C):
    """:class:`DirectArgs` of corners C (k >= 1)."""
    center, scale, inv2, Cc, _, cmax, mscale, one, s64 = centred(C)
    return DirectArgs(center, scale, inv2, Cc, cmax, mscale, one, np.ascontiguousarray(C), s64)


def projection_args(C, backend):
    """:class:`ProjectionArgs` of corners C (k >= 2) for ``backend``."""
    center, scale, inv2, Cc, cc, cmax, mscale, one, s64 = centred(C)
    Dseg = np.diff(Cc, axis=0)
    dd = np.einsum("ij,ij->i", Dseg, Dseg)
    cd2 = np.einsum("ij,ij->i", Cc[:-1], Dseg) * (one + one)
    inv_dd = np.zeros_like(dd)
    np.divide(one, dd, out=inv_dd, where=dd > 0)
    ih = inv_dd * (one / (one + one))
    cc = cc[:-1]
    if backend == "simd":
        W = pack_panels(Cc)
        nsp = -(-len(dd) // SEGMENT_PAD) * SEGMENT_PAD
        cc, cd2, dd, ih = (_padded(cc, nsp, np.nan), _padded(cd2, nsp, 0),
                           _padded(dd, nsp, 0), _padded(ih, nsp, 0))
    else:
        W = np.ascontiguousarray(Cc * C.dtype.type(-2))
    D64 = np.diff(C.astype(np.float64), axis=0) * s64
    len2 = np.einsum("ij,ij->i", D64, D64)
    return ProjectionArgs(center, scale, inv2, Cc, W, np.ascontiguousarray(cc), cmax, mscale,
                          one, np.ascontiguousarray(C), s64, len2, cd2, dd, ih)
