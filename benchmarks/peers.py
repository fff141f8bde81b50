"""The methods the quality benchmark compares, behind one calling convention.

Every ``fit_*`` function takes ``(X, k, seed)`` and returns a dict with

- ``codebook``: ndarray of shape (k, d), the vectors **in the method's index
  order** (the order the 1-D coordinate uses);
- ``positions``: ndarray of shape (n,), the 1-D coordinate of every row
  (curve position for SFVQ, index of the nearest vector otherwise);
- ``fit_s``: wall-clock seconds of the fit, including any work a user needs
  to get the ordered codebook (e.g. the path ordering of k-means' centres),
  excluding the computation of ``positions`` for evaluation.

Only public APIs are used: scikit-learn, MiniSom, ``sksfvq``'s public
estimator and :mod:`sksfvq.baselines`. Settings are documented next to each function.
"""

import time

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin

__all__ = [
    "fit_kmeans",
    "fit_minibatch_kmeans",
    "fit_plain_vq",
    "fit_kmeans_path",
    "fit_som",
    "fit_sfvq",
    "fit_sfvq_sgd",
    "order_open_path",
    "path_length",
    "som_schedule",
    "PEERS",
]


def _nearest(X, C):
    """Index of the nearest row of ``C`` for every row of ``X`` (chunked)."""
    return pairwise_distances_argmin(X, C)


# ------------------------------------------------------------------ k-means
def fit_kmeans(X, k, seed):
    """``KMeans(n_clusters=k, n_init=1)`` (k-means++ init, Lloyd); index order."""
    t0 = time.perf_counter()
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(X)
    fit_s = time.perf_counter() - t0
    return {"codebook": km.cluster_centers_, "positions": km.labels_.astype(float),
            "fit_s": fit_s}


def fit_minibatch_kmeans(X, k, seed):
    """``MiniBatchKMeans(n_clusters=k, n_init=1)`` with scikit-learn's defaults
    otherwise (batch_size=1024, k-means++ init); index order."""
    t0 = time.perf_counter()
    km = MiniBatchKMeans(n_clusters=k, n_init=1, random_state=seed).fit(X)
    fit_s = time.perf_counter() - t0
    return {"codebook": km.cluster_centers_,
            "positions": _nearest(X, km.cluster_centers_).astype(float),
            "fit_s": fit_s}


# ------------------------------------------------------------ plain VQ (LBG)
def fit_plain_vq(X, k, seed):
    """Plain VQ: :func:`sksfvq.baselines.lbg_codebook` (LBG doubling from the
    mean + Lloyd; deterministic, so ``seed`` is unused), the same code as the
    "plain VQ (LBG)" row of ``sksfvq compare``."""
    from sksfvq.baselines import lbg_codebook

    t0 = time.perf_counter()
    C, labels = lbg_codebook(X, k)
    fit_s = time.perf_counter() - t0
    return {"codebook": C, "positions": labels.astype(float), "fit_s": fit_s}


# ------------------------------------------------- k-means + shortest path
def _dist_matrix(C):
    C = np.asarray(C, dtype=np.float64)
    sq = np.sum(C**2, axis=1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * C @ C.T, 0.0))


def path_length(C, order=None):
    """Length of the open polyline through ``C`` (in ``order`` if given)."""
    C = np.asarray(C, dtype=np.float64)
    if order is not None:
        C = C[np.asarray(order)]
    return float(np.linalg.norm(np.diff(C, axis=0), axis=1).sum())


def _open_length(D, p):
    return float(D[p[:-1], p[1:]].sum())


def order_open_path(C):
    """A short open path through the rows of ``C``: a permutation of ``range(k)``.

    Nearest-neighbour tours from every start vector, the shortest of those and
    of the input order is kept, then 2-opt moves on the open path (reverse
    ``p[i..j]``; at the ends only one edge changes) until no move shortens
    it. The result is never longer than the input order.
    """
    D = _dist_matrix(C)
    k = D.shape[0]
    if k <= 2:
        return np.arange(k)
    best = np.arange(k)
    best_len = _open_length(D, best)
    for start in range(k):
        p = [start]
        free = np.ones(k, dtype=bool)
        free[start] = False
        for _ in range(k - 1):
            row = np.where(free, D[p[-1]], np.inf)
            nxt = int(np.argmin(row))
            p.append(nxt)
            free[nxt] = False
        p = np.array(p)
        length = _open_length(D, p)
        if length < best_len - 1e-12:
            best, best_len = p, length
    p = best.copy()
    eps = 1e-12 * max(best_len, 1e-300)
    improved = True
    while improved:
        improved = False
        for i in range(k - 1):
            j = np.arange(i + 1, k)
            has_next = j < k - 1
            nxt = p[np.minimum(j + 1, k - 1)]
            old = np.where(has_next, D[p[j], nxt], 0.0)
            new = np.where(has_next, D[p[i], nxt], 0.0)
            if i > 0:
                old = old + D[p[i - 1], p[i]]
                new = new + D[p[i - 1], p[j]]
            gain = old - new
            m = int(np.argmax(gain))
            if gain[m] > eps:
                jj = j[m]
                p[i:jj + 1] = p[i:jj + 1][::-1].copy()
                improved = True
    return p


def fit_kmeans_path(X, k, seed):
    """``KMeans(n_init=1)``, then its centres ordered by :func:`order_open_path`.

    ``fit_s`` includes the ordering; ``positions`` is the rank of each row's
    nearest centre in the path.
    """
    t0 = time.perf_counter()
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(X)
    order = order_open_path(km.cluster_centers_)
    fit_s = time.perf_counter() - t0
    rank = np.empty(k, dtype=np.intp)
    rank[order] = np.arange(k)
    return {"codebook": km.cluster_centers_[order],
            "positions": rank[km.labels_].astype(float), "fit_s": fit_s}


# --------------------------------------------------------------- 1-D SOM
#: lower bound of the SOM's number of single-sample updates
SOM_MIN_UPDATES = 50_000


def som_schedule(n, k):
    """The two-phase schedule of the 1-D SOM for ``n`` rows and ``k`` units.

    Budget: ``max(10 * n, 50_000)`` single-sample updates (about ten passes;
    at least 50,000 so that small sets such as digits are not undertrained),
    30 % in the rough phase and 70 % in the fine-tuning phase, rows drawn at
    random (seeded). Gaussian neighbourhood on the K x 1 grid.

    - rough (ordering) phase: sigma from ``max(k / 4, 2)`` linearly down to 1
      (``linear_decay_to_one``), learning rate 0.5 linearly down to 0;
    - fine phase: sigma from 1.0 decaying as ``sigma / (1 + 2 t / T)`` to
      1/3 (``asymptotic_decay``), learning rate 0.05 linearly down to 0.
    """
    total = max(10 * n, SOM_MIN_UPDATES)
    rough = int(0.3 * total)
    return [
        {"sigma": max(k / 4.0, 2.0), "learning_rate": 0.5, "n_iter": rough,
         "sigma_decay_function": "linear_decay_to_one",
         "decay_function": "linear_decay_to_zero"},
        {"sigma": 1.0, "learning_rate": 0.05, "n_iter": total - rough,
         "sigma_decay_function": "asymptotic_decay",
         "decay_function": "linear_decay_to_zero"},
    ]


def fit_som(X, k, seed):
    """1-D self-organizing map: MiniSom on a k x 1 grid, :func:`som_schedule`.

    Weights start at random rows of ``X`` (seeded); the fine phase continues
    from the rough phase's weights. ``positions`` is the winner index.
    """
    from minisom import MiniSom

    X = np.asarray(X, dtype=np.float64)
    t0 = time.perf_counter()
    weights = None
    for i, phase in enumerate(som_schedule(X.shape[0], k)):
        som = MiniSom(k, 1, X.shape[1], sigma=phase["sigma"],
                      learning_rate=phase["learning_rate"],
                      neighborhood_function="gaussian",
                      decay_function=phase["decay_function"],
                      sigma_decay_function=phase["sigma_decay_function"],
                      random_seed=seed + i)
        if weights is None:
            som.random_weights_init(X)
        else:
            som.get_weights()[...] = weights
        som.train(X, phase["n_iter"], random_order=True)
        weights = som.get_weights().copy()
    fit_s = time.perf_counter() - t0
    C = weights.reshape(k, X.shape[1])
    return {"codebook": C, "positions": _nearest(X, C).astype(float), "fit_s": fit_s}


# ------------------------------------------------------------------- ours
def fit_sfvq(X, k, seed, **params):
    """``SpaceFillingVQ(n_clusters=k, random_state=seed, **params)`` (the default
    trainer unless ``params`` says otherwise); positions = ``transform(X)[:, 0]``."""
    from sksfvq import SpaceFillingVQ

    t0 = time.perf_counter()
    est = SpaceFillingVQ(n_clusters=k, random_state=seed, **params).fit(X)
    fit_s = time.perf_counter() - t0
    return {"codebook": est.cluster_centers_, "positions": est.transform(X)[:, 0],
            "fit_s": fit_s}


def fit_sfvq_sgd(X, k, seed):
    """``SpaceFillingVQ(algorithm="sgd")``: the published recipe as shipped
    (Adam lr 1e-3, batch 64, 5 epochs per stage)."""
    return fit_sfvq(X, k, seed, algorithm="sgd")


#: key -> (display name, fit function, ordered?) in table order; an ordered method's
#: index is meant to be read (the splitting order of LBG counts: the two halves of a
#: split are neighbours)
PEERS = {
    "kmeans": ("KMeans(n_init=1)", fit_kmeans, False),
    "minibatch": ("MiniBatchKMeans", fit_minibatch_kmeans, False),
    "plain_vq": ("plain VQ (LBG split + Lloyd)", fit_plain_vq, True),
    "kmeans_path": ("KMeans + 2-opt path", fit_kmeans_path, True),
    "som": ("1-D SOM (MiniSom, 2-phase)", fit_som, True),
    "sgd": ("SFVQ sgd (published recipe)", fit_sfvq_sgd, True),
    "sfvq": ("SpaceFillingVQ() default", fit_sfvq, True),
}
