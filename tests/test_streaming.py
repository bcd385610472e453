"""Streaming data sets (HDF5, Parquet), the chunk writer, the out-of-core sampler and normaliser stats."""

from __future__ import annotations

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from astrotorch.datasets.streaming import (
    ChunkShuffleSampler,
    HDF5Dataset,
    ParquetDataset,
    fit_normalizer_streaming,
    iter_batches,
    write_hdf5_dataset,
)
from astrotorch.errors import DataFormatError, EmptyDatasetError, InputValidationError, ShapeMismatchError
from astrotorch.nn import Normalizer

N, L, D = 300, 40, 3


def _arrays(seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, L)).astype(np.float32)
    y = rng.normal(size=(N, D)).astype(np.float32)
    return x, y, np.abs(y) * 0.1


@pytest.fixture()
def h5file(tmp_path):
    x, y, e = _arrays()
    return write_hdf5_dataset(tmp_path / "d.h5", x, y, e, chunk_rows=32), (x, y, e)


def test_writer_from_blocks_is_chunked_and_compressed(tmp_path):
    x, y, _ = _arrays()

    def blocks():  # a generator: the writer never sees the whole array
        for s in range(0, N, 70):
            yield {"x": x[s : s + 70], "y": y[s : s + 70]}

    p = write_hdf5_dataset(tmp_path / "b.h5", blocks(), chunk_rows=16, attrs={"kind": "test"})
    with h5py.File(p) as f:
        assert f["x"].chunks == (16, L) and f["x"].compression == "gzip"
        assert f["x"].shape == (N, L) and f.attrs["kind"] == "test"
        np.testing.assert_array_equal(f["x"][()], x)
        np.testing.assert_array_equal(f["y"][()], y)
    assert [q.name for q in tmp_path.iterdir()] == ["b.h5"]  # no temporary left over


def test_writer_failure_leaves_no_file(tmp_path):
    x, y, _ = _arrays()

    def blocks():
        yield {"x": x[:10], "y": y[:10]}
        yield {"x": x[:10, :5], "y": y[:10]}  # wrong row shape

    with pytest.raises(ShapeMismatchError):
        write_hdf5_dataset(tmp_path / "bad.h5", blocks())
    with pytest.raises(ShapeMismatchError):
        write_hdf5_dataset(tmp_path / "bad.h5", x, y[:-1])
    with pytest.raises(EmptyDatasetError):
        write_hdf5_dataset(tmp_path / "bad.h5", iter(()))
    with pytest.raises(InputValidationError):
        write_hdf5_dataset(tmp_path / "bad.h5", np.array([["a"]] * 3))
    assert list(tmp_path.iterdir()) == []


def test_hdf5_items_and_batches(h5file):
    path, (x, y, e) = h5file
    ds = HDF5Dataset(path, y_err_key="y_err")
    assert len(ds) == N and ds.chunk_rows == 32
    item = ds[7]
    assert set(item) == {"x", "y", "y_err"} and item["x"].dtype == torch.float32
    np.testing.assert_array_equal(item["x"].numpy(), x[7])
    np.testing.assert_array_equal(ds[-1]["y"].numpy(), y[-1])
    idx = [250, 3, 3, 99, 0]  # unsorted, repeated: h5py needs sorted unique, we must restore the order
    items = ds.__getitems__(idx)
    for i, it in zip(idx, items):
        np.testing.assert_array_equal(it["x"].numpy(), x[i])
        np.testing.assert_array_equal(it["y_err"].numpy(), e[i])
    with pytest.raises(IndexError):
        ds[N]
    sub = ds.subset(np.arange(10, 20))
    assert len(sub) == 10
    np.testing.assert_array_equal(sub[0]["x"].numpy(), x[10])
    np.testing.assert_array_equal(ds.read_rows(290, 400)["y"], y[290:])


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_hdf5_dataloader_workers(h5file, context):
    path, (x, y, _) = h5file
    ds = HDF5Dataset(path)
    ds[0]  # open a handle in the parent first: workers must not reuse it
    loader = DataLoader(ds, batch_size=50, num_workers=2, multiprocessing_context=context,
                        sampler=ChunkShuffleSampler(len(ds), ds.chunk_rows, window_chunks=2, seed=3))
    seen_x, seen_y = [], []
    for batch in loader:
        seen_x.append(batch["x"].numpy())
        seen_y.append(batch["y"].numpy())
    got_x, got_y = np.concatenate(seen_x), np.concatenate(seen_y)
    order = np.argsort(got_x[:, 0])
    ref = np.argsort(x[:, 0])
    np.testing.assert_array_equal(got_x[order], x[ref])
    np.testing.assert_array_equal(got_y[order], y[ref])


def test_hdf5_dataset_validation(tmp_path, h5file):
    path, _ = h5file
    with pytest.raises(DataFormatError, match="lacks datasets"):
        HDF5Dataset(path, y_key="labels")
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["x"] = np.zeros((5, 2))
        f["y"] = np.zeros((4, 1))
    with pytest.raises(ShapeMismatchError):
        HDF5Dataset(tmp_path / "m.h5")
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f["x"] = np.zeros((0, 2))
        f["y"] = np.zeros((0, 1))
    with pytest.raises(EmptyDatasetError):
        HDF5Dataset(tmp_path / "e.h5")
    with pytest.raises(InputValidationError):
        HDF5Dataset(path, rows=[0, N + 5])


def test_hdf5_multi_input(tmp_path):
    with h5py.File(tmp_path / "mi.h5", "w") as f:
        f["spec"] = np.arange(20, dtype="f4").reshape(10, 2)
        f["aux"] = np.arange(10, dtype="f4")[:, None]
        f["y"] = np.arange(10, dtype="i8")
    ds = HDF5Dataset(tmp_path / "mi.h5", x_key={"spectra": "spec", "aux": "aux"})
    item = ds[4]
    assert set(item["x"]) == {"spectra", "aux"} and item["y"].dtype == torch.int64
    assert item["x"]["aux"].item() == 4


def _parquet(path, x, y, group=64, list_column=True):
    cols = {"y0": y[:, 0], "y1": y[:, 1], "e0": np.abs(y[:, 0]), "e1": np.abs(y[:, 1])}
    if list_column:
        cols["flux"] = pa.array(list(x), type=pa.list_(pa.float32()))
    else:
        cols.update({f"f{j}": x[:, j] for j in range(x.shape[1])})
    pq.write_table(pa.table(cols), path, row_group_size=group)


def test_parquet_dataset_list_column(tmp_path):
    x, y, _ = _arrays()
    _parquet(tmp_path / "a.parquet", x, y)
    ds = ParquetDataset(tmp_path / "a.parquet", "flux", ["y0", "y1"], y_err_columns=["e0", "e1"])
    assert len(ds) == N and ds.group_rows.tolist()[:2] == [64, 64]
    for i in (0, 63, 64, 299, -1):
        np.testing.assert_allclose(ds[i]["x"].numpy(), x[i])
        np.testing.assert_allclose(ds[i]["y"].numpy(), y[i, :2])
    np.testing.assert_allclose(ds.read_rows(60, 200)["x"], x[60:200])
    got = np.concatenate([b["x"].numpy() for b in DataLoader(ds, batch_size=64, num_workers=2)])
    np.testing.assert_allclose(got, x)


def test_parquet_dataset_scalar_columns_and_errors(tmp_path):
    x, y, _ = _arrays()
    _parquet(tmp_path / "s.parquet", x[:, :4], y, list_column=False)
    ds = ParquetDataset(tmp_path / "s.parquet", [f"f{j}" for j in range(4)], ["y0"])
    np.testing.assert_allclose(ds[10]["x"].numpy(), x[10, :4])
    with pytest.raises(DataFormatError, match="lacks columns"):
        ParquetDataset(tmp_path / "s.parquet", ["nope"], ["y0"])
    with pytest.raises(ShapeMismatchError):
        ParquetDataset(tmp_path / "s.parquet", ["f0"], ["y0"], y_err_columns=["e0", "e1"])


def test_chunk_shuffle_sampler_is_a_permutation_with_local_windows():
    s = ChunkShuffleSampler(1000, chunk_rows=32, window_chunks=4, seed=1)
    order = np.array(list(s))
    assert sorted(order.tolist()) == list(range(1000))
    assert not np.array_equal(order, np.arange(1000))
    # each window of 4*32 consecutive draws touches at most 4 chunks
    for w in range(0, 1000 - 128, 128):
        assert len(set(order[w : w + 128] // 32)) <= 4
    s.set_epoch(1)
    assert not np.array_equal(np.array(list(s)), order)


def test_streaming_normalizer_matches_in_memory(h5file):
    path, (x, _, _) = h5file
    ds = HDF5Dataset(path)
    stream = fit_normalizer_streaming(ds, Normalizer(mode=2), batch_size=70)
    full = Normalizer(mode=2).fit(x)
    np.testing.assert_allclose(stream.mean, full.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stream.std, full.std, rtol=1e-5)
    y_stream = fit_normalizer_streaming(ds, Normalizer(mode=2), key="y", batch_size=1000)
    np.testing.assert_allclose(y_stream.std, Normalizer(mode=2).fit(ds.read_rows(0, N)["y"]).std, rtol=1e-6)


def test_iter_batches_sources(h5file, tmp_path):
    path, (x, _, _) = h5file
    got = np.concatenate([b for _, _, b in iter_batches(path, 128)])
    np.testing.assert_array_equal(got, x)
    spans = [(s, e) for s, e, _ in iter_batches(x, 128, start=100)]
    assert spans == [(100, 228), (228, 300)]
    with pytest.raises(InputValidationError):
        list(iter_batches(tmp_path / "x.txt", 10))


def test_model_fit_from_hdf5_matches_arrays(tmp_path, monkeypatch):
    """Training through the model API on an HDF5Dataset gives the same model as on arrays."""
    from astrotorch.models import create_model
    from astrotorch.models.baselines import MLP

    # the streaming path runs one DataLoader pass for the normaliser statistics, which draws from
    # the global torch RNG before the network is built; re-seed at build time so both runs start
    # from the same weights and the comparison isolates the data path
    build = MLP.build_network

    def seeded_build(self, input_shape, output_dim):
        torch.manual_seed(self.seed)
        return build(self, input_shape, output_dim)

    monkeypatch.setattr(MLP, "build_network", seeded_build)

    x, y, _ = _arrays()
    y = (x[:, :3] * 2.0 + 1.0).astype(np.float32)
    path = write_hdf5_dataset(tmp_path / "t.h5", x, y, chunk_rows=32)
    kw = dict(num_hidden=(16,), max_epochs=2, batch_size=32, accelerator="cpu", deterministic=True, seed=5,
              input_norm_mode=2, labels_norm_mode=2)
    m_arr = create_model("mlp", **kw).fit(x, y)
    m_str = create_model("mlp", **kw).fit(HDF5Dataset(path))
    np.testing.assert_allclose(m_str._input_norm.mean, m_arr._input_norm.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m_str.predict(x[:50]), m_arr.predict(x[:50]), rtol=1e-4, atol=1e-4)


def test_epoch_shuffle_sampler_depends_only_on_seed_and_epoch():
    from astrotorch.datasets.streaming import EpochShuffleSampler

    a, b = EpochShuffleSampler(100, seed=4), EpochShuffleSampler(100, seed=4)
    list(a)  # consuming epoch 0 must not change what epoch 1 looks like
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) and sorted(list(a)) == list(range(100))
    b.set_epoch(2)
    assert list(a) != list(b)
    c = EpochShuffleSampler(100, seed=4, chunk_rows=10, window_chunks=2)
    assert sorted(c) == list(range(100))


def test_resumable_loader_state_skips_done_batches_once():
    import io

    from astrotorch.datasets.streaming import ResumableDataLoader

    ds = torch.utils.data.TensorDataset(torch.arange(50))
    full = ResumableDataLoader(ds, batch_size=8, seed=1)
    full.sampler.set_epoch(3)
    ref = [b[0].tolist() for b in full]
    run = ResumableDataLoader(ds, batch_size=8, seed=1)
    run.sampler.set_epoch(3)
    it = iter(run)
    seen = [next(it)[0].tolist() for _ in range(3)]
    state = run.state_dict()
    assert state == {"epoch": 3, "batches_done": 3}
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    resumed = ResumableDataLoader(ds, batch_size=8, seed=1)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    rest = [b[0].tolist() for b in resumed]
    assert seen + rest == ref
    assert resumed.state_dict()["batches_done"] == len(ref)
    assert [b[0].tolist() for b in resumed] == ref  # the skip applies once only


def test_rng_state_callback_round_trip_is_weights_only_safe():
    import io
    import random

    from astrotorch.datasets.streaming import rng_state_callback

    cb = rng_state_callback()
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    buf = io.BytesIO()
    torch.save(cb.state_dict(), buf)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    buf.seek(0)
    cb.load_state_dict(torch.load(buf, weights_only=True))
    got = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_resumable_loader_with_external_sampler_reads_past_done_batches():
    """Under DDP Lightning re-creates the loader with its distributed sampler: resume still skips."""
    from torch.utils.data import SequentialSampler

    from astrotorch.datasets.streaming import ResumableDataLoader

    ds = torch.utils.data.TensorDataset(torch.arange(40))
    loader = ResumableDataLoader(ds, batch_size=10, seed=2, sampler=SequentialSampler(ds))
    assert loader.seed == 2 and loader.chunk_rows is None  # attributes Lightning needs to re-create it
    loader.load_state_dict({"epoch": 0, "batches_done": 2})
    assert [b[0][0].item() for b in loader] == [20, 30]
    assert loader.state_dict()["batches_done"] == 4
    assert [b[0][0].item() for b in loader] == [0, 10, 20, 30]
