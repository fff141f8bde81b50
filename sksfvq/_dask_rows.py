"""The trainer's rows for a dask array: the passes and the subsample of
:func:`._train.train_lloyd` with the rows on the workers.

:class:`DaskRows` is the rows object (``_train.rows_for``); its ``full`` is
a :class:`DaskLloyd`, whose every pass over all rows is one round trip
(:func:`._dask_cluster.assign_blocks`); the stages on a subsample run on the
client on the rows a :class:`DaskRowSample` draws on the workers and gathers
(192 to 256 rows per corner: their number depends on K, not on N).

* The subsample is the one in memory: the projection keys of
  :class:`._sample.RowSample` are computed on the workers by the same
  chunks of ``_sample._KEY_CHUNK`` rows from row 0 (a matrix-vector product
  rounds by the rows of the call) and gathered to the client (N numbers);
  the client sorts them and draws, then fetches the drawn rows. The column
  statistics of :class:`._chain.Lloyd` (mean, variance, spread: its
  tolerance and the float32 working copy of float64 data) are computed by
  the same chunks too and added in chunk order, so they are bit-identical.
* Float64 data up to ``_chain.LLOYD_FLOAT32_VALUES`` values is assigned in
  float32 after the same shift and power-of-two scale as in memory; each
  block makes its float32 copy in the task (nothing more is kept).
* Data that stands for no more rows than the subsample (``n_eff <=
  n_max``) is as small as a subsample, and light data (a pass over all rows
  is not heavy: ``_train._heavy``) whose fit in memory holds at most
  :data:`GATHER_BYTES` on the client takes the schedule of memory, some 40
  passes over all rows, each a round trip here: both are gathered and
  trained on in memory, exactly as there (:func:`gathered`).
"""

import dask
import numpy as np

from . import _init
from ._chain import _CHUNK, LLOYD_FLOAT32_VALUES, Lloyd, working_scale
from ._dask_cluster import (_chunk_keys, _chunk_spread, _chunk_sum, _chunked, _ones_or,
                            _per_chunk, assign_blocks, gather_into, submit)
from ._sample import _KEY_CHUNK, RowSample, effective_size
from ._stages import TrainResult
from ._train import _child, _heavy, _Rows

# the column statistics and the keys must be summed by the chunks of memory
assert _CHUNK == _KEY_CHUNK


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
            self.scale = working_scale(spread)

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
        self._assigned = self._started = None
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


#: light data is gathered and trained on in memory (see :func:`gathered`) when
#: the client's part of that fit is estimated at most this many bytes ...
GATHER_BYTES = 1 << 28
#: ... counting twice X (the rows and a working copy) and this many bytes per
#: row (labels, distances, sampling keys and their order, ...: a fit of
#: 8,388,608 x 2 float32 rows in memory peaked at about 80 bytes per row
#: beyond X)
GATHER_BYTES_PER_ROW = 96


def gathered(X, k, n_eff, n_max):
    """Whether a fit of k corners on the dask array X (standing for ``n_eff``
    rows) gathers X and trains in memory: when it is as small as the
    subsample of ``n_max`` rows, or when its passes over all rows are light
    and the fit in memory would hold at most :data:`GATHER_BYTES` (``2 X +
    GATHER_BYTES_PER_ROW`` per row; 256 MiB: 1,000,000 x 16 float32 rows).
    Light data takes the schedule of memory (converged, ordered and smoothed
    on all rows): some 40 passes, each a round trip to the workers, 4 s for
    62,500 x 16 rows at ``K = 64`` on a LocalCluster where the fit in memory
    takes 0.35 s."""
    client_bytes = 2 * X.nbytes + GATHER_BYTES_PER_ROW * X.shape[0]
    return n_eff <= n_max or (client_bytes <= GATHER_BYTES and not _heavy(X, k, n_eff))


class DaskRows(_Rows):
    """The rows object of :func:`._train.train_lloyd` for a dask array (the
    interface of ``_train._Rows``): ``full`` is a :class:`DaskLloyd`,
    subsamples are drawn as in memory and gathered. Data as small as the
    largest subsample, or light and small (:func:`gathered`), is gathered and
    trained on in memory.

    ``w``: a :class:`._dask.Weights`.
    """

    def __init__(self, X, w, k, tol, n_max, rng):
        self.weights = w
        # as in memory: weights count as repetitions, rows of weight 0 as none
        self.n_eff = X.shape[0] if w.local is None else effective_size(w.local)
        self.local = gathered(X, k, self.n_eff, n_max)
        if self.local:
            rows = _gather(X)
            if not np.isfinite(rows).all():  # (DaskLloyd checks in its first pass)
                raise ValueError("Input X contains NaN or infinity.")
            super().__init__(rows, _ones_or(w.local, X.shape[0]), k, tol, n_max, rng)
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
        """The :class:`._stages.TrainResult` of corners C; ``dist2`` stays on the
        workers (None), its weighted sum is the result's ``inertia``."""
        if self.local:
            result = super().finish(C, n_iter, history, reached)
            result.inertia = float(np.sum(self.w * result.dist2))
            return result
        full = self.full
        oriented, flipped = _init.orient(C)
        if not full.exact:  # nearest corners of the rows as given, as predict finds them
            assigned = full.assign_rows(oriented, "the final assignment")
        elif not flipped and full._assigned is not None and full._assigned[0] is C:
            assigned = full._assigned[1]  # the last pass of the last run
        else:  # a pass on the oriented corners: ties to the lowest index, as in predict
            assigned = full.assign(oriented, None)
        labels = assigned.labels(self.X.shape[0])
        result = TrainResult(oriented, n_iter, history, reached, labels, None, assigned.counts,
                             assigned.sums_)
        result.inertia = assigned.err_sum
        return result


def _gather(X):
    return np.ascontiguousarray(X.compute())
