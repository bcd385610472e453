"""The shared machinery of the neural light-curve models (``lc_transformer``, ``lc_gru`` in
:mod:`astrotorch.models.lightcurves`): encoding curves with their period and feature inputs, datasets
and length-bucketed loaders, ``fit``/``pretrain``, the losses, inference, scoring and persistence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from astrotorch.errors import InputValidationError, NotFittedError
from astrotorch.lightcurves.batching import LengthBucketBatchSampler, LightCurveDataset, make_collate
from astrotorch.lightcurves.container import LightCurveSet
from astrotorch.lightcurves.labels import (
    as_lightcurve_set,
    classes_from_json,
    classes_to_json,
    encode_classes,
    fit_classes,
)
from astrotorch.lightcurves.normalisation import EncodeOptions, encode_many
from astrotorch.lightcurves.periods import PeriodOptions, period_table, physics_names, physics_vector
from astrotorch.models.base import AstroModel
from astrotorch.models.labels import label_range
from astrotorch.models.lightcurve_losses import kl_sparsity_rmse, loss_fn
from astrotorch.models.lightcurve_scoring import lightcurve_evaluate, lightcurve_score
from astrotorch.models.lightcurve_training import (
    STATIC_CLIP,
    _best_weights_callback,
    _feature_input_names,
    _masked_collate,
    _regression_targets,
    robust_standardiser,
)
from astrotorch.nn.normalizer import Normalizer


class LightCurveNetworkModel(AstroModel):
    """Shared machinery of the neural light-curve models (not registered itself).

    Light-curve keywords
    --------------------
    period_inputs: compute each curve's Lomb–Scargle period (alias-refined), power and phase-folded
        Fourier shape per band, and feed them through the static branch (default on; cached per curve).
    period_min, period_max: period search range in days (``period_max=None``: half the time span).
    feature_inputs: also feed the features model's light-curve statistics (per-band amplitude, skew,
        S/N, colours, rise/decline times) and Bazin transient fit (rise/fall times, peak magnitude per
        band) through the static branch (default on; cached per curve).
    fold: per-observation phase features sin/cos(2π t / P) at the searched period (or
        ``meta["period"]`` when ``period_inputs`` is off).
    restore_best: end training with the weights of the epoch of lowest validation loss.
    progress: the base class's setting (``"auto"``, ``"bar"``, ``"epoch"``, ``"none"``); anything but
        ``"none"`` also shows a tqdm bar while many curves' periods and features are computed.
    norm: per-light-curve normalisation, ``"shared"`` (one flux scale per object, keeps colours),
        ``"minmax"`` (the seed's per-band min–max) or ``"none"``.
    rest_frame: divide times by (1 + z) from ``meta["redshift"]`` (time dilation).
    meta_keys: metadata appended to the static inputs (e.g. ``("redshift", "mwebv")``).
    max_length: thin curves longer than this for the sequence (evenly; ``None`` keeps all points);
        the period search always uses every point.
    first_days: train/predict on the first N days after the first ≥5σ detection (early classification).
    bucket: length-bucketed batches (fast); ``False`` gives plain random batches.
    padding: ``"batch"`` (pad to the batch's longest curve) or ``"dataset"`` (pad every batch to the
        dataset's longest curve: the straightforward implementation, kept for the speed benchmark).
    loss: regression loss name (``mse``, ``msle``, ``huber``, ``mae``, ``log_cosh``, ``rmse``) and the
        pretraining reconstruction loss (plus ``kl_sparsity_rmse``).
    weight_by_error: weight reconstruction terms by 1/σ² of the observation (normalised to mean 1),
        and regression terms by 1/σ² of the label when ``y_err`` is given.
    class_weight: ``"balanced"`` (inverse class frequency) or ``None``.
    """

    # fitted state (class-level defaults: __init__ stores hyper-parameters only, as scikit-learn wants)
    bands_: tuple[str, ...] | None = None
    class_weights_: np.ndarray | None = None
    static_names_: list[str] | None = None
    static_center_: np.ndarray | None = None
    static_scale_: np.ndarray | None = None
    pretrain_history: Any = None
    _stage: str = "supervised"
    _pad_to: int | None = None
    _pretrained: dict[str, torch.Tensor] | None = None
    _pretrain_cfg: tuple[float, int] = (0.3, 0)

    def __init__(self, *, period_inputs: bool = True, period_min: float = 0.1, period_max: float | None = None,
                 feature_inputs: bool = True, fold: bool = True, restore_best: bool = True,
                 norm: str = "shared", rest_frame: bool = False, meta_keys: Sequence[str] = (),
                 max_length: int | None = 200, first_days: float | None = None,
                 bucket: bool = True, padding: str = "batch", loss: str = "mse", weight_by_error: bool = False,
                 class_weight: str | None = "balanced", lr: float = 2e-3, batch_size: int = 32,
                 max_epochs: int = 40, val_size: float = 0.15, input_norm_mode: int = 0,
                 task: str = "classification", early_stopping_patience: int | None = 8, **kwargs: Any) -> None:
        super().__init__(lr=lr, batch_size=batch_size, max_epochs=max_epochs, val_size=val_size,
                         input_norm_mode=input_norm_mode, task=task,
                         early_stopping_patience=early_stopping_patience, **kwargs)
        self.period_inputs = period_inputs
        self.feature_inputs = feature_inputs
        self.period_min = period_min
        self.period_max = period_max
        self.fold = fold
        self.restore_best = restore_best
        self.norm = norm
        self.rest_frame = rest_frame
        self.meta_keys = meta_keys
        self.max_length = max_length
        self.first_days = first_days
        self.bucket = bucket
        self.padding = padding
        self.loss = loss
        self.weight_by_error = weight_by_error
        self.class_weight = class_weight
        if padding not in ("batch", "dataset"):
            raise InputValidationError(f"padding must be 'batch' or 'dataset', got {padding!r}")
        if class_weight not in (None, "balanced"):
            raise InputValidationError(f"class_weight must be 'balanced' or None, got {class_weight!r}")
        loss_fn(loss)  # validate early
        _ = self.encode_options  # the property validates norm
        if period_inputs:
            _ = self.period_options  # the property validates the range

    @property
    def encode_options(self) -> EncodeOptions:
        """How light curves become network inputs (from the current hyper-parameters)."""
        return EncodeOptions(norm=self.norm, rest_frame=self.rest_frame, meta_keys=tuple(self.meta_keys),
                             fold=self.fold, max_length=self.max_length)

    @property
    def period_options(self) -> PeriodOptions:
        """The period search's settings (from ``period_min``/``period_max``)."""
        return PeriodOptions(min_period=float(self.period_min),
                             max_period=None if self.period_max is None else float(self.period_max))

    # ----------------------------------------------------------------------------- data
    def _curves(self, x: Any) -> LightCurveSet:
        curves = as_lightcurve_set(x)
        if self.bands_ is not None and curves.bands != self.bands_:
            missing = set(curves.bands) - set(self.bands_)
            if missing:
                raise InputValidationError(f"bands {sorted(missing)} were not seen in training (bands {self.bands_})")
            curves = LightCurveSet(list(curves), bands=self.bands_, class_names=curves.class_names)
        if self.first_days is not None:
            curves = curves.first_days(self.first_days, since="detection")
        return curves

    def _static_names(self, bands: Sequence[str]) -> list[str]:
        names = ["scale_mag", "log1p_n_obs", "log1p_duration"] + [f"meta_{k}" for k in self.meta_keys]
        if self.period_inputs:
            names += physics_names(bands)
        if self.feature_inputs:
            names += _feature_input_names(bands)
        return names

    def _encode(self, curves: LightCurveSet, fitting: bool = False) -> list[dict[str, np.ndarray]]:
        """Encoded curves with standardised static inputs (statistics fitted when ``fitting``)."""
        periods = phys = None
        if self.period_inputs:
            table, names = period_table(curves, self.bands_, self.period_options, progress=self.progress != "none")
            phys, _ = physics_vector(table, names)
            periods = table[:, names.index("period")]
        enc = encode_many(curves, self.encode_options, periods if self.fold else None)
        static = np.stack([e["static"] for e in enc]).astype(np.float64)
        if phys is not None:
            static = np.hstack([static, phys])
        if self.feature_inputs:
            from astrotorch.lightcurves.features import feature_matrix

            X, names = feature_matrix(curves, self.bands_, periodogram=False, progress=self.progress != "none")
            static = np.hstack([static, X[:, [names.index(n) for n in _feature_input_names(self.bands_)]]])
        if fitting:
            self.static_center_, self.static_scale_ = robust_standardiser(static)
        z = np.nan_to_num((static - self.static_center_) / self.static_scale_, nan=0.0)
        z = np.clip(z, -STATIC_CLIP, STATIC_CLIP).astype(np.float32)
        for e, row in zip(enc, z):
            e["static"] = row
        return enc

    def _setup_shapes(self, curves: LightCurveSet) -> None:
        self.bands_ = curves.bands
        self.static_names_ = self._static_names(self.bands_)
        F, S = self.encode_options.n_obs_features, len(self.static_names_)
        self.input_shape = {"obs": (F,), "static": (S,), "band": (len(self.bands_),)}
        # the base class wants an input normaliser; per-curve normalisation makes it the identity
        self._input_norm = {"obs": Normalizer(mode=0).fit(np.zeros((1, F), np.float32))}

    def _labels(self, curves: LightCurveSet, y: Any, fitting: bool) -> np.ndarray:
        if self.task == "classification":
            if fitting and self._classes is None:
                idx, self._classes = fit_classes(curves, y)
                # the class names, as the run reports and prediction tables read them (set at fit, as before)
                self.targetname = [str(c) for c in self._classes.tolist()]
                return idx
            labels = curves.labels() if y is None else np.asarray(y).reshape(len(curves), -1)[:, 0]
            return encode_classes(labels, self._classes)
        return _regression_targets(curves, y).astype(np.float32)

    def make_dataset(self, x: Any, y: Any, y_err: Any = None, sample_weight: Any = None) -> Dataset:
        """``x`` is a list of encoded light curves here (see :meth:`fit`)."""
        dtype = torch.long if self.task == "classification" else torch.float32
        return LightCurveDataset(x, y, y_err, sample_weight, y_dtype=dtype)

    def collate_fn(self) -> Any:
        base = make_collate(self._pad_to if self.padding == "dataset" else None)
        if self._stage == "pretrain":
            return _masked_collate(base, *self._pretrain_cfg)
        return base

    def make_dataloader(self, ds: Dataset, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        bs = batch_size or self.batch_size
        if isinstance(ds, Subset):
            lengths = ds.dataset.lengths[np.asarray(ds.indices)]  # type: ignore[attr-defined]
        else:
            lengths = ds.lengths  # type: ignore[attr-defined]
        if self.bucket:
            sampler = LengthBucketBatchSampler(lengths, bs, shuffle=shuffle, seed=self.seed)
            return DataLoader(ds, batch_sampler=sampler, collate_fn=self.collate_fn(), num_workers=self.num_workers)
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(ds, batch_size=bs, shuffle=shuffle, collate_fn=self.collate_fn(),
                          num_workers=self.num_workers, generator=gen if shuffle else None)

    # ----------------------------------------------------------------------------- training
    def _trainer_callbacks(self) -> list[Any]:
        cbs = super()._trainer_callbacks()
        if self.restore_best and self._has_val:
            cbs.append(_best_weights_callback())
        return cbs

    def fit(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None, sample_weight: Any = None,
            ckpt_path: str | None = None, warm_start: bool = False, *, freeze_encoder: bool = False,
            callbacks: list[Any] | None = None, logger: Any = None, trainer_kwargs: dict[str, Any] | None = None
            ) -> LightCurveNetworkModel:
        """Train on light curves ``x`` (labels from the curves when ``y`` is None for classification).

        After :meth:`pretrain`, the encoder starts from the pretrained weights (``freeze_encoder``
        keeps them fixed and trains only the head). ``callbacks``, ``logger`` and ``trainer_kwargs`` go
        to the ``lightning.Trainer`` (as for every AstroModel); the global random generators are
        seeded from ``seed`` for the duration of the call only.
        """
        warm = warm_start and self.network is not None
        if not warm:
            self._classes = None
        curves = self._curves(x)
        labels = self._labels(curves, y, fitting=True)
        if not warm:
            self._setup_shapes(curves)
        enc = self._encode(curves, fitting=not warm)
        self._pad_to = max(e["time"].shape[0] for e in enc)
        w = None if sample_weight is None else np.asarray(sample_weight, np.float32).ravel()
        err = None
        if self.task == "classification":
            n_classes = len(self._classes)
            self.output_dim = n_classes
            if self.class_weight == "balanced":
                counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
                cw = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
                self.class_weights_ = cw.astype(np.float32)
            else:
                self.class_weights_ = None
            yn = labels
            self._label_norm = Normalizer(mode=0).fit(np.zeros((1, 1), np.float32))
        else:
            self.output_dim = labels.shape[1]
            if not warm or self._label_norm is None:
                self._label_norm = Normalizer(mode=self.labels_norm_mode).fit(labels)
            self.label_range_ = label_range(labels, self.label_range_ if warm else None)
            yn = np.asarray(self._label_norm.transform(labels), np.float32)
            if y_err is not None:
                e = np.asarray(y_err, np.float32).reshape(labels.shape)
                err = self._scale_errors(e)
        ds = self.make_dataset(enc, yn, err, w)
        train_ds, val_ds = self._split(ds)
        if not warm:
            self.network = self.build_network(self.input_shape, int(self.output_dim))
            if self._pretrained is not None:
                self._load_pretrained(freeze_encoder)
        self._stage = "supervised"
        self._set_n_features_in()
        self._fit_lightning(train_ds, val_ds, ckpt_path, callbacks=callbacks, logger=logger,
                            trainer_kwargs=trainer_kwargs)
        return self

    def _load_pretrained(self, freeze: bool) -> None:
        own = self.network.state_dict()
        loaded = []
        for k, v in self._pretrained.items():
            if k.startswith(("head.", "static_mlp.")) or k not in own or own[k].shape != v.shape:
                continue
            own[k] = v.clone()
            loaded.append(k)
        self.network.load_state_dict(own)
        if freeze:
            names = set(loaded)
            for k, p in self.network.named_parameters():
                if k in names:
                    p.requires_grad_(False)

    def pretrain(self, x: Any, max_epochs: int = 10, mask_fraction: float = 0.3) -> LightCurveNetworkModel:
        """Self-supervised pretraining: hide ``mask_fraction`` of the observations and reconstruct
        their normalised fluxes at their real times and bands (loss ``self.loss``; with
        ``weight_by_error`` each term is weighted by 1/σ²). Labels are not needed. The learned encoder
        weights are kept for the next :meth:`fit`."""
        from astrotorch.train.trainer import isolated_rng

        if not hasattr(self.build_network(self._dummy_shape(), 1), "reconstruct"):
            raise InputValidationError(f"{type(self).__name__} has no reconstruction head to pretrain")
        if not 0.0 < mask_fraction < 1.0:
            raise InputValidationError(f"mask_fraction must be in (0, 1), got {mask_fraction}")
        with self._restore_on_failure(), isolated_rng(self.seed):
            curves = self._curves(x)
            self._setup_shapes(curves)
            enc = self._encode(curves, fitting=True)
            self._pad_to = max(e["time"].shape[0] for e in enc)
            ds = LightCurveDataset(enc)
            train_ds, val_ds = self._split(ds)
            self.network = self.build_network(self.input_shape, 1)
            self._stage = "pretrain"
            self._pretrain_cfg = (mask_fraction, self.seed)
            try:
                self._fit_lightning(train_ds, val_ds, None, max_epochs=max_epochs)
            finally:
                self._stage = "supervised"
        self.pretrain_history = self.history
        self._pretrained = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        self.network = None  # the supervised network is built (with these weights) by fit
        return self

    def _dummy_shape(self) -> dict[str, tuple[int, ...]]:
        bands = self.bands_ or ("b",)
        return {"obs": (self.encode_options.n_obs_features,), "static": (len(self._static_names(bands)),),
                "band": (len(bands),)}

    def compute_loss(self, batch: dict[str, Any], output: Any) -> torch.Tensor:
        from astrotorch.nn import losses

        if self._stage == "pretrain":
            x = batch["x"]
            hide = x["recon_mask"]
            target = batch["recon_target"][hide].unsqueeze(-1)
            pred = output["recon"][hide].unsqueeze(-1)
            w = None
            if self.weight_by_error:
                w = 1.0 / batch["recon_err"][hide].clamp_min(1e-3) ** 2
                w = w / w.mean()
            if self.loss == "kl_sparsity_rmse":
                latent = self.network.encode({k: v for k, v in x.items()})
                return kl_sparsity_rmse(target, pred, latent, sample_weight=w, valid=x["mask"])
            return loss_fn(self.loss)(target, pred, w)
        y = batch["y"]
        w = batch.get("weight")
        if self.task == "classification":
            if self.class_weights_ is not None:
                cw = torch.as_tensor(self.class_weights_, device=y.device)[y.clamp_min(0)]
                w = cw if w is None else w * cw
            return losses.categorical_crossentropy(y, output, sample_weight=w, from_logits=True) + \
                self.regularization_loss()
        if self.weight_by_error and batch.get("y_err") is not None:
            ew = 1.0 / (1.0 + batch["y_err"].mean(-1) ** 2)  # label σ in normalised units
            w = ew if w is None else w * ew
        return loss_fn(self.loss)(y, output, w) + self.regularization_loss()

    # ----------------------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if self.network is None or self.bands_ is None or self.static_center_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load_folder() first")

    def _raw_outputs(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        self._check_fitted()
        curves = self._curves(x)
        enc = self._encode(curves)
        ds = LightCurveDataset(enc)
        bs = batch_size or max(self.batch_size, 128)
        sampler = LengthBucketBatchSampler(ds.lengths, bs, shuffle=False)  # sorted: least padding
        collate = make_collate()
        device = self._inference_device()
        net = self.network.to(device)
        net.eval()
        out = np.zeros((len(ds), int(self.output_dim)), np.float32)
        with torch.inference_mode():
            for idx in sampler:
                batch = collate([ds[i] for i in idx])
                xb = {k: v.to(device) for k, v in batch["x"].items()}
                o = net(xb)
                if self.task == "classification":
                    o = torch.softmax(o.float(), -1)
                out[np.asarray(idx)] = o.float().cpu().numpy()
        return out

    def predict_proba(self, x: Any, x_err: Any = None, batch_size: int | None = None,
                      return_std: bool = False) -> np.ndarray:
        """Class probabilities (N, C), columns in ``classes_`` order (classifiers only). These networks
        are not Bayesian: ``return_std=True`` is refused."""
        if self.task != "classification":
            raise InputValidationError("predict_proba is only for classification models (task='classification')")
        if return_std:
            raise InputValidationError(f"{type(self).__name__} is not Bayesian: predict_proba has no return_std")
        return self._raw_outputs(x, batch_size)

    def predict(self, x: Any, x_err: Any = None, batch_size: int | None = None) -> np.ndarray:
        """Classification: the predicted label of every curve (values of ``classes_``).
        Regression: values (N, D) in physical units."""
        if self.task == "classification":
            probs = self.predict_proba(x, batch_size=batch_size)  # checks that the model is fitted
            return self.classes_[probs.argmax(1)]
        out = self._raw_outputs(x, batch_size)
        return np.asarray(self._label_norm.denormalize(out), np.float32)

    def predict_classes(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Index into ``classes_`` of the most probable class of every curve."""
        return self.predict_proba(x, batch_size=batch_size).argmax(1)

    def score(self, x: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Classification: accuracy (labels from the curves when ``y`` is None). Regression: R²
        (``sklearn.metrics.r2_score``, averaged over targets), as scikit-learn's estimators score."""
        return lightcurve_score(self, x, y, sample_weight)

    def evaluate(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None,
                 batch_size: int | None = None) -> dict[str, Any]:
        """Classification: accuracy, macro-F1, PLAsTiCC-weighted log loss, confusion matrix, AUCs.
        Regression: MAE, median absolute error, RMSE, bias and NMAD of the residuals per target
        (astroNN's argument order: inputs, labels, inputs_err, labels_err)."""
        return lightcurve_evaluate(self, x, y, batch_size)

    def fit_on_batch(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None,
                     sample_weight: Any = None) -> LightCurveNetworkModel:
        """One epoch over ``x`` as a single batch, keeping the current weights when fitted."""
        saved = (self.max_epochs, self.val_size, self.batch_size)
        try:
            self.max_epochs, self.val_size, self.batch_size = 1, 0.0, len(as_lightcurve_set(x))
            self.fit(x, y, y_err=y_err, sample_weight=sample_weight, warm_start=self.network is not None)
        finally:
            self.max_epochs, self.val_size, self.batch_size = saved
            self._has_val = self.val_size > 0
        return self

    def jacobian(self, x: Any, mean_output: bool = False, batch_size: int = 64) -> np.ndarray:
        raise InputValidationError("jacobian is not defined for variable-length light-curve inputs")

    def hessian(self, x: Any, mean_output: bool = False) -> np.ndarray:
        raise InputValidationError("hessian is not defined for variable-length light-curve inputs")

    # ----------------------------------------------------------------------------- persistence
    def extra_state(self) -> dict[str, Any]:
        def floats(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else [float(v) for v in a]

        return {"bands": list(self.bands_ or ()), "classes": classes_to_json(self._classes),
                "class_weights": floats(self.class_weights_), "static_names": self.static_names_,
                "static_center": floats(self.static_center_), "static_scale": floats(self.static_scale_)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        from astrotorch.errors import ModelFolderError

        self.bands_ = tuple(state.get("bands") or ())
        self._classes = classes_from_json(state.get("classes"))
        cw = state.get("class_weights")
        self.class_weights_ = None if cw is None else np.asarray(cw, np.float32)
        self.static_names_ = state.get("static_names")
        center, scale = state.get("static_center"), state.get("static_scale")
        n = len(self.static_names_ or ())
        for key, val in (("static_center", center), ("static_scale", scale)):
            arr = np.asarray(val if val is not None else [], np.float64)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ModelFolderError(f"config.json: {key} must be {n} finite numbers (one per static input)")
        self.static_center_ = np.asarray(center, np.float64)
        self.static_scale_ = np.asarray(scale, np.float64)
        if self.task == "classification" and self._classes is None:
            raise ModelFolderError("config.json: a light-curve classifier needs its 'classes'")

    @staticmethod
    def _dims(input_shape: dict[str, tuple[int, ...]]) -> tuple[int, int, int]:
        return int(input_shape["band"][0]), int(input_shape["obs"][0]), int(input_shape["static"][0])

