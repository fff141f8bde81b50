"""The estimator on Dask arrays: the rows stay on the workers.

Imported only when ``fit``, ``partial_fit``, ``predict``, ``transform``,
``inverse_transform`` or ``score`` is given a dask array or a dask DataFrame
(``_train.rows_for`` for the trainer's rows object, :class:`DaskRows`).

This module is the estimator's side: the input as a dask array, the sample
weights (:class:`Weights`), ``fit`` and ``partial_fit``, and the lazy
``predict``, ``transform``, ``inverse_transform`` and ``score``, block by
block (they need no cluster). The fit's work on the cluster is in the two
modules it imports:

* :mod:`._dask_rows`: the trainer's rows (:class:`DaskRows`,
  ``DaskLloyd``, ``DaskRowSample``): the subsample, the column statistics,
  the float32 working frame, small data trained on in memory;
* :mod:`._dask_cluster`: the block tasks, their reduction tree, a pass over
  the blocks, the graph submission with its retries and
  :class:`SchedulerLost`.

**fit** runs the default trainer (:func:`._train.train_lloyd`) unchanged on a
:class:`DaskRows`: the trainer's stages on a subsample (growth, corner moves,
order, smoothing search) run on the client on rows drawn on the workers and
gathered (192 to 256 rows per corner: their number depends on K, not on N);
every pass over all rows runs block by block on the workers and is one
round trip (:class:`._dask_rows.DaskLloyd`).

* ``labels_`` is a NumPy array (the last pass's labels, gathered: 8 bytes
  per row), so the model pickles without the data and ``fit_predict``
  works; ``predict(X)`` gives them lazily.

**Faults** (see :mod:`._dask_cluster`): a pass that failed for a reason of
the cluster is submitted again; when the client loses the scheduler,
:class:`SchedulerLost` (importable from here) says so.
"""

import time

import dask
import dask.array as da
import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import (_check_feature_names, _check_n_features, _check_sample_weight,
                                      check_is_fitted)

from . import _init, _train
from ._chain import solve_corners
from ._dask_cluster import SchedulerLost  # noqa: F401 (sksfvq._dask.SchedulerLost: the docs)
from ._dask_cluster import _rows_of, assign_blocks
from ._dask_rows import DaskRows
from ._engine import (check_spread, curve_points, kernel_threads, nearest_corner,
                      one_blas_thread, positions, train, training_weights)
from ._stages import _stage_record


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
        if not (len(set(X.dtypes)) == 1 and X.dtypes.iloc[0] in (np.float32, np.float64)):
            # mixed (bool with float), integer or nullable (pandas' Float64)
            # columns: to_dask_array alone gives an object array
            X = X.astype(np.float64)
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
    X = _persisted(client, X)
    if reset:  # (the trainer's first pass checks the values are finite)
        check_spread(X)
    elif not bool(da.isfinite(X).all().compute()):  # before partial_fit's pass changes a thing
        raise ValueError("Input X contains NaN or infinity.")
    return X


def _weights_of(sample_weight):
    """The weights in memory (dask weights computed: one float per row)."""
    if is_dask(sample_weight):
        sample_weight = sample_weight.compute()
    return sample_weight


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
            self.local = training_weights(_weights_of(sample_weight), np.empty((n, 0)))
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
    k = int(est.n_clusters)  # a Python int (see SpaceFillingVQ._fit)
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
        return nearest_corner(_finite_rows(X), C, distances=False)[0]


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
    if not np.isfinite(T).all():
        raise ValueError("Input positions contains NaN or infinity.")
    if T.shape[0] and (T.min() < 0 or T.max() > k - 1):
        raise ValueError(f"positions must lie in [0, {k - 1}] (corners - 1); got values in "
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
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        n = X.shape[0]
        w = _check_sample_weight(_weights_of(sample_weight), np.empty((n, 0)),
                                 dtype=np.float64)
        w = da.from_array(w, chunks=(X.chunks[0],))
        parts = da.map_blocks(_score_block, X, w[:, None], C, _threads(est), drop_axis=1,
                              chunks=((1,) * X.numblocks[0],), dtype=np.float64)
    return -float(parts.sum().compute())
