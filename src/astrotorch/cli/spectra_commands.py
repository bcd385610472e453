"""``astrotorch predict spectra`` and ``astrotorch fit spectra``: real APOGEE files in, a labelled table out.

Both read apStar / aspcapStar / apVisit FITS, compiled or generated APOGEE HDF5, or ``.npz`` arrays (one
or many files, or glob patterns; :func:`astrotorch.apogee.observed.read_spectra`), gap-delete and
continuum-normalise them, and write one row per spectrum following the prediction-table contract
(:mod:`astrotorch.cli.prediction_table`): ``APOGEE_ID``, ``file``, ``kind``, ``snr``, each label, its 1-σ
uncertainty ``<label>_sigma`` (and, for Bayesian models, its parts ``<label>_sigma_<part>``), with units, and
``outside_training_range`` (a predicted label outside the training labels' range; also one warning line);
``fit spectra`` adds ``chi2``, ``reduced_chi2``, ``n_pixels``, ``converged`` and ``at_edge``. The format
follows the suffix (``.csv`` ECSV, ``.parquet``, ``.fits``, ``.h5``, ``.npz``;
:func:`astrotorch.io.write_table`), written atomically; an existing output is replaced only with
``--overwrite``, never when it is one of the inputs (:func:`astrotorch.cli.predict.check_table_out`). The command functions are plain Python
functions as well as typer commands (registered by ``cli/main.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from astrotorch.errors import InputValidationError

#: units of the labels astrotorch's spectral data sets use (others: dex)
_UNITS = {"teff": "K", "vmacro": "km/s", "parallax": "mas", "K": "mag", "fakemag": ""}
#: ``--flag-pixels`` choices of ``predict spectra``
FLAG_CHOICES = ("emulator", "none")


def label_unit(name: str) -> str:
    """Unit of a label name (Teff in K, v_macro in km/s, abundances and log g in dex)."""
    return _UNITS.get(name, "dex")


def _check_out(out: Path, inputs: list[Path], overwrite: bool, label: str = "--out") -> Path:
    from astrotorch.cli.predict import check_table_out

    return check_table_out(Path(out), overwrite, inputs=inputs, label=label)


def write_label_table(path: str | os.PathLike[str], ids: np.ndarray, parts: list[tuple[dict[str, Any], dict[str, str]]],
                      meta: dict[str, Any]) -> Path:
    """The prediction table (``APOGEE_ID`` first, then ``parts``' columns with their units) written
    atomically by :func:`astrotorch.io.write_table` in the format the suffix names."""
    from astrotorch.cli.prediction_table import assemble
    from astrotorch.io import write_table

    table, units = assemble(ids, "APOGEE_ID", *parts)
    return write_table(table, path, units=units, meta=meta)


def _base_columns(obs: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    return {"file": obs.file, "kind": obs.kind, "snr": obs.snr.astype(np.float64)}, {}


def predict_spectra(
    model_folder: Annotated[Path, typer.Argument(help="a saved spectral model (or a train-spectra run folder)")],
    files: Annotated[list[str], typer.Argument(help="apStar/aspcapStar/apVisit FITS, .h5 or .npz files, or glob patterns")],
    out: Annotated[Path, typer.Option(help="table to write: .csv (ECSV), .parquet, .fits, .h5 or .npz")] = Path("spectra_labels.csv"),
    flag_pixels: Annotated[str, typer.Option(help="'emulator': also set the pixels an emulated training set never has "
                                                  "(DR12 chip edges, ASPCAP mask) to the mask value; 'none'")] = "emulator",
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out")] = False,
) -> Path:
    """Predict stellar labels with σ for real APOGEE spectra; write APOGEE_ID, file, labels, σ and units."""
    from astrotorch.apogee.observed import expand_paths, read_spectra

    if flag_pixels not in FLAG_CHOICES:
        raise InputValidationError(f"--flag-pixels must be one of {FLAG_CHOICES}, got {flag_pixels!r}")
    inputs = expand_paths(files)
    from astrotorch.cli.predict import load_model_folder, model_input_folder

    out = _check_out(out, [*inputs, model_input_folder(model_folder)], overwrite)
    import astrotorch.models.spectra  # noqa: F401  (registers the spectral models for load_folder)

    model = load_model_folder(model_folder)
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
    from astrotorch.cli.prediction_table import (
        echo_range_warning,
        range_columns,
        regression_columns,
        table_meta,
    )

    if model.bayesian:
        pred, sig = model.predict(x, x_err=x_err)
    else:
        pred, sig = model.predict(x), None
    labels = regression_columns(names, pred, sig, {n: label_unit(n) for n in names})
    write_label_table(out, obs.apogee_id, [_base_columns(obs), labels, range_columns(model, pred)],
                      table_meta(model, model_folder=str(model_folder), inputs=[str(p) for p in inputs],
                                 flag_pixels=flag_pixels))
    typer.echo(f"wrote {out} ({len(obs)} spectra)")
    echo_range_warning(model, pred)
    return out


def fit_spectra(
    emulator: Annotated[str, typer.Argument(help="emulator name (binspec_plus, binspec) or .npz path")],
    files: Annotated[list[str], typer.Argument(help="apStar/aspcapStar/apVisit FITS, .h5 or .npz files, or glob patterns")],
    out: Annotated[Path, typer.Option(help="table to write: .csv (ECSV), .parquet, .fits, .h5 or .npz")] = Path("spectra_fits.csv"),
    mask_persistence: Annotated[bool, typer.Option(help="also leave out pixels flagged for detector persistence (bits 9-11)")] = False,
    renormalize: Annotated[int, typer.Option(help="times the spectra are re-normalised to the emulator's continuum "
                                                  "(per-chip quadratic of data/model) and refitted; 0 fits them as read")] = 3,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out")] = False,
    batch_size: Annotated[int | None, typer.Option(help="stars fitted together")] = None,
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
    from astrotorch.cli.prediction_table import regression_columns

    labels = regression_columns(res.label_names, res.labels, {"total": res.sigma}, dict(zip(res.label_names, res.label_units)))
    fit_cols = {"chi2": res.chi2, "reduced_chi2": res.reduced_chi2, "n_pixels": res.n_pixels,
                "converged": res.converged, "at_edge": res.at_edge.any(axis=1)}
    meta = {"emulator": emu.name, "inputs": [str(p) for p in inputs], "renormalize": renormalize,
            "sigma": "1-sigma from the inverse Hessian of the chi^2 at the best fit (<name>_sigma)"}
    write_label_table(out, obs.apogee_id, [_base_columns(obs), labels, (fit_cols, {})], meta)
    typer.echo(f"wrote {out} ({len(obs)} spectra; {int(res.converged.sum())} converged)")
    return out


__all__ = ["FLAG_CHOICES", "fit_spectra", "label_unit", "predict_spectra", "write_label_table"]
