"""Numba kernels of the trainers: per-corner sums, one epoch of the published
recipe, the chain's banded solve and the principal axes of the cells."""

import math

import numpy as np

from ._engine import jit


# --------------------------------------------------------------------------
# training: weighted per-corner sums (serial, in row order -> deterministic)
# --------------------------------------------------------------------------


@jit()
def corner_sums(X, w, labels, k, counts, sums):
    """Accumulate weighted counts and sums per corner in float64, row order.

    in: X (n, d); w (n,) float64; labels (n,). out: counts (k,), sums (k, d)
    (both float64, overwritten).
    """
    n, d = X.shape
    for c in range(k):  # loops, not slice assignments: less compiled code
        counts[c] = 0.0
        for f in range(d):
            sums[c, f] = 0.0
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        c = labels[i]
        counts[c] += wi
        for f in range(d):
            sums[c, f] += wi * X[i, f]


# --------------------------------------------------------------------------
# training: the published recipe (dithered points, Adam), one epoch
# --------------------------------------------------------------------------


@jit()
def sgd_epoch(X, w, mean_w, order, lams, C, m1, m2, step, lr, batch, beta1, beta2, adam_eps):
    """One epoch of the published SFVQ recipe, updating ``C`` in place.

    For each batch of rows (taken in ``order``): form the dithered points
    ``p_j = (1 - l_j) c_j + l_j c_{j+1}`` with the batch's row of ``lams``,
    quantize every row to its nearest dithered point, take the gradient of
    the mean squared error (weights 1-l to corner j, l to corner j+1) and
    apply one Adam step. A row's gradient counts ``w_i / mean_w`` times (a
    batch's weights are not normalised by their own sum, which would cancel
    the weight of a batch of one row).

    in: X (n, d); w (n,) float64 sample weights, mean_w their mean (> 0);
    order (n,) row order;
    lams (n_batches, k-1) dither draws; lr, batch, beta1, beta2, adam_eps.
    in/out: C (k, d) float64 corners; m1, m2 (k, d) Adam moments;
    step: int64 array of one element, the Adam step counter.
    Returns the weighted mean loss of the epoch.
    """
    n, d = X.shape
    k = C.shape[0]
    nseg = k - 1
    P = np.empty((nseg, d))
    grad = np.empty((k, d))
    total_loss = 0.0
    total_w = 0.0
    nb = (n + batch - 1) // batch
    for b in range(nb):
        start = b * batch
        stop = min(start + batch, n)
        for j in range(nseg):
            lam = lams[b, j]
            for f in range(d):
                P[j, f] = (1.0 - lam) * C[j, f] + lam * C[j + 1, f]
        wsum = 0.0
        for ii in range(start, stop):
            wsum += w[order[ii]]
        if wsum <= 0.0:
            continue
        grad[:, :] = 0.0
        scale = -2.0 / ((stop - start) * d)
        for ii in range(start, stop):
            i = order[ii]
            wi = w[i]
            if wi == 0.0:
                continue
            bj = 0
            bd = np.inf
            for j in range(nseg):
                s = 0.0
                for f in range(d):
                    v = X[i, f] - P[j, f]
                    s += v * v
                if s < bd:
                    bd = s
                    bj = j
            total_loss += wi * bd / d
            total_w += wi
            lam = lams[b, bj]
            g = scale * (wi / mean_w)
            for f in range(d):
                r = X[i, f] - P[bj, f]
                grad[bj, f] += g * (1.0 - lam) * r
                grad[bj + 1, f] += g * lam * r
        step[0] += 1
        t = step[0]
        bc1 = 1.0 - beta1**t
        bc2 = 1.0 - beta2**t
        for c in range(k):
            for f in range(d):
                gcf = grad[c, f]
                m1[c, f] = beta1 * m1[c, f] + (1.0 - beta1) * gcf
                m2[c, f] = beta2 * m2[c, f] + (1.0 - beta2) * gcf * gcf
                denom = np.sqrt(m2[c, f]) / np.sqrt(bc2) + adam_eps
                C[c, f] -= (lr / bc1) * m1[c, f] / denom
    if total_w > 0.0:
        return total_loss / total_w
    return 0.0


# --------------------------------------------------------------------------
# training: the corners' linear system (smoothness-penalised least squares)
# --------------------------------------------------------------------------


@jit()
def solve_penta(diag, mu, rhs, out, factor):
    """Solve ``(diag(diag) + mu D'D) x = rhs`` for every column of ``rhs``.

    ``D`` is the (k-2, k) second-difference operator, so the matrix is
    symmetric, pentadiagonal and (with a positive ``diag``) positive
    definite; it is factorized as L D L' without pivoting. in: diag (k,),
    mu >= 0, rhs (k, d). out: out (k, d); factor (3, k) float64, the
    factorization: the diagonal of D, then the first and second
    sub-diagonals of the unit lower L (0 past their ends). Requires k >= 3.
    """
    k, d = rhs.shape
    # L D L' row by row, with the matrix's bands (main: diag + mu m, first
    # off-band: u, second: mu) formed where they are used; L's bands are
    # l1 (i+1, i) = factor[1] and l2 (i+2, i) = factor[2], D is factor[0]
    for i in range(k):
        m = 0.0
        if i >= 2:
            m += 1.0
        if 1 <= i <= k - 2:
            m += 4.0
        if i <= k - 3:
            m += 1.0
        v = diag[i] + mu * m
        if i >= 1:
            v -= factor[1, i - 1] * factor[1, i - 1] * factor[0, i - 1]
        if i >= 2:
            v -= factor[2, i - 2] * factor[2, i - 2] * factor[0, i - 2]
        factor[0, i] = v
        factor[1, i] = 0.0
        factor[2, i] = 0.0
        if i + 1 < k:
            u = -2.0 * mu * ((1.0 if i >= 1 else 0.0) + (1.0 if i + 1 <= k - 2 else 0.0))
            if i >= 1:
                u -= factor[2, i - 1] * factor[1, i - 1] * factor[0, i - 1]
            factor[1, i] = u / v
        if i + 2 < k:
            factor[2, i] = mu / v
    for f in range(d):
        for i in range(k):
            v = rhs[i, f]
            if i >= 1:
                v -= factor[1, i - 1] * out[i - 1, f]
            if i >= 2:
                v -= factor[2, i - 2] * out[i - 2, f]
            out[i, f] = v
        for i in range(k):
            out[i, f] /= factor[0, i]
        for i in range(k - 1, -1, -1):
            v = out[i, f]
            if i + 1 < k:
                v -= factor[1, i] * out[i + 1, f]
            if i + 2 < k:
                v -= factor[2, i] * out[i + 2, f]
            out[i, f] = v


# --------------------------------------------------------------------------
# growth: the principal direction of every corner's cell (Lanczos)
# --------------------------------------------------------------------------


@jit()
def scatter_times(X, w, labels, C, Q, j, Z, work):
    """``Z[c] = sum_i w_i ((x_i - c) . Q[c, j]) (x_i - c)`` over the rows of
    every cell c: the cells' scatter matrices times their vectors ``Q[:, j]``,
    in one pass over the rows.

    in: X (n, d); w (n,) float64; labels (n,); C (k, d) float64 cell centres;
    Q (k, m, d) float64; j the vector of every cell to multiply.
    out: Z (k, d) float64. scratch: work (2, k) float64 (overwritten: the
    products ``c . Q[c, j]`` and the sums of ``w_i (x_i - c) . Q[c, j]``)."""
    n, d = X.shape
    k = C.shape[0]
    for c in range(k):
        s = 0.0
        for f in range(d):
            s += C[c, f] * Q[c, j, f]
            Z[c, f] = 0.0
        work[0, c] = s
        work[1, c] = 0.0
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        c = labels[i]
        s = 0.0
        for f in range(d):
            s += X[i, f] * Q[c, j, f]
        s = wi * (s - work[0, c])
        work[1, c] += s
        for f in range(d):
            Z[c, f] += s * X[i, f]
    for c in range(k):
        for f in range(d):
            Z[c, f] -= work[1, c] * C[c, f]


@jit()
def lanczos_step(Q, T, Z, j, live):
    """Step j of the Lanczos iterations of every cell, after ``Z`` = the cells'
    scatter matrices times ``Q[:, j]`` (:func:`scatter_times`).

    j < 0: ``Z`` is the scatter matrices times the start directions ``Q[:, 0]``;
    they become ``Z`` normalised (zero where ``Z`` is, ``live`` False there).
    Else: ``T[c, j, j] = Q[c, j] . Z[c]`` and, below the last step, ``Z[c]``
    re-orthogonalised against ``Q[c, :j + 1]`` (modified Gram-Schmidt,
    twice) becomes ``Q[c, j + 1]`` with ``T[c, j, j + 1] = T[c, j + 1, j]``
    its norm (zero vector and coupling where the cell's Krylov space ran
    out). Float64 throughout (one compiled version for every data dtype).

    in/out: Q (k, m, d), T (k, m, m) (zero off the computed entries on
    entry), Z (k, d) (overwritten), live (k,) bool.
    """
    k, m, d = Q.shape
    for c in range(k):
        if j >= 0:
            t = 0.0
            for f in range(d):
                t += Q[c, j, f] * Z[c, f]
            T[c, j, j] = t
            if j + 1 == m:
                continue
            for _ in range(2):
                for a in range(j + 1):
                    h = 0.0
                    for f in range(d):
                        h += Q[c, a, f] * Z[c, f]
                    for f in range(d):
                        Z[c, f] -= h * Q[c, a, f]
        # the norm, Z scaled by a power of two near its largest entry first
        # (exact), so that the squares neither over- nor underflow
        top = 0.0
        for f in range(d):
            top = max(top, abs(Z[c, f]))
        norm = top
        if 0.0 < top < np.inf:
            e = math.frexp(top)[1]
            s = 0.0
            for f in range(d):
                v = math.ldexp(Z[c, f], -e)
                s += v * v
            norm = math.ldexp(math.sqrt(s), e)
        if j < 0:
            live[c] = norm > 0.0
            grow = live[c]
        else:
            grow = norm > 1e-10 * (abs(T[c, j, j]) + 1e-300)
            if grow:
                T[c, j, j + 1] = norm
                T[c, j + 1, j] = norm
        for f in range(d):
            Q[c, j + 1, f] = Z[c, f] / norm if grow else 0.0
