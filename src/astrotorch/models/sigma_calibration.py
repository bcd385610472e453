"""The pieces of the validation σ calibration of Bayesian spectral models (see ``_CalibratedBayesian``).

* :func:`flagged_by_error` — pixels whose error marks them as flagged (no measurement to propagate);
* :func:`noise_level` — a spectrum's typical flux error (the median over pixels that carry one);
* :func:`degrade_snr` — a noisier copy of validation spectra (what the calibration learns S/N from);
* :func:`fit_sigma_scales` — maximum-likelihood factors of the σ components against residuals whose
  reference labels are themselves noisy;
* :func:`scale_precision` — how well such residuals can pin σ at all (the calibration's own bound).

The calibrated σ of a label (all per label, label units)::

    σ_total² = (a² (σ_model² + σ_predictive²) + b² σ_propagated² + c²) · (ν / ν_ref)^γ

ν is the spectrum's :func:`noise_level`, ν_ref that of the validation spectra as they are. The power γ
is there because a network trained at one S/N answers extra input noise more strongly than its σ
components say: noisier spectra leave the training distribution, and the error they cause grows
faster than the noise (on emulated APOGEE spectra the error went as ν^1.2–2.4 over S/N 100 → 33 while
σ_propagated went as ν^0.6–0.7, and the MC and predictive terms did not grow at all). With γ on the
propagated term alone, or on each term separately, std(z) of independent stars missed 0.9–1.1 at one
of S/N 100 and 50; with one power on the whole variance it did not (bench/spectra_calibration_dev.py).
At ν = ν_ref (the training S/N) the factor is 1.

Where the calibration stars pin it (:func:`fit_sigma_scales` with ``noise_form="auto"``), the power
changes at a break ν_b (the median noise level of the noisier copies) from γ to γ₂ — the factor is
``(ν_b/ν_ref)^γ (ν/ν_b)^γ₂`` beyond it — if that gains more likelihood than one parameter is worth
(the Bayesian information criterion). For an 80,000-star BCNN, its 8,000 validation stars' catalogue
labels (3–5× noisier than the network) never paid for it; 48,000 catalogue stars or 10,000 stars with
exact labels did, for Teff, log g and [Fe/H], and with exact labels the visits' (S/N 50) [Fe/H] coverage
of independent stars went 0.633 → 0.658 (docs/results/spectra.md, "Calibration stars that pin σ").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from astrotorch.errors import InputValidationError

#: bounds of the fitted power γ of the noise ratio. The upper one leaves room for what was measured: an
#: error growing as ν^2.4 is a variance growing as ν^4.8 (with 3 the [Fe/H] fit of an 80,000-star
#: BCNN sat at the bound and its σ at S/N 100 came out ~6 % too large on independent stars)
NOISE_POWER_BOUNDS = (0.0, 6.0)


def flagged_by_error(x_err: np.ndarray, masked_error_ratio: float = 10.0) -> np.ndarray:
    """Pixels whose error exceeds ``masked_error_ratio`` × the spectrum's median error (boolean, like ``x_err``).

    APOGEE-style pipelines (and :func:`astrotorch.datasets.spectra.synthetic_spectra`) inflate the
    error of bitmask-flagged pixels, by ×100 in the synthetic data; their flux is a mask value rather
    than a measurement. Non-finite errors count as flagged. ``x_err``: (N, L) or (L,) flux errors.
    """
    e = np.asarray(x_err, dtype=np.float32)
    if e.ndim == 0:
        raise InputValidationError("x_err must be an array of per-pixel errors, got a scalar")
    flat = e.reshape(e.shape[0], -1) if e.ndim > 1 else e.reshape(1, -1)
    finite = np.where(np.isfinite(flat), flat, np.nan)
    with warnings.catch_warnings():  # an all-NaN row: every pixel flagged, no RuntimeWarning
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(finite, axis=1, keepdims=True)
    flagged = ~np.isfinite(flat) | ~(flat <= float(masked_error_ratio) * med)
    return flagged.reshape(e.shape)


def noise_level(x_err: np.ndarray) -> np.ndarray:
    """Each spectrum's median flux error over the pixels with a positive, finite error (N,), NaN for none.

    ``x_err`` (N, ...) in flux units, as propagated (flagged pixels already set to 0).
    """
    e = np.asarray(x_err, dtype=np.float32)
    flat = e.reshape(e.shape[0], -1)
    with warnings.catch_warnings():  # a spectrum without errors: NaN, no RuntimeWarning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.where(np.isfinite(flat) & (flat > 0), flat, np.nan), axis=1).astype(np.float64)


def degrade_snr(x: np.ndarray, x_err: np.ndarray, factor: Sequence[float] = (1.5, 3.0), seed: int = 0,
                masked_error_ratio: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """A noisier copy of spectra: the S/N drops by a factor ``k`` per spectrum, drawn uniformly in ``factor``.

    Adds Gaussian noise of standard deviation ``x_err·sqrt(k² − 1)`` and returns ``(x', k·x_err)``.
    Pixels whose error exceeds ``masked_error_ratio`` × the spectrum's median error (masked pixels whose
    error was inflated; their flux holds a mask value) are left unchanged. Deterministic in ``seed``.
    """
    x = np.asarray(x, dtype=np.float32)
    e = np.asarray(x_err, dtype=np.float32)
    rng = np.random.default_rng([int(seed), 7514])
    k = rng.uniform(float(factor[0]), float(factor[1]), (x.shape[0],) + (1,) * (x.ndim - 1)).astype(np.float32)
    ok = np.isfinite(e) & ~flagged_by_error(e, masked_error_ratio)
    noise = rng.standard_normal(x.shape).astype(np.float32) * e * np.sqrt(k ** 2 - 1.0)
    return np.where(ok, x + noise, x), np.where(ok, e * k, e)


#: the forms of the noise factor :func:`fit_sigma_scales` knows: one power, a power that changes at a
#: break, or the better of the two by the Bayesian information criterion
NOISE_FORMS = ("power", "broken", "auto")


def noise_factor(noise_ratio: np.ndarray, power: np.ndarray | float, power_high: np.ndarray | float | None = None,
                 noise_break: np.ndarray | float | None = None) -> np.ndarray:
    """The variance factor of spectra at noise ratios ν/ν_ref: ``(ν/ν_ref)^γ``, or with a break ν_b/ν_ref
    (finite) ``exp(γ min(L, L_b) + γ₂ max(L − L_b, 0))``, L = ln(ν/ν_ref). Per-label arrays broadcast
    against ``noise_ratio[:, None]`` by the caller; a NaN or infinite break means one power."""
    ln = np.log(np.clip(np.asarray(noise_ratio, np.float64), 1e-6, 1e6))
    g = np.asarray(power, np.float64)
    if noise_break is None or power_high is None:
        return np.exp(g * ln)
    lb = np.log(np.where(np.isfinite(noise_break), noise_break, np.inf))
    g2 = np.where(np.isfinite(lb), np.asarray(power_high, np.float64), 0.0)
    return np.exp(g * np.minimum(ln, lb) + g2 * np.maximum(ln - lb, 0.0))


class SigmaScales(NamedTuple):
    """Fitted calibration of one label: ``a`` (MC + predictive), ``b`` (propagated), ``c`` (floor, label
    units), ``noise_power`` (γ on the noise ratio; 0 where no ratio was given) and, for a broken power,
    ``noise_power_high`` (γ₂) beyond the noise ratio ``noise_break`` (inf: one power)."""

    a: float
    b: float
    c: float
    noise_power: float = 0.0
    noise_power_high: float = 0.0
    noise_break: float = math.inf

    def variance(self, var_a: np.ndarray, var_b: np.ndarray | None = None,
                 noise_ratio: np.ndarray | None = None) -> np.ndarray:
        """The calibrated σ² of raw components ``var_a`` (MC + predictive) and ``var_b`` (propagated; None:
        not part of the calibration) at noise ratios ν/ν_ref (None: 1), label units²."""
        v = self.a * self.a * np.asarray(var_a, np.float64)
        if var_b is not None:
            v = v + self.b * self.b * np.asarray(var_b, np.float64)
        v = v + self.c * self.c
        if noise_ratio is not None:
            v = v * noise_factor(noise_ratio, self.noise_power, self.noise_power_high, self.noise_break)
        return v


def fit_sigma_scales(r: np.ndarray, var_a: np.ndarray, var_b: np.ndarray | None, var_y: np.ndarray,
                     floor: bool = True, noise_ratio: np.ndarray | None = None, noise_form: str = "power") -> SigmaScales:
    """Maximum-likelihood scales for ``r ~ N(0, (a² var_a + b² var_b + c²) F(ν/ν_ref) + var_y)``.

    ``var_y`` (the label-noise variance) is known and not scaled; with ``var_b`` None, ``b = a``;
    with ``floor=False``, ``c = 0``; ``a, b`` are bounded to [0.05, 20], ``c`` (label units) to
    [0, 20 sqrt(mean var_a)]. F is fitted only where ``noise_ratio`` (ν/ν_ref per residual) is given
    (else 1): ``noise_form="power"`` — ``(ν/ν_ref)^γ``, γ in :data:`NOISE_POWER_BOUNDS`; ``"broken"`` —
    γ up to the median ratio of the residuals above 1.05 (the noisier copies), γ₂ beyond
    (:func:`noise_factor`); ``"auto"`` — the broken form where it lowers −2 ln L by more than ln N (the
    Bayesian information criterion of its one extra parameter), else the single power.
    """
    from scipy.optimize import minimize

    if noise_form not in NOISE_FORMS:
        raise InputValidationError(f"noise_form must be one of {NOISE_FORMS}, got {noise_form!r}")
    r2 = np.asarray(r, np.float64) ** 2
    va = np.asarray(var_a, np.float64)
    vb = None if var_b is None else np.asarray(var_b, np.float64)
    vy = np.asarray(var_y, np.float64)
    has_b = var_b is not None
    has_g = noise_ratio is not None
    ratio = np.asarray(noise_ratio, np.float64) if has_g else None
    s0 = math.sqrt(max(float(np.mean(va)), 1e-30))
    tiny = 1e-12 * s0 ** 2
    lim = (math.log(0.05), math.log(20.0))

    def solve(brk: float) -> tuple[SigmaScales, float]:
        broken = math.isfinite(brk)

        def unpack(p: np.ndarray) -> SigmaScales:
            a = math.exp(p[0])
            b = math.exp(p[1]) if has_b else a
            g = float(p[1 + has_b]) if has_g else 0.0
            g2 = float(p[2 + has_b]) if broken else 0.0
            c = math.exp(p[-1]) * s0 if floor else 0.0
            return SigmaScales(a, b, c, g, g2, brk)

        def nll(p: np.ndarray) -> float:
            v = unpack(p).variance(va, vb, ratio) + vy + tiny
            return float(np.mean(np.log(v) + r2 / v))

        x0 = [0.0] + ([0.0] if has_b else []) + ([0.0] if has_g else []) + ([0.0] if broken else []) \
            + ([-2.0] if floor else [])
        bounds = [lim] + ([lim] if has_b else []) + ([NOISE_POWER_BOUNDS] if has_g else []) \
            + ([NOISE_POWER_BOUNDS] if broken else []) + ([(-12.0, math.log(20.0))] if floor else [])
        if broken:  # start from the single power (γ₂ = γ): the broken fit can only do better
            x0 = [math.log(single.a)] + ([math.log(single.b)] if has_b else []) + [single.noise_power] * 2 \
                + ([math.log(max(single.c, math.exp(-12.0) * s0) / s0)] if floor else [])
        res = minimize(nll, np.asarray(x0), method="L-BFGS-B", bounds=bounds)
        out = unpack(res.x)
        return out._replace(c=out.c if out.c > 2 * math.exp(-12.0) * s0 else 0.0), float(res.fun)

    single, nll_single = solve(math.inf)
    if noise_form == "power" or not has_g:
        return single
    above = ratio[ratio > 1.05]
    if above.size < 10 or np.sum(ratio <= 1.05) < 10:  # nothing on one side of a break
        return single
    broken_fit, nll_broken = solve(float(np.median(above)))
    # −2 ln L = N·mean(nll) + const; BIC: the extra power must gain more than ln N
    return broken_fit if noise_form == "broken" or r2.size * (nll_single - nll_broken) > math.log(r2.size) else single


def scale_precision(var_model: np.ndarray, var_y: np.ndarray) -> float:
    """Fractional 1σ uncertainty with which residuals ``r ~ N(0, k·var_model + var_y)`` pin σ = sqrt(k·var_model).

    The Cramér–Rao bound of one overall factor ``k`` on the calibrated variance ``var_model`` (the
    fitted σ², label units²) when the reference labels carry known noise of variance ``var_y``: the
    Fisher information on ln k is ½ Σ w², ``w = var_model / (var_model + var_y)``, so σ is pinned to
    ``1 / sqrt(2 Σ w²)`` (relative). Without label noise that is the familiar ``1 / sqrt(2N)``; with
    label errors ``ρ`` times the model's error each star counts ``1 / (1 + ρ²)²`` of a star, e.g.
    8,000 validation stars with ρ = 4.5 pin σ only to ±17 %. NaN without usable stars.
    """
    vm = np.asarray(var_model, np.float64).ravel()
    vy = np.asarray(var_y, np.float64).ravel()
    ok = np.isfinite(vm) & np.isfinite(vy) & (vm > 0) & (vy >= 0)
    info = float(np.sum((vm[ok] / (vm[ok] + vy[ok])) ** 2))
    return 1.0 / math.sqrt(2.0 * info) if info > 0 else math.nan


__all__ = ["NOISE_FORMS", "NOISE_POWER_BOUNDS", "SigmaScales", "degrade_snr", "fit_sigma_scales", "flagged_by_error",
           "noise_factor", "noise_level", "scale_precision"]
