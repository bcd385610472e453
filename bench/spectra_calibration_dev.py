"""Compare σ-calibration estimators for a fitted Bayesian spectral model on an independent dev set.

The estimators are fitted on the model's own validation split (catalogue labels with their errors,
exactly as inside ``fit``) and judged on *fresh* stars (another seed: neither training nor the
acceptance test split) against the noise-free truth, on combined spectra and on visits: std(z)/68 %
coverage per label. This is how the calibration method was chosen without looking at the acceptance
test stars.

    nice python -m bench.spectra_calibration_dev --model /tmp/exp/acc_conv/bcnn_model
    # a BCNN trained on the first 5,000 stars of bench.spectra_emulated's cached training set:
    python -m bench.spectra_calibration_dev --data emulated --n-fit 5000 --model <bcnn folder> \
        --emulated-cache .bench_cache/spectra_emulated/data_20000_2000_2025_100_50
    # the 80,000-star BCNN, calibrated on its 8,000 validation stars and on 40,000 more catalogue stars:
    python -m bench.spectra_calibration_dev --data emulated --n-fit 80000 --model <bcnn_80000> \
        --emulated-cache <data_80000_...> --n-dev 2000 --cache caldev80k.npz \
        --n-extra 40000 --extra-cache calextra40k.npz --threads 2
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from bench.spectra_acceptance import LABELS, REPORTED, make_data

_PART_KEYS = ("r", "mp", "pp", "vy", "nu")
_DEV_KEYS = ("pred", "mp", "pp", "truth", "nu")


def _raw(model, x, e):
    # every fitted calibration attribute off: the raw components (a stale noise power would scale them)
    for attr in ("sigma_scale_", "propagated_scale_", "sigma_floor_", "noise_power_", "noise_reference_"):
        setattr(model, attr, None)
    pred, sig = model.predict(x, x_err=e)
    return pred.astype(np.float64), sig["model"].astype(np.float64) ** 2 + sig["predictive"].astype(np.float64) ** 2, \
        sig["propagated"].astype(np.float64) ** 2


def _fit_form(form, r, mp, pp, vy, nu):
    """ML fit of another σ² form (for the comparison table): 'pp' — (ν/ν_ref)^γ on the propagated
    term only; 'each' — separate powers on the MC + head term and the propagated term; 'quad' — the
    adopted form with exp(γ L + δ L²), L = ln(ν/ν_ref), so that the stars as they are set the level at
    ν_ref and the noisier copies the slope. (The broken power law is the library's:
    ``fit_sigma_scales(..., noise_form="broken")``.)"""
    from scipy.optimize import minimize

    s0 = math.sqrt(float(np.mean(mp)))
    ln = np.log(np.clip(nu, 1e-6, 1e6))

    def var(p, mp=mp, pp=pp, ln=ln):
        a, b, c, g = math.exp(p[0]), math.exp(p[1]), math.exp(p[2]), p[3]
        if form == "quad":
            return (a * a * mp + b * b * pp + c * c) * np.exp(g * ln + p[4] * ln * ln)
        d = p[4] if form == "each" else 0.0
        return a * a * mp * np.exp(d * ln) + b * b * pp * np.exp(g * ln) + c * c

    def nll(p):
        v = var(p) + vy + 1e-12 * s0 * s0
        return float(np.mean(np.log(v) + r * r / v))

    extra = form in ("each", "quad")
    x0 = [0.0, 0.0, math.log(0.1 * s0), 0.5] + ([0.0 if form == "quad" else 0.5] if extra else [])
    bounds = [(-3, 3), (-3, 3), (math.log(s0) - 12, math.log(s0) + 3), (0, 3)] \
        + ([{"each": (-2, 4), "quad": (-3, 3)}[form]] if extra else [])
    p = minimize(nll, np.asarray(x0), method="L-BFGS-B", bounds=bounds).x
    return lambda mp, pp, nu: var(p, mp, pp, np.log(np.clip(nu, 1e-6, 1e6)))


def _level(model, e):
    from astrotorch.models.sigma_calibration import noise_level

    return noise_level(model._propagated_input_errors(np.where(np.isfinite(e), e, 0.0)))


def _calibration_parts(m, sets, y, ey, ref):
    """Per S/N copy in ``sets`` ((flux, flux_err) pairs of the same stars): residuals against the catalogue
    labels ``y`` (NaN where missing), the raw σ components, the label-noise variance and ν/ν_ref."""
    from astrotorch.models.base import _is_missing

    parts = []
    for xs, es in sets:
        pred, mp, pp = _raw(m, xs, es)
        parts.append((np.where(_is_missing(y), np.nan, pred - y), mp, pp, np.where(_is_missing(ey), 0.0, ey) ** 2,
                      _level(m, es) / ref))
    return parts


def _emulated_sets(args, m):
    """Validation split of the cached emulated training stars (first --n-fit), and fresh dev stars (seed --dev-seed)."""
    from astrotorch.apogee import load_emulator
    from astrotorch.datasets.emulated import emulated_spectra

    d = Path(args.emulated_cache)
    part = {k: np.load(d / f"train_{k}.npy", mmap_mode="r") for k in ("flux", "flux_err", "labels", "label_err", "labels_true")}
    n = args.n_fit
    idx = np.sort(m.validation_indices(n))
    dev = emulated_spectra(args.n_dev, emulator=load_emulator("binspec_plus"), snr=100.0, seed=args.dev_seed,
                           n_visits=1, visit_snr=50.0)
    take = lambda k: np.asarray(part[k][idx])  # noqa: E731
    nl = len(m.targetname)
    return (take("flux"), take("flux_err"), take("labels")[:, :nl].astype(np.float64),
            take("label_err")[:, :nl].astype(np.float64), take("labels_true")[:, :nl],
            {"combined": dev.combined, "visits": dev.visits}, list(range(nl)), list(m.targetname))


def _extra_parts(args, m, ref):
    """Raw σ components of --n-extra more catalogue-labelled stars (seed --extra-seed, drawn like the training
    set: S/N 100, no visits), as they are and as a noisier copy, and their realised label noise."""
    from astrotorch.apogee import load_emulator
    from astrotorch.datasets.emulated import emulated_spectra
    from astrotorch.models.spectra import degrade_snr

    cache = Path(args.extra_cache) if args.extra_cache else None
    if cache is not None and cache.exists():
        c = np.load(cache)
        return [tuple(c[f"extra{i}_{k}"] for k in _PART_KEYS) for i in range(2)], c["noise"]
    ds = emulated_spectra(args.n_extra, emulator=load_emulator("binspec_plus"), snr=100.0, seed=args.extra_seed)
    nl = len(m.targetname)
    y, ey = ds.labels[:, :nl].astype(np.float64), ds.label_err[:, :nl].astype(np.float64)
    noise = y - ds.labels_true[:, :nl]
    sets = [(ds.flux, ds.flux_err), degrade_snr(ds.flux, ds.flux_err, m.calibration_snr_factor, seed=m.seed + 1)]
    parts = _calibration_parts(m, sets, y, ey, ref)
    if cache is not None:
        np.savez(cache, noise=noise, **{f"extra{i}_{k}": v for i, q in enumerate(parts) for k, v in zip(_PART_KEYS, q)})
    return parts, noise


def main() -> None:
    import torch

    from astrotorch.datasets.spectra import synthetic_spectra
    from astrotorch.models import load_folder
    from astrotorch.models.sigma_calibration import degrade_snr, fit_sigma_scales, scale_precision

    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", choices=["synthetic", "emulated"], default="synthetic")
    p.add_argument("--n-fit", type=int, default=5000, help="emulated: the model was trained on the first N cached stars")
    p.add_argument("--emulated-cache", default=".bench_cache/spectra_emulated/data_20000_2000_2025_100_50",
                   help="emulated: bench.spectra_emulated's cached data folder")
    p.add_argument("--n-dev", type=int, default=800)
    p.add_argument("--dev-seed", type=int, default=99)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--masked-error-ratio", type=float, default=10.0,
                   help="flagged-pixel threshold for the propagated input errors (0: propagate every pixel)")
    p.add_argument("--cache", default=None, help="npz of the raw σ components: written once, then reused")
    p.add_argument("--redraws", type=int, default=20,
                   help="refit ML (a,b,floor) on this many fresh draws of the validation label noise (0: skip)")
    p.add_argument("--n-extra", type=int, default=0,
                   help="emulated: also calibrate on this many more catalogue-labelled stars (not trained on)")
    p.add_argument("--extra-seed", type=int, default=4242)
    p.add_argument("--extra-cache", default=None, help="npz of the extra stars' raw σ components: written once, then reused")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    m = load_folder(args.model)
    m.masked_error_ratio = args.masked_error_ratio or None
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():  # raw σ components of an earlier run with the same model
        c = np.load(cache)
        parts = [tuple(c[f"val{i}_{k}"] for k in _PART_KEYS) for i in range(2)]
        dev_raw = {k: tuple(c[f"{k}_{q}"] for q in _DEV_KEYS) for k in ("combined", "visits")}
        val_noise, names = c["val_noise"], [str(v) for v in c["names"]]
    else:
        if args.data == "emulated":
            xv, ev_x, yv, ev, truth_v, dev_sets, cols, names = _emulated_sets(args, m)
        else:
            train, _, _ = make_data(10_000, 1500, args.seed, 100.0, 50.0)  # same generator call as the acceptance run
            cols = train.label_index(LABELS)
            n = len(train)
            idx = m.validation_indices(n)
            xv, ev_x = train.flux[idx], train.flux_err[idx]
            yv, ev = train.labels[idx][:, cols].astype(np.float64), train.label_err[idx][:, cols].astype(np.float64)
            truth_v, names = train.labels_true[idx][:, cols], LABELS
            dev = synthetic_spectra(args.n_dev, snr=100.0, seed=args.dev_seed, n_visits=1, visit_snr=50.0)
            dev_sets = {"combined": dev.combined, "visits": dev.visits}
        val_noise = yv - truth_v  # the realised catalogue noise (NaN-free where labelled)
        sets = [(xv, ev_x), degrade_snr(xv, ev_x, m.calibration_snr_factor, seed=m.seed)]
        ref = float(np.nanmedian(_level(m, ev_x)))
        parts = _calibration_parts(m, sets, yv, ev, ref)
        dev_raw = {k: _raw(m, d.flux, d.flux_err) + (d.labels_true[:, cols].astype(np.float64), _level(m, d.flux_err) / ref)
                   for k, d in dev_sets.items()}
        if cache is not None:
            arrays = {f"val{i}_{k}": v for i, q in enumerate(parts) for k, v in zip(_PART_KEYS, q)}
            arrays.update({f"{k}_{q}": v for k, t in dev_raw.items() for q, v in zip(_DEV_KEYS, t)})
            arrays["val_noise"] = val_noise
            arrays["names"] = np.asarray(names)
            np.savez(cache, **arrays)
    if args.n_extra:
        # the validation spectra's noise level stays the reference (what fit uses)
        err = np.load(Path(args.emulated_cache) / "train_flux_err.npy", mmap_mode="r")
        ref = float(np.nanmedian(_level(m, err[np.sort(m.validation_indices(args.n_fit))])))
        extra, extra_noise = _extra_parts(args, m, ref)
        parts = [tuple(np.concatenate([a, b]) for a, b in zip(q, e)) for q, e in zip(parts, extra)]
        val_noise = np.concatenate([val_noise, extra_noise])
        print(f"calibration stars: {len(val_noise)} (validation + {args.n_extra} extra)", flush=True)
    methods = {}
    for j, name in enumerate(names):
        if args.data == "synthetic" and name not in REPORTED:
            continue
        r0, mp0, pp0, vy0 = (parts[0][i][:, j] for i in range(4))
        r, mp, pp, vy = (np.concatenate([q[i][:, j] for q in parts]) for i in range(4))
        nu = np.concatenate([q[4] for q in parts])
        ok, ok0 = np.isfinite(r), np.isfinite(r0)
        a, b = fit_sigma_scales(r[ok], mp[ok], pp[ok], vy[ok], floor=False)[:2]
        s2 = float(np.mean((r0[ok0] ** 2 - vy0[ok0]) / (mp0[ok0] + pp0[ok0])))
        s = math.sqrt(max(s2, 1e-4))
        af, bf, cf = fit_sigma_scales(r[ok], mp[ok], pp[ok], vy[ok], floor=True)[:3]
        form = m.calibration_noise_form  # what fit and calibrate_sigma use
        adopted = fit_sigma_scales(r[ok], mp[ok], pp[ok], vy[ok], floor=True, noise_ratio=nu[ok], noise_form=form)
        # the same estimator on the noise-free labels (an oracle no real survey has): what the σ form can do
        noise = np.concatenate([val_noise[:, j]] * len(parts))
        oracle = fit_sigma_scales(r[ok] + noise[ok], mp[ok], pp[ok], np.zeros(ok.sum()), floor=True, noise_ratio=nu[ok],
                                  noise_form=form)
        # the oracle's residuals under the catalogue noise's weights (the expected noisy-label likelihood,
        # r² → e² + y_err²): what the noisy-label fit converges to on average, whatever the draw
        expected = fit_sigma_scales(np.sqrt((r[ok] + noise[ok]) ** 2 + vy[ok]), mp[ok], pp[ok], vy[ok], floor=True,
                                    noise_ratio=nu[ok], noise_form=form)
        # the ML shape, then one factor k so that mean((r² − y_err²)/σ²) = 1 over both S/N sets
        v = af * af * mp[ok] + bf * bf * pp[ok] + cf * cf
        k2 = max(float(np.mean((r[ok] ** 2 - vy[ok]) / v)), 1e-4)
        fp, fe, fq = (_fit_form(f, r[ok], mp[ok], pp[ok], vy[ok], nu[ok]) for f in ("pp", "each", "quad"))
        fb = fit_sigma_scales(r[ok], mp[ok], pp[ok], vy[ok], floor=True, noise_ratio=nu[ok], noise_form="broken").variance
        v0 = adopted.variance(mp0, pp0, parts[0][4])
        print(f"  {name}: the calibration stars as they are pin σ to ±{100 * scale_precision(v0[ok0], vy0[ok0]):.1f} %")
        methods[name] = {
            "ML (a,b), 2 S/N": lambda mp, pp, nu, a=a, b=b: a * a * mp + b * b * pp,
            "moment, one factor": lambda mp, pp, nu, s=s: s * s * (mp + pp),
            "ML (a,b,floor), 2 S/N": lambda mp, pp, nu, a=af, b=bf, c=cf: a * a * mp + b * b * pp + c * c,
            "ML (a,b,floor) + moment scale": lambda mp, pp, nu, a=af, b=bf, c=cf, k2=k2: k2 * (a * a * mp + b * b * pp + c * c),
            "ML, noise power on the propagated term only": fp,
            "ML, noise powers on the MC + head and the propagated terms": fe,
            "ML (a,b,floor, exp(γL + δL²))": fq,
            "ML (a,b,floor, broken power γ, γ2)": fb,
            "adopted (what fit does): ML (a,b,floor,noise power; broken where the BIC asks)": adopted.variance,
            "oracle: the adopted estimator on noise-free labels": oracle.variance,
            "noise-free residuals, catalogue-noise weights (the noisy fit's expectation)": expected.variance,
        }
        if args.redraws > 0:
            # how much of the miss is the one realisation of the validation label noise: refit on fresh draws
            rng = np.random.default_rng(12345)
            sd = np.sqrt(vy0[ok0])  # every S/N copy of a star shares its catalogue label, hence the tile below
            rt = (r + noise)[ok]
            stds: dict[str, list[float]] = {"combined": [], "visits": []}
            stds_b: dict[str, list[float]] = {"combined": [], "visits": []}
            for _ in range(args.redraws):
                fresh = np.tile(rng.standard_normal(sd.shape) * sd, len(parts))
                refit = fit_sigma_scales(rt - fresh, mp[ok], pp[ok], vy[ok], floor=True, noise_ratio=nu[ok], noise_form=form)
                fb2 = fit_sigma_scales(rt - fresh, mp[ok], pp[ok], vy[ok], floor=True, noise_ratio=nu[ok],
                                       noise_form="broken").variance
                for k, (pred, mpd, ppd, truth, nud) in dev_raw.items():
                    stds[k].append(float(np.std((pred[:, j] - truth[:, j]) / np.sqrt(refit.variance(mpd[:, j], ppd[:, j], nud)))))
                    stds_b[k].append(float(np.std((pred[:, j] - truth[:, j]) / np.sqrt(fb2(mpd[:, j], ppd[:, j], nud)))))
            for label, st in (("adopted", stds), ("broken", stds_b)):
                print(f"  {name}: {args.redraws} label-noise redraws, {label}, dev std(z) median [10-90%] (min-max): "
                      + ", ".join(f"{k} {np.median(v):.3f} [{np.percentile(v, 10):.3f}-{np.percentile(v, 90):.3f}] "
                                  f"({min(v):.3f}-{max(v):.3f})"
                                  for k, v in st.items()))
        print(f"{name}: ML a={a:.3f} b={b:.3f}; moment s={s:.3f}; floor a={af:.3f} b={bf:.3f} c={cf:.4g}; "
              f"noise power a={adopted.a:.3f} b={adopted.b:.3f} c={adopted.c:.4g} gamma={adopted.noise_power:.2f}"
              + (f" gamma2={adopted.noise_power_high:.2f} beyond {adopted.noise_break:.2f}" if math.isfinite(adopted.noise_break)
                 else "") + f"; moment k={math.sqrt(k2):.3f}")
    for meth in next(iter(methods.values())):
        line = [meth + ":"]
        for k, (pred, mp, pp, truth, nu) in dev_raw.items():
            zs = []
            for j, name in enumerate(names):
                if name in methods:
                    z = (pred[:, j] - truth[:, j]) / np.sqrt(methods[name][meth](mp[:, j], pp[:, j], nu))
                    zs.append(f"{name} {np.std(z):.3f}/{np.mean(np.abs(z) < 1):.3f}")
            line.append(f"{k} " + ", ".join(zs))
        print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
