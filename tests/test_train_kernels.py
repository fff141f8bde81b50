"""Training kernels and k-means++ seeding against slow, obviously-correct references."""

import numpy as np
import pytest

from sksfvq._init import canonical_order, kmeans_plus_plus
from sksfvq._init import cell_axes
from sksfvq._train_kernels import corner_sums, lanczos_step, scatter_times


def _ref_kmeans_pp(Xo, wo, u0, U):
    """Greedy weighted k-means++ with numpy, one candidate at a time."""
    k = U.shape[0] + 1
    cum = np.cumsum(wo)
    first = min(int(np.searchsorted(cum, u0 * cum[-1], side="right")), len(wo) - 1)
    centers = [first]
    d2 = ((Xo - Xo[first]) ** 2).sum(1)
    for step in range(1, k):
        cum = np.cumsum(wo * d2)
        if not cum[-1] > 0:
            centers.append(centers[-1])
            continue
        best, best_pot, best_d2 = None, np.inf, None
        for u in U[step - 1]:
            r = min(int(np.searchsorted(cum, u * cum[-1], side="right")), len(wo) - 1)
            new = np.minimum(d2, ((Xo - Xo[r]) ** 2).sum(1))
            pot = float(wo @ new)
            if pot < best_pot:
                best, best_pot, best_d2 = r, pot, new
        centers.append(best)
        d2 = best_d2
    return Xo[centers]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,d,k", [(50, 1, 4), (300, 3, 17), (257, 9, 32), (40, 70, 8)])
def test_kmeans_plus_plus_matches_reference(n, d, k, dtype):
    rng = np.random.default_rng(n + d + k)
    X = rng.normal(size=(n, d)).astype(dtype)
    w = rng.uniform(0.2, 3.0, size=n)
    C = kmeans_plus_plus(X, w, k, np.random.default_rng(7))
    # the same uniforms, drawn as the wrapper draws them
    r = np.random.default_rng(7)
    u0 = r.random()
    U = r.random((k - 1, 2 + int(np.log(k))))
    Xo, wo, mean = canonical_order(X, w)
    ref = _ref_kmeans_pp(Xo, wo, u0, U) + mean
    np.testing.assert_allclose(C, ref, rtol=0, atol=1e-12)
    assert C.dtype == np.float64


def test_kmeans_plus_plus_repeats_when_rows_run_out():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    C = kmeans_plus_plus(X, np.ones(3), 4, np.random.default_rng(0))
    assert {tuple(c) for c in C} == {(0.0, 0.0), (1.0, 1.0)}
    np.testing.assert_array_equal(C[3], C[2])


def test_kmeans_plus_plus_weight_is_repetition():
    """A row of weight 2 is drawn exactly as two copies of it."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    w = rng.integers(1, 4, size=60).astype(float)
    Xr = np.repeat(X, w.astype(int), axis=0)
    perm = rng.permutation(len(Xr))
    a = kmeans_plus_plus(X, w, 9, np.random.default_rng(5))
    b = kmeans_plus_plus(Xr[perm], np.ones(len(Xr)), 9, np.random.default_rng(5))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_corner_sums_match_bincount(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 7)).astype(dtype)
    w = rng.uniform(0, 2, size=500)
    w[::7] = 0.0
    labels = rng.integers(0, 11, size=500).astype(np.intp)
    counts = np.full(12, np.nan)
    sums = np.full((12, 7), np.nan)
    corner_sums(X, w, labels, 12, counts, sums)
    np.testing.assert_allclose(counts, np.bincount(labels, weights=w, minlength=12), rtol=1e-12)
    ref = np.stack([np.bincount(labels, weights=w * X[:, f].astype(np.float64), minlength=12)
                    for f in range(7)], axis=1)
    np.testing.assert_allclose(sums, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_corner_totals_of_large_data_add_blocks_in_order_on_any_threads(dtype):
    """Large data: the sums of every block of rows in row order, added in
    block order (the bits of a loop over the blocks), on one thread or two;
    and the weighted sums per corner they should be."""
    from sksfvq._chain import SUM_BLOCK, SUM_BLOCK_WORK, corner_totals
    from sksfvq._engine import kernel_threads

    rng = np.random.default_rng(3)
    d = 6
    n = max(3 * SUM_BLOCK + 5, -(-SUM_BLOCK_WORK // d))
    X = rng.normal(size=(n, d)).astype(dtype)
    w = rng.uniform(0, 2, size=n)
    w[::5] = 0.0
    labels = rng.integers(0, 9, size=n).astype(np.intp)
    counts, sums = np.zeros(9), np.zeros((9, d))
    for start in range(0, n, SUM_BLOCK):
        c, s = np.empty(9), np.empty((9, d))
        stop = start + SUM_BLOCK
        corner_sums(X[start:stop], w[start:stop], labels[start:stop], 9, c, s)
        counts, sums = counts + c, sums + s
    for threads in (1, 2):
        with kernel_threads(threads):
            got = corner_totals(X, w, labels, 9)
        np.testing.assert_array_equal(got[0], counts)
        np.testing.assert_array_equal(got[1], sums)
    ref = np.stack([np.bincount(labels, weights=w * X[:, f], minlength=9) for f in range(d)], 1)
    np.testing.assert_allclose(sums, ref, rtol=1e-9)
    # below the work that pays for blocks: one sum in row order
    small = X[:SUM_BLOCK + 1000]
    c, s = np.empty(9), np.empty((9, d))
    corner_sums(small, w[:len(small)], labels[:len(small)], 9, c, s)
    np.testing.assert_array_equal(corner_totals(small, w[:len(small)], labels[:len(small)], 9)[1],
                                  s)


@pytest.mark.parametrize("k", [3, 4, 5, 17, 64])
def test_solve_penta_matches_dense_solve(k):
    from sksfvq._train_kernels import solve_penta

    rng = np.random.default_rng(k)
    diag = rng.uniform(0.0, 5.0, size=k) + 1e-6
    diag[::3] = 1e-6  # corners that no row chose
    mu = 0.7
    rhs = rng.normal(size=(k, 5))
    D = np.diff(np.eye(k), n=2, axis=0)  # (k-2, k) second differences
    A = np.diag(diag) + mu * D.T @ D
    out = np.full_like(rhs, np.nan)
    factor = np.full((3, k), np.nan)
    solve_penta(diag, mu, rhs, out, factor)
    np.testing.assert_allclose(out, np.linalg.solve(A, rhs), rtol=1e-8, atol=1e-10)
    # the factorization it returns: A = L D L' (L unit lower, two sub-diagonals)
    L = np.eye(k) + np.diag(factor[1, :-1], -1) + np.diag(factor[2, :-2], -2)
    np.testing.assert_allclose(L @ np.diag(factor[0]) @ L.T, A, rtol=1e-10, atol=1e-10)
    assert factor[1, -1] == 0.0 and not factor[2, -2:].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cell_axes_finds_each_cells_top_principal_direction(dtype):
    rng = np.random.default_rng(7)
    k, d = 4, 6
    X = rng.normal(size=(900, d)) * np.linspace(0.5, 3.0, d)  # distinct variances
    X = (X @ np.linalg.qr(rng.normal(size=(d, d)))[0]).astype(dtype)
    w = rng.random(900) * 2
    labels = rng.integers(0, k, 900).astype(np.intp)
    C = np.array([np.average(X[labels == c], axis=0, weights=w[labels == c])
                  for c in range(k)])
    V = rng.normal(size=(k, d))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    V, var = cell_axes(X, w, labels, C, V, 6)
    for c in range(k):  # reference: the weighted covariance of the cell, eigh
        R = X[labels == c].astype(np.float64) - C[c]
        wc = w[labels == c]
        vals, vecs = np.linalg.eigh((R * wc[:, None]).T @ R / wc.sum())
        assert abs(V[c] @ vecs[:, -1]) == pytest.approx(1.0, abs=1e-6)
        assert var[c] == pytest.approx(vals[-1], rel=1e-8)


def test_cell_axes_of_a_cell_without_spread():
    X = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [2.0, 0.0]])
    labels = np.array([0, 0, 1, 1], dtype=np.intp)
    C = np.array([[1.0, 2.0], [1.0, 0.0]])
    V = np.array([[1.0, 0.0], [0.6, 0.8]])
    V, var = cell_axes(X, np.ones(4), labels, C, V, 4)
    assert var[0] == 0.0 and not V[0].any()
    assert var[1] == pytest.approx(1.0) and abs(V[1, 0]) == pytest.approx(1.0)


def _lanczos(X, w, labels, C, Q, T, live):
    """The steps as cell_axes takes them: a start, then m steps."""
    k, m, d = Q.shape
    Z, work = np.full((k, d), np.nan), np.full((2, k), np.nan)
    scatter_times(X, w, labels, C, Q, 0, Z, work)
    lanczos_step(Q, T, Z, -1, live)
    for j in range(m):
        scatter_times(X, w, labels, C, Q, j, Z, work)
        lanczos_step(Q, T, Z, j, live)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(3))
def test_lanczos_steps_match_the_scatter_matrices(dtype, seed):
    # reference: every cell's weighted scatter matrix S formed plainly; the
    # kernel's vectors are orthonormal, start along S v, and T = Q S Q'
    rng = np.random.default_rng(seed)
    k, d, m = 3, 7, 4
    X = rng.normal(size=(400, d)).astype(dtype)
    X[:, 5] = 1.5  # a constant column: no start direction reaches it
    w = rng.random(400) * 2
    labels = rng.integers(0, k, 400).astype(np.intp)
    C = rng.normal(size=(k, d))
    V = rng.normal(size=(k, d))
    Q = np.zeros((k, m, d))
    Q[:, 0] = V
    T = np.zeros((k, m, m))
    live = np.zeros(k, dtype=bool)
    _lanczos(X, w, labels, C, Q, T, live)
    assert live.all()
    for c in range(k):
        R = X[labels == c].astype(np.float64) - C[c]
        S = (R * w[labels == c][:, None]).T @ R
        start = S @ V[c]
        np.testing.assert_allclose(Q[c, 0], start / np.linalg.norm(start), atol=1e-10)
        np.testing.assert_allclose(Q[c] @ Q[c].T, np.eye(m), atol=1e-10)
        np.testing.assert_allclose(T[c], Q[c] @ S @ Q[c].T, rtol=1e-9,
                                   atol=1e-9 * np.abs(S).max())
        assert not np.triu(T[c], 2).any() and not np.tril(T[c], -2).any()


def test_lanczos_steps_of_an_exhausted_space():
    # a cell whose rows span one direction: one vector, then zeros (and T rows)
    X = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    labels = np.zeros(3, dtype=np.intp)
    Q = np.zeros((1, 2, 2))
    Q[0, 0] = [0.6, 0.8]
    T = np.zeros((1, 2, 2))
    live = np.zeros(1, dtype=bool)
    _lanczos(X, np.ones(3), labels, np.array([[2.0, 0.0]]), Q, T, live)
    assert live[0]
    np.testing.assert_allclose(Q[0, 0], [1.0, 0.0])
    assert not Q[0, 1].any()
    np.testing.assert_allclose(T[0], [[8.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_times_matches_numpy(dtype):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5)).astype(dtype)
    w = rng.random(300)
    labels = rng.integers(0, 3, 300).astype(np.intp)
    C = rng.normal(size=(3, 5))
    Q = rng.normal(size=(3, 2, 5))
    Z = np.full((3, 5), np.nan)
    scatter_times(X, w, labels, C, Q, 1, Z, np.full((2, 3), np.nan))
    for c in range(3):
        R = X[labels == c].astype(np.float64) - C[c]
        ref = (R * w[labels == c][:, None]).T @ (R @ Q[c, 1])
        np.testing.assert_allclose(Z[c], ref, rtol=1e-6 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)


def _sgd_epoch_reference(X, w, order, lams, C, lr, batch, b1=0.9, b2=0.999, eps=1e-8):
    """One epoch of the published recipe, plainly: per batch, the dithered
    points, every row's nearest one, the weighted gradient (a row counts
    w_i / mean(w) times) and one Adam step. Returns (C, mean loss)."""
    C = C.astype(np.float64).copy()
    n, d = X.shape
    m1, m2 = np.zeros_like(C), np.zeros_like(C)
    mean_w = w.mean()
    loss = wsum = 0.0
    t = 0
    for b, start in enumerate(range(0, n, batch)):
        rows = order[start:start + batch]
        lam = lams[b]
        P = (1 - lam)[:, None] * C[:-1] + lam[:, None] * C[1:]
        if w[rows].sum() <= 0:
            continue
        grad = np.zeros_like(C)
        for i in rows:
            if w[i] == 0:
                continue
            x = X[i].astype(np.float64)
            dist = ((x - P) ** 2).sum(axis=1)
            j = int(np.argmin(dist))
            loss += w[i] * dist[j] / d
            wsum += w[i]
            g = -2.0 / (len(rows) * d) * (w[i] / mean_w) * (x - P[j])
            grad[j] += (1 - lam[j]) * g
            grad[j + 1] += lam[j] * g
        t += 1
        m1 = b1 * m1 + (1 - b1) * grad
        m2 = b2 * m2 + (1 - b2) * grad**2
        C -= lr / (1 - b1**t) * m1 / (np.sqrt(m2) / np.sqrt(1 - b2**t) + eps)
    return C, loss / wsum


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_sgd_epoch_matches_reference(dtype, batch):
    from sksfvq._train_kernels import sgd_epoch

    rng = np.random.default_rng(batch)
    n, d, k = 90, 3, 6
    X = rng.normal(size=(n, d)).astype(dtype)
    w = rng.integers(0, 4, n).astype(np.float64)
    C0 = rng.normal(size=(k, d))
    order = rng.permutation(n)
    lams = rng.random(((n + batch - 1) // batch, k - 1))
    C = C0.copy()
    loss = sgd_epoch(X, w, w.mean(), order, lams, C, np.zeros_like(C), np.zeros_like(C),
                     np.zeros(1, np.int64), 0.01, batch, 0.9, 0.999, 1e-8)
    C_ref, loss_ref = _sgd_epoch_reference(X, w, order, lams, C0, 0.01, batch)
    np.testing.assert_allclose(C, C_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-9)
