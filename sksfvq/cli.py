"""The ``sksfvq`` command line (public API only).

Subcommands: ``fit`` (train and save a model), ``transform`` (apply a saved
model), ``compare`` (SFVQ against k-means and plain VQ on your data) and
``demo``. User errors (bad arguments, unreadable files, unsuitable data) end
with a one-line message on stderr and exit code 2, never a traceback.
"""

import argparse
import csv
import os
import re
import sys
import time
import warnings


class UserError(Exception):
    """A problem with the user's input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports user errors as one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


# ------------------------------------------------------------------ data I/O
def _read_csv(path):
    import numpy as np

    with open(path, newline="") as f:
        sample = f.read(65536)
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        raise UserError(f"{path}: the file is empty")
    try:
        delimiter = csv.Sniffer().sniff(lines[0] + "\n" + "\n".join(lines[1:5]),
                                        delimiters=",;\t ").delimiter
    except csv.Error:
        delimiter = ","
    first = [c.strip().strip('"').strip("'") for c in lines[0].split(delimiter)]

    def numeric(cell):
        try:
            float(cell)
            return True
        except ValueError:
            return False

    header = not all(numeric(c) for c in first if c != "")
    try:
        X = np.loadtxt(path, delimiter=None if delimiter == " " else delimiter,
                       skiprows=1 if header else 0, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise UserError(f"{path}: not a table of numbers ({_one_line(exc)})") from None
    return X, (first if header else None)


def _read_parquet(path):
    try:
        import pandas as pd
    except ImportError:
        raise UserError("reading .parquet needs pandas and pyarrow "
                        "(pip install pandas pyarrow)") from None
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise UserError(f"reading .parquet needs pyarrow ({_one_line(exc)})") from None
    except Exception as exc:  # pyarrow raises its own error types
        raise UserError(f"{path}: cannot read parquet ({_one_line(exc)})") from None
    try:
        X = frame.to_numpy(dtype="float64")
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: columns must be numeric ({_one_line(exc)})") from None
    return X, [str(c) for c in frame.columns]


def load_data(path):
    """Rows of ``path`` (.npy, .csv with or without header, .parquet) as a 2-D array.

    Returns ``(X, column_names_or_None)``.
    """
    import numpy as np

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            X, names = np.load(path, allow_pickle=False), None
        elif ext in (".csv", ".txt", ".tsv"):
            X, names = _read_csv(path)
        elif ext in (".parquet", ".pq"):
            X, names = _read_parquet(path)
        else:
            raise UserError(f"{path}: unknown data format {ext or '(none)'!r}; "
                            "use .npy, .csv or .parquet")
    except UserError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: cannot read ({_one_line(exc)})") from None
    if X.ndim != 2:
        raise UserError(f"{path}: expected a 2-D table (rows x features), got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise UserError(f"{path}: expected numbers, got dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise UserError(f"{path}: no data (shape {X.shape})")
    if not np.isfinite(X).all():
        bad = int(np.count_nonzero(~np.isfinite(X).all(axis=1)))
        raise UserError(f"{path}: {bad} row(s) contain NaN or infinity")
    return X, names


def _save(path, values, header):
    import numpy as np

    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        np.save(path, values)
    elif ext == ".csv":
        fmt = "%d" if values.dtype.kind in "iu" else "%.9g"
        np.savetxt(path, values.reshape(len(values), -1), delimiter=",", fmt=fmt,
                   header=",".join(header), comments="")
    else:
        raise UserError(f"{path}: unknown output format {ext or '(none)'!r}; use .npy or .csv")


def _load_model(path):
    import joblib

    from . import SpaceFillingVQ

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling raises many types for a wrong file
        raise UserError(f"{path}: not a saved model ({_one_line(exc)})") from None
    if not isinstance(model, SpaceFillingVQ):
        raise UserError(f"{path}: holds a {type(model).__name__}, not a SpaceFillingVQ")
    return model


def _one_line(exc):
    return re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__


def _check_output(path, extensions=None):
    """Fail before any work when the output cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: folder {folder} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if extensions is not None and ext not in extensions:
        raise UserError(f"{path}: unknown output format {ext or '(none)'!r}; use "
                        + " or ".join(extensions))


def _check_k(X, k, path):
    if k < 1:
        raise UserError(f"--n-clusters must be >= 1, got {k}")
    if k > X.shape[0]:
        raise UserError(f"{path}: {X.shape[0]} rows, fewer than --n-clusters {k}")


# ------------------------------------------------------------------ commands
def _estimator(args):
    from . import SpaceFillingVQ

    params = dict(n_clusters=args.n_clusters, algorithm=args.algorithm,
                  random_state=args.random_state, n_jobs=args.n_jobs)
    if args.smoothness is not None:
        params["smoothness"] = args.smoothness
    return SpaceFillingVQ(**params)


def _fit(args):
    import joblib
    import numpy as np

    from . import metrics

    _check_output(args.output)
    X, _ = load_data(args.data)
    _check_k(X, args.n_clusters, args.data)
    if args.float32:
        X = X.astype(np.float32)
    est = _estimator(args).set_params(verbose=1)
    print(f"sksfvq fit: {args.data}, N={X.shape[0]}, D={X.shape[1]}, "
          f"K={args.n_clusters}, algorithm={args.algorithm}", flush=True)
    t0 = time.perf_counter()
    est.fit(X)
    fit_s = time.perf_counter() - t0
    est.set_params(verbose=0)
    try:
        joblib.dump(est, args.output)
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write ({_one_line(exc)})") from None
    row = metrics.evaluate(X, est.cluster_centers_, positions=est.transform(X)[:, 0])
    row["fit_s"] = fit_s
    print(metrics.markdown_table({"SpaceFillingVQ": row}))
    print(f"wrote {args.output}")
    return 0


def _transform(args):
    import numpy as np

    _check_output(args.output, (".npy", ".csv"))
    model = _load_model(args.model)
    X, _ = load_data(args.data)
    if X.shape[1] != model.n_features_in_:
        raise UserError(f"{args.data}: {X.shape[1]} features, the model was fitted on "
                        f"{model.n_features_in_}")
    X = X.astype(model.cluster_centers_.dtype, copy=False)
    if args.what == "index":
        out, header = model.predict(X), ["index"]
    elif args.what == "point":
        out = model.inverse_transform(model.transform(X))
        header = [f"x{i}" for i in range(out.shape[1])]
    else:
        out, header = model.transform(X)[:, 0], ["position"]
    try:
        _save(args.output, np.asarray(out), header)
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write ({_one_line(exc)})") from None
    print(f"wrote {args.output}: {args.what} of {X.shape[0]} rows")
    return 0


def _compare(args):
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import pairwise_distances_argmin

    from . import metrics
    from .baselines import lbg_codebook

    if args.plot:
        _check_output(args.plot)
    X, _ = load_data(args.data)
    _check_k(X, args.n_clusters, args.data)
    k = args.n_clusters
    print(f"sksfvq compare: {args.data}, N={X.shape[0]}, D={X.shape[1]}, K={k}", flush=True)
    results, fits = {}, {}
    methods = [
        ("SpaceFillingVQ", lambda: _estimator(args).fit(X)),
        ("KMeans(n_init=1)", lambda: KMeans(n_clusters=k, n_init=1,
                                            random_state=args.random_state).fit(X)),
        ("plain VQ (LBG)", lambda: lbg_codebook(X, k)[0]),
    ]
    for name, fit in methods:
        t0 = time.perf_counter()
        model = fit()
        elapsed = time.perf_counter() - t0
        if isinstance(model, np.ndarray):
            C = model
            positions = pairwise_distances_argmin(X, C).astype(float)
        elif hasattr(model, "transform") and hasattr(model, "inverse_transform"):
            C = model.cluster_centers_
            positions = model.transform(X)[:, 0]
        else:
            C = model.cluster_centers_
            positions = model.labels_.astype(float)
        row = metrics.evaluate(X, C, positions=positions)
        row["fit_s"] = elapsed
        results[name] = row
        fits[name] = C
        print(f"  {name}: {elapsed:.2f} s", flush=True)
    print(metrics.markdown_table(results))
    if args.plot:
        _compare_plot(X, fits, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _compare_plot(X, fits, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(fits), figsize=(5 * len(fits), 4.5), squeeze=False)
    # first two principal axes of the data, so any D can be drawn
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X[:: max(1, len(X) // 5000)] - mean, full_matrices=False)
    P = vt[: min(2, X.shape[1])].T
    Xs = (X[:: max(1, len(X) // 5000)] - mean) @ P
    for ax, (name, C) in zip(axes[0], fits.items()):
        Cs = (C - mean) @ P
        if Xs.shape[1] == 1:
            Xs = np.column_stack([Xs[:, 0], np.zeros(len(Xs))])
            Cs = np.column_stack([Cs[:, 0], np.zeros(len(Cs))])
        ax.scatter(Xs[:, 0], Xs[:, 1], s=2, alpha=0.3, color="0.6")
        ax.plot(Cs[:, 0], Cs[:, 1], "-o", ms=3, lw=1)
        ax.set_title(f"{name} (index order)")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100)
    except (OSError, ValueError) as exc:
        raise UserError(f"{out}: cannot write ({_one_line(exc)})") from None
    finally:
        plt.close(fig)


def _demo(args):
    from sklearn.cluster import KMeans

    from . import SpaceFillingVQ, metrics
    from .datasets import load_standard

    X, _, k = load_standard("gauss2", n_samples=args.n_samples)
    k = args.n_clusters or k
    print(f"sksfvq demo: 2-D standard normal, N={X.shape[0]}, K={k}", flush=True)
    # compile the kernels on a few rows first, so fit_s below is the fit itself
    t0 = time.perf_counter()
    for algorithm in ("lloyd", "sgd"):
        SpaceFillingVQ(n_clusters=min(k, 8), algorithm=algorithm, n_epochs=1,
                       random_state=0).fit(X[:512]).transform(X[:512])
    print(f"kernels ready in {time.perf_counter() - t0:.1f} s "
          "(numba compiles on the first run, then loads from its cache)", flush=True)
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


def _add_model_options(p):
    p.add_argument("--n-clusters", type=int, default=64, metavar="K",
                   help="number of corners (default: 64)")
    p.add_argument("--algorithm", choices=["lloyd", "sgd"], default="lloyd",
                   help="trainer: lloyd (default) or sgd (the published recipe)")
    p.add_argument("--smoothness", type=float, default=None,
                   help="lloyd only: quality traded for order (estimator default if omitted)")
    p.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--n-jobs", type=int, default=None, help="threads of the kernels")


def build_parser():
    parser = _Parser(prog="sksfvq", description="Space-Filling Vector Quantization: "
                     "an ordered codebook on a curve through the data.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                metavar="{fit,transform,compare,demo}")
    fit = sub.add_parser("fit", help="train on DATA and save the model",
                         description="Train a SpaceFillingVQ on DATA (.npy, .csv with or "
                         "without a header row, .parquet with pandas+pyarrow), print "
                         "one line per stage and the quality table, save with joblib.")
    fit.add_argument("data", help="training rows: .npy, .csv or .parquet")
    _add_model_options(fit)
    fit.add_argument("--float32", action="store_true", help="train in float32")
    fit.add_argument("-o", "--output", required=True, help="model file to write (.joblib)")
    fit.set_defaults(func=_fit)

    tr = sub.add_parser("transform", help="apply a saved model to DATA",
                        description="Map every row of DATA to its curve position "
                        "(default), nearest corner index or nearest point on the curve.")
    tr.add_argument("model", help="model file written by 'sksfvq fit'")
    tr.add_argument("data", help="rows: .npy, .csv or .parquet")
    tr.add_argument("-o", "--output", required=True, help="output file: .npy or .csv")
    tr.add_argument("--what", choices=["position", "index", "point"], default="position",
                    help="position along the curve in [0, K-1] (default), index of the "
                    "nearest corner, or the nearest point of the curve")
    tr.set_defaults(func=_transform)

    cmp_ = sub.add_parser("compare", help="SFVQ vs KMeans vs plain VQ on DATA",
                          description="Fit SpaceFillingVQ, KMeans and plain VQ (LBG) with "
                          "the same K and print the quality table of METRICS.md.")
    cmp_.add_argument("data", help="rows: .npy, .csv or .parquet")
    _add_model_options(cmp_)
    cmp_.add_argument("--plot", default=None, metavar="OUT.png",
                      help="also draw the codebooks in index order")
    cmp_.set_defaults(func=_compare)

    demo = sub.add_parser("demo", help="fit SFVQ and KMeans on a 2-D Gaussian, "
                          "print the quality table, save a picture")
    demo.add_argument("--out", default=".", help="PNG file or directory (default: .)")
    demo.add_argument("--n-samples", type=int, default=65_536)
    demo.add_argument("--n-clusters", type=int, default=None)
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"sksfvq: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    saved = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except (UserError, ValueError, TypeError, OSError) as exc:
        print(f"sksfvq {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sksfvq {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = saved
