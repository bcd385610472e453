"""LAMOST DR5 low-resolution spectra: wavelength grid and pseudo-continuum normalisation (astroNN's ``astroNN.lamost``).

The LAMOST DR5 LRS pipeline resamples every spectrum onto a log-linear grid,
``log10(lambda / Å) = 3.5682 + 1e-4 * i`` for ``i = 0 .. 3908`` (3,909 pixels, about 3,700–9,100 Å).

Pseudo-continuum normalisation (Ho et al. 2017, The Cannon on LAMOST) divides a spectrum by a
running Gaussian-weighted mean of itself, each pixel weighted by its inverse variance:

``smooth(λ_i) = Σ_j f_j ivar_j w_ij / Σ_j ivar_j w_ij``,  ``w_ij = exp(-(λ_i - λ_j)² / (2 L²))``,

with ``L = 50 Å`` by default. The weights are truncated at ``truncate * L`` (default 6 L, where the
Gaussian is below 2e-8 of its peak), which keeps the cost linear in the number of pixels instead of
astroNN's dense pixel × pixel matrix.
"""

from __future__ import annotations

import numpy as np

from astrotorch.errors import InputValidationError, ShapeMismatchError

#: LAMOST DR5 grid: first log10 wavelength (Å), step in log10 wavelength, number of pixels.
LAMOST_DR5_LOGLAM0: float = 3.5682
LAMOST_DR5_DLOGLAM: float = 1e-4
LAMOST_DR5_NPIX: int = 3909


def lamost_default_dr(dr: int | None = None) -> int:
    """The data release to use: only DR5 is supported (astroNN's rule)."""
    if dr is None:
        return 5
    if dr != 5:
        raise InputValidationError(f"only LAMOST DR5 is supported, got dr={dr!r}")
    return 5


def wavelength_solution(dr: int | None = None) -> np.ndarray:
    """Vacuum wavelengths (Å) of the 3,909 pixels of the LAMOST DR5 log-linear grid."""
    lamost_default_dr(dr)
    # integer pixel index avoids the off-by-one risk of np.arange with a float stop
    return 10.0 ** (LAMOST_DR5_LOGLAM0 + LAMOST_DR5_DLOGLAM * np.arange(LAMOST_DR5_NPIX))


def _as_2d(a: object, name: str) -> tuple[np.ndarray, bool]:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"{name} must be numeric") from exc
    if arr.ndim == 1:
        return arr[None, :], True
    if arr.ndim != 2:
        raise InputValidationError(f"{name} must be (n_pixels,) or (n_spectra, n_pixels), got shape {arr.shape}")
    return arr, False


def smooth_spec(
    flux: np.ndarray, ivar: np.ndarray, wavelength: np.ndarray, L: float = 50.0, truncate: float = 6.0
) -> np.ndarray:
    """Inverse-variance-weighted running Gaussian mean of spectra.

    :param flux: (n_pixels,) or (n_spectra, n_pixels) fluxes
    :param ivar: inverse variances, same shape (0 = pixel ignored)
    :param wavelength: (n_pixels,) wavelengths, increasing (Å)
    :param L: Gaussian width (Å)
    :param truncate: neighbours farther than ``truncate * L`` get zero weight
    :return: smoothed fluxes, same shape as ``flux``; 0 where no neighbour has weight
    """
    f, squeeze = _as_2d(flux, "flux")
    iv, _ = _as_2d(ivar, "ivar")
    wl = np.asarray(wavelength, dtype=np.float64)
    if f.shape != iv.shape:
        raise ShapeMismatchError(f"flux shape {f.shape} differs from ivar shape {iv.shape}")
    if wl.ndim != 1 or wl.size != f.shape[1]:
        raise ShapeMismatchError(f"wavelength must be 1-d with {f.shape[1]} entries, got shape {wl.shape}")
    if not L > 0:
        raise InputValidationError(f"L must be positive (Å), got {L}")
    if np.any(np.diff(wl) <= 0):
        raise InputValidationError("wavelength must be strictly increasing")
    # bad pixels (NaN flux or ivar, negative ivar) carry no weight
    iv = np.where(np.isfinite(iv) & np.isfinite(f) & (iv > 0), iv, 0.0)
    fi = np.where(iv > 0, f, 0.0) * iv
    n = wl.size
    # the widest pixel reach within truncate*L, from the smallest pixel spacing
    reach = int(min(n - 1, np.ceil(truncate * L / np.min(np.diff(wl)))))
    num = np.zeros_like(f)
    den = np.zeros_like(f)
    for k in range(-reach, reach + 1):
        lo, hi = max(0, -k), min(n, n - k)  # pixels i with i + k inside the grid
        if lo >= hi:
            continue
        d = wl[lo:hi] - wl[lo + k : hi + k]
        w = np.exp(-0.5 * (d / L) ** 2)
        w[np.abs(d) > truncate * L] = 0.0
        num[:, lo:hi] += fi[:, lo + k : hi + k] * w
        den[:, lo:hi] += iv[:, lo + k : hi + k] * w
    out = np.zeros_like(f)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out[0] if squeeze else out


def pseudo_continuum(
    flux: np.ndarray,
    ivar: np.ndarray,
    wavelength: np.ndarray | None = None,
    L: float = 50.0,
    dr: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-continuum normalise LAMOST spectra.

    :param flux: (n_pixels,) or (n_spectra, n_pixels)
    :param ivar: inverse variances of ``flux``
    :param wavelength: pixel wavelengths (Å); default the DR5 grid
    :param L: Gaussian width (Å)
    :return: ``(norm_flux, norm_ivar)``: flux / continuum and ivar * continuum²; pixels where the
        continuum is undefined get flux 1 and ivar 0 (astroNN's convention)
    """
    lamost_default_dr(dr)
    f, squeeze = _as_2d(flux, "flux")
    iv, _ = _as_2d(ivar, "ivar")
    wl = wavelength_solution(dr) if wavelength is None else np.asarray(wavelength, dtype=np.float64)
    cont = smooth_spec(f, iv, wl, L=L)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm_flux = f / cont
        norm_ivar = iv * cont**2
    bad = ~np.isfinite(norm_flux) | (cont == 0) | ~np.isfinite(norm_ivar)
    norm_flux[bad] = 1.0
    norm_ivar[bad] = 0.0
    if squeeze:
        return norm_flux[0], norm_ivar[0]
    return norm_flux, norm_ivar


__all__ = [
    "LAMOST_DR5_LOGLAM0",
    "LAMOST_DR5_DLOGLAM",
    "LAMOST_DR5_NPIX",
    "lamost_default_dr",
    "wavelength_solution",
    "smooth_spec",
    "pseudo_continuum",
]
