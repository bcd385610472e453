"""Model inputs and class labels for the light-curve models, scikit-learn style.

Classifiers keep ``classes_``: the distinct labels seen at ``fit`` (sorted, as scikit-learn does —
or in the order of ``LightCurveSet.class_names`` when the labels come from the curves and the set
names its classes). ``predict`` returns values of ``classes_``; ``predict_proba`` columns follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.lightcurves.container import LightCurve, LightCurveSet, check_nonempty


def as_lightcurve_set(x: Any) -> LightCurveSet:
    """Accept a LightCurveSet or a sequence of LightCurve; anything else raises InputValidationError."""
    if isinstance(x, LightCurveSet):
        out = x
    elif isinstance(x, (list, tuple)) and all(isinstance(c, LightCurve) for c in x):
        out = LightCurveSet(x)
    else:
        raise InputValidationError(
            f"light-curve models take a LightCurveSet or a list of LightCurve, got {type(x).__name__}")
    check_nonempty(out)
    return out


def _label_array(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr
    if arr.ndim != 1:
        raise ShapeMismatchError(f"{name} must be one label per light curve (1-D), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ShapeMismatchError(f"{arr.shape[0]} labels in {name} for {n} light curves")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputValidationError(f"{name}[{i}] is {arr[i]!r}: every light curve needs a class label")
    if arr.dtype.kind == "O" and any(v is None for v in arr.tolist()):
        i = [v is None for v in arr.tolist()].index(True)
        raise InputValidationError(f"{name}[{i}] is None: every light curve needs a class label")
    if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)  # 1.0, 2.0 ... are the integer classes they spell
    return arr


def _python(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def fit_classes(curves: LightCurveSet, y: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(class index per curve, ``classes_``) from ``y`` or, when ``y`` is None, the curves' labels."""
    if y is None:
        labels = _label_array(curves.labels(), len(curves), "the curves' labels")
        named = curves.class_names
        if named is not None and set(map(_python, labels.tolist())) <= set(map(_python, named)):
            classes = np.asarray(list(named))
        else:
            classes = None
    else:
        labels = _label_array(y, len(curves), "y")
        classes = None
    try:
        if classes is None:
            classes = np.unique(labels)
    except TypeError as exc:
        raise InputValidationError(f"class labels must be all numbers or all strings: {exc}") from exc
    if classes.size < 2:
        raise InputValidationError(f"classification needs at least two classes, got {classes.tolist()}")
    return encode_classes(labels, classes), classes


def encode_classes(labels: Any, classes: np.ndarray, name: str = "y") -> np.ndarray:
    """Index of every label in ``classes``; a label not in ``classes`` raises InputValidationError."""
    labels = np.asarray(labels)
    lookup = {_python(c): i for i, c in enumerate(np.asarray(classes).tolist())}
    out = np.empty(labels.shape[0], np.int64)
    for i, v in enumerate(labels.tolist()):
        try:
            out[i] = lookup[_python(v)]
        except (KeyError, TypeError):
            raise InputValidationError(f"{name}[{i}] = {v!r} is not one of the classes {list(lookup)}") from None
    return out


def classes_to_json(classes: np.ndarray | None) -> list[Any] | None:
    """``classes_`` as a JSON list (numbers stay numbers, everything else becomes text)."""
    if classes is None:
        return None
    return [_python(c) if isinstance(_python(c), (int, float, bool)) else str(c) for c in np.asarray(classes).tolist()]


def classes_from_json(values: Sequence[Any] | None) -> np.ndarray | None:
    """Inverse of :func:`classes_to_json`."""
    if values is None:
        return None
    vals = list(values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return np.asarray(vals)
    return np.asarray([str(v) for v in vals], dtype=object)


__all__ = ["as_lightcurve_set", "fit_classes", "encode_classes", "classes_to_json", "classes_from_json"]
