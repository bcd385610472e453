"""LAMOST tools (astroNN's ``astroNN.lamost``): DR5 wavelength grid, pseudo-continuum, catalogue loader."""

from astrotorch.lamost.catalog import lamost_env, load_allstar_dr5, load_lamost_catalog
from astrotorch.lamost.chips import (
    LAMOST_DR5_DLOGLAM,
    LAMOST_DR5_LOGLAM0,
    LAMOST_DR5_NPIX,
    lamost_default_dr,
    pseudo_continuum,
    smooth_spec,
    wavelength_solution,
)

__all__ = [
    "LAMOST_DR5_DLOGLAM",
    "LAMOST_DR5_LOGLAM0",
    "LAMOST_DR5_NPIX",
    "lamost_default_dr",
    "lamost_env",
    "load_allstar_dr5",
    "load_lamost_catalog",
    "pseudo_continuum",
    "smooth_spec",
    "wavelength_solution",
]
