"""Hyper-parameter introspection and validation for every astrotorch model.

Models validate their hyper-parameters in ``__init__`` (issue 16: a bad ``batch_size`` or ``lr``
fails where it is given, with the parameter's name, not deep inside torch at ``fit`` time) and store
each one exactly as given, so ``sklearn.base.clone`` and ``get_params``/``set_params`` round-trip.
``set_params`` validates too. scikit-learn asks estimators not to raise in ``__init__``; astrotorch
deviates on purpose (see docs/CONTRACT.md and the expected failures in tests/test_sklearn_api.py).

The ``check_*`` helpers raise :class:`~astrotorch.errors.InputValidationError` naming the parameter.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from typing import Any

from astrotorch.errors import InputValidationError

#: Lightning's accepted ``precision`` values (``lightning.fabric.connector._PRECISION_INPUT``)
PRECISIONS: tuple[Any, ...] = (
    "transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
    "32-true", "64-true", 64, 32, 16, "64", "32", "16", "bf16",
)
#: accelerator names Lightning knows (an ``Accelerator`` instance is accepted as well)
ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")
#: how training progress is shown (see :func:`astrotorch.train.trainer.resolve_progress`)
PROGRESS_MODES: tuple[str, ...] = ("auto", "bar", "epoch", "none")
TASKS: tuple[str, ...] = ("regression", "classification")


def param_names(cls: type) -> list[str]:
    """Keyword parameters of ``cls.__init__`` and of every base class's ``__init__`` (subclasses pass
    the base keywords through ``**kwargs``), in MRO order, without duplicates."""
    names: list[str] = []
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in names:
                names.append(p.name)
    return names


def param_defaults(cls: type) -> dict[str, Any]:
    """Default value of every parameter, from the most derived ``__init__`` that declares it."""
    defaults: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            defaults.setdefault(p.name, p.default)
    return defaults


# ------------------------------------------------------------------------------------ checks
def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int | None = None, allow_none: bool = False) -> None:
    """``value`` is an integer (not a bool) ≥ ``minimum`` (or ``None`` when allowed)."""
    if value is None and allow_none:
        return
    if not _is_int(value):
        raise InputValidationError(f"{name} must be an integer{' or None' if allow_none else ''}, got {value!r}")
    if minimum is not None and value < minimum:
        raise InputValidationError(f"{name} must be >= {minimum}, got {value!r}")


def check_float(name: str, value: Any, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True, high_inclusive: bool = True, allow_none: bool = False) -> None:
    """``value`` is a finite real number (not a bool) within the given bounds."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InputValidationError(f"{name} must be a finite number{' or None' if allow_none else ''}, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise InputValidationError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {value!r}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        raise InputValidationError(f"{name} must be {'<=' if high_inclusive else '<'} {high}, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InputValidationError(f"{name} must be True or False, got {value!r}")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise InputValidationError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_int_sequence(name: str, value: Any, minimum: int = 1, allow_empty: bool = False) -> None:
    """A list/tuple of integers ≥ ``minimum`` (layer widths, filter counts)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InputValidationError(f"{name} must be a list or tuple of integers, got {value!r}")
    if not value and not allow_empty:
        raise InputValidationError(f"{name} must not be empty")
    for v in value:
        if not _is_int(v) or v < minimum:
            raise InputValidationError(f"{name} must hold integers >= {minimum}, got {value!r}")


def check_str_sequence(name: str, value: Any, allow_none: bool = False, allow_empty: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InputValidationError(f"{name} must be a list or tuple of strings, got {value!r}")
    if not value and not allow_empty:
        raise InputValidationError(f"{name} must not be empty")
    if not all(isinstance(v, str) for v in value):
        raise InputValidationError(f"{name} must hold strings only, got {value!r}")


def check_norm_mode(name: str, value: Any, allow_dict: bool = False) -> None:
    """An astroNN normalisation mode (0, 1, 2, 3, '3s', 255), or a dict of them per input key."""
    from astrotorch.errors import ConfigError
    from astrotorch.nn.normalizer import _canonical_mode

    if allow_dict and isinstance(value, Mapping):
        if not value:
            raise InputValidationError(f"{name} must not be an empty dict")
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputValidationError(f"{name} keys must be input names (strings), got {k!r}")
            check_norm_mode(f"{name}[{k!r}]", v)
        return
    try:
        _canonical_mode(value)
    except ConfigError:
        raise InputValidationError(f"{name} must be one of [0, 1, 2, 3, '3s', 255], got {value!r}") from None


# ------------------------------------------------------------------------------------ the base set
def validate_base_params(p: Mapping[str, Any]) -> None:
    """Validate :class:`~astrotorch.models.base.AstroModel`'s own hyper-parameters (a dict of them)."""
    check_int("max_epochs", p["max_epochs"], 1)
    check_int("batch_size", p["batch_size"], 1)
    check_float("lr", p["lr"], 0.0, low_inclusive=False)
    check_float("val_size", p["val_size"], 0.0, 1.0, high_inclusive=False)
    check_int("reduce_lr_patience", p["reduce_lr_patience"], 0)
    check_float("reduce_lr_min", p["reduce_lr_min"], 0.0)
    check_float("reduce_lr_factor", p["reduce_lr_factor"], 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_int("early_stopping_patience", p["early_stopping_patience"], 0, allow_none=True)
    check_float("early_stopping_min_delta", p["early_stopping_min_delta"], 0.0)
    check_float("l2", p["l2"], 0.0)
    check_float("dropout_rate", p["dropout_rate"], 0.0, 1.0, high_inclusive=False)
    check_norm_mode("input_norm_mode", p["input_norm_mode"], allow_dict=True)
    check_norm_mode("labels_norm_mode", p["labels_norm_mode"])
    check_choice("task", p["task"], TASKS)
    check_str_sequence("targetname", p["targetname"], allow_none=True, allow_empty=False)
    if p["targetname"] is not None and len(set(p["targetname"])) != len(p["targetname"]):
        raise InputValidationError(f"targetname has duplicate names: {list(p['targetname'])!r}")
    check_int("mc_num", p["mc_num"], 1)
    check_int("seed", p["seed"], 0)
    acc = p["accelerator"]
    if isinstance(acc, str) and acc not in ACCELERATORS:
        raise InputValidationError(f"accelerator must be one of {list(ACCELERATORS)} or a Lightning Accelerator, got {acc!r}")
    if acc is None:
        raise InputValidationError("accelerator must be a name such as 'auto', 'cpu', 'gpu', got None")
    _check_devices(p["devices"])
    check_int("num_nodes", p["num_nodes"], 1)
    if p["precision"] not in PRECISIONS or isinstance(p["precision"], bool):
        raise InputValidationError(f"precision must be one of Lightning's {list(PRECISIONS)}, got {p['precision']!r}")
    if p["strategy"] is None:
        raise InputValidationError("strategy must be a name such as 'auto', 'ddp', or a Lightning Strategy, got None")
    check_int("num_workers", p["num_workers"], 0)
    if p["deterministic"] != "warn":
        check_bool("deterministic", p["deterministic"])
    check_bool("compile", p["compile"])
    check_bool("verbose", p["verbose"])
    check_choice("progress", p["progress"], PROGRESS_MODES)
    cd = p["checkpoint_dir"]
    if cd is not None and not isinstance(cd, (str, os.PathLike)):
        raise InputValidationError(f"checkpoint_dir must be a path or None, got {cd!r}")
    check_int("checkpoint_every_n_steps", p["checkpoint_every_n_steps"], 1, allow_none=True)
    check_bool("calibrate_uncertainty", p["calibrate_uncertainty"])
    check_bool("allow_nan_input", p["allow_nan_input"])
    check_trainer_kwargs("trainer_kwargs", p["trainer_kwargs"])


def _check_devices(devices: Any) -> None:
    if isinstance(devices, str):
        if not devices.strip():
            raise InputValidationError("devices must not be an empty string")
        return
    if _is_int(devices):
        if devices == 0 or devices < -1:
            raise InputValidationError(f"devices must be >= 1, -1 (all), 'auto' or a list of device ids, got {devices!r}")
        return
    if isinstance(devices, (list, tuple)) and devices and all(_is_int(d) and d >= 0 for d in devices):
        return
    raise InputValidationError(f"devices must be >= 1, -1 (all), 'auto' or a list of device ids, got {devices!r}")


def check_trainer_kwargs(name: str, value: Any) -> None:
    """``None`` or a dict of ``lightning.Trainer`` keyword arguments (names are strings)."""
    if value is None:
        return
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InputValidationError(f"{name} must be a dict of lightning.Trainer keyword arguments, got {value!r}")


__all__ = [
    "PRECISIONS",
    "ACCELERATORS",
    "PROGRESS_MODES",
    "TASKS",
    "param_names",
    "param_defaults",
    "check_int",
    "check_float",
    "check_bool",
    "check_choice",
    "check_int_sequence",
    "check_str_sequence",
    "check_norm_mode",
    "check_trainer_kwargs",
    "validate_base_params",
]
