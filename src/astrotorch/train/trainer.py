"""Trainer assembly for :class:`~astrotorch.models.base.AstroModel`: callbacks, progress display,
loggers, checkpoints, the seeded-but-isolated random state, and the ``Trainer.fit`` call.

What the Trainer gets, lowest priority first: astrotorch's defaults (below), the model's
``trainer_kwargs`` hyper-parameter, ``fit(trainer_kwargs=...)``, then internal overrides (e.g.
``fit_on_batch``'s single epoch). Callbacks are *added* to astrotorch's own (history, NaN check,
early stopping, checkpoints, progress); ``fit(logger=...)`` (a Lightning logger such as
``CSVLogger``/``TensorBoardLogger``, a list of them, or ``True``) replaces the default ``False``.

Progress (``progress`` hyper-parameter): ``"auto"`` shows Lightning's progress bar when stderr is a
terminal or the code runs in a notebook, and otherwise (logs, CI, ``make demo``) exactly one line
per epoch from :class:`~astrotorch.nn.callbacks.EpochProgress`; ``"bar"``/``"epoch"`` force one of
them, ``"none"`` prints nothing.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def in_notebook() -> bool:
    """Whether the code runs in a Jupyter kernel (where a progress bar renders as a widget)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def resolve_progress(progress: str, stream: Any = None) -> str:
    """``"bar"``, ``"epoch"`` or ``"none"`` for a ``progress`` setting (``"auto"`` looks at ``stream``)."""
    if progress != "auto":
        return progress
    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return "bar" if tty or in_notebook() else "epoch"


@contextlib.contextmanager
def quiet_lightning(quiet: bool) -> Iterator[None]:
    """Silence Lightning's informational banner (devices, tips) unless the model is verbose."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's global generators with ``seed`` for the block, then give
    the caller back the states they had: ``fit`` is reproducible without touching the user's RNGs."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    # every CUDA device's generator too (named explicitly: fork_rng warns when it has to guess)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def default_callbacks(model: Any) -> list[Any]:
    """astrotorch's callbacks: history, NaN check, early stopping, checkpoints, per-epoch progress."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from astrotorch.nn.callbacks import EpochProgress, ErrorOnNaN, HistoryRecorder

    monitor = "val_loss" if model._has_val else "loss"
    model._recorder = HistoryRecorder()
    # a NaN/inf loss ends the fit with NonFiniteLossError instead of silently training on garbage
    cbs: list[Any] = [model._recorder, ErrorOnNaN(mode="raise")]
    if model.early_stopping_patience is not None:
        cbs.append(
            EarlyStopping(
                monitor=monitor,
                patience=model.early_stopping_patience,
                min_delta=model.early_stopping_min_delta,
                check_finite=True,  # stop on NaN/inf loss
            )
        )
    if model.checkpoint_dir is not None:
        from astrotorch.datasets.streaming import rng_state_callback

        cbs.append(rng_state_callback())  # dropout continues identically after a resume
        cbs.append(
            ModelCheckpoint(
                dirpath=model.checkpoint_dir,
                save_last=True,
                save_top_k=0 if model.checkpoint_every_n_steps else 1,
                monitor=None if model.checkpoint_every_n_steps else monitor,
                every_n_train_steps=model.checkpoint_every_n_steps,
                save_on_train_epoch_end=True,
            )
        )
    if resolve_progress(model.progress) == "epoch":
        cbs.append(EpochProgress())
    return cbs


def build_trainer(model: Any, max_epochs: int | None = None, callbacks: list[Any] | None = None,
                  logger: Any = None, trainer_kwargs: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """The ``lightning.Trainer`` ``model`` trains with (see the module docstring for the merge order)."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    progress = resolve_progress(model.progress)
    kwargs: dict[str, Any] = dict(
        max_epochs=max_epochs or model.max_epochs,
        accelerator=model.accelerator,
        devices=model.devices,
        num_nodes=model.num_nodes,
        precision=model.precision,
        strategy=model.strategy,
        deterministic=model.deterministic or None,
        logger=False,
        enable_progress_bar=progress == "bar",
        enable_model_summary=bool(model.verbose),
        default_root_dir=model.checkpoint_dir or tempfile.gettempdir(),
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )
    user_cbs: list[Any] = []
    for extra in (model.trainer_kwargs, trainer_kwargs):
        extra = dict(extra or {})
        cb = extra.pop("callbacks", None)
        user_cbs += list(cb) if isinstance(cb, (list, tuple)) else ([cb] if cb is not None else [])
        kwargs.update(extra)
    user_cbs += list(callbacks or [])
    if logger is not None:
        kwargs["logger"] = logger
    kwargs.update(overrides)
    cbs = model._trainer_callbacks() + user_cbs
    # Lightning refuses a ModelCheckpoint callback when checkpointing is disabled
    kwargs.setdefault("enable_checkpointing", False)
    if model.checkpoint_dir is not None or any(isinstance(c, ModelCheckpoint) for c in cbs):
        kwargs["enable_checkpointing"] = True
    kwargs["callbacks"] = cbs
    return L.Trainer(**kwargs)


def _restore_sigint(handler: Any) -> None:
    # Lightning ignores SIGINT after a Ctrl-C (to shut down quietly): give the session its handler back
    if handler is not None and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGINT, handler)


def fit_lightning(model: Any, train_ds: Any, val_ds: Any, ckpt_path: str | None, *, callbacks: list[Any] | None = None,
                  logger: Any = None, trainer_kwargs: dict[str, Any] | None = None, **overrides: Any) -> None:
    """Train ``model.network`` on the datasets; sets ``model.trainer`` and ``model.history``.

    A Ctrl-C raises ``KeyboardInterrupt`` (Lightning turns it into ``SystemExit``).
    """
    assert model.network is not None
    net = torch.compile(model.network) if model.compile else model.network
    module = model.make_lightning_module(net)
    train_loader = model.make_dataloader(train_ds, shuffle=True)
    val_loader = model.make_dataloader(val_ds, shuffle=False) if val_ds is not None else None
    sigint = signal.getsignal(signal.SIGINT)
    with quiet_lightning(not model.verbose):
        trainer = model.build_trainer(callbacks=callbacks, logger=logger, trainer_kwargs=trainer_kwargs, **overrides)
        try:
            trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
        except SystemExit:
            if trainer.interrupted:
                raise KeyboardInterrupt(
                    f"{type(model).__name__}.fit interrupted; the model keeps its state from before fit") from None
            raise
        finally:
            _restore_sigint(sigint)
    model.trainer = trainer
    model.network = model.network.cpu() if str(model._device()) == "cpu" else model.network
    model.history = model._recorder.to_dataframe()


__all__ = ["resolve_progress", "in_notebook", "quiet_lightning", "isolated_rng", "default_callbacks", "build_trainer",
           "fit_lightning"]
