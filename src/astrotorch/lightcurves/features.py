"""Standard light-curve features for the gradient-boosting baseline and physics-informed inputs.

Per object (fluxes normalised by one shared scale, so colours survive):

* global: number of points, duration (days), brightness (magnitude of the shared flux scale);
* per band: count, max, median, standard deviation, amplitude (95th − 5th percentile), skewness,
  kurtosis, mean S/N (missing band → NaN, which HistGradientBoosting handles natively);
* colours: −2.5 log10 of the ratio of neighbouring bands' peak fluxes (mag);
* period inputs (:mod:`astrotorch.lightcurves.periods`, cached per curve): Lomb–Scargle period
  (days) and power on all bands combined, refined among aliases by a multi-harmonic fit, and per band
  the fit's amplitude and the phase-folded Fourier shape (A1, R21, R31, φ21, φ31);
* transient shape: time of peak, rise and decline times (days, between half-maximum and peak), and
  a Bazin fit (Bazin et al. 2009) in the brightest band: τ_rise, τ_fall (days), peak magnitude.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from astrotorch.lightcurves.cache import CACHE
from astrotorch.lightcurves.container import LightCurve, LightCurveSet
from astrotorch.lightcurves.normalisation import shared_scale
from astrotorch.lightcurves.periods import (  # noqa: F401  (re-exported: one implementation, in periods)
    PeriodOptions,
    fourier_shape,
    lomb_scargle_period,
    multiband_fourier_chi2,
    period_inputs,
)


def bazin(t: np.ndarray, a: float, t0: float, tau_rise: float, tau_fall: float, c: float) -> np.ndarray:
    """Bazin et al. (2009) transient shape: A e^{-(t-t0)/τ_fall} / (1 + e^{-(t-t0)/τ_rise}) + c (days)."""
    x = np.clip((t - t0), -500, 500)
    return a * np.exp(np.clip(-x / tau_fall, -50, 50)) / (1.0 + np.exp(np.clip(-x / tau_rise, -50, 50))) + c


def fit_bazin(t: np.ndarray, f: np.ndarray, e: np.ndarray) -> dict[str, float]:
    """Least-squares Bazin fit; returns ``a``, ``t0``, ``tau_rise``, ``tau_fall`` (days), ``c``,
    ``peak_flux`` and ``t_peak`` of the model (NaN where the fit fails or has too few points)."""
    nan = dict.fromkeys(("a", "t0", "tau_rise", "tau_fall", "c", "peak_flux", "t_peak"), np.nan)
    if t.size < 5:
        return nan
    i = int(np.argmax(f))
    # only the 250 days around the brightest point shape the fit; long baselines just cost time
    win = (t > t[i] - 80.0) & (t < t[i] + 170.0)
    if win.sum() >= 5:
        t, f, e = t[win], f[win], e[win]
        i = int(np.argmax(f))
    # unbounded Levenberg–Marquardt (MINPACK, fast) on log τ keeps the time scales positive
    def model(tt: np.ndarray, a: float, t0: float, ltr: float, ltf: float, c: float) -> np.ndarray:
        return bazin(tt, a, t0, np.exp(np.clip(ltr, -3, 6)), np.exp(np.clip(ltf, -3, 8)), c)

    p0 = [max(f[i], 1e-3) * 1.5, t[i] - 5.0, math.log(3.0), math.log(20.0), 0.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q, _ = optimize.curve_fit(model, t, f, p0=p0, sigma=np.maximum(e, 1e-6), method="lm", maxfev=400)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return nan
    p = np.array([q[0], q[1], math.exp(np.clip(q[2], -3, 6)), math.exp(np.clip(q[3], -3, 8)), q[4]])
    if not np.all(np.isfinite(p)) or p[0] <= 0 or not (t.min() - 100 < p[1] < t.max() + 50):
        return nan
    grid = np.linspace(p[1] - 3 * p[2] - 5, p[1] + 3 * p[3], 400)
    model = bazin(grid, *p) - p[4]
    j = int(np.argmax(model))
    return {"a": p[0], "t0": p[1], "tau_rise": p[2], "tau_fall": p[3], "c": p[4],
            "peak_flux": float(model[j]), "t_peak": float(grid[j])}


def extract_features(lc: LightCurve, bands: Sequence[str], periodogram: bool = True,
                     bazin_fit: bool = True, min_period: float = 0.1) -> dict[str, float]:
    """Feature dictionary of one light curve (see module doc); ``bands`` fixes the column set."""
    lcf = lc.to_flux()
    ok = np.isfinite(lcf.value) & np.isfinite(lcf.error)
    lcf = lcf.select(ok)
    scale = shared_scale(lcf.value)
    v, e, t = lcf.value / scale, lcf.error / scale, lcf.time
    feats: dict[str, float] = {
        "n_obs": float(t.size), "duration": float(t.max() - t.min()) if t.size else 0.0,
        "scale_mag": lcf.zero_point - 2.5 * math.log10(scale),
    }
    peaks = {}
    for name in bands:
        k = lcf.bands.index(name) if name in lcf.bands else -1
        sel = lcf.band == k
        vb, eb = v[sel], e[sel]
        f: dict[str, float] = {}
        if vb.size:
            f["n"] = float(vb.size)
            f["max"] = float(vb.max())
            f["median"] = float(np.median(vb))
            f["std"] = float(vb.std())
            f["amp"] = float(np.percentile(vb, 95) - np.percentile(vb, 5))
            f["snr"] = float(np.mean(np.abs(vb) / np.maximum(eb, 1e-9)))
            if vb.size > 3 and vb.std() > 0:
                f["skew"] = float(stats.skew(vb))
                f["kurt"] = float(stats.kurtosis(vb))
            peaks[name] = f["max"]
        for key in ("n", "max", "median", "std", "amp", "snr", "skew", "kurt"):
            feats[f"{name}_{key}"] = f.get(key, np.nan)
    for a, b in zip(bands[:-1], bands[1:]):
        pa, pb = peaks.get(a, np.nan), peaks.get(b, np.nan)
        feats[f"col_{a}-{b}"] = (-2.5 * math.log10(pa / pb)) if (pa > 0 and pb > 0) else np.nan
    # transient shape from the combined, shared-scale curve
    if t.size:
        i = int(np.argmax(v))
        half = v >= 0.5 * v[i]
        feats["t_peak_rel"] = float(t[i] - t[0])
        feats["rise_time"] = float(t[i] - t[half].min())
        feats["decline_time"] = float(t[half].max() - t[i])
        feats["frac_above_half"] = float(half.mean())
    if periodogram:  # shared with the networks' period inputs (same cache entry)
        pin = period_inputs(lc, PeriodOptions(min_period=min_period))
        for key in ("period_ls", "log_period", "power_ls", "fap_proxy"):
            feats[key] = pin[key]
        for name in bands:
            for key in ("famp", "A1", "R21", "R31", "phi21", "phi31"):
                feats[f"{name}_{key}"] = pin.get(f"{name}_{key}", np.nan)
    if bazin_fit:
        # brightest band (highest peak of normalised flux)
        if peaks:
            bname = max(peaks, key=peaks.get)
            sel = lcf.band == lcf.bands.index(bname)
            bz = fit_bazin(t[sel], v[sel], e[sel])
        else:
            bz = fit_bazin(np.array([]), np.array([]), np.array([]))
        feats["bazin_tau_rise"] = bz["tau_rise"]
        feats["bazin_tau_fall"] = bz["tau_fall"]
        feats["bazin_peak_mag"] = (lcf.zero_point - 2.5 * math.log10(bz["peak_flux"] * scale)
                                   if np.isfinite(bz["peak_flux"]) and bz["peak_flux"] > 0 else np.nan)
        # per-band peak magnitude at the Bazin peak time: colour at maximum
        for name in bands:
            k = lcf.bands.index(name) if name in lcf.bands else -1
            sel = lcf.band == k
            val = np.nan
            if sel.sum() >= 5 and np.isfinite(bz["t_peak"]):
                bb = bz if name == bname else fit_bazin(t[sel], v[sel], e[sel])
                if np.isfinite(bb["peak_flux"]) and bb["peak_flux"] > 0:
                    val = lcf.zero_point - 2.5 * math.log10(bb["peak_flux"] * scale)
            feats[f"{name}_peak_mag"] = val
    return feats


def feature_names(bands: Sequence[str], periodogram: bool = True, bazin_fit: bool = True) -> list[str]:
    """Column names of :func:`extract_features` for these bands and feature groups, in order."""
    names = ["n_obs", "duration", "scale_mag"]
    names += [f"{b}_{k}" for b in bands for k in ("n", "max", "median", "std", "amp", "snr", "skew", "kurt")]
    names += [f"col_{a}-{b}" for a, b in zip(bands[:-1], bands[1:])]
    names += ["t_peak_rel", "rise_time", "decline_time", "frac_above_half"]
    if periodogram:
        names += ["period_ls", "log_period", "power_ls", "fap_proxy"]
        names += [f"{b}_{k}" for b in bands for k in ("famp", "A1", "R21", "R31", "phi21", "phi31")]
    if bazin_fit:
        names += ["bazin_tau_rise", "bazin_tau_fall", "bazin_peak_mag"] + [f"{b}_peak_mag" for b in bands]
    return names


def feature_matrix(curves: LightCurveSet | Sequence[LightCurve], bands: Sequence[str] | None = None,
                   periodogram: bool = True, bazin_fit: bool = True, min_period: float = 0.1,
                   meta_keys: Sequence[str] = (), use_cache: bool = True, progress: bool = True
                   ) -> tuple[np.ndarray, list[str]]:
    """Feature matrix (N, F) float64 (NaN = undefined) and its column names.

    Each curve's features are cached by content (:mod:`astrotorch.lightcurves.cache`), so computing
    them again for the same curves (fit, then predict) is free; ``progress`` shows a tqdm bar when
    many curves need computing.
    """
    bands = tuple(bands) if bands is not None else tuple(curves.bands)  # type: ignore[union-attr]
    options = ("features", bands, bool(periodogram), bool(bazin_fit), float(min_period))
    rows = CACHE.map(curves, lambda lc: extract_features(lc, bands, periodogram=periodogram, bazin_fit=bazin_fit,
                                                         min_period=min_period),
                     options, use_cache, progress, desc="light-curve features")
    names = feature_names(bands, periodogram, bazin_fit)
    X = np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))
    names += [f"meta_{k}" for k in meta_keys]
    if meta_keys:
        M = np.array([[float(lc.meta.get(k, np.nan)) for k in meta_keys] for lc in curves], dtype=np.float64)
        X = np.hstack([X, M])
    return X, names


def degenerate_columns(X: np.ndarray) -> np.ndarray:
    """Boolean mask of columns that carry no information: every value NaN, or one constant value
    (NaN ignored). Tree boosters refuse all-NaN columns; constant ones only cost time."""
    X = np.asarray(X, dtype=np.float64)
    finite = np.isfinite(X)
    with np.errstate(invalid="ignore"):
        lo = np.where(finite, X, np.inf).min(axis=0)
        hi = np.where(finite, X, -np.inf).max(axis=0)
    return ~finite.any(axis=0) | (hi <= lo)
