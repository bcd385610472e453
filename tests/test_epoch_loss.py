"""The training loss each epoch reports (AstroLightningModule sums it and logs it once per epoch):
the sample-weighted mean of the batches' reported losses, visible to every callback's epoch-end hook,
also when the epoch ends early (batch limit, max_steps, a stop request)."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from astrotorch.models import create_model


def _xy(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, :2] * 2 + 1).astype(np.float32)


class _Spy(L.Callback):
    """Records every batch's backpropagated loss and size, and what callback_metrics["loss"] says at
    each epoch end (before the module's own epoch-end hook: callbacks run first)."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.batches: dict[int, list[tuple[float, int]]] = {}
        self.seen: dict[int, float] = {}
        self.stop_at = stop_at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.batches.setdefault(trainer.current_epoch, []).append((float(loss), int(batch["y"].shape[0])))
        if self.stop_at is not None and trainer.global_step >= self.stop_at:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer, pl_module):
        self.seen[trainer.current_epoch] = float(trainer.callback_metrics["loss"])

    def epoch_mean(self, epoch: int) -> float:
        v, n = np.array(self.batches[epoch]).T
        return float((v * n).sum() / n.sum())


def _fit(spy: _Spy, **kw):
    x, y = _xy()
    params = dict(num_hidden=(8,), max_epochs=3, batch_size=32, accelerator="cpu", early_stopping_patience=None,
                  l2=0.0, val_size=0.2, seed=1, progress="none")
    trainer_kwargs = kw.pop("trainer_kwargs", {})
    params.update(kw)
    m = create_model("mlp", **params)
    m.fit(x, y, trainer_kwargs={"callbacks": [spy], **trainer_kwargs})
    return m


def test_epoch_loss_is_the_sample_weighted_mean_and_callbacks_see_it():
    spy = _Spy()
    m = _fit(spy)  # 80 training rows in batches of 32, 32, 16: the short batch weighs half
    assert [len(b) for b in spy.batches.values()] == [3, 3, 3]
    assert [n for _, n in spy.batches[0]] == [32, 32, 16]
    hist = m.history.set_index("epoch")["loss"]
    for epoch in range(3):
        assert hist[epoch] == pytest.approx(spy.epoch_mean(epoch), rel=1e-6)
        assert spy.seen[epoch] == pytest.approx(hist[epoch], rel=1e-6)
    # an unweighted mean of the batch losses is a different number (the test can tell them apart)
    assert abs(np.mean([v for v, _ in spy.batches[0]]) - spy.epoch_mean(0)) > 1e-6


def test_reported_loss_includes_the_l2_term():
    spy = _Spy()
    m = _fit(spy, l2=0.1, max_epochs=1)
    # backpropagated losses exclude the L2 term (it is weight decay); the reported one adds it
    assert m.history["loss"].iloc[0] > spy.epoch_mean(0)


@pytest.mark.parametrize("trainer_kwargs, epochs, batches_last", [
    ({"limit_train_batches": 2}, 3, 2),   # a batch limit
    ({"max_steps": 4}, 2, 1),             # max_steps in the middle of epoch 1
])
def test_an_epoch_cut_short_still_reports_its_loss(trainer_kwargs, epochs, batches_last):
    spy = _Spy()
    m = _fit(spy, trainer_kwargs=trainer_kwargs)
    assert len(m.history) == epochs and len(spy.batches[epochs - 1]) == batches_last
    last = epochs - 1
    assert m.history["loss"].iloc[-1] == pytest.approx(spy.epoch_mean(last), rel=1e-6)
    assert spy.seen[last] == pytest.approx(spy.epoch_mean(last), rel=1e-6)


def test_a_stop_request_mid_epoch_still_reports_the_epochs_loss():
    spy = _Spy(stop_at=5)  # a callback asks to stop after the 2nd batch of epoch 1
    m = _fit(spy)
    assert len(m.history) == 2 and len(spy.batches[1]) == 2
    assert m.history["loss"].iloc[-1] == pytest.approx(spy.epoch_mean(1), rel=1e-6)


def test_cpu_batches_skip_lightnings_generic_move():
    m = create_model("mlp", num_hidden=(4,), accelerator="cpu")
    x, y = _xy(8)
    m.fit(x, y, trainer_kwargs={"max_epochs": 1})
    module = m.make_lightning_module(m.network)
    batch = {"x": torch.ones(2, 4), "y": torch.ones(2, 2)}
    assert module.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    # anything else goes through Lightning's move (numbers become tensors, tuples are rebuilt)
    moved = module.transfer_batch_to_device((torch.ones(1), torch.ones(1)), torch.device("cpu"), 0)
    assert isinstance(moved, tuple) and len(moved) == 2
    mixed = {"x": torch.ones(2, 4), "meta": [torch.ones(1)]}
    out = module.transfer_batch_to_device(mixed, torch.device("cpu"), 0)
    assert out is not mixed and torch.equal(out["meta"][0], torch.ones(1))
