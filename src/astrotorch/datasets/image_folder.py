"""Image cutouts in a folder (JPEG / PNG / FITS, named by object id) with an ``id,label`` CSV.

Layout::

    cutouts/
        588848901537202306.jpeg
        588848901532418163.jpeg
        ...
    labels.csv          # header row, then  id,label  (extra columns are ignored)

:func:`load_image_folder` reads every labelled cutout into one ``(N, H, W, C)`` array (uint8 for
8-bit JPEG/PNG, float32 for FITS), optionally centre-cropped and resized, e.g. the Galaxy Zoo 1
JPEGs (423×423) cropped to 207 px and resized to 69 px reproduce the Galaxy10 SDSS sampling.
:class:`ImageFolderDataset` does the same lazily, one file per item, for folders larger than memory.

A missing file, an unreadable or truncated image, or a CSV without the needed columns raises
:class:`~astrotorch.errors.DataFormatError` naming the file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from astrotorch.errors import DataFormatError, EmptyDatasetError, InputValidationError

EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png", ".fits", ".fit", ".fits.gz", ".fz")


@dataclasses.dataclass
class ImageFolderData:
    """Cutouts read from a folder: ``images`` (N, H, W, C), ``labels`` (N,) or ``None``, ``ids`` (N,) str."""

    images: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray
    paths: list[Path]

    def __len__(self) -> int:
        return int(self.images.shape[0])


# ----------------------------------------------------------------------------------------- reading one image
def _is_fits(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".fits", ".fit", ".fits.gz", ".fz"))


def read_image(path: str | os.PathLike[str], fits_hdu: int | str | None = None) -> np.ndarray:
    """One cutout as ``(H, W, C)``: uint8 for 8-bit JPEG/PNG (RGB), float32 for FITS.

    FITS: the first HDU with a 2-D or 3-D image (or ``fits_hdu``); a 3-D cube ``(C, H, W)`` (bands
    first, as FITS stores them) is transposed to ``(H, W, C)``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"image file {p} does not exist")
    if _is_fits(p):
        from astrotorch.io import open_fits

        try:
            with open_fits(p, memmap=False) as hdul:
                hdus = [hdul[fits_hdu]] if fits_hdu is not None else list(hdul)
                data = next((h.data for h in hdus if h.data is not None and h.data.ndim in (2, 3)), None)
                if data is None:
                    raise DataFormatError(f"{p} has no 2-D or 3-D image HDU")
                arr = np.asarray(data, dtype=np.float32)
        except DataFormatError:
            raise
        except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise DataFormatError(f"{p} is not a readable FITS image (corrupt or truncated?): {exc}") from exc
        return arr[..., None] if arr.ndim == 2 else np.transpose(arr, (1, 2, 0))
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            im.load()  # forces decoding: a truncated JPEG fails here, not later
            if im.mode not in ("RGB", "L"):
                im = im.convert("RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(f"{p} is not a readable image (corrupt or truncated?): {exc}") from exc
    return arr[..., None] if arr.ndim == 2 else arr


def center_crop(img: np.ndarray, crop: int) -> np.ndarray:
    """Central ``crop × crop`` pixels of an ``(H, W, C)`` image."""
    h, w = img.shape[:2]
    if crop > min(h, w):
        raise InputValidationError(f"crop {crop} is larger than the image ({h}×{w})")
    top, left = (h - crop) // 2, (w - crop) // 2
    return img[top : top + crop, left : left + crop]


def resize(img: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an ``(H, W, C)`` image to ``size × size`` (Pillow, per channel for floats).

    Downsampling by an integer factor uses Pillow's area-aware bilinear filter (``reducing_gap``
    off), the same family as the bilinear downsampling Galaxy10 was made with.
    """
    from PIL import Image

    if img.shape[0] == size and img.shape[1] == size:
        return img
    if img.dtype == np.uint8:
        mode_img = Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)
        out = np.asarray(mode_img.resize((size, size), Image.BILINEAR))
        return out[..., None] if out.ndim == 2 else out
    chans = [np.asarray(Image.fromarray(img[..., c].astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
             for c in range(img.shape[2])]
    return np.stack(chans, axis=-1).astype(np.float32)


def _transform(img: np.ndarray, crop: int | None, size: int | None) -> np.ndarray:
    if crop is not None:
        img = center_crop(img, crop)
    if size is not None:
        img = resize(img, size)
    return img


# ----------------------------------------------------------------------------------------- the folder
def read_labels_csv(
    csv_path: str | os.PathLike[str], id_column: str | int = 0, label_column: str | int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``(ids as str, labels)`` from a CSV with a header row; columns by name or position.

    Blank lines are skipped. Labels that are all integers come back as int64, otherwise as str. An
    id listed twice (an image with two labels) raises :class:`~astrotorch.errors.DataFormatError`.
    """
    from astrotorch.io import read_csv

    p = Path(csv_path)
    if not p.is_file():
        raise DataFormatError(f"label file {p} does not exist")
    df = read_csv(p, allow_empty=True, dtype=str, skip_blank_lines=True)
    cols = list(df.columns)

    def pick(col: str | int, what: str) -> str:
        if isinstance(col, int):
            if col >= len(cols):
                raise DataFormatError(f"{p} has {len(cols)} columns; no {what} column at position {col}")
            return cols[col]
        if col not in cols:
            raise DataFormatError(f"{p} has no {what} column {col!r} (columns: {cols})")
        return col

    idc, labc = pick(id_column, "id"), pick(label_column, "label")
    df = df.dropna(subset=[idc])
    if df.empty:
        raise EmptyDatasetError(f"{p} lists no labelled object")
    ids = df[idc].str.strip().to_numpy(dtype=str)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = [str(i) for i in uniq[counts > 1]]
        rows = (np.flatnonzero(ids == dup[0]) + 1).tolist()
        raise DataFormatError(f"{p}: id {dup[0]!r} is listed {int(counts[counts > 1][0])} times (data rows {rows[:5]}); "
                              f"each image needs exactly one label ({len(dup)} duplicated ids)")
    lab = df[labc].str.strip()
    if lab.isna().any():
        raise DataFormatError(f"{p}: {int(lab.isna().sum())} rows have no label")
    try:
        labels = lab.astype(np.int64).to_numpy()
    except ValueError:
        labels = lab.to_numpy(dtype=str)
    return ids, labels


def _index_folder(folder: Path, extensions: Sequence[str]) -> dict[str, Path]:
    """Map object id (file name without extension) → path for every image in ``folder``."""
    found: dict[str, Path] = {}
    exts = tuple(e.lower() for e in extensions)
    for entry in os.scandir(folder):
        name = entry.name
        low = name.lower()
        ext = next((e for e in sorted(exts, key=len, reverse=True) if low.endswith(e)), None)
        if ext is None or not entry.is_file():
            continue
        found[name[: -len(ext)]] = Path(entry.path)
    return found


def _resolve(folder: str | os.PathLike[str], labels_csv: str | os.PathLike[str] | None, id_column: Any, label_column: Any,
             extensions: Sequence[str], limit: int | None) -> tuple[list[Path], np.ndarray, np.ndarray | None]:
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(f"image folder {root} does not exist")
    index = _index_folder(root, extensions)
    if labels_csv is None:
        ids = np.array(sorted(index), dtype=str)
        labels = None
        if ids.size == 0:
            raise EmptyDatasetError(f"{root} holds no image with extension {tuple(extensions)}")
    else:
        ids, labels = read_labels_csv(labels_csv, id_column, label_column)
        missing = [i for i in ids if i not in index]
        if missing:
            raise DataFormatError(
                f"{len(missing)} of {len(ids)} ids in {labels_csv} have no image in {root} "
                f"(first: {missing[:3]}; extensions searched: {tuple(extensions)})"
            )
    if limit is not None:
        ids = ids[:limit]
        labels = labels[:limit] if labels is not None else None
    return [index[i] for i in ids], ids, labels


def load_image_folder(
    folder: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    crop: int | None = None,
    size: int | None = None,
    id_column: str | int = 0,
    label_column: str | int = 1,
    extensions: Sequence[str] = EXTENSIONS,
    limit: int | None = None,
) -> ImageFolderData:
    """Read labelled cutouts into memory.

    Parameters
    ----------
    folder: the folder of images named ``<id>.<ext>``.
    labels_csv: CSV with a header and ``id,label`` columns (``None``: every image, no labels).
    crop: centre-crop to ``crop × crop`` pixels first (e.g. 207 for the Galaxy Zoo JPEGs).
    size: then resize to ``size × size`` (bilinear).
    id_column, label_column: CSV columns by name or position.
    extensions: file extensions searched (case-insensitive).
    limit: read only the first ``limit`` rows of the CSV (quick looks, tests).

    All images must end up the same shape (give ``size`` for mixed-size folders).
    """
    paths, ids, labels = _resolve(folder, labels_csv, id_column, label_column, extensions, limit)
    imgs = [_transform(read_image(p), crop, size) for p in paths]
    shapes = {im.shape for im in imgs}
    if len(shapes) > 1:
        raise DataFormatError(f"images in {folder} have different shapes {sorted(shapes)[:4]}: pass size= to resize them")
    return ImageFolderData(images=np.stack(imgs), labels=labels, ids=ids, paths=paths)


class ImageFolderDataset(Dataset):
    """Lazy ``torch`` Dataset over a cutout folder: items ``{"x": (H, W, C) image, "y": label}``.

    String labels are mapped to class indices in sorted order (``classes`` holds the names).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        labels_csv: str | os.PathLike[str],
        crop: int | None = None,
        size: int | None = None,
        id_column: str | int = 0,
        label_column: str | int = 1,
        extensions: Sequence[str] = EXTENSIONS,
    ) -> None:
        self.paths, self.ids, labels = _resolve(folder, labels_csv, id_column, label_column, extensions, None)
        assert labels is not None
        if labels.dtype.kind in "US":
            self.classes = sorted(set(labels.tolist()))
            lookup = {c: i for i, c in enumerate(self.classes)}
            self.labels = np.array([lookup[v] for v in labels], dtype=np.int64)
        else:
            self.classes = None
            self.labels = labels.astype(np.int64)
        self.crop, self.size = crop, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": _transform(read_image(self.paths[i]), self.crop, self.size), "y": int(self.labels[i])}


__all__ = [
    "EXTENSIONS",
    "ImageFolderData",
    "ImageFolderDataset",
    "center_crop",
    "load_image_folder",
    "read_image",
    "read_labels_csv",
    "resize",
]
