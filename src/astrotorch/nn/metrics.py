"""Missing-label-aware metrics on torch tensors, named after ``astroNN.nn.metrics``.

Every metric takes ``(y_true, y_pred, ...)`` tensors of the same shape, ignores entries whose truth
is the magic number (:func:`astrotorch.config.magic_number`) or NaN, and is computed without
gradient. Differences from the losses in :mod:`astrotorch.nn.losses`:

* ``axis``: ``None`` reduces over every entry (a scalar); an integer reduces along that axis only,
  e.g. ``axis=0`` on ``(N, D)`` labels gives one value per label;
* a slice with no valid entry gives **NaN** (there is nothing to measure), where a loss gives 0 so
  that training never sees NaN;
* median metrics use the usual median (mean of the two middle values for an even count).

Mean-type metrics accept ``sample_weight`` like the losses (weights multiply the entries, the
denominator is the number of valid entries); medians are unweighted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from astrotorch.errors import InputValidationError
from astrotorch.nn.masking import (
    EPSILON,
    _expand_weight,
    _prepare,
    _prepare_categorical,
    _sanitise,
    lookup_by_name,
)


def _norm_axis(axis: int | None, ndim: int) -> int | None:
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise InputValidationError(f"axis must be an int or None, got {axis!r}")
    if not -ndim <= axis < max(ndim, 1):
        raise InputValidationError(f"axis {axis} out of range for a {ndim}-d array")
    return axis % max(ndim, 1)


def _masked_mean_axis(
    values: torch.Tensor, mask: torch.Tensor, axis: int | None, sample_weight: torch.Tensor | None
) -> torch.Tensor:
    """Mean of ``values`` over valid entries along ``axis`` (NaN where a slice has none)."""
    axis = _norm_axis(axis, values.ndim)
    if sample_weight is not None:
        values = values * _sanitise(_expand_weight(sample_weight, values, tuple(values.shape)), mask)
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    num = torch.where(mask, values, zero)
    if axis is None:
        total, count = num.sum(), mask.sum()
    else:
        total, count = num.sum(dim=axis), mask.sum(dim=axis)
    count = count.to(values.dtype)
    nan = torch.full((), float("nan"), dtype=values.dtype, device=values.device)
    return torch.where(count > 0, total / count.clamp_min(1.0), nan)


def _masked_median_axis(values: torch.Tensor, mask: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Median of the valid entries along ``axis`` (NaN where none); works for any tensor size.

    ``torch.quantile`` refuses inputs above 2**24 elements and ``torch.nanmedian`` returns the lower
    middle value, so the median is taken from a sort with invalid entries pushed to the end.
    """
    axis = _norm_axis(axis, values.ndim)
    if axis is None:
        values, mask, axis = values.reshape(-1), mask.reshape(-1), 0
    if values.shape[axis] == 0:  # nothing to take a median of along this axis
        shape = values.shape[:axis] + values.shape[axis + 1 :]
        return torch.full(shape, float("nan"), dtype=values.dtype, device=values.device)
    inf = torch.full((), float("inf"), dtype=values.dtype, device=values.device)
    # +inf (not NaN) as filler: valid values are finite or +-inf, sorting keeps fillers last
    # except against valid +inf, which are equal and so interchangeable
    srt = torch.sort(torch.where(mask, values, inf), dim=axis).values
    count = mask.sum(dim=axis, keepdim=True)
    lo = ((count - 1).clamp_min(0)) // 2
    hi = count // 2
    hi = torch.where(count > 0, hi, torch.zeros_like(hi))
    v_lo = torch.gather(srt, axis, lo)
    v_hi = torch.gather(srt, axis, hi.clamp_max(max(srt.shape[axis] - 1, 0)))
    med = (0.5 * (v_lo + v_hi)).squeeze(axis)
    nan = torch.full((), float("nan"), dtype=values.dtype, device=values.device)
    return torch.where(count.squeeze(axis) > 0, med, nan)


def _abs_err(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t, p, mask = _prepare(y_true, y_pred.detach() if isinstance(y_pred, torch.Tensor) else y_pred)
    return (_sanitise(t, mask) - _sanitise(p, mask)).abs(), mask


def _abs_pct_err(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t, p, mask = _prepare(y_true, y_pred.detach() if isinstance(y_pred, torch.Tensor) else y_pred)
    t, p = _sanitise(t, mask, 1.0), _sanitise(p, mask, 1.0)
    return 100.0 * (t - p).abs() / t.abs().clamp_min(EPSILON), mask


@torch.no_grad()
def mean_absolute_error(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    axis: int | None = None,
) -> torch.Tensor:
    """Mean ``|y_true - y_pred|`` over valid entries (units of ``y``)."""
    v, mask = _abs_err(y_true, y_pred)
    return _masked_mean_axis(v, mask, axis, sample_weight)


@torch.no_grad()
def median_absolute_error(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int | None = None) -> torch.Tensor:
    """Median ``|y_true - y_pred|`` over valid entries (units of ``y``)."""
    v, mask = _abs_err(y_true, y_pred)
    return _masked_median_axis(v, mask, axis)


@torch.no_grad()
def mean_absolute_percentage_error(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    axis: int | None = None,
) -> torch.Tensor:
    """Mean ``100 |y_true - y_pred| / max(|y_true|, 1e-7)`` over valid entries (percent)."""
    v, mask = _abs_pct_err(y_true, y_pred)
    return _masked_mean_axis(v, mask, axis, sample_weight)


@torch.no_grad()
def median_absolute_percentage_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, axis: int | None = None
) -> torch.Tensor:
    """Median ``100 |y_true - y_pred| / max(|y_true|, 1e-7)`` over valid entries (percent)."""
    v, mask = _abs_pct_err(y_true, y_pred)
    return _masked_median_axis(v, mask, axis)


@torch.no_grad()
def mean_error(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    axis: int | None = None,
) -> torch.Tensor:
    """Mean signed ``y_true - y_pred`` over valid entries (bias, units of ``y``)."""
    t, p, mask = _prepare(y_true, y_pred.detach() if isinstance(y_pred, torch.Tensor) else y_pred)
    return _masked_mean_axis(_sanitise(t, mask) - _sanitise(p, mask), mask, axis, sample_weight)


@torch.no_grad()
def mean_percentage_error(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    axis: int | None = None,
) -> torch.Tensor:
    """Mean signed ``100 (y_true - y_pred) / max(|y_true|, 1e-7)`` over valid entries (percent)."""
    t, p, mask = _prepare(y_true, y_pred.detach() if isinstance(y_pred, torch.Tensor) else y_pred)
    t, p = _sanitise(t, mask, 1.0), _sanitise(p, mask, 1.0)
    return _masked_mean_axis(100.0 * (t - p) / t.abs().clamp_min(EPSILON), mask, axis, sample_weight)


@torch.no_grad()
def median_error(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int | None = None) -> torch.Tensor:
    """Median signed ``y_true - y_pred`` over valid entries (a robust bias, units of ``y``)."""
    t, p, mask = _prepare(y_true, y_pred.detach() if isinstance(y_pred, torch.Tensor) else y_pred)
    return _masked_median_axis(_sanitise(t, mask) - _sanitise(p, mask), mask, axis)


@torch.no_grad()
def median_absolute_deviation(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int | None = None) -> torch.Tensor:
    """astroNN's ``mad``: median ``|y_true - y_pred|`` over valid entries (same as :func:`median_absolute_error`)."""
    return median_absolute_error(y_true, y_pred, axis=axis)


@torch.no_grad()
def mad_std(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int | None = None) -> torch.Tensor:
    """``1.4826 ×`` :func:`median_absolute_deviation`: a standard deviation robust to outliers (units of ``y``).

    astroNN's definition (no re-centring on the median residual); for the re-centred scatter of one
    array use :func:`astrotorch.nn.numpy.mad_std`.
    """
    return 1.4826 * median_absolute_deviation(y_true, y_pred, axis=axis)


@torch.no_grad()
def mean_squared_error(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    axis: int | None = None,
) -> torch.Tensor:
    """Mean ``(y_true - y_pred)**2`` over valid entries (units of ``y**2``)."""
    v, mask = _abs_err(y_true, y_pred)
    return _masked_mean_axis(v.square(), mask, axis, sample_weight)


@torch.no_grad()
def root_mean_squared_error(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    axis: int | None = None,
) -> torch.Tensor:
    """Square root of :func:`mean_squared_error` (units of ``y``)."""
    return torch.sqrt(mean_squared_error(y_true, y_pred, sample_weight=sample_weight, axis=axis))


@torch.no_grad()
def mean_squared_logarithmic_error(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    axis: int | None = None,
) -> torch.Tensor:
    """Mean ``(log(1 + y_pred) - log(1 + y_true))**2`` over valid entries (inputs clipped at 1e-7)."""
    t, p, mask = _prepare(y_true, y_pred.detach() if isinstance(y_pred, torch.Tensor) else y_pred)
    d = torch.log1p(_sanitise(p, mask).clamp_min(EPSILON)) - torch.log1p(_sanitise(t, mask).clamp_min(EPSILON))
    return _masked_mean_axis(d.square(), mask, axis, sample_weight)


@torch.no_grad()
def categorical_accuracy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    from_logits: bool = True,
) -> torch.Tensor:
    """Fraction of valid rows whose argmax prediction is the true class; NaN if no row is valid.

    ``y_true``: one-hot ``(N, C)`` (true class = argmax) or class indices ``(N,)`` (negative /
    magic / NaN = missing). ``from_logits`` is accepted for a uniform signature: the argmax of logits
    and of probabilities is the same. Also importable from :mod:`astrotorch.nn.losses`.
    """
    del from_logits
    target, mask = _prepare_categorical(y_true, y_pred)
    hit = (target.argmax(dim=-1) == y_pred.argmax(dim=-1)).to(target.dtype)
    return _masked_mean_axis(hit, mask, None, sample_weight)


@torch.no_grad()
def binary_accuracy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    from_logits: bool = True,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Fraction of valid entries with ``(p > threshold) == (y_true > 0.5)``; NaN if none is valid.

    ``threshold`` is a probability; with ``from_logits`` (default) ``p = sigmoid(y_pred)``. Also
    importable from :mod:`astrotorch.nn.losses`.
    """
    t, p, mask = _prepare(y_true, y_pred)
    prob = torch.sigmoid(p) if from_logits else p
    hit = ((prob > threshold) == (_sanitise(t, mask) > 0.5)).to(p.dtype)
    return _masked_mean_axis(hit, mask, None, sample_weight)


@torch.no_grad()
def binary_accuracy_from_logits(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """astroNN's name for :func:`binary_accuracy` on logits."""
    return binary_accuracy(y_true, y_pred, sample_weight=sample_weight, from_logits=True)


# astroNN aliases
mpe = mean_percentage_error
mad = median_absolute_deviation
mae = mean_absolute_error
mape = mean_absolute_percentage_error
median_ae = median_absolute_error
median_ape = median_absolute_percentage_error
me = mean_error
mse = mean_squared_error
rmse = root_mean_squared_error
msle = mean_squared_logarithmic_error

_REGISTRY = {
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "median_absolute_error": median_absolute_error,
    "median_ae": median_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mape": mean_absolute_percentage_error,
    "median_absolute_percentage_error": median_absolute_percentage_error,
    "median_ape": median_absolute_percentage_error,
    "mean_error": mean_error,
    "me": mean_error,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "root_mean_squared_error": root_mean_squared_error,
    "rmse": root_mean_squared_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "msle": mean_squared_logarithmic_error,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "binary_accuracy_from_logits": binary_accuracy_from_logits,
    "mean_percentage_error": mean_percentage_error,
    "mpe": mean_percentage_error,
    "median_error": median_error,
    "median_absolute_deviation": median_absolute_deviation,
    "mad": median_absolute_deviation,
    "mad_std": mad_std,
}


def get_metric(name: str | Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Return the metric called ``name`` (case-insensitive, ``-`` or ``_``); callables pass through."""
    return lookup_by_name(_REGISTRY, name, "metric", "metrics")


__all__ = [
    "get_metric",
    "mean_absolute_error",
    "median_absolute_error",
    "mean_absolute_percentage_error",
    "median_absolute_percentage_error",
    "mean_error",
    "mean_squared_error",
    "root_mean_squared_error",
    "mean_squared_logarithmic_error",
    "categorical_accuracy",
    "binary_accuracy",
    "binary_accuracy_from_logits",
    "mean_percentage_error",
    "median_error",
    "median_absolute_deviation",
    "mad_std",
    "mpe",
    "mad",
    "mae",
    "mape",
    "median_ae",
    "median_ape",
    "me",
    "mse",
    "rmse",
    "msle",
]
