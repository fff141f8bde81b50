"""Data generators and loaders that never download.

The standard benchmark sets (``docs/metrics.rst``) are generated from fixed
seeds, so every machine gets bit-identical data without shipping files. The
real data here ships with scikit-learn: the 8x8 digits (1797 x 64, labels
0-9) and the two sample photographs of ``sklearn.datasets.load_sample_image``
(their pixels need Pillow: ``pip install pillow``, part of the ``docs``
extra).
Larger real sets (GloVe word vectors, phone-labelled speech) live in
``benchmarks/data/`` because they need optional packages.
"""

import numpy as np

from ._engine import check_count

__all__ = ["make_gaussian", "make_embedding", "load_standard", "load_digits", "load_pixels"]

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


def make_embedding(n_samples=100_000, n_features=32, n_latent=8, noise=0.3,
                   dtype=np.float32, random_state=0, chunk=1 << 18):
    """Embedding-like rows: a low-dimensional latent through a curved map, plus noise.

    Every row is ``tanh(z) A + noise * e`` with ``z`` an ``n_latent``-d
    standard normal, ``A`` a fixed random ``(n_latent, n_features)`` matrix
    and ``e`` standard normal: most of the variance lies near a curved
    ``n_latent``-dimensional sheet, as in learned embeddings. The scale
    benchmark's data (``benchmarks/bench_scale.py``, ``docs/scaling.rst``).
    Generated in chunks, so the only large array is the result; every chunk
    is seeded from ``(random_state, chunk index)``, so the rows depend on
    ``random_state`` (an int) and on ``chunk`` (keep the default for the
    benchmark's rows).

    Examples
    --------
    >>> X = make_embedding(1000, 16)
    >>> X.shape, X.dtype
    ((1000, 16), dtype('float32'))
    """
    random_state = check_count(random_state, "random_state (an int: it seeds every chunk)", 0)
    chunk = check_count(chunk, "chunk")
    rng = np.random.default_rng(random_state)
    A = rng.standard_normal((n_latent, n_features))
    out = np.empty((n_samples, n_features), dtype=dtype)
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        part = np.random.default_rng([random_state, start // chunk])
        Z = np.tanh(part.standard_normal((stop - start, n_latent))) @ A
        Z += noise * part.standard_normal((stop - start, n_features))
        out[start:stop] = Z
    return out


def load_standard(name, n_samples=None):
    """One of the standard sets of ``docs/metrics.rst``: ``(X, y, n_clusters)``.

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
        n = 65_536 if n_samples is None else check_count(n_samples, "n_samples")
        return make_gaussian(n, d), None, k
    if name == "digits":
        if n_samples is not None:
            raise ValueError("n_samples shortens the Gaussian sets only; digits has its "
                             "1,797 rows.")
        from sklearn.datasets import load_digits
        from sklearn.preprocessing import StandardScaler

        data = load_digits()
        return StandardScaler().fit_transform(data.data), data.target, 32
    raise ValueError(f"unknown standard dataset {name!r}; choose from "
                     f"{sorted(_GAUSS) + ['digits']}.")


def load_digits(*, standardize=True, return_images=False):
    """scikit-learn's bundled 8x8 handwritten digits: ``(X, y)``.

    Parameters
    ----------
    standardize : bool, default=True
        Scale every pixel to zero mean and unit variance (constant pixels stay
        0), as in the standard ``digits`` set.
    return_images : bool, default=False
        Also return the raw images, shape (1797, 8, 8), values 0-16.

    Returns
    -------
    X : ndarray of shape (1797, 64), float64
    y : ndarray of shape (1797,), int, the digit 0-9
    images : ndarray of shape (1797, 8, 8)
        Only when ``return_images`` is True.

    Examples
    --------
    >>> X, y = load_digits()
    >>> X.shape, sorted(set(y.tolist())) == list(range(10))
    ((1797, 64), True)
    >>> bool(abs(X.mean()) < 1e-12)
    True
    """
    from sklearn.datasets import load_digits as _load

    data = _load()
    X = data.data.astype(np.float64)
    if standardize:
        from sklearn.preprocessing import StandardScaler

        X = StandardScaler().fit_transform(X)
    if return_images:
        return X, data.target, data.images
    return X, data.target


def load_pixels(image="china.jpg", *, n_samples=None, random_state=0, dtype=np.float64,
                return_shape=False):
    """RGB pixels of a photograph bundled with scikit-learn, scaled to [0, 1].

    The rows are the colour vectors to quantize (colour quantization: a
    palette of K colours is a codebook; an ordered palette makes neighbouring
    indices similar colours).

    Parameters
    ----------
    image : {"china.jpg", "flower.jpg"}, default="china.jpg"
        Both are 427 x 640 pixels (273,280 rows), licence CC BY 2.0 / public
        domain as stated by scikit-learn.
    n_samples : int, optional
        Return this many rows drawn without replacement (seeded); all rows when
        None (in raster order).
    random_state : int, default=0
    dtype : numpy dtype, default=np.float64
    return_shape : bool, default=False
        Also return the image shape ``(height, width, 3)`` (for rebuilding the
        picture from all rows).

    Returns
    -------
    X : ndarray of shape (n_rows, 3)
    shape : tuple of int
        Only when ``return_shape`` is True.

    Examples
    --------
    >>> X = load_pixels(n_samples=1000)
    >>> X.shape, float(X.min()) >= 0, float(X.max()) <= 1
    ((1000, 3), True, True)
    """
    try:
        from sklearn.datasets import load_sample_image
        img = load_sample_image(image)
    except ImportError as exc:  # pragma: no cover - depends on Pillow
        raise ImportError("load_pixels needs Pillow: pip install pillow") from exc
    X = (np.asarray(img, dtype=np.float64).reshape(-1, 3) / 255.0)
    if n_samples is not None:
        n_samples = check_count(n_samples, "n_samples")
        if not 1 <= n_samples <= X.shape[0]:
            raise ValueError(f"n_samples must be in [1, {X.shape[0]}]; got {n_samples}.")
        idx = np.random.default_rng(random_state).choice(X.shape[0], n_samples, replace=False)
        X = X[np.sort(idx)]
    X = X.astype(dtype, copy=False)
    return (X, img.shape) if return_shape else X
