"""Hostile inputs through the CLI and the API, grouped by the harm they would do (issue 16).

1. Data loss: astrotorch only ever replaces what it wrote itself, never writes onto its own input,
   refuses special files, and writes atomically.
2. Silent wrong results: inputs that used to give a plausible but wrong answer are refused.
3. Hangs and control flow: a bad ``--out`` fails before any data is loaded or any training runs.
4. Raw tracebacks: a user error ends the CLI with one line ``error: ...`` on stderr and exit code 2.

Every case asserts the error type (or exit code), that the message names the culprit, and, through
the ``tree`` fixture, that no input or unrelated file changed (SHA-256 of every file) and that no
partial output remains (directory listings). Tiny data and models keep each case fast. Hostile input
to the model API (shapes, NaN, tampered model folders ...) is in tests/test_hostile_api.py.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from astrotorch import errors as E
from astrotorch.cli.main import run_cli

SRC = Path(__file__).resolve().parents[1] / "src"


# ------------------------------------------------------------------------------------- fixtures
class Tree:
    """Every entry under some folders, with the SHA-256 of each file: compare before and after."""

    def __init__(self, *roots: Path) -> None:
        self.roots = [Path(r) for r in roots]
        self.before = self.scan()

    def scan(self) -> dict[Path, str]:
        out: dict[Path, str] = {}
        for root in self.roots:
            for folder, dirs, files in os.walk(root):
                for name in dirs + files:
                    p = Path(folder) / name
                    mode = os.lstat(p).st_mode
                    if stat.S_ISREG(mode):
                        out[p] = hashlib.sha256(p.read_bytes()).hexdigest()
                    else:
                        out[p] = "dir" if stat.S_ISDIR(mode) else f"special {stat.S_IFMT(mode)}"
        return out

    def assert_unchanged(self, *outputs: Path) -> None:
        """Nothing that existed changed or vanished; only ``outputs`` (and what is inside them) are new."""
        after = self.scan()
        changed = sorted(str(p) for p, h in self.before.items() if after.get(p) != h)
        assert not changed, f"changed or removed: {changed}"
        new = [p for p in after if p not in self.before]
        unexpected = sorted(str(p) for p in new if not any(p == o or Path(o) in p.parents for o in outputs))
        assert not unexpected, f"unexpected new files (partial output?): {unexpected}"


@pytest.fixture()
def tree(tmp_path):
    return lambda *extra: Tree(tmp_path, *extra)


@dataclass
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture()
def cli(capsys):
    """Run the command line in-process (``run_cli``, the console entry's code path)."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        rc = run_cli([str(a) for a in args])
        out, err = capsys.readouterr()
        if rc == 2 and "error:" in err and "--debug" not in args:  # a user error: one line, no traceback
            assert "Traceback" not in err, err
            assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1, err
            assert err.rstrip().splitlines()[-1].startswith("error: "), err
        return Result(rc, out, err)

    return run


def _table(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": 2 * x[:, 0] - x[:, 1]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A saved linear model (inputs a, b, c) in its own folder."""
    from astrotorch.models import create_model

    table = pd.read_csv(_table(tmp_path_factory.mktemp("data") / "t.csv"))
    m = create_model("linear").fit(table[["a", "b", "c"]].to_numpy(np.float32), table[["y"]].to_numpy(np.float32))
    return m.save(tmp_path_factory.mktemp("models") / "linear")


def _user_folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "spectra.fits").write_bytes(b"SIMPLE  =                    T" + bytes(50))
    (path / "sub" / "notes.txt").write_text("irreplaceable")
    return path


TRAIN_KINDS = {  # a command line for each kind whose --data does not exist: the --out check must come first
    "tabular": ["train", "tabular", "--data", "missing.csv"],
    "spectra": ["train", "spectra", "--data", "missing.h5"],
    "images": ["train", "images", "--data", "missing.h5"],
    "stars": ["train", "stars", "--data", "missing.csv", "--targets", "missing_t.csv"],
    "lightcurves": ["train", "lightcurves", "--data", "csv:missing"],
}


# ============================================================================== 1. data loss
def test_demo_never_deletes_a_user_folder(cli, tmp_path, tree):
    user = _user_folder(tmp_path / "mydata")
    t = tree()
    res = cli("demo", "--out", user, "--n-train", 10, "--epochs", 1)
    assert res.rc == 2 and "mydata" in res.err and "not written by astrotorch" in res.err
    t.assert_unchanged()


@pytest.mark.parametrize("kind", sorted(TRAIN_KINDS))
def test_train_overwrite_never_deletes_a_user_folder(cli, tmp_path, tree, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    user = _user_folder(tmp_path / "mydata")
    t = tree()
    res = cli(*TRAIN_KINDS[kind], "--out", user, "--overwrite")
    assert res.rc == 2 and "--out" in res.err and "mydata" in res.err and "not written by astrotorch" in res.err
    t.assert_unchanged()


def test_train_overwrite_replaces_its_own_run_but_not_files_added_to_it(cli, tmp_path, tree):
    data = _table(tmp_path / "t.csv")
    args = ["train", "tabular", "--data", data, "--target", "y", "--model", "linear", "--epochs", 1]
    assert cli(*args, "--out", tmp_path / "run").rc == 0
    first = (tmp_path / "run" / "metrics.json").read_text()
    assert cli(*args, "--seed", 1, "--out", tmp_path / "run", "--overwrite").rc == 0  # its own run: replaced
    assert (tmp_path / "run" / "metrics.json").read_text() != first
    (tmp_path / "run" / "my_analysis.ipynb").write_text("{}")
    t = tree()
    res = cli(*args, "--out", tmp_path / "run", "--overwrite")
    assert res.rc == 2 and "my_analysis.ipynb" in res.err
    t.assert_unchanged()
    # a run folder the user put the training data in: replacing it would delete the input
    (tmp_path / "run" / "my_analysis.ipynb").unlink()
    os.replace(data, tmp_path / "run" / "t.csv")
    t = tree()
    res = cli(*args[:3], tmp_path / "run" / "t.csv", *args[4:], "--out", tmp_path / "run", "--overwrite")
    assert res.rc == 2 and "contains the input" in res.err
    t.assert_unchanged()


def test_model_save_and_run_folder_overwrite_never_delete_a_user_folder(model_dir, tmp_path, tree):
    from astrotorch.models import load_folder
    from astrotorch.train.runs import RunFolder

    user = _user_folder(tmp_path / "mydata")
    model = load_folder(model_dir)
    t = tree()
    with pytest.raises(E.OutputExistsError, match="mydata.*not written by astrotorch"):
        model.save(user, overwrite=True)
    with pytest.raises(FileExistsError, match="mydata"):  # still a FileExistsError for old callers
        with RunFolder(user, overwrite=True) as run:
            run.write_metrics({"a": 1})
    t.assert_unchanged()
    model.save(tmp_path / "m")
    model.save(tmp_path / "m", overwrite=True)  # its own model folder is replaced
    assert load_folder(tmp_path / "m").get_params() == model.get_params()


def test_predict_never_writes_onto_its_input(cli, model_dir, tmp_path, tree):
    table = _table(tmp_path / "table.csv")
    t = tree(model_dir)
    for extra in ([], ["--overwrite"]):
        res = cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", table, *extra)
        assert res.rc == 2 and "table.csv" in res.err and "input" in res.err
    # nor into the model folder it reads
    res = cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", model_dir / "config.json", "--overwrite")
    assert res.rc == 2 and "inside the input folder" in res.err
    res = cli("evaluate", model_dir, table, "--columns", "a,b,c", "--target", "y", "--out", table, "--overwrite")
    assert res.rc == 2 and "table.csv" in res.err
    t.assert_unchanged()


def test_predict_existing_out_needs_overwrite(cli, model_dir, tmp_path, tree):
    table = _table(tmp_path / "table.csv")
    out = tmp_path / "pred.csv"
    out.write_text("my earlier predictions\n")
    t = tree()
    res = cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", out)
    assert res.rc == 2 and "pred.csv already exists; pass --overwrite" in res.err
    t.assert_unchanged()
    assert cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", out, "--overwrite").rc == 0
    table = pd.read_csv(out, comment="#")  # the prediction table: ECSV, the row number as id
    assert list(table.columns) == ["row", "label_0", "outside_training_range"] and len(table) == 40


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_device_out_is_refused_not_replaced(cli, model_dir, tmp_path, tree):
    table = _table(tmp_path / "table.csv")
    t = tree()
    res = cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", "/dev/full", "--overwrite")
    assert res.rc == 2 and "/dev/full is a character device" in res.err
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    res = cli("train", "tabular", "--data", table, "--target", "y", "--out", "/dev/full", "--overwrite")
    assert res.rc == 2 and "character device" in res.err
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    t = tree()
    res = cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", fifo, "--overwrite")
    assert res.rc == 2 and "FIFO" in res.err
    t.assert_unchanged()


def test_predict_stars_never_writes_onto_its_input_nor_silently_over_a_file(cli, tmp_path, tree):
    csv = tmp_path / "stars.csv"
    csv.write_text("teff,radius\n5772,1\n")
    (tmp_path / "old.csv").write_text("earlier results\n")
    t = tree()
    res = cli("predict", "stars", tmp_path / "no_model", csv, csv, "--overwrite")
    assert res.rc == 2 and "OUT_CSV" in res.err and "stars.csv" in res.err
    res = cli("predict", "stars", tmp_path / "no_model", csv, tmp_path / "old.csv")
    assert res.rc == 2 and "old.csv already exists; pass --overwrite" in res.err
    res = cli("evaluate", tmp_path / "no_model", csv, "--out", tmp_path / "old.csv")
    assert res.rc == 2 and "old.csv already exists; pass --overwrite" in res.err
    t.assert_unchanged()


def _galaxy_h5(path: Path, n: int = 6) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((n, 16, 16, 3), np.uint8)
        f["ans"] = np.zeros(n, np.uint8)
        f["objid"] = np.array([str(i).encode() for i in range(n)])
    return path


def test_predict_images_never_writes_onto_or_into_its_inputs(cli, model_dir, tmp_path, tree):
    h5 = _galaxy_h5(tmp_path / "gals.h5")
    cutouts = tmp_path / "cutouts"
    cutouts.mkdir()
    (cutouts / "a.png").write_bytes(b"not really a png")
    (tmp_path / "old.csv").write_text("earlier results\n")
    t = tree(model_dir)
    for extra in ([], ["--overwrite"]):
        res = cli("predict", "images", model_dir, h5, "--out", h5, *extra)
        assert res.rc == 2 and "gals.h5" in res.err and "input" in res.err
    res = cli("predict", "images", model_dir, cutouts, "--out", cutouts / "p.csv")
    assert res.rc == 2 and "inside the input folder" in res.err
    res = cli("predict", "images", model_dir, h5, "--out", model_dir / "p.csv", "--overwrite")
    assert res.rc == 2 and "inside the input folder" in res.err
    res = cli("predict", "images", model_dir, h5, "--out", tmp_path / "old.csv")
    assert res.rc == 2 and "old.csv already exists; pass --overwrite" in res.err
    t.assert_unchanged()


def test_api_writers_refuse_special_files(tmp_path):
    from astrotorch.io import atomic_write, download

    (tmp_path / "src.bin").write_bytes(b"payload")
    with pytest.raises(E.OutputPathError, match="character device"):
        download(str(tmp_path / "src.bin"), "/dev/null", progress=False)
    with pytest.raises(E.OutputPathError, match="is a folder"):
        with atomic_write(tmp_path, "w"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.bin"]


# ===================================================================== 2. silent wrong results
def test_truncated_last_csv_row_is_refused(cli, tmp_path, tree):
    p = _table(tmp_path / "t.csv")
    raw = p.read_bytes()
    last_row = raw.rstrip().rfind(b"\n") + 1
    p.write_bytes(raw[: raw.index(b",", raw.index(b",", last_row) + 1) + 4])  # cut in the third of four fields
    t = tree()
    res = cli("train", "tabular", "--data", p, "--target", "y", "--model", "linear", "--out", tmp_path / "run")
    assert res.rc == 2 and "t.csv" in res.err and "truncated" in res.err
    t.assert_unchanged()


def test_duplicate_ids_in_image_labels_are_refused(cli, tmp_path, tree):
    from PIL import Image

    from astrotorch.datasets.image_folder import load_image_folder

    imgs = tmp_path / "cutouts"
    imgs.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(imgs / f"obj{i}.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nobj0,0\nobj1,1\nobj2,0\nobj1,0\nobj3,1\n")
    t = tree()
    with pytest.raises(E.DataFormatError, match="id 'obj1' is listed 2 times \\(data rows \\[2, 4\\]\\)"):
        load_image_folder(imgs, labels)
    res = cli("train", "images", "--data", imgs, "--labels", labels, "--out", tmp_path / "run")
    assert res.rc == 2 and "labels.csv" in res.err and "obj1" in res.err
    t.assert_unchanged()


def test_text_in_star_inputs_or_targets_is_refused_not_made_missing(cli, tmp_path, tree):
    from astrotorch.datasets.stars import read_star_inputs, read_star_targets

    inputs = tmp_path / "in.csv"
    inputs.write_text("teff,luminosity,radius\n5772,1,1\n5000,bright,0.8\n4000,0.1,\n")  # NA, n/a, '' are missing
    with pytest.raises(E.DataFormatError, match="in.csv: column 'luminosity' must hold numbers .* 'bright'"):
        read_star_inputs(inputs)
    targets = tmp_path / "t.csv"
    targets.write_text("logg,spectral_class\n4.4,2\n4.6,9\n4.0,1\n")
    with pytest.raises(E.DataFormatError, match="t.csv: column 'spectral_class' holds class codes 0..6, not 9"):
        read_star_targets(targets)
    inputs.write_text("teff,luminosity,radius\n5772,1,1\n5000,0.5,0.8\n4000,0.1,\n")
    t = tree()
    res = cli("train", "stars", "--data", inputs, "--targets", targets, "--out", tmp_path / "run")
    assert res.rc == 2 and "spectral_class" in res.err
    t.assert_unchanged()


@pytest.mark.parametrize("bad", ["complex", "strings"])
def test_non_real_arrays_are_refused(cli, tmp_path, tree, bad):
    x = np.ones((20, 3)) * (1 + 1j) if bad == "complex" else np.array([["a", "b", "c"]] * 20)
    np.savez(tmp_path / "d.npz", x=x, y=np.ones((20, 1)))
    t = tree()
    res = cli("train", "tabular", "--data", tmp_path / "d.npz", "--model", "linear", "--out", tmp_path / "run")
    assert res.rc == 2 and "d.npz" in res.err and "'x'" in res.err
    t.assert_unchanged()


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_zero_or_negative_epochs_never_train(cli, tmp_path, tree, epochs):
    """An untrained model written with metrics (0) or a run without end (-1) are refused up front."""
    t = tree()
    for args in (["train", "tabular"], ["train", "spectra"], ["train", "images"], ["train", "stars"],
                 ["train", "lightcurves"], ["demo"]):
        res = cli(*args, "--epochs", epochs, "--out", tmp_path / "run")
        assert res.rc == 2 and "--epochs" in res.err, (args, res.err)
    t.assert_unchanged()


@pytest.mark.parametrize("kind", ["images", "lightcurves"])
def test_zero_batch_size_is_refused_up_front(cli, tmp_path, kind):
    res = cli("train", kind, "--batch-size", "0", "--out", tmp_path / "run")
    assert res.rc == 2 and "--batch-size" in res.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("test_size", ["0", "1"])
def test_test_size_without_train_or_test_rows_is_refused(cli, tmp_path, test_size):
    res = cli("train", "tabular", "--test-size", test_size, "--out", tmp_path / "run")
    assert res.rc == 2 and "--test-size" in res.err


def test_truncated_fits_gz_says_truncated(tmp_path):
    import gzip

    from astropy.io import fits

    from astrotorch.io import read_fits_table

    cols = [fits.Column(name="TEFF", format="E", array=np.linspace(4000, 5000, 3000).astype("f4"))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(tmp_path / "t.fits")
    with gzip.open(tmp_path / "t.fits.gz", "wb") as fh:
        fh.write((tmp_path / "t.fits").read_bytes())
    assert len(read_fits_table(tmp_path / "t.fits.gz")) == 3000  # intact: compressed size is no truncation
    raw = (tmp_path / "t.fits.gz").read_bytes()
    (tmp_path / "cut.fits.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(E.DataFormatError, match="cut.fits.gz is truncated"):
        read_fits_table(tmp_path / "cut.fits.gz")


@pytest.mark.parametrize("command", ["file", "images", "stars"])
def test_unknown_out_suffix_is_refused_before_the_model_is_read(cli, tmp_path, tree, command):
    """--out x.parquet once wrote CSV text silently: the suffix now decides the format, and an unknown
    one is refused up front (the model folder named here does not exist: the check comes first)."""
    table = _table(tmp_path / "table.csv")
    t = tree()
    for name in ("p.xlsx", "p", "p.csv.gz"):
        res = cli("predict", command, tmp_path / "no_model", table, "--out", tmp_path / name)
        assert res.rc == 2 and "unknown table format" in res.err and name in res.err, res.err
    t.assert_unchanged()


def test_out_suffix_decides_the_written_format(cli, model_dir, tmp_path, tree):
    table = _table(tmp_path / "table.csv")
    t = tree()
    for suffix, magic in ((".parquet", b"PAR1"), (".fits", b"SIMPLE"), (".h5", b"\x89HDF"), (".csv", b"# %ECSV")):
        out = tmp_path / f"p{suffix}"
        assert cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", out).rc == 0
        assert out.read_bytes().startswith(magic), suffix
    t.assert_unchanged(*[tmp_path / f"p{s}" for s in (".parquet", ".fits", ".h5", ".csv")])


def test_predict_images_with_a_model_that_is_not_an_image_classifier(cli, model_dir, tmp_path, tree):
    h5 = _galaxy_h5(tmp_path / "gals.h5")
    t = tree()
    _expect_user_error(cli("predict", "images", model_dir, h5, "--out", tmp_path / "p.csv"), "linear",
                       "not an image classifier")
    t.assert_unchanged()


def test_select_class_that_does_not_exist_fails_before_training(cli, tmp_path, tree):
    t = tree()
    res = cli("train", "images", "--n-train", "20", "--size", "16", "--select-class", "nosuch", "--out", tmp_path / "run")
    assert res.rc == 2 and "--select-class 'nosuch'" in res.err and "Disturbed" in res.err
    res = cli("train", "images", "--select-class", "0", "--purity", "1.5", "--out", tmp_path / "run")
    assert res.rc == 2 and "--purity" in res.err
    res = cli("train", "images", "--task", "cluster-mass", "--select-class", "0", "--out", tmp_path / "run")
    assert res.rc == 2 and "--select-class is for --task galaxy10" in res.err
    t.assert_unchanged()


# ================================================================= 3. hangs and control flow
@pytest.mark.parametrize("kind", sorted(TRAIN_KINDS))
def test_existing_out_fails_before_any_data_is_read(cli, tmp_path, tree, monkeypatch, kind):
    """The --out check comes first: the data named here do not exist, so any other message would mean
    the command loaded (and would have trained on) data before finding out it cannot write."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "file").write_text("x")
    t = tree()
    res = cli(*TRAIN_KINDS[kind], "--out", tmp_path / "run")
    assert res.rc == 2 and "--out" in res.err and "already exists; pass --overwrite" in res.err
    res = cli(*TRAIN_KINDS[kind], "--out", tmp_path / "file", "--overwrite")
    assert res.rc == 2 and "--out" in res.err and "is a file, not a folder" in res.err
    res = cli(*TRAIN_KINDS[kind], "--out", tmp_path / "file" / "run")
    assert res.rc == 2 and "--out" in res.err and "is not a folder" in res.err
    t.assert_unchanged()


def test_unwritable_out_fails_before_training(cli, tmp_path, tree, monkeypatch):
    from astrotorch.io import atomic as atomic_module

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0] if args else kwargs.get("dir")))

    monkeypatch.setattr(atomic_module.tempfile, "mkstemp", refuse)  # io.paths and io.atomic share the module
    t = tree()
    res = cli("train", "tabular", "--data", "missing.csv", "--out", tmp_path / "run")
    assert res.rc == 2 and "cannot write in" in res.err and "Permission denied" in res.err
    t.assert_unchanged()


@pytest.mark.parametrize("kind", ["tabular", "stars", "images", "lightcurves"])
def test_bad_common_options_fail_before_any_data_is_read(cli, tmp_path, tree, monkeypatch, kind):
    """--resume, --checkpoint-dir, --devices, --test-fraction are checked with --out, before the data
    (which do not exist here) are read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ck").mkdir()
    t = tree()
    cases = [(["--resume"], "--resume needs --checkpoint-dir"),
             (["--resume", "--checkpoint-dir", tmp_path / "ck"], "last.ckpt does not exist"),
             (["--checkpoint-dir", tmp_path / "run" / "ck"], "inside --out"),
             (["--devices", "two"], "--devices"),
             (["--test-fraction", "1"], "--test-fraction must be in (0, 1)"),
             (["--logger", "wandb"], "--logger")]
    for extra, message in cases:
        res = cli(*TRAIN_KINDS[kind], "--out", tmp_path / "run", *extra)
        assert res.rc == 2 and message in res.err, (extra, res.err)
    t.assert_unchanged()


@pytest.mark.timeout(120)  # a reader blocked on the FIFO fails the test instead of hanging the suite
def test_fifo_input_is_refused_instead_of_blocking(cli, tmp_path, tree):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    t = tree()
    res = cli("train", "tabular", "--data", fifo, "--target", "y", "--out", tmp_path / "run")
    assert res.rc == 2 and "data.csv is a FIFO" in res.err
    t.assert_unchanged()


def test_ctrl_c_exits_130_and_leaves_no_output(cli, tmp_path, tree, monkeypatch):
    import astrotorch.cli.arrays as arrays

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(arrays, "load_inputs", interrupted)
    data = _table(tmp_path / "t.csv")
    t = tree()
    res = cli("train", "tabular", "--data", data, "--target", "y", "--out", tmp_path / "run")
    assert res.rc == 130 and "interrupted" in res.err
    t.assert_unchanged()


# ====================================================================== 4. raw tracebacks
def _expect_user_error(res: Result, *culprits: str) -> None:
    assert res.rc == 2, res.err
    for c in culprits:
        assert c in res.err, (c, res.err)


def test_string_cells_in_csv(cli, tmp_path, tree):
    p = _table(tmp_path / "t.csv")
    df = pd.read_csv(p).astype({"b": object})
    df.loc[7, "b"] = "abc"
    df.to_csv(p, index=False)
    t = tree()
    _expect_user_error(cli("train", "tabular", "--data", p, "--target", "y", "--out", tmp_path / "run"),
                       "t.csv", "'b'", "data row 8", "'abc'")
    t.assert_unchanged()


@pytest.mark.parametrize("corruption", ["garbage", "truncated", "pickled"])
def test_corrupt_npz(cli, tmp_path, tree, corruption):
    p = tmp_path / "d.npz"
    if corruption == "pickled":
        np.savez(p, x=np.array([{"a": 1}] * 20, dtype=object), y=np.ones(20))
    else:
        np.savez(p, x=np.ones((20, 3)), y=np.ones(20))
        raw = p.read_bytes()
        p.write_bytes(b"\x00garbage" * 40 if corruption == "garbage" else raw[: len(raw) // 2])
    t = tree()
    _expect_user_error(cli("train", "tabular", "--data", p, "--out", tmp_path / "run"), "d.npz")
    t.assert_unchanged()


@pytest.mark.parametrize("targets", ["missing", "garbage", "text"])
def test_bad_targets_for_train_stars(cli, tmp_path, tree, targets):
    inputs = tmp_path / "in.csv"
    inputs.write_text("teff,luminosity,radius\n5772,1,1\n5000,0.5,0.8\n")
    tp = tmp_path / "targets.csv"
    if targets == "garbage":
        tp.write_bytes(b"\xff\xfe\x00\x81" + bytes(range(256)) * 4)
    elif targets == "text":
        tp.write_text("logg,mass\n4.4,one\n4.6,0.8\n")
    t = tree()
    _expect_user_error(cli("train", "stars", "--data", inputs, "--targets", tp, "--out", tmp_path / "run"),
                       "targets.csv")
    t.assert_unchanged()


def test_full_disk_during_predict(cli, model_dir, tmp_path, tree, monkeypatch):
    table = _table(tmp_path / "table.csv")
    t = tree()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    for out in ("pred.csv", "pred.npz"):
        _expect_user_error(cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", tmp_path / out),
                           out, "No space left on device")
    t.assert_unchanged()


def test_out_is_a_folder_or_not_writable(cli, model_dir, tmp_path, tree, monkeypatch):
    table = _table(tmp_path / "table.csv")
    (tmp_path / "results").mkdir()
    t = tree()
    _expect_user_error(cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", tmp_path / "results",
                           "--overwrite"), "results is a folder")
    t.assert_unchanged()
    try:  # sysfs refuses new files, even to root
        os.close(os.open("/sys/astrotorch-probe", os.O_CREAT | os.O_WRONLY))
        os.unlink("/sys/astrotorch-probe")
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    _expect_user_error(cli("predict", "file", model_dir, table, "--columns", "a,b,c", "--out", "/sys/p.csv"),
                       "/sys/p.csv", "cannot write in /sys")


def test_missing_inputs_and_not_a_model_folder(cli, model_dir, tmp_path, tree):
    table = _table(tmp_path / "table.csv")
    (tmp_path / "empty_folder").mkdir()
    t = tree()
    _expect_user_error(cli("predict", "file", model_dir, tmp_path / "nope.csv", "--out", tmp_path / "p.csv"), "nope.csv")
    _expect_user_error(cli("predict", "file", tmp_path / "empty_folder", table, "--out", tmp_path / "p.csv"),
                       "empty_folder", "manifest.json")
    _expect_user_error(cli("predict", "file", tmp_path / "no_model", table, "--out", tmp_path / "p.csv"), "no_model")
    _expect_user_error(cli("predict", "stars", model_dir, tmp_path / "nope.csv", tmp_path / "p.csv"), "nope.csv")
    _expect_user_error(cli("evaluate", model_dir, table, "--columns", "a,b,c"), "table.csv", "no labels")
    _expect_user_error(cli("predict", "file", model_dir, tmp_path / "table.txt", "--out", tmp_path / "p.csv"), "table.txt")
    t.assert_unchanged()


def test_truncated_hdf5_input(cli, model_dir, tmp_path, tree):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("x", data=np.ones((4000, 3), "f4"), chunks=(100, 3), compression="gzip")
    raw = (tmp_path / "x.h5").read_bytes()
    (tmp_path / "x.h5").write_bytes(raw[: len(raw) // 2])
    t = tree()
    _expect_user_error(cli("predict", "file", model_dir, tmp_path / "x.h5", "--out", tmp_path / "p.csv"), "x.h5")
    t.assert_unchanged()


def test_debug_shows_the_traceback_and_bugs_exit_1(cli, tmp_path, monkeypatch):
    res = cli("--debug", "predict", "file", tmp_path / "no_model", tmp_path / "x.csv", "--out", tmp_path / "p.csv")
    assert res.rc == 2 and "Traceback" in res.err and res.err.rstrip().splitlines()[-1].startswith("error: ")
    import astrotorch.cli.arrays as arrays

    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(arrays, "load_inputs", bug)
    _table(tmp_path / "t.csv")
    res = cli("train", "tabular", "--data", tmp_path / "t.csv", "--target", "y", "--out", tmp_path / "run")
    assert res.rc == 1 and "Traceback" in res.err and "internal error (ZeroDivisionError" in res.err
    assert not (tmp_path / "run").exists()


def test_usage_error_exits_2(cli):
    res = cli("train", "tabular", "--no-such-option")
    assert res.rc == 2 and "No such option" in res.err


def test_console_entry_exit_code_and_one_line(tmp_path):
    """The real entry point (a new process): exit status 2, one line on stderr, no traceback."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    (tmp_path / "results").mkdir()
    # the --out check fails before torch is imported: a quick process
    proc = subprocess.run([sys.executable, "-m", "astrotorch", "predict", "file", str(tmp_path / "no_model"),
                           str(tmp_path / "x.csv"), "--out", str(tmp_path / "results"), "--overwrite"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"error: --out {tmp_path / 'results'} is a folder; give a file name"]
    assert [p.name for p in tmp_path.iterdir()] == ["results"] and not any((tmp_path / "results").iterdir())
