"""Neural-network building blocks (astroNN's ``astroNN.nn`` namespace).

Submodules: ``losses`` and ``metrics`` (missing-label-aware torch functions), ``numpy`` (NumPy /
astropy-Quantity versions of the metrics), ``layers`` (Bayesian layers), ``callbacks`` (Lightning
callbacks). :class:`Normalizer` (astroNN's ``astroNN.nn.utilities.normalizer.Normalizer``) is
re-exported here.
"""

from __future__ import annotations

import importlib
from typing import Any

from astrotorch.nn.normalizer import Normalizer

_SUBMODULES = ("losses", "metrics", "numpy", "layers", "callbacks")


def __getattr__(name: str) -> Any:
    # submodules load on first use: ``callbacks`` needs Lightning, which takes seconds to import
    if name in _SUBMODULES:
        return importlib.import_module(f"astrotorch.nn.{name}")
    raise AttributeError(f"module 'astrotorch.nn' has no attribute {name!r}")


__all__ = ["Normalizer", "losses", "metrics", "numpy", "layers", "callbacks"]
