"""astrotorch.io.write_table: one writer for result tables, the format chosen by the suffix, atomic."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from astrotorch.errors import InputValidationError
from astrotorch.io import table_format, write_table

UNITS = {"logg": "dex", "teff": "K", "p_spiral": ""}
META = {"model": "galaxy_resnet", "classes": ["elliptical", "spiral"], "n": 3}


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"objid": ["588848901537202306", "588848901532418163", "x-3"],
                         "teff": [5772.0, 4000.5, np.nan], "logg": [4.44, 2.5, 1.0],
                         "p_spiral": [0.1, 0.9, 0.5], "predicted_class": ["elliptical", "spiral", "spiral"]})


def test_csv_is_ecsv_with_units_and_meta_readable_by_pandas_and_astropy(tmp_path):
    from astropy.table import Table

    path = write_table(_frame(), tmp_path / "t.csv", units=UNITS, meta=META)
    text = path.read_text()
    assert text.startswith("# %ECSV") and "unit: K" in text
    df = pd.read_csv(path, comment="#", dtype={"objid": str})
    assert list(df.columns) == list(_frame().columns)
    assert df["objid"].tolist() == _frame()["objid"].tolist() and np.isnan(df["teff"].iloc[2])
    t = Table.read(path, format="ascii.ecsv")
    assert str(t["teff"].unit) == "K" and str(t["logg"].unit) == "dex"
    assert t.meta["classes"] == META["classes"] and t["objid"][0] == "588848901537202306"


def test_parquet_fits_h5_npz_keep_ids_units_and_meta(tmp_path):
    import h5py
    import pyarrow.parquet as pq
    from astropy.io import fits

    df = _frame()
    tb = pq.read_table(write_table(df, tmp_path / "t.parquet", units=UNITS, meta=META))
    assert tb.column_names == list(df.columns)
    assert tb.schema.field("teff").metadata[b"unit"] == b"K"
    assert json.loads(tb.schema.metadata[b"astrotorch"])["meta"] == META
    assert tb.column("objid").to_pylist() == df["objid"].tolist()

    with fits.open(write_table(df, tmp_path / "t.fits", units=UNITS, meta=META)) as hdul:
        hdr, data = hdul[1].header, hdul[1].data
        assert [hdr[f"TTYPE{i}"] for i in range(1, 6)] == list(df.columns)
        assert hdr["TUNIT2"] == "K" and hdr["TUNIT3"] == "dex"
        assert json.loads(hdr["ATMETA"]) == META
        assert list(data["objid"]) == df["objid"].tolist()
        np.testing.assert_allclose(data["logg"], df["logg"])

    with h5py.File(write_table(df, tmp_path / "t.h5", units=UNITS, meta=META), "r") as f:
        assert json.loads(f.attrs["columns"]) == list(df.columns) and json.loads(f.attrs["meta"]) == META
        assert f["teff"].attrs["unit"] == "K"
        assert [v.decode() for v in f["objid"][()]] == df["objid"].tolist()

    with np.load(write_table(df, tmp_path / "t.npz", units=UNITS, meta=META), allow_pickle=False) as z:
        assert z["objid"].tolist() == df["objid"].tolist()
        assert json.loads(str(z["__astrotorch__"]))["units"] == UNITS


def test_fits_read_by_astropy_table_with_units(tmp_path):
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "K" and "" are FITS units: no warning on reading
        t = Table.read(write_table(_frame()[["objid", "teff"]], tmp_path / "t.fits", units={"teff": "K"}))
    assert str(t["teff"].unit) == "K" and len(t) == 3


@pytest.mark.parametrize("name", ["t.txt", "t", "t.csv.gz", "t.xlsx"])
def test_unknown_suffix_refused_before_writing(tmp_path, name):
    with pytest.raises(InputValidationError, match="unknown table format"):
        table_format(tmp_path / name, label="--out")
    with pytest.raises(InputValidationError, match=name):
        write_table(_frame(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_bad_tables_refused_and_nothing_half_written(tmp_path):
    df = _frame()
    with pytest.raises(InputValidationError, match="units given for columns the table does not have"):
        write_table(df, tmp_path / "t.csv", units={"nope": "K"})
    dup = pd.concat([df[["teff"]], df[["teff"]]], axis=1)
    with pytest.raises(InputValidationError, match="unique"):
        write_table(dup, tmp_path / "t.parquet")
    with pytest.raises(InputValidationError, match="DataFrame"):
        write_table({"a": [1]}, tmp_path / "t.h5")
    with pytest.raises(InputValidationError, match="JSON"):
        write_table(df, tmp_path / "t.csv", meta={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from astrotorch.io import tables

    (tmp_path / "old.parquet").write_text("earlier\n")

    def crash(tmp, *args):
        tmp.write_bytes(b"PAR1 half a file")
        raise OSError("simulated crash mid-write")

    monkeypatch.setattr(tables, "_write_parquet", crash)
    with pytest.raises(OSError, match="simulated"):
        write_table(_frame(), tmp_path / "old.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.parquet"]
    assert (tmp_path / "old.parquet").read_text() == "earlier\n"
