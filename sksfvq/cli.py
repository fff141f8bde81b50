"""The ``sksfvq`` command line (public API only)."""

import argparse
import os
import sys
import time


class _Parser(argparse.ArgumentParser):
    """argparse that reports user errors as one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _demo(args):
    import numpy as np
    from sklearn.cluster import KMeans

    from . import SpaceFillingVQ, metrics
    from .datasets import load_standard

    X, _, k = load_standard("gauss2", n_samples=args.n_samples)
    k = args.n_clusters or k
    print(f"sksfvq demo: 2-D standard normal, N={X.shape[0]}, K={k}", flush=True)
    results = {}
    fits = {}
    for name, est in [
        ("KMeans(n_init=1)", KMeans(n_clusters=k, n_init=1, random_state=args.random_state)),
        ("SpaceFillingVQ", SpaceFillingVQ(n_clusters=k, random_state=args.random_state)),
        ("SpaceFillingVQ(sgd)", SpaceFillingVQ(n_clusters=k, algorithm="sgd",
                                               random_state=args.random_state)),
    ]:
        t0 = time.perf_counter()
        est.fit(X)
        elapsed = time.perf_counter() - t0
        positions = est.transform(X)[:, 0] if isinstance(est, SpaceFillingVQ) else est.labels_
        row = metrics.evaluate(X, est.cluster_centers_, positions=positions)
        row["fit_s"] = elapsed
        results[name] = row
        fits[name] = est
    print(metrics.markdown_table(results))
    print("(fit_s includes numba compilation on the first run without a cache)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_curve

    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    plot_curve(fits["SpaceFillingVQ"], X, ax=axes[0])
    axes[0].set_title(f"SpaceFillingVQ, K={k}")
    plot_curve(fits["SpaceFillingVQ(sgd)"], X, ax=axes[1])
    axes[1].set_title(f"published recipe (sgd), K={k}")
    out = args.out
    if os.path.isdir(out):
        out = os.path.join(out, "sksfvq_demo.png")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")
    return 0


def build_parser():
    parser = _Parser(prog="sksfvq", description="Space-Filling Vector Quantization.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="fit SFVQ and KMeans on a 2-D Gaussian, "
                          "print the quality table, save a picture")
    demo.add_argument("--out", default=".", help="PNG file or directory (default: .)")
    demo.add_argument("--n-samples", type=int, default=65_536)
    demo.add_argument("--n-clusters", type=int, default=None)
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"sksfvq {args.command}: error: {exc}", file=sys.stderr)
        return 2
