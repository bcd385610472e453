"""Downloads with resume, progress bar and checksum verification (standard library ``urllib`` only).

Guarantees: a file appears at ``dest`` only when it is complete and, if a checksum was given,
verified. While downloading, bytes go to ``<dest>.part``; an interrupted download keeps the
``.part`` so the next call resumes it with an HTTP ``Range`` request. A checksum mismatch deletes the
bad bytes and raises :class:`~astrotorch.errors.ChecksumError`.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from astrotorch.errors import ChecksumError, DownloadError
from astrotorch.io.atomic import _CHUNK, _check_file_target, _fsync_dir, md5sum, sha256sum

_USER_AGENT = "astrotorch-downloader (+https://github.com/astrotorch)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _verify(path: Path, sha256: str | None, md5: str | None, source: str) -> None:
    """Raise ChecksumError (and delete ``path``) when a given checksum does not match."""
    for name, expected, func in (("SHA-256", sha256, sha256sum), ("MD5", md5, md5sum)):
        if expected is None:
            continue
        got = func(path)
        if got.lower() != expected.strip().lower():
            path.unlink(missing_ok=True)
            raise ChecksumError(
                f"{name} mismatch for {source}: expected {expected.lower()}, got {got}; "
                "the corrupt download was deleted"
            )


def _checksum_ok(path: Path, sha256: str | None, md5: str | None) -> bool:
    if sha256 is not None and sha256sum(path) != sha256.strip().lower():
        return False
    if md5 is not None and md5sum(path) != md5.strip().lower():
        return False
    return True


def _local_source(url: str) -> Path | None:
    """Path of a ``file://`` URL or a plain local path; None for a network URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme in ("", ) or (len(parsed.scheme) == 1 and os.name == "nt"):  # 'C:' drive letters
        return Path(url)
    return None


def _copy_local(src: Path, part: Path, progress: bool) -> None:
    from tqdm.auto import tqdm

    if not src.is_file():
        raise DownloadError(f"source file {src} does not exist")
    with open(src, "rb") as fin, open(part, "wb") as fout, tqdm(
        total=src.stat().st_size, unit="B", unit_scale=True, desc=src.name, disable=not progress, leave=False
    ) as bar:
        for block in iter(lambda: fin.read(_CHUNK), b""):
            fout.write(block)
            bar.update(len(block))
        fout.flush()
        os.fsync(fout.fileno())


def _http_fetch(url: str, part: Path, resume: bool, progress: bool, timeout: float, _retry_416: bool = True) -> None:
    """Download ``url`` into ``part`` (resuming it when possible); raises DownloadError on any failure.

    The ``.part`` file is kept on a network failure so that the next call can resume it.
    """
    from tqdm.auto import tqdm

    offset = part.stat().st_size if (resume and part.exists()) else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked by caller
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset and _retry_416:
            # Range not satisfiable: the .part is not a prefix of the current file (or already too
            # long); start again from zero rather than trust it
            part.unlink(missing_ok=True)
            return _http_fetch(url, part, resume, progress, timeout, _retry_416=False)
        raise DownloadError(f"HTTP {exc.code} {exc.reason} while downloading {url}") from exc
    except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"could not download {url}: {reason}") from exc

    with response:
        status = getattr(response, "status", 200)
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        if offset and status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                # a server answering a different range than asked would corrupt the file
                raise DownloadError(f"server sent an unexpected Content-Range for {url}; delete {part} and retry")
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        else:
            # 200: the server ignored the Range header (or there was none) -> start from zero
            offset, mode = 0, "wb"
            total = length
        expected_new = length  # bytes this response should carry
        received = 0
        try:
            with open(part, mode) as fh, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, desc=part.name[: -len(".part")],
                disable=not progress, leave=False,
            ) as bar:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    received += len(block)
                    bar.update(len(block))
                fh.flush()
                os.fsync(fh.fileno())
        except (TimeoutError, http.client.IncompleteRead, ConnectionError, OSError) as exc:
            raise DownloadError(
                f"download of {url} was cut off after {offset + received} bytes ({exc!r}); "
                f"the partial file {part} is kept and a new call resumes it"
            ) from exc
        if expected_new is not None and received < expected_new:
            raise DownloadError(
                f"download of {url} was cut off: got {received} of {expected_new} bytes; "
                f"the partial file {part} is kept and a new call resumes it"
            )
    return None


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    md5: str | None = None,
    resume: bool = True,
    progress: bool = True,
    timeout: float = 60.0,
    overwrite: bool = False,
) -> Path:
    """Download ``url`` (http, https, ``file://`` or a local path) to ``dest``; return ``dest``.

    Parameters
    ----------
    sha256, md5:
        Expected hex digests. On mismatch the downloaded bytes are deleted and
        :class:`~astrotorch.errors.ChecksumError` is raised.
    resume:
        Continue an interrupted download from ``<dest>.part`` with an HTTP Range request.
    progress:
        Show a tqdm progress bar.
    timeout:
        Socket timeout in seconds for connecting and for each read.
    overwrite:
        Download again even if ``dest`` exists. Without it, an existing ``dest`` is returned as is
        when it matches the given checksum (or when no checksum is given) and replaced otherwise.

    Raises :class:`~astrotorch.errors.DownloadError` on HTTP errors, network failures, or a transfer
    cut off before ``Content-Length`` bytes arrived. ``dest`` never holds a partial file.
    """
    dest = Path(dest)
    _check_file_target(dest)  # never replace a device, FIFO or folder by the download
    if dest.is_file() and not overwrite:
        if _checksum_ok(dest, sha256, md5):
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    local = _local_source(url)
    if local is not None:
        _copy_local(local, part, progress)
    else:
        scheme = urllib.parse.urlparse(url).scheme
        if scheme not in ("http", "https"):
            raise DownloadError(f"unsupported URL scheme {scheme!r} in {url}: use http, https or file")
        if not resume:
            part.unlink(missing_ok=True)
        _http_fetch(url, part, resume, progress, timeout)
    _verify(part, sha256, md5, url)
    os.replace(part, dest)
    _fsync_dir(dest.parent)
    return dest


def fetch(
    relative_path: str,
    mirror: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    dest: str | os.PathLike[str] | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    copy: bool = False,
    **download_kwargs: object,
) -> Path:
    """Get a survey file by its path relative to an archive root: from a local mirror, else download.

    ``relative_path`` is the file's path below the archive root (e.g.
    ``"dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allStar-dr17-synspec_rev1.fits"``).

    - If ``mirror / relative_path`` exists (e.g. ``$SDSS_LOCAL_SAS_MIRROR``), it is checked against
      the given checksum (a mismatch raises :class:`ChecksumError`; the mirror is never modified) and
      returned as is, or copied atomically to ``dest`` when ``copy=True``.
    - Otherwise ``base_url + "/" + relative_path`` is downloaded to ``dest`` (default:
      ``<data home>/<relative_path>``) with :func:`download`.
    """
    rel = relative_path.lstrip("/")
    if mirror is not None:
        local = Path(mirror).expanduser() / rel
        if local.is_file():
            if not _checksum_ok(local, sha256, md5):
                raise ChecksumError(f"mirror file {local} does not match its expected checksum")
            if not copy:
                return local
            target = Path(dest) if dest is not None else _default_dest(rel)
            if target.resolve() == local.resolve():
                return local
            return download(str(local), target, sha256=sha256, md5=md5, **download_kwargs)  # type: ignore[arg-type]
    if base_url is None:
        where = f" in mirror {mirror}" if mirror is not None else ""
        raise DownloadError(f"{rel} not found{where} and no base_url to download it from")
    url = base_url.rstrip("/") + "/" + urllib.parse.quote(rel)
    target = Path(dest) if dest is not None else _default_dest(rel)
    return download(url, target, sha256=sha256, md5=md5, **download_kwargs)  # type: ignore[arg-type]


def _default_dest(rel: str) -> Path:
    from astrotorch.config import get_config

    return get_config().data_home / rel


def copy_file(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Copy a file atomically (through a temporary sibling of ``dest``)."""
    from astrotorch.io.atomic import atomic_write

    with open(src, "rb") as fin, atomic_write(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, _CHUNK)
    return Path(dest)


__all__ = ["download", "fetch", "copy_file"]
