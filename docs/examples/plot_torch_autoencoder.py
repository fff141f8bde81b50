"""
An SFVQ bottleneck trained end to end (PyTorch)
===============================================

A tiny autoencoder on the 8x8 digits whose bottleneck is a
:class:`sksfvq.torch.SpaceFillingVQLayer`: every image is encoded to an
8-dimensional latent and then replaced by a point of a 32-corner curve before
it is decoded. Gradients pass the quantizer by noise substitution (NSVQ):
during training the layer outputs ``z + |z - q| v / |v|`` with ``q`` the
nearest dithered point of the curve and ``v`` Gaussian noise. The curve grows
by doubling (4, 8, 16, 32 corners) between training phases, as in the
published recipe.

After training, the layer in eval mode projects each latent exactly onto the
curve, and :meth:`~sksfvq.torch.SpaceFillingVQLayer.to_estimator` hands the
same curve to a :class:`~sksfvq.SpaceFillingVQ` for the usual reading: the
index profile per digit and the decoded corners in curve order.

Needs PyTorch, through the optional extra: ``pip install torch==2.13.0`` (the
CPU wheel is enough), then ``pip install sksfvq[torch]``; the example takes
well under a minute. Without PyTorch it prints a note and skips the rest, so
the documentation builds without it.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sksfvq import inspection, metrics, plotting

try:  # torch first: sksfvq.torch is imported only when PyTorch is there
    import torch
    from torch import nn

    from sksfvq.torch import SpaceFillingVQLayer, perplexity

    HAVE_TORCH = True
except ImportError as exc:
    HAVE_TORCH = False
    print(f"Skipped, this example needs PyTorch (pip install torch==2.13.0): {exc}")

digits = load_digits()
X = (digits.data / 16.0).astype(np.float32)  # pixels in [0, 1]
y = digits.target
K, LATENT = 32, 8

# %%
# The model: encoder, SFVQ bottleneck, decoder
# --------------------------------------------
# The quantizer starts with 4 corners placed by the published rule (rows of
# the first encodings sorted by norm, cut into 4 groups, group means).
if HAVE_TORCH:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny batches: one thread is fastest on a CPU

    class SFVQAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, LATENT))
            self.quantizer = SpaceFillingVQLayer(K, LATENT, output="nsvq")
            self.decoder = nn.Sequential(nn.Linear(LATENT, 64), nn.ReLU(),
                                         nn.Linear(64, 64), nn.Sigmoid())

        def forward(self, x):
            q = self.quantizer(self.encoder(x))
            return self.decoder(q.output), q

    model = SFVQAutoencoder()
    Xt = torch.from_numpy(X)
    with torch.no_grad():
        model.quantizer.init_from_data(model.encoder(Xt))

# %%
# Training: one phase per curve size
# -----------------------------------
# Each phase uses a fresh Adam optimizer (growth replaces the corners'
# parameter) and halves the learning rate for its last 40 % of epochs. The
# perplexity of the chosen segments is the usual codebook-usage log.
if HAVE_TORCH:
    n_epochs, batch = 20, 64
    while True:
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.6 * n_epochs)], 0.5)
        model.train()
        for epoch in range(n_epochs):
            order = torch.randperm(len(Xt))
            for start in range(0, len(Xt), batch):
                xb = Xt[order[start:start + batch]]
                recon, q = model(xb)
                loss = ((recon - xb) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            recon, q = model(Xt)
            z = model.encoder(Xt)
        k = model.quantizer.n_corners
        print(f"K={k:2d}  reconstruction mse={float(((recon - Xt) ** 2).mean()):.4f}  "
              f"corner usage={model.quantizer.usage(z)['usage']:.2f}  "
              f"segment perplexity={perplexity(q.segments, k - 1):.1f} of {k - 1}")
        if k == K:
            break
        model.quantizer.grow()

# %%
# Reading the curve with the estimator
# ------------------------------------
# ``to_estimator`` gives a fitted :class:`~sksfvq.SpaceFillingVQ` with the
# layer's corners in the layer's order, so its ``transform`` reproduces the
# layer's eval positions (bit for bit on CPU) and all of
# :mod:`sksfvq.inspection` applies. The profile of a digit is the histogram of
# the nearest-corner index of its images, smoothed and max-normalised.
if HAVE_TORCH:
    Z = z.numpy()
    sfvq = model.quantizer.to_estimator(Z)
    positions = sfvq.transform(Z)[:, 0]
    print("largest |layer - estimator| position difference:",
          float(np.abs(positions - q.positions.numpy()).max()))
    print(f"label spread of the positions: {metrics.label_spread(positions, y):.3f} "
          "(1 = no better than random, lower = digits gathered on the curve)")

    profiles, classes = inspection.profiles_from_indices(sfvq.predict(Z), y, K, window=3)
    with torch.no_grad():
        decoded = model.decoder(model.quantizer.corners).numpy()

    fig = plt.figure(figsize=(11, 6))
    grid = fig.add_gridspec(2, K, height_ratios=[1.3, 5])
    for c in range(K):
        a = fig.add_subplot(grid[0, c])
        a.imshow(decoded[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        a.set_axis_off()
    ax = fig.add_subplot(grid[1, :])
    plotting.plot_index_profiles(profiles, classes, ax=ax, style="image")
    ax.set_xlabel("corner index along the curve")
    ax.set_ylabel("digit")
    fig.suptitle("decoded corners (top) and index profile per digit (bottom)")
    plt.show()
