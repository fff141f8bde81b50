"""How narrow the phone groups' index ranges could be, if the order knew the labels.

Usage (from the repository root)::

    python -m benchmarks.data.phone_oracle --out benchmarks/results/phone_oracle.md

The global-order issue sets a target for the phone experiment: the median
width of the seven groups' 80 % index ranges at most 64 of K = 256. The
width depends on the codebook (which frames share a corner) and on the
order of the corners. This script keeps the default fit's codebook and asks
what the *order* alone can reach:

* a lower bound per group: the fewest corners that hold 80 % of the group's
  frames (any order spans at least that many indices, less one);
* a label-aware search: corners ordered by their majority group, and the
  fitted order, each improved by moving one corner at a time to wherever
  the median width (the target's own measure, plus a thousandth of the sum
  of the widths to break ties) falls most; the best of the two.

A label-free trainer cannot be expected to beat the search, which sees the
labels and optimises the measure itself.
"""

import argparse
import time

import numba
import numpy as np

from sksfvq import SpaceFillingVQ

from . import festival_phones
from .phone_experiment import group_summary, standardize

#: the target's coverage: the central 80 % of a group's frames
COVERAGE = 0.8


@numba.njit(cache=True)
def _widths(H, perm):
    """80 % widths of every group (columns of H) with corners in ``perm`` order."""
    K, G = H.shape
    lo_q, hi_q = (1 - COVERAGE) / 2, (1 + COVERAGE) / 2
    out = np.empty(G)
    for g in range(G):
        total = 0.0
        for i in range(K):
            total += H[i, g]
        run, lo, hi = 0.0, -1, -1
        for p in range(K):
            run += H[perm[p], g]
            if lo < 0 and run >= lo_q * total:
                lo = p
            if hi < 0 and run >= hi_q * total:
                hi = p
        out[g] = hi - lo
    return out


@numba.njit(cache=True)
def _cost(H, perm):
    w = _widths(H, perm)
    return np.sort(w)[w.shape[0] // 2] + 1e-3 * w.sum()


@numba.njit(cache=True)
def improve_order(H, perm, max_sweeps):
    """Move single corners while the cost falls (first improvement, in place)."""
    K = perm.shape[0]
    best = _cost(H, perm)
    trial = perm.copy()
    for _ in range(max_sweeps):
        improved = False
        for i in range(K):
            for j in range(K):
                if i == j:
                    continue
                v = perm[i]
                if j > i:  # corner i moves right, to position j
                    trial[:i] = perm[:i]
                    trial[i:j] = perm[i + 1:j + 1]
                    trial[j] = v
                    trial[j + 1:] = perm[j + 1:]
                else:
                    trial[:j] = perm[:j]
                    trial[j] = v
                    trial[j + 1:i + 1] = perm[j:i]
                    trial[i + 1:] = perm[i + 1:]
                c = _cost(H, trial)
                if c < best - 1e-9:
                    best = c
                    perm[:] = trial
                    improved = True
        if not improved:
            break
    return best


def group_counts(codes, groups, n_clusters, order):
    """(K, G) frames of every group at every corner."""
    gi = np.array([list(order).index(g) for g in groups])
    H = np.zeros((n_clusters, len(order)))
    np.add.at(H, (codes, gi), 1.0)
    return H


def lower_bounds(H):
    """Per group: the fewest corners holding COVERAGE of its frames, less one."""
    out = []
    for g in range(H.shape[1]):
        c = np.sort(H[:, g])[::-1]
        out.append(int(np.searchsorted(np.cumsum(c) / c.sum(), COVERAGE)))
    return np.array(out)


def best_order(H, max_sweeps=20):
    """The label-aware order: the better of the majority-group start and the
    fitted order, each improved by :func:`improve_order`."""
    K, G = H.shape
    mean_group = (H * np.arange(G)).sum(1) / np.maximum(H.sum(1), 1.0)
    starts = [np.lexsort((mean_group, H.argmax(1))), np.arange(K)]
    best, best_cost = None, np.inf
    for perm in starts:
        perm = perm.astype(np.int64)
        cost = improve_order(H, perm, max_sweeps)
        if cost < best_cost:
            best, best_cost = perm, cost
    return best


def run(seeds=(0, 1, 2), n_clusters=256, voices=("slt", "kal", "ked"), verbose=True):
    data = festival_phones.load_phones(voices, features="logmel", verbose=verbose)
    X = standardize(data["X"], data["utterance"]).astype(np.float32)
    groups, order = np.asarray(data["group"]), festival_phones.GROUP_ORDER
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        codes = SpaceFillingVQ(n_clusters=n_clusters, random_state=seed).fit(X).predict(X)
        H = group_counts(codes, groups, n_clusters, order)
        fitted = group_summary(codes, groups, n_clusters, order)
        perm = best_order(H)
        inverse = np.empty(n_clusters, dtype=np.intp)
        inverse[perm] = np.arange(n_clusters)
        searched = group_summary(inverse[codes], groups, n_clusters, order)
        rows.append({"seed": seed, "fitted": fitted, "searched": searched,
                     "bounds": lower_bounds(H), "t": time.perf_counter() - t0})
        if verbose:
            print(f"seed {seed}: fitted {fitted['median_width']:.0f}, label-aware "
                  f"{searched['median_width']:.0f}, bound {np.median(rows[-1]['bounds']):.0f}",
                  flush=True)
    return {"rows": rows, "order": order, "shape": X.shape, "n_clusters": n_clusters}


def markdown(res):
    lines = ["# Phone groups: the fitted order against a label-aware one", "",
             f"Generated by `python -m benchmarks.data.phone_oracle` (see its docstring). "
             f"Logmel frames, per-utterance standardisation, {res['shape'][0]} frames x "
             f"{res['shape'][1]} features, K = {res['n_clusters']}, the default "
             "SpaceFillingVQ's codebook; widths of the groups' 80 % index ranges.", "",
             "| seed | fitted order: median width | label-aware order: median width | "
             "lower bound (median over groups) |", "|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['seed']} | {r['fitted']['median_width']:.0f} | "
                     f"{r['searched']['median_width']:.0f} | {np.median(r['bounds']):.0f} |")
    lines += ["", "Per group (fitted / label-aware / bound):", "",
              "| group | " + " | ".join(f"seed {r['seed']}" for r in res["rows"]) + " |",
              "|---" * (1 + len(res["rows"])) + "|"]
    for i, name in enumerate(res["order"]):
        lines.append(f"| {name} | " + " | ".join(
            f"{r['fitted']['widths'][i]:.0f} / {r['searched']['widths'][i]:.0f} / "
            f"{r['bounds'][i]}" for r in res["rows"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the Markdown here")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    res = run(seeds=args.seeds)
    text = markdown(res)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
