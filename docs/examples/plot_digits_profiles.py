"""
Digits: where each digit lives on the curve
===========================================

Fit a 32-corner curve to the standardized 8x8 digits and read it: the
per-digit histograms of the nearest-corner index (max-normalised), each
digit's peak and range, the corners drawn as images in curve order, and the
distance matrix between corners (block structure = stretches of the curve
that stay in one region).
"""

import matplotlib.pyplot as plt
import numpy as np

from sksfvq import SpaceFillingVQ, inspection, plotting
from sksfvq.datasets import load_digits

X, y, images = load_digits(return_images=True)
K = 32
sfvq = SpaceFillingVQ(n_clusters=K, random_state=0).fit(X)
codes = sfvq.predict(X)

profiles, classes = inspection.profiles_from_indices(codes, y, K, window=3)
fig, ax = plt.subplots(figsize=(9, 4))
plotting.plot_index_profiles(profiles, classes, ax=ax, style="image")
ax.set_title("index profile per digit (smoothed over 3 indices, max-normalised)")
fig.tight_layout()

# %%
# Peak index and the range holding 80 % of each digit's rows.
table = inspection.peak_table(sfvq.transform(X)[:, 0], y, K, window=3)
print("digit  peak  range         rows")
for lab, peak, lo, hi, n in zip(table["label"], table["peak"], table["low"],
                                table["high"], table["count"]):
    print(f"{lab:5d}  {peak:4d}  {lo:5.1f}-{hi:5.1f}  {n:5d}")

# %%
# The corners as images, in curve order: walk along the index and the
# strokes morph gradually. Corners are standardized pixels; we undo the
# scaling with the raw pixel means and deviations.
raw = images.reshape(len(images), -1).astype(float)
mean, std = raw.mean(0), raw.std(0)
std[std == 0] = 1
fig, axes = plt.subplots(2, K // 2, figsize=(12, 2))
for k, a in enumerate(axes.ravel()):
    a.imshow((sfvq.cluster_centers_[k] * std + mean).reshape(8, 8), cmap="gray_r")
    a.set_axis_off()
    a.set_title(str(k), fontsize="x-small")
fig.suptitle("corners 0..31 in curve order")

# %%
# Distance matrix between the corners and Jensen-Shannon distances between
# the digit profiles (digits that share a stretch of the curve are close).
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
plotting.plot_distance_matrix(sfvq, ax=axes[0])
axes[0].set_title("distance between corners")
D = inspection.js_distances(inspection.profiles_from_indices(codes, y, K)[0])
im = axes[1].imshow(D, cmap="viridis")
axes[1].set_xticks(np.arange(10))
axes[1].set_yticks(np.arange(10))
axes[1].set_title("Jensen-Shannon distance between digit profiles")
fig.colorbar(im, ax=axes[1], fraction=0.046)
fig.tight_layout()
