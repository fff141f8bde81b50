"""sksfvq.baselines.lbg_codebook: plain VQ by splitting, on hand-checked data."""

import numpy as np
import pytest
from sklearn.cluster import KMeans

from sksfvq.baselines import lbg_codebook


def _mse(X, C):
    return np.min(((X[:, None, :] - C[None]) ** 2).sum(-1), axis=1).mean()


def test_one_vector_is_the_mean():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 3.0]])
    C, labels = lbg_codebook(X, 1)
    np.testing.assert_allclose(C, [[2.0, 1.0]])
    np.testing.assert_array_equal(labels, [0, 0, 0])


def test_two_groups_split_into_their_means():
    # two tight groups far apart on the x axis: the first split is along x
    X = np.array([[-5.0, 0.1], [-5.0, -0.1], [-4.8, 0.0], [5.0, 0.0], [5.2, 0.1], [4.8, -0.1]])
    C, labels = lbg_codebook(X, 2)
    order = np.argsort(C[:, 0])  # the sign of the split axis is arbitrary
    np.testing.assert_allclose(C[order], [X[:3].mean(axis=0), X[3:].mean(axis=0)], atol=1e-12)
    np.testing.assert_array_equal(np.argsort(order)[labels], [0, 0, 0, 1, 1, 1])


def test_last_stage_splits_the_worst_cell():
    # three groups: after the first split the wide pair of groups on the right
    # holds the larger error, so K=3 splits that cell and keeps the left one
    X = np.array([[-10.0, 0.0], [-10.0, 0.2],
                  [4.0, 0.0], [4.0, 0.2], [10.0, 0.0], [10.0, 0.2]])
    C, _ = lbg_codebook(X, 3)
    np.testing.assert_allclose(C[np.argsort(C[:, 0])], [[-10.0, 0.1], [4.0, 0.1], [10.0, 0.1]],
                               atol=1e-12)


@pytest.mark.parametrize("k", [7, 8, 16])
def test_k_distinct_used_vectors_close_to_kmeans(k):
    X = np.random.default_rng(1).normal(size=(2000, 2))
    C, labels = lbg_codebook(X, k)
    assert C.shape == (k, 2) and len(np.unique(C, axis=0)) == k
    assert sorted(np.unique(labels).tolist()) == list(range(k))
    km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X)
    assert _mse(X, C) <= 1.1 * _mse(X, km.cluster_centers_)


def test_deterministic_and_float32_input():
    X = np.random.default_rng(2).normal(size=(300, 3))
    C64, l64 = lbg_codebook(X, 5)
    C, labels = lbg_codebook(X, 5)
    np.testing.assert_array_equal(C, C64)
    np.testing.assert_array_equal(labels, l64)
    C32, _ = lbg_codebook(X.astype(np.float32), 5)
    assert C32.dtype == np.float64 and C32.shape == (5, 3)


@pytest.mark.parametrize("k", [0, 11])
def test_bad_n_clusters(k):
    with pytest.raises(ValueError, match=r"n_clusters=.* must be in \[1, n_samples\]"):
        lbg_codebook(np.zeros((10, 2)), k)


@pytest.mark.parametrize("n_clusters, error", [(2.7, TypeError), (True, TypeError),
                                               ("3", TypeError), (0, ValueError)])
def test_lbg_codebook_counts_are_ints(n_clusters, error):
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(error, match="n_clusters"):
        lbg_codebook(X, n_clusters)  # 2.7 gave 2 vectors, True one
    assert lbg_codebook(X, 3.0)[0].shape == (3, 2)


@pytest.mark.parametrize("unit", [1e160, 1e-200])
def test_lbg_refuses_data_outside_float64s_squares(unit):
    """As the estimator does: at 1e160 the principal split's products
    overflowed (LinAlgError), at 1e-200 they vanished (all vectors equal)."""
    X = np.random.default_rng(0).normal(size=(200, 3)) * unit
    with pytest.raises(ValueError, match="Rescale"):
        lbg_codebook(X, 5)
