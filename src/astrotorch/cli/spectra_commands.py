"""``astrotorch predict spectra`` and ``astrotorch fit spectra``: real APOGEE files in, a labelled table out.

Both read apStar / aspcapStar / apVisit FITS, compiled or generated APOGEE HDF5, or ``.npz`` arrays (one
or many files, or glob patterns; :func:`astrotorch.apogee.observed.read_spectra`), gap-delete and
continuum-normalise them, and write one row per spectrum: ``APOGEE_ID``, ``file``, ``kind``, ``snr``,
each label and its 1-σ uncertainty ``<label>_err``, with units:

* ``.csv`` / ``.ecsv``: ECSV — CSV with a ``#``-commented YAML header holding the units (read back with
  ``astropy.table.Table.read(path)`` or ``pandas.read_csv(path, comment="#")``);
* ``.parquet``: each column's unit in its field metadata (``unit``);
* ``.fits``: a binary table with ``TUNITn``.

The file is written atomically; an existing output is replaced only with ``--overwrite``, never when it
is one of the inputs, and never when it is not a regular file. The command functions are plain Python
functions as well as typer commands (registered by ``cli/main.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from typing_extensions import Annotated

from astrotorch.errors import InputValidationError

#: units of the labels astrotorch's spectral data sets use (others: dex)
_UNITS = {"teff": "K", "vmacro": "km/s", "parallax": "mas", "K": "mag", "fakemag": ""}
#: ``--flag-pixels`` choices of ``predict spectra``
FLAG_CHOICES = ("emulator", "none")


def label_unit(name: str) -> str:
    """Unit of a label name (Teff in K, v_macro in km/s, abundances and log g in dex)."""
    return _UNITS.get(name, "dex")


def _check_out(out: Path, inputs: list[Path], overwrite: bool) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".ecsv", ".parquet", ".fits"):
        raise InputValidationError(f"--out {out}: the table must end in .csv, .ecsv, .parquet or .fits")
    if out.exists() or out.is_symlink():
        if not out.is_file():
            raise InputValidationError(f"--out {out} exists and is not a regular file; refusing to replace it")
        resolved = out.resolve()
        if any(resolved == p.resolve() for p in inputs):
            raise InputValidationError(f"--out {out} is one of the input files; refusing to overwrite it")
        if not overwrite:
            raise InputValidationError(f"--out {out} exists; pass --overwrite to replace it")
    return out


def write_label_table(path: str | os.PathLike[str], columns: dict[str, np.ndarray], units: dict[str, str]) -> Path:
    """Write ``columns`` (name → 1-D array) with ``units`` (name → unit) atomically as ECSV, Parquet or FITS."""
    from astropy.table import Table

    from astrotorch.io import atomic_write

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".ecsv", ".fits"):
        table = Table({k: np.asarray(v) for k, v in columns.items()})
        if suffix == ".fits":
            from astropy.io import fits

            # TUNITn written as given: astropy's unit parser would drop 'dex', which FITS does not define
            hdu = fits.table_to_hdu(table)
            for i, name in enumerate(table.colnames, start=1):
                if units.get(name):
                    hdu.header[f"TUNIT{i}"] = units[name]
            with atomic_write(path, "wb") as fh:
                fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(fh)
        else:
            for k, unit in units.items():
                if unit and k in table.colnames:
                    table[k].unit = unit
            with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
                table.write(fh, format="ascii.ecsv", delimiter=",")
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields, arrays = [], []
        for k, v in columns.items():
            arr = pa.array(np.asarray(v))
            meta = {"unit": units[k]} if units.get(k) else None
            fields.append(pa.field(k, arr.type, metadata=meta))
            arrays.append(arr)
        with atomic_write(path, "wb") as fh:
            pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), fh)
    else:
        raise InputValidationError(f"{path}: the table must end in .csv, .ecsv, .parquet or .fits")
    return path


def _base_columns(obs: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    cols = {"APOGEE_ID": obs.apogee_id, "file": obs.file, "kind": obs.kind, "snr": obs.snr.astype(np.float64)}
    return cols, {}


def _load_model(folder: Path) -> Any:
    import astrotorch.models.spectra  # noqa: F401  (registers the spectral models for load_folder)
    from astrotorch.models import load_folder

    folder = Path(folder)
    if (folder / "model").is_dir() and not (folder / "manifest.json").exists():
        folder = folder / "model"  # a run folder
    return load_folder(folder)


def predict_spectra(
    model_folder: Annotated[Path, typer.Argument(help="a saved spectral model (or a train-spectra run folder)")],
    files: Annotated[list[str], typer.Argument(help="apStar/aspcapStar/apVisit FITS, .h5 or .npz files, or glob patterns")],
    out: Annotated[Path, typer.Option(help="table to write: .csv (ECSV), .parquet or .fits")] = Path("spectra_labels.csv"),
    flag_pixels: Annotated[str, typer.Option(help="'emulator': also set the pixels an emulated training set never has "
                                                  "(DR12 chip edges, ASPCAP mask) to the mask value; 'none'")] = "emulator",
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out")] = False,
) -> Path:
    """Predict stellar labels with σ for real APOGEE spectra; write APOGEE_ID, file, labels, σ and units."""
    from astrotorch.apogee.observed import expand_paths, read_spectra

    if flag_pixels not in FLAG_CHOICES:
        raise InputValidationError(f"--flag-pixels must be one of {FLAG_CHOICES}, got {flag_pixels!r}")
    inputs = expand_paths(files)
    out = _check_out(out, inputs, overwrite)
    model = _load_model(model_folder)
    if getattr(model, "task", "regression") != "regression":
        raise InputValidationError(f"{model_folder} holds a classification model; predict spectra needs stellar labels")
    shape = getattr(model, "input_shape", None)
    if not (isinstance(shape, tuple) and shape[-1] == 7514):
        raise InputValidationError(f"{model_folder}: the model takes inputs of shape {shape}; predict spectra feeds "
                                   "7,514-pixel gap-deleted spectra")
    obs = read_spectra(inputs)
    extra = None
    if flag_pixels == "emulator":
        from astrotorch.apogee.chips import dr12_pixels
        from astrotorch.apogee.emulators import load_pixel_mask

        extra = np.ones(7514, bool)
        extra[dr12_pixels(17)] = load_pixel_mask()
    x, x_err = obs.model_inputs(extra)
    names = list(model.targetname or [f"label_{i}" for i in range(model.output_dim)])
    if model.bayesian:
        pred, sig = model.predict(x, x_err=x_err)
        err = sig["total"]
    else:
        pred, err = model.predict(x), None
    cols, units = _base_columns(obs)
    for j, n in enumerate(names):
        cols[n] = pred[:, j].astype(np.float64)
        units[n] = label_unit(n)
        if err is not None:
            cols[f"{n}_err"] = err[:, j].astype(np.float64)
            units[f"{n}_err"] = label_unit(n)
    write_label_table(out, cols, units)
    typer.echo(f"wrote {out} ({len(obs)} spectra)")
    return out


def fit_spectra(
    emulator: Annotated[str, typer.Argument(help="emulator name (binspec_plus, binspec) or .npz path")],
    files: Annotated[list[str], typer.Argument(help="apStar/aspcapStar/apVisit FITS, .h5 or .npz files, or glob patterns")],
    out: Annotated[Path, typer.Option(help="table to write: .csv (ECSV), .parquet or .fits")] = Path("spectra_fits.csv"),
    mask_persistence: Annotated[bool, typer.Option(help="also leave out pixels flagged for detector persistence (bits 9-11)")] = False,
    renormalize: Annotated[int, typer.Option(help="times the spectra are re-normalised to the emulator's continuum "
                                                  "(per-chip quadratic of data/model) and refitted; 0 fits them as read")] = 3,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out")] = False,
    batch_size: Annotated[Optional[int], typer.Option(help="stars fitted together")] = None,
) -> Path:
    """Fit an emulator to real APOGEE spectra (maximum likelihood); write labels, σ, χ² and convergence flags."""
    from astrotorch.apogee.emulators import load_emulator
    from astrotorch.apogee.fitting import fit_spectrum
    from astrotorch.apogee.observed import expand_paths, read_spectra

    inputs = expand_paths(files)
    out = _check_out(out, inputs, overwrite)
    emu = load_emulator(emulator)
    if not emu.normalized:
        raise InputValidationError(f"emulator {emu.name!r} predicts un-normalised flux; fit spectra needs a normalised one")
    bits = None
    if mask_persistence:
        from astrotorch.apogee.bitmask import DEFAULT_TARGET_BITS

        bits = DEFAULT_TARGET_BITS + (9, 10, 11)
    obs = read_spectra(inputs, target_bit=bits)
    flux, err, bad = obs.on_dr12()
    res = fit_spectrum(emu, flux, err, mask=bad, renormalize=renormalize,
                       **({"batch_size": batch_size} if batch_size else {}))
    cols, units = _base_columns(obs)
    for j, n in enumerate(res.label_names):
        cols[n], cols[f"{n}_err"] = res.labels[:, j], res.sigma[:, j]
        units[n] = units[f"{n}_err"] = res.label_units[j]
    cols.update(chi2=res.chi2, reduced_chi2=res.reduced_chi2, n_pixels=res.n_pixels, converged=res.converged,
                at_edge=res.at_edge.any(axis=1))
    write_label_table(out, cols, units)
    typer.echo(f"wrote {out} ({len(obs)} spectra; {int(res.converged.sum())} converged)")
    return out


__all__ = ["FLAG_CHOICES", "fit_spectra", "label_unit", "predict_spectra", "write_label_table"]
