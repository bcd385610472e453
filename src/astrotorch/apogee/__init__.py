"""APOGEE tools: chips and wavelength grid, bitmasks, continuum normalisation, file readers, downloaders,
spectral emulators and the emulator fitter.

Names and semantics follow :mod:`astroNN.apogee` (``chips_pix_info``, ``wavelength_solution``,
``gap_delete``, ``chips_split``, ``bitmask_boolean``, ``bitmask_decompositor``, ``continuum``,
``apogee_continuum``, ``aspcap_mask``, ``allstar``, ``combined_spectra``, ``visit_spectra`` ...).
The torch-based parts (``load_emulator``, ``SpectralEmulator``, ``fit_spectrum``) are imported on first
use, so ``import astrotorch.apogee`` does not import torch.
"""

from __future__ import annotations

from astrotorch.apogee.bitmask import (
    APOGEE_PIXMASK_BITS,
    DEFAULT_TARGET_BITS,
    bitmask_boolean,
    bitmask_decompositor,
    bitmask_names,
)
from astrotorch.apogee.chips import (
    APSTAR_NPIX,
    ASPCAP_ELEMENTS,
    apogee_default_dr,
    apstar_wavelength,
    aspcap_mask,
    chips_pix_info,
    chips_split,
    dr12_pixels,
    embed_dr12,
    gap_delete,
    gap_deleted_wavelength,
    gap_insert,
    load_continuum_mask,
    wavelength_solution,
)
from astrotorch.apogee.continuum import apogee_continuum, continuum
from astrotorch.apogee.downloaders import (
    allstar,
    allstar_cannon,
    allvisit,
    apogee_astronn,
    apogee_distances,
    apogee_rc,
    apogee_vac,
    apvisit_spectra,
    combined_spectra,
    visit_spectra,
)
from astrotorch.apogee.readers import (
    ApogeeSpectrum,
    read_apstar,
    read_apvisit,
    read_aspcapstar,
    resample_to_apstar,
)

# torch-based parts, imported on first access (module __getattr__, PEP 562)
_LAZY = {
    "EMULATOR_FILES": "astrotorch.apogee.emulators",
    "SpectralEmulator": "astrotorch.apogee.emulators",
    "load_emulator": "astrotorch.apogee.emulators",
    "SpectrumFit": "astrotorch.apogee.fitting",
    "fit_spectrum": "astrotorch.apogee.fitting",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'astrotorch.apogee' has no attribute {name!r}")


__all__ = [
    "ApogeeSpectrum",
    "allstar",
    "allstar_cannon",
    "allvisit",
    "apogee_astronn",
    "apogee_distances",
    "apogee_rc",
    "apogee_vac",
    "apvisit_spectra",
    "combined_spectra",
    "read_apstar",
    "read_apvisit",
    "read_aspcapstar",
    "resample_to_apstar",
    "visit_spectra",
    "APOGEE_PIXMASK_BITS",
    "APSTAR_NPIX",
    "ASPCAP_ELEMENTS",
    "DEFAULT_TARGET_BITS",
    "apogee_continuum",
    "apogee_default_dr",
    "apstar_wavelength",
    "aspcap_mask",
    "bitmask_boolean",
    "bitmask_decompositor",
    "bitmask_names",
    "chips_pix_info",
    "chips_split",
    "continuum",
    "dr12_pixels",
    "embed_dr12",
    "gap_delete",
    "gap_deleted_wavelength",
    "gap_insert",
    "load_continuum_mask",
    "wavelength_solution",
    *_LAZY,
]

# astroNN's APOGEE catalogue loaders (astroNN.datasets.apogee); catalogs.py imports only on call
from astrotorch.apogee.catalogs import load_apogee_distances, load_apogee_rc, load_apokasc  # noqa: E402

#: astroNN's spelling of the astroNN VAC downloader
apogee_astroNN = apogee_astronn

__all__ += ["load_apogee_distances", "load_apogee_rc", "load_apokasc", "apogee_astroNN"]
