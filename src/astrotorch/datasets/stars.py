"""Stellar-parameter catalogues: a synthetic HR-diagram catalogue and the real Gaia DR3 "Fusion" set.

Both come in one schema: ``inputs`` with ``teff`` (K), ``luminosity`` (L_sun), ``radius`` (R_sun), and
``targets`` with the sixteen columns of :data:`STAR_TARGETS` (units in :data:`STAR_TARGET_UNITS`).

Classes use the Fusion catalogue's codes (``../shared/data/README.md``): spectral class by Teff
(0 M, 1 K, 2 G, 3 F, 4 A, 5 B, 6 O), luminosity class by L (0 D, 6 V, 5 IV, 4 III, 3 II, 2 Ib, 1 Ia)
and star type (0 brown dwarf, 1 red dwarf, 2 white dwarf, 3 main sequence, 4 supergiant, 5 hypergiant).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import constants as const
from astropy import units as u

from astrotorch.config import get_config
from astrotorch.errors import DataFormatError, EmptyDatasetError, InputValidationError
from astrotorch.gaia.gaia_shared import solar_absmag_bands
from astrotorch.physics import stellar as ph

STAR_INPUTS: list[str] = ["teff", "luminosity", "radius"]
STAR_TARGETS: list[str] = [
    "mbol",
    "mv",
    "log_lbol_w",
    "mass",
    "density",
    "log_central_pressure",
    "log_central_temperature",
    "lifespan",
    "logg",
    "log_binding_energy",
    "log_flux",
    "mh",
    "spectral_class",
    "luminosity_class",
    "peak_wavelength",
    "star_type",
]
STAR_TARGET_UNITS: dict[str, str] = {
    "mbol": "mag",
    "mv": "mag",
    "log_lbol_w": "dex(W) (the Fusion column carries a unit slip)",
    "mass": "M_sun",
    "density": "rho_sun",
    "log_central_pressure": "dex(Pa)",
    "log_central_temperature": "dex(K)",
    "lifespan": "solar lifetimes",
    "logg": "dex(cm s^-2)",
    "log_binding_energy": "dex(J)",
    "log_flux": "dex(W m^-2)",
    "mh": "dex",
    "spectral_class": "class code",
    "luminosity_class": "class code",
    "peak_wavelength": "nm",
    "star_type": "class code",
}
STAR_CLASS_TARGETS: list[str] = ["spectral_class", "luminosity_class", "star_type"]
N_CLASSES: dict[str, int] = {"spectral_class": 7, "luminosity_class": 7, "star_type": 6}
SPECTRAL_CLASS_NAMES = ["M", "K", "G", "F", "A", "B", "O"]
LUMINOSITY_CLASS_NAMES = ["D", "Ia", "Ib", "II", "III", "IV", "V"]
STAR_TYPE_NAMES = ["brown dwarf", "red dwarf", "white dwarf", "main sequence", "supergiant", "hypergiant"]

# the Fusion CSV headers as published (../shared/data/gaia_dr3_stars), mapped to the library's names
_FUSION_INPUT_COLUMNS = ["EffectiveTemperature(Teff)(K)", "Luminosity(L/Lo)", "Radius(R/Ro)"]
#: published Fusion ``targets.csv`` header → :data:`STAR_TARGETS` name
FUSION_TARGET_COLUMNS: dict[str, str] = {
    "AbsoluteBolometricMagnitude(Mbol)": "mbol",
    "AbsoluteMagnitude(M)(Mv)": "mv",
    "AbsoluteBolometricLuminosity(Lbol)(log(W))": "log_lbol_w",
    "Mass(M/Mo)": "mass",
    "AverageDensity(D/Do)": "density",
    "CentralPressure(log(N/m^2))": "log_central_pressure",
    "CentralTemperature(log(K))": "log_central_temperature",
    "Lifespan(SL/SLo)": "lifespan",
    "SurfaceGravity(log(g)...log(N/kg))": "logg",
    "GravitationalBindingEnergy(log(J))": "log_binding_energy",
    "BolometricFlux(log(W/m^2))": "log_flux",
    "Metallicity(log(MH/MHo))": "mh",
    "SpectralClass": "spectral_class",
    "LuminosityClass": "luminosity_class",
    "StarPeakWavelength(nm)": "peak_wavelength",
    "StarType": "star_type",
}
#: published Fusion ``inputs.csv`` header → :data:`STAR_INPUTS` name
FUSION_INPUT_COLUMNS: dict[str, str] = dict(zip(_FUSION_INPUT_COLUMNS, STAR_INPUTS))


def _row_ids(df: pd.DataFrame, id_column: str | None, path: Path) -> np.ndarray | None:
    """Object ids of a star table: ``id_column``, else a column named ``id``, else an unnamed first
    column (the index column pandas writes, as in the Fusion files); ``None`` when there is none."""
    if id_column is not None:
        if id_column not in df.columns:
            raise DataFormatError(f"{path} has no id column {id_column!r}; it has {[str(c) for c in df.columns]}")
        return df[id_column].to_numpy()
    if "id" in df.columns:
        return df["id"].to_numpy()
    if str(df.columns[0]).startswith("Unnamed"):
        return df[df.columns[0]].to_numpy()
    return None


def fusion_class_codes(teff: np.ndarray, lum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Fusion catalogue's class rules (README), used to label the synthetic catalogue.

    Models never call this: they learn their own thresholds from data.
    """
    spec = np.searchsorted([4000.0, 5200.0, 7000.0, 12000.0, 20000.0, 34000.0], teff, side="right")
    # bins of L: ≤0.1 D, ≤25 V, ≤100 IV, ≤1300 III, ≤8000 II, ≤125000 Ib, else Ia
    lbin = np.searchsorted([0.1, 25.0, 100.0, 1300.0, 8000.0, 125000.0], lum, side="left")
    lum_class = np.array([0, 6, 5, 4, 3, 2, 1])[lbin]
    stype = np.full(teff.shape, -1)
    rules = [
        (0, teff < 2400),
        (1, (teff >= 2400) & (teff <= 4500) & (lum <= 25)),
        (2, lum < 0.1),
        (3, (teff > 4500) & (teff <= 30000) & (lum <= 25)),
        (4, (lum > 25) & (lum <= 125000)),
        (5, lum > 125000),
    ]
    for code, cond in rules:
        stype = np.where((stype < 0) & cond, code, stype)
    stype = np.where(stype < 0, 3, stype)  # hot faint leftovers: count as main sequence
    return spec.astype(np.int64), lum_class.astype(np.int64), stype.astype(np.int64)


def bolometric_correction_v(teff: np.ndarray) -> np.ndarray:
    """V-band bolometric correction of a blackbody, tied to the Sun: ``BC = M_bol - M_V``.

    ``BC(T) = 2.5 log10(f_V(T) / f_V(T_sun)) + (M_bol,sun - M_V,sun)`` where ``f_V`` is the fraction of
    the blackbody flux in a Gaussian V band (551 nm, FWHM 88 nm). Blackbodies are crude for cool stars
    (molecular bands) but give the right shape: BC ≈ -0.07 for the Sun, strongly negative for hot and
    cool stars.
    """
    t = np.atleast_1d(np.asarray(teff, dtype=np.float64))
    lam = np.linspace(300.0, 900.0, 601) * u.nm
    band = np.exp(-0.5 * ((lam.value - 551.0) / (88.0 / 2.3548)) ** 2)

    def fraction(temps: np.ndarray) -> np.ndarray:
        x = (const.h * const.c / (lam[None, :] * const.k_B * temps[:, None] * u.K)).decompose().value
        with np.errstate(over="ignore"):
            b_lam = 2 * const.h.value * const.c.value**2 / (lam.to_value(u.m)[None, :] ** 5 * np.expm1(x))
        flux = np.trapezoid(b_lam * band[None, :], lam.to_value(u.m), axis=1) * np.pi
        return flux / (const.sigma_sb.value * temps**4)

    ref = fraction(np.array([ph.T_SUN]))[0]
    bc = 2.5 * np.log10(np.clip(fraction(t), 1e-300, None) / ref) + (ph.MBOL_SUN - solar_absmag_bands["V"])
    return bc.reshape(np.shape(teff))


def synthetic_stars(n: int = 5000, seed: int = 0, noise: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic catalogue across the HR diagram, in the schema of the real Fusion set.

    Populations (fractions): main sequence (65%: Kroupa-like IMF 0.08–40 M_sun, piecewise
    mass–luminosity relation, R ∝ M^0.8 below 1 M_sun and M^0.57 above), red giants (15%),
    supergiants (5%, L = 1e4–1e6 L_sun), white dwarfs (10%: R ∝ M^(-1/3)), brown dwarfs (5%).
    Derived columns use exact physics with astropy constants; log g (from g = GM/R²), Mv (blackbody
    bolometric correction) and [M/H] get measurement noise (0.05 dex, 0.03 mag, 0.1 dex) when ``noise``.

    :return: ``(inputs, targets)`` DataFrames (columns :data:`STAR_INPUTS`, :data:`STAR_TARGETS`)
    """
    if n < 1:
        raise InputValidationError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [0.65, 0.15, 0.05, 0.10, 0.05])
    mass, radius, teff = [], [], []
    # main sequence: IMF by inverse transform on a broken power law (slope -1.3 below 0.5, -2.3 above)
    n_ms = counts[0]
    low = rng.random(n_ms) < 0.55
    u1 = rng.random(n_ms)
    m_low = (0.08**-0.3 + u1 * (0.5**-0.3 - 0.08**-0.3)) ** (1 / -0.3)
    m_high = (0.5**-1.3 + u1 * (40.0**-1.3 - 0.5**-1.3)) ** (1 / -1.3)
    m = np.where(low, m_low, m_high)
    lum_ms = ph.main_sequence_luminosity(m)
    r_ms = np.where(m < 1.0, m**0.8, m**0.57) * 10 ** rng.normal(0, 0.03, n_ms)
    mass.append(m)
    radius.append(r_ms)
    teff.append(ph.stefan_boltzmann_teff(lum_ms, r_ms))
    # red giants: 0.8–4 M_sun, 8–80 R_sun, 3600–5200 K
    n_g = counts[1]
    mass.append(rng.uniform(0.8, 4.0, n_g))
    radius.append(10 ** rng.uniform(np.log10(8), np.log10(80), n_g))
    teff.append(rng.uniform(3600, 5200, n_g))
    # supergiants: 10–40 M_sun, L 1e4–1e6 L_sun, 3500–30000 K (log-uniform); R from Stefan–Boltzmann
    n_s = counts[2]
    mass.append(rng.uniform(10, 40, n_s))
    t_s = 10 ** rng.uniform(np.log10(3500), np.log10(30000), n_s)
    radius.append(ph.stefan_boltzmann_radius(t_s, 10 ** rng.uniform(4, 6, n_s)))
    teff.append(t_s)
    # white dwarfs: mass ~ N(0.6, 0.1), R = 0.0126 (M/0.6)^(-1/3) R_sun (≈ Earth radius), 5000–40000 K
    n_w = counts[3]
    mw = np.clip(rng.normal(0.6, 0.1, n_w), 0.3, 1.2)
    mass.append(mw)
    radius.append(0.0126 * (mw / 0.6) ** (-1 / 3))
    teff.append(10 ** rng.uniform(np.log10(5000), np.log10(40000), n_w))
    # brown dwarfs: 0.015–0.075 M_sun, R ≈ 0.08–0.12 R_sun, 700–2400 K
    n_b = counts[4]
    mass.append(rng.uniform(0.015, 0.075, n_b))
    radius.append(rng.uniform(0.08, 0.12, n_b))
    teff.append(rng.uniform(700, 2399, n_b))
    mass_a, r_a, t_a = (np.concatenate(a) for a in (mass, radius, teff))
    perm = rng.permutation(n)
    mass_a, r_a, t_a = mass_a[perm], r_a[perm], t_a[perm]
    lum = ph.stefan_boltzmann_luminosity(t_a, r_a)
    lL, lR, lM, lT = np.log10(lum), np.log10(r_a), np.log10(mass_a), np.log10(t_a)
    mbol = ph.bolometric_magnitude(lum)
    logg = ph.surface_gravity(mass_a, r_a)
    mv = mbol - bolometric_correction_v(t_a)
    mh = np.clip(rng.normal(-0.2, 0.3, n), -2.5, 0.5)
    if noise:
        logg = logg + rng.normal(0, 0.05, n)
        mv = mv + rng.normal(0, 0.03, n)
        mh = mh + rng.normal(0, 0.1, n)
    spec, lcls, stype = fusion_class_codes(t_a, lum)
    targets = pd.DataFrame(
        {
            "mbol": mbol,
            "mv": mv,
            "log_lbol_w": ph.LOG_LSUN_W + lL,
            "mass": mass_a,
            "density": ph.mean_density(mass_a, r_a),
            "log_central_pressure": ph.LOG_PC_SCALE + 2 * lM - 4 * lR,
            "log_central_temperature": ph.LOG_TC_SCALE + lM - lR,
            "lifespan": ph.lifespan(mass_a, lum),
            "logg": logg,
            # uniform sphere: E = (3/5) G M² / R
            "log_binding_energy": ph.LOG_EB_SCALE + np.log10(0.6) + 2 * lM - lR,
            "log_flux": ph.LOG_SIGMA_SB + 4 * lT,
            "mh": mh,
            "spectral_class": spec,
            "luminosity_class": lcls,
            "peak_wavelength": ph.wien_peak_wavelength(t_a).to_value(u.nm),
            "star_type": stype,
        }
    )
    inputs = pd.DataFrame({"teff": t_a, "luminosity": lum, "radius": r_a})
    return inputs, targets


def _default_fusion_dir() -> Path:
    shared = get_config().shared_data
    if shared is None:
        raise FileNotFoundError("shared data folder not found: pass path= or set $ASTROTORCH_SHARED_DATA")
    return shared / "gaia_dr3_stars"


def read_star_inputs(path: str | os.PathLike[str], id_column: str | None = None) -> pd.DataFrame:
    """Read a CSV of stars into columns ``teff, luminosity, radius`` (NaN where absent).

    Accepts our names (``teff``, ``luminosity``/``lum``, ``radius``) or the Fusion headers
    (:data:`FUSION_INPUT_COLUMNS`); at least two of the three columns must exist. Empty cells are
    missing values; a text cell in one of those columns raises
    :class:`~astrotorch.errors.DataFormatError` naming the column and row. The index holds the
    stars' ids: ``id_column``, a column ``id``, or an unnamed first column (as in the Fusion files).
    """
    from astrotorch.io import read_csv, require_numeric_columns

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    df = read_csv(path, allow_empty=True)
    if len(df) == 0:
        raise EmptyDatasetError(f"{path} has no rows")
    aliases = {
        "teff": ["teff", "Teff", _FUSION_INPUT_COLUMNS[0]],
        "luminosity": ["luminosity", "lum", "L", _FUSION_INPUT_COLUMNS[1]],
        "radius": ["radius", "R", _FUSION_INPUT_COLUMNS[2]],
    }
    found = {key: next((c for c in names if c in df.columns), None) for key, names in aliases.items()}
    present = [c for c in found.values() if c is not None]
    if len(present) < 2:
        raise DataFormatError(f"{path} needs at least two of teff, luminosity, radius columns; has {list(df.columns)}")
    df = require_numeric_columns(path, df, present)
    result = pd.DataFrame({key: df[col].to_numpy(float) if col else np.full(len(df), np.nan) for key, col in found.items()})
    ids = _row_ids(df, id_column, path)
    if ids is not None:
        result.index = pd.Index(ids, name=id_column or "id")
    return result


def read_star_targets(path: str | os.PathLike[str], id_column: str | None = None) -> pd.DataFrame:
    """Read a CSV of target values into the columns of :data:`STAR_TARGETS` (NaN where absent).

    Columns by the library's names or the published Fusion headers (:data:`FUSION_TARGET_COLUMNS`).
    At least one target column must exist; every target column must hold numbers (empty cells are
    missing values), and the class columns integer codes in their range (:data:`N_CLASSES`). The
    index holds the ids when the file has them (as :func:`read_star_inputs`), else 0..N-1.
    """
    from astrotorch.io import read_csv, require_numeric_columns

    path = Path(path)
    df = read_csv(path)
    ids = _row_ids(df, id_column, path)
    clash = [c for c, ours in FUSION_TARGET_COLUMNS.items() if c in df.columns and ours in df.columns]
    if clash:
        raise DataFormatError(f"{path} has both {clash[0]!r} and {FUSION_TARGET_COLUMNS[clash[0]]!r}: "
                              "one column per target")
    df = df.rename(columns=FUSION_TARGET_COLUMNS)
    known = [c for c in STAR_TARGETS if c in df.columns]
    if not known:
        raise DataFormatError(f"{path} has none of the target columns {STAR_TARGETS}; it has {list(df.columns)}")
    df = require_numeric_columns(path, df, known)
    for c in STAR_CLASS_TARGETS:
        if c not in df.columns:
            continue
        codes = df[c].dropna().to_numpy(float)
        bad = codes[(codes != np.round(codes)) | (codes < 0) | (codes >= N_CLASSES[c])]
        if bad.size:
            raise DataFormatError(f"{path}: column {c!r} holds class codes 0..{N_CLASSES[c] - 1}, not {bad[0]:g} "
                                  f"({bad.size} such rows)")
    targets = df.reindex(columns=STAR_TARGETS)
    targets.index = pd.Index(ids, name=id_column or "id") if ids is not None else pd.RangeIndex(len(targets))
    return targets


def load_gaia_dr3_stars(path: str | os.PathLike[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load the real Gaia DR3 "Fusion" set (``inputs.csv`` + ``targets.csv``) in our schema.

    :param path: the folder holding both files (default: the shared data folder)
    :return: ``(inputs, targets)``: inputs ``teff, luminosity, radius``; targets :data:`STAR_TARGETS`
    """
    folder = Path(path) if path is not None else _default_fusion_dir()
    fi, ft = folder / "inputs.csv", folder / "targets.csv"
    for f in (fi, ft):
        if not f.is_file():
            raise FileNotFoundError(f"{f} does not exist")
    try:
        raw_in = pd.read_csv(fi, index_col=0)
        raw_t = pd.read_csv(ft, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(f"cannot parse the Fusion CSVs in {folder}: {exc}") from exc
    missing = [c for c in _FUSION_INPUT_COLUMNS if c not in raw_in.columns]
    if missing:
        raise DataFormatError(f"{fi} lacks columns {missing}")
    missing = [c for c in FUSION_TARGET_COLUMNS if c not in raw_t.columns]
    if missing:
        raise DataFormatError(f"{ft} lacks columns {missing}")
    if not raw_in.index.equals(raw_t.index):
        raise DataFormatError(f"{fi} and {ft} rows do not line up")
    inputs = pd.DataFrame(raw_in[_FUSION_INPUT_COLUMNS].to_numpy(float), columns=STAR_INPUTS, index=raw_in.index)
    targets = raw_t[list(FUSION_TARGET_COLUMNS)].rename(columns=FUSION_TARGET_COLUMNS)[STAR_TARGETS].astype(float)
    for c in STAR_CLASS_TARGETS:
        targets[c] = targets[c].astype(np.int64)
    return inputs, targets


def split_indices(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed random train/test split of ``n`` rows: ``(train_idx, test_idx)``."""
    if not 0 < test_fraction < 1:
        raise InputValidationError(f"test_fraction must be in (0, 1), got {test_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


__all__ = [
    "STAR_INPUTS",
    "STAR_TARGETS",
    "STAR_TARGET_UNITS",
    "STAR_CLASS_TARGETS",
    "N_CLASSES",
    "SPECTRAL_CLASS_NAMES",
    "LUMINOSITY_CLASS_NAMES",
    "STAR_TYPE_NAMES",
    "FUSION_INPUT_COLUMNS",
    "FUSION_TARGET_COLUMNS",
    "fusion_class_codes",
    "bolometric_correction_v",
    "synthetic_stars",
    "read_star_targets",
    "read_star_inputs",
    "load_gaia_dr3_stars",
    "split_indices",
    "oscillation_power_spectrum",
]


def oscillation_power_spectrum(
    logg: np.ndarray, teff: np.ndarray, n_freq: int = 64, fmin_uhz: float = 1.0, fmax_uhz: float = 400.0,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic solar-like oscillation power spectra (log10 power) of red giants, from log g and Teff.

    ``ν_max = ν_max,sun (g / g_sun) (Teff / Teff_sun)^-1/2`` with ν_max,sun = 3090 μHz (Huber et al.
    2011); a Gaussian p-mode envelope of FWHM ``0.66 ν_max^0.88`` (Mosser et al. 2012) carrying a comb of
    radial modes spaced by ``Δν = 0.263 ν_max^0.772`` μHz (Stello et al. 2009), on a granulation
    background ``a / (1 + (ν / b)²)`` with ``b = ν_max / 3`` and ``a ∝ ν_max^-2`` (Kallinger et al.
    2014 trends). With ``seed``, χ²₂ realisation noise is averaged over 10 bins (a smoothed spectrum).

    :param logg: log10 g (cgs); :param teff: K
    :return: ``(frequency μHz (n_freq,), log10 power (N, n_freq))`` on a log-spaced grid
    """
    lg = np.atleast_1d(np.asarray(logg, np.float64))
    t = np.atleast_1d(np.asarray(teff, np.float64))
    if lg.shape != t.shape:
        raise InputValidationError(f"logg and teff shapes differ: {lg.shape} vs {t.shape}")
    nu = np.geomspace(fmin_uhz, fmax_uhz, n_freq)
    numax = 3090.0 * 10 ** (lg - ph.LOGG_SUN) * (t / ph.T_SUN) ** -0.5
    dnu = 0.263 * numax**0.772
    fwhm = 0.66 * numax**0.88
    env_height = 4e6 * numax**-2.0
    env = env_height[:, None] * np.exp(-0.5 * ((nu[None, :] - numax[:, None]) / (fwhm[:, None] / 2.3548)) ** 2)
    # radial-mode comb: peaks where ν/Δν is near an integer + ε (ε ≈ 1.3), resolved on the grid as a modulation
    comb = 0.5 * (1 + np.cos(2 * np.pi * (nu[None, :] / dnu[:, None] - 1.3)))
    gran = (2e6 * numax**-2.0)[:, None] / (1 + (nu[None, :] / (numax[:, None] / 3)) ** 2)
    power = gran + env * (0.5 + comb) + 1.0  # + white (shot) noise level
    if seed is not None:
        rng = np.random.default_rng(seed)
        power = power * rng.chisquare(20, size=power.shape) / 20
    return nu, np.log10(power)
