"""Exception hierarchy of astrotorch.

Every error the library raises on purpose derives from :class:`AstrotorchError`, and most also
derive from the built-in exception a Python user would expect (``ValueError`` for bad values,
``FileNotFoundError`` for missing files ...), so both ``except AstrotorchError`` and
``except ValueError`` work.
"""

from __future__ import annotations


class AstrotorchError(Exception):
    """Base class of every error raised deliberately by astrotorch."""


class InputValidationError(AstrotorchError, ValueError):
    """Input arrays have the wrong shape, dtype, length, or contain NaN/inf where not allowed."""


class EmptyDatasetError(InputValidationError):
    """A dataset, array or file holds no sample."""


class ShapeMismatchError(InputValidationError):
    """Arrays that must line up (inputs and labels, values and errors) do not."""


class ConfigError(AstrotorchError, ValueError):
    """A configuration (file, dict or keyword) is invalid, e.g. has unknown keys."""


class DataFormatError(AstrotorchError, ValueError):
    """A data file (HDF5, FITS, CSV, Parquet, JSON) is corrupt, truncated or not in the expected layout."""


class ChecksumError(AstrotorchError, OSError):
    """A downloaded or saved file does not match its recorded checksum."""


class DownloadError(AstrotorchError, OSError):
    """A download failed (network error, HTTP error, cut off mid-way)."""


class ModelFolderError(AstrotorchError, OSError):
    """A saved model folder is missing a file, was altered, or was written by an incompatible version."""


class OutputPathError(AstrotorchError, OSError):
    """An output path cannot be written: it is an input, a special file (device, FIFO, socket), a
    folder where a file belongs (or the reverse), or its folder is not writable or is full."""


class OutputExistsError(OutputPathError, FileExistsError):
    """An output already exists and is not replaced: ``overwrite`` was not given, or it is not
    something astrotorch wrote (a folder without astrotorch's marker or model manifest)."""


class NotFittedError(AstrotorchError, RuntimeError):
    """A model method that needs trained weights was called before ``fit`` or ``load_folder``."""


class UnknownModelError(AstrotorchError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


__all__ = [
    "AstrotorchError",
    "InputValidationError",
    "EmptyDatasetError",
    "ShapeMismatchError",
    "ConfigError",
    "DataFormatError",
    "ChecksumError",
    "DownloadError",
    "ModelFolderError",
    "OutputPathError",
    "OutputExistsError",
    "NotFittedError",
    "UnknownModelError",
]
