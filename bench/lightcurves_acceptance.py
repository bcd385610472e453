"""Acceptance experiments of the light-curve models (issue 8). Figures go to docs/results/lightcurves.md.

Usage (each part stays under ~10 minutes on one CPU core)::

    nice .venv/bin/python bench/lightcurves_acceptance.py features      # cache real-data features (LS, Bazin ...)
    nice .venv/bin/python bench/lightcurves_acceptance.py rrlyrae       # RRab vs RRc + period regression
    nice .venv/bin/python bench/lightcurves_acceptance.py threeclass    # RRab / RRc / SN Ia across surveys
    nice .venv/bin/python bench/lightcurves_acceptance.py snz           # SN Ia redshift from the light curve
    nice .venv/bin/python bench/lightcurves_acceptance.py synthetic     # PLAsTiCC-like: full and first 30 days

Data: ``$ASTROTORCH_SHARED_DATA`` or ``../shared/data`` (light_curves/). Every real-data experiment uses
the same fixed-seed (seed 0) stratified 80/20 train/test split; the test split is used once per
model, no tuning on it. Results are JSON files under ``$LC_BENCH_OUT`` (default /tmp/astrotorch_lc_bench).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

from astrotorch.lightcurves import LightCurveSet, load_rrlyrae_stripe82, load_snia_ztf_bts  # noqa: E402
from astrotorch.lightcurves.features import feature_matrix, fourier_shape, lomb_scargle_period  # noqa: E402
from astrotorch.lightcurves.normalisation import shared_scale  # noqa: E402
from astrotorch.lightcurves.metrics import (  # noqa: E402
    classification_report, period_metrics, redshift_metrics)

SEED = 0


def data_root() -> Path:
    env = os.environ.get("ASTROTORCH_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root / "light_curves"


def out_dir() -> Path:
    d = Path(os.environ.get("LC_BENCH_OUT", "/tmp/astrotorch_lc_bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(name: str, obj: dict) -> None:
    from astrotorch.train.runs import to_jsonable

    (out_dir() / f"{name}.json").write_text(json.dumps(to_jsonable(obj), indent=2))
    print(json.dumps(to_jsonable(obj), indent=1)[:3000])


def split_idx(labels: np.ndarray, test_fraction: float = 0.2, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed stratified split → (train indices, test indices)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(labels.size, bool)
    for c in np.unique(labels):
        g = rng.permutation(np.flatnonzero(labels == c))
        test[g[: int(round(test_fraction * g.size))]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


# ------------------------------------------------------------------------------------- real data
def load_real() -> tuple[LightCurveSet, LightCurveSet]:
    root = data_root()
    return load_rrlyrae_stripe82(root), load_snia_ztf_bts(root)


def cached_periods(rr: LightCurveSet) -> np.ndarray:
    """(N, 4): LS period, LS power, refined period, peak ratio for every RR Lyrae (cached)."""
    path = out_dir() / "rr_periods.npy"
    if path.exists():
        return np.load(path)
    t = time.time()
    rows = []
    for lc in rr:
        p = lomb_scargle_period(lc.to_flux(), min_period=0.2, max_period=2.0, samples_per_peak=5)
        rows.append([p["period_ls"], p["power_ls"], p["period"], p["fap_proxy"]])
    arr = np.array(rows)
    np.save(path, arr)
    print(f"periods of {len(rr)} RR Lyrae in {time.time() - t:.0f} s")
    return arr


def cached_features(name: str, curves: LightCurveSet, bands, **kw) -> tuple[np.ndarray, list[str]]:
    path = out_dir() / f"feat_{name}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return z["X"], [str(s) for s in z["names"]]
    t = time.time()
    X, names = feature_matrix(curves, bands, **kw)
    np.savez(path, X=X, names=np.array(names))
    print(f"features {name}: {X.shape} in {time.time() - t:.0f} s")
    return X, names


def attach_periods(rr: LightCurveSet, per: np.ndarray) -> None:
    """Physics-informed inputs: the refined Lomb–Scargle period (not the catalogue one)."""
    for lc, row in zip(rr, per):
        lc.meta["period"] = float(row[2])
        lc.meta["log_period"] = float(np.log10(row[2]))
        lc.meta["power_ls"] = float(row[1])


def add_fourier_columns(rr: LightCurveSet, per: np.ndarray, X: np.ndarray, names: list[str]
                        ) -> tuple[np.ndarray, list[str]]:
    """Append the phase-folded Fourier shape (A1, R21, R31, φ21, φ31 per band) at the refined period,
    computed exactly as extract_features does (shared-scale normalised fluxes)."""
    rows = []
    for lc, p in zip(rr, per[:, 2]):
        f = lc.to_flux()
        s = shared_scale(f.value)
        r = {}
        for k, b in enumerate(rr.bands):
            sel = f.band == k
            for key, val in fourier_shape(f.time[sel], f.value[sel] / s, f.error[sel] / s, p).items():
                r[f"{b}_{key}"] = val
        rows.append(r)
    new = list(rows[0])
    return np.hstack([X, np.array([[r[n] for n in new] for r in rows])]), names + new


def hgb(task: str, **kw):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    common = dict(max_iter=300, learning_rate=0.05, min_samples_leaf=10, early_stopping=False, random_state=SEED)
    common.update(kw)
    if task == "classification":
        return HistGradientBoostingClassifier(class_weight="balanced", **common)
    return HistGradientBoostingRegressor(**common)


def part_features() -> None:
    rr, sn = load_real()
    per = cached_periods(rr)
    X, _ = cached_features("rr", rr, rr.bands, min_period=0.2)
    Xs, _ = cached_features("sn", sn, ("g", "R"), periodogram=False)
    save("features_summary", {"rr": list(X.shape), "sn": list(Xs.shape), "periods": list(per.shape)})


def part_rrlyrae() -> None:
    from sklearn.tree import DecisionTreeClassifier

    from astrotorch.models.lightcurves import LightCurveGRU, LightCurveTransformer

    rr, _ = load_real()
    per = cached_periods(rr)
    attach_periods(rr, per)
    X, names = cached_features("rr", rr, rr.bands, min_period=0.2)
    if "g_R21" not in names:  # cache written before fourier_shape joined extract_features: add the columns
        X, names = add_fourier_columns(rr, per, X, names)
    for lc, row in zip(rr, X):  # physics-informed static inputs for the networks
        for key in ("g_R21", "g_phi21", "g_A1", "r_R21"):
            lc.meta[key] = float(np.nan_to_num(row[names.index(key)]))
    y = (rr.labels() == "RRc").astype(int)
    tr, te = split_idx(y)
    res: dict = {"n_train": int(tr.size), "n_test": int(te.size), "split": "stratified 80/20, seed 0"}
    # period regression: Lomb–Scargle vs the multi-harmonic alias refinement
    p_true = rr.meta_array("period_true")
    res["period_ls_all"] = period_metrics(p_true, per[:, 0])
    res["period_refined_all"] = period_metrics(p_true, per[:, 2])
    res["period_refined_test"] = period_metrics(p_true[te], per[te, 2])
    res["period_ls_test"] = period_metrics(p_true[te], per[te, 0])
    # classical anchor: LS period + g amplitude, depth-3 tree (on our features)
    col = {n: i for i, n in enumerate(names)}
    anchor_cols = [col["log_period"], col["g_famp"]]
    tree = DecisionTreeClassifier(max_depth=3, random_state=SEED).fit(X[tr][:, anchor_cols], y[tr])
    res["anchor_tree_test_acc"] = float(np.mean(tree.predict(np.nan_to_num(X[te][:, anchor_cols])) == y[te]))
    # physics trio: period, g amplitude and g-band R21 (phase-folded shape), depth-3 tree
    trio = [col["log_period"], col["g_famp"]] + [names.index("g_R21")]
    tree3 = DecisionTreeClassifier(max_depth=3, random_state=SEED).fit(np.nan_to_num(X[tr][:, trio]), y[tr])
    res["tree_period_amp_R21_test_acc"] = float(np.mean(tree3.predict(np.nan_to_num(X[te][:, trio])) == y[te]))
    # feature baseline on all features
    clf = hgb("classification").fit(X[tr], y[tr])
    pr = clf.predict_proba(X[te])
    res["features_hgb"] = classification_report(y[te], pr, ["RRab", "RRc"], class_weights=None)
    save("rrlyrae", res)
    # networks with the physics-informed inputs (LS period as static input + phase features)
    sub_tr, sub_te = rr[tr], rr[te]
    for name, cls, kw in (("transformer", LightCurveTransformer, dict(d_model=64, n_layers=2)),
                          ("gru", LightCurveGRU, dict(hidden=64))):
        t = time.time()
        m = cls(max_epochs=25, batch_size=32, lr=1e-3, seed=SEED, fold=True,
                meta_keys=("log_period", "power_ls", "g_R21", "g_phi21", "g_A1", "r_R21"),
                val_size=0.15, early_stopping_patience=6, max_length=200, **kw)
        m.fit(sub_tr)
        pr = m.predict(sub_te)
        order = [m.targetname.index("RRab"), m.targetname.index("RRc")]
        res[name] = classification_report(y[te], pr[:, order], ["RRab", "RRc"], class_weights=None)
        res[name]["train_s"] = time.time() - t
        res[name]["epochs"] = int(len(m.history))
        save("rrlyrae", res)


def part_threeclass() -> None:
    from astrotorch.models.lightcurves import LightCurveGRU, LightCurveTransformer

    rr, sn = load_real()
    per = cached_periods(rr)
    attach_periods(rr, per)
    for lc in sn:  # SN Ia: no meaningful period; the network sees zeros for the phase features
        lc.meta["log_period"] = 0.0
        lc.meta["power_ls"] = 0.0
    both = LightCurveSet(list(rr) + list(sn), class_names=["RRab", "RRc", "SNIa"])
    y = both.class_indices()
    tr, te = split_idx(y)
    res: dict = {"n_train": int(tr.size), "n_test": int(te.size), "bands": list(both.bands)}
    # reuse the per-survey feature caches, aligned by column name (absent bands / no periodogram → NaN,
    # exactly what feature_matrix gives for a band an object lacks)
    Xr, nr = cached_features("rr", rr, rr.bands, min_period=0.2)
    Xs, ns = cached_features("sn", sn, ("g", "R"), periodogram=False)
    cols = list(dict.fromkeys(nr + ns))
    X = np.full((len(rr) + len(sn), len(cols)), np.nan)
    for j, c in enumerate(cols):
        if c in nr:
            X[: len(rr), j] = Xr[:, nr.index(c)]
        if c in ns:
            X[len(rr):, j] = Xs[:, ns.index(c)]
    clf = hgb("classification").fit(X[tr], y[tr])
    res["features_hgb"] = classification_report(y[te], clf.predict_proba(X[te]), both.class_names, class_weights=None)
    save("threeclass", res)
    for name, cls, kw in (("transformer", LightCurveTransformer, dict(d_model=64)),
                          ("gru", LightCurveGRU, dict(hidden=64))):
        t = time.time()
        m = cls(max_epochs=5, batch_size=64, lr=3e-3, seed=SEED, fold=True, meta_keys=("log_period", "power_ls"),
                val_size=0.15, early_stopping_patience=5, max_length=300, **kw)
        m.fit(both[tr])
        res[name] = classification_report(y[te], m.predict(both[te]), both.class_names, class_weights=None)
        res[name]["train_s"] = time.time() - t
        save("threeclass", res)


def part_snz() -> None:
    from astropy.cosmology import Planck18

    from astrotorch.models.lightcurves import LightCurveTransformer

    _, sn = load_real()
    z = sn.meta_array("redshift")
    ok = np.isfinite(z) & (z > 0)
    sn = sn[ok]
    z = z[ok]
    # stratify on redshift quintiles so train and test cover the same range
    q = np.digitize(z, np.quantile(z, [0.2, 0.4, 0.6, 0.8]))
    tr, te = split_idx(q)
    X, names = cached_features("sn", load_snia_ztf_bts(data_root()), ("g", "R"), periodogram=False)
    X = X[ok]
    res: dict = {"n_train": int(tr.size), "n_test": int(te.size)}
    # anchor: catalogued peak magnitude as a standard candle (M fitted on train), for reference
    peak = sn.meta_array("peakmag")
    zg = np.geomspace(1e-3, 0.5, 4000)
    dm = Planck18.distmod(zg).value
    M = np.nanmedian(peak[tr] - np.interp(z[tr], zg, dm))
    z_sc = np.interp(peak[te] - M, dm, zg)
    res["anchor_catalog_peakmag_standard_candle"] = redshift_metrics(z[te], z_sc)
    # light-curve-only standard candle: Bazin peak magnitude in g (our fit), M from train
    col = {n: i for i, n in enumerate(names)}
    for band in ("g", "R"):
        m_fit = X[:, col[f"{band}_peak_mag"]]
        good = np.isfinite(m_fit)
        Mb = np.nanmedian((m_fit - np.interp(z, zg, dm))[tr][good[tr]])
        zb = np.interp(np.where(good, m_fit, np.nanmedian(m_fit)) - Mb, dm, zg)
        res[f"lc_bazin_{band}_standard_candle"] = redshift_metrics(z[te], zb[te])
    # feature baseline: gradient boosting on light-curve features (peak mags, colour, stretch ...)
    reg = hgb("regression", loss="absolute_error").fit(X[tr], np.log10(z[tr]))
    res["features_hgb_lc_only"] = redshift_metrics(z[te], 10 ** reg.predict(X[te]))
    av = sn.meta_array("A_V")[:, None]
    reg2 = hgb("regression", loss="absolute_error").fit(np.hstack([X, av])[tr], np.log10(z[tr]))
    res["features_hgb_lc_plus_AV"] = redshift_metrics(z[te], 10 ** reg2.predict(np.hstack([X, av])[te]))
    # transformer regression of log10 z (shared-scale normalisation keeps brightness as static input)
    t = time.time()
    m = LightCurveTransformer(task="regression", loss="huber", max_epochs=20, batch_size=64, lr=2e-3, seed=SEED,
                              d_model=64, val_size=0.15, early_stopping_patience=6, dropout_rate=0.05)
    m.fit(sn[tr], np.log10(z[tr]))
    zt = 10 ** m.predict(sn[te])[:, 0]
    res["transformer_lc_only"] = redshift_metrics(z[te], zt)
    res["transformer_lc_only"]["train_s"] = time.time() - t
    save("snz", res)


# ------------------------------------------------------------------------------------- synthetic
def part_synthetic(n: int = int(os.environ.get("LC_SYN_N", 600)),
                   epochs: int = int(os.environ.get("LC_SYN_EPOCHS", 6))) -> None:
    from astrotorch.datasets.synthetic_lightcurves import make_synthetic_lightcurves
    from astrotorch.lightcurves.metrics import weighted_log_loss
    from astrotorch.models.lightcurves import LightCurveGRU, LightCurveTransformer

    data = make_synthetic_lightcurves(n, seed=SEED)
    y = data.class_indices()
    tr, te = split_idx(y)
    res: dict = {"n_train": int(tr.size), "n_test": int(te.size), "classes": data.class_names}
    for horizon in (None, 30.0):
        tag = "full" if horizon is None else f"first{int(horizon)}d"
        sub = data if horizon is None else data.first_days(horizon, since="detection")
        X, _ = cached_features(f"syn_{tag}", sub, data.bands, min_period=0.2)
        clf = hgb("classification").fit(X[tr], y[tr])
        pr = clf.predict_proba(X[te])
        r = classification_report(y[te], pr, data.class_names)
        res[f"features_{tag}"] = r
        save("synthetic", res)
        for name, cls, kw in (("transformer", LightCurveTransformer, dict(d_model=64)),
                              ("gru", LightCurveGRU, dict(hidden=64))):
            t = time.time()
            m = cls(max_epochs=epochs, batch_size=64, lr=2e-3, seed=SEED, val_size=0.15, max_length=200,
                    early_stopping_patience=5, meta_keys=("hostgal_photoz", "mwebv"), **kw)
            m.fit(sub[tr])
            p = m.predict(sub[te])
            res[f"{name}_{tag}"] = classification_report(y[te], p, data.class_names)
            res[f"{name}_{tag}"]["train_s"] = time.time() - t
            res[f"{name}_{tag}"]["epochs"] = int(len(m.history))
            save("synthetic", res)
        print({k: v["weighted_log_loss"] for k, v in res.items() if isinstance(v, dict) and "weighted_log_loss" in v})
    res["weighted_log_loss_note"] = ("PLAsTiCC weights: KN weight 2, others 1 (astrotorch.lightcurves.metrics); "
                                     f"{weighted_log_loss.__module__}")
    save("synthetic", res)


PARTS = {"features": part_features, "rrlyrae": part_rrlyrae, "threeclass": part_threeclass, "snz": part_snz,
         "synthetic": part_synthetic}

if __name__ == "__main__":
    which = sys.argv[1:] or list(PARTS)
    for w in which:
        if w not in PARTS:
            raise SystemExit(f"unknown part {w!r}; choose from {list(PARTS)}")
        t0 = time.time()
        PARTS[w]()
        print(f"[{w}] done in {time.time() - t0:.0f} s")
