"""scikit-learn's ``score`` and astroNN's ``evaluate`` for the light-curve models (the networks of
:mod:`astrotorch.models.lightcurves` and ``lc_features`` of :mod:`astrotorch.models.lightcurve_features`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from astrotorch.lightcurves.labels import as_lightcurve_set, encode_classes
from astrotorch.models.lightcurve_training import _regression_targets


def lightcurve_score(model: Any, x: Any, y: Any = None, sample_weight: Any = None) -> float:
    """scikit-learn's ``score`` for a light-curve model: accuracy (labels from the curves when ``y`` is
    None) or R² averaged over targets (rows with a NaN target left out)."""
    from sklearn.metrics import accuracy_score, r2_score

    curves = as_lightcurve_set(x)
    w = None if sample_weight is None else np.asarray(sample_weight, np.float64).ravel()
    if model.task == "classification":
        truth = curves.labels() if y is None else np.asarray(y).ravel()
        pred = model.predict(curves)
        return float(accuracy_score(np.asarray(truth).astype(str), np.asarray(pred).astype(str), sample_weight=w))
    yy = _regression_targets(curves, y)
    pred = np.asarray(model.predict(curves), np.float64).reshape(yy.shape)
    ok = np.isfinite(yy).all(1)
    return float(r2_score(yy[ok], pred[ok], sample_weight=None if w is None else w[ok]))


def lightcurve_evaluate(model: Any, x: Any, y: Any = None, batch_size: int | None = None) -> dict[str, Any]:
    """Classification report (:func:`~astrotorch.lightcurves.metrics.classification_report`) or, per
    regression target, n, MAE, median absolute error, RMSE, bias and NMAD of the residuals."""
    from astrotorch.lightcurves.metrics import classification_report, nmad

    curves = as_lightcurve_set(x)
    if model.task == "classification":
        labels = curves.labels() if y is None else np.asarray(y).ravel()
        probs = model.predict_proba(curves, batch_size=batch_size)
        return classification_report(encode_classes(labels, model.classes_), probs,
                                     [str(c) for c in model.classes_.tolist()])
    yy = _regression_targets(curves, y)
    pred = np.asarray(model.predict(curves, batch_size=batch_size), np.float64).reshape(yy.shape)
    res = {}
    for j, name in enumerate(model.targetname or [f"label_{j}" for j in range(yy.shape[1])]):
        r = pred[:, j] - yy[:, j]
        r = r[np.isfinite(r)]
        res[name] = {"n": int(r.size), "mae": float(np.mean(np.abs(r))), "median_ae": float(np.median(np.abs(r))),
                     "rmse": float(np.sqrt(np.mean(r**2))), "bias": float(np.mean(r)), "nmad": nmad(r)}
    return res

