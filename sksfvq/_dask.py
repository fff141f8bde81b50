"""The estimator on Dask arrays: the rows stay on the workers.

Imported only when ``fit``, ``partial_fit``, ``predict``, ``transform``,
``inverse_transform`` or ``score`` is given a dask array or a dask DataFrame
(``_train.rows_for`` for the trainer's rows object).

**fit** runs the default trainer (:func:`._train.train_lloyd`) unchanged on a
:class:`DaskRows`: the trainer's stages on a subsample (growth, corner moves,
order, smoothing search) run on the client on rows drawn on the workers and
gathered (about 256 rows per corner: their number depends on K, not on N);
every pass over all rows runs block by block on the workers and is one
round trip (:class:`DaskLloyd`).

* The subsample is the one in memory: the projection keys of
  :class:`._sample.RowSample` are computed on the workers by the same
  chunks of ``_sample._KEY_CHUNK`` rows from row 0 (a matrix-vector product
  rounds by the rows of the call) and gathered to the client (N numbers);
  the client sorts them and draws, then fetches the drawn rows. The column
  statistics of :class:`._chain.Lloyd` (mean, variance, spread: its
  tolerance and the float32 working copy of float64 data) are computed by
  the same chunks too and added in chunk order, so they are bit-identical.
* A pass: every block finds its rows' nearest corners
  (:func:`._engine.nearest_corner`, per row independent of the block) and
  returns its per-corner weight, weighted sums and squared error; a second
  task per block counts the labels that changed since the last pass (the
  labels stay on the workers), so the stopping rules are those in memory.
  The block results are added in a fixed tree over the block order (fan-in
  :data:`FAN_IN`) and the client solves the banded system. Only the sums
  differ from memory: added by blocks, not in one row-order sweep, so they
  round differently (last bits of the corners; a row within rounding of a
  tie between two corners may then change its label).
* Float64 data up to ``_chain.LLOYD_FLOAT32_VALUES`` values is assigned in
  float32 after the same shift and power-of-two scale as in memory; each
  block makes its float32 copy in the task (nothing more is kept).
* Data that stands for no more rows than the subsample (``n_eff <=
  n_max``) is as small as a subsample: it is gathered and trained on in
  memory, exactly as there.
* ``labels_`` is a NumPy array (the last pass's labels, gathered: 8 bytes
  per row), so the model pickles without the data and ``fit_predict``
  works; ``predict(X)`` gives them lazily.

**Faults**: the scheduler recomputes lost blocks of X and of a pass (every
pass task depends on X, the weights and the corners only; the labels of the
last pass are recomputable from its corners). A pass whose result is an
error of the cluster (a killed worker, a closed connection, a timeout) is
submitted again, up to :data:`RETRIES` times; an error of the data
(a task that raises) is raised at once. When the client loses the
scheduler, :class:`SchedulerLost` says so.
"""

import asyncio
import concurrent.futures
import time

import dask
import dask.array as da
import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_is_fitted

from . import _init, _train
from ._chain import _CHUNK, LLOYD_FLOAT32_VALUES, Lloyd, solve_corners
from ._engine import (curve_points, kernel_threads, nearest_corner, one_blas_thread, positions,
                      train, training_weights)
from ._sample import _KEY_CHUNK, RowSample
from ._train import TrainResult, _child, _Rows, _stage_record
from ._train_kernels import corner_sums

#: block results added per task of the reduction tree
FAN_IN = 8
#: times a pass that failed for a reason of the cluster is submitted again
RETRIES = 3
#: seconds between looks at the client's connection while a graph runs
POLL = 0.5

# the column statistics and the keys must be summed by the chunks of memory
assert _CHUNK == _KEY_CHUNK


class SchedulerLost(ConnectionError):
    """The client lost its dask scheduler during a fit: the rows the cluster held
    (and the pass in flight) are gone with it."""


# --------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------


def is_dask(X):
    """Whether X is a dask collection (an array or a DataFrame)."""
    return hasattr(X, "__dask_graph__")


def _as_array(est, X, reset, lengths):
    """X as a 2-D dask array of float32 / float64 rows (columns in one chunk),
    with ``n_features_in_`` and ``feature_names_in_`` checked or set."""
    if hasattr(X, "to_dask_array"):  # a dask DataFrame (or Series)
        if getattr(X, "ndim", 2) != 2:
            raise ValueError("Expected a 2-D dask DataFrame, got a Series; use "
                             "X.to_frame().")
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        bad = [c for c, t in X.dtypes.items() if not (is_numeric_dtype(t) or is_bool_dtype(t))]
        if bad:
            raise ValueError(f"dask DataFrame columns must be numeric; got {bad}.")
        _check_feature_names(est, X._meta, reset=reset)
        X = X.to_dask_array(lengths=True if lengths else None)
    else:
        _check_feature_names(est, X, reset=reset)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array, got {X.ndim} dimensions.")
    _check_n_features(est, X, reset=reset)
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.bool_)) \
                or np.issubdtype(X.dtype, np.complexfloating):
            raise ValueError(f"dask array of dtype {X.dtype} is not numeric.")
        X = X.astype(np.float64)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def _client():
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        raise RuntimeError(
            "SpaceFillingVQ.fit on a dask array runs on a dask.distributed cluster: "
            "create a Client first (dask.distributed.Client(...)); predict, transform "
            "and score need none.") from None


def _persisted(client, X):
    """X with every block held by the cluster (persisted once when it is not)."""
    from distributed import futures_of, wait

    if len(futures_of(X)) < int(np.prod(X.numblocks)):
        X = client.persist(X)
    wait(X)
    return X


def _training_rows(est, X, client, reset=True):
    X = _as_array(est, X, reset=reset, lengths=True)
    if not reset and X.dtype != est.cluster_centers_.dtype:
        X = X.astype(est.cluster_centers_.dtype)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.shape[0] < 1:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if reset and X.shape[0] < est.n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={est.n_clusters}: "
                         "a curve needs at least as many rows as corners.")
    return _persisted(client, X)


class Weights:
    """The sample weights of a fit on a dask array and where its passes run.

    ``local``: the weights on the client (float64, for the draws), or None
    when every row weighs 1; ``blocks``: the same, persisted in the row
    blocks of X (None: 1); ``total``: their sum; ``client``; ``n_jobs``:
    numba threads per task on the workers (None: 1, Dask's threads being
    the parallelism).
    """

    def __init__(self, sample_weight, X, client, n_jobs):
        self.client, self.n_jobs = client, n_jobs
        n = X.shape[0]
        self.local = self.blocks = None
        self.total = float(n)
        if sample_weight is not None:
            if is_dask(sample_weight):
                sample_weight = sample_weight.compute()
            self.local = training_weights(np.asarray(sample_weight), np.empty((n, 0)))
            self.total = float(self.local.sum())
            self.blocks = client.persist(da.from_array(self.local, chunks=(X.chunks[0],)))

    def block_list(self, X):
        """One weights entry per row block of X (delayed, or None for unit weights)."""
        if self.blocks is None:
            return [None] * X.numblocks[0]
        return list(self.blocks.to_delayed().ravel())

    def threads(self):
        return 1 if self.n_jobs is None else self.n_jobs


# --------------------------------------------------------------------------
# tasks (run on the workers: plain NumPy in, plain NumPy out)
# --------------------------------------------------------------------------


def _rows_of(X):
    return np.ascontiguousarray(X)


def _ones_or(w, n):
    return np.ones(n) if w is None else w


def _chunk_sum(X, w):
    """Per column: the weighted sum (as ``_init.weighted_mean`` adds a chunk) and
    whether every value is finite."""
    X = _rows_of(X)
    with one_blas_thread():
        total = _ones_or(w, X.shape[0]) @ X.astype(np.float64, copy=False)
    return total, bool(np.isfinite(X).all())


def _chunk_spread(X, w, mean):
    """Per column: the weighted sum of squared deviations and the largest
    deviation, as ``_chain.Lloyd`` computes them for a chunk."""
    X = _rows_of(X)
    Z = X - mean
    with one_blas_thread():
        col_sq = _ones_or(w, X.shape[0]) @ (Z * Z)
    return col_sq, float(np.max(np.abs(Z))) if Z.size else 0.0


def _chunk_keys(X, v):
    """The projection keys of a chunk (one matrix-vector call, as in memory)."""
    with one_blas_thread():
        return _rows_of(X).astype(np.float64, copy=False) @ v


def _block_assign(X, w, Ca, shift, scale, n_jobs):
    """(labels, per-corner weight, per-corner weighted sums, weighted squared error)
    of a block for corners ``Ca`` (in the working frame ``(x - shift) * scale``,
    float32 when ``scale`` is not None; else the rows as given)."""
    X = _rows_of(X)
    n = X.shape[0]
    w = _ones_or(w, n)
    k = Ca.shape[0]
    with kernel_threads(n_jobs), one_blas_thread():
        if scale is None:
            labels, dist2 = nearest_corner(X, Ca)
        else:
            labels, dist2 = nearest_corner(((X - shift) * scale).astype(np.float32), Ca)
            if scale != 1.0:
                dist2 /= scale**2  # a power of two: exact
        counts = np.empty(k)
        sums = np.empty((k, X.shape[1]))
        corner_sums(X, w, labels, k, counts, sums)
    return labels, counts, sums, float(np.sum(w * dist2))


def _block_result(assigned, previous):
    """The part of a block's pass that goes up the tree: (weights, sums, error,
    labels changed since ``previous``'s, or -1 without one)."""
    labels, counts, sums, err = assigned
    changed = -1 if previous is None else int(np.count_nonzero(labels != previous[0]))
    return counts, sums, err, changed


def _add(*parts):
    """Block results added in their order (the same bits whatever the schedule)."""
    counts, sums, err, changed = (np.array(p) if isinstance(p, np.ndarray) else p
                                  for p in parts[0])
    for c, s, e, ch in parts[1:]:
        counts += c
        sums += s
        err += e
        changed = -1 if changed < 0 or ch < 0 else changed + ch
    return counts, sums, err, changed


def _tree(parts):
    """The fixed-order reduction tree over delayed block results."""
    add = dask.delayed(_add, pure=False)
    while len(parts) > 1:
        parts = [add(*parts[i:i + FAN_IN]) if len(parts[i:i + FAN_IN]) > 1 else parts[i]
                 for i in range(0, len(parts), FAN_IN)]
    return parts[0]


# --------------------------------------------------------------------------
# submission, retries, the lost scheduler
# --------------------------------------------------------------------------


def _compute(client, collections):
    """One graph submission (a seam for the tests)."""
    return client.compute(collections)


def _cluster_errors():
    from distributed import KilledWorker
    from distributed.comm import CommClosedError

    return (KilledWorker, CommClosedError, OSError, TimeoutError,
            asyncio.TimeoutError)


def _lost(client):
    return client.status not in ("running", "newly-created")


def submit(client, build, what):
    """Submit the collections ``build()`` makes (fresh keys each time) as one
    graph and wait for all of them; return their futures. A failure of the
    cluster resubmits, up to RETRIES times; the error of a task is raised; a
    lost scheduler raises :class:`SchedulerLost`."""
    from distributed import wait

    cancelled = (asyncio.CancelledError, concurrent.futures.CancelledError)
    last = None
    for _ in range(RETRIES + 1):
        if _lost(client):
            break
        try:
            futures = _compute(client, build())
            while True:  # a lost scheduler is seen within POLL seconds
                try:
                    wait(futures, timeout=POLL)
                    break
                except TimeoutError:
                    if _lost(client):
                        raise
            for f in futures:
                if f.status != "finished":
                    f.result()  # raises the task's error (or CancelledError)
            return futures
        except Exception as exc:
            if _lost(client):
                last = exc
                break
            if not isinstance(exc, cancelled + _cluster_errors()):
                raise  # an error of the data or of the code: not the cluster's
            last = exc
    if _lost(client) or isinstance(last, cancelled):
        raise SchedulerLost(
            f"the dask client lost its scheduler ({client.scheduler.address}) during {what}: "
            "the fit cannot go on (the cluster held the rows); connect to a running "
            "scheduler and fit again") from last
    raise RuntimeError(f"{what} failed {RETRIES + 1} times on the cluster: {last!r}") from last


def gather_into(futures, out, pick=lambda r: r):
    """Copy the results of ``futures`` (in row order) into ``out``, one at a time
    (the client never holds more than one block besides ``out``)."""
    start = 0
    for f in futures:
        part = pick(f.result())
        out[start:start + part.shape[0]] = part
        start += part.shape[0]
        f.release()
    return out


# --------------------------------------------------------------------------
# the trainer's rows
# --------------------------------------------------------------------------


def _chunked(X, w):
    """X (and the weights) in chunks of ``_CHUNK`` rows from row 0, delayed."""
    Xg = X.rechunk({0: _CHUNK})
    blocks = list(Xg.to_delayed().ravel())
    if w.blocks is None:
        return blocks, [None] * len(blocks)
    return blocks, list(w.blocks.rechunk({0: _CHUNK}).to_delayed().ravel())


def _per_chunk(client, func, X, w, what, *args):
    """``func(chunk, weights, *args)`` of every chunk of :func:`_chunked`, gathered."""
    def build():
        f = dask.delayed(func, pure=False)
        Xb, wb = _chunked(X, w)
        return [dask.delayed(list, pure=False)([f(x, u, *args) for x, u in zip(Xb, wb)])]

    return submit(client, build, what)[0].result()


class DaskAssignment:
    """A pass over the blocks (see :class:`._chain.Assignment`): the labels stay
    on the workers (``futures``), the totals came back."""

    def __init__(self, futures, counts, sums, err_sum, changed, W):
        self.futures, self.counts, self.sums_ = futures, counts, sums
        self.err_sum, self.err, self.changed = err_sum, err_sum / W, changed

    def unchanged(self, previous):
        return previous is not None and self.changed == 0

    def sums(self, m):
        return self.counts, self.sums_

    def labels(self, n):
        """The labels of every row, gathered (n intp)."""
        return gather_into(self.futures, np.empty(n, dtype=np.intp), lambda r: r[0])


def assign_blocks(X, w, Ca, shift, scale, previous=None, what="a pass over the blocks"):
    """One pass over the row blocks of X: a :class:`DaskAssignment`."""
    def build():
        assign = dask.delayed(_block_assign, pure=False)
        result = dask.delayed(_block_result, pure=False)
        C = dask.delayed(Ca)
        assigned = [assign(x, u, C, shift, scale, w.threads())
                    for x, u in zip(X.to_delayed().ravel(), w.block_list(X))]
        prev = [None] * len(assigned) if previous is None else previous.futures
        return [_tree([result(a, p) for a, p in zip(assigned, prev)])] + assigned

    futures = submit(w.client, build, what)
    counts, sums, err, changed = futures[0].result()
    return DaskAssignment(futures[1:], counts, sums, err, changed, w.total)


class DaskLloyd(Lloyd):
    """:class:`._chain.Lloyd` whose passes run on the workers (``run`` is the
    same loop: every :meth:`assign` is one round trip)."""

    def __init__(self, X, w, k, tol):
        self.X, self.w, self.tol, self.W = X, w, tol, w.total
        client = w.client
        n, d = X.shape
        # the column statistics of Lloyd.__init__, by its chunks, in its order
        total = np.zeros(d)
        for part, finite in _per_chunk(client, _chunk_sum, X, w, "the column means"):
            if not finite:
                raise ValueError("Input X contains NaN or infinity.")
            total += part
        self.mean = mean = total / self.W
        col_sq = np.zeros(d)
        spread = 0.0
        for part, dev in _per_chunk(client, _chunk_spread, X, w, "the column spreads", mean):
            col_sq += part
            spread = max(spread, dev)
        self._set_tolerance(col_sq / self.W)
        self.n_iter = 0
        self._assigned = None
        self.shift, self.scale = 0.0, None  # the rows as given
        if X.dtype == np.float64 and X.size <= LLOYD_FLOAT32_VALUES and 0.0 < spread < np.inf:
            self.shift = mean
            self.scale = float(np.ldexp(1.0, -np.frexp(spread)[1]))

    def _set_tolerance(self, col_var):
        """``varying`` and ``tol_shift`` from the columns' variances (as ``Lloyd``)."""
        self.varying = col_var > 1e-24 * max(float(col_var.max()), 1e-300) if col_var.size \
            else col_var > 0
        self.tol_shift = (self.tol * float(col_var.sum())
                          / max(int(np.count_nonzero(self.varying)), 1))

    @property
    def exact(self):
        return self.scale is None

    def nearest(self, C):
        raise NotImplementedError("the rows are on the workers: use assign")

    def error(self, C):
        return self.assign(C, None).err

    def assign(self, C, previous):
        if self.scale is None:
            return self.assign_rows(C, f"a pass over all rows (iteration {self.n_iter + 1})",
                                    previous)
        Ca = ((C - self.shift) * self.scale).astype(np.float32)
        return assign_blocks(self.X, self.w, Ca, self.shift, self.scale, previous,
                             f"a pass over all rows (iteration {self.n_iter + 1})")

    def assign_rows(self, C, what, previous=None):
        """A pass on the rows as given (the nearest corners ``predict`` finds)."""
        return assign_blocks(self.X, self.w, np.ascontiguousarray(C, dtype=self.X.dtype), 0.0,
                             None, previous, what)

    def permute(self, C, order):
        """``C[order]``; the labels held by the workers are for the old order (dropped)."""
        self._assigned = None
        return C[order]


class DaskRowSample(RowSample):
    """:class:`._sample.RowSample` of rows held by the workers: the keys are
    computed there (by the chunks of memory) and gathered, the drawn rows
    fetched once."""

    def __init__(self, X, w, n_draws, rng, varying):
        self._w = w
        super().__init__(X, w.local, n_draws, rng, varying, keys=self._keys)
        self._ids = np.unique(self.rows)
        self._drawn = submit(w.client, lambda: [X[self._ids]],
                             "fetching the subsample")[0].result()

    def _keys(self, X, v):
        def build():
            f = dask.delayed(_chunk_keys, pure=False)
            return [f(x, v) for x in _chunked(X, self._w)[0]]

        futures = submit(self._w.client, build, "the projection keys")
        return gather_into(futures, np.empty(X.shape[0]))

    def take(self, X, rows):
        return np.ascontiguousarray(self._drawn[np.searchsorted(self._ids, rows)])


class DaskRows(_Rows):
    """The rows object of :func:`._train.train_lloyd` for a dask array (the
    interface of ``_train._Rows``): ``full`` is a :class:`DaskLloyd`,
    subsamples are drawn as in memory and gathered. Data that stands for no
    more rows than the largest subsample is gathered and trained on in memory.

    ``w``: a :class:`Weights`.
    """

    def __init__(self, X, w, k, tol, n_max, rng):
        self.weights = w
        self.n_eff = max(X.shape[0], w.total)
        self.local = self.n_eff <= n_max
        if self.local:  # as small as a subsample
            super().__init__(_gather(X), _ones_or(w.local, X.shape[0]), k, tol, n_max, rng)
            return
        self.X, self.w, self.k, self.tol, self.rng, self.n_max = X, w, k, tol, rng, n_max
        self.full = DaskLloyd(X, w, k, tol)
        self.varying = self.full.varying
        self.subsampled = True
        self._sample = None
        self._last = (None, None)
        self._all = None

    @property
    def sample(self):
        if self.local:
            return super().sample
        if self._sample is None:
            self._sample = DaskRowSample(self.X, self.w, self.n_max, _child(self.rng),
                                         self.varying)
        return self._sample

    def _in_memory(self, n):
        """Self, or for a stage that wants all rows a view of them gathered (they
        are fewer than a graph's rows)."""
        if self.local or n < self.n_eff:
            return self
        if self._all is None:
            self._all = _Rows.__new__(_Rows)
            self._all.X = _gather(self.X)
            self._all.w = _ones_or(self.w.local, self.X.shape[0])
            self._all.n_eff, self._all.n_max, self._all._sample = self.n_eff, self.n_max, \
                self.sample
        return self._all

    def get(self, n):
        return _Rows.get(self._in_memory(n), n)

    def multiset(self, n):
        return _Rows.multiset(self._in_memory(n), n)

    def finish(self, C, n_iter, history, reached):
        """The :class:`._train.TrainResult` of corners C; ``dist2`` stays on the
        workers (None), its weighted sum is the result's ``inertia``."""
        if self.local:
            result = super().finish(C, n_iter, history, reached)
            result.inertia = float(np.sum(self.w * result.dist2))
            return result
        full = self.full
        oriented, flipped = _init.orient(C)
        k = C.shape[0]
        if not full.exact:  # nearest corners of the rows as given, as predict finds them
            assigned, flipped = full.assign_rows(oriented, "the final assignment"), False
        elif full._assigned is not None and full._assigned[0] is C:
            assigned = full._assigned[1]  # the last pass of the last run
        else:
            assigned = full.assign(C, None)
        labels = assigned.labels(self.X.shape[0])
        mass, sums = assigned.counts, assigned.sums_
        if flipped:
            np.subtract(k - 1, labels, out=labels)
            mass, sums = mass[::-1].copy(), sums[::-1].copy()
        result = TrainResult(oriented, n_iter, history, reached, labels, None, mass, sums)
        result.inertia = assigned.err_sum
        return result


def _gather(X):
    return np.ascontiguousarray(X.compute())


# --------------------------------------------------------------------------
# the estimator's methods
# --------------------------------------------------------------------------


def fit(est, X, sample_weight=None):
    """``est.fit(X)`` for a dask X (``SpaceFillingVQ.fit``)."""
    if est.algorithm != "lloyd":
        raise ValueError(f"algorithm={est.algorithm!r} needs the rows in memory; a dask "
                         "array trains with algorithm='lloyd'.")
    client = _client()
    X = _training_rows(est, X, client)
    w = Weights(sample_weight, X, client, est.n_jobs)
    init = est._initial_corners(X)
    rng = np.random.default_rng(check_random_state(est.random_state).randint(2**31))
    options = est._options()
    if options["n_init"] == "auto":
        options["n_init"] = 1
    k = est.n_clusters
    with kernel_threads(est.n_jobs), one_blas_thread():
        if k == 1:
            result = _one_corner(X, w, options, rng, est.verbose)
        else:
            result = train("lloyd", X, w, k, init, options, rng, est.verbose)
    est.cluster_centers_ = np.ascontiguousarray(result.corners, dtype=X.dtype)
    est.labels_ = result.labels
    est.inertia_ = float(result.inertia)
    est.n_iter_ = int(result.n_iter)
    est.history_ = result.history
    est._stream_mass, est._stream_sums = result.mass, result.sums
    est._stream_smoothness = result.smoothness
    # the weight per corner: a row per corner weighted by it
    est._warn_dead(np.arange(k), result.mass)
    return est


def _one_corner(X, w, options, rng, verbose):
    """The trainer's answer for one corner: the weighted mean (``train_lloyd``)."""
    t0 = time.perf_counter()
    rows = DaskRows(X, w, 1, options["tol"], _train.LLOYD_ROWS_PER_CORNER, rng)
    C = (_init.weighted_mean(rows.X, rows.w) if rows.local else rows.full.mean)[None, :]
    history = []
    _stage_record(history, 1, 0, rows.full.error(C), t0, verbose, "lloyd")
    return rows.finish(C, 1, history, 0.0)


def partial_fit(est, X, sample_weight=None):
    """``est.partial_fit(X)`` for a dask X: the first call fits, later ones add
    the rows to their nearest corners and solve (``_train.refine_online``)."""
    if not hasattr(est, "cluster_centers_"):
        return fit(est, X, sample_weight)
    client = _client()
    X = _training_rows(est, X, client, reset=False)
    w = Weights(sample_weight, X, client, est.n_jobs)
    C = est.cluster_centers_
    k = C.shape[0]
    seen = assign_blocks(X, w, C, 0.0, None, what="partial_fit")
    mass = est._stream_mass + seen.counts
    sums = est._stream_sums + seen.sums_
    mu = est._stream_smoothness * mass.sum() / k
    ridge = 1e-9 * mass.sum() / k
    with one_blas_thread():
        C = solve_corners(mass, sums, mu, C.astype(np.float64), ridge)
    est.cluster_centers_ = np.ascontiguousarray(C, dtype=X.dtype)
    est._stream_mass, est._stream_sums = mass, sums
    now = assign_blocks(X, w, est.cluster_centers_, 0.0, None, what="partial_fit")
    est.labels_ = now.labels(X.shape[0])
    est.inertia_ = float(now.err_sum)
    est.n_iter_ += 1
    return est


def _inference_rows(est, X):
    check_is_fitted(est)
    X = _as_array(est, X, reset=False, lengths=False)
    if X.dtype != est.cluster_centers_.dtype:
        X = X.astype(est.cluster_centers_.dtype)
    return X


def _finite_rows(X):
    X = _rows_of(X)
    if not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity.")
    return X


def _predict_block(X, C, n_jobs):
    with kernel_threads(n_jobs):
        return nearest_corner(_finite_rows(X), C)[0]


def _transform_block(X, C, n_jobs):
    with kernel_threads(n_jobs):
        return positions(_finite_rows(X), C)[:, None]


def _score_block(X, w, C, n_jobs):
    with kernel_threads(n_jobs):
        dist2 = nearest_corner(_finite_rows(X), C)[1]
    return np.array([np.sum(dist2 if w is None else w[:, 0] * dist2)])


def _threads(est):
    return 1 if est.n_jobs is None else est.n_jobs


def predict(est, X):
    """Lazy nearest-corner labels, block by block (a dask array of intp)."""
    X = _inference_rows(est, X)
    return X.map_blocks(_predict_block, dask.delayed(est.cluster_centers_), _threads(est),
                        drop_axis=1, dtype=np.intp, meta=np.empty(0, np.intp))


def transform(est, X):
    """Lazy positions on the curve, block by block (a dask array (n, 1))."""
    X = _inference_rows(est, X)
    dtype = est.cluster_centers_.dtype
    return X.map_blocks(_transform_block, dask.delayed(est.cluster_centers_), _threads(est),
                        chunks=(X.chunks[0], (1,)), dtype=dtype, meta=np.empty((0, 1), dtype))


def _points_block(T, C, k):
    if T.shape[0] and (T.min() < 0 or T.max() > k - 1):
        raise ValueError(f"positions must lie in [0, {k - 1}] (n_clusters - 1); got values in "
                         f"[{T.min()}, {T.max()}].")
    return curve_points(T[:, 0], C)


def inverse_transform(est, T):
    """Lazy points of the curve at positions (a dask array (n, 1)), block by block."""
    check_is_fitted(est)
    if hasattr(T, "to_dask_array"):
        T = T.to_dask_array()
    if T.ndim != 2 or T.shape[1] != 1:
        raise ValueError(f"inverse_transform expects positions of shape (n_samples, 1); got "
                         f"shape {T.shape}.")
    if T.dtype not in (np.float32, np.float64):
        T = T.astype(np.float64)
    C = est.cluster_centers_
    return T.map_blocks(_points_block, dask.delayed(C), C.shape[0],
                        chunks=(T.chunks[0], (C.shape[1],)), dtype=C.dtype,
                        meta=np.empty((0, C.shape[1]), C.dtype))


def score(est, X, sample_weight=None):
    """Opposite of the weighted sum of squared distances to the nearest corner (float)."""
    X = _inference_rows(est, X)
    C = dask.delayed(est.cluster_centers_)
    if sample_weight is None:
        parts = X.map_blocks(_score_block, None, C, _threads(est), drop_axis=1,
                             chunks=((1,) * X.numblocks[0],), dtype=np.float64)
    else:
        if not is_dask(sample_weight):
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        w = da.asarray(sample_weight).astype(np.float64).rechunk((X.chunks[0],))
        parts = da.map_blocks(_score_block, X, w[:, None], C, _threads(est), drop_axis=1,
                              chunks=((1,) * X.numblocks[0],), dtype=np.float64)
    return -float(parts.sum().compute())
