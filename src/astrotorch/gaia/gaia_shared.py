"""Conversions between apparent/absolute magnitude, parallax, distance, astroNN's ``fakemag`` and luminosity.

Every function follows astroNN's conventions (``astroNN.gaia``):

* missing entries (the configured magic number, default -9999, or NaN) stay missing: the output holds
  the magic number there, so catalogues keep their row alignment;
* parallaxes are in milliarcseconds unless an astropy ``Quantity`` says otherwise (any angle, or a
  distance through :func:`astropy.units.parallax`);
* giving an error (``parallax_err``, ``fakemag_err``, ``pc_err``) adds a second return value, the
  propagated 1-sigma error (first order);
* distances and parallaxes come back as astropy Quantities (pc, mas), magnitudes and ``fakemag`` as
  plain floats/arrays; scalars in give scalars out.

``fakemag`` (astroNN's "dummy scale") is ``parallax[mas] * 10**(0.2 * m) = 10**(0.2 * M + 2)``; it is
linear in the parallax, so a Gaussian parallax error stays Gaussian, and it is defined for negative
parallaxes too (unlike the absolute magnitude).

Two of astroNN's error formulas are first-order wrong (``mag_to_absmag`` divides by the absolute
magnitude, ``fakemag_to_mag`` multiplies by fakemag); here the errors are the correct first-order
propagation, ``sigma_M = 5 / ln(10) * sigma_plx / plx`` and ``sigma_m = 5 / ln(10) * sigma_d / d``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from astropy import units as u

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError

ArrayLike = float | int | np.ndarray | list | u.Quantity

#: Default parallax unit (astroNN's).
default_parallax_unit = u.mas

#: Absolute magnitude of the Sun in Vega magnitudes per band (Willmer 2018, ApJS 236, 47, Table 3;
#: Gaia G from Casagrande & VandenBerg 2018, arXiv:1806.01953), as astroNN's ``solar_absmag_bands``.
solar_absmag_bands: dict[str, float] = {
    "U": 5.61,  # Johnson U
    "B": 5.44,  # Johnson B
    "V": 4.81,  # Johnson V
    "R": 4.43,  # Cousins R
    "I": 4.10,  # Cousins I
    "J": 3.67,  # 2MASS J
    "H": 3.32,  # 2MASS H
    "K": 3.27,  # 2MASS Ks
    "Ks": 3.27,  # 2MASS Ks
    "u": 5.49,  # SDSS u
    "g": 5.23,  # SDSS g
    "r": 4.53,  # SDSS r
    "i": 4.19,  # SDSS i
    "z": 4.01,  # SDSS z
    "G": 4.67,  # Gaia G
}

# 5 / ln(10): d(5 log10 x) = _FIVE_OVER_LN10 * dx / x
_FIVE_OVER_LN10 = 5.0 / np.log(10.0)


def _values(a: ArrayLike, name: str, unit: u.UnitBase | None = None, equivalencies: Any = None) -> np.ndarray:
    """``a`` as a float64 array (Quantity converted to ``unit`` when given, else must be magnitudes)."""
    if a is None:
        raise InputValidationError(f"{name} is required, got None")
    if isinstance(a, u.Quantity):
        if unit is None:
            # magnitudes may come as u.mag Quantities; any other unit is a mistake
            if a.unit != u.mag and a.unit != u.dimensionless_unscaled:
                raise InputValidationError(f"{name} must be a magnitude (unitless or u.mag), got unit {a.unit}")
            return np.asarray(a.value, dtype=np.float64)
        try:
            return np.asarray(a.to_value(unit, equivalencies=equivalencies or []), dtype=np.float64)
        except u.UnitConversionError as exc:
            raise InputValidationError(f"{name} has unit {a.unit}, which cannot be converted to {unit}") from exc
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"{name} must be numeric, got {type(a).__name__}") from exc
    return arr


def _missing(*arrays: np.ndarray) -> np.ndarray:
    """Broadcast mask of entries that are the magic number or NaN in any of ``arrays``."""
    magic = magic_number()
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError as exc:
        raise ShapeMismatchError(
            "input arrays cannot be broadcast together: shapes " + ", ".join(str(a.shape) for a in arrays)
        ) from exc
    mask = np.zeros(shape, dtype=bool)
    for a in arrays:
        mask = mask | (a == magic) | np.isnan(a)
    return mask


def _finish(values: np.ndarray, bad: np.ndarray, unit: u.UnitBase | None = None) -> Any:
    """Put the magic number where ``bad``; scalar in → scalar out; attach ``unit`` if given."""
    out = np.array(np.broadcast_to(values, bad.shape), dtype=np.float64)
    out[bad] = magic_number()
    if out.ndim == 0:
        out = float(out)
    return out * unit if unit is not None else out


def _compute(fn: Any) -> Any:
    # missing entries are overwritten afterwards; silence log10(-9999) warnings on them
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn()


def _parallax_mas(parallax: ArrayLike, parallax_err: ArrayLike | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Parallax (and error) in mas; a unitless error takes the parallax's unit (astroNN's rule)."""
    if isinstance(parallax, u.Quantity):
        plx = _values(parallax, "parallax", u.mas, u.parallax())
        if parallax_err is not None and not isinstance(parallax_err, u.Quantity):
            parallax_err = np.asarray(parallax_err, dtype=np.float64) * parallax.unit
    else:
        plx = _values(parallax, "parallax")
    err = None
    if parallax_err is not None:
        if isinstance(parallax_err, u.Quantity):
            # an error is a difference, not a position: only angular units make sense
            err = _values(parallax_err, "parallax_err", u.mas)
        else:
            err = _values(parallax_err, "parallax_err")
    return plx, err


def mag_to_fakemag(mag: ArrayLike, parallax: ArrayLike, parallax_err: ArrayLike | None = None) -> Any:
    """Apparent magnitude and parallax to astroNN's ``fakemag = parallax[mas] * 10**(0.2 m)``.

    :param mag: apparent magnitude (mag)
    :param parallax: parallax (mas, or a Quantity in any angle/distance unit)
    :param parallax_err: optional parallax standard error (mas, or Quantity)
    :return: fakemag, and its propagated error ``|parallax_err / parallax| * fakemag`` when an error is given
    """
    m = _values(mag, "mag")
    plx, err = _parallax_mas(parallax, parallax_err)
    # astroNN also treats magnitudes below -90 as missing (e.g. -99 placeholders)
    bad = _missing(m, plx) | (m < -90.0)
    fakemag = _compute(lambda: plx * 10.0 ** (0.2 * m))
    if err is None:
        return _finish(fakemag, bad)
    bad = bad | _missing(err)
    fakemag_err = _compute(lambda: np.abs(err * 10.0 ** (0.2 * m)))
    return _finish(fakemag, bad), _finish(fakemag_err, bad)


def mag_to_absmag(mag: ArrayLike, parallax: ArrayLike, parallax_err: ArrayLike | None = None) -> Any:
    """Apparent magnitude and parallax to absolute magnitude ``M = m + 5 (log10(plx[mas]) - 2)``.

    Non-positive parallaxes have no absolute magnitude and give the magic number.

    :param mag: apparent magnitude (mag)
    :param parallax: parallax (mas, or Quantity)
    :param parallax_err: optional parallax error; the second return value is
        ``5 / ln 10 * parallax_err / parallax`` (mag)
    """
    m = _values(mag, "mag")
    plx, err = _parallax_mas(parallax, parallax_err)
    bad = _missing(m, plx) | (m < -90.0) | (plx <= 0.0)
    absmag = _compute(lambda: m + 5.0 * (np.log10(plx) - 2.0))
    if err is None:
        return _finish(absmag, bad)
    bad = bad | _missing(err)
    absmag_err = _compute(lambda: _FIVE_OVER_LN10 * np.abs(err / plx))
    return _finish(absmag, bad), _finish(absmag_err, bad)


def absmag_to_pc(absmag: ArrayLike, mag: ArrayLike) -> u.Quantity:
    """Absolute and apparent magnitude to distance ``10**((m - M)/5 + 1)`` pc (astropy Quantity)."""
    mabs = _values(absmag, "absmag")
    m = _values(mag, "mag")
    bad = _missing(mabs, m)
    pc = _compute(lambda: 10.0 ** ((m - mabs) / 5.0 + 1.0))
    return _finish(pc, bad, u.pc)


def fakemag_to_absmag(fakemag: ArrayLike) -> Any:
    """fakemag to absolute magnitude ``5 (log10 fakemag - 2)``; non-positive fakemag → magic number."""
    f = _values(fakemag, "fakemag")
    bad = _missing(f) | (f <= 0.0)
    return _finish(_compute(lambda: 5.0 * (np.log10(f) - 2.0)), bad)


def absmag_to_fakemag(absmag: ArrayLike) -> Any:
    """Absolute magnitude to fakemag ``10**(0.2 M + 2)``."""
    mabs = _values(absmag, "absmag")
    return _finish(_compute(lambda: 10.0 ** (0.2 * mabs + 2.0)), _missing(mabs))


def fakemag_to_pc(fakemag: ArrayLike, mag: ArrayLike, fakemag_err: ArrayLike | None = None) -> Any:
    """fakemag and apparent magnitude to distance ``1000 * 10**(0.2 m) / fakemag`` pc.

    :return: distance (Quantity, pc), and ``fakemag_err / fakemag * d`` (pc) when ``fakemag_err`` is given
    """
    f = _values(fakemag, "fakemag")
    m = _values(mag, "mag")
    bad = _missing(f, m) | (f <= 0.0)
    pc = _compute(lambda: 1000.0 * 10.0 ** (0.2 * m) / f)
    if fakemag_err is None:
        return _finish(pc, bad, u.pc)
    ferr = _values(fakemag_err, "fakemag_err")
    bad = bad | _missing(ferr)
    pc_err = _compute(lambda: np.abs(ferr / f) * pc)
    return _finish(pc, bad, u.pc), _finish(pc_err, bad, u.pc)


def fakemag_to_parallax(fakemag: ArrayLike, mag: ArrayLike, fakemag_err: ArrayLike | None = None) -> Any:
    """fakemag and apparent magnitude to parallax ``fakemag / 10**(0.2 m)`` (Quantity, mas), with error."""
    f = _values(fakemag, "fakemag")
    m = _values(mag, "mag")
    # a parallax may be negative, so (unlike distances) negative fakemag is kept
    bad = _missing(f, m)
    plx = _compute(lambda: f / 10.0 ** (0.2 * m))
    if fakemag_err is None:
        return _finish(plx, bad, u.mas)
    ferr = _values(fakemag_err, "fakemag_err")
    bad = bad | _missing(ferr)
    plx_err = _compute(lambda: np.abs(ferr / 10.0 ** (0.2 * m)))
    return _finish(plx, bad, u.mas), _finish(plx_err, bad, u.mas)


def _solar_absmag(band: str) -> float:
    try:
        return solar_absmag_bands[band]
    except KeyError:
        raise InputValidationError(f"unknown band {band!r}; known bands: {sorted(solar_absmag_bands)}") from None


def fakemag_to_logsol(fakemag: ArrayLike, band: str = "K") -> Any:
    """fakemag to log10 of the band luminosity in solar units, ``0.4 (M_sun,band - M)``."""
    msun = _solar_absmag(band)
    f = _values(fakemag, "fakemag")
    bad = _missing(f) | (f <= 0.0)
    return _finish(_compute(lambda: 0.4 * (msun - 5.0 * (np.log10(f) - 2.0))), bad)


def absmag_to_logsol(absmag: ArrayLike, band: str = "K") -> Any:
    """Absolute magnitude to log10 band luminosity in solar units, ``0.4 (M_sun,band - M)``."""
    msun = _solar_absmag(band)
    mabs = _values(absmag, "absmag")
    return _finish(_compute(lambda: 0.4 * (msun - mabs)), _missing(mabs))


def logsol_to_fakemag(logsol: ArrayLike, band: str = "K") -> Any:
    """log10 band luminosity (solar units) to fakemag."""
    msun = _solar_absmag(band)
    ls = _values(logsol, "logsol")
    return _finish(_compute(lambda: 10.0 ** (0.2 * (msun - ls / 0.4) + 2.0)), _missing(ls))


def logsol_to_absmag(logsol: ArrayLike, band: str = "K") -> Any:
    """log10 band luminosity (solar units) to absolute magnitude ``M_sun,band - 2.5 logsol``."""
    msun = _solar_absmag(band)
    ls = _values(logsol, "logsol")
    return _finish(_compute(lambda: msun - ls / 0.4), _missing(ls))


def fakemag_to_mag(fakemag: ArrayLike, pc: ArrayLike, pc_err: ArrayLike | None = None) -> Any:
    """fakemag and distance to apparent magnitude ``5 log10(d[pc] / 1000 * fakemag)``.

    :param pc: distance (pc, or a Quantity in any length unit or a parallax angle)
    :param pc_err: optional distance error; second return value ``5 / ln 10 * pc_err / pc`` (mag)
    """
    f = _values(fakemag, "fakemag")
    if isinstance(pc, u.Quantity):
        d = _values(pc, "pc", u.pc, u.parallax())
        if pc_err is not None and not isinstance(pc_err, u.Quantity):
            pc_err = np.asarray(pc_err, dtype=np.float64) * pc.unit
    else:
        d = _values(pc, "pc")
    bad = _missing(f, d) | (f <= 0.0) | (d <= 0.0)
    mag = _compute(lambda: 5.0 * np.log10(d / 1000.0 * f))
    if pc_err is None:
        return _finish(mag, bad)
    derr = _values(pc_err, "pc_err", u.pc) if isinstance(pc_err, u.Quantity) else _values(pc_err, "pc_err")
    bad = bad | _missing(derr)
    return _finish(mag, bad), _finish(_compute(lambda: _FIVE_OVER_LN10 * np.abs(derr / d)), bad)


def extinction_correction(mag: ArrayLike, extinction: ArrayLike) -> Any:
    """Extinction-corrected magnitude ``m - A`` (``A`` in the same band).

    As astroNN: an extinction below -1 mag is unphysical and treated as zero (no correction), and a
    missing extinction (magic number/NaN) also means no correction; a missing magnitude stays missing.
    """
    m = _values(mag, "mag")
    ext = _values(extinction, "extinction").copy()
    ext_missing = _missing(ext) | (ext < -1.0)
    ext = np.where(ext_missing, 0.0, ext)
    bad = _missing(m, ext) | (m < -90.0)
    return _finish(m - ext, bad)


__all__ = [
    "solar_absmag_bands",
    "default_parallax_unit",
    "mag_to_fakemag",
    "mag_to_absmag",
    "absmag_to_pc",
    "fakemag_to_absmag",
    "absmag_to_fakemag",
    "fakemag_to_pc",
    "fakemag_to_parallax",
    "fakemag_to_logsol",
    "absmag_to_logsol",
    "logsol_to_fakemag",
    "logsol_to_absmag",
    "fakemag_to_mag",
    "extinction_correction",
]
