"""Scale benchmark: fit time and quality from 10^4 to 10^6 rows (10^7 with --full).

Usage::

    python benchmarks/bench_scale.py                 # the grid and the two bar configurations
    python benchmarks/bench_scale.py --quick         # CI size: N = 1e4, 1e5; D = 32; K = 256
    python benchmarks/bench_scale.py --full          # also N = 1e7 (KMeans skipped there)
    python benchmarks/bench_scale.py --memory 10000000 32 256   # peak memory of one fit
    python benchmarks/bench_scale.py --no-grid       # the bar and clustered configurations only

Data: ``sksfvq.datasets.make_embedding`` (float32; an 8-d latent through tanh
and a random map, plus noise), the scale data of ``docs/metrics.rst``. For
every (N, D, K) the default ``SpaceFillingVQ`` is timed against
``KMeans(n_init=1)`` (where it finishes in reasonable time, see
``KMEANS_MAX_WORK``), ``MiniBatchKMeans(n_init=1)`` and faiss k-means
(``faiss.Kmeans(niter=25)``, ``pip install faiss-cpu``; the bench extra),
alternating in one process with the same threads; quality is
``mse_corner`` (relative to KMeans where it ran, else to faiss),
``adj_ratio`` and ``knn_spread`` of every method (the k-means codebooks
in their own, arbitrary order).

The bars: at N=500,000 x 32, K=256 and N=100,000 x 64, K=1024, the fit
takes at most 2 x faiss' time and at most KMeans' time, at mse_corner <=
1.03 x KMeans; the fit time grows by at most 3 x from N=1e5 to 1e6.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

#: KMeans(n_init=1) runs where N * K * D is at most this (it takes minutes beyond)
KMEANS_MAX_WORK = 1.2e10
GRID_N = [10_000, 100_000, 1_000_000]
FULL_N = GRID_N + [10_000_000]
GRID_D = [32, 384]
GRID_K = [256, 1024]
BAR_CONFIGS = [(500_000, 32, 256), (100_000, 64, 1024)]
#: clustered data at large K (not a bar): where k-means' local optima cost most
CLUSTERED_CONFIG = (100_000, 64, 1024, 700)
FAISS_BAR, KMEANS_TIME_BAR, MSE_BAR, GROWTH_BAR = 2.0, 1.0, 1.03, 3.0
METHODS = ["sfvq", "faiss", "minibatch", "kmeans"]
NAMES = {"sfvq": "SpaceFillingVQ() default", "faiss": "faiss.Kmeans(niter=25)",
         "minibatch": "MiniBatchKMeans(n_init=1)", "kmeans": "KMeans(n_init=1)"}


def have_faiss():
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def fit(method, X, k, seed, threads):
    """(codebook in the method's index order, positions of the rows, seconds)."""
    t0 = time.perf_counter()
    if method == "sfvq":
        from sksfvq import SpaceFillingVQ

        est = SpaceFillingVQ(n_clusters=k, random_state=seed).fit(X)
        t = time.perf_counter() - t0
        return est.cluster_centers_, None, t, est
    if method == "faiss":
        import faiss

        if threads:
            faiss.omp_set_num_threads(threads)
        km = faiss.Kmeans(X.shape[1], k, niter=25, seed=seed + 1, verbose=False)
        km.train(np.ascontiguousarray(X, dtype=np.float32))
        return km.centroids, None, time.perf_counter() - t0, None
    from sklearn.cluster import KMeans, MiniBatchKMeans

    cls = KMeans if method == "kmeans" else MiniBatchKMeans
    km = cls(n_clusters=k, n_init=1, random_state=seed).fit(X)
    return km.cluster_centers_, None, time.perf_counter() - t0, None


def measure(X, C, est):
    from sksfvq import metrics

    C = np.asarray(C, dtype=X.dtype)
    if est is not None:
        pos = est.transform(X)[:, 0]
        labels = est.predict(X)
    else:
        from sklearn.metrics import pairwise_distances_argmin

        labels = pairwise_distances_argmin(X, C)
        pos = labels.astype(float)
    return {"mse_corner": metrics.mse_corner(X, C), "adj_ratio": metrics.adj_ratio(C),
            "knn_spread": metrics.knn_spread(X, pos),
            "dead": int(C.shape[0] - np.unique(labels).shape[0])}


def clustered(n, d, centers, seed):
    """Tight clusters: ``make_blobs`` with unit spread, centres in [-6, 6]^d (float32)."""
    from sklearn.datasets import make_blobs

    return make_blobs(n, d, centers=centers, cluster_std=1.0, center_box=(-6, 6),
                      random_state=seed)[0].astype(np.float32)


def run_config(n, d, k, repeats, seed, threads, methods, verbose=True, force_kmeans=False,
               centers=None):
    """One (N, D, K): embedding-like data, or ``centers`` clusters (:func:`clustered`)."""
    import warnings

    from sksfvq import SpaceFillingVQ
    from sksfvq.datasets import make_embedding

    if centers:
        X = clustered(n, d, centers, seed)
        warnings.filterwarnings("ignore", message=".*dead corners")  # reported per method
    else:
        X = make_embedding(n, d, random_state=seed)
    todo = [m for m in methods if m != "faiss" or have_faiss()]
    if "kmeans" in todo and n * k * d > KMEANS_MAX_WORK and not force_kmeans:
        todo.remove("kmeans")
    SpaceFillingVQ(n_clusters=min(k, 64), random_state=0).fit(X[:4096])  # compile
    times = {m: [] for m in todo}
    first = {}
    for r in range(repeats):
        for m in todo:
            if m == "kmeans" and r > 0 and times[m][0] > 60:  # one slow fit is enough
                continue
            C, _, t, est = fit(m, X, k, seed + r, threads)
            times[m].append(t)
            if r == 0:
                first[m] = (C, est)
            if verbose:
                print(f"  N={n} D={d} K={k} round {r + 1}: {m} {t:.3f} s", flush=True)
    rows = {}
    for m in todo:
        C, est = first[m]
        row = measure(X, C, est)
        row["fit_s"] = float(np.median(times[m]))
        row["repeats"] = len(times[m])
        rows[m] = row
    ref = "kmeans" if "kmeans" in rows else ("faiss" if "faiss" in rows else None)
    for row in rows.values():
        row["mse_rel"] = row["mse_corner"] / rows[ref]["mse_corner"] if ref else np.nan
        if "faiss" in rows:
            row["vs_faiss"] = row["fit_s"] / rows["faiss"]["fit_s"]
        if "kmeans" in rows:
            row["vs_kmeans"] = row["fit_s"] / rows["kmeans"]["fit_s"]
    return {"N": n, "D": d, "K": k, "methods": rows, "mse_ref": ref, "centers": centers}


def bar_check(cfg):
    """The bars of one bar configuration (needs sfvq, faiss and kmeans)."""
    rows = cfg["methods"]
    if not {"sfvq", "faiss", "kmeans"} <= set(rows):
        return None
    s = rows["sfvq"]
    out = {"vs_faiss": s["vs_faiss"], "faiss_ok": s["vs_faiss"] <= FAISS_BAR,
           "vs_kmeans": s["vs_kmeans"], "kmeans_ok": s["vs_kmeans"] <= KMEANS_TIME_BAR,
           "mse_rel": s["mse_rel"], "mse_ok": s["mse_rel"] <= MSE_BAR}
    out["pass"] = out["faiss_ok"] and out["kmeans_ok"] and out["mse_ok"]
    return out


def growth(configs):
    """Fit time of SpaceFillingVQ at N=1e6 over N=1e5, per (D, K)."""
    out = {}
    by = {(c["N"], c["D"], c["K"]): c for c in configs}
    for d in GRID_D:
        for k in GRID_K:
            a, b = by.get((100_000, d, k)), by.get((1_000_000, d, k))
            if a and b and "sfvq" in a["methods"] and "sfvq" in b["methods"]:
                out[(d, k)] = b["methods"]["sfvq"]["fit_s"] / a["methods"]["sfvq"]["fit_s"]
    return out


def _table(cfg):
    from sksfvq.metrics import markdown_table

    named = {NAMES[m]: {c: r.get(c) for c in ("fit_s", "vs_faiss", "vs_kmeans", "mse_rel",
                                              "adj_ratio", "knn_spread", "dead", "repeats")}
             for m, r in cfg["methods"].items()}
    ref = {"kmeans": "KMeans", "faiss": "faiss"}.get(cfg["mse_ref"], "?")
    data = f", {cfg['centers']} clusters" if cfg.get("centers") else ""
    return [f"### N={cfg['N']:,} x D={cfg['D']}, K={cfg['K']}{data} (mse_rel relative to "
            f"{ref})", "", markdown_table(named), ""]


def write(results, path):
    lines = ["# Scale benchmark", "", f"Generated by `{results['command']}`. Data: "
             "`sksfvq.datasets.make_embedding` (float32). Definitions: `docs/metrics.rst`.",
             "", f"- versions: {results['versions']}", f"- threads: {results['threads']}",
             f"- started {results['started']} UTC, {results['elapsed_s']:.0f} s; the machine "
             "is shared (ratios in one process are the measure); fit_s: median of `repeats` "
             "alternating fits", ""]
    lines += ["## Bars", ""]
    for cfg in results["bar_configs"]:
        b = bar_check(cfg)
        name = f"N={cfg['N']:,} x {cfg['D']}, K={cfg['K']}"
        if b is None:
            lines.append(f"- {name}: n/a (needs faiss and KMeans)")
            continue
        flag = lambda ok: "ok" if ok else "FAIL"  # noqa: E731
        lines.append(f"- {name}: {'PASS' if b['pass'] else 'FAIL'} -- fit "
                     f"{b['vs_faiss']:.2f} x faiss (<= {FAISS_BAR}: {flag(b['faiss_ok'])}), "
                     f"{b['vs_kmeans']:.3f} x KMeans (<= {KMEANS_TIME_BAR}: "
                     f"{flag(b['kmeans_ok'])}), mse_corner {b['mse_rel']:.4f} x KMeans "
                     f"(<= {MSE_BAR}: {flag(b['mse_ok'])})")
    for (d, k), g in results["growth"].items():
        lines.append(f"- D={d}, K={k}: fit time at N=1e6 / N=1e5 = {g:.2f} (<= {GROWTH_BAR}: "
                     f"{'ok' if g <= GROWTH_BAR else 'FAIL'})")
    if results.get("memory"):
        m = results["memory"]
        during = ("during the fit" if m.get("peak_of") == "fit" else
                  "over the process (data generation and compilation included)")
        lines += ["", "## Memory", "", f"One fit of N={m['N']:,} x {m['D']} float32 rows, "
                  f"K={m['K']}, in a fresh process: peak resident {m['peak_mib']:.0f} MiB "
                  f"{during}, {m['peak_mib'] - m['data_mib']:.0f} MiB above the data "
                  f"({m['data_mib']:.0f} MiB); resident before the fit (interpreter, "
                  f"libraries, compiled kernels, data) {m['before_mib']:.0f} MiB, so the fit "
                  f"added {m['peak_mib'] - m['before_mib']:.0f} MiB (a copy of X would add "
                  f"{m['data_mib']:.0f}); fit {m['fit_s']:.1f} s."]
    lines += ["", "## Bar configurations", ""]
    for cfg in results["bar_configs"]:
        lines += _table(cfg)
    if results.get("clustered"):
        lines += ["## Clustered data", "", "`make_blobs` (unit spread, centres in [-6, 6]^D, "
                  "float32): k-means' local optima (several centres in one cluster, one "
                  "between two) cost most here; `dead`: corners no row is nearest to.", ""]
        lines += _table(results["clustered"])
    if results["grid"]:
        lines += ["## Grid", ""]
    for cfg in results["grid"]:
        lines += _table(cfg)
    with open(path, "w") as fh:
        fh.write("\n".join(lines))


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(c["D"], c["K"]) for c in results["grid"]})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (d, k) in zip(axes[0], panels):
        cfgs = sorted([c for c in results["grid"] if (c["D"], c["K"]) == (d, k)],
                      key=lambda c: c["N"])
        for m in METHODS:
            pts = [(c["N"], c["methods"][m]["fit_s"]) for c in cfgs if m in c["methods"]]
            if pts:
                ax.loglog(*zip(*pts), "o-", label=NAMES[m], lw=1.5 if m == "sfvq" else 1.0)
        ax.set_title(f"D={d}, K={k}", fontsize=10)
        ax.set_xlabel("rows N")
        ax.set_ylabel("fit time (s)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Fit time against N (float32 embedding-like data, one process)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def memory(n, d, k, seed=0):
    """Peak resident memory of one fit of N x D float32 rows, K corners, measured by
    a fresh process of its own (:func:`_fit_peak`, whose JSON line this reads)."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys; sys.path.insert(0, {here!r}); import bench_scale; "
            f"bench_scale._fit_peak({n}, {d}, {k}, {seed})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    m.update({"N": n, "D": d, "K": k, "data_mib": n * d * 4 / 2**20})
    return m


def _fit_peak(n, d, k, seed):
    """The process of :func:`memory`: make the data, compile the kernels on a small
    fit, reset the process's peak resident memory, fit once; print as JSON the fit's
    seconds, the resident MiB before it and the peak MiB during it (``peak_of``:
    "fit"; "process" where the peak cannot be reset, so that earlier peaks count)."""
    import gc

    from sksfvq import SpaceFillingVQ
    from sksfvq.datasets import make_embedding

    X = make_embedding(n, d, random_state=seed)
    SpaceFillingVQ(n_clusters=8, random_state=0).fit(X[:2000])  # compile
    gc.collect()
    before = _status_kib("VmRSS")
    peak_of = "fit" if _reset_peak() else "process"
    t0 = time.perf_counter()
    SpaceFillingVQ(n_clusters=k, random_state=seed).fit(X)
    fit_s = time.perf_counter() - t0
    peak = _status_kib("VmHWM") if peak_of == "fit" else _maxrss_kib()
    print(json.dumps({"fit_s": fit_s, "before_mib": before / 1024, "peak_mib": peak / 1024,
                      "peak_of": peak_of}))


def _status_kib(field):
    """A field of /proc/self/status in KiB (Linux; else nan)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _reset_peak():
    """Reset this process's peak resident memory (Linux: /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return not np.isnan(_status_kib("VmHWM"))


def _maxrss_kib():
    """The peak resident memory of this process so far (KiB; bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)


def run(quick=False, full=False, repeats=None, seed=0, threads=None, out="benchmarks/results",
        methods=None, bars=True, mem=None, verbose=True, grid=True):
    import numba
    from threadpoolctl import threadpool_limits

    methods = list(methods or METHODS)
    if threads:
        numba.set_num_threads(threads)
    t0 = time.perf_counter()
    # when the run starts, and the code it measures (the tree may change while it runs)
    started, versions = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), _versions()
    grid_n = [10_000, 100_000] if quick else (FULL_N if full else GRID_N)
    grid = [(n, d, k) for d in ([32] if quick else GRID_D)
            for k in ([256] if quick else GRID_K) for n in grid_n] if grid else []
    reps = repeats or (1 if quick else 3)
    ctx = threadpool_limits(threads) if threads else _null()
    with ctx:
        bar_configs = [run_config(n, d, k, reps, seed, threads, methods, verbose,
                                  force_kmeans=True) for n, d, k in (BAR_CONFIGS if bars else [])]
        clustered_res = (run_config(*CLUSTERED_CONFIG[:3], reps, seed, threads, methods,
                                    verbose, force_kmeans=True, centers=CLUSTERED_CONFIG[3])
                         if bars else None)
        grid_res = [run_config(n, d, k, 1 if n >= 1_000_000 else reps, seed, threads,
                               methods, verbose) for n, d, k in grid]
    results = {"bar_configs": bar_configs, "clustered": clustered_res, "grid": grid_res, "growth": growth(grid_res),
               "command": " ".join(["python benchmarks/bench_scale.py"] + sys.argv[1:]),
               "versions": versions, "threads": threads or "library defaults",
               "started": started,
               "elapsed_s": time.perf_counter() - t0}
    if mem:
        results["memory"] = memory(*mem)
    if out and str(out).lower() != "none":
        os.makedirs(out, exist_ok=True)
        suffix = "_quick" if quick else ("_full" if full else "")
        if not grid:
            suffix += "_bars"
        write(results, os.path.join(out, f"scale{suffix}.md"))
        if grid_res:
            plot(results, os.path.join(out, f"scale{suffix}.png"))
    return results


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _versions():
    import numba
    import sklearn

    import sksfvq

    v = {"python": platform.python_version(), "numpy": np.__version__,
         "scikit-learn": sklearn.__version__, "numba": numba.__version__,
         "sksfvq": sksfvq.__version__}
    if have_faiss():
        import faiss

        v["faiss"] = faiss.__version__
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        v["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                  capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # pragma: no cover
        pass
    return ", ".join(f"{a} {b}" for a, b in v.items())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="N = 1e4, 1e5; D = 32; K = 256")
    p.add_argument("--full", action="store_true", help="also N = 1e7")
    p.add_argument("--no-bars", action="store_true", help="skip the two bar configurations")
    p.add_argument("--no-grid", action="store_true",
                   help="only the bar and clustered configurations (written to scale_bars.md)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    p.add_argument("--memory", type=int, nargs=3, metavar=("N", "D", "K"), default=None,
                   help="also measure the peak memory of one fit in a fresh process")
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    res = run(quick=args.quick, full=args.full, repeats=args.repeats, seed=args.seed,
              threads=args.threads, out=args.out, methods=args.methods,
              bars=not args.no_bars, mem=args.memory, grid=not args.no_grid)
    for cfg in res["bar_configs"]:
        print(cfg["N"], cfg["D"], cfg["K"], bar_check(cfg))
    print("growth", res["growth"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
