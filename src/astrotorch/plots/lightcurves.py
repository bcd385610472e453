"""Pictures for light-curve models: light curves with class probabilities, confusion matrix, ROC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from astrotorch.lightcurves.container import LightCurve
from astrotorch.lightcurves.metrics import roc_curves

BAND_COLOURS = {"u": "#6a3d9a", "g": "#1f78b4", "r": "#33a02c", "R": "#33a02c", "i": "#ff7f00",
                "z": "#e31a1c", "y": "#8c510a"}


def plot_lightcurve(lc: LightCurve, ax: Any = None, probs: np.ndarray | None = None,
                    class_names: Sequence[str] | None = None, title: str | None = None) -> Any:
    """Flux (or magnitude, inverted axis) against days since the first observation, one colour per
    band, error bars; with ``probs`` a horizontal bar chart of the class probabilities is inset."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    t0 = lc.time[0] if len(lc) else 0.0
    for k, name in enumerate(lc.bands):
        sel = lc.band == k
        if sel.any():
            ax.errorbar(lc.time[sel] - t0, lc.value[sel], yerr=lc.error[sel], fmt="o", ms=3, lw=0.8,
                        color=BAND_COLOURS.get(name, None), label=name)
    ax.set_xlabel("days since first observation")
    ax.set_ylabel("flux [µJy]" if lc.kind == "flux" and lc.zero_point == 23.9 else
                  ("flux" if lc.kind == "flux" else "AB mag"))
    if lc.kind == "mag":
        ax.invert_yaxis()
    ax.legend(fontsize=7, ncol=3, loc="upper right")
    ax.set_title(title or f"{lc.object_id}  (true: {lc.label})", fontsize=9)
    if probs is not None:
        names = list(class_names) if class_names is not None else [str(i) for i in range(len(probs))]
        inset = ax.inset_axes([0.02, 0.55, 0.25, 0.42])
        order = np.argsort(probs)[::-1][:5]
        inset.barh(range(len(order)), np.asarray(probs)[order][::-1], color="0.4")
        inset.set_yticks(range(len(order)))
        inset.set_yticklabels([names[i] for i in order][::-1], fontsize=6)
        inset.set_xlim(0, 1)
        inset.tick_params(axis="x", labelsize=6)
    return ax


def plot_examples(curves: Sequence[LightCurve], probs: np.ndarray, class_names: Sequence[str], n: int = 6,
                  seed: int = 0) -> Any:
    """A grid of ``n`` example light curves (random, fixed seed) with their predicted probabilities."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(curves), size=min(n, len(curves)), replace=False)
    cols = 2
    rows = int(np.ceil(len(idx) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.2 * rows), squeeze=False)
    for ax, i in zip(axes.ravel(), idx):
        lc = curves[int(i)]
        pred = class_names[int(np.argmax(probs[i]))]
        plot_lightcurve(lc, ax, probs[i], class_names, title=f"{lc.object_id}: true {lc.label}, predicted {pred}")
    for ax in axes.ravel()[len(idx):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], normalise: bool = True) -> Any:
    """Confusion matrix (rows = true class) drawn by ``sklearn.metrics.ConfusionMatrixDisplay``;
    ``normalise`` shows row fractions with the counts in brackets."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(cm)
    frac = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalise else cm
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(class_names), 0.8 + 0.6 * len(class_names)))
    disp = ConfusionMatrixDisplay(frac, display_labels=list(class_names))
    disp.plot(ax=ax, cmap="Blues", colorbar=True, xticks_rotation=45, values_format=".2f" if normalise else "d",
              im_kw={"vmin": 0, "vmax": 1} if normalise else None)
    if normalise:
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                disp.text_[i, j].set_text(f"{frac[i, j]:.2f}\n({cm[i, j]})")
                disp.text_[i, j].set_fontsize(7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    return fig


def plot_roc(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> Any:
    """One-vs-rest ROC curve per class with its AUC."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for c, r in roc_curves(y_true, probs).items():
        ax.plot(r["fpr"], r["tpr"], lw=1.2, label=f"{class_names[c]} (AUC {r['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["plot_lightcurve", "plot_examples", "plot_confusion_matrix", "plot_roc"]
