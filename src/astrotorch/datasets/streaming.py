"""Streaming data sets: train and predict on HDF5 / Parquet files larger than memory.

The data set classes are map-style ``torch.utils.data.Dataset`` s yielding the dict items the model
API expects (``{"x", "y"[, "y_err"][, "weight"]}``, raw physical units: the model normalises them).
They hold only the file *path*; the file is opened lazily, once per process, on first access. This
matters for ``DataLoader(num_workers>0)``: an h5py handle must not be shared across a ``fork`` (HDF5
is not fork-safe) and cannot be pickled for ``spawn``, so each worker opens its own.

Reading one row of a chunked + compressed HDF5 dataset decompresses the whole chunk, so random
access costs ``chunk_rows`` times the row size. Two things keep that affordable: a per-handle chunk
cache (``rdcc_nbytes``) and :class:`ChunkShuffleSampler`, which shuffles the *order of chunks* and the
rows within a window of chunks (the usual trade-off for out-of-core training), so each chunk is
decompressed once per window rather than once per row. Batches fetched through ``__getitems__``
(PyTorch ≥ 2.1 DataLoaders call it with the batch's indices) read all their rows in one sorted
h5py selection.

Memory stays flat in the number of rows: nothing here holds per-row state except, optionally, the
row index array of a subset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

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
        import h5py

        pid = os.getpid()
        if self._handle is None or self._pid != pid:
            # a handle inherited through fork belongs to the parent: drop it without closing it
            # (closing would touch the parent's HDF5 library state), open our own
            self._handle = h5py.File(self.path, "r", rdcc_nbytes=self.rdcc_nbytes, rdcc_nslots=10_007)
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
        import pyarrow.parquet as pq

        if self._pf is None or self._pid != os.getpid():
            self._pf, self._pid, self._cache = pq.ParquetFile(self.path), os.getpid(), {}
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


# --------------------------------------------------------------------------------------- sampler
class ChunkShuffleSampler(Sampler[int]):
    """Shuffle chunks, then rows within a window of ``window_chunks`` chunks (out-of-core shuffling).

    Every epoch visits each index once. With ``window_chunks`` chunks of ``chunk_rows`` rows decoded at
    a time, each compressed chunk is decompressed about once per epoch (given a chunk cache that
    holds a window), instead of once per row as with a fully random order. Set ``set_epoch`` (as
    ``DistributedSampler`` does) to reshuffle differently every epoch.
    """

    def __init__(self, n: int, chunk_rows: int, window_chunks: int = 8, seed: int = 0) -> None:
        if n < 0 or chunk_rows < 1 or window_chunks < 1:
            raise InputValidationError("ChunkShuffleSampler needs n >= 0, chunk_rows >= 1 and window_chunks >= 1")
        self.n, self.chunk_rows, self.window_chunks, self.seed = int(n), int(chunk_rows), int(window_chunks), int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        n_chunks = -(-self.n // self.chunk_rows)
        order = rng.permutation(n_chunks)
        for w in range(0, n_chunks, self.window_chunks):
            chunks = order[w : w + self.window_chunks]
            idx = np.concatenate([np.arange(c * self.chunk_rows, min((c + 1) * self.chunk_rows, self.n)) for c in chunks])
            yield from rng.permutation(idx).tolist()


# ------------------------------------------------------------------- exact resume after a crash
class EpochShuffleSampler(Sampler[int]):
    """A random permutation that depends only on ``(seed, epoch)``, with an optional skip for resuming.

    ``torch``'s ``RandomSampler`` draws each epoch's order from a generator whose state is not in
    Lightning checkpoints, so a resumed run sees different orders than an uninterrupted one. Here the
    order of epoch ``e`` is ``permutation(seed, e)``: Lightning calls :meth:`set_epoch` at every epoch
    start (also after a resume), so the orders match. ``skip`` (set by
    :meth:`ResumableDataLoader.load_state_dict`) drops the indices of batches already trained on,
    for the next iteration only.
    """

    def __init__(self, n: int, seed: int = 0, chunk_rows: int | None = None, window_chunks: int = 8) -> None:
        self.n, self.seed = int(n), int(seed)
        self.chunk_rows, self.window_chunks = chunk_rows, window_chunks
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def order(self) -> np.ndarray:
        """This epoch's full order (chunk-windowed when ``chunk_rows`` is set, for HDF5 streaming)."""
        if self.chunk_rows:
            inner = ChunkShuffleSampler(self.n, self.chunk_rows, self.window_chunks, self.seed)
            inner.set_epoch(self.epoch)
            return np.fromiter(iter(inner), dtype=np.int64, count=self.n)
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.n)

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        yield from self.order()[skip:].tolist()


class ResumableDataLoader(torch.utils.data.DataLoader):
    """A shuffling DataLoader whose position Lightning saves in checkpoints and restores on resume.

    Lightning (2.x) treats a loader with ``state_dict``/``load_state_dict`` as resumable: it stores the
    state in every checkpoint and, when a run restarts mid-epoch, loads it and expects the loader to
    continue after the batches already trained on. Together with :class:`EpochShuffleSampler` this
    makes a killed-and-resumed run see exactly the batches of an uninterrupted one. The loader owns a
    seeded ``generator`` so creating an iterator never draws from the global torch RNG (which would
    shift dropout masks between an interrupted and an uninterrupted run).

    Args: ``dataset``, ``batch_size``, ``seed``, and any other ``DataLoader`` keyword.
    ``chunk_rows``: shuffle in chunk windows (HDF5 streaming). ``sampler``: only for Lightning, which
    re-creates the loader with a distributed sampler under DDP (``seed``/``chunk_rows`` are kept as
    attributes so it can); a resumed iterator then skips the done batches by reading past them,
    while with the default :class:`EpochShuffleSampler` it skips their indices without reading.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, chunk_rows: int | None = None,
                 sampler: Sampler[int] | None = None, **kwargs: Any) -> None:
        kwargs.pop("shuffle", None)
        kwargs.pop("generator", None)
        self.seed, self.chunk_rows = int(seed), chunk_rows
        if sampler is None:
            sampler = EpochShuffleSampler(len(dataset), seed=seed, chunk_rows=chunk_rows)  # type: ignore[arg-type]
        super().__init__(dataset, batch_size=batch_size, sampler=sampler,
                         generator=torch.Generator().manual_seed(int(seed)), **kwargs)
        self._batches_done = 0
        self._skip_batches = 0  # for samplers without an index skip (DDP's distributed sampler)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # the count restarts with each epoch's iterator; a resumed iterator starts at the skipped count
        if isinstance(self.sampler, EpochShuffleSampler):
            start, read_past = self.sampler.skip // int(self.batch_size), 0
        else:
            start = read_past = self._skip_batches
        self._skip_batches = 0
        self._batches_done = start
        for i, batch in enumerate(super().__iter__()):
            if i < read_past:
                continue
            self._batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Plain ints only: safe under ``torch.load(weights_only=True)``."""
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches_done": int(self._batches_done)}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(int(state["epoch"]))
        if isinstance(self.sampler, EpochShuffleSampler):
            self.sampler.skip = int(state["batches_done"]) * int(self.batch_size)  # type: ignore[arg-type]
        else:
            self._skip_batches = int(state["batches_done"])


def rng_state_callback() -> Any:
    """A Lightning callback that stores the torch/NumPy/Python RNG states in each checkpoint.

    Lightning does not checkpoint RNG states, so without it dropout masks after a resume differ from an
    uninterrupted run. The states are stored as tensors and plain Python values, so checkpoints stay
    loadable with ``torch.load(weights_only=True)``.
    """
    import random

    import lightning as L

    class RNGState(L.Callback):
        def state_dict(self) -> dict[str, Any]:
            np_state = np.random.get_state()
            py_state = random.getstate()
            state: dict[str, Any] = {
                "torch": torch.get_rng_state(),
                "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                "numpy_pos": int(np_state[2]),
                "numpy_has_gauss": int(np_state[3]),
                "numpy_gauss": float(np_state[4]),
                "python": [int(v) for v in py_state[1]],
                "python_version": int(py_state[0]),
                "python_gauss": py_state[2],
            }
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                state["cuda"] = torch.cuda.get_rng_state_all()
            return state

        def load_state_dict(self, state: dict[str, Any]) -> None:
            torch.set_rng_state(state["torch"])
            keys = state["numpy_keys"].numpy().astype(np.uint32)
            np.random.set_state(("MT19937", keys, state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"]))
            random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
            if "cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])

    return RNGState()


# ---------------------------------------------------------------------------------------- writer
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
    import tempfile

    import h5py

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    n_rows = 0
    try:
        with h5py.File(tmp, "w") as f:
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
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _auto_chunk_rows(x: np.ndarray, target_bytes: int = 256 << 10) -> int:
    """Rows per chunk so that one chunk of ``x`` is about ``target_bytes`` (at least 1 row)."""
    row_bytes = max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize)
    return int(max(1, min(target_bytes // row_bytes, 65536)))


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
