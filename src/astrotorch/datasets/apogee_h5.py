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
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from astrotorch.config import magic_number
from astrotorch.io import open_hdf5
from astrotorch.errors import (
    DataFormatError,
    EmptyDatasetError,
    InputValidationError,
    ShapeMismatchError,
)

#: astroNN element target names -> allStar column stem (C1 = neutral carbon, Ti2 = ionised titanium)
ELEMENTS: dict[str, str] = {
    "C": "C", "C1": "CI", "N": "N", "O": "O", "Na": "NA", "Mg": "MG", "Al": "AL", "Si": "SI", "P": "P",
    "S": "S", "K": "K", "Ca": "CA", "Ti": "TI", "Ti2": "TIII", "V": "V", "Cr": "CR", "Mn": "MN",
    "Fe": "FE", "Co": "CO", "Ni": "NI",
}
#: astroNN non-element targets -> stored column
_PARAMS = {"teff": "TEFF", "logg": "LOGG", "M": "M_H", "alpha": "ALPHA_M"}
#: every astroNN-style target name the loader understands
TARGET_NAMES: tuple[str, ...] = (*_PARAMS, *ELEMENTS, "fakemag")

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


# ------------------------------------------------------------------------------------------ loader
class ApogeeH5:
    """Reader of a file written by :func:`compile_apogee_h5`.

    Example::

        h5 = ApogeeH5("apogee_dr17.h5")
        x, y, x_err, y_err = h5.load(target=["teff", "logg", "Fe"], with_err=True)
        ds = h5.dataset(target=["teff", "logg", "Fe"])        # streams spectra, dict items
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(f"APOGEE HDF5 file {self.path} does not exist")
        try:
            with open_hdf5(self.path) as f:
                missing = [k for k in ("spectra", "spectra_err", "in_flag", "labels") if k not in f]
                if missing:
                    raise DataFormatError(f"{self.path} is not an APOGEE HDF5 file: it lacks {missing}")
                self.n_rows, self.n_pixels = (int(s) for s in f["spectra"].shape)
                if f["spectra_err"].shape != f["spectra"].shape or f["in_flag"].shape != (self.n_rows,):
                    raise DataFormatError(f"{self.path}: spectra, spectra_err and in_flag do not line up")
                self.columns = sorted(f["labels"].keys())
                self.magic = float(f.attrs.get("magic_number", magic_number()))
                self.chunk_rows = int((f["spectra"].chunks or (1,))[0])
        except DataFormatError:
            raise
        except Exception as exc:
            raise DataFormatError(f"{self.path} is not a readable HDF5 file: {type(exc).__name__}: {exc}") from exc

    def __len__(self) -> int:
        return self.n_rows

    # -- names
    def resolve(self, target: str) -> str:
        """Stored column for an astroNN target name (``"Fe"`` -> ``"FE_H"``) or a raw column name."""
        if target in _PARAMS:
            return _PARAMS[target]
        if target in ELEMENTS:
            return f"{ELEMENTS[target]}_H"
        if target == "fakemag":
            return "fakemag"
        if target.upper() in self.columns:
            return target.upper()
        raise InputValidationError(
            f"unknown target {target!r}; astroNN names: {list(TARGET_NAMES)}; stored columns: {self.columns}"
        )

    def _read_labels(self, f: Any, target: Sequence[str], sel: Any) -> tuple[np.ndarray, np.ndarray]:
        from astrotorch.gaia.gaia_shared import mag_to_fakemag

        ys, errs = [], []
        for t in target:
            col = self.resolve(t)
            if col == "fakemag":
                for need in ("K", "PARALLAX"):
                    if need not in f["labels"]:
                        raise DataFormatError(f"{self.path}: fakemag needs the {need} column, which is absent")
                k = f["labels/K"][sel].astype(np.float64)
                plx = f["labels/PARALLAX"][sel].astype(np.float64)
                plx_err = (f["labels/PARALLAX_ERR"][sel].astype(np.float64) if "PARALLAX_ERR" in f["labels"]
                           else np.full_like(plx, self.magic))
                # file magic number -> the one in force, so the gaia helper recognises missing values
                mm = magic_number()
                k, plx, plx_err = (np.where(a == self.magic, mm, a) for a in (k, plx, plx_err))
                y, e = mag_to_fakemag(k, plx, plx_err)
            else:
                y = f[f"labels/{col}"][sel].astype(np.float64)
                e = (f[f"labels/{col}_ERR"][sel].astype(np.float64) if f"{col}_ERR" in f["labels"]
                     else np.full_like(y, self.magic))
                mm = magic_number()
                y, e = np.where(y == self.magic, mm, y), np.where(e == self.magic, mm, e)
            ys.append(y)
            errs.append(e)
        return np.stack(ys, axis=1), np.stack(errs, axis=1)

    def rows(self, combined: bool | None = True, exclude_missing: bool = False,
             target: Sequence[str] | None = None) -> np.ndarray:
        """File rows selected: combined only (True), visits only (False) or all (None); optionally only
        rows where every target is present (astroNN's ``exclude9999``)."""
        with open_hdf5(self.path) as f:
            flag = f["in_flag"][:]
            keep = np.ones(self.n_rows, dtype=bool) if combined is None else flag == (0 if combined else 1)
            if exclude_missing and target:
                y, _ = self._read_labels(f, list(target), slice(None))
                keep &= np.all((y != magic_number()) & np.isfinite(y), axis=1)
        return np.flatnonzero(keep)

    def load(
        self,
        target: Sequence[str] | str = ("teff", "logg", "Fe"),
        with_err: bool = True,
        combined: bool | None = True,
        exclude_missing: bool = False,
        dtype: Any = np.float32,
    ) -> tuple[np.ndarray, ...]:
        """Everything selected in memory: ``(x, y)`` or ``(x, y, x_err, y_err)`` (astroNN's order).

        ``y`` has one column per target in the given order; missing labels stay the magic number.
        For files too large for memory use :meth:`dataset` instead.
        """
        target = [target] if isinstance(target, str) else list(target)
        if not target:
            raise InputValidationError("target must name at least one label")
        for t in target:
            self.resolve(t)
        sel = self.rows(combined, exclude_missing, target)
        if sel.size == 0:
            raise EmptyDatasetError(f"{self.path}: no row matches combined={combined}, exclude_missing={exclude_missing}")
        with open_hdf5(self.path) as f:
            x = f["spectra"][sel].astype(dtype)
            y, y_err = self._read_labels(f, target, sel)
            if with_err:
                return x, y.astype(dtype), f["spectra_err"][sel].astype(dtype), y_err.astype(dtype)
        return x, y.astype(dtype)

    def load_entry(self, name: str, combined: bool | None = True) -> np.ndarray:
        """One extra per-row dataset (``APOGEE_ID``, ``SNR``, ``star_index`` or a label column)."""
        sel = self.rows(combined)
        with open_hdf5(self.path) as f:
            key = name if name in f and f[name].ndim == 1 else f"labels/{self.resolve(name)}"
            if key not in f:
                raise InputValidationError(f"{self.path} has no entry {name!r}")
            return f[key][sel]

    def dataset(
        self,
        target: Sequence[str] | str = ("teff", "logg", "Fe"),
        with_err: bool = True,
        combined: bool | None = True,
        exclude_missing: bool = False,
        rows: np.ndarray | None = None,
        dtype: Any = np.float32,
        with_x_err: bool = False,
    ) -> ApogeeH5Dataset:
        """A streaming torch Dataset of the selected rows yielding ``{"x", "y"[, "y_err"][, "x_err"]}``.

        ``x_err`` (the flux errors) only with ``with_x_err=True``: training batches follow the
        contract's ``{"x", "y", "y_err"}`` items.
        """
        target = [target] if isinstance(target, str) else list(target)
        sel = self.rows(combined, exclude_missing, target) if rows is None else np.asarray(rows, dtype=np.int64)
        return ApogeeH5Dataset(self, target, sel, with_err=with_err, dtype=dtype, with_x_err=with_x_err)


class ApogeeH5Dataset(Dataset):
    """Map-style dataset over an APOGEE HDF5 file; spectra are read from disk per item / per batch.

    Labels of the selected rows (small: rows × targets) are held in memory; spectra are not: each
    ``__getitem__`` reads one row and ``__getitems__`` (called by DataLoader with a batch's indices)
    reads the batch's rows in one sorted selection, so memory is bounded by the batch size whatever the
    file size. The h5py handle is opened lazily per process (safe with DataLoader workers). Iterate
    sequentially, or with :class:`astrotorch.datasets.streaming.ChunkShuffleSampler`, to decompress each
    HDF5 chunk once.
    """

    def __init__(self, source: ApogeeH5, target: Sequence[str], rows: np.ndarray, with_err: bool = True,
                 dtype: Any = np.float32, with_x_err: bool = False) -> None:
        self.path = source.path
        self.target = list(target)
        self.rows = np.asarray(rows, dtype=np.int64)
        if self.rows.size == 0:
            raise EmptyDatasetError(f"{self.path}: no row selected for the dataset")
        if self.rows.min() < 0 or self.rows.max() >= source.n_rows:
            raise InputValidationError(f"rows must lie in [0, {source.n_rows})")
        self.with_err = with_err
        self.with_x_err = with_x_err
        self.dtype = np.dtype(dtype)
        with open_hdf5(self.path) as f:
            # sorted read (h5py needs increasing indices), then back to the requested order
            order = np.argsort(self.rows, kind="stable")
            y, e = source._read_labels(f, self.target, self.rows[order])
        self._y = np.empty_like(y)
        self._y[order] = y
        self._y_err = np.empty_like(e)
        self._y_err[order] = e
        self._y = self._y.astype(self.dtype)
        self._y_err = self._y_err.astype(self.dtype)
        self._handle: Any = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return int(self.rows.size)

    @property
    def labels(self) -> np.ndarray:
        """(n, D) labels of the selected rows (magic number where missing)."""
        return self._y

    @property
    def labels_err(self) -> np.ndarray:
        """(n, D) label errors of the selected rows."""
        return self._y_err

    def _file(self) -> Any:
        if self._handle is None or self._pid != os.getpid():
            self._handle = open_hdf5(self.path, "r", rdcc_nbytes=64 << 20)
            self._pid = os.getpid()
        return self._handle

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"], state["_pid"] = None, None
        return state

    def close(self) -> None:
        """Close this process's file handle (reopened on next access)."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle, self._pid = None, None

    def _read(self, key: str, file_rows: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(file_rows, return_inverse=True)
        try:
            ds = self._file()[key]
            block = ds[int(uniq[0]): int(uniq[-1]) + 1] if uniq[-1] - uniq[0] + 1 == uniq.size else ds[uniq]
        except Exception as exc:
            raise DataFormatError(f"{self.path}: cannot read {key} rows (truncated or corrupt?): {exc}") from exc
        return block[inverse].astype(self.dtype, copy=False)

    def _items(self, idx: np.ndarray) -> list[dict[str, torch.Tensor]]:
        n = len(self)
        idx = np.where(idx < 0, idx + n, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"index out of range for {n} rows")
        file_rows = self.rows[idx]
        x = self._read("spectra", file_rows)
        x_err = self._read("spectra_err", file_rows) if self.with_x_err else None
        items = []
        for j, i in enumerate(idx):
            item = {"x": torch.from_numpy(np.ascontiguousarray(x[j])), "y": torch.from_numpy(self._y[i].copy())}
            if self.with_err:
                item["y_err"] = torch.from_numpy(self._y_err[i].copy())
            if x_err is not None:
                item["x_err"] = torch.from_numpy(np.ascontiguousarray(x_err[j]))
            items.append(item)
        return items

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self._items(np.array([int(i)], dtype=np.int64))[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        return self._items(np.asarray(indices, dtype=np.int64))

    def iter_batches(self, batch_size: int = 256) -> Iterator[dict[str, torch.Tensor]]:
        """Sequential batches as stacked tensors (for prediction over a whole file)."""
        for start in range(0, len(self), batch_size):
            items = self._items(np.arange(start, min(start + batch_size, len(self))))
            yield {k: torch.stack([it[k] for it in items]) for k in items[0]}


__all__ = [
    "ApogeeH5",
    "ApogeeH5Dataset",
    "ELEMENTS",
    "TARGET_NAMES",
    "compile_apogee_h5",
    "extract_labels",
    "select_stars",
]
