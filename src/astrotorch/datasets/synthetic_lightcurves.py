"""Synthetic LSST-like multi-band light curves: the built-in default data set of the light-curve models.

Everything is deterministic given ``seed``. Fluxes are in µJy (AB zero point 23.9).

Cadence
    ``n_seasons`` observing seasons of ``season_days`` days a year; each night an object is visited
    with probability ``visit_prob`` (1–2 visits ~30 min apart, different bands, band mix of the
    LSST wide-fast-deep survey); a fraction ``ddf_fraction`` of objects sit in "deep drilling
    fields" with near-nightly visits and 2–4 visits a night, so lengths vary by ~10×.
Noise
    Single-visit 5σ depths (u g r i z y = 23.9 25.0 24.7 24.0 23.3 22.1 mag, ±0.3 mag per visit):
    σ_f = f_5σ / 5 plus a 1% calibration floor; Gaussian noise on the flux.
Classes (observer frame = rest frame × (1 + z) for every timescale)
    * ``SNIa``: Bazin rise/decline (τ_rise ≈ 3 d, τ_fall 10–27 d from blue to red, stretch ~ N(1, 0.1)),
      secondary i/z/y maximum ~25 d after peak, M = −19.3 ± 0.15 mag.
    * ``SNIbc``: faster, redder, M = −17.5 ± 0.6; ``SNII``: plateau of ~100 d then a drop, blue bands
      fading first, M = −16.8 ± 0.8.
    * ``KN``: kilonova, rise < 1 d, decline within days, faster in the blue (τ 1–5 d), M = −16 ± 0.5, z ≤ 0.1.
    * ``RRL``: RR Lyrae, P = 0.3–0.9 d, sawtooth-like Fourier template, amplitude falling from u to y.
    * ``EB``: eclipsing binary, P = 0.5–10 d, primary and secondary Gaussian eclipses.
    * ``AGN``: damped random walk (exact Ornstein–Uhlenbeck sampling), τ = 100–500 d rest frame,
      shared between bands with larger amplitude in the blue, 0.2 ≤ z ≤ 2.
    * ``mu-lens``: achromatic single-lens Paczyński magnification, t_E = 10–100 d, u0 = 0.05–1.
Distances and dust
    Extragalactic classes get a redshift; their peak flux follows the distance modulus of
    astropy's Planck18 cosmology (K-corrections are ignored apart from a simple reddening with z).
    Every object gets Milky-Way E(B−V) ~ Exp(0.05) mag, dimming band b by R_b·E(B−V) (R = 4.145,
    3.237, 2.273, 1.684, 1.323, 1.088 for u..y). Meta keys: ``redshift`` (true), ``hostgal_photoz``
    (σ = 0.03(1+z)), ``mwebv``, ``ddf``, ``peak_mjd`` (transients), ``period`` (periodic, days).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from astrotorch.errors import InputValidationError
from astrotorch.lightcurves.container import AB_ZERO_POINT_UJY, LSST_BANDS, LightCurve, LightCurveSet

DEFAULT_CLASSES: tuple[str, ...] = ("SNIa", "SNIbc", "SNII", "KN", "RRL", "EB", "AGN", "mu-lens")
#: mildly imbalanced default class mix (SN Ia and variables common, kilonovae and microlensing rare)
DEFAULT_CLASS_PROBS: dict[str, float] = {"SNIa": 0.20, "SNIbc": 0.09, "SNII": 0.15, "KN": 0.06, "RRL": 0.14,
                                         "EB": 0.14, "AGN": 0.15, "mu-lens": 0.07}
M5 = np.array([23.9, 25.0, 24.7, 24.0, 23.3, 22.1])  # single-visit 5σ depths (mag)
BAND_PROBS = np.array([0.07, 0.10, 0.22, 0.22, 0.20, 0.19])  # LSST WFD visit mix
R_EXT = np.array([4.145, 3.237, 2.273, 1.684, 1.323, 1.088])  # A_b / E(B-V)
MJD0 = 60000.0

_DM_GRID: tuple[np.ndarray, np.ndarray] | None = None


def distance_modulus(z: np.ndarray | float) -> np.ndarray:
    """Distance modulus (mag) from astropy's Planck18, interpolated on a fine grid for speed."""
    global _DM_GRID
    if _DM_GRID is None:
        from astropy.cosmology import Planck18

        zg = np.geomspace(1e-4, 3.5, 2000)
        _DM_GRID = (zg, Planck18.distmod(zg).value)
    zg, dm = _DM_GRID
    return np.interp(np.log(np.asarray(z, dtype=np.float64)), np.log(zg), dm)


def _cadence(rng: np.random.Generator, n_seasons: int, season_days: float, visit_prob: float, ddf: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """Observation times (days) and band indices for one object."""
    start = rng.uniform(0, 365.25 - season_days)  # where in the year this field is observable
    p = min(0.95, visit_prob * 3.0) if ddf else visit_prob
    times, bands = [], []
    for s in range(n_seasons):
        nights = np.arange(int(season_days)) + s * 365.25 + start
        seen = nights[rng.random(nights.size) < p]
        for night in seen:
            nvis = rng.integers(2, 5) if ddf else rng.integers(1, 3)
            b = rng.choice(6, size=nvis, replace=nvis > 6, p=BAND_PROBS)
            t = night + rng.uniform(-0.15, 0.15) + np.arange(nvis) * 0.021  # ~30 min apart
            times.append(t)
            bands.append(b)
    if not times:
        night = start + rng.uniform(0, season_days)
        times, bands = [np.array([night])], [np.array([rng.choice(6, p=BAND_PROBS)])]
    t = np.concatenate(times) + MJD0
    return t, np.concatenate(bands).astype(np.int64)


def _season_time(rng: np.random.Generator, t: np.ndarray) -> float:
    """A peak time inside the observed span, near a random observation (so the event is seen)."""
    return float(rng.choice(t) + rng.uniform(-20, 20))


def _bazin(t: np.ndarray, t0: float, tr: np.ndarray, tf: np.ndarray) -> np.ndarray:
    x = t - t0
    return np.exp(-np.clip(x / tf, -50, 50)) / (1.0 + np.exp(np.clip(-x / tr, -50, 50)))


def _peak_normalised(shape: np.ndarray, t: np.ndarray, t0: float, tr: np.ndarray, tf: np.ndarray) -> np.ndarray:
    # Bazin maximum at t0 + tr·ln(tf/tr − 1); normalise so the peak value is 1 in every band
    tpk = t0 + tr * np.log(np.maximum(tf / tr - 1.0, 1.0 + 1e-6))
    return shape / _bazin(tpk, t0, tr, tf)


def _transient(cls: str, rng: np.random.Generator, t: np.ndarray, b: np.ndarray, z: float
               ) -> tuple[np.ndarray, dict]:
    """Rest-frame template, time-dilated and distance-dimmed: peak-normalised shape × peak flux (µJy)."""
    t0 = _season_time(rng, t)
    d = 1.0 + z  # time dilation
    if cls == "SNIa":
        s = rng.normal(1.0, 0.1)
        tr = np.full(6, 3.0) * s * d
        tf = np.array([10.0, 13.0, 18.0, 22.0, 25.0, 27.0])[b] * s * d
        shape = _peak_normalised(_bazin(t, t0, tr[b], tf), t, t0, tr[b], tf)
        bump = np.array([0, 0, 0.1, 0.45, 0.5, 0.5])[b] * np.exp(-0.5 * ((t - t0 - 25 * s * d) / (6 * d)) ** 2)
        shape = shape + bump * (t > t0)
        M = rng.normal(-19.3, 0.15) - 0.9 * (s - 1.0)  # Phillips-like: broader is brighter
        col = np.array([0.5, 0.0, 0.1, 0.6, 0.6, 0.7])
    elif cls == "SNIbc":
        tr = np.full(6, rng.uniform(4, 7)) * d
        tf = np.array([8.0, 11.0, 15.0, 18.0, 20.0, 22.0])[b] * rng.uniform(0.8, 1.3) * d
        shape = _peak_normalised(_bazin(t, t0, tr[b], tf), t, t0, tr[b], tf)
        M = rng.normal(-17.5, 0.6)
        col = np.array([1.3, 0.5, 0.0, 0.1, 0.2, 0.3])
    elif cls == "SNII":
        tr = rng.uniform(3, 8) * d
        plateau = rng.uniform(70, 110) * d
        tdecl = np.array([20.0, 45.0, 150.0, 250.0, 300.0, 300.0])[b] * d
        rise = 1.0 / (1.0 + np.exp(np.clip(-(t - t0) / tr, -50, 50)))
        drop = 1.0 / (1.0 + np.exp(np.clip((t - t0 - plateau) / (5 * d), -50, 50)))
        tail = 0.1 * np.exp(-np.clip((t - t0 - plateau) / (111 * d), -50, 50)) * (1 - drop)
        shape = rise * (np.exp(-np.clip((t - t0) / tdecl, 0, 50)) * drop + tail)
        M = rng.normal(-16.8, 0.8)
        col = np.array([0.3, 0.0, 0.0, 0.1, 0.2, 0.3])
    elif cls == "KN":
        tr = np.full(6, 0.5) * d
        tf = np.array([1.0, 1.5, 2.5, 3.5, 4.5, 5.0])[b] * d
        shape = _peak_normalised(_bazin(t, t0, tr[b], tf), t, t0, tr[b], tf)
        M = rng.normal(-16.0, 0.5)
        col = np.array([1.0, 0.5, 0.1, 0.0, 0.0, 0.1])
    else:
        raise InputValidationError(f"unknown transient class {cls!r}")
    col = col + 1.5 * z * np.array([1.0, 0.6, 0.2, 0.0, -0.1, -0.2])  # crude redshift reddening
    mag_peak = M + distance_modulus(z) + col[b]
    return np.maximum(shape, 0.0) * 10 ** (-0.4 * (mag_peak - AB_ZERO_POINT_UJY)), {"peak_mjd": t0}


def _periodic(cls: str, rng: np.random.Generator, t: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, dict]:
    m0 = rng.uniform(16.5, 21.0)
    col = np.array([1.2, 0.2, 0.0, -0.05, -0.05, -0.05]) if cls == "RRL" else rng.normal(0, 0.3) * np.linspace(1, -0.5, 6)
    if cls == "RRL":
        P = rng.uniform(0.3, 0.9)
        amp = np.array([1.0, 0.9, 0.7, 0.55, 0.5, 0.45])[b] * rng.uniform(0.4, 1.1)
        ph = ((t - rng.uniform(0, P)) / P) % 1.0
        # sawtooth-like: fast rise in the first ~15% of the cycle, slow decline (in magnitudes)
        saw = np.where(ph < 0.15, ph / 0.15, 1.0 - (ph - 0.15) / 0.85)
        dmag = -amp * (saw - 0.5)
    elif cls == "EB":
        P = 10 ** rng.uniform(np.log10(0.5), 1.0)
        d1, w = rng.uniform(0.1, 0.8), rng.uniform(0.03, 0.1)
        d2 = d1 * rng.uniform(0.1, 0.9)
        ph = ((t - rng.uniform(0, P)) / P) % 1.0
        dist1 = np.minimum(ph, 1 - ph)
        dist2 = np.abs(ph - 0.5)
        chrom = np.array([1.1, 1.05, 1.0, 0.97, 0.95, 0.93])[b]
        dmag = chrom * (d1 * np.exp(-0.5 * (dist1 / w) ** 2) + d2 * np.exp(-0.5 * (dist2 / w) ** 2))
    else:
        raise InputValidationError(f"unknown periodic class {cls!r}")
    return 10 ** (-0.4 * (m0 + col[b] + dmag - AB_ZERO_POINT_UJY)), {"period": P}


def _agn(rng: np.random.Generator, t: np.ndarray, b: np.ndarray, z: float) -> np.ndarray:
    tau = rng.uniform(100, 500) * (1 + z)
    sf = rng.uniform(0.1, 0.3)  # mag, asymptotic structure function / sqrt(2)
    x = np.empty(t.size)
    x[0] = rng.normal(0, sf)
    dt = np.diff(t)
    a = np.exp(-dt / tau)
    noise = rng.normal(0, 1, t.size - 1) * sf * np.sqrt(1 - a**2)
    for i in range(1, t.size):  # exact OU update on irregular times
        x[i] = a[i - 1] * x[i - 1] + noise[i - 1]
    amp = np.array([1.3, 1.15, 1.0, 0.9, 0.8, 0.7])[b]
    m0 = rng.uniform(19.0, 22.0)
    col = np.array([0.1, 0.0, 0.0, 0.05, 0.1, 0.15])
    return 10 ** (-0.4 * (m0 + col[b] + amp * x - AB_ZERO_POINT_UJY))


def _microlens(rng: np.random.Generator, t: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, dict]:
    t0 = _season_time(rng, t)
    tE, u0 = rng.uniform(10, 100), rng.uniform(0.05, 1.0)
    u = np.sqrt(u0**2 + ((t - t0) / tE) ** 2)
    A = (u**2 + 2) / (u * np.sqrt(u**2 + 4))  # Paczyński magnification, achromatic
    m0 = rng.uniform(17.0, 22.0)
    col = np.array([1.0, 0.3, 0.0, -0.1, -0.15, -0.2])
    return A * 10 ** (-0.4 * (m0 + col[b] - AB_ZERO_POINT_UJY)), {"peak_mjd": t0}


def make_synthetic_lightcurves(n: int = 2000, classes: Sequence[str] = DEFAULT_CLASSES,
                               class_probs: dict[str, float] | None = None, seed: int = 0,
                               n_seasons: int = 2, season_days: float = 180.0, visit_prob: float = 0.3,
                               ddf_fraction: float = 0.1, drop_fraction: float = 0.0,
                               balanced: bool = False, progress: bool = True) -> LightCurveSet:
    """Generate ``n`` labelled synthetic light curves (µJy, bands u g r i z y); see the module doc.

    ``class_probs`` (default :data:`DEFAULT_CLASS_PROBS` restricted to ``classes``) sets the class mix;
    ``balanced=True`` gives equal numbers per class. ``drop_fraction`` randomly removes that fraction of
    each object's points (the seed's augmentation). Labels are class names; ``class_names`` of the
    returned set is ``list(classes)``. ``progress`` shows a tqdm bar for large sets (≥ 5,000 curves).
    """
    if n < 1:
        raise InputValidationError(f"n must be ≥ 1, got {n}")
    unknown = set(classes) - set(DEFAULT_CLASSES)
    if unknown:
        raise InputValidationError(f"unknown classes {sorted(unknown)}; available: {DEFAULT_CLASSES}")
    rng = np.random.default_rng(seed)
    if balanced:
        labels = np.array([classes[i % len(classes)] for i in range(n)], dtype=object)
        rng.shuffle(labels)
    else:
        probs = class_probs or {c: DEFAULT_CLASS_PROBS[c] for c in classes}
        p = np.array([probs[c] for c in classes], dtype=np.float64)
        labels = rng.choice(np.array(classes, dtype=object), size=n, p=p / p.sum())
    from tqdm.auto import tqdm

    curves = []
    for i, cls in enumerate(tqdm(labels, desc="synthetic light curves", unit="curve", mininterval=1.0, leave=False,
                                 disable=not progress or n < 5000)):
        orng = np.random.default_rng([seed, i])  # per-object stream: object i does not depend on n
        ddf = bool(orng.random() < ddf_fraction)
        t, b = _cadence(orng, n_seasons, season_days, visit_prob, ddf)
        meta: dict = {"ddf": float(ddf)}
        z = 0.0
        if cls in ("SNIa", "SNIbc", "SNII"):
            z = float(orng.uniform(0.05, {"SNIa": 0.8, "SNIbc": 0.35, "SNII": 0.3}[cls]))
            f, extra = _transient(cls, orng, t, b, z)
        elif cls == "KN":
            z = float(orng.uniform(0.01, 0.1))
            f, extra = _transient(cls, orng, t, b, z)
        elif cls in ("RRL", "EB"):
            f, extra = _periodic(cls, orng, t, b)
        elif cls == "AGN":
            z = float(orng.uniform(0.2, 2.0))
            f, extra = _agn(orng, t, b, z), {}
        else:  # mu-lens
            f, extra = _microlens(orng, t, b)
        meta.update(extra)
        ebv = float(orng.exponential(0.05))
        f = f * 10 ** (-0.4 * R_EXT[b] * ebv)  # Milky-Way extinction
        m5 = M5[b] + orng.normal(0, 0.3, b.size)
        sigma = np.sqrt((10 ** (-0.4 * (m5 - AB_ZERO_POINT_UJY)) / 5.0) ** 2 + (0.01 * f) ** 2)
        obs = f + orng.normal(0, 1, f.size) * sigma
        meta.update(redshift=z, mwebv=ebv,
                    hostgal_photoz=max(0.0, z + orng.normal(0, 0.03 * (1 + z))) if z > 0 else 0.0)
        lc = LightCurve(time=t, value=obs, error=sigma, band=b, bands=LSST_BANDS, kind="flux",
                        zero_point=AB_ZERO_POINT_UJY, object_id=f"syn{seed}_{i}", meta=meta, label=str(cls))
        if drop_fraction > 0:
            lc = lc.drop_fraction(drop_fraction, orng)
        curves.append(lc)
    return LightCurveSet(curves, bands=LSST_BANDS, class_names=list(classes))
