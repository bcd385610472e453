"""Inference for :class:`~astrotorch.models.base.AstroModel`: network outputs (deterministic or Monte
Carlo), the composition of σ in label units, σ calibration on the validation split, and class
probabilities.

σ (Bayesian regression, label units, all per label): ``model`` (MC dropout spread) and ``predictive``
(the variance head) are multiplied by the calibration factor ``sigma_scale_``; ``propagated`` (input
errors pushed through the mean network) by ``sigma_scale_ · propagated_scale_``; ``floor``
(``sigma_floor_``) is added in quadrature; where the calibration fitted a noise power
(``noise_power_`` γ, ``noise_reference_`` ν_ref) and ``predict`` gets ``x_err``, every component is
also multiplied by ``(ν/ν_ref)^(γ/2)``, ν each spectrum's median flux error; ``total`` is the
quadrature sum of the components.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, NotFittedError, ShapeMismatchError
from astrotorch.models.sigma_calibration import noise_factor, noise_level


@contextlib.contextmanager
def deterministic_layers(network: torch.nn.Module) -> Any:
    """Temporarily switch every Monte Carlo layer (those with a ``disable`` flag) to deterministic."""
    saved = []
    for mod in network.modules():
        if hasattr(mod, "disable") and isinstance(mod.disable, bool):
            saved.append((mod, mod.disable))
            mod.disable = True
    try:
        yield
    finally:
        for mod, flag in saved:
            mod.disable = flag


def _not_fitted_error() -> type[Exception]:
    """astrotorch's NotFittedError that is also scikit-learn's (a ValueError and AttributeError), so
    ``except NotFittedError`` works with either library's class."""
    global _NOT_FITTED
    if _NOT_FITTED is None:
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError

        class ModelNotFittedError(NotFittedError, SklearnNotFittedError):
            """A model method that needs a fitted model was called before ``fit``/``load_folder``."""

        _NOT_FITTED = ModelNotFittedError
    return _NOT_FITTED


_NOT_FITTED: type[Exception] | None = None


class InferenceMixin:
    """Device placement, network outputs, σ calibration (part of AstroModel).

    Hooks a subclass may override: ``_propagated_input_errors`` and ``_calibrate_sigma``.
    """

    def _check_fitted(self) -> None:
        if self.network is None or self._input_norm is None:
            raise _not_fitted_error()(f"{type(self).__name__} is not fitted: call fit() or load_folder() first")

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

    def _prepare_inference_input(self, x: Any) -> tuple[Any, int]:
        self._check_fitted()
        xa = self.prepare_x(x)
        n = self._validate_x(xa)
        return self._normalize_x(xa), n

    def _propagated_input_errors(self, x_err: np.ndarray) -> np.ndarray:
        """The input errors to propagate (raw units, finite): all of them here; spectral models drop
        flagged pixels whose flux is a placeholder rather than a measurement."""
        return x_err

    def _network_outputs(self, x: Any, x_err: Any = None, batch_size: int | None = None) -> dict[str, np.ndarray]:
        """Mean and variances (normalised units) for every sample, batch by batch.

        Keys: ``mean``; for Bayesian models ``model_var``, ``predictive_var`` and, with ``x_err``,
        ``propagated_var`` (and ``noise_level``, each spectrum's median flux error, where a calibration
        noise power needs it). Classification means are softmax probabilities.
        """
        from astrotorch.uncertainty.mc import mc_predict

        xn, n = self._prepare_inference_input(x)
        err_n = levels = None
        if x_err is not None:
            if isinstance(xn, dict):
                raise InputValidationError("x_err is only supported for single-array inputs")
            xe = self.prepare_x(x_err)
            if xe.shape != xn.shape:
                raise ShapeMismatchError(f"x_err has shape {xe.shape}, expected {xn.shape}")
            scale = np.asarray(self._input_norm.scale, np.float32)
            xe = self._propagated_input_errors(np.where(np.isfinite(xe), xe, 0.0))
            err_n = (xe / scale).astype(np.float32)
            levels = noise_level(xe) if self.noise_power_ is not None else None
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
        res = {k: np.concatenate(v) for k, v in out.items()}
        if levels is not None:
            res["noise_level"] = levels
        return res

    def _calibrate_sigma(self, val_ds: Dataset) -> None:
        """Per-label σ factor so that validation z-scores have unit standard deviation."""
        from astrotorch.uncertainty.mc import mc_predict

        loader = self.make_dataloader(val_ds, shuffle=False, batch_size=max(self.batch_size, 256))
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


def regression_prediction(model: Any, res: dict[str, np.ndarray]) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Denormalised prediction, and for Bayesian models the σ dict in label units (see module doc)."""
    scale = np.asarray(model._label_norm.scale, np.float32)
    pred = np.asarray(model._label_norm.denormalize(res["mean"]), np.float32)
    if not model.bayesian:
        return pred
    factor = model.sigma_scale_ if model.sigma_scale_ is not None else 1.0
    model_sd = np.sqrt(res["model_var"]) * scale * factor
    pred_sd = np.sqrt(res["predictive_var"]) * scale * factor
    var_total = model_sd**2 + pred_sd**2
    std = {"model": model_sd, "predictive": pred_sd}
    if "propagated_var" in res:
        prop = np.sqrt(res["propagated_var"]) * scale * factor
        if model.propagated_scale_ is not None:
            prop = prop * model.propagated_scale_[None, :]
        std["propagated"] = prop
        var_total = var_total + prop**2
    if model.sigma_floor_ is not None:
        std["floor"] = np.broadcast_to(model.sigma_floor_[None, :], pred.shape).astype(np.float32)
        var_total = var_total + std["floor"] ** 2
    if model.noise_power_ is not None and model.noise_reference_ and "noise_level" in res:
        ratio = np.asarray(res["noise_level"], np.float64) / float(model.noise_reference_)
        ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
        high, brk = model.noise_power_high_, model.noise_break_
        factor = np.sqrt(noise_factor(ratio[:, None], np.asarray(model.noise_power_, np.float64)[None, :],
                                      None if high is None else np.asarray(high, np.float64)[None, :],
                                      None if brk is None else np.asarray(brk, np.float64)[None, :])).astype(np.float32)
        std = {k: v * factor for k, v in std.items()}
        var_total = var_total * factor**2
    std["total"] = np.sqrt(var_total)
    return pred, std


def class_probabilities(model: Any, res: dict[str, np.ndarray], return_std: bool) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Class probabilities (N, C) and, with ``return_std``, their MC standard deviations."""
    probs = res["mean"]
    if not return_std:
        return probs
    if "model_var" not in res:
        raise InputValidationError(f"{type(model).__name__} is not Bayesian: predict_proba has no return_std")
    sd = np.sqrt(res["model_var"])
    return probs, {"model": sd, "total": sd}


def labels_from_probabilities(model: Any, probs: np.ndarray) -> np.ndarray:
    """``classes_[argmax]``: the most probable class label per sample, in the labels ``y`` had."""
    return np.asarray(model.classes_)[np.argmax(probs, axis=1)]


__all__ = [
    "InferenceMixin",
    "deterministic_layers",
    "regression_prediction",
    "class_probabilities",
    "labels_from_probabilities",
]
