"""Hostile light-curve inputs: each bad file is a typed error naming the file, line and column, and
reading it changes nothing on disk. Labels that cannot be classes are refused by the models."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from astrotorch.errors import DataFormatError, InputValidationError, ShapeMismatchError
from astrotorch.lightcurves import read_csv_folder, read_lightcurve_csv, read_parquet, read_plasticc

GOOD_ROWS = "time,mag,magerr,band\n1.0,20.0,0.1,g\n2.0,19.5,0.1,r\n3.0,19.0,0.2,g\n"


def _snapshot(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _folder(tmp_path, bad_name="b.csv", bad_text=None):
    (tmp_path / "a.csv").write_text(GOOD_ROWS)
    (tmp_path / bad_name).write_text(bad_text if bad_text is not None else GOOD_ROWS)
    (tmp_path / "labels.csv").write_text("id,type\na,X\nb,Y\n")
    return tmp_path


@pytest.mark.parametrize("text, where, column", [
    (GOOD_ROWS + "4.0,inf,0.1,g\n", "line 5", "mag"),                   # infinite magnitude
    (GOOD_ROWS + "4.0,-inf,0.1,g\n", "line 5", "mag"),
    ("time,mag,magerr,band\n1.0,20.0,-0.1,g\n", "line 2", "magerr"),   # negative error
    ("time,flux,fluxerr,band\n1.0,20.0,-3,g\n", "line 2", "fluxerr"),
    (GOOD_ROWS + "4.0,19.1", "truncated", None),                        # truncated last row (astrotorch.io)
    (GOOD_ROWS + "4.0,19.1,0.1,", "line 5", "band"),                    # cut just before the band
    ("time,mag,magerr,band\n1.0,20.0,0.1,\n2.0,19.0,0.1,g\n", "line 2", "band"),  # row with an empty band
    ("time,mag,magerr,band\n1.0,20.0,0.1, \n", "line 2", "band"),       # blank band
    ("time,mag,magerr,band\n1.0,20.0,0.1,g\n,19.0,0.1,g\n", "line 3", "time"),     # empty time
    ("time,mag,magerr,band\ninf,20.0,0.1,g\n", "line 2", "time"),
    ("time,mag,magerr,band\n1.0,bright,0.1,g\n", "line 2", "mag"),      # text in a number column
])
def test_bad_csv_rows_are_typed_errors_naming_file_line_column(tmp_path, text, where, column):
    folder = _folder(tmp_path, bad_text=text)
    before = _snapshot(folder)
    with pytest.raises(DataFormatError) as err:
        read_csv_folder(folder, label_column="type")
    msg = str(err.value)
    assert "b.csv" in msg and where in msg and (column is None or repr(column) in msg), msg
    assert _snapshot(folder) == before  # nothing written, nothing changed


def test_nan_text_and_sentinels_are_missing_points_not_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("time,mag,magerr,band\n1,20,0.1,g\n2,nan,0.1,g\n3,99.99,99.99,r\n4,26.0,100.0,r\n5,19,0.1,r\n")
    lc = read_lightcurve_csv(p)
    assert lc.time.tolist() == [1.0, 5.0] and lc.meta["n_sentinel"] == 2
    assert np.isfinite(lc.value).all()


def test_empty_and_header_only_csv(tmp_path):
    for text in ("", "time,mag,magerr,band\n"):
        p = tmp_path / "e.csv"
        p.write_text(text)
        with pytest.raises(DataFormatError, match="e.csv"):
            read_lightcurve_csv(p)


def _plasticc(tmp_path, lc_rows=None, meta_target="90"):
    (tmp_path / "training_set.csv").write_text(
        "object_id,mjd,passband,flux,flux_err,detected\n" + (lc_rows or "1,100.0,0,5.0,1.0,1\n1,101.0,5,-2.0,1.0,0\n"))
    (tmp_path / "training_set_metadata.csv").write_text(
        "object_id,ddf,hostgal_specz,hostgal_photoz,hostgal_photoz_err,distmod,mwebv,target\n"
        f"1,1,0.0,0.3,0.05,41.0,0.02,{meta_target}\n")
    return tmp_path


@pytest.mark.parametrize("target", ["SNIa", "90.5", "", "nan", "1e400"])
def test_plasticc_target_not_an_integer(tmp_path, target):
    folder = _plasticc(tmp_path, meta_target=target)
    before = _snapshot(folder)
    with pytest.raises(DataFormatError) as err:
        read_plasticc(folder)
    msg = str(err.value)
    assert "training_set_metadata.csv" in msg and "'target'" in msg and "line 2" in msg, msg
    assert _snapshot(folder) == before


@pytest.mark.parametrize("rows, where, column", [
    ("1,100.0,0.5,5.0,1.0,1\n", "line 3", "passband"),     # fractional passband
    ("1,100.0,7,5.0,1.0,1\n", "line 3", "passband"),       # outside 0..5
    ("1,100.0,0,inf,1.0,1\n", "line 3", "flux"),
    ("1,100.0,0,5.0,-1.0,1\n", "line 3", "flux_err"),
    ("1,100.0,0,5.0\n", "truncated", ""),                  # truncated last row (astrotorch.io)
    ("1,,0,5.0,1.0,1\n", "line 3", "mjd"),
])
def test_plasticc_bad_light_curve_rows(tmp_path, rows, where, column):
    folder = _plasticc(tmp_path, lc_rows="1,99.0,1,4.0,1.0,1\n" + rows)
    with pytest.raises(DataFormatError) as err:
        read_plasticc(folder)
    msg = str(err.value)
    assert "training_set.csv" in msg and where in msg and column in msg, msg


def test_parquet_with_inf_or_negative_error_names_the_row(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"object_id": ["a", "a", "b"], "time": [1.0, 2.0, 3.0], "value": [1.0, np.inf, 2.0],
                       "error": [0.1, 0.1, 0.1], "band": ["g", "g", "r"]})
    df.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataFormatError, match=r"t.parquet: row 1: infinite value .* 'value'"):
        read_parquet(tmp_path / "t.parquet")
    df["value"] = 1.0
    df.loc[2, "error"] = -0.5
    df.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataFormatError, match=r"row 2: negative value .* 'error'"):
        read_parquet(tmp_path / "t.parquet")


def _two_curves():
    from astrotorch.lightcurves import LightCurve, LightCurveSet

    rng = np.random.default_rng(0)
    curves = []
    for i in range(6):
        t = np.sort(rng.uniform(0, 50, 12))
        curves.append(LightCurve(time=t, value=rng.uniform(10, 20, 12), error=np.ones(12), band=np.zeros(12, int),
                                 bands=("g",), object_id=str(i)))
    return LightCurveSet(curves)


@pytest.mark.parametrize("labels, exc", [
    ([0, 1, 0, 1, 0, np.nan], InputValidationError),        # a missing label
    (["a", "b", "a", None, "b", "a"], InputValidationError),
    ([0, 0, 0, 0, 0, 0], InputValidationError),             # one class only
    ([0, 1, 0, 1], ShapeMismatchError),                     # wrong length
    ([[0, 1]] * 6, ShapeMismatchError),                     # one-hot-like 2-D labels
])
def test_features_model_refuses_unusable_labels(labels, exc):
    from astrotorch.models.lightcurves import LightCurveFeatures

    with pytest.raises(exc):
        LightCurveFeatures(max_iter=5, periodogram=False, bazin_fit=False, progress="none").fit(
            _two_curves(), np.asarray(labels, dtype=object if any(v is None for v in np.ravel(labels)) else None))


def test_large_label_values_are_classes_not_indices():
    from astrotorch.models.lightcurves import LightCurveFeatures

    y = np.array([6, 10**6, 6, 10**6, 6, 10**6])  # PLAsTiCC-style ids: two classes, not a million
    m = LightCurveFeatures(max_iter=5, min_samples_leaf=1, periodogram=False, bazin_fit=False, progress="none")
    m.fit(_two_curves(), y)
    assert m.classes_.tolist() == [6, 10**6] and m.predict_proba(_two_curves()).shape == (6, 2)
    assert set(m.predict(_two_curves()).tolist()) <= {6, 10**6}
    with pytest.raises(InputValidationError, match="not one of the classes"):
        m.evaluate(_two_curves(), np.array([6, 7, 6, 7, 6, 7]))
