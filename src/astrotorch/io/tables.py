"""One writer for result tables (predictions, per-object run outputs): the format follows the suffix.

:func:`write_table` writes a :class:`pandas.DataFrame` with per-column units and table metadata,
atomically (:func:`~astrotorch.io.atomic_path`: a crash never leaves half a file):

========== =====================================================================================
suffix     what is written
========== =====================================================================================
``.csv``   ECSV (astropy's "Enhanced CSV", comma-delimited): a ``#``-comment YAML header with
           each column's type and unit and the metadata, then plain CSV. ``astropy.table.Table.read``
           restores units and metadata; ``pandas.read_csv(path, comment="#")`` reads the values.
``.parquet`` Apache Parquet (pyarrow): each field's metadata holds ``unit``; the schema metadata
           key ``astrotorch`` holds ``{"units": ..., "meta": ...}`` as JSON.
``.fits``  a binary-table HDU (astropy): ``TUNITn`` holds each column's unit string verbatim (units
           outside the FITS standard, e.g. ``dex(K)``, make astropy warn when it reads them); the
           header card ``ATMETA`` holds the metadata as JSON (long-string convention).
``.h5``    HDF5 (h5py, no pandas/PyTables layout): one 1-D dataset per column (strings as UTF-8),
           attribute ``unit`` on each; file attributes ``columns`` (the order) and ``meta`` (JSON).
``.npz``   NumPy archive (no pickles): one array per column and ``__astrotorch__`` (JSON string
           with units and metadata).
========== =====================================================================================

Any other suffix raises :class:`~astrotorch.errors.InputValidationError` (:func:`table_format`
checks a path before any work). Units are free strings (``"K"``, ``"dex"``, ``""`` for
dimensionless); metadata values must be JSON-serialisable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.errors import InputValidationError

#: table formats by file suffix
TABLE_FORMATS: dict[str, str] = {".csv": "ecsv", ".parquet": "parquet", ".fits": "fits", ".h5": "hdf5",
                                 ".hdf5": "hdf5", ".npz": "npz"}


def table_format(path: str | os.PathLike[str], label: str = "output") -> str:
    """The format :func:`write_table` uses for ``path`` (by suffix); an unknown suffix raises
    :class:`~astrotorch.errors.InputValidationError` naming ``label`` and the path."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise InputValidationError(f"{label} {path}: unknown table format {suffix or '(no suffix)'!r}; "
                                   f"use one of {', '.join(TABLE_FORMATS)}")
    return TABLE_FORMATS[suffix]


def _jsonable(obj: Any) -> Any:
    from astrotorch.train.runs import to_jsonable

    return to_jsonable(obj)


def _column_array(values: Any) -> np.ndarray:
    """A column as a plain NumPy array: numbers as they are, anything else as unicode strings."""
    a = np.asarray(values)
    if a.dtype.kind in "biuf":
        return a
    return np.array(["" if v is None else (v.decode() if isinstance(v, bytes) else str(v)) for v in a], dtype=str)


def _check(df: Any, units: Mapping[str, str]) -> None:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InputValidationError(f"write_table needs a pandas DataFrame, got {type(df).__name__}")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputValidationError(f"table columns must be unique; repeated: {dup}")
    unknown = [c for c in units if c not in names]
    if unknown:
        raise InputValidationError(f"units given for columns the table does not have: {unknown}")


def write_table(df: Any, path: str | os.PathLike[str], units: Mapping[str, str] | None = None,
                meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``df`` to ``path`` in the format its suffix names (module docstring), atomically.

    :param units: column name → unit string (columns not listed get no unit)
    :param meta: table metadata (JSON-serialisable values), e.g. the model, the input, the units' meaning
    :return: the path written
    """
    from astrotorch.io.atomic import atomic_path

    path = Path(path)
    fmt = table_format(path)
    units = {str(k): str(v) for k, v in (units or {}).items()}
    _check(df, units)
    meta = _jsonable(dict(meta or {}))
    try:
        json.dumps(meta)
    except TypeError as exc:
        raise InputValidationError(f"table metadata must be JSON-serialisable: {exc}") from None
    columns = {str(c): _column_array(df[c].to_numpy()) for c in df.columns}
    with atomic_path(path) as tmp:
        {"ecsv": _write_ecsv, "parquet": _write_parquet, "fits": _write_fits, "hdf5": _write_hdf5,
         "npz": _write_npz}[fmt](tmp, columns, units, meta)
    return path


def _astropy_table(columns: dict[str, np.ndarray], units: Mapping[str, str], meta: Mapping[str, Any]) -> Any:
    from astropy import units as u
    from astropy.table import Table

    t = Table(list(columns.values()), names=list(columns), meta=dict(meta))
    for name, unit in units.items():
        if unit:
            t[name].unit = u.Unit(unit, parse_strict="silent")
    return t


def _write_ecsv(tmp: Path, columns: dict[str, np.ndarray], units: Mapping[str, str], meta: Mapping[str, Any]) -> None:
    import warnings

    from astropy.units import UnitsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnitsWarning)  # free-form units are kept as strings on purpose
        _astropy_table(columns, units, meta).write(tmp, format="ascii.ecsv", delimiter=",", overwrite=True)


def _write_parquet(tmp: Path, columns: dict[str, np.ndarray], units: Mapping[str, str], meta: Mapping[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields, arrays = [], []
    for name, a in columns.items():
        arr = pa.array(a)
        fields.append(pa.field(name, arr.type, metadata={"unit": units[name]} if name in units else None))
        arrays.append(arr)
    schema = pa.schema(fields, metadata={"astrotorch": json.dumps({"units": dict(units), "meta": meta})})
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp)


def _write_fits(tmp: Path, columns: dict[str, np.ndarray], units: Mapping[str, str], meta: Mapping[str, Any]) -> None:
    from astropy.io import fits
    from astropy.table import Table

    hdu = fits.table_to_hdu(Table(list(columns.values()), names=list(columns)))
    for i, name in enumerate(columns, start=1):
        if units.get(name):
            hdu.header[f"TUNIT{i}"] = units[name]
    if meta:
        hdu.header["ATMETA"] = (json.dumps(meta), "astrotorch metadata (JSON)")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)


def _write_hdf5(tmp: Path, columns: dict[str, np.ndarray], units: Mapping[str, str], meta: Mapping[str, Any]) -> None:
    import h5py

    with h5py.File(tmp, "w") as f:
        for name, a in columns.items():
            ds = f.create_dataset(name, data=a.astype(object) if a.dtype.kind == "U" else a,
                                  dtype=h5py.string_dtype() if a.dtype.kind == "U" else a.dtype)
            if name in units:
                ds.attrs["unit"] = units[name]
        f.attrs["columns"] = json.dumps(list(columns))
        f.attrs["meta"] = json.dumps(meta)


def _write_npz(tmp: Path, columns: dict[str, np.ndarray], units: Mapping[str, str], meta: Mapping[str, Any]) -> None:
    extra = {"__astrotorch__": np.array(json.dumps({"units": dict(units), "meta": meta, "columns": list(columns)}))}
    with open(tmp, "wb") as fh:
        np.savez(fh, **columns, **extra)


__all__ = ["write_table", "table_format", "TABLE_FORMATS"]
