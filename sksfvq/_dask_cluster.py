"""The work of a fit on Dask arrays on the cluster: the block tasks, their
reduction tree, the graph submission with its retries, and a pass.

Used by :mod:`._dask_rows` (the trainer's rows) and :mod:`._dask` (the passes
of ``partial_fit``; :class:`SchedulerLost`, importable from there too).
distributed is imported by the functions that wait for graphs.

* The tasks run on the workers: plain NumPy in, plain NumPy out (the column
  statistics and the projection keys of a chunk, a block's pass).
* A pass (:func:`assign_blocks`): every block finds its rows' nearest corners
  (:func:`._engine.nearest_corner`, per row independent of the block) and
  returns its per-corner weight, weighted sums and squared error; a second
  task per block counts the labels that changed since the last pass (the
  labels stay on the workers), so the stopping rules are those in memory.
  The block results are added in a fixed tree over the block order (fan-in
  :data:`FAN_IN`) and the client solves the banded system. Only the sums
  differ from memory: added by blocks, not in one row-order sweep, so they
  round differently (last bits of the corners; a row within rounding of a
  tie between two corners may then change its label).

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

import dask
import numpy as np

from ._chain import _CHUNK, column_spread, corner_totals
from ._engine import kernel_threads, nearest_corner, one_blas_thread

#: block results added per task of the reduction tree
FAN_IN = 8
#: times a pass that failed for a reason of the cluster is submitted again
RETRIES = 3
#: seconds between looks at the client's connection while a graph runs
POLL = 0.5


class SchedulerLost(ConnectionError):
    """The client lost its dask scheduler during a fit: the rows the cluster held
    (and the pass in flight) are gone with it."""


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
    with one_blas_thread():
        return column_spread(X, _ones_or(w, X.shape[0]), mean)


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
    with kernel_threads(n_jobs), one_blas_thread():
        if scale is None:
            labels, dist2 = nearest_corner(X, Ca)
        else:
            labels, dist2 = nearest_corner(((X - shift) * scale).astype(np.float32), Ca)
            if scale != 1.0:
                dist2 /= scale**2  # a power of two: exact
        counts, sums = corner_totals(X, w, labels, Ca.shape[0])
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
# chunk-wise statistics and a pass over the blocks
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
