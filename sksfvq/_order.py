"""The order of the corners: which corner gets which index.

The order changes nothing in the nearest-corner error and everything in what
the index means. Two kinds of order matter (see ``docs/metrics.rst``):

* **local**: consecutive corners are close (``adj_ratio``); a short open
  path through the corners gives it;
* **global**: rows that are neighbours in the data get nearby indices
  (``knn_spread``, ``label_spread``). A shortest path is locally excellent
  and globally arbitrary: it wanders back and forth through the space.

:func:`order_corners` wins both together. It builds the *neighbour graph* of
the corners from the data (``W[i, j]``: how many pairs of neighbouring rows
fall into corners i and j) and minimises the arrangement cost

    mean |p_i - p_j| over the graph's edges / (k / 3)  +  alpha * adj_ratio

(``p``: index of a corner; ``k / 3`` is the mean gap of random pairs, so the
first term estimates ``knn_spread``) by local moves (insertions and
reversals, ``_order_kernels``) from several starts: the order the curve grew
in, the spectral order of the graph (its Fiedler vector, a global
relaxation of the same problem), a shortest path and a few random orders.
The cheapest wins.
"""

import numpy as np

from ._init import unit_scale
from ._order_kernels import arrange_insert, arrange_reverse, improve_path, nearest_by_products

#: weight of local order (adj_ratio) against global order in the arrangement cost
ORDER_ALPHA = 5.0
#: neighbours of every row in the neighbour graph
ORDER_NEIGHBOURS = 10
#: reversals of at most this many corners are tried
ORDER_WINDOW = 16
#: insertion moves go at most this many places (no limit up to this many corners)
ORDER_INSERT_WINDOW = 256
#: a shortest path (2-opt, O(k^2) per sweep) is a start up to this many corners
ORDER_PATH_START_MAX = 256
#: bound on the rounds of (insertion sweep, reversal sweep)
ORDER_MAX_ROUNDS = 100
#: random restarts of the arrangement cost about k^2 each: up to this many k^2 in all
ORDER_RESTART_WORK = 1 << 18
ORDER_MAX_RESTARTS = 32
#: the dense spectral solve is used up to this many corners (sparse Lanczos above)
DENSE_SPECTRAL_MAX = 128


def distance_matrix(C):
    """Euclidean distances between the rows of C (float64), from the rows
    minus their mean (the products of rows far from the origin would cancel:
    an offset of 1e8 left errors of the order of unit distances)."""
    C = np.asarray(C, dtype=np.float64)
    C = C - C.mean(axis=0)
    sq = np.einsum("ij,ij->i", C, C)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (C @ C.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


# ---------------------------------------------------------------- shortest paths
def in_unit(Dm):
    """Distances ``Dm`` divided by the power of two above their largest entry
    (exact, a new array): :func:`improve_path` takes moves that gain more
    than 1e-12 in these units, whatever the data's unit (in the data's
    units, no move gained that much below about 1e-12)."""
    top = float(Dm.max()) if Dm.size else 0.0
    if 0.0 < top < np.inf:
        return Dm * unit_scale(top)
    return Dm.copy()


def shorten_order(C, order=None, max_sweeps=50):
    """A short open path through the corners C, improved from ``order``
    (2-opt and or-opt moves). Returns the permutation (intp array)."""
    k = C.shape[0]
    order = np.arange(k, dtype=np.intp) if order is None else np.array(order, dtype=np.intp)
    if k < 3:
        return order
    improve_path(in_unit(distance_matrix(C)), order, max_sweeps)
    return order


#: restarts of the path search cost about k^2 each: up to this many k^2 in all
PATH_RESTART_WORK = 1 << 14
PATH_MAX_RESTARTS = 16


def shortest_of_restarts(C, rng, Dm=None):
    """The shortest of several short open paths through the corners C.

    2-opt and or-opt stop in a local optimum that depends on the start; the
    given order and ``PATH_RESTART_WORK / k^2`` random starts (at most
    ``PATH_MAX_RESTARTS``, at least 1) are improved and the shortest path
    wins (first on ties). Returns the permutation (intp array).
    """
    k = C.shape[0]
    if k < 4:
        return shorten_order(C)
    Dm = in_unit(distance_matrix(C) if Dm is None else Dm)
    n_starts = int(min(PATH_MAX_RESTARTS, max(1, PATH_RESTART_WORK // (k * k))))
    best, best_len = None, np.inf
    for j in range(n_starts):
        order = np.arange(k, dtype=np.intp) if j == 0 else rng.permutation(k).astype(np.intp)
        length = improve_path(Dm, order, 50)
        if length < best_len:
            best, best_len = order, length
    return best


# ---------------------------------------------------------------- the graph
#: brute-force neighbours (matrix products per block of queries) up to this many rows
KNN_DENSE_ROWS = 1 << 16
#: dtype of those products (float64 for metrics; the graph that orders the corners
#: takes float32, twice as fast: a neighbour more or less changes little there)
KNN_PRODUCTS_DTYPE = np.float64
_KNN_BLOCK = 512


def knn_rows(X, n_neighbors, query=None, products_dtype=None):
    """Indices of the ``n_neighbors`` nearest rows of X (Euclidean) of every
    row ``query`` (default: all rows), the row itself excluded by index (an
    exact duplicate of it still counts as a neighbour).

    Up to ``KNN_DENSE_ROWS`` rows: matrix products of the centred rows per
    block of queries and a selection kernel (equal expanded distances go to
    the lower index; distances that tie exactly may differ in the last bit
    of the products and so go either way); more rows: scikit-learn's
    ``NearestNeighbors``.
    """
    query = np.arange(X.shape[0]) if query is None else np.asarray(query)
    n = X.shape[0]
    n_neighbors = min(n_neighbors, n - 1)
    if n <= KNN_DENSE_ROWS:
        Z = np.asarray(X, dtype=np.float64)
        Z = Z - Z.mean(axis=0)
        # a power of two brings the spread near 1 (exact): float32 products
        # of data far from unit scale neither overflow nor underflow
        spread = float(np.max(np.abs(Z))) if Z.size else 0.0
        if 0.0 < spread < np.inf:
            Z *= unit_scale(spread)
        sq = np.einsum("ij,ij->i", Z, Z)
        Zp = Z.astype(products_dtype or KNN_PRODUCTS_DTYPE)
        out = np.empty((query.shape[0], n_neighbors), dtype=np.intp)
        best = np.empty(n_neighbors)
        for start in range(0, query.shape[0], _KNN_BLOCK):
            q = query[start:start + _KNN_BLOCK]
            G = Zp[q] @ Zp.T  # float32 products are widened in the kernel (no copy)
            nearest_by_products(G, sq[q], sq, q, n_neighbors, out[start:start + _KNN_BLOCK], best)
        return out
    from sklearn.neighbors import NearestNeighbors

    n_query = n_neighbors + 1
    found = NearestNeighbors(n_neighbors=n_query).fit(X).kneighbors(
        X[query], return_distance=False)
    self_hit = found == query[:, None]
    # drop the row itself where it was found, else the farthest of the n + 1
    drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), n_query - 1)
    keep = np.ones(found.shape, dtype=bool)
    keep[np.arange(found.shape[0]), drop] = False
    return found[keep].reshape(found.shape[0], n_query - 1)


def neighbour_graph(X, labels, k, n_neighbors=None):
    """``W[i, j]``: pairs of neighbouring rows with nearest corners i != j.

    ``X``: rows (a multiset: repeated rows are separate rows), ``labels``
    their nearest corners. Each row and each of its ``n_neighbors`` nearest
    rows make one pair; the graph is symmetric with a zero diagonal. A few
    weak links from every corner to its nearest corners keep it connected
    (separate clusters in the data still get a defined relative order).
    """
    W = np.zeros((k, k))
    n_neighbors = ORDER_NEIGHBOURS if n_neighbors is None else n_neighbors
    if X.shape[0] >= 2:
        nb = knn_rows(X, min(n_neighbors, X.shape[0] - 1), products_dtype=np.float32)
        a = np.repeat(labels, nb.shape[1])
        b = labels[nb.ravel()]
        W += np.bincount(a * k + b, minlength=k * k).reshape(k, k)
    np.fill_diagonal(W, 0.0)
    return W + W.T


def connect(W, D, n_links=2, strength=1e-3):
    """``W`` plus weak links from every corner to its ``n_links`` nearest corners."""
    k = W.shape[0]
    if k < 2:
        return W
    base = strength * (W.sum() / max(np.count_nonzero(W), 1) if W.any() else 1.0)
    nearest = np.argsort(D + np.diag(np.full(k, np.inf)), axis=1, kind="stable")
    nearest = nearest[:, :min(n_links, k - 1)]
    L = np.zeros_like(W)
    L[np.repeat(np.arange(k), nearest.shape[1]), nearest.ravel()] = base
    return W + np.maximum(L, L.T)


def spectral_order(W):
    """Corners sorted by the Fiedler vector of the graph (normalised Laplacian)."""
    k = W.shape[0]
    deg = W.sum(axis=1)
    inv = 1.0 / np.sqrt(np.maximum(deg, 1e-300))
    M = W * inv[:, None] * inv[None, :]
    if k <= DENSE_SPECTRAL_MAX:
        _, vecs = np.linalg.eigh(M)
        u = vecs[:, -2]
    else:
        from scipy.sparse import csr_matrix
        from scipy.sparse.linalg import eigsh

        _, vecs = eigsh(csr_matrix(M), k=2, which="LA", v0=np.sqrt(deg + 1.0), tol=1e-8)
        u = vecs[:, 0]
    return np.argsort(u * inv, kind="stable").astype(np.intp)


# ---------------------------------------------------------------- arrangement
def arrangement_weights(W, D, alpha):
    """(a_gap, a_len): the weights that turn the two sums of the kernels into
    estimates of ``knn_spread`` and ``alpha * adj_ratio``."""
    k = W.shape[0]
    edges = W.sum() / 2.0
    pair_mean = D[np.triu_indices(k, 1)].mean() if k > 1 else 0.0
    a_gap = 1.0 / (edges * k / 3.0) if edges > 0 else 0.0
    a_len = alpha / ((k - 1) * pair_mean) if pair_mean > 0 else 0.0
    return a_gap, a_len


def arrangement_cost(W, D, order, a_gap, a_len):
    """``a_gap * sum_{i<j} W_ij |p_i - p_j| + a_len * path length`` of ``order``."""
    k = order.shape[0]
    p = np.empty(k)
    p[order] = np.arange(k)
    gap = float(np.sum(W * np.abs(p[:, None] - p[None, :]))) / 2.0
    length = float(D[order[:-1], order[1:]].sum())
    return a_gap * gap + a_len * length


def arrange(W, D, order, a_gap, a_len, window=ORDER_WINDOW, max_rounds=ORDER_MAX_ROUNDS):
    """Local moves (insertion sweeps, then reversal sweeps) until none helps.

    ``order`` is improved in place and returned."""
    rows, left, pos = np.empty(len(order)), np.empty(len(order)), np.empty_like(order)
    for _ in range(max_rounds):
        moved = arrange_insert(W, D, a_gap, a_len, order, ORDER_INSERT_WINDOW, rows, left, pos)
        moved += arrange_reverse(W, D, a_gap, a_len, order, window, rows, left)
        if moved == 0:
            break
    return order


def order_corners(C, W, rng, alpha=None, keep_route=False):
    """The order of the corners C with the lowest arrangement cost found.

    ``W``: the neighbour graph (:func:`neighbour_graph`). Starts: the given
    order, the spectral order of the graph, a shortest path (up to
    ``ORDER_PATH_START_MAX`` corners) and up to
    ``ORDER_MAX_RESTARTS`` random orders (about ``ORDER_RESTART_WORK / k^2``);
    each is improved by :func:`arrange`. ``keep_route``: only the given
    order is improved (a warm start keeps its route). Returns (permutation,
    cost).
    """
    k = C.shape[0]
    if k < 3:
        return np.arange(k, dtype=np.intp), 0.0
    D = distance_matrix(C)
    W = connect(W, D)
    a_gap, a_len = arrangement_weights(W, D, ORDER_ALPHA if alpha is None else alpha)
    starts = [np.arange(k, dtype=np.intp)]
    if not keep_route:
        starts.append(spectral_order(W))
        if k <= ORDER_PATH_START_MAX:
            starts.append(shortest_of_restarts(C, rng, D))
        n_random = int(min(ORDER_MAX_RESTARTS, ORDER_RESTART_WORK // (k * k)))
        starts += [rng.permutation(k).astype(np.intp) for _ in range(n_random)]
    best, best_cost = None, np.inf
    for order in starts:
        arrange(W, D, order, a_gap, a_len)
        cost = arrangement_cost(W, D, order, a_gap, a_len)
        if cost < best_cost:
            best, best_cost = order, cost
    return best, best_cost
