"""Realistic synthetic APOGEE-like spectra: the built-in default data set of astrotorch.

The generator is a small, fully vectorised spectrum-synthesis model on the real APOGEE grid, meant as a
stand-in a spectroscopist would accept for developing and testing data-driven models:

* **Grid** — the gap-deleted apStar log-linear grid: ``log10(λ/Å) = 4.179 + 6e-6 i`` for the 8,575
  apStar pixels, with the three detector chips kept (DR ≥ 13 chip limits), giving 7,514 pixels
  (vacuum wavelengths, Å).
* **Labels** — a red-giant branch, a red clump and main-sequence/turn-off dwarfs along a realistic
  Teff–log g sequence that shifts with metallicity; a thin disc and an α-enhanced thick disc in
  [M/H]–[α/M]; 18 element abundances [X/H] correlated like real stars (α elements follow [α/M],
  odd-Z and iron-peak elements their own trends, C and N changed by first dredge-up on the giant branch).
* **Lines** — a fixed line list (independent of the user's seed) of ~340 atomic lines assigned to
  elements plus ~460 CN, CO and OH molecular lines and the hydrogen Brackett series. The line-centre
  optical depth of every line is ``log10 τ = log10 τ_ref + Σ n_k [X_k/H] + t (θ - θ_ref) + g (log g - 2.5)``
  with ``θ = 5040 K / Teff``: the temperature coefficient ``t`` follows Saha–Boltzmann for minority
  (neutral) or majority (ion, high-ionisation-potential) species over the H⁻ continuum opacity, the
  gravity coefficient ``g = -1/3`` for majority species (pressure sensitivity) and negative for
  molecules (stronger in giants). Fluxes are ``exp(-τ φ(λ))`` so depths saturate: each line follows a
  curve of growth in its element's abundance. A Lorentzian damping component whose weight grows with
  gravity (van der Waals broadening ∝ P^0.4) gives strong lines of dwarfs their pressure-broadened wings.
* **Instrument** — intrinsic Doppler widths (thermal at the line's atomic mass + microturbulence)
  integrated over pixels, then convolved with a Gaussian line-spread function of resolving power
  R = 22,500 (constant in pixels on the log-linear grid), chip by chip.
* **Continuum and noise** — optionally a continuum (Planck slope times a per-chip response); photon-like
  Gaussian noise at a chosen per-pixel S/N (chip throughput varies), per-pixel error arrays; APOGEE
  PIXMASK-like bitmasks (bad detector columns, cosmic rays, persistence in the blue chip, sky-line
  residuals) whose pixels are corrupted and have inflated errors; a fraction of missing labels
  (magic number); "visit" copies of the same stars at lower S/N.

Everything is deterministic from ``seed``. The opacity of all lines for all stars is a product of the
(stars × lines) optical-depth matrix with a sparse (lines × pixels) profile matrix, so 10,000 spectra
take a few seconds on one core.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy import constants as const
from astropy import units as u
from scipy import sparse
from scipy.ndimage import convolve1d
from scipy.special import erf

from astrotorch.config import magic_number
from astrotorch.datasets.spectra_io import (
    SyntheticSpectra,
    atomic_hdf5,
    load_spectra_hdf5,
    load_synthetic_hdf5,
    write_attrs,
)
from astrotorch.errors import InputValidationError

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


# ----------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------
#: element abundance labels [X/H] (dex), ordered as astroNN's target list
ELEMENTS: tuple[str, ...] = (
    "C", "N", "O", "Na", "Mg", "Al", "Si", "S", "K", "Ca", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Ce",
)
#: all label names: Teff (K), log g (dex, cgs), [M/H], [α/M] and [X/H] for each element (dex)
LABEL_NAMES: tuple[str, ...] = ("teff", "logg", "M_H", "alpha_M") + tuple(f"{e}_H" for e in ELEMENTS)
_ALPHA = {"O": 1.0, "Mg": 1.0, "Si": 0.8, "S": 0.9, "Ca": 0.7, "Ti": 0.6}
# Non-α elements: ([X/M] slope with [α/M], slope with [M/H], intrinsic scatter) — trends like
# APOGEE's abundance planes (Mn and Co anti-correlated with α, Na/Al/K mildly α-like, Ce s-process).
_TRENDS: dict[str, tuple[float, float, float]] = {
    "Na": (0.3, 0.05, 0.06), "Al": (0.7, 0.0, 0.05), "K": (0.5, -0.05, 0.05), "V": (0.3, 0.0, 0.06),
    "Cr": (0.0, 0.0, 0.03), "Mn": (-0.6, 0.15, 0.04), "Fe": (0.0, 0.0, 0.015), "Co": (0.2, 0.0, 0.06),
    "Ni": (0.1, 0.05, 0.025), "Ce": (-0.4, -0.1, 0.10),
}
# catalogue-like (ASPCAP-like) label uncertainties at S/N ~ 100 (label units)
_LABEL_ERR0 = {"teff": 40.0, "logg": 0.05, "M_H": 0.02, "alpha_M": 0.02, "C_H": 0.03, "N_H": 0.04,
               "O_H": 0.03, "Na_H": 0.08, "Mg_H": 0.02, "Al_H": 0.03, "Si_H": 0.02, "S_H": 0.05,
               "K_H": 0.04, "Ca_H": 0.025, "Ti_H": 0.04, "V_H": 0.08, "Cr_H": 0.05, "Mn_H": 0.03,
               "Fe_H": 0.015, "Co_H": 0.07, "Ni_H": 0.025, "Ce_H": 0.08}

#: reference temperature (K) at which line strengths ``τ_ref`` are defined; θ = 5040 K / Teff
_THETA_REF = 5040.0 / 4800.0


def sample_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` true stellar labels (columns :data:`LABEL_NAMES`; Teff in K, the rest in dex).

    Populations: 50 % red-giant branch, 20 % red clump, 30 % main-sequence/turn-off dwarfs (an
    APOGEE-like giant-rich mix); 75 % thin disc, 25 % α-enhanced thick disc.
    """
    n_el = len(ELEMENTS)
    # --- chemistry: thin disc ([α/M] ~ 0, wide [M/H]) and thick disc (high α, metal-poor)
    thick = rng.random(n) < 0.25
    m_h = np.where(thick, rng.normal(-0.45, 0.28, n), rng.normal(-0.05, 0.22, n))
    # a metal-poor halo-like tail for 3 % of stars
    halo = rng.random(n) < 0.03
    m_h = np.where(halo, rng.uniform(-2.0, -1.0, n), m_h)
    m_h = np.clip(m_h, -2.2, 0.5)
    alpha_thin = np.clip(-0.08 * m_h + rng.normal(0.0, 0.025, n), -0.1, 0.2)
    alpha_thick = np.clip(0.30 - 0.08 * np.clip(m_h + 0.8, 0.0, None) / 0.8 * 1.5 + rng.normal(0, 0.03, n), 0.05, 0.4)
    alpha = np.where(thick | halo, alpha_thick, alpha_thin)

    # --- evolutionary state and the Teff-log g sequence
    kind = rng.choice(3, size=n, p=[0.5, 0.2, 0.3])  # 0 RGB, 1 red clump, 2 dwarf
    logg = np.empty(n)
    teff = np.empty(n)
    rgb, rc, dw = kind == 0, kind == 1, kind == 2
    # RGB: denser towards the base (more time spent there); cooler at low gravity and high [M/H]
    lg = 3.7 - 2.9 * rng.random(rgb.sum()) ** 1.6
    logg[rgb] = lg
    teff[rgb] = 4750.0 + 330.0 * (lg - 2.5) - 260.0 * m_h[rgb] + rng.normal(0, 50, rgb.sum())
    logg[rc] = rng.normal(2.42, 0.07, rc.sum())
    teff[rc] = 4800.0 - 230.0 * m_h[rc] + rng.normal(0, 60, rc.sum())
    # dwarfs: main sequence from K to F dwarfs with a turn-off/subgiant spread; metal-poor are hotter
    td = rng.uniform(3900.0, 6500.0, dw.sum()) - 150.0 * m_h[dw]
    x = (td - 3900.0) / 2600.0
    logg[dw] = 4.72 - 0.30 * x - 0.35 * x ** 3 * rng.random(dw.sum()) + rng.normal(0, 0.04, dw.sum())
    teff[dw] = td
    teff = np.clip(teff, 3700.0, 6800.0)
    logg = np.clip(logg, 0.6, 4.9)

    # --- element abundances [X/H] = [M/H] + [X/M]
    out = np.empty((n, 4 + n_el))
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = teff, logg, m_h, alpha
    # first dredge-up and extra mixing: giants have lower [C/M] and higher [N/M], growing up the RGB
    giant = kind < 2
    mixing = np.where(giant, np.clip((3.8 - logg) / 3.0, 0.0, 1.0), 0.0)
    # a shared "star-to-star" nucleosynthetic scatter component correlates the iron-peak elements
    shared = rng.normal(0.0, 0.02, n)
    for j, el in enumerate(ELEMENTS):
        if el in _ALPHA:
            x_m = _ALPHA[el] * alpha + rng.normal(0.0, 0.03, n)
        elif el == "C":
            x_m = 0.2 * alpha - 0.25 * mixing + rng.normal(0.0, 0.05, n)
        elif el == "N":
            x_m = 0.05 + 0.45 * mixing - 0.1 * m_h + rng.normal(0.0, 0.07, n)
        else:
            a_slope, m_slope, scatter = _TRENDS[el]
            x_m = a_slope * alpha + m_slope * m_h + rng.normal(0.0, scatter, n)
            if el in ("Cr", "Mn", "Fe", "Co", "Ni"):
                x_m = x_m + shared
        out[:, 4 + j] = m_h + x_m
    return out


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
# OH airglow lines that leave sky-subtraction residuals (SIG_SKYLINE), vacuum Å
_SKYLINES = (15187.1, 15240.9, 15287.9, 15332.4, 15395.3, 15432.2, 15570.0, 15597.6, 15631.6, 15655.3,
             15702.9, 15833.6, 15888.0, 15972.6, 16030.8, 16079.7, 16128.6, 16194.6, 16235.4, 16317.1,
             16350.2, 16388.5, 16442.2, 16475.3, 16502.3, 16553.8, 16692.4, 16708.8, 16768.3, 16840.5,
             16903.7, 16921.0)
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


# ----------------------------------------------------------------------------------------------------
# The data set (the container and its HDF5 files live in spectra_io, shared with the emulated generator)
# ----------------------------------------------------------------------------------------------------
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


def _generate_block(n: int, rng: np.random.Generator, snr: float | tuple[float, float], missing_label_frac: float,
                    n_visits: int, visit_snr: float | None, continuum: bool, mask_value: float | None,
                    label_noise: bool) -> dict[str, np.ndarray]:
    truth = sample_labels(n, rng)
    norm = normalized_spectra(truth)
    snr_c = _draw_snr(snr, n, rng)
    flux, err, mask = _observe(norm, snr_c, truth[:, 0], rng, continuum, mask_value)
    k = truth.shape[1]
    err0 = np.array([_LABEL_ERR0[name] for name in LABEL_NAMES])
    # per-star catalogue errors vary by ±30 % and are larger for metal-poor stars (weaker lines)
    label_err = err0[None, :] * rng.uniform(0.7, 1.3, (n, k)) * (1.0 + np.clip(-truth[:, 2:3], 0, None))
    labels = truth + (label_err * rng.standard_normal((n, k)) if label_noise else 0.0)
    missing = rng.random((n, k)) < missing_label_frac
    magic = magic_number()
    labels = np.where(missing, magic, labels)
    label_err = np.where(missing, magic, label_err)
    out = {"flux": [flux], "flux_err": [err], "bitmask": [mask], "labels": [labels], "label_err": [label_err],
           "labels_true": [truth], "visit_of": [np.full(n, -1, dtype=np.int64)], "snr": [snr_c]}
    if n_visits > 0:
        v_snr = visit_snr if visit_snr is not None else None
        for _ in range(n_visits):
            s_v = np.full(n, float(v_snr)) if v_snr is not None else snr_c / math.sqrt(n_visits) / 1.0
            if v_snr is None and n_visits == 1:
                s_v = snr_c / 2.0
            fv, ev, mv = _observe(norm, s_v, truth[:, 0], rng, continuum, mask_value)
            out["flux"].append(fv)
            out["flux_err"].append(ev)
            out["bitmask"].append(mv)
            out["labels"].append(labels)
            out["label_err"].append(label_err)
            out["labels_true"].append(truth)
            out["visit_of"].append(np.arange(n, dtype=np.int64))
            out["snr"].append(s_v)
    return out


#: stars per independently seeded block (so chunked HDF5 writing reproduces synthetic_spectra exactly)
BLOCK_SIZE: int = 1024


def _validate(n_stars: int, snr: Any, missing_label_frac: float, n_visits: int, visit_snr: Any) -> None:
    if not isinstance(n_stars, (int, np.integer)) or isinstance(n_stars, bool) or n_stars < 1:
        raise InputValidationError(f"n_stars must be a positive integer, got {n_stars!r}")
    _check_snr(snr, "snr")
    if visit_snr is not None:
        _check_snr(visit_snr, "visit_snr")
    if not 0.0 <= float(missing_label_frac) < 1.0:
        raise InputValidationError(f"missing_label_frac must be in [0, 1), got {missing_label_frac!r}")
    if not isinstance(n_visits, (int, np.integer)) or n_visits < 0:
        raise InputValidationError(f"n_visits must be a non-negative integer, got {n_visits!r}")


def _blocks(n_stars: int, seed: int, **kw: Any) -> Iterator[tuple[int, dict[str, list[np.ndarray]]]]:
    for b, start in enumerate(range(0, n_stars, BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_stars - start)
        rng = np.random.default_rng([int(seed), b])
        yield start, _generate_block(n, rng, **kw)


def synthetic_spectra(
    n_stars: int,
    snr: float | tuple[float, float] = 100.0,
    seed: int = 0,
    missing_label_frac: float = 0.05,
    n_visits: int = 0,
    visit_snr: float | None = None,
    dtype: Any = np.float32,
    continuum: bool = False,
    mask_value: float | None = 1.0,
    label_noise: bool = True,
) -> SyntheticSpectra:
    """Generate a synthetic APOGEE-like data set (see the module docstring for the physics).

    Args:
        n_stars: number of stars (combined spectra).
        snr: per-pixel S/N at the continuum of the combined spectra, or a ``(low, high)`` range drawn
            log-uniformly per star.
        seed: random seed; the output is a deterministic function of all arguments.
        missing_label_frac: fraction of label entries set to the magic number (missing).
        n_visits: visit spectra per star, appended after the combined spectra.
        visit_snr: S/N of the visits; default ``snr / sqrt(n_visits)`` (``snr / 2`` for one visit), so
            the visits combine to about the combined S/N.
        dtype: float dtype of ``flux``, ``flux_err``, labels.
        continuum: include a continuum (Planck slope × chip response) instead of normalised flux.
        mask_value: for normalised spectra, value given to flagged pixels (astroNN's continuum
            normaliser puts 1 there); ``None`` keeps the corrupted values.
        label_noise: if True the catalogue ``labels`` scatter around ``labels_true`` by ``label_err``.
    """
    _validate(n_stars, snr, missing_label_frac, n_visits, visit_snr)
    parts: dict[str, list[np.ndarray]] = {}
    for _, block in _blocks(n_stars, seed, snr=snr, missing_label_frac=missing_label_frac, n_visits=n_visits,
                            visit_snr=visit_snr, continuum=continuum, mask_value=mask_value,
                            label_noise=label_noise):
        for key, arrs in block.items():
            parts.setdefault(key, []).append(arrs)
    # order: all combined spectra, then visit 1 of all stars, visit 2 ...
    merged: dict[str, np.ndarray] = {}
    n_blocks = len(parts["flux"])
    for key, per_block in parts.items():
        seq = [per_block[b][v] for v in range(n_visits + 1) for b in range(n_blocks)]
        merged[key] = np.concatenate(seq)
    # visit_of is per block: shift to global star indices
    offsets = np.concatenate([[0], np.cumsum([len(p[0]) for p in parts["visit_of"]])])
    vo = [np.where(parts["visit_of"][b][v] >= 0, parts["visit_of"][b][v] + offsets[b], -1)
          for v in range(n_visits + 1) for b in range(n_blocks)]
    merged["visit_of"] = np.concatenate(vo)
    fl = {k: merged[k].astype(dtype) for k in ("flux", "flux_err", "labels", "label_err", "labels_true")}
    return SyntheticSpectra(
        flux=fl["flux"], flux_err=fl["flux_err"], bitmask=merged["bitmask"], labels=fl["labels"],
        label_err=fl["label_err"], labels_true=fl["labels_true"], label_names=list(LABEL_NAMES),
        wavelength=apogee_wavelength(), visit_of=merged["visit_of"], snr=merged["snr"], continuum=continuum,
        meta={"generator": "synthetic", "seed": int(seed)},
    )


def write_synthetic_hdf5(
    path: str | Path,
    n_stars: int,
    chunk: int = 8 * BLOCK_SIZE,
    snr: float | tuple[float, float] = 100.0,
    seed: int = 0,
    missing_label_frac: float = 0.05,
    n_visits: int = 0,
    visit_snr: float | None = None,
    dtype: Any = np.float32,
    continuum: bool = False,
    mask_value: float | None = 1.0,
    label_noise: bool = True,
) -> Path:
    """Write a synthetic data set to HDF5 block by block, never holding more than ``chunk`` stars.

    The file holds exactly what :func:`synthetic_spectra` with the same arguments returns (same row
    order), written in blocks of :data:`BLOCK_SIZE` stars; ``chunk`` (rounded down to a multiple of
    the block size, at least one block) only sets the HDF5 chunking, not the content. Returns the path;
    the file appears at ``path`` only once complete.
    """
    _validate(n_stars, snr, missing_label_frac, n_visits, visit_snr)
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise InputValidationError(f"chunk must be a positive integer, got {chunk!r}")
    chunk_rows = max(BLOCK_SIZE, (int(chunk) // BLOCK_SIZE) * BLOCK_SIZE)
    path = Path(path)
    m = n_stars * (n_visits + 1)
    k = len(LABEL_NAMES)
    with atomic_hdf5(path) as f:
        c_rows = min(chunk_rows, m)
        ds = {
            "flux": f.create_dataset("flux", (m, N_PIXELS), dtype=dtype, chunks=(min(256, c_rows), N_PIXELS)),
            "flux_err": f.create_dataset("flux_err", (m, N_PIXELS), dtype=dtype, chunks=(min(256, c_rows), N_PIXELS)),
            "bitmask": f.create_dataset("bitmask", (m, N_PIXELS), dtype=np.int32, chunks=(min(256, c_rows), N_PIXELS)),
            "labels": f.create_dataset("labels", (m, k), dtype=dtype),
            "label_err": f.create_dataset("label_err", (m, k), dtype=dtype),
            "labels_true": f.create_dataset("labels_true", (m, k), dtype=dtype),
            "visit_of": f.create_dataset("visit_of", (m,), dtype=np.int64),
            "snr": f.create_dataset("snr", (m,), dtype=np.float64),
        }
        f.create_dataset("wavelength", data=apogee_wavelength())
        write_attrs(f, LABEL_NAMES, continuum)
        for start, block in _blocks(n_stars, seed, snr=snr, missing_label_frac=missing_label_frac,
                                    n_visits=n_visits, visit_snr=visit_snr, continuum=continuum,
                                    mask_value=mask_value, label_noise=label_noise):
            n = len(block["flux"][0])
            for v in range(n_visits + 1):
                rows = slice(v * n_stars + start, v * n_stars + start + n)
                for key, d in ds.items():
                    arr = block[key][v]
                    if key == "visit_of":
                        arr = np.where(arr >= 0, arr + start, -1)
                    d[rows] = arr.astype(d.dtype)
    return path


# the emulated generator returns the same container (its module imports this one only inside functions)
from astrotorch.datasets.emulated import emulated_spectra  # noqa: E402

__all__ = [
    "APSTAR_CRVAL1", "APSTAR_CDELT1", "APSTAR_NPIX", "CHIP_RANGES", "N_PIXELS", "RESOLVING_POWER",
    "PIXMASK_BITS", "BAD_PIXEL_BITS", "ELEMENTS", "LABEL_NAMES", "BLOCK_SIZE", "LineList", "SyntheticSpectra",
    "apogee_wavelength", "chip_slices", "element_windows", "emulated_spectra", "line_list", "load_spectra_hdf5",
    "load_synthetic_hdf5",
    "normalized_spectra", "sample_labels", "synthetic_spectra", "write_synthetic_hdf5",
]
