"""Every astrotorch code block of docs/MIGRATING_FROM_ASTRONN.md runs, in order, in one namespace.

Blocks fenced as ```python are executed; astroNN's (```python astronn) are not (they need TensorFlow).
Where a block would download survey data, small stand-in files are put where astrotorch looks
(a tiny Galaxy10.h5 in the data home, an astroNN-saved folder, a red-clump catalogue).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astrotorch.datasets.galaxy10 import SDSS
from astrotorch.models.astronn_api import AstroNNModelMixin
from astrotorch.models.base import AstroModel

DOC = Path(__file__).resolve().parents[1] / "docs" / "MIGRATING_FROM_ASTRONN.md"
DATA = Path(__file__).parent / "data"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.M | re.S)


def blocks(text: str) -> list[tuple[int, str, str]]:
    """(line number, info string, code) of every fenced block."""
    return [(text[: m.start()].count("\n") + 1, m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]


def test_doc_has_both_kinds_of_blocks():
    kinds = [info for _, info, _ in blocks(DOC.read_text())]
    assert kinds.count("python") >= 12 and kinds.count("python astronn") >= 10
    assert set(kinds) <= {"python", "python astronn"}


@pytest.fixture()
def astronn_methods(monkeypatch):
    """AstroNNModelMixin's names on AstroModel, as after it joins AstroModel's bases (no-op once it has)."""
    if AstroNNModelMixin in AstroModel.__mro__:
        return
    for name, value in vars(AstroNNModelMixin).items():
        if not name.startswith("__") and not hasattr(AstroModel, name):
            monkeypatch.setattr(AstroModel, name, value, raising=False)


def _stand_ins(tmp_path: Path, home: Path) -> None:
    rng = np.random.default_rng(0)
    g10 = home / "datasets" / SDSS.filename
    g10.parent.mkdir(parents=True)
    with h5py.File(g10, "w") as f:
        f["images"] = rng.integers(0, 256, (60, 69, 69, 3)).astype(np.uint8)
        f["ans"] = rng.integers(0, 10, 60).astype(np.uint8)
    st = g10.stat()
    # the loader re-hashes only when the verified stamp does not match: mark the stand-in as checked
    (g10.parent / f"{g10.name}.verified").write_text(f"{SDSS.sha256.lower()} {st.st_size} {st.st_mtime_ns}\n")
    shutil.copytree(DATA / "astronn_apogee_cnn", tmp_path / "astroNN_0101_run001")
    rc = Table({"APOGEE_ID": ["2M001", "2M002"], "RA": [10.0, 20.0], "DEC": [-5.0, 0.0], "RC_DIST": [2.0, 4.0],
                "K": [10.0, 11.0], "AK_TARG": [0.1, 0.05]})
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(rc)]).writeto(tmp_path / "apogee-rc-DR17.fits")
    assert hashlib.sha256(g10.read_bytes()).hexdigest() != SDSS.sha256.lower()  # really a stand-in


def test_migration_doc_runs(tmp_path, monkeypatch, astronn_methods):
    home = tmp_path / "home"
    for var in ("ASTROTORCH_CONFIG", "SDSS_LOCAL_SAS_MIRROR", "LAMOST_DR5_DATA", "LASMOT_DR5_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASTROTORCH_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "0")  # the doc is not about speed: skip kernel compilation
    monkeypatch.chdir(tmp_path)
    _stand_ins(tmp_path, home)
    namespace: dict = {"__name__": "migration_doc"}
    for line, info, code in blocks(DOC.read_text()):
        if info != "python":
            continue
        try:
            exec(compile(code, f"{DOC.name}:{line}", "exec"), namespace)  # noqa: S102 - our own documentation
        except Exception as exc:  # report which block broke
            raise AssertionError(f"block at {DOC.name} line {line} failed: {type(exc).__name__}: {exc}") from exc
    assert (tmp_path / "bcnn_folder" / "model.safetensors").is_file()
    assert (tmp_path / "converted_model" / "model.safetensors").is_file()
    # plot_model draws into the model's folder_name, as astroNN does (the folder it was last saved to)
    assert (tmp_path / "training_history.csv").is_file() and (tmp_path / "converted_model" / "model.png").is_file()
    assert namespace["predicted_labels"].shape[1] == 10
