"""Safe readers for HDF5, FITS, CSV, NumPy and Parquet files.

Each reader turns the many ways a file can be broken (truncated, not the format its name claims,
empty, missing columns) into a :class:`~astrotorch.errors.DataFormatError` that names the file, so a
user sees "``allStar.fits`` is truncated or corrupt" rather than a low-level ``OSError`` from deep
inside h5py or astropy. A missing file raises :class:`FileNotFoundError` (the built-in), as open()
would.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrotorch.errors import DataFormatError
from astrotorch.io.paths import special_file_kind

if TYPE_CHECKING:  # pragma: no cover
    import h5py
    import pandas as pd
    import pyarrow.parquet as pq
    from astropy.io.fits import HDUList

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _require_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_file():
        kind = special_file_kind(path) or ("a folder" if path.is_dir() else "not a regular file")
        raise DataFormatError(f"{path} is {kind}, not a regular file: astrotorch reads only regular files")
    if path.stat().st_size == 0:
        raise DataFormatError(f"{path} is empty (0 bytes)")


# ----------------------------------------------------------------------------------------- HDF5
def open_hdf5(path: str | os.PathLike[str], mode: str = "r", **kwargs: Any) -> h5py.File:
    """Open an HDF5 file with h5py; a non-HDF5, truncated or corrupt file raises DataFormatError.

    Returns the ``h5py.File`` (use it as a context manager). Only read modes are checked for
    corruption; ``mode="r"`` is the default.
    """
    import h5py

    path = Path(path)
    if mode == "r":
        _require_file(path)
    try:
        handle = h5py.File(path, mode, **kwargs)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DataFormatError(f"{path} is not a readable HDF5 file (truncated or corrupt?): {exc}") from exc
    return handle


def _check_hdf5_dataset(path: Path, name: str, ds: Any) -> None:
    """A truncated file can open fine and fail only when a dataset's chunks are read."""
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise DataFormatError(f"{path}: {name!r} is a group, not a dataset")


def read_hdf5(
    path: str | os.PathLike[str], keys: Sequence[str] | None = None, required: Sequence[str] = ()
) -> dict[str, Any]:
    """Read datasets of an HDF5 file into memory as a ``{name: numpy array}`` dict.

    ``keys``: which top-level datasets to read (default: all top-level datasets). ``required``: names
    that must exist (DataFormatError listing what the file has otherwise). Any error while reading the
    data (a truncated file usually fails here, not on open) raises DataFormatError.
    """
    import h5py

    path = Path(path)
    with open_hdf5(path) as f:
        available = list(f.keys())
        missing = [k for k in list(required) + list(keys or []) if k not in f]
        if missing:
            raise DataFormatError(f"{path} lacks datasets {missing}; it has {available}")
        names = list(keys) if keys is not None else [k for k in available if isinstance(f[k], h5py.Dataset)]
        out: dict[str, Any] = {}
        for name in names:
            ds = f[name]
            _check_hdf5_dataset(path, name, ds)
            try:
                out[name] = ds[()]
            except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
                raise DataFormatError(f"{path}: dataset {name!r} cannot be read (truncated or corrupt?): {exc}") from exc
    return out


# ----------------------------------------------------------------------------------------- FITS
@contextlib.contextmanager
def open_fits(path: str | os.PathLike[str], memmap: bool = True, **kwargs: Any) -> Iterator[HDUList]:
    """Open a FITS file with astropy, verifying its structure; yields the ``HDUList``.

    A truncated or corrupt file raises DataFormatError. astropy opens lazily and only warns about a
    truncated last HDU, so every header is parsed up front and astropy's truncation warnings are
    turned into errors.
    """
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    path = Path(path)
    _require_file(path)
    compression = _compression(path)
    if compression == "xz" and not _astropy_reads_xz():
        import astropy

        raise DataFormatError(f"{path} is xz-compressed: reading xz FITS needs astropy >= 7.0 (installed: "
                              f"{astropy.__version__}); decompress it first (xz -d) or upgrade astropy")
    size = _uncompressed_size(path, compression) if compression else path.stat().st_size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)
            hdul = fits.open(path, memmap=memmap, **kwargs)
            hdul.readall()  # parse every HDU header now, so truncation shows up here
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError, IndexError, KeyError, AstropyUserWarning, fits.VerifyError) as exc:
        raise DataFormatError(f"{path} is not a readable FITS file (truncated or corrupt?): {exc}") from exc
    try:
        _check_fits_sizes(path, hdul, size, compression)
        yield hdul
    finally:
        hdul.close()


_COMPRESSION_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))


def _compression(path: Path) -> str | None:
    """'gzip', 'bzip2', 'xz' or 'zip' from the file's first bytes (astropy opens all four); else None."""
    head = _head(path, 6)
    return next((kind for magic, kind in _COMPRESSION_MAGIC if head.startswith(magic)), None)


def _astropy_reads_xz() -> bool:
    """astropy.io.fits reads LZMA (xz) compressed files from 7.0 on."""
    import astropy

    return int(astropy.__version__.split(".")[0]) >= 7


def _uncompressed_size(path: Path, compression: str) -> int:
    """Bytes of the decompressed stream, read to its end: a cut-off or corrupt stream raises DataFormatError."""
    import bz2
    import gzip
    import lzma
    import zipfile
    import zlib

    total = 0
    try:
        with contextlib.ExitStack() as stack:
            if compression == "zip":
                archive = stack.enter_context(zipfile.ZipFile(path))
                fh = stack.enter_context(archive.open(archive.namelist()[0]))
            else:
                opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[compression]
                fh = stack.enter_context(opener(path, "rb"))
            for block in iter(lambda: fh.read(1 << 20), b""):
                total += len(block)
    except EOFError as exc:
        raise DataFormatError(
            f"{path} is truncated: its {compression} stream ends before its end marker ({exc})") from exc
    except (OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, IndexError, ValueError) as exc:
        raise DataFormatError(
            f"{path} is truncated or corrupt: its {compression} stream cannot be read to the end ({exc})") from exc
    return total


def _check_fits_sizes(path: Path, hdul: HDUList, size: int, compression: str | None) -> None:
    """Each HDU's data must lie inside the (decompressed) file: astropy does not always notice a short last HDU."""
    what = f"the decompressed {compression} stream" if compression else "the file"
    for i, hdu in enumerate(hdul):
        info = hdu.fileinfo()
        if info is None:
            continue
        # hdu.size is the unpadded data size from the header (NAXIS*, PCOUNT); a file may legally
        # omit the zero padding of the last 2880-byte block, so compare against the unpadded size
        end = info["datLoc"] + int(getattr(hdu, "size", 0) or 0)
        if end > size:
            raise DataFormatError(f"{path} is truncated: HDU {i} needs bytes up to {end} but {what} has {size}")


def read_fits_table(path: str | os.PathLike[str], hdu: int | str = 1, columns: Sequence[str] | None = None) -> Any:
    """Read a FITS binary table into a numpy record array (optionally only ``columns``)."""
    path = Path(path)
    with open_fits(path) as hdul:
        try:
            data = hdul[hdu].data
        except (KeyError, IndexError) as exc:
            raise DataFormatError(f"{path} has no HDU {hdu!r} ({len(hdul)} HDUs)") from exc
        if data is None:
            raise DataFormatError(f"{path}: HDU {hdu!r} holds no data")
        names = list(getattr(data, "names", None) or [])
        if columns is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise DataFormatError(f"{path}: HDU {hdu!r} lacks columns {missing}")
        try:
            if columns is not None:
                import numpy as np

                return np.rec.fromarrays([np.array(data[c]) for c in columns], names=list(columns))
            return data.copy()
        except (OSError, ValueError, TypeError) as exc:
            raise DataFormatError(f"{path}: table in HDU {hdu!r} cannot be read: {exc}") from exc


# ------------------------------------------------------------------------------------ CSV, Parquet
def _check_columns(path: Path, columns: Sequence[str], required: Sequence[str] | None) -> None:
    if required:
        missing = [c for c in required if c not in columns]
        if missing:
            raise DataFormatError(f"{path} lacks required columns {missing}; it has {list(columns)}")


def require_numeric_columns(path: Path, df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Columns that must hold numbers: text cells raise DataFormatError naming column, row and value.

    Empty cells are allowed (NaN, i.e. missing); booleans count as numbers.
    """
    import pandas as pd

    _check_columns(path, [str(c) for c in df.columns], columns)
    for col in columns:
        series = df[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        values = pd.to_numeric(series, errors="coerce")
        bad = values.isna() & series.notna() & (series.astype(str).str.strip() != "")
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise DataFormatError(f"{path}: column {col!r} must hold numbers but data row {i + 1} holds "
                                  f"{series.iloc[i]!r} ({int(bad.sum())} such cells)")
        df[col] = values.astype(float)
    return df


def read_csv(
    path: str | os.PathLike[str], required_columns: Sequence[str] | None = None, allow_empty: bool = False,
    numeric_columns: Sequence[str] | None = None, **kwargs: Any,
) -> pd.DataFrame:
    """Read a CSV file with pandas; an empty file, a parse error or missing columns raise DataFormatError.

    ``allow_empty``: accept a header-only file (zero rows); an empty (0-byte) file is never accepted.
    ``numeric_columns``: columns that must hold numbers (a text cell raises DataFormatError naming
    the column and row; empty cells become NaN). A last row shorter than the one before it (a file
    cut off mid-row) raises DataFormatError.
    """
    import pandas as pd

    path = Path(path)
    _require_file(path)
    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError(f"{path} holds no CSV data") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"{path} is not a readable CSV file: {exc}") from exc
    _check_columns(path, [str(c) for c in df.columns], required_columns)
    if len(df) == 0 and not allow_empty:
        raise DataFormatError(f"{path} has a header but no rows")
    _check_last_row(path, kwargs)
    return require_numeric_columns(path, df, numeric_columns) if numeric_columns else df


def _check_last_row(path: Path, kwargs: dict[str, Any]) -> None:
    """A file cut off mid-row ends with a row shorter than the one before it; pandas fills it with NaN.

    Only the tail of the file is read (cheap for any size). Skipped where raw lines cannot be split
    simply: compressed files, multi-character or regex separators, footers, quoted last rows.
    """
    sep = kwargs.get("sep", kwargs.get("delimiter", ","))
    if (not isinstance(sep, str) or len(sep) != 1 or kwargs.get("skipfooter") or _compression(path)
            or kwargs.get("compression") not in (None, "infer")):
        return
    comment = kwargs.get("comment")
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - (1 << 16)))
        tail = fh.read().decode("utf-8", "replace")
    lines = [ln for ln in tail.splitlines() if ln.strip() and not (comment and ln.lstrip().startswith(comment))]
    if len(lines) < 2 or '"' in lines[-1] or '"' in lines[-2]:
        return
    n_last, n_prev = lines[-1].count(sep) + 1, lines[-2].count(sep) + 1
    if n_last < n_prev:
        raise DataFormatError(f"{path}: the last row has {n_last} fields but the row before it has {n_prev}: "
                              "the file looks truncated (cut off mid-row)")


_NPY_MAGIC = b"\x93NUMPY"


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def read_npz(
    path: str | os.PathLike[str], keys: Sequence[str] | None = None, required: Sequence[str] = (),
    optional: Sequence[str] = (),
) -> dict[str, Any]:
    """Read the arrays of an ``.npz`` archive into a ``{name: numpy array}`` dict (never unpickles).

    ``keys``: which arrays (default: all), each must exist, as must those in ``required``;
    ``optional``: arrays also read when present. A truncated, corrupt or pickled archive, or missing
    arrays, raise DataFormatError naming the file.
    """
    import zipfile
    import zlib

    import numpy as np

    path = Path(path)
    _require_file(path)
    head = _head(path, 6)
    if head.startswith(_NPY_MAGIC):
        raise DataFormatError(f"{path} is a single .npy array, not an .npz archive")
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise DataFormatError(f"{path} is not an .npz archive (it does not start with the zip signature)")
    try:
        with contextlib.ExitStack() as stack:
            archive = np.load(path, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataFormatError(f"{path} is a single .npy array, not an .npz archive")
            stack.enter_context(archive)
            names = list(archive.keys())
            missing = [k for k in list(required) + list(keys or []) if k not in names]
            if missing:
                raise DataFormatError(f"{path} lacks arrays {missing}; it has {names}")
            wanted = list(keys) if keys is not None else names
            wanted += [k for k in optional if k in names and k not in wanted]
            return {k: archive[k] for k in wanted}
    except DataFormatError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataFormatError(f"{path} is not a readable .npz file (truncated or corrupt?): {exc}") from exc


def read_npy(path: str | os.PathLike[str]) -> Any:
    """Read one ``.npy`` array (never unpickles); a truncated or corrupt file raises DataFormatError."""
    import numpy as np

    path = Path(path)
    _require_file(path)
    head = _head(path, 6)
    if head.startswith(b"PK"):
        raise DataFormatError(f"{path} is an .npz archive, not a single .npy array")
    if not head.startswith(_NPY_MAGIC):
        raise DataFormatError(f"{path} is not a .npy file (it does not start with the NumPy signature)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path} is not a readable .npy file (truncated or corrupt?): {exc}") from exc
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise DataFormatError(f"{path} is an .npz archive, not a single .npy array")
    return arr


def open_parquet(path: str | os.PathLike[str]) -> pq.ParquetFile:
    """Open a Parquet file (metadata only, row groups are read on demand); corrupt → DataFormatError."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    _require_file(path)
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataFormatError(f"{path} is not a readable Parquet file (truncated or corrupt?): {exc}") from exc


def read_parquet(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None,
    required_columns: Sequence[str] | None = None, allow_empty: bool = False,
    numeric_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a Parquet file into a pandas DataFrame; corrupt file or missing columns → DataFormatError.

    ``numeric_columns``: as for :func:`read_csv`.
    """
    import pyarrow as pa

    path = Path(path)
    pf = open_parquet(path)
    names = pf.schema_arrow.names
    _check_columns(path, names, list(required_columns or []) + list(columns or []))
    try:
        table = pf.read(columns=list(columns) if columns is not None else None)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: Parquet data cannot be read (truncated or corrupt?): {exc}") from exc
    if table.num_rows == 0 and not allow_empty:
        raise DataFormatError(f"{path} holds no rows")
    df = table.to_pandas()
    return require_numeric_columns(path, df, numeric_columns) if numeric_columns else df


__all__ = [
    "open_hdf5",
    "read_hdf5",
    "open_fits",
    "read_fits_table",
    "read_csv",
    "require_numeric_columns",
    "read_npz",
    "read_npy",
    "open_parquet",
    "read_parquet",
]
