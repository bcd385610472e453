"""Light-curve models on the AstroModel API: ``lc_transformer``, ``lc_gru`` and ``lc_features``.

Inputs are :class:`~astrotorch.lightcurves.LightCurveSet` objects (or lists of
:class:`~astrotorch.lightcurves.LightCurve`), never resampled: each light curve is normalised on its
own (``norm="shared"`` keeps colours, see :mod:`astrotorch.lightcurves.normalisation`), so the base
class's input normaliser is mode 0. Batches are padded only to the longest curve in the batch and,
with ``bucket=True``, built from curves of similar length (:class:`LengthBucketBatchSampler`).

Labels: for classification ``y`` may be omitted (the curves' labels are used, classes named by
``LightCurveSet.class_names``); class imbalance is handled by ``class_weight="balanced"`` (inverse
frequency weights in the loss). Regression ``y`` is (N, D) in physical units, normalised with
``labels_norm_mode``; the loss is chosen by name (``mse``, ``msle``, ``huber``, ``mae``,
``log_cosh``, ``rmse``). ``first_days`` trains and predicts on the first N days after the first ≥5σ
detection (early classification).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from astrotorch.errors import InputValidationError, NotFittedError, ShapeMismatchError
from astrotorch.lightcurves.batching import LengthBucketBatchSampler, LightCurveDataset, make_collate
from astrotorch.lightcurves.container import LightCurve, LightCurveSet, check_nonempty
from astrotorch.lightcurves.normalisation import EncodeOptions, encode_many
from astrotorch.models.base import AstroModel
from astrotorch.models.registry import register_model
from astrotorch.nn.normalizer import Normalizer

REGRESSION_LOSSES = ("mse", "msle", "huber", "mae", "log_cosh", "rmse", "kl_sparsity_rmse")


# ---------------------------------------------------------------------------------------------- losses
def rmse(y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Root of the (missing-aware, weighted) mean squared error."""
    from astrotorch.nn import losses

    mse = losses.mean_squared_error(y_true, y_pred, sample_weight)
    return torch.sqrt(mse + 1e-12)


def kl_sparsity_penalty(latent: torch.Tensor, rho: float = 0.05, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the mean sigmoid activation of latent unit j (sparse autoencoder)."""
    act = torch.sigmoid(latent)
    if valid is not None:
        act = act[valid]
    rho_hat = act.reshape(-1, act.shape[-1]).mean(0).clamp(1e-6, 1 - 1e-6)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_sparsity_rmse(y_true: torch.Tensor, y_pred: torch.Tensor, latent: torch.Tensor, rho: float = 0.05,
                     beta: float = 1e-3, sample_weight: torch.Tensor | None = None,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """The seed autoencoder's loss: RMSE + β · KL sparsity penalty on the latent activations."""
    return rmse(y_true, y_pred, sample_weight) + beta * kl_sparsity_penalty(latent, rho, valid)


def _loss_fn(name: str):
    from astrotorch.nn import losses

    if name == "rmse":
        return rmse
    if name == "kl_sparsity_rmse":  # without a latent (supervised heads) it reduces to RMSE
        return rmse
    if name not in REGRESSION_LOSSES:
        raise InputValidationError(f"unknown loss {name!r}; choose from {REGRESSION_LOSSES}")
    return losses.get_loss(name)


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


def class_labels(curves: LightCurveSet, y: Any, targetname: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    """Integer class of every curve and the class names: from the curves' labels when ``y`` is None,
    else from ``y`` (class names → indices through ``targetname``, set from sorted names if None)."""
    if y is None:
        idx = curves.class_indices()
        if targetname is None:
            targetname = [str(c) for c in curves.class_names]
    else:
        ya = np.asarray(y)
        if ya.dtype.kind in "USO":
            if targetname is None:
                targetname = sorted(set(map(str, ya.tolist())))
            lookup = {c: i for i, c in enumerate(targetname)}
            try:
                idx = np.array([lookup[str(v)] for v in ya.tolist()], np.int64)
            except KeyError as exc:
                raise InputValidationError(f"label {exc.args[0]!r} not in classes {targetname}") from exc
        else:
            idx = ya.astype(np.int64).ravel()
    if idx.shape[0] != len(curves):
        raise ShapeMismatchError(f"{idx.shape[0]} labels for {len(curves)} light curves")
    return idx, targetname


def _masked_collate(base_collate, fraction: float, seed: int):
    """Collate that hides a random ``fraction`` (≥ 1 per curve) of real observations for pretraining."""
    gen = torch.Generator().manual_seed(seed)

    def collate(items):
        batch = base_collate(items)
        x = batch["x"]
        r = torch.rand(x["mask"].shape, generator=gen)
        hide = (r < fraction) & x["mask"]
        # make sure every curve hides at least one point and keeps at least one visible
        first = torch.zeros_like(hide)
        first[torch.arange(hide.shape[0]), (r.masked_fill(~x["mask"], 2.0)).argmin(1)] = True
        hide = hide | (first & x["mask"])
        all_hidden = (hide == x["mask"]).all(1) & (x["length"] > 1)
        if all_hidden.any():
            keep = (r.masked_fill(~x["mask"], -1.0)).argmax(1)
            hide[all_hidden, keep[all_hidden]] = False
        x["recon_mask"] = hide
        batch["recon_target"] = x["obs"][..., 0].clone()
        batch["recon_err"] = x["obs"][..., 1].clone()
        return batch

    return collate


# ---------------------------------------------------------------------------------------------- base
class LightCurveNetworkModel(AstroModel):
    """Shared machinery of the neural light-curve models (not registered itself).

    Light-curve keywords
    --------------------
    norm: per-light-curve normalisation, ``"shared"`` (one flux scale per object, keeps colours),
        ``"minmax"`` (the seed's per-band min–max) or ``"none"``.
    rest_frame: divide times by (1 + z) from ``meta["redshift"]`` (time dilation).
    meta_keys: metadata appended to the static inputs (e.g. ``("redshift", "mwebv")``).
    fold: add sin/cos phase features from ``meta["period"]`` (days), a physics-informed input.
    max_length: thin curves longer than this (evenly; ``None`` keeps all points).
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

    def __init__(self, *, norm: str = "shared", rest_frame: bool = False, meta_keys: Sequence[str] = (),
                 fold: bool = False, max_length: int | None = None, first_days: float | None = None,
                 bucket: bool = True, padding: str = "batch", loss: str = "mse", weight_by_error: bool = False,
                 class_weight: str | None = "balanced", lr: float = 1e-3, input_norm_mode: int = 0,
                 task: str = "classification", early_stopping_patience: int | None = 6,
                 **kwargs: Any) -> None:
        super().__init__(lr=lr, input_norm_mode=input_norm_mode, task=task,
                         early_stopping_patience=early_stopping_patience, **kwargs)
        self.norm = norm
        self.rest_frame = rest_frame
        self.meta_keys = tuple(meta_keys)
        self.fold = fold
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
        _loss_fn(loss)  # validate early
        self.encode_options  # validates norm
        self.bands_: tuple[str, ...] | None = None
        self.class_weights_: np.ndarray | None = None
        self._stage = "supervised"
        self._pad_to: int | None = None
        self._pretrained: dict[str, torch.Tensor] | None = None
        self._pretrain_cfg: tuple[float, int] = (0.3, 0)

    @property
    def encode_options(self) -> EncodeOptions:
        """How light curves become network inputs (from the current hyper-parameters)."""
        return EncodeOptions(norm=self.norm, rest_frame=self.rest_frame, meta_keys=tuple(self.meta_keys),
                             fold=self.fold, max_length=self.max_length)

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

    def _encode(self, curves: LightCurveSet) -> list[dict[str, np.ndarray]]:
        return encode_many(curves, self.encode_options)

    def _setup_shapes(self, curves: LightCurveSet) -> None:
        self.bands_ = curves.bands
        F, S = self.encode_options.n_obs_features, self.encode_options.n_static
        self.input_shape = {"obs": (F,), "static": (S,), "band": (len(self.bands_),)}
        # the base class wants an input normaliser; per-curve normalisation makes it the identity
        self._input_norm = {"obs": Normalizer(mode=0).fit(np.zeros((1, F), np.float32))}

    def _labels(self, curves: LightCurveSet, y: Any) -> np.ndarray:
        if self.task == "classification":
            idx, self.targetname = class_labels(curves, y, self.targetname)
            return idx
        if y is None:
            raise InputValidationError("regression needs targets y (N, D)")
        ya = np.asarray(y, dtype=np.float32)
        ya = ya[:, None] if ya.ndim == 1 else ya
        if ya.shape[0] != len(curves):
            raise ShapeMismatchError(f"{ya.shape[0]} targets for {len(curves)} light curves")
        return ya

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
    def fit(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None, sample_weight: Any = None,
            ckpt_path: str | None = None, warm_start: bool = False, freeze_encoder: bool = False
            ) -> "LightCurveNetworkModel":
        """Train on light curves ``x`` (labels from the curves when ``y`` is None for classification).

        After :meth:`pretrain`, the encoder starts from the pretrained weights (``freeze_encoder``
        keeps them fixed and trains only the head).
        """
        import lightning as L

        L.seed_everything(self.seed, workers=True, verbose=False)
        curves = self._curves(x)
        labels = self._labels(curves, y)
        if not warm_start or self.network is None:
            self._setup_shapes(curves)
        enc = self._encode(curves)
        self._pad_to = max(e["time"].shape[0] for e in enc)
        w = None if sample_weight is None else np.asarray(sample_weight, np.float32).ravel()
        err = None
        if self.task == "classification":
            n_classes = max(int(labels.max()) + 1, len(self.targetname or []))
            self.output_dim = n_classes
            if n_classes < 2:
                raise InputValidationError("classification needs at least two classes")
            if self.class_weight == "balanced":
                counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
                cw = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
                self.class_weights_ = cw.astype(np.float32)
            else:
                self.class_weights_ = None
            yn = labels
        else:
            self.output_dim = labels.shape[1]
            if not warm_start or self._label_norm is None:
                self._label_norm = Normalizer(mode=self.labels_norm_mode).fit(labels)
            yn = np.asarray(self._label_norm.transform(labels), np.float32)
            if y_err is not None:
                e = np.asarray(y_err, np.float32).reshape(labels.shape)
                err = self._scale_errors(e)
        if self.task == "classification":
            self._label_norm = Normalizer(mode=0).fit(np.zeros((1, 1), np.float32))
        ds = self.make_dataset(enc, yn, err, w)
        train_ds, val_ds = self._split(ds)
        if self.network is None or not warm_start:
            self.network = self.build_network(self.input_shape, int(self.output_dim))
            if self._pretrained is not None:
                self._load_pretrained(freeze_encoder)
        self._stage = "supervised"
        self._fit_lightning(train_ds, val_ds, ckpt_path)
        return self

    def _load_pretrained(self, freeze: bool) -> None:
        own = self.network.state_dict()
        loaded = []
        for k, v in self._pretrained.items():
            if k.startswith(("head.", "static_proj.")) or k not in own or own[k].shape != v.shape:
                continue
            own[k] = v.clone()
            loaded.append(k)
        self.network.load_state_dict(own)
        if freeze:
            names = set(loaded)
            for k, p in self.network.named_parameters():
                if k in names:
                    p.requires_grad_(False)

    def pretrain(self, x: Any, max_epochs: int = 10, mask_fraction: float = 0.3) -> "LightCurveNetworkModel":
        """Self-supervised pretraining: hide ``mask_fraction`` of the observations and reconstruct
        their normalised fluxes at their real times and bands (loss ``self.loss``; with
        ``weight_by_error`` each term is weighted by 1/σ²). Labels are not needed. The learned encoder
        weights are kept for the next :meth:`fit`."""
        import lightning as L

        if not hasattr(self.build_network(self._dummy_shape(), 1), "reconstruct"):
            raise InputValidationError(f"{type(self).__name__} has no reconstruction head to pretrain")
        if not 0.0 < mask_fraction < 1.0:
            raise InputValidationError(f"mask_fraction must be in (0, 1), got {mask_fraction}")
        L.seed_everything(self.seed, workers=True, verbose=False)
        curves = self._curves(x)
        self._setup_shapes(curves)
        enc = self._encode(curves)
        self._pad_to = max(e["time"].shape[0] for e in enc)
        ds = LightCurveDataset(enc)
        train_ds, val_ds = self._split(ds)
        self.network = self.build_network(self.input_shape, 1)
        self._stage = "pretrain"
        self._pretrain_cfg = (mask_fraction, self.seed)
        saved_epochs = self.max_epochs
        try:
            self.max_epochs = max_epochs
            self._fit_lightning(train_ds, val_ds, None)
        finally:
            self.max_epochs = saved_epochs
            self._stage = "supervised"
        self.pretrain_history = self.history
        self._pretrained = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        self.network = None  # the supervised network is built (with these weights) by fit
        return self

    def _dummy_shape(self) -> dict[str, tuple[int, ...]]:
        return {"obs": (self.encode_options.n_obs_features,), "static": (self.encode_options.n_static,),
                "band": (max(len(self.bands_ or ()), 1),)}

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
            return _loss_fn(self.loss)(target, pred, w)
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
        return _loss_fn(self.loss)(y, output, w) + self.regularization_loss()

    # ----------------------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if self.network is None or self.bands_ is None:
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

    def predict(self, x: Any, x_err: Any = None, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (N, C) or regression values (N, D) in physical units."""
        out = self._raw_outputs(x, batch_size)
        if self.task == "classification":
            return out
        return np.asarray(self._label_norm.denormalize(out), np.float32)

    def predict_classes(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        if self.task != "classification":
            raise InputValidationError("predict_classes is only for classification models")
        return self.predict(x, batch_size=batch_size).argmax(1)

    def evaluate(self, x: Any, y: Any = None, y_err: Any = None, batch_size: int | None = None) -> dict[str, Any]:
        """Classification: accuracy, macro-F1, PLAsTiCC-weighted log loss, confusion matrix, AUCs.
        Regression: MAE, median absolute error, RMSE, bias and NMAD of the residuals per target."""
        from astrotorch.lightcurves.metrics import classification_report, nmad

        curves = as_lightcurve_set(x)
        pred = self.predict(curves, batch_size=batch_size)
        if self.task == "classification":
            names = self.targetname
            if y is None:
                lookup = {c: i for i, c in enumerate(names)}
                yy = np.array([lookup[str(v)] for v in curves.labels().tolist()])
            else:
                yy = self._labels(curves, y)
            return classification_report(yy, pred, names)
        yy = self._labels(curves, y)
        res = {}
        for j, name in enumerate(self.targetname or [f"label_{j}" for j in range(yy.shape[1])]):
            r = pred[:, j] - yy[:, j]
            r = r[np.isfinite(r)]
            res[name] = {"n": int(r.size), "mae": float(np.mean(np.abs(r))), "median_ae": float(np.median(np.abs(r))),
                         "rmse": float(np.sqrt(np.mean(r**2))), "bias": float(np.mean(r)), "nmad": nmad(r)}
        return res

    def fit_on_batch(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None,
                     sample_weight: Any = None) -> "LightCurveNetworkModel":
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
        return {"bands": list(self.bands_ or ()),
                "class_weights": None if self.class_weights_ is None else self.class_weights_.tolist()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.bands_ = tuple(state.get("bands") or ())
        cw = state.get("class_weights")
        self.class_weights_ = None if cw is None else np.asarray(cw, np.float32)

    @staticmethod
    def _dims(input_shape: dict[str, tuple[int, ...]]) -> tuple[int, int, int]:
        return int(input_shape["band"][0]), int(input_shape["obs"][0]), int(input_shape["static"][0])


@register_model
class LightCurveTransformer(LightCurveNetworkModel):
    """Transformer encoder for irregular multi-band light curves (``"lc_transformer"``).

    Band embedding + continuous-time sinusoidal encoding of the real times (days) + padding masks;
    attention or masked-mean pooling; classification (logits) or regression head; optional
    self-supervised masked-reconstruction pretraining (:meth:`pretrain`). Network:
    :class:`~astrotorch.models.arch.lightcurves.LightCurveTransformerNet`.
    """

    name = "lc_transformer"

    def __init__(self, *, d_model: int = 64, n_heads: int = 4, n_layers: int = 2, dim_feedforward: int = 128,
                 pooling: str = "attention", min_period: float = 0.1, max_period: float = 3000.0,
                 dropout_rate: float = 0.1, **kwargs: Any) -> None:
        super().__init__(dropout_rate=dropout_rate, **kwargs)
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dim_feedforward = dim_feedforward
        self.pooling = pooling
        self.min_period = min_period
        self.max_period = max_period

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        from astrotorch.models.arch.lightcurves import LightCurveTransformerNet

        nb, F, S = self._dims(input_shape)
        return LightCurveTransformerNet(nb, F, S, output_dim, d_model=self.d_model, n_heads=self.n_heads,
                                        n_layers=self.n_layers, dim_feedforward=self.dim_feedforward,
                                        dropout=self.dropout_rate, pooling=self.pooling,
                                        min_period=self.min_period, max_period=self.max_period)


@register_model
class LightCurveGRU(LightCurveNetworkModel):
    """RAPID-like GRU baseline over observations in time order, packed sequences (``"lc_gru"``)."""

    name = "lc_gru"

    def __init__(self, *, hidden: int = 64, n_layers: int = 2, dropout_rate: float = 0.1, **kwargs: Any) -> None:
        super().__init__(dropout_rate=dropout_rate, **kwargs)
        self.hidden = hidden
        self.n_layers = n_layers

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        from astrotorch.models.arch.lightcurves import LightCurveGRUNet

        nb, F, S = self._dims(input_shape)
        return LightCurveGRUNet(nb, F, S, output_dim, hidden=self.hidden, n_layers=self.n_layers,
                                dropout=self.dropout_rate)


# ---------------------------------------------------------------------------------------------- features
class _FeatureStore(nn.Module):
    """Holds the training features and labels as buffers so they go into ``model.safetensors``."""

    def __init__(self, n: int = 0, f: int = 0, d: int = 1) -> None:
        super().__init__()
        self.register_buffer("features", torch.zeros(n, f, dtype=torch.float64))
        self.register_buffer("labels", torch.zeros(n, d, dtype=torch.float64))


@register_model
class LightCurveFeatures(AstroModel):
    """Feature baseline (``"lc_features"``): scikit-learn HistGradientBoosting on standard light-curve
    features (:func:`astrotorch.lightcurves.features.feature_matrix`: Lomb–Scargle period/power,
    amplitudes, colours, skew, kurtosis, rise/decline times, Bazin fit).

    Saving without pickle: scikit-learn's fitted trees have no safe (non-pickle) serialisation, so
    the saved folder stores the training *features and labels* (safetensors) and the
    hyper-parameters (JSON); loading refits the booster, which is deterministic for a fixed ``seed``
    (early stopping is off, so no random validation split), giving identical predictions.
    """

    name = "lc_features"

    def __init__(self, *, max_iter: int = 300, learning_rate: float = 0.05, max_depth: int | None = None,
                 max_leaf_nodes: int = 31, min_samples_leaf: int = 10, l2_regularization: float = 0.0,
                 class_weight: str | None = "balanced", periodogram: bool = True, bazin_fit: bool = True,
                 min_period: float = 0.1, meta_keys: Sequence[str] = (), first_days: float | None = None,
                 target_transform: str | None = None, task: str = "classification", input_norm_mode: int = 0,
                 val_size: float = 0.0, **kwargs: Any) -> None:
        super().__init__(task=task, input_norm_mode=input_norm_mode, val_size=val_size, **kwargs)
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.class_weight = class_weight
        self.periodogram = periodogram
        self.bazin_fit = bazin_fit
        self.min_period = min_period
        self.meta_keys = tuple(meta_keys)
        self.first_days = first_days
        self.target_transform = target_transform
        if target_transform not in (None, "log10"):
            raise InputValidationError(f"target_transform must be None or 'log10', got {target_transform!r}")
        self.bands_: tuple[str, ...] | None = None
        self.feature_names_: list[str] | None = None
        self._estimators: list[Any] = []

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return _FeatureStore()

    def features(self, x: Any) -> np.ndarray:
        """Feature matrix (N, F) of light curves ``x`` in this model's band set and column order."""
        from astrotorch.lightcurves.features import feature_matrix

        curves = as_lightcurve_set(x)
        if self.first_days is not None:
            curves = curves.first_days(self.first_days, since="detection")
        bands = self.bands_ or curves.bands
        X, names = feature_matrix(curves, bands, periodogram=self.periodogram, bazin_fit=self.bazin_fit,
                                  min_period=self.min_period, meta_keys=self.meta_keys)
        if self.feature_names_ is not None and names != self.feature_names_:
            raise ShapeMismatchError("feature columns differ from the training ones")
        return X

    def _make_estimator(self, col: int = 0) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        common = dict(max_iter=self.max_iter, learning_rate=self.learning_rate, max_depth=self.max_depth,
                      max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
                      l2_regularization=self.l2_regularization, early_stopping=False,
                      random_state=self.seed + col)
        if self.task == "classification":
            return HistGradientBoostingClassifier(class_weight=self.class_weight, **common)
        return HistGradientBoostingRegressor(**common)

    def _refit(self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> None:
        self._estimators = []
        if self.task == "classification":
            est = self._make_estimator()
            est.fit(X, Y[:, 0].astype(np.int64), sample_weight=w)
            self._estimators.append(est)
            return
        for j in range(Y.shape[1]):
            ok = np.isfinite(Y[:, j])
            t = np.log10(Y[ok, j]) if self.target_transform == "log10" else Y[ok, j]
            est = self._make_estimator(j)
            est.fit(X[ok], t, sample_weight=None if w is None else w[ok])
            self._estimators.append(est)

    def fit(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None, sample_weight: Any = None,
            **kwargs: Any) -> "LightCurveFeatures":
        curves = as_lightcurve_set(x)
        self.bands_ = curves.bands
        self.feature_names_ = None
        if self.task == "classification":
            labels, self.targetname = class_labels(curves, y, self.targetname)
            Y = labels[:, None].astype(np.float64)
            self.output_dim = max(int(labels.max()) + 1, len(self.targetname or []))
        else:
            if y is None:
                raise InputValidationError("regression needs targets y")
            Y = np.asarray(y, np.float64)
            Y = Y[:, None] if Y.ndim == 1 else Y
            if Y.shape[0] != len(curves):
                raise ShapeMismatchError(f"{Y.shape[0]} targets for {len(curves)} light curves")
            if self.target_transform == "log10" and np.any(Y[np.isfinite(Y)] <= 0):
                raise InputValidationError("log10 target transform needs positive targets")
            self.output_dim = Y.shape[1]
        from astrotorch.lightcurves.features import feature_matrix

        fc = curves.first_days(self.first_days, since="detection") if self.first_days is not None else curves
        X, names = feature_matrix(fc, self.bands_, periodogram=self.periodogram, bazin_fit=self.bazin_fit,
                                  min_period=self.min_period, meta_keys=self.meta_keys)
        self.feature_names_ = names
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64).ravel()
        self._refit(X, Y, w)
        store = _FeatureStore(X.shape[0], X.shape[1], Y.shape[1])
        store.features.copy_(torch.as_tensor(X))
        store.labels.copy_(torch.as_tensor(Y))
        self.network = store
        self.input_shape = {"features": (X.shape[1],)}
        self._input_norm = {"features": Normalizer(mode=0).fit(np.zeros((1, X.shape[1]), np.float32))}
        self._label_norm = None
        return self

    def _check_fitted(self) -> None:
        if not self._estimators:
            raise NotFittedError("LightCurveFeatures is not fitted: call fit() or load_folder() first")

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """Predict from a precomputed feature matrix (probabilities or physical-unit values)."""
        self._check_fitted()
        if self.task == "classification":
            est = self._estimators[0]
            p = np.zeros((X.shape[0], int(self.output_dim)))
            p[:, est.classes_.astype(int)] = est.predict_proba(X)
            return p.astype(np.float32)
        cols = [e.predict(X) for e in self._estimators]
        out = np.stack(cols, 1)
        return (10 ** out if self.target_transform == "log10" else out).astype(np.float32)

    def predict(self, x: Any, x_err: Any = None, batch_size: int | None = None) -> np.ndarray:
        self._check_fitted()
        return self.predict_features(self.features(x))

    def predict_classes(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        return self.predict(x).argmax(1)

    def evaluate(self, x: Any, y: Any = None, y_err: Any = None, batch_size: int | None = None) -> dict[str, Any]:
        from astrotorch.lightcurves.metrics import classification_report

        curves = as_lightcurve_set(x)
        pred = self.predict(curves)
        if self.task == "classification":
            lookup = {c: i for i, c in enumerate(self.targetname)}
            yy = (np.array([lookup[str(v)] for v in curves.labels().tolist()]) if y is None
                  else np.asarray(y).astype(np.int64))
            return classification_report(yy, pred, self.targetname)
        yy = np.asarray(y, np.float64).reshape(pred.shape)
        r = pred - yy
        return {"mae": np.nanmean(np.abs(r), 0).tolist(), "median_ae": np.nanmedian(np.abs(r), 0).tolist()}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"features": self.network.features.contiguous(), "labels": self.network.labels.contiguous()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        from astrotorch.errors import ModelFolderError

        if set(tensors) != {"features", "labels"}:
            raise ModelFolderError(f"lc_features weights must hold 'features' and 'labels', got {sorted(tensors)}")
        X = tensors["features"].double()
        Y = tensors["labels"].double()
        store = _FeatureStore(X.shape[0], X.shape[1], Y.shape[1])
        store.features.copy_(X)
        store.labels.copy_(Y)
        self.network = store
        self._refit(X.numpy(), Y.numpy())

    def extra_state(self) -> dict[str, Any]:
        return {"bands": list(self.bands_ or ()), "feature_names": self.feature_names_}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.bands_ = tuple(state.get("bands") or ())
        self.feature_names_ = state.get("feature_names")
        if self.feature_names_ is not None:
            self._input_norm = {"features": Normalizer(mode=0).fit(np.zeros((1, len(self.feature_names_)), np.float32))}

    def jacobian(self, x: Any, mean_output: bool = False, batch_size: int = 64) -> np.ndarray:
        raise InputValidationError("lc_features is a tree model: no jacobian")

    def hessian(self, x: Any, mean_output: bool = False) -> np.ndarray:
        raise InputValidationError("lc_features is a tree model: no hessian")


__all__ = ["LightCurveTransformer", "LightCurveGRU", "LightCurveFeatures", "LightCurveNetworkModel", "rmse",
           "kl_sparsity_rmse", "kl_sparsity_penalty", "as_lightcurve_set"]
