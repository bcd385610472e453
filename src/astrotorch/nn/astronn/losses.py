"""astroNN 1.1.0's ``astroNN.nn.losses`` with astroNN's formulas, reductions and defaults, in PyTorch.

Use this module when numbers must agree with astroNN (porting a trained model's metrics, comparing
papers); :mod:`astrotorch.nn.losses` is astrotorch's own, better-behaved variant. The differences:

===============================  =========================================  ====================================
                                 here (astroNN)                             :mod:`astrotorch.nn.losses`
===============================  =========================================  ====================================
reduction                        one value **per sample** ``(N,)``: the     one scalar: the mean over every valid
                                 mean over the last axis of the valid       (sample, label) entry
                                 entries (mean with zeros × ``n / n_valid``,
                                 the "magic correction term"); Keras then
                                 averages over the batch (``.mean()``)
``sample_weight``                multiplies the per-sample values           weights the entries
``categorical/binary_            ``from_logits=False`` (probabilities)      ``from_logits=True`` (logits)
crossentropy``
``robust_*_crossentropy``        astroNN's formula: undistorted CE +        ``-log E[p(y | logits + σ ε)]`` with
                                 ``mean_t -elu(CE - CE_t) × CE`` +          ``σ = exp(½ log-variance)``
                                 ``mean(exp(v) - 1)``, logits corrupted by
                                 ``v · ε`` (``v`` used as a scale), 25 draws
===============================  =========================================  ====================================

Where astroNN 1.1.0's code misbehaves, this module follows astroNN's documented intent and says so:

* a sample whose labels are all missing gets 0 (astroNN divides by zero valid labels and returns
  NaN, although its code comment says the correction should then be 1);
* ``mean_percentage_error`` / ``median_percentage_error`` compute the manual's
  ``100 (y - ŷ) / y``; astroNN's code evaluates ``y - ŷ / y`` (operator precedence);
* ``binary_crossentropy`` / ``categorical_crossentropy`` with ``from_logits=False`` refuse values
  outside ``[0, 1]`` (astroNN clips a "probability" of 1.5 to 1 - 1e-7 and returns a number);
* ``zeros_loss`` is 0 even for NaN inputs;
* ``robust_mse`` treats a label error equal to the magic number (or NaN) as unknown, i.e. 0.

Missing labels: the configured magic number (:func:`astrotorch.config.magic_number`) or NaN.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.nn._wrappers import make_loss_wrappers

#: Keras' ``backend.epsilon()``, astroNN's clipping constant
EPSILON: float = 1e-7
#: astroNN's fixed number of Monte Carlo draws in the robust cross-entropies
MC_NUM: int = 25


# ------------------------------------------------------------------------------------------- helpers
def _as_float(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InputValidationError(f"{name} cannot be converted to a tensor: {exc}") from exc
    if t.is_complex() or t.dtype == torch.bool:
        raise InputValidationError(f"{name} must be real numbers, got dtype {t.dtype}")
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def _pair(y_true: Any, y_pred: Any, pred_name: str = "y_pred") -> tuple[torch.Tensor, torch.Tensor]:
    p = _as_float(y_pred, pred_name)
    t = _as_float(y_true, "y_true").to(dtype=p.dtype, device=p.device)
    if t.shape != p.shape:
        raise ShapeMismatchError(f"y_true has shape {tuple(t.shape)} but {pred_name} has shape {tuple(p.shape)}")
    return t, p


def magic_num_check(x: Any) -> torch.Tensor:
    """True where ``x`` is missing: equal to the magic number or NaN (astroNN's ``magic_num_check``)."""
    x = _as_float(x, "x")
    return (x == magic_number()) | torch.isnan(x)


def magic_correction_term(y_true: Any) -> torch.Tensor:
    """``(n_valid + n_missing) / n_valid`` along the last axis: turns a mean with missing entries set to 0
    into the mean over the valid ones. A row without valid entry gets 0 (astroNN: ``inf``)."""
    missing = magic_num_check(y_true)
    if missing.ndim == 0:
        missing = missing.reshape(1)
    n_valid = (~missing).sum(dim=-1).to(torch.get_default_dtype())
    n_total = float(missing.shape[-1])
    return torch.where(n_valid > 0, n_total / n_valid.clamp_min(1.0), torch.zeros_like(n_valid))


def weighted_loss(losses: torch.Tensor, sample_weight: Any = None) -> torch.Tensor:
    """``losses * sample_weight`` (astroNN's ``weighted_loss``); ``None`` leaves them unchanged."""
    if sample_weight is None:
        return losses
    w = _as_float(sample_weight, "sample_weight").to(dtype=losses.dtype, device=losses.device)
    try:
        return losses * w
    except RuntimeError as exc:
        raise ShapeMismatchError(
            f"sample_weight of shape {tuple(w.shape)} does not broadcast to the per-sample losses {tuple(losses.shape)}"
        ) from exc


def _corrected_mean(per_entry: torch.Tensor, missing: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Mean over the last axis with missing entries as 0, times the magic correction term."""
    zero = torch.zeros((), dtype=per_entry.dtype, device=per_entry.device)
    return torch.where(missing, zero, per_entry).mean(dim=-1) * magic_correction_term(y_true).to(per_entry)


def _clean(t: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    # masked truths are replaced before use so no inf/NaN reaches the gradient of a masked entry
    return torch.where(missing, torch.zeros((), dtype=t.dtype, device=t.device), t)


def median(x: Any, axis: int | None = None) -> torch.Tensor:
    """Median (mean of the two middle values for an even count); ``axis=None`` over everything."""
    x = _as_float(x, "x")
    if axis is None:
        x, axis = x.reshape(-1), 0
    n = x.shape[axis]
    if n == 0:
        raise InputValidationError("median of an empty tensor")
    srt = torch.sort(x, dim=axis).values
    lo = srt.narrow(axis, (n - 1) // 2, 1)
    hi = srt.narrow(axis, n // 2, 1)
    return (0.5 * (lo + hi)).squeeze(axis)


# ------------------------------------------------------------------------------------- regression
def mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """Per-sample mean of ``(y_true - y_pred)²`` over valid labels, shape ``(N,)``."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    return weighted_loss(_corrected_mean((_clean(t, miss) - p).square(), miss, t), sample_weight)


def mean_absolute_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """Per-sample mean of ``|y_true - y_pred|`` over valid labels, shape ``(N,)``."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    return weighted_loss(_corrected_mean((_clean(t, miss) - p).abs(), miss, t), sample_weight)


def mean_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """Per-sample mean of ``y_true - y_pred`` over valid labels (the bias), shape ``(N,)``."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    return weighted_loss(_corrected_mean(_clean(t, miss) - p, miss, t), sample_weight)


def robust_mse(y_true: Any, y_pred: Any, variance: Any, labels_err: Any, sample_weight: Any = None) -> torch.Tensor:
    """astroNN's heteroscedastic loss, per sample: ``½ (y - ŷ)² e^{-s} + ½ s`` averaged over valid labels.

    ``variance`` is the predicted **log** variance; ``s = log(exp(variance) + labels_err²)``
    (``labels_err``: known 1σ label errors, 0 where unknown; ignored where the label is missing).
    """
    t, p = _pair(y_true, y_pred)
    v = _as_float(variance, "variance").to(p)
    err = _as_float(labels_err, "labels_err").to(p)
    if v.shape != p.shape or err.shape != p.shape:
        raise ShapeMismatchError(
            f"variance {tuple(v.shape)} and labels_err {tuple(err.shape)} must have y_pred's shape {tuple(p.shape)}"
        )
    miss = magic_num_check(t)
    # unknown label errors (magic number / NaN) count as 0, as the manual asks users to give them
    err = torch.where(miss | magic_num_check(err), torch.zeros((), dtype=p.dtype, device=p.device), err)
    s = torch.log(torch.exp(_clean(v, miss)) + err.square())
    per_entry = 0.5 * (_clean(t, miss) - p).square() * torch.exp(-s) + 0.5 * s
    return weighted_loss(_corrected_mean(per_entry, miss, t), sample_weight)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """Per-sample mean of ``(log(1 + max(ŷ, ε)) - log(1 + max(y, ε)))²`` over valid labels."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    d = torch.log(p.clamp_min(EPSILON) + 1.0) - torch.log(_clean(t, miss).clamp_min(EPSILON) + 1.0)
    return weighted_loss(_corrected_mean(d.square(), miss, t), sample_weight)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """Per-sample mean of ``100 |y - ŷ| / max(|y|, ε)`` over valid labels (percent)."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    tc = _clean(t, miss)
    diff = ((tc - p) / tc.abs().clamp_min(EPSILON)).abs()
    return weighted_loss(100.0 * _corrected_mean(diff, miss, t), sample_weight)


def mean_percentage_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """Per-sample mean of ``100 (y - ŷ) / max(y, ε)`` over valid labels (the manual's formula; see module doc)."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    tc = _clean(t, miss)
    diff = (tc - p) / tc.clamp_min(EPSILON)
    return weighted_loss(100.0 * _corrected_mean(diff, miss, t), sample_weight)


def _median_percentage(t: torch.Tensor, diff: torch.Tensor, miss: torch.Tensor, sample_weight: Any) -> torch.Tensor:
    # astroNN takes the median over the whole batch, zeros of missing entries included, then scales
    # it by each sample's correction term
    zero = torch.zeros((), dtype=diff.dtype, device=diff.device)
    med = median(torch.where(miss, zero, diff), axis=None)
    return weighted_loss(100.0 * med * magic_correction_term(t).to(diff), sample_weight)


def median_absolute_percentage_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """astroNN's median APE: ``100 · median(|y - ŷ| / max(|y|, ε))`` over the batch × each sample's correction."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    tc = _clean(t, miss)
    return _median_percentage(t, ((tc - p) / tc.abs().clamp_min(EPSILON)).abs(), miss, sample_weight)


def median_percentage_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """astroNN's median PE (manual's formula ``(y - ŷ) / y``; see module doc)."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    tc = _clean(t, miss)
    return _median_percentage(t, (tc - p) / tc.clamp_min(EPSILON), miss, sample_weight)


def mean_squared_reconstruction_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """astroNN's VAE reconstruction loss: mean over the last axis (missing as 0, no correction),
    weighted, summed over the remaining axes, averaged over the batch (a scalar)."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    raw = torch.where(miss, zero, (_clean(t, miss) - p).square())
    losses = weighted_loss(raw.mean(dim=-1), sample_weight)
    return losses.sum(dim=-1).mean() if losses.ndim > 0 else losses


def zeros_loss(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """Per-sample zeros (attached to ``y_pred``'s graph, zero gradient), for outputs that are not trained."""
    t, p = _pair(y_true, y_pred)
    never = torch.zeros((), dtype=torch.bool, device=p.device)
    zero = torch.where(never, p, torch.zeros((), dtype=p.dtype, device=p.device))
    return weighted_loss(zero.mean(dim=-1) if zero.ndim > 0 else zero, sample_weight)


# --------------------------------------------------------------------------------- classification
def _check_probabilities(p: torch.Tensor, what: str) -> None:
    bad = torch.isnan(p) | (p < 0) | (p > 1)
    if bool(bad.any()):
        v = p[bad][0].item()
        raise InputValidationError(
            f"{what} with from_logits=False needs probabilities in [0, 1], got {v!r}; pass logits with "
            "from_logits=True"
        )


def categorical_crossentropy(y_true: Any, y_pred: Any, sample_weight: Any = None, from_logits: bool = False) -> torch.Tensor:
    """Per-sample ``-Σ y log p`` (probabilities renormalised and clipped to [ε, 1-ε] unless ``from_logits``)."""
    t, p = _pair(y_true, y_pred)
    correction = magic_correction_term(t).to(p)
    t = _clean(t, magic_num_check(t))
    if from_logits:
        losses = -(t * F.log_softmax(p, dim=-1)).sum(dim=-1)
    else:
        _check_probabilities(p, "categorical_crossentropy")
        q = p / p.sum(dim=-1, keepdim=True)
        losses = -(t * torch.log(q.clamp(EPSILON, 1.0 - EPSILON))).sum(dim=-1)
    return weighted_loss(losses * correction, sample_weight)


def binary_crossentropy(y_true: Any, y_pred: Any, sample_weight: Any = None, from_logits: bool = False) -> torch.Tensor:
    """Per-sample mean over valid labels of the sigmoid cross-entropy (probabilities unless ``from_logits``)."""
    t, p = _pair(y_true, y_pred)
    miss = magic_num_check(t)
    if not from_logits:
        _check_probabilities(p, "binary_crossentropy")
        q = p.clamp(EPSILON, 1.0 - EPSILON)
        p = torch.log(q / (1.0 - q))
    ce = F.binary_cross_entropy_with_logits(p, _clean(t, miss), reduction="none")
    return weighted_loss(_corrected_mean(ce, miss, t), sample_weight)


def _mc_draws(logits: torch.Tensor, scale: torch.Tensor, mc_num: int, generator: torch.Generator | None) -> torch.Tensor:
    eps = torch.randn((mc_num,) + tuple(logits.shape), dtype=logits.dtype, device=logits.device, generator=generator)
    # tfp.distributions.Normal(loc=logits, scale=logit_var): the variance output is used as the scale
    return (logits.unsqueeze(0) + scale.unsqueeze(0) * eps).reshape((mc_num * logits.shape[0],) + tuple(logits.shape[1:]))


def _check_mc(mc_num: int) -> int:
    if isinstance(mc_num, bool) or not isinstance(mc_num, int) or mc_num < 1:
        raise InputValidationError(f"mc_num must be a positive integer, got {mc_num!r}")
    return mc_num


def robust_categorical_crossentropy(y_true: Any, y_pred: Any, logit_var: Any, sample_weight: Any = None,
                                    mc_num: int = MC_NUM, generator: torch.Generator | None = None) -> torch.Tensor:
    """astroNN's Bayesian categorical cross-entropy (Kendall & Gal 2017, eq. 12, astroNN's variant).

    Per sample: ``(CE + mean_t[-elu(CE - CE_t)] · CE + mean(exp(v) - 1)) · correction``, where
    ``CE`` is the cross-entropy of the logits ``y_pred`` (weighted by ``sample_weight`` as astroNN
    does, which then weights the total once more), ``CE_t`` that of logits corrupted by
    ``v · ε_t`` (``v = logit_var``), ``mc_num`` draws, and the last term a batch-wide mean.
    """
    mc_num = _check_mc(mc_num)
    t, p = _pair(y_true, y_pred)
    v = _as_float(logit_var, "logit_var").to(p)
    if v.shape != p.shape:
        raise ShapeMismatchError(f"logit_var has shape {tuple(v.shape)}, y_pred {tuple(p.shape)}")
    depressor = (torch.exp(v) - 1.0).mean()
    undistorted = categorical_crossentropy(t, p, sample_weight, from_logits=True)
    distorted = categorical_crossentropy(t.repeat(mc_num, 1), _mc_draws(p, v, mc_num, generator), from_logits=True)
    mc_result = -F.elu(undistorted.repeat(mc_num) - distorted)
    variance_loss = mc_result.reshape(mc_num, p.shape[0]).mean(dim=0) * undistorted
    losses = (variance_loss + undistorted + depressor) * magic_correction_term(t).to(p)
    return weighted_loss(losses, sample_weight)


def robust_binary_crossentropy(y_true: Any, y_pred: Any, logit_var: Any, sample_weight: Any = None,
                               mc_num: int = MC_NUM, generator: torch.Generator | None = None) -> torch.Tensor:
    """astroNN's Bayesian binary cross-entropy; as :func:`robust_categorical_crossentropy` with the
    sigmoid cross-entropy (the undistorted term is not weighted here, as in astroNN)."""
    mc_num = _check_mc(mc_num)
    t, p = _pair(y_true, y_pred)
    v = _as_float(logit_var, "logit_var").to(p)
    if v.shape != p.shape:
        raise ShapeMismatchError(f"logit_var has shape {tuple(v.shape)}, y_pred {tuple(p.shape)}")
    depressor = (torch.exp(v) - 1.0).mean()
    undistorted = binary_crossentropy(t, p, from_logits=True)
    distorted = binary_crossentropy(t.repeat(mc_num, 1), _mc_draws(p, v, mc_num, generator), from_logits=True)
    mc_result = -F.elu(undistorted.repeat(mc_num) - distorted)
    variance_loss = mc_result.reshape(mc_num, p.shape[0]).mean(dim=0) * undistorted
    losses = (variance_loss + undistorted + depressor) * magic_correction_term(t).to(p)
    return weighted_loss(losses, sample_weight)


def nll(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """astroNN's negative log likelihood: the sum over the last axis of :func:`binary_crossentropy`."""
    return weighted_loss(binary_crossentropy(y_true, y_pred).sum(dim=-1), sample_weight)


def categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per sample: 1 where ``argmax(y_true) == argmax(y_pred)`` (missing entries of ``y_true`` set to 0)."""
    t, p = _pair(y_true, y_pred)
    t = _clean(t, magic_num_check(t))
    return (t.argmax(dim=-1) == p.argmax(dim=-1)).to(p.dtype).detach()


def _binary_accuracy(y_true: Any, y_pred: Any, from_logits: bool) -> torch.Tensor:
    t, p = _pair(y_true, y_pred)
    p = p.detach()
    if from_logits:
        p = torch.sigmoid(p)
    # missing truths never equal a rounded prediction; the correction term rescales to the valid ones
    hit = (t == torch.round(p)).to(p.dtype)
    return hit.mean(dim=-1) * magic_correction_term(t).to(p)


def binary_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample fraction of valid labels with ``y_true == round(y_pred)`` (probabilities)."""
    return _binary_accuracy(y_true, y_pred, from_logits=False)


def binary_accuracy_from_logits(y_true: Any, y_pred: Any) -> torch.Tensor:
    """:func:`binary_accuracy` of ``sigmoid(y_pred)``."""
    return _binary_accuracy(y_true, y_pred, from_logits=True)


def median_error(y_true: Any, y_pred: Any, sample_weight: Any = None, axis: int | None = -1) -> torch.Tensor:
    """``median(y_true - y_pred)`` along ``axis`` (astroNN does not mask missing labels here)."""
    t, p = _pair(y_true, y_pred)
    return weighted_loss(median(t - p, axis=axis), sample_weight)


def median_absolute_deviation(y_true: Any, y_pred: Any, sample_weight: Any = None, axis: int | None = -1) -> torch.Tensor:
    """``median(|y_true - y_pred|)`` along ``axis`` (no missing-label masking, as astroNN)."""
    t, p = _pair(y_true, y_pred)
    return weighted_loss(median((t - p).abs(), axis=axis), sample_weight)


def mad_std(y_true: Any, y_pred: Any, sample_weight: Any = None, axis: int | None = -1) -> torch.Tensor:
    """``1.4826 · median_absolute_deviation`` (a robust standard deviation of the residuals)."""
    return weighted_loss(1.4826 * median_absolute_deviation(y_true, y_pred, axis=axis), sample_weight)


_wrappers = make_loss_wrappers(robust_mse, robust_categorical_crossentropy, robust_binary_crossentropy)
mse_lin_wrapper = _wrappers["mse_lin_wrapper"]
mse_var_wrapper = _wrappers["mse_var_wrapper"]
bayesian_categorical_crossentropy_wrapper = _wrappers["bayesian_categorical_crossentropy_wrapper"]
bayesian_categorical_crossentropy_var_wrapper = _wrappers["bayesian_categorical_crossentropy_var_wrapper"]
bayesian_binary_crossentropy_wrapper = _wrappers["bayesian_binary_crossentropy_wrapper"]
bayesian_binary_crossentropy_var_wrapper = _wrappers["bayesian_binary_crossentropy_var_wrapper"]

# astroNN's aliases
mse = mean_squared_error
mae = mean_absolute_error
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error
me = mean_error
mpe = mean_percentage_error
mad = median_absolute_deviation
mse_lin = mse_lin_wrapper
mse_var = mse_var_wrapper


def losses_lookup(identifier: str) -> Any:
    """The function of this module called ``identifier`` (astroNN's ``losses_lookup``)."""
    fn = globals().get(identifier) if isinstance(identifier, str) and not identifier.startswith("_") else None
    if fn is None or not callable(fn) or identifier not in __all__:
        raise InputValidationError(f"unknown astroNN loss {identifier!r}; known: {sorted(n for n in __all__ if n[0].islower())}")
    return fn


__all__ = [
    "EPSILON", "MC_NUM", "magic_num_check", "magic_correction_term", "weighted_loss", "median",
    "mean_squared_error", "mean_absolute_error", "mean_error", "robust_mse", "mean_squared_logarithmic_error",
    "mean_absolute_percentage_error", "mean_percentage_error", "median_absolute_percentage_error",
    "median_percentage_error", "mean_squared_reconstruction_error", "zeros_loss", "categorical_crossentropy",
    "binary_crossentropy", "robust_categorical_crossentropy", "robust_binary_crossentropy", "nll",
    "categorical_accuracy", "binary_accuracy", "binary_accuracy_from_logits", "median_error",
    "median_absolute_deviation", "mad_std", "mse_lin_wrapper", "mse_var_wrapper",
    "bayesian_categorical_crossentropy_wrapper", "bayesian_categorical_crossentropy_var_wrapper",
    "bayesian_binary_crossentropy_wrapper", "bayesian_binary_crossentropy_var_wrapper", "mse", "mae", "mape",
    "msle", "me", "mpe", "mad", "mse_lin", "mse_var", "losses_lookup",
]
