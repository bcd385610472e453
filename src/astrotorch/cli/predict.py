"""``astrotorch predict file`` and ``astrotorch predict images``: a saved model's predictions as a table.

Both write the prediction-table contract (:mod:`astrotorch.cli.prediction_table`): the object id
first, then values with σ or class probabilities (with σ for Bayesian models) and the predicted
class; ``--out`` is written in the format its suffix names (.csv ECSV, .parquet, .fits, .h5, .npz;
:func:`astrotorch.io.write_table`), atomically, after the same early checks as every command.

Examples::

    astrotorch predict file runs/tabular/model table.csv --id-column name --out pred.parquet
    astrotorch predict images runs/gz1/model galaxy_zoo1_sdss69.h5 --out gz1.fits
    astrotorch predict images runs/gz1/model cutouts/ --crop 207 --out gz1.csv
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from astrotorch.errors import InputValidationError

OutTable = Annotated[Path, typer.Option(help="table to write; the suffix picks the format: .csv (ECSV), .parquet, "
                                             ".fits, .h5 (or .npz)")]
OverwriteOut = Annotated[bool, typer.Option(help="replace an existing --out file (never an input)")]
IdColumn = Annotated[str | None, typer.Option(help="column (or array) holding the object ids; default: objid, "
                                                      "object_id, id ... when present, else the row number")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
ChunkSize = Annotated[int, typer.Option(min=1, help="objects predicted per chunk (memory, progress steps)")]


def check_table_out(out: Path, overwrite: bool, inputs: Sequence[Any], label: str = "--out") -> Path:
    """``--out`` of a table: a known suffix and a writable path that is no input, before any work."""
    from astrotorch.io import check_output_path, table_format

    check_output_path(out, overwrite=overwrite, inputs=[i for i in inputs if i is not None], label=label,
                      overwrite_hint="--overwrite")
    table_format(out, label=label)
    return Path(out)


def load_model_folder(folder: Path) -> Any:
    """A saved model from its folder, or from a run folder's ``model/``."""
    import astrotorch.models  # noqa: F401  (registers every model class for load_folder)
    from astrotorch.models import load_folder

    folder = Path(folder)
    if (folder / "model").is_dir() and not (folder / "manifest.json").exists():
        folder = folder / "model"
    return load_folder(folder)


def model_input_folder(folder: Path) -> Path:
    """The folder :func:`load_model_folder` reads (for the never-write-into-an-input check)."""
    folder = Path(folder)
    return folder / "model" if (folder / "model").is_dir() and not (folder / "manifest.json").exists() else folder


def parse_units(text: str | None) -> dict[str, str]:
    """``--units "teff=K,logg=dex"`` → ``{"teff": "K", "logg": "dex"}``."""
    units: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, unit = item.partition("=")
        if not sep or not name.strip():
            raise InputValidationError(f"--units takes name=unit pairs separated by commas, got {item!r}")
        units[name.strip()] = unit.strip()
    return units


def _slice(x: Any, start: int, stop: int) -> Any:
    return {k: v[start:stop] for k, v in x.items()} if isinstance(x, dict) else x[start:stop]


def predict_file(
    model_folder: Annotated[Path, typer.Argument(help="folder written by model.save, or a run folder")],
    input: Annotated[Path, typer.Argument(help=".npz/.npy/.h5/.csv/.parquet with the inputs")],
    out: OutTable = Path("predictions.csv"),
    x_key: Annotated[str, typer.Option(help="array name in npz/h5")] = "x",
    columns: Annotated[str | None, typer.Option(help="csv/parquet input columns (default: all but the id)")] = None,
    id_column: IdColumn = None,
    units: Annotated[str | None, typer.Option(help="units of the outputs for the table header, e.g. 'teff=K,logg=dex'")] = None,
    batch_size: ChunkSize = 4096,
    quiet: QuietOpt = False,
    overwrite: OverwriteOut = False,
) -> Path:
    """Predict with a saved model on an array file or a table; writes the prediction table (atomically)."""
    from astrotorch.cli.arrays import load_inputs
    from astrotorch.cli.prediction_table import (
        echo_range_warning,
        model_outputs,
        model_table,
        predict_in_chunks,
        table_meta,
    )
    from astrotorch.io import write_table

    check_table_out(out, overwrite, inputs=[model_input_folder(model_folder), input])
    unit_map = parse_units(units)
    model = load_model_folder(model_folder)
    x, _, ids, id_name = load_inputs(Path(input), x_key=x_key, y_key=None, columns=columns, id_column=id_column)
    n = len(x["image"] if isinstance(x, dict) else x)
    res = predict_in_chunks(lambda xb: model_outputs(model, xb), lambda a, b: _slice(x, a, b), n,
                            chunk=batch_size, desc=f"predicting {Path(input).name}", quiet=quiet)
    table, col_units = model_table(model, res, ids, id_name, units=unit_map)
    write_table(table, out, units=col_units, meta=table_meta(model, model_folder=str(model_folder), input=str(input)))
    typer.echo(f"wrote {out} ({len(table)} rows)")
    if "values" in res:
        echo_range_warning(model, res["values"])
    return Path(out)


# ------------------------------------------------------------------------------------------- images
class _ImageSource:
    """Images to predict, read a chunk at a time: a Galaxy10-layout HDF5 file or a folder of cutouts."""

    def __init__(self, path: Path, crop: int | None, size: int | None) -> None:
        self.path, self.crop, self.size = Path(path), crop, size
        if self.path.is_dir():
            from astrotorch.datasets.image_folder import EXTENSIONS, _resolve

            self.files, ids, _ = _resolve(self.path, None, 0, 1, EXTENSIONS, None)
            self.ids, self.id_name = np.asarray(ids), "object_id"
            self.n = len(self.files)
        elif self.path.suffix.lower() in (".h5", ".hdf5"):
            from astrotorch.datasets.galaxy10 import Galaxy10Data

            self.h5 = Galaxy10Data(self.path)
            self.n = len(self.h5)
            ids = self.h5.ids
            self.ids, self.id_name = (ids, "objid") if ids is not None else (np.arange(self.n), "row")
        else:
            raise InputValidationError(f"{path}: give a Galaxy10-layout .h5 file or a folder of image cutouts")

    def take(self, start: int, stop: int) -> np.ndarray:
        from astrotorch.datasets.image_folder import center_crop, read_image, resize

        if not self.path.is_dir():
            imgs = self.h5.to_numpy(slice(start, stop))[0]
            if self.crop is None and self.size is None:
                return imgs
            imgs = list(imgs)
        else:
            imgs = [read_image(p) for p in self.files[start:stop]]
        out = []
        for img in imgs:
            img = center_crop(img, self.crop) if self.crop is not None else img
            out.append(resize(img, self.size) if self.size is not None else img)
        shapes = {im.shape for im in out}
        if len(shapes) > 1:
            raise InputValidationError(f"images in {self.path} have different shapes {sorted(shapes)[:3]}: pass --size")
        return np.stack(out)

    def close(self) -> None:
        if hasattr(self, "h5"):
            self.h5.close()


def predict_images(
    model_folder: Annotated[Path, typer.Argument(help="saved image classifier (model folder or run folder)")],
    input: Annotated[Path, typer.Argument(help="a Galaxy10-layout .h5 file (ids from objid) or a folder of cutouts "
                                               "(ids: file names without extension)")],
    out: OutTable = Path("predictions.csv"),
    crop: Annotated[int | None, typer.Option(min=1, help="centre crop in pixels before resizing (e.g. 207 for "
                                                            "the Galaxy Zoo JPEGs)")] = None,
    size: Annotated[int | None, typer.Option(min=1, help="resize to this many pixels (default: the model's input "
                                                            "size when the images differ)")] = None,
    batch_size: ChunkSize = 256,
    quiet: QuietOpt = False,
    overwrite: OverwriteOut = False,
) -> Path:
    """Classify images with a saved galaxy model; writes ids, class probabilities (σ) and the predicted class."""
    from astrotorch.cli.prediction_table import model_outputs, model_table, predict_in_chunks, table_meta
    from astrotorch.io import write_table

    check_table_out(out, overwrite, inputs=[model_input_folder(model_folder), input])
    model = load_model_folder(model_folder)
    shape = getattr(model, "input_shape", None)
    if model.task != "classification" or not getattr(model, "channels_last_input", False) or isinstance(shape, dict):
        raise InputValidationError(f"{model_folder} holds a {model.name!r} model, not an image classifier: "
                                   "use predict file")
    src = _ImageSource(Path(input), crop, size)
    try:
        first = src.take(0, 1)
        side = int(shape[-1]) if shape is not None else first.shape[2]
        if first.shape[1:3] != (side, side) and size is None:
            src.size = side
            if not quiet:
                typer.echo(f"note: resizing the {first.shape[1]}×{first.shape[2]} images to the model's {side}×{side}"
                           + ("" if crop else "; pass --crop to match the training cutouts' field of view"))
        res = predict_in_chunks(lambda xb: model_outputs(model, xb), src.take, src.n, chunk=batch_size,
                                desc=f"classifying {src.path.name}", quiet=quiet)
    finally:
        src.close()
    table, col_units = model_table(model, res, src.ids, src.id_name)
    write_table(table, out, units=col_units, meta=table_meta(model, model_folder=str(model_folder), input=str(input),
                                                             crop=crop, size=src.size))
    typer.echo(f"wrote {out} ({len(table)} images)")
    return Path(out)


__all__ = ["predict_file", "predict_images", "check_table_out", "load_model_folder", "model_input_folder",
           "parse_units"]
