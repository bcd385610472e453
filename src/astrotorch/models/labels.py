"""Label validation: classification labels → class indices and ``classes_``; regression label checks.

Classification (the rule, also in docs/CONTRACT.md):

* one-hot / probability rows ``(N, C)``: ``classes_ = 0..C-1``; a row that is all zeros, or holds
  NaN or the magic number, is *unlabelled* (missing), never class 0; negative entries are refused.
* integer labels ``(N,)``: NaN, the magic number and negative values are unlabelled. With
  ``targetname`` the classes are ``0..len(targetname)-1`` and a label outside that range is refused.
  Without it, ``classes_`` are the distinct labels seen (scikit-learn's rule), so ``predict`` returns
  the values of ``y``. A stray label such as 10⁶ therefore adds one class, never a million of them,
  and labels that are not exactly ``0..C-1`` give a warning saying so.
* string (or bool) labels: ``classes_`` are the distinct values, or ``targetname`` when every
  label is one of its names (then its order is the output order).
* floats that are not integers: refused ("Unknown label type"), as scikit-learn does.

A warm (already fitted) model maps new labels through its existing ``classes_`` and refuses unknown
ones.

Regression: ``(N,)`` or ``(N, D)`` numbers; NaN and the magic number are missing labels; ±inf is
refused. When the label normaliser is being fitted, a label column with no valid value at all is an
error naming the column (its statistics would be undefined) — unless *every* label is missing, which
stays a warning (a batch of unlabelled objects for ``fit_on_batch`` trains nothing but is legal).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError


def is_missing(a: np.ndarray, magic: float | None = None) -> np.ndarray:
    """True where ``a`` (a float array) is NaN or the magic number."""
    return np.isnan(a) | (a == (magic_number() if magic is None else magic))


def _column_name(targetname: Sequence[str] | None, j: int) -> str:
    return f"{targetname[j]!r} (y[:, {j}])" if targetname and j < len(targetname) else f"y[:, {j}]"


def _as_label_array(y: Any) -> np.ndarray:
    if hasattr(y, "detach"):  # torch tensor
        y = y.detach().cpu().numpy()
    if hasattr(y, "unit") and hasattr(y, "value"):
        y = y.value
    try:
        arr = np.asarray(y)
    except Exception as exc:  # ragged lists etc.
        raise InputValidationError(f"y could not be converted to an array: {exc}") from exc
    if arr.dtype.kind == "c":
        raise InputValidationError(f"y: Complex data not supported (dtype {arr.dtype})")
    if arr.ndim == 0:
        raise InputValidationError("y must have a sample axis, got a scalar")
    return arr


def _object_labels(y: np.ndarray) -> np.ndarray:
    """An object array of labels as a string array or a float array (mixed types are refused)."""
    values = y.tolist()
    if all(isinstance(v, str) for v in values):
        return y.astype(str)
    try:
        return y.astype(np.float64)
    except (TypeError, ValueError):
        kinds = sorted({type(v).__name__ for v in values})
        raise InputValidationError(f"y: Unknown label type: mixed label values of types {kinds}") from None


def encode_class_labels(
    y: Any, n: int, targetname: Sequence[str] | None, classes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Class index per sample (``-1`` = unlabelled) and the class labels ``classes_``.

    ``classes``: those of an already fitted model (labels are mapped through them), else ``None``.
    """
    arr = _as_label_array(y)
    if arr.shape[0] != n:
        raise ShapeMismatchError(f"x has {n} samples but y has {arr.shape[0]}")
    if arr.ndim == 2 and arr.shape[1] > 1:
        return _one_hot(arr, targetname, classes)
    if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] != 1):
        raise ShapeMismatchError(f"classification labels must be (N,) or one-hot (N, C), got shape {arr.shape}")
    if arr.ndim == 2:
        from sklearn.exceptions import DataConversionWarning

        warnings.warn("A column-vector y was passed when a 1d array was expected: y is read as (N,) class labels",
                      DataConversionWarning, stacklevel=4)
    arr = arr.reshape(n)
    if arr.dtype == object:
        arr = _object_labels(arr)
    if arr.dtype.kind in "US":
        return _string_labels(arr.astype(str), targetname, classes)
    if arr.dtype.kind not in "biuf":
        raise InputValidationError(f"y: Unknown label type: dtype {arr.dtype}")
    return _integer_labels(arr.astype(np.float64), targetname, classes)


def _one_hot(arr: np.ndarray, targetname: Sequence[str] | None, classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if arr.dtype.kind not in "biuf":
        raise InputValidationError(f"one-hot labels y must be numeric, got dtype {arr.dtype}")
    yf = arr.astype(np.float64)
    n_classes = yf.shape[1]
    missing = is_missing(yf).any(axis=1) | (np.nan_to_num(yf) == 0).all(axis=1)
    if np.any(yf[~missing] < 0):
        raise InputValidationError("one-hot labels y must be >= 0 (all-zero rows mark unlabelled samples)")
    if classes is not None and len(classes) != n_classes:
        raise ShapeMismatchError(f"y has {n_classes} one-hot columns, the model has {len(classes)} classes")
    if targetname and len(targetname) != n_classes:
        raise ShapeMismatchError(f"y has {n_classes} one-hot columns but targetname names {len(targetname)} classes")
    idx = np.where(missing, -1, np.argmax(np.nan_to_num(yf, nan=-np.inf), axis=1)).astype(np.int64)
    return idx, (classes if classes is not None else np.arange(n_classes))


def _integer_labels(yf: np.ndarray, targetname: Sequence[str] | None, classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    missing = is_missing(yf) | (yf < 0)
    valid = yf[~missing]
    if np.any(~np.isfinite(valid)) or np.any(valid != np.round(valid)):
        raise InputValidationError(
            "y: Unknown label type 'continuous': classification labels must be integer class indices, "
            "strings or one-hot rows"
        )
    if classes is not None:
        return _map_known(np.where(missing, -1, yf).astype(np.int64), missing, classes), classes
    if targetname:
        n_classes = len(targetname)
        if valid.size and valid.max() >= n_classes:
            raise InputValidationError(
                f"y has class index {int(valid.max())} but targetname names {n_classes} classes "
                f"(indices 0..{n_classes - 1})"
            )
        return np.where(missing, -1, yf).astype(np.int64), np.arange(n_classes)
    labels = np.unique(valid).astype(np.int64)
    if labels.size and not np.array_equal(labels, np.arange(labels.size)):
        shown = labels.tolist() if labels.size <= 10 else labels[:10].tolist() + ["..."]
        warnings.warn(
            f"y: integer labels {shown} are not the class indices 0..{labels.size - 1}; they are used as "
            f"{labels.size} class labels (scikit-learn's rule: predict returns these values). Pass "
            "targetname to fix the classes.",
            UserWarning,
            stacklevel=4,
        )
    idx = np.full(yf.shape, -1, np.int64)
    idx[~missing] = np.searchsorted(labels, valid.astype(np.int64))
    return idx, labels


def _string_labels(ys: np.ndarray, targetname: Sequence[str] | None, classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    missing = np.zeros(ys.shape, bool)
    if classes is not None:
        return _map_known(ys, missing, classes), classes
    seen = np.unique(ys)
    labels = seen
    if targetname:
        stray = sorted(set(seen.tolist()) - set(targetname))
        if stray:
            raise InputValidationError(f"y has labels {stray[:10]} that are not in targetname {list(targetname)}")
        labels = np.asarray(list(targetname))
    lookup = {v: i for i, v in enumerate(labels.tolist())}
    return np.array([lookup[v] for v in ys.tolist()], np.int64), labels


def _map_known(values: np.ndarray, missing: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Indices of ``values`` in an existing ``classes_`` (warm start); unknown labels are refused."""
    lookup = {v: i for i, v in enumerate(np.asarray(classes).tolist())}
    out = np.full(values.shape, -1, np.int64)
    for i, v in enumerate(values.tolist()):
        if missing[i]:
            continue
        if v not in lookup:
            raise InputValidationError(f"y has label {v!r}, which is not one of the model's classes {list(lookup)}")
        out[i] = lookup[v]
    return out


def regression_labels(
    y: Any, n: int, output_dim: int | None, targetname: Sequence[str] | None, fitting_statistics: bool
) -> np.ndarray:
    """Validated regression labels ``(N, D)`` float32 (missing entries stay NaN / magic number).

    ``output_dim``: the fitted model's label count (checked), or ``None``. ``fitting_statistics``:
    the label normaliser is about to be fitted on these labels (see the module docstring).
    """
    arr = _as_label_array(y)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InputValidationError(f"regression labels y must be numeric, got dtype {arr.dtype}")
    if arr.shape[0] != n:
        raise ShapeMismatchError(f"x has {n} samples but y has {arr.shape[0]}")
    yy = arr[:, None] if arr.ndim == 1 else arr
    if yy.ndim != 2:
        raise ShapeMismatchError(f"regression labels must be (N, D), got shape {yy.shape}")
    if np.isinf(yy).any():
        raise InputValidationError("y contains inf; mark missing labels with NaN or the magic number")
    if output_dim is not None and yy.shape[1] != output_dim:
        raise ShapeMismatchError(f"y has {yy.shape[1]} labels, the model predicts {output_dim}")
    yy = yy.astype(np.float32)
    missing = is_missing(yy)
    if missing.all():
        # legitimate (e.g. a batch of unlabelled stars) but nothing can be learned: say so loudly
        warnings.warn("every label is missing: the loss is 0 and the weights will not change", stacklevel=4)
    elif fitting_statistics:
        empty = np.flatnonzero(missing.all(axis=0))
        if empty.size:
            names = ", ".join(_column_name(targetname, int(j)) for j in empty)
            raise InputValidationError(
                f"label column {names} has no valid value (every entry is NaN or the magic number): "
                "its normalisation is undefined; drop the column or provide labels"
            )
    return yy


def label_range(y: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray | None:
    """``(2, D)`` float64: the smallest and largest labelled value of each column of ``y`` (N, D), in
    label units, widened to cover ``previous`` (a range fitted earlier); NaN for a column with no
    labelled entry. ``None`` for classification-shaped input (not 2-D)."""
    yy = np.asarray(y, np.float64)
    if yy.ndim != 2:
        return None
    vals = np.where(is_missing(yy), np.nan, yy)
    with warnings.catch_warnings():  # an all-missing column: NaN, no RuntimeWarning
        warnings.simplefilter("ignore", RuntimeWarning)
        rng = np.stack([np.nanmin(vals, axis=0), np.nanmax(vals, axis=0)]) if len(vals) else np.full((2, yy.shape[1]), np.nan)
    if previous is not None and np.shape(previous) == rng.shape:
        rng = np.stack([np.fmin(rng[0], previous[0]), np.fmax(rng[1], previous[1])])
    return rng


def outside_range(values: Any, bounds: np.ndarray) -> np.ndarray:
    """``(N, D)`` bool: True where ``values`` (N, D) lie below ``bounds[0]`` or above ``bounds[1]``
    (a column whose bound is NaN is never outside; NaN values are not outside)."""
    v = np.asarray(values, np.float64)
    v = v[:, None] if v.ndim == 1 else v
    lo, hi = np.asarray(bounds, np.float64)
    if v.ndim != 2 or v.shape[1] != lo.shape[0]:
        raise ShapeMismatchError(f"values must have shape (N, {lo.shape[0]}), got {np.shape(values)}")
    with np.errstate(invalid="ignore"):
        return (v < lo[None, :]) | (v > hi[None, :])


__all__ = ["is_missing", "encode_class_labels", "label_range", "outside_range", "regression_labels"]
