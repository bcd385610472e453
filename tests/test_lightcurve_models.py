"""lc_transformer, lc_gru and lc_features on the AstroModel API (small synthetic sets, few epochs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotorch.datasets.synthetic_lightcurves import make_synthetic_lightcurves
from astrotorch.errors import EmptyDatasetError, InputValidationError, NotFittedError
from astrotorch.lightcurves import EncodeOptions, LightCurveSet, encode, pad_encoded
from astrotorch.models import load_folder
from astrotorch.models.arch.lightcurves import LightCurveGRUNet, LightCurveTransformerNet
from astrotorch.models.lightcurves import (
    REGRESSION_LOSSES,
    LightCurveFeatures,
    LightCurveGRU,
    LightCurveTransformer,
    kl_sparsity_penalty,
    kl_sparsity_rmse,
)
from astrotorch.models.registry import create_model

SMALL = dict(d_model=16, n_heads=2, n_layers=1, dim_feedforward=32, max_length=48, batch_size=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def two_class():
    # RR Lyrae vs SN Ia: easy to tell apart, so a few epochs must beat chance clearly
    data = make_synthetic_lightcurves(96, classes=("SNIa", "RRL"), balanced=True, seed=3, ddf_fraction=0.0)
    return data.split(0.25, seed=0)


def _enc(n=6, seed=0):
    s = make_synthetic_lightcurves(n, seed=seed, ddf_fraction=0.0)
    return [encode(lc, EncodeOptions()) for lc in s]


def test_networks_ignore_padding():
    enc = _enc()
    torch.manual_seed(0)
    for net in (LightCurveTransformerNet(6, 2, 3, 4, d_model=16, n_heads=2), LightCurveGRUNet(6, 2, 3, 4, hidden=16)):
        net.eval()
        with torch.no_grad():
            a = net(pad_encoded(enc))
            b = net(pad_encoded(enc, pad_to=600))
            c = torch.cat([net(pad_encoded([e])) for e in enc])
        assert torch.allclose(a, b, atol=1e-5)
        assert torch.allclose(a, c, atol=1e-5)


def test_time_encoding_uses_real_times():
    enc = _enc(2)
    net = LightCurveTransformerNet(6, 2, 3, 4, d_model=16, n_heads=2).eval()
    b = pad_encoded(enc)
    b2 = dict(b)
    b2["time"] = b["time"] * 2.0  # same order, different times → different output
    with torch.no_grad():
        assert not torch.allclose(net(b), net(b2))


def test_transformer_learns_and_roundtrips(two_class, tmp_path):
    tr, te = two_class
    m = LightCurveTransformer(max_epochs=6, lr=3e-3, seed=0, val_size=0.0, early_stopping_patience=None, **SMALL)
    m.fit(tr)
    assert m.targetname == ["SNIa", "RRL"] and m.classes_.tolist() == ["SNIa", "RRL"]  # the set's class order
    p = m.predict_proba(te)
    assert p.shape == (len(te), 2) and np.allclose(p.sum(1), 1, atol=1e-5)
    labels = m.predict(te)
    assert labels.shape == (len(te),) and set(labels.tolist()) <= {"SNIa", "RRL"}
    assert np.array_equal(labels, m.classes_[p.argmax(1)])
    rep = m.evaluate(te)
    assert rep["accuracy"] >= 0.75, rep
    assert m.score(te) == pytest.approx(rep["accuracy"])
    m.save(tmp_path / "m")
    m2 = load_folder(tmp_path / "m")
    assert isinstance(m2, LightCurveTransformer)
    assert np.allclose(m2.predict_proba(te), p, atol=1e-6)
    assert np.array_equal(m2.predict(te), labels) and m2.classes_.tolist() == ["SNIa", "RRL"]
    assert m.history is not None and len(m.history) == 6


def test_predict_order_independent_of_buckets(two_class):
    tr, te = two_class
    m = LightCurveGRU(max_epochs=1, hidden=16, max_length=48, batch_size=16, val_size=0.0, seed=0).fit(tr)
    sub = te[:9]
    p_all = m.predict_proba(sub, batch_size=4)
    p_one = np.concatenate([m.predict_proba(sub[[i]]) for i in range(len(sub))])
    assert np.allclose(p_all, p_one, atol=1e-5)


def test_gru_and_early_classification(two_class):
    tr, te = two_class
    m = LightCurveGRU(max_epochs=2, hidden=16, first_days=30.0, max_length=48, batch_size=16, seed=0)
    m.fit(tr)
    p = m.predict_proba(te)
    assert p.shape == (len(te), 2) and np.isfinite(p).all()


def test_pretrain_then_frozen_finetune(two_class):
    tr, _ = two_class
    m = LightCurveTransformer(max_epochs=1, seed=0, val_size=0.0, loss="mse", weight_by_error=True, **SMALL)
    m.pretrain(tr, max_epochs=1, mask_fraction=0.3)
    assert np.isfinite(m.pretrain_history["loss"]).all()
    pre = {k: v.clone() for k, v in m._pretrained.items()}
    m.fit(tr, freeze_encoder=True)
    sd = m.network.state_dict()
    # encoder weights start from the pretrained ones and stay frozen; the head trains
    assert torch.equal(sd["obs_proj.weight"], pre["obs_proj.weight"])
    assert torch.equal(sd["encoder.layers.0.linear1.weight"], pre["encoder.layers.0.linear1.weight"])
    assert not torch.equal(sd["head.0.weight"], m.build_network(m.input_shape, 2).state_dict()["head.0.weight"])


def test_pretrain_kl_sparsity_loss_runs(two_class):
    tr, _ = two_class
    m = LightCurveTransformer(max_epochs=1, seed=0, val_size=0.0, loss="kl_sparsity_rmse", **SMALL)
    m.pretrain(tr[:16], max_epochs=1)
    assert np.isfinite(m.pretrain_history["loss"]).all()


@pytest.mark.parametrize("loss", REGRESSION_LOSSES)
def test_regression_losses(two_class, loss):
    tr, _ = two_class
    z = tr.meta_array("redshift") + 0.1  # positive (msle)
    m = LightCurveGRU(task="regression", loss=loss, max_epochs=1, hidden=8, max_length=24, batch_size=32,
                      val_size=0.0, seed=0)
    m.fit(tr[:32], z[:32], y_err=np.full(32, 0.01))
    pred = m.predict(tr[:4])
    assert pred.shape == (4, 1) and np.isfinite(pred).all()
    assert m.label_range_.tolist() == [[float(np.float32(z[:32].min()))], [float(np.float32(z[:32].max()))]]


def test_kl_sparsity_hand_value():
    latent = torch.zeros(4, 3)  # sigmoid(0) = 0.5 → KL(0.05 || 0.5) per unit
    kl = 0.05 * np.log(0.05 / 0.5) + 0.95 * np.log(0.95 / 0.5)
    assert kl_sparsity_penalty(latent, 0.05).item() == pytest.approx(3 * kl, rel=1e-5)
    y = torch.tensor([[1.0], [3.0]])
    yp = torch.tensor([[2.0], [3.0]])
    val = kl_sparsity_rmse(y, yp, latent, rho=0.05, beta=0.5)
    assert val.item() == pytest.approx(np.sqrt(0.5) + 0.5 * 3 * kl, rel=1e-4)


def test_class_weights_balanced():
    data = make_synthetic_lightcurves(40, classes=("SNIa", "RRL"), class_probs={"SNIa": 0.8, "RRL": 0.2}, seed=1,
                                      ddf_fraction=0.0)
    m = LightCurveGRU(max_epochs=1, hidden=8, max_length=16, val_size=0.0, seed=0).fit(data)
    counts = np.bincount(data.class_indices(), minlength=2)
    assert m.class_weights_ == pytest.approx(len(data) / (2 * counts))


def test_features_model_roundtrip_without_pickle(two_class, tmp_path):
    tr, te = two_class
    # periodogram and Bazin features are exercised in test_lightcurves_data; keep this test fast
    m = LightCurveFeatures(max_iter=30, periodogram=False, bazin_fit=False).fit(tr)
    p = m.predict_proba(te)
    assert m.evaluate(te)["accuracy"] >= 0.8
    assert np.array_equal(m.predict(te), m.classes_[p.argmax(1)])
    m.save(tmp_path / "f")
    assert sorted(f.name for f in (tmp_path / "f").iterdir()) == [
        "config.json", "history.csv", "manifest.json", "model.safetensors"]
    m2 = load_folder(tmp_path / "f")
    assert np.array_equal(m2.predict_proba(te), p)
    assert m2.dropped_features_ == m.dropped_features_
    # the fitted booster is saved (skops bytes), not the training set
    from safetensors.numpy import load_file

    assert list(load_file(tmp_path / "f" / "model.safetensors")) == ["booster_0"]


def test_features_regressor_roundtrip_and_earlier_layout(two_class, tmp_path):
    import torch

    tr, te = two_class
    y = np.linspace(0.1, 2.0, len(tr))
    m = LightCurveFeatures(max_iter=20, periodogram=False, bazin_fit=False, task="regression").fit(tr, np.c_[y, 2 * y])
    m.save(tmp_path / "r")
    assert np.array_equal(load_folder(tmp_path / "r").predict(te), m.predict(te))
    # a folder of the earlier layout (training features and labels, refitted at load) still loads
    m3 = LightCurveFeatures(max_iter=20, periodogram=False, bazin_fit=False, task="regression")
    m3.__dict__.update({k: v for k, v in m.__dict__.items() if k.endswith("_") or k.startswith("_")})
    X = m.features(tr)
    m3.load_state_tensors({"features": torch.as_tensor(X), "labels": torch.as_tensor(np.c_[y, 2 * y])})
    assert np.allclose(m3.predict(te), m.predict(te))


def test_features_booster_refuses_types_outside_the_allowlist():
    import os

    import skops.io as sio
    import torch
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from astrotorch.errors import ModelFolderError
    from astrotorch.models.lightcurve_features import booster_from_tensor

    # a booster whose file would call os.system when used: refused before anything is loaded
    est = make_pipeline(FunctionTransformer(os.system), HistGradientBoostingClassifier(max_iter=3))
    raw = torch.frombuffer(bytearray(sio.dumps(est)), dtype=torch.uint8)
    with pytest.raises(ModelFolderError, match=r"outside the allowlist: \['posix.system'\]"):
        booster_from_tensor(raw, "booster_0")
    with pytest.raises(ModelFolderError, match="not a readable booster"):
        booster_from_tensor(torch.arange(100, dtype=torch.uint8), "booster_0")


def test_registry_and_errors(two_class):
    tr, _ = two_class
    assert isinstance(create_model("lc_transformer"), LightCurveTransformer)
    assert isinstance(create_model("lc_gru"), LightCurveGRU)
    assert isinstance(create_model("lc_features"), LightCurveFeatures)
    m = LightCurveTransformer(**SMALL)
    with pytest.raises(NotFittedError):
        m.predict(tr)
    with pytest.raises(InputValidationError):
        m.fit(np.zeros((4, 10)))
    with pytest.raises(EmptyDatasetError):
        m.fit(LightCurveSet([]))
    with pytest.raises(InputValidationError):
        LightCurveTransformer(padding="sometimes")
    with pytest.raises(InputValidationError):
        LightCurveTransformer(loss="nope")
    g = LightCurveGRU(max_epochs=1, hidden=8, max_length=16, val_size=0.0).fit(tr)
    other = LightCurveSet([lc.copy(bands=("u", "g", "r", "i", "z", "Y")) for lc in tr[:2]])
    with pytest.raises(InputValidationError):
        g.predict(other)


def test_cli_train_lightcurves_writes_run_folder(tmp_path):
    import json

    from astrotorch.cli.train_lightcurves import train_lightcurves

    out = train_lightcurves(model="lc_gru", data="synthetic", epochs=1, out=tmp_path / "run", n_synthetic=48,
                            batch_size=16, max_length=32)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "weighted_log_loss", "confusion_matrix"} <= set(metrics)
    assert metrics["n_train"] + metrics["n_test"] == 48
    for name in ("confusion_matrix.png", "roc.png", "examples.png"):
        assert (out / "plots" / name).stat().st_size > 0
    assert isinstance(load_folder(out / "model"), LightCurveGRU)
    with pytest.raises(InputValidationError):
        train_lightcurves(data="hdf5:/nowhere", out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("name", ["lc_transformer", "lc_gru", "lc_features"])
def test_scikit_learn_classifier_protocol(two_class, name):
    """clone, classes_, predict → labels, predict_proba, score, evaluate; fit takes Lightning's
    callbacks/logger/trainer_kwargs and leaves the caller's global random state alone."""
    import lightning as L
    from sklearn.base import clone, is_classifier

    tr, te = two_class
    kw = ({"max_iter": 10, "periodogram": False, "bazin_fit": False} if name == "lc_features" else
          {**({"d_model": 16, "n_heads": 2, "n_layers": 1, "dim_feedforward": 32} if name == "lc_transformer"
              else {"hidden": 16, "n_layers": 1}), "max_epochs": 2, "max_length": 48, "period_inputs": False,
           "feature_inputs": False})
    m = create_model(name, progress="none", meta_keys=[], **kw)
    assert clone(m).get_params() == m.get_params() and is_classifier(m)
    assert m.get_params()["meta_keys"] == []  # stored exactly as given

    class Count(L.Callback):
        epochs = 0

        def on_train_epoch_end(self, trainer, pl_module):
            Count.epochs += 1

    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    fit_kw = {} if name == "lc_features" else {"callbacks": [Count()], "trainer_kwargs": {"max_epochs": 1}}
    m.fit(tr, **fit_kw)
    assert np.array_equal(np.random.get_state()[1], state)
    if name != "lc_features":
        assert Count.epochs == 1  # the callback ran, trainer_kwargs won over max_epochs
    assert sorted(m.classes_.tolist()) == ["RRL", "SNIa"]
    labels = m.predict(te)
    probs = m.predict_proba(te)
    assert probs.shape == (len(te), 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.array_equal(labels, m.classes_[probs.argmax(1)])
    assert m.score(te) == pytest.approx(np.mean(labels == te.labels()))
    rep = m.evaluate(te)
    assert rep["accuracy"] == pytest.approx(m.score(te))
    with pytest.raises(InputValidationError, match="Bayesian"):
        m.predict_proba(te, return_std=True)
