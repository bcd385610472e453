"""Neural-network building blocks (astroNN's ``astroNN.nn`` namespace).

Submodules: ``losses`` and ``metrics`` (missing-label-aware torch functions), ``numpy`` (NumPy /
astropy-Quantity versions of the metrics), ``layers`` (Bayesian layers, astroNN's fast MC layers),
``callbacks`` (Lightning callbacks, astroNN's ``VirutalCSVLogger``), and ``astronn`` — astroNN's
losses/metrics/NumPy tools with astroNN's exact formulas and defaults, where astrotorch's differ.
:class:`Normalizer` (astroNN's ``astroNN.nn.utilities.normalizer.Normalizer``), ``reduce_var`` and
``intpow_avx2`` are re-exported here.
"""

from __future__ import annotations

# losses before metrics: metrics builds on the loss helpers
from astrotorch.nn import losses, metrics, numpy, layers, callbacks  # noqa: I001
from astrotorch.nn import astronn
from astrotorch.nn.normalizer import Normalizer
from astrotorch.nn.tensor_ops import intpow_avx2, reduce_var

__all__ = ["Normalizer", "losses", "metrics", "numpy", "layers", "callbacks", "astronn", "reduce_var", "intpow_avx2"]
