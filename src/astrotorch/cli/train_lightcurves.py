"""``astrotorch train lightcurves``: classify light curves with lc_transformer / lc_gru / lc_features.

:func:`train_lightcurves` loads light curves (``--data synthetic``, ``plasticc:<dir>`` with
``training_set.csv`` + ``training_set_metadata.csv``, or ``csv:<dir>`` with one ``time,mag,magerr,band``
file per object and a ``labels.csv``), makes a fixed-seed stratified train/test split, trains the
chosen model (optionally after masked-reconstruction pretraining) and writes a run folder:
``model/``, ``metrics.json`` (accuracy, macro-F1, PLAsTiCC-weighted log loss, confusion matrix, AUCs),
``plots/`` (confusion matrix, ROC, example light curves with probabilities, loss curve) and
``report.md``. It is a plain function as well as a typer command (registered by ``cli/main.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from typing_extensions import Annotated

from astrotorch.errors import InputValidationError

_LABEL_COLUMNS = ("label", "target", "type", "Type", "class", "CLASS")


def load_lightcurve_data(data: str, n_synthetic: int = 2000, seed: int = 0,
                         label_column: Optional[str] = None) -> tuple[object, str]:
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
    epochs: Annotated[int, typer.Option(help="maximum training epochs (networks)")] = 20,
    out: Annotated[Path, typer.Option(help="run folder to write")] = Path("runs/lightcurves"),
    seed: Annotated[int, typer.Option(help="seed for data, split and weights")] = 0,
    test_fraction: Annotated[float, typer.Option(help="held-out share of the light curves")] = 0.2,
    n_synthetic: Annotated[int, typer.Option(help="light curves in the synthetic set")] = 2000,
    batch_size: Annotated[int, typer.Option(help="mini-batch size")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 2e-3,
    first_days: Annotated[Optional[float], typer.Option(help="early classification: first N days after detection")] = None,
    pretrain_epochs: Annotated[int, typer.Option(help="masked-reconstruction pretraining epochs (lc_transformer)")] = 0,
    norm: Annotated[str, typer.Option(help="'shared' (keeps colours) or 'minmax' (the seed's)")] = "shared",
    max_length: Annotated[Optional[int], typer.Option(help="thin light curves longer than this")] = 400,
    label_column: Annotated[Optional[str], typer.Option(help="label column of labels.csv (csv data)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
) -> Path:
    """Train a light-curve classifier and write a run folder; returns its path."""
    import torch

    from astrotorch.lightcurves.metrics import classification_report
    from astrotorch.models.lightcurves import LightCurveFeatures, LightCurveGRU, LightCurveTransformer
    from astrotorch.plots.lightcurves import plot_confusion_matrix, plot_examples, plot_roc
    from astrotorch.train.runs import RunFolder, markdown_table

    classes = {"lc_transformer": LightCurveTransformer, "lc_gru": LightCurveGRU, "lc_features": LightCurveFeatures}
    if model not in classes:
        raise InputValidationError(f"--model must be one of {sorted(classes)}, got {model!r}")
    if pretrain_epochs and model != "lc_transformer":
        raise InputValidationError("--pretrain-epochs is only for lc_transformer")
    torch.manual_seed(seed)
    curves, desc = load_lightcurve_data(data, n_synthetic, seed, label_column)
    tr, te = curves.split(test_fraction, seed=seed)
    if len(tr) < 2 or len(te) < 1:
        raise InputValidationError(f"{len(curves)} light curves are too few for a train/test split")
    if model == "lc_features":
        m = LightCurveFeatures(seed=seed, first_days=first_days)
    else:
        m = classes[model](max_epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, first_days=first_days,
                           norm=norm, max_length=max_length)
    t0 = time.time()
    if pretrain_epochs:
        m.pretrain(tr, max_epochs=pretrain_epochs)
    m.fit(tr)
    train_s = time.time() - t0
    probs = m.predict_proba(te)
    lookup = {c: i for i, c in enumerate(m.targetname)}
    y = np.array([lookup[str(v)] for v in te.labels().tolist()])
    report = classification_report(y, probs, m.targetname)
    report.update(model=model, data=desc, n_train=len(tr), n_test=len(te), train_seconds=train_s,
                  first_days=first_days)
    with RunFolder(out, overwrite=overwrite) as run:
        m.save(run.path / "model")
        run.write_metrics(report)
        run.savefig(plot_confusion_matrix(np.array(report["confusion_matrix"]), m.targetname), "confusion_matrix.png")
        run.savefig(plot_roc(y, probs, m.targetname), "roc.png")
        shown = te.first_days(first_days, since="detection") if first_days else te
        run.savefig(plot_examples(shown, probs, m.targetname, n=6, seed=seed), "examples.png")
        if getattr(m, "history", None) is not None and len(m.history):
            from astrotorch.plots.training import loss_curves

            run.savefig(loss_curves(m.history), "loss.png")
        rows = [{"metric": k, "value": report[k]} for k in ("accuracy", "macro_f1", "weighted_log_loss")]
        run.write_report(
            f"# Light-curve classification: {model}\n\nData: {desc}; fixed-seed stratified split "
            f"(seed {seed}): {len(tr)} train / {len(te)} test.\n"
            + (f"Early classification: first {first_days} days after the first ≥5σ detection.\n" if first_days else "")
            + f"\n{markdown_table(rows)}\n\nPer-class AUC: "
            + ", ".join(f"{k} {v:.3f}" for k, v in report["auc"].items())
            + "\n\nPlots: " + ", ".join(run.figures) + "\n")
    typer.echo(f"wrote {out}: accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}, "
               f"weighted log loss {report['weighted_log_loss']:.3f}")
    return Path(out)


__all__ = ["train_lightcurves", "load_lightcurve_data"]
