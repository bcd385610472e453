"""Dividing the training set's label distribution (the prior) out of a network's posterior summary.

Two ways, for the same model of the problem (a Gaussian likelihood in the label times the training
prior π): :func:`prior_gaussian_nll` trains a network to output the likelihood's centre and width
directly (the loss forms the posterior with π itself), and :func:`deconvolve_prior` recovers them
after the fact from a network trained with a plain Gaussian likelihood (posterior mean and σ).

A network trained with a Gaussian likelihood on labels drawn from a distribution π learns, for each
input, the mean μ and standard deviation σ of the posterior ``p(M | x) ∝ L(x | M) π(M)``. The
posterior mean is pulled towards where π has its mass: near the edges of the training range (and all
along a steep mass function) predicted against true has a slope below one, although the scatter is
the smallest possible. A mass function, a scaling relation or any population fit needs the opposite
trade: an estimate whose error does not depend on the true value.

:func:`deconvolve_prior` models the likelihood as Gaussian in the label, ``N(m̂; M, s²)``, and finds
the (m̂, s) whose posterior under π has the network's mean μ and standard deviation σ; m̂ is then an
unbiased estimate of M (its error is the likelihood's, of width s, whatever M is). Far from the edges
of a flat π this changes nothing (m̂ = μ, s = σ). π is a histogram of the training labels
(:func:`label_prior`), so it holds for any training distribution, flat or steep.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from astrotorch.errors import InputValidationError, ShapeMismatchError


def label_prior(labels: Any, bin_width: float | None = None, min_per_bin: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the finite training labels: ``(edges, density)`` (density integrates to 1).

    ``bin_width`` (label units) defaults to the width that puts about ``min_per_bin`` labels in a bin
    of a flat distribution (between 8 and 64 bins over the range).
    """
    y = np.asarray(labels, dtype=np.float64).ravel()
    y = y[np.isfinite(y)]
    if y.size < 2 or np.ptp(y) <= 0:
        raise InputValidationError("label_prior needs at least two distinct finite labels")
    if bin_width is None:
        n_bins = int(np.clip(y.size // max(int(min_per_bin), 1), 8, 64))
    else:
        if not bin_width > 0:
            raise InputValidationError(f"bin_width must be > 0, got {bin_width}")
        n_bins = max(int(np.ceil(np.ptp(y) / bin_width)), 1)
    density, edges = np.histogram(y, bins=n_bins, density=True)
    return edges, density


def _posterior_moments(centre: np.ndarray, width: np.ndarray, edges: np.ndarray, density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of N(M; centre, width²)·π(M) for each row, π piecewise constant
    (``density`` on ``edges``): Gaussian moments over each bin in closed form, summed."""
    from scipy.special import ndtr

    c, s = centre[:, None], width[:, None]
    a, b = (edges[None, :-1] - c) / s, (edges[None, 1:] - c) / s
    # Φ(b) − Φ(a) from the tail that keeps its digits
    z = np.where(a > 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    pa, pb = np.exp(-0.5 * a**2), np.exp(-0.5 * b**2)  # φ·√(2π); the constant cancels below
    k = 1.0 / np.sqrt(2.0 * np.pi)
    t1 = k * (pa - pb)  # ∫ t φ(t) dt over the bin
    t2 = z + k * (a * pa - b * pb)  # ∫ t² φ(t) dt over the bin
    d = density[None]
    w0 = (d * z).sum(1)
    ok = w0 > 1e-300
    w0 = np.where(ok, w0, 1.0)
    e1 = (d * t1).sum(1) / w0  # E[t] with M = c + s t
    e2 = (d * t2).sum(1) / w0
    mean = centre + width * e1
    var = width**2 * np.maximum(e2 - e1**2, 0.0)
    # a likelihood entirely outside the prior's support: the nearest edge, no spread
    mean = np.where(ok, mean, np.clip(centre, edges[0], edges[-1]))
    return mean, np.sqrt(np.where(ok, var, 0.0))


def deconvolve_prior(mean: Any, sigma: Any, edges: Any, density: Any, match_sigma: bool = True,
                     chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood-centred estimates ``(m̂, s)`` from posterior means and standard deviations.

    ``mean``, ``sigma``: the network's posterior summary (N,) in label units; ``edges``, ``density``:
    the training-label histogram (:func:`label_prior`). With ``match_sigma`` both moments are matched
    (s is the likelihood width whose truncated posterior has standard deviation σ; s ≥ σ), otherwise
    s = σ and only the mean is matched (bounded Newton steps, bisection as a fallback); m̂ may lie outside the training range, as a maximum-likelihood estimate
    near an edge does.
    """
    mu = np.asarray(mean, dtype=np.float64).ravel()
    sig = np.asarray(sigma, dtype=np.float64).ravel()
    if mu.shape != sig.shape:
        raise ShapeMismatchError(f"{mu.size} means but {sig.size} standard deviations")
    if not (np.isfinite(sig).all() and (sig > 0).all()):
        raise InputValidationError("sigma must be finite and > 0")
    e = np.asarray(edges, dtype=np.float64).ravel()
    dens = np.asarray(density, dtype=np.float64).ravel()
    if e.size != dens.size + 1 or np.any(np.diff(e) <= 0) or np.any(dens < 0) or not dens.sum() > 0:
        raise InputValidationError("edges must increase and hold one more value than the non-negative density")
    out_m, out_s = np.empty_like(mu), np.empty_like(sig)
    for start in range(0, mu.size, chunk):
        sl = slice(start, start + chunk)
        out_m[sl], out_s[sl] = _invert(mu[sl], sig[sl], e, dens, match_sigma)
    return out_m, out_s


def _invert(mu: np.ndarray, sig: np.ndarray, edges: np.ndarray, density: np.ndarray, match_sigma: bool,
            iters: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps on m̂ (d E[M] / d m̂ = Var[M] / s² for a Gaussian likelihood) and multiplicative
    steps on s (the posterior spread grows with s), each bounded; then bisection on m̂ for the rows
    whose mean is still off (a flat stretch of the prior can stall Newton)."""
    m, s = mu.copy(), sig.copy()
    s_max = 4.0 * sig  # an edge squeezing the posterior to a quarter of the likelihood width: as far as it goes
    for _ in range(iters):
        m1, sd = _posterior_moments(m, s, edges, density)
        step = (mu - m1) * s**2 / np.maximum(sd**2, 1e-4 * s**2)
        m = m + np.clip(step, -2.0 * s, 2.0 * s)
        if match_sigma:
            s = np.clip(s * (sig / np.maximum(sd, 1e-6 * sig)) ** 0.7, sig, s_max)
    m1, _ = _posterior_moments(m, s, edges, density)
    bad = np.abs(m1 - mu) > 1e-6 * np.maximum(sig, 1.0)
    if bad.any():
        m[bad] = _bisect_mean(mu[bad], s[bad], edges, density)
    return m, s


def _bisect_mean(mu: np.ndarray, s: np.ndarray, edges: np.ndarray, density: np.ndarray, iters: int = 50) -> np.ndarray:
    lo = np.minimum(mu, edges[0]) - 6 * s
    hi = np.maximum(mu, edges[-1]) + 6 * s
    for _ in range(iters):
        c = 0.5 * (lo + hi)
        m1, _ = _posterior_moments(c, s, edges, density)
        up = m1 < mu
        lo, hi = np.where(up, c, lo), np.where(up, hi, c)
    return 0.5 * (lo + hi)


def _log_diff_ndtr(a: Any, b: Any) -> Any:
    """log(Φ(b) − Φ(a)) for a < b (torch), from the tail where both are small: Φ(b) − Φ(a) = Φ(−a) − Φ(−b)."""
    import torch

    flip = a > 0
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    # log(1 − exp(x)) with x = log Φ(lo) − log Φ(hi) < 0; clamped below 0 so a zero-width bin gives a
    # very negative number, not −inf with an infinite gradient
    return log_hi + torch.log(-torch.expm1((log_lo - log_hi).clamp_max(-1e-12)))


def prior_gaussian_nll(y_true: Any, mean: Any, log_variance: Any, edges: Any, density: Any,
                       sample_weight: Any | None = None) -> Any:
    """Negative log-likelihood of labels under the posterior a Gaussian likelihood and the prior π form:
    ``p(y) = N(y; mean, e^{log_variance}) π(y) / Z`` with ``Z = Σ_bins π_i [Φ(β_i) − Φ(α_i)]``.

    The network's ``mean`` and ``log_variance`` are then the likelihood's centre and log width, free to
    lie beyond the ends of the training range (where a plain Gaussian NLL teaches the posterior mean,
    pulled inwards). ``edges``/``density``: the training-label histogram (:func:`label_prior`) in the
    units of ``y_true``. Per entry: :func:`astrotorch.nn.losses.gaussian_nll` plus ``log Z`` (the
    ``−log π(y)`` term is constant and left out); missing labels (NaN, magic number) are skipped and
    ``sample_weight`` weights entries as in that loss.
    """
    import torch

    from astrotorch.nn.losses import gaussian_nll, missing_mask

    base = gaussian_nll(y_true, mean, log_variance, sample_weight=sample_weight)
    mean = torch.as_tensor(mean)
    lv = torch.as_tensor(log_variance, dtype=mean.dtype, device=mean.device)
    e = torch.as_tensor(np.asarray(edges, np.float64), dtype=mean.dtype, device=mean.device)
    dens = np.asarray(density, np.float64)
    keep = dens > 0
    log_d = torch.as_tensor(np.log(dens[keep]), dtype=mean.dtype, device=mean.device)
    lo_e, hi_e = e[:-1][torch.as_tensor(keep)], e[1:][torch.as_tensor(keep)]
    mask = missing_mask(torch.as_tensor(y_true)).to(mean.device)
    sd = torch.exp(0.5 * lv)
    m0 = torch.where(mask, mean, torch.zeros_like(mean))
    s0 = torch.where(mask, sd, torch.ones_like(sd))
    a = (lo_e - m0[..., None]) / s0[..., None]
    b = (hi_e - m0[..., None]) / s0[..., None]
    log_z = torch.logsumexp(log_d + _log_diff_ndtr(a, b), dim=-1)
    log_z = torch.where(mask, log_z, torch.zeros_like(log_z))
    if sample_weight is not None:
        w = torch.as_tensor(sample_weight, dtype=log_z.dtype, device=log_z.device)
        w = w.reshape(w.shape + (1,) * (log_z.ndim - w.ndim)) if w.ndim < log_z.ndim else w
        log_z = log_z * torch.where(mask, w, torch.zeros_like(log_z))
    return base + log_z.sum() / mask.sum().clamp_min(1).to(log_z.dtype)


__all__ = ["label_prior", "deconvolve_prior", "prior_gaussian_nll"]
