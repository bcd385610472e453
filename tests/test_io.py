"""astrotorch.io: atomic writes/folders, checksums and the safe readers."""

from __future__ import annotations

import hashlib
import os
import stat

import h5py
import numpy as np
import pandas as pd
import pytest

from astrotorch.errors import DataFormatError
from astrotorch.io import (
    atomic_dir,
    atomic_write,
    md5sum,
    open_fits,
    open_hdf5,
    open_parquet,
    read_csv,
    read_fits_table,
    read_hdf5,
    read_parquet,
    sha256sum,
)


# ------------------------------------------------------------------------------------- atomic_write
def test_atomic_write_binary_and_text(tmp_path):
    p = tmp_path / "sub" / "a.bin"
    with atomic_write(p) as fh:
        fh.write(b"abc")
        assert not p.exists()  # nothing visible until the block ends
    assert p.read_bytes() == b"abc"
    with atomic_write(tmp_path / "t.txt", "w", encoding="utf-8") as fh:
        fh.write("Teff ≈ 4800 K\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "Teff ≈ 4800 K\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["sub", "t.txt"]


def test_atomic_write_failure_keeps_old_content_and_no_temp(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(p, "w") as fh:
            fh.write("half of the new content")
            raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_write_failure_leaves_nothing_when_new(tmp_path):
    with pytest.raises(KeyError):
        with atomic_write(tmp_path / "new.bin") as fh:
            fh.write(b"x")
            raise KeyError("k")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_permissions_follow_umask(tmp_path):
    with atomic_write(tmp_path / "p.bin") as fh:
        fh.write(b"1")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "p.bin").stat().st_mode) == 0o666 & ~mask


def test_atomic_write_rejects_read_mode_and_x_existing(tmp_path):
    with pytest.raises(ValueError):
        with atomic_write(tmp_path / "a", "r"):
            pass
    (tmp_path / "b").write_bytes(b"")
    with pytest.raises(FileExistsError):
        with atomic_write(tmp_path / "b", "xb"):
            pass


# --------------------------------------------------------------------------------------- atomic_dir
def test_atomic_dir_success_and_failure(tmp_path):
    target = tmp_path / "run"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists() and tmp.parent == tmp_path
    assert (target / "a.txt").read_text() == "1"

    with pytest.raises(FileExistsError):
        with atomic_dir(target):
            pass
    with pytest.raises(ZeroDivisionError):
        with atomic_dir(target, overwrite=True) as tmp:
            (tmp / "b.txt").write_text("2")
            1 / 0
    # the old folder is intact, no temporary folder left over
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]

    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_dir_target_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError):
        with atomic_dir(tmp_path / "f", overwrite=True):
            pass


def test_checksums(tmp_path):
    data = os.urandom(3 * (1 << 20) + 7)  # spans several read blocks
    (tmp_path / "d").write_bytes(data)
    assert sha256sum(tmp_path / "d") == hashlib.sha256(data).hexdigest()
    assert md5sum(tmp_path / "d") == hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------------------ readers
def _h5(path, n=2000):
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.random.rand(n, 50).astype("f4"), chunks=(100, 50), compression="gzip")
        f.create_dataset("y", data=np.arange(n, dtype="f8"))
        f.create_group("g")


def test_hdf5_round_trip(tmp_path):
    p = tmp_path / "a.h5"
    _h5(p)
    d = read_hdf5(p)
    assert set(d) == {"x", "y"} and d["x"].shape == (2000, 50)
    assert read_hdf5(p, keys=["y"])["y"][5] == 5
    with open_hdf5(p) as f:
        assert f["x"].chunks == (100, 50)
    with pytest.raises(DataFormatError, match="lacks datasets"):
        read_hdf5(p, required=["z"])


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.95])
def test_hdf5_truncated(tmp_path, fraction):
    p = tmp_path / "a.h5"
    _h5(p)
    raw = p.read_bytes()
    p.write_bytes(raw[: int(len(raw) * fraction)])
    with pytest.raises(DataFormatError, match="a.h5"):
        read_hdf5(p)


def test_hdf5_not_hdf5_and_missing(tmp_path):
    (tmp_path / "t.h5").write_text("this is plain text, not HDF5\n" * 10)
    with pytest.raises(DataFormatError, match="t.h5"):
        open_hdf5(tmp_path / "t.h5")
    with pytest.raises(FileNotFoundError):
        open_hdf5(tmp_path / "nope.h5")


def _fits(path, n=5000):
    from astropy.io import fits

    cols = [fits.Column(name="TEFF", format="E", array=np.linspace(4000, 5000, n).astype("f4")),
            fits.Column(name="ID", format="10A", array=np.array([f"s{i}" for i in range(n)]))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)


def test_fits_ok_and_columns(tmp_path):
    p = tmp_path / "t.fits"
    _fits(p)
    with open_fits(p) as hdul:
        assert len(hdul) == 2
    t = read_fits_table(p, columns=["TEFF"])
    assert t["TEFF"][0] == 4000
    with pytest.raises(DataFormatError, match="lacks columns"):
        read_fits_table(p, columns=["LOGG"])
    with pytest.raises(DataFormatError, match="no HDU"):
        read_fits_table(p, hdu=5)


@pytest.mark.parametrize("cut", [100, 2880 + 100, 2880 * 2 + 10, -100])
def test_fits_truncated(tmp_path, cut):
    p = tmp_path / "t.fits"
    _fits(p)
    raw = p.read_bytes()
    p.write_bytes(raw[:cut])
    with pytest.raises(DataFormatError, match="t.fits"):
        with open_fits(p):
            pass


def test_fits_cut_at_hdu_boundary(tmp_path):
    # a cut exactly after the primary HDU is a valid one-HDU FITS file: only asking for the
    # table HDU can tell it is incomplete
    p = tmp_path / "t.fits"
    _fits(p)
    p.write_bytes(p.read_bytes()[:2880])
    with pytest.raises(DataFormatError, match="no HDU 1"):
        read_fits_table(p)


def test_fits_garbage(tmp_path):
    (tmp_path / "g.fits").write_bytes(os.urandom(5000))
    with pytest.raises(DataFormatError):
        with open_fits(tmp_path / "g.fits"):
            pass


def test_csv_reader(tmp_path):
    p = tmp_path / "a.csv"
    pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]}).to_csv(p, index=False)
    assert list(read_csv(p, required_columns=["a"]).columns) == ["a", "b"]
    with pytest.raises(DataFormatError, match="lacks required columns \\['c'\\]"):
        read_csv(p, required_columns=["a", "c"])
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        read_csv(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(DataFormatError, match="no rows"):
        read_csv(tmp_path / "h.csv")
    assert len(read_csv(tmp_path / "h.csv", allow_empty=True)) == 0
    (tmp_path / "bad.csv").write_text('a,b\n1,2\n3,"4\n5,6,7,8\n')
    with pytest.raises(DataFormatError):
        read_csv(tmp_path / "bad.csv")


def test_parquet_reader(tmp_path):
    p = tmp_path / "a.parquet"
    pd.DataFrame({"a": np.arange(1000), "b": np.random.rand(1000)}).to_parquet(p, row_group_size=100)
    assert open_parquet(p).num_row_groups == 10
    assert read_parquet(p, columns=["b"]).shape == (1000, 1)
    with pytest.raises(DataFormatError, match="lacks required columns"):
        read_parquet(p, required_columns=["zz"])
    raw = p.read_bytes()
    for cut in (4, len(raw) // 2, len(raw) - 3):
        (tmp_path / "t.parquet").write_bytes(raw[:cut])
        with pytest.raises(DataFormatError, match="t.parquet"):
            read_parquet(tmp_path / "t.parquet")
