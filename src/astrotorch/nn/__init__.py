"""Neural-network building blocks (astroNN's ``astroNN.nn`` namespace).

``losses``, ``metrics``, ``numpy`` (NumPy/astropy versions of the metrics), ``layers`` (Bayesian
layers) and ``callbacks`` are submodules; :class:`Normalizer` is re-exported here as in astroNN's
``astroNN.nn.utilities.normalizer``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from astrotorch.nn.normalizer import Normalizer

_SUBMODULES = ("losses", "metrics", "numpy", "layers", "callbacks")


def __getattr__(name: str) -> ModuleType:
    # submodules are imported on first access; this keeps `import astrotorch.nn` cheap and
    # free of import cycles with modules that themselves import the Normalizer
    if name in _SUBMODULES:
        module = importlib.import_module(f"astrotorch.nn.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'astrotorch.nn' has no attribute {name!r}")


__all__ = ["Normalizer", *_SUBMODULES]
