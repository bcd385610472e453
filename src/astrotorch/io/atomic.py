"""Atomic file and folder writes, stale-temporary clean-up, and file checksums.

A reader (or a crash) must never see a half-written file: everything is written under a temporary
name in the *same folder* as the target (so the final ``os.replace``/``os.rename`` is atomic on POSIX
file systems, which it is not across file systems), flushed and fsync'ed, then renamed into place.

Temporaries are named ``.<name>.tmp-astrotorch-<pid>-<host>-<random>`` (and a folder being replaced
is moved aside as ``.<name>.old-astrotorch-...``), so that after a ``kill -9`` the next write into the
same folder recognises the leftovers of the dead process and removes them (or, for a folder moved
aside whose replacement never arrived, puts it back).

Write errors (no space left, permission denied, read-only file system ...) are raised as
:class:`~astrotorch.errors.OutputPathError` naming the target.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from astrotorch.errors import AstrotorchError, OutputExistsError, OutputPathError
from astrotorch.io.paths import check_replaceable_folder, model_folder_files, special_file_kind, write_marker

_CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough to keep memory flat
#: errors that, raised while the caller writes into our temporary, are about the output's storage
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
_NAME_CUT = 100  # characters of the target's name kept in a temporary's name
_RESCAN_AFTER_S = 30.0  # a large folder (over _SMALL_FOLDER entries) is listed at most this often
_SMALL_FOLDER = 2000
_LAST_SCAN: dict[str, tuple[float, int]] = {}  # folder → (time, entries) of this process's last listing
_TEMP_RE = re.compile(
    r"^\.(?P<name>.*)\.(?P<tag>tmp|old)-astrotorch-(?P<pid>\d+)-(?P<host>[A-Za-z0-9._]+)-[A-Za-z0-9_]+$")


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


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40] or "host"


def _temp_prefix(path: Path, tag: str) -> str:
    # the name is cut so that the temporary's name stays under the 255-byte limit of file systems
    return f".{path.name[:_NAME_CUT]}.{tag}-astrotorch-{os.getpid()}-{_host()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries that dead processes of this host left in ``folder``; returns them.

    A folder that an interrupted :func:`atomic_dir` had moved aside (``.old-astrotorch-``) is put
    back under its name if nothing took its place, otherwise removed. Temporaries of live processes
    and of other hosts (shared file systems) are left alone.
    """
    folder = Path(folder)
    if os.name == "nt" or not folder.is_dir():
        return []
    handled = []
    entries = list(os.scandir(folder))
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or m["host"] != _host() or _alive(int(m["pid"])):
            continue
        stale, target = Path(entry.path), folder / m["name"]
        with contextlib.suppress(FileNotFoundError):  # another process may be cleaning too
            if m["tag"] == "old":
                if len(m["name"]) >= _NAME_CUT:  # the name was cut: its target is unknown, keep it
                    continue
                if not os.path.lexists(target):
                    os.rename(stale, target)
                    handled.append(stale)
                    continue
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
            handled.append(stale)
    _LAST_SCAN[os.path.realpath(folder)] = (time.monotonic(), len(entries))
    return handled


def _clean_before_write(folder: Path) -> None:
    """Clean ``folder``'s stale temporaries before a write into it.

    A folder of thousands of files receiving many writes (the parts of a large prediction) is listed
    at most every :data:`_RESCAN_AFTER_S` seconds, not on every write.
    """
    last = _LAST_SCAN.get(os.path.realpath(folder))
    if last is None or last[1] <= _SMALL_FOLDER or time.monotonic() - last[0] > _RESCAN_AFTER_S:
        clean_stale_temporaries(folder)


def _write_error(path: Path, exc: OSError) -> OutputPathError:
    return OutputPathError(f"cannot write {path}: {exc.strerror or exc}")


def _check_file_target(path: Path) -> None:
    kind = special_file_kind(path)
    if kind is not None:
        raise OutputPathError(f"{path} is {kind}, not a regular file: astrotorch does not write to it")
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder; give a file name")


@contextlib.contextmanager
def _temporary_file(path: Path) -> Iterator[tuple[int, Path]]:
    """Reserve a temporary beside ``path`` (fd, name); rename it to ``path`` when the block succeeds."""
    _check_file_target(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _clean_before_write(folder)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(path, "tmp"))
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600 files; give what open() would
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        yield fd, tmp
        os.replace(tmp, path)
    except BaseException as exc:
        # BaseException too: a KeyboardInterrupt must not leave a temporary file behind either
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, AstrotorchError) and (
                exc.errno in _STORAGE_ERRNOS or exc.filename in (str(tmp), str(path))):
            raise _write_error(path, exc) from exc
        raise
    _fsync_dir(folder)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; move it to ``path`` when the block succeeds.

    ``mode`` is ``"wb"`` or ``"w"`` (text; ``open_kwargs`` such as ``encoding``/``newline`` pass to
    :func:`open`); ``"x"``/``"xb"`` refuse an existing ``path``. If the block raises, the temporary
    file is deleted and ``path`` is left as it was (absent or holding its previous content): there
    is never a partial file at ``path``. A device, FIFO, socket or folder at ``path`` is refused
    (:class:`~astrotorch.errors.OutputPathError`), as is a full disk or an unwritable folder.

    Example::

        with atomic_write("table.csv", "w") as fh:
            df.to_csv(fh, index=False)
    """
    if mode not in ("w", "wb", "wt", "x", "xb"):
        raise ValueError(f"atomic_write supports write modes 'w', 'wb', 'wt', 'x', 'xb', not {mode!r}")
    path = Path(path)
    if mode.startswith("x") and os.path.lexists(path):
        raise OutputExistsError(f"{path} already exists")
    open_mode = "wb" if "b" in mode else "w"
    with _temporary_file(path) as (fd, tmp):
        with os.fdopen(fd, open_mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file name beside ``path`` for libraries that need a name (h5py, astropy).

    Write the whole file to the yielded path; it is fsync'ed and renamed to ``path`` when the block
    succeeds, deleted if it raises. Same guarantees and errors as :func:`atomic_write`.

    Example::

        with atomic_path("catalog.h5") as tmp, h5py.File(tmp, "w") as f:
            f["x"] = x
    """
    with _temporary_file(Path(path)) as (fd, tmp):
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary sibling name and rename it to ``path`` when the block succeeds.

    Yields the temporary folder's path; write everything into it. If the block raises, the temporary
    folder is removed and ``path`` is untouched. An existing ``path`` raises
    :class:`~astrotorch.errors.OutputExistsError` (a ``FileExistsError``) up front unless
    ``overwrite=True``; even then it is replaced only if astrotorch wrote it and it holds nothing
    else (:func:`~astrotorch.io.paths.check_replaceable_folder`), and only once the new folder is
    complete (the old one is first moved aside, so a crash between the two renames leaves it
    recoverable; the next write to ``path`` puts it back). Every folder built here gets the marker
    :data:`~astrotorch.io.paths.MARKER_NAME` listing its content, except model folders, whose
    ``manifest.json`` already says what astrotorch wrote.
    """
    path = Path(path)
    if os.path.islink(path):
        raise OutputExistsError(f"{path} is a symbolic link: astrotorch replaces only folders it wrote")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _clean_before_write(parent)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    if os.path.lexists(path):
        if not path.is_dir():
            raise OutputExistsError(f"{path} exists and is not a folder")
        if not overwrite:
            raise OutputExistsError(f"{path} already exists; pass overwrite=True to replace it")
        check_replaceable_folder(path)
    try:
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=_temp_prefix(path, "tmp")))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        yield tmp
        if model_folder_files(tmp) is None:
            write_marker(tmp)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, AstrotorchError) and exc.errno in _STORAGE_ERRNOS:
            raise _write_error(path, exc) from exc
        raise
    try:
        if os.path.lexists(path):
            old = Path(tempfile.mkdtemp(dir=parent, prefix=_temp_prefix(path, "old")))
            old.rmdir()  # only reserve a unique name; rename needs the target to be absent
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, AstrotorchError):
            raise _write_error(path, exc) from exc
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


__all__ = ["atomic_write", "atomic_path", "atomic_dir", "clean_stale_temporaries", "sha256sum", "md5sum"]
