"""Quality benchmark: SpaceFillingVQ against its peers, over seeds.

Usage::

    python benchmarks/bench_quality.py --quick            # CI size
    python benchmarks/bench_quality.py --threads 1        # the record (seeds 0 1 2)
    python benchmarks/bench_quality.py --quick --datasets gauss2 digits \
        --methods kmeans kmeans_path sfvq --param smoothness=0.02 --out none

For every dataset, seed and method: every quality measure of
``docs/metrics.rst`` (``sksfvq.metrics.evaluate``), the median fit time over
repeats (all methods timed alternating in this process, same data, same
threads) and its ratio to ``KMeans(n_init=1)``. Per dataset, the medians
over seeds are checked against the bar (:func:`bar_check`): the default
``SpaceFillingVQ`` within 1.03 x KMeans' error, at least as well ordered as
the best ordered peer within 1.10 x KMeans' error on ``knn_spread``,
``label_spread`` (labelled sets) and ``adj_ratio``, and (standard sets)
fitting within 2 x KMeans' time. One Markdown file with a table per dataset
and a Pareto figure (order against error, two panels per dataset).

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

try:
    from data import labelled
except ImportError:  # pragma: no cover
    from benchmarks.data import labelled

#: the standard sets (the time bar applies to them) and the labelled real sets
STANDARD = ["gauss2", "gauss16", "gauss128", "digits"]
DATASETS = STANDARD + ["mnist5000", "phones"]
SEEDS = [0, 1, 2]
QUICK_N = 8192
#: the methods of the bar's time ratio: timed ``repeats`` times (default 5
#: full, 3 quick); the other methods are timed at most ``OTHER_REPEATS`` times
#: in full mode and once in quick mode (their time is not part of the bar, and
#: the SOM and plain VQ are slow)
BAR_TIMED = ("kmeans", "sfvq")
#: peers whose fits ``--cache`` may store: they depend only on scikit-learn,
#: MiniSom and ``peers.py`` (plain VQ also on ``sksfvq.baselines``), which key
#: the entries (:func:`_peer_fingerprint`); the sgd peer is the trainer under
#: test and is always refitted
CACHEABLE = ("minibatch", "plain_vq", "kmeans_path", "som")
OTHER_REPEATS = 3
#: the measures of the tables, in order
COLUMNS = ["mse_corner", "mse_rel", "mse_curve", "adj_ratio", "knn_spread", "label_spread",
           "curve_length", "cont10", "trust10", "usage", "dead", "fit_s", "fit_ratio",
           "repeats"]
#: the peers whose index is meant to be read (the bar's order measures come from them)
ORDERED_PEERS = ("kmeans_path", "som", "sgd", "plain_vq")
#: order measures of the bar (lower is better)
ORDER_MEASURES = ("knn_spread", "label_spread", "adj_ratio")
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

    if name in labelled.SETS:
        return labelled.load(name, quick=quick)
    if name == "digits":
        return load_standard(name)
    n = n_samples or (QUICK_N if quick else None)
    return load_standard(name, n_samples=n)


def dataset_available(name):
    """False when a labelled set's packages or programs are missing."""
    return name not in labelled.SETS or labelled.available(name)


def _fit_fn(key, params):
    fn = peers.PEERS[key][1]
    if key == "sfvq" and params:
        return lambda X, k, seed: peers.fit_sfvq(X, k, seed, **params)
    return fn


def bar_check(rows, timed=True):
    """The bar for the default ``SpaceFillingVQ`` (key ``sfvq``).

    ``rows``: ``{key: {"mse_rel", "adj_ratio", "knn_spread", ["label_spread"],
    "fit_ratio"}}`` (medians over seeds) with at least ``kmeans`` and
    ``sfvq``. The order measures are compared with the best value among the
    ordered peers (``ORDERED_PEERS``) whose ``mse_rel`` is at most
    ``PEER_MSE_WINDOW``; with no eligible peer a measure passes, and a
    measure of ours that is NaN (a seed's NaN makes the median NaN) fails
    where a peer has a value. ``timed``:
    whether the time bar applies (the standard sets). Returns a dict per
    check and ``pass``, or None without ``kmeans`` and ``sfvq``.
    """
    if "kmeans" not in rows or "sfvq" not in rows:
        return None
    ours = rows["sfvq"]
    eligible = [key for key in ORDERED_PEERS
                if key in rows and rows[key]["mse_rel"] <= PEER_MSE_WINDOW]
    out = {"mse_rel": ours["mse_rel"], "mse_ok": ours["mse_rel"] <= MSE_BAR,
           "time_ratio": ours["fit_ratio"], "timed": timed,
           "time_ok": (ours["fit_ratio"] <= TIME_BAR) if timed else True,
           "peers_considered": [k for k in ORDERED_PEERS if k in rows], "order": {}}
    for measure in ORDER_MEASURES:
        value = ours.get(measure, np.nan)
        values = {key: rows[key][measure] for key in eligible
                  if np.isfinite(rows[key].get(measure, np.nan))}
        if not np.isfinite(value) and not values:
            continue  # not a measure of this set (label_spread without labels)
        setter = min(values, key=values.get) if values else None
        bar = values[setter] if setter else float("inf")
        out["order"][measure] = {"ours": value, "bar": bar, "setter": setter,
                                 "ok": bool(np.isfinite(value) and value <= bar)}
    # issue-3 style names kept for the adj_ratio check
    adj = out["order"].get("adj_ratio", {"bar": float("inf"), "setter": None, "ok": True})
    out.update(adj_bar=adj["bar"], adj_setter=adj["setter"], adj_ok=adj["ok"])
    out["pass"] = (out["mse_ok"] and out["time_ok"]
                   and all(c["ok"] for c in out["order"].values()))
    return out


def _bar_line(name, bar):
    if bar is None:
        return f"{name}: bar check n/a (needs kmeans and sfvq)"
    flag = lambda ok: "ok" if ok else "FAIL"  # noqa: E731
    parts = [f"mse_corner {bar['mse_rel']:.4f} x KMeans (<= {MSE_BAR}: {flag(bar['mse_ok'])})"]
    for measure, c in bar["order"].items():
        if c["setter"]:
            setter = peers.PEERS[c["setter"]][0]
        elif bar["peers_considered"]:
            setter = f"no ordered peer within {PEER_MSE_WINDOW} x KMeans"
        else:
            setter = "no ordered peer ran"
        parts.append(f"{measure} {c['ours']:.4g} vs {c['bar']:.4g} ({setter}: {flag(c['ok'])})")
    if bar["timed"]:
        parts.append(f"fit time {bar['time_ratio']:.2f} x KMeans (<= {TIME_BAR}: "
                     f"{flag(bar['time_ok'])})")
    else:
        parts.append(f"fit time {bar['time_ratio']:.2f} x KMeans (not a bar here)")
    return f"{name}: {'PASS' if bar['pass'] else 'FAIL'} -- " + "; ".join(parts)


def dominance(rows, frontier):
    """The moonshot: at each ordered peer's error, is SFVQ better ordered?

    ``frontier``: ``{smoothness: row}`` of SpaceFillingVQ fits (medians over
    seeds), the default included. For every ordered peer (whatever its
    error: the moonshot names each peer), the frontier point with the
    largest error not above the peer's is compared with it on every order
    measure. Returns
    ``{peer: {"smoothness", "mse_rel", "dominates", measure: (ours, peer)}}``.
    """
    out = {}
    points = sorted(frontier.items(), key=lambda kv: kv[1]["mse_rel"])
    for key in ORDERED_PEERS:
        if key not in rows or not np.isfinite(rows[key].get("mse_rel", np.nan)):
            continue
        peer = rows[key]
        below = [(s, r) for s, r in points if r["mse_rel"] <= peer["mse_rel"]]
        if not below:
            out[key] = {"smoothness": None, "dominates": False}
            continue
        s, ours = below[-1]
        entry = {"smoothness": s, "mse_rel": ours["mse_rel"]}
        better = []
        for measure in ORDER_MEASURES:
            if np.isfinite(peer.get(measure, np.nan)) and np.isfinite(ours.get(measure, np.nan)):
                entry[measure] = (ours[measure], peer[measure])
                better.append(ours[measure] < peer[measure])
        entry["dominates"] = bool(better) and all(better)
        out[key] = entry
    return out


def _peer_fingerprint(m):
    """Short hash of what a cached peer's fit depends on: the source of
    ``peers.py`` (and of ``sksfvq.baselines`` for plain VQ, which is this
    project's code) and the versions of the libraries it runs on. An edit of
    any of them makes a new cache entry instead of reading a stale one."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha1()
    sources = [peers.__file__]
    if m == "plain_vq":
        import sksfvq.baselines

        sources.append(sksfvq.baselines.__file__)
    for path in sources:
        with open(path, "rb") as fh:
            h.update(fh.read())
    for dist in ("numpy", "scikit-learn", "minisom"):
        try:
            h.update(f"{dist}={version(dist)};".encode())
        except PackageNotFoundError:
            h.update(f"{dist}=none;".encode())
    return h.hexdigest()[:12]


def _cache_path(cache, name, X, m, seed, quick, threads):
    return os.path.join(cache, f"{name}_N{X.shape[0]}_D{X.shape[1]}_{m}_seed{seed}"
                               f"_{'quick' if quick else 'full'}_t{threads or 'default'}"
                               f"_{_peer_fingerprint(m)}.pkl")


def _method_name(m):
    """Display name of a method key (``sfvq@0.1``: the default at smoothness 0.1)."""
    if m.startswith("sfvq@"):
        return f"SpaceFillingVQ(smoothness={m.split('@')[1]})"
    return peers.PEERS[m][0]


def _fit_for(m, params):
    if m.startswith("sfvq@"):
        extra = dict(params or {}, smoothness=float(m.split("@")[1]))
        return lambda X, k, seed: peers.fit_sfvq(X, k, seed, **extra)
    return _fit_fn(m, params)


def run_dataset(name, methods, quick=False, repeats=None, params=None, seed=0,
                n_samples=None, verbose=True, cache=None, threads=None, frontier=()):
    """Fit and measure every method on one dataset for one seed.

    ``frontier``: smoothness values at which the default SpaceFillingVQ is
    fitted once more (keys ``sfvq@<value>``, timed once), for the Pareto
    frontier. With ``cache`` (a folder), the fits of the peers in
    ``CACHEABLE`` (MiniBatchKMeans, plain VQ, KMeans + path, SOM: codebook,
    positions and fit times) are stored there and reused by later runs with
    the same dataset, N, seed, mode, threads and peer code
    (:func:`_peer_fingerprint`); ``repeats`` then reads ``cached``, their
    fit_ratio uses the current KMeans time, and their measures are taken
    again with the current metrics. Returns ``{"info", "methods", "bar", "codebooks"}``.
    """
    import pickle

    from sksfvq.metrics import evaluate

    X, y, k = _load(name, quick, n_samples)
    methods = list(methods) + [f"sfvq@{s:g}" for s in frontier]
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
    fns = {m: _fit_for(m, params) for m in todo}
    # warm-up: JIT compilation and library first-call costs stay out of the
    # timings (docs/metrics.rst: compile time is reported separately)
    Xw = X[: min(512, X.shape[0])]
    for m in todo:
        if m == "sgd" or m.startswith("sfvq"):
            fns[m](Xw, min(k, 8), seed)
    times = {m: [] for m in todo}
    first = {}
    for r in range(max(reps.values(), default=0)):
        for m in todo:  # alternating: every method once per round
            if r >= reps[m]:
                continue
            res = fns[m](X, k, seed)
            times[m].append(res["fit_s"])
            if r == 0:
                first[m] = res
            if verbose:
                print(f"  {name} seed {seed} round {r + 1}: {m} {res['fit_s']:.3f} s",
                      flush=True)
    for m in todo:
        if cache and m in CACHEABLE:
            with open(_cache_path(cache, name, X, m, seed, quick, threads), "wb") as fh:
                pickle.dump({"codebook": np.asarray(first[m]["codebook"]),
                             "positions": first[m]["positions"], "fit_times": times[m]}, fh)
    for m, entry in cached.items():  # the fit is reused; its measures are taken again
        first[m] = {"codebook": entry["codebook"], "positions": entry["positions"]}
        times[m] = entry["fit_times"]
    rows = {}
    for m in methods:
        res = first[m]
        row = evaluate(X, res["codebook"], positions=res["positions"], labels=y)
        row["fit_s"] = float(np.median(times[m]))
        row["repeats"] = "cached" if m in cached else len(times[m])
        row["fit_times"] = [float(t) for t in times[m]]
        rows[m] = row
    if "kmeans" in rows:
        km = rows["kmeans"]
        for row in rows.values():
            row["fit_ratio"] = row["fit_s"] / km["fit_s"]
            row["mse_rel"] = row["mse_corner"] / km["mse_corner"]
    info = {"N": int(X.shape[0]), "D": int(X.shape[1]), "K": int(k),
            "labels": y is not None}
    codebooks = {m: np.asarray(first[m]["codebook"]) for m in methods}
    return {"info": info, "methods": rows, "bar": bar_check(rows, timed=name in STANDARD),
            "codebooks": codebooks}


def aggregate(name, per_seed):
    """Medians over seeds of every numeric measure, per method, and the bar on them."""
    seeds = sorted(per_seed)
    first = per_seed[seeds[0]]
    rows = {}
    for m in first["methods"]:
        row = {}
        for c, v in first["methods"][m].items():
            values = [per_seed[s]["methods"][m].get(c) for s in seeds]
            if all(isinstance(x, (int, float, np.floating, np.integer))
                   and not isinstance(x, bool) for x in values):
                row[c] = float(np.median(values))
        row["repeats"] = "/".join(str(per_seed[s]["methods"][m].get("repeats")) for s in seeds)
        rows[m] = row
    frontier = {float(m.split("@")[1]): r for m, r in rows.items() if m.startswith("sfvq@")}
    if "sfvq" in rows and frontier:
        from sksfvq import SpaceFillingVQ

        frontier[float(SpaceFillingVQ().smoothness)] = rows["sfvq"]
    return {"info": first["info"], "seeds": seeds, "per_seed": per_seed, "methods": rows,
            "bar": bar_check(rows, timed=name in STANDARD),
            "dominance": dominance(rows, frontier) if frontier else None}


def _table(name, ds, header):
    from sksfvq.metrics import markdown_table

    info = ds["info"]
    main = {m: r for m, r in ds["methods"].items() if not m.startswith("sfvq@")}
    cols = [c for c in COLUMNS if any(c in r for r in main.values())]
    named = {_method_name(m): {c: r.get(c) for c in cols} for m, r in main.items()}
    seeds = ds.get("seeds", [])
    lines = [f"## {name} (N={info['N']}, D={info['D']}, K={info['K']})", ""]
    lines += header
    if len(seeds) > 1:
        lines += [f"Medians over seeds {', '.join(map(str, seeds))} (fit_s: median of each "
                  "seed's median; `repeats` per seed)."]
    lines += ["", markdown_table(named, columns=cols), ""]
    if ds["bar"] is not None:
        lines += ["Bar (default SpaceFillingVQ): " + _bar_line(name, ds["bar"]), ""]
    if len(seeds) > 1:
        per = {}
        for m in ds["methods"]:
            for s in seeds:
                r = ds["per_seed"][s]["methods"][m]
                per[f"{_method_name(m)}, seed {s}"] = {
                    c: r.get(c) for c in ("mse_rel", "adj_ratio", "knn_spread", "label_spread",
                                          "fit_ratio") if c in r}
        lines += ["Per seed:", "", markdown_table(per), ""]
    dom = ds.get("dominance")
    if dom:
        lines += ["Pareto check (moonshot): SpaceFillingVQ at the largest smoothness whose "
                  "error is not above the peer's, against the peer:", ""]
        for key, e in dom.items():
            if e.get("smoothness") is None:
                lines.append(f"- {_method_name(key)}: no SpaceFillingVQ point at or below its "
                             "error")
                continue
            parts = [f"{c} {v[0]:.4g} vs {v[1]:.4g}" for c, v in e.items()
                     if c in ORDER_MEASURES]
            lines.append(f"- {_method_name(key)}: smoothness {e['smoothness']:g} "
                         f"(mse_rel {e['mse_rel']:.4f}): " + ", ".join(parts)
                         + (" -- dominates" if e["dominates"] else " -- does not dominate"))
        lines.append("")
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
        f"- mode: {'quick' if results['quick'] else 'full'}, seeds "
        f"{', '.join(map(str, results['seeds']))}, started {results['started']} UTC, "
        f"{results.get('elapsed_s', 0.0):.0f} s for {len(results['datasets'])} dataset(s)",
        "- fit_s: median wall-clock seconds over `repeats` fits, all methods timed "
        "alternating in one process on the same data; fit_ratio = fit_s / KMeans(n_init=1) "
        "fit_s (absolute seconds drift on shared machines, ratios are the measure); "
        "JIT compilation is excluded by a warm-up fit.",
        "- mse_rel = mse_corner / KMeans(n_init=1) mse_corner of the same seed. Quality "
        "measures come from the first fit of each seed.",
    ]
    if results["params"]:
        lines.append(f"- SpaceFillingVQ() default overridden with {results['params']}")
    if results.get("skipped"):
        lines.append("- skipped (missing packages or programs): " + ", ".join(results["skipped"]))
    return lines


def write_markdown(results, path):
    lines = ["# Quality benchmark", "",
             f"Generated by `{results['command']}`. Definitions: `docs/metrics.rst`.", ""]
    lines += _header(results) + [""]
    lines += ["## Bar check", "",
              f"The default SpaceFillingVQ, medians over seeds: mse_corner <= {MSE_BAR} x "
              f"KMeans(n_init=1); knn_spread, label_spread (labelled sets) and adj_ratio at "
              f"most the best value of the ordered peers ({', '.join(ORDERED_PEERS)}) whose "
              f"mse_corner is within {PEER_MSE_WINDOW} x KMeans; fit time <= {TIME_BAR} x "
              f"KMeans on the standard sets ({', '.join(STANDARD)}).", ""]
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
    """Order against error, one row per dataset: adj_ratio (local order) and
    label_spread (labelled sets) or knn_spread (global order) against
    mse_corner / KMeans; medians over seeds; the SpaceFillingVQ frontier
    (smoothness values) as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    names = list(results["datasets"])
    fig, axes = plt.subplots(len(names), 2, figsize=(11.0, 3.6 * len(names) + 1.0),
                             squeeze=False)
    keys = list(peers.PEERS)
    markers = dict(zip(keys, "os^DvPX"))
    colors = {m: plt.cm.tab10(i) for i, m in enumerate(keys)}
    for row_axes, name in zip(axes, names):
        ds = results["datasets"][name]
        rows = ds["methods"]
        second = "label_spread" if ds["info"]["labels"] else "knn_spread"
        bar = ds["bar"]
        for ax, measure in zip(row_axes, ("adj_ratio", second)):
            front = sorted([(r["mse_rel"], r[measure]) for m, r in rows.items()
                            if (m.startswith("sfvq@") or m == "sfvq") and measure in r])
            if len(front) > 1:
                ax.plot([min(x, X_CLIP) for x, _ in front], [y for _, y in front], "-",
                        color=colors["sfvq"], lw=1.0, alpha=0.7, zorder=2,
                        label="SpaceFillingVQ, smoothness varied")
            for m, row in rows.items():
                if m.startswith("sfvq@") or "mse_rel" not in row or measure not in row:
                    continue
                x = min(row["mse_rel"], X_CLIP)
                if row["mse_rel"] > X_CLIP:
                    ax.annotate(f"{row['mse_rel']:.2f}", (x, row[measure]),
                                textcoords="offset points", xytext=(-6, 6), ha="right",
                                fontsize=8)
                ax.scatter(x, row[measure], marker=markers.get(m, "o"), s=60,
                           color=colors.get(m), label=_method_name(m), zorder=3,
                           edgecolors="k" if m == "sfvq" else "none")
            ax.axvline(MSE_BAR, color="0.5", lw=0.8, ls="--")
            ax.axvline(PEER_MSE_WINDOW, color="0.7", lw=0.8, ls=":")
            check = (bar or {}).get("order", {}).get(measure)
            if check and np.isfinite(check["bar"]):
                ax.axhline(check["bar"], color="0.5", lw=0.8, ls="--")
            ax.xaxis.set_major_formatter(FormatStrFormatter("%.2f"))
            ax.set_xlabel("mse_corner / KMeans(n_init=1)")
            ax.set_ylabel(f"{measure} (lower = better)")
            ax.grid(True, alpha=0.3)
        info = ds["info"]
        verdict = "" if bar is None else (" PASS" if bar["pass"] else " FAIL")
        row_axes[0].set_title(f"{name} N={info['N']} D={info['D']} K={info['K']}{verdict}: "
                              "local order", fontsize=10)
        row_axes[1].set_title(f"{name}: global order", fontsize=10)
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center",
               ncol=min(len(handles), 4), fontsize=9, frameon=False)
    fig.suptitle("Quality benchmark (medians over seeds): lower-left is better\ndashed = the "
                 f"bar (x = {MSE_BAR}; y = best eligible ordered peer), dotted x = "
                 f"{PEER_MSE_WINDOW}; points beyond x = {X_CLIP} drawn at the edge",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.9 / (3.6 * len(names) + 1.0), 1, 1 - 0.8 / (3.6 * len(names) + 1.0)))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(datasets=None, quick=False, repeats=None, out="benchmarks/results", methods=None,
        params=None, seeds=None, n_samples=None, tag=None, threads=None, cache=None,
        verbose=True, frontier=(), seed=None):
    """Run the benchmark; returns ``{"datasets": {name: {...}}, ...}``.

    Parameters
    ----------
    datasets : list of str, default all sets (``DATASETS``); labelled sets
        whose packages or programs are missing are skipped (and listed).
    quick : bool, N = 8192 rows for the Gaussian sets and the quick sizes of
        the labelled sets; only KMeans and the default SpaceFillingVQ are
        repeated (``repeats``, default 3), the other methods are timed once.
    repeats : int or None, timing repeats of KMeans and the default
        SpaceFillingVQ (default 3 quick / 5 full); the other methods use at
        most 3 in full mode and 1 in quick mode.
    out : str or None, folder for ``quality[_quick][_tag].md`` and
        ``pareto[_quick][_tag].png``; None (or "none") writes nothing.
    methods : list of keys of ``peers.PEERS`` (``kmeans`` is always added:
        it is the reference of the ratios).
    params : dict, overrides for the default ``SpaceFillingVQ`` (key ``sfvq``).
    seeds : list of int, default ``SEEDS`` (full) or ``[0]`` (quick); ``seed``
        (one int) is the same as ``seeds=[seed]``.
    n_samples : int or None, rows of the Gaussian sets (overrides the mode).
    threads : int or None, pin every method to this many threads (numba's
        ``set_num_threads`` and threadpoolctl's limit for OpenMP and BLAS);
        None keeps the libraries' defaults.
    cache : str or None, folder where the scikit-learn/MiniSom peers
        (``CACHEABLE``) are stored and reused (fast parameter sweeps); KMeans,
        sgd and the default SpaceFillingVQ are always refitted.
    frontier : smoothness values for the Pareto frontier of SpaceFillingVQ.
    """
    import numba
    from threadpoolctl import threadpool_limits

    if seeds is None:
        seeds = [seed] if seed is not None else ([0] if quick else list(SEEDS))
    args = (datasets, quick, repeats, out, methods, params, list(seeds), n_samples, tag)
    if threads is None:
        return _run(*args, None, cache, verbose, tuple(frontier))
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=threads):
            return _run(*args, threads, cache, verbose, tuple(frontier))
    finally:
        numba.set_num_threads(old)


def _run(datasets, quick, repeats, out, methods, params, seeds, n_samples, tag, threads,
         cache, verbose, frontier):
    datasets = list(datasets or DATASETS)
    methods = list(methods or peers.PEERS)
    unknown = [m for m in methods if m not in peers.PEERS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(peers.PEERS)}")
    if "kmeans" not in methods:
        methods.insert(0, "kmeans")
    methods = [m for m in peers.PEERS if m in methods]  # table order
    params = dict(params or {})
    skipped = [d for d in datasets if not dataset_available(d)]
    datasets = [d for d in datasets if d not in skipped]
    results = {"quick": bool(quick), "seeds": seeds, "params": params, "methods": methods,
               "pinned_threads": threads, "frontier": list(frontier), "skipped": skipped,
               "command": _command(datasets + skipped, quick, repeats, methods, params, seeds,
                                   n_samples, threads, cache, frontier),
               "versions": _versions(), "threads": _threads(),
               "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "datasets": {}}
    t0 = time.perf_counter()
    for name in datasets:
        if verbose:
            print(f"[{name}]", flush=True)
        per_seed = {}
        for s in seeds:
            per_seed[s] = run_dataset(name, methods, quick=quick, repeats=repeats,
                                      params=params, seed=s, n_samples=n_samples,
                                      verbose=verbose, cache=cache, threads=threads,
                                      frontier=frontier)
        ds = aggregate(name, per_seed)
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
    if out is None or str(out).lower() == "none" or not results["datasets"]:
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


def _command(datasets, quick, repeats, methods, params, seeds, n_samples, threads, cache,
             frontier):
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
    if list(seeds) != ([0] if quick else SEEDS):
        parts.append("--seeds " + " ".join(map(str, seeds)))
    if threads:
        parts.append(f"--threads {threads}")
    if cache:
        parts.append(f"--cache {cache}")
    if frontier:
        parts.append("--frontier " + " ".join(f"{s:g}" for s in frontier))
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
                   help=f"N={QUICK_N} rows for the Gaussian sets, the quick sizes of the "
                   "labelled sets, seed 0; only kmeans and sfvq repeated (CI size)")
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
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help=f"seeds (default {' '.join(map(str, SEEDS))}; 0 with --quick)")
    p.add_argument("--frontier", type=float, nargs="+", default=(),
                   help="smoothness values at which SpaceFillingVQ is also fitted (the "
                   "Pareto frontier and the moonshot check)")
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
              methods=args.methods, params=dict(args.param), seeds=args.seeds,
              n_samples=args.n_samples, tag=args.tag, threads=args.threads,
              cache=args.cache, frontier=args.frontier)
    bars = [ds["bar"] for ds in res["datasets"].values() if ds["bar"] is not None]
    return 1 if args.strict and not all(b["pass"] for b in bars) else 0


if __name__ == "__main__":
    sys.exit(main())
