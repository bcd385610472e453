"""Models: one API (``fit``, ``predict``, ``evaluate``, ``save``/``load_folder``, ``jacobian``) for all.

``create_model("apogee_bcnn", **kw)`` builds any registered model; ``list_models()`` lists them.
"""

from __future__ import annotations

from astrotorch.models.base import AstroModel, load_folder
from astrotorch.models.registry import create_model, get_model_class, list_models, register_model

# Importing a model module registers its classes.
from astrotorch.models.baselines import MLP, BayesianMLP, KNNRegressor, LinearRegression  # noqa: E402

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
]
