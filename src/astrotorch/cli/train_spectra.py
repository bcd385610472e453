"""``astrotorch train spectra``: train a spectral model, evaluate it on held-out stars, write a run folder.

The function :func:`train_spectra` is both the typer command (registered by ``cli/main.py``) and a
plain Python function (``make demo`` calls it directly), so every parameter has a plain default.

The run folder (written atomically with :class:`~astrotorch.train.runs.RunFolder`) holds:
``model/`` (the saved model), ``metrics.json``, ``metrics.csv``/``metrics.md`` (held-out combined
spectra) and ``metrics_visits.*`` (the same stars' lower-S/N visit spectra, synthetic data only),
``plots/`` (loss curves, residuals, calibration, jacobian) and ``report.md``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from typing_extensions import Annotated

from astrotorch.errors import DataFormatError, InputValidationError

#: labels trained on by default: stellar parameters and a few abundances with distinct line physics
DEFAULT_LABELS = "teff,logg,M_H,alpha_M,Fe_H,C_H,N_H,O_H,Mg_H,Si_H,Ca_H,Al_H"
#: the synthetic label set, for ``--labels all``
ALL = "all"


def _load_data(data: str, n_train: int, n_test: int, snr: float, seed: int, n_visits: int) -> tuple[Any, Any, Any, str]:
    """(train set, test combined, test visits or None, description) from 'synthetic' or an HDF5 file."""
    from astrotorch.datasets.spectra import load_synthetic_hdf5, synthetic_spectra

    if data == "synthetic":
        t0 = time.perf_counter()
        ds = synthetic_spectra(n_train + n_test, snr=snr, seed=seed, n_visits=n_visits)
        n = n_train + n_test
        train = ds.select(np.arange(n_train))
        test = ds.select(np.arange(n_train, n))
        visits = None
        if n_visits > 0:
            rows = np.flatnonzero((ds.visit_of >= n_train))
            visits = ds.select(rows)
        desc = (f"synthetic APOGEE-like spectra (astrotorch.datasets.spectra, seed {seed}): {n_train} training and "
                f"{n_test} held-out stars at S/N {snr:g} per pixel"
                + (f", plus {n_visits} visit spectra per held-out star at S/N {snr / np.sqrt(n_visits) if n_visits > 1 else snr / 2:.0f}" if n_visits else "")
                + f"; generated in {time.perf_counter() - t0:.1f} s")
        return train, test, visits, desc
    path = Path(data)
    if not path.is_file():
        raise InputValidationError(f"--data must be 'synthetic' or an existing HDF5 file, got {data!r}")
    try:
        ds = load_synthetic_hdf5(path)
    except KeyError as exc:
        raise DataFormatError(f"{path} lacks dataset {exc}: expected flux, flux_err, labels, label_err ...") from exc
    comb = np.flatnonzero(ds.visit_of < 0)
    rng = np.random.default_rng(seed)
    comb = rng.permutation(comb)
    n_test_eff = min(n_test, len(comb) // 5) if len(comb) < n_train + n_test else n_test
    te, tr = comb[:n_test_eff], comb[n_test_eff:n_test_eff + n_train]
    if len(tr) == 0:
        raise InputValidationError(f"{path} holds too few spectra ({len(comb)}) for a train/test split")
    visits = ds.select(np.flatnonzero(np.isin(ds.visit_of, te))) if (ds.visit_of >= 0).any() else None
    desc = f"HDF5 file `{path}`: {len(tr)} training and {len(te)} held-out spectra (random split, seed {seed})"
    return ds.select(tr), ds.select(te), visits, desc


def _predict(model: Any, ds: Any, cols: list[int], bayesian: bool) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray] | None]:
    if bayesian:
        pred, sig = model.predict(ds.flux, x_err=ds.flux_err)
        return pred, sig["total"], sig
    return model.predict(ds.flux), None, None


def train_spectra(
    model: Annotated[str, typer.Option(help="registered model: apogee_bcnn, apogee_cnn, apogee_bcnn_censored, starnet2017, mlp, knn, linear ...")] = "apogee_bcnn",
    data: Annotated[str, typer.Option(help="'synthetic' or an HDF5 file written by astrotorch.datasets.spectra")] = "synthetic",
    n_train: Annotated[int, typer.Option(help="training spectra")] = 4000,
    n_test: Annotated[int, typer.Option(help="held-out spectra for the report")] = 500,
    snr: Annotated[float, typer.Option(help="synthetic data: per-pixel S/N of the combined spectra")] = 100.0,
    n_visits: Annotated[int, typer.Option(help="synthetic data: visit spectra per held-out star (lower S/N)")] = 1,
    labels: Annotated[str, typer.Option(help="comma-separated label names, or 'all'")] = DEFAULT_LABELS,
    epochs: Annotated[int, typer.Option(min=1, help="maximum epochs")] = 15,
    lr: Annotated[Optional[float], typer.Option(help="learning rate (default: 0.003 for CNNs, a quick-converging choice; the model's own otherwise)")] = None,
    batch_size: Annotated[int, typer.Option(help="mini-batch size")] = 64,
    mc_num: Annotated[int, typer.Option(help="MC dropout samples for Bayesian predictions (astroNN uses 100)")] = 50,
    calibrate: Annotated[bool, typer.Option(help="Bayesian models: rescale σ on the validation split (never the test split)")] = True,
    seed: Annotated[int, typer.Option(help="seed for data, split and training")] = 0,
    out: Annotated[Path, typer.Option(help="run folder to write")] = Path("runs/spectra"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0: torch's default)")] = 0,
) -> Path:
    """Train a spectral model on synthetic (or HDF5) APOGEE spectra, evaluate on held-out stars, write a run folder."""
    from astrotorch.cli.main import check_out  # --out is checked before any work: see cli/exit_codes.py
    check_out(Path(out), overwrite, inputs=[] if data == "synthetic" else [data])
    import torch

    import astrotorch.models.spectra  # noqa: F401  (registers the spectral models)
    from astrotorch.datasets.spectra import element_windows
    from astrotorch.models import create_model, get_model_class
    from astrotorch.plots import spectra as P
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import RunFolder, markdown_table

    if threads > 0:
        torch.set_num_threads(threads)
    if n_train < 10 or n_test < 10:
        raise InputValidationError(f"n_train and n_test must be at least 10, got {n_train}, {n_test}")
    cls = get_model_class(model)
    if "spectra" in getattr(cls, "INPUT_KEYS", ()):
        raise InputValidationError(f"{model} needs parallaxes and magnitudes (dict input); use the Python API")
    t_start = time.perf_counter()
    train, test, visits, data_desc = _load_data(data, n_train, n_test, snr, seed, n_visits)
    names = train.label_names if labels == ALL else [s.strip() for s in labels.split(",") if s.strip()]
    cols = train.label_index(names)

    kw: dict[str, Any] = dict(max_epochs=epochs, seed=seed, targetname=names, batch_size=batch_size)
    params = cls._param_names()
    if "mc_num" in params:
        kw["mc_num"] = mc_num
    if cls.bayesian:
        kw["calibrate_uncertainty"] = calibrate
    is_cnn = "num_filters" in params
    if lr is not None:
        kw["lr"] = lr
    elif is_cnn:
        kw["lr"] = 0.003
    if is_cnn or model == "mlp":
        kw.update(early_stopping_patience=5, reduce_lr_patience=2)
    m = create_model(model, **kw)
    t0 = time.perf_counter()
    m.fit(train.flux, train.labels[:, cols], x_err=train.flux_err, y_err=train.label_err[:, cols])
    t_fit = time.perf_counter() - t0

    t0 = time.perf_counter()
    pred, sig, sig_parts = _predict(m, test, cols, cls.bayesian)
    t_pred = time.perf_counter() - t0
    # synthetic data: score against the noise-free truth; files: against the catalogue labels
    truth = test.labels_true[:, cols] if data == "synthetic" else test.labels[:, cols]
    table = P.metrics_table(truth, pred, sig, names)
    vis_table = None
    if visits is not None and len(visits):
        vpred, vsig, _ = _predict(m, visits, cols, cls.bayesian)
        vtruth = visits.labels_true[:, cols] if data == "synthetic" else visits.labels[:, cols]
        vis_table = P.metrics_table(vtruth, vpred, vsig, names)

    out = Path(out)
    with RunFolder(out, overwrite=overwrite) as run:
        m.save(run.path / "model")
        P.write_metrics_table(table, run.path, "metrics")
        if vis_table is not None:
            P.write_metrics_table(vis_table, run.path, "metrics_visits")
        figs = []
        if m.history is not None and len(m.history):
            run.savefig(loss_curves(m.history), "loss_curves.png")
            figs.append(("Training history", "loss_curves.png"))
        run.savefig(P.aspcap_residue_plot(truth, pred, sig, names, title=f"{model}: held-out residuals"), "residuals.png")
        figs.append(("Residuals against truth, coloured by σ_total", "residuals.png"))
        if sig is not None:
            run.savefig(P.calibration_plot(truth, pred, sig, names, title=f"{model}: calibration (held-out)"), "calibration.png")
            figs.append(("Uncertainty calibration (held-out combined spectra)", "calibration.png"))
        jac_ok = hasattr(m, "network") and isinstance(m.network, torch.nn.Module) and any(True for _ in m.network.parameters())
        if jac_ok:
            jac = m.jacobian(test.flux[: min(32, len(test))], mean_output=True)
            wins = element_windows() if data == "synthetic" else None
            show = [n for n in ("teff", "logg", "Fe_H", "Mg_H", "C_H", "N_H", "Al_H", "O_H") if n in names][:6]
            run.savefig(P.jacobian_plot(jac, test.wavelength, names, wins, labels=show or names[:6],
                                        title=f"{model}: mean jacobian of 32 held-out spectra"), "jacobian.png")
            figs.append(("Jacobian ∂label/∂flux with the generator's line windows of each element shaded", "jacobian.png"))
        metrics = {
            "model": model, "params": m.get_params(), "data": data_desc, "labels": names,
            "n_train": len(train), "n_test": len(test), "n_visits_test": 0 if visits is None else len(visits),
            "fit_seconds": t_fit, "predict_seconds": t_pred, "epochs_run": 0 if m.history is None else len(m.history),
            "test": {r["label"]: {k: v for k, v in r.items() if k != "label"} for r in table.to_dict("records")},
        }
        if vis_table is not None:
            metrics["test_visits"] = {r["label"]: {k: v for k, v in r.items() if k != "label"} for r in vis_table.to_dict("records")}
        if getattr(m, "sigma_scale_", None) is not None:
            metrics["sigma_scale_validation"] = dict(zip(names, [float(s) for s in m.sigma_scale_]))
        run.write_metrics(metrics)
        run.write_report(_report(model, m, data_desc, names, table, vis_table, figs, t_fit, t_pred,
                                 time.perf_counter() - t_start, markdown_table))
    typer.echo(f"run folder: {out}  (report: {out / 'report.md'})")
    return out


def _report(model: str, m: Any, data_desc: str, names: list[str], table: Any, vis_table: Any,
            figs: list[tuple[str, str]], t_fit: float, t_pred: float, t_total: float, markdown_table: Any) -> str:
    cols = ["label", "n", "median", "mad_std", "rmse"] + (["median_sigma", "z_std", "coverage_68"] if "z_std" in table else [])
    lines = [f"# Stellar labels from spectra: `{model}`", ""]
    lines += ["## Data", "", data_desc + ".", ""]
    params = {k: v for k, v in m.get_params().items() if k in (
        "max_epochs", "batch_size", "lr", "l2", "dropout_rate", "num_filters", "filter_len", "pool_length",
        "num_hidden", "mc_num", "input_norm_mode", "labels_norm_mode", "calibrate_uncertainty")}
    n_ep = 0 if m.history is None else len(m.history)
    lines += ["## Model", "", f"`{type(m).__name__}` (registered as `{model}`), trained {n_ep} epochs in {t_fit:.0f} s; "
              f"prediction of the held-out set {t_pred:.0f} s; whole run {t_total:.0f} s.", "",
              "Hyper-parameters: " + ", ".join(f"`{k}={v}`" for k, v in params.items()) + ".", ""]
    if getattr(m, "sigma_scale_", None) is not None:
        lines += ["σ was rescaled per label by factors fitted on the validation split (not the test set): "
                  + ", ".join(f"{n} {s:.2f}" for n, s in zip(names, m.sigma_scale_)) + ".", ""]
    lines += ["## Held-out metrics (combined spectra)", "",
              "Residual = prediction − truth, in label units (Teff in K, others in dex). `mad_std` is the robust "
              "scatter; `z_std` is the standard deviation of residual/σ_total (1 = calibrated) and `coverage_68` "
              "the fraction within ±1σ (0.683 expected).", "",
              markdown_table([{c: r.get(c) for c in cols} for r in table.to_dict("records")]), ""]
    if vis_table is not None:
        lines += ["## Held-out metrics (lower-S/N visit spectra of the same stars)", "",
                  markdown_table([{c: r.get(c) for c in cols} for r in vis_table.to_dict("records")]), ""]
    if "z_std" in table:
        z = table.set_index("label")["z_std"]
        lines += ["## Calibration", "",
                  "Standard deviation of z-scores per label: " + ", ".join(f"{k} {v:.2f}" for k, v in z.items()) + "."
                  + (" All within 0.85–1.15." if ((z > 0.85) & (z < 1.15)).all() else
                     " Labels outside 0.85–1.15: " + ", ".join(k for k, v in z.items() if not 0.85 < v < 1.15) + "."), ""]
    lines += ["## Figures", ""]
    lines += [f"**{cap}**\n\n![{cap}](plots/{f})\n" for cap, f in figs]
    lines += ["## Files", "", "`model/` saved model (load with `astrotorch.models.load_folder`), `metrics.json`, "
              "`metrics.csv`/`metrics.md`" + (", `metrics_visits.*`" if vis_table is not None else "") + ", `plots/`.", ""]
    return "\n".join(lines)


__all__ = ["train_spectra", "DEFAULT_LABELS"]
