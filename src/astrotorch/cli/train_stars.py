"""``astrotorch train stars`` / ``astrotorch predict stars``: the physics-informed stellar model.

:func:`train_stars` trains :class:`~astrotorch.models.stars.StellarPhysicsModel` on the synthetic
HR-diagram catalogue (``--data synthetic``), the real Fusion set (``--data fusion``) or a pair of CSVs
(``--data inputs.csv`` with ``teff, luminosity, radius`` columns or the published Fusion headers, and
``--targets targets.csv`` with the target columns, by our names or the Fusion headers), evaluates it
on a fixed-seed held-out split beside boosted trees on log(Teff, L, R) (the same split) and writes a
run folder: ``model/``, ``metrics.json``, ``predictions_test.csv``, ``logs/``, ``plots/`` (HR diagram,
predicted vs true, physics violation, loss curve) and ``report.md``. :func:`predict_stars` writes the
prediction table (ids, every output with its σ, class probabilities). Both are plain functions as
well as typer commands (registered by ``cli/main.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from astrotorch.cli import options as O
from astrotorch.errors import DataFormatError, InputValidationError

#: units of the prediction-table columns (the free-text notes of STAR_TARGET_UNITS go to the metadata)
_COMPLETED_UNITS = {"teff_completed": "K", "luminosity_completed": "L_sun", "radius_completed": "R_sun"}


def _load(data: str, targets: str | None, n_synthetic: int, seed: int,
          id_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from astrotorch.datasets.stars import (
        load_gaia_dr3_stars,
        read_star_inputs,
        read_star_targets,
        synthetic_stars,
    )

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
    x = read_star_inputs(path, id_column=id_column)
    y = read_star_targets(targets)
    if len(y) != len(x):
        raise InputValidationError(f"{data} has {len(x)} rows but {targets} has {len(y)}")
    if not isinstance(y.index, pd.RangeIndex) and not isinstance(x.index, pd.RangeIndex) \
            and not np.array_equal(y.index.to_numpy(), x.index.to_numpy()):
        raise DataFormatError(f"the star ids of {data} and {targets} do not line up row by row")
    y.index = x.index
    return x, y, f"CSV {path.name} + {Path(targets).name} ({len(x)} stars)"


def stars_table(frame: pd.DataFrame, ids: Any, id_name: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The stellar model's :meth:`predict_frame` as a prediction table (the contract of
    :mod:`astrotorch.cli.prediction_table`): ids; every regression output with ``_sigma`` (total) and
    ``_sigma_<part>``; the completed Teff, L, R; per class output ``p_<output>_<class>``, the predicted
    class's name (``<output>``) and its catalogue code (``<output>_code``)."""
    from astrotorch.cli.prediction_table import assemble, classification_columns, regression_columns
    from astrotorch.datasets.stars import (
        LUMINOSITY_CLASS_NAMES,
        N_CLASSES,
        SPECTRAL_CLASS_NAMES,
        STAR_CLASS_TARGETS,
        STAR_TARGET_UNITS,
        STAR_TARGETS,
        STAR_TYPE_NAMES,
    )

    reg = [t for t in STAR_TARGETS if t not in STAR_CLASS_TARGETS]
    parts = {"total": frame[[f"{t}_err" for t in reg]].to_numpy(float)}
    for part in ("predictive", "model", "propagated"):
        if all(f"{t}_{part}_err" in frame for t in reg):
            parts[part] = frame[[f"{t}_{part}_err" for t in reg]].to_numpy(float)
    units = {t: STAR_TARGET_UNITS[t].split(" (")[0] for t in reg}
    pieces = [regression_columns(reg, frame[reg].to_numpy(float), parts, units),
              regression_columns(list(_COMPLETED_UNITS), frame[list(_COMPLETED_UNITS)].to_numpy(float), None,
                                 _COMPLETED_UNITS)]
    names = {"spectral_class": SPECTRAL_CLASS_NAMES, "luminosity_class": LUMINOSITY_CLASS_NAMES,
             "star_type": STAR_TYPE_NAMES}
    for c in STAR_CLASS_TARGETS:
        probs = frame[[f"{c}_p{k}" for k in range(N_CLASSES[c])]].to_numpy(float)
        cols, col_units = classification_columns(names[c], probs, output=c)
        code = frame[c].to_numpy(np.int64)  # the model's class rule, which the probabilities follow
        cols[c] = np.asarray(names[c], dtype=object)[code]
        cols[f"{c}_code"] = code
        pieces.append((cols, col_units))
    return assemble(ids, id_name, *pieces)


def _star_ids(x: pd.DataFrame) -> tuple[np.ndarray, str]:
    """The stars' ids (the index the readers set from an id column) or, without one, the row numbers."""
    if isinstance(x.index, pd.RangeIndex):
        return np.arange(len(x)), "row"
    return x.index.to_numpy(), str(x.index.name or "id")


def _star_meta(model: Any, **extra: Any) -> dict[str, Any]:
    from astrotorch.cli.prediction_table import table_meta
    from astrotorch.datasets.stars import (
        LUMINOSITY_CLASS_NAMES,
        SPECTRAL_CLASS_NAMES,
        STAR_TARGET_UNITS,
        STAR_TYPE_NAMES,
    )

    return table_meta(model, **extra) | {
        "classes": {"spectral_class": SPECTRAL_CLASS_NAMES, "luminosity_class": LUMINOSITY_CLASS_NAMES,
                    "star_type": STAR_TYPE_NAMES},
        "class_codes": "<output>_code is the Fusion catalogue's code: the index of the class in 'classes'",
        "unit_notes": STAR_TARGET_UNITS}


def train_stars(
    data: Annotated[str, typer.Option(help="'synthetic', 'fusion' (the real Gaia DR3 set) or an inputs CSV "
                                           "(our column names or the published Fusion headers)")] = "synthetic",
    targets: Annotated[str | None, typer.Option(help="targets CSV for a CSV --data (our names or the Fusion headers)")] = None,
    id_column: Annotated[str | None, typer.Option(help="inputs CSV column with the star ids (default: 'id' or an "
                                                          "unnamed first column)")] = None,
    epochs: O.Epochs = 100,
    batch_size: O.BatchSize = 128,
    seed: O.Seed = 0,
    test_fraction: O.TestFraction = 0.2,
    test_size: O.TestSizeAlias = None,
    accelerator: O.Accelerator = "auto",
    devices: O.Devices = "1",
    precision: O.Precision = "32-true",
    checkpoint_dir: O.CheckpointDir = None,
    resume: O.Resume = False,
    out: O.Out = Path("runs/stars"),
    overwrite: O.Overwrite = False,
    quiet: O.Quiet = False,
    logger: O.Logger = O.LoggerKind.csv,
    no_baseline: O.NoBaseline = False,
    n_synthetic: Annotated[int, typer.Option(min=10, help="stars in the synthetic catalogue")] = 5000,
    hidden: Annotated[int, typer.Option(min=1, help="MLP width")] = 128,
    consistency_weight: Annotated[float, typer.Option(help="penalty on bending approximate relations")] = 0.01,
) -> Path:
    """Train the physics-informed stellar model and write a run folder (with a boosted-tree baseline); returns its path."""
    opts = O.TrainOptions(out=out, epochs=epochs, seed=seed, batch_size=batch_size, test_fraction=test_fraction,
                          test_size=test_size, accelerator=accelerator, devices=devices, precision=precision,
                          checkpoint_dir=checkpoint_dir, resume=resume, overwrite=overwrite, quiet=quiet, logger=logger,
                          baseline=not no_baseline)
    opts.check(inputs=[] if data in ("synthetic", "fusion") else [data, targets])
    import torch

    from astrotorch.cli.training import say
    from astrotorch.datasets.stars import split_indices
    from astrotorch.models.stars import StellarPhysicsModel

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    say(opts, f"loading {data}")
    x, y, desc = _load(data, targets, n_synthetic, seed, id_column)
    tr, te = split_indices(len(x), opts.test_fraction, seed=seed)
    model = StellarPhysicsModel(hidden=hidden, consistency_weight=consistency_weight,
                                **opts.model_kwargs(StellarPhysicsModel))
    _run(model, x, y, tr, te, desc, opts)
    typer.echo(f"run folder: {out}")
    return Path(out)


def _run(model: Any, x: pd.DataFrame, y: pd.DataFrame, tr: np.ndarray, te: np.ndarray, desc: str,
         opts: O.TrainOptions) -> None:
    from astrotorch.cli.training import fit_model, say, write_predictions_test
    from astrotorch.datasets.stars import STAR_CLASS_TARGETS
    from astrotorch.models.stars import DERIVED_TARGETS, physics_violation, stellar_metrics
    from astrotorch.plots.stars import hr_diagram, physics_violation_plot, predicted_vs_true
    from astrotorch.train.runs import RunFolder, baseline_comparison, markdown_table

    with RunFolder(opts.out, overwrite=opts.overwrite) as run:
        fit_s, notes = fit_model(model, opts, run.path, x.iloc[tr], y.iloc[tr], what=f"{len(tr)} stars")
        say(opts, f"predicting {len(te)} held-out stars")
        frame = model.predict_frame(x.iloc[te])
        truth = y.iloc[te]
        metrics = stellar_metrics(frame, truth)
        ref = truth.copy()
        for c in ("teff", "luminosity", "radius"):
            ref[f"{c}_completed"] = frame[f"{c}_completed"].to_numpy()
        violation = physics_violation(frame, reference=ref)
        result: dict[str, Any] = {
            "data": desc, "n_train": len(tr), "n_test": len(te), "seed": opts.seed,
            "epochs_run": 0 if model.history is None else len(model.history), "fit_seconds": fit_s,
            "relations": model.relation_parameters(), "metrics": metrics, "physics_violation": violation,
        }
        section = ""
        if opts.baseline:
            from astrotorch.train.baselines import stars_baseline

            say(opts, "fitting the boosted-tree baseline on log(Teff, L, R), same split")
            base = stars_baseline(x.iloc[tr], y.iloc[tr], x.iloc[te], truth, seed=opts.seed)
            reg = [t for t in metrics if t not in STAR_CLASS_TARGETS]
            classes = [c for c in STAR_CLASS_TARGETS if c in metrics]
            section, entry = baseline_comparison(metrics, {"boosted trees": base}, [("mae", reg), ("accuracy", classes)])
            result.update(entry)
        model.save(run.path / "model")
        ids, id_name = _star_ids(x)
        table, units = stars_table(frame.reset_index(drop=True), ids[te], id_name)
        write_predictions_test(run, table, units, _star_meta(model, data=desc))
        run.write_metrics(result)
        run.savefig(hr_diagram(x.iloc[te], frame["star_type"], title="held-out stars, predicted star type"), "hr_diagram.png")
        shown = [t for t in ("logg", "mv", "mh", "mass", "mbol", "peak_wavelength") if t in truth and truth[t].notna().any()]
        run.savefig(predicted_vs_true(frame, truth, shown), "predicted_vs_true.png")
        run.savefig(physics_violation_plot({"stellar_physics": violation}), "physics_violation.png")
        if model.history is not None and len(model.history):
            from astrotorch.plots.training import loss_curves

            run.savefig(loss_curves(model.history), "loss.png")
        rows = [{"output": t, **{k: v for k, v in m.items() if k != "n"}} for t, m in metrics.items() if t not in STAR_CLASS_TARGETS]
        crows = [{"class": t, **metrics[t]} for t in STAR_CLASS_TARGETS if t in metrics]
        worst = min((metrics[t]["frac_within_1pct"] for t in DERIVED_TARGETS if t in metrics), default=float("nan"))
        report = "\n".join([
            "# Stellar model run",
            "",
            f"Data: {desc}. Held-out split: {len(te)} stars (seed {opts.seed}); trained {result['epochs_run']} epochs "
            f"in {fit_s:.0f} s.",
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
            section,
            "## Fitted relations",
            "```",
            json.dumps(result["relations"], indent=2),
            "```",
            "",
            "Per-star predictions of the held-out set: `predictions_test.csv`.",
            *[f"Note: {n}." for n in notes],
            "",
            "Plots: " + ", ".join(run.figures),
        ])
        run.write_report(report)


def predict_stars(
    model_folder: Annotated[Path, typer.Argument(help="the model/ folder of a stars run (or the run folder)")],
    csv: Annotated[Path, typer.Argument(help="CSV with at least two of teff, luminosity, radius (or the Fusion headers)")],
    out_csv: Annotated[Path | None, typer.Argument(help="table to write (the same as --out)", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="table to write; the suffix picks the format: .csv (ECSV), .parquet, .fits, .h5")] = Path("predictions.csv"),
    errors_csv: Annotated[Path | None, typer.Option(help="CSV of the inputs' 1σ errors (same columns)")] = None,
    id_column: Annotated[str | None, typer.Option(help="column with the star ids (default: 'id' or an unnamed first column)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing output (never an input)")] = False,
) -> Path:
    """Predict every output with its σ, the completed Teff/L/R and class probabilities for a CSV of stars."""
    from astrotorch.cli.predict import check_table_out, load_model_folder, model_input_folder

    target, label = (Path(out_csv), "OUT_CSV") if out_csv is not None else (Path(out), "--out")
    folder = model_input_folder(model_folder)
    check_table_out(target, overwrite, inputs=[folder, csv, errors_csv], label=label)
    from astrotorch.datasets.stars import read_star_inputs
    from astrotorch.io import write_table

    x = read_star_inputs(csv, id_column=id_column)
    x_err = read_star_inputs(errors_csv) if errors_csv is not None else None
    model = load_model_folder(folder)
    if model.name != "stellar_physics":
        raise InputValidationError(f"{folder} holds a {model.name!r} model, not a stellar_physics model")
    frame = model.predict_frame(x, x_err=x_err)
    ids, id_name = _star_ids(x)
    table, units = stars_table(frame.reset_index(drop=True), ids, id_name)
    write_table(table, target, units=units, meta=_star_meta(model, model_folder=str(folder), input=str(csv)))
    typer.echo(f"wrote {target} ({len(table)} stars)")
    return target


__all__ = ["train_stars", "predict_stars", "stars_table"]
