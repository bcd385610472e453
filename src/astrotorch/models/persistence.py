"""Saving and loading models: ``model.safetensors`` + ``config.json`` + ``history.csv`` + ``manifest.json``.

Loading verifies the SHA-256 manifest first, reads only JSON and safetensors (never pickle, never
imports code from the folder) and refuses non-finite weights. Saving builds the folder under a
temporary name (:func:`astrotorch.io.atomic_dir`), so a failure — a full disk included — leaves
nothing half-written; it is reported as :class:`~astrotorch.errors.ModelFolderError` naming the folder.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from astrotorch.errors import ModelFolderError
from astrotorch.nn.normalizer import Normalizer

FORMAT_NAME = "astrotorch-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
MANIFEST_FILE = "manifest.json"
#: astroNN's automatic folder names, ``astroNN_[month][day]_run[NNN]``, with our prefix
AUTO_FOLDER_PREFIX = "astrotorch"


def _floats_or_none(a: np.ndarray | None) -> list[float] | None:
    return None if a is None else [float(v) for v in np.asarray(a).ravel()]


def _nulls_for_nan(a: np.ndarray | None) -> list[Any] | None:
    """An array (1-D or 2-D) as JSON lists, NaN as null (a label without a value); None stays None."""
    if a is None:
        return None
    arr = np.asarray(a, np.float64)
    if arr.ndim > 1:
        return [_nulls_for_nan(row) for row in arr]
    return [float(v) if math.isfinite(v) else None for v in arr]


def _nan_for_nulls(vals: Any) -> np.ndarray | None:
    """JSON (nested) lists of numbers with nulls as a float64 array, null as NaN; None if not numbers."""
    def nan(v: Any) -> Any:
        return [nan(x) for x in v] if isinstance(v, list) else (math.nan if v is None else v)

    try:
        return np.asarray(nan(vals), np.float64)
    except (TypeError, ValueError):
        return None


def _version(package: str) -> str:
    # from the installed metadata: importing lightning just to read its version costs seconds
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def auto_folder_name(parent: str | Path = ".") -> Path:
    """The first free ``astrotorch_MMDD_runNNN`` folder in ``parent`` (astroNN's naming scheme)."""
    stamp = _dt.date.today().strftime("%m%d")
    run = 1
    while (Path(parent) / f"{AUTO_FOLDER_PREFIX}_{stamp}_run{run:03d}").exists():
        run += 1
    return Path(parent) / f"{AUTO_FOLDER_PREFIX}_{stamp}_run{run:03d}"


def model_config(model: Any) -> dict[str, Any]:
    """Everything but the weights, as a JSON-serialisable dict."""
    import astrotorch

    def norm_dict(n: Any) -> Any:
        if n is None:
            return None
        if isinstance(n, dict):
            return {k: v.to_dict() for k, v in n.items()}
        return n.to_dict()

    shape = model.input_shape
    classes = model._classes
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "name": model.name,
        "class": type(model).__name__,
        "params": model.get_params(deep=False),
        "input_shape": {k: list(v) for k, v in shape.items()} if isinstance(shape, dict) else list(shape or ()),
        "input_is_dict": isinstance(shape, dict),
        "output_dim": model.output_dim,
        "targetname": model.targetname,
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "input_normalizer": norm_dict(model._input_norm),
        "label_normalizer": norm_dict(model._label_norm),
        "sigma_scale": _floats_or_none(model.sigma_scale_),
        "propagated_scale": _floats_or_none(model.propagated_scale_),
        "sigma_floor": _floats_or_none(model.sigma_floor_),
        "noise_power": _floats_or_none(model.noise_power_),
        "noise_power_high": _nulls_for_nan(model.noise_power_high_),  # null: that label has one power
        "noise_break": _nulls_for_nan(model.noise_break_),
        "noise_reference": None if model.noise_reference_ is None else float(model.noise_reference_),
        "sigma_precision": _nulls_for_nan(model.sigma_precision_),  # a label without a calibration: null
        "label_range": _nulls_for_nan(model.label_range_),  # a column without labels: null
        "extra": model.extra_state(),
        "versions": {
            "astrotorch": astrotorch.__version__,
            "torch": torch.__version__,
            "lightning": _version("lightning"),
            "python": platform.python_version(),
        },
    }


def _label_range(vals: Any, folder: Path, output_dim: Any) -> np.ndarray | None:
    """The ``label_range`` of config.json: None, or [[min ...], [max ...]] of output_dim numbers each
    (null for a column without labels)."""
    if vals is None:
        return None
    arr = _nan_for_nulls(vals)
    if arr is None or arr.ndim != 2 or arr.shape != (2, int(output_dim or 0)) or np.any(arr[0] > arr[1]) or np.isinf(arr).any():
        raise ModelFolderError(f"{folder}/config.json: label_range must be [[min, ...], [max, ...]] with "
                               f"{output_dim} numbers (or null) each and min <= max, got {vals!r}")
    return arr


def save_model(model: Any, folder: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write the model folder (see :meth:`AstroModel.save`); returns its path."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    from astrotorch.io import atomic_dir, sha256sum
    from astrotorch.train.runs import to_jsonable

    model._check_fitted()
    if folder is None:
        folder = model.folder_name if model.folder_name is not None else auto_folder_name()
    folder = Path(folder)
    try:
        with atomic_dir(folder, overwrite=overwrite) as tmp:
            tmp = Path(tmp)
            save_file(model.state_tensors(), str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
            (tmp / CONFIG_FILE).write_text(json.dumps(to_jsonable(model_config(model)), indent=2) + "\n")
            if model.history is not None and len(model.history):
                model.history.to_csv(tmp / HISTORY_FILE, index=False)
            else:
                (tmp / HISTORY_FILE).write_text("epoch\n")
            manifest = {"files": {f: sha256sum(tmp / f) for f in (WEIGHTS_FILE, CONFIG_FILE, HISTORY_FILE)}}
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    except FileExistsError:
        raise
    except (OSError, SafetensorError) as exc:  # e.g. a full disk (ENOSPC), a read-only parent
        raise ModelFolderError(f"could not write the model folder {folder}: {exc}") from exc
    model.folder_name = str(folder)
    return folder


def _verify_manifest(folder: Path) -> None:
    from astrotorch.io import sha256sum

    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelFolderError(f"{folder} has no {MANIFEST_FILE}: not an astrotorch model folder (or incomplete)")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        items = list(files.items())
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFolderError(f"{manifest_path} is corrupt: {exc}") from exc
    for fname in (WEIGHTS_FILE, CONFIG_FILE):
        if fname not in files:
            raise ModelFolderError(f"{manifest_path} does not list {fname}")
    for fname, digest in items:
        path = folder / fname
        if Path(fname).name != fname:
            raise ModelFolderError(f"{manifest_path} names a file outside the folder: {fname!r}")
        if not path.is_file():
            raise ModelFolderError(f"{folder} is missing {fname}")
        if sha256sum(path) != digest:
            raise ModelFolderError(f"{path} was altered after saving (SHA-256 does not match the manifest)")


def _params_from_json(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """JSON has no tuples: give back a tuple where the parameter's default is one (layer widths ...)."""
    from astrotorch.models.hyperparams import param_defaults

    defaults = param_defaults(cls)
    return {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v for k, v in params.items()}


def load_folder(folder: str | Path | None = None) -> Any:
    """Load a model saved with :meth:`AstroModel.save` (``folder=None``: the current directory, as astroNN).

    Raises :class:`~astrotorch.errors.ModelFolderError` for a missing, altered or incompatible file,
    and for weights holding NaN or infinite values.
    """
    import pandas as pd
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from astrotorch.models.hyperparams import param_names
    from astrotorch.models.registry import get_model_class

    folder = Path.cwd() if folder is None else Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist or is not a folder")
    from astrotorch.models.astronn_folder import is_astronn_folder, load_astronn_folder

    if is_astronn_folder(folder):  # a folder saved by astroNN (Keras HDF5 weights, read with h5py)
        return load_astronn_folder(folder)
    _verify_manifest(folder)
    try:
        cfg = json.loads((folder / CONFIG_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{folder / CONFIG_FILE} is not valid JSON: {exc}") from exc
    if cfg.get("format") != FORMAT_NAME or cfg.get("format_version") != FORMAT_VERSION:
        raise ModelFolderError(f"{folder} was not written by this astrotorch model format (format {cfg.get('format')!r} v{cfg.get('format_version')})")
    try:
        cls = get_model_class(cfg["name"])
    except KeyError as exc:
        raise ModelFolderError(f"{folder}: {exc}") from exc
    params = cfg.get("params", {})
    unknown = set(params) - set(param_names(cls))
    if unknown:
        raise ModelFolderError(f"{folder}/config.json has unknown hyper-parameters for {cls.__name__}: {sorted(unknown)}")
    try:
        model = cls(**_params_from_json(cls, params))
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f"{folder}/config.json hyper-parameters are invalid: {exc}") from exc
    shape = cfg["input_shape"]
    model.input_shape = {k: tuple(v) for k, v in shape.items()} if cfg.get("input_is_dict") else tuple(shape)
    model.output_dim = cfg["output_dim"]
    if cfg.get("classes") is not None:
        model._classes = np.asarray(cfg["classes"])
    try:
        inorm = cfg["input_normalizer"]
        if inorm is not None:
            model._input_norm = (
                {k: Normalizer.from_dict(v) for k, v in inorm.items()} if cfg.get("input_is_dict") else Normalizer.from_dict(inorm)
            )
        lnorm = cfg["label_normalizer"]
        model._label_norm = Normalizer.from_dict(lnorm) if lnorm is not None else None
    except Exception as exc:
        raise ModelFolderError(f"{folder}/config.json has invalid normaliser statistics: {exc}") from exc
    extra = cfg.get("extra") or {}
    for key in ("sigma_scale", "propagated_scale", "sigma_floor", "noise_power"):
        vals = cfg.get(key, extra.get(key))  # older folders kept propagated_scale, sigma_floor under "extra"
        if vals is not None:
            arr = np.asarray(vals, np.float32)
            if arr.ndim != 1 or not np.all(np.isfinite(arr)):
                raise ModelFolderError(f"{folder}/config.json: {key} must be a list of finite numbers, got {vals!r}")
            setattr(model, key + "_", arr)
    precision = cfg.get("sigma_precision")
    if precision is not None:
        arr = _nan_for_nulls(precision)
        if arr is None or arr.ndim != 1 or np.any(arr[np.isfinite(arr)] < 0) or np.any(np.isinf(arr)):
            raise ModelFolderError(f"{folder}/config.json: sigma_precision must be a list of non-negative numbers or "
                                   f"nulls, got {precision!r}")
        model.sigma_precision_ = arr.astype(np.float32)
    high, brk = cfg.get("noise_power_high"), cfg.get("noise_break")
    if (high is None) != (brk is None):
        raise ModelFolderError(f"{folder}/config.json: noise_power_high and noise_break come together, got {high!r} and {brk!r}")
    if high is not None:
        g2, b = _nan_for_nulls(high), _nan_for_nulls(brk)
        if (g2 is None or b is None or g2.shape != (int(model.output_dim),) or g2.shape != b.shape or np.any(np.isinf(g2))
                or not np.array_equal(np.isnan(g2), np.isnan(b)) or np.any(b[np.isfinite(b)] <= 0) or np.any(np.isinf(b))):
            raise ModelFolderError(f"{folder}/config.json: noise_power_high and noise_break must be lists of one entry per label, "
                                   f"numbers (noise_break positive) or nulls in the same places, got {high!r} and {brk!r}")
        model.noise_power_high_, model.noise_break_ = g2.astype(np.float32), b.astype(np.float32)
    ref = cfg.get("noise_reference")
    if ref is not None:
        if isinstance(ref, bool) or not isinstance(ref, (int, float)) or not math.isfinite(ref) or ref <= 0:
            raise ModelFolderError(f"{folder}/config.json: noise_reference must be a positive number, got {ref!r}")
        model.noise_reference_ = float(ref)
    model.label_range_ = _label_range(cfg.get("label_range"), folder, model.output_dim)
    model.load_extra_state(extra)
    if model.network is None:
        model.network = model.build_network(model.input_shape, int(model.output_dim))
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFolderError(f"{folder / WEIGHTS_FILE} is not a valid safetensors file: {exc}") from exc
    weights = model._weight_tensor_names()
    for name, t in tensors.items():
        if name in weights and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ModelFolderError(f"{folder / WEIGHTS_FILE}: tensor {name!r} holds NaN or infinite values")
    model.load_state_tensors(tensors)
    model.network.eval()
    model._set_n_features_in()
    hist = folder / HISTORY_FILE
    if hist.is_file() and hist.stat().st_size > 0:
        with contextlib.suppress(Exception):
            model.history = pd.read_csv(hist)
    model.folder_name = str(folder)
    return model


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "CONFIG_FILE",
    "HISTORY_FILE",
    "MANIFEST_FILE",
    "auto_folder_name",
    "model_config",
    "save_model",
    "load_folder",
]
