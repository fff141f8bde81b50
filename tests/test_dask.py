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


# --------------------------------------------------------------------------
# fit on the workers (sksfvq/_dask.py, _dask_rows.py, _dask_cluster.py)
# --------------------------------------------------------------------------

import contextlib  # noqa: E402
import pickle  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

from sksfvq import _dask, _dask_cluster, _dask_rows  # noqa: E402
from sksfvq._sample import RowSample  # noqa: E402

slow = pytest.mark.slow


@pytest.fixture(autouse=True)
def on_the_workers(monkeypatch):
    """The fits of these tests run their passes on the workers: their data is
    light and small, which a fit would otherwise gather (``GATHER_BYTES``;
    :func:`test_light_small_data_is_gathered` turns it back on)."""
    monkeypatch.setattr(_dask_rows, "GATHER_BYTES", 0)


class _GraphCount(SchedulerPlugin):
    """Counts the graphs clients submit to the scheduler."""

    name = "sksfvq-graph-count"

    def __init__(self):
        self.n = 0

    def update_graph(self, scheduler, **kwargs):
        self.n += 1


@pytest.fixture(scope="module")
def graphs(client):
    plugin = _GraphCount()
    client.cluster.scheduler.add_plugin(plugin)
    return plugin


@pytest.fixture(scope="module")
def one_worker():
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


def _blobs(n, d, dtype, seed=0):
    """Clustered rows (many more than the subsample of 8 corners)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(6, d))
    return (centres[rng.integers(0, 6, n)] + rng.normal(size=(n, d))).astype(dtype)


def _same_fit(a, b, exact):
    if exact:
        np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    else:
        # sums by block and tree round differently; the smoothing search's secant
        # steps (differences of nearly equal errors) amplify that to ~1e-8
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-10 if exact else 1e-7)
    assert a.n_iter_ == b.n_iter_
    assert [h["n_iter"] for h in a.history_] == [h["n_iter"] for h in b.history_]


@slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_on_the_workers_equals_the_fit_in_memory(client, dtype):
    X = _blobs(30_000, 4, dtype)
    dX = da.from_array(X, chunks=(7_000, 4)).persist()
    a = SpaceFillingVQ(n_clusters=8, random_state=0).fit(dX)
    b = SpaceFillingVQ(n_clusters=8, random_state=0).fit(X)
    assert isinstance(a.labels_, np.ndarray) and a.labels_.dtype == b.labels_.dtype
    assert a.cluster_centers_.dtype == dtype  # float32 stays float32
    _same_fit(a, b, exact=False)
    assert a.n_dead_ == b.n_dead_ == 0


@slow
def test_fit_with_weights_and_without_persisting(client):
    X = _blobs(12_000, 3, np.float64, seed=1)
    w = np.random.default_rng(2).integers(0, 4, len(X)).astype(float)
    dX = da.from_array(X, chunks=(5_000, 3))  # not persisted: the fit persists it
    for weights in (w, da.from_array(w, chunks=3_000)):
        a = SpaceFillingVQ(n_clusters=6, random_state=3).fit(dX, sample_weight=weights)
        b = SpaceFillingVQ(n_clusters=6, random_state=3).fit(X, sample_weight=w)
        _same_fit(a, b, exact=False)
    # score on the workers equals score in memory for the same corners
    assert -a.score(dX, sample_weight=w) == pytest.approx(-a.score(X, sample_weight=w),
                                                          rel=1e-12)
    assert -a.score(dX, sample_weight=w) == pytest.approx(-b.score(X, sample_weight=w),
                                                          rel=1e-7)


@slow
@pytest.mark.parametrize("dtype, weights, k", [(np.float32, None, 8), (np.float64, "dask", 6),
                                               (np.float64, "numpy", 1)])
def test_light_small_data_is_gathered(client, graphs, monkeypatch, dtype, weights, k):
    monkeypatch.setattr(_dask_rows, "GATHER_BYTES", 1 << 28)
    X = _blobs(30_000, 4, dtype, seed=3)  # light: 30,000 x k x 4 values a pass
    w = None if weights is None else np.random.default_rng(1).integers(0, 3, len(X)) * 1.0
    dX = da.from_array(X, chunks=(7_000, 4)).persist()
    dw = da.from_array(w, chunks=7_000).persist() if weights == "dask" else w
    distributed.wait(dX)
    before = graphs.n
    a = SpaceFillingVQ(n_clusters=k, random_state=0).fit(dX, sample_weight=dw)
    b = SpaceFillingVQ(n_clusters=k, random_state=0).fit(X, sample_weight=w)
    _same_fit(a, b, exact=True)  # the fit in memory, bit for bit
    # a few graphs (the weights' blocks, the gather), not one per pass (some 40)
    assert graphs.n - before <= 4
    assert k == 1 or a.n_iter_ > 4


def test_which_dask_data_is_gathered(monkeypatch):
    """As small as the subsample, or light and small enough for the client."""
    monkeypatch.setattr(_dask_rows, "GATHER_BYTES", 1 << 28)
    big = da.zeros((1 << 20, 64), dtype=np.float32, chunks=(1 << 18, 64))  # 256 MiB, lazy
    assert _dask_rows.gathered(big, 8, big.shape[0], 2_048) is False  # light, too big
    assert _dask_rows.gathered(big, 8, 2_000, 2_048) is True  # as few as the subsample
    narrow = da.zeros((8 << 20, 2), dtype=np.float32, chunks=(1 << 20, 2))  # 64 MiB of rows
    assert _dask_rows.gathered(narrow, 8, narrow.shape[0], 2_048) is False  # many rows
    small = da.zeros((1_000_000, 16), dtype=np.float32, chunks=(250_000, 16))
    assert _dask_rows.gathered(small, 64, small.shape[0], 16_384) is True
    monkeypatch.setattr(_dask_rows, "GATHER_BYTES", 1 << 31)
    assert _dask_rows.gathered(big, 8, big.shape[0], 2_048) is True  # light, small enough
    assert _dask_rows.gathered(big, 64, big.shape[0], 16_384) is False  # heavy: 2^32 a pass


@slow
def test_small_data_is_trained_in_memory_exactly(client):
    X = _blobs(1_500, 3, np.float64)  # fewer rows than the subsample of 8 corners
    a = SpaceFillingVQ(n_clusters=8, random_state=0).fit(da.from_array(X, chunks=400))
    b = SpaceFillingVQ(n_clusters=8, random_state=0).fit(X)
    _same_fit(a, b, exact=True)
    X1 = _blobs(9_000, 2, np.float32)
    one = SpaceFillingVQ(n_clusters=1).fit(da.from_array(X1, chunks=2_000))
    np.testing.assert_array_equal(one.cluster_centers_,
                                  SpaceFillingVQ(n_clusters=1).fit(X1).cluster_centers_)
    assert one.inertia_ == pytest.approx(SpaceFillingVQ(n_clusters=1).fit(X1).inertia_, rel=1e-10)


@slow
def test_fit_is_the_same_on_one_and_two_workers(client, one_worker):
    X = _blobs(20_000, 5, np.float32, seed=4)
    dX = da.from_array(X, chunks=(3_000, 5))
    two = SpaceFillingVQ(n_clusters=8, random_state=1).fit(dX)
    with one_worker.as_current():
        one = SpaceFillingVQ(n_clusters=8, random_state=1).fit(dX)
    _same_fit(one, two, exact=True)


@slow
def test_one_graph_per_pass(client, graphs, monkeypatch):
    passes = []
    real = _dask_rows.assign_blocks  # the passes of DaskLloyd
    monkeypatch.setattr(_dask_rows, "assign_blocks",
                        lambda *a, **kw: passes.append(1) or real(*a, **kw))
    X = _blobs(20_000, 3, np.float32, seed=5)
    dX = da.from_array(X, chunks=(4_000, 3)).persist()
    distributed.wait(dX)
    before = graphs.n
    est = SpaceFillingVQ(n_clusters=8, random_state=0).fit(dX)
    assert len(passes) >= est.n_iter_ >= 2
    # set-up: column means, column spreads, projection keys, the drawn rows; then
    # one graph per pass over the blocks
    assert graphs.n - before == 4 + len(passes)
    before = graphs.n
    P, T = est.predict(dX), est.transform(dX)  # lazy: nothing submitted
    assert graphs.n == before
    assert isinstance(P, da.Array) and isinstance(T, da.Array)


@slow
def test_outputs_are_lazy_and_equal_in_memory(client):
    X = _blobs(10_000, 3, np.float32, seed=6)
    dX = da.from_array(X, chunks=(3_000, 3))
    est = SpaceFillingVQ(n_clusters=8, random_state=0).fit(X)
    P, T = est.predict(dX), est.transform(dX)
    assert P.dtype == np.intp and T.dtype == np.float32 and T.chunks == (dX.chunks[0], (1,))
    np.testing.assert_array_equal(P.compute(), est.predict(X))
    np.testing.assert_array_equal(T.compute(), est.transform(X))
    B = est.inverse_transform(T)
    assert isinstance(B, da.Array)
    np.testing.assert_array_equal(B.compute(), est.inverse_transform(est.transform(X)))
    assert est.score(dX) == pytest.approx(est.score(X), rel=1e-12)
    with pytest.raises(ValueError, match="features"):
        est.predict(da.ones((10, 4), chunks=5))


@slow
def test_dask_dataframe_input(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X = _blobs(12_000, 3, np.float64, seed=7)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    ddf = dd.from_pandas(df, npartitions=4)
    a = SpaceFillingVQ(n_clusters=6, random_state=0).fit(ddf)
    b = SpaceFillingVQ(n_clusters=6, random_state=0).fit(df)
    _same_fit(a, b, exact=False)
    assert list(a.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(a.predict(ddf).compute(), b.predict(df))
    with pytest.raises(ValueError, match="numeric"):
        SpaceFillingVQ(n_clusters=2).fit(dd.from_pandas(df.assign(s="x"), npartitions=2))


@slow
def test_pickled_model_has_no_data(client):
    X = _blobs(10_000, 3, np.float32, seed=8)
    dX = da.from_array(X, chunks=(2_500, 3)).persist()
    est = SpaceFillingVQ(n_clusters=8, random_state=0).fit(dX)
    blob = pickle.dumps(est)
    assert len(blob) < est.labels_.nbytes + 20_000  # labels_ (8 bytes per row), no rows
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.labels_, est.labels_)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))


@slow
def test_partial_fit_on_the_workers(client):
    X = _blobs(16_000, 3, np.float64, seed=9)
    a = SpaceFillingVQ(n_clusters=6, random_state=0)
    b = SpaceFillingVQ(n_clusters=6, random_state=0)
    for part in (X[:10_000], X[10_000:]):
        a.partial_fit(da.from_array(part, chunks=3_000))
        b.partial_fit(part)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-10)


@slow
def test_fit_survives_a_worker_restart(client, monkeypatch):
    X = _blobs(20_000, 3, np.float32, seed=10)
    dX = da.from_array(X, chunks=(2_000, 3)).persist()
    ref = SpaceFillingVQ(n_clusters=8, random_state=0).fit(dX)
    submitted = []
    compute = _dask_cluster._compute

    def restart_during_the_first_pass(c, collections):
        futures = compute(c, collections)
        submitted.append(1)
        if len(submitted) == 5:  # after the set-up: the first pass over all rows
            c.restart_workers([next(iter(c.scheduler_info()["workers"]))])
        return futures

    monkeypatch.setattr(_dask_cluster, "_compute", restart_during_the_first_pass)
    est = SpaceFillingVQ(n_clusters=8, random_state=0).fit(dX)
    assert len(submitted) >= 5
    _same_fit(est, ref, exact=True)


@slow
def test_lost_scheduler_is_a_clear_error(monkeypatch):
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=50)
    c = distributed.Client(cluster, set_as_default=False)
    compute = _dask_cluster._compute
    submitted = []

    def lose_the_scheduler(client_, collections):
        submitted.append(1)
        if len(submitted) == 5:
            cluster.sync(cluster.scheduler.close)
        return compute(client_, collections)

    monkeypatch.setattr(_dask_cluster, "_compute", lose_the_scheduler)
    try:
        with c.as_current():
            dX = da.from_array(_blobs(10_000, 3, np.float32), chunks=2_500)
            with pytest.raises(_dask.SchedulerLost, match="lost its scheduler"):
                SpaceFillingVQ(n_clusters=8, random_state=0).fit(dX)
    finally:
        for close in (c.close, cluster.close):
            with contextlib.suppress(Exception):  # the scheduler is gone
                close(timeout=2)


@slow
def test_bad_input_on_the_workers(client):
    X = _blobs(3_000, 2, np.float64)
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SpaceFillingVQ(n_clusters=2).fit(da.from_array(X, chunks=1_000))
    with pytest.raises(ValueError, match="lloyd"):
        SpaceFillingVQ(n_clusters=2, algorithm="sgd").fit(da.from_array(X, chunks=1_000))
    with pytest.raises(ValueError, match="n_clusters"):
        SpaceFillingVQ(n_clusters=20).fit(da.ones((10, 2), chunks=5))
    with pytest.raises(ValueError, match="Rescale"):  # squares beyond float64
        SpaceFillingVQ(n_clusters=2).fit(da.from_array(np.ldexp(X[10:110], 600), chunks=50))


@slow
def test_subsample_is_drawn_as_in_memory(client):
    """Keys by the chunks of memory (blocks that straddle them), the same draws."""
    X = np.random.default_rng(11).normal(size=(150_000, 3)).astype(np.float32)
    dX = da.from_array(X, chunks=(47_000, 3)).persist()
    w = _dask.Weights(None, dX, client, None)
    a = _dask_rows.DaskRowSample(dX, w, 3_000, np.random.default_rng(1), np.ones(3, bool))
    b = RowSample(X, np.ones(len(X)), 3_000, np.random.default_rng(1))
    for name in ("pos", "rows", "key"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for n in (100, 3_000):
        for x, y in zip(a.subsample(dX, n), b.subsample(X, n)):
            np.testing.assert_array_equal(x, y)


def test_rows_of_weight_zero_count_as_none_on_dask_too(client):
    """The rows a fit stands for (which decide its schedule) are those of memory:
    weights as repetitions, rows of weight 0 as none."""
    X = np.random.default_rng(12).normal(size=(6_000, 2))
    w = np.r_[np.full(2_000, 1.0), np.zeros(4_000)]
    dX = da.from_array(X, chunks=(2_500, 2)).persist()
    rows = _dask_rows.DaskRows(dX, _dask.Weights(w, dX, client, None), 4, 1e-4, 2_500,
                               np.random.default_rng(0))
    assert rows.n_eff == 2_000 and rows.local  # as few as a subsample: trained in memory


def test_unit_weights_draw_as_ones():
    X = np.random.default_rng(0).normal(size=(5_000, 2))
    a = RowSample(X, None, 700, np.random.default_rng(3))
    b = RowSample(X, np.ones(len(X)), 700, np.random.default_rng(3))
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.pos, b.pos)


@slow
def test_no_dask_import_for_arrays_in_memory():
    code = ("import sys, numpy as np; from sksfvq import SpaceFillingVQ; "
            "X = np.random.default_rng(0).normal(size=(300, 2)); "
            "e = SpaceFillingVQ(n_clusters=4).fit(X); e.predict(X); e.transform(X); "
            "e.score(X); assert not [m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed')], 'dask imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_root()))


@slow
def test_numpy_fit_needs_no_dask():
    """dask and the sksfvq._dask* modules load only for dask input: with dask
    unimportable, a NumPy fit, predict and transform work and load none of them."""
    code = ("import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
            "import numpy as np, sksfvq; X = np.random.default_rng(0).normal(size=(500, 3)); "
            "m = sksfvq.SpaceFillingVQ(8, random_state=0).fit(X); m.predict(X); m.transform(X); "
            "assert not [n for n in sys.modules if n.startswith('sksfvq._dask')]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_root()))


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_non_finite_rows_are_refused_before_anything_changes(client):
    X = _blobs(6000, 3, np.float64)
    est = SpaceFillingVQ(4, random_state=0).fit(X)
    C = est.cluster_centers_.copy()
    bad = X.copy()
    bad[4005, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.partial_fit(da.from_array(bad, chunks=1000))  # wrote NaN into every corner
    np.testing.assert_array_equal(est.cluster_centers_, C)
    small = X[:1000].copy()
    small[5, 1] = np.nan  # trained in memory: failed deep in the ordering
    with pytest.raises(ValueError, match="NaN or infinity"):
        SpaceFillingVQ(8, random_state=0).fit(da.from_array(small, chunks=300))
    bad[4005, 1] = -np.inf  # not "spreads over inf ... Rescale"
    with pytest.raises(ValueError, match="NaN or infinity"):
        SpaceFillingVQ(4).fit(da.from_array(bad, chunks=1000))
    wider = _blobs(6000, 5, np.float64)
    wider[100, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(da.from_array(wider, chunks=1000))
    assert est.n_features_in_ == 3  # the refused fit left the fitted width
    np.testing.assert_array_equal(est.predict(X[:50]), est.predict(da.from_array(X[:50])))
    T = est.transform(X)
    T[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.inverse_transform(da.from_array(T, chunks=1000)).compute()


def test_sample_weight_of_score_and_fit_checked_as_in_memory(client):
    X = _blobs(8000, 4, np.float64)
    est = SpaceFillingVQ(4, random_state=0).fit(X)
    Xd = da.from_array(X, chunks=((1000, 3000, 500, 3500), (2, 2)))
    w = np.ones(8000)
    for bad, match in [(np.where(np.arange(8000) == 3, np.nan, 1.0), "NaN"),
                       (w[:-1], r"\(7999,\)"), (w[:, None], "1D")]:
        with pytest.raises(ValueError, match=match):
            est.score(Xd, sample_weight=bad)
    assert est.score(Xd, sample_weight=2.0) == pytest.approx(est.score(X, sample_weight=2.0))
    keep = da.from_array(X[:, 0] > 0, chunks=1000)  # unknown chunk sizes, X and weights alike
    assert est.score(da.from_array(X, chunks=1000)[keep],
                     sample_weight=da.from_array(w, chunks=1000)[keep]) == pytest.approx(
        est.score(X[X[:, 0] > 0]))
    fitted = SpaceFillingVQ(6, random_state=0).fit(Xd, sample_weight=2.0)
    assert fitted.inertia_ == pytest.approx(
        2.0 * SpaceFillingVQ(6, random_state=0).fit(Xd).inertia_)


def test_dask_dataframe_of_mixed_columns(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X = _blobs(3000, 3, np.float64)
    df = pd.DataFrame(X, columns=list("abc")).assign(flag=lambda d: d.a > 0)
    est = SpaceFillingVQ(6, random_state=0).fit(df)
    np.testing.assert_array_equal(est.predict(dd.from_pandas(df, npartitions=3)).compute(),
                                  est.predict(df))
    nullable = dd.from_pandas(df.astype({"a": "Float64"}), npartitions=3)
    assert SpaceFillingVQ(6, random_state=0).fit(nullable).cluster_centers_.shape == (6, 4)
