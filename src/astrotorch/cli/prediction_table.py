"""The prediction-table contract shared by every ``astrotorch predict`` command and every run
folder's ``predictions_test.*`` (docs/CONTRACT.md, "Prediction tables").

One row per object; columns, in order:

1. the object id: ``objid`` (Galaxy10-layout HDF5), the file stem (image folders, column
   ``object_id``), an input-table column (``--id-column``), or ``row`` (0-based row of the input)
   when the input has no ids;
2. regression outputs: ``<name>`` (the value, in the label's unit), ``<name>_sigma`` (total 1σ) and
   ``<name>_sigma_<part>`` for its parts (``model``, ``predictive``, ``propagated``, ``floor``);
3. ``outside_training_range`` (bool), regression models that recorded their training labels' range:
   True where any predicted label lies outside it (the network extrapolates; its σ is not to be
   trusted there; :meth:`~astrotorch.models.AstroModel.outside_training_range`);
4. classification outputs: ``p_<class>`` (probability), ``p_<class>_sigma`` (its 1σ over MC draws,
   Bayesian models) and ``predicted_class`` (the most probable class's name). A model with several
   class outputs (the stellar model) prefixes them with the output: ``p_<output>_<class>``,
   ``<output>`` for the predicted class.

Units go into the table's header/metadata through :func:`astrotorch.io.write_table`; probabilities
are dimensionless (``""``). Class names are turned into column tokens by :func:`column_token`
(``"Disk, Edge-on"`` → ``Disk_Edge_on``); the metadata's ``classes`` keeps the names as given.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from astrotorch.errors import InputValidationError, ShapeMismatchError


def column_token(name: Any) -> str:
    """A class or label name as a column-name token: runs of characters other than letters, digits
    and ``_`` become one ``_`` (``"SN Ia-91T"`` → ``SN_Ia_91T``)."""
    token = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")
    return token or "class"


def _unique(names: list[str], what: str) -> list[str]:
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputValidationError(f"{what} give the same column name {dup}: rename them")
    return names


def regression_columns(names: Sequence[str], values: Any, sigma: Mapping[str, Any] | None = None,
                       units: Mapping[str, str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``<name>``, ``<name>_sigma`` and ``<name>_sigma_<part>`` columns of (N, D) predictions and the
    σ dict a Bayesian ``predict`` returns (``total`` plus its parts); returns (columns, units)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    if v.ndim != 2 or v.shape[1] != len(names):
        raise ShapeMismatchError(f"{len(names)} output names for predictions of shape {v.shape}")
    units = dict(units or {})
    cols: dict[str, np.ndarray] = {}
    out_units: dict[str, str] = {}
    _unique([column_token(n) for n in names], "output names")
    parts = dict(sigma or {})
    if "total" in parts:  # the total first, then its parts
        parts = {"total": parts.pop("total"), **parts}
    for j, name in enumerate(names):
        base = column_token(name)
        mine = {base: v[:, j]}
        for part, arr in parts.items():
            a = np.asarray(arr, dtype=np.float64)
            a = a[:, None] if a.ndim == 1 else a
            mine[f"{base}_sigma" if part == "total" else f"{base}_sigma_{column_token(part)}"] = a[:, j]
        cols.update(mine)
        if name in units:
            out_units.update({c: units[name] for c in mine})
    return cols, out_units


def classification_columns(classes: Sequence[Any], probs: Any, sigma: Any = None,
                           output: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """``p_<class>`` (and ``p_<class>_sigma``) columns and the predicted class (``predicted_class``,
    or ``<output>`` for one of several class outputs) from (N, C) probabilities; returns (columns, units)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(classes):
        raise ShapeMismatchError(f"{len(classes)} class names for probabilities of shape {p.shape}")
    prefix = f"p_{column_token(output)}_" if output else "p_"
    tokens = _unique([column_token(c) for c in classes], "class names")
    cols: dict[str, Any] = {}
    units: dict[str, str] = {}
    for k, tok in enumerate(tokens):
        cols[prefix + tok] = p[:, k]
        units[prefix + tok] = ""
        if sigma is not None:
            cols[f"{prefix}{tok}_sigma"] = np.asarray(sigma, dtype=np.float64)[:, k]
            units[f"{prefix}{tok}_sigma"] = ""
    names = np.array([str(c) for c in classes], dtype=object)
    cols[column_token(output) if output else "predicted_class"] = names[p.argmax(1)] if len(p) else names[:0]
    return cols, units


def assemble(ids: Any, id_name: str, *parts: tuple[Mapping[str, Any], Mapping[str, str]]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table: the id column first, then each part's columns; returns (DataFrame, units)."""
    ids = np.asarray(ids)
    cols: dict[str, Any] = {id_name: ids}
    units: dict[str, str] = {}
    for part_cols, part_units in parts:
        clash = [c for c in part_cols if c in cols]
        if clash:
            raise InputValidationError(f"prediction columns {clash} clash with earlier columns (the id column "
                                       f"{id_name!r}?): rename the id column")
        for c, a in part_cols.items():
            if len(a) != len(ids):
                raise ShapeMismatchError(f"column {c!r} has {len(a)} rows for {len(ids)} ids")
            cols[c] = a
        units.update(part_units)
    return pd.DataFrame(cols), units


# ------------------------------------------------------------------------------ model outputs
def class_probabilities_and_sigma(model: Any, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C) probabilities of a classifier and their total σ (Bayesian models) or None.

    Works with both model APIs: ``predict_proba(x[, return_std=True])`` where the model has it (the
    scikit-learn convention), otherwise ``predict`` returning probabilities or ``(probabilities, σ dict)``.
    """
    from astrotorch.uncertainty.selection import class_probabilities

    proba = getattr(model, "predict_proba", None)
    if proba is not None:
        if getattr(model, "bayesian", False) and "return_std" in inspect.signature(proba).parameters:
            probs, std = proba(x, return_std=True)
            return np.asarray(probs, np.float64), np.asarray(std["total"], np.float64)
        return class_probabilities(model, x), None
    out = model.predict(x)
    if isinstance(out, tuple):
        return np.asarray(out[0], np.float64), np.asarray(out[1]["total"], np.float64)
    return np.asarray(out, np.float64), None


def model_outputs(model: Any, x: Any) -> dict[str, Any]:
    """One chunk's outputs as plain arrays: ``{"probs", "probs_sigma"}`` for classifiers,
    ``{"values", "sigma": {part: array}}`` for regression models."""
    if getattr(model, "task", "regression") == "classification":
        probs, sig = class_probabilities_and_sigma(model, x)
        return {"probs": probs, "probs_sigma": sig}
    out = model.predict(x)
    if isinstance(out, tuple):
        return {"values": np.asarray(out[0]), "sigma": {k: np.asarray(v) for k, v in out[1].items()}}
    return {"values": np.asarray(out), "sigma": None}


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    return np.concatenate(parts)


def predict_in_chunks(fn: Callable[[Any], dict[str, Any]], take: Callable[[int, int], Any], n: int, *,
                      chunk: int = 512, desc: str = "predicting", quiet: bool = False) -> dict[str, Any]:
    """``fn(take(start, stop))`` over chunks of ``n`` objects with a tqdm progress bar (``quiet``: none);
    the chunks' outputs (dicts of arrays, see :func:`model_outputs`) are concatenated."""
    from tqdm.auto import tqdm

    if n == 0:
        raise InputValidationError("nothing to predict: the input holds no object")
    outs = []
    with tqdm(total=n, desc=desc, unit="obj", disable=quiet, mininterval=2.0) as bar:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            outs.append(fn(take(start, stop)))
            bar.update(stop - start)
    return {k: _concat([o[k] for o in outs]) for k in outs[0]}


RANGE_COLUMN = "outside_training_range"


def _range_flags(model: Any, values: Any) -> np.ndarray | None:
    """(N, D) outside-the-training-range flags of a regression model's predictions, or None where the
    model recorded no range (classifiers, older folders) or the widths differ."""
    if getattr(model, "label_range_", None) is None:
        return None
    try:
        return model.outside_training_range(values)
    except ShapeMismatchError:
        return None


def range_columns(model: Any, values: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``({"outside_training_range": (N,) bool}, {})`` for a regression model that recorded its training
    label range (``label_range_``), ``({}, {})`` otherwise: a table part for :func:`assemble`."""
    out = _range_flags(model, values)
    return ({}, {}) if out is None else ({RANGE_COLUMN: out.any(axis=1)}, {})


def range_warning(model: Any, values: Any) -> str | None:
    """One line for the user when predictions fall outside the training labels' range, else None:
    how many rows, which labels (with counts), and the column that marks them."""
    out = _range_flags(model, values)
    if out is None or not out.any():
        return None
    names = list(model.targetname or [])
    names = names if len(names) == out.shape[1] else [f"label_{j}" for j in range(out.shape[1])]
    which = ", ".join(f"{names[j]} {int(out[:, j].sum())}" for j in np.flatnonzero(out.any(axis=0)))
    return (f"warning: {int(out.any(axis=1).sum())} of {len(out)} rows have a predicted label outside the range of "
            f"the training labels ({which}): the network extrapolates there and its sigma is not to be trusted; "
            f"such rows are marked in column {RANGE_COLUMN}")


def echo_range_warning(model: Any, values: Any) -> None:
    """Print :func:`range_warning`'s line to stderr when there is one (the predict commands)."""
    import typer

    note = range_warning(model, values)
    if note:
        typer.echo(note, err=True)


def model_table(model: Any, outputs: Mapping[str, Any], ids: Any, id_name: str,
                units: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The prediction table of an :class:`~astrotorch.models.AstroModel`'s outputs (:func:`model_outputs`)."""
    if "probs" in outputs:
        probs = outputs["probs"]
        classes = list(model.targetname or [f"class_{k}" for k in range(probs.shape[1])])
        if len(classes) != probs.shape[1]:
            classes = [f"class_{k}" for k in range(probs.shape[1])]
        return assemble(ids, id_name, classification_columns(classes, probs, outputs.get("probs_sigma")))
    values = np.asarray(outputs["values"])
    width = 1 if values.ndim == 1 else values.shape[1]
    names = list(model.targetname or [])
    if len(names) != width:
        names = [f"label_{j}" for j in range(width)]
    return assemble(ids, id_name, regression_columns(names, values, outputs.get("sigma"), units),
                    range_columns(model, values))


def table_meta(model: Any, **extra: Any) -> dict[str, Any]:
    """Metadata written with every prediction table: astrotorch's version, the model, the task, the
    class names, what the σ columns mean, the time; ``extra`` adds e.g. the input and model folder."""
    import astrotorch

    meta: dict[str, Any] = {"written_by": f"astrotorch {astrotorch.__version__}",
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            "model": getattr(model, "name", type(model).__name__),
                            "task": getattr(model, "task", None),
                            "sigma": "1-sigma standard deviations: <name>_sigma is the total, "
                                     "<name>_sigma_<part> its parts (added in quadrature)"}
    if getattr(model, "task", None) == "classification" and getattr(model, "targetname", None):
        meta["classes"] = [str(c) for c in model.targetname]
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def row_ids(n: int) -> tuple[np.ndarray, str]:
    """Ids for an input without them: its 0-based row numbers, in a column ``row``."""
    return np.arange(n), "row"


__all__ = [
    "column_token", "regression_columns", "classification_columns", "assemble", "class_probabilities_and_sigma",
    "model_outputs", "predict_in_chunks", "model_table", "table_meta", "row_ids",
]
