"""Lightning callbacks matching astroNN's Keras callbacks (``astroNN.nn.callbacks``).

* :class:`ErrorOnNaN` — astroNN's ``ErrorOnNaN``: stop training as soon as the loss is NaN or
  infinite, either by raising :class:`NonFiniteLossError` (default) or with Lightning's own
  ``trainer.should_stop`` (``mode="stop"``).
* :class:`HistoryRecorder` — astroNN's ``VirtualCSVLogger``: one row per epoch with every
  epoch-level metric, the learning rate and the epoch's wall time; ``to_dataframe()`` /
  ``to_csv()`` (the model writes ``history.csv`` from it).
* :class:`EpochTimer` — wall-clock seconds per training epoch, for benchmarks.
* :class:`EpochProgress` — one line per epoch (epoch/max, train and validation loss, elapsed time)
  for output that is not a terminal (logs, CI), where a progress bar is noise.

The first three keep their state in ``state_dict`` so a run resumed from a Lightning checkpoint continues
its history instead of starting a new one.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

import lightning.pytorch as pl
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_warn

from astrotorch.errors import AstrotorchError, InputValidationError


class NonFiniteLossError(AstrotorchError, FloatingPointError):
    """Training produced a NaN or infinite loss (raised by :class:`ErrorOnNaN`).

    Usual causes: a learning rate too high, unnormalised inputs or labels, or NaN in the data that
    is not marked as missing.
    """


def _to_float(value: Any) -> float | None:
    """A Python float from a scalar tensor / number, or ``None`` for anything else."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return None
        return float(value.detach().float().cpu().item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _batch_loss(outputs: Any) -> Any:
    """The loss inside ``training_step``'s return value (a tensor, or a dict with ``"loss"``)."""
    if isinstance(outputs, Mapping):
        return outputs.get("loss")
    return outputs


class ErrorOnNaN(pl.Callback):
    """Stop training when the loss becomes NaN or infinite.

    Checks the value returned by ``training_step`` after every ``check_every_n_steps`` steps, and at
    the end of each validation epoch the logged metrics named in ``monitor`` (default: every logged
    metric whose name contains ``"loss"``; other metrics are left alone because a metric may
    legitimately be NaN, e.g. over a batch without a valid label).

    Args:
        mode: ``"raise"`` raises :class:`NonFiniteLossError` (Lightning then runs its exception
            hooks and tears down cleanly); ``"stop"`` sets ``trainer.should_stop`` so the fit ends
            after the current step like early stopping, and records why in :attr:`reason`.
        monitor: metric names to check at validation end, or ``None`` for every ``*loss*`` metric.
        check_every_n_steps: how often the training loss is checked (reading it forces a
            host-device sync on GPUs).
    """

    def __init__(
        self,
        mode: str = "raise",
        monitor: Iterable[str] | str | None = None,
        check_every_n_steps: int = 1,
    ) -> None:
        super().__init__()
        if mode not in ("raise", "stop"):
            raise InputValidationError(f"ErrorOnNaN mode must be 'raise' or 'stop', got {mode!r}")
        if isinstance(check_every_n_steps, bool) or not isinstance(check_every_n_steps, int) or check_every_n_steps < 1:
            raise InputValidationError(f"check_every_n_steps must be a positive int, got {check_every_n_steps!r}")
        self.mode = mode
        self.monitor = [monitor] if isinstance(monitor, str) else (list(monitor) if monitor is not None else None)
        self.check_every_n_steps = check_every_n_steps
        #: human-readable reason of the stop (``None`` while training is healthy)
        self.reason: str | None = None
        #: epoch in which the non-finite value appeared
        self.stopped_epoch: int | None = None

    def _fail(self, trainer: pl.Trainer, message: str) -> None:
        self.reason = message
        self.stopped_epoch = trainer.current_epoch
        if self.mode == "raise":
            raise NonFiniteLossError(message)
        rank_zero_warn(f"{message}; stopping training (ErrorOnNaN mode='stop')")
        trainer.should_stop = True

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx % self.check_every_n_steps:
            return
        value = _to_float(_batch_loss(outputs))
        if value is not None and not math.isfinite(value):
            self._fail(
                trainer,
                f"training loss became {value} at epoch {trainer.current_epoch}, batch {batch_idx} "
                f"(global step {trainer.global_step})",
            )

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for key, raw in trainer.callback_metrics.items():
            if self.monitor is not None and key not in self.monitor:
                continue
            if self.monitor is None and "loss" not in key:
                continue
            value = _to_float(raw)
            if value is not None and not math.isfinite(value):
                self._fail(trainer, f"logged metric {key!r} became {value} at epoch {trainer.current_epoch}")
                return

    def state_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.reason = state_dict.get("reason")
        self.stopped_epoch = state_dict.get("stopped_epoch")


class HistoryRecorder(pl.Callback):
    """Collect one row of epoch-level metrics per training epoch (astroNN's ``VirtualCSVLogger``).

    Each row holds ``epoch`` (0-based), every scalar in ``trainer.callback_metrics`` at the end of
    the training epoch (training metrics logged with ``on_epoch=True`` and the latest validation
    metrics), ``lr`` (learning rate of the first parameter group of the first optimiser during the
    epoch) and ``epoch_time_s`` (wall seconds of the epoch, validation included).
    Per-step copies (names ending in ``_step``) are dropped unless ``include_step_metrics``.

    Metrics logged by ``LightningModule.on_train_epoch_end`` itself are not seen: Lightning calls
    callbacks' ``on_train_epoch_end`` before the module's.
    """

    def __init__(self, include_step_metrics: bool = False) -> None:
        super().__init__()
        self.include_step_metrics = include_step_metrics
        #: list of per-epoch dicts, in order
        self.history: list[dict[str, float]] = []
        self._t0: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row: dict[str, float] = {"epoch": float(trainer.current_epoch)}
        for key, raw in sorted(trainer.callback_metrics.items()):
            if not self.include_step_metrics and key.endswith("_step"):
                continue
            value = _to_float(raw)
            if value is not None:
                row[key] = value
        if trainer.optimizers:
            groups = trainer.optimizers[0].param_groups
            if groups and "lr" in groups[0]:
                row["lr"] = float(groups[0]["lr"])
        if self._t0 is not None:
            row["epoch_time_s"] = time.perf_counter() - self._t0
        # a resumed run re-enters an epoch already recorded: replace it rather than duplicate it
        self.history = [r for r in self.history if r.get("epoch") != row["epoch"]]
        self.history.append(row)

    def to_dataframe(self) -> pd.DataFrame:
        """The history as a DataFrame (one row per epoch, ``epoch`` as an int column)."""
        df = pd.DataFrame(self.history)
        if "epoch" in df:
            df["epoch"] = df["epoch"].astype(int)
            df = df[["epoch"] + [c for c in df.columns if c != "epoch"]]
        return df

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the history as CSV (no index column)."""
        self.to_dataframe().to_csv(path, index=False)

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(r) for r in state_dict.get("history", [])]


class EpochTimer(pl.Callback):
    """Wall-clock seconds of every training epoch (``time.perf_counter``; validation included).

    After ``fit``: :attr:`times` (list of seconds), :attr:`total`, and :meth:`mean` which by default
    skips the first epoch (it includes one-off costs such as data-loader start-up and kernel
    compilation) when more than one epoch ran. ``log=True`` also logs ``epoch_time_s`` through the
    LightningModule so it reaches the logger.
    """

    def __init__(self, log: bool = False) -> None:
        super().__init__()
        self.log = log
        self.times: list[float] = []
        self._t0: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._t0 is None:
            return
        dt = time.perf_counter() - self._t0
        self.times.append(dt)
        self._t0 = None
        if self.log:
            pl_module.log("epoch_time_s", dt, on_step=False, on_epoch=True)

    @property
    def total(self) -> float:
        """Sum of the epoch times (seconds)."""
        return float(sum(self.times))

    def mean(self, skip_first: bool = True) -> float:
        """Mean seconds per epoch (NaN before any epoch); skips the warm-up epoch if asked and possible."""
        times = self.times[1:] if skip_first and len(self.times) > 1 else self.times
        return float(sum(times) / len(times)) if times else math.nan

    def state_dict(self) -> dict[str, Any]:
        return {"times": list(self.times)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.times = list(state_dict.get("times", []))


class EpochProgress(pl.Callback):
    """Print exactly one line per training epoch to ``stream`` (default: ``sys.stderr``), e.g.::

        epoch 3/50  loss 0.1234  val_loss 0.2345  elapsed 12.3s

    ``loss``/``val_loss`` are the epoch means Lightning logged (``val_loss`` only with a validation
    split); ``elapsed`` is the wall time since the fit started (seconds). Only the global-zero rank
    prints. astrotorch adds it when the ``progress`` setting resolves to ``"epoch"``.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream
        self._t0: float | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def format_line(self, epoch: int, max_epochs: int | None, metrics: Mapping[str, Any], elapsed: float) -> str:
        """The line for one epoch (``epoch`` 1-based)."""
        total = "?" if max_epochs is None or max_epochs < 0 else str(max_epochs)
        parts = [f"epoch {epoch}/{total}"]
        for key in ("loss", "val_loss"):
            value = _to_float(metrics.get(key))
            if value is not None:
                parts.append(f"{key} {value:.4g}")
        parts.append(f"elapsed {elapsed:.1f}s")
        return "  ".join(parts)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        elapsed = time.perf_counter() - (self._t0 if self._t0 is not None else time.perf_counter())
        line = self.format_line(trainer.current_epoch + 1, trainer.max_epochs, trainer.callback_metrics, elapsed)
        stream = self.stream if self.stream is not None else sys.stderr
        print(line, file=stream, flush=True)


# astroNN name
VirtualCSVLogger = HistoryRecorder


def __getattr__(name: str) -> Any:
    # astroNN's own spelling, ``VirutalCSVLogger`` (with ``savefile()``), lives in nn/astronn_callbacks.py,
    # which builds on this module: imported on first use to avoid a circular import
    if name == "VirutalCSVLogger":
        from astrotorch.nn.astronn_callbacks import VirutalCSVLogger

        return VirutalCSVLogger
    raise AttributeError(f"module 'astrotorch.nn.callbacks' has no attribute {name!r}")


__all__ = ["NonFiniteLossError", "ErrorOnNaN", "HistoryRecorder", "VirtualCSVLogger", "VirutalCSVLogger", "EpochTimer",  # noqa: F822 (module __getattr__)
           "EpochProgress"]
