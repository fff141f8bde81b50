"""Matplotlib helpers for a fitted curve (``ax=None`` in, ``ax`` out).

Every function draws on the given axes (or a new figure's axes when ``ax`` is
None), returns the axes and never calls ``plt.show()``. Matplotlib is
imported only here, never by ``import sksfvq``.
"""

import numpy as np

from . import inspection

__all__ = [
    "plot_curve",
    "plot_voronoi",
    "plot_vq_vs_sfvq",
    "plot_index_profiles",
    "plot_codebook",
    "plot_distance_matrix",
    "plot_corner_usage",
    "plot_transition_matrix",
]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _plane(C):
    """(mean, basis) of the plane used to draw D-dimensional points."""
    C = np.asarray(C, dtype=np.float64)
    if C.shape[1] == 2:
        return np.zeros(2), np.eye(2)
    if C.shape[1] == 1:
        return np.zeros(1), np.array([[1.0, 0.0]])
    mean = C.mean(axis=0)
    _, _, vt = np.linalg.svd(C - mean, full_matrices=False)
    basis = vt[:2].T if vt.shape[0] >= 2 else np.pad(vt.T, ((0, 0), (0, 1)))
    return mean, basis


def _subsample(X, max_points, random_state):
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] > max_points:
        idx = np.random.default_rng(random_state).choice(X.shape[0], max_points, replace=False)
        X = X[idx]
    return X


def plot_curve(estimator, X=None, ax=None, max_points=5000, random_state=0, *,
               color="C3", label="SFVQ curve"):
    """Draw the curve (corners in index order) over the data.

    For more than two features both are shown in the plane of the corners'
    first two principal axes (a PCA view).

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    X : array-like of shape (n_samples, n_features), optional
        Data drawn as a light scatter (at most ``max_points`` rows, seeded).
    ax : matplotlib Axes, optional
    max_points : int, default=5000
    random_state : int, default=0
        Seed of the subsample of ``X``.
    color : matplotlib colour, default="C3"
    label : str, default="SFVQ curve"

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> ax = plot_curve(SpaceFillingVQ(8).fit(X), X)
    >>> len(ax.lines)
    1
    """
    C = inspection._corners(estimator).astype(np.float64)
    ax = _axes(ax)
    mean, basis = _plane(C)
    if X is not None:
        P = (_subsample(X, max_points, random_state) - mean) @ basis
        ax.scatter(P[:, 0], P[:, 1], s=2, c="0.75", label="data", rasterized=True)
    Q = (C - mean) @ basis
    ax.plot(Q[:, 0], Q[:, 1], "-o", color=color, ms=3, lw=1.2, label=label)
    ax.annotate("0", Q[0], color=color)
    ax.annotate(str(C.shape[0] - 1), Q[-1], color=color)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def _voronoi_segments(P, lo, hi):
    """Finite line segments of the Voronoi diagram of 2-D points P, clipped to a box."""
    from scipy.spatial import Voronoi

    span = np.max(hi - lo)
    center = (lo + hi) / 2
    # far points make every cell inside the box finite
    far = center + 10 * span * np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    vor = Voronoi(np.vstack([P, far]))
    segs = []
    for (a, b), ridge in zip(vor.ridge_points, vor.ridge_vertices):
        if -1 in ridge or a >= len(P) or b >= len(P):
            continue
        segs.append(vor.vertices[ridge])
    return segs


def plot_voronoi(codebook, X=None, ax=None, max_points=5000, random_state=0, *,
                 color="C0", label="codebook"):
    """Voronoi cells of a 2-D codebook (k-means' view of the data).

    Parameters
    ----------
    codebook : fitted estimator with ``cluster_centers_`` or array of shape (k, 2)
    X : array-like of shape (n_samples, 2), optional
        Data drawn as a light scatter.
    ax : matplotlib Axes, optional
    max_points : int, default=5000
    random_state : int, default=0
    color : matplotlib colour, default="C0"
    label : str, default="codebook"

    Returns
    -------
    ax : matplotlib Axes
        Cell borders are one ``LineCollection``; codebook vectors one scatter.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_voronoi(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> len(ax.collections)
    2
    """
    from matplotlib.collections import LineCollection

    C = (np.asarray(codebook, dtype=np.float64) if isinstance(codebook, (np.ndarray, list, tuple))
         else inspection._corners(codebook).astype(np.float64))
    if C.ndim != 2 or C.shape[1] != 2:
        raise ValueError(f"plot_voronoi needs a 2-D codebook; got shape {C.shape}.")
    ax = _axes(ax)
    pts = C if X is None else np.vstack([C, _subsample(X, max_points, random_state)])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    if X is not None:
        P = _subsample(X, max_points, random_state)
        ax.scatter(P[:, 0], P[:, 1], s=2, c="0.75", label="data", rasterized=True)
    if C.shape[0] >= 2:
        ax.add_collection(LineCollection(_voronoi_segments(C, lo, hi), colors=color,
                                         linewidths=0.8, alpha=0.7))
    ax.scatter(C[:, 0], C[:, 1], s=12, c=color, zorder=3, label=label)
    pad = 0.05 * (hi - lo + 1e-12)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_vq_vs_sfvq(estimator, X, kmeans=None, axes=None, max_points=5000, random_state=0):
    """The article's figure: k-means cells next to the SFVQ curve, same K.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ on 2-D data
    X : array-like of shape (n_samples, 2)
    kmeans : fitted estimator with ``cluster_centers_``, optional
        Defaults to ``KMeans(n_clusters=K, n_init=1, random_state=0)`` fitted on X.
    axes : pair of matplotlib Axes, optional
    max_points, random_state
        As in :func:`plot_curve`.

    Returns
    -------
    axes : ndarray of 2 Axes
        Left: k-means Voronoi cells; right: the curve.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> axes = plot_vq_vs_sfvq(SpaceFillingVQ(8).fit(X), X)
    >>> [len(ax.lines) for ax in axes]
    [0, 1]
    """
    X = np.asarray(X, dtype=np.float64)
    k = inspection._corners(estimator).shape[0]
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_vq_vs_sfvq needs 2-D data of shape (n_samples, 2); got shape "
                         f"{X.shape}.")
    if kmeans is None:
        from sklearn.cluster import KMeans

        kmeans = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X)
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(10, 5))
    axes = np.asarray(axes).ravel()
    plot_voronoi(kmeans, X, ax=axes[0], max_points=max_points, random_state=random_state,
                 label="k-means")
    axes[0].set_title(f"VQ (k-means), K={k}: Voronoi cells, no order")
    plot_curve(estimator, X, ax=axes[1], max_points=max_points, random_state=random_state)
    axes[1].set_title(f"SFVQ, K={k}: corners on one curve")
    # same window on both sides; 'box' keeps equal aspect valid for shared axes too
    pts = np.vstack([X, inspection._corners(estimator).astype(np.float64)])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.05 * (hi - lo + 1e-12)
    for ax in axes[:2]:
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_aspect("equal", adjustable="box")
    return axes


def plot_index_profiles(profiles, classes=None, ax=None, *, style="lines", peaks=True,
                        cmap="viridis"):
    """Per-label histograms of corner indices (the papers' phone-group figure).

    Parameters
    ----------
    profiles : array-like of shape (n_classes, n_clusters)
        From :func:`sksfvq.inspection.profiles_from_indices` or
        :func:`sksfvq.inspection.index_profiles`.
    classes : array-like of shape (n_classes,), optional
        Names shown in the legend (``"lines"``) or on the y axis (``"image"``).
    ax : matplotlib Axes, optional
    style : {"lines", "image"}, default="lines"
        ``"lines"``: one line per label, overlaid; ``"image"``: one row per
        label in a heat map.
    peaks : bool, default=True
        ``"lines"`` only: mark each profile's maximum with a dot.
    cmap : str, default="viridis"
        ``"image"`` only.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_index_profiles([[1.0, 0.5, 0.0], [0.0, 0.2, 1.0]], ["a", "b"])
    >>> len(ax.lines)
    4
    """
    P = np.atleast_2d(np.asarray(profiles, dtype=np.float64))
    if P.ndim != 2:
        raise ValueError(f"profiles must have shape (n_classes, n_clusters); got {P.shape}.")
    names = [str(c) for c in (range(P.shape[0]) if classes is None
                              else np.atleast_1d(np.asarray(classes, dtype=object)))]
    if len(names) != P.shape[0]:
        raise ValueError(f"{P.shape[0]} profiles but {len(names)} class names.")
    if style not in ("lines", "image"):
        raise ValueError(f"style must be 'lines' or 'image'; got {style!r}.")
    ax = _axes(ax)
    if style == "lines":
        x = np.arange(P.shape[1])
        for i, (row, name) in enumerate(zip(P, names)):
            (line,) = ax.plot(x, row, lw=1.2, label=name, color=f"C{i % 10}")
            if peaks and row.max() > 0:
                j = int(np.argmax(row))
                ax.plot([j], [row[j]], "o", ms=4, color=line.get_color())
        ax.legend(fontsize="small", ncol=max(1, len(names) // 8))
        ax.set_ylabel("profile")
    elif style == "image":
        im = ax.imshow(P, aspect="auto", interpolation="nearest", cmap=cmap,
                       extent=(-0.5, P.shape[1] - 0.5, P.shape[0] - 0.5, -0.5))
        ax.set_yticks(np.arange(P.shape[0]))
        ax.set_yticklabels(names)
        ax.figure.colorbar(im, ax=ax, fraction=0.04)
    ax.set_xlabel("curve index")
    ax.set_xlim(-0.5, P.shape[1] - 0.5)
    return ax


def plot_codebook(estimator, ax=None, *, cmap="RdBu_r", feature_names=None):
    """Heat map of the codebook: one row per corner (index order), one column per feature.

    Values are shown on a colour scale symmetric around zero.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ (or any object with ``cluster_centers_``)
    ax : matplotlib Axes, optional
    cmap : str, default="RdBu_r"
    feature_names : list of str, optional
        Tick labels of the feature axis (when there are at most 40 features).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> ax = plot_codebook(SpaceFillingVQ(8).fit(X))
    >>> ax.images[0].get_array().shape
    (8, 5)
    """
    C = inspection._corners(estimator).astype(np.float64)
    ax = _axes(ax)
    vmax = float(np.abs(C).max()) or 1.0
    im = ax.imshow(C, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-vmax, vmax=vmax)
    ax.figure.colorbar(im, ax=ax, fraction=0.04)
    ax.set_ylabel("curve index")
    ax.set_xlabel("feature")
    if feature_names is not None and len(feature_names) <= 40:
        ax.set_xticks(np.arange(C.shape[1]))
        ax.set_xticklabels([str(f) for f in feature_names], rotation=90)
    return ax


def plot_distance_matrix(estimator, ax=None, *, cmap="magma"):
    """Euclidean distances between all pairs of codebook vectors, in index order.

    An ordered codebook shows a dark band along the diagonal and blocks where
    stretches of the curve stay in one region; an unordered one shows noise.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ (or any object with ``cluster_centers_``)
    ax : matplotlib Axes, optional
    cmap : str, default="magma"

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from types import SimpleNamespace
    >>> ax = plot_distance_matrix(SimpleNamespace(cluster_centers_=np.eye(3)))
    >>> ax.images[0].get_array().round(3).tolist()[0]
    [0.0, 1.414, 1.414]
    """
    from scipy.spatial.distance import cdist

    C = inspection._corners(estimator).astype(np.float64)
    ax = _axes(ax)
    im = ax.imshow(cdist(C, C), interpolation="nearest", cmap=cmap)
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xlabel("curve index")
    ax.set_ylabel("curve index")
    return ax


def plot_corner_usage(estimator, X, ax=None, *, factor=2.0):
    """Rows per corner as bars; dead corners marked red, outlier corners with a cross.

    See :func:`sksfvq.inspection.corner_report` for the definitions.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    X : array-like of shape (n_samples, n_features)
    ax : matplotlib Axes, optional
    factor : float, default=2.0
        Outlier threshold, as in :func:`~sksfvq.inspection.corner_report`.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> ax = plot_corner_usage(SpaceFillingVQ(6).fit(X), X)
    >>> len(ax.patches)
    6
    """
    rep = inspection.corner_report(estimator, X, factor=factor)
    ax = _axes(ax)
    counts = rep["counts"]
    k = counts.shape[0]
    colors = np.where(counts == 0, "C3", "C0")
    ax.bar(np.arange(k), counts, width=0.9, color=list(colors))
    if rep["dead"].size:
        ax.plot(rep["dead"], np.zeros(rep["dead"].size), "v", color="C3", ms=6,
                label=f"dead ({rep['dead'].size})")
    if rep["outliers"].size:
        ax.plot(rep["outliers"], np.zeros(rep["outliers"].size), "x", color="k", ms=7,
                label=f"outlier ({rep['outliers'].size})")
    if rep["dead"].size or rep["outliers"].size:
        ax.legend(fontsize="small")
    ax.axhline(counts.sum() / k, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("curve index")
    ax.set_ylabel("rows")
    return ax


def plot_transition_matrix(T, ax=None, *, cmap="Greys", log=True):
    """Index transition matrix between consecutive frames.

    Parameters
    ----------
    T : array-like of shape (k, k)
        From :func:`sksfvq.inspection.transition_matrix`.
    ax : matplotlib Axes, optional
    cmap : str, default="Greys"
    log : bool, default=True
        Show ``log1p(100 * T / T.max())`` instead of ``T`` so rare transitions
        stay visible.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_transition_matrix([[0.0, 1.0], [0.5, 0.5]])
    >>> ax.images[0].get_array().shape
    (2, 2)
    """
    T = np.asarray(T, dtype=np.float64)
    if T.ndim != 2 or T.shape[0] != T.shape[1]:
        raise ValueError(f"T must be a square matrix of shape (k, k); got shape {T.shape}.")
    ax = _axes(ax)
    show = T
    if log:
        top = T.max() if T.size and T.max() > 0 else 1.0
        show = np.log1p(100 * T / top)
    ax.imshow(show, interpolation="nearest", cmap=cmap)
    ax.set_xlabel("next index")
    ax.set_ylabel("current index")
    return ax
