"""Selecting the objects of one class at a chosen purity, and per-class precision–recall curves.

Semantics of a purity selection (:func:`fit_purity_threshold`, :meth:`PuritySelection.select`):

* a *purity* (precision) target p for class k is turned into a probability threshold t on a
  **labelled validation set** that the classifier did not train on: t is the lowest threshold at which
  the objects with ``P(k) ≥ t`` are at least a fraction p of class k — the threshold with the largest
  validation recall among those meeting the purity (precision is not monotonic in t, so "lowest" means
  lowest among the thresholds that meet it, not the first crossing);
* the threshold is then applied unchanged to new objects: ``select`` keeps those with ``P(k) ≥ t``.
  Their purity is the validation purity only in expectation; with few validation objects of class k
  it is a noisy estimate (``n_positive`` says how many the threshold rests on), so always check it
  on a labelled test set (:func:`selection_scores`);
* when no threshold reaches p on the validation set the selection is empty (t = +inf, ``reached``
  False): a purity target is a promise about what is selected, and nothing is the only safe choice.

With calibrated probabilities the mean ``P(k)`` of the selected objects is itself an estimate of the
selection's purity that needs no labels (``expected_purity`` in :func:`selection_scores`).

:func:`class_probabilities` is the one place that gets probabilities out of a classifier
(``predict_proba`` where the model has it, else the probability part of ``predict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from astrotorch.errors import InputValidationError, ShapeMismatchError


def class_probabilities(model: Any, x: Any, **kw: Any) -> np.ndarray:
    """Class probabilities (N, C) of a fitted classifier: ``predict_proba(x)`` if it has one, otherwise
    ``predict(x)`` (its first element when ``predict`` returns ``(probabilities, uncertainties)``)."""
    if hasattr(model, "predict_proba"):
        out = model.predict_proba(x, **kw)
    else:
        out = model.predict(x, **kw)
    probs = out[0] if isinstance(out, tuple) else out
    return np.asarray(probs, dtype=np.float64)


def _check(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).ravel()
    if p.ndim != 2:
        raise ShapeMismatchError(f"probabilities must be (N, C), got shape {p.shape}")
    if p.shape[0] != y.size:
        raise ShapeMismatchError(f"{p.shape[0]} probability rows but {y.size} labels")
    if not np.isfinite(p).all():
        raise InputValidationError("probabilities contain NaN or inf")
    ok = y >= 0  # negative labels: unlabelled rows, skipped
    return p[ok], y[ok]


def _class_index(cls: int | str, class_names: Sequence[str] | None, n_classes: int) -> int:
    if isinstance(cls, str):
        if class_names is None or cls not in class_names:
            raise InputValidationError(f"class {cls!r} not among the class names {list(class_names or [])}")
        return list(class_names).index(cls)
    k = int(cls)
    if not 0 <= k < n_classes:
        raise InputValidationError(f"class index {k} outside 0..{n_classes - 1}")
    return k


def precision_recall_curves(probs: Any, labels: Any, class_names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """One-vs-rest precision–recall curve of every class (scikit-learn ``precision_recall_curve``).

    Returns ``{name: {"precision", "recall", "thresholds" (arrays), "average_precision", "n_positive",
    "prevalence"}}``; a class with no labelled object gets NaN average precision and empty curves."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    p, y = _check(probs, labels)
    names = list(class_names) if class_names is not None else [str(k) for k in range(p.shape[1])]
    if len(names) != p.shape[1]:
        raise ShapeMismatchError(f"{len(names)} class names for {p.shape[1]} probability columns")
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        pos = y == k
        if not pos.any():
            out[name] = {"precision": np.array([]), "recall": np.array([]), "thresholds": np.array([]),
                         "average_precision": float("nan"), "n_positive": 0, "prevalence": 0.0}
            continue
        prec, rec, thr = precision_recall_curve(pos, p[:, k])
        out[name] = {"precision": prec, "recall": rec, "thresholds": thr,
                     "average_precision": float(average_precision_score(pos, p[:, k])),
                     "n_positive": int(pos.sum()), "prevalence": float(pos.mean())}
    return out


def recall_at_purity(probs: Any, labels: Any, cls: int | str, purity: float,
                     class_names: Sequence[str] | None = None) -> float:
    """The largest recall of class ``cls`` at which the selection ``P(cls) ≥ t`` has precision ≥ ``purity``
    on these labelled objects (the precision–recall curve read at that purity; 0 when never reached).
    Read on a test set it is an optimistic figure: the threshold is chosen on the same objects."""
    p, y = _check(probs, labels)
    k = _class_index(cls, class_names, p.shape[1])
    sel = fit_purity_threshold(p, y, k, purity)
    return sel.validation_recall


@dataclass
class PuritySelection:
    """A probability threshold for class ``class_index`` chosen to reach ``target_purity`` (see the
    module docstring). ``validation_purity``/``validation_recall``: what it gave on the validation set;
    ``n_positive``: validation objects of the class; ``n_selected``: validation objects selected."""

    class_index: int
    class_name: str | None
    target_purity: float
    threshold: float
    reached: bool
    validation_purity: float
    validation_recall: float
    n_positive: int
    n_selected: int

    def select(self, probs: Any) -> np.ndarray:
        """Boolean mask (N,) of the new objects selected: ``P(class) ≥ threshold``."""
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] <= self.class_index:
            raise ShapeMismatchError(f"probabilities must be (N, C) with C > {self.class_index}, got {p.shape}")
        return p[:, self.class_index] >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_purity_threshold(probs: Any, labels: Any, cls: int | str, purity: float,
                         class_names: Sequence[str] | None = None) -> PuritySelection:
    """Choose the threshold on ``P(cls)`` that selects class ``cls`` at precision ≥ ``purity`` with the
    largest recall on this labelled validation set (module docstring: semantics and caveats)."""
    if not 0.0 < float(purity) <= 1.0:
        raise InputValidationError(f"purity must be in (0, 1], got {purity}")
    p, y = _check(probs, labels)
    k = _class_index(cls, class_names, p.shape[1])
    name = list(class_names)[k] if class_names is not None else None
    pos = y == k
    n_pos = int(pos.sum())
    if n_pos == 0:
        return PuritySelection(k, name, float(purity), float("inf"), False, float("nan"), 0.0, 0, 0)
    score = p[:, k]
    order = np.argsort(-score, kind="stable")
    s, hit = score[order], pos[order]
    tp = np.cumsum(hit)
    n_sel = np.arange(1, s.size + 1)
    # a threshold can only sit where the score changes: keep the last row of each run of ties
    last = np.r_[s[1:] != s[:-1], True]
    prec, rec = tp / n_sel, tp / n_pos
    good = last & (prec >= purity - 1e-12)
    if not good.any():
        return PuritySelection(k, name, float(purity), float("inf"), False, float("nan"), 0.0, n_pos, 0)
    i = int(np.flatnonzero(good)[-1])  # lowest qualifying threshold = largest recall
    return PuritySelection(k, name, float(purity), float(s[i]), True, float(prec[i]), float(rec[i]), n_pos, int(n_sel[i]))


def selection_scores(selection: PuritySelection, probs: Any, labels: Any | None = None) -> dict[str, float]:
    """How a selection does on objects ``probs``: how many are selected, the mean ``P(class)`` of the
    selected (``expected_purity``, a label-free purity estimate for calibrated probabilities) and, with
    ``labels``, the realised purity and recall."""
    p = np.asarray(probs, dtype=np.float64)
    mask = selection.select(p)
    out: dict[str, float] = {"n_selected": int(mask.sum()),
                             "expected_purity": float(p[mask, selection.class_index].mean()) if mask.any() else float("nan")}
    if labels is not None:
        y = np.asarray(labels).astype(np.int64).ravel()
        if y.size != p.shape[0]:
            raise ShapeMismatchError(f"{p.shape[0]} probability rows but {y.size} labels")
        pos = y == selection.class_index
        out["purity"] = float(pos[mask].mean()) if mask.any() else float("nan")
        out["recall"] = float((pos & mask).sum() / pos.sum()) if pos.any() else float("nan")
        out["n_positive"] = int(pos.sum())
    return out


__all__ = [
    "class_probabilities",
    "precision_recall_curves",
    "recall_at_purity",
    "PuritySelection",
    "fit_purity_threshold",
    "selection_scores",
]
