"""k-means++ seeding kernel (weighted potential of candidate centres)."""

import numpy as np

from ._kernels import _jit


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
