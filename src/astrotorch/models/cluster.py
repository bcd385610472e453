"""Galaxy-cluster masses from multi-band X-ray images plus redshift (``cluster_mass_cnn``).

Input: ``{"image": (N, H, W, B) photon counts, "redshift": (N,)}`` (channels-last as the mock
generator :func:`astrotorch.datasets.xray_clusters.make_xray_clusters` returns them); label:
``log10 M500`` (N,) or (N, 1). The counts are compressed with ``log1p`` before the (dataset-wise)
standardisation, because cluster fluxes span four orders of magnitude.

Loss choice (``loss=``): ``"mse"``, ``"mae"``, ``"huber"`` (``huber_delta`` in normalised label
units) or ``"gaussian_nll"``, for which the network also predicts a log-variance and ``predict``
returns ``(log10 M500, {"total", "model", "predictive"})`` standard deviations in dex.

Mixed precision: the network keeps its outputs in the autocast dtype, and the loss is evaluated in
float32 (``compute_loss`` casts), so ``precision="bf16-mixed"`` (Lightning) or
``torch.autocast("cpu", dtype=torch.bfloat16)`` work for every loss — the seed notebook's Gaussian NLL
failed on exactly this mix of bf16 outputs and float32 labels.

Example::

    from astrotorch.datasets.xray_clusters import make_xray_clusters
    from astrotorch.models import create_model
    d = make_xray_clusters(4000, seed=0)
    m = create_model("cluster_mass_cnn", loss="gaussian_nll", max_epochs=20)
    m.fit(d.inputs(), d.log10_m500)
    logm, sd = m.predict(test.inputs())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError
from astrotorch.models.arch.cluster import ClusterMassNet
from astrotorch.models.base import AstroModel
from astrotorch.models.data import to_numpy as _to_numpy
from astrotorch.models.hyperparams import check_bool, check_choice, check_float, check_int, check_int_sequence
from astrotorch.models.registry import register_model

LOSSES = ("mse", "mae", "huber", "gaussian_nll")


@register_model
class ClusterMassCNN(AstroModel):
    """Two-input CNN (X-ray image + redshift) → log10 M500, with a choice of loss.

    Parameters (beyond :class:`AstroModel`'s)
    -----------------------------------------
    loss: ``"mse"``, ``"mae"``, ``"huber"`` or ``"gaussian_nll"`` (predicted variance; Bayesian API).
    huber_delta: Huber threshold in normalised label units (label standard deviations).
    widths: channels of the three convolutional stages.
    hidden: width of the dense head.
    log_counts: apply ``log1p`` to the counts before normalising (recommended).
    band_fluxes: also give the dense head ``log10(1 + total counts)`` of each band over the field (the
        X-ray spectrum, i.e. temperature, and the flux): sums the convolutions would otherwise have to
        rebuild from per-pixel log counts, the quantities the M–T and M–L relations tie to mass.
    lr_schedule: ``"cosine"`` (linear warm-up over ``warmup_fraction`` of the steps, then cosine decay
        to ``min_lr_fraction·lr``; the run ends on annealed weights, no early stopping by default) or
        ``"plateau"`` (ReduceLROnPlateau, early stopping with ``early_stopping_patience``). With the
        plateau schedule the validation loss of this BatchNorm network swings by a factor of two from
        epoch to epoch, and the last epoch's weights are a lottery; the cosine schedule settles them.
    prior_correction: (Gaussian NLL only) train on the posterior that a Gaussian likelihood and the
        training set's mass distribution form together
        (:func:`astrotorch.uncertainty.prior.prior_gaussian_nll`; the distribution is a histogram of
        the training labels, ``prior_edges_``/``prior_density_``): the network's mean and σ are then
        the likelihood's centre and width, so ``predict`` returns a mass whose error does not depend
        on the true mass, also near the ends of the training range. With a plain Gaussian NLL the
        prediction is the posterior mean under the training masses: the smallest scatter, but pulled
        inwards at both ends (predicted against true has a slope below one), which biases a mass function.
    """

    name = "cluster_mass_cnn"
    channels_last_input: ClassVar[bool] = True

    @property  # type: ignore[override]
    def bayesian(self) -> bool:
        """The Bayesian (mean, σ) API applies when the network predicts a variance."""
        return self.loss == "gaussian_nll"

    def __init__(
        self,
        *,
        loss: str = "gaussian_nll",
        huber_delta: float = 1.0,
        widths: tuple[int, ...] | list[int] = (16, 32, 64),
        hidden: int = 128,
        log_counts: bool = True,
        band_fluxes: bool = True,
        lr_schedule: str = "cosine",
        warmup_fraction: float = 0.05,
        min_lr_fraction: float = 0.01,
        max_epochs: int = 20,
        lr: float = 4e-3,
        batch_size: int = 64,
        early_stopping_patience: int | None = None,
        reduce_lr_patience: int = 2,
        input_norm_mode: Any = None,
        labels_norm_mode: int | str = 2,
        mc_num: int | None = None,
        targetname: list[str] | tuple[str, ...] | None = ("log10_m500",),
        prior_correction: bool = True,
        **kwargs: Any,
    ) -> None:
        check_choice("loss", loss, LOSSES)
        check_float("huber_delta", huber_delta, 0.0, low_inclusive=False)
        check_int_sequence("widths", widths, 1)
        check_int("hidden", hidden, 1)
        check_bool("log_counts", log_counts)
        check_bool("band_fluxes", band_fluxes)
        check_choice("lr_schedule", lr_schedule, ("cosine", "plateau"))
        check_float("warmup_fraction", warmup_fraction, 0.0, 1.0, high_inclusive=False)
        check_float("min_lr_fraction", min_lr_fraction, 0.0, 1.0)
        check_bool("prior_correction", prior_correction)
        check_float("dropout_rate", kwargs.get("dropout_rate", 0.0), 0.0, 1.0, high_inclusive=False)
        dropout = float(kwargs.get("dropout_rate", 0.0))
        super().__init__(
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            early_stopping_patience=early_stopping_patience,
            reduce_lr_patience=reduce_lr_patience,
            # one mean/std for all image pixels (keeps band ratios = spectral shape), feature-wise for z
            input_norm_mode=input_norm_mode if input_norm_mode is not None else {"image": 1, "redshift": 2, "band_flux": 2},
            labels_norm_mode=labels_norm_mode,
            # without dropout every MC sample is identical: one pass is exact
            mc_num=mc_num if mc_num is not None else (1 if dropout == 0.0 else 50),
            targetname=targetname,
            **kwargs,
        )
        self.loss = loss
        self.huber_delta = huber_delta
        self.widths = widths
        self.hidden = hidden
        self.log_counts = log_counts
        self.band_fluxes = band_fluxes
        self.lr_schedule = lr_schedule
        self.warmup_fraction = warmup_fraction
        self.min_lr_fraction = min_lr_fraction
        self.prior_correction = prior_correction
        self.prior_edges_: np.ndarray | None = None
        self.prior_density_: np.ndarray | None = None

    # ------------------------------------------------------------------ hooks
    def prepare_x(self, x: Any) -> dict[str, np.ndarray]:
        if not isinstance(x, Mapping):
            raise InputValidationError(
                "cluster_mass_cnn takes a dict {'image': (N, H, W, bands) counts, 'redshift': (N,)}"
            )
        missing = {"image", "redshift"} - set(x)
        if missing:
            raise InputValidationError(f"input dict lacks {sorted(missing)} (needs 'image' and 'redshift')")
        img = _to_numpy(x["image"], "x['image']").astype(np.float32)
        if img.ndim != 4:
            raise InputValidationError(f"x['image'] must be (N, H, W, bands), got shape {img.shape}")
        if np.isfinite(img).all() and (img < 0).any():
            raise InputValidationError("x['image'] holds negative counts; pass photon counts (≥ 0)")
        flux = np.log10(1.0 + np.clip(img, 0.0, None).sum(axis=(1, 2))) if self.band_fluxes else None
        if self.log_counts:
            img = np.log1p(img)
        img = np.ascontiguousarray(np.transpose(img, (0, 3, 1, 2)))
        z = _to_numpy(x["redshift"], "x['redshift']").astype(np.float32).reshape(-1, 1)
        if np.isfinite(z).all() and (z < 0).any():
            raise InputValidationError("redshifts must be ≥ 0")
        out = {"image": img, "redshift": z}
        if flux is not None:
            out["band_flux"] = flux.astype(np.float32)
        return out

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        if output_dim != 1:
            raise InputValidationError(f"cluster_mass_cnn predicts one label (log10 M500), got {output_dim}")
        n_bands = int(input_shape["image"][0])
        n_flux = int(input_shape["band_flux"][0]) if "band_flux" in input_shape else 0
        return ClusterMassNet(
            n_bands, widths=tuple(int(w) for w in self.widths), hidden=self.hidden, heteroscedastic=self.loss == "gaussian_nll",
            dropout_rate=self.dropout_rate, n_aux=1 + n_flux,
        )

    def fit(self, x: Any, y: Any = None, *args: Any, **kwargs: Any) -> ClusterMassCNN:
        """Train (see :meth:`AstroModel.fit`). With ``prior_correction`` and array labels, the
        training-label histogram is taken first, for the loss (a streamed Dataset trains with the
        plain Gaussian NLL)."""
        from torch.utils.data import Dataset

        from astrotorch.uncertainty.prior import label_prior

        self.prior_edges_ = self.prior_density_ = None
        if self.prior_correction and self.loss == "gaussian_nll" and y is not None and not isinstance(x, Dataset):
            labels = np.asarray(y, dtype=np.float64).ravel()
            labels = labels[np.isfinite(labels) & (labels != magic_number())]
            if labels.size >= 2 and np.ptp(labels) > 0:
                self.prior_edges_, self.prior_density_ = label_prior(labels)
        return super().fit(x, y, *args, **kwargs)

    def make_lightning_module(self, network: nn.Module) -> Any:
        if self.lr_schedule == "cosine":
            from astrotorch.models.galaxy import _warmup_cosine_module

            return _warmup_cosine_module(network, self)
        return super().make_lightning_module(network)

    def compute_loss(self, batch: dict[str, Any], output: Any) -> torch.Tensor:
        from astrotorch.nn import losses

        y = batch["y"].float()
        w = batch.get("weight")
        # losses in float32 whatever the autocast dtype of the network outputs
        if isinstance(output, tuple):
            mean, log_var = output[0].float(), output[1].float()
        else:
            mean, log_var = output.float(), None
        if self.loss == "gaussian_nll":
            if log_var is None:
                raise InputValidationError("gaussian_nll needs a network with a variance output")
            if self.prior_density_ is not None:
                from astrotorch.uncertainty.prior import prior_gaussian_nll

                edges = np.asarray(self._label_norm.transform(self.prior_edges_[:, None].astype(np.float32))).ravel()
                loss = prior_gaussian_nll(y, mean, log_var, edges, self.prior_density_, sample_weight=w)
            else:
                loss = losses.gaussian_nll(y, mean, log_var, sample_weight=w)
        elif self.loss == "mse":
            loss = losses.mean_squared_error(y, mean, sample_weight=w)
        elif self.loss == "mae":
            loss = losses.mean_absolute_error(y, mean, sample_weight=w)
        else:
            loss = losses.huber(y, mean, sample_weight=w, delta=self.huber_delta)
        return loss + self.regularization_loss()

    # ------------------------------------------------------------------ evaluation in dex
    def mass_metrics(self, x: Any, log10_m500: Any) -> dict[str, float]:
        """Bias (mean error), scatter (standard deviation of the error), RMSE, MAE in dex; z-score std.

        For the Gaussian-NLL model also the standard deviation of ``(pred - true)/σ`` (1 = calibrated)
        and the fraction of clusters within 1σ (0.683 expected).
        """
        out = self.predict(x)
        pred = (out[0] if isinstance(out, tuple) else out).ravel()
        true = np.asarray(log10_m500, dtype=np.float64).ravel()
        err = pred - true
        res = {
            "n": int(err.size),
            "bias_dex": float(err.mean()),
            "scatter_dex": float(err.std(ddof=1)),
            "rmse_dex": float(np.sqrt(np.mean(err**2))),
            "mae_dex": float(np.mean(np.abs(err))),
            "median_abs_error_dex": float(np.median(np.abs(err))),
        }
        if isinstance(out, tuple):
            sig = out[1]["total"].ravel()
            zs = err / sig
            res["zscore_std"] = float(zs.std(ddof=1))
            res["coverage_68"] = float(np.mean(np.abs(zs) < 1.0))
            res["median_sigma_dex"] = float(np.median(sig))
        return res


#: the mass bins of the acceptance checks: 0.2 dex over the mock generator's 13.8–15.2 range
DEFAULT_MASS_EDGES = tuple(round(13.8 + 0.2 * i, 1) for i in range(8))


def mass_slope(true_logm: Any, pred_logm: Any, lo: float = 13.8, hi: float = 15.2) -> float:
    """Least-squares slope of predicted against true log10 M500 for true masses in [lo, hi]: 1 when the
    error does not depend on mass, < 1 when low masses are over- and high masses under-estimated."""
    t = np.asarray(true_logm, dtype=np.float64).ravel()
    p = np.asarray(pred_logm, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise InputValidationError(f"{t.size} true but {p.size} predicted masses")
    sel = (t >= lo) & (t <= hi) & np.isfinite(p)
    if sel.sum() < 3:
        raise InputValidationError(f"fewer than 3 clusters with true log10 M500 in [{lo}, {hi}]")
    return float(np.polyfit(t[sel], p[sel], 1)[0])


def binned_mass_bias(true_logm: Any, pred_logm: Any, edges: Any | None = None, sigma: Any | None = None) -> list[dict[str, float]]:
    """Per bin of true log10 M500 (``edges``, default :data:`DEFAULT_MASS_EDGES`): number of clusters,
    bias (mean of predicted − true, dex), scatter (its standard deviation, dex) and, with ``sigma``,
    the z-score standard deviation. One dict per bin (``lo``, ``hi``, ``n``, ``bias_dex``,
    ``scatter_dex``[, ``zscore_std``]), for :func:`astrotorch.train.runs.markdown_table`."""
    t = np.asarray(true_logm, dtype=np.float64).ravel()
    p = np.asarray(pred_logm, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise InputValidationError(f"{t.size} true but {p.size} predicted masses")
    e = np.asarray(DEFAULT_MASS_EDGES if edges is None else edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise InputValidationError(f"edges must be increasing with at least two values, got {e.tolist()}")
    s = None if sigma is None else np.asarray(sigma, dtype=np.float64).ravel()
    rows = []
    for i, (lo, hi) in enumerate(zip(e[:-1], e[1:])):
        # the last bin includes its upper edge
        sel = (t >= lo) & ((t < hi) if i < e.size - 2 else (t <= hi))
        r = p[sel] - t[sel]
        row = {"lo": float(lo), "hi": float(hi), "n": int(sel.sum()),
               "bias_dex": float(r.mean()) if r.size else float("nan"),
               "scatter_dex": float(r.std(ddof=1)) if r.size > 1 else float("nan")}
        if s is not None:
            row["zscore_std"] = float((r / s[sel]).std(ddof=1)) if r.size > 1 else float("nan")
        rows.append(row)
    return rows


__all__ = ["ClusterMassCNN", "LOSSES", "DEFAULT_MASS_EDGES", "mass_slope", "binned_mass_bias"]
