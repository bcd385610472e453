"""What astrotorch may write or replace: output-path checks and the marker of folders it built.

The rule: astrotorch only ever replaces what it wrote itself, never writes onto one of its inputs,
and never writes to special files (devices, FIFOs, sockets) or through symbolic links.

- :func:`check_output_path`: call it *before* any expensive work (loading data, training) so a bad
  ``--out`` fails in a second, not after an hour of training.
- :func:`check_replaceable_folder`: a folder may be replaced (``overwrite=True``) only if astrotorch
  wrote it, recognised by the marker file :data:`MARKER_NAME` that :func:`~astrotorch.io.atomic_dir`
  writes into every folder it builds (listing what it wrote), by a model folder's ``manifest.json``,
  or by the layout of a run folder written before the marker existed; and only if it holds nothing
  else (a file the user added to it is never deleted).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from astrotorch.errors import OutputExistsError, OutputPathError

#: the marker file :func:`~astrotorch.io.atomic_dir` writes into every folder it builds
MARKER_NAME = ".astrotorch.json"
MARKER_FORMAT = "astrotorch-folder"
#: ``format`` of a saved model's config.json (``astrotorch.models.base.FORMAT_NAME``)
MODEL_FORMAT = "astrotorch-model"
_LEGACY_RUN_FILE = re.compile(r"^metrics[\w-]*\.(json|csv|md)$")


def special_file_kind(path: str | os.PathLike[str]) -> str | None:
    """'a character device', 'a block device', 'a FIFO (named pipe)' or 'a socket'; None otherwise."""
    try:
        mode = os.stat(path).st_mode  # follows links: a link to /dev/full is a device too
    except OSError:
        return None
    for test, kind in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None


def _tree(folder: Path) -> set[str]:
    """Every entry under ``folder`` as a relative POSIX path (folders end with '/'), marker excluded."""
    out: set[str] = set()
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in dirs:
            out.add((rel / d).as_posix() + "/")
        for f in files:
            out.add((rel / f).as_posix())
    out.discard(MARKER_NAME)
    return out


def write_marker(folder: str | os.PathLike[str]) -> Path:
    """Write :data:`MARKER_NAME` into ``folder``, listing every entry in it (what astrotorch wrote)."""
    import astrotorch

    folder = Path(folder)
    marker = folder / MARKER_NAME
    marker.write_text(json.dumps({"format": MARKER_FORMAT, "astrotorch": astrotorch.__version__,
                                  "entries": sorted(_tree(folder))}, indent=1) + "\n")
    return marker


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def model_folder_files(folder: str | os.PathLike[str]) -> set[str] | None:
    """The files of an astrotorch model folder (from its manifest), or None if it is not one."""
    folder = Path(folder)
    manifest = _read_json(folder / "manifest.json")
    config = _read_json(folder / "config.json")
    if manifest is None or not isinstance(manifest.get("files"), dict):
        return None
    if manifest.get("format") != MODEL_FORMAT and (config is None or config.get("format") != MODEL_FORMAT):
        return None
    return {str(f) for f in manifest["files"]} | {"manifest.json"}


def _legacy_run_folder_extras(folder: Path) -> list[str] | None:
    """Entries of a pre-marker run folder that astrotorch would not have written; None if not a run folder."""
    if not ((folder / "metrics.json").is_file() and (folder / "report.md").is_file()):
        return None
    model_files = model_folder_files(folder / "model")
    if model_files is None:
        return None
    extras = []
    for entry in sorted(_tree(folder)):
        parts = entry.rstrip("/").split("/")
        ok = (entry in ("model/", "plots/", "report.md") or _LEGACY_RUN_FILE.match(entry)
              or (parts[0] == "model" and len(parts) == 2 and parts[1] in model_files)
              or (parts[0] == "plots" and len(parts) == 2 and entry.endswith(".png")))
        if not ok:
            extras.append(entry)
    return extras


def check_replaceable_folder(path: str | os.PathLike[str], label: str = "output folder") -> None:
    """Raise :class:`OutputExistsError` unless ``path`` is a folder astrotorch wrote, holding nothing else.

    Recognised: a folder with astrotorch's marker (every entry must be one the marker lists), an
    astrotorch model folder (every file must be in its manifest), or a run folder written before the
    marker existed (``metrics.json``, ``report.md``, ``plots/*.png`` and a model folder ``model/``).
    """
    path = Path(path)
    if os.path.islink(path):
        raise OutputExistsError(f"{label} {path} is a symbolic link: astrotorch replaces only folders it wrote")
    if not path.is_dir():
        raise OutputExistsError(f"{label} {path} exists and is not a folder")
    marker = _read_json(path / MARKER_NAME)
    if marker is not None and marker.get("format") == MARKER_FORMAT and isinstance(marker.get("entries"), list):
        extras = sorted(_tree(path) - {str(e) for e in marker["entries"]})
    elif (files := model_folder_files(path)) is not None:
        extras = sorted(_tree(path) - files)
    else:
        extras = _legacy_run_folder_extras(path)
        if extras is None:
            raise OutputExistsError(
                f"{label} {path} was not written by astrotorch (no {MARKER_NAME} marker, model manifest or "
                "run-folder layout): it is never replaced; choose another path or move it away")
    if extras:
        shown = ", ".join(extras[:3]) + (f" and {len(extras) - 3} more" if len(extras) > 3 else "")
        raise OutputExistsError(f"{label} {path} holds files astrotorch did not write ({shown}): it is not "
                                "replaced; move them away or choose another path")


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _is_inside(inner: Path, outer: Path) -> bool:
    a, b = _resolved(inner), _resolved(outer)
    return a != b and b in a.parents


def _nearest_existing(path: Path) -> Path:
    p = path.parent if str(path.parent) else Path(".")
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def check_output_path(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    folder: bool = False,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    label: str = "output",
    overwrite_hint: str = "overwrite=True",
) -> Path:
    """Check that ``path`` may be written, before any work is done; returns it as a Path.

    Args:
        path: the output file (``folder=False``) or folder (``folder=True``).
        overwrite: whether an existing output may be replaced (a folder only if astrotorch wrote it).
        inputs: the files/folders the command reads (entries that do not exist are ignored): the
            output may not be one of them, lie inside an input folder, or (a folder) contain one.
        label, overwrite_hint: how messages name the path and the overwrite switch (the CLI passes
            ``"--out"`` and ``"--overwrite"``).

    Raises :class:`~astrotorch.errors.OutputExistsError` (exists and may not be replaced) or
    :class:`~astrotorch.errors.OutputPathError` (an input, a special file, a link, the wrong kind, or
    a folder that cannot be written into).
    """
    path = Path(path)
    name = f"{label} {path}"
    for raw in inputs:
        if raw is None or not os.path.lexists(raw):
            continue
        inp = Path(raw)
        if _resolved(path) == _resolved(inp):
            raise OutputPathError(f"{name} is also an input of this command: astrotorch never writes onto its input")
        if inp.is_dir() and _is_inside(path, inp):
            raise OutputPathError(f"{name} lies inside the input folder {inp}: write the output elsewhere")
        if folder and _is_inside(inp, path):
            raise OutputPathError(f"{name} contains the input {inp}: replacing it would delete the input")
    kind = special_file_kind(path)
    if kind is not None:
        raise OutputPathError(f"{name} is {kind}, not a regular {'folder' if folder else 'file'}: refused")
    if os.path.islink(path):
        raise OutputPathError(f"{name} is a symbolic link: give the real path (astrotorch does not write "
                              "through links)")
    if os.path.lexists(path):
        if folder:
            if not path.is_dir():
                raise OutputExistsError(f"{name} exists and is a file, not a folder")
            if not overwrite:
                raise OutputExistsError(f"{name} already exists; pass {overwrite_hint} to replace it")
            check_replaceable_folder(path, label)
        else:
            if path.is_dir():
                raise OutputPathError(f"{name} is a folder; give a file name")
            if not overwrite:
                raise OutputExistsError(f"{name} already exists; pass {overwrite_hint} to replace it")
    parent = _nearest_existing(path)
    if not parent.is_dir():
        raise OutputPathError(f"{name}: {parent} is not a folder")
    # a real write test: os.access is wrong for root, ACLs and read-only mounts
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".astrotorch-probe-")
    except OSError as exc:
        raise OutputPathError(f"{name}: cannot write in {parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    os.unlink(probe)
    return path


__all__ = [
    "MARKER_NAME",
    "check_output_path",
    "check_replaceable_folder",
    "model_folder_files",
    "special_file_kind",
    "write_marker",
]
