"""
An ordered colour palette
=========================

Colour quantization with an ordered codebook: the 273,280 pixels of a
photograph bundled with scikit-learn (``sklearn.datasets.load_sample_image``)
are quantized to 32 colours. k-means returns the colours in arbitrary order;
SFVQ returns them along a curve through colour space, so neighbouring palette
entries are similar colours and the index alone is a usable grey-level-like
coordinate of the image.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans

from sksfvq import SpaceFillingVQ
from sksfvq.datasets import load_pixels

X, shape = load_pixels(return_shape=True)
train = X[np.random.default_rng(0).choice(len(X), 20_000, replace=False)]
K = 32
kmeans = KMeans(n_clusters=K, n_init=1, random_state=0).fit(train)
sfvq = SpaceFillingVQ(n_clusters=K, random_state=0).fit(train)

fig, axes = plt.subplots(2, 2, figsize=(10, 6), gridspec_kw={"height_ratios": [1, 5]})
for col, (name, est) in enumerate([("k-means", kmeans), ("SFVQ", sfvq)]):
    pal = np.clip(est.cluster_centers_, 0, 1)
    axes[0, col].imshow(pal[None], aspect="auto")
    axes[0, col].set_yticks([])
    axes[0, col].set_title(f"{name} palette (index 0..{K - 1})")
    index_image = est.predict(X).reshape(shape[:2])
    axes[1, col].imshow(index_image, cmap="viridis")
    axes[1, col].set_axis_off()
    axes[1, col].set_title("the index of every pixel")
fig.tight_layout()
