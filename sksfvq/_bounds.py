"""Nearest corners of many Lloyd passes, skipping what cannot have changed.

Late in a Lloyd run, few rows change their corner, yet every pass measures
every row against every corner. :class:`Bounds` keeps, per row, its label
and a lower bound on its distance to each *group* of corners (other than its
label), both relative to the corners of its last pass. When the corners
move, each group's bound drops by the largest move in the group (triangle
inequality); a row whose distance to its own corner stays below every bound
keeps its label, and otherwise only the groups whose bound it reaches are
measured (the "Yinyang" scheme of Ding et al., ICML 2015). The distances are
direct float64 sums over the features, and the bounds are rounded down, so
no row is skipped that could have changed: the labels are those of a full
scan in float64 (ties: the lower index), the skipping only saves work. When
a pass has to measure many distances (all corners moved, as when the chain
is smoothed), the bounds cost more than they save and are dropped: later
passes are plain ones.
"""

import numba
import numpy as np
from numba import prange

from ._engine import jit, nearest_corner, parallel_slot, readonly

#: rows per block of the parallel driver (per-block scratch; rows independent)
BLOCK = 1024
#: relative slack of every comparison with a bound, far above the rounding of
#: a float64 distance and of the float32 the bounds are stored in
SLACK = 1e-6
#: corners per group, while the bounds (rows x groups float32) stay within
#: BOUNDS_VALUES
CORNERS_PER_GROUP = 8
BOUNDS_VALUES = 1 << 24
#: a pass starts afresh when more than FAR_GROUPS of the groups have a corner
#: that moved more than FAR times the rows' root mean square distance
FAR, FAR_GROUPS = 0.5, 0.25
#: a bounded pass that computed more than this fraction of all rows x corners
#: distances (in float64 loops, each far slower than a distance of the vector
#: kernels) cost more than a plain pass: the bounds are then dropped for good
#: and the passes are plain. Measured on AVX2 at 1e5 x 64, K=1024: the last
#: split stages computed 1-2 % and won, the smoothing 5-6 % and lost twice over
GIVE_UP = 0.03


@jit()
def _block(X, C, CT, gstart, gorder, gof, labels, dist2, low, drop, start, stop,
           gmin, gidx, gsec, checked, acc):
    """Rows ``start .. stop``: see the module docstring. ``CT``: the corners
    group after group, each group's block transposed ((d, size) float64, one
    after the other, flat; :func:`group_blocks`), so that the distances of a
    row to a group's corners are one loop over the features of a loop over
    the corners on contiguous memory (the inner one vectorises; every sum
    still runs over the features in order). Returns (rows measured,
    distances to group corners computed)."""
    d = X.shape[1]
    n_groups = gstart.shape[0] - 1
    lo_f = 1.0 - SLACK
    hi_f = 1.0 + SLACK
    measured = 0
    computed = 0
    for i in range(start, stop):
        a = labels[i]
        s = 0.0
        for f in range(d):
            v = np.float64(X[i, f]) - C[a, f]
            s += v * v
        best, bd = a, s
        u = np.sqrt(bd)
        ub = u  # sqrt(bd), kept with bd
        m = np.inf
        for g in range(n_groups):
            lg = (np.float64(low[i, g]) - drop[g]) * lo_f
            gmin[g] = lg
            m = min(m, lg)
        if u * hi_f < m:
            dist2[i] = bd
            for g in range(n_groups):
                low[i, g] = gmin[g]
            continue
        measured += 1
        for g in range(n_groups):
            checked[g] = False
            if gmin[g] > ub * hi_f:
                continue  # no corner of g can be as near as the best so far
            checked[g] = True
            p0, p1 = gstart[g], gstart[g + 1]
            size = p1 - p0
            computed += size
            for q in range(size):
                acc[q] = 0.0
            for f in range(d):
                xf = np.float64(X[i, f])
                row = p0 * d + f * size
                for q in range(size):
                    v = xf - CT[row + q]
                    acc[q] += v * v
            m1, i1, m2 = np.inf, -1, np.inf
            for p in range(p0, p1):
                j = gorder[p]
                s = acc[p - p0]
                if s < m1 or (s == m1 and j < i1):
                    m2 = m1
                    m1, i1 = s, j
                elif s < m2:
                    m2 = s
                if s < bd or (s == bd and j < best):
                    best, bd = j, s
                    ub = np.sqrt(bd)
            gmin[g], gidx[g], gsec[g] = m1, i1, m2
        for g in range(n_groups):
            if checked[g]:
                v = gsec[g] if gidx[g] == best else gmin[g]
                low[i, g] = np.sqrt(v) * lo_f
            else:
                low[i, g] = gmin[g]
        if best != a and not checked[gof[a]]:
            # the old corner joins the bound of its (unmeasured) group
            low[i, gof[a]] = min(np.float64(low[i, gof[a]]), u * lo_f)
        labels[i] = best
        dist2[i] = bd
    return measured, computed


@jit()
def _serial(X, C, CT, gstart, gorder, gof, labels, dist2, low, drop, gmin, gidx, gsec,
            checked, acc):
    return _block(X, C, CT, gstart, gorder, gof, labels, dist2, low, drop, 0, X.shape[0],
                  gmin[0], gidx[0], gsec[0], checked[0], acc[0])


@jit(parallel=True)
def _parallel(X, C, CT, gstart, gorder, gof, labels, dist2, low, drop, gmin, gidx, gsec,
              checked, acc):
    n = X.shape[0]
    n_blocks = (n + BLOCK - 1) // BLOCK
    measured = 0
    computed = 0
    for b in prange(n_blocks):
        m, c = _block(X, C, CT, gstart, gorder, gof, labels, dist2, low, drop,
                      b * BLOCK, min(n, b * BLOCK + BLOCK), gmin[b], gidx[b], gsec[b],
                      checked[b], acc[b])
        measured += m
        computed += c
    return measured, computed


def groups_of(C, n_groups):
    """Every corner's group: a few Lloyd iterations on the corners themselves,
    from evenly spaced ones (deterministic)."""
    k = C.shape[0]
    C = np.asarray(C, dtype=np.float64)
    G = C[np.linspace(0, k - 1, n_groups).astype(np.intp)]
    gof = np.zeros(k, dtype=np.intp)
    cc = np.einsum("ij,ij->i", C, C)[:, None]
    for _ in range(5):
        D = cc - 2.0 * C @ G.T + np.einsum("ij,ij->i", G, G)
        gof = np.argmin(D, axis=1)
        for g in range(n_groups):
            members = gof == g
            if members.any():
                G[g] = C[members].mean(axis=0)
    return gof


def group_blocks(C, gorder, gstart):
    """The corners C (k, d) in group order, every group's block transposed to
    (d, size) and stored after the previous one (flat, float64): the layout
    the bounded passes read."""
    Cg = C[gorder]
    return np.concatenate([Cg[gstart[g]:gstart[g + 1]].T.ravel()
                           for g in range(gstart.shape[0] - 1)])


#: rows per block of the first pass's matrix products
_FRESH_BLOCK = 1024


@jit()
def _group_minima(P, cc, zz, skip, gstart, margin, low, start):
    """Rows of one block of products ``P = -2 Z C'`` (corners in group order):
    every group's smallest ``|z|^2 + P + |c|^2`` without the row's own corner
    (column ``skip``), less ``margin`` times ``|z|^2 + max |c|^2``, as a
    distance rounded down into ``low[start + r]``."""
    n_groups = gstart.shape[0] - 1
    cmax = 0.0
    for p in range(cc.shape[0]):
        cmax = max(cmax, cc[p])
    for r in range(P.shape[0]):
        for g in range(n_groups):
            m = np.inf
            for p in range(gstart[g], gstart[g + 1]):
                v = P[r, p] + cc[p]
                if p != skip[r] and v < m:
                    m = v
            v = m + zz[r] - margin * (zz[r] + cmax)
            low[start + r, g] = np.sqrt(max(v, 0.0)) * (1.0 - SLACK)


def _fresh_bounds(X, C, labels, gorder, gstart, low):
    """The group bounds of a first pass, by matrix products per block (float64;
    the expansion's rounding is far below the margin of 1e-9)."""
    C64 = C.astype(np.float64)[gorder]
    cc = np.einsum("ij,ij->i", C64, C64)
    inv = np.empty(gorder.shape[0], dtype=np.int64)
    inv[gorder] = np.arange(gorder.shape[0])
    minus_2C = -2.0 * C64
    for start in range(0, X.shape[0], _FRESH_BLOCK):
        Z = X[start:start + _FRESH_BLOCK].astype(np.float64)
        zz = np.einsum("ij,ij->i", Z, Z)
        _group_minima(Z @ minus_2C.T, cc, zz, inv[labels[start:start + _FRESH_BLOCK]], gstart,
                      1e-9, low, start)


class Bounds:
    """Labels and group bounds of rows X, relative to the corners of the last
    :meth:`nearest` (see the module docstring)."""

    def __init__(self, X):
        self.X = readonly(X)
        self.C = None
        self.n_measured = 0  # rows measured group by group, in all passes
        self.n_computed = 0  # distances to group corners computed, in all passes
        self.last_computed = 0.0  # ... in the last pass, as a fraction of rows x corners
        self.given_up = False

    def nearest(self, C):
        """(new labels array, squared distances) of the rows to C (C: the
        dtype of X; the distances in float64, or in X's dtype from
        ``nearest_corner`` on a fresh pass)."""
        X = self.X
        if self.given_up:
            return nearest_corner(X, C)
        n, k = X.shape[0], C.shape[0]
        fresh = self.C is None or self.C.shape[0] != k
        if not fresh:
            moved = np.sqrt(np.sum((C.astype(np.float64) - self.C.astype(np.float64)) ** 2,
                                   axis=1))
            drop = np.zeros(self.gstart.shape[0] - 1)
            np.maximum.at(drop, self.gof, moved)
            # corners renumbered or moved far (e.g. inserted in the chain): the
            # bounds would send most rows to the slower measuring loop
            fresh = np.mean(drop > FAR * self.typical) > FAR_GROUPS
        if fresh:
            n_groups = int(max(min(k // CORNERS_PER_GROUP, BOUNDS_VALUES // max(n, 1)), 1))
            gof = np.unique(groups_of(C, n_groups), return_inverse=True)[1].ravel()
            n_groups = int(gof.max()) + 1  # the groups with corners
            order = np.argsort(gof, kind="stable")
            self.gorder = order.astype(np.int64)
            self.gstart = np.searchsorted(gof[order], np.arange(n_groups + 1)).astype(np.int64)
            self.gof = gof.astype(np.int64)
            self.low = np.empty((n, n_groups), dtype=np.float32)
            labels, dist2 = nearest_corner(X, C)
            labels = labels.astype(np.int64)
            _fresh_bounds(X, C, labels, self.gorder, self.gstart, self.low)
            self._keep(C, labels, dist2)
            return labels, dist2
        labels = self.labels.copy()
        dist2 = np.empty(n)
        C64 = np.ascontiguousarray(C, dtype=np.float64)
        CT = group_blocks(C64, self.gorder, self.gstart)
        with parallel_slot(numba.get_num_threads() > 1 and n >= 2 * BLOCK) as parallel:
            slots = (n + BLOCK - 1) // BLOCK if parallel else 1  # scratch per block of rows
            g, size = drop.shape[0], int(np.max(np.diff(self.gstart)))
            scratch = (np.empty((slots, g)), np.empty((slots, g), dtype=np.int64),
                       np.empty((slots, g)), np.empty((slots, g), dtype=np.bool_),
                       np.empty((slots, size)))
            run = _parallel if parallel else _serial
            measured, computed = run(X, C64, CT, self.gstart, self.gorder, self.gof, labels,
                                     dist2, self.low, drop, *scratch)
        self.n_measured += int(measured)
        self.n_computed += int(computed)
        self.last_computed = int(computed) / float(n * k)
        if self.last_computed > GIVE_UP:
            self.give_up()
            return labels, dist2
        self._keep(C, labels, dist2)
        return labels, dist2

    def give_up(self):
        """Drop the bounds for good: every later pass is a plain one."""
        self.given_up = True
        self.C = self.low = self.labels = None

    def _keep(self, C, labels, dist2):
        self.C, self.labels = np.array(C), labels
        self.typical = float(np.sqrt(np.mean(dist2, dtype=np.float64)))

    def permute(self, order, inverse):
        """The bounds of the corners ``C[order]`` (``inverse``: its inverse)."""
        if self.C is not None and self.C.shape[0] == order.shape[0]:
            self.C = self.C[order]
            self.labels = inverse[self.labels].astype(np.int64)
            self.gof = self.gof[order]
            self.gorder = inverse[self.gorder].astype(np.int64)
