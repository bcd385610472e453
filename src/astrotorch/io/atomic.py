"""Atomic file and folder writes, and file checksums.

A reader (or a crash) must never see a half-written file: everything is written under a temporary
name in the *same folder* as the target (so the final ``os.replace``/``os.rename`` is atomic on POSIX
file systems, which it is not across file systems), flushed and fsync'ed, then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

_CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough to keep memory flat


def _umask() -> int:
    # os.umask can only be read by setting it; restore immediately (process-wide, but instantaneous)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """fsync a directory so a rename inside it survives a power cut (no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; move it to ``path`` when the block succeeds.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``open_kwargs`` such as ``encoding``/``newline`` pass to
    :func:`open`). If the block raises, the temporary file is deleted and ``path`` is left as it was
    (absent or holding its previous content): there is never a partial file at ``path``.

    Example::

        with atomic_write("table.csv", "w") as fh:
            df.to_csv(fh, index=False)
    """
    if mode not in ("w", "wb", "wt", "x", "xb"):
        raise ValueError(f"atomic_write supports write modes 'w', 'wb', 'wt', 'x', 'xb', not {mode!r}")
    path = Path(path)
    if mode.startswith("x") and path.exists():
        raise FileExistsError(f"{path} already exists")
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would have
    os.chmod(tmp, 0o666 & ~_umask())
    open_mode = "wb" if "b" in mode else "w"
    try:
        with os.fdopen(fd, open_mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        # BaseException too: a KeyboardInterrupt must not leave a temporary file behind either
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary sibling name and rename it to ``path`` when the block succeeds.

    Yields the temporary folder's path; write everything into it. If the block raises, the temporary
    folder is removed and ``path`` is untouched. An existing ``path`` raises :class:`FileExistsError`
    up front unless ``overwrite=True``, in which case it is replaced only once the new folder is
    complete (the old one is first moved aside, so a crash between the two renames leaves the old
    folder recoverable under a ``.<name>.old-*`` name, never a half-written one at ``path``).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.tmp-"))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.old-"))
            old.rmdir()  # only reserve a unique name; rename needs the target to be absent
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(parent)


def _digest(path: str | os.PathLike[str], algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def sha256sum(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 digest of a file, read in 1 MiB blocks (memory stays flat for large files)."""
    return _digest(path, "sha256")


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex MD5 digest of a file (SDSS and Gaia publish MD5 sums; never use it for security)."""
    return _digest(path, "md5")


__all__ = ["atomic_write", "atomic_dir", "sha256sum", "md5sum"]
