"""Emulated APOGEE spectra: real-data emulators driven by real label catalogues.

:func:`emulated_spectra` returns the same container as :func:`astrotorch.datasets.spectra.synthetic_spectra`
(:class:`~astrotorch.datasets.spectra.SyntheticSpectra`), so every spectral model, the CLI and the
benchmarks take either. What differs is where the spectra come from:

* **Spectra** — a published emulator trained on real APOGEE spectra (default binspec++,
  :mod:`astrotorch.apogee.emulators`) on the 7,214-pixel DR12 grid, embedded in the 7,514-pixel DR ≥ 13
  grid. The 300 pixels DR12 does not have (chip edges) and the 875 ASPCAP-mask pixels the emulator
  does not model are flagged ``BADPIX`` in every bitmask; their flux is ``mask_value`` (1) and their
  error is inflated, as astroNN's continuum normalisation leaves flagged pixels.
* **Labels** — drawn from a real catalogue inside the emulator's valid box: the 9,618 DR12 ASPCAP
  stars (``label_source="dr12"``, red giants; [Mg/Fe] = [Mg/H] − [Fe/H]) or the 1,638 APOKASC giants
  (``"apokasc"``, asteroseismic log g, [α/Fe] as the [Mg/Fe] proxy), or uniformly in the box
  (``"box"``), or any (N, J) array. Catalogue rows are resampled with a small Gaussian jitter (a smoothed
  bootstrap: 30 K, 0.03 dex in log g, 0.015 dex in [Fe/H] and [Mg/Fe]) so no two stars share labels.
* **v_macro** — binspec's fifth label is a Gaussian broadening fitted per training star; the emulator
  file holds only its range (0.1–19.9 km/s), not its distribution. We draw it from ASPCAP's
  macroturbulence relation for giants, ``log10 v = 0.741 − 0.0998 log g − 0.225 [M/H]`` (DR13/14,
  Holtzman et al. 2018; the coefficients are quoted from that paper from memory and could not be checked
  offline), with 0.1 dex log-normal scatter; dwarfs (log g ≥ 3.8) get 3 km/s (0.15 dex scatter) plus
  rotation above the Kraft break (6,200 K), uniformly up to 2 km/s per 100 K above it. All clipped to
  the emulator's range. The real DR14 example star (log g 2.66, [M/H] −0.57) was fitted with 3.0 km/s;
  the relation gives 4.0 km/s.
* **Noise** — photon-like Gaussian noise ``σ = sqrt(f)/(S/N · t)``, where ``t`` is a chip-to-chip
  throughput measured on the real DR14 example spectrum (quadratic per chip fitted to its continuum
  S/N; the red chip falls to half the mean S/N at its red end); bad-pixel bitmasks like
  :func:`~astrotorch.datasets.spectra.synthetic_spectra`'s (fixed bad columns, cosmic rays,
  persistence, sky-line residuals); lower-S/N visit copies of the same stars; missing labels and
  catalogue label errors (labels = truth + Gaussian noise).

Deterministic from ``seed`` (stars are generated in blocks of 1,024, each block from its own seed).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.config import magic_number
from astrotorch.errors import DataFormatError, InputValidationError, ShapeMismatchError

#: stars per independently seeded block
BLOCK_SIZE: int = 1024
#: per-chip quadratic c0 + c1·y + c2·y² (y ∈ [-1, 1] along the chip) of the relative S/N, fitted to the
#: real DR14 example spectrum (payne_zero_dr14_example_spectrum.npz: sqrt(flux)/error over good pixels)
_THROUGHPUT_COEFS: tuple[tuple[float, float, float], ...] = (
    (1.0939, 0.0741, -0.0644), (1.1144, -0.0801, 0.0025), (0.7549, -0.2413, -0.0283))
#: smoothed-bootstrap jitter of catalogue labels (Teff K, log g, [Fe/H], [Mg/Fe] dex)
_JITTER = (30.0, 0.03, 0.015, 0.015)
#: catalogue-like (ASPCAP DR12-like) label errors (units of each label) when the catalogue has none
_LABEL_ERR0 = {"teff": 50.0, "logg": 0.06, "Fe_H": 0.03, "Mg_Fe": 0.04, "vmacro": 0.7}
#: the label sources :func:`emulated_spectra` knows by name
LABEL_SOURCES: tuple[str, ...] = ("dr12", "apokasc", "box")
_CATALOGUE_FILES = {"dr12": "apogee_dr12_aspcap_labels.csv", "apokasc": "apokasc_seismic_labels.txt"}


#: persistence bits (9–11): informational in astroNN's default mask, but the flux there carries a
#: spurious signal; emulated_spectra adds one, so an exact bound or a fit leaves those pixels out
PERSISTENCE_BITS: tuple[int, ...] = (9, 10, 11)


def flagged_pixels(bitmask: np.ndarray, persistence: bool = True) -> np.ndarray:
    """Bool, True where a pixel should not count: astroNN's bad bits, and (``persistence``) bits 9–11."""
    from astrotorch.apogee.bitmask import DEFAULT_TARGET_BITS, bitmask_boolean

    bits = DEFAULT_TARGET_BITS + (PERSISTENCE_BITS if persistence else ())
    return bitmask_boolean(bitmask, target_bit=bits)


def chip_throughput(dr: int = 17) -> np.ndarray:
    """Relative S/N per pixel (mean 1) on the gap-deleted grid of ``dr``, measured on a real APOGEE spectrum."""
    from astrotorch.apogee.chips import chip_slices

    slices = chip_slices(dr)
    out = np.empty(slices[-1].stop)
    for s, c in zip(slices, _THROUGHPUT_COEFS):
        y = np.linspace(-1.0, 1.0, s.stop - s.start)
        out[s] = c[0] + c[1] * y + c[2] * y ** 2
    return out / out.mean()


def draw_vmacro(teff: np.ndarray, logg: np.ndarray, feh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Macroturbulent broadening (km/s) for each star (the relation is in the module docs)."""
    teff, logg, feh = (np.asarray(a, np.float64) for a in (teff, logg, feh))
    giant = 10.0 ** (0.741 - 0.0998 * logg - 0.225 * feh + rng.normal(0.0, 0.1, teff.shape))
    rot = np.clip(teff - 6200.0, 0.0, None) / 100.0 * 2.0 * rng.random(teff.shape)
    dwarf = 3.0 * 10.0 ** rng.normal(0.0, 0.15, teff.shape) + rot
    return np.where(logg < 3.8, giant, dwarf)


# ------------------------------------------------------------------------------------------ catalogues
def _data_file(name: str, path: str | os.PathLike[str] | None) -> Path:
    from astrotorch.config import get_config
    from astrotorch.errors import ConfigError

    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"label catalogue {p} does not exist")
        return p
    cfg = get_config()
    cands = [cfg.data_home / "apogee_emulators" / name]
    if cfg.shared_data is not None:
        cands.append(cfg.shared_data / "apogee_emulators" / name)
    for c in cands:
        if c.is_file():
            return c
    raise ConfigError(f"label catalogue {name} not found in {[str(c.parent) for c in cands]}; pass its path")


def catalogue_labels(source: str = "dr12", path: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Real labels ``(N, 4)``: Teff (K), log g, [Fe/H], [Mg/Fe] (dex), and their errors (or None).

    ``"dr12"``: the DR12 ASPCAP catalogue (TEFF, LOGG, FE_H, MG_H − FE_H; no errors in the file).
    ``"apokasc"``: APOKASC giants (Teff, seismic log g, [Fe/H], [α/Fe]; with the file's errors).
    Rows with a missing or non-finite label are dropped.
    """
    from astrotorch.io import read_csv

    if source not in _CATALOGUE_FILES:
        raise InputValidationError(f"unknown label catalogue {source!r}; known: {sorted(_CATALOGUE_FILES)}")
    p = _data_file(_CATALOGUE_FILES[source], path)
    if source == "dr12":
        df = read_csv(p, required_columns=["TEFF", "LOGG", "FE_H", "MG_H"])
        vals = np.stack([df["TEFF"], df["LOGG"], df["FE_H"], df["MG_H"] - df["FE_H"]], axis=1).astype(np.float64)
        errs = None
    else:
        with open(p, encoding="utf-8") as fh:
            header = fh.readline().lstrip("#").split()
        need = ["Teff", "seismic_logg", "FeH", "AlphaFe", "Teff_err", "seismic_logg_err", "FeH_err", "AlphaFe_err"]
        if any(c not in header for c in need):
            raise DataFormatError(f"{p}: header must name {need}, got {header}")
        df = read_csv(p, sep=r"\s+", skiprows=1, header=None, names=header)
        vals = df[need[:4]].to_numpy(np.float64)
        errs = df[need[4:]].to_numpy(np.float64)
    ok = np.all(np.isfinite(vals) & (vals > -9000.0), axis=1)
    if errs is not None:
        ok &= np.all(np.isfinite(errs) & (errs > 0), axis=1)
        errs = errs[ok]
    if not ok.any():
        raise DataFormatError(f"{p} holds no row with all four labels")
    return vals[ok], errs


def _box(emu: Any, label_box: dict[str, tuple[float, float]] | None) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = emu.x_min.copy(), emu.x_max.copy()
    for name, (a, b) in (label_box or {}).items():
        if name not in emu.label_names:
            raise InputValidationError(f"label_box names {name!r}, not a label of the emulator {emu.label_names}")
        j = emu.label_names.index(name)
        lo[j], hi[j] = max(lo[j], float(a)), min(hi[j], float(b))
        if not lo[j] < hi[j]:
            raise InputValidationError(f"label_box {name}: ({a}, {b}) does not overlap the emulator's range")
    return lo, hi


def _sample_block(n: int, emu: Any, rng: np.random.Generator, cat: tuple[np.ndarray, np.ndarray | None] | None,
                  lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True labels (n, J) inside [lo, hi] and their catalogue errors (n, J)."""
    n_lab = emu.n_labels
    truth = np.empty((n, n_lab))
    err = np.empty((n, n_lab))
    base_err = np.array([_LABEL_ERR0.get(name, 0.05) for name in emu.label_names])
    filled = 0
    while filled < n:
        m = 2 * (n - filled) + 16
        if cat is None:  # uniform in the box
            draw = rng.uniform(lo[:4], hi[:4], (m, 4))
            e = np.tile(base_err[:4], (m, 1))
        else:
            vals, errs = cat
            rows = rng.integers(0, len(vals), m)
            draw = vals[rows] + rng.normal(0.0, 1.0, (m, 4)) * np.asarray(_JITTER)
            e = errs[rows] if errs is not None else np.tile(base_err[:4], (m, 1))
        ok = np.all((draw >= lo[:4]) & (draw <= hi[:4]), axis=1)
        if cat is not None and filled == 0 and ok.mean() < 1e-3:
            raise InputValidationError("fewer than 0.1 % of the catalogue's stars fall inside the emulator's "
                                       f"label box {list(zip(lo[:4], hi[:4]))}")
        take = np.flatnonzero(ok)[: n - filled]
        truth[filled:filled + take.size, :4] = draw[take]
        err[filled:filled + take.size, :4] = e[take]
        filled += take.size
    if n_lab > 4:  # v_macro
        v = draw_vmacro(truth[:, 0], truth[:, 1], truth[:, 2], rng)
        truth[:, 4] = np.clip(v, lo[4], hi[4])
        err[:, 4] = base_err[4]
    return truth, err


# ------------------------------------------------------------------------------------------ bitmasks
def _fixed_flags(emu: Any, dr: int) -> np.ndarray:
    """Bool (7514,): pixels with no emulated data (DR12 lacks them, or the emulator's pixel mask)."""
    from astrotorch.apogee.chips import chips_pix_info, dr12_pixels

    flags = np.ones(chips_pix_info(dr)[6], dtype=bool)
    inside = dr12_pixels(dr)
    flags[inside] = False if emu.pixel_mask is None else emu.pixel_mask
    return flags


def _bitmask_into(mask: np.ndarray, rng: np.random.Generator, fixed: np.ndarray) -> np.ndarray:
    """Fill ``mask`` (n, L) int32 with APOGEE_PIXMASK-like bits; returns the rows with persistence.

    The random defects follow :func:`~astrotorch.datasets.spectra.synthetic_spectra`'s recipe.
    """
    from astrotorch.datasets import spectra as S

    n, n_pix = mask.shape
    mask[:] = 0
    mask[:, fixed] |= 1 << S.PIXMASK_BITS["BADPIX"]
    cols = np.random.default_rng(S._LINE_SEED + 1)  # detector defects: the same columns for every star
    mask[:, cols.choice(n_pix, size=24, replace=False)] |= 1 << S.PIXMASK_BITS["BADPIX"]
    mask[:, cols.choice(n_pix, size=12, replace=False)] |= 1 << S.PIXMASK_BITS["BADFLAT"]
    # cosmic rays: ~0.05 % of pixels, two-pixel hits (Poisson count per star, then positions)
    hits = rng.poisson(5e-4 * n_pix, n)
    star = np.repeat(np.arange(n), hits)
    pos = rng.integers(0, n_pix - 1, star.size)
    cr = 1 << S.PIXMASK_BITS["CRPIX"]
    mask[star, pos] |= cr
    mask[star, pos + 1] |= cr
    persist = np.flatnonzero(rng.random(n) < 0.10)  # blue end of the blue chip (informational bit)
    mask[persist, :900] |= 1 << S.PIXMASK_BITS["PERSIST_LOW"]
    wave = S.apogee_wavelength()
    for lam in S._SKYLINES:
        c = int(np.searchsorted(wave, lam))
        if abs(wave[min(c, n_pix - 1)] - lam) > 2.0:
            continue  # in a chip gap
        hit = rng.random(n) < 0.5
        mask[hit, max(c - 2, 0):min(c + 3, n_pix)] |= 1 << S.PIXMASK_BITS["SIG_SKYLINE"]
    return persist


def _observe_into(norm: np.ndarray, snr: np.ndarray, thr: np.ndarray, fixed: np.ndarray, rng: np.random.Generator,
                  mask_value: float | None, flux: np.ndarray, err: np.ndarray, mask: np.ndarray) -> None:
    """Noise, bitmasks and flagged-pixel handling of noise-free normalised spectra, written into the outputs."""
    from astrotorch.datasets.spectra import BAD_PIXEL_BITS

    # in place throughout: 20,000 spectra are 600 MB per array
    np.sqrt(np.maximum(norm, 0.02), out=err, dtype=err.dtype, casting="unsafe")
    err *= (1.0 / thr).astype(err.dtype)[None, :]
    err *= (1.0 / np.asarray(snr, np.float64)).astype(err.dtype)[:, None]
    rng.standard_normal(out=flux, dtype=flux.dtype)
    flux *= err
    flux += norm
    persist = _bitmask_into(mask, rng, fixed)
    bad = (mask & sum(1 << b for b in BAD_PIXEL_BITS)) != 0
    if mask_value is None:  # keep corrupted values at flagged pixels
        flux[bad] += 0.5 * rng.standard_normal(int(bad.sum())).astype(flux.dtype)
    flux[persist, :900] += 0.01  # a spurious persistence signal, not flagged as bad
    np.multiply(err, 100.0, out=err, where=bad)
    flux[:, fixed] = 1.0  # no data at all there
    if mask_value is not None:
        np.copyto(flux, np.asarray(mask_value, dtype=flux.dtype), where=bad)


# ------------------------------------------------------------------------------------------ generator
def _resolve_emulator(emulator: Any) -> Any:
    from astrotorch.apogee.emulators import SpectralEmulator, load_emulator

    emu = emulator if isinstance(emulator, SpectralEmulator) else load_emulator(emulator)
    if not emu.normalized:
        raise InputValidationError(f"emulator {emu.name!r} predicts un-normalised flux; emulated_spectra needs a "
                                   "continuum-normalised emulator (e.g. 'binspec_plus')")
    if emu.n_labels < 4:
        raise InputValidationError(f"emulator {emu.name!r} has {emu.n_labels} labels; expected Teff, log g, [Fe/H], [Mg/Fe]")
    return emu


def _validate(n_stars: Any, snr: Any, n_visits: Any, visit_snr: Any, missing_label_frac: float) -> None:
    if isinstance(n_stars, bool) or not isinstance(n_stars, (int, np.integer)) or n_stars < 1:
        raise InputValidationError(f"n_stars must be a positive integer, got {n_stars!r}")
    for name, v in (("snr", snr), ("visit_snr", visit_snr)):
        if v is None and name == "visit_snr":
            continue
        arr = np.atleast_1d(np.asarray(v, dtype=float)) if not isinstance(v, str) else np.array([np.nan])
        if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise InputValidationError(f"{name} must be positive and finite, got {v!r}")
    if isinstance(n_visits, bool) or not isinstance(n_visits, (int, np.integer)) or n_visits < 0:
        raise InputValidationError(f"n_visits must be a non-negative integer, got {n_visits!r}")
    if not 0.0 <= float(missing_label_frac) < 1.0:
        raise InputValidationError(f"missing_label_frac must be in [0, 1), got {missing_label_frac!r}")


def emulated_spectra(
    n_stars: int,
    emulator: Any = "binspec_plus",
    snr: float | tuple[float, float] = 100.0,
    seed: int = 0,
    n_visits: int = 0,
    visit_snr: float | None = None,
    label_source: str | np.ndarray = "dr12",
    label_box: dict[str, tuple[float, float]] | None = None,
    missing_label_frac: float = 0.05,
    label_noise: bool = True,
    mask_value: float | None = 1.0,
    dtype: Any = np.float32,
    progress: bool | None = None,
) -> Any:
    """Emulated APOGEE spectra with real-catalogue labels (see the module docs); a ``SyntheticSpectra``.

    Args:
        n_stars: number of stars (combined spectra, rows ``0 … n_stars−1``).
        emulator: name or path of a normalised emulator, or a loaded ``SpectralEmulator``.
        snr: per-pixel S/N at the continuum (mean over pixels), or a ``(low, high)`` range drawn
            log-uniformly per star.
        seed: the output is a deterministic function of all arguments.
        n_visits, visit_snr: visit copies per star (after the combined spectra); their S/N defaults to
            ``snr / sqrt(n_visits)`` (``snr / 2`` for one visit).
        label_source: ``"dr12"``, ``"apokasc"``, ``"box"`` (uniform), or an ``(n_stars, 4 or 5)`` array of
            true labels in the emulator's order (v_macro drawn when only four columns are given).
        label_box: optional ``{label: (low, high)}`` narrowing the emulator's valid box.
        missing_label_frac: fraction of catalogue label entries set to the magic number.
        label_noise: catalogue labels = truth + Gaussian noise of ``label_err``.
        mask_value: flux of flagged pixels (None keeps the corrupted values; no-data pixels are 1).
        dtype: float dtype of flux, errors and labels.
        progress: tqdm bar over blocks; default on for 5,000 stars or more.

    Columns of ``labels``: the emulator's labels (binspec++: teff K, logg, Fe_H, Mg_Fe dex, vmacro km/s).
    """
    from astrotorch.apogee.chips import dr12_pixels, gap_deleted_wavelength
    from astrotorch.datasets.spectra import SyntheticSpectra, _draw_snr

    _validate(n_stars, snr, n_visits, visit_snr, missing_label_frac)
    emu = _resolve_emulator(emulator)
    lo, hi = _box(emu, label_box)
    given: np.ndarray | None = None
    cat: tuple[np.ndarray, np.ndarray | None] | None = None
    if isinstance(label_source, str):
        if label_source not in LABEL_SOURCES:
            raise InputValidationError(f"label_source must be one of {LABEL_SOURCES} or an array, got {label_source!r}")
        cat = None if label_source == "box" else catalogue_labels(label_source)
    else:
        given = np.asarray(label_source, dtype=np.float64)
        if given.ndim != 2 or given.shape[0] != n_stars or given.shape[1] not in (4, emu.n_labels):
            raise ShapeMismatchError(f"label_source array must be (n_stars={n_stars}, 4 or {emu.n_labels}), got {given.shape}")
        full = given if given.shape[1] == emu.n_labels else np.column_stack(
            [given, np.tile(emu.x_min[4:], (n_stars, 1))])  # check the given columns only
        emu.check_labels(full, name="label_source")
    dr = 17
    fixed = _fixed_flags(emu, dr)
    inside = dr12_pixels(dr)
    thr = chip_throughput(dr).astype(np.float32)
    magic = magic_number()
    n_total = n_stars * (n_visits + 1)
    n_pix = fixed.size
    out = {k: np.empty((n_total, n_pix), dtype=dt) for k, dt in (("flux", dtype), ("flux_err", dtype), ("bitmask", np.int32))}
    out.update({k: np.empty((n_total, emu.n_labels), dtype=dtype) for k in ("labels", "label_err", "labels_true")})
    out["snr"] = np.empty(n_total)
    out["visit_of"] = np.full(n_total, -1, dtype=np.int64)
    starts = range(0, n_stars, BLOCK_SIZE)
    show = progress if progress is not None else n_stars >= 5000
    if show:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="emulated spectra", unit="block", total=math.ceil(n_stars / BLOCK_SIZE))
    for start in starts:
        b = start // BLOCK_SIZE
        n = min(BLOCK_SIZE, n_stars - start)
        rng = np.random.default_rng([int(seed), b, 15])
        if given is None:
            truth, lab_err = _sample_block(n, emu, rng, cat, lo, hi)
        else:
            truth = np.empty((n, emu.n_labels))
            truth[:, : given.shape[1]] = given[start:start + n]
            if given.shape[1] < emu.n_labels:
                truth[:, 4] = np.clip(draw_vmacro(truth[:, 0], truth[:, 1], truth[:, 2], rng), emu.x_min[4], emu.x_max[4])
            lab_err = np.tile([_LABEL_ERR0.get(nm, 0.05) for nm in emu.label_names], (n, 1))
        norm = np.ones((n, n_pix), dtype=np.float32)
        norm[:, inside] = emu.flux(truth, check=False, batch_size=32)
        # catalogue errors vary by ±30 % per star and grow for metal-poor stars (weaker lines), as in synthetic_spectra
        if cat is None or cat[1] is None:
            lab_err = lab_err * rng.uniform(0.7, 1.3, lab_err.shape) * (1.0 + np.clip(-truth[:, 2:3], 0, None))
        labels = truth + (lab_err * rng.standard_normal(truth.shape) if label_noise else 0.0)
        missing = rng.random(truth.shape) < missing_label_frac
        labels = np.where(missing, magic, labels)
        lab_err = np.where(missing, magic, lab_err)
        snr_c = _draw_snr(snr, n, rng)
        for v in range(n_visits + 1):
            if v == 0:
                s_v = snr_c
            elif visit_snr is not None:
                s_v = np.full(n, float(visit_snr))
            else:
                s_v = snr_c / (2.0 if n_visits == 1 else math.sqrt(n_visits))
            rows = slice(v * n_stars + start, v * n_stars + start + n)
            _observe_into(norm, s_v, thr, fixed, rng, mask_value, out["flux"][rows], out["flux_err"][rows],
                          out["bitmask"][rows])
            out["labels"][rows], out["label_err"][rows], out["labels_true"][rows] = labels, lab_err, truth
            out["snr"][rows] = s_v
            if v > 0:
                out["visit_of"][rows] = np.arange(start, start + n)
    meta = {"generator": "emulated", "emulator": emu.name,
            "label_source": label_source if isinstance(label_source, str) else "array", "seed": int(seed)}
    return SyntheticSpectra(label_names=list(emu.label_names), wavelength=gap_deleted_wavelength(dr), continuum=False,
                            meta=meta, **out)


__all__ = ["BLOCK_SIZE", "LABEL_SOURCES", "PERSISTENCE_BITS", "catalogue_labels", "chip_throughput", "draw_vmacro",
           "emulated_spectra", "flagged_pixels"]
