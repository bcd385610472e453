"""astroNN-saved model folders → astrotorch models: predictions equal astroNN's to ≤ 1e-4 in label units.

Fixtures (tests/data/astronn_<model>/ and astronn_<model>.npz) were written by the real astroNN 1.1.0
with ``tests/data/make_astronn_fixtures.py``: small-width networks trained one epoch, saved with
astroNN's ``save()``, and astroNN's predictions on fixed inputs (dropout off) stored beside them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from astrotorch.errors import InputValidationError, ModelFolderError
from astrotorch.models import load_folder
from astrotorch.models.astronn_folder import (
    astronn_dr14_input,
    astronn_normalizer,
    is_astronn_folder,
    load_astronn_folder,
)
from astrotorch.models.base import deterministic_layers

DATA = Path(__file__).parent / "data"
TOL = 1e-4  # label units


def _ref(name: str) -> dict[str, np.ndarray]:
    with np.load(DATA / f"astronn_{name}.npz") as f:
        return {k: f[k] for k in f.files}


def _predict_dropout_off(model, x):
    with deterministic_layers(model.network):
        return model.predict(x)


@pytest.mark.parametrize("name,cls", [("apogee_cnn", "ApogeeCNN"), ("starnet2017", "StarNet2017"),
                                      ("galaxy10_cnn", "Galaxy10CNN"), ("cifar10_cnn", "Cifar10CNN")])
def test_deterministic_models_match_astronn(name, cls):
    ref = _ref(name)
    model = load_astronn_folder(DATA / f"astronn_{name}")
    assert type(model).__name__ == cls
    classifier = model.task == "classification"
    pred = model.predict_proba(ref["x"]) if classifier else model.predict(ref["x"])
    if classifier:  # scikit-learn's convention: predict gives the most probable class
        np.testing.assert_array_equal(model.predict(ref["x"]), model.classes_[np.argmax(ref["pred"], axis=1)])
    assert pred.shape == ref["pred"].shape
    assert np.max(np.abs(pred - ref["pred"])) <= TOL  # measured: ≤ 4e-6 (spectra), 1.5e-8 (probabilities)
    assert list(model.history.columns)[0] == "epoch"  # training_history.csv comes along


def test_apogee_cnn_metadata_and_normalisation():
    model = load_astronn_folder(DATA / "astronn_apogee_cnn")
    params = json.loads((DATA / "astronn_apogee_cnn" / "astroNN_model_parameter.json").read_text())
    assert model.targetname == ["teff", "logg", "Fe_H"]
    assert model.num_hidden == (8, 4) and model.input_norm_mode == 3 and model.labels_norm_mode == 2
    assert model.lr == pytest.approx(0.005)  # from hyperparameter.txt
    np.testing.assert_allclose(model._input_norm.center, params["input_mean"]["input"], rtol=1e-12)
    np.testing.assert_allclose(model._label_norm.scale, params["labels_std"]["output"], rtol=1e-12)


def test_galaxy10_class_names_from_the_folder():
    model = load_astronn_folder(DATA / "astronn_galaxy10_cnn")
    names = json.loads((DATA / "astronn_galaxy10_cnn" / "astroNN_model_parameter.json").read_text())["targetname"]
    assert model.targetname == names and model.task == "classification"


def test_bayesian_cnn_matches_astronn_with_dropout_off():
    ref = _ref("apogee_bcnn")
    model = load_astronn_folder(DATA / "astronn_apogee_bcnn")
    assert model.bayesian and model.sigma_scale_ is None  # no astrotorch recalibration on a converted model
    pred, sigma = _predict_dropout_off(model, ref["x"])
    assert np.max(np.abs(pred - ref["pred"])) <= TOL
    np.testing.assert_allclose(sigma["predictive"], ref["pred_std"], rtol=1e-4)
    # with MC dropout on, the mean stays near astroNN's dropout-off prediction
    model.mc_num = 200
    mc, mc_sigma = model.predict(ref["x"])
    assert np.all(mc_sigma["model"] > 0) and np.all(np.abs(mc - ref["pred"]) < 5 * mc_sigma["total"])


@pytest.mark.realdata
def test_censored_bcnn_matches_astronn(shared_data):
    ref = _ref("apogee_bcnn_censored")
    masks = shared_data / "apogee" / "astronn_aspcap_l31c_masks.npy"
    model = load_astronn_folder(DATA / "astronn_apogee_bcnn_censored", aspcap_masks=masks)
    assert type(model).__name__ == "ApogeeBCNNCensored" and len(model.targetname) == 22
    pred, sigma = _predict_dropout_off(model, ref["x"])
    assert np.max(np.abs(pred - ref["pred"])) <= TOL
    np.testing.assert_allclose(sigma["predictive"], ref["pred_std"], rtol=1e-4)


def test_dr14_gaia_bcnn_matches_astronn_fakemag():
    ref = _ref("apogee_dr14_gaiadr2_bcnn")
    model = load_astronn_folder(DATA / "astronn_apogee_dr14_gaiadr2_bcnn")
    x = astronn_dr14_input(ref["x"])
    assert x["spectra"].shape == (4, 7514) and x["mag"].shape == (4, 1) and x["aux"].shape == (4, 3)
    with deterministic_layers(model.network):
        fakemag, sigma = model.predict_fakemag(x)
    assert np.max(np.abs(fakemag - ref["pred"])) <= TOL
    # documented difference: astroNN adds log 73.85 once to a log variance (should be twice)
    np.testing.assert_allclose(sigma["predictive"] / ref["pred_std"], math.sqrt(73.85), rtol=1e-4)
    with pytest.raises(ModelFolderError):
        astronn_dr14_input(np.ones((2, 100)))


@pytest.mark.parametrize("name,cls", [("apogee_cvae", "ApogeeCVAE"), ("apokasc_encoder_decoder", "ApokascEncoderDecoder")])
def test_vaes_match_astronn(name, cls):
    ref = _ref(name)
    model = load_astronn_folder(DATA / f"astronn_{name}")
    assert type(model).__name__ == cls and model.architecture == "astronn"
    z_mean, z_std, z = model.predict_encoder(ref["x"])
    np.testing.assert_allclose(z_mean, ref["z_mean"], atol=TOL)
    np.testing.assert_allclose(z_std, ref["z_std"], rtol=1e-4)
    assert z.shape == z_mean.shape and not np.allclose(z, z_mean)
    decoded = model.predict_decoder(ref["z"])
    assert np.max(np.abs(decoded - ref["decoded"].reshape(decoded.shape))) <= TOL
    assert np.max(np.abs(model.predict(ref["x"]) - ref["pred"])) <= TOL
    jac = model.jacobian_latent(ref["x"][:2])
    assert jac.shape == (2, model.latent_dim, ref["x"].shape[1]) and np.isfinite(jac).all()


@pytest.mark.parametrize("name", ["apogee_cnn", "galaxy10_cnn", "apogee_cvae", "apogee_bcnn"])
def test_converted_model_saves_and_reloads_as_astrotorch(name, tmp_path):
    ref = _ref(name)
    model = load_astronn_folder(DATA / f"astronn_{name}")
    model.save(tmp_path / "m")
    again = load_folder(tmp_path / "m")
    a, b = _predict_dropout_off(model, ref["x"]), _predict_dropout_off(again, ref["x"])
    a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_is_astronn_folder(tmp_path):
    assert is_astronn_folder(DATA / "astronn_apogee_cnn")
    assert not is_astronn_folder(tmp_path)
    assert not is_astronn_folder(DATA / "astronn_apogee_cnn.npz")


# ------------------------------------------------------------------------------ hostile folders
def _copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(DATA / f"astronn_{name}", dst)
    return dst


def _edit_config(folder: Path, edit) -> None:
    with h5py.File(folder / "model_weights.h5", "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        edit(cfg)
        f.attrs["model_config"] = json.dumps(cfg)


def test_unknown_layer_is_refused_by_name(tmp_path):
    folder = _copy("apogee_cnn", tmp_path)

    def evil(cfg):
        cfg["config"]["layers"][3]["class_name"] = "EvilLayer"

    _edit_config(folder, evil)
    with pytest.raises(ModelFolderError, match=r"EvilLayer"):
        load_astronn_folder(folder)


def test_lambda_layer_outside_dr14_model_is_refused(tmp_path):
    folder = _copy("apogee_bcnn", tmp_path)

    def add_lambda(cfg):
        cfg["config"]["layers"][4]["class_name"] = "Lambda"

    _edit_config(folder, add_lambda)
    with pytest.raises(ModelFolderError, match=r"\(Lambda\).*not part of astroNN's ApogeeBCNN"):
        load_astronn_folder(folder)


def test_changed_architecture_is_refused(tmp_path):
    folder = _copy("apogee_cnn", tmp_path)

    def drop_dropout(cfg):  # a Dropout replaced by an Activation: same classes allowed, another graph
        layer = next(l for l in cfg["config"]["layers"] if l["class_name"] == "Dropout")
        layer["class_name"] = "Activation"
        layer["config"]["activation"] = "relu"

    _edit_config(folder, drop_dropout)
    with pytest.raises(ModelFolderError, match="astroNN's architecture has"):
        load_astronn_folder(folder)


def test_unsupported_model_id_and_missing_files(tmp_path):
    folder = _copy("apogee_cnn", tmp_path)
    params = json.loads((folder / "astroNN_model_parameter.json").read_text())
    params["id"] = "MyCustomModel"
    (folder / "astroNN_model_parameter.json").write_text(json.dumps(params))
    with pytest.raises(ModelFolderError, match="'MyCustomModel' cannot be converted"):
        load_astronn_folder(folder)
    (folder / "astroNN_model_parameter.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="not valid JSON"):
        load_astronn_folder(folder)
    (folder / "astroNN_model_parameter.json").unlink()
    with pytest.raises(ModelFolderError, match="not an astroNN model folder"):
        load_astronn_folder(folder)
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_astronn_folder(tmp_path / "nowhere")


def test_weights_that_do_not_fit_or_are_not_finite(tmp_path):
    folder = _copy("apogee_cnn", tmp_path)
    params = json.loads((folder / "astroNN_model_parameter.json").read_text())
    params["hidden"] = [16, 4]
    (folder / "astroNN_model_parameter.json").write_text(json.dumps(params))
    with pytest.raises(ModelFolderError, match="hyper-parameters and weights disagree"):
        load_astronn_folder(folder)
    folder2 = _copy("starnet2017", tmp_path)
    with h5py.File(folder2 / "model_weights.h5", "r+") as f:
        name = f["model_weights"].attrs["layer_names"][1]
        name = name.decode() if isinstance(name, bytes) else name
        wname = f["model_weights"][name].attrs["weight_names"][0]
        wname = wname.decode() if isinstance(wname, bytes) else wname
        ds = f["model_weights"][name][wname]
        arr = ds[()]
        arr.flat[0] = np.nan
        ds[...] = arr
    with pytest.raises(ModelFolderError, match="NaN or inf"):
        load_astronn_folder(folder2)


def test_not_a_keras_file(tmp_path):
    folder = _copy("apogee_cnn", tmp_path)
    (folder / "model_weights.h5").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFolderError, match="not a readable Keras HDF5"):
        load_astronn_folder(folder)


def test_normalizer_from_astronn_statistics():
    n = astronn_normalizer(2, [1.0, 2.0], [2.0, 4.0], (2,))
    np.testing.assert_allclose(n.transform(np.array([[3.0, 6.0]])), [[1.0, 1.0]])
    assert astronn_normalizer(255, [0.0], [255.0], (3, 4, 4)).transform(np.full((1, 3, 4, 4), 255.0)).max() == 1.0
    # astroNN's 3s does not centre: only the sigmoid
    np.testing.assert_allclose(astronn_normalizer("3s", [0.0], [1.0], (2,)).transform(np.zeros((1, 2))), 0.5)
    with pytest.raises(ModelFolderError):
        astronn_normalizer(2, [1.0, 2.0, 3.0], [1.0], (2,))


# ------------------------------------------------------------------------------ command line
def _cli() -> typer.Typer:
    from astrotorch.cli.convert_astronn import convert_astronn

    app = typer.Typer()
    app.command("convert-astronn")(convert_astronn)
    app.command("noop")(lambda: None)
    return app


def test_cli_convert_astronn(tmp_path):
    runner = CliRunner()
    out = tmp_path / "converted"
    res = runner.invoke(_cli(), ["convert-astronn", str(DATA / "astronn_starnet2017"), str(out)])
    assert res.exit_code == 0, res.output
    assert "StarNet2017" in res.output and (out / "model.safetensors").is_file()
    ref = _ref("starnet2017")
    assert np.max(np.abs(load_folder(out).predict(ref["x"]) - ref["pred"])) <= TOL
    before = sorted(p.name for p in out.iterdir())
    res = runner.invoke(_cli(), ["convert-astronn", str(DATA / "astronn_starnet2017"), str(out)])
    assert isinstance(res.exception, InputValidationError) and "already exists" in str(res.exception)
    assert sorted(p.name for p in out.iterdir()) == before
    res = runner.invoke(_cli(), ["convert-astronn", str(DATA / "astronn_starnet2017"), str(out), "--overwrite"])
    assert res.exit_code == 0, res.output


def test_cli_refuses_writing_into_its_input_and_foreign_folders(tmp_path):
    runner = CliRunner()
    src = _copy("apogee_cnn", tmp_path)
    listing = sorted(p.name for p in src.iterdir())
    for out in (src, src / "inside"):
        res = runner.invoke(_cli(), ["convert-astronn", str(src), str(out), "--overwrite"])
        assert isinstance(res.exception, InputValidationError) and "must not be the astroNN folder" in str(res.exception)
    assert sorted(p.name for p in src.iterdir()) == listing
    (tmp_path / "plain").mkdir()
    res = runner.invoke(_cli(), ["convert-astronn", str(tmp_path / "plain"), str(tmp_path / "o")])
    assert isinstance(res.exception, InputValidationError) and "not an astroNN model folder" in str(res.exception)
    assert not (tmp_path / "o").exists()
