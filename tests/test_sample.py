"""The subsample of the default trainer: weights act exactly as repeated rows."""

import numpy as np
import pytest

from sksfvq import SpaceFillingVQ, _init, _train
from sksfvq._sample import RowSample, effective_size


def _weighted_and_repeated(seed, n=60, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.integers(0, 4, n).astype(float)
    w[0] = 2.0
    Xr = np.repeat(X, w.astype(int), axis=0)
    return X, w, Xr[rng.permutation(len(Xr))]


@pytest.mark.parametrize("seed", range(4))
def test_subsample_of_weights_equals_subsample_of_repeated_rows(seed):
    X, w, Xr = _weighted_and_repeated(seed)
    a = RowSample(X, w, 400, np.random.default_rng(9))
    b = RowSample(Xr, np.ones(len(Xr)), 400, np.random.default_rng(9))
    for n in (1, 57, 400):
        Xa, wa = a.subsample(X, n)
        Xb, wb = b.subsample(Xr, n)
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(wa, wb)
        assert wa.sum() == n


@pytest.mark.parametrize("n", [7, 65_537, 400_003])
def test_weights_of_one_draw_as_no_weights(n):
    """The fit passes no weights when all are 1 (the draws without the
    cumulative weight): the rows drawn, in order, are those of the weights."""
    X = np.random.default_rng(n).normal(size=(n, 1))
    a = RowSample(X, None, 50_000, np.random.default_rng(3))
    b = RowSample(X, np.ones(n), 50_000, np.random.default_rng(3))
    np.testing.assert_array_equal(a.pos, b.pos)
    np.testing.assert_array_equal(a.rows, b.rows)
    rows = _train._Rows(X, np.ones(n), 4, 1e-4, 1_000, np.random.default_rng(5))
    if rows.subsampled:
        c = RowSample(X, np.ones(n), 1_000, _train._child(np.random.default_rng(5)))
        np.testing.assert_array_equal(rows.sample.rows, c.rows)


def test_subsamples_are_nested_and_follow_the_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 2))
    w = np.where(np.arange(1000) < 500, 3.0, 1.0)  # the first half weighs 3x
    s = RowSample(X, w, 20_000, np.random.default_rng(1))
    small, _ = s.subsample(X, 300)
    big, wb = s.subsample(X, 20_000)
    rows_small = {tuple(r) for r in small}
    assert rows_small <= {tuple(r) for r in big}
    heavy = {tuple(r) for r in X[:500]}
    share = sum(wi for r, wi in zip(big, wb) if tuple(r) in heavy) / wb.sum()
    assert share == pytest.approx(0.75, abs=0.02)


def test_effective_size_counts_weights_as_rows():
    assert effective_size(np.ones(10)) == 10
    assert effective_size(np.full(10, 30.0)) == 300
    assert effective_size(np.full(10, 0.1)) == 10
    assert effective_size(np.r_[np.ones(4), np.zeros(6)]) == 4  # weight 0: no row


@pytest.fixture
def few_rows_per_corner(monkeypatch):
    """A small subsample, so that a test-sized fit takes the subsample path."""
    monkeypatch.setattr(_train, "LLOYD_ROWS_PER_CORNER", 20)
    monkeypatch.setattr(_train, "LLOYD_GRAPH_ROWS_PER_CORNER", 10)


def test_fit_on_the_subsample_path_respects_repetition(few_rows_per_corner):
    X, w, Xr = _weighted_and_repeated(3, n=400, d=2)
    assert effective_size(w) > 20 * 6
    a = SpaceFillingVQ(n_clusters=6, random_state=0).fit(X, sample_weight=w)
    b = SpaceFillingVQ(n_clusters=6, random_state=0).fit(Xr)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", ["weight 2", "zero-weight rows"])
def test_the_schedule_follows_the_rows_the_weights_stand_for(monkeypatch, case):
    """A pass is 'heavy' (another schedule: no run on all rows after the
    subsample) above LLOYD_EXACT_WORK rows x corners x features; the rows
    counted are those the weights stand for, so that 3,000 rows of weight 2
    are fitted as their 6,000 copies (and rows of weight 0 as no rows) where
    the threshold lies between the two counts."""
    k, d = 16, 8
    monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", 4500 * k * d)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, d))
    if case == "weight 2":
        Xw, w, Xr = X, np.full(3000, 2.0), np.repeat(X, 2, axis=0)
    else:  # 3,000 rows beside 3,000 of weight 0 are the 3,000 rows
        Xw, w, Xr = np.vstack([X, rng.normal(size=(3000, d))]), np.r_[np.ones(3000),
                                                                        np.zeros(3000)], X
    a = SpaceFillingVQ(n_clusters=k, random_state=0).fit(Xw, sample_weight=w)
    b = SpaceFillingVQ(n_clusters=k, random_state=0).fit(Xr)
    assert [h["n_iter"] for h in a.history_] == [h["n_iter"] for h in b.history_]
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-7, atol=1e-9)


def test_fit_on_many_more_rows_than_the_subsample_reaches_kmeans_error():
    """Clustered data with 40x more rows than the subsample: the coarse stages see
    a small part of it, the finishing passes all of it."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(12, 5))
    X = (centres[rng.integers(0, 12, 40 * 256 * 12)] + rng.normal(size=(40 * 256 * 12, 5)))
    X = X.astype(np.float32)
    est = SpaceFillingVQ(n_clusters=12, random_state=0).fit(X)
    km = KMeans(12, n_init=1, random_state=0).fit(X)
    assert est.inertia_ <= 1.03 * km.inertia_
    assert est.history_[0]["n_clusters"] == 2  # grown by splitting on the subsample


def test_fit_on_the_subsample_path_is_the_same_for_1_and_2_threads(few_rows_per_corner):
    X = np.random.default_rng(5).normal(size=(3000, 3))
    a = SpaceFillingVQ(n_clusters=9, random_state=0, n_jobs=1).fit(X)
    b = SpaceFillingVQ(n_clusters=9, random_state=0, n_jobs=2).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_split_corners_follows_the_chain():
    C = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    directions = np.array([[0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]])
    out = _init.split_corners(C, directions, np.array([0.1, 0.2, 0.3]), [1, 2])
    np.testing.assert_allclose(out, [[0, 0], [0.8, 0], [1.2, 0], [1.7, 0], [2.3, 0]])


def test_large_path_stops_the_last_subsample_stage_on_the_error_gain(monkeypatch):
    """Where passes over all rows follow (the large-data path), the last stage on the
    subsample stops once an iteration gains less than LLOYD_SUB_GAIN_LARGE of the
    error: fewer iterations than running it to convergence, at the same error."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(1)
    X = (rng.normal(size=(40, 6)) * 3.0)[rng.integers(0, 40, 60_000)]
    X = (X + rng.normal(size=X.shape)).astype(np.float32)
    monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", 1 << 16)  # this data takes the large path
    monkeypatch.setattr(_train, "LLOYD_HEAVY_GAIN", 0.0)  # (its stages are heavy, too)
    k = 48
    fits = {}
    for gain in (0.0, 1e-3):
        monkeypatch.setattr(_train, "LLOYD_SUB_GAIN_LARGE", gain)
        est = SpaceFillingVQ(n_clusters=k, random_state=0).fit(X)
        last = [h for h in est.history_ if h["n_clusters"] == k][0]  # the last split stage
        fits[gain] = (last["n_iter"], est.inertia_)
    assert fits[1e-3][0] < fits[0.0][0]
    km = KMeans(k, n_init=1, random_state=0).fit(X)
    assert fits[1e-3][1] <= 1.03 * km.inertia_
    assert fits[1e-3][1] <= 1.01 * fits[0.0][1]


def test_a_heavy_subsample_holds_fewer_rows_per_corner(monkeypatch):
    """Where the data is subsampled and a pass over LLOYD_ROWS_PER_CORNER rows
    per corner would be heavy, every stage draws LLOYD_HEAVY_ROWS_PER_CORNER
    per corner instead (the passes over all rows that follow take up the
    difference); light, or not subsampled (no such passes), the draws are as
    before. Weights count as draws."""
    from sksfvq._chain import Lloyd

    rng = np.random.default_rng(4)
    X = (rng.normal(size=(40, 6)) * 3.0)[rng.integers(0, 40, 30_000)]
    X = (X + rng.normal(size=X.shape)).astype(np.float32)
    k = 24
    drawn = []
    init = Lloyd.__init__

    def spy(self, X_, w, k_, tol, bounds=True):
        drawn.append(float(w.sum()))
        init(self, X_, w, k_, tol, bounds)

    monkeypatch.setattr(Lloyd, "__init__", spy)
    stages = {}
    # 256 x 24 x 24 x 6 = 884,736 values: light under 2^20, heavy under 2^19;
    # 6,000 rows are fewer than 256 x 24 (not subsampled)
    for work, n in ((1 << 20, 30_000), (1 << 19, 30_000), (1 << 19, 6_000)):
        monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", work)
        drawn.clear()
        SpaceFillingVQ(n_clusters=k, random_state=0).fit(X[:n])
        stages[work, n] = sorted(m for m in drawn if m < n)
    expected = {(1 << 20, 30_000): _train.LLOYD_ROWS_PER_CORNER,
                (1 << 19, 30_000): _train.LLOYD_HEAVY_ROWS_PER_CORNER,
                (1 << 19, 6_000): _train.LLOYD_ROWS_PER_CORNER}
    for key, rows in expected.items():
        last = k if key[1] == 30_000 else 16  # the last stage not subsampled: all rows
        assert stages[key][-1] == rows * last  # the largest subsample
        assert stages[key][0] == 2 * rows  # the first split stage's
        assert set(stages[key]) == {rows * m for m in (2, 4, 8, 16, last)}


def test_heavy_last_stage_on_all_rows_stops_on_the_error_gain(monkeypatch):
    """Data that is not subsampled but whose passes are heavy (rows x corners x
    features above LLOYD_EXACT_WORK): the last split stage, on all rows, stops once
    an iteration gains less than LLOYD_HEAVY_GAIN of the error, at nearly the error
    of running it to convergence."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(2)
    X = (rng.normal(size=(30, 5)) * 3.0)[rng.integers(0, 30, 6000)]
    X = X + rng.normal(size=X.shape)
    k = 40
    assert X.shape[0] < _train.LLOYD_ROWS_PER_CORNER * k  # not subsampled
    fits = {}
    for work in (1 << 40, 1 << 16):  # light (as by default at this size), then heavy
        monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", work)
        monkeypatch.setattr(_train, "LLOYD_HEAVY_GAIN", 1e-3)
        est = SpaceFillingVQ(n_clusters=k, random_state=0).fit(X)
        last = [h for h in est.history_ if h["n_clusters"] == k][0]  # the last split stage
        fits[work] = (last["n_iter"], est.inertia_)
    light, heavy = fits[1 << 40], fits[1 << 16]
    assert heavy[0] < light[0]
    assert heavy[1] <= 1.01 * light[1]
    assert heavy[1] <= 1.03 * KMeans(k, n_init=1, random_state=0).fit(X).inertia_


def test_heavy_passes_on_all_rows_shorten_the_schedule(monkeypatch):
    """Data that is not subsampled but whose passes are heavy: coarse stages whose
    pass is heavy stop after LLOYD_HEAVY_STAGE_ITER iterations, no main run
    follows the last split stage and its moves (they ran on all rows), and every
    smoothing try polishes for LLOYD_HEAVY_POLISH_ITER iterations; the error stays
    at that of the light schedule and of KMeans."""
    from sklearn.cluster import KMeans

    from sksfvq import _chain
    from sksfvq._chain import Lloyd

    rng = np.random.default_rng(3)
    X = (rng.normal(size=(30, 5)) * 3.0)[rng.integers(0, 30, 6000)]
    X = X + rng.normal(size=X.shape)
    k = 40
    runs = []
    run = Lloyd.run

    def spy(self, C, smoothness, max_iter, tol_factor=1.0, err_tol=0.0, keep_start=False,
            **options):
        out = run(self, C, smoothness, max_iter, tol_factor, err_tol, keep_start, **options)
        runs.append((C.shape[0], smoothness, max_iter, tol_factor, err_tol, out[2],
                     options.get("relax", 1.0)))
        return out

    monkeypatch.setattr(Lloyd, "run", spy)
    fits = {}
    for work in (1 << 40, 1 << 15):  # light (as by default at this size), then heavy
        monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", work)
        runs.clear()
        est = SpaceFillingVQ(n_clusters=k, random_state=0).fit(X)
        fits[work] = (list(runs), est.inertia_)
    light, heavy = fits[1 << 40], fits[1 << 15]
    main = (_train.LLOYD_MAIN_TOL, _train.LLOYD_ERR_TOL)
    assert any((r[3], r[4]) == main for r in light[0])
    assert not any((r[3], r[4]) == main for r in heavy[0])
    assert {r[2] for r in light[0] if r[1] > 0} == {_chain.POLISH_ITER}
    assert {r[2] for r in heavy[0] if r[1] > 0} == {_train.LLOYD_HEAVY_POLISH_ITER}
    # the stages of 16 and 32 corners are heavy at this work bound (6000 x 16 x 5 > 2^15)
    coarse = [r for r in heavy[0] if r[1] == 0 and r[0] in (16, 32)]
    assert coarse and all(r[2] == _train.LLOYD_HEAVY_STAGE_ITER for r in coarse)
    # not subsampled: plain Lloyd iterations, heavy or light (the passes on all rows
    # keep bounds on AVX2 machines, which longer steps loosen)
    assert {r[6] for r in light[0]} == {r[6] for r in heavy[0]} == {1.0}
    assert heavy[1] <= 1.01 * light[1]
    assert heavy[1] <= 1.03 * KMeans(k, n_init=1, random_state=0).fit(X).inertia_


def test_heavy_passes_on_the_subsample_shorten_the_smoothing_tries(monkeypatch):
    """Subsampled data whose subsample is heavy to pass over: the smoothing search on
    the subsample polishes every try for LLOYD_HEAVY_POLISH_ITER iterations (light:
    POLISH_ITER), and the passes over all rows still finish the corners."""
    from sksfvq import _chain
    from sksfvq._chain import Lloyd

    rng = np.random.default_rng(1)
    X = (rng.normal(size=(40, 6)) * 3.0)[rng.integers(0, 40, 30_000)]
    X = (X + rng.normal(size=X.shape)).astype(np.float32)
    k = 24
    assert X.shape[0] > _train.LLOYD_ROWS_PER_CORNER * k  # subsampled
    runs = []
    run = Lloyd.run

    def spy(self, C, smoothness, max_iter, tol_factor=1.0, err_tol=0.0, keep_start=False,
            **options):
        runs.append((self.X.shape[0], smoothness, max_iter, options.get("relax", 1.0)))
        return run(self, C, smoothness, max_iter, tol_factor, err_tol, keep_start, **options)

    monkeypatch.setattr(Lloyd, "run", spy)
    polish = {}
    for work in (1 << 20, 1 << 16):  # the subsample's pass (6144 x 24 x 6) light, then heavy
        monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", work)
        runs.clear()
        SpaceFillingVQ(n_clusters=k, random_state=0).fit(X)
        sub = {r[2] for r in runs if r[0] < X.shape[0] and r[1] > 0}
        assert any(r[0] == X.shape[0] and r[1] > 0 for r in runs)  # finished on all rows
        # over-relaxed: the last run on the subsample and the passes over all rows,
        # not the coarse stages or the smoothing tries
        last = [r for r in runs if r[0] < X.shape[0] and r[1] == 0
                and r[2] == _train.LLOYD_SUB_ITER]
        assert len(last) == 1 and last[0][3] == _train.LLOYD_RELAX
        assert {r[3] for r in runs if r[0] == X.shape[0]} == {_train.LLOYD_RELAX}
        assert {r[3] for r in runs if r[0] < X.shape[0] and r[2] != _train.LLOYD_SUB_ITER} \
            == {1.0}
        polish[work] = sub
    assert polish[1 << 20] == {_chain.POLISH_ITER}
    assert polish[1 << 16] == {_train.LLOYD_HEAVY_POLISH_ITER}


def test_the_order_keeps_the_last_subsample_assignment_for_the_smoothing_search(monkeypatch):
    """Subsampled data heavy to pass over: the corners permuted into their
    order keep the assignment of the last subsample stage, so the smoothing
    search's first
    (reference) run on that subsample makes one pass fewer, and the fit is
    the same as when that pass is made."""
    from sksfvq._chain import Lloyd

    rng = np.random.default_rng(2)
    X = (rng.normal(size=(30, 5)) * 3.0)[rng.integers(0, 30, 20_000)]
    X = X + rng.normal(size=X.shape)
    k = 16
    assert X.shape[0] > _train.LLOYD_ROWS_PER_CORNER * k  # subsampled
    fits, first_passes = [], []
    for keep in (True, False):
        # the subsample's passes heavy: its search on the subsample, passes over all rows after
        monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", 1 << 16)
        if not keep:  # the subsample's cache is not carried through the order
            monkeypatch.setattr(_train._Rows, "permute",
                                lambda self, C, order: self.full.permute(C, order))
        passes = []
        nearest, run = Lloyd.nearest, Lloyd.run

        def count(self, C):
            passes.append(self.X.shape[0])
            return nearest(self, C)

        def spy(self, C, smoothness, max_iter, tol_factor=1.0, err_tol=0.0, keep_start=False,
                **options):
            if self.X.shape[0] < X.shape[0] and smoothness == 0 and max_iter < 10:
                before = len(passes)
                out = run(self, C, smoothness, max_iter, tol_factor, err_tol, keep_start, **options)
                first_passes.append((len(passes) - before, out[2]))
                return out
            return run(self, C, smoothness, max_iter, tol_factor, err_tol, keep_start, **options)

        monkeypatch.setattr(Lloyd, "nearest", count)
        monkeypatch.setattr(Lloyd, "run", spy)
        fits.append(SpaceFillingVQ(n_clusters=k, random_state=0).fit(X).cluster_centers_)
        monkeypatch.undo()
    (kept_passes, kept_it), (fresh_passes, fresh_it) = first_passes[0], first_passes[-1]
    assert kept_it == fresh_it and kept_passes == fresh_passes - 1
    np.testing.assert_array_equal(fits[0], fits[1])
