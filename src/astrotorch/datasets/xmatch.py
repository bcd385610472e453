"""Sky cross-matching of two catalogues (astroNN's ``astroNN.datasets.xmatch``, after Bovy's gaia_tools).

Built on :func:`astropy.coordinates.match_coordinates_sky`. When the catalogues are at different
epochs, the second catalogue's positions are moved to the first catalogue's epoch with its proper
motions (:meth:`astropy.coordinates.SkyCoord.apply_space_motion`).
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord, match_coordinates_sky

from astrotorch.errors import EmptyDatasetError, InputValidationError, ShapeMismatchError


def _coord_array(a: object, name: str, unit: u.UnitBase = u.deg) -> np.ndarray:
    if isinstance(a, u.Quantity):
        try:
            arr = np.atleast_1d(a.to_value(unit)).astype(np.float64)
        except u.UnitConversionError as exc:
            raise InputValidationError(f"{name} has unit {a.unit}, not convertible to {unit}") from exc
    else:
        try:
            arr = np.atleast_1d(np.asarray(a, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise InputValidationError(f"{name} must be numeric") from exc
    if arr.ndim != 1:
        raise InputValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputValidationError(f"{name} holds NaN or infinite values; drop those rows before matching")
    return arr


def propagate_epoch(
    ra: np.ndarray, dec: np.ndarray, pmra: np.ndarray, pmdec: np.ndarray, dt_yr: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move positions by proper motion over ``dt_yr`` years (:meth:`SkyCoord.apply_space_motion`).

    :param ra, dec: degrees (ICRS)
    :param pmra: proper motion in RA *including* cos(Dec) (mas/yr), as Gaia's ``pmra``
    :param pmdec: proper motion in Dec (mas/yr)
    :return: new ``ra, dec`` in degrees (RA in [0, 360))

    astropy propagates along the great circle (ERFA ``pmsafe``), exact also near the poles. Without
    distances or radial velocities the stars are put far away (ERFA's default), which leaves the
    proper motion as given: for catalogue matching only the direction matters.
    """
    from astropy.time import Time
    from erfa import ErfaWarning

    epoch = Time(2000.0, format="jyear")  # any reference: only the interval matters
    coord = SkyCoord(ra=np.asarray(ra, np.float64) * u.deg, dec=np.asarray(dec, np.float64) * u.deg,
                     pm_ra_cosdec=np.asarray(pmra, np.float64) * (u.mas / u.yr),
                     pm_dec=np.asarray(pmdec, np.float64) * (u.mas / u.yr), obstime=epoch, frame="icrs")
    with warnings.catch_warnings():
        # ERFA notes that it replaced the missing distances: expected, see above
        warnings.filterwarnings("ignore", category=ErfaWarning, message=".*distance overridden.*")
        moved = coord.apply_space_motion(dt=float(dt_yr) * u.yr)
    return moved.ra.to_value(u.deg) % 360.0, moved.dec.to_value(u.deg)


def xmatch(
    ra1: object,
    dec1: object,
    ra2: object,
    dec2: object,
    epoch1: float = 2000.0,
    epoch2: float = 2000.0,
    pmra2: object = 0.0,
    pmdec2: object = 0.0,
    maxdist: float | u.Quantity = 2,
    swap: bool = False,
) -> tuple[np.ndarray, np.ndarray, Angle]:
    """Match each source of catalogue 1 to its nearest neighbour in catalogue 2.

    :param ra1, dec1: catalogue 1 coordinates (deg, ICRS, epoch ``epoch1``)
    :param ra2, dec2: catalogue 2 coordinates (deg, ICRS, epoch ``epoch2``)
    :param epoch1, epoch2: epochs (Julian years)
    :param pmra2, pmdec2: catalogue 2 proper motions (mas/yr, ``pmra2`` includes cos(Dec)); used only
        when the epochs differ
    :param maxdist: largest accepted separation (arcsec, or an angle Quantity)
    :param swap: match each source of catalogue 2 to catalogue 1 instead (useful when catalogue 2
        holds duplicates); the returned indices still refer to (catalogue 1, catalogue 2)
    :return: ``idx1, idx2, sep``: integer index arrays into catalogue 1 and 2 of the matched pairs and
        their separations (``astropy.coordinates.Angle``)
    """
    ra1, dec1 = _coord_array(ra1, "ra1"), _coord_array(dec1, "dec1")
    ra2, dec2 = _coord_array(ra2, "ra2"), _coord_array(dec2, "dec2")
    if ra1.shape != dec1.shape or ra2.shape != dec2.shape:
        raise ShapeMismatchError(f"ra/dec lengths differ: ({ra1.size}, {dec1.size}) and ({ra2.size}, {dec2.size})")
    if ra1.size == 0 or ra2.size == 0:
        raise EmptyDatasetError("cannot cross-match an empty catalogue")
    if np.any(np.abs(dec1) > 90) or np.any(np.abs(dec2) > 90):
        raise InputValidationError("declinations must lie in [-90, 90] degrees")
    maxdist_deg = (maxdist if isinstance(maxdist, u.Quantity) else maxdist * u.arcsec).to_value(u.deg)
    if not maxdist_deg > 0:
        raise InputValidationError(f"maxdist must be positive, got {maxdist}")
    if epoch1 != epoch2:
        pmra = np.broadcast_to(_coord_array(pmra2, "pmra2", u.mas / u.yr), ra2.shape)
        pmdec = np.broadcast_to(_coord_array(pmdec2, "pmdec2", u.mas / u.yr), ra2.shape)
        ra2, dec2 = propagate_epoch(ra2, dec2, pmra, pmdec, float(epoch1) - float(epoch2))
    c1 = SkyCoord(ra=ra1 * u.deg, dec=dec1 * u.deg, frame="icrs")
    c2 = SkyCoord(ra=ra2 * u.deg, dec=dec2 * u.deg, frame="icrs")
    if swap:
        idx, d2d, _ = match_coordinates_sky(c2, c1, nthneighbor=1)
        ok = d2d.to_value(u.deg) < maxdist_deg
        return idx[ok].astype(np.intp), np.arange(ra2.size)[ok], d2d[ok]
    idx, d2d, _ = match_coordinates_sky(c1, c2, nthneighbor=1)
    ok = d2d.to_value(u.deg) < maxdist_deg
    return np.arange(ra1.size)[ok], idx[ok].astype(np.intp), d2d[ok]


__all__ = ["xmatch", "propagate_epoch"]
