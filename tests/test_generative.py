"""Generative spectra models: ApogeeCVAE and ApokascEncoderDecoder on tiny synthetic spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotorch.datasets.spectra import synthetic_spectra
from astrotorch.datasets.stars import oscillation_power_spectrum
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.models import create_model, load_folder
from astrotorch.models.generative import ApogeeCVAE, ApokascEncoderDecoder

N_PIX = 512


@pytest.fixture(scope="module")
def spectra():
    torch.set_num_threads(1)
    ds = synthetic_spectra(400, snr=200, seed=0, missing_label_frac=0.0)
    flux = ds.flux[:, 1000 : 1000 + N_PIX].astype(np.float32)
    names = ds.label_names
    teff = ds.labels_true[:, names.index("teff")]
    logg = ds.labels_true[:, names.index("logg")]
    return flux, teff, logg


def test_cvae_reconstructs_and_encodes(spectra, tmp_path):
    flux, teff, logg = spectra
    tr, te = slice(0, 320), slice(320, 400)
    model = create_model("apogee_cvae", latent_dim=2, max_epochs=15, batch_size=32, lr=3e-3, accelerator="cpu",
                         kl_weight=0.1)
    assert isinstance(model, ApogeeCVAE)
    model.fit(flux[tr])
    hist = model.history
    assert hist["loss"].iloc[-1] < 0.7 * hist["loss"].iloc[0]
    recon = model.reconstruct(flux[te])
    assert recon.shape == flux[te].shape
    # better than the mean spectrum: the latent space carries star-to-star information
    mse = np.mean((recon - flux[te]) ** 2)
    baseline = np.mean((flux[tr].mean(0) - flux[te]) ** 2)
    assert mse < 0.6 * baseline
    mean, sd = model.encode(flux[te])
    assert mean.shape == (80, 2) and np.all(sd > 0)
    # the latent space orders stars by their physics: some latent direction follows Teff or log g
    corr = max(abs(np.corrcoef(mean[:, k], lab)[0, 1]) for k in range(2) for lab in (teff[te], logg[te]))
    assert corr > 0.5
    decoded = model.decode(mean[:3])
    np.testing.assert_allclose(decoded, recon[:3], rtol=1e-4, atol=1e-4)
    fig = model.latent_plot(flux[te], color=teff[te], color_label="Teff [K]")
    assert len(fig.axes) == 2
    model.save(tmp_path / "cvae")
    back = load_folder(tmp_path / "cvae")
    np.testing.assert_allclose(back.reconstruct(flux[te]), recon, rtol=1e-5, atol=1e-6)


def test_kl_term_is_in_the_loss(spectra):
    flux, _, _ = spectra
    strong = ApogeeCVAE(latent_dim=2, max_epochs=4, batch_size=32, accelerator="cpu", kl_weight=50.0).fit(flux[:200])
    weak = ApogeeCVAE(latent_dim=2, max_epochs=4, batch_size=32, accelerator="cpu", kl_weight=0.0).fit(flux[:200])
    # a heavy KL pulls the posterior towards N(0, 1): latent σ near 1 and means near 0
    m_s, s_s = strong.encode(flux[200:260])
    m_w, s_w = weak.encode(flux[200:260])
    assert np.mean(np.abs(np.log(s_s))) < np.mean(np.abs(np.log(s_w)))


def test_encoder_decoder_to_power_spectrum(spectra):
    flux, teff, logg = spectra
    giants = logg < 3.4  # asteroseismology of red giants, as APOKASC
    x, lg, t = flux[giants], logg[giants], teff[giants]
    nu, power = oscillation_power_spectrum(lg, t, n_freq=48)
    assert power.shape == (len(x), 48) and np.all(np.isfinite(power))
    n_tr = int(0.8 * len(x))
    model = ApokascEncoderDecoder(latent_dim=4, max_epochs=25, batch_size=32, lr=3e-3, accelerator="cpu",
                                  kl_weight=0.01).fit(x[:n_tr], power[:n_tr])
    pred = model.predict(x[n_tr:])
    assert pred.shape == power[n_tr:].shape
    mse = np.mean((pred - power[n_tr:]) ** 2)
    baseline = np.mean((power[:n_tr].mean(0) - power[n_tr:]) ** 2)
    assert mse < 0.5 * baseline
    # the star-specific shape (where the oscillation excess sits) is predicted, not just the mean curve
    mean_curve = power[:n_tr].mean(0)
    per_star = [np.corrcoef(p_ - mean_curve, q_ - mean_curve)[0, 1] for p_, q_ in zip(pred, power[n_tr:])]
    assert np.median(per_star) > 0.6


def test_power_spectrum_scaling_and_errors():
    nu, p = oscillation_power_spectrum(np.array([2.5, 3.0]), np.array([4800.0, 4800.0]), n_freq=200)
    # higher gravity → higher ν_max: the excess moves to higher frequency
    peak = [nu[np.argmax(pi - np.polyval(np.polyfit(np.log(nu), pi, 3), np.log(nu)))] for pi in p]
    assert peak[1] > peak[0]
    with pytest.raises(InputValidationError):
        oscillation_power_spectrum(np.ones(3), np.ones(2))
    with pytest.raises(InputValidationError):
        ApogeeCVAE(latent_dim=0)
    with pytest.raises(ShapeMismatchError):
        ApogeeCVAE(max_epochs=1).fit(np.ones((4, 3, 3)))
