"""Reading a fitted curve: index profiles, directions, walks, resampling, usage.

Every function reads a fitted estimator through its public API only
(``cluster_centers_``, ``predict``, ``transform``, ``inverse_transform``), so
it works for any object that offers these (an ordered codebook with a
``KMeans``-like interface). Functions whose name ends in ``_from_indices``
take already computed corner indices, so a large data set is quantized once
and analysed many times.

The analyses are the ones the SFVQ papers use to read a latent space
(Vali & Backstrom, 2023-2025): per-label histograms of codebook indices
(smoothed, max-normalised), each label's peak index, Jensen-Shannon
distances between label histograms, the matrix of index transitions between
consecutive frames, segment directions as edit directions, points sampled
along a stretch of the curve, a codebook of any size resampled along the arc
length, and the equal-occupancy codebook of the 2024 paper.

The analyses of index arrays alone (:func:`profiles_from_indices`,
:func:`peak_table`, :func:`js_distances`, :func:`transition_matrix`) are
written in ``sksfvq._profiles``; all are importable from this module.
"""

import numpy as np
from sklearn.utils import check_array
from sklearn.exceptions import NotFittedError

from ._engine import check_count, nearest_corner
from ._profiles import js_distances, peak_table, profiles_from_indices, transition_matrix

__all__ = [
    "index_profiles",
    "profiles_from_indices",
    "peak_table",
    "js_distances",
    "transition_matrix",
    "segment_directions",
    "sample_along",
    "decode_positions",
    "walk",
    "arc_length_codebook",
    "equal_occupancy_codebook",
    "corner_usage",
    "corner_report",
]


def _corners(estimator):
    if getattr(estimator, "cluster_centers_", None) is None:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet (no "
            "cluster_centers_); call 'fit' first."
        )
    return np.asarray(estimator.cluster_centers_)


def index_profiles(estimator, X, y, *, window=1, normalize="max", classes=None):
    """Per-label histograms of the nearest-corner index of ``X``.

    ``estimator.predict(X)`` followed by :func:`profiles_from_indices`.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    window, normalize, classes
        As in :func:`profiles_from_indices`.

    Returns
    -------
    (profiles, classes)
        As :func:`profiles_from_indices` returns them: one row per class,
        one column per corner index.

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> est = SpaceFillingVQ(2).fit(X)
    >>> p, c = index_profiles(est, X, [0, 0, 1, 1])
    >>> p.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    k = _corners(estimator).shape[0]
    return profiles_from_indices(estimator.predict(X), y, k, window=window,
                                 normalize=normalize, classes=classes)


def segment_directions(estimator):
    """Unit vector of every segment, ``normalize(c[j + 1] - c[j])``.

    Zero-length segments give a zero vector.

    Returns
    -------
    directions : ndarray of shape (n_clusters - 1, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> C = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 3.0]])
    >>> est = SpaceFillingVQ(3, smoothness=0, init=C).fit(C)
    >>> est.cluster_centers_ = C  # pin this corner order for the example
    >>> segment_directions(est).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    C = _corners(estimator).astype(np.float64)
    D = np.diff(C, axis=0)
    n = np.linalg.norm(D, axis=1, keepdims=True)
    return np.divide(D, n, out=np.zeros_like(D), where=n > 0)


def _check_range(k, start, stop):
    if not (0 <= start <= stop <= k - 1):
        raise ValueError(f"need 0 <= start <= stop <= {k - 1}; got start={start}, stop={stop}.")


def _check_scale(value, name):
    """A finite number >= 0 (a noise level, a factor)."""
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")


def decode_positions(estimator, positions):
    """Points of the curve at positions of any shape (``inverse_transform``).

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    positions : array-like of any shape
        Curve positions in ``[0, n_clusters - 1]``.

    Returns
    -------
    points : ndarray of shape ``positions.shape + (n_features,)``

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> C = np.array([[0.0], [4.0]])
    >>> est = SpaceFillingVQ(2, smoothness=0, init=C).fit(C)
    >>> est.cluster_centers_ = C  # pin this corner order for the example
    >>> decode_positions(est, [[0.0, 0.5], [0.25, 1.0]])[..., 0].tolist()
    [[0.0, 2.0], [1.0, 4.0]]
    """
    C = _corners(estimator)
    k = C.shape[0]
    t = np.asarray(positions, dtype=np.float64)
    if not t.size:  # no positions: no points (inverse_transform needs a row)
        return np.empty(t.shape + (C.shape[1],), dtype=C.dtype)
    if t.min() < 0 or t.max() > k - 1:
        raise ValueError(f"positions must lie in [0, {k - 1}].")
    pts = estimator.inverse_transform(t.reshape(-1, 1))
    return np.asarray(pts).reshape(t.shape + (pts.shape[1],))


def walk(estimator, n_points, *, start=0.0, stop=None):
    """Evenly spaced positions from ``start`` to ``stop`` and their points.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    n_points : int
    start : float, default=0.0
    stop : float, optional
        Defaults to the last corner, ``n_clusters - 1``.

    Returns
    -------
    positions : ndarray of shape (n_points,)
    points : ndarray of shape (n_points, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> C = np.array([[0.0], [4.0]])
    >>> est = SpaceFillingVQ(2, smoothness=0, init=C).fit(C)
    >>> est.cluster_centers_ = C  # pin this corner order for the example
    >>> t, p = walk(est, 3)
    >>> t.tolist(), p[:, 0].tolist()
    ([0.0, 0.5, 1.0], [0.0, 2.0, 4.0])
    """
    k = _corners(estimator).shape[0]
    stop = k - 1 if stop is None else stop
    _check_range(k, start, stop)
    t = np.linspace(start, stop, check_count(n_points, "n_points"))
    return t, decode_positions(estimator, t)


def sample_along(estimator, start, stop=None, n_samples=10, *, noise=0.0, random_state=None):
    """Random points on the curve between two positions (controllable augmentation).

    Positions are drawn uniformly in ``[start, stop]``; with ``stop=None`` the
    range is segment ``start``, i.e. ``[start, start + 1]``. ``noise`` adds
    isotropic Gaussian noise of that standard deviation to every point.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    start : float
    stop : float, optional
    n_samples : int, default=10
    noise : float, default=0.0
    random_state : int, Generator or None, default=None

    Returns
    -------
    positions : ndarray of shape (n_samples,)
    points : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> est = SpaceFillingVQ(3).fit(np.array([[0.0], [0.1], [2.0], [2.1], [4.0], [4.1]]))
    >>> t, p = sample_along(est, 1, n_samples=5, random_state=0)
    >>> bool(((t >= 1) & (t <= 2)).all()), p.shape
    (True, (5, 1))
    """
    k = _corners(estimator).shape[0]
    stop = start + 1 if stop is None else stop
    _check_range(k, start, stop)
    _check_scale(noise, "noise")
    rng = np.random.default_rng(random_state)
    t = rng.uniform(start, stop, check_count(n_samples, "n_samples"))
    pts = decode_positions(estimator, t).astype(np.float64)
    if noise:
        pts += noise * rng.standard_normal(pts.shape)
    return t, pts


def arc_length_codebook(estimator, n_points, *, return_positions=False):
    """A codebook of any size: points equally spaced along the curve's arc length.

    The first and last points are the curve's end corners. This is the
    "variable bitrate" use of a fitted curve: one training run, any number of
    codebook vectors, still in curve order.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    n_points : int
        Size of the new codebook (>= 2).
    return_positions : bool, default=False
        Also return the curve positions of the new vectors.

    Returns
    -------
    codebook : ndarray of shape (n_points, n_features)
    positions : ndarray of shape (n_points,)
        Only when ``return_positions`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> C = np.array([[0.0], [1.0], [4.0]])  # a fixed curve: fit on its own corners
    >>> est = SpaceFillingVQ(3, smoothness=0, init=C).fit(C)
    >>> est.cluster_centers_ = C  # pin this corner order for the example
    >>> cb, t = arc_length_codebook(est, 5, return_positions=True)
    >>> cb[:, 0].round(6).tolist(), t.round(3).tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.333, 1.667, 2.0])
    """
    C = _corners(estimator).astype(np.float64)
    n_points = check_count(n_points, "n_points", 2)
    k = C.shape[0]
    if k == 1:
        t = np.zeros(n_points)
    else:
        seg = np.linalg.norm(np.diff(C, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        if cum[-1] == 0:
            t = np.linspace(0, k - 1, n_points)
        else:
            s = np.linspace(0, cum[-1], n_points)
            # position = segment + fraction; zero-length segments are skipped
            j = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, k - 2)
            frac = np.divide(s - cum[j], seg[j], out=np.zeros_like(s), where=seg[j] > 0)
            t = np.clip(j + np.clip(frac, 0, 1), 0, k - 1)
            t[-1] = k - 1
    cb = decode_positions(estimator, t)
    return (cb, t) if return_positions else cb


def equal_occupancy_codebook(estimator, X, n_clusters=None):
    """Codebook with (almost) the same number of rows per vector (the 2024 paper).

    Rows are mapped onto the curve (``transform``), sorted by position and cut
    into ``n_clusters`` chunks of equal count (sizes differ by at most one);
    the chunk means, in curve order, are the new codebook.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    X : array-like of shape (n_samples, n_features)
    n_clusters : int, optional
        Defaults to the estimator's number of corners.

    Returns
    -------
    codebook : ndarray of shape (n_clusters, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0]])
    >>> est = SpaceFillingVQ(2).fit(X)
    >>> equal_occupancy_codebook(est, X, 3)[:, 0].tolist()
    [0.5, 2.5, 10.5]
    """
    C = _corners(estimator)
    t = np.asarray(estimator.transform(X)).reshape(-1)  # X as given (see corner_report)
    X = check_array(X, dtype=[np.float64, np.float32])
    k = C.shape[0] if n_clusters is None else check_count(n_clusters, "n_clusters")
    if not k <= X.shape[0]:
        raise ValueError(f"n_clusters must be in [1, n_samples={X.shape[0]}]; got {k}.")
    order = np.argsort(t, kind="stable")
    chunks = np.array_split(order, k)
    return np.stack([X[c].mean(axis=0, dtype=np.float64) for c in chunks]).astype(X.dtype)


def corner_usage(estimator, X, *, normalize=False):
    """Number (or fraction) of rows whose nearest corner is each corner.

    Examples
    --------
    >>> import numpy as np
    >>> from sksfvq import SpaceFillingVQ
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0]])
    >>> corner_usage(SpaceFillingVQ(2).fit(X), X).tolist()
    [3, 1]
    """
    k = _corners(estimator).shape[0]
    counts = np.bincount(np.asarray(estimator.predict(X)).astype(np.intp), minlength=k)
    return counts / max(counts.sum(), 1) if normalize else counts


def corner_report(estimator, X, *, factor=2.0):
    """Usage, dead corners and outlier corners (corners far from every row).

    A corner is *dead* when it is no row's nearest corner. It is an *outlier*
    when the distance to its nearest row exceeds ``factor`` times the
    root-mean-square distance of the rows to their nearest corner (the typical
    quantization error): such corners model no content, they only keep the
    curve connected. On a smooth curve a dead corner may still lie among the
    data (between two clusters), so the two lists differ.

    Parameters
    ----------
    estimator : fitted SpaceFillingVQ
    X : array-like of shape (n_samples, n_features)
    factor : float, default=2.0

    Returns
    -------
    report : dict
        ``counts`` (K,) rows per corner, ``nearest_row_distance`` (K,),
        ``rms_error`` float, ``dead`` and ``outliers`` (indices, ascending).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np
    >>> C = np.array([[0.0], [10.0], [1.0]])
    >>> est = SimpleNamespace(cluster_centers_=C,
    ...                       predict=lambda X: np.abs(X - C.T).argmin(axis=1))
    >>> r = corner_report(est, np.array([[0.0], [0.5], [1.0], [1.5]]))
    >>> r["counts"].tolist(), r["dead"].tolist(), r["outliers"].tolist()
    ([2, 0, 2], [1], [1])
    """
    C = _corners(estimator)
    _check_scale(factor, "factor")
    # the estimator gets X as given: a DataFrame keeps its column names, whose
    # order the estimator checks (the bare array would pass unchecked)
    labels = np.asarray(estimator.predict(X)).astype(np.intp)
    X = check_array(X, dtype=[np.float64, np.float32])
    k = C.shape[0]
    counts = np.bincount(labels, minlength=k)
    err2 = np.sum((X.astype(np.float64) - C[labels].astype(np.float64)) ** 2, axis=1)
    rms = float(np.sqrt(err2.mean()))
    # every corner's nearest row: the rows play the corners' part in the exact
    # kernel, which measures from their centre (the expanded products of
    # points far from the origin would cancel to zero)
    _, near2 = nearest_corner(np.ascontiguousarray(C, dtype=X.dtype), X)
    near = np.sqrt(near2)
    return {
        "counts": counts,
        "nearest_row_distance": near,
        "rms_error": rms,
        "dead": np.flatnonzero(counts == 0),
        "outliers": np.flatnonzero(near > factor * rms),
    }
