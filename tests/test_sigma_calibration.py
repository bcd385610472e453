"""The σ-calibration pieces (astrotorch.models.sigma_calibration), on residuals drawn from known laws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astrotorch.errors import InputValidationError
from astrotorch.models import sigma_calibration as SC


def test_fit_sigma_scales_recovers_two_components_under_label_noise() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    va = rng.uniform(0.5, 2.0, n) ** 2            # model + predictive variance (unscaled)
    vb = np.where(rng.random(n) < 0.5, 0.3, 1.2) ** 2  # propagated: two S/N levels
    vy = rng.uniform(0.5, 1.5, n) ** 2            # known label noise, as large as the signal
    r = rng.standard_normal(n) * np.sqrt(0.6 ** 2 * va + 1.7 ** 2 * vb + vy)
    a, b, c, g = SC.fit_sigma_scales(r, va, vb, vy, floor=False)[:4]
    assert g == 0.0  # no noise ratio given: no power fitted
    assert abs(a - 0.6) < 0.06 and abs(b - 1.7) < 0.1 and c == 0.0
    a, b, c = SC.fit_sigma_scales(r, va, vb, vy)[:3]  # with a free floor: ~0 here
    assert abs(a - 0.6) < 0.1 and abs(b - 1.7) < 0.1 and c < 0.3
    a1, b1 = SC.fit_sigma_scales(r[vb < 0.5], va[vb < 0.5], None, vy[vb < 0.5], floor=False)[:2]
    assert a1 == b1 and a1 > 0
    # a model-error floor the σ components do not see is recovered
    r2 = rng.standard_normal(n) * np.sqrt(0.6 ** 2 * va + 1.7 ** 2 * vb + 0.8 ** 2 + vy)
    a, b, c = SC.fit_sigma_scales(r2, va, vb, vy)[:3]
    assert abs(c - 0.8) < 0.15 and abs(a - 0.6) < 0.15 and abs(b - 1.7) < 0.15


def _noise_copies(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half the residuals as they are (ratio 1), half noisier copies (1.5–3), and their σ components: the
    MC + head variance does not grow with the noise, σ_propagated grows sub-linearly with it."""
    ratio = np.where(rng.random(n) < 0.5, 1.0, rng.uniform(1.5, 3.0, n))
    return ratio, rng.uniform(0.5, 2.0, n) ** 2, (0.4 * ratio ** 0.7) ** 2


def test_fit_sigma_scales_recovers_the_noise_power() -> None:
    # the σ components understate how the error grows with the noise: variance (…)(ν/ν_ref)^γ
    rng = np.random.default_rng(5)
    n = 20000
    ratio, va, vb = _noise_copies(rng, n)
    vy = rng.uniform(0.5, 1.0, n) ** 2
    r = rng.standard_normal(n) * np.sqrt((0.5 ** 2 * va + 1.5 ** 2 * vb) * ratio ** 1.2 + vy)
    fit = SC.fit_sigma_scales(r, va, vb, vy, floor=False, noise_ratio=ratio)
    assert abs(fit.noise_power - 1.2) < 0.2 and abs(fit.a - 0.5) < 0.08 and abs(fit.b - 1.5) < 0.2
    flat = SC.fit_sigma_scales(r, va, vb, vy, floor=False)  # fixed factors cannot fit both noise levels
    v_fit = (fit.a ** 2 * va + fit.b ** 2 * vb) * ratio ** fit.noise_power
    v_flat = flat.a ** 2 * va + flat.b ** 2 * vb
    lo = ratio == 1.0
    z_fit, z_flat = r[lo] / np.sqrt(v_fit[lo] + vy[lo]), r[lo] / np.sqrt(v_flat[lo] + vy[lo])
    assert abs(np.std(z_fit) - 1.0) < abs(np.std(z_flat) - 1.0)
    # an error growing as ν^2.1 (a variance power 4.2, as [Fe/H] of a BCNN trained at S/N 100) is within reach
    r4 = rng.standard_normal(n) * np.sqrt((0.5 ** 2 * va + 1.5 ** 2 * vb) * ratio ** 4.2 + vy)
    assert abs(SC.fit_sigma_scales(r4, va, vb, vy, floor=False, noise_ratio=ratio).noise_power - 4.2) < 0.3


def test_scale_precision_is_the_spread_of_the_fitted_sigma() -> None:
    """The calibration's own bound: how far a σ fitted on noisy-label residuals scatters between draws."""
    assert SC.scale_precision(np.ones(2000), np.zeros(2000)) == pytest.approx(1 / np.sqrt(4000))  # no label noise
    rng = np.random.default_rng(3)
    n = 1500
    va = rng.uniform(0.5, 1.5, n) ** 2
    vy = (3.0 * np.sqrt(va) * rng.uniform(0.7, 1.3, n)) ** 2  # label errors ~3x the model's error
    fitted = [SC.fit_sigma_scales(rng.standard_normal(n) * np.sqrt(va + vy), va, None, vy, floor=False).a
              for _ in range(300)]
    spread = float(np.std(np.log(fitted)))
    bound = SC.scale_precision(va, vy)
    assert 0.13 < bound < 0.2  # each star counts ~1/100 of a star: 1500 stars pin σ to ~±16 %
    assert spread == pytest.approx(bound, rel=0.15)
    assert np.isnan(SC.scale_precision(np.zeros(3), np.ones(3)))  # nothing to pin


def test_noise_level_is_the_median_error_of_measured_pixels() -> None:
    e = np.full((3, 100), 0.02, np.float32)
    e[0, :40] = 0.0   # not propagated (flagged): ignored
    e[1, :10] = np.nan
    e[2] = 0.0        # no errors at all: NaN
    lv = SC.noise_level(e)
    assert np.allclose(lv[:2], 0.02) and np.isnan(lv[2])


def test_degrade_snr_lowers_snr_and_keeps_masked_pixels() -> None:
    rng = np.random.default_rng(1)
    x = np.ones((400, 300), np.float32)
    e = np.full_like(x, 0.01)
    e[:, :5] = 1.0  # masked pixels with inflated errors
    xd, ed = SC.degrade_snr(x, e, (2.0, 2.0), seed=3)
    assert np.all(xd[:, :5] == 1.0) and np.all(ed[:, :5] == 1.0)
    assert np.allclose(ed[:, 5:], 0.02)
    assert abs(np.std(xd[:, 5:] - 1.0) - 0.01 * np.sqrt(3.0)) < 5e-4
    xd2, _ = SC.degrade_snr(x, e, (2.0, 2.0), seed=3)
    assert np.array_equal(xd, xd2)
    del rng


def test_flagged_by_error_finds_inflated_and_nonfinite_errors() -> None:
    e = np.full((3, 50), 0.01, np.float32)
    e[0, 3] = 1.0        # ×100: flagged
    e[1, 7] = 0.05       # ×5: a noisy pixel, not flagged
    e[2, 9] = np.nan     # unknown error: flagged
    e[2, 10] = np.inf
    f = SC.flagged_by_error(e, 10.0)
    assert f.shape == e.shape and f.dtype == bool
    assert set(zip(*np.nonzero(f))) == {(0, 3), (2, 9), (2, 10)}
    assert np.array_equal(SC.flagged_by_error(e[0], 10.0), f[0])  # one spectrum
    assert SC.flagged_by_error(np.full((1, 4), np.nan), 10.0).all()  # no finite error at all
    with pytest.raises(InputValidationError):
        SC.flagged_by_error(np.float32(0.1))


def test_noise_factor_is_one_power_or_two_joined_at_the_break() -> None:
    ratio = np.array([0.5, 1.0, 2.0, 4.0])
    assert np.allclose(SC.noise_factor(ratio, 1.5), ratio ** 1.5)
    assert np.allclose(SC.noise_factor(ratio, 1.5, 4.0, math.inf), ratio ** 1.5)  # no break: one power
    broken = SC.noise_factor(ratio, 1.5, 4.0, 2.0)
    assert np.allclose(broken[:3], ratio[:3] ** 1.5) and broken[3] == pytest.approx(2.0 ** 1.5 * 2.0 ** 4.0)
    # per label (columns): a NaN break is one power for that label
    both = SC.noise_factor(ratio[:, None], np.array([[1.5, 1.5]]), np.array([[4.0, np.nan]]), np.array([[2.0, np.nan]]))
    assert np.allclose(both[:, 0], broken) and np.allclose(both[:, 1], ratio ** 1.5)
    s = SC.SigmaScales(1.0, 1.0, 0.0, 1.5, 4.0, 2.0)
    assert np.allclose(s.variance(np.ones(4), None, ratio), broken)


def test_fit_sigma_scales_finds_a_broken_noise_power_where_the_stars_pin_it() -> None:
    rng = np.random.default_rng(11)
    n = 20000
    ratio, va, vb = _noise_copies(rng, n)
    brk = float(np.median(ratio[ratio > 1.05]))  # where the fit puts the break
    truth = SC.SigmaScales(0.5, 1.5, 0.0, 1.0, 4.0, brk)
    r = rng.standard_normal(n) * np.sqrt(truth.variance(va, vb, ratio))
    zero = np.zeros(n)
    auto = SC.fit_sigma_scales(r, va, vb, zero, floor=False, noise_ratio=ratio, noise_form="auto")
    assert auto.noise_break == pytest.approx(brk)
    assert abs(auto.noise_power - 1.0) < 0.3 and abs(auto.noise_power_high - 4.0) < 0.6
    power = SC.fit_sigma_scales(r, va, vb, zero, floor=False, noise_ratio=ratio)  # the default: one power
    assert math.isinf(power.noise_break) and 1.3 < power.noise_power < 3.5  # a compromise between 1 and 4
    # the broken fit describes every noise level; one power is too steep near the break, too flat beyond
    def worst(fit: SC.SigmaScales) -> float:
        bins = [(ratio >= lo) & (ratio < hi) for lo, hi in ((0.9, 1.1), (1.5, 1.8), (1.8, 2.25), (2.25, 2.6), (2.6, 3.0))]
        return max(abs(float(np.std(r[b] / np.sqrt(fit.variance(va[b], vb[b], ratio[b])))) - 1.0) for b in bins)

    assert worst(auto) < 0.03 and worst(power) > 0.1
    # one power in truth: the criterion keeps one power
    r1 = rng.standard_normal(n) * np.sqrt(SC.SigmaScales(0.5, 1.5, 0.0, 1.2).variance(va, vb, ratio))
    assert math.isinf(SC.fit_sigma_scales(r1, va, vb, zero, floor=False, noise_ratio=ratio, noise_form="auto").noise_break)
    # the same broken law under label noise 4x the model's error: too little information, one power
    vy = 16.0 * truth.variance(va, vb, ratio)
    noisy = SC.fit_sigma_scales(r + rng.standard_normal(n) * np.sqrt(vy), va, vb, vy, floor=False, noise_ratio=ratio,
                                noise_form="auto")
    assert math.isinf(noisy.noise_break)
    forced = SC.fit_sigma_scales(r, va, vb, zero, floor=False, noise_ratio=ratio, noise_form="broken")
    assert forced == auto
    # without noise ratios, or without residuals on both sides, there is nothing to break
    assert math.isinf(SC.fit_sigma_scales(r, va, vb, zero, floor=False, noise_form="broken").noise_break)
    assert math.isinf(SC.fit_sigma_scales(r, va, vb, zero, floor=False, noise_ratio=np.full(n, 2.0),
                                          noise_form="broken").noise_break)
    with pytest.raises(InputValidationError, match="noise_form"):
        SC.fit_sigma_scales(r, va, vb, zero, noise_ratio=ratio, noise_form="spline")
