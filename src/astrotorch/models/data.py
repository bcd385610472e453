"""Data preparation for :class:`~astrotorch.models.base.AstroModel`: input validation, normalisation,
array and streaming datasets, the DataLoaders and the validation split.

Missing inputs: an input entry equal to the magic number (:func:`astrotorch.config.magic_number`) is
left out of the normaliser statistics and enters the network as the normalised feature centre, i.e.
0 (0.5 for normalisation mode ``'3s'``) — never as an unscaled -9999. NaN/inf inputs are refused
unless ``allow_nan_input=True`` (they then pass through as given).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from astrotorch.config import magic_number
from astrotorch.errors import EmptyDatasetError, InputValidationError, ShapeMismatchError
from astrotorch.models.labels import encode_class_labels, is_missing, label_range, regression_labels
from astrotorch.nn.normalizer import Normalizer

ArrayLike = Any


def to_numpy(a: ArrayLike, name: str) -> np.ndarray:
    """A numeric numpy array from an array, tensor, astropy Quantity, DataFrame or nested list.

    Strings, objects and complex numbers are refused with :class:`InputValidationError` naming ``name``.
    """
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if hasattr(a, "unit") and hasattr(a, "value"):  # astropy Quantity: units are the caller's choice
        a = a.value
    _refuse_sparse(a, name)
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists etc.
        raise InputValidationError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise InputValidationError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "c":
        raise InputValidationError(
            f"{name}: Complex data not supported (dtype {arr.dtype}); pass the real and imaginary parts as features"
        )
    return arr


def _refuse_sparse(a: Any, name: str) -> None:
    if hasattr(a, "tocsr") and hasattr(a, "nnz"):  # scipy.sparse matrices and arrays
        raise InputValidationError(f"{name} is a sparse matrix: sparse input is not supported; pass a dense array "
                                   f"(e.g. {name}.toarray())")


def first_array(x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
    return next(iter(x.values())) if isinstance(x, dict) else x


def normalize_inputs(norm: Normalizer, arr: np.ndarray) -> np.ndarray:
    """``norm.transform(arr)`` as float32, with magic-number entries set to the normalised centre."""
    z = np.asarray(norm.transform(arr), np.float32)
    if norm.mode != 0 or np.any(arr == norm.magic_number):
        magic = arr == norm.magic_number
        if magic.any():
            z = np.where(magic, np.float32(0.5 if norm.mode == "3s" else 0.0), z)
    return z


class ArrayDataset(Dataset):
    """In-memory dataset of already normalised arrays, yielding the dict items the engine expects."""

    def __init__(
        self,
        x: np.ndarray | dict[str, np.ndarray],
        y: np.ndarray | None = None,
        y_err: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> None:
        self.x = {k: torch.as_tensor(v) for k, v in x.items()} if isinstance(x, dict) else torch.as_tensor(x)
        self.y = None if y is None else torch.as_tensor(y)
        self.y_err = None if y_err is None else torch.as_tensor(y_err)
        self.weight = None if weight is None else torch.as_tensor(weight)

    def __len__(self) -> int:
        x = next(iter(self.x.values())) if isinstance(self.x, dict) else self.x
        return int(x.shape[0])

    def __getitem__(self, i: Any) -> dict[str, Any]:
        """Sample ``i``; or, with a tensor of indices, the batch of those samples (what PyTorch's
        default collate makes of their items)."""
        item: dict[str, Any] = {"x": {k: v[i] for k, v in self.x.items()} if isinstance(self.x, dict) else self.x[i]}
        if self.y is not None:
            item["y"] = self.y[i]
        if self.y_err is not None:
            item["y_err"] = self.y_err[i]
        if self.weight is not None:
            item["weight"] = self.weight[i]
        return item


class BatchedRows(Dataset):
    """An :class:`ArrayDataset` (or a ``Subset`` of one) read a whole batch at a time.

    ``__getitems__`` (what a DataLoader calls with a batch of indices) returns the collated batch: one
    index per tensor instead of one per sample plus a collation that stacks a dict per sample (the
    latter was ~0.9 ms of a ~22 ms ApogeeBCNN training step of 64 spectra). Use it with
    :func:`collate_batched`; batches equal PyTorch's default collation of the same items.
    """

    def __init__(self, ds: ArrayDataset | Subset) -> None:
        if isinstance(ds, Subset):
            self.base, self.rows = ds.dataset, torch.as_tensor(list(ds.indices), dtype=torch.long)
        else:
            self.base, self.rows = ds, None
        if not isinstance(self.base, ArrayDataset):
            raise InputValidationError(f"BatchedRows reads an ArrayDataset, got {type(self.base).__name__}")

    @staticmethod
    def accepts(ds: Dataset) -> bool:
        """Whether ``ds`` is an ArrayDataset or a Subset of one."""
        return isinstance(ds.dataset if isinstance(ds, Subset) else ds, ArrayDataset)

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.base)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.base[int(self.rows[i]) if self.rows is not None else i]

    def __getitems__(self, indices: list[int]) -> _Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return _Batch(self.base[self.rows[idx] if self.rows is not None else idx])


class _Batch(dict):
    """A batch already collated by :meth:`BatchedRows.__getitems__`."""


def collate_batched(batch: Any) -> Any:
    """The DataLoader collate function for :class:`BatchedRows`: its batches pass through as plain dicts."""
    if isinstance(batch, _Batch):
        return dict(batch)
    from torch.utils.data import default_collate

    return default_collate(batch)


class NormalizingDataset(Dataset):
    """Wraps a user Dataset of raw dict items and applies the fitted normalisers (streaming).

    Batched reads (``__getitems__``) go to the wrapped dataset's own ``__getitems__`` when it has one
    (e.g. one chunked HDF5 read per batch) and normalise the whole batch at once.
    """

    def __init__(self, base: Dataset, model: Any) -> None:
        self.base = base
        self.model = model
        self.magic = magic_number()  # resolved once, not per item

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._normalize([self.base[i]])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        get_many = getattr(self.base, "__getitems__", None)
        items = get_many(indices) if get_many is not None else [self.base[i] for i in indices]
        return self._normalize(list(items))

    def _normalize(self, items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        m = self.model
        n = len(items)
        out: list[dict[str, Any]] = [dict(it) for it in items]
        x0 = items[0]["x"]
        if isinstance(x0, Mapping):
            for k in x0:
                z = torch.as_tensor(normalize_inputs(m._input_norm[k], np.stack([np.asarray(it["x"][k]) for it in items])))
                for j in range(n):
                    out[j]["x"] = {**out[j]["x"], k: z[j]} if isinstance(out[j]["x"], dict) else {k: z[j]}
        else:
            z = torch.as_tensor(normalize_inputs(m._input_norm, np.stack([np.asarray(it["x"]) for it in items])))
            for j in range(n):
                out[j]["x"] = z[j]
        if "y" in items[0]:
            if m.task == "regression":
                y = np.stack([np.asarray(it["y"], np.float32).reshape(-1) for it in items])
                yz = torch.as_tensor(np.asarray(m._label_norm.transform(y), np.float32))
                ez = None
                if "y_err" in items[0]:
                    e = np.stack([np.asarray(it["y_err"], np.float32).reshape(-1) for it in items])
                    ez = torch.as_tensor(m._scale_errors(e, self.magic))
                for j in range(n):
                    out[j]["y"] = yz[j]
                    if ez is not None:
                        out[j]["y_err"] = ez[j]
            else:
                for j in range(n):
                    out[j]["y"] = torch.as_tensor(np.asarray(items[j]["y"]), dtype=torch.long).reshape(())
        return out


def _seed_worker(worker_id: int) -> None:
    """DataLoader worker start: seed numpy and ``random`` from the worker's torch seed (PyTorch's recipe)."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class DataMixin:
    """Input/label validation, normalisation, datasets, loaders and the validation split.

    Part of :class:`~astrotorch.models.base.AstroModel` (which supplies the hyper-parameters and the
    fitted state these methods read and write); the hooks a subclass may override are
    ``prepare_x``, ``make_dataset``, ``collate_fn``, ``make_dataloader`` and ``_split``.
    """

    # -------------------------------------------------------------- hooks
    def prepare_x(self, x: Any) -> np.ndarray | dict[str, np.ndarray]:
        """Turn user input into the network's array layout (float32; NHWC → NCHW for image models)."""
        _refuse_sparse(x, "x")  # before the Mapping test: scipy's dok format is a dict
        if isinstance(x, Mapping):
            return {k: self._prepare_array(v, f"x[{k!r}]") for k, v in x.items()}
        return self._prepare_array(x, "x")

    def _prepare_array(self, a: ArrayLike, name: str) -> np.ndarray:
        arr = to_numpy(a, name)
        if arr.ndim == 0:
            raise InputValidationError(f"{name} must have a sample axis, got a scalar")
        if arr.ndim == 1:
            arr = arr[:, None]
        if self.channels_last_input and arr.ndim == 4:
            arr = np.transpose(arr, (0, 3, 1, 2))
        return np.ascontiguousarray(arr, dtype=np.float32)

    def make_dataset(
        self,
        x: np.ndarray | dict[str, np.ndarray],
        y: np.ndarray | None,
        y_err: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Dataset:
        """Dataset of normalised arrays (override for variable-length inputs)."""
        return ArrayDataset(x, y, y_err, sample_weight)

    def collate_fn(self) -> Any:
        """DataLoader collate function (``None`` = PyTorch's default)."""
        return None

    def make_dataloader(self, ds: Dataset, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        """The DataLoader for training (``shuffle=True``: seeded, resumable order) and evaluation.

        A hook for subclasses with their own batching (e.g. light curves bucketed by length); it is
        called with the training/validation split of ``fit`` and by the σ calibration.
        """
        collate = self.collate_fn()
        if collate is None and BatchedRows.accepts(ds):
            ds, collate = BatchedRows(ds), collate_batched  # one read per batch instead of per sample
        common: dict[str, Any] = dict(
            batch_size=batch_size or self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available() and self.accelerator in ("auto", "gpu", "cuda"),
            collate_fn=collate,
            worker_init_fn=_seed_worker if self.num_workers > 0 else None,
        )
        if shuffle:
            # seeded epoch order whose position is saved in checkpoints: a killed run resumes mid-epoch
            from astrotorch.datasets.resumable import ResumableDataLoader

            return ResumableDataLoader(ds, seed=self.seed, **common)
        return DataLoader(ds, shuffle=False, **common)

    def _split(self, ds: Dataset) -> tuple[Dataset, Dataset | None]:
        """Training and validation subsets (``val_size`` of the samples, a seeded permutation)."""
        n = len(ds)  # type: ignore[arg-type]
        perm, n_val = self._split_permutation(n)
        if n_val == 0 or n - n_val < 1:
            self._has_val = False
            return ds, None
        self._has_val = True
        return Subset(ds, perm[n_val:].tolist()), Subset(ds, perm[:n_val].tolist())

    def _split_permutation(self, n: int) -> tuple[np.ndarray, int]:
        """The seeded permutation of ``n`` samples whose first ``round(n · val_size)`` validate."""
        n_val = int(round(int(n) * self.val_size)) if self.val_size > 0 else 0
        return np.random.default_rng(self.seed).permutation(int(n)), n_val

    def validation_indices(self, n: int) -> np.ndarray:
        """Rows (in the order ``fit`` uses them) of an ``n``-sample training set that ``fit`` holds out for
        validation: the first ``round(n · val_size)`` of a permutation seeded by ``seed``."""
        perm, n_val = self._split_permutation(n)
        return perm[:n_val]

    # -------------------------------------------------------------- validation
    def _validate_x(self, x: np.ndarray | dict[str, np.ndarray]) -> int:
        arrays = x.items() if isinstance(x, dict) else [("x", x)]
        n = None
        for key, arr in arrays:
            if arr.shape[0] == 0:
                raise EmptyDatasetError(f"{key} is empty (0 samples)")
            if arr.size == 0:
                raise EmptyDatasetError(f"{key} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
            if n is not None and arr.shape[0] != n:
                raise ShapeMismatchError(f"inputs have different numbers of samples: {key} has {arr.shape[0]}, expected {n}")
            n = arr.shape[0]
            if not self.allow_nan_input and not np.isfinite(arr).all():
                bad = int((~np.isfinite(arr)).sum())
                raise InputValidationError(
                    f"{key} contains {bad} NaN/inf values; clean them, mark them via errors/bitmasks, "
                    "or pass allow_nan_input=True"
                )
        expected = self.input_shape
        if expected is not None:
            got = {k: tuple(v.shape[1:]) for k, v in x.items()} if isinstance(x, dict) else tuple(x.shape[1:])
            if got != expected:
                if not isinstance(got, dict) and len(got) == 1 and len(expected) == 1:  # scikit-learn's wording
                    raise ShapeMismatchError(
                        f"X has {got[0]} features, but {type(self).__name__} is expecting {expected[0]} features "
                        f"as input (input shape {got} does not match the model's input shape {expected})"
                    )
                raise ShapeMismatchError(f"input shape {got} does not match the model's input shape {expected}")
        assert n is not None
        return n

    def _validate_y(self, y: ArrayLike, n: int, fitting: bool) -> np.ndarray:
        """Labels as class indices (classification, ``-1`` = unlabelled) or (N, D) float32 (regression).

        ``fitting``: labels for training; the first fit (no network yet) sets ``classes_`` /
        ``output_dim``. See :mod:`astrotorch.models.labels` for the rules.
        """
        if self.task == "classification":
            warm = self.network is not None
            known = self._fitted_classes() if (warm or not fitting) else None
            idx, classes = encode_class_labels(y, n, self.targetname, known)
            if fitting and known is None:
                if len(classes) < 2:
                    raise InputValidationError(
                        f"classification needs at least two classes; y has {len(classes)} "
                        f"class{'' if len(classes) == 1 else 'es'} ({np.asarray(classes).tolist()})"
                    )
                self._classes = classes
                self.output_dim = len(classes)
            return idx
        warm = self.network is not None
        yy = regression_labels(y, n, self.output_dim if (warm or not fitting) else None, self.targetname,
                               fitting_statistics=fitting and (not warm or self._label_norm is None))
        if fitting and not warm:
            self.output_dim = yy.shape[1]
        return yy

    def _validate_aux(self, a: ArrayLike | None, like: np.ndarray, name: str) -> np.ndarray | None:
        if a is None:
            return None
        arr = to_numpy(a, name).astype(np.float32)
        if arr.ndim == 1 and like.ndim == 2:
            arr = arr[:, None] if like.shape[1] == 1 else arr
        if arr.shape[0] != like.shape[0]:
            raise ShapeMismatchError(f"{name} has {arr.shape[0]} samples, expected {like.shape[0]}")
        if name != "sample_weight" and arr.shape != like.shape:
            raise ShapeMismatchError(f"{name} has shape {arr.shape}, expected {like.shape}")
        if name == "sample_weight":
            arr = arr.reshape(like.shape[0])
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise InputValidationError("sample_weight must be finite and non-negative")
            if not (arr > 0).any():
                raise InputValidationError("sample_weight is zero for every sample: nothing to train on")
        return arr

    # -------------------------------------------------------------- normalisation
    def _make_input_norm(self, x: np.ndarray | dict[str, np.ndarray]) -> Any:
        if isinstance(x, dict):
            modes = self.input_norm_mode if isinstance(self.input_norm_mode, dict) else {}
            return {k: Normalizer(mode=modes.get(k, self.input_norm_mode if not modes else 0)) for k in x}
        return Normalizer(mode=self.input_norm_mode)

    def _normalize_x(self, x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        if isinstance(x, dict):
            missing = set(self._input_norm) - set(x)
            if missing:
                raise InputValidationError(f"input dict lacks keys {sorted(missing)}")
            return {k: normalize_inputs(self._input_norm[k], v) for k, v in x.items()}
        return normalize_inputs(self._input_norm, x)

    def _scale_errors(self, err: np.ndarray, magic: float | None = None) -> np.ndarray:
        """Errors into normalised label units (divide by the label scale); missing errors → 0."""
        scale = np.asarray(self._label_norm.scale, np.float32) if self._label_norm is not None else 1.0
        err = np.where(is_missing(err, magic), 0.0, err) / scale
        return err.astype(np.float32)

    # -------------------------------------------------------------- datasets for fit
    def _prepare_arrays(self, x: Any, y: Any, y_err: Any, sample_weight: Any, warm_start: bool) -> Dataset:
        if y is None:
            raise InputValidationError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        xa = self.prepare_x(x)
        if not warm_start:
            self.input_shape = None
            self.output_dim = None
            self._classes = None
            self.network = None
        n = self._validate_x(xa)
        ya = self._validate_y(y, n, fitting=True)
        err = self._validate_aux(y_err, ya, "y_err") if self.task == "regression" else None
        w = self._validate_aux(sample_weight, ya if ya.ndim == 2 else ya[:, None], "sample_weight")
        if not warm_start or self._input_norm is None:
            self.input_shape = {k: tuple(v.shape[1:]) for k, v in xa.items()} if isinstance(xa, dict) else tuple(xa.shape[1:])
            self._input_norm = self._make_input_norm(xa)
            if isinstance(xa, dict):
                for k, v in xa.items():
                    self._input_norm[k].fit(v)
            else:
                self._input_norm.fit(xa)
            mode = self.labels_norm_mode if self.task == "regression" else 0
            self._label_norm = Normalizer(mode=mode)
            if self.task == "regression":
                self._label_norm.fit(ya)
        if self.task == "regression":  # warm start: the range widens to the new labels
            self.label_range_ = label_range(ya, self.label_range_ if warm_start else None)
        xn = self._normalize_x(xa)
        if self.task == "regression":
            yn = np.asarray(self._label_norm.transform(ya), np.float32)
            errn = self._scale_errors(err) if err is not None else np.zeros_like(yn)
        else:
            yn, errn = ya, None
        return self.make_dataset(xn, yn, errn, w)

    def _prepare_streaming(self, ds: Dataset, warm_start: bool) -> Dataset:
        if len(ds) == 0:  # type: ignore[arg-type]
            raise EmptyDatasetError("the training Dataset is empty")
        first = ds[0]
        if not isinstance(first, Mapping) or "x" not in first or "y" not in first:
            raise InputValidationError("Dataset items must be dicts with at least 'x' and 'y'")
        x0 = first["x"]
        if not warm_start or self._input_norm is None:
            if isinstance(x0, Mapping):
                self.input_shape = {k: tuple(np.shape(v)) for k, v in x0.items()}
            else:
                self.input_shape = tuple(np.shape(x0))
            self._input_norm = self._make_input_norm(
                {k: np.asarray(v)[None] for k, v in x0.items()} if isinstance(x0, Mapping) else np.asarray(x0)[None]
            )
            self._label_norm = Normalizer(mode=self.labels_norm_mode if self.task == "regression" else 0)
            # one streaming pass for the statistics (Normalizer.partial_fit): memory stays flat
            loader = DataLoader(ds, batch_size=max(self.batch_size, 256), num_workers=self.num_workers)
            labels: set[int] = set()
            bounds = None
            for batch in loader:
                bx = batch["x"]
                if isinstance(bx, Mapping):
                    for k, v in bx.items():
                        self._input_norm[k].partial_fit(np.asarray(v, np.float32))
                else:
                    self._input_norm.partial_fit(np.asarray(bx, np.float32))
                by = np.asarray(batch["y"], np.float32)
                if self.task == "regression":
                    self._label_norm.partial_fit(by.reshape(by.shape[0], -1))
                    bounds = label_range(by.reshape(by.shape[0], -1), bounds)
                else:
                    labels.update(self._stream_class_labels(by))
            if self.task == "regression":
                self.output_dim = int(np.asarray(first["y"]).reshape(-1).shape[0])
                self.label_range_ = bounds
                empty = np.flatnonzero(np.asarray(self._label_norm._count) == 0)
                if self._label_norm.mode in (2, 3, "3s") and empty.size and empty.size < self.output_dim:
                    raise InputValidationError(
                        f"label column(s) {empty.tolist()} of the Dataset have no valid value (every entry is NaN "
                        "or the magic number): their normalisation is undefined"
                    )
            else:
                found = sorted(labels)
                if not self.targetname and found != list(range(len(found))):
                    shown = found if len(found) <= 10 else found[:10] + ["..."]
                    raise InputValidationError(
                        f"Dataset class labels must be the indices 0..C-1, got {shown}; pass targetname naming "
                        "the classes to fix their number"
                    )
                n_classes = len(self.targetname) if self.targetname else len(found)
                if n_classes < 2:
                    raise InputValidationError(f"classification needs at least two classes; the Dataset has {n_classes}")
                self._classes = np.arange(n_classes)
                self.output_dim = n_classes
        return NormalizingDataset(ds, self)

    def _stream_class_labels(self, by: np.ndarray) -> set[int]:
        """Class indices in a streamed label batch (integer indices; negative / NaN / magic = unlabelled)."""
        v = by.reshape(-1).astype(np.float64)
        v = v[~is_missing(v) & (v >= 0)]
        if np.any(v != np.round(v)):
            raise InputValidationError("Dataset labels must be integer class indices for classification")
        if self.targetname and v.size and v.max() >= len(self.targetname):
            raise InputValidationError(
                f"Dataset has class index {int(v.max())} but targetname names {len(self.targetname)} classes"
            )
        return set(np.unique(v).astype(int).tolist())


__all__ = ["ArrayDataset", "BatchedRows", "collate_batched", "NormalizingDataset", "DataMixin", "to_numpy", "normalize_inputs", "first_array", "is_missing"]
