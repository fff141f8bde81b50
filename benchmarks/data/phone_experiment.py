"""The paper's phone experiment on Festival speech: peak index and range per group.

Usage (from the repository root)::

    python -m benchmarks.data.phone_experiment --features logmel --n-clusters 256 \
        --out phones_logmel.md --plot phones_logmel.png

Fits ``SpaceFillingVQ(n_clusters)`` to the phone-labelled frames of
:mod:`benchmarks.data.festival_phones` and prints (and optionally writes as
Markdown) each phone group's and each phone's peak index, the central range
holding 80 % of its frames, the Jensen-Shannon distances between groups and
the quality measures of the curve. ``--normalize utterance`` standardizes
every utterance's frames on their own (cepstral mean and variance
normalisation), which removes most of the difference between voices.
``--peers`` also fits KMeans ordered by a shortest path and a 1-D SOM
(``benchmarks/peers.py``) to the same frames and reports the same
summary for them: the widths of the groups' 80 % ranges, label_spread and
knn_spread.
"""

import argparse
import time

import numpy as np

from sksfvq import SpaceFillingVQ, inspection, metrics

from . import festival_phones
from .labelled import standardize_per_utterance


def standardize(X, utterance=None):
    """Zero mean and unit variance per feature, globally or per utterance."""
    X = np.asarray(X, dtype=np.float64)
    if utterance is None:
        return (X - X.mean(0)) / (X.std(0) + 1e-8)
    return standardize_per_utterance(X, utterance)


def group_summary(codes, group, n_clusters, order):
    """The 80 % ranges of the groups, their widths and the split between
    consonants and vowel-like groups."""
    table = inspection.peak_table(codes, group, n_clusters, window=5, classes=order)
    widths = np.asarray(table["high"]) - np.asarray(table["low"])
    return {"table": table, "widths": widths, "median_width": float(np.median(widths))}


def fit_peers(X, group, n_clusters, random_state, order):
    """KMeans + shortest path and the 1-D SOM on the same frames (their index order)."""
    try:
        from benchmarks import peers
    except ImportError:  # run from benchmarks/
        import peers

    out = {}
    for key in ("kmeans_path", "som"):
        t0 = time.perf_counter()
        res = peers.PEERS[key][1](X, n_clusters, random_state)
        codes = res["positions"].astype(np.intp)
        out[key] = {"name": peers.PEERS[key][0], "t_fit": time.perf_counter() - t0,
                    "summary": group_summary(codes, group, n_clusters, order),
                    "label_spread": metrics.label_spread(res["positions"], group),
                    "knn_spread": metrics.knn_spread(X, res["positions"]),
                    "mse_corner": metrics.mse_corner(X, res["codebook"]),
                    "adj_ratio": metrics.adj_ratio(res["codebook"])}
    return out


def run(features="logmel", n_clusters=256, normalize="global", voices=("slt", "kal", "ked"),
        random_state=0, verbose=True, with_peers=False):
    """Fit and analyse; returns a dict with the tables and timings."""
    t0 = time.perf_counter()
    data = festival_phones.load_phones(voices, features=features, verbose=verbose)
    t_load = time.perf_counter() - t0
    X = standardize(data["X"], data["utterance"] if normalize == "utterance" else None)
    X = X.astype(np.float32)
    t0 = time.perf_counter()
    est = SpaceFillingVQ(n_clusters=n_clusters, random_state=random_state).fit(X)
    t_fit = time.perf_counter() - t0
    codes = est.predict(X)
    order = festival_phones.GROUP_ORDER
    groups = inspection.peak_table(codes, data["group"], n_clusters, window=5, classes=order)
    phones = inspection.peak_table(codes, data["phone"], n_clusters, window=5)
    prof, _ = inspection.profiles_from_indices(codes, data["group"], n_clusters, classes=order)
    js = inspection.js_distances(prof)
    quality = metrics.evaluate(X, est.cluster_centers_, labels=data["group"])
    summary = group_summary(codes, data["group"], n_clusters, order)
    out = {"features": features, "normalize": normalize, "n_clusters": n_clusters,
           "codes": codes, "group": data["group"],
           "shape": X.shape, "groups": groups, "phones": phones, "js": js, "order": order,
           "quality": quality, "t_load": t_load, "t_fit": t_fit, "n_dead": est.n_dead_,
           "summary": summary}
    if with_peers:
        out["peers"] = fit_peers(X, data["group"], n_clusters, random_state, order)
    return out


def _code_version():
    """sksfvq version plus the git commit of the checkout (``-dirty`` if modified)."""
    import os
    import subprocess

    import sksfvq

    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(sksfvq.__file__)))
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return f"sksfvq {sksfvq.__version__} ({rev})"


def markdown(res):
    """The result of :func:`run` as Markdown."""
    n, d = res["shape"]
    lines = [f"**{res['features']} frames ({res['normalize']} standardization), "
             f"K = {res['n_clusters']}**", "",
             f"{n} frames x {d} features; load {res['t_load']:.0f} s, fit {res['t_fit']:.0f} s; "
             f"dead corners {res['n_dead']}; adj_ratio {res['quality']['adj_ratio']:.3f}, "
             f"label_spread (groups) {res['quality']['label_spread']:.3f}, "
             f"knn_spread {res['quality']['knn_spread']:.3f}; median width of the groups' 80 % "
             f"ranges {res['summary']['median_width']:.0f} indices; "
             f"{_code_version()}, random_state=0.", "",
             "| group | peak | 80 % range | median | frames |", "|---|---|---|---|---|"]
    g = res["groups"]
    for lab, pk, lo, med, hi, cnt in zip(g["label"], g["peak"], g["low"], g["median"],
                                         g["high"], g["count"]):
        lines.append(f"| {lab} | {pk} | {lo:.0f}-{hi:.0f} | {med:.0f} | {cnt} |")
    lines += ["", "| phone | group | peak | 80 % range | frames |", "|---|---|---|---|---|"]
    p = res["phones"]
    group_of = {ph: gr for gr, phs in festival_phones.PHONE_GROUPS.items() for ph in phs}
    rows = sorted(zip(p["label"], p["peak"], p["low"], p["high"], p["count"]),
                  key=lambda r: (res["order"].index(group_of.get(r[0], "silence")), r[1]))
    for lab, pk, lo, hi, cnt in rows:
        lines.append(f"| {lab} | {group_of.get(lab, '?')} | {pk} | {lo:.0f}-{hi:.0f} | {cnt} |")
    if res.get("peers"):
        lines += ["", "The same frames through the peers (their own index order; the "
                  "default SpaceFillingVQ first):", "",
                  "| method | mse_corner | adj_ratio | label_spread | knn_spread | "
                  "median 80 % width | fit s |", "|---|---|---|---|---|---|---|",
                  f"| SpaceFillingVQ() | {res['quality']['mse_corner']:.4g} | "
                  f"{res['quality']['adj_ratio']:.3f} | {res['quality']['label_spread']:.3f} | "
                  f"{res['quality']['knn_spread']:.3f} | "
                  f"{res['summary']['median_width']:.0f} | {res['t_fit']:.0f} |"]
        for p in res["peers"].values():
            lines.append(f"| {p['name']} | {p['mse_corner']:.4g} | {p['adj_ratio']:.3f} | "
                         f"{p['label_spread']:.3f} | {p['knn_spread']:.3f} | "
                         f"{p['summary']['median_width']:.0f} | {p['t_fit']:.0f} |")
        lines += ["", "80 % ranges of the groups (low-high):", "",
                  "| group | SpaceFillingVQ() | " + " | ".join(p["name"] for p in
                                                          res["peers"].values()) + " |",
                  "|---" * (2 + len(res["peers"])) + "|"]
        for i, name in enumerate(res["order"]):
            cells = [res["summary"]["table"]] + [p["summary"]["table"]
                                                  for p in res["peers"].values()]
            lines.append(f"| {name} | " + " | ".join(
                f"{t['low'][i]:.0f}-{t['high'][i]:.0f}" for t in cells) + " |")
    lines += ["", "Jensen-Shannon distance between group profiles:", "",
              "| | " + " | ".join(res["order"]) + " |",
              "|---" * (len(res["order"]) + 1) + "|"]
    for name, row in zip(res["order"], res["js"]):
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    return "\n".join(lines) + "\n"


def plot(res, path):
    """Save the per-group index histograms (one row per group) as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K, order = res["n_clusters"], res["order"]
    prof, _ = inspection.profiles_from_indices(res["codes"], res["group"], K, window=5,
                                               classes=order)
    fig, axes = plt.subplots(len(order), 1, figsize=(9, 8), sharex=True)
    for ax, p, name in zip(axes, prof, order):
        ax.fill_between(np.arange(K), p, step="mid", alpha=0.6)
        ax.set_ylabel(name, rotation=0, ha="right", fontsize="small")
        ax.set_yticks([])
    axes[-1].set_xlabel("curve index")
    fig.suptitle(f"{res['features']} frames, K={K}: phone-group index histograms")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default="logmel", choices=["logmel", "mfcc", "whisper"])
    ap.add_argument("--n-clusters", type=int, default=256)
    ap.add_argument("--normalize", default="global", choices=["global", "utterance"])
    ap.add_argument("--out", default=None, help="write the Markdown here")
    ap.add_argument("--plot", default=None, help="save the group histograms (PNG) here")
    ap.add_argument("--peers", action="store_true",
                    help="also fit KMeans + shortest path and the 1-D SOM to the same frames")
    args = ap.parse_args(argv)
    res = run(args.features, args.n_clusters, args.normalize, with_peers=args.peers)
    text = markdown(res)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    if args.plot:
        plot(res, args.plot)


if __name__ == "__main__":
    main()
