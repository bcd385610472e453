"""``astrotorch train stars`` / ``astrotorch predict stars``: the physics-informed stellar model.

:func:`train_stars` trains :class:`~astrotorch.models.stars.StellarPhysicsModel` on the synthetic
HR-diagram catalogue (``--data synthetic``), the real Fusion set (``--data fusion``) or a pair of CSVs
(``--data inputs.csv`` with ``teff, luminosity, radius`` columns and ``--targets targets.csv`` with the
sixteen target columns), evaluates it on a fixed-seed held-out split and writes a run folder:
``model/``, ``metrics.json``, ``plots/`` (HR diagram, predicted vs true, physics violation, loss curve)
and ``report.md``. :func:`predict_stars` writes a CSV with every output, its uncertainty and the
class probabilities. Both are plain functions as well as typer commands (registered by ``cli/main.py``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from typing_extensions import Annotated

from astrotorch.errors import InputValidationError


def _load(data: str, targets: Optional[str], n_synthetic: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from astrotorch.datasets.stars import load_gaia_dr3_stars, read_star_inputs, read_star_targets, synthetic_stars

    if data == "synthetic":
        x, y = synthetic_stars(n_synthetic, seed=seed)
        return x, y, f"synthetic HR-diagram catalogue (astrotorch.datasets.stars, {n_synthetic} stars, seed {seed})"
    if data == "fusion":
        x, y = load_gaia_dr3_stars()
        return x, y, f"Gaia DR3 Fusion set ({len(x)} stars, shared data folder)"
    path = Path(data)
    if not path.is_file():
        raise InputValidationError(f"--data must be 'synthetic', 'fusion' or an existing CSV, got {data!r}")
    if targets is None:
        raise InputValidationError("a CSV --data needs --targets (CSV with the target columns, same rows)")
    if not Path(targets).is_file():
        raise InputValidationError(f"--targets {targets} does not exist or is not a file")
    x = read_star_inputs(path)
    y = read_star_targets(targets)
    if len(y) != len(x):
        raise InputValidationError(f"{data} has {len(x)} rows but {targets} has {len(y)}")
    y.index = x.index
    return x, y, f"CSV {path.name} + {Path(targets).name} ({len(x)} stars)"


def train_stars(
    data: Annotated[str, typer.Option(help="'synthetic', 'fusion' (the real Gaia DR3 set) or an inputs CSV")] = "synthetic",
    targets: Annotated[Optional[str], typer.Option(help="targets CSV for a CSV --data")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="maximum training epochs")] = 100,
    out: Annotated[Path, typer.Option(help="run folder to write")] = Path("runs/stars"),
    seed: Annotated[int, typer.Option(help="seed for data, split and weights")] = 0,
    test_fraction: Annotated[float, typer.Option(help="held-out share of the stars")] = 0.2,
    n_synthetic: Annotated[int, typer.Option(help="stars in the synthetic catalogue")] = 5000,
    hidden: Annotated[int, typer.Option(help="MLP width")] = 128,
    consistency_weight: Annotated[float, typer.Option(help="penalty on bending approximate relations")] = 0.01,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run folder (only one astrotorch wrote)")] = False,
) -> Path:
    """Train the physics-informed stellar model and write a run folder; returns its path."""
    from astrotorch.cli.main import check_out

    check_out(out, overwrite, inputs=[] if data in ("synthetic", "fusion") else [data, targets])
    import torch

    from astrotorch.datasets.stars import STAR_CLASS_TARGETS, split_indices
    from astrotorch.models.stars import DERIVED_TARGETS, StellarPhysicsModel, physics_violation, stellar_metrics
    from astrotorch.plots.stars import hr_diagram, physics_violation_plot, predicted_vs_true
    from astrotorch.train.runs import RunFolder, markdown_table

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    x, y, desc = _load(data, targets, n_synthetic, seed)
    tr, te = split_indices(len(x), test_fraction, seed=seed)
    model = StellarPhysicsModel(max_epochs=epochs, seed=seed, hidden=hidden, consistency_weight=consistency_weight,
                                accelerator="cpu")
    t0 = time.perf_counter()
    model.fit(x.iloc[tr], y.iloc[tr])
    fit_s = time.perf_counter() - t0
    frame = model.predict_frame(x.iloc[te])
    truth = y.iloc[te]
    metrics = stellar_metrics(frame, truth)
    ref = truth.copy()
    for c in ("teff", "luminosity", "radius"):
        ref[f"{c}_completed"] = frame[f"{c}_completed"].to_numpy()
    violation = physics_violation(frame, reference=ref)
    result = {
        "data": desc,
        "n_train": len(tr),
        "n_test": len(te),
        "epochs_run": 0 if model.history is None else len(model.history),
        "fit_seconds": fit_s,
        "relations": model.relation_parameters(),
        "metrics": metrics,
        "physics_violation": violation,
    }
    with RunFolder(out, overwrite=overwrite) as run:
        model.save(run.path / "model")
        run.write_metrics(result)
        run.savefig(hr_diagram(x.iloc[te], frame["star_type"], title="held-out stars, predicted star type"), "hr_diagram.png")
        shown = [t for t in ("logg", "mv", "mh", "mass", "mbol", "peak_wavelength") if t in truth and truth[t].notna().any()]
        run.savefig(predicted_vs_true(frame, truth, shown), "predicted_vs_true.png")
        run.savefig(physics_violation_plot({"stellar_physics": violation}), "physics_violation.png")
        if model.history is not None and len(model.history):
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(5, 3.5))
            for col in [c for c in model.history.columns if "loss" in c]:
                ax.plot(model.history[col].to_numpy(), label=col)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss")
            ax.legend()
            run.savefig(fig, "loss.png")
        rows = [{"output": t, **{k: v for k, v in m.items() if k != "n"}} for t, m in metrics.items() if t not in STAR_CLASS_TARGETS]
        crows = [{"class": t, **metrics[t]} for t in STAR_CLASS_TARGETS if t in metrics]
        worst = min((metrics[t]["frac_within_1pct"] for t in DERIVED_TARGETS if t in metrics), default=float("nan"))
        report = "\n".join([
            "# Stellar model run",
            "",
            f"Data: {desc}. Held-out split: {len(te)} stars (seed {seed}); trained {result['epochs_run']} epochs in {fit_s:.0f} s.",
            "",
            "## Regression outputs (held-out)",
            markdown_table(rows),
            "",
            "## Classes",
            markdown_table(crows),
            "",
            f"Worst share within 1 % over the formula-derived outputs: {worst:.4f}.",
            f"Physics violation (share of stars breaking an exact relation by > 0.1 %): {violation['any_violation_rate']:.4f}.",
            "",
            "## Fitted relations",
            "```",
            json.dumps(result["relations"], indent=2),
            "```",
            "",
            "Plots: " + ", ".join(run.figures),
        ])
        run.write_report(report)
    return Path(out)


def predict_stars(
    model_folder: Annotated[Path, typer.Argument(help="the model/ folder of a stars run (or the run folder)")],
    csv: Annotated[Path, typer.Argument(help="CSV with at least two of teff, luminosity, radius")],
    out_csv: Annotated[Path, typer.Argument(help="CSV to write")],
    errors_csv: Annotated[Optional[Path], typer.Option(help="CSV of the inputs' 1σ errors (same columns)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing output CSV (never an input)")] = False,
) -> Path:
    """Predict every output, its uncertainty (``<name>_err``) and class probabilities for a CSV of stars."""
    from astrotorch.io import check_output_path

    folder = Path(model_folder)
    if (folder / "model").is_dir() and not (folder / "manifest.json").exists():
        folder = folder / "model"
    check_output_path(out_csv, overwrite=overwrite, inputs=[folder, csv, errors_csv], label="OUT_CSV",
                      overwrite_hint="--overwrite")
    import astrotorch.models.stars  # noqa: F401  (registers the model class for load_folder)
    from astrotorch.datasets.stars import read_star_inputs
    from astrotorch.io import atomic_write
    from astrotorch.models import load_folder

    x = read_star_inputs(csv)
    x_err = read_star_inputs(errors_csv) if errors_csv is not None else None
    model = load_folder(folder)
    if model.name != "stellar_physics":
        raise InputValidationError(f"{folder} holds a {model.name!r} model, not a stellar_physics model")
    frame = model.predict_frame(x, x_err=x_err)
    frame.insert(0, "row", x.index)
    out_csv = Path(out_csv)
    with atomic_write(out_csv, mode="w") as fh:
        frame.to_csv(fh, index=False)
    return out_csv


__all__ = ["train_stars", "predict_stars"]
