"""Inputs and targets of the stellar model (:mod:`astrotorch.models.stars`): Teff [K], L [L_sun],
R [R_sun] from a DataFrame, dict or array into the network's log form with presence flags, the
(N, 16) target table, missing values (NaN or the magic number) and the target groups."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from astrotorch.config import magic_number
from astrotorch.datasets.stars import STAR_CLASS_TARGETS, STAR_INPUTS, STAR_TARGETS
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.models.arch.stars import HETERO_TARGETS, LOG_T_SUN

#: targets predicted in log10 form internally (positive quantities given linearly in the catalogue)
LINEAR_POSITIVE = {"mass", "density", "lifespan", "peak_wavelength"}
#: targets that follow from exact relations (given the model's mass for the mass-dependent ones)
DERIVED_TARGETS = [t for t in STAR_TARGETS if t not in HETERO_TARGETS and t not in STAR_CLASS_TARGETS]
REGRESSION_TARGETS = [t for t in STAR_TARGETS if t not in STAR_CLASS_TARGETS]


def _missing(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) | (a == magic_number())


def _log_form(name: str, values: np.ndarray) -> np.ndarray:
    """The form the model compares a target in (log10 for the linear positive ones)."""
    v = np.asarray(values, dtype=np.float64)
    if name in LINEAR_POSITIVE:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)
    return v


def _inputs_array(x: Any) -> np.ndarray:
    """(N, 3) Teff [K], L [L_sun], R [R_sun] from a DataFrame, dict or array; NaN where missing."""
    if isinstance(x, pd.DataFrame):
        cols = [c for c in STAR_INPUTS if c in x.columns]
        if len(cols) < 2:
            raise InputValidationError(f"need at least two of {STAR_INPUTS} as columns, got {list(x.columns)}")
        arr = np.stack([x[c].to_numpy(float) if c in x.columns else np.full(len(x), np.nan) for c in STAR_INPUTS], 1)
    elif isinstance(x, dict):
        n = {len(np.atleast_1d(v)) for v in x.values()}
        if len(n) != 1:
            raise ShapeMismatchError("input dict columns have different lengths")
        size = n.pop()
        arr = np.stack([np.asarray(x[c], float) if c in x else np.full(size, np.nan) for c in STAR_INPUTS], 1)
    else:
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputValidationError("stellar inputs must be numeric (Teff, L, R)") from exc
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ShapeMismatchError(f"stellar inputs must be (N, 3) = Teff [K], L [L_sun], R [R_sun]; got {arr.shape}")
    arr = arr.astype(np.float64).copy()
    arr[_missing(arr)] = np.nan
    if np.isinf(arr).any():
        raise InputValidationError("stellar inputs contain inf")
    if (arr[~np.isnan(arr)] <= 0).any():
        raise InputValidationError("Teff, L and R must be positive (use NaN or the magic number for missing)")
    return arr


def encode_inputs(x: Any) -> np.ndarray:
    """Network input (N, 6): log10 Teff, log10 L, log10 R (0 where missing) and presence flags."""
    arr = _inputs_array(x)
    present = ~np.isnan(arr)
    n_present = present.sum(axis=1)
    if (n_present < 2).any():
        bad = np.flatnonzero(n_present < 2)
        raise InputValidationError(
            f"{bad.size} star(s) have fewer than two of Teff, L, R (rows {bad[:10].tolist()}...); "
            "two are needed to complete the third by Stefan–Boltzmann"
        )
    logs = np.where(present, np.log10(np.where(present, arr, 1.0)), 0.0)
    return np.concatenate([logs, present.astype(np.float64)], axis=1).astype(np.float32)


def _targets_array(y: Any) -> np.ndarray:
    if isinstance(y, pd.DataFrame):
        missing = [c for c in STAR_TARGETS if c not in y.columns]
        if len(missing) == len(STAR_TARGETS):
            raise InputValidationError(f"targets need columns among {STAR_TARGETS}")
        return np.stack([y[c].to_numpy(float) if c in y.columns else np.full(len(y), np.nan) for c in STAR_TARGETS], 1)
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(STAR_TARGETS):
        raise ShapeMismatchError(f"targets must be (N, {len(STAR_TARGETS)}) in STAR_TARGETS order, got {arr.shape}")
    return arr


def _complete_logs(enc: np.ndarray, sb: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lt, ll, lr = (enc[:, i].astype(np.float64) for i in range(3))
    ht, hl, hr = (enc[:, 3 + i] > 0.5 for i in range(3))
    lt = np.where(ht, lt, LOG_T_SUN + (ll - sb - 2 * lr) / 4)
    ll = np.where(hl, ll, sb + 2 * lr + 4 * (lt - LOG_T_SUN))
    lr = np.where(hr, lr, (ll - sb - 4 * (lt - LOG_T_SUN)) / 2)
    return lt, ll, lr
