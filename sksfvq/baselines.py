"""Reference quantizers to compare an ordered codebook with.

:func:`lbg_codebook` is *plain* vector quantization: the same growth by
doubling that SFVQ uses, without any curve. It is the "plain VQ (LBG)" of
``sksfvq compare`` and of the quality benchmark (one implementation for
both), so its numbers mean the same thing wherever they are printed.
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.utils import check_array

from ._engine import check_count, check_spread

__all__ = ["lbg_codebook"]


def _principal_split(X, labels, C, which):
    """Split the vectors ``which`` of ``C`` along their cell's principal axis.

    Each split vector c becomes the pair (c - a*u, c + a*u), with u the top
    eigenvector of its cell's covariance and a = sqrt(2/pi) * sigma_u (the
    centroids of the two halves of a Gaussian cut through its mean). Cells
    with fewer than 2 rows are offset by a tiny fixed amount instead.
    Returns ``{j: (left, right)}``.
    """
    d = X.shape[1]
    scale = np.sqrt(np.mean(np.var(X, axis=0))) + 1e-12
    # rows grouped by cell, each group in its original row order
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=C.shape[0]))
    starts = ends - np.bincount(labels, minlength=C.shape[0])
    pairs = {}
    for j in which:
        rows = X[order[starts[j]:ends[j]]]
        if rows.shape[0] >= 2:
            r = rows - rows.mean(axis=0)
            w, v = np.linalg.eigh(r.T @ r / rows.shape[0])  # d x d: cheap
            u = v[:, -1]
            a = np.sqrt(2.0 / np.pi) * np.sqrt(max(w[-1], 0.0))
        else:
            u = np.ones(d) / np.sqrt(d)
            a = 1e-3 * scale
        a = max(a, 1e-6 * scale)
        pairs[int(j)] = (C[j] - a * u, C[j] + a * u)
    return pairs


def lbg_codebook(X, n_clusters, *, max_iter=300, tol=1e-4):
    """Plain VQ grown by splitting (Linde-Buzo-Gray), without any curve.

    Starts from the mean of ``X``. Each stage splits every vector in two
    along its cell's principal axis (doubling the codebook), then runs
    Lloyd iterations to convergence (:class:`~sklearn.cluster.KMeans` with
    the split codebook as ``init``, ``n_init=1``). When ``n_clusters`` is not
    a power of two, the last stage splits only the cells with the largest
    total squared error. The method is deterministic.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training rows (converted to float64).
    n_clusters : int
        Number of codebook vectors, at least 1 and at most ``n_samples``.
    max_iter : int, default=300
        Lloyd iterations per stage at most.
    tol : float, default=1e-4
        Convergence tolerance of the Lloyd iterations (as in ``KMeans``).

    Returns
    -------
    codebook : ndarray of shape (n_clusters, n_features)
        The vectors in splitting order: the two halves of a split are
        neighbours, but nothing else about the order is tuned.
    labels : ndarray of shape (n_samples,)
        Index of each row's nearest vector after the last stage.

    Notes
    -----
    About ``log2(n_clusters)`` k-means runs on growing codebooks, each
    :math:`O(n K D)` per iteration; the splits cost :math:`O(n D^2)` per
    stage.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> C, labels = lbg_codebook(X, 6)
    >>> C.shape, len(np.unique(labels))
    ((6, 2), 6)
    """
    X = check_array(X, dtype=np.float64)
    check_spread(X)  # as the estimator: its products over- or underflow outside this
    n_clusters = check_count(n_clusters, "n_clusters", -np.inf)  # the range: below
    if not 1 <= n_clusters <= X.shape[0]:
        raise ValueError(f"n_clusters={n_clusters} must be in [1, n_samples] "
                         f"(n_samples={X.shape[0]}).")
    C = X.mean(axis=0, keepdims=True)
    labels = np.zeros(X.shape[0], dtype=np.intp)
    while C.shape[0] < n_clusters:
        m = C.shape[0]
        n_split = min(m, n_clusters - m)
        if n_split == m:
            which = np.arange(m)
        else:
            dist = np.sum((X - C[labels]) ** 2, axis=1)
            per_cell = np.bincount(labels, weights=dist, minlength=m)
            which = np.sort(np.argsort(-per_cell, kind="stable")[:n_split])
        pairs = _principal_split(X, labels, C, which)
        rows = []
        for j in range(m):
            rows.extend(pairs[j] if j in pairs else (C[j],))
        km = KMeans(n_clusters=len(rows), init=np.array(rows), n_init=1,
                    max_iter=max_iter, tol=tol, random_state=0).fit(X)
        C, labels = km.cluster_centers_, km.labels_
    return C, labels
