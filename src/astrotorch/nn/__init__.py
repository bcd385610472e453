"""Neural-network building blocks (astroNN's ``astroNN.nn`` namespace).

Submodules: ``losses`` and ``metrics`` (missing-label-aware torch functions), ``numpy`` (NumPy /
astropy-Quantity versions of the metrics), ``layers`` (Bayesian layers, astroNN's fast MC layers),
``callbacks`` (Lightning callbacks, astroNN's ``VirutalCSVLogger``), and ``astronn`` — astroNN's
losses/metrics/NumPy tools with astroNN's exact formulas and defaults, where astrotorch's differ.
:class:`Normalizer` (astroNN's ``astroNN.nn.utilities.normalizer.Normalizer``), ``reduce_var`` and
``intpow_avx2`` are re-exported here.
"""

from __future__ import annotations

import importlib
from typing import Any

from astrotorch.nn.normalizer import Normalizer

_SUBMODULES = ("losses", "metrics", "numpy", "layers", "callbacks", "astronn")
_TENSOR_OPS = ("reduce_var", "intpow_avx2")


def __getattr__(name: str) -> Any:
    # submodules load on first use: ``callbacks`` needs Lightning, which takes seconds to import
    if name in _SUBMODULES:
        return importlib.import_module(f"astrotorch.nn.{name}")
    if name in _TENSOR_OPS:
        return getattr(importlib.import_module("astrotorch.nn.tensor_ops"), name)
    raise AttributeError(f"module 'astrotorch.nn' has no attribute {name!r}")


__all__ = ["Normalizer", "losses", "metrics", "numpy", "layers", "callbacks", "astronn", "reduce_var", "intpow_avx2"]
