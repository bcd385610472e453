"""Model registry: ``create_model("apogee_bcnn", **kw)`` and ``list_models()`` (timm-style)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from astrotorch.errors import UnknownModelError

if TYPE_CHECKING:  # pragma: no cover
    from astrotorch.models.base import AstroModel

_REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)


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


def get_model_class(name: str) -> type[AstroModel]:
    """The registered class for ``name``; raises :class:`UnknownModelError` listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; registered models: {', '.join(list_models())}") from None


def create_model(name: str, **kwargs: Any) -> AstroModel:
    """Instantiate a registered model with hyper-parameters ``kwargs``."""
    return get_model_class(name)(**kwargs)


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)
