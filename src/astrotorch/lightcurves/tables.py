"""Write a prediction table as ``.csv``, ``.parquet``, ``.fits`` or ``.h5`` — by the path's suffix,
atomically (through :func:`astrotorch.io.atomic_write`), with each column's unit and description.

Where the units go: Parquet field metadata (``unit``, ``description``) and schema metadata; FITS
``TUNITn`` (and ``TCOMMn``) keywords; HDF5 attributes ``unit``/``description`` of one dataset per
column; CSV has no metadata, so its header is the column names only (choose names that say what a
column is). Strings (object ids, class labels) are stored as text / fixed-width bytes.

(Placed here for the light-curve ``predict`` command until ``astrotorch.io`` has a table writer.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from astrotorch.errors import InputValidationError

TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".fits", ".h5")


def table_suffix(path: str | Path) -> str:
    """The output format of ``path`` (its lower-case suffix); anything else raises InputValidationError."""
    suffix = Path(path).suffix.lower()
    if suffix == ".hdf5":
        return ".h5"
    if suffix not in TABLE_SUFFIXES:
        raise InputValidationError(f"--out {path}: the suffix must be one of {', '.join(TABLE_SUFFIXES)} (or .hdf5), "
                                   f"got {suffix or 'none'!r}")
    return suffix


def _as_array(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "OU":
        return np.asarray([str(v) for v in arr.tolist()], dtype=object)
    return arr


def write_table(path: str | Path, columns: Mapping[str, Any], units: Mapping[str, str] | None = None,
                descriptions: Mapping[str, str] | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Write equal-length ``columns`` (name → 1-D values, in order) to ``path`` by its suffix.

    ``units``: unit string per column (``""`` = dimensionless); ``descriptions``: text per column;
    ``meta``: table-level key → JSON-able value (Parquet schema metadata, FITS header ``HIERARCH``
    cards, HDF5 file attributes). The file appears complete or not at all.
    """
    from astrotorch.io import atomic_write

    path = Path(path)
    suffix = table_suffix(path)
    cols = {str(k): _as_array(v) for k, v in columns.items()}
    lengths = {k: v.shape[0] for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise InputValidationError(f"table columns have different lengths: {lengths}")
    units = dict(units or {})
    descriptions = dict(descriptions or {})
    meta = {str(k): v for k, v in (meta or {}).items()}
    if suffix == ".csv":
        import pandas as pd

        with atomic_write(path, "w", newline="") as fh:
            pd.DataFrame(cols).to_csv(fh, index=False)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields, arrays = [], []
        for name, v in cols.items():
            arr = pa.array(v.tolist() if v.dtype == object else v)
            md = {"unit": units.get(name, ""), "description": descriptions.get(name, "")}
            fields.append(pa.field(name, arr.type, metadata={k: str(x) for k, x in md.items()}))
            arrays.append(arr)
        schema = pa.schema(fields, metadata={"astrotorch": json.dumps(meta)})
        with atomic_write(path, "wb") as fh:
            pq.write_table(pa.Table.from_arrays(arrays, schema=schema), fh)
    elif suffix == ".fits":
        from astropy.table import Table

        t = Table()
        for name, v in cols.items():
            t[name] = v.astype(str) if v.dtype == object else v
            if units.get(name):
                t[name].unit = units[name]
            if descriptions.get(name):
                t[name].description = descriptions[name]
        for k, v in meta.items():
            t.meta[k.upper()[:60]] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
        import warnings

        from astropy.io.fits.verify import VerifyWarning

        with atomic_write(path, "wb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)  # keys > 8 characters become HIERARCH cards: fine
            t.write(fh, format="fits")
    else:
        import h5py

        with atomic_write(path, "wb") as fh:
            # h5py writes into the atomic temporary file's handle (astrotorch.io.open_hdf5 opens paths)
            with h5py.File(fh, "w") as f:
                for name, v in cols.items():
                    data = np.asarray([s.encode("utf-8") for s in v.tolist()]) if v.dtype == object else v
                    ds = f.create_dataset(name, data=data)
                    ds.attrs["unit"] = units.get(name, "")
                    ds.attrs["description"] = descriptions.get(name, "")
                f.attrs["columns"] = json.dumps(list(cols))
                for k, v in meta.items():
                    f.attrs[k] = v if isinstance(v, (int, float, str)) else json.dumps(v)
    return path


__all__ = ["write_table", "table_suffix", "TABLE_SUFFIXES"]
