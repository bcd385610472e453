"""Observed APOGEE spectra from files, continuum-normalised on one grid, ready for a model or a fit.

:func:`read_spectra` takes any mix of

* apStar / asStar FITS (the combined spectrum), aspcapStar FITS (ASPCAP's normalised spectrum, on the
  8,575-, 7,514- or 7,214-pixel grid), apVisit / asVisit FITS (one visit: shifted to the star's rest
  frame with the header's velocity and resampled onto the apStar grid);
* HDF5 files in either spectra layout (:func:`astrotorch.datasets.spectra_io.load_spectra_hdf5`);
* ``.npz`` arrays: ``flux`` (or ``normalized_flux``/``spectra``) and ``flux_err`` (or
  ``normalized_error``/``error``/``spectra_err``), optionally ``bitmask`` (APOGEE_PIXMASK integers),
  ``mask`` (True = bad) or ``good_pixel_mask`` (True = good) and ``apogee_id``; 8,575-pixel arrays are
  raw apStar-grid flux (normalised here), 7,514 or 7,214 pixels are taken as already normalised;

given as paths or glob patterns. Raw spectra are gap-deleted and continuum-normalised with
:func:`~astrotorch.apogee.continuum.apogee_continuum` and astroNN's default continuum mask. Everything
ends on the 7,514-pixel DR ≥ 13 grid with a boolean ``bad`` array (flagged by the bitmask, not covered,
non-finite or with an error the normaliser marked as masked).
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.errors import DataFormatError, InputValidationError

#: file-name prefixes of each FITS kind (as = the LCO telescope's files)
_PREFIXES = {"apStar": ("apstar-", "asstar-"), "aspcapStar": ("aspcapstar-",), "apVisit": ("apvisit-", "asvisit-")}
_FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fts")


@dataclasses.dataclass
class ObservedSpectra:
    """Normalised spectra on the 7,514-pixel grid, one row per spectrum.

    Attributes: ``flux``, ``flux_err`` (N, 7514) float32 (normalised units; flagged pixels hold 1 and
    the normaliser's mask error); ``bad`` (N, 7514) bool; ``apogee_id``, ``file``, ``kind`` (N,) str;
    ``snr`` (N,) from the files' headers (NaN when absent).
    """

    flux: np.ndarray
    flux_err: np.ndarray
    bad: np.ndarray
    apogee_id: np.ndarray
    file: np.ndarray
    kind: np.ndarray
    snr: np.ndarray

    def __len__(self) -> int:
        return int(self.flux.shape[0])

    def model_inputs(self, extra_bad: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, x_err)`` for a spectral model: flagged pixels (and ``extra_bad``, (7514,) bool) set to
        flux 1 with the mask error, as astroNN's normalisation and the generators leave them."""
        from astrotorch.apogee.continuum import DEFAULT_MASK_ERR

        bad = self.bad if extra_bad is None else self.bad | np.asarray(extra_bad, bool)[None, :]
        return (np.where(bad, np.float32(1.0), self.flux).astype(np.float32),
                np.where(bad, np.float32(DEFAULT_MASK_ERR), self.flux_err).astype(np.float32))

    def on_dr12(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(flux, flux_err, bad)`` on the 7,214 pixels of the DR12 grid (the published emulators' grid)."""
        from astrotorch.apogee.chips import dr12_pixels

        idx = dr12_pixels(17)
        return self.flux[:, idx], self.flux_err[:, idx], self.bad[:, idx]


def expand_paths(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Paths as given, glob patterns expanded (sorted); a pattern matching nothing raises InputValidationError."""
    if isinstance(items, (str, os.PathLike)):
        items = [items]
    out: list[Path] = []
    for item in items:
        text = os.fspath(item)
        p = Path(text).expanduser()
        if p.exists():
            out.append(p)
        elif any(c in text for c in "*?["):
            hits = sorted(glob.glob(os.path.expanduser(text)))
            if not hits:
                raise InputValidationError(f"the pattern {text!r} matches no file")
            out.extend(Path(h) for h in hits)
        else:
            raise FileNotFoundError(f"spectrum file {p} does not exist")
    if not out:
        raise InputValidationError("no spectrum file given")
    return out


def _fits_kind(path: Path) -> str:
    """apStar / aspcapStar / apVisit, from the name or, failing that, from the HDU structure."""
    from astrotorch.apogee.chips import APSTAR_NPIX
    from astrotorch.io import open_fits

    name = path.name.lower()
    for kind, prefixes in _PREFIXES.items():
        if name.startswith(prefixes):
            return kind
    with open_fits(path) as hdul:
        shapes = [tuple(h.shape) if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) else None for h in hdul]
    if len(shapes) >= 5 and shapes[1] is not None and len(shapes[1]) == 2 and shapes[1][0] == 3 and shapes[4] == shapes[1]:
        return "apVisit"
    if len(shapes) >= 4 and shapes[1] is not None and shapes[1][-1] == APSTAR_NPIX and shapes[3] == shapes[1]:
        return "apStar"
    if len(shapes) >= 3 and shapes[1] is not None and len(shapes[1]) == 1 and shapes[1][0] in (APSTAR_NPIX, 7514, 7214):
        return "aspcapStar"
    raise DataFormatError(f"{path} is not an APOGEE spectrum file (apStar, aspcapStar or apVisit): its HDU shapes are "
                          f"{[s for s in shapes]}")


def _normalise(flux: np.ndarray, err: np.ndarray, bitmask: np.ndarray | None, cont_mask: Any,
               target_bit: Any = None) -> tuple[np.ndarray, ...]:
    """Raw apStar-grid (or gap-deleted) spectra → normalised (N, 7514) flux, error, bad."""
    from astrotorch.apogee.bitmask import bitmask_boolean
    from astrotorch.apogee.chips import gap_delete
    from astrotorch.apogee.continuum import DEFAULT_MASK_ERR, apogee_continuum

    norm, norm_err = apogee_continuum(flux, err, cont_mask=cont_mask, dr=17, bitmask=bitmask, target_bit=target_bit)
    bad = norm_err >= DEFAULT_MASK_ERR
    if bitmask is not None:
        bad |= bitmask_boolean(gap_delete(np.atleast_2d(bitmask), 17), target_bit=target_bit)
    return norm, norm_err, bad


def _on_grid(flux: np.ndarray, err: np.ndarray, bad: np.ndarray, path: Path) -> tuple[np.ndarray, ...]:
    """Already-normalised arrays on the 8,575 / 7,514 / 7,214 grid → the 7,514 grid."""
    from astrotorch.apogee.chips import APSTAR_NPIX, embed_dr12, gap_delete

    n = flux.shape[1]
    if n == APSTAR_NPIX:
        return gap_delete(flux, 17), gap_delete(err, 17), gap_delete(bad, 17)
    if n == 7514:
        return flux, err, bad
    if n == 7214:
        return embed_dr12(flux, fill_value=1.0), embed_dr12(err, fill_value=np.inf), embed_dr12(bad, fill_value=True)
    raise DataFormatError(f"{path}: spectra have {n} pixels; expected 8575 (apStar grid), 7514 or 7214 (gap-deleted)")


def _bad_normalised(flux: np.ndarray, err: np.ndarray) -> np.ndarray:
    from astrotorch.apogee.continuum import DEFAULT_MASK_ERR

    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(flux) & np.isfinite(err) & (err > 0) & (err < 0.5 * DEFAULT_MASK_ERR))


def _read_fits(path: Path, cont_mask: Any, target_bit: Any) -> dict[str, Any]:
    from astrotorch.apogee.readers import read_apstar, read_apvisit, read_aspcapstar, resample_to_apstar

    kind = _fits_kind(path)
    if kind == "apStar":
        spec = read_apstar(path)
        flux, err, bad = _normalise(spec.flux, spec.error, spec.bitmask, cont_mask, target_bit)
    elif kind == "apVisit":
        spec = read_apvisit(path)
        f, e, m = resample_to_apstar(spec)  # rest frame, apStar grid; uncovered pixels flagged
        flux, err, bad = _normalise(f, e, m, cont_mask, target_bit)
    else:
        spec = read_aspcapstar(path)
        f, e = np.atleast_2d(spec.flux), np.atleast_2d(spec.error)
        flux, err, bad = _on_grid(f, e, _bad_normalised(f, e), path)
    return {"flux": flux, "flux_err": err, "bad": bad, "apogee_id": [spec.apogee_id or path.stem], "kind": [kind],
            "snr": [spec.snr]}


def _npz_pick(d: Any, names: Sequence[str]) -> np.ndarray | None:
    for n in names:
        if n in d.files:
            return np.asarray(d[n])
    return None


def _read_npz(path: Path, cont_mask: Any, target_bit: Any) -> dict[str, Any]:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as d:
            flux = _npz_pick(d, ("flux", "normalized_flux", "spectra"))
            err = _npz_pick(d, ("flux_err", "normalized_error", "error", "spectra_err"))
            bitmask = _npz_pick(d, ("bitmask",))
            bad_in = _npz_pick(d, ("mask",))
            good = _npz_pick(d, ("good_pixel_mask",))
            ids = _npz_pick(d, ("apogee_id", "APOGEE_ID"))
            files = list(d.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path} is not a readable .npz file (corrupt or pickled?): {exc}") from exc
    if flux is None or err is None:
        raise DataFormatError(f"{path} needs arrays 'flux' and 'flux_err' (or normalized_flux/normalized_error); it has {files}")
    if flux.dtype.kind not in "biuf" or err.dtype.kind not in "biuf":
        raise DataFormatError(f"{path}: flux and flux_err must be numbers, got {flux.dtype} and {err.dtype}")
    flux, err = np.atleast_2d(flux).astype(np.float64), np.atleast_2d(err).astype(np.float64)
    if flux.shape != err.shape or flux.ndim != 2:
        raise DataFormatError(f"{path}: flux {flux.shape} and flux_err {err.shape} must be equal (N, pixels) arrays")
    for name, a in (("bitmask", bitmask), ("mask", bad_in), ("good_pixel_mask", good)):
        if a is not None and np.atleast_2d(a).shape != flux.shape:
            raise DataFormatError(f"{path}: {name} has shape {np.shape(a)}, flux {flux.shape}")
    from astrotorch.apogee.chips import APSTAR_NPIX

    if flux.shape[1] == APSTAR_NPIX:  # raw apStar-grid flux
        f, e, b = _normalise(flux, err, None if bitmask is None else np.atleast_2d(bitmask), cont_mask, target_bit)
        if bad_in is not None or good is not None:
            from astrotorch.apogee.chips import gap_delete

            extra = np.atleast_2d(bad_in).astype(bool) if bad_in is not None else ~np.atleast_2d(good).astype(bool)
            b = b | gap_delete(extra, 17)
    else:
        bad = _bad_normalised(flux, err)
        if bitmask is not None:
            from astrotorch.apogee.bitmask import bitmask_boolean

            bad |= bitmask_boolean(np.atleast_2d(bitmask), target_bit=target_bit)
        if bad_in is not None:
            bad |= np.atleast_2d(bad_in).astype(bool)
        if good is not None:
            bad |= ~np.atleast_2d(good).astype(bool)
        f, e, b = _on_grid(flux, err, bad, path)
    n = f.shape[0]
    if ids is not None and np.atleast_1d(ids).shape == (n,):
        id_list = [str(i.decode() if isinstance(i, bytes) else i).strip() for i in np.atleast_1d(ids)]
    else:
        id_list = [path.stem if n == 1 else f"{path.stem}[{i}]" for i in range(n)]
    return {"flux": f, "flux_err": e, "bad": b, "apogee_id": id_list, "kind": ["npz"] * n, "snr": [np.nan] * n}


def _read_hdf5(path: Path, target_bit: Any) -> dict[str, Any]:
    from astrotorch.apogee.bitmask import bitmask_boolean
    from astrotorch.datasets.spectra_io import load_spectra_hdf5

    ds = load_spectra_hdf5(path)
    if ds.continuum:
        raise DataFormatError(f"{path} holds spectra with their continuum; normalised spectra are needed")
    f, e = ds.flux.astype(np.float64), ds.flux_err.astype(np.float64)
    bad = _bad_normalised(f, e) | bitmask_boolean(ds.bitmask, target_bit=target_bit)
    f, e, bad = _on_grid(f, e, bad, path)
    n = len(ds)
    ids = ds.meta.get("apogee_id")
    id_list = [str(i) for i in ids] if ids is not None else [f"{path.stem}[{i}]" for i in range(n)]
    kind = ["hdf5" if v < 0 else "hdf5-visit" for v in ds.visit_of]
    return {"flux": f, "flux_err": e, "bad": bad, "apogee_id": id_list, "kind": kind, "snr": list(ds.snr)}


def read_spectra(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], cont_mask: Any = None,
                 target_bit: Sequence[int] | None = None) -> ObservedSpectra:
    """Read, gap-delete and continuum-normalise spectra from files (see the module docs).

    ``cont_mask``: continuum mask for raw spectra (default astroNN's DR17 mask). ``target_bit``: the
    APOGEE_PIXMASK bits that flag a pixel (default astroNN's: 0–7 and 12). Raises
    FileNotFoundError for a missing file, InputValidationError for a pattern that matches nothing or an
    unsupported suffix, DataFormatError for a file that is not an APOGEE spectrum or is corrupt.
    """
    parts: list[dict[str, Any]] = []
    files: list[str] = []
    for p in expand_paths(paths):
        name = p.name.lower()
        if p.is_dir():
            raise InputValidationError(f"{p} is a folder; give spectrum files or a glob pattern")
        if name.endswith(_FITS_SUFFIXES):
            part = _read_fits(p, cont_mask, target_bit)
        elif name.endswith((".h5", ".hdf5")):
            part = _read_hdf5(p, target_bit)
        elif name.endswith(".npz"):
            part = _read_npz(p, cont_mask, target_bit)
        else:
            raise InputValidationError(f"{p}: unsupported file type; give apStar/aspcapStar/apVisit FITS, .h5/.hdf5 or .npz")
        parts.append(part)
        files += [str(p)] * len(part["apogee_id"])
    cat = {k: np.concatenate([np.asarray(q[k]) for q in parts]) for k in ("flux", "flux_err", "bad")}
    return ObservedSpectra(
        flux=cat["flux"].astype(np.float32), flux_err=cat["flux_err"].astype(np.float32), bad=cat["bad"].astype(bool),
        apogee_id=np.array(sum((list(q["apogee_id"]) for q in parts), []), dtype=str), file=np.array(files, dtype=str),
        kind=np.array(sum((list(q["kind"]) for q in parts), []), dtype=str),
        snr=np.array(sum((list(q["snr"]) for q in parts), []), dtype=np.float64))


__all__ = ["ObservedSpectra", "expand_paths", "read_spectra"]
