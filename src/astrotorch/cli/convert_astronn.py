"""``astrotorch convert-astronn FOLDER OUT``: an astroNN-saved model folder → an astrotorch model folder.

The lead registers :func:`convert_astronn` in ``cli/main.py`` (``app.command("convert-astronn")``).
Reading the astroNN folder executes nothing from it (see :mod:`astrotorch.models.astronn_folder`);
the astrotorch folder is written atomically by ``model.save``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from astrotorch.errors import InputValidationError


def convert_astronn(
    folder: Path = typer.Argument(..., help="folder written by astroNN's save() (astroNN_model_parameter.json, model_weights.h5)"),
    out: Path = typer.Argument(..., help="astrotorch model folder to write"),
    overwrite: bool = typer.Option(False, help="replace OUT if it is an existing astrotorch model folder"),
    aspcap_masks: Path | None = typer.Option(
        None, help="astroNN's aspcap_l31c_masks.npy (ApogeeBCNNCensored only; default: astrotorch's data locations)"),
) -> None:
    """Convert an astroNN model folder (no TensorFlow needed) and save it as an astrotorch model."""
    from astrotorch.models.astronn_folder import is_astronn_folder, load_astronn_folder

    src, dst = folder.resolve(), out.resolve()
    if dst == src or src in dst.parents:
        raise InputValidationError(f"OUT ({out}) must not be the astroNN folder or lie inside it")
    if not is_astronn_folder(folder):
        raise InputValidationError(
            f"{folder} is not an astroNN model folder (needs astroNN_model_parameter.json and model_weights.h5)"
        )
    if out.exists() and not overwrite:
        raise InputValidationError(f"{out} already exists; pass --overwrite to replace an astrotorch model folder")
    model = load_astronn_folder(folder, aspcap_masks=aspcap_masks)
    model.save(out, overwrite=overwrite)
    names = ", ".join(model.targetname or []) or f"{model.output_dim} outputs"
    typer.echo(f"converted {folder} ({type(model).__name__}: {names}) -> {out}")


__all__ = ["convert_astronn"]
