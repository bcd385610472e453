"""Stellar labels of the synthetic spectra generator: names, catalogue errors and the population model.

A red-giant branch, a red clump and main-sequence/turn-off dwarfs along a realistic Teff–log g
sequence that shifts with metallicity; a thin disc and an α-enhanced thick disc in [M/H]–[α/M]; 18
element abundances [X/H] correlated like real stars (α elements follow [α/M], odd-Z and iron-peak
elements their own trends, C and N changed by first dredge-up on the giant branch). Re-exported by
:mod:`astrotorch.datasets.spectra`.
"""

from __future__ import annotations

import numpy as np

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


__all__ = ["ELEMENTS", "LABEL_NAMES", "sample_labels"]
