"""Trainers: they turn (X, sample weights) into the corners of a curve.

A trainer is a function ``trainer(X, w, n_clusters, init_corners, options,
rng, verbose) -> TrainResult``; :data:`TRAINERS` maps the estimator's
``algorithm`` names to them, so a new trainer is one function and one entry.

* ``"lloyd"`` (default): a deterministic batch method. Rows are assigned to
  their nearest corner; the corners then solve the smoothness-penalised
  least-squares problem ``(diag(n) + mu L) C = S`` (``n`` and ``S`` the
  weighted counts and sums per corner, ``L`` the path Laplacian of the
  chain), a tridiagonal system shared by all features. The curve grows by
  resampling at twice the number of corners, with a strong smoothness, and
  the smoothness is then annealed to the user's ``smoothness`` value.
* ``"sgd"``: the published recipe (dithered points, Adam, growth by
  doubling with a small epsilon), with the epoch loop in Numba.
"""

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_banded

from . import _init
from ._kernels import assign_corners, corner_sums, sgd_epoch


@dataclass
class TrainResult:
    corners: np.ndarray  # (k, d) float64
    n_iter: int
    history: list = field(default_factory=list)  # one dict per stage


def _stage_record(history, k, n_iter, loss, t0, verbose, name):
    rec = {"n_clusters": int(k), "n_iter": int(n_iter), "loss": float(loss),
           "time": time.perf_counter() - t0}
    history.append(rec)
    if verbose:
        print(f"[{name}] K={k:5d}  iterations={n_iter:4d}  loss={loss:.6g}  "
              f"time={rec['time']:.3f}s", flush=True)


def _corner_errors(X, w, C):
    """Weighted squared error collected by each corner (for insertion)."""
    labels, dist2 = assign_corners(X, C.astype(X.dtype))
    return np.bincount(labels, weights=w * dist2, minlength=C.shape[0])


def _grow(X, w, C, k, double):
    """Next stage's corners: double (as ``double`` does) or insert up to ``k``."""
    m = C.shape[0]
    if 2 * m <= k:
        return double(C)
    return _init.insert_corners(C, _corner_errors(X, w, C), k - m)


def _start(X, w, k, init, default_groups):
    """Initial corners (float64) from the ``init`` option."""
    if isinstance(init, np.ndarray):
        return np.array(init, dtype=np.float64)
    if k == 1:
        return _init.weighted_mean(X, w)[None, :]
    if init == "pca":
        return _init.pca_line_init(X, w)
    return _init.norm_groups_init(X, w, min(k, default_groups))


# --------------------------------------------------------------------------
# "lloyd": smoothness-penalised batch solver
# --------------------------------------------------------------------------


def _solve_chain(counts, sums, mu, C_prev, ridge):
    """Corners minimising sum_k n_k|c_k - S_k/n_k|^2 + mu sum_k |c_{k+1} - c_k|^2.

    A tiny proximal ridge towards the previous corners keeps corners that no
    row chose (and no smoothness reaches) where they are.
    """
    k = counts.shape[0]
    if k == 1:
        return (sums + ridge * C_prev) / (counts + ridge)[:, None]
    deg = np.full(k, 2.0)
    deg[0] = deg[-1] = 1.0
    ab = np.zeros((3, k))
    ab[0, 1:] = -mu
    ab[1] = counts + mu * deg + ridge
    ab[2, :-1] = -mu
    return solve_banded((1, 1), ab, sums + ridge * C_prev, check_finite=False)


def _lloyd_iterations(X, w, C, mu, n_iter, tol_shift, counts, sums):
    """Alternate nearest-corner assignment and the chain solve.

    Returns (corners, iterations done, mean weighted squared error).
    """
    W = w.sum()
    ridge = 1e-9 * W / C.shape[0]
    loss = np.nan
    it = 0
    for it in range(1, n_iter + 1):
        labels, dist2 = assign_corners(X, C.astype(X.dtype, copy=False))
        loss = float(w @ dist2) / W
        corner_sums(X, w, labels, C.shape[0], counts, sums)
        C_new = _solve_chain(counts, sums, mu, C, ridge)
        shift = float(np.sum((C_new - C) ** 2))
        C = C_new
        if shift <= tol_shift:
            break
    return C, it, loss


#: fixed parts of the "lloyd" schedule (measured in benchmarks/)
LLOYD_GROW_SMOOTHNESS = 0.5
LLOYD_GROW_ITER = 20
LLOYD_ANNEAL_STEPS = 8


def train_lloyd(X, w, k, init, options, rng, verbose):
    t_all = time.perf_counter()
    W = w.sum()
    mean = _init.weighted_mean(X, w)
    var = float(w @ np.sum((X - mean) ** 2, axis=1)) / W / X.shape[1]
    tol_shift = options["tol"] * var
    smooth_final = options["smoothness"]
    C = _start(X, w, k, init, 4)
    history = []
    total = 0
    counts = np.empty(k)
    sums = np.empty((k, X.shape[1]))

    def run(C, s, n_iter):
        m = C.shape[0]
        return _lloyd_iterations(X, w, C, s * W / m, n_iter, tol_shift,
                                 counts[:m], sums[:m])

    while C.shape[0] < k:
        t0 = time.perf_counter()
        C, it, loss = run(C, LLOYD_GROW_SMOOTHNESS, LLOYD_GROW_ITER)
        total += it
        _stage_record(history, C.shape[0], it, loss, t0, verbose, "lloyd")
        C = _grow(X, w, C, k, lambda C: _init.resample_curve(C, 2 * C.shape[0]))

    t0 = time.perf_counter()
    it_final = 0
    if k > 1 and not isinstance(init, np.ndarray):
        start = max(LLOYD_GROW_SMOOTHNESS, smooth_final)
        for s in np.geomspace(start, max(smooth_final, 1e-3), LLOYD_ANNEAL_STEPS):
            C, it, loss = run(C, s, 1)
            it_final += it
    C, it, loss = run(C, smooth_final, options["max_iter"])
    it_final += it
    total += it_final
    _stage_record(history, k, it_final, loss, t0, verbose, "lloyd")
    if verbose:
        print(f"[lloyd] done in {time.perf_counter() - t_all:.3f}s", flush=True)
    return TrainResult(C, total, history)


# --------------------------------------------------------------------------
# "sgd": the published recipe
# --------------------------------------------------------------------------


def train_sgd(X, w, k, init, options, rng, verbose):
    """Dithered-point training with Adam, grown by doubling (Vali & Backstrom)."""
    n = X.shape[0]
    C = _start(X, w, k, init, 4)
    ww = np.ascontiguousarray(w, dtype=np.float64)
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
                loss = sgd_epoch(X, ww, order, lams, C, m1, m2, step, lr, batch,
                                 0.9, 0.999, 1e-8)
            total += n_epochs
        else:
            loss = float(ww @ np.sum((X - C[0]) ** 2, axis=1)) / ww.sum() / X.shape[1]
        _stage_record(history, m, n_epochs if m >= 2 else 0, loss, t0, verbose, "sgd")
        if m >= k:
            break
        C = _grow(X, ww, C, k, lambda C: _init.double_published(C, eps))
    return TrainResult(C, max(total, 1), history)


TRAINERS = {"lloyd": train_lloyd, "sgd": train_sgd}
