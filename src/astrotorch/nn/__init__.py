"""Neural-network building blocks (astroNN's ``astroNN.nn`` namespace).

Submodules: ``losses`` and ``metrics`` (missing-label-aware torch functions), ``numpy`` (NumPy /
astropy-Quantity versions of the metrics), ``layers`` (Bayesian layers), ``callbacks`` (Lightning
callbacks). :class:`Normalizer` (astroNN's ``astroNN.nn.utilities.normalizer.Normalizer``) is
re-exported here.
"""

from __future__ import annotations

# losses before metrics: metrics builds on the loss helpers
from astrotorch.nn import losses, metrics, numpy, layers, callbacks  # noqa: I001
from astrotorch.nn.normalizer import Normalizer

__all__ = ["Normalizer", "losses", "metrics", "numpy", "layers", "callbacks"]
