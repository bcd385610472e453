"""Observing the noise-free synthetic spectra: continuum, photon noise, S/N and APOGEE-like bitmasks.

Photon-like Gaussian noise at a chosen per-pixel S/N (chip throughput varies), per-pixel error arrays;
APOGEE PIXMASK-like bitmasks (bad detector columns, cosmic rays, persistence in the blue chip,
sky-line residuals) whose pixels are corrupted and have inflated errors; optionally a continuum
(Planck slope times a per-chip response). Used by :func:`astrotorch.datasets.spectra.synthetic_spectra`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from astropy import constants as const
from astropy import units as u

from astrotorch.datasets.spectra_grid import (
    BAD_PIXEL_BITS,
    N_PIXELS,
    PIXMASK_BITS,
    apogee_wavelength,
    chip_slices,
)
from astrotorch.datasets.spectra_lines import _LINE_SEED
from astrotorch.errors import InputValidationError

# OH airglow lines that leave sky-subtraction residuals (SIG_SKYLINE), vacuum Å
_SKYLINES = (15187.1, 15240.9, 15287.9, 15332.4, 15395.3, 15432.2, 15570.0, 15597.6, 15631.6, 15655.3,
             15702.9, 15833.6, 15888.0, 15972.6, 16030.8, 16079.7, 16128.6, 16194.6, 16235.4, 16317.1,
             16350.2, 16388.5, 16442.2, 16475.3, 16502.3, 16553.8, 16692.4, 16708.8, 16768.3, 16840.5,
             16903.7, 16921.0)


# ----------------------------------------------------------------------------------------------------
# Continuum, noise, bitmasks
# ----------------------------------------------------------------------------------------------------
def _continuum(teff: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Continuum (N, 7514): Planck slope at Teff times a per-chip response with mild per-star drifts."""
    wave = apogee_wavelength() * u.AA
    t = teff[:, None] * u.K
    x = (const.h * const.c / (wave[None, :] * const.k_B * t)).to(u.dimensionless_unscaled).value
    planck = 1.0 / (wave.value[None, :] ** 5 * np.expm1(x))
    planck = planck / planck.mean(axis=1, keepdims=True)
    cont = np.empty_like(planck)
    gains = (1.0, 1.25, 0.8)
    for k, s in enumerate(chip_slices()):
        n_pix = s.stop - s.start
        y = np.linspace(-1.0, 1.0, n_pix)
        # blaze-like response falling towards the chip edges, plus a per-star flux-calibration tilt
        tilt = rng.normal(0.0, 0.03, (len(teff), 1))
        cont[:, s] = gains[k] * (1.0 - 0.25 * y ** 2)[None, :] * (1.0 + tilt * y[None, :]) * planck[:, s]
    return cont


def _throughput() -> np.ndarray:
    """Relative S/N per pixel (mean 1): the red chip is less sensitive, edges of chips are noisier."""
    out = np.empty(N_PIXELS)
    for k, s in enumerate(chip_slices()):
        y = np.linspace(-1.0, 1.0, s.stop - s.start)
        out[s] = (1.05, 1.05, 0.9)[k] * (1.0 - 0.15 * y ** 2)
    return out / out.mean()


def _bitmask(n: int, rng: np.random.Generator) -> np.ndarray:
    """APOGEE_PIXMASK-like bitmasks (N, 7514) int32: fixed bad columns, cosmic rays, persistence, sky."""
    mask = np.zeros((n, N_PIXELS), dtype=np.int32)
    bad_rng = np.random.default_rng(_LINE_SEED + 1)  # detector defects are the same for every star
    bad_cols = bad_rng.choice(N_PIXELS, size=24, replace=False)
    flat_cols = bad_rng.choice(N_PIXELS, size=12, replace=False)
    mask[:, bad_cols] |= 1 << PIXMASK_BITS["BADPIX"]
    mask[:, flat_cols] |= 1 << PIXMASK_BITS["BADFLAT"]
    # cosmic rays: ~0.05 % of pixels, two-pixel hits
    cr = rng.random((n, N_PIXELS)) < 5e-4
    cr[:, 1:] |= cr[:, :-1]
    mask[cr] |= 1 << PIXMASK_BITS["CRPIX"]
    # persistence affects the blue end of the blue chip for ~10 % of stars (low-level bit only)
    persist = rng.random(n) < 0.10
    mask[np.ix_(persist, np.arange(0, 900))] |= 1 << PIXMASK_BITS["PERSIST_LOW"]
    # bright sky-line residuals, each flagged with probability 0.5 per spectrum (±2 pixels)
    wave = apogee_wavelength()
    for lam in _SKYLINES:
        c = int(np.searchsorted(wave, lam))
        if abs(wave[min(c, N_PIXELS - 1)] - lam) > 2.0:
            continue  # falls in a chip gap
        hit = rng.random(n) < 0.5
        mask[np.ix_(hit, np.arange(max(c - 2, 0), min(c + 3, N_PIXELS)))] |= 1 << PIXMASK_BITS["SIG_SKYLINE"]
    return mask


def _bad(mask: np.ndarray) -> np.ndarray:
    bits = sum(1 << b for b in BAD_PIXEL_BITS)
    return (mask & bits) != 0

def _check_snr(snr: Any, name: str) -> None:
    arr = np.atleast_1d(np.asarray(snr, dtype=float))
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputValidationError(f"{name} must be positive and finite, got {snr!r}")


def _draw_snr(snr: float | tuple[float, float], n: int, rng: np.random.Generator) -> np.ndarray:
    """A scalar S/N, or a (low, high) range drawn log-uniformly per star."""
    if isinstance(snr, (tuple, list)):
        lo, hi = float(snr[0]), float(snr[1])
        return np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    return np.full(n, float(snr))


def _observe(norm_flux: np.ndarray, snr: np.ndarray, teff: np.ndarray, rng: np.random.Generator,
             continuum: bool, mask_value: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add noise, bitmasks and (optionally) a continuum to noise-free normalised spectra."""
    n = norm_flux.shape[0]
    thr = _throughput()
    # photon noise: σ ∝ sqrt(signal); at the continuum the S/N is snr × throughput
    err = np.sqrt(np.clip(norm_flux, 0.02, None)) / (snr[:, None] * thr[None, :])
    flux = norm_flux + err * rng.standard_normal(norm_flux.shape)
    mask = _bitmask(n, rng)
    bad = _bad(mask)
    # corrupt flagged pixels (dead/hot columns, cosmic-ray spikes, sky residuals) and inflate errors
    flux = np.where(bad, flux + rng.normal(0.0, 0.5, flux.shape) * bad, flux)
    # persistence adds a low-level spurious signal without being a "bad" bit
    persist = (mask & (1 << PIXMASK_BITS["PERSIST_LOW"])) != 0
    flux = flux + 0.01 * persist
    err = np.where(bad, err * 100.0, err)
    if continuum:
        cont = _continuum(teff, rng)
        flux, err = flux * cont, err * cont
    elif mask_value is not None:
        # as astroNN's continuum normalisation does: flagged pixels take a neutral value
        flux = np.where(bad, mask_value, flux)
    return flux, err, mask
