"""predict_to_file: incremental, resumable prediction into HDF5 / Parquet."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from astrotorch.datasets.predict_io import PARTIAL_SUFFIX, predict_to_file
from astrotorch.datasets.streaming import write_hdf5_dataset
from astrotorch.errors import InputValidationError, NotFittedError

N, L = 1000, 12


class ToyBayesModel:
    """Deterministic stand-in with AstroModel's predict signature (prediction, std dict)."""

    bayesian = True
    task = "regression"
    targetname = ["teff", "logg"]

    def __init__(self, fail_on_call: int | None = None) -> None:
        torch.manual_seed(0)
        self.network = torch.nn.Linear(L, 2)
        self.calls = 0
        self.fail_on_call = fail_on_call

    def predict(self, x):
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise RuntimeError("simulated crash")
        with torch.no_grad():
            m = self.network(torch.as_tensor(x)).numpy()
        return m, {"total": np.abs(m) + 1.0, "model": np.abs(m)}


@pytest.fixture()
def source(tmp_path):
    x = np.random.default_rng(0).normal(size=(N, L)).astype(np.float32)
    return write_hdf5_dataset(tmp_path / "in.h5", x, chunk_rows=100), x


@pytest.mark.parametrize("fmt", ["hdf5", "parquet"])
def test_resume_after_crash_gives_same_result(tmp_path, source, fmt):
    path, x = source
    ref_pred, ref_std = ToyBayesModel().predict(x)
    out = tmp_path / ("pred.h5" if fmt == "hdf5" else "pred.parquet")
    crashing = ToyBayesModel(fail_on_call=4)
    with pytest.raises(RuntimeError, match="simulated"):
        predict_to_file(crashing, path, out, batch_size=128, progress=False)
    assert not out.exists()
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    assert partial.exists()
    model = ToyBayesModel()
    predict_to_file(model, path, out, batch_size=128, progress=False)
    assert model.calls == 8 - 3  # chunks 0..2 were done before the crash: only 5 of 8 redone
    assert not partial.exists()
    if fmt == "hdf5":
        with h5py.File(out) as f:
            assert bool(f.attrs["complete"]) and int(f.attrs["rows_done"]) == N
            assert list(f.attrs["targetname"]) == ["teff", "logg"]
            np.testing.assert_allclose(f["prediction"][()], ref_pred, rtol=1e-6)
            np.testing.assert_allclose(f["std_total"][()], ref_std["total"], rtol=1e-6)
    else:
        df = pd.read_parquet(out)
        assert list(df["row"]) == list(range(N))
        np.testing.assert_allclose(df["teff"], ref_pred[:, 0], rtol=1e-6)
        np.testing.assert_allclose(df["logg_model_std"], ref_std["model"][:, 1], rtol=1e-6)


def test_no_resume_with_other_model(tmp_path, source):
    path, _ = source
    out = tmp_path / "p.h5"
    with pytest.raises(RuntimeError):
        predict_to_file(ToyBayesModel(fail_on_call=2), path, out, batch_size=100, progress=False)
    other = ToyBayesModel()
    with torch.no_grad():
        other.network.weight.add_(1.0)
    with pytest.warns(UserWarning, match="starting over"):
        predict_to_file(other, path, out, batch_size=100, progress=False)
    assert other.calls == 10


def test_resume_false_and_overwrite(tmp_path, source):
    path, x = source
    out = tmp_path / "p.h5"
    with pytest.raises(RuntimeError):
        predict_to_file(ToyBayesModel(fail_on_call=3), path, out, batch_size=100, progress=False)
    m = ToyBayesModel()
    predict_to_file(m, path, out, batch_size=100, progress=False, resume=False)
    assert m.calls == 10
    with pytest.raises(FileExistsError):
        predict_to_file(ToyBayesModel(), path, out, batch_size=100, progress=False)
    predict_to_file(ToyBayesModel(), x, out, batch_size=300, progress=False, overwrite=True)


def test_corrupt_partial_restarts(tmp_path, source):
    path, _ = source
    out = tmp_path / "p.h5"
    out.with_name("p.h5" + PARTIAL_SUFFIX).write_bytes(b"not hdf5 at all")
    m = ToyBayesModel()
    with pytest.warns(UserWarning, match="unreadable"):
        predict_to_file(m, path, out, batch_size=250, progress=False)
    assert m.calls == 4 and out.exists()


def test_bad_arguments(tmp_path, source):
    path, _ = source
    with pytest.raises(InputValidationError):
        predict_to_file(ToyBayesModel(), path, tmp_path / "p.h5", format="csv")
    with pytest.raises(InputValidationError):
        predict_to_file(ToyBayesModel(), path, tmp_path / "p.h5", batch_size=0)


def test_with_real_model_before_and_after_fit(tmp_path, source):
    from astrotorch.models import create_model

    path, x = source
    model = create_model("mlp", num_hidden=(8,), max_epochs=1, accelerator="cpu")
    with pytest.raises(NotFittedError):
        predict_to_file(model, path, tmp_path / "p.parquet", progress=False)
    assert not (tmp_path / "p.parquet").exists() and not (tmp_path / "p.parquet.partial").exists()
    model.fit(x, x[:, :2] * 3.0)
    predict_to_file(model, path, tmp_path / "p.parquet", batch_size=300, progress=False)
    df = pd.read_parquet(tmp_path / "p.parquet")
    np.testing.assert_allclose(df[["y0", "y1"]].to_numpy(), model.predict(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt", ["hdf5", "parquet"])
def test_changed_input_is_not_resumed(tmp_path, fmt):
    """The source is rewritten in place between the crash and the re-run (same path, same shape): the
    rows already predicted belong to the old data, so the run starts over instead of mixing them."""
    x = np.random.default_rng(0).normal(size=(N, L)).astype(np.float32)
    path = write_hdf5_dataset(tmp_path / "in.h5", x, chunk_rows=100)
    out = tmp_path / ("p.h5" if fmt == "hdf5" else "p.parquet")
    with pytest.raises(RuntimeError):
        predict_to_file(ToyBayesModel(fail_on_call=4), path, out, batch_size=100, progress=False)
    x2 = x.copy()
    x2[5, 3] += 1.0  # one value in an already predicted chunk
    path.unlink()
    write_hdf5_dataset(path, x2, chunk_rows=100)
    m = ToyBayesModel()
    with pytest.warns(UserWarning, match="in.h5 changed since the interrupted run"):
        predict_to_file(m, path, out, batch_size=100, progress=False)
    assert m.calls == 10
    ref = ToyBayesModel().predict(x2)[0]
    if fmt == "hdf5":
        with h5py.File(out) as f:
            got = f["prediction"][()]
    else:
        got = pd.read_parquet(out)[["teff", "logg"]].to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_changed_array_source_is_not_resumed(tmp_path):
    """An in-memory array has no path: its content fingerprint is what tells two arrays apart."""
    x = np.random.default_rng(1).normal(size=(N, L)).astype(np.float32)
    out = tmp_path / "p.h5"
    with pytest.raises(RuntimeError):
        predict_to_file(ToyBayesModel(fail_on_call=3), x, out, batch_size=100, progress=False)
    m = ToyBayesModel()
    with pytest.warns(UserWarning, match="changed since the interrupted run"):
        predict_to_file(m, x[::-1].copy(), out, batch_size=100, progress=False)
    assert m.calls == 10
    m = ToyBayesModel()  # an unchanged source still resumes
    with pytest.raises(RuntimeError):
        predict_to_file(ToyBayesModel(fail_on_call=3), x, tmp_path / "q.h5", batch_size=100, progress=False)
    predict_to_file(m, x, tmp_path / "q.h5", batch_size=100, progress=False)
    assert m.calls == 8


def test_output_never_replaces_its_input_a_folder_or_a_device(tmp_path, source):
    from astrotorch.errors import OutputPathError

    path, _ = source
    before = path.read_bytes()
    with pytest.raises(OutputPathError, match="also an input"):
        predict_to_file(ToyBayesModel(), path, path, overwrite=True, progress=False)
    assert path.read_bytes() == before
    (tmp_path / "folder.h5").mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        predict_to_file(ToyBayesModel(), path, tmp_path / "folder.h5", overwrite=True, progress=False)
    with pytest.raises(OutputPathError, match="character device"):
        predict_to_file(ToyBayesModel(), path, "/dev/null", format="hdf5", overwrite=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.h5", "in.h5"]
