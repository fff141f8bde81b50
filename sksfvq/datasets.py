"""Data generators and loaders that never download.

The standard benchmark sets of METRICS.md are generated from fixed seeds, so
every machine gets bit-identical data without shipping files.
"""

import numpy as np

__all__ = ["make_gaussian", "load_standard"]

#: name -> (n_features, n_clusters) of the standard Gaussian sets
_GAUSS = {"gauss2": (2, 32), "gauss16": (16, 64), "gauss128": (128, 32)}


def make_gaussian(n_samples=65_536, n_features=2, dtype=np.float64, random_state=0):
    """Standard-normal rows from a seeded generator (the ``gaussN`` sets).

    Examples
    --------
    >>> make_gaussian(4, 3).shape
    (4, 3)
    """
    rng = np.random.default_rng(random_state)
    return rng.standard_normal((n_samples, n_features)).astype(dtype, copy=False)


def load_standard(name, n_samples=None):
    """One of METRICS.md's standard sets: ``(X, y, n_clusters)``.

    ``name`` is ``"gauss2"``, ``"gauss16"``, ``"gauss128"`` (N = 65,536, no
    labels: ``y`` is None) or ``"digits"`` (scikit-learn's bundled digits,
    standardized, labels 0-9). ``n_samples`` shortens a Gaussian set.

    Examples
    --------
    >>> X, y, k = load_standard("digits")
    >>> X.shape, k
    ((1797, 64), 32)
    """
    if name in _GAUSS:
        d, k = _GAUSS[name]
        return make_gaussian(n_samples or 65_536, d), None, k
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.preprocessing import StandardScaler

        data = load_digits()
        return StandardScaler().fit_transform(data.data), data.target, 32
    raise ValueError(f"unknown standard dataset {name!r}; choose from "
                     f"{sorted(_GAUSS) + ['digits']}.")
