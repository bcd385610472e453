"""Acceptance benchmark of issue 15: spectral models on emulated APOGEE spectra, beside the Cramér–Rao bound.

One emulated set (binspec++ emulator, DR12 ASPCAP label distribution, fixed seed): ``--n-train`` training
stars at S/N ``--snr`` and ``--n-test`` held-out stars with one visit each at ``--visit-snr``. Every model
trains on the catalogue labels (truth + catalogue noise, 5 % missing) with their errors and is scored on
the held-out stars against the true labels; each label's RMSE is shown beside its bound (the RMS over
stars of the per-star CRLB, with and without a Gaussian prior fitted to the training labels) and their
ratio. Hyper-parameters: the CNNs use lr 0.003 with ReduceLROnPlateau and early stopping on the models'
own validation split (10 % of the training stars); nothing is chosen on the test stars.

Stages (run separately, results cached under ``--cache``; ``--report`` merges them)::

    python -m bench.spectra_emulated --stage data                 # generate + cache the set, the bounds
    python -m bench.spectra_emulated --stage models --models linear,knn,mlp
    python -m bench.spectra_emulated --stage models --models bcnn --epochs 40 --save-models
    python -m bench.spectra_emulated --stage recalibrate            # the saved BCNN's σ calibration, refitted
    python -m bench.spectra_emulated --stage recalibrate --calib-extra 40000  # ... on 40,000 more catalogue stars
    python -m bench.spectra_emulated --stage recalibrate --calib-exact 10000  # ... on 10,000 exactly labelled stars
    python -m bench.spectra_emulated --stage fitter               # fit_spectrum on the held-out stars
    python -m bench.spectra_emulated --stage curve --sizes 2500,5000,10000,20000 --epochs 20
    python -m bench.spectra_emulated --stage cross                # binspec++-trained model on binspec spectra
    python -m bench.spectra_emulated --stage real                 # the real APOGEE files, model and fitter
    python -m bench.spectra_emulated --report

Only the public API is used. Results: ``<cache>/results/*.json`` and ``<cache>/results/summary.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ["teff", "logg", "Fe_H", "Mg_Fe"]
MODEL_NAMES = {"linear": "linear", "ridge": "linear", "knn": "knn", "mlp": "mlp", "cnn": "apogee_cnn", "bcnn": "apogee_bcnn",
               "starnet": "starnet2017"}
_ARRAYS = ("flux", "flux_err", "labels", "label_err", "labels_true", "snr", "visit_of")


# ------------------------------------------------------------------------------------------ data
def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.cache) / f"data_{args.n_train}_{args.n_test}_{args.seed}_{args.snr:g}_{args.visit_snr:g}"


def make_data(args: argparse.Namespace) -> None:
    """Generate the training and held-out sets, their flagged pixels and the per-star bounds; cache them."""
    from astrotorch.apogee import dr12_pixels, load_emulator
    from astrotorch.datasets.emulated import emulated_spectra, flagged_pixels
    from astrotorch.uncertainty import crlb

    out = _data_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    emu = load_emulator("binspec_plus")
    timing = {}
    for part, n, seed, visits in (("train", args.n_train, args.seed, 0), ("test", args.n_test, args.seed + 1, 1)):
        t0 = time.perf_counter()
        ds = emulated_spectra(n, emulator=emu, snr=args.snr, seed=seed, n_visits=visits,
                              visit_snr=args.visit_snr if visits else None)
        timing[part] = time.perf_counter() - t0
        for name in _ARRAYS:
            np.save(out / f"{part}_{name}.npy", getattr(ds, name))
        if part == "test":
            np.save(out / "test_flagged.npy", flagged_pixels(ds.bitmask))
        else:
            prior_cov = np.cov(ds.labels_true.T)  # the label distribution the models learn from
        del ds
    flagged = np.load(out / "test_flagged.npy")
    err = np.load(out / "test_flux_err.npy", mmap_mode="r")
    truth = np.load(out / "test_labels_true.npy")
    idx = dr12_pixels(17)
    t0 = time.perf_counter()
    b = crlb(emu, truth, flux_err=np.asarray(err[:, idx]), mask=flagged[:, idx], prior=prior_cov)
    timing["crlb"] = time.perf_counter() - t0
    np.save(out / "test_bound.npy", b.bound)
    np.save(out / "test_bound_prior.npy", b.bound_prior)
    np.save(out / "prior_cov.npy", prior_cov)
    (out / "meta.json").write_text(json.dumps({"label_names": emu.label_names, "seconds": timing}, indent=1))
    print(f"data in {out}: {timing}", flush=True)


def make_train_visits(args: argparse.Namespace) -> None:
    """A lower-S/N copy of every training star (S/N log-uniform in 30–100: not the test visits' 50), with the
    star's own catalogue labels — the way real APOGEE data come (visits beside the combined spectrum)."""
    from astrotorch.apogee import load_emulator
    from astrotorch.datasets.emulated import emulated_spectra

    d = _data_dir(args)
    train = load_part(args, "train")
    ds = emulated_spectra(args.n_train, emulator=load_emulator("binspec_plus"), snr=(30.0, 100.0), seed=args.seed + 2,
                          label_source=np.asarray(train["labels_true"]), label_noise=False, missing_label_frac=0.0)
    ds.labels, ds.label_err = np.asarray(train["labels"]), np.asarray(train["label_err"])
    ds.visit_of = np.arange(args.n_train, dtype=np.int64)
    for name in _ARRAYS:
        np.save(d / f"trainvis_{name}.npy", getattr(ds, name))
    print(f"training visit copies in {d}", flush=True)


def load_part(args: argparse.Namespace, part: str) -> dict[str, np.ndarray]:
    d = _data_dir(args)
    if not (d / "meta.json").is_file():
        raise SystemExit(f"no cached data in {d}: run --stage data first")
    return {name: np.load(d / f"{part}_{name}.npy", mmap_mode="r") for name in _ARRAYS}


def _rows(part: dict[str, np.ndarray], visits: bool) -> np.ndarray:
    return np.flatnonzero((part["visit_of"] >= 0) if visits else (part["visit_of"] < 0))


# ------------------------------------------------------------------------------------------ scoring
def score(pred: np.ndarray, sigma: np.ndarray | None, truth: np.ndarray, bound: np.ndarray,
          bound_prior: np.ndarray) -> dict[str, Any]:
    """Per-label metrics (astrotorch.plots.spectra.metrics_table) with the bound and the ratio."""
    from astrotorch.plots.spectra import metrics_table

    table = metrics_table(truth, pred, sigma, LABELS, bound=bound, bound_prior=bound_prior)
    return {r["label"]: {k: v for k, v in r.items() if k != "label"} for r in table.to_dict("records")}


def _bounds(args: argparse.Namespace, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = _data_dir(args)
    return np.load(d / "test_bound.npy")[rows, :4], np.load(d / "test_bound_prior.npy")[rows, :4]


def _result_key(key: str, n: int, args: argparse.Namespace) -> str:
    """Results are kept per model and number of training stars (``bcnn_80000``), so that runs on sets of
    different sizes (same held-out stars) sit side by side."""
    return f"{key}_{n}" + ("_trainvisits" if args.train_visits else "") + ("_truelabels" if args.true_labels else "")


def _write(args: argparse.Namespace, key: str, res: dict[str, Any]) -> None:
    from astrotorch.train.runs import to_jsonable

    out = Path(args.cache) / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{key}.json").write_text(json.dumps(to_jsonable(res), indent=1) + "\n")


def build(key: str, args: argparse.Namespace, x: np.ndarray, y: np.ndarray) -> Any:
    """The model ``key`` as the bench trains it; ``ridge`` picks its penalty on the training rows ``x, y``
    (``astrotorch.train.baselines.ridge_alpha``, as the CLI's baseline does), ``linear`` keeps alpha 1."""
    from astrotorch.models import create_model

    common: dict[str, Any] = dict(seed=args.seed, targetname=LABELS)
    if key in ("linear", "knn"):
        return create_model(MODEL_NAMES[key], **common)
    if key == "ridge":
        from astrotorch.train.baselines import ridge_alpha

        return create_model("linear", alpha=ridge_alpha(x, y, seed=args.seed, names=LABELS), **common)
    if key == "mlp":
        return create_model("mlp", max_epochs=args.epochs, early_stopping_patience=args.patience, **common)
    if key in ("cnn", "bcnn"):
        kw = dict(max_epochs=args.epochs, lr=0.003, early_stopping_patience=args.patience, reduce_lr_patience=2, **common)
        if key == "bcnn":
            kw.update(mc_num=args.mc_num, calibrate_uncertainty=True)
        return create_model(MODEL_NAMES[key], **kw)
    if key == "starnet":  # the published training recipe (lr 0.0007, patience 4), more epochs allowed
        return create_model("starnet2017", max_epochs=args.epochs, **common)
    raise SystemExit(f"unknown model {key!r}; choose from {sorted(MODEL_NAMES)}")


def _predict(model: Any, x: np.ndarray, x_err: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if model.bayesian:
        pred, sig = model.predict(x, x_err=x_err)
        return pred, sig["total"]
    return model.predict(x), None


def _training_arrays(args: argparse.Namespace, n: int) -> tuple[np.ndarray, ...]:
    train = load_part(args, "train")
    parts = [train] + ([load_part(args, "trainvis")] if args.train_visits else [])
    ykey = "labels_true" if args.true_labels else "labels"
    cat = [np.concatenate([np.asarray(p[k][:n]) for p in parts]) for k in ("flux", ykey, "flux_err", "label_err")]
    y_err = np.zeros_like(cat[3][:, :4]) if args.true_labels else cat[3][:, :4]  # exact labels: no label noise
    return cat[0], cat[1][:, :4], cat[2], y_err


def _score_held_out(args: argparse.Namespace, model: Any, test: dict[str, np.ndarray]) -> dict[str, Any]:
    """The model's metrics on the held-out combined spectra and visits, and its prediction seconds."""
    res: dict[str, Any] = {}
    for split, visits in (("test", False), ("test_visits", True)):
        rows = _rows(test, visits)
        t0 = time.perf_counter()
        pred, sig = _predict(model, np.asarray(test["flux"][rows]), np.asarray(test["flux_err"][rows]))
        res[f"{split}_predict_seconds"] = time.perf_counter() - t0
        res[split] = score(pred, sig, np.asarray(test["labels_true"][rows, :4]), *_bounds(args, rows))
    return res


def run_models(args: argparse.Namespace, keys: list[str]) -> None:
    test = load_part(args, "test")
    for key in keys:
        n = args.n_fit or args.n_train
        x, y, x_err, y_err = _training_arrays(args, n)
        t0 = time.perf_counter()
        model = build(key, args, x, y)  # the ridge penalty's choice counts as fitting time
        model.fit(x, y, x_err=x_err, y_err=y_err)
        del x, y, x_err, y_err
        t_fit = time.perf_counter() - t0
        if args.save_models:
            model.save(Path(args.cache) / "models" / f"{key}_{n}{'_visits' if args.train_visits else ''}", overwrite=True)
        suffix = ("_visits" if args.train_visits else "") + ("_truelabels" if args.true_labels else "")
        name = f"ridge (alpha {model.alpha:g}, chosen on the training rows)" if key == "ridge" else MODEL_NAMES[key]
        res: dict[str, Any] = {"model": name + suffix, "n_train": n, "train_visits": args.train_visits,
                               "alpha": getattr(model, "alpha", None),
                               "fit_seconds": t_fit,
                               "epochs_run": None if model.history is None else int(len(model.history))}
        res.update(_score_held_out(args, model, test))
        _write(args, _result_key(key, n, args), res)
        print(f"{key}: fit {t_fit:.0f} s, " + ", ".join(
            f"{nm} rmse {res['test'][nm]['rmse']:.4g} ({res['test'][nm]['rmse_over_bound']:.2f}x)" for nm in LABELS), flush=True)


def run_recalibrate(args: argparse.Namespace) -> None:
    """Refit the saved BCNN's σ calibration (``calibrate_sigma``, the estimator ``fit`` uses) and re-score it:
    no retraining. By default on the same validation stars ``fit`` held out, with the current code;
    ``--calib-extra N`` adds N more catalogue-labelled stars; ``--calib-exact N`` calibrates on N emulated
    stars whose labels are exact (the emulator's inputs) instead of the validation stars."""
    from astrotorch.apogee import load_emulator
    from astrotorch.datasets.emulated import emulated_spectra
    from astrotorch.models import load_folder

    if args.calib_extra and args.calib_exact:
        raise SystemExit("--calib-extra and --calib-exact are two different calibrations; give one")
    n = args.n_fit or args.n_train
    key = f"bcnn_{n}" + ("_visits" if args.train_visits else "")
    model = load_folder(Path(args.cache) / "models" / key)
    if args.calib_exact:
        # stars no model trained on (seed + 4: neither the training, held-out, visit nor extra stars), drawn
        # like the training set, labelled by the values the emulator was given: no catalogue noise, none missing
        ds = emulated_spectra(args.calib_exact, emulator=load_emulator("binspec_plus"), snr=args.snr,
                              seed=args.seed + 4, label_noise=False, missing_label_frac=0.0)
        x, y, x_err, y_err = ds.flux, ds.labels[:, :4], ds.flux_err, None
        del ds
    else:
        x, y, x_err, y_err = _training_arrays(args, n)
        val = np.sort(model.validation_indices(len(x)))
        x, y, x_err, y_err = x[val], y[val], x_err[val], y_err[val]
    if args.calib_extra:
        # more catalogue-labelled stars that no model trained on (seed + 3: neither the training stars,
        # the held-out stars nor the training visits), drawn like the training set
        ds = emulated_spectra(args.calib_extra, emulator=load_emulator("binspec_plus"), snr=args.snr, seed=args.seed + 3)
        x, y = np.concatenate([x, ds.flux]), np.concatenate([y, ds.labels[:, :4]])
        x_err, y_err = np.concatenate([x_err, ds.flux_err]), np.concatenate([y_err, ds.label_err[:, :4]])
        del ds
    t0 = time.perf_counter()
    model.calibrate_sigma(x, y, x_err=x_err, y_err=y_err)
    t_cal = time.perf_counter() - t0
    del x, y, x_err, y_err
    variant = "_calextra" if args.calib_extra else "_calexact" if args.calib_exact else ""
    suffix = f"{variant}{args.calib_extra or args.calib_exact}" if variant else ""
    model.save(Path(args.cache) / "models" / (key + suffix), overwrite=True)
    name = _result_key("bcnn", n, args) + variant
    path = Path(args.cache) / "results" / f"{name}.json"
    res = json.loads(path.read_text()) if path.is_file() else {"model": MODEL_NAMES["bcnn"], "n_train": n}
    res.update({k: v for k, v in _score_held_out(args, model, load_part(args, "test")).items()
                if not k.endswith("_predict_seconds")})
    res.update(recalibrated=True, recalibrate_seconds=t_cal, calibration_extra_stars=args.calib_extra,
               calibration_exact_stars=args.calib_exact,
               calibration={k: getattr(model, k + "_") for k in ("sigma_scale", "propagated_scale", "sigma_floor",
                                                                  "noise_power", "noise_power_high", "noise_break",
                                                                  "noise_reference", "sigma_precision")})
    if args.calib_extra:
        res["model"] = f"{MODEL_NAMES['bcnn']}, σ calibrated on {args.calib_extra:,} more catalogue stars"
    if args.calib_exact:
        res["model"] = f"{MODEL_NAMES['bcnn']}, σ calibrated on {args.calib_exact:,} exactly labelled emulated stars"
    _write(args, name, res)
    print(f"{key} recalibrated in {t_cal:.0f} s: " + ", ".join(
        f"{nm} z std {res['test'][nm]['z_std']:.3f} / visits {res['test_visits'][nm]['z_std']:.3f}" for nm in LABELS))


def run_fitter(args: argparse.Namespace) -> None:
    from astrotorch.apogee import fit_spectrum, load_emulator

    test = load_part(args, "test")
    flagged = np.load(_data_dir(args) / "test_flagged.npy", mmap_mode="r")
    emu = load_emulator("binspec_plus")
    res: dict[str, Any] = {"model": "fit_spectrum (binspec++)"}
    for split, visits in (("test", False), ("test_visits", True)):
        rows = _rows(test, visits)
        t0 = time.perf_counter()
        fit = fit_spectrum(emu, np.asarray(test["flux"][rows]), np.asarray(test["flux_err"][rows]),
                           mask=np.asarray(flagged[rows]))
        res[f"{split}_predict_seconds"] = time.perf_counter() - t0
        res[f"{split}_converged"] = float(fit.converged.mean())
        res[f"{split}_median_reduced_chi2"] = float(np.nanmedian(fit.reduced_chi2))
        res[split] = score(fit.labels[:, :4], fit.sigma[:, :4], np.asarray(test["labels_true"][rows, :4]),
                           *_bounds(args, rows))
    _write(args, "fitter", res)
    print("fitter: " + ", ".join(f"{nm} rmse {res['test'][nm]['rmse']:.4g} ({res['test'][nm]['rmse_over_bound']:.2f}x)"
                                 for nm in LABELS), flush=True)


def run_curve(args: argparse.Namespace) -> None:
    """ApogeeBCNN error against the number of training stars (same held-out stars, same epoch budget)."""
    for size in [int(s) for s in args.sizes.split(",")]:
        args.n_fit = size
        run_models(args, ["bcnn"])
    args.n_fit = None


def run_cross(args: argparse.Namespace) -> None:
    """A network trained on binspec++ spectra applied to binspec (dwarf) spectra of the same labels.

    Labels: uniform in the overlap of the two emulators' boxes (dwarfs); the same true labels are
    rendered by both emulators, so the difference of the biases is the emulators', not the network's.
    The fitter (binspec++) is run on the binspec spectra too.
    """
    from astrotorch.apogee import fit_spectrum, load_emulator
    from astrotorch.datasets.emulated import emulated_spectra, flagged_pixels

    plus, dwarf = load_emulator("binspec_plus"), load_emulator("binspec")
    box = {n: (max(plus.x_min[j], dwarf.x_min[j]), min(plus.x_max[j], dwarf.x_max[j])) for j, n in enumerate(LABELS)}
    train = emulated_spectra(args.n_cross, emulator=plus, seed=args.seed + 10, label_source="box", label_box=box)
    test_plus = emulated_spectra(args.n_test, emulator=plus, seed=args.seed + 11, label_source="box", label_box=box,
                                 n_visits=0)
    truth = test_plus.labels_true
    test_dwarf = emulated_spectra(args.n_test, emulator=dwarf, seed=args.seed + 11, label_source=truth)
    model = build(args.cross_model, args, train.flux, train.labels[:, :4])
    t0 = time.perf_counter()
    model.fit(train.flux, train.labels[:, :4], x_err=train.flux_err, y_err=train.label_err[:, :4])
    res: dict[str, Any] = {"model": MODEL_NAMES[args.cross_model], "n_train": args.n_cross, "box": box,
                           "fit_seconds": time.perf_counter() - t0}
    for name, ds in (("binspec_plus", test_plus), ("binspec", test_dwarf)):
        pred, _ = _predict(model, ds.flux, ds.flux_err)
        fit = fit_spectrum(plus, ds.flux, ds.flux_err, mask=flagged_pixels(ds.bitmask))
        r = {}
        for label, est in (("network", pred), ("fitter", fit.labels[:, :4])):
            d = est - truth[:, :4]
            r[label] = {nm: {"bias": float(np.median(d[:, j])), "rmse": float(np.sqrt(np.mean(d[:, j] ** 2)))}
                        for j, nm in enumerate(LABELS)}
        r["fitter_median_reduced_chi2"] = float(np.median(fit.reduced_chi2))
        res[name] = r
    _write(args, "cross", res)
    print(json.dumps(res, indent=1, default=str), flush=True)


def run_real(args: argparse.Namespace) -> None:
    """The real APOGEE files through ``predict spectra`` (the saved BCNN) and ``fit spectra`` (binspec++)."""
    from astrotorch.cli.spectra_commands import fit_spectra, predict_spectra
    from astrotorch.config import get_config

    data = get_config().shared_data
    files = [str(data / "apogee" / "ap*.fits"), str(data / "apogee_emulators" / "payne_zero_dr14_example_spectrum.npz")]
    out = Path(args.cache) / "real"
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {}
    model = Path(args.cache) / "models" / f"bcnn_{args.n_train}"
    if model.is_dir():
        t0 = time.perf_counter()
        p = predict_spectra(model, files, out=out / "predict.csv", overwrite=True)
        res["predict_seconds"] = time.perf_counter() - t0
        res["predict"] = _table_rows(p)
    t0 = time.perf_counter()
    p = fit_spectra("binspec_plus", files, out=out / "fit.csv", overwrite=True)
    res["fit_seconds"] = time.perf_counter() - t0
    res["fit"] = _table_rows(p)
    _write(args, "real", res)
    print(json.dumps(res, indent=1, default=str))


def _table_rows(path: Path) -> list[dict[str, Any]]:
    from astropy.table import Table

    t = Table.read(path, format="ascii.ecsv")
    return [{c: (r[c].item() if hasattr(r[c], "item") else r[c]) for c in t.colnames if c != "file"} for r in t]


# ------------------------------------------------------------------------------------------ report
def report(args: argparse.Namespace) -> str:
    out = Path(args.cache) / "results"
    every = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    n = args.n_fit or args.n_train
    # the acceptance table: every model at this training-set size (a model not run at it: its largest run)
    res: dict[str, Any] = {}
    variants = ("_trainvisits", "_truelabels", "_calextra", "_calexact")
    for k in ("linear", "ridge", "knn", "mlp", "mlp_truelabels", "cnn", "starnet", "bcnn", "bcnn_trainvisits",
              "bcnn_calextra", "bcnn_calexact"):
        base, _, tail = k.partition("_")
        runs = {int(v["n_train"]): v for kk, v in every.items() if kk.partition("_")[0] == base
                and (kk.endswith("_" + tail) if tail else not kk.endswith(variants))}
        if runs:
            res[k] = runs.get(n, runs[max(runs)])
            if res[k]["n_train"] != n:
                res[k] = dict(res[k], model=f"{res[k]['model']} (n_train {res[k]['n_train']})")
    if "fitter" in every:
        res["fitter"] = every["fitter"]
    order = list(res)
    lines = []
    for split, title in (("test", f"combined spectra, S/N {args.snr:g}"), ("test_visits", f"visits, S/N {args.visit_snr:g}")):
        lines += [f"### Held-out {title}: RMSE / mad_std, and RMSE ÷ RMS CRLB", "",
                  "| model | " + " | ".join(f"{n} RMSE | {n} mad_std | {n} ratio" for n in LABELS) + " |",
                  "|---" * (1 + 3 * len(LABELS)) + "|"]
        for k in order:
            m = res[k][split]
            lines.append(f"| {res[k]['model']} | " + " | ".join(
                f"{m[n]['rmse']:.4g} | {m[n]['mad_std']:.4g} | {m[n]['rmse_over_bound']:.2f}" for n in LABELS) + " |")
        any_m = res[order[0]][split] if order else None
        if any_m:
            lines.append("| *CRLB (RMS over stars)* | " + " | ".join(f"{any_m[n]['bound_rms']:.4g} | | " for n in LABELS) + " |")
            lines.append("| *Bayesian bound (CRLB + prior)* | " + " | ".join(
                f"{any_m[n]['bound_prior_rms']:.4g} | | " for n in LABELS) + " |")
        lines.append("")
    checks = []
    if "bcnn" in res:
        b = res["bcnn"]
        for base in ("linear", "ridge", "knn", "mlp"):
            if base in res:
                ok = all(b["test"][n]["rmse"] < res[base]["test"][n]["rmse"] for n in ("teff", "logg", "Fe_H"))
                checks.append(f"- BCNN beats {base} on Teff, log g, [Fe/H]: {'PASS' if ok else 'FAIL'}")
        r = b["test"]["logg"]["rmse"] / b["test"]["logg"]["bound_prior_rms"]
        checks.append(f"- BCNN log g RMSE / Bayesian bound at S/N {args.snr:g}: {r:.2f} (≤ 2: {'PASS' if r <= 2 else 'FAIL'})")
        for k, how in (("bcnn", "validation split"), ("bcnn_calextra", "validation split + more catalogue stars"),
                       ("bcnn_calexact", "emulated stars with exact labels")):
            for split in ("test", "test_visits") if k in res else ():
                zs = {n: res[k][split][n]["z_std"] for n in LABELS}
                cv = {n: res[k][split][n]["coverage_68"] for n in LABELS}
                ok = all(0.9 <= zs[n] <= 1.1 and 0.63 <= cv[n] <= 0.73 for n in LABELS)
                checks.append(f"- BCNN calibration, {how} ({split}): z std " + ", ".join(f"{n} {v:.2f}" for n, v in zs.items())
                              + "; 68 % coverage " + ", ".join(f"{n} {v:.2f}" for n, v in cv.items())
                              + f": {'PASS' if ok else 'FAIL'}")
    if "fitter" in res:
        r = res["fitter"]["test"]["logg"]["rmse_over_bound"]
        checks.append(f"- fitter log g RMSE / CRLB: {r:.2f} (≤ 1.2: {'PASS' if r <= 1.2 else 'FAIL'})")
    curve = sorted((v["n_train"], v) for k, v in every.items()
                   if k.startswith("bcnn_") and not k.endswith(variants))
    if curve:
        lines += ["### ApogeeBCNN learning curve (held-out combined spectra)", "",
                  "| n_train | epochs | " + " | ".join(f"{n} RMSE (ratio)" for n in LABELS) + " |", "|---" * (2 + len(LABELS)) + "|"]
        for n, v in curve:
            lines.append(f"| {n} | {v['epochs_run']} | " + " | ".join(
                f"{v['test'][x]['rmse']:.4g} ({v['test'][x]['rmse_over_bound']:.2f})" for x in LABELS) + " |")
        lines.append("")
    text = "\n".join(lines) + "\n" + "\n".join(checks) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=["data", "train-visits", "models", "recalibrate", "fitter", "curve", "cross", "real"], default=None)
    p.add_argument("--models", default="linear,knn,mlp,cnn,starnet,bcnn")
    p.add_argument("--n-train", type=int, default=20_000)
    p.add_argument("--n-test", type=int, default=2_000)
    p.add_argument("--n-fit", type=int, default=None, help="train on the first N training stars only")
    p.add_argument("--snr", type=float, default=100.0)
    p.add_argument("--visit-snr", type=float, default=50.0)
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--mc-num", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sizes", default="2500,5000,10000,20000")
    p.add_argument("--n-cross", type=int, default=10_000)
    p.add_argument("--cross-model", default="mlp")
    p.add_argument("--save-models", action="store_true")
    p.add_argument("--true-labels", action="store_true",
                   help="train on the noise-free labels (a diagnosis of the catalogue-noise limit, not a survey setting)")
    p.add_argument("--train-visits", action="store_true",
                   help="also train on a lower-S/N copy of every training star (--stage train-visits makes them)")
    p.add_argument("--calib-extra", type=int, default=0,
                   help="recalibrate: calibrate σ on the validation stars and this many more catalogue-labelled stars")
    p.add_argument("--calib-exact", type=int, default=0,
                   help="recalibrate: calibrate σ on this many emulated stars with exact labels (not the validation stars)")
    p.add_argument("--cache", default=".bench_cache/spectra_emulated")
    p.add_argument("--report", action="store_true")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.stage == "data":
        make_data(args)
    elif args.stage == "train-visits":
        make_train_visits(args)
    elif args.stage == "models":
        run_models(args, [k.strip() for k in args.models.split(",") if k.strip()])
    elif args.stage == "recalibrate":
        run_recalibrate(args)
    elif args.stage == "fitter":
        run_fitter(args)
    elif args.stage == "curve":
        run_curve(args)
    elif args.stage == "cross":
        run_cross(args)
    elif args.stage == "real":
        run_real(args)
    if args.report or args.stage is None:
        print(report(args))


if __name__ == "__main__":
    main()
