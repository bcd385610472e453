"""One model API for every astrotorch model (scikit-learn shape, Lightning underneath).

Subclasses set ``name`` (registry key) and ``bayesian``, implement ``build_network(input_shape,
output_dim)`` and may override the hooks ``prepare_x``, ``make_dataset``, ``collate_fn``,
``compute_loss``, ``extra_state``/``load_extra_state``. Everything else — validation of inputs,
normalisation that leaves missing values alone, Lightning training with early stopping and
ReduceLROnPlateau, vectorised Monte Carlo inference, saving to safetensors + JSON, jacobians — lives
here once.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import platform
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from astrotorch.config import magic_number
from astrotorch.errors import (
    EmptyDatasetError,
    InputValidationError,
    ModelFolderError,
    NotFittedError,
    ShapeMismatchError,
)
from astrotorch.nn.normalizer import Normalizer

ArrayLike = Any
FORMAT_NAME = "astrotorch-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
MANIFEST_FILE = "manifest.json"


# ----------------------------------------------------------------------------------------- helpers
def _is_missing(a: np.ndarray, magic: float | None = None) -> np.ndarray:
    return np.isnan(a) | (a == (magic_number() if magic is None else magic))


class ArrayDataset(Dataset):
    """In-memory dataset of already normalised arrays, yielding the dict items the engine expects."""

    def __init__(
        self,
        x: np.ndarray | dict[str, np.ndarray],
        y: np.ndarray | None = None,
        y_err: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> None:
        self.x = {k: torch.as_tensor(v) for k, v in x.items()} if isinstance(x, dict) else torch.as_tensor(x)
        self.y = None if y is None else torch.as_tensor(y)
        self.y_err = None if y_err is None else torch.as_tensor(y_err)
        self.weight = None if weight is None else torch.as_tensor(weight)

    def __len__(self) -> int:
        x = next(iter(self.x.values())) if isinstance(self.x, dict) else self.x
        return int(x.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"x": {k: v[i] for k, v in self.x.items()} if isinstance(self.x, dict) else self.x[i]}
        if self.y is not None:
            item["y"] = self.y[i]
        if self.y_err is not None:
            item["y_err"] = self.y_err[i]
        if self.weight is not None:
            item["weight"] = self.weight[i]
        return item


class _NormalizingDataset(Dataset):
    """Wraps a user Dataset of raw dict items and applies the fitted normalisers (streaming).

    Batched reads (``__getitems__``) go to the wrapped dataset's own ``__getitems__`` when it has one
    (e.g. one chunked HDF5 read per batch) and normalise the whole batch at once.
    """

    def __init__(self, base: Dataset, model: AstroModel) -> None:
        self.base = base
        self.model = model
        self.magic = magic_number()  # resolved once, not per item

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._normalize([self.base[i]])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        get_many = getattr(self.base, "__getitems__", None)
        items = get_many(indices) if get_many is not None else [self.base[i] for i in indices]
        return self._normalize(list(items))

    def _normalize(self, items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        m = self.model
        n = len(items)
        out: list[dict[str, Any]] = [dict(it) for it in items]
        x0 = items[0]["x"]
        if isinstance(x0, Mapping):
            for k in x0:
                z = m._input_norm[k].transform(np.stack([np.asarray(it["x"][k]) for it in items]))
                z = torch.as_tensor(np.asarray(z, np.float32))
                for j in range(n):
                    out[j]["x"] = {**out[j]["x"], k: z[j]} if isinstance(out[j]["x"], dict) else {k: z[j]}
        else:
            z = torch.as_tensor(np.asarray(m._input_norm.transform(np.stack([np.asarray(it["x"]) for it in items])), np.float32))
            for j in range(n):
                out[j]["x"] = z[j]
        if "y" in items[0]:
            if m.task == "regression":
                y = np.stack([np.asarray(it["y"], np.float32).reshape(-1) for it in items])
                yz = torch.as_tensor(np.asarray(m._label_norm.transform(y), np.float32))
                ez = None
                if "y_err" in items[0]:
                    e = np.stack([np.asarray(it["y_err"], np.float32).reshape(-1) for it in items])
                    ez = torch.as_tensor(m._scale_errors(e, self.magic))
                for j in range(n):
                    out[j]["y"] = yz[j]
                    if ez is not None:
                        out[j]["y_err"] = ez[j]
            else:
                for j in range(n):
                    out[j]["y"] = torch.as_tensor(np.asarray(items[j]["y"]), dtype=torch.long).reshape(())
        return out


def _to_numpy(a: ArrayLike, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if hasattr(a, "unit") and hasattr(a, "value"):  # astropy Quantity: units are the caller's choice
        a = a.value
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists etc.
        raise InputValidationError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise InputValidationError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def _floats_or_none(a: np.ndarray | None) -> list[float] | None:
    return None if a is None else [float(v) for v in np.asarray(a).ravel()]


def _first(x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
    return next(iter(x.values())) if isinstance(x, dict) else x


@contextlib.contextmanager
def deterministic_layers(network: nn.Module) -> Iterator[None]:
    """Temporarily switch every Monte Carlo layer (those with a ``disable`` flag) to deterministic."""
    saved = []
    for mod in network.modules():
        if hasattr(mod, "disable") and isinstance(getattr(mod, "disable"), bool):
            saved.append((mod, mod.disable))
            mod.disable = True
    try:
        yield
    finally:
        for mod, flag in saved:
            mod.disable = flag


@contextlib.contextmanager
def _quiet_lightning(quiet: bool) -> Iterator[None]:
    """Silence Lightning's informational banner (devices, tips) unless the model is verbose."""
    import logging

    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


# ----------------------------------------------------------------------------------------- base
class AstroModel:
    """Base class of every astrotorch model.

    Parameters (astroNN's defaults)
    -------------------------------
    max_epochs: maximum number of training epochs.
    batch_size: mini-batch size.
    lr: Adam learning rate.
    val_size: fraction of the training data held out for validation (0 → none).
    reduce_lr_patience, reduce_lr_min, reduce_lr_factor: ReduceLROnPlateau on the validation loss.
    early_stopping_patience, early_stopping_min_delta: early stopping on the validation loss
        (``None`` patience disables it).
    l2: L2 regularisation (Keras semantics: l2·Σw² added to the loss).
    dropout_rate: dropout rate of the (MC) dropout layers.
    input_norm_mode, labels_norm_mode: :class:`~astrotorch.nn.Normalizer` modes (a dict of modes for
        multi-input models).
    task: ``"regression"`` or ``"classification"``.
    targetname: names of the outputs (labels or classes).
    mc_num: Monte Carlo samples for Bayesian inference.
    seed: seed for weights, the validation split and shuffling (``seed_everything``).
    accelerator, devices, num_nodes, precision, strategy: passed to ``lightning.Trainer`` (``"auto"``,
        ``"cpu"``, ``"gpu"``; ``"32-true"``, ``"bf16-mixed"``; ``"ddp"`` ...); see docs/SCALING.md.
    num_workers: DataLoader worker processes.
    deterministic: ``Trainer(deterministic=True)`` for bit-reproducible runs.
    compile: wrap the network in ``torch.compile`` for training.
    verbose: progress bar and model summary.
    checkpoint_dir: where Lightning writes checkpoints (``last.ckpt``); enables ``fit(ckpt_path="last")``.
    checkpoint_every_n_steps: also checkpoint every N optimiser steps (crash recovery mid-epoch).
    calibrate_uncertainty: for Bayesian regression, rescale σ so that z-scores on the *validation*
        split have unit standard deviation (a per-label factor ``sigma_scale_`` stored with the
        model). On by default: a heteroscedastic head trained with dropout on also absorbs the dropout
        noise, so raw MC-dropout σ double-counts and comes out too large (x·sin x: ~1.6×).
    allow_nan_input: accept NaN/inf in the inputs (otherwise they raise InputValidationError).
    """

    name: ClassVar[str] = ""
    bayesian: ClassVar[bool] = False
    #: models whose inputs are images in (N, H, W, C) numpy layout set this to transpose to NCHW
    channels_last_input: ClassVar[bool] = False

    def __init__(
        self,
        *,
        max_epochs: int = 50,
        batch_size: int = 64,
        lr: float = 0.005,
        val_size: float = 0.1,
        reduce_lr_patience: int = 2,
        reduce_lr_min: float = 1e-8,
        reduce_lr_factor: float = 0.5,
        early_stopping_patience: int | None = 4,
        early_stopping_min_delta: float = 1e-4,
        l2: float = 0.0,
        dropout_rate: float = 0.0,
        input_norm_mode: int | str | dict[str, int | str] = 1,
        labels_norm_mode: int | str = 2,
        task: str = "regression",
        targetname: list[str] | None = None,
        mc_num: int = 100,
        seed: int = 0,
        accelerator: str = "auto",
        devices: int | str | list[int] = 1,
        num_nodes: int = 1,
        precision: str | int = "32-true",
        strategy: str = "auto",
        num_workers: int = 0,
        deterministic: bool = False,
        compile: bool = False,
        verbose: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every_n_steps: int | None = None,
        calibrate_uncertainty: bool = True,
        allow_nan_input: bool = False,
    ) -> None:
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_size = val_size
        self.reduce_lr_patience = reduce_lr_patience
        self.reduce_lr_min = reduce_lr_min
        self.reduce_lr_factor = reduce_lr_factor
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_min_delta = early_stopping_min_delta
        self.l2 = l2
        self.dropout_rate = dropout_rate
        self.input_norm_mode = input_norm_mode
        self.labels_norm_mode = labels_norm_mode
        self.task = task
        self.targetname = list(targetname) if targetname is not None else None
        self.mc_num = mc_num
        self.seed = seed
        self.accelerator = accelerator
        self.devices = devices
        self.num_nodes = num_nodes
        self.precision = precision
        self.strategy = strategy
        self.num_workers = num_workers
        self.deterministic = deterministic
        self.compile = compile
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every_n_steps = checkpoint_every_n_steps
        self.calibrate_uncertainty = calibrate_uncertainty
        self.allow_nan_input = allow_nan_input
        if task not in ("regression", "classification"):
            raise InputValidationError(f"task must be 'regression' or 'classification', got {task!r}")
        if not 0.0 <= val_size < 1.0:
            raise InputValidationError(f"val_size must be in [0, 1), got {val_size}")
        # fitted state
        self.network: nn.Module | None = None
        self.input_shape: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None
        self.output_dim: int | None = None
        self._input_norm: Any = None
        self._label_norm: Normalizer | None = None
        # σ calibration (Bayesian regression), all per label: a factor on every component, an extra
        # factor on the propagated input-error term, and a floor added in quadrature (label units)
        self.sigma_scale_: np.ndarray | None = None
        self.propagated_scale_: np.ndarray | None = None
        self.sigma_floor_: np.ndarray | None = None
        self.history: Any = None
        self.trainer: Any = None
        self._has_val = val_size > 0

    # -------------------------------------------------------------- scikit-learn style parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        names: list[str] = []
        for klass in cls.__mro__:
            if klass is object or "__init__" not in vars(klass):
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in names:
                    names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as given to ``__init__``."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> AstroModel:
        known = set(self._param_names())
        for k, v in params.items():
            if k not in known:
                raise InputValidationError(f"{type(self).__name__} has no hyper-parameter {k!r}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = {}
        for klass in type(self).__mro__:
            if "__init__" in vars(klass) and klass is not object:
                for p in inspect.signature(klass.__init__).parameters.values():
                    defaults.setdefault(p.name, p.default)
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k, inspect._empty) != v}
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({args})"

    # -------------------------------------------------------------- hooks for subclasses
    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        """Return the ``nn.Module`` for these input/output shapes. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_network")

    def prepare_x(self, x: Any) -> np.ndarray | dict[str, np.ndarray]:
        """Turn user input into the network's array layout (float32; NHWC → NCHW for image models)."""
        if isinstance(x, Mapping):
            return {k: self._prepare_array(v, f"x[{k!r}]") for k, v in x.items()}
        return self._prepare_array(x, "x")

    def _prepare_array(self, a: ArrayLike, name: str) -> np.ndarray:
        arr = _to_numpy(a, name)
        if arr.ndim == 0:
            raise InputValidationError(f"{name} must have a sample axis, got a scalar")
        if arr.ndim == 1:
            arr = arr[:, None]
        if self.channels_last_input and arr.ndim == 4:
            arr = np.transpose(arr, (0, 3, 1, 2))
        return np.ascontiguousarray(arr, dtype=np.float32)

    def make_dataset(
        self,
        x: np.ndarray | dict[str, np.ndarray],
        y: np.ndarray | None,
        y_err: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Dataset:
        """Dataset of normalised arrays (override for variable-length inputs)."""
        return ArrayDataset(x, y, y_err, sample_weight)

    def collate_fn(self) -> Any:
        """DataLoader collate function (``None`` = PyTorch's default)."""
        return None

    def compute_loss(self, batch: dict[str, Any], output: Any) -> torch.Tensor:
        """Loss for one batch. Default: MSE / robust_mse (regression), cross-entropy (classification)."""
        from astrotorch.nn import losses

        y = batch["y"]
        w = batch.get("weight")
        if self.task == "classification":
            if isinstance(output, tuple):
                loss = losses.robust_categorical_crossentropy(y, output[0], output[1], sample_weight=w)
            else:
                loss = losses.categorical_crossentropy(y, output, sample_weight=w, from_logits=True)
        elif isinstance(output, tuple):
            loss = losses.robust_mse(y, output[0], output[1], batch.get("y_err"), sample_weight=w)
        else:
            loss = losses.mean_squared_error(y, output, sample_weight=w)
        return loss + self.regularization_loss()

    def regularization_loss(self) -> torch.Tensor | float:
        """Extra loss terms the network's layers expose (concrete-dropout regulariser, VAE KL)."""
        from astrotorch.nn.layers import auxiliary_loss

        return 0.0 if self.network is None else auxiliary_loss(self.network)

    def extra_state(self) -> dict[str, Any]:
        """JSON-serialisable state a subclass needs beyond weights and normalisers."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    # -------------------------------------------------------------- validation
    def _validate_x(self, x: np.ndarray | dict[str, np.ndarray]) -> int:
        arrays = x.items() if isinstance(x, dict) else [("x", x)]
        n = None
        for key, arr in arrays:
            if arr.shape[0] == 0:
                raise EmptyDatasetError(f"{key} is empty (0 samples)")
            if n is not None and arr.shape[0] != n:
                raise ShapeMismatchError(f"inputs have different numbers of samples: {key} has {arr.shape[0]}, expected {n}")
            n = arr.shape[0]
            if not self.allow_nan_input and not np.isfinite(arr).all():
                bad = int((~np.isfinite(arr)).sum())
                raise InputValidationError(
                    f"{key} contains {bad} NaN/inf values; clean them, mark them via errors/bitmasks, "
                    "or pass allow_nan_input=True"
                )
        if self.input_shape is not None:
            expected = self.input_shape
            got = {k: tuple(v.shape[1:]) for k, v in x.items()} if isinstance(x, dict) else tuple(x.shape[1:])
            if got != expected:
                raise ShapeMismatchError(f"input shape {got} does not match the model's input shape {expected}")
        assert n is not None
        return n

    def _validate_y(self, y: ArrayLike, n: int, fitting: bool) -> np.ndarray:
        yy = _to_numpy(y, "y")
        if yy.shape[0] != n:
            raise ShapeMismatchError(f"x has {n} samples but y has {yy.shape[0]}")
        if self.task == "classification":
            if yy.ndim == 2 and yy.shape[1] > 1:  # one-hot / probabilities → indices (missing rows → -1)
                missing = _is_missing(yy.astype(np.float64)).any(axis=1)
                idx = np.argmax(np.nan_to_num(yy, nan=-np.inf), axis=1)
                idx[missing] = -1
                n_classes = yy.shape[1]
            else:
                yf = yy.reshape(n).astype(np.float64)
                missing = _is_missing(yf) | (yf < 0)
                if np.any(yf[~missing] != np.round(yf[~missing])):
                    raise InputValidationError("classification labels must be integer class indices or one-hot rows")
                idx = np.where(missing, -1, yf).astype(np.int64)
                n_classes = int(idx.max()) + 1 if (idx >= 0).any() else 0
            if fitting:
                known = self.output_dim or 0
                given = len(self.targetname) if self.targetname else 0
                self.output_dim = max(n_classes, known if self.network is not None else 0, given)
                if self.output_dim < 2:
                    raise InputValidationError("classification needs at least two classes")
            elif self.output_dim is not None and idx.max(initial=-1) >= self.output_dim:
                raise InputValidationError(f"class index {idx.max()} outside the model's {self.output_dim} classes")
            return idx
        if yy.ndim == 1:
            yy = yy[:, None]
        if yy.ndim != 2:
            raise ShapeMismatchError(f"regression labels must be (N, D), got shape {yy.shape}")
        if np.isinf(yy).any():
            raise InputValidationError("y contains inf; mark missing labels with NaN or the magic number")
        if fitting and self.network is None:
            self.output_dim = yy.shape[1]
        elif self.output_dim is not None and yy.shape[1] != self.output_dim:
            raise ShapeMismatchError(f"y has {yy.shape[1]} labels, the model predicts {self.output_dim}")
        return yy.astype(np.float32)

    def _validate_aux(self, a: ArrayLike | None, like: np.ndarray, name: str) -> np.ndarray | None:
        if a is None:
            return None
        arr = _to_numpy(a, name).astype(np.float32)
        if arr.ndim == 1 and like.ndim == 2:
            arr = arr[:, None] if like.shape[1] == 1 else arr
        if arr.shape[0] != like.shape[0]:
            raise ShapeMismatchError(f"{name} has {arr.shape[0]} samples, expected {like.shape[0]}")
        if name != "sample_weight" and arr.shape != like.shape:
            raise ShapeMismatchError(f"{name} has shape {arr.shape}, expected {like.shape}")
        if name == "sample_weight":
            arr = arr.reshape(like.shape[0])
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise InputValidationError("sample_weight must be finite and non-negative")
        return arr

    # -------------------------------------------------------------- normalisation
    def _make_input_norm(self, x: np.ndarray | dict[str, np.ndarray]) -> Any:
        if isinstance(x, dict):
            modes = self.input_norm_mode if isinstance(self.input_norm_mode, dict) else {}
            return {k: Normalizer(mode=modes.get(k, self.input_norm_mode if not modes else 0)) for k in x}
        return Normalizer(mode=self.input_norm_mode)

    def _normalize_x(self, x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        if isinstance(x, dict):
            missing = set(self._input_norm) - set(x)
            if missing:
                raise InputValidationError(f"input dict lacks keys {sorted(missing)}")
            return {k: np.asarray(self._input_norm[k].transform(v), np.float32) for k, v in x.items()}
        return np.asarray(self._input_norm.transform(x), np.float32)

    def _scale_errors(self, err: np.ndarray, magic: float | None = None) -> np.ndarray:
        """Errors into normalised label units (divide by the label scale); missing errors → 0."""
        scale = np.asarray(self._label_norm.scale, np.float32) if self._label_norm is not None else 1.0
        err = np.where(_is_missing(err, magic), 0.0, err) / scale
        return err.astype(np.float32)

    # -------------------------------------------------------------- training
    def make_dataloader(self, ds: Dataset, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        """The DataLoader for training (``shuffle=True``: seeded, resumable order) and evaluation.

        A hook for subclasses with their own batching (e.g. light curves bucketed by length); it is
        called with the training/validation split of ``fit`` and by the σ calibration.
        """
        common: dict[str, Any] = dict(
            batch_size=batch_size or self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available() and self.accelerator in ("auto", "gpu", "cuda"),
            collate_fn=self.collate_fn(),
        )
        if shuffle:
            # seeded epoch order whose position is saved in checkpoints: a killed run resumes mid-epoch
            from astrotorch.datasets.streaming import ResumableDataLoader

            return ResumableDataLoader(ds, seed=self.seed, **common)
        return DataLoader(ds, shuffle=False, **common)

    def _split(self, ds: Dataset) -> tuple[Dataset, Dataset | None]:
        n = len(ds)  # type: ignore[arg-type]
        n_val = int(round(n * self.val_size)) if self.val_size > 0 else 0
        if n_val == 0 or n - n_val < 1:
            self._has_val = False
            return ds, None
        self._has_val = True
        perm = np.random.default_rng(self.seed).permutation(n)
        return Subset(ds, perm[n_val:].tolist()), Subset(ds, perm[:n_val].tolist())

    def fit(
        self,
        x: ArrayLike | Mapping[str, ArrayLike] | Dataset,
        y: ArrayLike | None = None,
        x_err: ArrayLike | None = None,
        y_err: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
        ckpt_path: str | None = None,
        warm_start: bool = False,
    ) -> AstroModel:
        """Train the model; returns ``self``.

        ``x``: array (N, ...), dict of arrays (multi-input models), or a torch ``Dataset`` of dict items
        ``{"x", "y"[, "y_err"][, "weight"]}`` for data larger than memory (normaliser statistics are then
        accumulated in one streaming pass). ``y``: labels (N, D) with missing entries as NaN or the
        magic number; class indices (N,) or one-hot (N, C) for classification. ``y_err``: known label
        errors (robust_mse). ``x_err`` is accepted for API symmetry (training uses the values as given).
        ``ckpt_path="last"`` resumes from ``checkpoint_dir``. ``warm_start`` keeps the current weights and
        normalisers.
        """
        import lightning as L

        L.seed_everything(self.seed, workers=True, verbose=False)
        # a calibration belongs to the weights it was fitted for
        self.sigma_scale_ = self.propagated_scale_ = self.sigma_floor_ = None
        if isinstance(x, Dataset):
            if y is not None:
                raise InputValidationError("pass labels inside the Dataset items when x is a Dataset")
            ds = self._prepare_streaming(x, warm_start)
        else:
            ds = self._prepare_arrays(x, y, y_err, sample_weight, warm_start)
        train_ds, val_ds = self._split(ds)
        if self.network is None or not warm_start:
            # reseed: the streaming statistics pass may have drawn random numbers; weights must not depend on it
            torch.manual_seed(self.seed)
            self.network = self.build_network(self.input_shape, int(self.output_dim))
        self._fit_lightning(train_ds, val_ds, ckpt_path)
        if self.calibrate_uncertainty and self.bayesian and self.task == "regression" and val_ds is not None:
            self._calibrate_sigma(val_ds)
        return self

    def _prepare_arrays(self, x, y, y_err, sample_weight, warm_start: bool) -> Dataset:
        if y is None:
            raise InputValidationError("fit needs labels y")
        xa = self.prepare_x(x)
        if not warm_start:
            self.input_shape = None
            self.output_dim = None if self.task == "regression" else self.output_dim
            self.network = None
        n = self._validate_x(xa)
        ya = self._validate_y(y, n, fitting=True)
        err = self._validate_aux(y_err, ya, "y_err") if self.task == "regression" else None
        w = self._validate_aux(sample_weight, ya if ya.ndim == 2 else ya[:, None], "sample_weight")
        if self.task == "regression" and _is_missing(ya).all():
            # legitimate (e.g. a batch of unlabelled stars) but nothing can be learned: say so loudly
            import warnings

            warnings.warn("every label is missing: the loss is 0 and the weights will not change", stacklevel=3)
        if not warm_start or self._input_norm is None:
            self.input_shape = {k: tuple(v.shape[1:]) for k, v in xa.items()} if isinstance(xa, dict) else tuple(xa.shape[1:])
            self._input_norm = self._make_input_norm(xa)
            if isinstance(xa, dict):
                for k, v in xa.items():
                    self._input_norm[k].fit(v)
            else:
                self._input_norm.fit(xa)
            mode = self.labels_norm_mode if self.task == "regression" else 0
            self._label_norm = Normalizer(mode=mode)
            if self.task == "regression":
                self._label_norm.fit(ya)
        xn = self._normalize_x(xa)
        if self.task == "regression":
            yn = np.asarray(self._label_norm.transform(ya), np.float32)
            errn = self._scale_errors(err) if err is not None else np.zeros_like(yn)
        else:
            yn, errn = ya, None
        return self.make_dataset(xn, yn, errn, w)

    def _prepare_streaming(self, ds: Dataset, warm_start: bool) -> Dataset:
        if len(ds) == 0:  # type: ignore[arg-type]
            raise EmptyDatasetError("the training Dataset is empty")
        first = ds[0]
        if not isinstance(first, Mapping) or "x" not in first or "y" not in first:
            raise InputValidationError("Dataset items must be dicts with at least 'x' and 'y'")
        x0 = first["x"]
        if not warm_start or self._input_norm is None:
            if isinstance(x0, Mapping):
                self.input_shape = {k: tuple(np.shape(v)) for k, v in x0.items()}
            else:
                self.input_shape = tuple(np.shape(x0))
            y0 = np.asarray(first["y"])
            self._input_norm = self._make_input_norm(
                {k: np.asarray(v)[None] for k, v in x0.items()} if isinstance(x0, Mapping) else np.asarray(x0)[None]
            )
            self._label_norm = Normalizer(mode=self.labels_norm_mode if self.task == "regression" else 0)
            # one streaming pass for the statistics (Normalizer.partial_fit): memory stays flat
            loader = DataLoader(ds, batch_size=max(self.batch_size, 256), num_workers=self.num_workers)
            max_class = -1
            for batch in loader:
                bx = batch["x"]
                if isinstance(bx, Mapping):
                    for k, v in bx.items():
                        self._input_norm[k].partial_fit(np.asarray(v, np.float32))
                else:
                    self._input_norm.partial_fit(np.asarray(bx, np.float32))
                by = np.asarray(batch["y"], np.float32)
                if self.task == "regression":
                    self._label_norm.partial_fit(by.reshape(by.shape[0], -1))
                else:
                    max_class = max(max_class, int(np.nanmax(by)))
            if self.task == "regression":
                self.output_dim = int(np.asarray(y0).reshape(-1).shape[0])
            else:
                self.output_dim = max(max_class + 1, len(self.targetname or []))
        return _NormalizingDataset(ds, self)

    def _trainer_callbacks(self) -> list[Any]:
        from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

        from astrotorch.nn.callbacks import ErrorOnNaN, HistoryRecorder

        monitor = "val_loss" if self._has_val else "loss"
        self._recorder = HistoryRecorder()
        # a NaN/inf loss ends the fit with NonFiniteLossError instead of silently training on garbage
        cbs: list[Any] = [self._recorder, ErrorOnNaN(mode="raise")]
        if self.early_stopping_patience is not None:
            cbs.append(
                EarlyStopping(
                    monitor=monitor,
                    patience=self.early_stopping_patience,
                    min_delta=self.early_stopping_min_delta,
                    check_finite=True,  # stop on NaN/inf loss
                )
            )
        if self.checkpoint_dir is not None:
            from astrotorch.datasets.streaming import rng_state_callback

            cbs.append(rng_state_callback())  # dropout continues identically after a resume
            cbs.append(
                ModelCheckpoint(
                    dirpath=self.checkpoint_dir,
                    save_last=True,
                    save_top_k=0 if self.checkpoint_every_n_steps else 1,
                    monitor=None if self.checkpoint_every_n_steps else monitor,
                    every_n_train_steps=self.checkpoint_every_n_steps,
                    save_on_train_epoch_end=True,
                )
            )
        return cbs

    def build_trainer(self, max_epochs: int | None = None, **overrides: Any) -> Any:
        """The ``lightning.Trainer`` this model trains with (devices, precision, strategy passed through)."""
        import lightning as L

        kwargs: dict[str, Any] = dict(
            max_epochs=max_epochs or self.max_epochs,
            accelerator=self.accelerator,
            devices=self.devices,
            num_nodes=self.num_nodes,
            precision=self.precision,
            strategy=self.strategy,
            deterministic=self.deterministic or None,
            callbacks=self._trainer_callbacks(),
            logger=False,
            enable_checkpointing=self.checkpoint_dir is not None,
            enable_progress_bar=bool(self.verbose),
            enable_model_summary=bool(self.verbose),
            default_root_dir=self.checkpoint_dir or tempfile.gettempdir(),
            log_every_n_steps=1,
            num_sanity_val_steps=0,
        )
        kwargs.update(overrides)
        return L.Trainer(**kwargs)

    def make_lightning_module(self, network: nn.Module) -> Any:
        """The ``LightningModule`` that trains ``network`` (a hook: e.g. another LR schedule)."""
        from astrotorch.train.lightning_module import AstroLightningModule

        return AstroLightningModule(network, self)

    def _fit_lightning(self, train_ds: Dataset, val_ds: Dataset | None, ckpt_path: str | None, **trainer_kw: Any) -> None:
        assert self.network is not None
        net = torch.compile(self.network) if self.compile else self.network
        module = self.make_lightning_module(net)
        train_loader = self.make_dataloader(train_ds, shuffle=True)
        val_loader = self.make_dataloader(val_ds, shuffle=False) if val_ds is not None else None
        with _quiet_lightning(not self.verbose):
            trainer = self.build_trainer(**trainer_kw)
            trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
        self.trainer = trainer
        self.network = self.network.cpu() if str(self._device()) == "cpu" else self.network
        self.history = self._recorder.to_dataframe()

    def fit_on_batch(
        self,
        x: ArrayLike,
        y: ArrayLike,
        x_err: ArrayLike | None = None,
        y_err: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> AstroModel:
        """One optimisation pass over the given batch with the current weights and normalisers.

        The first call on an unfitted model fits the normalisers on this batch.
        """
        warm = self.network is not None
        saved = (self.val_size, self.batch_size)
        try:
            self.val_size, self._has_val = 0.0, False
            ds = self._prepare_arrays(x, y, y_err, sample_weight, warm_start=warm)
            if self.network is None:
                self.network = self.build_network(self.input_shape, int(self.output_dim))
            self.batch_size = len(ds)
            self._fit_lightning(ds, None, None, max_epochs=1)
        finally:
            self.val_size, self.batch_size = saved
            self._has_val = self.val_size > 0
        return self

    # -------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if self.network is None or self._input_norm is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load_folder() first")

    def _device(self) -> torch.device:
        if self.network is None:
            return torch.device("cpu")
        try:
            return next(self.network.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def _inference_device(self) -> torch.device:
        if self.accelerator in ("gpu", "cuda") or (self.accelerator == "auto" and torch.cuda.is_available()):
            return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        return torch.device("cpu")

    def _to_tensor(self, x: np.ndarray | dict[str, np.ndarray], device: torch.device) -> Any:
        if isinstance(x, dict):
            return {k: torch.as_tensor(v, device=device) for k, v in x.items()}
        return torch.as_tensor(x, device=device)

    def _slice(self, x: np.ndarray | dict[str, np.ndarray], sl: slice) -> Any:
        return {k: v[sl] for k, v in x.items()} if isinstance(x, dict) else x[sl]

    def _inference_autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """Autocast for prediction matching the training ``precision``: ``"bf16-mixed"`` predicts in
        bfloat16 (on CPUs with AVX-512-BF16/AMX and on GPUs the MC passes are ~2x cheaper),
        ``"16-mixed"`` in float16 on GPUs; any other precision predicts in the weights' dtype."""
        precision = str(self.precision)
        if precision.startswith("bf16-mixed"):
            return torch.autocast(device.type, dtype=torch.bfloat16)
        if precision.startswith("16-mixed") and device.type != "cpu":
            return torch.autocast(device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def _prepare_inference_input(self, x: ArrayLike) -> tuple[Any, int]:
        self._check_fitted()
        xa = self.prepare_x(x)
        n = self._validate_x(xa)
        return self._normalize_x(xa), n

    def _propagated_input_errors(self, x_err: np.ndarray) -> np.ndarray:
        """The input errors to propagate (raw units, finite): all of them here; spectral models drop
        flagged pixels whose flux is a placeholder rather than a measurement."""
        return x_err

    def _network_outputs(self, x: ArrayLike, x_err: ArrayLike | None = None, batch_size: int | None = None) -> dict[str, np.ndarray]:
        """Mean and variances (normalised units) for every sample, batch by batch."""
        from astrotorch.uncertainty import mc_predict

        xn, n = self._prepare_inference_input(x)
        err_n = None
        if x_err is not None:
            if isinstance(xn, dict):
                raise InputValidationError("x_err is only supported for single-array inputs")
            xe = self.prepare_x(x_err)
            if xe.shape != xn.shape:
                raise ShapeMismatchError(f"x_err has shape {xe.shape}, expected {xn.shape}")
            scale = np.asarray(self._input_norm.scale, np.float32)
            xe = self._propagated_input_errors(np.where(np.isfinite(xe), xe, 0.0))
            err_n = (xe / scale).astype(np.float32)
        device = self._inference_device()
        net = self.network.to(device)
        net.eval()
        bs = batch_size or max(self.batch_size, 256)
        out: dict[str, list[np.ndarray]] = {}
        for start in range(0, n, bs):
            sl = slice(start, min(start + bs, n))
            xb = self._to_tensor(self._slice(xn, sl), device)
            if self.bayesian:
                with self._inference_autocast(device):
                    res = mc_predict(net, xb, n_samples=self.mc_num, task=self.task)
                parts = {"mean": res.mean, "model_var": res.model_var, "predictive_var": res.predictive_var}
                if err_n is not None:
                    # input-error propagation through the mean network (MC layers off): a variance
                    # that is ≥ 0 by construction, unlike a difference of two noisy MC variances
                    with deterministic_layers(net), self._inference_autocast(device):
                        res_e = mc_predict(net, xb, n_samples=self.mc_num, task=self.task,
                                           x_err=torch.as_tensor(err_n[sl], device=device))
                    parts["propagated_var"] = res_e.model_var
            else:
                with torch.inference_mode(), deterministic_layers(net), self._inference_autocast(device):
                    o = net(xb)
                o = o[0] if isinstance(o, tuple) else o
                if self.task == "classification":
                    o = torch.softmax(o.float(), dim=-1)
                parts = {"mean": o}
            for k, v in parts.items():
                out.setdefault(k, []).append(v.detach().float().cpu().numpy())
        return {k: np.concatenate(v) for k, v in out.items()}

    def predict(
        self, x: ArrayLike, x_err: ArrayLike | None = None, batch_size: int | None = None
    ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
        """Predict in physical units.

        Regression: the denormalised prediction (N, D); Bayesian models return
        ``(prediction, {"total", "model", "predictive"[, "propagated"][, "floor"]})``, standard deviations
        in the label units (``propagated``: extra spread from the input errors ``x_err``; ``floor``: the
        calibrated model-error floor, when the model fitted one). ``total`` is their quadrature sum.
        Classification: class probabilities (N, C); Bayesian ones also return
        ``{"total", "model"}`` standard deviations of the probabilities.
        """
        res = self._network_outputs(x, x_err, batch_size)
        if self.task == "classification":
            probs = res["mean"]
            if not self.bayesian:
                return probs
            std = {"model": np.sqrt(res["model_var"]), "total": np.sqrt(res["model_var"])}
            return probs, std
        scale = np.asarray(self._label_norm.scale, np.float32)
        pred = np.asarray(self._label_norm.denormalize(res["mean"]), np.float32)
        if not self.bayesian:
            return pred
        factor = self.sigma_scale_ if self.sigma_scale_ is not None else 1.0
        model_sd = np.sqrt(res["model_var"]) * scale * factor
        pred_sd = np.sqrt(res["predictive_var"]) * scale * factor
        var_total = model_sd**2 + pred_sd**2
        std = {"model": model_sd, "predictive": pred_sd}
        if "propagated_var" in res:
            prop = np.sqrt(res["propagated_var"]) * scale * factor
            if self.propagated_scale_ is not None:
                prop = prop * self.propagated_scale_[None, :]
            std["propagated"] = prop
            var_total = var_total + prop**2
        if self.sigma_floor_ is not None:
            std["floor"] = np.broadcast_to(self.sigma_floor_[None, :], pred.shape).astype(np.float32)
            var_total = var_total + std["floor"] ** 2
        std["total"] = np.sqrt(var_total)
        return pred, std

    def predict_classes(self, x: ArrayLike, batch_size: int | None = None) -> np.ndarray:
        """Most probable class index per sample (classification models)."""
        if self.task != "classification":
            raise InputValidationError("predict_classes is only for classification models")
        out = self.predict(x, batch_size=batch_size)
        probs = out[0] if isinstance(out, tuple) else out
        return np.argmax(probs, axis=1)

    def _calibrate_sigma(self, val_ds: Dataset) -> None:
        """Per-label σ factor so that validation z-scores have unit standard deviation."""
        loader = self.make_dataloader(val_ds, shuffle=False, batch_size=max(self.batch_size, 256))
        from astrotorch.uncertainty import mc_predict

        zs = []
        net = self.network
        device = self._device()
        net.eval()
        for batch in loader:
            xb = batch["x"]
            xb = {k: v.to(device) for k, v in xb.items()} if isinstance(xb, dict) else xb.to(device)
            # 30 samples pin a per-label σ factor well enough and keep this pass cheap after fit
            with self._inference_autocast(device):
                res = mc_predict(net, xb, n_samples=min(self.mc_num, 30), task=self.task)
            y = batch["y"].to(device)
            err = batch.get("y_err")
            var = res.model_var + res.predictive_var
            if err is not None:
                var = var + err.to(device) ** 2  # the truth itself is noisy by its label error
            z = (res.mean - y) / torch.sqrt(var)
            z[(y == magic_number()) | torch.isnan(y)] = float("nan")
            zs.append(z.float().cpu().numpy())
        z = np.concatenate(zs)
        with np.errstate(invalid="ignore"):
            sd = np.array([np.nanstd(z[:, j]) if np.isfinite(z[:, j]).sum() > 2 else 1.0 for j in range(z.shape[1])])
        self.sigma_scale_ = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0).astype(np.float32)

    def evaluate(self, x: ArrayLike, y: ArrayLike, y_err: ArrayLike | None = None, batch_size: int | None = None) -> dict[str, Any]:
        """Metrics on labelled data, per output.

        Regression: MAE, median absolute error, RMSE, bias, mad_std of the residuals (label units) per
        target; for Bayesian models also the z-score standard deviation (calibration, 1 is ideal) and
        the 68% coverage. Classification: accuracy, log loss and expected calibration error.
        """
        from astrotorch.uncertainty import calibration

        self._check_fitted()
        out = self.predict(x, batch_size=batch_size)
        n = _first(self.prepare_x(x)).shape[0]
        yy = self._validate_y(y, n, fitting=False)
        names = self.targetname or [f"label_{i}" for i in range(self.output_dim or 0)]
        if self.task == "classification":
            probs = out[0] if isinstance(out, tuple) else out
            valid = yy >= 0
            pv, yv = probs[valid], yy[valid]
            acc = float(np.mean(np.argmax(pv, 1) == yv)) if valid.any() else float("nan")
            logloss = float(-np.mean(np.log(np.clip(pv[np.arange(len(yv)), yv], 1e-12, None)))) if valid.any() else float("nan")
            ece = float(calibration.expected_calibration_error(pv, yv)) if valid.any() else float("nan")
            return {"accuracy": acc, "log_loss": logloss, "ece": ece, "n": int(valid.sum())}
        pred, std = (out if isinstance(out, tuple) else (out, None))
        err = self._validate_aux(y_err, yy, "y_err") if y_err is not None else None
        metrics: dict[str, Any] = {}
        for j, name in enumerate(names):
            valid = ~_is_missing(yy[:, j])
            r = pred[valid, j] - yy[valid, j]
            if r.size == 0:
                metrics[name] = {"n": 0}
                continue
            m = {
                "n": int(r.size),
                "mae": float(np.mean(np.abs(r))),
                "median_ae": float(np.median(np.abs(r))),
                "rmse": float(np.sqrt(np.mean(r**2))),
                "bias": float(np.mean(r)),
                "mad_std": float(1.4826 * np.median(np.abs(r - np.median(r)))),
            }
            if std is not None:
                sig = std["total"][valid, j]
                if err is not None:
                    e = err[valid, j]
                    sig = np.sqrt(sig**2 + np.where(_is_missing(e), 0.0, e) ** 2)
                m["zscore_std"] = float(calibration.zscore_std(yy[valid, j], pred[valid, j], sig))
                cov = calibration.coverage(yy[valid, j], pred[valid, j], sig, levels=(0.683,))
                m["coverage_68"] = float(np.asarray(cov).ravel()[0])
            metrics[name] = m
        return metrics

    # -------------------------------------------------------------- gradients
    def _single_input_fn(self, mean_output_index: int = 0) -> Any:
        net = self.network

        def f(xi: torch.Tensor) -> torch.Tensor:
            o = net(xi.unsqueeze(0))
            o = o[0] if isinstance(o, tuple) else o
            return o.squeeze(0)

        return f

    def jacobian(self, x: ArrayLike, mean_output: bool = False, batch_size: int = 64) -> np.ndarray:
        """∂prediction/∂input for every sample, in physical units (label units per input unit).

        Returns (N, D_out, *input_shape), or its mean over samples with ``mean_output=True``. MC
        layers are switched off (the jacobian of the mean network), computed with ``torch.func``
        (``vmap`` over samples of ``jacrev``).
        """
        from torch.func import jacrev, vmap

        xn, n = self._prepare_inference_input(x)
        if isinstance(xn, dict):
            raise InputValidationError("jacobian needs a single-array input model")
        net = self.network
        net.eval()
        f = self._single_input_fn()
        out_scale = np.asarray(self._label_norm.scale, np.float32) if self.task == "regression" else np.ones(self.output_dim)
        in_scale = np.broadcast_to(np.asarray(self._input_norm.scale, np.float32), xn.shape[1:])
        chunks = []
        device = self._device()
        with deterministic_layers(net):
            for start in range(0, n, batch_size):
                xb = torch.as_tensor(xn[start : start + batch_size], device=device)
                jac = vmap(jacrev(f), randomness="different")(xb).detach().cpu().numpy()
                chunks.append(jac)
        jac = np.concatenate(chunks)
        d_out = jac.shape[1]
        jac = jac * out_scale.reshape((1, d_out) + (1,) * len(xn.shape[1:])) / in_scale[None, None]
        return jac.mean(axis=0) if mean_output else jac

    def hessian(self, x: ArrayLike, mean_output: bool = False) -> np.ndarray:
        """Second derivatives ∂²prediction/∂input² per sample: (N, D_out, *in, *in), physical units.

        Memory grows as the input size squared: meant for tabular inputs, not full spectra.
        """
        from torch.func import hessian, vmap

        xn, n = self._prepare_inference_input(x)
        if isinstance(xn, dict):
            raise InputValidationError("hessian needs a single-array input model")
        net = self.network
        net.eval()
        f = self._single_input_fn()
        device = self._device()
        with deterministic_layers(net):
            h = vmap(hessian(f), randomness="different")(torch.as_tensor(xn, device=device)).detach().cpu().numpy()
        in_shape = xn.shape[1:]
        out_scale = np.asarray(self._label_norm.scale, np.float32) if self.task == "regression" else np.ones(self.output_dim)
        in_scale = np.broadcast_to(np.asarray(self._input_norm.scale, np.float32), in_shape)
        nd = len(in_shape)
        h = h * out_scale.reshape((1, -1) + (1,) * (2 * nd))
        h = h / in_scale.reshape((1, 1) + in_shape + (1,) * nd) / in_scale.reshape((1, 1) + (1,) * nd + in_shape)
        return h.mean(axis=0) if mean_output else h

    # -------------------------------------------------------------- weights
    def transfer_weights(self, other: AstroModel | str | Path, exclude: tuple[str, ...] = ()) -> list[str]:
        """Copy every parameter/buffer whose name and shape match from ``other`` (a model or folder).

        Names starting with any prefix in ``exclude`` are skipped. Returns the names copied.
        """
        self._check_fitted()
        src = other if isinstance(other, AstroModel) else load_folder(other)
        src._check_fitted()
        mine = self.network.state_dict()
        copied = []
        for k, v in src.network.state_dict().items():
            if k in mine and mine[k].shape == v.shape and not any(k.startswith(e) for e in exclude):
                mine[k] = v.clone()
                copied.append(k)
        self.network.load_state_dict(mine)
        return copied

    def summary(self) -> str:
        """Layer table with parameter counts (Lightning's ModelSummary)."""
        from lightning.pytorch.utilities.model_summary import ModelSummary

        from astrotorch.train.lightning_module import AstroLightningModule

        self._check_fitted()
        return str(ModelSummary(AstroLightningModule(self.network, self), max_depth=3))

    def n_parameters(self) -> int:
        self._check_fitted()
        return sum(p.numel() for p in self.network.parameters())

    # -------------------------------------------------------------- persistence
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors saved in ``model.safetensors`` (default: the network's state dict)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        try:
            self.network.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            raise ModelFolderError(f"saved weights do not fit the {type(self).__name__} architecture: {exc}") from exc

    def _config(self) -> dict[str, Any]:
        import lightning

        import astrotorch

        def norm_dict(n: Any) -> Any:
            if n is None:
                return None
            if isinstance(n, dict):
                return {k: v.to_dict() for k, v in n.items()}
            return n.to_dict()

        shape = self.input_shape
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "class": type(self).__name__,
            "params": self.get_params(),
            "input_shape": {k: list(v) for k, v in shape.items()} if isinstance(shape, dict) else list(shape or ()),
            "input_is_dict": isinstance(shape, dict),
            "output_dim": self.output_dim,
            "targetname": self.targetname,
            "input_normalizer": norm_dict(self._input_norm),
            "label_normalizer": norm_dict(self._label_norm),
            "sigma_scale": _floats_or_none(self.sigma_scale_),
            "propagated_scale": _floats_or_none(self.propagated_scale_),
            "sigma_floor": _floats_or_none(self.sigma_floor_),
            "extra": self.extra_state(),
            "versions": {
                "astrotorch": astrotorch.__version__,
                "torch": torch.__version__,
                "lightning": lightning.__version__,
                "python": platform.python_version(),
            },
        }

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write ``model.safetensors``, ``config.json``, ``history.csv`` and ``manifest.json`` (SHA-256).

        The folder is built under a temporary name and renamed into place, so a failure never leaves
        a half-written model.
        """
        from safetensors.torch import save_file

        from astrotorch.io import atomic_dir, sha256sum
        from astrotorch.train.runs import to_jsonable

        self._check_fitted()
        folder = Path(folder)
        with atomic_dir(folder, overwrite=overwrite) as tmp:
            tmp = Path(tmp)
            save_file(self.state_tensors(), str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
            (tmp / CONFIG_FILE).write_text(json.dumps(to_jsonable(self._config()), indent=2) + "\n")
            if self.history is not None and len(self.history):
                self.history.to_csv(tmp / HISTORY_FILE, index=False)
            else:
                (tmp / HISTORY_FILE).write_text("epoch\n")
            manifest = {"files": {f: sha256sum(tmp / f) for f in (WEIGHTS_FILE, CONFIG_FILE, HISTORY_FILE)}}
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        return folder

    def copy(self) -> AstroModel:
        """Deep copy (weights included)."""
        return copy.deepcopy(self)


def load_folder(folder: str | Path) -> AstroModel:
    """Load a model saved with :meth:`AstroModel.save`.

    Verifies the SHA-256 manifest first; reads only JSON and safetensors (never pickle, never imports
    code from the folder). Raises :class:`~astrotorch.errors.ModelFolderError` for a missing, altered
    or incompatible file.
    """
    import pandas as pd
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from astrotorch.io import sha256sum
    from astrotorch.models.registry import get_model_class

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist or is not a folder")
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelFolderError(f"{folder} has no {MANIFEST_FILE}: not an astrotorch model folder (or incomplete)")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{manifest_path} is corrupt: {exc}") from exc
    for fname in (WEIGHTS_FILE, CONFIG_FILE):
        if fname not in files:
            raise ModelFolderError(f"{manifest_path} does not list {fname}")
    for fname, digest in files.items():
        path = folder / fname
        if Path(fname).name != fname:
            raise ModelFolderError(f"{manifest_path} names a file outside the folder: {fname!r}")
        if not path.is_file():
            raise ModelFolderError(f"{folder} is missing {fname}")
        if sha256sum(path) != digest:
            raise ModelFolderError(f"{path} was altered after saving (SHA-256 does not match the manifest)")
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
    unknown = set(params) - set(cls._param_names())
    if unknown:
        raise ModelFolderError(f"{folder}/config.json has unknown hyper-parameters for {cls.__name__}: {sorted(unknown)}")
    try:
        model = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f"{folder}/config.json hyper-parameters are invalid: {exc}") from exc
    shape = cfg["input_shape"]
    model.input_shape = {k: tuple(v) for k, v in shape.items()} if cfg.get("input_is_dict") else tuple(shape)
    model.output_dim = cfg["output_dim"]
    model.targetname = cfg.get("targetname")
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
    for key in ("sigma_scale", "propagated_scale", "sigma_floor"):
        vals = cfg.get(key, extra.get(key))  # older folders kept the last two under "extra"
        if vals is not None:
            arr = np.asarray(vals, np.float32)
            if arr.ndim != 1 or not np.all(np.isfinite(arr)):
                raise ModelFolderError(f"{folder}/config.json: {key} must be a list of finite numbers, got {vals!r}")
            setattr(model, key + "_", arr)
    model.load_extra_state(extra)
    if model.network is None:
        model.network = model.build_network(model.input_shape, int(model.output_dim))
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFolderError(f"{folder / WEIGHTS_FILE} is not a valid safetensors file: {exc}") from exc
    model.load_state_tensors(tensors)
    model.network.eval()
    hist = folder / HISTORY_FILE
    if hist.is_file() and hist.stat().st_size > 0:
        with contextlib.suppress(Exception):
            model.history = pd.read_csv(hist)
    return model


__all__ = ["AstroModel", "ArrayDataset", "load_folder", "deterministic_layers"]
