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

For astroNN's exact formulas and per-sample reduction see :mod:`astrotorch.nn.astronn.losses`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.nn._wrappers import make_loss_wrappers

#: Smallest value used to clip probabilities and denominators (Keras' ``epsilon()``).
EPSILON: float = 1e-7

LossFunction = Callable[..., torch.Tensor]


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _as_tensor(x: object, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """Return ``x`` as a tensor (numpy arrays and numbers are accepted for convenience)."""
    if isinstance(x, torch.Tensor):
        return x
    if x is None:
        raise InputValidationError(f"{name} is None; a tensor is required")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise InputValidationError(f"{name} cannot be converted to a tensor: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise InputValidationError(f"{name} must be numeric, got dtype {arr.dtype}")
    t = torch.as_tensor(arr)
    if like is not None:
        t = t.to(device=like.device)
    return t


def missing_mask(y_true: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the *valid* entries of ``y_true`` (``True`` = valid).

    An entry is missing when it is NaN or equal to the magic number in force
    (:func:`astrotorch.config.magic_number`). Integer tensors cannot hold NaN; for them only the
    magic number counts.
    """
    y_true = _as_tensor(y_true, "y_true")
    magic = magic_number()
    if y_true.is_floating_point() or y_true.is_complex():
        return ~(torch.isnan(y_true) | (y_true == magic))
    return y_true != magic


def magic_correction_term(y_true: torch.Tensor) -> torch.Tensor:
    """astroNN's correction factor ``n_total / n_valid`` per sample (last axis), for reference.

    Multiplying a per-sample mean that treats missing entries as zero by this factor gives the mean
    over the valid entries. Samples without any valid entry get 0 instead of inf.
    """
    mask = missing_mask(y_true)
    if mask.ndim == 0:
        mask = mask.reshape(1)
    n_total = mask.shape[-1]
    n_valid = mask.sum(dim=-1)
    return torch.where(
        n_valid > 0, n_total / n_valid.clamp_min(1).to(torch.get_default_dtype()), torch.zeros(())
    )


def _check_same_shape(y_true: torch.Tensor, y_pred: torch.Tensor, pred_name: str = "y_pred") -> None:
    if y_true.shape != y_pred.shape:
        raise ShapeMismatchError(
            f"y_true has shape {tuple(y_true.shape)} but {pred_name} has shape {tuple(y_pred.shape)}; "
            "they must match exactly (reshape e.g. (N,) labels to (N, 1) if the network outputs (N, 1))"
        )


def _prepare(
    y_true: torch.Tensor, y_pred: torch.Tensor, pred_name: str = "y_pred"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate a regression pair; return (y_true cast to y_pred's dtype, y_pred, valid mask)."""
    y_pred = _as_tensor(y_pred, pred_name)
    y_true = _as_tensor(y_true, "y_true", like=y_pred)
    _check_same_shape(y_true, y_pred, pred_name)
    if not y_pred.is_floating_point():
        raise InputValidationError(f"{pred_name} must be a floating point tensor, got {y_pred.dtype}")
    y_pred = _upcast(y_pred)
    mask = missing_mask(y_true)
    y_true = y_true.to(dtype=y_pred.dtype, device=y_pred.device)
    return y_true, y_pred, mask.to(y_pred.device)


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32 (differentiably): under mixed precision the network's output is
    half precision, whose sums over a batch and ``exp``/``log`` lose too many digits for a loss."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def _as_like(x: object, name: str, ref: torch.Tensor) -> torch.Tensor:
    """``x`` as a tensor with ``ref``'s shape (checked), dtype and device (for variance inputs)."""
    x = _as_tensor(x, name, like=ref)
    _check_same_shape(ref, x, name)
    return x.to(dtype=ref.dtype, device=ref.device)


def _sanitise(x: torch.Tensor, mask: torch.Tensor, fill: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Replace the masked-out entries of ``x`` by ``fill``; the gradient to those entries is 0."""
    if not isinstance(fill, torch.Tensor):
        fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    return torch.where(mask, x, fill)


def _expand_weight(sample_weight: object, ref: torch.Tensor, per_row_shape: tuple[int, ...]) -> torch.Tensor:
    """Return ``sample_weight`` broadcast to ``per_row_shape`` (the per-entry loss shape).

    Accepted: shape ``(N,)`` (one weight per sample, broadcast over the remaining axes), or a
    tensor with as many axes as the per-entry loss that broadcasts to it (e.g. ``(N, 1)`` or the
    full shape).
    """
    w = _as_tensor(sample_weight, "sample_weight", like=ref).to(dtype=ref.dtype, device=ref.device)
    if tuple(w.shape) == tuple(per_row_shape):
        return w
    if len(per_row_shape) == 0:
        if w.numel() == 1:
            return w.reshape(())
    elif w.ndim == 1 and w.shape[0] == per_row_shape[0]:
        return w.reshape((-1,) + (1,) * (len(per_row_shape) - 1)).expand(per_row_shape)
    elif w.ndim == len(per_row_shape) and all(a in (1, b) for a, b in zip(w.shape, per_row_shape)):
        return w.expand(per_row_shape)
    raise ShapeMismatchError(
        f"sample_weight has shape {tuple(w.shape)}; expected ({per_row_shape[0] if per_row_shape else 1},) "
        f"(one weight per sample) or the loss's per-entry shape {tuple(per_row_shape)}"
    )


def _masked_mean(
    values: torch.Tensor, mask: torch.Tensor, sample_weight: object | None = None
) -> torch.Tensor:
    """``sum(w * values * mask) / max(sum(mask), 1)``: mean over valid entries, 0 when none is valid.

    ``values`` must already be finite at masked entries (see :func:`_sanitise`), so that zeroing them
    here also zeroes their gradient.
    """
    if sample_weight is not None:
        w = _expand_weight(sample_weight, values, tuple(values.shape))
        # a missing (NaN) weight on a masked entry must not poison the sum
        values = values * _sanitise(w, mask)
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    total = torch.where(mask, values, zero).sum()
    count = mask.sum().to(values.dtype).clamp_min(1.0)
    return total / count


# ----------------------------------------------------------------------------------------------
# regression
# ----------------------------------------------------------------------------------------------
def mean_squared_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``(y_true - y_pred)**2`` over valid entries (units of ``y**2``)."""
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    diff = _sanitise(y_true, mask) - _sanitise(y_pred, mask)
    return _masked_mean(diff.square(), mask, sample_weight)


def mean_absolute_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``|y_true - y_pred|`` over valid entries (units of ``y``)."""
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    diff = _sanitise(y_true, mask) - _sanitise(y_pred, mask)
    return _masked_mean(diff.abs(), mask, sample_weight)


def mean_error(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean signed error ``y_true - y_pred`` over valid entries (the bias; astroNN's sign convention)."""
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    diff = _sanitise(y_true, mask) - _sanitise(y_pred, mask)
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
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    d = (_sanitise(y_true, mask) - _sanitise(y_pred, mask)).abs()
    per_entry = torch.where(d <= delta, 0.5 * d.square(), delta * (d - 0.5 * delta))
    return _masked_mean(per_entry, mask, sample_weight)


def log_cosh(
    y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``log(cosh(y_pred - y_true))`` over valid entries.

    Evaluated as ``|d| + softplus(-2|d|) - log 2``, which equals ``log cosh d`` but never overflows
    (``cosh`` itself overflows float32 for ``|d| > 89``).
    """
    y_true, y_pred, mask = _prepare(y_true, y_pred)
    d = _sanitise(y_pred, mask) - _sanitise(y_true, mask)
    a = d.abs()
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
def _prepare_categorical(
    y_true: torch.Tensor, y_pred: torch.Tensor, pred_name: str = "y_pred"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (soft/one-hot targets (N, ..., C) with missing rows zeroed, row-valid mask (N, ...)).

    ``y_true`` may be one-hot/soft labels with the shape of ``y_pred`` or integer class indices with
    ``y_pred``'s shape minus the class axis. A row is missing when any of its truths is magic/NaN,
    or its class index is negative.
    """
    y_pred = _as_tensor(y_pred, pred_name)
    y_true = _as_tensor(y_true, "y_true", like=y_pred).to(device=y_pred.device)
    if not y_pred.is_floating_point():
        raise InputValidationError(f"{pred_name} must be a floating point tensor, got {y_pred.dtype}")
    y_pred = _upcast(y_pred)
    if y_pred.ndim < 1:
        raise ShapeMismatchError(f"{pred_name} must have a class axis, got a scalar")
    n_classes = y_pred.shape[-1]
    if y_true.shape == y_pred.shape:
        mask = missing_mask(y_true).all(dim=-1)
        target = torch.where(
            mask.unsqueeze(-1), y_true.to(y_pred.dtype), torch.zeros((), dtype=y_pred.dtype, device=y_pred.device)
        )
        return target, mask
    if y_true.shape == y_pred.shape[:-1]:
        if y_true.is_floating_point():
            valid = missing_mask(y_true)
            safe = _sanitise(y_true, valid, 0.0)
            if bool((safe != torch.round(safe)).any()):
                raise InputValidationError(
                    "y_true has one entry per row, so it is read as class indices, but holds non-integers"
                )
            idx = safe.long()
        else:
            valid = missing_mask(y_true)
            idx = y_true.long()
        valid = valid & (idx >= 0)
        idx = torch.where(valid, idx, torch.zeros_like(idx))
        if idx.numel() and int(idx.max()) >= n_classes:
            raise InputValidationError(
                f"class index {int(idx.max())} out of range for {n_classes} classes in {pred_name}"
            )
        target = F.one_hot(idx, n_classes).to(y_pred.dtype) * valid.unsqueeze(-1).to(y_pred.dtype)
        return target, valid
    raise ShapeMismatchError(
        f"y_true has shape {tuple(y_true.shape)}, {pred_name} has shape {tuple(y_pred.shape)}: y_true must be "
        "one-hot with the same shape, or class indices with the class axis dropped"
    )


def _check_probabilities(p: torch.Tensor, fn: str) -> None:
    """Refuse "probabilities" outside [0, 1] (or NaN) instead of clipping them into a plausible number."""
    bad = torch.isnan(p) | (p < 0) | (p > 1)
    if bool(bad.any()):
        raise InputValidationError(
            f"{fn} with from_logits=False needs probabilities in [0, 1], got {p[bad][0].item()!r} in y_pred; "
            "pass logits with from_logits=True"
        )


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


def _prepare_binary(
    y_true: torch.Tensor, y_pred: torch.Tensor, pred_name: str = "y_pred"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y_true, y_pred, mask = _prepare(y_true, y_pred, pred_name)
    return _sanitise(y_true, mask), _sanitise(y_pred, mask), mask


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


def categorical_accuracy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    from_logits: bool = True,
) -> torch.Tensor:
    """Fraction of valid rows whose predicted class (argmax) equals the true class.

    ``y_true`` one-hot ``(N, C)`` (true class = argmax) or indices ``(N,)``. ``from_logits`` is
    accepted for a uniform signature; argmax is the same for logits and probabilities. Not
    differentiable (returned without gradient).
    """
    del from_logits  # argmax of logits == argmax of softmax
    target, mask = _prepare_categorical(y_true, y_pred)
    hit = (target.argmax(dim=-1) == y_pred.detach().argmax(dim=-1)).to(target.dtype)
    return _masked_mean(hit, mask, sample_weight).detach()


def binary_accuracy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    from_logits: bool = True,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Fraction of valid entries where ``(p > threshold) == (y_true > 0.5)``.

    ``threshold`` is a probability; with ``from_logits`` the logits are passed through a sigmoid.
    """
    t, p, mask = _prepare_binary(y_true, y_pred.detach() if isinstance(y_pred, torch.Tensor) else y_pred)
    prob = torch.sigmoid(p) if from_logits else p
    hit = ((prob > threshold) == (t > 0.5)).to(p.dtype)
    return _masked_mean(hit, mask, sample_weight).detach()


# astroNN's Keras-style closures over the other head (porting aid; one loss sees both heads in torch)
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


def lookup_by_name(registry: dict[str, Any], name: Any, kind: str, plural: str) -> Any:
    """``registry[name]`` with case and ``-``/``_`` folded; callables pass through (shared by metrics).

    Raises :class:`InputValidationError` naming the ``kind`` and listing the known names.
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise InputValidationError(f"{kind} must be a name or a callable, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    try:
        return registry[key]
    except KeyError:
        raise InputValidationError(f"unknown {kind} {name!r}; known {plural}: {sorted(registry)}") from None


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
