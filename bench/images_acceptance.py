"""Acceptance measurements for issue 4 (images): Galaxy Zoo morphology and cluster masses.

Galaxy morphology (real data, ``galaxy_zoo1_sdss69.h5`` from the shared data folder)::

    nice .venv/bin/python bench/images_acceptance.py galaxy --model galaxy10_cnn  --out bench/out/images
    nice .venv/bin/python bench/images_acceptance.py galaxy --model galaxy_resnet --out bench/out/images

The five Galaxy Zoo 1 classes other than "don't know" (elliptical, spiral clockwise, spiral
anticlockwise, edge-on, merger) are split 80/20 into train/test with a fixed seed, stratified by
class; the models see only the training part (their own 10% validation split inside it is used for
early stopping and temperature scaling). Test accuracy and expected calibration error (15 bins) are
reported, before and after temperature scaling, with per-class recall and the confusion matrix.
The model's own validation split is also scored (with and without test-time augmentation), with
the accuracy when the two spiral handednesses are merged and the handedness accuracy among spirals
called spirals (``variants`` in the JSON): compare variants there, not on the test split.
Variant flags: ``--crop``, ``--stem-stride``, ``--widths``, ``--polar-width``, ``--spiral-features``,
``--schedule``, ``--no-tta``, ``--tag`` (suffix of the output files).

Cluster masses (synthetic mock X-ray images)::

    nice .venv/bin/python bench/images_acceptance.py cluster --loss gaussian_nll --out bench/out/images
    nice .venv/bin/python bench/images_acceptance.py cluster --model-folder runs/clusters/model --test-seed 12345

The second scores a saved model (e.g. from ``astrotorch train images --task cluster-mass``) on a
fresh draw: slope of predicted against true log10 M500, bias per 0.2-dex bin, scatter, z-score std.

Writes ``<out>/<name>.json`` (and figures) and prints the headline numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
GZ1_KEEP = (0, 1, 2, 3, 5)  # Galaxy Zoo 1 classes kept: all but 4 ("don't know")
GZ1_NAMES = ("Elliptical", "Spiral clockwise", "Spiral anticlockwise", "Edge-on", "Merger")


def shared_data_dir() -> Path:
    env = os.environ.get("ASTROTORCH_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with the same class fractions, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.nonzero(labels == c)[0])
        n_test = int(round(test_fraction * idx.size))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_gz1(seed: int = 2026, image_size: int | None = None) -> dict[str, Any]:
    """The Galaxy Zoo 1 train/test split (fixed by ``seed``).

    ``image_size`` None: the 69×69 images of ``galaxy_zoo1_sdss69.h5``. Otherwise the 423×423 JPEGs are
    read instead, centre-cropped to the same 207×207 field and resized to ``image_size`` (104: 1.5×, 138: 2×
    the h5's resolution), in the h5's order so the split is the same galaxies either way.
    """
    from astrotorch.datasets.galaxy10 import load_galaxy10sdss
    from astrotorch.datasets.image_folder import load_image_folder

    root = shared_data_dir() / "galaxy_zoo1_sdss"
    path = root / "galaxy_zoo1_sdss69.h5"
    with load_galaxy10sdss(path=path) as data:
        images, ans = data.to_numpy()
    if image_size is not None:
        import h5py

        with h5py.File(path, "r") as f:
            objid = np.array([o.decode() if isinstance(o, bytes) else str(o) for o in f["objid"][:]])
        jpeg = load_image_folder(root / "images", root / "labels.csv", crop=207, size=int(image_size))
        where = {i: k for k, i in enumerate(jpeg.ids)}
        order = np.array([where[o] for o in objid])
        if not np.array_equal(np.asarray(jpeg.labels)[order], ans):
            raise RuntimeError("labels.csv and the h5 disagree on a galaxy's class")
        images, path = jpeg.images[order], root / "images"
    keep = np.isin(ans, GZ1_KEEP)
    images, ans = images[keep], ans[keep]
    remap = {c: i for i, c in enumerate(GZ1_KEEP)}
    labels = np.array([remap[int(a)] for a in ans], dtype=np.int64)
    tr, te = stratified_split(labels, 0.2, seed)
    return {"x_train": images[tr], "y_train": labels[tr], "x_test": images[te], "y_test": labels[te], "path": str(path)}


def summarize(probs: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Accuracy, ECE, per-class recall, and the accuracy with clockwise/anticlockwise merged.

    ``chirality_accuracy``: of the true spirals (either handedness) predicted as a spiral, the
    fraction given the right handedness (0.5 = chance).
    """
    from astrotorch.uncertainty.calibration import expected_calibration_error

    pred = probs.argmax(1)
    merge = np.array([0, 1, 1, 2, 3])
    spiral = np.isin(y, (1, 2)) & np.isin(pred, (1, 2))
    return {
        "n": int(len(y)),
        "accuracy": round(float(np.mean(pred == y)), 4),
        "ece": round(float(expected_calibration_error(probs, y)), 4),
        "nll": round(float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)))), 4),
        "accuracy_handedness_merged": round(float(np.mean(merge[pred] == merge[y])), 4),
        "chirality_accuracy": round(float(np.mean(pred[spiral] == y[spiral])), 4) if spiral.any() else None,
        "n_spirals_called_spiral": int(spiral.sum()),
        "recall": [round(float(np.mean(pred[y == c] == c)), 3) for c in range(len(GZ1_NAMES))],
    }


def galaxy(args: argparse.Namespace) -> dict[str, Any]:
    import astrotorch.models.galaxy  # noqa: F401  (registers the image models)
    from astrotorch.models import create_model
    from astrotorch.plots.images import confusion_matrix_plot, reliability_plot
    from astrotorch.uncertainty.calibration import expected_calibration_error
    from astrotorch.uncertainty.selection import class_probabilities

    d = load_gz1(args.split_seed, args.image_size)
    kw: dict[str, Any] = dict(max_epochs=args.epochs, seed=args.seed, targetname=list(GZ1_NAMES), accelerator=args.accelerator)
    if args.model == "galaxy_resnet":
        kw.update(mc_num=args.mc_num)
        if args.wide:  # the GPU configuration: 4× the width and depth, full-resolution first stage
            kw.update(widths=[32, 64, 128], blocks_per_stage=2, stem_stride=1)
        for opt in ("polar_width", "widths", "blocks_per_stage", "stem_stride", "schedule", "dropout_rate", "batch_size"):
            val = getattr(args, opt)
            if val is not None:
                kw["lr_schedule" if opt == "schedule" else opt] = val
        if args.crop is not None:
            kw["crop"] = None if args.crop <= 0 else args.crop
        if args.spiral_features is not None:
            kw["spiral_features"] = bool(args.spiral_features)
        if args.no_tta:
            kw["tta"] = False
        if args.patience is not None:
            kw["early_stopping_patience"] = args.patience
    if args.lr is not None:
        kw["lr"] = args.lr
    model = create_model(args.model, **kw)
    if args.model in ("galaxy10_cnn", "cifar10_cnn") and args.calibrate:
        model.temperature_scaling = True
    t0 = time.time()
    model.fit(d["x_train"], d["y_train"])
    train_s = time.time() - t0
    # the model's own validation split (same permutation as AstroModel._split): for choosing variants
    n_tr = len(d["y_train"])
    n_val = int(round(n_tr * model.val_size))
    val_idx = np.random.default_rng(model.seed).permutation(n_tr)[:n_val]
    val_metrics = {}
    tta_options = [True, False] if getattr(model, "tta", None) is not None else [None]
    for tta in tta_options:
        key = "default" if tta is None else ("tta" if tta else "no_tta")
        if tta is not None:
            model.tta = tta
        for split, (xs, ys) in {"val": (d["x_train"][val_idx], d["y_train"][val_idx]),
                                "test": (d["x_test"], d["y_test"])}.items():
            pr = class_probabilities(model, xs)
            val_metrics[f"{split}_{key}"] = summarize(pr, ys)
    if getattr(model, "tta", None) is not None:
        model.tta = kw.get("tta", True)
    probs = class_probabilities(model, d["x_test"])
    pred = probs.argmax(1)
    y = d["y_test"]
    # the same network without the temperature, for the before/after comparison
    t_fit = model.temperature_
    model._set_temperature(1.0)
    probs_raw = class_probabilities(model, d["x_test"])
    model._set_temperature(t_fit)
    conf = np.zeros((len(GZ1_NAMES),) * 2, dtype=int)
    np.add.at(conf, (y, pred), 1)
    res = {
        "model": args.model,
        "params": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool, list, type(None)))},
        "data": d["path"],
        "n_train": int(len(d["y_train"])),
        "n_test": int(len(y)),
        "split_seed": args.split_seed,
        "epochs_run": int(len(model.history)) if model.history is not None else None,
        "train_seconds": round(train_s, 1),
        "temperature": t_fit,
        "test_accuracy": float(np.mean(pred == y)),
        "test_ece": float(expected_calibration_error(probs, y)),
        "test_ece_uncalibrated": float(expected_calibration_error(probs_raw, y)),
        "test_accuracy_uncalibrated": float(np.mean(probs_raw.argmax(1) == y)),
        "majority_class_accuracy": float(np.mean(y == 0)),
        "per_class_recall": {n: float(conf[i, i] / max(conf[i].sum(), 1)) for i, n in enumerate(GZ1_NAMES)},
        "confusion": conf.tolist(),
        "variants": val_metrics,
        "history": model.history.to_dict(orient="list") if model.history is not None else None,
        "torch_threads": torch.get_num_threads(),
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = confusion_matrix_plot(conf, class_names=GZ1_NAMES, title=f"{args.model} on Galaxy Zoo 1 (test)")
    fig.savefig(out_dir / f"galaxy_{args.model}{args.tag}_confusion.png", dpi=90)
    fig = reliability_plot(probs, y, title=f"{args.model} reliability (test, T={t_fit:.2f})")
    fig.savefig(out_dir / f"galaxy_{args.model}{args.tag}_reliability.png", dpi=90)
    (out_dir / f"galaxy_{args.model}{args.tag}.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(val_metrics, indent=1))
    print(json.dumps({k: res[k] for k in ("model", "test_accuracy", "test_ece", "test_ece_uncalibrated", "temperature",
                                          "epochs_run", "train_seconds", "per_class_recall")}, indent=2))
    return res


def selection(args: argparse.Namespace) -> dict[str, Any]:
    """Per-class precision–recall, a class selected at a chosen purity, and the classical baselines,
    for a galaxy model trained by ``astrotorch train images`` on Galaxy Zoo 1 (the CLI's split)."""
    import astrotorch.models.galaxy  # noqa: F401  (registers the image models)
    from astrotorch.models import load_folder
    from astrotorch.plots.images import precision_recall_plot
    from astrotorch.train.baselines import (
        classification_metrics,
        image_tree_baseline,
        majority_class_baseline,
        which_wins_table,
    )
    from astrotorch.uncertainty.selection import (
        class_probabilities,
        fit_purity_threshold,
        precision_recall_curves,
        recall_at_purity,
        selection_scores,
    )

    d = load_gz1(args.split_seed)
    folder = Path(args.run)
    model = load_folder(folder / "model" if (folder / "model").is_dir() else folder)
    names = list(model.targetname or GZ1_NAMES)
    k = names.index(args.cls) if args.cls in names else int(args.cls)
    # the model's own validation split (AstroModel._split): labelled, never trained on
    n_tr = len(d["y_train"])
    val_idx = np.random.default_rng(model.seed).permutation(n_tr)[: int(round(n_tr * model.val_size))]
    t0 = time.time()
    p_val = class_probabilities(model, d["x_train"][val_idx])
    p_test = class_probabilities(model, d["x_test"])
    y_val, y_test = d["y_train"][val_idx], d["y_test"]
    pred_s = time.time() - t0
    res: dict[str, Any] = {"run": str(folder), "split_seed": args.split_seed, "n_val": int(val_idx.size),
                           "n_test": int(y_test.size), "predict_seconds": round(pred_s, 1), "class": names[k]}
    res["network_test"] = classification_metrics(y_test, p_test)
    curves = precision_recall_curves(p_test, y_test, names)
    res["average_precision_test"] = {n: c["average_precision"] for n, c in curves.items()}
    res["n_positive"] = {"val": int(np.sum(y_val == k)), "test": int(np.sum(y_test == k)),
                         "all": int(np.sum(d["y_train"] == k) + np.sum(y_test == k))}
    res["selections"] = {}
    for purity in args.purity:
        sel = fit_purity_threshold(p_val, y_val, k, purity, class_names=names)
        res["selections"][str(purity)] = {
            "fitted_on_validation": sel.to_dict(),
            "test": selection_scores(sel, p_test, y_test),
            # read off the test curve itself (threshold chosen on the test objects: optimistic)
            "test_curve_recall_at_purity": recall_at_purity(p_test, y_test, k, purity),
            "val_curve_recall_at_purity": recall_at_purity(p_val, y_val, k, purity),
        }
    t0 = time.time()
    base = {"majority class": majority_class_baseline(d["y_train"], y_test, len(names)),
            "trees on image statistics": image_tree_baseline(d["x_train"], d["y_train"], d["x_test"], y_test,
                                                             n_classes=len(names), seed=0)}
    res["baseline_seconds"] = round(time.time() - t0, 1)
    res["baselines"] = {n: b.metrics for n, b in base.items()}
    tree_probs = base["trees on image statistics"].predictions
    res["baseline_tree_recall_at_purity_test_curve"] = {str(p): recall_at_purity(tree_probs, y_test, k, p) for p in args.purity}
    res["baseline_tree_average_precision_test"] = precision_recall_curves(tree_probs, y_test, names)[names[k]]["average_precision"]
    tables = {m: which_wins_table(res["network_test"], base, outputs=[None], metric=m)
              for m in ("accuracy", "balanced_accuracy", "log_loss")}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    purity = args.purity[0] if args.purity else None
    precision_recall_plot(p_test, y_test, names, purity=purity, title="network, Galaxy Zoo 1 test split").savefig(
        out_dir / f"selection{args.tag}_pr_test.png", dpi=90)
    precision_recall_plot(tree_probs, y_test, names, purity=purity, title="trees on image statistics (test)").savefig(
        out_dir / f"selection{args.tag}_pr_tree_test.png", dpi=90)
    (out_dir / f"selection{args.tag}.json").write_text(json.dumps(res, indent=2, default=float))
    print(json.dumps(res, indent=1, default=float))
    for m, t in tables.items():
        print(f"\n{m}:\n{t}")
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("galaxy", help="Galaxy Zoo 1 real-data classification")
    g.add_argument("--model", default="galaxy_resnet", choices=["galaxy_resnet", "galaxy10_cnn", "cifar10_cnn"])
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--split-seed", type=int, default=2026)
    g.add_argument("--mc-num", type=int, default=30)
    g.add_argument("--calibrate", action="store_true", help="temperature-scale the astroNN CNNs too")
    g.add_argument("--wide", action="store_true", help="galaxy_resnet: widths (32,64,128) x2 blocks, stride-1 stem (GPU)")
    g.add_argument("--widths", type=int, nargs="+", default=None, help="galaxy_resnet stage widths")
    g.add_argument("--blocks-per-stage", type=int, default=None)
    g.add_argument("--polar-width", type=int, default=None, help="galaxy_resnet log-polar branch features (0: none)")
    g.add_argument("--stem-stride", type=int, default=None)
    g.add_argument("--crop", type=int, default=None, help="galaxy_resnet central crop (0: none)")
    g.add_argument("--schedule", choices=["cosine", "plateau"], default=None)
    g.add_argument("--dropout-rate", type=float, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--patience", type=int, default=None, help="early-stopping patience")
    g.add_argument("--spiral-features", type=int, choices=[0, 1], default=None,
                   help="galaxy_resnet: fixed spiral-winding (log-polar coherence) features")
    g.add_argument("--no-tta", action="store_true", help="galaxy_resnet: no dihedral test-time averaging")
    g.add_argument("--image-size", type=int, default=None,
                   help="read the JPEGs (207×207 centre field) resized to this side instead of the 69×69 h5")
    g.add_argument("--tag", default="", help="suffix for the output file names")
    g.add_argument("--accelerator", default="cpu")
    g.add_argument("--threads", type=int, default=1)
    g.add_argument("--out", default=str(ROOT / "bench" / "out" / "images"))
    sl = sub.add_parser("selection", help="PR curves, selection at a purity and baselines for a CLI galaxy run")
    sl.add_argument("--run", required=True, help="run folder of `astrotorch train images --task galaxy10` on GZ1")
    sl.add_argument("--cls", default="Merger", help="class name or index to select")
    sl.add_argument("--purity", type=float, nargs="+", default=[0.5, 0.7])
    sl.add_argument("--split-seed", type=int, default=0, help="the CLI's --seed (its stratified split)")
    sl.add_argument("--tag", default="")
    sl.add_argument("--threads", type=int, default=1)
    sl.add_argument("--out", default=str(ROOT / "bench" / "out" / "images"))
    c = sub.add_parser("cluster", help="cluster masses on synthetic X-ray images")
    c.add_argument("--loss", default="gaussian_nll", choices=["mse", "mae", "huber", "gaussian_nll"])
    c.add_argument("--n-train", type=int, default=3000, help="training clusters (the CLI's default)")
    c.add_argument("--n-test", type=int, default=2000)
    c.add_argument("--epochs", type=int, default=20, help="maximum epochs (the CLI's default)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--precision", default="32-true")
    c.add_argument("--calibrate", action="store_true", help="rescale σ on the validation split (z-score std 1)")
    c.add_argument("--test-seed", type=int, default=12345, help="seed of the test clusters (training uses seed + 1000)")
    c.add_argument("--prior-correction", type=int, choices=[0, 1], default=None,
                   help="cluster_mass_cnn prior_correction (default: the model's)")
    c.add_argument("--model-folder", default=None,
                   help="score this saved cluster_mass_cnn (e.g. a `train images` run's model/) instead of training")
    c.add_argument("--tag", default="", help="suffix for the output file names")
    c.add_argument("--accelerator", default="cpu")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--out", default=str(ROOT / "bench" / "out" / "images"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.what == "galaxy":
        galaxy(args)
    elif args.what == "selection":
        selection(args)
    else:
        cluster(args)


def cluster(args: argparse.Namespace) -> dict[str, Any]:
    import astrotorch.models.cluster  # noqa: F401  (registers cluster_mass_cnn)
    from astrotorch.datasets.xray_clusters import make_xray_clusters
    from astrotorch.models import create_model, load_folder
    from astrotorch.models.cluster import binned_mass_bias, mass_slope
    from astrotorch.plots.images import error_histogram, mass_bias_plot, mass_scatter_plot, zscore_histogram
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import markdown_table

    test = make_xray_clusters(args.n_test, seed=args.test_seed if args.test_seed is not None else args.seed + 2000)
    if args.model_folder:  # a trained model on a fresh draw: the acceptance figures only
        model = load_folder(args.model_folder)
        mu, sd = model.predict(test.inputs())
        pred, sig = mu.ravel(), sd["total"].ravel()
        err = pred - test.log10_m500
        bins = binned_mass_bias(test.log10_m500, pred, sigma=sig)
        res = {"model_folder": args.model_folder, "n_test": args.n_test, "test_seed": args.test_seed,
               "slope": mass_slope(test.log10_m500, pred), "bias_dex": float(err.mean()),
               "scatter_dex": float(err.std(ddof=1)), "zscore_std": float((err / sig).std(ddof=1)),
               "max_abs_bin_bias_dex": max(abs(b["bias_dex"]) for b in bins), "test_by_mass": bins}
        print(json.dumps({k: v for k, v in res.items() if k != "test_by_mass"}, indent=2))
        print(markdown_table(bins, floatfmt=".3f"))
        return res
    # training and test sets from different seeds: independent draws of the same population
    train = make_xray_clusters(args.n_train, seed=args.seed + 1000)
    kw: dict[str, Any] = dict(loss=args.loss, max_epochs=args.epochs, seed=args.seed, precision=args.precision,
                              accelerator=args.accelerator)
    if args.calibrate:
        kw["calibrate_uncertainty"] = True
    if args.prior_correction is not None:
        kw["prior_correction"] = bool(args.prior_correction)
    model = create_model("cluster_mass_cnn", **kw)
    t0 = time.time()
    model.fit(train.inputs(), train.log10_m500)
    train_s = time.time() - t0
    metrics = model.mass_metrics(test.inputs(), test.log10_m500)
    out = model.predict(test.inputs())
    pred = (out[0] if isinstance(out, tuple) else out).ravel()
    sig = out[1]["total"].ravel() if isinstance(out, tuple) else None
    # scatter in redshift bins: the distant, faint clusters are the hard ones
    zb = np.array([0.05, 0.3, 0.6, 1.0])
    err = pred - test.log10_m500
    by_z = {f"{lo:.2f}-{hi:.2f}": {"bias_dex": float(err[(test.redshift >= lo) & (test.redshift < hi)].mean()),
                                   "scatter_dex": float(err[(test.redshift >= lo) & (test.redshift < hi)].std(ddof=1))}
            for lo, hi in zip(zb[:-1], zb[1:])}
    by_mass = binned_mass_bias(test.log10_m500, pred, sigma=sig)
    res = {
        "loss": args.loss,
        "params": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool, list, type(None)))},
        "n_train": args.n_train,
        "n_test": args.n_test,
        "test_seed": args.test_seed,
        "epochs_run": int(len(model.history)),
        "train_seconds": round(train_s, 1),
        "test": metrics,
        "slope": mass_slope(test.log10_m500, pred),
        "test_by_mass": by_mass,
        "test_by_redshift": by_z,
        "history": model.history.to_dict(orient="list"),
        "torch_threads": torch.get_num_threads(),
    }
    name = f"cluster_{args.loss}" + ("_bf16" if "bf16" in str(args.precision) else "") + ("_cal" if args.calibrate else "") + args.tag
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    mass_scatter_plot(test.log10_m500, pred, test.redshift, sigma=sig, title=f"cluster_mass_cnn ({args.loss})").savefig(
        out_dir / f"{name}_scatter.png", dpi=90)
    mass_bias_plot(test.log10_m500, pred, sigma=sig, title="binned bias (test)").savefig(out_dir / f"{name}_bias.png", dpi=90)
    error_histogram(test.log10_m500, pred, title=args.loss).savefig(out_dir / f"{name}_errors.png", dpi=90)
    loss_curves(model.history, title=f"cluster_mass_cnn ({args.loss})").savefig(out_dir / f"{name}_loss.png", dpi=90)
    if sig is not None:
        zscore_histogram(test.log10_m500, pred, sig).savefig(out_dir / f"{name}_zscores.png", dpi=90)
    (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2))
    print(json.dumps({k: res[k] for k in ("loss", "epochs_run", "train_seconds", "test", "slope", "test_by_redshift")}, indent=2))
    print(markdown_table(by_mass, floatfmt=".3f"))
    return res

if __name__ == "__main__":
    main(sys.argv[1:])
