"""Period inputs (search, Fourier shape, network transform), the per-curve cache, degenerate feature
columns, and the models' use of them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astrotorch.errors import InputValidationError
from astrotorch.lightcurves import LightCurve, LightCurveSet
from astrotorch.lightcurves.cache import CACHE, CurveCache, content_key
from astrotorch.lightcurves.features import degenerate_columns, feature_matrix
from astrotorch.lightcurves.periods import (
    PeriodOptions,
    period_columns,
    period_inputs,
    period_table,
    physics_names,
    physics_vector,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rrlyrae_like(P=0.5731, n=240, seed=1, bands=("g", "r", "i"), sawtooth=True):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 1500, n))
    b = rng.integers(0, len(bands), n)
    ph = (t / P) % 1
    shape = np.where(ph < 0.15, ph / 0.15, 1 - (ph - 0.15) / 0.85) if sawtooth else 0.5 + 0.5 * np.sin(2 * np.pi * ph)
    y = 100 + np.array([20, 15, 10][: len(bands)])[b] * shape
    return LightCurve(time=t, value=y + rng.normal(0, 0.3, n), error=np.full(n, 0.3), band=b, bands=bands,
                      object_id=f"rr{seed}")


def test_period_inputs_find_the_period_and_the_shape():
    saw = period_inputs(_rrlyrae_like(), use_cache=False)
    assert abs(math.log10(saw["period"] / 0.5731)) < 1e-3
    assert saw["log_period"] == pytest.approx(math.log10(saw["period"]))
    sine = period_inputs(_rrlyrae_like(sawtooth=False, seed=2), use_cache=False)
    # a sawtooth has strong harmonics (RRab), a sinusoid almost none (RRc)
    assert saw["g_R21"] > 0.3 and sine["g_R21"] < 0.1
    assert set(f"{b}_{k}" for b in "gri" for k in ("A1", "R21", "R31", "phi21", "phi31", "famp")) <= set(saw)


def test_too_few_points_give_nan_not_errors():
    lc = LightCurve(time=[1.0, 2.0, 3.0], value=[1.0, 2.0, 1.5], error=[0.1] * 3, band=[0, 0, 0], bands=("g",))
    out = period_inputs(lc, use_cache=False)
    assert np.isnan(out["period"]) and np.isnan(out["g_R21"])


def test_cache_hits_on_same_content_misses_on_change():
    cache = CurveCache(max_entries=3)
    calls = []

    def fn(lc):
        calls.append(lc.object_id)
        return {"n": len(lc)}

    a = _rrlyrae_like(seed=3)
    b = a.copy(object_id="other name, same content")  # meta, id and label are not part of the key
    cache.map([a, b], fn, "opt", progress=False)
    assert calls == [a.object_id]
    cache.map([a.copy(value=a.value * 1.01)], fn, "opt", progress=False)  # new content
    cache.map([a], fn, "other options", progress=False)  # other options
    assert len(calls) == 3
    # the key uses band *names*: the same curve inside a set with a longer band list is the same curve
    wide = LightCurveSet([a], bands=("u", "g", "r", "i"))[0]
    assert content_key(wide) == content_key(a)
    cache.map([a.copy(value=a.value + 1), a.copy(value=a.value + 2)], fn, "opt", progress=False)
    assert len(cache) == 3  # least recently used dropped


def test_period_table_and_physics_vector_columns():
    curves = LightCurveSet([_rrlyrae_like(seed=4), _rrlyrae_like(seed=5, bands=("g", "r"))])
    X, names = period_table(curves, curves.bands, progress=False)
    assert names == period_columns(curves.bands) and X.shape == (2, len(names))
    assert np.isnan(X[1, names.index("i_R21")]) and np.isfinite(X[0, names.index("i_R21")])
    V, vnames = physics_vector(X, names)
    assert vnames == physics_names(curves.bands) and V.shape == (2, len(vnames))
    assert V[1, vnames.index("i_shape_missing")] == 1.0 and V[0, vnames.index("i_shape_missing")] == 0.0
    s, c = V[0, vnames.index("sin_g_phi21")], V[0, vnames.index("cos_g_phi21")]
    assert s**2 + c**2 == pytest.approx(1.0)
    with pytest.raises(InputValidationError):
        PeriodOptions(min_period=-1.0)
    with pytest.raises(InputValidationError):
        PeriodOptions(min_period=1.0, max_period=0.5)


def test_degenerate_columns():
    X = np.array([[np.nan, 1.0, 2.0, np.nan], [np.nan, 1.0, 3.0, 4.0], [np.nan, 1.0, np.nan, np.nan]])
    assert degenerate_columns(X).tolist() == [True, True, False, True]


def test_feature_matrix_uses_the_cache():
    curves = LightCurveSet([_rrlyrae_like(seed=s) for s in (6, 7)])
    X1, names = feature_matrix(curves, curves.bands, progress=False)
    hits = CACHE.hits
    X2, _ = feature_matrix(curves, curves.bands, progress=False)
    assert CACHE.hits >= hits + 2 and np.array_equal(X1, X2, equal_nan=True)
    assert names[-1] == "i_peak_mag" and "g_R21" in names


def test_networks_search_periods_once_and_can_switch_it_off():
    from astrotorch.models.lightcurves import LightCurveGRU

    rng = np.random.default_rng(0)
    curves = [_rrlyrae_like(P=float(p), seed=10 + i, sawtooth=i % 2 == 0, n=80) for i, p in
              enumerate(rng.uniform(0.3, 0.7, 12))]
    for i, lc in enumerate(curves):
        lc.label = "RRab" if i % 2 == 0 else "RRc"
    s = LightCurveSet(curves)
    kw = dict(hidden=8, n_layers=1, max_epochs=1, val_size=0.0, max_length=32, progress="none")
    m = LightCurveGRU(**kw).fit(s)
    assert {"log_period", "g_R21", "g_peak_mag", "bazin_tau_fall"} <= set(m.static_names_)
    assert m.input_shape["static"] == (len(m.static_names_),) and m.input_shape["obs"] == (4,)  # + phase sin/cos
    misses = CACHE.misses
    m.predict(s)
    assert CACHE.misses == misses  # fit searched every period; predict reused them
    off = LightCurveGRU(period_inputs=False, feature_inputs=False, fold=False, **kw).fit(s)
    assert off.static_names_ == ["scale_mag", "log1p_n_obs", "log1p_duration"] and off.input_shape["obs"] == (2,)
    assert off.predict_proba(s).shape == (12, 2)
