"""Galaxy10 data sets (DECaLS and SDSS): download with checksum, lazy HDF5 access, class names.

The published files (Leung & Bovy; astroNN's ``astroNN.datasets.galaxy10`` / ``galaxy10sdss``):

* **Galaxy10 DECaLS** ``Galaxy10_DECals.h5``: 17,736 images (256×256×3 uint8, g/r/z) from the DESI
  Legacy Imaging Surveys with Galaxy Zoo labels, datasets ``images``, ``ans`` (class 0–9) and
  ``ra``, ``dec``, ``redshift``, ``pxscale`` (arcsec/pixel).
* **Galaxy10 SDSS** ``Galaxy10.h5``: 21,785 images (69×69×3 uint8, g/r/i) from SDSS with Galaxy
  Zoo 2 labels, datasets ``images`` and ``ans``.

Files are downloaded once into ``<data home>/datasets`` (``astrotorch.config.get_config().data_home``)
and their SHA-256 checked against the published value. ``path=`` reads any file in this layout
instead — e.g. the Galaxy Zoo 1 file ``galaxy_zoo1_sdss69.h5`` (with an extra ``objid`` dataset).

Images are *not* read into memory: :class:`Galaxy10Data` keeps the HDF5 file open and indexes the
``images`` dataset on demand (``data.images[i]``, ``data[i]``, ``data.to_numpy(idx)``), and
:meth:`Galaxy10Data.torch_dataset` gives a ``torch.utils.data.Dataset`` of ``{"x", "y"}`` items that
reopens the file in each DataLoader worker (h5py handles must not cross a fork).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from astrotorch.errors import ChecksumError, DataFormatError, InputValidationError


@dataclasses.dataclass(frozen=True)
class Galaxy10Release:
    """One published Galaxy10 file: where it lives, its SHA-256 and its content."""

    name: str
    filename: str
    url: str
    sha256: str
    n_images: int
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    bands: str


#: astroNN's Galaxy10 DECaLS classes (class 3 is "In-between Round Smooth" in the published data;
#: astroNN's lookup table repeats "Smooth, Cigar shaped" there by mistake)
DECALS_CLASSES: tuple[str, ...] = (
    "Disturbed",
    "Merging",
    "Round Smooth",
    "In-between Round Smooth",
    "Cigar Shaped Smooth",
    "Barred Spiral",
    "Unbarred Tight Spiral",
    "Unbarred Loose Spiral",
    "Edge-on without Bulge",
    "Edge-on with Bulge",
)

#: astroNN's Galaxy10 SDSS classes
SDSS_CLASSES: tuple[str, ...] = (
    "Disk, Face-on, No Spiral",
    "Smooth, Completely round",
    "Smooth, in-between round",
    "Smooth, Cigar shaped",
    "Disk, Edge-on, Rounded Bulge",
    "Disk, Edge-on, Boxy Bulge",
    "Disk, Edge-on, No Bulge",
    "Disk, Face-on, Tight Spiral",
    "Disk, Face-on, Medium Spiral",
    "Disk, Face-on, Loose Spiral",
)

#: Galaxy Zoo 1 majority classes of the shared ``galaxy_zoo1_sdss`` set (Lintott et al. 2008)
GALAXY_ZOO1_CLASSES: tuple[str, ...] = (
    "Elliptical",
    "Spiral clockwise",
    "Spiral anticlockwise",
    "Edge-on",
    "Don't know",
    "Merger",
)

DECALS = Galaxy10Release(
    name="Galaxy10 DECaLS",
    filename="Galaxy10_DECals.h5",
    url="https://zenodo.org/records/10845026/files/Galaxy10_DECals.h5",
    sha256="19AEFC477C41BB7F77FF07599A6B82A038DC042F889A111B0D4D98BB755C1571",
    n_images=17736,
    image_shape=(256, 256, 3),
    class_names=DECALS_CLASSES,
    bands="grz",
)

# The value published in astroNN's galaxy10sdss.py (64 hex digits). The issue text quoted it with
# one "C" missing ("...1CEFC36E..."), which no file can match; this is the published string.
SDSS = Galaxy10Release(
    name="Galaxy10 SDSS",
    filename="Galaxy10.h5",
    url="https://zenodo.org/records/10844811/files/Galaxy10.h5",
    sha256="969A6B1CEFCC36E09FFFA86FEBD2F699A4AA19B837BA0427F01B0BC6DED458AF",
    n_images=21785,
    image_shape=(69, 69, 3),
    class_names=SDSS_CLASSES,
    bands="gri",
)

RELEASES = {"decals": DECALS, "sdss": SDSS}


# ----------------------------------------------------------------------------------------- class names
def galaxy10cls_lookup(class_num: int | Sequence[float] | np.ndarray, survey: str = "decals") -> str:
    """Name of a Galaxy10 class, as astroNN's ``galaxy10cls_lookup``.

    ``class_num`` is an integer 0–9, or a one-hot / probability vector (its arg-max is used).
    ``survey``: ``"decals"`` (Galaxy10 DECaLS, astroNN's ``astroNN.datasets.galaxy10``), ``"sdss"``
    (Galaxy10 SDSS, ``astroNN.datasets.galaxy10sdss``) or ``"gz1"`` (the 6 Galaxy Zoo 1 classes).
    """
    names = {"decals": DECALS_CLASSES, "sdss": SDSS_CLASSES, "gz1": GALAXY_ZOO1_CLASSES}.get(survey.lower())
    if names is None:
        raise InputValidationError(f"survey must be 'decals', 'sdss' or 'gz1', got {survey!r}")
    if isinstance(class_num, (list, tuple, np.ndarray)):
        class_num = int(np.argmax(np.asarray(class_num)))
    if isinstance(class_num, (bool, np.bool_)) or not isinstance(class_num, (int, np.integer)):
        raise InputValidationError(f"class_num must be an integer class index, got {class_num!r}")
    if not 0 <= int(class_num) < len(names):
        raise InputValidationError(
            f"Galaxy10 ({survey}) has {len(names)} classes (0 to {len(names) - 1}), got class {class_num}"
        )
    return names[int(class_num)]


def galaxy10_confusion(confusion_mat: np.ndarray, class_names: Sequence[str] | None = None, normalize: bool = True) -> Any:
    """Confusion-matrix figure (rows: truth, columns: prediction) — astroNN's ``galaxy10_confusion``.

    Returns the matplotlib figure (astroNN drew into pylab's current figure and returned ``None``).
    """
    from astrotorch.plots.images import confusion_matrix_plot

    return confusion_matrix_plot(confusion_mat, class_names=class_names, normalize=normalize, title="Galaxy10 confusion matrix")


# ----------------------------------------------------------------------------------------- HDF5 access
def _check_labels(ans: np.ndarray, path: Path, n_classes: int) -> np.ndarray:
    """``ans`` as int64 class indices, or a DataFormatError naming the file: Galaxy10 labels are
    integers in ``[0, n_classes)`` (a float, negative or too large class is a damaged file, not data)."""
    if ans.dtype.kind not in "iu":
        raise DataFormatError(
            f"{path}: 'ans' must hold integer class indices, got dtype {ans.dtype} (not a Galaxy10 label column)"
        )
    if ans.size and int(ans.min()) < 0:
        raise DataFormatError(f"{path}: 'ans' holds a negative class ({int(ans.min())}); classes run from 0")
    if ans.size and int(ans.max()) >= n_classes:
        raise DataFormatError(
            f"{path}: 'ans' holds class {int(ans.max())}, outside 0..{n_classes - 1} for {n_classes} classes "
            "(pass n_classes= / class_names= for a file with more classes)"
        )
    return ans.astype(np.int64)


def _check_layout(fh: Any, path: Path) -> tuple[Any, np.ndarray]:
    """Validate the Galaxy10 layout; return the (lazy) images dataset and the labels."""
    import h5py

    for key in ("images", "ans"):
        if key not in fh or not isinstance(fh[key], h5py.Dataset):
            raise DataFormatError(f"{path} has no dataset {key!r}: not in the Galaxy10 layout (found {sorted(fh.keys())})")
    images = fh["images"]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise DataFormatError(f"{path}: 'images' must be (N, H, W, C) with C in 1, 3, 4; got shape {images.shape}")
    if images.shape[0] == 0:
        raise DataFormatError(f"{path}: 'images' holds no image")
    try:
        ans = np.asarray(fh["ans"][()])
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: cannot read 'ans' (corrupt or truncated file): {exc}") from exc
    if ans.ndim != 1 or ans.shape[0] != images.shape[0]:
        raise DataFormatError(f"{path}: 'ans' has shape {ans.shape}, expected ({images.shape[0]},)")
    # A file cut short keeps its header (it opens fine) but loses the image bytes at the end:
    # contiguous datasets must lie wholly inside the file; chunked ones must read back at both ends.
    size = path.stat().st_size
    offset = images.id.get_offset()
    if offset is not None:
        end = offset + images.id.get_storage_size()
        if end > size:
            raise DataFormatError(
                f"{path} is truncated: the 'images' data end at byte {end:,} but the file has {size:,} bytes"
            )
    else:
        try:
            images[0]
            images[images.shape[0] - 1]
        except (OSError, ValueError, RuntimeError) as exc:
            raise DataFormatError(f"{path}: cannot read 'images' (corrupt or truncated file): {exc}") from exc
    return images, ans


class Galaxy10Data:
    """A Galaxy10-layout HDF5 file opened read-only, images read lazily.

    Attributes
    ----------
    path: the file.
    images: the ``h5py`` dataset (N, H, W, C) uint8 — index it like a NumPy array.
    labels: class indices (N,) int64 (from ``ans``).
    class_names: names of the classes (when known for the release).
    extra: the other 1-D datasets of the file (``ra``, ``dec``, ``redshift``, ``pxscale``, ``objid`` ...)
        read as NumPy arrays (small).

    Use as a context manager or call :meth:`close` to release the file handle.

    Like astroNN's ``load_data`` it also unpacks: ``images, labels = load_galaxy10sdss()`` reads every
    image into memory (uint8) and returns ``(images, labels)``; index ``.images`` instead to stay lazy.

    ``n_classes`` bounds the labels (default: the number of ``class_names``, else Galaxy10's 10); a
    file whose ``ans`` is not integer, is negative or reaches ``n_classes`` is refused.
    """

    def __init__(self, path: str | os.PathLike[str], class_names: Sequence[str] | None = None,
                 n_classes: int | None = None) -> None:
        self.path = Path(path)
        if n_classes is None:
            n_classes = len(class_names) if class_names is not None else 10
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
            raise InputValidationError(f"n_classes must be a positive integer, got {n_classes!r}")
        self.n_classes = int(n_classes)
        from astrotorch.io import open_hdf5

        self._fh = open_hdf5(self.path)  # missing file: FileNotFoundError; not HDF5: DataFormatError
        try:
            self.images, ans = _check_layout(self._fh, self.path)
            self.labels = _check_labels(ans, self.path, self.n_classes)
            self.extra: dict[str, np.ndarray] = {}
            for key, ds in self._fh.items():
                if key in ("images", "ans") or not hasattr(ds, "shape") or ds.ndim != 1 or ds.shape[0] != len(self.labels):
                    continue
                try:
                    self.extra[key] = np.asarray(ds[()])
                except (OSError, ValueError) as exc:
                    raise DataFormatError(f"{self.path}: cannot read dataset {key!r}: {exc}") from exc
        except BaseException:
            self._fh.close()
            raise
        self.class_names = tuple(class_names) if class_names is not None else None

    # -------------------------------------------------------------- container protocol
    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __iter__(self) -> Any:
        """``images, labels = data``: all images (uint8, read now) and the labels, as astroNN returns."""
        return iter(self.to_numpy())

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self._read(i), int(self.labels[i])

    def _read(self, idx: Any) -> np.ndarray:
        try:
            return np.asarray(self.images[idx])
        except (OSError, ValueError, RuntimeError) as exc:
            raise DataFormatError(f"{self.path}: cannot read images[{idx!r}] (corrupt file?): {exc}") from exc

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    @property
    def ids(self) -> np.ndarray | None:
        """Object identifiers (``objid`` decoded to str) when the file has them."""
        if "objid" not in self.extra:
            return None
        ids = self.extra["objid"]
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in ids])

    def to_numpy(self, indices: Sequence[int] | np.ndarray | slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Images (uint8) and labels for ``indices`` (all when ``None``) as in-memory arrays.

        HDF5 fancy indexing needs increasing indices, so they are sorted for the read and the
        requested order restored afterwards.
        """
        if indices is None:
            return self._read(slice(None)), self.labels.copy()
        if isinstance(indices, slice):
            return self._read(indices), self.labels[indices]
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise InputValidationError(f"indices must lie in [0, {len(self)}), got range [{idx.min()}, {idx.max()}]")
        order = np.argsort(idx, kind="stable")
        uniq, inverse = np.unique(idx[order], return_inverse=True)
        imgs = self._read(uniq.tolist())[inverse]
        out = np.empty_like(imgs)
        out[order] = imgs
        return out, self.labels[idx]

    def torch_dataset(self, indices: Sequence[int] | np.ndarray | None = None) -> Galaxy10TorchDataset:
        """A ``torch`` Dataset of ``{"x": (H, W, C) uint8 image, "y": class}`` items (lazy)."""
        return Galaxy10TorchDataset(self.path, None if indices is None else np.asarray(indices, np.int64),
                                    n_classes=self.n_classes)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Galaxy10Data:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Galaxy10Data({str(self.path)!r}, n={len(self)}, image_shape={self.image_shape})"


class Galaxy10TorchDataset(Dataset):
    """``torch.utils.data.Dataset`` over a Galaxy10 file: items ``{"x": uint8 (H, W, C), "y": int}``.

    The file is opened lazily in the process that reads (so DataLoader workers each get their own
    handle); the dataset itself pickles as just a path and indices.
    """

    def __init__(self, path: str | os.PathLike[str], indices: np.ndarray | None = None, n_classes: int = 10) -> None:
        self.path = Path(path)
        self.n_classes = int(n_classes)
        with Galaxy10Data(self.path, n_classes=self.n_classes) as d:
            self._labels = d.labels
            n = len(d)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise InputValidationError(f"indices must lie in [0, {n})")
        self._data: Galaxy10Data | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self._data is None or self._pid != os.getpid():
            self._data = Galaxy10Data(self.path, n_classes=self.n_classes)
            self._pid = os.getpid()
        j = int(self.indices[i])
        return {"x": self._data._read(j), "y": int(self._labels[j])}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_data"], state["_pid"] = None, None
        return state


# ----------------------------------------------------------------------------------------- download
def data_dir(data_home: str | os.PathLike[str] | None = None) -> Path:
    """``<data home>/datasets`` (created when needed)."""
    from astrotorch.config import get_config

    home = Path(data_home) if data_home is not None else Path(get_config().data_home)
    folder = home.expanduser() / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fetch(
    release: Galaxy10Release | str,
    data_home: str | os.PathLike[str] | None = None,
    url: str | None = None,
    progress: bool = True,
) -> Path:
    """Download a Galaxy10 release into the data home (resuming a partial download) and verify it.

    A file already in place is re-verified only when its size or modification time changed since
    the last successful check (the DECaLS file is 2.7 GB; hashing it on every load would be slow).
    ``url`` overrides the published location (mirrors, tests). Raises
    :class:`~astrotorch.errors.ChecksumError` when the SHA-256 does not match the published value;
    no file is then left at the destination.
    """
    from astrotorch.io import download, sha256sum

    rel = RELEASES[release.lower()] if isinstance(release, str) else release
    dest = data_dir(data_home) / rel.filename
    marker = dest.with_name(dest.name + ".verified")
    expected = rel.sha256.lower()
    if dest.is_file():
        st = dest.stat()
        stamp = f"{expected} {st.st_size} {st.st_mtime_ns}"
        if marker.is_file() and marker.read_text().strip() == stamp:
            return dest
        digest = sha256sum(dest)
        if digest.lower() == expected:
            marker.write_text(stamp + "\n")
            return dest
        # a stale or damaged copy is never trusted: remove it and download afresh
        dest.unlink()
        marker.unlink(missing_ok=True)
    try:
        download(url or rel.url, dest, sha256=expected, resume=True, progress=progress)
    except ChecksumError as exc:
        raise ChecksumError(
            f"{rel.name} download from {url or rel.url} does not match the published SHA-256 "
            f"{rel.sha256} (no file was kept at {dest}): {exc}"
        ) from exc
    st = dest.stat()
    marker.write_text(f"{expected} {st.st_size} {st.st_mtime_ns}\n")
    return dest


def _load(
    release: Galaxy10Release,
    path: str | os.PathLike[str] | None,
    data_home: str | os.PathLike[str] | None,
    download: bool,
    url: str | None,
    progress: bool,
    class_names: Sequence[str] | None,
) -> Galaxy10Data:
    if path is not None:
        return Galaxy10Data(path, class_names=class_names)
    dest = data_dir(data_home) / release.filename
    if not download and not dest.is_file():
        raise FileNotFoundError(f"{release.name} not found at {dest} and download=False")
    file = fetch(release, data_home=data_home, url=url, progress=progress) if download else dest
    return Galaxy10Data(file, class_names=class_names or release.class_names)


def load_galaxy10(
    path: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = True,
    url: str | None = None,
    progress: bool = True,
    class_names: Sequence[str] | None = None,
) -> Galaxy10Data:
    """Galaxy10 DECaLS (17,736 × 256×256×3, g/r/z), downloaded on first use, opened lazily.

    ``path``: read this file instead (any file in the Galaxy10 layout; no checksum then).
    ``data_home``: overrides the configured data home. ``download=False`` only uses a local copy.
    ``url``: a mirror of the published file (the checksum is still the published one).
    Raises :class:`~astrotorch.errors.DataFormatError` for a corrupt, truncated or foreign file.
    """
    return _load(DECALS, path, data_home, download, url, progress, class_names)


def load_galaxy10sdss(
    path: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = True,
    url: str | None = None,
    progress: bool = True,
    class_names: Sequence[str] | None = None,
) -> Galaxy10Data:
    """Galaxy10 SDSS (21,785 × 69×69×3, g/r/i), downloaded on first use, opened lazily.

    Same arguments as :func:`load_galaxy10`. ``load_galaxy10sdss(path=".../galaxy_zoo1_sdss69.h5")``
    reads the shared Galaxy Zoo 1 set (pass ``class_names=GALAXY_ZOO1_CLASSES``).
    """
    return _load(SDSS, path, data_home, download, url, progress, class_names)


__all__ = [
    "DECALS",
    "SDSS",
    "DECALS_CLASSES",
    "SDSS_CLASSES",
    "GALAXY_ZOO1_CLASSES",
    "Galaxy10Data",
    "Galaxy10Release",
    "Galaxy10TorchDataset",
    "fetch",
    "galaxy10_confusion",
    "galaxy10cls_lookup",
    "load_galaxy10",
    "load_galaxy10sdss",
    "load_data",
]

#: astroNN's name in ``astroNN.datasets.galaxy10``
load_data = load_galaxy10
