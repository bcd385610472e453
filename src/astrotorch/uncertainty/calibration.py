"""Calibration checks for predicted uncertainties and class probabilities (NumPy).

Regression: if a model's σ are right, ``z = (y_true - y_pred) / σ`` has unit standard deviation
(:func:`zscore_std`) and the Gaussian ``±k σ`` intervals contain the expected fraction of the truth
(:func:`coverage`). Classification: the confidence of the top class should equal its accuracy
(:func:`reliability_curve`, :func:`expected_calibration_error`, Guo et al. 2017), and a single
temperature fitted on validation logits (:func:`temperature_scale`) usually repairs most of an
over-confident network's miscalibration.

Missing truths (the magic number or NaN) are left out everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from astrotorch.config import magic_number as _config_magic_number
from astrotorch.errors import ConfigError, EmptyDatasetError, InputValidationError, ShapeMismatchError
from astrotorch.nn.numpy import mad_std


def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"{name} must be a numeric array: {exc}") from exc
    return arr


def _valid_truth(y_true: np.ndarray, magic: float | None) -> np.ndarray:
    m = _config_magic_number() if magic is None else magic
    return ~(np.isnan(y_true) | (y_true == m))


def _regression_inputs(
    y_true: Any, y_pred: Any, sigma: Any, magic_number: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """z-scores and validity mask, after shape and value checks."""
    yt, yp, sg = _array(y_true, "y_true"), _array(y_pred, "y_pred"), _array(sigma, "sigma")
    if yt.size == 0:
        raise EmptyDatasetError("y_true is empty")
    if yt.shape != yp.shape:
        raise ShapeMismatchError(f"y_true {yt.shape} and y_pred {yp.shape} must have the same shape")
    try:
        sg = np.broadcast_to(sg, yt.shape)
    except ValueError as exc:
        raise ShapeMismatchError(f"sigma {sg.shape} does not broadcast to y_true {yt.shape}") from exc
    valid = _valid_truth(yt, magic_number)
    if not np.all(np.isfinite(yp[valid])):
        raise InputValidationError("y_pred holds NaN/inf where the truth is valid")
    if not np.all(np.isfinite(sg[valid])) or np.any(sg[valid] <= 0):
        raise InputValidationError("sigma must be finite and positive wherever the truth is valid")
    z = np.zeros(yt.shape)
    z[valid] = (yt[valid] - yp[valid]) / sg[valid]
    return z, valid


def zscore(y_true: Any, y_pred: Any, sigma: Any, magic_number: float | None = None) -> np.ndarray:
    """``(y_true - y_pred) / sigma`` with NaN where the truth is missing."""
    z, valid = _regression_inputs(y_true, y_pred, sigma, magic_number)
    return np.where(valid, z, np.nan)


def zscore_std(
    y_true: Any,
    y_pred: Any,
    sigma: Any,
    axis: int | None = 0,
    robust: bool = False,
    magic_number: float | None = None,
) -> np.ndarray | float:
    """Standard deviation of the z-scores over valid entries (≈ 1 for calibrated σ).

    > 1 means the σ are too small (over-confident), < 1 too large. ``axis=0`` gives one value per
    label column of a ``(N, D)`` array (a float for 1-D input); ``axis=None`` pools everything.
    ``robust=True`` uses :func:`astrotorch.nn.numpy.mad_std` (astropy's 1.4826 × the median absolute
    deviation), insensitive to outliers.
    Columns without a valid entry give NaN.
    """
    z, valid = _regression_inputs(y_true, y_pred, sigma, magic_number)
    if not valid.any():
        raise EmptyDatasetError("no valid (non-missing) truth value")
    zm = np.where(valid, z, np.nan)
    if axis is None:
        zm = zm[valid]
        axis = 0
    if robust:
        out = mad_std(zm, axis=axis)
    else:
        with np.errstate(invalid="ignore"), _quiet_nan_warnings():
            out = np.nanstd(zm, axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def coverage(
    y_true: Any,
    y_pred: Any,
    sigma: Any,
    levels: Sequence[float] = (0.683, 0.954),
    axis: int | None = None,
    magic_number: float | None = None,
) -> np.ndarray:
    """Observed fraction of truths inside the central Gaussian interval of each probability level.

    For level ``q`` the interval is ``y_pred ± k σ`` with ``k = Φ⁻¹((1 + q) / 2)`` (k ≈ 1 for 0.683,
    ≈ 2 for 0.954). Calibrated Gaussian errors give fractions ≈ ``levels``. Returns shape
    ``(len(levels),)`` pooled over all valid entries (``axis=None``), or ``(len(levels), D)`` per
    column with ``axis=0``.
    """
    lv = np.asarray(levels, dtype=np.float64).reshape(-1)
    if lv.size == 0 or np.any((lv <= 0) | (lv >= 1)):
        raise ConfigError(f"levels must be probabilities in (0, 1), got {list(np.asarray(levels).ravel())}")
    z, valid = _regression_inputs(y_true, y_pred, sigma, magic_number)
    if not valid.any():
        raise EmptyDatasetError("no valid (non-missing) truth value")
    k = stats.norm.ppf(0.5 * (1.0 + lv))
    absz = np.abs(z)
    if axis is None:
        a = absz[valid]
        return np.array([(a <= kk).mean() for kk in k])
    inside = [(np.where(valid, absz <= kk, False)).sum(axis=axis) for kk in k]
    n = valid.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.where(n > 0, c / np.maximum(n, 1), np.nan) for c in inside])


# ---------------------------------------------------------------------------- classification
def _labels(labels: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Validity mask and integer class of each row, from class indices (N,) or one-hot (N, C)."""
    n, n_classes = shape
    lab = _array(labels, "labels")
    if lab.ndim == 2:  # one-hot; a row with a missing entry is missing
        if lab.shape != (n, n_classes):
            raise ShapeMismatchError(f"one-hot labels {lab.shape} must have shape {(n, n_classes)}")
        valid = _valid_truth(lab, None).all(axis=1)
        idx = np.argmax(np.where(valid[:, None], lab, 0.0), axis=1)
    elif lab.ndim == 1:
        if lab.shape[0] != n:
            raise ShapeMismatchError(f"labels ({lab.shape[0]}) and predictions ({n}) differ in length")
        valid = _valid_truth(lab, None)
        if np.any(valid & ((lab != np.round(lab)) | (lab < 0) | (lab >= n_classes))):
            raise InputValidationError(f"labels must be integers in [0, {n_classes})")
        idx = np.where(valid, lab, 0).astype(np.int64)
    else:
        raise ShapeMismatchError(
            f"labels must be (N,) class indices or (N, C) one-hot, got shape {lab.shape}"
        )
    return valid, idx


def _classification_inputs(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) probabilities and integer labels of the valid rows."""
    p = _array(probs, "probs")
    if p.ndim == 1:  # binary: probability of class 1
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2:
        raise ShapeMismatchError(f"probs must be (N,) or (N, C), got shape {p.shape}")
    if p.shape[0] == 0:
        raise EmptyDatasetError("probs is empty")
    if not np.all(np.isfinite(p)) or np.any(p < -1e-6) or np.any(p > 1 + 1e-6):
        raise InputValidationError("probs must be probabilities in [0, 1] (did you pass logits?)")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise InputValidationError("each row of probs must sum to 1 (did you pass logits?)")
    valid, idx = _labels(labels, p.shape)
    if not valid.any():
        raise EmptyDatasetError("no valid (non-missing) label")
    return p[valid], idx[valid]


@dataclass
class ReliabilityCurve:
    """Per-bin statistics of top-class confidence; empty bins hold NaN confidence/accuracy."""

    bin_edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray

    @property
    def bin_centers(self) -> np.ndarray:
        """Mid-points of the confidence bins."""
        return 0.5 * (self.bin_edges[1:] + self.bin_edges[:-1])


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ConfigError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def reliability_curve(probs: Any, labels: Any, n_bins: int = 15) -> ReliabilityCurve:
    """Mean confidence and accuracy of the top class in ``n_bins`` equal-width confidence bins."""
    n_bins = _check_bins(n_bins)
    p, y = _classification_inputs(probs, labels)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins (lo, hi], with confidence 0 (impossible for argmax) folded into the first
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=conf, minlength=n_bins) / counts
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / counts
    return ReliabilityCurve(edges, confidence, accuracy, counts)


def expected_calibration_error(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """ECE: count-weighted mean over ``n_bins`` equal-width confidence bins of ``|accuracy - confidence|``
    of the top class (0 = calibrated; Guo et al. 2017).

    Computed by torchmetrics' ``multiclass_calibration_error`` (L1 norm) on the valid rows; binary
    ``(N,)`` probabilities count as two classes. Its bins are closed on the left, the curve of
    :func:`reliability_curve` on the right: the two differ only for confidences exactly on a bin edge.
    """
    import torch
    from torchmetrics.functional.classification import multiclass_calibration_error

    n_bins = _check_bins(n_bins)
    p, y = _classification_inputs(probs, labels)
    ece = multiclass_calibration_error(torch.from_numpy(p), torch.from_numpy(y), num_classes=p.shape[1],
                                       n_bins=n_bins, norm="l1")
    return float(ece)


def _logits_labels(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    lg = _array(logits, "logits")
    if lg.ndim != 2 or lg.shape[1] < 2:
        raise ShapeMismatchError(f"logits must be (N, C) with C >= 2, got shape {lg.shape}")
    if not np.all(np.isfinite(lg)):
        raise InputValidationError("logits hold NaN/inf")
    valid, idx = _labels(labels, lg.shape)
    if not valid.any():
        raise EmptyDatasetError("no valid (non-missing) label")
    return lg[valid], idx[valid]


def apply_temperature(logits: Any, temperature: float) -> np.ndarray:
    """Class probabilities ``softmax(logits / temperature)``."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"temperature must be a positive number, got {temperature}")
    return special.softmax(_array(logits, "logits") / temperature, axis=-1)


def temperature_scale(logits: Any, labels: Any, bounds: tuple[float, float] = (1e-2, 1e2)) -> float:
    """Fit the temperature ``T`` minimising the NLL of ``softmax(logits / T)`` on validation data.

    Optimised over ``log T`` with L-BFGS-B and the analytic gradient. ``T > 1`` softens an
    over-confident classifier, ``T < 1`` sharpens an under-confident one; the argmax (accuracy)
    never changes. Apply with :func:`apply_temperature`.
    """
    lg, y = _logits_labels(logits, labels)
    lo, hi = bounds
    if not (0 < lo < 1 < hi):
        raise ConfigError(f"bounds must satisfy 0 < low < 1 < high, got {bounds}")
    n = lg.shape[0]
    true_logit = lg[np.arange(n), y]

    def nll_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = float(np.exp(theta[0]))
        scaled = lg / t
        lse = special.logsumexp(scaled, axis=1)
        nll = np.mean(lse - true_logit / t)
        # d/dT of mean(lse(z/T) - z_y/T) = mean(-E_p[z]/T² + z_y/T²); chain rule with dT/dθ = T
        p = special.softmax(scaled, axis=1)
        d_t = np.mean((-(p * lg).sum(axis=1) + true_logit) / t**2)
        return float(nll), np.array([d_t * t])

    res = optimize.minimize(
        nll_and_grad,
        x0=np.array([0.0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(np.log(lo), np.log(hi))],
    )
    return float(np.exp(res.x[0]))


class _quiet_nan_warnings:
    """Silence numpy's 'all-NaN slice' / 'degrees of freedom' warnings for empty columns (→ NaN)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


__all__ = [
    "zscore",
    "zscore_std",
    "coverage",
    "ReliabilityCurve",
    "reliability_curve",
    "expected_calibration_error",
    "temperature_scale",
    "apply_temperature",
]
