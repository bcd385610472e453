"""NumPy metrics and helpers that understand missing values and astropy Quantities (``astroNN.nn.numpy``).

Conventions shared by the metrics here:

* argument order is ``(y_true, y_pred)`` like :mod:`astrotorch.nn.losses` and scikit-learn. (astroNN's
  NumPy functions take ``(x=prediction, y=truth)``; the order matters for the percentage errors and
  the sign of :func:`mean_error`, so pass keywords when porting astroNN code);
* an entry is ignored when **either** array holds the magic number
  (:func:`astrotorch.config.magic_number`) or NaN there, as astroNN does when comparing catalogues
  where both sides can be missing;
* ``axis=None`` reduces over everything; an int reduces along that axis; a slice with no valid
  entry gives NaN;
* astropy Quantities: pass both or neither, otherwise ``TypeError``. With units, ``y_pred`` is
  converted to ``y_true``'s unit and the result carries the right unit (``y_true.unit`` for errors,
  its square for :func:`mean_squared_error`, none for the percentage errors). The magic number is
  compared with the numerical values in those units.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from astropy import units as u

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError

ArrayLike = np.ndarray | u.Quantity | float | list

#: Scale turning a median absolute deviation into a Gaussian standard deviation (1 / Phi^-1(3/4)).
MAD_TO_STD: float = 1.482602218505602
_EPS = 1e-7


def _values_and_unit(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, u.UnitBase | None]:
    """Strip units after the both-or-neither check, converting ``y_pred`` to ``y_true``'s unit."""
    t_q, p_q = isinstance(y_true, u.Quantity), isinstance(y_pred, u.Quantity)
    if t_q != p_q:
        which = "y_true" if t_q else "y_pred"
        raise TypeError(
            f"only {which} is an astropy Quantity: pass both y_true and y_pred with units, or neither"
        )
    if t_q:
        unit = y_true.unit
        try:
            pred = y_pred.to_value(unit)
        except u.UnitConversionError as exc:
            raise InputValidationError(
                f"y_pred's unit {y_pred.unit} cannot be converted to y_true's unit {unit}: {exc}"
            ) from exc
        true = y_true.value
    else:
        unit, true, pred = None, y_true, y_pred
    true = np.asarray(true, dtype=float)
    pred = np.asarray(pred, dtype=float)
    if true.shape != pred.shape:
        raise ShapeMismatchError(f"y_true has shape {true.shape} but y_pred has shape {pred.shape}")
    return true, pred, unit


def _valid(*arrays: np.ndarray) -> np.ndarray:
    magic = magic_number()
    ok = np.ones(np.shape(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= ~np.isnan(a) & (a != magic)
    return ok


def _check_axis(axis: int | None, ndim: int) -> None:
    if axis is None:
        return
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InputValidationError(f"axis must be an int or None, got {axis!r}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise InputValidationError(f"axis {axis} out of range for a {ndim}-d array")


def _masked_mean(values: np.ndarray, valid: np.ndarray, axis: int | None) -> np.ndarray | float:
    _check_axis(axis, values.ndim)
    total = np.sum(np.where(valid, values, 0.0), axis=axis)
    count = np.sum(valid, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out[()] if np.ndim(out) == 0 else out


def _masked_median(values: np.ndarray, valid: np.ndarray, axis: int | None) -> np.ndarray | float:
    _check_axis(axis, values.ndim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": we want NaN there
        out = np.nanmedian(np.where(valid, values, np.nan), axis=axis)
    return out[()] if np.ndim(out) == 0 else out


def _with_unit(value: np.ndarray | float, unit: u.UnitBase | None) -> Any:
    return value if unit is None else value * unit


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------
def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike, axis: int | None = None) -> Any:
    """Mean ``|y_true - y_pred|`` over valid entries (unit of ``y_true``)."""
    t, p, unit = _values_and_unit(y_true, y_pred)
    return _with_unit(_masked_mean(np.abs(t - p), _valid(t, p), axis), unit)


def median_absolute_error(y_true: ArrayLike, y_pred: ArrayLike, axis: int | None = None) -> Any:
    """Median ``|y_true - y_pred|`` over valid entries (unit of ``y_true``)."""
    t, p, unit = _values_and_unit(y_true, y_pred)
    return _with_unit(_masked_median(np.abs(t - p), _valid(t, p), axis), unit)


def _pct(t: np.ndarray, p: np.ndarray, valid: np.ndarray) -> np.ndarray:
    t_safe = np.where(valid, t, 1.0)
    return 100.0 * np.abs(np.where(valid, t - p, 0.0)) / np.maximum(np.abs(t_safe), _EPS)


def mean_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike, axis: int | None = None) -> Any:
    """Mean ``100 |y_true - y_pred| / max(|y_true|, 1e-7)`` over valid entries (percent, no unit)."""
    t, p, _ = _values_and_unit(y_true, y_pred)
    valid = _valid(t, p)
    return _masked_mean(_pct(t, p, valid), valid, axis)


def median_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike, axis: int | None = None) -> Any:
    """Median ``100 |y_true - y_pred| / max(|y_true|, 1e-7)`` over valid entries (percent, no unit)."""
    t, p, _ = _values_and_unit(y_true, y_pred)
    valid = _valid(t, p)
    return _masked_median(_pct(t, p, valid), valid, axis)


def mean_error(y_true: ArrayLike, y_pred: ArrayLike, axis: int | None = None) -> Any:
    """Mean signed ``y_true - y_pred`` over valid entries (bias; unit of ``y_true``)."""
    t, p, unit = _values_and_unit(y_true, y_pred)
    return _with_unit(_masked_mean(t - p, _valid(t, p), axis), unit)


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, axis: int | None = None) -> Any:
    """Mean ``(y_true - y_pred)**2`` over valid entries (unit of ``y_true`` squared)."""
    t, p, unit = _values_and_unit(y_true, y_pred)
    return _with_unit(_masked_mean((t - p) ** 2, _valid(t, p), axis), None if unit is None else unit**2)


def root_mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, axis: int | None = None) -> Any:
    """Square root of :func:`mean_squared_error` (unit of ``y_true``)."""
    t, p, unit = _values_and_unit(y_true, y_pred)
    return _with_unit(np.sqrt(_masked_mean((t - p) ** 2, _valid(t, p), axis)), unit)


def mad_std(x: ArrayLike, axis: int | None = None) -> Any:
    """Robust scatter ``1.4826 * median(|x - median(x)|)`` of the valid entries (unit of ``x``).

    :func:`astropy.stats.mad_std` on the valid entries: equal to the standard deviation for
    Gaussian data but insensitive to outliers. Magic-number and NaN entries are ignored; a slice
    with no valid entry gives NaN. This is astrotorch's one robust scatter: every ``mad_std`` of
    residuals or z-scores in the package comes from here or from astropy directly.
    """
    from astropy.stats import mad_std as _astropy_mad_std

    unit = x.unit if isinstance(x, u.Quantity) else None
    v = np.asarray(x.value if unit is not None else x, dtype=float)
    _check_axis(axis, v.ndim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice" / "Mean of empty slice": NaN wanted
        out = _astropy_mad_std(np.where(_valid(v), v, np.nan), axis=axis, ignore_nan=True)
    return _with_unit(out[()] if np.ndim(out) == 0 else out, unit)


# ----------------------------------------------------------------------------------------------
# element-wise helpers
# ----------------------------------------------------------------------------------------------
def _dimensionless(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, u.Quantity):
        try:
            return np.asarray(x.to_value(u.dimensionless_unscaled), dtype=float)
        except u.UnitConversionError:
            raise TypeError(f"{name} needs a dimensionless input, got a Quantity in {x.unit}") from None
    return np.asarray(x, dtype=float)


def sigmoid(x: ArrayLike) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, evaluated without overflow for large ``|x|``."""
    x = _dimensionless(x, "sigmoid")
    # exp(-|x|) never overflows; pick the algebraically equal branch by sign
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out[()] if out.ndim == 0 else out


def sigmoid_inv(x: ArrayLike) -> np.ndarray:
    """Inverse of :func:`sigmoid` (the logit ``log(x / (1 - x))``); ``x`` must lie in [0, 1]."""
    x = _dimensionless(x, "sigmoid_inv")
    if np.any((x < 0) | (x > 1)):
        raise InputValidationError("sigmoid_inv needs values in [0, 1]")
    with np.errstate(divide="ignore"):
        out = np.log(x) - np.log1p(-x)
    return out[()] if np.ndim(out) == 0 else out


def relu(x: ArrayLike) -> Any:
    """Rectified linear unit ``max(x, 0)`` (keeps a Quantity's unit)."""
    if isinstance(x, u.Quantity):
        return np.maximum(x.value, 0.0) * x.unit
    return np.maximum(np.asarray(x, dtype=float), 0.0)


def l1(x: ArrayLike, l1: float = 0.0) -> float:
    """L1 regularisation penalty ``l1 * sum(|x|)`` (astroNN's ``l1``)."""
    return float(l1 * np.sum(np.abs(_dimensionless(x, "l1"))))


def l2(x: ArrayLike, l2: float = 0.0) -> float:
    """L2 regularisation penalty ``l2 * sum(x**2)`` (astroNN's ``l2``)."""
    return float(l2 * np.sum(np.square(_dimensionless(x, "l2"))))


def kl_divergence(p: ArrayLike, q: ArrayLike, axis: int | None = None) -> Any:
    """Kullback-Leibler divergence ``sum p log(p / q)`` in nats between discrete distributions.

    Terms with ``p == 0`` contribute 0; ``q == 0`` where ``p > 0`` gives ``inf``. Negative
    probabilities raise :class:`InputValidationError`.
    """
    p_a, q_a = _dimensionless(p, "kl_divergence p"), _dimensionless(q, "kl_divergence q")
    if p_a.shape != q_a.shape:
        raise ShapeMismatchError(f"p has shape {p_a.shape} but q has shape {q_a.shape}")
    if np.any(p_a < 0) or np.any(q_a < 0):
        raise InputValidationError("kl_divergence needs non-negative probabilities")
    _check_axis(axis, p_a.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p_a > 0, p_a * (np.log(np.where(p_a > 0, p_a, 1.0)) - np.log(q_a)), 0.0)
    out = np.sum(terms, axis=axis)
    return out[()] if np.ndim(out) == 0 else out


# astroNN aliases
mae = mean_absolute_error
mape = mean_absolute_percentage_error
median_ae = median_absolute_error
median_ape = median_absolute_percentage_error
me = mean_error
mse = mean_squared_error
rmse = root_mean_squared_error

__all__ = [
    "MAD_TO_STD",
    "mean_absolute_error",
    "median_absolute_error",
    "mean_absolute_percentage_error",
    "median_absolute_percentage_error",
    "mean_error",
    "mean_squared_error",
    "root_mean_squared_error",
    "mad_std",
    "sigmoid",
    "sigmoid_inv",
    "relu",
    "l1",
    "l2",
    "kl_divergence",
    "mae",
    "mape",
    "median_ae",
    "median_ape",
    "me",
    "mse",
    "rmse",
]
