"""File input/output: atomic writes, output-path checks, checksummed downloads, and safe readers.

- :func:`atomic_write` / :func:`atomic_path` / :func:`atomic_dir`: write a file or build a folder
  under a temporary name in the same folder and rename it into place, so nothing half-written is
  ever visible; leftovers of killed processes are cleaned on the next write; a folder is replaced
  only if astrotorch wrote it.
- :func:`check_output_path`: refuse, before any work, an output that exists (without overwrite), is
  an input, a special file, a link, or cannot be written.
- :func:`download` / :func:`fetch`: urllib downloads with ``.part`` files, HTTP Range resume, a tqdm
  progress bar and SHA-256/MD5 verification; local mirrors and ``file://`` URLs.
- :func:`open_hdf5`, :func:`read_hdf5`, :func:`open_fits`, :func:`read_fits_table`, :func:`read_csv`,
  :func:`read_npz`, :func:`read_npy`, :func:`open_parquet`, :func:`read_parquet`: corrupt or
  truncated files raise :class:`~astrotorch.errors.DataFormatError` naming the file.
- :func:`write_table`: a result table with units and metadata as .csv (ECSV), .parquet, .fits, .h5
  or .npz by the file's suffix, atomically (:func:`table_format` checks the suffix up front).
"""

from __future__ import annotations

from astrotorch.io.atomic import (
    atomic_dir,
    atomic_path,
    atomic_write,
    clean_stale_temporaries,
    md5sum,
    sha256sum,
)
from astrotorch.io.download import copy_file, download, fetch
from astrotorch.io.paths import MARKER_NAME, check_output_path, check_replaceable_folder
from astrotorch.io.readers import (
    open_fits,
    open_hdf5,
    open_parquet,
    read_csv,
    read_fits_table,
    read_hdf5,
    read_npy,
    read_npz,
    read_parquet,
    require_numeric_columns,
)
from astrotorch.io.tables import TABLE_FORMATS, table_format, write_table

__all__ = [
    "atomic_write",
    "atomic_path",
    "atomic_dir",
    "clean_stale_temporaries",
    "check_output_path",
    "check_replaceable_folder",
    "MARKER_NAME",
    "sha256sum",
    "md5sum",
    "download",
    "fetch",
    "copy_file",
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
    "write_table",
    "table_format",
    "TABLE_FORMATS",
]
