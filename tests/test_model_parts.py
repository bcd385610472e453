"""The model's parts one by one: data (input normalisation), gradients (astroNN keywords),
persistence (astroNN folder naming, load_folder()), evaluation (astroNN argument order)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from astrotorch.models import create_model, load_folder
from astrotorch.models.data import normalize_inputs
from astrotorch.nn.normalizer import Normalizer


def _xy(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32) * [1.0, 10.0]
    return x.astype(np.float32), np.stack([np.sin(x[:, 0]) + 0.1 * x[:, 1], x[:, 0] * 3], 1).astype(np.float32)


@pytest.mark.parametrize("mode,fill", [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), ("3s", 0.5), (255, 0.0)])
def test_normalize_inputs_replaces_the_magic_number_per_mode(mode, fill):
    x = np.array([[1.0, 2.0], [3.0, -9999.0], [5.0, 6.0]], np.float32)
    norm = Normalizer(mode=mode).fit(x)
    z = normalize_inputs(norm, x)
    assert z.dtype == np.float32 and z[1, 1] == np.float32(fill)
    np.testing.assert_allclose(z[[0, 2]], norm.transform(x)[[0, 2]])


def test_jacobian_astronn_keywords():
    x, y = _xy()
    m = create_model("mlp", num_hidden=(16,), activation="tanh", max_epochs=2, progress="none", input_norm_mode=2).fit(x, y)
    phys = m.jacobian(x[:4])
    norm = m.jacobian(x[:4], denormalize=False)
    out_scale = np.asarray(m._label_norm.scale).reshape(1, -1, 1)
    in_scale = np.asarray(m._input_norm.scale).reshape(1, 1, -1)
    np.testing.assert_allclose(phys, norm * out_scale / in_scale, rtol=1e-5)
    np.testing.assert_allclose(m.jacobian(x[:4], mc_num=5), phys, rtol=1e-6)  # no dropout: one pass is exact
    h = m.hessian(x[:2], mean_output=True, denormalize=False)
    assert h.shape == (2, 2, 2)


def test_jacobian_monte_carlo_average_over_dropout_masks():
    x, y = _xy()
    m = create_model("bayesian_mlp", num_hidden=(32,), dropout_rate=0.3, max_epochs=2, progress="none").fit(x, y)
    det = m.jacobian(x[:3])
    mc1 = m.jacobian(x[:3], mc_num=1)
    np.testing.assert_array_equal(det, mc1)
    mc = m.jacobian(x[:3], mc_num=200)
    assert not np.allclose(mc, det, rtol=1e-6)  # the masks change the derivative ...
    assert np.abs(mc - det).mean() < 0.5 * np.abs(det).mean()  # ... but average out near the mean network
    with pytest.raises(ValueError, match="mc_num"):
        m.jacobian(x[:3], mc_num=0)


def test_save_without_folder_uses_astronn_names_and_load_folder_reads_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = _xy()
    m = create_model("linear").fit(x, y)
    stamp = dt.date.today().strftime("%m%d")
    first = m.save()
    assert first.name == f"astrotorch_{stamp}_run001" and m.folder_name == str(first)
    other = create_model("linear").fit(x, y)
    assert other.save().name == f"astrotorch_{stamp}_run002"
    with pytest.raises(FileExistsError):
        m.save()  # folder_name is reused, as astroNN does
    m.folder_name = "custom"
    assert m.save().name == "custom"
    monkeypatch.chdir(first)
    loaded = load_folder()
    np.testing.assert_array_equal(loaded.predict(x), m.predict(x))
    assert loaded.folder_name == str(tmp_path / first.name)


def test_evaluate_takes_astronn_argument_order():
    from astrotorch.datasets.toy import xsinx

    x, y, sigma = xsinx(300, seed=0)
    m = create_model("bayesian_mlp", num_hidden=(16,), max_epochs=2, mc_num=10, progress="none").fit(x, y)
    x_err = np.full_like(x, 0.1)
    res = m.evaluate(x, y, x_err, sigma)  # inputs, labels, inputs_err, labels_err
    plain = m.evaluate(x, y)
    assert res["label_0"]["n"] == 300 and "zscore_std" in res["label_0"]
    assert res["label_0"]["zscore_std"] < plain["label_0"]["zscore_std"]  # the extra σ terms are used
