"""Predict on data larger than memory, writing results incrementally and resumably.

:func:`predict_to_file` reads the inputs chunk by chunk from a streaming source (HDF5 / Parquet file,
:class:`~astrotorch.datasets.streaming.HDF5Dataset`, an array or h5py dataset), calls
``model.predict`` on each chunk and appends the result to the output:

- HDF5 output: datasets ``prediction`` (N, D) and, for Bayesian models, ``std_<kind>`` (N, D) per
  uncertainty kind (``total``, ``model``, ``predictive`` ...), preallocated and filled chunk by chunk
  in ``<out>.partial``; the attribute ``rows_done`` is updated after each chunk has been flushed.
- Parquet output: every chunk goes to its own file ``<out>.partial/part-<start>-<stop>.parquet``
  (written atomically, so a part either exists complete or not at all); at the end the parts are
  merged, one row group each, into the final file.

Either way the final path only appears once every row is written (rename at the end), and a re-run
after a crash or Ctrl-C resumes from the last finished chunk, as long as the source length, the
model weights and the input rows already predicted are unchanged (otherwise it starts over, with a
warning). The input is fingerprinted chunk by chunk: a SHA-256 chain over the bytes of every chunk
read is stored with the finished rows, and a resume first re-reads those rows (without predicting)
and compares; a source rewritten in place with the same path and shape is therefore caught.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.datasets.streaming import open_source
from astrotorch.errors import DataFormatError, InputValidationError, ShapeMismatchError
from astrotorch.io import atomic_write, check_output_path, open_hdf5

PARTIAL_SUFFIX = ".partial"
_CHAIN_KEY = b"astrotorch_input_sha256_chain"


def model_fingerprint(model: Any) -> str:
    """SHA-256 of the model's weights and class name, to refuse resuming with a different model."""
    h = hashlib.sha256(type(model).__name__.encode())
    net = getattr(model, "network", None)
    if net is not None:
        for name, t in sorted(net.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _columns(model: Any, pred: Any) -> dict[str, np.ndarray]:
    """The model's output for one chunk as named (n, D) arrays: prediction and std_<kind>."""
    if isinstance(pred, tuple):
        value, std = pred
        out = {"prediction": np.asarray(value, np.float32)}
        out.update({f"std_{k}": np.asarray(v, np.float32) for k, v in std.items()})
    else:
        out = {"prediction": np.asarray(pred, np.float32)}
    for k, v in out.items():
        if v.ndim == 1:
            out[k] = v[:, None]
        elif v.ndim != 2:
            raise ShapeMismatchError(f"model output {k!r} has shape {v.shape}; expected (n, D)")
    return out


def _target_names(model: Any, width: int) -> list[str]:
    names = getattr(model, "targetname", None)
    if names and len(names) == width:
        return [str(n) for n in names]
    if getattr(model, "task", "regression") == "classification":
        return [f"class_{j}" for j in range(width)]
    return [f"y{j}" for j in range(width)]


def _chain(previous: str, x: Any) -> str:
    """Extend the input fingerprint with one chunk: SHA-256 over the previous value, dtype, shape and bytes."""
    a = np.ascontiguousarray(x)
    h = hashlib.sha256(previous.encode())
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes() if a.dtype.hasobject else memoryview(a).cast("B"))  # no copy for numeric data
    return h.hexdigest()


def _read_chunk(src: Any, start: int, stop: int) -> Any:
    return src.read_rows(start, stop)["x"] if hasattr(src, "read_rows") else np.asarray(src[start:stop])


def _fingerprint_rows(src: Any, stop: int, batch_size: int) -> str:
    """The fingerprint chain over rows ``[0, stop)`` read in chunks of ``batch_size``."""
    chain = ""
    for s in range(0, stop, batch_size):
        chain = _chain(chain, _read_chunk(src, s, min(s + batch_size, stop)))
    return chain


def _source_label(source: Any) -> str:
    return str(Path(source).resolve()) if isinstance(source, (str, os.PathLike)) else type(source).__name__


def _predict_chunk(model: Any, x: Any) -> Any:
    """What is written per chunk: values (and σ), or, for classifiers, the class probabilities (and σ),
    since a classifier's ``predict`` returns labels (scikit-learn's convention)."""
    if getattr(model, "task", "regression") == "classification" and hasattr(model, "predict_proba"):
        return model.predict_proba(x, return_std=bool(getattr(model, "bayesian", False)))
    return model.predict(x)


def predict_to_file(
    model: Any,
    source: Any,
    out_path: str | os.PathLike[str],
    batch_size: int = 4096,
    format: str | None = None,  # noqa: A002 - mirrors pandas/pyarrow naming
    resume: bool = True,
    key: str | Sequence[str] | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Predict ``model`` on every row of ``source`` and write the results to ``out_path``.

    Args:
        model: a fitted model with ``predict(x)`` (an :class:`~astrotorch.models.AstroModel`).
        source: path to an ``.h5``/``.hdf5`` (dataset ``key``, default ``"x"``) or ``.parquet`` file
            (column(s) ``key``), a streaming data set, or an array / h5py dataset.
        out_path: the result file.
        batch_size: rows per chunk (each chunk is one ``predict`` call and one write).
        format: ``"hdf5"`` or ``"parquet"`` (default: from the suffix of ``out_path``).
        resume: continue an interrupted run from ``<out_path>.partial``; ``False`` starts over.
        progress: show a tqdm progress bar.
        overwrite: replace an existing ``out_path`` (otherwise
            :class:`~astrotorch.errors.OutputExistsError`, a FileExistsError). ``out_path`` may never
            be the source file, a folder, a device or another special file.

    Returns the output path. Column/dataset names: ``prediction`` and ``std_<kind>`` (HDF5, with
    attribute ``targetname``); ``<name>`` and ``<name>_<kind>_std`` per target (Parquet).
    """
    out = Path(out_path)
    fmt = (format or ("parquet" if out.suffix.lower() in (".parquet", ".pq") else "hdf5")).lower()
    if fmt not in ("hdf5", "parquet"):
        raise InputValidationError(f"format must be 'hdf5' or 'parquet', got {format!r}")
    if batch_size < 1:
        raise InputValidationError(f"batch_size must be >= 1, got {batch_size}")
    is_path = isinstance(source, (str, os.PathLike))
    check_output_path(out, overwrite=overwrite, inputs=[source] if is_path else [], label="out_path")
    if hasattr(model, "_check_fitted"):
        model._check_fitted()  # NotFittedError before touching any file
    src = open_source(source, key)
    n = len(src)
    meta = {"n_rows": n, "source": _source_label(source), "model": model_fingerprint(model), "batch_size": batch_size}
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    if not resume and os.path.lexists(partial):
        _remove(partial)
    writer = _HDF5Writer(partial, meta) if fmt == "hdf5" else _ParquetWriter(partial, meta)
    start, chain = writer.rows_done()
    if start and _fingerprint_rows(src, start, batch_size) != chain:
        warnings.warn(f"{meta['source']} changed since the interrupted run (its first {start} rows differ from "
                      f"those already predicted into {partial}): starting the prediction over", stacklevel=2)
        _remove(partial)
        start, chain = 0, ""
    from tqdm.auto import tqdm

    try:
        with tqdm(total=n, initial=start, unit="rows", desc=f"predict → {out.name}", disable=not progress) as bar:
            for s in range(start, n, batch_size):
                e = min(s + batch_size, n)
                x = _read_chunk(src, s, e)
                chain = _chain(chain, x)
                cols = _columns(model, _predict_chunk(model, x))
                for k, v in cols.items():
                    if v.shape[0] != e - s:
                        raise ShapeMismatchError(f"model returned {v.shape[0]} rows of {k!r} for a chunk of {e - s}")
                writer.write(s, e, cols, _target_names(model, cols["prediction"].shape[1]), chain)
                bar.update(e - s)
        writer.finish(out)
    finally:
        # on an error the finished chunks stay in the .partial for the next run to resume
        writer.close()
    return out


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class _HDF5Writer:
    """Preallocated HDF5 output with a ``rows_done`` attribute committed after each chunk."""

    def __init__(self, partial: Path, meta: dict[str, Any]) -> None:
        self.partial, self.meta = partial, meta
        self._file: Any = None

    def rows_done(self) -> tuple[int, str]:
        """(rows already predicted, input fingerprint chain over them); (0, "") to start over."""
        if not self.partial.exists():
            return 0, ""
        try:
            with open_hdf5(self.partial) as f:
                stored = json.loads(f.attrs["meta"])
                done = int(f.attrs["rows_done"])
                chain = str(f.attrs.get("input_sha256_chain", ""))
        except (OSError, KeyError, ValueError) as exc:
            warnings.warn(f"{self.partial} is unreadable ({exc}); starting the prediction over", stacklevel=3)
            _remove(self.partial)
            return 0, ""
        if stored != self.meta or (done and not chain):
            warnings.warn(
                f"{self.partial} was written for another source, model or batch size; starting over", stacklevel=3
            )
            _remove(self.partial)
            return 0, ""
        return done, chain

    def _open(self, cols: dict[str, np.ndarray], names: list[str]) -> Any:
        if self._file is not None:
            return self._file
        if self.partial.exists():
            self._file = open_hdf5(self.partial, "r+")
            return self._file
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        f = open_hdf5(self.partial, "w")
        n = self.meta["n_rows"]
        rows = max(1, min(n, self.meta["batch_size"]))
        for k, v in cols.items():
            f.create_dataset(k, shape=(n, v.shape[1]), dtype=np.float32, chunks=(rows, v.shape[1]),
                             fillvalue=np.nan)
        f.attrs["targetname"] = names
        f.attrs["meta"] = json.dumps(self.meta, sort_keys=True)
        f.attrs["rows_done"] = 0
        f.attrs["complete"] = False
        self._file = f
        return f

    def write(self, start: int, stop: int, cols: dict[str, np.ndarray], names: list[str], chain: str) -> None:
        f = self._open(cols, names)
        missing = set(cols) - set(f.keys())
        if missing:
            raise DataFormatError(f"{self.partial} lacks datasets {sorted(missing)} for this model's outputs")
        for k, v in cols.items():
            f[k][start:stop] = v
        f.flush()  # data first, then the counter that says it is there
        f.attrs["rows_done"] = stop
        f.attrs["input_sha256_chain"] = chain
        f.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self, out: Path) -> None:
        if self._file is None:  # everything was already done by an earlier run
            self._file = open_hdf5(self.partial, "r+")
        self._file.attrs["complete"] = True
        self._file.close()
        self._file = None
        os.replace(self.partial, out)


class _ParquetWriter:
    """One atomically written Parquet file per chunk in a ``.partial`` folder; merged at the end."""

    def __init__(self, partial: Path, meta: dict[str, Any]) -> None:
        self.partial, self.meta = partial, meta

    def _parts(self) -> list[tuple[int, int, Path]]:
        parts = []
        for p in self.partial.glob("part-*.parquet"):
            try:
                _, s, e = p.stem.split("-")
                parts.append((int(s), int(e), p))
            except ValueError:
                continue
        return sorted(parts)

    def rows_done(self) -> tuple[int, str]:
        """(rows already predicted, input fingerprint chain over them); (0, "") to start over."""
        import pyarrow.parquet as pq

        meta_file = self.partial / "meta.json"
        if not self.partial.exists():
            return 0, ""
        try:
            stored = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            stored = None
        if stored != self.meta:
            if stored is not None:
                warnings.warn(f"{self.partial} was written for another source, model or batch size; starting over",
                              stacklevel=3)
            _remove(self.partial)
            return 0, ""
        done, chain = 0, ""
        for s, e, p in self._parts():
            if s != done:  # keep the contiguous prefix only; anything after a gap is redone
                p.unlink()
                continue
            done = e
            chain = (pq.read_schema(p).metadata or {}).get(_CHAIN_KEY, b"").decode()
        return done, chain

    def write(self, start: int, stop: int, cols: dict[str, np.ndarray], names: list[str], chain: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not (self.partial / "meta.json").exists():
            self.partial.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.partial / "meta.json", "w") as fh:
                json.dump(self.meta, fh, sort_keys=True)
        table: dict[str, np.ndarray] = {"row": np.arange(start, stop, dtype=np.int64)}
        for k, v in cols.items():
            for j, nm in enumerate(names):
                table[nm if k == "prediction" else f"{nm}_{k[4:]}_std"] = v[:, j]
        with atomic_write(self.partial / f"part-{start:012d}-{stop:012d}.parquet", "wb") as fh:
            pq.write_table(pa.table(table).replace_schema_metadata({_CHAIN_KEY: chain}), fh)

    def close(self) -> None:
        """Nothing stays open between chunks."""

    def finish(self, out: Path) -> None:
        import pyarrow.parquet as pq

        parts = self._parts()
        if not parts or parts[0][0] != 0 or parts[-1][1] != self.meta["n_rows"]:
            raise DataFormatError(f"{self.partial} does not cover all {self.meta['n_rows']} rows; re-run to resume")
        schema = pq.read_schema(parts[0][2]).remove_metadata()
        with atomic_write(out, "wb") as fh:
            with pq.ParquetWriter(fh, schema) as w:
                for _, _, p in parts:  # one part in memory at a time
                    w.write_table(pq.read_table(p).replace_schema_metadata(None).cast(schema))
        shutil.rmtree(self.partial)


__all__ = ["predict_to_file", "model_fingerprint", "PARTIAL_SUFFIX"]
