"""The one model API: fit/predict/evaluate/save/load/jacobian/hessian on the baseline models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from astrotorch.datasets.toy import xsinx
from astrotorch.errors import (
    EmptyDatasetError,
    InputValidationError,
    ModelFolderError,
    NotFittedError,
    ShapeMismatchError,
    UnknownModelError,
)
from astrotorch.models import AstroModel, create_model, list_models, load_folder, register_model

MAGIC = -9999.0


def linear_data(n=400, seed=0, d_in=4, d_out=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)).astype(np.float32) * [1, 10, 100, 0.1][:d_in]
    w = rng.normal(size=(d_in, d_out)).astype(np.float32) / np.array([1, 10, 100, 0.1][:d_in])[:, None]
    y = (x @ w + 3.0).astype(np.float32) * np.array([1.0, 50.0][:d_out])
    return x, y.astype(np.float32)


def small(name, **kw):
    kw.setdefault("max_epochs", 3)
    kw.setdefault("batch_size", 32)
    return create_model(name, **kw)


def test_registry_lists_baselines_and_rejects_unknown():
    names = list_models()
    for n in ("mlp", "bayesian_mlp", "linear", "knn"):
        assert n in names
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        create_model("nope")


def test_params_are_constructor_arguments():
    m = create_model("mlp", num_hidden=(8,), lr=0.01, max_epochs=2)
    p = m.get_params()
    assert p["num_hidden"] == (8,) and p["lr"] == 0.01 and p["max_epochs"] == 2 and p["batch_size"] == 64
    assert "num_hidden=(8,)" in repr(m)
    with pytest.raises(InputValidationError):
        m.set_params(not_a_param=1)
    with pytest.raises(InputValidationError):
        create_model("mlp", task="clustering")


def test_fit_returns_self_and_learns_linear_map():
    x, y = linear_data()
    m = create_model("mlp", num_hidden=(32,), max_epochs=60, lr=0.01, early_stopping_patience=None, seed=1,
                     input_norm_mode=2)
    assert m.fit(x[:300], y[:300]) is m
    pred = m.predict(x[300:])
    assert pred.shape == (100, 2)
    # error well below the label spread (std of y ~ 1 and ~50)
    rel = np.abs(pred - y[300:]).mean(0) / y[300:].std(0)
    assert (rel < 0.15).all(), rel
    assert {"loss", "val_loss", "epoch"} <= set(m.history.columns)


def test_linear_and_knn_baselines_fit_predict_and_ignore_missing_labels():
    x, y = linear_data(600)
    y_missing = y.copy()
    y_missing[::3, 0] = MAGIC
    y_missing[1::7, 1] = np.nan
    lin = create_model("linear", alpha=1e-6).fit(x, y_missing)
    assert np.allclose(lin.predict(x[:20]), y[:20], atol=1e-2 * np.abs(y).max())
    knn = create_model("knn", n_neighbors=5).fit(x[:500], y_missing[:500])
    err = np.abs(knn.predict(x[500:]) - y[500:]).mean(0)
    assert (err < y.std(0)).all()
    with pytest.raises(InputValidationError, match="no jacobian"):
        lin.jacobian(x[:2])



def test_linear_regression_shares_one_solve_per_validity_pattern_and_matches_per_label_fits():
    from astrotorch.models.baselines import _columns_by_valid_rows

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (x @ rng.normal(size=(12, 4)) + rng.normal(0, 0.3, (300, 4))).astype(np.float32)
    y[::5, 2] = np.nan  # column 2 has its own rows; 0, 1 and 3 share theirs
    groups = _columns_by_valid_rows(~np.isnan(y))
    assert [cols for cols, _ in groups] == [[0, 1, 3], [2]] and groups[1][1].sum() == 240
    w = rng.uniform(0.5, 2.0, 300)
    together = create_model("linear", alpha=3.0).fit(x, y, sample_weight=w).predict(x[:50])
    for j in range(4):
        alone = create_model("linear", alpha=3.0).fit(x, y[:, j], sample_weight=w).predict(x[:50])
        np.testing.assert_allclose(together[:, j], alone[:, 0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["mlp", "bayesian_mlp", "linear", "knn"])
def test_save_load_gives_identical_predictions(tmp_path, name):
    x, y = linear_data(200)
    m = small(name, targetname=["a", "b"]).fit(x, y)
    m.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "history.csv", "manifest.json", "model.safetensors"]
    m2 = load_folder(tmp_path / "m")
    assert type(m2) is type(m) and m2.targetname == ["a", "b"] and m2.get_params() == m.get_params()
    torch.manual_seed(5)
    p1 = m.predict(x[:10])
    torch.manual_seed(5)
    p2 = m2.predict(x[:10])
    if isinstance(p1, tuple):
        np.testing.assert_allclose(p1[0], p2[0], rtol=1e-6)
        for k in p1[1]:
            np.testing.assert_allclose(p1[1][k], p2[1][k], rtol=1e-6)
    else:
        np.testing.assert_allclose(p1, p2, rtol=1e-6)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["versions"]["torch"] == torch.__version__ and cfg["name"] == name


def _saved(tmp_path: Path) -> Path:
    x, y = linear_data(100)
    small("mlp", max_epochs=1).fit(x, y).save(tmp_path / "m")
    return tmp_path / "m"


def test_altered_weights_are_refused(tmp_path):
    folder = _saved(tmp_path)
    raw = bytearray((folder / "model.safetensors").read_bytes())
    raw[-3] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelFolderError, match="altered"):
        load_folder(folder)


def test_altered_config_missing_file_and_not_a_folder_are_refused(tmp_path):
    folder = _saved(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["params"]["lr"] = 1.0
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match="altered"):
        load_folder(folder)
    folder2 = _saved(tmp_path / "b")
    (folder2 / "model.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="missing model.safetensors"):
        load_folder(folder2)
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match="manifest"):
        load_folder(tmp_path / "empty")


def _rewrite_config(folder: Path, cfg: dict) -> None:
    """Replace config.json and update the manifest to match (an edit the checksum cannot catch)."""
    from astrotorch.io import sha256sum

    (folder / "config.json").write_text(json.dumps(cfg))
    man = json.loads((folder / "manifest.json").read_text())
    man["files"]["config.json"] = sha256sum(folder / "config.json")
    (folder / "manifest.json").write_text(json.dumps(man))


def test_config_with_unknown_hyperparameter_is_refused_even_with_a_consistent_manifest(tmp_path):
    folder = _saved(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["params"]["__class__"] = "os.system"
    _rewrite_config(folder, cfg)
    with pytest.raises(ModelFolderError, match="unknown hyper-parameters"):
        load_folder(folder)


def test_save_refuses_to_overwrite_and_leaves_no_partial_folder(tmp_path):
    folder = _saved(tmp_path)
    m = load_folder(folder)
    with pytest.raises(FileExistsError):
        m.save(folder)
    assert load_folder(folder) is not None  # the original is intact
    leftovers = [p for p in tmp_path.iterdir() if p.name != "m"]
    assert leftovers == []


def test_bad_inputs_raise_clear_errors():
    x, y = linear_data(50)
    m = small("mlp")
    with pytest.raises(NotFittedError):
        m.predict(x)
    with pytest.raises(ShapeMismatchError, match="x has 50 samples but y has 49"):
        m.fit(x, y[:49])
    xn = x.copy()
    xn[3, 1] = np.nan
    with pytest.raises(InputValidationError, match="NaN/inf"):
        m.fit(xn, y)
    with pytest.raises(EmptyDatasetError):
        m.fit(x[:0], y[:0])
    with pytest.raises(InputValidationError, match="numeric"):
        m.fit(np.array([["a", "b"]] * 50), y)
    with pytest.raises(ShapeMismatchError, match="y_err"):
        m.fit(x, y, y_err=np.ones((50, 3)))
    m.fit(x, y)
    with pytest.raises(ShapeMismatchError, match="input shape"):
        m.predict(x[:, :3])
    with pytest.raises(ShapeMismatchError, match="labels"):
        m.evaluate(x, y[:, :1])


def test_missing_labels_train_and_all_missing_gives_finite_weights():
    x, y = linear_data(200)
    y = y.copy()
    y[:50, 0] = MAGIC
    y[50:90, 1] = np.nan
    m = small("bayesian_mlp").fit(x, y)
    pred, std = m.predict(x[:5])
    assert np.isfinite(pred).all() and np.isfinite(std["total"]).all()
    y_all = np.full_like(y, MAGIC)
    m2 = small("mlp", labels_norm_mode=0)
    with pytest.warns(UserWarning, match="every label is missing"):
        m2.fit(x, y_all)
    assert all(torch.isfinite(p).all() for p in m2.network.parameters())


def test_jacobian_matches_finite_differences_in_physical_units():
    x, y = linear_data(300)
    m = create_model("mlp", num_hidden=(16,), activation="tanh", max_epochs=3, seed=0).fit(x, y)
    x0 = x[:3].astype(np.float64)
    jac = m.jacobian(x0)
    assert jac.shape == (3, 2, 4)
    for i in range(4):
        h = 1e-2 * max(1.0, float(np.abs(x0[:, i]).mean()))
        xp, xm = x0.copy(), x0.copy()
        xp[:, i] += h
        xm[:, i] -= h
        fd = (m.predict(xp).astype(np.float64) - m.predict(xm)) / (2 * h)
        np.testing.assert_allclose(jac[:, :, i], fd, rtol=2e-2, atol=1e-3 * np.abs(fd).max())
    np.testing.assert_allclose(m.jacobian(x0, mean_output=True), jac.mean(0), rtol=1e-6)


def test_hessian_matches_finite_differences_of_the_jacobian():
    x, y = linear_data(200, d_in=2, d_out=1)
    m = create_model("mlp", num_hidden=(8,), activation="tanh", max_epochs=2).fit(x, y)
    x0 = x[:2].astype(np.float64)
    hes = m.hessian(x0)
    assert hes.shape == (2, 1, 2, 2)
    for i in range(2):
        h = 1e-2 * max(1.0, float(np.abs(x0[:, i]).mean()))
        xp, xm = x0.copy(), x0.copy()
        xp[:, i] += h
        xm[:, i] -= h
        fd = (m.jacobian(xp) - m.jacobian(xm)) / (2 * h)  # d/dx_i of dy/dx_j
        np.testing.assert_allclose(hes[:, :, :, i], fd, rtol=5e-2, atol=1e-3 * np.abs(hes).max())


def test_bayesian_mlp_learns_xsinx_and_sigma_tracks_true_noise():
    x, y, sigma = xsinx(2000, seed=1)
    # the variance head converges after the mean: generous patience so CPU and CUDA runs both get there
    m = create_model("bayesian_mlp", num_hidden=(64, 64), max_epochs=120, lr=0.005, batch_size=128,
                     dropout_rate=0.05, mc_num=50, early_stopping_patience=15, reduce_lr_patience=4, seed=0)
    m.fit(x, y)
    xt, yt, st = xsinx(1000, seed=2)
    pred, std = m.predict(xt)
    assert np.abs(pred - yt).mean() < 0.6
    # the predictive (aleatoric) σ follows the true noise: strong correlation, right level across x
    r = np.corrcoef(std["predictive"][:, 0], st[:, 0])[0, 1]
    assert r > 0.8, r
    order = np.argsort(xt[:, 0])
    for part in np.array_split(order, 3):
        ratio = np.median(std["predictive"][part, 0]) / np.median(st[part, 0])
        assert 0.6 < ratio < 1.4, ratio
    # σ calibrated on the validation split only: held-out z-scores have unit spread
    metrics = m.evaluate(xt, yt)
    assert 0.85 < metrics["label_0"]["zscore_std"] < 1.15
    assert 0.6 < metrics["label_0"]["coverage_68"] < 0.76
    assert set(std) == {"total", "model", "predictive"}


def test_propagated_uncertainty_with_input_errors():
    x, y, _ = xsinx(800, seed=3)
    m = create_model("bayesian_mlp", num_hidden=(32,), max_epochs=5, mc_num=40).fit(x, y)
    _, std0 = m.predict(x[:50])
    _, std1 = m.predict(x[:50], x_err=np.full((50, 1), 0.5, np.float32))
    assert "propagated" in std1 and "propagated" not in std0
    assert (std1["propagated"] > 0).mean() > 0.8
    np.testing.assert_allclose(std1["total"] ** 2, std1["model"] ** 2 + std1["predictive"] ** 2 + std1["propagated"] ** 2,
                               rtol=1e-4)
    _, std2 = m.predict(x[:50], x_err=np.full((50, 1), 2.0, np.float32))
    assert np.median(std2["propagated"]) > 2 * np.median(std1["propagated"])
    with pytest.raises(ShapeMismatchError, match="x_err"):
        m.predict(x[:5], x_err=np.ones((5, 2)))


def test_base_predict_composes_calibrated_sigma_and_persists_it(tmp_path):
    x, y, _ = xsinx(600, seed=5)
    xe = np.full((20, 1), 0.5, np.float32)
    m = create_model("bayesian_mlp", num_hidden=(16,), max_epochs=2, mc_num=20, calibrate_uncertainty=False).fit(x, y)
    torch.manual_seed(0)
    _, raw = m.predict(x[:20], x_err=xe)
    m.sigma_scale_ = np.array([2.0], np.float32)
    m.propagated_scale_ = np.array([3.0], np.float32)
    m.sigma_floor_ = np.array([0.25], np.float32)
    torch.manual_seed(0)
    _, sig = m.predict(x[:20], x_err=xe)
    np.testing.assert_allclose(sig["model"], 2 * raw["model"], rtol=1e-5)
    np.testing.assert_allclose(sig["propagated"], 6 * raw["propagated"], rtol=1e-5)
    np.testing.assert_allclose(sig["floor"], 0.25)
    np.testing.assert_allclose(sig["total"] ** 2, sig["model"] ** 2 + sig["predictive"] ** 2 + sig["propagated"] ** 2
                               + 0.25 ** 2, rtol=1e-5)
    m.save(tmp_path / "m")
    m2 = load_folder(tmp_path / "m")
    assert (m2.sigma_scale_, m2.propagated_scale_, m2.sigma_floor_) == (2.0, 3.0, 0.25)
    # folders written when the propagated scale and the floor were kept under "extra" still load
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["extra"] = {"propagated_scale": cfg.pop("propagated_scale"), "sigma_floor": cfg.pop("sigma_floor")}
    _rewrite_config(tmp_path / "m", cfg)
    m3 = load_folder(tmp_path / "m")
    assert (m3.propagated_scale_, m3.sigma_floor_) == (3.0, 0.25)
    cfg["sigma_floor"] = [float("nan")]
    _rewrite_config(tmp_path / "m", cfg)
    with pytest.raises(ModelFolderError, match="sigma_floor"):
        load_folder(tmp_path / "m")
    # refitting drops a calibration that belonged to the old weights
    m.fit(x, y)
    assert m.sigma_scale_ is None and m.propagated_scale_ is None and m.sigma_floor_ is None


def test_classification_probabilities_one_hot_and_evaluate():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [3, 3], [0, 4]], np.float32)
    lab = rng.integers(0, 3, 600)
    x = centers[lab] + rng.normal(scale=0.6, size=(600, 2)).astype(np.float32)
    m = create_model("mlp", task="classification", num_hidden=(16,), max_epochs=25, lr=0.01, seed=0)
    m.fit(x[:500], np.eye(3, dtype=np.float32)[lab[:500]])
    probs = m.predict_proba(x[500:])
    assert probs.shape == (100, 3)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(m.classes_, [0, 1, 2])
    assert (m.predict(x[500:]) == probs.argmax(1)).all()  # one-hot y: the labels are the indices
    res = m.evaluate(x[500:], lab[500:])
    assert res["accuracy"] > 0.85 and 0 <= res["ece"] < 0.2
    assert (m.predict_classes(x[500:]) == probs.argmax(1)).all()
    bm = create_model("bayesian_mlp", task="classification", num_hidden=(16,), max_epochs=5, mc_num=20)
    bm.fit(x, lab)
    p, s = bm.predict_proba(x[:7], return_std=True)
    assert p.shape == (7, 3) and s["model"].shape == (7, 3)
    assert bm.predict(x[:7]).shape == (7,) and set(bm.predict(x[:7])) <= {0, 1, 2}


class _TwoInputNet(nn.Module):
    def __init__(self, d_a: int, out: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d_a + 1, out)

    def forward(self, x):
        return self.lin(torch.cat([x["a"], x["b"]], dim=1))


@register_model
class _TwoInput(AstroModel):
    name = "_test_two_input"

    def build_network(self, input_shape, output_dim):
        return _TwoInputNet(input_shape["a"][0], output_dim)


def test_dict_inputs_per_key_normalisation_and_save(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 3)).astype(np.float32) * 100
    b = rng.uniform(0, 2, size=(300, 1)).astype(np.float32)
    y = (a[:, :1] / 100 + 2 * b).astype(np.float32)
    m = _TwoInput(max_epochs=40, lr=0.02, input_norm_mode={"a": 2, "b": 0}, seed=0).fit({"a": a, "b": b}, y)
    assert m._input_norm["b"].mode == 0
    pred = m.predict({"a": a[:20], "b": b[:20]})
    assert np.abs(pred - y[:20]).mean() < 0.2
    m.save(tmp_path / "m")
    np.testing.assert_allclose(load_folder(tmp_path / "m").predict({"a": a[:20], "b": b[:20]}), pred, rtol=1e-6)
    with pytest.raises(ShapeMismatchError, match="different numbers of samples"):
        m.predict({"a": a[:20], "b": b[:19]})


def test_streaming_dataset_input_matches_array_statistics():
    from torch.utils.data import Dataset

    x, y = linear_data(256)

    class Items(Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"x": x[i], "y": y[i]}

    ms = create_model("mlp", max_epochs=2, input_norm_mode=2).fit(Items())
    ma = create_model("mlp", max_epochs=2, input_norm_mode=2).fit(x, y)
    np.testing.assert_allclose(ms._input_norm.center, ma._input_norm.center, rtol=1e-4)
    np.testing.assert_allclose(ms._label_norm.scale, ma._label_norm.scale, rtol=1e-4)
    assert ms.predict(x[:4]).shape == (4, 2)


def test_fit_on_batch_transfer_weights_and_summary():
    x, y = linear_data(64)
    m = create_model("mlp", num_hidden=(8,))
    m.fit_on_batch(x, y)
    before = [p.detach().clone() for p in m.network.parameters()]
    m.fit_on_batch(x, y)
    assert any(not torch.equal(a, b) for a, b in zip(before, m.network.parameters()))
    other = create_model("mlp", num_hidden=(8,), seed=3).fit_on_batch(x, y)
    copied = other.transfer_weights(m, exclude=("head",))
    assert copied and not any(c.startswith("head") for c in copied)
    assert torch.equal(other.network.body[1].weight, m.network.body[1].weight)
    s = m.summary()
    assert "Total params" in s or "params" in s.lower()
    assert m.n_parameters() == sum(p.numel() for p in m.network.parameters())


def test_calibrate_uncertainty_uses_validation_split_only():
    x, y, _ = xsinx(1500, seed=4)
    m = create_model("bayesian_mlp", num_hidden=(32,), max_epochs=8, calibrate_uncertainty=True, mc_num=30, seed=0)
    m.fit(x, y)
    assert m.sigma_scale_ is not None and m.sigma_scale_.shape == (1,) and np.all(m.sigma_scale_ > 0)


def test_training_label_range_is_recorded_saved_and_flags_extrapolation(tmp_path):
    from torch.utils.data import Dataset

    x, y = linear_data(200)
    y[5, 1] = np.nan  # a missing label does not enter the range
    y[6, 0] = MAGIC
    m = small("mlp", max_epochs=1).fit(x, y)
    lab = np.where(np.isnan(y) | (y == MAGIC), np.nan, y)
    np.testing.assert_allclose(m.label_range_, [np.nanmin(lab, 0), np.nanmax(lab, 0)], rtol=1e-6)
    lo, hi = m.label_range_
    probe = np.array([[lo[0], hi[1]], [lo[0] - 1, 0.5 * (lo[1] + hi[1])], [0.5 * (lo[0] + hi[0]), hi[1] + 1e-3],
                      [np.nan, lo[1]]])
    assert m.outside_training_range(probe).tolist() == [[False, False], [True, False], [False, True], [False, False]]
    with pytest.raises(ShapeMismatchError, match=r"\(N, 2\)"):
        m.outside_training_range(np.zeros((2, 3)))
    # warm start on new labels widens the range; a fresh fit replaces it
    m.fit(x[10:60], y[10:60] + 1000.0, warm_start=True)  # rows 10-59 carry every label
    assert m.label_range_[1, 0] == pytest.approx(lab[10:60, 0].max() + 1000.0) and m.label_range_[0, 0] == pytest.approx(lo[0])
    m.fit(x[10:60], y[10:60] + 1000.0)
    assert m.label_range_[0, 0] == pytest.approx(lab[10:60, 0].min() + 1000.0)
    # saved and validated on load
    folder = m.save(tmp_path / "m")
    np.testing.assert_allclose(load_folder(folder).label_range_, m.label_range_)
    cfg = json.loads((folder / "config.json").read_text())
    for bad in ([[1.0, 2.0]], [[3.0, 0.0], [1.0, 1.0]], "wide", [[0.0, "a"], [1.0, 1.0]]):
        cfg["label_range"] = bad
        _rewrite_config(folder, cfg)
        with pytest.raises(ModelFolderError, match="label_range"):
            load_folder(folder)
    cfg["label_range"] = None  # a folder saved before the range was recorded
    _rewrite_config(folder, cfg)
    old = load_folder(folder)
    assert old.label_range_ is None
    with pytest.raises(InputValidationError, match="no training label range"):
        old.outside_training_range(probe)

    class Items(Dataset):  # streaming: the same range from the one statistics pass
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"x": x[i], "y": y[i]}

    ms = small("mlp", max_epochs=1).fit(Items())
    np.testing.assert_allclose(ms.label_range_, [np.nanmin(lab, 0), np.nanmax(lab, 0)], rtol=1e-6)
    xc = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    clf = small("mlp", task="classification", max_epochs=1).fit(xc, (xc[:, 0] > 0).astype(int))
    assert clf.label_range_ is None
