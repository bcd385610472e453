"""``astrotorch train spectra``: train a spectral model, evaluate it on held-out stars, write a run folder.

The function :func:`train_spectra` is both the typer command (registered by ``cli/main.py``) and a
plain Python function (``make demo`` calls it directly), so every parameter has a plain default.

Data (``--data``): ``emulated[:NAME]`` — spectra of a published emulator trained on real APOGEE spectra,
labels from the real DR12 catalogue (:func:`astrotorch.datasets.emulated.emulated_spectra`, default
emulator ``binspec_plus``; needs the emulator files, which are not shipped); ``synthetic`` — the
library's own line-list generator (no data files needed); ``auto`` (default) — emulated when the
emulator file is found, synthetic otherwise; or an HDF5 file in either spectra layout (the generators'
or :func:`~astrotorch.datasets.apogee_h5.compile_apogee_h5`'s).

The run folder (written atomically with :class:`~astrotorch.train.runs.RunFolder`) holds:
``model/`` (the saved model), ``metrics.json``, ``metrics.csv``/``metrics.md`` (held-out combined
spectra) and ``metrics_visits.*`` (the same stars' lower-S/N visit spectra), ``plots/`` (loss curves,
residuals, calibration, jacobian) and ``report.md``. On emulated data every metrics table shows each
label's RMSE beside its Cramér–Rao bound (the RMS over the held-out stars of
:func:`astrotorch.uncertainty.crlb`, with and without a prior fitted to the training labels) and their ratio.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from astrotorch.cli import options as O
from astrotorch.errors import InputValidationError

#: labels trained on by default on synthetic data: stellar parameters and a few abundances
DEFAULT_LABELS = "teff,logg,M_H,alpha_M,Fe_H,C_H,N_H,O_H,Mg_H,Si_H,Ca_H,Al_H"
#: labels trained on by default on emulated data: the emulator's stellar labels (v_macro is a nuisance)
EMULATED_LABELS = "teff,logg,Fe_H,Mg_Fe"
#: the synthetic label set, for ``--labels all``
ALL = "all"


def calibration_lines(m: Any, names: Sequence[str], calibrated_on: str = "the validation split (not the test set)") -> list[str]:
    """The report's paragraph on the σ calibration (empty when none was fitted), fitted on ``calibrated_on``."""
    if getattr(m, "sigma_scale_", None) is None:
        return []
    text = (f"σ was rescaled per label by factors fitted on {calibrated_on}: "
            + ", ".join(f"{n} {s:.2f}" for n, s in zip(names, m.sigma_scale_)) + ".")
    power, ref = getattr(m, "noise_power_", None), getattr(m, "noise_reference_", None)
    if power is not None and ref:
        text += (" With flux errors given, σ also grows with a spectrum's noise level ν (its median flux error) as "
                 f"(ν / {ref:.4g})^(γ/2), γ = " + ", ".join(f"{n} {g:.2f}" for n, g in zip(names, power))
                 + " (fitted on these stars as they are and with their S/N lowered).")
        high, brk = getattr(m, "noise_power_high_", None), getattr(m, "noise_break_", None)
        if high is not None and brk is not None and np.isfinite(brk).any():
            text += (" Beyond a noise level ν_b the power changes (the calibration stars pinned it): " + ", ".join(
                f"{n} γ₂ = {g:.2f} beyond ν_b = {b * ref:.4g}" for n, g, b in zip(names, high, brk) if np.isfinite(b)) + ".")
    precision = getattr(m, "sigma_precision_", None)
    if precision is not None:
        text += (" How well these stars pin σ at their own S/N (1σ, the calibration's Cramér–Rao bound, set "
                 "by their number and by their label errors beside the model's error): "
                 + ", ".join(f"{n} ±{100 * p:.0f} %" for n, p in zip(names, precision) if np.isfinite(p))
                 + "; `calibrate_sigma` on more stars or on stars with more precise labels tightens it.")
    return [text, ""]


def resolve_data(data: str) -> str:
    """``auto`` → ``emulated:binspec_plus`` when that emulator's file is found, else ``synthetic``."""
    if data != "auto":
        return data
    from astrotorch.apogee.emulators import emulator_path
    from astrotorch.errors import ConfigError

    try:
        emulator_path("binspec_plus")
    except ConfigError:
        return "synthetic"
    return "emulated:binspec_plus"


def _split(ds: Any, n_train: int, n_test: int, n_visits: int) -> tuple[Any, Any, Any]:
    n = n_train + n_test
    visits = ds.select(np.flatnonzero(ds.visit_of >= n_train)) if n_visits > 0 else None
    return ds.select(np.arange(n_train)), ds.select(np.arange(n_train, n)), visits


def _generate(data: str, n: int, snr: float, seed: int, n_visits: int) -> tuple[Any, str]:
    """``n`` generated stars (``synthetic`` or ``emulated[:NAME]``) and a sentence on what made them."""
    from astrotorch.datasets.spectra import synthetic_spectra

    if data == "synthetic":
        return (synthetic_spectra(n, snr=snr, seed=seed, n_visits=n_visits),
                "synthetic APOGEE-like spectra (astrotorch.datasets.spectra, the library's line-list generator")
    from astrotorch.datasets.emulated import emulated_spectra

    if data != "emulated" and not data.startswith("emulated:"):
        raise InputValidationError(f"--data must be 'auto', 'emulated[:NAME]', 'synthetic' or an HDF5 file, got {data!r}")
    ds = emulated_spectra(n, emulator=data.split(":", 1)[1] if ":" in data else "binspec_plus", snr=snr, seed=seed,
                          n_visits=n_visits)
    return ds, (f"emulated APOGEE spectra (emulator `{ds.meta['emulator']}` trained on real APOGEE spectra, labels "
                "drawn from the real DR12 ASPCAP catalogue; astrotorch.datasets.emulated")


def _load_data(data: str, n_train: int, n_test: int, snr: float, seed: int, n_visits: int,
               test_fraction: float = 0.2) -> tuple[Any, Any, Any, str]:
    """(train set, test combined, test visits or None, description) for ``--data``: generated sets hold
    ``n_train`` + ``n_test`` stars; a file's combined spectra are split at random, ``test_fraction`` held
    out and at most ``n_train`` of the rest trained on."""
    from astrotorch.datasets.spectra import load_spectra_hdf5

    visit_snr = snr / np.sqrt(n_visits) if n_visits > 1 else snr / 2
    visit_txt = f", plus {n_visits} visit spectra per held-out star at S/N {visit_snr:.0f}" if n_visits else ""
    t0 = time.perf_counter()
    if data == "synthetic" or data.startswith("emulated"):
        ds, what = _generate(data, n_train + n_test, snr, seed, n_visits)
        train, test, visits = _split(ds, n_train, n_test, n_visits)
        desc = (f"{what}, seed {seed}): {n_train} training and {n_test} held-out stars at S/N {snr:g} per pixel"
                f"{visit_txt}; generated in {time.perf_counter() - t0:.1f} s")
        return train, test, visits, desc
    path = Path(data)
    if not path.is_file():
        raise InputValidationError(f"--data must be 'auto', 'emulated[:NAME]', 'synthetic' or an existing HDF5 file, got {data!r}")
    ds = load_spectra_hdf5(path)
    comb = np.flatnonzero(ds.visit_of < 0)
    rng = np.random.default_rng(seed)
    comb = rng.permutation(comb)
    n_test_eff = int(round(len(comb) * test_fraction))
    te, tr = comb[:n_test_eff], comb[n_test_eff:n_test_eff + n_train]
    if len(tr) < 2 or len(te) == 0:
        raise InputValidationError(f"{path} holds too few spectra ({len(comb)}) for a train/test split with "
                                   f"--test-fraction {test_fraction}")
    visits = ds.select(np.flatnonzero(np.isin(ds.visit_of, te))) if (ds.visit_of >= 0).any() else None
    layout = ds.meta.get("layout", "generator")
    desc = (f"HDF5 file `{path}` ({layout} layout): {len(tr)} training and {len(te)} held-out spectra "
            f"(random split, seed {seed})")
    return ds.select(tr), ds.select(te), visits, desc


def _bounds(ds: Any, names: list[str], prior_labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-star CRLB (and with a Gaussian prior fitted to ``prior_labels``) of the labels ``names``, for
    emulated data; None for other data. Columns of labels the emulator lacks are NaN."""
    name = ds.meta.get("emulator") if ds.meta.get("generator") == "emulated" else None
    if name is None or len(ds) == 0:
        return None
    from astrotorch.apogee.chips import dr12_pixels
    from astrotorch.apogee.emulators import load_emulator
    from astrotorch.datasets.emulated import flagged_pixels
    from astrotorch.uncertainty import crlb

    emu = load_emulator(name)
    idx = dr12_pixels(17)
    cols = ds.label_index(emu.label_names)
    prior = np.cov(prior_labels[:, cols].T) if prior_labels is not None and len(prior_labels) > len(cols) else None
    res = crlb(emu, ds.labels_true[:, cols], flux_err=ds.flux_err[:, idx], mask=flagged_pixels(ds.bitmask)[:, idx],
               prior=prior)
    out = np.full((len(ds), len(names)), np.nan)
    out_p = np.full_like(out, np.nan)
    for j, n in enumerate(names):
        if n in emu.label_names:
            out[:, j] = res.bound[:, emu.label_names.index(n)]
            if res.bound_prior is not None:
                out_p[:, j] = res.bound_prior[:, emu.label_names.index(n)]
    return out, out_p


def _predict(model: Any, ds: Any, cols: list[int], bayesian: bool) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray] | None]:
    if bayesian:
        pred, sig = model.predict(ds.flux, x_err=ds.flux_err)
        return pred, sig["total"], sig
    return model.predict(ds.flux), None, None


def train_spectra(
    model: Annotated[str, typer.Option(help="registered model: apogee_bcnn, apogee_cnn, apogee_bcnn_censored, starnet2017, mlp, knn, linear ...")] = "apogee_bcnn",
    data: Annotated[str, typer.Option(help="'auto' (emulated if the emulator file is found, else synthetic), 'emulated[:NAME]', 'synthetic', or an HDF5 file (generated or compiled layout)")] = "auto",
    n_train: Annotated[int, typer.Option(min=10, help="training spectra")] = 4000,
    n_test: Annotated[int, typer.Option(min=10, help="generated data: held-out stars for the report (files: "
                                                     "--test-fraction)")] = 500,
    snr: Annotated[float, typer.Option(help="generated data: per-pixel S/N of the combined spectra")] = 100.0,
    n_visits: Annotated[int, typer.Option(min=0, help="generated data: visit spectra per held-out star (lower S/N)")] = 1,
    labels: Annotated[str | None, typer.Option(help="comma-separated label names, or 'all' (default: teff,logg,Fe_H,Mg_Fe on emulated data, 12 labels otherwise)")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate (default: 0.003 for CNNs, a quick-converging choice; the model's own otherwise)")] = None,
    mc_num: Annotated[int, typer.Option(min=1, help="MC dropout samples for Bayesian predictions (astroNN uses 100)")] = 50,
    calibrate: Annotated[bool, typer.Option(help="Bayesian models: calibrate σ (never on the test split)")] = True,
    calibration_stars: Annotated[int | None, typer.Option(
        min=0, help="generated data, Bayesian models: calibrate σ after training on this many more generated stars "
                    "with exact labels (the generator's inputs) instead of the validation split's noisy catalogue "
                    "labels (default: 1000 on generated data; 0: the validation split)")] = None,
    threads: Annotated[int, typer.Option(min=0, help="CPU threads for torch (0: torch's default)")] = 0,
    epochs: O.Epochs = 40,
    batch_size: O.BatchSize = 64,
    seed: O.Seed = 0,
    test_fraction: O.TestFraction = 0.2,
    test_size: O.TestSizeAlias = None,
    accelerator: O.Accelerator = "auto",
    devices: O.Devices = "1",
    precision: O.Precision = "32-true",
    checkpoint_dir: O.CheckpointDir = None,
    resume: O.Resume = False,
    out: O.Out = Path("runs/spectra"),
    overwrite: O.Overwrite = False,
    quiet: O.Quiet = False,
    logger: O.Logger = O.LoggerKind.csv,
    no_baseline: O.NoBaseline = False,
) -> Path:
    """Train a spectral model on emulated, synthetic or HDF5 APOGEE spectra, evaluate on held-out stars
    (beside ridge and kNN baselines on the same split), write a run folder."""
    opts = O.TrainOptions(out=out, epochs=epochs, seed=seed, batch_size=batch_size, test_fraction=test_fraction,
                          test_size=test_size, accelerator=accelerator,
                          devices=devices, precision=precision, checkpoint_dir=checkpoint_dir, resume=resume,
                          overwrite=overwrite, quiet=quiet, logger=logger, baseline=not no_baseline)
    generated_data = data in ("auto", "synthetic", "emulated") or data.startswith("emulated:")
    opts.check(inputs=[] if generated_data else [data])  # --out is checked before any work: cli/exit_codes.py
    import torch

    import astrotorch.models.spectra  # noqa: F401  (registers the spectral models)
    from astrotorch.cli.training import say
    from astrotorch.models import get_model_class

    if threads > 0:
        torch.set_num_threads(threads)
    if n_train < 10 or n_test < 10:
        raise InputValidationError(f"n_train and n_test must be at least 10, got {n_train}, {n_test}")
    cls = get_model_class(model)
    if "spectra" in getattr(cls, "INPUT_KEYS", ()):
        raise InputValidationError(f"{model} needs parallaxes and magnitudes (dict input); use the Python API")
    n_cal = calibration_star_count(calibration_stars, generated_data, bool(cls.bayesian), calibrate, model)
    t_start = time.perf_counter()
    data = resolve_data(data)
    say(opts, f"loading {data} spectra")
    train, test, visits, data_desc = _load_data(data, n_train, n_test, snr, seed, n_visits, opts.test_fraction)
    generated = train.meta.get("generator") in ("synthetic", "emulated")
    cal_set = None
    if n_cal:  # another seed than the training and held-out stars
        say(opts, f"generating {n_cal} calibration stars with exact labels")
        cal_set = _generate(data, n_cal, snr, seed + 1, 0)[0]
    if labels is None:
        labels = EMULATED_LABELS if train.meta.get("generator") == "emulated" else DEFAULT_LABELS
    names = train.label_names if labels == ALL else [s.strip() for s in labels.split(",") if s.strip()]
    cols = train.label_index(names)

    kw: dict[str, Any] = dict(targetname=names, **opts.model_kwargs(cls))
    params = cls._param_names()
    if "mc_num" in params:
        kw["mc_num"] = mc_num
    if cls.bayesian:  # with calibration stars σ is calibrated on them after fit, not on the validation split
        kw["calibrate_uncertainty"] = calibrate and cal_set is None
    is_cnn = "num_filters" in params
    if lr is not None:
        kw["lr"] = lr
    elif is_cnn:
        kw["lr"] = 0.003
    if is_cnn or model == "mlp":  # the recipe of the published figures (bench/spectra_emulated.py)
        kw.update(early_stopping_patience=8, reduce_lr_patience=2)
    m = cls(**{k: v for k, v in kw.items() if k in params})
    return _run(m, model, data, train, test, visits, data_desc, names, cols, generated, opts, t_start, cal_set)


#: exactly labelled generated stars the σ of a Bayesian model is calibrated on by default (σ to ±2 %)
CALIBRATION_STARS = 1000


def calibration_star_count(n: int | None, generated: bool, bayesian: bool, calibrate: bool, model: str) -> int:
    """How many generated stars with exact labels σ is calibrated on (0: the validation split), checked
    before any work. On generated data the truth is known, so σ need not be pinned by noisy catalogue
    labels (which make each validation star count for little, see ``sigma_precision_``)."""
    if n is None:
        return CALIBRATION_STARS if generated and bayesian and calibrate else 0
    if n == 0:
        return 0
    if n < 10:
        raise InputValidationError(f"--calibration-stars must be 0 or at least 10, got {n}")
    if not generated:
        raise InputValidationError("--calibration-stars needs generated data (--data auto, emulated or synthetic): the "
                                   "stars of a file have no exact labels (calibrate_sigma in Python takes stars with precise labels)")
    if not (bayesian and calibrate):
        raise InputValidationError(f"--calibration-stars calibrates the σ of a Bayesian model, but {model} "
                                   + ("is not Bayesian" if not bayesian else "was asked not to (--no-calibrate)"))
    return int(n)


def _run(m: Any, model: str, data: str, train: Any, test: Any, visits: Any, data_desc: str, names: list[str],
         cols: list[int], generated: bool, opts: O.TrainOptions, t_start: float, cal_set: Any = None) -> Path:
    import torch

    from astrotorch.cli.training import fit_model, say
    from astrotorch.datasets.spectra import element_windows
    from astrotorch.plots import spectra as P
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import RunFolder, markdown_table

    bayesian = type(m).bayesian
    with RunFolder(opts.out, overwrite=opts.overwrite) as run:
        t_fit, notes = fit_model(m, opts, run.path, train.flux, train.labels[:, cols], x_err=train.flux_err,
                                 y_err=train.label_err[:, cols], what=f"{len(train)} spectra")
        calibrated_on = "the validation split (not the test set)"
        if cal_set is not None:
            say(opts, f"calibrating σ on the {len(cal_set)} calibration stars")
            m.calibrate_sigma(cal_set.flux, cal_set.labels_true[:, cols], x_err=cal_set.flux_err)
            calibrated_on = (f"{len(cal_set):,} more generated stars with exact labels (the generator's inputs; "
                             "neither training nor held-out stars)")
        say(opts, f"predicting {len(test)} held-out stars" + (f" and {len(visits)} visit spectra" if visits is not None else ""))
        t0 = time.perf_counter()
        pred, sig, sig_parts = _predict(m, test, cols, bayesian)
        t_pred = time.perf_counter() - t0
        # generated data: score against the noise-free truth; files: against the catalogue labels
        truth = test.labels_true[:, cols] if generated else test.labels[:, cols]
        t0 = time.perf_counter()
        prior_labels = train.labels_true if generated else None
        bnd = _bounds(test, names, prior_labels)
        table = P.metrics_table(truth, pred, sig, names, *(bnd or ()))
        vis_table = None
        if visits is not None and len(visits):
            vpred, vsig, _ = _predict(m, visits, cols, bayesian)
            vtruth = visits.labels_true[:, cols] if generated else visits.labels[:, cols]
            vis_table = P.metrics_table(vtruth, vpred, vsig, names, *(_bounds(visits, names, prior_labels) or ()))
        t_bound = time.perf_counter() - t0 if bnd is not None else None
        section, base_entry = ("", {})
        if opts.baseline:
            section, base_entry = _baselines(train, test, truth, cols, names, table, opts)

        m.save(run.path / "model")
        _write_predictions(run, m, test, pred, sig_parts, names, data_desc)
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
            wins = element_windows() if data == "synthetic" else None  # the generator's line windows
            show = [n for n in ("teff", "logg", "Fe_H", "Mg_H", "C_H", "N_H", "Al_H", "O_H") if n in names][:6]
            run.savefig(P.jacobian_plot(jac, test.wavelength, names, wins, labels=show or names[:6],
                                        title=f"{model}: mean jacobian of 32 held-out spectra"), "jacobian.png")
            figs.append(("Jacobian ∂label/∂flux" + (" with the generator's line windows of each element shaded" if wins else ""),
                         "jacobian.png"))
        metrics = {
            "model": model, "params": m.get_params(), "data": data_desc, "labels": names, "seed": opts.seed,
            "n_train": len(train), "n_test": len(test), "n_visits_test": 0 if visits is None else len(visits),
            "fit_seconds": t_fit, "predict_seconds": t_pred, "bound_seconds": t_bound,
            "epochs_run": 0 if m.history is None else len(m.history),
            "test": {r["label"]: {k: v for k, v in r.items() if k != "label"} for r in table.to_dict("records")},
            **base_entry,
        }
        if vis_table is not None:
            metrics["test_visits"] = {r["label"]: {k: v for k, v in r.items() if k != "label"} for r in vis_table.to_dict("records")}
        if getattr(m, "sigma_scale_", None) is not None:
            metrics["sigma_calibrated_on"] = calibrated_on
            metrics["sigma_scale"] = dict(zip(names, [float(s) for s in m.sigma_scale_]))
        if getattr(m, "sigma_precision_", None) is not None:
            metrics["sigma_precision"] = {n: float(p) for n, p in zip(names, m.sigma_precision_) if np.isfinite(p)}
        run.write_metrics(metrics)
        run.write_report(_report(model, m, data_desc, names, table, vis_table, figs, t_fit, t_pred,
                                 time.perf_counter() - t_start, markdown_table, section, notes, calibrated_on))
    out = Path(opts.out)
    typer.echo(f"run folder: {out}  (report: {out / 'report.md'})")
    return out


def _baselines(train: Any, test: Any, truth: np.ndarray, cols: list[int], names: list[str], table: Any,
               opts: O.TrainOptions) -> tuple[str, dict[str, Any]]:
    """Ridge regression and kNN on the same split, scored against the same truth as the network."""
    from astrotorch.cli.training import say
    from astrotorch.train.baselines import spectra_baselines
    from astrotorch.train.runs import baseline_comparison

    say(opts, "fitting the ridge and kNN baselines on the same split")
    base = spectra_baselines(train.flux, train.labels[:, cols], test.flux, truth, names=names, seed=opts.seed)
    network = {r["label"]: {"rmse": r["rmse"], "mad_std": r["mad_std"]} for r in table.to_dict("records")}
    return baseline_comparison(network, {b.name: b for b in base.values()}, ["rmse"], outputs=names)


def _write_predictions(run: Any, m: Any, test: Any, pred: np.ndarray, sig_parts: dict[str, np.ndarray] | None,
                       names: list[str], data_desc: str) -> None:
    """``predictions_test.csv``: the held-out stars' labels and σ (parts) with their ids — APOGEE_ID for
    files, the star's index in the generated set otherwise."""
    from astrotorch.cli.prediction_table import model_table, table_meta
    from astrotorch.cli.spectra_commands import label_unit
    from astrotorch.cli.training import write_predictions_test

    if "apogee_id" in test.meta:
        ids, id_name = np.asarray(test.meta["apogee_id"]), "APOGEE_ID"
    else:
        ids, id_name = np.arange(len(test)), "row"  # the held-out star's row in the test set
    outputs = {"values": pred, "sigma": sig_parts}
    table, units = model_table(m, outputs, ids, id_name, units={n: label_unit(n) for n in names})
    write_predictions_test(run, table, units, table_meta(m, data=data_desc))


def _report(model: str, m: Any, data_desc: str, names: list[str], table: Any, vis_table: Any,
            figs: list[tuple[str, str]], t_fit: float, t_pred: float, t_total: float, markdown_table: Any,
            baseline_section: str = "", notes: list[str] | None = None,
            calibrated_on: str = "the validation split (not the test set)") -> str:
    cols = ["label", "n", "median", "mad_std", "rmse"]
    if "bound_rms" in table:
        cols += ["bound_rms", "rmse_over_bound", "bound_prior_rms", "rmse_over_bound_prior"]
    cols += ["median_sigma", "z_std", "coverage_68"] if "z_std" in table else []
    lines = [f"# Stellar labels from spectra: `{model}`", ""]
    lines += ["## Data", "", data_desc + ".", ""]
    params = {k: v for k, v in m.get_params().items() if k in (
        "max_epochs", "batch_size", "lr", "l2", "dropout_rate", "num_filters", "filter_len", "pool_length",
        "num_hidden", "mc_num", "input_norm_mode", "labels_norm_mode", "calibrate_uncertainty")}
    n_ep = 0 if m.history is None else len(m.history)
    lines += ["## Model", "", f"`{type(m).__name__}` (registered as `{model}`), trained {n_ep} epochs in {t_fit:.0f} s; "
              f"prediction of the held-out set {t_pred:.0f} s; whole run {t_total:.0f} s.", "",
              "Hyper-parameters: " + ", ".join(f"`{k}={v}`" for k, v in params.items()) + ".", ""]
    lines += calibration_lines(m, names, calibrated_on)
    lines += ["## Held-out metrics (combined spectra)", "",
              "Residual = prediction − truth, in label units (Teff in K, others in dex). `mad_std` is the robust "
              "scatter; `z_std` is the standard deviation of residual/σ_total (1 = calibrated) and `coverage_68` "
              "the fraction within ±1σ (0.683 expected).", "",
              markdown_table([{c: r.get(c) for c in cols} for r in table.to_dict("records")]), ""]
    if "bound_rms" in table:
        lines += ["`bound_rms` is the Cramér–Rao bound of each label (`astrotorch.uncertainty.crlb` through the "
                  "emulator that made the spectra, per held-out star over its unflagged pixels, RMS over the stars): "
                  "no unbiased estimator can reach a lower RMSE. `bound_prior_rms` adds a Gaussian prior fitted to the "
                  "training labels (the Bayesian bound). `rmse_over_bound` = RMSE ÷ bound (1 = optimal).", ""]
    if vis_table is not None:
        lines += ["## Held-out metrics (lower-S/N visit spectra of the same stars)", "",
                  markdown_table([{c: r.get(c) for c in cols} for r in vis_table.to_dict("records")]), ""]
    if "z_std" in table:
        z = table.set_index("label")["z_std"]
        lines += ["## Calibration", "",
                  "Standard deviation of z-scores per label: " + ", ".join(f"{k} {v:.2f}" for k, v in z.items()) + "."
                  + (" All within 0.85–1.15." if ((z > 0.85) & (z < 1.15)).all() else
                     " Labels outside 0.85–1.15: " + ", ".join(k for k, v in z.items() if not 0.85 < v < 1.15) + "."), ""]
    if baseline_section:
        lines += [baseline_section, ""]
    lines += [f"Note: {n}." for n in notes or []]
    lines += ["## Figures", ""]
    lines += [f"**{cap}**\n\n![{cap}](plots/{f})\n" for cap, f in figs]
    lines += ["## Files", "", "`model/` saved model (load with `astrotorch.models.load_folder`), `metrics.json`, "
              "`metrics.csv`/`metrics.md`" + (", `metrics_visits.*`" if vis_table is not None else "") +
              ", `predictions_test.csv` (the held-out stars' labels and σ), `plots/`.", ""]
    return "\n".join(lines)


__all__ = ["train_spectra", "DEFAULT_LABELS"]
