"""predict file / predict images: the prediction-table contract (id first, values with sigma or class
probabilities, units in the metadata), every --out format, image folders and Galaxy10-layout files;
the real Galaxy Zoo file (ids = objid)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from astrotorch.cli.main import run_cli
from astrotorch.cli.prediction_table import assemble, classification_columns, column_token, regression_columns


def _run(*args: object) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = run_cli([str(a) for a in args])
    return rc, buf.getvalue()


# ------------------------------------------------------------------------------------- contract
def test_column_names_follow_the_contract():
    assert column_token("Disk, Edge-on") == "Disk_Edge_on" and column_token("SN Ia-91T") == "SN_Ia_91T"
    cols, units = regression_columns(["teff", "logg"], np.array([[5000.0, 2.5], [6000.0, 4.0]]),
                                      {"model": np.ones((2, 2)), "total": 2 * np.ones((2, 2))}, {"teff": "K"})
    assert list(cols) == ["teff", "teff_sigma", "teff_sigma_model", "logg", "logg_sigma", "logg_sigma_model"]
    assert units == {"teff": "K", "teff_sigma": "K", "teff_sigma_model": "K"}
    assert cols["teff_sigma"].tolist() == [2.0, 2.0]
    cols, units = classification_columns(["ab", "c"], np.array([[0.9, 0.1], [0.2, 0.8]]), np.full((2, 2), 0.05))
    assert list(cols) == ["p_ab", "p_ab_sigma", "p_c", "p_c_sigma", "predicted_class"]
    assert cols["predicted_class"].tolist() == ["ab", "c"] and units["p_ab"] == ""
    cols, _ = classification_columns(["M", "K"], np.array([[0.3, 0.7]]), output="spectral_class")
    assert list(cols) == ["p_spectral_class_M", "p_spectral_class_K", "spectral_class"]
    table, _ = assemble(np.array(["a"]), "objid", (cols, {}))
    assert list(table.columns)[0] == "objid"
    from astrotorch.errors import InputValidationError

    with pytest.raises(InputValidationError, match="same column name"):
        classification_columns(["a b", "a-b"], np.ones((1, 2)) / 2)
    with pytest.raises(InputValidationError, match="clash"):
        assemble(np.array(["a"]), "predicted_class", classification_columns(["x", "y"], np.array([[0.5, 0.5]])))


# ---------------------------------------------------------------------------------- predict file
@pytest.fixture(scope="module")
def linear_model(tmp_path_factory):
    from astrotorch.models import create_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    return create_model("linear", targetname=["teff"]).fit(x, y).save(tmp_path_factory.mktemp("m") / "linear")


def test_predict_file_flags_and_warns_about_labels_outside_the_training_range(linear_model, tmp_path):
    from astrotorch.models import load_folder

    lo, hi = load_folder(linear_model).label_range_[:, 0]
    x = np.array([[0.0, 0.0, 0.0], [30.0, 0.0, 0.0], [0.1, 0.1, 0.1]], np.float32)  # the middle row: teff = 30
    assert 30.0 > hi > lo
    np.save(tmp_path / "x.npy", x)
    rc, out = _run("predict", "file", linear_model, tmp_path / "x.npy", "--out", tmp_path / "p.csv")
    assert rc == 0, out
    t = pd.read_csv(tmp_path / "p.csv", comment="#")
    assert t["outside_training_range"].tolist() == [False, True, False]
    assert "warning: 1 of 3 rows have a predicted label outside the range of the training labels (teff 1)" in out
    x[1] = 0.0
    np.save(tmp_path / "y.npy", x)
    rc, out = _run("predict", "file", linear_model, tmp_path / "y.npy", "--out", tmp_path / "r.csv")
    assert rc == 0 and "warning" not in out and not pd.read_csv(tmp_path / "r.csv", comment="#")["outside_training_range"].any()


def test_predict_file_table_ids_first_in_every_format(linear_model, tmp_path):
    import h5py
    import pyarrow.parquet as pq
    from astropy.table import Table

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"source_id": [f"g{i}" for i in range(7)], **{k: rng.normal(size=7) for k in "abc"}})
    df.to_csv(tmp_path / "stars.csv", index=False)
    rc, out = _run("predict", "file", linear_model, tmp_path / "stars.csv", "--units", "teff=K", "--batch-size", "3",
                   "--out", tmp_path / "p.fits")
    assert rc == 0, out
    t = Table.read(tmp_path / "p.fits")
    assert t.colnames == ["source_id", "teff", "outside_training_range"] and list(t["source_id"]) == df["source_id"].tolist()
    assert str(t["teff"].unit) == "K" and json.loads(t.meta["ATMETA"])["model"] == "linear"
    from astrotorch.models import load_folder

    expected = load_folder(linear_model).predict(df[["a", "b", "c"]].to_numpy(np.float32)).ravel()
    np.testing.assert_allclose(np.asarray(t["teff"]), expected, rtol=1e-6)
    # an .h5 input: the objid array is found and decoded; the output format follows --out
    with h5py.File(tmp_path / "in.h5", "w") as f:
        f["x"] = df[["a", "b", "c"]].to_numpy(np.float32)
        f["objid"] = np.array([b"588", b"589", b"590", b"591", b"592", b"593", b"594"])
    for suffix in ("parquet", "h5", "csv"):
        rc, out = _run("predict", "file", linear_model, tmp_path / "in.h5", "--out", tmp_path / f"q.{suffix}")
        assert rc == 0, out
    tb = pq.read_table(tmp_path / "q.parquet")
    assert tb.column_names == ["objid", "teff", "outside_training_range"] and tb.column("objid").to_pylist()[0] == "588"
    with h5py.File(tmp_path / "q.h5", "r") as f:
        assert json.loads(f.attrs["columns"]) == ["objid", "teff", "outside_training_range"] and f["objid"][0] == b"588"
    assert pd.read_csv(tmp_path / "q.csv", comment="#")["objid"].tolist()[:2] == [588, 589]


# -------------------------------------------------------------------------------- predict images
@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    """A tiny galaxy10_cnn on 32×32 synthetic galaxies of three classes, one epoch (plumbing only)."""
    from astrotorch.datasets.synthetic_galaxies import make_synthetic_galaxies
    from astrotorch.models import create_model

    ds = make_synthetic_galaxies(60, size=32, seed=0, classes=[0, 1, 2])
    m = create_model("galaxy10_cnn", max_epochs=1, batch_size=16, targetname=["smooth", "disk, edge-on", "merger"])
    m.fit(ds.images, ds.labels)
    return m.save(tmp_path_factory.mktemp("m") / "g10"), m


def test_predict_images_from_a_galaxy10_file_matches_the_model(image_model, tmp_path):
    import h5py

    folder, model = image_model
    from astrotorch.datasets.synthetic_galaxies import make_synthetic_galaxies
    from astrotorch.uncertainty.selection import class_probabilities

    imgs = make_synthetic_galaxies(13, size=32, seed=5, classes=[0, 1, 2]).images
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f["images"], f["ans"] = imgs, np.zeros(13, np.uint8)
        f["objid"] = np.array([str(1000 + i).encode() for i in range(13)])
    rc, out = _run("predict", "images", folder, tmp_path / "g.h5", "--batch-size", "5", "--out", tmp_path / "p.csv")
    assert rc == 0, out
    t = pd.read_csv(tmp_path / "p.csv", comment="#", dtype={"objid": str})
    assert list(t.columns) == ["objid", "p_smooth", "p_disk_edge_on", "p_merger", "predicted_class"]
    assert t["objid"].tolist() == [str(1000 + i) for i in range(13)]
    np.testing.assert_allclose(t[["p_smooth", "p_disk_edge_on", "p_merger"]].to_numpy(),
                               class_probabilities(model, imgs), atol=1e-5)


def test_predict_images_from_a_folder_ids_are_file_stems(image_model, tmp_path):
    from PIL import Image

    folder, _ = image_model
    cutouts = tmp_path / "cutouts"
    cutouts.mkdir()
    rng = np.random.default_rng(0)
    names = ["J0001+01", "J0002-05", "ngc4565"]
    for n in names:
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(cutouts / f"{n}.png")
    (cutouts / "notes.txt").write_text("not an image")
    rc, out = _run("predict", "images", folder, cutouts, "--crop", "40", "--out", tmp_path / "p.parquet")
    assert rc == 0, out
    assert "resizing the 40×40 images to the model's 32×32" in out
    import pyarrow.parquet as pq

    tb = pq.read_table(tmp_path / "p.parquet")
    assert tb.column_names[0] == "object_id" and tb.column("object_id").to_pylist() == sorted(names)
    meta = json.loads(tb.schema.metadata[b"astrotorch"])["meta"]
    assert meta["crop"] == 40 and meta["size"] == 32 and meta["classes"][1] == "disk, edge-on"


@pytest.mark.realdata
def test_predict_images_on_the_galaxy_zoo_file(shared_data, image_model, tmp_path):
    """Every object of the real file gets a row, ids = its objid, in .parquet (pyarrow) and .fits (astropy)."""
    import h5py
    import pyarrow.parquet as pq
    from astropy.table import Table

    h5 = shared_data / "galaxy_zoo1_sdss" / "galaxy_zoo1_sdss69.h5"
    folder, _ = image_model  # a 32-px model: the 69-px images are resized (plumbing, not science)
    rc, out = _run("predict", "images", folder, h5, "--quiet", "--out", tmp_path / "gz.parquet")
    assert rc == 0, out
    with h5py.File(h5, "r") as f:
        objid = [v.decode() for v in f["objid"][()]]
    tb = pq.read_table(tmp_path / "gz.parquet")
    assert tb.column_names[0] == "objid" and tb.column("objid").to_pylist() == objid
    rc, out = _run("predict", "file", folder, h5, "--x-key", "images", "--quiet", "--out", tmp_path / "gz.fits")
    assert rc == 2 and "32" in out  # predict file does not resize: the model's input size is named
    small = tmp_path / "gz32.h5"
    from PIL import Image

    with h5py.File(h5, "r") as f, h5py.File(small, "w") as g:
        imgs = f["images"][:300]
        g["images"] = np.stack([np.asarray(Image.fromarray(im).resize((32, 32), Image.BILINEAR)) for im in imgs])
        g["objid"] = f["objid"][:300]
    rc, out = _run("predict", "file", folder, small, "--x-key", "images", "--quiet", "--out", tmp_path / "gz.fits")
    assert rc == 0, out
    t = Table.read(tmp_path / "gz.fits")
    assert t.colnames[0] == "objid" and list(t["objid"]) == objid[:300]
    np.testing.assert_allclose(np.sum([t[c] for c in t.colnames if c.startswith("p_")], axis=0), 1.0, atol=1e-4)
