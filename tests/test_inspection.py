"""sksfvq.inspection on hand-checked tiny cases."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError

from sksfvq import SpaceFillingVQ
from sksfvq import inspection as ins


def fixed_curve(C):
    """An estimator whose corners are exactly C (fit on its own corners)."""
    C = np.asarray(C, dtype=np.float64)
    est = SpaceFillingVQ(C.shape[0], smoothness=0, init=C).fit(C)
    est.cluster_centers_ = C  # the estimator may orient a curve either way; pin this order
    return est


# ---------------------------------------------------------------- profiles
def test_profiles_counts_smoothing_and_normalisation():
    idx = [0, 0, 0, 1, 4, 4]
    y = [1, 1, 1, 1, 2, 2]
    p, c = ins.profiles_from_indices(idx, y, 5, normalize=None)
    assert_array_equal(c, [1, 2])
    assert_array_equal(p, [[3, 1, 0, 0, 0], [0, 0, 0, 0, 2]])
    # window 3: edges average over the two bins that exist
    p, _ = ins.profiles_from_indices(idx, y, 5, window=3, normalize=None)
    assert_allclose(p[0], [2.0, 4 / 3, 1 / 3, 0, 0])
    assert_allclose(p[1], [0, 0, 0, 2 / 3, 1.0])
    p, _ = ins.profiles_from_indices(idx, y, 5, normalize="sum")
    assert_allclose(p.sum(axis=1), 1.0)
    p, _ = ins.profiles_from_indices(idx, y, 5, normalize="max")
    assert_allclose(p.max(axis=1), 1.0)
    assert_allclose(p[0], [1, 1 / 3, 0, 0, 0])


def test_profiles_explicit_classes_and_empty_class():
    p, c = ins.profiles_from_indices([0, 1], ["a", "b"], 3, classes=["b", "z", "a"])
    assert_array_equal(c, ["b", "z", "a"])
    assert_allclose(p, [[0, 1, 0], [0, 0, 0], [1, 0, 0]])


@pytest.mark.parametrize("kw, match", [({"window": 2}, "odd"), ({"normalize": "l2"}, "normalize")])
def test_profiles_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        ins.profiles_from_indices([0], [0], 2, **kw)


def test_profiles_reject_out_of_range_and_length_mismatch():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ins.profiles_from_indices([2], [0], 2)
    with pytest.raises(ValueError, match="labels"):
        ins.profiles_from_indices([0, 1], [0], 2)


@pytest.mark.parametrize("call", [
    lambda i: ins.profiles_from_indices(i, [0, 0], 4),
    lambda i: ins.peak_table(i, [0, 0], 4),
    lambda i: ins.transition_matrix(i, 4),
])
def test_index_analyses_name_what_is_wrong_with_indices(call):
    """An estimator where ``est.predict(X)`` belongs (``index_profiles`` takes
    the estimator, these the indices), NaN, or strings: errors that say so
    (before: numpy's conversion errors, and NaN counted as a corner)."""
    est = SpaceFillingVQ(n_clusters=4)
    with pytest.raises(TypeError, match="indices must be numbers.*est.predict.*SpaceFillingVQ"):
        call(est)
    with pytest.raises(TypeError, match="indices must be numbers"):
        call(np.array(["1", "2"]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        call(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        call(np.array([1, 4]))


def test_index_profiles_uses_predict():
    est = fixed_curve([[0.0], [1.0], [2.0]])
    X = np.array([[0.1], [0.9], [1.1], [2.2]])
    p, c = ins.index_profiles(est, X, ["u", "v", "v", "v"], normalize=None)
    assert_allclose(p, [[1, 0, 0], [0, 2, 1]])


def test_peak_table():
    idx = [0, 1, 1, 1, 2, 7, 8, 8, 9]
    y = list("aaaaabbbb")
    t = ins.peak_table(idx, y, 10, coverage=1.0)
    assert_array_equal(t["label"], ["a", "b"])
    assert_array_equal(t["peak"], [1, 8])
    assert_array_equal(t["low"], [0, 7])
    assert_array_equal(t["high"], [2, 9])
    assert_array_equal(t["median"], [1, 8])
    assert_array_equal(t["count"], [5, 4])
    # continuous positions are floored for the peak, used as is for the range
    t = ins.peak_table([3.7, 3.2, 0.5], [0, 0, 0], 5, coverage=1.0)
    assert t["peak"][0] == 3 and t["high"][0] == pytest.approx(3.7)
    with pytest.raises(ValueError, match="coverage"):
        ins.peak_table([0], [0], 2, coverage=0)


def test_js_distances():
    D = ins.js_distances([[1, 0, 0], [0, 0, 3], [2, 0, 0]])
    assert_allclose(D, [[0, 1, 0], [1, 0, 1], [0, 1, 0]], atol=1e-12)
    # against the closed form for [1, 0] vs [1/2, 1/2]
    kl1 = np.log2(1 / 0.75)
    kl2 = 0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25)
    D = ins.js_distances([[1, 0], [1, 1]])
    assert D[0, 1] == pytest.approx(np.sqrt(0.5 * kl1 + 0.5 * kl2))
    assert_allclose(D, D.T)
    D = ins.js_distances([[1, 0], [0, 0]])
    assert np.isnan(D[0, 1]) and np.isnan(D[1, 1]) and D[0, 0] == 0
    with pytest.raises(ValueError, match="non-negative"):
        ins.js_distances([[1, -1]])


def test_transition_matrix():
    idx = [0, 1, 1, 2, 2, 0]
    seq = [0, 0, 0, 0, 1, 1]
    T = ins.transition_matrix(idx, 3, normalize=None)
    assert_array_equal(T, [[0, 1, 0], [0, 1, 1], [1, 0, 1]])
    T = ins.transition_matrix(idx, 3, sequences=seq, normalize=None)
    assert_array_equal(T, [[0, 1, 0], [0, 1, 1], [1, 0, 0]])
    T = ins.transition_matrix(idx, 3, sequences=seq)
    assert_allclose(T, [[0, 1, 0], [0, 0.5, 0.5], [1, 0, 0]])
    T = ins.transition_matrix(idx, 3, normalize="all")
    assert T.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sequence ids"):
        ins.transition_matrix(idx, 3, sequences=[0])


# ------------------------------------------------------- directions, walks
def test_segment_directions():
    est = fixed_curve([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]])
    assert_allclose(ins.segment_directions(est), [[0.6, 0.8], [0.0, -1.0]])


def test_decode_walk_and_sample():
    est = fixed_curve([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    P = ins.decode_positions(est, [[0.5, 1.5], [2.0, 0.0]])
    assert P.shape == (2, 2, 2)
    assert_allclose(P, [[[1, 0], [2, 1]], [[2, 2], [0, 0]]], atol=1e-12)
    t, pts = ins.walk(est, 5)
    assert_allclose(t, [0, 0.5, 1, 1.5, 2])
    assert_allclose(pts, [[0, 0], [1, 0], [2, 0], [2, 1], [2, 2]], atol=1e-12)
    t, pts = ins.walk(est, 3, start=1, stop=2)
    assert_allclose(pts[:, 1], [0, 1, 2], atol=1e-12)
    t, pts = ins.sample_along(est, 1, n_samples=50, random_state=0)
    assert ((t >= 1) & (t <= 2)).all()
    assert_allclose(pts[:, 0], 2.0)  # segment 1 is vertical at x = 2
    assert_allclose(pts[:, 1], 2 * (t - 1), atol=1e-12)  # segment length 2
    _, noisy = ins.sample_along(est, 0, 2, n_samples=200, noise=0.1, random_state=0)
    assert 0.05 < np.std(noisy - ins.decode_positions(est, _)) < 0.2
    with pytest.raises(ValueError, match="positions must lie"):
        ins.decode_positions(est, [2.5])
    with pytest.raises(ValueError, match="start"):
        ins.walk(est, 3, start=1.5, stop=0.5)


def test_arc_length_codebook():
    # segments of length 1 and 3: 5 points every 1.0 along the arc
    est = fixed_curve([[0.0], [1.0], [4.0]])
    cb, t = ins.arc_length_codebook(est, 5, return_positions=True)
    assert_allclose(cb[:, 0], [0, 1, 2, 3, 4], atol=1e-12)
    assert_allclose(t, [0, 1, 4 / 3, 5 / 3, 2])
    cb = ins.arc_length_codebook(est, 2)
    assert_allclose(cb[:, 0], [0, 4])
    with pytest.raises(ValueError, match=">= 2"):
        ins.arc_length_codebook(est, 1)


def test_arc_length_codebook_spacing_in_2d():
    est = fixed_curve([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [3.0, 1.0]])
    cb = ins.arc_length_codebook(est, 9)
    step = np.linalg.norm(np.diff(cb, axis=0), axis=1)
    # consecutive points are 0.5 apart along the arc; chords equal that except at corners
    assert step.max() == pytest.approx(0.5)
    assert_allclose(cb[[0, 2, 4, 8]], [[0, 0], [1, 0], [1, 1], [3, 1]], atol=1e-12)


def test_equal_occupancy_codebook():
    est = fixed_curve([[0.0], [10.0]])
    X = np.array([[9.0], [0.0], [1.0], [2.0], [3.0], [11.0], [10.0]])
    cb = ins.equal_occupancy_codebook(est, X, 3)
    # positions sort the rows: 0 1 2 | 3 9 | 10 11 (array_split sizes 3, 2, 2)
    assert_allclose(cb[:, 0], [1.0, 6.0, 10.5])
    assert ins.equal_occupancy_codebook(est, X).shape == (2, 1)
    X32 = X.astype(np.float32)
    assert ins.equal_occupancy_codebook(est, X32).dtype == np.float32
    with pytest.raises(ValueError, match="n_clusters"):
        ins.equal_occupancy_codebook(est, X, 8)


def test_equal_occupancy_gives_uniform_usage_on_skewed_data():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (900, 1)), rng.normal(8, 1, (100, 1))])
    est = fixed_curve([[-3.0], [11.0]])
    cb = ins.equal_occupancy_codebook(est, X, 10)
    assert np.all(np.diff(cb[:, 0]) > 0)
    # 9 of the 10 chunks fall in the big cluster
    assert np.sum(cb[:, 0] < 4) == 9


# ------------------------------------------------------------------ usage
def test_corner_usage_and_report():
    est = fixed_curve([[0.0], [1.0], [50.0], [2.0]])
    X = np.array([[0.0], [0.2], [0.9], [1.1], [1.9], [2.1]])
    assert_array_equal(ins.corner_usage(est, X), [2, 2, 0, 2])
    assert_allclose(ins.corner_usage(est, X, normalize=True), [1 / 3, 1 / 3, 0, 1 / 3])
    r = ins.corner_report(est, X)
    assert_array_equal(r["dead"], [2])
    assert_array_equal(r["outliers"], [2])
    assert_allclose(r["nearest_row_distance"], [0, 0.1, 47.9, 0.1], atol=1e-12)
    assert r["rms_error"] == pytest.approx(np.sqrt((0 + 0.04 + 4 * 0.01) / 6))


def test_dead_corner_among_the_data_is_not_an_outlier():
    est = fixed_curve([[0.0], [1.0], [2.0]])
    X = np.array([[0.0], [0.0], [1.45], [2.0], [2.0], [0.6]])
    r = ins.corner_report(est, X)
    assert_array_equal(r["counts"], [2, 2, 2])
    est = fixed_curve([[0.0], [1.0], [1.2]])
    r = ins.corner_report(est, np.array([[0.0], [1.5], [1.6]]))
    assert_array_equal(r["dead"], [1])
    assert r["outliers"].size == 0


def test_not_fitted():
    with pytest.raises(NotFittedError):
        ins.segment_directions(SpaceFillingVQ(3))


def test_readers_give_the_estimator_the_dataframe_as_given():
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(21).normal(size=(300, 3)) * [1.0, 5.0, 10.0]
    df = pd.DataFrame(X, columns=list("abc"))
    est = SpaceFillingVQ(4, random_state=0).fit(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        counts = ins.corner_report(est, df)["counts"]
        codebook = ins.equal_occupancy_codebook(est, df, 3)
    np.testing.assert_array_equal(counts, ins.corner_usage(est, df))
    assert codebook.shape == (3, 3)
    for reader in (ins.corner_report, lambda e, Z: ins.equal_occupancy_codebook(e, Z, 3)):
        with pytest.raises(ValueError, match="feature names"):
            reader(est, df[["c", "b", "a"]])  # reordered columns: refused, not misread


def test_profiles_window_wider_than_the_axis_and_bad_labels():
    p, _ = ins.profiles_from_indices([0, 1, 2], [0, 0, 0], 3, window=7, normalize=None)
    assert p.shape == (1, 3)  # np.convolve's "same" gave 7 bins
    assert_allclose(p, [[1.0, 1.0, 1.0]])
    assert ins.peak_table([2, 2, 2, 0, 2], [0] * 5, 3, window=9)["peak"].tolist() == [0]
    p5, _ = ins.profiles_from_indices([0, 0, 1, 4, 4, 4], [0] * 6, 5, window=3, normalize=None)
    assert_allclose(p5, [[3 / 2, 3 / 3, 1 / 3, 3 / 3, 3 / 2]])  # edges average what exists
    with pytest.raises(ValueError, match="NaN"):
        ins.profiles_from_indices([0, 1, 2], [np.nan, np.nan, 1.0], 3)
    with pytest.raises(ValueError, match="NaN"):
        ins.peak_table([0, 1, 2], np.array([1.0, np.nan, 2.0], dtype=object), 3)
    with pytest.raises(TypeError, match="one kind"):
        ins.profiles_from_indices([0, 1, 2], np.array(["a", 1, 2.0], dtype=object), 3)
    for n in (0, -1, 2.5, "3", True):
        with pytest.raises(ValueError, match="n_clusters must be an int"):
            ins.profiles_from_indices([0], [0], n)


def test_counts_of_the_curve_readers_and_empty_positions():
    est = fixed_curve([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert ins.decode_positions(est, []).shape == (0, 2)
    assert ins.decode_positions(est, np.empty((0, 4))).shape == (0, 4, 2)
    for call, error in [(lambda: ins.walk(est, 2.5), TypeError),
                        (lambda: ins.walk(est, 0), ValueError),
                        (lambda: ins.sample_along(est, 0, 2, 0), ValueError),
                        (lambda: ins.arc_length_codebook(est, 1), ValueError),
                        (lambda: ins.arc_length_codebook(est, 2.5), TypeError)]:
        with pytest.raises(error, match="n_points|n_samples"):
            call()


def test_labels_with_gaps_mixed_kinds_and_one_class():
    pd = pytest.importorskip("pandas")
    idx = [0, 1, 1, 2, 3, 3]
    # a string column with gaps (pandas reads them as NaN): the missing value is named
    for y in (pd.Series(["a", "a", np.nan, "b", "b", "b"]), ["a", "a", None, "b", "b", "b"],
              pd.Series(["a", "a", pd.NA, "b", "b", "b"], dtype=object)):
        with pytest.raises(ValueError, match="NaN or None"):
            ins.profiles_from_indices(idx, y, 4)
    # numpy would make 1 and "1" one class "1"
    with pytest.raises(TypeError, match="one kind"):
        ins.profiles_from_indices(idx, [1, 1, "1", 2, 2, 2], 4)
    p, c = ins.profiles_from_indices(idx, list("aabbbb"), 4, classes="a", normalize=None)
    assert c.tolist() == ["a"] and p.tolist() == [[1.0, 1.0, 0.0, 0.0]]
    for window in (3.7, 2.5, "3", True):
        with pytest.raises(TypeError, match="window must be an int"):
            ins.profiles_from_indices(idx, list("aabbbb"), 4, window=window)
    with pytest.raises(ValueError, match="sequence ids contain NaN"):
        ins.transition_matrix([0, 1, 2, 0, 1, 2], 3, sequences=[np.nan] * 3 + [1] * 3)


def test_corner_report_far_from_the_origin():
    # a tight blob and one corner 1.86 away: the distances do not depend on a
    # shift of rows and corners (the expanded products lost them at 1e8)
    rng = np.random.default_rng(0)
    X0 = rng.normal(scale=0.1, size=(200, 2))
    C0 = np.array([[0.0, 0.0], [0.1, 0.0], [1.8, 0.5]])
    exact = np.sqrt(((C0[:, None, :] - X0[None]) ** 2).sum(-1)).min(axis=1)
    for offset in (0.0, 1e8):
        r = ins.corner_report(fixed_curve(C0 + offset), X0 + offset)
        assert_allclose(r["nearest_row_distance"], exact, rtol=1e-6, atol=1e-6)
        assert_array_equal(r["outliers"], [2])


def test_curve_readers_refuse_bad_scales_and_counts():
    est = fixed_curve([[0.0], [1.0], [4.0]])
    X = np.array([[0.0], [1.0], [2.0], [4.0]])
    for noise in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="noise"):
            ins.sample_along(est, 0, 2, 5, noise=noise)
    for factor in (-1.0, np.nan):
        with pytest.raises(ValueError, match="factor"):
            ins.corner_report(est, X, factor=factor)
    for n in (2.5, True):
        with pytest.raises(TypeError, match="n_clusters must be an int"):
            ins.equal_occupancy_codebook(est, X, n)
