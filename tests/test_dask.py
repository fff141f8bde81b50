"""Scale-out with Dask on a real LocalCluster (2 worker processes).

``dask_ml.wrappers.ParallelPostFit`` distributes ``predict``/``transform``
(and ``inverse_transform`` through ``map_blocks``) over the blocks of a dask
array; ``dask_ml.wrappers.Incremental`` trains with ``partial_fit`` block by
block. Results must equal the in-memory ones.
"""

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")

from sksfvq import SpaceFillingVQ  # noqa: E402

K = 10
CHUNK = 500


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    X[:, 0] *= 3.0
    return X


def test_parallel_post_fit_matches_in_memory(client, data):
    X = data
    model = wrappers.ParallelPostFit(SpaceFillingVQ(n_clusters=K, random_state=0))
    model.fit(X)
    est = model.estimator_ if hasattr(model, "estimator_") else model.estimator
    dX = da.from_array(X, chunks=(CHUNK, X.shape[1]))

    labels = model.predict(dX)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), est.predict(X))

    T = model.transform(dX)
    assert isinstance(T, da.Array)
    T = T.compute()
    np.testing.assert_array_equal(T, est.transform(X))
    assert T.shape == (len(X), 1)

    # inverse_transform: ParallelPostFit has none, map_blocks does the same job
    dT = da.from_array(T, chunks=(CHUNK, 1))
    P = dT.map_blocks(est.inverse_transform, chunks=(CHUNK, X.shape[1]),
                      dtype=est.cluster_centers_.dtype).compute()
    np.testing.assert_array_equal(P, est.inverse_transform(T))

    # score(X, y=None): the same as in memory
    assert model.score(dX, None) == pytest.approx(est.score(X), rel=1e-12)


def test_parallel_post_fit_float32(client, data):
    X = data.astype(np.float32)
    model = wrappers.ParallelPostFit(SpaceFillingVQ(n_clusters=K, random_state=0),
                                     transform_meta=np.empty((0, 1), np.float32),
                                     predict_meta=np.empty(0, np.intp))
    model.fit(X)
    dX = da.from_array(X, chunks=(CHUNK, X.shape[1]))
    T = model.transform(dX)
    assert T.dtype == np.float32
    np.testing.assert_array_equal(T.compute(), model.estimator_.transform(X)
                                  if hasattr(model, "estimator_") else
                                  model.estimator.transform(X))


@pytest.mark.skipif(not hasattr(SpaceFillingVQ, "partial_fit"), reason="no partial_fit yet")
def test_incremental_matches_sequential_partial_fit(client, data):
    X = data
    dX = da.from_array(X, chunks=(CHUNK, X.shape[1]))
    inc = wrappers.Incremental(SpaceFillingVQ(n_clusters=K, random_state=0),
                               shuffle_blocks=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dead-corner warnings on small chunks
        inc.fit(dX)
        ref = SpaceFillingVQ(n_clusters=K, random_state=0)
        for start in range(0, len(X), CHUNK):
            ref.partial_fit(X[start:start + CHUNK])
    np.testing.assert_array_equal(inc.estimator_.cluster_centers_, ref.cluster_centers_)
    np.testing.assert_array_equal(inc.predict(dX).compute(), ref.predict(X))
    np.testing.assert_array_equal(inc.transform(dX).compute(), ref.transform(X))
    assert inc.score(dX, None) == pytest.approx(ref.score(X), rel=1e-12)


@pytest.mark.skipif(not hasattr(SpaceFillingVQ, "partial_fit"), reason="no partial_fit yet")
def test_incremental_shuffled_blocks_reproducible(client, data):
    X = data
    dX = da.from_array(X, chunks=(CHUNK, X.shape[1]))
    centers = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            inc = wrappers.Incremental(SpaceFillingVQ(n_clusters=K, random_state=0),
                                       random_state=42)
            inc.fit(dX)
            centers.append(inc.estimator_.cluster_centers_)
    np.testing.assert_array_equal(centers[0], centers[1])
    # a curve learned from the stream still fits the data: not much worse than one fit
    full = SpaceFillingVQ(n_clusters=K, random_state=0).fit(X)
    assert -inc.estimator_.score(X) <= 2.0 * -full.score(X)
