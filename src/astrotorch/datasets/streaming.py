"""Streaming data sets: train and predict on HDF5 / Parquet files larger than memory.

The data set classes are map-style ``torch.utils.data.Dataset`` s yielding the dict items the model
API expects (``{"x", "y"[, "y_err"][, "weight"]}``, raw physical units: the model normalises them).
They hold only the file *path*; the file is opened lazily, once per process, on first access. This
matters for ``DataLoader(num_workers>0)``: an h5py handle must not be shared across a ``fork`` (HDF5
is not fork-safe) and cannot be pickled for ``spawn``, so each worker opens its own.

Reading one row of a chunked + compressed HDF5 dataset decompresses the whole chunk, so random
access costs ``chunk_rows`` times the row size. Two things keep that affordable: a per-handle chunk
cache (``rdcc_nbytes``) and :class:`~astrotorch.datasets.samplers.ChunkShuffleSampler`, which shuffles the *order of chunks* and the
rows within a window of chunks (the usual trade-off for out-of-core training), so each chunk is
decompressed once per window rather than once per row. Batches fetched through ``__getitems__``
(PyTorch ≥ 2.1 DataLoaders call it with the batch's indices) read all their rows in one sorted
h5py selection.

Memory stays flat in the number of rows: nothing here holds per-row state except, optionally, the
row index array of a subset.

Beside the data sets: :mod:`~astrotorch.datasets.samplers` (chunk-window and epoch-seeded
shuffling), :mod:`~astrotorch.datasets.resumable` (the resumable training loader and RNG-state
callback) and :mod:`~astrotorch.datasets.hdf5_writer` (:func:`write_hdf5_dataset`); their names are
importable from here as well.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

# the samplers, the resumable loader and the writer have their own modules; importable from here too
from astrotorch.datasets.hdf5_writer import write_hdf5_dataset
from astrotorch.datasets.resumable import ResumableDataLoader, rng_state_callback
from astrotorch.datasets.samplers import ChunkShuffleSampler, EpochShuffleSampler
from astrotorch.errors import DataFormatError, EmptyDatasetError, InputValidationError, ShapeMismatchError

_DEFAULT_CACHE = 64 << 20  # 64 MiB HDF5 chunk cache per open handle (h5py's default is 1 MiB)


# ------------------------------------------------------------------------------------------ HDF5
class HDF5Dataset(Dataset):
    """Rows of datasets in an HDF5 file as ``{"x", "y"[, "y_err"][, "weight"]}`` dict items.

    Args:
        path: the HDF5 file.
        x_key: dataset name of the inputs (N, ...), or a mapping ``{input name: dataset name}`` for
            multi-input models (items then hold ``"x": {name: array}``).
        y_key: dataset name of the labels (N, D) or (N,); ``None`` for unlabelled data (prediction).
        y_err_key, weight_key: optional label errors (same shape as labels) and per-sample weights.
        rows: optional subset of row indices (e.g. a train/validation split kept on disk).
        dtype: dtype of the float arrays handed out (labels of integer dtype keep theirs).
        rdcc_nbytes: HDF5 chunk-cache size per open handle.

    The file is validated (keys exist, lengths agree) at construction, then closed again.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        x_key: str | Mapping[str, str] = "x",
        y_key: str | None = "y",
        y_err_key: str | None = None,
        weight_key: str | None = None,
        rows: Sequence[int] | np.ndarray | None = None,
        dtype: Any = np.float32,
        rdcc_nbytes: int = _DEFAULT_CACHE,
    ) -> None:
        from astrotorch.io import open_hdf5

        self.path = Path(path)
        self.x_key = dict(x_key) if isinstance(x_key, Mapping) else x_key
        self.y_key, self.y_err_key, self.weight_key = y_key, y_err_key, weight_key
        self.dtype = np.dtype(dtype)
        self.rdcc_nbytes = int(rdcc_nbytes)
        self._handle: Any = None
        self._pid: int | None = None
        self._dsets: dict[str, Any] = {}
        keys = self._keys()
        with open_hdf5(self.path) as f:
            missing = [k for k in keys.values() if k not in f]
            if missing:
                raise DataFormatError(f"{self.path} lacks datasets {missing}; it has {list(f.keys())}")
            lengths = {name: int(f[k].shape[0]) if f[k].ndim else -1 for name, k in keys.items()}
            self.shapes = {name: tuple(f[k].shape[1:]) for name, k in keys.items()}
            self.chunk_rows = int((f[self._first_x_key()].chunks or (1,))[0])
        if any(n < 0 for n in lengths.values()):
            raise DataFormatError(f"{self.path}: scalar datasets cannot be streamed ({lengths})")
        if len(set(lengths.values())) > 1:
            raise ShapeMismatchError(f"{self.path}: datasets have different numbers of rows: {lengths}")
        self.n_file_rows = next(iter(lengths.values()))
        if y_err_key is not None and y_key is not None and self.shapes["y_err"] != self.shapes["y"]:
            raise ShapeMismatchError(f"{self.path}: y_err rows {self.shapes['y_err']} differ from y rows {self.shapes['y']}")
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if self.rows is not None and self.rows.size and (self.rows.min() < 0 or self.rows.max() >= self.n_file_rows):
            raise InputValidationError(f"rows must lie in [0, {self.n_file_rows}), got {self.rows.min()}..{self.rows.max()}")
        if len(self) == 0:
            raise EmptyDatasetError(f"{self.path} holds no rows to stream")

    # -- layout
    def _keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        if isinstance(self.x_key, dict):
            keys.update({f"x/{k}": v for k, v in self.x_key.items()})
        else:
            keys["x"] = self.x_key
        for name, key in (("y", self.y_key), ("y_err", self.y_err_key), ("weight", self.weight_key)):
            if key is not None:
                keys[name] = key
        return keys

    def _first_x_key(self) -> str:
        return next(iter(self.x_key.values())) if isinstance(self.x_key, dict) else self.x_key

    def __len__(self) -> int:
        return int(self.rows.size) if self.rows is not None else self.n_file_rows

    # -- per-process handle
    def _file(self) -> Any:
        """The h5py handle of *this* process, opened on first use (after a fork, reopened)."""
        from astrotorch.io import open_hdf5

        pid = os.getpid()
        if self._handle is None or self._pid != pid:
            # a handle inherited through fork belongs to the parent: drop it without closing it
            # (closing would touch the parent's HDF5 library state), open our own
            self._handle = open_hdf5(self.path, rdcc_nbytes=self.rdcc_nbytes, rdcc_nslots=10_007)
            self._pid = pid
            self._dsets = {}
        return self._handle

    def _dataset(self, key: str) -> Any:
        """Open h5py datasets are kept: the chunk cache lives with the open dataset, and reopening
        one per row would throw the cache away (and cost a metadata lookup) on every read."""
        f = self._file()
        ds = self._dsets.get(key)
        if ds is None:
            ds = self._dsets[key] = f[key]
        return ds

    def close(self) -> None:
        """Close this process's handle (it reopens on next access)."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle, self._pid, self._dsets = None, None, {}

    def __getstate__(self) -> dict[str, Any]:
        # spawn-started workers (and DDP spawn) pickle the dataset: never ship a handle
        state = self.__dict__.copy()
        state["_handle"], state["_pid"], state["_dsets"] = None, None, {}
        return state

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass

    # -- reading
    def _file_rows(self, idx: np.ndarray) -> np.ndarray:
        return self.rows[idx] if self.rows is not None else idx

    def _read(self, key: str, file_rows: np.ndarray) -> np.ndarray:
        """Read sorted unique ``file_rows`` of a dataset, then undo the sorting."""
        ds = self._dataset(key)
        order = np.argsort(file_rows, kind="stable")
        sorted_rows = file_rows[order]
        uniq, inverse = np.unique(sorted_rows, return_inverse=True)
        try:
            if uniq.size and uniq[-1] - uniq[0] + 1 == uniq.size:
                block = ds[int(uniq[0]) : int(uniq[-1]) + 1]  # contiguous: one hyperslab, fastest
            else:
                block = ds[uniq]  # h5py point selection needs increasing indices
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise DataFormatError(f"{self.path}: cannot read {key!r} rows (truncated or corrupt?): {exc}") from exc
        out = np.empty_like(block, shape=(file_rows.size,) + block.shape[1:])
        out[order] = block[inverse]
        return out

    def _cast(self, name: str, arr: np.ndarray) -> np.ndarray:
        if name == "y" and arr.dtype.kind in "iu":
            return arr  # class indices stay integers
        return arr.astype(self.dtype, copy=False)

    def read_rows(self, start: int, stop: int) -> dict[str, Any]:
        """Rows ``start:stop`` (in this data set's order) as a dict of numpy arrays (a batch)."""
        idx = np.arange(max(0, start), min(stop, len(self)), dtype=np.int64)
        return self._read_batch(self._file_rows(idx))

    def _read_batch(self, file_rows: np.ndarray) -> dict[str, Any]:
        batch: dict[str, Any] = {}
        for name, key in self._keys().items():
            arr = self._cast(name, self._read(key, file_rows))
            if name.startswith("x/"):
                batch.setdefault("x", {})[name[2:]] = arr
            else:
                batch[name] = arr
        return batch

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} rows")
        batch = self._read_batch(self._file_rows(np.array([i], dtype=np.int64)))
        return _item(batch, 0)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """All rows of a batch in one read (DataLoader calls this with the batch's indices)."""
        idx = np.asarray(indices, dtype=np.int64)
        idx = np.where(idx < 0, idx + len(self), idx)
        batch = self._read_batch(self._file_rows(idx))
        return [_item(batch, j) for j in range(idx.size)]

    def subset(self, rows: Sequence[int] | np.ndarray) -> HDF5Dataset:
        """A data set over some of this one's rows (indices relative to this data set)."""
        new = HDF5Dataset.__new__(HDF5Dataset)
        new.__dict__.update(self.__getstate__())
        new.rows = self._file_rows(np.asarray(rows, dtype=np.int64))
        return new


def _item(batch: Mapping[str, Any], j: int) -> dict[str, Any]:
    """Row ``j`` of a dict-of-arrays batch as a dict item of tensors."""
    item: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, Mapping):
            item[k] = {kk: torch.from_numpy(np.ascontiguousarray(vv[j])) for kk, vv in v.items()}
        else:
            item[k] = torch.from_numpy(np.ascontiguousarray(v[j]))
    return item


# --------------------------------------------------------------------------------------- Parquet
class ParquetDataset(Dataset):
    """Rows of a Parquet file as dict items, read one row group at a time.

    Args:
        path: the Parquet file.
        x_columns: the input columns: a list of scalar columns (stacked into a vector), or one column
            name holding a list/fixed-size-list per row (e.g. a spectrum).
        y_columns: label columns (stacked to (D,)), or ``None`` for unlabelled data.
        y_err_columns, weight_column: optional label errors (same order as ``y_columns``) and weights.
        cache_row_groups: decoded row groups kept per process (an LRU); with
            :class:`ChunkShuffleSampler` over row groups, 2 is enough.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        x_columns: str | Sequence[str],
        y_columns: Sequence[str] | None = None,
        y_err_columns: Sequence[str] | None = None,
        weight_column: str | None = None,
        dtype: Any = np.float32,
        cache_row_groups: int = 2,
    ) -> None:
        from astrotorch.io import open_parquet

        self.path = Path(path)
        self.x_columns = x_columns if isinstance(x_columns, str) else list(x_columns)
        self.y_columns = None if y_columns is None else list(y_columns)
        self.y_err_columns = None if y_err_columns is None else list(y_err_columns)
        self.weight_column = weight_column
        self.dtype = np.dtype(dtype)
        self.cache_row_groups = max(1, int(cache_row_groups))
        if self.y_err_columns is not None and (self.y_columns is None or len(self.y_err_columns) != len(self.y_columns)):
            raise ShapeMismatchError("y_err_columns must pair one-to-one with y_columns")
        pf = open_parquet(self.path)
        names = pf.schema_arrow.names
        wanted = self._columns()
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DataFormatError(f"{self.path} lacks columns {missing}; it has {names}")
        meta = pf.metadata
        self.group_rows = np.array([meta.row_group(g).num_rows for g in range(meta.num_row_groups)], dtype=np.int64)
        self.group_start = np.concatenate([[0], np.cumsum(self.group_rows)])
        self.chunk_rows = int(self.group_rows.max()) if self.group_rows.size else 0
        if int(self.group_start[-1]) == 0:
            raise EmptyDatasetError(f"{self.path} holds no rows to stream")
        self._pf: Any = None
        self._pid: int | None = None
        self._cache: dict[int, dict[str, Any]] = {}

    def _columns(self) -> list[str]:
        cols = [self.x_columns] if isinstance(self.x_columns, str) else list(self.x_columns)
        cols += list(self.y_columns or []) + list(self.y_err_columns or [])
        if self.weight_column is not None:
            cols.append(self.weight_column)
        return cols

    def __len__(self) -> int:
        return int(self.group_start[-1])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pf"], state["_pid"], state["_cache"] = None, None, {}
        return state

    def _file(self) -> Any:
        from astrotorch.io import open_parquet

        if self._pf is None or self._pid != os.getpid():
            self._pf, self._pid, self._cache = open_parquet(self.path), os.getpid(), {}
        return self._pf

    def _group(self, g: int) -> dict[str, Any]:
        """Decoded row group ``g`` as numpy arrays (LRU-cached per process)."""
        import pyarrow as pa

        if g in self._cache:
            self._cache[g] = self._cache.pop(g)  # mark most recently used
            return self._cache[g]
        try:
            table = self._file().read_row_group(g, columns=self._columns())
        except (pa.ArrowException, OSError) as exc:
            raise DataFormatError(f"{self.path}: row group {g} cannot be read (truncated or corrupt?): {exc}") from exc
        out: dict[str, Any] = {}
        if isinstance(self.x_columns, str):
            col = table.column(self.x_columns).combine_chunks()
            try:
                out["x"] = np.stack(col.to_numpy(zero_copy_only=False)).astype(self.dtype)
            except ValueError as exc:
                raise ShapeMismatchError(f"{self.path}: rows of {self.x_columns!r} have different lengths") from exc
        else:
            out["x"] = _stack_columns(table, self.x_columns, self.dtype)
        if self.y_columns is not None:
            out["y"] = _stack_columns(table, self.y_columns, self.dtype)
        if self.y_err_columns is not None:
            out["y_err"] = _stack_columns(table, self.y_err_columns, self.dtype)
        if self.weight_column is not None:
            out["weight"] = table.column(self.weight_column).to_numpy().astype(self.dtype)
        self._cache[g] = out
        while len(self._cache) > self.cache_row_groups:
            self._cache.pop(next(iter(self._cache)))
        return out

    def _locate(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = np.searchsorted(self.group_start, idx, side="right") - 1
        return g, idx - self.group_start[g]

    def read_rows(self, start: int, stop: int) -> dict[str, Any]:
        """Rows ``start:stop`` as a dict of numpy arrays, decoding only the row groups needed."""
        start, stop = max(0, start), min(stop, len(self))
        parts: dict[str, list[np.ndarray]] = {}
        g0 = int(np.searchsorted(self.group_start, start, side="right") - 1)
        pos = start
        while pos < stop:
            grp = self._group(g0)
            lo, hi = pos - int(self.group_start[g0]), min(stop, int(self.group_start[g0 + 1])) - int(self.group_start[g0])
            for k, v in grp.items():
                parts.setdefault(k, []).append(v[lo:hi])
            pos = int(self.group_start[g0 + 1])
            g0 += 1
        return {k: np.concatenate(v) for k, v in parts.items()}

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} rows")
        g, off = self._locate(np.array([i]))
        grp = self._group(int(g[0]))
        return _item({k: v[int(off[0]) : int(off[0]) + 1] for k, v in grp.items()}, 0)


def _stack_columns(table: Any, columns: Sequence[str], dtype: np.dtype) -> np.ndarray:
    return np.stack([table.column(c).to_numpy(zero_copy_only=False).astype(dtype) for c in columns], axis=1)


# -------------------------------------------------------------------------------- normaliser stats
def fit_normalizer_streaming(
    source: Dataset | Any, normalizer: Any, key: str = "x", batch_size: int = 1024
) -> Any:
    """Fit a :class:`~astrotorch.nn.Normalizer` on ``source[key]`` in one pass, batch by batch.

    ``source`` is an :class:`HDF5Dataset`/:class:`ParquetDataset` (read with ``read_rows``, fast) or
    any Dataset of dict items. Memory: one batch. Returns the normaliser.
    """
    n = len(source)
    if n == 0:
        raise EmptyDatasetError("cannot fit a normaliser on an empty data set")
    if hasattr(source, "read_rows"):
        for start in range(0, n, batch_size):
            normalizer.partial_fit(np.asarray(source.read_rows(start, start + batch_size)[key], np.float32))
        return normalizer
    loader = torch.utils.data.DataLoader(source, batch_size=batch_size)
    for batch in loader:
        normalizer.partial_fit(np.asarray(batch[key], np.float32))
    return normalizer


def iter_batches(source: Any, batch_size: int, start: int = 0, key: str | None = None) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(start, stop, x)`` for consecutive batches of a streaming source.

    ``source``: :class:`HDF5Dataset`, :class:`ParquetDataset`, a numpy array (or h5py dataset), or a
    path to an ``.h5``/``.hdf5`` file (dataset ``key``, default "x") or a ``.parquet`` file (column(s)
    ``key``).
    """
    src = open_source(source, key)
    n = len(src)
    for s in range(start, n, batch_size):
        e = min(s + batch_size, n)
        if hasattr(src, "read_rows"):
            yield s, e, src.read_rows(s, e)["x"]
        else:
            yield s, e, np.asarray(src[s:e])


def open_source(source: Any, key: str | Sequence[str] | None = None) -> Any:
    """Turn a path / array / streaming data set into something with ``len`` and row slicing."""
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        suffix = p.suffix.lower()
        if suffix in (".h5", ".hdf5", ".hdf"):
            return HDF5Dataset(p, x_key=key or "x", y_key=None)  # type: ignore[arg-type]
        if suffix in (".parquet", ".pq"):
            if key is None:
                raise InputValidationError("a Parquet source needs the input column name(s) as key")
            return ParquetDataset(p, x_columns=key)
        raise InputValidationError(f"unsupported streaming source {p.suffix!r}: use .h5/.hdf5 or .parquet")
    if isinstance(source, (HDF5Dataset, ParquetDataset)):
        return source
    if hasattr(source, "shape") and hasattr(source, "__getitem__"):
        if len(source.shape) == 0 or source.shape[0] == 0:
            raise EmptyDatasetError("the prediction source holds no rows")
        return source
    raise InputValidationError(f"cannot stream from {type(source).__name__}: pass a path, array or HDF5/ParquetDataset")


__all__ = [
    "HDF5Dataset",
    "ParquetDataset",
    "ChunkShuffleSampler",
    "EpochShuffleSampler",
    "ResumableDataLoader",
    "rng_state_callback",
    "write_hdf5_dataset",
    "fit_normalizer_streaming",
    "iter_batches",
    "open_source",
]
