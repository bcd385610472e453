"""Training glue of the neural light-curve models (:mod:`astrotorch.models.lightcurve_network`): the
static inputs' feature names and robust standardisation, regression-target checks, the masked collate of
self-supervised pretraining and the callback that restores the best validation epoch's weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.lightcurves.container import LightCurveSet

#: standardised static inputs are clipped to this many robust standard deviations
STATIC_CLIP = 6.0


def _feature_input_names(bands: Sequence[str]) -> list[str]:
    """The light-curve statistics and Bazin fit of :func:`~astrotorch.lightcurves.features.feature_matrix`
    (no period search: that is the period group) that join the static inputs; counts, time span and
    brightness are already there."""
    from astrotorch.lightcurves.features import feature_names

    return [n for n in feature_names(bands, periodogram=False) if n not in ("n_obs", "duration", "scale_mag")]


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


def _best_weights_callback() -> Any:
    """A Lightning callback keeping the weights of the epoch with the lowest validation loss (in memory)
    and loading them back when training ends — Keras' ``restore_best_weights``: early stopping halts
    ``patience`` epochs after the best one, and those epochs only add noise to a small set's fit."""
    import lightning as L

    class RestoreBestWeights(L.Callback):
        def __init__(self) -> None:
            self.best = float("inf")
            self.state: dict[str, torch.Tensor] | None = None

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            loss = trainer.callback_metrics.get("val_loss")
            if loss is not None and float(loss) < self.best:
                self.best = float(loss)
                self.state = {k: v.detach().clone() for k, v in pl_module.network.state_dict().items()}

        def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
            if self.state is not None:
                pl_module.network.load_state_dict(self.state)

    return RestoreBestWeights()


def robust_standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column centre (median) and scale (``astropy.stats.mad_std``, else the standard deviation,
    else 1) of a table with NaN holes — outlier-proof statistics for the static inputs."""
    import warnings

    from astropy.stats import mad_std

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN columns (a band no training curve has) are expected
        center = np.nanmedian(X, axis=0)
        scale = mad_std(X, axis=0, ignore_nan=True)
        std = np.nanstd(X, axis=0)
    center = np.where(np.isfinite(center), center, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, np.where(np.isfinite(std) & (std > 1e-9), std, 1.0))
    return center, scale


def _regression_targets(curves: LightCurveSet, y: Any) -> np.ndarray:
    if y is None:
        raise InputValidationError("regression needs targets y (N, D)")
    ya = np.asarray(y, dtype=np.float64)
    ya = ya[:, None] if ya.ndim == 1 else ya
    if ya.shape[0] != len(curves):
        raise ShapeMismatchError(f"{ya.shape[0]} targets for {len(curves)} light curves")
    return ya

