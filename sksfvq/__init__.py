"""sksfvq: Space-Filling Vector Quantization for scikit-learn.

An ordered codebook: the codebook vectors are the corners of one
piecewise-linear curve through the data, so neighbouring indices hold
similar content.
"""

from ._sfvq import SpaceFillingVQ

__all__ = ["SpaceFillingVQ"]
__version__ = "0.1.0"
