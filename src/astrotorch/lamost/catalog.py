"""LAMOST catalogue loaders (FITS or CSV), located through ``LAMOST_DR5_DATA`` when no path is given.

``LAMOST_DR5_DATA`` (or astroNN's misspelt ``LASMOT_DR5_DATA``) names the DR5 folder;
:func:`load_allstar_dr5` opens astroNN's DR5 catalogue there as astroNN does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from astropy.table import Table

from astrotorch.config import get_config
from astrotorch.errors import ConfigError, DataFormatError, EmptyDatasetError

_SUFFIXES = (".fits", ".fits.gz", ".fit", ".csv", ".csv.gz")


def lamost_env() -> Path | None:
    """The LAMOST DR5 data folder from the configuration (``$LAMOST_DR5_DATA`` or config file)."""
    return get_config().lamost_dr5_data


def _find_catalogue(folder: Path) -> Path:
    if not folder.is_dir():
        raise ConfigError(f"LAMOST_DR5_DATA points to {folder}, which is not a folder")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(_SUFFIXES))
    if not found:
        raise FileNotFoundError(f"no FITS/CSV catalogue in {folder}; pass path= explicitly")
    if len(found) > 1:
        raise ConfigError(f"several catalogues in {folder} ({', '.join(p.name for p in found)}); pass path= explicitly")
    return found[0]


def load_lamost_catalog(
    path: str | os.PathLike[str] | None = None,
    columns: list[str] | None = None,
    hdu: int = 1,
) -> Table:
    """Read a LAMOST catalogue (e.g. the DR5 A/F/G/K stellar-parameter table) into an astropy Table.

    :param path: FITS (``.fits[.gz]``, table in extension ``hdu``) or CSV file; default: the only
        catalogue file in ``$LAMOST_DR5_DATA``
    :param columns: keep only these columns (case-insensitive); a missing one raises DataFormatError
    :raises FileNotFoundError: no such file; :class:`DataFormatError`: unreadable, truncated, or not a
        table; :class:`EmptyDatasetError`: no rows
    """
    if path is None:
        folder = lamost_env()
        if folder is None:
            raise ConfigError("no catalogue path given and LAMOST_DR5_DATA is not set")
        path = _find_catalogue(folder)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LAMOST catalogue {path} does not exist")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            table = Table.read(path, format="ascii.csv")
        elif name.endswith((".fits", ".fits.gz", ".fit")):
            from astrotorch.io import open_fits

            with open_fits(path, memmap=False) as hdul:  # in memory: the table outlives the handle
                table = Table.read(hdul, hdu=hdu, format="fits")
        else:
            raise DataFormatError(f"{path}: unknown catalogue format (expected one of {', '.join(_SUFFIXES)})")
    except DataFormatError:
        raise
    except Exception as exc:  # astropy raises OSError/ValueError/TypeError/IndexError for bad files
        raise DataFormatError(f"cannot read LAMOST catalogue {path}: {type(exc).__name__}: {exc}") from exc
    if len(table) == 0:
        raise EmptyDatasetError(f"LAMOST catalogue {path} has no rows")
    if columns is not None:
        lookup = {c.lower(): c for c in table.colnames}
        missing = [c for c in columns if c.lower() not in lookup]
        if missing:
            raise DataFormatError(f"{path} lacks column(s) {missing}; it has {table.colnames}")
        table = table[[lookup[c.lower()] for c in columns]]
    return table


#: astroNN's LAMOST DR5 catalogue, relative to ``$LAMOST_DR5_DATA``
ALLSTAR_DR5 = Path("DR5") / "LAM05_2MS_AP9_SD14_UC4_PS1_AW_Carlin_M.fits"


def load_allstar_dr5(path: str | os.PathLike[str] | None = None) -> Any:
    """astroNN's ``load_allstar_dr5``: the DR5 catalogue opened with astropy (an ``HDUList``; close it).

    :param path: the FITS file; default ``$LAMOST_DR5_DATA/DR5/LAM05_2MS_AP9_SD14_UC4_PS1_AW_Carlin_M.fits``
    :raises ConfigError: no path and no LAMOST_DR5_DATA; FileNotFoundError; DataFormatError (not FITS)
    """
    from astropy.io import fits

    if path is None:
        folder = lamost_env()
        if folder is None:
            raise ConfigError("no path given and LAMOST_DR5_DATA (or LASMOT_DR5_DATA) is not set")
        path = folder / ALLSTAR_DR5
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LAMOST DR5 catalogue {path} does not exist")
    try:
        hdul = fits.open(path, memmap=True)
        hdul.verify("exception")
        _ = hdul[1].columns  # a catalogue has a table in extension 1
    except Exception as exc:  # astropy raises OSError/ValueError/IndexError/VerifyError for bad files
        raise DataFormatError(f"cannot read LAMOST DR5 catalogue {path}: {type(exc).__name__}: {exc}") from exc
    return hdul


__all__ = ["ALLSTAR_DR5", "lamost_env", "load_allstar_dr5", "load_lamost_catalog"]
