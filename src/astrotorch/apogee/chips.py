"""APOGEE detector geometry: chip boundaries, the apStar wavelength grid, gap removal, chip splitting.

APOGEE records each spectrum on three detectors ("chips": blue, green, red). Combined apStar
spectra are resampled onto a common log-linear grid of 8,575 pixels,
``log10(λ / Å) = 4.179 + 6e-6 · i`` (vacuum wavelengths, ``i = 0 … 8574``), which includes the
two gaps between the chips where no light falls. Most machine-learning work (astroNN, ASPCAP)
uses the gap-free grid: 7,514 pixels for DR13–DR17 and 7,214 pixels for DR11–DR12, whose chip
boundaries differ because the reduction pipeline trimmed the chip edges differently.

Public names and semantics follow :mod:`astroNN.apogee`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrotorch.errors import InputValidationError, ShapeMismatchError

#: Number of pixels of the apStar grid (with the chip gaps).
APSTAR_NPIX: int = 8575
#: log10 of the wavelength (Å, vacuum) of apStar pixel 0, and the log10 step per pixel.
APSTAR_LOGLAM0: float = 4.179
APSTAR_DLOGLAM: float = 6.0e-6
#: Default data release used when ``dr=None`` (astroNN's default is the latest, DR17).
DEFAULT_DR: int = 17
SUPPORTED_DRS: tuple[int, ...] = (11, 12, 13, 14, 15, 16, 17)

# (blue_start, blue_end, green_start, green_end, red_start, red_end) in apStar pixels, end exclusive
_CHIPS_DR11_12 = (322, 3242, 3648, 6048, 6412, 8306)
_CHIPS_DR13_17 = (246, 3274, 3585, 6080, 6344, 8335)

#: ASPCAP element windows in the bit order of ``astronn_aspcap_l31c_masks.npy`` (bit i = element i).
ASPCAP_ELEMENTS: tuple[str, ...] = (
    "C", "CI", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "Ti", "TiII",
    "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Ge", "Ce", "Rb", "Y", "Nd",
)
# astroNN-style aliases used for target names (C1 = neutral carbon, Ti2 = ionised titanium)
_ELEM_ALIASES = {"c1": "ci", "ti2": "tiii"}


def apogee_default_dr(dr: int | None = None) -> int:
    """Return ``dr`` validated, or the default data release (17) when ``dr`` is None."""
    if dr is None:
        return DEFAULT_DR
    if isinstance(dr, bool) or not isinstance(dr, (int, np.integer)):
        raise InputValidationError(f"dr must be an integer data release number, got {dr!r}")
    dr = int(dr)
    if dr not in SUPPORTED_DRS:
        raise InputValidationError(f"APOGEE data release DR{dr} is not supported; supported: {SUPPORTED_DRS}")
    return dr


def chips_pix_info(dr: int | None = None) -> list[int]:
    """Chip boundaries in the 8,575-pixel apStar grid.

    Returns ``[blue_start, blue_end, green_start, green_end, red_start, red_end, total_pixel]``:
    start/end pixel indices (end exclusive, so ``spectrum[blue_start:blue_end]`` is the blue chip)
    and the number of pixels once the gaps are removed (7,514 for DR13–17, 7,214 for DR11–12).
    """
    dr = apogee_default_dr(dr)
    bounds = _CHIPS_DR11_12 if dr <= 12 else _CHIPS_DR13_17
    total = (bounds[1] - bounds[0]) + (bounds[3] - bounds[2]) + (bounds[5] - bounds[4])
    return [*bounds, total]


def apstar_wavelength() -> np.ndarray:
    """Vacuum wavelength (Å) of every pixel of the full 8,575-pixel apStar grid, gaps included."""
    # computed from the index, not np.arange on floats, so the length is exactly 8,575
    return 10.0 ** (APSTAR_LOGLAM0 + APSTAR_DLOGLAM * np.arange(APSTAR_NPIX, dtype=np.float64))


def wavelength_solution(dr: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vacuum wavelengths (Å) of the pixels of the blue, green and red chips.

    The three arrays concatenated give the wavelength of each pixel of the gap-deleted grid
    (7,514 pixels for DR ≥ 13), in ascending order: blue ≈ 15,100–15,800 Å, green ≈ 15,860–16,430 Å,
    red ≈ 16,470–16,950 Å.
    """
    info = chips_pix_info(dr)
    grid = apstar_wavelength()
    return grid[info[0]:info[1]], grid[info[2]:info[3]], grid[info[4]:info[5]]


def gap_deleted_wavelength(dr: int | None = None) -> np.ndarray:
    """Vacuum wavelength (Å) of each pixel of the gap-deleted grid (7,514 pixels for DR ≥ 13)."""
    return np.concatenate(wavelength_solution(dr))


def _gap_index(dr: int) -> np.ndarray:
    info = chips_pix_info(dr)
    return np.r_[info[0]:info[1], info[2]:info[3], info[4]:info[5]]


def gap_delete(spectra: np.ndarray, dr: int | None = None) -> np.ndarray:
    """Remove the pixels outside the three chips (the gaps and the unused edges).

    Parameters
    ----------
    spectra
        One spectrum ``(8575,)`` or many ``(N, 8575)`` on the apStar grid (flux, error or bitmask).
        Arrays already gap-deleted (``(…, 7514)`` for DR ≥ 13) are returned unchanged, as astroNN does.
    dr
        APOGEE data release (default 17); DR ≤ 12 and DR ≥ 13 use different chip boundaries.

    Returns
    -------
    ``(N, total_pixel)`` array (always 2-D, like astroNN), same dtype as the input.

    Raises
    ------
    ShapeMismatchError
        If the last axis is neither 8,575 nor the gap-deleted length.
    """
    dr = apogee_default_dr(dr)
    arr = np.asarray(spectra)
    if arr.ndim not in (1, 2):
        raise ShapeMismatchError(f"gap_delete expects a 1-D or 2-D array of spectra, got shape {arr.shape}")
    arr = np.atleast_2d(arr)
    total = chips_pix_info(dr)[6]
    if arr.shape[1] == total:
        return arr
    if arr.shape[1] != APSTAR_NPIX:
        raise ShapeMismatchError(
            f"spectra have {arr.shape[1]} pixels; expected {APSTAR_NPIX} (apStar grid) or {total} "
            f"(gap-deleted DR{dr} grid)"
        )
    return arr[:, _gap_index(dr)]


def gap_insert(spectra: np.ndarray, dr: int | None = None, fill_value: float = np.nan) -> np.ndarray:
    """Inverse of :func:`gap_delete`: put gap-deleted spectra back on the 8,575-pixel apStar grid.

    Pixels outside the chips get ``fill_value``. Returns an ``(N, 8575)`` array.
    """
    dr = apogee_default_dr(dr)
    arr = np.atleast_2d(np.asarray(spectra))
    total = chips_pix_info(dr)[6]
    if arr.ndim != 2 or arr.shape[1] != total:
        raise ShapeMismatchError(f"gap_insert expects (N, {total}) spectra for DR{dr}, got {np.shape(spectra)}")
    dtype = np.result_type(arr.dtype, np.asarray(fill_value).dtype)
    out = np.full((arr.shape[0], APSTAR_NPIX), fill_value, dtype=dtype)
    out[:, _gap_index(dr)] = arr
    return out


def dr12_pixels(dr: int | None = None) -> np.ndarray:
    """Indices, in the gap-deleted grid of ``dr``, of the 7,214 pixels of the DR11–12 gap-deleted grid.

    Both grids are cut from the same 8,575-pixel apStar grid and DR11–12 trimmed every chip edge more
    than DR ≥ 13 did, so the DR12 grid is a subset of the DR ≥ 13 one (7,514 pixels; the other 300 are
    chip edges DR12 does not have). For ``dr`` ≤ 12 this is ``arange(7214)``.
    """
    dr = apogee_default_dr(dr)
    pos = np.searchsorted(_gap_index(dr), _gap_index(12))
    return pos.astype(np.int64)


def embed_dr12(spectra: np.ndarray, dr: int | None = None, fill_value: float = np.nan) -> np.ndarray:
    """Put DR12 gap-deleted spectra ``(…, 7214)`` on the gap-deleted grid of ``dr`` (7,514 pixels for DR ≥ 13).

    The pixels DR12 lacks (chip edges) get ``fill_value``. Returns a 2-D ``(N, total_pixel)`` array.
    """
    arr = np.atleast_2d(np.asarray(spectra))
    n12 = chips_pix_info(12)[6]
    if arr.ndim != 2 or arr.shape[1] != n12:
        raise ShapeMismatchError(f"embed_dr12 expects spectra on the {n12}-pixel DR12 grid, got shape {np.shape(spectra)}")
    total = chips_pix_info(dr)[6]
    dtype = np.result_type(arr.dtype, np.asarray(fill_value).dtype)
    out = np.full((arr.shape[0], total), fill_value, dtype=dtype)
    out[:, dr12_pixels(dr)] = arr
    return out


def chips_split(spectra: np.ndarray, dr: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split spectra into their blue, green and red chips.

    Accepts apStar-grid (8,575) or gap-deleted spectra, 1-D or 2-D; gaps are removed first when
    present. Returns three 2-D arrays ``(N, n_blue)``, ``(N, n_green)``, ``(N, n_red)``
    (3028, 2495 and 1991 pixels for DR ≥ 13).
    """
    dr = apogee_default_dr(dr)
    arr = gap_delete(spectra, dr)
    info = chips_pix_info(dr)
    nb, ng = info[1] - info[0], info[3] - info[2]
    return arr[:, :nb], arr[:, nb:nb + ng], arr[:, nb + ng:]


def chip_slices(dr: int | None = None) -> tuple[slice, slice, slice]:
    """Slices of the blue, green and red chips in the gap-deleted grid."""
    info = chips_pix_info(dr)
    nb, ng = info[1] - info[0], info[3] - info[2]
    return slice(0, nb), slice(nb, nb + ng), slice(nb + ng, info[6])


def _resolve_astronn_file(name: str, path: str | Path | None) -> Path:
    """Locate one of astroNN's data files (continuum masks, ASPCAP windows).

    Looked for, in order: the explicit ``path``; ``<data_home>/apogee/<name>``; the shared real-data
    folder ``<shared_data>/apogee/astronn_<name>``. The package does not ship these files.
    """
    from astrotorch.config import get_config  # late import: config reads the environment per call
    from astrotorch.errors import ConfigError

    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"{name}: file {p} does not exist")
        return p
    cfg = get_config()
    candidates = [cfg.data_home / "apogee" / name, cfg.data_home / "apogee" / f"astronn_{name}"]
    if cfg.shared_data is not None:
        candidates += [cfg.shared_data / "apogee" / f"astronn_{name}", cfg.shared_data / "apogee" / name]
    for cand in candidates:
        if cand.is_file():
            return cand
    raise ConfigError(
        f"astroNN data file {name!r} not found (looked in {[str(c) for c in candidates]}); pass its path "
        f"explicitly, or place it in <data_home>/apogee/ (see astrotorch.apogee.downloaders.astronn_data_file)"
    )


def aspcap_mask(elem: str, dr: int | None = None, path: str | Path | None = None) -> np.ndarray:
    """Boolean mask (7,514 pixels, gap-deleted DR ≥ 13 grid) of the ASPCAP spectral windows of ``elem``.

    Parameters
    ----------
    elem
        Element name, case-insensitive: one of :data:`ASPCAP_ELEMENTS` (``C, CI, N, O, Na, Mg, Al,
        Si, P, S, K, Ca, Ti, TiII, V, Cr, Mn, Fe, Co, Ni, Cu, Ge, Ce, Rb, Y, Nd``); ``C1`` and
        ``Ti2`` are accepted for ``CI`` and ``TiII``.
    dr
        Data release; the windows are those of ASPCAP l31c (DR14), used by astroNN for DR14–DR17.
    path
        Explicit path of ``astronn_aspcap_l31c_masks.npy`` (int32 per pixel, bit i ↔ element i).

    Raises
    ------
    InputValidationError
        Unknown element, or a data release without element windows (DR < 14).
    """
    dr = apogee_default_dr(dr)
    if dr < 14:
        raise InputValidationError(f"ASPCAP element windows are available for DR14-DR17 only, not DR{dr}")
    if not isinstance(elem, str):
        raise InputValidationError(f"elem must be an element name string, got {elem!r}")
    key = _ELEM_ALIASES.get(elem.lower(), elem.lower())
    lower = [e.lower() for e in ASPCAP_ELEMENTS]
    if key not in lower:
        raise InputValidationError(f"unknown ASPCAP element {elem!r}; known: {list(ASPCAP_ELEMENTS)}")
    bit = lower.index(key)
    masks = _load_int_mask(_resolve_astronn_file("aspcap_l31c_masks.npy", path))
    return (masks & (1 << bit)) != 0


def _load_int_mask(path: Path) -> np.ndarray:
    from astrotorch.errors import DataFormatError

    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path} is not a readable .npy file: {exc}") from exc
    if arr.shape != (7514,) or not np.issubdtype(arr.dtype, np.integer):
        raise DataFormatError(f"{path}: expected 7514 integer bitmasks, got {arr.dtype} {arr.shape}")
    return arr


def load_continuum_mask(dr: int | None = None, path: str | Path | None = None) -> np.ndarray:
    """astroNN's default continuum pixel mask for ``dr`` (bool, gap-deleted grid), DR13/14/16/17.

    DR15 uses the DR14 mask (same reduction, r8). ``path`` overrides the lookup.
    """
    from astrotorch.errors import DataFormatError

    dr = apogee_default_dr(dr)
    file_dr = {13: 13, 14: 14, 15: 14, 16: 16, 17: 17}.get(dr)
    if file_dr is None and path is None:
        raise InputValidationError(f"no default continuum mask for DR{dr}; pass cont_mask explicitly")
    p = _resolve_astronn_file(f"dr{file_dr}_contmask.npy", path)
    try:
        mask = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{p} is not a readable .npy file: {exc}") from exc
    total = chips_pix_info(dr)[6]
    if mask.shape != (total,) or mask.dtype != bool:
        raise DataFormatError(f"{p}: expected a boolean mask of {total} pixels, got {mask.dtype} {mask.shape}")
    return mask


__all__ = [
    "APSTAR_NPIX",
    "ASPCAP_ELEMENTS",
    "DEFAULT_DR",
    "apogee_default_dr",
    "apstar_wavelength",
    "aspcap_mask",
    "chip_slices",
    "chips_pix_info",
    "chips_split",
    "dr12_pixels",
    "embed_dr12",
    "gap_delete",
    "gap_deleted_wavelength",
    "gap_insert",
    "load_continuum_mask",
    "wavelength_solution",
]
