"""The APOGEE wavelength grid and pixel bitmask bits used by the synthetic spectra generator.

The gap-deleted apStar log-linear grid: ``log10(λ/Å) = 4.179 + 6e-6 i`` for the 8,575 apStar pixels,
with the three detector chips kept (DR ≥ 13 chip limits), giving 7,514 pixels (vacuum wavelengths, Å);
and the APOGEE_PIXMASK bit numbers. Re-exported by :mod:`astrotorch.datasets.spectra`.
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------------------------
# The APOGEE wavelength grid (apStar: log-linear, 8,575 pixels; DR >= 13 chip limits)
# ----------------------------------------------------------------------------------------------------
#: log10 of the first apStar wavelength (Å) and the log10 step per pixel
APSTAR_CRVAL1: float = 4.179
APSTAR_CDELT1: float = 6e-6
APSTAR_NPIX: int = 8575
#: [start, end) pixel ranges of the blue, green and red chips in apStar pixels (DR >= 13)
CHIP_RANGES: tuple[tuple[int, int], ...] = ((246, 3274), (3585, 6080), (6344, 8335))
N_PIXELS: int = sum(b - a for a, b in CHIP_RANGES)  # 7514
#: resolving power λ/Δλ (FWHM) of APOGEE
RESOLVING_POWER: float = 22_500.0

#: APOGEE_PIXMASK bits used by the generator (bit number: name), as in the APOGEE data model
PIXMASK_BITS: dict[str, int] = {
    "BADPIX": 0,
    "CRPIX": 1,
    "SATPIX": 2,
    "UNFIXABLE": 3,
    "BADDARK": 4,
    "BADFLAT": 5,
    "BADERR": 6,
    "NOSKY": 7,
    "LITTROW_GHOST": 8,
    "PERSIST_HIGH": 9,
    "PERSIST_MED": 10,
    "PERSIST_LOW": 11,
    "SIG_SKYLINE": 12,
    "SIG_TELLURIC": 13,
    "NOT_ENOUGH_PSF": 14,
}
#: bits a pipeline treats as bad (astroNN's default for ``bitmask_boolean``: 0-6 and 12)
BAD_PIXEL_BITS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 12)


def apogee_wavelength() -> np.ndarray:
    """Vacuum wavelengths (Å, float64, shape (7514,)) of the gap-deleted apStar grid."""
    full = 10.0 ** (APSTAR_CRVAL1 + APSTAR_CDELT1 * np.arange(APSTAR_NPIX))
    return np.concatenate([full[a:b] for a, b in CHIP_RANGES])


def chip_slices() -> list[slice]:
    """Slices of the blue, green and red chips on the 7,514-pixel grid."""
    out, start = [], 0
    for a, b in CHIP_RANGES:
        out.append(slice(start, start + b - a))
        start += b - a
    return out

__all__ = [
    "APSTAR_CDELT1", "APSTAR_CRVAL1", "APSTAR_NPIX", "BAD_PIXEL_BITS", "CHIP_RANGES", "N_PIXELS",
    "PIXMASK_BITS", "RESOLVING_POWER", "apogee_wavelength", "chip_slices",
]
