"""One model API for every astrotorch model (scikit-learn shape, Lightning underneath).

:class:`AstroModel` is the public face; the work is done by parts a newcomer finds by name:

==============================  =================================================================
``models/hyperparams.py``       hyper-parameter names, defaults and validation (in ``__init__``)
``models/estimator.py``         scikit-learn protocol, fitted state, fit's RNG isolation and rollback
``models/labels.py``            classification labels → ``classes_``; regression label checks
``models/data.py``              input validation, normalisation, datasets, loaders, the val split
``train/trainer.py``            the Lightning Trainer: callbacks, progress, loggers, checkpoints
``train/lightning_module.py``   the step logic and the optimiser (L2 on kernels only)
``models/inference.py``         network outputs, Monte Carlo, σ composition and calibration
``models/evaluation.py``        ``evaluate`` and ``score``
``models/gradients.py``         ``jacobian`` / ``hessian``
``models/persistence.py``       ``save`` / ``load_folder`` (safetensors + JSON, never pickle)
==============================  =================================================================

Subclasses set ``name`` (registry key) and ``bayesian``, implement ``build_network(input_shape,
output_dim)`` and may override the hooks ``prepare_x``, ``make_dataset``, ``collate_fn``,
``make_dataloader``, ``_split``, ``compute_loss``, ``make_lightning_module``, ``_calibrate_sigma``,
``_propagated_input_errors``, ``extra_state``/``load_extra_state``, ``state_tensors``/
``load_state_tensors``. Every ``fit`` (this one and any subclass override, wrapped automatically)
runs with the global random generators seeded from ``seed`` and restored afterwards, and leaves the
model as it was before the call if it fails or is interrupted (Ctrl-C raises ``KeyboardInterrupt``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if
from torch import nn
from torch.utils.data import Dataset

from astrotorch.errors import InputValidationError
from astrotorch.models import evaluation, gradients, inference, persistence
from astrotorch.models.astronn_api import AstroNNModelMixin
from astrotorch.models.data import ArrayDataset, DataMixin, NormalizingDataset, first_array, to_numpy
from astrotorch.models.estimator import EstimatorMixin, fitted_alias
from astrotorch.models.hyperparams import validate_base_params
from astrotorch.models.inference import InferenceMixin, deterministic_layers
from astrotorch.models.labels import is_missing, outside_range
from astrotorch.models.persistence import load_folder

ArrayLike = Any


def _is_classifier(model: AstroModel) -> bool:
    return model.task == "classification"


class AstroModel(DataMixin, InferenceMixin, EstimatorMixin, AstroNNModelMixin):
    """Base class of every astrotorch model.

    Parameters (astroNN's defaults)
    -------------------------------
    max_epochs: maximum number of training epochs (int ≥ 1).
    batch_size: mini-batch size (int ≥ 1).
    lr: Adam learning rate (> 0).
    val_size: fraction of the training data held out for validation, in [0, 1) (0 → none).
    reduce_lr_patience, reduce_lr_min, reduce_lr_factor: ReduceLROnPlateau on the validation loss.
    early_stopping_patience, early_stopping_min_delta: early stopping on the validation loss
        (``None`` patience disables it).
    l2: L2 regularisation of the kernels (weight matrices, convolution kernels) with Keras semantics:
        ``l2·Σw²`` added to the loss, applied as Adam weight decay ``2·l2`` on the kernels only.
        Biases and normalisation parameters are not decayed (before issue 19 they were).
    dropout_rate: dropout rate of the (MC) dropout layers, in [0, 1).
    input_norm_mode, labels_norm_mode: :class:`~astrotorch.nn.Normalizer` modes (a dict of modes for
        multi-input models). Inputs equal to the magic number enter the network as the normalised
        feature centre (see :mod:`astrotorch.models.data`).
    task: ``"regression"`` or ``"classification"`` (scikit-learn tags follow it).
    targetname: names of the outputs (labels or classes).
    mc_num: Monte Carlo samples for Bayesian inference (int ≥ 1).
    seed: seed for weights, the validation split and shuffling (int ≥ 0). ``fit`` seeds the global
        generators for its own duration only and gives the caller's states back.
    accelerator, devices, num_nodes, precision, strategy: passed to ``lightning.Trainer`` (``"auto"``,
        ``"cpu"``, ``"gpu"``; ``"32-true"``, ``"bf16-mixed"``; ``"ddp"`` ...); see docs/SCALING.md.
    num_workers: DataLoader worker processes.
    deterministic: ``Trainer(deterministic=True)`` for bit-reproducible runs.
    compile: wrap the network in ``torch.compile`` for training.
    verbose: Lightning's model summary and informational messages.
    progress: ``"auto"`` (progress bar on a terminal or in a notebook, else one line per epoch),
        ``"bar"``, ``"epoch"`` or ``"none"``.
    checkpoint_dir: where Lightning writes checkpoints (``last.ckpt``); enables ``fit(ckpt_path="last")``.
    checkpoint_every_n_steps: also checkpoint every N optimiser steps (crash recovery mid-epoch).
    calibrate_uncertainty: for Bayesian regression, rescale σ so that z-scores on the *validation*
        split have unit standard deviation (a per-label factor ``sigma_scale_`` stored with the
        model). On by default: a heteroscedastic head trained with dropout on also absorbs the dropout
        noise, so raw MC-dropout σ double-counts and comes out too large (x·sin x: ~1.6×).
    allow_nan_input: accept NaN/inf in the inputs (otherwise they raise InputValidationError).
    trainer_kwargs: extra ``lightning.Trainer`` keyword arguments (``fit(trainer_kwargs=)`` wins).

    Hyper-parameters are validated here (``InputValidationError`` naming the parameter) and stored
    exactly as given, so ``sklearn.base.clone``, ``get_params``/``set_params`` (which validates too),
    ``cross_val_score`` and ``GridSearchCV`` work. Fitted state ends with ``_`` (``network_``,
    ``input_shape_``, ``output_dim_``, ``history_``, ``trainer_``, ``classes_``, ``n_features_in_``);
    the old names ``network``, ``input_shape``, ``output_dim``, ``history``, ``trainer`` still work.
    """

    name: ClassVar[str] = ""
    bayesian: ClassVar[bool] = False
    #: models whose inputs are images in (N, H, W, C) numpy layout set this to transpose to NCHW
    channels_last_input: ClassVar[bool] = False

    # fitted state (class-level defaults: scikit-learn wants __init__ to set hyper-parameters only)
    network_: nn.Module | None = None
    input_shape_: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None
    output_dim_: int | None = None
    history_: Any = None
    trainer_: Any = None
    sigma_scale_: np.ndarray | None = None  # σ calibration (Bayesian regression), per label: a factor
    propagated_scale_: np.ndarray | None = None  # an extra factor on the propagated input-error term
    sigma_floor_: np.ndarray | None = None  # a floor added in quadrature (label units)
    noise_power_: np.ndarray | None = None  # γ: σ² grows as (ν/ν_ref)^γ with the spectrum's noise level ν
    noise_power_high_: np.ndarray | None = None  # γ₂ beyond noise_break_ (NaN: one power for that label)
    noise_break_: np.ndarray | None = None  # ν_b/ν_ref where the power changes (NaN: no break)
    noise_reference_: float | None = None  # ν_ref: the validation spectra's median flux error
    sigma_precision_: np.ndarray | None = None  # how well the calibration stars pin σ (fractional 1σ), per label
    label_range_: np.ndarray | None = None  # (2, D) min and max of the training labels (regression), label units
    _input_norm: Any = None
    _label_norm: Any = None
    _classes: np.ndarray | None = None
    _has_val: bool = True
    _recorder: Any = None
    _folder_name: str | None = None
    _fit_depth: int = 0
    _batch_rng_state: torch.Tensor | None = None

    network = fitted_alias("network_", "The trained ``torch.nn.Module`` (``network_``).")
    input_shape = fitted_alias("input_shape_", "Per-sample input shape seen in fit (``input_shape_``).")
    output_dim = fitted_alias("output_dim_", "Number of outputs: labels or classes (``output_dim_``).")
    history = fitted_alias("history_", "Per-epoch metrics of the last fit, a DataFrame (``history_``).")
    trainer = fitted_alias("trainer_", "The ``lightning.Trainer`` of the last fit (``trainer_``).")

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
        targetname: list[str] | tuple[str, ...] | None = None,
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
        progress: str = "auto",
        checkpoint_dir: str | None = None,
        checkpoint_every_n_steps: int | None = None,
        calibrate_uncertainty: bool = True,
        allow_nan_input: bool = False,
        trainer_kwargs: dict[str, Any] | None = None,
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
        self.targetname = targetname
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
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every_n_steps = checkpoint_every_n_steps
        self.calibrate_uncertainty = calibrate_uncertainty
        self.allow_nan_input = allow_nan_input
        self.trainer_kwargs = trainer_kwargs
        validate_base_params(vars(self))

    @property
    def folder_name(self) -> str | None:
        """The folder this model was last saved to or loaded from (astroNN's ``folder_name``); set it
        to choose where ``save()`` without a folder writes."""
        return self._folder_name

    @folder_name.setter
    def folder_name(self, value: str | Path | None) -> None:
        self._folder_name = None if value is None else str(value)

    # -------------------------------------------------------------- hooks for subclasses
    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        """Return the ``nn.Module`` for these input/output shapes. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_network")

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

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors saved in ``model.safetensors`` (default: the network's state dict)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}

    def _weight_tensor_names(self) -> set[str]:
        """Names in :meth:`state_tensors` that are trained weights: ``load_folder`` refuses NaN/inf in
        them (buffers may hold ±inf thresholds or NaN data legitimately)."""
        return {name for name, _ in self.network.named_parameters()} if self.network is not None else set()

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        from astrotorch.errors import ModelFolderError

        try:
            self.network.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            raise ModelFolderError(f"saved weights do not fit the {type(self).__name__} architecture: {exc}") from exc

    def make_lightning_module(self, network: nn.Module) -> Any:
        """The ``LightningModule`` that trains ``network`` (a hook: e.g. another LR schedule)."""
        from astrotorch.train.lightning_module import AstroLightningModule

        return AstroLightningModule(network, self)

    def build_trainer(self, max_epochs: int | None = None, **overrides: Any) -> Any:
        """The ``lightning.Trainer`` this model trains with (see :mod:`astrotorch.train.trainer`)."""
        from astrotorch.train.trainer import build_trainer

        return build_trainer(self, max_epochs=max_epochs, **overrides)

    def _trainer_callbacks(self) -> list[Any]:
        from astrotorch.train.trainer import default_callbacks

        return default_callbacks(self)

    def _fit_lightning(self, train_ds: Dataset, val_ds: Dataset | None, ckpt_path: str | None, **trainer_kw: Any) -> None:
        from astrotorch.train.trainer import fit_lightning

        fit_lightning(self, train_ds, val_ds, ckpt_path, **trainer_kw)

    # -------------------------------------------------------------- training
    def fit(
        self,
        x: ArrayLike | Mapping[str, ArrayLike] | Dataset,
        y: ArrayLike | None = None,
        x_err: ArrayLike | None = None,
        y_err: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
        ckpt_path: str | None = None,
        warm_start: bool = False,
        *,
        callbacks: list[Any] | None = None,
        logger: Any = None,
        trainer_kwargs: dict[str, Any] | None = None,
    ) -> AstroModel:
        """Train the model; returns ``self``.

        ``x``: array (N, ...), dict of arrays (multi-input models), or a torch ``Dataset`` of dict items
        ``{"x", "y"[, "y_err"][, "weight"]}`` for data larger than memory (normaliser statistics are then
        accumulated in one streaming pass). ``y``: labels (N, D) with missing entries as NaN or the
        magic number; for classification class indices (N,), labels of any kind (strings ...) or
        one-hot rows (N, C) (see :mod:`astrotorch.models.labels`). ``y_err``: known label errors
        (robust_mse). ``x_err`` is accepted for API symmetry (training uses the values as given).
        ``ckpt_path="last"`` resumes from ``checkpoint_dir``. ``warm_start`` keeps the current weights
        and normalisers. ``callbacks`` (Lightning callbacks, added to astrotorch's), ``logger`` (e.g.
        ``CSVLogger(folder)``) and ``trainer_kwargs`` go to the ``lightning.Trainer``.
        """
        # a calibration belongs to the weights it was fitted for
        self.sigma_scale_ = self.propagated_scale_ = self.sigma_floor_ = None
        self.noise_power_ = self.noise_reference_ = self.sigma_precision_ = None
        self.noise_power_high_ = self.noise_break_ = None
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
        self._set_n_features_in()
        self._fit_lightning(train_ds, val_ds, ckpt_path, callbacks=callbacks, logger=logger,
                            trainer_kwargs=trainer_kwargs)
        if self.calibrate_uncertainty and self.bayesian and self.task == "regression" and val_ds is not None:
            self._calibrate_sigma(val_ds)
        return self

    def fit_on_batch(self, x: ArrayLike, y: ArrayLike, x_err: ArrayLike | None = None, y_err: ArrayLike | None = None,
                     sample_weight: ArrayLike | None = None) -> AstroModel:
        """One optimisation pass over the given batch with the current weights and normalisers.

        The first call on an unfitted model fits the normalisers on this batch. Successive calls draw
        their dropout masks from one model-owned random stream (seeded by ``seed``), not the global one.
        """
        from astrotorch.train.trainer import isolated_rng

        warm = self.network is not None
        saved = (self.val_size, self.batch_size)
        with self._restore_on_failure(), isolated_rng(self.seed):
            if self._batch_rng_state is not None:
                torch.set_rng_state(self._batch_rng_state)
            try:
                self.val_size, self._has_val = 0.0, False
                ds = self._prepare_arrays(x, y, y_err, sample_weight, warm_start=warm)
                if self.network is None:
                    self.network = self.build_network(self.input_shape, int(self.output_dim))
                self._set_n_features_in()
                self.batch_size = len(ds)
                self._fit_lightning(ds, None, None, max_epochs=1)
            finally:
                self.val_size, self.batch_size = saved
                self._has_val = self.val_size > 0
            self._batch_rng_state = torch.get_rng_state()
        return self

    # -------------------------------------------------------------- inference
    def predict(self, x: ArrayLike, x_err: ArrayLike | None = None, batch_size: int | None = None) -> Any:
        """Predict in physical units.

        Regression: the denormalised prediction (N, D); Bayesian models return
        ``(prediction, {"total", "model", "predictive"[, "propagated"][, "floor"]})``, standard deviations
        in the label units (``propagated``: extra spread from the input errors ``x_err``; ``floor``: the
        calibrated model-error floor, when the model fitted one). ``total`` is their quadrature sum.
        Classification (scikit-learn's convention): the most probable class *label* per sample, one
        of ``classes_``; use :meth:`predict_proba` for the probabilities.
        """
        if self.task == "classification":
            out = self.predict_proba(x, x_err=x_err, batch_size=batch_size)
            return inference.labels_from_probabilities(self, out[0] if isinstance(out, tuple) else out)
        return inference.regression_prediction(self, self._network_outputs(x, x_err, batch_size))

    @available_if(_is_classifier)
    def predict_proba(self, x: ArrayLike, x_err: ArrayLike | None = None, batch_size: int | None = None,
                      return_std: bool = False) -> Any:
        """Class probabilities (N, C), columns in the order of ``classes_`` (classifiers only).

        ``return_std=True`` (Bayesian models): ``(probs, {"total", "model"})``, the standard deviations
        of the probabilities over the Monte Carlo samples.
        """
        res = self._network_outputs(x, x_err, batch_size)
        return inference.class_probabilities(self, res, return_std)

    def predict_classes(self, x: ArrayLike, batch_size: int | None = None) -> np.ndarray:
        """Index (0..C-1, into ``classes_``) of the most probable class per sample (classifiers)."""
        if self.task != "classification":
            raise InputValidationError("predict_classes is only for classification models")
        out = self.predict_proba(x, batch_size=batch_size)
        return np.argmax(out[0] if isinstance(out, tuple) else out, axis=1)

    def outside_training_range(self, y: ArrayLike) -> np.ndarray:
        """``(N, D)`` bool: True where a label value (e.g. a prediction) lies outside the range of that
        label in the training set, where the network extrapolates and its σ is not to be trusted.

        ``y`` (N, D) or (N,) in label units. Regression models keep the range from ``fit``
        (``label_range_``, saved in the model folder); folders saved before it was recorded raise
        InputValidationError.
        """
        self._check_fitted()
        if self.label_range_ is None:
            raise InputValidationError(f"{type(self).__name__} has no training label range (a classifier, or a model "
                                       "folder saved before the range was recorded)")
        return outside_range(y, self.label_range_)

    def score(self, x: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """R² (regression, averaged over outputs) or accuracy (classification), as scikit-learn's
        ``score``; missing labels are left out. Higher is better."""
        return evaluation.score(self, x, y, sample_weight)

    def evaluate(self, x: ArrayLike, y: ArrayLike, x_err: ArrayLike | None = None, y_err: ArrayLike | None = None,
                 batch_size: int | None = None) -> dict[str, Any]:
        """Metrics on labelled data, per output (astroNN's argument order: inputs, labels, inputs_err,
        labels_err).

        Regression: MAE, median absolute error, RMSE, bias, mad_std of the residuals (label units) per
        target; for Bayesian models also the z-score standard deviation (calibration, 1 is ideal) and
        the 68% coverage. Classification: accuracy, log loss and expected calibration error.
        """
        return evaluation.evaluate(self, x, y, x_err=x_err, y_err=y_err, batch_size=batch_size)

    def jacobian(self, x: ArrayLike, mean_output: bool = False, mc_num: int = 1, denormalize: bool = True,
                 batch_size: int = 64) -> np.ndarray:
        """∂prediction/∂input for every sample: (N, D_out, *input_shape), or the mean over samples with
        ``mean_output=True``. ``denormalize=True`` (default): physical units (label units per input
        unit); ``False``: normalised units (astroNN's default). ``mc_num``: average over that many
        Monte Carlo passes (1: MC layers off, the jacobian of the mean network)."""
        return gradients.jacobian(self, x, mean_output=mean_output, mc_num=mc_num, denormalize=denormalize,
                                  batch_size=batch_size)

    def hessian(self, x: ArrayLike, mean_output: bool = False, mc_num: int = 1, denormalize: bool = True,
                batch_size: int = 64) -> np.ndarray:
        """Second derivatives ∂²prediction/∂input² per sample: (N, D_out, *in, *in) (keywords as
        :meth:`jacobian`). Memory grows as the input size squared: meant for tabular inputs."""
        return gradients.hessian(self, x, mean_output=mean_output, mc_num=mc_num, denormalize=denormalize,
                                 batch_size=batch_size)

    # -------------------------------------------------------------- weights and persistence
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

    def save(self, folder: str | Path | None = None, overwrite: bool = False) -> Path:
        """Write ``model.safetensors``, ``config.json``, ``history.csv`` and ``manifest.json`` (SHA-256).

        ``folder=None``: :attr:`folder_name` if set, else a new ``astrotorch_MMDD_runNNN`` folder in
        the current directory (astroNN's scheme). The folder is built under a temporary name and
        renamed into place, so a failure never leaves a half-written model; write errors (a full disk)
        raise :class:`~astrotorch.errors.ModelFolderError` naming the folder.
        """
        return persistence.save_model(self, folder, overwrite=overwrite)

    def copy(self) -> AstroModel:
        """Deep copy (weights included; the last fit's Trainer is not copied)."""
        return copy.deepcopy(self)


# names older code imports from here
_is_missing = is_missing
_to_numpy = to_numpy
_first = first_array
_NormalizingDataset = NormalizingDataset

__all__ = ["AstroModel", "ArrayDataset", "load_folder", "deterministic_layers"]
