"""Models: one API (``fit``, ``predict``, ``evaluate``, ``save``/``load_folder``, ``jacobian``) for all.

``create_model("apogee_bcnn", **kw)`` builds any registered model; ``list_models()`` lists them.
The model classes (and torch) load on first use, so ``import astrotorch.models`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from astrotorch.models.registry import create_model, get_model_class, list_models, register_model

#: public name → module that defines it (loaded on first access, PEP 562)
_LAZY: dict[str, str] = {
    "AstroModel": "astrotorch.models.base",
    "load_folder": "astrotorch.models.persistence",
    "MLP": "astrotorch.models.baselines",
    "BayesianMLP": "astrotorch.models.baselines",
    "KNNRegressor": "astrotorch.models.baselines",
    "LinearRegression": "astrotorch.models.baselines",
    "ApogeeCNN": "astrotorch.models.spectra",
    "ApogeeBCNN": "astrotorch.models.spectra",
    "ApogeeBCNNCensored": "astrotorch.models.spectra",
    "ApogeeDR14GaiaDR2BCNN": "astrotorch.models.spectra",
    "StarNet2017": "astrotorch.models.spectra",
    "Galaxy10CNN": "astrotorch.models.galaxy",
    "Cifar10CNN": "astrotorch.models.galaxy",
    "GalaxyResNet": "astrotorch.models.galaxy",
    "ClusterMassCNN": "astrotorch.models.cluster",
    "StellarPhysicsModel": "astrotorch.models.stars",
    "ApogeeCVAE": "astrotorch.models.generative",
    "ApokascEncoderDecoder": "astrotorch.models.generative",
    "LightCurveTransformer": "astrotorch.models.lightcurves",
    "LightCurveGRU": "astrotorch.models.lightcurves",
    "LightCurveFeatures": "astrotorch.models.lightcurves",
    "SimplePolyNN": "astrotorch.models.polynn",
    "SimplePloyNN": "astrotorch.models.polynn",  # the astroNN manual's spelling
    "AstroNNModelMixin": "astrotorch.models.astronn_api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'astrotorch.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["AstroModel", "load_folder", "create_model", "get_model_class", "list_models", "register_model", *[
    n for n in _LAZY if n not in ("AstroModel", "load_folder")]]
