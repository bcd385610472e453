"""Gaia tools (astroNN's ``astroNN.gaia``): magnitude/parallax/fakemag conversions, DR2 parallaxes and zero
points, TGAS / gaia_source DR1 files and the Anderson et al. (2017) parallaxes.

Cross-matching lives in :mod:`astrotorch.datasets.xmatch` (as astroNN's ``astroNN.datasets.xmatch``)
and is re-exported here for convenience.
"""

from astrotorch.gaia.downloader import GAIADR2_GLOBAL_OFFSETS_MAS, gaiadr2_parallax, parallax_zero_point
from astrotorch.gaia.gaia_shared import (
    absmag_to_fakemag,
    absmag_to_logsol,
    absmag_to_pc,
    default_parallax_unit,
    extinction_correction,
    fakemag_to_absmag,
    fakemag_to_logsol,
    fakemag_to_mag,
    fakemag_to_parallax,
    fakemag_to_pc,
    logsol_to_absmag,
    logsol_to_fakemag,
    mag_to_absmag,
    mag_to_fakemag,
    solar_absmag_bands,
)
from astrotorch.gaia.tgas import (
    anderson_2017_parallax,
    gaia_default_dr,
    gaia_env,
    gaia_source,
    tgas,
    tgas_load,
)


def __getattr__(name: str):  # lazy: datasets may import heavier modules
    if name == "xmatch":
        from astrotorch.datasets.xmatch import xmatch

        return xmatch
    raise AttributeError(name)


__all__ = [
    "anderson_2017_parallax",
    "gaia_default_dr",
    "gaia_env",
    "gaia_source",
    "tgas",
    "tgas_load",
    "GAIADR2_GLOBAL_OFFSETS_MAS",
    "gaiadr2_parallax",
    "parallax_zero_point",
    "absmag_to_fakemag",
    "absmag_to_logsol",
    "absmag_to_pc",
    "default_parallax_unit",
    "extinction_correction",
    "fakemag_to_absmag",
    "fakemag_to_logsol",
    "fakemag_to_mag",
    "fakemag_to_parallax",
    "fakemag_to_pc",
    "logsol_to_absmag",
    "logsol_to_fakemag",
    "mag_to_absmag",
    "mag_to_fakemag",
    "solar_absmag_bands",
    "xmatch",
]
