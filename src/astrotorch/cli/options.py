"""The one vocabulary of the ``train`` commands: each shared option is defined once, here.

Every ``astrotorch train <kind>`` takes ``--accelerator --devices --precision --batch-size --epochs
--seed --test-fraction --checkpoint-dir --resume --out --overwrite --quiet --logger --no-baseline``
by annotating its parameters with the types below (the default value stays in the command's own
signature, since it differs by kind)::

    def train_x(out: Out = Path("runs/x"), epochs: Epochs = 20, seed: Seed = 0, ...):
        opts = TrainOptions(out=out, epochs=epochs, seed=seed, ...)
        opts.check(inputs=[data])               # --out, --test-fraction, --resume ... before any work
        model = create_model(name, **opts.model_kwargs(get_model_class(name)))

:meth:`TrainOptions.model_kwargs` turns the options into the keyword arguments a model class
accepts; :func:`astrotorch.cli.training.fit_model` passes the logger, progress and ``--resume`` to
``fit``. ``--test-size`` survives as a hidden, deprecated spelling of ``--test-fraction``.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from astrotorch.errors import InputValidationError


class LoggerKind(str, enum.Enum):
    """Where Lightning logs the training curves: ``<run folder>/logs/``."""

    csv = "csv"
    tensorboard = "tensorboard"
    none = "none"


_PANEL = "Common training options"

Accelerator = Annotated[str, typer.Option(help="Lightning accelerator: auto, cpu, gpu (cuda), mps", rich_help_panel=_PANEL)]
Devices = Annotated[str, typer.Option(help="devices: 'auto', a count (2) or device indices (0,1)", rich_help_panel=_PANEL)]
Precision = Annotated[str, typer.Option(help="Lightning precision: 32-true, 16-mixed, bf16-mixed ...", rich_help_panel=_PANEL)]
BatchSize = Annotated[int, typer.Option(min=1, help="mini-batch size", rich_help_panel=_PANEL)]
Epochs = Annotated[int, typer.Option(min=1, help="maximum training epochs", rich_help_panel=_PANEL)]
Seed = Annotated[int, typer.Option(help="seed for data generation, the split and training", rich_help_panel=_PANEL)]
TestFraction = Annotated[float, typer.Option(help="held-out share of the data for the report, in (0, 1)",
                                             rich_help_panel=_PANEL)]
TestSizeAlias = Annotated[float | None, typer.Option("--test-size", hidden=True,
                                                        help="deprecated spelling of --test-fraction")]
CheckpointDir = Annotated[Path | None, typer.Option(help="folder for Lightning checkpoints (last.ckpt each epoch)",
                                                       rich_help_panel=_PANEL)]
Resume = Annotated[bool, typer.Option(help="continue training from --checkpoint-dir's last.ckpt", rich_help_panel=_PANEL)]
Out = Annotated[Path, typer.Option(help="run folder to write", rich_help_panel=_PANEL)]
Overwrite = Annotated[bool, typer.Option(help="replace an existing run folder (only one astrotorch wrote)",
                                         rich_help_panel=_PANEL)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress output (bars, per-epoch lines, stages)",
                                     rich_help_panel=_PANEL)]
Logger = Annotated[LoggerKind, typer.Option("--logger", help="training log written into the run folder's logs/",
                                            rich_help_panel=_PANEL)]
NoBaseline = Annotated[bool, typer.Option("--no-baseline", help="skip the classical baseline(s) in the report",
                                          rich_help_panel=_PANEL)]


def parse_devices(devices: str | int | Sequence[int]) -> int | str | list[int]:
    """``--devices`` as Lightning takes it: ``"auto"``, a count, or a list of device indices."""
    if not isinstance(devices, str):
        return devices if isinstance(devices, int) else [int(d) for d in devices]
    text = devices.strip()
    if text == "auto":
        return "auto"
    try:
        if "," in text:
            return [int(d) for d in text.split(",") if d.strip()]
        n = int(text)
    except ValueError:
        raise InputValidationError(f"--devices must be 'auto', a count or comma-separated indices, got {devices!r}") from None
    if n < 1 and n != -1:
        raise InputValidationError(f"--devices must be at least 1 (or -1 for all), got {n}")
    return n


def tensorboard_available() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in ("tensorboard", "tensorboardX"))


@dataclass
class TrainOptions:
    """The shared options of one ``train`` command, checked together (:meth:`check`)."""

    out: Path
    epochs: int
    seed: int = 0
    batch_size: int | None = None
    test_fraction: float = 0.2
    accelerator: str = "auto"
    devices: str | int | list[int] = "1"
    precision: str = "32-true"
    checkpoint_dir: Path | None = None
    resume: bool = False
    overwrite: bool = False
    quiet: bool = False
    logger: LoggerKind | str = LoggerKind.csv
    baseline: bool = True
    test_size: float | None = None  # the deprecated --test-size, when given
    #: the option name used for the held-out share (for messages)
    test_fraction_option: str = field(default="--test-fraction", init=False)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.logger = LoggerKind(self.logger.value if isinstance(self.logger, LoggerKind) else str(self.logger))
        if self.test_size is not None:
            typer.echo("warning: --test-size is deprecated; use --test-fraction", err=True)
            self.test_fraction, self.test_fraction_option = float(self.test_size), "--test-size"

    # ------------------------------------------------------------------------------------ checks
    def check(self, inputs: Sequence[Any] = ()) -> TrainOptions:
        """Every check that needs no data, before any work: ``--out`` (exists without ``--overwrite``,
        an input, unwritable ...), ``--test-fraction``, ``--devices``, ``--logger``, ``--resume``."""
        from astrotorch.cli.main import check_out

        check_out(self.out, self.overwrite, inputs=[i for i in inputs if i])
        if not 0.0 < self.test_fraction < 1.0:
            raise InputValidationError(f"{self.test_fraction_option} must be in (0, 1), got {self.test_fraction}")
        self.devices = parse_devices(self.devices)
        if self.logger is LoggerKind.tensorboard and not tensorboard_available():
            raise InputValidationError("--logger tensorboard needs the tensorboard package (pip install 'astrotorch[tensorboard]'); "
                                       "use --logger csv")
        if self.checkpoint_dir is not None:
            ck = Path(self.checkpoint_dir).resolve()
            out = self.out.resolve()
            if ck == out or out in ck.parents:
                raise InputValidationError(f"--checkpoint-dir {self.checkpoint_dir} lies inside --out {self.out}, "
                                           "which is replaced when the run ends: choose a folder outside it")
            if ck.exists() and not ck.is_dir():
                raise InputValidationError(f"--checkpoint-dir {self.checkpoint_dir} is not a folder")
        if self.resume:
            if self.checkpoint_dir is None:
                raise InputValidationError("--resume needs --checkpoint-dir (the folder holding last.ckpt)")
            if not (Path(self.checkpoint_dir) / "last.ckpt").is_file():
                raise InputValidationError(f"--resume: {Path(self.checkpoint_dir) / 'last.ckpt'} does not exist "
                                           "(nothing to continue from)")
        return self

    # ------------------------------------------------------------------------------- model side
    def model_kwargs(self, model_cls: Any) -> dict[str, Any]:
        """Keyword arguments for ``model_cls(...)`` from the options it accepts: epochs, batch size,
        seed, accelerator, devices, precision, checkpoint folder and progress."""
        accepted = set(model_cls._param_names()) if hasattr(model_cls, "_param_names") else set()
        wanted: dict[str, Any] = {"max_epochs": self.epochs, "seed": self.seed, "accelerator": self.accelerator,
                                  "devices": parse_devices(self.devices), "precision": self.precision}
        if self.batch_size is not None:
            wanted["batch_size"] = self.batch_size
        if self.checkpoint_dir is not None:
            wanted["checkpoint_dir"] = str(self.checkpoint_dir)
        if "progress" in accepted:
            if self.quiet:
                wanted["progress"] = "none"
        elif "verbose" in accepted:
            # before the progress hyper-parameter: Lightning's bar (and summary) only on a terminal
            wanted["verbose"] = (not self.quiet) and _is_terminal()
        return {k: v for k, v in wanted.items() if k in accepted}


def _is_terminal() -> bool:
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return False


__all__ = [
    "LoggerKind", "TrainOptions", "parse_devices", "tensorboard_available", "Accelerator", "Devices", "Precision",
    "BatchSize", "Epochs", "Seed", "TestFraction", "TestSizeAlias", "CheckpointDir", "Resume", "Out", "Overwrite",
    "Quiet", "Logger", "NoBaseline",
]
