"""astroNN's model methods (AstroNNModelMixin) composed onto astrotorch models.

The mixin is composed here by hand (``type("M", (AstroNNModelMixin, cls), {})``) so the tests pass both
before and after it joins AstroModel's bases.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from astrotorch.errors import InputValidationError, NotFittedError
from astrotorch.models.astronn_api import AstroNNModelMixin
from astrotorch.models.astronn_folder import load_astronn_folder
from astrotorch.models.galaxy import Galaxy10CNN
from astrotorch.models.generative import ApogeeCVAE
from astrotorch.models.spectra import ApogeeBCNN, ApogeeCNN
from astrotorch.nn.astronn_callbacks import VirutalCSVLogger

DATA = Path(__file__).parent / "data"


def compose(cls):
    # AstroModel has the mixin among its bases: every model class already carries it
    assert issubclass(cls, AstroNNModelMixin)
    return cls


def with_mixin(model):
    model.__class__ = compose(type(model))
    return model


def spectra(n=160, length=32, seed=0):
    rng = np.random.default_rng(seed)
    x = (1 + 0.05 * rng.standard_normal((n, length))).astype(np.float32)
    y = np.stack([x[:, :8].mean(1) * 100, x[:, 8:16].mean(1) * 10], 1).astype(np.float32)
    return x, y


SMALL = dict(num_hidden=(8, 4), max_epochs=1, batch_size=32, accelerator="cpu")


def test_train_and_test_regression():
    x, y = spectra()
    net = compose(ApogeeCNN)(**SMALL)
    assert not net.has_model
    with pytest.raises(NotFittedError):
        net.get_layer("output")
    assert net.train(x, y) is net and net.has_model
    np.testing.assert_array_equal(net.test(x[:5]), net.predict(x[:5]))
    assert net.output_shape == (2,) and net.keras_model is net.network and net.uses_learning_phase
    np.testing.assert_allclose(net.input_mean, net._input_norm.center)
    np.testing.assert_allclose(net.labels_std, net._label_norm.scale)
    before = [w.copy() for w in net.get_weights()]
    net.train_on_batch(x[:32], y[:32])
    assert any(not np.array_equal(a, b) for a, b in zip(before, net.get_weights()))
    with pytest.raises(InputValidationError, match="at most"):
        net.train(x, y, None, None)  # a deterministic model takes only sample_weight after x, y


def test_bayesian_train_positional_errors_and_test():
    x, y = spectra()
    net = compose(ApogeeBCNN)(**SMALL, mc_num=5, calibrate_uncertainty=False)
    net.train(x, y, None, np.full_like(y, 0.1))  # astroNN: train(x, y, inputs_err, labels_err)
    pred, sigma = net.test(x[:4])
    assert pred.shape == (4, 2) and set(sigma) >= {"total", "model", "predictive"}
    pred2, sigma2 = net.test(x[:4], inputs_err=np.full_like(x[:4], 0.01))
    assert "propagated" in sigma2
    with pytest.raises(InputValidationError, match="twice"):
        net.train(x, y, None, labels_err=np.zeros_like(y), y_err=np.zeros_like(y))


def test_classifier_test_returns_probabilities():
    model = with_mixin(load_astronn_folder(DATA / "astronn_galaxy10_cnn"))
    ref = np.load(DATA / "astronn_galaxy10_cnn.npz")
    probs = model.test(ref["x"])
    assert probs.shape == (len(ref["x"]), 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, ref["pred"], atol=1e-6)


def test_dr14_test_returns_fakemag():
    from astrotorch.models.astronn_folder import astronn_dr14_input
    from astrotorch.models.base import deterministic_layers

    model = with_mixin(load_astronn_folder(DATA / "astronn_apogee_dr14_gaiadr2_bcnn"))
    ref = np.load(DATA / "astronn_apogee_dr14_gaiadr2_bcnn.npz")
    with deterministic_layers(model.network):
        fakemag, _ = model.test(astronn_dr14_input(ref["x"]))
    np.testing.assert_allclose(fakemag, ref["pred"], atol=1e-4)


def test_autosave_and_callbacks(tmp_path, monkeypatch):
    x, y = spectra()
    net = compose(ApogeeCNN)(**dict(SMALL, max_epochs=2), early_stopping_patience=None)
    logger = VirutalCSVLogger()
    net.callbacks = [logger]
    net.autosave = True
    net.folder_name = str(tmp_path / "run")
    net.train(x, y)
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert [int(r["epoch"]) for r in logger.history] == [0, 1]
    assert "build_trainer" not in net.__dict__  # the per-fit wrapper is removed again
    path = logger.savefile(tmp_path)
    assert path.read_text().splitlines()[0].startswith("epoch")
    net.autosave = False
    net.callbacks = None
    net.train(x, y)  # no callbacks: plain fit


def test_get_layer_config_and_weights_files(tmp_path):
    model = with_mixin(load_astronn_folder(DATA / "astronn_apogee_cnn"))
    assert isinstance(model.get_layer("output"), torch.nn.Linear)
    assert isinstance(model.get_layer(index=-1), torch.nn.Linear)
    with pytest.raises(InputValidationError, match="no layer named"):
        model.get_layer("nope")
    with pytest.raises(InputValidationError, match="exactly one"):
        model.get_layer()
    cfg = model.get_config()
    assert cfg["id"] == "ApogeeCNN" and cfg["output_shape"] == (3,) and cfg["num_hidden"] == (8, 4)
    h5 = model.save_weights(tmp_path / "w.h5")
    with h5py.File(h5) as f:
        np.testing.assert_array_equal(f["output.weight"][()], model.network.output.weight.detach().numpy())
    st = model.save_weights(tmp_path / "w.safetensors")
    assert torch.equal(load_file(st)["output.bias"], model.network.output.bias.detach())
    with pytest.raises(InputValidationError, match="overwrite=False"):
        model.save_weights(h5, overwrite=False)
    with pytest.raises(InputValidationError, match="safetensors"):
        model.save_weights(tmp_path / "w.pkl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.h5", "w.safetensors"]


def test_plots(tmp_path, monkeypatch):
    model = with_mixin(load_astronn_folder(DATA / "astronn_starnet2017"))
    monkeypatch.chdir(tmp_path)
    path = model.plot_model()
    assert path == Path("model.png") and path.read_bytes()[:4] == b"\x89PNG"
    model.folder_name = str(tmp_path / "sub")
    (tmp_path / "sub").mkdir()
    assert model.plot_model("arch.png").parent == tmp_path / "sub"
    fig = model.plot_dense_stats()
    assert len(fig.axes) == 3
    model.flush()


def test_vae_astronn_methods():
    model = with_mixin(load_astronn_folder(DATA / "astronn_apogee_cvae"))
    ref = np.load(DATA / "astronn_apogee_cvae.npz")
    np.testing.assert_allclose(model.test_encoder(ref["x"]), ref["z_mean"], atol=1e-4)
    np.testing.assert_allclose(model.test(ref["x"]), ref["pred"], atol=1e-4)
    with pytest.raises(InputValidationError, match="no encoder"):
        with_mixin(load_astronn_folder(DATA / "astronn_apogee_cnn")).test_encoder(ref["x"])


def test_astronn_architecture_vaes_train():
    x, _ = spectra(length=32)
    vae = compose(ApogeeCVAE)(architecture="astronn", num_hidden=(8, 4), latent_dim=2, max_epochs=1, batch_size=32,
                              accelerator="cpu")
    vae.train(x)
    assert vae.test(x[:3]).shape == (3, 32)
    jac = vae.jacobian_latent(x[:3], denormalize=True)
    jac_mc = vae.jacobian_latent(x[:3], mean_output=True, mc_num=3)
    assert jac.shape == (3, 2, 32) and jac_mc.shape == (2, 32)
    with pytest.raises(InputValidationError, match="mc_num"):
        vae.jacobian_latent(x[:3], mc_num=0)
    with pytest.raises(InputValidationError, match="architecture"):
        ApogeeCVAE(architecture="keras")


def test_galaxy10_small_widths_train():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (64, 16, 16, 3)).astype(np.uint8)
    labels = np.eye(10)[rng.integers(0, 10, 64)]
    net = compose(Galaxy10CNN)(num_filters=(2, 4), num_hidden=(8, 4), max_epochs=1, batch_size=32, accelerator="cpu")
    net.train(imgs, labels)
    assert net.test(imgs[:2]).shape == (2, 10) and net.network.fc1.out_features == 8


def test_simple_poly_nn():
    from astrotorch.models.polynn import SimplePloyNN, SimplePolyNN

    assert SimplePloyNN is SimplePolyNN
    rng = np.random.default_rng(2)
    x = rng.normal(0, 3, (256, 1)).astype(np.float32)
    y = (0.1 - 0.05 * x + 0.02 * x**2).astype(np.float32)
    exact = SimplePolyNN(num_hidden=2, init_w=[[[0.1]], [[-0.05]], [[0.02]]], max_epochs=1, accelerator="cpu")
    exact.fit(x, y)
    np.testing.assert_allclose(exact.predict(x[:5]), y[:5], atol=1e-4)
    net = compose(SimplePolyNN)(num_hidden=2, max_epochs=30, lr=0.05, batch_size=64, accelerator="cpu",
                                early_stopping_patience=None)
    net.train(x, y)
    assert net.targetname == ["unbiased_parallax"] and np.abs(net.test(x) - y).mean() < 0.1
    with pytest.raises(InputValidationError, match="degree"):
        SimplePolyNN(num_hidden=-1)
