"""Speed and memory of sksfvq's inference (``transform`` and ``predict``).

Measures, as METRICS.md asks (ratios in one process, medians of alternating
runs, same data and thread count for both sides):

1. ``transform`` (exact projection onto all K-1 segments) and ``predict``
   (nearest corner) against ``sklearn.cluster.KMeans.predict`` on
   N = 1,000,000 x D = 32, K = 256, float32, 2 threads: seconds, ratio,
   GFLOP/s (2 N K D / s) next to a large float32 matrix product's GFLOP/s.
2. A scaling table (D = 32): N from 1e4 to 1e7 at K = 256 and K from 16 to
   4096 at N = 1e5: seconds and rows/s.
3. Peak resident memory of a 1e7 x 32 float32 ``transform`` above the input
   and output arrays (fresh process).
4. Cold start: ``import sksfvq`` and the first fit/transform/predict in
   float64 and float32 with an empty (median of 3 fresh directories) and a
   warm on-disk numba cache, with the compile time of every function, and
   with an empty cache and no compile helper.

Usage::

    python benchmarks/bench_speed.py            # full run (a few minutes)
    python benchmarks/bench_speed.py --quick    # smaller sizes (about a minute)
    python benchmarks/bench_speed.py --out benchmarks/results/speed.md

Public API only. The data are standard-normal rows from a fixed seed; the
corners are a fitted model's (K random rows refined by one Lloyd step), so
the timing reflects a realistic codebook. If the environment sets
``OPENBLAS_CORETYPE`` (see the environment notes), unset it together with
``OPENBLAS_L2_SIZE`` for this command only, so that numpy's BLAS runs its
native kernel; the BLAS kernel in use is printed.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def _now():
    return time.perf_counter()


def _fitted(X, k, seed=0):
    """A SpaceFillingVQ with k corners: k distinct rows, one Lloyd step."""
    from sksfvq import SpaceFillingVQ

    rng = np.random.default_rng(seed)
    n_fit = min(len(X), max(4 * k, 20_000))
    sub = X[rng.choice(len(X), n_fit, replace=False)]
    init = sub[rng.choice(n_fit, k, replace=False)]
    est = SpaceFillingVQ(n_clusters=k, init=init, max_iter=1, n_jobs=2)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(sub)
    return est


def _kmeans_like(est, X):
    """A KMeans whose predict runs on the same K centres and dtype."""
    from sklearn.cluster import KMeans

    C = est.cluster_centers_
    km = KMeans(n_clusters=len(C), init=C, n_init=1, max_iter=1)
    km.fit(X[: max(len(C), 20_000)])
    km.cluster_centers_ = C.copy()
    return km


def gemm_gflops(n=2048, repeats=3, dtype=np.float32):
    """GFLOP/s of one large square matrix product (the machine's ceiling)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    A @ B  # warm up the BLAS thread pool
    times = []
    for _ in range(repeats):
        t0 = _now()
        A @ B
        times.append(_now() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def headline(n=1_000_000, d=32, k=256, runs=5, threads=2):
    """transform/predict vs KMeans.predict: medians of alternating runs."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    est = _fitted(X, k)
    est.set_params(n_jobs=threads)
    km = _kmeans_like(est, X)
    with threadpool_limits(threads):
        # warm-up (compilation, thread pools) outside the timing
        est.transform(X[:10_000])
        est.predict(X[:10_000])
        km.predict(X[:10_000])
        times = {"KMeans.predict": [], "transform": [], "predict": []}
        for _ in range(runs):
            for name, fn in (("KMeans.predict", km.predict), ("transform", est.transform),
                             ("predict", est.predict)):
                t0 = _now()
                out = fn(X)
                times[name].append(_now() - t0)
                del out
        ceiling = gemm_gflops()
    med = {name: statistics.median(v) for name, v in times.items()}
    flop = 2.0 * n * k * d
    rows = []
    for name in ("KMeans.predict", "transform", "predict"):
        rows.append({
            "what": name,
            "median_s": med[name],
            "min_s": min(times[name]),
            "ratio": med[name] / med["KMeans.predict"],
            "gflops": flop / med[name] / 1e9,
        })
    return {"n": n, "d": d, "k": k, "threads": threads, "runs": runs, "rows": rows,
            "gemm_gflops": ceiling, "dtype_out": str(est.transform(X[:3]).dtype)}


def scaling(quick=False, d=32, threads=2):
    """Seconds and rows/s of transform over N (K = 256) and over K (N = 1e5)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(2)
    ns = [10_000, 100_000, 1_000_000] if quick else [10_000, 100_000, 1_000_000, 10_000_000]
    ks = [16, 64, 256, 1024] if quick else [16, 64, 256, 1024, 4096]
    cases = [(n, 256) for n in ns] + [(100_000, k) for k in ks if k != 256]
    X_all = rng.standard_normal((max(ns), d)).astype(np.float32)
    models = {}
    out = []
    with threadpool_limits(threads):
        for n, k in cases:
            if k not in models:
                models[k] = _fitted(X_all[:200_000], k)
                models[k].transform(X_all[:1000])
            est = models[k]
            X = X_all[:n]
            reps = 3 if n * k <= 256 * 1_000_000 else 1
            best_t = min(_timed(est.transform, X) for _ in range(reps))
            best_p = min(_timed(est.predict, X) for _ in range(reps))
            out.append({"n": n, "k": k, "transform_s": best_t, "predict_s": best_p,
                        "rows_per_s": n / best_t,
                        "ns_per_row_per_kd": best_t / (n * k * d) * 1e9})
    return out


def _timed(fn, X):
    t0 = _now()
    fn(X)
    return _now() - t0


_MEMORY_CODE = r"""
import json, resource, sys, numpy as np
n, d, k = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
from sksfvq import SpaceFillingVQ
rng = np.random.default_rng(0)
sub = rng.standard_normal((20000, d)).astype(np.float32)
est = SpaceFillingVQ(n_clusters=k, init=sub[:k], max_iter=1, n_jobs=2).fit(sub)
est.transform(sub[:1000]); est.predict(sub[:1000])   # compile before measuring
X = np.empty((n, d), dtype=np.float32)
for s in range(0, n, 1_000_000):                      # fill in chunks: no temporaries
    X[s:s + 1_000_000] = rng.standard_normal((min(1_000_000, n - s), d), dtype=np.float32)
def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
def peak_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
# reset the high-water mark where the kernel allows it (Linux >= 4.0)
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
base = rss_mib()
T = est.transform(X)
after_t = peak_mib()
out_mib = T.nbytes / 2**20
del T
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
base_p = rss_mib()
L = est.predict(X)
after_p = peak_mib()
outp_mib = L.nbytes / 2**20
print(json.dumps({"input_mib": X.nbytes / 2**20, "base_rss_mib": base,
                  "transform_out_mib": out_mib, "transform_peak_mib": after_t,
                  "transform_extra_mib": after_t - base - out_mib,
                  "predict_out_mib": outp_mib, "predict_peak_mib": after_p,
                  "predict_extra_mib": after_p - base_p - outp_mib}))
"""


def memory(n=10_000_000, d=32, k=256):
    """Peak RSS of transform/predict above input and output (fresh process)."""
    res = subprocess.run([sys.executable, "-c", _MEMORY_CODE, str(n), str(d), str(k)],
                         capture_output=True, text=True, timeout=1200)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


_COMPILE_CODE = r"""
import json, sys, time
from collections import defaultdict
t0 = time.perf_counter()
import numpy as np
from sksfvq import SpaceFillingVQ
t_import = time.perf_counter() - t0
import numba.core.event as ev

own = defaultdict(float)   # seconds of compiling per function, callees excluded
stack = []

class Timer(ev.Listener):
    def on_start(self, e):
        stack.append([e.data["dispatcher"], time.perf_counter(), 0.0])

    def on_end(self, e):
        disp, start, inner = stack.pop()
        total = time.perf_counter() - start
        f = disp.py_func
        own[f"{f.__module__}.{f.__qualname__}"] += total - inner
        if stack:
            stack[-1][2] += total

ev.register("numba:compile", Timer())
X = np.random.default_rng(0).standard_normal((10_000, 16))
times = {"import": t_import}
for dt in ("float64", "float32"):
    Xd = X.astype(dt)
    est = SpaceFillingVQ(n_clusters=64, random_state=0)
    for what, fn in (("fit", lambda: est.fit(Xd)), ("transform", lambda: est.transform(Xd)),
                     ("predict", lambda: est.predict(Xd))):
        t = time.perf_counter()
        fn()
        times[f"{what} {dt}"] = time.perf_counter() - t
from sksfvq import _engine
backend = getattr(_engine, "backend", lambda: "simd (the only one before the re-cut)")()
print(json.dumps({"times": times, "total": sum(times.values()), "own": own,
                  "backend": backend}))
"""

#: where a compiled function belongs, by module (the rest is numba's own code)
_OWNERS = (("sksfvq._train", "trainer"), ("sksfvq._path", "trainer"), ("sksfvq._init", "trainer"),
           ("sksfvq._order", "trainer"), ("sksfvq._chain", "trainer"),
           ("sksfvq._sample", "trainer"), ("sksfvq.", "kernel layer"),
           ("numba.", "numba internals"))


def _owner(name):
    return next((who for prefix, who in _OWNERS if name.startswith(prefix)), "other")


_NO_HELPER = "empty cache, no compile helper"


def compile_times(repeats=3):
    """Cold start: import + first fit/transform/predict (10,000 x 16, K=64) in float64
    then float32, with an empty numba cache (median of ``repeats`` fresh caches, with the
    compile time of every function the first process compiles), with a warm one, and with
    an empty one and no compile helper (``SKSFVQ_COMPILE_HELPER=0``)."""
    runs = []
    for _ in range(repeats):
        # a fresh cache for the empty run (whose cache the warm run reuses) and one
        # for the run without the helper
        for labels, helper in ((("empty cache", "warm cache"), "1"), ((_NO_HELPER,), "0")):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, NUMBA_CACHE_DIR=cache, SKSFVQ_COMPILE_HELPER=helper)
                for label in labels:
                    res = subprocess.run([sys.executable, "-c", _COMPILE_CODE], env=env,
                                         capture_output=True, text=True, timeout=1200)
                    if res.returncode != 0:
                        return {"error": res.stderr.strip().splitlines()[-1:]}
                    runs.append((label, json.loads(res.stdout.strip().splitlines()[-1])))
    out = {}
    for label in ("empty cache", "warm cache", _NO_HELPER):
        rs = [r for lab, r in runs if lab == label]
        out[label] = {"total": statistics.median(r["total"] for r in rs),
                      "totals": [r["total"] for r in rs],
                      "times": {k: statistics.median(r["times"][k] for r in rs)
                                for k in rs[0]["times"]},
                      "backend": rs[0]["backend"]}
        names = set().union(*(r["own"] for r in rs))
        own = {n: statistics.median(r["own"].get(n, 0.0) for r in rs) for n in names}
        out[label]["own"] = dict(sorted(own.items(), key=lambda kv: -kv[1]))
        shares = {}
        for n, t in own.items():
            shares[_owner(n)] = shares.get(_owner(n), 0.0) + t
        out[label]["shares"] = shares
    # plain import (no kernel use) in a fresh process, median of 3
    imports = []
    for _ in range(3):
        res = subprocess.run([sys.executable, "-X", "importtime", "-c",
                              "from sksfvq import SpaceFillingVQ"],
                             capture_output=True, text=True, timeout=300)
        # the package, then the estimator it loads on first use (two top-level entries)
        top = [ln for ln in res.stderr.splitlines()
               if ln.rstrip().endswith(("| sksfvq", "| sksfvq._sfvq"))]
        if top:
            imports.append(sum(int(ln.split("|")[1]) for ln in top) / 1e6)
    out["import_sksfvq_s"] = statistics.median(imports) if imports else float("nan")
    return out


def _kernels_in_use():
    """The kernel back end and the CPU numba compiles for (the engine's choice)."""
    from sksfvq import _engine

    if not hasattr(_engine, "backend"):  # a commit before the two back ends
        return "simd (the only one)"
    cpu = os.environ.get("NUMBA_CPU_NAME", "host")
    if os.environ.get("NUMBA_CPU_FEATURES"):
        cpu += " (named features)"
    return (f"{_engine.backend()} (SKSFVQ_KERNELS={os.environ.get('SKSFVQ_KERNELS', 'auto')}, "
            f"compiled for {cpu})")


def _versions():
    import numba
    import sklearn
    from threadpoolctl import threadpool_info

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '-')})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scikit-learn": sklearn.__version__,
            "blas": "; ".join(blas), "cpu_count": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
            "kernels": _kernels_in_use(),
            "load average at start": " ".join(f"{v:.1f}" for v in os.getloadavg())}


def report(h, sc, mem, comp, versions, quick, load_end=None):
    lines = ["# Inference speed and memory (`benchmarks/bench_speed.py"
             + (" --quick" if quick else "") + "`)", ""]
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if load_end is not None:
        lines.append("")
        lines.append("Load average at the end of the run: " + load_end)
    lines.append("")
    lines.append(f"## transform / predict vs KMeans.predict (N={h['n']:,}, D={h['d']}, "
                 f"K={h['k']}, float32, {h['threads']} threads, median of {h['runs']} "
                 "alternating runs)")
    lines.append("")
    lines.append("| what | median s | min s | ratio to KMeans.predict | GFLOP/s (2NKD/s) | "
                 "% of matmul |")
    lines.append("|---|---|---|---|---|---|")
    for r in h["rows"]:
        lines.append(f"| {r['what']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
                     f"{r['ratio']:.2f} | {r['gflops']:.1f} | "
                     f"{100 * r['gflops'] / h['gemm_gflops']:.0f} % |")
    lines.append(f"| float32 matmul 2048^3 (numpy) | | | | {h['gemm_gflops']:.1f} | 100 % |")
    lines.append("")
    lines.append(f"transform output dtype for float32 input: {h['dtype_out']}")
    lines.append("")
    lines.append("## Scaling (D = 32, 2 threads, best of 3 runs; 1 run when N*K > 2.6e8)")
    lines.append("")
    lines.append("| N | K | transform s | predict s | rows/s (transform) | ns per row per K*D |")
    lines.append("|---|---|---|---|---|---|")
    for r in sc:
        lines.append(f"| {r['n']:,} | {r['k']} | {r['transform_s']:.4f} | "
                     f"{r['predict_s']:.4f} | {r['rows_per_s']:.3g} | "
                     f"{r['ns_per_row_per_kd']:.4f} |")
    lines.append("")
    lines.append("## Memory (fresh process, peak RSS = VmHWM after resetting it)")
    lines.append("")
    if "error" in mem:
        lines.append(f"failed: {mem['error']}")
    else:
        lines.append("| call | input MiB | output MiB | peak RSS above input+output, MiB |")
        lines.append("|---|---|---|---|")
        lines.append(f"| transform | {mem['input_mib']:.0f} | {mem['transform_out_mib']:.0f} | "
                     f"{mem['transform_extra_mib']:.0f} |")
        lines.append(f"| predict | {mem['input_mib']:.0f} | {mem['predict_out_mib']:.0f} | "
                     f"{mem['predict_extra_mib']:.0f} |")
    lines.append("")
    lines.append("## Cold start (fresh processes)")
    lines.append("")
    if "error" in comp:
        lines.append(f"failed: {comp['error']}")
        lines.append("")
        return "\n".join(lines)
    lines.append(f"`from sksfvq import SpaceFillingVQ` (python -X importtime, median of 3): "
                 f"{comp['import_sksfvq_s']:.3f} s")
    lines.append("")
    lines.append("`import sksfvq`, then fit (10,000 x 16, K=64), transform and predict in "
                 "float64, then the same in float32; seconds, median of 3 fresh cache "
                 f"directories (back end: {comp['empty cache']['backend']}):")
    lines.append("")
    parts = list(comp["empty cache"]["times"])
    lines.append("| numba cache | total s | " + " | ".join(parts) + " |")
    lines.append("|---|---|" + "---|" * len(parts))
    for label in ("empty cache", "warm cache", _NO_HELPER):
        c = comp[label]
        lines.append(f"| {label} | {c['total']:.2f} | "
                     + " | ".join(f"{c['times'][p]:.2f}" for p in parts) + " |")
    lines.append("")
    c = comp["empty cache"]
    lines.append("Totals of the three empty-cache runs: "
                 + ", ".join(f"{t:.2f}" for t in c["totals"]) + " s. Compile time by owner "
                 "(callees excluded): " + ", ".join(f"{k} {v:.2f} s" for k, v in
                                                   sorted(c["shares"].items())) + ".")
    lines.append("")
    lines.append("Totals without the compile helper: "
                 + ", ".join(f"{t:.2f}" for t in comp[_NO_HELPER]["totals"]) + " s. With it, "
                 "the first process compiles what the helper has not claimed (the table "
                 "below); the helper's compiles run in its own process.")
    lines.append("")
    lines.append("| compiled function (empty cache, median s, callees excluded) | s |")
    lines.append("|---|---|")
    for name, t in list(c["own"].items())[:25]:
        lines.append(f"| `{name}` | {t:.3f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes: N=2e5 headline, scaling up to 1e6, memory at 2e6")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs (>= 5)")
    parser.add_argument("--out", default=None, help="write the markdown report here")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: "
                        "headline,scaling,memory,compile")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    versions = _versions()
    print(json.dumps(versions), flush=True)
    h = headline(n=200_000 if args.quick else 1_000_000, runs=args.runs) \
        if "headline" not in skip else {"n": 0, "d": 0, "k": 0, "threads": 0, "runs": 0,
                                         "rows": [], "gemm_gflops": float("nan"),
                                         "dtype_out": "-"}
    print(json.dumps(h), flush=True)
    sc = scaling(quick=args.quick) if "scaling" not in skip else []
    print(json.dumps(sc), flush=True)
    mem = memory(n=2_000_000 if args.quick else 10_000_000) if "memory" not in skip \
        else {"error": "skipped"}
    print(json.dumps(mem), flush=True)
    comp = compile_times() if "compile" not in skip else {"error": "skipped"}
    print(json.dumps(comp), flush=True)
    load_end = " ".join(f"{v:.1f}" for v in os.getloadavg())
    text = report(h, sc, mem, comp, versions, args.quick, load_end)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
