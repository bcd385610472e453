"""Standard light-curve features for the gradient-boosting baseline and physics-informed inputs.

Per object (fluxes normalised by one shared scale, so colours survive):

* global: number of points, duration (days), brightness (magnitude of the shared flux scale);
* per band: count, max, median, standard deviation, amplitude (95th − 5th percentile), skewness,
  kurtosis, mean S/N (missing band → NaN, which HistGradientBoosting handles natively);
* colours: −2.5 log10 of the ratio of neighbouring bands' peak fluxes (mag);
* Lomb–Scargle (astropy) period (days) and power on all bands combined (each band centred and
  scaled by its own spread first), the best period refined among aliases by a multi-harmonic fit;
  the g-band (or bluest band) amplitude of that fit;
* transient shape: time of peak, rise and decline times (days, between half-maximum and peak), and
  a Bazin fit (Bazin et al. 2009) in the brightest band: τ_rise, τ_fall (days), peak magnitude.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from scipy import optimize, stats

from astrotorch.lightcurves.container import LightCurve, LightCurveSet
from astrotorch.lightcurves.normalisation import shared_scale


def _fourier_design(t: np.ndarray, period: float, n_terms: int) -> np.ndarray:
    ph = 2.0 * np.pi * t / period
    cols = [np.ones_like(t)]
    for k in range(1, n_terms + 1):
        cols += [np.sin(k * ph), np.cos(k * ph)]
    return np.stack(cols, axis=1)


def multiband_fourier_chi2(lc: LightCurve, period: float, n_terms: int = 3) -> tuple[float, dict[int, float]]:
    """χ² of a per-band ``n_terms``-harmonic Fourier fit at ``period`` (days), and each band's
    peak-to-peak model amplitude (in the light curve's units)."""
    chi2 = 0.0
    amps: dict[int, float] = {}
    for b in np.unique(lc.band):
        sel = lc.band == b
        t, y, e = lc.time[sel], lc.value[sel], np.maximum(lc.error[sel], 1e-6)
        if t.size < 2 * n_terms + 2:
            continue
        X = _fourier_design(t, period, n_terms)
        w = 1.0 / e
        coef, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
        chi2 += float(np.sum(((X @ coef - y) * w) ** 2))
        grid = _fourier_design(np.linspace(0, period, 64), period, n_terms) @ coef
        amps[int(b)] = float(grid.max() - grid.min())
    return chi2, amps


def fourier_shape(t: np.ndarray, y: np.ndarray, e: np.ndarray, period: float, n_terms: int = 3) -> dict[str, float]:
    """Fourier decomposition of a phase-folded curve (Simon & Lee 1981): y = A0 + Σ A_k cos(kωt + φ_k).

    Returns ``A1`` (semi-amplitude of the fundamental, units of ``y``), ``R21 = A2/A1``,
    ``R31 = A3/A1`` and ``phi21 = φ2 − 2φ1``, ``phi31 = φ3 − 3φ1`` (radians, modulo 2π) — the classical
    RRab (sawtooth: large R21) vs RRc (near-sinusoidal: small R21) discriminants. NaN when there are
    too few points.
    """
    out = dict.fromkeys(("A1", "R21", "R31", "phi21", "phi31"), np.nan)
    if t.size < 2 * n_terms + 3 or not np.isfinite(period) or period <= 0:
        return out
    X = _fourier_design(t, period, n_terms)
    w = 1.0 / np.maximum(e, 1e-6)
    coef, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
    s, c = coef[1::2], coef[2::2]  # y = Σ s_k sin(kωt) + c_k cos(kωt) = Σ A_k cos(kωt + φ_k)
    amp = np.hypot(s, c)
    phi = np.arctan2(-s, c)
    if amp[0] <= 0:
        return out
    out.update(A1=float(amp[0]), R21=float(amp[1] / amp[0]), R31=float(amp[2] / amp[0]) if n_terms > 2 else np.nan,
               phi21=float((phi[1] - 2 * phi[0]) % (2 * np.pi)),
               phi31=float((phi[2] - 3 * phi[0]) % (2 * np.pi)) if n_terms > 2 else np.nan)
    return out


def lomb_scargle_period(lc: LightCurve, min_period: float = 0.1, max_period: float | None = None,
                        samples_per_peak: int = 3, n_candidates: int = 5, refine_terms: int = 3
                        ) -> dict[str, float]:
    """Period (days) from a Lomb–Scargle periodogram of all bands combined, refined among aliases.

    Each band is centred on its median and divided by its robust spread so bands of different
    amplitude can share one periodogram. The ``n_candidates`` highest peaks and their ±1 d⁻¹
    aliases are then compared by the χ² of a ``refine_terms``-harmonic per-band Fourier fit (RR Lyrae
    light curves are far from sinusoids, which is what makes plain Lomb–Scargle pick aliases).
    Returns ``period_ls`` (highest peak), ``power_ls``, ``period`` (refined) and ``fap_proxy``
    (second-highest / highest power).
    """
    from astropy.timeseries import LombScargle

    t = lc.time
    y = np.empty_like(lc.value)
    dy = np.empty_like(lc.error)
    for b in np.unique(lc.band):
        sel = lc.band == b
        med = np.median(lc.value[sel])
        spread = 1.4826 * np.median(np.abs(lc.value[sel] - med)) or 1.0
        y[sel] = (lc.value[sel] - med) / spread
        dy[sel] = np.maximum(lc.error[sel], 1e-6) / spread
    baseline = max(float(t.max() - t.min()), 1e-3)
    nan = {"period_ls": np.nan, "power_ls": np.nan, "period": np.nan, "fap_proxy": np.nan}
    if t.size < 8:
        return nan
    max_period = max_period or max(baseline / 2.0, min_period * 2.0)
    ls = LombScargle(t, y, dy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq, power = ls.autopower(minimum_frequency=1.0 / max_period, maximum_frequency=1.0 / min_period,
                                   samples_per_peak=samples_per_peak, method="fast")
    if freq.size < 3 or not np.isfinite(power).any():
        return nan
    power = np.nan_to_num(power)
    # local maxima, highest first
    peaks = np.flatnonzero((power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:])) + 1
    peaks = peaks[np.argsort(power[peaks])[::-1]][:n_candidates] if peaks.size else np.array([int(np.argmax(power))])
    best_f = float(freq[peaks[0]])
    out = {"period_ls": 1.0 / best_f, "power_ls": float(power[peaks[0]]),
           "fap_proxy": float(power[peaks[1]] / power[peaks[0]]) if peaks.size > 1 else 0.0}
    if refine_terms <= 0:
        out["period"] = out["period_ls"]
        return out
    cands = set()
    df = 1.0 / (samples_per_peak * baseline)
    for p in peaks:
        f0 = float(freq[p])
        for alias in (0.0, 1.0, -1.0):  # sidereal-day aliases of ground-based cadence
            f = f0 + alias
            if 1.0 / max_period <= f <= 1.0 / min_period:
                cands.add(round(f / df) * df)
    best, best_chi = out["period_ls"], np.inf
    for f in sorted(cands):
        # fine local search around each candidate frequency
        fine = f + df * np.linspace(-1.0, 1.0, 11)
        fine = fine[fine > 0]
        pw = ls.power(fine)
        f_fine = float(fine[int(np.argmax(pw))])
        chi, _ = multiband_fourier_chi2(lc, 1.0 / f_fine, refine_terms)
        if chi < best_chi:
            best, best_chi = 1.0 / f_fine, chi
    out["period"] = best
    return out


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
    if periodogram:
        ls = lomb_scargle_period(lcf, min_period=min_period)
        feats["period_ls"] = ls["period_ls"]
        feats["log_period"] = math.log10(ls["period"]) if np.isfinite(ls["period"]) else np.nan
        feats["power_ls"] = ls["power_ls"]
        feats["fap_proxy"] = ls["fap_proxy"]
        if np.isfinite(ls["period"]):
            _, amps = multiband_fourier_chi2(lcf.copy(value=v, error=e), ls["period"], 2)
            for name in bands:
                k = lcf.bands.index(name) if name in lcf.bands else -1
                feats[f"{name}_famp"] = amps.get(k, np.nan)
        else:
            for name in bands:
                feats[f"{name}_famp"] = np.nan
        for name in bands:  # phase-folded shape at the refined period (magnitude-free: normalised flux)
            k = lcf.bands.index(name) if name in lcf.bands else -1
            sel = lcf.band == k
            fs = fourier_shape(t[sel], v[sel], e[sel], ls["period"])
            for key, val in fs.items():
                feats[f"{name}_{key}"] = val
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


def feature_matrix(curves: LightCurveSet | Sequence[LightCurve], bands: Sequence[str] | None = None,
                   periodogram: bool = True, bazin_fit: bool = True, min_period: float = 0.1,
                   meta_keys: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """Feature matrix (N, F) float64 (NaN = undefined) and its column names."""
    bands = tuple(bands) if bands is not None else tuple(curves.bands)  # type: ignore[union-attr]
    rows = []
    for lc in curves:
        f = extract_features(lc, bands, periodogram=periodogram, bazin_fit=bazin_fit, min_period=min_period)
        for k in meta_keys:
            f[f"meta_{k}"] = float(lc.meta.get(k, np.nan))
        rows.append(f)
    names = list(rows[0].keys())
    return np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64), names
