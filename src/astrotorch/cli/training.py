"""What every ``train`` command does around its model: stage lines, the Lightning logger in the run
folder, ``fit`` with progress and ``--resume``, and the held-out predictions table.

Works with the model API before and after ``fit`` gained ``callbacks=/logger=/trainer_kwargs=`` and
the ``progress`` hyper-parameter: :func:`fit_accepts` asks ``fit``'s signature, so keywords a model
does not take are never passed (once every model takes them the check can go).
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import typer

from astrotorch.cli.options import LoggerKind, TrainOptions

_T0 = time.perf_counter()


def say(opts: TrainOptions | None, message: str) -> None:
    """A stage line (``[  12s] loading data ...``) on stdout, unless ``--quiet``."""
    if opts is not None and opts.quiet:
        return
    typer.echo(f"[{time.perf_counter() - _T0:5.0f}s] {message}")


def fit_accepts(model: Any, keyword: str) -> bool:
    """Whether ``model.fit`` takes ``keyword``: named in its signature, or forwarded through
    ``**kwargs`` to a base ``AstroModel.fit`` that names it."""
    params = inspect.signature(model.fit).parameters
    if keyword in params:
        return True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        from astrotorch.models.base import AstroModel

        return isinstance(model, AstroModel) and keyword in inspect.signature(AstroModel.fit).parameters
    return False


def make_logger(kind: LoggerKind | str, run_path: Path) -> Any:
    """Lightning's ``CSVLogger`` / ``TensorBoardLogger`` writing into ``<run_path>/logs/``, or None."""
    kind = LoggerKind(kind)
    if kind is LoggerKind.none:
        return None
    if kind is LoggerKind.csv:
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(run_path), name="logs", version="")
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(run_path), name="logs", version="")


def fit_keywords(model: Any, opts: TrainOptions, run_path: Path) -> tuple[dict[str, Any], list[str]]:
    """Keywords for ``model.fit`` from the options (logger, ``ckpt_path="last"``) and notes on what
    this model cannot do (for the report)."""
    kw: dict[str, Any] = {}
    notes: list[str] = []
    if opts.logger is not LoggerKind.none:
        if fit_accepts(model, "logger"):
            kw["logger"] = make_logger(opts.logger, run_path)
        else:
            notes.append(f"no {opts.logger.value} log: this model's fit takes no Lightning logger "
                         "(per-epoch losses are in model/history.csv)")
    if opts.resume:
        if not fit_accepts(model, "ckpt_path"):
            from astrotorch.errors import InputValidationError

            raise InputValidationError(f"--resume: the {getattr(model, 'name', type(model).__name__)} model does not "
                                       "train with Lightning checkpoints")
        kw["ckpt_path"] = "last"
    return kw, notes


def fit_model(model: Any, opts: TrainOptions, run_path: Path, *args: Any, what: str = "", **kwargs: Any) -> tuple[float, list[str]]:
    """``model.fit(*args, **kwargs)`` with the logger and ``--resume`` wired in, between two stage
    lines; returns (seconds, notes for the report)."""
    extra, notes = fit_keywords(model, opts, run_path)
    name = getattr(model, "name", type(model).__name__)
    epochs = getattr(model, "max_epochs", None)
    say(opts, f"training {name}{' on ' + what if what else ''}"
        + (f" (up to {epochs} epochs)" if epochs else "") + (" from the last checkpoint" if opts.resume else ""))
    t0 = time.perf_counter()
    model.fit(*args, **kwargs, **extra)
    seconds = time.perf_counter() - t0
    history = getattr(model, "history", None)
    n_ep = len(history) if history is not None and hasattr(history, "__len__") else None
    say(opts, f"trained {name}" + (f": {n_ep} epochs" if n_ep else "") + f" in {seconds:.0f} s")
    if opts.checkpoint_dir is not None and not (Path(opts.checkpoint_dir) / "last.ckpt").is_file():
        notes.append(f"no checkpoint in {opts.checkpoint_dir}: this model does not train with Lightning")
    return seconds, notes


def write_predictions_test(run: Any, table: Any, units: dict[str, str], meta: dict[str, Any],
                           name: str = "predictions_test.csv") -> Path:
    """The held-out set's per-object predictions (the prediction-table contract) in the run folder."""
    return run.write_table(name, table, units=units, meta={"split": "held-out test set", **meta})


__all__ = ["say", "fit_accepts", "make_logger", "fit_keywords", "fit_model", "write_predictions_test"]
