"""astrotorch.apogee.fit_spectrum: batched maximum-likelihood fits of an emulator to spectra."""

from __future__ import annotations

import numpy as np
import pytest

from astrotorch.apogee.emulators import SpectralEmulator
from astrotorch.apogee.fitting import fit_spectrum
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.uncertainty import crlb
from tests.test_emulators import X_MAX, X_MIN, _arrays, _labels

NAMES = ["teff", "logg", "Fe_H", "Mg_Fe", "vmacro"]


@pytest.fixture(scope="module")
def emu() -> SpectralEmulator:
    return SpectralEmulator(**_arrays(5), label_names=NAMES, name="random")


def test_noiseless_spectra_give_back_their_labels(emu) -> None:
    truth = _labels(6, seed=11)
    flux = emu.flux(truth)
    err = np.full_like(flux, 0.01)
    res = fit_spectrum(emu, flux, err)
    assert res.converged.all() and res.labels.shape == (6, 5)
    assert np.all(np.abs(res.labels - truth) < 1e-3 * (X_MAX - X_MIN))
    assert np.all(res.chi2 < 1e-2)
    assert res.label_units == ["K", "dex", "dex", "dex", "km/s"]
    frame = res.to_frame()
    assert list(frame.columns[:2]) == ["teff", "teff_err"] and len(frame) == 6


def test_noisy_fits_reach_the_bound_and_sigma_is_calibrated(emu) -> None:
    rng = np.random.default_rng(2)
    truth = _labels(40, seed=12)
    clean = emu.flux(truth)
    err = np.full_like(clean, 0.01)
    flux = clean + err * rng.standard_normal(clean.shape)
    res = fit_spectrum(emu, flux, err)
    bound = crlb(emu, truth, flux_err=err)
    z = (res.labels - truth) / res.sigma
    assert res.converged.all()
    assert np.all((np.std(z, axis=0) > 0.7) & (np.std(z, axis=0) < 1.35))
    ratio = np.sqrt(np.mean((res.labels - truth) ** 2, axis=0)) / np.sqrt(np.mean(bound.bound ** 2, axis=0))
    assert np.all((ratio > 0.7) & (ratio < 1.35))
    assert np.allclose(res.sigma, bound.bound, rtol=0.2)  # σ from the Hessian ≈ the CRLB at the fitted labels
    assert 0.9 < np.median(res.reduced_chi2) < 1.1


def test_masks_grids_and_init(emu) -> None:
    from astrotorch.apogee.chips import embed_dr12

    truth = _labels(3, seed=13)
    flux = emu.flux(truth)
    err = np.full_like(flux, 0.01)
    mask = np.zeros_like(flux, dtype=bool)
    mask[:, :3000] = True
    flux_bad = flux.copy()
    flux_bad[mask] = 50.0  # garbage where flagged must not matter
    res = fit_spectrum(emu, flux_bad, err, mask=mask, init=truth[0])
    assert res.converged.all() and np.all(res.n_pixels == 7214 - 3000)
    assert np.all(np.abs(res.labels - truth) < 1e-3 * (X_MAX - X_MIN))
    # spectra on the 7,514-pixel DR >= 13 grid are cut to the DR12 pixels
    wide = fit_spectrum(emu, embed_dr12(flux, fill_value=1.0), embed_dr12(err, fill_value=0.01), init=truth)
    assert np.all(np.abs(wide.labels - truth) < 1e-3 * (X_MAX - X_MIN))
    # a star without enough usable pixels gets NaN labels, not a made-up answer
    nan_err = err.copy()
    nan_err[1] = np.nan
    res2 = fit_spectrum(emu, flux, nan_err, init=truth)
    assert np.isnan(res2.labels[1]).all() and not res2.converged[1] and res2.converged[[0, 2]].all()


def test_bad_input(emu) -> None:
    flux = np.ones((2, 7214))
    with pytest.raises(ShapeMismatchError, match="8575 pixels; the emulator predicts 7214"):
        fit_spectrum(emu, np.ones((2, 8575)), np.ones((2, 8575)))
    with pytest.raises(ShapeMismatchError, match="same shape"):
        fit_spectrum(emu, flux, np.ones((3, 7214)))
    with pytest.raises(InputValidationError, match="flux must be numbers"):
        fit_spectrum(emu, np.array([["1.0"] * 7214]), flux[:1])
    with pytest.raises(InputValidationError, match="max_iter"):
        fit_spectrum(emu, flux, flux * 0.01, max_iter=0)
    with pytest.raises(InputValidationError, match=r"init\[0\]: logg"):
        fit_spectrum(emu, flux, flux * 0.01, init=[5000.0, 9.0, 0.0, 0.0, 3.0])


@pytest.mark.realdata
def test_binspec_plus_fits_emulated_spectra_at_the_bound(shared_data) -> None:
    """Emulated giants at S/N 100: the fitter is the ML estimator of its own emulator."""
    from astrotorch.apogee.chips import dr12_pixels
    from astrotorch.apogee.emulators import load_emulator
    from astrotorch.datasets.emulated import emulated_spectra, flagged_pixels

    emu = load_emulator("binspec_plus")
    ds = emulated_spectra(60, emulator=emu, seed=21, snr=100.0)
    bad = flagged_pixels(ds.bitmask)
    res = fit_spectrum(emu, ds.flux, ds.flux_err, mask=bad)
    idx = dr12_pixels(17)
    bound = crlb(emu, ds.labels_true, flux_err=ds.flux_err[:, idx], mask=bad[:, idx])
    rmse = np.sqrt(np.mean((res.labels - ds.labels_true) ** 2, axis=0))
    ratio = rmse / np.sqrt(np.mean(bound.bound ** 2, axis=0))
    assert res.converged.all()
    assert np.all((ratio > 0.7) & (ratio < 1.35)), ratio
