"""``astrotorch predict lightcurves``: ids first, class probabilities / values, every output format,
refusals that protect the user's files. Called as a function and through a tiny typer app."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from astrotorch.cli.predict_lightcurves import predict_lightcurves
from astrotorch.datasets.synthetic_lightcurves import make_synthetic_lightcurves
from astrotorch.errors import InputValidationError, OutputExistsError, OutputPathError
from astrotorch.lightcurves import write_parquet
from astrotorch.models.lightcurves import LightCurveFeatures

FAST = dict(max_iter=20, periodogram=False, bazin_fit=False, progress="none")


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory):
    data = make_synthetic_lightcurves(60, classes=("SNIa", "RRL"), balanced=True, seed=4, ddf_fraction=0.0)
    folder = tmp_path_factory.mktemp("models") / "clf"
    LightCurveFeatures(**FAST).fit(data).save(folder)
    return folder, data


def _csv_folder(path, curves, id_name="ZTFID"):
    path.mkdir()
    for lc in curves:
        m = lc.to_mag()
        rows = ["time,mag,magerr,band"] + [f"{t},{v},{e},{b}" for t, v, e, b in
                                           zip(m.time, m.value, m.error, m.band_name())]
        (path / f"obj{lc.object_id}.csv").write_text("\n".join(rows) + "\n")
    (path / "labels.csv").write_text(f"{id_name},note\n" + "".join(f"obj{lc.object_id},x\n" for lc in curves))
    return path


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_folder_to_csv_ids_first_and_probabilities(saved_classifier, tmp_path):
    import pandas as pd

    model, data = saved_classifier
    folder = _csv_folder(tmp_path / "curves", data[:8])
    out = predict_lightcurves(model, str(folder), out=tmp_path / "p.csv", quiet=True)
    df = pd.read_csv(out, comment="#")  # ECSV: the header comments hold units and metadata
    assert list(df.columns) == ["ZTFID", "p_SNIa", "p_RRL", "predicted_class"]
    assert df["ZTFID"].tolist() == [f"obj{lc.object_id}" for lc in data[:8]]
    assert np.allclose(df[["p_SNIa", "p_RRL"]].sum(axis=1), 1.0, atol=1e-5)
    assert set(df["predicted_class"]) <= {"SNIa", "RRL"}


@pytest.mark.parametrize("suffix", [".parquet", ".fits", ".h5"])
def test_parquet_input_every_output_format(saved_classifier, tmp_path, suffix):
    model, data = saved_classifier
    write_parquet(data[:5], tmp_path / "lc.parquet")
    out = predict_lightcurves(model, str(tmp_path / "lc.parquet"), out=tmp_path / f"p{suffix}", quiet=True)
    ids = [lc.object_id for lc in data[:5]]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(out)
        assert t.column_names[0] == "object_id" and t.column("object_id").to_pylist() == ids
        assert t.column_names == ["object_id", "p_SNIa", "p_RRL", "predicted_class"]
        assert b"astrotorch" in t.schema.metadata
    elif suffix == ".fits":
        from astropy.table import Table

        t = Table.read(out)
        assert t.colnames[0] == "object_id" and [str(v) for v in t["object_id"]] == ids
        assert np.allclose(t["p_SNIa"] + t["p_RRL"], 1.0, atol=1e-5)
    else:
        import h5py

        with h5py.File(out, "r") as f:
            got = [v.decode() if isinstance(v, bytes) else str(v) for v in f["object_id"][()]]
            assert got == ids and f["p_RRL"].attrs["unit"] == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["lc.parquet", f"p{suffix}"])  # no temp files


def test_regression_columns_and_id_column_option(tmp_path):
    import pandas as pd

    data = make_synthetic_lightcurves(30, seed=5, ddf_fraction=0.0)
    z = data.meta_array("redshift")
    m = LightCurveFeatures(task="regression", targetname=["redshift"], **FAST).fit(data, z)
    m.save(tmp_path / "reg")
    folder = _csv_folder(tmp_path / "curves", data[:4], id_name="Num")
    out = predict_lightcurves(tmp_path / "reg", f"csv:{folder}", out=tmp_path / "z.csv", id_column="Num", quiet=True)
    df = pd.read_csv(out, comment="#")
    assert list(df.columns) == ["Num", "redshift"] and len(df) == 4 and np.isfinite(df["redshift"]).all()


def test_refuses_to_harm_files(saved_classifier, tmp_path):
    model, data = saved_classifier
    write_parquet(data[:3], tmp_path / "lc.parquet")
    before = _sha(tmp_path / "lc.parquet")
    with pytest.raises(OutputPathError, match="input"):  # its own input
        predict_lightcurves(model, str(tmp_path / "lc.parquet"), out=tmp_path / "lc.parquet", overwrite=True)
    assert _sha(tmp_path / "lc.parquet") == before
    (tmp_path / "old.csv").write_text("mine\n")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        predict_lightcurves(model, str(tmp_path / "lc.parquet"), out=tmp_path / "old.csv")
    assert (tmp_path / "old.csv").read_text() == "mine\n"
    predict_lightcurves(model, str(tmp_path / "lc.parquet"), out=tmp_path / "old.csv", overwrite=True, quiet=True)
    assert "object_id,p_SNIa" in (tmp_path / "old.csv").read_text()
    (tmp_path / "adir.csv").mkdir()
    with pytest.raises(OutputPathError, match="folder"):
        predict_lightcurves(model, str(tmp_path / "lc.parquet"), out=tmp_path / "adir.csv", overwrite=True)
    if os.path.exists("/dev/null"):
        with pytest.raises(OutputPathError):
            predict_lightcurves(model, str(tmp_path / "lc.parquet"), out="/dev/null", overwrite=True)
    with pytest.raises(InputValidationError, match="table format"):
        predict_lightcurves(model, str(tmp_path / "lc.parquet"), out=tmp_path / "p.xlsx")
    with pytest.raises(FileNotFoundError):
        predict_lightcurves(model, str(tmp_path / "nowhere"), out=tmp_path / "q.csv")
    assert not (tmp_path / "p.xlsx").exists() and not (tmp_path / "q.csv").exists()


def test_typer_command(saved_classifier, tmp_path):
    import typer
    from typer.testing import CliRunner

    model, data = saved_classifier
    write_parquet(data[:3], tmp_path / "lc.parquet")
    app = typer.Typer()
    app.command()(predict_lightcurves)
    app.command("noop")(lambda: None)  # a second command keeps typer in sub-command mode
    res = CliRunner().invoke(app, ["predict-lightcurves", str(model), str(tmp_path / "lc.parquet"),
                                   "--out", str(tmp_path / "p.parquet"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.parquet").is_file()


@pytest.mark.realdata
def test_real_files_plasticc_and_ztf_folder(shared_data, saved_classifier, tmp_path):
    import pandas as pd

    from astrotorch.lightcurves import load_snia_ztf_bts

    model, _ = saved_classifier  # LSST bands, like PLAsTiCC
    out = predict_lightcurves(model, f"plasticc:{shared_data / 'plasticc_sample'}", out=tmp_path / "pl.fits",
                              quiet=True)
    from astropy.table import Table

    t = Table.read(out)
    assert t.colnames[0] == "object_id" and len(t) == 10
    # a redshift regressor trained on 200 BTS curves predicts the whole published folder, ids first
    sn = load_snia_ztf_bts(shared_data / "light_curves", max_objects=200)
    reg = LightCurveFeatures(task="regression", targetname=["redshift"], max_iter=30, periodogram=False,
                             progress="none").fit(sn, sn.meta_array("redshift"))
    reg.save(tmp_path / "z")
    out = predict_lightcurves(tmp_path / "z", str(shared_data / "light_curves" / "snia_ztf_bts"),
                              out=tmp_path / "z.parquet", quiet=True)
    df = pd.read_parquet(out)
    assert df.columns[0] == "ZTFID" and len(df) == 1832 and df["ZTFID"].str.startswith("ZTF").all()
    assert df["redshift"].between(0.0, 0.5).mean() > 0.99
