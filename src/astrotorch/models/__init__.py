"""Models: one API (``fit``, ``predict``, ``evaluate``, ``save``/``load_folder``, ``jacobian``) for all.

``create_model("apogee_bcnn", **kw)`` builds any registered model; ``list_models()`` lists them.
"""

from __future__ import annotations

from astrotorch.models.base import AstroModel, load_folder
from astrotorch.models.registry import create_model, get_model_class, list_models, register_model

# Importing a model module registers its classes.
from astrotorch.models.baselines import MLP, BayesianMLP, KNNRegressor, LinearRegression  # noqa: E402
from astrotorch.models.spectra import (  # noqa: E402
    ApogeeBCNN,
    ApogeeBCNNCensored,
    ApogeeCNN,
    ApogeeDR14GaiaDR2BCNN,
    StarNet2017,
)
from astrotorch.models.galaxy import Cifar10CNN, Galaxy10CNN, GalaxyResNet  # noqa: E402
from astrotorch.models.cluster import ClusterMassCNN  # noqa: E402
from astrotorch.models.stars import StellarPhysicsModel  # noqa: E402
from astrotorch.models.generative import ApogeeCVAE, ApokascEncoderDecoder  # noqa: E402
from astrotorch.models.lightcurves import LightCurveFeatures, LightCurveGRU, LightCurveTransformer  # noqa: E402

__all__ = [
    "AstroModel",
    "load_folder",
    "create_model",
    "get_model_class",
    "list_models",
    "register_model",
    "MLP",
    "BayesianMLP",
    "KNNRegressor",
    "LinearRegression",
    "ApogeeCNN",
    "ApogeeBCNN",
    "ApogeeBCNNCensored",
    "ApogeeDR14GaiaDR2BCNN",
    "StarNet2017",
    "Galaxy10CNN",
    "Cifar10CNN",
    "GalaxyResNet",
    "ClusterMassCNN",
    "StellarPhysicsModel",
    "ApogeeCVAE",
    "ApokascEncoderDecoder",
    "LightCurveTransformer",
    "LightCurveGRU",
    "LightCurveFeatures",
]
