"""Write arrays, or blocks from a generator, to a chunked and compressed HDF5 file that
:class:`~astrotorch.datasets.streaming.HDF5Dataset` streams from."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from astrotorch.errors import EmptyDatasetError, InputValidationError, ShapeMismatchError


def write_hdf5_dataset(
    path: str | os.PathLike[str],
    x: np.ndarray | Iterable[Mapping[str, np.ndarray]],
    y: np.ndarray | None = None,
    y_err: np.ndarray | None = None,
    *,
    chunk_rows: int | None = None,
    compression: str | None = "gzip",
    compression_opts: int | None = 1,
    x_key: str = "x",
    y_key: str = "y",
    y_err_key: str = "y_err",
    attrs: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write (x, y[, y_err]) to a chunked, compressed HDF5 file, piece by piece; returns the path.

    ``x`` is either an array (then ``y``/``y_err`` are arrays of the same length), or an iterable of
    blocks ``{"x": ..., "y": ...[, "y_err": ...]}`` (e.g. a generator producing a synthetic set in
    pieces), so a file far larger than memory is written holding one block at a time. Datasets are
    resizable along rows, chunked by ``chunk_rows`` rows (default: about 256 KiB of ``x`` per chunk,
    e.g. 8 APOGEE spectra, since a random row read decompresses its whole chunk), gzip level 1 by
    default (spectra compress little, and a fast level keeps random-access reads cheap). The file is
    built under a temporary sibling name and renamed when complete.
    """
    from astrotorch.io import atomic_path, open_hdf5

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    if chunk_rows is not None and chunk_rows < 1:
        raise InputValidationError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if isinstance(x, (np.ndarray, torch.Tensor)) or hasattr(x, "__array__"):
        x_arr = np.asarray(x)
        if chunk_rows is None:
            chunk_rows = _auto_chunk_rows(x_arr)
        for name, a in (("y", y), ("y_err", y_err)):
            if a is not None and len(a) != len(x_arr):
                raise ShapeMismatchError(f"{name} has {len(a)} rows but x has {len(x_arr)}")
        step = max(chunk_rows, 1)

        def _blocks() -> Iterator[dict[str, np.ndarray]]:
            for s in range(0, len(x_arr), step * 16):
                blk = {"x": x_arr[s : s + step * 16]}
                if y is not None:
                    blk["y"] = np.asarray(y[s : s + step * 16])
                if y_err is not None:
                    blk["y_err"] = np.asarray(y_err[s : s + step * 16])
                yield blk

        blocks: Iterable[Mapping[str, np.ndarray]] = _blocks()
    else:
        if y is not None or y_err is not None:
            raise InputValidationError("pass y/y_err inside the blocks when x is an iterable of blocks")
        blocks = x
    names = {"x": x_key, "y": y_key, "y_err": y_err_key}
    n_rows = 0
    # atomic_path: built under a temporary sibling name, renamed into place only when complete
    with atomic_path(path) as tmp, open_hdf5(tmp, "w") as f:
        dsets: dict[str, Any] = {}
        for blk in blocks:
            unknown = set(blk) - set(names)
            if unknown:
                raise InputValidationError(f"unknown block keys {sorted(unknown)}; use x, y, y_err")
            arrays = {k: np.asarray(v) for k, v in blk.items()}
            lens = {k: len(v) for k, v in arrays.items()}
            if len(set(lens.values())) > 1:
                raise ShapeMismatchError(f"block arrays have different lengths: {lens}")
            if "x" not in arrays:
                raise InputValidationError("every block needs an 'x' array")
            for k, a in arrays.items():
                if a.dtype == object or a.dtype.kind in "USV":
                    raise InputValidationError(f"{k} must be numeric, got dtype {a.dtype}")
            if not dsets:
                rows = chunk_rows or _auto_chunk_rows(arrays["x"])
                for k, a in arrays.items():
                    dsets[k] = f.create_dataset(
                        names[k], shape=(0,) + a.shape[1:], maxshape=(None,) + a.shape[1:], dtype=a.dtype,
                        chunks=(rows,) + a.shape[1:], compression=compression,
                        compression_opts=compression_opts if compression == "gzip" else None,
                        shuffle=compression is not None,
                    )
            elif set(arrays) != set(dsets):
                raise InputValidationError(f"block keys {sorted(arrays)} differ from the first block's {sorted(dsets)}")
            m = lens["x"]
            for k, a in arrays.items():
                d = dsets[k]
                if a.shape[1:] != d.shape[1:]:
                    raise ShapeMismatchError(f"{k} block has row shape {a.shape[1:]}, expected {d.shape[1:]}")
                d.resize(n_rows + m, axis=0)
                d[n_rows : n_rows + m] = a
            n_rows += m
        if n_rows == 0:
            raise EmptyDatasetError("nothing to write: x holds no rows")
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    return path


def _auto_chunk_rows(x: np.ndarray, target_bytes: int = 256 << 10) -> int:
    """Rows per chunk so that one chunk of ``x`` is about ``target_bytes`` (at least 1 row)."""
    row_bytes = max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize)
    return int(max(1, min(target_bytes // row_bytes, 65536)))


__all__ = ["write_hdf5_dataset"]
