"""``astrotorch train tabular``: any registered model on a table or arrays; a run folder with a
boosted-tree baseline on the same split.

Example::

    astrotorch train tabular --data stars.csv --target logg --id-column source_id --model mlp --out runs/logg

The run folder holds ``model/``, ``metrics.json`` (test metrics, baselines, which wins),
``predictions_test.csv`` (the held-out rows' predictions with their ids), ``logs/`` (Lightning's
CSV log, when the model takes a logger), ``plots/loss_curves.png`` and ``report.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from astrotorch.cli import options as O
from astrotorch.errors import InputValidationError


def train_tabular(
    data: Annotated[str, typer.Option(help="'synthetic' (y = x·sin x, heteroscedastic) or a .npz/.h5/.csv/.parquet file")] = "synthetic",
    model: Annotated[str, typer.Option(help="registered model name (see list-models)")] = "bayesian_mlp",
    target: Annotated[str | None, typer.Option(help="csv/parquet: comma-separated label columns")] = None,
    columns: Annotated[str | None, typer.Option(help="csv/parquet: comma-separated input columns (default: all "
                                                        "but the targets and the id)")] = None,
    id_column: Annotated[str | None, typer.Option(help="column (or npz/h5 array) with the object ids for "
                                                          "predictions_test (default: objid, id ... if present)")] = None,
    epochs: O.Epochs = 60,
    batch_size: O.BatchSize = 64,
    seed: O.Seed = 0,
    test_fraction: O.TestFraction = 0.2,
    test_size: O.TestSizeAlias = None,
    accelerator: O.Accelerator = "auto",
    devices: O.Devices = "1",
    precision: O.Precision = "32-true",
    checkpoint_dir: O.CheckpointDir = None,
    resume: O.Resume = False,
    out: O.Out = Path("runs/tabular"),
    overwrite: O.Overwrite = False,
    quiet: O.Quiet = False,
    logger: O.Logger = O.LoggerKind.csv,
    no_baseline: O.NoBaseline = False,
) -> Path:
    """Train any registered model on a table or arrays; write a run folder (with a boosted-tree baseline)."""
    opts = O.TrainOptions(out=out, epochs=epochs, seed=seed, batch_size=batch_size, test_fraction=test_fraction,
                          test_size=test_size, accelerator=accelerator, devices=devices, precision=precision,
                          checkpoint_dir=checkpoint_dir, resume=resume, overwrite=overwrite, quiet=quiet, logger=logger,
                          baseline=not no_baseline)
    opts.check(inputs=[] if data == "synthetic" else [data])
    from astrotorch.cli import arrays
    from astrotorch.cli.training import say
    from astrotorch.models import get_model_class

    cls = get_model_class(model)
    say(opts, f"loading {data}")
    if data == "synthetic":
        from astrotorch.datasets.toy import xsinx

        x, y, _ = xsinx(3000, seed=seed)
        ids, id_name = np.arange(len(x)), "row"
    else:
        x, y, ids, id_name = arrays.load_inputs(Path(data), columns=columns, target=target, id_column=id_column)
        if y is None:
            raise InputValidationError(f"{data} has no labels (npz/h5: array 'y'; csv: --target)")
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * opts.test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    if len(te) == 0 or len(tr) < 2:
        raise InputValidationError(f"{len(x)} rows are too few for {opts.test_fraction_option} {opts.test_fraction}")
    kw: dict[str, Any] = {"lr": 0.003, "early_stopping_patience": 10, **opts.model_kwargs(cls)}
    if target and data != "synthetic":
        kw["targetname"] = [c for c in target.split(",") if c]
    kw = {k: v for k, v in kw.items() if k in cls._param_names()}
    _run(cls(**kw), model, data, x, y, ids, id_name, tr, te, opts)
    typer.echo(f"run folder: {out}")
    return Path(out)


def _run(m: Any, model: str, data: str, x: np.ndarray, y: np.ndarray, ids: np.ndarray, id_name: str,
         tr: np.ndarray, te: np.ndarray, opts: O.TrainOptions) -> None:
    from astrotorch.cli.prediction_table import model_outputs, model_table, predict_in_chunks, table_meta
    from astrotorch.cli.training import fit_model, say, write_predictions_test
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import RunFolder, markdown_table

    with RunFolder(opts.out, overwrite=opts.overwrite) as run:
        fit_s, notes = fit_model(m, opts, run.path, x[tr], y[tr], what=f"{len(tr)} rows")
        say(opts, f"evaluating on {len(te)} held-out rows")
        metrics = m.evaluate(x[te], y[te])
        x_te = x[te]
        outputs = predict_in_chunks(lambda xb: model_outputs(m, xb), lambda a, b: x_te[a:b], len(te), chunk=4096,
                                    desc="held-out predictions", quiet=opts.quiet)
        table, units = model_table(m, outputs, ids[te], id_name)
        result: dict[str, Any] = {"model": model, "data": data, "n_train": len(tr), "n_test": len(te),
                                  "seed": opts.seed, "fit_seconds": fit_s, "test": metrics}
        section = ""
        if opts.baseline:
            section, entry = _baselines(m, x, y, tr, te, outputs, metrics, opts)
            result.update(entry)
        m.save(run.path / "model")
        write_predictions_test(run, table, units, table_meta(m, data=data))
        run.write_metrics(result)
        if getattr(m, "history", None) is not None and len(m.history):
            run.savefig(loss_curves(m.history), "loss_curves.png")
        rows = ([{"target": k, **v} for k, v in metrics.items() if isinstance(v, dict)] if m.task == "regression"
                else [metrics])
        run.write_report(
            f"# Tabular run: {model}\n\nData: `{data}`, {len(tr)} training / {len(te)} test rows, seed {opts.seed}; "
            f"trained in {fit_s:.0f} s.\n\n## Test metrics\n\n{markdown_table(rows)}\n\n{section}\n"
            "Per-object predictions of the test rows: `predictions_test.csv`.\n\n"
            + "".join(f"Note: {n}.\n\n" for n in notes)
            + ("![loss](plots/loss_curves.png)\n" if run.figures else ""))


def _baselines(m: Any, x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, outputs: dict[str, Any],
               metrics: dict[str, Any], opts: O.TrainOptions) -> tuple[str, dict[str, Any]]:
    from astrotorch.cli.training import say
    from astrotorch.train.baselines import classification_metrics, tabular_baseline
    from astrotorch.train.runs import baseline_comparison

    say(opts, "fitting the boosted-tree baseline on the same split")
    if m.task == "classification":
        probs = outputs["probs"]
        base = tabular_baseline(x[tr], y[tr], x[te], y[te], task="classification", n_classes=probs.shape[1],
                                seed=opts.seed)
        network = classification_metrics(np.asarray(y[te]).ravel(), probs)
        return baseline_comparison(network, {"boosted trees": base}, ["accuracy", "balanced_accuracy", "log_loss"],
                                   outputs=[None])
    names = [k for k, v in metrics.items() if isinstance(v, dict)]
    base = tabular_baseline(x[tr], y[tr], x[te], y[te], task="regression", names=names, seed=opts.seed)
    return baseline_comparison(metrics, {"boosted trees": base}, ["mae"])


__all__ = ["train_tabular"]
