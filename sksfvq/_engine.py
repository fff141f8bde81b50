"""The one way to the kernels: back-end choice, chunking over rows, thread control.

The estimator, the trainers and the metrics use the names here:

- :func:`nearest_corner` (labels, float64 squared distances),
- :func:`project` (positions, segments, squared distances) and
  :func:`positions` (positions only, for ``transform``),
- :func:`curve_points`,
- :func:`kernel_threads` (numba's thread count for a call, restored after),
  :func:`one_blas_thread`, :func:`jit` (the decorator of the trainers'
  kernels), :func:`readonly` (how the trainers pass rows and weights to
  those kernels) and :func:`parallel_slot` (one parallel launch at a time),
- :func:`backend`: the kernel back end in use, and :func:`bounds_pay`:
  whether the trainer's bounded passes pay on it,
- :func:`on_dask`: whether an input is a dask collection (then
  :mod:`._dask` does the work).

``import sksfvq`` imports this module but no Numba-backed one: they load on
first use. The back end is chosen once per process from ``SKSFVQ_KERNELS``:
``auto`` (default) takes the vector IR back end where the CPU numba compiles
for has the features it was written and measured for (AVX-512F, or AVX2 with
FMA) and the portable one elsewhere (and, with one warning, when the IR fails
to compile); ``simd`` and ``portable`` force one. Both give the same labels,
positions and distances.
"""

import importlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController


class _OnFirstUse:
    """A module of this package imported when one of its names is first used."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(f"{__package__}.{self._name}"), attr)


_numba = _OnFirstUse("_numba")
_nearest = _OnFirstUse("_nearest")
_project = _OnFirstUse("_project")
_train = _OnFirstUse("_train")

#: names of ``_train.TRAINERS`` (kept here so that validation needs no import)
ALGORITHMS = ("lloyd", "sgd")

#: rows per kernel call: memory stays bounded for any N
_CHUNK_ROWS = 1 << 20

#: CPU feature sets on which the vector back end is taken by ``auto``: written
#: for AVX-512 (its 512-bit vectors and 16 accumulators are native registers
#: there), and measured faster than the portable back end on AVX2 with FMA
#: too (LLVM splits the vectors; see docs/dev/kernels.rst); not on SSE2
TUNED_FOR = ({"avx512f"}, {"avx2", "fma"})

_BLAS = []
_CHOICE = {}


def one_blas_thread():
    """Context limiting BLAS to one thread (its controller is built once:
    finding the libraries costs ~3 ms, more than a small fit)."""
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def kernel_threads(n_jobs):
    """Context manager: numba kernels run with ``n_jobs`` threads, then the setting returns."""
    return _numba.kernel_threads(n_jobs)


def jit(**options):
    """The decorator of every Numba kernel of this package (see :func:`._numba.jit`)."""
    return _numba.jit(**options)


def readonly(a):
    """``a`` as a read-only view, as every kernel gets the arrays it only reads
    (one compiled specialization for writeable and read-only data; see
    :func:`._numba.readonly`)."""
    return _numba.readonly(a)


def parallel_slot(wanted):
    """Context: whether a call may launch a parallel kernel now (one at a time
    per process; see :class:`._numba.parallel_slot`)."""
    return _numba.parallel_slot(wanted)


def in_rounds(fn, items, scratch=None):
    """``fn(own, item)`` for every item, yielded in order: in rounds of as many
    items as the kernels run threads (:func:`kernel_threads`; one: a plain
    loop), one per thread. ``own``: what ``scratch()`` made for the call's
    place in the round (None without ``scratch``), made here by the calling
    thread (memory a worker thread allocates stays in that thread's heap
    once freed) and free again in the next round, since a round's results
    are yielded before the next one starts. For work that releases the GIL
    (NumPy on large arrays, the kernels: ``nogil``) and whose every call
    computes the same bits on any thread: the results are then those of
    the loop, for any number of threads."""
    items = list(items)
    threads = min(_numba.numba.get_num_threads(), len(items))
    owns = [scratch() if scratch is not None else None for _ in range(threads)]
    if threads <= 1:
        for item in items:
            yield fn(owns[0], item)
        return
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, len(items), threads):
            batch = items[start:start + threads]
            yield from list(pool.map(fn, owns[:len(batch)], batch))


def compile_target_features():
    """The CPU features numba compiles for (``NUMBA_CPU_FEATURES`` or the host's)."""
    import numba
    from llvmlite import binding

    features = numba.config.CPU_FEATURES
    if features is None:
        features = binding.get_host_cpu_features().flatten()
    return {f[1:] for f in features.split(",") if f.startswith("+")}


def backend():
    """The kernel back end of this process: "simd" or "portable" (see the module doc)."""
    if "name" not in _CHOICE:
        mode = os.environ.get("SKSFVQ_KERNELS", "auto").strip().lower() or "auto"
        if mode not in ("auto", "simd", "portable"):
            raise ValueError(f"SKSFVQ_KERNELS must be auto, simd or portable; got {mode!r}")
        _CHOICE["mode"] = mode
        if _numba.DISABLE_JIT:  # the IR runs only compiled
            _CHOICE["name"] = "portable"
        elif mode == "auto":
            features = compile_target_features()
            tuned = any(need <= features for need in TUNED_FOR)
            _CHOICE["name"] = "simd" if tuned else "portable"
        else:
            _CHOICE["name"] = mode
    return _CHOICE["name"]


def bounds_pay():
    """Whether Lloyd passes that keep bounds (:mod:`._bounds`) can beat plain
    passes on this machine: not where the vector back end runs on AVX-512.

    A bounded pass still visits every row and its group bounds, and measures
    the rows it must in float64 loops; on AVX-512 the vector kernel's float32
    pass is as fast as that. Measured on one quiet AVX-512 machine at 1e5
    rows, K=1024 (identical losses; the bounds as they are kept since
    5bb6f1e): D=64 fit 5.3-5.7 s with bounds, 4.7-5.1 s without; D=384 25.9
    s with, 26.4 s without. Compiled for AVX2 on the same machine
    (``NUMBA_CPU_NAME=haswell`` with haswell's ``NUMBA_CPU_FEATURES``, as in
    ``.ci/kernels``: the name alone keeps the host's AVX-512): D=64 6.9 s
    with, 7.7 s without; D=384 32.9 s with, 41.0 s without.
    """
    return not (backend() == "simd" and "avx512f" in compile_target_features())


def _run(kernel, *args, **options):
    """``kernel(*args, backend)`` on the chosen back end; in auto mode, a vector kernel
    that fails to compile warns once and the portable back end takes over."""
    name = backend()
    if name == "portable":
        with one_blas_thread():  # numba's threads call BLAS: one thread each
            return kernel(*args, "portable", **options)
    try:
        return kernel(*args, "simd", **options)
    except Exception as exc:
        from numba.core.errors import NumbaError

        if _CHOICE["mode"] != "auto" or not isinstance(exc, (NumbaError, RuntimeError)):
            raise
        warnings.warn(f"sksfvq: the vector kernels failed to compile ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0] if str(exc) else ''}); using the portable "
                      "kernels instead", RuntimeWarning, stacklevel=3)
        _CHOICE["name"] = "portable"
        return _run(kernel, *args, **options)


def _chunks(n):
    return [(start, min(start + _CHUNK_ROWS, n)) for start in range(0, max(n, 1), _CHUNK_ROWS)]


def nearest_corner(X, C, k_path=None, distances=True):
    """(labels, squared distances in float64) of the nearest corner of every row of X.

    Exact (the candidates are re-checked in float64 from the rows and corners
    as given; ties to the lowest index; see docs/dev/kernels.rst), chunked
    over rows. The kernels return
    float64 distances (scaled back from the corners' working scale, so that
    float32 data of any unit keeps them and sums of them -- inertia, score,
    training errors -- stay finite and non-zero); a finite row whose
    distance still is not finite (beyond float64 at the working scale) is
    measured again directly to the corner it got; a row that is not finite
    gets label 0 and distance inf. ``k_path``: the corner count that
    chooses the kernel (default: C's; a trainer passes its final count).
    ``distances=False``: (labels, None), holding the distances of one chunk
    of rows only (``predict``: no float64 array of every row's distance).
    """
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dist2 = np.empty(n if distances else min(n, _CHUNK_ROWS), dtype=np.float64)
    for start, stop in _chunks(n):
        Xs = X[start:stop]
        out = dist2[start:stop] if distances else dist2[:stop - start]
        lab, d2, clean = _run(_nearest.nearest_corner, Xs, C, k_path=k_path, out=out)
        labels[start:stop] = lab
        if not clean and distances:
            bad = ~np.isfinite(d2) & np.all(np.isfinite(Xs), axis=1)
            if bad.any():
                diff = Xs[bad].astype(np.float64) - np.asarray(C, np.float64)[lab[bad]]
                with np.errstate(over="ignore"):  # still beyond float64: inf
                    dist2[start:stop][bad] = np.einsum("ij,ij->i", diff, diff)
    return labels, (dist2 if distances else None)


def project(X, C):
    """(positions, segments, squared distances) of the exact projection onto the curve.

    Exact over all ``k - 1`` segments (ties to the lowest), positions in the
    dtype of X and squared distances in float64 (as :func:`nearest_corner`),
    chunked over rows; a row that is not finite gets position 0, segment 0
    and distance inf.
    """
    n = X.shape[0]
    pos = np.empty(n, dtype=X.dtype)
    seg = np.empty(n, dtype=np.intp)
    dist2 = np.empty(n, dtype=np.float64)
    for start, stop in _chunks(n):
        pos[start:stop], seg[start:stop], _ = _run(
            _project.project, X[start:stop], C, out=dist2[start:stop])
    return pos, seg, dist2


def positions(X, C):
    """Positions of the exact projection (:func:`project`) only: what ``transform`` returns."""
    n = X.shape[0]
    pos = np.empty(n, dtype=X.dtype)
    scratch = np.empty(min(n, _CHUNK_ROWS))  # the distances of one chunk, dropped
    for start, stop in _chunks(n):
        pos[start:stop] = _run(_project.project, X[start:stop], C,
                               out=scratch[:stop - start])[0]
    return pos


def curve_points(pos, C):
    """Points of the polyline through C at positions ``pos`` (in [0, k-1])."""
    return _project.curve_points(pos, C)


def train(algorithm, X, w, n_clusters, init, options, rng, verbose):
    """Run the trainer ``algorithm`` (a name of :data:`ALGORITHMS`): a
    :class:`._stages.TrainResult` with the oriented corners, the rows'
    assignment and the streaming state."""
    return _train.TRAINERS[algorithm](X, w, n_clusters, init, options, rng, verbose)


def refine_online(X, w, C, mass, sums, smoothness):
    """One ``partial_fit`` update of the corners (see :func:`._train.refine_online`)."""
    return _train.refine_online(X, w, C, mass, sums, smoothness)


def on_dask(X):
    """Whether X is a dask array or DataFrame (dask is imported only for such an X)."""
    return hasattr(X, "__dask_graph__")


#: float64 rows must spread over at least 2^-SPREAD_EXP and at most
#: 2^SPREAD_EXP (largest column range): their squared distances then stay
#: normal float64 numbers (float32 data always do, at the kernels' working scale)
SPREAD_EXP = 500


def check_spread(X, corners=None, what="X"):
    """ValueError for float64 rows X (in memory or a dask array: one pass)
    whose largest column range float64 cannot hold the squares of.

    ``corners``: float64 corners (in memory) that share the space with the
    rows (a later ``partial_fit`` chunk, an ``init`` array), whatever X's
    dtype: the range is that of both together; ``what`` names them."""
    lo = hi = None
    if X.dtype == np.float64 and X.size:
        # one pass for both (a dask X: np.stack gives one graph, computed once)
        lo, hi = np.asarray(np.stack([X.min(axis=0), X.max(axis=0)]))
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("Input X contains NaN or infinity.")
    if corners is not None and corners.size:
        c_lo, c_hi = corners.min(axis=0), corners.max(axis=0)
        if lo is None and X.size:  # float32 rows: their range joins the corners'
            lo, hi = np.asarray(X.min(axis=0), np.float64), np.asarray(X.max(axis=0), np.float64)
        lo = c_lo if lo is None else np.minimum(lo, c_lo)
        hi = c_hi if hi is None else np.maximum(hi, c_hi)
    if lo is None:
        return
    spread = float((hi - lo).max())
    if spread > np.ldexp(1.0, SPREAD_EXP) or 0.0 < spread < np.ldexp(1.0, -SPREAD_EXP):
        raise ValueError(
            f"{what} spreads over {spread:.3g} (its largest column range): squared distances "
            f"of rows so far apart or so close over- or underflow float64; the range "
            f"must lie between 2^-{SPREAD_EXP} and 2^{SPREAD_EXP} (about 3e-151 and "
            "3e150). Rescale the data, e.g. with StandardScaler."
        )


def check_count(value, name, minimum=1):
    """``value`` as an int >= ``minimum`` (a count or size parameter): TypeError
    for a bool, a fractional or a non-number, ValueError below the minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise TypeError(f"{name} must be an int; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def training_weights(sample_weight, X):
    """Checked, non-negative float64 training weights with at least one non-zero
    and a finite sum (the trainers' weighted sums would overflow)."""
    # imported here: the compile helper imports this module, not scikit-learn
    from sklearn.utils.validation import _check_sample_weight

    w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number "
                         "(all sample weights are zero).")
    if not np.isfinite(w.sum()):
        raise ValueError(f"Sample weights sum to more than float64 holds (largest "
                         f"{w.max():.3g}); divide them by a common factor.")
    return np.ascontiguousarray(w)
