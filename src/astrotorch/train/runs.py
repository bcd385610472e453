"""Run folders: everything one training run produced, written atomically.

A run folder holds the saved model, ``metrics.json``, ``plots/*.png``, ``report.md``, the held-out
set's per-object predictions (``predictions_test.csv``) and the training log (``logs/``). It is built
under a temporary sibling name and renamed into place only when the ``with`` block succeeds, so a
crash never leaves a half-written run at the final path.

:func:`baseline_comparison` puts a network's metrics beside the classical baselines'
(:mod:`astrotorch.train.baselines`) as a report section and a ``metrics.json`` entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
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

    def write_table(self, name: str, table: Any, units: Mapping[str, str] | None = None,
                    meta: Mapping[str, Any] | None = None) -> Path:
        """Write a table (e.g. ``predictions_test.csv``) with :func:`astrotorch.io.write_table`."""
        from astrotorch.io import write_table

        return write_table(table, self.path / name, units=units, meta=meta)

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


def baseline_comparison(network: Mapping[str, Any], baselines: Mapping[str, Any],
                        metrics: Sequence[str | tuple[str, Sequence[str | None]]],
                        outputs: Sequence[str | None] | None = None, model_name: str = "network",
                        note: str = "") -> tuple[str, dict[str, Any]]:
    """The network beside the classical baselines on the same split.

    ``network``: per-output metrics (``{output: {metric: value}}``) or, with ``outputs=[None]``, one
    flat dict (classification); ``baselines``: name → :class:`~astrotorch.train.baselines.BaselineResult`.
    For each of ``metrics`` (a name, or ``(name, outputs)`` to score other outputs than ``outputs``),
    one line per output says which wins (:func:`~astrotorch.train.baselines.which_wins`). Returns
    ``(markdown section, JSON entry)``; the JSON holds each baseline's metrics and fit time and the
    which-wins rows per metric.
    """
    from astrotorch.train.baselines import HIGHER_IS_BETTER, which_wins

    lines = ["## Classical baselines on the same split", ""]
    if note:
        lines += [note, ""]
    lines += [f"- **{name}** (fitted in {getattr(b, 'fit_seconds', 0.0):.1f} s)" for name, b in baselines.items()]
    lines.append("")
    wins: dict[str, list[dict[str, Any]]] = {}
    for item in metrics:
        metric, outs = (item, outputs) if isinstance(item, str) else item
        rows = which_wins(network, baselines, outputs=outs, metric=metric, model_name=model_name)
        if not rows:
            continue
        wins[metric] = rows
        better = "higher" if HIGHER_IS_BETTER[metric] else "lower"
        lines += [f"### {metric} ({better} is better)", "", markdown_table(rows), ""]
        lines += [f"- {r['output']}: **{r['wins']}** wins" for r in rows]
        lines.append("")
    entry = {"baselines": {name: {"metrics": b.metrics, "fit_seconds": b.fit_seconds,
                                  **({"info": {k: v for k, v in b.info.items() if k != "frame"}} if b.info else {})}
                           for name, b in baselines.items()},
             "which_wins": wins}
    return "\n".join(lines), entry
