"""APOGEE spectra + ASPCAP labels in one chunked, compressed HDF5 file (astroNN's H5Compiler / H5Loader).

:func:`compile_apogee_h5` joins an allStar catalogue with spectra (apStar / aspcapStar files, or any
callable returning arrays), applies the usual quality cuts, optionally continuum-normalises, and
writes, block by block so memory stays flat::

    spectra        (N, L) float32   flux (continuum-normalised when ``continuum=True``), chunked rows
    spectra_err    (N, L) float32   1-σ flux error
    in_flag        (N,)   int8      0 = combined spectrum, 1 = visit spectrum (astroNN's convention)
    star_index     (N,)   int64     row of the star in the allStar catalogue
    APOGEE_ID      (N,)   bytes
    SNR            (N,)   float32
    labels/<COL>   (N,)   float32   TEFF, LOGG, M_H, ALPHA_M, <X>_H and <X>_FE for 20 elements,
                                    K (2MASS Ks), PARALLAX (mas), each with <COL>_ERR;
                                    missing = the magic number (-9999 by default)

:class:`ApogeeH5` reads it back choosing targets by astroNN's names (``teff``, ``logg``, ``M``,
``alpha``, ``C``, ``C1``, ``N`` … ``Fe`` … ``Ni`` for [X/H], ``fakemag`` for the Ks-band "fake
magnitude" ``parallax[mas] · 10^(Ks/5)``) or by raw column name (``C_FE``), and offers a streaming
``torch`` Dataset that never reads more than a batch of spectra into memory.

Label conventions handled: DR12 (v603) catalogues give ``PARAM_M_H``, ``PARAM_ALPHA_M`` and
``<X>_H``; DR13–17 give ``M_H``, ``ALPHA_M``, ``FE_H`` and ``<X>_FE``. The missing form is derived
(``[X/Fe] = [X/H] − [Fe/H]`` and back), with the error taken as the quadrature sum of both errors
(an upper bound: the two are positively correlated in ASPCAP).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.config import magic_number

# the reader (ApogeeH5, its streaming Dataset) and the target names live in apogee_h5_reader
from astrotorch.datasets.apogee_h5_reader import ELEMENTS, TARGET_NAMES, ApogeeH5, ApogeeH5Dataset
from astrotorch.errors import (
    DataFormatError,
    EmptyDatasetError,
    InputValidationError,
    ShapeMismatchError,
)
from astrotorch.io import open_hdf5

# allStar column aliases, first match wins (DR12 uses PARAM_*; Hipparcos tables use Plx/e_Plx)
_ALIASES: dict[str, tuple[str, ...]] = {
    "TEFF": ("TEFF",), "LOGG": ("LOGG",), "M_H": ("M_H", "PARAM_M_H"), "ALPHA_M": ("ALPHA_M", "PARAM_ALPHA_M"),
    "K": ("K",), "PARALLAX": ("PARALLAX", "PLX", "GAIA_PARALLAX", "GAIAEDR3_PARALLAX"),
}
_ERR_ALIASES: dict[str, tuple[str, ...]] = {
    "TEFF": ("TEFF_ERR",), "LOGG": ("LOGG_ERR",), "M_H": ("M_H_ERR", "PARAM_M_H_ERR"),
    "ALPHA_M": ("ALPHA_M_ERR", "PARAM_ALPHA_M_ERR"), "K": ("K_ERR",),
    "PARALLAX": ("PARALLAX_ERROR", "PARALLAX_ERR", "E_PLX", "GAIA_PARALLAX_ERROR", "GAIAEDR3_PARALLAX_ERROR"),
}
_MISSING_BELOW = -9000.0  # SDSS writes -9999 / -9999.99 for "not measured"

#: A spectra provider: ``provider(star_row, apogee_id, visits)`` returns ``(flux, err, bitmask)``
#: arrays — 1-D (L,) for the combined spectrum, 2-D (n_visits, L) when ``visits`` — with ``bitmask``
#: possibly None, or returns None when the star has no spectrum (it is then skipped).
SpectraProvider = Callable[[int, str, bool], "tuple[np.ndarray, np.ndarray, np.ndarray | None] | None"]


# ------------------------------------------------------------------------------------------ catalogue
class _Catalogue:
    """Column access to an allStar-like table with case-insensitive names."""

    def __init__(self, source: Any) -> None:
        self._cols: dict[str, np.ndarray] = {}
        if isinstance(source, (str, os.PathLike)):
            self._from_fits(Path(source))
        else:
            self._from_object(source)
        if "APOGEE_ID" not in self._cols:
            raise DataFormatError("the allStar catalogue has no APOGEE_ID column")
        self.n = len(self._cols["APOGEE_ID"])
        if self.n == 0:
            raise EmptyDatasetError("the allStar catalogue holds no row")

    def _from_fits(self, path: Path) -> None:
        from astropy.io import fits

        if not path.is_file():
            raise DataFormatError(f"allStar file {path} does not exist")
        try:
            with fits.open(path, memmap=False) as hdul:
                table = next((h for h in hdul if isinstance(h, fits.BinTableHDU)), None)
                if table is None:
                    raise DataFormatError(f"{path} holds no binary table")
                data = table.data
                wanted = _wanted_columns()
                for name in table.columns.names:
                    # only the columns used here: a DR17 allStar has ~700k rows x ~200 columns
                    if name.upper() not in wanted:
                        continue
                    col = np.asarray(data[name])
                    if col.ndim == 1:  # array columns (PARAM, X_H ...) are not needed: named columns exist
                        self._cols[name.upper()] = col
        except DataFormatError:
            raise
        except Exception as exc:
            raise DataFormatError(f"{path} is not a readable allStar FITS table: {type(exc).__name__}: {exc}") from exc

    def _from_object(self, obj: Any) -> None:
        if isinstance(obj, Mapping):
            items = obj.items()
        elif hasattr(obj, "dtype") and getattr(obj.dtype, "names", None):
            items = ((n, obj[n]) for n in obj.dtype.names)
        elif hasattr(obj, "colnames"):  # astropy Table
            items = ((n, obj[n]) for n in obj.colnames)
        elif hasattr(obj, "columns") and hasattr(obj, "to_numpy"):  # pandas DataFrame
            items = ((n, obj[n].to_numpy()) for n in obj.columns)
        else:
            raise InputValidationError(
                f"allstar must be a FITS path, a dict of arrays, a structured array, an astropy Table or a "
                f"DataFrame; got {type(obj).__name__}"
            )
        lengths = set()
        for name, col in items:
            arr = np.asarray(col)
            if arr.ndim == 1:
                self._cols[str(name).upper()] = arr
                lengths.add(arr.shape[0])
        if len(lengths) > 1:
            raise ShapeMismatchError(f"allstar columns have different lengths: {sorted(lengths)}")

    def has(self, name: str) -> bool:
        return name.upper() in self._cols

    def get(self, *names: str) -> np.ndarray | None:
        for n in names:
            if n.upper() in self._cols:
                return self._cols[n.upper()]
        return None

    def ids(self) -> np.ndarray:
        raw = self._cols["APOGEE_ID"]
        if raw.dtype.kind == "S":
            return np.char.strip(np.char.decode(raw, "ascii", "replace"))
        return np.char.strip(raw.astype(str))


def _wanted_columns() -> set[str]:
    names = {"APOGEE_ID", "SNR", "STARFLAG", "ASPCAPFLAG", "FE_H", "FE_H_ERR", "TELESCOPE", "FIELD", "LOCATION_ID"}
    for group in (_ALIASES, _ERR_ALIASES):
        for aliases in group.values():
            names.update(aliases)
    for stem in ELEMENTS.values():
        names.update({f"{stem}_H", f"{stem}_H_ERR", f"{stem}_FE", f"{stem}_FE_ERR"})
    return names


def _clean(values: np.ndarray | None, n: int) -> np.ndarray:
    """Float64 copy with every missing marker (NaN, ±inf, ≤ -9000) turned into NaN; None -> all NaN."""
    if values is None:
        return np.full(n, np.nan)
    out = np.asarray(values, dtype=np.float64).copy()
    out[~np.isfinite(out) | (out <= _MISSING_BELOW)] = np.nan
    return out


def extract_labels(allstar: Any) -> dict[str, np.ndarray]:
    """All label columns of an allStar-like table, harmonised across DR12–DR17 (NaN = missing).

    Returns ``{column: float64 array}`` for TEFF, LOGG, M_H, ALPHA_M, ``<X>_H`` and ``<X>_FE`` of the
    20 elements of :data:`ELEMENTS`, K (Ks mag) and PARALLAX (mas), each with ``<column>_ERR``.
    """
    cat = allstar if isinstance(allstar, _Catalogue) else _Catalogue(allstar)
    n = cat.n
    out: dict[str, np.ndarray] = {}
    for col, aliases in _ALIASES.items():
        out[col] = _clean(cat.get(*aliases), n)
        out[col + "_ERR"] = _clean(cat.get(*_ERR_ALIASES[col]), n)
    fe_h, fe_h_err = _clean(cat.get("FE_H"), n), _clean(cat.get("FE_H_ERR"), n)
    for stem in ELEMENTS.values():
        xh, xh_err = _clean(cat.get(f"{stem}_H"), n), _clean(cat.get(f"{stem}_H_ERR"), n)
        xfe, xfe_err = _clean(cat.get(f"{stem}_FE"), n), _clean(cat.get(f"{stem}_FE_ERR"), n)
        if stem == "FE":
            out["FE_H"], out["FE_H_ERR"] = fe_h, fe_h_err
            continue
        with np.errstate(invalid="ignore"):
            # fill each form from the other where only one is published
            xh = np.where(np.isnan(xh), xfe + fe_h, xh)
            xh_err = np.where(np.isnan(xh_err), np.hypot(xfe_err, fe_h_err), xh_err)
            xfe = np.where(np.isnan(xfe), xh - fe_h, xfe)
            xfe_err = np.where(np.isnan(xfe_err), np.hypot(xh_err, fe_h_err), xfe_err)
        out[f"{stem}_H"], out[f"{stem}_H_ERR"] = xh, xh_err
        out[f"{stem}_FE"], out[f"{stem}_FE_ERR"] = xfe, xfe_err
    return out


def select_stars(
    allstar: Any,
    snr_min: float | None = None,
    snr_max: float | None = None,
    starflag_cut: bool | int = True,
    aspcapflag_cut: bool | int = True,
    teff_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Row indices of the allStar catalogue passing the cuts (astroNN's compiler defaults).

    ``starflag_cut`` / ``aspcapflag_cut``: True rejects any set bit, an integer rejects the bits of
    that mask, False disables the cut. ``teff_range``: (low, high) in K, inclusive; stars with a
    missing Teff fail it.
    """
    cat = allstar if isinstance(allstar, _Catalogue) else _Catalogue(allstar)
    keep = np.ones(cat.n, dtype=bool)
    if snr_min is not None or snr_max is not None:
        snr = _clean(cat.get("SNR"), cat.n)
        if cat.get("SNR") is None:
            raise DataFormatError("an S/N cut was asked for but the catalogue has no SNR column")
        with np.errstate(invalid="ignore"):
            if snr_min is not None:
                keep &= snr >= snr_min
            if snr_max is not None:
                keep &= snr <= snr_max
    for name, cut in (("STARFLAG", starflag_cut), ("ASPCAPFLAG", aspcapflag_cut)):
        if cut is False or cut is None:
            continue
        flags = cat.get(name)
        if flags is None:
            raise DataFormatError(f"a {name} cut was asked for but the catalogue has no {name} column")
        mask = -1 if cut is True else int(cut)
        keep &= (np.asarray(flags).astype(np.int64) & mask) == 0
    if teff_range is not None:
        lo, hi = teff_range
        if not lo < hi:
            raise InputValidationError(f"teff_range must be (low, high) with low < high, got {teff_range}")
        teff = _clean(cat.get("TEFF"), cat.n)
        with np.errstate(invalid="ignore"):
            keep &= (teff >= lo) & (teff <= hi)
    return np.flatnonzero(keep)


# ------------------------------------------------------------------------------------------ providers
def _paths_provider(paths: Any, ids: np.ndarray) -> SpectraProvider:
    """Provider reading apStar / aspcapStar files given per row (sequence) or per APOGEE_ID (mapping)."""
    from astrotorch.apogee.readers import read_apstar, read_aspcapstar

    def lookup(row: int, apogee_id: str) -> Any:
        if isinstance(paths, Mapping):
            return paths.get(apogee_id)
        return paths[row]

    def provider(row: int, apogee_id: str, visits: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        p = lookup(row, apogee_id)
        if p is None:
            return None
        name = Path(p).name.lower()
        if name.startswith("aspcapstar"):
            if visits:
                raise InputValidationError(f"{p}: aspcapStar files hold no visit spectra; use apStar files")
            spec = read_aspcapstar(p)
            return spec.flux, spec.error, None
        spec = read_apstar(p, combined=not visits)
        return spec.flux, spec.error, spec.bitmask

    if not isinstance(paths, Mapping) and len(paths) != len(ids):
        raise ShapeMismatchError(f"{len(paths)} spectrum paths for {len(ids)} allStar rows; pass one per row or a dict")
    return provider


# ------------------------------------------------------------------------------------------ compiler
def compile_apogee_h5(
    allstar: Any,
    spectra: Sequence[Any] | Mapping[str, Any] | SpectraProvider,
    out_path: str | os.PathLike[str],
    snr_min: float | None = 50.0,
    snr_max: float | None = None,
    starflag_cut: bool | int = True,
    aspcapflag_cut: bool | int = True,
    teff_range: tuple[float, float] | None = None,
    use_visits: bool = False,
    continuum: bool = True,
    cont_mask: np.ndarray | str | os.PathLike[str] | None = None,
    dr: int = 17,
    chunk_rows: int = 256,
    compression: str | None = "gzip",
    dtype: Any = np.float32,
    parallax: np.ndarray | None = None,
    parallax_err: np.ndarray | None = None,
    overwrite: bool = False,
) -> Path:
    """Compile an allStar catalogue + spectra into an HDF5 training set (layout in the module docs).

    Parameters
    ----------
    allstar
        allStar FITS path (``.fits`` / ``.fits.gz``) or a table (dict of arrays, structured array,
        astropy Table, DataFrame) with at least APOGEE_ID and the columns the cuts use.
    spectra
        One apStar / aspcapStar path per allStar row (None = no spectrum), a ``{APOGEE_ID: path}``
        mapping, or a provider callable ``(row, apogee_id, visits) -> (flux, err, bitmask) | None``.
    out_path
        Output file; written under a temporary name in the same folder and renamed when complete.
    snr_min, snr_max, starflag_cut, aspcapflag_cut, teff_range
        Quality cuts (:func:`select_stars`).
    use_visits
        False: one combined spectrum per star (``in_flag`` 0). True: the combined spectrum *and* every
        visit spectrum (``in_flag`` 1), sharing the star's labels.
    continuum
        Normalise with :func:`astrotorch.apogee.apogee_continuum` (needs raw apStar-like flux; set
        False for aspcapStar or already normalised input). Otherwise gaps are just deleted.
    cont_mask, dr
        Continuum mask (default: astroNN's for ``dr``) and data release of the spectra.
    chunk_rows
        HDF5 chunk height and the number of spectra processed per block (memory ∝ chunk_rows).
    parallax, parallax_err
        Optional parallaxes (mas) aligned with the allStar rows (e.g. from a Gaia cross-match),
        overriding a PARALLAX column; with K they give ``fakemag``.

    Returns the output path. Raises :class:`EmptyDatasetError` when no star survives the cuts or has
    a spectrum, :class:`ShapeMismatchError` for spectra of inconsistent length.
    """
    from astrotorch.apogee.chips import APSTAR_NPIX, chips_pix_info, gap_delete
    from astrotorch.apogee.continuum import apogee_continuum

    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise InputValidationError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise InputValidationError(f"{out_path} exists; pass overwrite=True to replace it")
    cat = _Catalogue(allstar)
    ids = cat.ids()
    labels = extract_labels(cat)
    for name, arr in (("parallax", parallax), ("parallax_err", parallax_err)):
        if arr is not None:
            arr = np.asarray(arr, dtype=np.float64)
            if arr.shape != (cat.n,):
                raise ShapeMismatchError(f"{name} has shape {arr.shape}; expected ({cat.n},) aligned with allstar")
            labels["PARALLAX" if name == "parallax" else "PARALLAX_ERR"] = _clean(arr, cat.n)
    rows = select_stars(cat, snr_min, snr_max, starflag_cut, aspcapflag_cut, teff_range)
    if rows.size == 0:
        raise EmptyDatasetError("no allStar row passes the cuts (S/N, STARFLAG, ASPCAPFLAG, Teff)")
    provider: SpectraProvider = spectra if callable(spectra) else _paths_provider(spectra, ids)
    snr_col = _clean(cat.get("SNR"), cat.n)
    total = chips_pix_info(dr)[6]
    magic = magic_number()
    if continuum and cont_mask is None:
        from astrotorch.apogee.chips import load_continuum_mask

        cont_mask = load_continuum_mask(dr)  # resolve once, not per block

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    n_written = 0
    n_skipped = 0
    try:
        with open_hdf5(tmp, "w") as f:
            comp = {"compression": compression} if compression else {}
            ds_spec = f.create_dataset("spectra", (0, total), maxshape=(None, total), dtype=dtype,
                                       chunks=(chunk_rows, total), **comp)
            ds_err = f.create_dataset("spectra_err", (0, total), maxshape=(None, total), dtype=dtype,
                                      chunks=(chunk_rows, total), **comp)
            small = {
                "in_flag": f.create_dataset("in_flag", (0,), maxshape=(None,), dtype=np.int8, chunks=(4096,)),
                "star_index": f.create_dataset("star_index", (0,), maxshape=(None,), dtype=np.int64, chunks=(4096,)),
                "APOGEE_ID": f.create_dataset("APOGEE_ID", (0,), maxshape=(None,), dtype="S32", chunks=(4096,)),
                "SNR": f.create_dataset("SNR", (0,), maxshape=(None,), dtype=np.float32, chunks=(4096,)),
            }
            grp = f.create_group("labels")
            lab_ds = {k: grp.create_dataset(k, (0,), maxshape=(None,), dtype=np.float32, chunks=(4096,))
                      for k in labels}

            def flush(buf: dict[str, list[Any]]) -> None:
                nonlocal n_written
                if not buf["flux"]:
                    return
                flux = np.concatenate(buf["flux"])
                err = np.concatenate(buf["err"])
                masks = buf["mask"]
                if continuum:
                    bm = None
                    if any(m is not None for m in masks):
                        bm = np.concatenate([m if m is not None else np.zeros((len(fl), flux.shape[1]), np.int64)
                                             for m, fl in zip(masks, buf["flux"])])
                    flux, err = apogee_continuum(flux, err, cont_mask=cont_mask, dr=dr, bitmask=bm)
                else:
                    flux, err = gap_delete(flux, dr), gap_delete(err, dr)
                m = flux.shape[0]
                sl = slice(n_written, n_written + m)
                for d in (ds_spec, ds_err, *small.values(), *lab_ds.values()):
                    d.resize(n_written + m, axis=0)
                ds_spec[sl] = flux.astype(dtype)
                ds_err[sl] = err.astype(dtype)
                star = np.asarray(buf["star"], dtype=np.int64)
                small["in_flag"][sl] = np.asarray(buf["flag"], dtype=np.int8)
                small["star_index"][sl] = star
                small["APOGEE_ID"][sl] = np.asarray([ids[s] for s in star], dtype="S32")
                small["SNR"][sl] = np.nan_to_num(snr_col[star], nan=magic).astype(np.float32)
                for k, d in lab_ds.items():
                    d[sl] = np.nan_to_num(labels[k][star], nan=magic).astype(np.float32)
                n_written += m
                for v in buf.values():
                    v.clear()

            buf: dict[str, list[Any]] = {"flux": [], "err": [], "mask": [], "star": [], "flag": []}
            n_buf = 0
            for row in rows:
                got = provider(int(row), str(ids[row]), False)
                if got is None:
                    n_skipped += 1
                    continue
                pieces = [(got, 0)]
                if use_visits:
                    vis = provider(int(row), str(ids[row]), True)
                    if vis is not None:
                        pieces.append((vis, 1))
                for (fl, er, bm), flag in pieces:
                    fl = np.atleast_2d(np.asarray(fl, dtype=np.float64))
                    er = np.atleast_2d(np.asarray(er, dtype=np.float64))
                    if fl.shape != er.shape or fl.shape[1] not in (APSTAR_NPIX, total):
                        raise ShapeMismatchError(
                            f"spectra of {ids[row]}: flux {fl.shape}, error {er.shape}; expected matching "
                            f"(n, {APSTAR_NPIX}) or (n, {total}) arrays"
                        )
                    if bm is not None:
                        bm = np.atleast_2d(np.asarray(bm))
                        if bm.shape != fl.shape:
                            raise ShapeMismatchError(f"bitmask of {ids[row]} has shape {bm.shape}, flux {fl.shape}")
                        bm = gap_delete(bm, dr)
                    # mixing apStar-grid and gap-deleted inputs in one block: bring all to the gap-deleted grid
                    buf["flux"].append(gap_delete(fl, dr))
                    buf["err"].append(gap_delete(er, dr))
                    buf["mask"].append(bm)
                    buf["star"].extend([int(row)] * fl.shape[0])
                    buf["flag"].extend([flag] * fl.shape[0])
                    n_buf += fl.shape[0]
                if n_buf >= chunk_rows:
                    flush(buf)
                    n_buf = 0
            flush(buf)
            if n_written == 0:
                raise EmptyDatasetError(f"none of the {rows.size} selected stars has a spectrum")
            f.attrs["magic_number"] = magic
            f.attrs["dr"] = int(dr)
            f.attrs["continuum_normalised"] = bool(continuum)
            f.attrs["n_stars_selected"] = int(rows.size)
            f.attrs["n_stars_without_spectrum"] = int(n_skipped)
            f.attrs["layout"] = "astrotorch.apogee_h5/1"
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return out_path


__all__ = [
    "ApogeeH5",
    "ApogeeH5Dataset",
    "ELEMENTS",
    "TARGET_NAMES",
    "compile_apogee_h5",
    "extract_labels",
    "select_stars",
]
