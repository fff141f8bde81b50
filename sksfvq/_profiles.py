"""Analyses of corner indices: per-label histograms, peaks, distances, transitions.

The functions of :mod:`sksfvq.inspection` that need no estimator, only
already computed corner indices (or the profiles made from them); all of
them are importable from, and documented in, :mod:`sksfvq.inspection`.
"""

from numbers import Integral

import numpy as np
from sklearn.utils import check_array

from ._engine import check_count


def _indices(indices, n_clusters):
    """``indices`` (corner indices, or positions along the curve) as a flat
    float64 array in [0, n_clusters); a clear error for anything else
    (an estimator passed where ``est.predict(X)`` belongs, NaN, out of range)."""
    if not isinstance(n_clusters, Integral) or isinstance(n_clusters, bool) or n_clusters < 1:
        raise ValueError(f"n_clusters must be an int >= 1; got {n_clusters!r}.")
    a = np.asarray(indices)
    if a.dtype.kind not in "biuf":
        raise TypeError("indices must be numbers: corner indices such as est.predict(X) "
                        f"or positions such as est.transform(X); got {type(indices).__name__}"
                        + (f" of {a.dtype}" if a.dtype.kind != "O" else "") + ".")
    a = a.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise ValueError("indices contain NaN or infinity.")
    if a.size and (a.min() < 0 or a.max() >= n_clusters):
        raise ValueError(f"indices must lie in [0, {n_clusters - 1}]; got values in "
                         f"[{a.min():g}, {a.max():g}].")
    return a


def _missing(v):
    """Whether one label is missing: None, or unequal to itself (NaN, pandas' NA)."""
    if v is None:
        return True
    try:
        return bool(v != v)
    except (TypeError, ValueError):  # pandas.NA: its comparisons have no truth value
        return True


def _labels(labels, n, what="labels"):
    """``labels`` as a flat array of n sortable values; ValueError for NaN or
    None (a NaN label equals no label, so its rows would vanish), TypeError
    for mixed kinds (a list of 1 and "1" would become two strings "1")."""
    y = np.asarray(labels).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"{n} indices but {y.shape[0]} {what}.")
    mixed = TypeError(f"{what} must be values of one kind that sort (e.g. all strings or all "
                      "numbers); got mixed types.")
    if y.dtype.kind == "U" and not isinstance(labels, np.ndarray):
        # numpy turns a list of numbers and strings into strings: look at the values
        if not all(isinstance(v, str) for v in np.asarray(labels, dtype=object).reshape(-1)):
            raise mixed
    if (np.isnan(y).any() if y.dtype.kind in "fc"
            else y.dtype.kind == "O" and any(_missing(v) for v in y)):
        raise ValueError(f"{what} contain NaN or None: a NaN {what[:-1]} equals no other; "
                         f"give missing {what} a value of their own.")
    if y.dtype.kind == "O":
        try:
            np.unique(y)
        except TypeError:
            raise mixed from None
    return y


def _smooth(counts, window):
    """Centred moving average along the last axis; edges average fewer bins."""
    window = check_count(window, "window")
    if window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 1; got {window}.")
    if window == 1:
        return counts.astype(np.float64)
    # bin i averages bins [i - h, i + h] that exist (by running sums: a window
    # wider than the axis stays aligned, as np.convolve's "same" did not)
    k = counts.shape[-1]
    h = window // 2
    run = np.concatenate([np.zeros(counts.shape[:-1] + (1,)),
                          np.cumsum(counts, axis=-1, dtype=np.float64)], axis=-1)
    i = np.arange(k)
    lo, hi = np.maximum(i - h, 0), np.minimum(i + h + 1, k)
    return (run[..., hi] - run[..., lo]) / (hi - lo)


def profiles_from_indices(indices, labels, n_clusters, *, window=1, normalize="max",
                          classes=None):
    """Histogram of corner indices per label, optionally smoothed and normalised.

    Parameters
    ----------
    indices : array-like of shape (n_samples,)
        Integer corner index of every row (``estimator.predict(X)``).
    labels : array-like of shape (n_samples,)
        Label of every row (any hashable values numpy can sort).
    n_clusters : int
        Number of corners K (length of every profile).
    window : int, default=1
        Width (odd) of a centred moving average along the index axis; 1 means
        no smoothing. Near the ends the average is over the bins that exist.
    normalize : {"max", "sum"} or None, default="max"
        ``"max"``: each profile divided by its maximum (the papers' figures);
        ``"sum"``: each profile sums to 1; None: raw (smoothed) counts.
    classes : array-like, optional
        Labels to report, in this order (default: the sorted unique labels).

    Returns
    -------
    profiles : ndarray of shape (n_classes, n_clusters)
    classes : ndarray of shape (n_classes,)

    Examples
    --------
    >>> p, c = profiles_from_indices([0, 0, 1, 3, 3, 3], ["a", "a", "a", "b", "b", "b"], 4)
    >>> c.tolist()
    ['a', 'b']
    >>> p.tolist()
    [[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    idx = _indices(indices, n_clusters)
    y = _labels(labels, idx.shape[0])
    classes = np.unique(y) if classes is None else np.atleast_1d(np.asarray(classes))
    counts = np.zeros((classes.shape[0], n_clusters))
    for row, c in enumerate(classes):
        counts[row] = np.bincount(idx[y == c].astype(np.intp), minlength=n_clusters)
    prof = _smooth(counts, window)
    if normalize == "max":
        top = prof.max(axis=1, keepdims=True)
        prof = np.divide(prof, top, out=np.zeros_like(prof), where=top > 0)
    elif normalize == "sum":
        tot = prof.sum(axis=1, keepdims=True)
        prof = np.divide(prof, tot, out=np.zeros_like(prof), where=tot > 0)
    elif normalize is not None:
        raise ValueError(f"normalize must be 'max', 'sum' or None; got {normalize!r}.")
    return prof, classes


def peak_table(indices, labels, n_clusters, *, window=1, coverage=0.8, classes=None):
    """Each label's peak index and the index range holding most of its rows.

    Parameters
    ----------
    indices : array-like of shape (n_samples,)
        Corner index (``predict``) or curve position (``transform``) per row.
        Positions are floored to their segment's first corner for the peak.
    labels : array-like of shape (n_samples,)
    n_clusters : int
    window : int, default=1
        Smoothing of the histogram whose argmax is the peak.
    coverage : float, default=0.8
        The range is the central interval between the ``(1 - coverage) / 2``
        and ``(1 + coverage) / 2`` quantiles of the label's indices.
    classes : array-like, optional
        Labels to report, in this order.

    Returns
    -------
    table : dict of ndarray
        ``label``, ``peak``, ``low``, ``median``, ``high`` and ``count``, one
        entry per class (ready for ``pandas.DataFrame(table)``).

    Examples
    --------
    >>> t = peak_table([0, 1, 1, 1, 2, 7, 8, 8], list("aaaaabbb"), 10, coverage=1.0)
    >>> t["peak"].tolist(), t["low"].tolist(), t["high"].tolist()
    ([1, 8], [0.0, 7.0], [2.0, 8.0])
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1]; got {coverage}.")
    t = _indices(indices, n_clusters)
    y = _labels(labels, t.shape[0])
    idx = np.floor(t).astype(np.intp)  # in [0, n_clusters - 1]: _indices checked t
    prof, classes = profiles_from_indices(idx, y, n_clusters, window=window,
                                          normalize=None, classes=classes)
    lo_q, hi_q = (1 - coverage) / 2, (1 + coverage) / 2
    rows = {"label": classes, "peak": [], "low": [], "median": [], "high": [], "count": []}
    for c, p in zip(classes, prof):
        tc = t[y == c]
        rows["count"].append(tc.shape[0])
        if tc.shape[0] == 0:
            rows["peak"].append(-1)
            rows["low"].append(np.nan)
            rows["median"].append(np.nan)
            rows["high"].append(np.nan)
            continue
        rows["peak"].append(int(np.argmax(p)))
        lo, med, hi = np.quantile(tc, [lo_q, 0.5, hi_q])
        rows["low"].append(float(lo))
        rows["median"].append(float(med))
        rows["high"].append(float(hi))
    return {key: np.asarray(val) for key, val in rows.items()}


def js_distances(profiles):
    """Jensen-Shannon distances (base 2, in [0, 1]) between all pairs of profiles.

    Each row is first normalised to sum to 1 (rows of zeros are left as they
    are and get NaN distances).

    Parameters
    ----------
    profiles : array-like of shape (n_profiles, n_bins)
        Non-negative histograms, e.g. from :func:`profiles_from_indices`.

    Returns
    -------
    distances : ndarray of shape (n_profiles, n_profiles)
        Symmetric, zero on the diagonal; 1 for profiles with disjoint support.

    Examples
    --------
    >>> js_distances([[1, 0], [0, 1], [1, 1]]).round(3).tolist()
    [[0.0, 1.0, 0.558], [1.0, 0.0, 0.558], [0.558, 0.558, 0.0]]
    """
    P = check_array(profiles, dtype=np.float64, ensure_min_features=1)
    if (P < 0).any():
        raise ValueError("profiles must be non-negative.")
    tot = P.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = P / tot

    def _kl_terms(a, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(a > 0, a * np.log2(a / b), 0.0)
        return r.sum(axis=-1)

    A = P[:, None, :]
    B = P[None, :, :]
    M = (A + B) / 2
    jsd = 0.5 * _kl_terms(A, M) + 0.5 * _kl_terms(B, M)
    D = np.sqrt(np.clip(jsd, 0, None))
    D[(tot[:, 0] == 0)[:, None] | (tot[:, 0] == 0)[None, :]] = np.nan
    np.fill_diagonal(D, np.where(tot[:, 0] > 0, 0.0, np.nan))
    return D


def transition_matrix(indices, n_clusters, *, sequences=None, normalize="row"):
    """Counts (or frequencies) of index ``i`` followed by index ``j`` in a sequence.

    Parameters
    ----------
    indices : array-like of shape (n_samples,)
        Corner index of consecutive frames (``predict`` on ordered rows).
    n_clusters : int
    sequences : array-like of shape (n_samples,), optional
        Sequence id of every frame; transitions between two different ids
        (the end of one utterance and the start of the next) are not counted.
    normalize : {"row", "all"} or None, default="row"
        ``"row"``: each row sums to 1 (the probability of the next index given
        the current one; rows never left stay 0); ``"all"``: the matrix sums to
        1; None: counts.

    Returns
    -------
    T : ndarray of shape (n_clusters, n_clusters)
        ``T[i, j]`` for a frame at index ``i`` followed by one at ``j``.

    Examples
    --------
    >>> transition_matrix([0, 1, 1, 2, 0], 3, sequences=[0, 0, 0, 0, 1], normalize=None)
    array([[0., 1., 0.],
           [0., 1., 1.],
           [0., 0., 0.]])
    """
    idx = _indices(indices, n_clusters).astype(np.intp)
    src, dst = idx[:-1], idx[1:]
    if sequences is not None:
        s = _labels(sequences, idx.shape[0], "sequence ids")
        keep = s[:-1] == s[1:]
        src, dst = src[keep], dst[keep]
    T = np.bincount(src * n_clusters + dst, minlength=n_clusters * n_clusters)
    T = T.reshape(n_clusters, n_clusters).astype(np.float64)
    if normalize == "row":
        tot = T.sum(axis=1, keepdims=True)
        T = np.divide(T, tot, out=np.zeros_like(T), where=tot > 0)
    elif normalize == "all":
        T = T / max(T.sum(), 1.0)
    elif normalize is not None:
        raise ValueError(f"normalize must be 'row', 'all' or None; got {normalize!r}.")
    return T
