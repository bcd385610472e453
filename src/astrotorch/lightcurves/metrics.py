"""Classification and regression metrics for light-curve tasks.

PLAsTiCC weighted multi-class log loss (Malz et al. 2019; Kaggle 2018)::

    L = - Σ_i w_i · (1/N_i) Σ_{j ∈ class i} ln p_ij  /  Σ_i w_i

with probabilities clipped to [1e-15, 1 − 1e-15] and each row renormalised. The challenge weighted
every class 1 except the rare/interesting ones with weight 2 (SN Ia-91bg 67, kilonova 64, TDE 15 —
the published Kaggle weights; class 99 "other" also 2). Our default, :data:`PLASTICC_CLASS_WEIGHTS`,
maps class *names* to those weights; classes not listed get weight 1. Pass ``class_weights=None`` for
the unweighted (flat) per-class average.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from astrotorch.errors import InputValidationError, ShapeMismatchError

#: Kaggle PLAsTiCC weights by class id (2 for 15 TDE, 64 KN, 67 SNIa-91bg, 99 other; 1 otherwise)
PLASTICC_CLASS_WEIGHTS_BY_ID: dict[int, float] = {6: 1, 15: 2, 16: 1, 42: 1, 52: 1, 53: 1, 62: 1, 64: 2,
                                                   65: 1, 67: 2, 88: 1, 90: 1, 92: 1, 95: 1, 99: 2}
#: the same weights keyed by the class names of this library's synthetic set and PLAsTiCC names
PLASTICC_CLASS_WEIGHTS: dict[str, float] = {"KN": 2.0, "TDE": 2.0, "SNIa-91bg": 2.0, "other": 2.0}


def _check(y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ShapeMismatchError(f"probabilities must be (N, C), got shape {p.shape}")
    if p.shape[0] != y.size:
        raise ShapeMismatchError(f"{y.size} labels for {p.shape[0]} probability rows")
    if y.size == 0:
        raise InputValidationError("no sample to score")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise InputValidationError(f"labels must be in 0..{p.shape[1] - 1}")
    return y, p


def weighted_log_loss(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str] | None = None,
                      class_weights: dict | Sequence[float] | None | str = "plasticc") -> float:
    """PLAsTiCC weighted multi-class log loss (nats); see the module doc.

    ``class_weights``: ``"plasticc"`` (default: :data:`PLASTICC_CLASS_WEIGHTS` looked up by
    ``class_names`` — or by id when names are ints), a dict name→weight, a sequence of C weights, or
    ``None`` for equal weights. Classes absent from ``y_true`` do not enter the average.
    """
    y, p = _check(y_true, probs)
    C = p.shape[1]
    names = list(class_names) if class_names is not None else list(range(C))
    if isinstance(class_weights, str):
        if class_weights != "plasticc":
            raise InputValidationError(f"unknown class_weights {class_weights!r}")
        w = np.array([PLASTICC_CLASS_WEIGHTS_BY_ID.get(n, 1.0) if isinstance(n, (int, np.integer))
                      else PLASTICC_CLASS_WEIGHTS.get(str(n), 1.0) for n in names])
    elif class_weights is None:
        w = np.ones(C)
    elif isinstance(class_weights, dict):
        w = np.array([float(class_weights.get(n, 1.0)) for n in names])
    else:
        w = np.asarray(class_weights, dtype=np.float64)
        if w.size != C:
            raise ShapeMismatchError(f"{w.size} class weights for {C} classes")
    p = np.clip(p, 1e-15, 1 - 1e-15)
    p = p / p.sum(axis=1, keepdims=True)
    num, den = 0.0, 0.0
    for c in range(C):
        sel = y == c
        if sel.any():
            num += w[c] * np.mean(np.log(p[sel, c]))
            den += w[c]
    return float(-num / den)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class (``sklearn.metrics.confusion_matrix``
    over classes 0..C-1, so absent classes keep their row and column)."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    y = np.asarray(y_true, dtype=np.int64).ravel()
    q = np.asarray(y_pred, dtype=np.int64).ravel()
    if y.shape != q.shape:
        raise ShapeMismatchError(f"{y.size} labels, {q.size} predictions")
    C = n_classes or int(max(y.max(initial=0), q.max(initial=0)) + 1)
    return sk_confusion(y, q, labels=np.arange(C)).astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of exact matches (labels of any type)."""
    y = np.asarray(y_true).ravel()
    q = np.asarray(y_pred).ravel()
    if y.size == 0 or y.shape != q.shape:
        raise InputValidationError("accuracy needs equal, non-empty label and prediction arrays")
    return float(np.mean(y == q))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None) -> float:
    """Unweighted mean over classes present in ``y_true`` or ``y_pred`` of the per-class F1
    (``sklearn.metrics.f1_score(average="macro")``)."""
    from sklearn.metrics import f1_score

    y = np.asarray(y_true, dtype=np.int64).ravel()
    q = np.asarray(y_pred, dtype=np.int64).ravel()
    if y.size == 0 or y.shape != q.shape:
        raise InputValidationError("macro_f1 needs equal, non-empty label and prediction arrays")
    present = np.union1d(y, q)
    return float(f1_score(y, q, labels=present, average="macro", zero_division=0.0))


def roc_curves(y_true: np.ndarray, probs: np.ndarray) -> dict[int, dict[str, np.ndarray | float]]:
    """One-vs-rest ROC per class: ``{c: {"fpr", "tpr", "auc"}}`` (classes with both outcomes only;
    ``sklearn.metrics.roc_curve`` / ``auc``)."""
    from sklearn.metrics import auc, roc_curve

    y, p = _check(y_true, probs)
    out: dict[int, dict[str, np.ndarray | float]] = {}
    for c in range(p.shape[1]):
        pos = y == c
        if pos.all() or not pos.any():
            continue
        fpr, tpr, _ = roc_curve(pos, p[:, c], drop_intermediate=False)
        out[c] = {"fpr": fpr, "tpr": tpr, "auc": float(auc(fpr, tpr))}
    return out


def classification_report(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str] | None = None,
                          class_weights: dict | Sequence[float] | None | str = "plasticc") -> dict:
    """Accuracy, macro-F1, weighted log loss, confusion matrix and per-class AUC in one dict."""
    y, p = _check(y_true, probs)
    pred = p.argmax(axis=1)
    names = list(class_names) if class_names is not None else [str(i) for i in range(p.shape[1])]
    rocs = roc_curves(y, p)
    return {
        "n": int(y.size),
        "accuracy": accuracy(y, pred),
        "macro_f1": macro_f1(y, pred, p.shape[1]),
        "weighted_log_loss": weighted_log_loss(y, p, names, class_weights),
        "confusion_matrix": confusion_matrix(y, pred, p.shape[1]).tolist(),
        "auc": {str(names[c]): r["auc"] for c, r in rocs.items()},
        "class_names": [str(n) for n in names],
    }


def nmad(x: np.ndarray) -> float:
    """Normalised median absolute deviation 1.4826 · median(|x − median(x)|) of the finite values
    (``astropy.stats.mad_std``)."""
    from astropy.stats import mad_std

    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise InputValidationError("nmad of an empty array")
    return float(mad_std(x))


def redshift_metrics(z_true: np.ndarray, z_pred: np.ndarray) -> dict[str, float]:
    """Photometric-redshift scores on Δz/(1+z): NMAD, bias (median), outlier fraction (|·| > 0.15)."""
    zt = np.asarray(z_true, dtype=np.float64).ravel()
    zp = np.asarray(z_pred, dtype=np.float64).ravel()
    if zt.shape != zp.shape:
        raise ShapeMismatchError(f"{zt.size} true and {zp.size} predicted redshifts")
    d = (zp - zt) / (1.0 + zt)
    return {"nmad": nmad(d), "bias": float(np.median(d)), "outlier_frac": float(np.mean(np.abs(d) > 0.15)),
            "n": int(zt.size)}


def period_metrics(p_true: np.ndarray, p_pred: np.ndarray, tol_dex: float = 0.01) -> dict[str, float]:
    """Period scores: median |Δ log10 P| (dex) and the fraction within ``tol_dex``."""
    pt = np.asarray(p_true, dtype=np.float64).ravel()
    pp = np.asarray(p_pred, dtype=np.float64).ravel()
    if pt.shape != pp.shape:
        raise ShapeMismatchError(f"{pt.size} true and {pp.size} predicted periods")
    if np.any(pt <= 0) or np.any(pp <= 0):
        raise InputValidationError("periods must be positive")
    d = np.abs(np.log10(pp / pt))
    return {"median_abs_dlog10p": float(np.median(d)), "frac_within": float(np.mean(d < tol_dex)),
            "tol_dex": tol_dex, "n": int(pt.size)}
