"""Trainers: they turn (X, sample weights) into the corners of a curve.

A trainer is a function ``trainer(X, w, n_clusters, init_corners, options,
rng, verbose) -> TrainResult``; :data:`TRAINERS` maps the estimator's
``algorithm`` names to them, so a new trainer is one function and one entry.

* ``"lloyd"`` (default): a batch method. Corners of k-means quality
  (seeded, then Lloyd iterations), ordered along a short open path through
  them, then smoothed: rows are assigned to their nearest corner and the
  corners solve the smoothness-penalised least-squares problem
  ``(diag(n) + mu D2'D2) C = S`` (``n`` and ``S`` the weighted counts and
  sums per corner, ``D2`` the second-difference operator along the chain:
  a penalty on bending), a pentadiagonal system shared by all features;
  ``mu`` rises while the error stays within the user's budget
  (``smoothness``).
* ``"sgd"``: the published recipe (dithered points, Adam, growth by
  doubling with a small epsilon), with the epoch loop in Numba.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from . import _init
from ._engine import nearest_corner as assign_corners64
from ._train_kernels import corner_sums, kmeans_pp_rows, sgd_epoch, solve_penta
from ._path import shorten_order, shortest_of_restarts


@dataclass
class TrainResult:
    corners: np.ndarray  # (k, d) float64
    n_iter: int
    history: list = field(default_factory=list)  # one dict per stage
    smoothness: float = 0.0  # chain penalty reached, relative to the mean weight per corner


def _stage_record(history, k, n_iter, loss, t0, verbose, name):
    rec = {"n_clusters": int(k), "n_iter": int(n_iter), "loss": float(loss),
           "time": time.perf_counter() - t0}
    history.append(rec)
    if verbose:
        print(f"[{name}] K={k:5d}  iterations={n_iter:4d}  loss={loss:.6g}  "
              f"time={rec['time']:.3f}s", flush=True)


def _corner_errors(X, w, C):
    """Weighted squared error collected by each corner (for insertion)."""
    labels, dist2 = assign_corners64(X, C.astype(X.dtype))
    return np.bincount(labels, weights=w * dist2, minlength=C.shape[0])


def _grow(X, w, C, k, double):
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
        C = kmeans_plus_plus(X, w, k, rng)
        return C[shorten_order(C)]
    if init == "pca":
        return _init.pca_line_init(X, w)
    return _init.norm_groups_init(X, w, min(k, default_groups))


# --------------------------------------------------------------------------
# "lloyd": k-means-quality corners, a short path through them, then smoothing
# --------------------------------------------------------------------------


def solve_corners(counts, sums, mu, C_prev, ridge):
    """Corners minimising the penalised least-squares problem of one iteration.

    Minimises ``sum_k n_k |c_k - S_k / n_k|^2 + mu sum_k |c_{k-1} - 2 c_k +
    c_{k+1}|^2 + ridge sum_k |c_k - c_prev_k|^2``: the data pull every corner
    to the mean of its rows, the penalty on second differences resists
    bending and uneven spacing along the curve (it does not shrink a
    straight, evenly spaced curve), and a tiny proximal ridge keeps corners
    that no row chose where they are. The system is banded (pentadiagonal)
    and shared by all features.
    """
    k = counts.shape[0]
    if k <= 2 or mu == 0.0:
        return (sums + ridge * C_prev) / (counts + ridge)[:, None]
    out = np.empty_like(sums)
    solve_penta(counts + ridge, float(mu), np.ascontiguousarray(sums + ridge * C_prev), out)
    return out


#: float64 data up to this many values is assigned in float32 during training
LLOYD_FLOAT32_VALUES = 1 << 27


class _Lloyd:
    """Alternating nearest-corner assignment and the chain solve on fixed data.

    Corners are solved from float64 sums of the rows as given. The nearest
    corners are found in float32 (twice the SIMD width) for float64 data
    too: the rows are shifted by their mean and scaled by a power of two
    once, so float32 keeps ~7 significant digits of every distance whatever
    the data's offset or unit; near-ties may go either way, as between two
    float64 orders of summation.
    """

    def __init__(self, X, w, k, tol):
        self.X, self.w = X, w
        self.W = float(w.sum())
        mean = _init.weighted_mean(X, w)
        Z = X - mean
        var = float(w @ np.einsum("ij,ij->i", Z, Z)) / self.W / X.shape[1]
        self.tol_shift = tol * var
        self.counts = np.empty(k)
        self.sums = np.empty((k, X.shape[1]))
        self.n_iter = 0
        # the rows the nearest corners are found for: (X - shift) * scale
        self.shift, self.scale, self.Xa = 0.0, 1.0, X
        if X.dtype == np.float64 and X.size <= LLOYD_FLOAT32_VALUES:
            spread = max(float(Z.max()), -float(Z.min())) if X.size else 0.0
            if 0.0 < spread < np.inf:
                self.shift = mean
                self.scale = float(np.ldexp(1.0, -np.frexp(spread)[1]))
                Z *= self.scale
                self.Xa = Z.astype(np.float32)

    def nearest(self, C):
        """(labels, squared distances in float64) of the rows to corners C."""
        Ca = ((C - self.shift) * self.scale).astype(self.Xa.dtype)
        labels, dist2 = assign_corners64(self.Xa, Ca)
        if self.scale != 1.0:
            dist2 /= self.scale**2  # a power of two: exact
        return labels, dist2

    def error(self, C):
        """Mean weighted squared distance to the nearest corner (per row)."""
        return float(np.sum(self.w * self.nearest(C)[1])) / self.W

    def run(self, C, smoothness, max_iter, tol_factor=1.0, err_tol=0.0):
        """Iterate until the corners move less than the tolerance.

        ``smoothness`` is the weight of the bending penalty relative to the
        mean weight per corner (0: plain Lloyd iterations). With ``err_tol``,
        also stop when an iteration lowers the error by less than that
        fraction (flat objectives, e.g. high-dimensional Gaussians, crawl on
        for hundreds of iterations for a last 0.1 %).
        Returns (corners, their mean squared error, iterations).
        """
        m = C.shape[0]
        mu = smoothness * self.W / m
        ridge = 1e-9 * self.W / m
        counts, sums = self.counts[:m], self.sums[:m]
        shift = np.inf
        it = 0
        previous = None
        last_err = np.inf
        while True:
            labels, dist2 = self.nearest(C)
            err = float(np.sum(self.w * dist2)) / self.W
            if it == max_iter or shift <= self.tol_shift * tol_factor:
                break
            if err_tol > 0 and last_err - err < err_tol * err:
                break
            last_err = err
            # the same assignments give the same corners: converged
            if previous is not None and np.array_equal(labels, previous):
                break
            previous = labels
            corner_sums(self.X, self.w, labels, m, counts, sums)
            C_new = solve_corners(counts, sums, mu, C, ridge)
            shift = float(np.sum((C_new - C) ** 2))
            C = C_new
            it += 1
        self.n_iter += it
        return C, err, it


def canonical_order(X, w):
    """Rows (float64, feature-major: shape (d, n)) and weights in a canonical
    order, for seeding.

    Seeding visits rows in this order, so that it does not depend on the
    order of the rows and a row of weight m is drawn exactly as m adjacent
    copies of it would be: seeding respects repetition. The order compares
    the rows' bytes (one sort, whatever the number of features): identical
    rows are adjacent, and constant columns change nothing.
    """
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    order = np.argsort(X64.view(np.dtype((np.void, 8 * X64.shape[1]))).ravel(), kind="stable")
    return (np.ascontiguousarray(X64[order].T),
            np.ascontiguousarray(w[order], dtype=np.float64))


def kmeans_plus_plus(X, w, k, rng, ordered=None):
    """Weighted greedy k-means++ seeding (``2 + log k`` trials per step).

    ``ordered``: :func:`canonical_order` of (X, w), when already computed.
    """
    XT, wo = canonical_order(X, w) if ordered is None else ordered
    n_trials = 2 + int(np.log(k))
    u0 = rng.random()
    U = rng.random((max(k - 1, 0), n_trials))
    centers = np.empty(k, dtype=np.intp)
    kmeans_pp_rows(XT, wo, u0, U, centers)
    return np.ascontiguousarray(XT[:, centers].T)


def _screened_kmeans_plus_plus(lloyd, X, w, k, n_init, rng):
    """Best of ``n_init`` k-means++ starts after a few Lloyd iterations each.

    Local optima of k-means differ by several percent on clustered data; a
    short run of every start ranks them well, and only the best one goes on.
    """
    best = None
    ordered = canonical_order(X, w)
    for _ in range(n_init):
        C = kmeans_plus_plus(X, w, k, rng, ordered)
        if n_init > 1:
            C, err, _ = lloyd.run(C, 0.0, LLOYD_SCREEN_ITER)
            if best is None or err < best[0]:
                best = (err, C)
        else:
            best = (None, C)
    return best[1]


def _smooth_to_budget(lloyd, C, err, budget):
    """Raise the smoothness as far as the error budget allows, in a few tries.

    The error grows with the smoothness ``s`` roughly as a power of it, so
    every try fits that power law through the last two tries (in log-log;
    slope 1 after the first) and aims at ``LLOYD_SMOOTH_AIM`` of the budget,
    kept inside the bracket of accepted and rejected values. It stops once
    an accepted try uses at least ``LLOYD_SMOOTH_ENOUGH`` of the budget, or
    after ``LLOYD_SMOOTH_TRIES`` tries; every try polishes the last
    accepted corners. Returns (corners, their error, smoothness reached).
    """
    allowed = budget - err
    best, best_err, lo, hi = C, err, 0.0, np.inf
    if not allowed > 0:
        return best, best_err, lo
    e0 = err
    s = LLOYD_SMOOTH_START
    last = None
    for _ in range(LLOYD_SMOOTH_TRIES):
        C_try, e, _ = lloyd.run(best, s, LLOYD_POLISH_ITER, tol_factor=LLOYD_POLISH_TOL)
        if e <= budget:
            best, best_err, lo = C_try, e, s
            if e - e0 >= LLOYD_SMOOTH_ENOUGH * allowed:
                break
        else:
            hi = s
        excess = max(e - e0, 1e-3 * allowed)
        slope = 1.0
        if last is not None and last[0] != s and last[1] != excess:
            slope = np.log(excess / last[1]) / np.log(s / last[0])
            slope = min(max(slope, 0.5), 2.0)
        last = (s, excess)
        s_next = s * min(max((LLOYD_SMOOTH_AIM * allowed / excess) ** (1.0 / slope), 1 / 16), 16)
        if not lo < s_next < hi:  # outside the bracket: its geometric middle
            s_next = np.sqrt(lo * hi) if lo > 0 else hi / 4
        s = s_next
    return best, best_err, lo


#: fixed parts of the "lloyd" schedule (chosen by the measurements in benchmarks/)
LLOYD_GROW_SMOOTHNESS = 0.2
LLOYD_GROW_ITER = 20
LLOYD_SMOOTH_START = 0.02
LLOYD_SMOOTH_TRIES = 5
LLOYD_SMOOTH_AIM = 0.95
LLOYD_SMOOTH_ENOUGH = 0.85
LLOYD_POLISH_ITER = 5
LLOYD_POLISH_TOL = 10.0
LLOYD_SCREEN_ITER = 5
LLOYD_MAIN_TOL = 3.0
LLOYD_ERR_TOL = 1e-4


def _grow_curve(lloyd, X, w, C, k, history, verbose):
    """Grow a curve to k corners: resample at twice the corners, smooth Lloyd."""
    while C.shape[0] < k:
        t0 = time.perf_counter()
        C, loss, it = lloyd.run(C, LLOYD_GROW_SMOOTHNESS, LLOYD_GROW_ITER)
        _stage_record(history, C.shape[0], it, loss, t0, verbose, "lloyd")
        C = _grow(X, w, C, k, lambda C: _init.resample_curve(C, 2 * C.shape[0]))
    return C


def train_lloyd(X, w, k, init, options, rng, verbose):
    """Corners of k-means quality, ordered along a short path, then smoothed.

    1. Start: weighted k-means++ (``init="k-means++"``), a curve grown from
       the principal line or the norm-quartile means (``"pca"``,
       ``"norm-quartiles"``), or given corners (grown if fewer than k).
    2. Lloyd iterations without smoothness to convergence: error ``E0``.
    3. Order the corners along a short open path (2-opt and or-opt moves,
       the shortest of a few restarts): this changes nothing in the error
       and everything in the order.
    4. Smooth: raise the chain penalty step by step while the error stays
       within ``(1 + smoothness) * E0``.
    """
    t_all = time.perf_counter()
    lloyd = _Lloyd(X, w, k, options["tol"])
    history = []
    if k == 1:
        C = _init.weighted_mean(X, w)[None, :]
        _stage_record(history, 1, 0, lloyd.error(C), t_all, verbose, "lloyd")
        return TrainResult(C, 1, history, 0.0)
    if isinstance(init, np.ndarray):
        C = init if init.shape[0] == k else _grow_curve(lloyd, X, w, init, k, history, verbose)
    elif init == "k-means++":
        C = _screened_kmeans_plus_plus(lloyd, X, w, k, options["n_init"], rng)
    else:
        C = _grow_curve(lloyd, X, w, _start(X, w, k, init, 4), k, history, verbose)

    t0 = time.perf_counter()
    C, e0, it = lloyd.run(C, 0.0, options["max_iter"], tol_factor=LLOYD_MAIN_TOL,
                          err_tol=LLOYD_ERR_TOL)
    _stage_record(history, k, it, e0, t0, verbose, "lloyd")

    t0 = time.perf_counter()
    n_before = lloyd.n_iter
    C = C[shortest_of_restarts(C, rng)]
    err, reached = e0, 0.0
    if options["smoothness"] > 0:
        C, err, reached = _smooth_to_budget(lloyd, C, e0, (1.0 + options["smoothness"]) * e0)
        C = C[shorten_order(C)]
    _stage_record(history, k, lloyd.n_iter - n_before, err, t0, verbose, "lloyd: order+smooth")
    if verbose:
        print(f"[lloyd] done in {time.perf_counter() - t_all:.3f}s", flush=True)
    return TrainResult(C, max(lloyd.n_iter, 1), history, reached)


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
    labels, _ = assign_corners64(X, C.astype(X.dtype, copy=False))
    counts = np.empty(k)
    chunk_sums = np.empty((k, X.shape[1]))
    corner_sums(X, w, labels, k, counts, chunk_sums)
    mass = mass + counts
    sums = sums + chunk_sums
    mu = smoothness * mass.sum() / k
    ridge = 1e-9 * mass.sum() / k
    return solve_corners(mass, sums, mu, C, ridge), mass, sums


# --------------------------------------------------------------------------
# "sgd": the published recipe
# --------------------------------------------------------------------------


def train_sgd(X, w, k, init, options, rng, verbose):
    """Dithered-point training with Adam, grown by doubling (Vali & Backstrom)."""
    n = X.shape[0]
    C = _start(X, w, k, init, 4, rng)
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
