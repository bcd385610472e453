"""``astrotorch train images``: galaxy morphology (Galaxy10-style) or cluster masses from X-ray images.

Examples::

    astrotorch train images --task galaxy10 --data synthetic --model galaxy_resnet --out runs/g10
    astrotorch train images --task galaxy10 --data ../shared/data/galaxy_zoo1_sdss/galaxy_zoo1_sdss69.h5 \\
        --exclude-classes 4 --out runs/gz1
    astrotorch train images --task galaxy10 --data ../shared/data/galaxy_zoo1_sdss/images \\
        --labels ../shared/data/galaxy_zoo1_sdss/labels.csv --crop 207 --size 69 --out runs/gz1-jpeg
    astrotorch train images --task cluster-mass --data synthetic --loss gaussian_nll --out runs/clusters

Each run writes a run folder (:class:`astrotorch.train.runs.RunFolder`): ``model/``,
``metrics.json``, ``plots/`` (confusion matrix, reliability diagram and example images for
galaxies; predicted-vs-true coloured by redshift, error and z-score histograms for clusters; loss
curves for both) and ``report.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

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


def _galaxy_data(data: str, n: int, seed: int, labels: Optional[Path], crop: Optional[int], size: Optional[int],
                 exclude: list[int]) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Images (N, H, W, C), labels, class names and a description of the source."""
    from astrotorch.datasets import galaxy10 as g10

    if data == "synthetic":
        from astrotorch.datasets.synthetic_galaxies import CLASS_NAMES, make_synthetic_galaxies

        ds = make_synthetic_galaxies(n, size=size or 64, seed=seed)
        x, y, names, src = ds.images, ds.labels, list(CLASS_NAMES), f"synthetic Galaxy10 DECaLS classes ({n} images)"
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
            src = f"image folder {path} with {csv} ({len(y)} images)"
        elif path.suffix.lower() in (".h5", ".hdf5"):
            with g10.load_galaxy10sdss(path=path) as d:
                x, y = d.to_numpy()
                has_objid = "objid" in d.extra
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
        x, y, names = x[keep], remap[y[keep]], [names[c] for c in kept]
        src += f"; classes {exclude} excluded"
    return x, y, names, src


def train_images(
    task: str = typer.Option("galaxy10", help="'galaxy10' (morphology classes) or 'cluster-mass' (log10 M500)"),
    data: str = typer.Option("synthetic", help="'synthetic', a Galaxy10-layout .h5 file, or a folder of cutouts"),
    model: Optional[str] = typer.Option(None, help="galaxy10: galaxy_resnet (default), galaxy10_cnn, cifar10_cnn; cluster-mass: cluster_mass_cnn"),
    epochs: int = typer.Option(20, help="maximum epochs"),
    out: Path = typer.Option(Path("runs/images"), help="run folder to write"),
    seed: int = typer.Option(0, help="seed for data generation, split and training"),
    n_train: int = typer.Option(3000, help="synthetic data: number of training images (the test set adds test_size)"),
    test_size: float = typer.Option(0.2, help="held-out fraction for the report"),
    labels: Optional[Path] = typer.Option(None, help="image folder: id,label CSV (default: labels.csv beside it)"),
    crop: Optional[int] = typer.Option(None, help="image folder: centre crop in pixels before resizing"),
    size: Optional[int] = typer.Option(None, help="image folder / synthetic galaxies: output size in pixels"),
    exclude_classes: str = typer.Option("", help="comma-separated class indices to drop (e.g. '4' = GZ1 don't know)"),
    loss: str = typer.Option("gaussian_nll", help="cluster-mass: mse, mae, huber or gaussian_nll"),
    precision: str = typer.Option("32-true", help="Lightning precision, e.g. bf16-mixed"),
    accelerator: str = typer.Option("auto", help="cpu, gpu or auto"),
    batch_size: int = typer.Option(64),
    overwrite: bool = typer.Option(False, help="replace an existing run folder"),
) -> None:
    """Train an image model (galaxy morphology or cluster masses) and write a run folder."""
    if task not in TASKS:
        raise InputValidationError(f"--task must be one of {TASKS}, got {task!r}")
    if not 0.0 < test_size < 1.0:
        raise InputValidationError(f"--test-size must be in (0, 1), got {test_size}")
    common = dict(max_epochs=epochs, seed=seed, precision=precision, accelerator=accelerator, batch_size=batch_size)
    if task == "galaxy10":
        _train_galaxy(data, model or "galaxy_resnet", common, out, seed, n_train, test_size, labels, crop, size,
                      [int(c) for c in exclude_classes.split(",") if c.strip()], overwrite)
    else:
        _train_cluster(data, model or "cluster_mass_cnn", common, out, seed, n_train, test_size, loss, overwrite)
    typer.echo(f"run folder: {out}")


def _train_galaxy(data: str, model_name: str, common: dict[str, Any], out: Path, seed: int, n_train: int, test_size: float,
                  labels: Optional[Path], crop: Optional[int], size: Optional[int], exclude: list[int], overwrite: bool) -> None:
    import astrotorch.models.galaxy  # noqa: F401  (registers the image classifiers)
    from astrotorch.models import create_model
    from astrotorch.plots.images import confusion_matrix, confusion_matrix_plot, image_grid, reliability_plot
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import RunFolder, markdown_table

    n_total = int(round(n_train / (1.0 - test_size)))
    x, y, names, src = _galaxy_data(data, n_total, seed, labels, crop, size, exclude)
    tr, te = _stratified_split(y, test_size, seed)
    m = create_model(model_name, targetname=names, **common)
    m.fit(x[tr], y[tr])
    metrics = m.evaluate(x[te], y[te])
    probs = m.predict_proba(x[te])
    pred = probs.argmax(1)
    conf = confusion_matrix(y[te], pred, n_classes=len(names))
    recall = {n: float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None for i, n in enumerate(names)}
    metrics.update({"per_class_recall": recall, "temperature": getattr(m, "temperature_", 1.0),
                    "chirality_sensitive": not m.flips_allowed() if hasattr(m, "flips_allowed") else None})
    with RunFolder(out, overwrite=overwrite) as run:
        m.save(run.path / "model")
        run.write_metrics({"task": "galaxy10", "model": model_name, "data": src, "classes": names, "n_train": len(tr),
                           "n_test": len(te), "seed": seed, "test": metrics, "confusion": conf.tolist()})
        run.savefig(loss_curves(m.history, title=f"{model_name} training"), "loss_curves.png")
        run.savefig(confusion_matrix_plot(conf, class_names=names, title=f"{model_name}: test confusion"), "confusion.png")
        run.savefig(reliability_plot(probs, y[te], title=f"{model_name}: reliability (test)"), "reliability.png")
        show = te[:24]
        run.savefig(image_grid(x[show], [f"{names[a][:14]}→{names[b][:14]}" for a, b in zip(y[show], pred[:24])], ncols=8,
                               title="test images: truth → prediction"), "examples.png")
        rows = [{"class": n, "recall": recall[n] if recall[n] is not None else float("nan"), "n_test": int(conf[i].sum())}
                for i, n in enumerate(names)]
        run.write_report(
            f"# Galaxy morphology run: {model_name}\n\nData: {src}. Stratified split with seed {seed}: {len(tr)} training "
            f"(10% of it for validation/early stopping/temperature scaling), {len(te)} test images.\n\n"
            f"## Test metrics\n\n{markdown_table([{k: metrics[k] for k in ('accuracy', 'log_loss', 'ece', 'n')}])}\n\n"
            f"Temperature fitted on the validation split: {metrics['temperature']:.3f}.\n\n## Recall per class\n\n"
            f"{markdown_table(rows)}\n\n![confusion](plots/confusion.png)\n![reliability](plots/reliability.png)\n"
            f"![loss](plots/loss_curves.png)\n![examples](plots/examples.png)\n"
        )


def _train_cluster(data: str, model_name: str, common: dict[str, Any], out: Path, seed: int, n_train: int, test_size: float,
                   loss: str, overwrite: bool) -> None:
    import astrotorch.models.cluster  # noqa: F401  (registers cluster_mass_cnn)
    from astrotorch.models import create_model
    from astrotorch.plots.images import error_histogram, mass_scatter_plot, zscore_histogram
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import RunFolder, markdown_table

    if data == "synthetic":
        from astrotorch.datasets.xray_clusters import make_xray_clusters

        n_test = max(int(round(n_train * test_size / (1.0 - test_size))), 1)
        train = make_xray_clusters(n_train, seed=seed + 1000)
        test = make_xray_clusters(n_test, seed=seed + 2000)
        xtr, ytr, xte, yte, zte = train.inputs(), train.log10_m500, test.inputs(), test.log10_m500, test.redshift
        src = f"synthetic mock X-ray clusters ({n_train} training, {n_test} test; independent seeds)"
    else:
        path = Path(data)
        if path.suffix.lower() != ".npz" or not path.is_file():
            raise InputValidationError("cluster-mass --data must be 'synthetic' or an .npz with image, redshift, log10_m500")
        with np.load(path, allow_pickle=False) as d:
            missing = {"image", "redshift", "log10_m500"} - set(d.keys())
            if missing:
                raise InputValidationError(f"{path} lacks arrays {sorted(missing)}")
            img, z, logm = d["image"], d["redshift"], d["log10_m500"]
        perm = np.random.default_rng(seed).permutation(len(logm))
        k = int(round(test_size * len(logm)))
        te, tr = perm[:k], perm[k:]
        xtr, ytr = {"image": img[tr], "redshift": z[tr]}, logm[tr]
        xte, yte, zte = {"image": img[te], "redshift": z[te]}, logm[te], z[te]
        src = f"{path} ({len(tr)} training, {len(te)} test)"
    m = create_model(model_name, loss=loss, **common)
    m.fit(xtr, ytr)
    metrics = m.mass_metrics(xte, yte)
    out_p = m.predict(xte)
    pred = (out_p[0] if isinstance(out_p, tuple) else out_p).ravel()
    sig = out_p[1]["total"].ravel() if isinstance(out_p, tuple) else None
    with RunFolder(out, overwrite=overwrite) as run:
        m.save(run.path / "model")
        run.write_metrics({"task": "cluster-mass", "model": model_name, "loss": loss, "data": src, "seed": seed, "test": metrics})
        run.savefig(loss_curves(m.history, title=f"{model_name} ({loss})"), "loss_curves.png")
        run.savefig(mass_scatter_plot(yte, pred, zte, sigma=sig, title=f"{model_name} ({loss})"), "pred_vs_true.png")
        run.savefig(error_histogram(yte, pred, title=loss), "error_histogram.png")
        figs = "![pred](plots/pred_vs_true.png)\n![errors](plots/error_histogram.png)\n![loss](plots/loss_curves.png)\n"
        if sig is not None:
            run.savefig(zscore_histogram(yte, pred, sig, title="z-scores (test)"), "zscores.png")
            figs += "![z](plots/zscores.png)\n"
        run.write_report(
            f"# Cluster-mass run: {model_name}, loss {loss}\n\nData: {src}.\n\n## Test metrics (dex)\n\n"
            f"{markdown_table([metrics])}\n\nBias = mean(predicted − true log10 M500); scatter = its standard deviation."
            + (" z-score std: standard deviation of (pred − true)/σ, 1 when σ is calibrated." if sig is not None else "")
            + f"\n\n{figs}"
        )


__all__ = ["train_images", "TASKS"]
