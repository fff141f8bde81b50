"""Saving and loading a fitted SpaceFillingVQ: pickle, joblib, skops."""

import pickle

import numpy as np
import pytest

from sksfvq import SpaceFillingVQ


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["float64", "float32"])
def fitted(request):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4)).astype(request.param)
    est = SpaceFillingVQ(n_clusters=12, random_state=0).fit(X)
    X_new = rng.normal(size=(300, 4)).astype(request.param)
    return est, X_new


def _same_results(a, b, X):
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    T = a.transform(X)
    np.testing.assert_array_equal(a.inverse_transform(T), b.inverse_transform(T))
    assert a.score(X) == b.score(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.cluster_centers_.dtype == b.cluster_centers_.dtype
    assert a.get_params() == b.get_params()


def test_pickle_round_trip(fitted):
    est, X = fitted
    loaded = pickle.loads(pickle.dumps(est))
    _same_results(est, loaded, X)


def test_joblib_round_trip(fitted, tmp_path):
    joblib = pytest.importorskip("joblib")
    est, X = fitted
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    _same_results(est, joblib.load(path), X)


def test_fitted_state_is_plain_data(fitted):
    """No compiled functions, dispatchers, locks or thread pools on the estimator."""
    est, _ = fitted
    allowed = (np.ndarray, np.generic, int, float, str, bool, type(None), list, tuple, dict)

    def check(name, value):
        if isinstance(value, dict):
            for k, v in value.items():
                check(f"{name}[{k!r}]", v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                check(f"{name}[{i}]", v)
        else:
            assert isinstance(value, allowed), f"{name} is a {type(value).__name__}"
            if isinstance(value, np.ndarray):
                assert value.dtype != object, name

    for name, value in vars(est).items():
        check(name, value)


def test_unfitted_and_refit_after_load(fitted):
    est, X = fitted
    loaded = pickle.loads(pickle.dumps(est))
    loaded.fit(X)  # a loaded model can be refitted like a fresh one
    assert loaded.cluster_centers_.shape == est.cluster_centers_.shape
    fresh = pickle.loads(pickle.dumps(SpaceFillingVQ(n_clusters=3)))
    assert fresh.get_params()["n_clusters"] == 3


def test_skops_round_trip(fitted, tmp_path):
    sio = pytest.importorskip("skops.io")
    est, X = fitted
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    # everything but our own class is a type skops already trusts
    assert all(t.startswith("sksfvq.") for t in untrusted), untrusted
    loaded = sio.load(path, trusted=untrusted)
    _same_results(est, loaded, X)
