"""Missing-label-aware loss functions (PyTorch), named after ``astroNN.nn.losses``.

Every loss has the signature ``loss(y_true, y_pred, sample_weight=None, ...) -> scalar tensor`` and

* ignores entries whose truth is missing: equal to the magic number
  (:func:`astrotorch.config.magic_number`, default -9999.0) or NaN;
* returns the mean over the *valid* entries. This is astroNN's "magic correction term": for a
  multi-output regression the mean runs over all valid (sample, label) entries, so a batch where
  half the labels are missing gives the same value as the batch with those entries dropped;
* multiplies each entry by its sample's weight when ``sample_weight`` (shape ``(N,)``, or the full
  shape of ``y_true``) is given. As in Keras/astroNN the weights do not enter the denominator:
  ``loss = sum(w * l * valid) / sum(valid)``;
* returns exactly ``0`` with finite, zero gradients when the batch holds no valid label (never NaN).

Masked entries are *sanitised before* the per-entry loss is computed (truth and, where the formula
could blow up, prediction are replaced by harmless finite values), instead of masking the result
afterwards: ``torch.where(mask, f(x), 0)`` back-propagates ``0 * f'(x)``, which is NaN whenever
``f'(x)`` is infinite at a magic-number entry. Masked predictions therefore receive exactly zero
gradient.

Classification losses take ``from_logits=True`` by default because astrotorch networks output
logits (see docs/CONTRACT.md); with ``from_logits=False`` values outside ``[0, 1]`` raise
:class:`~astrotorch.errors.InputValidationError` rather than being clipped into a number.

``categorical_accuracy`` and ``binary_accuracy`` (in the registry for astroNN's compile-time
names) are the metrics of :mod:`astrotorch.nn.metrics`, re-exported: not differentiable, and NaN
when no label is valid. The masking helpers live in :mod:`astrotorch.nn.masking`.

For astroNN's exact formulas and per-sample reduction see :mod:`astrotorch.nn.astronn.losses`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from astrotorch.errors import InputValidationError
from astrotorch.nn._wrappers import make_loss_wrappers

# the masking helpers live in nn.masking (shared with nn.metrics); the public ones stay importable here
from astrotorch.nn.masking import (
    EPSILON,
    _as_like,
    _as_tensor,
    _check_probabilities,
    _masked_mean,
    _prepare,
    _prepare_binary,
    _prepare_categorical,
    _sanitise,
    _upcast,
    lookup_by_name,
    magic_correction_term,
    missing_mask,
)

# one implementation of the accuracies: the metrics' (NaN when no label is valid)
from astrotorch.nn.metrics import binary_accuracy, categorical_accuracy

LossFunction = Callable[..., torch.Tensor]


# ----------------------------------------------------------------------------------------------
# regression
# ----------------------------------------------------------------------------------------------
def _residual(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``y_true - y_pred`` with missing entries set to 0, and the valid-entry mask."""
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    return _sanitise(y_true, mask) - _sanitise(y_pred, mask), mask


def mean_squared_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``(y_true - y_pred)**2`` over valid entries (units of ``y**2``)."""
    diff, mask = _residual(y_true, y_pred)
    return _masked_mean(diff.square(), mask, sample_weight)


def mean_absolute_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``|y_true - y_pred|`` over valid entries (units of ``y``)."""
    diff, mask = _residual(y_true, y_pred)
    return _masked_mean(diff.abs(), mask, sample_weight)


def mean_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean signed error ``y_true - y_pred`` over valid entries (the bias; astroNN's sign convention)."""
    diff, mask = _residual(y_true, y_pred)
    return _masked_mean(diff, mask, sample_weight)


def _label_log_variance(labels_err: object | None, ref: torch.Tensor) -> torch.Tensor | None:
    """``log(labels_err**2)`` with missing (magic/NaN) or zero errors giving ``-inf`` (= no error)."""
    if labels_err is None:
        return None
    err = _as_like(labels_err, "labels_err", ref)
    ok = missing_mask(err) & (err != 0)
    safe = _sanitise(err, ok, 1.0)  # log of a placeholder 1 is finite; value is replaced below
    neg_inf = torch.full((), -math.inf, dtype=ref.dtype, device=ref.device)
    return torch.where(ok, torch.log(safe.square()), neg_inf)


def robust_mse(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    log_variance: torch.Tensor,
    labels_err: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """astroNN's heteroscedastic regression loss (Kendall & Gal 2017 with known label errors).

    Per entry::

        s = log(exp(log_variance) + labels_err**2)          # total predictive log-variance
        l = 0.5 * (y_true - y_pred)**2 * exp(-s) + 0.5 * s

    Args:
        y_true: labels, shape ``(N, D)`` (any shape matching ``y_pred``); magic/NaN = missing.
        y_pred: predicted mean, same shape.
        log_variance: predicted ``log(sigma_pred**2)``, same shape (same units as ``y**2``, logged).
        labels_err: known *standard deviation* of each label, same shape, or ``None``; missing
            entries (magic/NaN) count as 0.
        sample_weight: ``(N,)`` or per-entry weights.

    ``s`` is computed as ``logaddexp(log_variance, log(labels_err**2))`` so a very negative
    log-variance with no label error does not underflow to ``log(0)``.
    """
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    log_variance = _sanitise(_as_like(log_variance, "log_variance", y_pred), mask)
    label_logvar = _label_log_variance(labels_err, y_pred)
    if label_logvar is None:
        s = log_variance
    else:
        # keep masked entries finite: there label_logvar may be -inf, log_variance is 0 -> s = 0
        s = torch.logaddexp(log_variance, label_logvar)
    diff = _sanitise(y_true, mask) - _sanitise(y_pred, mask)
    per_entry = 0.5 * diff.square() * torch.exp(-s) + 0.5 * s
    return _masked_mean(per_entry, mask, sample_weight)


def gaussian_nll(
    y_true: torch.Tensor,
    mean: torch.Tensor,
    log_variance: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    full: bool = False,
) -> torch.Tensor:
    """Gaussian negative log-likelihood ``0.5 * (log_variance + (y - mean)**2 / exp(log_variance))``.

    With ``full=True`` the constant ``0.5 * log(2 pi)`` is added, giving the exact NLL per entry.
    Equal to :func:`robust_mse` without label errors (plus the constant when ``full``).
    """
    y_true, mean, mask = _prepare(y_true, mean, "mean")
    lv = _sanitise(_as_like(log_variance, "log_variance", mean), mask)
    diff = _sanitise(y_true, mask) - _sanitise(mean, mask)
    per_entry = 0.5 * (lv + diff.square() * torch.exp(-lv))
    if full:
        per_entry = per_entry + 0.5 * math.log(2.0 * math.pi)
    return _masked_mean(per_entry, mask, sample_weight)


def _log1p_clipped(x: torch.Tensor) -> torch.Tensor:
    # Keras/astroNN clip at epsilon before log(x + 1) so negative inputs do not give NaN
    return torch.log1p(x.clamp_min(EPSILON))


def mean_squared_logarithmic_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``(log(1 + y_pred) - log(1 + y_true))**2`` over valid entries (inputs clipped at 1e-7)."""
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    d = _log1p_clipped(_sanitise(y_pred, mask)) - _log1p_clipped(_sanitise(y_true, mask))
    return _masked_mean(d.square(), mask, sample_weight)


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt with a zero (not infinite) gradient at 0, so an all-missing batch stays finite."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))), torch.zeros_like(x))


def root_mean_squared_logarithmic_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Square root of :func:`mean_squared_logarithmic_error` over the batch's valid entries.

    astroNN takes the root per sample and then averages; here the root is taken of the batch mean
    (the usual RMSLE), which is what "mean over the valid entries" means for a root-mean loss.
    """
    return _safe_sqrt(mean_squared_logarithmic_error(y_true, y_pred, sample_weight))


def mean_absolute_percentage_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``100 * |y_true - y_pred| / max(|y_true|, 1e-7)`` over valid entries (percent)."""
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    t = _sanitise(y_true, mask, 1.0)
    p = _sanitise(y_pred, mask, 1.0)
    per_entry = 100.0 * (t - p).abs() / t.abs().clamp_min(EPSILON)
    return _masked_mean(per_entry, mask, sample_weight)


def mean_percentage_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``100 * (y_true - y_pred) / max(|y_true|, 1e-7)`` over valid entries (percent, signed)."""
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    t = _sanitise(y_true, mask, 1.0)
    p = _sanitise(y_pred, mask, 1.0)
    per_entry = 100.0 * (t - p) / t.abs().clamp_min(EPSILON)
    return _masked_mean(per_entry, mask, sample_weight)


def huber(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    delta: float = 1.0,
) -> torch.Tensor:
    """Huber loss: ``0.5 d**2`` for ``|d| <= delta``, else ``delta * (|d| - 0.5 delta)``, ``d = y - y_pred``."""
    if not delta > 0:
        raise InputValidationError(f"huber delta must be > 0, got {delta}")
    diff, mask = _residual(y_true, y_pred)
    d = diff.abs()
    per_entry = torch.where(d <= delta, 0.5 * d.square(), delta * (d - 0.5 * delta))
    return _masked_mean(per_entry, mask, sample_weight)


def log_cosh(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``log(cosh(y_pred - y_true))`` over valid entries.

    Evaluated as ``|d| + softplus(-2|d|) - log 2``, which equals ``log cosh d`` but never overflows
    (``cosh`` itself overflows float32 for ``|d| > 89``).
    """
    diff, mask = _residual(y_true, y_pred)
    a = diff.abs()  # log cosh is even: the sign of the residual does not matter
    per_entry = a + F.softplus(-2.0 * a) - math.log(2.0)
    return _masked_mean(per_entry, mask, sample_weight)


def zeros_loss(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Always 0, but attached to ``y_pred``'s graph (zero gradients), for outputs that must not be trained.

    Used like astroNN's ``zeros_loss`` for auxiliary outputs (e.g. a VAE's latent) whose loss is added
    elsewhere.
    """
    y_pred = _as_tensor(y_pred, "y_pred")
    never = torch.zeros((), dtype=torch.bool, device=y_pred.device)
    # where() (not 0 * y_pred) so that a NaN prediction still gives exactly 0
    return torch.where(never, y_pred, torch.zeros((), dtype=y_pred.dtype, device=y_pred.device)).sum()


# ----------------------------------------------------------------------------------------------
# classification
# ----------------------------------------------------------------------------------------------
def _log_probs(y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    if from_logits:
        return F.log_softmax(y_pred, dim=-1)
    _check_probabilities(y_pred, "categorical_crossentropy")
    # Keras semantics for probabilities: renormalise rows, clip away from 0 and 1
    p = y_pred / y_pred.sum(dim=-1, keepdim=True).clamp_min(EPSILON)
    return torch.log(p.clamp(EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    from_logits: bool = True,
) -> torch.Tensor:
    """Categorical cross-entropy ``-sum_c y_c log p_c`` averaged over valid rows (nats).

    Args:
        y_true: one-hot or soft labels ``(N, C)`` or integer class indices ``(N,)``. A row with a
            magic/NaN truth (or a negative index) is missing.
        y_pred: logits (``from_logits=True``, default) or probabilities ``(N, C)``.
        sample_weight: ``(N,)`` per-sample weights.
    """
    target, mask = _prepare_categorical(y_true, y_pred)
    logp = _log_probs(_sanitise(_upcast(y_pred), mask.unsqueeze(-1)), from_logits)
    per_row = -(target * logp).sum(dim=-1)
    return _masked_mean(per_row, mask, sample_weight)


def binary_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    from_logits: bool = True,
) -> torch.Tensor:
    """Binary cross-entropy ``-(y log p + (1-y) log(1-p))`` per entry, averaged over valid entries.

    ``y_pred`` holds logits (default, evaluated stably with ``binary_cross_entropy_with_logits``) or
    probabilities (clipped to ``[1e-7, 1 - 1e-7]``). ``y_true`` has the shape of ``y_pred``.
    """
    t, p, mask = _prepare_binary(y_true, y_pred)
    if from_logits:
        per_entry = F.binary_cross_entropy_with_logits(p, t, reduction="none")
    else:
        _check_probabilities(p, "binary_crossentropy")
        pc = p.clamp(EPSILON, 1.0 - EPSILON)
        per_entry = -(t * torch.log(pc) + (1.0 - t) * torch.log1p(-pc))
    return _masked_mean(per_entry, mask, sample_weight)


def _check_n_samples(n_samples: int) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise InputValidationError(f"n_samples must be a positive integer, got {n_samples!r}")
    return int(n_samples)


def robust_categorical_crossentropy(
    y_true: torch.Tensor,
    logits: torch.Tensor,
    logit_log_variance: torch.Tensor,
    n_samples: int = 25,
    sample_weight: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Kendall & Gal (2017) classification loss with learned logit variance (Monte Carlo).

    The logits are corrupted ``x_t = logits + exp(0.5 * logit_log_variance) * eps_t``,
    ``eps_t ~ N(0, 1)``, for ``t = 1..n_samples`` (all samples drawn in one vectorised tensor of
    shape ``(T, N, C)``), and the loss per row is ``-log( mean_t softmax(x_t)[y] )`` evaluated with
    ``logsumexp`` (for soft labels the per-sample log-likelihood is ``sum_c y_c log softmax(x_t)_c``).
    With zero variance this equals :func:`categorical_crossentropy` on the logits. Gradients reach
    both outputs through the reparameterisation.

    Args:
        y_true: one-hot ``(N, C)`` or class indices ``(N,)``; missing rows as in
            :func:`categorical_crossentropy`.
        logits: ``(N, C)``.
        logit_log_variance: ``(N, C)`` log of the logits' variance.
        n_samples: Monte Carlo draws ``T``.
        generator: optional ``torch.Generator`` for reproducible draws.
    """
    n_samples = _check_n_samples(n_samples)
    target, mask = _prepare_categorical(y_true, logits, "logits")
    logits = _upcast(logits)
    row_mask = mask.unsqueeze(-1)
    x = _sanitise(logits, row_mask)
    lv = _as_like(logit_log_variance, "logit_log_variance", logits)
    std = torch.exp(0.5 * _sanitise(lv, row_mask))
    eps = torch.randn((n_samples,) + tuple(x.shape), dtype=x.dtype, device=x.device, generator=generator)
    corrupted = x.unsqueeze(0) + std.unsqueeze(0) * eps
    loglik = (target.unsqueeze(0) * F.log_softmax(corrupted, dim=-1)).sum(dim=-1)  # (T, N)
    per_row = -(torch.logsumexp(loglik, dim=0) - math.log(n_samples))
    return _masked_mean(per_row, mask, sample_weight)


def robust_binary_crossentropy(
    y_true: torch.Tensor,
    logits: torch.Tensor,
    logit_log_variance: torch.Tensor,
    n_samples: int = 25,
    sample_weight: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Binary version of :func:`robust_categorical_crossentropy`.

    Per entry ``-log( mean_t p_t(y) )`` with ``p_t(y) = exp(-BCE(logits + sigma eps_t, y))`` and
    ``sigma = exp(0.5 * logit_log_variance)``. Zero variance gives :func:`binary_crossentropy`.
    """
    n_samples = _check_n_samples(n_samples)
    t, x, mask = _prepare_binary(y_true, logits, "logits")
    std = torch.exp(0.5 * _sanitise(_as_like(logit_log_variance, "logit_log_variance", x), mask))
    eps = torch.randn((n_samples,) + tuple(x.shape), dtype=x.dtype, device=x.device, generator=generator)
    corrupted = x.unsqueeze(0) + std.unsqueeze(0) * eps
    loglik = -F.binary_cross_entropy_with_logits(corrupted, t.unsqueeze(0).expand_as(corrupted), reduction="none")
    per_entry = -(torch.logsumexp(loglik, dim=0) - math.log(n_samples))
    return _masked_mean(per_entry, mask, sample_weight)


_wrappers = make_loss_wrappers(robust_mse, robust_categorical_crossentropy, robust_binary_crossentropy)
mse_lin_wrapper = _wrappers["mse_lin_wrapper"]
mse_var_wrapper = _wrappers["mse_var_wrapper"]
bayesian_categorical_crossentropy_wrapper = _wrappers["bayesian_categorical_crossentropy_wrapper"]
bayesian_categorical_crossentropy_var_wrapper = _wrappers["bayesian_categorical_crossentropy_var_wrapper"]
bayesian_binary_crossentropy_wrapper = _wrappers["bayesian_binary_crossentropy_wrapper"]
bayesian_binary_crossentropy_var_wrapper = _wrappers["bayesian_binary_crossentropy_var_wrapper"]


# ----------------------------------------------------------------------------------------------
# aliases (astroNN names) and lookup
# ----------------------------------------------------------------------------------------------
mse = mean_squared_error
mae = mean_absolute_error
me = mean_error
msle = mean_squared_logarithmic_error
rmsle = root_mean_squared_logarithmic_error
mape = mean_absolute_percentage_error
mpe = mean_percentage_error
huber_loss = huber
logcosh = log_cosh
bayesian_mse = robust_mse
robust_cce = robust_categorical_crossentropy
robust_bce = robust_binary_crossentropy

_REGISTRY: dict[str, LossFunction] = {
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "mean_error": mean_error,
    "me": mean_error,
    "robust_mse": robust_mse,
    "bayesian_mse": robust_mse,
    "gaussian_nll": gaussian_nll,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "msle": mean_squared_logarithmic_error,
    "root_mean_squared_logarithmic_error": root_mean_squared_logarithmic_error,
    "rmsle": root_mean_squared_logarithmic_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mape": mean_absolute_percentage_error,
    "mean_percentage_error": mean_percentage_error,
    "mpe": mean_percentage_error,
    "huber": huber,
    "huber_loss": huber,
    "log_cosh": log_cosh,
    "logcosh": log_cosh,
    "zeros_loss": zeros_loss,
    "categorical_crossentropy": categorical_crossentropy,
    "cce": categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "bce": binary_crossentropy,
    "robust_categorical_crossentropy": robust_categorical_crossentropy,
    "robust_cce": robust_categorical_crossentropy,
    "robust_binary_crossentropy": robust_binary_crossentropy,
    "robust_bce": robust_binary_crossentropy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
}


def get_loss(name: str | LossFunction) -> LossFunction:
    """Return the loss function called ``name`` (case-insensitive, ``-`` or ``_``); callables pass through.

    Raises :class:`InputValidationError` listing the known names for an unknown one.
    """
    return lookup_by_name(_REGISTRY, name, "loss", "losses")


def list_losses() -> list[str]:
    """Sorted names accepted by :func:`get_loss`."""
    return sorted(_REGISTRY)


__all__ = [
    "EPSILON",
    "missing_mask",
    "magic_correction_term",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_error",
    "robust_mse",
    "gaussian_nll",
    "mean_squared_logarithmic_error",
    "root_mean_squared_logarithmic_error",
    "mean_absolute_percentage_error",
    "mean_percentage_error",
    "huber",
    "log_cosh",
    "zeros_loss",
    "categorical_crossentropy",
    "binary_crossentropy",
    "robust_categorical_crossentropy",
    "robust_binary_crossentropy",
    "categorical_accuracy",
    "binary_accuracy",
    "mse",
    "mae",
    "me",
    "msle",
    "rmsle",
    "mape",
    "mpe",
    "huber_loss",
    "logcosh",
    "bayesian_mse",
    "robust_cce",
    "robust_bce",
    "mse_lin_wrapper",
    "mse_var_wrapper",
    "bayesian_categorical_crossentropy_wrapper",
    "bayesian_categorical_crossentropy_var_wrapper",
    "bayesian_binary_crossentropy_wrapper",
    "bayesian_binary_crossentropy_var_wrapper",
    "get_loss",
    "list_losses",
]
