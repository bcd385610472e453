"""Missing-label masking shared by :mod:`astrotorch.nn.losses` and :mod:`astrotorch.nn.metrics`.

An entry of ``y_true`` is missing when it is NaN or equal to the magic number in force
(:func:`astrotorch.config.magic_number`). The helpers here validate a ``(y_true, y_pred)`` pair,
build the mask of valid entries, *sanitise* masked entries (replace them by harmless finite values
before any formula sees them, so their gradient is exactly zero) and take means over the valid
entries. Losses and metrics differ only in what an empty selection gives (0 for a loss, NaN for a
metric) and are built on these same pieces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError

#: Smallest value used to clip probabilities and denominators (Keras' ``epsilon()``).
EPSILON: float = 1e-7


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


def _prepare_binary(
    y_true: torch.Tensor, y_pred: torch.Tensor, pred_name: str = "y_pred"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y_true, y_pred, mask = _prepare(y_true, y_pred, pred_name)
    return _sanitise(y_true, mask), _sanitise(y_pred, mask), mask


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
