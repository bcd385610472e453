"""train_spectra on emulated data and on both HDF5 layouts (issue 15 item 5, issue 14/19 layouts)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from astrotorch.errors import InputValidationError


@pytest.mark.realdata
def test_train_spectra_on_emulated_data_reports_the_bound(tmp_path, shared_data) -> None:
    from astrotorch.cli.train_spectra import resolve_data, train_spectra

    assert resolve_data("auto") == "emulated:binspec_plus"  # the emulator file is there
    out = train_spectra(model="mlp", data="emulated", n_train=120, n_test=20, n_visits=1, epochs=1, out=tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == ["teff", "logg", "Fe_H", "Mg_Fe"]
    assert "emulated APOGEE spectra" in metrics["data"]
    for split in ("test", "test_visits"):
        logg = metrics[split]["logg"]
        assert 0.004 < logg["bound_rms"] < 0.05  # ~0.01 dex at S/N 100, ~0.02 at S/N 50
        assert logg["rmse_over_bound"] == pytest.approx(logg["rmse"] / logg["bound_rms"])
    assert metrics["test_visits"]["logg"]["bound_rms"] > 1.5 * metrics["test"]["logg"]["bound_rms"]
    report = (out / "report.md").read_text()
    assert "bound_rms" in report and "rmse_over_bound" in report


def test_auto_falls_back_to_synthetic_without_the_emulator(tmp_path, monkeypatch) -> None:
    from astrotorch.cli.train_spectra import resolve_data

    monkeypatch.setenv("ASTROTORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASTROTORCH_SHARED_DATA", str(tmp_path / "nothing"))
    assert resolve_data("auto") == "synthetic"
    assert resolve_data("emulated:binspec") == "emulated:binspec"


def test_train_spectra_reads_the_compiled_layout(tmp_path) -> None:
    """Issue 14: the CLI used to refuse what compile_apogee_h5 writes."""
    from astrotorch.cli.train_spectra import train_spectra
    from astrotorch.datasets.apogee_h5 import compile_apogee_h5

    n, npix = 60, 7514
    rng = np.random.default_rng(0)
    teff = rng.uniform(4000, 5500, n)
    logg = rng.uniform(1.5, 3.5, n)
    allstar = {"APOGEE_ID": np.array([f"2M{i:08d}" for i in range(n)]), "TEFF": teff, "LOGG": logg,
               "M_H": rng.normal(0, 0.2, n), "SNR": np.full(n, 200.0), "STARFLAG": np.zeros(n, int),
               "ASPCAPFLAG": np.zeros(n, int)}
    dips = rng.integers(0, npix, 200)

    def provider(row, apogee_id, visits):
        f = np.ones(npix)
        f[dips] -= 0.3 * (teff[row] - 4000) / 1500  # a Teff-dependent spectrum
        return f + rng.normal(0, 0.01, npix), np.full(npix, 0.01), None

    h5 = compile_apogee_h5(allstar, provider, tmp_path / "apogee.h5", continuum=False, snr_min=None)
    out = train_spectra(model="linear", data=str(h5), n_train=40, n_test=12, labels="teff,logg", epochs=1,
                        out=tmp_path / "run")
    metrics = json.loads((out / "metrics.json").read_text())
    assert "compiled layout" in metrics["data"] and metrics["test"]["teff"]["n"] == 12
    assert "bound_rms" not in metrics["test"]["teff"]  # no emulator behind real files
    pred = pd.read_csv(out / "predictions_test.csv", comment="#", dtype={"APOGEE_ID": str})
    assert list(pred.columns) == ["APOGEE_ID", "teff", "logg", "outside_training_range"] and len(pred) == 12
    assert set(pred["APOGEE_ID"]) <= set(allstar["APOGEE_ID"])
    ridge = [k for k in metrics["baselines"] if k.startswith("ridge (alpha ")]  # penalty chosen on training rows
    assert len(ridge) == 1 and set(metrics["baselines"]) == {ridge[0], "10 nearest neighbours"}
    assert [r["output"] for r in metrics["which_wins"]["rmse"]] == ["teff", "logg"]
    assert "Classical baselines on the same split" in (out / "report.md").read_text()
    with pytest.raises(InputValidationError, match="--test-fraction"):
        train_spectra(model="linear", data=str(h5), test_fraction=1.0, out=tmp_path / "z")
    with pytest.raises(InputValidationError, match="unknown label"):
        train_spectra(model="linear", data=str(h5), n_train=40, n_test=12, labels="vmacro", out=tmp_path / "x")
    with pytest.raises(InputValidationError, match="--data must be"):
        train_spectra(model="linear", data="emulatedd", n_train=40, n_test=12, out=tmp_path / "y")


def test_report_states_the_calibration_and_its_noise_power() -> None:
    from types import SimpleNamespace

    from astrotorch.cli.train_spectra import calibration_lines

    names = ["teff", "logg"]
    assert calibration_lines(SimpleNamespace(sigma_scale_=None), names) == []
    plain = calibration_lines(SimpleNamespace(sigma_scale_=np.array([0.64, 0.5]), noise_power_=None,
                                              noise_reference_=None), names)
    assert plain[0].endswith("teff 0.64, logg 0.50.") and "noise level" not in plain[0]
    full = calibration_lines(SimpleNamespace(sigma_scale_=np.array([0.64, 0.5]), noise_power_=np.array([2.5, 1.25]),
                                             noise_reference_=0.00923), names)[0]
    assert "(ν / 0.00923)^(γ/2), γ = teff 2.50, logg 1.25" in full
    assert "pin σ" not in full  # no precision known (a folder saved before it was stored)
    assert "power changes" not in full
    broken = calibration_lines(SimpleNamespace(sigma_scale_=np.array([0.64, 0.5]), noise_power_=np.array([2.5, 1.25]),
                                               noise_reference_=0.01, noise_power_high_=np.array([1.0, np.nan]),
                                               noise_break_=np.array([2.26, np.nan])), names)[0]
    assert "teff γ₂ = 1.00 beyond ν_b = 0.0226." in broken and "logg γ₂" not in broken
    with_precision = calibration_lines(SimpleNamespace(sigma_scale_=np.array([0.64, 0.5]), noise_power_=None,
                                                       noise_reference_=None,
                                                       sigma_precision_=np.array([0.082, np.nan])), names)[0]
    assert "pin σ at their own S/N" in with_precision and "teff ±8 %" in with_precision and "logg" not in \
        with_precision.split("pin σ")[1]


def test_calibration_stars_are_checked_before_any_work(tmp_path) -> None:
    from astrotorch.cli.train_spectra import CALIBRATION_STARS, calibration_star_count, train_spectra

    assert calibration_star_count(None, True, True, True, "apogee_bcnn") == CALIBRATION_STARS == 1000
    # the default is the validation split where there is no truth, no Bayesian model or no calibration
    for args in ((False, True, True), (True, False, True), (True, True, False)):
        assert calibration_star_count(None, *args, "m") == 0
    assert calibration_star_count(0, True, True, True, "m") == 0
    for args, match in (((5, True, True, True), "at least 10"), ((20, False, True, True), "needs generated data"),
                        ((20, True, False, True), "mlp is not Bayesian"), ((20, True, True, False), "--no-calibrate")):
        with pytest.raises(InputValidationError, match=match):
            calibration_star_count(*args, "mlp")
    with pytest.raises(InputValidationError, match="not Bayesian"):
        train_spectra(model="mlp", data="synthetic", n_train=40, n_test=10, calibration_stars=20, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    # a file written in the generator's layout is still a file: its Bayesian model keeps the validation split
    from astrotorch.datasets.spectra import synthetic_spectra

    h5 = synthetic_spectra(80, seed=2).to_hdf5(tmp_path / "gen.h5")
    out = train_spectra(model="apogee_bcnn", data=str(h5), n_train=60, labels="teff,logg", epochs=1, mc_num=4,
                        out=tmp_path / "run", no_baseline=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sigma_calibrated_on"] == "the validation split (not the test set)"
