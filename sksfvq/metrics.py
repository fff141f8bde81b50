"""Quality measures of an ordered codebook (defined in ``docs/metrics.rst``).

Plain functions of arrays: ``X`` (n, d) data, ``codebook`` (k, d) vectors in
index order, ``positions`` (n,) the 1-D coordinate of each row (curve position
for SFVQ, codebook index otherwise). They work for any codebook, so SFVQ,
k-means and a self-organizing map are measured the same way.
"""

import numpy as np
from sklearn.manifold import trustworthiness as _trustworthiness
from sklearn.utils import check_array

from ._engine import nearest_corner, project
from ._order import knn_rows

#: neighbours of the neighbour measures (cont10, trust10, knn_spread)
NEIGHBOURS = 10

__all__ = [
    "mse_corner",
    "mse_curve",
    "adj_ratio",
    "curve_length",
    "continuity",
    "trustworthiness",
    "usage",
    "dead",
    "label_spread",
    "knn_spread",
    "evaluate",
    "markdown_table",
]


def _pair(X, codebook):
    X = check_array(X, dtype=[np.float64, np.float32], order="C")
    C = check_array(codebook, dtype=X.dtype, order="C")
    if C.shape[1] != X.shape[1]:
        raise ValueError(
            f"codebook has {C.shape[1]} features but X has {X.shape[1]}."
        )
    return X, C


def mse_corner(X, codebook):
    """Mean over rows and features of the squared distance to the nearest vector.

    Equals ``inertia / (n * d)``; what ``predict`` pays.

    Examples
    --------
    >>> import numpy as np
    >>> mse_corner(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 0.0]]))
    1.0
    """
    X, C = _pair(X, codebook)
    _, dist2 = nearest_corner(X, C)
    return float(np.mean(dist2) / X.shape[1])


def mse_curve(X, codebook):
    """Like :func:`mse_corner`, to the exact nearest point of the polyline.

    Examples
    --------
    >>> import numpy as np
    >>> mse_curve(np.array([[1.0, 1.0]]), np.array([[0.0, 0.0], [2.0, 0.0]]))
    0.5
    """
    X, C = _pair(X, codebook)
    _, _, dist2 = project(X, C)
    return float(np.mean(dist2, dtype=np.float64) / X.shape[1])


def adj_ratio(codebook):
    """Mean distance of consecutive vectors over the mean distance of all pairs.

    About 1 for an arbitrary order, much less than 1 for a meaningful one.
    Returns NaN for fewer than 3 vectors or when all vectors coincide.

    Examples
    --------
    >>> import numpy as np
    >>> round(adj_ratio(np.arange(4.0)[:, None]), 3)
    0.6
    """
    from scipy.spatial.distance import pdist

    C = _codebook(codebook)
    if C.shape[0] < 3:
        return float("nan")
    # a ratio of distances: centred and brought near unit scale first, with the
    # pairs' differences taken directly (|a|^2 + |b|^2 - 2 a.b loses the digits
    # of a codebook far from the origin; squares of 1e-200 underflow)
    C = C - C.mean(axis=0)
    top = float(np.abs(C).max())
    if top > 0:
        C = C / top
    all_pairs = pdist(C).mean()
    consecutive = np.linalg.norm(np.diff(C, axis=0), axis=1).mean()
    return float(consecutive / all_pairs) if all_pairs > 0 else float("nan")


def curve_length(codebook):
    """Sum of the segment lengths of the polyline through the codebook.

    Examples
    --------
    >>> import numpy as np
    >>> curve_length(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]]))
    6.0
    """
    steps = np.diff(_codebook(codebook), axis=0)
    top = float(np.abs(steps).max()) if steps.size else 0.0
    if top == 0:
        return 0.0
    return float(np.linalg.norm(steps / top, axis=1).sum() * top)  # no under- or overflow


def _codebook(codebook):
    """A codebook as a finite 2-D float64 array (ValueError otherwise)."""
    return check_array(codebook, dtype=np.float64, input_name="codebook")


def _positions(positions, n, of="rows"):
    """One finite position per row (of ``n`` rows or labels), shape (n,) or
    (n, 1), flattened."""
    t = np.asarray(positions, dtype=np.float64)
    if t.ndim > 2 or (t.ndim == 2 and t.shape[1] != 1):
        raise ValueError(f"positions must have shape (n,) or (n, 1); got {t.shape}.")
    t = t.reshape(-1)
    if t.shape[0] != n:
        raise ValueError(f"{n} {of} but {t.shape[0]} positions.")
    if not np.isfinite(t).all():
        raise ValueError("positions contain NaN or infinity.")
    return t


def _subset(n, n_subset, random_state):
    if n <= n_subset:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=n_subset, replace=False))


def _rows_and_positions(X, positions):
    """X (float64) and one position per row (ValueError otherwise)."""
    X = check_array(X, dtype=np.float64)
    return X, _positions(positions, X.shape[0])


def continuity(X, positions, n_neighbors=NEIGHBOURS, n_subset=2000, random_state=0):
    """``cont10``: neighbours in the data that the 1-D axis keeps together.

    ``trustworthiness(positions, X)`` with the two spaces swapped, on a
    seeded subset of ``n_subset`` rows. Higher is better.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((50, 1))
    >>> continuity(X, X[:, 0], n_neighbors=5)
    1.0
    """
    X, t = _rows_and_positions(X, positions)
    idx = _subset(X.shape[0], n_subset, random_state)
    return float(_trustworthiness(t[idx, None], X[idx], n_neighbors=n_neighbors))


def trustworthiness(X, positions, n_neighbors=NEIGHBOURS, n_subset=2000, random_state=0):
    """``trust10``: ``trustworthiness(X, positions)`` on the same seeded subset.

    Reported for completeness; it does not reward ordering.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((50, 1))
    >>> trustworthiness(X, X[:, 0], n_neighbors=5)
    1.0
    """
    X, t = _rows_and_positions(X, positions)
    idx = _subset(X.shape[0], n_subset, random_state)
    return float(_trustworthiness(X[idx], t[idx, None], n_neighbors=n_neighbors))


def _counts(X, codebook):
    X, C = _pair(X, codebook)
    labels, _ = nearest_corner(X, C, distances=False)
    return np.bincount(labels, minlength=C.shape[0])


def usage(X, codebook):
    """Perplexity of the nearest-vector histogram divided by K (1 = uniform use).

    Examples
    --------
    >>> import numpy as np
    >>> usage(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]))
    1.0
    """
    counts = _counts(X, codebook)
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-np.sum(p * np.log(p))) / counts.shape[0])


def dead(X, codebook):
    """Number of codebook vectors that are no row's nearest vector.

    Examples
    --------
    >>> import numpy as np
    >>> dead(np.array([[0.0], [0.1]]), np.array([[0.0], [5.0]]))
    1
    """
    return int(np.sum(_counts(X, codebook) == 0))


def label_spread(positions, labels, n_pairs=200_000, random_state=0):
    """Mean ``|t_i - t_j|`` over same-label pairs divided by the mean over all pairs.

    Pairs are sampled with a seeded generator. Lower is better.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 0.1, 5.0, 5.1])
    >>> label_spread(t, np.array([0, 0, 1, 1])) < 0.1
    True
    """
    y = np.asarray(labels).reshape(-1)
    t = _positions(positions, y.shape[0], of="labels")
    rng = np.random.default_rng(random_state)
    i = rng.integers(0, t.shape[0], n_pairs)
    j = rng.integers(0, t.shape[0], n_pairs)
    keep = i != j
    i, j = i[keep], j[keep]
    gap = np.abs(t[i] - t[j])
    same = y[i] == y[j]
    if not same.any() or gap.mean() == 0:
        return float("nan")
    return float(gap[same].mean() / gap.mean())


def knn_spread(X, positions, n_neighbors=NEIGHBOURS, n_subset=3000, n_pairs=200_000,
               random_state=0):
    """Label-free global order: how far apart the 1-D axis puts data neighbours.

    For a seeded subset of ``n_subset`` rows, the mean ``|t_i - t_j|`` over
    each row's ``n_neighbors`` nearest rows of ``X`` (Euclidean, the row
    itself excluded) divided by the mean ``|t_i - t_j|`` over ``n_pairs``
    seeded random pairs of rows. A curve that wanders back and forth through
    the space tears neighbours apart along the index and scores high; an
    index that reads like the data scores low. Lower is better.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(0, 1, 200)[:, None]
    >>> knn_spread(X, X[:, 0]) < 0.05
    True
    >>> bool(knn_spread(X, np.random.default_rng(0).random(200)) > 0.8)
    True
    """
    X, t = _rows_and_positions(X, positions)
    n = X.shape[0]
    if not 1 <= n_neighbors < n:
        raise ValueError(f"n_neighbors={n_neighbors} must be in [1, n_samples - 1] "
                         f"(n_samples={n}).")
    idx = _subset(n, n_subset, random_state)
    nbrs = knn_rows(X, n_neighbors, query=idx)
    near = np.abs(t[idx][:, None] - t[nbrs]).mean()
    rng = np.random.default_rng(random_state)
    i = rng.integers(0, n, n_pairs)
    j = rng.integers(0, n, n_pairs)
    keep = i != j
    far = np.abs(t[i[keep]] - t[j[keep]]).mean()
    return float(near / far) if far > 0 else float("nan")


def evaluate(X, codebook, positions=None, labels=None, n_subset=2000, random_state=0):
    """Every measure of ``docs/metrics.rst`` for one codebook, as a dict.

    ``positions`` defaults to the exact curve position of each row; pass the
    codebook index for an unordered quantizer if that is what it offers.
    The 10-neighbour measures are NaN where the rows are too few for them
    (``cont10`` and ``trust10`` below 21 rows, ``knn_spread`` below 11).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> sorted(evaluate(X, X[:5]))  # doctest: +NORMALIZE_WHITESPACE
    ['adj_ratio', 'cont10', 'curve_length', 'dead', 'knn_spread', 'mse_corner',
     'mse_curve', 'trust10', 'usage']
    """
    X, C = _pair(X, codebook)
    if positions is None:
        positions, _, _ = project(X, C)
    nan = float("nan")
    out = {
        "mse_corner": mse_corner(X, C),
        "mse_curve": mse_curve(X, C),
        "adj_ratio": adj_ratio(C),
        "curve_length": curve_length(C),
        "cont10": nan,
        "trust10": nan,
        "knn_spread": nan,
        "usage": usage(X, C),
        "dead": dead(X, C),
    }
    positions = _positions(positions, X.shape[0])
    n = min(X.shape[0], n_subset)
    if n > 2 * NEIGHBOURS:  # sklearn's trustworthiness needs n_neighbors < n / 2
        out["cont10"] = continuity(X, positions, n_subset=n_subset, random_state=random_state)
        out["trust10"] = trustworthiness(X, positions, n_subset=n_subset,
                                         random_state=random_state)
    if X.shape[0] > NEIGHBOURS:
        out["knn_spread"] = knn_spread(X, positions, random_state=random_state)
    if labels is not None:
        out["label_spread"] = label_spread(positions, labels, random_state=random_state)
    return out


def markdown_table(results, columns=None, floatfmt=".4g"):
    """A Markdown table with one row per method from ``{name: {measure: value}}``.

    Examples
    --------
    >>> print(markdown_table({"a": {"mse_corner": 0.5, "dead": 0}}))
    | method | mse_corner | dead |
    |---|---|---|
    | a | 0.5 | 0 |
    """
    if columns is None:
        columns = []
        for row in results.values():
            columns += [c for c in row if c not in columns]

    def text(v):  # a "|" inside a cell would split it
        return str(v).replace("|", "\\|")

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return "" if v is None else text(v)

    lines = ["| " + " | ".join(["method"] + [text(c) for c in columns]) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for name, row in results.items():
        lines.append("| " + " | ".join([text(name)] + [cell(row.get(c)) for c in columns])
                     + " |")
    return "\n".join(lines)
