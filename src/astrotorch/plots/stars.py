"""Figures for stellar-parameter models: HR diagram, predicted vs true, physics-violation bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from astrotorch.datasets.stars import STAR_TYPE_NAMES


def hr_diagram(inputs: pd.DataFrame, star_type: Sequence[int] | None = None, title: str = "HR diagram") -> Any:
    """log L (L_sun) against Teff (K, reversed, log scale), coloured by star type when given."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    teff = inputs["teff"].to_numpy(float)
    lum = inputs["luminosity"].to_numpy(float)
    if star_type is None:
        ax.scatter(teff, lum, s=4, alpha=0.6)
    else:
        st = np.asarray(star_type).astype(int)
        for k in np.unique(st):
            sel = st == k
            label = STAR_TYPE_NAMES[k] if 0 <= k < len(STAR_TYPE_NAMES) else str(k)
            ax.scatter(teff[sel], lum[sel], s=4, alpha=0.7, label=label)
        ax.legend(markerscale=3, fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(r"$T_\mathrm{eff}$ [K]")
    ax.set_ylabel(r"$L$ [$L_\odot$]")
    ax.set_title(title)
    return fig


def predicted_vs_true(pred: pd.DataFrame, truth: pd.DataFrame, targets: Sequence[str]) -> Any:
    """One panel per target: prediction against truth with the 1:1 line (error bars from ``<t>_err``)."""
    import matplotlib.pyplot as plt

    n = len(targets)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.6 * rows), squeeze=False)
    for ax, t in zip(axes.ravel(), targets):
        y, p = truth[t].to_numpy(float), pred[t].to_numpy(float)
        err = pred[f"{t}_err"].to_numpy(float) if f"{t}_err" in pred.columns else None
        if err is not None and np.any(err > 0):
            ax.errorbar(y, p, yerr=err, fmt=".", ms=2, alpha=0.4, elinewidth=0.5)
        else:
            ax.plot(y, p, ".", ms=2, alpha=0.5)
        lo, hi = np.nanmin(np.r_[y, p]), np.nanmax(np.r_[y, p])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"true {t}")
        ax.set_ylabel(f"predicted {t}")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def physics_violation_plot(violations: Mapping[str, Mapping[str, Any]]) -> Any:
    """Bars of the share of stars breaking each exact relation (> 0.1 %), one bar group per model.

    ``violations``: ``{model name: physics_violation(...) result}``.
    """
    import matplotlib.pyplot as plt

    names = list(violations)
    relations = [k for k in next(iter(violations.values())) if k != "any_violation_rate"]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(relations))
    for i, name in enumerate(names):
        rates = [violations[name][r]["violation_rate"] if r in violations[name] else np.nan for r in relations]
        ax.bar(x + i * width, rates, width, label=f"{name} (any: {violations[name]['any_violation_rate']:.3f})")
    ax.set_xticks(x + width * (len(names) - 1) / 2)
    ax.set_xticklabels(relations, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("share of stars violating (> 0.1 %)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["hr_diagram", "predicted_vs_true", "physics_violation_plot"]
