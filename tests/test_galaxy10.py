"""Galaxy10 loaders: lazy HDF5 access, layout checks, downloads with checksums, image folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from astrotorch.datasets import galaxy10 as g10
from astrotorch.datasets.image_folder import ImageFolderDataset, load_image_folder, read_image
from astrotorch.errors import ChecksumError, DataFormatError, DownloadError, InputValidationError


def _write_g10(path: Path, n: int = 12, size: int = 16, seed: int = 0, extra: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    ans = rng.integers(0, 10, n).astype(np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=imgs)
        f.create_dataset("ans", data=ans)
        if extra:
            f.create_dataset("redshift", data=rng.uniform(0, 0.2, n))
            f.create_dataset("objid", data=np.array([f"{1000 + i}".encode() for i in range(n)]))
    return imgs, ans


# ----------------------------------------------------------------------------------------- class names
def test_cls_lookup_matches_astronn_names() -> None:
    assert g10.galaxy10cls_lookup(0) == "Disturbed"
    assert g10.galaxy10cls_lookup(9) == "Edge-on with Bulge"
    assert g10.galaxy10cls_lookup(3) == "In-between Round Smooth"
    assert g10.galaxy10cls_lookup(7, survey="sdss") == "Disk, Face-on, Tight Spiral"
    assert g10.galaxy10cls_lookup(np.eye(10)[5]) == "Barred Spiral"  # one-hot → arg-max, as astroNN
    assert g10.galaxy10cls_lookup(2, survey="gz1") == "Spiral anticlockwise"
    with pytest.raises(InputValidationError, match="10 classes"):
        g10.galaxy10cls_lookup(10)
    with pytest.raises(InputValidationError):
        g10.galaxy10cls_lookup(-1, survey="sdss")
    with pytest.raises(InputValidationError, match="survey"):
        g10.galaxy10cls_lookup(1, survey="hst")


def test_published_checksums_are_full_sha256() -> None:
    for rel in (g10.DECALS, g10.SDSS):
        assert len(rel.sha256) == 64 and int(rel.sha256, 16) >= 0
    assert g10.SDSS.sha256.startswith("969A6B1CEFCC36E")


# ----------------------------------------------------------------------------------------- HDF5 access
def test_reads_layout_lazily(tmp_path: Path) -> None:
    path = tmp_path / "g.h5"
    imgs, ans = _write_g10(path)
    with g10.load_galaxy10(path=path) as d:
        assert len(d) == 12 and d.image_shape == (16, 16, 3)
        assert isinstance(d.images, h5py.Dataset)  # not read into memory
        np.testing.assert_array_equal(d.labels, ans)
        x, y = d[3]
        np.testing.assert_array_equal(x, imgs[3])
        assert y == ans[3]
        # arbitrary order with repeats comes back in the requested order
        xs, ys = d.to_numpy([7, 2, 7, 0])
        np.testing.assert_array_equal(xs, imgs[[7, 2, 7, 0]])
        np.testing.assert_array_equal(ys, ans[[7, 2, 7, 0]])
        assert list(d.ids[:2]) == ["1000", "1001"]
        assert "redshift" in d.extra
        ds = d.torch_dataset(indices=[5, 1])
    assert len(ds) == 2
    item = ds[0]
    np.testing.assert_array_equal(item["x"], imgs[5])
    assert item["y"] == ans[5]


def test_torch_dataset_works_in_dataloader_workers(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    path = tmp_path / "g.h5"
    imgs, ans = _write_g10(path, n=8)
    ds = g10.Galaxy10TorchDataset(path)
    batches = list(DataLoader(ds, batch_size=4, num_workers=1))
    got = np.concatenate([b["x"].numpy() for b in batches])
    np.testing.assert_array_equal(got, imgs)


def test_truncated_hdf5_raises_dataformaterror(tmp_path: Path) -> None:
    path = tmp_path / "g.h5"
    _write_g10(path, n=40, size=32)
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])  # header intact, image bytes lost
    with pytest.raises(DataFormatError, match="truncated|corrupt"):
        g10.load_galaxy10sdss(path=cut)
    stub = tmp_path / "stub.h5"
    stub.write_bytes(data[:300])
    with pytest.raises(DataFormatError):
        g10.load_galaxy10sdss(path=stub)


def test_corrupt_or_foreign_hdf5_raises(tmp_path: Path) -> None:
    path = tmp_path / "g.h5"
    _write_g10(path)
    bad = tmp_path / "bad.h5"
    raw = bytearray(path.read_bytes())
    raw[:8] = b"NOTHDF5!"  # destroy the signature
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match="not a readable HDF5"):
        g10.load_galaxy10(path=bad)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("pixels", data=np.zeros((3, 4, 4, 3), np.uint8))
    with pytest.raises(DataFormatError, match="'images'"):
        g10.load_galaxy10(path=other)
    mismatch = tmp_path / "mismatch.h5"
    with h5py.File(mismatch, "w") as f:
        f.create_dataset("images", data=np.zeros((3, 4, 4, 3), np.uint8))
        f.create_dataset("ans", data=np.zeros(5, np.uint8))
    with pytest.raises(DataFormatError, match="'ans'"):
        g10.load_galaxy10(path=mismatch)
    with pytest.raises(FileNotFoundError):
        g10.load_galaxy10(path=tmp_path / "absent.h5")


# ----------------------------------------------------------------------------------------- downloads
def _release(tmp_path: Path, url: str, sha: str) -> g10.Galaxy10Release:
    return g10.Galaxy10Release(name="test release", filename="G10_test.h5", url=url, sha256=sha, n_images=12,
                               image_shape=(16, 16, 3), class_names=g10.DECALS_CLASSES, bands="grz")


def test_download_good_checksum_then_cached(tmp_path: Path) -> None:
    from http_server import serve_folder

    www = tmp_path / "www"
    www.mkdir()
    imgs, _ = _write_g10(www / "G10_test.h5")
    sha = hashlib.sha256((www / "G10_test.h5").read_bytes()).hexdigest().upper()
    home = tmp_path / "home"
    with serve_folder(www) as server:
        rel = _release(tmp_path, server.url("G10_test.h5"), sha)
        path = g10.fetch(rel, data_home=home, progress=False)
        assert path == home / "datasets" / "G10_test.h5"
        n_req = len(server.requests)
        assert g10.fetch(rel, data_home=home, progress=False) == path  # verified copy: no new request
        assert len(server.requests) == n_req
    with g10.Galaxy10Data(path) as d:
        np.testing.assert_array_equal(d.to_numpy()[0], imgs)


def test_download_bad_checksum_leaves_no_file(tmp_path: Path) -> None:
    from http_server import serve_folder

    www = tmp_path / "www"
    www.mkdir()
    _write_g10(www / "G10_test.h5")
    home = tmp_path / "home"
    with serve_folder(www) as server:
        rel = _release(tmp_path, server.url("G10_test.h5"), "0" * 64)
        with pytest.raises(ChecksumError, match="published SHA-256"):
            g10.fetch(rel, data_home=home, progress=False)
    leftovers = [p for p in (home / "datasets").iterdir() if p.name.startswith("G10_test")]
    assert leftovers == []


def test_download_cut_off_raises_and_resumes(tmp_path: Path) -> None:
    from http_server import serve_folder

    www = tmp_path / "www"
    www.mkdir()
    _write_g10(www / "G10_test.h5", n=30, size=24)
    sha = hashlib.sha256((www / "G10_test.h5").read_bytes()).hexdigest()
    home = tmp_path / "home"
    with serve_folder(www, cut_after={"/G10_test.h5": 5000}) as server:
        rel = _release(tmp_path, server.url("G10_test.h5"), sha)
        with pytest.raises(DownloadError):
            g10.fetch(rel, data_home=home, progress=False)
        assert not (home / "datasets" / "G10_test.h5").exists()  # never a partial file at the destination
        server.cut_after = {}
        path = g10.fetch(rel, data_home=home, progress=False)
        assert any(r.range for r in server.requests)  # the second attempt resumed with a Range request
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_download_false_needs_local_copy(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download=False"):
        g10.load_galaxy10(data_home=tmp_path, download=False)


# ----------------------------------------------------------------------------------------- image folders
def _write_folder(tmp_path: Path, n: int = 6) -> tuple[Path, Path, np.ndarray]:
    folder = tmp_path / "cutouts"
    folder.mkdir()
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (n, 30, 30, 3), dtype=np.uint8)
    for i in range(n):
        Image.fromarray(imgs[i]).save(folder / f"{100 + i}.png")
    csv = tmp_path / "labels.csv"
    csv.write_text("OBJID,CLASS\n" + "".join(f"{100 + i},{i % 3}\n" for i in range(n)))
    return folder, csv, imgs


def test_image_folder_png_crop_resize(tmp_path: Path) -> None:
    folder, csv, imgs = _write_folder(tmp_path)
    d = load_image_folder(folder, csv)
    np.testing.assert_array_equal(d.images, imgs)  # PNG is lossless
    np.testing.assert_array_equal(d.labels, np.arange(6) % 3)
    assert list(d.ids[:2]) == ["100", "101"]
    d2 = load_image_folder(folder, csv, crop=20, size=10)
    assert d2.images.shape == (6, 10, 10, 3) and d2.images.dtype == np.uint8
    ds = ImageFolderDataset(folder, csv, crop=20)
    assert ds[2]["x"].shape == (20, 20, 3) and ds[2]["y"] == 2
    np.testing.assert_array_equal(ds[2]["x"], imgs[2, 5:25, 5:25])


def test_image_folder_fits_cube(tmp_path: Path) -> None:
    from astropy.io import fits

    folder = tmp_path / "fits"
    folder.mkdir()
    cube = np.arange(3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    fits.PrimaryHDU(cube).writeto(folder / "7.fits")
    fits.PrimaryHDU(cube[0]).writeto(folder / "8.fits")
    img = read_image(folder / "7.fits")
    assert img.shape == (8, 8, 3) and img.dtype == np.float32
    np.testing.assert_array_equal(img[..., 1], cube[1])
    assert read_image(folder / "8.fits").shape == (8, 8, 1)
    with pytest.raises(DataFormatError, match="different shapes"):
        load_image_folder(folder, size=4)  # a 3-band and a 1-band cutout cannot be stacked
    (folder / "8.fits").unlink()
    d = load_image_folder(folder, size=4)
    assert d.images.shape == (1, 4, 4, 3) and d.labels is None


def test_image_folder_errors(tmp_path: Path) -> None:
    folder, csv, _ = _write_folder(tmp_path)
    bad_csv = tmp_path / "more.csv"
    bad_csv.write_text("id,label\n100,0\n999,1\n")
    with pytest.raises(DataFormatError, match="no image"):
        load_image_folder(folder, bad_csv)
    # a truncated JPEG is caught at read time
    jpg = folder / "100.png"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(tmp_path / "x.jpeg", quality=95)
    raw = (tmp_path / "x.jpeg").read_bytes()
    jpg.unlink()
    (folder / "100.jpeg").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(DataFormatError, match="100.jpeg"):
        load_image_folder(folder, csv)
    with pytest.raises(DataFormatError, match="no label column"):
        load_image_folder(folder, csv, label_column="TYPE")


# ----------------------------------------------------------------------------------------- plots
def test_confusion_plot_returns_figure() -> None:
    conf = np.array([[5, 1], [2, 7]])
    fig = g10.galaxy10_confusion(conf, class_names=["a", "b"])
    assert fig.axes and fig.axes[0].get_xlabel() == "predicted class"
    with pytest.raises(InputValidationError):
        g10.galaxy10_confusion(np.ones((2, 3)))


# ----------------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_reads_shared_galaxy_zoo_file_unchanged(shared_data: Path) -> None:
    path = shared_data / "galaxy_zoo1_sdss" / "galaxy_zoo1_sdss69.h5"
    with g10.load_galaxy10sdss(path=path, class_names=g10.GALAXY_ZOO1_CLASSES) as d:
        assert len(d) == 5331 and d.image_shape == (69, 69, 3)
        assert d.images.dtype == np.uint8
        np.testing.assert_array_equal(np.bincount(d.labels), [3716, 331, 349, 798, 45, 92])
        assert d.ids is not None and len(d.ids[0]) >= 17
        x, y = d.to_numpy([0, 5330])
        assert x.shape == (2, 69, 69, 3)


@pytest.mark.realdata
def test_jpeg_folder_reproduces_the_h5_sampling(shared_data: Path) -> None:
    root = shared_data / "galaxy_zoo1_sdss"
    d = load_image_folder(root / "images", root / "labels.csv", crop=207, size=69, limit=8)
    with g10.load_galaxy10sdss(path=root / "galaxy_zoo1_sdss69.h5") as h:
        ids = list(h.ids)
        idx = [ids.index(i) for i in d.ids]
        x, y = h.to_numpy(idx)
    np.testing.assert_array_equal(y, d.labels)
    assert np.abs(x.astype(int) - d.images.astype(int)).mean() < 1.0
