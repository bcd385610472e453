"""Acceptance benchmark for the spectral models (issue 3).

One synthetic APOGEE-like set (fixed seed, S/N 100 combined spectra) with ≥ 10k training stars; the
five models linear, kNN, MLP, ApogeeCNN and ApogeeBCNN are trained on the same stars and scored on the
same held-out stars against the noise-free truth. Reported: RMSE / mad_std of Teff, log g, [Fe/H] for
all models; the checks

* BCNN log g RMSE ≤ MLP log g RMSE / 3;
* ordering of log g RMSE: linear > kNN > MLP > BCNN (BCNN best);
* calibration: std((prediction − truth)/σ_total) in 0.85–1.15 for Teff, log g, [Fe/H], on the held-out
  combined spectra and on low-S/N visit spectra of the same stars (σ_total includes the propagated
  input-error term, computed from the visit's flux errors; the σ calibration — per-label factors for the
  MC + variance-head and the propagated terms and a model-error floor — is fitted on the validation
  split inside ``fit``, never on the test stars).

The CNNs train with lr 0.003, ReduceLROnPlateau and early stopping (``--patience``, default 10) up to
``--epochs``. ``--save-models`` keeps each fitted model under ``--out``; ``--recalibrate`` refits only the
BCNN's σ calibration of such a saved model (same validation split) and re-scores it. Results of
2026-11-24 and the Cramér–Rao bounds (``bench/spectra_crlb.py``) are in docs/results/spectra.md.

Usage (results land in ``--out`` as JSON and markdown, appended model by model)::

    nice python -m bench.spectra_acceptance --models bcnn --out bench/results/spectra_acceptance
    nice python -m bench.spectra_acceptance --models linear,knn,mlp,cnn --out bench/results/spectra_acceptance

Run the two commands in parallel on a 2-core machine; ``--report`` merges the JSON files into the
markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ["teff", "logg", "M_H", "alpha_M", "Fe_H", "C_H", "N_H", "O_H", "Mg_H", "Si_H", "Ca_H", "Al_H"]
REPORTED = ["teff", "logg", "Fe_H"]
MODEL_NAMES = {"linear": "linear", "knn": "knn", "mlp": "mlp", "cnn": "apogee_cnn", "bcnn": "apogee_bcnn"}


def make_data(n_train: int, n_test: int, seed: int, snr: float, visit_snr: float) -> tuple[Any, Any, Any]:
    """Train / held-out combined / held-out visit spectra from one generator call (same stars)."""
    from astrotorch.datasets.spectra import synthetic_spectra

    ds = synthetic_spectra(n_train + n_test, snr=snr, seed=seed, n_visits=1, visit_snr=visit_snr)
    n = n_train + n_test
    return (ds.select(np.arange(n_train)), ds.select(np.arange(n_train, n)),
            ds.select(np.flatnonzero(ds.visit_of >= n_train)))


def build(key: str, epochs: int, seed: int, mc_num: int, patience: int = 10, dropout: float | None = None) -> Any:
    import astrotorch.models.spectra  # noqa: F401
    from astrotorch.models import create_model

    common: dict[str, Any] = dict(seed=seed, targetname=LABELS)
    if dropout is not None and key in ("cnn", "bcnn"):
        common["dropout_rate"] = dropout
    if key == "linear":
        return create_model("linear", **common)
    if key == "knn":
        return create_model("knn", **common)
    if key == "mlp":
        return create_model("mlp", max_epochs=epochs, early_stopping_patience=patience, **common)
    if key == "cnn":
        return create_model("apogee_cnn", max_epochs=epochs, lr=0.003, early_stopping_patience=patience, **common)
    if key == "bcnn":
        return create_model("apogee_bcnn", max_epochs=epochs, lr=0.003, early_stopping_patience=patience, mc_num=mc_num,
                            calibrate_uncertainty=True, **common)
    raise ValueError(f"unknown model key {key!r}; choose from {sorted(MODEL_NAMES)}")


def score(model: Any, ds: Any, bayesian: bool) -> dict[str, Any]:
    from astrotorch.plots.spectra import metrics_table

    cols = ds.label_index(LABELS)
    t0 = time.perf_counter()
    if bayesian:
        pred, sig = model.predict(ds.flux, x_err=ds.flux_err)
        total = sig["total"]
    else:
        pred, total = model.predict(ds.flux), None
    dt = time.perf_counter() - t0
    table = metrics_table(ds.labels_true[:, cols], pred, total, LABELS)
    out = {r["label"]: {k: v for k, v in r.items() if k != "label"} for r in table.to_dict("records")}
    if bayesian:
        for part in ("model", "predictive", "propagated", "floor"):
            if part in sig:
                for j, name in enumerate(LABELS):
                    out[name][f"median_sigma_{part}"] = float(np.median(sig[part][:, j]))
    return {"metrics": out, "predict_seconds": dt}


def run(keys: list[str], args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train, test, visits = make_data(args.n_train, args.n_test, args.seed, args.snr, args.visit_snr)
    t_data = time.perf_counter() - t0
    cols = train.label_index(LABELS)
    for key in keys:
        model = build(key, args.epochs, args.seed, args.mc_num, args.patience, args.dropout)
        t0 = time.perf_counter()
        model.fit(train.flux, train.labels[:, cols], x_err=train.flux_err, y_err=train.label_err[:, cols])
        t_fit = time.perf_counter() - t0
        if args.save_models:
            model.save(out / f"{key}_model", overwrite=True)
        res: dict[str, Any] = {
            "model": MODEL_NAMES[key], "n_train": len(train), "n_test": len(test), "snr": args.snr,
            "visit_snr": args.visit_snr, "seed": args.seed, "data_seconds": t_data, "fit_seconds": t_fit,
            "epochs_run": None if model.history is None else int(len(model.history)),
            "params": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, tuple, list))},
            "test": score(model, test, model.bayesian),
        }
        if model.bayesian:
            res["test_visits"] = score(model, visits, True)
            res["sigma_scale_validation"] = None if model.sigma_scale_ is None else [float(s) for s in model.sigma_scale_]
            ps = getattr(model, "propagated_scale_", None)
            res["propagated_scale_validation"] = None if ps is None else [float(s) for s in ps]
            fl = getattr(model, "sigma_floor_", None)
            res["sigma_floor_validation"] = None if fl is None else [float(s) for s in fl]
        from astrotorch.train.runs import to_jsonable

        (out / f"{key}.json").write_text(json.dumps(to_jsonable(res), indent=2) + "\n")
        print(f"{key}: fit {t_fit:.0f} s; " + ", ".join(
            f"{n} rmse {res['test']['metrics'][n]['rmse']:.4g}" for n in REPORTED), flush=True)


def recalibrate(args: argparse.Namespace) -> None:
    """Refit the BCNN's validation σ calibration on a model saved by ``--save-models`` and re-score it.

    Same training stars, same validation split (the model's seed), same held-out stars: only the
    calibration step of ``fit`` is redone with the current code (no retraining).
    """
    import torch
    from torch.utils.data import Subset

    from astrotorch.models import load_folder

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    model = load_folder(out / "bcnn_model")
    train, test, visits = make_data(args.n_train, args.n_test, args.seed, args.snr, args.visit_snr)
    cols = train.label_index(LABELS)
    n = len(train)
    n_val = int(round(n * model.val_size))
    val_idx = np.random.default_rng(model.seed).permutation(n)[:n_val]
    model._fit_raw = (train.flux, train.labels[:, cols], train.flux_err, train.label_err[:, cols])
    try:
        model._calibrate_sigma(Subset(range(n), val_idx.tolist()))
    finally:
        model._fit_raw = None
    res = json.loads((out / "bcnn.json").read_text())
    res["test"] = score(model, test, True)
    res["test_visits"] = score(model, visits, True)
    res["sigma_scale_validation"] = [float(v) for v in model.sigma_scale_]
    ps, fl = model.propagated_scale_, model.sigma_floor_
    res["propagated_scale_validation"] = None if ps is None else [float(v) for v in ps]
    res["sigma_floor_validation"] = None if fl is None else [float(v) for v in fl]
    res["recalibrated"] = True
    from astrotorch.train.runs import to_jsonable

    (out / "bcnn.json").write_text(json.dumps(to_jsonable(res), indent=2) + "\n")


def report(out: Path) -> str:
    """Merge the per-model JSON files into a markdown table and the acceptance checks."""
    res = {k: json.loads((out / f"{k}.json").read_text()) for k in MODEL_NAMES if (out / f"{k}.json").is_file()}
    lines = ["| model | n_train | epochs | fit (s) | Teff RMSE (K) | Teff mad_std | log g RMSE | log g mad_std | [Fe/H] RMSE | [Fe/H] mad_std |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res.values():
        m = r["test"]["metrics"]
        lines.append(f"| {r['model']} | {r['n_train']} | {r['epochs_run'] or '-'} | {r['fit_seconds']:.0f} | "
                     + " | ".join(f"{m[n]['rmse']:.4g} | {m[n]['mad_std']:.4g}" for n in REPORTED) + " |")
    checks = []
    if "bcnn" in res and "mlp" in res:
        b = res["bcnn"]["test"]["metrics"]["logg"]["rmse"]
        mlp = res["mlp"]["test"]["metrics"]["logg"]["rmse"]
        checks.append(f"- BCNN log g RMSE {b:.4g} vs MLP/3 = {mlp / 3:.4g}: {'PASS' if b <= mlp / 3 else 'FAIL'}")
    order = [k for k in ("linear", "knn", "mlp", "bcnn") if k in res]
    if len(order) == 4:
        r = [res[k]["test"]["metrics"]["logg"]["rmse"] for k in order]
        ok = all(a > b for a, b in zip(r, r[1:]))
        checks.append("- log g RMSE ordering linear > kNN > MLP > BCNN: "
                      + " > ".join(f"{k} {v:.4g}" for k, v in zip(order, r)) + f": {'PASS' if ok else 'FAIL'}")
    if "bcnn" in res:
        for split in ("test", "test_visits"):
            zs = {n: res["bcnn"][split]["metrics"][n]["z_std"] for n in REPORTED}
            ok = all(0.85 <= z <= 1.15 for z in zs.values())
            checks.append(f"- BCNN calibration on {'combined (S/N {:g})'.format(res['bcnn']['snr']) if split == 'test' else 'visits (S/N {:g})'.format(res['bcnn']['visit_snr'])}: std(z) "
                          + ", ".join(f"{n} {z:.3f}" for n, z in zs.items()) + f": {'PASS' if ok else 'FAIL'}")
    return "\n".join(lines) + "\n\n" + "\n".join(checks) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="linear,knn,mlp,cnn,bcnn")
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=1_500)
    p.add_argument("--snr", type=float, default=100.0)
    p.add_argument("--visit-snr", type=float, default=50.0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--mc-num", type=int, default=50)
    p.add_argument("--patience", type=int, default=10,
                   help="early-stopping patience (epochs without val-loss gain; ReduceLROnPlateau halves lr after 2)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--dropout", type=float, default=None, help="dropout rate of the CNNs (default: astroNN's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="bench/results/spectra_acceptance")
    p.add_argument("--save-models", action="store_true", help="save each fitted model under --out/<key>_model")
    p.add_argument("--recalibrate", action="store_true",
                   help="refit the σ calibration of --out/bcnn_model (saved with --save-models) and re-score")
    p.add_argument("--report", action="store_true", help="only merge existing results into markdown")
    args = p.parse_args()
    out = Path(args.out)
    if args.recalibrate:
        recalibrate(args)
    elif not args.report:
        run([k.strip() for k in args.models.split(",") if k.strip()], args)
    text = report(out)
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
