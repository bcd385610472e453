"""Plots for the image tasks: confusion matrix, reliability diagram, cluster-mass diagnostics.

Every function returns a :class:`matplotlib.figure.Figure` built outside pyplot (the backend is
never selected or changed; nothing is shown) for ``RunFolder.savefig`` or ``fig.savefig``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from astrotorch.errors import InputValidationError, ShapeMismatchError


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of truth class ``i`` predicted as ``j`` (labels < 0 are skipped)."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ShapeMismatchError(f"y_true has {t.size} labels, y_pred {p.size}")
    keep = (t >= 0) & (p >= 0)
    k = int(n_classes) if n_classes is not None else int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (t[keep], p[keep]), 1)
    return conf


def confusion_matrix_plot(
    confusion: np.ndarray, class_names: Sequence[str] | None = None, normalize: bool = True, title: str = "Confusion matrix"
) -> Any:
    """Confusion matrix: rows truth, columns prediction; colour = row-normalised fraction, text = counts."""
    conf = np.asarray(confusion)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1]:
        raise ShapeMismatchError(f"confusion matrix must be square, got shape {conf.shape}")
    k = conf.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ShapeMismatchError(f"{len(names)} class names for a {k}×{k} confusion matrix")
    rows = conf.sum(axis=1, keepdims=True)
    frac = np.divide(conf, rows, out=np.zeros(conf.shape, dtype=float), where=rows > 0) if normalize else conf / max(conf.max(), 1)
    size = max(4.0, 0.55 * k + 2.5)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(conf[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if frac[i, j] > 0.6 else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class" if normalize else "count / max")
    fig.tight_layout()
    return fig


def reliability_plot(probs: Any, labels: Any, n_bins: int = 15, title: str = "Reliability diagram") -> Any:
    """Accuracy against confidence (top-class probability) in ``n_bins`` equal-width bins, with the ECE."""
    from astrotorch.uncertainty.calibration import expected_calibration_error

    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ShapeMismatchError(f"probs must be (N, C) with N = len(labels); got {p.shape} and {y.shape}")
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    acc = np.array([correct[idx == b].mean() if (idx == b).any() else np.nan for b in range(n_bins)])
    cnt = np.bincount(idx, minlength=n_bins)
    ece = expected_calibration_error(p, y, n_bins=n_bins)
    fig = Figure(figsize=(4.8, 5.6))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.bar(centres, acc, width=1 / n_bins, edgecolor="k", alpha=0.7, label=f"accuracy (ECE = {ece:.3f})")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    ax2.bar(centres, cnt, width=1 / n_bins, color="grey")
    ax2.set_xlabel("confidence (top-class probability)")
    ax2.set_ylabel("count")
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, labels: Sequence[Any] | None = None, ncols: int = 8, title: str | None = None) -> Any:
    """A grid of (N, H, W, 3) uint8 / float images (g, r, z shown as blue, green, red)."""
    imgs = np.asarray(images)
    if imgs.ndim != 4:
        raise InputValidationError(f"images must be (N, H, W, C), got shape {imgs.shape}")
    n = imgs.shape[0]
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(1.3 * ncols, 1.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= n:
            continue
        im = imgs[k]
        if im.dtype != np.uint8:
            lo, hi = np.percentile(im, [1, 99.5])
            im = np.clip((im - lo) / max(hi - lo, 1e-12), 0, 1)
        ax.imshow(im[..., ::-1] if im.shape[-1] == 3 else im[..., 0], origin="lower")
        if labels is not None:
            ax.set_title(str(labels[k]), fontsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------- cluster masses
def mass_scatter_plot(true_logm: Any, pred_logm: Any, redshift: Any, sigma: Any | None = None, title: str = "Cluster masses") -> Any:
    """Predicted against true log10 M500, coloured by redshift, with the 1:1 line, bias and scatter."""
    t, p, z = (np.asarray(a, dtype=float).ravel() for a in (true_logm, pred_logm, redshift))
    if not (t.shape == p.shape == z.shape):
        raise ShapeMismatchError(f"true, predicted and redshift must have the same length: {t.size}, {p.size}, {z.size}")
    r = p - t
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.subplots()
    if sigma is not None:
        s = np.asarray(sigma, dtype=float).ravel()
        ax.errorbar(t, p, yerr=s, fmt="none", ecolor="0.8", lw=0.5, zorder=1)
    sc = ax.scatter(t, p, c=z, s=6, cmap="viridis", zorder=2)
    lo, hi = min(t.min(), p.min()), max(t.max(), p.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel(r"true $\log_{10} M_{500}\ [M_\odot]$")
    ax.set_ylabel(r"predicted $\log_{10} M_{500}\ [M_\odot]$")
    ax.set_title(title)
    ax.text(0.04, 0.96, f"bias = {r.mean():+.3f} dex\nscatter = {r.std(ddof=1):.3f} dex", transform=ax.transAxes,
            va="top", fontsize=9, bbox=dict(fc="white", alpha=0.8))
    fig.colorbar(sc, ax=ax, label="redshift z")
    fig.tight_layout()
    return fig


def error_histogram(true_logm: Any, pred_logm: Any, bins: int = 40, title: str = "Mass errors") -> Any:
    """Histogram of ``predicted - true`` in dex with the mean (bias) and standard deviation (scatter)."""
    r = np.asarray(pred_logm, dtype=float).ravel() - np.asarray(true_logm, dtype=float).ravel()
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    ax.hist(r, bins=bins, color="C0", alpha=0.8)
    ax.axvline(0, color="k", lw=1)
    ax.axvline(r.mean(), color="C3", ls="--", label=f"bias {r.mean():+.3f} dex")
    ax.set_xlabel(r"$\log_{10} M_{500}$ predicted − true [dex]")
    ax.set_ylabel("clusters")
    ax.set_title(f"{title} (scatter {r.std(ddof=1):.3f} dex)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def zscore_histogram(true_logm: Any, pred_logm: Any, sigma: Any, title: str = "z-scores") -> Any:
    """Histogram of ``(pred - true) / σ`` against the unit normal (σ calibration)."""
    z = (np.asarray(pred_logm, float).ravel() - np.asarray(true_logm, float).ravel()) / np.asarray(sigma, float).ravel()
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    ax.hist(z, bins=np.linspace(-5, 5, 51), density=True, alpha=0.7, label=f"std = {z.std(ddof=1):.2f}")
    g = np.linspace(-5, 5, 201)
    ax.plot(g, np.exp(-0.5 * g**2) / np.sqrt(2 * np.pi), "k", lw=1, label="N(0, 1)")
    ax.set_xlabel("z-score")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mass_bias_plot(true_logm: Any, pred_logm: Any, edges: Any | None = None, sigma: Any | None = None,
                   title: str = "Binned mass bias") -> Any:
    """Bias (mean of predicted − true log10 M500, dex) and scatter per bin of true mass, with the fitted
    slope of predicted against true: the mass-dependent bias a mass function is sensitive to. Bins and
    slope come from :func:`astrotorch.models.cluster.binned_mass_bias` / :func:`~astrotorch.models.cluster.mass_slope`."""
    from astrotorch.models.cluster import binned_mass_bias, mass_slope

    rows = binned_mass_bias(true_logm, pred_logm, edges=edges, sigma=sigma)
    slope = mass_slope(true_logm, pred_logm, lo=rows[0]["lo"], hi=rows[-1]["hi"])
    centre = np.array([0.5 * (r["lo"] + r["hi"]) for r in rows])
    bias = np.array([r["bias_dex"] for r in rows])
    scat = np.array([r["scatter_dex"] for r in rows])
    err = scat / np.sqrt(np.maximum([r["n"] for r in rows], 1))
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.subplots()
    ax.axhline(0, color="k", lw=1)
    ax.fill_between(centre, bias - scat, bias + scat, color="C0", alpha=0.15, label="± scatter")
    ax.errorbar(centre, bias, yerr=err, fmt="o-", color="C0", label="bias (± its standard error)")
    ax.set_xlabel(r"true $\log_{10} M_{500}\ [M_\odot]$")
    ax.set_ylabel("predicted − true [dex]")
    ax.set_title(f"{title} (slope {slope:.3f})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------- selection
def precision_recall_plot(probs: Any, labels: Any, class_names: Sequence[str] | None = None,
                          purity: float | None = None, title: str = "Precision–recall (one vs rest)") -> Any:
    """Per-class precision–recall curves (:func:`astrotorch.uncertainty.selection.precision_recall_curves`)
    with each class's average precision and prevalence (the precision of a random selection) in the
    legend; ``purity`` draws that precision level as a horizontal line."""
    from astrotorch.uncertainty.selection import precision_recall_curves

    curves = precision_recall_curves(probs, labels, class_names)
    fig = Figure(figsize=(5.6, 4.4))
    ax = fig.subplots()
    for i, (name, c) in enumerate(curves.items()):
        if c["n_positive"] == 0:
            continue
        ax.step(c["recall"], c["precision"], where="post", color=f"C{i}",
                label=f"{name}: AP {c['average_precision']:.2f} (n = {c['n_positive']}, base {c['prevalence']:.2f})")
    if purity is not None:
        ax.axhline(purity, color="k", ls=":", lw=1, label=f"purity {purity:g}")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (completeness)")
    ax.set_ylabel("precision (purity)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


__all__ = [
    "confusion_matrix",
    "confusion_matrix_plot",
    "reliability_plot",
    "image_grid",
    "mass_scatter_plot",
    "error_histogram",
    "zscore_histogram",
    "mass_bias_plot",
    "precision_recall_plot",
]
