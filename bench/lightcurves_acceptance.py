"""Acceptance experiments of the light-curve models through the public API only (issues 8, 14).

Every model is built with ``create_model(name)`` and its *default* hyper-parameters (regression sets
``task="regression"``), trained with ``fit(train)`` / ``fit(train, z)`` and scored on the held-out
curves — the calls a README reader makes. Nothing is attached by hand: the networks compute their
period/Fourier-shape inputs themselves (``period_inputs=True``, the default).

Usage (each part stays under ~10 minutes on one contended CPU core)::

    nice .venv/bin/python bench/lightcurves_acceptance.py periods      # period search vs the catalogue periods
    nice .venv/bin/python bench/lightcurves_acceptance.py rrlyrae      # RRab vs RRc
    nice .venv/bin/python bench/lightcurves_acceptance.py threeclass   # RRab / RRc / SN Ia across surveys
    nice .venv/bin/python bench/lightcurves_acceptance.py snz          # SN Ia redshift from the light curve
    nice .venv/bin/python bench/lightcurves_acceptance.py subtypes     # ZTF BTS SN Ia subtypes
    nice .venv/bin/python bench/lightcurves_acceptance.py synthetic    # PLAsTiCC-like: full and first 30 days

Data: ``$ASTROTORCH_SHARED_DATA`` or ``../shared/data`` (light_curves/). Every real-data experiment uses
``LightCurveSet.split(0.2, seed=0)`` (stratified by label) — the split of tests/test_lightcurves_frontdoor.py;
the test part is used once per model, no tuning on it (defaults were chosen on a validation split
cut from the training part: bench/lightcurves_defaults.py). JSON results go to ``$LC_BENCH_OUT``
(default /tmp/astrotorch_lc_bench).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from astrotorch.lightcurves import LightCurveSet, load_rrlyrae_stripe82, load_snia_ztf_bts, period_table
from astrotorch.lightcurves.labels import encode_classes
from astrotorch.lightcurves.metrics import classification_report, period_metrics, redshift_metrics
from astrotorch.models import create_model

SEED = 0
MODELS = ("lc_features", "lc_transformer", "lc_gru")


def data_root() -> Path:
    env = os.environ.get("ASTROTORCH_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root / "light_curves"


def out_dir() -> Path:
    d = Path(os.environ.get("LC_BENCH_OUT", "/tmp/astrotorch_lc_bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(name: str, obj: dict) -> None:
    from astrotorch.io import atomic_write
    from astrotorch.train.runs import to_jsonable

    text = json.dumps(to_jsonable(obj), indent=2)
    with atomic_write(out_dir() / f"{name}.json", "w") as fh:
        fh.write(text)
    print(text[:3000], flush=True)


def classify(name: str, train: LightCurveSet, test: LightCurveSet, y_train=None, y_test=None,
             class_weights: str | None = None, **kw) -> dict:
    """Fit ``create_model(name, **kw)`` on ``train``; the test report (log loss weighted by
    ``class_weights``: None = plain, "plasticc" = the PLAsTiCC challenge's)."""
    t = time.time()
    m = create_model(name, **kw).fit(train, y_train)
    fit_s = time.time() - t
    probs = m.predict_proba(test)
    truth = test.labels() if y_test is None else np.asarray(y_test)
    rep = classification_report(encode_classes(truth, m.classes_), probs, m.targetname, class_weights=class_weights)
    rep.update(fit_s=fit_s, epochs=int(len(m.history)) if getattr(m, "history", None) is not None else None)
    if getattr(m, "dropped_features_", None):
        rep["dropped_features"] = list(m.dropped_features_)
    return rep


def regress(name: str, train: LightCurveSet, test: LightCurveSet, y_train: np.ndarray, y_test: np.ndarray,
            **kw) -> dict:
    t = time.time()
    m = create_model(name, task="regression", **kw).fit(train, y_train)
    fit_s = time.time() - t
    pred = np.asarray(m.predict(test)).reshape(len(test), -1)[:, 0]
    rep = redshift_metrics(y_test, pred)
    rep.update(fit_s=fit_s, epochs=int(len(m.history)) if getattr(m, "history", None) is not None else None)
    return rep


def part_periods() -> None:
    rr = load_rrlyrae_stripe82(data_root())
    _, test = rr.split(0.2, seed=SEED)
    t = time.time()
    table, names = period_table(rr, rr.bands)
    res = {"n": len(rr), "s_per_curve": (time.time() - t) / len(rr)}
    col = {n: i for i, n in enumerate(names)}
    truth = rr.meta_array("period_true")
    in_test = np.isin([lc.object_id for lc in rr], [lc.object_id for lc in test])
    for key in ("period_ls", "period"):
        res[f"{key}_all"] = period_metrics(truth, table[:, col[key]])
        res[f"{key}_test"] = period_metrics(truth[in_test], table[in_test, col[key]])
    save("periods", res)


def part_rrlyrae() -> None:
    rr = load_rrlyrae_stripe82(data_root())
    train, test = rr.split(0.2, seed=SEED)
    res: dict = {"n_train": len(train), "n_test": len(test), "split": "LightCurveSet.split(0.2, seed=0)"}
    for name in MODELS:
        res[name] = classify(name, train, test)
        save("rrlyrae", res)


def part_threeclass() -> None:
    rr, sn = load_rrlyrae_stripe82(data_root()), load_snia_ztf_bts(data_root())
    both = LightCurveSet(list(rr) + list(sn))
    train, test = both.split(0.2, seed=SEED)
    res: dict = {"n_train": len(train), "n_test": len(test), "bands": list(both.bands)}
    rr_test = np.array([lab != "SNIa" for lab in test.labels().tolist()])
    for name in MODELS:
        res[name] = classify(name, train, test)
        cm = np.array(res[name]["confusion_matrix"])  # classes_ sorted: RRab, RRc, SNIa
        res[name]["rr_only_accuracy"] = float(np.trace(cm[:2, :2]) / cm[:2, :2].sum()) if rr_test.any() else None
        save("threeclass", res)


def part_snz() -> None:
    sn = load_snia_ztf_bts(data_root())
    train, test = sn.split(0.2, seed=SEED)
    z_tr, z_te = train.meta_array("redshift"), test.meta_array("redshift")
    res: dict = {"n_train": len(train), "n_test": len(test), "target": "redshift z (fit on z itself)"}
    # reference: the catalogued BTS peak magnitude as a standard candle (M from the training part)
    from astropy.cosmology import Planck18

    zg = np.geomspace(1e-3, 0.5, 4000)
    dm = Planck18.distmod(zg).value
    peak_tr, peak_te = train.meta_array("peakmag"), test.meta_array("peakmag")
    M = np.nanmedian(peak_tr - np.interp(z_tr, zg, dm))
    res["reference_catalog_peakmag_standard_candle"] = redshift_metrics(z_te, np.interp(peak_te - M, dm, zg))
    for name in MODELS:
        res[name] = regress(name, train, test, z_tr, z_te)
        save("snz", res)


def part_subtypes() -> None:
    sn = load_snia_ztf_bts(data_root())
    sub = np.array([str(lc.meta["subtype"]) for lc in sn])
    for lc, s in zip(sn, sub):
        lc.label = s
    train, test = sn.split(0.2, seed=SEED)
    res: dict = {"n_train": len(train), "n_test": len(test),
                 "majority_fraction_test": float(np.mean(test.labels() == "SN Ia"))}
    for name in MODELS:
        res[name] = classify(name, train, test)
        save("subtypes", res)


def part_synthetic(n: int = int(os.environ.get("LC_SYN_N", 600))) -> None:
    from astrotorch.datasets.synthetic_lightcurves import make_synthetic_lightcurves

    data = make_synthetic_lightcurves(n, seed=SEED)
    train, test = data.split(0.2, seed=SEED)
    res: dict = {"n_train": len(train), "n_test": len(test), "classes": data.class_names}
    for horizon in (None, 30.0):
        tag = "full" if horizon is None else f"first{int(horizon)}d"
        tr = train if horizon is None else train.first_days(horizon, since="detection")
        te = test if horizon is None else test.first_days(horizon, since="detection")
        for name in MODELS:
            res[f"{name}_{tag}"] = classify(name, tr, te, class_weights="plasticc", meta_keys=("hostgal_photoz", "mwebv"))
            save("synthetic", res)


PARTS = {"periods": part_periods, "rrlyrae": part_rrlyrae, "threeclass": part_threeclass, "snz": part_snz,
         "subtypes": part_subtypes, "synthetic": part_synthetic}

if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("LC_BENCH_THREADS", 1)))
    which = sys.argv[1:] or list(PARTS)
    for w in which:
        if w not in PARTS:
            raise SystemExit(f"unknown part {w!r}; choose from {list(PARTS)}")
        t0 = time.time()
        PARTS[w]()
        print(f"[{w}] done in {time.time() - t0:.0f} s", flush=True)
