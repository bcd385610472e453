"""The ``astrotorch`` command line: train, predict, evaluate, list-models, info, demo.

``astrotorch train <kind>`` trains on one data kind and writes a run folder (saved model,
metrics.json, plots, report.md); each kind's command lives in ``cli/train_<kind>.py``. Every command
checks its output path before loading data; errors end as described in ``cli/exit_codes.py``.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import typer

# harmless notices from dependencies that would only clutter a scientist's terminal
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")
warnings.filterwarnings("ignore", message=r".*padding='same' with even kernel lengths.*")

from astrotorch.errors import DataFormatError, InputValidationError

app = typer.Typer(help="astrotorch: deep learning for astronomy (spectra, images, light curves, catalogs).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
train_app = typer.Typer(help="Train a model on one data kind and write a run folder.", no_args_is_help=True)
predict_app = typer.Typer(help="Predict with a saved model.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(predict_app, name="predict")


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="show the Python traceback of an error (for bug reports)"),
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


# ------------------------------------------------------------------------------ generic array files
def load_arrays(path: Path, x_key: str = "x", y_key: str | None = "y", columns: str | None = None,
                target: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read inputs (and labels) from .npz / .npy / .h5 / .csv / .parquet.

    npz/h5: arrays named ``x_key`` and ``y_key``; csv/parquet: comma-separated ``columns`` for x and
    ``target`` for y (all other columns → x when ``columns`` is not given); every column used must
    hold numbers. A missing, corrupt or non-numeric input raises a typed error naming the file.
    """
    from astrotorch import io as aio

    suffix = path.suffix.lower()
    if not path.exists():
        raise InputValidationError(f"input file {path} does not exist")
    if suffix == ".npy":
        x, y = aio.read_npy(path), None
    elif suffix == ".npz":
        d = aio.read_npz(path, keys=[x_key], optional=[y_key] if y_key else [])
        x, y = d[x_key], d.get(y_key) if y_key else None
    elif suffix in (".h5", ".hdf5"):
        with aio.open_hdf5(path) as f:
            names = list(f.keys())
        if x_key not in names:
            raise DataFormatError(f"{path} has no dataset {x_key!r} (has {names})")
        d = aio.read_hdf5(path, keys=[x_key] + ([y_key] if y_key and y_key in names else []))
        x, y = d[x_key], d.get(y_key) if y_key else None
    elif suffix in (".csv", ".parquet"):
        df = aio.read_csv(path) if suffix == ".csv" else aio.read_parquet(path)
        tcols = [c for c in (target or "").split(",") if c]
        xcols = [c for c in (columns or "").split(",") if c] or [c for c in df.columns if c not in tcols]
        missing = [c for c in xcols + tcols if c not in df.columns]
        if missing:
            raise DataFormatError(f"{path} lacks columns {missing}; it has {[str(c) for c in df.columns]}")
        df = aio.require_numeric_columns(path, df, xcols + tcols)
        return df[xcols].to_numpy(np.float32), (df[tcols].to_numpy(np.float32) if tcols else None)
    else:
        raise InputValidationError(f"unsupported input format {suffix!r}: use .npz, .npy, .h5, .csv or .parquet")
    for name, arr in ((x_key, x), (y_key, y)):
        if arr is not None and np.asarray(arr).dtype.kind not in "biuf":
            raise DataFormatError(f"{path}: array {name!r} holds {np.asarray(arr).dtype} values; numbers are needed")
    return x, y


def _write_predictions(out: Path, pred: Any, names: list[str]) -> None:
    import pandas as pd

    from astrotorch.io import atomic_write

    value, std = (pred if isinstance(pred, tuple) else (pred, None))
    cols: dict[str, Any] = {}
    for j, nm in enumerate(names):
        cols[nm] = value[:, j]
        if std is not None:
            for kind, arr in std.items():
                cols[f"{nm}_{kind}_std"] = arr[:, j]
    df = pd.DataFrame(cols)
    if out.suffix.lower() == ".npz":
        with atomic_write(out, "wb") as fh:
            np.savez(fh, **cols)
    else:
        with atomic_write(out, "w") as fh:
            df.to_csv(fh, index=False)


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


@train_app.command("tabular")
def train_tabular(
    data: str = typer.Option("synthetic", help="'synthetic' (y = x·sin x, heteroscedastic) or a .npz/.h5/.csv/.parquet file"),
    model: str = typer.Option("bayesian_mlp", help="registered model name (see list-models)"),
    target: Optional[str] = typer.Option(None, help="csv/parquet: comma-separated label columns"),
    columns: Optional[str] = typer.Option(None, help="csv/parquet: comma-separated input columns"),
    epochs: int = typer.Option(60, min=1, help="maximum epochs"),
    test_size: float = typer.Option(0.2, help="held-out fraction for the report"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("runs/tabular"), help="run folder to write"),
    overwrite: bool = typer.Option(False, help="replace an existing run folder (only one astrotorch wrote)"),
) -> None:
    """Train any registered model on a table or arrays; write a run folder."""
    check_out(out, overwrite, inputs=[] if data == "synthetic" else [data])
    if not 0.0 < test_size < 1.0:
        raise InputValidationError(f"--test-size must be in (0, 1), got {test_size}")
    from astrotorch.models import create_model
    from astrotorch.plots.training import loss_curves
    from astrotorch.train.runs import RunFolder, markdown_table

    if data == "synthetic":
        from astrotorch.datasets.toy import xsinx

        x, y, _ = xsinx(3000, seed=seed)
    else:
        x, y = load_arrays(Path(data), columns=columns, target=target)
        if y is None:
            raise InputValidationError(f"{data} has no labels (npz/h5: array 'y'; csv: --target)")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    n_test = int(round(len(x) * test_size))
    te, tr = perm[:n_test], perm[n_test:]
    m = create_model(model, max_epochs=epochs, seed=seed, lr=0.003, early_stopping_patience=10)
    m.fit(x[tr], y[tr])
    metrics = m.evaluate(x[te], y[te])
    with RunFolder(out, overwrite=overwrite) as run:
        m.save(run.path / "model")
        run.write_metrics({"model": model, "data": data, "n_train": len(tr), "n_test": len(te), "test": metrics})
        run.savefig(loss_curves(m.history), "loss_curves.png")
        rows = [{"target": k, **v} for k, v in metrics.items()] if m.task == "regression" else [metrics]
        run.write_report(f"# Tabular run: {model}\n\nData: `{data}`, {len(tr)} training / {len(te)} test rows, seed {seed}.\n\n"
                         f"## Test metrics\n\n{markdown_table(rows)}\n\n![loss](plots/loss_curves.png)\n")
    typer.echo(f"run folder: {out}")


@predict_app.command("file")
def predict_file(
    model_folder: Path = typer.Argument(..., help="folder written by model.save / a run's model/"),
    input: Path = typer.Argument(..., help=".npz/.npy/.h5/.csv/.parquet with the inputs"),
    out: Path = typer.Option(Path("predictions.csv"), help="output .csv or .npz"),
    x_key: str = typer.Option("x", help="array name in npz/h5"),
    columns: Optional[str] = typer.Option(None, help="csv/parquet input columns"),
    overwrite: bool = typer.Option(False, help="replace an existing --out file (never an input)"),
) -> None:
    """Predict with a saved model; writes values and uncertainties (atomically)."""
    check_out(out, overwrite, inputs=[model_folder, input], folder=False)
    from astrotorch.models import load_folder

    m = load_folder(model_folder)
    x, _ = load_arrays(input, x_key=x_key, y_key=None, columns=columns)
    pred = m.predict(x)
    names = m.targetname or [f"label_{i}" for i in range(m.output_dim)]
    if m.task == "classification":
        names = m.targetname or [f"p_class_{i}" for i in range(m.output_dim)]
    _write_predictions(out, pred, names)
    typer.echo(f"wrote {out}")


@app.command()
def evaluate(
    model_folder: Path = typer.Argument(..., help="saved model folder"),
    input: Path = typer.Argument(..., help=".npz/.h5 with x and y, or .csv/.parquet with --target"),
    x_key: str = typer.Option("x"),
    y_key: str = typer.Option("y"),
    target: Optional[str] = typer.Option(None),
    columns: Optional[str] = typer.Option(None),
    out: Optional[Path] = typer.Option(None, help="also write the metrics JSON here"),
    overwrite: bool = typer.Option(False, help="replace an existing --out file (never an input)"),
) -> None:
    """Evaluate a saved model on labelled data; prints metrics as JSON."""
    if out is not None:
        check_out(out, overwrite, inputs=[model_folder, input], folder=False)
    from astrotorch.models import load_folder
    from astrotorch.train.runs import to_jsonable

    m = load_folder(model_folder)
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
    n_train: int = typer.Option(2000, min=10, help="synthetic training spectra"),
    epochs: int = typer.Option(10, min=1, help="maximum epochs"),
    seed: int = typer.Option(0),
) -> None:
    """The main job on built-in synthetic data: ApogeeBCNN on synthetic APOGEE spectra (~minutes on 2 cores)."""
    check_out(out, overwrite=True)  # replaces only a folder astrotorch wrote, never the user's
    from astrotorch.cli.train_spectra import train_spectra

    train_spectra(model="apogee_bcnn", data="synthetic", n_train=n_train, epochs=epochs, out=out, seed=seed,
                  overwrite=True)
    typer.echo(f"\nDemo finished. Open {out / 'report.md'} (plots in {out / 'plots'}, model in {out / 'model'}).")


def _register_kinds() -> None:
    """Register each data kind's train/predict commands (``cli/train_<kind>.py``)."""
    from astrotorch.cli.train_images import train_images
    from astrotorch.cli.train_lightcurves import train_lightcurves
    from astrotorch.cli.train_spectra import train_spectra
    from astrotorch.cli.train_stars import predict_stars, train_stars

    train_app.command("spectra")(train_spectra)
    train_app.command("images")(train_images)
    train_app.command("stars")(train_stars)
    train_app.command("lightcurves")(train_lightcurves)
    predict_app.command("stars")(predict_stars)


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
