"""What every trainer shares: the result type, the stage record, the start
and the growth step between stages (:mod:`._train` holds the trainers'
schedules: ``"lloyd"`` there, the published recipe in :mod:`._train_sgd`)."""

import time
from dataclasses import dataclass, field

import numpy as np

from . import _init
from ._chain import corner_totals
from ._engine import nearest_corner


@dataclass
class TrainResult:
    """What a trainer returns. The corners are in canonical orientation; the
    other fields describe the rows' assignment to them (in the data's dtype,
    as ``predict`` computes it) and the streaming state ``partial_fit``
    continues from."""

    corners: np.ndarray  # (k, d) float64
    n_iter: int
    history: list = field(default_factory=list)  # one dict per stage
    smoothness: float = 0.0  # chain penalty reached, relative to the mean weight per corner
    labels: np.ndarray = None  # (n,) nearest corner of every row
    dist2: np.ndarray = None  # (n,) float64 squared distance to it
    mass: np.ndarray = None  # (k,) weight collected by every corner
    sums: np.ndarray = None  # (k, d) weighted sum of its rows


def _finish(X, w, C, n_iter, history, reached, lloyd=None):
    """The result for corners C: oriented, with the rows' assignment and the
    streaming state (the assignment of ``lloyd``'s last run when it holds).

    The labels are those ``predict`` gives, ties included (the lowest index
    of the oriented corners): a reversed curve takes a pass of its own.
    """
    unoriented = C
    C, flipped = _init.orient(C)
    k = C.shape[0]
    if lloyd is not None and lloyd.exact and not flipped:
        labels, dist2 = lloyd.assignment(unoriented)
    else:
        labels, dist2 = nearest_corner(X, np.ascontiguousarray(C, dtype=X.dtype))
    mass, sums = corner_totals(X, w, labels, k)
    return TrainResult(C, n_iter, history, reached, labels, dist2, mass, sums)


def _stage_record(history, k, n_iter, loss, t0, verbose, name):
    rec = {"n_clusters": int(k), "n_iter": int(n_iter), "loss": float(loss),
           "time": time.perf_counter() - t0}
    history.append(rec)
    if verbose:
        # a stage that measures no loss (NaN in history_) prints a dash
        shown = "-" if np.isnan(rec["loss"]) else f"{loss:.6g}"
        print(f"[{name}] K={k:5d}  iterations={n_iter:4d}  loss={shown}  "
              f"time={rec['time']:.3f}s", flush=True)


def _corner_errors(X, w, C):
    """Weighted squared error collected by each corner (for insertion)."""
    labels, dist2 = nearest_corner(X, C.astype(X.dtype))
    return np.bincount(labels, weights=w * dist2, minlength=C.shape[0])


def _next_stage(X, w, C, k, double):
    """Next stage's corners: double (as ``double`` does) or insert up to ``k``."""
    m = C.shape[0]
    if 2 * m <= k:
        return double(C)
    return _init.insert_corners(C, _corner_errors(X, w, C), k - m)


def _start(X, w, k, init, default_groups, rng=None):
    """Initial corners (float64) from the ``init`` option."""
    if isinstance(init, np.ndarray):
        return np.array(init, dtype=np.float64)
    if k == 1:
        return _init.weighted_mean(X, w)[None, :]
    if init == "k-means++":
        return _init.kmeans_plus_plus(X, w, k, rng)
    if init == "pca":
        return _init.pca_line_init(X, w)
    return _init.norm_groups_init(X, w, min(k, default_groups))
