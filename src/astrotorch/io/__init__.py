"""File input/output: atomic writes, checksummed resumable downloads, and safe readers.

- :func:`atomic_write` / :func:`atomic_dir`: write a file or build a folder under a temporary name in
  the same folder and rename it into place, so nothing half-written is ever visible.
- :func:`download` / :func:`fetch`: urllib downloads with ``.part`` files, HTTP Range resume, a tqdm
  progress bar and SHA-256/MD5 verification; local mirrors and ``file://`` URLs.
- :func:`open_hdf5`, :func:`read_hdf5`, :func:`open_fits`, :func:`read_fits_table`, :func:`read_csv`,
  :func:`open_parquet`, :func:`read_parquet`: corrupt or truncated files raise
  :class:`~astrotorch.errors.DataFormatError` naming the file.
"""

from __future__ import annotations

from astrotorch.io.atomic import atomic_dir, atomic_write, md5sum, sha256sum
from astrotorch.io.download import copy_file, download, fetch
from astrotorch.io.readers import (
    open_fits,
    open_hdf5,
    open_parquet,
    read_csv,
    read_fits_table,
    read_hdf5,
    read_parquet,
)

__all__ = [
    "atomic_write",
    "atomic_dir",
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
    "open_parquet",
    "read_parquet",
]
