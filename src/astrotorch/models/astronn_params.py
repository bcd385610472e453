"""The data files of an astroNN model folder, read as data only: ``astroNN_model_parameter.json``
(identifier, hyper-parameters, normalisation statistics), ``hyperparameter.txt``,
``training_history.csv``, and astroNN's normalisation statistics as an astrotorch
:class:`~astrotorch.nn.Normalizer` (used by :mod:`astrotorch.models.astronn_folder`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.errors import ModelFolderError
from astrotorch.nn.normalizer import Normalizer

PARAMETER_FILE = "astroNN_model_parameter.json"
WEIGHTS_FILE = "model_weights.h5"
HYPERPARAMETER_FILE = "hyperparameter.txt"
HISTORY_FILE = "training_history.csv"


def is_astronn_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder written by astroNN's ``save()`` (its parameter JSON and Keras weights)."""
    p = Path(path)
    return p.is_dir() and (p / PARAMETER_FILE).is_file() and (p / WEIGHTS_FILE).is_file()


def read_astronn_parameters(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``astroNN_model_parameter.json`` as a dict (checked to hold what a conversion needs)."""
    path = Path(folder) / PARAMETER_FILE
    try:
        params = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFolderError(f"{folder} has no {PARAMETER_FILE}: not an astroNN model folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ModelFolderError(f"{path} must hold a JSON object")
    missing = [k for k in ("id", "input", "labels", "input_mean", "input_std", "labels_mean", "labels_std",
                           "input_norm_mode", "labels_norm_mode") if k not in params]
    if missing:
        raise ModelFolderError(f"{path} lacks {missing}")
    return params


def _hyperparameters(folder: Path) -> dict[str, str]:
    """``key: value`` lines of hyperparameter.txt (plain text, optional)."""
    path = folder / HYPERPARAMETER_FILE
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                out.setdefault(key.strip(), value.strip())
    return out


def _first(d: Any, key: str = "input") -> Any:
    """astroNN stores per-input values as ``{"input": ...}`` (dict) or, in old folders, plainly."""
    if isinstance(d, dict):
        if key in d:
            return d[key]
        return next(iter(d.values()))
    return d


def _mode(value: Any, where: str) -> int | str:
    mode = str(_first(value, "input" if "input" in where else "output")).strip().lower()
    if mode not in ("0", "1", "2", "3", "3s", "255"):
        raise ModelFolderError(f"{where}: normalisation mode {mode!r} has no astrotorch equivalent")
    return mode if mode == "3s" else int(mode)


def astronn_normalizer(mode: int | str, mean: Any, std: Any, feature_shape: tuple[int, ...]) -> Normalizer:
    """An astrotorch :class:`~astrotorch.nn.Normalizer` applying astroNN's saved ``(x - mean) / std``.

    astroNN's mode ``"3s"`` applies the sigmoid without centring (its code, unlike its manual): the
    statistics are then ``mean = 0``.
    """
    norm = Normalizer(mode=mode)
    featurewise = mode in (2, 3, "3s")
    stat_shape = feature_shape if featurewise else ()
    m = np.asarray(mean, dtype=np.float64).reshape(-1)
    s = np.asarray(std, dtype=np.float64).reshape(-1)
    size = int(np.prod(stat_shape)) if stat_shape else 1
    if mode in (0, 255, "3s"):
        m = np.zeros(size)
    if mode in (0, 3, "3s", 255):
        s = np.ones(size)
    if m.size == 1 and size > 1:
        m = np.full(size, m[0])
    if s.size == 1 and size > 1:
        s = np.full(size, s[0])
    if m.size != size or s.size != size:
        raise ModelFolderError(f"normalisation statistics have {m.size}/{s.size} values, expected {size} (mode {mode})")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
        raise ModelFolderError("normalisation statistics hold NaN or inf")
    return Normalizer.from_dict({
        "mode": mode, "magic_number": norm.magic_number, "feature_shape": list(feature_shape),
        "count": np.ones(stat_shape).tolist(), "mean": m.reshape(stat_shape).tolist(),
        "m2": np.square(s).reshape(stat_shape).tolist(),
    })


def _read_history(folder: Path) -> Any:
    import pandas as pd

    path = folder / HISTORY_FILE
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ModelFolderError(f"{path} is not a readable CSV: {exc}") from exc
