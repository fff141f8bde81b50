"""The published recipe as a trainer (``algorithm="sgd"``): dithered points,
Adam, growth by doubling with a small epsilon (Vali & Backstrom), the epoch
loop in Numba (:func:`._train_kernels.sgd_epoch`)."""

import time
import warnings

import numpy as np

from . import _init, _order
from ._chain import column_spread
from ._engine import readonly
from ._stages import _finish, _next_stage, _stage_record, _start
from ._train_kernels import sgd_epoch


#: the published recipe's steps are in X's units (Adam with eps = 1e-8): outside this
#: range of the rows' RMS spread it runs away (at 1e-6: 500 times the error of the mean)
SGD_SPREAD_RANGE = (1e-3, 1e3)


def _warn_sgd_scale(X, w):
    """UserWarning when the rows' RMS spread is far from 1 (see SGD_SPREAD_RANGE)."""
    col_sq, _ = column_spread(X, w, _init.weighted_mean(X, w))
    spread = float(np.sqrt(col_sq.sum() / w.sum()))
    lo, hi = SGD_SPREAD_RANGE
    if 0.0 < spread < lo or spread > hi:
        warnings.warn(
            f"algorithm='sgd' takes Adam steps in the units of X (learning_rate, eps=1e-8), "
            f"which do not fit data of RMS spread {spread:.3g}: its corners can run far "
            "from the rows. Standardise X (e.g. StandardScaler) or use algorithm='lloyd', "
            "which does not depend on the unit.", UserWarning, stacklevel=4)


def train_sgd(X, w, k, init, options, rng, verbose):
    """Dithered-point training with Adam, grown by doubling (Vali & Backstrom).

    Rows of weight 0 take no part (no batch slot, no draw): as if absent.
    A one-corner stage is the weighted mean (what its training converges
    to), grown to two corners on the first principal axis (doubling would
    make two equal corners, which the recipe's gradients never separate).
    k-means++ seeds are put in the order of a short path first.
    """
    _warn_sgd_scale(X, w)
    C = _start(X, w, k, init, 4, rng)
    X_all, w_all = X, np.ascontiguousarray(w, dtype=np.float64)
    keep = w_all > 0
    X, ww = (X, w_all) if keep.all() else (np.ascontiguousarray(X[keep]), w_all[keep])
    n = X.shape[0]
    mean_w = ww.sum() / n
    if isinstance(init, str) and init == "k-means++":
        C = C[_order.shortest_of_restarts(C, rng)]
    batch = int(options["batch_size"])
    n_epochs = int(options["n_epochs"])
    milestones = [int(f * n_epochs) for f in options["lr_milestones"]]
    history = []
    total = 0
    n_batches = (n + batch - 1) // batch
    eps = options["growth_epsilon"]
    while True:
        t0 = time.perf_counter()
        m = C.shape[0]
        if m >= 2:
            m1 = np.zeros_like(C)
            m2 = np.zeros_like(C)
            step = np.zeros(1, dtype=np.int64)
            for epoch in range(n_epochs):
                lr = options["learning_rate"] * 0.5 ** sum(epoch >= s for s in milestones)
                order = rng.permutation(n)
                lams = rng.random((n_batches, m - 1))
                loss = sgd_epoch(readonly(X), readonly(ww), mean_w, order, lams, C, m1, m2, step,
                                 lr, batch, 0.9, 0.999, 1e-8)
            total += n_epochs
        else:
            C = _init.weighted_mean(X, ww)[None, :]
            loss = float(ww @ np.sum((X - C[0]) ** 2, axis=1)) / ww.sum() / X.shape[1]
        # recorded per row, as the default trainer's (the epochs' loss is per feature)
        _stage_record(history, m, n_epochs if m >= 2 else 0, loss * X.shape[1], t0, verbose,
                      "sgd")
        if m >= k:
            break
        C = (_init.pca_line_init(X, ww) if m == 1
             else _next_stage(X, ww, C, k, lambda C: _init.double_published(C, eps)))
    return _finish(X_all, w_all, C, total, history, 0.0)
