"""The Cramér–Rao lower bound of labels measured from spectra, through a differentiable emulator.

For a star with labels θ and a spectrum ``f(θ) + noise`` (independent Gaussian pixels of standard
deviation σ_p), the Fisher information is ``F = Jᵀ diag(1/σ²) J`` with ``J = ∂f/∂θ`` (pixels × labels),
summed over the unflagged pixels. No unbiased estimator using only that spectrum can have a variance of
label k below ``(F⁻¹)_kk`` — the *marginal* bound, with every other label unknown too (the emulator's
nuisance labels such as v_macro included). With a Gaussian label prior of covariance Σ₀ the bound of a
Bayesian estimator becomes ``((F + Σ₀⁻¹)⁻¹)_kk`` (the per-star van Trees form): what a model that has
learnt the label distribution can at best reach.

``J`` comes from autograd (``torch.func.jvp``, one forward-mode pass of the batch per label) on any ``nn.Module``
mapping ``(N, K)`` labels to ``(N, P)`` flux, e.g. :class:`astrotorch.apogee.emulators.SpectralEmulator`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from astrotorch.errors import InputValidationError, ShapeMismatchError


@dataclasses.dataclass
class CRLBResult:
    """Per-star Fisher matrices and marginal bounds, in label units.

    Attributes: ``fisher`` (N, K, K); ``bound`` (N, K) = sqrt(diag F⁻¹) (inf where the Fisher matrix is
    singular); ``bound_prior`` (N, K) = sqrt(diag (F + Σ₀⁻¹)⁻¹) or None without a prior;
    ``label_names`` (K); ``n_pixels`` (N,) pixels that counted.
    """

    fisher: np.ndarray
    bound: np.ndarray
    bound_prior: np.ndarray | None
    label_names: list[str]
    n_pixels: np.ndarray

    def rms(self, with_prior: bool = False) -> dict[str, float]:
        """Root mean square of the per-star bound, per label (comparable with an RMSE)."""
        b = self._pick(with_prior)
        return {n: float(np.sqrt(np.mean(b[:, j] ** 2))) for j, n in enumerate(self.label_names)}

    def median(self, with_prior: bool = False) -> dict[str, float]:
        """Median of the per-star bound, per label."""
        b = self._pick(with_prior)
        return {n: float(np.median(b[:, j])) for j, n in enumerate(self.label_names)}

    def _pick(self, with_prior: bool) -> np.ndarray:
        if with_prior and self.bound_prior is None:
            raise InputValidationError("this bound was computed without a prior; pass prior= to crlb")
        return self.bound_prior if with_prior else self.bound


def _as_labels(labels: Any, n_labels: int | None) -> np.ndarray:
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels
    try:
        arr = np.atleast_2d(np.asarray(arr, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"labels must be numbers, got {type(labels).__name__}") from exc
    if arr.ndim != 2 or arr.shape[0] == 0 or (n_labels is not None and arr.shape[1] != n_labels):
        raise ShapeMismatchError(f"labels must have shape (N, {n_labels or 'K'}), got {np.shape(labels)}")
    if not np.all(np.isfinite(arr)):
        raise InputValidationError("labels contain NaN or inf")
    return arr


def _per_star(a: Any, n: int, n_pix: int, name: str, dtype: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr[None, :], (n, arr.shape[0]))
    if arr.shape != (n, n_pix):
        raise ShapeMismatchError(f"{name} must have shape ({n_pix},) or ({n}, {n_pix}) on the emulator's grid, got {np.shape(a)}")
    return arr


def _prior_precision(prior: Any, k: int) -> np.ndarray:
    cov = np.asarray(prior, dtype=np.float64)
    if cov.shape == (k,):
        if np.any(~np.isfinite(cov)) or np.any(cov <= 0):
            raise InputValidationError("a prior given as standard deviations must be positive and finite")
        return np.diag(1.0 / cov ** 2)
    if cov.shape != (k, k):
        raise ShapeMismatchError(f"prior must be a ({k},) vector of σ or a ({k}, {k}) covariance, got {cov.shape}")
    if not np.allclose(cov, cov.T) or np.any(np.linalg.eigvalsh(cov) <= 0):
        raise InputValidationError("the prior covariance must be symmetric positive definite")
    return np.linalg.inv(cov)


def _marginal(fisher: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """sqrt(diag F⁻¹) per star; a label with a component along a direction F does not constrain gets inf.

    With a singular F (a label, or a combination of labels, that leaves the spectrum unchanged) the
    bound of every label orthogonal to the unconstrained directions is still finite: the pseudo-inverse
    gives it (the limit of an ever weaker prior on those directions).
    """
    out = np.full(fisher.shape[:2], np.inf)
    for i, f in enumerate(fisher):
        if not np.all(np.isfinite(f)):
            continue
        vals, vecs = np.linalg.eigh(0.5 * (f + f.T))
        top = max(float(vals.max()), 0.0)
        null = vals <= rtol * top if top > 0 else np.ones_like(vals, bool)
        free = np.sum(vecs[:, null] ** 2, axis=1) > 1e-10  # labels with a part in the null space
        inv = (vecs[:, ~null] / vals[~null]) @ vecs[:, ~null].T
        out[i] = np.where(free, np.inf, np.sqrt(np.clip(np.diag(inv), 0.0, None)))
    return out


def jacobian(emulator: torch.nn.Module, labels: torch.Tensor) -> torch.Tensor:
    """``∂flux/∂labels`` (N, P, K) by forward-mode autograd, in physical label units.

    Stars are independent, so one ``torch.func.jvp`` of the whole batch per label (tangent = that label
    of every star) gives column k of every star's Jacobian: K batched passes instead of N·K.
    """
    from torch.func import jvp

    cols = []
    with torch.enable_grad():
        for k in range(labels.shape[1]):
            tangent = torch.zeros_like(labels)
            tangent[:, k] = 1.0
            cols.append(jvp(emulator, (labels,), (tangent,))[1])
    return torch.stack(cols, dim=-1)


def crlb(
    emulator: torch.nn.Module,
    labels: Any,
    flux_err: Any = None,
    snr: float | Sequence[float] | None = None,
    prior: Any = None,
    mask: Any = None,
    use_emulator_mask: bool = True,
    label_names: Sequence[str] | None = None,
    batch_size: int = 64,
    method: str = "auto",
) -> CRLBResult:
    """Per-star Fisher matrix and marginal Cramér–Rao bounds of ``labels`` (see the module docs).

    Parameters
    ----------
    emulator
        Differentiable ``nn.Module``: ``(N, K)`` labels in physical units → ``(N, P)`` flux.
    labels
        ``(N, K)`` or ``(K,)`` true labels at which the bound is evaluated.
    flux_err
        ``(P,)`` or ``(N, P)`` 1-σ flux errors on the emulator's grid; non-finite or ≤ 0 errors mark
        pixels that do not count. For the exact bound of an emulated data set pass its noise-free
        ``flux_err`` (on the emulator's pixels).
    snr
        Instead of ``flux_err``: the S/N at the continuum (scalar or per star) with photon noise
        ``σ = sqrt(max(f, 0.02)) / snr``.
    prior
        Optional Gaussian label prior: a ``(K,)`` vector of standard deviations or a ``(K, K)`` covariance.
    mask
        Optional bool ``(P,)`` or ``(N, P)``: True = flagged pixel, left out.
    use_emulator_mask
        Also leave out ``emulator.pixel_mask`` (pixels the emulator does not model well) when it has one.
    label_names
        Default: ``emulator.label_names`` or ``label_0 …``.
    method
        How ``J`` is computed: ``"autograd"`` (``torch.func.jvp``, any module), ``"analytic"`` (the
        emulator's ``flux_and_jacobian``, ~10× faster; tested equal to autograd), ``"auto"`` (analytic
        when the emulator has it). Both run in float64 on a copy of the emulator.
    """
    if (flux_err is None) == (snr is None):
        raise InputValidationError("give exactly one of flux_err and snr")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
    k_emu = len(getattr(emulator, "label_names", [])) or None
    lab = _as_labels(labels, k_emu)
    n, k = lab.shape
    names = list(label_names or getattr(emulator, "label_names", None) or [f"label_{j}" for j in range(k)])
    if len(names) != k:
        raise ShapeMismatchError(f"{len(names)} label names for {k} labels")
    param = next(iter(emulator.buffers()), None)
    if param is None:
        param = next(iter(emulator.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = torch.float64  # the bound needs precise derivatives (a bfloat16 emulator is evaluated exactly too)
    fisher = np.empty((n, k, k))
    n_used = np.empty(n, dtype=np.int64)
    snr_arr = None
    if snr is not None:
        try:
            snr_arr = np.broadcast_to(np.asarray(snr, dtype=np.float64), (n,))
        except ValueError as exc:
            raise ShapeMismatchError(f"snr must be a scalar or one value per star ({n}), got shape {np.shape(snr)}") from exc
        if np.any(~np.isfinite(snr_arr)) or np.any(snr_arr <= 0):
            raise InputValidationError(f"snr must be positive and finite, got {snr!r}")
    if method not in ("auto", "autograd", "analytic"):
        raise InputValidationError(f"method must be 'auto', 'autograd' or 'analytic', got {method!r}")
    has_analytic = callable(getattr(emulator, "flux_and_jacobian", None))
    if method == "analytic" and not has_analytic:
        raise InputValidationError(f"{type(emulator).__name__} has no flux_and_jacobian; use method='autograd'")
    analytic = has_analytic and method != "autograd"
    em_mask = getattr(emulator, "pixel_mask", None) if use_emulator_mask else None
    # a float64 copy (the caller's module is left as it is): a few MB for the published emulators
    work = copy.deepcopy(emulator).to(dtype) if param is not None and param.dtype != dtype else emulator
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        lt = torch.as_tensor(lab[sl], dtype=dtype, device=device)
        if analytic:
            with torch.no_grad():
                f_t, j_t = work.flux_and_jacobian(lt)
        else:
            j_t = jacobian(work, lt)
            with torch.no_grad():
                f_t = work(lt)
        jac = j_t.detach().to(torch.float64).cpu().numpy()  # (b, P, K)
        n_pix = jac.shape[1]
        if snr_arr is not None:
            f = f_t.to(torch.float64).cpu().numpy()
            err = np.sqrt(np.clip(f, 0.02, None)) / snr_arr[sl, None]
        else:
            err = _per_star(flux_err, n, n_pix, "flux_err", np.float64)[sl]
        use = np.isfinite(err) & (err > 0)
        if mask is not None:
            use &= ~_per_star(mask, n, n_pix, "mask", bool)[sl]
        if em_mask is not None:
            use &= ~np.asarray(em_mask, bool)[None, :]
        w = np.where(use, 1.0 / np.where(use, err, 1.0) ** 2, 0.0)
        fisher[sl] = np.einsum("npk,np,npl->nkl", jac, w, jac)
        n_used[sl] = use.sum(axis=1)
    bound = _marginal(fisher)
    bound_prior = None
    if prior is not None:
        bound_prior = _marginal(fisher + _prior_precision(prior, k)[None])
    return CRLBResult(fisher=fisher, bound=bound, bound_prior=bound_prior, label_names=names, n_pixels=n_used)


__all__ = ["CRLBResult", "crlb", "jacobian"]
