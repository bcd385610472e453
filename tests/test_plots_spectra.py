"""Tests of astrotorch.plots.spectra (metrics table and evaluation figures)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.plots import spectra as P


@pytest.fixture()
def fake() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 4000
    truth = np.column_stack([rng.normal(4800, 400, n), rng.normal(2.5, 0.8, n), rng.normal(0, 0.3, n)])
    sigma = np.column_stack([rng.uniform(20, 80, n), rng.uniform(0.02, 0.1, n), rng.uniform(0.01, 0.05, n)])
    pred = truth + sigma * rng.standard_normal(truth.shape) + np.array([10.0, 0.0, 0.0])
    truth[:5, 2] = -9999.0  # missing truths are skipped
    return truth, pred, sigma


def test_metrics_table_values(fake, tmp_path) -> None:
    truth, pred, sigma = fake
    df = P.metrics_table(truth, pred, sigma, names=["teff", "logg", "Fe_H"])
    assert list(df["label"]) == ["teff", "logg", "Fe_H"]
    assert df.loc[2, "n"] == len(truth) - 5
    r = pred[:, 0] - truth[:, 0]
    assert df.loc[0, "rmse"] == pytest.approx(np.sqrt(np.mean(r**2)))
    assert df.loc[0, "median"] == pytest.approx(np.median(r))
    assert df.loc[0, "median"] == pytest.approx(10.0, abs=3.0)  # the injected bias
    # errors drawn from sigma: calibrated
    assert np.all(np.abs(df["z_std"][1:] - 1) < 0.05)
    assert np.all(np.abs(df["coverage_68"][1:] - 0.683) < 0.03)
    csv, md = P.write_metrics_table(df, tmp_path)
    assert csv.read_text().startswith("label,n,median")
    assert md.read_text().startswith("| label |")


def test_mad_std_of_gaussian() -> None:
    x = np.random.default_rng(1).normal(0, 2.0, 200_000)
    assert P.mad_std(x) == pytest.approx(2.0, rel=0.01)


def test_figures_build(fake, tmp_path) -> None:
    truth, pred, sigma = fake
    names = ["teff", "logg", "Fe_H"]
    fig = P.aspcap_residue_plot(truth, pred, sigma, names)
    assert len([a for a in fig.axes if a.get_visible()]) >= 3
    fig.savefig(tmp_path / "res.png")
    fig = P.calibration_plot(truth, pred, sigma, names)
    assert "std(z)" in fig.axes[0].get_title()
    wave = np.linspace(15150, 16950, 500)
    jac = np.random.default_rng(0).normal(size=(3, 500))
    win = {"Fe_H": np.zeros(500, bool)}
    win["Fe_H"][100:110] = True
    fig = P.jacobian_plot(jac, wave, names, windows=win)
    # one shaded window patch in the Fe_H panel
    assert len(fig.axes[2].patches) == 1
    import matplotlib.pyplot as plt

    plt.close("all")


def test_bad_inputs(fake) -> None:
    truth, pred, sigma = fake
    with pytest.raises(ShapeMismatchError):
        P.metrics_table(truth, pred[:, :2])
    with pytest.raises(ShapeMismatchError):
        P.metrics_table(truth, pred, names=["a"])
    with pytest.raises(InputValidationError):
        P.metrics_table(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ShapeMismatchError):
        P.jacobian_plot(np.zeros((3, 10)), np.zeros(11), ["a", "b", "c"])
