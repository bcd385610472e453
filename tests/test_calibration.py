"""Tests of astrotorch.uncertainty.calibration on synthetic cases with known calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from astrotorch.errors import ConfigError, EmptyDatasetError, InputValidationError, ShapeMismatchError
from astrotorch.uncertainty.calibration import (
    apply_temperature,
    coverage,
    expected_calibration_error,
    reliability_curve,
    temperature_scale,
    zscore,
    zscore_std,
)

MAGIC = -9999.0


def _gaussian_case(rng, n=20000, d=3, scale_sigma=1.0):
    y_pred = rng.normal(size=(n, d)) * 5
    sigma = rng.uniform(0.5, 2.0, size=(n, d))
    y_true = y_pred + rng.normal(size=(n, d)) * sigma
    return y_true, y_pred, sigma * scale_sigma


def test_calibrated_gaussian_errors():
    rng = np.random.default_rng(0)
    y_true, y_pred, sigma = _gaussian_case(rng)
    zs = zscore_std(y_true, y_pred, sigma)
    assert zs.shape == (3,)
    np.testing.assert_allclose(zs, 1.0, atol=0.02)
    assert zscore_std(y_true, y_pred, sigma, axis=None) == pytest.approx(1.0, abs=0.02)
    assert zscore_std(y_true, y_pred, sigma, axis=None, robust=True) == pytest.approx(1.0, abs=0.03)
    cov = coverage(y_true, y_pred, sigma)
    np.testing.assert_allclose(cov, [0.683, 0.954], atol=0.01)
    per_col = coverage(y_true, y_pred, sigma, levels=(0.5, 0.9), axis=0)
    assert per_col.shape == (2, 3)
    np.testing.assert_allclose(per_col, np.array([[0.5] * 3, [0.9] * 3]), atol=0.02)


def test_overconfident_sigma_detected():
    rng = np.random.default_rng(1)
    y_true, y_pred, sigma = _gaussian_case(rng, scale_sigma=0.5)  # σ reported half the truth
    np.testing.assert_allclose(zscore_std(y_true, y_pred, sigma), 2.0, rtol=0.03)
    assert coverage(y_true, y_pred, sigma)[0] < 0.45


def test_missing_truth_is_ignored():
    rng = np.random.default_rng(2)
    y_true, y_pred, sigma = _gaussian_case(rng, n=5000)
    reference = zscore_std(y_true, y_pred, sigma)
    corrupted = y_true.copy()
    corrupted[:100, 0] = MAGIC
    corrupted[100:200, 1] = np.nan
    sigma_bad = sigma.copy()
    sigma_bad[:100, 0] = np.nan  # σ of a missing truth does not matter
    got = zscore_std(corrupted, y_pred, sigma_bad, magic_number=MAGIC)
    expected0 = np.std((y_true[100:, 0] - y_pred[100:, 0]) / sigma[100:, 0])
    assert got[0] == pytest.approx(expected0)
    assert got[2] == pytest.approx(reference[2])
    z = zscore(corrupted, y_pred, sigma_bad, magic_number=MAGIC)
    assert np.isnan(z[:100, 0]).all() and np.isfinite(z[200:]).all()
    # a column with no valid truth gives NaN, not an error
    all_missing = y_true.copy()
    all_missing[:, 2] = MAGIC
    res = zscore_std(all_missing, y_pred, sigma, magic_number=MAGIC)
    assert np.isnan(res[2]) and np.isfinite(res[:2]).all()
    assert np.isnan(coverage(all_missing, y_pred, sigma, axis=0, magic_number=MAGIC)[:, 2]).all()


def test_regression_input_errors():
    y = np.zeros((4, 2))
    with pytest.raises(ShapeMismatchError):
        zscore_std(y, np.zeros((4, 3)), 1.0)
    with pytest.raises(ShapeMismatchError):
        zscore_std(y, y, np.ones(3))
    with pytest.raises(InputValidationError, match="sigma"):
        zscore_std(y, y, np.zeros((4, 2)))
    with pytest.raises(InputValidationError, match="y_pred"):
        zscore_std(y, np.full((4, 2), np.nan), 1.0)
    with pytest.raises(EmptyDatasetError):
        zscore_std(np.full((4, 2), np.nan), y, 1.0)
    with pytest.raises(EmptyDatasetError):
        coverage(np.zeros(0), np.zeros(0), 1.0)
    with pytest.raises(ConfigError):
        coverage(y, y, 1.0, levels=(1.5,))


def _calibrated_classifier(rng, n=40000, c=4):
    logits = rng.normal(size=(n, c)) * 2.0
    probs = special.softmax(logits, axis=1)
    # draw labels from the predicted distribution: calibrated by construction
    cum = probs.cumsum(axis=1)
    labels = (rng.random((n, 1)) > cum).sum(axis=1)
    return logits, probs, labels


def test_calibrated_classifier_has_small_ece():
    rng = np.random.default_rng(3)
    _, probs, labels = _calibrated_classifier(rng)
    assert expected_calibration_error(probs, labels) < 0.015
    curve = reliability_curve(probs, labels, n_bins=10)
    filled = curve.counts > 500
    np.testing.assert_allclose(curve.accuracy[filled], curve.confidence[filled], atol=0.03)
    assert curve.counts.sum() == len(labels)
    assert curve.bin_centers.shape == (10,)


def test_overconfident_classifier_has_large_ece_and_temperature_fixes_it():
    rng = np.random.default_rng(4)
    logits, probs, labels = _calibrated_classifier(rng)
    sharp_logits = logits * 3.0  # over-confident: true temperature is 3
    sharp_probs = special.softmax(sharp_logits, axis=1)
    ece_sharp = expected_calibration_error(sharp_probs, labels)
    assert ece_sharp > 0.1
    t = temperature_scale(sharp_logits, labels)
    assert t == pytest.approx(3.0, rel=0.05)
    fixed = apply_temperature(sharp_logits, t)
    assert expected_calibration_error(fixed, labels) < 0.02
    # temperature scaling never changes the predicted class
    np.testing.assert_array_equal(fixed.argmax(1), sharp_probs.argmax(1))
    # an under-confident classifier gets T < 1
    assert temperature_scale(logits / 2.0, labels) == pytest.approx(0.5, rel=0.05)


def test_one_hot_labels_binary_probs_and_missing():
    rng = np.random.default_rng(5)
    logits, probs, labels = _calibrated_classifier(rng, n=2000, c=3)
    onehot = np.eye(3)[labels]
    ece = expected_calibration_error(probs, labels)
    assert expected_calibration_error(probs, onehot) == pytest.approx(ece)
    # missing labels are dropped
    lab_missing = labels.astype(float)
    lab_missing[:500] = MAGIC
    assert expected_calibration_error(probs, lab_missing) == pytest.approx(
        expected_calibration_error(probs[500:], labels[500:])
    )
    onehot_missing = onehot.copy()
    onehot_missing[:500] = MAGIC
    t_ref = temperature_scale(logits[500:], labels[500:])
    assert temperature_scale(logits, onehot_missing) == pytest.approx(t_ref)
    # binary probabilities of class 1
    p1 = np.array([0.9, 0.8, 0.2, 0.1])
    y = np.array([1, 1, 0, 1])
    # confidences 0.9, 0.8, 0.8, 0.9; correct, correct, correct, wrong
    curve = reliability_curve(p1, y, n_bins=10)
    assert curve.counts[8] == 2 and curve.counts[7] == 2
    assert curve.accuracy[8] == pytest.approx(0.5) and curve.accuracy[7] == pytest.approx(1.0)
    assert expected_calibration_error(p1, y, n_bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)


def test_classification_input_errors():
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    with pytest.raises(InputValidationError, match="logits"):
        expected_calibration_error(np.array([[2.0, -1.0], [0.3, 0.1]]), [0, 1])
    with pytest.raises(InputValidationError, match="integers"):
        expected_calibration_error(p, [0, 2])
    with pytest.raises(ShapeMismatchError):
        expected_calibration_error(p, [0, 1, 1])
    with pytest.raises(ConfigError):
        reliability_curve(p, [0, 1], n_bins=0)
    with pytest.raises(EmptyDatasetError):
        expected_calibration_error(p, [MAGIC, np.nan])
    with pytest.raises(ShapeMismatchError):
        temperature_scale(np.zeros(5), np.zeros(5))
    with pytest.raises(InputValidationError):
        temperature_scale(np.array([[np.nan, 0.0]]), [0])
    with pytest.raises(ConfigError):
        apply_temperature(p, 0.0)


def test_ece_from_torchmetrics_equals_the_reliability_curve_formula():
    """The ECE (torchmetrics) equals the count-weighted |accuracy - confidence| of the reliability
    curve, including saturated confidences of exactly 1 (float32 softmax) and missing labels."""
    rng = np.random.default_rng(11)
    logits = 3.0 * rng.normal(size=(4000, 6))
    logits[:300, 2] = 80.0  # confidence exactly 1 in float64
    probs = special.softmax(logits, axis=1)
    labels = rng.integers(0, 6, 4000).astype(float)
    labels[:100] = 2
    labels[-50:] = MAGIC
    for n_bins in (1, 10, 15):
        curve = reliability_curve(probs, labels, n_bins=n_bins)
        filled = curve.counts > 0
        by_hand = np.sum(curve.counts[filled] / curve.counts.sum()
                         * np.abs(curve.accuracy[filled] - curve.confidence[filled]))
        assert expected_calibration_error(probs, labels, n_bins=n_bins) == pytest.approx(by_hand, abs=1e-6)


def test_robust_zscore_std_is_astropy_mad_std():
    from astropy.stats import mad_std

    rng = np.random.default_rng(12)
    y_true, y_pred, sigma = _gaussian_case(rng, n=3000)
    y_true[:30, 1] = MAGIC
    z = (y_true - y_pred) / sigma
    expected = [mad_std(z[:, j][y_true[:, j] != MAGIC]) for j in range(3)]
    np.testing.assert_allclose(zscore_std(y_true, y_pred, sigma, robust=True), expected, rtol=1e-12)
    # the former hand-written formula, 1.4826 x median |z - median z|
    z0 = z[:, 0]
    assert zscore_std(y_true[:, 0], y_pred[:, 0], sigma[:, 0], robust=True) == pytest.approx(
        1.482602218505602 * np.median(np.abs(z0 - np.median(z0))), rel=1e-12)
