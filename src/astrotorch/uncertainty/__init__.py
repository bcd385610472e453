"""Uncertainty tools.

Vectorised Monte Carlo inference (:mod:`.mc`), calibration checks (:mod:`.calibration`) and the
Cramér–Rao bound of labels measured from spectra through an emulator (:mod:`.crlb`).

Names load on first use: a model's first ``predict`` needs only :mod:`.mc`, and calibration pulls in
scipy and astropy (~0.4 s in a fresh process).
"""

from __future__ import annotations

import importlib
from typing import Any

# eager: the function shares its submodule's name, and binding it here keeps `uncertainty.crlb` the
# function (torch and numpy only, nothing slow)
from astrotorch.uncertainty.crlb import CRLBResult, crlb

#: public name -> submodule that defines it
_NAMES = {
    "apply_temperature": "calibration",
    "coverage": "calibration",
    "expected_calibration_error": "calibration",
    "reliability_curve": "calibration",
    "temperature_scale": "calibration",
    "zscore_std": "calibration",
    "MCResult": "mc",
    "find_first_stochastic": "mc",
    "mc_predict": "mc",
    "split_at_first_stochastic": "mc",
}
_SUBMODULES = ("calibration", "mc", "selection", "prior")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"astrotorch.uncertainty.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"astrotorch.uncertainty.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'astrotorch.uncertainty' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_NAMES, *_SUBMODULES])


__all__ = ["calibration", "mc", "CRLBResult", "crlb", *_NAMES]
