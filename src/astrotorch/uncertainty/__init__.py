"""Uncertainty tools: vectorised Monte Carlo inference (:mod:`.mc`) and calibration checks (:mod:`.calibration`)."""

from __future__ import annotations

from astrotorch.uncertainty.mc import MCResult, find_first_stochastic, mc_predict, split_at_first_stochastic

__all__ = ["MCResult", "mc_predict", "find_first_stochastic", "split_at_first_stochastic"]
