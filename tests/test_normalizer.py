"""Tests of astrotorch.nn.Normalizer (astroNN's modes, missing values, streaming fit, JSON)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrotorch.errors import (
    ConfigError,
    DataFormatError,
    EmptyDatasetError,
    InputValidationError,
    NotFittedError,
    ShapeMismatchError,
)
from astrotorch.nn import Normalizer

MAGIC = -9999.0
ALL_MODES = [0, 1, 2, 3, "3s", 255]


def _data(rng: np.random.Generator, shape=(200, 6)) -> np.ndarray:
    return rng.normal(loc=np.arange(shape[-1]) * 10.0, scale=np.arange(1, shape[-1] + 1), size=shape)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_round_trip_every_mode(mode):
    rng = np.random.default_rng(1)
    x = _data(rng)
    norm = Normalizer(mode=mode)
    z = norm.normalize(x)
    assert z.shape == x.shape
    np.testing.assert_allclose(norm.denormalize(z), x, rtol=1e-9, atol=1e-9)


def test_mode_definitions_match_astronn():
    rng = np.random.default_rng(2)
    x = _data(rng)
    # mode 1: one mean/std over all values
    z1 = Normalizer(1).normalize(x)
    np.testing.assert_allclose(z1, (x - x.mean()) / x.std())
    # mode 2: per feature
    z2 = Normalizer(2).normalize(x)
    np.testing.assert_allclose(z2, (x - x.mean(0)) / x.std(0))
    np.testing.assert_allclose(z2.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z2.std(0), 1.0)
    # mode 3: centring only
    n3 = Normalizer(3)
    np.testing.assert_allclose(n3.normalize(x), x - x.mean(0))
    np.testing.assert_array_equal(n3.scale, np.ones(6))
    # mode '3s': centring then sigmoid
    z3s = Normalizer("3s").normalize(x)
    np.testing.assert_allclose(z3s, 1.0 / (1.0 + np.exp(-(x - x.mean(0)))))
    assert np.all((z3s > 0) & (z3s < 1))
    # mode 255: divide by 255
    img = rng.integers(0, 256, size=(10, 4, 4, 3)).astype(np.uint8)
    z255 = Normalizer(255).normalize(img)
    assert z255.dtype == np.float32
    np.testing.assert_allclose(z255, img / 255.0, rtol=1e-6)
    # mode 0: identity
    np.testing.assert_array_equal(Normalizer(0).normalize(x), x)


def test_string_modes_are_accepted():
    assert Normalizer("2").mode == 2
    assert Normalizer("3S").mode == "3s"
    assert Normalizer(np.int64(255)).mode == 255


@pytest.mark.parametrize("bad", [4, -1, "abc", None, True, 2.5])
def test_unknown_mode_raises_config_error(bad):
    with pytest.raises(ConfigError, match="mode"):
        Normalizer(mode=bad)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_missing_values_ignored_and_passed_through(mode):
    rng = np.random.default_rng(3)
    x = _data(rng)
    x_missing = x.copy()
    x_missing[5, 1] = MAGIC
    x_missing[7, 2] = np.nan
    x_missing[9, 1] = MAGIC
    norm = Normalizer(mode=mode, magic_number=MAGIC)
    z = norm.normalize(x_missing)
    assert z[5, 1] == MAGIC and z[9, 1] == MAGIC
    assert np.isnan(z[7, 2])
    back = norm.denormalize(z)
    assert back[5, 1] == MAGIC and np.isnan(back[7, 2])
    valid = ~(np.isnan(x_missing) | (x_missing == MAGIC))
    np.testing.assert_allclose(back[valid], x[valid], rtol=1e-9, atol=1e-9)
    # statistics equal those of the valid entries only
    if mode == 2:
        col = np.delete(x[:, 1], [5, 9])
        assert norm.center[1] == pytest.approx(col.mean())
        assert norm.scale[1] == pytest.approx(col.std())
    if mode == 1:
        assert float(norm.center) == pytest.approx(x[valid].mean())


def test_magic_number_default_comes_from_config():
    from astrotorch.config import override

    with override(magic_number=-999.0):
        norm = Normalizer(2)
    assert norm.magic_number == -999.0
    x = np.array([[1.0], [3.0], [-999.0]])
    z = norm.normalize(x)
    assert z[2, 0] == -999.0
    np.testing.assert_allclose(z[:2, 0], [-1.0, 1.0])


def test_constant_feature_gets_unit_scale():
    x = np.column_stack([np.full(50, 7.0), np.linspace(0, 1, 50)])
    norm = Normalizer(2)
    z = norm.normalize(x)
    assert np.all(np.isfinite(z))
    assert norm.scale[0] == 1.0
    np.testing.assert_allclose(z[:, 0], 0.0)
    # an entirely missing feature must not produce NaN statistics either
    y = x.copy()
    y[:, 0] = MAGIC
    n2 = Normalizer(2, magic_number=MAGIC)
    z2 = n2.normalize(y)
    assert n2.scale[0] == 1.0 and n2.center[0] == 0.0
    assert np.all(z2[:, 0] == MAGIC)


def test_multidimensional_features_are_per_element():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 3, 4, 4)) * 5 + 2
    norm = Normalizer(2)
    z = norm.normalize(x)
    assert norm.scale.shape == (3, 4, 4) and norm.center.shape == (3, 4, 4)
    np.testing.assert_allclose(z, (x - x.mean(0)) / x.std(0))
    # scale/center broadcast to one sample
    np.testing.assert_allclose(norm.denormalize(z[:1]), x[:1])


def test_one_dimensional_input():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    norm = Normalizer(2)
    z = norm.normalize(x)
    np.testing.assert_allclose(z, (x - 2.5) / x.std())
    assert norm.scale.shape == ()


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_partial_fit_equals_fit_on_concatenation(mode):
    rng = np.random.default_rng(5)
    x = _data(rng, (301, 4)) * 1e3 + 1e4  # large offset: a naive sum-of-squares would lose precision
    x[rng.random(x.shape) < 0.05] = MAGIC
    full = Normalizer(mode, magic_number=MAGIC).fit(x)
    stream = Normalizer(mode, magic_number=MAGIC)
    for chunk in np.array_split(x, [1, 50, 51, 200]):
        stream.partial_fit(chunk)
    np.testing.assert_allclose(stream.center, full.center, rtol=1e-12)
    np.testing.assert_allclose(stream.scale, full.scale, rtol=1e-10)
    assert stream == full


def test_fit_chunks_large_arrays(monkeypatch):
    # fit() works in row chunks; the result must not depend on the chunk size
    import astrotorch.nn.normalizer as mod

    rng = np.random.default_rng(6)
    x = _data(rng, (100, 5))
    ref = Normalizer(2).fit(x)
    monkeypatch.setattr(mod, "_CHUNK_ELEMENTS", 7)
    chunked = Normalizer(2).fit(x)
    np.testing.assert_allclose(chunked.scale, ref.scale, rtol=1e-12)
    np.testing.assert_allclose(chunked.center, ref.center, rtol=1e-12)


def test_refit_discards_old_statistics():
    norm = Normalizer(2).fit(np.array([[0.0], [2.0]]))
    norm.fit(np.array([[10.0], [14.0]]))
    assert float(norm.center[0]) == 12.0


@pytest.mark.parametrize("mode", ALL_MODES)
def test_json_round_trip(mode):
    rng = np.random.default_rng(7)
    x = _data(rng, (40, 3, 2))
    norm = Normalizer(mode).fit(x)
    text = json.dumps(norm.to_dict())
    loaded = Normalizer.from_dict(json.loads(text))
    assert loaded == norm
    np.testing.assert_array_equal(loaded.transform(x), norm.transform(x))
    # the streaming state survives, so training can continue after loading
    loaded.partial_fit(x)
    norm.partial_fit(x)
    assert loaded == norm


def test_unfitted_json_round_trip_and_equality():
    a = Normalizer("3s", magic_number=-1.0)
    b = Normalizer.from_dict(json.loads(json.dumps(a.to_dict())))
    assert a == b
    assert Normalizer(2) != Normalizer(3)
    assert Normalizer(2).fit(np.ones((3, 2))) != Normalizer(2).fit(np.zeros((3, 2)))


def test_malformed_dict_raises():
    good = Normalizer(2).fit(np.arange(6.0).reshape(3, 2)).to_dict()
    with pytest.raises(DataFormatError):
        Normalizer.from_dict({"feature_shape": [2]})
    bad = dict(good)
    del bad["m2"]
    with pytest.raises(DataFormatError, match="m2"):
        Normalizer.from_dict(bad)
    bad = dict(good, mean=[1.0, 2.0, 3.0])
    with pytest.raises(DataFormatError, match="shape"):
        Normalizer.from_dict(bad)
    with pytest.raises(ConfigError):
        Normalizer.from_dict(dict(good, mode=7))


def test_transform_before_fit_raises():
    norm = Normalizer(2)
    with pytest.raises(NotFittedError):
        norm.transform(np.ones((2, 2)))
    with pytest.raises(NotFittedError):
        norm.denormalize(np.ones((2, 2)))
    with pytest.raises(NotFittedError):
        _ = norm.scale


def test_feature_shape_mismatch_raises():
    norm = Normalizer(2).fit(np.ones((4, 3)))
    with pytest.raises(ShapeMismatchError, match=r"\(5,\)"):
        norm.transform(np.ones((4, 5)))
    with pytest.raises(ShapeMismatchError):
        norm.denormalize(np.ones((4, 2)))
    with pytest.raises(ShapeMismatchError):
        norm.partial_fit(np.ones((4, 2)))


def test_bad_inputs_raise():
    with pytest.raises(EmptyDatasetError):
        Normalizer(2).fit(np.empty((0, 3)))
    with pytest.raises(InputValidationError, match="inf"):
        Normalizer(2).fit(np.array([[1.0], [np.inf]]))
    with pytest.raises(InputValidationError, match="numeric"):
        Normalizer(2).fit(np.array([["a"], ["b"]]))
    with pytest.raises(InputValidationError, match="scalar"):
        Normalizer(2).fit(np.float64(3.0))
    with pytest.raises(ConfigError):
        Normalizer(2, magic_number=float("nan"))


def test_3s_saturated_values_stay_finite():
    norm = Normalizer("3s").fit(np.array([[0.0], [1.0]]))
    z = norm.transform(np.array([[1e4], [-1e4]]))
    back = norm.denormalize(z)
    assert np.all(np.isfinite(back))


def test_float32_input_stays_float32():
    x = np.random.default_rng(8).normal(size=(20, 3)).astype(np.float32)
    norm = Normalizer(2)
    z = norm.normalize(x)
    assert z.dtype == np.float32
    assert norm.denormalize(z).dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=3, max_size=3),
        min_size=2,
        max_size=30,
    ),
    mode=st.sampled_from([1, 2, 3, 255]),
)
def test_round_trip_property(data, mode):
    x = np.asarray(data)
    norm = Normalizer(mode)
    back = norm.denormalize(norm.normalize(x))
    np.testing.assert_allclose(back, x, rtol=1e-7, atol=1e-6 * (1 + np.abs(x).max()))


def test_rejected_chunk_leaves_state_unchanged():
    norm = Normalizer(2)
    with pytest.raises(InputValidationError):
        norm.partial_fit(np.array([[np.inf, 1.0]]))
    assert not norm.is_fitted
    norm.partial_fit(np.array([[1.0, 2.0], [3.0, 4.0]]))
    before = norm.to_dict()
    with pytest.raises(InputValidationError):
        norm.partial_fit(np.array([[np.inf, 1.0]]))
    assert norm.to_dict() == before


def test_cached_statistics_follow_updates():
    norm = Normalizer(2).fit(np.array([[0.0], [2.0]]))
    np.testing.assert_allclose(norm.transform(np.array([[2.0]])), [[1.0]])
    norm.partial_fit(np.array([[10.0], [12.0]]))  # mean 6, std sqrt(26)
    np.testing.assert_allclose(norm.transform(np.array([[6.0 + np.sqrt(26.0)]])), [[1.0]])
    norm.fit(np.array([[100.0], [102.0]]))
    np.testing.assert_allclose(norm.transform(np.array([[102.0]]).astype(np.float32)), [[1.0]])


def test_boolean_data_switches_to_mode_zero_like_astronn():
    y = np.array([[True, False], [False, True], [True, True]])
    norm = Normalizer(2)
    with pytest.warns(UserWarning, match="boolean"):
        z = norm.normalize(y)
    assert norm.mode == 0
    np.testing.assert_array_equal(z, y.astype(np.float32))
