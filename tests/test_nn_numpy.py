"""Tests of astrotorch.nn.numpy: missing values, axis, astropy Quantity unit rules, helpers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from astropy import units as u

from astrotorch.config import override
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.nn import numpy as anp

MAGIC = -9999.0


def test_hand_values_with_missing_entries():
    y = np.array([1.0, 2.0, MAGIC, 4.0, np.nan])
    p = np.array([2.0, 2.5, 3.0, 2.0, 1.0])
    # valid: errors y - p = -1, -0.5, 2
    assert anp.mean_absolute_error(y, p) == pytest.approx(3.5 / 3)
    assert anp.median_absolute_error(y, p) == pytest.approx(1.0)
    assert anp.mean_error(y, p) == pytest.approx(0.5 / 3)
    assert anp.mean_squared_error(y, p) == pytest.approx(5.25 / 3)
    assert anp.root_mean_squared_error(y, p) == pytest.approx(math.sqrt(5.25 / 3))
    assert anp.mean_absolute_percentage_error(y, p) == pytest.approx((100 + 25 + 50) / 3)
    assert anp.median_absolute_percentage_error(y, p) == pytest.approx(50.0)


def test_missing_prediction_is_ignored_too():
    y = np.array([1.0, 2.0])
    assert anp.mae(y, np.array([MAGIC, 3.0])) == pytest.approx(1.0)


def test_axis_and_all_missing_slice():
    y = np.array([[1.0, MAGIC], [3.0, MAGIC]])
    p = np.zeros((2, 2))
    out = anp.mae(y, p, axis=0)
    assert out[0] == pytest.approx(2.0) and np.isnan(out[1])
    assert anp.median_ae(y, p, axis=1).tolist() == pytest.approx([1.0, 3.0])
    assert np.isnan(anp.median_ae(np.array([MAGIC]), np.array([1.0])))
    with pytest.raises(InputValidationError, match="axis"):
        anp.mae(y, p, axis=3)


def test_custom_magic_number():
    y, p = np.array([1.0, -1.0]), np.array([0.0, 0.0])
    assert anp.mae(y, p) == pytest.approx(1.0)
    with override(magic_number=-1.0):
        assert anp.mae(y, p) == pytest.approx(1.0) and anp.mse(y, np.array([0.0, 5.0])) == pytest.approx(1.0)


def test_quantity_results_carry_converted_units():
    y = np.array([1.0, 2.0, 3.0]) * u.km
    p = np.array([1500.0, 2000.0, 1000.0]) * u.m
    mae = anp.mae(y, p)
    assert mae.unit == u.km and mae.value == pytest.approx((0.5 + 0 + 2) / 3)
    assert anp.median_ae(y, p).unit == u.km
    assert anp.mean_error(y, p).to_value(u.m) == pytest.approx((-500 + 0 + 2000) / 3)
    mse = anp.mse(y, p)
    assert mse.unit == u.km**2 and mse.value == pytest.approx((0.25 + 0 + 4) / 3)
    assert anp.rmse(y, p).unit == u.km
    pct = anp.mape(y, p)
    assert not isinstance(pct, u.Quantity) and pct == pytest.approx((50 + 0 + 200 / 3) / 3)
    assert not isinstance(anp.median_ape(y, p), u.Quantity)


def test_quantity_magic_number_in_y_true_units():
    y = np.array([1.0, MAGIC]) * u.km
    p = np.array([0.0, 3.0]) * u.km
    assert anp.mae(y, p).value == pytest.approx(1.0)


def test_mixed_quantity_raises_typeerror():
    with pytest.raises(TypeError, match="both"):
        anp.mae(np.ones(2) * u.km, np.ones(2))
    with pytest.raises(TypeError, match="y_pred"):
        anp.mean_absolute_percentage_error(np.ones(2), np.ones(2) * u.km)
    with pytest.raises(InputValidationError, match="cannot be converted"):
        anp.mae(np.ones(2) * u.km, np.ones(2) * u.s)


def test_shape_mismatch():
    with pytest.raises(ShapeMismatchError):
        anp.mae(np.ones(3), np.ones(2))


def test_mad_std_robust_and_with_units():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2.0, size=20000)
    assert anp.mad_std(x) == pytest.approx(2.0, rel=0.03)
    x_out = np.concatenate([x, np.full(500, 1e6), [MAGIC, np.nan]])
    assert anp.mad_std(x_out) == pytest.approx(2.0, rel=0.06)
    small = np.array([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3, |dev| 2,1,0,1,97 -> median 1
    assert anp.mad_std(small) == pytest.approx(1.482602218505602)
    q = anp.mad_std(small * u.mag)
    assert q.unit == u.mag and q.value == pytest.approx(1.482602218505602)
    two = np.stack([small, 2 * small])
    assert anp.mad_std(two, axis=1).tolist() == pytest.approx([1.482602218505602, 2 * 1.482602218505602])


def test_mad_std_is_astropy_on_the_valid_entries():
    from astropy.stats import mad_std

    rng = np.random.default_rng(3)
    x = rng.standard_t(3, size=(400, 3))
    dirty = x.copy()
    dirty[::7, 0], dirty[::11, 2] = MAGIC, np.nan
    for axis in (None, 0):
        expected = mad_std(np.where((dirty == MAGIC) | np.isnan(dirty), np.nan, dirty), axis=axis, ignore_nan=True)
        np.testing.assert_allclose(anp.mad_std(dirty, axis=axis), expected, rtol=1e-12)
    assert anp.mad_std(x[:, 1]) == pytest.approx(mad_std(x[:, 1]), rel=1e-12)
    # a slice with nothing valid gives NaN, without warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = anp.mad_std(np.array([[MAGIC, np.nan], [1.0, 3.0]]), axis=1)
    assert np.isnan(out[0]) and out[1] == pytest.approx(1.482602218505602)


def test_sigmoid_and_inverse():
    x = np.array([-800.0, -2.0, 0.0, 3.0, 800.0])
    s = anp.sigmoid(x)
    assert np.all(np.isfinite(s)) and s[2] == 0.5 and s[0] == 0.0 and s[-1] == 1.0
    assert s[3] == pytest.approx(1 / (1 + math.exp(-3)))
    np.testing.assert_allclose(anp.sigmoid_inv(anp.sigmoid(x[1:4])), x[1:4], rtol=1e-12)
    assert anp.sigmoid(0.0) == 0.5
    with pytest.raises(InputValidationError, match=r"\[0, 1\]"):
        anp.sigmoid_inv(np.array([1.5]))
    with pytest.raises(TypeError, match="dimensionless"):
        anp.sigmoid(np.ones(2) * u.km)
    assert anp.sigmoid(np.zeros(1) * u.dimensionless_unscaled)[0] == 0.5


def test_relu_l1_l2():
    x = np.array([-1.0, 0.5, 2.0])
    assert anp.relu(x).tolist() == [0.0, 0.5, 2.0]
    assert anp.relu(x * u.s).unit == u.s
    assert anp.l1(x, l1=0.1) == pytest.approx(0.35)
    assert anp.l2(x, l2=0.1) == pytest.approx(0.525)
    assert anp.l1(x) == 0.0


def test_kl_divergence():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    assert anp.kl_divergence(p, q) == pytest.approx(math.log(2))
    assert anp.kl_divergence(p, p) == 0.0
    assert anp.kl_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == math.inf
    both = anp.kl_divergence(np.stack([p, p]), np.stack([q, p]), axis=1)
    assert both.tolist() == pytest.approx([math.log(2), 0.0])
    with pytest.raises(InputValidationError, match="non-negative"):
        anp.kl_divergence(np.array([-0.1, 1.1]), q[:2])
