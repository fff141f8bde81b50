"""Numba kernels of the trainers: per-corner sums, one epoch of the published
recipe, and the k-means++ candidate choice."""

import numpy as np

from ._kernels import _jit


# --------------------------------------------------------------------------
# training: weighted per-corner sums (serial, in row order -> deterministic)
# --------------------------------------------------------------------------


@_jit()
def corner_sums(X, w, labels, k, counts, sums):
    """Accumulate weighted counts and sums per corner in float64, row order.

    in: X (n, d); w (n,) float64; labels (n,). out: counts (k,), sums (k, d)
    (both float64, overwritten).
    """
    counts[:] = 0.0
    sums[:, :] = 0.0
    n, d = X.shape
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


@_jit()
def sgd_epoch(X, w, order, lams, C, m1, m2, step, lr, batch, beta1, beta2, adam_eps):
    """One epoch of the published SFVQ recipe, updating ``C`` in place.

    For each batch of rows (taken in ``order``): form the dithered points
    ``p_j = (1 - l_j) c_j + l_j c_{j+1}`` with the batch's row of ``lams``,
    quantize every row to its nearest dithered point, take the gradient of
    the mean squared error (weights 1-l to corner j, l to corner j+1) and
    apply one Adam step.

    in: X (n, d); w (n,) float64 sample weights; order (n,) row order;
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
        scale = -2.0 / (wsum * d)
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
            g = scale * wi
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
# training: k-means++ seeding (weighted potential of candidate centres)
# --------------------------------------------------------------------------


@_jit()
def best_candidate(X, w, d2, cand, d2_out):
    """Pick the candidate row that lowers the weighted potential most.

    in: X (n, d) float64; w (n,) weights; d2 (n,) squared distance of every row
    to its nearest chosen centre; cand (t,) candidate row indices.
    out: d2_out (n,) the updated squared distances for the best candidate.
    Returns the position in ``cand`` of the best candidate (first on ties).
    """
    n, d = X.shape
    best = -1
    best_pot = np.inf
    for c in range(cand.shape[0]):
        r = cand[c]
        pot = 0.0
        for i in range(n):
            s = 0.0
            for f in range(d):
                v = X[i, f] - X[r, f]
                s += v * v
            pot += w[i] * min(s, d2[i])
        if pot < best_pot:
            best_pot = pot
            best = c
    r = cand[best]
    for i in range(n):
        s = 0.0
        for f in range(d):
            v = X[i, f] - X[r, f]
            s += v * v
        d2_out[i] = min(s, d2[i])
    return best
