"""The estimator's way to the kernels: loaded on first use, chunked over rows.

``import sksfvq`` imports this module but none of the Numba-backed ones;
they load when a name of theirs is first used.
"""

import importlib

import numpy as np
from sklearn.utils.validation import _check_sample_weight
from threadpoolctl import ThreadpoolController


class _OnFirstUse:
    """A module of this package imported when one of its names is first used.

    The Numba-backed modules load here lazily: ``import sksfvq`` then costs
    about what scikit-learn costs (importing numba and registering the
    kernels adds ~0.2 s, paid by the first fit or transform instead).
    """

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(f"{__package__}.{self._name}"), attr)


_kernels = _OnFirstUse("_kernels")
_project = _OnFirstUse("_project")
_train = _OnFirstUse("_train")
_train_kernels = _OnFirstUse("_train_kernels")

_BLAS = []


def one_blas_thread():
    """Context limiting BLAS to one thread (its controller is built once:
    finding the libraries costs ~3 ms, more than a small fit)."""
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


#: names of ``_train.TRAINERS`` (kept here so that validation needs no import)
ALGORITHMS = ("lloyd", "sgd")


#: rows per kernel call in predict/transform/score: memory stays bounded for any N
_CHUNK_ROWS = 1 << 20


def nearest(X, C):
    """(labels, squared distances in float64) to the nearest corner, chunked."""
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dist2 = np.empty(n, dtype=np.float64)
    for start in range(0, max(n, 1), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        labels[start:stop], dist2[start:stop] = _kernels.assign_corners64(X[start:stop], C)
    return labels, dist2


def training_weights(sample_weight, X):
    """Checked, non-negative float64 training weights with at least one non-zero."""
    w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number "
                         "(all sample weights are zero).")
    return np.ascontiguousarray(w)


def positions(X, C):
    """Exact curve positions of the rows of X, chunked."""
    n = X.shape[0]
    pos = np.empty(n, dtype=X.dtype)
    for start in range(0, max(n, 1), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        pos[start:stop] = _project.project(X[start:stop], C)[0]
    return pos
