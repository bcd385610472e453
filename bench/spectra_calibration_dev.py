"""Compare σ-calibration estimators for a fitted Bayesian spectral model on an independent dev set.

The estimators are fitted on the model's own validation split (catalogue labels with their errors,
exactly as inside ``fit``) and judged on *fresh* synthetic stars (another seed: neither training nor
the acceptance test split) against the noise-free truth, on combined spectra and on visits. This is how
the calibration method was chosen without looking at the acceptance test stars.

    nice python -m bench.spectra_calibration_dev --model /tmp/exp/acc_conv/bcnn_model
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from bench.spectra_acceptance import LABELS, REPORTED, make_data


def _raw(model, x, e):
    model.sigma_scale_, model.propagated_scale_ = None, None
    pred, sig = model.predict(x, x_err=e)
    return pred.astype(np.float64), sig["model"].astype(np.float64) ** 2 + sig["predictive"].astype(np.float64) ** 2, \
        sig["propagated"].astype(np.float64) ** 2


def main() -> None:
    import torch

    from astrotorch.datasets.spectra import synthetic_spectra
    from astrotorch.models import load_folder
    from astrotorch.models.base import _is_missing
    from astrotorch.models.spectra import degrade_snr, fit_sigma_scales

    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--n-dev", type=int, default=800)
    p.add_argument("--dev-seed", type=int, default=99)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--masked-error-ratio", type=float, default=10.0,
                   help="flagged-pixel threshold for the propagated input errors (0: propagate every pixel)")
    p.add_argument("--cache", default=None, help="npz of the raw σ components: written once, then reused")
    p.add_argument("--redraws", type=int, default=20,
                   help="refit ML (a,b,floor) on this many fresh draws of the validation label noise (0: skip)")
    args = p.parse_args()
    torch.set_num_threads(1)
    m = load_folder(args.model)
    m.masked_error_ratio = args.masked_error_ratio or None
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():  # raw σ components of an earlier run with the same model
        c = np.load(cache)
        parts = [tuple(c[f"val{i}_{k}"] for k in ("r", "mp", "pp", "vy")) for i in range(2)]
        dev_raw = {k: tuple(c[f"{k}_{q}"] for q in ("pred", "mp", "pp", "truth")) for k in ("combined", "visits")}
        val_noise = c["val_noise"]
    else:
        train, _, _ = make_data(10_000, 1500, args.seed, 100.0, 50.0)  # same generator call as the acceptance run
        cols = train.label_index(LABELS)
        n = len(train)
        idx = np.random.default_rng(m.seed).permutation(n)[: int(round(n * m.val_size))]
        xv, ev_x = train.flux[idx], train.flux_err[idx]
        yv, ev = train.labels[idx][:, cols].astype(np.float64), train.label_err[idx][:, cols].astype(np.float64)
        val_noise = yv - train.labels_true[idx][:, cols]  # the realised catalogue noise (NaN-free where labelled)
        sets = [(xv, ev_x), degrade_snr(xv, ev_x, m.calibration_snr_factor, seed=m.seed)]
        parts = []
        for xs, es in sets:
            pred, mp, pp = _raw(m, xs, es)
            r = np.where(_is_missing(yv), np.nan, pred - yv)
            parts.append((r, mp, pp, np.where(_is_missing(ev), 0.0, ev) ** 2))
        dev = synthetic_spectra(args.n_dev, snr=100.0, seed=args.dev_seed, n_visits=1, visit_snr=50.0)
        dev_sets = {"combined": dev.combined, "visits": dev.visits}
        dev_raw = {k: _raw(m, d.flux, d.flux_err) + (d.labels_true[:, cols].astype(np.float64),)
                   for k, d in dev_sets.items()}
        if cache is not None:
            arrays = {f"val{i}_{k}": v for i, q in enumerate(parts) for k, v in zip(("r", "mp", "pp", "vy"), q)}
            arrays.update({f"{k}_{q}": v for k, t in dev_raw.items() for q, v in zip(("pred", "mp", "pp", "truth"), t)})
            arrays["val_noise"] = val_noise
            np.savez(cache, **arrays)
    methods = {}
    for j, name in enumerate(LABELS):
        if name not in REPORTED:
            continue
        r0, mp0, pp0, vy0 = parts[0][0][:, j], parts[0][1][:, j], parts[0][2][:, j], parts[0][3][:, j]
        r = np.concatenate([q[0][:, j] for q in parts])
        mp = np.concatenate([q[1][:, j] for q in parts])
        pp = np.concatenate([q[2][:, j] for q in parts])
        vy = np.concatenate([q[3][:, j] for q in parts])
        ok, ok0 = np.isfinite(r), np.isfinite(r0)
        a, b, _ = fit_sigma_scales(r[ok], mp[ok], pp[ok], vy[ok], floor=False)
        s2 = float(np.mean((r0[ok0] ** 2 - vy0[ok0]) / (mp0[ok0] + pp0[ok0])))
        s = math.sqrt(max(s2, 1e-4))
        af, bf, cf = fit_sigma_scales(r[ok], mp[ok], pp[ok], vy[ok], floor=True)
        # the same estimator on the noise-free labels (an oracle no real survey has): what the σ form can do
        noise = np.concatenate([val_noise[:, j]] * len(parts))
        ao, bo, co = fit_sigma_scales(r[ok] + noise[ok], mp[ok], pp[ok], np.zeros(ok.sum()), floor=True)
        # the ML shape, then one factor k so that mean((r² − y_err²)/σ²) = 1 over both S/N sets
        v = af * af * mp[ok] + bf * bf * pp[ok] + cf * cf
        k2 = max(float(np.mean((r[ok] ** 2 - vy[ok]) / v)), 1e-4)
        methods[name] = {
            "ML (a,b), 2 S/N": lambda mp, pp, a=a, b=b: a * a * mp + b * b * pp,
            "moment, one factor": lambda mp, pp, s=s: s * s * (mp + pp),
            "ML (a,b,floor), 2 S/N": lambda mp, pp, a=af, b=bf, c=cf: a * a * mp + b * b * pp + c * c,
            "ML (a,b,floor) + moment scale": lambda mp, pp, a=af, b=bf, c=cf, k2=k2: k2 * (a * a * mp + b * b * pp + c * c),
            "oracle: ML (a,b,floor) on noise-free labels": lambda mp, pp, a=ao, b=bo, c=co: a * a * mp + b * b * pp + c * c,
        }
        if args.redraws > 0:
            # how much of the miss is the one realisation of the validation label noise: refit on fresh draws
            rng = np.random.default_rng(12345)
            sd = np.sqrt(vy0[ok0])  # every S/N copy of a star shares its catalogue label, hence the tile below
            rt = (r + noise)[ok]
            stds: dict[str, list[float]] = {"combined": [], "visits": []}
            for _ in range(args.redraws):
                fresh = np.tile(rng.standard_normal(sd.shape) * sd, len(parts))
                a2, b2, c2 = fit_sigma_scales(rt - fresh, mp[ok], pp[ok], vy[ok], floor=True)
                for k, (pred, mpd, ppd, truth) in dev_raw.items():
                    v2 = a2 * a2 * mpd[:, j] + b2 * b2 * ppd[:, j] + c2 * c2
                    stds[k].append(float(np.std((pred[:, j] - truth[:, j]) / np.sqrt(v2))))
            print(f"  {name}: {args.redraws} label-noise redraws, dev std(z) median [10-90%]: "
                  + ", ".join(f"{k} {np.median(v):.3f} [{np.percentile(v, 10):.3f}-{np.percentile(v, 90):.3f}]"
                              for k, v in stds.items()))
        print(f"{name}: ML a={a:.3f} b={b:.3f}; moment s={s:.3f}; floor a={af:.3f} b={bf:.3f} c={cf:.4g}; moment k={math.sqrt(k2):.3f}")
    for meth in next(iter(methods.values())):
        line = [meth + ":"]
        for k, (pred, mp, pp, truth) in dev_raw.items():
            zs = []
            for j, name in enumerate(LABELS):
                if name in REPORTED:
                    z = (pred[:, j] - truth[:, j]) / np.sqrt(methods[name][meth](mp[:, j], pp[:, j]))
                    zs.append(f"{name} {np.std(z):.3f}")
            line.append(f"{k} " + ", ".join(zs))
        print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
