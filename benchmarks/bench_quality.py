"""Quality benchmark of issue 3: SpaceFillingVQ against its peers.

Usage::

    python benchmarks/bench_quality.py --quick            # CI size, < ~2 min
    python benchmarks/bench_quality.py                    # full run (METRICS.md N)
    python benchmarks/bench_quality.py --quick --datasets gauss2 digits \
        --methods kmeans kmeans_path sfvq --param smoothness=0.02 --out none

For every dataset and method: every quality measure of METRICS.md
(``sksfvq.metrics.evaluate``), the median fit time over repeats (all methods
timed alternating in this process, same data, same threads) and its ratio to
``KMeans(n_init=1)``; the bar of issue 3 item 1 checked for the default
``SpaceFillingVQ``; one Markdown table per dataset and a Pareto plot.

``run(...)`` is the function entry point and returns the results dict.
"""

import argparse
import ast
import os
import platform
import sys
import time

import numpy as np

try:  # run as a script (benchmarks/ on sys.path) or imported as a module
    import peers
except ImportError:  # pragma: no cover
    from benchmarks import peers

DATASETS = ["gauss2", "gauss16", "gauss128", "digits"]
QUICK_N = 8192
#: the methods of the bar's time ratio: timed ``repeats`` times (default 5
#: full, 3 quick); the other methods are timed at most ``OTHER_REPEATS`` times
#: in full mode and once in quick mode (their time is not part of the bar, and
#: the SOM and plain VQ are slow)
BAR_TIMED = ("kmeans", "sfvq")
#: peers that ``--cache`` may store: they depend only on scikit-learn and
#: MiniSom (the sgd peer is sksfvq code and is always refitted)
CACHEABLE = ("minibatch", "plain_vq", "kmeans_path", "som")
OTHER_REPEATS = 3
#: the measures of the tables, in order
COLUMNS = ["mse_corner", "mse_rel", "mse_curve", "adj_ratio", "curve_length", "cont10",
           "trust10", "usage", "dead", "label_spread", "fit_s", "fit_ratio", "repeats"]
MSE_BAR, PEER_MSE_WINDOW, TIME_BAR = 1.03, 1.10, 2.0
#: Pareto plot: points with mse_corner beyond this ratio are drawn at it
X_CLIP = 1.25


def _versions():
    import numba
    import sklearn

    import sksfvq

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "scikit-learn": sklearn.__version__, "numba": numba.__version__,
           "sksfvq": getattr(sksfvq, "__version__", "?")}
    try:
        import minisom

        out["minisom"] = getattr(minisom, "__version__", None) or _dist_version("minisom")
    except ImportError:
        pass
    out["git"] = _git_commit()
    return out


def _git_commit():
    """Short commit of the checkout (``+dirty`` when sksfvq/ has local changes)."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sksfvq"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # pragma: no cover
        return "?"
    return (sha or "?") + ("+dirty" if dirty else "")


def _dist_version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # pragma: no cover
        return "?"


def _threads():
    import numba

    info = {"cpu_count": os.cpu_count(), "numba": numba.get_num_threads()}
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            info[pool.get("internal_api", pool.get("user_api"))] = pool["num_threads"]
    except Exception:  # pragma: no cover
        pass
    return info


def _load(name, quick, n_samples=None):
    from sksfvq.datasets import load_standard

    if name == "digits":
        return load_standard(name)
    n = n_samples or (QUICK_N if quick else None)
    return load_standard(name, n_samples=n)


def _fit_fn(key, params):
    fn = peers.PEERS[key][1]
    if key == "sfvq" and params:
        return lambda X, k, seed: peers.fit_sfvq(X, k, seed, **params)
    return fn


def bar_check(rows):
    """Issue 3 item 1 for the default ``SpaceFillingVQ`` (key ``sfvq``).

    ``rows``: ``{key: {"mse_corner", "adj_ratio", "fit_ratio"}}`` with at
    least ``kmeans`` and ``sfvq``. Returns a dict with the three checks, the
    adj_ratio bar and the peer that sets it (None when no ordered peer is
    within 1.10 x KMeans' mse_corner: the order check then passes), and
    ``pass``.
    """
    if "kmeans" not in rows or "sfvq" not in rows:
        return None
    km = rows["kmeans"]["mse_corner"]
    ours = rows["sfvq"]
    eligible = {key: rows[key]["adj_ratio"] for key in ("kmeans_path", "som", "sgd")
                if key in rows and rows[key]["mse_corner"] <= PEER_MSE_WINDOW * km}
    if eligible:
        setter = min(eligible, key=eligible.get)
        adj_bar = eligible[setter]
    else:
        setter, adj_bar = None, float("inf")
    out = {
        "mse_rel": ours["mse_corner"] / km,
        "mse_ok": ours["mse_corner"] <= MSE_BAR * km,
        "adj_bar": adj_bar,
        "adj_setter": setter,
        "adj_ok": ours["adj_ratio"] <= adj_bar,
        "time_ratio": ours["fit_ratio"],
        "time_ok": ours["fit_ratio"] <= TIME_BAR,
        "peers_considered": [k for k in ("kmeans_path", "som", "sgd") if k in rows],
    }
    out["pass"] = out["mse_ok"] and out["adj_ok"] and out["time_ok"]
    return out


def _bar_line(name, bar):
    if bar is None:
        return f"{name}: bar check n/a (needs kmeans and sfvq)"
    flag = lambda ok: "ok" if ok else "FAIL"  # noqa: E731
    setter = peers.PEERS[bar["adj_setter"]][0] if bar["adj_setter"] else "no eligible peer"
    return (f"{name}: {'PASS' if bar['pass'] else 'FAIL'} -- "
            f"mse_corner {bar['mse_rel']:.4f} x KMeans (<= {MSE_BAR}: {flag(bar['mse_ok'])}); "
            f"adj_ratio vs bar {bar['adj_bar']:.4g} set by {setter} "
            f"({flag(bar['adj_ok'])}); fit time {bar['time_ratio']:.2f} x KMeans "
            f"(<= {TIME_BAR}: {flag(bar['time_ok'])})")


def _cache_path(cache, name, X, m, seed, quick, threads):
    return os.path.join(cache, f"{name}_N{X.shape[0]}_D{X.shape[1]}_{m}_seed{seed}"
                               f"_{'quick' if quick else 'full'}_t{threads or 'default'}.pkl")


def run_dataset(name, methods, quick=False, repeats=None, params=None, seed=0,
                n_samples=None, verbose=True, cache=None, threads=None):
    """Fit and measure every method on one dataset; returns its results dict.

    With ``cache`` (a folder), the results of the peers in ``CACHEABLE``
    (MiniBatchKMeans, plain VQ, KMeans + path, SOM) are stored there and
    reused by later runs with
    the same dataset, N, seed, mode and threads (``repeats`` then reads
    ``cached``; their fit_ratio uses the current KMeans time).
    """
    import pickle

    from sksfvq.metrics import evaluate

    X, y, k = _load(name, quick, n_samples)
    cached = {}
    if cache:
        os.makedirs(cache, exist_ok=True)
        for m in methods:
            path = _cache_path(cache, name, X, m, seed, quick, threads)
            if m in CACHEABLE and os.path.exists(path):
                with open(path, "rb") as fh:
                    cached[m] = pickle.load(fh)
    todo = [m for m in methods if m not in cached]
    n_rep = repeats if repeats is not None else (3 if quick else 5)
    other = 1 if quick else OTHER_REPEATS
    reps = {m: (n_rep if m in BAR_TIMED else min(n_rep, other)) for m in todo}
    methods_all, methods = methods, todo
    fns = {m: _fit_fn(m, params) for m in methods}
    # warm-up: JIT compilation and library first-call costs stay out of the
    # timings (METRICS.md: compile time is reported separately)
    Xw = X[: min(512, X.shape[0])]
    for m in methods:
        if m in ("sfvq", "sgd"):
            fns[m](Xw, min(k, 8), seed)
    times = {m: [] for m in methods}
    first = {}
    for r in range(max(reps.values(), default=0)):
        for m in methods:  # alternating: every method once per round
            if r >= reps[m]:
                continue
            res = fns[m](X, k, seed)
            times[m].append(res["fit_s"])
            if r == 0:
                first[m] = res
            if verbose:
                print(f"  {name} round {r + 1}: {m} {res['fit_s']:.3f} s", flush=True)
    rows = {}
    for m in methods:
        res = first[m]
        row = evaluate(X, res["codebook"], positions=res["positions"], labels=y)
        row["fit_s"] = float(np.median(times[m]))
        row["repeats"] = len(times[m])
        row["fit_times"] = [float(t) for t in times[m]]
        rows[m] = row
        if cache and m in CACHEABLE:
            with open(_cache_path(cache, name, X, m, seed, quick, threads), "wb") as fh:
                pickle.dump({"row": row, "codebook": np.asarray(res["codebook"])}, fh)
    for m, entry in cached.items():
        rows[m] = dict(entry["row"], repeats="cached")
        first[m] = {"codebook": entry["codebook"]}
    methods = methods_all
    rows = {m: rows[m] for m in methods}
    if "kmeans" in rows:
        km = rows["kmeans"]
        for row in rows.values():
            row["fit_ratio"] = row["fit_s"] / km["fit_s"]
            row["mse_rel"] = row["mse_corner"] / km["mse_corner"]
    info = {"N": int(X.shape[0]), "D": int(X.shape[1]), "K": int(k),
            "labels": y is not None}
    codebooks = {m: np.asarray(first[m]["codebook"]) for m in methods}
    return {"info": info, "methods": rows, "bar": bar_check(rows), "codebooks": codebooks}


def _table(name, ds, header):
    from sksfvq.metrics import markdown_table

    info = ds["info"]
    cols = [c for c in COLUMNS if any(c in r for r in ds["methods"].values())]
    named = {peers.PEERS[m][0]: {c: r.get(c) for c in cols}
             for m, r in ds["methods"].items()}
    lines = [f"## {name} (N={info['N']}, D={info['D']}, K={info['K']})", ""]
    lines += header
    lines += ["", markdown_table(named, columns=cols), ""]
    if ds["bar"] is not None:
        lines += ["Bar of issue 3 item 1 (default SpaceFillingVQ): " + _bar_line(name, ds["bar"]),
                  ""]
    return lines


def _header(results):
    v = results["versions"]
    t = results["threads"]
    lines = [
        "- versions: " + ", ".join(f"{a} {b}" for a, b in v.items()),
        "- threads: " + ", ".join(f"{a}={b}" for a, b in t.items())
        + (f" (pinned with --threads {results['pinned_threads']}" if results.get("pinned_threads")
           else " (library defaults, not pinned")
        + "; the machine is shared with other CPU-heavy jobs)",
        f"- mode: {'quick' if results['quick'] else 'full'}, seed {results['seed']}, "
        f"started {results['started']} UTC, "
        f"{results.get('elapsed_s', 0.0):.0f} s for {len(results['datasets'])} dataset(s)",
        "- fit_s: median wall-clock seconds over `repeats` fits, all methods timed "
        "alternating in one process on the same data; fit_ratio = fit_s / KMeans(n_init=1) "
        "fit_s (absolute seconds drift on shared machines, ratios are the measure); "
        "JIT compilation is excluded by a warm-up fit.",
        "- mse_rel = mse_corner / KMeans(n_init=1) mse_corner. Quality measures come "
        "from the first fit (seed 0).",
    ]
    if results["params"]:
        lines.append(f"- SpaceFillingVQ() default overridden with {results['params']}")
    return lines


def write_markdown(results, path):
    lines = ["# Quality benchmark (issue 3)", "",
             f"Generated by `{results['command']}`. Definitions: METRICS.md.", ""]
    head = _header(results)
    lines += head + [""]
    lines += ["## Bar check (issue 3 item 1)", ""]
    lines += ["- " + _bar_line(n, ds["bar"]) for n, ds in results["datasets"].items()]
    lines += [""]
    if results["quick"]:
        lines += ["Quick mode: only KMeans and the default SpaceFillingVQ are timed "
                  "repeatedly (column `repeats`); the other times are single runs.", ""]
    else:
        lines += [f"Timing repeats (column `repeats`): KMeans and the default "
                  f"SpaceFillingVQ (the bar's ratio) as asked; the other methods at most "
                  f"{OTHER_REPEATS} (slow, and not part of the bar).", ""]
    for name, ds in results["datasets"].items():
        lines += _table(name, ds, [])
    with open(path, "w") as fh:
        fh.write("\n".join(lines))


def pareto_plot(results, path):
    """mse_corner / KMeans vs adj_ratio, one point per method, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import FormatStrFormatter

    names = list(results["datasets"])
    ncol = min(len(names), 2)
    nrow = -(-len(names) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.0 * ncol, 4.6 * nrow + 1.0),
                             squeeze=False)
    markers = dict(zip(peers.PEERS, "os^DvPX"))
    colors = {m: plt.cm.tab10(i) for i, m in enumerate(peers.PEERS)}
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        ds = results["datasets"][name]
        for m, row in ds["methods"].items():
            if "mse_rel" not in row:
                continue
            x = min(row["mse_rel"], X_CLIP)
            if row["mse_rel"] > X_CLIP:  # far right: drawn at the edge, value written
                ax.annotate(f"{row['mse_rel']:.2f}", (x, row["adj_ratio"]),
                            textcoords="offset points", xytext=(-6, 6), ha="right",
                            fontsize=8)
            ax.scatter(x, row["adj_ratio"], marker=markers.get(m, "o"), s=60,
                       color=colors.get(m),
                       label=peers.PEERS[m][0], zorder=3,
                       edgecolors="k" if m == "sfvq" else "none")
        ax.axvline(MSE_BAR, color="0.5", lw=0.8, ls="--")
        ax.axvline(PEER_MSE_WINDOW, color="0.7", lw=0.8, ls=":")
        bar = ds["bar"]
        if bar is not None and np.isfinite(bar["adj_bar"]):
            ax.axhline(bar["adj_bar"], color="0.5", lw=0.8, ls="--")
        ax.xaxis.set_major_formatter(FormatStrFormatter("%.2f"))
        info = ds["info"]
        verdict = "" if bar is None else (
            (" PASS" if bar["pass"] else " FAIL") + f" (time {bar['time_ratio']:.2f}x)")
        ax.set_title(f"{name} N={info['N']} D={info['D']} K={info['K']}{verdict}", fontsize=10)
        ax.set_xlabel("mse_corner / KMeans(n_init=1)")
        ax.set_ylabel("adj_ratio (lower = better ordered)")
        ax.grid(True, alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=9,
               frameon=False)
    fig.suptitle("Quality benchmark: lower-left is better; dashed lines = the bar "
                 f"(x = {MSE_BAR}, y = best eligible ordered peer), dotted x = {PEER_MSE_WINDOW};\n"
                 f"points beyond x = {X_CLIP} drawn at the edge with their value",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.7 / (4.6 * nrow + 1.0), 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(datasets=None, quick=False, repeats=None, out="benchmarks/results", methods=None,
        params=None, seed=0, n_samples=None, tag=None, threads=None, cache=None,
        verbose=True):
    """Run the benchmark; returns ``{"datasets": {name: {...}}, ...}``.

    Parameters
    ----------
    datasets : list of str, default all four standard sets.
    quick : bool, N = 8192 rows for the Gaussian sets; only KMeans and the
        default SpaceFillingVQ are repeated (``repeats``, default 3), the
        other methods are timed once.
    repeats : int or None, timing repeats of KMeans and the default
        SpaceFillingVQ (default 3 quick / 5 full); the other methods use at
        most 3 in full mode and 1 in quick mode.
    out : str or None, folder for ``quality[_quick][_tag].md`` and
        ``pareto[_quick][_tag].png``; None (or "none") writes nothing.
    methods : list of keys of ``peers.PEERS`` (``kmeans`` is always added:
        it is the reference of the ratios).
    params : dict, overrides for the default ``SpaceFillingVQ`` (key ``sfvq``).
    n_samples : int or None, rows of the Gaussian sets (overrides the mode).
    threads : int or None, pin every method to this many threads (numba's
        ``set_num_threads`` and threadpoolctl's limit for OpenMP and BLAS);
        None keeps the libraries' defaults.
    cache : str or None, folder where the scikit-learn/MiniSom peers
        (``CACHEABLE``) are stored and reused (fast parameter sweeps); KMeans,
        sgd and the default SpaceFillingVQ are always refitted.
    """
    import numba
    from threadpoolctl import threadpool_limits

    if threads is None:
        return _run(datasets, quick, repeats, out, methods, params, seed, n_samples, tag,
                    None, cache, verbose)
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=threads):
            return _run(datasets, quick, repeats, out, methods, params, seed, n_samples,
                        tag, threads, cache, verbose)
    finally:
        numba.set_num_threads(old)


def _run(datasets, quick, repeats, out, methods, params, seed, n_samples, tag, threads,
         cache, verbose):
    datasets = list(datasets or DATASETS)
    methods = list(methods or peers.PEERS)
    unknown = [m for m in methods if m not in peers.PEERS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(peers.PEERS)}")
    if "kmeans" not in methods:
        methods.insert(0, "kmeans")
    methods = [m for m in peers.PEERS if m in methods]  # table order
    params = dict(params or {})
    results = {"quick": bool(quick), "seed": seed, "params": params, "methods": methods,
               "pinned_threads": threads,
               "command": _command(datasets, quick, repeats, methods, params, seed, n_samples,
                                   threads, cache),
               "versions": _versions(), "threads": _threads(),
               "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "datasets": {}}
    t0 = time.perf_counter()
    for name in datasets:
        if verbose:
            print(f"[{name}]", flush=True)
        ds = run_dataset(name, methods, quick=quick, repeats=repeats, params=params,
                         seed=seed, n_samples=n_samples, verbose=verbose, cache=cache,
                         threads=threads)
        results["datasets"][name] = ds
        results["elapsed_s"] = time.perf_counter() - t0
        if verbose:
            print("\n".join(_table(name, ds, [])), flush=True)
        _write(results, out, quick, tag, verbose=False)  # partial results survive
    if verbose:
        print("\n".join(_header(results)))
        for name, ds in results["datasets"].items():
            print(_bar_line(name, ds["bar"]))
        print(f"total {results['elapsed_s']:.1f} s", flush=True)
    _write(results, out, quick, tag, verbose=verbose)
    return results


def _write(results, out, quick, tag, verbose=True):
    if out is None or str(out).lower() == "none":
        return
    os.makedirs(out, exist_ok=True)
    suffix = ("_quick" if quick else "") + (f"_{tag}" if tag else "")
    md = os.path.join(out, f"quality{suffix}.md")
    png = os.path.join(out, f"pareto{suffix}.png")
    write_markdown(results, md)
    pareto_plot(results, png)
    results["files"] = [md, png]
    if verbose:
        print(f"wrote {md} and {png}")


def _command(datasets, quick, repeats, methods, params, seed, n_samples, threads, cache):
    """The command line that reproduces a run."""
    parts = ["python benchmarks/bench_quality.py"]
    if quick:
        parts.append("--quick")
    if list(datasets) != DATASETS:
        parts.append("--datasets " + " ".join(datasets))
    if list(methods) != list(peers.PEERS):
        parts.append("--methods " + " ".join(methods))
    if repeats is not None:
        parts.append(f"--repeats {repeats}")
    parts += [f"--param {k}={v!r}" if isinstance(v, str) else f"--param {k}={v}"
              for k, v in params.items()]
    if n_samples:
        parts.append(f"--n-samples {n_samples}")
    if seed:
        parts.append(f"--seed {seed}")
    if threads:
        parts.append(f"--threads {threads}")
    if cache:
        parts.append(f"--cache {cache}")
    return " ".join(parts)


def _parse_param(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param wants name=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass  # keep as a string, e.g. algorithm=lloyd
    return key.strip(), value


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"N={QUICK_N} rows for the Gaussian sets; only kmeans and sfvq "
                   "repeated (CI size)")
    p.add_argument("--datasets", nargs="+", default=None, choices=DATASETS)
    p.add_argument("--methods", nargs="+", default=None, choices=list(peers.PEERS),
                   help="subset of methods (kmeans is always included)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timing repeats of kmeans and sfvq (default 3 quick, 5 full); other "
                   "methods at most 3 (full) or once (quick)")
    p.add_argument("--param", action="append", type=_parse_param, default=[],
                   metavar="NAME=VALUE",
                   help="override a parameter of the default SpaceFillingVQ (repeatable)")
    p.add_argument("--n-samples", type=int, default=None,
                   help="rows of the Gaussian sets (overrides the mode's N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="pin numba, OpenMP and BLAS threads of every method (default: "
                   "library defaults); 1 gives stable ratios on a busy machine")
    p.add_argument("--out", default="benchmarks/results",
                   help="output folder, or 'none' to write nothing")
    p.add_argument("--tag", default=None, help="suffix of the output file names")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="store and reuse the scikit-learn/MiniSom peers (minibatch, "
                   "plain_vq, kmeans_path, som) in DIR (fast sweeps of --param)")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when the bar check fails on any dataset")
    args = p.parse_args(argv)
    res = run(datasets=args.datasets, quick=args.quick, repeats=args.repeats, out=args.out,
              methods=args.methods, params=dict(args.param), seed=args.seed,
              n_samples=args.n_samples, tag=args.tag, threads=args.threads,
              cache=args.cache)
    bars = [ds["bar"] for ds in res["datasets"].values() if ds["bar"] is not None]
    return 1 if args.strict and not all(b["pass"] for b in bars) else 0


if __name__ == "__main__":
    sys.exit(main())
