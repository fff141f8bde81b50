"""Trainers: they turn (X, sample weights) into the corners of a curve.

A trainer is a function ``trainer(X, w, n_clusters, init_corners, options,
rng, verbose) -> TrainResult``; :data:`TRAINERS` maps the estimator's
``algorithm`` names to them, so a new trainer is one function and one entry.

* ``"lloyd"`` (default), coarse to fine:

  1. **grow** the curve by splitting, on a subsample whose size depends on
     the number of corners, not on the number of rows: from the mean, every
     corner splits in two along its cell's principal axis and Lloyd
     iterations follow (the LBG schedule, corners of k-means quality);
  2. **finish** with a few Lloyd passes over all rows, stopping on the
     error gain;
  3. **order** the corners for global and local order together
     (:func:`._order.order_corners`: the data's neighbour graph kept short
     along the index, traded against the path length);
  4. **smooth** along that order as far as the error budget ``smoothness``
     allows (:func:`._chain.smooth_to_budget`): searched on the subsample,
     confirmed on all rows.
* ``"sgd"``: the published recipe (:mod:`._train_sgd`).

What both share (the result type, the stage record, the start) is in
:mod:`._stages`.
"""

import time

import numpy as np

from . import _grow, _init, _order
from ._chain import (POLISH_ITER, POLISH_TOL, Lloyd, corner_totals, smooth_to_budget,
                     solve_corners)
from ._engine import nearest_corner, on_dask
from ._sample import RowSample, effective_size
from ._stages import _finish, _next_stage, _stage_record, _start
from ._train_sgd import train_sgd


def _has_dead(lloyd, C):
    """Whether a corner of C is the nearest of no row of positive weight (from
    the assignment ``lloyd`` holds for C, or a pass)."""
    labels, _ = lloyd.assignment(C)
    return bool(np.any(np.bincount(labels, weights=lloyd.w, minlength=C.shape[0]) <= 0))


# --------------------------------------------------------------------------
# "lloyd": k-means-quality corners, a short path through them, then smoothing
# --------------------------------------------------------------------------


def _screened_kmeans_plus_plus(lloyd, X, w, k, n_init, rng):
    """Best of ``n_init`` k-means++ starts after a few Lloyd iterations each.

    Local optima of k-means differ by several percent on clustered data; a
    short run of every start ranks them well, and only the best one goes on.
    """
    best = None
    ordered = _init.canonical_order(X, w)
    for _ in range(n_init):
        C = _init.kmeans_plus_plus(X, w, k, rng, ordered)
        if n_init > 1:
            C, err, _ = lloyd.run(C, 0.0, LLOYD_SCREEN_ITER)
            if best is None or err < best[0]:
                best = (err, C)
        else:
            best = (None, C)
    return best[1]


#: fixed parts of the "lloyd" schedule (chosen by the measurements in benchmarks/)
LLOYD_ROWS_PER_CORNER = 256  # subsample for growth, seeding and the smoothing search,
#: ... or this many where the data is subsampled and one pass of all corners over 256
#: per corner is heavy (above LLOYD_EXACT_WORK): the passes over all rows that follow
#: take up most of the difference. 10^6 x 384, K=1024, seeds 0-2: fit 83-93 -> 75-82 s,
#: error +0.02 to +0.19 % (median +0.04 %); K=256: error -0.003 to +0.19 %
LLOYD_HEAVY_ROWS_PER_CORNER = 192
LLOYD_GRAPH_ROWS_PER_CORNER = 20  # rows of the neighbour graph that orders the corners
LLOYD_GRAPH_MIN_ROWS = 4096
LLOYD_GRAPH_MAX_ROWS = 10_000
LLOYD_STAGE_ITER = 20  # Lloyd iterations of a coarse stage
LLOYD_HEAVY_STAGE_ITER = 10  # ... whose pass is heavier than LLOYD_EXACT_WORK
LLOYD_GROW_SMOOTHNESS = 0.2  # stages of init="pca" / "norm-quartiles"
LLOYD_GROW_ITER = 20
LLOYD_SCREEN_ITER = 5
LLOYD_MAIN_TOL = 3.0
LLOYD_ERR_TOL = 1e-4
LLOYD_SUB_ITER = 300  # Lloyd iterations of the last stage on the subsample
LLOYD_SUB_GAIN = 0.0  # ... until one gains less than this fraction of the error,
#: ... or this fraction when passes over all rows follow (the large-data path): the
#: last iterations on the subsample fit its noise, which those passes undo
LLOYD_SUB_GAIN_LARGE = 2e-5
#: ... and at least this fraction when one pass of that stage is heavy (its rows x
#: corners x features above LLOYD_EXACT_WORK): at 1e5 x 64, K=1024 the last 60 of 88
#: iterations gained 0.4 % of the error for 4.5 s; of the 27 left at a gain of 1e-4,
#: the last 11 gained 0.18 % (no main run follows to take them up)
LLOYD_HEAVY_GAIN = 3e-4
LLOYD_EXACT_WORK = 1 << 30  # up to this many rows x corners x features: smoothed on all rows
#: iterations of every smoothing try when a pass over its rows is heavier than that
LLOYD_HEAVY_POLISH_ITER = 3
LLOYD_FULL_ITER = 3  # passes over all rows after a subsample: at most this many,
LLOYD_FULL_WORK = 1 << 33  # more while their rows x corners x features stay below this,
LLOYD_FULL_GAIN = 1e-4  # ... until one gains less than this fraction of the error
#: subsampled data whose passes over all rows are heavy (rows x corners x features
#: above LLOYD_EXACT_WORK): the last run on the subsample and the passes over all rows
#: step this many times the way to the solved corners (over-relaxation,
#: :meth:`._chain.Lloyd.run`). Seeds 0-2, error x KMeans(n_init=1) of the same seed,
#: 500,000 x 32, K=256: the last stage took 43 / 38 / 49 iterations instead of 83 /
#: 59 / 63, to a 0.03-0.1 % lower error on its rows; two relaxed passes over all rows
#: gained what four plain ones did, and three (LLOYD_FULL_ITER, four before) end at
#: 1.0282 / 1.0288 / 1.0252 (1.0282 / 1.0294 / 1.0259 before) in 1.33-1.41 s instead
#: of 1.60-1.77 s (compiled for AVX2, where the subsample's passes keep bounds: 2.0
#: instead of 2.8 s, seed 0). Not where the data is not subsampled: there the last
#: stage stops early anyway (LLOYD_HEAVY_GAIN) and its passes on all rows keep
#: bounds on AVX2 machines, which the longer steps loosen: 100,000 x 64, K=1024 took
#: 7.2 s instead of 5.9 there (3.8-4.1 instead of 4.2-4.5 s on AVX-512, for an error
#: of 1.017 instead of 1.020 x KMeans). Light fits run plain Lloyd iterations
LLOYD_RELAX = 1.8


class _Rows:
    """The rows a stage trains on: all of them, or a subsample of draws.

    A stage that asks for fewer rows than the data stands for (weights
    counting as repetitions) gets the first draws of one
    :class:`._sample.RowSample` (so the subsamples of successive stages are
    nested, and a weight of m acts exactly as m copies of a row); one that
    asks for more gets all rows. The data is *subsampled* when it stands
    for more rows than ``n_max``, the largest subsample.
    """

    def __init__(self, X, w, k, tol, n_max, rng):
        self.X, self.w, self.k, self.tol, self.rng = X, w, k, tol, rng
        self.n_max = n_max
        self.n_eff = effective_size(w)
        self.subsampled = self.n_eff > n_max
        # a subsampled fit takes a few passes over all rows: bounds would not pay
        self.full = Lloyd(X, w, k, tol, bounds=not self.subsampled)
        self.varying = self.full.varying
        self._sample = None
        self._last = (None, None)

    @property
    def sample(self):
        if self._sample is None:
            # weights all 1 draw as no weights (the same draws, without the
            # cumulative weight and its search: 15 of 60 ms at 500,000 rows)
            w = None if np.all(self.w == 1.0) else self.w
            self._sample = RowSample(self.X, w, self.n_max, _child(self.rng), self.varying)
        return self._sample

    def thin(self, n_max):
        """Subsample at most ``n_max`` draws, fewer than the data was found to
        be subsampled by (before the first draw): the data stays subsampled."""
        assert self.subsampled and self._sample is None and n_max <= self.n_max
        self.n_max = n_max

    def get(self, n):
        """(rows, weights) for a stage that wants about ``n`` rows."""
        if n >= self.n_eff:
            return self.X, self.w
        return self.sample.subsample(self.X, min(n, self.n_max))

    def lloyd(self, n):
        """A :class:`._chain.Lloyd` on the rows of :meth:`get` (n)."""
        if n >= self.n_eff:
            return self.full
        n = min(n, self.n_max)
        if self._last[0] != n:
            X, w = self.get(n)
            self._last = (n, Lloyd(X, w, self.k, self.tol))
        return self._last[1]

    def size_of(self, lloyd):
        """The rows a stage's Lloyd stands for, the same for weighted rows as
        for the rows repeated: all of them (weights as repetitions, see
        :func:`._sample.effective_size`), or the distinct rows of a
        subsample (copies of a row drawn merge into one)."""
        return self.n_eff if lloyd is self.full else lloyd.X.shape[0]

    def permute(self, C, order):
        """``C[order]``, keeping valid the assignments cached by the Lloyd of
        all rows and by that of the last subsample (whose run the smoothing
        search continues)."""
        C_new = self.full.permute(C, order)
        sub = self._last[1]
        if sub is not None and sub is not self.full:
            sub.permute(C, order, C_new)
        return C_new

    def finish(self, C, n_iter, history, reached):
        """The :class:`TrainResult` of corners C on these rows."""
        return _finish(self.X, self.w, C, n_iter, history, reached, self.full)

    def multiset(self, n):
        """About ``n`` rows as a multiset (repeated rows repeated), for the graph."""
        w = self.w
        if self.n_eff <= n and np.all(w == np.round(w)):
            return _canonical_rows(np.repeat(self.X, w.astype(np.intp), axis=0))
        X, counts = self.sample.subsample(self.X, min(n, self.n_max))
        return np.repeat(X, counts.astype(np.intp), axis=0)


def rows_for(X, w, k, tol, n_max, rng):
    """The rows object of a fit (see :class:`_Rows`): in memory, or a Dask
    array's blocks on the workers (:mod:`._dask`, imported only then)."""
    if on_dask(X):
        from ._dask import DaskRows

        return DaskRows(X, w, k, tol, n_max, rng)
    return _Rows(X, w, k, tol, n_max, rng)


def _child(rng):
    """An independent generator seeded from ``rng`` with one draw, so that a
    use of it whose number of draws depends on the data's width does not
    shift what ``rng`` draws next."""
    return np.random.default_rng(rng.integers(2**63))


def _canonical_rows(X):
    """The rows of X sorted by their bytes (identical multisets, identical arrays)."""
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    order = np.argsort(X64.view(np.dtype((np.void, 8 * X64.shape[1]))).ravel(), kind="stable")
    return np.ascontiguousarray(X[order])


def _grow_by_splitting(rows, k, history, verbose, rng, sub_gain, max_iter, relax=1.0):
    """From the mean to k corners by splitting, a Lloyd run at every stage (the
    last one stops when an iteration gains less than ``sub_gain`` of the error,
    or ``LLOYD_HEAVY_GAIN`` when its passes are heavy, its steps ``relax``
    times the plain ones; every run and every corner move's run after at
    most ``max_iter`` iterations)."""
    per_corner = rows.n_max // k
    X, w = rows.get(per_corner)
    C = _init.weighted_mean(X, w)[None, :]
    while C.shape[0] < k:
        t0 = time.perf_counter()
        m = C.shape[0]
        n_new = min(m, k - m)
        n_rows = per_corner * (m + n_new)
        stage = rows.lloyd(n_rows)
        X, w = stage.X, stage.w
        C_new = _grow.split_stage(X, w, C, n_new, rng, rows.varying, k)
        if C_new.shape[0] == m:  # no cell has spread left: the rest stay dead
            C_new = np.vstack([C, np.repeat(C[-1:], k - m, axis=0)])
        final = C_new.shape[0] == k
        n_stage = rows.size_of(stage)
        gain = max(sub_gain, LLOYD_HEAVY_GAIN) if _heavy(X, k, n_stage) else sub_gain
        n_iter = (LLOYD_HEAVY_STAGE_ITER if _heavy(X, C_new.shape[0], n_stage)
                  else LLOYD_STAGE_ITER)
        C, loss, it = stage.run(C_new, 0.0, min(max_iter, LLOYD_SUB_ITER if final else n_iter),
                                tol_factor=1.0 if final else LLOYD_MAIN_TOL,
                                err_tol=gain if final else 0.0,
                                relax=relax if final else 1.0)
        if final:
            C, loss = _grow.relocate(stage, C, rng, rows.varying, max_iter)
        _stage_record(history, C.shape[0], it, loss, t0, verbose,
                      f"lloyd: split, {X.shape[0]} rows")
    return C


def _grow_curve(lloyd, X, w, C, k, history, verbose, max_iter):
    """Grow a curve to k corners: resample at twice the corners, smooth Lloyd
    (at most ``max_iter`` iterations per stage)."""
    while C.shape[0] < k:
        t0 = time.perf_counter()
        C, loss, it = lloyd.run(C, LLOYD_GROW_SMOOTHNESS, min(max_iter, LLOYD_GROW_ITER))
        _stage_record(history, C.shape[0], it, loss, t0, verbose, "lloyd: grow")
        C = _next_stage(X, w, C, k, lambda C: _init.resample_curve(C, 2 * C.shape[0]))
    return C


def _initial_corners(rows, k, init, options, history, verbose, rng, sub_gain, relax=1.0):
    """k corners from the ``init`` option, converged on the subsample when
    the data has one (on all rows the main run converges them), until an
    iteration gains less than ``sub_gain`` of the error (steps ``relax``
    times the plain ones)."""
    if isinstance(init, str) and init == "split":
        return _grow_by_splitting(rows, k, history, verbose, rng, sub_gain, options["max_iter"],
                                  relax)
    if isinstance(init, np.ndarray) and init.shape[0] == k:
        # a full codebook is the start as given (as KMeans(init=array)):
        # converging it on the subsample first could only move it away from
        # where the user fitted it
        return init
    lloyd = rows.lloyd(rows.n_max)
    X, w = lloyd.X, lloyd.w
    if isinstance(init, np.ndarray):
        C = _grow_curve(lloyd, X, w, init, k, history, verbose, options["max_iter"])
    elif init == "k-means++":
        C = _screened_kmeans_plus_plus(lloyd, X, w, k, options["n_init"], rng)
    else:
        C = _grow_curve(lloyd, X, w, _start(X, w, k, init, 4), k, history, verbose,
                        options["max_iter"])
    if rows.subsampled:
        t0 = time.perf_counter()
        C, loss, it = lloyd.run(C, 0.0, min(options["max_iter"], LLOYD_SUB_ITER),
                                err_tol=sub_gain, relax=relax)
        _stage_record(history, k, it, loss, t0, verbose, f"lloyd: {X.shape[0]} rows")
    return C


def _order_stage(rows, C, rng, keep_route=False):
    """The corners in the order of :func:`._order.order_corners` (the
    assignment cached by the rows' Lloyd object follows)."""
    k = C.shape[0]
    n_graph = min(max(LLOYD_GRAPH_ROWS_PER_CORNER * k, LLOYD_GRAPH_MIN_ROWS), LLOYD_GRAPH_MAX_ROWS)
    Xg = rows.multiset(n_graph)
    labels, _ = nearest_corner(Xg, C.astype(Xg.dtype))
    W = _order.neighbour_graph(Xg, labels, k)
    order, _ = _order.order_corners(C, W, rng, keep_route=keep_route)
    return rows.permute(C, order)


def _smooth_search(rows, C, smoothness):
    """The smoothness that uses the error budget on the subsample (the one the
    corners converged on: measured on a smaller one, the budget is far off).

    The reference is the subsample's error after the same unpenalised
    polish, so fitting the subsample's noise is not counted as room.
    Returns (smoothed corners on the subsample, smoothness reached).
    """
    sub = rows.lloyd(rows.n_max)
    polish = _polish_iter(sub.X, C.shape[0], rows.size_of(sub))
    _, e_ref, _ = sub.run(C, 0.0, polish, tol_factor=POLISH_TOL, keep_start=True)
    C_s, _, s = smooth_to_budget(sub, C, e_ref, (1.0 + smoothness) * e_ref, polish_iter=polish)
    return C_s, s


def _heavy(X, k, n_rows):
    """Whether one pass of k corners over ``n_rows`` rows of X's width is heavy
    (rows x corners x features above LLOYD_EXACT_WORK). The rows are those
    the data stands for (:func:`._sample.effective_size`), not X's: the
    schedule of weighted rows is that of the rows repeated."""
    return n_rows * k * X.shape[1] > LLOYD_EXACT_WORK


def _polish_iter(X, k, n_rows):
    """Iterations of every smoothing try on ``n_rows`` rows like X's (fewer
    when a pass is heavy)."""
    return LLOYD_HEAVY_POLISH_ITER if _heavy(X, k, n_rows) else POLISH_ITER


def train_lloyd(X, w, k, init, options, rng, verbose):
    """Grow (or seed), order, smooth, finish on all rows: see the module docstring.

    ``init``: ``"split"`` (default: growth by splitting), ``"k-means++"``
    (screened seeding), ``"pca"`` / ``"norm-quartiles"`` (a curve grown by
    resampling) or given corners (grown if fewer than k). All of them run on
    the subsample; the rest of the schedule is the same.

    Data that fits the subsample (at most ``LLOYD_ROWS_PER_CORNER`` rows per
    corner, weights counting as repetitions) or is cheap to pass over (rows
    x corners x features at most ``LLOYD_EXACT_WORK``): Lloyd iterations on
    all rows to convergence (``E0``), the order, then the smoothing search
    on all rows within ``(1 + smoothness) E0``. Larger data: the corners
    converge on the subsample, are ordered and smoothed there (the budget
    measured on the subsample; ``LLOYD_HEAVY_ROWS_PER_CORNER`` per corner
    where a pass over it would be heavy), and a few passes over all rows
    with the smoothness found finish them, stopping when a pass gains less
    than ``LLOYD_FULL_GAIN``; on this path the last run on the subsample and
    the passes over all rows are over-relaxed (``LLOYD_RELAX``).
    """
    t_all = time.perf_counter()
    history = []
    rows = rows_for(X, w, k, options["tol"], LLOYD_ROWS_PER_CORNER * k, rng)
    if rows.subsampled and _heavy(X, k, rows.n_max):
        rows.thin(LLOYD_HEAVY_ROWS_PER_CORNER * k)  # passes over all rows follow
    full = rows.full
    if k == 1:
        C = _init.weighted_mean(X, w)[None, :]
        _stage_record(history, 1, 0, full.error(C), t_all, verbose, "lloyd")
        return rows.finish(C, 1, history, 0.0)
    heavy = _heavy(X, k, rows.n_eff)
    exact = not rows.subsampled or not heavy
    relax = 1.0 if exact else LLOYD_RELAX
    C = _initial_corners(rows, k, init, options, history, verbose, rng,
                         LLOYD_SUB_GAIN if exact else LLOYD_SUB_GAIN_LARGE,
                         relax)
    keep_route = isinstance(init, np.ndarray)
    smoothness = options["smoothness"]

    t0 = time.perf_counter()
    if exact:
        if heavy and isinstance(init, str) and init == "split":  # heavy and exact: all rows
            # the last split stage and the moves ran on all rows already: another
            # run would only confirm them, at two passes or more
            e0, it = full.error(C), 0
            if not on_dask(full.X) and _has_dead(full, C):
                C, e0 = _grow.revive(full, C, 0.0, options["max_iter"])
        else:
            C, e0, it = full.run(C, 0.0, options["max_iter"], tol_factor=LLOYD_MAIN_TOL,
                                 err_tol=LLOYD_ERR_TOL)
            if not keep_route and not on_dask(full.X) and _has_dead(full, C):
                # the subsample missed rows that all rows have: a few heavy rows
                # outweigh the rest, whose corners then all sit on them (rows
                # on dask workers keep them: the moves work in memory)
                C, e0 = _grow.relocate(full, C, rng, rows.varying, options["max_iter"])
                if _has_dead(full, C):  # a few rows outweigh the rest: no move gains
                    C, e0 = _grow.revive(full, C, 0.0, options["max_iter"])
        _stage_record(history, k, it, e0, t0, verbose, f"lloyd: all {X.shape[0]} rows")
        t0 = time.perf_counter()
        C = _order_stage(rows, C, rng, keep_route)
        _stage_record(history, k, 0, e0, t0, verbose, "lloyd: order")
        t0 = time.perf_counter()
        n_before = full.n_iter
        err, reached = e0, 0.0
        if smoothness > 0:
            C, err, reached = smooth_to_budget(full, C, e0, (1.0 + smoothness) * e0,
                                               polish_iter=_polish_iter(X, k, rows.n_eff))
        _stage_record(history, k, full.n_iter - n_before, err, t0, verbose, "lloyd: smooth")
    else:
        C = _order_stage(rows, C, rng, keep_route)
        unsmoothed = C
        _stage_record(history, k, 0, np.nan, t0, verbose, "lloyd: order")
        t0 = time.perf_counter()
        reached = 0.0
        if smoothness > 0:
            C, reached = _smooth_search(rows, C, smoothness)
        _stage_record(history, k, 0, np.nan, t0, verbose, "lloyd: smoothness on a subsample")
        t0 = time.perf_counter()
        # the passes over all rows run on the curve as it is returned (the ends
        # rarely swap in them): the labels of their last pass are the result's,
        # with no pass of their own to reverse them
        C, _ = _init.orient(C)
        n_full = max(LLOYD_FULL_ITER, int(LLOYD_FULL_WORK // (rows.n_eff * k * X.shape[1])))
        C, err, it = full.run(C, reached, min(options["max_iter"], n_full),
                              tol_factor=LLOYD_MAIN_TOL, err_tol=LLOYD_FULL_GAIN, relax=relax)
        _stage_record(history, k, it, err, t0, verbose, f"lloyd: all {X.shape[0]} rows")
        if (not keep_route and not on_dask(full.X) and _has_dead(full, C)
                and (reached == 0.0 or _has_dead(full, unsmoothed))):
            # the subsample held only a few heavy rows: the corners all sat on
            # them; moved to the other rows, ordered again, run again. (Not
            # when only the smoothing left them dead, pulled into the gap
            # between separate groups of rows: the run at the same smoothness
            # pulls them there again; the warning says so.)
            t0 = time.perf_counter()
            C, _ = _grow.revive(full, C, reached, options["max_iter"])
            C = _order_stage(rows, C, rng)
            C, err, it = full.run(C, reached, min(options["max_iter"], n_full),
                                  tol_factor=LLOYD_MAIN_TOL, err_tol=LLOYD_FULL_GAIN,
                                  relax=relax)
            _stage_record(history, k, it, err, t0, verbose, "lloyd: dead corners moved")
    result = rows.finish(C, max(full.n_iter, 1), history, reached)
    if verbose:
        print(f"[lloyd] done in {time.perf_counter() - t_all:.3f}s", flush=True)
    return result


def refine_online(X, w, C, mass, sums, smoothness):
    """One streaming update of the corners with a new chunk of rows (lloyd).

    ``mass`` (k,) and ``sums`` (k, d) are the weight and weighted sum of the
    rows seen so far, per corner that each row was nearest to when it was
    seen. The chunk's rows are added to their nearest corner and the corners
    solve the same smoothness-penalised system as in batch training (as in
    MacQueen's online k-means, earlier rows are not re-assigned), so the
    order is kept. Returns (corners, mass, sums).
    """
    k = C.shape[0]
    labels, _ = nearest_corner(X, C.astype(X.dtype, copy=False))
    counts, chunk_sums = corner_totals(X, w, labels, k)
    mass = mass + counts
    sums = sums + chunk_sums
    mu = smoothness * mass.sum() / k
    ridge = 1e-9 * mass.sum() / k
    return solve_corners(mass, sums, mu, C, ridge), mass, sums


TRAINERS = {"lloyd": train_lloyd, "sgd": train_sgd}
