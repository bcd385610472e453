"""astrotorch.io: atomic writes/folders, checksums and the safe readers."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from astrotorch.errors import DataFormatError, OutputExistsError, OutputPathError
from astrotorch.io import (
    MARKER_NAME,
    atomic_dir,
    atomic_write,
    check_output_path,
    clean_stale_temporaries,
    md5sum,
    open_fits,
    open_hdf5,
    open_parquet,
    read_csv,
    read_fits_table,
    read_hdf5,
    read_npy,
    read_npz,
    read_parquet,
    sha256sum,
)
from astrotorch.io import atomic as atomic_module


@pytest.fixture()
def readonly_dir(tmp_path):
    """A folder this process cannot write into (a chmod'ed folder; /sys when running as root)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        (d / "probe").write_text("x")
    except OSError:
        yield d
        d.chmod(0o755)
        return
    (d / "probe").unlink()
    d.chmod(0o755)
    try:
        import tempfile

        fd, name = tempfile.mkstemp(dir="/sys")
    except OSError:
        yield Path("/sys")  # root ignores permission bits, but sysfs refuses new files
        return
    os.close(fd)
    os.unlink(name)
    pytest.skip("no unwritable folder available (running as root?)")


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
def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_dir_success_and_failure(tmp_path):
    target = tmp_path / "run"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists() and tmp.parent == tmp_path
    assert (target / "a.txt").read_text() == "1"
    assert _names(target) == [MARKER_NAME, "a.txt"]  # the marker says astrotorch wrote it

    with pytest.raises(FileExistsError):
        with atomic_dir(target):
            pass
    with pytest.raises(ZeroDivisionError):
        with atomic_dir(target, overwrite=True) as tmp:
            (tmp / "b.txt").write_text("2")
            1 / 0  # noqa: B018 (raises on purpose)
    # the old folder is intact, no temporary folder left over
    assert _names(target) == [MARKER_NAME, "a.txt"]
    assert _names(tmp_path) == ["run"]

    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "c.txt").write_text("3")
    assert _names(target) == [MARKER_NAME, "c.txt"]
    assert _names(tmp_path) == ["run"]


def test_atomic_dir_target_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError):
        with atomic_dir(tmp_path / "f", overwrite=True):
            pass
    assert (tmp_path / "f").read_text() == "x"


def test_atomic_dir_never_replaces_a_folder_it_did_not_write(tmp_path):
    """overwrite=True on a user's folder (data files and a sub-folder) is refused, and nothing changes."""
    user = tmp_path / "mydata"
    (user / "sub").mkdir(parents=True)
    (user / "spectra.fits").write_bytes(b"SIMPLE")
    (user / "sub" / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="mydata.*not written by astrotorch"):
        with atomic_dir(user, overwrite=True) as tmp:
            (tmp / "x").write_text("x")
    assert (user / "spectra.fits").read_bytes() == b"SIMPLE" and (user / "sub" / "notes.txt").read_text() == "keep me"
    assert _names(tmp_path) == ["mydata"]


def test_atomic_dir_refuses_files_the_user_added(tmp_path):
    target = tmp_path / "run"
    with atomic_dir(target) as tmp:
        (tmp / "plots").mkdir()
        (tmp / "plots" / "a.png").write_bytes(b"png")
    (target / "plots" / "my_notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="plots/my_notes.txt"):
        with atomic_dir(target, overwrite=True):
            pass
    assert (target / "plots" / "my_notes.txt").read_text() == "mine"
    # a fake or broken marker does not make a folder replaceable either
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / MARKER_NAME).write_text("not json")
    with pytest.raises(OutputExistsError):
        with atomic_dir(tmp_path / "fake", overwrite=True):
            pass


def _model_folder(folder, extra_files=()):
    folder.mkdir(parents=True)
    files = {"model.safetensors": "0" * 64, "config.json": "0" * 64, "history.csv": "0" * 64}
    (folder / "config.json").write_text(json.dumps({"format": "astrotorch-model", "format_version": 1}))
    (folder / "model.safetensors").write_bytes(b"w")
    (folder / "history.csv").write_text("epoch\n")
    (folder / "manifest.json").write_text(json.dumps({"files": files}))
    for name in extra_files:
        (folder / name).write_text("user data")


def test_atomic_dir_replaces_model_and_legacy_run_folders_without_marker(tmp_path):
    _model_folder(tmp_path / "model")
    with atomic_dir(tmp_path / "model", overwrite=True) as tmp:
        (tmp / "new").write_text("1")
    assert (tmp_path / "model" / "new").exists()
    _model_folder(tmp_path / "model2", extra_files=["catalog.csv"])
    with pytest.raises(OutputExistsError, match="catalog.csv"):
        with atomic_dir(tmp_path / "model2", overwrite=True):
            pass
    legacy = tmp_path / "legacy_run"
    _model_folder(legacy / "model")
    (legacy / "plots").mkdir()
    (legacy / "plots" / "loss.png").write_bytes(b"png")
    for name in ("metrics.json", "metrics.csv", "report.md"):
        (legacy / name).write_text("{}")
    with atomic_dir(legacy, overwrite=True) as tmp:
        (tmp / "new").write_text("1")
    assert _names(legacy) == [MARKER_NAME, "new"]


def test_atomic_dir_model_folder_gets_no_marker(tmp_path):
    """A model folder's manifest already says what astrotorch wrote: its file list stays as documented."""
    with atomic_dir(tmp_path / "m") as tmp:
        (tmp / "config.json").write_text(json.dumps({"format": "astrotorch-model"}))
        (tmp / "manifest.json").write_text(json.dumps({"files": {"config.json": "0"}}))
    assert _names(tmp_path / "m") == ["config.json", "manifest.json"]


def test_atomic_dir_refuses_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "data.txt").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputExistsError, match="symbolic link"):
        with atomic_dir(tmp_path / "link", overwrite=True):
            pass
    assert (tmp_path / "real" / "data.txt").read_text() == "x"


# ------------------------------------------------------------------------------- special targets
def test_atomic_write_refuses_devices_fifos_and_folders(tmp_path):
    if os.path.exists("/dev/full"):
        with pytest.raises(OutputPathError, match="/dev/full is a character device"):
            with atomic_write("/dev/full") as fh:
                fh.write(b"x")
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # still the device
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputPathError, match="FIFO"):
        with atomic_write(fifo, "w") as fh:
            fh.write("x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        with atomic_write(tmp_path / "d", "w"):
            pass
    with pytest.raises(DataFormatError, match="FIFO"):
        read_csv(fifo)  # reading a FIFO would block forever
    assert _names(tmp_path) == ["d", "pipe"]


def test_full_disk_is_a_typed_error_naming_the_target(tmp_path, monkeypatch):
    import errno

    (tmp_path / "p.csv").write_text("old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputPathError, match="cannot write .*p.csv: No space left on device"):
        with atomic_write(tmp_path / "p.csv", "w") as fh:
            fh.write("new")
    with pytest.raises(OutputPathError, match="cannot write .*run: No space left"):
        with atomic_dir(tmp_path / "run") as tmp:
            with open(tmp / "a", "wb") as fh:
                os.fsync(fh.fileno())
    assert _names(tmp_path) == ["p.csv"] and (tmp_path / "p.csv").read_text() == "old"


def test_unwritable_folder_is_a_typed_error(tmp_path, readonly_dir):
    with pytest.raises(OutputPathError, match="cannot write"):
        with atomic_write(readonly_dir / "p.csv", "w") as fh:
            fh.write("x")
    with pytest.raises(OutputPathError, match="cannot write"):
        with atomic_dir(readonly_dir / "run"):
            pass
    with pytest.raises(OutputPathError, match="cannot write in"):
        check_output_path(readonly_dir / "p.csv")


# ---------------------------------------------------------------------------- check_output_path
def test_check_output_path_cases(tmp_path):
    inp = tmp_path / "in.csv"
    inp.write_text("a\n1\n")
    (tmp_path / "model").mkdir()
    check_output_path(tmp_path / "new.csv")  # fine; nothing is created
    assert _names(tmp_path) == ["in.csv", "model"]
    with pytest.raises(OutputPathError, match="also an input"):
        check_output_path(inp, overwrite=True, inputs=[inp])
    with pytest.raises(OutputPathError, match="also an input"):
        check_output_path(tmp_path / "model" / ".." / "in.csv", overwrite=True, inputs=[inp])
    with pytest.raises(OutputPathError, match="inside the input folder"):
        check_output_path(tmp_path / "model" / "p.csv", inputs=[tmp_path / "model"])
    with pytest.raises(OutputPathError, match="contains the input"):
        check_output_path(tmp_path, overwrite=True, folder=True, inputs=[inp])
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        check_output_path(inp, label="--out", overwrite_hint="--overwrite")
    check_output_path(inp, overwrite=True)
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_path(tmp_path / "model", overwrite=True)
    with pytest.raises(OutputExistsError, match="is a file, not a folder"):
        check_output_path(inp, overwrite=True, folder=True)
    with pytest.raises(OutputPathError, match="is not a folder"):
        check_output_path(inp / "x.csv")
    (tmp_path / "link.csv").symlink_to(inp)
    with pytest.raises(OutputPathError, match="also an input"):
        check_output_path(tmp_path / "link.csv", overwrite=True, inputs=[inp])
    with pytest.raises(OutputPathError, match="symbolic link"):
        check_output_path(tmp_path / "link.csv", overwrite=True)
    if os.path.exists("/dev/null"):
        with pytest.raises(OutputPathError, match="character device"):
            check_output_path("/dev/null", overwrite=True)
    assert _names(tmp_path) == ["in.csv", "link.csv", "model"]


# ------------------------------------------------------------------------------ stale temporaries
_WRITER = """
import sys, time
from pathlib import Path
from astrotorch.io import atomic_dir, atomic_write
kind, target = sys.argv[1], Path(sys.argv[2])
if kind == "file":
    with atomic_write(target) as fh:
        fh.write(b"new" * 1000)
        fh.flush()
        print("ready", flush=True)
        time.sleep(120)
else:
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "a.txt").write_text("new")
        print("ready", flush=True)
        time.sleep(120)
"""


def _kill_mid_write(kind, target):
    """Start a process writing ``target``, SIGKILL it in the middle of the write, reap it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, kind, str(target)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return proc.pid


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_kill_9_mid_write_leaves_temporaries_that_the_next_write_removes(tmp_path, kind):
    target = tmp_path / ("out.bin" if kind == "file" else "run")
    with atomic_write(tmp_path / "other.txt", "w") as fh:  # this process has listed the folder already
        fh.write("x")
    _kill_mid_write(kind, target)
    left = [p.name for p in tmp_path.iterdir() if p.name != "other.txt"]
    assert len(left) == 1 and left[0].startswith(f".{target.name}.tmp-astrotorch-")  # recognisable name
    assert not target.exists()
    if kind == "file":
        with atomic_write(target) as fh:
            fh.write(b"ok")
    else:
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("ok")
    assert _names(tmp_path) == sorted([target.name, "other.txt"])


def test_large_folders_are_not_listed_on_every_write(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_module, "_SMALL_FOLDER", 3)
    for i in range(5):
        (tmp_path / f"f{i}").write_text("x")
    listed = []
    real = atomic_module.clean_stale_temporaries
    monkeypatch.setattr(atomic_module, "clean_stale_temporaries", lambda f: listed.append(f) or real(f))
    for i in range(4):
        with atomic_write(tmp_path / f"part{i}", "w") as fh:
            fh.write("x")
    assert len(listed) == 1  # listed once, then throttled (30 s) while the folder is large


def test_stale_cleanup_spares_live_processes_other_hosts_and_restores_moved_aside_folder(tmp_path):
    dead = _kill_mid_write("file", tmp_path / "x.bin")  # a pid that is surely dead now
    for p in tmp_path.iterdir():
        p.unlink()
    host = atomic_module._host()
    live = tmp_path / f".x.bin.tmp-astrotorch-{os.getpid()}-{host}-abc123"
    other_host = tmp_path / f".x.bin.tmp-astrotorch-{dead}-otherhost-abc123"
    moved_aside = tmp_path / f".run.old-astrotorch-{dead}-{host}-abc123"
    stale_new = tmp_path / f".run.tmp-astrotorch-{dead}-{host}-def456"
    live.write_bytes(b"1")
    other_host.write_bytes(b"1")
    moved_aside.mkdir()
    (moved_aside / "metrics.json").write_text("old run")
    stale_new.mkdir()
    handled = clean_stale_temporaries(tmp_path)
    assert sorted(p.name for p in handled) == sorted([moved_aside.name, stale_new.name])
    assert _names(tmp_path) == sorted([live.name, other_host.name, "run"])
    assert (tmp_path / "run" / "metrics.json").read_text() == "old run"  # put back, not deleted


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


@pytest.mark.parametrize("compression", ["gzip", "bzip2", "xz"])
def test_compressed_fits_is_checked_against_its_decompressed_size(tmp_path, compression):
    """An intact .fits.gz is read (the size check compares with the decompressed stream, not the
    file); a cut-off one says it is truncated."""
    import bz2
    import gzip
    import lzma

    p = tmp_path / "t.fits"
    _fits(p)
    opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[compression]
    z = tmp_path / "t.fits.z"
    with opener(z, "wb") as fh:
        fh.write(p.read_bytes())
    if compression == "xz" and int(__import__("astropy").__version__.split(".")[0]) < 7:
        with pytest.raises(DataFormatError, match="t.fits.z is xz-compressed: reading xz FITS needs astropy >= 7.0"):
            read_fits_table(z)
        return
    t = read_fits_table(z)
    assert len(t) == 5000 and t["TEFF"][-1] == 5000
    raw = z.read_bytes()
    for cut in (len(raw) // 3, len(raw) - 6):
        (tmp_path / "cut.fits.z").write_bytes(raw[:cut])
        with pytest.raises(DataFormatError, match="cut.fits.z is truncated"):
            read_fits_table(tmp_path / "cut.fits.z")
    # a complete gzip stream of a truncated FITS file: the HDU runs past the decompressed data
    with opener(tmp_path / "short.fits.z", "wb") as fh:
        fh.write(p.read_bytes()[: 2880 * 3])
    with pytest.raises(DataFormatError, match=f"short.fits.z is truncated: HDU 1 .* decompressed {compression} stream"):
        read_fits_table(tmp_path / "short.fits.z")


@pytest.mark.realdata
def test_intact_apogee_fits_gz_is_read(shared_data):
    t = read_fits_table(shared_data / "apogee" / "APOGEE-allStar-v603-Hipparcos.fits.gz")
    assert len(t) == 3244 and "HIP" in t.dtype.names


def test_csv_truncated_last_row_is_refused(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("teff,logg,feh\n5000,2.5,0.1\n4800,2.1,-0.3\n4700,2.")  # cut off mid-row
    with pytest.raises(DataFormatError, match="t.csv: the last row has 2 fields but the row before it has 3"):
        read_csv(p)
    p.write_text("teff,logg,feh\n5000,2.5\n")  # a one-row file shorter than its header
    with pytest.raises(DataFormatError, match="truncated"):
        read_csv(p)
    # complete files pass, with or without a final newline, with empty cells or a quoted last row
    p.write_text("teff,logg,feh\n5000,2.5,0.1\n4800,,")
    assert read_csv(p)["logg"].isna().tolist() == [False, True]
    p.write_text('name,teff\n"a, b",5000\n"c",4800')
    assert len(read_csv(p)) == 2
    p.write_text("teff;logg\n5000;2.5\n4800")
    with pytest.raises(DataFormatError, match="last row has 1 fields"):
        read_csv(p, sep=";")


def test_numeric_columns(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("teff,logg,name\n5000,2.5,a\n4800,abc,b\n4700,,c\n")
    with pytest.raises(DataFormatError, match="column 'logg' must hold numbers but data row 2 holds 'abc'"):
        read_csv(p, numeric_columns=["teff", "logg"])
    p.write_text("teff,logg\n5000,2.5\n4800,\n")
    df = read_csv(p, numeric_columns=["teff", "logg"])
    assert df["logg"].isna().tolist() == [False, True]


def test_npz_and_npy_readers(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.arange(6.0).reshape(3, 2), y=np.arange(3))
    d = read_npz(tmp_path / "a.npz", keys=["x"], optional=["y", "z"])
    assert set(d) == {"x", "y"} and d["x"].shape == (3, 2)
    with pytest.raises(DataFormatError, match="lacks arrays \\['flux'\\]"):
        read_npz(tmp_path / "a.npz", required=["flux"])
    raw = (tmp_path / "a.npz").read_bytes()
    for i, bad in enumerate([b"not a zip", raw[: len(raw) // 2], raw[:-30]]):
        (tmp_path / f"b{i}.npz").write_bytes(bad)
        with pytest.raises(DataFormatError, match=f"b{i}.npz"):
            read_npz(tmp_path / f"b{i}.npz")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))  # unpickling is refused
    with pytest.raises(DataFormatError, match="o.npy"):
        read_npy(tmp_path / "o.npy")
    np.save(tmp_path / "g.npy", np.arange(1000.0))
    with pytest.raises(DataFormatError, match="not an .npz"):
        read_npz(tmp_path / "g.npy")
    with pytest.raises(DataFormatError, match="not a single .npy"):
        read_npy(tmp_path / "a.npz")
    (tmp_path / "g.npy").write_bytes((tmp_path / "g.npy").read_bytes()[:500])
    with pytest.raises(DataFormatError, match="g.npy"):
        read_npy(tmp_path / "g.npy")
