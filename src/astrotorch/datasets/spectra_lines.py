"""The generator's line list and noise-free synthesis of continuum-normalised spectra.

A fixed line list (independent of the user's seed) of ~340 atomic lines assigned to elements plus
~460 CN, CO and OH molecular lines and the hydrogen Brackett series; line-centre optical depths from
the labels (Saha–Boltzmann temperature and gravity coefficients, abundance exponents); sparse
(lines × pixels) Doppler and Lorentzian profile matrices; the R = 22,500 line-spread function. See
:mod:`astrotorch.datasets.spectra` (which re-exports these names) for the physics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from astropy import constants as const
from astropy import units as u
from scipy import sparse
from scipy.ndimage import convolve1d
from scipy.special import erf

from astrotorch.datasets.spectra_grid import (
    APSTAR_CDELT1,
    APSTAR_CRVAL1,
    N_PIXELS,
    RESOLVING_POWER,
    apogee_wavelength,
    chip_slices,
)
from astrotorch.datasets.spectra_labels import ELEMENTS, LABEL_NAMES
from astrotorch.errors import InputValidationError

#: reference temperature (K) at which line strengths ``τ_ref`` are defined; θ = 5040 K / Teff
_THETA_REF = 5040.0 / 4800.0

# ----------------------------------------------------------------------------------------------------
# The line list (fixed; independent of the user's seed)
# ----------------------------------------------------------------------------------------------------
# Atomic data per species: (element, ion stage 1/2, number of lines, ionisation potential (eV),
# excitation potential range (eV) of the H-band lines, log10 τ_ref range, atomic mass (u)).
_ATOMIC = [
    ("Fe", 1, 170, 7.90, (4.5, 6.5), (-1.4, 0.7), 55.85),
    ("Ni", 1, 28, 7.64, (4.0, 6.0), (-1.3, 0.3), 58.69),
    ("Mg", 1, 18, 7.65, (5.1, 6.7), (-1.0, 1.0), 24.31),
    ("Si", 1, 32, 8.15, (5.9, 7.2), (-1.1, 0.8), 28.09),
    ("Ca", 1, 12, 6.11, (4.5, 5.3), (-1.2, 0.3), 40.08),
    ("Ti", 1, 20, 6.83, (1.4, 2.3), (-1.6, 0.0), 47.87),
    ("Ti", 2, 3, 13.58, (3.1, 3.2), (-1.3, -0.6), 47.87),
    ("Al", 1, 6, 5.99, (4.0, 4.1), (-0.7, 0.4), 26.98),
    ("Na", 1, 3, 5.14, (3.7, 3.8), (-1.0, -0.4), 22.99),
    ("K", 1, 2, 4.34, (2.67, 2.67), (-0.8, -0.3), 39.10),
    ("S", 1, 8, 10.36, (8.0, 9.0), (-1.4, -0.5), 32.06),
    ("V", 1, 6, 6.75, (1.8, 2.4), (-1.8, -0.7), 50.94),
    ("Cr", 1, 8, 6.77, (3.0, 4.0), (-1.6, -0.5), 52.00),
    ("Mn", 1, 6, 7.43, (4.9, 5.0), (-1.1, -0.1), 54.94),
    ("Co", 1, 6, 7.88, (3.3, 4.0), (-1.6, -0.7), 58.93),
    ("C", 1, 10, 11.26, (7.5, 9.8), (-1.4, -0.3), 12.01),
    ("Ce", 2, 5, 10.85, (0.5, 1.0), (-1.8, -1.0), 140.12),
]
# Molecules: (name, {element: abundance exponent}, number of lines, effective θ coefficient,
# gravity coefficient, log10 τ_ref range, mass (u)). θ coefficients are effective (equilibrium
# chemistry damps the dissociation-energy term): OH fades fastest with Teff, CO and CN are strong in
# cool giants, all are stronger at low gravity.
_MOLECULES = [
    ("CO", {"C": 1.0, "O": 0.3}, 168, 3.0, -0.35, (-1.6, -0.1), 28.01),
    ("CN", {"C": 0.8, "N": 1.0, "O": -0.3}, 160, 3.5, -0.25, (-1.9, -0.5), 26.02),
    ("OH", {"O": 1.0, "C": -0.3}, 130, 5.0, -0.2, (-1.5, 0.0), 17.01),
]
# second-overtone CO band heads in the APOGEE window (vacuum Å)
_CO_BANDHEADS = (15582.0, 15780.0, 15982.0, 16189.0, 16401.0, 16618.0, 16840.0)
# hydrogen Brackett series in the H band (vacuum Å, n = 11 ... 20 -> 4)
_BRACKETT = (16811.1, 16411.7, 16113.7, 15884.9, 15704.9, 15560.7, 15443.1, 15345.9, 15265.0, 15196.0)
_LINE_SEED = 20171221
# Lines form above the photosphere, where the temperature spans a narrower range than Teff does; the
# Saha-Boltzmann θ coefficients of atomic lines are scaled by this factor to an effective sensitivity.
_THETA_EFFECTIVE = 0.6  # the line list is part of the "physics": fixed, whatever the user's seed


@dataclasses.dataclass(frozen=True)
class LineList:
    """The generator's line list (one entry per line).

    Attributes: ``wavelength`` (vacuum Å), ``species`` (e.g. ``"Fe I"``, ``"CO"``, ``"H I"``),
    ``log_tau_ref`` (log10 line-centre optical depth at Teff 4800 K, log g 2.5, solar abundances),
    ``theta_coef`` (d log10 τ / d θ), ``logg_coef`` (d log10 τ / d log g), ``abund`` (lines × elements
    exponents of [X/H], columns :data:`ELEMENTS`), ``sigma_kms`` (intrinsic Gaussian Doppler width,
    km/s), ``damping`` (True where the line has a pressure-broadened Lorentzian component).
    """

    wavelength: np.ndarray
    species: np.ndarray
    log_tau_ref: np.ndarray
    theta_coef: np.ndarray
    logg_coef: np.ndarray
    abund: np.ndarray
    sigma_kms: np.ndarray
    damping: np.ndarray

    def __len__(self) -> int:
        return len(self.wavelength)

    def element_lines(self, element: str) -> np.ndarray:
        """Boolean mask of the lines whose strength depends on ``element`` (atomic or molecular)."""
        if element not in ELEMENTS:
            raise InputValidationError(f"unknown element {element!r}; known: {ELEMENTS}")
        return self.abund[:, ELEMENTS.index(element)] > 0


def _doppler_sigma_kms(mass_u: float, teff: float = 4800.0, micro_kms: float = 1.5) -> float:
    """1-σ Gaussian Doppler width (km/s): thermal sqrt(kT/m) plus microturbulence in quadrature."""
    v_th = np.sqrt(const.k_B * teff * u.K / (mass_u * const.u)).to(u.km / u.s).value
    return float(np.hypot(v_th, micro_kms / np.sqrt(2.0)))


def _free_positions(rng: np.random.Generator, n: int, wave: np.ndarray, taken: list[float]) -> np.ndarray:
    """Draw ``n`` line centres inside the chips, at least 2 pixels apart from each other and ``taken``."""
    slices = chip_slices()
    out: list[float] = []
    taken_arr = list(taken)
    while len(out) < n:
        s = slices[rng.integers(3)]
        idx = rng.uniform(s.start + 12, s.stop - 12)
        lam = float(np.interp(idx, np.arange(len(wave)), wave))
        dlam = lam * math.log(10) * APSTAR_CDELT1 * 2.0
        if taken_arr and np.min(np.abs(np.asarray(taken_arr) - lam)) < dlam:
            continue
        out.append(lam)
        taken_arr.append(lam)
    return np.asarray(out)


_LINE_LIST: LineList | None = None


def line_list() -> LineList:
    """The fixed line list of the generator (built once, deterministic)."""
    global _LINE_LIST
    if _LINE_LIST is not None:
        return _LINE_LIST
    rng = np.random.default_rng(_LINE_SEED)
    wave = apogee_wavelength()
    rows: list[tuple[float, str, float, float, float, np.ndarray, float, bool]] = []
    taken: list[float] = []
    # H-minus bound-free continuum opacity ∝ 10^(0.75 θ): divides every line opacity
    h_minus = 0.75
    for el, stage, n_lines, chi_ion, chi_rng, tau_rng, mass in _ATOMIC:
        centres = _free_positions(rng, n_lines, wave, taken)
        taken.extend(centres.tolist())
        abund = np.zeros(len(ELEMENTS))
        abund[ELEMENTS.index(el)] = 1.0
        sig = _doppler_sigma_kms(mass)
        # majority species (ions, and neutrals of elements with a high ionisation potential like C, S)
        majority = stage == 2 or chi_ion > 10.0
        for lam in centres:
            chi = rng.uniform(*chi_rng)
            if majority:
                t_coef, g_coef = -(chi + h_minus), -1.0 / 3.0
            else:  # minority neutral: Saha factor 10^(θ χ_ion) over H- gives (χ_ion - χ - 0.75)
                t_coef, g_coef = chi_ion - chi - h_minus, 0.0
            t_coef *= _THETA_EFFECTIVE
            species = f"{el} {'I' if stage == 1 else 'II'}"
            rows.append((lam, species, rng.uniform(*tau_rng), t_coef, g_coef, abund, sig, True))
    for name, exps, n_lines, t_coef, g_coef, tau_rng, mass in _MOLECULES:
        abund = np.zeros(len(ELEMENTS))
        for el, e in exps.items():
            abund[ELEMENTS.index(el)] = e
        sig = _doppler_sigma_kms(mass)
        if name == "CO":
            # band-head structure: lines crowd towards each head and thin out redwards
            per_head = n_lines // len(_CO_BANDHEADS)
            centres = np.concatenate([h + 70.0 * rng.random(per_head) ** 2 for h in _CO_BANDHEADS])
            centres = centres[(centres > wave[0]) & (centres < wave[-1])]
        else:
            centres = _free_positions(rng, n_lines, wave, taken)
        for lam in centres:
            chi = rng.uniform(0.2, 1.5)
            rows.append((float(lam), name, rng.uniform(*tau_rng), t_coef - chi, g_coef, abund, sig, False))
    # hydrogen Brackett lines: n=4 level at 12.75 eV (majority species over H-), Stark broadened (a
    # wide profile whose strength grows with the electron pressure, i.e. with gravity)
    for lam in _BRACKETT:
        rows.append((lam, "H I", -1.9, -(12.75 + h_minus) * _THETA_EFFECTIVE * 0.75, 0.25,
                     np.zeros(len(ELEMENTS)), 45.0, False))
    w = np.array([r[0] for r in rows])
    order = np.argsort(w)
    _LINE_LIST = LineList(
        wavelength=w[order],
        species=np.array([r[1] for r in rows])[order],
        log_tau_ref=np.array([r[2] for r in rows])[order],
        theta_coef=np.array([r[3] for r in rows])[order],
        logg_coef=np.array([r[4] for r in rows])[order],
        abund=np.stack([r[5] for r in rows])[order],
        sigma_kms=np.array([r[6] for r in rows])[order],
        damping=np.array([r[7] for r in rows])[order],
    )
    return _LINE_LIST


def element_windows(elements: Sequence[str] | None = None, half_width_pix: int = 4) -> dict[str, np.ndarray]:
    """Pixel windows (bool, 7514) where each element's lines (atomic and molecular) fall.

    ``half_width_pix`` pixels on either side of every line centre are included (the LSF σ is
    1.4 pixels). Keys are the label names ``"<El>_H"``.
    """
    ll = line_list()
    wave = apogee_wavelength()
    out: dict[str, np.ndarray] = {}
    for el in elements if elements is not None else ELEMENTS:
        mask = np.zeros(N_PIXELS, dtype=bool)
        for lam in ll.wavelength[ll.element_lines(el)]:
            c = int(np.clip(np.searchsorted(wave, lam), 0, N_PIXELS - 1))
            if abs(wave[c] - lam) > lam * APSTAR_CDELT1 * math.log(10) * half_width_pix:
                continue  # the line falls in a chip gap (e.g. CO band heads' tails): no pixel sees it
            mask[max(c - half_width_pix, 0): c + half_width_pix + 1] = True
        out[f"{el}_H"] = mask
    return out


# ----------------------------------------------------------------------------------------------------
# Profile matrices
# ----------------------------------------------------------------------------------------------------
_PROFILES: tuple[sparse.csr_matrix, sparse.csr_matrix] | None = None
_LORENTZ_HWHM_KMS = 2.0  # damping-profile half width (km/s); its weight carries the gravity scaling
_DAMPING_REF = 0.02  # Lorentzian weight at log g = 2.5


def _profile_matrices() -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Sparse (lines × pixels) Doppler (pixel-integrated Gaussian) and Lorentzian profile matrices."""
    global _PROFILES
    if _PROFILES is not None:
        return _PROFILES
    ll = line_list()
    wave = apogee_wavelength()
    # pixel coordinate on the full apStar grid is linear in log10 λ; use it for everything
    full_pix = (np.log10(wave) - APSTAR_CRVAL1) / APSTAR_CDELT1
    kms_per_pix = (const.c.to(u.km / u.s).value) * math.log(10) * APSTAR_CDELT1
    line_pix_full = (np.log10(ll.wavelength) - APSTAR_CRVAL1) / APSTAR_CDELT1
    rows_g, cols_g, vals_g, rows_l, cols_l, vals_l = [], [], [], [], [], []
    for i, p in enumerate(line_pix_full):
        sig = ll.sigma_kms[i] / kms_per_pix  # pixels
        half = int(max(8, math.ceil(6 * sig)))
        centre = int(np.searchsorted(full_pix, p))
        lo, hi = max(centre - half, 0), min(centre + half + 1, N_PIXELS)
        idx = np.arange(lo, hi)
        # only pixels on the same chip (adjacent grid indices across a gap are far apart)
        idx = idx[np.abs(full_pix[idx] - p) <= half + 1]
        if idx.size == 0:
            continue
        x = full_pix[idx] - p
        # Gaussian integrated over each pixel: peak optical depth scale for an unresolved line
        g = 0.5 * (erf((x + 0.5) / (np.sqrt(2) * sig)) - erf((x - 0.5) / (np.sqrt(2) * sig)))
        g = g / (0.5 * (erf(0.5 / (np.sqrt(2) * sig)) - erf(-0.5 / (np.sqrt(2) * sig))))
        rows_g += [i] * idx.size
        cols_g += idx.tolist()
        vals_g += g.tolist()
        if ll.damping[i]:
            gam = _LORENTZ_HWHM_KMS / kms_per_pix
            half_l = 30
            idx_l = np.arange(max(centre - half_l, 0), min(centre + half_l + 1, N_PIXELS))
            idx_l = idx_l[np.abs(full_pix[idx_l] - p) <= half_l + 1]
            xl = full_pix[idx_l] - p
            lor = gam ** 2 / (xl ** 2 + gam ** 2)
            rows_l += [i] * idx_l.size
            cols_l += idx_l.tolist()
            vals_l += lor.tolist()
    shape = (len(ll), N_PIXELS)
    g_mat = sparse.csr_matrix((vals_g, (rows_g, cols_g)), shape=shape, dtype=np.float64)
    l_mat = sparse.csr_matrix((vals_l, (rows_l, cols_l)), shape=shape, dtype=np.float64)
    _PROFILES = (g_mat, l_mat)
    return _PROFILES


def _lsf_kernel() -> np.ndarray:
    """Gaussian LSF kernel in pixels for R = 22,500 on the log-linear grid (constant σ in pixels)."""
    fwhm_pix = 1.0 / (RESOLVING_POWER * math.log(10) * APSTAR_CDELT1)
    sig = fwhm_pix / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    x = np.arange(-6, 7)
    k = np.exp(-0.5 * (x / sig) ** 2)
    return k / k.sum()


def _line_tau(labels: np.ndarray) -> np.ndarray:
    """Line-centre optical depths (stars × lines) from true labels (columns :data:`LABEL_NAMES`)."""
    ll = line_list()
    theta = 5040.0 / labels[:, 0]
    x_h = labels[:, 4:]
    log_tau = (
        ll.log_tau_ref[None, :]
        + x_h @ ll.abund.T
        + np.outer(theta - _THETA_REF, ll.theta_coef)
        + np.outer(labels[:, 1] - 2.5, ll.logg_coef)
    )
    # beyond ~1e3 the core is black anyway; the cap keeps exp() finite for extreme labels
    return np.power(10.0, np.clip(log_tau, -8.0, 3.0))


def normalized_spectra(labels: np.ndarray) -> np.ndarray:
    """Noise-free continuum-normalised spectra (N, 7514) for true labels (columns :data:`LABEL_NAMES`)."""
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != len(LABEL_NAMES):
        raise InputValidationError(f"labels must have shape (N, {len(LABEL_NAMES)}), got {labels.shape}")
    g_mat, l_mat = _profile_matrices()
    tau = _line_tau(labels)
    # van der Waals damping: γ ∝ P^0.4 and P ∝ g^(~0.6) in these atmospheres -> ∝ g^0.25
    damp = _DAMPING_REF * 10.0 ** (0.25 * (labels[:, 1] - 2.5))
    opacity = np.asarray((g_mat.T @ tau.T).T) + damp[:, None] * np.asarray((l_mat.T @ tau.T).T)
    flux = np.exp(-opacity)
    kernel = _lsf_kernel()
    for s in chip_slices():
        flux[:, s] = convolve1d(flux[:, s], kernel, axis=1, mode="nearest")
    return flux


__all__ = ["LineList", "element_windows", "line_list", "normalized_spectra"]
