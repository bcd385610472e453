"""BatchedRows: the whole-batch reads of in-memory training data equal PyTorch's default collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, default_collate

from astrotorch.errors import InputValidationError
from astrotorch.models import create_model
from astrotorch.models.data import ArrayDataset, BatchedRows, collate_batched


def _assert_same(a, b) -> None:
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


@pytest.mark.parametrize("dict_x", [False, True])
@pytest.mark.parametrize("subset", [False, True])
def test_batches_equal_default_collation(dict_x: bool, subset: bool) -> None:
    rng = np.random.default_rng(0)
    n = 37
    x = rng.normal(size=(n, 5)).astype(np.float32)
    xs = {"spec": x, "aux": rng.normal(size=(n, 2)).astype(np.float32)} if dict_x else x
    ds = ArrayDataset(xs, rng.normal(size=(n, 3)).astype(np.float32), np.abs(rng.normal(size=(n, 3))).astype(np.float32),
                      rng.uniform(size=n).astype(np.float32))
    if subset:
        ds = Subset(ds, rng.permutation(n)[:29].tolist())
    sampler = list(rng.permutation(len(ds)))
    plain = list(DataLoader(ds, batch_size=8, sampler=sampler))
    batched = list(DataLoader(BatchedRows(ds), batch_size=8, sampler=sampler, collate_fn=collate_batched))
    assert len(plain) == len(batched) == -(-len(ds) // 8)
    for a, b in zip(plain, batched):
        _assert_same(a, b)
    assert BatchedRows.accepts(ds)
    _assert_same(BatchedRows(ds)[3], ds[3])
    assert collate_batched([ds[0], ds[1]])["y"].shape == (2, 3)  # item lists: the default collation


def test_only_array_datasets() -> None:
    assert not BatchedRows.accepts(torch.utils.data.TensorDataset(torch.zeros(3)))
    with pytest.raises(InputValidationError, match="ArrayDataset"):
        BatchedRows(torch.utils.data.TensorDataset(torch.zeros(3)))


def test_models_train_on_batched_rows() -> None:
    """The default loaders of in-memory data read whole batches; a fit is deterministic and equal to
    one through per-sample reads and the default collation."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 6)).astype(np.float32)
    y = (x[:, :2] * [1.0, -2.0]).astype(np.float32)
    model = create_model("mlp", num_hidden=[8], max_epochs=2, batch_size=16, seed=3)
    loader = model.make_dataloader(ArrayDataset(x, y), shuffle=False)
    assert isinstance(loader.dataset, BatchedRows) and loader.collate_fn is collate_batched
    pred = model.fit(x, y).predict(x)

    class PerSample(type(model)):  # the same model through per-sample reads (a collate_fn of its own)
        def collate_fn(self):
            return default_collate

    other = PerSample(**model.get_params())
    assert not isinstance(other.make_dataloader(ArrayDataset(x, y), shuffle=False).dataset, BatchedRows)
    np.testing.assert_array_equal(other.fit(x, y).predict(x), pred)
