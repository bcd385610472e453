"""Model registry: ``create_model("apogee_bcnn", **kw)`` and ``list_models()`` (timm-style).

Built-in models are registered lazily: :data:`BUILTIN_MODELS` names the module that defines each
one, and that module (with torch) is imported the first time the name is asked for, so
``import astrotorch.models`` stays cheap. Models defined elsewhere register with
:func:`register_model` when their module is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar

from astrotorch.errors import UnknownModelError

if TYPE_CHECKING:  # pragma: no cover
    from astrotorch.models.base import AstroModel

_REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)

#: registry name → module defining the model (tests/test_sklearn_api.py checks it against the modules)
BUILTIN_MODELS: dict[str, str] = {
    "mlp": "astrotorch.models.baselines",
    "bayesian_mlp": "astrotorch.models.baselines",
    "linear": "astrotorch.models.baselines",
    "knn": "astrotorch.models.baselines",
    "apogee_cnn": "astrotorch.models.spectra",
    "apogee_bcnn": "astrotorch.models.spectra",
    "apogee_bcnn_censored": "astrotorch.models.spectra",
    "apogee_dr14_gaiadr2_bcnn": "astrotorch.models.spectra",
    "starnet2017": "astrotorch.models.spectra",
    "cifar10_cnn": "astrotorch.models.galaxy",
    "galaxy10_cnn": "astrotorch.models.galaxy",
    "galaxy_resnet": "astrotorch.models.galaxy",
    "cluster_mass_cnn": "astrotorch.models.cluster",
    "stellar_physics": "astrotorch.models.stars",
    "apogee_cvae": "astrotorch.models.generative",
    "apokasc_encoder_decoder": "astrotorch.models.generative",
    "lc_transformer": "astrotorch.models.lightcurves",
    "lc_gru": "astrotorch.models.lightcurves",
    "lc_features": "astrotorch.models.lightcurves",
    "simple_poly_nn": "astrotorch.models.polynn",
}


def register_model(cls: T) -> T:
    """Class decorator adding an :class:`AstroModel` subclass to the registry under ``cls.name``."""
    name = getattr(cls, "name", "")
    if not name:
        raise TypeError(f"{cls.__name__} has no registry name (set the class attribute `name`)")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"model name {name!r} is already registered to {existing.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def import_builtin_models() -> None:
    """Import every module that defines a built-in model (registers them all)."""
    for module in sorted(set(BUILTIN_MODELS.values())):
        importlib.import_module(module)


def get_model_class(name: str) -> type[AstroModel]:
    """The registered class for ``name``; raises :class:`UnknownModelError` listing the known names."""
    if name not in _REGISTRY:
        if name in BUILTIN_MODELS:
            importlib.import_module(BUILTIN_MODELS[name])
        else:  # a model added to a built-in module but not yet to the table above
            import_builtin_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; registered models: {', '.join(list_models())}") from None


def create_model(name: str, **kwargs: Any) -> AstroModel:
    """Instantiate a registered model with hyper-parameters ``kwargs``."""
    return get_model_class(name)(**kwargs)


def list_models() -> list[str]:
    """Sorted names of every registered model (built-in ones without importing them)."""
    return sorted(set(BUILTIN_MODELS) | set(_REGISTRY))
