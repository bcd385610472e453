"""Tests of astrotorch.nn.callbacks with a tiny LightningModule on CPU."""

from __future__ import annotations

import math
from types import SimpleNamespace

import lightning.pytorch as pl
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from astrotorch.errors import AstrotorchError, InputValidationError
from astrotorch.nn.callbacks import (
    EpochTimer,
    ErrorOnNaN,
    HistoryRecorder,
    NonFiniteLossError,
    VirtualCSVLogger,
)
from astrotorch.nn.losses import mse


class Tiny(pl.LightningModule):
    """Linear regression; ``nan_at_step`` injects a NaN loss at that global step."""

    def __init__(self, nan_at_step: int | None = None, lr: float = 0.05, nan_val_loss: bool = False):
        super().__init__()
        self.net = torch.nn.Linear(2, 1)
        self.nan_at_step = nan_at_step
        self.nan_val_loss = nan_val_loss
        self.lr = lr
        self.steps_run = 0

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = mse(y, self.net(x))
        if self.nan_at_step is not None and self.global_step >= self.nan_at_step:
            loss = loss * float("nan")
        self.steps_run += 1
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        loss = mse(y, self.net(x))
        if self.nan_val_loss:
            loss = loss + float("inf")
        self.log("val_loss", loss)
        self.log("val_median_metric", torch.tensor(float("nan")))  # NaN non-loss metric is tolerated

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _loaders(n: int = 32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0]]) + 0.5
    ds = TensorDataset(x, y)
    return DataLoader(ds, batch_size=8), DataLoader(ds, batch_size=16)


def _trainer(callbacks, max_epochs: int = 2) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )


def test_history_recorder_and_timer_collect_per_epoch_rows(tmp_path):
    rec, timer = HistoryRecorder(), EpochTimer()
    train, val = _loaders()
    _trainer([rec, timer], max_epochs=2).fit(Tiny(), train, val)
    assert [r["epoch"] for r in rec.history] == [0.0, 1.0]
    for row in rec.history:
        assert {"train_loss", "train_loss_epoch", "val_loss", "lr", "epoch_time_s"} <= set(row)
        assert "train_loss_step" not in row
        assert row["lr"] == pytest.approx(0.05)
        assert row["epoch_time_s"] > 0
    # training on a noiseless linear target lowers the loss
    assert rec.history[1]["val_loss"] < rec.history[0]["val_loss"]
    df = rec.to_dataframe()
    assert list(df["epoch"]) == [0, 1] and df.columns[0] == "epoch"
    rec.to_csv(tmp_path / "history.csv")
    back = pd.read_csv(tmp_path / "history.csv")
    assert back["val_loss"].tolist() == pytest.approx(df["val_loss"].tolist())
    assert len(timer.times) == 2 and all(t > 0 for t in timer.times)
    assert timer.total == pytest.approx(sum(timer.times))
    assert timer.mean() == pytest.approx(timer.times[1])
    assert timer.mean(skip_first=False) == pytest.approx(sum(timer.times) / 2)
    assert VirtualCSVLogger is HistoryRecorder


def test_history_state_round_trip_and_resume_replaces_epoch():
    rec = HistoryRecorder()
    rec.load_state_dict({"history": [{"epoch": 0.0, "val_loss": 1.0}, {"epoch": 1.0, "val_loss": 0.5}]})
    other = HistoryRecorder()
    other.load_state_dict(rec.state_dict())
    assert other.history == rec.history
    # re-running epoch 1 after a resume replaces its row instead of appending a duplicate
    fake = SimpleNamespace(current_epoch=1, callback_metrics={"val_loss": torch.tensor(0.25)}, optimizers=[])
    other.on_train_epoch_start(fake, None)
    other.on_train_epoch_end(fake, None)
    assert [r["epoch"] for r in other.history] == [0.0, 1.0]
    assert other.history[1]["val_loss"] == 0.25
    timer = EpochTimer()
    timer.load_state_dict({"times": [1.0, 2.0]})
    assert math.isnan(EpochTimer().mean())  # before any epoch
    assert timer.state_dict() == {"times": [1.0, 2.0]} and timer.mean() == 2.0


def test_error_on_nan_raises_clear_error_and_stops_early():
    model = Tiny(nan_at_step=2)
    train, val = _loaders()
    with pytest.raises(NonFiniteLossError, match=r"training loss became nan at epoch 0, batch 2") as info:
        _trainer([ErrorOnNaN()], max_epochs=3).fit(model, train, val)
    assert isinstance(info.value, AstrotorchError) and isinstance(info.value, FloatingPointError)
    assert model.steps_run == 3  # stopped at the first NaN step, not after 3 epochs x 4 batches


def test_error_on_nan_stop_mode_uses_lightning_should_stop():
    model = Tiny(nan_at_step=5)
    cb, rec = ErrorOnNaN(mode="stop"), HistoryRecorder()
    train, val = _loaders()
    trainer = _trainer([cb, rec], max_epochs=5)
    with pytest.warns(UserWarning, match="stopping training"):
        trainer.fit(model, train, val)
    assert trainer.should_stop
    assert cb.stopped_epoch == 1 and "nan" in cb.reason
    assert model.steps_run == 6  # 4 steps in epoch 0, then steps 4 and 5 of epoch 1
    assert trainer.current_epoch < 5


def test_error_on_nan_checks_validation_loss_not_other_metrics():
    train, val = _loaders()
    # a NaN non-loss metric alone does not stop training
    _trainer([ErrorOnNaN()], max_epochs=1).fit(Tiny(), train, val)
    with pytest.raises(NonFiniteLossError, match="'val_loss' became inf"):
        _trainer([ErrorOnNaN()], max_epochs=2).fit(Tiny(nan_val_loss=True), train, val)
    # an explicit monitor list restricts the check
    _trainer([ErrorOnNaN(monitor="train_loss_epoch")], max_epochs=1).fit(Tiny(nan_val_loss=True), train, val)


def test_error_on_nan_bad_arguments():
    with pytest.raises(InputValidationError, match="mode"):
        ErrorOnNaN(mode="ignore")
    with pytest.raises(InputValidationError, match="check_every_n_steps"):
        ErrorOnNaN(check_every_n_steps=0)


def test_epoch_timer_logs_when_asked():
    rec, timer = HistoryRecorder(), EpochTimer(log=True)
    train, val = _loaders()
    trainer = _trainer([timer, rec], max_epochs=1)
    trainer.fit(Tiny(), train, val)
    assert "epoch_time_s" in trainer.callback_metrics
    assert float(trainer.callback_metrics["epoch_time_s"]) == pytest.approx(timer.times[0])
    assert not math.isnan(timer.mean())


def test_reported_loss_includes_keras_l2_term_like_astronn():
    """Keras reports (and astroNN's LR schedule watches) data loss + l2·Σw² over kernels; the
    optimiser applies the term as weight decay, the history must still include it."""
    import numpy as np

    from astrotorch.models import create_model
    from astrotorch.train.lightning_module import AstroLightningModule

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32))[:, None]
    m = create_model("mlp", num_hidden=(8,), l2=0.05, max_epochs=2, batch_size=50, accelerator="cpu", seed=0)
    m.fit(x, y)
    module = AstroLightningModule(m.network, m)
    expected = 0.05 * sum(float((p.detach() ** 2).sum()) for p in m.network.parameters() if p.ndim > 1)
    assert abs(float(module._l2_penalty()) - expected) < 1e-6 * max(1.0, expected)
    assert float(m.history["val_loss"].iloc[-1]) > expected  # data loss ≥ 0 plus the penalty
    m.l2 = 0.0
    assert module._l2_penalty() == 0.0
