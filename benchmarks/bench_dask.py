"""Dask benchmark: the fit on the workers of a 2-process LocalCluster.

Usage::

    python benchmarks/bench_dask.py              # the bar (4,000,000 x 16, K=64) and the sweep
    python benchmarks/bench_dask.py --quick      # 400,000 x 16: a few minutes
    python benchmarks/bench_dask.py --no-sweep   # the bar only

The bar of issue 12: ``SpaceFillingVQ(n_clusters=64).fit(X)`` with X a
persisted 4,000,000 x 16 float32 dask array in 16 blocks, on a LocalCluster of
2 worker processes (1 thread each): the client's resident memory grows by
less than half of X's size during the fit (sampled every 5 ms, after a
warm-up fit); the error (``inertia_``) within 1.02 x the in-memory fit of the
same data; ``predict``/``transform`` of X are lazy dask arrays equal to the
in-memory results; a fit during which one worker is restarted still finishes.

The sweep: the time per pass over all rows (from ``history_``: the last
stage's time over its passes), distributed and in memory, for N in
``SWEEP_N`` (16 blocks, medians of ``--repeats`` alternating runs); its
constant part is the overhead per pass (a least-squares line in N), and the
N where the distributed fit (whole fit) beats the local one with the same
two cores (numba's 2 threads). The data: 16-d standard normal rows
(gauss16), generated on the workers from a seeded dask generator. Light data
small enough for the client (here every N up to 1,000,000) is gathered and
fitted in memory by default; the sweep times that fit ("fit, dask") and, for the
passes, the fit with its passes on the workers (``_dask_rows.GATHER_BYTES``
set to 0: the one private name used).
"""

import argparse
import gc
import os
import threading
import time

import numpy as np

BAR_N, D, K, BLOCKS = 4_000_000, 16, 64, 16
SWEEP_N = [62_500, 250_000, 1_000_000, 4_000_000]
QUICK_N = 400_000
MEMORY_BAR, ERROR_BAR = 0.5, 1.02


def make_data(n, seed=0):
    """(n, D) float32 standard normal rows in BLOCKS blocks, persisted on the workers."""
    import dask.array as da
    from distributed import wait

    X = da.random.default_rng(seed).standard_normal((n, D), chunks=(-(-n // BLOCKS), D),
                                                    dtype=np.float32).persist()
    wait(X)
    return X


class PeakRSS:
    """The client's peak resident memory above its level at the start (bytes)."""

    def __init__(self, every=0.005):
        import psutil

        self.process, self.every = psutil.Process(), every

    def __enter__(self):
        gc.collect()
        self.base = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.growth = self.peak - self.base
        return False


def per_pass(est):
    """Seconds per pass over all rows: the last stage (the full passes)."""
    last = est.history_[-1]
    return last["time"] / (last["n_iter"] + 1)


def timed_fit(X, seed=0, **params):
    from sksfvq import SpaceFillingVQ

    t0 = time.perf_counter()
    est = SpaceFillingVQ(n_clusters=K, random_state=seed, **params).fit(X)
    return est, time.perf_counter() - t0


def bar(client, n, seed):
    """The four checks of the bar on n rows."""
    import dask.array as da

    from sksfvq import SpaceFillingVQ

    X = make_data(n, seed)
    SpaceFillingVQ(n_clusters=K, random_state=seed).fit(make_data(20_000, seed + 1))  # warm-up
    with PeakRSS() as mem:
        est, seconds = timed_fit(X, seed)
    res = {"n": n, "x_bytes": X.nbytes, "client_growth": mem.growth, "fit_s": seconds,
           "passes": est.history_[-1]["n_iter"] + 1, "per_pass_s": per_pass(est)}
    res["memory_ok"] = mem.growth < MEMORY_BAR * X.nbytes
    P, T = est.predict(X), est.transform(X)
    res["lazy_ok"] = isinstance(P, da.Array) and isinstance(T, da.Array)

    # a fit during which one worker restarts: a timer at half the undisturbed time
    victim = next(iter(client.scheduler_info()["workers"]))
    timer = threading.Timer(seconds / 2, client.restart_workers, ([victim],))
    timer.start()
    restarted, restart_s = timed_fit(X, seed)
    timer.join()
    res["restart_fit_s"] = restart_s
    res["restart_ok"] = True  # it returned
    res["restart_same"] = bool(np.array_equal(restarted.cluster_centers_, est.cluster_centers_))

    # the same data in memory (gathered only now, after the measurements)
    Xm = X.compute()
    del X
    local, local_s = timed_fit(Xm, seed)
    res["local_fit_s"] = local_s
    res["error_ratio"] = est.inertia_ / local.inertia_
    res["error_ok"] = res["error_ratio"] <= ERROR_BAR
    res["same_corners"] = float(np.max(np.abs(est.cluster_centers_.astype(np.float64)
                                              - local.cluster_centers_)))
    res["same_labels"] = bool(np.array_equal(est.labels_, local.labels_))
    res["equal_ok"] = bool(np.array_equal(P.compute(), est.predict(Xm))
                           and np.array_equal(T.compute(), est.transform(Xm)))
    return res


class on_the_workers:
    """Context: fits keep their passes on the workers, light data too."""

    def __enter__(self):
        from sksfvq import _dask_rows

        self._saved = _dask_rows.GATHER_BYTES
        _dask_rows.GATHER_BYTES = 0

    def __exit__(self, *exc):
        from sksfvq import _dask_rows

        _dask_rows.GATHER_BYTES = self._saved


def sweep(ns, repeats, seed):
    rows = []
    for n in ns:
        X = make_data(n, seed)
        Xm = X.compute()
        timed_fit(X, seed)  # warm-up at this size, both ways
        with on_the_workers():
            timed_fit(X, seed)
        d, loc, default = [], [], []
        for _ in range(repeats):  # alternating
            default.append(timed_fit(X, seed)[1])
            with on_the_workers():
                est, s = timed_fit(X, seed)
            d.append((s, per_pass(est)))
            est, s = timed_fit(Xm, seed)
            loc.append((s, per_pass(est)))
        d, loc = np.median(d, axis=0), np.median(loc, axis=0)
        rows.append({"n": n, "default_fit": float(np.median(default)), "dask_fit": d[0],
                     "dask_pass": d[1], "local_fit": loc[0], "local_pass": loc[1]})
        del X, Xm
    n = np.array([r["n"] for r in rows], dtype=float)
    dp = np.array([r["dask_pass"] for r in rows])
    lp = np.array([r["local_pass"] for r in rows])
    slope, overhead = np.polyfit(n, dp, 1)
    lslope, loverhead = np.polyfit(n, lp, 1)
    # the smallest N from which the distributed fit is faster at every larger N too
    wins = [r["n"] for i, r in enumerate(rows)
            if all(q["dask_fit"] < q["local_fit"] for q in rows[i:])]
    return {"rows": rows, "overhead_ms": 1e3 * overhead, "dask_ns_per_row": 1e9 * slope,
            "local_overhead_ms": 1e3 * loverhead, "local_ns_per_row": 1e9 * lslope,
            "first_win": wins[0] if wins else None}


def versions():
    import dask
    import distributed
    from bench_scale import _versions

    return f"{_versions()}, dask {dask.__version__}, distributed {distributed.__version__}"


def report(b, s, args):
    mb = 1 << 20
    ok = lambda flag: "yes" if flag else "**no**"  # noqa: E731
    lines = [
        "# Fit on Dask arrays (`benchmarks/bench_dask.py`)", "",
        f"- command: `python benchmarks/bench_dask.py{' --quick' if args.quick else ''}"
        f"{' --no-sweep' if args.no_sweep else ''}`",
        f"- versions: {versions()}",
        f"- machine: {os.cpu_count()} cores (shared), LocalCluster of 2 worker processes x 1 "
        "thread; the local fit in the same client process with numba's 2 threads",
        f"- data: gauss16 float32 ({D} columns) in {BLOCKS} blocks, persisted; K = {K}; "
        "`SpaceFillingVQ(n_clusters=64, random_state=0)`", "",
        f"## The bar (N = {b['n']:,})", "",
        "| check | measured | bar | met |", "|---|---|---|---|",
        f"| client memory growth during the fit | {b['client_growth'] / mb:.1f} MiB "
        f"({b['client_growth'] / b['x_bytes']:.3f} of X's {b['x_bytes'] / mb:.0f} MiB) | "
        f"< {MEMORY_BAR} of X | {ok(b['memory_ok'])} |",
        f"| error / in-memory fit (inertia) | {b['error_ratio']:.6f} | <= {ERROR_BAR} | "
        f"{ok(b['error_ok'])} |",
        f"| predict / transform lazy | {ok(b['lazy_ok'])} | dask arrays | {ok(b['lazy_ok'])} |",
        f"| predict / transform equal to in memory | {ok(b['equal_ok'])} | equal | "
        f"{ok(b['equal_ok'])} |",
        f"| fit with a worker restarted half-way finishes | {b['restart_fit_s']:.1f} s "
        f"(same corners: {ok(b['restart_same'])}) | finishes | {ok(b['restart_ok'])} |", "",
        f"Fit on the workers {b['fit_s']:.1f} s ({b['passes']} passes over all rows, "
        f"{1e3 * b['per_pass_s']:.0f} ms each), in memory {b['local_fit_s']:.1f} s; largest "
        f"difference of the corners {b['same_corners']:.2e}, labels identical: "
        f"{ok(b['same_labels'])}.", ""]
    if s is not None:
        lines += [
            "## Time per pass and the break-even N", "",
            f"Medians of {args.repeats} alternating runs, 16 blocks. \"fit, dask\": the "
            "default (light data small enough for the client gathered and fitted in "
            "memory); \"on the "
            "workers\": every pass on the workers; the ratio and the passes are those of "
            "the fit on the workers.", "",
            "| N | fit, dask (s) | fit on the workers (s) | fit, local (s) | ratio | "
            "pass, dask (ms) | pass, local (ms) |",
            "|---|---|---|---|---|---|---|"]
        for r in s["rows"]:
            lines.append(f"| {r['n']:,} | {r['default_fit']:.2f} | {r['dask_fit']:.2f} | "
                         f"{r['local_fit']:.2f} | "
                         f"{r['dask_fit'] / r['local_fit']:.2f} | {1e3 * r['dask_pass']:.0f} | "
                         f"{1e3 * r['local_pass']:.0f} |")
        win = (f"from N = {s['first_win']:,}" if s["first_win"] else
               f"at no N up to {s['rows'][-1]['n']:,}")
        lines += [
            "", f"- overhead per pass (the constant of a line through the dask passes): "
            f"{s['overhead_ms']:.0f} ms (local: {s['local_overhead_ms']:.0f} ms); "
            f"{s['dask_ns_per_row']:.0f} ns per row on the workers vs "
            f"{s['local_ns_per_row']:.0f} in memory",
            f"- the fit on 2 workers beats the local one (same 2 cores) {win}", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"N = {QUICK_N:,}, sweep to it")
    p.add_argument("--no-sweep", action="store_true", help="the bar only")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=50)
    client = Client(cluster)
    try:
        n = QUICK_N if args.quick else BAR_N
        b = bar(client, n, args.seed)
        print(b, flush=True)
        s = None
        if not args.no_sweep:
            ns = [m for m in SWEEP_N if m <= n]
            s = sweep(ns, args.repeats, args.seed)
            print(s, flush=True)
    finally:
        client.close()
        cluster.close()
    text = report(b, s, args)
    print(text)
    if args.out != "none":
        os.makedirs(args.out, exist_ok=True)
        name = "dask_quick.md" if args.quick else "dask.md"
        with open(os.path.join(args.out, name), "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
