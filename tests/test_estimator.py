"""SpaceFillingVQ: behaviour a scikit-learn user relies on."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from sksfvq import SpaceFillingVQ
from sksfvq._init import norm_groups_init
from sksfvq.metrics import adj_ratio, mse_corner

from _reference import project as ref_project


@pytest.fixture(scope="module")
def gauss2():
    return np.random.default_rng(0).normal(size=(4000, 2))


@pytest.mark.parametrize("algorithm", ["lloyd", "sgd"])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 13])
def test_any_number_of_corners(gauss2, algorithm, k):
    est = SpaceFillingVQ(n_clusters=k, algorithm=algorithm, random_state=0, n_epochs=1)
    est.fit(gauss2)
    assert est.cluster_centers_.shape == (k, 2)
    assert np.isfinite(est.cluster_centers_).all()
    t = est.transform(gauss2)
    assert t.shape == (4000, 1)
    assert t.min() >= 0 and t.max() <= k - 1
    labels = est.predict(gauss2)
    assert labels.min() >= 0 and labels.max() <= k - 1
    np.testing.assert_array_equal(labels, est.labels_)
    if k == 1:
        np.testing.assert_allclose(est.cluster_centers_[0], gauss2.mean(axis=0))
        assert np.all(t == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("smoothness", [0.0, 0.02])
def test_labels_break_ties_as_predict_does(dtype, smoothness):
    """Rows equally near several corners (repeated rows, a lattice): ``labels_``
    gives the lowest index, as ``predict``, also after the corners were
    reordered or the curve reversed (both carried the last pass's labels
    over: float32 data with 5 distinct rows or on a 3 x 3 lattice had up to
    half its labels differ)."""
    rng = np.random.default_rng(0)
    sets = [np.ones((300, 4)), rng.normal(size=(5, 3))[rng.integers(0, 5, 400)],
            rng.integers(0, 3, (400, 2)).astype(float)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # dead corners
        for X in sets:
            X = X.astype(dtype)
            for k, seed in [(4, 0), (8, 1), (16, 2), (16, 3)]:
                est = SpaceFillingVQ(n_clusters=k, smoothness=smoothness,
                                     random_state=seed).fit(X)
                np.testing.assert_array_equal(est.labels_, est.predict(X))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_few_heavy_rows_do_not_take_every_corner(seed):
    """One row of weight 1e9 among 2,999 of weight 1: the coarse stages'
    weighted subsample holds that row only, so every corner started on it; the
    run on all rows left 14 of 16 there and the curve ended at 2.2 x the error
    of KMeans. Corners no row uses are moved where the rows are."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 4))
    w = np.ones(3000)
    w[0] = 1e9
    est = SpaceFillingVQ(n_clusters=16, random_state=seed).fit(X, sample_weight=w)
    km = KMeans(16, n_init=3, random_state=seed).fit(X, sample_weight=w)
    assert est.inertia_ <= 1.1 * km.inertia_
    assert est.n_dead_ == 0


def test_corners_left_dead_by_heavy_rows_are_moved_to_the_other_rows():
    """Five rows of weight 1e9 among 20,000: the subsample holds only them and
    every corner starts on them; no ELBG move gains enough to count beside
    them, so corners stayed dead (54 of 64, KMeans: none). Dead corners are
    moved onto the rows farthest from their corners, as k-means does."""
    X = np.random.default_rng(0).normal(size=(20_000, 64))
    w = np.ones(len(X))
    w[:5] = 1e9
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no dead-corner warning
        est = SpaceFillingVQ(n_clusters=64, random_state=0).fit(X, sample_weight=w)
    assert est.n_dead_ == 0
    assert np.bincount(est.predict(X), minlength=64).min() > 0



def test_attributes_and_kmeans_parity(gauss2):
    est = SpaceFillingVQ(n_clusters=16).fit(gauss2)
    km = KMeans(n_clusters=16, n_init=1, random_state=0).fit(gauss2)
    # score and inertia_ mean what they mean in KMeans
    d2 = ((gauss2[:, None] - est.cluster_centers_[None]) ** 2).sum(-1).min(1)
    assert est.inertia_ == pytest.approx(d2.sum(), rel=1e-9)
    assert est.score(gauss2) == pytest.approx(-d2.sum(), rel=1e-9)
    assert est.n_features_in_ == 2 and est.n_iter_ >= 1
    assert len(est.history_) >= 1 and est.history_[-1]["n_clusters"] == 16
    # an ordered codebook of (nearly) k-means quality
    assert est.inertia_ <= 1.10 * km.inertia_
    assert adj_ratio(est.cluster_centers_) < 0.6 < adj_ratio(km.cluster_centers_)


def test_transform_is_exact_projection(gauss2):
    est = SpaceFillingVQ(n_clusters=12).fit(gauss2)
    X = gauss2[:300]
    t = est.transform(X)
    pts = est.inverse_transform(t)
    ref_t, ref_d2 = ref_project(X, est.cluster_centers_)
    np.testing.assert_allclose(((X - pts) ** 2).sum(1), ref_d2, rtol=1e-9, atol=1e-12)
    # inverse_transform(transform(X)) is the nearest point: no corner is nearer
    d_corner = ((X[:, None] - est.cluster_centers_[None]) ** 2).sum(-1).min(1)
    assert np.all(((X - pts) ** 2).sum(1) <= d_corner + 1e-12)


def test_inverse_transform_hits_corners(gauss2):
    est = SpaceFillingVQ(n_clusters=6).fit(gauss2)
    pts = est.inverse_transform(np.arange(6.0)[:, None])
    np.testing.assert_array_equal(pts, est.cluster_centers_)
    mid = est.inverse_transform([[2.5]])
    np.testing.assert_allclose(mid[0], est.cluster_centers_[2:4].mean(0))


def test_float32_stays_float32(gauss2):
    X32 = gauss2.astype(np.float32)
    est = SpaceFillingVQ(n_clusters=8, random_state=0).fit(X32)
    assert est.cluster_centers_.dtype == np.float32
    assert est.transform(X32).dtype == np.float32
    assert est.inverse_transform(est.transform(X32)).dtype == np.float32
    est64 = SpaceFillingVQ(n_clusters=8, random_state=0).fit(gauss2)
    # float32 arithmetic may settle in another local optimum of the same quality
    assert est.inertia_ == pytest.approx(est64.inertia_, rel=0.03)
    # the kernels agree to float32 precision on the same corners (compare the
    # distances to the curve: positions may differ at exact ties)
    est64.cluster_centers_ = est.cluster_centers_.astype(np.float64)
    d32 = ((X32 - est.inverse_transform(est.transform(X32))) ** 2).sum(1)
    d64 = ((gauss2 - est64.inverse_transform(est64.transform(gauss2))) ** 2).sum(1)
    np.testing.assert_allclose(d32, d64, rtol=1e-3, atol=1e-5)


def test_canonical_orientation(gauss2):
    """Reversing or shifting the data's order does not reverse the fitted curve."""
    a = SpaceFillingVQ(n_clusters=8, random_state=0).fit(gauss2)
    b = SpaceFillingVQ(n_clusters=8, random_state=0).fit(gauss2[::-1])
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-8)
    # warm-starting from the reversed curve gives the canonical orientation again
    # (the warm start keeps its route up to local moves; orient() then leaves it)
    from sksfvq._init import orient

    assert orient(a.cluster_centers_[::-1])[1]  # the reversed curve is not canonical
    c = SpaceFillingVQ(n_clusters=8, init=a.cluster_centers_[::-1], max_iter=1,
                       random_state=0).fit(gauss2)
    assert not orient(c.cluster_centers_)[1]
    assert np.linalg.norm(c.cluster_centers_[1] - a.cluster_centers_[1]) < np.linalg.norm(
        c.cluster_centers_[1] - a.cluster_centers_[-2])


@pytest.mark.parametrize("init", ["split", "pca"])
def test_max_iter_caps_every_run_before_smoothing(monkeypatch, gauss2, init):
    """max_iter bounds each Lloyd run of the growth, the corner moves and the
    run on all rows (not the smoothing's polish runs): as KMeans' max_iter."""
    from sksfvq import _chain

    caps = []
    run = _chain.Lloyd.run

    def spy(self, C, smoothness, max_iter, keep_start=False, **options):
        out = run(self, C, smoothness, max_iter, keep_start=keep_start, **options)
        if not keep_start:  # the smoothing search's runs keep their start
            caps.append((max_iter, out[2]))
        return out

    monkeypatch.setattr(_chain.Lloyd, "run", spy)
    a = SpaceFillingVQ(n_clusters=16, init=init, random_state=0).fit(gauss2)
    assert max(it for _, it in caps) > 2  # the default runs longer than the cap below
    caps.clear()
    b = SpaceFillingVQ(n_clusters=16, init=init, max_iter=2, random_state=0).fit(gauss2)
    assert caps and max(cap for cap, _ in caps) <= 2
    assert not np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_sgd_is_reproducible_and_faithful(gauss2):
    a = SpaceFillingVQ(n_clusters=8, algorithm="sgd", random_state=3).fit(gauss2)
    b = SpaceFillingVQ(n_clusters=8, algorithm="sgd", random_state=3).fit(gauss2)
    c = SpaceFillingVQ(n_clusters=8, algorithm="sgd", random_state=4).fit(gauss2)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert not np.array_equal(a.cluster_centers_, c.cluster_centers_)
    # stages 4 -> 8, 5 epochs each, as published
    assert [h["n_clusters"] for h in a.history_] == [4, 8]
    assert a.n_iter_ == 10
    # trained: much better than its start (the 4 norm-quartile means), ordered
    start = norm_groups_init(gauss2, np.ones(len(gauss2)), 4)
    assert mse_corner(gauss2, a.cluster_centers_) < 0.7 * mse_corner(gauss2, start)
    assert adj_ratio(a.cluster_centers_) < 0.7


def test_sgd_loss_decreases_with_training(gauss2):
    short = SpaceFillingVQ(n_clusters=16, algorithm="sgd", n_epochs=1, random_state=0,
                           learning_rate=1e-4).fit(gauss2)
    long = SpaceFillingVQ(n_clusters=16, algorithm="sgd", n_epochs=5, random_state=0).fit(gauss2)
    assert mse_corner(gauss2, long.cluster_centers_) < mse_corner(gauss2, short.cluster_centers_)


def test_sgd_trains_a_one_corner_start():
    """A one-corner stage is the weighted mean, whatever the start, and it
    grows into distinct corners (two equal corners never separate)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 2)) + [3.0, -1.0]
    w = rng.integers(1, 4, len(X)).astype(float)
    one = SpaceFillingVQ(n_clusters=1, algorithm="sgd", init=np.array([[10.0, 10.0]]))
    np.testing.assert_allclose(one.fit(X, sample_weight=w).cluster_centers_[0],
                               np.average(X, axis=0, weights=w), rtol=1e-12)
    assert one.n_iter_ == 0  # no epoch ran
    four = SpaceFillingVQ(n_clusters=4, algorithm="sgd", init=np.array([[10.0, 10.0]]),
                          random_state=0).fit(X)
    assert len(np.unique(four.cluster_centers_.round(3), axis=0)) == 4
    assert four.n_dead_ == 0


def test_sgd_weights_count_with_batches_of_one_row():
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(-1, 0.3, (400, 1)), rng.normal(1, 0.3, (400, 1))]
    w = np.r_[np.ones(400), np.full(400, 50.0)]
    est = SpaceFillingVQ(n_clusters=4, algorithm="sgd", batch_size=1, n_epochs=5,
                         init=np.array([[-1.5], [-0.5], [0.5], [1.5]]), random_state=0)
    plain = est.fit(X).cluster_centers_
    heavy = est.fit(X, sample_weight=w).cluster_centers_
    # a batch normalised by its own weight cancelled it: both were the same
    assert heavy.mean() > plain.mean() + 0.1  # pulled to the heavy half

    def weighted_error(C):
        return np.average(np.min((X - C.T) ** 2, axis=1), weights=w)

    assert weighted_error(heavy) < weighted_error(plain)


def test_sgd_rows_of_weight_zero_are_absent():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 2))
    Xz = np.r_[X[:300], 5 * rng.normal(size=(300, 2)), X[300:]]
    wz = np.r_[np.ones(300), np.zeros(300), np.ones(300)]
    a = SpaceFillingVQ(n_clusters=8, algorithm="sgd", random_state=0).fit(X)
    b = SpaceFillingVQ(n_clusters=8, algorithm="sgd", random_state=0).fit(Xz, sample_weight=wz)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-9, atol=1e-12)
    assert b.labels_.shape == (900,)


def test_sgd_orders_kmeans_plus_plus_seeds():
    X = np.random.default_rng(3).normal(size=(4000, 2))
    C = SpaceFillingVQ(n_clusters=32, algorithm="sgd", init="k-means++",
                       random_state=0).fit(X).cluster_centers_
    shuffled = C[np.random.default_rng(0).permutation(len(C))]
    assert (np.linalg.norm(np.diff(C, axis=0), axis=1).sum()
            < 0.6 * np.linalg.norm(np.diff(shuffled, axis=0), axis=1).sum())


def test_sgd_dead_corners_warning_names_the_recipes_steps():
    X = np.random.default_rng(0).normal(size=(300, 2))  # 300 distinct rows, 64 corners
    with pytest.warns(ConvergenceWarning, match="'sgd' recipe's steps"):
        est = SpaceFillingVQ(n_clusters=64, algorithm="sgd", random_state=0).fit(X)
    assert est.n_dead_ > 0


def test_sgd_refuses_split_growth():
    with pytest.raises(ValueError, match="init='split'.*'lloyd'"):
        SpaceFillingVQ(n_clusters=8, algorithm="sgd", init="split").fit(
            np.random.default_rng(0).normal(size=(100, 2)))


def test_smoothness_trades_error_for_order(gauss2):
    rough = SpaceFillingVQ(n_clusters=16, smoothness=0.0).fit(gauss2)
    smooth = SpaceFillingVQ(n_clusters=16, smoothness=1.0).fit(gauss2)
    assert rough.inertia_ < smooth.inertia_
    assert adj_ratio(smooth.cluster_centers_) < adj_ratio(rough.cluster_centers_)


def test_n_jobs_bit_identical(gauss2):
    a = SpaceFillingVQ(n_clusters=16, n_jobs=1, random_state=0).fit(gauss2)
    b = SpaceFillingVQ(n_clusters=16, n_jobs=2, random_state=0).fit(gauss2)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.transform(gauss2), b.transform(gauss2))
    s1 = SpaceFillingVQ(n_clusters=8, algorithm="sgd", random_state=0, n_jobs=1).fit(gauss2)
    s2 = SpaceFillingVQ(n_clusters=8, algorithm="sgd", random_state=0, n_jobs=2).fit(gauss2)
    np.testing.assert_array_equal(s1.cluster_centers_, s2.cluster_centers_)


def test_sample_weight_equals_repeated_rows(gauss2):
    X = gauss2[:500]
    w = np.random.default_rng(1).integers(0, 4, size=500)
    a = SpaceFillingVQ(n_clusters=8, random_state=0).fit(X, sample_weight=w)
    b = SpaceFillingVQ(n_clusters=8, random_state=0).fit(np.repeat(X, w, axis=0))
    # to rounding: weighted and repeated sums round differently, which can move
    # a stopping test by one iteration (a real difference would be ~1e-2)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-6, atol=1e-7)
    q = SpaceFillingVQ(n_clusters=8, init="norm-quartiles", random_state=1).fit(
        X, sample_weight=w)
    r = SpaceFillingVQ(n_clusters=8, init="norm-quartiles", random_state=1).fit(
        np.repeat(X, w, axis=0))
    np.testing.assert_allclose(q.cluster_centers_, r.cluster_centers_, rtol=1e-6, atol=1e-7)


def test_warm_start_from_array(gauss2):
    first = SpaceFillingVQ(n_clusters=8, random_state=0).fit(gauss2)
    warm = SpaceFillingVQ(n_clusters=8, init=first.cluster_centers_).fit(gauss2)
    assert warm.inertia_ <= first.inertia_ * 1.001
    grown = SpaceFillingVQ(n_clusters=16, init=first.cluster_centers_).fit(gauss2)
    assert grown.cluster_centers_.shape == (16, 2)
    assert grown.inertia_ < first.inertia_
    # a fitted k-means codebook as the start: same error, ordered
    km = KMeans(n_clusters=8, n_init=1, random_state=0).fit(gauss2)
    for seed in range(4):  # the given codebook is the start, whatever the seed
        from_km = SpaceFillingVQ(n_clusters=8, init=km.cluster_centers_, smoothness=0.0,
                                 random_state=seed).fit(gauss2)
        assert from_km.inertia_ <= km.inertia_ * 1.0001
        assert adj_ratio(from_km.cluster_centers_) < adj_ratio(km.cluster_centers_)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), "infinity"),
        (np.empty((0, 2)), "0 sample"),
        (np.zeros((3, 2, 2)), "3"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "convert|string"),
    ],
)
def test_bad_input_is_named(X, match):
    before = X.copy()
    with pytest.raises((ValueError, TypeError), match=match):
        SpaceFillingVQ(n_clusters=2).fit(X)
    np.testing.assert_array_equal(X, before) if X.dtype.kind != "f" else None


def test_too_few_samples():
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        SpaceFillingVQ(n_clusters=4).fit(np.eye(3))


def test_wrong_width_at_predict(gauss2):
    est = SpaceFillingVQ(n_clusters=4).fit(gauss2)
    for method in (est.predict, est.transform, est.score):
        with pytest.raises(ValueError, match="features"):
            method(np.zeros((3, 5)))


def test_inverse_transform_checks_positions(gauss2):
    est = SpaceFillingVQ(n_clusters=4).fit(gauss2)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        est.inverse_transform([[3.5]])
    with pytest.raises(ValueError, match="1\\)"):
        est.inverse_transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        est.inverse_transform([[np.nan]])


def test_bad_init_array(gauss2):
    with pytest.raises(ValueError, match="init array"):
        SpaceFillingVQ(n_clusters=4, init=np.zeros((5, 2))).fit(gauss2)
    with pytest.raises(ValueError, match="init array"):
        SpaceFillingVQ(n_clusters=4, init=np.zeros((2, 3))).fit(gauss2)


def test_inputs_never_mutated(gauss2):
    X = gauss2[:300].copy()
    w = np.ones(300)
    X0, w0 = X.copy(), w.copy()
    est = SpaceFillingVQ(n_clusters=5).fit(X, sample_weight=w)
    est.transform(X), est.predict(X), est.score(X, sample_weight=w)
    T = est.transform(X)
    T0 = T.copy()
    est.inverse_transform(T)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(T, T0)


def test_dead_corners_from_smoothing_are_explained():
    """A small group far from the rest: the smoothed curve leaves corners in
    the gap, which the warning says (fewer distinct points, the only cause
    it named, is not the reason here); without smoothing there are none."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(4950, 6)), 50 + rng.normal(size=(50, 6))])
    with pytest.warns(ConvergenceWarning, match="empty space between separate groups"):
        est = SpaceFillingVQ(n_clusters=32, random_state=0).fit(X)
    assert est.n_dead_ > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert SpaceFillingVQ(n_clusters=32, random_state=0, smoothness=0).fit(X).n_dead_ == 0


def test_dead_corners_of_the_smoothing_are_not_moved_again_on_large_data(monkeypatch):
    """Large data (the subsampled schedule, forced here on 5,000 rows): when
    only the smoothing leaves corners dead, in the gap between two groups,
    moving them and running again at the same smoothness left them dead again
    and cost a fifth of a fit (327,346 x 14, K=1024: 4.2 of 18.7 s). The
    move is kept for corners dead without the smoothing (heavy rows)."""
    from sksfvq import _train

    monkeypatch.setattr(_train, "LLOYD_ROWS_PER_CORNER", 48)
    monkeypatch.setattr(_train, "LLOYD_HEAVY_ROWS_PER_CORNER", 40)
    monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", 1)
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(4950, 6)), 50 + rng.normal(size=(50, 6))])
    with pytest.warns(ConvergenceWarning, match="empty space between separate groups"):
        est = SpaceFillingVQ(n_clusters=32, random_state=0).fit(X)
    stages = [h for h in est.history_ if h["n_clusters"] == 32]
    assert any(h["n_iter"] > 0 for h in stages)  # the run on all rows happened
    assert est.n_dead_ > 0
    assert len(est.history_) == len(SpaceFillingVQ(n_clusters=32, random_state=0,
                                                   smoothness=0).fit(X).history_)
    # corners dead without the smoothing (five heavy rows) are still moved
    X = np.random.default_rng(0).normal(size=(20_000, 8))
    w = np.ones(len(X))
    w[:5] = 1e9
    est = SpaceFillingVQ(n_clusters=32, random_state=0).fit(X, sample_weight=w)
    assert est.n_dead_ == 0


def test_verbose_prints_one_line_per_stage_and_a_dash_for_no_loss(monkeypatch, capsys):
    """verbose=1: one line per stage of history_; the stages that measure no
    loss (NaN in history_: ordering and smoothness search on a subsample)
    print 'loss=-', not 'loss=nan', which read as a numerical failure."""
    from sksfvq import _train

    monkeypatch.setattr(_train, "LLOYD_ROWS_PER_CORNER", 48)
    monkeypatch.setattr(_train, "LLOYD_HEAVY_ROWS_PER_CORNER", 40)
    monkeypatch.setattr(_train, "LLOYD_EXACT_WORK", 1)
    X = np.random.default_rng(1).normal(size=(5000, 4))
    est = SpaceFillingVQ(n_clusters=16, random_state=0, verbose=1).fit(X)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[lloyd")]
    stages = lines[:-1]  # then "[lloyd] done in ..."
    assert len(stages) == len(est.history_)
    assert "nan" not in " ".join(lines)
    no_loss = [h for h in est.history_ if np.isnan(h["loss"])]
    assert len(no_loss) == 2 and sum("loss=-" in ln for ln in stages) == 2


def test_identical_rows_warn_dead_corners():
    X = np.ones((20, 3))
    with pytest.warns(ConvergenceWarning, match="dead corners.*fewer distinct points") as got:
        est = SpaceFillingVQ(n_clusters=4).fit(X)
    assert not any("empty space" in str(w.message) for w in got)  # nothing was smoothed
    np.testing.assert_allclose(est.cluster_centers_, 1.0)
    assert est.n_dead_ == 3
    t = est.transform(X)
    assert np.all((t >= 0) & (t <= 3))
    np.testing.assert_allclose(est.inverse_transform(t), 1.0)


def test_clone_and_params():
    est = SpaceFillingVQ(n_clusters=5, smoothness=0.1)
    assert clone(est).get_params() == est.get_params()


# -------------------------------------------------------------- partial_fit
def test_partial_fit_first_call_is_fit(gauss2):
    a = SpaceFillingVQ(n_clusters=8, random_state=0).partial_fit(gauss2[:1000])
    b = SpaceFillingVQ(n_clusters=8, random_state=0).fit(gauss2[:1000])
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_partial_fit_refines_without_reinitialising(gauss2):
    est = SpaceFillingVQ(n_clusters=8, random_state=0).partial_fit(gauss2[:500])
    before = est.cluster_centers_.copy()
    est.partial_fit(gauss2[500:1000])
    after = est.cluster_centers_
    assert not np.array_equal(before, after)
    # every corner moved a little, none swapped places: the order is kept
    moved = np.linalg.norm(after - before, axis=1)
    spacing = np.linalg.norm(np.diff(before, axis=0), axis=1).min()
    assert moved.max() < spacing
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(np.zeros((10, 3)))


def test_partial_fit_stream_reaches_batch_quality():
    X = np.random.default_rng(5).normal(size=(32768, 2))
    batch = SpaceFillingVQ(n_clusters=16, random_state=0).fit(X)
    stream = SpaceFillingVQ(n_clusters=16, random_state=0)
    for chunk in np.array_split(X, 16):
        stream.partial_fit(chunk)
    assert mse_corner(X, stream.cluster_centers_) <= 1.05 * mse_corner(X, batch.cluster_centers_)
    assert adj_ratio(stream.cluster_centers_) < 0.6


def test_any_k_grows_by_doubling_then_inserts(gauss2):
    est = SpaceFillingVQ(n_clusters=12, init="pca", random_state=0).fit(gauss2)
    sizes = [h["n_clusters"] for h in est.history_]
    assert sizes[:3] == [2, 4, 8] and sizes[-1] == 12


@pytest.mark.slow
def test_import_defers_numba_and_algorithm_names_match():
    """``import sksfvq`` loads no Numba (the kernels load on first use)."""
    import subprocess
    import sys

    from sksfvq import _sfvq, _train

    assert set(_sfvq.ALGORITHMS) == set(_train.TRAINERS)
    code = ("import sys, numpy as np, sksfvq; assert 'numba' not in sys.modules, 'numba';"
            "m = sksfvq.SpaceFillingVQ(4, random_state=0).fit(np.random.rand(50, 2));"
            "assert 'numba' in sys.modules; print(m.predict(np.zeros((1, 2))).shape)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(1,)"


def test_n_init_keeps_the_best_screened_start(gauss2):
    """n_init > 1: every seeding runs a few Lloyd iterations; the lowest-error one goes on."""
    from sksfvq import _chain, _init, _train

    X = gauss2[:3000].astype(np.float64)
    w = np.ones(len(X))
    lloyd = _chain.Lloyd(X, w, 12, 1e-4)
    chosen = _train._screened_kmeans_plus_plus(lloyd, X, w, 12, 4, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    ordered = _init.canonical_order(X, w)
    runs = [lloyd.run(_init.kmeans_plus_plus(X, w, 12, rng, ordered), 0.0,
                      _train.LLOYD_SCREEN_ITER) for _ in range(4)]
    errors = [r[1] for r in runs]
    assert len(set(np.round(errors, 12))) > 1  # the starts differ
    np.testing.assert_array_equal(chosen, runs[int(np.argmin(errors))][0])
    # and the estimator accepts it end to end
    est = SpaceFillingVQ(n_clusters=12, init="k-means++", n_init=4, random_state=0).fit(X)
    assert est.cluster_centers_.shape == (12, 2)


@pytest.mark.parametrize("algorithm", ["lloyd", "sgd"])
def test_history_loss_is_a_squared_distance_per_row(algorithm):
    """One unit for both trainers (sgd recorded its loss per feature: 10 times
    smaller on 10 features than the default trainer's)."""
    X = np.random.default_rng(0).normal(size=(2000, 10))
    est = SpaceFillingVQ(16, algorithm=algorithm, random_state=0).fit(X)
    per_row = est.inertia_ / X.shape[0]
    last = est.history_[-1]["loss"]
    if algorithm == "lloyd":  # the last stage's rows are all rows, at the fitted corners
        assert last == pytest.approx(per_row, rel=1e-6)
    else:  # the training loss of the dithered points: the same scale
        assert 0.8 * per_row < last < 1.3 * per_row


def test_narrow_numpy_ints_as_counts():
    """n_clusters as np.uint8 / np.int16 (a column of candidate sizes): the same
    fit as the Python int (the schedule's products overflowed in uint8/int16)."""
    X = np.random.default_rng(0).normal(size=(3000, 4))
    ref = SpaceFillingVQ(200, random_state=0).fit(X)
    for k in (np.int16(200), np.uint8(200)):
        est = SpaceFillingVQ(k, random_state=0, n_init=np.int8(1)).fit(X)
        np.testing.assert_array_equal(est.cluster_centers_, ref.cluster_centers_)
