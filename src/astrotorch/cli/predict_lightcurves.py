"""``astrotorch predict lightcurves MODEL DATA``: per-object predictions of a saved light-curve model.

``DATA`` is a folder of per-object CSV files (``time,mag,magerr,band`` or ``time,flux,fluxerr,band``,
as in the shared sets; ``csv:<dir>`` also works), ``plasticc:<dir>`` (``training_set.csv`` +
``training_set_metadata.csv``) or a long Parquet table (``object_id,time,value,error,band``; per-object
metadata with ``--metadata``). The table follows the prediction-table contract of
:mod:`astrotorch.cli.prediction_table`: the object id first — the CSV folder's ``labels.csv`` id
column (``ZTFID``, ``Num`` ...) naming the files, else ``object_id`` (file stem / PLAsTiCC / Parquet
id), or ``--id-column`` — then, for a classifier, ``p_<class>`` per class (``p_<class>_sigma`` for a
Bayesian model) and ``predicted_class``; for a regressor ``<target>`` (``<target>_sigma`` when the
model gives σ). ``--out`` is written in the format its suffix names (``.csv`` ECSV, ``.parquet``,
``.fits``, ``.h5``; :func:`astrotorch.io.write_table`) atomically, with units and metadata; it is
checked before any work (:func:`astrotorch.io.check_output_path`): never one of the inputs, never a
special file or a link, an existing file only with ``--overwrite``.

Example::

    astrotorch predict lightcurves runs/rrl/model shared/light_curves/rrlyrae_stripe82 --out rrl.parquet

:func:`predict_lightcurves` is a plain function as well as a typer command (registered by
``cli/main.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from astrotorch.cli.predict import ChunkSize, OutTable, OverwriteOut, QuietOpt
from astrotorch.errors import InputValidationError


def read_lightcurve_input(data: str, id_column: str | None = None, metadata: Path | None = None,
                          progress: bool = True) -> tuple[Any, str, str]:
    """Light curves named by a ``DATA`` spec → (LightCurveSet, id column name, description)."""
    from astrotorch.lightcurves import read_csv_folder, read_parquet, read_plasticc

    kind, sep, rest = data.partition(":")
    if sep and kind == "plasticc":
        curves = read_plasticc(rest)
        return curves, id_column or "object_id", f"PLAsTiCC light curves from {rest}"
    path = Path(rest if sep and kind == "csv" else data)
    if path.suffix.lower() == ".parquet":
        if not path.is_file():
            raise FileNotFoundError(f"no such Parquet file: {path}")
        curves = read_parquet(path, metadata)
        return curves, id_column or "object_id", f"Parquet light curves from {path}"
    if path.is_dir():
        from astrotorch.lightcurves.readers import _read_table

        labels = path / "labels.csv"
        name = "object_id"
        if labels.is_file():
            table = _read_table(labels)
            name = id_column or str(table.columns[0])
            if name not in table.columns:
                raise InputValidationError(f"--id-column {name!r} is not a column of {labels} ({list(table.columns)})")
            curves = read_csv_folder(path, id_column=name, progress=progress)
        else:
            if id_column is not None:
                raise InputValidationError(f"--id-column needs a labels.csv in {path} naming the files")
            curves = read_csv_folder(path, labels=None, progress=progress)
        return curves, name, f"CSV light curves from {path}"
    if not path.exists():
        raise FileNotFoundError(f"DATA {data!r}: no such folder or file")
    raise InputValidationError(f"DATA {data!r} must be a folder of CSV files, 'plasticc:<dir>' or a .parquet file")


def predict_lightcurves(
    model_folder: Annotated[Path, typer.Argument(help="saved light-curve model folder (or a run folder with model/)")],
    data: Annotated[str, typer.Argument(help="folder of per-object CSVs, 'plasticc:<dir>' or a .parquet table")],
    out: OutTable = Path("predictions.csv"),
    id_column: Annotated[str | None, typer.Option(help="column naming the objects (CSV folder: of labels.csv)")] = None,
    metadata: Annotated[Path | None, typer.Option(help="Parquet input: per-object metadata table")] = None,
    batch_size: ChunkSize = 512,
    overwrite: OverwriteOut = False,
    quiet: QuietOpt = False,
) -> Path:
    """Predict classes (probabilities) or values for every light curve in DATA; write the prediction table."""
    from astrotorch.cli.predict import check_table_out, load_model_folder, model_input_folder
    from astrotorch.cli.prediction_table import (
        echo_range_warning,
        model_outputs,
        model_table,
        predict_in_chunks,
        table_meta,
    )
    from astrotorch.io import write_table
    from astrotorch.models.lightcurves import LightCurveFeatures, LightCurveNetworkModel

    _, sep, rest = data.partition(":")
    folder = model_input_folder(model_folder)
    check_table_out(Path(out), overwrite, inputs=[folder, Path(rest if sep else data), metadata])
    model = load_model_folder(model_folder)
    if not isinstance(model, (LightCurveNetworkModel, LightCurveFeatures)):
        raise InputValidationError(f"{folder} holds a {model.name!r} model, not a light-curve model")
    if quiet:
        model.progress = "none"  # no tqdm bar for the period search / features either
    curves, id_name, description = read_lightcurve_input(data, id_column, metadata, progress=not quiet)
    ids = np.array([str(lc.object_id) for lc in curves], dtype=object)
    res = predict_in_chunks(lambda part: model_outputs(model, part), lambda a, b: curves[a:b], len(curves),
                            chunk=batch_size, desc="predicting light curves", quiet=quiet)
    table, units = model_table(model, res, ids, id_name)
    meta = table_meta(model, model_folder=str(folder), input=description, n_objects=len(ids),
                      units="probabilities are dimensionless; regression values are in the training targets' units")
    write_table(table, out, units=units, meta=meta)
    typer.echo(f"wrote {out} ({len(table)} rows)")
    if "values" in res:
        echo_range_warning(model, res["values"])
    return Path(out)


__all__ = ["predict_lightcurves", "read_lightcurve_input"]
