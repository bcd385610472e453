"""``astrotorch train images``: galaxy morphology (Galaxy10-style) or cluster masses from X-ray images.

Examples::

    astrotorch train images --task galaxy10 --data synthetic --model galaxy_resnet --out runs/g10
    astrotorch train images --task galaxy10 --data ../shared/data/galaxy_zoo1_sdss/galaxy_zoo1_sdss69.h5 \\
        --exclude-classes 4 --select-class merger --purity 0.5 --out runs/gz1
    astrotorch train images --task galaxy10 --data ../shared/data/galaxy_zoo1_sdss/images \\
        --labels ../shared/data/galaxy_zoo1_sdss/labels.csv --crop 207 --size 69 --out runs/gz1-jpeg
    astrotorch train images --task cluster-mass --data synthetic --loss gaussian_nll --out runs/clusters

Each run writes a run folder (:class:`astrotorch.train.runs.RunFolder`): ``model/``,
``metrics.json``, ``predictions_test.csv`` (ids, probabilities or masses with σ), ``logs/``,
``plots/`` and ``report.md``. Galaxies: confusion matrix, reliability diagram, per-class
precision–recall curves, example images, the majority class and boosted trees on image statistics
on the same split, and (``--select-class``/``--purity``) a class selected at a chosen purity with
a threshold fitted on a selection split held out from training. Clusters: predicted against true
mass, binned bias and slope, error and z-score histograms, boosted trees on image statistics and
redshift as the baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from astrotorch.cli import options as O
from astrotorch.errors import InputValidationError

TASKS = ("galaxy10", "cluster-mass")


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.nonzero(labels == c)[0])
        k = int(round(test_fraction * idx.size))
        te.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))


def _galaxy_data(data: str, n: int, seed: int, labels: Path | None, crop: int | None, size: int | None,
                 exclude: list[int]) -> tuple[np.ndarray, np.ndarray, list[str], str, np.ndarray, str]:
    """Images (N, H, W, C), labels, class names, a description of the source, the ids and their name."""
    from astrotorch.datasets import galaxy10 as g10

    has_objid = False
    if data == "synthetic":
        from astrotorch.datasets.synthetic_galaxies import CLASS_NAMES, make_synthetic_galaxies

        ds = make_synthetic_galaxies(n, size=size or 64, seed=seed)
        x, y, names, src = ds.images, ds.labels, list(CLASS_NAMES), f"synthetic Galaxy10 DECaLS classes ({n} images)"
        ids, id_name = np.arange(len(y)), "row"
    else:
        path = Path(data)
        if path.is_dir():
            from astrotorch.datasets.image_folder import load_image_folder

            csv = labels or next((p for p in (path / "labels.csv", path.parent / "labels.csv") if p.is_file()), None)
            if csv is None:
                raise InputValidationError(f"no labels CSV for {path}: pass --labels (id,label columns)")
            d = load_image_folder(path, csv, crop=crop, size=size)
            if d.labels is None or d.labels.dtype.kind not in "iu":
                raise InputValidationError(f"{csv}: labels must be integer class indices")
            x, y = d.images, d.labels.astype(np.int64)
            ids, id_name = np.asarray(d.ids), "object_id"
            src = f"image folder {path} with {csv} ({len(y)} images)"
        elif path.suffix.lower() in (".h5", ".hdf5"):
            with g10.load_galaxy10sdss(path=path) as d:
                x, y = d.to_numpy()
                has_objid = "objid" in d.extra
                ids, id_name = (d.ids, "objid") if has_objid else (np.arange(len(y)), "row")
            src = f"Galaxy10-layout file {path} ({len(y)} images)"
        else:
            raise InputValidationError(f"--data must be 'synthetic', a Galaxy10-layout .h5 file or an image folder, got {data!r}")
        k = int(y.max()) + 1
        if k <= 6 and (path.is_dir() or has_objid):
            names = list(g10.GALAXY_ZOO1_CLASSES[:k])
        elif x.shape[1] >= 128:
            names = list(g10.DECALS_CLASSES[:k])
        else:
            names = list(g10.SDSS_CLASSES[:k])
    if exclude:
        keep = ~np.isin(y, exclude)
        kept = [c for c in range(len(names)) if c not in exclude]
        remap = np.full(len(names), -1, dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        x, y, names, ids = x[keep], remap[y[keep]], [names[c] for c in kept], ids[keep]
        src += f"; classes {exclude} excluded"
    return x, y, names, src, ids, id_name


def train_images(
    task: Annotated[str, typer.Option(help="'galaxy10' (morphology classes) or 'cluster-mass' (log10 M500)")] = "galaxy10",
    data: Annotated[str, typer.Option(help="'synthetic', a Galaxy10-layout .h5 file, or a folder of cutouts")] = "synthetic",
    model: Annotated[str | None, typer.Option(help="galaxy10: galaxy_resnet (default), galaxy10_cnn, cifar10_cnn; "
                                                      "cluster-mass: cluster_mass_cnn")] = None,
    epochs: O.Epochs = 20,
    batch_size: O.BatchSize = 64,
    seed: O.Seed = 0,
    test_fraction: O.TestFraction = 0.2,
    test_size: O.TestSizeAlias = None,
    accelerator: O.Accelerator = "auto",
    devices: O.Devices = "1",
    precision: O.Precision = "32-true",
    checkpoint_dir: O.CheckpointDir = None,
    resume: O.Resume = False,
    out: O.Out = Path("runs/images"),
    overwrite: O.Overwrite = False,
    quiet: O.Quiet = False,
    logger: O.Logger = O.LoggerKind.csv,
    no_baseline: O.NoBaseline = False,
    n_train: Annotated[int, typer.Option(min=2, help="synthetic data: number of training images")] = 3000,
    labels: Annotated[Path | None, typer.Option(help="image folder: id,label CSV (default: labels.csv beside it)")] = None,
    crop: Annotated[int | None, typer.Option(min=1, help="image folder: centre crop in pixels before resizing")] = None,
    size: Annotated[int | None, typer.Option(min=1, help="image folder / synthetic galaxies: output size in pixels")] = None,
    exclude_classes: Annotated[str, typer.Option(help="comma-separated class indices to drop (e.g. '4' = GZ1 don't know)")] = "",
    select_class: Annotated[str | None, typer.Option(help="galaxy10: select this class (name or index) at --purity; "
                                                             "its threshold is fitted on a selection split held out "
                                                             "from training")] = None,
    purity: Annotated[float, typer.Option(help="target purity (precision) of --select-class")] = 0.5,
    selection_fraction: Annotated[float, typer.Option(help="share of the training images held out to fit the "
                                                           "--select-class threshold")] = 0.1,
    loss: Annotated[str, typer.Option(help="cluster-mass: mse, mae, huber or gaussian_nll")] = "gaussian_nll",
) -> Path:
    """Train an image model (galaxy morphology or cluster masses) and write a run folder (with baselines)."""
    opts = O.TrainOptions(out=out, epochs=epochs, seed=seed, batch_size=batch_size, test_fraction=test_fraction,
                          test_size=test_size, accelerator=accelerator, devices=devices, precision=precision,
                          checkpoint_dir=checkpoint_dir, resume=resume, overwrite=overwrite, quiet=quiet, logger=logger,
                          baseline=not no_baseline)
    opts.check(inputs=[] if data == "synthetic" else [data, labels])
    if task not in TASKS:
        raise InputValidationError(f"--task must be one of {TASKS}, got {task!r}")
    if select_class is not None:
        if task != "galaxy10":
            raise InputValidationError("--select-class is for --task galaxy10")
        if not 0.0 < purity <= 1.0:
            raise InputValidationError(f"--purity must be in (0, 1], got {purity}")
        if not 0.0 < selection_fraction < 1.0:
            raise InputValidationError(f"--selection-fraction must be in (0, 1), got {selection_fraction}")
    if task == "galaxy10":
        exclude = [int(c) for c in exclude_classes.split(",") if c.strip()]
        _train_galaxy(data, model or "galaxy_resnet", opts, n_train, labels, crop, size, exclude,
                      (select_class, purity, selection_fraction) if select_class is not None else None)
    else:
        from astrotorch.cli.train_clusters import train_cluster

        train_cluster(data, model or "cluster_mass_cnn", opts, n_train, loss)
    typer.echo(f"run folder: {out}")
    return Path(out)


def _class_index(cls: str, names: list[str]) -> int:
    if cls in names:
        return names.index(cls)
    lowered = [n.lower() for n in names]
    if cls.lower() in lowered:
        return lowered.index(cls.lower())
    if cls.isdigit() and int(cls) < len(names):
        return int(cls)
    raise InputValidationError(f"--select-class {cls!r} is not one of the classes {names} (or their indices)")


def _train_galaxy(data: str, model_name: str, opts: O.TrainOptions, n_train: int, labels: Path | None,
                  crop: int | None, size: int | None, exclude: list[int],
                  selection: tuple[str, float, float] | None) -> None:
    from astrotorch.cli.prediction_table import model_outputs, model_table, predict_in_chunks, table_meta
    from astrotorch.cli.training import fit_model, say, write_predictions_test
    from astrotorch.models import get_model_class
    from astrotorch.plots import images as P
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.baselines import classification_metrics
    from astrotorch.train.runs import RunFolder, markdown_table
    from astrotorch.uncertainty.selection import precision_recall_curves

    cls = get_model_class(model_name)  # an unknown name fails before the data are read
    say(opts, f"loading {data}")
    n_total = int(round(n_train / (1.0 - opts.test_fraction)))
    x, y, names, src, ids, id_name = _galaxy_data(data, n_total, opts.seed, labels, crop, size, exclude)
    tr, te = _stratified_split(y, opts.test_fraction, opts.seed)
    sel_idx = None
    if selection is not None:
        k_sel = _class_index(selection[0], names)
        keep, held = _stratified_split(y[tr], selection[2], opts.seed + 1)
        tr, sel_idx = tr[keep], tr[held]
    m = cls(targetname=names, **opts.model_kwargs(cls))
    with RunFolder(opts.out, overwrite=opts.overwrite) as run:
        fit_s, notes = fit_model(m, opts, run.path, x[tr], y[tr], what=f"{len(tr)} images")
        outputs = predict_in_chunks(lambda xb: model_outputs(m, xb), lambda a, b: x[te[a:b]], len(te), chunk=256,
                                    desc="classifying the test images", quiet=opts.quiet)
        probs = outputs["probs"]
        metrics: dict[str, Any] = classification_metrics(y[te], probs)
        pred = probs.argmax(1)
        conf = P.confusion_matrix(y[te], pred, n_classes=len(names))
        recall = {n: float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None for i, n in enumerate(names)}
        curves = precision_recall_curves(probs, y[te], names)
        metrics.update({"per_class_recall": recall, "temperature": getattr(m, "temperature_", 1.0),
                        "average_precision": {n: c["average_precision"] for n, c in curves.items()},
                        "chirality_sensitive": not m.flips_allowed() if hasattr(m, "flips_allowed") else None})
        result: dict[str, Any] = {"task": "galaxy10", "model": model_name, "data": src, "classes": names,
                                  "n_train": len(tr), "n_test": len(te), "seed": opts.seed, "fit_seconds": fit_s,
                                  "test": metrics, "confusion": conf.tolist()}
        sections = []
        if selection is not None:
            text, entry = _selection(m, x, y, sel_idx, te, probs, k_sel, selection[1], names, opts)
            sections.append(text)
            result["selection"] = entry
        base_probs = None
        if opts.baseline:
            text, entry, base_probs = _galaxy_baselines(x, y, tr, te, metrics, len(names), opts)
            sections.append(text)
            result.update(entry)
            if selection is not None:
                from astrotorch.uncertainty.selection import recall_at_purity

                tree = recall_at_purity(base_probs, y[te], k_sel, selection[1])
                result["selection"]["baseline_tree_test_curve_recall"] = tree
                sections.append(f"Boosted trees on image statistics, read off their test curve: recall {tree:.3f} of "
                                f"{names[k_sel]} at purity {selection[1]:g}.\n")
        m.save(run.path / "model")
        table, units = model_table(m, outputs, ids[te], id_name)
        write_predictions_test(run, table, units, table_meta(m, data=src))
        run.write_metrics(result)
        if getattr(m, "history", None) is not None and len(m.history):
            run.savefig(loss_curves(m.history, title=f"{model_name} training"), "loss_curves.png")
        run.savefig(P.confusion_matrix_plot(conf, class_names=names, title=f"{model_name}: test confusion"), "confusion.png")
        run.savefig(P.reliability_plot(probs, y[te], title=f"{model_name}: reliability (test)"), "reliability.png")
        run.savefig(P.precision_recall_plot(probs, y[te], names, purity=selection[1] if selection else None,
                                            title=f"{model_name}: precision–recall (test)"), "precision_recall.png")
        show = te[:24]
        run.savefig(P.image_grid(x[show], [f"{names[a][:14]}→{names[b][:14]}" for a, b in zip(y[show], pred[:24])], ncols=8,
                                 title="test images: truth → prediction"), "examples.png")
        rows = [{"class": n, "recall": recall[n] if recall[n] is not None else float("nan"),
                 "average_precision": curves[n]["average_precision"], "n_test": int(conf[i].sum())}
                for i, n in enumerate(names)]
        keys = ("accuracy", "balanced_accuracy", "log_loss", "ece", "n")
        run.write_report(
            f"# Galaxy morphology run: {model_name}\n\nData: {src}. Stratified split with seed {opts.seed}: {len(tr)} "
            f"training (10% of it for validation/early stopping/temperature scaling), {len(te)} test images"
            + (f", {len(sel_idx)} held out from training to fit the selection threshold" if sel_idx is not None else "")
            + f". Trained in {fit_s:.0f} s.\n\n"
            f"## Test metrics\n\n{markdown_table([{k: metrics[k] for k in keys}])}\n\n"
            f"Temperature fitted on the validation split: {metrics['temperature']:.3f}.\n\n## Per class\n\n"
            f"{markdown_table(rows)}\n\nAverage precision: the area under the class's precision–recall curve "
            "(one against the rest); a random selection scores the class's share of the test set.\n\n"
            + "\n".join(sections)
            + "\nPer-object predictions of the test images: `predictions_test.csv`.\n\n"
            + "".join(f"Note: {n}.\n\n" for n in notes)
            + "![confusion](plots/confusion.png)\n![reliability](plots/reliability.png)\n"
            "![precision-recall](plots/precision_recall.png)\n"
            + ("![loss](plots/loss_curves.png)\n" if "plots/loss_curves.png" in run.figures else "")
            + "![examples](plots/examples.png)\n")


def _selection(m: Any, x: np.ndarray, y: np.ndarray, sel_idx: np.ndarray, te: np.ndarray, probs: np.ndarray, k: int,
               purity: float, names: list[str], opts: O.TrainOptions) -> tuple[str, dict[str, Any]]:
    """Fit the purity threshold on the held-out selection split and score it on the test split."""
    from astrotorch.cli.prediction_table import model_outputs, predict_in_chunks
    from astrotorch.uncertainty.selection import fit_purity_threshold, recall_at_purity, selection_scores

    p_sel = predict_in_chunks(lambda xb: model_outputs(m, xb), lambda a, b: x[sel_idx[a:b]], len(sel_idx), chunk=256,
                              desc="classifying the selection split", quiet=opts.quiet)["probs"]
    sel = fit_purity_threshold(p_sel, y[sel_idx], k, purity, class_names=names)
    test = selection_scores(sel, probs, y[te])
    optimistic = recall_at_purity(probs, y[te], k, purity)
    entry = {"fitted_on_selection_split": sel.to_dict(), "test": test, "test_curve_recall_at_purity": optimistic}
    if sel.reached:
        line = (f"threshold P({names[k]}) ≥ {sel.threshold:.3f}, fitted on the {len(sel_idx)} selection images "
                f"({sel.n_positive} of them {names[k]}; purity {sel.validation_purity:.3f}, recall "
                f"{sel.validation_recall:.3f} there). On the test set it selects {test['n_selected']} objects "
                f"(the test set holds {test['n_positive']} {names[k]}): purity {test['purity']:.3f}, recall "
                f"{test['recall']:.3f}.")
    else:
        line = (f"no threshold reaches purity {purity:g} on the {len(sel_idx)} selection images ({sel.n_positive} "
                f"{names[k]}): nothing is selected.")
    text = (f"## Selecting {names[k]} at purity {purity:g}\n\n{line} Read off the test set's own precision–recall "
            f"curve (threshold chosen on the test objects, so optimistic): recall {optimistic:.3f}.\n")
    return text, entry


def _galaxy_baselines(x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, metrics: dict[str, Any],
                      n_classes: int, opts: O.TrainOptions) -> tuple[str, dict[str, Any], np.ndarray]:
    from astrotorch.cli.training import say
    from astrotorch.train.baselines import image_tree_baseline, majority_class_baseline
    from astrotorch.train.runs import baseline_comparison

    say(opts, "fitting the baselines (majority class, boosted trees on image statistics) on the same split")
    base = {"majority class": majority_class_baseline(y[tr], y[te], n_classes),
            "trees on image statistics": image_tree_baseline(x[tr], y[tr], x[te], y[te], n_classes=n_classes,
                                                             seed=opts.seed)}
    text, entry = baseline_comparison(metrics, base, ["accuracy", "balanced_accuracy", "log_loss", "ece"],
                                      outputs=[None])
    return text, entry, base["trees on image statistics"].predictions


__all__ = ["train_images", "TASKS"]
