"""Stellar relations with astropy constants (no retyped physical constants).

All functions take plain arrays in solar units (Teff in K, L in L_sun, R in R_sun, M in M_sun) or
astropy Quantities, and treat the magic number/NaN as missing (output NaN there, never an exception).

Exact relations: Stefan–Boltzmann ``L = 4 π R² σ T⁴``, ``M_bol = M_bol,sun - 2.5 log10(L / L_sun)``,
Wien ``λ_peak = b / T``, surface flux ``F = σ T⁴``, ``g = G M / R²``, mean density ``ρ = 3 M / (4 π R³)``.
Approximate scalings (order-of-magnitude textbook estimates, zero points left to the caller to fit):
main-sequence mass–luminosity ``L ∝ M^3.5``, lifespan ``t ∝ M / L``, virial central pressure
``P_c ∝ G M² / R⁴``, central temperature ``T_c ∝ G M μ m_p / (k R)``, binding energy ``E ∝ G M² / R``.
"""

from __future__ import annotations

import numpy as np
from astropy import constants as const
from astropy import units as u

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError

#: Effective temperature of the Sun implied by the IAU 2015 nominal L_sun and R_sun (≈ 5772 K).
T_SUN: float = float(((const.L_sun / (4 * np.pi * const.R_sun**2 * const.sigma_sb)) ** 0.25).to_value(u.K))
#: Absolute bolometric magnitude of the Sun from the IAU 2015 zero point L_0 (≈ 4.74 mag).
MBOL_SUN: float = float(-2.5 * np.log10((const.L_sun / const.L_bol0).decompose().value))
#: log10 of the solar surface gravity in cgs (cm s⁻²), ≈ 4.438.
LOGG_SUN: float = float(np.log10((const.G * const.M_sun / const.R_sun**2).to_value(u.cm / u.s**2)))
#: log10 of L_sun in W.
LOG_LSUN_W: float = float(np.log10(const.L_sun.to_value(u.W)))
#: log10 of σ_SB in W m⁻² K⁻⁴.
LOG_SIGMA_SB: float = float(np.log10(const.sigma_sb.to_value(u.W / u.m**2 / u.K**4)))
#: log10 of Wien's displacement constant in nm K.
LOG_WIEN_B_NM_K: float = float(np.log10(const.b_wien.to_value(u.nm * u.K)))
#: Textbook main-sequence mass–luminosity exponent: L ∝ M^3.5, i.e. M ∝ L^(1/3.5).
ML_EXPONENT: float = 1.0 / 3.5
#: log10 of G M_sun² / R_sun⁴ (Pa): the scale of a star's central pressure.
LOG_PC_SCALE: float = float(np.log10((const.G * const.M_sun**2 / const.R_sun**4).to_value(u.Pa)))
#: log10 of G M_sun m_p / (k_B R_sun) (K): the scale of a star's central temperature.
LOG_TC_SCALE: float = float(np.log10((const.G * const.M_sun * const.m_p / (const.k_B * const.R_sun)).to_value(u.K)))
#: log10 of G M_sun² / R_sun (J): the scale of a star's gravitational binding energy.
LOG_EB_SCALE: float = float(np.log10((const.G * const.M_sun**2 / const.R_sun).to_value(u.J)))


def _solar(a: object, unit: u.UnitBase, name: str) -> np.ndarray:
    """Values in ``unit`` (solar units for L, R, M), missing → NaN."""
    if isinstance(a, u.Quantity):
        try:
            arr = np.asarray(a.to_value(unit), dtype=np.float64)
        except u.UnitConversionError as exc:
            raise InputValidationError(f"{name} has unit {a.unit}, not convertible to {unit}") from exc
    else:
        try:
            arr = np.array(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputValidationError(f"{name} must be numeric") from exc
    arr = np.where(arr == magic_number(), np.nan, arr)
    return arr


def _lum(a: object) -> np.ndarray:
    return _solar(a, u.L_sun, "luminosity")


def _rad(a: object) -> np.ndarray:
    return _solar(a, u.R_sun, "radius")


def _teff(a: object) -> np.ndarray:
    return _solar(a, u.K, "teff")


def _mass(a: object) -> np.ndarray:
    return _solar(a, u.M_sun, "mass")


def _positive_log10(a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.log10(np.where(a > 0, a, 1.0)), np.nan)


def stefan_boltzmann_luminosity(teff: object, radius: object) -> np.ndarray:
    """L / L_sun from Teff (K) and R (R_sun): ``(R/R_sun)² (T/T_sun)⁴``."""
    return _rad(radius) ** 2 * (_teff(teff) / T_SUN) ** 4


def stefan_boltzmann_radius(teff: object, luminosity: object) -> np.ndarray:
    """R / R_sun from Teff (K) and L (L_sun)."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(_lum(luminosity)) * (T_SUN / _teff(teff)) ** 2


def stefan_boltzmann_teff(luminosity: object, radius: object) -> np.ndarray:
    """Teff (K) from L (L_sun) and R (R_sun)."""
    with np.errstate(invalid="ignore"):
        return T_SUN * (_lum(luminosity) / _rad(radius) ** 2) ** 0.25


def complete_teff_lum_radius(
    teff: object = None, luminosity: object = None, radius: object = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill the missing one of (Teff, L, R) per star by Stefan–Boltzmann.

    Any argument may be ``None`` (all missing). Rows with two or three missing values stay NaN there.
    :return: ``teff`` (K), ``luminosity`` (L_sun), ``radius`` (R_sun)
    """
    given = [a for a in (teff, luminosity, radius) if a is not None]
    if not given:
        raise InputValidationError("give at least two of teff, luminosity, radius")
    shape = np.broadcast_shapes(*(np.shape(getattr(a, "value", a)) for a in given))
    nan = np.full(shape, np.nan)
    t = np.broadcast_to(_teff(teff), shape).copy() if teff is not None else nan.copy()
    lum = np.broadcast_to(_lum(luminosity), shape).copy() if luminosity is not None else nan.copy()
    r = np.broadcast_to(_rad(radius), shape).copy() if radius is not None else nan.copy()
    mt, ml, mr = np.isnan(t), np.isnan(lum), np.isnan(r)
    fill_t = mt & ~ml & ~mr
    fill_l = ml & ~mt & ~mr
    fill_r = mr & ~mt & ~ml
    t[fill_t] = stefan_boltzmann_teff(lum[fill_t], r[fill_t])
    lum[fill_l] = stefan_boltzmann_luminosity(t[fill_l], r[fill_l])
    r[fill_r] = stefan_boltzmann_radius(t[fill_r], lum[fill_r])
    return t, lum, r


def bolometric_magnitude(luminosity: object, zero_point: float = MBOL_SUN) -> np.ndarray:
    """Absolute bolometric magnitude ``zero_point - 2.5 log10(L / L_sun)`` (IAU 2015: 4.74)."""
    return zero_point - 2.5 * _positive_log10(_lum(luminosity))


def luminosity_from_bolometric_magnitude(mbol: object, zero_point: float = MBOL_SUN) -> np.ndarray:
    """L / L_sun from the absolute bolometric magnitude."""
    m = _solar(mbol, u.dimensionless_unscaled, "mbol")
    return 10.0 ** (0.4 * (zero_point - m))


def wien_peak_wavelength(teff: object) -> u.Quantity:
    """Wavelength of the blackbody peak ``b / T`` (nm)."""
    with np.errstate(divide="ignore"):
        return (10.0**LOG_WIEN_B_NM_K / _teff(teff)) * u.nm


def surface_flux(teff: object) -> u.Quantity:
    """Bolometric surface flux ``σ T⁴`` (W m⁻²)."""
    return (const.sigma_sb * (_teff(teff) * u.K) ** 4).to(u.W / u.m**2)


def surface_gravity(mass: object, radius: object) -> np.ndarray:
    """log10 g (g in cm s⁻²) from ``g = G M / R²``."""
    return LOGG_SUN + _positive_log10(_mass(mass)) - 2.0 * _positive_log10(_rad(radius))


def mass_from_logg(logg: object, radius: object) -> np.ndarray:
    """Mass (M_sun) implied by log g (cgs) and R (R_sun)."""
    lg = _solar(logg, u.dimensionless_unscaled, "logg")
    return 10.0 ** (lg - LOGG_SUN) * _rad(radius) ** 2


def mean_density(mass: object, radius: object) -> np.ndarray:
    """Mean density in solar units ``(M/M_sun) / (R/R_sun)³`` (ρ_sun = 3 M_sun / (4 π R_sun³) ≈ 1.41 g cm⁻³)."""
    return _mass(mass) / _rad(radius) ** 3


def mass_luminosity_mass(luminosity: object, exponent: float = ML_EXPONENT) -> np.ndarray:
    """Main-sequence mass (M_sun) from ``M = L^exponent`` (textbook L ∝ M^3.5); approximate."""
    return _lum(luminosity) ** exponent


def main_sequence_luminosity(mass: object) -> np.ndarray:
    """Piecewise main-sequence mass–luminosity relation (Duric 2004; Salaris & Cassisi 2005), L_sun.

    ``0.23 M^2.3`` (M < 0.43), ``M^4`` (0.43–2), ``1.4 M^3.5`` (2–55), ``32000 M`` (> 55).
    """
    m = _mass(mass)
    return np.select(
        [m < 0.43, m < 2.0, m < 55.0],
        [0.23 * m**2.3, m**4.0, 1.4 * m**3.5],
        32000.0 * m,
    )


def lifespan(mass: object, luminosity: object) -> np.ndarray:
    """Main-sequence lifetime in solar units ``(M/M_sun) / (L/L_sun)`` (fuel over burn rate)."""
    return _mass(mass) / _lum(luminosity)


__all__ = [
    "T_SUN",
    "MBOL_SUN",
    "LOGG_SUN",
    "LOG_LSUN_W",
    "LOG_SIGMA_SB",
    "LOG_WIEN_B_NM_K",
    "ML_EXPONENT",
    "LOG_PC_SCALE",
    "LOG_TC_SCALE",
    "LOG_EB_SCALE",
    "stefan_boltzmann_luminosity",
    "stefan_boltzmann_radius",
    "stefan_boltzmann_teff",
    "complete_teff_lum_radius",
    "bolometric_magnitude",
    "luminosity_from_bolometric_magnitude",
    "wien_peak_wavelength",
    "surface_flux",
    "surface_gravity",
    "mass_from_logg",
    "mean_density",
    "mass_luminosity_mass",
    "main_sequence_luminosity",
    "lifespan",
]
