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

Layout: this module holds the generator itself (:func:`synthetic_spectra`, :func:`write_synthetic_hdf5`)
and re-exports the pieces it is built from — ``spectra_grid`` (wavelength grid, chips, PIXMASK bits),
``spectra_labels`` (label names, population model), ``spectra_lines`` (line list, noise-free
synthesis), ``spectra_noise`` (continuum, noise, bitmasks) and ``spectra_io`` (the container and its
HDF5 files). Private helpers that ``emulated.py``, the tests and ``bench/spectra_crlb.py`` reach through
this module are re-exported as ``from m import _x as _x``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.config import magic_number
from astrotorch.datasets.spectra_grid import (
    APSTAR_CDELT1,
    APSTAR_CRVAL1,
    APSTAR_NPIX,
    BAD_PIXEL_BITS,
    CHIP_RANGES,
    N_PIXELS,
    PIXMASK_BITS,
    RESOLVING_POWER,
    apogee_wavelength,
    chip_slices,
)
from astrotorch.datasets.spectra_io import (
    SyntheticSpectra,
    atomic_hdf5,
    load_spectra_hdf5,
    load_synthetic_hdf5,
    write_attrs,
)
from astrotorch.datasets.spectra_labels import _LABEL_ERR0, ELEMENTS, LABEL_NAMES, sample_labels
from astrotorch.datasets.spectra_lines import _DAMPING_REF as _DAMPING_REF
from astrotorch.datasets.spectra_lines import _LINE_SEED as _LINE_SEED
from astrotorch.datasets.spectra_lines import LineList, element_windows, line_list, normalized_spectra
from astrotorch.datasets.spectra_lines import _line_tau as _line_tau
from astrotorch.datasets.spectra_lines import _lsf_kernel as _lsf_kernel
from astrotorch.datasets.spectra_lines import _profile_matrices as _profile_matrices
from astrotorch.datasets.spectra_noise import _SKYLINES as _SKYLINES
from astrotorch.datasets.spectra_noise import _bad as _bad
from astrotorch.datasets.spectra_noise import _check_snr, _draw_snr, _observe
from astrotorch.datasets.spectra_noise import _throughput as _throughput
from astrotorch.errors import InputValidationError


# ----------------------------------------------------------------------------------------------------
# The data set (the container and its HDF5 files live in spectra_io, shared with the emulated generator)
# ----------------------------------------------------------------------------------------------------
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
        for _v in range(n_visits):
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
