"""Bad input and faults: every case works correctly or raises a clear error.

(The hypothesis properties of the kernels are in ``test_kernel_properties.py``.)
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.base import clone

from sksfvq import SpaceFillingVQ
from sksfvq._engine import nearest_corner, project
from sksfvq.metrics import mse_curve

K = 4


def _quiet_fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, **kw)


@pytest.fixture(scope="module")
def fitted():
    X = np.random.default_rng(0).normal(size=(200, 3))
    return SpaceFillingVQ(n_clusters=K, random_state=0).fit(X)


def _nan_rows():
    X = np.random.default_rng(1).normal(size=(20, 3))
    X[3, 1] = np.nan
    return X


def _inf_rows(sign):
    X = np.random.default_rng(1).normal(size=(20, 3))
    X[5, 2] = sign * np.inf
    return X


BAD = [
    ("nan", _nan_rows, ValueError, "NaN"),
    ("+inf", lambda: _inf_rows(1), ValueError, "infinity"),
    ("-inf", lambda: _inf_rows(-1), ValueError, "infinity"),
    ("empty", lambda: np.empty((0, 3)), ValueError, "0 sample"),
    ("1-D", lambda: np.arange(12.0), ValueError, "2D array"),
    ("3-D", lambda: np.zeros((4, 3, 2)), ValueError, "dim 3"),
    ("strings", lambda: np.array([["a", "b", "c"]] * 10), ValueError, "convert string"),
    ("complex", lambda: np.ones((10, 3)) + 1j, ValueError, "[Cc]omplex"),
    ("sparse", lambda: sp.random(20, 3, density=0.5, format="csr", random_state=0), TypeError,
     "[Ss]parse"),
]


@pytest.mark.parametrize("name,make,error,match", BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("method", ["fit", "predict", "transform", "score", "partial_fit"])
def test_bad_input_raises_clear_error(fitted, name, make, error, match, method):
    X = make()
    before = X.copy()
    if method == "fit":
        target = SpaceFillingVQ(n_clusters=K)
    elif method == "partial_fit":
        if not hasattr(SpaceFillingVQ, "partial_fit"):
            pytest.skip("no partial_fit")
        target = SpaceFillingVQ(n_clusters=K)
    else:
        target = fitted
    with pytest.raises(error, match=match):
        getattr(target, method)(X)
    if sp.issparse(X):
        np.testing.assert_array_equal(X.toarray(), before.toarray())
    else:
        np.testing.assert_array_equal(X, before)


def test_object_dtype_of_numbers_works(fitted):
    X = np.random.default_rng(2).normal(size=(30, 3))
    np.testing.assert_array_equal(fitted.predict(X.astype(object)), fitted.predict(X))


def test_wrong_number_of_features(fitted):
    for method in ("predict", "transform", "score"):
        with pytest.raises(ValueError, match="features"):
            getattr(fitted, method)(np.zeros((5, 4)))


def test_inverse_transform_bad_positions(fitted):
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        fitted.inverse_transform(np.array([[-0.5]]))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        fitted.inverse_transform(np.array([[3.5]]))
    with pytest.raises(ValueError):
        fitted.inverse_transform(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="columns|1"):
        fitted.inverse_transform(np.zeros((3, 2)))


def test_more_clusters_than_samples():
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        SpaceFillingVQ(n_clusters=5).fit(np.zeros((3, 2)))


def test_identical_rows():
    X = np.tile([[1.5, -2.0, 3.0]], (40, 1))
    before = X.copy()
    est = _quiet_fit(SpaceFillingVQ(n_clusters=K, random_state=0), X)
    np.testing.assert_array_equal(X, before)
    assert np.all(np.isfinite(est.cluster_centers_))
    np.testing.assert_allclose(est.cluster_centers_, X[:K], atol=1e-12)
    assert est.inertia_ == pytest.approx(0.0, abs=1e-20)
    t = est.transform(X)
    assert np.all((t >= 0) & (t <= K - 1))
    np.testing.assert_allclose(est.inverse_transform(t), X, atol=1e-12)


def test_constant_columns_are_kept_constant():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(size=300), np.full(300, 7.0), rng.normal(size=300),
                         np.zeros(300)])
    est = SpaceFillingVQ(n_clusters=6, random_state=0).fit(X)
    np.testing.assert_allclose(est.cluster_centers_[:, 1], 7.0, rtol=1e-12)
    np.testing.assert_allclose(est.cluster_centers_[:, 3], 0.0, atol=1e-12)
    # the same curve as without those columns, in the remaining ones (up to
    # the last polishing iteration: the stopping tolerance is relative to the
    # mean feature variance, as in KMeans, which constant columns lower)
    ref = SpaceFillingVQ(n_clusters=6, random_state=0).fit(X[:, [0, 2]])
    np.testing.assert_allclose(est.cluster_centers_[:, [0, 2]], ref.cluster_centers_,
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_magnitudes(scale, dtype, request):
    """Values around 1e+-30: the fit works or refuses clearly; results are exact."""
    X0 = np.random.default_rng(4).normal(size=(300, 2))
    X = (X0 * scale).astype(dtype)
    est = SpaceFillingVQ(n_clusters=5, random_state=0)
    try:
        _quiet_fit(est, X)
    except ValueError as exc:  # an explicit refusal is acceptable
        assert "overflow" in str(exc) or "range" in str(exc) or "finite" in str(exc)
        return
    C = est.cluster_centers_
    assert C.dtype == dtype and np.all(np.isfinite(C))
    # nearest corner labels are the true ones (computed in float64 on rescaled values)
    ref = ((X.astype(np.float64)[:, None, :] / scale - C.astype(np.float64)[None] / scale) ** 2
           ).sum(-1)
    labels = est.predict(X)
    chosen = ref[np.arange(len(X)), labels]
    assert np.all(chosen <= ref.min(axis=1) * (1 + 1e-5) + 1e-12)
    t = est.transform(X)
    assert t.dtype == dtype and np.all((t >= 0) & (t <= 4))
    # the relative quality does not depend on the unit (squared distances ~1e60
    # overflow float32: inertia_ and score are summed in float64)
    assert np.isfinite(est.inertia_) and np.isfinite(est.score(X))
    unit = SpaceFillingVQ(n_clusters=5, random_state=0).fit(X0)
    assert -est.score(X) / scale**2 <= 1.5 * -unit.score(X0)


@pytest.mark.parametrize("dtype,exponents", [(np.float64, [-300, -100, 100, 300]),
                                              (np.float32, [-100, 100])])
def test_a_power_of_two_unit_changes_no_bit(dtype, exponents):
    """Data times 2^e (float32 near 1e-30 or 1e30, float64 near 1e-90 or 1e90)
    fits the same curve times 2^e: every step is relative to the data's scale
    (the float32 squares of such data under- or overflow: the kernels hand back
    their distances in float64, the neighbour graph and the cells' axes rescale)."""
    X = np.random.default_rng(9).normal(size=(600, 4))
    unit = SpaceFillingVQ(n_clusters=8, random_state=0).fit(X.astype(dtype))
    for e in exponents:
        Xs = np.ldexp(X, e).astype(dtype)
        est = SpaceFillingVQ(n_clusters=8, random_state=0).fit(Xs)
        np.testing.assert_array_equal(est.cluster_centers_, np.ldexp(unit.cluster_centers_, e))
        assert est.inertia_ == np.ldexp(unit.inertia_, 2 * e)
        np.testing.assert_array_equal(est.predict(Xs), unit.predict(X.astype(dtype)))
        # (float32 projections beyond 2^+-60 work at a clamped working scale:
        # positions, in [0, 7], may differ in their last bits)
        np.testing.assert_allclose(est.transform(Xs), unit.transform(X.astype(dtype)),
                                   rtol=0, atol=16 * np.finfo(dtype).eps)
        # distances to the curve too (float32 squares near 2^-200 or 2^200 are
        # out of float32's range: they are handed back in float64)
        np.testing.assert_allclose(mse_curve(Xs, est.cluster_centers_),
                                   np.ldexp(mse_curve(X.astype(dtype), unit.cluster_centers_),
                                            2 * e), rtol=1e-6)


@pytest.mark.parametrize("e", [-600, 600])
def test_float64_beyond_squared_range_is_refused(e):
    X = np.ldexp(np.random.default_rng(10).normal(size=(50, 3)), e)
    with pytest.raises(ValueError, match="Rescale"):
        SpaceFillingVQ(n_clusters=4).fit(X)


def test_duplicate_rows_act_like_weights():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 2))
    counts = rng.integers(1, 4, size=200)
    X_dup = np.repeat(X, counts, axis=0)
    a = SpaceFillingVQ(n_clusters=6, random_state=0).fit(X_dup)
    b = SpaceFillingVQ(n_clusters=6, random_state=0).fit(X, sample_weight=counts)
    # same objective: equal within rounding, or (different local optimum) equally good
    ia = -a.score(X, sample_weight=counts)
    ib = -b.score(X, sample_weight=counts)
    assert ia == pytest.approx(ib, rel=0.05)
    assert a.inertia_ == pytest.approx(ia, rel=1e-9)


def test_zero_weights_ignore_rows():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 2))
    w = np.ones(300)
    w[::3] = 0.0
    X_far = X.copy()
    X_far[::3] += 1e3  # zero-weight rows far away must not pull any corner
    w_before = w.copy()
    a = _quiet_fit(SpaceFillingVQ(n_clusters=5, random_state=0), X_far, sample_weight=w)
    np.testing.assert_array_equal(w, w_before)
    assert np.abs(a.cluster_centers_).max() < 50
    b = SpaceFillingVQ(n_clusters=5, random_state=0).fit(X[w > 0])
    assert -a.score(X[w > 0]) == pytest.approx(-b.score(X[w > 0]), rel=0.05)


def test_all_zero_or_negative_weights_raise():
    X = np.random.default_rng(7).normal(size=(50, 2))
    with pytest.raises(ValueError, match="zero"):
        SpaceFillingVQ(n_clusters=3).fit(X, sample_weight=np.zeros(50))
    w = np.ones(50)
    w[4] = -1.0
    with pytest.raises(ValueError, match="[Nn]egative"):
        SpaceFillingVQ(n_clusters=3).fit(X, sample_weight=w)
    with pytest.raises(ValueError):
        SpaceFillingVQ(n_clusters=3).fit(X, sample_weight=np.ones(49))


def test_read_only_input(fitted):
    X = np.random.default_rng(8).normal(size=(100, 3))
    X.setflags(write=False)
    est = SpaceFillingVQ(n_clusters=K, random_state=0).fit(X)
    est.predict(X)
    est.transform(X)
    fitted.transform(X)


def test_kernel_overflow_is_redone_in_float64():
    """float32 rows whose squared distances overflow still get exact answers."""
    C = np.array([[0.0, 0.0], [1e20, 0.0], [1e20, 1e20]], dtype=np.float32)
    X = np.array([[0.9e20, 1e19], [1e19, 0.0], [1.1e20, 0.6e20]], dtype=np.float32)
    labels, d2 = nearest_corner(X, C)
    np.testing.assert_array_equal(labels, [1, 0, 2])
    assert d2.dtype == np.float64 and np.all(np.isfinite(d2))
    pos, seg, dist = project(X, C)
    assert pos.dtype == np.float32
    np.testing.assert_allclose(pos, [0.9, 0.1, 1.6], rtol=1e-5)
    # a row whose squared distances exceed float32's range is still placed exactly
    far = np.array([[3e25, 1e25], [-2e25, 5e24]], dtype=np.float32)
    ref = (((far.astype(np.float64)[:, None] - C.astype(np.float64)[None]) / 1e20) ** 2).sum(-1)
    np.testing.assert_array_equal(nearest_corner(far, C)[0], ref.argmin(axis=1))


def test_non_finite_rows_in_kernels_do_not_crash():
    """The estimator rejects NaN; the kernels still return in-range answers."""
    C = np.array([[0.0, 0.0], [1.0, 0.0]])
    X = np.array([[np.nan, 0.0], [0.5, 0.5]])
    labels, d2 = nearest_corner(X, C)
    assert labels[0] == 0 and np.isinf(d2[0]) and labels[1] == 0
    pos, seg, d = project(X, C)
    assert pos[0] == 0 and seg[0] == 0 and np.isinf(d[0]) and pos[1] == 0.5


def test_large_offset_float64_trains_as_well_as_centred_data():
    """Training assigns float64 rows in float32 after removing their mean:
    an offset of 1e9 (beyond float32's 7 digits) must not cost quality."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 3))
    ref = SpaceFillingVQ(n_clusters=12, random_state=0).fit(X)
    far = SpaceFillingVQ(n_clusters=12, random_state=0).fit(X + 1e9)
    assert far.cluster_centers_.dtype == np.float64
    # float64 offsets of 1e9 keep ~1e-7 absolute precision: same quality
    np.testing.assert_allclose(far.inertia_, ref.inertia_, rtol=0.03)
    np.testing.assert_allclose(far.score(X + 1e9), ref.score(X), rtol=0.03)
    # and the order: the corners' distances are taken from their mean (the
    # products of corners near 1e9 cancel: the path was 15-20 % longer)
    def length(est, offset):
        return np.linalg.norm(np.diff(est.cluster_centers_ - offset, axis=0), axis=1).sum()

    assert length(far, 1e9) <= 1.01 * length(ref, 0.0)


def test_later_partial_fit_and_init_array_beyond_squared_range_are_refused():
    X = np.random.default_rng(11).normal(size=(300, 3))
    est = SpaceFillingVQ(n_clusters=4, random_state=0).partial_fit(X)
    C = est.cluster_centers_.copy()
    with pytest.raises(ValueError, match="fitted corners spreads.*Rescale"):
        est.partial_fit(X * 1e160)  # as fit or a first partial_fit refuse it
    np.testing.assert_array_equal(est.cluster_centers_, C)
    with pytest.raises(ValueError, match="init array spreads.*Rescale"):
        SpaceFillingVQ(n_clusters=3, init=X[:3] * 1e160).fit(X)
    with pytest.raises(ValueError, match="float32 range"):
        SpaceFillingVQ(n_clusters=3, init=X[:3] * 1e40).fit(X.astype(np.float32))


def test_inverse_transform_range_is_the_fitted_corners(fitted):
    est = clone(fitted).fit(np.random.default_rng(12).normal(size=(200, 3)))
    est.set_params(n_clusters=6)  # a parameter set after fitting changes no corner
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        est.inverse_transform([[5.0]])
    est.set_params(n_clusters=2)
    assert_allclose(est.inverse_transform([[3.0]])[0], est.cluster_centers_[3])


@pytest.mark.parametrize("params, error, match", [
    (dict(n_clusters=True), TypeError, "n_clusters must be an int, not a bool"),
    (dict(n_clusters=4, max_iter=True), TypeError, "max_iter"),
    (dict(n_clusters=4, n_jobs=0), ValueError, "n_jobs"),
    (dict(n_clusters=4, algorithm="sgd", lr_milestones=("a",)), ValueError, "lr_milestones"),
    (dict(n_clusters=4, algorithm="sgd", lr_milestones=(0.5, np.nan)), ValueError,
     "lr_milestones"),
])
def test_parameters_that_passed_validation_are_named(params, error, match):
    X = np.random.default_rng(13).normal(size=(100, 2))
    with pytest.raises(error, match=match):
        SpaceFillingVQ(**params).fit(X)


def test_feature_names_out_needs_a_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SpaceFillingVQ(4).get_feature_names_out()


@pytest.mark.parametrize("e", [1, -1, 100, -300])
def test_kmeans_plus_plus_on_integer_data_is_unit_free(e):
    # integer rows differ in no low byte: their raw bytes sorted by exponent,
    # so the seeding order (and the fit) changed with a power-of-two unit
    X = np.random.default_rng(3).integers(-3, 3, (300, 2)).astype(np.float64)
    unit = SpaceFillingVQ(7, init="k-means++", random_state=0).fit(X)
    est = SpaceFillingVQ(7, init="k-means++", random_state=0).fit(np.ldexp(X, e))
    np.testing.assert_array_equal(est.cluster_centers_, np.ldexp(unit.cluster_centers_, e))


def test_orientation_of_a_symmetric_curve_is_unit_free():
    # the principal axis (1, -1) / sqrt 2: its two components tie up to the last bit
    X = np.repeat([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [0.5, 0.5], [1.5, 1.5]], 20, axis=0)
    unit = SpaceFillingVQ(2, random_state=0).fit(X)
    for e in (-300, 7, 490):
        est = SpaceFillingVQ(2, random_state=0).fit(np.ldexp(X, e))
        np.testing.assert_array_equal(np.ldexp(est.cluster_centers_, -e), unit.cluster_centers_)


def test_sgd_warns_on_data_far_from_unit_scale():
    X = np.random.default_rng(0).normal(size=(500, 2))
    with pytest.warns(UserWarning, match="Standardise X"):
        SpaceFillingVQ(4, algorithm="sgd", n_epochs=1, random_state=0).fit(X * 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        SpaceFillingVQ(4, algorithm="sgd", n_epochs=1, random_state=0).fit(X)


@pytest.mark.parametrize("algorithm", ["lloyd", "sgd"])
def test_weights_whose_sum_overflows_are_refused(algorithm):
    X = np.random.default_rng(0).normal(size=(300, 2))
    with pytest.raises(ValueError, match="Sample weights sum to more than float64"):
        SpaceFillingVQ(4, algorithm=algorithm).fit(X, sample_weight=np.full(300, 1e306))


def test_sgd_tiny_uniform_weights_are_unit_weights():
    """The recipe's gradients count w_i / mean(w): a common factor of the
    weights cancels (1 / (batch weight) overflowed to inf for 1e-310)."""
    X = np.random.default_rng(1).normal(size=(400, 2))
    est = SpaceFillingVQ(4, algorithm="sgd", n_epochs=2, random_state=0)
    unit = est.fit(X).cluster_centers_
    for s in (1e-300, 1e-310):
        tiny = est.fit(X, sample_weight=np.full(400, s)).cluster_centers_
        assert np.isfinite(tiny).all()
        np.testing.assert_allclose(tiny, unit, atol=1e-6)


def test_rows_whose_distances_exceed_float64_predict_quietly():
    """Rows 2^520 from corners of unit 2^490: their squared distances are beyond
    float64 (inf, as meant), their labels and positions are still exact, and
    no numpy overflow warning reaches the user."""
    rng = np.random.default_rng(0)
    est = SpaceFillingVQ(8, random_state=0).fit(np.ldexp(rng.normal(size=(500, 3)), 490))
    Z = np.ldexp(rng.normal(size=(5, 3)), 520)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = est.predict(Z)
        pos = est.transform(Z)[:, 0]
        assert est.score(Z) == -np.inf
    C = np.ldexp(est.cluster_centers_, -520)
    D = ((np.ldexp(Z, -520)[:, None] - C[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, D.argmin(1))
    assert np.all((pos >= 0) & (pos <= 7))


def test_a_refused_fit_keeps_the_fitted_width(fitted):
    est = clone(fitted).fit(np.random.default_rng(14).normal(size=(200, 3)))
    with pytest.raises(ValueError, match="n_samples=2"):
        est.fit(np.zeros((2, 5)))  # read (5 features), then refused: fewer rows than corners
    assert est.n_features_in_ == 3
    assert est.predict(np.zeros((4, 3))).shape == (4,)
