"""Pseudo-continuum normalisation of APOGEE spectra (astroNN's ``continuum`` / ``apogee_continuum``).

The continuum of each chip is a low-order Chebyshev polynomial in pixel index fitted by weighted
least squares to a fixed set of "continuum pixels" (astroNN's default masks), and the spectrum and
its error are divided by it.

Differences from astroNN, on purpose:

* the fit minimises the true χ² ``Σ ivar · (f − p)²``. astroNN passes the inverse variance as
  numpy's ``w`` argument, which multiplies the *residual*, i.e. it weights by ``ivar²``;
* pixels with a non-finite flux, a non-finite/zero/negative error, or a masked bit get zero weight
  in the fit (astroNN only drops NaN fluxes);
* all stars are fitted at once with batched normal equations (a (10,000 × 7,514) array takes about
  a second), instead of one ``Chebyshev.fit`` call per star and chip;
* masked pixels get a large error (``mask_err``) rather than astroNN's ``mask_value`` or 0 — an error
  of 0 would claim a perfect measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from astrotorch.apogee.bitmask import bitmask_boolean
from astrotorch.apogee.chips import (
    APSTAR_NPIX,
    apogee_default_dr,
    chip_slices,
    chips_pix_info,
    gap_delete,
    load_continuum_mask,
)
from astrotorch.errors import InputValidationError, ShapeMismatchError

#: Error given to masked / unusable pixels by :func:`apogee_continuum` (normalised flux units):
#: 100× the flux itself, so such a pixel carries ~1e-8 of the weight of an S/N = 100 pixel.
DEFAULT_MASK_ERR: float = 100.0


def _as_float(a: np.ndarray, name: str) -> np.ndarray:
    raw = np.asarray(a)
    # strings such as "1.0" would convert silently; anything that is not a number array is refused
    if raw.dtype.kind not in "biuf":
        raise InputValidationError(f"{name} must be an array of numbers, got dtype {raw.dtype}")
    return raw.astype(np.float64, copy=False)


def _check_pair(spectra: np.ndarray, spectra_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flux = _as_float(spectra, "spectra")
    err = _as_float(spectra_err, "spectra_err")
    if flux.ndim not in (1, 2):
        raise ShapeMismatchError(f"spectra must be 1-D or 2-D, got shape {flux.shape}")
    flux = np.atleast_2d(flux)
    err = np.atleast_2d(err)
    if flux.shape != err.shape:
        raise ShapeMismatchError(f"spectra {flux.shape} and spectra_err {err.shape} must have the same shape")
    if flux.shape[0] == 0 or flux.shape[1] == 0:
        raise InputValidationError(f"no spectrum to normalise: shape {flux.shape}")
    return flux, err


def _fit_segment(flux_c: np.ndarray, ivar_c: np.ndarray, cont_idx: np.ndarray, npix: int, deg: int) -> np.ndarray:
    """Weighted Chebyshev fit of every row over one segment; returns the continuum curve ``(N, npix)``.

    ``flux_c`` and ``ivar_c`` hold only the continuum pixels ``cont_idx`` of the segment (``ivar`` 0
    where a pixel must not count). Rows with fewer than ``deg + 1`` usable pixels get a NaN continuum.
    """
    n = flux_c.shape[0]
    # pixel index mapped onto [-1, 1] over the segment: numerically well conditioned Chebyshev basis
    x = np.linspace(-1.0, 1.0, npix) if npix > 1 else np.zeros(1)
    vander = np.polynomial.chebyshev.chebvander(x, deg)  # (npix, deg+1)
    vc = vander[cont_idx]                                 # (pc, deg+1)
    w = ivar_c
    f = np.where(w > 0, flux_c, 0.0)
    k = deg + 1
    # normal equations, all stars at once: A_n = Vᵀ diag(w_n) V, b_n = Vᵀ (w_n f_n)
    outer = (vc[:, :, None] * vc[:, None, :]).reshape(vc.shape[0], k * k)
    # scale each star's weights to sum 1 so the solve does not depend on the flux units
    wsum = w.sum(axis=1, keepdims=True)
    good = (np.count_nonzero(w > 0, axis=1) >= k) & (wsum[:, 0] > 0)
    w = w / np.where(wsum > 0, wsum, 1.0)
    a = (w @ outer).reshape(n, k, k)
    b = (w * f) @ vc
    curve = np.full((n, npix), np.nan)
    if good.any():
        idx = np.flatnonzero(good)
        try:
            coef = np.linalg.solve(a[idx], b[idx][..., None])[..., 0]
        except np.linalg.LinAlgError:
            # a singular system (e.g. all usable pixels at one position): fall back star by star
            coef = np.full((idx.size, k), np.nan)
            for j, i in enumerate(idx):
                coef[j] = np.linalg.lstsq(a[i], b[i], rcond=None)[0]
        curve[idx] = coef @ vander.T
    return curve


def continuum(
    spectra: np.ndarray,
    spectra_err: np.ndarray,
    cont_mask: np.ndarray,
    deg: int = 2,
    dr: int | None = None,
    pixel_mask: np.ndarray | None = None,
    return_continuum: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide spectra by an inverse-variance weighted Chebyshev fit to their continuum pixels.

    Parameters
    ----------
    spectra, spectra_err
        Flux and 1-σ error, ``(L,)`` or ``(N, L)``, any flux units.
    cont_mask
        Boolean ``(L,)``: the continuum pixels the polynomial is fitted to.
    deg
        Degree of the Chebyshev polynomial (per chip when ``dr`` is given).
    dr
        ``None``: fit one polynomial over the whole array (astroNN's ``continuum``, meant for one
        chip). An integer: the array is an APOGEE spectrum on the apStar (8,575) or gap-deleted
        grid of that data release; gaps are removed and each chip gets its own polynomial.
    pixel_mask
        Optional boolean ``(N, L)`` or ``(L,)``, True = bad pixel, excluded from the fit.
    return_continuum
        Also return the fitted continuum (same units as ``spectra``).

    Returns
    -------
    ``(norm_flux, norm_err)`` (plus the continuum), 2-D float64. Pixels where the fit failed
    (too few usable continuum pixels) or the continuum is ≤ 0 are NaN; non-finite input stays
    non-finite. Inputs are never modified.
    """
    if isinstance(deg, bool) or not isinstance(deg, (int, np.integer)) or deg < 0:
        raise InputValidationError(f"deg must be a non-negative integer, got {deg!r}")
    flux, err = _check_pair(spectra, spectra_err)
    cmask = np.asarray(cont_mask)
    if cmask.dtype != bool:
        raise InputValidationError(f"cont_mask must be a boolean array, got dtype {cmask.dtype}")
    bad = None
    if pixel_mask is not None:
        bad = np.asarray(pixel_mask, dtype=bool)
        bad = np.broadcast_to(np.atleast_2d(bad), flux.shape) if bad.shape[-1] == flux.shape[1] else bad
    if dr is not None:
        dr = apogee_default_dr(dr)
        flux, err = gap_delete(flux, dr), gap_delete(err, dr)
        cmask = gap_delete(cmask, dr)[0]
        if bad is not None:
            bad = gap_delete(bad, dr)
        segments = chip_slices(dr)
    else:
        segments = (slice(0, flux.shape[1]),)
    if cmask.shape != (flux.shape[1],):
        raise ShapeMismatchError(f"cont_mask has shape {cmask.shape}, spectra have {flux.shape[1]} pixels")
    for k, seg in enumerate(segments):
        n_cont = int(np.count_nonzero(cmask[seg]))
        if n_cont < int(deg) + 1:  # the fit would return NaN everywhere: refuse instead
            where = f" in chip {k} ({seg.start}:{seg.stop})" if dr is not None else ""
            raise InputValidationError(
                f"cont_mask selects {n_cont} continuum pixel(s){where}; a degree-{deg} fit needs at least {int(deg) + 1}")
    if bad is not None and bad.shape != flux.shape:
        raise ShapeMismatchError(f"pixel_mask has shape {bad.shape}, spectra have shape {flux.shape}")

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cont = np.empty_like(flux)
        for seg in segments:
            # only the continuum pixels enter the fit: work on those columns (≈7% of the pixels)
            cont_idx = np.flatnonzero(cmask[seg])
            cols = cont_idx + seg.start
            f_c, e_c = flux[:, cols], err[:, cols]
            usable = np.isfinite(f_c) & np.isfinite(e_c) & (e_c > 0)
            if bad is not None:
                usable &= ~bad[:, cols]
            ivar_c = np.where(usable, 1.0 / np.where(usable, e_c, 1.0) ** 2, 0.0)
            cont[:, seg] = _fit_segment(f_c, ivar_c, cont_idx, seg.stop - seg.start, int(deg))
        cont[~(cont > 0)] = np.nan  # a non-positive continuum cannot normalise anything
        norm_err = err / cont
        if return_continuum:
            return flux / cont, norm_err, cont
        # the continuum is not returned: divide into its buffer (one (N, L) array less in memory)
        norm = np.divide(flux, cont, out=cont)
    return norm, norm_err


def apogee_continuum(
    spectra: np.ndarray,
    spectra_err: np.ndarray,
    cont_mask: np.ndarray | str | Path | None = None,
    deg: int = 2,
    dr: int | None = 17,
    bitmask: np.ndarray | None = None,
    target_bit: int | Sequence[int] | None = None,
    drop_bitmask: int | Sequence[int] | None = None,
    mask_value: float = 1.0,
    mask_err: float = DEFAULT_MASK_ERR,
) -> tuple[np.ndarray, np.ndarray]:
    """Continuum-normalise APOGEE spectra chip by chip, masking bad pixels (astroNN's ``apogee_continuum``).

    Parameters
    ----------
    spectra, spectra_err
        ``(8575,)``/``(N, 8575)`` apStar-grid or gap-deleted (7,514 pixels for DR ≥ 13) flux and
        1-σ error. Gaps are deleted first.
    cont_mask
        Boolean continuum-pixel mask on the gap-deleted grid, or a path to a ``.npy`` one; ``None``
        loads astroNN's default mask for ``dr`` (``astronn_dr{dr}_contmask.npy``).
    deg
        Chebyshev degree per chip (2, astroNN's default).
    dr
        Data release (default 17).
    bitmask
        Optional APOGEE_PIXMASK array, same shape as ``spectra``; pixels with any ``target_bit``
        set are excluded from the fit and masked in the output.
    target_bit
        Bits to mask; ``None`` = astroNN's default ``(0, 1, 2, 3, 4, 5, 6, 7, 12)``.
    drop_bitmask
        Bits removed from ``target_bit`` (pixels flagged only with them are kept).
    mask_value
        Flux written into masked pixels (1.0: the continuum level).
    mask_err
        Error written into masked pixels (normalised units), large so they carry no weight.

    Returns
    -------
    ``(norm_spec, norm_spec_err)``, each ``(N, 7514)`` for DR ≥ 13 (float64). Masked pixels are those
    flagged by the bitmask, with a non-finite flux, a non-finite / zero / negative error, or where
    the continuum fit failed. Negative normalised fluxes are clipped to 0, as astroNN does.
    """
    dr = apogee_default_dr(dr)
    if not np.isfinite(mask_value) or not np.isfinite(mask_err) or mask_err <= 0:
        raise InputValidationError(
            f"mask_value must be finite and mask_err finite and > 0, got {mask_value!r}, {mask_err!r}"
        )
    flux, err = _check_pair(spectra, spectra_err)
    total = chips_pix_info(dr)[6]
    if flux.shape[1] not in (APSTAR_NPIX, total):
        raise ShapeMismatchError(
            f"spectra have {flux.shape[1]} pixels; expected {APSTAR_NPIX} (apStar) or {total} (gap-deleted DR{dr})"
        )
    flux, err = gap_delete(flux, dr), gap_delete(err, dr)
    if cont_mask is None or isinstance(cont_mask, (str, Path)):
        cmask = load_continuum_mask(dr, None if cont_mask is None else cont_mask)
    else:
        cmask = gap_delete(np.asarray(cont_mask), dr)[0]
    bad = None
    if bitmask is not None:
        bm = np.atleast_2d(np.asarray(bitmask))
        if bm.shape[0] != flux.shape[0] or bm.shape[1] not in (APSTAR_NPIX, total):
            raise ShapeMismatchError(f"bitmask has shape {np.shape(bitmask)}, spectra have shape {np.shape(spectra)}")
        bad = bitmask_boolean(gap_delete(bm, dr), target_bit=target_bit, drop_bit=drop_bitmask)
    norm, norm_err = continuum(flux, err, cmask, deg=deg, dr=dr, pixel_mask=bad)
    masked = ~(np.isfinite(norm) & np.isfinite(norm_err) & (norm_err > 0))
    if bad is not None:
        masked |= bad
    norm[masked] = mask_value
    norm_err[masked] = mask_err
    # a negative normalised flux is noise below zero; astroNN clips it to 0
    np.clip(norm, 0.0, None, out=norm)
    return norm, norm_err


__all__ = ["DEFAULT_MASK_ERR", "apogee_continuum", "continuum"]
