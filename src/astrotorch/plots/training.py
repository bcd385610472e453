"""Training-history plots."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402


def loss_curves(history: Any, title: str = "Training history") -> Any:
    """Training and validation loss per epoch (log scale when all positive) from ``model.history``."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
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
