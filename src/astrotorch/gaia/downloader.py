"""Gaia DR2 parallaxes of APOGEE DR14 stars and Gaia DR2 parallax zero-point corrections.

astroNN ships ``gaiadr2_apogeedr14_parallax.npz`` (Gaia DR2 astrometry for the 277,371 rows of the
APOGEE DR14 allStar file; -9999 where missing). astrotorch does not ship data: pass ``path`` or keep
the file in ``$GAIA_TOOLS_DATA`` (or the shared data folder, as ``apogee/astronn_gaiadr2_apogeedr14_parallax.npz``).

Gaia DR2 parallaxes are too small by a few tens of µas. The corrections below are *added* to the
catalogue parallax (astroNN's sign convention for ``gaiadr2_parallax(offset=...)``):

* ``"lindegren2018"``: +0.029 mas, the global quasar zero point of Lindegren et al. (2018, A&A 616, A2);
* ``"leungbovy2019_global"``: +0.052 mas, the global offset of Leung & Bovy (2019, MNRAS 489, 2079);
* ``"zinn2019_global"``: +0.0528 mas, the global asteroseismic offset of Zinn et al. (2019, ApJ 878, 136);
* ``"zinn2019"`` (astroNN's ``offset=True``): ``0.0528 - 0.0421 (G - 12.2)`` mas, Zinn et al.'s
  G-magnitude-dependent offset;
* ``"leungbovy2019"``: the parallax-dependent offset ``0.056 - 0.00574 plx - 0.0096 plx²`` mas of
  Leung & Bovy (2019), applied to parallaxes below 2 mas;
* a float: a global offset in mas (or a Quantity).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy import units as u

from astrotorch.config import get_config, magic_number
from astrotorch.errors import InputValidationError
from astrotorch.io import read_npz

#: Global Gaia DR2 zero-point corrections (mas, added to the parallax).
GAIADR2_GLOBAL_OFFSETS_MAS: dict[str, float] = {
    "lindegren2018": 0.029,
    "leungbovy2019_global": 0.052,
    "zinn2019_global": 0.0528,
}

_FILENAME = "gaiadr2_apogeedr14_parallax.npz"

OffsetLike = bool | float | str | u.Quantity


def parallax_zero_point(
    parallax: np.ndarray, offset: OffsetLike, gmag: np.ndarray | None = None
) -> np.ndarray:
    """Gaia DR2 parallax corrected for a zero-point ``offset`` (see module doc); mas in, mas out.

    Missing parallaxes (magic number/NaN) are left untouched. ``gmag`` (Gaia G, mag) is needed for
    ``"zinn2019"``/``True``.
    """
    plx = np.array(parallax, dtype=np.float64)
    good = (plx != magic_number()) & np.isfinite(plx)
    if offset is False or offset is None:
        return plx
    if isinstance(offset, u.Quantity):
        offset = float(offset.to_value(u.mas))
    if offset is True or offset == "zinn2019":
        if gmag is None:
            raise InputValidationError("the Zinn et al. (2019) zero point needs the Gaia G magnitude (gmag)")
        g = np.asarray(gmag, dtype=np.float64)
        if g.shape != plx.shape:
            raise InputValidationError(f"gmag shape {g.shape} differs from parallax shape {plx.shape}")
        good &= (g != magic_number()) & np.isfinite(g)
        plx[good] += 0.0528 - 0.0421 * (g[good] - 12.2)
    elif offset == "leungbovy2019":
        sel = good & (plx < 2.0)
        x = plx[sel]
        plx[sel] += 0.056 - 0.00574 * x - 0.0096 * x**2
    elif isinstance(offset, str):
        try:
            plx[good] += GAIADR2_GLOBAL_OFFSETS_MAS[offset]
        except KeyError:
            known = sorted([*GAIADR2_GLOBAL_OFFSETS_MAS, "zinn2019", "leungbovy2019"])
            raise InputValidationError(f"unknown zero-point option {offset!r}; known: {known}") from None
    elif isinstance(offset, (int, float, np.floating)):
        plx[good] += float(offset)
    else:
        raise InputValidationError(f"offset must be bool, float, Quantity or a name, got {type(offset).__name__}")
    return plx


def _default_path() -> Path:
    cfg = get_config()
    candidates = []
    if cfg.gaia_tools_data is not None:
        candidates += [cfg.gaia_tools_data / _FILENAME, cfg.gaia_tools_data / f"astronn_{_FILENAME}"]
    if cfg.shared_data is not None:
        candidates.append(cfg.shared_data / "apogee" / f"astronn_{_FILENAME}")
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"{_FILENAME} not found (looked in {', '.join(map(str, candidates)) or 'nowhere'}); "
        "pass path= or set $GAIA_TOOLS_DATA"
    )


def gaiadr2_parallax(
    cuts: bool | float = True,
    keepdims: bool = False,
    offset: OffsetLike = False,
    path: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load Gaia DR2 astrometry matched to APOGEE DR14 (RA, Dec in deg at J2015.5; parallax, error in mas).

    Arguments in astroNN's order (``gaiadr2_parallax(cuts, keepdims, offset)``), then ``path``.

    :param path: the ``.npz`` file; default ``$GAIA_TOOLS_DATA`` or the shared data folder
    :param cuts: drop (or, with ``keepdims``, set to the magic number) stars with non-positive parallax
        or fractional error above 0.2 (``True``) or above the given float
    :param keepdims: keep every row so indices match the allStar file
    :param offset: zero-point correction (see :func:`parallax_zero_point`)
    :return: ``ra, dec, parallax, parallax_error``
    """
    if isinstance(cuts, (str, os.PathLike)):
        raise InputValidationError("gaiadr2_parallax's first argument is cuts (astroNN's order): pass the file as path=")
    path = Path(path) if path is not None else _default_path()
    arrays = read_npz(path, keys=("RA", "DEC", "parallax", "parallax_error", "g"))
    ra, dec, plx, plx_err, gmag = (np.asarray(a, dtype=np.float64) for a in arrays.values())
    # the zero point is applied before the quality cut, as the cut is on the corrected value's sign
    plx = parallax_zero_point(plx, offset, gmag)
    if cuts is not False:
        threshold = 0.2 if cuts is True else float(cuts)
        magic = magic_number()
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (plx > 0.0) & (plx_err / plx < threshold) & (plx != magic) & (plx_err != magic)
        if keepdims:
            plx = np.where(ok, plx, magic)
            plx_err = np.where(ok, plx_err, magic)
        else:
            ra, dec, plx, plx_err = ra[ok], dec[ok], plx[ok], plx_err[ok]
    return ra, dec, plx, plx_err


__all__ = ["GAIADR2_GLOBAL_OFFSETS_MAS", "parallax_zero_point", "gaiadr2_parallax"]
