"""Readers for APOGEE spectrum files: apStar (combined), aspcapStar (ASPCAP normalised) and apVisit.

All readers return an :class:`ApogeeSpectrum`: flux, 1-σ error and pixel bitmask in the file's own
units, the vacuum wavelength of every pixel in Å (ascending), and the header metadata a user needs
(APOGEE_ID, S/N, heliocentric velocity, number of visits ...). A file that is truncated, corrupt or
not in the expected layout raises :class:`astrotorch.errors.DataFormatError` naming the problem.

File layouts (SDSS DR13–DR17 data model):

apStar (``apStar-<red>-<APOGEE_ID>.fits``)
    HDU0 header only (OBJID, SNR, VHELIO, NVISITS, ...); HDU1 flux, HDU2 error, HDU3 bitmask
    (APOGEE_PIXMASK), HDU4/5 sky and error, HDU6/7 telluric and error; images of shape
    ``(nrow, 8575)`` on the log-linear grid ``log10 λ = CRVAL1 + CDELT1 · (i + 1 − CRPIX1)``.
    With NVISITS > 1, row 0 is the pixel-weighted combined spectrum, row 1 the globally weighted
    one, rows 2… the individual visits resampled to the apStar grid. With one visit the combined
    spectrum is the visit (row 0; DR17 files keep an empty second row).
aspcapStar (``aspcapStar-<red>-<APOGEE_ID>.fits``)
    HDU1 continuum-normalised flux, HDU2 its error, HDU3 the best-fitting ASPCAP synthetic
    spectrum, HDU4 a table of the ASPCAP results. DR16–17 files use the 8,575-pixel apStar grid
    (zeros in the gaps); DR13–14 files hold the 7,514-pixel gap-deleted grid.
apVisit (``apVisit-<red>-<plate>-<mjd>-<fiber>.fits``)
    HDU1 flux, HDU2 error, HDU3 bitmask, HDU4 wavelength (Å, vacuum), each ``(3, 4096)``: one
    row per chip in the detector order *red, green, blue*, each row in *descending* wavelength.
    :func:`read_apvisit` reverses both axes so the rows are blue, green, red and every row — and
    the flattened spectrum — runs in ascending wavelength.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.apogee.chips import APSTAR_NPIX, chips_pix_info, gap_deleted_wavelength
from astrotorch.errors import DataFormatError, InputValidationError

# header keywords copied into ApogeeSpectrum.meta when present
_META_KEYS = (
    "OBJID", "APOGEE_ID", "FIELD", "TELESCOP", "LOCID", "PLATE", "MJD5", "FIBERID", "RA", "DEC",
    "GLON", "GLAT", "J", "J_ERR", "H", "H_ERR", "K", "K_ERR", "SNR", "SNREV", "NVISITS", "STARFLAG",
    "ANDFLAG", "VHELIO", "VSCATTER", "VERR", "VRAD", "VRADERR", "RV_TEFF", "RV_LOGG", "RV_FEH",
    "RVTEFF", "RVLOGG", "RVFEH", "JD-MID", "DATE-OBS", "EXPTIME", "BC", "NWAVE", "CRVAL1", "CDELT1",
    "CRPIX1",
)


@dataclasses.dataclass
class ApogeeSpectrum:
    """One APOGEE spectrum (or a stack of visits) read from a FITS file.

    Attributes
    ----------
    flux, error
        Flux and 1-σ error (10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹ for apStar/apVisit; normalised for aspcapStar).
        apStar: ``(8575,)`` combined or ``(n_visits, 8575)``; aspcapStar: ``(8575,)`` or ``(7514,)``;
        apVisit: ``(3, 4096)`` chips blue→red.
    bitmask
        APOGEE_PIXMASK integers, same shape as ``flux`` (``None`` for aspcapStar, which has none).
    wavelength
        Vacuum wavelength of each pixel in Å, ascending; ``(8575,)``/``(7514,)`` or ``(3, 4096)``.
    apogee_id, snr, vhelio, nvisits
        From the header (``OBJID``/``APOGEE_ID``, ``SNR``, ``VHELIO`` km/s, ``NVISITS``); NaN / -1
        when the file lacks them.
    kind
        ``"apStar"``, ``"aspcapStar"`` or ``"apVisit"``.
    meta
        Other header values (see module docs).
    model
        aspcapStar only: the best-fitting ASPCAP synthetic spectrum.
    """

    flux: np.ndarray
    error: np.ndarray
    bitmask: np.ndarray | None
    wavelength: np.ndarray
    apogee_id: str
    snr: float
    vhelio: float
    nvisits: int
    kind: str
    path: Path
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    model: np.ndarray | None = None

    @property
    def npix(self) -> int:
        """Number of pixels per spectrum (last axis)."""
        return int(self.flux.shape[-1])


def _open_all(path: str | os.PathLike[str], kind: str) -> list[tuple[Any, np.ndarray | None]]:
    """Read every HDU's header and data eagerly (through :func:`astrotorch.io.open_fits`).

    Any FITS failure (corrupt, truncated, not FITS) becomes a DataFormatError naming the file and ``kind``.
    """
    from astrotorch.io import open_fits

    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{kind} file {p} does not exist")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_fits(p, memmap=False, lazy_load_hdus=False) as hdul:
                out = []
                for hdu in hdul:
                    data = hdu.data
                    # np.array copies: the data must outlive the closed file
                    out.append((hdu.header.copy(), None if data is None else np.array(data)))
    except DataFormatError as exc:
        raise DataFormatError(f"{p} is not a readable {kind} FITS file: {exc}") from exc
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError, IndexError ... on bad files
        raise DataFormatError(f"{p} is not a readable {kind} FITS file: {type(exc).__name__}: {exc}") from exc
    for w in caught:
        msg = str(w.message).lower()
        # astropy only warns (and pads with zeros) when the data section is cut short
        if "truncated" in msg or "unexpected end" in msg or "padding" in msg:
            raise DataFormatError(f"{p} is truncated: {w.message}")
    if not out:
        raise DataFormatError(f"{p} holds no HDU")
    return out


def _require(hdus: list[tuple[Any, np.ndarray | None]], idx: int, p: Path, kind: str, what: str) -> np.ndarray:
    if len(hdus) <= idx or hdus[idx][1] is None:
        raise DataFormatError(f"{p}: {kind} file has no {what} in HDU{idx} ({len(hdus)} HDUs found)")
    return hdus[idx][1]


def _meta(header: Any) -> dict[str, Any]:
    meta = {}
    for key in _META_KEYS:
        if key in header:
            val = header[key]
            meta[key] = val.strip() if isinstance(val, str) else val
    return meta


def _float(meta: dict[str, Any], *keys: str) -> float:
    for k in keys:
        if k in meta:
            try:
                v = float(meta[k])
            except (TypeError, ValueError):
                continue
            # SDSS headers use -9999.99 for "not measured"
            return float("nan") if v <= -9999 else v
    return float("nan")


def _loglinear_wavelength(header: Any, npix: int, p: Path) -> np.ndarray:
    try:
        crval, cdelt = float(header["CRVAL1"]), float(header["CDELT1"])
        crpix = float(header.get("CRPIX1", 1.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{p}: no log-linear wavelength solution (CRVAL1/CDELT1) in the header") from exc
    if not (np.isfinite(crval) and np.isfinite(cdelt) and cdelt > 0):
        raise DataFormatError(f"{p}: invalid wavelength solution CRVAL1={crval}, CDELT1={cdelt}")
    # FITS pixels are 1-based: pixel i (0-based) sits at 1-based position i + 1
    return 10.0 ** (crval + cdelt * (np.arange(npix, dtype=np.float64) + 1.0 - crpix))


def read_apstar(path: str | os.PathLike[str], combined: bool = True) -> ApogeeSpectrum:
    """Read an apStar file (combined spectrum on the 8,575-pixel apStar grid).

    Parameters
    ----------
    path
        ``apStar-*.fits``.
    combined
        True: the pixel-weighted combined spectrum, ``(8575,)`` arrays. False: the individual visits
        resampled onto the apStar grid, ``(n_visits, 8575)`` (with one visit: that visit).

    Raises
    ------
    DataFormatError
        Missing/corrupt/truncated file, missing HDUs, inconsistent shapes or wavelength solution.
    """
    p = Path(path)
    hdus = _open_all(p, "apStar")
    flux = _require(hdus, 1, p, "apStar", "flux")
    err = _require(hdus, 2, p, "apStar", "error")
    mask = _require(hdus, 3, p, "apStar", "bitmask")
    flux, err, mask = (np.atleast_2d(a) for a in (flux, err, mask))
    if not (flux.shape == err.shape == mask.shape) or flux.ndim != 2:
        raise DataFormatError(f"{p}: flux {flux.shape}, error {err.shape}, bitmask {mask.shape} do not match")
    if flux.shape[1] != APSTAR_NPIX:
        raise DataFormatError(f"{p}: apStar spectra must have {APSTAR_NPIX} pixels, found {flux.shape[1]}")
    header0 = hdus[0][0]
    meta = _meta(header0)
    nvisits = int(meta.get("NVISITS", flux.shape[0] - 2 if flux.shape[0] > 2 else 1))
    if nvisits < 1:
        raise DataFormatError(f"{p}: NVISITS = {nvisits}")
    # the wavelength keywords sit in HDU0 and in each image HDU; prefer the flux HDU's
    wl_header = hdus[1][0] if "CRVAL1" in hdus[1][0] else header0
    wavelength = _loglinear_wavelength(wl_header, APSTAR_NPIX, p)
    if combined:
        rows = slice(0, 1)
    elif nvisits == 1:
        rows = slice(0, 1)
    else:
        if flux.shape[0] < 2 + nvisits:
            raise DataFormatError(f"{p}: NVISITS = {nvisits} but only {flux.shape[0]} spectra rows")
        rows = slice(2, 2 + nvisits)
    f, e, m = flux[rows], err[rows], mask[rows]
    if combined:
        f, e, m = f[0], e[0], m[0]
    return ApogeeSpectrum(
        flux=f.astype(np.float64), error=e.astype(np.float64), bitmask=m.astype(np.int64),
        wavelength=wavelength, apogee_id=str(meta.get("OBJID", meta.get("APOGEE_ID", ""))),
        snr=_float(meta, "SNR"), vhelio=_float(meta, "VHELIO"), nvisits=nvisits, kind="apStar",
        path=p, meta=meta,
    )


def read_aspcapstar(path: str | os.PathLike[str]) -> ApogeeSpectrum:
    """Read an aspcapStar file: ASPCAP's continuum-normalised spectrum, its error and best-fit model.

    Returns arrays on the file's grid: 8,575 pixels (DR16–17, wavelength from CRVAL1/CDELT1) or
    7,514 / 7,214 pixels (DR13–14 / DR12 gap-deleted grids, wavelength from
    :func:`~astrotorch.apogee.chips.wavelength_solution`). ``bitmask`` is None (not in the file).
    """
    p = Path(path)
    hdus = _open_all(p, "aspcapStar")
    flux = np.asarray(_require(hdus, 1, p, "aspcapStar", "spectrum"), dtype=np.float64)
    err = np.asarray(_require(hdus, 2, p, "aspcapStar", "error"), dtype=np.float64)
    if flux.ndim != 1 or flux.shape != err.shape:
        raise DataFormatError(f"{p}: aspcapStar spectrum {flux.shape} and error {err.shape} must be equal 1-D")
    model = None
    if len(hdus) > 3 and hdus[3][1] is not None:
        model = np.asarray(hdus[3][1], dtype=np.float64)
        if model.shape != flux.shape:
            raise DataFormatError(f"{p}: best-fit model {model.shape} does not match spectrum {flux.shape}")
    npix = flux.shape[0]
    if npix == APSTAR_NPIX:
        wl_header = hdus[1][0] if "CRVAL1" in hdus[1][0] else hdus[0][0]
        wavelength = _loglinear_wavelength(wl_header, npix, p)
    elif npix == chips_pix_info(17)[6]:
        wavelength = gap_deleted_wavelength(17)
    elif npix == chips_pix_info(12)[6]:
        wavelength = gap_deleted_wavelength(12)
    else:
        raise DataFormatError(f"{p}: aspcapStar spectrum has {npix} pixels; expected 8575, 7514 or 7214")
    meta = _meta(hdus[0][0])
    apogee_id = str(meta.get("APOGEE_ID", meta.get("OBJID", "")))
    snr = _float(meta, "SNR")
    # DR16+ files keep the identifiers in the ASPCAP table (HDU4) rather than the primary header
    if len(hdus) > 4 and hdus[4][1] is not None and getattr(hdus[4][1].dtype, "names", None):
        table = hdus[4][1]
        names = {n.upper(): n for n in table.dtype.names}
        if not apogee_id and "APOGEE_ID" in names and len(table):
            v = table[names["APOGEE_ID"]][0]
            apogee_id = (v.decode() if isinstance(v, bytes) else str(v)).strip()
        if not np.isfinite(snr) and "SNR" in names and len(table):
            snr = float(table[names["SNR"]][0])
    return ApogeeSpectrum(
        flux=flux, error=err, bitmask=None, wavelength=wavelength, apogee_id=apogee_id, snr=snr,
        vhelio=_float(meta, "VHELIO"), nvisits=int(meta.get("NVISITS", -1)), kind="aspcapStar",
        path=p, meta=meta, model=model,
    )


def read_apvisit(path: str | os.PathLike[str]) -> ApogeeSpectrum:
    """Read an apVisit file (one visit, native detector sampling, 3 chips × 4,096 pixels).

    The file stores chips in the order red, green, blue with wavelength *decreasing* along each
    row; the returned arrays are reordered to blue, green, red with wavelength *increasing*, so
    ``spec.wavelength.ravel()`` is strictly ascending (Å, vacuum) and ``spec.flux.ravel()`` matches it.

    Raises
    ------
    DataFormatError
        Missing/corrupt/truncated file, missing HDUs, shapes other than ``(3, N)``, or a wavelength
        array that is not monotonic.
    """
    p = Path(path)
    hdus = _open_all(p, "apVisit")
    arrays = [
        np.asarray(_require(hdus, i, p, "apVisit", what))
        for i, what in ((1, "flux"), (2, "error"), (3, "bitmask"), (4, "wavelength"))
    ]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2 or arrays[0].shape[0] != 3:
        raise DataFormatError(f"{p}: apVisit HDU1-4 must all be (3, npix); got {[a.shape for a in arrays]}")
    flux, err, mask, wave = (a[::-1, ::-1] for a in arrays)
    flat = wave.ravel()
    if not np.all(np.isfinite(flat)) or not np.all(np.diff(flat) > 0):
        raise DataFormatError(f"{p}: apVisit wavelength array is not monotonic once put in ascending order")
    meta = _meta(hdus[0][0])
    return ApogeeSpectrum(
        flux=np.ascontiguousarray(flux, dtype=np.float64), error=np.ascontiguousarray(err, dtype=np.float64),
        bitmask=np.ascontiguousarray(mask, dtype=np.int64), wavelength=np.ascontiguousarray(wave, dtype=np.float64),
        apogee_id=str(meta.get("OBJID", meta.get("APOGEE_ID", ""))), snr=_float(meta, "SNR"),
        vhelio=_float(meta, "VHELIO"), nvisits=1, kind="apVisit", path=p, meta=meta,
    )


def _c_kms() -> float:
    """Speed of light in km/s (astropy.constants; imported on use, not with the module)."""
    from astropy import constants as const
    from astropy import units as u

    return float(const.c.to(u.km / u.s).value)


def resample_to_apstar(
    spec: ApogeeSpectrum, velocity: float | None = None, fill_error: float = np.inf
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shift an apVisit spectrum to the star's rest frame and interpolate it onto the apStar grid.

    apVisit wavelengths are observed (topocentric) vacuum wavelengths, whereas the apStar grid and
    the continuum / element masks are in the stellar rest frame. At the APOGEE sampling one pixel is
    ≈ 4.1 km/s, so a star moving at 80 km/s is 20 pixels off if not shifted.

    Parameters
    ----------
    spec
        Output of :func:`read_apvisit`.
    velocity
        Line-of-sight velocity (km/s) relative to the observer; ``None`` takes the header's ``VRAD``
        (``VHELIO − BC`` when VRAD is absent); 0 disables the shift.
    fill_error
        Error given to apStar pixels not covered by the chips.

    Returns ``(flux, error, bitmask)`` of shape ``(8575,)``; uncovered pixels get flux NaN, error
    ``fill_error`` and bitmask bit 0 (BADPIX). The error is interpolated too (no covariance
    bookkeeping), adequate for normalisation and quick looks, not for precise work.
    """
    from astrotorch.apogee.chips import apstar_wavelength

    if spec.kind != "apVisit":
        raise InputValidationError(f"resample_to_apstar needs an apVisit spectrum, got {spec.kind}")
    if velocity is None:
        velocity = _float(spec.meta, "VRAD")
        if not np.isfinite(velocity):
            velocity = spec.vhelio - _float(spec.meta, "BC")
        if not np.isfinite(velocity):
            raise InputValidationError(f"{spec.path}: no VRAD/VHELIO+BC in the header; pass velocity= explicitly")
    if not np.isfinite(velocity) or abs(velocity) > 0.1 * _c_kms():
        raise InputValidationError(f"velocity must be a finite value in km/s well below c, got {velocity!r}")
    grid = apstar_wavelength()
    c_kms = _c_kms()
    flux = np.full(APSTAR_NPIX, np.nan)
    err = np.full(APSTAR_NPIX, fill_error, dtype=np.float64)
    mask = np.ones(APSTAR_NPIX, dtype=np.int64)
    for chip in range(spec.flux.shape[0]):
        # non-relativistic Doppler shift to the rest frame: λ_rest = λ_obs / (1 + v/c)
        w = spec.wavelength[chip] / (1.0 + velocity / c_kms)
        inside = (grid >= w[0]) & (grid <= w[-1])
        flux[inside] = np.interp(grid[inside], w, spec.flux[chip])
        err[inside] = np.interp(grid[inside], w, spec.error[chip])
        # a pixel takes the bits of both neighbouring native pixels
        j = np.clip(np.searchsorted(w, grid[inside]), 1, w.size - 1)
        mask[inside] = spec.bitmask[chip][j] | spec.bitmask[chip][j - 1]
    return flux, err, mask


__all__ = ["ApogeeSpectrum", "read_apstar", "read_aspcapstar", "read_apvisit", "resample_to_apstar"]
