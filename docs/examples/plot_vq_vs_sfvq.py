"""
VQ vs SFVQ on a 2-D Gaussian
============================

The figure of the SFVQ article: with the same number of codebook vectors,
k-means cuts the plane into Voronoi cells in no particular order, while SFVQ
puts its vectors on one curve that fills the distribution, so consecutive
indices are neighbours in the plane.
"""

import matplotlib.pyplot as plt
from sklearn.cluster import KMeans

from sksfvq import SpaceFillingVQ, metrics
from sksfvq.datasets import make_gaussian
from sksfvq.plotting import plot_vq_vs_sfvq

X = make_gaussian(8192, 2, random_state=0)
K = 32
kmeans = KMeans(n_clusters=K, n_init=1, random_state=0).fit(X)
sfvq = SpaceFillingVQ(n_clusters=K, random_state=0).fit(X)

fig, axes = plt.subplots(1, 2, figsize=(10, 5))
plot_vq_vs_sfvq(sfvq, X, kmeans=kmeans, axes=axes, max_points=3000)
fig.tight_layout()

# %%
# The price of the order is a slightly larger quantization error
# (``mse_corner``); the gain is a much smaller distance between consecutive
# codebook vectors (``adj_ratio``) and an index axis that keeps neighbours
# together (``cont10``).
results = {
    "KMeans": metrics.evaluate(X, kmeans.cluster_centers_, positions=kmeans.labels_),
    "SpaceFillingVQ": metrics.evaluate(X, sfvq.cluster_centers_),
}
print(metrics.markdown_table(results, columns=["mse_corner", "adj_ratio", "cont10", "usage"]))
