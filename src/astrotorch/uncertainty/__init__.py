"""Uncertainty tools.

Vectorised Monte Carlo inference (:mod:`.mc`), calibration checks (:mod:`.calibration`) and the
Cramér–Rao bound of labels measured from spectra through an emulator (:mod:`.crlb`).
"""

from __future__ import annotations

from astrotorch.uncertainty import calibration, mc
from astrotorch.uncertainty.calibration import (
    apply_temperature,
    coverage,
    expected_calibration_error,
    reliability_curve,
    temperature_scale,
    zscore_std,
)
from astrotorch.uncertainty.crlb import CRLBResult, crlb
from astrotorch.uncertainty.mc import MCResult, find_first_stochastic, mc_predict, split_at_first_stochastic

__all__ = [
    "calibration",
    "mc",
    "CRLBResult",
    "crlb",
    "MCResult",
    "mc_predict",
    "find_first_stochastic",
    "split_at_first_stochastic",
    "zscore_std",
    "coverage",
    "expected_calibration_error",
    "reliability_curve",
    "temperature_scale",
    "apply_temperature",
]
