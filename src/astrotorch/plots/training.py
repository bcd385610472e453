"""Training-history plots.

Figures are built as :class:`matplotlib.figure.Figure` objects, outside pyplot: importing or
calling this module never selects or changes matplotlib's backend, and saving works headless.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def loss_curves(history: Any, title: str = "Training history") -> Figure:
    """Training and validation loss per epoch (log scale when all positive) from ``model.history``."""
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    if history is None or len(history) == 0:
        ax.text(0.5, 0.5, "no training history", ha="center", va="center", transform=ax.transAxes)
        return fig
    epochs = history["epoch"] if "epoch" in history else range(len(history))
    for col, label in (("loss", "training"), ("val_loss", "validation")):
        if col in history:
            ax.plot(epochs, history[col], marker="o", ms=3, label=label)
    vals = [v for c in ("loss", "val_loss") if c in history for v in history[c] if v == v]
    if vals and min(vals) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
