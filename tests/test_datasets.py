"""sksfvq.datasets loaders (offline, bundled with scikit-learn)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sksfvq import datasets


def test_make_gaussian_and_standard_unchanged():
    X = datasets.make_gaussian(5, 3, random_state=1)
    assert_array_equal(X, np.random.default_rng(1).standard_normal((5, 3)))
    X, y, k = datasets.load_standard("gauss16", n_samples=10)
    assert X.shape == (10, 16) and y is None and k == 64


def test_load_digits_matches_standard_set():
    X, y = datasets.load_digits()
    Xs, ys, _ = datasets.load_standard("digits")
    assert_allclose(X, Xs)
    assert_array_equal(y, ys)
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    Xr, _, img = datasets.load_digits(standardize=False, return_images=True)
    assert img.shape == (1797, 8, 8)
    assert_array_equal(Xr, img.reshape(1797, 64))
    assert Xr.max() == 16 and Xr.min() == 0


def test_load_pixels():
    pytest.importorskip("PIL")
    X, shape = datasets.load_pixels(return_shape=True)
    assert shape == (427, 640, 3)
    assert X.shape == (427 * 640, 3) and X.dtype == np.float64
    assert 0 <= X.min() and X.max() <= 1
    Xs = datasets.load_pixels(n_samples=500, random_state=3, dtype=np.float32)
    assert Xs.shape == (500, 3) and Xs.dtype == np.float32
    # the subsample is a set of rows of the full image
    full = {tuple(r) for r in X.astype(np.float32)}
    assert all(tuple(r) in full for r in Xs)
    assert_array_equal(Xs, datasets.load_pixels(n_samples=500, random_state=3, dtype=np.float32))
    with pytest.raises(ValueError, match="n_samples"):
        datasets.load_pixels(n_samples=0)
    flower = datasets.load_pixels("flower.jpg", n_samples=10)
    assert flower.shape == (10, 3)
