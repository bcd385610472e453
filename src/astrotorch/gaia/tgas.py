"""Gaia DR1 files and the Anderson et al. (2017) parallaxes, with astroNN's names (``astroNN.gaia``).

* :func:`tgas` — the 16 TGAS DR1 source files (``TgasSource_000-000-0NN.fits``), downloaded once into
  ``<gaia_tools_data>/Gaia/gdr1/tgas_source/fits/`` (gaia_tools' layout) and checked against the
  archive's ``MD5SUM.txt``; :func:`tgas_load` reads them into a dict of arrays.
* :func:`gaia_source` — the 5,231 DR1 ``gaia_source`` files, the same way (astroNN: DR1 only).
* :func:`anderson_2017_parallax` — the data-driven TGAS parallaxes of Anderson et al. (2017) for
  APOGEE DR14 stars (astroNN's ``anderson_2017_dr14_parallax.npz``; astrotorch does not ship it).

Files come from ``get_config().gaia_archive_url`` (default the ESA Gaia CDN). ``$GAIA_TOOLS_DATA``
(config ``gaia_tools_data``) is the top folder; without it ``<data home>/gaia_tools_data`` is used.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from astrotorch.config import get_config
from astrotorch.errors import DataFormatError, InputValidationError
from astrotorch.io import read_npz

_TGAS_DIR = "Gaia/gdr1/tgas_source/fits"
_SOURCE_DIR = "Gaia/gdr1/gaia_source/fits"
_ANDERSON = "anderson_2017_dr14_parallax.npz"


def gaia_env() -> Path:
    """Top folder of local Gaia data: ``$GAIA_TOOLS_DATA`` (config ``gaia_tools_data``) or ``<data home>/gaia_tools_data``."""
    cfg = get_config()
    return cfg.gaia_tools_data if cfg.gaia_tools_data is not None else cfg.data_home / "gaia_tools_data"


def tgas_filenames() -> list[str]:
    """Names of the 16 TGAS DR1 files."""
    return [f"TgasSource_000-000-0{i:02d}.fits" for i in range(16)]


def gaia_source_filenames() -> list[str]:
    """Names of the 5,231 Gaia DR1 gaia_source files."""
    names = [f"GaiaSource_000-0{j:02d}-{i:03d}.fits" for j in range(20) for i in range(256)]
    return names + [f"GaiaSource_000-020-{i:03d}.fits" for i in range(111)]


def _md5_table(folder: Path, url: str, refresh: bool) -> dict[str, str]:
    from astrotorch.io import download

    listing = download(url + "MD5SUM.txt", folder / "MD5SUM.txt", progress=False, overwrite=refresh)
    table: dict[str, str] = {}
    for line in listing.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            digest = parts[0].lower()
            if len(digest) != 32 or any(c not in "0123456789abcdef" for c in digest):
                raise DataFormatError(f"{listing}: malformed MD5 {parts[0]!r}")
            table[parts[-1].lstrip("*")] = digest
    return table


def _fetch_files(subdir: str, names: list[str], flag: int | None, progress: bool) -> list[Path]:
    """Each file of ``names`` in ``<gaia_env>/<subdir>``: downloaded when absent, corrupt or ``flag=1``."""
    from astrotorch.io import download

    if flag not in (None, 0, 1):
        raise InputValidationError(f"flag must be None/0 (normal) or 1 (download again), got {flag!r}")
    folder = gaia_env() / subdir
    url = get_config().gaia_archive_url.rstrip("/") + "/" + subdir + "/"
    md5 = _md5_table(folder, url, refresh=flag == 1)
    out = []
    for name in names:
        # download() verifies an existing copy against the MD5 and replaces a corrupt one
        out.append(download(url + name, folder / name, md5=md5.get(name), progress=progress, overwrite=flag == 1))
    return out


def tgas(flag: int | None = None, progress: bool = True) -> list[Path]:
    """Paths of the 16 TGAS DR1 files, downloading the missing or corrupt ones (``flag=1``: all again)."""
    return _fetch_files(_TGAS_DIR, tgas_filenames(), flag, progress)


def gaia_source(dr: int | None = None, flag: int | None = None, progress: bool = True) -> list[Path]:
    """Paths of the Gaia DR1 gaia_source files (``dr`` must be 1, as in astroNN), downloaded when needed."""
    dr = 1 if dr is None else dr
    if dr != 1:
        raise InputValidationError(f"gaia_source supports Gaia DR1 only (as astroNN), got dr={dr!r}")
    return _fetch_files(_SOURCE_DIR, gaia_source_filenames(), flag, progress)


def _cut(parallax: np.ndarray, err: np.ndarray, cuts: bool | float) -> np.ndarray:
    """Stars with a positive parallax and relative error below the threshold (True = 0.2)."""
    threshold = 0.2 if cuts is True else float(cuts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (parallax > 0.0) & (err / parallax < threshold)


def tgas_load(cuts: bool | float = True, files: list[str | os.PathLike[str]] | None = None) -> dict[str, np.ndarray]:
    """TGAS DR1 astrometry: ``ra``, ``dec`` (deg, J2015), ``pmra``, ``pmdec`` (mas/yr), ``parallax``,
    ``parallax_err`` (mas) and ``gmag`` (G, mag), concatenated over the files (default :func:`tgas`).

    ``cuts``: keep stars with a positive parallax and a relative error below 0.2 (``True``) or the
    given fraction; ``False`` keeps everything.
    """
    from astrotorch.io import read_fits_table

    paths = [Path(f) for f in files] if files is not None else tgas()
    names = {"ra": "ra", "dec": "dec", "pmra": "pmra", "pmdec": "pmdec", "parallax": "parallax",
             "parallax_err": "parallax_error", "gmag": "phot_g_mean_mag"}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for path in paths:
        table = read_fits_table(path)
        have = {c.lower(): c for c in table.dtype.names}
        missing = [c for c in names.values() if c not in have]
        if missing:
            raise DataFormatError(f"{path} lacks TGAS column(s) {missing}")
        for key, col in names.items():
            parts[key].append(np.asarray(table[have[col]], dtype=np.float64))
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    if cuts is not False:
        keep = _cut(out["parallax"], out["parallax_err"], cuts)
        out = {k: v[keep] for k, v in out.items()}
    return out


def _anderson_path(path: str | os.PathLike[str] | None) -> Path:
    if path is not None:
        return Path(path)
    cfg = get_config()
    candidates = [gaia_env() / _ANDERSON, cfg.data_home / "gaia" / _ANDERSON]
    if cfg.shared_data is not None:
        candidates.append(cfg.shared_data / "apogee" / f"astronn_{_ANDERSON}")
    for cand in candidates:
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{_ANDERSON} not found (looked in {[str(c) for c in candidates]}); pass path=")


def anderson_2017_parallax(cuts: bool | float = True, path: str | os.PathLike[str] | None = None
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Anderson et al. (2017) improved TGAS parallaxes of APOGEE DR14 stars: ``ra, dec, parallax, parallax_err``
    (deg, deg, mas, mas). ``cuts`` keeps relative errors below 0.2 (or the given fraction) as astroNN
    (which also drops non-positive parallaxes here)."""
    file = _anderson_path(path)
    arrays = read_npz(file, keys=("ra", "dec", "parallax", "parallax_err"))
    ra, dec, plx, err = (np.asarray(a, dtype=np.float64) for a in arrays.values())
    if cuts is not False:
        keep = _cut(plx, err, cuts)
        ra, dec, plx, err = ra[keep], dec[keep], plx[keep], err[keep]
    return ra, dec, plx, err


def gaia_default_dr(dr: int | None = None) -> int:
    """The Gaia data release to use: ``dr`` or astroNN's default, 2."""
    if dr is None:
        return 2
    if isinstance(dr, bool) or not isinstance(dr, (int, np.integer)) or dr < 1:
        raise InputValidationError(f"Gaia data release must be a positive integer, got {dr!r}")
    return int(dr)


__all__ = ["anderson_2017_parallax", "gaia_default_dr", "gaia_env", "gaia_source", "gaia_source_filenames", "tgas",
           "tgas_filenames", "tgas_load"]
