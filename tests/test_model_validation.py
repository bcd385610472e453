"""Validation and control flow in the model API (issue 16, the model part).

Grouped by class of problem; every case asserts the error type and that the message names the
culprit (parameter, column, tensor, folder), and, where something is written, that nothing is left.
"""

from __future__ import annotations

import errno
import json
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from astrotorch.errors import InputValidationError, ModelFolderError, NotFittedError, ShapeMismatchError
from astrotorch.models import create_model, load_folder
from astrotorch.models.labels import encode_class_labels

MAGIC = -9999.0


def _xy(n=60, d_in=3, d_out=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)).astype(np.float32)
    return x, (x[:, :d_out] * 2.0 + 1.0).astype(np.float32)


def _mlp(**kw):
    base = dict(num_hidden=(8,), max_epochs=1, batch_size=16, accelerator="cpu", progress="none")
    base.update(kw)
    return create_model("mlp", **base)


# ------------------------------------------------------------------------------ hyper-parameters
BAD_BASE_PARAMS = [
    ("max_epochs", 0), ("max_epochs", -1), ("max_epochs", 2.5), ("max_epochs", "10"), ("max_epochs", True),
    ("batch_size", 0), ("batch_size", -3), ("batch_size", "64"), ("batch_size", 8.0),
    ("lr", float("nan")), ("lr", 0.0), ("lr", -0.1), ("lr", float("inf")), ("lr", "0.01"),
    ("val_size", 1.0), ("val_size", -0.1), ("val_size", float("nan")),
    ("reduce_lr_patience", -1), ("reduce_lr_factor", 1.0), ("reduce_lr_factor", 0.0), ("reduce_lr_min", -1e-3),
    ("early_stopping_patience", -2), ("early_stopping_patience", 1.5), ("early_stopping_min_delta", -1.0),
    ("l2", -1e-4), ("dropout_rate", 1.0), ("dropout_rate", -0.1),
    ("input_norm_mode", 7), ("input_norm_mode", "x"), ("input_norm_mode", {"a": 9}), ("labels_norm_mode", 4),
    ("task", "clustering"), ("targetname", "teff"), ("targetname", [1, 2]), ("targetname", ["a", "a"]),
    ("targetname", []), ("mc_num", 0), ("mc_num", 2.0), ("seed", -1), ("seed", 1.5),
    ("accelerator", "tpu9"), ("devices", 0), ("devices", -5), ("num_nodes", 0), ("precision", "fp16"),
    ("precision", True), ("num_workers", -1), ("deterministic", "yes"), ("compile", 1), ("verbose", "no"),
    ("progress", "fancy"), ("checkpoint_dir", 3), ("checkpoint_every_n_steps", 0),
    ("calibrate_uncertainty", None), ("allow_nan_input", "true"), ("trainer_kwargs", [("max_epochs", 1)]),
]


@pytest.mark.parametrize("param,value", BAD_BASE_PARAMS, ids=[f"{p}={v!r}" for p, v in BAD_BASE_PARAMS])
def test_bad_base_hyperparameter_is_refused_in_the_constructor(param, value):
    with pytest.raises(InputValidationError, match=param):
        create_model("mlp", **{param: value})


BAD_MODEL_PARAMS = [
    ("mlp", "num_hidden", (0,)), ("mlp", "num_hidden", "64"), ("mlp", "num_hidden", ()), ("mlp", "activation", "swish"),
    ("linear", "alpha", -1.0), ("linear", "task", "classification"), ("knn", "n_neighbors", 0),
    ("knn", "weights", "gaussian"), ("galaxy_resnet", "widths", ()), ("galaxy_resnet", "crop", 3),
    ("galaxy_resnet", "lr_schedule", "step"), ("galaxy_resnet", "max_shift", -1), ("cifar10_cnn", "augment", "yes"),
    ("cluster_mass_cnn", "loss", "l3"), ("cluster_mass_cnn", "huber_delta", 0.0), ("cluster_mass_cnn", "widths", [0]),
    ("apogee_bcnn", "filter_len", 0), ("apogee_bcnn", "calibration_snr_factor", (3.0, 1.0)),
    ("apogee_bcnn", "masked_error_ratio", 0.5), ("apogee_cnn", "num_filters", (2, -4)),
    ("apogee_bcnn_censored", "maxnorm", 0.0), ("starnet2017", "pool_length", 0),
    ("apogee_cvae", "latent_dim", 0), ("apogee_cvae", "kl_weight", -1.0),
    ("stellar_physics", "likelihood", "cauchy"), ("stellar_physics", "consistency_weight", -1.0),
]


@pytest.mark.parametrize("name,param,value", BAD_MODEL_PARAMS, ids=[f"{n}-{p}={v!r}" for n, p, v in BAD_MODEL_PARAMS])
def test_bad_model_specific_hyperparameter_is_refused(name, param, value):
    with pytest.raises(InputValidationError, match=param):
        create_model(name, **{param: value})


def test_set_params_validates_and_keeps_the_old_value():
    m = _mlp()
    for param, value in [("max_epochs", 0), ("lr", float("nan")), ("batch_size", "8"), ("activation", "x")]:
        old = getattr(m, param)
        with pytest.raises(InputValidationError, match=param):
            m.set_params(**{param: value})
        assert getattr(m, param) == old


def test_parameters_are_stored_exactly_as_given():
    hidden = [32, 16]
    m = create_model("mlp", num_hidden=hidden, targetname=["a", "b"])
    assert m.num_hidden is hidden and m.get_params()["num_hidden"] is hidden
    widths = [8, 16]
    assert create_model("galaxy_resnet", widths=widths).widths is widths


# ------------------------------------------------------------------------------ classification labels
def test_all_zero_one_hot_rows_are_unlabelled_not_class_zero():
    y = np.eye(3)[[0, 1, 2, 1]]
    y = np.vstack([y, np.zeros((2, 3))])
    idx, classes = encode_class_labels(y, 6, None, None)
    assert idx.tolist() == [0, 1, 2, 1, -1, -1] and classes.tolist() == [0, 1, 2]
    y_nan = y.copy()
    y_nan[0, 1] = np.nan
    assert encode_class_labels(y_nan, 6, None, None)[0][0] == -1
    y_magic = y.copy()
    y_magic[1] = MAGIC
    assert encode_class_labels(y_magic, 6, None, None)[0][1] == -1


def test_unlabelled_rows_do_not_train_as_class_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2)).astype(np.float32)
    lab = (x[:, 0] > 0).astype(int)
    y = np.eye(2)[lab]
    y[:40] = 0.0  # unlabelled
    m = _mlp(task="classification", max_epochs=2).fit(x, y)
    assert m.classes_.tolist() == [0, 1] and m.evaluate(x[40:], lab[40:])["n"] == 80
    assert m.evaluate(x, y)["n"] == 80  # the unlabelled rows are not scored either


def test_stray_huge_label_does_not_build_a_huge_network():
    x, _ = _xy(40)
    y = np.r_[np.zeros(20), np.ones(19), 1e6]
    m = _mlp(task="classification")
    with pytest.warns(UserWarning, match="not the class indices"):
        m.fit(x, y)
    assert m.output_dim == 3 and m.classes_.tolist() == [0, 1, 1000000]
    assert set(m.predict(x).tolist()) <= {0, 1, 1000000}
    with pytest.raises(InputValidationError, match="class index 1000000 but targetname names 2"):
        _mlp(task="classification", targetname=["a", "b"]).fit(x, y)


@pytest.mark.parametrize("labels,match", [
    (np.linspace(0, 1, 40), "Unknown label type"),
    (np.r_[np.zeros(20), np.full(20, 1.5)], "Unknown label type"),
    (np.r_[np.zeros(20), np.full(20, np.inf)], "Unknown label type"),
], ids=["continuous", "halves", "inf"])
def test_non_integer_labels_are_refused(labels, match):
    x, _ = _xy(40)
    with pytest.raises(InputValidationError, match=match):
        _mlp(task="classification").fit(x, labels)


def test_label_rules_with_targetname_strings_and_warm_models():
    x, _ = _xy(40)
    with pytest.raises(InputValidationError, match="targetname names 3 classes"):
        _mlp(task="classification", targetname=["a", "b", "c"]).fit(x, np.arange(40) % 4)
    with pytest.raises(InputValidationError, match=r"labels \['qso'\] that are not in targetname"):
        _mlp(task="classification", targetname=["star", "galaxy"]).fit(x, np.array(["star", "qso"] * 20))
    with pytest.raises(ShapeMismatchError, match="targetname names 2 classes"):
        _mlp(task="classification", targetname=["a", "b"]).fit(x, np.eye(3)[np.arange(40) % 3])
    with pytest.raises(InputValidationError, match=">= 0"):
        _mlp(task="classification").fit(x, -np.eye(3)[np.arange(40) % 3] + 0.5)
    with pytest.raises(InputValidationError, match="two classes"):
        _mlp(task="classification").fit(x, np.r_[np.zeros(39), -1])  # negative = unlabelled
    m = _mlp(task="classification", targetname=["star", "galaxy", "qso"]).fit(x, np.array(["qso", "star"] * 20))
    assert m.classes_.tolist() == ["star", "galaxy", "qso"]  # targetname fixes the order and the count
    with pytest.raises(InputValidationError, match="not one of the model's classes"):
        m.fit(x, np.array(["qso", "agn"] * 20), warm_start=True)


# ------------------------------------------------------------------------------ regression labels
@pytest.mark.parametrize("missing", [np.nan, MAGIC], ids=["nan", "magic"])
def test_label_column_without_any_value_is_refused_naming_it(missing):
    x, y = _xy()
    y[:, 1] = missing
    with pytest.raises(InputValidationError, match="'logg'"):
        _mlp(targetname=["teff", "logg"]).fit(x, y)
    with pytest.raises(InputValidationError, match=r"y\[:, 1\]"):
        _mlp().fit(x, y)


def test_every_label_missing_is_a_warning_and_a_warm_batch_may_lack_a_column():
    x, y = _xy()
    with pytest.warns(UserWarning, match="every label is missing"):
        _mlp(labels_norm_mode=0).fit(x, np.full_like(y, np.nan))
    m = _mlp().fit(x, y)
    y2 = y.copy()
    y2[:, 0] = np.nan
    m.fit_on_batch(x, y2)  # warm: the normaliser exists, the batch just has no label in that column


# ------------------------------------------------------------------------------ magic number in inputs
def test_magic_number_in_inputs_enters_the_network_as_the_feature_mean():
    x, y = _xy(200)
    m = _mlp(input_norm_mode=2, max_epochs=2).fit(x, y)
    xm = x[:5].copy()
    xm[:, 1] = MAGIC
    xmean = x[:5].copy()
    xmean[:, 1] = m._input_norm.mean[1]
    np.testing.assert_allclose(m.predict(xm), m.predict(xmean), rtol=1e-5, atol=1e-5)
    z = m._normalize_x(xm)
    assert np.all(z[:, 1] == 0.0) and np.abs(z).max() < 10


def test_magic_number_in_training_inputs_is_left_out_of_the_statistics():
    x, y = _xy(200)
    xm = x.copy()
    xm[::4, 0] = MAGIC
    m = _mlp(input_norm_mode=2).fit(xm, y)
    assert abs(float(m._input_norm.mean[0]) - float(x[np.arange(200) % 4 != 0, 0].mean())) < 1e-5
    for mode in (1, 3, "3s", 0):
        mm = _mlp(input_norm_mode=mode).fit(xm, y)
        z = mm._normalize_x(xm)
        assert np.abs(z).max() < 100, mode  # never -9999 (or -9999 / σ)


def test_magic_number_in_streamed_inputs_is_replaced_too():
    from torch.utils.data import Dataset

    x, y = _xy(64)
    x[::8, 2] = MAGIC

    class Items(Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"x": x[i], "y": y[i]}

    m = _mlp(input_norm_mode=2).fit(Items())
    from astrotorch.models.data import NormalizingDataset

    items = NormalizingDataset(Items(), m).__getitems__(list(range(16)))
    assert float(items[0]["x"][2]) == 0.0 and all(abs(float(v)) < 100 for it in items for v in it["x"])
    assert abs(float(m._input_norm.mean[2]) - float(x[np.arange(64) % 8 != 0, 2].mean())) < 1e-5


# ------------------------------------------------------------------------------ input dtypes
@pytest.mark.parametrize("make", [
    lambda x: x.astype(np.complex64),
    lambda x: x + 1j * x,
], ids=["complex64", "complex128"])
def test_complex_inputs_are_refused(make):
    x, y = _xy()
    m = _mlp()
    with pytest.raises(InputValidationError, match="x: Complex data not supported"):
        m.fit(make(x), y)
    with pytest.raises(NotFittedError):
        m.predict(x)


def test_complex_labels_and_strings_are_refused_naming_the_array():
    x, y = _xy()
    with pytest.raises(InputValidationError, match="y: Complex data"):
        _mlp().fit(x, y + 1j)
    with pytest.raises(InputValidationError, match=r"x\['b'\] must be numeric"):
        _TwoInput(progress="none").fit({"a": x, "b": x.astype(str)}, y)
    with pytest.raises(InputValidationError, match="x must be numeric"):
        _mlp().fit(x.astype("U8"), y)
    fitted = _mlp().fit(x, y)
    with pytest.raises(InputValidationError, match="x: Complex data"):
        fitted.predict(x.astype(np.complex64))


class _TwoInputNet(torch.nn.Module):
    def __init__(self, d: int, out: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2 * d, out)

    def forward(self, x):
        return self.lin(torch.cat([x["a"], x["b"]], 1))


from astrotorch.models.base import AstroModel  # noqa: E402


class _TwoInput(AstroModel):
    name = "_test_two_input_validation"

    def build_network(self, input_shape, output_dim):
        return _TwoInputNet(input_shape["a"][0], output_dim)


# ------------------------------------------------------------------------------ weights and saving
def _rewrite(folder: Path, name: str, data: bytes) -> None:
    from astrotorch.io import sha256sum

    (folder / name).write_bytes(data)
    man = json.loads((folder / "manifest.json").read_text())
    man["files"][name] = sha256sum(folder / name)
    (folder / "manifest.json").write_text(json.dumps(man))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_weights_with_non_finite_values_are_refused_naming_the_tensor(tmp_path, bad):
    from safetensors.torch import load_file, save_file

    x, y = _xy()
    folder = _mlp().fit(x, y).save(tmp_path / "m")
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["head.weight"][0, 0] = float(bad)
    save_file(tensors, str(tmp_path / "w.safetensors"), metadata={"format": "astrotorch-model"})
    _rewrite(folder, "model.safetensors", (tmp_path / "w.safetensors").read_bytes())
    with pytest.raises(ModelFolderError, match="'head.weight' holds NaN or infinite"):
        load_folder(folder)


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), "safetensors"],
                         ids=["ENOSPC", "SafetensorError"])
def test_full_disk_during_save_names_the_folder_and_leaves_nothing(tmp_path, monkeypatch, exc):
    import safetensors
    import safetensors.torch

    x, y = _xy()
    m = _mlp().fit(x, y)
    error = safetensors.SafetensorError("Error while serializing: IoError(No space left on device)") \
        if exc == "safetensors" else exc

    def full_disk(*args, **kwargs):
        Path(args[1]).write_bytes(b"partial")
        raise error

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ModelFolderError, match="could not write the model folder .*model_out"):
        m.save(tmp_path / "model_out")
    assert sorted(tmp_path.iterdir()) == before  # no folder, no hidden temporary copy


def test_write_error_in_a_later_file_also_cleans_up(tmp_path, monkeypatch):
    import pandas as pd

    x, y = _xy()
    m = _mlp().fit(x, y)
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(ModelFolderError, match=r"could not write the model folder .*/h: .*full"):
        m.save(tmp_path / "h")  # history.csv failed after the weights were written
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ Ctrl-C during fit
class _InterruptAt:
    """A Lightning callback pressing Ctrl-C at a given training batch."""

    def __new__(cls, batch: int):
        import lightning as L

        class Interrupt(L.Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, b, batch_idx):
                if trainer.global_step >= batch:
                    raise KeyboardInterrupt

        return Interrupt()


def test_ctrl_c_raises_keyboard_interrupt_and_leaves_an_unfitted_model_unfitted():
    x, y = _xy(128)
    m = _mlp(max_epochs=3)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, y, callbacks=[_InterruptAt(3)])
    assert signal.getsignal(signal.SIGINT) is handler  # Lightning's SIG_IGN is undone
    with pytest.raises(NotFittedError):
        m.predict(x)
    assert m.network is None and m.history is None and not hasattr(m, "n_features_in_")


@pytest.mark.parametrize("warm", [False, True], ids=["refit", "warm_start"])
def test_ctrl_c_keeps_the_previous_fit(warm):
    x, y = _xy(128)
    m = _mlp(max_epochs=2).fit(x, y)
    before = m.predict(x)
    history = m.history.copy()
    with pytest.raises(KeyboardInterrupt):
        m.fit(x * 3, y * 5, warm_start=warm, callbacks=[_InterruptAt(2)])
    np.testing.assert_array_equal(m.predict(x), before)
    assert m.history.equals(history)


def test_other_errors_during_fit_also_restore_the_model():
    from astrotorch.nn.callbacks import NonFiniteLossError

    x, y = _xy(64)
    m = _mlp(max_epochs=2).fit(x, y)
    before = m.predict(x)
    with pytest.raises(NonFiniteLossError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(x, y, warm_start=True, trainer_kwargs={"max_epochs": 2}, callbacks=[_NaNLoss()])
    np.testing.assert_array_equal(m.predict(x), before)


def _NaNLoss():
    import lightning as L

    class NaNWeights(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            with torch.no_grad():
                for p in pl_module.parameters():
                    p.fill_(float("nan"))

    return NaNWeights()
