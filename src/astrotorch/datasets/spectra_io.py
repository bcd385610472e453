"""The spectra data-set container and its HDF5 files, for every source of spectra.

:class:`SyntheticSpectra` holds what :func:`~astrotorch.datasets.spectra.synthetic_spectra` and
:func:`~astrotorch.datasets.emulated.emulated_spectra` return. Two HDF5 layouts exist, and
:func:`load_spectra_hdf5` reads both into that container:

* the generators' layout (:meth:`SyntheticSpectra.to_hdf5`, ``write_synthetic_hdf5``): datasets named
  like the container's attributes (``flux``, ``flux_err``, ``bitmask``, ``labels`` …), label names in
  the ``label_names`` attribute;
* the compiled real-data layout (:func:`astrotorch.datasets.apogee_h5.compile_apogee_h5`): ``spectra``,
  ``spectra_err``, ``in_flag``, ``star_index``, ``APOGEE_ID``, ``SNR`` and a ``labels/`` group of
  allStar columns. Its label columns get the library's names (``TEFF`` → ``teff``, ``LOGG`` →
  ``logg``, ``M_H``, ``ALPHA_M`` → ``alpha_M``, ``FE_H`` → ``Fe_H``, ``MG_FE`` → ``Mg_Fe`` …; ``K`` and
  ``PARALLAX`` → ``parallax`` are kept), combined spectra come first and visits after them, pixels
  whose error carries the continuum normaliser's mask value are flagged ``BADPIX``, ``labels_true`` is
  a copy of the catalogue labels (there is no truth), and ``meta["apogee_id"]`` holds the ids.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.config import magic_number
from astrotorch.errors import DataFormatError, InputValidationError

_GENERATOR_KEYS = ("flux", "flux_err", "bitmask", "labels", "label_err", "labels_true", "visit_of", "snr")


@dataclasses.dataclass
class SyntheticSpectra:
    """A set of APOGEE spectra with labels (synthetic, emulated or read from a file).

    Rows ``0 .. n_stars-1`` are the combined spectra; visit spectra (if any) follow, ``visit_of[i]``
    giving the star index of row ``i`` (``-1`` for combined spectra).

    Attributes:
        flux: (M, 7514) continuum-normalised flux (or flux with continuum, arbitrary units).
        flux_err: (M, 7514) 1-σ flux errors (same units); inflated (×100) on flagged pixels.
        bitmask: (M, 7514) int32 APOGEE_PIXMASK-like bits.
        labels: (M, K) "catalogue" labels = truth + Gaussian noise of ``label_err``; missing = magic number.
        label_err: (M, K) 1-σ label errors; missing = magic number.
        labels_true: (M, K) the noise-free labels used to make the spectra (never missing; for files, a
            copy of ``labels``).
        label_names: K names (Teff in K, log g in dex cgs, v_macro in km/s, the others in dex).
        wavelength: (7514,) vacuum wavelengths, Å.
        visit_of: (M,) int64.
        snr: (M,) the per-pixel S/N of each spectrum.
        continuum: whether ``flux`` includes a continuum.
        meta: provenance (``generator``: ``"synthetic"``, ``"emulated"`` or ``"file"``; the emulator's
            name …); numpy arrays of length M in it are per-row values (e.g. ``apogee_id``).
    """

    flux: np.ndarray
    flux_err: np.ndarray
    bitmask: np.ndarray
    labels: np.ndarray
    label_err: np.ndarray
    labels_true: np.ndarray
    label_names: list[str]
    wavelength: np.ndarray
    visit_of: np.ndarray
    snr: np.ndarray
    continuum: bool = False
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return self.flux.shape[0]

    @property
    def n_stars(self) -> int:
        """Number of distinct stars (combined spectra)."""
        return int(np.sum(self.visit_of < 0))

    def label_index(self, names: str | Sequence[str]) -> list[int]:
        """Column indices of the given label names (raises :class:`InputValidationError` if unknown)."""
        names = [names] if isinstance(names, str) else list(names)
        bad = [n for n in names if n not in self.label_names]
        if bad:
            raise InputValidationError(f"unknown label(s) {bad}; available: {self.label_names}")
        return [self.label_names.index(n) for n in names]

    def select(self, rows: np.ndarray | slice) -> SyntheticSpectra:
        """A new data set with the given rows (``visit_of`` is kept as is; per-row ``meta`` arrays follow)."""
        m = len(self)
        meta = {k: (v[rows] if isinstance(v, np.ndarray) and v.shape[:1] == (m,) else v) for k, v in self.meta.items()}
        return dataclasses.replace(
            self, flux=self.flux[rows], flux_err=self.flux_err[rows], bitmask=self.bitmask[rows],
            labels=self.labels[rows], label_err=self.label_err[rows], labels_true=self.labels_true[rows],
            visit_of=self.visit_of[rows], snr=self.snr[rows], meta=meta,
        )

    @property
    def combined(self) -> SyntheticSpectra:
        """Only the combined spectra."""
        return self.select(np.flatnonzero(self.visit_of < 0))

    @property
    def visits(self) -> SyntheticSpectra:
        """Only the visit spectra."""
        return self.select(np.flatnonzero(self.visit_of >= 0))

    def to_hdf5(self, path: str | Path) -> Path:
        """Write the data set to an HDF5 file (the generators' layout); the file appears only once complete."""
        with atomic_hdf5(path) as f:
            for name in _GENERATOR_KEYS:
                f.create_dataset(name, data=getattr(self, name), chunks=True if name in ("flux", "flux_err", "bitmask") else None)
            f.create_dataset("wavelength", data=self.wavelength)
            write_attrs(f, self.label_names, self.continuum, self.meta)
        return Path(path)


@contextlib.contextmanager
def atomic_hdf5(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Open a new HDF5 file under a temporary name beside ``path`` (through :func:`astrotorch.io.open_hdf5`)
    and rename it to ``path`` when the block succeeds; on failure the temporary file is removed."""
    from astrotorch.io import open_hdf5

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        with open_hdf5(tmp, "w") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_attrs(f: Any, label_names: Sequence[str], continuum: bool, meta: dict[str, Any] | None = None) -> None:
    """The generators' layout attributes (label names, magic number, provenance)."""
    meta = meta or {}
    f.attrs["label_names"] = np.array(list(label_names), dtype="S")
    f.attrs["magic_number"] = magic_number()
    f.attrs["continuum"] = bool(continuum)
    gen = meta.get("generator", "synthetic")
    f.attrs["generator"] = {"synthetic": "astrotorch.datasets.spectra.synthetic_spectra",
                            "emulated": "astrotorch.datasets.emulated.emulated_spectra"}.get(gen, str(gen))
    for key in ("emulator", "label_source"):
        if isinstance(meta.get(key), str):
            f.attrs[key] = meta[key]
    f.attrs["wavelength_unit"] = "Angstrom (vacuum)"


# ------------------------------------------------------------------------------------------ reading
def _label_name(col: str) -> str:
    """allStar column → the library's label name (``FE_H`` → ``Fe_H``, ``CI_H`` → ``C1_H``)."""
    from astrotorch.datasets.apogee_h5 import ELEMENTS

    fixed = {"TEFF": "teff", "LOGG": "logg", "M_H": "M_H", "ALPHA_M": "alpha_M", "K": "K", "PARALLAX": "parallax"}
    if col in fixed:
        return fixed[col]
    stem_to_name = {stem: name for name, stem in ELEMENTS.items()}
    for suffix, out in (("_H", "_H"), ("_FE", "_Fe")):
        if col.endswith(suffix) and col[: -len(suffix)] in stem_to_name:
            return stem_to_name[col[: -len(suffix)]] + out
    return col


def layout_of(f: Any) -> str:
    """``"generator"`` or ``"compiled"`` for an open HDF5 file; DataFormatError for anything else."""
    if all(k in f for k in _GENERATOR_KEYS) and "label_names" in f.attrs:
        return "generator"
    if all(k in f for k in ("spectra", "spectra_err", "in_flag", "labels")):
        return "compiled"
    raise DataFormatError(
        f"{f.filename} is neither a spectra HDF5 file written by astrotorch's generators (flux, flux_err, "
        f"bitmask, labels ... and a label_names attribute) nor one compiled by compile_apogee_h5 (spectra, "
        f"spectra_err, in_flag, labels/); it has {sorted(f.keys())}")


def _read_generator(f: Any, path: Path, rows: Any) -> SyntheticSpectra:
    sel = rows if rows is not None else slice(None)
    data = {k: f[k][sel] for k in _GENERATOR_KEYS}
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["label_names"]]
    gen = str(f.attrs.get("generator", "synthetic"))
    meta: dict[str, Any] = {"generator": "emulated" if "emulated" in gen else "synthetic", "path": str(path)}
    for key in ("emulator", "label_source"):
        if key in f.attrs:
            meta[key] = str(f.attrs[key])
    return SyntheticSpectra(label_names=names, wavelength=f["wavelength"][:], continuum=bool(f.attrs.get("continuum", False)),
                            meta=meta, **data)


def _read_compiled(f: Any, path: Path, rows: Any) -> SyntheticSpectra:
    from astrotorch.apogee.bitmask import APOGEE_PIXMASK_BITS
    from astrotorch.apogee.chips import chips_pix_info, gap_deleted_wavelength
    from astrotorch.apogee.continuum import DEFAULT_MASK_ERR

    flag = f["in_flag"][:]
    order = np.concatenate([np.flatnonzero(flag == 0), np.flatnonzero(flag != 0)])
    if rows is not None:
        order = order[rows]
    # h5py reads increasing indices only: read sorted, then put back in the combined-first order
    srt = np.argsort(order, kind="stable")
    back = np.empty_like(srt)
    back[srt] = np.arange(srt.size)

    def take(ds: Any) -> np.ndarray:
        return ds[np.sort(order)][back] if order.size else ds[:0]

    flux, err = take(f["spectra"]), take(f["spectra_err"])
    star = take(f["star_index"]) if "star_index" in f else np.arange(order.size)
    in_flag = flag[order]
    file_magic = float(f.attrs.get("magic_number", magic_number()))
    cols = sorted(k for k in f["labels"].keys() if not k.endswith("_ERR"))
    labels = np.full((order.size, len(cols)), magic_number(), dtype=np.float32)
    lab_err = np.full_like(labels, magic_number())
    for j, c in enumerate(cols):
        v = take(f[f"labels/{c}"]).astype(np.float64)
        labels[:, j] = np.where((v == file_magic) | ~np.isfinite(v), magic_number(), v)
        if f"{c}_ERR" in f["labels"]:
            e = take(f[f"labels/{c}_ERR"]).astype(np.float64)
            lab_err[:, j] = np.where((e == file_magic) | ~np.isfinite(e), magic_number(), e)
    comb_pos = {int(s): i for i, (s, fl) in enumerate(zip(star, in_flag)) if fl == 0}
    visit_of = np.array([-1 if fl == 0 else comb_pos.get(int(s), -1) for s, fl in zip(star, in_flag)], dtype=np.int64)
    bitmask = np.where(~np.isfinite(err) | (err >= 0.5 * DEFAULT_MASK_ERR),
                       1 << next(b for b, n in APOGEE_PIXMASK_BITS.items() if n == "BADPIX"), 0).astype(np.int32)
    dr = int(f.attrs.get("dr", 17))
    wave = gap_deleted_wavelength(dr) if flux.shape[1] == chips_pix_info(dr)[6] else np.arange(flux.shape[1], dtype=float)
    ids = take(f["APOGEE_ID"]) if "APOGEE_ID" in f else np.array([""] * order.size, dtype="S1")
    ids = np.char.strip(np.char.decode(ids, "ascii", "replace")) if ids.dtype.kind == "S" else ids.astype(str)
    snr = take(f["SNR"]).astype(np.float64) if "SNR" in f else np.full(order.size, np.nan)
    return SyntheticSpectra(
        flux=flux, flux_err=err, bitmask=bitmask, labels=labels, label_err=lab_err, labels_true=labels.copy(),
        label_names=[_label_name(c) for c in cols], wavelength=wave, visit_of=visit_of, snr=snr,
        continuum=not bool(f.attrs.get("continuum_normalised", True)),
        meta={"generator": "file", "layout": "compiled", "path": str(path), "apogee_id": ids})


def load_spectra_hdf5(path: str | os.PathLike[str], rows: slice | np.ndarray | None = None) -> SyntheticSpectra:
    """Read either spectra HDF5 layout (see the module docs) into a :class:`SyntheticSpectra`.

    ``rows``: optional subset (of the file's rows for the generators' layout; of the combined-first order
    for the compiled layout). A missing file raises FileNotFoundError; a corrupt file or another layout
    raises :class:`DataFormatError` naming the file.
    """
    from astrotorch.io import open_hdf5

    path = Path(path)
    with open_hdf5(path) as f:
        kind = layout_of(f)
        try:
            return _read_generator(f, path, rows) if kind == "generator" else _read_compiled(f, path, rows)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DataFormatError(f"{path}: cannot read the {kind} spectra layout (truncated or corrupt?): {exc}") from exc


#: the generators' reader under its historical name; it reads the compiled layout too
load_synthetic_hdf5 = load_spectra_hdf5

__all__ = ["SyntheticSpectra", "atomic_hdf5", "layout_of", "load_spectra_hdf5", "load_synthetic_hdf5", "write_attrs"]
