"""Period inputs of a light curve: Lomb–Scargle period over all bands, alias refinement, power and the
phase-folded Fourier shape per band — the physics that tells RRab from RRc, computed once per curve.

Method (:func:`lomb_scargle_period`)
    Each band is centred on its median and divided by its robust spread (``astropy.stats.mad_std``)
    so bands of different amplitude share one periodogram (astropy ``LombScargle``, Press & Rybicki's
    "fasper" approximation: 3× faster than astropy 8's default "lra", same peaks). The
    ``n_candidates`` highest peaks and their ±1 d⁻¹ aliases are then compared by the χ² of a
    ``refine_terms``-harmonic Fourier fit per band (RR Lyrae are far from sinusoids, which is what
    makes plain Lomb–Scargle pick aliases). ``astropy.timeseries.LombScargleMultiband`` was measured
    as the first step instead (docs/results/lightcurves.md): slower per curve and no better after
    the same refinement, so it is not used.
Shape (:func:`fourier_shape`)
    Simon & Lee (1981) decomposition of each band folded at the refined period: A1, R21 = A2/A1,
    R31, φ21, φ31.

:func:`period_inputs` returns all of it as one flat dict per curve (fluxes normalised by the
curve's shared scale, :func:`~astrotorch.lightcurves.normalisation.shared_scale`, so amplitudes are
relative), cached by content (:mod:`astrotorch.lightcurves.cache`); :func:`period_table` does many
curves with a progress bar.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence

import numpy as np

from astrotorch.errors import InputValidationError
from astrotorch.lightcurves.cache import CACHE
from astrotorch.lightcurves.container import LightCurve
from astrotorch.lightcurves.normalisation import shared_scale

#: per-band phase-folded shape quantities (Simon & Lee 1981) and the 2-harmonic peak-to-peak amplitude
SHAPE_KEYS: tuple[str, ...] = ("A1", "R21", "R31", "phi21", "phi31", "famp")
#: per-curve period quantities
PERIOD_KEYS: tuple[str, ...] = ("period", "log_period", "period_ls", "power_ls", "fap_proxy")


@dataclasses.dataclass(frozen=True)
class PeriodOptions:
    """Settings of the period search (periods in days).

    min_period, max_period: search range; ``max_period=None`` → half the curve's time span.
    samples_per_peak: frequency-grid oversampling of the periodogram.
    n_candidates: highest periodogram peaks whose ±1 d⁻¹ aliases are compared.
    refine_terms: harmonics of the per-band Fourier fit that picks among the candidates (0: no refinement).
    """

    min_period: float = 0.1
    max_period: float | None = None
    samples_per_peak: int = 3
    n_candidates: int = 5
    refine_terms: int = 3

    def __post_init__(self) -> None:
        if not (self.min_period > 0 and math.isfinite(self.min_period)):
            raise InputValidationError(f"min_period must be a positive number of days, got {self.min_period!r}")
        if self.max_period is not None and not self.max_period > self.min_period:
            raise InputValidationError(f"max_period ({self.max_period!r}) must exceed min_period ({self.min_period})")
        if self.samples_per_peak < 1 or self.n_candidates < 1 or self.refine_terms < 0:
            raise InputValidationError("samples_per_peak and n_candidates must be ≥ 1, refine_terms ≥ 0")



@functools.lru_cache(maxsize=1)
def _fast_method_kwds() -> dict[str, str]:
    """Press & Rybicki's extirpolation ("fasper") for astropy's fast Lomb–Scargle: named explicitly from
    astropy 7 on, where the fast method gained an ``algorithm`` choice; before that it was the only one."""
    import inspect

    from astropy.timeseries.periodograms.lombscargle.implementations.fast_impl import lombscargle_fast

    return {"algorithm": "fasper"} if "algorithm" in inspect.signature(lombscargle_fast).parameters else {}

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


def _standardised_bands(lc: LightCurve) -> tuple[np.ndarray, np.ndarray]:
    """Each band centred on its median and divided by its robust spread (mad_std; 1 when zero)."""
    from astropy.stats import mad_std

    y = np.empty_like(lc.value)
    dy = np.empty_like(lc.error)
    for b in np.unique(lc.band):
        sel = lc.band == b
        med = np.median(lc.value[sel])
        spread = float(mad_std(lc.value[sel])) or 1.0
        y[sel] = (lc.value[sel] - med) / spread
        dy[sel] = np.maximum(lc.error[sel], 1e-6) / spread
    return y, dy


def lomb_scargle_period(lc: LightCurve, min_period: float = 0.1, max_period: float | None = None,
                        samples_per_peak: int = 3, n_candidates: int = 5, refine_terms: int = 3
                        ) -> dict[str, float]:
    """Period (days) from a Lomb–Scargle periodogram of all bands combined, refined among aliases
    (see the module doc). Returns ``period_ls`` (highest peak), ``power_ls`` (its standard-normalised
    power, 0–1), ``period`` (refined) and ``fap_proxy`` (second-highest / highest peak power); NaN
    for fewer than 8 observations."""
    from astropy.timeseries import LombScargle

    nan = {"period_ls": np.nan, "power_ls": np.nan, "period": np.nan, "fap_proxy": np.nan}
    t = lc.time
    if t.size < 8:
        return nan
    y, dy = _standardised_bands(lc)
    baseline = max(float(t.max() - t.min()), 1e-3)
    max_period = max_period or max(baseline / 2.0, min_period * 2.0)
    ls = LombScargle(t, y, dy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq, power = ls.autopower(minimum_frequency=1.0 / max_period, maximum_frequency=1.0 / min_period,
                                   samples_per_peak=samples_per_peak, method="fast",
                                   method_kwds=_fast_method_kwds())
    if freq.size < 3 or not np.isfinite(power).any():
        return nan
    power = np.nan_to_num(power)
    # local maxima, highest first
    peaks = np.flatnonzero((power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:])) + 1
    peaks = peaks[np.argsort(power[peaks])[::-1]][:n_candidates] if peaks.size else np.array([int(np.argmax(power))])
    best_f = float(freq[peaks[0]])
    out = {"period_ls": 1.0 / best_f, "power_ls": float(power[peaks[0]]),
           "fap_proxy": float(power[peaks[1]] / power[peaks[0]]) if peaks.size > 1 and power[peaks[0]] > 0 else 0.0}
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pw = ls.power(fine)
        f_fine = float(fine[int(np.argmax(np.nan_to_num(pw)))])
        chi, _ = multiband_fourier_chi2(lc, 1.0 / f_fine, refine_terms)
        if chi < best_chi:
            best, best_chi = 1.0 / f_fine, chi
    out["period"] = best
    return out


def _normalised_flux(lc: LightCurve) -> LightCurve:
    """Finite flux points divided by the curve's shared scale (relative amplitudes, colours kept)."""
    f = lc.to_flux()
    f = f.select(np.isfinite(f.value) & np.isfinite(f.error))
    s = shared_scale(f.value)
    return f.copy(value=f.value / s, error=f.error / s)


def compute_period_inputs(lc: LightCurve, options: PeriodOptions = PeriodOptions()) -> dict[str, float]:
    """:data:`PERIOD_KEYS` and, for every band the curve has, ``{band}_{key}`` for :data:`SHAPE_KEYS`
    (uncached; :func:`period_inputs` is the cached entry point)."""
    f = _normalised_flux(lc)
    ls = lomb_scargle_period(f, options.min_period, options.max_period, options.samples_per_peak,
                             options.n_candidates, options.refine_terms)
    p = ls["period"]
    out = {"period": p, "log_period": math.log10(p) if np.isfinite(p) and p > 0 else np.nan,
           "period_ls": ls["period_ls"], "power_ls": ls["power_ls"], "fap_proxy": ls["fap_proxy"]}
    amps = multiband_fourier_chi2(f, p, 2)[1] if np.isfinite(p) else {}
    for k in np.unique(f.band):
        name = f.bands[int(k)]
        sel = f.band == k
        shape = fourier_shape(f.time[sel], f.value[sel], f.error[sel], p)
        shape["famp"] = amps.get(int(k), np.nan)
        for key in SHAPE_KEYS:
            out[f"{name}_{key}"] = float(shape[key])
    return out


def period_inputs(lc: LightCurve, options: PeriodOptions = PeriodOptions(), use_cache: bool = True) -> dict[str, float]:
    """Period quantities of one curve (see :func:`compute_period_inputs`), cached by content."""
    return dict(CACHE.map([lc], lambda c: compute_period_inputs(c, options), options, use_cache, progress=False)[0])


def period_columns(bands: Sequence[str]) -> list[str]:
    """Column names of :func:`period_table` for these bands."""
    return list(PERIOD_KEYS) + [f"{b}_{k}" for b in bands for k in SHAPE_KEYS]


def period_table(curves: Sequence[LightCurve], bands: Sequence[str], options: PeriodOptions = PeriodOptions(),
                 use_cache: bool = True, progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """(N, F) float64 table of :data:`PERIOD_KEYS` and ``{band}_{key}`` for every band in ``bands``
    (NaN where a curve lacks the band or has too few points) and its column names."""
    rows = CACHE.map(curves, lambda c: compute_period_inputs(c, options), options, use_cache, progress,
                     desc="period search")
    names = period_columns(bands)
    table = np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64)
    return table.reshape(len(rows), len(names)), names


def physics_vector(table: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Network-ready transform of a :func:`period_table`: log amplitudes, R21/R31 clipped to [0, 3],
    phases as (sin, cos), plus a 0/1 column per band saying its shape is undefined. NaN stays NaN
    (the model fills it after standardising)."""
    cols: list[np.ndarray] = []
    out_names: list[str] = []
    for j, n in enumerate(names):
        v = table[:, j]
        key = n.rsplit("_", 1)[-1] if "_" in n and n not in PERIOD_KEYS else n
        if n == "period":
            continue  # log_period carries it
        if n == "period_ls":
            v = np.log10(np.where(v > 0, v, np.nan))
            n = "log_period_ls"
        elif key in ("A1", "famp"):
            v = np.log10(np.clip(v, 1e-4, None))
        elif key in ("R21", "R31"):
            v = np.clip(v, 0.0, 3.0)
        elif key in ("phi21", "phi31"):
            cols += [np.sin(v), np.cos(v)]
            out_names += [f"sin_{n}", f"cos_{n}"]
            continue
        cols.append(v)
        out_names.append(n)
    bands = [n[: -len("_A1")] for n in names if n.endswith("_A1")]
    for b in bands:
        cols.append(np.isnan(table[:, list(names).index(f"{b}_A1")]).astype(np.float64))
        out_names.append(f"{b}_shape_missing")
    return np.stack(cols, axis=1) if cols else np.zeros((table.shape[0], 0)), out_names


def physics_names(bands: Sequence[str]) -> list[str]:
    """Column names of :func:`physics_vector` for these bands."""
    names = period_columns(bands)
    return physics_vector(np.full((1, len(names)), np.nan), names)[1]


__all__ = ["PeriodOptions", "SHAPE_KEYS", "PERIOD_KEYS", "lomb_scargle_period", "fourier_shape",
           "multiband_fourier_chi2", "compute_period_inputs", "period_inputs", "period_table", "period_columns",
           "physics_vector", "physics_names"]
