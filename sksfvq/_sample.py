"""Weighted subsamples of the rows that respect repetition (plain NumPy).

The default trainer sets the curve's route and runs its early stages on a
subsample whose size depends on the number of corners, not on the number of
rows. A sample weight must still act exactly like repeated rows, so the
subsample is a function of the weighted rows as a multiset:

* rows are put in a canonical order by a seeded random projection (identical
  rows get identical keys, so copies of a row are adjacent whatever the
  input order, and a row of weight m covers the same stretch of the
  cumulative weight as m adjacent copies);
* draws invert the cumulative weight at seeded uniforms, so a row of
  weight m is drawn exactly as often as its m copies together;
* the rows drawn are gathered in canonical order with their draw counts as
  weights (copies of a row merge into one weighted row).

The draws come in random order; the first n of them are a subsample of n
draws, so the subsamples of successive stages are nested.
"""

import numpy as np

from ._init import chunk_map

#: rows per chunk when computing the projection keys (bounds the float64 copy)
_KEY_CHUNK = 1 << 16


class RowSample:
    """Canonical order of the rows and a sequence of weighted draws.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    w : ndarray of shape (n,), float64, non-negative, or None
        None: every row weighs 1 (the draws are those of ``np.ones(n)``,
        without an array of n weights).
    n_draws : int, the largest subsample that will be asked for
    rng : numpy Generator
    varying : bool ndarray of shape (d,) or None
        The columns that vary; the projection ignores the others (so that
        constant columns change nothing, not even the random draws).
    keys : callable or None
        ``keys(X, v)``: the n projection keys ``X @ v`` in float64, as
        :func:`projection_keys` computes them (data held elsewhere computes
        them there, by the same chunks); None: :func:`projection_keys`.
    """

    def __init__(self, X, w, n_draws, rng, varying=None, keys=None):
        n, d = X.shape
        varying = np.ones(d, dtype=bool) if varying is None else varying
        v = np.zeros(d)
        v[varying] = rng.standard_normal(int(np.count_nonzero(varying)))
        key = (projection_keys if keys is None else keys)(X, v)
        # any sort: rows with equal keys are copies of one row, whose order
        # changes no row drawn (different rows meet in a key only by rounding,
        # rarely; a stable sort leaves them in input order, no better).
        # numpy's default sort of float64 is 4-5 x faster than its stable one
        # (500,000 keys: 11 against 52 ms)
        order = np.argsort(key)
        if w is None:
            # the cumulative weight of the first j rows is j, exactly: the
            # search of u in 1, 2, ..., n is floor(u)
            u = rng.random(n_draws) * float(n)
            pos = np.minimum(np.floor(u).astype(np.intp), n - 1)
        else:
            cum = np.cumsum(w[order])
            u = rng.random(n_draws) * cum[-1]
            pos = np.minimum(np.searchsorted(cum, u, side="right"), n - 1)
            del cum
        # only the draws are kept: canonical position, row and key of each
        self.pos = pos
        self.rows = order[pos]
        self.key = key[self.rows]

    def subsample(self, X, n):
        """(rows, weights) of the first ``n`` draws: rows in canonical order,
        one row per distinct row drawn, weight = number of times drawn."""
        idx = np.argsort(self.pos[:n], kind="stable")
        key = self.key[idx]
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        counts = np.diff(np.append(starts, n)).astype(np.float64)
        return self.take(X, self.rows[idx[starts]]), counts

    def take(self, X, rows):
        """The rows of X at the indices ``rows`` (C-contiguous)."""
        return np.ascontiguousarray(X[rows])


def projection_keys(X, v):
    """``X @ v`` in float64, by chunks of ``_KEY_CHUNK`` rows from row 0 (the
    products of a chunk are one matrix-vector call: its rounding depends on
    the rows of the call, so other chunks give other last bits)."""
    key = np.empty(X.shape[0])

    def keys(start, part):
        key[start:start + part.shape[0]] = part @ v

    chunk_map(keys, X, _KEY_CHUNK)
    return key


def effective_size(w):
    """The number of rows the data stands for: weights count as repetitions,
    rows of weight 0 not at all (the schedule of a fit depends on this
    number, so that it is the fit of the rows repeated, or left out)."""
    return max(int(np.count_nonzero(w)), float(np.sum(w)))
