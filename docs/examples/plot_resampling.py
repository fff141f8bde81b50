"""
One curve, many codebooks: resampling, usage and augmentation
=============================================================

A fitted curve is more than its ``K`` corners. This example reads one curve
on skewed 2-D data (a dense blob and a sparse one) in four ways:

* :func:`~sksfvq.inspection.corner_report`: rows per corner, dead corners
  and outlier corners;
* :func:`~sksfvq.inspection.arc_length_codebook`: a codebook of any size,
  equally spaced along the curve ("variable bitrate");
* :func:`~sksfvq.inspection.equal_occupancy_codebook`: the 2024 paper's
  resampling, chunks of equal count along the curve, so every vector is used
  equally often;
* :func:`~sksfvq.inspection.sample_along`: new points on a chosen stretch of
  the curve (controllable augmentation).
"""

import matplotlib.pyplot as plt
import numpy as np

from sksfvq import SpaceFillingVQ, inspection, metrics, plotting

rng = np.random.default_rng(0)
X = np.vstack([rng.normal([0, 0], 0.6, (3000, 2)), rng.normal([4, 2], 1.2, (600, 2))])
K = 16
sfvq = SpaceFillingVQ(n_clusters=K, random_state=0).fit(X)

report = inspection.corner_report(sfvq, X)
print("rows per corner:", report["counts"].tolist())
print("dead corners:", report["dead"].tolist(), " outlier corners:", report["outliers"].tolist())

arc = inspection.arc_length_codebook(sfvq, 40)
equal = inspection.equal_occupancy_codebook(sfvq, X, K)
for name, C in [("fitted corners", sfvq.cluster_centers_), ("equal occupancy", equal)]:
    print(f"{name:16s} usage={metrics.usage(X, C):.3f}  mse_corner={metrics.mse_corner(X, C):.4f}")
t, extra = inspection.sample_along(sfvq, 10, 12, n_samples=60, noise=0.05, random_state=0)

fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
plotting.plot_curve(sfvq, X, ax=axes[0], max_points=2000)
axes[0].plot(arc[:, 0], arc[:, 1], "x", color="k", ms=5, label="40 points by arc length")
axes[0].plot(equal[:, 0], equal[:, 1], "s", mfc="none", color="C2", ms=6,
             label="equal occupancy")
axes[0].scatter(extra[:, 0], extra[:, 1], s=8, color="C1", zorder=4,
                label="sampled on t in [10, 12]")
axes[0].legend(fontsize="x-small", loc="lower right")
axes[0].set_title("one curve, several codebooks")
plotting.plot_corner_usage(sfvq, X, ax=axes[1])
axes[1].set_title("rows per corner (fitted)")
plotting.plot_codebook(sfvq, ax=axes[2], feature_names=["x", "y"])
axes[2].set_title("codebook heat map")
fig.tight_layout()
