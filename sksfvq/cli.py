"""The ``sksfvq`` command line (public API only).

Subcommands: ``fit`` (train and save a model), ``transform`` (apply a saved
model), ``compare`` (SFVQ against k-means and plain VQ on your data) and
``demo``. User errors (bad arguments, unreadable files, unsuitable data) end
with a one-line message on stderr and exit code 2, never a traceback.
"""

import argparse
import os
import sys
import time
import warnings

from ._cli_io import UserError, _one_line, _save, existing_file, load_data


class _Parser(argparse.ArgumentParser):
    """argparse that reports user errors as one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


# ------------------------------------------------------------------ data I/O
def _load_model(path):
    import joblib

    from . import SpaceFillingVQ

    existing_file(path, "a saved model")
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling raises many types for a wrong file
        raise UserError(f"{path}: not a saved model ({_one_line(exc)})") from None
    if not isinstance(model, SpaceFillingVQ):
        raise UserError(f"{path}: holds a {type(model).__name__}, not a SpaceFillingVQ")
    if not hasattr(model, "cluster_centers_"):
        raise UserError(f"{path}: holds a SpaceFillingVQ that was never fitted")
    return model


def _check_output(path, extensions=None):
    """Fail before any work when the output cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a folder; give a file name")
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
    X, _, _ = load_data(args.data)
    _check_k(X, args.n_clusters, args.data)
    if args.float32:
        X = X.astype(np.float32)
    est = _estimator(args).set_params(verbose=1)
    print(f"sksfvq fit: {args.data}, N={X.shape[0]}, D={X.shape[1]}, "
          f"K={args.n_clusters}, algorithm={args.algorithm}", flush=True)
    _warm_up(X, args.n_clusters, (args.algorithm,))
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
    X, _, _ = load_data(args.data)
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


def _figure_path(path, default_name):
    """The file a figure asked for as ``path`` will really be written to.

    A folder gets ``default_name``; a name without extension gets ``.png``
    (what matplotlib would add). Checked before any work: the folder must
    exist and matplotlib must know the format.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    if os.path.isdir(path):
        path = os.path.join(path, default_name)
    if not os.path.splitext(path)[1]:
        path += ".png"
    _check_output(path)
    ext = os.path.splitext(path)[1].lower()
    if ext[1:] not in FigureCanvasBase.get_supported_filetypes():
        raise UserError(f"{path}: matplotlib cannot write {ext} figures; use .png, .pdf or .svg")
    return path


def _save_figure(fig, path):
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot write ({_one_line(exc)})") from None
    finally:
        plt.close(fig)
    print(f"wrote {path}")


def _curve_positions(est, X):
    """A SpaceFillingVQ's corners and the curve position of every row."""
    return est.cluster_centers_, est.transform(X)[:, 0]


def _kmeans_positions(est, X):
    """A KMeans' centres and the (arbitrary) index of every row's centre."""
    return est.cluster_centers_, est.labels_.astype(float)


def _warm_up(X, k, algorithms=("lloyd",)):
    """Fit on a few rows first (same dtype, width and corner count: the same
    kernels), so that a fit_s printed after it is the fit itself, not numba
    loading (or compiling) its kernels: 0.3 s of a 0.01 s fit on 178 rows.
    Returns the seconds it took."""
    from . import SpaceFillingVQ

    t0 = time.perf_counter()
    rows = X[: min(X.shape[0], max(512, 2 * k))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few rows: dead corners, sgd's scale, ...
        for algorithm in algorithms:
            SpaceFillingVQ(n_clusters=min(k, rows.shape[0]), algorithm=algorithm, n_epochs=1,
                           random_state=0).fit(rows).transform(rows[:8])
    return time.perf_counter() - t0


def _measure(X, methods, labels=None):
    """Fit and time each ``(name, fit, read)``; print and return the table.

    ``fit()`` returns a model and ``read(model, X)`` its codebook and the 1-D
    coordinate of every row; the measures are those of ``docs/metrics.rst``
    (``label_spread`` only with ``labels``). Returns ``{name: model}`` and
    ``{name: codebook}``.
    """
    from . import metrics

    results, models, codebooks = {}, {}, {}
    for name, fit, read in methods:
        t0 = time.perf_counter()
        model = fit()
        elapsed = time.perf_counter() - t0
        C, positions = read(model, X)
        row = metrics.evaluate(X, C, positions=positions, labels=labels)
        row["fit_s"] = elapsed
        results[name], models[name], codebooks[name] = row, model, C
        print(f"  {name}: {elapsed:.2f} s", flush=True)
    print(metrics.markdown_table(results))
    return models, codebooks


def _compare(args):
    from sklearn.cluster import KMeans

    from .baselines import lbg_codebook

    plot = _figure_path(args.plot, "sksfvq_compare.png") if args.plot else None
    X, _, y = load_data(args.data, labels=args.labels)
    _check_k(X, args.n_clusters, args.data)
    k = args.n_clusters
    print(f"sksfvq compare: {args.data}, N={X.shape[0]}, D={X.shape[1]}, K={k}", flush=True)
    if y is not None:
        # str(): labels may mix strings with gaps (None, NaN), which do not sort
        print(f"labels: column {args.labels!r}, {len(set(map(str, y.tolist())))} distinct "
              "values", flush=True)
    _warm_up(X, k, (args.algorithm,))
    _, codebooks = _measure(X, [
        ("SpaceFillingVQ", lambda: _estimator(args).fit(X), _curve_positions),
        ("KMeans(n_init=1)", lambda: KMeans(n_clusters=k, n_init=1,
                                            random_state=args.random_state).fit(X),
         _kmeans_positions),
        ("plain VQ (LBG)", lambda: lbg_codebook(X, k), lambda m, X: (m[0], m[1].astype(float))),
    ], labels=y)
    if plot:
        _save_figure(_compare_plot(X, codebooks), plot)
    return 0


def _compare_plot(X, codebooks):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(codebooks), figsize=(5 * len(codebooks), 4.5),
                             squeeze=False)
    # first two principal axes of the data, so any D can be drawn
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X[:: max(1, len(X) // 5000)] - mean, full_matrices=False)
    P = vt[: min(2, X.shape[1])].T
    Xs = (X[:: max(1, len(X) // 5000)] - mean) @ P
    if Xs.shape[1] == 1:  # one feature: drawn on a line
        Xs = np.column_stack([Xs[:, 0], np.zeros(len(Xs))])
    for ax, (name, C) in zip(axes[0], codebooks.items()):
        Cs = (C - mean) @ P
        if Cs.shape[1] == 1:
            Cs = np.column_stack([Cs[:, 0], np.zeros(len(Cs))])
        ax.scatter(Xs[:, 0], Xs[:, 1], s=2, alpha=0.3, color="0.6")
        ax.plot(Cs[:, 0], Cs[:, 1], "-o", ms=3, lw=1)
        ax.set_title(f"{name} (index order)")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    return fig


def _demo(args):
    from sklearn.cluster import KMeans

    from . import SpaceFillingVQ
    from .datasets import load_standard

    out = _figure_path(args.out, "sksfvq_demo.png")
    X, _, k = load_standard("gauss2", n_samples=args.n_samples)
    if args.n_clusters is not None:
        _check_k(X, args.n_clusters, "the demo data")
        k = args.n_clusters
    print(f"sksfvq demo: 2-D standard normal, N={X.shape[0]}, K={k}", flush=True)
    # compile the kernels on a few rows first, so fit_s below is the fit itself
    ready = _warm_up(X, k, ("lloyd", "sgd"))
    print(f"kernels ready in {ready:.1f} s "
          "(numba compiles on the first run, then loads from its cache)", flush=True)
    seed = args.random_state
    models, _ = _measure(X, [
        ("KMeans(n_init=1)", lambda: KMeans(n_clusters=k, n_init=1, random_state=seed).fit(X),
         _kmeans_positions),
        ("SpaceFillingVQ", lambda: SpaceFillingVQ(n_clusters=k, random_state=seed).fit(X),
         _curve_positions),
        ("SpaceFillingVQ(sgd)", lambda: SpaceFillingVQ(n_clusters=k, algorithm="sgd",
                                                       random_state=seed).fit(X),
         _curve_positions),
    ])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_vq_vs_sfvq

    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    plot_vq_vs_sfvq(models["SpaceFillingVQ"], X, kmeans=models["KMeans(n_init=1)"], axes=axes)
    _save_figure(fig, out)
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
                         "without a header row (an unnamed first column is pandas' row index and is "
                         "left out), .parquet with pandas+pyarrow), print "
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
                          "the same K and print their quality and order measures "
                          "(defined in docs/metrics.rst of the sksfvq documentation).")
    cmp_.add_argument("data", help="rows: .npy, .csv or .parquet")
    _add_model_options(cmp_)
    cmp_.add_argument("--labels", default=None, metavar="COLUMN",
                      help="a column of DATA (header name or 0-based number) that holds a "
                      "label per row: left out of the features, used for label_spread")
    cmp_.add_argument("--plot", default=None, metavar="OUT.png",
                      help="also draw the codebooks in index order (PNG unless the name "
                      "ends in another format matplotlib writes)")
    cmp_.set_defaults(func=_compare)

    demo = sub.add_parser("demo", help="fit KMeans, SFVQ and the published recipe on a 2-D "
                          "Gaussian, print the quality table, save a picture",
                          description="Fit KMeans, SpaceFillingVQ and the published recipe "
                          "on a 2-D standard normal, print their measures and draw the "
                          "k-means cells beside the SFVQ curve.")
    demo.add_argument("--out", default=".", help="figure file, or a folder for "
                      "sksfvq_demo.png (default: .); .png is added to a name without one")
    demo.add_argument("--n-samples", type=int, default=65_536)
    demo.add_argument("--n-clusters", type=int, default=None)
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


class _QuietPipe:
    """stdout that stops writing, not working, when its reader goes away.

    Output piped into ``head`` closes early; the command still writes its
    model, table or figure and exits 0 (an exception at the next progress
    line used to end it there, before its output was written).
    """

    def __init__(self, stream):
        self.stream = stream
        self.closed_pipe = False

    def _quietly(self, action, *args):
        if self.closed_pipe:
            return None
        try:
            return action(*args)
        except BrokenPipeError:
            self.closed_pipe = True
            # the interpreter flushes stdout at exit: point it at nothing
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, self.stream.fileno())
                os.close(null)
            except (OSError, ValueError):
                pass
            return None

    def write(self, text):
        return self._quietly(self.stream.write, text)

    def flush(self):
        return self._quietly(self.stream.flush)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"sksfvq: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    saved, saved_stdout = warnings.showwarning, sys.stdout
    warnings.showwarning = _show_warning
    sys.stdout = _QuietPipe(saved_stdout)
    try:
        return args.func(args)
    except (UserError, ValueError, TypeError, OSError) as exc:
        print(f"sksfvq {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sksfvq {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning, sys.stdout = saved, saved_stdout
