"""sksfvq: Space-Filling Vector Quantization for scikit-learn.

An ordered codebook: the codebook vectors are the corners of one
piecewise-linear curve through the data, so neighbouring indices hold
similar content.
"""

from typing import TYPE_CHECKING

from ._compile_helper import start as _start_compile_helper

if TYPE_CHECKING:  # for static tools; at run time the estimator loads on first use
    from ._sfvq import SpaceFillingVQ

__all__ = ["SpaceFillingVQ"]
__version__ = "0.1.0"

# where the kernels were never compiled into the numba cache in use, a
# second process starts compiling them now (see _compile_helper)
_start_compile_helper()


def __getattr__(name):
    # the estimator (and scikit-learn with it) loads on first use, so that
    # the compile helper's interpreter does not import scikit-learn
    if name == "SpaceFillingVQ":
        from ._sfvq import SpaceFillingVQ

        return SpaceFillingVQ
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
