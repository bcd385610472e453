"""Data sets: synthetic generators for every data kind, survey loaders and streaming readers.

Submodules are imported on demand (``from astrotorch.datasets.spectra import synthetic_spectra``)
so that importing one kind never pays for the others. astroNN's top-level names are available here
too, loaded lazily: ``load_galaxy10``, ``load_galaxy10sdss`` (a file opened lazily that also unpacks
to ``(images, labels)``), ``load_apogee_rc``, ``load_apogee_distances``, ``load_apokasc``, ``xmatch``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "load_galaxy10": ("astrotorch.datasets.galaxy10", "load_galaxy10"),
    "load_galaxy10sdss": ("astrotorch.datasets.galaxy10", "load_galaxy10sdss"),
    "load_apogee_rc": ("astrotorch.apogee.catalogs", "load_apogee_rc"),
    "load_apogee_distances": ("astrotorch.apogee.catalogs", "load_apogee_distances"),
    "load_apokasc": ("astrotorch.apogee.catalogs", "load_apokasc"),
}

# astroNN's ``from astroNN.datasets import xmatch`` gives the function: bind it over the submodule name
from astrotorch.datasets.xmatch import xmatch  # noqa: E402, F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'astrotorch.datasets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = sorted([*_LAZY, "xmatch"])
