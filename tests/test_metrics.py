"""The order measures against slow, obviously-correct references."""

import numpy as np
import pytest

from sksfvq import metrics


def _knn_spread_reference(X, t, n_neighbors, idx, i, j):
    """Brute force, one row at a time, on the same subset and pairs."""
    near = []
    for r in idx:
        d = np.array([np.sum((X[r] - X[q]) ** 2) if q != r else np.inf
                      for q in range(X.shape[0])])
        nbrs = np.argsort(d, kind="stable")[:n_neighbors]
        near.extend(abs(t[r] - t[q]) for q in nbrs)
    keep = i != j
    far = np.abs(t[i[keep]] - t[j[keep]])
    return np.mean(near) / np.mean(far)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, n_subset", [(150, 3000), (400, 60)])
def test_knn_spread_matches_brute_force(dtype, n, n_subset):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3)).astype(dtype)
    t = rng.random(n) * 10
    got = metrics.knn_spread(X, t, n_neighbors=7, n_subset=n_subset, n_pairs=5000,
                             random_state=3)
    idx = metrics._subset(n, n_subset, 3)
    pairs = np.random.default_rng(3)
    i = pairs.integers(0, n, 5000)
    j = pairs.integers(0, n, 5000)
    ref = _knn_spread_reference(X.astype(np.float64), t, 7, idx, i, j)
    assert got == pytest.approx(ref, rel=1e-12)


def test_knn_spread_excludes_the_row_but_not_its_duplicate():
    # two exact copies far from everything else: each is the other's nearest
    X = np.array([[0.0], [0.0], [10.0], [11.0], [12.0], [13.0]])
    nb = metrics.knn_rows(X, 1, query=np.array([0, 1]))
    assert nb.ravel().tolist() == [1, 0]



def test_knn_spread_orders_methods():
    # points along a line: the true coordinate is perfectly ordered, a folded
    # coordinate (same values for both halves, reversed) is worse, random is worst
    x = np.linspace(0, 1, 1000)
    X = np.c_[x, 0.01 * np.sin(40 * x)]
    good = metrics.knn_spread(X, x)
    folded = metrics.knn_spread(X, np.where(x < 0.5, x, 1.5 - x) * 7 % 1)
    rand = metrics.knn_spread(X, np.random.default_rng(0).random(1000))
    assert good < 0.02 < folded < rand
    assert rand == pytest.approx(1.0, abs=0.1)


def test_knn_spread_is_scale_free_in_t():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    t = X[:, 0] + 0.1 * rng.random(300)
    assert metrics.knn_spread(X, 3 * t + 5) == pytest.approx(metrics.knn_spread(X, t))


def test_knn_spread_bad_input():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="positions"):
        metrics.knn_spread(X, np.zeros(4))
    with pytest.raises(ValueError, match="n_neighbors"):
        metrics.knn_spread(X, np.zeros(5), n_neighbors=5)
    with pytest.raises(ValueError, match="NaN"):
        metrics.knn_spread(np.full((5, 2), np.nan), np.zeros(5))


def _label_spread_reference(t, y, i, j):
    keep = i != j
    i, j = i[keep], j[keep]
    same = [abs(t[a] - t[b]) for a, b in zip(i, j) if y[a] == y[b]]
    every = [abs(t[a] - t[b]) for a, b in zip(i, j)]
    return np.mean(same) / np.mean(every)


def test_label_spread_matches_reference():
    rng = np.random.default_rng(2)
    t = rng.random(500)
    y = rng.integers(0, 4, 500)
    pairs = np.random.default_rng(0)
    i = pairs.integers(0, 500, 3000)
    j = pairs.integers(0, 500, 3000)
    got = metrics.label_spread(t, y, n_pairs=3000, random_state=0)
    assert got == pytest.approx(_label_spread_reference(t, y, i, j), rel=1e-12)


def test_evaluate_reports_both_global_measures():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    out = metrics.evaluate(X, X[:6], labels=rng.integers(0, 3, 400))
    assert {"knn_spread", "label_spread"} <= set(out)
    assert 0 < out["knn_spread"] < 2


@pytest.mark.parametrize("measure", ["continuity", "trustworthiness", "knn_spread"])
@pytest.mark.parametrize("n_positions", [40, 400])
def test_one_position_per_row(measure, n_positions):
    X = np.random.default_rng(3).normal(size=(300, 2))
    with pytest.raises(ValueError, match=f"300 rows but {n_positions} positions"):
        getattr(metrics, measure)(X, np.arange(float(n_positions)))


def test_adj_ratio_and_curve_length_keep_their_digits_anywhere():
    line = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])  # 1 / (4 / 3)
    for shift, scale in [(0.0, 1.0), (1e8, 1.0), (0.0, 1e-200), (0.0, 1e200)]:
        C = (line + shift) * scale
        assert metrics.adj_ratio(C) == pytest.approx(0.75, rel=1e-12)
        assert metrics.curve_length(C) == pytest.approx(2.0 * scale, rel=1e-12)
    for bad in (np.arange(4.0), [[np.nan, 0.0], [1.0, 1.0], [2.0, 2.0]]):
        for measure in (metrics.adj_ratio, metrics.curve_length):
            with pytest.raises(ValueError):
                measure(bad)


def test_positions_are_checked_by_the_order_measures():
    X = np.random.default_rng(4).normal(size=(200, 2))
    t = np.arange(200.0)
    for bad, match in [(np.r_[np.nan, t[1:]], "NaN"), (np.r_[np.inf, t[1:]], "NaN"),
                       (np.zeros((100, 2)), r"shape \(n,\) or \(n, 1\)")]:
        with pytest.raises(ValueError, match=match):
            metrics.knn_spread(X, bad)
        with pytest.raises(ValueError, match=match):
            metrics.label_spread(bad, np.zeros(200))
    with pytest.raises(ValueError, match="10 labels but 5 positions"):
        metrics.label_spread(t[:5], np.zeros(10))


def test_evaluate_on_few_rows_reports_the_neighbour_measures_as_nan():
    X = np.random.default_rng(5).normal(size=(15, 2))
    out = metrics.evaluate(X, X[:4])  # failed in sklearn's trustworthiness
    assert np.isnan(out["cont10"]) and np.isnan(out["trust10"])
    assert np.isfinite(out["knn_spread"]) and np.isfinite(out["mse_corner"])
    assert np.isnan(metrics.evaluate(X[:8], X[:4])["knn_spread"])


def test_markdown_table_escapes_bars_and_takes_no_rows():
    table = metrics.markdown_table({"b|c": {"x|y": "p|q", "z": 1.0}})
    assert table.splitlines() == ["| method | x\\|y | z |", "|---|---|---|",
                                  "| b\\|c | p\\|q | 1 |"]
    assert metrics.markdown_table({}).splitlines() == ["| method |", "|---|"]
