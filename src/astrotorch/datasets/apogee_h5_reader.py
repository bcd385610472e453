"""Reader of the APOGEE HDF5 files written by :func:`astrotorch.datasets.apogee_h5.compile_apogee_h5`.

:class:`ApogeeH5` chooses targets by astroNN's names (``teff``, ``logg``, ``M``, ``alpha``, ``C``,
``C1``, ``N`` … ``Fe`` … ``Ni`` for [X/H], ``fakemag`` for the Ks-band "fake magnitude") or by raw
column name (``C_FE``), loads everything into memory (astroNN's H5Loader) or streams it
(:class:`ApogeeH5Dataset`, never more than a batch of spectra in memory). Every open goes through
:func:`astrotorch.io.open_hdf5`. To read either spectra layout into the data-set container used by the
generators, see :func:`astrotorch.datasets.spectra_io.load_spectra_hdf5`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from astrotorch.config import magic_number
from astrotorch.errors import DataFormatError, EmptyDatasetError, InputValidationError
from astrotorch.io import open_hdf5

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


__all__ = ["ApogeeH5", "ApogeeH5Dataset", "ELEMENTS", "TARGET_NAMES"]
