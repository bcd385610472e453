"""Metrics of a fitted model on labelled data: ``evaluate`` (a dict per output) and ``score``
(scikit-learn's single number: R² for regression, accuracy for classification)."""

from __future__ import annotations

from typing import Any

import numpy as np

from astrotorch.models.data import first_array
from astrotorch.models.labels import is_missing


def evaluate(model: Any, x: Any, y: Any, x_err: Any = None, y_err: Any = None,
             batch_size: int | None = None) -> dict[str, Any]:
    """See :meth:`AstroModel.evaluate`."""
    from astropy.stats import mad_std

    from astrotorch.uncertainty import calibration

    model._check_fitted()
    n = first_array(model.prepare_x(x)).shape[0]
    yy = model._validate_y(y, n, fitting=False)
    if model.task == "classification":
        out = model.predict_proba(x, batch_size=batch_size)
        probs = out[0] if isinstance(out, tuple) else out
        valid = yy >= 0
        pv, yv = probs[valid], yy[valid]
        if not valid.any():
            return {"accuracy": float("nan"), "log_loss": float("nan"), "ece": float("nan"), "n": 0}
        acc = float(np.mean(np.argmax(pv, 1) == yv))
        logloss = float(-np.mean(np.log(np.clip(pv[np.arange(len(yv)), yv], 1e-12, None))))
        ece = float(calibration.expected_calibration_error(pv, yv))
        return {"accuracy": acc, "log_loss": logloss, "ece": ece, "n": int(valid.sum())}
    out = model.predict(x, x_err=x_err, batch_size=batch_size)
    pred, std = (out if isinstance(out, tuple) else (out, None))
    err = model._validate_aux(y_err, yy, "y_err") if y_err is not None else None
    names = model.targetname or [f"label_{i}" for i in range(model.output_dim or 0)]
    metrics: dict[str, Any] = {}
    for j, name in enumerate(names):
        valid = ~is_missing(yy[:, j])
        r = pred[valid, j] - yy[valid, j]
        if r.size == 0:
            metrics[name] = {"n": 0}
            continue
        m = {
            "n": int(r.size),
            "mae": float(np.mean(np.abs(r))),
            "median_ae": float(np.median(np.abs(r))),
            "rmse": float(np.sqrt(np.mean(r**2))),
            "bias": float(np.mean(r)),
            "mad_std": float(mad_std(r)),
        }
        if std is not None:
            sig = std["total"][valid, j]
            if err is not None:
                e = err[valid, j]
                sig = np.sqrt(sig**2 + np.where(is_missing(e), 0.0, e) ** 2)
            m["zscore_std"] = float(calibration.zscore_std(yy[valid, j], pred[valid, j], sig))
            cov = calibration.coverage(yy[valid, j], pred[valid, j], sig, levels=(0.683,))
            m["coverage_68"] = float(np.asarray(cov).ravel()[0])
        metrics[name] = m
    return metrics


def score(model: Any, x: Any, y: Any, sample_weight: Any = None) -> float:
    """R² (regression; averaged over outputs, missing labels left out per output) or accuracy
    (classification; unlabelled samples left out), scikit-learn's ``score`` semantics."""
    from sklearn.metrics import accuracy_score, r2_score

    model._check_fitted()
    n = first_array(model.prepare_x(x)).shape[0]
    yy = model._validate_y(y, n, fitting=False)
    w = None if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(-1)
    if model.task == "classification":
        out = model.predict_proba(x)
        probs = out[0] if isinstance(out, tuple) else out
        valid = yy >= 0
        return float(accuracy_score(yy[valid], np.argmax(probs[valid], axis=1),
                                    sample_weight=None if w is None else w[valid]))
    out = model.predict(x)
    pred = out[0] if isinstance(out, tuple) else out
    scores = []
    for j in range(yy.shape[1]):
        valid = ~is_missing(yy[:, j])
        if valid.sum() < 2:
            continue
        scores.append(r2_score(yy[valid, j], pred[valid, j], sample_weight=None if w is None else w[valid]))
    return float(np.mean(scores)) if scores else float("nan")


__all__ = ["evaluate", "score"]
