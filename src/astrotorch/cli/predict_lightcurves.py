"""``astrotorch predict lightcurves MODEL DATA``: per-object predictions of a saved light-curve model.

``DATA`` is a folder of per-object CSV files (``time,mag,magerr,band`` or ``time,flux,fluxerr,band``,
as in the shared sets; ``csv:<dir>`` also works), ``plasticc:<dir>`` (``training_set.csv`` +
``training_set_metadata.csv``) or a long Parquet table (``object_id,time,value,error,band``; per-object
metadata with ``--metadata``). The table written to ``--out`` starts with the object id — the CSV
folder's ``labels.csv`` id column (``ZTFID``, ``Num`` ...) naming the files, else ``object_id`` (file
stem / PLAsTiCC / Parquet id), or ``--id-column`` — then, for a classifier, ``predicted_class`` and
one ``prob_<class>`` column per class (with ``prob_<class>_std`` for a Bayesian model); for a
regressor one column per target (with ``<target>_std`` when the model gives σ). ``--out`` writes what
its suffix says (``.csv``, ``.parquet``, ``.fits``, ``.h5``) atomically, with units and descriptions
in the file's metadata (:func:`astrotorch.lightcurves.tables.write_table`). An existing ``--out`` is
replaced only with ``--overwrite``, never when it is one of the inputs, and never when it is not a
regular file.

:func:`predict_lightcurves` is a plain function as well as a typer command (registered by
``cli/main.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from typing_extensions import Annotated

from astrotorch.errors import InputValidationError


def read_lightcurve_input(data: str, id_column: Optional[str] = None, metadata: Optional[Path] = None,
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


def _column_label(value: Any) -> str:
    """A class label as a column-name fragment: letters, digits, '.', '+' and '-' kept, the rest '_'."""
    return re.sub(r"[^0-9A-Za-z.+-]+", "_", str(value)).strip("_") or "class"


def _check_out(out: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse an output that is an input, a special file or a folder, or exists without --overwrite."""
    from astrotorch.lightcurves.tables import table_suffix

    table_suffix(out)
    target = out.resolve()
    for p in inputs:
        p = p.resolve()
        if target == p or (p.is_dir() and p in target.parents):
            raise InputValidationError(f"--out {out} would write onto (or into) the input {p}; choose another path")
    if out.exists() or out.is_symlink():
        if not out.is_file():
            raise InputValidationError(f"--out {out} exists and is not a regular file; refusing to replace it")
        if not overwrite:
            raise InputValidationError(f"--out {out} already exists; pass --overwrite to replace it")


def prediction_columns(model: Any, curves: Any, ids: list[str], id_name: str, batch_size: Optional[int] = None
                       ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(columns, units, descriptions) of a model's predictions for ``curves``, the id column first."""
    cols: dict[str, Any] = {id_name: np.asarray(ids, dtype=object)}
    units: dict[str, str] = {id_name: ""}
    desc: dict[str, str] = {id_name: "object identifier"}
    if model.task == "classification":
        out = model.predict_proba(curves, batch_size=batch_size) if batch_size else model.predict_proba(curves)
        probs, std = (out if isinstance(out, tuple) else (out, None))
        classes = np.asarray(model.classes_)
        cols["predicted_class"] = np.asarray([str(c) for c in classes[probs.argmax(1)].tolist()], dtype=object)
        units["predicted_class"] = ""
        desc["predicted_class"] = "most probable class"
        for j, c in enumerate(classes.tolist()):
            name = f"prob_{_column_label(c)}"
            cols[name], units[name], desc[name] = probs[:, j], "", f"probability of class {c!r}"
            if std is not None:
                cols[f"{name}_std"] = std["total"][:, j]
                units[f"{name}_std"], desc[f"{name}_std"] = "", f"1-sigma uncertainty of the probability of class {c!r}"
        return cols, units, desc
    out = model.predict(curves, batch_size=batch_size) if batch_size else model.predict(curves)
    values, std = (out if isinstance(out, tuple) else (out, None))
    values = np.asarray(values).reshape(len(ids), -1)
    names = list(model.targetname or [f"target_{j}" for j in range(values.shape[1])])
    for j, t in enumerate(names):
        name = _column_label(t)
        cols[name], units[name] = values[:, j], ""
        desc[name] = f"predicted {t} (in the units of the training targets)"
        if std is not None:
            cols[f"{name}_std"] = std["total"][:, j]
            units[f"{name}_std"], desc[f"{name}_std"] = "", f"1-sigma uncertainty of {t}"
    return cols, units, desc


def predict_lightcurves(
    model_folder: Annotated[Path, typer.Argument(help="saved light-curve model folder (or a run folder with model/)")],
    data: Annotated[str, typer.Argument(help="folder of per-object CSVs, 'plasticc:<dir>' or a .parquet table")],
    out: Annotated[Path, typer.Option(help="table to write: .csv, .parquet, .fits or .h5")] = Path("predictions.csv"),
    id_column: Annotated[Optional[str], typer.Option(help="column naming the objects (CSV folder: of labels.csv)")] = None,
    metadata: Annotated[Optional[Path], typer.Option(help="Parquet input: per-object metadata table")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="inference batch size (networks)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out file")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> Path:
    """Predict classes (probabilities) or values for every light curve in DATA; write a table."""
    from astrotorch.lightcurves.tables import write_table
    from astrotorch.models import load_folder
    from astrotorch.models.lightcurves import LightCurveFeatures, LightCurveNetworkModel

    out = Path(out)
    folder = Path(model_folder)
    if (folder / "model").is_dir() and not (folder / "manifest.json").exists():
        folder = folder / "model"
    kind, sep, rest = data.partition(":")
    inputs = [folder, Path(rest if sep else data)] + ([Path(metadata)] if metadata else [])
    _check_out(out, inputs, overwrite)
    if batch_size is not None and batch_size < 1:
        raise InputValidationError(f"--batch-size must be ≥ 1, got {batch_size}")
    model = load_folder(folder)
    if not isinstance(model, (LightCurveNetworkModel, LightCurveFeatures)):
        raise InputValidationError(f"{folder} holds a {model.name!r} model, not a light-curve model")
    if hasattr(model, "progress"):
        model.progress = not quiet
    curves, id_name, description = read_lightcurve_input(data, id_column, metadata, progress=not quiet)
    ids = [lc.object_id for lc in curves]
    cols, units, desc = prediction_columns(model, curves, ids, id_name, batch_size)
    meta = {"model": model.name, "model_folder": str(folder), "input": description, "n_objects": len(ids),
            "task": model.task}
    if model.task == "classification":
        meta["classes"] = [str(c) for c in np.asarray(model.classes_).tolist()]
    write_table(out, cols, units, desc, meta)
    typer.echo(f"wrote {len(ids)} predictions to {out}")
    return out


__all__ = ["predict_lightcurves", "read_lightcurve_input", "prediction_columns"]
