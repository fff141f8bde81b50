"""Matplotlib helpers for a fitted curve (``ax=None`` in, ``ax`` out)."""

import numpy as np

__all__ = ["plot_curve"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_curve(estimator, X=None, ax=None, max_points=5000, random_state=0):
    """Draw the curve (corners in index order) over the data.

    For more than two features both are shown in the plane of the corners'
    first two principal axes.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    X : array-like of shape (n_samples, n_features), optional
        Data drawn as a light scatter (at most ``max_points`` rows, seeded).
    ax : matplotlib Axes, optional

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
    ax = _axes(ax)
    C = np.asarray(estimator.cluster_centers_, dtype=np.float64)
    if C.shape[1] == 2:
        mean, basis = np.zeros(2), np.eye(2)
    else:
        mean = C.mean(axis=0)
        _, _, vt = np.linalg.svd(C - mean, full_matrices=False)
        basis = vt[:2].T if vt.shape[0] >= 2 else np.pad(vt.T, ((0, 0), (0, 1)))
    if X is not None:
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] > max_points:
            idx = np.random.default_rng(random_state).choice(X.shape[0], max_points, replace=False)
            X = X[idx]
        P = (X - mean) @ basis
        ax.scatter(P[:, 0], P[:, 1], s=2, c="0.75", label="data", rasterized=True)
    Q = (C - mean) @ basis
    ax.plot(Q[:, 0], Q[:, 1], "-o", color="C3", ms=3, lw=1.2, label="SFVQ curve")
    ax.annotate("0", Q[0], color="C3")
    ax.annotate(str(C.shape[0] - 1), Q[-1], color="C3")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize="small")
    return ax
