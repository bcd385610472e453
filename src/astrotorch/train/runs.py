"""Run folders: everything one training run produced, written atomically.

A run folder holds the saved model, ``metrics.json``, ``plots/*.png`` and ``report.md``. It is built
under a temporary sibling name and renamed into place only when the ``with`` block succeeds, so a
crash never leaves a half-written run at the final path.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.io import atomic_dir


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, Paths and tuples into JSON-friendly values (NaN → None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


class RunFolder:
    """Context manager building a run folder atomically.

    Example::

        with RunFolder("runs/bcnn", overwrite=True) as run:
            model.save(run.path / "model")
            run.write_metrics({"teff_mae": 31.2})
            run.savefig(fig, "residuals.png")
            run.write_report(text)
        print(run.final_path)
    """

    def __init__(self, path: str | Path, overwrite: bool = False) -> None:
        self.final_path = Path(path)
        self.overwrite = overwrite
        self._ctx: Any = None
        self.path: Path = self.final_path  # replaced by the temporary path inside the block
        self.figures: list[str] = []

    def __enter__(self) -> RunFolder:
        self._ctx = atomic_dir(self.final_path, overwrite=self.overwrite)
        self.path = Path(self._ctx.__enter__())
        (self.path / "plots").mkdir(exist_ok=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        result = self._ctx.__exit__(exc_type, exc, tb)
        self.path = self.final_path
        return result

    def write_json(self, name: str, data: Any) -> Path:
        target = self.path / name
        target.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")
        return target

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """Write ``metrics.json``."""
        return self.write_json("metrics.json", metrics)

    def savefig(self, fig: Any, name: str, dpi: int = 120) -> Path:
        """Save a matplotlib figure under ``plots/`` and close it."""
        import matplotlib.pyplot as plt

        target = self.path / "plots" / name
        fig.savefig(target, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(f"plots/{name}")
        return target

    def write_report(self, markdown: str) -> Path:
        """Write ``report.md``."""
        target = self.path / "report.md"
        target.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
        return target


def markdown_table(rows: list[dict[str, Any]], floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured markdown table from a list of dicts (columns from the first row)."""
    if not rows:
        return ""
    cols = list(rows[0])

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
