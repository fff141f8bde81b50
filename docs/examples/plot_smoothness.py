"""
The ``smoothness`` trade-off
============================

``smoothness`` sets how much quantization error SFVQ may trade for a
shorter, better-ordered curve. We sweep it on a 2-D Gaussian and on the
standardized digits and plot the error relative to k-means (``mse_corner``
over k-means' value) against the order (``adj_ratio``: mean distance between
consecutive codebook vectors over the mean distance between all pairs; 1 for
an arbitrary order).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans

from sksfvq import SpaceFillingVQ, metrics
from sksfvq.datasets import load_digits, make_gaussian

sets = {
    "gauss2, K=32": (make_gaussian(8192, 2, random_state=0), 32),
    "digits, K=32": (load_digits()[0], 32),
}
values = [0.0, 0.02, 0.05, 0.1, 0.2]

fig, ax = plt.subplots(figsize=(6, 4.5))
for i, (name, (X, K)) in enumerate(sets.items()):
    ref = metrics.mse_corner(X, KMeans(n_clusters=K, n_init=1, random_state=0)
                             .fit(X).cluster_centers_)
    rows = []
    for s in values:
        C = SpaceFillingVQ(n_clusters=K, smoothness=s, random_state=0).fit(X).cluster_centers_
        rows.append((metrics.adj_ratio(C), metrics.mse_corner(X, C) / ref))
        print(f"{name:14s} smoothness={s:<5} adj_ratio={rows[-1][0]:.3f} "
              f"mse_corner / k-means={rows[-1][1]:.3f}")
    rows = np.array(rows)
    ax.plot(rows[:, 0], rows[:, 1], "-o", color=f"C{i}", label=name)
    for s, (a, m) in zip(values, rows):
        ax.annotate(f"{s:g}", (a, m), textcoords="offset points", xytext=(4, 4),
                    fontsize="small", color=f"C{i}")
ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
ax.set_xlabel("adj_ratio (lower = better ordered)")
ax.set_ylabel("mse_corner / k-means")
ax.set_title("smoothness: order against quantization error")
ax.legend()
fig.tight_layout()
