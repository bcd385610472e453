"""predict spectra / fit spectra: real APOGEE files in, a labelled table with units out (issue 15 item 5)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrotorch.errors import DataFormatError, InputValidationError, OutputExistsError, OutputPathError

pytestmark = pytest.mark.realdata


def _real_files(shared_data: Path) -> list[str]:
    return [str(shared_data / "apogee" / "ap*.fits"), str(shared_data / "apogee_emulators" / "payne_zero_dr14_example_spectrum.npz")]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, shared_data) -> Path:
    """A Bayesian MLP trained for one epoch on 200 emulated spectra: enough to exercise the command, not to be good."""
    from astrotorch.datasets.emulated import emulated_spectra
    from astrotorch.models import create_model

    ds = emulated_spectra(200, seed=5)
    m = create_model("bayesian_mlp", max_epochs=1, mc_num=4, seed=0, targetname=["teff", "logg", "Fe_H", "Mg_Fe"])
    m.fit(ds.flux, ds.labels[:, :4], x_err=ds.flux_err, y_err=ds.label_err[:, :4])
    return m.save(tmp_path_factory.mktemp("model") / "bcnn")


def _read_ecsv(path: Path):
    from astropy.table import Table

    return Table.read(path, format="ascii.ecsv")


def test_read_spectra_of_every_real_file_kind(shared_data) -> None:
    from astrotorch.apogee.observed import read_spectra

    obs = read_spectra(_real_files(shared_data))
    assert len(obs) == 5 and obs.flux.shape == (5, 7514)
    assert list(obs.kind) == ["apStar", "apStar", "apVisit", "apVisit", "npz"]
    assert obs.apogee_id[0] == "2M17335483-2753043" and obs.apogee_id[4] == "payne_zero_dr14_example_spectrum"
    good = ~obs.bad
    med = np.array([np.median(obs.flux[i][good[i]]) for i in range(5)])
    assert np.all((med > 0.85) & (med < 1.05))  # continuum-normalised
    assert np.all(good.mean(axis=1) > 0.85)
    f12, e12, b12 = obs.on_dr12()
    assert f12.shape == (5, 7214)


def test_predict_spectra_writes_every_table_format(tmp_path, shared_data, small_model) -> None:
    from astrotorch.cli.spectra_commands import predict_spectra

    out = predict_spectra(small_model, _real_files(shared_data), out=tmp_path / "labels.csv")
    t = _read_ecsv(out)
    assert len(t) == 5 and list(t.colnames[:4]) == ["APOGEE_ID", "file", "kind", "snr"]
    assert {"teff", "teff_sigma", "logg", "logg_sigma", "Fe_H", "Mg_Fe_sigma"} <= set(t.colnames)
    assert str(t["teff"].unit) == "K" and str(t["logg_sigma"].unit) == "dex"
    assert np.all(np.isfinite(t["teff"])) and np.all(np.asarray(t["teff_sigma"]) > 0)
    from astrotorch.models import load_folder

    flagged = load_folder(small_model).outside_training_range(np.c_[[np.asarray(t[n]) for n in ("teff", "logg", "Fe_H", "Mg_Fe")]].T)
    assert t["outside_training_range"].dtype == bool and list(t["outside_training_range"]) == list(flagged.any(axis=1))
    import pandas as pd

    assert pd.read_csv(out, comment="#").shape == (5, len(t.colnames))
    pq_out = predict_spectra(small_model, _real_files(shared_data)[:1], out=tmp_path / "labels.parquet")
    import pyarrow.parquet as pq

    schema = pq.read_schema(pq_out)
    assert schema.field("teff").metadata[b"unit"] == b"K" and pq.read_table(pq_out).num_rows == 4
    fits_out = predict_spectra(small_model, _real_files(shared_data)[:1], out=tmp_path / "labels.fits", flag_pixels="none")
    with fits.open(fits_out) as hdul:
        cols = hdul[1].columns
        assert cols["teff"].unit == "K" and cols["logg_sigma"].unit == "dex" and len(hdul[1].data) == 4


def test_outputs_are_never_clobbered(tmp_path, shared_data, small_model) -> None:
    from astrotorch.cli.spectra_commands import predict_spectra

    src = shared_data / "apogee_emulators" / "payne_zero_dr14_example_spectrum.npz"
    local = tmp_path / "star.npz"
    local.write_bytes(src.read_bytes())
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    existing = tmp_path / "old.csv"
    existing.write_text("keep me\n")
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        predict_spectra(small_model, [str(local)], out=existing)
    assert existing.read_text() == "keep me\n"
    fake_csv = tmp_path / "star.csv"
    fake_csv.write_text("x")
    with pytest.raises(InputValidationError, match="unsupported file type"):
        predict_spectra(small_model, [str(fake_csv)], out=tmp_path / "o.csv")
    with pytest.raises(InputValidationError, match="unknown table format '.txt'"):
        predict_spectra(small_model, [str(local)], out=tmp_path / "labels.txt")
    (tmp_path / "adir.csv").mkdir()
    with pytest.raises(OutputPathError, match="is a folder; give a file name"):
        predict_spectra(small_model, [str(local)], out=tmp_path / "adir.csv", overwrite=True)
    npz_out = tmp_path / "star_as_out.fits"
    npz_out.write_bytes(b"")
    with pytest.raises(OutputPathError, match="also an input of this command"):
        predict_spectra(small_model, [str(local), str(npz_out)], out=npz_out, overwrite=True)
    assert hashlib.sha256(local.read_bytes()).hexdigest() == digest
    predict_spectra(small_model, [str(local)], out=existing, overwrite=True)
    assert len(_read_ecsv(existing)) == 1
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_fit_spectra_on_the_real_example_star(tmp_path, shared_data) -> None:
    """A sanity check against the published fit (Teff 4,631 K, log g 2.66, [M/H] -0.57), not a bar."""
    from astrotorch.cli.spectra_commands import fit_spectra

    out = fit_spectra("binspec_plus", [_real_files(shared_data)[1]], out=tmp_path / "fit.fits")
    with fits.open(out) as hdul:
        row = hdul[1].data[0]
        assert hdul[1].columns["vmacro"].unit == "km/s" and hdul[1].columns["logg"].unit == "dex"
    assert row["converged"] and not row["at_edge"]
    assert abs(row["teff"] - 4631) < 250 and abs(row["logg"] - 2.66) < 0.35 and abs(row["Fe_H"] + 0.57) < 0.25
    assert 0.5 < row["reduced_chi2"] < 5


def test_bad_input_is_typed(tmp_path, shared_data, small_model) -> None:
    from astrotorch.apogee.observed import read_spectra
    from astrotorch.cli.spectra_commands import fit_spectra, predict_spectra

    table = tmp_path / "catalogue.fits"
    fits.BinTableHDU.from_columns([fits.Column(name="TEFF", format="E", array=np.ones(3))]).writeto(table)
    with pytest.raises(DataFormatError, match="not an APOGEE spectrum file"):
        read_spectra([table])
    with pytest.raises(InputValidationError, match="matches no file"):
        read_spectra([str(tmp_path / "apStar-*.fits")])
    with pytest.raises(FileNotFoundError):
        read_spectra([tmp_path / "absent.npz"])
    bad = tmp_path / "wrong_grid.npz"
    np.savez(bad, flux=np.ones((1, 5000)), flux_err=np.full((1, 5000), 0.01))
    with pytest.raises(DataFormatError, match="5000 pixels"):
        read_spectra([bad])
    noerr = tmp_path / "noerr.npz"
    np.savez(noerr, flux=np.ones((1, 7514)))
    with pytest.raises(DataFormatError, match="needs arrays 'flux' and 'flux_err'"):
        read_spectra([noerr])
    with pytest.raises(InputValidationError, match="--flag-pixels"):
        predict_spectra(small_model, [str(noerr)], out=tmp_path / "o.csv", flag_pixels="all")
    with pytest.raises(InputValidationError, match="un-normalised"):
        fit_spectra("binspec_plus_unnormalized", [_real_files(shared_data)[1]], out=tmp_path / "f.csv")


def test_commands_work_through_typer(tmp_path, shared_data) -> None:
    """The functions are typer commands too: registered as cli/main.py is asked to (`predict spectra` in
    the predict sub-app, `fit spectra` in a `fit` sub-app), on a local app."""
    import typer
    from typer.testing import CliRunner

    from astrotorch.cli.exit_codes import run
    from astrotorch.cli.spectra_commands import fit_spectra, predict_spectra

    app, predict_app, fit_app = typer.Typer(), typer.Typer(), typer.Typer()
    app.add_typer(predict_app, name="predict")
    app.add_typer(fit_app, name="fit")
    predict_app.command("spectra")(predict_spectra)
    fit_app.command("spectra")(fit_spectra)
    runner = CliRunner()
    assert runner.invoke(app, ["predict", "spectra", "--help"]).exit_code == 0
    out = tmp_path / "fit.csv"
    args = ["fit", "spectra", "binspec_plus", _real_files(shared_data)[1], "--out", str(out)]
    res = runner.invoke(app, [*args, "--renormalize", "1"])
    assert res.exit_code == 0, res.output
    assert len(_read_ecsv(out)) == 1
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and isinstance(again.exception, OutputExistsError)
    assert run(app, args) == 2  # a user error: one line, exit code 2 (cli/exit_codes.py)
