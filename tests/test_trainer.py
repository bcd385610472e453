"""Trainer assembly (astrotorch.train.trainer): progress lines, user callbacks/loggers/Trainer options,
hyper-parameters in checkpoints, and L2 on kernels only (train.lightning_module.make_adam)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from astrotorch.models import create_model
from astrotorch.nn.callbacks import EpochProgress
from astrotorch.train.trainer import resolve_progress

LINE = re.compile(r"^epoch (\d+)/(\d+|\?)  loss \S+(  val_loss \S+)?  elapsed \d+\.\ds$")


def _xy(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, :1] * 2 + 1).astype(np.float32)


def _mlp(**kw):
    base = dict(num_hidden=(8,), max_epochs=3, batch_size=32, accelerator="cpu", early_stopping_patience=None)
    base.update(kw)
    return create_model("mlp", **base)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_resolution():
    assert resolve_progress("auto", _Stream(tty=True)) == "bar"
    assert resolve_progress("auto", _Stream(tty=False)) == "epoch"
    assert resolve_progress("auto", object()) == "epoch"  # no isatty at all
    for mode in ("bar", "epoch", "none"):
        assert resolve_progress(mode, _Stream(tty=True)) == mode


def test_epoch_line_format():
    cb = EpochProgress()
    line = cb.format_line(3, 50, {"loss": torch.tensor(0.123456), "val_loss": 0.5, "lr": 0.1}, 12.34)
    assert line == "epoch 3/50  loss 0.1235  val_loss 0.5  elapsed 12.3s"
    assert cb.format_line(1, None, {"loss": 2.0}, 0.04) == "epoch 1/?  loss 2  elapsed 0.0s"
    assert LINE.match(line)


def test_non_terminal_fit_prints_exactly_one_line_per_epoch(capsys):
    x, y = _xy()
    _mlp(progress="auto").fit(x, y)  # pytest's captured stderr is not a terminal
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 3 and all(LINE.match(ln) for ln in lines), err
    assert [int(LINE.match(ln).group(1)) for ln in lines] == [1, 2, 3]
    assert all("val_loss" in ln for ln in lines)
    _mlp(progress="none").fit(x, y)
    assert "epoch " not in capsys.readouterr().err


def test_progress_bar_mode_uses_lightnings_bar():
    x, y = _xy()
    m = _mlp(progress="bar", max_epochs=1).fit(x, y)
    assert m.trainer.progress_bar_callback is not None
    assert _mlp(progress="epoch", max_epochs=1).fit(x, y).trainer.progress_bar_callback is None


def test_user_callbacks_and_trainer_kwargs_reach_the_trainer():
    import lightning as L

    seen = []

    class Count(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            seen.append(trainer.current_epoch)

    x, y = _xy()
    m = _mlp(progress="none", trainer_kwargs={"limit_train_batches": 1, "callbacks": [Count()]})
    m.fit(x, y)
    assert seen == [0, 1, 2] and m.trainer.limit_train_batches == 1
    seen.clear()
    m.fit(x, y, callbacks=[Count()], trainer_kwargs={"limit_train_batches": 2, "max_epochs": 1})
    assert seen == [0, 0] and m.trainer.limit_train_batches == 2  # fit's options win; both callbacks ran
    assert m.trainer_kwargs == {"limit_train_batches": 1, "callbacks": m.trainer_kwargs["callbacks"]}


def test_csv_logger_gets_metrics_and_hyperparameters(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    x, y = _xy()
    m = _mlp(progress="none", lr=0.004)
    m.fit(x, y, logger=CSVLogger(tmp_path, name="run"))
    metrics = next(tmp_path.rglob("metrics.csv")).read_text()
    assert "val_loss" in metrics.splitlines()[0] and "loss" in metrics.splitlines()[0]
    assert len(metrics.splitlines()) >= 4  # header + one row per epoch at least
    hparams = next(tmp_path.rglob("hparams.yaml")).read_text()
    assert "model: mlp" in hparams and "lr: 0.004" in hparams


def test_tensorboard_logger(tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        pytest.skip("neither tensorboard nor tensorboardX is installed")
    from lightning.pytorch.loggers import TensorBoardLogger

    x, y = _xy()
    _mlp(progress="none", max_epochs=1).fit(x, y, logger=TensorBoardLogger(tmp_path))
    assert list(tmp_path.rglob("events.out.tfevents*"))


def test_checkpoint_records_the_hyperparameters(tmp_path):
    x, y = _xy()
    m = _mlp(progress="none", checkpoint_dir=str(tmp_path), lr=0.003, max_epochs=2)
    m.fit(x, y)
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["model"] == "mlp" and hp["model_class"] == "MLP" and hp["lr"] == 0.003 and hp["num_hidden"] == [8]
    resumed = _mlp(progress="none", checkpoint_dir=str(tmp_path), lr=0.003, max_epochs=3).fit(x, y, ckpt_path="last")
    assert resumed.trainer.current_epoch == 3


def test_l2_decays_kernels_only():
    from astrotorch.train.lightning_module import make_adam

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 1))
    opt = make_adam(net.parameters(), lr=0.1, l2=0.01)
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    for name, p in net.named_parameters():
        assert decays[id(p)] == (0.02 if name.endswith("weight") and p.ndim == 2 else 0.0), name
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = torch.zeros_like(p)  # only the decay moves anything
    opt.step()
    for name, p in net.named_parameters():
        moved = not torch.equal(p, before[name])
        assert moved == (p.ndim == 2), name
    assert len(make_adam(net.parameters(), lr=0.1, l2=0.0).param_groups) == 1
