"""The chain model on fixed data: assignment and the penalised corner solve.

For fixed assignments of rows to their nearest corners, the corners that
minimise the squared error plus a penalty on the bending of the chain,
``mu * sum_k |c_{k-1} - 2 c_k + c_{k+1}|^2``, solve one pentadiagonal system
shared by all features. :class:`Lloyd` alternates the assignment and that
solve (plain Lloyd iterations when ``mu = 0``); :func:`smooth_to_budget`
raises the penalty as far as the user's error budget allows.
"""

import numpy as np

from . import _init
from ._bounds import Bounds
from ._engine import bounds_pay, in_rounds, nearest_corner, readonly
from ._train_kernels import corner_sums, solve_penta

#: fixed parts of the smoothing search (chosen by the measurements in benchmarks/)
SMOOTH_START = 0.02
SMOOTH_TRIES = 5
SMOOTH_AIM = 0.95
SMOOTH_ENOUGH = 0.85
POLISH_ITER = 5
POLISH_TOL = 10.0


def solve_corners(counts, sums, mu, C_prev, ridge):
    """Corners minimising the penalised least-squares problem of one iteration.

    Minimises ``sum_k n_k |c_k - S_k / n_k|^2 + mu sum_k |c_{k-1} - 2 c_k +
    c_{k+1}|^2 + ridge sum_k |c_k - c_prev_k|^2``: the data pull every corner
    to the mean of its rows, the penalty on second differences resists
    bending and uneven spacing along the curve (it does not shrink a
    straight, evenly spaced curve), and a tiny proximal ridge keeps corners
    that no row chose where they are. The system is banded (pentadiagonal)
    and shared by all features.
    """
    k = counts.shape[0]
    if k <= 2 or mu == 0.0:
        return (sums + ridge * C_prev) / (counts + ridge)[:, None]
    out = np.empty_like(sums)
    solve_penta(counts + ridge, float(mu), np.ascontiguousarray(sums + ridge * C_prev), out,
                np.empty((3, k)))
    return out


#: float64 data up to this many values is assigned in float32 during training
LLOYD_FLOAT32_VALUES = 1 << 27
#: passes of more rows x corners x features than this keep bounds between passes
#: (:mod:`._bounds`: a row far inside its cell is not measured again), where
#: they pay (:func:`._engine.bounds_pay`) ...
LLOYD_BOUNDS_WORK = 3 * 10**8
#: ... on at most this many rows (the bounds take 4 bytes per row and group)
LLOYD_BOUNDS_ROWS = 1 << 20
#: rows per chunk of the set-up passes
_CHUNK = 1 << 16
#: values per piece of a chunk in those passes (their float64 temporaries stay in cache)
_PIECE_VALUES = 1 << 16


def _piece_rows(d):
    """Rows per piece of a chunk: a power of two (so pieces tile a chunk) of
    about ``_PIECE_VALUES`` values."""
    return 1 << max(0, (_PIECE_VALUES // max(d, 1)).bit_length() - 1)


def column_spread(X, w, mean):
    """Per column: the weighted sum of squared deviations from ``mean``, and the
    largest deviation, of the rows X of positive weight (one chunk of the
    set-up passes; rows of weight 0 change nothing, as if left out).

    Summed piece by piece from row 0 (pieces of :func:`_piece_rows` rows), so
    the result depends on the chunk alone: data held elsewhere computes its
    chunks the same way and gets the same bits.
    """
    n, d = X.shape
    col_sq = np.zeros(d)
    spread = 0.0
    step = _piece_rows(d)
    for start in range(0, n, step):
        Z = np.abs(X[start:start + step] - mean)
        wp = w[start:start + step]
        used = Z if wp.all() else Z[wp > 0]
        if used.size:
            spread = max(spread, float(used.max()))
        np.multiply(Z, Z, out=Z)
        col_sq += wp @ Z
    return col_sq, spread


#: rows per block of the corner sums of large data (more rows than this, and
#: at least SUM_BLOCK_WORK rows x features): each block summed in row order,
#: the blocks added in order, so that threads share the work and the bits do
#: not depend on their number. A sum of 300,000 x 384 rows took 55 ms in one
#: sweep, 32 ms by blocks on two threads (by columns on two threads: 70 ms,
#: both threads reading every row); below SUM_BLOCK_WORK a sum takes a few
#: milliseconds (500,000 x 32: 7.5 ms in one sweep, 4.8 ms by blocks)
SUM_BLOCK = 1 << 16
SUM_BLOCK_WORK = 1 << 24


def corner_totals(X, w, labels, k, counts=None, sums=None):
    """(weight, weighted sum of the rows) per corner of ``labels`` (float64,
    summed in row order by :func:`._train_kernels.corner_sums`, by blocks of
    ``SUM_BLOCK`` rows for large data; into ``counts`` and ``sums`` when
    given)."""
    n, d = X.shape
    counts = np.empty(k) if counts is None else counts
    sums = np.empty((k, d)) if sums is None else sums
    X, w = readonly(X), readonly(w)
    if n <= SUM_BLOCK or n * d < SUM_BLOCK_WORK:
        corner_sums(X, w, labels, k, counts, sums)
        return counts, sums

    def block(part, start):
        stop = start + SUM_BLOCK
        corner_sums(X[start:stop], w[start:stop], labels[start:stop], k, *part)
        return part

    counts[:], sums[:] = 0.0, 0.0
    for c, s in in_rounds(block, range(0, n, SUM_BLOCK), lambda: (np.empty(k), np.empty((k, d)))):
        counts += c
        sums += s
    return counts, sums


def working_scale(spread):
    """The power of two near ``1 / spread`` that the rows are multiplied by
    for their float32 copy (exact), its square inside float64's range (as
    the kernels' working scale, :func:`._layout.centred`)."""
    return _init.unit_scale(spread, 500)


class Lloyd:
    """Alternating nearest-corner assignment and the chain solve on fixed data.

    Corners are solved from float64 sums of the rows as given. The nearest
    corners are found in float32 (twice the SIMD width) for float64 data
    too: the rows are shifted by their mean and scaled by a power of two
    once, so float32 keeps ~7 significant digits of every distance whatever
    the data's offset or unit; near-ties may go either way, as between two
    float64 orders of summation.
    """

    bounds = None  # a Bounds object when the passes keep bounds
    _started = None  # (corners, Assignment) where the last run started, if it kept it
    _measured = None  # (corners, Assignment) of the last pass of error(), for assignment()

    def __init__(self, X, w, k, tol, bounds=True):
        self.X, self.w, self.tol = X, w, tol
        self.W = float(w.sum())
        n, d = X.shape
        mean = _init.weighted_mean(X, w)
        # per-column weighted variance and the largest deviation, in chunks
        # (no full-size float64 temporary)
        col_sq = np.zeros(d)
        spread = 0.0
        for part, dev in _init.chunk_map(
                lambda start, part: column_spread(part, w[start:start + _CHUNK], mean),
                X, _CHUNK, float64=False):
            col_sq += part
            spread = max(spread, dev)
        col_var = col_sq / self.W
        # the tolerance is relative to the mean variance of the columns that
        # vary (as KMeans', but constant columns do not change it)
        #: the columns with spread (random directions are drawn for these only,
        #: so that constant columns change nothing)
        self.varying = col_var > 1e-24 * max(float(col_var.max()), 1e-300) if d else col_var > 0
        self.tol_shift = tol * float(col_var.sum()) / max(int(np.count_nonzero(self.varying)), 1)
        self.counts = np.empty(k)
        self.sums = np.empty((k, d))
        #: the rows of positive weight, where some weigh 0 (their labels change
        #: nothing: a pass that moves only them has converged)
        self.live = None if w.all() else w > 0
        self.n_iter = 0
        self._assigned = None
        # the rows the nearest corners are found for: (X - shift) * scale
        self.shift, self.scale, self.Xa = 0.0, 1.0, X
        if X.dtype == np.float64 and X.size <= LLOYD_FLOAT32_VALUES and 0.0 < spread < np.inf:
            self.shift = mean
            self.scale = working_scale(spread)
            self.Xa = np.empty(X.shape, dtype=np.float32)
            _init.chunk_map(self._working_rows, X, _CHUNK, float64=False)
        if bounds and n * k * d > LLOYD_BOUNDS_WORK and n <= LLOYD_BOUNDS_ROWS and bounds_pay():
            self.bounds = Bounds(self.Xa)

    def _working_rows(self, start, part):
        """Rows ``start:`` of the float32 working copy from ``part`` of X, piece
        by piece (elementwise: the pieces change no bit)."""
        step = _piece_rows(part.shape[1])
        for s in range(0, part.shape[0], step):
            self.Xa[start + s:start + s + step] = (part[s:s + step] - self.shift) * self.scale

    def nearest(self, C):
        """(labels, squared distances in float64) of the rows to corners C."""
        Ca = ((C - self.shift) * self.scale).astype(self.Xa.dtype)
        if self.bounds is not None:
            labels, dist2 = self.bounds.nearest(Ca)
        else:
            # the kernel of the final corner count at every stage (one to compile)
            labels, dist2 = nearest_corner(self.Xa, Ca, self.counts.shape[0])
        if self.scale != 1.0:
            dist2 /= self.scale**2  # a power of two: exact
        return labels, dist2

    def error(self, C):
        """Mean weighted squared distance to the nearest corner (per row);
        no pass for an array :meth:`_cached` holds or the last call measured
        (whose pass :meth:`assignment` then reuses: an error and a look at
        the dead corners cost one pass)."""
        cached = self._cached(C, measured=True)
        if cached is not None:
            return cached.err
        assigned = self.assign(C, None)
        self._measured = (C, assigned)
        return assigned.err

    @property
    def exact(self):
        """Whether :meth:`nearest` works on the rows as given (not on a
        centred float32 copy), so that its labels are those of ``predict``."""
        return self.Xa is self.X

    def assign(self, C, previous):
        """One pass over the rows: the :class:`Assignment` to corners C
        (``previous``: the one of the last pass of this run, or None)."""
        labels, dist2 = self.nearest(C)
        return Assignment(self, labels, dist2, float(np.sum(self.w * dist2)) / self.W)

    def permute(self, C, order, C_new=None):
        """``C[order]`` (or ``C_new``, that array already made), keeping the
        assignment cached by :meth:`run` valid."""
        C_new = C[order] if C_new is None else C_new
        inverse = np.empty(order.shape[0], dtype=np.intp)
        inverse[order] = np.arange(order.shape[0])
        if self.bounds is not None:
            self.bounds.permute(order, inverse)
        # kept for the smoothing tries (and the error's pass) only: not carried over
        self._started = self._measured = None
        if self._assigned is not None and self._assigned[0] is C:
            a = self._assigned[1]
            # the same nearest corners, but a row equally near two of them keeps
            # the one it had, not the lower index of the new order as predict's
            self._assigned = (C_new, Assignment(self, inverse[a.labels], a.dist2, a.err,
                                                ties_by_index=False))
        return C_new

    def assignment(self, C):
        """:meth:`nearest` of C, without a pass for an array :meth:`_cached` holds
        (if its ties went to the lowest index, as in a pass)."""
        cached = self._cached(C, measured=True)
        if cached is not None and cached.ties_by_index:
            return cached.labels, cached.dist2
        return self.nearest(C)

    def _cached(self, C, measured=False):
        """The assignment of the very array C if the last run ended on it, or
        started on it and kept that (a smoothing try after a rejected one
        starts where that one started), or (``measured``) :meth:`error`'s
        last pass was on it, else None."""
        for memo in (self._assigned, self._started) + ((self._measured,) if measured else ()):
            if memo is not None and memo[0] is C:
                return memo[1]
        return None

    def run(self, C, smoothness, max_iter, tol_factor=1.0, err_tol=0.0, keep_start=False,
            relax=1.0):
        """Iterate until the corners move less than the tolerance.

        ``smoothness`` is the weight of the bending penalty relative to the
        mean weight per corner (0: plain Lloyd iterations). With ``err_tol``,
        also stop when an iteration lowers the error by less than that
        fraction (flat objectives, e.g. high-dimensional Gaussians, crawl on
        for hundreds of iterations for a last 0.1 %). ``keep_start``: keep
        the assignment of the corners the run starts on too (one more array
        of labels and distances held, for a next run that starts there).
        ``relax`` > 1: every iteration steps that many times the way to the
        solved corners (over-relaxation: Lloyd iterations crawl along flat
        valleys of the error, and a longer step follows them in fewer
        passes); a step whose error is higher than the last pass's is
        replaced by the plain one, and once the assignment repeats (the
        solved corners repeat too) the steps are plain. Every step counts
        as an iteration; the error returned is that of the corners returned.
        Returns (corners, their mean squared error, iterations).
        """
        m = C.shape[0]
        if smoothness > 0 and self.bounds is not None:
            # the penalty moves every corner at every pass (and a smoothing
            # search restarts from earlier corners): bounds would not pay
            self.bounds.give_up()
        mu = smoothness * self.W / m
        ridge = 1e-9 * self.W / m
        shift = np.inf
        it = 0
        previous = None
        started = None  # (held only when kept: an array of labels and distances per row)
        last_err = np.inf
        plain = None  # the solved corners of a relaxed step (taken if that step loses)
        while True:
            assigned = self._cached(C) if it == 0 else None
            if assigned is None:
                assigned = self.assign(C, previous)
            if plain is not None:
                C_plain, plain = plain, None
                if assigned.err > last_err:  # the longer step lost: the plain one
                    relax = 1.0
                    C = C_plain
                    shift = float(np.sum((C - previous_C) ** 2))
                    assigned = self.assign(C, previous)
            if it == 0 and keep_start:
                started = (C, assigned)
            err = assigned.err
            if it == max_iter or shift <= self.tol_shift * tol_factor:
                break
            if err_tol > 0 and last_err - err < err_tol * err:
                break
            last_err = err
            # the same assignments give the same corners: converged (relaxed:
            # the solved corners repeat, and a plain step reaches them)
            if assigned.unchanged(previous):
                if relax == 1.0:
                    break
                relax = 1.0
            previous = assigned
            counts, sums = assigned.sums(m)
            C_new = solve_corners(counts, sums, mu, C, ridge)
            if relax != 1.0:
                plain, previous_C = C_new, C
                C_new = C + relax * (C_new - C)
            shift = float(np.sum((C_new - C) ** 2))
            C = C_new
            it += 1
        self.n_iter += it
        # (the error's pass is let go: a run holds its own)
        self._assigned, self._started, self._measured = (C, assigned), started, None
        return C, err, it


class Assignment:
    """The rows' nearest corners after one pass of a :class:`Lloyd` (in memory).

    ``err``: the mean weighted squared distance; :meth:`unchanged`: whether
    the labels equal those of the previous pass; :meth:`sums`: the weight
    and the weighted sum of the rows per corner. Data held elsewhere
    (:mod:`._dask`) returns all three from its pass. ``ties_by_index``: a
    row equally near several corners has the lowest index of them (as from
    a pass, and from ``predict``), not one carried over from another order.
    """

    def __init__(self, lloyd, labels, dist2, err, ties_by_index=True):
        self.lloyd, self.labels, self.dist2, self.err = lloyd, labels, dist2, err
        self.ties_by_index = ties_by_index

    def unchanged(self, previous):
        """Whether the labels of the rows of positive weight are those of
        ``previous`` (an Assignment or None)."""
        if previous is None:
            return False
        live = getattr(self.lloyd, "live", None)
        if live is None:
            return np.array_equal(self.labels, previous.labels)
        return np.array_equal(self.labels[live], previous.labels[live])

    def sums(self, m):
        lloyd = self.lloyd
        return corner_totals(lloyd.X, lloyd.w, self.labels, m, lloyd.counts[:m],
                             lloyd.sums[:m])


def smooth_to_budget(lloyd, C, err, budget, start=SMOOTH_START, tries=SMOOTH_TRIES,
                     polish_iter=POLISH_ITER):
    """Raise the smoothness as far as the error budget allows, in a few tries.

    The error grows with the smoothness ``s`` roughly as a power of it, so
    every try fits that power law through the last two tries (in log-log;
    slope 1 after the first) and aims at ``SMOOTH_AIM`` of the budget,
    kept inside the bracket of accepted and rejected values. It stops once
    an accepted try uses at least ``SMOOTH_ENOUGH`` of the budget, or
    after ``tries`` tries; every try polishes the last accepted corners
    (``polish_iter`` iterations) and the first one uses ``start``. Returns
    (corners, their error, smoothness reached).
    """
    allowed = budget - err
    best, best_err, lo, hi = C, err, 0.0, np.inf
    if not allowed > 0:
        return best, best_err, lo
    e0 = err
    s = start
    last = None
    for _ in range(tries):
        C_try, e, _ = lloyd.run(best, s, polish_iter, tol_factor=POLISH_TOL, keep_start=True)
        if e <= budget:
            best, best_err, lo = C_try, e, s
            if e - e0 >= SMOOTH_ENOUGH * allowed:
                break
        else:
            hi = s
        excess = max(e - e0, 1e-3 * allowed)
        slope = 1.0
        if last is not None and last[0] != s and last[1] != excess:
            slope = np.log(excess / last[1]) / np.log(s / last[0])
            slope = min(max(slope, 0.5), 2.0)
        last = (s, excess)
        s_next = s * min(max((SMOOTH_AIM * allowed / excess) ** (1.0 / slope), 1 / 16), 16)
        if not lo < s_next < hi:  # outside the bracket: its geometric middle
            s_next = np.sqrt(lo * hi) if lo > 0 else hi / 4
        s = s_next
    lloyd._started = None  # no later run starts where a try started
    return best, best_err, lo
