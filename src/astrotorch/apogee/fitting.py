"""Maximum-likelihood fits of an emulator to observed spectra, many stars at once (The Payne's approach).

:func:`fit_spectrum` minimises ``χ² = Σ_p w_p (f_p − model_p(θ))²`` with ``w_p = 1/σ_p²`` over the
unflagged pixels, for every star of a batch at once, by Levenberg–Marquardt in the emulator's scaled
label space (each label mapped onto [0, 1] across its valid range, and kept inside it). Several starting
points are run for a few iterations and the best one per star is carried to convergence (the χ² surface
of a per-pixel network can have more than one minimum, e.g. a dwarf and a giant solution).

The covariance is the inverse of the Gauss–Newton Hessian ``(Jᵀ W J)⁻¹`` of χ²/2 at the optimum (the
Fisher matrix of the fitted labels, so σ matches the Cramér–Rao bound there); χ², the number of pixels
used and convergence flags come with it. It is not rescaled by the reduced χ²: a reduced χ² far above 1
says the emulator does not describe the spectrum (or the errors are underestimated).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from astrotorch.errors import InputValidationError, ShapeMismatchError

#: starting points in scaled label units (0 = lower end of the range, 1 = upper end) for Teff and log g;
#: every other label starts at the middle of its range
_STARTS_TEFF_LOGG = ((0.5, 0.5), (0.3, 0.3), (0.3, 0.8), (0.7, 0.3), (0.7, 0.8))
#: a label within this fraction of its range from a limit is flagged ``at_edge``
_EDGE = 1e-3


@dataclasses.dataclass
class SpectrumFit:
    """Result of :func:`fit_spectrum` (arrays over stars; labels in physical units).

    Attributes: ``labels`` (N, K); ``sigma`` (N, K) = sqrt(diag cov); ``cov`` (N, K, K); ``chi2`` (N,);
    ``n_pixels`` (N,) pixels used; ``converged`` (N,) bool; ``at_edge`` (N, K) bool (a label at a limit
    of the emulator's range: the optimum may lie outside it); ``n_iter`` (N,); ``label_names``,
    ``label_units``.
    """

    labels: np.ndarray
    sigma: np.ndarray
    cov: np.ndarray
    chi2: np.ndarray
    n_pixels: np.ndarray
    converged: np.ndarray
    at_edge: np.ndarray
    n_iter: np.ndarray
    label_names: list[str]
    label_units: list[str]

    @property
    def reduced_chi2(self) -> np.ndarray:
        """χ² per degree of freedom (pixels used − labels)."""
        dof = self.n_pixels - len(self.label_names)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(dof > 0, self.chi2 / dof, np.nan)

    def to_frame(self) -> Any:
        """A pandas DataFrame: each label and ``<label>_err``, then chi2, reduced_chi2, n_pixels, converged."""
        import pandas as pd

        cols: dict[str, Any] = {}
        for j, name in enumerate(self.label_names):
            cols[name] = self.labels[:, j]
            cols[f"{name}_err"] = self.sigma[:, j]
        cols.update(chi2=self.chi2, reduced_chi2=self.reduced_chi2, n_pixels=self.n_pixels, converged=self.converged,
                    at_edge=self.at_edge.any(axis=1))
        return pd.DataFrame(cols)


def _on_grid(a: Any, n_pix: int, name: str, dtype: Any) -> np.ndarray:
    """(N, n_pix) array; spectra on the 7,514-pixel DR ≥ 13 grid are cut to the DR12 pixels."""
    from astrotorch.apogee.chips import chips_pix_info, dr12_pixels

    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if np.asarray(a).dtype.kind in "USO":
        raise InputValidationError(f"{name} must be numbers, got an array of {np.asarray(a).dtype}")
    arr = np.atleast_2d(np.asarray(a, dtype=dtype))
    if arr.ndim != 2:
        raise ShapeMismatchError(f"{name} must be (pixels,) or (stars, pixels), got shape {np.shape(a)}")
    dr13 = chips_pix_info(17)[6]
    if arr.shape[1] == dr13 and n_pix == chips_pix_info(12)[6]:
        arr = arr[:, dr12_pixels(17)]
    if arr.shape[1] != n_pix:
        raise ShapeMismatchError(
            f"{name} has {arr.shape[1]} pixels; the emulator predicts {n_pix} pixels (the DR12 grid), and spectra on "
            f"the {dr13}-pixel DR >= 13 grid are accepted too")
    return arr


def _weights(flux: np.ndarray, err: np.ndarray, mask: np.ndarray | None, em_mask: np.ndarray | None) -> np.ndarray:
    use = np.isfinite(flux) & np.isfinite(err) & (err > 0)
    if mask is not None:
        use &= ~mask
    if em_mask is not None:
        use &= ~em_mask[None, :]
    with np.errstate(divide="ignore"):
        return np.where(use, 1.0 / np.where(use, err, 1.0) ** 2, 0.0)


class _Problem:
    """χ², gradient and Gauss–Newton Hessian of a batch of (star, start) rows in scaled label units."""

    #: rows evaluated together: (64, 7214) float32 blocks stay in the CPU cache across the ~100 passes
    CHUNK = 64

    def __init__(self, emulator: Any, flux: torch.Tensor, w: torch.Tensor) -> None:
        self.emu = emulator
        self.flux = flux
        self.w = w
        self.lo = torch.as_tensor(emulator.x_min, dtype=torch.float64, device=flux.device)
        self.range = torch.as_tensor(emulator.x_max - emulator.x_min, dtype=torch.float64, device=flux.device)

    def evaluate(self, u: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """χ², ``Jᵀ W r`` and ``Jᵀ W J`` (float64) at scaled labels ``u`` (rows, K) for data rows ``rows``."""
        n, k = u.shape
        chi2 = torch.empty(n, dtype=torch.float64, device=u.device)
        grad = torch.empty(n, k, dtype=torch.float64, device=u.device)
        hess = torch.empty(n, k, k, dtype=torch.float64, device=u.device)
        for a in range(0, n, self.CHUNK):
            sl = slice(a, min(a + self.CHUNK, n))
            model, jac = self.emu.flux_and_jacobian(self.lo + u[sl] * self.range, scaled=True, label_major=True)
            w = self.w[rows[sl]]
            r = self.flux[rows[sl]] - model
            wr = w * r
            chi2[sl] = (wr * r).sum(dim=1, dtype=torch.float64)
            grad[sl] = (jac * wr).sum(dim=2, dtype=torch.float64).T
            jw = jac * w
            for i in range(k):
                for j in range(i, k):
                    hess[sl, i, j] = hess[sl, j, i] = (jw[i] * jac[j]).sum(dim=1, dtype=torch.float64)
        return chi2, grad, hess


def _lm(prob: _Problem, u: torch.Tensor, rows: torch.Tensor, n_iter: int, chi2_tol: float
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Levenberg–Marquardt on every row at once; returns (u, χ², Hessian, converged, iterations)."""
    n, k = u.shape
    chi2, grad, hess = prob.evaluate(u, rows)
    lam = torch.full((n,), 1e-3, dtype=torch.float64, device=u.device)
    converged = torch.zeros(n, dtype=torch.bool, device=u.device)
    iters = torch.zeros(n, dtype=torch.int64, device=u.device)
    eye = torch.eye(k, dtype=torch.float64, device=u.device)
    for _ in range(n_iter):
        act = ~converged
        if not act.any():
            break
        ia = torch.nonzero(act).squeeze(1)
        h, g = hess[ia], grad[ia]
        damped = h + lam[ia, None, None] * (torch.diagonal(h, dim1=1, dim2=2).unsqueeze(-1) * eye + 1e-12 * eye)
        step = torch.linalg.solve(damped, g.unsqueeze(-1)).squeeze(-1)
        trial = (u[ia] + step).clamp(0.0, 1.0)
        c2, g2, h2 = prob.evaluate(trial, rows[ia])
        better = c2 < chi2[ia]
        moved = (trial - u[ia]).abs().amax(dim=1)
        done = (better & ((chi2[ia] - c2) < chi2_tol)) | (~better & (moved < 1e-7)) | (lam[ia] > 1e10)
        acc = ia[better]
        u[acc], chi2[acc], grad[acc], hess[acc] = trial[better], c2[better], g2[better], h2[better]
        lam[ia] = torch.where(better, (lam[ia] / 5.0).clamp_min(1e-9), lam[ia] * 10.0)
        iters[ia] += 1
        converged[ia[done]] = True
    return u, chi2, hess, converged, iters


def _renormalise(emulator: Any, labels: np.ndarray, flux: np.ndarray, err: np.ndarray, w: np.ndarray,
                 deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Divide each chip of each spectrum by a weighted Chebyshev fit of degree ``deg`` to data/model.

    A spectrum normalised with another continuum recipe than the emulator's training spectra differs
    from the model by a smooth factor per chip; this puts it back on the emulator's continuum.
    """
    from astrotorch.apogee.chips import chip_slices
    from astrotorch.apogee.continuum import _fit_segment

    ok = np.all(np.isfinite(labels), axis=1)
    model = np.ones_like(flux)
    model[ok] = emulator.flux(labels[ok], check=False)
    out_f, out_e = flux.copy(), err.copy()
    for seg in chip_slices(12):
        n_pix = seg.stop - seg.start
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(w[:, seg] > 0, flux[:, seg] / model[:, seg], 0.0)
            ivar = w[:, seg] * model[:, seg] ** 2  # the ratio's inverse variance
        curve = _fit_segment(ratio, ivar, np.arange(n_pix), n_pix, deg)
        good = np.all(np.isfinite(curve) & (curve > 0), axis=1) & ok
        out_f[good, seg] = flux[good, seg] / curve[good]
        out_e[good, seg] = err[good, seg] / curve[good]
    return out_f, out_e


def fit_spectrum(
    emulator: Any,
    flux: Any,
    flux_err: Any,
    mask: Any = None,
    init: Any = None,
    max_iter: int = 100,
    warmup_iter: int = 8,
    chi2_tol: float = 1e-3,
    batch_size: int = 128,
    use_emulator_mask: bool = True,
    renormalize: int = 0,
    continuum_deg: int = 2,
    progress: bool | None = None,
) -> SpectrumFit:
    """Fit the emulator's labels to each spectrum by maximum likelihood (see the module docs).

    Parameters
    ----------
    emulator
        A :class:`~astrotorch.apogee.emulators.SpectralEmulator` (or any module with ``x_min``,
        ``x_max``, ``label_names`` and ``flux_and_jacobian``); its device and dtype are used.
    flux, flux_err
        ``(P,)`` or ``(N, P)`` continuum-normalised flux and 1-σ errors on the emulator's 7,214-pixel
        DR12 grid, or on the 7,514-pixel DR ≥ 13 grid (the DR12 pixels are taken).
    mask
        Optional bool, same shape: True = flagged pixel, left out (as are non-finite values, errors
        ≤ 0 and, with ``use_emulator_mask``, ``emulator.pixel_mask``).
    init
        Optional ``(N, K)`` or ``(K,)`` starting labels; default: five starts across Teff–log g, the
        best after ``warmup_iter`` iterations carried on.
    max_iter, chi2_tol
        Iteration limit; a star has converged when an accepted step lowers χ² by less than ``chi2_tol``.
    batch_size
        Stars fitted together (memory ∝ batch_size × starts × pixels × labels).
    renormalize, continuum_deg
        Real spectra normalised with another continuum recipe than the emulator's training set: after
        the fit, divide each chip by a degree-``continuum_deg`` Chebyshev fit of data/model and refit,
        ``renormalize`` times (The Payne fits its continuum with the labels; this alternates). 0 (the
        default, right for emulated spectra) fits the flux as given. σ does not include the continuum's
        uncertainty.
    progress
        tqdm bar over batches; default on for more than 2,000 stars.
    """
    for name, v in (("renormalize", renormalize), ("continuum_deg", continuum_deg)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise InputValidationError(f"{name} must be a non-negative integer, got {v!r}")
    res = _fit(emulator, flux, flux_err, mask, init, max_iter, warmup_iter, chi2_tol, batch_size, use_emulator_mask,
               progress)
    if renormalize:
        n_pix = int(emulator.n_pixels)
        f = _on_grid(flux, n_pix, "flux", np.float64)
        e = np.broadcast_to(_on_grid(flux_err, n_pix, "flux_err", np.float64), f.shape)
        m = None if mask is None else np.broadcast_to(_on_grid(mask, n_pix, "mask", bool), f.shape)
        em_mask = getattr(emulator, "pixel_mask", None) if use_emulator_mask else None
        w = _weights(f, e, m, None if em_mask is None else np.asarray(em_mask, bool))
        for _ in range(int(renormalize)):
            f, e = _renormalise(emulator, res.labels, f, e, w, int(continuum_deg))
            start = np.where(np.isfinite(res.labels), res.labels, 0.5 * (emulator.x_min + emulator.x_max))
            res = _fit(emulator, f, e, m, start, max_iter, 0, chi2_tol, batch_size, use_emulator_mask, progress)
    return res


def _fit(emulator: Any, flux: Any, flux_err: Any, mask: Any, init: Any, max_iter: int, warmup_iter: int,
         chi2_tol: float, batch_size: int, use_emulator_mask: bool, progress: bool | None) -> SpectrumFit:
    k = len(emulator.label_names)
    n_pix = int(emulator.n_pixels)
    f = _on_grid(flux, n_pix, "flux", np.float64)
    e = _on_grid(flux_err, n_pix, "flux_err", np.float64)
    if e.shape[0] == 1 and f.shape[0] > 1:
        e = np.broadcast_to(e, f.shape)
    if e.shape != f.shape:
        raise ShapeMismatchError(f"flux {f.shape} and flux_err {e.shape} must have the same shape")
    m = None
    if mask is not None:
        m = _on_grid(mask, n_pix, "mask", bool)
        if m.shape[0] == 1 and f.shape[0] > 1:
            m = np.broadcast_to(m, f.shape)
        if m.shape != f.shape:
            raise ShapeMismatchError(f"mask {m.shape} must match flux {f.shape}")
    for name, v in (("max_iter", max_iter), ("warmup_iter", warmup_iter), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "warmup_iter" else 1):
            raise InputValidationError(f"{name} must be a positive integer, got {v!r}")
    if not (np.isfinite(chi2_tol) and chi2_tol > 0):
        raise InputValidationError(f"chi2_tol must be positive, got {chi2_tol!r}")
    em_mask = getattr(emulator, "pixel_mask", None) if use_emulator_mask else None
    w_all = _weights(f, e, m, None if em_mask is None else np.asarray(em_mask, bool))
    n = f.shape[0]
    lo, rng_ = np.asarray(emulator.x_min, np.float64), np.asarray(emulator.x_max - emulator.x_min, np.float64)
    if init is not None:
        init_arr = emulator.check_labels(init, name="init") if hasattr(emulator, "check_labels") else np.atleast_2d(init)
        if init_arr.shape[0] == 1 and n > 1:
            init_arr = np.broadcast_to(init_arr, (n, k))
        if init_arr.shape != (n, k):
            raise ShapeMismatchError(f"init must be ({k},) or ({n}, {k}), got {np.shape(init)}")
        starts = [(init_arr - lo) / rng_]
    else:
        base = np.full(k, 0.5)
        starts = []
        for t, g in _STARTS_TEFF_LOGG:
            s = base.copy()
            s[0], s[1] = t, g
            starts.append(np.broadcast_to(s, (n, k)))
    buf = next(iter(emulator.buffers()))
    device, dtype = buf.device, (buf.dtype if buf.dtype in (torch.float32, torch.float64) else torch.float32)
    out = {"u": np.empty((n, k)), "chi2": np.empty(n), "hess": np.empty((n, k, k)), "conv": np.empty(n, bool),
           "iters": np.empty(n, np.int64)}
    batches = range(0, n, batch_size)
    if progress if progress is not None else n > 2000:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="fit_spectrum", unit="batch")
    for start in batches:
        sl = slice(start, min(start + batch_size, n))
        nb = sl.stop - sl.start
        prob = _Problem(emulator, torch.as_tensor(f[sl], dtype=dtype, device=device),
                        torch.as_tensor(w_all[sl], dtype=dtype, device=device))
        rows = torch.arange(nb, device=device)
        if len(starts) > 1 and warmup_iter > 0:
            s_rows = rows.repeat(len(starts))
            u0 = torch.as_tensor(np.concatenate([s[sl] for s in starts]), dtype=torch.float64, device=device)
            u_w, c_w, _, _, _ = _lm(prob, u0, s_rows, warmup_iter, chi2_tol)
            best = c_w.view(len(starts), nb).argmin(dim=0)
            u0 = u_w.view(len(starts), nb, k)[best, rows].clone()
        else:
            u0 = torch.as_tensor(starts[0][sl], dtype=torch.float64, device=device).clone()
        u, chi2, hess, conv, iters = _lm(prob, u0, rows, max_iter, chi2_tol)
        out["u"][sl], out["chi2"][sl], out["hess"][sl] = u.cpu().numpy(), chi2.cpu().numpy(), hess.cpu().numpy()
        out["conv"][sl], out["iters"][sl] = conv.cpu().numpy(), iters.cpu().numpy()
    n_used = (w_all > 0).sum(axis=1)
    cov = np.full((n, k, k), np.nan)
    for i in range(n):
        try:
            cov[i] = np.linalg.inv(out["hess"][i]) * np.outer(rng_, rng_)
        except np.linalg.LinAlgError:
            out["conv"][i] = False
    labels = lo + out["u"] * rng_
    too_few = n_used <= k
    labels[too_few] = np.nan
    out["conv"][too_few] = False
    sigma = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    at_edge = (out["u"] < _EDGE) | (out["u"] > 1.0 - _EDGE)
    units = list(getattr(emulator, "label_units", [""] * k))
    return SpectrumFit(labels=labels, sigma=sigma, cov=cov, chi2=out["chi2"], n_pixels=n_used, converged=out["conv"],
                       at_edge=at_edge, n_iter=out["iters"], label_names=list(emulator.label_names), label_units=units)


__all__ = ["SpectrumFit", "fit_spectrum"]
