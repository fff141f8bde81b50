"""Corner moves out of local optima (sksfvq._grow): the batched ELBG moves; and
the Lloyd object they run on (sksfvq._chain)."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from _reference import nearest_corner as ref_nearest
from sksfvq import _grow
from sksfvq._chain import Lloyd, column_spread, working_scale
from sksfvq._engine import kernel_threads
from sksfvq._init import chunk_map, weighted_mean
from sksfvq._sample import _KEY_CHUNK, projection_keys


def _reference_pairs(cost, gain, n_moves):
    """Plain greedy: the best receiver left takes the cheapest donor left."""
    free = set(range(len(cost)))
    pairs = []
    while len(pairs) < n_moves:
        receivers = [b for b in free if any(a != b for a in free)]
        if not receivers:
            break
        b = max(receivers, key=lambda i: (gain[i], -i))
        a = min((i for i in free if i != b), key=lambda i: (cost[i], i))
        if not cost[a] < gain[b]:
            break
        pairs.append((a, b))
        free -= {a, b}
    return pairs


@pytest.mark.parametrize("seed", range(20))
def test_move_pairs_match_the_plain_greedy(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 40))
    cost = rng.exponential(size=k)
    gain = rng.exponential(size=k) * rng.choice([0.5, 1.0, 3.0])
    cost[rng.random(k) < 0.2] = 0.0  # dead corners cost nothing
    n_moves = int(rng.integers(1, k))
    pairs = _grow._move_pairs(cost, gain, n_moves)
    assert pairs == _reference_pairs(cost, gain, n_moves)
    used = [i for p in pairs for i in p]
    assert len(used) == len(set(used))  # every corner in one move at most
    assert all(cost[a] < gain[b] for a, b in pairs)


def test_moves_keep_the_chain_in_place():
    C = np.arange(12.0).reshape(6, 2)
    V = np.tile([1.0, 0.0], (6, 1))
    var = np.full(6, np.pi / 2)  # steps of length 1
    out = _grow._moved(C, V, var, [(4, 1), (0, 5)])
    expected = [C[1] - [1, 0], C[1] + [1, 0], C[2], C[3], C[5] - [1, 0], C[5] + [1, 0]]
    np.testing.assert_array_equal(out, np.array(expected))


@pytest.fixture
def stuck():
    """Tight clusters, and Lloyd corners crowded into a few of them."""
    X, y = make_blobs(6000, 8, centers=60, cluster_std=0.3, center_box=(-20, 20),
                      random_state=0)
    rng = np.random.default_rng(0)
    # 128 corners from the rows of only 20 clusters: most clusters have none
    pool = np.flatnonzero(y < 20)
    C0 = X[rng.choice(pool, 128, replace=False)]
    lloyd = Lloyd(X, np.ones(len(X)), 128, 1e-4)
    C, _, _ = lloyd.run(C0, 0.0, 50)
    return lloyd, C


def test_one_trial_of_batched_moves_beats_one_move(stuck, monkeypatch):
    lloyd, C = stuck
    err0 = lloyd.error(C)
    monkeypatch.setattr(_grow, "MAX_MOVES", 1)
    monkeypatch.setattr(_grow, "MOVE_BATCH_CORNERS", 10**9)
    C1, e1 = _grow.relocate(lloyd, C, np.random.default_rng(1), lloyd.varying)
    monkeypatch.setattr(_grow, "MOVE_BATCH_CORNERS", 16)  # 8 moves per trial
    C8, e8 = _grow.relocate(lloyd, C, np.random.default_rng(1), lloyd.varying)
    assert C1.shape == C8.shape == C.shape
    assert e1 < err0
    assert e8 < 0.8 * e1
    assert e8 == pytest.approx(lloyd.error(C8))


def test_a_rejected_batch_falls_back_to_the_best_single_move(stuck, monkeypatch):
    lloyd, C = stuck
    monkeypatch.setattr(_grow, "MAX_MOVES", 1)
    monkeypatch.setattr(_grow, "MOVE_BATCH_CORNERS", 10**9)
    C1, e1 = _grow.relocate(lloyd, C, np.random.default_rng(1), lloyd.varying)
    # a batch whose Lloyd run never lowers the error: only the single move remains
    run = lloyd.run
    calls = []

    def judged(C_try, *args, **kwargs):
        calls.append(C_try.shape[0])
        out = run(C_try, *args, **kwargs)
        return (out[0], np.inf, out[2]) if len(calls) == 1 else out

    monkeypatch.setattr(lloyd, "run", judged)
    monkeypatch.setattr(_grow, "MOVE_BATCH_CORNERS", 16)
    C_b, e_b = _grow.relocate(lloyd, C, np.random.default_rng(1), lloyd.varying)
    assert len(calls) == 2
    np.testing.assert_array_equal(C_b, C1)
    assert e_b == e1


def test_error_of_the_corners_a_run_returned_takes_no_pass(monkeypatch):
    """Lloyd.error of the very array the last run returned is that run's error,
    without a pass over the rows; of any other array it is computed."""
    X, _ = make_blobs(2000, 4, centers=6, random_state=0)
    lloyd = Lloyd(X, np.ones(len(X)), 6, 1e-4)
    C, err, _ = lloyd.run(X[:6].copy(), 0.0, 50)
    passes = []
    nearest = lloyd.nearest
    monkeypatch.setattr(lloyd, "nearest", lambda C: passes.append(1) or nearest(C))
    assert lloyd.error(C) == err
    assert passes == []
    other = C + 0.1
    expected = float(np.mean(np.min(((X[:, None] - other[None]) ** 2).sum(-1), axis=1)))
    assert lloyd.error(other) == pytest.approx(expected, rel=1e-5)
    assert passes == [1]
    assert lloyd.error(C.copy()) == pytest.approx(err, rel=1e-6)  # a copy: a pass
    assert passes == [1, 1]


def test_a_run_from_the_corners_the_last_run_returned_reuses_its_pass(monkeypatch):
    """A run starting on the very array the last run returned takes its first
    assignment from that run (one pass fewer) and gives what a run from a
    copy of it gives."""
    X, _ = make_blobs(3000, 5, centers=8, random_state=1)
    w = np.ones(len(X))
    results = []
    for start_on_copy in (False, True):
        lloyd = Lloyd(X, w, 8, 1e-4)
        C, _, _ = lloyd.run(X[:8].copy(), 0.0, 3)  # stopped early: more to do
        passes = []
        nearest = lloyd.nearest
        monkeypatch.setattr(lloyd, "nearest", lambda C: passes.append(1) or nearest(C))
        start = C.copy() if start_on_copy else C
        C2, err2, it2 = lloyd.run(start, 0.05, 4)
        assert len(passes) == it2 + (1 if start_on_copy else 0)
        results.append((C2, err2, it2))
    (C_a, e_a, i_a), (C_b, e_b, i_b) = results
    np.testing.assert_array_equal(C_a, C_b)
    assert e_a == e_b and i_a == i_b > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d", [(700, 1), (700, 3), (1500, 384), (5, 70_000)])
def test_column_spread_is_the_weighted_squared_deviation_and_the_largest_one(n, d, dtype):
    """Summed piece by piece, the column sums equal the plain float64 sums to
    rounding, and the largest deviation is exact."""
    rng = np.random.default_rng(d)
    X = (rng.standard_normal((n, d)) * rng.uniform(0.1, 10.0, d) + 3.0).astype(dtype)
    w = rng.uniform(0.0, 3.0, n)
    mean = w @ X.astype(np.float64) / w.sum()
    col_sq, spread = column_spread(X, w, mean)
    Z = X.astype(np.float64) - mean
    np.testing.assert_allclose(col_sq, np.einsum("i,ij,ij->j", w, Z, Z), rtol=1e-12)
    assert spread == np.max(np.abs(Z))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_float64_sums_keep_every_bit_in_threads(dtype, threads):
    """The weighted mean and the projection keys, by chunks converted into a
    buffer per thread, equal the per-chunk formula (a fresh float64 copy of
    every chunk, added in order) bit for bit, including the short last chunk,
    on one thread or two; so do the column statistics and the float32
    working copy of :class:`Lloyd`; the input is not changed."""
    rng = np.random.default_rng(5)
    X = (rng.standard_normal((2 * _KEY_CHUNK + 777, 37)) * 4.0 + 1.5).astype(dtype)
    X0 = X.copy()
    w = rng.uniform(0.0, 2.0, X.shape[0])
    v = rng.standard_normal(37)
    chunk = 4096
    total = np.zeros(37)
    for s in range(0, X.shape[0], chunk):
        total += w[s:s + chunk] @ X[s:s + chunk].astype(np.float64)
    mean = total / w.sum()
    starts = range(0, X.shape[0], _KEY_CHUNK)
    keys = np.concatenate([X[s:s + _KEY_CHUNK].astype(np.float64) @ v for s in starts])
    total = np.zeros(37)  # Lloyd's mean: by chunks of as many rows as the keys
    for s in starts:
        total += w[s:s + _KEY_CHUNK] @ X[s:s + _KEY_CHUNK].astype(np.float64)
    col_sq, spread, lloyd_mean = np.zeros(37), 0.0, total / w.sum()
    for s in starts:
        part, dev = column_spread(X[s:s + _KEY_CHUNK], w[s:s + _KEY_CHUNK], lloyd_mean)
        col_sq += part
        spread = max(spread, dev)
    with kernel_threads(threads):
        np.testing.assert_array_equal(weighted_mean(X, w, chunk), mean)
        seen = chunk_map(lambda s, part: (s, part.dtype, part.sum(), part.shape[0]), X, chunk)
        np.testing.assert_array_equal(projection_keys(X, v), keys)
        lloyd = Lloyd(X, w, 4, 1e-4)
    assert [s for s, *_ in seen] == list(range(0, X.shape[0], chunk))
    assert {t for _, t, *_ in seen} == {np.dtype(np.float64)}
    assert [r for *_, r in seen][-2:] == [chunk, X.shape[0] % chunk]
    np.testing.assert_array_equal([p for _, _, p, _ in seen],
                                  [X[s:s + chunk].astype(np.float64).sum()
                                   for s in range(0, X.shape[0], chunk)])
    col_var = col_sq / w.sum()
    assert lloyd.tol_shift == 1e-4 * col_var.sum() / 37
    if dtype == np.float64:
        assert lloyd.scale == working_scale(spread)
        np.testing.assert_array_equal(lloyd.Xa,
                                      ((X - lloyd_mean) * lloyd.scale).astype(np.float32))
    else:
        assert lloyd.Xa is X
    np.testing.assert_array_equal(X, X0)


def test_the_float32_rows_of_float64_data_are_shifted_and_scaled_exactly():
    """Lloyd's float32 working copy of float64 data, made piece by piece, has
    the bits of the whole-array formula."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 40)) * 50.0 + 7.0
    lloyd = Lloyd(X, np.ones(len(X)), 4, 1e-4)
    assert lloyd.Xa.dtype == np.float32 and lloyd.scale != 1.0
    np.testing.assert_array_equal(lloyd.Xa, ((X - lloyd.shift) * lloyd.scale).astype(np.float32))
    spread = np.max(np.abs(X - lloyd.shift))
    assert 0.5 <= spread * lloyd.scale < 1.0  # the power of two below the spread


def test_a_run_from_where_the_last_run_started_reuses_its_first_pass(monkeypatch):
    """A smoothing try after a rejected one starts where that one started: its
    first assignment comes from that run (one pass fewer), and it gives what a
    run from a copy gives."""
    X, _ = make_blobs(3000, 5, centers=8, random_state=2)
    w = np.ones(len(X))
    results = []
    for start_on_copy in (False, True):
        lloyd = Lloyd(X, w, 8, 1e-4)
        C0 = X[:8].copy()
        lloyd.run(C0, 0.3, 2, keep_start=True)  # the rejected try
        passes = []
        nearest = lloyd.nearest
        monkeypatch.setattr(lloyd, "nearest", lambda C: passes.append(1) or nearest(C))
        C1, err1, it1 = lloyd.run(C0.copy() if start_on_copy else C0, 0.05, 3)
        assert len(passes) == it1 + (1 if start_on_copy else 0)
        assert lloyd.error(C0) == pytest.approx(lloyd.error(C0.copy()), rel=1e-12)
        results.append((C1, err1, it1))
    (C_a, e_a, i_a), (C_b, e_b, i_b) = results
    np.testing.assert_array_equal(C_a, C_b)
    assert e_a == e_b and i_a == i_b > 0


def test_error_and_assignment_of_the_same_corners_share_one_pass(monkeypatch):
    """Lloyd.error's pass is kept for assignment() of the same array (the
    trainer's look at dead corners after the error costs no second pass), and
    let go when a run follows."""
    X = np.random.default_rng(0).normal(size=(500, 3))
    lloyd = Lloyd(X, np.ones(500), 4, 1e-4)
    passes = []
    real = lloyd.nearest
    monkeypatch.setattr(lloyd, "nearest", lambda C: passes.append(1) or real(C))
    C = X[:4].copy()
    err = lloyd.error(C)
    labels, dist2 = lloyd.assignment(C)
    assert len(passes) == 1
    assert err == float(np.sum(dist2)) / 500
    assert np.array_equal(labels, np.argmin(((X[:, None] - C[None]) ** 2).sum(-1), axis=1))
    lloyd.run(C[::-1].copy(), 0.0, 1)
    lloyd.assignment(C)  # the run let the error's pass go
    assert len(passes) == 4


def test_moves_reach_the_optimum_with_one_row_more_than_corners():
    """N = K + 1: the optimum merges the closest pair of rows. A cell of two
    rows gains its whole error by a move (the Gaussian cell's 2 / pi share
    fell below the donor's cost, so the move was never tried: 3x the
    optimum's error)."""
    from sksfvq import SpaceFillingVQ

    X = np.random.default_rng(15).normal(size=(9, 3))
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    for seed in range(3):
        est = SpaceFillingVQ(n_clusters=8, smoothness=0.0, random_state=seed).fit(X)
        assert est.inertia_ == pytest.approx(D.min() / 2, rel=1e-9)


def test_moves_count_a_joining_rows_share_with_few_rows_per_corner():
    """N = K + 1 with K = 16, ten data sets: a row that joins a one-row cell
    adds half its squared distance (the corner moves to the middle), not all
    of it; counted so, the move that merges the closest pair is tried, and
    9 of 10 fits reach the optimum (6 before)."""
    from sksfvq import SpaceFillingVQ

    hits = 0
    for seed in range(10):
        X = np.random.default_rng(seed).normal(size=(17, 3))
        D = ((X[:, None] - X[None]) ** 2).sum(-1)
        np.fill_diagonal(D, np.inf)
        est = SpaceFillingVQ(n_clusters=16, smoothness=0.0, random_state=0).fit(X)
        hits += est.inertia_ <= D.min() / 2 * (1 + 1e-9)
    assert hits >= 9


@pytest.mark.parametrize("smoothness", [0.0, 0.05])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_relaxed_run_returns_the_error_of_the_corners_it_returns(seed, smoothness):
    """Over-relaxed iterations: every step counts, the error returned is the
    one of the corners returned, and it is below the start's."""
    rng = np.random.default_rng(seed)
    X, _ = make_blobs(3000, 4, centers=10, random_state=seed)
    w = rng.uniform(0.5, 2.0, len(X))
    C0 = X[rng.choice(len(X), 12, replace=False)].copy()
    lloyd = Lloyd(X, w, 12, 1e-4)
    start = lloyd.error(C0)
    C, err, it = lloyd.run(C0, smoothness, 7, relax=1.8)
    assert it <= 7
    _, d2 = ref_nearest(X, C)
    assert err == pytest.approx(float(np.sum(w * d2) / w.sum()), rel=1e-6)
    assert err < start


def test_a_relaxed_step_that_loses_gives_way_to_the_plain_steps():
    """A step far past the solved corners raises the error: it is replaced by
    the plain step and the run goes on plainly, so it ends where a plain run
    ends, with one pass more (the step that lost)."""
    X, _ = make_blobs(2000, 3, centers=8, random_state=3)
    w = np.ones(len(X))
    C0 = X[:8].copy()
    plain = Lloyd(X, w, 8, 1e-4)
    C_p, e_p, it_p = plain.run(C0, 0.0, 100)
    wild = Lloyd(X, w, 8, 1e-4)
    passes = []
    nearest = wild.nearest
    wild.nearest = lambda C: passes.append(1) or nearest(C)
    C_r, e_r, it_r = wild.run(C0, 0.0, 100, relax=50.0)
    np.testing.assert_array_equal(C_r, C_p)
    assert e_r == e_p and it_r == it_p
    assert len(passes) == it_p + 2  # the start, every step, and the one that lost


def test_a_relaxed_run_to_convergence_ends_on_the_means_of_its_cells():
    """Once the assignment repeats, the steps are plain: a run that converged
    returns the means of its corners' cells (a relaxed step alone would stop
    short of them or overshoot)."""
    X, _ = make_blobs(4000, 5, centers=6, random_state=4)
    w = np.ones(len(X))
    lloyd = Lloyd(X, w, 6, 0.0)
    C, err, it = lloyd.run(X[:6].copy(), 0.0, 500, relax=1.8)
    assert 0 < it < 500
    labels, _ = ref_nearest(X, C)
    means = np.array([X[labels == j].mean(axis=0) for j in range(6)])
    np.testing.assert_allclose(C, means, rtol=1e-9, atol=1e-9)  # (the solve's tiny ridge)
