"""astroNN's ``VirutalCSVLogger`` (astroNN's spelling): a training log kept in memory until ``savefile()``.

A Lightning callback built on :class:`astrotorch.nn.callbacks.HistoryRecorder` (one row of epoch
metrics per epoch). Like Keras' ``CSVLogger`` it writes ``filename`` with ``separator``, but only
when :meth:`VirutalCSVLogger.savefile` is called, so an aborted run leaves no half-written log.
Pass it to a model through astroNN's ``callbacks`` attribute (``net.callbacks = [logger]``) or to a
``lightning.Trainer`` directly.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from astrotorch.errors import InputValidationError
from astrotorch.io import atomic_write
from astrotorch.nn.callbacks import HistoryRecorder


class VirutalCSVLogger(HistoryRecorder):
    """Epoch log written to ``<folder_name>/<filename>`` by :meth:`savefile` (not before).

    Parameters
    ----------
    filename: name of the CSV file (astroNN's default ``training_history.csv``).
    separator: field separator.
    append: add the rows to an existing file (its header is kept) instead of replacing it.
    """

    def __init__(self, filename: str = "training_history.csv", separator: str = ",", append: bool = False) -> None:
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise InputValidationError(f"separator must be a single character, got {separator!r}")
        self.filename = filename
        self.separator = separator
        self.append = bool(append)

    def savefile(self, folder_name: str | os.PathLike[str] | None = None) -> Path:
        """Write the log to ``folder_name`` (default: the current folder); returns the file's path.

        The file is replaced atomically (with ``append=True`` the old rows are kept in front).
        """
        if not self.filename or Path(self.filename).name != str(self.filename):
            raise InputValidationError(f"filename must be a bare file name, got {self.filename!r}")
        folder = Path(folder_name) if folder_name is not None else Path.cwd()
        path = folder / self.filename
        fields = ["epoch"] + sorted({k for row in self.history for k in row} - {"epoch"})
        previous = ""
        if self.append and path.is_file():
            previous = path.read_text()
            header = previous.splitlines()[0].split(self.separator) if previous.strip() else []
            if header:
                fields = header + [f for f in fields if f not in header]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, delimiter=self.separator, lineterminator="\n",
                                extrasaction="ignore")
        if not previous.strip():
            writer.writeheader()
        for row in self.history:
            writer.writerow({k: (int(v) if k == "epoch" else v) for k, v in row.items()})
        text = previous + ("" if not previous or previous.endswith("\n") else "\n") + buf.getvalue()
        with atomic_write(path, "w", newline="") as fh:
            fh.write(text)
        return path

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:  # nothing is written until savefile()
        return None


__all__ = ["VirutalCSVLogger"]
