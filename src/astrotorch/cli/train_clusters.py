"""``astrotorch train images --task cluster-mass``: log10 M500 of galaxy clusters from X-ray images.

Called by :func:`astrotorch.cli.train_images.train_images`. The run folder holds ``model/``,
``metrics.json``, ``predictions_test.csv`` (masses with σ), ``logs/``, ``plots/`` (predicted against
true mass coloured by redshift, binned bias with the slope, error and z-score histograms, loss
curves) and ``report.md`` with boosted trees on image statistics and redshift as the baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.cli.options import TrainOptions
from astrotorch.errors import InputValidationError

#: the output's name and unit in tables
MASS_NAME, MASS_UNIT = "log10_m500", "dex(M_sun)"


def _data(data: str, n_train: int, opts: TrainOptions) -> tuple[Any, np.ndarray, Any, np.ndarray, np.ndarray, str]:
    """(x_train, y_train, x_test, y_test, test redshifts, description); x are {"image", "redshift"} dicts."""
    if data == "synthetic":
        from astrotorch.datasets.xray_clusters import make_xray_clusters

        n_test = max(int(round(n_train * opts.test_fraction / (1.0 - opts.test_fraction))), 1)
        train = make_xray_clusters(n_train, seed=opts.seed + 1000)
        test = make_xray_clusters(n_test, seed=opts.seed + 2000)
        return (train.inputs(), train.log10_m500, test.inputs(), test.log10_m500, test.redshift,
                f"synthetic mock X-ray clusters ({n_train} training, {n_test} test; independent seeds)")
    path = Path(data)
    if path.suffix.lower() != ".npz" or not path.is_file():
        raise InputValidationError("cluster-mass --data must be 'synthetic' or an .npz with image, redshift, log10_m500")
    from astrotorch.io import read_npz

    d = read_npz(path, keys=["image", "redshift", "log10_m500"])
    img, z, logm = d["image"], d["redshift"], d["log10_m500"]
    perm = np.random.default_rng(opts.seed).permutation(len(logm))
    k = int(round(opts.test_fraction * len(logm)))
    te, tr = perm[:k], perm[k:]
    if k == 0 or len(tr) < 2:
        raise InputValidationError(f"{path} holds too few clusters ({len(logm)}) for a train/test split")
    return ({"image": img[tr], "redshift": z[tr]}, logm[tr], {"image": img[te], "redshift": z[te]}, logm[te], z[te],
            f"{path} ({len(tr)} training, {len(te)} test)")


def train_cluster(data: str, model_name: str, opts: TrainOptions, n_train: int, loss: str) -> None:
    """Train ``model_name`` on cluster images and write the run folder (see the module docstring)."""
    from astrotorch.cli.prediction_table import model_outputs, model_table, predict_in_chunks, table_meta
    from astrotorch.cli.training import fit_model, say, write_predictions_test
    from astrotorch.models import get_model_class
    from astrotorch.models.cluster import binned_mass_bias, mass_slope
    from astrotorch.plots import images as P
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import RunFolder, markdown_table

    cls = get_model_class(model_name)
    say(opts, f"loading {data}")
    xtr, ytr, xte, yte, zte, src = _data(data, n_train, opts)
    kw = {"loss": loss, "targetname": [MASS_NAME], **opts.model_kwargs(cls)}
    m = cls(**{k: v for k, v in kw.items() if k in cls._param_names()})
    with RunFolder(opts.out, overwrite=opts.overwrite) as run:
        fit_s, notes = fit_model(m, opts, run.path, xtr, ytr, what=f"{len(ytr)} clusters")
        outputs = predict_in_chunks(lambda xb: model_outputs(m, xb),
                                    lambda a, b: {k: v[a:b] for k, v in xte.items()}, len(yte), chunk=512,
                                    desc="predicting the test clusters", quiet=opts.quiet)
        pred = np.asarray(outputs["values"], np.float64).ravel()
        sig = outputs["sigma"]["total"].ravel() if outputs.get("sigma") else None
        metrics = m.mass_metrics(xte, yte)
        bins = binned_mass_bias(yte, pred, sigma=sig)
        metrics["slope"] = mass_slope(yte, pred, lo=bins[0]["lo"], hi=bins[-1]["hi"])
        result: dict[str, Any] = {"task": "cluster-mass", "model": model_name, "loss": loss, "data": src,
                                  "seed": opts.seed, "fit_seconds": fit_s, "test": metrics, "binned_bias": bins}
        section = ""
        if opts.baseline:
            section, entry = _baseline(xtr, ytr, xte, yte, pred, opts)
            result.update(entry)
        m.save(run.path / "model")
        table, units = model_table(m, outputs, np.arange(len(yte)), "row", units={MASS_NAME: MASS_UNIT})
        write_predictions_test(run, table, units, table_meta(m, data=src))
        run.write_metrics(result)
        figs = []
        if getattr(m, "history", None) is not None and len(m.history):
            run.savefig(loss_curves(m.history, title=f"{model_name} ({loss})"), "loss_curves.png")
            figs.append("loss_curves.png")
        run.savefig(P.mass_scatter_plot(yte, pred, zte, sigma=sig, title=f"{model_name} ({loss})"), "pred_vs_true.png")
        run.savefig(P.mass_bias_plot(yte, pred, sigma=sig, title="binned bias (test)"), "binned_bias.png")
        run.savefig(P.error_histogram(yte, pred, title=loss), "error_histogram.png")
        figs = ["pred_vs_true.png", "binned_bias.png", "error_histogram.png"] + figs
        if sig is not None:
            run.savefig(P.zscore_histogram(yte, pred, sig, title="z-scores (test)"), "zscores.png")
            figs.append("zscores.png")
        run.write_report(
            f"# Cluster-mass run: {model_name}, loss {loss}\n\nData: {src}. Trained in {fit_s:.0f} s.\n\n"
            f"## Test metrics (dex)\n\n{markdown_table([metrics])}\n\nBias = mean(predicted − true log10 M500); "
            "scatter = its standard deviation; slope = fitted slope of predicted against true log10 M500 "
            "(1 = no mass-dependent bias)."
            + (" z-score std: standard deviation of (pred − true)/σ, 1 when σ is calibrated." if sig is not None else "")
            + f"\n\n## Bias per bin of true mass\n\n{markdown_table(bins)}\n\n{section}\n"
            "Per-cluster predictions of the test set: `predictions_test.csv`.\n\n"
            + "".join(f"Note: {n}.\n\n" for n in notes)
            + "".join(f"![{f[:-4]}](plots/{f})\n" for f in figs))


def _baseline(xtr: Any, ytr: np.ndarray, xte: Any, yte: np.ndarray, pred: np.ndarray,
              opts: TrainOptions) -> tuple[str, dict[str, Any]]:
    from astrotorch.cli.training import say
    from astrotorch.train.baselines import image_statistics, regression_metrics, tabular_baseline
    from astrotorch.train.runs import baseline_comparison

    say(opts, "fitting the baseline (boosted trees on image statistics and redshift) on the same split")
    f_tr = np.column_stack([image_statistics(xtr["image"])[0], xtr["redshift"]])
    f_te = np.column_stack([image_statistics(xte["image"])[0], xte["redshift"]])
    base = tabular_baseline(f_tr, ytr, f_te, yte, names=[MASS_NAME], seed=opts.seed)
    network = regression_metrics(yte, pred, [MASS_NAME])
    return baseline_comparison(network, {"trees on image statistics + z": base}, ["mae", "mad_std"])


__all__ = ["train_cluster", "MASS_NAME", "MASS_UNIT"]
