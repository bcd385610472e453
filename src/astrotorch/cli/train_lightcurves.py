"""``astrotorch train lightcurves``: classify light curves, or regress a value (SN Ia redshift), with
lc_transformer / lc_gru / lc_features.

:func:`train_lightcurves` loads light curves (``--data synthetic``, ``plasticc:<dir>`` with
``training_set.csv`` + ``training_set_metadata.csv``, or ``csv:<dir>`` with one ``time,mag,magerr,band``
file per object and a ``labels.csv``), makes a fixed-seed train/test split (stratified for classes),
trains the chosen model (optionally after masked-reconstruction pretraining) and writes a run folder:
``model/``, ``metrics.json``, ``predictions_test.csv`` (ids, probabilities or values), ``logs/``,
``plots/`` and ``report.md``, with the ``lc_features`` boosted trees on the same split as the
baseline (and, for a ``redshift`` target, the peak magnitude as a standard candle).

Classification: accuracy, macro-F1, PLAsTiCC-weighted log loss, confusion matrix, AUCs; plots of the
confusion matrix, ROC, example curves. Regression (``--task regression --label-column redshift``):
MAE/RMSE per output and, for redshifts, NMAD/bias/outlier fraction of Δz/(1+z). It is a plain
function as well as a typer command (registered by ``cli/main.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from astrotorch.cli import options as O
from astrotorch.errors import InputValidationError

_LABEL_COLUMNS = ("label", "target", "type", "Type", "class", "CLASS")


def load_lightcurve_data(data: str, n_synthetic: int = 2000, seed: int = 0,
                         label_column: str | None = None) -> tuple[object, str]:
    """Light curves named by a ``--data`` spec → (LightCurveSet with labels, description)."""
    from astrotorch.lightcurves import read_csv_folder, read_plasticc

    if data == "synthetic":
        from astrotorch.datasets.synthetic_lightcurves import make_synthetic_lightcurves

        s = make_synthetic_lightcurves(n_synthetic, seed=seed)
        return s, f"synthetic LSST-like light curves ({n_synthetic}, seed {seed}, 8 classes)"
    kind, _, path = data.partition(":")
    if kind == "plasticc" and path:
        s = read_plasticc(path)
        return s, f"PLAsTiCC-format light curves from {path} ({len(s)} objects)"
    if kind == "csv" and path:
        import pandas as pd

        labels = Path(path) / "labels.csv"
        if not labels.exists():
            raise InputValidationError(f"{path} has no labels.csv (needed to train a classifier)")
        cols = list(pd.read_csv(labels, nrows=0, skip_blank_lines=True).columns)
        col = label_column or next((c for c in _LABEL_COLUMNS if c in cols), None)
        if col is None or col not in cols:
            raise InputValidationError(f"labels.csv columns {cols}: pass --label-column (one of them)")
        s = read_csv_folder(path, label_column=col)
        return s, f"CSV light curves from {path} ({len(s)} objects, labels from column {col!r})"
    raise InputValidationError(f"--data must be 'synthetic', 'plasticc:<dir>' or 'csv:<dir>', got {data!r}")


def train_lightcurves(
    model: Annotated[str, typer.Option(help="lc_transformer, lc_gru or lc_features")] = "lc_transformer",
    data: Annotated[str, typer.Option(help="'synthetic', 'plasticc:<dir>' or 'csv:<dir>'")] = "synthetic",
    task: Annotated[str, typer.Option(help="'classification' or 'regression' (a numeric --label-column, e.g. redshift)")] = "classification",
    epochs: O.Epochs = 40,  # the models' defaults (chosen on a validation split: docs/results/lightcurves.md)
    batch_size: O.BatchSize = 32,
    seed: O.Seed = 0,
    test_fraction: O.TestFraction = 0.2,
    accelerator: O.Accelerator = "auto",
    devices: O.Devices = "1",
    precision: O.Precision = "32-true",
    checkpoint_dir: O.CheckpointDir = None,
    resume: O.Resume = False,
    out: O.Out = Path("runs/lightcurves"),
    overwrite: O.Overwrite = False,
    quiet: O.Quiet = False,
    logger: O.Logger = O.LoggerKind.csv,
    no_baseline: O.NoBaseline = False,
    n_synthetic: Annotated[int, typer.Option(min=2, help="light curves in the synthetic set")] = 2000,
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 2e-3,
    first_days: Annotated[float | None, typer.Option(help="early classification: first N days after detection")] = None,
    pretrain_epochs: Annotated[int, typer.Option(min=0, help="masked-reconstruction pretraining epochs (lc_transformer)")] = 0,
    norm: Annotated[str, typer.Option(help="'shared' (keeps colours) or 'minmax' (the seed's)")] = "shared",
    max_length: Annotated[int | None, typer.Option(help="thin light curves longer than this")] = 200,
    label_column: Annotated[str | None, typer.Option(help="label column of labels.csv (csv data)")] = None,
) -> Path:
    """Train a light-curve classifier (or regressor) and write a run folder with baselines; returns its path."""
    opts = O.TrainOptions(out=out, epochs=epochs, seed=seed, batch_size=batch_size, test_fraction=test_fraction,
                          accelerator=accelerator, devices=devices, precision=precision, checkpoint_dir=checkpoint_dir,
                          resume=resume, overwrite=overwrite, quiet=quiet, logger=logger, baseline=not no_baseline)
    opts.check(inputs=[data.partition(":")[2]] if ":" in data else [])
    if task not in ("classification", "regression"):
        raise InputValidationError(f"--task must be 'classification' or 'regression', got {task!r}")
    import torch

    from astrotorch.cli.training import say
    from astrotorch.models.lightcurves import LightCurveFeatures, LightCurveGRU, LightCurveTransformer

    classes = {"lc_transformer": LightCurveTransformer, "lc_gru": LightCurveGRU, "lc_features": LightCurveFeatures}
    if model not in classes:
        raise InputValidationError(f"--model must be one of {sorted(classes)}, got {model!r}")
    if pretrain_epochs and model != "lc_transformer":
        raise InputValidationError("--pretrain-epochs is only for lc_transformer")
    if task == "regression" and (data == "synthetic" or label_column is None):
        raise InputValidationError("--task regression needs csv:/plasticc: data and a numeric --label-column")
    torch.manual_seed(seed)
    say(opts, f"loading {data}")
    curves, desc = load_lightcurve_data(data, n_synthetic, seed, label_column)
    if task == "regression":
        curves, desc = _numeric_labels(curves, label_column, desc)
    tr, te = curves.split(opts.test_fraction, seed=seed, stratify=task == "classification")
    if len(tr) < 2 or len(te) < 1:
        raise InputValidationError(f"{len(curves)} light curves are too few for a train/test split")
    cls = classes[model]
    kw: dict[str, Any] = {"task": task, "first_days": first_days, **opts.model_kwargs(cls)}
    if model != "lc_features":
        kw.update(lr=lr, norm=norm, max_length=max_length)
    if task == "regression":
        kw["targetname"] = [str(label_column)]
    m = cls(**{k: v for k, v in kw.items() if k in cls._param_names()})
    _run(m, model, tr, te, desc, task, label_column, first_days, pretrain_epochs, opts)
    return Path(out)


def _numeric_labels(curves: Any, column: str, desc: str) -> tuple[Any, str]:
    """Regression targets: the labels as floats; curves without a finite value are left out."""
    import pandas as pd

    values = pd.to_numeric(pd.Series(curves.labels()), errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(values)
    if ok.sum() < 3:
        raise InputValidationError(f"--label-column {column!r} holds fewer than 3 numbers: not a regression target")
    for lc, v in zip(curves, values):
        lc.label = float(v)
        lc.meta.pop(column, None)  # the target must not reach the model as an input (e.g. rest-frame times)
    kept = curves[ok]
    return kept, desc + (f"; {int((~ok).sum())} objects without a {column} value left out" if (~ok).any() else "")


def _ids(curves: Any) -> np.ndarray:
    return np.array([str(lc.object_id) if lc.object_id != "" else str(i) for i, lc in enumerate(curves)])


def _run(m: Any, model: str, tr: Any, te: Any, desc: str, task: str, label_column: str | None,
         first_days: float | None, pretrain_epochs: int, opts: O.TrainOptions) -> None:
    from astrotorch.cli.prediction_table import model_table, table_meta
    from astrotorch.cli.training import fit_model, say, write_predictions_test
    from astrotorch.train.runs import RunFolder, markdown_table

    with RunFolder(opts.out, overwrite=opts.overwrite) as run:
        if pretrain_epochs:
            say(opts, f"pretraining {model} ({pretrain_epochs} epochs of masked reconstruction)")
            m.pretrain(tr, max_epochs=pretrain_epochs)
        if task == "classification":
            fit_s, notes = fit_model(m, opts, run.path, tr, what=f"{len(tr)} light curves")
        else:
            fit_s, notes = fit_model(m, opts, run.path, tr, tr.labels().astype(np.float64), what=f"{len(tr)} light curves")
        say(opts, f"predicting {len(te)} held-out light curves")
        if task == "classification":
            from astrotorch.cli.prediction_table import class_probabilities_and_sigma

            probs, sig = class_probabilities_and_sigma(m, te)
            outputs: dict[str, Any] = {"probs": probs, "probs_sigma": sig}
            report, section, entry, figs = _classification(m, model, tr, te, probs, first_days, opts, run)
            table, units = model_table(m, outputs, _ids(te), "object_id")
        else:
            pred = np.asarray(m.predict(te), np.float64).reshape(len(te), -1)
            report, section, entry, figs = _regression(m, tr, te, pred, label_column, opts, run)
            table, units = model_table(m, {"values": pred, "sigma": None}, _ids(te), "object_id")
        report.update(model=model, data=desc, n_train=len(tr), n_test=len(te), train_seconds=fit_s,
                      first_days=first_days, task=task, **entry)
        m.save(run.path / "model")
        write_predictions_test(run, table, units, table_meta(m, data=desc))
        run.write_metrics(report)
        if getattr(m, "history", None) is not None and len(m.history):
            from astrotorch.plots.training import loss_curves

            run.savefig(loss_curves(m.history), "loss.png")
        rows = _summary(report, task, label_column)
        run.write_report(
            f"# Light-curve {task}: {model}\n\nData: {desc}; fixed-seed "
            f"{'stratified ' if task == 'classification' else ''}split (seed {opts.seed}): {len(tr)} train / "
            f"{len(te)} test; trained in {fit_s:.0f} s.\n"
            + (f"Early classification: first {first_days} days after the first ≥5σ detection.\n" if first_days else "")
            + f"\n{markdown_table(rows)}\n\n{figs}\n\n{section}\n"
            + "Per-object predictions of the test set: `predictions_test.csv`.\n\n"
            + "".join(f"Note: {n}.\n\n" for n in notes)
            + "Plots: " + ", ".join(run.figures) + "\n")
    if task == "classification":
        typer.echo(f"wrote {opts.out}: accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}, "
                   f"weighted log loss {report['weighted_log_loss']:.3f}")
    else:
        typer.echo(f"wrote {opts.out}: " + ", ".join(f"{r['metric']} {r['value']:.4g}" for r in rows))


def _summary(report: dict[str, Any], task: str, label_column: str | None) -> list[dict[str, Any]]:
    """The report's headline metrics, one row each."""
    if task == "classification":
        return [{"metric": k, "value": report[k]} for k in ("accuracy", "macro_f1", "weighted_log_loss")]
    m = report["test"][str(label_column)]
    rows = [{"metric": f"{k} ({label_column})", "value": m[k]} for k in ("mae", "rmse", "bias", "mad_std")]
    if "redshift" in report:
        z = report["redshift"]
        rows = [{"metric": "NMAD of Δz/(1+z)", "value": z["nmad"]},
                {"metric": "median of Δz/(1+z)", "value": z["bias"]},
                {"metric": "outlier fraction (|Δz/(1+z)| > 0.15)", "value": z["outlier_frac"]}] + rows
    return rows


def _classification(m: Any, model: str, tr: Any, te: Any, probs: np.ndarray, first_days: float | None,
                    opts: O.TrainOptions, run: Any) -> tuple[dict[str, Any], str, dict[str, Any], str]:
    from astrotorch.lightcurves.metrics import classification_report
    from astrotorch.plots.lightcurves import plot_confusion_matrix, plot_examples, plot_roc
    from astrotorch.train.runs import baseline_comparison

    lookup = {c: i for i, c in enumerate(m.targetname)}
    y = np.array([lookup[str(v)] for v in te.labels().tolist()])
    report = classification_report(y, probs, m.targetname)
    run.savefig(plot_confusion_matrix(np.array(report["confusion_matrix"]), m.targetname), "confusion_matrix.png")
    run.savefig(plot_roc(y, probs, m.targetname), "roc.png")
    shown = te.first_days(first_days, since="detection") if first_days else te
    run.savefig(plot_examples(shown, probs, m.targetname, n=6, seed=opts.seed), "examples.png")
    figs = "Per-class AUC: " + ", ".join(f"{k} {v:.3f}" for k, v in report["auc"].items())
    section, entry = "", {}
    if opts.baseline and model != "lc_features":
        from astrotorch.cli.training import say
        from astrotorch.train.baselines import lightcurve_baseline

        say(opts, "fitting the baseline (lc_features boosted trees) on the same split")
        base = lightcurve_baseline(tr, te, seed=opts.seed, first_days=first_days)
        section, entry = baseline_comparison(report, {"lc_features trees": base},
                                             ["accuracy", "macro_f1", "weighted_log_loss"], outputs=[None])
    elif opts.baseline:
        section = "The model is the boosted-tree baseline itself (lc_features): no separate baseline.\n"
    return report, section, entry, figs


def _regression(m: Any, tr: Any, te: Any, pred: np.ndarray, label_column: str | None, opts: O.TrainOptions,
                run: Any) -> tuple[dict[str, Any], str, dict[str, Any], str]:
    from astrotorch.lightcurves.metrics import redshift_metrics
    from astrotorch.train.baselines import regression_metrics
    from astrotorch.train.runs import baseline_comparison

    name = str(label_column)
    y_tr = tr.labels().astype(np.float64)
    y_te = te.labels().astype(np.float64)
    per_output = regression_metrics(y_te, pred[:, 0], [name])
    report: dict[str, Any] = {"test": per_output}
    is_z = name.lower() in ("redshift", "z")
    if is_z:  # the photometric-redshift scores, on Δz/(1+z)
        report["redshift"] = redshift_metrics(y_te, pred[:, 0])
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.scatter(y_te, pred[:, 0], s=6, alpha=0.6)
    lo, hi = float(np.nanmin(y_te)), float(np.nanmax(y_te))
    ax.plot([lo, hi], [lo, hi], "k-", lw=1)
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    run.savefig(fig, "pred_vs_true.png")
    section, entry = "", {}
    if opts.baseline:
        from astrotorch.cli.training import say
        from astrotorch.train.baselines import lightcurve_baseline, standard_candle_baseline

        say(opts, "fitting the baselines on the same split")
        base: dict[str, Any] = {}
        if getattr(m, "name", "") != "lc_features":
            base["lc_features trees"] = lightcurve_baseline(tr, te, y_tr, y_te, task="regression", seed=opts.seed)
            base["lc_features trees"].metrics = {name: base["lc_features trees"].metrics["label_0"]}
        if is_z:
            base["standard candle"] = standard_candle_baseline(tr, y_tr, te, y_te)
            for b in base.values():  # score every baseline the redshift way too
                if "nmad" not in b.metrics:
                    b.metrics.update(redshift_metrics(y_te, np.asarray(b.predictions, np.float64).ravel()))
        if base:
            network = {**per_output, **(report["redshift"] if is_z else {})}
            flat = [("nmad", [None]), ("outlier_frac", [None])] if is_z else []
            section, entry = baseline_comparison(network, base, flat or [("mae", [name])])
    return report, section, entry, "![predicted vs true](plots/pred_vs_true.png)"


__all__ = ["train_lightcurves", "load_lightcurve_data"]
