"""The ``astrotorch`` command line: train, predict, evaluate, list-models, info, demo.

``astrotorch train <kind>`` trains on one data kind and writes a run folder (saved model,
metrics.json, predictions_test.csv, logs/, plots, report.md); each kind's command lives in
``cli/train_<kind>.py`` and takes the shared options of ``cli/options.py``. ``astrotorch predict
<kind>`` writes a prediction table (``cli/predict.py``, ``cli/prediction_table.py``). Every command
checks its output path before loading data; errors end as described in ``cli/exit_codes.py``.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

# harmless notices from dependencies that would only clutter a scientist's terminal
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")
warnings.filterwarnings("ignore", message=r".*padding='same' with even kernel lengths.*")

from astrotorch.errors import InputValidationError  # noqa: E402  (after the warning filters, on purpose)

app = typer.Typer(help="astrotorch: deep learning for astronomy (spectra, images, light curves, catalogs).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
train_app = typer.Typer(help="Train a model on one data kind and write a run folder.", no_args_is_help=True)
predict_app = typer.Typer(help="Predict with a saved model.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(predict_app, name="predict")
fit_app = typer.Typer(help="Fit physical models to observed data (no network): spectra through an emulator.",
                      no_args_is_help=True)
app.add_typer(fit_app, name="fit")


def _print_version(value: bool) -> None:
    if value:
        import astrotorch

        typer.echo(f"astrotorch {astrotorch.__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="show the Python traceback of an error (for bug reports)"),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print astrotorch's version and exit"),
) -> None:
    """astrotorch: deep learning for astronomy (spectra, images, light curves, catalogs)."""
    from astrotorch.cli.exit_codes import state

    state.debug = debug


def check_out(out: Path, overwrite: bool, inputs: Sequence[Any] = (), folder: bool = True) -> Path:
    """The CLI's check of ``--out`` before any work (see :func:`astrotorch.io.check_output_path`)."""
    from astrotorch.io import check_output_path

    return check_output_path(out, overwrite=overwrite, folder=folder, inputs=inputs, label="--out",
                             overwrite_hint="--overwrite")


def _echo_json(obj: Any) -> None:
    from astrotorch.train.runs import to_jsonable

    typer.echo(json.dumps(to_jsonable(obj), indent=2))


# the generic array reader, re-exported for callers of astrotorch.cli.main.load_arrays
from astrotorch.cli.arrays import load_arrays  # noqa: E402


# ------------------------------------------------------------------------------ commands
@app.command("list-models")
def list_models_cmd() -> None:
    """List the registered model names."""
    from astrotorch.models import get_model_class, list_models

    for name in list_models():
        cls = get_model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        typer.echo(f"{name:32s} {cls.__name__:28s} {doc}")


@app.command()
def info() -> None:
    """Versions, configuration in force and available devices."""
    import lightning
    import torch

    import astrotorch
    from astrotorch.config import get_config

    _echo_json({
        "astrotorch": astrotorch.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu_threads": torch.get_num_threads(),
        "config": get_config().to_dict(),
    })


@app.command()
def evaluate(
    model_folder: Path = typer.Argument(..., help="saved model folder (or a run folder)"),
    input: Path = typer.Argument(..., help=".npz/.h5 with x and y, or .csv/.parquet with --target"),
    x_key: str = typer.Option("x"),
    y_key: str = typer.Option("y"),
    target: str | None = typer.Option(None),
    columns: str | None = typer.Option(None),
    out: Path | None = typer.Option(None, help="also write the metrics JSON here"),
    overwrite: bool = typer.Option(False, help="replace an existing --out file (never an input)"),
) -> None:
    """Evaluate a saved model on labelled data; prints metrics as JSON."""
    from astrotorch.cli.predict import load_model_folder, model_input_folder

    if out is not None:
        check_out(out, overwrite, inputs=[model_input_folder(model_folder), input], folder=False)
    from astrotorch.train.runs import to_jsonable

    m = load_model_folder(model_folder)
    x, y = load_arrays(input, x_key=x_key, y_key=y_key, columns=columns, target=target)
    if y is None:
        raise InputValidationError(f"{input} has no labels")
    metrics = m.evaluate(x, y)
    _echo_json(metrics)
    if out is not None:
        from astrotorch.io import atomic_write

        with atomic_write(out, "w") as fh:
            fh.write(json.dumps(to_jsonable(metrics), indent=2))


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_run"), help="run folder to write (an earlier demo run there is replaced)"),
    data: str = typer.Option("auto", help="'auto' (spectra from the published APOGEE emulators when their files "
                                          "are found, else the built-in generator), 'emulated' or 'synthetic'"),
    n_train: int = typer.Option(4000, min=10, help="training spectra"),
    epochs: int = typer.Option(40, min=1, help="maximum epochs (early stopping usually ends sooner)"),
    seed: int = typer.Option(0),
) -> None:
    """The main job: ApogeeBCNN on APOGEE spectra generated on the spot (~minutes on 2 cores)."""
    check_out(out, overwrite=True)  # replaces only a folder astrotorch wrote, never the user's
    from astrotorch.cli.train_spectra import train_spectra
    from astrotorch.cli.training import say

    if data not in ("auto", "emulated", "synthetic"):
        raise InputValidationError(f"--data must be 'auto', 'emulated' or 'synthetic', got {data!r}")
    say(None, f"demo: ApogeeBCNN on {n_train} generated APOGEE spectra ({data}), up to {epochs} epochs (a few "
              "minutes on 2 CPU cores) ...")
    train_spectra(model="apogee_bcnn", data=data, n_train=n_train, epochs=epochs, out=out, seed=seed,
                  overwrite=True)
    typer.echo(f"\nDemo finished. Open {out / 'report.md'} (plots in {out / 'plots'}, model in {out / 'model'}).")


def _register_kinds() -> None:
    """Register each data kind's train/predict commands (``cli/train_<kind>.py``, ``cli/predict*.py``)."""
    from astrotorch.cli.convert_astronn import convert_astronn
    from astrotorch.cli.predict import predict_file, predict_images
    from astrotorch.cli.predict_lightcurves import predict_lightcurves
    from astrotorch.cli.spectra_commands import fit_spectra, predict_spectra
    from astrotorch.cli.train_images import train_images
    from astrotorch.cli.train_lightcurves import train_lightcurves
    from astrotorch.cli.train_spectra import train_spectra
    from astrotorch.cli.train_stars import predict_stars, train_stars
    from astrotorch.cli.train_tabular import train_tabular

    train_app.command("tabular")(train_tabular)
    train_app.command("spectra")(train_spectra)
    train_app.command("images")(train_images)
    train_app.command("stars")(train_stars)
    train_app.command("lightcurves")(train_lightcurves)
    predict_app.command("file")(predict_file)
    predict_app.command("images")(predict_images)
    predict_app.command("stars")(predict_stars)
    predict_app.command("lightcurves")(predict_lightcurves)
    predict_app.command("spectra")(predict_spectra)
    fit_app.command("spectra")(fit_spectra)
    app.command("convert-astronn")(convert_astronn)

_register_kinds()


def run_cli(args: list[str] | None = None) -> int:
    """Run the command line on ``args`` (default: ``sys.argv[1:]``) and return its exit code.

    0 ok, 1 internal error (traceback printed), 2 user error (one line on stderr), 130 interrupted.
    """
    from astrotorch.cli.exit_codes import run

    return run(app, args)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(run_cli())


if __name__ == "__main__":  # pragma: no cover
    main()
