"""Generic array and table inputs of the command line (``train tabular``, ``predict file``, ``evaluate``).

:func:`load_arrays` reads inputs (and labels) from .npz / .npy / .h5 / .csv / .parquet;
:func:`load_inputs` also finds the objects' ids in the same file (``--id-column``, else a column or
dataset named like an id: ``objid``, ``object_id``, ``id`` ...), or numbers the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from astrotorch.errors import DataFormatError, InputValidationError

if TYPE_CHECKING:
    import pandas as pd

#: names taken as object ids when no --id-column is given (first match wins)
ID_NAMES: tuple[str, ...] = ("objid", "object_id", "OBJID", "ZTFID", "APOGEE_ID", "source_id", "id", "ID")

TABLE_SUFFIXES = (".csv", ".parquet")


def _table(path: Path) -> pd.DataFrame:
    from astrotorch import io as aio

    return aio.read_csv(path) if path.suffix.lower() == ".csv" else aio.read_parquet(path)


def _pick_id(names: dict[str, tuple[int, ...]] | Sequence[str], path: Path, id_column: str | None,
             n_rows: int | None) -> str | None:
    """``id_column`` (which must exist), else the first of :data:`ID_NAMES` present (for arrays:
    1-D with ``n_rows`` entries), else None."""
    if id_column is not None:
        if id_column not in names:
            raise DataFormatError(f"{path} has no id column {id_column!r}; it has {sorted(map(str, names))}")
        return id_column
    for c in ID_NAMES:
        if c in names and (not isinstance(names, dict) or (len(names[c]) == 1 and n_rows in (None, names[c][0]))):
            return c
    return None


def _decoded(ids: np.ndarray, path: Path, name: str, n: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) != n:
        raise DataFormatError(f"{path}: id {name!r} has shape {ids.shape}, expected ({n},)")
    if ids.dtype.kind in "SO":
        ids = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in ids])
    return ids


def load_inputs(path: Path, x_key: str = "x", y_key: str | None = "y", columns: str | None = None,
                target: str | None = None, id_column: str | None = None
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, str]:
    """:func:`load_arrays` plus the objects' ids, reading the file once: ``(x, y, ids, id name)``.

    Ids: ``id_column`` (a table column, or an array in .npz/.h5), else the first of :data:`ID_NAMES`
    present, else the 0-based rows (name ``row``). A table's id column is never an input column.
    Bytes ids are decoded to str.
    """
    from astrotorch import io as aio

    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        if not path.exists():
            raise InputValidationError(f"input file {path} does not exist")
        df = _table(path)
        name = _pick_id([str(c) for c in df.columns], path, id_column, None)
        x, y = _split_table(path, df, columns, target, exclude=[name] if name else [])
        return x, y, (_decoded(df[name].to_numpy(), path, name, len(x)) if name else np.arange(len(x))), name or "row"
    x, y = load_arrays(path, x_key=x_key, y_key=y_key)
    if suffix == ".npy":
        if id_column is not None:
            raise InputValidationError(f"--id-column {id_column!r}: a .npy file holds one array and no ids")
        return x, y, np.arange(len(x)), "row"
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:  # load_arrays has checked the archive
            shapes = {k: z[k].shape for k in z.files}
    else:
        with aio.open_hdf5(path) as f:
            shapes = {k: tuple(v.shape) for k, v in f.items() if hasattr(v, "shape")}
    name = _pick_id(shapes, path, id_column, len(x))
    if name is None:
        return x, y, np.arange(len(x)), "row"
    raw = aio.read_npz(path, keys=[name])[name] if suffix == ".npz" else aio.read_hdf5(path, keys=[name])[name]
    return x, y, _decoded(raw, path, name, len(x)), name


def _split_table(path: Path, df: pd.DataFrame, columns: str | None, target: str | None,
                 exclude: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray | None]:
    from astrotorch import io as aio

    tcols = [c for c in (target or "").split(",") if c]
    xcols = [c for c in (columns or "").split(",") if c] or [c for c in df.columns if c not in tcols and c not in exclude]
    missing = [c for c in xcols + tcols if c not in df.columns]
    if missing:
        raise DataFormatError(f"{path} lacks columns {missing}; it has {[str(c) for c in df.columns]}")
    df = aio.require_numeric_columns(path, df, xcols + tcols)
    return df[xcols].to_numpy(np.float32), (df[tcols].to_numpy(np.float32) if tcols else None)


def load_arrays(path: Path, x_key: str = "x", y_key: str | None = "y", columns: str | None = None,
                target: str | None = None, exclude: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray | None]:
    """Read inputs (and labels) from .npz / .npy / .h5 / .csv / .parquet.

    npz/h5: arrays named ``x_key`` and ``y_key``; csv/parquet: comma-separated ``columns`` for x and
    ``target`` for y (all other columns but ``exclude`` — e.g. the id column — → x when ``columns`` is
    not given); every column used must hold numbers. A missing, corrupt or non-numeric input raises
    a typed error naming the file.
    """
    from astrotorch import io as aio

    suffix = path.suffix.lower()
    if not path.exists():
        raise InputValidationError(f"input file {path} does not exist")
    if suffix == ".npy":
        x, y = aio.read_npy(path), None
    elif suffix == ".npz":
        d = aio.read_npz(path, keys=[x_key], optional=[y_key] if y_key else [])
        x, y = d[x_key], d.get(y_key) if y_key else None
    elif suffix in (".h5", ".hdf5"):
        with aio.open_hdf5(path) as f:
            names = list(f.keys())
        if x_key not in names:
            raise DataFormatError(f"{path} has no dataset {x_key!r} (has {names})")
        d = aio.read_hdf5(path, keys=[x_key] + ([y_key] if y_key and y_key in names else []))
        x, y = d[x_key], d.get(y_key) if y_key else None
    elif suffix in TABLE_SUFFIXES:
        return _split_table(path, _table(path), columns, target, exclude)
    else:
        raise InputValidationError(f"unsupported input format {suffix!r}: use .npz, .npy, .h5, .csv or .parquet")
    for name, arr in ((x_key, x), (y_key, y)):
        if arr is not None and np.asarray(arr).dtype.kind not in "biuf":
            raise DataFormatError(f"{path}: array {name!r} holds {np.asarray(arr).dtype} values; numbers are needed")
    return x, y


__all__ = ["load_arrays", "load_inputs", "ID_NAMES"]
