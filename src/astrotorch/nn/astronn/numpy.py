"""astroNN 1.1.0's ``astroNN.nn.numpy`` with astroNN's argument order and return types.

astroNN's NumPy metrics take ``(x, y)`` = ``(prediction, ground truth)`` and the percentage errors
divide by ``y``, the *truth*. :mod:`astrotorch.nn.numpy` takes ``(y_true, y_pred)`` like the losses
and scikit-learn, so an astroNN call ``mape(pred, truth)`` ported there unchanged would divide by the
prediction; the functions here keep astroNN's order. As in astroNN the results are NumPy masked
values (``np.ma``): an entry is left out where either array holds the magic number — and, here, also
where either is NaN (astroNN's mean would turn NaN). Astropy Quantities: both or neither (else
``TypeError``); the result carries no unit (astroNN's rule); ``x`` is converted to ``y``'s unit
first (astroNN subtracts the raw values of compatible units).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy import units as u

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError


def _xy(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x_q, y_q = isinstance(x, u.Quantity), isinstance(y, u.Quantity)
    if x_q != y_q:
        raise TypeError(
            "only one of x and y carries astropy units: pass both as Quantities or neither "
            "(the result never carries units)"
        )
    if x_q:
        try:
            x = x.to_value(y.unit)
        except u.UnitConversionError as exc:
            raise InputValidationError(f"x's unit {x.unit} cannot be converted to y's unit {y.unit}") from exc
        y = y.value
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise ShapeMismatchError(f"x has shape {xa.shape} but y has shape {ya.shape}")
    return xa, ya


def _mask(*arrays: np.ndarray) -> np.ndarray:
    magic = magic_number()
    m = np.zeros(np.shape(arrays[0]), dtype=bool)
    for a in arrays:
        m |= (a == magic) | np.isnan(a)
    return m


def mean_absolute_error(x: Any, y: Any, axis: int | None = None) -> Any:
    """Mean ``|x - y|`` over the entries where neither is missing (x: prediction, y: truth)."""
    xa, ya = _xy(x, y)
    return np.ma.mean(np.ma.array(np.abs(xa - ya), mask=_mask(xa, ya)), axis=axis)


def median_absolute_error(x: Any, y: Any, axis: int | None = None) -> Any:
    """Median ``|x - y|`` over the entries where neither is missing."""
    xa, ya = _xy(x, y)
    return np.ma.median(np.ma.array(np.abs(xa - ya), mask=_mask(xa, ya)), axis=axis)


def _abs_pct(xa: np.ndarray, ya: np.ndarray) -> np.ma.MaskedArray:
    m = _mask(xa, ya)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.abs((xa - ya) / ya) * 100.0
    return np.ma.array(np.where(m, 0.0, pct), mask=m)


def mean_absolute_percentage_error(x: Any, y: Any, axis: int | None = None) -> Any:
    """Mean ``100 |x - y| / |y|`` (percent; ``y`` the truth is the denominator, as astroNN)."""
    xa, ya = _xy(x, y)
    return np.ma.mean(_abs_pct(xa, ya), axis=axis)


def median_absolute_percentage_error(x: Any, y: Any, axis: int | None = None) -> Any:
    """Median ``100 |x - y| / |y|`` (percent; truth ``y`` in the denominator)."""
    xa, ya = _xy(x, y)
    return np.ma.median(_abs_pct(xa, ya), axis=axis)


def kl_divergence(x: Any, y: Any) -> Any:
    """``Σ x log(x / y)`` over the last axis, both clipped to [1e-10, 1] (astroNN's formula; x: prediction)."""
    xa = np.clip(np.asarray(x, dtype=float), 1e-10, 1)
    ya = np.clip(np.asarray(y, dtype=float), 1e-10, 1)
    if xa.shape != ya.shape:
        raise ShapeMismatchError(f"x has shape {xa.shape} but y has shape {ya.shape}")
    return np.sum(xa * np.log(xa / ya), axis=-1)


def l1(x: Any, l1: float = 0.0) -> float:
    """``l1 · Σ|x|`` (Keras' L1 regularisation term)."""
    return float(np.sum(l1 * np.abs(np.asarray(x, dtype=float))))


def l2(x: Any, l2: float = 0.0) -> float:
    """``l2 · Σx²`` (Keras' L2 regularisation term)."""
    return float(np.sum(l2 * np.square(np.asarray(x, dtype=float))))


def relu(x: Any) -> Any:
    """``x · (x > 0)``."""
    return x * (np.asarray(x) > 0)


def sigmoid(x: Any) -> np.ma.MaskedArray:
    """``1 / (1 + e^{-x})`` with magic-number entries masked (a masked array, as astroNN)."""
    xa = np.asarray(x, dtype=float)
    m = xa == magic_number()
    with np.errstate(over="ignore"):
        out = 1.0 / (1.0 + np.exp(-np.where(m, 0.0, xa)))
    return np.ma.array(out, mask=m)


def sigmoid_inv(x: Any) -> np.ma.MaskedArray:
    """``log(x / (1 - x))`` with magic-number entries masked (values outside [0, 1] give NaN, as astroNN)."""
    xa = np.asarray(x, dtype=float)
    m = xa == magic_number()
    safe = np.where(m, 0.5, xa)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(safe / (1.0 - safe))
    return np.ma.array(out, mask=m)


mae = mean_absolute_error
mape = mean_absolute_percentage_error

__all__ = [
    "mean_absolute_error", "median_absolute_error", "mean_absolute_percentage_error",
    "median_absolute_percentage_error", "kl_divergence", "l1", "l2", "relu", "sigmoid", "sigmoid_inv", "mae",
    "mape",
]
