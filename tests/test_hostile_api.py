"""Hostile and bad input to the Python API: every case raises a typed ``astrotorch.errors`` exception
and leaves no output.

The list of cases is kept in docs/results/scale.md. Each test asserts the exception *type* (not just
"some error") and, where the operation writes something, that nothing was left behind. The cases of
issue 16 (data loss, silent wrong results, hangs, raw tracebacks through the CLI and the API) are in
tests/test_hostile_inputs.py.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pandas as pd
import pytest
from http_server import serve_folder

from astrotorch import errors as E
from astrotorch.config import get_config, read_toml
from astrotorch.datasets.predict_io import predict_to_file
from astrotorch.datasets.streaming import HDF5Dataset, ParquetDataset, write_hdf5_dataset
from astrotorch.io import download, open_fits, open_hdf5, read_csv, read_hdf5, read_parquet
from astrotorch.models import create_model, load_folder

N, F, D = 64, 6, 2


def _xy(n: int = N):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, F)).astype(np.float32)
    return x, (x[:, :D] * 2.0).astype(np.float32)


def _mlp(**kw):
    base = dict(num_hidden=(8,), max_epochs=1, batch_size=16, accelerator="cpu", val_size=0.0)
    base.update(kw)
    return create_model("mlp", **base)


@pytest.fixture(scope="module")
def fitted():
    x, y = _xy()
    return _mlp().fit(x, y)


@pytest.fixture()
def saved(fitted, tmp_path):
    return fitted.save(tmp_path / "model")


def _assert_untrained(model):
    with pytest.raises(E.NotFittedError):
        model.predict(_xy()[0])


# ------------------------------------------------------------------------------ model inputs
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_nonfinite_inputs(bad):
    x, y = _xy()
    x[3, 2] = bad
    m = _mlp()
    with pytest.raises(E.InputValidationError, match="NaN/inf"):
        m.fit(x, y)
    _assert_untrained(m)


def test_nonfinite_inputs_at_predict(fitted):
    x, _ = _xy()
    x[0, 0] = np.nan
    with pytest.raises(E.InputValidationError):
        fitted.predict(x)


def test_inf_labels():
    x, y = _xy()
    y[1, 0] = np.inf
    with pytest.raises(E.InputValidationError, match="inf"):
        _mlp().fit(x, y)


def test_all_missing_labels_train_without_nan():
    """Not an error: every label missing gives a zero loss, finite weights and a warning."""
    x, y = _xy()
    y[:] = -9999.0
    y[::2, 0] = np.nan
    with pytest.warns(UserWarning, match="every label is missing"):
        m = _mlp(labels_norm_mode=0).fit(x, y)
    assert all(np.isfinite(p.detach().numpy()).all() for p in m.network.parameters())
    assert np.isfinite(m.predict(x)).all()


@pytest.mark.parametrize("shape", [(N,), (N, F, 1, 1)], ids=["1d", "4d"])
def test_wrong_input_shape_at_predict(fitted, shape):
    with pytest.raises(E.ShapeMismatchError):
        fitted.predict(np.zeros(shape, np.float32))


def test_wrong_feature_count_at_predict(fitted):
    with pytest.raises(E.ShapeMismatchError, match="input shape"):
        fitted.predict(np.zeros((5, F + 1), np.float32))


def test_wrong_label_width_for_warm_model(fitted):
    x, y = _xy()
    with pytest.raises(E.ShapeMismatchError):
        fitted.evaluate(x, np.zeros((N, D + 1), np.float32))


def test_labels_3d():
    x, _ = _xy()
    with pytest.raises(E.ShapeMismatchError):
        _mlp().fit(x, np.zeros((N, 2, 2), np.float32))


@pytest.mark.parametrize("dtype_case", ["str", "object", "bytes"])
def test_wrong_dtypes(dtype_case):
    x, y = _xy()
    bad = {"str": x.astype(str), "object": x.astype(object), "bytes": x.astype("S8")}[dtype_case]
    m = _mlp()
    with pytest.raises(E.InputValidationError, match="numeric"):
        m.fit(bad, y)
    _assert_untrained(m)


def test_string_labels():
    x, _ = _xy()
    with pytest.raises(E.InputValidationError):
        _mlp().fit(x, np.array([["a", "b"]] * N))


def test_ragged_input():
    with pytest.raises(E.InputValidationError):
        _mlp().fit([[1.0, 2.0], [1.0]], [[1.0], [2.0]])


def test_empty_arrays():
    m = _mlp()
    with pytest.raises(E.EmptyDatasetError):
        m.fit(np.zeros((0, F), np.float32), np.zeros((0, D), np.float32))
    _assert_untrained(m)


def test_empty_at_predict(fitted):
    with pytest.raises(E.EmptyDatasetError):
        fitted.predict(np.zeros((0, F), np.float32))


def test_empty_torch_dataset():
    import torch
    from torch.utils.data import TensorDataset

    with pytest.raises(E.EmptyDatasetError):
        _mlp().fit(TensorDataset(torch.zeros(0, F), torch.zeros(0, D)))


def test_dataset_items_without_labels(tmp_path):
    x, _ = _xy()
    p = write_hdf5_dataset(tmp_path / "nolab.h5", iter([{"x": x}]))
    with pytest.raises(E.InputValidationError, match="'x' and 'y'"):
        _mlp().fit(HDF5Dataset(p, y_key=None))


@pytest.mark.parametrize("which", ["y", "y_err", "sample_weight"])
def test_mismatched_lengths(which):
    x, y = _xy()
    kw = {"y": y, "y_err": None, "sample_weight": None}
    if which == "y":
        kw["y"] = y[:-1]
    elif which == "y_err":
        kw["y_err"] = np.ones((N - 3, D), np.float32)
    else:
        kw["sample_weight"] = np.ones(N + 1, np.float32)
    m = _mlp()
    with pytest.raises(E.ShapeMismatchError):
        m.fit(x, **kw)
    _assert_untrained(m)


def test_y_err_wrong_width():
    x, y = _xy()
    with pytest.raises(E.ShapeMismatchError):
        _mlp().fit(x, y, y_err=np.ones((N, D + 2), np.float32))


def test_classification_non_integer_labels():
    x, _ = _xy()
    with pytest.raises(E.InputValidationError, match="integer"):
        _mlp(task="classification").fit(x, np.linspace(0, 1, N))


def test_classification_single_class():
    x, _ = _xy()
    with pytest.raises(E.InputValidationError, match="two classes"):
        _mlp(task="classification").fit(x, np.zeros(N))


def test_predict_before_fit(tmp_path):
    m = _mlp()
    with pytest.raises(E.NotFittedError):
        m.predict(_xy()[0])
    with pytest.raises(E.NotFittedError):
        m.save(tmp_path / "never")
    assert not (tmp_path / "never").exists()
    with pytest.raises(E.NotFittedError):
        predict_to_file(m, _xy()[0], tmp_path / "p.h5", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_model_name():
    with pytest.raises(E.UnknownModelError, match="no_such_model"):
        create_model("no_such_model")


# ------------------------------------------------------------------------------- saved folders
def test_saved_folder_altered_weights(saved):
    raw = bytearray((saved / "model.safetensors").read_bytes())
    raw[-5] ^= 0xFF  # flip bits in a weight
    (saved / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(E.ModelFolderError, match="altered"):
        load_folder(saved)


def test_saved_folder_altered_config(saved):
    cfg = json.loads((saved / "config.json").read_text())
    cfg["params"]["lr"] = 123.0
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(E.ModelFolderError, match="altered"):
        load_folder(saved)


@pytest.mark.parametrize("fname", ["model.safetensors", "config.json", "manifest.json"])
def test_saved_folder_missing_file(saved, fname):
    (saved / fname).unlink()
    with pytest.raises(E.ModelFolderError):
        load_folder(saved)


def test_saved_folder_unknown_config_keys_even_with_matching_manifest(saved):
    """Someone edits config.json *and* re-signs the manifest: unknown hyper-parameters are still refused."""
    from astrotorch.io import sha256sum

    cfg = json.loads((saved / "config.json").read_text())
    cfg["params"]["__import__"] = "os"
    (saved / "config.json").write_text(json.dumps(cfg))
    man = json.loads((saved / "manifest.json").read_text())
    man["files"]["config.json"] = sha256sum(saved / "config.json")
    (saved / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(E.ModelFolderError, match="unknown hyper-parameters"):
        load_folder(saved)


def test_saved_folder_manifest_path_escape(saved, tmp_path):
    man = json.loads((saved / "manifest.json").read_text())
    man["files"]["../outside.txt"] = "0" * 64
    (saved / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(E.ModelFolderError):
        load_folder(saved)


def test_saved_folder_pickle_in_place_of_weights(saved):
    import pickle

    from astrotorch.io import sha256sum

    (saved / "model.safetensors").write_bytes(pickle.dumps({"evil": 1}))
    man = json.loads((saved / "manifest.json").read_text())
    man["files"]["model.safetensors"] = sha256sum(saved / "model.safetensors")
    (saved / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(E.ModelFolderError):
        load_folder(saved)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(E.ModelFolderError):
        load_folder(tmp_path / "nothing-here")
    (tmp_path / "f").mkdir()
    with pytest.raises(E.ModelFolderError):
        load_folder(tmp_path / "f")


def test_save_over_existing_folder_is_refused(fitted, saved):
    before = sorted(p.name for p in saved.iterdir())
    with pytest.raises(FileExistsError):
        fitted.save(saved)
    assert sorted(p.name for p in saved.iterdir()) == before


# --------------------------------------------------------------------------------------- config
def test_config_toml_unknown_key(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('magic_number = -9999.0\nmagic_numbr = 1\n')
    with pytest.raises(E.ConfigError, match="magic_numbr"):
        read_toml(p)


def test_config_toml_invalid(tmp_path, monkeypatch):
    p = tmp_path / "config.toml"
    p.write_text("magic_number = = 3\n")
    monkeypatch.setenv("ASTROTORCH_CONFIG", str(p))
    with pytest.raises(E.ConfigError, match="not valid TOML"):
        get_config()


def test_config_unknown_keyword_and_bad_value():
    with pytest.raises(E.ConfigError):
        get_config(no_such_key=1)
    with pytest.raises(E.ConfigError):
        get_config(magic_number="minus nine")
    with pytest.raises(E.ConfigError):
        get_config(magic_number=float("nan"))


# ---------------------------------------------------------------------------------------- files
def _h5(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.random.rand(500, 40).astype("f4"), chunks=(50, 40), compression="gzip")
        f.create_dataset("y", data=np.random.rand(500, 2).astype("f4"))


def test_truncated_hdf5(tmp_path):
    p = tmp_path / "t.h5"
    _h5(p)
    p.write_bytes(p.read_bytes()[:3000])
    with pytest.raises(E.DataFormatError, match="t.h5"):
        read_hdf5(p)
    with pytest.raises(E.DataFormatError):
        HDF5Dataset(p)


def test_not_hdf5(tmp_path):
    (tmp_path / "n.h5").write_bytes(b"PK\x03\x04 this is a zip file header")
    with pytest.raises(E.DataFormatError):
        open_hdf5(tmp_path / "n.h5")


def test_hdf5_dataset_key_missing_and_row_mismatch(tmp_path):
    p = tmp_path / "k.h5"
    _h5(p)
    with pytest.raises(E.DataFormatError, match="lacks"):
        HDF5Dataset(p, x_key="flux")
    with h5py.File(p, "a") as f:
        f["y_err"] = np.ones((499, 2))
    with pytest.raises(E.ShapeMismatchError):
        HDF5Dataset(p, y_err_key="y_err")


def test_empty_hdf5_dataset(tmp_path):
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f["x"] = np.zeros((0, 3))
        f["y"] = np.zeros((0, 1))
    with pytest.raises(E.EmptyDatasetError):
        HDF5Dataset(tmp_path / "e.h5")


def test_truncated_and_corrupt_fits(tmp_path):
    from astropy.io import fits

    p = tmp_path / "s.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((100, 100), np.float32))]).writeto(p)
    p.write_bytes(p.read_bytes()[:10000])
    with pytest.raises(E.DataFormatError, match="s.fits"):
        with open_fits(p):
            pass
    (tmp_path / "g.fits").write_bytes(b"SIMPLE  = F" + os.urandom(3000))
    with pytest.raises(E.DataFormatError):
        with open_fits(tmp_path / "g.fits"):
            pass


def test_csv_empty_missing_columns_malformed(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(E.DataFormatError):
        read_csv(tmp_path / "e.csv")
    pd.DataFrame({"a": [1.0]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(E.DataFormatError, match="teff"):
        read_csv(tmp_path / "c.csv", required_columns=["teff"])
    (tmp_path / "m.csv").write_bytes(b'a,b\n1,"2\n')
    with pytest.raises(E.DataFormatError):
        read_csv(tmp_path / "m.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x00" + os.urandom(200))
    with pytest.raises(E.DataFormatError):
        read_csv(tmp_path / "bin.csv")


def test_truncated_parquet(tmp_path):
    p = tmp_path / "t.parquet"
    pd.DataFrame({"a": np.arange(100.0)}).to_parquet(p)
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(E.DataFormatError):
        read_parquet(p)
    with pytest.raises(E.DataFormatError):
        ParquetDataset(p, ["a"])


def test_parquet_missing_columns(tmp_path):
    p = tmp_path / "c.parquet"
    pd.DataFrame({"a": np.arange(10.0)}).to_parquet(p)
    with pytest.raises(E.DataFormatError, match="flux"):
        ParquetDataset(p, "flux", ["a"])


def test_writer_rejects_object_arrays_and_leaves_nothing(tmp_path):
    with pytest.raises(E.InputValidationError):
        write_hdf5_dataset(tmp_path / "o.h5", np.array([[1, "a"]], dtype=object))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ downloads
@pytest.fixture()
def www(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "f.bin").write_bytes(os.urandom(50_000))
    return root


def test_download_wrong_checksum(www, tmp_path):
    with serve_folder(www) as s, pytest.raises(E.ChecksumError):
        download(s.url("f.bin"), tmp_path / "o" / "f.bin", sha256="ab" * 32, progress=False)
    assert list((tmp_path / "o").iterdir()) == []


def test_download_cut_mid_way(www, tmp_path):
    with serve_folder(www, cut_after={"/f.bin": 1000}) as s, pytest.raises(E.DownloadError):
        download(s.url("f.bin"), tmp_path / "f.bin", progress=False)
    assert not (tmp_path / "f.bin").exists()


def test_download_http_error(www, tmp_path):
    with serve_folder(www) as s, pytest.raises(E.DownloadError, match="404"):
        download(s.url("missing.bin"), tmp_path / "m.bin", progress=False)
    assert not (tmp_path / "m.bin").exists()


def test_errors_are_also_builtin_types():
    """Typed errors keep working with code that catches the built-ins."""
    assert issubclass(E.InputValidationError, ValueError) and issubclass(E.DataFormatError, ValueError)
    assert issubclass(E.ChecksumError, OSError) and issubclass(E.DownloadError, OSError)
    assert issubclass(E.UnknownModelError, KeyError) and issubclass(E.NotFittedError, RuntimeError)
    assert all(issubclass(getattr(E, n), E.AstrotorchError) for n in E.__all__)


def test_failed_fit_creates_no_checkpoint_folder(tmp_path):
    """Validation happens before Lightning starts: a rejected fit leaves no checkpoint folder."""
    x, y = _xy()
    ck = tmp_path / "ck"
    with pytest.raises(E.ShapeMismatchError):
        _mlp(checkpoint_dir=str(ck)).fit(x, y[:10])
    assert not ck.exists()
